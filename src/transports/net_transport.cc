// net_transport.cc — see net_transport.h.
#include "transports/net_transport.h"

#include <sched.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/process.h"
#include "common/result.h"
#include "common/socket.h"
#include "core/bootstrap.h"
#include "topo/topology.h"
#include "transports/net_builtin.h"
#include "transports/net_plugin.h"

namespace conccl {

ccResult_t NetListen(const ccNet_v1_t* net, int dev, uint8_t* handle, void** listenComm) {
  memset(handle, 0, CC_NET_HANDLE_MAXSIZE);
  std::lock_guard<std::mutex> lock(NetPluginMutex(net));
  int rc = net->listen(dev, handle, listenComm);
  if (rc != ccNetOk || !*listenComm)
    return SetError(ccSystemError, "net plugin '%s': listen on device %d failed (code %d)", net->name, dev, rc);
  return ccSuccess;
}

namespace {

constexpr uint32_t kHelloMagic = 0x43434e48;  // "CCNH"
constexpr int kMaxInflight = 8;               // plugin requests in flight per connection
constexpr int64_t kHelloTimeoutMs = 10000;    // an accepted connection must send its hello within this
// Idle polling: rounds that test without sleeping, then rounds that yield the CPU, then short sleeps that
// grow to 200 us (a waiting plugin must not starve the ranks it waits for on an oversubscribed host). The
// sleeps grow slowly (200 us after about 10 ms without progress): a plugin without wake-ups (UCX over shared
// memory) streaming 512 KiB pieces at ~2 GB/s has a piece every ~250 us. With the earlier ramp (200 us after
// 2 ms) UCX/sm measured 0.88-0.93 of the built-in shm in four 5-round runs, with this one 0.90-1.02
// (perf/bench_net_plugins.sh sm): near the noise, but not worse.
constexpr int kSpinRounds = 16;
constexpr int kYieldRounds = 64;
constexpr int kFirstSleepUs = 8;
constexpr int kSleepStepUs = 2;
constexpr int kMaxSleepUs = 200;
constexpr int64_t kLivenessMs = 200;  // how often same-host peers that never connected are checked for life
// A peer seen gone is declared dead this long later: connections it made before going (and the messages on
// them) may still be in the plugin's accept queue, and must be identified before its missing ones fail.
constexpr int64_t kGoneGraceMs = 250;

struct Hello {
  uint32_t magic;
  int32_t fromRank;
  int32_t channel;
  uint32_t reserved;
  uint64_t commHash;
  uint8_t secret[kSecretBytes];
};

struct Piece {
  void* req;
  void* mhandle;
  size_t size;
};

// One posted message (or a connection's hello, which has no ConCCL request).
struct Op {
  Request* req = nullptr;  // nullptr for the hello, and once finished
  char* data = nullptr;
  size_t size = 0;         // send: bytes; receive: capacity
  size_t posted = 0;       // bytes covered by pieces posted so far
  size_t done = 0;         // bytes of finished pieces
  int piecesPosted = 0;
  bool lastPosted = false; // send: the final (short) piece is posted; receive: a short piece arrived
  std::list<Piece> inflight;
  Hello hello{};           // the hello's bytes (send side)
};

struct Conn {
  bool isSend = false;
  int peer = -1;
  size_t maxMsg = SIZE_MAX;  // piece size: the smaller of the two ends' maxMessageBytes
  void* comm = nullptr;  // sendComm / recvComm once connected or accepted
  std::list<Op*> ops;
  bool broken = false;
};

// A connection accepted but not yet identified by its hello.
struct Accepted {
  void* comm = nullptr;
  void* req = nullptr;
  Hello hello{};
  int64_t deadline = 0;  // dropped when no hello came by then
};

class NetTransport : public Transport {
 public:
  NetTransport(const TransportContext& ctx, const ccNet_v1_t* net, int dev, void* listenComm, std::string pciPath,
               NetSlot slot)
      : ctx_(ctx), net_(net), ext_(NetBuiltinExtensions(net)), dev_(dev), slot_(slot), listen_(listenComm),
        pluginMu_(ext_ ? ownMu_ : NetPluginMutex(net)), pciPath_(std::move(pciPath)) {
    ccNetProperties_v1_t props{};
    {
      std::lock_guard<std::mutex> lock(pluginMu_);
      if (net_->getProperties(dev_, &props) == ccNetOk) {
        regRequired_ = (props.flags & CC_NET_PROP_REG_REQUIRED) != 0;
        if (props.maxMessageBytes > 0) maxMsg_ = props.maxMessageBytes;
      }
    }
    if (!ext_) thread_ = std::thread([this] { Loop(); });
  }

