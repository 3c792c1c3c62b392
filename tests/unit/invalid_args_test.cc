// invalid_args_test.cc — the invalid-argument matrix: every call returns its code, leaves a message for
// ccGetLastError, touches no memory, and leaves the communicator usable.
//
// Each rejected call runs on a fresh thread, so that the thread's last-error slot starts empty and a
// message after the call was written by that call.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "core/unique_id.h"
#include "../common/test_util.h"

using namespace cctest;

namespace {

constexpr int kTimeoutMs = 10000;  // a call that blocks instead of rejecting its arguments fails quickly
constexpr size_t kHugeCount = std::numeric_limits<size_t>::max() / 2;  // count * 4 overflows size_t

struct Outcome {
  ccResult_t code = ccSuccess;
  std::string threadMsgBefore;
  std::string threadMsg;
  std::string commMsg;
};

template <class F>
Outcome InFreshThread(ccComm_t comm, F&& call) {
  Outcome o;
  std::thread t([&] {
    const char* before = ccGetLastError(nullptr);
    o.threadMsgBefore = before ? before : "(NULL)";
    o.code = call();
    const char* tm = ccGetLastError(nullptr);
    o.threadMsg = tm ? tm : "";
    if (comm != nullptr) {
      const char* cm = ccGetLastError(comm);
      o.commMsg = cm ? cm : "";
    }
  });
  t.join();
  return o;
}

// Runs call on a fresh thread; expects code `want` and a non-empty ccGetLastError(comm) or ccGetLastError(NULL).
#define EXPECT_REJECTED(want, comm, call)                                                               \
  do {                                                                                                  \
    const Outcome o_ = InFreshThread((comm), [&]() -> ccResult_t { return (call); });                   \
    EXPECT_EQ(o_.code, (want)) << #call << " returned " << ResultName(o_.code) << " (" << o_.threadMsg  \
                               << o_.commMsg << ")";                                                    \
    EXPECT_EQ(o_.threadMsgBefore, "") << "a fresh thread's ccGetLastError(NULL) is not empty";          \
    EXPECT_FALSE(o_.threadMsg.empty() && o_.commMsg.empty()) << #call << ": no ccGetLastError message"; \
  } while (0)

#define EXPECT_INVALID(comm, call) EXPECT_REJECTED(ccInvalidArgument, comm, call)

// A 1-rank comm (c1_) and a 2-rank comm pair (c2_[0], c2_[1]), plus small buffers with known contents.
class InvalidArgs : public ::testing::Test {
 protected:
  void SetUp() override {
    ccUniqueId id;
    ASSERT_EQ(ccGetUniqueId(&id), ccSuccess);
    ccConfig_t cfg = MakeConfig("local", kTimeoutMs);
    ASSERT_EQ(ccCommInitRankConfig(&c1_, 1, id, 0, &cfg), ccSuccess) << LastError(nullptr);
    {
      ScopedEnv timeout("CONCCL_TIMEOUT_MS", "10000");
      ASSERT_EQ(ccCommInitAll(c2_, 2, nullptr), ccSuccess) << LastError(nullptr);
    }
    for (size_t i = 0; i < kBufFloats; ++i) {
      a_[i] = float(i) + 0.5f;
      b_[i] = -1.0f;
    }
  }

  void TearDown() override {
    // Rejected calls must not have written anything.
    for (size_t i = 0; i < kBufFloats; ++i) {
      EXPECT_EQ(a_[i], float(i) + 0.5f) << "sendbuff element " << i << " written";
      EXPECT_EQ(b_[i], -1.0f) << "recvbuff element " << i << " written";
    }
    if (c1_ != nullptr) {
      EXPECT_EQ(ccCommDestroy(c1_), ccSuccess);
    }
    for (auto c : c2_) {
      if (c != nullptr) {
        EXPECT_EQ(ccCommDestroy(c), ccSuccess);
      }
    }
  }

