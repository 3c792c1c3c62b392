// multiproc_test.cc — ranks as forked processes over tcp and shm.
//
// The parent calls ccGetUniqueId (so it hosts the bootstrap root) and forks the ranks; it is not a rank
// itself. Children never use gtest: each checks its own results, prints what went wrong to stderr and
// _exits with 0 on success. Children that need to report more than an exit code write into a shared
// anonymous mapping made before the fork. The parent waits with a deadline and kills whatever is left.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../common/stray.h"
#include "../common/test_util.h"

using namespace cctest;

namespace {

constexpr int kRanks = 4;
constexpr int kTimeoutMs = 20000;

// A zeroed MAP_SHARED anonymous mapping holding one T, visible to the parent and every forked child.
template <class T>
class SharedBlock {
 public:
  SharedBlock() {
    void* p = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) ptr_ = new (p) T();
  }
  ~SharedBlock() {
    if (ptr_ != nullptr) {
      ptr_->~T();
      munmap(ptr_, sizeof(T));
    }
  }
  T* get() { return ptr_; }
  T* operator->() { return ptr_; }

 private:
  T* ptr_ = nullptr;
};

std::string DescribeAll(const std::vector<ChildStatus>& st) {
  std::string s;
  for (size_t i = 0; i < st.size(); ++i) s += "\n  child " + std::to_string(i) + ": " + st[i].Describe();
  return s;
}

// ---- a collective workout, run by every child ------------------------------------------------------

