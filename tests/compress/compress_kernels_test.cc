// compress_kernels_test.cc — the CPU reference kernels of the compressing codecs (src/kernels/cpu/quantize.h)
// and the built-in codec tables: round-trip error bounds, the fused hop, NaN/Inf containment, odd counts,
// stochastic rounding (unbiased, deterministic), float16/bfloat16 conversion, contraction of sign and
// top-k (reference/seed-algorithms.md section 7, invariant 8) and malformed top-k input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "codecs/codec_registry.h"
#include "codecs/residual.h"
#include "common/half.h"
#include "compress_test_util.h"
#include "kernels/cpu/quantize.h"

namespace {

using conccl::QuantParams;
using cctest::Gaussian;

constexpr uint8_t kGuard = 0xA5;
constexpr size_t kGuardBytes = 64;

QuantParams Q(uint32_t bits, uint32_t block, bool stochastic = false, uint64_t seed = 42, uint64_t stream = 7,
              uint64_t first = 0) {
  return QuantParams{block, bits, stochastic, seed, stream, first};
}

// A quantized image with a guard zone after it; fill = initial content of the image bytes.
struct Image {
  std::vector<uint8_t> buf;
  size_t n;
  Image(size_t bytes, uint8_t fill) : buf(bytes + kGuardBytes, fill), n(bytes) {
    std::fill(buf.begin() + static_cast<long>(bytes), buf.end(), kGuard);
  }
  uint8_t* data() { return buf.data(); }
  bool GuardIntact() const {
    return std::all_of(buf.begin() + static_cast<long>(n), buf.end(), [](uint8_t b) { return b == kGuard; });
  }
  bool SameImage(const Image& o) const { return n == o.n && std::memcmp(buf.data(), o.buf.data(), n) == 0; }
};

// Data whose blocks have very different magnitudes (a per-block scale matters).
std::vector<float> MixedScales(size_t n, uint32_t block, uint64_t seed) {
  std::vector<float> v = Gaussian(n, seed);
  for (size_t i = 0; i < n; ++i) v[i] *= std::pow(10.0f, static_cast<float>((i / block) % 7) - 3.0f);
  return v;
}

// ---- int8 / int4 block quantization ------------------------------------------------------------------

struct QuantCase {
  uint32_t bits, block;
  bool stochastic;
};

class QuantizeRoundTrip : public ::testing::TestWithParam<QuantCase> {};

// |D(Q(x)) - x| <= QuantizeErrorBound(x) for every element, for counts that do and do not divide the block.
TEST_P(QuantizeRoundTrip, ErrorWithinBoundPerElement) {
  const QuantCase c = GetParam();
  for (size_t count : {size_t(1), size_t(2), size_t(7), size_t(31), size_t(255), size_t(256), size_t(257),
                       size_t(1000), size_t(4099), size_t(3 * 4096 + 5)}) {
    for (int data = 0; data < 2; ++data) {
      std::vector<float> x = data == 0 ? Gaussian(count, count) : MixedScales(count, c.block, count + 1);
      QuantParams p = Q(c.bits, c.block, c.stochastic);
      Image img(conccl::QuantizedBytes(count, c.block, c.bits), 0xEE);
      conccl::QuantizeBlocks(p, x.data(), count, img.data());
      ASSERT_TRUE(img.GuardIntact()) << "QuantizeBlocks wrote past QuantizedBytes, count " << count;
      std::vector<float> y(count + 16, 12345.0f);
      conccl::DequantizeBlocks(p, img.data(), count, y.data());
      for (size_t i = count; i < y.size(); ++i) ASSERT_EQ(y[i], 12345.0f) << "DequantizeBlocks wrote past count";
      // Per block: the bound of that block alone (the global bound is the max over blocks).
      double global = conccl::QuantizeErrorBound(p, x.data(), count);
      for (size_t off = 0; off < count; off += c.block) {
        size_t n = std::min<size_t>(c.block, count - off);
        double bound = conccl::QuantizeErrorBound(p, x.data() + off, n);
        ASSERT_LE(bound, global);
        for (size_t i = off; i < off + n; ++i)
          ASSERT_LE(std::fabs(static_cast<double>(y[i]) - x[i]), bound)
              << "bits " << c.bits << " block " << c.block << " count " << count << " element " << i << " x=" << x[i]
              << " y=" << y[i];
      }
    }
  }
}

// The fused hop equals the unfused one byte for byte: Q(D(in) + local), on images initialised differently.
TEST_P(QuantizeRoundTrip, FusedHopEqualsUnfused) {
  const QuantCase c = GetParam();
  for (size_t count : {size_t(1), size_t(7), size_t(257), size_t(1000), size_t(4099)}) {
    for (uint64_t first : {uint64_t(0), uint64_t(12345)}) {
      QuantParams p = Q(c.bits, c.block, c.stochastic, 42, 99, first);
      size_t bytes = conccl::QuantizedBytes(count, c.block, c.bits);
      std::vector<float> a = MixedScales(count, c.block, 3 + count), local = Gaussian(count, 5 + count);
      Image in(bytes, 0);
      conccl::QuantizeBlocks(p, a.data(), count, in.data());

      Image fused(bytes, 0x55);
      conccl::DequantizeAddQuantize(p, in.data(), local.data(), count, fused.data());

      std::vector<float> sum(count);
      conccl::DequantizeBlocks(p, in.data(), count, sum.data());
      for (size_t i = 0; i < count; ++i) sum[i] += local[i];
      Image unfused(bytes, 0xAA);
      conccl::QuantizeBlocks(p, sum.data(), count, unfused.data());

      ASSERT_TRUE(fused.GuardIntact());
      ASSERT_TRUE(unfused.GuardIntact());
      ASSERT_TRUE(fused.SameImage(unfused)) << "bits " << c.bits << " block " << c.block << " count " << count
                                            << " firstIndex " << first;
    }
  }
}

// Count 0 writes nothing and reads nothing; count 1 round-trips within the bound.
TEST_P(QuantizeRoundTrip, CountZeroAndOne) {
  const QuantCase c = GetParam();
  QuantParams p = Q(c.bits, c.block, c.stochastic);
  EXPECT_EQ(conccl::QuantizedBytes(0, c.block, c.bits), 0u);
  Image img(0, 0);
  conccl::QuantizeBlocks(p, nullptr, 0, img.data());
  conccl::DequantizeBlocks(p, img.data(), 0, nullptr);
  conccl::DequantizeAddQuantize(p, img.data(), nullptr, 0, img.data());
  EXPECT_TRUE(img.GuardIntact());
  EXPECT_EQ(conccl::QuantizeErrorBound(p, nullptr, 0), 0.0);

  for (float v : {3.5f, -0.001f, 0.0f, 1e30f, -7e-20f}) {
    Image one(conccl::QuantizedBytes(1, c.block, c.bits), 0);
    conccl::QuantizeBlocks(p, &v, 1, one.data());
    ASSERT_TRUE(one.GuardIntact());
    float y = -1;
    conccl::DequantizeBlocks(p, one.data(), 1, &y);
    EXPECT_LE(std::fabs(static_cast<double>(y) - v), conccl::QuantizeErrorBound(p, &v, 1)) << v;
  }
}

// A NaN or Inf in one block makes exactly that block decode to NaN; every other block stays finite and
// within its bound. The same holds through the fused hop when the non-finite value arrives in `local`.
TEST_P(QuantizeRoundTrip, NonFiniteContainedToItsBlock) {
  const QuantCase c = GetParam();
  const size_t count = 5 * c.block + 3;
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    for (size_t badBlock : {size_t(0), size_t(2), size_t(5)}) {
      std::vector<float> x = Gaussian(count, 77);
      size_t at = std::min(count - 1, badBlock * c.block + 1);
      x[at] = bad;
      QuantParams p = Q(c.bits, c.block, c.stochastic);
      Image img(conccl::QuantizedBytes(count, c.block, c.bits), 0);
      conccl::QuantizeBlocks(p, x.data(), count, img.data());
      std::vector<float> y(count);
      conccl::DequantizeBlocks(p, img.data(), count, y.data());

      // Fused hop: in = Q(clean), local carries the non-finite value.
      std::vector<float> clean = Gaussian(count, 78), local = x;
      Image in(conccl::QuantizedBytes(count, c.block, c.bits), 0), hop(in.n, 0);
      conccl::QuantizeBlocks(p, clean.data(), count, in.data());
      conccl::DequantizeAddQuantize(p, in.data(), local.data(), count, hop.data());
      std::vector<float> yh(count), sum(count);
      conccl::DequantizeBlocks(p, hop.data(), count, yh.data());
      conccl::DequantizeBlocks(p, in.data(), count, sum.data());
      for (size_t i = 0; i < count; ++i) sum[i] += local[i];

      for (size_t off = 0; off < count; off += c.block) {
        size_t n = std::min<size_t>(c.block, count - off);
        bool isBad = off / c.block == at / c.block;
        double bound = isBad ? 0 : conccl::QuantizeErrorBound(p, x.data() + off, n);
        double boundHop = isBad ? 0 : conccl::QuantizeErrorBound(p, sum.data() + off, n);
        for (size_t i = off; i < off + n; ++i) {
          if (isBad) {
            ASSERT_TRUE(std::isnan(y[i])) << "bad=" << bad << " element " << i;
            ASSERT_TRUE(std::isnan(yh[i])) << "hop, bad=" << bad << " element " << i;
          } else {
            ASSERT_TRUE(std::isfinite(y[i])) << "element " << i << " outside the bad block";
            ASSERT_LE(std::fabs(static_cast<double>(y[i]) - x[i]), bound);
            ASSERT_TRUE(std::isfinite(yh[i]));
            ASSERT_LE(std::fabs(static_cast<double>(yh[i]) - sum[i]), boundHop);
          }
        }
      }
      EXPECT_TRUE(std::isinf(conccl::QuantizeErrorBound(p, x.data(), count)));
    }
  }
}

