// stream_wait.cu — the kernel that holds a stream until the host says so (core/stream_executor.h): one
// thread polls a word of mapped pinned host memory, sleeping between reads.
#include <cuda_runtime.h>

#include "kernels/cuda/runtime.h"

namespace conccl {
namespace cuda {
namespace {

__global__ void WaitWordKernel(const volatile uint32_t* word, uint32_t value) {
  while (static_cast<int32_t>(*word - value) < 0) __nanosleep(2000);
}

}  // namespace

int WaitHostWord(const volatile uint32_t* word, uint32_t value, void* stream) {
  void* deviceWord = nullptr;
  cudaError_t rc = cudaHostGetDevicePointer(&deviceWord, const_cast<uint32_t*>(word), 0);
  if (rc != cudaSuccess) return rc;
  WaitWordKernel<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(static_cast<const volatile uint32_t*>(deviceWord),
                                                                   value);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace conccl
