// conccl-topo — prints the host's topology as ConCCL sees it (packages, NUMA nodes, cores, PUs, NICs,
// GPUs, the process's CPUs) and the choices made from it: the socket interface, the interface and NIC
// nearest this process (or a GPU), and where a tcp progress thread would be bound. --json prints the same
// as one JSON object. Exit codes: 0 ok, 1 topology unreadable, 2 bad usage.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/socket.h"
#include "topo/topology.h"

namespace {

struct Choices {
  std::string socketInterface;  // what the tcp transport listens on (CONCCL_SOCKET_IFNAME rules)
  std::vector<std::string> upInterfaces;
  std::string nearestInterface;
  int nearestNic = -1;  // index into Topology::nics
  std::string binding;  // where the progress thread would be bound
};

void Usage(FILE* out) {
  fprintf(out,
          "usage: conccl-topo [--json] [--gpu N]\n"
          "Prints packages, NUMA nodes, cores, PUs, NICs, GPUs and this process's CPUs, then ConCCL's choices:\n"
          "the socket interface, the interface and NIC nearest this process's CPUs (or CUDA device N with\n"
          "--gpu), and where a tcp progress thread would be bound (CONCCL_BIND_PROGRESS).\n"
          "  --json    one JSON object instead of text\n"
          "  --gpu N   choose the NIC nearest CUDA device N (PCI bus order)\n");
}

std::string BusId(const std::string& pciPath) {
  size_t slash = pciPath.find_last_of('/');
  return slash == std::string::npos ? pciPath : pciPath.substr(slash + 1);
}

Choices Choose(const conccl::Topology& topo, int gpu) {
  Choices c;
  conccl::SockAddr addr;
  if (conccl::FindInterfaceAddress(&addr, &c.socketInterface) != ccSuccess) c.socketInterface.clear();
  c.upInterfaces = conccl::UpInterfaces();
  c.nearestInterface = conccl::NearestInterface(c.upInterfaces);
  std::vector<std::string> paths;
  for (const auto& nic : topo.nics) paths.push_back(nic.pciPath);
  c.nearestNic = conccl::PickNearestDevice(paths, gpu);
  c.binding = conccl::BindThreadNear(conccl::NetDevicePciPath(c.socketInterface), /*dryRun=*/true);
  return c;
}

std::string Known(int v) { return v < 0 ? std::string("unknown") : std::to_string(v); }

void PrintText(const conccl::Topology& t, const Choices& c) {
  printf("ConCCL topology (source: %s)\n", t.source.c_str());
  printf("packages: %s  NUMA nodes: %zu  cores: %s  PUs: %s\n", Known(t.packages).c_str(), t.numaNodes.size(),
         Known(t.cores).c_str(), Known(t.pus).c_str());
  for (const auto& n : t.numaNodes) printf("  NUMA node %d: CPUs %s\n", n.osIndex, n.cpus.c_str());
  printf("process CPUs: %s\n", t.processCpus.empty() ? "unknown" : t.processCpus.c_str());
  printf("NICs:%s\n", t.nics.empty() ? " none" : "");
  for (const auto& n : t.nics)
    printf("  %-10s %-3s pci %-12s NUMA %-7s speed %s  %s\n", n.name.c_str(), n.kind.c_str(),
           n.pciPath.empty() ? "-" : BusId(n.pciPath).c_str(), Known(n.numaNode).c_str(),
           n.speedMbps < 0 ? "unknown" : (std::to_string(n.speedMbps) + " Mbit/s").c_str(), n.pciPath.c_str());
  printf("GPUs:%s\n", t.gpus.empty() ? " none" : "");
  for (const auto& g : t.gpus)
    printf("  GPU %d  pci %s  NUMA %s  %s\n", g.index, g.pciBusId.c_str(), Known(g.numaNode).c_str(),
           g.pciPath.c_str());
  std::string up;
  for (const auto& i : c.upInterfaces) up += (up.empty() ? "" : ",") + i;
  printf("choices:\n");
  printf("  socket interface (CONCCL_SOCKET_IFNAME rules): %s\n",
         c.socketInterface.empty() ? "none" : c.socketInterface.c_str());
  printf("  nearest up interface: %s (of: %s)\n", c.nearestInterface.empty() ? "none" : c.nearestInterface.c_str(),
         up.empty() ? "none" : up.c_str());
  printf("  nearest NIC: %s\n", c.nearestNic < 0 ? "none" : t.nics[c.nearestNic].name.c_str());
  printf("  tcp progress thread: %s\n", c.binding.c_str());
}

std::string Json(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') out += std::string("\\") + ch;
    else if (u < 0x20) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", u);
      out += buf;
    } else out += ch;
  }
  return out + "\"";
}
std::string JsonInt(int v) { return v < 0 ? "null" : std::to_string(v); }
std::string JsonOpt(const std::string& s) { return s.empty() ? "null" : Json(s); }