// Same (seed, stream, element index) -> same bytes; another stream or seed -> other bytes (stochastic only).
// A chunk quantized with firstIndex = its global offset gives the same codes as the whole vector.
TEST_P(QuantizeRoundTrip, DeterministicAndIndexedByGlobalElement) {
  const QuantCase c = GetParam();
  const size_t count = 4 * c.block + 17;
  std::vector<float> x = Gaussian(count, 11);
  size_t bytes = conccl::QuantizedBytes(count, c.block, c.bits);
  Image a(bytes, 0), b(bytes, 0xff), other(bytes, 0), otherSeed(bytes, 0);
  conccl::QuantizeBlocks(Q(c.bits, c.block, c.stochastic, 42, 3), x.data(), count, a.data());
  conccl::QuantizeBlocks(Q(c.bits, c.block, c.stochastic, 42, 3), x.data(), count, b.data());
  EXPECT_TRUE(a.SameImage(b));
  conccl::QuantizeBlocks(Q(c.bits, c.block, c.stochastic, 42, 4), x.data(), count, other.data());
  conccl::QuantizeBlocks(Q(c.bits, c.block, c.stochastic, 43, 3), x.data(), count, otherSeed.data());
  EXPECT_EQ(a.SameImage(other), !c.stochastic);
  EXPECT_EQ(a.SameImage(otherSeed), !c.stochastic);

  // Chunk = blocks 2.. (block aligned) quantized with firstIndex = 2*block.
  const size_t off = 2 * c.block, n = count - off;
  Image chunk(conccl::QuantizedBytes(n, c.block, c.bits), 0);
  conccl::QuantizeBlocks(Q(c.bits, c.block, c.stochastic, 42, 3, off), x.data() + off, n, chunk.data());
  std::vector<float> whole(count), part(n);
  conccl::DequantizeBlocks(Q(c.bits, c.block), a.data(), count, whole.data());
  conccl::DequantizeBlocks(Q(c.bits, c.block), chunk.data(), n, part.data());
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(part[i], whole[off + i]) << "element " << off + i;
}