  ~NetTransport() override {
    Shutdown();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (auto& kv : conns_)
      for (Op* op : kv.second.ops) delete op;
    if (listen_) net_->closeListen(listen_);  // a built-in's, kept to the end (see Shutdown)
  }

  const char* Name() const override { return net_->name; }

  ccResult_t Isend(int peer, int channel, const void* data, size_t bytes, Request** out) override {
    return Post(true, peer, channel, const_cast<void*>(data), bytes, out);
  }
  ccResult_t Irecv(int peer, int channel, void* data, size_t capacity, Request** out) override {
    return Post(false, peer, channel, data, capacity, out);
  }

  void Shutdown() override {
    std::unique_lock<std::mutex> lock = LockForCaller();
    if (shutdown_) return;
    shutdown_ = true;
    std::lock_guard<std::mutex> plock(pluginMu_);
    for (auto& kv : conns_) {
      Conn& c = kv.second;
      FailOps(&c, "transport shut down");
      if (c.comm) (c.isSend ? net_->closeSend : net_->closeRecv)(c.comm);
      c.comm = nullptr;
      c.broken = true;
    }
    for (auto& a : accepted_) net_->closeRecv(a.comm);
    accepted_.clear();
    // A built-in's listen endpoint may hold the communicator's doorbell word (shm): it is closed by the
    // destructor, after the communicator stopped using that word.
    if (listen_ && !ext_) {
      net_->closeListen(listen_);
      listen_ = nullptr;
    }
    ctx_.doorbell->Ring();
    cv_.notify_all();
  }

  // One round of plugin work from a waiting thread. With an external plugin, only when the progress thread is
  // not doing it; a built-in has no progress thread here, so every waiter does the work.
  bool Progress() override {
    std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
    if (ext_) lock = LockForCaller();
    else lock.try_lock();
    if (!lock.owns_lock() || shutdown_) return false;
    std::unique_lock<std::mutex> plock(pluginMu_, std::try_to_lock);
    if (!plock.owns_lock()) return false;
    return Step();
  }

 private:
  using Key = std::pair<int, int>;  // (peer, channel) in one direction

  // Both ends split messages at the smaller of their devices' limits (published in RankInfo).
  size_t PieceBytes(int peer) const {
    uint64_t theirs = slot_ == kNetSlotPlugin ? (*ctx_.peers)[peer].netMaxMessage : 0;
    return theirs > 0 && theirs < maxMsg_ ? static_cast<size_t>(theirs) : maxMsg_;
  }

  // Takes mu_ for a caller thread; the progress thread lets go of it between rounds while callers wait.
  std::unique_lock<std::mutex> LockForCaller() {
    wanting_.fetch_add(1);
    std::unique_lock<std::mutex> lock(mu_);
    wanting_.fetch_sub(1);
    return lock;
  }
  static Key SendKey(int peer, int ch) { return {peer, ch * 2}; }
  static Key RecvKey(int peer, int ch) { return {peer, ch * 2 + 1}; }

