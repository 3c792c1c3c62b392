/* Stand-in for the CUDA toolkit's nccl.h where CUDA is absent: the shim's own declaration of the NCCL
 * 2.28 ABI (same types, values and prototypes, with an opaque cudaStream_t). */
#ifndef CONCCL_TEST_COMPAT_NCCL_H_
#define CONCCL_TEST_COMPAT_NCCL_H_
#include "nccl_types.h"
#endif
