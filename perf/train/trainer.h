// trainer.h — the data-parallel training loop of conccl-train: every rank trains the same model on its
// own shard, averages gradients through GradientExchange, steps the optimizer, and after every epoch (or
// every --eval-every steps) all ranks evaluate their part of the test set and rank 0 writes one row
// (stdout, and -J as a JSON line). def/saef take the gradient at x - a*lr/(1-mu)*e (e from
// ccCommGetResidual, in gradient units; lr/(1-mu) turns it into the displacement it will still cause
// through momentum) and saef averages residuals every H steps.
// Contract: Run returns the exit status (0 done, 1 diverged, 2 data error, 3 library failure) after
// printing one line saying why; it never exits the process. The communicator stays the caller's.
#ifndef CONCCL_TRAIN_TRAINER_H_
#define CONCCL_TRAIN_TRAINER_H_

#include <stdio.h>

#include <chrono>
#include <memory>
#include <string>

#include "conccl.h"
#include "dataset.h"
#include "grad_exchange.h"
#include "model.h"
#include "optimizer.h"
#include "train_options.h"

namespace cctrain {

class Trainer {
 public:
  Trainer(const TrainOptions& opt, ccComm_t comm);
  ~Trainer();
  int Run();

 private:
  struct Metrics {
    double testAcc = 0, testLoss = 0, trainLoss = 0;
  };
  int Setup();
  int TrainStep(const std::vector<int>& order, size_t first, double* loss);
  int Evaluate(double trainLossSum, double trainSteps, Metrics* m);
  int Report(long step, double epoch, const Metrics& m, bool diverged);
  int LibFail(const char* what, ccResult_t r);

  TrainOptions opt_;
  ccComm_t comm_;
  int rank_ = 0, nranks_ = 1;
  Dataset train_, test_;
  std::vector<int> shard_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<GradientExchange> exchange_;
  std::unique_ptr<SgdMomentum> optimizer_;
  std::vector<float> batchX_;
  std::vector<int> batchY_;
  std::vector<std::vector<float>> saved_;  // def/saef: x while the gradient is taken at the shifted point
  FILE* json_ = nullptr;
  std::chrono::steady_clock::time_point start_;
  double trainSeconds_ = 0;
};

}  // namespace cctrain

#endif  // CONCCL_TRAIN_TRAINER_H_