INSTANTIATE_TEST_SUITE_P(Kernels, QuantizeRoundTrip,
                         ::testing::Values(QuantCase{8, 32, false}, QuantCase{8, 256, false},
                                           QuantCase{8, 4096, false}, QuantCase{8, 256, true},
                                           QuantCase{4, 32, false}, QuantCase{4, 256, false},
                                           QuantCase{4, 4096, true}, QuantCase{4, 64, true}),
                         [](const ::testing::TestParamInfo<QuantCase>& i) {
                           return "int" + std::to_string(i.param.bits) + "_b" + std::to_string(i.param.block) +
                                  (i.param.stochastic ? "_stochastic" : "_nearest");
                         });

// Stochastic rounding is unbiased: over many streams the mean of D(Q(x)) converges to x.
TEST(QuantizeStochastic, UnbiasedOverStreams) {
  for (uint32_t bits : {8u, 4u}) {
    const uint32_t block = 64;
    const size_t count = 2 * block, draws = 4000;
    std::vector<float> x = Gaussian(count, 5);
    x[3] = 0.0f;  // exactly representable values must stay exact
    std::vector<double> mean(count, 0.0);
    std::vector<float> y(count);
    Image img(conccl::QuantizedBytes(count, block, bits), 0);
    for (size_t s = 0; s < draws; ++s) {
      QuantParams p = Q(bits, block, true, 42, 1000 + s);
      conccl::QuantizeBlocks(p, x.data(), count, img.data());
      conccl::DequantizeBlocks(p, img.data(), count, y.data());
      for (size_t i = 0; i < count; ++i) mean[i] += y[i];
    }
    double levels = bits == 8 ? 127.0 : 7.0, meanErr = 0;
    for (size_t i = 0; i < count; ++i) {
      mean[i] /= draws;
      size_t off = i / block * block;
      double scale = *std::max_element(x.begin() + off, x.begin() + off + block,
                                       [](float a, float b) { return std::fabs(a) < std::fabs(b); });
      scale = std::fabs(scale) / levels;
      // One draw has standard deviation <= scale/2; 6 sigma of the mean of `draws` draws.
      EXPECT_NEAR(mean[i], x[i], 6.0 * 0.5 * scale / std::sqrt(double(draws)) + 1e-7 * scale)
          << "bits " << bits << " element " << i;
      meanErr += (mean[i] - x[i]) / scale;
    }
    // The average signed error over all elements is far smaller still (no systematic bias).
    EXPECT_LT(std::fabs(meanErr / count), 6.0 * 0.5 / std::sqrt(double(draws) * count));
    EXPECT_EQ(mean[3], 0.0);
  }
}