// Runs every collective once or twice on comm (rank of kRanks) and checks the results. Returns 0 or the
// number of the failed step.
int Workout(ccComm_t comm, int rank, int n) {
  int count = -1, me = -1;
  CHILD_CALL(ccCommCount(comm, &count), 10);
  CHILD_CALL(ccCommUserRank(comm, &me), 11);
  CHILD_CHECK(count == n && me == rank, 12, "count %d rank %d, want %d %d", count, me, n, rank);

  // all-reduce, two shapes
  for (auto to : {std::make_pair(ccFloat32, ccSum), std::make_pair(ccInt32, ccMax), std::make_pair(ccBfloat16, ccAvg)}) {
    const size_t c = to.first == ccFloat32 ? 262147 : 4099;
    GuardedBuffer in(c * TypeSize(to.first)), out(c * TypeSize(to.first));
    FillInput(in.data(), to.first, to.second, c, rank, 100 + to.first);
    CHILD_CALL(ccAllReduce(in.data(), out.data(), c, to.first, to.second, comm, nullptr), 20);
    const Expected e = ReduceReference(to.first, to.second, c, n, 100 + to.first);
    std::string why;
    CHILD_CHECK(CheckResult(out.data(), e, &why) && out.GuardsIntact(), 21, "all-reduce %s/%s: %s",
                TypeName(to.first), OpName(to.second), why.c_str());
  }
  // broadcast from rank 2
  {
    const size_t c = 4099;
    GuardedBuffer buf(c * 8), want(c * 8);
    FillInput(want.data(), ccFloat64, ccSum, c, 2, 201);
    if (rank == 2) std::memcpy(buf.data(), want.data(), c * 8);
    CHILD_CALL(ccBroadcast(buf.data(), buf.data(), c, ccFloat64, 2, comm, nullptr), 30);
    CHILD_CHECK(std::memcmp(buf.data(), want.data(), c * 8) == 0 && buf.GuardsIntact(), 31, "broadcast wrong");
  }
  // reduce to rank 1
  {
    const size_t c = 1001;
    GuardedBuffer in(c * 8), out(c * 8);
    FillInput(in.data(), ccInt64, ccMin, c, rank, 202);
    CHILD_CALL(ccReduce(in.data(), rank == 1 ? out.data() : nullptr, c, ccInt64, ccMin, 1, comm, nullptr), 35);
    if (rank == 1) {
      std::string why;
      CHILD_CHECK(CheckResult(out.data(), ReduceReference(ccInt64, ccMin, c, n, 202), &why), 36, "reduce: %s",
                  why.c_str());
    }
  }
  // all-gather
  {
    const size_t c = 777;
    GuardedBuffer in(c * 2), out(size_t(n) * c * 2);
    FillInput(in.data(), ccFloat16, ccSum, c, rank, 203);
    CHILD_CALL(ccAllGather(in.data(), out.data(), c, ccFloat16, comm, nullptr), 40);
    for (int s = 0; s < n; ++s) {
      GuardedBuffer want(c * 2);
      FillInput(want.data(), ccFloat16, ccSum, c, s, 203);
      CHILD_CHECK(std::memcmp(out.bytes_ptr() + size_t(s) * c * 2, want.data(), c * 2) == 0, 41,
                  "all-gather block %d wrong", s);
    }
    CHILD_CHECK(out.GuardsIntact(), 42, "all-gather guard");
  }
  // reduce-scatter
  {
    const size_t c = 1001;
    GuardedBuffer in(size_t(n) * c * 2), out(c * 2);
    FillInput(in.data(), ccFloat16, ccAvg, size_t(n) * c, rank, 204);
    CHILD_CALL(ccReduceScatter(in.data(), out.data(), c, ccFloat16, ccAvg, comm, nullptr), 50);
    const Expected e = ReduceReference(ccFloat16, ccAvg, size_t(n) * c, n, 204);
    std::string why;
    CHILD_CHECK(CheckResult(out.data(), e, size_t(rank) * c, c, &why) && out.GuardsIntact(), 51, "reduce-scatter: %s",
                why.c_str());
  }
  // all-to-all
  {
    const size_t c = 333;
    GuardedBuffer in(size_t(n) * c), out(size_t(n) * c);
    FillInput(in.data(), ccInt8, ccSum, size_t(n) * c, rank, 205);
    CHILD_CALL(ccAlltoAll(in.data(), out.data(), c, ccInt8, comm, nullptr), 60);
    for (int s = 0; s < n; ++s) {
      GuardedBuffer want(c);
      FillInput(want.data(), ccInt8, ccSum, c, s, 205, size_t(rank) * c);
      CHILD_CHECK(std::memcmp(out.bytes_ptr() + size_t(s) * c, want.data(), c) == 0, 61, "all-to-all block %d", s);
    }
  }
  // ring exchange by send/recv in a group
  {
    const size_t c = 100000;
    GuardedBuffer in(c * 4), out(c * 4), want(c * 4);
    FillInput(in.data(), ccUint32, ccSum, c, rank, 206);
    FillInput(want.data(), ccUint32, ccSum, c, (rank + n - 1) % n, 206);
    CHILD_CALL(ccGroupStart(), 70);
    CHILD_CALL(ccSend(in.data(), c, ccUint32, (rank + 1) % n, comm, nullptr), 71);
    CHILD_CALL(ccRecv(out.data(), c, ccUint32, (rank + n - 1) % n, comm, nullptr), 72);
    CHILD_CALL(ccGroupEnd(), 73);
    CHILD_CHECK(std::memcmp(out.data(), want.data(), c * 4) == 0 && out.GuardsIntact(), 74, "send/recv wrong");
  }
  // split into even/odd and all-reduce on the halves
  {
    ccComm_t half = nullptr;
    CHILD_CALL(ccCommSplit(comm, rank % 2, rank, &half, nullptr), 80);
    CHILD_CHECK(half != nullptr, 81, "split gave NULL");
    int hc = 0, hr = -1;
    ccCommCount(half, &hc);
    ccCommUserRank(half, &hr);
    CHILD_CHECK(hc == n / 2 && hr == rank / 2, 82, "split comm count %d rank %d", hc, hr);
    int64_t v = rank, sum = -1;
    const ccResult_t r = ccAllReduce(&v, &sum, 1, ccInt64, ccSum, half, nullptr);
    CHILD_CHECK(r == ccSuccess, 83, "all-reduce on split comm: %s", ResultName(r).c_str());
    const int64_t want = rank % 2 == 0 ? 0 + 2 : 1 + 3;
    CHILD_CHECK(sum == want, 84, "split sum %lld want %lld", (long long)sum, (long long)want);
    CHILD_CHECK(ccCommDestroy(half) == ccSuccess, 85, "destroy split comm");
  }
  return 0;
}

// ---- collectives over tcp and shm ---------------------------------------------------------------------

class MultiProc : public ::testing::TestWithParam<const char*> {};

