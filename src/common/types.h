// types.h — element sizes of ccDataType_t, plus the internal 16-bit integer type of the summable
// codec's wire (not part of the public enum, but inside its value range).
#pragma once

#include <cstddef>

#include "conccl.h"

namespace conccl {

constexpr ccDataType_t kTypeInt16Internal = static_cast<ccDataType_t>(15);

// Bytes per element; 0 for an invalid type.
inline size_t TypeSize(ccDataType_t type) {
  switch (static_cast<int>(type)) {
    case ccInt8: case ccUint8: return 1;
    case ccFloat16: case ccBfloat16: case kTypeInt16Internal: return 2;
    case ccInt32: case ccUint32: case ccFloat32: return 4;
    case ccInt64: case ccUint64: case ccFloat64: return 8;
    default: return 0;
  }
}

}  // namespace conccl
