// hwloc_topo.h — the topology as hwloc sees it (built only with CONCCL_HAVE_HWLOC).
//
// Contract: hwloc's topology is loaded once per process, on the first call of either function, with the
// I/O filter that keeps PCI network, storage and display devices and their OS devices; it stays loaded
// (read-only, so concurrent queries are safe) for the life of the process.
#pragma once

#include <string>

#include "topo/cpulist.h"
#include "topo/topology.h"

namespace conccl {

// Fills packages, cores, pus, numaNodes, nics (net and ib OS devices with a PCI parent) and gpus
// (NVIDIA PCI devices of class 0x03xx) and source; false when hwloc could not load a topology.
bool HwlocDetect(Topology* out);

// CPUs of the first non-I/O ancestor (NUMA node, package or machine) of the PCI device with bus id `busId`
// ("0000:3b:00.0"); false when hwloc does not know the device.
bool HwlocPciLocalCpus(const std::string& busId, CpuList* out);

}  // namespace conccl
