// topk.cu — top-k selection with CUB: a stable descending radix sort of |x| (as IEEE bits, NaN ranked as
// Inf) carrying the indices, then the first k indices sorted ascending. Stability keeps equal magnitudes in
// index order, which is the CPU's tie rule (kernels/cpu/quantize.cc TopKCompress), so the bytes match.
#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/launch.h"

namespace conccl {
namespace cuda {
namespace {

// Device scratch from the stream-ordered allocator, freed on the stream when it goes out of scope.
class StreamScratch {
 public:
  explicit StreamScratch(cudaStream_t s) : s_(s) {}
  ~StreamScratch() {
    for (void* p : ptrs_)
      if (p) cudaFreeAsync(p, s_);
  }
  template <typename T>
  cudaError_t Get(size_t n, T** out) {
    void* p = nullptr;
    cudaError_t rc = cudaMallocAsync(&p, n ? n * sizeof(T) : 1, s_);
    *out = static_cast<T*>(p);
    if (rc == cudaSuccess) ptrs_[used_++] = p;
    return rc;
  }

 private:
  cudaStream_t s_;
  void* ptrs_[8] = {};
  int used_ = 0;
};

// Returns a failed call's error, clearing it from the thread's last error so that the next launcher does
// not report it again.
#define CC_CUDA_TRY(expr)               \
  do {                                  \
    cudaError_t rc_ = (expr);           \
    if (rc_ != cudaSuccess) {           \
      cudaGetLastError();               \
      return rc_;                       \
    }                                   \
  } while (0)

}  // namespace

int TopKCompress(const float* in, size_t count, size_t k, uint8_t* out, void* stream) {
  if (k > count || count > 0xffffffffull) return cudaErrorInvalidValue;
  if (k == 0) return cudaSuccess;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  StreamScratch scratch(s);
  uint32_t *keys, *keysSorted, *idx, *idxSorted, *chosen;
  CC_CUDA_TRY(scratch.Get(count, &keys));
  CC_CUDA_TRY(scratch.Get(count, &keysSorted));
  CC_CUDA_TRY(scratch.Get(count, &idx));
  CC_CUDA_TRY(scratch.Get(count, &idxSorted));
  CC_CUDA_TRY(scratch.Get(k, &chosen));
  CC_CUDA_TRY(static_cast<cudaError_t>(detail::LaunchElements(count, s, [=] __device__(size_t i) {
    uint32_t a = __float_as_uint(in[i]) & 0x7fffffffu;
    keys[i] = a > 0x7f800000u ? 0x7f800000u : a;  // NaN ranks with Inf, so it is never dropped silently
    idx[i] = static_cast<uint32_t>(i);
  })));
  uint32_t n = static_cast<uint32_t>(count), kk = static_cast<uint32_t>(k);  // CUB takes any item-count type
  size_t sortBytes = 0, idxBytes = 0;
  CC_CUDA_TRY(cub::DeviceRadixSort::SortPairsDescending(nullptr, sortBytes, keys, keysSorted, idx, idxSorted, n));
  CC_CUDA_TRY(cub::DeviceRadixSort::SortKeys(nullptr, idxBytes, idxSorted, chosen, kk));
  uint8_t* temp;
  CC_CUDA_TRY(scratch.Get(sortBytes > idxBytes ? sortBytes : idxBytes, &temp));
  CC_CUDA_TRY(cub::DeviceRadixSort::SortPairsDescending(temp, sortBytes, keys, keysSorted, idx, idxSorted, n, 0, 32, s));
  CC_CUDA_TRY(cub::DeviceRadixSort::SortKeys(temp, idxBytes, idxSorted, chosen, kk, 0, 32, s));
  uint32_t* pairs = reinterpret_cast<uint32_t*>(out);
  return detail::LaunchElements(k, s, [=] __device__(size_t i) {
    uint32_t j = chosen[i];
    pairs[2 * i] = j;
    pairs[2 * i + 1] = __float_as_uint(in[j]);
  });
}

}  // namespace cuda
}  // namespace conccl
