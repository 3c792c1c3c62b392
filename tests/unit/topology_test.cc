// topology_test.cc — the topology module (src/topo): CPU lists, detection against sched_getaffinity, the
// sysfs readers on a fake sysfs tree, nearest-device choice and progress-thread binding.
//
// Fake PCI devices use domain 00fe, which no real host has, so hwloc (when built in) does not know them
// and their locality comes from the fake tree's local_cpulist files.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sched.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "topo/cpulist.h"
#include "topo/sysfs_topo.h"
#include "topo/topology.h"

using namespace conccl;

namespace {

// A temporary directory laid out like /sys, removed at the end of the test.
class FakeSysfs {
 public:
  FakeSysfs() {
    char tmpl[] = "/tmp/conccl-fakesys-XXXXXX";
    root_ = mkdtemp(tmpl) ? tmpl : "";
  }
  ~FakeSysfs() {
    if (!root_.empty()) (void)!system(("rm -rf '" + root_ + "'").c_str());
  }
  const std::string& root() const { return root_; }
  std::string Path(const std::string& rel) const { return root_ + "/" + rel; }
  void Write(const std::string& rel, const std::string& text) {
    MakeDirs(rel.substr(0, rel.find_last_of('/')));
    std::ofstream(Path(rel)) << text << "\n";
  }
  void Link(const std::string& rel, const std::string& target) {
    MakeDirs(rel.substr(0, rel.find_last_of('/')));
    ASSERT_EQ(symlink(target.c_str(), Path(rel).c_str()), 0) << rel;
  }
  void MakeDirs(const std::string& rel) {
    std::string path = root_;
    size_t pos = 0;
    while (pos < rel.size()) {
      size_t slash = rel.find('/', pos);
      if (slash == std::string::npos) slash = rel.size();
      path += "/" + rel.substr(pos, slash - pos);
      mkdir(path.c_str(), 0755);
      pos = slash + 1;
    }
  }

 private:
  std::string root_;
};

// A fake PCI device with the given local CPUs; returns its path.
std::string AddPciDevice(FakeSysfs* fs, const std::string& rel, const std::string& localCpus, int node) {
  fs->Write(rel + "/local_cpulist", localCpus);
  fs->Write(rel + "/numa_node", std::to_string(node));
  return fs->Path(rel);
}

// Runs fn on a new thread (so affinity changes die with it).
template <class Fn>
void OnThread(Fn fn) {
  std::thread t(fn);
  t.join();
}

CpuList ThreadCpus() {
  CpuList cpus;
  EXPECT_TRUE(GetThreadCpus(&cpus));
  return cpus;
}

}  // namespace