TEST(QuantizeStochastic, CounterUniformIsInUnitIntervalAndReproducible) {
  double sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    float u = conccl::CounterUniform(42, 9, i);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    ASSERT_EQ(u, conccl::CounterUniform(42, 9, i));
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.005);
  EXPECT_NE(conccl::CounterUniform(42, 9, 1), conccl::CounterUniform(42, 10, 1));
  EXPECT_NE(conccl::CounterUniform(42, 9, 1), conccl::CounterUniform(43, 9, 1));
}

// Regression: a block whose largest |x| is below ~127 * FLT_MIN has a subnormal scale whose reciprocal
// overflows; the kernel must divide instead, keeping the error within QuantizeErrorBound.
TEST(QuantizeEdge, TinyMagnitudeBlockWithinBound) {
  for (uint32_t bits : {8u, 4u}) {
    std::vector<float> x = {1e-38f, 0.0f, -5e-39f, 2e-39f, 0.0f, 3e-40f, -1e-38f, 4e-39f};
    QuantParams p = Q(bits, 32);
    Image img(conccl::QuantizedBytes(x.size(), 32, bits), 0);
    conccl::QuantizeBlocks(p, x.data(), x.size(), img.data());
    std::vector<float> y(x.size());
    conccl::DequantizeBlocks(p, img.data(), x.size(), y.data());
    double bound = conccl::QuantizeErrorBound(p, x.data(), x.size());
    for (size_t i = 0; i < x.size(); ++i)
      EXPECT_LE(std::fabs(static_cast<double>(y[i]) - x[i]), bound)
          << "bits " << bits << " x=" << x[i] << " decoded " << y[i];
  }
}

// ---- float16 / bfloat16 ------------------------------------------------------------------------------

std::vector<float> HalfTestValues() {
  std::vector<float> v = Gaussian(20000, 3);
  for (float& x : Gaussian(5000, 4, 0, 1e-5)) v.push_back(x);  // float16 subnormals
  for (float& x : Gaussian(5000, 5, 0, 3e4)) v.push_back(x);   // near float16 overflow
  for (float x : {0.0f, -0.0f, 65504.0f, 65519.0f, 65520.0f, 1e-8f, 5.96e-8f, 2.98e-8f, 1.0f + 1.0f / 2048,
                  1.0f + 3.0f / 2048, 1e38f, -3.3895e38f, 1.0009765625f, 6.1035156e-05f})
    v.push_back(x);
  return v;
}

