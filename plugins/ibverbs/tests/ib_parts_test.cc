// ib_parts_test.cc — the device-independent parts of the ibverbs plugin on their own: CONCCL_IB_HCA
// parsing, GID selection, the connection-info encodings (round trip, truncation, garbage) and the
// registration cache (hit, miss, overlap, LRU eviction under a byte cap, deregistration, failures).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "conn_info.h"
#include "fake_verbs.h"
#include "gid_select.h"
#include "hca_filter.h"
#include "ib_config.h"
#include "reg_cache.h"
#include "side_channel.h"

namespace ccib {
namespace {

TEST(HcaFilter, EmptyMatchesEverything) {
  HcaFilter f;
  std::string err;
  ASSERT_TRUE(f.Parse("", &err));
  EXPECT_TRUE(f.Matches("mlx5_0", 1));
}

TEST(HcaFilter, PrefixPortsExcludeAndExact) {
  HcaFilter f;
  std::string err;
  ASSERT_TRUE(f.Parse("mlx5", &err));
  EXPECT_TRUE(f.Matches("mlx5_0", 1));
  EXPECT_TRUE(f.Matches("mlx5_10", 2));
  EXPECT_FALSE(f.Matches("rxe0", 1));
  ASSERT_TRUE(f.Parse("mlx5_0:1,mlx5_1", &err));
  EXPECT_TRUE(f.Matches("mlx5_0", 1));
  EXPECT_FALSE(f.Matches("mlx5_0", 2));
  EXPECT_TRUE(f.Matches("mlx5_1", 2));
  EXPECT_TRUE(f.Matches("mlx5_10", 1));  // prefix match
  ASSERT_TRUE(f.Parse("=mlx5_1", &err));
  EXPECT_FALSE(f.Matches("mlx5_10", 1));
  EXPECT_TRUE(f.Matches("mlx5_1", 1));
  ASSERT_TRUE(f.Parse("^mlx5_0:1", &err));
  EXPECT_FALSE(f.Matches("mlx5_0", 1));
  EXPECT_TRUE(f.Matches("mlx5_0", 2));
  EXPECT_TRUE(f.Matches("mlx5_1", 1));
  ASSERT_TRUE(f.Parse("^=mlx5_1", &err));
  EXPECT_TRUE(f.Matches("mlx5_10", 1));
  EXPECT_FALSE(f.Matches("mlx5_1", 1));
}

TEST(HcaFilter, MalformedEntriesAreErrors) {
  HcaFilter f;
  for (const char* bad : {"^", "=", "mlx5_0:", "mlx5_0:x", "mlx5_0:0", "mlx5_0:999", ",mlx5_0", "a,,b", ":1"}) {
    std::string err;
    EXPECT_FALSE(f.Parse(bad, &err)) << bad;
    EXPECT_NE(err.find("CONCCL_IB_HCA"), std::string::npos) << bad;
  }
}

VerbsGid MakeGid(GidType type, std::initializer_list<uint8_t> head, std::initializer_list<uint8_t> tail = {}) {
  VerbsGid g;
  g.type = type;
  size_t i = 0;
  for (uint8_t b : head) g.raw[i++] = b;
  i = 16 - tail.size();
  for (uint8_t b : tail) g.raw[i++] = b;
  return g;
}

FakePortSpec RocePort() {
  FakePortSpec s;
  s.port.device = "roce0";
  s.port.ethernet = true;
  s.port.activeMtu = 3;
  s.gids.push_back(MakeGid(GidType::kRoceV1, {0xfe, 0x80}, {1}));                       // 0: v1 link-local
  s.gids.push_back(MakeGid(GidType::kRoceV2, {0xfe, 0x80}, {1}));                       // 1: v2 link-local
  s.gids.push_back(VerbsGid{});                                                          // 2: unpopulated
  s.gids.push_back(MakeGid(GidType::kRoceV2, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},  // 3: v2 IPv4
                           {10, 1, 2, 3}));
  s.gids.push_back(MakeGid(GidType::kRoceV1, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},  // 4: v1 IPv4
                           {10, 1, 2, 3}));
  s.port.gidTableLen = static_cast<int>(s.gids.size());
  return s;
}