  ccResult_t Post(bool isSend, int peer, int channel, void* data, size_t bytes, Request** out) {
    if (peer < 0 || peer >= ctx_.nranks || channel < 0 || channel > 1 << 20)
      return SetError(ccInternalError, "net: bad peer %d or channel %d", peer, channel);
    auto* req = new Request();
    std::unique_lock<std::mutex> lock = LockForCaller();
    *out = req;
    Key key = isSend ? SendKey(peer, channel) : RecvKey(peer, channel);
    Conn& c = conns_[key];
    c.isSend = isSend;
    c.peer = peer;
    c.maxMsg = PieceBytes(peer);
    if (!c.comm && dead_.count(peer)) c.broken = true;  // it can never connect now
    if (shutdown_ || c.broken) {
      req->Fail(ccRemoteError, std::string("net plugin '") + net_->name + "': connection with rank " +
                                   std::to_string(peer) + (shutdown_ ? " shut down" : " is broken or the rank is gone"));
      ctx_.doorbell->Ring();
      return ccSuccess;
    }
    if (isSend && !c.comm && c.ops.empty()) {  // first message: the hello goes first
      Op* h = new Op();
      h->hello.magic = kHelloMagic;
      h->hello.fromRank = ctx_.rank;
      h->hello.channel = channel;
      h->hello.commHash = ctx_.commHash;
      memcpy(h->hello.secret, ctx_.secret, kSecretBytes);
      h->data = reinterpret_cast<char*>(&h->hello);
      h->size = sizeof(Hello);
      c.ops.push_back(h);
      connecting_.insert(key);
    }
    Op* op = new Op();
    op->req = req;
    op->data = static_cast<char*>(data);
    op->size = bytes;
    c.ops.push_back(op);
    kicked_ = true;
    cv_.notify_one();
    return ccSuccess;
  }

  // ---- progress thread ----

  void Loop() {
    std::string how = BindThreadNear(pciPath_);
    CC_INFO(kLogNet, "net plugin '%s' progress thread of rank %d (device %d): %s", net_->name, ctx_.rank, dev_,
            how.c_str());
    int idle = 0;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      bool moved = false;
      if (!shutdown_) {
        std::lock_guard<std::mutex> plock(pluginMu_);
        moved = Step();
      }
      if (wanting_.load() > 0) {  // a caller waits for the lock: let it in before the next round
        lock.unlock();
        for (int i = 0; i < 1000 && wanting_.load() > 0; ++i) sched_yield();
        lock.lock();
      }
      if (moved) {
        idle = 0;
        continue;
      }
      if (shutdown_ || !Busy()) {
        idle = 0;
        cv_.wait_for(lock, std::chrono::milliseconds(10), [this] { return kicked_ || stop_; });
        kicked_ = false;
        continue;
      }
      ++idle;
      if (idle > kSpinRounds + kYieldRounds) {  // a post (kicked_) ends the sleep at once
        int us = std::min(kMaxSleepUs, kFirstSleepUs + (idle - kSpinRounds - kYieldRounds) * kSleepStepUs);
        cv_.wait_for(lock, std::chrono::microseconds(us), [this] { return kicked_ || stop_; });
        if (kicked_) idle = 0;
      } else if (idle > kSpinRounds) {
        lock.unlock();
        sched_yield();
        lock.lock();
      }
      kicked_ = false;
    }
  }

  bool Busy() const {
    if (!accepted_.empty() || !connecting_.empty()) return true;
    for (const auto& kv : conns_)
      if (!kv.second.ops.empty()) return true;
    return false;
  }

  // One round of plugin work; true if anything moved. Holds mu_ and the plugin lock.
  bool Step() {
    bool moved = AcceptNew();
    moved |= IdentifyAccepted();
    for (auto it = connecting_.begin(); it != connecting_.end();) {
      Conn& c = conns_[*it];
      if (c.broken) {
        it = connecting_.erase(it);
        continue;
      }
      void* comm = nullptr;
      const uint8_t* handle = (*ctx_.peers)[c.peer].netHandle[slot_];
      int rc = ext_ ? ext_->connectFrom(listen_, dev_, handle, &comm) : net_->connect(dev_, handle, &comm);
      if (rc != ccNetOk) {
        Break(&c, "connect failed (code " + std::to_string(rc) + ")");
        it = connecting_.erase(it);
        moved = true;
      } else if (comm) {
        c.comm = comm;
        it = connecting_.erase(it);
        moved = true;
      } else {
        ++it;
      }
    }
    for (auto& kv : conns_) {
      Conn& c = kv.second;
      if (!c.comm || c.broken) continue;
      moved |= c.isSend ? PostSends(&c) : PostRecvs(&c);
      moved |= TestConn(&c);
      if (ext_ && !c.broken && ext_->peerGone(c.comm)) NoteGone(c.peer, "closed or lost a connection");
    }
    CheckUnconnectedPeers();
    moved |= DeclareDead();
    return moved;
  }

