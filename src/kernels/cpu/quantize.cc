// quantize.cc — see quantize.h.
#include "kernels/cpu/quantize.h"

#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "common/half.h"

// Entry points are compiled twice (AVX2 and generic) and picked at load time; the helpers are
// forced inline so each clone gets them compiled for its own target.
#define CC_HOT __attribute__((target_clones("avx2", "default")))
#define CC_INLINE inline __attribute__((always_inline))

namespace conccl {

size_t QuantizedBytes(size_t count, uint32_t blockSize, uint32_t bits) {
  size_t nb = (count + blockSize - 1) / blockSize;
  size_t codes = bits == 8 ? count : (count + 1) / 2;
  return nb * sizeof(float) + codes;
}

namespace {

inline float Levels(uint32_t bits) { return bits == 8 ? 127.0f : 7.0f; }

// Clamps to [-l, l]; NaN becomes -l (only reachable for NaN scales, whose blocks decode to NaN anyway).
CC_INLINE float Clamp(float v, float l) { return v < l ? (v > -l ? v : -l) : l; }

// Round half to even for |v| < 2^22 by the 1.5 * 2^23 trick: branch-free, vectorizes, and gives the same
// bits as rint() in the default rounding mode (the CUDA kernels use __float2int_rn, which agrees).
CC_INLINE float RoundEven(float v) { return (v + 12582912.0f) - 12582912.0f; }

// Scale of one block; NaN when the block holds NaN or Inf. |x| as IEEE bits orders like the value, and
// NaN/Inf have all-ones exponents, so an integer max over the bits finds both (and vectorizes).
CC_INLINE float BlockScale(const float* x, size_t n, float levels) {
  uint32_t m = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t b;
    memcpy(&b, &x[i], sizeof(b));
    b &= 0x7fffffffu;
    m = b > m ? b : m;
  }
  if (m >= 0x7f800000u) return NAN;
  float maxAbs;
  memcpy(&maxAbs, &m, sizeof(maxAbs));
  return maxAbs / levels;
}

inline int Code(float v, float inv, float levels, const QuantParams& p, uint64_t index) {
  float s = v * inv;
  float r = p.stochastic ? std::floor(s + CounterUniform(p.seed, p.stream, index)) : std::nearbyint(s);
  r = std::min(levels, std::max(-levels, r));
  return static_cast<int>(r);
}

// Quantizes one block of n values (already in fp32) into its codes.
CC_INLINE void QuantizeOne(const QuantParams& p, const float* x, size_t n, float scale, uint64_t first, int8_t* codes) {
  float levels = Levels(p.bits);
  float inv = (scale > 0.0f && std::isfinite(scale)) ? 1.0f / scale : 0.0f;
  if (std::isinf(inv)) {  // subnormal scale: 1/scale overflows, so divide (rare, slow path)
    for (size_t i = 0; i < n; ++i) {
      float s = x[i] / scale;
      float r = p.stochastic ? std::floor(s + CounterUniform(p.seed, p.stream, first + i)) : std::nearbyint(s);
      codes[i] = static_cast<int8_t>(std::min(levels, std::max(-levels, r)));
    }
    return;
  }
  if (!p.stochastic) {
    for (size_t i = 0; i < n; ++i)
      codes[i] = static_cast<int8_t>(static_cast<int32_t>(RoundEven(Clamp(x[i] * inv, levels))));
    return;
  }
  for (size_t i = 0; i < n; ++i) codes[i] = static_cast<int8_t>(Code(x[i], inv, levels, p, first + i));
}

void PackNibbles(const int8_t* codes, size_t n, size_t offset, uint8_t* out) {
  for (size_t i = 0; i < n; ++i) {
    size_t e = offset + i;
    uint8_t nib = static_cast<uint8_t>(codes[i]) & 0x0f;
    if (e & 1) out[e / 2] = static_cast<uint8_t>((out[e / 2] & 0x0f) | (nib << 4));
    else out[e / 2] = static_cast<uint8_t>((out[e / 2] & 0xf0) | nib);
  }
}

CC_INLINE int8_t UnpackNibble(const uint8_t* codes, size_t e) {
  uint8_t nib = (e & 1) ? (codes[e / 2] >> 4) : (codes[e / 2] & 0x0f);
  return static_cast<int8_t>(static_cast<int8_t>(nib << 4) >> 4);
}

CC_INLINE void DecodeOne(const uint8_t* codes, uint32_t bits, size_t offset, size_t n, float scale, float* out) {
  if (bits == 8) {
    const int8_t* c = reinterpret_cast<const int8_t*>(codes) + offset;
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(c[i]) * scale;
  } else if (offset % 2 == 0) {  // whole bytes: two elements each
    const uint8_t* c = codes + offset / 2;
    size_t pairs = n / 2;
    for (size_t j = 0; j < pairs; ++j) {
      out[2 * j] = static_cast<float>(static_cast<int8_t>(static_cast<uint8_t>(c[j] << 4)) >> 4) * scale;
      out[2 * j + 1] = static_cast<float>(static_cast<int8_t>(c[j]) >> 4) * scale;
    }
    if (n % 2) out[n - 1] = static_cast<float>(UnpackNibble(codes, offset + n - 1)) * scale;
  } else {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(UnpackNibble(codes, offset + i)) * scale;
  }
}

CC_INLINE void StoreCodes(const int8_t* codes, uint32_t bits, size_t offset, size_t n, uint8_t* out) {
  if (bits == 8) {
    memcpy(out + offset, codes, n);
  } else if (offset % 2 == 0) {
    uint8_t* o = out + offset / 2;
    size_t pairs = n / 2;
    for (size_t j = 0; j < pairs; ++j)
      o[j] = static_cast<uint8_t>((codes[2 * j] & 0x0f) | (static_cast<uint8_t>(codes[2 * j + 1]) << 4));
    if (n % 2) PackNibbles(codes + n - 1, 1, offset + n - 1, out);
  } else {
    PackNibbles(codes, n, offset, out);
  }
}

}  // namespace