TEST(GidSelect, PrefersRoceV2Ipv4Mapped) {
  FakeVerbs fake;
  fake.ports.push_back(RocePort());
  int index = -1;
  VerbsGid gid;
  std::string err;
  ASSERT_EQ(SelectGid(&fake, fake.ports[0].port, -1, &index, &gid, &err), 0) << err;
  EXPECT_EQ(index, 3);
  EXPECT_TRUE(GidIsIpv4Mapped(gid.raw));
  EXPECT_EQ(gid.raw[15], 3);
}

TEST(GidSelect, FallsBackWithoutIpv4AndHonoursOverride) {
  FakeVerbs fake;
  FakePortSpec s = RocePort();
  s.gids.resize(2);
  s.port.gidTableLen = 2;
  fake.ports.push_back(s);
  int index = -1;
  VerbsGid gid;
  std::string err;
  ASSERT_EQ(SelectGid(&fake, s.port, -1, &index, &gid, &err), 0);
  EXPECT_EQ(index, 1);  // RoCE v2 beats v1
  ASSERT_EQ(SelectGid(&fake, s.port, 0, &index, &gid, &err), 0);
  EXPECT_EQ(index, 0);
  EXPECT_EQ(gid.type, GidType::kRoceV1);
  EXPECT_NE(SelectGid(&fake, s.port, 7, &index, &gid, &err), 0);
  EXPECT_NE(err.find("CONCCL_IB_GID_INDEX=7"), std::string::npos);
}

TEST(GidSelect, EthernetWithoutGidsIsAnError) {
  FakeVerbs fake;
  FakePortSpec s = RocePort();
  s.gids.assign(3, VerbsGid{});
  fake.ports.push_back(s);
  int index = -1;
  VerbsGid gid;
  std::string err;
  EXPECT_EQ(SelectGid(&fake, s.port, -1, &index, &gid, &err), ENODEV);
  EXPECT_NE(err.find("no usable RoCE GID"), std::string::npos);
}

ConnInfo SampleInfo(ConnRole role) {
  ConnInfo c;
  c.role = role;
  c.nonce = 0x1122334455667788ull;
  c.qpn = 0xabcde;
  c.psn = 0x123456;
  c.lid = 0x4321;
  c.mtu = 5;
  c.ethernet = 1;
  for (int i = 0; i < 16; ++i) c.gid[i] = static_cast<uint8_t>(i * 7);
  c.fifoAddr = role == ConnRole::kSender ? 0x7fff12345000ull : 0;
  c.fifoRkey = role == ConnRole::kSender ? 0xdeadbeef : 0;
  return c;
}

TEST(ConnInfo, RoundTrip) {
  ConnInfo in = SampleInfo(ConnRole::kSender), out;
  uint8_t bytes[kConnInfoBytes];
  EncodeConnInfo(in, bytes);
  std::string err;
  ASSERT_TRUE(DecodeConnInfo(bytes, ConnRole::kSender, in.nonce, &out, &err)) << err;
  EXPECT_EQ(out.qpn, in.qpn);
  EXPECT_EQ(out.psn, in.psn);
  EXPECT_EQ(out.lid, in.lid);
  EXPECT_EQ(out.mtu, in.mtu);
  EXPECT_EQ(out.ethernet, in.ethernet);
  EXPECT_EQ(memcmp(out.gid, in.gid, 16), 0);
  EXPECT_EQ(out.fifoAddr, in.fifoAddr);
  EXPECT_EQ(out.fifoRkey, in.fifoRkey);
}