TEST(CpuList, ParsesAndFormatsKernelLists) {
  CpuList cpus;
  ASSERT_TRUE(ParseCpuList("0-3,8,10-11\n", &cpus));
  EXPECT_EQ(cpus, (CpuList{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(FormatCpuList(cpus), "0-3,8,10-11");
  ASSERT_TRUE(ParseCpuList("5,1,1-2", &cpus));
  EXPECT_EQ(cpus, (CpuList{1, 2, 5}));
  ASSERT_TRUE(ParseCpuList("", &cpus));
  EXPECT_TRUE(cpus.empty());
  EXPECT_EQ(FormatCpuList({}), "");
  for (const char* bad : {"3-1", "a", "1,,2", "-1", "1-", "1 2", "0-999999", "1,"}) {
    EXPECT_FALSE(ParseCpuList(bad, &cpus)) << bad;
    EXPECT_TRUE(cpus.empty()) << bad;
  }
  EXPECT_EQ(IntersectCpus({0, 1, 2, 5}, {1, 5, 7}), (CpuList{1, 5}));
  EXPECT_TRUE(CpusSubset({1, 5}, {0, 1, 5}));
  EXPECT_FALSE(CpusSubset({1, 6}, {0, 1, 5}));
}

TEST(Topology, DetectAgreesWithAffinity) {
  Topology t;
  ASSERT_EQ(DetectTopology(&t), ccSuccess);
  EXPECT_FALSE(t.source.empty());
  EXPECT_GE(t.packages, 1);
  EXPECT_GE(t.cores, t.packages);
  EXPECT_GE(t.pus, t.cores);
  EXPECT_GE(t.numaNodes.size(), 1u);
  CpuList process, thread;
  ASSERT_TRUE(ParseCpuList(t.processCpus, &process));
  ASSERT_TRUE(GetThreadCpus(&thread));
  EXPECT_FALSE(process.empty());
  EXPECT_LE(static_cast<int>(process.size()), t.pus);
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(CPU_COUNT(&set), static_cast<int>(thread.size()));
  EXPECT_LE(CPU_COUNT(&set), t.pus);
  EXPECT_TRUE(CpusSubset(thread, process));
  CpuList numaCpus;
  for (const auto& n : t.numaNodes) {
    CpuList cpus;
    ASSERT_TRUE(ParseCpuList(n.cpus, &cpus)) << n.cpus;
    numaCpus.insert(numaCpus.end(), cpus.begin(), cpus.end());
  }
  std::sort(numaCpus.begin(), numaCpus.end());
  EXPECT_TRUE(CpusSubset(thread, numaCpus)) << "every allowed CPU is in some NUMA node";
  Topology again;
  ASSERT_EQ(DetectTopology(&again), ccSuccess);
  EXPECT_EQ(again.pus, t.pus);
  EXPECT_EQ(again.nics.size(), t.nics.size());
  EXPECT_EQ(DetectTopology(nullptr), ccInvalidArgument);
}

// A two-package, two-node host with hyperthreads, a NIC (+ its RDMA device), a GPU and loopback.
class FakeHost : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(fs_.root().empty());
    fs_.Write("devices/system/cpu/online", "0-7");
    for (int c = 0; c < 8; ++c) {
      std::string dir = "devices/system/cpu/cpu" + std::to_string(c) + "/topology/";
      fs_.Write(dir + "physical_package_id", std::to_string((c % 4) / 2));
      fs_.Write(dir + "core_id", std::to_string(c % 2));  // cpu c and c+4 are siblings
    }
    fs_.Write("devices/system/node/node0/cpulist", "0-1,4-5");
    fs_.Write("devices/system/node/node1/cpulist", "2-3,6-7");
    fs_.Write("devices/system/node/possible", "0-1");
    const std::string nic = "devices/pci00fe:00/00fe:00:03.0";
    AddPciDevice(&fs_, nic, "2-3,6-7", 1);
    fs_.Write(nic + "/vendor", "0x15b3");
    fs_.Write(nic + "/class", "0x020000");
    fs_.Link(nic + "/net/eth7/device", "../../../00fe:00:03.0");
    fs_.Write(nic + "/net/eth7/speed", "25000");
    fs_.Link("class/net/eth7", "../../" + nic + "/net/eth7");
    fs_.Link(nic + "/infiniband/mlx5_9/device", "../../../00fe:00:03.0");
    fs_.Link("class/infiniband/mlx5_9", "../../" + nic + "/infiniband/mlx5_9");
    const std::string gpu = "devices/pci00fe:00/00fe:00:01.0/00fe:01:00.0";
    AddPciDevice(&fs_, gpu, "0-1,4-5", 0);
    fs_.Write(gpu + "/vendor", "0x10de");
    fs_.Write(gpu + "/class", "0x030200");
    fs_.Link("bus/pci/devices/00fe:01:00.0", "../../../" + gpu);
    fs_.Link("bus/pci/devices/00fe:00:03.0", "../../../" + nic);
    fs_.MakeDirs("devices/virtual/net/lo");
    fs_.Write("devices/virtual/net/lo/speed", "junk");
    fs_.Link("class/net/lo", "../../devices/virtual/net/lo");
    nicPath_ = fs_.Path(nic);
    gpuPath_ = fs_.Path(gpu);
  }

  FakeSysfs fs_;
  std::string nicPath_, gpuPath_;
};

TEST_F(FakeHost, SysfsCountsPackagesCoresAndNodes) {
  CpuList online;
  ASSERT_TRUE(SysfsOnlineCpus(fs_.root(), &online));
  EXPECT_EQ(online.size(), 8u);
  int packages = 0, cores = 0;
  SysfsCountCores(fs_.root(), online, &packages, &cores);
  EXPECT_EQ(packages, 2);
  EXPECT_EQ(cores, 4);
  SysfsCountCores(fs_.root(), CpuList{0, 9}, &packages, &cores);  // cpu9 has no topology files
  EXPECT_EQ(packages, -1);
  EXPECT_EQ(cores, -1);
  auto nodes = SysfsNumaNodes(fs_.root());
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].osIndex, 0);
  EXPECT_EQ(nodes[0].cpus, "0-1,4-5");
  EXPECT_EQ(nodes[1].osIndex, 1);
  EXPECT_EQ(nodes[1].cpus, "2-3,6-7");
  EXPECT_FALSE(SysfsOnlineCpus(fs_.Path("nowhere"), &online));
}