TEST(HalfConversion, Float16MatchesIndependentReferenceAndBound) {
  std::vector<float> v = HalfTestValues();
  std::vector<uint16_t> h(v.size());
  std::vector<float> back(v.size());
  conccl::FloatToHalfArray(v.data(), v.size(), h.data());
  conccl::HalfToFloatArray(h.data(), h.size(), back.data());
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_EQ(h[i], cctest::FloatToHalfRef(v[i])) << "float16 of " << v[i];
    float ref = cctest::HalfToFloatRef(h[i]);
    ASSERT_TRUE(std::memcmp(&ref, &back[i], 4) == 0) << "decode of 0x" << std::hex << h[i];
    if (std::fabs(v[i]) < 65504.0f) {  // relative half ulp plus the subnormal floor
      ASSERT_LE(std::fabs(double(back[i]) - v[i]), std::fabs(double(v[i])) * std::ldexp(1.0, -11) + std::ldexp(1.0, -25))
          << v[i];
    }
  }
  // NaN stays NaN; infinities stay infinite.
  float specials[3] = {NAN, INFINITY, -INFINITY};
  uint16_t hs[3];
  float bs[3];
  conccl::FloatToHalfArray(specials, 3, hs);
  conccl::HalfToFloatArray(hs, 3, bs);
  EXPECT_TRUE(std::isnan(bs[0]));
  EXPECT_EQ(bs[1], INFINITY);
  EXPECT_EQ(bs[2], -INFINITY);
}

TEST(HalfConversion, Bfloat16MatchesIndependentReferenceAndBound) {
  std::vector<float> v = HalfTestValues();
  std::vector<uint16_t> h(v.size());
  std::vector<float> back(v.size());
  conccl::FloatToBf16Array(v.data(), v.size(), h.data());
  conccl::Bf16ToFloatArray(h.data(), h.size(), back.data());
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_EQ(h[i], cctest::FloatToBf16Ref(v[i])) << "bfloat16 of " << v[i];
    if (std::fabs(v[i]) < 3.3e38f) {
      ASSERT_LE(std::fabs(double(back[i]) - v[i]), std::fabs(double(v[i])) * std::ldexp(1.0, -8)) << v[i];
    }
  }
  float nan = NAN;
  uint16_t hn;
  float bn;
  conccl::FloatToBf16Array(&nan, 1, &hn);
  conccl::Bf16ToFloatArray(&hn, 1, &bn);
  EXPECT_TRUE(std::isnan(bn));
}

// The codec tables' declared errorBound holds for their own round trip (fp16, bf16, int8, int4, sign, topk).
TEST(CodecTables, RoundTripWithinDeclaredErrorBound) {
  for (ccCodec_t id : {ccCodecFp16, ccCodecBf16, ccCodecInt8, ccCodecInt4, ccCodecSign, ccCodecTopK}) {
    const ccCodec_v1_t* codec = conccl::BuiltinCodec(id);
    ASSERT_NE(codec, nullptr) << cctest::CodecName(id);
    for (size_t count : {size_t(1), size_t(7), size_t(1000), size_t(4099)}) {
      ccCodecParams_v1_t p{};
      p.blockSize = 256;
      p.bits = id == ccCodecInt4 ? 4 : 8;
      p.ratio = 1.0f / 16;
      p.seed = 42;
      p.stream = 1;
      std::vector<float> x = MixedScales(count, 256, count);
      size_t cap = codec->compressedBound(&p, count);
      std::vector<uint8_t> buf(cap + kGuardBytes, kGuard);
      size_t wrote = 0;
      ASSERT_EQ(codec->compress(&p, x.data(), count, buf.data(), cap, &wrote), ccCodecOk);
      ASSERT_LE(wrote, cap);
      for (size_t i = cap; i < buf.size(); ++i) ASSERT_EQ(buf[i], kGuard);
      // Too small a capacity is an error, not an overflow.
      if (cap > 0) {
        size_t w2 = 0;
        EXPECT_EQ(codec->compress(&p, x.data(), count, buf.data(), cap - 1, &w2), ccCodecErrorCapacity);
      }
      std::vector<float> y(count);
      ASSERT_EQ(codec->decompress(&p, buf.data(), wrote, y.data(), count), ccCodecOk);
      // A wrong length is rejected.
      EXPECT_EQ(codec->decompress(&p, buf.data(), wrote + 1, y.data(), count), ccCodecErrorCorrupt);
      ASSERT_EQ(codec->decompress(&p, buf.data(), wrote, y.data(), count), ccCodecOk);
      double bound = codec->errorBound(&p, x.data(), count);
      for (size_t i = 0; i < count; ++i)
        ASSERT_LE(std::fabs(double(y[i]) - x[i]), bound) << codec->name << " count " << count << " element " << i;
    }
  }
}

