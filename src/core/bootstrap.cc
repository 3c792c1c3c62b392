// bootstrap.cc — see bootstrap.h.
#include "core/bootstrap.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "common/env.h"
#include "common/result.h"

namespace conccl {
namespace {

constexpr uint32_t kHelloMagic = 0x43434248;  // "CCBH"
constexpr uint32_t kReplyMagic = 0x43434252;  // "CCBR"

struct Hello {
  uint32_t magic;
  uint8_t secret[kSecretBytes];
  int32_t rank;
  int32_t nranks;
  RankInfo info;
};

struct ReplyHeader {
  uint32_t magic;
  int32_t status;  // ccSuccess, or why this rank was refused
  int32_t nranks;
  char reason[128];
};

bool SecretEqual(const uint8_t* a, const uint8_t* b) {
  uint8_t diff = 0;
  for (int i = 0; i < kSecretBytes; ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

struct Pending {
  int fd;
  int64_t deadline;
  Hello hello;
  size_t got;
  std::string from;
};

// The root's event loop: one rendezvous, then exit.
class RootServer {
 public:
  RootServer(int listenFd, const uint8_t* secret) : listenFd_(listenFd) { memcpy(secret_, secret, kSecretBytes); }

  void Run() {
    int64_t overall = DeadlineAfter(EnvInt("CONCCL_BOOTSTRAP_TIMEOUT_MS"));
    handshakeMs_ = EnvInt("CONCCL_HANDSHAKE_TIMEOUT_MS");
    while (nranks_ < 0 || joinedCount_ < nranks_) {
      if (overall > 0 && NowMs() > overall) {
        CC_WARN("bootstrap root: only %d of %d ranks joined before CONCCL_BOOTSTRAP_TIMEOUT_MS", joinedCount_, nranks_);
        break;
      }
      PollOnce();
    }
    if (nranks_ > 0 && joinedCount_ == nranks_) SendTable();
    for (auto& p : pending_) close(p.fd);
    for (int fd : joinedFd_) if (fd >= 0) close(fd);
    close(listenFd_);
  }

 private:
  void PollOnce() {
    std::vector<pollfd> fds;
    fds.push_back({listenFd_, POLLIN, 0});
    for (auto& p : pending_) fds.push_back({p.fd, POLLIN, 0});
    poll(fds.data(), fds.size(), 100);
    if (fds[0].revents & POLLIN) AcceptAll();
    int64_t now = NowMs();
    for (size_t i = 0; i < pending_.size();) {
      bool drop = false, done = false;
      if (i + 1 < fds.size() && fds[i + 1].fd == pending_[i].fd && fds[i + 1].revents) {
        ReadHello(pending_[i], &drop, &done);
      }
      if (!drop && !done && now > pending_[i].deadline) {
        CC_INFO(kLogBootstrap, "bootstrap root: dropped connection from %s: no valid hello within %lld ms",
                pending_[i].from.c_str(), (long long)handshakeMs_);
        drop = true;
      }
      if (drop) close(pending_[i].fd);
      if (drop || done) {
        pending_.erase(pending_.begin() + i);
        fds.erase(fds.begin() + i + 1);
      } else {
        ++i;
      }
    }
  }

  void AcceptAll() {
    for (;;) {
      int fd = -1;
      SockAddr peer;
      peer.len = sizeof(peer.storage);
      fd = accept4(listenFd_, peer.sa(), &peer.len, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) return;
      if (pending_.size() > 1024) {  // a flood cannot exhaust us
        close(fd);
        continue;
      }
      pending_.push_back({fd, NowMs() + handshakeMs_, Hello{}, 0, peer.ToString()});
    }
  }

  void ReadHello(Pending& p, bool* drop, bool* done) {
    char* dst = reinterpret_cast<char*>(&p.hello) + p.got;
    ssize_t n = recv(p.fd, dst, sizeof(Hello) - p.got, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      *drop = true;
      return;
    }
    if (n < 0) return;
    p.got += static_cast<size_t>(n);
    if (p.got >= sizeof(uint32_t) && p.hello.magic != kHelloMagic) {
      CC_INFO(kLogBootstrap, "bootstrap root: dropped connection from %s: bad magic", p.from.c_str());
      *drop = true;
      return;
    }
    if (p.got < sizeof(Hello)) return;
    const Hello& h = p.hello;
    if (!SecretEqual(h.secret, secret_)) {
      CC_INFO(kLogBootstrap, "bootstrap root: dropped connection from %s: wrong secret", p.from.c_str());
      *drop = true;
      return;
    }
    const char* refuse = nullptr;
    if (h.nranks < 1 || h.nranks > (1 << 20)) refuse = "nranks out of range";
    else if (nranks_ > 0 && h.nranks != nranks_) refuse = "nranks differs from the other ranks'";
    else if (h.rank < 0 || h.rank >= h.nranks) refuse = "rank out of range";
    else if (nranks_ > 0 && joinedFd_[h.rank] >= 0) refuse = "rank already joined";
    if (refuse) {
      CC_WARN("bootstrap root: refused rank %d (nranks %d) from %s: %s", h.rank, h.nranks, p.from.c_str(), refuse);
      ReplyHeader r{};
      r.magic = kReplyMagic;
      r.status = ccInvalidUsage;
      snprintf(r.reason, sizeof(r.reason), "bootstrap root refused rank %d: %s", h.rank, refuse);
      SendAll(p.fd, &r, sizeof(r), NowMs() + 1000);
      *drop = true;
      return;
    }
    if (nranks_ < 0) {
      nranks_ = h.nranks;
      joinedFd_.assign(nranks_, -1);
      infos_.resize(nranks_);
    }
    joinedFd_[h.rank] = p.fd;
    infos_[h.rank] = h.info;
    ++joinedCount_;
    *done = true;
  }

  void SendTable() {
    ReplyHeader r{};
    r.magic = kReplyMagic;
    r.status = ccSuccess;
    r.nranks = nranks_;
    int64_t deadline = NowMs() + 30000;
    for (int i = 0; i < nranks_; ++i) {
      if (SendAll(joinedFd_[i], &r, sizeof(r), deadline) != ccSuccess ||
          SendAll(joinedFd_[i], infos_.data(), infos_.size() * sizeof(RankInfo), deadline) != ccSuccess) {
        CC_WARN("bootstrap root: could not send the rank table to rank %d", i);
      }
    }
    CC_INFO(kLogBootstrap, "bootstrap root: %d ranks joined", nranks_);
  }

  int listenFd_;
  uint8_t secret_[kSecretBytes];
  int64_t handshakeMs_ = 5000;
  int nranks_ = -1;
  int joinedCount_ = 0;
  std::vector<Pending> pending_;
  std::vector<int> joinedFd_;
  std::vector<RankInfo> infos_;
};

std::string ReadFirstLine(const char* path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

}  // namespace

uint64_t ProcessNonce() {
  static const uint64_t nonce = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(getpid());
  }();
  return nonce;
}

std::string HostIdentity() {
  std::string forced = EnvString("CONCCL_HOST_ID");
  if (!forced.empty()) return forced;
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  std::string id = host;
  id += "|" + ReadFirstLine("/proc/sys/kernel/random/boot_id");
  struct stat st {};
  if (stat("/proc/self/ns/net", &st) == 0) id += "|net:" + std::to_string(st.st_ino);
  return id;
}

ccResult_t StartBootstrapRoot(SockAddr* addr, const uint8_t secret[kSecretBytes]) {
  int fd = -1;
  ccResult_t res = Listen(addr, 1024, &fd);
  if (res != ccSuccess && addr->port() != 0) {
    // The named address may not be local (a hostname resolving elsewhere): listen on any address, same port.
    SockAddr any;
    any.storage.ss_family = static_cast<sa_family_t>(addr->family());
    any.len = addr->len;
    any.setPort(addr->port());
    res = Listen(&any, 1024, &fd);
  }
  CC_CHECK(res);
  try {
    auto* server = new RootServer(fd, secret);
    std::thread([server] {
      server->Run();
      delete server;
    }).detach();
  } catch (const std::exception& e) {
    close(fd);
    return SetError(ccSystemError, "cannot start the bootstrap root thread: %s", e.what());
  }
  CC_INFO(kLogBootstrap, "bootstrap root listening on %s", addr->ToString().c_str());
  return ccSuccess;
}

ccResult_t BootstrapJoin(const UniqueIdLayout& id, int rank, int nranks, const RankInfo& mine,
                         std::vector<RankInfo>* all, int64_t deadlineMs, const std::atomic<bool>* abort) {
  SockAddr root;
  memcpy(&root.storage, &id.addr, id.addrLen);
  root.len = id.addrLen;
  int fd = -1;
  CC_CHECK(Connect(root, deadlineMs, &fd));
  Hello h{};
  h.magic = kHelloMagic;
  memcpy(h.secret, id.secret, kSecretBytes);
  h.rank = rank;
  h.nranks = nranks;
  h.info = mine;
  ReplyHeader r{};
  ccResult_t res = SendAll(fd, &h, sizeof(h), deadlineMs, abort);
  if (res == ccSuccess) res = RecvAll(fd, &r, sizeof(r), deadlineMs, abort);
  if (res == ccSuccess && (r.magic != kReplyMagic)) res = SetError(ccRemoteError, "bootstrap: malformed reply from root");
  if (res == ccSuccess && r.status != ccSuccess) {
    r.reason[sizeof(r.reason) - 1] = 0;
    res = SetError(static_cast<ccResult_t>(r.status == ccInvalidUsage ? ccInvalidUsage : ccRemoteError), "%s",
                   r.reason);
  }
  if (res == ccSuccess && r.nranks != nranks)
    res = SetError(ccRemoteError, "bootstrap: root reports %d ranks, expected %d", r.nranks, nranks);
  if (res == ccSuccess) {
    all->resize(nranks);
    res = RecvAll(fd, all->data(), all->size() * sizeof(RankInfo), deadlineMs, abort);
  }
  close(fd);
  if (res == ccTimeout) return SetError(ccTimeout, "bootstrap: rank %d timed out waiting for all %d ranks", rank, nranks);
  return res;
}

}  // namespace conccl
