// net_shm.cc — the built-in "shm" net plugin: processes on one host, through POSIX shared memory (see
// net_builtin.h for what built-ins add to the ABI).
//
// Segments:
// - A listen endpoint is a small segment: its doorbell word (peers ring it when they write to this endpoint's
//   rings or connect), a closed flag, and a mailbox of connection slots. Its name travels in the handle.
// - connect() creates a ring (CONCCL_SHM_BUFFSIZE bytes) for the new connection, writes its id into a free
//   mailbox slot and rings the listener; accept() maps the ring, marks it attached and unlinks its name.
// - The ring header names the sender's own listen segment (when connected with connectFrom), whose doorbell
//   the receiver rings when it frees space.
// Data moves sender buffer -> ring -> receiver buffer inside test(): there is no thread; the ranks waiting for
// their requests drive the copies and sleep on their doorbells in between.
//
// Wire format in the ring: per message a 16-byte header (magic, bytes) then the payload; the receiver checks
// the magic and that bytes <= its posted capacity before copying.
//
// Failure: either side sets its closed flag on close. A receiver drains what the sender wrote before closing;
// a sender stops at once. A side whose peer process is gone (checked every 200 ms while idle) fails.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <set>
#include <string>

#include "common/env.h"
#include "common/log.h"
#include "common/process.h"
#include "common/result.h"
#include "common/socket.h"
#include "transports/net_builtin.h"

