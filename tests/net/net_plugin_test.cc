// net_plugin_test.cc — the net plugin ABI (include/conccl_net.h): loading and table checks, the ABI driven
// directly (the built-in tcp and shm tables, the example plugin, and UCX when built), communicators whose peers
// all go through a plugin (ranks as threads), plugins that cannot serve (skipped, built-ins serve), and
// strangers that connect to a rank's listener with a bad hello (dropped; the collective is unaffected), and the
// tcp table's wire format spoken by hand from a raw socket (junk, bad headers, oversized and truncated messages).
//
// CONCCL_TEST_PLUGIN_DIR (a compile definition) is the directory holding the built plugins.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../common/test_util.h"
#include "core/comm.h"
#include "common/result.h"
#include "common/socket.h"
#include "transports/net_builtin.h"
#include "transports/net_plugin.h"

using namespace cctest;

namespace {

std::string PluginPath(const std::string& name) {
  return std::string(CONCCL_TEST_PLUGIN_DIR) + "/libconccl-net-" + name + ".so";
}

bool Exists(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

// A built-in table by name, or an external plugin loaded from the build tree.
const ccNet_v1_t* Table(const std::string& name) {
  if (name == "tcp") return conccl::NetTcpTable();
  if (name == "shm") return conccl::NetShmTable();
  conccl::NetPlugin p;
  if (conccl::LoadNetPlugin(PluginPath(name), &p) != ccSuccess) return nullptr;
  return p.net;
}

// ---- loading ---------------------------------------------------------------------------------------------

TEST(NetLoader, UnknownNameIsSystemErrorNamingTheFile) {
  conccl::NetPlugin p;
  EXPECT_EQ(conccl::LoadNetPlugin("no-such-plugin-xyz", &p), ccSystemError);
  EXPECT_NE(conccl::ThreadLastError().find("libconccl-net-no-such-plugin-xyz.so"), std::string::npos)
      << conccl::ThreadLastError();
}

TEST(NetLoader, LibraryWithoutTheSymbolIsRejected) {
  std::string codec = std::string(CONCCL_TEST_PLUGIN_DIR) + "/libconccl-codec-trunc16.so";
  ASSERT_TRUE(Exists(codec));
  conccl::NetPlugin p;
  EXPECT_EQ(conccl::LoadNetPlugin(codec, &p), ccSystemError);
  EXPECT_NE(conccl::ThreadLastError().find("does not export ccNetPlugin_v1"), std::string::npos);
}

TEST(NetLoader, PluginWithoutDevicesOrFailingInitIsRejected) {
  conccl::NetPlugin p;
  EXPECT_EQ(conccl::LoadNetPlugin(PluginPath("nodev"), &p), ccSystemError);
  EXPECT_NE(conccl::ThreadLastError().find("no usable device"), std::string::npos) << conccl::ThreadLastError();
  EXPECT_EQ(conccl::LoadNetPlugin(PluginPath("badinit"), &p), ccSystemError);
  EXPECT_NE(conccl::ThreadLastError().find("init failed"), std::string::npos) << conccl::ThreadLastError();
}

TEST(NetLoader, TableChecks) {
  const ccNet_v1_t* example = Table("example");
  ASSERT_NE(example, nullptr) << conccl::ThreadLastError();
  EXPECT_EQ(conccl::CheckNetTable(example), "");
  ccNet_v1_t t = *example;
  t.abiVersion = CC_NET_ABI_VERSION + 1;
  EXPECT_NE(conccl::CheckNetTable(&t).find("ABI version"), std::string::npos);
  t = *example;
  t.name = "tcp";
  EXPECT_NE(conccl::CheckNetTable(&t).find("clashes"), std::string::npos);
  t = *example;
  t.test = nullptr;
  EXPECT_NE(conccl::CheckNetTable(&t).find("lacks"), std::string::npos);
  t = *example;
  t.name = "a-name-longer-than-15";
  EXPECT_NE(conccl::CheckNetTable(&t).find("longer"), std::string::npos);
}

// ---- the ABI, driven directly ----------------------------------------------------------------------------

class NetAbi : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "ucx" && !Exists(PluginPath("ucx"))) GTEST_SKIP() << "UCX plugin not built";
    net_ = Table(GetParam());
    ASSERT_NE(net_, nullptr) << conccl::ThreadLastError();
    lock_ = std::unique_lock<std::mutex>(conccl::NetPluginMutex(net_));
    ccNetProperties_v1_t props{};
    ASSERT_EQ(net_->getProperties(0, &props), ccNetOk);
    maxMsg_ = props.maxMessageBytes;
    ASSERT_EQ(net_->listen(0, handle_, &listen_), ccNetOk);
    // connect and accept interleaved until both ends exist
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((!send_ || !recv_) && std::chrono::steady_clock::now() < deadline) {
      if (!send_) {
        ASSERT_EQ(net_->connect(0, handle_, &send_), ccNetOk);
      }
      if (!recv_) {
        ASSERT_EQ(net_->accept(listen_, &recv_), ccNetOk);
      }
    }
    ASSERT_TRUE(send_ && recv_) << "connection not established within 10 s";
  }
  void TearDown() override {
    if (!net_) return;
    if (send_) net_->closeSend(send_);
    if (recv_) net_->closeRecv(recv_);
    if (listen_) net_->closeListen(listen_);
  }
  // Tests both requests until done or error; returns the codes.
  void Finish(void* sreq, void* rreq, int* sCode, int* rCode, size_t* got) {
    int sDone = sreq ? 0 : 1, rDone = rreq ? 0 : 1;
    *sCode = *rCode = ccNetOk;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((!sDone || !rDone) && std::chrono::steady_clock::now() < deadline) {
      if (!sDone) {
        *sCode = net_->test(sreq, &sDone, nullptr);
        if (*sCode != ccNetOk) sDone = 1;
      }
      if (!rDone) {
        *rCode = net_->test(rreq, &rDone, got);
        if (*rCode != ccNetOk) rDone = 1;
      }
    }
    ASSERT_TRUE(sDone && rDone) << "requests did not finish within 10 s";
  }

  const ccNet_v1_t* net_ = nullptr;
  std::unique_lock<std::mutex> lock_;
  uint8_t handle_[CC_NET_HANDLE_MAXSIZE] = {0};
  void* listen_ = nullptr;
  void* send_ = nullptr;
  void* recv_ = nullptr;
  size_t maxMsg_ = 0;
};

