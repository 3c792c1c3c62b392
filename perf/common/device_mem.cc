// device_mem.cc — see device_mem.h.
#include "device_mem.h"

#if defined(CONCCL_PERF_WITH_CUDA)
#include <cuda_runtime.h>
#endif

namespace ccperf {

#if defined(CONCCL_PERF_WITH_CUDA)

namespace {
bool Ok(cudaError_t e, const char* what, std::string* why) {
  if (e == cudaSuccess) return true;
  *why = std::string(what) + ": " + cudaGetErrorString(e) + " (" + std::to_string(static_cast<int>(e)) + ")";
  cudaGetLastError();
  return false;
}
}  // namespace

bool DeviceUsable(std::string* why) {
  int n = 0;
  if (!Ok(cudaGetDeviceCount(&n), "cudaGetDeviceCount", why)) return false;
  if (n == 0) *why = "no CUDA device";
  return n > 0;
}
void* DeviceAlloc(size_t bytes, std::string* why) {
  void* p = nullptr;
  return Ok(cudaMalloc(&p, bytes), "cudaMalloc", why) ? p : nullptr;
}
void DeviceFree(void* p) { cudaFree(p); }
void* DeviceStreamCreate(std::string* why) {
  cudaStream_t s = nullptr;
  return Ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate", why) ? s : nullptr;
}
void DeviceStreamDestroy(void* stream) { cudaStreamDestroy(static_cast<cudaStream_t>(stream)); }
bool DeviceCopy(void* dst, const void* src, size_t bytes, void* stream, std::string* why) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  return Ok(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s), "cudaMemcpyAsync", why) &&
         Ok(cudaStreamSynchronize(s), "cudaStreamSynchronize", why);
}
bool DeviceStreamSync(void* stream, std::string* why) {
  return Ok(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize", why);
}

#else

namespace {
const char kNoCuda[] = "this build has no CUDA (configure with nvcc present, CONCCL_WITH_CUDA=AUTO or ON)";
}
bool DeviceUsable(std::string* why) {
  *why = kNoCuda;
  return false;
}
void* DeviceAlloc(size_t, std::string* why) {
  *why = kNoCuda;
  return nullptr;
}
void DeviceFree(void*) {}
void* DeviceStreamCreate(std::string* why) {
  *why = kNoCuda;
  return nullptr;
}
void DeviceStreamDestroy(void*) {}
bool DeviceCopy(void*, const void*, size_t, void*, std::string* why) {
  *why = kNoCuda;
  return false;
}
bool DeviceStreamSync(void*, std::string* why) {
  *why = kNoCuda;
  return false;
}

#endif

}  // namespace ccperf
