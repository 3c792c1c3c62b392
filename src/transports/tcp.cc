// tcp.cc — see tcp.h.
#include "transports/tcp.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/env.h"
#include "common/result.h"
#include "topo/topology.h"

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

constexpr uint32_t kHandshakeMagic = 0x43435448;  // "CCTH"
constexpr uint32_t kPartMagic = 0x43435450;       // "CCTP"
constexpr int kMaxChannels = 64;
constexpr int kMaxSocks = 16;

struct Handshake {
  uint32_t magic;
  uint8_t secret[kSecretBytes];
  uint64_t commHash;
  int32_t fromRank;
  int32_t channel;
  int32_t sockIdx;
  int32_t nsocks;
};

struct PartHeader {
  uint32_t magic;
  uint32_t sockIdx;
  uint64_t seq;
  uint64_t total;
};

// One posted message, owned by its connection until every socket has moved past it.
struct Entry {
  Request* req;  // nullptr once completed or failed (the caller may have released it)
  char* data;
  size_t size;  // send: bytes; receive: capacity
  uint64_t seq;
  bool totalKnown;  // receive: socket 0's header has arrived
  size_t total;
  int partsLeft;
};

struct Conn;
enum class FdKind { kListen, kWake, kHandshake, kData };

struct FdRef {
  FdKind kind;
  Conn* conn = nullptr;
  int sockIdx = 0;
  struct PendingHandshake* hs = nullptr;
};

struct Sock {
  int fd = -1;
  size_t cursor = 0;  // index (relative to conn->queue front) of the entry being worked on
  bool inPart = false;
  PartHeader hdr{};
  size_t hdrDone = 0, dataDone = 0, partOff = 0, partLen = 0;
  uint32_t events = 0;
  bool peerClosed = false;
  FdRef ref;
};

struct Conn {
  bool isSend;
  int peer, channel;
  int nsocks = 0;
  std::vector<Sock> socks;
  std::deque<Entry> queue;
  uint64_t nextSeq = 0;
  bool broken = false;
  std::string why;
};

struct PendingHandshake {
  int fd;
  int64_t deadline;
  Handshake hs;
  size_t got;
  FdRef ref;
};

