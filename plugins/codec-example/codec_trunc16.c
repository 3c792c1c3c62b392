/*
 * libconccl-codec-trunc16.so — the example codec plugin: keeps the upper 16 bits of each float32
 * (sign, exponent, 7 mantissa bits: bfloat16 by truncation toward zero). It depends only on
 * conccl_codec.h; load it with CONCCL_CODEC_PLUGIN=trunc16 (library on the loader path) or a path,
 * and codec = ccCodecPlugin.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "conccl_codec.h"

static size_t Bound(const ccCodecParams_v1_t* p, size_t count) {
  (void)p;
  return 2 * count;
}

static int Compress(const ccCodecParams_v1_t* p, const float* in, size_t count, void* out, size_t cap,
                    size_t* outBytes) {
  (void)p;
  if (cap < 2 * count) return ccCodecErrorCapacity;
  uint16_t* o = (uint16_t*)out;
  for (size_t i = 0; i < count; ++i) {
    uint32_t bits;
    memcpy(&bits, &in[i], 4);
    o[i] = (uint16_t)(bits >> 16);
  }
  *outBytes = 2 * count;
  return ccCodecOk;
}

static int Decompress(const ccCodecParams_v1_t* p, const void* in, size_t inBytes, float* out, size_t count) {
  (void)p;
  if (inBytes != 2 * count) return ccCodecErrorCorrupt;
  const uint16_t* c = (const uint16_t*)in;
  for (size_t i = 0; i < count; ++i) {
    uint32_t bits = (uint32_t)c[i] << 16;
    memcpy(&out[i], &bits, 4);
  }
  return ccCodecOk;
}

static double ErrorBound(const ccCodecParams_v1_t* p, const float* in, size_t count) {
  (void)p;
  double worst = 0; /* truncation loses less than one unit in the 8th significant bit */
  for (size_t i = 0; i < count; ++i) {
    double a = fabs((double)in[i]);
    if (!isfinite(a)) return INFINITY;
    if (a > worst) worst = a;
  }
  return worst * ldexp(1.0, -7);
}

__attribute__((visibility("default"))) const ccCodec_v1_t ccCodecPlugin_v1 = {
    .name = "trunc16",
    .abiVersion = CC_CODEC_ABI_VERSION,
    .wireId = 200,
    .flags = 0,
    .reserved = 0,
    .compressedBound = Bound,
    .compress = Compress,
    .decompress = Decompress,
    .decompressAddCompress = NULL,
    .errorBound = ErrorBound,
};
