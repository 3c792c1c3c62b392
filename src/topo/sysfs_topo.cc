// sysfs_topo.cc — see sysfs_topo.h.
#include "topo/sysfs_topo.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <fstream>
#include <set>
#include <utility>

namespace conccl {

namespace {

// First line of a small file, without the newline; false when it cannot be opened or read.
bool ReadLine(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  return static_cast<bool>(std::getline(in, *out));
}

bool ReadInt(const std::string& path, long* out) {
  std::string text;
  if (!ReadLine(path, &text) || text.empty()) return false;
  char* end = nullptr;
  long v = strtol(text.c_str(), &end, 0);
  if (end == text.c_str() || (*end != 0 && *end != ' ')) return false;
  *out = v;
  return true;
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = opendir(path.c_str());
  if (!dir) return names;
  while (dirent* e = readdir(dir))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

// "dddd:bb:dd.f" in hex digits.
bool IsPciBusId(const std::string& s) {
  if (s.size() != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 4 || i == 7 || i == 10) continue;
    if (!isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

}  // namespace

std::string SysfsPciPathOf(const std::string& devicePath) {
  std::string path = RealPath(devicePath);
  std::string pci;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos + 1);
    if (slash == std::string::npos) slash = path.size();
    if (IsPciBusId(path.substr(pos + 1, slash - pos - 1))) pci = path.substr(0, slash);
    pos = slash;
  }
  return pci;
}

int SysfsPciNumaNode(const std::string& pciPath) {
  long node = -1;
  if (pciPath.empty() || !ReadInt(pciPath + "/numa_node", &node) || node < 0) return -1;
  return static_cast<int>(node);
}

bool SysfsPciLocalCpus(const std::string& pciPath, CpuList* out) {
  std::string text;
  return !pciPath.empty() && ReadLine(pciPath + "/local_cpulist", &text) && ParseCpuList(text, out) &&
         !out->empty();
}

bool SysfsOnlineCpus(const std::string& root, CpuList* out) {
  std::string text;
  return ReadLine(root + "/devices/system/cpu/online", &text) && ParseCpuList(text, out) && !out->empty();
}

void SysfsCountCores(const std::string& root, const CpuList& cpus, int* packages, int* cores) {
  std::set<long> pkgs;
  std::set<std::pair<long, long>> coreKeys;  // (package << 16 | die, core)
  *packages = *cores = -1;
  for (int c : cpus) {
    std::string dir = root + "/devices/system/cpu/cpu" + std::to_string(c) + "/topology/";
    long pkg = 0, die = 0, core = 0;
    if (!ReadInt(dir + "physical_package_id", &pkg) || !ReadInt(dir + "core_id", &core)) return;
    if (!ReadInt(dir + "die_id", &die)) die = 0;
    pkgs.insert(pkg);
    coreKeys.insert({(pkg << 16) | (die & 0xffff), core});
  }
  if (cpus.empty()) return;
  *packages = static_cast<int>(pkgs.size());
  *cores = static_cast<int>(coreKeys.size());
}

std::vector<TopoNuma> SysfsNumaNodes(const std::string& root) {
  std::vector<TopoNuma> nodes;
  std::string base = root + "/devices/system/node/";
  for (const auto& name : ListDir(base)) {
    if (name.size() < 5 || name.compare(0, 4, "node") != 0) continue;
    char* end = nullptr;
    long idx = strtol(name.c_str() + 4, &end, 10);
    if (*end != 0) continue;
    std::string text;
    CpuList cpus;
    if (!ReadLine(base + name + "/cpulist", &text) || !ParseCpuList(text, &cpus)) continue;
    nodes.push_back({static_cast<int>(idx), FormatCpuList(cpus)});
  }
  std::sort(nodes.begin(), nodes.end(), [](const TopoNuma& a, const TopoNuma& b) { return a.osIndex < b.osIndex; });
  return nodes;
}

std::string SysfsNetPciPath(const std::string& root, const std::string& ifname) {
  if (ifname.empty() || ifname.find('/') != std::string::npos) return "";
  return SysfsPciPathOf(root + "/class/net/" + ifname + "/device");
}

int SysfsNetSpeed(const std::string& root, const std::string& ifname) {
  long speed = -1;
  if (ifname.empty() || ifname.find('/') != std::string::npos) return -1;
  if (!ReadInt(root + "/class/net/" + ifname + "/speed", &speed) || speed <= 0 || speed > INT_MAX) return -1;
  return static_cast<int>(speed);
}

std::vector<TopoNic> SysfsNics(const std::string& root) {
  std::vector<TopoNic> nics;
  const std::pair<const char*, const char*> classes[] = {{"/class/net/", "net"}, {"/class/infiniband/", "ib"}};
  for (const auto& cls : classes) {
    std::string base = root + cls.first;
    for (const auto& name : ListDir(base)) {
      if (RealPath(base + name + "/device").empty()) continue;  // virtual: lo, bridges, veth, ifb
      TopoNic nic;
      nic.name = name;
      nic.kind = cls.second;
      nic.pciPath = SysfsPciPathOf(base + name + "/device");
      nic.numaNode = SysfsPciNumaNode(nic.pciPath);
      if (nic.kind == std::string("net")) nic.speedMbps = SysfsNetSpeed(root, name);
      nics.push_back(nic);
    }
  }
  return nics;
}

std::vector<TopoGpu> SysfsGpus(const std::string& root) {
  std::vector<TopoGpu> gpus;
  std::string base = root + "/bus/pci/devices/";
  for (const auto& busId : ListDir(base)) {
    long vendor = 0, cls = 0;
    if (!ReadInt(base + busId + "/vendor", &vendor) || vendor != 0x10de) continue;
    if (!ReadInt(base + busId + "/class", &cls) || (cls >> 16) != 0x03) continue;
    TopoGpu gpu;
    gpu.index = static_cast<int>(gpus.size());
    gpu.pciBusId = busId;
    gpu.pciPath = SysfsPciPathOf(base + busId);
    gpu.numaNode = SysfsPciNumaNode(gpu.pciPath);
    gpus.push_back(gpu);
  }
  return gpus;
}

}  // namespace conccl
