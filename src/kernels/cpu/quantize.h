// quantize.h — CPU reference kernels of the compressing codecs. These define the wire bytes: the CUDA
// kernels must reproduce them exactly.
//
// Block quantization layout for `count` elements with block size B (nb = ceil(count/B) blocks):
//   [nb float32 scales][codes], codes int8 (one byte each) or int4 (two per byte, element 2i in the low
//   nibble of byte i, two's complement). Element x of block b decodes to code * scale[b].
//   scale = max|x| / L (L = 127 for int8, 7 for int4); an all-zero block has scale 0. A block holding NaN
//   or Inf gets scale NaN and decodes to NaN everywhere in that block, and only there.
// Stochastic rounding draws u in [0,1) from CounterUniform(seed, stream, global element index).
//
// Hot kernels are compiled for AVX2+F16C and a generic target and picked at run time (target_clones).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/counter_rng.h"

namespace conccl {

struct QuantParams {
  uint32_t blockSize;
  uint32_t bits;  // 8 or 4
  bool stochastic;
  uint64_t seed;
  uint64_t stream;
  uint64_t firstIndex;  // global index of element 0 (stochastic rounding only)
};

size_t QuantizedBytes(size_t count, uint32_t blockSize, uint32_t bits);

void QuantizeBlocks(const QuantParams& p, const float* in, size_t count, uint8_t* out);
void DequantizeBlocks(const QuantParams& p, const uint8_t* in, size_t count, float* out);
// out = Q(D(in) + local): the fused hop of the compressed ring, one pass over each block.
void DequantizeAddQuantize(const QuantParams& p, const uint8_t* in, const float* local, size_t count, uint8_t* out);
// Worst-case absolute round-trip error over in[0..count).
double QuantizeErrorBound(const QuantParams& p, const float* in, size_t count);

// float16 / bfloat16 wire: 2 bytes per element, round to nearest even.
void FloatToHalfArray(const float* in, size_t n, uint16_t* out);
void HalfToFloatArray(const uint16_t* in, size_t n, float* out);
void FloatToBf16Array(const float* in, size_t n, uint16_t* out);
void Bf16ToFloatArray(const uint16_t* in, size_t n, float* out);

// Scaled sign with per-block scale mean|x|: [nb float32 scales][ceil(count/8) sign bytes, bit set = negative].
size_t SignBytes(size_t count, uint32_t blockSize);
void SignCompress(const float* in, size_t count, uint32_t blockSize, uint8_t* out);
void SignDecompress(const uint8_t* in, size_t count, uint32_t blockSize, float* out);

// Top-k: k = max(1, ratio*count) pairs [uint32 index][float32 value], indices strictly increasing.
size_t TopKCount(size_t count, double ratio);
void TopKCompress(const float* in, size_t count, size_t k, uint8_t* out);
// Adds (scale * value) at each index into out; fails (returns false) on an index out of range or not
// increasing — malformed input never writes out of bounds.
bool TopKAccumulate(const uint8_t* in, size_t k, size_t count, float scale, float* out);

// EF update in one pass: residual[i] = p[i] - transmitted[i].
void Subtract(const float* p, const float* transmitted, size_t n, float* out);

}  // namespace conccl
