// net_tcp.cc — the built-in "tcp" net plugin (see net_builtin.h for what built-ins add to the ABI).
//
// Each connection is several non-blocking sockets (CONCCL_NSOCKS_PERPEER). An epoll engine thread, one per
// listen endpoint (a communicator's), moves the bytes of every connection made from or accepted by that
// endpoint and sleeps when none has work; bare connect() calls share one engine per process.
//
// Wire format:
// - Connection setup: each socket sends a Handshake (magic, the listener's nonce from the handle, a random
//   connection id, its socket index and the socket count). The listener groups sockets by connection id;
//   accept() returns a connection once all its sockets arrived. A socket with a wrong magic, nonce or
//   fields, or no handshake within CONCCL_HANDSHAKE_TIMEOUT_MS, is closed.
// - Messages: each socket that carries part of a message sends a PartHeader (magic, socket index, message
//   sequence number, total bytes) and then its part (TcpPartRange); socket 0 always carries the header. The
//   receiver checks magic, sequence and size against the posted receive before writing anything.
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/env.h"
#include "common/log.h"
#include "common/result.h"
#include "common/socket.h"
#include "topo/topology.h"
#include "transports/net_builtin.h"

namespace conccl {

void TcpPartRange(size_t total, int nsocks, int i, size_t* offset, size_t* len) {
  constexpr size_t kMinSplit = 64 * 1024;
  if (total < kMinSplit || nsocks == 1) {
    *offset = i == 0 ? 0 : total;
    *len = i == 0 ? total : 0;
    return;
  }
  size_t chunk = (total + nsocks - 1) / nsocks;
  chunk = (chunk + 4095) & ~size_t(4095);
  *offset = std::min(total, chunk * static_cast<size_t>(i));
  *len = std::min(chunk, total - *offset);
}

namespace {

constexpr uint32_t kHandleMagic = 0x43435441;     // "CCTA"
constexpr uint32_t kHandshakeMagic = 0x43435448;  // "CCTH"
constexpr uint32_t kPartMagic = 0x43435450;       // "CCTP"
constexpr int kMaxSocks = 16;
constexpr size_t kMaxPendingHandshakes = 1024;

struct TcpHandle {
  uint32_t magic;
  uint32_t addrLen;
  uint8_t addr[sizeof(sockaddr_in6)];
  uint64_t nonce;  // the listener's: a connection to a reused port of another listener is refused
};
static_assert(sizeof(TcpHandle) <= CC_NET_HANDLE_MAXSIZE, "tcp handle must fit the ABI's handle");

struct Handshake {
  uint32_t magic;
  int32_t sockIdx;
  int32_t nsocks;
  uint32_t reserved;
  uint64_t nonce;
  uint64_t connId;
};

struct PartHeader {
  uint32_t magic;
  uint32_t sockIdx;
  uint64_t seq;
  uint64_t total;
};

class Engine;
struct Conn;

enum class ReqState : int { kPending, kDone, kFailed };

struct TcpRequest {
  ReqState state = ReqState::kPending;
  size_t bytes = 0;
  Conn* conn = nullptr;
};

// One posted message, owned by its connection until every socket has moved past it.
struct Entry {
  TcpRequest* req;  // nullptr once completed or failed
  char* data;
  size_t size;  // send: bytes; receive: capacity
  uint64_t seq;
  bool totalKnown;  // receive: socket 0's header has arrived
  size_t total;
  int partsLeft;
};

enum class FdKind { kListen, kWake, kHandshake, kData };

struct PendingHandshake;
struct Listener;

struct FdRef {
  FdKind kind;
  Conn* conn = nullptr;
  int sockIdx = 0;
  PendingHandshake* hs = nullptr;
  Listener* listener = nullptr;
};

struct Sock {
  int fd = -1;
  size_t cursor = 0;  // index (relative to conn->queue front) of the entry being worked on
  bool inPart = false;
  PartHeader hdr{};
  size_t hdrDone = 0, dataDone = 0, partOff = 0, partLen = 0;
  uint32_t events = 0;
  bool peerClosed = false;
  bool detached = false;  // out of the epoll set: hung up (epoll would report it on every round) or broken
  FdRef ref;
};

struct Conn {
  std::shared_ptr<Engine> engine;
  bool isSend = false;
  uint64_t connId = 0;
  int nsocks = 0;
  int attached = 0;  // receive side: sockets of the connection accepted so far
  std::vector<Sock> socks;
  std::deque<Entry> queue;
  std::set<TcpRequest*> live;  // requests not yet reported by test()
  uint64_t nextSeq = 0;
  bool broken = false;
  bool closed = false;           // closeSend/closeRecv ran; freed by the engine thread later
  uint64_t closedEpoch = 0;
  std::atomic<bool> peerGone{false};
  std::string where;  // for log lines
};

struct PendingHandshake {
  int fd;
  int64_t deadline;
  Handshake hs;
  size_t got;
  Listener* listener;
  FdRef ref;
};

struct Listener {
  std::shared_ptr<Engine> engine;  // moved out at close; the engine then frees the listener itself
  uint64_t closedEpoch = 0;
  int fd = -1;
  uint64_t nonce = 0;
  std::string address;
  std::map<uint64_t, Conn*> forming;  // accepted connections still missing sockets
  std::deque<Conn*> ready;            // complete, waiting for accept()
  FdRef ref;
};

// A connection being set up by connect(): sockets connecting, then sending their handshakes.
struct PendingConnect {
  ~PendingConnect() {
    for (int fd : fds) close(fd);
  }
  std::vector<int> fds;  // owned until handed to the connection
  std::vector<size_t> sent;  // handshake bytes sent per socket
  Handshake hs{};
  std::string address;
};

bool DecodeHandle(const void* handle, TcpHandle* h, SockAddr* addr) {
  memcpy(h, handle, sizeof(TcpHandle));
  if (h->magic != kHandleMagic) return false;
  if (h->addrLen != sizeof(sockaddr_in) && h->addrLen != sizeof(sockaddr_in6)) return false;
  memcpy(&addr->storage, h->addr, h->addrLen);
  addr->len = h->addrLen;
  int fam = addr->family();
  return (fam == AF_INET && h->addrLen == sizeof(sockaddr_in)) || (fam == AF_INET6 && h->addrLen == sizeof(sockaddr_in6));
}

// The progress engine: one epoll thread for the connections of one listen endpoint.
class Engine : public std::enable_shared_from_this<Engine> {
 public:
  Engine(std::string pciPath, std::string what) : pciPath_(std::move(pciPath)), what_(std::move(what)) {
    nsocks_ = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(kMaxSocks, EnvInt("CONCCL_NSOCKS_PERPEER"))));
    handshakeMs_ = EnvInt("CONCCL_HANDSHAKE_TIMEOUT_MS");
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    wakeRef_.kind = FdKind::kWake;
    AddFd(wakeFd_, EPOLLIN, &wakeRef_);
  }
  ~Engine() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    Wake();
    if (thread_.joinable()) thread_.join();
    for (Conn* c : graveyard_) delete c;
    for (Listener* l : closedListeners_) delete l;
    CloseFd(&wakeFd_);
    CloseFd(&epfd_);
  }

  void Start() {
    thread_ = std::thread([this] {
      std::string how = BindThreadNear(pciPath_);
      CC_INFO(kLogNet, "tcp progress thread for %s: %s", what_.c_str(), how.c_str());
      Loop();
    });
  }

  std::mutex& mu() { return mu_; }
  void SetBell(DoorbellWord* w) { bell_.store(w, std::memory_order_release); }

  // ---- listening ----
  void AddListener(Listener* l) {
    std::lock_guard<std::mutex> lock(mu_);
    l->ref = FdRef{FdKind::kListen, nullptr, 0, nullptr, l};
    AddFd(l->fd, EPOLLIN, &l->ref);
  }
  // Closes the listener and the connections it accepted that accept() has not returned. Returns their
  // references to this engine, to be dropped after the lock is let go.
  std::vector<std::shared_ptr<Engine>> CloseListener(Listener* l) {
    std::vector<std::shared_ptr<Engine>> refs;
    std::lock_guard<std::mutex> lock(mu_);
    epoll_ctl(epfd_, EPOLL_CTL_DEL, l->fd, nullptr);
    CloseFd(&l->fd);
    for (size_t i = 0; i < handshakes_.size();) {
      if (handshakes_[i]->listener == l) DropHandshake(handshakes_[i], "listener closed");
      else ++i;
    }
    for (auto& kv : l->forming) refs.push_back(CloseConnLocked(kv.second));
    for (Conn* c : l->ready) refs.push_back(CloseConnLocked(c));
    l->forming.clear();
    l->ready.clear();
    l->closedEpoch = epoch_;
    closedListeners_.push_back(l);  // freed like a closed connection (an event may still name it)
    return refs;
  }
  Conn* PopReady(Listener* l) {
    std::lock_guard<std::mutex> lock(mu_);
    if (l->ready.empty()) return nullptr;
    Conn* c = l->ready.front();
    l->ready.pop_front();
    UpdateInterest(c);
    return c;
  }

  // ---- connecting (the caller's thread) ----
  int Connect(const void* handle, void** out) {
    *out = nullptr;
    TcpHandle h;
    SockAddr addr;
    if (!DecodeHandle(handle, &h, &addr)) return ccNetErrorArgument;
    std::string key(static_cast<const char*>(handle), sizeof(TcpHandle));
    std::unique_lock<std::mutex> lock(mu_);
    auto it = pending_.find(key);
    if (it == pending_.end()) {
      auto pc = std::make_unique<PendingConnect>();
      pc->hs = Handshake{kHandshakeMagic, 0, nsocks_, 0, h.nonce, NetRandomU64()};
      pc->address = addr.ToString();
      for (int i = 0; i < nsocks_; ++i) {
        int fd = socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || (connect(fd, addr.sa(), addr.len) != 0 && errno != EINPROGRESS)) {
          int err = errno;
          if (fd >= 0) close(fd);
          CC_INFO(kLogNet, "tcp: connect to %s failed: %s", pc->address.c_str(), strerror(err));
          return ccNetErrorRemote;
        }
        SetNoDelay(fd);
        pc->fds.push_back(fd);
        pc->sent.push_back(0);
      }
      it = pending_.emplace(key, std::move(pc)).first;
    }
    PendingConnect* pc = it->second.get();
    bool ready = true;
    for (int i = 0; i < nsocks_; ++i) {
      if (pc->sent[i] == sizeof(Handshake)) continue;
      pollfd p{pc->fds[i], POLLOUT, 0};
      if (poll(&p, 1, 0) != 1) {
        ready = false;
        continue;
      }
      int err = 0;
      socklen_t el = sizeof(err);
      if (getsockopt(pc->fds[i], SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
        CC_INFO(kLogNet, "tcp: connect to %s failed: %s", pc->address.c_str(), strerror(err ? err : errno));
        pending_.erase(it);
        return ccNetErrorRemote;
      }
      Handshake hs = pc->hs;
      hs.sockIdx = i;
      ssize_t w = send(pc->fds[i], reinterpret_cast<char*>(&hs) + pc->sent[i], sizeof(hs) - pc->sent[i], MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        CC_INFO(kLogNet, "tcp: handshake to %s failed: %s", pc->address.c_str(), strerror(errno));
        pending_.erase(it);
        return ccNetErrorRemote;
      }
      if (w > 0) pc->sent[i] += static_cast<size_t>(w);
      ready &= pc->sent[i] == sizeof(Handshake);
    }
    if (!ready) return ccNetOk;
    Conn* c = new Conn();
    c->engine = shared_from_this();
    c->isSend = true;
    c->connId = pc->hs.connId;
    c->nsocks = nsocks_;
    c->socks.resize(nsocks_);
    c->where = "-> " + pc->address;
    for (int i = 0; i < nsocks_; ++i) {
      Sock& s = c->socks[i];
      s.fd = pc->fds[i];
      s.ref = FdRef{FdKind::kData, c, i, nullptr, nullptr};
      AddFd(s.fd, 0, &s.ref);
    }
    conns_.insert(c);
    CC_INFO(kLogNet, "tcp: connected to %s with %d sockets", pc->address.c_str(), nsocks_);
    pc->fds.clear();  // the connection owns them now
    pending_.erase(it);
    *out = c;
    return ccNetOk;
  }

  // ---- messages (the caller's thread) ----
  int Post(Conn* c, char* data, size_t size, void** request) {
    std::lock_guard<std::mutex> lock(mu_);
    auto* req = new TcpRequest();
    req->conn = c;
    c->live.insert(req);
    *request = req;
    if (c->broken) {
      req->state = ReqState::kFailed;
      return ccNetOk;
    }
    Entry e{req, data, size, c->nextSeq++, c->isSend, c->isSend ? size : 0, 0};
    if (c->isSend) {
      for (int i = 0; i < c->nsocks && i < kMaxSocks; ++i) {  // nsocks <= kMaxSocks; the bound tells the compiler
        size_t off, len;
        TcpPartRange(size, c->nsocks, i, &off, &len);
        if (i == 0 || len > 0) e.partsLeft++;
      }
    }
    c->queue.push_back(e);
    dirty_.push_back(c);
    Wake();
    return ccNetOk;
  }

  int Test(TcpRequest* req, int* done, size_t* size) {
    std::lock_guard<std::mutex> lock(mu_);
    *done = 0;
    if (req->state == ReqState::kPending) return ccNetOk;
    req->conn->live.erase(req);
    bool ok = req->state == ReqState::kDone;
    if (ok) {
      *done = 1;
      if (size) *size = req->bytes;
    }
    delete req;
    return ok ? ccNetOk : ccNetErrorRemote;
  }

  // Closes c; it is freed later by the engine thread. Returns c's reference to this engine, which the caller
  // drops after the lock is let go (the engine may be destroyed then, never on its own thread).
  std::shared_ptr<Engine> CloseConn(Conn* c) {
    std::lock_guard<std::mutex> lock(mu_);
    return CloseConnLocked(c);
  }

 private:
  std::shared_ptr<Engine> CloseConnLocked(Conn* c) {
    for (auto& s : c->socks) {
      if (s.fd < 0) continue;
      epoll_ctl(epfd_, EPOLL_CTL_DEL, s.fd, nullptr);
      CloseFd(&s.fd);
    }
    for (TcpRequest* r : c->live) delete r;
    c->live.clear();
    c->queue.clear();
    c->closed = true;
    c->closedEpoch = epoch_;
    conns_.erase(c);
    graveyard_.push_back(c);  // freed once no event fetched before the close can refer to it
    return std::move(c->engine);
  }

  void Ring() {
    if (DoorbellWord* w = bell_.load(std::memory_order_acquire)) Doorbell(w).Ring();
  }

  void Wake() {
    uint64_t one = 1;
    ssize_t rc = write(wakeFd_, &one, sizeof(one));
    (void)rc;
  }

  void AddFd(int fd, uint32_t events, FdRef* ref) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = ref;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
  }

  void SetEvents(Sock& s, uint32_t events) {
    if (s.fd < 0 || s.detached || s.events == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &s.ref;
    epoll_ctl(epfd_, EPOLL_CTL_MOD, s.fd, &ev);
    s.events = events;
  }

  // Recomputes which sockets of c have work, so idle sockets never wake the loop.
  void UpdateInterest(Conn* c) {
    for (auto& s : c->socks) {
      if (s.fd < 0) continue;
      uint32_t ev = 0;
      if (!c->broken && s.cursor < c->queue.size()) {
        if (c->isSend) ev = EPOLLOUT;
        else if (s.ref.sockIdx == 0 || c->queue[s.cursor].totalKnown) ev = EPOLLIN;
      }
      if (!c->broken && !s.peerClosed) ev |= EPOLLRDHUP;
      SetEvents(s, ev);
    }
  }

  void Break(Conn* c, const std::string& why) {
    if (!c->broken) {
      c->broken = true;
      CC_INFO(kLogNet, "tcp: connection %s broken: %s", c->where.c_str(), why.c_str());
    }
    c->peerGone.store(true);
    for (auto& e : c->queue)
      if (e.req) {
        e.req->state = ReqState::kFailed;
        e.req = nullptr;
      }
    c->queue.clear();
    for (auto& s : c->socks) {
      s.cursor = 0;
      Detach(s);
    }
    Ring();
  }

  void Detach(Sock& s) {
    if (s.fd < 0 || s.detached) return;
    epoll_ctl(epfd_, EPOLL_CTL_DEL, s.fd, nullptr);
    s.detached = true;
  }

  void FinishPart(Conn* c, Sock& s) {
    Entry& e = c->queue[s.cursor];
    s.inPart = false;
    s.cursor++;
    if (--e.partsLeft == 0 && e.req) {
      e.req->bytes = e.total;
      e.req->state = ReqState::kDone;
      e.req = nullptr;
      Ring();
    }
    // Pop entries every socket has moved past.
    while (!c->queue.empty() && !c->queue.front().req && c->queue.front().partsLeft <= 0) {
      bool allPast = true;
      for (auto& o : c->socks) allPast &= o.cursor > 0;
      if (!allPast) break;
      c->queue.pop_front();
      for (auto& o : c->socks) o.cursor--;
    }
  }

  static bool WouldBlock() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

  // Advances one socket as far as the kernel allows. Returns false when the connection broke.
  bool DriveSend(Conn* c, Sock& s) {
    while (s.cursor < c->queue.size()) {
      Entry& e = c->queue[s.cursor];
      if (!s.inPart) {
        TcpPartRange(e.total, c->nsocks, s.ref.sockIdx, &s.partOff, &s.partLen);
        if (s.ref.sockIdx > 0 && s.partLen == 0) {
          s.cursor++;
          continue;
        }
        s.hdr = PartHeader{kPartMagic, static_cast<uint32_t>(s.ref.sockIdx), e.seq, e.total};
        s.hdrDone = s.dataDone = 0;
        s.inPart = true;
      }
      while (s.hdrDone < sizeof(PartHeader) || s.dataDone < s.partLen) {
        iovec iov[2];
        int n = 0;
        if (s.hdrDone < sizeof(PartHeader))
          iov[n++] = {reinterpret_cast<char*>(&s.hdr) + s.hdrDone, sizeof(PartHeader) - s.hdrDone};
        if (s.dataDone < s.partLen) iov[n++] = {e.data + s.partOff + s.dataDone, s.partLen - s.dataDone};
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = n;
        ssize_t w = sendmsg(s.fd, &msg, MSG_NOSIGNAL);
        if (w < 0 && WouldBlock()) return true;
        if (w <= 0) {
          Break(c, std::string("send failed: ") + strerror(errno));
          return false;
        }
        size_t k = static_cast<size_t>(w);
        size_t h = std::min(k, sizeof(PartHeader) - s.hdrDone);
        s.hdrDone += h;
        s.dataDone += k - h;
      }
      FinishPart(c, s);
    }
    return true;
  }

  // Reads into posted receives; validates every header before touching the destination.
  bool DriveRecv(Conn* c, Sock& s) {
    while (s.cursor < c->queue.size()) {
      Entry& e = c->queue[s.cursor];
      int idx = s.ref.sockIdx;
      if (!s.inPart) {
        if (idx > 0 && !e.totalKnown) return true;  // wait for socket 0's header
        if (idx > 0) {
          TcpPartRange(e.total, c->nsocks, idx, &s.partOff, &s.partLen);
          if (s.partLen == 0) {
            s.cursor++;
            continue;
          }
        }
        s.hdrDone = s.dataDone = 0;
        s.inPart = true;
      }
      if (s.hdrDone < sizeof(PartHeader)) {
        ssize_t r = recv(s.fd, reinterpret_cast<char*>(&s.hdr) + s.hdrDone, sizeof(PartHeader) - s.hdrDone, 0);
        if (!RecvOk(c, r)) return r < 0 && WouldBlock();
        s.hdrDone += static_cast<size_t>(r);
        if (s.hdrDone < sizeof(PartHeader)) continue;
        if (!CheckHeader(c, s, e)) return false;
      }
      while (s.dataDone < s.partLen) {
        ssize_t r = recv(s.fd, e.data + s.partOff + s.dataDone, s.partLen - s.dataDone, 0);
        if (!RecvOk(c, r)) return r < 0 && WouldBlock();
        s.dataDone += static_cast<size_t>(r);
      }
      FinishPart(c, s);
    }
    return true;
  }

  bool RecvOk(Conn* c, ssize_t r) {
    if (r > 0) return true;
    if (r < 0 && WouldBlock()) return false;
    Break(c, r == 0 ? std::string("the peer closed the connection") : std::string("receive failed: ") + strerror(errno));
    return false;
  }

  bool CheckHeader(Conn* c, Sock& s, Entry& e) {
    const PartHeader& h = s.hdr;
    std::string err;
    if (h.magic != kPartMagic || h.sockIdx != static_cast<uint32_t>(s.ref.sockIdx)) {
      err = "malformed message header";
    } else if (h.seq != e.seq) {
      err = "message out of sequence";
    } else if (s.ref.sockIdx == 0) {
      if (h.total > e.size) {
        err = "message of " + std::to_string(h.total) + " bytes is larger than the posted " + std::to_string(e.size) +
              "-byte receive";
      } else {
        e.total = h.total;
        e.totalKnown = true;
        for (int i = 0; i < c->nsocks; ++i) {
          size_t off, len;
          TcpPartRange(e.total, c->nsocks, i, &off, &len);
          if (i == 0 || len > 0) e.partsLeft++;
        }
        TcpPartRange(e.total, c->nsocks, 0, &s.partOff, &s.partLen);
        dirty_.push_back(c);  // other sockets may now read their parts
      }
    } else if (h.total != e.total) {
      err = "message parts disagree on size";
    }
    if (err.empty()) return true;
    Break(c, err);
    return false;
  }

  void OnData(FdRef* ref, uint32_t events) {
    Conn* c = ref->conn;
    if (c->closed || c->broken) return;
    Sock& s = c->socks[ref->sockIdx];
    if (c->isSend) {
      if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
        Break(c, "connection lost");
        return;
      }
      DriveSend(c, s);
    } else {
      if (!DriveRecv(c, s)) return;
      if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && s.cursor >= c->queue.size()) {
        s.peerClosed = true;  // data still buffered (if any) is read when a receive is posted
        if (events & (EPOLLHUP | EPOLLERR)) Detach(s);  // nothing more can arrive; a post reads the rest
        if (!c->peerGone.exchange(true)) Ring();
      }
    }
    UpdateInterest(c);
  }

  void OnAccept(Listener* l) {
    for (;;) {
      int fd = -1;
      if (Accept(l->fd, &fd) != ccSuccess || fd < 0) return;
      if (handshakes_.size() >= kMaxPendingHandshakes) {
        close(fd);
        continue;
      }
      auto* hs = new PendingHandshake{fd, NowMs() + handshakeMs_, {}, 0, l, {}};
      hs->ref = FdRef{FdKind::kHandshake, nullptr, 0, hs, l};
      handshakes_.push_back(hs);
      AddFd(fd, EPOLLIN, &hs->ref);
    }
  }

  void DropHandshake(PendingHandshake* hs, const char* why) {
    if (why) {  // a refused connection; otherwise the fd now belongs to a Conn and stays registered
      CC_INFO(kLogNet, "tcp: %s dropped an incoming connection: %s", hs->listener->address.c_str(), why);
      epoll_ctl(epfd_, EPOLL_CTL_DEL, hs->fd, nullptr);
      close(hs->fd);
    }
    handshakes_.erase(std::find(handshakes_.begin(), handshakes_.end(), hs));
    delete hs;
  }

  void OnHandshake(PendingHandshake* hs) {
    ssize_t r = recv(hs->fd, reinterpret_cast<char*>(&hs->hs) + hs->got, sizeof(Handshake) - hs->got, 0);
    if (r == 0 || (r < 0 && !WouldBlock())) return DropHandshake(hs, "closed before its handshake");
    if (r < 0) return;
    hs->got += static_cast<size_t>(r);
    if (hs->got >= 4 && hs->hs.magic != kHandshakeMagic) return DropHandshake(hs, "bad magic");
    if (hs->got < sizeof(Handshake)) return;
    const Handshake h = hs->hs;
    Listener* l = hs->listener;
    if (h.nonce != l->nonce) return DropHandshake(hs, "handshake for another listener");
    if (h.nsocks < 1 || h.nsocks > kMaxSocks || h.sockIdx < 0 || h.sockIdx >= h.nsocks)
      return DropHandshake(hs, "handshake fields out of range");
    Conn*& slot = l->forming[h.connId];
    if (!slot) {
      slot = new Conn();
      slot->engine = shared_from_this();
      slot->connId = h.connId;
      slot->nsocks = h.nsocks;
      slot->socks.resize(h.nsocks);
      slot->where = "<- " + l->address + " #" + std::to_string(h.connId & 0xffff);
      conns_.insert(slot);
    }
    Conn* c = slot;
    if (c->nsocks != h.nsocks || c->socks[h.sockIdx].fd >= 0)
      return DropHandshake(hs, "duplicate or inconsistent socket of a connection");
    Sock& s = c->socks[h.sockIdx];
    s.fd = hs->fd;
    s.ref = FdRef{FdKind::kData, c, h.sockIdx, nullptr, nullptr};
    epoll_event ev{};
    ev.events = 0;
    ev.data.ptr = &s.ref;
    epoll_ctl(epfd_, EPOLL_CTL_MOD, s.fd, &ev);
    s.events = 0;
    DropHandshake(hs, nullptr);
    if (++c->attached == c->nsocks) {
      l->forming.erase(h.connId);
      l->ready.push_back(c);
      UpdateInterest(c);
      Ring();
    }
  }

  // Frees what was closed before the previous epoll_wait began: no event fetched since can refer to it.
  template <typename T>
  void Sweep(std::vector<T*>* closed) {
    for (size_t i = 0; i < closed->size();) {
      if ((*closed)[i]->closedEpoch < epoch_ - 1) {
        delete (*closed)[i];
        (*closed)[i] = closed->back();
        closed->pop_back();
      } else {
        ++i;
      }
    }
  }

  void Loop() {
    epoll_event events[64];
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      ++epoch_;
      Sweep(&graveyard_);
      Sweep(&closedListeners_);
      int timeout = handshakes_.empty() ? 1000 : 100;
      lock.unlock();
      int n = epoll_wait(epfd_, events, 64, timeout);
      lock.lock();
      for (int i = 0; i < n; ++i) {
        auto* ref = static_cast<FdRef*>(events[i].data.ptr);
        switch (ref->kind) {
          case FdKind::kListen:
            if (ref->listener->fd >= 0) OnAccept(ref->listener);
            break;
          case FdKind::kWake: {
            uint64_t v;
            ssize_t rc = read(wakeFd_, &v, sizeof(v));
            (void)rc;
            break;
          }
          case FdKind::kHandshake:
            if (std::find(handshakes_.begin(), handshakes_.end(), ref->hs) != handshakes_.end()) OnHandshake(ref->hs);
            break;
          case FdKind::kData: OnData(ref, events[i].events); break;
        }
      }
      while (!dirty_.empty()) {
        Conn* c = dirty_.front();
        dirty_.pop_front();
        if (c->closed || c->broken) continue;
        for (auto& s : c->socks) {
          if (s.fd < 0 || c->broken) continue;
          if (c->isSend) DriveSend(c, s);
          else DriveRecv(c, s);
        }
        if (!c->closed) UpdateInterest(c);
      }
      int64_t now = NowMs();
      for (size_t i = 0; i < handshakes_.size();) {
        if (now > handshakes_[i]->deadline) DropHandshake(handshakes_[i], "no valid handshake in time");
        else ++i;
      }
    }
    for (auto* hs : handshakes_) {
      close(hs->fd);
      delete hs;
    }
    handshakes_.clear();
  }

  std::string pciPath_, what_;
  int epfd_ = -1, wakeFd_ = -1;
  int nsocks_ = 2;
  int64_t handshakeMs_ = 5000;
  FdRef wakeRef_;
  std::atomic<DoorbellWord*> bell_{nullptr};
  std::mutex mu_;  // guards everything below; the engine thread holds it while it works
  bool stop_ = false;
  uint64_t epoch_ = 1;
  std::set<Conn*> conns_;
  std::vector<Conn*> graveyard_;         // closed connections, freed by Sweep
  std::vector<Listener*> closedListeners_;  // closed listeners, freed by Sweep
  std::deque<Conn*> dirty_;
  std::vector<PendingHandshake*> handshakes_;
  std::map<std::string, std::unique_ptr<PendingConnect>> pending_;
  std::thread thread_;
};

