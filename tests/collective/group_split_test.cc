// group_split_test.cc — group calls, communicator split, queries, ccCommInitAll, version and error strings.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "../common/comm_fixture.h"
#include "../common/test_util.h"

using namespace cctest;

namespace {

// Elements rank src sends to rank dst in the p2p all-to-all: different for every pair.
size_t PairCount(int src, int dst) { return 100 + 17 * size_t(src) + 3 * size_t(dst); }
uint64_t PairSeed(int src, int dst) { return 9000 + 64 * uint64_t(src) + uint64_t(dst); }

class P2P : public CommFixture, public ::testing::WithParamInterface<const char*> {};

// Every rank sends a different-sized message to every other rank in one group.
TEST_P(P2P, AllToAllExchangeInGroup) {
  const int n = 4;
  InitComms(n, GetParam());
  if (HasFatalFailure()) return;
  const ccDataType_t dt = ccInt32;
  // send[src][dst], recv[dst][src]
  std::vector<std::vector<GuardedBuffer>> send(n), recv(n);
  for (int a = 0; a < n; ++a) {
    for (int b = 0; b < n; ++b) {
      send[size_t(a)].emplace_back(PairCount(a, b) * 4);
      FillInput(send[size_t(a)].back().data(), dt, ccSum, PairCount(a, b), a, PairSeed(a, b));
      recv[size_t(a)].emplace_back(PairCount(b, a) * 4);
    }
  }
  RankCodes rc(n);
  RunRanks(n, [&](int r) {
    ccResult_t res = ccGroupStart();
    for (int p = 0; p < n && res == ccSuccess; ++p) {
      if (p == r) continue;
      res = ccSend(send[size_t(r)][size_t(p)].data(), PairCount(r, p), dt, p, comms_[r], nullptr);
      if (res == ccSuccess) res = ccRecv(recv[size_t(r)][size_t(p)].data(), PairCount(p, r), dt, p, comms_[r], nullptr);
    }
    const ccResult_t end = ccGroupEnd();
    rc.Set(r, res != ccSuccess ? res : end, comms_[r]);
  });
  if (!rc.AllOk()) MarkBroken();
  ASSERT_TRUE(rc.AllOk()) << rc.Describe();
  for (int r = 0; r < n; ++r) {
    for (int p = 0; p < n; ++p) {
      GuardedBuffer want(PairCount(p, r) * 4);
      FillInput(want.data(), dt, ccSum, PairCount(p, r), p, PairSeed(p, r));
      EXPECT_TRUE(recv[size_t(r)][size_t(p)].GuardsIntact()) << "rank " << r << " from " << p;
      if (p == r) {
        EXPECT_TRUE(recv[size_t(r)][size_t(p)].AllBytesEqual(0xCD)) << "rank " << r << ": self buffer written";
      } else {
        EXPECT_EQ(0, std::memcmp(recv[size_t(r)][size_t(p)].data(), want.data(), want.size()))
            << "rank " << r << " from " << p;
      }
    }
  }
}

// Outside a group ccSend/ccRecv block until matched; an asymmetric sequence completes.
TEST_P(P2P, BlockingSendRecvOutsideGroup) {
  InitComms(2, GetParam());
  if (HasFatalFailure()) return;
  const size_t count = 5000;
  GuardedBuffer a(count * 8), b(count * 8), gotA(count * 8), gotB(count * 8);
  FillInput(a.data(), ccFloat64, ccSum, count, 0, 11);
  FillInput(b.data(), ccFloat64, ccSum, count, 1, 12);
  RankCodes rc(2);
  RunRanks(2, [&](int r) {
    ccResult_t res;
    if (r == 0) {
      res = ccSend(a.data(), count, ccFloat64, 1, comms_[0], nullptr);
      if (res == ccSuccess) res = ccRecv(gotB.data(), count, ccFloat64, 1, comms_[0], nullptr);
    } else {
      res = ccRecv(gotA.data(), count, ccFloat64, 0, comms_[1], nullptr);
      if (res == ccSuccess) res = ccSend(b.data(), count, ccFloat64, 0, comms_[1], nullptr);
    }
    rc.Set(r, res, comms_[r]);
  });
  if (!rc.AllOk()) MarkBroken();
  ASSERT_TRUE(rc.AllOk()) << rc.Describe();
  EXPECT_EQ(0, std::memcmp(gotA.data(), a.data(), a.size()));
  EXPECT_EQ(0, std::memcmp(gotB.data(), b.data(), b.size()));
  EXPECT_TRUE(gotA.GuardsIntact() && gotB.GuardsIntact());
}

// Several collectives in one group run in order, each with its own result.
TEST_P(P2P, CollectivesInOneGroup) {
  const int n = 3;
  InitComms(n, GetParam());
  if (HasFatalFailure()) return;
  const size_t count = 1000;
  std::vector<GuardedBuffer> x, y, z;
  for (int r = 0; r < n; ++r) {
    x.emplace_back(count * 4);
    FillInput(x.back().data(), ccFloat32, ccSum, count, r, 21);
    y.emplace_back(count * 8);
    FillInput(y.back().data(), ccInt64, ccMax, count, r, 22);
    z.emplace_back(count * 4, 0);
    if (r == 1) FillInput(z.back().data(), ccInt32, ccSum, count, r, 23);
  }
  RankCodes rc(n);
  RunRanks(n, [&](int r) {
    ccResult_t res = ccGroupStart();
    if (res == ccSuccess) res = ccAllReduce(x[size_t(r)].data(), x[size_t(r)].data(), count, ccFloat32, ccSum, comms_[r], nullptr);
    if (res == ccSuccess) res = ccAllReduce(y[size_t(r)].data(), y[size_t(r)].data(), count, ccInt64, ccMax, comms_[r], nullptr);
    if (res == ccSuccess) res = ccBroadcast(z[size_t(r)].data(), z[size_t(r)].data(), count, ccInt32, 1, comms_[r], nullptr);
    const ccResult_t end = ccGroupEnd();
    rc.Set(r, res != ccSuccess ? res : end, comms_[r]);
  });
  if (!rc.AllOk()) MarkBroken();
  ASSERT_TRUE(rc.AllOk()) << rc.Describe();
  const Expected ex = ReduceReference(ccFloat32, ccSum, count, n, 21);
  const Expected ey = ReduceReference(ccInt64, ccMax, count, n, 22);
  GuardedBuffer ez(count * 4);
  FillInput(ez.data(), ccInt32, ccSum, count, 1, 23);
  for (int r = 0; r < n; ++r) {
    std::string why;
    EXPECT_TRUE(CheckResult(x[size_t(r)].data(), ex, &why)) << "rank " << r << " all-reduce 1: " << why;
    EXPECT_TRUE(CheckResult(y[size_t(r)].data(), ey, &why)) << "rank " << r << " all-reduce 2: " << why;
    EXPECT_EQ(0, std::memcmp(z[size_t(r)].data(), ez.data(), ez.size())) << "rank " << r << " broadcast";
  }
}

// One thread drives every rank: calls on several communicators inside one group run concurrently.
TEST_P(P2P, OneThreadDrivesAllRanks) {
  const int n = 4;
  InitComms(n, GetParam());
  if (HasFatalFailure()) return;
  const size_t count = 3001;
  std::vector<GuardedBuffer> buf;
  for (int r = 0; r < n; ++r) {
    buf.emplace_back(count * 2);
    FillInput(buf.back().data(), ccBfloat16, ccSum, count, r, 31);
  }
  const std::vector<GuardedBuffer> before = buf;
  // Nested groups: only the outermost ccGroupEnd runs the calls.
  ASSERT_EQ(ccGroupStart(), ccSuccess);
  ASSERT_EQ(ccGroupStart(), ccSuccess);
  for (int r = 0; r < n; ++r)
    EXPECT_EQ(ccAllReduce(buf[size_t(r)].data(), buf[size_t(r)].data(), count, ccBfloat16, ccSum, comms_[r], nullptr),
              ccSuccess);
  ASSERT_EQ(ccGroupEnd(), ccSuccess);
  for (int r = 0; r < n; ++r)
    EXPECT_EQ(0, std::memcmp(buf[size_t(r)].data(), before[size_t(r)].data(), buf[size_t(r)].size()))
        << "rank " << r << ": the inner ccGroupEnd already ran the all-reduce";
  const ccResult_t end = ccGroupEnd();
  if (end != ccSuccess) MarkBroken();
  ASSERT_EQ(end, ccSuccess) << LastError(nullptr);
  const Expected e = ReduceReference(ccBfloat16, ccSum, count, n, 31);
  for (int r = 0; r < n; ++r) {
    std::string why;
    EXPECT_TRUE(CheckResult(buf[size_t(r)].data(), e, &why)) << "rank " << r << ": " << why;
    EXPECT_TRUE(buf[size_t(r)].GuardsIntact());
  }
}

INSTANTIATE_TEST_SUITE_P(Net, P2P, ::testing::Values("local", "tcp", "shm"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

// ---- ccCommInitRank inside a group, from one thread -------------------------------------------------

TEST(GroupInit, InitRanksInOneGroupFromOneThread) {
  const int n = 3;
  ccUniqueId id;
  ASSERT_EQ(ccGetUniqueId(&id), ccSuccess);
  std::vector<ccComm_t> comms(n, nullptr);
  std::vector<ccConfig_t> cfgs(n, MakeConfig("local", kSuccessTimeoutMs));  // alive until ccGroupEnd
  ASSERT_EQ(ccGroupStart(), ccSuccess);
  for (int r = 0; r < n; ++r) EXPECT_EQ(ccCommInitRankConfig(&comms[size_t(r)], n, id, r, &cfgs[size_t(r)]), ccSuccess);
  ASSERT_EQ(ccGroupEnd(), ccSuccess) << LastError(nullptr);
  for (int r = 0; r < n; ++r) {
    ASSERT_NE(comms[size_t(r)], nullptr);
    int count = -1, rank = -1;
    EXPECT_EQ(ccCommCount(comms[size_t(r)], &count), ccSuccess);
    EXPECT_EQ(ccCommUserRank(comms[size_t(r)], &rank), ccSuccess);
    EXPECT_EQ(count, n);
    EXPECT_EQ(rank, r);
  }
  std::vector<int32_t> v(size_t(n) * 10);
  for (int r = 0; r < n; ++r)
    for (int i = 0; i < 10; ++i) v[size_t(r) * 10 + size_t(i)] = r * 100 + i;
  ASSERT_EQ(ccGroupStart(), ccSuccess);
  for (int r = 0; r < n; ++r)
    EXPECT_EQ(ccAllReduce(&v[size_t(r) * 10], &v[size_t(r) * 10], 10, ccInt32, ccSum, comms[size_t(r)], nullptr), ccSuccess);
  ASSERT_EQ(ccGroupEnd(), ccSuccess);
  for (int r = 0; r < n; ++r)
    for (int i = 0; i < 10; ++i) EXPECT_EQ(v[size_t(r) * 10 + size_t(i)], 300 + 3 * i);
  for (auto c : comms) EXPECT_EQ(ccCommDestroy(c), ccSuccess);
}

// ---- split ------------------------------------------------------------------------------------------

struct SplitOutcome {
  std::vector<ccComm_t> newComms;
  RankCodes codes;
  explicit SplitOutcome(int n) : newComms(size_t(n), nullptr), codes(n) {}
};

class Split : public CommFixture, public ::testing::WithParamInterface<const char*> {
 protected:
  static constexpr int kRanks = 5;
  static ccComm_t Sentinel() { return reinterpret_cast<ccComm_t>(uintptr_t(0x1)); }

  void SetUp() override { InitComms(kRanks, GetParam()); }

  void TearDown() override {
    for (auto c : splitComms_)
      if (c != nullptr) {
        if (broken_) {
          ccCommAbort(c);
        } else {
          EXPECT_EQ(ccCommDestroy(c), ccSuccess);
        }
      }
    CommFixture::TearDown();
  }

  // Splits every rank with color(r), key(r); the new comms are destroyed in TearDown.
  template <class C, class K>
  SplitOutcome DoSplit(C color, K key) {
    SplitOutcome out(kRanks);
    RunRanks(kRanks, [&](int r) {
      ccComm_t nc = Sentinel();  // must be overwritten (with NULL for NOCOLOR)
      ccResult_t res = ccCommSplit(comms_[r], color(r), key(r), &nc, nullptr);
      out.codes.Set(r, res, comms_[r]);
      out.newComms[size_t(r)] = (res == ccSuccess) ? nc : nullptr;
    });
    for (int r = 0; r < kRanks; ++r) {
      if (out.newComms[size_t(r)] == Sentinel()) {
        ADD_FAILURE() << "rank " << r << ": ccCommSplit returned ccSuccess without setting *newcomm";
        out.newComms[size_t(r)] = nullptr;
        MarkBroken();
      }
      if (out.newComms[size_t(r)] != nullptr) splitComms_.push_back(out.newComms[size_t(r)]);
    }
    if (!out.codes.AllOk()) MarkBroken();
    return out;
  }

  // Checks the split comms: members of color c ordered by expectedOrder[c] (original ranks), with an
  // all-gather of the original ranks (which shows the order) and an all-reduce of them.
  void CheckGroups(const SplitOutcome& out, const std::vector<std::vector<int>>& groups) {
    std::vector<int> groupOf(kRanks, -1), posIn(kRanks, -1);
    for (size_t g = 0; g < groups.size(); ++g)
      for (size_t i = 0; i < groups[g].size(); ++i) {
        groupOf[size_t(groups[g][i])] = int(g);
        posIn[size_t(groups[g][i])] = int(i);
      }
    for (int r = 0; r < kRanks; ++r) {
      if (groupOf[size_t(r)] < 0) {
        EXPECT_EQ(out.newComms[size_t(r)], nullptr) << "rank " << r << " used NOCOLOR but got a comm";
        continue;
      }
      ASSERT_NE(out.newComms[size_t(r)], nullptr) << "rank " << r;
      int count = -1, rank = -1;
      EXPECT_EQ(ccCommCount(out.newComms[size_t(r)], &count), ccSuccess);
      EXPECT_EQ(ccCommUserRank(out.newComms[size_t(r)], &rank), ccSuccess);
      EXPECT_EQ(count, int(groups[size_t(groupOf[size_t(r)])].size())) << "rank " << r;
      EXPECT_EQ(rank, posIn[size_t(r)]) << "rank " << r;
    }
    std::vector<std::vector<int32_t>> gathered(kRanks, std::vector<int32_t>(kRanks, -1));
    std::vector<int64_t> sums(kRanks, -1);
    RankCodes rc(kRanks);
    RunRanks(kRanks, [&](int r) {
      ccComm_t c = out.newComms[size_t(r)];
      if (c == nullptr) return;
      int32_t mine = r;
      ccResult_t res = ccAllGather(&mine, gathered[size_t(r)].data(), 1, ccInt32, c, nullptr);
      int64_t v = 1000 + r;
      if (res == ccSuccess) res = ccAllReduce(&v, &sums[size_t(r)], 1, ccInt64, ccSum, c, nullptr);
      rc.Set(r, res, c);
    });
    if (!rc.AllOk()) MarkBroken();
    ASSERT_TRUE(rc.AllOk()) << rc.Describe();
    for (int r = 0; r < kRanks; ++r) {
      if (groupOf[size_t(r)] < 0) continue;
      const std::vector<int>& g = groups[size_t(groupOf[size_t(r)])];
      int64_t want = 0;
      for (size_t i = 0; i < g.size(); ++i) {
        EXPECT_EQ(gathered[size_t(r)][i], g[i]) << "rank " << r << " position " << i;
        want += 1000 + g[i];
      }
      EXPECT_EQ(sums[size_t(r)], want) << "rank " << r;
    }
  }

  std::vector<ccComm_t> splitComms_;
};

TEST_P(Split, EvenOddByRank) {
  if (HasFatalFailure()) return;
  SplitOutcome out = DoSplit([](int r) { return r % 2; }, [](int r) { return r; });
  ASSERT_TRUE(out.codes.AllOk()) << out.codes.Describe();
  CheckGroups(out, {{0, 2, 4}, {1, 3}});
}

TEST_P(Split, KeyReversalOrders) {
  if (HasFatalFailure()) return;
  SplitOutcome out = DoSplit([](int r) { return r % 2; }, [](int r) { return 100 - r; });
  ASSERT_TRUE(out.codes.AllOk()) << out.codes.Describe();
  CheckGroups(out, {{4, 2, 0}, {3, 1}});
}

TEST_P(Split, EqualKeysTieByRank) {
  if (HasFatalFailure()) return;
  SplitOutcome out = DoSplit([](int r) { return r < 2 ? 7 : 3; }, [](int) { return 0; });
  ASSERT_TRUE(out.codes.AllOk()) << out.codes.Describe();
  CheckGroups(out, {{0, 1}, {2, 3, 4}});
}

TEST_P(Split, NoColorGetsNull) {
  if (HasFatalFailure()) return;
  SplitOutcome out = DoSplit([](int r) { return r == 2 ? CC_SPLIT_NOCOLOR : r % 2; }, [](int r) { return r; });
  ASSERT_TRUE(out.codes.AllOk()) << out.codes.Describe();
  EXPECT_EQ(out.newComms[2], nullptr);
  CheckGroups(out, {{0, 4}, {1, 3}});
}

TEST_P(Split, ParentStillWorksAfterSplit) {
  if (HasFatalFailure()) return;
  SplitOutcome out = DoSplit([](int r) { return r % 2; }, [](int r) { return r; });
  ASSERT_TRUE(out.codes.AllOk()) << out.codes.Describe();
  std::vector<int64_t> sums(kRanks, 0);
  RankCodes rc(kRanks);
  RunRanks(kRanks, [&](int r) {
    int64_t v = int64_t(1) << (10 * r);
    rc.Set(r, ccAllReduce(&v, &sums[size_t(r)], 1, ccInt64, ccSum, comms_[r], nullptr), comms_[r]);
  });
  if (!rc.AllOk()) MarkBroken();
  ASSERT_TRUE(rc.AllOk()) << rc.Describe();
  int64_t want = 0;
  for (int r = 0; r < kRanks; ++r) want += int64_t(1) << (10 * r);
  for (int r = 0; r < kRanks; ++r) EXPECT_EQ(sums[size_t(r)], want);
}

INSTANTIATE_TEST_SUITE_P(Net, Split, ::testing::Values("local", "tcp"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

// ---- queries, init-all, finalize ---------------------------------------------------------------------

TEST(Queries, CountRankAsyncErrorFinalize) {
  CommSet cs;
  std::string why;
  ASSERT_EQ(cs.Init(3, "tcp", nullptr, kSuccessTimeoutMs, &why), ccSuccess) << why;
  for (int r = 0; r < 3; ++r) {
    int count = -1, rank = -1;
    ccResult_t async = ccInternalError;
    EXPECT_EQ(ccCommCount(cs[r], &count), ccSuccess);
    EXPECT_EQ(ccCommUserRank(cs[r], &rank), ccSuccess);
    EXPECT_EQ(ccCommGetAsyncError(cs[r], &async), ccSuccess);
    EXPECT_EQ(count, 3);
    EXPECT_EQ(rank, r);
    EXPECT_EQ(async, ccSuccess);
  }
  // Finalize then destroy, every rank.
  RankCodes rc(3);
  RunRanks(3, [&](int r) { rc.Set(r, ccCommFinalize(cs[r]), cs[r]); });
  EXPECT_TRUE(rc.AllOk()) << rc.Describe();
  EXPECT_EQ(cs.Destroy(&why), ccSuccess) << why;
}

TEST(InitAll, FourRanks) {
  ScopedEnv timeout("CONCCL_TIMEOUT_MS", "60000");
  const int n = 4;
  std::vector<ccComm_t> comms(n, nullptr);
  ASSERT_EQ(ccCommInitAll(comms.data(), n, nullptr), ccSuccess) << LastError(nullptr);
  std::set<ccComm_t> distinct(comms.begin(), comms.end());
  EXPECT_EQ(distinct.size(), size_t(n));
  for (int r = 0; r < n; ++r) {
    ASSERT_NE(comms[size_t(r)], nullptr);
    int count = -1, rank = -1;
    EXPECT_EQ(ccCommCount(comms[size_t(r)], &count), ccSuccess);
    EXPECT_EQ(ccCommUserRank(comms[size_t(r)], &rank), ccSuccess);
    EXPECT_EQ(count, n);
    EXPECT_EQ(rank, r);
  }
  const size_t count = 777;
  std::vector<GuardedBuffer> in, out;
  for (int r = 0; r < n; ++r) {
    in.emplace_back(count * 4);
    FillInput(in.back().data(), ccFloat32, ccAvg, count, r, 41);
    out.emplace_back(count * 4);
  }
  RankCodes rc(n);
  RunRanks(n, [&](int r) {
    rc.Set(r, ccAllReduce(in[size_t(r)].data(), out[size_t(r)].data(), count, ccFloat32, ccAvg, comms[size_t(r)], nullptr),
           comms[size_t(r)]);
  });
  ASSERT_TRUE(rc.AllOk()) << rc.Describe();
  const Expected e = ReduceReference(ccFloat32, ccAvg, count, n, 41);
  for (int r = 0; r < n; ++r) {
    std::string why;
    EXPECT_TRUE(CheckResult(out[size_t(r)].data(), e, &why)) << "rank " << r << ": " << why;
  }
  for (auto c : comms) EXPECT_EQ(ccCommDestroy(c), ccSuccess);
}

TEST(InitAll, SingleRank) {
  ccComm_t comm = nullptr;
  ASSERT_EQ(ccCommInitAll(&comm, 1, nullptr), ccSuccess) << LastError(nullptr);
  int count = -1;
  EXPECT_EQ(ccCommCount(comm, &count), ccSuccess);
  EXPECT_EQ(count, 1);
  double x[3] = {1.5, -2.0, 3.25}, y[3] = {0, 0, 0};
  EXPECT_EQ(ccAllReduce(x, y, 3, ccFloat64, ccProd, comm, nullptr), ccSuccess);
  EXPECT_EQ(y[0], 1.5);
  EXPECT_EQ(y[1], -2.0);
  EXPECT_EQ(y[2], 3.25);
  EXPECT_EQ(ccCommDestroy(comm), ccSuccess);
}

// ---- version and error strings ----------------------------------------------------------------------

TEST(Version, MatchesHeader) {
  int v = -1;
  ASSERT_EQ(ccGetVersion(&v), ccSuccess);
  EXPECT_EQ(v, CC_VERSION_CODE);
  EXPECT_EQ(v, CC_MAJOR * 10000 + CC_MINOR * 100 + CC_PATCH);
}

TEST(ErrorString, EveryCodeNonEmptyAndDistinct) {
  std::set<std::string> seen;
  for (int c = ccSuccess; c < ccNumResults; ++c) {
    const char* s = ccGetErrorString(ccResult_t(c));
    ASSERT_NE(s, nullptr) << "code " << c;
    EXPECT_GT(std::strlen(s), 0u) << "code " << c;
    EXPECT_TRUE(seen.insert(s).second) << "code " << c << " repeats \"" << s << "\"";
  }
  EXPECT_EQ(seen.size(), size_t(ccNumResults));
  // Unknown codes still get a string (never NULL).
  EXPECT_NE(ccGetErrorString(ccResult_t(99)), nullptr);
  EXPECT_NE(ccGetErrorString(ccResult_t(-1)), nullptr);
}

}  // namespace
