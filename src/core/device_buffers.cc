// device_buffers.cc — see device_buffers.h.
#include "core/device_buffers.h"

#include <cstdint>
#include <memory>

#include "common/result.h"
#include "core/call.h"
#include "core/comm.h"
#include "core/stream_ops.h"
#if defined(CONCCL_HAVE_CUDA)
#include "kernels/cuda/runtime.h"
#endif

namespace conccl {

#if defined(CONCCL_HAVE_CUDA)

bool IsDeviceBuffer(const void* ptr) { return cuda::IsDevicePointer(ptr); }

namespace {

// A host copy of the device range [base, base + bytes).
struct HostCopy {
  std::unique_ptr<uint8_t[]> data;
  const uint8_t* base = nullptr;
  size_t bytes = 0;
};

ccResult_t Fetch(const uint8_t* base, size_t bytes, ccStream_t stream, HostCopy* copy) {
  copy->data.reset(new (std::nothrow) uint8_t[bytes ? bytes : 1]);
  if (!copy->data) return SetError(ccSystemError, "cannot allocate %zu bytes of host staging", bytes);
  copy->base = base, copy->bytes = bytes;
  int rc = bytes ? cuda::CopyToHostSync(copy->data.get(), base, bytes, stream) : 0;
  if (rc != 0) return SetError(ccUnhandledCudaError, "staging a device buffer to host: %s (%d)", cuda::ErrorString(rc), rc);
  return ccSuccess;
}

}  // namespace

struct StagedBuffers::Entry {
  HostCopy copy;
  void* device;
  bool isOutput;
  ccStream_t stream;
};

ccResult_t StagedBuffers::Stage(void* buf, size_t bytes, bool isOutput, ccStream_t stream, void** host) {
  *host = buf;
  if (bytes == 0 || !IsDeviceBuffer(buf)) return ccSuccess;
  Entry e;
  e.device = buf, e.isOutput = isOutput, e.stream = stream;
  CC_CHECK(Fetch(static_cast<const uint8_t*>(buf), bytes, stream, &e.copy));
  *host = e.copy.data.get();
  entries_.push_back(std::move(e));
  return ccSuccess;
}

ccResult_t StagedBuffers::ReturnOutputs() {
  for (Entry& e : entries_) {
    if (!e.isOutput) continue;
    int rc = cuda::CopyToDeviceSync(e.device, e.copy.data.get(), e.copy.bytes, e.stream);
    if (rc != 0) return SetError(ccUnhandledCudaError, "copying a received message to its device buffer: %s (%d)",
                                 cuda::ErrorString(rc), rc);
  }
  return ccSuccess;
}

namespace {

ccResult_t Cuda(int rc, const char* what) {
  if (rc == 0) return ccSuccess;
  return SetError(ccUnhandledCudaError, "%s: %s (%d)", what, cuda::ErrorString(rc), rc);
}

class CudaStreamOps : public StreamOps {
 public:
  bool IsDevice(const void* p) override { return IsDeviceBuffer(p); }
  ccResult_t AllocHost(size_t bytes, void** p) override {
    return Cuda(cuda::HostAllocPinned(bytes, p), "cudaHostAlloc of stream staging");
  }
  void FreeHost(void* p) override { cuda::HostFreePinned(p); }
  ccResult_t CopyAsync(void* dst, const void* src, size_t bytes, ccStream_t s) override {
    return Cuda(cuda::CopyAsync(dst, src, bytes, s), "cudaMemcpyAsync of stream staging");
  }
  ccResult_t RecordEvent(ccStream_t s, void** event) override {
    return Cuda(cuda::EventRecordNew(s, event), "cudaEventRecord");
  }
  ccResult_t WaitEvent(void* event) override { return Cuda(cuda::EventSynchronize(event), "cudaEventSynchronize"); }
  void DestroyEvent(void* event) override { cuda::EventDestroy(event); }
  ccResult_t WaitWordAsync(const volatile uint32_t* word, uint32_t value, ccStream_t s) override {
    return Cuda(cuda::WaitHostWord(word, value, s), "launching the stream wait kernel");
  }
};

}  // namespace

std::unique_ptr<StreamOps> MakeCudaStreamOps() { return std::make_unique<CudaStreamOps>(); }

#else  // built without CUDA: every buffer is host memory

std::unique_ptr<StreamOps> MakeCudaStreamOps() { return nullptr; }

struct StagedBuffers::Entry {};

ccResult_t StagedBuffers::Stage(void* buf, size_t, bool, ccStream_t, void** host) {
  *host = buf;
  return ccSuccess;
}

ccResult_t StagedBuffers::ReturnOutputs() { return ccSuccess; }

bool IsDeviceBuffer(const void*) { return false; }

#endif

bool NeedsStreamOrder(const ccComm* comm, const CallBuffers& b) {
  auto device = [comm](const void* p) { return comm->executor ? comm->executor->IsDevice(p) : IsDeviceBuffer(p); };
  return (b.sendBytes && device(b.send)) || (b.recvBytes && device(b.recv));
}

ccResult_t EnqueueOnStream(ccComm* comm, const CallBuffers& b, StreamExecutor::Body body) {
  if (!comm->executor) {
    std::unique_ptr<StreamOps> ops = MakeCudaStreamOps();
    if (!ops) return SetError(ccInternalError, "device buffers on a build without CUDA");
    comm->executor = std::make_unique<StreamExecutor>(comm, std::move(ops));
  }
  CC_CHECK(comm->executor->Enqueue(b, [comm, body](const void* send, void* recv) {
    return RunCall(comm, [&] { return body(send, recv); });
  }));
  return comm->opts.blocking ? ccSuccess : ccInProgress;
}

StagedBuffers::StagedBuffers() = default;
StagedBuffers::~StagedBuffers() = default;

}  // namespace conccl
