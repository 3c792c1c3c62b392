// init.cc — communicator creation (see init.h) and transport selection.
#include "core/init.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "common/env.h"
#include "common/result.h"
#include "common/socket.h"
#include "core/bootstrap.h"
#include "core/comm.h"
#include "core/net_select.h"
#include "core/hier_select.h"
#include "transports/local.h"
#include "transports/net_builtin.h"
#include "transports/net_transport.h"

namespace conccl {
namespace {

// Placeholder routes until the adapters for the chosen tables exist.
Transport* const kTcpRoute = reinterpret_cast<Transport*>(uintptr_t{1});
Transport* const kShmRoute = reinterpret_cast<Transport*>(uintptr_t{2});
Transport* const kNetRoute = reinterpret_cast<Transport*>(uintptr_t{3});

// The endpoints a rank listens on before the rendezvous (their handles go in its RankInfo). The shm endpoint
// holds the word the communicator's doorbell uses while it is open.
struct Listeners {
  ccComm* comm = nullptr;
  void* tcp = nullptr;
  void* shm = nullptr;
  NetChoice plugin;

  void CloseShm() {
    if (!shm) return;
    comm->bell.Attach(&comm->localBell);
    NetShmTable()->closeListen(shm);
    shm = nullptr;
  }
  void CloseTcp() {
    if (tcp) NetTcpTable()->closeListen(tcp);
    tcp = nullptr;
  }
  ~Listeners() {
    CloseShm();
    CloseTcp();
    ReleaseNetChoice(&plugin);
  }
};

void RandomBytes(uint8_t* out, size_t n) {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  size_t got = 0;
  if (fd >= 0) {
    while (got < n) {
      ssize_t r = read(fd, out + got, n - got);
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    close(fd);
  }
  if (got < n) {
    std::random_device rd;
    for (size_t i = got; i < n; ++i) out[i] = static_cast<uint8_t>(rd());
  }
}

uint64_t HashSecret(const uint8_t* secret) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (int i = 0; i < kSecretBytes; ++i) h = (h ^ secret[i]) * 1099511628211ull;
  return h;
}

CommOptions ReadOptions(const ccConfig_t* config) {
  CommOptions o;
  o.timeoutMs = EnvInt("CONCCL_TIMEOUT_MS");
  o.netName = EnvString("CONCCL_NET");
  std::string algo = EnvString("CONCCL_ALGO");
  if (strcasecmp(algo.c_str(), "ring") == 0) o.algo = AlgoChoice::kRing;
  else if (strcasecmp(algo.c_str(), "tree") == 0) o.algo = AlgoChoice::kTree;
  else if (strcasecmp(algo.c_str(), "hier") == 0) o.algo = AlgoChoice::kHier;
  else if (!algo.empty()) CC_WARN("CONCCL_ALGO=%s is not ring, tree or hier; choosing automatically", algo.c_str());
  o.treeThresholdBytes = static_cast<size_t>(std::max<int64_t>(0, EnvInt("CONCCL_TREE_THRESHOLD")));
  o.chunkBytes = static_cast<size_t>(std::max<int64_t>(64, EnvInt("CONCCL_CHUNK_BYTES")));
  o.spin = static_cast<int>(std::max<int64_t>(0, EnvInt("CONCCL_SHM_SPIN")));
  if (config) {
    if (config->timeoutMs != CC_CONFIG_UNDEF_INT && config->timeoutMs >= 0) o.timeoutMs = config->timeoutMs;
    if (config->blocking == 0) o.blocking = false;
    if (config->netName && !EnvIsSet("CONCCL_NET")) o.netName = config->netName;  // env wins, as NCCL_NET does
    if (config->commName) o.commName = config->commName;
  }
  return o;
}

// Picks each peer's transport: forced by name, else local (same process) > shm (same host) > net plugin
// (when both ranks have the same one) > tcp. A forced plugin name serves every peer in another process.
ccResult_t ChooseRoutes(ccComm* comm, bool haveShm) {
  const RankInfo& me = comm->peers[comm->rank];
  comm->route.assign(comm->nranks, kTcpRoute);
  const std::string& forced = comm->opts.netName;
  for (int p = 0; p < comm->nranks; ++p) {
    const RankInfo& other = comm->peers[p];
    bool sameProcess = other.processNonce == me.processNonce;
    bool sameHost = strncmp(other.hostId, me.hostId, sizeof(me.hostId)) == 0;
    bool bothNet = me.netName[0] && strncmp(other.netName, me.netName, sizeof(me.netName)) == 0;
    bool bothShm = haveShm && other.netHandle[kNetSlotShm][0] != 0;  // a zero handle: it has no shm endpoint
    std::string name = forced;
    if (name.empty())
      name = sameProcess && comm->local ? "local" : sameHost && bothShm ? "shm" : bothNet ? me.netName : "tcp";
    if (name == "local") {
      if (!sameProcess)
        return SetError(ccInvalidUsage, "transport 'local' forced but rank %d is in another process", p);
      comm->route[p] = comm->local.get();
    } else if (name == "shm") {
      if (!sameHost) return SetError(ccInvalidUsage, "transport 'shm' forced but rank %d is on another host", p);
      if (!bothShm)
        return SetError(ccSystemError, "transport 'shm' forced but shared memory is unavailable to rank %d",
                        haveShm ? p : comm->rank);
      comm->route[p] = kShmRoute;
    } else if (me.netName[0] && name == me.netName) {
      if (sameProcess && comm->local) {
        comm->route[p] = comm->local.get();  // a plugin connection to oneself's process is never needed
      } else {
        if (!bothNet)
          return SetError(ccInvalidUsage, "transport '%s' forced but rank %d has not loaded that net plugin",
                          name.c_str(), p);
        comm->route[p] = kNetRoute;
      }
    } else if (name != "tcp") {
      return SetError(ccInvalidArgument, "unknown transport '%s' (expected tcp, shm, local or a loaded net plugin)",
                      name.c_str());
    }
  }
  return ccSuccess;
}

}  // namespace

ccResult_t ValidateConfig(const ccConfig_t* config) {
  if (!config) return ccSuccess;
  if (config->magic != CC_CONFIG_MAGIC || config->size < offsetof(ccConfig_t, commName) + sizeof(char*) ||
      config->version < CC_VERSION(0, 1, 0))
    return SetError(ccInvalidArgument, "config was not initialised with CC_CONFIG_INITIALIZER");
  if (config->timeoutMs != CC_CONFIG_UNDEF_INT && config->timeoutMs < 0)
    return SetError(ccInvalidArgument, "config timeoutMs %d is negative", config->timeoutMs);
  if (config->blocking != CC_CONFIG_UNDEF_INT && config->blocking != 0 && config->blocking != 1)
    return SetError(ccInvalidArgument, "config blocking must be 0 or 1, not %d", config->blocking);
  return ccSuccess;
}

ccResult_t MakeUniqueId(ccUniqueId* out) {
  UniqueIdLayout id{};
  id.magic = kUniqueIdMagic;
  RandomBytes(id.secret, kSecretBytes);
  SockAddr addr;
  std::string ifname;
  CC_CHECK(FindInterfaceAddress(&addr, &ifname));
  CC_CHECK(StartBootstrapRoot(&addr, id.secret));
  memcpy(&id.addr, &addr.storage, addr.len);
  id.addrLen = addr.len;
  EncodeUniqueId(id, out);
  return ccSuccess;
}

ccResult_t InitComm(ccComm_t* out, int nranks, const UniqueIdLayout& id, int rank, const ccConfig_t* config) {
  auto comm = std::make_unique<ccComm>();
  comm->rank = rank;
  comm->nranks = nranks;
  comm->id = id;
  comm->commHash = HashSecret(id.secret);
  comm->opts = ReadOptions(config);
  comm->residuals = std::make_unique<ResidualStore>(static_cast<size_t>(std::max<int64_t>(0, EnvInt("CONCCL_RESIDUAL_MAX_BYTES"))));
  const std::string& net = comm->opts.netName;

  TransportContext ctx;
  ctx.rank = rank;
  ctx.nranks = nranks;
  ctx.commHash = comm->commHash;
  memcpy(ctx.secret, id.secret, kSecretBytes);
  ctx.peers = &comm->peers;
  ctx.doorbell = &comm->bell;
  ctx.aborted = &comm->aborted;
  if (comm->opts.timeoutMs > 0) ctx.connectTimeoutMs = comm->opts.timeoutMs;

  // The listeners are opened before the rendezvous so their handles can be published. tcp listens on the
  // interface that reaches the root.
  SockAddr root, mine;
  memcpy(&root.storage, &id.addr, id.addrLen);
  root.len = id.addrLen;
  CC_CHECK(FindAddressTowards(root, &mine));
  RankInfo info{};
  Listeners listeners;
  listeners.comm = comm.get();
  CC_CHECK(NetTcpListenOn(mine, info.netHandle[kNetSlotTcp], &listeners.tcp));
  info.pid = getpid();
  info.processNonce = ProcessNonce();
  std::string host = HostIdentity();
  snprintf(info.hostId, sizeof(info.hostId), "%s", host.c_str());

  ChooseNetPlugin(rank, &info, &listeners.plugin);
  if (!net.empty() && net != "tcp" && net != "shm" && net != "local" && net != info.netName)
    return SetError(ccInvalidArgument, "unknown transport '%s' (expected tcp, shm, local or a loaded net plugin%s%s)",
                    net.c_str(), info.netName[0] ? ": " : "", info.netName);
  if (net.empty() || net == "local") comm->local = CreateLocalTransport(ctx);
  if (net.empty() || net == "shm") {
    if (NetShmTable()->listen(0, info.netHandle[kNetSlotShm], &listeners.shm) == ccNetOk) {
      // Same-host peers wake this rank through the word in its shm segment.
      comm->bell.Attach(NetShmOps()->bindDoorbell(listeners.shm, comm->bell.word()));
    } else if (net == "shm") {
      return SetError(ccSystemError, "transport 'shm' forced but shared memory is unavailable (see the INFO log)");
    } else {
      memset(info.netHandle[kNetSlotShm], 0, CC_NET_HANDLE_MAXSIZE);
      CC_INFO(kLogShm, "shared memory unavailable; same-host peers use tcp");
    }
  }
  // The rendezvous waits CONCCL_BOOTSTRAP_TIMEOUT_MS, or the config's timeout when one is set.
  int64_t joinMs = EnvInt("CONCCL_BOOTSTRAP_TIMEOUT_MS");
  if (config && config->timeoutMs != CC_CONFIG_UNDEF_INT && config->timeoutMs > 0) joinMs = config->timeoutMs;
  int64_t deadline = DeadlineAfter(joinMs);
  CC_CHECK(BootstrapJoin(id, rank, nranks, info, &comm->peers, deadline, &comm->aborted));
  CC_CHECK(ChooseRoutes(comm.get(), listeners.shm != nullptr));
  SetupHostLayout(comm.get());

  // An adapter for each table some peer uses; the other listeners close.
  auto uses = [&](Transport* route) {
    for (auto* t : comm->route)
      if (t == route) return true;
    return false;
  };
  if (uses(kShmRoute)) {
    comm->shm = CreateNetTransport(ctx, NetShmTable(), 0, listeners.shm, "", kNetSlotShm);
    listeners.shm = nullptr;
  } else {
    listeners.CloseShm();
  }
  if (uses(kTcpRoute)) {
    NetTcpOps()->bindDoorbell(listeners.tcp, comm->bell.word());  // the word is final now
    comm->tcp = CreateNetTransport(ctx, NetTcpTable(), 0, listeners.tcp, "", kNetSlotTcp);
    listeners.tcp = nullptr;
  } else {
    listeners.CloseTcp();
  }
  if (uses(kNetRoute)) {
    NetChoice& plugin = listeners.plugin;
    comm->net = CreateNetTransport(ctx, plugin.net, plugin.dev, plugin.listenComm, plugin.pciPath, kNetSlotPlugin);
    plugin.listenComm = nullptr;
  }
  for (auto& t : comm->route) {
    if (t == kTcpRoute) t = comm->tcp.get();
    else if (t == kShmRoute) t = comm->shm.get();
    else if (t == kNetRoute) t = comm->net.get();
  }
  int nLocal = 0, nShm = 0, nTcp = 0, nNet = 0;
  for (int p = 0; p < nranks; ++p) {
    if (p == rank) continue;
    Transport* t = comm->route[p];
    (t == comm->local.get() ? nLocal : t == comm->shm.get() ? nShm : t == comm->tcp.get() ? nTcp : nNet)++;
  }
  CC_INFO(kLogInit, "comm %p%s%s rank %d nranks %d commId 0x%016llx peers: local %d shm %d tcp %d %s %d (listen %s) - Init COMPLETE",
          (void*)comm.get(), comm->opts.commName.empty() ? "" : " ", comm->opts.commName.c_str(), rank, nranks,
          (unsigned long long)comm->commHash, nLocal, nShm, nTcp, info.netName[0] ? info.netName : "plugin", nNet,
          mine.ToString().c_str());
  *out = comm.release();
  return ccSuccess;
}

}  // namespace conccl
