// conv.cc — Conv2d (im2col + GEMM) and MaxPool2.
#include "conv.h"

#include <cblas.h>

#include <algorithm>

namespace cctrain {

Conv2d::Conv2d(int channels, int height, int width, int filters, int kernel, const std::string& name,
               std::mt19937_64* rng)
    : c_(channels), h_(height), w_(width), f_(filters), k_(kernel) {
  weight_.name = name + ".weight";
  weight_.value.resize(static_cast<size_t>(f_) * c_ * k_ * k_);
  weight_.grad.resize(weight_.value.size());
  weight_.compress = true;
  HeNormal(rng, c_ * k_ * k_, &weight_.value);
  bias_.name = name + ".bias";
  bias_.value.assign(f_, 0.0f);
  bias_.grad.assign(f_, 0.0f);
}

// col[(ch*k + ky)*k + kx][y*w + x] = img[ch][y + ky - pad][x + kx - pad] (0 outside).
void Conv2d::Im2Col(const float* img, float* col) const {
  const int pad = k_ / 2, hw = h_ * w_;
  for (int ch = 0; ch < c_; ++ch)
    for (int ky = 0; ky < k_; ++ky)
      for (int kx = 0; kx < k_; ++kx) {
        float* row = col + static_cast<size_t>((ch * k_ + ky) * k_ + kx) * hw;
        for (int y = 0; y < h_; ++y) {
          int sy = y + ky - pad;
          for (int x = 0; x < w_; ++x) {
            int sx = x + kx - pad;
            bool inside = sy >= 0 && sy < h_ && sx >= 0 && sx < w_;
            row[y * w_ + x] = inside ? img[(ch * h_ + sy) * w_ + sx] : 0.0f;
          }
        }
      }
}

void Conv2d::Col2ImAdd(const float* col, float* img) const {
  const int pad = k_ / 2, hw = h_ * w_;
  for (int ch = 0; ch < c_; ++ch)
    for (int ky = 0; ky < k_; ++ky)
      for (int kx = 0; kx < k_; ++kx) {
        const float* row = col + static_cast<size_t>((ch * k_ + ky) * k_ + kx) * hw;
        for (int y = 0; y < h_; ++y) {
          int sy = y + ky - pad;
          if (sy < 0 || sy >= h_) continue;
          for (int x = 0; x < w_; ++x) {
            int sx = x + kx - pad;
            if (sx >= 0 && sx < w_) img[(ch * h_ + sy) * w_ + sx] += row[y * w_ + x];
          }
        }
      }
}

void Conv2d::Forward(const float* in, int batch, float* out) {
  const int ckk = c_ * k_ * k_, hw = h_ * w_;
  cols_.resize(static_cast<size_t>(batch) * ckk * hw);
  for (int s = 0; s < batch; ++s) {
    float* col = cols_.data() + static_cast<size_t>(s) * ckk * hw;
    Im2Col(in + static_cast<size_t>(s) * InSize(), col);
    float* o = out + static_cast<size_t>(s) * OutSize();
    for (int f = 0; f < f_; ++f) std::fill(o + f * hw, o + (f + 1) * hw, bias_.value[f]);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, f_, hw, ckk, 1.0f, weight_.value.data(), ckk, col, hw,
                1.0f, o, hw);
  }
}

void Conv2d::Backward(const float* in, const float* dout, int batch, float* din) {
  (void)in;  // the im2col columns of `in` were kept by Forward
  const int ckk = c_ * k_ * k_, hw = h_ * w_;
  std::fill(weight_.grad.begin(), weight_.grad.end(), 0.0f);
  std::fill(bias_.grad.begin(), bias_.grad.end(), 0.0f);
  std::vector<float> dcol(din ? static_cast<size_t>(ckk) * hw : 0);
  for (int s = 0; s < batch; ++s) {
    const float* col = cols_.data() + static_cast<size_t>(s) * ckk * hw;
    const float* d = dout + static_cast<size_t>(s) * OutSize();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, f_, ckk, hw, 1.0f, d, hw, col, hw, 1.0f,
                weight_.grad.data(), ckk);
    for (int f = 0; f < f_; ++f)
      for (int i = 0; i < hw; ++i) bias_.grad[f] += d[f * hw + i];
    if (din) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, hw, f_, 1.0f, weight_.value.data(), ckk, d, hw, 0.0f,
                  dcol.data(), hw);
      float* di = din + static_cast<size_t>(s) * InSize();
      std::fill(di, di + InSize(), 0.0f);
      Col2ImAdd(dcol.data(), di);
    }
  }
}

void MaxPool2::Forward(const float* in, int batch, float* out) {
  const int oh = h_ / 2, ow = w_ / 2, outSize = OutSize();
  argmax_.resize(static_cast<size_t>(batch) * outSize);
  for (int s = 0; s < batch; ++s)
    for (int ch = 0; ch < c_; ++ch)
      for (int y = 0; y < oh; ++y)
        for (int x = 0; x < ow; ++x) {
          int best = (ch * h_ + 2 * y) * w_ + 2 * x;
          const float* img = in + static_cast<size_t>(s) * InSize();
          for (int dy = 0; dy < 2; ++dy)
            for (int dx = 0; dx < 2; ++dx) {
              int idx = (ch * h_ + 2 * y + dy) * w_ + 2 * x + dx;
              if (img[idx] > img[best]) best = idx;
            }
          size_t o = static_cast<size_t>(s) * outSize + (ch * oh + y) * ow + x;
          out[o] = img[best];
          argmax_[o] = best;
        }
}

void MaxPool2::Backward(const float* in, const float* dout, int batch, float* din) {
  (void)in;
  if (!din) return;
  const int outSize = OutSize();
  std::fill(din, din + static_cast<size_t>(batch) * InSize(), 0.0f);
  for (int s = 0; s < batch; ++s)
    for (int o = 0; o < outSize; ++o)
      din[static_cast<size_t>(s) * InSize() + argmax_[static_cast<size_t>(s) * outSize + o]] +=
          dout[static_cast<size_t>(s) * outSize + o];
}

}  // namespace cctrain