// The engine serving bare connect() calls: one per process (a forked child makes its own; the parent's thread
// does not exist there).
std::shared_ptr<Engine> ProcessEngine() {
  static std::mutex mu;
  static pid_t owner = 0;
  static std::shared_ptr<Engine>* engine = nullptr;  // never destroyed: it may be in use at exit
  std::lock_guard<std::mutex> lock(mu);
  if (!engine || owner != getpid()) {
    engine = new std::shared_ptr<Engine>(std::make_shared<Engine>("", "connections of this process"));
    (*engine)->Start();
    owner = getpid();
  }
  return *engine;
}

// ---- the ccNet_v1_t functions ----

int TcpGetProperties(int dev, ccNetProperties_v1_t* props) {
  if (dev != 0 || !props) return ccNetErrorArgument;
  static std::mutex mu;
  static std::string name, pci;
  static int speed = 0;
  std::lock_guard<std::mutex> lock(mu);
  if (name.empty()) {
    SockAddr addr;
    if (FindInterfaceAddress(&addr, &name) != ccSuccess || name.empty()) name = "tcp";
    pci = NetDevicePciPath(name);
    std::ifstream f("/sys/class/net/" + name + "/speed");
    if (!(f >> speed) || speed < 0) speed = 0;
  }
  memset(props, 0, sizeof(*props));
  props->name = name.c_str();
  props->pciPath = pci.empty() ? nullptr : pci.c_str();
  props->ptrSupport = CC_NET_PTR_HOST;
  props->speedMbps = speed;
  props->maxComms = 65536;
  props->maxMessageBytes = 0;  // no limit: a message of any size is one message
  return ccNetOk;
}