TEST_P(MultiProc, CollectivesAcrossProcesses) {
  // "auto": no transport forced, so the library must itself see that forked children are separate processes.
  const char* net = std::string(GetParam()) == "auto" ? nullptr : GetParam();
  ccUniqueId id;
  ASSERT_EQ(ccGetUniqueId(&id), ccSuccess);
  const std::vector<pid_t> pids = ForkChildren(kRanks, [&](int rank) -> int {
    ccConfig_t cfg = MakeConfig(net, kTimeoutMs);
    ccComm_t comm = nullptr;
    CHILD_CALL(ccCommInitRankConfig(&comm, kRanks, id, rank, &cfg), 2);
    const int rc = Workout(comm, rank, kRanks);
    if (rc != 0) {
      ccCommAbort(comm);
      return rc;
    }
    CHILD_CALL(ccCommDestroy(comm), 3);
    return 0;
  });
  const std::vector<ChildStatus> st = WaitChildren(pids, 60);
  for (size_t i = 0; i < st.size(); ++i) EXPECT_TRUE(st[i].ExitedWith(0)) << "child " << i << DescribeAll(st);
}

// ---- init from the environment ------------------------------------------------------------------------

int FreeTcpPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = -1;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

struct EnvParam {
  const char* net;
  bool withSecret;
};

void PrintTo(const EnvParam& p, std::ostream* os) { *os << p.net << (p.withSecret ? " with" : " without") << " secret"; }

class InitFromEnv : public ::testing::TestWithParam<EnvParam> {};

TEST_P(InitFromEnv, FourProcesses) {
  const EnvParam p = GetParam();
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  const std::string root = "127.0.0.1:" + std::to_string(port);
  const std::vector<pid_t> pids = ForkChildren(kRanks, [&](int rank) -> int {
    setenv("CONCCL_RANK", std::to_string(rank).c_str(), 1);
    setenv("CONCCL_NRANKS", std::to_string(kRanks).c_str(), 1);
    setenv("CONCCL_ROOT", root.c_str(), 1);
    if (p.withSecret) {
      setenv("CONCCL_SECRET", "0123456789abcdef00112233445566ff", 1);
    } else {
      unsetenv("CONCCL_SECRET");
    }
    if (rank != 0) usleep(100000);  // the others start before rank 0's listener exists: they must retry
    ccConfig_t cfg = MakeConfig(p.net, kTimeoutMs);
    ccComm_t comm = nullptr;
    CHILD_CALL(ccCommInitFromEnv(&comm, &cfg), 2);
    int count = -1, me = -1;
    CHILD_CALL(ccCommCount(comm, &count), 3);
    CHILD_CALL(ccCommUserRank(comm, &me), 4);
    CHILD_CHECK(count == kRanks && me == rank, 5, "count %d rank %d", count, me);
    const size_t c = 50001;
    GuardedBuffer in(c * 4), out(c * 4);
    FillInput(in.data(), ccFloat32, ccSum, c, rank, 301);
    CHILD_CALL(ccAllReduce(in.data(), out.data(), c, ccFloat32, ccSum, comm, nullptr), 6);
    std::string why;
    CHILD_CHECK(CheckResult(out.data(), ReduceReference(ccFloat32, ccSum, c, kRanks, 301), &why), 7, "%s",
                why.c_str());
    CHILD_CALL(ccCommDestroy(comm), 8);
    return 0;
  });
  const std::vector<ChildStatus> st = WaitChildren(pids, 60);
  for (size_t i = 0; i < st.size(); ++i) EXPECT_TRUE(st[i].ExitedWith(0)) << "child " << i << DescribeAll(st);
}

// The ranks' env names a secret, but one rank has a different one: it must not join (its init fails), and
// it must not hang. Rank 0 cannot complete either; it must fail once CONCCL_BOOTSTRAP_TIMEOUT_MS expires.
TEST(InitFromEnvSecret, RankWithWrongSecretIsRejected) {
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  const std::string root = "127.0.0.1:" + std::to_string(port);
  const std::vector<pid_t> pids = ForkChildren(2, [&](int rank) -> int {
    setenv("CONCCL_RANK", std::to_string(rank).c_str(), 1);
    setenv("CONCCL_NRANKS", "2", 1);
    setenv("CONCCL_ROOT", root.c_str(), 1);
    setenv("CONCCL_SECRET", rank == 0 ? "0123456789abcdef0123456789abcdef" : "fedcba9876543210fedcba9876543210", 1);
    setenv("CONCCL_BOOTSTRAP_TIMEOUT_MS", "5000", 1);  // rank 0 waits for a rank that never joins
    ccConfig_t cfg = MakeConfig("tcp", 3000);
    ccComm_t comm = nullptr;
    const ccResult_t r = ccCommInitFromEnv(&comm, &cfg);
    if (r == ccSuccess) {
      std::fprintf(stderr, "[rank %d] init with a mismatched secret succeeded\n", rank);
      ccCommDestroy(comm);
      return 1;
    }
    return 0;
  });
  const std::vector<ChildStatus> st = WaitChildren(pids, 30);
  for (size_t i = 0; i < st.size(); ++i) EXPECT_TRUE(st[i].ExitedWith(0)) << "child " << i << DescribeAll(st);
}

