// runtime.cc — see runtime.h.
#include "kernels/cuda/runtime.h"

#include <cuda_runtime.h>


namespace conccl {
namespace cuda {
namespace {

struct Probe {
  int count = 0;
  std::string why;
};

const Probe& DeviceProbe() {
  static const Probe probe = [] {
    Probe p;
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) {
      p.why = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(rc) + " (" + std::to_string(rc) + ")";
      cudaGetLastError();  // the error is sticky for this thread otherwise; the host path goes on
      return p;
    }
    p.count = n;
    if (n == 0) p.why = "cudaGetDeviceCount: no CUDA device";
    return p;
  }();
  return probe;
}

}  // namespace

int DeviceCount(std::string* why) {
  const Probe& p = DeviceProbe();
  if (why) *why = p.why;
  return p.count;
}

bool IsDevicePointer(const void* ptr) {
  if (ptr == nullptr || DeviceProbe().count == 0) return false;
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
}

const char* ErrorString(int cudaError) { return cudaGetErrorString(static_cast<cudaError_t>(cudaError)); }

}  // namespace cuda
}  // namespace conccl

namespace conccl {
namespace cuda {

int CopyToHostSync(void* host, const void* device, size_t bytes, void* stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  cudaError_t rc = cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, s);
  return rc != cudaSuccess ? rc : cudaStreamSynchronize(s);
}

int CopyToDeviceSync(void* device, const void* host, size_t bytes, void* stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  cudaError_t rc = cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, s);
  return rc != cudaSuccess ? rc : cudaStreamSynchronize(s);
}

}  // namespace cuda
}  // namespace conccl

namespace conccl {
namespace cuda {

int HostAllocPinned(size_t bytes, void** p) {
  return cudaHostAlloc(p, bytes ? bytes : 1, cudaHostAllocMapped | cudaHostAllocPortable);
}
int HostFreePinned(void* p) { return cudaFreeHost(p); }
int CopyAsync(void* dst, const void* src, size_t bytes, void* stream) {
  return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, static_cast<cudaStream_t>(stream));
}
int EventRecordNew(void* stream, void** event) {
  cudaEvent_t e;
  cudaError_t rc = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
  if (rc != cudaSuccess) return rc;
  rc = cudaEventRecord(e, static_cast<cudaStream_t>(stream));
  if (rc != cudaSuccess) {
    cudaEventDestroy(e);
    return rc;
  }
  *event = e;
  return cudaSuccess;
}
int EventSynchronize(void* event) { return cudaEventSynchronize(static_cast<cudaEvent_t>(event)); }
int EventDestroy(void* event) { return cudaEventDestroy(static_cast<cudaEvent_t>(event)); }

}  // namespace cuda
}  // namespace conccl
