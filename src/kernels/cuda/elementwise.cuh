// elementwise.cuh — a grid-stride launch for kernels with one independent result per element.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace conccl {
namespace cuda {
namespace detail {

constexpr unsigned kElementThreads = 256;

// Calls f(i) for every i < n, each exactly once.
template <class F>
__global__ void __launch_bounds__(kElementThreads) ForEachElement(size_t n, F f) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    f(i);
}

// Enqueues ForEachElement on stream s; returns the launch's cudaError_t.
template <class F>
int LaunchElements(size_t n, cudaStream_t s, F f) {
  if (n == 0) return cudaSuccess;
  size_t blocks = (n + kElementThreads - 1) / kElementThreads;
  const size_t kMaxBlocks = 65535u * 8;  // grid-stride beyond this: enough blocks to fill any GPU
  ForEachElement<<<static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks), kElementThreads, 0, s>>>(n, f);
  return cudaGetLastError();
}

}  // namespace detail
}  // namespace cuda
}  // namespace conccl
