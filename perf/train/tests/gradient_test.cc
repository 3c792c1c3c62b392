// gradient_test.cc — the gradient code against central finite differences (MLP and CNN), the optimizer
// against its formula, and GradientExchange over two in-process ranks against the EF conservation law
// (sum of exchanged means + mean residual = sum of true means) and against exact averaging (sgd).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <random>
#include <thread>
#include <vector>

#include "conccl.h"
#include "conv.h"
#include "grad_exchange.h"
#include "model.h"
#include "optimizer.h"

namespace cctrain {
namespace {

struct Batch {
  std::vector<float> x;
  std::vector<int> y;
};

Batch RandomBatch(int n, int features, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.5f, 1.5f);
  Batch b;
  for (int i = 0; i < n * features; ++i) b.x.push_back(u(rng));
  for (int i = 0; i < n; ++i) b.y.push_back(static_cast<int>(rng() % 10));
  return b;
}

// Compares every grad of a sample of coordinates with (L(w+h) - L(w-h)) / 2h. ReLU and max-pool kinks
// make single coordinates of a deep model disagree now and then, so the model-level check asks for a
// relative error per coordinate (MLP) or a cosine over the sample (CNN); the layer-level checks below use
// a loss that is linear in the layer's output, where the difference quotient is exact up to rounding.
void CheckFiniteDifferences(Model* m, const Batch& b, int batch, double minCosine) {
  m->Step(b.x.data(), b.y.data(), batch);
  std::vector<Param*> params = m->Params();
  std::vector<std::vector<float>> analytic;
  for (Param* p : params) analytic.push_back(p->grad);
  std::mt19937_64 rng(3);
  const float h = 1e-3f;
  double dot = 0, na = 0, nn = 0;
  for (size_t t = 0; t < params.size(); ++t) {
    Param* p = params[t];
    for (int k = 0; k < 12; ++k) {
      size_t i = rng() % p->value.size();
      float w = p->value[i];
      p->value[i] = w + h;
      double up = m->Step(b.x.data(), b.y.data(), batch);
      p->value[i] = w - h;
      double down = m->Step(b.x.data(), b.y.data(), batch);
      p->value[i] = w;
      double numeric = (up - down) / (2.0 * h);
      double a = analytic[t][i];
      if (minCosine >= 1.0) {
        EXPECT_NEAR(a, numeric, 2e-3 + 3e-2 * std::fabs(numeric)) << p->name << "[" << i << "]";
      }
      dot += a * numeric;
      na += a * a;
      nn += numeric * numeric;
    }
  }
  EXPECT_GE(dot / std::sqrt(na * nn), std::min(minCosine, 0.9999));
}

// Loss = sum(r * layer(x)): checks the parameter grads and d/dx of one layer by central differences.
void CheckLayer(Layer* layer, int batch, uint64_t seed) {
  Batch in = RandomBatch(batch, layer->InSize(), seed);
  std::vector<float> r = RandomBatch(batch, layer->OutSize(), seed + 1).x;
  std::vector<float> out(r.size()), din(in.x.size());
  auto loss = [&] {
    layer->Forward(in.x.data(), batch, out.data());
    double s = 0;
    for (size_t i = 0; i < out.size(); ++i) s += static_cast<double>(r[i]) * out[i];
    return s;
  };
  loss();
  layer->Backward(in.x.data(), r.data(), batch, din.data());
  std::vector<std::vector<float>> grads;
  for (Param* p : layer->Params()) grads.push_back(p->grad);
  std::mt19937_64 rng(seed);
  const float h = 1e-2f;
  auto check = [&](float* v, double analytic, const std::string& what) {
    float keep = *v;
    *v = keep + h;
    double up = loss();
    *v = keep - h;
    double down = loss();
    *v = keep;
    double numeric = (up - down) / (2.0 * h);
    EXPECT_NEAR(analytic, numeric, 1e-3 + 1e-3 * std::fabs(numeric)) << what;
  };
  std::vector<Param*> params = layer->Params();
  for (size_t t = 0; t < params.size(); ++t)
    for (int k = 0; k < 20; ++k) {
      size_t i = rng() % params[t]->value.size();
      check(&params[t]->value[i], grads[t][i], params[t]->name + "[" + std::to_string(i) + "]");
    }
  for (int k = 0; k < 40; ++k) {
    size_t i = rng() % in.x.size();
    check(&in.x[i], din[i], "input[" + std::to_string(i) + "]");
  }
}

TEST(Gradients, MlpMatchesFiniteDifferences) {
  auto m = MakeMlp(16, 7);
  CheckFiniteDifferences(m.get(), RandomBatch(4, 784, 11), 4, 1.0);
}

TEST(Gradients, CnnMatchesFiniteDifferences) {
  auto m = MakeCnn(2, 7);
  CheckFiniteDifferences(m.get(), RandomBatch(3, 784, 12), 3, 0.99);
}

TEST(Gradients, LayersMatchFiniteDifferences) {
  std::mt19937_64 rng(5);
  Dense dense(20, 7, "dense", &rng);
  CheckLayer(&dense, 3, 21);
  Conv2d conv(3, 8, 6, 4, 5, "conv", &rng);
  CheckLayer(&conv, 2, 22);
  Conv2d conv3(2, 5, 5, 3, 3, "conv3", &rng);
  CheckLayer(&conv3, 2, 23);
  MaxPool2 pool(3, 8, 6);
  CheckLayer(&pool, 2, 24);
}

TEST(Gradients, SoftmaxCrossEntropyOfUniformLogits) {
  std::vector<float> logits(10, 0.5f), d(10);
  EXPECT_NEAR(SoftmaxCrossEntropy(logits.data(), 10, 3, 1.0f, d.data()), std::log(10.0), 1e-6);
  for (int c = 0; c < 10; ++c) EXPECT_NEAR(d[c], 0.1 - (c == 3 ? 1.0 : 0.0), 1e-6);
}

TEST(Optimizer, MomentumAndWeightDecayFollowTheFormula) {
  Param p;
  p.value = {1.0f, -2.0f};
  p.grad = {0.5f, 0.25f};
  SgdMomentum opt({&p}, 0.1f, 0.9f, 0.01f);
  opt.Step();  // m = g + wd x
  EXPECT_FLOAT_EQ(p.value[0], 1.0f - 0.1f * (0.5f + 0.01f));
  float m1 = 0.25f + 0.01f * -2.0f;
  EXPECT_FLOAT_EQ(p.value[1], -2.0f - 0.1f * m1);
  float x1 = p.value[1];
  opt.Step();  // m = 0.9 m + g + wd x
  EXPECT_FLOAT_EQ(p.value[1], x1 - 0.1f * (0.9f * m1 + 0.25f + 0.01f * x1));
}

// Two ranks as threads of one process, each with its own copy of a small parameter set.
class TwoRankExchange : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(ccCommInitAll(comms_, 2, nullptr), ccSuccess); }
  void TearDown() override {
    for (ccComm_t c : comms_) ccCommDestroy(c);
  }
  // Runs `steps` exchanges; returns per rank, per step, the exchanged grads (tensor 0 then 1), and the
  // true grads every rank drew; residual: each rank's final residual of tensor 0's key (layer mode).
  void Run(const TrainOptions& opt, int steps) {
    exchanged_.assign(2, {});
    truth_.assign(2, {});
    std::vector<std::thread> threads;
    for (int r = 0; r < 2; ++r)
      threads.emplace_back([&, r] {
        Param w, b;
        w.compress = true;
        w.value.assign(300, 0.0f);
        b.value.assign(5, 0.0f);
        GradientExchange ex(opt, {&w, &b}, comms_[r], 2);
        std::mt19937_64 rng(100 + r);
        std::normal_distribution<float> n(0.0f, 1.0f);
        for (int s = 0; s < steps; ++s) {
          w.grad.resize(300);
          b.grad.resize(5);
          for (float& g : w.grad) g = n(rng);
          for (float& g : b.grad) g = n(rng);
          truth_[r].push_back(w.grad);
          truth_[r].back().insert(truth_[r].back().end(), b.grad.begin(), b.grad.end());
          ASSERT_EQ(ex.Exchange(), ccSuccess) << ccGetLastError(comms_[r]);
          exchanged_[r].push_back(w.grad);
          exchanged_[r].back().insert(exchanged_[r].back().end(), b.grad.begin(), b.grad.end());
        }
        w.value.assign(300, 0.0f);
        if (opt.method != "sgd" && opt.method != "none") {
          ASSERT_EQ(ex.ShiftByResidual(-1.0f), ccSuccess);  // value = 0 + e
          residual_[r] = w.value;
          size_t bytes = 0;
          ASSERT_EQ(ex.ResidualBytes(&bytes), ccSuccess);
          residualBytes_[r] = bytes;
        }
      });
    for (auto& t : threads) t.join();
  }
  ccComm_t comms_[2] = {nullptr, nullptr};
  std::vector<std::vector<std::vector<float>>> exchanged_, truth_;
  std::vector<float> residual_[2];
  size_t residualBytes_[2] = {0, 0};
};