int ListenOn(SockAddr addr, void* handle, void** listenComm) {
  int fd = -1;
  if (Listen(&addr, 256, &fd) != ccSuccess) {
    CC_INFO(kLogNet, "tcp: cannot listen on %s: %s", addr.ToString().c_str(), ThreadLastError().c_str());
    return ccNetErrorSystem;
  }
  auto* l = new Listener();
  l->fd = fd;
  l->nonce = NetRandomU64();
  l->address = addr.ToString();
  std::string ifname = InterfaceOfSocket(fd);
  l->engine = std::make_shared<Engine>(NetDevicePciPath(ifname), "listener " + l->address +
                                                                    (ifname.empty() ? "" : " (" + ifname + ")"));
  l->engine->AddListener(l);
  l->engine->Start();
  TcpHandle h{};
  h.magic = kHandleMagic;
  h.addrLen = addr.len;
  memcpy(h.addr, &addr.storage, addr.len);
  h.nonce = l->nonce;
  memset(handle, 0, CC_NET_HANDLE_MAXSIZE);
  memcpy(handle, &h, sizeof(h));
  *listenComm = l;
  return ccNetOk;
}

int TcpListen(int dev, void* handle, void** listenComm) {
  if (dev != 0 || !handle || !listenComm) return ccNetErrorArgument;
  SockAddr addr;
  std::string ifname;
  if (FindInterfaceAddress(&addr, &ifname) != ccSuccess) return ccNetErrorSystem;
  return ListenOn(addr, handle, listenComm);
}

