// compress_feedback_test.cc — error feedback kept in the communicator (DESIGN.md "Error feedback lives in
// the communicator"; reference/seed-algorithms.md section 7): identity codec, residual = input - transmitted,
// conservation, warm-up and small-call bypass, ConEF memory, determinism, mismatch detection,
// save/load, error averaging, telemetry and the CONCCL_RESIDUAL_MAX_BYTES cap.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "compress_test_util.h"

namespace {

using namespace cctest;

// Every rank runs one float32 call: in[r] -> out[r]. Asserts success on all ranks.
void Call(Comms& comms, std::vector<std::vector<float>>& in, std::vector<std::vector<float>>& out,
          const ccCompressConfig_t& cfg, ccRedOp_t op = ccSum) {
  const int n = comms.size();
  std::vector<ccResult_t> res(n);
  RunRanks(n, [&](int r) {
    res[r] = ccAllreduceCompressed(in[r].data(), out[r].data(), in[r].size(), ccFloat32, op, &cfg, comms[r], nullptr);
  });
  for (int r = 0; r < n; ++r) {
    if (res[r] != ccSuccess) comms.MarkBroken();
    ASSERT_EQ(res[r], ccSuccess) << "rank " << r << ": " << Msg(comms[r]);
  }
}

// Plain ccAllReduce on every rank.
void Exact(Comms& comms, std::vector<std::vector<float>>& in, std::vector<std::vector<float>>& out,
           ccRedOp_t op = ccSum) {
  const int n = comms.size();
  std::vector<ccResult_t> res(n);
  RunRanks(n, [&](int r) {
    res[r] = ccAllReduce(in[r].data(), out[r].data(), in[r].size(), ccFloat32, op, comms[r], nullptr);
  });
  for (int r = 0; r < n; ++r) ASSERT_EQ(res[r], ccSuccess) << "rank " << r << ": " << Msg(comms[r]);
}

std::vector<std::vector<float>> Inputs(int n, size_t count, uint64_t seed) {
  std::vector<std::vector<float>> v;
  for (int r = 0; r < n; ++r) v.push_back(Gaussian(count, seed, r));
  return v;
}

std::vector<float> Residual(ccComm_t comm, uint64_t key, size_t count) {
  std::vector<float> e(count, -1.0f);
  ccResult_t r = ccCommGetResidual(comm, key, e.data(), count);
  EXPECT_EQ(r, ccSuccess) << Msg(comm);
  return e;
}

size_t ResidualBytes(ccComm_t comm, uint64_t key) {
  size_t b = 12345;
  EXPECT_EQ(ccCommResidualBytes(comm, key, &b), ccSuccess) << Msg(comm);
  return b;
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// (a) Identity codec => plain all-reduce, and no residual is ever kept (invariant 1).
TEST(ErrorFeedback, CodecNoneIsAllReduceAndKeepsNoResidual) {
  const int n = 3;
  const size_t count = 5000;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  for (ccFeedback_t fb : {ccFeedbackNone, ccFeedbackEf, ccFeedbackEf2, ccFeedbackConef}) {
    ccCompressConfig_t cfg = MakeConfig(ccCodecNone, 10 + fb);
    cfg.feedback = fb;
    for (int call = 0; call < 3; ++call) {
      auto in = Inputs(n, count, 7 * call + fb);
      std::vector<std::vector<float>> a(n, std::vector<float>(count)), b = a;
      Exact(comms, in, a, ccAvg);
      Call(comms, in, b, cfg, ccAvg);
      for (int r = 0; r < n; ++r) ASSERT_TRUE(BitEqual(a[r], b[r])) << "feedback " << fb << " rank " << r;
    }
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(ResidualBytes(comms[r], 0), 0u);
      std::vector<float> e(count);
      EXPECT_EQ(ccCommGetResidual(comms[r], cfg.key, e.data(), count), ccInvalidUsage);
    }
  }
}

// (b) One rank, ef: after every call, output + residual == the compensated input p = g + e_prev, bit for bit
// (invariant 10; on the first call p = g).
TEST(ErrorFeedback, OutputPlusResidualIsInputExactlyOnOneRank) {
  Comms comms;
  ASSERT_EQ(comms.Init(1), ccSuccess);
  const size_t count = 4099;
  for (ccCodec_t codec : {ccCodecInt8, ccCodecRandBlock, ccCodecInt4, ccCodecSummable}) {
    ccCompressConfig_t cfg = MakeConfig(codec, 100 + codec);
    cfg.feedback = ccFeedbackEf;
    cfg.ratio = 0.1f;
    std::vector<float> ePrev(count, 0.0f);
    for (int call = 0; call < 6; ++call) {
      std::vector<std::vector<float>> in = Inputs(1, count, 31 + call), out(1, std::vector<float>(count));
      Call(comms, in, out, cfg);
      std::vector<float> e = Residual(comms[0], cfg.key, count);
      for (size_t i = 0; i < count; ++i) {
        float p = in[0][i] + ePrev[i];  // the library's p = g + e, in float32
        ASSERT_EQ(out[0][i] + e[i], p) << CodecName(codec) << " call " << call << " element " << i;
      }
      if (codec == ccCodecRandBlock) {  // residual is exactly p off the block and 0 on it
        size_t zeros = std::count(e.begin(), e.end(), 0.0f);
        EXPECT_EQ(zeros, size_t(0.1f * count));
      }
      ePrev = e;
    }
    // The residual has the key's count; another count is ccInvalidUsage.
    std::vector<float> wrong(count + 1);
    EXPECT_EQ(ccCommGetResidual(comms[0], cfg.key, wrong.data(), count + 1), ccInvalidUsage);
    EXPECT_FALSE(Msg(comms[0]).empty());
  }
  std::vector<float> e(count);
  EXPECT_EQ(ccCommGetResidual(comms[0], 987654321, e.data(), count), ccInvalidUsage);
}

// (c) Conservation (invariant 3, gradient-level form) on 4 ranks with the avg op: for codecs whose outputs
// are exactly the mean of what each rank transmitted, sum_t out_t + mean_k e_k == sum_t mean_k g_{t,k}.
TEST(ErrorFeedback, ConservationOverManyCalls) {
  const int n = 4;
  const size_t count = 4096;
  const int calls = 40;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  for (ccCodec_t codec : {ccCodecRandBlock, ccCodecSummable, ccCodecTopK, ccCodecSign}) {
    ccCompressConfig_t cfg = MakeConfig(codec, 200 + codec);
    cfg.feedback = ccFeedbackEf;
    cfg.ratio = 1.0f / 16;
    std::vector<double> sumOut(count, 0.0), sumIn(count, 0.0);
    for (int t = 0; t < calls; ++t) {
      auto in = Inputs(n, count, 1000 + t);
      std::vector<std::vector<float>> out(n, std::vector<float>(count));
      Call(comms, in, out, cfg, ccAvg);
      for (int r = 1; r < n; ++r) ASSERT_TRUE(BitEqual(out[r], out[0]));
      for (size_t i = 0; i < count; ++i) {
        sumOut[i] += out[0][i];
        for (int r = 0; r < n; ++r) sumIn[i] += double(in[r][i]) / n;
      }
    }
    std::vector<double> lhs = sumOut;
    for (int r = 0; r < n; ++r) {
      std::vector<float> e = Residual(comms[r], cfg.key, count);
      for (size_t i = 0; i < count; ++i) lhs[i] += double(e[i]) / n;
    }
    double num = 0, den = 0;
    for (size_t i = 0; i < count; ++i) num += (lhs[i] - sumIn[i]) * (lhs[i] - sumIn[i]), den += sumIn[i] * sumIn[i];
    EXPECT_LT(std::sqrt(num / den), 1e-5) << CodecName(codec);
    // The residual is not trivially zero: the identity is not vacuous.
    ccCompressStats_t st;
    ASSERT_EQ(ccCommGetCompressStats(comms[0], cfg.key, &st), ccSuccess);
    EXPECT_GT(st.residualNorm, 0.0) << CodecName(codec);
  }
}

// (d) Warm-up: the first warmupCalls calls per key are exact and create no residual; then compression
// starts. minCount above the count: exact and no residual.
TEST(ErrorFeedback, WarmupAndMinCountBypassAreExact) {
  const int n = 2;
  const size_t count = 3000;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  ccCompressConfig_t cfg = MakeConfig(ccCodecInt8, 300);
  cfg.feedback = ccFeedbackEf;
  cfg.warmupCalls = 3;
  for (int call = 0; call < 5; ++call) {
    auto in = Inputs(n, count, 50 + call);
    std::vector<std::vector<float>> a(n, std::vector<float>(count)), b = a;
    Exact(comms, in, a);
    Call(comms, in, b, cfg);
    for (int r = 0; r < n; ++r) {
      if (call < 3) {
        EXPECT_TRUE(BitEqual(a[r], b[r])) << "warm-up call " << call << " must be exact";
        EXPECT_EQ(ResidualBytes(comms[r], 0), 0u) << "no residual during warm-up (call " << call << ")";
      } else {
        EXPECT_FALSE(BitEqual(a[r], b[r])) << "call " << call << " should be compressed";
        EXPECT_GE(ResidualBytes(comms[r], cfg.key), count * sizeof(float)) << "call " << call;
      }
    }
  }
  ccCompressStats_t st;
  ASSERT_EQ(ccCommGetCompressStats(comms[0], cfg.key, &st), ccSuccess);
  EXPECT_EQ(st.calls, 2u) << "warm-up calls are not compressed calls";

  ccCompressConfig_t small = MakeConfig(ccCodecInt4, 301);
  small.feedback = ccFeedbackEf;
  small.minCount = count + 1;
  for (int call = 0; call < 2; ++call) {
    auto in = Inputs(n, count, 60 + call);
    std::vector<std::vector<float>> a(n, std::vector<float>(count)), b = a;
    Exact(comms, in, a);
    Call(comms, in, b, small);
    for (int r = 0; r < n; ++r) {
      EXPECT_TRUE(BitEqual(a[r], b[r])) << "count < minCount must be exact";
      EXPECT_EQ(ResidualBytes(comms[r], small.key), 0u);
    }
  }
}

// (e) ConEF memory, measured from the allocator: int8 <= 0.27x ef, int4 <= 0.15x, sketch 0.2 fp16 <= 0.15x
// (fp32 sketch <= 0.25x), for the same count.
TEST(ErrorFeedback, ConefResidualMemoryRelativeToEf) {
  Comms comms;
  ASSERT_EQ(comms.Init(1), ccSuccess);
  const size_t count = 100000;
  std::vector<std::vector<float>> in = Inputs(1, count, 5), out(1, std::vector<float>(count));
  auto run = [&](uint64_t key, ccFeedback_t fb, ccResidualCodec_t rc, int fp16) {
    ccCompressConfig_t cfg = MakeConfig(ccCodecRandBlock, key);
    cfg.feedback = fb;
    cfg.residualCodec = rc;
    cfg.residualFp16 = fp16;
    cfg.sketchSize = 0.2f;
    Call(comms, in, out, cfg);
    return ResidualBytes(comms[0], key);
  };
  size_t ef = run(1, ccFeedbackEf, ccResidualInt8, 0);
  size_t i8 = run(2, ccFeedbackConef, ccResidualInt8, 0);
  size_t i4 = run(3, ccFeedbackConef, ccResidualInt4, 0);
  size_t sk16 = run(4, ccFeedbackConef, ccResidualSketch, 1);
  size_t sk32 = run(5, ccFeedbackConef, ccResidualSketch, 0);
  EXPECT_GE(ef, count * sizeof(float));
  EXPECT_LE(double(i8), 0.27 * ef);
  EXPECT_LE(double(i4), 0.15 * ef);
  EXPECT_LE(double(sk16), 0.15 * ef);
  EXPECT_LE(double(sk32), 0.25 * ef);
  EXPECT_GT(i8, 0u);
  EXPECT_GT(i4, 0u);
  EXPECT_GT(sk16, 0u);
  EXPECT_EQ(ResidualBytes(comms[0], 0), ef + i8 + i4 + sk16 + sk32) << "key 0 = total over keys";
  printf("[ residual bytes, count %zu ] ef %zu  conef-int8 %zu (%.3fx)  conef-int4 %zu (%.3fx)  sketch0.2-fp16 %zu "
         "(%.3fx)  sketch0.2-fp32 %zu (%.3fx)\n",
         count, ef, i8, double(i8) / ef, i4, double(i4) / ef, sk16, double(sk16) / ef, sk32, double(sk32) / ef);
}

// (f) Same seeds => bitwise identical runs (invariant 14): two communicator sets, same inputs, stochastic
// rounding with feedback; a third set with another seed gives other bits.
TEST(ErrorFeedback, SameSeedsGiveBitwiseIdenticalRuns) {
  const int n = 3;
  const size_t count = 5000;
  Comms a, b, c;
  ASSERT_EQ(a.Init(n), ccSuccess);
  ASSERT_EQ(b.Init(n), ccSuccess);
  ASSERT_EQ(c.Init(n), ccSuccess);
  for (ccCodec_t codec : {ccCodecInt8, ccCodecSummable, ccCodecRandBlock}) {
    ccCompressConfig_t cfg = MakeConfig(codec, 400 + codec);
    cfg.rounding = ccRoundStochastic;
    cfg.feedback = ccFeedbackEf;
    cfg.seed = 1234;
    ccCompressConfig_t other = cfg;
    other.seed = 999;
    bool anyDiff = false;
    for (int call = 0; call < 5; ++call) {
      auto in = Inputs(n, count, 70 + call);
      std::vector<std::vector<float>> oa(n, std::vector<float>(count)), ob = oa, oc = oa;
      Call(a, in, oa, cfg);
      Call(b, in, ob, cfg);
      Call(c, in, oc, other);
      for (int r = 0; r < n; ++r)
        ASSERT_TRUE(BitEqual(oa[r], ob[r])) << CodecName(codec) << " call " << call << " rank " << r;
      anyDiff |= !BitEqual(oa[0], oc[0]);
    }
    EXPECT_TRUE(anyDiff) << CodecName(codec) << ": the seed should change the random choices";
    for (int r = 0; r < n; ++r)
      EXPECT_TRUE(BitEqual(Residual(a[r], cfg.key, count), Residual(b[r], cfg.key, count))) << CodecName(codec);
  }
}

// (g) A rank whose call differs (seed, block size, codec, ratio, feedback, count) makes every rank fail with
// ccInvalidUsage or ccRemoteError promptly, without a hang; then every comm is aborted.
TEST(ErrorFeedback, MismatchedRankFailsEveryRankWithoutHang) {
  const int n = 4;
  const size_t count = 2048;
  struct Variant {
    const char* what;
    void (*change)(ccCompressConfig_t*, size_t*);
  };
  const std::vector<Variant> variants = {
      {"seed", [](ccCompressConfig_t* c, size_t*) { c->seed = 43; }},
      {"blockSize", [](ccCompressConfig_t* c, size_t*) { c->blockSize = 128; }},
      {"codec", [](ccCompressConfig_t* c, size_t*) { c->codec = ccCodecInt4; }},
      {"ratio", [](ccCompressConfig_t* c, size_t*) { c->ratio = 0.5f; }},
      {"feedback", [](ccCompressConfig_t* c, size_t*) { c->feedback = ccFeedbackNone; }},
      {"key", [](ccCompressConfig_t* c, size_t*) { c->key = 77; }},
      {"count", [](ccCompressConfig_t*, size_t* k) { *k = 2048 - 256; }},
  };
  for (const Variant& v : variants) {
    for (int odd : {1, 3}) {
      Comms comms;
      ASSERT_EQ(comms.Init(n, "local", /*timeoutMs=*/20000), ccSuccess);
      // One good call first, so the mismatch happens on a used communicator with residuals.
      ccCompressConfig_t base = MakeConfig(ccCodecInt8, 500);
      base.feedback = ccFeedbackEf;
      auto in = Inputs(n, count, 3);
      std::vector<std::vector<float>> out(n, std::vector<float>(count));
      Call(comms, in, out, base);
      std::vector<ccResult_t> res(n);
      auto t0 = std::chrono::steady_clock::now();
      RunRanks(n, [&](int r) {
        ccCompressConfig_t c = base;
        size_t k = count;
        if (r == odd) v.change(&c, &k);
        res[r] = ccAllreduceCompressed(in[r].data(), out[r].data(), k, ccFloat32, ccSum, &c, comms[r], nullptr);
      });
      double took = Since(t0);
      comms.MarkBroken();  // Release() aborts every comm
      for (int r = 0; r < n; ++r) {
        EXPECT_TRUE(res[r] == ccInvalidUsage || res[r] == ccRemoteError)
            << v.what << " differs on rank " << odd << "; rank " << r << " returned " << res[r] << ": " << Msg(comms[r]);
        EXPECT_FALSE(Msg(comms[r]).empty()) << v.what << " rank " << r;
      }
      EXPECT_LT(took, 10.0) << v.what << ": detection must not wait for a timeout";
    }
  }
}

// (h) Save / load: the image round-trips bit for bit, a loaded communicator continues exactly like one that
// never reset, and malformed or foreign images are ccInvalidUsage and change nothing.
TEST(ErrorFeedback, SaveLoadRoundTripAndRejectsBadImages) {
  const int n = 2;
  const size_t count = 3000;
  Comms comms, control, single;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  ASSERT_EQ(control.Init(n), ccSuccess);
  ASSERT_EQ(single.Init(1), ccSuccess);
  std::vector<ccCompressConfig_t> cfgs;
  for (int i = 0; i < 4; ++i) {
    ccCompressConfig_t c = MakeConfig(i == 3 ? ccCodecRandBlock : ccCodecInt8, 600 + i);
    c.feedback = i == 0 ? ccFeedbackEf : i == 1 ? ccFeedbackEf2 : ccFeedbackConef;
    c.residualCodec = i == 3 ? ccResidualSketch : ccResidualInt4;
    c.residualFp16 = 1;
    cfgs.push_back(c);
  }
  for (int call = 0; call < 3; ++call)
    for (const auto& c : cfgs) {
      auto in = Inputs(n, count, 80 + call);
      std::vector<std::vector<float>> o1(n, std::vector<float>(count)), o2 = o1;
      Call(comms, in, o1, c);
      Call(control, in, o2, c);
    }
  auto save = [](ccComm_t comm) {
    size_t size = 0;
    EXPECT_EQ(ccCommSaveResiduals(comm, nullptr, &size), ccSuccess) << Msg(comm);
    std::vector<uint8_t> img(size);
    size_t wrote = size;
    EXPECT_EQ(ccCommSaveResiduals(comm, img.data(), &wrote), ccSuccess) << Msg(comm);
    EXPECT_EQ(wrote, size);
    img.resize(wrote);
    return img;
  };
  std::vector<std::vector<uint8_t>> img(n);
  for (int r = 0; r < n; ++r) {
    img[r] = save(comms[r]);
    ASSERT_GT(img[r].size(), 0u);
    // Too small a buffer is an error, not an overflow.
    std::vector<uint8_t> small(img[r].size() - 1);
    size_t cap = small.size();
    EXPECT_NE(ccCommSaveResiduals(comms[r], small.data(), &cap), ccSuccess);
  }
  // Reset, load, save again: bit-exact.
  for (int r = 0; r < n; ++r) {
    ASSERT_EQ(ccCommResetResiduals(comms[r]), ccSuccess);
    EXPECT_EQ(ResidualBytes(comms[r], 0), 0u);
    ASSERT_EQ(ccCommLoadResiduals(comms[r], img[r].data(), img[r].size()), ccSuccess) << Msg(comms[r]);
    std::vector<uint8_t> again = save(comms[r]);
    EXPECT_EQ(again, img[r]) << "rank " << r << ": save(load(image)) differs from image";
    EXPECT_EQ(ResidualBytes(comms[r], 0), ResidualBytes(control[r], 0));
  }
  // The next call gives what it gives without the reset (every feedback mode).
  for (const auto& c : cfgs) {
    auto in = Inputs(n, count, 90);
    std::vector<std::vector<float>> o1(n, std::vector<float>(count)), o2 = o1;
    Call(comms, in, o1, c);
    Call(control, in, o2, c);
    for (int r = 0; r < n; ++r) EXPECT_TRUE(BitEqual(o1[r], o2[r])) << "key " << c.key << " rank " << r;
  }

  // Malformed images change nothing.
  for (int r = 0; r < n; ++r) img[r] = save(comms[r]);
  auto expectRejected = [&](int r, const std::vector<uint8_t>& bad, const char* what) {
    EXPECT_EQ(ccCommLoadResiduals(comms[r], bad.data(), bad.size()), ccInvalidUsage) << what;
    EXPECT_FALSE(Msg(comms[r]).empty()) << what;
    EXPECT_EQ(save(comms[r]), img[r]) << what << ": residuals changed by a rejected load";
  };
  for (int r = 0; r < n; ++r) {
    std::vector<uint8_t> bad = img[r];
    bad[0] ^= 0xff;
    expectRejected(r, bad, "flipped magic");
    bad = img[r];
    bad.pop_back();
    expectRejected(r, bad, "truncated by one byte");
    bad = img[r];
    bad.resize(bad.size() / 2);
    expectRejected(r, bad, "truncated by half");
    bad = img[r];
    bad.push_back(0);
    expectRejected(r, bad, "one trailing byte");
    expectRejected(r, img[1 - r], "image saved by the other rank");
    EXPECT_EQ(ccCommLoadResiduals(comms[r], nullptr, 0), ccInvalidUsage);
    EXPECT_EQ(save(comms[r]), img[r]);
  }
  // Stored rank changed in place: the image header is {u32 magic, u32 version, i32 rank, i32 nranks, ...}.
  {
    std::vector<uint8_t> bad = img[0];
    int32_t rank;
    std::memcpy(&rank, bad.data() + 8, 4);
    ASSERT_EQ(rank, 0) << "image layout changed; update this test";
    rank = 1;
    std::memcpy(bad.data() + 8, &rank, 4);
    expectRejected(0, bad, "stored rank changed to 1");
    rank = 7;
    std::memcpy(bad.data() + 8, &rank, 4);
    expectRejected(0, bad, "stored rank changed to 7");
  }
  // An image from a 1-rank communicator is refused by rank 0 of 2.
  {
    auto in = Inputs(1, count, 1);
    std::vector<std::vector<float>> o(1, std::vector<float>(count));
    Call(single, in, o, cfgs[0]);
    expectRejected(0, save(single[0]), "image of a communicator of another size");
  }
}

// Flipping any one bit of an image's header bytes never crashes: the load succeeds or is ccInvalidUsage,
// and a refused load changes nothing.
// Regression: a flipped bit in a key's stored count must be refused before anything is allocated (no
// size read from an image is trusted before it is checked against the bytes that remain).
TEST(ErrorFeedback, LoadSurvivesBitFlipsInTheImage) {
  const size_t count = 3000;
  Comms comms;
  ASSERT_EQ(comms.Init(1), ccSuccess);
  for (int i = 0; i < 3; ++i) {
    ccCompressConfig_t c = MakeConfig(ccCodecInt8, 650 + i);
    c.feedback = i == 0 ? ccFeedbackEf : i == 1 ? ccFeedbackEf2 : ccFeedbackConef;
    c.residualCodec = ccResidualSketch;
    auto in = Inputs(1, count, 5);
    std::vector<std::vector<float>> out(1, std::vector<float>(count));
    Call(comms, in, out, c);
  }
  size_t size = 0;
  ASSERT_EQ(ccCommSaveResiduals(comms[0], nullptr, &size), ccSuccess);
  std::vector<uint8_t> img(size);
  ASSERT_EQ(ccCommSaveResiduals(comms[0], img.data(), &size), ccSuccess);
  // The image header and the first key's header (the payloads follow).
  for (size_t pos = 0; pos < std::min<size_t>(img.size(), 24 + 64); ++pos) {
    for (int bit : {0, 3, 7}) {
      std::vector<uint8_t> bad = img;
      bad[pos] ^= static_cast<uint8_t>(1u << bit);
      ccResult_t res = ccCommLoadResiduals(comms[0], bad.data(), bad.size());
      ASSERT_TRUE(res == ccSuccess || res == ccInvalidUsage) << "byte " << pos << " bit " << bit << ": " << res;
      if (res == ccInvalidUsage) {
        size_t s2 = 0;
        ASSERT_EQ(ccCommSaveResiduals(comms[0], nullptr, &s2), ccSuccess);
        std::vector<uint8_t> now(s2);
        ASSERT_EQ(ccCommSaveResiduals(comms[0], now.data(), &s2), ccSuccess);
        ASSERT_EQ(now, img) << "byte " << pos << " bit " << bit << ": a refused load changed the residuals";
      }
      ASSERT_EQ(ccCommLoadResiduals(comms[0], img.data(), img.size()), ccSuccess);
    }
  }
}

// (i) Error averaging (invariant 5): after ccCommAverageResiduals every rank holds the same residual and
// their mean is unchanged (ef: to float32 rounding; conef int8: to its quantization step).
TEST(ErrorFeedback, AverageResidualsEqualizesAndPreservesMean) {
  const int n = 3;
  const size_t count = 4099;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  ccCompressConfig_t ef = MakeConfig(ccCodecInt8, 700);
  ef.feedback = ccFeedbackEf;
  ccCompressConfig_t conef = MakeConfig(ccCodecRandBlock, 701);
  conef.feedback = ccFeedbackConef;
  conef.residualCodec = ccResidualInt8;
  for (int call = 0; call < 3; ++call)
    for (auto* c : {&ef, &conef}) {
      auto in = Inputs(n, count, 110 + call);
      std::vector<std::vector<float>> out(n, std::vector<float>(count));
      Call(comms, in, out, *c);
    }
  std::vector<std::vector<std::vector<float>>> before(2);
  for (int k = 0; k < 2; ++k)
    for (int r = 0; r < n; ++r) before[k].push_back(Residual(comms[r], k == 0 ? ef.key : conef.key, count));
  for (int k = 0; k < 2; ++k) ASSERT_FALSE(BitEqual(before[k][0], before[k][1])) << "residuals should differ before";

  std::vector<ccResult_t> res(n);
  RunRanks(n, [&](int r) { res[r] = ccCommAverageResiduals(comms[r]); });
  for (int r = 0; r < n; ++r) ASSERT_EQ(res[r], ccSuccess) << Msg(comms[r]);

  for (int k = 0; k < 2; ++k) {
    uint64_t key = k == 0 ? ef.key : conef.key;
    std::vector<std::vector<float>> after(n);
    for (int r = 0; r < n; ++r) after[r] = Residual(comms[r], key, count);
    for (int r = 1; r < n; ++r) EXPECT_TRUE(BitEqual(after[r], after[0])) << "key " << key << " rank " << r;
    for (size_t i = 0; i < count; ++i) {
      double mean = 0, absMax = 0;
      for (int r = 0; r < n; ++r) mean += double(before[k][r][i]) / n, absMax = std::max(absMax, double(std::fabs(before[k][r][i])));
      if (k == 0) {
        ASSERT_NEAR(after[0][i], mean, 4 * std::ldexp(1.0, -24) * n * absMax + 1e-30) << "ef element " << i;
      } else {
        // Re-quantized to int8 with the block's scale: within half a step of the block maximum (<= absMax/127
        // per element is loose enough for any block).
        size_t off = i / 256 * 256;
        double blockMax = 0;
        for (size_t j = off; j < std::min(count, off + 256); ++j) {
          double m = 0;
          for (int r = 0; r < n; ++r) m += double(before[k][r][j]) / n;
          blockMax = std::max(blockMax, std::fabs(m));
        }
        ASSERT_NEAR(after[0][i], mean, 0.5 * blockMax / 127 * 1.01 + 1e-6 * blockMax) << "conef element " << i;
      }
    }
  }

  // Ranks holding different keys: the averaging call fails on every rank (checked), it does not hang.
  ASSERT_EQ(ccCommResetResiduals(comms[1]), ccSuccess);
  auto t0 = std::chrono::steady_clock::now();
  RunRanks(n, [&](int r) { res[r] = ccCommAverageResiduals(comms[r]); });
  comms.MarkBroken();
  for (int r = 0; r < n; ++r)
    EXPECT_TRUE(res[r] == ccInvalidUsage || res[r] == ccRemoteError) << "rank " << r << ": " << res[r];
  EXPECT_LT(Since(t0), 10.0);
}

// (j) Telemetry: calls counts compressed calls; bytesIn is the input size; bytesWire matches the int8 ring's
// traffic 2(n-1)/n * (count + 4 count/blockSize) per call (plus headers) within 10%; nmse >= 0 with feedback.
TEST(ErrorFeedback, CompressStatsMatchTheWireFormat) {
  const int n = 4;
  const size_t count = 65536;
  const int calls = 3;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  ccCompressConfig_t cfg = MakeConfig(ccCodecInt8, 800);
  cfg.feedback = ccFeedbackEf;
  for (int c = 0; c < calls; ++c) {
    auto in = Inputs(n, count, 120 + c);
    std::vector<std::vector<float>> out(n, std::vector<float>(count));
    Call(comms, in, out, cfg);
  }
  ccCompressConfig_t fp16 = MakeConfig(ccCodecFp16, 801);
  {
    auto in = Inputs(n, count, 130);
    std::vector<std::vector<float>> out(n, std::vector<float>(count));
    Call(comms, in, out, fp16);
  }
  const double expectPerCall = 2.0 * (n - 1) / n * (count + 4.0 * count / cfg.blockSize);
  for (int r = 0; r < n; ++r) {
    ccCompressStats_t st;
    ASSERT_EQ(ccCommGetCompressStats(comms[r], cfg.key, &st), ccSuccess) << Msg(comms[r]);
    EXPECT_EQ(st.calls, uint64_t(calls));
    EXPECT_EQ(st.bytesIn, uint64_t(calls) * count * sizeof(float));
    EXPECT_NEAR(double(st.bytesWire), calls * expectPerCall, 0.10 * calls * expectPerCall) << "rank " << r;
    EXPECT_GE(st.bytesWire, uint64_t(calls * expectPerCall)) << "headers come on top of the payload";
    EXPECT_GE(st.nmse, 0.0);
    EXPECT_LT(st.nmse, 1e-3) << "int8 on gaussian data";
    EXPECT_GT(st.residualNorm, 0.0);
    if (r == 0)
      printf("[ stats ] int8, %d ranks, count %zu: bytesIn %llu bytesWire %llu (ratio %.4f, expected %.4f) nmse %.3g\n",
             n, count, (unsigned long long)st.bytesIn, (unsigned long long)st.bytesWire,
             double(st.bytesWire) / st.bytesIn, expectPerCall * calls / st.bytesIn, st.nmse);

    ccCompressStats_t half;
    ASSERT_EQ(ccCommGetCompressStats(comms[r], fp16.key, &half), ccSuccess);
    EXPECT_EQ(half.calls, 1u);
    const double fp16Wire = 2.0 * (n - 1) / n * 2.0 * count;
    EXPECT_NEAR(double(half.bytesWire), fp16Wire, 0.10 * fp16Wire);

    ccCompressStats_t total;
    ASSERT_EQ(ccCommGetCompressStats(comms[r], 0, &total), ccSuccess);
    EXPECT_EQ(total.calls, st.calls + half.calls);
    EXPECT_EQ(total.bytesIn, st.bytesIn + half.bytesIn);
    EXPECT_EQ(total.bytesWire, st.bytesWire + half.bytesWire);

    EXPECT_EQ(ccCommGetCompressStats(comms[r], 424242, &st), ccInvalidUsage);
    EXPECT_EQ(ccCommGetCompressStats(comms[r], cfg.key, nullptr), ccInvalidArgument);
  }
}

// Every codec with every feedback mode on 3 ranks: results identical on all ranks, residuals finite; ef2
// also keeps the chunk owner's residual for ring codecs (more bytes than ef); with ef the residual stays
// bounded over many calls instead of growing (the compressor is contractive).
TEST(ErrorFeedback, EveryCodecWithEveryFeedbackMode) {
  const int n = 3;
  const size_t count = 3000;
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  uint64_t key = 900;
  for (ccCodec_t codec : {ccCodecInt8, ccCodecInt4, ccCodecFp16, ccCodecBf16, ccCodecSign, ccCodecTopK,
                          ccCodecRandBlock, ccCodecSummable}) {
    std::map<int, size_t> bytes;
    for (ccFeedback_t fb : {ccFeedbackEf, ccFeedbackEf2, ccFeedbackConef}) {
      for (ccResidualCodec_t rc : {ccResidualInt8, ccResidualInt4, ccResidualSketch}) {
        if (fb != ccFeedbackConef && rc != ccResidualInt8) continue;
        ccCompressConfig_t cfg = MakeConfig(codec, ++key);
        cfg.feedback = fb;
        cfg.residualCodec = rc;
        cfg.ratio = 0.1f;
        std::vector<double> norms;
        for (int call = 0; call < 6; ++call) {
          auto in = Inputs(n, count, 140 + call);
          std::vector<std::vector<float>> out(n, std::vector<float>(count));
          Call(comms, in, out, cfg);
          for (int r = 1; r < n; ++r)
            ASSERT_TRUE(BitEqual(out[r], out[0])) << CodecName(codec) << " feedback " << fb << " rc " << rc;
          for (float v : out[0]) ASSERT_TRUE(std::isfinite(v));
          ccCompressStats_t st;
          ASSERT_EQ(ccCommGetCompressStats(comms[0], cfg.key, &st), ccSuccess);
          ASSERT_TRUE(std::isfinite(st.residualNorm));
          norms.push_back(st.residualNorm);
        }
        for (int r = 0; r < n; ++r) {
          std::vector<float> e = Residual(comms[r], cfg.key, count);
          for (float v : e) ASSERT_TRUE(std::isfinite(v));
        }
        if (fb == ccFeedbackEf) {
          // ||e_t||^2 <= (1 - delta) ||g_t + e_{t-1}||^2 and the inputs are independent N(0,1): E||e_6||^2 <=
          // (1-delta) 6 count, below the random walk of uncompensated inputs sqrt(6 count).
          EXPECT_LT(norms.back(), std::sqrt(6.0 * count)) << CodecName(codec);
          printf("[ ef residual norm / sqrt(count) after 6 calls ] %s %.3f\n", CodecName(codec),
                 norms.back() / std::sqrt(double(count)));
        }
        if (fb != ccFeedbackConef) bytes[fb] = ResidualBytes(comms[0], cfg.key);
      }
    }
    if (codec == ccCodecInt8 || codec == ccCodecInt4 || codec == ccCodecFp16 || codec == ccCodecBf16) {
      EXPECT_GT(bytes[ccFeedbackEf2], bytes[ccFeedbackEf]) << CodecName(codec) << ": ef2 keeps the owner's residual too";
    }
  }
}

// (k) CONCCL_RESIDUAL_MAX_BYTES (read at init) caps residual memory: least recently used keys are evicted.
TEST(ErrorFeedback, ResidualMemoryCapEvictsLeastRecentlyUsed) {
  const int n = 2;
  const size_t count = 10000;
  const size_t cap = 100000;  // two ef residuals of 40000 bytes fit, three do not
  ScopedEnv env("CONCCL_RESIDUAL_MAX_BYTES", std::to_string(cap).c_str());
  Comms comms;
  ASSERT_EQ(comms.Init(n), ccSuccess);
  auto use = [&](uint64_t key) {
    ccCompressConfig_t cfg = MakeConfig(ccCodecInt8, key);
    cfg.feedback = ccFeedbackEf;
    auto in = Inputs(n, count, key);
    std::vector<std::vector<float>> out(n, std::vector<float>(count));
    Call(comms, in, out, cfg);
    for (int r = 0; r < n; ++r) EXPECT_LE(ResidualBytes(comms[r], 0), cap) << "after key " << key;
  };
  auto present = [&](uint64_t key) {
    std::vector<float> e(count);
    bool p0 = ccCommGetResidual(comms[0], key, e.data(), count) == ccSuccess;
    for (int r = 1; r < n; ++r)
      EXPECT_EQ(ccCommGetResidual(comms[r], key, e.data(), count) == ccSuccess, p0) << "ranks evict alike";
    return p0;
  };
  use(1);
  use(2);
  EXPECT_TRUE(present(1));
  EXPECT_TRUE(present(2));
  use(3);  // evicts 1, the least recently used
  EXPECT_FALSE(present(1));
  EXPECT_TRUE(present(2));
  EXPECT_TRUE(present(3));
  use(2);  // 2 is now more recent than 3
  use(4);  // evicts 3
  EXPECT_TRUE(present(2));
  EXPECT_FALSE(present(3));
  EXPECT_TRUE(present(4));
  // An evicted key starts again from zero error, and calls keep working.
  use(1);
  EXPECT_TRUE(present(1));
  EXPECT_FALSE(present(2));
}

}  // namespace
