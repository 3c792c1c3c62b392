// fuzz_decoder.cc — fuzz target over everything that reads bytes from the wire or a file: the compressed
// block header check (ValidateChunk), every built-in codec's decompressor, and the residual image loader.
// The first 8 input bytes pick the codec, element count and block size; the rest is the message.
// Built as a libFuzzer target with clang (-fsanitize=fuzzer,address) and as a plain smoke driver.
#include <cstdint>
#include <cstring>
#include <vector>

#include "algorithms/compressed.h"
#include "codecs/codec_registry.h"
#include "codecs/residual.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  static const ccCodec_t kCodecs[] = {ccCodecInt8, ccCodecInt4, ccCodecFp16, ccCodecBf16, ccCodecSign, ccCodecTopK};
  conccl::CompressedPlan plan;
  plan.codec = conccl::BuiltinCodec(kCodecs[data[0] % 6]);
  size_t count = 1 + (static_cast<size_t>(data[1]) | static_cast<size_t>(data[2]) << 8) % 5000;
  plan.blockSize = 32u << (data[3] % 8);
  plan.params.blockSize = static_cast<uint32_t>(plan.blockSize);
  plan.params.bits = data[0] % 6 == 1 ? 4 : 8;
  plan.params.stochastic = data[4] & 1;
  plan.params.ratio = static_cast<float>(1 + data[5] % 100) / 100.0f;
  plan.params.seed = data[6];
  const uint8_t* msg = data + 8;
  size_t bytes = size - 8;
  std::vector<float> out(count);
  if (conccl::ValidateChunk(*plan.codec, plan.params, msg, bytes, count, 0) == ccSuccess)
    conccl::DecodeChunk(plan, 0, msg, bytes, out.data(), count);
  plan.codec->decompress(&plan.params, msg, bytes, out.data(), count);  // unchecked length: must refuse, not overrun
  conccl::ResidualStore store(0);
  store.Load(0, 1, msg, bytes);
  store.Load(static_cast<int>(data[7] % 4), 4, msg, bytes);
  return 0;
}
