// ipv6_test.cc — bootstrap and the tcp transport over IPv6 (CONCCL_SOCKET_FAMILY=AF_INET6): the unique id
// carries an AF_INET6 root address and an all-reduce over tcp between two thread ranks is exact.
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include "conccl.h"
#include "core/unique_id.h"

namespace {

bool HasIpv6Address() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return false;
  bool found = false;
  for (ifaddrs* a = list; a; a = a->ifa_next) found |= a->ifa_addr && a->ifa_addr->sa_family == AF_INET6;
  freeifaddrs(list);
  return found;
}

TEST(Ipv6, BootstrapAndTcpAllReduce) {
  if (!HasIpv6Address()) GTEST_SKIP() << "no IPv6 address on this machine";
  setenv("CONCCL_SOCKET_FAMILY", "AF_INET6", 1);
  ccUniqueId id;
  ccResult_t made = ccGetUniqueId(&id);
  if (made != ccSuccess) {
    unsetenv("CONCCL_SOCKET_FAMILY");
    GTEST_SKIP() << "cannot listen on IPv6: " << ccGetLastError(nullptr);
  }
  conccl::UniqueIdLayout layout;
  ASSERT_EQ(conccl::DecodeUniqueId(id, &layout), ccSuccess);
  EXPECT_EQ(layout.addr.sa.sa_family, AF_INET6);
  const int n = 2;
  std::vector<ccResult_t> res(n, ccSuccess);
  std::vector<std::vector<double>> out(n, std::vector<double>(1000));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      ccComm_t comm;
      ccConfig_t cfg = CC_CONFIG_INITIALIZER;
      cfg.netName = "tcp";
      cfg.timeoutMs = 30000;
      res[r] = ccCommInitRankConfig(&comm, n, id, r, &cfg);
      if (res[r] != ccSuccess) return;
      std::vector<double> in(1000, r + 1.0);
      res[r] = ccAllReduce(in.data(), out[r].data(), in.size(), ccFloat64, ccSum, comm, nullptr);
      ccCommDestroy(comm);
    });
  }
  for (auto& t : threads) t.join();
  unsetenv("CONCCL_SOCKET_FAMILY");
  for (int r = 0; r < n; ++r) {
    ASSERT_EQ(res[r], ccSuccess) << "rank " << r;
    EXPECT_EQ(out[r][999], 3.0);
  }
}

}  // namespace
