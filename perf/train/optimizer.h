// optimizer.h — SGD with heavy-ball momentum and weight decay, applied to the averaged gradient (after
// aggregation, as the ConEF DDP hook does), identically on every rank:
//   d = g + wd * x;  m <- mu * m + d;  x <- x - lr * m
#ifndef CONCCL_TRAIN_OPTIMIZER_H_
#define CONCCL_TRAIN_OPTIMIZER_H_

#include <vector>

#include "layers.h"

namespace cctrain {

class SgdMomentum {
 public:
  SgdMomentum(const std::vector<Param*>& params, float lr, float momentum, float weightDecay);
  void Step();

 private:
  std::vector<Param*> params_;
  std::vector<std::vector<float>> velocity_;
  float lr_, mu_, wd_;
};

}  // namespace cctrain

#endif  // CONCCL_TRAIN_OPTIMIZER_H_