TEST(ConnInfo, RejectsWrongRoleNonceAndFieldsOutOfRange) {
  uint8_t bytes[kConnInfoBytes];
  std::string err;
  ConnInfo out;
  ConnInfo c = SampleInfo(ConnRole::kReceiver);
  EncodeConnInfo(c, bytes);
  EXPECT_FALSE(DecodeConnInfo(bytes, ConnRole::kSender, c.nonce, &out, &err));
  EXPECT_FALSE(DecodeConnInfo(bytes, ConnRole::kReceiver, c.nonce + 1, &out, &err));
  EXPECT_NE(err.find("nonce"), std::string::npos);
  struct Case {
    void (*mutate)(ConnInfo*);
  } cases[] = {{[](ConnInfo* x) { x->qpn = 0; }},      {[](ConnInfo* x) { x->qpn = 1u << 24; }},
               {[](ConnInfo* x) { x->psn = 1u << 24; }}, {[](ConnInfo* x) { x->mtu = 0; }},
               {[](ConnInfo* x) { x->mtu = 6; }},        {[](ConnInfo* x) { x->ethernet = 2; }},
               {[](ConnInfo* x) { x->slots = 8; }}};
  for (const Case& k : cases) {
    ConnInfo bad = SampleInfo(ConnRole::kReceiver);
    k.mutate(&bad);
    EncodeConnInfo(bad, bytes);
    EXPECT_FALSE(DecodeConnInfo(bytes, ConnRole::kReceiver, bad.nonce, &out, &err));
  }
  ConnInfo noFifo = SampleInfo(ConnRole::kSender);
  noFifo.fifoAddr = 0;
  EncodeConnInfo(noFifo, bytes);
  EXPECT_FALSE(DecodeConnInfo(bytes, ConnRole::kSender, noFifo.nonce, &out, &err));
}

TEST(ConnInfo, RandomBytesNeverDecode) {
  std::mt19937 rng(7);
  uint8_t bytes[kConnInfoBytes];
  std::string err;
  ConnInfo out;
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    accepted += DecodeConnInfo(bytes, ConnRole::kSender, 42, &out, &err);
  }
  EXPECT_EQ(accepted, 0);
}

TEST(ListenHandle, RoundTripV4AndV6AndGarbage) {
  ListenHandle h, out;
  auto* a = reinterpret_cast<sockaddr_in*>(&h.addr);
  a->sin_family = AF_INET;
  a->sin_port = htons(4242);
  a->sin_addr.s_addr = htonl(0x0a000001);
  h.nonce = 99;
  uint8_t bytes[128] = {};
  EncodeListenHandle(h, bytes);
  std::string err;
  ASSERT_TRUE(DecodeListenHandle(bytes, &out, &err)) << err;
  EXPECT_EQ(out.nonce, 99u);
  EXPECT_EQ(reinterpret_cast<sockaddr_in*>(&out.addr)->sin_port, htons(4242));
  EXPECT_EQ(reinterpret_cast<sockaddr_in*>(&out.addr)->sin_addr.s_addr, htonl(0x0a000001));
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&h.addr);
  *a6 = sockaddr_in6{};
  a6->sin6_family = AF_INET6;
  a6->sin6_port = htons(7);
  a6->sin6_addr = in6addr_loopback;
  EncodeListenHandle(h, bytes);
  ASSERT_TRUE(DecodeListenHandle(bytes, &out, &err));
  EXPECT_EQ(memcmp(&reinterpret_cast<sockaddr_in6*>(&out.addr)->sin6_addr, &in6addr_loopback, 16), 0);
  bytes[0] ^= 1;
  EXPECT_FALSE(DecodeListenHandle(bytes, &out, &err));
  uint8_t zeros[128] = {};
  EXPECT_FALSE(DecodeListenHandle(zeros, &out, &err));
}

