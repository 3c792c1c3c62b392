// launch.h — the CUDA kernels behind plain types: the only interface the rest of ConCCL (and tests, and the
// kernel benchmark) has to src/kernels/cuda/. No CUDA header is needed to include it.
//
// Contract for every launcher:
//  - pointers are device memory (or managed memory) unless said otherwise; `stream` is a cudaStream_t
//    (nullptr = the legacy default stream);
//  - the call only enqueues work on `stream` and returns: the result is ready once the stream reaches it;
//  - the return value is 0 (cudaSuccess) or the cudaError_t of the failed launch or allocation;
//  - the bytes written are exactly those of the CPU kernel of the same name (kernels/cpu/quantize.h and
//    the residual store), which define the wire format. Exceptions are stated where they are; and a float
//    output that is NaN may carry another NaN payload (GPU arithmetic returns the canonical 0x7fffffff);
//  - wire buffers (scales, top-k pairs) are 4-byte aligned: the kernels access them as 32-bit words.
//
// Built only when CONCCL_HAVE_CUDA; callers test that macro.
#pragma once

#include <cstddef>
#include <cstdint>

namespace conccl {
namespace cuda {

// Block quantization parameters (kernels/cpu/quantize.h QuantParams, in plain types).
struct QuantArgs {
  uint32_t blockSize;   // 32..4096 elements per block
  uint32_t bits;        // 8 or 4
  uint32_t stochastic;  // 1 = stochastic rounding from CounterUniform(seed, stream, firstIndex + i)
  uint64_t seed;
  uint64_t stream;
  uint64_t firstIndex;
};

// Wire bytes of `count` elements: [nb float32 scales][codes] (int4: two codes per byte).
size_t QuantizedBytes(size_t count, uint32_t blockSize, uint32_t bits);

// out = Q(in).
int QuantizeBlocks(const QuantArgs& q, const float* in, size_t count, uint8_t* out, void* stream);
// out = D(in).
int DequantizeBlocks(const QuantArgs& q, const uint8_t* in, size_t count, float* out, void* stream);
// out = Q(D(in) + local): the fused hop of the compressed ring, one pass.
int DequantizeAddQuantize(const QuantArgs& q, const uint8_t* in, const float* local, size_t count, uint8_t* out,
                          void* stream);

// Fused error feedback (EF), one pass over g and e:
//   p = g + e;  bytes = Q(p) (when bytes != nullptr);  t = D(Q(p)) (when transmitted != nullptr);  e <- p - t.
// e is read and rewritten in place. q.firstIndex is the global index of element 0.
int EfUpdate(const QuantArgs& q, const float* g, float* e, size_t count, uint8_t* bytes, float* transmitted,
             void* stream);

// ConEF with a block-quantized residual eq (residual format: block size `r.blockSize`, r.bits, nearest):
//   ConefFeedback: p = g + D_r(eq).
//   ConefUpdate:   eq <- Q_r(p - t), t = the transmitted D(C(p)).
int ConefFeedback(const QuantArgs& r, const float* g, const uint8_t* eq, size_t count, float* p, void* stream);
int ConefUpdate(const QuantArgs& r, const float* p, const float* t, size_t count, uint8_t* eq, void* stream);

// ConEF with a count-sketch residual of `buckets` buckets (float32, or float16 when half != 0), the bucket
// and sign of each element from kernels/sketch_map.h:
//   SketchFeedback:   p = g + gain * U(c), U(c)_j = sign(j) c[bucket(j)]   (gain = 1 - beta)
//   SketchDecompress: out = U(c)
//   SketchUpdate:     c <- c + S(g - t), S(v)[bucket(j)] += sign(j) v_j
// SketchUpdate adds with atomics, so the order of additions into one bucket, and with it the last bits of
// c, may differ from the CPU's sequential order (the residual is local state, never on the wire); the
// error is within float rounding of the exact sum (global float atomics also flush subnormal sums to zero).
// Feedback and decompress are bitwise the CPU's.
int SketchFeedback(const void* c, uint32_t buckets, int half, float gain, const float* g, size_t count, float* p,
                   void* stream);
int SketchDecompress(const void* c, uint32_t buckets, int half, size_t count, float* out, void* stream);
int SketchUpdate(void* c, uint32_t buckets, int half, const float* g, const float* t, size_t count, void* stream);

// float16 / bfloat16 wire (round to nearest even; NaN quieted with its payload truncated).
int FloatToHalf(const float* in, size_t n, uint16_t* out, void* stream);
int HalfToFloat(const uint16_t* in, size_t n, float* out, void* stream);
int FloatToBf16(const float* in, size_t n, uint16_t* out, void* stream);
int Bf16ToFloat(const uint16_t* in, size_t n, float* out, void* stream);

// Random block (DEF's URSB): dense[i] = p[(start + i) % count] for i < len; and back: out = 0 except
// out[(start + i) % count] = dense[i].
int RandomBlockGather(const float* p, size_t count, size_t start, size_t len, float* dense, void* stream);
int RandomBlockScatter(const float* dense, size_t count, size_t start, size_t len, float* out, void* stream);

// Summable integers on agreed per-block steps (algorithms/compressed.h): q[i] = round(p[i] / step[b]) clamped
// to +-levels (stochastic: floor(v + CounterUniform(seed, stream, i))), 0 in a block whose step is not
// finite; transmitted[i] = q[i] * step[b] when transmitted != nullptr. intBytes is 2 (int16) or 4 (int32).
int SummableQuantize(const float* p, size_t count, uint32_t blockSize, const float* step, float levels, int stochastic,
                     uint64_t seed, uint64_t stream, int intBytes, void* q, float* transmitted, void* cudaStream);
// out[i] = q[i] * step[b].
int SummableDequantize(const void* q, int intBytes, size_t count, uint32_t blockSize, const float* step, float* out,
                       void* stream);
// dst[i] = a[i] + b[i] over int8 (intBytes 1), int16 (2), int32 (4) or int64 (8), wrapping like the CPU's.
int IntegerAdd(const void* a, const void* b, void* dst, size_t count, int intBytes, void* stream);

// Top-k: k pairs [uint32 index][float32 value] of the k largest |x| (NaN counts as largest; ties go to the
// lower index), indices increasing. Uses CUB's radix sort; scratch comes from cudaMallocAsync on the stream.
int TopKCompress(const float* in, size_t count, size_t k, uint8_t* out, void* stream);

}  // namespace cuda
}  // namespace conccl