// ---- scaled sign and top-k contraction (seed doc invariant 8) ----------------------------------------

double Sq(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  return s;
}

TEST(SignCodec, OneBlockContractionIdentity) {
  for (size_t d : {size_t(1), size_t(2), size_t(100), size_t(1000), size_t(4096)}) {
    std::vector<float> v = Gaussian(d, d, 0, 1.0, 0.3);
    std::vector<uint8_t> buf(conccl::SignBytes(d, 4096));
    conccl::SignCompress(v.data(), d, 4096, buf.data());
    std::vector<float> c(d);
    conccl::SignDecompress(buf.data(), d, 4096, c.data());
    double l1 = 0, err = 0;
    for (size_t i = 0; i < d; ++i) {
      l1 += std::fabs(double(v[i]));
      err += (double(c[i]) - v[i]) * (double(c[i]) - v[i]);
      ASSERT_EQ(std::signbit(c[i]), std::signbit(v[i]));
    }
    double expect = Sq(v) - l1 * l1 / d;
    EXPECT_NEAR(err, expect, 1e-5 * Sq(v) + 1e-12) << "d=" << d;
    EXPECT_LE(err, Sq(v) * (1.0 - 1.0 / d) + 1e-5 * Sq(v));  // delta >= 1/d
  }
}

TEST(SignCodec, PerBlockIdentity) {
  const size_t d = 1000;
  const uint32_t B = 64;
  std::vector<float> v = MixedScales(d, B, 9);
  std::vector<uint8_t> buf(conccl::SignBytes(d, B));
  conccl::SignCompress(v.data(), d, B, buf.data());
  std::vector<float> c(d);
  conccl::SignDecompress(buf.data(), d, B, c.data());
  for (size_t off = 0; off < d; off += B) {
    size_t n = std::min<size_t>(B, d - off);
    double l1 = 0, l2 = 0, err = 0;
    for (size_t i = off; i < off + n; ++i) {
      l1 += std::fabs(double(v[i]));
      l2 += double(v[i]) * v[i];
      err += (double(c[i]) - v[i]) * (double(c[i]) - v[i]);
    }
    EXPECT_NEAR(err, l2 - l1 * l1 / n, 1e-5 * l2) << "block at " << off;
  }
}

TEST(TopKCodec, ContractionAndKeepsLargest) {
  for (size_t d : {size_t(1), size_t(7), size_t(1000), size_t(4099)}) {
    for (double ratio : {1.0 / 64, 0.1, 0.5, 1.0}) {
      std::vector<float> v = Gaussian(d, d + 1);
      size_t k = conccl::TopKCount(d, ratio);
      ASSERT_EQ(k, std::min(d, std::max<size_t>(1, static_cast<size_t>(std::floor(ratio * d)))));
      std::vector<uint8_t> buf(8 * k);
      conccl::TopKCompress(v.data(), d, k, buf.data());
      std::vector<float> c(d, 0.0f);
      ASSERT_TRUE(conccl::TopKAccumulate(buf.data(), k, d, 1.0f, c.data()));
      size_t kept = 0;
      float minKept = INFINITY, maxDropped = 0;
      for (size_t i = 0; i < d; ++i) {
        if (c[i] != 0.0f) {
          ++kept;
          ASSERT_EQ(c[i], v[i]);
          minKept = std::min(minKept, std::fabs(v[i]));
        } else {
          maxDropped = std::max(maxDropped, std::fabs(v[i]));
        }
      }
      EXPECT_EQ(kept, k);
      if (k < d) {
        EXPECT_GE(minKept, maxDropped);
      }
      double err = 0;
      for (size_t i = 0; i < d; ++i) err += (double(v[i]) - c[i]) * (double(v[i]) - c[i]);
      EXPECT_LE(err, (1.0 - double(k) / d) * Sq(v) * (1 + 1e-12)) << "d=" << d << " k=" << k;
    }
  }
}

