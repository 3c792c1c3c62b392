// ib_connect.cc — listen/connect/accept of the ibverbs plugin: the side-channel handshake that exchanges
// ConnInfo and brings both QPs to RTS (protocol in ib_net.h). Both directions are resumable state
// machines bounded by CONCCL_IB_CONNECT_TIMEOUT_MS. A sender that gets bad bytes fails with
// ccNetErrorRemote; a listener drops a connection that sends bad bytes and keeps listening.
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "ib_net.h"
#include "side_channel.h"

namespace ccib {

IbPending::~IbPending() { net->DestroyComm(comm); }

int IbNet::SetupQp(IbComm* c, std::string* err) {
  int rc = OpenDevice(c->dev, err);
  IbDevice& d = devices_[c->dev];
  if (rc == 0) rc = verbs_->CreateQp(d.ctx, d.port, kSendDepth, kCreditSlots, &c->qp, &c->qpn, err);
  if (rc != 0) return rc;
  c->psn = static_cast<uint32_t>(RandomU64() & 0xffffff);
  size_t bytes = (kCreditSlots * sizeof(CreditSlot) + 4095) / 4096 * 4096;
  c->slots = static_cast<CreditSlot*>(aligned_alloc(4096, bytes));
  if (!c->slots) return *err = "out of memory for the credit FIFO", ENOMEM;
  memset(c->slots, 0, bytes);
  return verbs_->RegMr(d.ctx, c->slots, bytes, &c->slotsMr, err);
}

void IbNet::FillInfo(const IbComm* c, ConnRole role, uint64_t nonce, ConnInfo* info) const {
  const IbDevice& d = devices_[c->dev];
  info->role = role;
  info->nonce = nonce;
  info->qpn = c->qpn;
  info->psn = c->psn;
  info->lid = d.port.lid;
  info->mtu = static_cast<uint8_t>(d.port.activeMtu);
  info->ethernet = d.port.ethernet ? 1 : 0;
  memcpy(info->gid, d.gid.raw, 16);
  info->fifoAddr = role == ConnRole::kSender ? reinterpret_cast<uintptr_t>(c->slots) : 0;
  info->fifoRkey = role == ConnRole::kSender ? c->slotsMr.rkey : 0;
}

// Returns ccNetErrorRemote when the peer cannot be reached from this port, ccNetErrorSystem when verbs fails.
int IbNet::ConnectQp(IbComm* c, const ConnInfo& peer, std::string* err) {
  const IbDevice& d = devices_[c->dev];
  if ((peer.ethernet != 0) != d.port.ethernet) {
    *err = "link layers differ (one side RoCE, the other InfiniBand)";
    return ccNetErrorRemote;
  }
  QpConnectParams p;
  p.remoteQpn = peer.qpn;
  p.remotePsn = peer.psn;
  p.remoteLid = peer.lid;
  p.useGrh = d.port.ethernet || config_.gidIndex >= 0;
  memcpy(p.remoteGid, peer.gid, 16);
  p.localGidIndex = d.gidIndex;
  p.mtu = peer.mtu < d.port.activeMtu ? peer.mtu : d.port.activeMtu;
  p.localPsn = c->psn;
  p.timeout = config_.timeout;
  p.retryCnt = config_.retryCnt;
  return verbs_->ConnectQp(c->qp, p, err) == 0 ? ccNetOk : ccNetErrorSystem;
}

int IbNet::Listen(int dev, void* handle, void** listenComm) {
  if (!handle || !listenComm || dev < 0 || dev >= static_cast<int>(devices_.size())) return ccNetErrorArgument;
  std::string err;
  if (OpenDevice(dev, &err) != 0) {
    Log(CC_NET_LOG_WARN, "NET/IB: cannot open %s: %s", devices_[dev].port.device.c_str(), err.c_str());
    return ccNetErrorSystem;
  }
  ListenHandle h;
  sockaddr_storage want;
  ChooseListenAddress(devices_[dev].port.ethernet ? devices_[dev].gid.raw : nullptr, config_.socketIfname, &want);
  auto* l = new IbListen;
  if (ListenTcp(want, &l->fd, &h.addr, &err) != 0) {
    Log(CC_NET_LOG_WARN, "NET/IB: %s", err.c_str());
    delete l;
    return ccNetErrorSystem;
  }
  l->dev = dev;
  l->nonce = h.nonce = RandomU64();
  EncodeListenHandle(h, static_cast<uint8_t*>(handle));
  *listenComm = l;
  return ccNetOk;
}

int IbNet::Connect(int dev, const void* handle, void** sendComm) {
  if (!handle || !sendComm || dev < 0 || dev >= static_cast<int>(devices_.size())) return ccNetErrorArgument;
  *sendComm = nullptr;
  std::string key = std::to_string(dev) + ":" + std::string(static_cast<const char*>(handle), kListenHandleBytes);
  auto it = connecting_.find(key);
  if (it == connecting_.end()) {
    ListenHandle h;
    std::string err;
    if (!DecodeListenHandle(handle, &h, &err)) {
      Log(CC_NET_LOG_WARN, "NET/IB: connect: %s", err.c_str());
      return ccNetErrorArgument;
    }
    auto* c = new IbComm;
    c->isSend = true;
    c->dev = dev;
    std::unique_ptr<IbPending> p(new IbPending(this, c, IbPending::kTcpConnect, h.nonce,
                                               NowMs() + config_.connectTimeoutMs));
    if (SetupQp(c, &err) != 0 || ConnectTcp(h.addr, &c->fd, &err) != 0) {
      Log(CC_NET_LOG_WARN, "NET/IB: connect: %s", err.c_str());
      return ccNetErrorSystem;
    }
    it = connecting_.emplace(key, std::move(p)).first;
  }
  IbPending* p = it->second.get();
  int rc = ProgressConnect(p);
  if (rc != ccNetOk) {
    Log(CC_NET_LOG_WARN, "NET/IB: connect to %s failed: %s", devices_[dev].port.device.c_str(), p->error.c_str());
    connecting_.erase(it);
    return rc;
  }
  if (p->stage == IbPending::kDone) {
    *sendComm = p->comm;
    p->comm = nullptr;
    connecting_.erase(it);
  }
  return ccNetOk;
}

// Maps a side-channel status to a handshake result: 1 = step complete, 0 = try later, else an error code.
static int StepResult(IoStatus s, IbPending* p, const char* what, size_t got, size_t want) {
  if (s == IoStatus::kDone) return 1;
  if (s == IoStatus::kAgain) {
    if (NowMs() < p->deadlineMs) return 0;
    p->error = std::string("timed out while waiting to ") + what;
    return -ccNetErrorRemote;
  }
  p->error = std::string("peer closed the side channel while trying to ") + what + " (" + std::to_string(got) +
             " of " + std::to_string(want) + " bytes)";
  return -ccNetErrorRemote;
}

int IbNet::ProgressConnect(IbPending* p) {
  IbComm* c = p->comm;
  int step = 1;
  if (p->stage == IbPending::kTcpConnect) {
    IoStatus s = ConnectDone(c->fd, &p->error);
    if (s == IoStatus::kError) return ccNetErrorRemote;
    if ((step = StepResult(s, p, "connect", 0, 0)) <= 0) return -step;
    ConnInfo mine;
    FillInfo(c, ConnRole::kSender, p->nonce, &mine);
    EncodeConnInfo(mine, p->out);
    p->stage = IbPending::kSendInfo;
  }
  if (p->stage == IbPending::kSendInfo) {
    if ((step = StepResult(SendSome(c->fd, p->out, kConnInfoBytes, &p->outDone), p, "send connection info",
                           p->outDone, kConnInfoBytes)) <= 0)
      return -step;
    p->stage = IbPending::kRecvInfo;
  }
  if (p->stage == IbPending::kRecvInfo) {
    if ((step = StepResult(RecvSome(c->fd, p->in, kConnInfoBytes, &p->inDone), p, "receive connection info",
                           p->inDone, kConnInfoBytes)) <= 0)
      return -step;
    ConnInfo peer;
    if (!DecodeConnInfo(p->in, ConnRole::kReceiver, p->nonce, &peer, &p->error)) return ccNetErrorRemote;
    int rc = ConnectQp(c, peer, &p->error);
    if (rc != ccNetOk) return rc;
    p->stage = IbPending::kSendReady;
  }
  if (p->stage == IbPending::kSendReady) {
    if ((step = StepResult(SendSome(c->fd, &p->ready, 1, &p->readyDone), p, "send the ready byte", 0, 1)) <= 0)
      return -step;
    p->stage = IbPending::kDone;
  }
  return ccNetOk;
}

// ccNetErrorRemote: the peer misbehaved (drop the connection); ccNetErrorSystem: a local failure.
int IbNet::ProgressAccept(IbListen* l, IbPending* p) {
  IbComm* c = p->comm;
  int step = 1;
  if (p->stage == IbPending::kRecvInfo) {
    if ((step = StepResult(RecvSome(c->fd, p->in, kConnInfoBytes, &p->inDone), p, "receive connection info",
                           p->inDone, kConnInfoBytes)) <= 0)
      return -step;
    ConnInfo peer;
    if (!DecodeConnInfo(p->in, ConnRole::kSender, l->nonce, &peer, &p->error)) return ccNetErrorRemote;
    if (SetupQp(c, &p->error) != 0) return ccNetErrorSystem;
    int rc = ConnectQp(c, peer, &p->error);
    if (rc != ccNetOk) return rc;
    c->remoteFifoAddr = peer.fifoAddr;
    c->remoteFifoRkey = peer.fifoRkey;
    for (uint32_t i = 0; i < kCreditSlots; ++i)
      if (verbs_->PostRecv(c->qp, i, &p->error) != 0) return ccNetErrorSystem;
    ConnInfo mine;
    FillInfo(c, ConnRole::kReceiver, l->nonce, &mine);
    EncodeConnInfo(mine, p->out);
    p->stage = IbPending::kSendInfo;
  }
  if (p->stage == IbPending::kSendInfo) {
    if ((step = StepResult(SendSome(c->fd, p->out, kConnInfoBytes, &p->outDone), p, "send connection info",
                           p->outDone, kConnInfoBytes)) <= 0)
      return -step;
    p->stage = IbPending::kRecvReady;
  }
  if (p->stage == IbPending::kRecvReady) {
    uint8_t got = 0;
    size_t done = 0;
    if ((step = StepResult(RecvSome(c->fd, &got, 1, &done), p, "receive the ready byte", 0, 1)) <= 0) return -step;
    if (got != kReadyByte) {
      p->error = "bad ready byte from the sender";
      return ccNetErrorRemote;
    }
    p->stage = IbPending::kDone;
  }
  return ccNetOk;
}

int IbNet::Accept(void* listenComm, void** recvComm) {
  IbListen* l = static_cast<IbListen*>(listenComm);
  if (!l || !recvComm) return ccNetErrorArgument;
  *recvComm = nullptr;
  std::string err;
  for (int i = 0; i < 16; ++i) {
    int fd = -1;
    if (AcceptTcp(l->fd, &fd, &err) != 0) {
      Log(CC_NET_LOG_WARN, "NET/IB: %s", err.c_str());
      return ccNetErrorSystem;
    }
    if (fd < 0) break;
    auto* c = new IbComm;
    c->dev = l->dev;
    c->fd = fd;
    l->pending.emplace_back(new IbPending(this, c, IbPending::kRecvInfo, l->nonce,
                                          NowMs() + config_.connectTimeoutMs));
  }
  for (size_t i = 0; i < l->pending.size(); ++i) {
    IbPending* p = l->pending[i].get();
    int rc = ProgressAccept(l, p);
    if (rc == ccNetOk && p->stage != IbPending::kDone) continue;
    if (rc == ccNetOk) {
      *recvComm = p->comm;
      p->comm = nullptr;
    } else {
      Log(CC_NET_LOG_WARN, "NET/IB: dropping an incoming connection: %s", p->error.c_str());
    }
    l->pending.erase(l->pending.begin() + i);
    if (rc == ccNetErrorSystem) return rc;
    if (*recvComm) return ccNetOk;
    --i;
  }
  return ccNetOk;
}

int IbNet::CloseListen(void* listenComm) {
  IbListen* l = static_cast<IbListen*>(listenComm);
  if (!l) return ccNetErrorArgument;
  l->pending.clear();
  close(l->fd);
  delete l;
  return ccNetOk;
}

}  // namespace ccib
