// hwloc_topo.cc — see hwloc_topo.h. Compiled only with CONCCL_HAVE_HWLOC; the guard keeps builds that take
// the library's source list without its definitions (the libFuzzer target) from needing libhwloc.
#ifdef CONCCL_HAVE_HWLOC
#include "topo/hwloc_topo.h"

#include <hwloc.h>

#include <algorithm>
#include <cstdio>

#include "topo/sysfs_topo.h"

namespace conccl {

namespace {

hwloc_topology_t LoadedTopology() {
  static hwloc_topology_t topo = [] {
    hwloc_topology_t t = nullptr;
    if (hwloc_topology_init(&t) != 0) return static_cast<hwloc_topology_t>(nullptr);
    hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(t) != 0) {
      hwloc_topology_destroy(t);
      return static_cast<hwloc_topology_t>(nullptr);
    }
    return t;
  }();
  return topo;
}

CpuList ToCpuList(hwloc_const_bitmap_t set) {
  CpuList cpus;
  if (!set || hwloc_bitmap_iszero(set) || hwloc_bitmap_weight(set) < 0) return cpus;  // weight -1: infinite
  for (int i = hwloc_bitmap_first(set); i >= 0; i = hwloc_bitmap_next(set, i)) cpus.push_back(i);
  return cpus;
}

std::string BusIdOf(hwloc_obj_t pci) {
  char text[32];
  snprintf(text, sizeof(text), "%04x:%02x:%02x.%01x", pci->attr->pcidev.domain, pci->attr->pcidev.bus,
           pci->attr->pcidev.dev, pci->attr->pcidev.func);
  return text;
}

int CountOrUnknown(hwloc_topology_t topo, hwloc_obj_type_t type) {
  int n = hwloc_get_nbobjs_by_type(topo, type);
  return n > 0 ? n : -1;
}

// The NUMA node the device hangs below, when its first non-I/O ancestor covers exactly one node.
int NumaNodeOf(hwloc_topology_t topo, hwloc_obj_t io) {
  hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, io);
  if (!anc || !anc->nodeset || hwloc_bitmap_weight(anc->nodeset) != 1) return -1;
  return hwloc_bitmap_first(anc->nodeset);
}

void AddNics(hwloc_topology_t topo, hwloc_obj_osdev_type_t type, const char* kind, std::vector<TopoNic>* nics) {
  size_t first = nics->size();
  for (hwloc_obj_t o = hwloc_get_next_osdev(topo, nullptr); o; o = hwloc_get_next_osdev(topo, o)) {
    if (o->attr->osdev.type != type || !o->name) continue;
    TopoNic nic;
    nic.name = o->name;
    nic.kind = kind;
    if (o->parent && o->parent->type == HWLOC_OBJ_PCI_DEVICE) {
      nic.pciPath = SysfsPciPathOf("/sys/bus/pci/devices/" + BusIdOf(o->parent));
      nic.numaNode = NumaNodeOf(topo, o);
    }
    if (type == HWLOC_OBJ_OSDEV_NETWORK) nic.speedMbps = SysfsNetSpeed("/sys", nic.name);
    nics->push_back(nic);
  }
  std::sort(nics->begin() + first, nics->end(), [](const TopoNic& a, const TopoNic& b) { return a.name < b.name; });
}

}  // namespace

bool HwlocDetect(Topology* out) {
  hwloc_topology_t topo = LoadedTopology();
  if (!topo) return false;
  out->source = std::string("hwloc ") + HWLOC_VERSION;
  out->packages = CountOrUnknown(topo, HWLOC_OBJ_PACKAGE);
  out->cores = CountOrUnknown(topo, HWLOC_OBJ_CORE);
  out->pus = CountOrUnknown(topo, HWLOC_OBJ_PU);
  out->numaNodes.clear();
  for (hwloc_obj_t n = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, nullptr); n;
       n = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, n))
    out->numaNodes.push_back({static_cast<int>(n->os_index), FormatCpuList(ToCpuList(n->cpuset))});
  out->nics.clear();
  AddNics(topo, HWLOC_OBJ_OSDEV_NETWORK, "net", &out->nics);
  AddNics(topo, HWLOC_OBJ_OSDEV_OPENFABRICS, "ib", &out->nics);
  out->gpus.clear();
  for (hwloc_obj_t p = hwloc_get_next_pcidev(topo, nullptr); p; p = hwloc_get_next_pcidev(topo, p)) {
    if (p->attr->pcidev.vendor_id != 0x10de || (p->attr->pcidev.class_id >> 8) != 0x03) continue;
    TopoGpu gpu;
    gpu.pciBusId = BusIdOf(p);
    gpu.pciPath = SysfsPciPathOf("/sys/bus/pci/devices/" + gpu.pciBusId);
    gpu.numaNode = NumaNodeOf(topo, p);
    out->gpus.push_back(gpu);
  }
  std::sort(out->gpus.begin(), out->gpus.end(),
            [](const TopoGpu& a, const TopoGpu& b) { return a.pciBusId < b.pciBusId; });
  for (size_t i = 0; i < out->gpus.size(); ++i) out->gpus[i].index = static_cast<int>(i);
  return true;
}

bool HwlocPciLocalCpus(const std::string& busId, CpuList* out) {
  hwloc_topology_t topo = LoadedTopology();
  if (!topo) return false;
  hwloc_obj_t pci = hwloc_get_pcidev_by_busidstring(topo, busId.c_str());
  if (!pci) return false;
  hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, pci);
  *out = anc ? ToCpuList(anc->cpuset) : CpuList();
  return !out->empty();
}

}  // namespace conccl

#endif  // CONCCL_HAVE_HWLOC