// ---- a peer dies in the middle of an all-reduce loop ---------------------------------------------------

struct KillShared {
  std::atomic<int> iters[kRanks];
  std::atomic<int64_t> deathNs;
  std::atomic<int64_t> errNs[kRanks];
  std::atomic<int64_t> abortDoneNs[kRanks];
  std::atomic<int> code[kRanks];
};

struct KillParam {
  const char* net;  // a built-in transport, or a net plugin (libconccl-net-<net>.so in CONCCL_TEST_PLUGIN_DIR)
  bool selfKill;  // the victim raises SIGKILL itself between calls; otherwise the parent kills it mid-loop
  int victim;
  const char* ucxTls = nullptr;  // UCX_TLS for the ucx plugin
};

bool IsPlugin(const char* net) { return strcmp(net, "tcp") != 0 && strcmp(net, "shm") != 0; }

std::string KillName(const KillParam& p) {
  return std::string(p.net) + (p.ucxTls ? std::string("_") + p.ucxTls : "") + (p.selfKill ? "_self" : "_parent") +
         "_rank" + std::to_string(p.victim);
}
std::string KillNameOf(const ::testing::TestParamInfo<KillParam>& info) { return KillName(info.param); }
void PrintTo(const KillParam& p, std::ostream* os) { *os << KillName(p); }

class PeerKill : public ::testing::TestWithParam<KillParam> {};