TEST_P(NetAbi, MessagesArriveInOrderWithTheirSizes) {
  const std::vector<size_t> sizes = {0, 1, 7, 4096, 100000, std::min<size_t>(maxMsg_, 3 << 20)};
  std::vector<std::vector<uint8_t>> out(sizes.size()), in(sizes.size());
  std::vector<void*> sreq(sizes.size(), nullptr), rreq(sizes.size(), nullptr);
  for (size_t i = 0; i < sizes.size(); ++i) {
    out[i].resize(sizes[i]);
    for (size_t j = 0; j < sizes[i]; ++j) out[i][j] = uint8_t(j * 31 + i);
    in[i].assign(sizes[i] + 16, 0xee);  // posted capacity larger than the message
    ASSERT_EQ(net_->irecv(recv_, in[i].data(), in[i].size(), nullptr, &rreq[i]), ccNetOk);
    ASSERT_NE(rreq[i], nullptr);
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    while (!sreq[i]) ASSERT_EQ(net_->isend(send_, out[i].data(), sizes[i], nullptr, &sreq[i]), ccNetOk);
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    int sc, rc;
    size_t got = 12345;
    Finish(sreq[i], rreq[i], &sc, &rc, &got);
    ASSERT_EQ(sc, ccNetOk);
    ASSERT_EQ(rc, ccNetOk);
    EXPECT_EQ(got, sizes[i]);
    EXPECT_TRUE(std::equal(out[i].begin(), out[i].end(), in[i].begin())) << "message " << i;
    EXPECT_EQ(in[i][sizes[i]], 0xee) << "wrote past the message";
  }
}

