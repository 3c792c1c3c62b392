// device_buffers.h — CUDA device buffers: which buffers are device memory, queueing their collectives on
// the caller's stream, and staging point-to-point buffers. A buffer's memory type comes from
// cudaPointerGetAttributes (kernels/cuda/runtime.h); on a build without CUDA, or a machine without a usable
// GPU (no driver: cudaErrorInsufficientDriver), every buffer is host memory and nothing here copies.
//
// Device buffers are staged through host memory in the order of the caller's stream. Collectives (grouped
// or not) are queued on the stream and return at once (EnqueueOnStream, core/stream_executor.h);
// point-to-point calls stage synchronously (StagedBuffers): they return once the data has arrived in the
// device buffer. The host schedules (and CPU codec kernels) do the reduction.
#pragma once

#include <cstddef>
#include <vector>

#include "conccl.h"
#include "core/stream_executor.h"

struct ccComm;

namespace conccl {

// True when ptr is CUDA device or managed memory of a usable GPU.
bool IsDeviceBuffer(const void* ptr);

// True when a buffer of b is device memory: the call is then ordered on b.stream (core/stream_executor.h).
// Asks the communicator's executor when it has one (its StreamOps decide), else the CUDA runtime.
bool NeedsStreamOrder(const ccComm* comm, const CallBuffers& b);

// Queues body (run inside RunCall, on host views of b) on b.stream through the communicator's executor,
// created on first use. Returns ccSuccess once queued, ccInProgress for a non-blocking communicator
// (ccCommGetAsyncError then reports ccInProgress until the queue is empty), or the error that kept it from
// being queued.
ccResult_t EnqueueOnStream(ccComm* comm, const CallBuffers& b, StreamExecutor::Body body);

// Host stand-ins for the device buffers of a batch of point-to-point operations (each op its own buffer).
class StagedBuffers {
 public:
  StagedBuffers();
  ~StagedBuffers();
  // *host = buf when buf is host memory; else a host copy of buf[0, bytes) (fetched in stream order), which
  // ReturnOutputs copies back when isOutput.
  ccResult_t Stage(void* buf, size_t bytes, bool isOutput, ccStream_t stream, void** host);
  // Copies every staged output back to its device buffer (call after the operations succeeded).
  ccResult_t ReturnOutputs();

 private:
  struct Entry;
  std::vector<Entry> entries_;
};

}  // namespace conccl
