// shm.cc — see shm.h.
#include "transports/shm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

#include "common/env.h"
#include "common/result.h"
#include "common/socket.h"

namespace conccl {
namespace {

constexpr uint32_t kRingMagic = 0x43435352;  // "CCSR"
constexpr uint32_t kMsgMagic = 0x4343534d;   // "CCSM"

struct RingHeader {
  uint32_t magic;
  uint32_t pad;
  uint64_t capacity;
  alignas(64) std::atomic<uint64_t> head;  // bytes written (sender)
  alignas(64) std::atomic<uint64_t> tail;  // bytes consumed (receiver)
  alignas(64) std::atomic<uint32_t> closed;  // set by either side on shutdown
};

// This rank's own segment: its doorbell, and a flag set when it shuts down (peers then fail receives
// they posted on rings this rank never created).
struct RankSegment {
  DoorbellWord bell;
  std::atomic<uint32_t> closed;
};

struct MsgHeader {
  uint32_t magic;
  uint32_t pad;
  uint64_t bytes;
};

struct Mapping {
  void* base = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (base) munmap(base, size);
  }
};

ccResult_t MapSegment(const std::string& name, size_t size, bool create, Mapping* m, bool* missing) {
  if (missing) *missing = false;
  int fd = shm_open(name.c_str(), create ? (O_RDWR | O_CREAT | O_EXCL) : O_RDWR, 0600);
  if (fd < 0 && create && errno == EEXIST) {
    shm_unlink(name.c_str());  // stale segment of a dead run with the same name
    fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  }
  if (fd < 0) {
    if (!create && errno == ENOENT && missing) {
      *missing = true;
      return ccSuccess;
    }
    return SetError(ccSystemError, "shm_open(%s) failed: %s", name.c_str(), strerror(errno));
  }
  if (create && ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(name.c_str());
    return SetError(ccSystemError, "ftruncate(%s, %zu) failed: %s", name.c_str(), size, strerror(err));
  }
  if (!create) {
    struct stat st {};
    if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < size) {
      close(fd);
      if (missing) *missing = true;  // the creator has not sized it yet
      return ccSuccess;
    }
    size = static_cast<size_t>(st.st_size);
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return SetError(ccSystemError, "mmap(%s) failed: %s", name.c_str(), strerror(errno));
  m->base = p;
  m->size = size;
  return ccSuccess;
}

bool ProcessAlive(int pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (!f) return false;
  char buf[512] = {0};
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  const char* rp = strrchr(buf, ')');
  if (n == 0 || !rp || rp[1] == 0) return true;
  char state = rp[2];
  return state != 'Z' && state != 'X';
}

struct ShmEntry {
  Request* req;
  char* data;
  size_t size;  // send: bytes; receive: capacity
  size_t done;
  bool headerDone;
  size_t total;
};

struct ShmConn {
  bool isSend;
  int peer, channel;
  std::string name;
  Mapping ring;
  Mapping peerBell;
  RingHeader* hdr = nullptr;
  char* data = nullptr;
  std::deque<ShmEntry> queue;
  bool broken = false;
  std::string why;
};

class ShmTransport : public Transport {
 public:
  explicit ShmTransport(const TransportContext& ctx) : ctx_(ctx) {
    capacity_ = static_cast<size_t>(std::max<int64_t>(4096, EnvInt("CONCCL_SHM_BUFFSIZE")));
  }

  ccResult_t Init() {
    CC_CHECK(MapSegment(BellName(ctx_.rank), sizeof(RankSegment), true, &bell_, nullptr));
    self_ = new (bell_.base) RankSegment();
    prevWord_ = ctx_.doorbell->word();
    ctx_.doorbell->Attach(&self_->bell);
    return ccSuccess;
  }

  ~ShmTransport() override {
    Shutdown();
    ctx_.doorbell->Attach(prevWord_);  // the shared word goes away with the mapping
    shm_unlink(BellName(ctx_.rank).c_str());
    // A ring the receiver never attached to keeps its name while it holds unread data (the receiver may
    // still come for it); otherwise the receiver already unlinked it, or nobody needs it.
    for (auto& kv : conns_) {
      ShmConn* c = kv.second.get();
      if (!c->isSend || !c->hdr) continue;
      if (c->hdr->head.load() == c->hdr->tail.load()) shm_unlink(c->name.c_str());
    }
  }

  const char* Name() const override { return "shm"; }

  ccResult_t Isend(int peer, int channel, const void* data, size_t bytes, Request** out) override {
    std::lock_guard<std::mutex> lock(mu_);
    ShmConn* conn = nullptr;
    CC_CHECK(GetConn(true, peer, channel, &conn));
    auto* req = new Request();
    *out = req;
    Push(conn, ShmEntry{req, const_cast<char*>(static_cast<const char*>(data)), bytes, 0, false, bytes});
    return ccSuccess;
  }

  ccResult_t Irecv(int peer, int channel, void* data, size_t capacity, Request** out) override {
    std::lock_guard<std::mutex> lock(mu_);
    ShmConn* conn = nullptr;
    CC_CHECK(GetConn(false, peer, channel, &conn));
    auto* req = new Request();
    *out = req;
    Push(conn, ShmEntry{req, static_cast<char*>(data), capacity, 0, false, 0});
    return ccSuccess;
  }

