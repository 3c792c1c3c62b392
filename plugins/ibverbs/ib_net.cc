// ib_net.cc — IbNet: device discovery, properties, memory registration and teardown (see ib_net.h).
// Connection setup lives in ib_connect.cc, data movement in ib_transfer.cc.
#include "ib_net.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "gid_select.h"
#include "hca_filter.h"

namespace ccib {

IbNet::IbNet(Verbs* verbs) : verbs_(verbs) {}

IbNet::~IbNet() { CloseDevices(); }

// Comms and listeners must be closed first (the ABI's callers close before unloading).
void IbNet::CloseDevices() {
  connecting_.clear();
  for (IbDevice& d : devices_) {
    d.cache.reset();
    if (d.ctx) verbs_->CloseDevice(d.ctx);
  }
  devices_.clear();
}

void IbNet::Log(int level, const char* fmt, ...) {
  if (!logger_) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  logger_(level, "%s", line);
}

int IbNet::Init(ccNetLogger_v1_t logger, const IbConfig& config) {
  logger_ = logger;
  config_ = config;
  CloseDevices();
  HcaFilter filter;
  std::string err;
  if (!filter.Parse(config.hca, &err)) {
    Log(CC_NET_LOG_WARN, "NET/IB: %s", err.c_str());
    return ccNetErrorArgument;
  }
  std::vector<VerbsPort> ports;
  if (verbs_->ListPorts(&ports, &err) != 0) {
    Log(CC_NET_LOG_INFO, "NET/IB: no RDMA devices (%s)", err.c_str());
    ports.clear();
  }
  for (const VerbsPort& p : ports) {
    if (!filter.Matches(p.device, p.port)) continue;
    IbDevice d;
    d.port = p;
    if (SelectGid(verbs_, p, config.gidIndex, &d.gidIndex, &d.gid, &err) != 0) {
      Log(CC_NET_LOG_WARN, "NET/IB: skipping %s:%d: %s", p.device.c_str(), p.port, err.c_str());
      continue;
    }
    Log(CC_NET_LOG_INFO, "NET/IB: device %zu = %s:%d (%s, GID index %d)", devices_.size(), p.device.c_str(),
        p.port, p.ethernet ? "RoCE" : "InfiniBand", d.gidIndex);
    devices_.push_back(std::move(d));
  }
  if (devices_.empty()) Log(CC_NET_LOG_INFO, "NET/IB: 0 usable devices");
  initialised_ = true;
  return ccNetOk;
}

int IbNet::Devices(int* ndev) {
  if (!ndev) return ccNetErrorArgument;
  *ndev = initialised_ ? static_cast<int>(devices_.size()) : 0;
  return ccNetOk;
}

int IbNet::GetProperties(int dev, ccNetProperties_v1_t* props) {
  if (!props || dev < 0 || dev >= static_cast<int>(devices_.size())) return ccNetErrorArgument;
  const VerbsPort& p = devices_[dev].port;
  *props = ccNetProperties_v1_t{};
  props->name = p.device.c_str();
  props->pciPath = p.pciPath.empty() ? nullptr : p.pciPath.c_str();
  props->guid = p.guid;
  props->ptrSupport = CC_NET_PTR_HOST;
  props->flags = 0;  // isend/irecv register unregistered buffers through the cache themselves
  props->speedMbps = p.speedMbps;
  props->port = p.port;
  props->latencyUs = 0;
  props->maxComms = p.maxQp;
  props->maxMessageBytes = kMaxMessageBytes;
  return ccNetOk;
}

int IbNet::OpenDevice(int dev, std::string* err) {
  IbDevice& d = devices_[dev];
  if (d.ctx) return 0;
  int rc = verbs_->OpenDevice(d.port.deviceIndex, &d.ctx, err);
  if (rc != 0) return rc;
  d.cache.reset(new RegCache(verbs_, d.ctx, config_.regCacheBytes, static_cast<size_t>(sysconf(_SC_PAGESIZE))));
  return 0;
}

const RegCache* IbNet::CacheOf(int dev) const {
  if (dev < 0 || dev >= static_cast<int>(devices_.size())) return nullptr;
  return devices_[dev].cache.get();
}

int IbNet::RegMr(void* comm, void* data, size_t size, int ptrType, void** mhandle) {
  if (!comm || !data || !mhandle) return ccNetErrorArgument;
  if (ptrType != CC_NET_PTR_HOST) return ccNetErrorUnsupported;
  IbComm* c = static_cast<IbComm*>(comm);
  RegEntry* e = nullptr;
  std::string err;
  if (devices_[c->dev].cache->Acquire(data, size ? size : 1, &e, &err) != 0) {
    Log(CC_NET_LOG_WARN, "NET/IB: regMr of %zu bytes failed: %s", size, err.c_str());
    return ccNetErrorSystem;
  }
  *mhandle = e;
  return ccNetOk;
}

int IbNet::DeregMr(void* comm, void* mhandle) {
  if (!comm || !mhandle) return ccNetErrorArgument;
  IbComm* c = static_cast<IbComm*>(comm);
  devices_[c->dev].cache->Release(static_cast<RegEntry*>(mhandle));
  return ccNetOk;
}

void IbNet::FreeRequest(IbRequest* r) {
  if (r->ownedReg) devices_[r->comm->dev].cache->Release(r->ownedReg);
  IbComm* owner = r->comm;
  *r = IbRequest{};
  r->comm = owner;
}

void IbNet::DestroyComm(IbComm* c) {
  if (!c) return;
  // The queue pair goes first: once it is destroyed no RDMA write can land on a registration released below.
  if (c->qp) verbs_->DestroyQp(c->qp);
  c->qp = nullptr;
  for (IbRequest& r : c->reqs)
    if (r.active) FreeRequest(&r);
  if (c->slotsMr.handle) verbs_->DeregMr(devices_[c->dev].ctx, c->slotsMr);
  free(c->slots);
  if (c->fd >= 0) close(c->fd);
  delete c;
}

int IbNet::CloseSend(void* sendComm) {
  IbComm* c = static_cast<IbComm*>(sendComm);
  if (!c || !c->isSend) return ccNetErrorArgument;
  DestroyComm(c);
  return ccNetOk;
}

int IbNet::CloseRecv(void* recvComm) {
  IbComm* c = static_cast<IbComm*>(recvComm);
  if (!c || c->isSend) return ccNetErrorArgument;
  DestroyComm(c);
  return ccNetOk;
}

}  // namespace ccib