  // The comms still work after the rejected calls: an all-reduce on c1_ and a ring exchange on c2_.
  void ExpectCommsUsable() {
    float x[4] = {1, 2, 3, 4}, y[4] = {0, 0, 0, 0};
    ASSERT_EQ(ccAllReduce(x, y, 4, ccFloat32, ccSum, c1_, nullptr), ccSuccess) << LastError(c1_);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(y[i], x[i]);
    int32_t s[2][3] = {{1, 2, 3}, {10, 20, 30}}, r[2][3] = {};
    ASSERT_EQ(ccGroupStart(), ccSuccess);
    for (int k = 0; k < 2; ++k) {
      EXPECT_EQ(ccSend(s[k], 3, ccInt32, 1 - k, c2_[k], nullptr), ccSuccess);
      EXPECT_EQ(ccRecv(r[k], 3, ccInt32, 1 - k, c2_[k], nullptr), ccSuccess);
    }
    ASSERT_EQ(ccGroupEnd(), ccSuccess) << LastError(nullptr);
    for (int k = 0; k < 2; ++k)
      for (int i = 0; i < 3; ++i) EXPECT_EQ(r[k][i], s[1 - k][i]);
  }

  static constexpr size_t kBufFloats = 16;
  float a_[kBufFloats];
  float b_[kBufFloats];
  ccComm_t c1_ = nullptr;
  ccComm_t c2_[2] = {nullptr, nullptr};
};

TEST_F(InvalidArgs, NullComm) {
  EXPECT_INVALID(nullptr, ccAllReduce(a_, b_, 4, ccFloat32, ccSum, nullptr, nullptr));
  EXPECT_INVALID(nullptr, ccBroadcast(a_, b_, 4, ccFloat32, 0, nullptr, nullptr));
  EXPECT_INVALID(nullptr, ccReduce(a_, b_, 4, ccFloat32, ccSum, 0, nullptr, nullptr));
  EXPECT_INVALID(nullptr, ccAllGather(a_, b_, 4, ccFloat32, nullptr, nullptr));
  EXPECT_INVALID(nullptr, ccReduceScatter(a_, b_, 4, ccFloat32, ccSum, nullptr, nullptr));
  EXPECT_INVALID(nullptr, ccAlltoAll(a_, b_, 4, ccFloat32, nullptr, nullptr));
  EXPECT_INVALID(nullptr, ccSend(a_, 4, ccFloat32, 0, nullptr, nullptr));
  EXPECT_INVALID(nullptr, ccRecv(b_, 4, ccFloat32, 0, nullptr, nullptr));
  int n = -1;
  ccResult_t e = ccSuccess;
  ccComm_t out = nullptr;
  EXPECT_INVALID(nullptr, ccCommCount(nullptr, &n));
  EXPECT_INVALID(nullptr, ccCommUserRank(nullptr, &n));
  EXPECT_INVALID(nullptr, ccCommGetAsyncError(nullptr, &e));
  EXPECT_INVALID(nullptr, ccCommSplit(nullptr, 0, 0, &out, nullptr));
  EXPECT_INVALID(nullptr, ccCommFinalize(nullptr));
  EXPECT_EQ(n, -1);
  ExpectCommsUsable();
}

TEST_F(InvalidArgs, NullOutputPointers) {
  EXPECT_INVALID(c1_, ccCommCount(c1_, nullptr));
  EXPECT_INVALID(c1_, ccCommUserRank(c1_, nullptr));
  EXPECT_INVALID(c1_, ccCommGetAsyncError(c1_, nullptr));
  EXPECT_INVALID(c1_, ccCommSplit(c1_, 0, 0, nullptr, nullptr));
  EXPECT_INVALID(nullptr, ccGetVersion(nullptr));
  EXPECT_INVALID(nullptr, ccGetUniqueId(nullptr));
  ExpectCommsUsable();
}

TEST_F(InvalidArgs, NullBuffersWithCount) {
  EXPECT_INVALID(c1_, ccAllReduce(nullptr, b_, 4, ccFloat32, ccSum, c1_, nullptr));
  EXPECT_INVALID(c1_, ccAllReduce(a_, nullptr, 4, ccFloat32, ccSum, c1_, nullptr));
  EXPECT_INVALID(c1_, ccBroadcast(nullptr, b_, 4, ccFloat32, 0, c1_, nullptr));  // root's sendbuff
  EXPECT_INVALID(c1_, ccBroadcast(a_, nullptr, 4, ccFloat32, 0, c1_, nullptr));
  EXPECT_INVALID(c1_, ccReduce(nullptr, b_, 4, ccFloat32, ccSum, 0, c1_, nullptr));
  EXPECT_INVALID(c1_, ccReduce(a_, nullptr, 4, ccFloat32, ccSum, 0, c1_, nullptr));  // root's recvbuff
  EXPECT_INVALID(c1_, ccAllGather(nullptr, b_, 4, ccFloat32, c1_, nullptr));
  EXPECT_INVALID(c1_, ccAllGather(a_, nullptr, 4, ccFloat32, c1_, nullptr));
  EXPECT_INVALID(c1_, ccReduceScatter(nullptr, b_, 4, ccFloat32, ccSum, c1_, nullptr));
  EXPECT_INVALID(c1_, ccReduceScatter(a_, nullptr, 4, ccFloat32, ccSum, c1_, nullptr));
  EXPECT_INVALID(c1_, ccAlltoAll(nullptr, b_, 4, ccFloat32, c1_, nullptr));
  EXPECT_INVALID(c1_, ccAlltoAll(a_, nullptr, 4, ccFloat32, c1_, nullptr));
  EXPECT_INVALID(c2_[0], ccSend(nullptr, 4, ccFloat32, 1, c2_[0], nullptr));
  EXPECT_INVALID(c2_[0], ccRecv(nullptr, 4, ccFloat32, 1, c2_[0], nullptr));
  ExpectCommsUsable();
}

TEST_F(InvalidArgs, ZeroCountWithNullBuffersIsAccepted) {
  EXPECT_EQ(ccAllReduce(nullptr, nullptr, 0, ccFloat32, ccSum, c1_, nullptr), ccSuccess) << LastError(c1_);
  EXPECT_EQ(ccBroadcast(nullptr, nullptr, 0, ccInt8, 0, c1_, nullptr), ccSuccess) << LastError(c1_);
  EXPECT_EQ(ccAllGather(nullptr, nullptr, 0, ccInt8, c1_, nullptr), ccSuccess) << LastError(c1_);
  ExpectCommsUsable();
}

TEST_F(InvalidArgs, BadDatatype) {
  for (int t : {42, -1, int(ccNumTypes)}) {
    SCOPED_TRACE("datatype " + std::to_string(t));
    const ccDataType_t dt = ccDataType_t(t);
    EXPECT_INVALID(c1_, ccAllReduce(a_, b_, 4, dt, ccSum, c1_, nullptr));
    EXPECT_INVALID(c1_, ccBroadcast(a_, b_, 4, dt, 0, c1_, nullptr));
    EXPECT_INVALID(c1_, ccReduce(a_, b_, 4, dt, ccSum, 0, c1_, nullptr));
    EXPECT_INVALID(c1_, ccAllGather(a_, b_, 4, dt, c1_, nullptr));
    EXPECT_INVALID(c1_, ccReduceScatter(a_, b_, 4, dt, ccSum, c1_, nullptr));
    EXPECT_INVALID(c1_, ccAlltoAll(a_, b_, 4, dt, c1_, nullptr));
    EXPECT_INVALID(c2_[0], ccSend(a_, 4, dt, 1, c2_[0], nullptr));
    EXPECT_INVALID(c2_[0], ccRecv(b_, 4, dt, 1, c2_[0], nullptr));
  }
  ExpectCommsUsable();
}

TEST_F(InvalidArgs, BadOp) {
  for (int op : {42, -1, int(ccNumOps)}) {
    SCOPED_TRACE("op " + std::to_string(op));
    const ccRedOp_t o = ccRedOp_t(op);
    EXPECT_INVALID(c1_, ccAllReduce(a_, b_, 4, ccFloat32, o, c1_, nullptr));
    EXPECT_INVALID(c1_, ccReduce(a_, b_, 4, ccFloat32, o, 0, c1_, nullptr));
    EXPECT_INVALID(c1_, ccReduceScatter(a_, b_, 4, ccFloat32, o, c1_, nullptr));
  }
  ExpectCommsUsable();
}

TEST_F(InvalidArgs, RootOutOfRange) {
  for (int root : {-1, 2, 1000}) {
    SCOPED_TRACE("root " + std::to_string(root));
    EXPECT_INVALID(c2_[0], ccBroadcast(a_, b_, 4, ccFloat32, root, c2_[0], nullptr));
    EXPECT_INVALID(c2_[1], ccReduce(a_, b_, 4, ccFloat32, ccSum, root, c2_[1], nullptr));
  }
  EXPECT_INVALID(c1_, ccBroadcast(a_, b_, 4, ccFloat32, 1, c1_, nullptr));
  EXPECT_INVALID(c1_, ccReduce(a_, b_, 4, ccFloat32, ccSum, 1, c1_, nullptr));
  ExpectCommsUsable();
}

TEST_F(InvalidArgs, PeerOutOfRange) {
  for (int peer : {-1, 2, 1000}) {
    SCOPED_TRACE("peer " + std::to_string(peer));
    EXPECT_INVALID(c2_[0], ccSend(a_, 4, ccFloat32, peer, c2_[0], nullptr));
    EXPECT_INVALID(c2_[1], ccRecv(b_, 4, ccFloat32, peer, c2_[1], nullptr));
  }
  // Rejected inside a group as well, at the call (group state belongs to the calling thread).
  ASSERT_EQ(ccGroupStart(), ccSuccess);
  EXPECT_EQ(ccSend(a_, 4, ccFloat32, 5, c2_[0], nullptr), ccInvalidArgument);
  EXPECT_FALSE(LastError(c2_[0]).empty());
  ccGroupEnd();  // its code is not specified here; it must return
  ExpectCommsUsable();
}

TEST_F(InvalidArgs, CountTimesTypeSizeOverflows) {
  EXPECT_INVALID(c1_, ccAllReduce(a_, b_, kHugeCount, ccFloat32, ccSum, c1_, nullptr));
  EXPECT_INVALID(c1_, ccBroadcast(a_, b_, kHugeCount, ccFloat32, 0, c1_, nullptr));
  EXPECT_INVALID(c1_, ccReduce(a_, b_, kHugeCount, ccFloat32, ccSum, 0, c1_, nullptr));
  EXPECT_INVALID(c1_, ccAllGather(a_, b_, kHugeCount, ccFloat32, c1_, nullptr));
  EXPECT_INVALID(c1_, ccReduceScatter(a_, b_, kHugeCount, ccFloat32, ccSum, c1_, nullptr));
  EXPECT_INVALID(c1_, ccAlltoAll(a_, b_, kHugeCount, ccFloat32, c1_, nullptr));
  EXPECT_INVALID(c2_[0], ccSend(a_, kHugeCount, ccFloat32, 1, c2_[0], nullptr));
  EXPECT_INVALID(c2_[0], ccRecv(b_, kHugeCount, ccFloat32, 1, c2_[0], nullptr));
  EXPECT_INVALID(c2_[0], ccAllReduce(a_, b_, std::numeric_limits<size_t>::max(), ccInt64, ccSum, c2_[0], nullptr));
  ExpectCommsUsable();
}

// count * typesize fits, but nranks * count * typesize (the size of the gathered buffer) does not.
TEST_F(InvalidArgs, TotalSizeOverflowsWithNranks) {
  const size_t count = std::numeric_limits<size_t>::max() / 6;  // * 4 fits, * 4 * 2 ranks does not
  EXPECT_INVALID(c2_[0], ccAllGather(a_, b_, count, ccFloat32, c2_[0], nullptr));
  EXPECT_INVALID(c2_[0], ccReduceScatter(a_, b_, count, ccFloat32, ccSum, c2_[0], nullptr));
  EXPECT_INVALID(c2_[0], ccAlltoAll(a_, b_, count, ccFloat32, c2_[0], nullptr));
  ExpectCommsUsable();
}

// ---- init ---------------------------------------------------------------------------------------------

class InvalidInit : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(ccGetUniqueId(&id_), ccSuccess); }
  ScopedEnv timeout_{"CONCCL_TIMEOUT_MS", "10000"};  // for the calls without a config
  ccUniqueId id_;
};

