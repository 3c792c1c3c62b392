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
#include "transports/net_transport.h"
#include "transports/shm.h"
#include "transports/tcp.h"

namespace conccl {
namespace {

// Placeholder route for peers served by the net plugin until its adapter exists.
Transport* const kNetRoute = reinterpret_cast<Transport*>(uintptr_t{1});

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
    if (config->netName && !EnvIsSet("CONCCL_NET")) o.netName = config->netName;  // env wins, as NCCL_NET does
    if (config->commName) o.commName = config->commName;
  }
  return o;
}

// Picks each peer's transport: forced by name, else local (same process) > shm (same host) > net plugin
// (when both ranks have the same one) > tcp. A forced plugin name serves every peer in another process.
ccResult_t ChooseRoutes(ccComm* comm) {
  const RankInfo& me = comm->peers[comm->rank];
  comm->route.assign(comm->nranks, nullptr);  // nullptr = tcp, created after this choice
  const std::string& forced = comm->opts.netName;
  for (int p = 0; p < comm->nranks; ++p) {
    const RankInfo& other = comm->peers[p];
    bool sameProcess = other.processNonce == me.processNonce;
    bool sameHost = strncmp(other.hostId, me.hostId, sizeof(me.hostId)) == 0;
    bool bothNet = me.netName[0] && strncmp(other.netName, me.netName, sizeof(me.netName)) == 0;
    std::string name = forced;
    if (name.empty())
      name = sameProcess && comm->local ? "local" : sameHost && comm->shm ? "shm" : bothNet ? me.netName : "tcp";
    if (name == "local") {
      if (!sameProcess)
        return SetError(ccInvalidUsage, "transport 'local' forced but rank %d is in another process", p);
      comm->route[p] = comm->local.get();
    } else if (name == "shm") {
      if (!sameHost) return SetError(ccInvalidUsage, "transport 'shm' forced but rank %d is on another host", p);
      if (!comm->shm) return SetError(ccSystemError, "transport 'shm' forced but shared memory is unavailable");
      comm->route[p] = comm->shm.get();
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

  // The tcp listener is opened before the rendezvous so its address can be published.
  SockAddr root, mine;
  memcpy(&root.storage, &id.addr, id.addrLen);
  root.len = id.addrLen;
  CC_CHECK(FindAddressTowards(root, &mine));
  int listenFd = -1;
  CC_CHECK(Listen(&mine, 256, &listenFd));
  RankInfo info{};
  memcpy(info.listenAddr, &mine.storage, mine.len);
  info.listenAddrLen = mine.len;
  info.pid = getpid();
  info.processNonce = ProcessNonce();
  std::string host = HostIdentity();
  snprintf(info.hostId, sizeof(info.hostId), "%s", host.c_str());

  NetChoice plugin;
  ChooseNetPlugin(rank, &info, &plugin);
  if (!net.empty() && net != "tcp" && net != "shm" && net != "local" && net != info.netName) {
    ReleaseNetChoice(&plugin);
    close(listenFd);
    return SetError(ccInvalidArgument, "unknown transport '%s' (expected tcp, shm, local or a loaded net plugin%s%s)",
                    net.c_str(), info.netName[0] ? ": " : "", info.netName);
  }
  if (net.empty() || net == "local") comm->local = CreateLocalTransport(ctx);
  if (net.empty() || net == "shm") {
    ccResult_t res = CreateShmTransport(ctx, &comm->shm);
    if (res != ccSuccess) {
      if (net == "shm") {
        ReleaseNetChoice(&plugin);
        close(listenFd);
        return res;
      }
      CC_INFO(kLogShm, "shared memory unavailable (%s); same-host peers use tcp", ThreadLastError().c_str());
    }
  }
  // The rendezvous waits CONCCL_BOOTSTRAP_TIMEOUT_MS, or the config's timeout when one is set.
  int64_t joinMs = EnvInt("CONCCL_BOOTSTRAP_TIMEOUT_MS");
  if (config && config->timeoutMs != CC_CONFIG_UNDEF_INT && config->timeoutMs > 0) joinMs = config->timeoutMs;
  int64_t deadline = DeadlineAfter(joinMs);
  ccResult_t res = BootstrapJoin(id, rank, nranks, info, &comm->peers, deadline, &comm->aborted);
  if (res == ccSuccess) res = ChooseRoutes(comm.get());
  if (res == ccSuccess) SetupHostLayout(comm.get());
  if (res != ccSuccess) {
    ReleaseNetChoice(&plugin);
    close(listenFd);
    return res;
  }
  bool needNet = false;
  for (auto& t : comm->route) needNet |= t == kNetRoute;
  if (needNet) {
    comm->net = CreateNetTransport(ctx, plugin.net, plugin.dev, plugin.listenComm, plugin.pciPath);
    plugin.listenComm = nullptr;
    for (auto& t : comm->route)
      if (t == kNetRoute) t = comm->net.get();
  } else {
    ReleaseNetChoice(&plugin);
  }
  bool needTcp = false;
  for (auto* t : comm->route) needTcp |= t == nullptr;
  if (needTcp) {
    comm->tcp = CreateTcpTransport(ctx, listenFd);
    for (auto& t : comm->route)
      if (!t) t = comm->tcp.get();
  } else {
    close(listenFd);
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
