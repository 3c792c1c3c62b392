// compress_config.h — validation of ccCompressConfig_t and the derived settings of one call.
#pragma once

#include <cstdint>

#include "codecs/residual.h"
#include "conccl.h"

namespace conccl {

// ccInvalidArgument with a message when a field is out of range or the struct was not initialised.
ccResult_t ValidateCompressConfig(const ccCompressConfig_t& c);

// The residual format the config asks for.
ResidualFormat FormatOf(const ccCompressConfig_t& c);

// Hash of every setting all ranks must share (compared in the operation header).
uint64_t ConfigHash(const ccCompressConfig_t& c);

}  // namespace conccl