TEST_F(InvalidInit, RankOutOfRange) {
  ccConfig_t cfg = MakeConfig("local", kTimeoutMs);
  ccComm_t c = nullptr;
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(&c, 2, id_, 2, &cfg));
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(&c, 2, id_, 7, &cfg));
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(&c, 2, id_, -1, &cfg));
  EXPECT_INVALID(nullptr, ccCommInitRank(&c, 3, id_, 3));
  EXPECT_INVALID(nullptr, ccCommInitRank(&c, 3, id_, -5));
  EXPECT_EQ(c, nullptr);
}

TEST_F(InvalidInit, BadNranks) {
  ccConfig_t cfg = MakeConfig("local", kTimeoutMs);
  ccComm_t c = nullptr;
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(&c, 0, id_, 0, &cfg));
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(&c, -1, id_, 0, &cfg));
  EXPECT_INVALID(nullptr, ccCommInitRank(&c, 0, id_, 0));
  ccComm_t comms[2] = {nullptr, nullptr};
  EXPECT_INVALID(nullptr, ccCommInitAll(comms, 0, nullptr));
  EXPECT_INVALID(nullptr, ccCommInitAll(comms, -3, nullptr));
  EXPECT_INVALID(nullptr, ccCommInitAll(nullptr, 2, nullptr));
  EXPECT_EQ(c, nullptr);
}