TEST(SideChannel, ListenAddressFromRoceGidOrInterfaceFilter) {
  VerbsGid g = MakeGid(GidType::kRoceV2, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, {10, 1, 2, 3});
  sockaddr_storage a;
  ChooseListenAddress(g.raw, "", &a);
  ASSERT_EQ(a.ss_family, AF_INET);
  EXPECT_EQ(reinterpret_cast<sockaddr_in*>(&a)->sin_addr.s_addr, htonl(0x0a010203));
  ChooseListenAddress(g.raw, "=lo", &a);  // an explicit interface list wins over the GID
  EXPECT_EQ(reinterpret_cast<sockaddr_in*>(&a)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  ChooseListenAddress(nullptr, "", &a);
  int fd = -1;
  sockaddr_storage bound;
  std::string err;
  ASSERT_EQ(ListenTcp(a, &fd, &bound, &err), 0) << err;  // whatever was chosen is bindable here
  EXPECT_NE(reinterpret_cast<sockaddr_in*>(&bound)->sin_port, 0);
  close(fd);
}

// A registration cache over the fake verbs with 4 KiB pages. Addresses are never dereferenced by the
// fake's RegMr, so the tests use a static arena.
class RegCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakePortSpec s;
    s.port.device = "fake0";
    fake.ports.push_back(s);
    std::string err;
    ASSERT_EQ(fake.OpenDevice(0, &dev, &err), 0);
  }
  void TearDown() override { fake.CloseDevice(dev); }
  uint8_t* Page(size_t i) { return arena + i * 4096; }
  RegEntry* Get(RegCache& c, size_t page, size_t len, size_t offset = 0) {
    RegEntry* e = nullptr;
    std::string err;
    EXPECT_EQ(c.Acquire(Page(page) + offset, len, &e, &err), 0) << err;
    return e;
  }

  FakeVerbs fake;
  VerbsDevice* dev = nullptr;
  alignas(4096) static uint8_t arena[64 * 4096];
};
alignas(4096) uint8_t RegCacheTest::arena[64 * 4096];

TEST_F(RegCacheTest, HitInsideARegisteredRangeMissOutside) {
  RegCache c(&fake, dev, 1 << 20);
  RegEntry* a = Get(c, 0, 3 * 4096);
  EXPECT_EQ(a->end - a->begin, 3u * 4096);
  RegEntry* b = Get(c, 1, 100, 17);  // inside
  EXPECT_EQ(a, b);
  EXPECT_EQ(c.Stats().hits, 1u);
  EXPECT_EQ(c.Stats().misses, 1u);
  EXPECT_EQ(fake.stats.regs, 1);
  RegEntry* d = Get(c, 10, 1);
  EXPECT_NE(d, a);
  EXPECT_EQ(fake.stats.regs, 2);
  c.Release(a);
  c.Release(b);
  c.Release(d);
  EXPECT_EQ(c.Stats().unheldBytes, 4u * 4096);
  EXPECT_EQ(fake.LiveRegistrations(), 2);  // kept: within the cap
}

TEST_F(RegCacheTest, PageRoundingAndEmptyRange) {
  RegCache c(&fake, dev, 0);
  RegEntry* e = Get(c, 2, 4096, 4095);  // straddles pages 2 and 3
  EXPECT_EQ(e->begin, reinterpret_cast<uintptr_t>(Page(2)));
  EXPECT_EQ(e->end, reinterpret_cast<uintptr_t>(Page(4)));
  RegEntry* none = nullptr;
  std::string err;
  EXPECT_EQ(c.Acquire(Page(0), 0, &none, &err), EINVAL);
  c.Release(e);
}

TEST_F(RegCacheTest, OverlapMergesAndSubsumesUnheldEntries) {
  RegCache c(&fake, dev, 1 << 20);
  RegEntry* a = Get(c, 0, 2 * 4096);
  c.Release(a);                        // unheld, cached
  RegEntry* b = Get(c, 1, 3 * 4096);  // overlaps a: miss, new entry spans pages 0..3
  EXPECT_EQ(b->begin, reinterpret_cast<uintptr_t>(Page(0)));
  EXPECT_EQ(b->end, reinterpret_cast<uintptr_t>(Page(4)));
  EXPECT_EQ(c.Stats().entries, 1u);  // a was deregistered
  EXPECT_EQ(fake.stats.deregs, 1);
  RegEntry* held = Get(c, 3, 2 * 4096);  // overlaps held b: both stay
  EXPECT_EQ(c.Stats().entries, 2u);
  EXPECT_EQ(held->begin, reinterpret_cast<uintptr_t>(Page(0)));
  EXPECT_EQ(held->end, reinterpret_cast<uintptr_t>(Page(5)));
  RegEntry* again = Get(c, 0, 5 * 4096);  // hit on the widest range
  EXPECT_EQ(again, held);
  c.Release(b);
  c.Release(held);
  c.Release(again);
  EXPECT_EQ(fake.stats.badDeregs, 0);
}

