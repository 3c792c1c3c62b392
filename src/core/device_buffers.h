// device_buffers.h — CUDA device buffers on the host path. A buffer's memory type comes from
// cudaPointerGetAttributes (kernels/cuda/runtime.h); on a build without CUDA, or a machine without a usable
// GPU (no driver: cudaErrorInsufficientDriver), every buffer is host memory and nothing here copies.
//
// Device buffers are staged: copied to host memory in the order of the caller's stream (after the work
// that produced them), reduced by the host schedules, and copied back on that stream. The call returns
// once the result is in the device buffer, like a host call; the stream-ordered asynchronous path (and
// the GPU compress-reduce kernels in the data path) is the CUDA issue's remaining work.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "conccl.h"

namespace conccl {

// True when ptr is CUDA device or managed memory of a usable GPU.
bool IsDeviceBuffer(const void* ptr);

// Runs body(hostSend, hostRecv) with host views of send[0, sendBytes) and recv[0, recvBytes). A device
// buffer is copied to host before the body and (recv only) back after it succeeds; overlapping send and
// recv ranges (in-place calls) share one host copy, so the body sees the same aliasing the caller made.
// Host buffers pass through unchanged (no copy, no allocation). A CUDA failure is ccUnhandledCudaError.
ccResult_t WithHostViews(ccStream_t stream, const void* send, size_t sendBytes, void* recv, size_t recvBytes,
                         const std::function<ccResult_t(const void* hostSend, void* hostRecv)>& body);

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
