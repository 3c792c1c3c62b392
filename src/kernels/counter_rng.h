// counter_rng.h — the counter-based generator behind every random choice (stochastic rounding, the random
// block's start): a pure function of (seed, stream, index), so every rank and every device draws the same
// numbers without communicating. Shared by the CPU and CUDA kernels.
#pragma once

#include <cstdint>

#include "common/host_device.h"

namespace conccl {

// splitmix64's finaliser.
CC_HOST_DEVICE inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [0,1) with 24 random bits (exactly representable, so the float is the same everywhere).
CC_HOST_DEVICE inline float CounterUniform(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t h = Mix64(seed ^ Mix64(stream ^ Mix64(index)));
  return static_cast<float>(h >> 40) * (1.0f / 16777216.0f);
}

}  // namespace conccl
