// compress_codec_test.cc — ccAllreduceCompressed for every built-in codec over nranks {1,2,3,5}, counts
// {0,1,7,1000,4099}, float32/float16/bfloat16 and sum/avg: every rank's recvbuff is bitwise identical and
// the result is within the codec's bound of a float64 exact sum (or equals an independent reference for
// the all-gather codecs and the random block). Also: multi-chunk pipelines over each transport, the
// argument checks (lossy codec with an integer type or a non-sum op), and codec none == ccAllReduce.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "compress_test_util.h"

namespace {

using namespace cctest;

const std::vector<size_t> kCounts = {0, 1, 7, 1000, 4099};
const std::vector<ccDataType_t> kTypes = {ccFloat32, ccFloat16, ccBfloat16};
const std::vector<ccRedOp_t> kOps = {ccSum, ccAvg};

// Unit roundoff of the output type (the final conversion of recvbuff), and its absolute floor.
double OutUlp(ccDataType_t t) { return t == ccFloat16 ? std::ldexp(1.0, -11) : t == ccBfloat16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -24); }
double OutFloor(ccDataType_t t) { return t == ccFloat16 ? std::ldexp(1.0, -25) : 1e-40; }

// One call on every rank: inputs[r] -> outputs[r]. Returns every rank's result.
std::vector<ccResult_t> AllRanks(Comms& comms, std::vector<TypedBuf>& in, std::vector<TypedBuf>& out, size_t count,
                                 ccDataType_t type, ccRedOp_t op, const ccCompressConfig_t& cfg) {
  std::vector<ccResult_t> res(comms.size());
  RunRanks(comms.size(), [&](int r) {
    res[r] = ccAllreduceCompressed(in[r].data(), out[r].data(), count, type, op, &cfg, comms[r], nullptr);
  });
  return res;
}

// ---- independent references of the all-gather codecs (DESIGN: every rank compresses its whole input,
// ---- the forms are all-gathered, decompressed and summed in rank order in float32) -------------------

std::vector<float> SignRoundTrip(const std::vector<float>& x, size_t B) {
  std::vector<float> y(x.size());
  for (size_t off = 0; off < x.size(); off += B) {
    size_t n = std::min(B, x.size() - off);
    double sum = 0;
    for (size_t i = off; i < off + n; ++i) sum += std::fabs(x[i]);
    float scale = static_cast<float>(sum / n);
    for (size_t i = off; i < off + n; ++i) y[i] = std::signbit(x[i]) ? -scale : scale;
  }
  return y;
}

std::vector<float> TopKRoundTrip(const std::vector<float>& x, float ratio) {
  size_t d = x.size();
  size_t k = std::min(d, std::max<size_t>(1, static_cast<size_t>(std::floor(double(ratio) * d))));
  std::vector<size_t> idx(d);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return std::fabs(x[a]) > std::fabs(x[b]); });
  std::vector<float> y(d, 0.0f);
  for (size_t i = 0; i < k; ++i) y[idx[i]] = x[idx[i]];
  return y;
}

// ---- the sweep -------------------------------------------------------------------------------------

struct SweepCase {
  ccCodec_t codec;
  int nranks;
  ccAlgo_t algo;
};

class CodecSweep : public ::testing::TestWithParam<SweepCase> {};

