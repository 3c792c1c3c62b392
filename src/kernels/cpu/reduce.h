// reduce.h — CPU reduction kernels over host memory, for every ccDataType_t and ccRedOp_t.
//
// Contract: dst[i] = a[i] op b[i] for i < count (dst may alias a or b). float16 and bfloat16 are
// computed in float32 and rounded once (nearest even). ccAvg reduces as ccSum; the schedule finishes
// with DivideInPlace(nranks) on the final result (integers: C division, truncating toward zero).
#pragma once

#include <cstddef>

#include "conccl.h"

namespace conccl {

// An internal 16-bit integer type (not part of the public enum), used by the summable codec's wire.
constexpr ccDataType_t kTypeInt16Internal = static_cast<ccDataType_t>(15);  // within the enum's value range

size_t TypeSize(ccDataType_t type);  // 0 for an invalid type

void ReduceInto(void* dst, const void* a, const void* b, size_t count, ccDataType_t type, ccRedOp_t op);

void DivideInPlace(void* data, size_t count, ccDataType_t type, int divisor);

}  // namespace conccl
