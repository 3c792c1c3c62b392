// topology.cc — see topology.h. Detection goes through hwloc (hwloc_topo.cc) when built with it, else
// through sysfs (sysfs_topo.cc); the choices below work the same on either.
#include "topo/topology.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "common/env.h"
#include "common/result.h"
#include "topo/cpulist.h"
#include "topo/sysfs_topo.h"
#ifdef CONCCL_HAVE_HWLOC
#include "topo/hwloc_topo.h"
#endif

namespace conccl {

namespace {

constexpr int kUnknownDistance = INT_MAX;

bool DetectFromSysfs(Topology* out) {
  CpuList online;
  if (!SysfsOnlineCpus("/sys", &online) && !GetThreadCpus(&online)) return false;
  out->source = "sysfs";
  out->pus = static_cast<int>(online.size());
  SysfsCountCores("/sys", online, &out->packages, &out->cores);
  out->numaNodes = SysfsNumaNodes("/sys");
  out->nics = SysfsNics("/sys");
  out->gpus = SysfsGpus("/sys");
  return true;
}

// On a one-node host the kernel reports PCI devices' node as -1; they are on that node.
void FillSingleNode(Topology* t) {
  if (t->numaNodes.size() != 1) return;
  int node = t->numaNodes[0].osIndex;
  for (auto& nic : t->nics)
    if (nic.numaNode < 0 && !nic.pciPath.empty()) nic.numaNode = node;
  for (auto& gpu : t->gpus)
    if (gpu.numaNode < 0) gpu.numaNode = node;
}

const Topology* CachedTopology() {
  static Topology topo;
  static bool ok = false;
  static std::once_flag once;
  std::call_once(once, [] {
#ifdef CONCCL_HAVE_HWLOC
    ok = HwlocDetect(&topo);
#endif
    if (!ok) ok = DetectFromSysfs(&topo);
    FillSingleNode(&topo);
  });
  return ok ? &topo : nullptr;
}

std::string BaseName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// CPUs near the PCI device at pciPath: hwloc's view when built with it, else the kernel's local_cpulist,
// else its NUMA node's CPUs. False when the path does not exist or nothing is known.
bool DeviceCpus(const std::string& pciPath, CpuList* out) {
  out->clear();
  if (pciPath.empty() || access(pciPath.c_str(), F_OK) != 0) return false;
#ifdef CONCCL_HAVE_HWLOC
  if (HwlocPciLocalCpus(BaseName(pciPath), out)) return true;
#endif
  if (SysfsPciLocalCpus(pciPath, out)) return true;
  int node = SysfsPciNumaNode(pciPath);
  const Topology* topo = CachedTopology();
  if (node < 0 || !topo) return false;
  for (const auto& n : topo->numaNodes)
    if (n.osIndex == node) return ParseCpuList(n.cpus, out) && !out->empty();
  return false;
}

std::vector<std::string> PathComponents(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) parts.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return parts;
}

// Hops through the PCI tree between two devices below the same host bridge ("pciDDDD:BB"); -1 otherwise.
int PciHops(const std::string& a, const std::string& b) {
  auto pa = PathComponents(a), pb = PathComponents(b);
  size_t common = 0;
  bool sharedBridge = false;
  while (common < pa.size() && common < pb.size() && pa[common] == pb[common]) {
    if (pa[common].compare(0, 3, "pci") == 0) sharedBridge = true;
    ++common;
  }
  if (!sharedBridge) return -1;
  return static_cast<int>(pa.size() - common + pb.size() - common);
}

// Distance from the device at refPath to the one at pciPath: PCI hops below a shared host bridge, else 1000
// on the same NUMA node, else 2000.
int DeviceDistance(const std::string& refPath, const std::string& pciPath) {
  if (pciPath.empty() || access(pciPath.c_str(), F_OK) != 0) return kUnknownDistance;
  int hops = PciHops(refPath, pciPath);
  if (hops >= 0) return hops;
  int a = SysfsPciNumaNode(refPath), b = SysfsPciNumaNode(pciPath);
  return (a >= 0 && a == b) ? 1000 : 2000;
}

// Index of the path with the smallest distance; ties (and all-unknown) go to the lowest index.
template <class Distance>
int IndexOfMin(const std::vector<std::string>& paths, Distance distance) {
  if (paths.empty()) return -1;
  int best = 0, bestDistance = kUnknownDistance;
  for (size_t i = 0; i < paths.size(); ++i) {
    int d = distance(paths[i]);
    if (d < bestDistance) {
      best = static_cast<int>(i);
      bestDistance = d;
    }
  }
  return best;
}

// Distance from CPUs `mine` to the device: how many of them lie outside its locality.
int CpuDistance(const CpuList& mine, const std::string& pciPath) {
  CpuList near;
  if (!DeviceCpus(pciPath, &near)) return kUnknownDistance;
  return static_cast<int>(mine.size() - IntersectCpus(mine, near).size());
}

// The sysfs path of CUDA device cudaDev (see PickNearestDevice for the numbering); "" when not found.
std::string GpuPciPath(int cudaDev) {
  const Topology* topo = CachedTopology();
  if (!topo || cudaDev < 0) return "";
  long index = cudaDev;
  const char* visible = getenv("CUDA_VISIBLE_DEVICES");
  if (visible && *visible) {
    std::vector<long> list;
    const char* p = visible;
    while (*p) {
      char* end = nullptr;
      long v = strtol(p, &end, 10);
      if (end == p || v < 0 || (*end != ',' && *end != 0)) return "";  // UUIDs or MIG names: unknown
      list.push_back(v);
      p = *end ? end + 1 : end;
    }
    if (cudaDev >= static_cast<int>(list.size())) return "";
    index = list[cudaDev];
  }
  if (index >= static_cast<long>(topo->gpus.size())) return "";
  return topo->gpus[index].pciPath;
}

std::string DeviceLabel(const std::string& pciPath) {
  return pciPath.empty() ? std::string("(no PCI device)") : BaseName(pciPath);
}

}  // namespace

