// conv.h — convolution and pooling layers for the small CNN (same Layer contract as layers.h). Samples
// are channel-major (C x H x W) rows of the batch. Conv2d: stride 1, zero padding k/2 ("same" size),
// computed as im2col + one GEMM per sample. MaxPool2: 2x2 windows, stride 2 (H and W must be even).
#ifndef CONCCL_TRAIN_CONV_H_
#define CONCCL_TRAIN_CONV_H_

#include <random>
#include <string>
#include <vector>

#include "layers.h"

namespace cctrain {

class Conv2d : public Layer {
 public:
  Conv2d(int channels, int height, int width, int filters, int kernel, const std::string& name, std::mt19937_64* rng);
  int InSize() const override { return c_ * h_ * w_; }
  int OutSize() const override { return f_ * h_ * w_; }
  void Forward(const float* in, int batch, float* out) override;
  void Backward(const float* in, const float* dout, int batch, float* din) override;
  std::vector<Param*> Params() override { return {&weight_, &bias_}; }

 private:
  void Im2Col(const float* img, float* col) const;
  void Col2ImAdd(const float* col, float* img) const;
  int c_, h_, w_, f_, k_;
  Param weight_, bias_;      // weight: f x (c*k*k)
  std::vector<float> cols_;  // batch x (c*k*k) x (h*w) from the last Forward
};

class MaxPool2 : public Layer {
 public:
  MaxPool2(int channels, int height, int width) : c_(channels), h_(height), w_(width) {}
  int InSize() const override { return c_ * h_ * w_; }
  int OutSize() const override { return c_ * (h_ / 2) * (w_ / 2); }
  void Forward(const float* in, int batch, float* out) override;
  void Backward(const float* in, const float* dout, int batch, float* din) override;

 private:
  int c_, h_, w_;
  std::vector<int> argmax_;  // per output element of the last Forward: the input index it came from
};

}  // namespace cctrain

#endif  // CONCCL_TRAIN_CONV_H_
