// codec_registry.h — finds a codec table: built-in by id, or a plugin by name (CONCCL_CODEC_PLUGIN or
// ccCompressConfig_t::codecName) loaded once from libconccl-codec-<name>.so or a path.
#pragma once

#include <string>

#include "conccl.h"
#include "conccl_codec.h"

namespace conccl {

// The table of a built-in codec that compresses blocks (int8, int4, fp16, bf16, sign, topk), else nullptr.
const ccCodec_v1_t* BuiltinCodec(ccCodec_t codec);

// Loads (once per name) the plugin's ccCodecPlugin_v1 table; checks its ABI version and functions.
ccResult_t LoadCodecPlugin(const std::string& nameOrPath, const ccCodec_v1_t** codec);

}  // namespace conccl
