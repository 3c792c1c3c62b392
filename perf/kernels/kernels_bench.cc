// kernels_bench — single-core throughput of the CPU compression kernels beside memcpy, measured in the
// same run (Google Benchmark). Bytes counted = bytes read + bytes written by one call, so the kernels
// and memcpy (which reads n and writes n bytes) compare directly.
//
//   build/perf/kernels/kernels_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "codecs/residual.h"
#include "kernels/cpu/quantize.h"

namespace {

constexpr size_t kBlock = 256;

std::vector<float> Gaussian(size_t n, int seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

conccl::QuantParams Params(uint32_t bits) { return conccl::QuantParams{kBlock, bits, false, 42, 7, 0}; }

void BM_Memcpy(benchmark::State& st) {
  size_t bytes = static_cast<size_t>(st.range(0));
  std::vector<char> a(bytes, 1), b(bytes);
  for (auto _ : st) {
    memcpy(b.data(), a.data(), bytes);
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * 2 * bytes));
}

// The fused hop: reads the received compressed chunk and the local fp32 values, writes the new chunk.
void BM_FusedHop(benchmark::State& st, uint32_t bits) {
  size_t n = static_cast<size_t>(st.range(0)) / sizeof(float);
  std::vector<float> x = Gaussian(n, 1), local = Gaussian(n, 2);
  size_t qb = conccl::QuantizedBytes(n, kBlock, bits);
  std::vector<uint8_t> in(qb), out(qb);
  conccl::QuantizeBlocks(Params(bits), x.data(), n, in.data());
  for (auto _ : st) {
    conccl::DequantizeAddQuantize(Params(bits), in.data(), local.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * (qb + n * sizeof(float) + qb)));
}

void BM_Quantize(benchmark::State& st, uint32_t bits) {
  size_t n = static_cast<size_t>(st.range(0)) / sizeof(float);
  std::vector<float> x = Gaussian(n, 1);
  std::vector<uint8_t> out(conccl::QuantizedBytes(n, kBlock, bits));
  for (auto _ : st) {
    conccl::QuantizeBlocks(Params(bits), x.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * (n * sizeof(float) + out.size())));
}

void BM_Dequantize(benchmark::State& st, uint32_t bits) {
  size_t n = static_cast<size_t>(st.range(0)) / sizeof(float);
  std::vector<float> x = Gaussian(n, 1), y(n);
  std::vector<uint8_t> q(conccl::QuantizedBytes(n, kBlock, bits));
  conccl::QuantizeBlocks(Params(bits), x.data(), n, q.data());
  for (auto _ : st) {
    conccl::DequantizeBlocks(Params(bits), q.data(), n, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * (q.size() + n * sizeof(float))));
}

// The EF update e = p - D(C(p)): reads two fp32 arrays, writes one.
void BM_EfUpdate(benchmark::State& st) {
  size_t n = static_cast<size_t>(st.range(0)) / sizeof(float);
  std::vector<float> p = Gaussian(n, 1), t = Gaussian(n, 2), e(n);
  for (auto _ : st) {
    conccl::Subtract(p.data(), t.data(), n, e.data());
    benchmark::DoNotOptimize(e.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * 3 * n * sizeof(float)));
}

// One ConEF step of a residual of n elements (feedback then update): the count sketch (s = 0.2, fp32) against
// the int8 block residual. Bytes: the gradient read twice and p written (the residual's own traffic not counted).
void BM_ConefStep(benchmark::State& st, ccResidualCodec_t codec) {
  size_t n = static_cast<size_t>(st.range(0)) / sizeof(float);
  conccl::ResidualFormat fmt;
  fmt.mode = ccFeedbackConef;
  fmt.codec = codec;
  conccl::Residual r(n, fmt);
  std::vector<float> g = Gaussian(n, 3), p(n), t(n, 0.0f);
  for (auto _ : st) {
    r.AddFeedback(g.data(), n, p.data());
    r.Update(g.data(), p.data(), t.data(), n);
    benchmark::DoNotOptimize(p.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * 3 * n * sizeof(float)));
}

// Sizes: one 512 KiB pipeline chunk (cache resident) and 64 MiB (memory bound).
#define SIZES Arg(512 << 10)->Arg(64 << 20)
BENCHMARK(BM_Memcpy)->SIZES;
BENCHMARK_CAPTURE(BM_FusedHop, int8, 8)->SIZES;
BENCHMARK_CAPTURE(BM_FusedHop, int4, 4)->SIZES;
BENCHMARK_CAPTURE(BM_Quantize, int8, 8)->SIZES;
BENCHMARK_CAPTURE(BM_Dequantize, int8, 8)->SIZES;
BENCHMARK(BM_EfUpdate)->SIZES;
BENCHMARK_CAPTURE(BM_ConefStep, sketch, ccResidualSketch)->Arg(7454760);  // 1.86 M floats: the claim-4 MLP
BENCHMARK_CAPTURE(BM_ConefStep, int8, ccResidualInt8)->Arg(7454760);

}  // namespace

BENCHMARK_MAIN();
