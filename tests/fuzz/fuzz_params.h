// fuzz_params.h — how the fuzz target reads its first 8 bytes: codec, element count, block size, rounding,
// ratio and seed. Shared by the target and the smoke driver that builds valid messages for them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "algorithms/compressed.h"
#include "codecs/codec_registry.h"

namespace conccl {

constexpr size_t kFuzzParamBytes = 8;

inline CompressedPlan FuzzPlan(const uint8_t* in, size_t* count) {
  static const ccCodec_t kCodecs[] = {ccCodecInt8, ccCodecInt4, ccCodecFp16, ccCodecBf16, ccCodecSign, ccCodecTopK};
  CompressedPlan plan;
  plan.codec = BuiltinCodec(kCodecs[in[0] % 6]);
  *count = 1 + (static_cast<size_t>(in[1]) | static_cast<size_t>(in[2]) << 8) % 5000;
  plan.blockSize = 32u << (in[3] % 8);
  plan.params.blockSize = static_cast<uint32_t>(plan.blockSize);
  plan.params.bits = in[0] % 6 == 1 ? 4 : 8;
  plan.params.stochastic = in[4] & 1;
  plan.params.ratio = static_cast<float>(1 + in[5] % 100) / 100.0f;
  plan.params.seed = in[6];
  return plan;
}

}  // namespace conccl
