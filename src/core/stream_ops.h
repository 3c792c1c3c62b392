// stream_ops.h — the device operations the stream executor (core/stream_executor.h) is built on, as an
// interface: CUDA implements it (MakeCudaStreamOps, core/device_buffers.cc); the executor's tests emulate a
// stream with a host thread, so the ordering and failure logic is tested on machines without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "conccl.h"

namespace conccl {

class StreamOps {
 public:
  virtual ~StreamOps() = default;
  // True when the buffer must be staged (device memory).
  virtual bool IsDevice(const void* p) = 0;
  // Host memory the device can copy to and from (pinned), and its release.
  virtual ccResult_t AllocHost(size_t bytes, void** p) = 0;
  virtual void FreeHost(void* p) = 0;
  // Enqueues a copy of bytes from src to dst on stream (either side host or device).
  virtual ccResult_t CopyAsync(void* dst, const void* src, size_t bytes, ccStream_t stream) = 0;
  // Creates an event recorded at the current end of stream; WaitEvent blocks the host until the stream
  // has reached it (ccUnhandledCudaError when the stream failed); DestroyEvent frees it.
  virtual ccResult_t RecordEvent(ccStream_t stream, void** event) = 0;
  virtual ccResult_t WaitEvent(void* event) = 0;
  virtual void DestroyEvent(void* event) = 0;
  // Enqueues a wait: the stream does not go past it until the host word `*word - value` is >= 0 as a signed
  // 32-bit difference (so tickets may wrap). `word` lives in memory from AllocHost.
  virtual ccResult_t WaitWordAsync(const volatile uint32_t* word, uint32_t value, ccStream_t stream) = 0;
};

// The CUDA implementation, or nullptr on a build without CUDA.
std::unique_ptr<StreamOps> MakeCudaStreamOps();

}  // namespace conccl
