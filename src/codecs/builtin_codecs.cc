// builtin_codecs.cc — the built-in codecs as ccCodec_v1_t tables over the CPU kernels.
#include <cmath>
#include <cstring>

#include "codecs/codec_registry.h"
#include "kernels/cpu/quantize.h"

namespace conccl {
namespace {

QuantParams Quant(const ccCodecParams_v1_t* p, uint32_t bits) {
  return QuantParams{p->blockSize, bits, p->stochastic != 0, p->seed, p->stream, p->firstIndex};
}

template <uint32_t kBits>
size_t QBound(const ccCodecParams_v1_t* p, size_t count) { return QuantizedBytes(count, p->blockSize, kBits); }

template <uint32_t kBits>
int QCompress(const ccCodecParams_v1_t* p, const float* in, size_t count, void* out, size_t cap, size_t* outBytes) {
  size_t need = QuantizedBytes(count, p->blockSize, kBits);
  if (cap < need) return ccCodecErrorCapacity;
  QuantizeBlocks(Quant(p, kBits), in, count, static_cast<uint8_t*>(out));
  *outBytes = need;
  return ccCodecOk;
}

template <uint32_t kBits>
int QDecompress(const ccCodecParams_v1_t* p, const void* in, size_t inBytes, float* out, size_t count) {
  if (inBytes != QuantizedBytes(count, p->blockSize, kBits)) return ccCodecErrorCorrupt;
  DequantizeBlocks(Quant(p, kBits), static_cast<const uint8_t*>(in), count, out);
  return ccCodecOk;
}

template <uint32_t kBits>
int QHop(const ccCodecParams_v1_t* p, const void* in, size_t inBytes, const float* local, size_t count, void* out,
         size_t cap, size_t* outBytes) {
  size_t need = QuantizedBytes(count, p->blockSize, kBits);
  if (inBytes != need) return ccCodecErrorCorrupt;
  if (cap < need) return ccCodecErrorCapacity;
  DequantizeAddQuantize(Quant(p, kBits), static_cast<const uint8_t*>(in), local, count, static_cast<uint8_t*>(out));
  *outBytes = need;
  return ccCodecOk;
}

template <uint32_t kBits>
double QBoundError(const ccCodecParams_v1_t* p, const float* in, size_t count) {
  return QuantizeErrorBound(Quant(p, kBits), in, count);
}

// float16 / bfloat16 wire.
size_t HalfBound(const ccCodecParams_v1_t*, size_t count) { return 2 * count; }

template <void (*Enc)(const float*, size_t, uint16_t*)>
int HalfCompress(const ccCodecParams_v1_t*, const float* in, size_t count, void* out, size_t cap, size_t* outBytes) {
  if (cap < 2 * count) return ccCodecErrorCapacity;
  Enc(in, count, static_cast<uint16_t*>(out));
  *outBytes = 2 * count;
  return ccCodecOk;
}

template <void (*Dec)(const uint16_t*, size_t, float*)>
int HalfDecompress(const ccCodecParams_v1_t*, const void* in, size_t inBytes, float* out, size_t count) {
  if (inBytes != 2 * count) return ccCodecErrorCorrupt;
  Dec(static_cast<const uint16_t*>(in), count, out);
  return ccCodecOk;
}

template <int kMantissaBits>
double HalfError(const ccCodecParams_v1_t*, const float* in, size_t count) {
  double worst = 0;
  for (size_t i = 0; i < count; ++i) {
    double a = std::fabs(in[i]);
    if (!std::isfinite(a)) return INFINITY;
    worst = std::max(worst, a);
  }
  // Relative half-ulp of the format, plus the subnormal floor of float16 (2^-25) where it applies.
  return worst * std::ldexp(1.0, -(kMantissaBits + 1)) + (kMantissaBits == 10 ? std::ldexp(1.0, -25) : 0.0);
}

// Scaled sign and top-k: all-gather codecs.
size_t SignBound(const ccCodecParams_v1_t* p, size_t count) { return SignBytes(count, p->blockSize); }
int SignComp(const ccCodecParams_v1_t* p, const float* in, size_t count, void* out, size_t cap, size_t* outBytes) {
  size_t need = SignBytes(count, p->blockSize);
  if (cap < need) return ccCodecErrorCapacity;
  SignCompress(in, count, p->blockSize, static_cast<uint8_t*>(out));
  *outBytes = need;
  return ccCodecOk;
}
int SignDecomp(const ccCodecParams_v1_t* p, const void* in, size_t inBytes, float* out, size_t count) {
  if (inBytes != SignBytes(count, p->blockSize)) return ccCodecErrorCorrupt;
  SignDecompress(static_cast<const uint8_t*>(in), count, p->blockSize, out);
  return ccCodecOk;
}
double SignError(const ccCodecParams_v1_t* p, const float* in, size_t count) {
  double worst = 0;  // |x - sign(x) mean|x|| <= max|x| + mean|x| <= 2 max|x| per block
  for (size_t i = 0; i < count; ++i) worst = std::max(worst, 2.0 * std::fabs(in[i]));
  (void)p;
  return worst;
}

size_t TopKK(const ccCodecParams_v1_t* p, size_t count) { return TopKCount(count, p->ratio); }
size_t TopKBound(const ccCodecParams_v1_t* p, size_t count) { return 8 * TopKK(p, count); }
int TopKComp(const ccCodecParams_v1_t* p, const float* in, size_t count, void* out, size_t cap, size_t* outBytes) {
  size_t need = TopKBound(p, count);
  if (cap < need) return ccCodecErrorCapacity;
  if (count) TopKCompress(in, count, TopKK(p, count), static_cast<uint8_t*>(out));
  *outBytes = need;
  return ccCodecOk;
}
int TopKDecomp(const ccCodecParams_v1_t* p, const void* in, size_t inBytes, float* out, size_t count) {
  if (inBytes != TopKBound(p, count)) return ccCodecErrorCorrupt;
  if (count) memset(out, 0, count * sizeof(float));
  return TopKAccumulate(static_cast<const uint8_t*>(in), TopKK(p, count), count, 1.0f, out) ? ccCodecOk
                                                                                           : ccCodecErrorCorrupt;
}
double TopKError(const ccCodecParams_v1_t*, const float* in, size_t count) {
  double worst = 0;  // a dropped element loses itself: at most the largest |x|
  for (size_t i = 0; i < count; ++i) worst = std::max(worst, static_cast<double>(std::fabs(in[i])));
  return worst;
}

const ccCodec_v1_t kInt8 = {"int8", CC_CODEC_ABI_VERSION, 3, 0, 0, QBound<8>, QCompress<8>, QDecompress<8>,
                            QHop<8>, QBoundError<8>};
const ccCodec_v1_t kInt4 = {"int4", CC_CODEC_ABI_VERSION, 4, 0, 0, QBound<4>, QCompress<4>, QDecompress<4>,
                            QHop<4>, QBoundError<4>};
const ccCodec_v1_t kFp16 = {"fp16", CC_CODEC_ABI_VERSION, 1, 0, 0, HalfBound, HalfCompress<FloatToHalfArray>,
                            HalfDecompress<HalfToFloatArray>, nullptr, HalfError<10>};
const ccCodec_v1_t kBf16 = {"bf16", CC_CODEC_ABI_VERSION, 2, 0, 0, HalfBound, HalfCompress<FloatToBf16Array>,
                            HalfDecompress<Bf16ToFloatArray>, nullptr, HalfError<7>};
const ccCodec_v1_t kSign = {"sign", CC_CODEC_ABI_VERSION, 7, CC_CODEC_FLAG_ALLGATHER, 0, SignBound, SignComp,
                            SignDecomp, nullptr, SignError};
const ccCodec_v1_t kTopK = {"topk", CC_CODEC_ABI_VERSION, 8, CC_CODEC_FLAG_ALLGATHER, 0, TopKBound, TopKComp,
                            TopKDecomp, nullptr, TopKError};

}  // namespace

const ccCodec_v1_t* BuiltinCodec(ccCodec_t codec) {
  switch (codec) {
    case ccCodecInt8: return &kInt8;
    case ccCodecInt4: return &kInt4;
    case ccCodecFp16: return &kFp16;
    case ccCodecBf16: return &kBf16;
    case ccCodecSign: return &kSign;
    case ccCodecTopK: return &kTopK;
    default: return nullptr;
  }
}

}  // namespace conccl
