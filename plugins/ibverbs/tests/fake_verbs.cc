// fake_verbs.cc — the in-process Verbs of the unit tests (see fake_verbs.h).
#include "fake_verbs.h"

#include <cerrno>
#include <cstring>

namespace ccib {

class VerbsDevice {
 public:
  int deviceIndex = 0;
};

class VerbsQp {
 public:
  enum State { kInit, kRts, kError };
  VerbsDevice* dev = nullptr;
  VerbsPort port;
  uint32_t qpn = 0;
  State state = kInit;
  QpConnectParams peer;
  int sendDepth = 0, recvDepth = 0, sqOutstanding = 0;
  std::deque<uint64_t> recvs;
  std::deque<VerbsCompletion> cq;
};

namespace {
// ibv_wc_status values the fake produces.
constexpr int kLocProtErr = 4, kWrFlushErr = 5, kRemAccessErr = 10, kRetryExcErr = 12, kRnrRetryExcErr = 13;

bool GidZero(const VerbsGid& g) {
  for (uint8_t b : g.raw)
    if (b) return false;
  return true;
}
}  // namespace

FakeVerbs::~FakeVerbs() {
  for (auto& q : qps_) delete q.second;
  for (VerbsDevice* d : devices_) delete d;
}

int FakeVerbs::ListPorts(std::vector<VerbsPort>* out, std::string* err) {
  out->clear();
  if (listFails) {
    *err = "ibv_get_device_list: Function not implemented";
    return ENOSYS;
  }
  for (const FakePortSpec& s : ports) out->push_back(s.port);
  return 0;
}

int FakeVerbs::QueryGid(const VerbsPort& port, int index, VerbsGid* gid, std::string* err) {
  for (const FakePortSpec& s : ports) {
    if (s.port.deviceIndex != port.deviceIndex || s.port.port != port.port) continue;
    if (index < 0 || index >= static_cast<int>(s.gids.size()) || GidZero(s.gids[index])) break;
    *gid = s.gids[index];
    return 0;
  }
  *err = "GID entry not populated";
  return ENODATA;
}

int FakeVerbs::OpenDevice(int deviceIndex, VerbsDevice** dev, std::string* err) {
  bool known = false;
  for (const FakePortSpec& s : ports) known |= s.port.deviceIndex == deviceIndex;
  if (!known) return *err = "no such device", ENODEV;
  *dev = new VerbsDevice{deviceIndex};
  devices_.push_back(*dev);
  return 0;
}

void FakeVerbs::CloseDevice(VerbsDevice* dev) {
  for (size_t i = 0; i < devices_.size(); ++i)
    if (devices_[i] == dev) devices_.erase(devices_.begin() + i);
  delete dev;
}

int FakeVerbs::RegMr(VerbsDevice* dev, void* addr, size_t length, VerbsMr* mr, std::string* err) {
  if (failRegAfter == 0) {
    failRegAfter = -1;
    *err = "ibv_reg_mr: Cannot allocate memory (injected)";
    return ENOMEM;
  }
  if (failRegAfter > 0) --failRegAfter;
  if (!addr || length == 0) return *err = "ibv_reg_mr: Invalid argument", EINVAL;
  uint32_t key = nextKey_++;
  mrs_[key] = Mr{dev, reinterpret_cast<uintptr_t>(addr), length};
  mr->handle = reinterpret_cast<void*>(static_cast<uintptr_t>(key));
  mr->lkey = mr->rkey = key;
  ++stats.regs;
  return 0;
}

void FakeVerbs::DeregMr(VerbsDevice*, const VerbsMr& mr) {
  if (mrs_.erase(mr.lkey) == 0) ++stats.badDeregs;
  ++stats.deregs;
}

int FakeVerbs::CreateQp(VerbsDevice* dev, const VerbsPort& port, int sendDepth, int recvDepth, VerbsQp** qp,
                        uint32_t* qpn, std::string*) {
  auto* q = new VerbsQp;
  q->dev = dev;
  q->port = port;
  q->qpn = nextQpn_++;
  q->sendDepth = sendDepth;
  q->recvDepth = recvDepth;
  qps_[q->qpn] = q;
  *qp = q;
  *qpn = q->qpn;
  ++stats.qpsCreated;
  return 0;
}

int FakeVerbs::ConnectQp(VerbsQp* qp, const QpConnectParams& p, std::string* err) {
  if (qp->state != VerbsQp::kInit) return *err = "modify_qp(RTR): QP not in INIT", EINVAL;
  if (p.mtu < 1 || p.mtu > qp->port.activeMtu) return *err = "modify_qp(RTR): MTU above the port's", EINVAL;
  if (qp->port.ethernet && !p.useGrh) return *err = "modify_qp(RTR): RoCE needs a GRH", EINVAL;
  if (p.useGrh && (p.localGidIndex < 0 || p.localGidIndex >= qp->port.gidTableLen))
    return *err = "modify_qp(RTR): bad source GID index", EINVAL;
  qp->peer = p;
  qp->state = VerbsQp::kRts;
  return 0;
}

void FakeVerbs::DestroyQp(VerbsQp* qp) {
  qps_.erase(qp->qpn);
  delete qp;
  ++stats.qpsDestroyed;
}

int FakeVerbs::PostRecv(VerbsQp* qp, uint64_t wrId, std::string* err) {
  if (static_cast<int>(qp->recvs.size()) >= qp->recvDepth) return *err = "receive queue full", ENOMEM;
  qp->recvs.push_back(wrId);
  return 0;
}

bool FakeVerbs::Covers(VerbsDevice* dev, uint32_t key, uintptr_t addr, size_t len) const {
  auto it = mrs_.find(key);
  return it != mrs_.end() && it->second.dev == dev && addr >= it->second.addr &&
         addr + len <= it->second.addr + it->second.len;
}

// Returns the completion status of one write; on success the bytes have moved.
int FakeVerbs::Execute(VerbsQp* qp, const WriteRequest& wr) {
  if (qp->state == VerbsQp::kError) return kWrFlushErr;
  if (wr.length && !Covers(qp->dev, wr.lkey, reinterpret_cast<uintptr_t>(wr.local), wr.length)) return kLocProtErr;
  auto it = qps_.find(qp->peer.remoteQpn);
  if (it == qps_.end()) return kRetryExcErr;  // the peer QP is gone: retries run out
  VerbsQp* r = it->second;
  bool addressed = qp->port.ethernet ? true : qp->peer.remoteLid == r->port.lid;
  if (qp->peer.useGrh) {
    VerbsGid g;
    std::string ignored;
    addressed = QueryGid(r->port, r->peer.localGidIndex, &g, &ignored) == 0 &&
                memcmp(g.raw, qp->peer.remoteGid, 16) == 0;
  }
  if (r->state != VerbsQp::kRts || r->peer.remoteQpn != qp->qpn || r->peer.remotePsn != qp->peer.localPsn ||
      !addressed)
    return kRetryExcErr;
  if (wr.length && !Covers(r->dev, wr.rkey, wr.remoteAddr, wr.length)) return kRemAccessErr;
  if (wr.withImm && r->recvs.empty()) return kRnrRetryExcErr;
  if (wr.length) memcpy(reinterpret_cast<void*>(wr.remoteAddr), wr.local, wr.length);
  if (wr.withImm) {
    VerbsCompletion c;
    c.wrId = r->recvs.front();
    c.kind = CompletionKind::kRecvImm;
    c.imm = wr.imm;
    r->recvs.pop_front();
    r->cq.push_back(c);
  }
  ++stats.writes;
  if (wr.length > stats.largestWrite) stats.largestWrite = wr.length;
  return 0;
}

int FakeVerbs::PostWrite(VerbsQp* qp, const WriteRequest& wr, std::string* err) {
  if (qp->state == VerbsQp::kInit) return *err = "post_send on a QP that is not ready", EINVAL;
  if (qp->sqOutstanding >= qp->sendDepth) return *err = "send queue full", ENOMEM;
  VerbsCompletion c;
  c.wrId = wr.wrId;
  c.kind = CompletionKind::kWrite;
  c.status = Execute(qp, wr);
  if (c.status != 0) qp->state = VerbsQp::kError;
  qp->cq.push_back(c);
  ++qp->sqOutstanding;
  return 0;
}

int FakeVerbs::PollCq(VerbsQp* qp, VerbsCompletion* out, int max, std::string*) {
  int n = 0;
  while (n < max && !qp->cq.empty()) {
    out[n] = qp->cq.front();
    qp->cq.pop_front();
    if (out[n].kind == CompletionKind::kWrite) --qp->sqOutstanding;
    ++n;
  }
  return n;
}

}  // namespace ccib
