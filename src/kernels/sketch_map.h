// sketch_map.h — the count sketch's map from element j to (bucket, sign), shared by the CPU residual store
// and the CUDA sketch kernels so both place every element in the same bucket.
//
// As the ConEF code computes it: the MurmurHash3 finaliser of an affine function of j, modulo the bucket
// count (the sign from a second hash's parity). The modulo is done by multiplication, exact for every
// 32-bit operand (Lemire's "fastmod").
#pragma once

#include <cstdint>

#include "common/host_device.h"

namespace conccl {

CC_HOST_DEVICE inline uint32_t Fmix32(uint32_t h) {  // MurmurHash3 finaliser (unsigned arithmetic)
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

class SketchMap {
 public:
  CC_HOST_DEVICE explicit SketchMap(uint32_t buckets)
      : d_(buckets), m_(UINT64_C(0xFFFFFFFFFFFFFFFF) / buckets + 1) {}
  CC_HOST_DEVICE uint32_t Bucket(uint32_t j) const { return Mod(Fmix32(kHashA * j + kHashB)); }
  CC_HOST_DEVICE float Sign(uint32_t j) const {
    return (Mod(Fmix32((kHashA + 2) * j + (kHashB + 3))) & 1) ? 1.0f : -1.0f;
  }

 private:
  static constexpr uint32_t kHashA = 994443u, kHashB = 609478u;
  // a % d_ (d_ == 1: m_ wraps to 0 and the result is 0, as it should be).
  CC_HOST_DEVICE uint32_t Mod(uint32_t a) const {
#if defined(__CUDA_ARCH__)
    return static_cast<uint32_t>(__umul64hi(m_ * a, d_));
#else
    return static_cast<uint32_t>((static_cast<unsigned __int128>(m_ * a) * d_) >> 64);
#endif
  }
  uint32_t d_;
  uint64_t m_;
};

}  // namespace conccl
