// fuzz_decoder.cc — fuzz target over everything that reads bytes from the wire or a file: the compressed
// block header check (ValidateChunk), every built-in codec's decompressor, and the residual image loader.
// The first 8 input bytes pick the codec, element count and block size; the rest is the message.
// Built as a libFuzzer target with clang (-fsanitize=fuzzer,address) and as a plain smoke driver.
#include <cstdint>
#include <cstring>
#include <vector>

#include "codecs/residual.h"
#include "fuzz_params.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < conccl::kFuzzParamBytes) return 0;
  size_t count = 0;
  conccl::CompressedPlan plan = conccl::FuzzPlan(data, &count);
  const uint8_t* msg = data + conccl::kFuzzParamBytes;
  size_t bytes = size - conccl::kFuzzParamBytes;
  std::vector<float> out(count);
  if (conccl::ValidateChunk(*plan.codec, plan.params, msg, bytes, count, 0) == ccSuccess)
    conccl::DecodeChunk(plan, 0, msg, bytes, out.data(), count);
  plan.codec->decompress(&plan.params, msg, bytes, out.data(), count);  // unchecked length: must refuse, not overrun
  conccl::ResidualStore store(0);
  store.Load(0, 1, msg, bytes);
  store.Load(static_cast<int>(data[7] % 4), 4, msg, bytes);
  return 0;
}
