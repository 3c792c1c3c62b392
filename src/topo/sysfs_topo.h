// sysfs_topo.h — the host's topology read from Linux sysfs: the fallback when the library is built without
// hwloc, and the source of what hwloc does not report (link speed, PCI paths of interfaces).
//
// Contract: every function reads only below `root` ("/sys" in the library; tests pass a fake tree laid out
// like sysfs), never fails loudly, and reports what it cannot read as -1 / "" / empty.
#pragma once

#include <string>
#include <vector>

#include "topo/cpulist.h"
#include "topo/topology.h"

namespace conccl {

// The deepest PCI device ("dddd:bb:dd.f" component) on the resolved path of `devicePath`, as a path;
// "" when the path does not resolve or has no PCI component (a virtual or platform device).
std::string SysfsPciPathOf(const std::string& devicePath);
// The PCI device's NUMA node from its numa_node file (-1 = unknown, as the kernel reports on one-node hosts).
int SysfsPciNumaNode(const std::string& pciPath);
// The CPUs local to the PCI device (its local_cpulist file); false when unreadable.
bool SysfsPciLocalCpus(const std::string& pciPath, CpuList* out);

// Online CPUs (devices/system/cpu/online); false when unreadable.
bool SysfsOnlineCpus(const std::string& root, CpuList* out);
// Distinct packages and cores among `cpus` (from each CPU's topology/ files); -1 when a file is missing.
void SysfsCountCores(const std::string& root, const CpuList& cpus, int* packages, int* cores);
// NUMA nodes with their CPU lists (devices/system/node/node*), ordered by index.
std::vector<TopoNuma> SysfsNumaNodes(const std::string& root);

// class/net/<ifname>/device's PCI path ("" when virtual or unknown).
std::string SysfsNetPciPath(const std::string& root, const std::string& ifname);
// class/net/<ifname>/speed in Mbit/s; -1 when unreadable or not positive (link down, virtual).
int SysfsNetSpeed(const std::string& root, const std::string& ifname);
// Network interfaces that have a device (class/net, kind "net", by name) then RDMA devices (class/infiniband,
// kind "ib"); numaNode from the PCI device's numa_node file.
std::vector<TopoNic> SysfsNics(const std::string& root);
// NVIDIA display/3D controllers in bus/pci/devices (vendor 0x10de, class 0x03xxxx), in bus id order.
std::vector<TopoGpu> SysfsGpus(const std::string& root);

}  // namespace conccl