int TcpConnectFrom(void* listenComm, int dev, const void* handle, void** sendComm) {
  if (dev != 0 || !handle || !sendComm) return ccNetErrorArgument;
  std::shared_ptr<Engine> engine = listenComm ? static_cast<Listener*>(listenComm)->engine : ProcessEngine();
  return engine->Connect(handle, sendComm);
}

int TcpConnect(int dev, const void* handle, void** sendComm) { return TcpConnectFrom(nullptr, dev, handle, sendComm); }

int TcpAccept(void* listenComm, void** recvComm) {
  if (!listenComm || !recvComm) return ccNetErrorArgument;
  auto* l = static_cast<Listener*>(listenComm);
  *recvComm = l->engine->PopReady(l);
  return ccNetOk;
}

int TcpIsend(void* sendComm, void* data, size_t size, void*, void** request) {
  auto* c = static_cast<Conn*>(sendComm);
  if (!c || !request || !c->isSend || (size && !data)) return ccNetErrorArgument;
  return c->engine->Post(c, static_cast<char*>(data), size, request);
}

int TcpIrecv(void* recvComm, void* data, size_t size, void*, void** request) {
  auto* c = static_cast<Conn*>(recvComm);
  if (!c || !request || c->isSend || (size && !data)) return ccNetErrorArgument;
  return c->engine->Post(c, static_cast<char*>(data), size, request);
}

