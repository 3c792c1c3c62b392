// env.cc — the registry of every CONCCL_* environment variable (see env.h). Add new variables here.
#include "common/env.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace conccl {

const std::vector<EnvVarInfo>& EnvRegistry() {
  static const std::vector<EnvVarInfo> kVars = {
      {"CONCCL_DEBUG", "", "log level: WARN, INFO or TRACE (unset = silent)"},
      {"CONCCL_DEBUG_SUBSYS", "INIT,BOOTSTRAP,ENV,NET,SHM",
       "comma list of subsystems to log (INIT,BOOTSTRAP,NET,SHM,COLL,P2P,ENV,CALL,ALL); ^ negates"},
      {"CONCCL_DEBUG_FILE", "", "write log lines to this file instead of stderr (%h = host, %p = pid)"},
      {"CONCCL_TIMEOUT_MS", "1800000", "fail a call with ccTimeout after this many ms without progress (0 = never)"},
      {"CONCCL_BOOTSTRAP_TIMEOUT_MS", "120000", "how long init waits for all ranks to join"},
      {"CONCCL_HANDSHAKE_TIMEOUT_MS", "5000", "an accepted connection must present the secret within this time"},
      {"CONCCL_SOCKET_IFNAME", "", "interfaces for sockets: prefix list, ^ excludes, = exact (like NCCL_SOCKET_IFNAME)"},
      {"CONCCL_SOCKET_FAMILY", "", "AF_INET or AF_INET6: restrict the address family of interfaces"},
      {"CONCCL_NET", "", "force a transport for every peer: tcp, shm, local or the loaded net plugin's name (default: local > shm > plugin > tcp)"},
      {"CONCCL_NET_PLUGIN", "", "net plugin: a name (libconccl-net-<name>.so on the library path) or a path; serves peers on other hosts"},
      {"CONCCL_NET_DEVICE", "-1", "device index of the net plugin to use (-1 = the one nearest this rank's CPU)"},
      {"CONCCL_HOST_ID", "", "host identity for choosing shm (default: hostname + boot id + network namespace)"},
      {"CONCCL_ALGO", "", "force the all-reduce algorithm: ring, tree or hier (hierarchical: reduce inside each host, all-reduce among host leaders, broadcast inside each host; automatic for ccAllReduce when 1 < hosts < nranks; compressed all-reduces take it only when forced)"},
      {"CONCCL_TREE_THRESHOLD", "65536", "all-reduces of at most this many bytes use the tree (when not forced)"},
      {"CONCCL_CHUNK_BYTES", "524288", "pipeline chunk size of ring/tree schedules in bytes"},
      {"CONCCL_NSOCKS_PERPEER", "2", "tcp sockets per peer connection (1..16)"},
      {"CONCCL_SHM_BUFFSIZE", "4194304", "bytes of each shared-memory ring buffer (per direction per peer)"},
      {"CONCCL_SHM_SPIN", "2000", "polls before a shared-memory wait sleeps on its futex"},
      {"CONCCL_BIND_PROGRESS", "1", "network progress threads: 1 = bind to the CPUs nearest the NIC, 0 = leave alone, cpus:<list> = these CPUs (e.g. cpus:2-3,8)"},
      {"CONCCL_RESIDUAL_MAX_BYTES", "0", "cap on error-feedback residual memory per communicator (0 = none); LRU keys are evicted"},
      {"CONCCL_CODEC_PLUGIN", "", "codec plugin (name -> libconccl-codec-<name>.so, or a path) for ccCodecPlugin without codecName"},
      {"CONCCL_NCCL_COMPRESS", "", "NCCL shim: compress matching ncclAllReduce calls, e.g. codec=int8,feedback=ef,min_bytes=1M"},
      {"CONCCL_NCCL_FORWARD", "", "NCCL shim: path of the real libnccl.so.2 that serves every call not compressed"},
      {"CONCCL_RANK", "", "this process's rank, for ccCommInitFromEnv"},
      {"CONCCL_NRANKS", "", "number of ranks, for ccCommInitFromEnv"},
      {"CONCCL_ROOT", "", "host:port of rank 0's rendezvous listener, for ccCommInitFromEnv"},
      {"CONCCL_SECRET", "", "32 hex digits shared by all ranks, for ccCommInitFromEnv"},
      {"CONCCL_LOCAL_RANK", "", "rank within this host (set by conccl-run; informational)"},
      {"CONCCL_LOCAL_SIZE", "", "ranks on this host (set by conccl-run; informational)"},
      // Read by the ibverbs net plugin (plugins/ibverbs, libconccl-net-ib.so) at init.
      {"CONCCL_IB_HCA", "", "ib plugin: RDMA devices to use, name[:port] list; ^ excludes, = exact (like NCCL_IB_HCA)"},
      {"CONCCL_IB_GID_INDEX", "-1", "ib plugin: GID index for RoCE/GRH (-1 = prefer a RoCE v2 IPv4-mapped GID)"},
      {"CONCCL_IB_TIMEOUT", "20", "ib plugin: QP ACK timeout exponent, 4.096 us * 2^value (1..31)"},
      {"CONCCL_IB_RETRY_CNT", "7", "ib plugin: QP transport retry count (0..7)"},
      {"CONCCL_IB_CHUNK_BYTES", "8388608", "ib plugin: largest single RDMA write; larger messages are split"},
      {"CONCCL_IB_REG_CACHE_BYTES", "0", "ib plugin: bytes of unused memory registrations kept cached (LRU); >0 only if buffers are never freed and reused"},
      {"CONCCL_IB_CONNECT_TIMEOUT_MS", "30000", "ib plugin: connect/accept handshake limit in ms"},
  };
  return kVars;
}

static const EnvVarInfo* Find(const char* name) {
  for (const auto& v : EnvRegistry())
    if (strcmp(v.name, name) == 0) return &v;
  fprintf(stderr, "ConCCL internal error: environment variable %s is not declared in env.cc\n", name);
  return nullptr;
}

std::string EnvString(const char* name) {
  const EnvVarInfo* info = Find(name);
  const char* value = getenv(name);
  if (value) return value;
  return info ? info->defaultValue : "";
}

int64_t EnvInt(const char* name) {
  std::string text = EnvString(name);
  const EnvVarInfo* info = Find(name);
  const char* dflt = info ? info->defaultValue : "0";
  if (text.empty()) text = dflt;
  char* end = nullptr;
  long long v = strtoll(text.c_str(), &end, 0);
  if (end == text.c_str() || *end != 0) {
    fprintf(stderr, "ConCCL WARN: %s=%s is not an integer; using %s\n", name, text.c_str(), dflt);
    return strtoll(dflt, nullptr, 0);
  }
  return v;
}

bool EnvIsSet(const char* name) {
  Find(name);
  return getenv(name) != nullptr;
}

}  // namespace conccl