  void NoteGone(int peer, const std::string& why) {
    if (!dead_.count(peer) && !gone_.count(peer)) gone_[peer] = {NowMs(), "rank " + std::to_string(peer) + " " + why};
  }

  // Peers seen gone for kGoneGraceMs are dead (MarkDead).
  bool DeclareDead() {
    if (gone_.empty()) return false;
    bool moved = false;
    int64_t now = NowMs();
    for (auto it = gone_.begin(); it != gone_.end();) {
      if (now - it->second.first < kGoneGraceMs) {
        ++it;
        continue;
      }
      int peer = it->first;
      std::string why = it->second.second;
      it = gone_.erase(it);
      MarkDead(peer, why);
      moved = true;
    }
    return moved;
  }

  // Receives waiting for a same-host peer that never connected fail once that peer's process is gone (a remote
  // peer's death shows on its other connections, or as the communicator's timeout).
  void CheckUnconnectedPeers() {
    auto waiting = [](const Conn& c) { return !c.isSend && !c.comm && !c.broken && !c.ops.empty(); };
    bool any = false;
    for (const auto& kv : conns_) any = any || waiting(kv.second);
    if (!any) return;  // the clock is read only when there is something to check (it costs on some VMs)
    int64_t now = NowMs();
    if (now - lastLivenessMs_ < kLivenessMs) return;
    lastLivenessMs_ = now;
    const RankInfo& me = (*ctx_.peers)[ctx_.rank];
    for (auto& kv : conns_) {
      Conn& c = kv.second;
      if (!waiting(c)) continue;
      const RankInfo& other = (*ctx_.peers)[c.peer];
      if (strncmp(other.hostId, me.hostId, sizeof(me.hostId)) != 0 || ProcessAlive(other.pid)) continue;
      NoteGone(c.peer, "(pid " + std::to_string(other.pid) + ") died");
    }
  }

  bool AcceptNew() {
    bool moved = false;
    for (int i = 0; listen_ && i < 16; ++i) {
      void* comm = nullptr;
      int rc = net_->accept(listen_, &comm);
      if (rc != ccNetOk) {
        CC_WARN("net plugin '%s': accept failed (code %d)", net_->name, rc);
        break;
      }
      if (!comm) break;
      accepted_.push_back(Accepted{comm, nullptr, {}, NowMs() + kHelloTimeoutMs});
      moved = true;
    }
    return moved;
  }

  bool IdentifyAccepted() {
    bool moved = false;
    for (auto it = accepted_.begin(); it != accepted_.end();) {
      Accepted& a = *it;
      int rc = ccNetOk;
      if (!a.req) rc = net_->irecv(a.comm, &a.hello, sizeof(Hello), nullptr, &a.req);
      int done = 0;
      size_t got = 0;
      if (rc == ccNetOk && a.req) rc = net_->test(a.req, &done, &got);
      if (rc == ccNetOk && !done && NowMs() < a.deadline) {
        ++it;
        continue;
      }
      moved = true;
      std::string why;
      const Hello& h = a.hello;
      if (rc != ccNetOk) why = "its hello failed (code " + std::to_string(rc) + ")";
      else if (!done) why = "no hello within " + std::to_string(kHelloTimeoutMs) + " ms";
      else if (got != sizeof(Hello) || h.magic != kHelloMagic) why = "it sent no valid hello";
      else if (h.commHash != ctx_.commHash || memcmp(h.secret, ctx_.secret, kSecretBytes) != 0)
        why = "it presented another communicator's secret";
      else if (h.fromRank < 0 || h.fromRank >= ctx_.nranks || h.fromRank == ctx_.rank || h.channel < 0)
        why = "bad rank " + std::to_string(h.fromRank) + " or channel " + std::to_string(h.channel);
      Conn* c = nullptr;
      if (why.empty()) {
        c = &conns_[RecvKey(h.fromRank, h.channel)];
        if (c->comm || c->broken) why = "a second connection for one (rank, channel)";
      }
      if (!why.empty()) {
        CC_WARN("net plugin '%s': rank %d dropped an incoming connection: %s", net_->name, ctx_.rank, why.c_str());
        net_->closeRecv(a.comm);
      } else {
        c->isSend = false;
        c->peer = h.fromRank;
        c->maxMsg = PieceBytes(h.fromRank);
        c->comm = a.comm;
        CC_TRACE(kLogNet, "net plugin '%s': rank %d accepted rank %d channel %d", net_->name, ctx_.rank, h.fromRank,
                 h.channel);
      }
      it = accepted_.erase(it);
    }
    return moved;
  }