// Malformed pairs: an index out of range, repeated or decreasing is rejected, and nothing is written
// outside out[0..count).
TEST(TopKCodec, AccumulateRejectsMalformedIndicesWithoutOutOfBoundsWrites) {
  const size_t count = 16;
  auto pairs = [](std::vector<std::pair<uint32_t, float>> v) {
    std::vector<uint8_t> b(8 * v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      std::memcpy(b.data() + 8 * i, &v[i].first, 4);
      std::memcpy(b.data() + 8 * i + 4, &v[i].second, 4);
    }
    return b;
  };
  struct Case {
    const char* what;
    std::vector<std::pair<uint32_t, float>> p;
    bool ok;
  };
  std::vector<Case> cases = {
      {"valid", {{0, 1.f}, {3, 2.f}, {15, 3.f}}, true},
      {"index == count", {{0, 1.f}, {16, 2.f}}, false},
      {"index far out", {{0xFFFFFFFFu, 2.f}}, false},
      {"index just past, first", {{16, 2.f}, {17, 1.f}}, false},
      {"repeated index", {{2, 1.f}, {2, 1.f}}, false},
      {"decreasing index", {{5, 1.f}, {4, 1.f}}, false},
      {"decreasing then out of range", {{5, 1.f}, {1, 1.f}, {1000, 1.f}}, false},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> in = pairs(c.p);
    // out[-8..-1] and out[count..count+7] are guards.
    std::vector<float> mem(count + 16, -99.0f);
    float* out = mem.data() + 8;
    std::fill(out, out + count, 0.0f);
    bool ok = conccl::TopKAccumulate(in.data(), c.p.size(), count, 2.0f, out);
    EXPECT_EQ(ok, c.ok) << c.what;
    for (size_t i = 0; i < 8; ++i) {
      EXPECT_EQ(mem[i], -99.0f) << c.what << ": wrote before out";
      EXPECT_EQ(mem[8 + count + i], -99.0f) << c.what << ": wrote past out[count)";
    }
    if (c.ok) {
      EXPECT_EQ(out[3], 4.0f);
      EXPECT_EQ(out[15], 6.0f);
    }
  }
  // Through the codec table: a corrupt top-k message decodes to ccCodecErrorCorrupt.
  const ccCodec_v1_t* topk = conccl::BuiltinCodec(ccCodecTopK);
  ccCodecParams_v1_t p{};
  p.ratio = 0.25f;
  std::vector<uint8_t> bad = pairs({{1, 1.f}, {0, 1.f}, {7, 1.f}, {9, 1.f}});
  std::vector<float> mem(count + 16, -99.0f);
  EXPECT_EQ(topk->decompress(&p, bad.data(), bad.size(), mem.data() + 8, count), ccCodecErrorCorrupt);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(mem[8 + count + i], -99.0f);
}

TEST(SubtractKernel, ResidualPlusTransmittedIsExactForQuantizedValues) {
  // Invariant 10 at kernel level: e = p - D(Q(p)) and D(Q(p)) + e == p bit for bit (nearest rounding).
  for (uint32_t bits : {8u, 4u}) {
    const size_t count = 4099;
    std::vector<float> p = MixedScales(count, 256, 21);
    QuantParams q = Q(bits, 256);
    Image img(conccl::QuantizedBytes(count, 256, bits), 0);
    conccl::QuantizeBlocks(q, p.data(), count, img.data());
    std::vector<float> t(count), e(count);
    conccl::DequantizeBlocks(q, img.data(), count, t.data());
    conccl::Subtract(p.data(), t.data(), count, e.data());
    for (size_t i = 0; i < count; ++i) ASSERT_EQ(t[i] + e[i], p[i]) << "bits " << bits << " element " << i;
  }
}

}  // namespace

