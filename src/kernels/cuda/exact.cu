// exact.cu — kernels of the codecs whose wire values add exactly: the random block's gather/scatter and the
// summable integers (quantize on agreed steps, integer add, dequantize). Mirrors
// algorithms/compressed_exact.cc operation for operation.
#include <type_traits>

#include "kernels/counter_rng.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/launch.h"

namespace conccl {
namespace cuda {
namespace {

cudaStream_t Stream(void* s) { return static_cast<cudaStream_t>(s); }

template <typename T>
int SummableQuantizeT(const float* p, size_t count, uint32_t B, const float* step, float levels, int stochastic,
                      uint64_t seed, uint64_t stream, T* q, float* transmitted, cudaStream_t s) {
  return detail::LaunchElements(count, s, [=] __device__(size_t i) {
    float st = step[i / B];
    float inv = st > 0.0f && isfinite(st) ? __fdiv_rn(1.0f, st) : 0.0f;
    T code;
    if (!isfinite(st)) {
      code = 0;
    } else if (!stochastic && !isinf(inv)) {
      float v = __fmul_rn(p[i], inv);
      v = v < levels ? (v > -levels ? v : -levels) : levels;
      code = static_cast<T>(__fsub_rn(__fadd_rn(v, 12582912.0f), 12582912.0f));
    } else {
      float v = isinf(inv) ? __fdiv_rn(p[i], st) : __fmul_rn(p[i], inv);
      float r = stochastic ? floorf(__fadd_rn(v, CounterUniform(seed, stream, i))) : rintf(v);
      float lo = (-levels < r) ? r : -levels;  // std::max(-levels, r)
      code = static_cast<T>((lo < levels) ? lo : levels);  // std::min(levels, lo)
    }
    q[i] = code;
    if (transmitted) transmitted[i] = __fmul_rn(static_cast<float>(code), st);
  });
}

template <typename T>
int AddT(const T* a, const T* b, T* d, size_t n, cudaStream_t s) {
  using U = typename std::make_unsigned<T>::type;  // wraps like the CPU's two's-complement add
  return detail::LaunchElements(n, s, [=] __device__(size_t i) {
    d[i] = static_cast<T>(static_cast<U>(a[i]) + static_cast<U>(b[i]));
  });
}

}  // namespace

int RandomBlockGather(const float* p, size_t count, size_t start, size_t len, float* dense, void* stream) {
  if (len > count || (count && start >= count)) return cudaErrorInvalidValue;
  return detail::LaunchElements(len, Stream(stream), [=] __device__(size_t i) {
    size_t j = start + i;
    dense[i] = p[j >= count ? j - count : j];
  });
}

int RandomBlockScatter(const float* dense, size_t count, size_t start, size_t len, float* out, void* stream) {
  if (len > count || (count && start >= count)) return cudaErrorInvalidValue;
  // Each output element is written once: from dense when it is inside the block, else 0.
  return detail::LaunchElements(count, Stream(stream), [=] __device__(size_t j) {
    size_t i = j >= start ? j - start : j + count - start;  // position of j in the wrapped block
    out[j] = i < len ? dense[i] : 0.0f;
  });
}

int SummableQuantize(const float* p, size_t count, uint32_t blockSize, const float* step, float levels, int stochastic,
                     uint64_t seed, uint64_t stream, int intBytes, void* q, float* transmitted, void* cudaStream) {
  if (blockSize == 0) return cudaErrorInvalidValue;
  if (intBytes == 2)
    return SummableQuantizeT(p, count, blockSize, step, levels, stochastic, seed, stream, static_cast<int16_t*>(q),
                             transmitted, Stream(cudaStream));
  if (intBytes == 4)
    return SummableQuantizeT(p, count, blockSize, step, levels, stochastic, seed, stream, static_cast<int32_t*>(q),
                             transmitted, Stream(cudaStream));
  return cudaErrorInvalidValue;
}

int SummableDequantize(const void* q, int intBytes, size_t count, uint32_t blockSize, const float* step, float* out,
                       void* stream) {
  if (blockSize == 0) return cudaErrorInvalidValue;
  uint32_t B = blockSize;
  if (intBytes == 2) {
    const int16_t* c = static_cast<const int16_t*>(q);
    return detail::LaunchElements(count, Stream(stream), [=] __device__(size_t i) {
      out[i] = __fmul_rn(static_cast<float>(c[i]), step[i / B]);
    });
  }
  if (intBytes == 4) {
    const int32_t* c = static_cast<const int32_t*>(q);
    return detail::LaunchElements(count, Stream(stream), [=] __device__(size_t i) {
      out[i] = __fmul_rn(static_cast<float>(c[i]), step[i / B]);
    });
  }
  return cudaErrorInvalidValue;
}

int IntegerAdd(const void* a, const void* b, void* dst, size_t count, int intBytes, void* stream) {
  cudaStream_t s = Stream(stream);
  switch (intBytes) {
    case 1: return AddT(static_cast<const int8_t*>(a), static_cast<const int8_t*>(b), static_cast<int8_t*>(dst), count, s);
    case 2: return AddT(static_cast<const int16_t*>(a), static_cast<const int16_t*>(b), static_cast<int16_t*>(dst), count, s);
    case 4: return AddT(static_cast<const int32_t*>(a), static_cast<const int32_t*>(b), static_cast<int32_t*>(dst), count, s);
    case 8: return AddT(static_cast<const int64_t*>(a), static_cast<const int64_t*>(b), static_cast<int64_t*>(dst), count, s);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace cuda
}  // namespace conccl