CC_HOT void QuantizeBlocks(const QuantParams& p, const float* in, size_t count, uint8_t* out) {
  size_t B = p.blockSize, nb = (count + B - 1) / B;
  float* scales = reinterpret_cast<float*>(out);
  uint8_t* codes = out + nb * sizeof(float);
  if (p.bits == 4 && count) codes[(count - 1) / 2] = 0;  // defined padding nibble
  int8_t tmp[4096];
  for (size_t b = 0; b < nb; ++b) {
    size_t off = b * B, n = std::min(B, count - off);
    float scale = BlockScale(in + off, n, Levels(p.bits));
    memcpy(&scales[b], &scale, sizeof(float));
    QuantizeOne(p, in + off, n, scale, p.firstIndex + off, tmp);
    StoreCodes(tmp, p.bits, off, n, codes);
  }
}

CC_HOT void DequantizeBlocks(const QuantParams& p, const uint8_t* in, size_t count, float* out) {
  size_t B = p.blockSize, nb = (count + B - 1) / B;
  const uint8_t* codes = in + nb * sizeof(float);
  for (size_t b = 0; b < nb; ++b) {
    size_t off = b * B, n = std::min(B, count - off);
    float scale;
    memcpy(&scale, in + b * sizeof(float), sizeof(float));
    DecodeOne(codes, p.bits, off, n, scale, out + off);
  }
}

CC_HOT void DequantizeAddQuantize(const QuantParams& p, const uint8_t* in, const float* local, size_t count,
                                  uint8_t* out) {
  size_t B = p.blockSize, nb = (count + B - 1) / B;
  const uint8_t* inCodes = in + nb * sizeof(float);
  float* outScales = reinterpret_cast<float*>(out);
  uint8_t* outCodes = out + nb * sizeof(float);
  if (p.bits == 4 && count) outCodes[(count - 1) / 2] = 0;
  float sum[4096];
  int8_t tmp[4096];
  for (size_t b = 0; b < nb; ++b) {
    size_t off = b * B, n = std::min(B, count - off);
    float scale;
    memcpy(&scale, in + b * sizeof(float), sizeof(float));
    DecodeOne(inCodes, p.bits, off, n, scale, sum);
    for (size_t i = 0; i < n; ++i) sum[i] += local[off + i];
    float s = BlockScale(sum, n, Levels(p.bits));
    memcpy(&outScales[b], &s, sizeof(float));
    QuantizeOne(p, sum, n, s, p.firstIndex + off, tmp);
    StoreCodes(tmp, p.bits, off, n, outCodes);
  }
}

double QuantizeErrorBound(const QuantParams& p, const float* in, size_t count) {
  double worst = 0;
  size_t B = p.blockSize;
  for (size_t off = 0; off < count; off += B) {
    float s = BlockScale(in + off, std::min(B, count - off), Levels(p.bits));
    if (!std::isfinite(s)) return INFINITY;
    worst = std::max(worst, static_cast<double>(s) * (p.stochastic ? 1.0 : 0.5));
  }
  return worst * (1.0 + 1e-6);
}

