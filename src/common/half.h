// half.h — IEEE float16 and bfloat16 <-> float32 conversions (round to nearest even, NaN kept quiet).
// Used by the CPU kernels, the CUDA kernels (CC_HOST_DEVICE) and tests' references; the bit patterns are
// the wire format.
#pragma once

#include <cstdint>
#include <cstring>

#include "common/host_device.h"

namespace conccl {

CC_HOST_DEVICE inline float BitsToFloat(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}
CC_HOST_DEVICE inline uint32_t FloatToBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

CC_HOST_DEVICE inline float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  if (exp == 0x1f) return BitsToFloat(sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0u));  // inf / quiet nan
  if (exp == 0) {
    if (man == 0) return BitsToFloat(sign);
    // subnormal: value = man * 2^-24
    float v = static_cast<float>(man) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  return BitsToFloat(sign | ((exp + 112) << 23) | (man << 13));
}

CC_HOST_DEVICE inline uint16_t FloatToHalf(float f) {
  uint32_t x = FloatToBits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t absx = x & 0x7fffffffu;
  // nan: quieted, payload truncated (what F16C's vcvtps2ph does, so both paths give the same bits) / inf
  if (absx >= 0x7f800000u) return sign | (absx > 0x7f800000u ? (0x7e00 | ((absx >> 13) & 0x3ff)) : 0x7c00);
  if (absx >= 0x477ff000u) return sign | 0x7c00;  // rounds to >= 65520: overflow to inf
  if (absx < 0x38800000u) {                       // below 2^-14: subnormal half (or zero)
    // scale so that the half subnormal unit (2^-24) becomes 1, then round to nearest even
    float v = BitsToFloat(absx) * 16777216.0f;
    uint32_t m = static_cast<uint32_t>(v);
    float rem = v - static_cast<float>(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1))) ++m;
    return sign | static_cast<uint16_t>(m);
  }
  uint32_t exp = ((absx >> 23) - 112) << 10;
  uint32_t man = (absx >> 13) & 0x3ff;
  uint32_t rest = absx & 0x1fff;
  uint32_t h = exp | man;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;  // carry may bump the exponent: still correct
  return sign | static_cast<uint16_t>(h);
}

CC_HOST_DEVICE inline float Bf16ToFloat(uint16_t b) { return BitsToFloat(static_cast<uint32_t>(b) << 16); }

CC_HOST_DEVICE inline uint16_t FloatToBf16(float f) {
  uint32_t x = FloatToBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet nan
  uint32_t lsb = (x >> 16) & 1;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

}  // namespace conccl
