// cuda_kernels_test.cc — every CUDA kernel against the CPU reference kernels (which define the wire
// format): the same input compressed on both must give the same bytes. Skips without a GPU.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "codecs/residual.h"
#include "common/half.h"
#include "cuda_test_util.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/runtime.h"
#include "kernels/sketch_map.h"

namespace conccl {
namespace {

// Values of many magnitudes, and blocks that exercise the edge rules: all zero, NaN, Inf, and values so
// small that the scale is subnormal (its reciprocal overflows).
std::vector<float> TestInput(size_t n, uint32_t B, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = normal(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 20) - 10);
  size_t nb = (n + B - 1) / B;
  auto block = [&](size_t b, auto f) {
    for (size_t i = b * B; i < std::min(n, (b + 1) * B); ++i) v[i] = f(i);
  };
  if (nb > 1) block(1, [](size_t) { return 0.0f; });
  if (nb > 2) v[2 * B + 3 < n ? 2 * B + 3 : 2 * B] = std::numeric_limits<float>::quiet_NaN();
  if (nb > 3) v[3 * B] = -std::numeric_limits<float>::infinity();
  if (nb > 4) block(4, [&](size_t i) { return (i % 2 ? -1.0f : 1.0f) * 1e-40f * static_cast<float>(i % 7); });
  return v;
}

struct QuantCase {
  uint32_t bits, blockSize;
  bool stochastic;
  size_t count;
};

std::string Name(const testing::TestParamInfo<QuantCase>& i) {
  return "int" + std::to_string(i.param.bits) + "_B" + std::to_string(i.param.blockSize) +
         (i.param.stochastic ? "_sr" : "_rn") + "_n" + std::to_string(i.param.count);
}

class CudaQuant : public testing::TestWithParam<QuantCase> {
 protected:
  void SetUp() override { CC_REQUIRE_GPU(); }
  QuantParams Cpu() const {
    auto c = GetParam();
    return QuantParams{c.blockSize, c.bits, c.stochastic, 0x5eed, 0xabcdef, 12345};
  }
  cuda::QuantArgs Gpu() const {
    QuantParams p = Cpu();
    return cuda::QuantArgs{p.blockSize, p.bits, p.stochastic ? 1u : 0u, p.seed, p.stream, p.firstIndex};
  }
  size_t Bytes() const { return QuantizedBytes(GetParam().count, GetParam().blockSize, GetParam().bits); }
};

TEST_P(CudaQuant, QuantizeAndDequantizeMatchCpuBytes) {
  size_t n = GetParam().count;
  std::vector<float> x = TestInput(n, GetParam().blockSize, 1);
  std::vector<uint8_t> cpu(Bytes());
  QuantizeBlocks(Cpu(), x.data(), n, cpu.data());
  DeviceArray<float> dx(n), dy(n);
  DeviceArray<uint8_t> dq(Bytes());
  dx.Upload(x);
  CUDA_OK(cuda::QuantizeBlocks(Gpu(), dx.get(), n, dq.get(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(-1, FirstByteDiff(cpu, dq.Download()));

  std::vector<float> cpuOut(n);
  DequantizeBlocks(Cpu(), cpu.data(), n, cpuOut.data());
  CUDA_OK(cuda::DequantizeBlocks(Gpu(), dq.get(), n, dy.get(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(-1, FirstFloatDiff(cpuOut, dy.Download()));
}

TEST_P(CudaQuant, FusedHopMatchesCpuBytes) {
  size_t n = GetParam().count;
  std::vector<float> x = TestInput(n, GetParam().blockSize, 2), local = TestInput(n, GetParam().blockSize, 3);
  std::vector<uint8_t> in(Bytes()), cpu(Bytes());
  QuantizeBlocks(Cpu(), x.data(), n, in.data());
  DequantizeAddQuantize(Cpu(), in.data(), local.data(), n, cpu.data());
  DeviceArray<uint8_t> din(Bytes()), dout(Bytes());
  DeviceArray<float> dlocal(n);
  din.Upload(in);
  dlocal.Upload(local);
  CUDA_OK(cuda::DequantizeAddQuantize(Gpu(), din.get(), dlocal.get(), n, dout.get(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(-1, FirstByteDiff(cpu, dout.Download()));
}

TEST_P(CudaQuant, FusedEfUpdateMatchesCpu) {
  size_t n = GetParam().count;
  std::vector<float> g = TestInput(n, GetParam().blockSize, 4), e = TestInput(n, GetParam().blockSize, 5);
  // CPU reference: p = g + e; bytes = Q(p); t = D(bytes); e' = p - t.
  std::vector<float> p(n), t(n), e2(n);
  for (size_t i = 0; i < n; ++i) p[i] = g[i] + e[i];
  std::vector<uint8_t> bytes(Bytes());
  QuantizeBlocks(Cpu(), p.data(), n, bytes.data());
  DequantizeBlocks(Cpu(), bytes.data(), n, t.data());
  Subtract(p.data(), t.data(), n, e2.data());
  DeviceArray<float> dg(n), de(n), dt(n);
  DeviceArray<uint8_t> db(Bytes());
  dg.Upload(g);
  de.Upload(e);
  CUDA_OK(cuda::EfUpdate(Gpu(), dg.get(), de.get(), n, db.get(), dt.get(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(-1, FirstByteDiff(bytes, db.Download()));
  EXPECT_EQ(-1, FirstFloatDiff(t, dt.Download()));
  EXPECT_EQ(-1, FirstFloatDiff(e2, de.Download()));
}

TEST_P(CudaQuant, ConefQuantizedResidualMatchesCpu) {
  if (GetParam().stochastic) GTEST_SKIP() << "the residual is always quantized with nearest rounding";
  size_t n = GetParam().count;
  ResidualFormat fmt;
  fmt.mode = ccFeedbackConef;
  fmt.codec = GetParam().bits == 4 ? ccResidualInt4 : ccResidualInt8;
  fmt.blockSize = GetParam().blockSize;
  Residual res(n, fmt);
  std::vector<float> e0 = TestInput(n, fmt.blockSize, 6), g = TestInput(n, fmt.blockSize, 7);
  res.Assign(e0.data());
  std::vector<uint8_t> eq(res.raw().data(), res.raw().data() + res.raw().size());
  std::vector<float> p(n), t(n);
  res.AddFeedback(g.data(), n, p.data());
  for (size_t i = 0; i < n; ++i) t[i] = std::nearbyint(p[i] * 4.0f) / 4.0f;  // any transmitted values will do
  res.Update(g.data(), p.data(), t.data(), n);
  std::vector<uint8_t> eqCpu(res.raw().data(), res.raw().data() + res.raw().size());

  cuda::QuantArgs r{fmt.blockSize, GetParam().bits, 0, 0, 0, 0};
  DeviceArray<float> dg(n), dp(n), dt(n);
  DeviceArray<uint8_t> deq(eq.size());
  dg.Upload(g);
  dt.Upload(t);
  deq.Upload(eq);
  CUDA_OK(cuda::ConefFeedback(r, dg.get(), deq.get(), n, dp.get(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(-1, FirstFloatDiff(p, dp.Download()));
  CUDA_OK(cuda::ConefUpdate(r, dp.get(), dt.get(), n, deq.get(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(-1, FirstByteDiff(eqCpu, deq.Download()));
}

INSTANTIATE_TEST_SUITE_P(Kernels, CudaQuant,
                         testing::Values(QuantCase{8, 256, false, 100003}, QuantCase{8, 256, true, 100003},
                                         QuantCase{4, 256, false, 100003}, QuantCase{4, 256, true, 100003},
                                         QuantCase{8, 32, false, 4099}, QuantCase{4, 32, true, 4099},
                                         QuantCase{4, 33, false, 5001}, QuantCase{8, 33, true, 5001},
                                         QuantCase{4, 4096, false, 1 << 20}, QuantCase{8, 4096, true, 70000},
                                         QuantCase{4, 100, false, 1}, QuantCase{8, 1000, false, 999}),
                         Name);

class CudaKernels : public testing::Test {
 protected:
  void SetUp() override { CC_REQUIRE_GPU(); }
};

TEST_F(CudaKernels, HalfAndBf16ConversionsMatchCpuBits) {
  // Every 16-bit pattern decoded, and floats around every rounding boundary encoded.
  std::vector<uint16_t> all(65536);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> x = TestInput(300000, 256, 8);
  for (uint32_t h = 0x0400; h < 0x7c00; ++h) x.push_back(BitsToFloat(FloatToBits(HalfToFloat(static_cast<uint16_t>(h))) | 0x1000));  // float16 ties
  for (uint32_t b = 0x0080; b < 0x7f80; b += 7) x.push_back(BitsToFloat(b << 16 | 0x8000));  // bfloat16 ties
  for (float s : {65504.0f, 65520.0f, 1e-8f, 6e-5f, 3.0e38f}) x.push_back(s), x.push_back(-s);
  size_t n = x.size();
  std::vector<uint16_t> h(n), b(n);
  std::vector<float> hf(all.size()), bf(all.size());
  FloatToHalfArray(x.data(), n, h.data());
  FloatToBf16Array(x.data(), n, b.data());
  HalfToFloatArray(all.data(), all.size(), hf.data());
  Bf16ToFloatArray(all.data(), all.size(), bf.data());
  DeviceArray<float> dx(n), dhf(all.size()), dbf(all.size());
  DeviceArray<uint16_t> dh(n), db(n), dall(all.size());
  dx.Upload(x);
  dall.Upload(all);
  CUDA_OK(cuda::FloatToHalf(dx.get(), n, dh.get(), nullptr));
  CUDA_OK(cuda::FloatToBf16(dx.get(), n, db.get(), nullptr));
  CUDA_OK(cuda::HalfToFloat(dall.get(), all.size(), dhf.get(), nullptr));
  CUDA_OK(cuda::Bf16ToFloat(dall.get(), all.size(), dbf.get(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(-1, FirstByteDiff(h, dh.Download()));
  EXPECT_EQ(-1, FirstByteDiff(b, db.Download()));
  EXPECT_EQ(-1, FirstFloatDiff(hf, dhf.Download()));
  EXPECT_EQ(-1, FirstFloatDiff(bf, dbf.Download()));
}

TEST_F(CudaKernels, RandomBlockGatherScatterWrapAround) {
  size_t n = 10007, start = 9000, len = 2500;  // wraps past the end
  std::vector<float> p = TestInput(n, 256, 9), dense(len), out(n, 0.0f);
  for (size_t i = 0; i < len; ++i) dense[i] = p[(start + i) % n];
  for (size_t i = 0; i < len; ++i) out[(start + i) % n] = dense[i] * 2.0f;
  DeviceArray<float> dp(n), dd(len), dout(n);
  dp.Upload(p);
  CUDA_OK(cuda::RandomBlockGather(dp.get(), n, start, len, dd.get(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(-1, FirstFloatDiff(dense, dd.Download()));
  for (float& v : dense) v *= 2.0f;
  dd.Upload(dense);
  CUDA_OK(cuda::RandomBlockScatter(dd.get(), n, start, len, dout.get(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(-1, FirstFloatDiff(out, dout.Download()));
  EXPECT_EQ(static_cast<int>(cudaErrorInvalidValue), cuda::RandomBlockGather(dp.get(), n, n, 1, dd.get(), nullptr));
  EXPECT_EQ(static_cast<int>(cudaErrorInvalidValue), cuda::RandomBlockGather(dp.get(), n, 0, n + 1, dd.get(), nullptr));
}

// Reference of algorithms/compressed_exact.cc's quantizer with nearest rounding, written out (it is internal):
// clamp, then round; a subnormal step divides; a block whose step is not finite sends zeros.
std::vector<int32_t> SummableReference(const std::vector<float>& p, uint32_t B, const std::vector<float>& step,
                                       float levels) {
  std::vector<int32_t> q(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    float s = step[i / B];
    if (!std::isfinite(s)) continue;
    float inv = s > 0 ? 1.0f / s : 0.0f;
    if (std::isinf(inv)) {
      q[i] = static_cast<int32_t>(std::min(levels, std::max(-levels, std::nearbyint(p[i] / s))));
      continue;
    }
    float v = p[i] * inv;
    v = v < levels ? (v > -levels ? v : -levels) : levels;
    q[i] = static_cast<int32_t>(std::nearbyint(v));
  }
  return q;
}

TEST_F(CudaKernels, SummableQuantizeAddDequantize) {
  const uint32_t B = 128;
  const size_t n = 50000, nb = (n + B - 1) / B;
  std::vector<float> p = TestInput(n, B, 10), step(nb);
  for (size_t b = 0; b < nb; ++b) {
    float m = 0;
    for (size_t i = b * B; i < std::min(n, (b + 1) * B); ++i) {
      float a = std::fabs(p[i]);
      if (!(a <= 3.4028235e38f)) a = INFINITY;  // as SummableAllReduce: NaN or Inf makes the step NaN
      m = std::max(m, a);
    }
    step[b] = std::isfinite(m) ? m / 127.0f : NAN;
  }
  std::vector<int32_t> ref = SummableReference(p, B, step, 127.0f);
  DeviceArray<float> dp(n), dstep(nb), dt(n), dout(n);
  DeviceArray<int32_t> dq(n), dsum(n);
  dp.Upload(p);
  dstep.Upload(step);
  CUDA_OK(cuda::SummableQuantize(dp.get(), n, B, dstep.get(), 127.0f, 0, 1, 2, 4, dq.get(), dt.get(), nullptr));
  CUDA_OK(cuda::IntegerAdd(dq.get(), dq.get(), dsum.get(), n, 4, nullptr));
  CUDA_OK(cuda::SummableDequantize(dsum.get(), 4, n, B, dstep.get(), dout.get(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<int32_t> q = dq.Download(), sum = dsum.Download();
  std::vector<float> t = dt.Download(), out = dout.Download();
  EXPECT_EQ(-1, FirstByteDiff(ref, q));
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(2 * ref[i], sum[i]) << i;
    float s = step[i / B];
    float want = static_cast<float>(ref[i]) * s, want2 = static_cast<float>(2 * ref[i]) * s;
    if (std::isnan(s)) {  // NaN payloads may differ (launch.h)
      ASSERT_TRUE(std::isnan(t[i]) && std::isnan(out[i])) << i;
      continue;
    }
    ASSERT_EQ(FloatToBits(want), FloatToBits(t[i])) << i;
    ASSERT_EQ(FloatToBits(want2), FloatToBits(out[i])) << i;
  }
}

TEST_F(CudaKernels, TopKMatchesCpuBytes) {
  for (size_t n : {size_t(1), size_t(1000), size_t(262147)}) {
    std::vector<float> x = TestInput(n, 256, 11);
    for (size_t i = 0; i + 10 < n; i += 97) x[i + 5] = x[i];  // ties: the lower index must win
    size_t k = TopKCount(n, 0.01);
    std::vector<uint8_t> cpu(8 * k);
    TopKCompress(x.data(), n, k, cpu.data());
    DeviceArray<float> dx(n);
    DeviceArray<uint8_t> dout(8 * k);
    dx.Upload(x);
    CUDA_OK(cuda::TopKCompress(dx.get(), n, k, dout.get(), nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    EXPECT_EQ(-1, FirstByteDiff(cpu, dout.Download())) << "n=" << n;
  }
}

class CudaSketch : public testing::TestWithParam<bool> {
 protected:
  void SetUp() override { CC_REQUIRE_GPU(); }
};

TEST_P(CudaSketch, FeedbackAndDecompressMatchCpuUpdateWithinRounding) {
  const size_t n = 200003;
  ResidualFormat fmt;
  fmt.mode = ccFeedbackConef;
  fmt.codec = ccResidualSketch;
  fmt.fp16 = GetParam();
  Residual res(n, fmt);
  std::vector<float> e0 = TestInput(n, 1 << 30, 12), g = TestInput(n, 1 << 30, 13), t(n);
  for (size_t i = 0; i < n; ++i) t[i] = g[i] * 0.5f;
  res.Assign(e0.data());
  uint32_t buckets = static_cast<uint32_t>(res.raw().size() / (fmt.fp16 ? 2 : 4));
  std::vector<uint8_t> c(res.raw().data(), res.raw().data() + res.raw().size());
  std::vector<float> u(n), p(n);
  res.Decompress(u.data());
  res.AddFeedback(g.data(), n, p.data());
  res.Update(g.data(), p.data(), t.data(), n);
  std::vector<float> after(n);
  res.Decompress(after.data());

  DeviceArray<uint8_t> dc(c.size());
  DeviceArray<float> dg(n), dt(n), du(n), dp(n);
  dc.Upload(c);
  dg.Upload(g);
  dt.Upload(t);
  int half = fmt.fp16 ? 1 : 0;
  CUDA_OK(cuda::SketchDecompress(dc.get(), buckets, half, n, du.get(), nullptr));
  CUDA_OK(cuda::SketchFeedback(dc.get(), buckets, half, 1.0f - fmt.beta, dg.get(), n, dp.get(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(-1, FirstFloatDiff(p, dp.Download()));
  CUDA_OK(cuda::SketchUpdate(dc.get(), buckets, half, dg.get(), dt.get(), n, nullptr));
  EXPECT_EQ(-1, FirstFloatDiff(u, du.Download()));
  // After the update only the order of additions into a bucket differs: per bucket, each of its occ + 1
  // additions rounds by at most 2^-24 of the running sum's magnitude, bounded by |c0| + sum |g - t|; float16
  // storage adds half an ulp of the stored value.
  CUDA_OK(cuda::SketchDecompress(dc.get(), buckets, half, n, du.get(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<float> gotAfter = du.Download();
  SketchMap map(buckets);
  std::vector<double> mass(buckets, 0.0);
  std::vector<uint32_t> occ(buckets, 0);
  for (size_t j = 0; j < n; ++j) {
    uint32_t b = map.Bucket(static_cast<uint32_t>(j));
    mass[b] += std::fabs(static_cast<double>(g[j]) - t[j]);
    occ[b]++;
  }
  for (size_t j = 0; j < n; ++j) {
    uint32_t b = map.Bucket(static_cast<uint32_t>(j));
    double tol = (occ[b] + 2) * std::ldexp(mass[b] + std::fabs(u[j]), -23);
    if (fmt.fp16) tol += std::ldexp(std::fabs(after[j]), -10) + std::ldexp(1.0, -24);
    ASSERT_NEAR(after[j], gotAfter[j], tol) << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Buckets, CudaSketch, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& i) { return i.param ? "fp16" : "fp32"; });

TEST(CudaRuntime, BadArgumentsAreErrorsNotLaunches) {
  cuda::QuantArgs bad{16, 8, 0, 0, 0, 0};  // block size below 32
  EXPECT_NE(0, cuda::QuantizeBlocks(bad, nullptr, 10, nullptr, nullptr));
  bad.blockSize = 256, bad.bits = 5;
  EXPECT_NE(0, cuda::DequantizeBlocks(bad, nullptr, 10, nullptr, nullptr));
  EXPECT_NE(0, cuda::IntegerAdd(nullptr, nullptr, nullptr, 10, 3, nullptr));
  EXPECT_NE(0, cuda::TopKCompress(nullptr, 10, 11, nullptr, nullptr));
  EXPECT_NE(0, cuda::SketchUpdate(nullptr, 0, 0, nullptr, nullptr, 10, nullptr));
}

}  // namespace
}  // namespace conccl
