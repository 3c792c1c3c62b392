// hier_test.cc — hierarchical all-reduce (src/algorithms/hier.h) with ranks as forked processes that
// claim hosts through CONCCL_HOST_ID: ranks of one host talk over shared memory, hosts over tcp.
//
// Each layout lists the host of every rank. Children check, against the serial references of
// test_util.h: the host layout the communicator computed, ccAllReduce over types, ops, counts (0, below
// nranks, odd, several chunks), in and out of place; the bytes each rank sent, which pins the schedule
// (a flat ring sends other amounts); hierarchical ccAllreduceCompressed (forced: config ccAlgoHier or
// CONCCL_ALGO=hier) with int8 (codec error bound, bitwise identical on every rank) and error feedback
// (residuals on host leaders only), and that it stays flat when not forced. Randblock and summable with
// error feedback are checked by the parent for conservation over calls: sum of outputs + leaders'
// residuals = sum of inputs. This test links the internal archive to read the communicator's host
// layout and byte counter.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../common/test_util.h"
#include "core/comm.h"

using namespace cctest;

namespace {

constexpr int kMaxRanks = 6;
constexpr int kTimeoutMs = 20000;
constexpr size_t kEfCount = 4096;
constexpr int kEfCalls = 12;

struct Layout {
  const char* name;
  std::vector<int> hostOf;  // host number of each rank
  const char* algo;         // CONCCL_ALGO for the children (nullptr: unset, automatic)
};

void PrintTo(const Layout& l, std::ostream* os) { *os << l.name; }

// What the children leave for the parent (a MAP_SHARED anonymous mapping made before the fork).
constexpr int kEfCodecs = 2;  // randblock, summable
constexpr int kInt8Variants = 3;
struct Shared {
  float residual[kEfCodecs][kMaxRanks][kEfCount];  // residual after the last call (leaders)
  int hasResidual[kEfCodecs][kMaxRanks];
  double sumOut[kEfCodecs][kEfCount];              // rank 0: sum over calls of the outputs
  uint64_t outHash[kInt8Variants][kMaxRanks];      // int8 calls: hash of each rank's output bytes
};

uint64_t HashBytes(const void* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
  return h;
}

// The layout hier.h promises: hosts in order of their lowest rank, members ascending.
std::vector<std::vector<int>> ExpectedHosts(const std::vector<int>& hostOf) {
  std::vector<int> number(hostOf.size(), -1);
  std::vector<std::vector<int>> hosts;
  for (size_t r = 0; r < hostOf.size(); ++r) {
    if (number[size_t(hostOf[r])] < 0) {
      number[size_t(hostOf[r])] = int(hosts.size());
      hosts.emplace_back();
    }
    hosts[size_t(number[size_t(hostOf[r])])].push_back(int(r));
  }
  return hosts;
}

// A float in [-1, 1) per (seed, rank, element).
float Uniform(uint64_t seed, int rank, size_t i) {
  return float(double(Hash3(seed, uint64_t(rank), i) >> 40) / double(1ull << 23) - 1.0);
}

// ---- uncompressed ---------------------------------------------------------------------------------

int CheckAllReduce(ccComm_t comm, int rank, int n) {
  struct Case {
    ccDataType_t type;
    ccRedOp_t op;
  };
  const Case cases[] = {{ccFloat32, ccSum}, {ccFloat32, ccAvg}, {ccFloat32, ccMax}, {ccInt32, ccSum},
                        {ccInt32, ccAvg},   {ccInt32, ccMax},   {ccFloat16, ccSum}, {ccUint8, ccMin}};
  // 300007 floats: two pieces; 1100001: five (more than the leader receives ahead).
  const size_t counts[] = {0, 1, size_t(n - 1), 1001, 300007, 1100001};
  int step = 0;
  for (const Case& c : cases) {
    for (size_t count : counts) {
      for (int inPlace = 0; inPlace < 2; ++inPlace, ++step) {
        if (count > 1001 && c.type != ccFloat32 && c.type != ccInt32) continue;  // large: two types suffice
        if (count > 300007 && !(c.type == ccFloat32 && c.op == ccSum) && !(c.type == ccInt32 && c.op == ccMax)) continue;
        const size_t bytes = count * TypeSize(c.type);
        const uint64_t seed = 500 + uint64_t(step);
        GuardedBuffer in(bytes), out(bytes);
        FillInput(in.data(), c.type, c.op, count, rank, seed);
        void* dst = out.data();
        const void* src = in.data();
        if (inPlace) {
          if (bytes) std::memcpy(out.data(), in.data(), bytes);
          src = dst;
        }
        CHILD_CALL(ccAllReduce(src, dst, count, c.type, c.op, comm, nullptr), 20);
        std::string why;
        const Expected e = ReduceReference(c.type, c.op, count, n, seed);
        CHILD_CHECK(CheckResult(out.data(), e, &why) && out.GuardsIntact() && in.GuardsIntact(), 21,
                    "all-reduce %s/%s count %zu %s: %s", TypeName(c.type), OpName(c.op), count,
                    inPlace ? "in place" : "out of place", why.c_str());
      }
    }
  }
  return 0;
}

// Bytes a rank sends in one float32 sum all-reduce of `count` elements (one piece: under 1 MiB) beyond
// those of a count-0 call (the operation header): a member sends its input to the leader once; the leader
// sends its ring share among the leaders and the result to each member.
uint64_t ExpectedHierBytes(const std::vector<std::vector<int>>& hosts, int rank, size_t count) {
  for (const auto& h : hosts) {
    for (size_t pos = 0; pos < h.size(); ++pos) {
      if (h[pos] != rank) continue;
      const uint64_t k = h.size(), H = hosts.size(), c = count * 4;
      if (pos > 0) return c;
      return (k - 1) * c + (H > 1 ? 2 * (H - 1) * c / H : 0);  // count divisible by H: equal ring segments
    }
  }
  return ~0ull;
}

int CheckTraffic(ccComm_t comm, int rank, const std::vector<std::vector<int>>& hosts) {
  const size_t count = 60000;  // 240 KB: above the tree threshold, so the leaders use the ring
  std::vector<float> in(count, 1.0f), out(count);
  const uint64_t before0 = comm->bytesSent.load();
  CHILD_CALL(ccAllReduce(in.data(), out.data(), 0, ccFloat32, ccSum, comm, nullptr), 30);
  const uint64_t header = comm->bytesSent.load() - before0;
  const uint64_t before = comm->bytesSent.load();
  CHILD_CALL(ccAllReduce(in.data(), out.data(), count, ccFloat32, ccSum, comm, nullptr), 31);
  const uint64_t sent = comm->bytesSent.load() - before - header;
  const uint64_t want = ExpectedHierBytes(hosts, rank, count);
  CHILD_CHECK(sent == want, 32, "sent %llu payload bytes, hierarchical schedule sends %llu",
              (unsigned long long)sent, (unsigned long long)want);
  CHILD_CHECK(out[0] == float(comm->nranks) && out[count - 1] == float(comm->nranks), 33, "traffic call result");
  return 0;
}

// ---- compressed -------------------------------------------------------------------------------------

ccCompressConfig_t CompressConfig(ccCodec_t codec, uint64_t key, ccAlgo_t algo) {
  ccCompressConfig_t c;
  ccCompressConfigInit(&c);
  c.codec = codec;
  c.key = key;
  c.algo = algo;
  return c;
}

// Compressed calls are hierarchical only when forced (config ccAlgoHier, or CONCCL_ALGO=hier with config
// auto): with config auto and no CONCCL_ALGO, an error-feedback call stays flat, so every rank keeps a
// residual.
int CheckCompressedStaysFlat(ccComm_t comm, int rank) {
  ccCompressConfig_t cfg = CompressConfig(ccCodecInt8, 31337, ccAlgoAuto);
  cfg.feedback = ccFeedbackEf;
  std::vector<float> buf(5000, 0.25f);
  CHILD_CALL(ccAllreduceCompressed(buf.data(), buf.data(), buf.size(), ccFloat32, ccSum, &cfg, comm, nullptr), 70);
  size_t bytes = 0;
  CHILD_CALL(ccCommResidualBytes(comm, cfg.key, &bytes), 71);
  CHILD_CHECK(bytes > 0, 72, "a flat compressed call with feedback left no residual on this rank");
  return 0;
}

// int8 without feedback and with feedback (first call: the residual starts at zero) on float32, and
// float16 in place: within H hops of re-quantization of the block's summed magnitudes (H = number of
// hosts), plus float32 roundoff and, for float16, the output rounding. Output hashes go to the parent.
int CheckInt8(ccComm_t comm, int rank, int n, int nHosts, bool leader, ccAlgo_t algo, Shared* sh) {
  const size_t count = 20000, B = 256;
  std::vector<std::vector<float>> g(static_cast<size_t>(n), std::vector<float>(count));
  for (int r = 0; r < n; ++r)
    for (size_t i = 0; i < count; ++i)
      g[size_t(r)][i] = HalfToFloat(FloatToHalf(Uniform(77, r, i) * (1.0f + float(i % 7))));  // exact in fp16
  for (int v = 0; v < kInt8Variants; ++v) {
    const ccFeedback_t fb = v == 1 ? ccFeedbackEf : ccFeedbackNone;
    const bool half = v == 2;
    ccCompressConfig_t cfg = CompressConfig(ccCodecInt8, 900 + uint64_t(v), algo);
    cfg.feedback = fb;
    std::vector<float> out(count);
    if (half) {
      std::vector<uint16_t> buf(count);
      for (size_t i = 0; i < count; ++i) buf[i] = FloatToHalf(g[size_t(rank)][i]);
      CHILD_CALL(ccAllreduceCompressed(buf.data(), buf.data(), count, ccFloat16, ccSum, &cfg, comm, nullptr), 40);
      for (size_t i = 0; i < count; ++i) out[i] = HalfToFloat(buf[i]);
      sh->outHash[v][rank] = HashBytes(buf.data(), count * 2);
    } else {
      CHILD_CALL(ccAllreduceCompressed(g[size_t(rank)].data(), out.data(), count, ccFloat32, ccSum, &cfg, comm, nullptr), 40);
      sh->outHash[v][rank] = HashBytes(out.data(), count * 4);
    }
    const double L = 127.0;
    for (size_t off = 0; off < count; off += B) {
      const size_t e = std::min(count, off + B);
      double S = 0;
      for (int r = 0; r < n; ++r) {
        double m = 0;
        for (size_t i = off; i < e; ++i) m = std::max(m, double(std::fabs(g[size_t(r)][i])));
        S += m;
      }
      const double bound = nHosts * (0.5 / L) * S * std::pow(1.0 + 1.0 / L, nHosts) * (1 + 1e-5);
      for (size_t i = off; i < e; ++i) {
        double exact = 0, abs = 0;
        for (int r = 0; r < n; ++r) exact += g[size_t(r)][i], abs += std::fabs(g[size_t(r)][i]);
        double lim = bound + 2.0 * n * std::ldexp(1.0, -24) * abs;
        if (half) lim += std::ldexp(1.0, -11) * (std::fabs(exact) + bound) + std::ldexp(1.0, -25);
        const double err = std::fabs(out[i] - exact);
        CHILD_CHECK(err <= lim, 41, "int8 variant %d element %zu: error %g above bound %g", v, i, err, lim);
      }
    }
    size_t bytes = 0;
    CHILD_CALL(ccCommResidualBytes(comm, cfg.key, &bytes), 42);
    const bool wantResidual = fb != ccFeedbackNone && leader;
    CHILD_CHECK((bytes > 0) == wantResidual, 43, "feedback %d leader %d holds %zu residual bytes", int(fb),
                int(leader), bytes);
  }
  return 0;
}

// Randblock and summable with ef, avg: leaders keep residuals; the parent checks conservation.
int ExactCodecCalls(ccComm_t comm, int rank, ccAlgo_t algo, Shared* sh) {
  for (int k = 0; k < kEfCodecs; ++k) {
    ccCompressConfig_t cfg = CompressConfig(k == 0 ? ccCodecRandBlock : ccCodecSummable, 4242 + uint64_t(k), algo);
    cfg.feedback = ccFeedbackEf;
    cfg.ratio = 1.0f / 16;
    std::vector<float> in(kEfCount), out(kEfCount);
    for (int t = 0; t < kEfCalls; ++t) {
      for (size_t i = 0; i < kEfCount; ++i) in[i] = Uniform(1000 + uint64_t(t), rank, i);
      CHILD_CALL(ccAllreduceCompressed(in.data(), out.data(), kEfCount, ccFloat32, ccAvg, &cfg, comm, nullptr), 50);
      if (rank == 0)
        for (size_t i = 0; i < kEfCount; ++i) sh->sumOut[k][i] += out[i];
    }
    sh->hasResidual[k][rank] = ccCommGetResidual(comm, cfg.key, sh->residual[k][rank], kEfCount) == ccSuccess;
  }
  return 0;
}

int Child(int rank, const Layout& L, const ccUniqueId& id, Shared* sh) {
  const int n = int(L.hostOf.size());
  setenv("CONCCL_HOST_ID", ("hier-test-host-" + std::to_string(L.hostOf[size_t(rank)])).c_str(), 1);
  if (L.algo) setenv("CONCCL_ALGO", L.algo, 1);
  else unsetenv("CONCCL_ALGO");
  ccConfig_t cfg = MakeConfig(nullptr, kTimeoutMs);
  ccComm_t comm = nullptr;
  CHILD_CALL(ccCommInitRankConfig(&comm, n, id, rank, &cfg), 2);
  const auto hosts = ExpectedHosts(L.hostOf);
  CHILD_CHECK(comm->hosts.members == hosts, 3, "host layout %s differs from the expected one",
              conccl::DescribeLayout(comm->hosts).c_str());
  int rc = CheckAllReduce(comm, rank, n);
  if (rc == 0) rc = CheckTraffic(comm, rank, hosts);
  // Forced by the config in the automatic layouts, by CONCCL_ALGO=hier (config auto) in the others.
  const ccAlgo_t algo = L.algo ? ccAlgoAuto : ccAlgoHier;
  if (rc == 0) rc = CheckInt8(comm, rank, n, int(hosts.size()), comm->hosts.IsLeader(), algo, sh);
  if (rc == 0) rc = ExactCodecCalls(comm, rank, algo, sh);
  if (rc == 0 && !L.algo) rc = CheckCompressedStaysFlat(comm, rank);
  if (rc != 0) {
    ccCommAbort(comm);
    return rc;
  }
  CHILD_CALL(ccCommDestroy(comm), 4);
  return 0;
}

std::string DescribeAll(const std::vector<ChildStatus>& st) {
  std::string s;
  for (size_t i = 0; i < st.size(); ++i) s += "\n  child " + std::to_string(i) + ": " + st[i].Describe();
  return s;
}

class Hier : public ::testing::TestWithParam<Layout> {};

TEST_P(Hier, AllReduceAcrossHosts) {
  const Layout L = GetParam();
  const int n = int(L.hostOf.size());
  ASSERT_LE(n, kMaxRanks);
  void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  Shared* sh = new (mem) Shared();
  ccUniqueId id;
  ASSERT_EQ(ccGetUniqueId(&id), ccSuccess);
  const std::vector<pid_t> pids = ForkChildren(n, [&](int rank) { return Child(rank, L, id, sh); });
  const std::vector<ChildStatus> st = WaitChildren(pids, 90);
  bool ok = true;
  for (size_t i = 0; i < st.size(); ++i) {
    EXPECT_TRUE(st[i].ExitedWith(0)) << "child " << i << DescribeAll(st);
    ok = ok && st[i].ExitedWith(0);
  }
  if (ok) {
    const auto hosts = ExpectedHosts(L.hostOf);
    std::vector<int> isLeader(size_t(n), 0);
    for (const auto& h : hosts) isLeader[size_t(h[0])] = 1;
    for (int v = 0; v < kInt8Variants; ++v)  // every rank got the same bits
      for (int r = 1; r < n; ++r) EXPECT_EQ(sh->outHash[v][r], sh->outHash[v][0]) << "int8 variant " << v << " rank " << r;
    for (int k = 0; k < kEfCodecs; ++k) {
      // Residuals live on the leaders only.
      for (int r = 0; r < n; ++r) EXPECT_EQ(sh->hasResidual[k][r], isLeader[size_t(r)]) << "codec " << k << " rank " << r;
      // Conservation: sum_t out_t + (sum over leaders of e) / n == sum_t mean_k g_{t,k}.
      double num = 0, den = 0, enorm = 0;
      for (size_t i = 0; i < kEfCount; ++i) {
        double lhs = sh->sumOut[k][i], rhs = 0;
        for (int r = 0; r < n; ++r) {
          const double e = sh->residual[k][r][i];
          if (isLeader[size_t(r)]) lhs += e / n, enorm += e * e;
          for (int t = 0; t < kEfCalls; ++t) rhs += double(Uniform(1000 + uint64_t(t), r, i)) / n;
        }
        num += (lhs - rhs) * (lhs - rhs);
        den += rhs * rhs;
      }
      EXPECT_LT(std::sqrt(num / den), 1e-5) << "codec " << k;
      EXPECT_GT(enorm, 0.0) << "codec " << k;  // the identity is not vacuous
    }
  }
  sh->~Shared();
  munmap(mem, sizeof(Shared));
}

// Mismatches stay errors under the hierarchical schedule, and nothing hangs: (1) one rank's ccAllReduce has
// another count: the operation header check fails every rank (ccInvalidUsage where it is detected, the
// others see the broken communicator); (2) after hierarchical calls with feedback only leaders hold
// residuals, so ccCommAverageResiduals finds the key sets differ.
TEST(HierMismatch, HeaderCheckAndResidualAveragingFail) {
  const Layout L{"TwoHostsOfTwo", {0, 0, 1, 1}, nullptr};
  ccUniqueId ids[2];
  ASSERT_EQ(ccGetUniqueId(&ids[0]), ccSuccess);
  ASSERT_EQ(ccGetUniqueId(&ids[1]), ccSuccess);
  const std::vector<pid_t> pids = ForkChildren(4, [&](int rank) -> int {
    setenv("CONCCL_HOST_ID", ("hier-mismatch-host-" + std::to_string(L.hostOf[size_t(rank)])).c_str(), 1);
    unsetenv("CONCCL_ALGO");
    ccConfig_t cfg = MakeConfig(nullptr, kTimeoutMs);
    int detectedMask = 0;
    for (int phase = 0; phase < 2; ++phase) {
      ccComm_t comm = nullptr;
      CHILD_CALL(ccCommInitRankConfig(&comm, 4, ids[phase], rank, &cfg), 60);
      std::vector<float> buf(1000, 1.0f);
      ccResult_t r;
      if (phase == 0) {
        r = ccAllReduce(buf.data(), buf.data(), rank == 3 ? 11 : 10, ccFloat32, ccSum, comm, nullptr);
      } else {
        ccCompressConfig_t c = CompressConfig(ccCodecInt8, 77, ccAlgoHier);
        c.feedback = ccFeedbackEf;
        CHILD_CALL(ccAllreduceCompressed(buf.data(), buf.data(), buf.size(), ccFloat32, ccSum, &c, comm, nullptr), 61);
        r = ccCommAverageResiduals(comm);
      }
      CHILD_CHECK(r != ccSuccess, 62 + phase, "phase %d succeeded despite the mismatch", phase);
      if (r == ccInvalidUsage) detectedMask |= 1 << phase;  // this rank saw the mismatch itself
      ccCommAbort(comm);
    }
    return 16 + detectedMask;
  });
  const std::vector<ChildStatus> st = WaitChildren(pids, 60);
  int seen = 0;
  for (size_t i = 0; i < st.size(); ++i) {
    const bool exited = st[i].reaped && !st[i].timedOut && WIFEXITED(st[i].status);
    const int code = exited ? WEXITSTATUS(st[i].status) : -1;
    EXPECT_TRUE(code >= 16 && code < 20) << "child " << i << DescribeAll(st);
    if (code >= 16 && code < 20) seen |= code - 16;
  }
  EXPECT_EQ(seen, 3) << "ccInvalidUsage seen in phases (bit mask) " << seen << DescribeAll(st);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, Hier,
    ::testing::Values(Layout{"TwoHostsOfTwo", {0, 0, 1, 1}, nullptr}, Layout{"ThreeHostsOfTwo", {0, 0, 1, 1, 2, 2}, nullptr},
                      Layout{"ThreePlusOne", {0, 0, 0, 1}, nullptr}, Layout{"Interleaved", {0, 1, 0, 1}, nullptr},
                      Layout{"ForcedOneHost", {0, 0, 0}, "hier"}, Layout{"ForcedHostPerRank", {0, 1, 2}, "hier"}),
    [](const ::testing::TestParamInfo<Layout>& info) { return std::string(info.param.name); });

}  // namespace
