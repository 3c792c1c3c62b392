// fuzz_smoke_main.cc — runs the fuzz target without libFuzzer: N pseudo-random inputs, half of them
// mutations of valid messages (so the checks past the header are reached), for compilers without
// -fsanitize=fuzzer. Usage: fuzz_decoder_smoke [iterations]
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <vector>

#include "fuzz_params.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  long iters = argc > 1 ? atol(argv[1]) : 20000;
  std::mt19937_64 rng(12345);
  for (long it = 0; it < iters; ++it) {
    std::vector<uint8_t> in(8);
    for (auto& b : in) b = static_cast<uint8_t>(rng());
    if (it % 2 == 0) {  // a valid message for those parameters, then a few flipped bytes or a cut
      size_t count = 0;
      conccl::CompressedPlan plan = conccl::FuzzPlan(in.data(), &count);
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