  // Posts pieces of queued sends, in order, while fewer than kMaxInflight are in flight.
  bool PostSends(Conn* c) {
    bool moved = false;
    int inflight = 0;
    for (Op* op : c->ops) inflight += static_cast<int>(op->inflight.size());
    for (Op* op : c->ops) {
      while (!op->lastPosted && inflight < kMaxInflight) {
        size_t len = std::min(c->maxMsg, op->size - op->posted);
        bool last = len < c->maxMsg;  // full pieces are followed by a shorter (possibly empty) one
        Piece p{nullptr, nullptr, len};
        if (!PostPiece(c, op, &p, true)) return moved;
        if (!p.req) return moved;  // plugin busy: retry next round
        op->inflight.push_back(p);
        op->posted += len;
        op->lastPosted = last;
        ++inflight;
        moved = true;
      }
      if (inflight >= kMaxInflight) break;
    }
    return moved;
  }

  // Posts receives in order. A receive that may span several pieces (capacity >= maxMsg) is posted one piece
  // at a time and nothing after it is posted until it ends, since only its pieces' sizes mark its end.
  bool PostRecvs(Conn* c) {
    bool moved = false;
    int inflight = 0;
    for (Op* op : c->ops) inflight += static_cast<int>(op->inflight.size());
    for (Op* op : c->ops) {
      bool multi = op->size >= c->maxMsg;
      if (!op->inflight.empty()) {
        if (multi) break;
        continue;
      }
      if (op->lastPosted) continue;
      if (inflight >= kMaxInflight) break;
      size_t len = std::min(c->maxMsg, op->size - op->done);
      Piece p{nullptr, nullptr, len};
      if (!PostPiece(c, op, &p, false)) return moved;
      if (!p.req) return moved;
      op->inflight.push_back(p);
      ++inflight;
      moved = true;
      if (multi) break;
    }
    return moved;
  }

  // Registers (when the device needs it) and posts one piece; false if the connection broke.
  bool PostPiece(Conn* c, Op* op, Piece* p, bool isSend) {
    char* at = op->data + (isSend ? op->posted : op->done);
    int rc = ccNetOk;
    if (regRequired_) rc = net_->regMr(c->comm, at, p->size, CC_NET_PTR_HOST, &p->mhandle);
    if (rc == ccNetOk)
      rc = isSend ? net_->isend(c->comm, at, p->size, p->mhandle, &p->req)
                  : net_->irecv(c->comm, at, p->size, p->mhandle, &p->req);
    if (rc == ccNetOk && !p->req && p->mhandle) {
      net_->deregMr(c->comm, p->mhandle);
      p->mhandle = nullptr;
    }
    if (rc != ccNetOk) {
      if (p->mhandle) net_->deregMr(c->comm, p->mhandle);
      Break(c, std::string(isSend ? "isend" : "irecv") + " failed (code " + std::to_string(rc) + ")");
      return false;
    }
    return true;
  }