// float16 conversions: F16C instructions where the CPU has them (same bits as the software path: round to
// nearest even, NaN quieted with its payload truncated), else the software conversion.
namespace {
bool HasF16c() {
  static const bool yes = [] {  // CPUID leaf 1, ECX bit 29 (clang's builtin does not know "f16c")
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __builtin_cpu_supports("avx2") && __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
  }();
  return yes;
}
__attribute__((target("avx2,f16c"))) void FloatToHalfF16c(const float* in, size_t n, uint16_t* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) out[i] = FloatToHalf(in[i]);
}
__attribute__((target("avx2,f16c"))) void HalfToFloatF16c(const uint16_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  for (; i < n; ++i) out[i] = HalfToFloat(in[i]);
}
}  // namespace

void FloatToHalfArray(const float* in, size_t n, uint16_t* out) {
  if (HasF16c()) return FloatToHalfF16c(in, n, out);
  for (size_t i = 0; i < n; ++i) out[i] = FloatToHalf(in[i]);
}
void HalfToFloatArray(const uint16_t* in, size_t n, float* out) {
  if (HasF16c()) return HalfToFloatF16c(in, n, out);
  for (size_t i = 0; i < n; ++i) out[i] = HalfToFloat(in[i]);
}
CC_HOT void FloatToBf16Array(const float* in, size_t n, uint16_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = FloatToBf16(in[i]);
}
CC_HOT void Bf16ToFloatArray(const uint16_t* in, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = Bf16ToFloat(in[i]);
}

size_t SignBytes(size_t count, uint32_t B) { return (count + B - 1) / B * sizeof(float) + (count + 7) / 8; }

void SignCompress(const float* in, size_t count, uint32_t B, uint8_t* out) {
  size_t nb = (count + B - 1) / B;
  uint8_t* bits = out + nb * sizeof(float);
  memset(bits, 0, (count + 7) / 8);
  for (size_t b = 0; b < nb; ++b) {
    size_t off = b * B, n = std::min<size_t>(B, count - off);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += std::fabs(in[off + i]);
    float scale = static_cast<float>(sum / n);
    memcpy(out + b * sizeof(float), &scale, sizeof(float));
    for (size_t i = 0; i < n; ++i)
      if (std::signbit(in[off + i])) bits[(off + i) / 8] |= static_cast<uint8_t>(1u << ((off + i) % 8));
  }
}

void SignDecompress(const uint8_t* in, size_t count, uint32_t B, float* out) {
  size_t nb = (count + B - 1) / B;
  const uint8_t* bits = in + nb * sizeof(float);
  for (size_t b = 0; b < nb; ++b) {
    float scale;
    memcpy(&scale, in + b * sizeof(float), sizeof(float));
    size_t off = b * B, n = std::min<size_t>(B, count - off);
    for (size_t i = 0; i < n; ++i) out[off + i] = ((bits[(off + i) / 8] >> ((off + i) % 8)) & 1) ? -scale : scale;
  }
}

size_t TopKCount(size_t count, double ratio) {
  if (count == 0) return 0;
  size_t k = static_cast<size_t>(std::floor(ratio * static_cast<double>(count)));
  return std::min(count, std::max<size_t>(1, k));
}

void TopKCompress(const float* in, size_t count, size_t k, uint8_t* out) {
  std::vector<uint32_t> idx(count);
  std::iota(idx.begin(), idx.end(), 0u);
  auto larger = [&](uint32_t a, uint32_t b) {
    float fa = std::fabs(in[a]), fb = std::fabs(in[b]);
    if (std::isnan(fa)) fa = INFINITY;  // NaN counts as largest so it is never silently dropped
    if (std::isnan(fb)) fb = INFINITY;
    return fa > fb || (fa == fb && a < b);  // ties by index: deterministic
  };
  std::nth_element(idx.begin(), idx.begin() + static_cast<long>(k) - 1, idx.end(), larger);
  std::sort(idx.begin(), idx.begin() + static_cast<long>(k));
  for (size_t i = 0; i < k; ++i) {
    memcpy(out + i * 8, &idx[i], 4);
    memcpy(out + i * 8 + 4, &in[idx[i]], 4);
  }
}

bool TopKAccumulate(const uint8_t* in, size_t k, size_t count, float scale, float* out) {
  int64_t last = -1;
  for (size_t i = 0; i < k; ++i) {
    uint32_t index;
    float v;
    memcpy(&index, in + i * 8, 4);
    memcpy(&v, in + i * 8 + 4, 4);
    if (index >= count || static_cast<int64_t>(index) <= last) return false;
    last = index;
    out[index] += scale * v;
  }
  return true;
}

CC_HOT void Subtract(const float* p, const float* t, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = p[i] - t[i];
}

}  // namespace conccl
