// ib_net_test.cc — the ibverbs plugin's data path end to end over the in-process fake verbs and the real
// TCP side channel on loopback: devices and properties, the connection-info exchange (the fake refuses
// writes between QPs whose QPN/PSN/GID/LID were not exchanged correctly), credits, chunking, send-queue
// flow control, the registration cache in the data path, and the data-path error paths (message larger
// than the posted buffer, peer closes, registration failure, bad arguments).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "ib_test_fixture.h"

namespace ccib {
namespace {

TEST(IbNetNoDevice, ListFailureMeansZeroDevices) {
  FakeVerbs fake;
  fake.listFails = true;
  IbNet net(&fake);
  ASSERT_EQ(net.Init(nullptr, IbConfig{}), ccNetOk);
  int n = -1;
  ASSERT_EQ(net.Devices(&n), ccNetOk);
  EXPECT_EQ(n, 0);
  ccNetProperties_v1_t p;
  EXPECT_EQ(net.GetProperties(0, &p), ccNetErrorArgument);
  uint8_t handle[CC_NET_HANDLE_MAXSIZE];
  void* l = nullptr;
  EXPECT_EQ(net.Listen(0, handle, &l), ccNetErrorArgument);
}

TEST_F(IbNetTest, DevicesPropertiesAndHcaFilter) {
  int n = 0;
  ASSERT_EQ(net.Devices(&n), ccNetOk);
  ASSERT_EQ(n, 3);
  ccNetProperties_v1_t p;
  ASSERT_EQ(net.GetProperties(0, &p), ccNetOk);
  EXPECT_STREQ(p.name, "roce0");
  EXPECT_EQ(p.port, 1);
  EXPECT_EQ(p.speedMbps, 100000);
  EXPECT_EQ(p.maxComms, 1024);
  EXPECT_EQ(p.ptrSupport, static_cast<uint32_t>(CC_NET_PTR_HOST));
  EXPECT_EQ(p.maxMessageBytes, kMaxMessageBytes);
  EXPECT_EQ(net.GetProperties(3, &p), ccNetErrorArgument);
  IbConfig c;
  c.hca = "^roce";
  Reinit(c);
  ASSERT_EQ(net.Devices(&n), ccNetOk);
  EXPECT_EQ(n, 2);
  c.hca = "=mlx5_2:1";
  Reinit(c);
  ASSERT_EQ(net.Devices(&n), ccNetOk);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(net.GetProperties(0, &p), ccNetOk);
  EXPECT_STREQ(p.name, "mlx5_2");
  c.hca = "mlx5_1:x";
  EXPECT_EQ(net.Init(nullptr, c), ccNetErrorArgument);
  c = IbConfig{};
  c.gidIndex = 5;  // beyond every table: every port is skipped
  Reinit(c);
  ASSERT_EQ(net.Devices(&n), ccNetOk);
  EXPECT_EQ(n, 0);
}

TEST_F(IbNetTest, RoceRoundTripsOfManySizes) {
  void *send, *recv;
  Pair(&send, &recv);
  uint8_t seed = 1;
  for (size_t bytes : {size_t(0), size_t(1), size_t(4095), size_t(4096), size_t(100000), size_t(3) << 20})
    RoundTrip(net, net, send, recv, bytes, bytes + 100, seed++);
  EXPECT_EQ(net.CloseSend(send), ccNetOk);
  EXPECT_EQ(net.CloseRecv(recv), ccNetOk);
  EXPECT_EQ(fake.stats.qpsCreated, fake.stats.qpsDestroyed);
  EXPECT_EQ(fake.stats.badDeregs, 0);
}

TEST_F(IbNetTest, InfinibandAcrossTwoPluginInstancesUsesLids) {
  IbNet other(&fake);
  ASSERT_EQ(other.Init(nullptr, config), ccNetOk);
  void *send, *recv;
  Pair(net, other, 1, 2, &send, &recv);  // mlx5_1 (LID 7, MTU 2048) -> mlx5_2 (LID 9)
  RoundTrip(net, other, send, recv, 70000, 70000, 3);
  EXPECT_EQ(net.CloseSend(send), ccNetOk);
  EXPECT_EQ(other.CloseRecv(recv), ccNetOk);
}

TEST_F(IbNetTest, LargeMessagesAreChunkedUnderSendQueueFlowControl) {
  IbConfig c;
  c.chunkBytes = 4096;
  Reinit(c);
  void *send, *recv;
  Pair(&send, &recv);
  size_t bytes = 4096 * (kSendDepth * 2 + 3) + 123;  // more chunks than the send queue holds
  int before = fake.stats.writes;
  RoundTrip(net, net, send, recv, bytes, bytes, 9);
  EXPECT_EQ(fake.stats.largestWrite, 4096u);
  EXPECT_EQ(fake.stats.writes - before, static_cast<int>((bytes + 4095) / 4096) + 1);  // + 1 credit
  net.CloseSend(send);
  net.CloseRecv(recv);
}

TEST_F(IbNetTest, SendWaitsForACreditAndMessagesMatchInOrder) {
  void *send, *recv;
  Pair(&send, &recv);
  std::vector<uint32_t> src(200), dst(200, 0);
  for (uint32_t i = 0; i < 200; ++i) src[i] = i * 2654435761u;
  void* sreq = reinterpret_cast<void*>(1);
  ASSERT_EQ(net.Isend(send, &src[0], 4, nullptr, &sreq), ccNetOk);
  EXPECT_EQ(sreq, nullptr);  // no receive posted yet: no credit
  // More messages than credit slots, in waves, each irecv matched to the isend of the same index.
  for (int wave = 0; wave < 4; ++wave) {
    std::vector<void*> rreqs, sreqs;
    for (int i = 0; i < 50; ++i) {
      void* r = nullptr;
      ASSERT_EQ(net.Irecv(recv, &dst[wave * 50 + i], 4, nullptr, &r), ccNetOk);
      ASSERT_NE(r, nullptr);
      rreqs.push_back(r);
    }
    for (int i = 0; i < 50; ++i) {
      void* s = nullptr;
      ASSERT_EQ(net.Isend(send, &src[wave * 50 + i], 4, nullptr, &s), ccNetOk);
      ASSERT_NE(s, nullptr);
      sreqs.push_back(s);
    }
    for (void* s : sreqs) ASSERT_EQ(Wait(s), ccNetOk);
    for (void* r : rreqs) ASSERT_EQ(Wait(r), ccNetOk);
  }
  EXPECT_EQ(src, dst);
  net.CloseSend(send);
  net.CloseRecv(recv);
}

TEST_F(IbNetTest, OutstandingReceivesAreBoundedByTheCreditFifo) {
  void *send, *recv;
  Pair(&send, &recv);
  std::vector<uint8_t> buf(kCreditSlots + 1);
  std::vector<void*> reqs;
  for (uint32_t i = 0; i <= kCreditSlots; ++i) {
    void* r = nullptr;
    ASSERT_EQ(net.Irecv(recv, &buf[i], 1, nullptr, &r), ccNetOk);
    reqs.push_back(r);
  }
  EXPECT_EQ(reqs.back(), nullptr);  // the FIFO is full: call again later
  uint8_t one = 42;
  void* s = nullptr;
  ASSERT_EQ(net.Isend(send, &one, 1, nullptr, &s), ccNetOk);
  ASSERT_EQ(Wait(s), ccNetOk);
  ASSERT_EQ(Wait(reqs[0]), ccNetOk);
  void* r = nullptr;
  ASSERT_EQ(net.Irecv(recv, &buf[kCreditSlots], 1, nullptr, &r), ccNetOk);
  EXPECT_NE(r, nullptr);
  EXPECT_EQ(buf[0], 42);
  net.CloseSend(send);
  net.CloseRecv(recv);  // abandons the pending receives
  EXPECT_EQ(fake.stats.badDeregs, 0);
}

TEST_F(IbNetTest, MessageLargerThanTheReceiveFailsBothSidesWithoutWriting) {
  void *send, *recv;
  Pair(&send, &recv);
  std::vector<uint8_t> src(1000, 7), dst(600, 0xee);
  void *rreq = nullptr, *sreq = nullptr;
  ASSERT_EQ(net.Irecv(recv, dst.data(), 500, nullptr, &rreq), ccNetOk);
  ASSERT_EQ(net.Isend(send, src.data(), 1000, nullptr, &sreq), ccNetOk);
  ASSERT_NE(sreq, nullptr);
  EXPECT_EQ(Wait(sreq), ccNetErrorRemote);
  EXPECT_EQ(Wait(rreq), ccNetErrorRemote);
  for (uint8_t b : dst) ASSERT_EQ(b, 0xee);
  void* again = nullptr;
  EXPECT_EQ(net.Irecv(recv, dst.data(), 500, nullptr, &again), ccNetErrorRemote);  // connection unusable
  EXPECT_EQ(net.Isend(send, src.data(), 10, nullptr, &again), ccNetErrorRemote);
  net.CloseSend(send);
  net.CloseRecv(recv);
}

TEST_F(IbNetTest, PeerCloseFailsPendingRequests) {
  void *send, *recv;
  Pair(&send, &recv);
  uint8_t buf[16];
  void* rreq = nullptr;
  ASSERT_EQ(net.Irecv(recv, buf, sizeof(buf), nullptr, &rreq), ccNetOk);
  ASSERT_EQ(net.CloseSend(send), ccNetOk);
  EXPECT_EQ(Wait(rreq), ccNetErrorRemote);
  net.CloseRecv(recv);

  Pair(&send, &recv);
  ASSERT_EQ(net.CloseRecv(recv), ccNetOk);
  void* sreq = nullptr;
  int rc = ccNetOk;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while (rc == ccNetOk && std::chrono::steady_clock::now() < deadline) rc = net.Isend(send, buf, 4, nullptr, &sreq);
  EXPECT_EQ(rc, ccNetErrorRemote);  // waiting for a credit from a receiver that is gone
  EXPECT_EQ(sreq, nullptr);
  net.CloseSend(send);
}

TEST_F(IbNetTest, RegisteredBuffersAndTheCacheInTheDataPath) {
  IbConfig c;
  c.regCacheBytes = 1 << 20;
  Reinit(c);
  void *send, *recv;
  Pair(&send, &recv);
  std::vector<uint8_t> src(10000, 3), dst(10000);
  void *smh = nullptr, *rmh = nullptr;
  ASSERT_EQ(net.RegMr(send, src.data(), src.size(), CC_NET_PTR_HOST, &smh), ccNetOk);
  ASSERT_EQ(net.RegMr(recv, dst.data(), dst.size(), CC_NET_PTR_HOST, &rmh), ccNetOk);
  int regs = fake.stats.regs;
  for (int i = 0; i < 5; ++i) {
    void *r = nullptr, *s = nullptr;
    ASSERT_EQ(net.Irecv(recv, dst.data(), dst.size(), rmh, &r), ccNetOk);
    ASSERT_EQ(net.Isend(send, src.data(), src.size(), smh, &s), ccNetOk);
    ASSERT_EQ(Wait(s), ccNetOk);
    ASSERT_EQ(Wait(r), ccNetOk);
  }
  EXPECT_EQ(fake.stats.regs, regs);  // no registration per message
  EXPECT_EQ(dst, src);
  void* r = nullptr;
  EXPECT_EQ(net.Irecv(recv, dst.data() + 5000, 20000, rmh, &r), ccNetErrorArgument);  // outside the mhandle
  EXPECT_EQ(net.RegMr(send, src.data(), 10, CC_NET_PTR_CUDA, &smh), ccNetErrorUnsupported);
  EXPECT_EQ(net.DeregMr(send, smh), ccNetOk);
  EXPECT_EQ(net.DeregMr(recv, rmh), ccNetOk);
  // Unregistered buffers: the cache keeps them (cap > 0), so repeats hit instead of registering again.
  std::vector<uint8_t> a(5000, 9), b(5000);
  for (int i = 0; i < 3; ++i) {
    if (i == 1) regs = fake.stats.regs;
    uint64_t hits = net.CacheOf(0)->Stats().hits;
    void *rq = nullptr, *sq = nullptr;
    ASSERT_EQ(net.Irecv(recv, b.data(), b.size(), nullptr, &rq), ccNetOk);
    ASSERT_EQ(net.Isend(send, a.data(), a.size(), nullptr, &sq), ccNetOk);
    ASSERT_EQ(Wait(sq), ccNetOk);
    ASSERT_EQ(Wait(rq), ccNetOk);
    if (i > 0) { EXPECT_EQ(net.CacheOf(0)->Stats().hits, hits + 2); }
  }
  EXPECT_EQ(fake.stats.regs, regs);
  EXPECT_EQ(a, b);
  net.CloseSend(send);
  net.CloseRecv(recv);
}

TEST_F(IbNetTest, RegistrationFailureIsASystemError) {
  void *send, *recv;
  Pair(&send, &recv);
  std::vector<uint8_t> buf(100);
  fake.failRegAfter = 0;
  void* r = nullptr;
  EXPECT_EQ(net.Irecv(recv, buf.data(), buf.size(), nullptr, &r), ccNetErrorSystem);
  EXPECT_EQ(r, nullptr);
  RoundTrip(net, net, send, recv, 100, 100, 5);  // the connection is still fine
  net.CloseSend(send);
  net.CloseRecv(recv);
}

TEST_F(IbNetTest, BadArgumentsAreErrors) {
  void *send, *recv;
  Pair(&send, &recv);
  void* req = nullptr;
  uint8_t b[4];
  EXPECT_EQ(net.Isend(recv, b, 4, nullptr, &req), ccNetErrorArgument);  // a recvComm
  EXPECT_EQ(net.Irecv(send, b, 4, nullptr, &req), ccNetErrorArgument);
  EXPECT_EQ(net.Isend(send, nullptr, 4, nullptr, &req), ccNetErrorArgument);
  EXPECT_EQ(net.Isend(send, b, kMaxMessageBytes + 1, nullptr, &req), ccNetErrorArgument);
  int done;
  EXPECT_EQ(net.Test(nullptr, &done, nullptr), ccNetErrorArgument);
  uint8_t handle[CC_NET_HANDLE_MAXSIZE] = {};
  void* s = nullptr;
  EXPECT_EQ(net.Connect(0, handle, &s), ccNetErrorArgument);  // not a handle
  EXPECT_EQ(net.Connect(7, handle, &s), ccNetErrorArgument);
  EXPECT_EQ(net.CloseSend(recv), ccNetErrorArgument);
  net.CloseSend(send);
  net.CloseRecv(recv);
}

}  // namespace
}  // namespace ccib
