// topology.h — what the host looks like (packages, NUMA nodes, cores, NICs, GPUs) and the choices made
// from it: the device nearest a rank's CPU or GPU, and where a progress thread is bound.
//
// Contract:
// - DetectTopology reads the host once per process (thread-safe; later calls return the cached result):
//   through hwloc when the library was built with it (CONCCL_HAVE_HWLOC), else from Linux sysfs and
//   sched_getaffinity. Counts it cannot learn are -1 ("unknown"), never guessed.
// - A device is named by its sysfs PCI path ("/sys/devices/pci0000:00/0000:00:03.0"); "" = unknown.
// - Nothing here changes process-wide state; BindThreadNear changes only the calling thread's affinity,
//   and only to a subset of the affinity it already has.
#pragma once

#include <string>
#include <vector>

#include "conccl.h"

namespace conccl {

struct TopoNuma {
  int osIndex = -1;
  std::string cpus;  // kernel list format, e.g. "0-15"
};

struct TopoNic {
  std::string name;     // "eth0" (kind net) or "mlx5_0" (kind ib)
  std::string pciPath;  // sysfs PCI path of the device; "" = not a PCI device
  int numaNode = -1;    // -1 = unknown
  std::string kind;     // "net" or "ib"
  int speedMbps = -1;   // /sys/class/net/<name>/speed; -1 = unknown (and always for ib)
};

struct TopoGpu {
  int index = 0;         // position in PCI bus order among NVIDIA GPUs
  std::string pciBusId;  // "0000:3b:00.0"
  std::string pciPath;
  int numaNode = -1;
};

struct Topology {
  std::string source;  // "hwloc <version>" or "sysfs"
  int packages = -1, cores = -1, pus = -1;  // -1 = unknown
  std::vector<TopoNuma> numaNodes;
  std::vector<TopoNic> nics;  // PCI (and other non-virtual) network devices, kind net then ib
  std::vector<TopoGpu> gpus;  // NVIDIA display/3D controllers (vendor 0x10de, class 0x03xx), CUDA or not
  std::string processCpus;    // the process's affinity (its main thread's), list format
};

// Fills *out with the host's topology (cached after the first call). Returns ccSystemError with a message
// only when not even the CPU count can be read.
ccResult_t DetectTopology(Topology* out);

// Index into `pciPaths` of the device nearest the calling thread's CPUs, or, when cudaDev >= 0 and that
// GPU is found, nearest CUDA device cudaDev (by PCI tree distance, then NUMA node). cudaDev counts NVIDIA
// GPUs in PCI bus order (CUDA_DEVICE_ORDER=PCI_BUS_ID), through CUDA_VISIBLE_DEVICES when it lists indices.
// Unknown paths ("" or unreadable) rank last; ties go to the lower index. -1 when pciPaths is empty.
int PickNearestDevice(const std::vector<std::string>& pciPaths, int cudaDev);

// Index into `pciPaths` of the device nearest the device at refPciPath (a GPU, say): fewest PCI hops below a
// shared host bridge, then the same NUMA node, then the rest; unknown paths last, ties to the lower index.
// -1 when pciPaths is empty; an unknown refPciPath leaves every known device equally near (the first wins).
int PickNearestDeviceTo(const std::vector<std::string>& pciPaths, const std::string& refPciPath);

// The sysfs PCI path of bus id "0000:3B:00.0" (any case, as cudaDeviceGetPCIBusId writes it); "" if absent.
std::string PciPathOfBusId(const std::string& busId);

// Binds the calling thread to the CPUs nearest pciPath (its NUMA node's, intersected with the thread's
// current affinity), or to the CPUs CONCCL_BIND_PROGRESS=cpus:<list> names (intersected likewise); =0
// leaves it alone, as does an unknown locality or an empty intersection. Returns what it did, for logs.
// dryRun: decides and reports ("would bind ...") without changing the affinity.
std::string BindThreadNear(const std::string& pciPath, bool dryRun = false);

// The sysfs PCI path of network interface `ifname` ("" when it is virtual or unknown).
std::string NetDevicePciPath(const std::string& ifname);

// The one of `ifnames` nearest the calling thread's CPUs ("" when the list is empty).
std::string NearestInterface(const std::vector<std::string>& ifnames);

// Names of the interfaces that are up, not loopback, and have an IPv4 or IPv6 address, in getifaddrs order.
std::vector<std::string> UpInterfaces();

// The interface whose address the socket `fd` is bound to ("" when unbound, wildcard, or not found).
std::string InterfaceOfSocket(int fd);

}  // namespace conccl
