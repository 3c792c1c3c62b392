// compress_config.cc — see compress_config.h.
#include "core/compress_config.h"

#include <cmath>
#include <cstring>

#include "common/result.h"
#include "kernels/cpu/quantize.h"

namespace conccl {

ccResult_t ValidateCompressConfig(const ccCompressConfig_t& c) {
  if (c.magic != CC_COMPRESS_CONFIG_MAGIC || c.size < sizeof(ccCompressConfig_t))
    return SetError(ccInvalidArgument, "compress config was not initialised with ccCompressConfigInit");
  if (static_cast<int>(c.codec) < 0 || c.codec > ccCodecPlugin)
    return SetError(ccInvalidArgument, "unknown codec %d", static_cast<int>(c.codec));
  if (c.blockSize < 32 || c.blockSize > 4096)
    return SetError(ccInvalidArgument, "blockSize %d outside 32..4096", c.blockSize);
  if (!(c.ratio > 0.0f && c.ratio <= 1.0f)) return SetError(ccInvalidArgument, "ratio %g outside (0, 1]", c.ratio);
  if (c.codec == ccCodecSummable && (c.bits < 2 || c.bits > 16))
    return SetError(ccInvalidArgument, "summable bits %d outside 2..16", c.bits);
  if (c.rounding != ccRoundNearest && c.rounding != ccRoundStochastic)
    return SetError(ccInvalidArgument, "unknown rounding %d", static_cast<int>(c.rounding));
  if (static_cast<int>(c.feedback) < 0 || c.feedback > ccFeedbackConef)
    return SetError(ccInvalidArgument, "unknown feedback mode %d", static_cast<int>(c.feedback));
  if (c.feedback == ccFeedbackConef) {
    if (static_cast<int>(c.residualCodec) < 0 || c.residualCodec > ccResidualSketch)
      return SetError(ccInvalidArgument, "unknown residual codec %d", static_cast<int>(c.residualCodec));
    if (!(c.sketchSize > 0.0f && c.sketchSize <= 1.0f))
      return SetError(ccInvalidArgument, "sketchSize %g outside (0, 1]", c.sketchSize);
    if (!(c.beta >= 0.0f && c.beta < 1.0f)) return SetError(ccInvalidArgument, "beta %g outside [0, 1)", c.beta);
  }
  if (c.warmupCalls < 0) return SetError(ccInvalidArgument, "warmupCalls %d is negative", c.warmupCalls);
  if (static_cast<int>(c.algo) < 0 || c.algo > ccAlgoHier)
    return SetError(ccInvalidArgument, "unknown algo %d", static_cast<int>(c.algo));
  if (c.codec == ccCodecPlugin && !c.codecName && !getenv("CONCCL_CODEC_PLUGIN"))
    return SetError(ccInvalidArgument, "codec ccCodecPlugin needs codecName or CONCCL_CODEC_PLUGIN");
  return ccSuccess;
}

ResidualFormat FormatOf(const ccCompressConfig_t& c) {
  ResidualFormat f;
  f.mode = c.feedback;
  f.codec = c.residualCodec;
  f.blockSize = static_cast<uint32_t>(c.blockSize);
  f.sketchSize = c.sketchSize;
  f.beta = c.beta;
  f.fp16 = c.residualFp16 != 0;
  return f;
}

uint64_t ConfigHash(const ccCompressConfig_t& c) {
  uint64_t h = 0x636f6e63636cull;
  auto mix = [&](uint64_t v) { h = Mix64(h ^ v); };
  uint32_t ratioBits, sketchBits, betaBits;
  memcpy(&ratioBits, &c.ratio, 4);
  memcpy(&sketchBits, &c.sketchSize, 4);
  memcpy(&betaBits, &c.beta, 4);
  mix(c.codec), mix(c.bits), mix(c.blockSize), mix(c.rounding), mix(c.feedback), mix(c.residualCodec);
  mix(sketchBits), mix(betaBits), mix(c.residualFp16), mix(ratioBits), mix(c.seed), mix(c.algo);
  mix(static_cast<uint64_t>(c.warmupCalls)), mix(c.minCount);
  if (c.codecName)
    for (const char* p = c.codecName; *p; ++p) mix(static_cast<uint8_t>(*p));
  return h;
}

}  // namespace conccl