// The F16C path (taken where the CPU has it) and the software conversion give the same bits: every float16
// pattern back to float, and 4 Mi float patterns (random, plus every exponent's edges) to float16.
TEST(HalfConversion, HardwareAndSoftwarePathsAgreeBitForBit) {
  std::vector<uint16_t> halves(65536);
  for (uint32_t h = 0; h < 65536; ++h) halves[h] = static_cast<uint16_t>(h);
  std::vector<float> fromArray(65536);
  conccl::HalfToFloatArray(halves.data(), halves.size(), fromArray.data());
  for (uint32_t h = 0; h < 65536; ++h)
    ASSERT_EQ(conccl::FloatToBits(fromArray[h]), conccl::FloatToBits(conccl::HalfToFloat(static_cast<uint16_t>(h))))
        << "half 0x" << std::hex << h;
  std::mt19937 rng(7);
  std::vector<float> floats;
  for (int i = 0; i < (1 << 22); ++i) floats.push_back(conccl::BitsToFloat(static_cast<uint32_t>(rng())));
  for (uint32_t e = 0; e < 256; ++e)
    for (uint32_t m : {0u, 1u, 0xfffu, 0x1000u, 0x1001u, 0x2000u, 0x3000u, 0x7fffffu})
      for (uint32_t s : {0u, 0x80000000u}) floats.push_back(conccl::BitsToFloat(s | (e << 23) | m));
  std::vector<uint16_t> toArray(floats.size());
  conccl::FloatToHalfArray(floats.data(), floats.size(), toArray.data());
  for (size_t i = 0; i < floats.size(); ++i)
    ASSERT_EQ(toArray[i], conccl::FloatToHalf(floats[i])) << "float bits 0x" << std::hex << conccl::FloatToBits(floats[i]);
}

// ---- count-sketch residual: the ConEF map ----------------------------------------------------------------
// The sketch maps element j to bucket Fmix32(994443 j + 609478) mod B and sign by the parity of
// Fmix32(994445 j + 609481) mod B, as the ConEF code does. The library computes the modulo by multiplication;
// this checks it against the plain formula: Assign(e) then Decompress must equal a sketch built here.
namespace {
uint32_t RefFmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}
}  // namespace

TEST(SketchResidual, MatchesTheConefHashMap) {
  for (size_t count : {size_t(1), size_t(7), size_t(1000), size_t(123457)}) {
    conccl::ResidualFormat fmt;
    fmt.mode = ccFeedbackConef;
    fmt.codec = ccResidualSketch;
    fmt.sketchSize = 0.2f;
    conccl::Residual r(count, fmt);
    const uint32_t B = static_cast<uint32_t>(std::max<size_t>(1, size_t(std::floor(0.2 * double(count)))));
    std::vector<float> e(count), out(count);
    for (size_t j = 0; j < count; ++j) e[j] = float(int((j * 2654435761u) % 2001) - 1000) / 1000.0f;
    r.Assign(e.data());
    r.Decompress(out.data());
    std::vector<float> c(B, 0.0f);
    std::vector<uint32_t> occ(B, 0);
    auto bucket = [&](uint32_t j) { return RefFmix32(994443u * j + 609478u) % B; };
    auto sign = [&](uint32_t j) { return (RefFmix32(994445u * j + 609481u) % B) & 1 ? 1.0f : -1.0f; };
    for (uint32_t j = 0; j < count; ++j) {
      c[bucket(j)] += sign(j) * e[j];
      occ[bucket(j)]++;
    }
    for (uint32_t b = 0; b < B; ++b) c[b] = occ[b] ? c[b] / occ[b] : 0.0f;
    for (uint32_t j = 0; j < count; ++j)
      ASSERT_EQ(out[j], sign(j) * c[bucket(j)]) << "count " << count << " element " << j;
    double norm = 0;  // Norm() of a freshly assigned sketch (no cached value): the decompressed vector's
    for (float v : out) norm += double(v) * v;
    EXPECT_NEAR(r.Norm(), std::sqrt(norm), 1e-9 * (1 + std::sqrt(norm)));
  }
}

// Update caches the norm of U(c) from the bucket occupancies; it must equal the norm of Decompress.
TEST(SketchResidual, UpdateNormMatchesDecompressedNorm) {
  for (bool fp16 : {false, true}) {
    conccl::ResidualFormat fmt;
    fmt.mode = ccFeedbackConef;
    fmt.codec = ccResidualSketch;
    fmt.fp16 = fp16;
    const size_t n = 50001;
    conccl::Residual r(n, fmt);
    std::vector<float> g(n), p(n), t(n, 0.0f), out(n);
    for (size_t j = 0; j < n; ++j) g[j] = float(int((j * 40503u) % 1001) - 500) / 500.0f;
    for (int step = 0; step < 3; ++step) {
      r.AddFeedback(g.data(), n, p.data());
      r.Update(g.data(), p.data(), t.data(), n);
    }
    r.Decompress(out.data());
    double norm = 0;
    for (float v : out) norm += double(v) * v;
    EXPECT_NEAR(r.Norm(), std::sqrt(norm), 1e-6 * std::sqrt(norm)) << "fp16 " << fp16;
  }
}