TEST_P(CodecSweep, IdenticalOnAllRanksAndWithinBound) {
  const ccCodec_t codec = GetParam().codec;
  const int n = GetParam().nranks;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  uint64_t key = 100;
  for (size_t count : kCounts) {
    for (ccDataType_t type : kTypes) {
      for (ccRedOp_t op : kOps) {
        SCOPED_TRACE(std::string(CodecName(codec)) + " nranks " + std::to_string(n) + " count " +
                     std::to_string(count) + " " + FloatTypeName(type) + (op == ccSum ? " sum" : " avg"));
        ccCompressConfig_t cfg = MakeConfig(codec, ++key);
        cfg.algo = GetParam().algo;
        std::vector<TypedBuf> in, out;
        std::vector<std::vector<float>> g;  // each rank's input, as stored in its type
        for (int r = 0; r < n; ++r) {
          in.emplace_back(type, count);
          out.emplace_back(type, count);
          g.push_back(in.back().Fill(Gaussian(count, 1000 * count + type, r)));
          std::fill(out.back().bytes.begin(), out.back().bytes.end(), 0x7f);
        }
        std::vector<ccResult_t> res = AllRanks(comms, in, out, count, type, op, cfg);
        for (int r = 0; r < n; ++r)
          ASSERT_EQ(res[r], ccSuccess) << "rank " << r << ": " << Msg(comms[r]);
        for (int r = 0; r < n; ++r) ASSERT_EQ(out[r].bytes.back(), 0x7f) << "rank " << r << " wrote past count";
        for (int r = 1; r < n; ++r) ASSERT_TRUE(out[r].SameBytes(out[0])) << "rank " << r << " differs from rank 0";
        if (count == 0) continue;

        const double div = op == ccAvg ? n : 1.0;
        std::vector<float> got = out[0].ToFloats();
        std::vector<double> exact(count, 0.0), absSum(count, 0.0);
        for (int r = 0; r < n; ++r)
          for (size_t i = 0; i < count; ++i) {
            exact[i] += g[r][i];
            absSum[i] += std::fabs(g[r][i]);
          }
        for (size_t i = 0; i < count; ++i) exact[i] /= div, absSum[i] /= div;
        // Float32 summation in some order, then the output conversion.
        auto roundoff = [&](size_t i) {
          return 2.0 * n * std::ldexp(1.0, -24) * absSum[i] + OutUlp(type) * (std::fabs(exact[i]) + 1e-3 * absSum[i]) +
                 OutFloor(type);
        };
        double nmse = Nmse(got, exact);

        switch (codec) {
          case ccCodecInt8:
          case ccCodecInt4: {
            // Each hop's re-quantization adds at most half a step of the block's partial sum.
            const double L = codec == ccCodecInt8 ? 127.0 : 7.0;
            const size_t B = cfg.blockSize;
            for (size_t off = 0; off < count; off += B) {
              size_t e = std::min(count, off + B);
              double S = 0;
              for (int r = 0; r < n; ++r) {
                double m = 0;
                for (size_t i = off; i < e; ++i) m = std::max(m, double(std::fabs(g[r][i])));
                S += m;
              }
              double bound = n * (0.5 / L) * S * std::pow(1.0 + 1.0 / L, n) * (1 + 1e-5) / div;
              for (size_t i = off; i < e; ++i)
                ASSERT_LE(std::fabs(got[i] - exact[i]), bound + roundoff(i)) << "element " << i;
            }
            // Gaussian data: int8 < 1e-3; int4 (7 levels) grows with the hops: < 0.03 (n+1)/2.
            if (count >= 1000) {
              EXPECT_LT(nmse, codec == ccCodecInt8 ? 1e-3 : 0.03 * (n + 1) / 2.0);
            }
            break;
          }
          case ccCodecFp16:
          case ccCodecBf16: {
            const double u = codec == ccCodecFp16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
            const double floor = codec == ccCodecFp16 ? std::ldexp(1.0, -25) : 0.0;
            for (size_t i = 0; i < count; ++i) {
              double bound = n * (u * absSum[i] * std::pow(1.0 + u, n) + floor / div);
              ASSERT_LE(std::fabs(got[i] - exact[i]), bound + roundoff(i)) << "element " << i;
            }
            if (count >= 1000) {
              EXPECT_LT(nmse, codec == ccCodecFp16 ? 1e-5 : 1e-4);
            }
            break;
          }
          case ccCodecSummable: {
            // Shared per-block scale = max over ranks / 127; each rank's rounding is at most half a step and
            // the integers add exactly.
            const size_t B = cfg.blockSize;
            for (size_t off = 0; off < count; off += B) {
              size_t e = std::min(count, off + B);
              double m = 0;
              for (int r = 0; r < n; ++r)
                for (size_t i = off; i < e; ++i) m = std::max(m, double(std::fabs(g[r][i])));
              double bound = n * 0.5 * (m / 127.0) * (1 + 1e-5) / div;
              for (size_t i = off; i < e; ++i)
                ASSERT_LE(std::fabs(got[i] - exact[i]), bound + roundoff(i)) << "element " << i;
            }
            if (count >= 1000) {
              EXPECT_LT(nmse, 1e-3);
            }
            break;
          }
          case ccCodecSign:
          case ccCodecTopK: {
            std::vector<float> ref(count, 0.0f);
            for (int r = 0; r < n; ++r) {
              std::vector<float> t = codec == ccCodecSign ? SignRoundTrip(g[r], cfg.blockSize)
                                                          : TopKRoundTrip(g[r], cfg.ratio);
              for (size_t i = 0; i < count; ++i) ref[i] += t[i];
            }
            if (op == ccAvg)
              for (float& v : ref) v *= 1.0f / static_cast<float>(n);
            for (size_t i = 0; i < count; ++i) {
              if (type == ccFloat32) {
                ASSERT_EQ(got[i], ref[i]) << "element " << i;
              } else {
                ASSERT_LE(std::fabs(double(got[i]) - ref[i]), OutUlp(type) * std::fabs(ref[i]) + OutFloor(type))
                    << "element " << i;
              }
            }
            // Contraction per rank makes the sum's error at most the sum of the per-rank errors.
            double errNorm = 0, bound = 0;
            for (size_t i = 0; i < count; ++i) errNorm += (got[i] - exact[i]) * (got[i] - exact[i]);
            for (int r = 0; r < n; ++r) {
              double s = 0;
              for (float v : g[r]) s += double(v) * v;
              bound += std::sqrt(s) / div;
            }
            EXPECT_LE(std::sqrt(errNorm), bound * (1 + 1e-3) + 1e-6);
            break;
          }
          case ccCodecRandBlock: {
            const size_t len = std::min(count, std::max<size_t>(1, static_cast<size_t>(std::floor(cfg.ratio * count))));
            size_t nonzero = 0, start = count;
            for (size_t i = 0; i < count; ++i) {
              if (got[i] != 0.0f) {
                ++nonzero;
                // The block is on-block entries: each equals the exact sum up to float32 rounding.
                ASSERT_LE(std::fabs(got[i] - exact[i]), roundoff(i)) << "on-block element " << i;
                size_t prev = (i + count - 1) % count;
                if (got[prev] == 0.0f || len == count) start = std::min(start, i);
              } else {
                uint32_t bits = FloatToBits32(got[i]);
                ASSERT_EQ(bits, 0u) << "off-block element " << i << " must be +0";
              }
            }
            ASSERT_EQ(nonzero, len) << "floor(ratio*count) elements (at least 1) are sent";
            ASSERT_LT(start, count);
            for (size_t j = 0; j < len; ++j)
              ASSERT_NE(got[(start + j) % count], 0.0f) << "block not contiguous (wrap-around) from " << start;
            break;
          }
          default: FAIL() << "codec not covered";
        }
      }
    }
  }
}

