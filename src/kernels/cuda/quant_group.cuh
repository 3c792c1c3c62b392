// quant_group.cuh — the per-block quantizer the quantizing kernels share (quantize, fused hop, fused EF,
// ConEF update). One group of G threads (G a power of two, 32..256) owns one quantization block; a thread
// holds the block's elements lane, lane + G, ... in registers, so a block is read once and written once.
//
// Every expression mirrors kernels/cpu/quantize.cc operation for operation (the file is compiled with
// --fmad=false, so no multiply-add is fused), and std::min/std::max are spelled out with their NaN
// behaviour: the codes are the CPU's codes, bit for bit.
#pragma once

#include <cstdint>

#include "kernels/counter_rng.h"
#include "kernels/cuda/launch.h"

namespace conccl {
namespace cuda {
namespace detail {

constexpr int kThreads = 256;       // threads per CUDA block
constexpr int kMaxPerThread = 16;   // 4096-element blocks / 256 threads
constexpr unsigned kFullMask = 0xffffffffu;

// Threads per quantization block: the smallest power of two >= B, clamped to 32..256.
inline int GroupSize(uint32_t B) {
  int g = 32;
  while (g < static_cast<int>(B) && g < kThreads) g *= 2;
  return g;
}

__device__ __forceinline__ float StdMax(float a, float b) { return (a < b) ? b : a; }  // std::max
__device__ __forceinline__ float StdMin(float a, float b) { return (b < a) ? b : a; }  // std::min
__device__ __forceinline__ float Levels(uint32_t bits) { return bits == 8 ? 127.0f : 7.0f; }

// Maximum of m over the G threads of this thread's group. Every thread of the CUDA block must call it.
__device__ __forceinline__ uint32_t GroupMax(uint32_t m, int G) {
  __shared__ uint32_t warpMax[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) m = max(m, __shfl_xor_sync(kFullMask, m, o));
  if (G <= 32) return m;
  __syncthreads();  // an earlier call's readers are done with warpMax
  if ((threadIdx.x & 31) == 0) warpMax[threadIdx.x / 32] = m;
  __syncthreads();
  int first = (threadIdx.x / G) * (G / 32);
  uint32_t r = 0;
  for (int w = 0; w < G / 32; ++w) r = max(r, warpMax[first + w]);
  return r;
}

// The block's scale from the max of |x| as IEEE bits (NaN when the block holds NaN or Inf).
__device__ __forceinline__ float ScaleFromMaxBits(uint32_t m, uint32_t bits) {
  if (m >= 0x7f800000u) return __int_as_float(0x7fc00000);
  return __fdiv_rn(__uint_as_float(m), Levels(bits));
}

// The code of x in a block of scale `scale` (CPU: QuantizeOne).
__device__ __forceinline__ int Code(const QuantArgs& q, float x, float scale, uint64_t index) {
  float levels = Levels(q.bits);
  float inv = (scale > 0.0f && isfinite(scale)) ? __fdiv_rn(1.0f, scale) : 0.0f;
  if (isinf(inv)) {  // subnormal scale: divide
    float s = __fdiv_rn(x, scale);
    float r = q.stochastic ? floorf(__fadd_rn(s, CounterUniform(q.seed, q.stream, index))) : rintf(s);
    return static_cast<int>(StdMin(levels, StdMax(-levels, r)));
  }
  if (!q.stochastic) {
    float v = __fmul_rn(x, inv);
    v = v < levels ? (v > -levels ? v : -levels) : levels;  // CPU Clamp: NaN becomes +levels
    return static_cast<int>(rintf(v));
  }
  float s = __fmul_rn(x, inv);
  float r = floorf(__fadd_rn(s, CounterUniform(q.seed, q.stream, index)));
  return static_cast<int>(StdMin(levels, StdMax(-levels, r)));
}

// Element e's decoded value from wire bytes [nb scales][codes].
__device__ __forceinline__ float Decode(const uint8_t* codes, const float* scales, uint32_t bits, uint32_t B,
                                        size_t e) {
  int c;
  if (bits == 8) {
    c = reinterpret_cast<const int8_t*>(codes)[e];
  } else {
    uint8_t byte = codes[e / 2];
    uint8_t nib = (e & 1) ? (byte >> 4) : (byte & 0x0f);
    c = static_cast<int8_t>(static_cast<uint8_t>(nib << 4)) >> 4;
  }
  return __fmul_rn(static_cast<float>(c), scales[e / B]);
}

}  // namespace detail
}  // namespace cuda
}  // namespace conccl