ccResult_t DetectTopology(Topology* out) {
  if (!out) return SetError(ccInvalidArgument, "DetectTopology: out is NULL");
  const Topology* topo = CachedTopology();
  if (!topo) return SetError(ccSystemError, "topology: neither hwloc nor sysfs nor sched_getaffinity gave the CPUs");
  *out = *topo;
  CpuList cpus;
  out->processCpus = GetProcessCpus(&cpus) ? FormatCpuList(cpus) : "";
  return ccSuccess;
}

int PickNearestDevice(const std::vector<std::string>& pciPaths, int cudaDev) {
  std::string gpu = cudaDev >= 0 ? GpuPciPath(cudaDev) : "";
  if (!gpu.empty()) return PickNearestDeviceTo(pciPaths, gpu);
  CpuList mine;
  GetThreadCpus(&mine);
  return IndexOfMin(pciPaths, [&](const std::string& p) { return CpuDistance(mine, p); });
}

int PickNearestDeviceTo(const std::vector<std::string>& pciPaths, const std::string& refPciPath) {
  return IndexOfMin(pciPaths, [&](const std::string& p) { return DeviceDistance(refPciPath, p); });
}

std::string PciPathOfBusId(const std::string& busId) {
  std::string lower;
  for (char c : busId) lower += static_cast<char>(tolower(static_cast<unsigned char>(c)));
  if (lower.empty() || lower.find('/') != std::string::npos || lower[0] == '.') return "";
  return SysfsPciPathOf("/sys/bus/pci/devices/" + lower);
}

std::string BindThreadNear(const std::string& pciPath, bool dryRun) {
  std::string mode = EnvString("CONCCL_BIND_PROGRESS");
  if (mode == "0") return "not bound (CONCCL_BIND_PROGRESS=0)";
  CpuList current, near;
  if (!GetThreadCpus(&current)) return std::string("not bound: sched_getaffinity failed: ") + strerror(errno);
  std::string why = "near " + DeviceLabel(pciPath);
  if (mode.compare(0, 5, "cpus:") == 0) {
    if (!ParseCpuList(mode.substr(5), &near) || near.empty())
      return "not bound: CONCCL_BIND_PROGRESS='" + mode + "' has no valid CPU list after cpus:";
    why = "CONCCL_BIND_PROGRESS=" + mode;
  } else if (mode != "1" && !mode.empty()) {
    return "not bound: CONCCL_BIND_PROGRESS='" + mode + "' is not 0, 1 or cpus:<list>";
  } else if (!DeviceCpus(pciPath, &near)) {
    return "not bound: CPUs " + why + " unknown";
  }
  CpuList target = IntersectCpus(near, current);
  if (target.empty())
    return "not bound: CPUs " + why + " (" + FormatCpuList(near) + ") are outside the thread's CPUs (" +
           FormatCpuList(current) + ")";
  if (target == current) return "kept on CPUs " + FormatCpuList(current) + " (all " + why + ")";
  if (dryRun) return "would bind to CPUs " + FormatCpuList(target) + " (" + why + ")";
  if (!SetThreadCpus(target)) return std::string("not bound: sched_setaffinity failed: ") + strerror(errno);
  return "bound to CPUs " + FormatCpuList(target) + " (" + why + ")";
}

std::string NetDevicePciPath(const std::string& ifname) { return SysfsNetPciPath("/sys", ifname); }

std::string NearestInterface(const std::vector<std::string>& ifnames) {
  std::vector<std::string> paths;
  for (const auto& name : ifnames) paths.push_back(NetDevicePciPath(name));
  int i = PickNearestDevice(paths, -1);
  return i < 0 ? std::string() : ifnames[i];
}

std::vector<std::string> UpInterfaces() {
  std::vector<std::string> names;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return names;
  for (const ifaddrs* ifa = list; ifa; ifa = ifa->ifa_next) {
    if (!ifa->ifa_addr || !(ifa->ifa_flags & IFF_UP) || (ifa->ifa_flags & IFF_LOOPBACK)) continue;
    int f = ifa->ifa_addr->sa_family;
    if ((f == AF_INET || f == AF_INET6) && std::find(names.begin(), names.end(), ifa->ifa_name) == names.end())
      names.push_back(ifa->ifa_name);
  }
  freeifaddrs(list);
  return names;
}

std::string InterfaceOfSocket(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string name;
  for (const ifaddrs* ifa = list; ifa && name.empty(); ifa = ifa->ifa_next) {
    if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != ss.ss_family) continue;
    if (ss.ss_family == AF_INET &&
        memcmp(&reinterpret_cast<const sockaddr_in*>(ifa->ifa_addr)->sin_addr,
               &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, sizeof(in_addr)) == 0)
      name = ifa->ifa_name;
    if (ss.ss_family == AF_INET6 &&
        memcmp(&reinterpret_cast<const sockaddr_in6*>(ifa->ifa_addr)->sin6_addr,
               &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, sizeof(in6_addr)) == 0)
      name = ifa->ifa_name;
  }
  freeifaddrs(list);
  return name;
}

}  // namespace conccl