class TcpTransport : public Transport {
 public:
  TcpTransport(const TransportContext& ctx, int listenFd) : ctx_(ctx), listenFd_(listenFd) {
    nsocks_ = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(kMaxSocks, EnvInt("CONCCL_NSOCKS_PERPEER"))));
    handshakeMs_ = EnvInt("CONCCL_HANDSHAKE_TIMEOUT_MS");
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    listenRef_.kind = FdKind::kListen;
    wakeRef_.kind = FdKind::kWake;
    AddFd(listenFd_, EPOLLIN, &listenRef_);
    AddFd(wakeFd_, EPOLLIN, &wakeRef_);
    thread_ = std::thread([this] {
      BindNearListenInterface();
      Loop();
    });
  }

  ~TcpTransport() override {
    Shutdown();
    stop_.store(true);
    Wake();
    if (thread_.joinable()) thread_.join();
    for (auto& kv : conns_)
      for (auto& s : kv.second->socks) CloseFd(&s.fd);
    for (auto* hs : handshakes_) {
      close(hs->fd);
      delete hs;
    }
    CloseFd(&listenFd_);
    CloseFd(&wakeFd_);
    CloseFd(&epfd_);
  }

  const char* Name() const override { return "tcp"; }

  ccResult_t Isend(int peer, int channel, const void* data, size_t bytes, Request** out) override {
    Conn* conn = nullptr;
    CC_CHECK(SendConn(peer, channel, &conn));
    auto* req = new Request();
    *out = req;
    std::lock_guard<std::mutex> lock(mu_);
    Entry e{req, const_cast<char*>(static_cast<const char*>(data)), bytes, conn->nextSeq++, true, bytes, 0};
    for (int i = 0; i < conn->nsocks; ++i) {
      size_t off, len;
      TcpPartRange(bytes, conn->nsocks, i, &off, &len);
      if (i == 0 || len > 0) e.partsLeft++;
    }
    Post(conn, e);
    return ccSuccess;
  }

  ccResult_t Irecv(int peer, int channel, void* data, size_t capacity, Request** out) override {
    auto* req = new Request();
    *out = req;
    std::lock_guard<std::mutex> lock(mu_);
    Conn* conn = GetConn(/*isSend=*/false, peer, channel);
    Post(conn, Entry{req, static_cast<char*>(data), capacity, conn->nextSeq++, false, 0, 0});
    return ccSuccess;
  }

  void Shutdown() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    shutdown_ = true;
    for (auto& kv : conns_) {
      for (auto& s : kv.second->socks)
        if (s.fd >= 0) ::shutdown(s.fd, SHUT_RDWR);
      Break(kv.second.get(), "connection shut down by rank " + std::to_string(ctx_.rank));
    }
  }

 private:
  using Key = std::tuple<bool, int, int>;

  // Runs first on the progress thread: binds it near the NIC the listener is bound to (CONCCL_BIND_PROGRESS).
  void BindNearListenInterface() {
    std::string ifname = InterfaceOfSocket(listenFd_);
    std::string how = BindThreadNear(NetDevicePciPath(ifname));
    CC_INFO(kLogNet, "tcp progress thread of rank %d (interface %s): %s", ctx_.rank,
            ifname.empty() ? "unknown" : ifname.c_str(), how.c_str());
  }

  Conn* GetConn(bool isSend, int peer, int channel) {
    auto& slot = conns_[Key{isSend, peer, channel}];
    if (!slot) {
      slot = std::make_unique<Conn>();
      slot->isSend = isSend;
      slot->peer = peer;
      slot->channel = channel;
      if (shutdown_) {
        slot->broken = true;
        slot->why = "transport is shut down";
      }
    }
    return slot.get();
  }

  // Returns the send connection to (peer, channel), connecting its sockets on first use.
  ccResult_t SendConn(int peer, int channel, Conn** out) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = conns_.find(Key{true, peer, channel});
      if (it != conns_.end() && it->second->nsocks > 0) {
        *out = it->second.get();
        return ccSuccess;
      }
      if (shutdown_) return SetError(ccRemoteError, "tcp transport of rank %d is shut down", ctx_.rank);
    }
    const RankInfo& info = (*ctx_.peers)[peer];
    SockAddr addr;
    memcpy(&addr.storage, info.listenAddr, info.listenAddrLen);
    addr.len = info.listenAddrLen;
    std::vector<int> fds;
    int64_t deadline = DeadlineAfter(ctx_.connectTimeoutMs);
    for (int i = 0; i < nsocks_; ++i) {
      int fd = -1;
      Handshake hs{kHandshakeMagic, {}, ctx_.commHash, ctx_.rank, channel, i, nsocks_};
      memcpy(hs.secret, ctx_.secret, kSecretBytes);
      ccResult_t res = Connect(addr, deadline, &fd, /*retryRefused=*/false);  // listeners open before init ends
      if (res == ccSuccess) res = SendAll(fd, &hs, sizeof(hs), deadline, ctx_.aborted);
      if (res != ccSuccess) {
        if (fd >= 0) close(fd);
        for (int f : fds) close(f);
        return SetError(ccRemoteError, "tcp: cannot connect rank %d to rank %d at %s: %s", ctx_.rank, peer,
                        addr.ToString().c_str(), ThreadLastError().c_str());
      }
      fds.push_back(fd);
    }
    std::lock_guard<std::mutex> lock(mu_);
    Conn* conn = GetConn(true, peer, channel);
    conn->nsocks = nsocks_;
    conn->socks.resize(nsocks_);
    for (int i = 0; i < nsocks_; ++i) {
      Sock& s = conn->socks[i];
      s.fd = fds[i];
      s.ref = FdRef{FdKind::kData, conn, i, nullptr};
      AddFd(s.fd, 0, &s.ref);
    }
    CC_INFO(kLogNet, "tcp: rank %d -> rank %d channel %d connected via %s with %d sockets", ctx_.rank, peer, channel,
            addr.ToString().c_str(), nsocks_);
    *out = conn;
    return ccSuccess;
  }

  void Post(Conn* conn, const Entry& e) {
    if (!conn->broken && !conn->isSend && conn->nsocks == 0 && gonePeers_.count(conn->peer))
      Break(conn, "rank " + std::to_string(conn->peer) + " closed its connections");
    if (conn->broken) {
      e.req->Fail(ccRemoteError, conn->why);
      ctx_.doorbell->Ring();
      return;
    }
    conn->queue.push_back(e);
    dirty_.push_back(conn);
    Wake();
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
    if (s.fd < 0 || s.events == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &s.ref;
    epoll_ctl(epfd_, EPOLL_CTL_MOD, s.fd, &ev);
    s.events = events;
  }

  // Recomputes which sockets of conn have work, so idle sockets never wake the loop.
  void UpdateInterest(Conn* conn) {
    for (auto& s : conn->socks) {
      if (s.fd < 0) continue;
      uint32_t ev = 0;
      if (!conn->broken && s.cursor < conn->queue.size()) {
        if (conn->isSend) ev = EPOLLOUT;
        else if (s.ref.sockIdx == 0 || conn->queue[s.cursor].totalKnown) ev = EPOLLIN;
      }
      if (!conn->isSend && !conn->broken && !s.peerClosed) ev |= EPOLLRDHUP;
      SetEvents(s, ev);
    }
  }

  // A peer that closed or lost any connection is gone: receives from it on channels it never connected
  // can never complete, so they fail now instead of waiting for the timeout.
  void MarkPeerGone(int peer) {
    if (shutdown_ || !gonePeers_.insert(peer).second) return;
    for (auto& kv : conns_) {
      Conn* c = kv.second.get();
      if (!c->isSend && c->peer == peer && c->nsocks == 0 && !c->broken)
        Break(c, "rank " + std::to_string(peer) + " closed its connections before sending on this channel");
    }
  }

  void Break(Conn* conn, const std::string& why) {
    if (!conn->broken) {
      conn->broken = true;
      conn->why = why;
      CC_INFO(kLogNet, "tcp: rank %d %s rank %d channel %d broken: %s", ctx_.rank, conn->isSend ? "->" : "<-",
              conn->peer, conn->channel, why.c_str());
    }
    for (auto& e : conn->queue)
      if (e.req) {
        e.req->Fail(ccRemoteError, why);
        e.req = nullptr;
      }
    conn->queue.clear();
    for (auto& s : conn->socks) {
      s.cursor = 0;
      SetEvents(s, 0);
    }
    ctx_.doorbell->Ring();
  }

  void FinishPart(Conn* conn, Sock& s) {
    Entry& e = conn->queue[s.cursor];
    s.inPart = false;
    s.cursor++;
    if (--e.partsLeft == 0 && e.req) {
      e.req->Complete(e.total);
      e.req = nullptr;
      ctx_.doorbell->Ring();
    }
    // Pop entries every socket has moved past.
    while (!conn->queue.empty() && !conn->queue.front().req && conn->queue.front().partsLeft <= 0) {
      bool allPast = true;
      for (auto& o : conn->socks) allPast &= o.cursor > 0;
      if (!allPast) break;
      conn->queue.pop_front();
      for (auto& o : conn->socks) o.cursor--;
    }
  }

  // Advances one socket as far as the kernel allows. Returns false when the connection broke.
  bool DriveSend(Conn* conn, Sock& s) {
    while (s.cursor < conn->queue.size()) {
      Entry& e = conn->queue[s.cursor];
      if (!s.inPart) {
        TcpPartRange(e.total, conn->nsocks, s.ref.sockIdx, &s.partOff, &s.partLen);
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
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
        if (w <= 0) {
          Break(conn, "send to rank " + std::to_string(conn->peer) + " failed: " + strerror(errno));
          return false;
        }
        size_t k = static_cast<size_t>(w);
        size_t h = std::min(k, sizeof(PartHeader) - s.hdrDone);
        s.hdrDone += h;
        s.dataDone += k - h;
      }
      FinishPart(conn, s);
    }
    return true;
  }

  // Reads into posted receives; validates every header before touching the destination.
  bool DriveRecv(Conn* conn, Sock& s) {
    while (s.cursor < conn->queue.size()) {
      Entry& e = conn->queue[s.cursor];
      int idx = s.ref.sockIdx;
      if (!s.inPart) {
        if (idx > 0 && !e.totalKnown) return true;  // wait for socket 0's header
        if (idx > 0) {
          TcpPartRange(e.total, conn->nsocks, idx, &s.partOff, &s.partLen);
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
        if (!RecvOk(conn, r)) return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        s.hdrDone += static_cast<size_t>(r);
        if (s.hdrDone < sizeof(PartHeader)) continue;
        if (!CheckHeader(conn, s, e)) return false;
      }
      while (s.dataDone < s.partLen) {
        ssize_t r = recv(s.fd, e.data + s.partOff + s.dataDone, s.partLen - s.dataDone, 0);
        if (!RecvOk(conn, r)) return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        s.dataDone += static_cast<size_t>(r);
      }
      FinishPart(conn, s);
    }
    return true;
  }

  bool RecvOk(Conn* conn, ssize_t r) {
    if (r > 0) return true;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
    Break(conn, r == 0 ? "rank " + std::to_string(conn->peer) + " closed the connection"
                       : "receive from rank " + std::to_string(conn->peer) + " failed: " + strerror(errno));
    return false;
  }

  bool CheckHeader(Conn* conn, Sock& s, Entry& e) {
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
        for (int i = 0; i < conn->nsocks; ++i) {
          size_t off, len;
          TcpPartRange(e.total, conn->nsocks, i, &off, &len);
          if (i == 0 || len > 0) e.partsLeft++;
        }
        TcpPartRange(e.total, conn->nsocks, 0, &s.partOff, &s.partLen);
        dirty_.push_back(conn);  // other sockets may now read their parts
      }
    } else if (h.total != e.total) {
      err = "message parts disagree on size";
    }
    if (err.empty()) return true;
    Break(conn, "from rank " + std::to_string(conn->peer) + ": " + err);
    return false;
  }

  void OnData(FdRef* ref, uint32_t events) {
    Conn* conn = ref->conn;
    Sock& s = conn->socks[ref->sockIdx];
    if (conn->broken) return;
    if (conn->isSend) {
      if (events & (EPOLLERR | EPOLLHUP)) {
        Break(conn, "connection to rank " + std::to_string(conn->peer) + " lost");
        MarkPeerGone(conn->peer);
        return;
      }
      if (!DriveSend(conn, s)) MarkPeerGone(conn->peer);
    } else {
      if (!DriveRecv(conn, s)) {
        if (conn->broken) MarkPeerGone(conn->peer);
        return;
      }
      if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && s.cursor >= conn->queue.size()) {
        s.peerClosed = true;  // remaining data (if any) is read when a receive is posted
        MarkPeerGone(conn->peer);
      }
    }
    UpdateInterest(conn);
  }

  void OnAccept() {
    for (;;) {
      int fd = -1;
      if (Accept(listenFd_, &fd) != ccSuccess || fd < 0) return;
      if (handshakes_.size() > 1024) {
        close(fd);
        continue;
      }
      auto* hs = new PendingHandshake{fd, NowMs() + handshakeMs_, {}, 0, {}};
      hs->ref = FdRef{FdKind::kHandshake, nullptr, 0, hs};
      handshakes_.push_back(hs);
      AddFd(fd, EPOLLIN, &hs->ref);
    }
  }

  void DropHandshake(PendingHandshake* hs, const char* why) {
    if (why) {  // a refused connection; otherwise the fd now belongs to a Conn and stays registered
      CC_INFO(kLogNet, "tcp: rank %d dropped an incoming connection: %s", ctx_.rank, why);
      epoll_ctl(epfd_, EPOLL_CTL_DEL, hs->fd, nullptr);
      close(hs->fd);
    }
    handshakes_.erase(std::find(handshakes_.begin(), handshakes_.end(), hs));
    delete hs;
  }

  void OnHandshake(PendingHandshake* hs) {
    ssize_t r = recv(hs->fd, reinterpret_cast<char*>(&hs->hs) + hs->got, sizeof(Handshake) - hs->got, 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) return DropHandshake(hs, "closed before handshake");
    if (r < 0) return;
    hs->got += static_cast<size_t>(r);
    if (hs->got >= 4 && hs->hs.magic != kHandshakeMagic) return DropHandshake(hs, "bad magic");
    if (hs->got < sizeof(Handshake)) return;
    const Handshake& h = hs->hs;
    uint8_t diff = 0;
    for (int i = 0; i < kSecretBytes; ++i) diff |= h.secret[i] ^ ctx_.secret[i];
    if (diff || h.commHash != ctx_.commHash) return DropHandshake(hs, "wrong secret");
    if (h.fromRank < 0 || h.fromRank >= ctx_.nranks || h.channel < 0 || h.channel >= kMaxChannels ||
        h.nsocks < 1 || h.nsocks > kMaxSocks || h.sockIdx < 0 || h.sockIdx >= h.nsocks)
      return DropHandshake(hs, "handshake fields out of range");
    Conn* conn = GetConn(false, h.fromRank, h.channel);
    if (conn->nsocks == 0) {
      conn->nsocks = h.nsocks;
      conn->socks.resize(h.nsocks);
    }
    if (conn->nsocks != h.nsocks || conn->socks[h.sockIdx].fd >= 0)
      return DropHandshake(hs, "duplicate or inconsistent connection");
    Sock& s = conn->socks[h.sockIdx];
    s.fd = hs->fd;
    s.ref = FdRef{FdKind::kData, conn, h.sockIdx, nullptr};
    s.events = EPOLLIN;  // as registered for the handshake; SetEvents below fixes interest and pointer
    epoll_event ev{};
    ev.events = 0;
    ev.data.ptr = &s.ref;
    epoll_ctl(epfd_, EPOLL_CTL_MOD, s.fd, &ev);
    s.events = 0;
    if (conn->broken) ::shutdown(s.fd, SHUT_RDWR);
    DropHandshake(hs, nullptr);
    UpdateInterest(conn);
    CC_INFO(kLogNet, "tcp: rank %d <- rank %d channel %d socket %d accepted", ctx_.rank, h.fromRank, h.channel,
            h.sockIdx);
  }

  void Loop() {
    epoll_event events[64];
    while (!stop_.load()) {
      int timeout = handshakes_.empty() ? 1000 : 100;
      int n = epoll_wait(epfd_, events, 64, timeout);
      std::lock_guard<std::mutex> lock(mu_);
      for (int i = 0; i < n; ++i) {
        auto* ref = static_cast<FdRef*>(events[i].data.ptr);
        switch (ref->kind) {
          case FdKind::kListen: OnAccept(); break;
          case FdKind::kWake: {
            uint64_t v;
            ssize_t rc = read(wakeFd_, &v, sizeof(v));
            (void)rc;
            break;
          }
          case FdKind::kHandshake: OnHandshake(ref->hs); break;
          case FdKind::kData: OnData(ref, events[i].events); break;
        }
      }
      while (!dirty_.empty()) {
        Conn* c = dirty_.front();
        dirty_.pop_front();
        for (auto& s : c->socks) {
          if (s.fd < 0 || c->broken) continue;
          if (c->isSend) DriveSend(c, s);
          else DriveRecv(c, s);
        }
        UpdateInterest(c);
      }
      int64_t now = NowMs();
      for (size_t i = 0; i < handshakes_.size();) {
        if (now > handshakes_[i]->deadline) DropHandshake(handshakes_[i], "no valid handshake in time");
        else ++i;
      }
    }
  }

  TransportContext ctx_;
  int listenFd_ = -1, epfd_ = -1, wakeFd_ = -1;
  int nsocks_ = 2;
  int64_t handshakeMs_ = 5000;
  FdRef listenRef_, wakeRef_;
  std::mutex mu_;
  bool shutdown_ = false;
  std::atomic<bool> stop_{false};
  std::map<Key, std::unique_ptr<Conn>> conns_;
  std::set<int> gonePeers_;
  std::deque<Conn*> dirty_;
  std::vector<PendingHandshake*> handshakes_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Transport> CreateTcpTransport(const TransportContext& ctx, int listenFd) {
  return std::make_unique<TcpTransport>(ctx, listenFd);
}

}  // namespace conccl
