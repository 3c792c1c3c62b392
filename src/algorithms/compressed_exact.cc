// compressed_exact.cc — compressed all-reduces whose wire values add exactly: random block and summable
// integers (see compressed.h). Both reuse the uncompressed ring, so every rank gets identical bits.
#include <algorithm>
#include <cmath>
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
  int64_t levels = (int64_t(1) << (sp.bits - 1)) - 1;
  bool narrow = static_cast<int>(sp.bits) + headroom <= 16;
  std::vector<int16_t> q16(narrow ? count : 0);
  std::vector<int32_t> q32(narrow ? 0 : count);
  for (size_t b = 0; b < nb; ++b) {
    float s = std::isfinite(scale[b]) ? scale[b] / static_cast<float>(levels) : NAN;  // NaN/Inf block: NaN
    scale[b] = s;
    float inv = s > 0 && std::isfinite(s) ? 1.0f / s : 0.0f;
    bool divide = std::isinf(inv);  // subnormal scale: 1/s overflows
    for (size_t i = b * B; i < std::min(count, (b + 1) * B); ++i) {
      float v = divide ? p[i] / s : p[i] * inv;
      float r = sp.stochastic ? std::floor(v + CounterUniform(sp.seed, sp.stream, i)) : std::nearbyint(v);
      r = std::min<float>(static_cast<float>(levels), std::max<float>(-static_cast<float>(levels), r));
      if (!std::isfinite(s)) r = 0;
      if (narrow) q16[i] = static_cast<int16_t>(r);
      else q32[i] = static_cast<int32_t>(r);
      if (transmitted) transmitted[i] = r * s;
    }
  }
  if (narrow) CC_CHECK(RingAllReduce(links, q16.data(), q16.data(), count, kTypeInt16Internal, ccSum));
  else CC_CHECK(RingAllReduce(links, q32.data(), q32.data(), count, ccInt32, ccSum));
  for (size_t i = 0; i < count; ++i)
    out[i] = static_cast<float>(narrow ? q16[i] : q32[i]) * scale[i / B];
  return ccSuccess;
}

}  // namespace conccl
