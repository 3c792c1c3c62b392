// sketch.cu — ConEF's count-sketch residual on the device: feedback p = g + (1-beta) U(c), U(c), and the
// update c <- c + S(g - t). Buckets and signs come from kernels/sketch_map.h, as on the CPU.
#include "common/half.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/sketch_map.h"

namespace conccl {
namespace cuda {
namespace {

cudaStream_t Stream(void* s) { return static_cast<cudaStream_t>(s); }

__device__ __forceinline__ float Bucket(const void* c, int half, uint32_t b) {
  return half ? conccl::HalfToFloat(static_cast<const uint16_t*>(c)[b]) : static_cast<const float*>(c)[b];
}

bool Valid(uint32_t buckets, size_t count) { return buckets > 0 && count <= 0xffffffffull; }

}  // namespace

int SketchFeedback(const void* c, uint32_t buckets, int half, float gain, const float* g, size_t count, float* p,
                   void* stream) {
  if (!Valid(buckets, count)) return cudaErrorInvalidValue;
  SketchMap map(buckets);
  return detail::LaunchElements(count, Stream(stream), [=] __device__(size_t j) {
    uint32_t k = static_cast<uint32_t>(j);
    // CPU: g[j] + gain * sign * c[b], evaluated left to right without fusing
    p[j] = __fadd_rn(g[j], __fmul_rn(__fmul_rn(gain, map.Sign(k)), Bucket(c, half, map.Bucket(k))));
  });
}

int SketchDecompress(const void* c, uint32_t buckets, int half, size_t count, float* out, void* stream) {
  if (!Valid(buckets, count)) return cudaErrorInvalidValue;
  SketchMap map(buckets);
  return detail::LaunchElements(count, Stream(stream), [=] __device__(size_t j) {
    uint32_t k = static_cast<uint32_t>(j);
    out[j] = __fmul_rn(map.Sign(k), Bucket(c, half, map.Bucket(k)));
  });
}

int SketchUpdate(void* c, uint32_t buckets, int half, const float* g, const float* t, size_t count, void* stream) {
  if (!Valid(buckets, count)) return cudaErrorInvalidValue;
  cudaStream_t s = Stream(stream);
  SketchMap map(buckets);
  float* acc = static_cast<float*>(c);
  if (half) {  // accumulate in float32 and round once per bucket, as the CPU does
    void* scratch = nullptr;
    cudaError_t rc = cudaMallocAsync(&scratch, sizeof(float) * buckets, s);
    if (rc != cudaSuccess) {
      cudaGetLastError();  // not sticky: the next launcher must not report it again
      return rc;
    }
    acc = static_cast<float*>(scratch);
    const uint16_t* h = static_cast<const uint16_t*>(c);
    detail::LaunchElements(buckets, s, [=] __device__(size_t b) { acc[b] = conccl::HalfToFloat(h[b]); });
  }
  detail::LaunchElements(count, s, [=] __device__(size_t j) {
    uint32_t k = static_cast<uint32_t>(j);
    atomicAdd(&acc[map.Bucket(k)], __fmul_rn(map.Sign(k), __fsub_rn(g[j], t[j])));
  });
  if (half) {
    uint16_t* h = static_cast<uint16_t*>(c);
    detail::LaunchElements(buckets, s, [=] __device__(size_t b) { h[b] = conccl::FloatToHalf(acc[b]); });
    cudaError_t launched = cudaGetLastError();
    cudaError_t freed = cudaFreeAsync(acc, s);
    return launched != cudaSuccess ? launched : freed;
  }
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace conccl