TEST_F(RegCacheTest, LruEvictionRespectsTheByteCapAndSparesHeldEntries) {
  RegCache c(&fake, dev, 2 * 4096);  // at most two unheld pages stay registered
  RegEntry* p0 = Get(c, 0, 1);
  RegEntry* p2 = Get(c, 2, 1);
  RegEntry* p4 = Get(c, 4, 1);
  RegEntry* p6 = Get(c, 6, 1);
  c.Release(p0);
  c.Release(p2);
  c.Release(Get(c, 0, 1));  // touch page 0: now page 2 is least recently used
  c.Release(p4);            // three unheld pages > cap: page 2 goes
  EXPECT_EQ(c.Stats().evictions, 1u);
  EXPECT_EQ(c.Stats().unheldBytes, 2u * 4096);
  RegEntry* e = Get(c, 0, 1);  // still cached
  EXPECT_EQ(c.Stats().misses, 4u);
  c.Release(e);
  Get(c, 2, 1);  // was evicted: miss
  EXPECT_EQ(c.Stats().misses, 5u);
  EXPECT_EQ(c.Stats().registeredBytes, 4u * 4096);  // pages 0, 2 (held), 4, 6 (held)
  (void)p6;
}

TEST_F(RegCacheTest, CapZeroDeregistersAtLastRelease) {
  {
    RegCache c(&fake, dev, 0);
    RegEntry* a = Get(c, 0, 100);
    RegEntry* b = Get(c, 0, 50);
    c.Release(a);
    EXPECT_EQ(fake.LiveRegistrations(), 1);
    c.Release(b);
    EXPECT_EQ(fake.LiveRegistrations(), 0);
    EXPECT_EQ(c.Stats().registeredBytes, 0u);
    Get(c, 8, 10);  // held at destruction
  }
  EXPECT_EQ(fake.LiveRegistrations(), 0);  // the destructor deregisters held entries too
  EXPECT_EQ(fake.stats.regs, fake.stats.deregs);
  EXPECT_EQ(fake.stats.badDeregs, 0);
}

TEST_F(RegCacheTest, RegistrationFailureIsReported) {
  RegCache c(&fake, dev, 0);
  fake.failRegAfter = 0;
  RegEntry* e = nullptr;
  std::string err;
  EXPECT_EQ(c.Acquire(Page(0), 10, &e, &err), ENOMEM);
  EXPECT_NE(err.find("ibv_reg_mr"), std::string::npos);
  EXPECT_EQ(c.Stats().entries, 0u);
}

TEST(IbConfig, EnvironmentIsRangeChecked) {
  setenv("CONCCL_IB_TIMEOUT", "18", 1);
  setenv("CONCCL_IB_HCA", "=mlx5_0:1", 1);
  IbConfig c;
  std::string err;
  ASSERT_TRUE(c.LoadFromEnv(&err)) << err;
  EXPECT_EQ(c.timeout, 18);
  EXPECT_EQ(c.hca, "=mlx5_0:1");
  setenv("CONCCL_IB_TIMEOUT", "40", 1);
  EXPECT_FALSE(c.LoadFromEnv(&err));
  EXPECT_NE(err.find("CONCCL_IB_TIMEOUT=40"), std::string::npos);
  setenv("CONCCL_IB_TIMEOUT", "12x", 1);
  EXPECT_FALSE(c.LoadFromEnv(&err));
  unsetenv("CONCCL_IB_TIMEOUT");
  unsetenv("CONCCL_IB_HCA");
}

}  // namespace
}  // namespace ccib