TEST_P(NetAbi, RegisteredBuffersWork) {
  std::vector<float> a(50000), b(50000, 0.f);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i) * 0.5f;
  void *ma = nullptr, *mb = nullptr;
  ASSERT_EQ(net_->regMr(send_, a.data(), a.size() * 4, CC_NET_PTR_HOST, &ma), ccNetOk);
  ASSERT_EQ(net_->regMr(recv_, b.data(), b.size() * 4, CC_NET_PTR_HOST, &mb), ccNetOk);
  void *s = nullptr, *r = nullptr;
  ASSERT_EQ(net_->irecv(recv_, b.data(), b.size() * 4, mb, &r), ccNetOk);
  while (!s) ASSERT_EQ(net_->isend(send_, a.data(), a.size() * 4, ma, &s), ccNetOk);
  int sc, rc;
  size_t got = 0;
  Finish(s, r, &sc, &rc, &got);
  EXPECT_EQ(sc, ccNetOk);
  EXPECT_EQ(rc, ccNetOk);
  EXPECT_EQ(got, a.size() * 4);
  EXPECT_EQ(a, b);
  EXPECT_EQ(net_->deregMr(send_, ma), ccNetOk);
  EXPECT_EQ(net_->deregMr(recv_, mb), ccNetOk);
  EXPECT_EQ(net_->regMr(send_, a.data(), 64, CC_NET_PTR_CUDA, &ma), ccNetErrorUnsupported);
}

TEST_P(NetAbi, MessageLargerThanTheReceiveFailsWithoutOverrun) {
  std::vector<uint8_t> out(2000, 0x5a), in(1000 + 64, 0xee);
  void *s = nullptr, *r = nullptr;
  ASSERT_EQ(net_->irecv(recv_, in.data(), 1000, nullptr, &r), ccNetOk);
  while (!s) ASSERT_EQ(net_->isend(send_, out.data(), out.size(), nullptr, &s), ccNetOk);
  int sc, rc;
  size_t got = 0;
  Finish(s, r, &sc, &rc, &got);
  EXPECT_EQ(rc, ccNetErrorRemote);
  for (size_t i = 1000; i < in.size(); ++i) ASSERT_EQ(in[i], 0xee) << "wrote past the buffer at " << i;
}

TEST_P(NetAbi, GarbageHandleIsAnArgumentError) {
  uint8_t junk[CC_NET_HANDLE_MAXSIZE];
  memset(junk, 0x77, sizeof(junk));
  void* c = nullptr;
  EXPECT_EQ(net_->connect(0, junk, &c), ccNetErrorArgument);
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(net_->listen(5, junk, &c), ccNetErrorArgument);
}

TEST_P(NetAbi, ClosedPeerFailsPendingReceive) {
  std::vector<uint8_t> in(100);
  void* r = nullptr;
  ASSERT_EQ(net_->irecv(recv_, in.data(), in.size(), nullptr, &r), ccNetOk);
  ASSERT_EQ(net_->closeSend(send_), ccNetOk);
  send_ = nullptr;
  int rc = ccNetOk, done = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (rc == ccNetOk && !done && std::chrono::steady_clock::now() < deadline) rc = net_->test(r, &done, nullptr);
  EXPECT_EQ(rc, ccNetErrorRemote) << "a receive from a closed connection must fail, not hang or succeed";
}

