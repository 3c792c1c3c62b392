// compressed_exact.cc — compressed all-reduces whose wire values add exactly: random block and summable
// integers (see compressed.h). Both reuse the uncompressed ring, so every rank gets identical bits.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "algorithms/compressed.h"
#include "algorithms/schedules.h"
#include "common/result.h"
#include "kernels/cpu/quantize.h"
#include "common/types.h"

namespace conccl {

ccResult_t RandomBlockAllReduce(Links& links, const float* p, float* out, size_t count, size_t start, size_t len) {
  std::vector<float> dense(len);
  for (size_t i = 0; i < len; ++i) dense[i] = p[(start + i) % count];
  CC_CHECK(RingAllReduce(links, dense.data(), dense.data(), len, ccFloat32, ccSum));
  std::fill(out, out + count, 0.0f);
  for (size_t i = 0; i < len; ++i) out[(start + i) % count] = dense[i];
  return ccSuccess;
}

namespace {

// Quantizes p on the agreed per-block steps into T integers, sums them exactly with the ring, and scales
// back. The common case (nearest rounding, normal step) is a branch-free loop the compiler vectorizes.
template <typename T>
ccResult_t SummableRing(Links& links, const SummableParams& sp, const float* p, float* out, size_t count,
                        float* transmitted, const std::vector<float>& step, float levels, ccDataType_t wire) {
  size_t B = sp.blockSize;
  std::unique_ptr<T[]> q(new T[count]);
  for (size_t b = 0, nb = step.size(); b < nb; ++b) {
    size_t lo = b * B, hi = std::min(count, lo + B);
    float s = step[b];
    float inv = s > 0 && std::isfinite(s) ? 1.0f / s : 0.0f;
    if (!std::isfinite(s)) {
      for (size_t i = lo; i < hi; ++i) q[i] = 0;
    } else if (!sp.stochastic && !std::isinf(inv)) {
      for (size_t i = lo; i < hi; ++i) {
        float v = p[i] * inv;
        v = v < levels ? (v > -levels ? v : -levels) : levels;
        q[i] = static_cast<T>((v + 12582912.0f) - 12582912.0f);  // round half to even (|v| < 2^22)
      }
    } else {  // stochastic rounding, or a subnormal step whose reciprocal overflows
      for (size_t i = lo; i < hi; ++i) {
        float v = std::isinf(inv) ? p[i] / s : p[i] * inv;
        float r = sp.stochastic ? std::floor(v + CounterUniform(sp.seed, sp.stream, i)) : std::nearbyint(v);
        q[i] = static_cast<T>(std::min(levels, std::max(-levels, r)));
      }
    }
    if (transmitted)
      for (size_t i = lo; i < hi; ++i) transmitted[i] = static_cast<float>(q[i]) * s;
  }
  CC_CHECK(RingAllReduce(links, q.get(), q.get(), count, wire, ccSum));
  for (size_t b = 0, nb = step.size(); b < nb; ++b)
    for (size_t i = b * B, hi = std::min(count, (b + 1) * B); i < hi; ++i) out[i] = static_cast<float>(q[i]) * step[b];
  return ccSuccess;
}

}  // namespace

ccResult_t SummableAllReduce(Links& links, const SummableParams& sp, const float* p, float* out, size_t count,
                             float* transmitted) {
  int n = links.NRanks();
  size_t B = sp.blockSize, nb = (count + B - 1) / B;
  std::vector<float> scale(nb);
  for (size_t b = 0; b < nb; ++b) {
    float m = 0;
    for (size_t i = b * B; i < std::min(count, (b + 1) * B); ++i) {
      float a = std::fabs(p[i]);
      if (!(a <= 3.4028235e38f)) a = INFINITY;  // NaN or Inf: the block's shared scale becomes NaN below
      m = std::max(m, a);
    }
    scale[b] = m;
  }
  CC_CHECK(RingAllReduce(links, scale.data(), scale.data(), nb, ccFloat32, ccMax));
  int headroom = 0;
  while ((1 << headroom) < n) ++headroom;
  float levels = static_cast<float>((int64_t(1) << (sp.bits - 1)) - 1);
  for (size_t b = 0; b < nb; ++b)  // a NaN/Inf block gets a NaN step: it decodes to NaN, and only there
    scale[b] = std::isfinite(scale[b]) ? scale[b] / levels : NAN;
  if (static_cast<int>(sp.bits) + headroom <= 16)
    return SummableRing<int16_t>(links, sp, p, out, count, transmitted, scale, levels, kTypeInt16Internal);
  return SummableRing<int32_t>(links, sp, p, out, count, transmitted, scale, levels, ccInt32);
}

}  // namespace conccl
