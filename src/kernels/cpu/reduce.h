// reduce.h — CPU reduction kernels over host memory, for every ccDataType_t and ccRedOp_t.
//
// Contract: dst[i] = a[i] op b[i] for i < count (dst may alias a or b). float16 and bfloat16 are
// computed in float32 and rounded once (nearest even). ccAvg reduces as ccSum; the schedule finishes
// with DivideInPlace(nranks) on the final result (integers: C division, truncating toward zero).
#pragma once

#include <cstddef>

#include "common/types.h"
#include "conccl.h"

namespace conccl {


void ReduceInto(void* dst, const void* a, const void* b, size_t count, ccDataType_t type, ccRedOp_t op);

void DivideInPlace(void* data, size_t count, ccDataType_t type, int divisor);

}  // namespace conccl