namespace conccl {
namespace {

constexpr uint32_t kHandleMagic = 0x43435348;   // "CCSH"
constexpr uint32_t kListenMagic = 0x4343534c;   // "CCSL"
constexpr uint32_t kRingMagic = 0x43435352;     // "CCSR"
constexpr uint32_t kMsgMagic = 0x4343534d;      // "CCSM"
constexpr int kSlots = 256;                     // connections a listener holds before accept() takes them
constexpr int64_t kLivenessMs = 200;
constexpr size_t kNameBytes = 48;

enum SlotState : uint32_t { kSlotFree = 0, kSlotClaimed = 1, kSlotReady = 2 };

struct Slot {
  std::atomic<uint32_t> state;
  int32_t pid;
  uint64_t connId;
};

struct ListenSegment {
  uint32_t magic;
  std::atomic<uint32_t> closed;
  alignas(64) DoorbellWord bell;
  alignas(64) Slot slots[kSlots];
};

struct ShmHandle {
  uint32_t magic;
  int32_t pid;
  char name[kNameBytes];  // the listen segment
};
static_assert(sizeof(ShmHandle) <= CC_NET_HANDLE_MAXSIZE, "shm handle must fit the ABI's handle");

struct RingHeader {
  uint32_t magic;
  int32_t senderPid;
  uint64_t capacity;
  char wakeName[kNameBytes];  // the sender's listen segment ("" = none): rung when space frees up
  std::atomic<uint32_t> attached;    // the receiver accepted it
  std::atomic<uint32_t> sendClosed;
  std::atomic<uint32_t> recvClosed;
  alignas(64) std::atomic<uint64_t> head;  // bytes written (sender)
  alignas(64) std::atomic<uint64_t> tail;  // bytes consumed (receiver)
};

struct MsgHeader {
  uint32_t magic;
  uint32_t pad;
  uint64_t bytes;
};

struct Mapping {
  void* base = nullptr;
  size_t size = 0;
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { Reset(); }
  void Reset() {
    if (base) munmap(base, size);
    base = nullptr;
    size = 0;
  }
  void Take(Mapping* o) {
    Reset();
    base = o->base;
    size = o->size;
    o->base = nullptr;
    o->size = 0;
  }
};

// Creates (create) or opens a segment of at least `size` bytes. Opening one that does not exist (or is not yet
// sized) sets *missing instead of failing.
bool MapSegment(const std::string& name, size_t size, bool create, Mapping* m, bool* missing) {
  if (missing) *missing = false;
  int fd = shm_open(name.c_str(), create ? (O_RDWR | O_CREAT | O_EXCL) : O_RDWR, 0600);
  if (fd < 0) {
    if (!create && errno == ENOENT && missing) *missing = true;
    else CC_INFO(kLogShm, "shm_open(%s) failed: %s", name.c_str(), strerror(errno));
    return false;
  }
  if (create && ftruncate(fd, static_cast<off_t>(size)) != 0) {
    CC_INFO(kLogShm, "ftruncate(%s, %zu) failed: %s", name.c_str(), size, strerror(errno));
    close(fd);
    shm_unlink(name.c_str());
    return false;
  }
  if (!create) {
    struct stat st {};
    if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < size) {
      close(fd);
      if (missing) *missing = true;
      return false;
    }
    size = static_cast<size_t>(st.st_size);
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    CC_INFO(kLogShm, "mmap(%s) failed: %s", name.c_str(), strerror(errno));
    if (create) shm_unlink(name.c_str());
    return false;
  }
  m->base = p;
  m->size = size;
  return true;
}

std::string RingName(int pid, uint64_t connId) {
  char buf[kNameBytes];
  snprintf(buf, sizeof(buf), "/conccl-r%d-%016llx", pid, static_cast<unsigned long long>(connId));
  return buf;
}

struct Listener {
  std::string name;
  Mapping seg;
  ListenSegment* ls = nullptr;
};

struct ShmConn;

enum class ReqState : int { kPending, kDone, kFailed };

struct ShmRequest {
  ReqState state = ReqState::kPending;
  size_t bytes = 0;
  ShmConn* conn = nullptr;
};

struct Entry {
  ShmRequest* req;
  char* data;
  size_t size;  // send: bytes; receive: capacity
  size_t done;
  bool headerDone;
  size_t total;
};

struct ShmConn {
  bool isSend = false;
  std::string ringName;
  Mapping ring;
  RingHeader* hdr = nullptr;
  char* data = nullptr;
  size_t cap = 0;  // ring capacity, read once (the header is writable by the peer)
  Mapping peerSeg;  // send: the receiver's listen segment; receive: the sender's (if it named one)
  ListenSegment* peer = nullptr;
  std::string peerSegName;
  int peerPid = 0;
  std::deque<Entry> queue;
  std::set<ShmRequest*> live;  // requests not yet reported by test()
  bool broken = false;
  bool gone = false;  // the peer process is known dead
  int64_t lastCheckMs = 0;
};

void RingPeer(ShmConn* c) {
  if (c->peer) Doorbell(&c->peer->bell).Ring();
}

void Break(ShmConn* c, const std::string& why) {
  if (!c->broken) {
    c->broken = true;
    CC_INFO(kLogShm, "shm: connection %s %s broken: %s", c->isSend ? "->" : "<-", c->ringName.c_str(), why.c_str());
  }
  for (auto& e : c->queue) e.req->state = ReqState::kFailed;
  c->queue.clear();
}

// True once the peer process is known dead; checked at most every kLivenessMs. The listen segment of a dead
// peer is unlinked (it could not do so itself).
bool PeerDead(ShmConn* c) {
  if (c->gone) return true;
  int64_t now = NowMs();
  if (now - c->lastCheckMs < kLivenessMs) return false;
  c->lastCheckMs = now;
  c->gone = !ProcessAlive(c->peerPid);
  if (c->gone && !c->peerSegName.empty()) shm_unlink(c->peerSegName.c_str());
  return c->gone;
}

void CopyIn(ShmConn* c, uint64_t pos, const char* src, size_t n) {
  size_t cap = c->cap, off = pos % cap, first = std::min(n, cap - off);
  memcpy(c->data + off, src, first);
  if (n > first) memcpy(c->data, src + first, n - first);
}

void CopyOut(ShmConn* c, uint64_t pos, char* dst, size_t n) {
  size_t cap = c->cap, off = pos % cap, first = std::min(n, cap - off);
  memcpy(dst, c->data + off, first);
  if (n > first) memcpy(dst + first, c->data, n - first);
}

bool DriveSend(ShmConn* c) {
  bool moved = false;
  uint64_t head = c->hdr->head.load(std::memory_order_relaxed);
  while (!c->queue.empty()) {
    Entry& e = c->queue.front();
    uint64_t used = head - c->hdr->tail.load(std::memory_order_acquire);
    if (used > c->cap) {
      Break(c, "ring positions are corrupt");
      return true;
    }
    uint64_t space = c->cap - used;
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
    e.req->bytes = e.size;
    e.req->state = ReqState::kDone;
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
    Entry& e = c->queue.front();
    uint64_t avail = c->hdr->head.load(std::memory_order_acquire) - tail;
    if (avail > c->cap) {
      Break(c, "ring positions are corrupt");
      return true;
    }
    if (!e.headerDone) {
      if (avail < sizeof(MsgHeader)) break;
      MsgHeader mh;
      CopyOut(c, tail, reinterpret_cast<char*>(&mh), sizeof(mh));
      if (mh.magic != kMsgMagic || mh.bytes > e.size) {
        Break(c, mh.magic != kMsgMagic ? std::string("malformed message header")
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
    e.req->bytes = e.total;
    e.req->state = ReqState::kDone;
    c->queue.pop_front();
  }
  if (moved) {
    c->hdr->tail.store(tail, std::memory_order_release);
    RingPeer(c);
  }
  return moved;
}

// Moves what can move on c and fails it when its peer is gone.
void Drive(ShmConn* c) {
  if (c->broken || c->queue.empty()) return;
  if (c->isSend) {
    bool moved = false;
    if (c->hdr->recvClosed.load(std::memory_order_acquire)) Break(c, "the receiver closed the connection");
    else if (!c->hdr->attached.load(std::memory_order_acquire) && c->peer && c->peer->closed.load())
      Break(c, "the receiver closed its listener before accepting");
    else moved = DriveSend(c);
    if (!moved && !c->broken && PeerDead(c)) Break(c, "receiver process " + std::to_string(c->peerPid) + " died");
  } else {
    bool closed = c->hdr->sendClosed.load(std::memory_order_acquire) != 0;
    bool moved = DriveRecv(c);  // drains what the sender wrote before it closed
    if (!moved && !c->broken && !c->queue.empty()) {
      if (closed) Break(c, "the sender closed the connection");
      else if (PeerDead(c)) Break(c, "sender process " + std::to_string(c->peerPid) + " died");
    }
  }
}

// ---- the ccNet_v1_t functions ----

int ShmGetProperties(int dev, ccNetProperties_v1_t* props) {
  if (dev != 0 || !props) return ccNetErrorArgument;
  memset(props, 0, sizeof(*props));
  props->name = "shm";
  props->ptrSupport = CC_NET_PTR_HOST;
  props->maxComms = 1 << 20;
  props->maxMessageBytes = 0;  // no limit
  return ccNetOk;
}

int ShmListen(int dev, void* handle, void** listenComm) {
  if (dev != 0 || !handle || !listenComm) return ccNetErrorArgument;
  auto l = std::make_unique<Listener>();
  char name[kNameBytes];
  snprintf(name, sizeof(name), "/conccl-l%d-%016llx", static_cast<int>(getpid()),
           static_cast<unsigned long long>(NetRandomU64()));
  l->name = name;
  if (!MapSegment(l->name, sizeof(ListenSegment), true, &l->seg, nullptr)) return ccNetErrorSystem;
  l->ls = new (l->seg.base) ListenSegment();
  l->ls->magic = kListenMagic;
  ShmHandle h{};
  h.magic = kHandleMagic;
  h.pid = getpid();
  snprintf(h.name, sizeof(h.name), "%s", name);
  memset(handle, 0, CC_NET_HANDLE_MAXSIZE);
  memcpy(handle, &h, sizeof(h));
  *listenComm = l.release();
  return ccNetOk;
}

// Maps the listen segment `name`; nullptr when it is gone or not a listen segment.
ListenSegment* MapListenSegment(const char* name, Mapping* m) {
  bool missing = false;
  if (!MapSegment(name, sizeof(ListenSegment), false, m, &missing)) return nullptr;
  auto* ls = static_cast<ListenSegment*>(m->base);
  if (ls->magic != kListenMagic) {
    m->Reset();
    return nullptr;
  }
  return ls;
}

int ShmConnectFrom(void* listenComm, int dev, const void* handle, void** sendComm) {
  if (dev != 0 || !handle || !sendComm) return ccNetErrorArgument;
  *sendComm = nullptr;
  ShmHandle h;
  memcpy(&h, handle, sizeof(h));
  if (h.magic != kHandleMagic || h.pid <= 0 || memchr(h.name, 0, sizeof(h.name)) == nullptr ||
      strncmp(h.name, "/conccl-l", 9) != 0)
    return ccNetErrorArgument;
  auto c = std::make_unique<ShmConn>();
  c->isSend = true;
  c->peerPid = h.pid;
  c->peer = MapListenSegment(h.name, &c->peerSeg);
  c->peerSegName = h.name;
  if (!c->peer || c->peer->closed.load()) {
    CC_INFO(kLogShm, "shm: cannot connect to %s: the listener is gone", h.name);
    return ccNetErrorRemote;
  }
  Slot* slot = nullptr;
  for (int i = 0; i < kSlots && !slot; ++i) {
    uint32_t expected = kSlotFree;
    if (c->peer->slots[i].state.compare_exchange_strong(expected, kSlotClaimed)) slot = &c->peer->slots[i];
  }
  if (!slot) return ccNetOk;  // the listener's mailbox is full: try again
  uint64_t connId = NetRandomU64();
  c->ringName = RingName(getpid(), connId);
  size_t capacity = static_cast<size_t>(std::max<int64_t>(4096, EnvInt("CONCCL_SHM_BUFFSIZE")));
  if (!MapSegment(c->ringName, sizeof(RingHeader) + capacity, true, &c->ring, nullptr)) {
    slot->state.store(kSlotFree, std::memory_order_release);
    return ccNetErrorSystem;
  }
  c->hdr = new (c->ring.base) RingHeader();
  c->hdr->senderPid = getpid();
  c->hdr->capacity = capacity;
  c->cap = capacity;
  if (listenComm) snprintf(c->hdr->wakeName, kNameBytes, "%s", static_cast<Listener*>(listenComm)->name.c_str());
  c->data = static_cast<char*>(c->ring.base) + sizeof(RingHeader);
  c->hdr->magic = kRingMagic;
  slot->pid = getpid();
  slot->connId = connId;
  slot->state.store(kSlotReady, std::memory_order_release);
  RingPeer(c.get());
  *sendComm = c.release();
  return ccNetOk;
}

int ShmConnect(int dev, const void* handle, void** sendComm) { return ShmConnectFrom(nullptr, dev, handle, sendComm); }

int ShmAccept(void* listenComm, void** recvComm) {
  if (!listenComm || !recvComm) return ccNetErrorArgument;
  *recvComm = nullptr;
  auto* l = static_cast<Listener*>(listenComm);
  for (Slot& slot : l->ls->slots) {
    if (slot.state.load(std::memory_order_acquire) != kSlotReady) continue;
    int pid = slot.pid;
    uint64_t connId = slot.connId;
    slot.state.store(kSlotFree, std::memory_order_release);
    auto c = std::make_unique<ShmConn>();
    c->ringName = RingName(pid, connId);
    bool missing = false;
    if (!MapSegment(c->ringName, sizeof(RingHeader), false, &c->ring, &missing)) continue;  // its sender gave up
    shm_unlink(c->ringName.c_str());
    c->hdr = static_cast<RingHeader*>(c->ring.base);
    c->cap = c->hdr->capacity;  // fields the peer can write are read once, then checked
    char wake[kNameBytes];
    memcpy(wake, c->hdr->wakeName, kNameBytes);
    if (c->hdr->magic != kRingMagic || c->cap < sizeof(MsgHeader) || c->cap > c->ring.size - sizeof(RingHeader) ||
        memchr(wake, 0, kNameBytes) == nullptr) {
      CC_INFO(kLogShm, "shm: dropped connection %s: malformed ring", c->ringName.c_str());
      continue;
    }
    c->data = static_cast<char*>(c->ring.base) + sizeof(RingHeader);
    c->peerPid = c->hdr->senderPid;
    if (wake[0]) {
      c->peer = MapListenSegment(wake, &c->peerSeg);
      c->peerSegName = wake;
    }
    c->hdr->attached.store(1, std::memory_order_release);
    *recvComm = c.release();
    return ccNetOk;
  }
  return ccNetOk;
}

int Post(ShmConn* c, bool isSend, void* data, size_t size, void** request) {
  if (!c || !request || c->isSend != isSend || (size && !data)) return ccNetErrorArgument;
  auto* req = new ShmRequest();
  req->conn = c;
  c->live.insert(req);
  *request = req;
  if (c->broken) req->state = ReqState::kFailed;
  else c->queue.push_back(Entry{req, static_cast<char*>(data), size, 0, false, isSend ? size : 0});
  return ccNetOk;
}

int ShmIsend(void* sendComm, void* data, size_t size, void*, void** request) {
  return Post(static_cast<ShmConn*>(sendComm), true, data, size, request);
}

int ShmIrecv(void* recvComm, void* data, size_t size, void*, void** request) {
  return Post(static_cast<ShmConn*>(recvComm), false, data, size, request);
}

int ShmTest(void* request, int* done, size_t* size) {
  auto* r = static_cast<ShmRequest*>(request);
  if (!r || !done) return ccNetErrorArgument;
  *done = 0;
  if (r->state == ReqState::kPending) Drive(r->conn);
  if (r->state == ReqState::kPending) return ccNetOk;
  r->conn->live.erase(r);
  bool ok = r->state == ReqState::kDone;
  if (ok) {
    *done = 1;
    if (size) *size = r->bytes;
  }
  delete r;
  return ok ? ccNetOk : ccNetErrorRemote;
}

int ShmCloseComm(void* comm) {
  auto* c = static_cast<ShmConn*>(comm);
  if (!c) return ccNetErrorArgument;
  if (c->isSend) {
    c->hdr->sendClosed.store(1, std::memory_order_release);
    // A ring nobody accepted keeps its name while it holds data a live receiver may still come for.
    if (!c->hdr->attached.load() && (c->hdr->head.load() == c->hdr->tail.load() || PeerDead(c)))
      shm_unlink(c->ringName.c_str());
  } else {
    c->hdr->recvClosed.store(1, std::memory_order_release);
  }
  RingPeer(c);
  for (ShmRequest* r : c->live) delete r;
  delete c;
  return ccNetOk;
}

int ShmCloseListen(void* listenComm) {
  auto* l = static_cast<Listener*>(listenComm);
  if (!l) return ccNetErrorArgument;
  l->ls->closed.store(1, std::memory_order_release);
  shm_unlink(l->name.c_str());
  // Rings connected but never accepted have nobody left to read them.
  for (Slot& slot : l->ls->slots)
    if (slot.state.load(std::memory_order_acquire) == kSlotReady) shm_unlink(RingName(slot.pid, slot.connId).c_str());
  delete l;
  return ccNetOk;
}

DoorbellWord* ShmBindDoorbell(void* listenComm, DoorbellWord*) { return &static_cast<Listener*>(listenComm)->ls->bell; }

int ShmPeerGone(void* comm) {
  auto* c = static_cast<ShmConn*>(comm);
  const auto& closed = c->isSend ? c->hdr->recvClosed : c->hdr->sendClosed;
  return closed.load(std::memory_order_acquire) || PeerDead(c) ? 1 : 0;
}

const ccNet_v1_t kShmTable = {
    "shm", CC_NET_ABI_VERSION, 0,
    NetBuiltinInit, NetBuiltinOneDevice, ShmGetProperties,
    ShmListen, ShmConnect, ShmAccept,
    NetHostRegMr, NetHostDeregMr,
    ShmIsend, ShmIrecv, ShmTest,
    nullptr,  // iflush: host memory only
    ShmCloseComm, ShmCloseComm, ShmCloseListen,
};

const NetBuiltinOps kShmOps = {ShmBindDoorbell, ShmConnectFrom, ShmPeerGone};

}  // namespace

const ccNet_v1_t* NetShmTable() { return &kShmTable; }
const NetBuiltinOps* NetShmOps() { return &kShmOps; }

}  // namespace conccl
