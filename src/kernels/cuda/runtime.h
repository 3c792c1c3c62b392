// runtime.h — the few CUDA runtime queries the core needs, in plain types (no CUDA header): how many GPUs
// this process can use, and whether a pointer is device memory. Built only when CONCCL_HAVE_CUDA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace conccl {
namespace cuda {

// Usable GPUs. 0 when there is no driver (cudaErrorInsufficientDriver, 35, on machines without one), no
// device, or any other runtime error; *why then says which (with the cudaError_t number). Asked once per
// process and cached: the answer does not change while the process runs.
int DeviceCount(std::string* why);

// True when ptr is device memory or managed memory of a visible GPU. Host memory (pageable, pinned or
// registered) is false, and so is everything on a machine without a usable GPU, or in a process without a
// CUDA context (then nothing is asked, so no context is created for a host-only caller).
bool IsDevicePointer(const void* ptr);

// The text of a cudaError_t value, for error messages.
const char* ErrorString(int cudaError);

}  // namespace cuda
}  // namespace conccl

namespace conccl {
namespace cuda {

// Copies bytes between host and device memory in the order of `stream` (a cudaStream_t; work the caller
// enqueued before is finished first) and waits for the copy. Returns 0 or the cudaError_t.
int CopyToHostSync(void* host, const void* device, size_t bytes, void* stream);
int CopyToDeviceSync(void* device, const void* host, size_t bytes, void* stream);

// Stream-ordered staging for the asynchronous device path (core/stream_executor.h). Each returns 0 or the
// cudaError_t.
int HostAllocPinned(size_t bytes, void** p);  // page-locked, mapped into the device address space
int HostFreePinned(void* p);
int CopyAsync(void* dst, const void* src, size_t bytes, void* stream);  // direction from the pointers
int EventRecordNew(void* stream, void** event);  // creates an event (no timing) and records it on stream
int EventSynchronize(void* event);
int EventDestroy(void* event);
// Enqueues a one-thread kernel that polls the pinned host word until (int32_t)(*word - value) >= 0.
int WaitHostWord(const volatile uint32_t* word, uint32_t value, void* stream);

}  // namespace cuda
}  // namespace conccl