TEST_P(PeerKill, SurvivorsFailPromptly) {
  const KillParam p = GetParam();
  SharedBlock<KillShared> shared;
  ASSERT_NE(shared.get(), nullptr);
  for (int r = 0; r < kRanks; ++r) shared->code[r] = -1;
  ScopedEnv timeout("CONCCL_TIMEOUT_MS", "20000");
  const std::string pluginPath =
      IsPlugin(p.net) ? std::string(CONCCL_TEST_PLUGIN_DIR) + "/libconccl-net-" + p.net + ".so" : "";
  if (IsPlugin(p.net) && access(pluginPath.c_str(), R_OK) != 0) GTEST_SKIP() << pluginPath << " not built";
  ScopedEnv plugin("CONCCL_NET_PLUGIN", IsPlugin(p.net) ? pluginPath.c_str() : nullptr);
  ScopedEnv tls("UCX_TLS", p.ucxTls);
  ccUniqueId id;
  ASSERT_EQ(ccGetUniqueId(&id), ccSuccess);
  KillShared* sh = shared.get();
  const std::vector<pid_t> pids = ForkChildren(kRanks, [&](int rank) -> int {
    ccConfig_t cfg = CC_CONFIG_INITIALIZER;  // timeout from CONCCL_TIMEOUT_MS
    cfg.netName = p.net;
    ccComm_t comm = nullptr;
    CHILD_CALL(ccCommInitRankConfig(&comm, kRanks, id, rank, &cfg), 2);
    const size_t c = size_t(1) << 20;
    std::vector<float> in(c), out(c);
    FillInput(in.data(), ccFloat32, ccSum, c, rank, 401);
    const Expected e = ReduceReference(ccFloat32, ccSum, c, kRanks, 401);
    const int64_t start = NowNs();
    for (int it = 0; SecondsSince(start) < 40; ++it) {
      if (p.selfKill && rank == p.victim && it == 3) {
        sh->deathNs = NowNs();
        raise(SIGKILL);
      }
      const ccResult_t r = ccAllReduce(in.data(), out.data(), c, ccFloat32, ccSum, comm, nullptr);
      if (r != ccSuccess) {
        sh->errNs[rank] = NowNs();
        sh->code[rank] = int(r);
        ccCommAbort(comm);
        sh->abortDoneNs[rank] = NowNs();
        return 0;
      }
      for (size_t i = 0; i < c; i += 4099) {  // a sample: the loop must keep its pace
        const double d = std::fabs(out[i] - e.value[i]);
        CHILD_CHECK(d <= e.tol[i], 3, "iteration %d element %zu: %g vs %g", it, i, double(out[i]), e.value[i]);
      }
      sh->iters[rank]++;
    }
    std::fprintf(stderr, "[rank %d] no error within 40 s of the loop\n", rank);
    return 4;
  });
  if (!p.selfKill) {
    // Kill the victim once every rank has done 3 iterations, so that it dies inside a call.
    const int64_t t0 = NowNs();
    bool ready = false;
    while (!ready && SecondsSince(t0) < 60) {
      ready = true;
      for (int r = 0; r < kRanks; ++r) ready = ready && sh->iters[r] >= 3;
      if (!ready) usleep(1000);
    }
    EXPECT_TRUE(ready) << "the ranks never completed 3 iterations";
    sh->deathNs = NowNs();
    kill(pids[size_t(p.victim)], SIGKILL);
  }
  const std::vector<ChildStatus> st = WaitChildren(pids, 60);
  const std::string all = DescribeAll(st);
  ASSERT_TRUE(st[size_t(p.victim)].KilledBy(SIGKILL)) << all;
  ASSERT_GT(sh->deathNs.load(), 0) << all;
  for (int r = 0; r < kRanks; ++r) {
    if (r == p.victim) continue;
    SCOPED_TRACE("survivor rank " + std::to_string(r));
    EXPECT_TRUE(st[size_t(r)].ExitedWith(0)) << all;
    const ccResult_t code = ccResult_t(sh->code[r].load());
    EXPECT_TRUE(code == ccRemoteError || code == ccTimeout) << ResultName(code);
    const double detect = double(sh->errNs[r] - sh->deathNs) / 1e9;
    EXPECT_LT(detect, 8.0) << "took " << detect << " s to report the dead peer";
    EXPECT_GT(sh->abortDoneNs[r].load(), 0) << "ccCommAbort did not return";
    EXPECT_LT(double(sh->abortDoneNs[r] - sh->errNs[r]) / 1e9, 5.0) << "ccCommAbort took too long";
  }
}

INSTANTIATE_TEST_SUITE_P(Net, PeerKill,
                         ::testing::Values(KillParam{"tcp", true, 2}, KillParam{"tcp", false, 0},
                                           KillParam{"shm", true, 2}, KillParam{"shm", false, 0},
                                           KillParam{"example", false, 1}, KillParam{"ucx", false, 1, "tcp"},
                                           KillParam{"ucx", true, 2, "sm"}),
                         KillNameOf);

// ---- mismatched calls across processes -----------------------------------------------------------------

struct MismatchShared {
  std::atomic<int> code[kRanks];
  std::atomic<int64_t> secondsX1000[kRanks];
  std::atomic<int> guardsOk[kRanks];
};

class MismatchedCount : public ::testing::TestWithParam<const char*> {};

