// runtime.cc — see runtime.h.
#include "kernels/cuda/runtime.h"

#include <cuda_runtime.h>
#include <dlfcn.h>


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

namespace {

// The driver's context queries, from the libcuda the runtime already loaded (nullptr when not found).
struct ContextQueries {
  using GetCurrent = int (*)(void** ctx);
  using DeviceGet = int (*)(int* dev, int ordinal);
  using PrimaryState = int (*)(int dev, unsigned* flags, int* active);
  GetCurrent getCurrent = nullptr;
  DeviceGet deviceGet = nullptr;
  PrimaryState primaryState = nullptr;
};

const ContextQueries& Queries() {
  static const ContextQueries q = [] {
    ContextQueries r;
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (!lib) return r;
    r.getCurrent = reinterpret_cast<ContextQueries::GetCurrent>(dlsym(lib, "cuCtxGetCurrent"));
    r.deviceGet = reinterpret_cast<ContextQueries::DeviceGet>(dlsym(lib, "cuDeviceGet"));
    r.primaryState = reinterpret_cast<ContextQueries::PrimaryState>(dlsym(lib, "cuDevicePrimaryCtxGetState"));
    return r;
  }();
  return q;
}

// True when a CUDA context exists in this process: current on this thread, or a device's primary context
// (the runtime's) active. Without one there is no device memory, and cudaPointerGetAttributes would create
// a context, hundreds of MB of GPU memory, for a caller that never touched the GPU. Unknown: true.
bool AnyContext() {
  const ContextQueries& q = Queries();
  if (!q.getCurrent || !q.deviceGet || !q.primaryState) return true;
  void* current = nullptr;
  if (q.getCurrent(&current) == 0 && current != nullptr) return true;
  for (int i = 0; i < DeviceProbe().count; ++i) {
    int dev = 0, active = 0;
    unsigned flags = 0;
    if (q.deviceGet(&dev, i) != 0 || q.primaryState(dev, &flags, &active) != 0 || active) return true;
  }
  return false;
}

}  // namespace

bool IsDevicePointer(const void* ptr) {
  if (ptr == nullptr || DeviceProbe().count == 0 || !AnyContext()) return false;
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
