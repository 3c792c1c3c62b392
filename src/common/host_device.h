// host_device.h — CC_HOST_DEVICE marks inline functions that the CPU kernels and the CUDA kernels share,
// so both compute the same bits from one definition (the wire format is one specification).
#pragma once

#if defined(__CUDACC__)
#define CC_HOST_DEVICE __host__ __device__
#else
#define CC_HOST_DEVICE
#endif