  bool Progress() override {
    std::lock_guard<std::mutex> lock(mu_);
    bool moved = false;
    bool checkLiveness = NowMs() - lastLivenessMs_ > 200;
    if (checkLiveness) lastLivenessMs_ = NowMs();
    for (auto& kv : conns_) {
      ShmConn* c = kv.second.get();
      if (c->broken || c->queue.empty()) continue;
      if (!c->hdr) {
        // Read the peer's state before trying to attach: a peer that closed had finished creating any ring
        // it made, so a failed attach after that means it never made this one.
        bool peerClosed = PeerClosed(c);
        if (!TryAttach(c)) {
          if (peerClosed) Break(c, "rank " + std::to_string(c->peer) + " shut down before sending on this channel");
          else if (checkLiveness) CheckPeer(c);
          continue;
        }
      }
      bool closed = c->hdr->closed.load(std::memory_order_acquire) != 0 || (!c->isSend && PeerClosed(c));
      // A receiver drains what the sender wrote before it closed; a sender stops at once.
      bool m = c->isSend ? (!closed && DriveSend(c)) : DriveRecv(c);
      if (closed && !m && !c->queue.empty()) {
        Break(c, "rank " + std::to_string(c->peer) + " closed the shared-memory connection");
        m = true;
      }
      if (!m && checkLiveness) CheckPeer(c);
      moved |= m;
    }
    return moved;
  }

  void Shutdown() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    shutdown_ = true;
    self_->closed.store(1, std::memory_order_release);
    for (auto& kv : conns_) {
      ShmConn* c = kv.second.get();
      if (c->hdr) c->hdr->closed.store(1, std::memory_order_release);
      RingPeer(c);
      Break(c, "shared-memory connection shut down by rank " + std::to_string(ctx_.rank));
    }
  }

 private:
  std::string Prefix() const {
    char buf[64];
    snprintf(buf, sizeof(buf), "/conccl-%016llx", static_cast<unsigned long long>(ctx_.commHash));
    return buf;
  }
  std::string BellName(int rank) const { return Prefix() + "-bell-" + std::to_string(rank); }
  std::string RingName(int src, int dst, int channel) const {
    return Prefix() + "-" + std::to_string(src) + "-" + std::to_string(dst) + "-" + std::to_string(channel);
  }

  ccResult_t GetConn(bool isSend, int peer, int channel, ShmConn** out) {
    auto& slot = conns_[std::make_tuple(isSend, peer, channel)];
    if (!slot) {
      auto c = std::make_unique<ShmConn>();
      c->isSend = isSend;
      c->peer = peer;
      c->channel = channel;
      c->name = isSend ? RingName(ctx_.rank, peer, channel) : RingName(peer, ctx_.rank, channel);
      if (shutdown_) {
        c->broken = true;
        c->why = "shared-memory transport is shut down";
      } else if (isSend) {
        size_t size = sizeof(RingHeader) + capacity_;
        CC_CHECK(MapSegment(c->name, size, true, &c->ring, nullptr));
        c->hdr = new (c->ring.base) RingHeader();
        c->hdr->capacity = capacity_;
        c->data = static_cast<char*>(c->ring.base) + sizeof(RingHeader);
        c->hdr->magic = kRingMagic;  // written last: the receiver attaches only after seeing it
      }
      slot = std::move(c);
    }
    *out = slot.get();
    return ccSuccess;
  }

  // Receiver side: maps the sender's ring once it exists (then unlinks its name). Sender side: maps
  // the receiver's doorbell. Returns true when the connection is usable.
  bool TryAttach(ShmConn* c) {
    if (!c->isSend) {
      bool missing = false;
      Mapping m;
      if (MapSegment(c->name, sizeof(RingHeader), false, &m, &missing) != ccSuccess || missing) return false;
      auto* h = static_cast<RingHeader*>(m.base);
      if (h->magic != kRingMagic || h->capacity + sizeof(RingHeader) > m.size) return false;
      c->ring.base = m.base;
      c->ring.size = m.size;
      m.base = nullptr;
      c->hdr = h;
      c->data = static_cast<char*>(c->ring.base) + sizeof(RingHeader);
      shm_unlink(c->name.c_str());
    }
    return true;
  }

  // The peer's segment; nullptr once it is gone (it exists from the peer's init until its shutdown).
  RankSegment* PeerSegment(ShmConn* c) {
    if (!c->peerBell.base) {
      bool missing = false;
      if (MapSegment(BellName(c->peer), sizeof(RankSegment), false, &c->peerBell, &missing) != ccSuccess || missing)
        return nullptr;
    }
    return static_cast<RankSegment*>(c->peerBell.base);
  }

  bool PeerClosed(ShmConn* c) {
    RankSegment* seg = PeerSegment(c);
    return !seg || seg->closed.load(std::memory_order_acquire) != 0;
  }

  void RingPeer(ShmConn* c) {
    if (RankSegment* seg = PeerSegment(c)) Doorbell(&seg->bell).Ring();
  }

