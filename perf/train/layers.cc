// layers.cc — Dense and Relu.
#include "layers.h"

#include <cblas.h>

#include <cmath>

namespace cctrain {

void HeNormal(std::mt19937_64* rng, int fanIn, std::vector<float>* w) {
  const double stddev = std::sqrt(2.0 / fanIn);
  const double twoPi = 6.283185307179586;
  for (size_t i = 0; i < w->size(); i += 2) {
    double u1 = ((*rng)() >> 11) * (1.0 / 9007199254740992.0);
    double u2 = ((*rng)() >> 11) * (1.0 / 9007199254740992.0);
    double r = std::sqrt(-2.0 * std::log(1.0 - u1));
    (*w)[i] = static_cast<float>(stddev * r * std::cos(twoPi * u2));
    if (i + 1 < w->size()) (*w)[i + 1] = static_cast<float>(stddev * r * std::sin(twoPi * u2));
  }
}

Dense::Dense(int in, int out, const std::string& name, std::mt19937_64* rng) : in_(in), out_(out) {
  w_.name = name + ".weight";
  w_.value.resize(static_cast<size_t>(in) * out);
  w_.grad.resize(w_.value.size());
  w_.compress = true;
  HeNormal(rng, in, &w_.value);
  b_.name = name + ".bias";
  b_.value.assign(out, 0.0f);
  b_.grad.assign(out, 0.0f);
}

void Dense::Forward(const float* in, int batch, float* out) {
  for (int r = 0; r < batch; ++r)
    for (int j = 0; j < out_; ++j) out[static_cast<size_t>(r) * out_ + j] = b_.value[j];
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, out_, in_, 1.0f, in, in_, w_.value.data(), in_, 1.0f,
              out, out_);
}

void Dense::Backward(const float* in, const float* dout, int batch, float* din) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_, in_, batch, 1.0f, dout, out_, in, in_, 0.0f,
              w_.grad.data(), in_);
  for (int j = 0; j < out_; ++j) b_.grad[j] = 0.0f;
  for (int r = 0; r < batch; ++r)
    for (int j = 0; j < out_; ++j) b_.grad[j] += dout[static_cast<size_t>(r) * out_ + j];
  if (din)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, in_, out_, 1.0f, dout, out_, w_.value.data(), in_,
                0.0f, din, in_);
}

void Relu::Forward(const float* in, int batch, float* out) {
  size_t n = static_cast<size_t>(batch) * size_;
  for (size_t i = 0; i < n; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void Relu::Backward(const float* in, const float* dout, int batch, float* din) {
  if (!din) return;
  size_t n = static_cast<size_t>(batch) * size_;
  for (size_t i = 0; i < n; ++i) din[i] = in[i] > 0.0f ? dout[i] : 0.0f;
}

}  // namespace cctrain