// Rank 2 passes a larger count than the others. Ranks 1 and 3 return ccInvalidUsage; ranks 0 and 2
// ccInvalidUsage or ccRemoteError; nobody hangs or overruns a buffer; ccCommAbort then returns.
TEST_P(MismatchedCount, FailsWithoutHanging) {
  SharedBlock<MismatchShared> shared;
  ASSERT_NE(shared.get(), nullptr);
  MismatchShared* sh = shared.get();
  for (int r = 0; r < kRanks; ++r) sh->code[r] = -1;
  ScopedEnv ring("CONCCL_ALGO", "ring");
  ccUniqueId id;
  ASSERT_EQ(ccGetUniqueId(&id), ccSuccess);
  const char* net = GetParam();
  const std::vector<pid_t> pids = ForkChildren(kRanks, [&](int rank) -> int {
    ccConfig_t cfg = MakeConfig(net, kTimeoutMs);
    ccComm_t comm = nullptr;
    CHILD_CALL(ccCommInitRankConfig(&comm, kRanks, id, rank, &cfg), 2);
    {  // a good call first, so that the ranks are connected when the mismatch comes
      int64_t one = 1, sum = 0;
      CHILD_CALL(ccAllReduce(&one, &sum, 1, ccInt64, ccSum, comm, nullptr), 3);
      CHILD_CHECK(sum == kRanks, 4, "warm-up sum %lld", (long long)sum);
    }
    const size_t c = rank == 2 ? 70000 : 65536;
    GuardedBuffer in(c * 4), out(c * 4);
    FillInput(in.data(), ccFloat32, ccSum, c, rank, 501);
    const int64_t t0 = NowNs();
    const ccResult_t r = ccAllReduce(in.data(), out.data(), c, ccFloat32, ccSum, comm, nullptr);
    sh->secondsX1000[rank] = int64_t(SecondsSince(t0) * 1000);
    sh->code[rank] = int(r);
    sh->guardsOk[rank] = in.GuardsIntact() && out.GuardsIntact();
    if (r != ccSuccess && LastError(comm).empty()) std::fprintf(stderr, "[rank %d] no error message\n", rank);
    ccCommAbort(comm);
    return 0;
  });
  const std::vector<ChildStatus> st = WaitChildren(pids, 40);
  const std::string all = DescribeAll(st);
  for (int r = 0; r < kRanks; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    EXPECT_TRUE(st[size_t(r)].ExitedWith(0)) << all;
    if (sh->code[r].load() == -1) {
      ADD_FAILURE() << "the mismatched ccAllReduce never returned (or init failed)" << all;
      continue;
    }
    const ccResult_t code = ccResult_t(sh->code[r].load());
    if (r == 1 || r == 3) {
      EXPECT_EQ(code, ccInvalidUsage) << ResultName(code);
    } else {
      EXPECT_TRUE(code == ccInvalidUsage || code == ccRemoteError) << ResultName(code);
    }
    EXPECT_LT(sh->secondsX1000[r].load(), 10000) << "the failing call took too long";
    EXPECT_EQ(sh->guardsOk[r].load(), 1) << "a buffer was overrun";
  }
}

INSTANTIATE_TEST_SUITE_P(Net, MismatchedCount, ::testing::Values("tcp", "shm"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

// ---- stray connections to the root, ranks in processes ----------------------------------------------

class StrayMultiProc : public ::testing::TestWithParam<const char*> {};

TEST_P(StrayMultiProc, RanksUnaffected) {
  ccUniqueId id;
  ASSERT_EQ(ccGetUniqueId(&id), ccSuccess);
  RootAddr addr;
  ASSERT_TRUE(DecodeRoot(id, &addr));
  const char* net = GetParam();
  const std::vector<pid_t> pids = ForkChildren(kRanks, [&](int rank) -> int {
    if (rank != 0) usleep(400000);  // let the strays in before the rendezvous completes
    ccConfig_t cfg = MakeConfig(net, kTimeoutMs);
    ccComm_t comm = nullptr;
    CHILD_CALL(ccCommInitRankConfig(&comm, kRanks, id, rank, &cfg), 2);
    const int rc = Workout(comm, rank, kRanks);
    if (rc != 0) {
      ccCommAbort(comm);
      return rc;
    }
    CHILD_CALL(ccCommDestroy(comm), 3);
    return 0;
  });
  // Forked first; now the parent may start threads.
  usleep(100000);
  StrayConnections strays;
  EXPECT_GE(strays.OpenAll(addr, kRanks), 5) << "the root did not accept the stray connections";
  StrayTraffic traffic(addr, kRanks);
  const std::vector<ChildStatus> st = WaitChildren(pids, 60);
  traffic.Stop();
  strays.CloseAll();
  for (size_t i = 0; i < st.size(); ++i) EXPECT_TRUE(st[i].ExitedWith(0)) << "child " << i << DescribeAll(st);
}

INSTANTIATE_TEST_SUITE_P(Net, StrayMultiProc, ::testing::Values("tcp", "shm"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

INSTANTIATE_TEST_SUITE_P(Net, MultiProc, ::testing::Values("tcp", "shm", "auto"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

INSTANTIATE_TEST_SUITE_P(Net, InitFromEnv, ::testing::Values(EnvParam{"tcp", true}, EnvParam{"shm", false}),
                         [](const ::testing::TestParamInfo<EnvParam>& i) {
                           return std::string(i.param.net) + (i.param.withSecret ? "_secret" : "_nosecret");
                         });

}  // namespace
