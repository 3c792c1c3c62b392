// convert.cu — float16 / bfloat16 wire conversions, with common/half.h's functions (the CPU's bits).
#include "common/half.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/launch.h"

namespace conccl {
namespace cuda {

int FloatToHalf(const float* in, size_t n, uint16_t* out, void* stream) {
  return detail::LaunchElements(n, static_cast<cudaStream_t>(stream),
                                [=] __device__(size_t i) { out[i] = conccl::FloatToHalf(in[i]); });
}
int HalfToFloat(const uint16_t* in, size_t n, float* out, void* stream) {
  return detail::LaunchElements(n, static_cast<cudaStream_t>(stream),
                                [=] __device__(size_t i) { out[i] = conccl::HalfToFloat(in[i]); });
}
int FloatToBf16(const float* in, size_t n, uint16_t* out, void* stream) {
  return detail::LaunchElements(n, static_cast<cudaStream_t>(stream),
                                [=] __device__(size_t i) { out[i] = conccl::FloatToBf16(in[i]); });
}
int Bf16ToFloat(const uint16_t* in, size_t n, float* out, void* stream) {
  return detail::LaunchElements(n, static_cast<cudaStream_t>(stream),
                                [=] __device__(size_t i) { out[i] = conccl::Bf16ToFloat(in[i]); });
}

}  // namespace cuda
}  // namespace conccl
