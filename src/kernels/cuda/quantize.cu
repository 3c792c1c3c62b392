// quantize.cu — block quantization kernels: quantize, dequantize, the fused ring hop, fused EF and the
// ConEF block-quantized residual (launch.h has the contracts; quant_group.cuh the shared arithmetic).
#include <cuda_runtime.h>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/quant_group.cuh"

namespace conccl {
namespace cuda {
namespace {

using detail::kFullMask;
using detail::kMaxPerThread;
using detail::kThreads;

// Where a block's values come from.
enum class Source {
  kInput,     // v = a
  kHop,       // v = D(inBytes) + a
  kSum,       // v = a + b       (EF: p = g + e)
  kDifference // v = a - b       (ConEF: p - t)
};

struct GroupJob {
  QuantArgs q;
  size_t count;
  size_t nb;  // quantization blocks
  int G;      // threads per block
  const float* a;
  const float* b;
  const uint8_t* inBytes;  // kHop: the received block's wire bytes
  uint8_t* out;            // wire bytes [scales][codes]; codes go to codes8 instead when it is set
  int8_t* codes8;          // odd block size with int4: one int8 code per element, packed afterwards
  float* transmitted;      // optional: D(Q(v))
  float* residual;         // optional: v - D(Q(v)) (may alias b)
};

template <Source kSource>
__device__ __forceinline__ float LoadValue(const GroupJob& j, size_t e) {
  if (kSource == Source::kInput) return j.a[e];
  if (kSource == Source::kSum) return __fadd_rn(j.a[e], j.b[e]);
  if (kSource == Source::kDifference) return __fsub_rn(j.a[e], j.b[e]);
  const float* inScales = reinterpret_cast<const float*>(j.inBytes);
  const uint8_t* inCodes = j.inBytes + j.nb * sizeof(float);
  return __fadd_rn(detail::Decode(inCodes, inScales, j.q.bits, j.q.blockSize, e), j.a[e]);
}

template <Source kSource>
__global__ void __launch_bounds__(kThreads) QuantizeGroups(GroupJob j) {
  const int G = j.G;
  const int lane = threadIdx.x % G;
  const size_t block = static_cast<size_t>(blockIdx.x) * (kThreads / G) + threadIdx.x / G;
  const bool active = block < j.nb;
  const uint32_t B = j.q.blockSize;
  const size_t off = block * B;
  const uint32_t n = active ? static_cast<uint32_t>(min(static_cast<size_t>(B), j.count - off)) : 0;
  const int perThread = (static_cast<int>(B) + G - 1) / G;

  float v[kMaxPerThread];
  uint32_t m = 0;
#pragma unroll
  for (int k = 0; k < kMaxPerThread; ++k) {
    uint32_t i = lane + k * G;
    v[k] = 0.0f;
    if (k < perThread && i < n) {
      v[k] = LoadValue<kSource>(j, off + i);
      m = max(m, __float_as_uint(v[k]) & 0x7fffffffu);
    }
  }
  const float scale = detail::ScaleFromMaxBits(detail::GroupMax(m, G), j.q.bits);
  uint8_t* codes = j.out ? j.out + j.nb * sizeof(float) : nullptr;
  if (active && lane == 0 && j.out) reinterpret_cast<float*>(j.out)[block] = scale;

#pragma unroll
  for (int k = 0; k < kMaxPerThread; ++k) {
    if (k >= perThread) break;  // uniform across the CUDA block: every lane reaches the shuffle below
    uint32_t i = lane + k * G;
    bool valid = i < n;
    int code = valid ? detail::Code(j.q, v[k], scale, j.q.firstIndex + off + i) : 0;
    if (valid && j.transmitted) j.transmitted[off + i] = __fmul_rn(static_cast<float>(code), scale);
    if (valid && j.residual) j.residual[off + i] = __fsub_rn(v[k], __fmul_rn(static_cast<float>(code), scale));
    if (j.codes8) {
      if (valid) j.codes8[off + i] = static_cast<int8_t>(code);
    } else if (codes && j.q.bits == 8) {
      if (valid) reinterpret_cast<int8_t*>(codes)[off + i] = static_cast<int8_t>(code);
    } else if (codes) {
      // int4 with an even block size: element i is even exactly when its lane is, and its odd partner is
      // the next lane of the same warp. The last element of an odd-length block gets a zero high nibble.
      int partner = __shfl_down_sync(kFullMask, code, 1);
      if (valid && (i & 1) == 0) {
        uint8_t hi = (i + 1 < n) ? static_cast<uint8_t>(partner & 0x0f) : 0;
        codes[(off + i) / 2] = static_cast<uint8_t>((code & 0x0f) | (hi << 4));
      }
    }
  }
}

// Packs int8 codes into nibbles: byte j = code[2j] | code[2j+1] << 4 (zero high nibble past the end).
__global__ void PackNibbles(const int8_t* codes8, size_t count, uint8_t* codes) {
  size_t nbytes = (count + 1) / 2;
  for (size_t b = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; b < nbytes;
       b += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint8_t lo = static_cast<uint8_t>(codes8[2 * b]) & 0x0f;
    uint8_t hi = 2 * b + 1 < count ? static_cast<uint8_t>(codes8[2 * b + 1]) & 0x0f : 0;
    codes[b] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

__global__ void DequantizeElements(const uint8_t* in, size_t nb, uint32_t bits, uint32_t B, size_t count,
                                   const float* add, float* out) {
  const float* scales = reinterpret_cast<const float*>(in);
  const uint8_t* codes = in + nb * sizeof(float);
  for (size_t e = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<size_t>(gridDim.x) * blockDim.x) {
    float d = detail::Decode(codes, scales, bits, B, e);
    out[e] = add ? __fadd_rn(add[e], d) : d;
  }
}

unsigned ElementGrid(size_t n) {
  size_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535u * 8 ? (blocks ? blocks : 1) : 65535u * 8);
}

bool ValidArgs(const QuantArgs& q) {
  return q.blockSize >= 32 && q.blockSize <= 4096 && (q.bits == 8 || q.bits == 4);
}

// Runs QuantizeGroups over job.count elements, through an int8 scratch when int4 blocks have odd length.
template <Source kSource>
int RunGroups(GroupJob job, cudaStream_t s) {
  if (!ValidArgs(job.q)) return cudaErrorInvalidValue;
  if (job.count == 0) return cudaSuccess;
  job.nb = (job.count + job.q.blockSize - 1) / job.q.blockSize;
  job.G = detail::GroupSize(job.q.blockSize);
  size_t perCta = kThreads / job.G;
  unsigned grid = static_cast<unsigned>((job.nb + perCta - 1) / perCta);
  bool viaScratch = job.out && job.q.bits == 4 && (job.q.blockSize & 1);
  if (viaScratch) {
    void* scratch = nullptr;
    cudaError_t rc = cudaMallocAsync(&scratch, job.count, s);
    if (rc != cudaSuccess) {
      cudaGetLastError();  // not sticky: the next launcher must not report it again
      return rc;
    }
    job.codes8 = static_cast<int8_t*>(scratch);
    QuantizeGroups<kSource><<<grid, kThreads, 0, s>>>(job);
    PackNibbles<<<ElementGrid((job.count + 1) / 2), kThreads, 0, s>>>(job.codes8, job.count,
                                                                     job.out + job.nb * sizeof(float));
    rc = cudaGetLastError();
    cudaError_t freed = cudaFreeAsync(scratch, s);
    return rc != cudaSuccess ? rc : freed;
  }
  QuantizeGroups<kSource><<<grid, kThreads, 0, s>>>(job);
  return cudaGetLastError();
}

GroupJob Job(const QuantArgs& q, size_t count) {
  GroupJob j{};
  j.q = q;
  j.count = count;
  return j;
}

cudaStream_t Stream(void* s) { return static_cast<cudaStream_t>(s); }

}  // namespace

size_t QuantizedBytes(size_t count, uint32_t blockSize, uint32_t bits) {
  size_t nb = (count + blockSize - 1) / blockSize;
  return nb * sizeof(float) + (bits == 8 ? count : (count + 1) / 2);
}

int QuantizeBlocks(const QuantArgs& q, const float* in, size_t count, uint8_t* out, void* stream) {
  GroupJob j = Job(q, count);
  j.a = in, j.out = out;
  return RunGroups<Source::kInput>(j, Stream(stream));
}

int DequantizeBlocks(const QuantArgs& q, const uint8_t* in, size_t count, float* out, void* stream) {
  if (!ValidArgs(q)) return cudaErrorInvalidValue;
  if (count == 0) return cudaSuccess;
  size_t nb = (count + q.blockSize - 1) / q.blockSize;
  DequantizeElements<<<ElementGrid(count), kThreads, 0, Stream(stream)>>>(in, nb, q.bits, q.blockSize, count,
                                                                         nullptr, out);
  return cudaGetLastError();
}

int DequantizeAddQuantize(const QuantArgs& q, const uint8_t* in, const float* local, size_t count, uint8_t* out,
                          void* stream) {
  GroupJob j = Job(q, count);
  j.a = local, j.inBytes = in, j.out = out;
  return RunGroups<Source::kHop>(j, Stream(stream));
}

int EfUpdate(const QuantArgs& q, const float* g, float* e, size_t count, uint8_t* bytes, float* transmitted,
             void* stream) {
  GroupJob j = Job(q, count);
  j.a = g, j.b = e, j.out = bytes, j.transmitted = transmitted, j.residual = e;
  return RunGroups<Source::kSum>(j, Stream(stream));
}

int ConefFeedback(const QuantArgs& r, const float* g, const uint8_t* eq, size_t count, float* p, void* stream) {
  if (!ValidArgs(r)) return cudaErrorInvalidValue;
  if (count == 0) return cudaSuccess;
  size_t nb = (count + r.blockSize - 1) / r.blockSize;
  DequantizeElements<<<ElementGrid(count), kThreads, 0, Stream(stream)>>>(eq, nb, r.bits, r.blockSize, count, g, p);
  return cudaGetLastError();
}

int ConefUpdate(const QuantArgs& r, const float* p, const float* t, size_t count, uint8_t* eq, void* stream) {
  GroupJob j = Job(r, count);
  j.a = p, j.b = t, j.out = eq;
  return RunGroups<Source::kDifference>(j, Stream(stream));
}

}  // namespace cuda
}  // namespace conccl