  void Push(ShmConn* c, const ShmEntry& e) {
    if (c->broken) {
      e.req->Fail(ccRemoteError, c->why);
      ctx_.doorbell->Ring();
      return;
    }
    c->queue.push_back(e);
  }

  void CheckPeer(ShmConn* c) {
    int pid = (*ctx_.peers)[c->peer].pid;
    if (!ProcessAlive(pid)) Break(c, "rank " + std::to_string(c->peer) + " (pid " + std::to_string(pid) + ") died");
  }

  void Break(ShmConn* c, const std::string& why) {
    if (!c->broken) {
      c->broken = true;
      c->why = why;
      CC_INFO(kLogShm, "shm: rank %d %s rank %d channel %d broken: %s", ctx_.rank, c->isSend ? "->" : "<-", c->peer,
              c->channel, why.c_str());
    }
    for (auto& e : c->queue) e.req->Fail(ccRemoteError, why);
    c->queue.clear();
    ctx_.doorbell->Ring();
  }

  // Copies between a linear buffer and the ring at stream position pos (wrapping).
  void CopyIn(ShmConn* c, uint64_t pos, const char* src, size_t n) {
    size_t cap = c->hdr->capacity, off = pos % cap, first = std::min(n, cap - off);
    memcpy(c->data + off, src, first);
    if (n > first) memcpy(c->data, src + first, n - first);
  }
  void CopyOut(ShmConn* c, uint64_t pos, char* dst, size_t n) {
    size_t cap = c->hdr->capacity, off = pos % cap, first = std::min(n, cap - off);
    memcpy(dst, c->data + off, first);
    if (n > first) memcpy(dst + first, c->data, n - first);
  }

  bool DriveSend(ShmConn* c) {
    bool moved = false;
    uint64_t head = c->hdr->head.load(std::memory_order_relaxed);
    while (!c->queue.empty()) {
      ShmEntry& e = c->queue.front();
      uint64_t space = c->hdr->capacity - (head - c->hdr->tail.load(std::memory_order_acquire));
      if (!e.headerDone) {
        if (space < sizeof(MsgHeader)) break;
        MsgHeader mh{kMsgMagic, 0, e.size};
        CopyIn(c, head, reinterpret_cast<const char*>(&mh), sizeof(mh));
        head += sizeof(mh);
        space -= sizeof(mh);
        e.headerDone = true;
        moved = true;
      }
      size_t n = std::min<uint64_t>(space, e.size - e.done);
      if (n > 0) {
        CopyIn(c, head, e.data + e.done, n);
        head += n;
        e.done += n;
        moved = true;
      }
      if (e.done < e.size) break;
      e.req->Complete(e.size);
      c->queue.pop_front();
    }
    if (moved) {
      c->hdr->head.store(head, std::memory_order_release);
      RingPeer(c);
    }
    return moved;
  }

  bool DriveRecv(ShmConn* c) {
    bool moved = false;
    uint64_t tail = c->hdr->tail.load(std::memory_order_relaxed);
    while (!c->queue.empty()) {
      ShmEntry& e = c->queue.front();
      uint64_t avail = c->hdr->head.load(std::memory_order_acquire) - tail;
      if (!e.headerDone) {
        if (avail < sizeof(MsgHeader)) break;
        MsgHeader mh;
        CopyOut(c, tail, reinterpret_cast<char*>(&mh), sizeof(mh));
        if (mh.magic != kMsgMagic || mh.bytes > e.size) {
          Break(c, mh.magic != kMsgMagic ? "malformed shared-memory message header from rank " + std::to_string(c->peer)
                                         : "message of " + std::to_string(mh.bytes) + " bytes is larger than the posted " +
                                               std::to_string(e.size) + "-byte receive");
          return true;
        }
        tail += sizeof(mh);
        avail -= sizeof(mh);
        e.total = mh.bytes;
        e.headerDone = true;
        moved = true;
      }
      size_t n = std::min<uint64_t>(avail, e.total - e.done);
      if (n > 0) {
        CopyOut(c, tail, e.data + e.done, n);
        tail += n;
        e.done += n;
        moved = true;
      }
      if (e.done < e.total) break;
      e.req->Complete(e.total);
      c->queue.pop_front();
    }
    if (moved) {
      c->hdr->tail.store(tail, std::memory_order_release);
      RingPeer(c);
    }
    return moved;
  }

  TransportContext ctx_;
  size_t capacity_;
  Mapping bell_;
  RankSegment* self_ = nullptr;
  DoorbellWord* prevWord_ = nullptr;
  std::mutex mu_;
  bool shutdown_ = false;
  int64_t lastLivenessMs_ = 0;
  std::map<std::tuple<bool, int, int>, std::unique_ptr<ShmConn>> conns_;
};

}  // namespace

ccResult_t CreateShmTransport(const TransportContext& ctx, std::unique_ptr<Transport>* out) {
  auto t = std::make_unique<ShmTransport>(ctx);
  CC_CHECK(t->Init());
  *out = std::move(t);
  return ccSuccess;
}

}  // namespace conccl
