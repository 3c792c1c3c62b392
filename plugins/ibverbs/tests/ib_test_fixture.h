// ib_test_fixture.h — shared by the ibverbs plugin's loopback tests: a FakeVerbs with one RoCE port and two
// InfiniBand ports, an IbNet on it, and helpers that connect a pair, wait for a request and round-trip a
// message (checking the bytes and guard bytes past the receive buffer).
#ifndef CONCCL_PLUGINS_IBVERBS_TESTS_IB_TEST_FIXTURE_H_
#define CONCCL_PLUGINS_IBVERBS_TESTS_IB_TEST_FIXTURE_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "fake_verbs.h"
#include "ib_net.h"

namespace ccib {

inline constexpr int kTimeoutMs = 5000;

inline VerbsGid Ipv4Gid(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  VerbsGid g;
  g.type = GidType::kRoceV2;
  g.raw[10] = g.raw[11] = 0xff;
  g.raw[12] = a, g.raw[13] = b, g.raw[14] = c, g.raw[15] = d;
  return g;
}

// Device 0: RoCE, GIDs [v1 link-local, v2 127.0.0.1]; devices 1 and 2: InfiniBand ports with LIDs 7 and 9.
inline void AddPorts(FakeVerbs* fake) {
  FakePortSpec roce;
  roce.port.device = "roce0";
  roce.port.deviceIndex = 0;
  roce.port.ethernet = true;
  roce.port.activeMtu = 5;
  roce.port.maxMsgBytes = 1u << 30;
  roce.port.speedMbps = 100000;
  roce.port.maxQp = 1024;
  VerbsGid ll;
  ll.type = GidType::kRoceV1;
  ll.raw[0] = 0xfe, ll.raw[1] = 0x80, ll.raw[15] = 1;
  roce.gids = {ll, Ipv4Gid(127, 0, 0, 1)};
  roce.port.gidTableLen = 2;
  fake->ports.push_back(roce);
  for (int i = 1; i <= 2; ++i) {
    FakePortSpec ib;
    ib.port.device = "mlx5_" + std::to_string(i);
    ib.port.deviceIndex = i;
    ib.port.lid = static_cast<uint16_t>(5 + 2 * i);
    ib.port.activeMtu = i == 1 ? 4 : 5;
    ib.port.maxMsgBytes = 1u << 30;
    VerbsGid g;
    g.raw[0] = 0xfe, g.raw[1] = 0x80, g.raw[15] = static_cast<uint8_t>(i);
    ib.gids = {g};
    ib.port.gidTableLen = 1;
    fake->ports.push_back(ib);
  }
}

class IbNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AddPorts(&fake);
    ASSERT_EQ(net.Init(nullptr, config), ccNetOk);
  }
  // Reinitialises with another configuration.
  void Reinit(const IbConfig& c) {
    config = c;
    ASSERT_EQ(net.Init(nullptr, config), ccNetOk);
  }

  // Connects sender (on `from`) to receiver (on `to`) through a listener of `to`.
  void Pair(IbNet& from, IbNet& to, int devFrom, int devTo, void** send, void** recv) {
    uint8_t handle[CC_NET_HANDLE_MAXSIZE] = {};
    void* listen = nullptr;
    ASSERT_EQ(to.Listen(devTo, handle, &listen), ccNetOk);
    *send = *recv = nullptr;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while ((!*send || !*recv) && std::chrono::steady_clock::now() < deadline) {
      if (!*send) { ASSERT_EQ(from.Connect(devFrom, handle, send), ccNetOk); }
      if (!*recv) { ASSERT_EQ(to.Accept(listen, recv), ccNetOk); }
    }
    ASSERT_TRUE(*send && *recv) << "handshake did not finish";
    EXPECT_EQ(to.CloseListen(listen), ccNetOk);
  }
  void Pair(void** send, void** recv, int dev = 0) { Pair(net, net, dev, dev, send, recv); }

  // Tests req until done; returns the result code (ccNetOk when done), or -1 on timeout.
  int Wait(IbNet& n, void* req, size_t* size) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (std::chrono::steady_clock::now() < deadline) {
      int done = 0;
      int rc = n.Test(req, &done, size);
      if (rc != ccNetOk) return rc;
      if (done) return ccNetOk;
    }
    return -1;
  }
  int Wait(void* req, size_t* size = nullptr) { return Wait(net, req, size); }

  // Sends `bytes` with a pattern and checks them on the other side, with guard bytes past the buffer.
  void RoundTrip(IbNet& from, IbNet& to, void* send, void* recv, size_t bytes, size_t recvCap, uint8_t seed) {
    std::vector<uint8_t> src(bytes), dst(recvCap + 64, 0xee);
    for (size_t i = 0; i < bytes; ++i) src[i] = static_cast<uint8_t>(i * 31 + seed);
    void *rreq = nullptr, *sreq = nullptr;
    ASSERT_EQ(to.Irecv(recv, dst.data(), recvCap, nullptr, &rreq), ccNetOk);
    ASSERT_NE(rreq, nullptr);
    for (int i = 0; i < 1000 && !sreq; ++i) ASSERT_EQ(from.Isend(send, src.data(), bytes, nullptr, &sreq), ccNetOk);
    ASSERT_NE(sreq, nullptr);
    size_t got = 0, sent = 0;
    ASSERT_EQ(Wait(from, sreq, &sent), ccNetOk);
    ASSERT_EQ(Wait(to, rreq, &got), ccNetOk);
    EXPECT_EQ(sent, bytes);
    EXPECT_EQ(got, bytes);
    EXPECT_EQ(memcmp(dst.data(), src.data(), bytes), 0);
    for (size_t i = recvCap; i < dst.size(); ++i) ASSERT_EQ(dst[i], 0xee) << "write past the buffer at " << i;
  }

  FakeVerbs fake;
  IbConfig config;
  IbNet net{&fake};
};

}  // namespace ccib

#endif  // CONCCL_PLUGINS_IBVERBS_TESTS_IB_TEST_FIXTURE_H_