std::vector<SweepCase> SweepCases() {
  std::vector<SweepCase> v;
  for (ccCodec_t c : {ccCodecInt8, ccCodecInt4, ccCodecFp16, ccCodecBf16, ccCodecSign, ccCodecTopK, ccCodecRandBlock,
                      ccCodecSummable})
    for (int n : {1, 2, 3, 5}) v.push_back({c, n, ccAlgoRing});
  for (ccCodec_t c : {ccCodecInt8, ccCodecInt4, ccCodecFp16, ccCodecBf16})  // codecs with a tree schedule
    for (int n : {2, 3, 5}) v.push_back({c, n, ccAlgoTree});
  return v;
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecSweep, ::testing::ValuesIn(SweepCases()),
                         [](const ::testing::TestParamInfo<SweepCase>& i) {
                           return std::string(CodecName(i.param.codec)) + "_" + std::to_string(i.param.nranks) +
                                  "ranks" + (i.param.algo == ccAlgoTree ? "_tree" : "");
                         });

// ---- multi-chunk pipelines over each transport -------------------------------------------------------

// Small CONCCL_CHUNK_BYTES splits every ring segment into several chunks (and the random-block and
// summable rings into several uncompressed chunks); results stay identical and within bound on tcp, shm
// and local.
class CompressedTransports : public ::testing::TestWithParam<const char*> {};