int TcpTest(void* request, int* done, size_t* size) {
  auto* r = static_cast<TcpRequest*>(request);
  if (!r || !done) return ccNetErrorArgument;
  std::shared_ptr<Engine> engine = r->conn->engine;  // Test may free the request
  return engine->Test(r, done, size);
}

int TcpCloseComm(void* comm) {
  auto* c = static_cast<Conn*>(comm);
  if (!c) return ccNetErrorArgument;
  std::shared_ptr<Engine> engine = c->engine->CloseConn(c);  // c is freed later, by the engine thread
  return ccNetOk;
}

int TcpCloseListen(void* listenComm) {
  auto* l = static_cast<Listener*>(listenComm);
  if (!l) return ccNetErrorArgument;
  std::shared_ptr<Engine> engine = std::move(l->engine);
  auto refs = engine->CloseListener(l);  // the engine frees l, and lives on while its connections are open
  return ccNetOk;
}

DoorbellWord* TcpBindDoorbell(void* listenComm, DoorbellWord* word) {
  static_cast<Listener*>(listenComm)->engine->SetBell(word);
  return word;
}

int TcpPeerGone(void* comm) { return static_cast<Conn*>(comm)->peerGone.load() ? 1 : 0; }

const ccNet_v1_t kTcpTable = {
    "tcp", CC_NET_ABI_VERSION, 0,
    NetBuiltinInit, NetBuiltinOneDevice, TcpGetProperties,
    TcpListen, TcpConnect, TcpAccept,
    NetHostRegMr, NetHostDeregMr,
    TcpIsend, TcpIrecv, TcpTest,
    nullptr,  // iflush: host memory only
    TcpCloseComm, TcpCloseComm, TcpCloseListen,
};

const NetBuiltinOps kTcpOps = {TcpBindDoorbell, TcpConnectFrom, TcpPeerGone};

}  // namespace

const ccNet_v1_t* NetTcpTable() { return &kTcpTable; }
const NetBuiltinOps* NetTcpOps() { return &kTcpOps; }

bool NetTcpHandleAddress(const void* handle, SockAddr* addr, uint64_t* nonce) {
  TcpHandle h;
  if (!handle || !DecodeHandle(handle, &h, addr)) return false;
  if (nonce) *nonce = h.nonce;
  return true;
}

ccResult_t NetTcpListenOn(const SockAddr& addr, uint8_t* handle, void** listenComm) {
  if (ListenOn(addr, handle, listenComm) != ccNetOk)
    return SetError(ccSystemError, "tcp: cannot listen on %s", addr.ToString().c_str());
  return ccSuccess;
}

}  // namespace conccl