TEST_F(FakeHost, SysfsFindsNicsAndGpus) {
  auto nics = SysfsNics(fs_.root());
  ASSERT_EQ(nics.size(), 2u) << "lo has no device and is left out";
  EXPECT_EQ(nics[0].name, "eth7");
  EXPECT_EQ(nics[0].kind, "net");
  EXPECT_EQ(nics[0].pciPath, nicPath_);
  EXPECT_EQ(nics[0].numaNode, 1);
  EXPECT_EQ(nics[0].speedMbps, 25000);
  EXPECT_EQ(nics[1].name, "mlx5_9");
  EXPECT_EQ(nics[1].kind, "ib");
  EXPECT_EQ(nics[1].pciPath, nicPath_);
  EXPECT_EQ(nics[1].speedMbps, -1);
  EXPECT_EQ(SysfsNetPciPath(fs_.root(), "eth7"), nicPath_);
  EXPECT_EQ(SysfsNetPciPath(fs_.root(), "lo"), "");
  EXPECT_EQ(SysfsNetPciPath(fs_.root(), "../eth7"), "");
  EXPECT_EQ(SysfsNetSpeed(fs_.root(), "lo"), -1);
  EXPECT_EQ(SysfsNetSpeed(fs_.root(), "missing0"), -1);
  auto gpus = SysfsGpus(fs_.root());
  ASSERT_EQ(gpus.size(), 1u) << "the NIC (vendor 0x15b3) is not a GPU";
  EXPECT_EQ(gpus[0].index, 0);
  EXPECT_EQ(gpus[0].pciBusId, "00fe:01:00.0");
  EXPECT_EQ(gpus[0].pciPath, gpuPath_);
  EXPECT_EQ(gpus[0].numaNode, 0);
  CpuList local;
  ASSERT_TRUE(SysfsPciLocalCpus(nicPath_, &local));
  EXPECT_EQ(local, (CpuList{2, 3, 6, 7}));
  EXPECT_FALSE(SysfsPciLocalCpus(fs_.Path("devices/virtual/net/lo"), &local));
  EXPECT_EQ(SysfsPciNumaNode(""), -1);
  EXPECT_EQ(SysfsPciPathOf(fs_.Path("class/net/eth7/device")), nicPath_);
  EXPECT_EQ(SysfsPciPathOf(fs_.Path("class/net/lo")), "");
  EXPECT_EQ(SysfsPciPathOf(fs_.Path("no/such/device")), "");
}