TEST_P(CompressedTransports, ManyChunksIdenticalAndAccurate) {
  ScopedEnv chunk("CONCCL_CHUNK_BYTES", "2048");
  const int n = 3;
  Comms comms;
  ASSERT_EQ(comms.Init(n, GetParam()), ccSuccess);
  const size_t count = 60000;
  std::vector<TypedBuf> in, out;
  std::vector<double> exact(count, 0.0);
  for (int r = 0; r < n; ++r) {
    in.emplace_back(ccFloat32, count);
    out.emplace_back(ccFloat32, count);
    std::vector<float> g = in.back().Fill(Gaussian(count, 4242, r));
    for (size_t i = 0; i < count; ++i) exact[i] += g[i];
  }
  uint64_t key = 1;
  for (ccCodec_t codec : {ccCodecInt8, ccCodecInt4, ccCodecFp16, ccCodecSummable, ccCodecRandBlock, ccCodecTopK}) {
    ccCompressConfig_t cfg = MakeConfig(codec, ++key);
    cfg.ratio = 0.25f;
    std::vector<ccResult_t> res = AllRanks(comms, in, out, count, ccFloat32, ccSum, cfg);
    for (int r = 0; r < n; ++r) ASSERT_EQ(res[r], ccSuccess) << CodecName(codec) << " rank " << r << ": " << Msg(comms[r]);
    for (int r = 1; r < n; ++r) ASSERT_TRUE(out[r].SameBytes(out[0])) << CodecName(codec) << " rank " << r;
    std::vector<float> got = out[0].ToFloats();
    double nmse = Nmse(got, exact);
    double limit = codec == ccCodecInt8 ? 1e-3 : codec == ccCodecInt4 ? 5e-2 : codec == ccCodecFp16 ? 1e-5
                 : codec == ccCodecSummable ? 1e-3 : 1.0;  // sparsifiers: contraction only
    EXPECT_LT(nmse, limit) << CodecName(codec) << " over " << GetParam();
    if (codec == ccCodecRandBlock) {
      size_t nz = std::count_if(got.begin(), got.end(), [](float v) { return v != 0.0f; });
      EXPECT_EQ(nz, size_t(0.25 * count));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Nets, CompressedTransports, ::testing::Values("local", "tcp", "shm"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

// ---- summable containers and non-finite inputs ---------------------------------------------------------

// Summable with bits from 2 to 16 at 5 ranks: 3 headroom bits, so the int16 container serves up to 13 bits
// and int32 above; the sum stays within n half-steps of the shared scale.
TEST(SummableCodec, BitsAndContainersWithinBound) {
  const int n = 5;
  const size_t count = 3000;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  std::vector<TypedBuf> in, out;
  std::vector<std::vector<float>> g;
  for (int r = 0; r < n; ++r) {
    in.emplace_back(ccFloat32, count);
    out.emplace_back(ccFloat32, count);
    g.push_back(in.back().Fill(Gaussian(count, 555, r, 1.0 + r)));
  }
  uint64_t key = 10;
  for (int bits : {2, 3, 8, 12, 13, 14, 15, 16}) {
    for (ccRounding_t rounding : {ccRoundNearest, ccRoundStochastic}) {
      ccCompressConfig_t cfg = MakeConfig(ccCodecSummable, ++key);
      cfg.bits = bits;
      cfg.rounding = rounding;
      cfg.blockSize = 128;
      std::vector<ccResult_t> res = AllRanks(comms, in, out, count, ccFloat32, ccSum, cfg);
      for (int r = 0; r < n; ++r) ASSERT_EQ(res[r], ccSuccess) << "bits " << bits << ": " << Msg(comms[r]);
      for (int r = 1; r < n; ++r) ASSERT_TRUE(out[r].SameBytes(out[0])) << "bits " << bits;
      std::vector<float> got = out[0].ToFloats();
      const double levels = std::ldexp(1.0, bits - 1) - 1;
      const double step = rounding == ccRoundNearest ? 0.5 : 1.0;
      for (size_t off = 0; off < count; off += cfg.blockSize) {
        size_t e = std::min(count, off + cfg.blockSize);
        double m = 0;
        for (int r = 0; r < n; ++r)
          for (size_t i = off; i < e; ++i) m = std::max(m, double(std::fabs(g[r][i])));
        for (size_t i = off; i < e; ++i) {
          double exact = 0, abs = 0;
          for (int r = 0; r < n; ++r) exact += g[r][i], abs += std::fabs(g[r][i]);
          ASSERT_LE(std::fabs(got[i] - exact), n * step * (m / levels) * (1 + 1e-5) + 4e-7 * abs)
              << "bits " << bits << " rounding " << rounding << " element " << i;
        }
      }
    }
  }
}

// A NaN or Inf on one rank poisons exactly its block (element, for fp16) of the sum on every rank; all
// other elements stay finite and accurate.
TEST(CompressedNonFinite, ContainedToTheBlock) {
  const int n = 3;
  const size_t count = 2000, B = 256;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  uint64_t key = 1;
  for (ccCodec_t codec : {ccCodecInt8, ccCodecInt4, ccCodecSummable, ccCodecFp16, ccCodecBf16}) {
    for (float bad : {NAN, INFINITY}) {
      std::vector<TypedBuf> in, out;
      std::vector<double> exact(count, 0.0);
      for (int r = 0; r < n; ++r) {
        in.emplace_back(ccFloat32, count);
        out.emplace_back(ccFloat32, count);
        std::vector<float> v = Gaussian(count, 808, r);
        if (r == 1) v[3 * B + 5] = bad;
        in.back().Fill(v);
        for (size_t i = 0; i < count; ++i) exact[i] += v[i];
      }
      ccCompressConfig_t cfg = MakeConfig(codec, ++key);
      std::vector<ccResult_t> res = AllRanks(comms, in, out, count, ccFloat32, ccSum, cfg);
      for (int r = 0; r < n; ++r) ASSERT_EQ(res[r], ccSuccess) << CodecName(codec) << ": " << Msg(comms[r]);
      for (int r = 1; r < n; ++r) ASSERT_TRUE(out[r].SameBytes(out[0])) << CodecName(codec);
      std::vector<float> got = out[0].ToFloats();
      const bool perElement = codec == ccCodecFp16 || codec == ccCodecBf16;
      double err = 0, den = 0;
      for (size_t i = 0; i < count; ++i) {
        bool poisoned = perElement ? i == 3 * B + 5 : i / B == 3;
        if (poisoned) {
          ASSERT_FALSE(std::isfinite(got[i])) << CodecName(codec) << " element " << i;
        } else {
          ASSERT_TRUE(std::isfinite(got[i])) << CodecName(codec) << " bad=" << bad << " leaked to element " << i;
          err += (got[i] - exact[i]) * (got[i] - exact[i]);
          den += exact[i] * exact[i];
        }
      }
      EXPECT_LT(err / den, codec == ccCodecInt4 ? 0.1 : 1e-3) << CodecName(codec);
    }
  }
}

// Regression: a block whose largest |x| is below about 127 * FLT_MIN has a subnormal scale whose
// reciprocal overflows; zeros used to come back as -max|x| of the block (int8, int4, summable).
TEST(CompressedNonFinite, TinyMagnitudeBlocksWithinBound) {
  const int n = 2;
  const size_t count = 64;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  uint64_t key = 50;
  for (ccCodec_t codec : {ccCodecInt8, ccCodecInt4, ccCodecSummable}) {
    std::vector<TypedBuf> in, out;
    for (int r = 0; r < n; ++r) {
      in.emplace_back(ccFloat32, count);
      out.emplace_back(ccFloat32, count);
      std::vector<float> v(count, 0.0f);
      v[r] = r == 0 ? 1e-38f : -2e-39f;
      in.back().Fill(v);
    }
    ccCompressConfig_t cfg = MakeConfig(codec, ++key);
    cfg.blockSize = 32;
    std::vector<ccResult_t> res = AllRanks(comms, in, out, count, ccFloat32, ccSum, cfg);
    for (int r = 0; r < n; ++r) ASSERT_EQ(res[r], ccSuccess) << Msg(comms[r]);
    std::vector<float> got = out[0].ToFloats();
    const double L = codec == ccCodecInt4 ? 7.0 : 127.0;
    for (size_t i = 2; i < count; ++i)  // exact sum 0: at most n half-steps of the block scale
      EXPECT_LE(std::fabs(got[i]), n * 0.5 * 1.2e-38 / L) << CodecName(codec) << " element " << i;
  }
}

// ---- in place, algorithm choice -------------------------------------------------------------------------

// sendbuff == recvbuff gives the same bits as separate buffers; algo ring agrees with auto; algo tree is
// bitwise identical on every rank, and equal to the ring for codecs that do not re-compress per hop
// (summable, random block and sign have one schedule each).
TEST(CompressedPlacement, InPlaceAndAlgoChoiceGiveSameBits) {
  const int n = 3;
  const size_t count = 5000;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  uint64_t key = 1;
  for (ccCodec_t codec : {ccCodecInt8, ccCodecFp16, ccCodecSummable, ccCodecRandBlock, ccCodecSign}) {
    for (ccDataType_t type : {ccFloat32, ccBfloat16}) {
      std::vector<TypedBuf> in, out, inplace;
      for (int r = 0; r < n; ++r) {
        in.emplace_back(type, count);
        out.emplace_back(type, count);
        in.back().Fill(Gaussian(count, 66, r));
        inplace.push_back(in.back());
      }
      ccCompressConfig_t cfg = MakeConfig(codec, ++key);
      std::vector<ccResult_t> res = AllRanks(comms, in, out, count, type, ccAvg, cfg);
      for (int r = 0; r < n; ++r) ASSERT_EQ(res[r], ccSuccess) << Msg(comms[r]);
      // The same key again (call #2 of the key): nearest rounding makes the result independent of the call
      // number, except for the random block, whose start is drawn per call.
      ccCompressConfig_t again = cfg;
      RunRanks(n, [&](int r) {
        res[r] = ccAllreduceCompressed(inplace[r].data(), inplace[r].data(), count, type, ccAvg, &again, comms[r],
                                       nullptr);
      });
      for (int r = 0; r < n; ++r) ASSERT_EQ(res[r], ccSuccess) << Msg(comms[r]);
      for (int r = 0; r < n; ++r) {
        if (codec == ccCodecRandBlock) {
          ASSERT_TRUE(inplace[r].SameBytes(inplace[0]));
        } else {
          ASSERT_TRUE(inplace[r].SameBytes(out[r])) << CodecName(codec) << " rank " << r << " in place differs";
        }
      }
      for (ccAlgo_t algo : {ccAlgoRing, ccAlgoTree}) {
        std::vector<TypedBuf> o2 = out;
        ccCompressConfig_t a = MakeConfig(codec, ++key);
        a.algo = algo;
        res = AllRanks(comms, in, o2, count, type, ccAvg, a);
        for (int r = 0; r < n; ++r) ASSERT_EQ(res[r], ccSuccess) << "algo " << algo << ": " << Msg(comms[r]);
        for (int r = 1; r < n; ++r) ASSERT_TRUE(o2[r].SameBytes(o2[0])) << "algo " << algo;
        bool recompresses = codec == ccCodecInt8 || codec == ccCodecFp16;
        if (codec != ccCodecRandBlock && !(algo == ccAlgoTree && recompresses)) {
          ASSERT_TRUE(o2[0].SameBytes(out[0])) << CodecName(codec) << " algo " << algo << " differs from auto";
        }
      }
    }
  }
}

// A residual key reused with another count is ccInvalidUsage with a message on every rank.
TEST(CompressedPlacement, ResidualKeyReusedWithAnotherCountIsInvalidUsage) {
  const int n = 2;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  std::vector<std::vector<float>> in(n, std::vector<float>(1000, 1.0f)), out(n, std::vector<float>(1000));
  ccCompressConfig_t cfg = MakeConfig(ccCodecInt8, 3);
  cfg.feedback = ccFeedbackEf;
  std::vector<ccResult_t> res(n);
  RunRanks(n, [&](int r) {
    res[r] = ccAllreduceCompressed(in[r].data(), out[r].data(), 1000, ccFloat32, ccSum, &cfg, comms[r], nullptr);
  });
  for (int r = 0; r < n; ++r) ASSERT_EQ(res[r], ccSuccess) << Msg(comms[r]);
  RunRanks(n, [&](int r) {
    res[r] = ccAllreduceCompressed(in[r].data(), out[r].data(), 500, ccFloat32, ccSum, &cfg, comms[r], nullptr);
  });
  comms.MarkBroken();
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(res[r], ccInvalidUsage) << "rank " << r;
    EXPECT_FALSE(Msg(comms[r]).empty());
  }
}

// ---- argument checks ---------------------------------------------------------------------------------

// A lossy codec with an integer/float64 type or a non-sum/avg op is ccInvalidArgument with a message,
// on every rank, before any communication; the communicator stays usable.
TEST(CompressedArguments, LossyCodecRejectsOtherTypesAndOps) {
  const int n = 2;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  const size_t count = 64;
  std::vector<uint8_t> sbuf(count * 8, 1), rbuf(count * 8, 0);
  for (ccCodec_t codec : {ccCodecFp16, ccCodecBf16, ccCodecInt8, ccCodecInt4, ccCodecRandBlock, ccCodecSummable,
                          ccCodecSign, ccCodecTopK}) {
    ccCompressConfig_t cfg = MakeConfig(codec, 5);
    for (ccDataType_t t : {ccInt32, ccInt8, ccUint64, ccFloat64}) {
      for (int r = 0; r < n; ++r) {
        EXPECT_EQ(ccAllreduceCompressed(sbuf.data(), rbuf.data(), count, t, ccSum, &cfg, comms[r], nullptr),
                  ccInvalidArgument)
            << CodecName(codec) << " type " << t;
        EXPECT_FALSE(Msg(comms[r]).empty()) << CodecName(codec) << " type " << t;
      }
    }
    for (ccRedOp_t op : {ccMax, ccMin, ccProd}) {
      for (int r = 0; r < n; ++r) {
        EXPECT_EQ(ccAllreduceCompressed(sbuf.data(), rbuf.data(), count, ccFloat32, op, &cfg, comms[r], nullptr),
                  ccInvalidArgument)
            << CodecName(codec) << " op " << op;
        EXPECT_FALSE(Msg(comms[r]).empty()) << CodecName(codec) << " op " << op;
      }
    }
  }
  // Invalid configurations.
  auto expectInvalid = [&](const ccCompressConfig_t& cfg, const char* what) {
    EXPECT_EQ(ccAllreduceCompressed(sbuf.data(), rbuf.data(), count, ccFloat32, ccSum, &cfg, comms[0], nullptr),
              ccInvalidArgument)
        << what;
    EXPECT_FALSE(Msg(comms[0]).empty()) << what;
  };
  ccCompressConfig_t c = MakeConfig(ccCodecInt8);
  c.blockSize = 16;
  expectInvalid(c, "blockSize 16");
  c = MakeConfig(ccCodecInt8);
  c.blockSize = 8192;
  expectInvalid(c, "blockSize 8192");
  c = MakeConfig(ccCodecRandBlock);
  c.ratio = 0.0f;
  expectInvalid(c, "ratio 0");
  c.ratio = 1.5f;
  expectInvalid(c, "ratio 1.5");
  c = MakeConfig(ccCodecSummable);
  c.bits = 1;
  expectInvalid(c, "summable bits 1");
  c = MakeConfig(ccCodecInt8);
  c.magic = 0;
  expectInvalid(c, "uninitialised config");
  c = MakeConfig(static_cast<ccCodec_t>(42));
  expectInvalid(c, "unknown codec");
  c = MakeConfig(ccCodecInt8);
  c.feedback = ccFeedbackConef;
  c.beta = 1.0f;
  expectInvalid(c, "beta 1");
  EXPECT_EQ(ccAllreduceCompressed(nullptr, rbuf.data(), count, ccFloat32, ccSum, nullptr, comms[0], nullptr),
            ccInvalidArgument);
  EXPECT_EQ(ccCompressConfigInit(nullptr), ccInvalidArgument);

  // Still usable: a valid call succeeds on both ranks.
  std::vector<std::vector<float>> in(n, std::vector<float>(count, 1.0f)), out(n, std::vector<float>(count));
  ccCompressConfig_t ok = MakeConfig(ccCodecInt8, 9);
  std::vector<ccResult_t> res(n);
  RunRanks(n, [&](int r) {
    res[r] = ccAllreduceCompressed(in[r].data(), out[r].data(), count, ccFloat32, ccSum, &ok, comms[r], nullptr);
  });
  for (int r = 0; r < n; ++r) {
    ASSERT_EQ(res[r], ccSuccess) << Msg(comms[r]);
    EXPECT_EQ(out[r][0], 2.0f);
  }
}

// Codec none is exact for every type and op: bitwise equal to ccAllReduce on the same inputs.
TEST(CompressedArguments, CodecNoneEqualsAllReduceForEveryTypeAndOp) {
  const int n = 3;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  const size_t count = 1001;
  const std::vector<std::pair<ccDataType_t, size_t>> types = {{ccInt32, 4}, {ccInt8, 1},    {ccUint64, 8},
                                                              {ccFloat64, 8}, {ccFloat32, 4}, {ccFloat16, 2}};
  for (auto [type, es] : types) {
    for (ccRedOp_t op : {ccSum, ccMax, ccMin, ccProd, ccAvg}) {
      std::vector<std::vector<uint8_t>> in(n), a(n), b(n);
      for (int r = 0; r < n; ++r) {
        in[r].resize(count * es);
        for (size_t i = 0; i < in[r].size(); ++i) in[r][i] = static_cast<uint8_t>((i * 37 + r * 11) % 61);
        if (type == ccFloat16)  // small finite halfs
          for (size_t i = 0; i < count; ++i) {
            uint16_t h = FloatToHalfRef(float((i + r) % 13) * 0.25f - 1.0f);
            std::memcpy(in[r].data() + 2 * i, &h, 2);
          }
        a[r].assign(count * es, 0);
        b[r].assign(count * es, 1);
      }
      ccCompressConfig_t cfg = MakeConfig(ccCodecNone, 3);
      cfg.feedback = ccFeedbackEf;
      std::vector<ccResult_t> ra(n), rb(n);
      RunRanks(n, [&](int r) {
        ra[r] = ccAllReduce(in[r].data(), a[r].data(), count, type, op, comms[r], nullptr);
        rb[r] = ccAllreduceCompressed(in[r].data(), b[r].data(), count, type, op, &cfg, comms[r], nullptr);
      });
      for (int r = 0; r < n; ++r) {
        ASSERT_EQ(rb[r], ra[r]) << "type " << type << " op " << op << ": " << Msg(comms[r]);
        if (ra[r] == ccSuccess) {
          ASSERT_EQ(a[r], b[r]) << "type " << type << " op " << op << " rank " << r;
        }
      }
    }
  }
  for (int r = 0; r < n; ++r) {
    size_t bytes = 1;
    ASSERT_EQ(ccCommResidualBytes(comms[r], 0, &bytes), ccSuccess);
    EXPECT_EQ(bytes, 0u) << "codec none keeps no residual";
  }
}

// Regression: with config->key == 0 the residual key comes from the send buffer's address, which
// differs across ranks; it must stay out of the cross-rank parameter check and the shared random stream.
TEST(CompressedArguments, DefaultConfigWorksAcrossRanks) {
  const int n = 2;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  const size_t count = 1000;
  std::vector<std::vector<float>> in(n, std::vector<float>(count, 1.5f)), out(n, std::vector<float>(count));
  std::vector<ccResult_t> res(n);
  RunRanks(n, [&](int r) {
    res[r] = ccAllreduceCompressed(in[r].data(), out[r].data(), count, ccFloat32, ccSum, nullptr, comms[r], nullptr);
  });
  for (int r = 0; r < n; ++r) {
    if (res[r] != ccSuccess) comms.MarkBroken();
    EXPECT_EQ(res[r], ccSuccess) << "rank " << r << ": " << Msg(comms[r]);
  }
  if (res[0] == ccSuccess) {
    EXPECT_EQ(out[0][0], 3.0f);
  }
}

}  // namespace