TEST_F(InvalidInit, NullCommPointer) {
  ccConfig_t cfg = MakeConfig("local", kTimeoutMs);
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(nullptr, 1, id_, 0, &cfg));
  EXPECT_INVALID(nullptr, ccCommInitRank(nullptr, 1, id_, 0));
  EXPECT_INVALID(nullptr, ccCommInitFromEnv(nullptr, nullptr));
}

TEST_F(InvalidInit, ConfigWithWrongMagic) {
  ccConfig_t cfg = MakeConfig("local", kTimeoutMs);
  cfg.magic = 0;
  ccComm_t c = nullptr;
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(&c, 1, id_, 0, &cfg));
  cfg.magic = CC_CONFIG_MAGIC ^ 1u;
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(&c, 1, id_, 0, &cfg));
  EXPECT_EQ(c, nullptr);
}

TEST_F(InvalidInit, GarbageUniqueId) {
  ccUniqueId zero;
  std::memset(zero.internal, 0, sizeof(zero.internal));
  ccConfig_t cfg = MakeConfig("local", kTimeoutMs);
  ccComm_t c = nullptr;
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(&c, 1, zero, 0, &cfg));
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(&c, 2, zero, 1, &cfg));
  // A real id whose magic or address family was damaged.
  conccl::UniqueIdLayout layout;
  ASSERT_EQ(conccl::DecodeUniqueId(id_, &layout), ccSuccess);
  ccUniqueId badMagic;
  layout.magic ^= 0xffu;
  conccl::EncodeUniqueId(layout, &badMagic);
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(&c, 1, badMagic, 0, &cfg));
  ASSERT_EQ(conccl::DecodeUniqueId(id_, &layout), ccSuccess);
  layout.addr.sa.sa_family = AF_UNIX;
  ccUniqueId badFamily;
  conccl::EncodeUniqueId(layout, &badFamily);
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(&c, 1, badFamily, 0, &cfg));
  EXPECT_EQ(c, nullptr);
}

// A valid id and config still work after the failures above in the same process.
TEST_F(InvalidInit, ValidInitAfterFailures) {
  ccConfig_t bad = MakeConfig("local", kTimeoutMs);
  bad.magic = 1;
  ccComm_t c = nullptr;
  EXPECT_INVALID(nullptr, ccCommInitRankConfig(&c, 1, id_, 0, &bad));
  ccConfig_t cfg = MakeConfig("local", kTimeoutMs);
  ASSERT_EQ(ccCommInitRankConfig(&c, 1, id_, 0, &cfg), ccSuccess) << LastError(nullptr);
  int n = 0;
  EXPECT_EQ(ccCommCount(c, &n), ccSuccess);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(ccCommDestroy(c), ccSuccess);
}

}  // namespace