// Two fake devices: `far` is local to a CPU the test thread does not run on, `near` to the one it does.
class NearestDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    CpuList allowed = ThreadCpus();
    ASSERT_FALSE(allowed.empty());
    mine_ = allowed.front();
    int other = allowed.size() > 1 ? allowed.back() : mine_ + 1;
    far_ = AddPciDevice(&fs_, "devices/pci00fe:00/00fe:00:05.0", std::to_string(other), 0);
    near_ = AddPciDevice(&fs_, "devices/pci00fe:00/00fe:00:06.0", std::to_string(mine_), 0);
  }
  FakeSysfs fs_;
  int mine_ = 0;
  std::string far_, near_;
};

TEST_F(NearestDevice, PicksTheDeviceLocalToTheThread) {
  EXPECT_EQ(PickNearestDevice({}, -1), -1);
  EXPECT_EQ(PickNearestDevice({"", "/no/such/00fe:00:07.0"}, -1), 0) << "all unknown: the first";
  EXPECT_EQ(PickNearestDevice({"", near_}, -1), 1) << "unknown ranks last";
  OnThread([&] {
    ASSERT_TRUE(SetThreadCpus({mine_}));
    EXPECT_EQ(PickNearestDevice({far_, near_}, -1), 1);
    EXPECT_EQ(PickNearestDevice({near_, far_}, -1), 0);
    EXPECT_EQ(PickNearestDevice({far_, "", near_, near_}, -1), 2) << "ties go to the lower index";
    // No such CUDA device: the choice falls back to the thread's CPUs.
    EXPECT_EQ(PickNearestDevice({far_, near_}, 4095), 1);
  });
}

TEST(NearestToDevice, OrdersByPciHopsThenNumaNode) {
  FakeSysfs fs;
  ASSERT_FALSE(fs.root().empty());
  std::string gpu = AddPciDevice(&fs, "devices/pci00fe:00/00fe:00:01.0/00fe:01:00.0", "0", 0);
  std::string sameSwitch = AddPciDevice(&fs, "devices/pci00fe:00/00fe:00:01.0/00fe:02:00.0", "0", 0);  // 2 hops
  std::string sameBridge = AddPciDevice(&fs, "devices/pci00fe:00/00fe:00:03.0", "0", 0);                // 3 hops
  std::string sameNode = AddPciDevice(&fs, "devices/pci00fd:00/00fd:00:01.0", "0", 0);
  std::string otherNode = AddPciDevice(&fs, "devices/pci00fc:00/00fc:00:01.0", "1", 1);
  EXPECT_EQ(PickNearestDeviceTo({}, gpu), -1);
  EXPECT_EQ(PickNearestDeviceTo({otherNode, sameNode, sameBridge, sameSwitch}, gpu), 3);
  EXPECT_EQ(PickNearestDeviceTo({otherNode, sameNode, sameBridge}, gpu), 2);
  EXPECT_EQ(PickNearestDeviceTo({otherNode, "", sameNode}, gpu), 2);
  EXPECT_EQ(PickNearestDeviceTo({"", "/no/such/00fe:00:09.0", otherNode}, gpu), 2) << "unknown ranks last";
  EXPECT_EQ(PickNearestDeviceTo({sameBridge, sameBridge}, gpu), 0) << "ties go to the lower index";
  EXPECT_EQ(PciPathOfBusId("00FE:0A:00.0"), "") << "no such device on this host";
  EXPECT_EQ(PciPathOfBusId("../x"), "");
  EXPECT_EQ(PciPathOfBusId(""), "");
}

TEST(NearestToDevice, PciPathOfBusIdMatchesRealDevices) {
  Topology t;
  ASSERT_EQ(DetectTopology(&t), ccSuccess);
  for (const auto& nic : t.nics) {
    if (nic.pciPath.empty()) continue;
    std::string busId = nic.pciPath.substr(nic.pciPath.find_last_of('/') + 1);
    for (auto& c : busId) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(PciPathOfBusId(busId), nic.pciPath) << busId;
    EXPECT_EQ(PickNearestDeviceTo({"", nic.pciPath}, nic.pciPath), 1);
  }
}