  bool TestConn(Conn* c) {
    bool moved = false;
    for (auto it = c->ops.begin(); it != c->ops.end() && !c->broken;) {
      Op* op = *it;
      for (auto pit = op->inflight.begin(); pit != op->inflight.end();) {
        int done = 0;
        size_t got = 0;
        int rc = net_->test(pit->req, &done, &got);
        if (rc != ccNetOk) {
          pit->req = nullptr;  // an error frees the request
          if (pit->mhandle) net_->deregMr(c->comm, pit->mhandle);
          op->inflight.erase(pit);
          Break(c, "a " + std::string(c->isSend ? "send" : "receive") + " failed (code " + std::to_string(rc) +
                       ")" + (c->isSend ? "" : ": peer gone, or a message larger than the posted buffer"));
          return true;
        }
        if (!done) {
          ++pit;
          continue;
        }
        if (pit->mhandle) net_->deregMr(c->comm, pit->mhandle);
        moved = true;
        if (!c->isSend) {
          if (got > pit->size) {
            op->inflight.erase(pit);
            Break(c, "the plugin reported more bytes than the posted receive");
            return true;
          }
          op->done += got;
          if (got < c->maxMsg) op->lastPosted = true;  // a short piece ends the message
        } else {
          op->done += got;
        }
        pit = op->inflight.erase(pit);
      }
      bool finished = op->inflight.empty() && op->lastPosted;
      if (!finished) {
        ++it;
        continue;
      }
      if (op->req) {
        op->req->Complete(op->done);
        ctx_.doorbell->Ring();
      }
      delete op;
      it = c->ops.erase(it);
    }
    return moved;
  }

  // Marks a connection broken: its pending messages fail and the peer counts as dead.
  void Break(Conn* c, const std::string& why) {
    std::string msg = std::string("net plugin '") + net_->name + "': connection " + (c->isSend ? "to" : "from") +
                      " rank " + std::to_string(c->peer) + ": " + why;
    CC_INFO(kLogNet, "rank %d: %s", ctx_.rank, msg.c_str());
    FailOps(c, msg);
    if (c->comm) (c->isSend ? net_->closeSend : net_->closeRecv)(c->comm);
    c->comm = nullptr;
    c->broken = true;
    NoteGone(c->peer, "lost another connection before connecting this one");
    ctx_.doorbell->Ring();
  }

  // Receives from a dead peer on channels it never connected can no longer complete: they fail now, and so
  // do later ones (Post). Its connected channels still deliver what it sent before it went.
  void MarkDead(int peer, const std::string& why) {
    if (!dead_.insert(peer).second) return;
    for (auto& kv : conns_) {
      Conn& o = kv.second;
      if (!o.isSend && o.peer == peer && !o.comm && !o.broken) Break(&o, why);
    }
  }

  void FailOps(Conn* c, const std::string& why) {
    for (Op* op : c->ops) {
      if (op->req) op->req->Fail(ccRemoteError, why);
      delete op;  // in-flight plugin requests are abandoned with their connection
    }
    c->ops.clear();
    ctx_.doorbell->Ring();
  }

  TransportContext ctx_;
  const ccNet_v1_t* net_;
  const NetBuiltinOps* ext_;  // a built-in's extensions (net_builtin.h); nullptr for an external plugin
  int dev_;
  NetSlot slot_;  // which of the peers' listen handles this adapter connects to
  void* listen_;
  std::mutex ownMu_;     // a built-in is thread-safe: this adapter's own lock stands in for the plugin lock
  std::mutex& pluginMu_;
  std::string pciPath_;
  bool regRequired_ = false;
  size_t maxMsg_ = SIZE_MAX;

  std::mutex mu_;  // guards everything below; the progress thread holds it while it works
  std::condition_variable cv_;
  std::map<Key, Conn> conns_;
  std::set<Key> connecting_;
  std::list<Accepted> accepted_;
  std::set<int> dead_;
  std::map<int, std::pair<int64_t, std::string>> gone_;  // peer -> (when seen gone, why): dead after a grace
  int64_t lastLivenessMs_ = 0;
  bool shutdown_ = false;
  bool stop_ = false;
  bool kicked_ = false;  // a message was posted since the progress thread last looked
  std::atomic<int> wanting_{0};  // caller threads waiting for mu_
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Transport> CreateNetTransport(const TransportContext& ctx, const ccNet_v1_t* net, int dev,
                                              void* listenComm, const std::string& pciPath, NetSlot slot) {
  return std::make_unique<NetTransport>(ctx, net, dev, listenComm, pciPath, slot);
}

}  // namespace conccl
