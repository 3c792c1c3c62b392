// trainer.cc — Trainer.
#include "trainer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <random>

#include "json_row.h"

namespace cctrain {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

Trainer::Trainer(const TrainOptions& opt, ccComm_t comm) : opt_(opt), comm_(comm) {
  ccCommUserRank(comm_, &rank_);
  ccCommCount(comm_, &nranks_);
}

Trainer::~Trainer() {
  if (json_) fclose(json_);
}

int Trainer::LibFail(const char* what, ccResult_t r) {
  fprintf(stderr, "conccl-train: rank %d: %s failed: %s (%s)\n", rank_, what, ccGetErrorString(r),
          ccGetLastError(comm_));
  return 3;
}

int Trainer::Setup() {
  std::string err;
  if (!LoadFashionMnist(opt_.dataDir, "train", &train_, &err) || !LoadFashionMnist(opt_.dataDir, "t10k", &test_, &err)) {
    fprintf(stderr, "conccl-train: rank %d: %s\n", rank_, err.c_str());
    return 2;
  }
  shard_ = ShardIndices(train_.count, opt_.trainSubset, rank_, nranks_, opt_.seed);
  if (static_cast<int>(shard_.size()) < opt_.batch) {
    fprintf(stderr, "conccl-train: a shard has %zu samples, fewer than one batch of %d\n", shard_.size(), opt_.batch);
    return 2;
  }
  model_ = opt_.model == "mlp" ? MakeMlp(opt_.width, opt_.seed) : MakeCnn(opt_.channels, opt_.seed);
  // Every rank drew the same weights from the same seed; rank 0's copy is broadcast anyway so that a
  // difference in floating-point libraries between hosts cannot start the replicas apart.
  for (Param* p : model_->Params()) {
    ccResult_t r = ccBroadcast(p->value.data(), p->value.data(), p->value.size(), ccFloat32, 0, comm_, nullptr);
    if (r != ccSuccess) return LibFail("ccBroadcast(initial weights)", r);
  }
  exchange_ = std::make_unique<GradientExchange>(opt_, model_->Params(), comm_, nranks_);
  optimizer_ = std::make_unique<SgdMomentum>(model_->Params(), static_cast<float>(opt_.lr),
                                             static_cast<float>(opt_.momentum), static_cast<float>(opt_.weightDecay));
  batchX_.resize(static_cast<size_t>(opt_.batch) * kImagePixels);
  batchY_.resize(opt_.batch);
  if (rank_ == 0 && !opt_.jsonPath.empty()) {
    json_ = fopen(opt_.jsonPath.c_str(), "w");
    if (!json_) {
      fprintf(stderr, "conccl-train: cannot write %s: %s\n", opt_.jsonPath.c_str(), strerror(errno));
      return 2;
    }
  }
  return 0;
}

int Trainer::TrainStep(const std::vector<int>& order, size_t first, double* loss) {
  for (int b = 0; b < opt_.batch; ++b) {
    int idx = order[first + b];
    memcpy(batchX_.data() + static_cast<size_t>(b) * kImagePixels, train_.images.data() + static_cast<size_t>(idx) * kImagePixels,
           kImagePixels * sizeof(float));
    batchY_[b] = train_.labels[idx];
  }
  std::vector<Param*> params = model_->Params();
  const bool shifted = opt_.method == "def" || opt_.method == "saef";
  if (shifted) {
    saved_.resize(params.size());
    for (size_t i = 0; i < params.size(); ++i) saved_[i] = params[i]->value;
    float scale = static_cast<float>(opt_.defCoeff * opt_.lr / (1.0 - opt_.momentum));
    ccResult_t r = exchange_->ShiftByResidual(scale);
    if (r != ccSuccess) return LibFail("ccCommGetResidual", r);
  }
  *loss = model_->Step(batchX_.data(), batchY_.data(), opt_.batch);
  if (shifted)
    for (size_t i = 0; i < params.size(); ++i) params[i]->value.swap(saved_[i]);
  ccResult_t r = exchange_->Exchange();
  if (r != ccSuccess) return LibFail(exchange_->compressed() ? "ccAllreduceCompressed" : "ccAllReduce", r);
  optimizer_->Step();
  return 0;
}

int Trainer::Evaluate(double trainLossSum, double trainSteps, Metrics* m) {
  int n = opt_.testSubset > 0 && opt_.testSubset < test_.count ? opt_.testSubset : test_.count;
  int lo = static_cast<int>(static_cast<long>(n) * rank_ / nranks_);
  int hi = static_cast<int>(static_cast<long>(n) * (rank_ + 1) / nranks_);
  double sums[4] = {0, 0, trainLossSum, trainSteps};
  int correct = 0;
  const int chunk = 500;
  for (int s = lo; s < hi; s += chunk) {
    int len = std::min(chunk, hi - s);
    model_->Evaluate(test_.images.data() + static_cast<size_t>(s) * kImagePixels, test_.labels.data() + s, len, &sums[0],
                     &correct);
  }
  sums[1] = correct;
  ccResult_t r = ccAllReduce(sums, sums, 4, ccFloat64, ccSum, comm_, nullptr);
  if (r != ccSuccess) return LibFail("ccAllReduce(evaluation)", r);
  m->testLoss = sums[0] / n;
  m->testAcc = 100.0 * sums[1] / n;
  m->trainLoss = sums[3] > 0 ? sums[2] / sums[3] : 0.0;
  return 0;
}

int Trainer::Report(long step, double epoch, const Metrics& m, bool diverged) {
  size_t residual = 0;
  uint64_t wireCompressed = 0;
  ccResult_t r = exchange_->ResidualBytes(&residual);
  if (r != ccSuccess) return LibFail("ccCommResidualBytes", r);
  if ((r = exchange_->CompressedWireBytes(&wireCompressed)) != ccSuccess) return LibFail("ccCommGetCompressStats", r);
  if (rank_ != 0) return 0;
  const double wireUncompressed = exchange_->UncompressedWireBytes();
  const double wall = Seconds(start_, Clock::now());
  printf("epoch %6.2f step %6ld  test_acc %6.2f%%  test_loss %.4f  train_loss %.4f  residual %zu B  wire %.3e B  "
         "time %.1f s%s\n",
         epoch, step, m.testAcc, m.testLoss, m.trainLoss, residual, wireCompressed + wireUncompressed, trainSeconds_,
         diverged ? "  DIVERGED" : "");
  fflush(stdout);
  if (!json_) return 0;
  JsonRow row;
  row.Add("bench", "conccl-train").Add("label", opt_.label).Add("model", opt_.model);
  row.Add("width", opt_.model == "mlp" ? opt_.width : opt_.channels).Add("method", opt_.method);
  row.Add("codec", opt_.method == "sgd" ? "none" : opt_.codec).Add("codec_ratio", opt_.ratio);
  row.Add("residual", opt_.method == "conef" ? opt_.residual : "").Add("sketch", opt_.sketchSize).Add("beta", opt_.beta);
  row.Add("residual_fp16", opt_.residualFp16).Add("def_coeff", opt_.defCoeff).Add("average_period", opt_.averagePeriod);
  row.Add("exchange", opt_.exchange).Add("nranks", nranks_).Add("batch", opt_.batch).Add("lr", opt_.lr);
  row.Add("momentum", opt_.momentum).Add("wd", opt_.weightDecay).Add("seed", static_cast<int64_t>(opt_.seed));
  row.Add("train_samples", static_cast<int64_t>(shard_.size()) * nranks_).Add("params", static_cast<int64_t>(model_->ParamCount()));
  row.Add("epoch", epoch).Add("step", static_cast<int64_t>(step)).Add("test_acc", m.testAcc).Add("test_loss", m.testLoss);
  row.Add("train_loss", m.trainLoss).Add("residual_bytes", static_cast<int64_t>(residual));
  row.Add("fp32_residual_bytes", static_cast<int64_t>(exchange_->Fp32ResidualBytes()));
  row.Add("wire_bytes", static_cast<double>(wireCompressed) + wireUncompressed);
  row.Add("wire_bytes_compressed", wireCompressed).Add("wire_bytes_uncompressed", wireUncompressed);
  row.Add("time_s", trainSeconds_).Add("wall_s", wall).Add("diverged", diverged);
  fprintf(json_, "%s\n", row.Text().c_str());
  fflush(json_);
  return 0;
}

int Trainer::Run() {
  start_ = Clock::now();
  int rc = Setup();
  if (rc != 0) return rc;
  const long stepsPerEpoch = static_cast<long>(shard_.size()) / opt_.batch;
  std::vector<int> order = shard_;
  long step = 0;
  double lossSum = 0, lossSteps = 0;
  for (int epoch = 1; epoch <= opt_.epochs; ++epoch) {
    std::mt19937_64 rng(opt_.seed * 1000003ull + static_cast<uint64_t>(rank_) * 7919ull + epoch);
    for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng() % (i + 1)]);
    for (long s = 0; s < stepsPerEpoch; ++s) {
      Clock::time_point t0 = Clock::now();
      double loss = 0;
      if ((rc = TrainStep(order, static_cast<size_t>(s) * opt_.batch, &loss)) != 0) return rc;
      ++step;
      if (opt_.averagePeriod > 0 && step % opt_.averagePeriod == 0) {
        ccResult_t r = exchange_->AverageResiduals();
        if (r != ccSuccess) return LibFail("ccCommAverageResiduals", r);
      }
      trainSeconds_ += Seconds(t0, Clock::now());
      lossSum += loss;
      lossSteps += 1;
      bool endOfEpoch = s + 1 == stepsPerEpoch;
      if (!endOfEpoch && (opt_.evalEvery == 0 || step % opt_.evalEvery != 0)) continue;
      Metrics m;
      if ((rc = Evaluate(lossSum, lossSteps, &m)) != 0) return rc;
      lossSum = lossSteps = 0;
      bool diverged = !std::isfinite(m.trainLoss) || !std::isfinite(m.testLoss);  // identical on every rank
      if ((rc = Report(step, static_cast<double>(step) / stepsPerEpoch, m, diverged)) != 0) return rc;
      if (diverged) {
        if (rank_ == 0) fprintf(stderr, "conccl-train: training diverged (non-finite loss) at step %ld\n", step);
        return 1;
      }
    }
  }
  return 0;
}

}  // namespace cctrain
