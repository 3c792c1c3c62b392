// device_mem.h — CUDA device buffers and streams for the perf tools' -G 1 (builds with CUDA). Each call
// returns false (or nullptr) with *why set when it fails; without CUDA every call fails, saying so.
#ifndef CONCCL_PERF_DEVICE_MEM_H_
#define CONCCL_PERF_DEVICE_MEM_H_

#include <stddef.h>

#include <string>

namespace ccperf {

// True when this build has CUDA and the machine a usable GPU.
bool DeviceUsable(std::string* why);
void* DeviceAlloc(size_t bytes, std::string* why);
void DeviceFree(void* p);
// A stream that does not synchronize with the legacy default stream (ranks of one process each need one).
void* DeviceStreamCreate(std::string* why);
void DeviceStreamDestroy(void* stream);
// Copies on stream and waits for the stream (and so for everything queued on it before).
bool DeviceCopy(void* dst, const void* src, size_t bytes, void* stream, std::string* why);
bool DeviceStreamSync(void* stream, std::string* why);

}  // namespace ccperf

#endif  // CONCCL_PERF_DEVICE_MEM_H_