void PrintJson(const conccl::Topology& t, const Choices& c) {
  std::string o = "{\"source\":" + Json(t.source) + ",\"packages\":" + JsonInt(t.packages) +
                  ",\"cores\":" + JsonInt(t.cores) + ",\"pus\":" + JsonInt(t.pus) + ",\"numa_nodes\":[";
  for (size_t i = 0; i < t.numaNodes.size(); ++i)
    o += std::string(i ? "," : "") + "{\"index\":" + JsonInt(t.numaNodes[i].osIndex) +
         ",\"cpus\":" + Json(t.numaNodes[i].cpus) + "}";
  o += "],\"process_cpus\":" + JsonOpt(t.processCpus) + ",\"nics\":[";
  for (size_t i = 0; i < t.nics.size(); ++i) {
    const auto& n = t.nics[i];
    o += std::string(i ? "," : "") + "{\"name\":" + Json(n.name) + ",\"kind\":" + Json(n.kind) +
         ",\"pci_bus_id\":" + JsonOpt(BusId(n.pciPath)) + ",\"pci_path\":" + JsonOpt(n.pciPath) +
         ",\"numa_node\":" + JsonInt(n.numaNode) + ",\"speed_mbps\":" + JsonInt(n.speedMbps) + "}";
  }
  o += "],\"gpus\":[";
  for (size_t i = 0; i < t.gpus.size(); ++i) {
    const auto& g = t.gpus[i];
    o += std::string(i ? "," : "") + "{\"index\":" + std::to_string(g.index) + ",\"pci_bus_id\":" +
         Json(g.pciBusId) + ",\"pci_path\":" + JsonOpt(g.pciPath) + ",\"numa_node\":" + JsonInt(g.numaNode) + "}";
  }
  o += "],\"choices\":{\"socket_interface\":" + JsonOpt(c.socketInterface) + ",\"up_interfaces\":[";
  for (size_t i = 0; i < c.upInterfaces.size(); ++i) o += std::string(i ? "," : "") + Json(c.upInterfaces[i]);
  o += "],\"nearest_interface\":" + JsonOpt(c.nearestInterface) +
       ",\"nearest_nic\":" + (c.nearestNic < 0 ? std::string("null") : Json(t.nics[c.nearestNic].name)) +
       ",\"progress_binding\":" + Json(c.binding) + "}}";
  printf("%s\n", o.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  int gpu = -1;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      Usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (strcmp(argv[i], "--gpu") == 0 && i + 1 < argc) {
      char* end = nullptr;
      long v = strtol(argv[++i], &end, 10);
      if (*argv[i] == 0 || *end != 0 || v < 0 || v > 4096) {
        fprintf(stderr, "conccl-topo: --gpu needs a device number 0..4096, not '%s'\n", argv[i]);
        Usage(stderr);
        return 2;
      }
      gpu = static_cast<int>(v);
    } else {
      fprintf(stderr, "conccl-topo: unknown or incomplete argument '%s'\n", argv[i]);
      Usage(stderr);
      return 2;
    }
  }
  conccl::Topology topo;
  if (conccl::DetectTopology(&topo) != ccSuccess) {
    fprintf(stderr, "conccl-topo: cannot read the topology\n");
    return 1;
  }
  Choices choices = Choose(topo, gpu);
  if (json) PrintJson(topo, choices);
  else PrintText(topo, choices);
  return 0;
}
