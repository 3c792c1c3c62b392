// ib_transfer.cc — isend/irecv/test of the ibverbs plugin: receive credits through the sender's FIFO,
// chunked RDMA writes with immediate data, completion handling and peer liveness (protocol in ib_net.h).
#include <algorithm>
#include <cinttypes>

#include "ib_net.h"
#include "side_channel.h"

namespace ccib {
namespace {

constexpr uint64_t kDataTag = 1ull << 32;    // wrId of a message chunk: tag | request slot
constexpr uint64_t kCreditTag = 2ull << 32;  // wrId of a credit write: tag | FIFO slot
constexpr uint64_t kLivenessPeriodMs = 10;   // how often an idle connection peeks at its side channel
constexpr uint64_t kCloseGraceMs = 20;       // completions already on the wire may still arrive after EOF

}  // namespace

void IbNet::Break(IbComm* c, const std::string& why) {
  if (c->broken) return;
  c->broken = true;
  c->error = why;
  Log(CC_NET_LOG_WARN, "NET/IB: %s connection on %s failed: %s", c->isSend ? "send" : "receive",
      devices_[c->dev].port.device.c_str(), why.c_str());
}

int IbNet::TakeRegistration(IbComm* c, IbRequest* r, void* mhandle) {
  if (r->size == 0) return ccNetOk;  // an empty message needs no memory key
  if (mhandle) {
    const RegEntry* e = static_cast<const RegEntry*>(mhandle);
    uintptr_t a = reinterpret_cast<uintptr_t>(r->data);
    if (a < e->begin || a + r->size > e->end) {
      Log(CC_NET_LOG_WARN, "NET/IB: buffer of %zu bytes lies outside its mhandle", r->size);
      return ccNetErrorArgument;
    }
    r->lkey = e->mr.lkey;
    r->rkey = e->mr.rkey;
    return ccNetOk;
  }
  std::string err;
  if (devices_[c->dev].cache->Acquire(r->data, r->size, &r->ownedReg, &err) != 0) {
    Log(CC_NET_LOG_WARN, "NET/IB: registering %zu bytes failed: %s", r->size, err.c_str());
    return ccNetErrorSystem;
  }
  r->lkey = r->ownedReg->mr.lkey;
  r->rkey = r->ownedReg->mr.rkey;
  return ccNetOk;
}

// Posts the chunks of pending sends in message order while the send queue has room.
void IbNet::PostChunks(IbComm* c) {
  const VerbsPort& port = devices_[c->dev].port;
  size_t chunk = config_.chunkBytes;
  if (port.maxMsgBytes) chunk = std::min<size_t>(chunk, port.maxMsgBytes);
  while (!c->broken && c->doneSeq != c->nextSeq) {
    uint32_t slot = c->doneSeq % kCreditSlots;
    IbRequest* r = &c->reqs[slot];
    while (!r->allPosted) {
      if (c->sqOutstanding >= kSendDepth) return;
      WriteRequest wr;
      wr.wrId = kDataTag | slot;
      wr.remoteAddr = r->remoteAddr + r->postedBytes;
      wr.rkey = r->remoteRkey;
      if (r->tooLarge) {
        wr.withImm = true;
        wr.imm = kImmTooLarge;
      } else {
        wr.length = std::min(chunk, r->size - r->postedBytes);
        wr.local = r->data + r->postedBytes;
        wr.lkey = r->lkey;
        wr.withImm = r->postedBytes + wr.length == r->size;
        wr.imm = static_cast<uint32_t>(r->size);
      }
      std::string err;
      if (verbs_->PostWrite(c->qp, wr, &err) != 0) return Break(c, "posting an RDMA write failed: " + err);
      ++c->sqOutstanding;
      ++r->inflight;
      r->postedBytes += wr.length;
      r->allPosted = wr.withImm;
    }
    ++c->doneSeq;
  }
}

void IbNet::HandleCompletion(IbComm* c, const VerbsCompletion& wc) {
  if (wc.status != 0) return Break(c, "work completion failed with status " + std::to_string(wc.status));
  if (wc.kind == CompletionKind::kWrite) {
    --c->sqOutstanding;
    uint32_t slot = static_cast<uint32_t>(wc.wrId & 0xffffffffu) % kCreditSlots;
    if ((wc.wrId & ~0xffffffffull) == kCreditTag) {
      c->creditInFlight[slot] = false;
      return;
    }
    IbRequest* r = &c->reqs[slot];
    if (!r->active || --r->inflight > 0 || !r->allPosted) return;
    if (!r->tooLarge) {
      r->done = true;
      return;
    }
    r->failed = true;
    char why[160];
    snprintf(why, sizeof(why), "message of %zu bytes is larger than the receiver's buffer", r->size);
    return Break(c, why);
  }
  if (c->isSend) return Break(c, "unexpected incoming write on a send connection");
  IbRequest* r = &c->reqs[c->doneSeq % kCreditSlots];
  if (!r->active || r->done || c->doneSeq == c->nextSeq) return Break(c, "data arrived with no receive posted");
  char why[160];
  if (wc.imm & kImmTooLarge) {
    r->failed = true;
    snprintf(why, sizeof(why), "incoming message is larger than the posted receive of %zu bytes", r->size);
    return Break(c, why);
  }
  if (wc.imm > r->size) {
    r->failed = true;
    snprintf(why, sizeof(why), "peer reported %" PRIu32 " bytes for a receive of %zu", wc.imm, r->size);
    return Break(c, why);
  }
  r->done = true;
  r->received = wc.imm;
  ++c->doneSeq;
  std::string err;
  if (verbs_->PostRecv(c->qp, c->doneSeq, &err) != 0) Break(c, "reposting a receive failed: " + err);
}

void IbNet::CheckLiveness(IbComm* c, bool idle) {
  if (c->broken || (!idle && !c->closedSinceMs)) return;
  uint64_t now = NowMs();
  if (c->closedSinceMs) {
    if (now - c->closedSinceMs >= kCloseGraceMs) Break(c, "peer closed the connection");
    return;
  }
  if (now < c->nextLivenessMs) return;
  c->nextLivenessMs = now + kLivenessPeriodMs;
  if (PeerClosed(c->fd)) c->closedSinceMs = now;
}

int IbNet::Progress(IbComm* c) {
  VerbsCompletion wcs[32];
  std::string err;
  int n = verbs_->PollCq(c->qp, wcs, 32, &err);
  if (n < 0) Break(c, "polling the completion queue failed: " + err);
  for (int i = 0; i < n; ++i) HandleCompletion(c, wcs[i]);
  if (c->isSend) PostChunks(c);
  CheckLiveness(c, n == 0);
  return c->broken ? ccNetErrorRemote : ccNetOk;
}

int IbNet::PostCredit(IbComm* c, IbRequest* r) {
  uint32_t slot = c->nextSeq % kCreditSlots;
  CreditSlot* cs = &c->slots[slot];
  cs->addr = r->size ? reinterpret_cast<uintptr_t>(r->data) : 0;
  cs->size = r->size;
  cs->rkey = r->rkey;
  cs->seq = c->nextSeq + 1;
  cs->reserved = 0;
  WriteRequest wr;
  wr.wrId = kCreditTag | slot;
  wr.local = cs;
  wr.length = sizeof(CreditSlot);
  wr.lkey = c->slotsMr.lkey;
  wr.remoteAddr = c->remoteFifoAddr + slot * sizeof(CreditSlot);
  wr.rkey = c->remoteFifoRkey;
  std::string err;
  if (verbs_->PostWrite(c->qp, wr, &err) != 0) {
    Break(c, "posting a credit failed: " + err);
    return ccNetErrorSystem;
  }
  ++c->sqOutstanding;
  c->creditInFlight[slot] = true;
  return ccNetOk;
}

int IbNet::Isend(void* sendComm, void* data, size_t size, void* mhandle, void** request) {
  IbComm* c = static_cast<IbComm*>(sendComm);
  if (!c || !c->isSend || !request || (!data && size)) return ccNetErrorArgument;
  *request = nullptr;
  if (size > kMaxMessageBytes) return ccNetErrorArgument;
  if (c->broken) return ccNetErrorRemote;
  uint32_t slot = c->nextSeq % kCreditSlots;
  IbRequest* r = &c->reqs[slot];
  CreditSlot* credit = &c->slots[slot];
  if (r->active || __atomic_load_n(&credit->seq, __ATOMIC_ACQUIRE) != c->nextSeq + 1) return Progress(c);
  r->comm = c;
  r->active = true;
  r->data = static_cast<uint8_t*>(data);
  r->size = size;
  r->remoteAddr = credit->addr;
  r->remoteRkey = credit->rkey;
  r->tooLarge = size > credit->size;
  if (!r->tooLarge) {
    int rc = TakeRegistration(c, r, mhandle);
    if (rc != ccNetOk) {
      FreeRequest(r);
      return rc;
    }
  }
  ++c->nextSeq;
  PostChunks(c);
  *request = r;
  return ccNetOk;
}

int IbNet::Irecv(void* recvComm, void* data, size_t size, void* mhandle, void** request) {
  IbComm* c = static_cast<IbComm*>(recvComm);
  if (!c || c->isSend || !request || (!data && size)) return ccNetErrorArgument;
  *request = nullptr;
  if (c->broken) return ccNetErrorRemote;
  uint32_t slot = c->nextSeq % kCreditSlots;
  IbRequest* r = &c->reqs[slot];
  if (r->active || c->creditInFlight[slot]) {
    int rc = Progress(c);
    if (rc != ccNetOk || r->active || c->creditInFlight[slot]) return rc;
  }
  r->comm = c;
  r->active = true;
  r->data = static_cast<uint8_t*>(data);
  r->size = size;
  int rc = TakeRegistration(c, r, mhandle);
  if (rc == ccNetOk) rc = PostCredit(c, r);
  if (rc != ccNetOk) {
    FreeRequest(r);
    return rc;
  }
  ++c->nextSeq;
  *request = r;
  return ccNetOk;
}

int IbNet::Test(void* request, int* done, size_t* size) {
  IbRequest* r = static_cast<IbRequest*>(request);
  if (!r || !done || !r->comm || !r->active) return ccNetErrorArgument;
  IbComm* c = r->comm;
  *done = 0;
  if (!r->done) Progress(c);
  if (r->done) {
    *done = 1;
    if (size) *size = c->isSend ? r->size : r->received;
    FreeRequest(r);
    return ccNetOk;
  }
  if (r->failed || c->broken) {
    FreeRequest(r);
    return ccNetErrorRemote;
  }
  return ccNetOk;
}

}  // namespace ccib
