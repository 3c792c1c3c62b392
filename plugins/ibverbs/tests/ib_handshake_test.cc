// ib_handshake_test.cc — connection setup of the ibverbs plugin when the other side misbehaves: garbage
// and truncated connection info sent to a listener (dropped, listener keeps working), a fake receiver that
// answers a sender with garbage or closes early (ccNetErrorRemote), a receiver that never answers
// (CONCCL_IB_CONNECT_TIMEOUT_MS), and a listener that is gone.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "conn_info.h"
#include "ib_test_fixture.h"
#include "side_channel.h"

namespace ccib {
namespace {

// Accepts until a connection is returned, an error occurs or the time is up.
int AcceptFor(IbNet& net, void* listen, void** recv, int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int rc = net.Accept(listen, recv);
    if (rc != ccNetOk || *recv) return rc;
  }
  return ccNetOk;
}

int RawConnect(const uint8_t* handle) {
  ListenHandle h;
  std::string err;
  if (!DecodeListenHandle(handle, &h, &err)) return -1;
  int fd = socket(h.addr.ss_family, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&h.addr), sizeof(sockaddr_in)) != 0) return close(fd), -1;
  return fd;
}

TEST_F(IbNetTest, ListenerDropsGarbageAndTruncatedInfoAndKeepsAccepting) {
  uint8_t handle[CC_NET_HANDLE_MAXSIZE] = {};
  void* listen = nullptr;
  ASSERT_EQ(net.Listen(0, handle, &listen), ccNetOk);
  int garbage = RawConnect(handle);
  ASSERT_GE(garbage, 0);
  uint8_t junk[kConnInfoBytes];
  memset(junk, 0x5a, sizeof(junk));
  ASSERT_EQ(write(garbage, junk, sizeof(junk)), static_cast<ssize_t>(sizeof(junk)));
  int truncated = RawConnect(handle);
  ASSERT_GE(truncated, 0);
  ASSERT_EQ(write(truncated, junk, 10), 10);
  close(truncated);
  void* recv = nullptr;
  EXPECT_EQ(AcceptFor(net, listen, &recv, 300), ccNetOk);
  EXPECT_EQ(recv, nullptr);
  pollfd p = {garbage, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 1000), 1);  // the listener closed the garbage connection
  char c;
  EXPECT_EQ(read(garbage, &c, 1), 0);
  close(garbage);
  void* send = nullptr;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while ((!send || !recv) && std::chrono::steady_clock::now() < deadline) {
    if (!send) { ASSERT_EQ(net.Connect(0, handle, &send), ccNetOk); }
    if (!recv) { ASSERT_EQ(net.Accept(listen, &recv), ccNetOk); }
  }
  ASSERT_TRUE(send && recv);
  RoundTrip(net, net, send, recv, 64, 64, 1);
  net.CloseSend(send);
  net.CloseRecv(recv);
  net.CloseListen(listen);
}

// A fake receiver on a plain socket: the sender must fail with ccNetErrorRemote, not crash or hang.
class FakeReceiver {
 public:
  explicit FakeReceiver(uint8_t* handle) {
    sockaddr_storage want{};
    auto* a = reinterpret_cast<sockaddr_in*>(&want);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ListenHandle h;
    std::string err;
    EXPECT_EQ(ListenTcp(want, &fd_, &h.addr, &err), 0);
    h.nonce = 77;
    EncodeListenHandle(h, handle);
  }
  ~FakeReceiver() {
    if (peer_ >= 0) close(peer_);
    close(fd_);
  }
  // Accepts the sender, reads its info, replies with `reply` (len bytes) and optionally closes.
  void Reply(const uint8_t* reply, size_t len, bool closeAfter) {
    std::string err;
    for (int i = 0; i < 5000 && peer_ < 0; ++i) {
      AcceptTcp(fd_, &peer_, &err);
      if (peer_ < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_GE(peer_, 0);
    uint8_t info[kConnInfoBytes];
    size_t got = 0;
    for (int i = 0; i < 5000 && got < kConnInfoBytes; ++i) {
      RecvSome(peer_, info, kConnInfoBytes, &got);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(got, kConnInfoBytes);
    ConnInfo sender;
    ASSERT_TRUE(DecodeConnInfo(info, ConnRole::kSender, 77, &sender, &err)) << err;
    size_t sent = 0;
    SendSome(peer_, reply, len, &sent);
    if (closeAfter) close(peer_), peer_ = -1;
  }

 private:
  int fd_ = -1, peer_ = -1;
};

int ConnectFor(IbNet& net, const uint8_t* handle, void** send, int ms, FakeReceiver* rx, const uint8_t* reply,
               size_t len, bool closeAfter) {
  int rc = net.Connect(0, handle, send);
  if (rc != ccNetOk) return rc;
  std::thread t([&] { rx->Reply(reply, len, closeAfter); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (rc == ccNetOk && !*send && std::chrono::steady_clock::now() < deadline)
    rc = net.Connect(0, handle, send);
  t.join();
  return rc;
}

TEST_F(IbNetTest, SenderRejectsGarbageAndTruncatedReplies) {
  uint8_t junk[kConnInfoBytes];
  memset(junk, 0xa5, sizeof(junk));
  {
    uint8_t handle[CC_NET_HANDLE_MAXSIZE] = {};
    FakeReceiver rx(handle);
    void* send = nullptr;
    EXPECT_EQ(ConnectFor(net, handle, &send, kTimeoutMs, &rx, junk, sizeof(junk), false), ccNetErrorRemote);
    EXPECT_EQ(send, nullptr);
  }
  {
    uint8_t handle[CC_NET_HANDLE_MAXSIZE] = {};
    FakeReceiver rx(handle);
    void* send = nullptr;
    EXPECT_EQ(ConnectFor(net, handle, &send, kTimeoutMs, &rx, junk, 20, true), ccNetErrorRemote);
  }
  EXPECT_EQ(fake.stats.qpsCreated, fake.stats.qpsDestroyed);  // failed attempts clean up their QPs
  EXPECT_EQ(fake.LiveRegistrations(), 0);
}

TEST_F(IbNetTest, HandshakeTimesOut) {
  IbConfig c;
  c.connectTimeoutMs = 100;
  Reinit(c);
  uint8_t handle[CC_NET_HANDLE_MAXSIZE] = {};
  FakeReceiver rx(handle);  // accepts in the kernel backlog but never answers
  void* send = nullptr;
  int rc = ccNetOk;
  auto start = std::chrono::steady_clock::now();
  while (rc == ccNetOk && !send && std::chrono::steady_clock::now() - start < std::chrono::seconds(5))
    rc = net.Connect(0, handle, &send);
  EXPECT_EQ(rc, ccNetErrorRemote);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(IbNetTest, ConnectToAClosedListenerFails) {
  uint8_t handle[CC_NET_HANDLE_MAXSIZE] = {};
  void* listen = nullptr;
  ASSERT_EQ(net.Listen(0, handle, &listen), ccNetOk);
  ASSERT_EQ(net.CloseListen(listen), ccNetOk);
  void* send = nullptr;
  int rc = ccNetOk;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while (rc == ccNetOk && !send && std::chrono::steady_clock::now() < deadline) rc = net.Connect(0, handle, &send);
  EXPECT_EQ(rc, ccNetErrorRemote);
}

}  // namespace
}  // namespace ccib
