// collective_sweep_test.cc — every collective against a serial reference, ranks as threads of this process.
//
// The test matrix is explicit in the INSTANTIATE_TEST_SUITE_P lists below. One test = one communicator set
// (transport x nranks [x algorithm]) that runs an inner matrix of cases (count x datatype x op x in/out of
// place x root), because init costs far more than a small collective. Instantiations whose name starts
// with "Slow" are registered in ctest under the label `slow` (see tests/CMakeLists.txt).
//
// Every case checks: all ranks return ccSuccess, the result matches the reference (integers exactly,
// floats within the bound of test_util.h), guard zones around every buffer are intact, and out-of-place
// send buffers are unchanged.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../common/comm_fixture.h"
#include "../common/test_util.h"

using namespace cctest;

namespace {

constexpr size_t kBigCount = (size_t(1) << 20) + 3;
const std::vector<size_t> kSmallCounts = {0, 1, 7, 4099};
const std::vector<ccDataType_t> kMoveTypes = {ccInt8, ccFloat16, ccFloat32, ccFloat64};  // sizes 1, 2, 4, 8

std::string CaseName(const char* coll, size_t count, ccDataType_t dt, ccRedOp_t op, bool inPlace, int root = -1) {
  std::ostringstream os;
  os << coll << " count=" << count << " type=" << TypeName(dt) << " op=" << OpName(op)
     << (inPlace ? " in-place" : " out-of-place");
  if (root >= 0) os << " root=" << root;
  return os.str();
}

// Buffers of n ranks holding FillInput(dt, op, count, rank, seed, first).
std::vector<GuardedBuffer> MakeInputs(int n, ccDataType_t dt, ccRedOp_t op, size_t count, uint64_t seed,
                                      size_t first = 0) {
  std::vector<GuardedBuffer> v;
  v.reserve(size_t(n));
  for (int r = 0; r < n; ++r) {
    v.emplace_back(count * TypeSize(dt));
    FillInput(v.back().data(), dt, op, count, r, seed, first);
  }
  return v;
}

std::vector<GuardedBuffer> MakeFilled(int n, size_t bytes, uint8_t fill = 0xCD) {
  std::vector<GuardedBuffer> v;
  v.reserve(size_t(n));
  for (int r = 0; r < n; ++r) v.emplace_back(bytes, fill);
  return v;
}

bool SameBytes(const GuardedBuffer& a, const GuardedBuffer& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

std::vector<int> Roots(int n) {
  std::set<int> s = {0, n - 1, n / 2};
  return std::vector<int>(s.begin(), s.end());
}

// ---- all-reduce --------------------------------------------------------------------------------------

// Runs one all-reduce case on cs; the returned failure says what went wrong.
::testing::AssertionResult RunAllReduce(CommSet& cs, size_t count, ccDataType_t dt, ccRedOp_t op, bool inPlace,
                                        uint64_t seed) {
  const int n = cs.size();
  std::vector<GuardedBuffer> send = MakeInputs(n, dt, op, count, seed);
  std::vector<GuardedBuffer> recv;
  if (inPlace) {
    recv = MakeInputs(n, dt, op, count, seed);
  } else {
    recv = MakeFilled(n, count * TypeSize(dt));
  }
  std::vector<GuardedBuffer> orig = MakeInputs(n, dt, op, count, seed);
  RankCodes rc(n);
  RunRanks(n, [&](int r) {
    void* rb = recv[size_t(r)].data();
    const void* sb = inPlace ? rb : send[size_t(r)].data();
    rc.Set(r, ccAllReduce(sb, rb, count, dt, op, cs[r], nullptr), cs[r]);
  });
  if (!rc.AllOk()) return ::testing::AssertionFailure() << "ccAllReduce failed:" << rc.Describe();
  const Expected e = ReduceReference(dt, op, count, n, seed);
  for (int r = 0; r < n; ++r) {
    std::string why;
    if (!recv[size_t(r)].GuardsIntact()) return ::testing::AssertionFailure() << "rank " << r << ": recvbuff guard overwritten";
    if (!send[size_t(r)].GuardsIntact()) return ::testing::AssertionFailure() << "rank " << r << ": sendbuff guard overwritten";
    if (!CheckResult(recv[size_t(r)].data(), e, &why)) return ::testing::AssertionFailure() << "rank " << r << ": " << why;
    if (!inPlace && !SameBytes(send[size_t(r)], orig[size_t(r)]))
      return ::testing::AssertionFailure() << "rank " << r << ": sendbuff was modified";
  }
  return ::testing::AssertionSuccess();
}

// Inner matrices of the all-reduce sweep.
//  kFull:    counts {0,1,7,4099} x 10 types x 5 ops x {out of place, in place}            (400 calls)
//  kDefault: counts {0,1,7,4099} x 10 types x 5 ops out of place,
//            plus in place for counts {7,4099} x 10 types x {sum, min}                       (240 calls)
//  kReduced: counts {0,7,4099} x 10 types x 5 ops out of place,
//            plus in place for counts {7,4099} x {float32, int32, bfloat16} x sum             (156 calls)
enum class Matrix { kFull, kDefault, kReduced };

struct SweepParam {
  const char* net;
  int nranks;
  const char* algo;
  Matrix matrix;
};

std::string SweepName(const ::testing::TestParamInfo<SweepParam>& info) {
  return std::string(info.param.net) + "_n" + std::to_string(info.param.nranks) + "_" + info.param.algo;
}
void PrintTo(const SweepParam& p, std::ostream* os) {
  static const char* kMatrix[] = {"full", "default", "reduced"};
  *os << p.net << " nranks=" << p.nranks << " algo=" << p.algo << " matrix=" << kMatrix[int(p.matrix)];
}

struct ArCase {
  size_t count;
  ccDataType_t dt;
  ccRedOp_t op;
  bool inPlace;
};

std::vector<ArCase> AllReduceCases(Matrix m) {
  std::vector<ArCase> cases;
  if (m == Matrix::kFull || m == Matrix::kDefault) {
    for (size_t count : kSmallCounts)
      for (ccDataType_t dt : AllTypes())
        for (ccRedOp_t op : AllOps()) {
          cases.push_back({count, dt, op, false});
          const bool inPlace = m == Matrix::kFull || (count >= 7 && (op == ccSum || op == ccMin));
          if (inPlace) cases.push_back({count, dt, op, true});
        }
    return cases;
  }
  for (size_t count : {size_t(0), size_t(7), size_t(4099)})
    for (ccDataType_t dt : AllTypes())
      for (ccRedOp_t op : AllOps()) cases.push_back({count, dt, op, false});
  for (size_t count : {size_t(7), size_t(4099)})
    for (ccDataType_t dt : {ccFloat32, ccInt32, ccBfloat16}) cases.push_back({count, dt, ccSum, true});
  return cases;
}

class AllReduceSweep : public CommFixture, public ::testing::WithParamInterface<SweepParam> {};

TEST_P(AllReduceSweep, MatchesReference) {
  const SweepParam& p = GetParam();
  InitComms(p.nranks, p.net, p.algo);
  if (HasFatalFailure()) return;
  uint64_t seed = 1000;
  for (const ArCase& c : AllReduceCases(p.matrix)) {
    ++seed;
    ::testing::AssertionResult res = RunAllReduce(comms_, c.count, c.dt, c.op, c.inPlace, seed);
    if (!res) {
      MarkBroken();
      FAIL() << CaseName("ccAllReduce", c.count, c.dt, c.op, c.inPlace) << ": " << res.message();
    }
  }
  // The communicator stays healthy after hundreds of calls.
  ccResult_t async = ccInternalError;
  EXPECT_EQ(ccCommGetAsyncError(comms_[0], &async), ccSuccess);
  EXPECT_EQ(async, ccSuccess);
}

std::vector<SweepParam> SweepParams(std::vector<int> nranks, Matrix m) {
  std::vector<SweepParam> v;
  for (const char* net : {"local", "tcp", "shm"})
    for (int n : nranks)
      for (const char* algo : {"ring", "tree"}) {
        if (n == 1 && std::string(algo) == "tree") continue;  // one rank: no algorithm runs
        v.push_back({net, n, algo, m});
      }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Default, AllReduceSweep, ::testing::ValuesIn(SweepParams({1, 2, 3, 4, 5}, Matrix::kDefault)),
                         SweepName);
INSTANTIATE_TEST_SUITE_P(Ranks8, AllReduceSweep, ::testing::ValuesIn(SweepParams({8}, Matrix::kReduced)), SweepName);
INSTANTIATE_TEST_SUITE_P(Slow, AllReduceSweep, ::testing::ValuesIn(SweepParams({4, 5, 8}, Matrix::kFull)), SweepName);

// ---- all-reduce, 2^20 + 3 elements ---------------------------------------------------------------------

struct LargeParam {
  const char* net;
  int nranks;
  const char* algo;
  ccDataType_t dt;
  ccRedOp_t op;
};

std::string LargeName(const LargeParam& p) {
  return std::string(p.net) + "_n" + std::to_string(p.nranks) + "_" + p.algo + "_" + TypeName(p.dt) + "_" +
         OpName(p.op);
}
std::string LargeNameOf(const ::testing::TestParamInfo<LargeParam>& info) { return LargeName(info.param); }
void PrintTo(const LargeParam& p, std::ostream* os) { *os << LargeName(p); }

class AllReduceLarge : public CommFixture, public ::testing::WithParamInterface<LargeParam> {};

TEST_P(AllReduceLarge, MatchesReference) {
  const LargeParam& p = GetParam();
  InitComms(p.nranks, p.net, p.algo);
  if (HasFatalFailure()) return;
  uint64_t seed = 77;
  for (bool inPlace : {false, true}) {
    ::testing::AssertionResult res = RunAllReduce(comms_, kBigCount, p.dt, p.op, inPlace, ++seed);
    if (!res) {
      MarkBroken();
      FAIL() << CaseName("ccAllReduce", kBigCount, p.dt, p.op, inPlace) << ": " << res.message();
    }
  }
}

std::vector<LargeParam> LargeParams(std::vector<int> nranks, std::vector<std::pair<ccDataType_t, ccRedOp_t>> tos) {
  std::vector<LargeParam> v;
  for (const char* net : {"local", "tcp", "shm"})
    for (int n : nranks)
      for (const char* algo : {"ring", "tree"})
        for (auto& to : tos) v.push_back({net, n, algo, to.first, to.second});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Default, AllReduceLarge, ::testing::ValuesIn(LargeParams({3, 8}, {{ccFloat32, ccSum}})),
                         LargeNameOf);
INSTANTIATE_TEST_SUITE_P(Slow, AllReduceLarge,
                         ::testing::ValuesIn(LargeParams({2, 5}, {{ccFloat16, ccSum},
                                                                  {ccBfloat16, ccAvg},
                                                                  {ccFloat64, ccSum},
                                                                  {ccInt32, ccSum},
                                                                  {ccFloat32, ccMax}})),
                         LargeNameOf);

// ---- the other collectives ----------------------------------------------------------------------------

struct CollParam {
  const char* net;
  int nranks;
};

std::string CollName(const ::testing::TestParamInfo<CollParam>& info) {
  return std::string(info.param.net) + "_n" + std::to_string(info.param.nranks);
}
void PrintTo(const CollParam& p, std::ostream* os) { *os << p.net << " nranks=" << p.nranks; }

class Collectives : public CommFixture, public ::testing::WithParamInterface<CollParam> {
 protected:
  void SetUp() override { InitComms(GetParam().nranks, GetParam().net); }

  // Reports a failed case and marks the comms broken; use as `if (!res) return Fail(...)`.
  void Fail(const std::string& name, const ::testing::AssertionResult& res) {
    MarkBroken();
    ADD_FAILURE() << name << ": " << res.message();
  }
};

::testing::AssertionResult RunBroadcast(CommSet& cs, size_t count, ccDataType_t dt, int root, bool inPlace,
                                        uint64_t seed) {
  const int n = cs.size();
  const size_t bytes = count * TypeSize(dt);
  // Every rank's sendbuff holds distinct data; only root's may reach the receivers.
  std::vector<GuardedBuffer> send = MakeInputs(n, dt, ccSum, count, seed);
  std::vector<GuardedBuffer> recv = MakeFilled(n, bytes);
  if (inPlace) recv[size_t(root)] = send[size_t(root)];
  const GuardedBuffer want = send[size_t(root)];
  RankCodes rc(n);
  RunRanks(n, [&](int r) {
    void* rb = recv[size_t(r)].data();
    const void* sb = inPlace ? rb : send[size_t(r)].data();
    rc.Set(r, ccBroadcast(sb, rb, count, dt, root, cs[r], nullptr), cs[r]);
  });
  if (!rc.AllOk()) return ::testing::AssertionFailure() << "ccBroadcast failed:" << rc.Describe();
  for (int r = 0; r < n; ++r) {
    if (!recv[size_t(r)].GuardsIntact() || !send[size_t(r)].GuardsIntact())
      return ::testing::AssertionFailure() << "rank " << r << ": guard overwritten";
    if (!SameBytes(recv[size_t(r)], want)) return ::testing::AssertionFailure() << "rank " << r << ": wrong data";
  }
  if (!inPlace && !SameBytes(send[size_t(root)], want))
    return ::testing::AssertionFailure() << "root's sendbuff was modified";
  return ::testing::AssertionSuccess();
}

TEST_P(Collectives, Broadcast) {
  if (HasFatalFailure()) return;
  const int n = GetParam().nranks;
  uint64_t seed = 2000;
  for (size_t count : kSmallCounts)
    for (ccDataType_t dt : kMoveTypes)
      for (int root : Roots(n))
        for (bool inPlace : {false, true}) {
          auto res = RunBroadcast(comms_, count, dt, root, inPlace, ++seed);
          if (!res) return Fail(CaseName("ccBroadcast", count, dt, ccSum, inPlace, root), res);
        }
  auto res = RunBroadcast(comms_, 65537, ccFloat32, n - 1, false, ++seed);
  if (!res) return Fail(CaseName("ccBroadcast", 65537, ccFloat32, ccSum, false, n - 1), res);
}

::testing::AssertionResult RunReduce(CommSet& cs, size_t count, ccDataType_t dt, ccRedOp_t op, int root,
                                     bool inPlace, uint64_t seed) {
  const int n = cs.size();
  std::vector<GuardedBuffer> send = MakeInputs(n, dt, op, count, seed);
  std::vector<GuardedBuffer> orig = MakeInputs(n, dt, op, count, seed);
  GuardedBuffer rootRecv(count * TypeSize(dt));
  RankCodes rc(n);
  RunRanks(n, [&](int r) {
    const void* sb = send[size_t(r)].data();
    void* rb = nullptr;  // non-root ranks may pass NULL
    if (r == root) rb = inPlace ? send[size_t(r)].data() : rootRecv.data();
    if (inPlace && r != root) rb = send[size_t(r)].data();
    rc.Set(r, ccReduce(sb, rb, count, dt, op, root, cs[r], nullptr), cs[r]);
  });
  if (!rc.AllOk()) return ::testing::AssertionFailure() << "ccReduce failed:" << rc.Describe();
  const Expected e = ReduceReference(dt, op, count, n, seed);
  const GuardedBuffer& out = inPlace ? send[size_t(root)] : rootRecv;
  std::string why;
  for (int r = 0; r < n; ++r)
    if (!send[size_t(r)].GuardsIntact()) return ::testing::AssertionFailure() << "rank " << r << ": guard overwritten";
  if (!rootRecv.GuardsIntact()) return ::testing::AssertionFailure() << "root recvbuff guard overwritten";
  if (!CheckResult(out.data(), e, &why)) return ::testing::AssertionFailure() << "root: " << why;
  if (!inPlace) {
    for (int r = 0; r < n; ++r)
      if (!SameBytes(send[size_t(r)], orig[size_t(r)]))
        return ::testing::AssertionFailure() << "rank " << r << ": sendbuff was modified";
  }
  return ::testing::AssertionSuccess();
}

TEST_P(Collectives, Reduce) {
  if (HasFatalFailure()) return;
  const int n = GetParam().nranks;
  const std::vector<std::pair<ccDataType_t, ccRedOp_t>> tos = {
      {ccInt32, ccSum}, {ccFloat32, ccSum}, {ccBfloat16, ccAvg}, {ccUint8, ccProd},
      {ccFloat64, ccMax}, {ccInt64, ccMin}, {ccFloat16, ccSum}};
  uint64_t seed = 3000;
  for (size_t count : kSmallCounts)
    for (auto& to : tos)
      for (int root : Roots(n))
        for (bool inPlace : {false, true}) {
          auto res = RunReduce(comms_, count, to.first, to.second, root, inPlace, ++seed);
          if (!res) return Fail(CaseName("ccReduce", count, to.first, to.second, inPlace, root), res);
        }
}

::testing::AssertionResult RunAllGather(CommSet& cs, size_t count, ccDataType_t dt, bool inPlace, uint64_t seed) {
  const int n = cs.size();
  const size_t ts = TypeSize(dt);
  std::vector<GuardedBuffer> send = MakeInputs(n, dt, ccSum, count, seed);
  std::vector<GuardedBuffer> recv = MakeFilled(n, size_t(n) * count * ts);
  if (inPlace) {
    for (int r = 0; r < n; ++r)
      if (count > 0) std::memcpy(recv[size_t(r)].bytes_ptr() + size_t(r) * count * ts, send[size_t(r)].data(), count * ts);
  }
  std::vector<GuardedBuffer> orig = MakeInputs(n, dt, ccSum, count, seed);
  RankCodes rc(n);
  RunRanks(n, [&](int r) {
    char* rb = recv[size_t(r)].bytes_ptr();
    const void* sb = inPlace ? static_cast<const void*>(rb + size_t(r) * count * ts) : send[size_t(r)].data();
    rc.Set(r, ccAllGather(sb, rb, count, dt, cs[r], nullptr), cs[r]);
  });
  if (!rc.AllOk()) return ::testing::AssertionFailure() << "ccAllGather failed:" << rc.Describe();
  for (int r = 0; r < n; ++r) {
    if (!recv[size_t(r)].GuardsIntact() || !send[size_t(r)].GuardsIntact())
      return ::testing::AssertionFailure() << "rank " << r << ": guard overwritten";
    for (int s = 0; s < n; ++s) {
      if (count > 0 && std::memcmp(recv[size_t(r)].bytes_ptr() + size_t(s) * count * ts, orig[size_t(s)].data(),
                                   count * ts) != 0)
        return ::testing::AssertionFailure() << "rank " << r << ": block of rank " << s << " wrong";
    }
    if (!inPlace && !SameBytes(send[size_t(r)], orig[size_t(r)]))
      return ::testing::AssertionFailure() << "rank " << r << ": sendbuff was modified";
  }
  return ::testing::AssertionSuccess();
}

TEST_P(Collectives, AllGather) {
  if (HasFatalFailure()) return;
  uint64_t seed = 4000;
  for (size_t count : kSmallCounts)
    for (ccDataType_t dt : kMoveTypes)
      for (bool inPlace : {false, true}) {
        auto res = RunAllGather(comms_, count, dt, inPlace, ++seed);
        if (!res) return Fail(CaseName("ccAllGather", count, dt, ccSum, inPlace), res);
      }
  auto res = RunAllGather(comms_, 65537, ccFloat32, false, ++seed);
  if (!res) return Fail(CaseName("ccAllGather", 65537, ccFloat32, ccSum, false), res);
}

::testing::AssertionResult RunReduceScatter(CommSet& cs, size_t count, ccDataType_t dt, ccRedOp_t op, bool inPlace,
                                            uint64_t seed) {
  const int n = cs.size();
  const size_t ts = TypeSize(dt);
  const size_t total = size_t(n) * count;
  std::vector<GuardedBuffer> send = MakeInputs(n, dt, op, total, seed);
  std::vector<GuardedBuffer> orig = MakeInputs(n, dt, op, total, seed);
  std::vector<GuardedBuffer> recv = MakeFilled(n, count * ts);
  RankCodes rc(n);
  RunRanks(n, [&](int r) {
    const void* sb = send[size_t(r)].data();
    void* rb = inPlace ? static_cast<void*>(send[size_t(r)].bytes_ptr() + size_t(r) * count * ts) : recv[size_t(r)].data();
    rc.Set(r, ccReduceScatter(sb, rb, count, dt, op, cs[r], nullptr), cs[r]);
  });
  if (!rc.AllOk()) return ::testing::AssertionFailure() << "ccReduceScatter failed:" << rc.Describe();
  const Expected e = ReduceReference(dt, op, total, n, seed);
  for (int r = 0; r < n; ++r) {
    if (!recv[size_t(r)].GuardsIntact() || !send[size_t(r)].GuardsIntact())
      return ::testing::AssertionFailure() << "rank " << r << ": guard overwritten";
    const void* out = inPlace ? static_cast<const void*>(send[size_t(r)].bytes_ptr() + size_t(r) * count * ts)
                              : recv[size_t(r)].data();
    std::string why;
    if (!CheckResult(out, e, size_t(r) * count, count, &why))
      return ::testing::AssertionFailure() << "rank " << r << ": " << why;
    if (!inPlace && !SameBytes(send[size_t(r)], orig[size_t(r)]))
      return ::testing::AssertionFailure() << "rank " << r << ": sendbuff was modified";
  }
  return ::testing::AssertionSuccess();
}

TEST_P(Collectives, ReduceScatter) {
  if (HasFatalFailure()) return;
  const std::vector<std::pair<ccDataType_t, ccRedOp_t>> tos = {
      {ccFloat32, ccSum}, {ccInt64, ccMin}, {ccFloat16, ccAvg}, {ccUint32, ccProd}, {ccBfloat16, ccSum},
      {ccInt8, ccMax}};
  uint64_t seed = 5000;
  for (size_t count : kSmallCounts)
    for (auto& to : tos)
      for (bool inPlace : {false, true}) {
        auto res = RunReduceScatter(comms_, count, to.first, to.second, inPlace, ++seed);
        if (!res) return Fail(CaseName("ccReduceScatter", count, to.first, to.second, inPlace), res);
      }
  auto res = RunReduceScatter(comms_, 65537, ccFloat32, ccSum, false, ++seed);
  if (!res) return Fail(CaseName("ccReduceScatter", 65537, ccFloat32, ccSum, false), res);
}

::testing::AssertionResult RunAlltoAll(CommSet& cs, size_t count, ccDataType_t dt, uint64_t seed) {
  const int n = cs.size();
  const size_t ts = TypeSize(dt);
  std::vector<GuardedBuffer> send = MakeInputs(n, dt, ccSum, size_t(n) * count, seed);
  std::vector<GuardedBuffer> orig = MakeInputs(n, dt, ccSum, size_t(n) * count, seed);
  std::vector<GuardedBuffer> recv = MakeFilled(n, size_t(n) * count * ts);
  RankCodes rc(n);
  RunRanks(n, [&](int r) {
    rc.Set(r, ccAlltoAll(send[size_t(r)].data(), recv[size_t(r)].data(), count, dt, cs[r], nullptr), cs[r]);
  });
  if (!rc.AllOk()) return ::testing::AssertionFailure() << "ccAlltoAll failed:" << rc.Describe();
  for (int r = 0; r < n; ++r) {
    if (!recv[size_t(r)].GuardsIntact() || !send[size_t(r)].GuardsIntact())
      return ::testing::AssertionFailure() << "rank " << r << ": guard overwritten";
    for (int s = 0; s < n; ++s) {
      // recv[s*count + i] = rank s's send[r*count + i]
      if (count > 0 && std::memcmp(recv[size_t(r)].bytes_ptr() + size_t(s) * count * ts,
                                   orig[size_t(s)].bytes_ptr() + size_t(r) * count * ts, count * ts) != 0)
        return ::testing::AssertionFailure() << "rank " << r << ": block from rank " << s << " wrong";
    }
    if (!SameBytes(send[size_t(r)], orig[size_t(r)]))
      return ::testing::AssertionFailure() << "rank " << r << ": sendbuff was modified";
  }
  return ::testing::AssertionSuccess();
}

TEST_P(Collectives, AlltoAll) {
  if (HasFatalFailure()) return;
  uint64_t seed = 6000;
  for (size_t count : kSmallCounts)
    for (ccDataType_t dt : kMoveTypes) {
      auto res = RunAlltoAll(comms_, count, dt, ++seed);
      if (!res) return Fail(CaseName("ccAlltoAll", count, dt, ccSum, false), res);
    }
  auto res = RunAlltoAll(comms_, 16411, ccFloat32, ++seed);
  if (!res) return Fail(CaseName("ccAlltoAll", 16411, ccFloat32, ccSum, false), res);
}

// Ring exchange in a group: every rank sends to rank+1 and receives from rank-1; with both=true it also
// sends to rank-1 and receives from rank+1 (two receives from different peers in one group).
::testing::AssertionResult RunSendRecvRing(CommSet& cs, size_t count, ccDataType_t dt, bool both, uint64_t seed) {
  const int n = cs.size();
  std::vector<GuardedBuffer> send = MakeInputs(n, dt, ccSum, count, seed);
  std::vector<GuardedBuffer> orig = MakeInputs(n, dt, ccSum, count, seed);
  std::vector<GuardedBuffer> fromLeft = MakeFilled(n, count * TypeSize(dt));
  std::vector<GuardedBuffer> fromRight = MakeFilled(n, count * TypeSize(dt));
  RankCodes rc(n);
  RunRanks(n, [&](int r) {
    const int right = (r + 1) % n, left = (r + n - 1) % n;
    ccResult_t res = ccGroupStart();
    if (res == ccSuccess) res = ccSend(send[size_t(r)].data(), count, dt, right, cs[r], nullptr);
    if (res == ccSuccess) res = ccRecv(fromLeft[size_t(r)].data(), count, dt, left, cs[r], nullptr);
    if (both && res == ccSuccess) res = ccSend(send[size_t(r)].data(), count, dt, left, cs[r], nullptr);
    if (both && res == ccSuccess) res = ccRecv(fromRight[size_t(r)].data(), count, dt, right, cs[r], nullptr);
    const ccResult_t end = ccGroupEnd();
    rc.Set(r, res != ccSuccess ? res : end, cs[r]);
  });
  if (!rc.AllOk()) return ::testing::AssertionFailure() << "group of ccSend/ccRecv failed:" << rc.Describe();
  for (int r = 0; r < n; ++r) {
    const int right = (r + 1) % n, left = (r + n - 1) % n;
    if (!fromLeft[size_t(r)].GuardsIntact() || !fromRight[size_t(r)].GuardsIntact() || !send[size_t(r)].GuardsIntact())
      return ::testing::AssertionFailure() << "rank " << r << ": guard overwritten";
    if (!SameBytes(fromLeft[size_t(r)], orig[size_t(left)]))
      return ::testing::AssertionFailure() << "rank " << r << ": data from left neighbour wrong";
    if (both && !SameBytes(fromRight[size_t(r)], orig[size_t(right)]))
      return ::testing::AssertionFailure() << "rank " << r << ": data from right neighbour wrong";
    if (!both && !fromRight[size_t(r)].AllBytesEqual(0xCD))
      return ::testing::AssertionFailure() << "rank " << r << ": unrelated buffer written";
    if (!SameBytes(send[size_t(r)], orig[size_t(r)]))
      return ::testing::AssertionFailure() << "rank " << r << ": sendbuff was modified";
  }
  return ::testing::AssertionSuccess();
}

TEST_P(Collectives, SendRecvRing) {
  if (HasFatalFailure()) return;
  if (GetParam().nranks < 2) GTEST_SKIP() << "a ring exchange needs two ranks";
  uint64_t seed = 7000;
  for (size_t count : {size_t(0), size_t(1), size_t(7), size_t(4099), size_t(65537)})
    for (ccDataType_t dt : kMoveTypes)
      for (bool both : {false, true}) {
        if (count == 65537 && dt != ccFloat32) continue;
        auto res = RunSendRecvRing(comms_, count, dt, both, ++seed);
        if (!res) return Fail(CaseName(both ? "ccSend/ccRecv both ways" : "ccSend/ccRecv ring", count, dt, ccSum, false), res);
      }
}

std::vector<CollParam> CollParams() {
  std::vector<CollParam> v;
  for (const char* net : {"local", "tcp", "shm"})
    for (int n : {1, 2, 3, 5}) v.push_back({net, n});
  v.push_back({"local", 8});
  v.push_back({"tcp", 8});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Default, Collectives, ::testing::ValuesIn(CollParams()), CollName);
INSTANTIATE_TEST_SUITE_P(Slow, Collectives,
                         ::testing::Values(CollParam{"shm", 8}, CollParam{"tcp", 4}, CollParam{"shm", 4},
                                           CollParam{"local", 7}),
                         CollName);

}  // namespace