TEST_F(TwoRankExchange, SgdIsTheExactMean) {
  TrainOptions opt;
  opt.method = "sgd";
  Run(opt, 3);
  for (int s = 0; s < 3; ++s)
    for (size_t i = 0; i < 305; ++i) {
      EXPECT_FLOAT_EQ(exchanged_[0][s][i], 0.5f * (truth_[0][s][i] + truth_[1][s][i]));
      EXPECT_EQ(exchanged_[0][s][i], exchanged_[1][s][i]);
    }
}

TEST_F(TwoRankExchange, EfConservesTheUnsentMass) {
  TrainOptions opt;
  opt.method = "ef";
  opt.codec = "randblock";
  opt.ratio = 0.1;
  const int steps = 6;
  Run(opt, steps);
  EXPECT_GE(residualBytes_[0], 300 * sizeof(float));
  for (size_t i = 0; i < 300; ++i) {  // sum_s mean C(p) + mean e = sum_s mean g
    double sent = 0, truth = 0;
    for (int s = 0; s < steps; ++s) {
      sent += exchanged_[0][s][i];
      truth += 0.5 * (truth_[0][s][i] + truth_[1][s][i]);
      EXPECT_EQ(exchanged_[0][s][i], exchanged_[1][s][i]);
    }
    EXPECT_NEAR(sent + 0.5 * (residual_[0][i] + residual_[1][i]), truth, 1e-4) << i;
  }
  for (int s = 0; s < steps; ++s)  // biases: exact
    for (size_t i = 300; i < 305; ++i)
      EXPECT_FLOAT_EQ(exchanged_[0][s][i], 0.5f * (truth_[0][s][i] + truth_[1][s][i]));
}

TEST_F(TwoRankExchange, NoFeedbackLosesTheUnsentMass) {
  TrainOptions opt;
  opt.method = "none";
  opt.codec = "randblock";
  opt.ratio = 0.1;
  Run(opt, 1);
  int zeros = 0;
  for (size_t i = 0; i < 300; ++i) {
    zeros += exchanged_[0][0][i] == 0.0f;
    if (exchanged_[0][0][i] != 0.0f) {  // inside the block: the exact mean
      EXPECT_FLOAT_EQ(exchanged_[0][0][i], 0.5f * (truth_[0][0][i] + truth_[1][0][i])) << i;
    }
  }
  EXPECT_EQ(zeros, 300 - 30);  // one block of 30 elements travels
}

}  // namespace
}  // namespace cctrain