INSTANTIATE_TEST_SUITE_P(Plugins, NetAbi, ::testing::Values("tcp", "shm", "example", "ucx"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// ---- the tcp table's wire format, from a raw socket ---------------------------------------------------------

// A stranger speaking tcp's wire format (src/transports/net_tcp.cc) by hand: junk connections are dropped,
// and a connection that sends a bad part header, a message larger than the receive or a truncated message
// fails the receive without writing past it.
class TcpWire : public ::testing::Test {
 protected:
  struct Handshake {  // net_tcp.cc's, byte for byte
    uint32_t magic;
    int32_t sockIdx, nsocks;
    uint32_t reserved;
    uint64_t nonce, connId;
  };
  struct PartHeader {
    uint32_t magic, sockIdx;
    uint64_t seq, total;
  };
  void SetUp() override {
    net_ = conccl::NetTcpTable();
    ASSERT_EQ(net_->listen(0, handle_, &listen_), ccNetOk);
    ASSERT_TRUE(conccl::NetTcpHandleAddress(handle_, &addr_, &nonce_));
  }
  void TearDown() override {
    if (recv_) net_->closeRecv(recv_);
    if (fd_ >= 0) close(fd_);
    net_->closeListen(listen_);
  }
  int Dial() {
    int fd = -1;
    EXPECT_EQ(conccl::Connect(addr_, conccl::DeadlineAfter(5000), &fd, false), ccSuccess);
    return fd;
  }
  void Send(int fd, const void* p, size_t n) {
    ASSERT_EQ(conccl::SendAll(fd, p, n, conccl::DeadlineAfter(5000)), ccSuccess);
  }
  void* AcceptWithin(int ms) {
    void* c = nullptr;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!c && std::chrono::steady_clock::now() < deadline) {
      EXPECT_EQ(net_->accept(listen_, &c), ccNetOk);
      if (!c) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return c;
  }
  // A connection of one socket that passed the handshake, accepted as recv_.
  void Connected() {
    fd_ = Dial();
    Handshake hs{0x43435448, 0, 1, 0, nonce_, 42};
    Send(fd_, &hs, sizeof(hs));
    recv_ = AcceptWithin(5000);
    ASSERT_NE(recv_, nullptr);
  }
  // Posts a 100-byte receive into a guarded buffer, runs `send`, and returns the receive's result code.
  int ReceiveAfter(const std::function<void()>& send) {
    GuardedBuffer buf(100);
    void* r = nullptr;
    EXPECT_EQ(net_->irecv(recv_, buf.data(), 100, nullptr, &r), ccNetOk);
    send();
    int rc = ccNetOk, done = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (rc == ccNetOk && !done && std::chrono::steady_clock::now() < deadline) rc = net_->test(r, &done, nullptr);
    EXPECT_TRUE(buf.GuardsIntact()) << "the receive wrote outside its buffer";
    return done ? 0 : rc;
  }

  const ccNet_v1_t* net_ = nullptr;
  uint8_t handle_[CC_NET_HANDLE_MAXSIZE] = {0};
  void* listen_ = nullptr;
  void* recv_ = nullptr;
  conccl::SockAddr addr_;
  uint64_t nonce_ = 0;
  int fd_ = -1;
};

TEST_F(TcpWire, JunkAndWrongNonceConnectionsAreDropped) {
  int junk = Dial();
  std::vector<uint8_t> bytes(64, 0x5a);
  Send(junk, bytes.data(), bytes.size());
  int stranger = Dial();
  Handshake hs{0x43435448, 0, 1, 0, nonce_ + 1, 7};  // another listener's nonce
  Send(stranger, &hs, sizeof(hs));
  EXPECT_EQ(AcceptWithin(300), nullptr) << "a connection without a valid handshake was accepted";
  Connected();  // the listener still serves
  close(junk);
  close(stranger);
}

TEST_F(TcpWire, BadMagicFailsTheReceive) {
  Connected();
  PartHeader h{0x11111111, 0, 0, 10};
  EXPECT_EQ(ReceiveAfter([&] { Send(fd_, &h, sizeof(h)); }), ccNetErrorRemote);
}

TEST_F(TcpWire, OversizedMessageFailsWithoutOverrun) {
  Connected();
  PartHeader h{0x43435450, 0, 0, 1000};
  std::vector<uint8_t> payload(1000, 0x77);
  EXPECT_EQ(ReceiveAfter([&] {
              Send(fd_, &h, sizeof(h));
              Send(fd_, payload.data(), payload.size());
            }),
            ccNetErrorRemote);
}

TEST_F(TcpWire, TruncatedMessageFailsWhenThePeerCloses) {
  Connected();
  PartHeader h{0x43435450, 0, 0, 80};
  std::vector<uint8_t> payload(30, 0x77);
  EXPECT_EQ(ReceiveAfter([&] {
              Send(fd_, &h, sizeof(h));
              Send(fd_, payload.data(), payload.size());
              close(fd_);
              fd_ = -1;
            }),
            ccNetErrorRemote);
}

TEST_F(TcpWire, WellFormedMessageArrives) {
  Connected();
  PartHeader h{0x43435450, 0, 0, 60};
  std::vector<uint8_t> payload(60, 0x77);
  EXPECT_EQ(ReceiveAfter([&] {
              Send(fd_, &h, sizeof(h));
              Send(fd_, payload.data(), payload.size());
            }),
            0) << "the hand-written message is what the tcp table expects (otherwise the tests above prove nothing)";
}

// ---- communicators through a plugin (ranks as threads) ----------------------------------------------------

struct PluginEnv {
  PluginEnv(const std::string& name, const char* net)
      : plugin("CONCCL_NET_PLUGIN", PluginPath(name).c_str()), force("CONCCL_NET", net) {}
  ScopedEnv plugin, force;
};

// All-reduce, all-to-all and send/recv of sizes that span several of the example plugin's 128 KiB pieces.
void RunCollectives(CommSet& set, int n) {
  RankCodes codes(n);
  const size_t count = 300001;  // 1.2 MB of floats: several pieces, an odd tail
  const Expected e = ReduceReference(ccFloat32, ccSum, count, n, 77);
  RunRanks(n, [&](int r) {
    ccComm_t comm = set.comms()[size_t(r)];
    std::vector<float> in(count), out(count);
    FillInput(in.data(), ccFloat32, ccSum, count, r, 77);
    ccResult_t res = ccAllReduce(in.data(), out.data(), count, ccFloat32, ccSum, comm, nullptr);
    std::string why;
    if (res == ccSuccess && !CheckResult(out.data(), e, &why)) {
      ADD_FAILURE() << "rank " << r << ": " << why;
    }
    const size_t per = 65537;  // all-to-all blocks of 256 KiB + 4 bytes
    std::vector<int32_t> a(per * size_t(n)), b(per * size_t(n), -1);
    for (size_t i = 0; i < a.size(); ++i) a[i] = int32_t(r * 1000003 + int(i));
    if (res == ccSuccess) res = ccAlltoAll(a.data(), b.data(), per, ccInt32, comm, nullptr);
    for (int p = 0; res == ccSuccess && p < n; ++p)
      for (size_t i = 0; i < per; i += 997)
        if (b[size_t(p) * per + i] != int32_t(p * 1000003 + int(size_t(r) * per + i))) {
          ADD_FAILURE() << "rank " << r << " all-to-all block from " << p << " element " << i;
          break;
        }
    codes.Set(r, res, comm);
  });
  EXPECT_TRUE(codes.AllOk()) << codes.Describe();
}

class NetComm : public ::testing::TestWithParam<std::string> {};

TEST_P(NetComm, CollectivesThroughThePlugin) {
  if (!Exists(PluginPath(GetParam()))) GTEST_SKIP() << GetParam() << " plugin not built";
  PluginEnv env(GetParam(), GetParam().c_str());
  CommSet set;
  std::string why;
  ASSERT_EQ(set.Init(3, nullptr, nullptr, 30000, &why), ccSuccess) << why;
  for (int r = 0; r < 3; ++r) {
    ASSERT_NE(set.comms()[size_t(r)]->net, nullptr) << "rank " << r << " has no plugin transport";
    for (int p = 0; p < 3; ++p) {
      if (p == r) continue;
      EXPECT_EQ(set.comms()[size_t(r)]->route[p], set.comms()[size_t(r)]->net.get());
    }
  }
  RunCollectives(set, 3);
}

INSTANTIATE_TEST_SUITE_P(Plugins, NetComm, ::testing::Values("example", "ucx"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(NetFallback, PluginWithoutDevicesIsSkippedAndBuiltinsServe) {
  PluginEnv env("nodev", nullptr);
  CommSet set;
  std::string why;
  ASSERT_EQ(set.Init(2, nullptr, nullptr, 30000, &why), ccSuccess) << why;
  EXPECT_EQ(set.comms()[size_t(0)]->net, nullptr);
  RunCollectives(set, 2);
}

TEST(NetFallback, ForcingASkippedPluginIsAnError) {
  PluginEnv env("nodev", "nodev");
  CommSet set;
  std::string why;
  EXPECT_NE(set.Init(2, nullptr, nullptr, 30000, &why), ccSuccess);
  for (int r = 0; r < 2; ++r)  // every rank fails at once with the reason, before the rendezvous
    EXPECT_NE(why.find("rank " + std::to_string(r) + ": ccInvalidArgument (unknown transport 'nodev'"), std::string::npos)
        << why;
}

// Strangers connect to rank 0's listener (a built-in's or the example plugin's) and send a hello with a wrong
// secret, or junk; rank 0 drops them and its collectives are unaffected.
class NetStray : public ::testing::TestWithParam<std::string> {};

TEST_P(NetStray, BadHellosAreDropped) {
  const bool builtin = GetParam() == "tcp" || GetParam() == "shm";
  PluginEnv env(builtin ? "nodev" : GetParam(), GetParam().c_str());
  CommSet set;
  std::string why;
  ASSERT_EQ(set.Init(3, nullptr, nullptr, 30000, &why), ccSuccess) << why;
  const ccNet_v1_t* net = Table(GetParam());
  const int slot = GetParam() == "tcp" ? conccl::kNetSlotTcp : GetParam() == "shm" ? conccl::kNetSlotShm
                                                                                    : conccl::kNetSlotPlugin;
  ASSERT_NE(net, nullptr);
  std::vector<void*> comms;
  {
    std::lock_guard<std::mutex> lock(conccl::NetPluginMutex(net));
    struct {
      uint32_t magic;
      int32_t rank, channel;
      uint32_t reserved;
      uint64_t hash;
      uint8_t secret[16];
    } hello{0x43434e48, 1, 0, 0, set.comms()[size_t(0)]->commHash, {0}};  // right magic and hash, wrong secret
    uint8_t junk[sizeof(hello)];  // the size of a hello, the bytes of none
    memset(junk, 0xab, sizeof(junk));
    for (int i = 0; i < 2; ++i) {
      void* c = nullptr;
      for (int k = 0; k < 100000 && !c; ++k)
        ASSERT_EQ(net->connect(0, set.comms()[size_t(0)]->peers[0].netHandle[slot], &c), ccNetOk);
      ASSERT_NE(c, nullptr);
      void* req = nullptr;
      while (!req)
        ASSERT_EQ(net->isend(c, i == 0 ? (void*)&hello : (void*)junk, sizeof(hello), nullptr, &req), ccNetOk);
      int done = 0, rc = ccNetOk;
      for (int k = 0; k < 100000 && !done && rc == ccNetOk; ++k) rc = net->test(req, &done, nullptr);
      EXPECT_EQ(rc, ccNetOk);
      comms.push_back(c);
    }
  }
  RunCollectives(set, 3);
  std::lock_guard<std::mutex> lock(conccl::NetPluginMutex(net));
  for (void* c : comms) net->closeSend(c);
}

INSTANTIATE_TEST_SUITE_P(Tables, NetStray, ::testing::Values("tcp", "shm", "example"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
