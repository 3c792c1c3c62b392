// fuzz_smoke_main.cc — runs the fuzz target without libFuzzer: N pseudo-random inputs, half of them
// mutations of valid messages (so the checks past the header are reached), for compilers without
// -fsanitize=fuzzer. Usage: fuzz_decoder_smoke [iterations]
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <vector>

#include "algorithms/compressed.h"
#include "codecs/codec_registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  long iters = argc > 1 ? atol(argv[1]) : 20000;
  std::mt19937_64 rng(12345);
  for (long it = 0; it < iters; ++it) {
    std::vector<uint8_t> in(8);
    for (auto& b : in) b = static_cast<uint8_t>(rng());
    if (it % 2 == 0) {  // a valid message for those parameters, then a few flipped bytes or a cut
      static const ccCodec_t kCodecs[] = {ccCodecInt8, ccCodecInt4, ccCodecFp16, ccCodecBf16, ccCodecSign, ccCodecTopK};
      conccl::CompressedPlan plan;
      plan.codec = conccl::BuiltinCodec(kCodecs[in[0] % 6]);
      size_t count = 1 + (static_cast<size_t>(in[1]) | static_cast<size_t>(in[2]) << 8) % 5000;
      plan.blockSize = 32u << (in[3] % 8);
      plan.params.blockSize = static_cast<uint32_t>(plan.blockSize);
      plan.params.bits = in[0] % 6 == 1 ? 4 : 8;
      plan.params.stochastic = in[4] & 1;
      plan.params.ratio = static_cast<float>(1 + in[5] % 100) / 100.0f;
      plan.params.seed = in[6];
      std::vector<float> x(count);
      for (auto& v : x) v = static_cast<float>(static_cast<int64_t>(rng() % 2001) - 1000) / 37.0f;
      std::vector<uint8_t> msg;
      if (conccl::EncodeChunk(plan, 0, x.data(), count, &msg) != ccSuccess) return 1;
      for (int k = static_cast<int>(rng() % 4); k > 0 && !msg.empty(); --k) msg[rng() % msg.size()] ^= 1u << (rng() % 8);
      if (rng() % 4 == 0 && !msg.empty()) msg.resize(rng() % msg.size());
      in.insert(in.end(), msg.begin(), msg.end());
    } else {
      in.resize(8 + rng() % 4096);
      for (size_t i = 8; i < in.size(); ++i) in[i] = static_cast<uint8_t>(rng());
    }
    LLVMFuzzerTestOneInput(in.data(), in.size());
  }
  printf("fuzz smoke: %ld inputs, no crash\n", iters);
  return 0;
}