TEST_F(NearestDevice, BindStaysWithinTheThreadsAffinity) {
  unsetenv("CONCCL_BIND_PROGRESS");
  CpuList process;
  ASSERT_TRUE(GetProcessCpus(&process));
  OnThread([&] {
    std::string how = BindThreadNear(near_);
    EXPECT_EQ(how.rfind("bound to CPUs " + std::to_string(mine_), 0) == 0 || how.rfind("kept on", 0) == 0, true)
        << how;
    EXPECT_EQ(ThreadCpus(), CpuList{mine_}) << how;
  });
  OnThread([&] {
    CpuList before = ThreadCpus();
    std::string how = BindThreadNear("/no/such/00fe:00:07.0");
    EXPECT_EQ(how.rfind("not bound", 0), 0u) << how;
    EXPECT_EQ(ThreadCpus(), before);
    EXPECT_EQ(BindThreadNear("").rfind("not bound", 0), 0u);
    EXPECT_EQ(ThreadCpus(), before);
  });
  OnThread([&] {
    ASSERT_TRUE(SetThreadCpus({mine_}));
    std::string how = BindThreadNear(far_);
    EXPECT_EQ(how.rfind("not bound", 0), 0u) << "far CPUs are outside the thread's: " << how;
    EXPECT_EQ(ThreadCpus(), CpuList{mine_});
  });
  OnThread([&] {
    CpuList before = ThreadCpus();
    std::string how = BindThreadNear(near_, /*dryRun=*/true);
    EXPECT_TRUE(CpusSubset(ThreadCpus(), process));
    EXPECT_EQ(ThreadCpus(), before) << how;
  });
  OnThread([&] {
    // Whatever the real interfaces are, the result stays inside the process's CPUs.
    for (const auto& ifname : UpInterfaces()) BindThreadNear(NetDevicePciPath(ifname));
    CpuList now = ThreadCpus();
    EXPECT_FALSE(now.empty());
    EXPECT_TRUE(CpusSubset(now, process));
  });
}

TEST_F(NearestDevice, BindFollowsConcclBindProgress) {
  OnThread([&] {
    CpuList before = ThreadCpus();
    setenv("CONCCL_BIND_PROGRESS", "0", 1);
    EXPECT_EQ(BindThreadNear(near_), "not bound (CONCCL_BIND_PROGRESS=0)");
    EXPECT_EQ(ThreadCpus(), before);
    setenv("CONCCL_BIND_PROGRESS", "two", 1);
    EXPECT_NE(BindThreadNear(near_).find("is not 0, 1 or cpus:<list>"), std::string::npos);
    EXPECT_EQ(ThreadCpus(), before);
    setenv("CONCCL_BIND_PROGRESS", "cpus:1-", 1);
    EXPECT_NE(BindThreadNear(near_).find("no valid CPU list"), std::string::npos);
    EXPECT_EQ(ThreadCpus(), before);
    setenv("CONCCL_BIND_PROGRESS", ("cpus:" + std::to_string(mine_)).c_str(), 1);
    std::string how = BindThreadNear("");
    EXPECT_EQ(ThreadCpus(), CpuList{mine_}) << how;
  });
  unsetenv("CONCCL_BIND_PROGRESS");
}

TEST(Interfaces, SocketAndNearestInterface) {
  EXPECT_EQ(NearestInterface({}), "");
  EXPECT_EQ(NearestInterface({"lo"}), "lo");
  EXPECT_EQ(NetDevicePciPath("lo"), "");
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(InterfaceOfSocket(fd), "lo");
  close(fd);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(InterfaceOfSocket(fd), "") << "a wildcard address names no interface";
  close(fd);
  EXPECT_EQ(InterfaceOfSocket(-1), "");
}
