// stray.h — unwanted connections to a communicator's bootstrap root, for robustness tests.
//
// The root's address comes from the unique id (conccl::DecodeUniqueId). StrayConnections opens a fixed
// set of bad connections and keeps them open; StrayTraffic keeps connecting and sending garbage from a
// background thread until stopped. Neither ever presents the right secret.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "core/unique_id.h"
#include "test_util.h"

namespace cctest {

struct RootAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  conccl::UniqueIdLayout layout{};
};

// The root's address from a unique id (a wildcard address is replaced by loopback).
inline bool DecodeRoot(const ccUniqueId& id, RootAddr* out) {
  if (conccl::DecodeUniqueId(id, &out->layout) != ccSuccess) return false;
  std::memcpy(&out->ss, &out->layout.addr, out->layout.addrLen);
  out->len = socklen_t(out->layout.addrLen);
  if (out->ss.ss_family == AF_INET) {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&out->ss);
    if (in4->sin_addr.s_addr == htonl(INADDR_ANY)) in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (out->ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out->ss);
    if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) in6->sin6_addr = in6addr_loopback;
  }
  return true;
}

// A connected TCP socket to addr, or -1 (refused, or not connected within timeoutMs).
inline int ConnectTo(const RootAddr& addr, int timeoutMs) {
  const int fd = socket(addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr.ss), addr.len) != 0) {
    if (errno != EINPROGRESS) {
      close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t el = sizeof(err);
    if (poll(&p, 1, timeoutMs) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
      close(fd);
      return -1;
    }
  }
  const int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

// Best effort: the peer may close at any time (no SIGPIPE).
inline void SendBestEffort(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return;
    p += k;
    n -= size_t(k);
  }
}

inline std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(Mix(seed + i) >> 24);
  return v;
}

// Looks like the bootstrap's hello as written at the time of this test (magic "CCBH", 128-bit secret, rank,
// nranks, then a rank-info block), but carries a wrong secret. Padded with zeros to 512 bytes.
inline std::vector<uint8_t> WrongSecretHello(const conccl::UniqueIdLayout& layout, int32_t rank, int32_t nranks) {
  std::vector<uint8_t> v(512, 0);
  const uint32_t helloMagic = 0x43434248;
  std::memcpy(v.data(), &helloMagic, 4);
  for (int i = 0; i < conccl::kSecretBytes; ++i) v[4 + size_t(i)] = uint8_t(layout.secret[i] ^ 0x5a);
  std::memcpy(v.data() + 4 + conccl::kSecretBytes, &rank, 4);
  std::memcpy(v.data() + 8 + conccl::kSecretBytes, &nranks, 4);
  return v;
}

// The unique id's own bytes with a flipped secret: another plausible guess at a well-formed message.
inline std::vector<uint8_t> WrongSecretId(const conccl::UniqueIdLayout& layout) {
  conccl::UniqueIdLayout l = layout;
  l.secret[0] ^= 1;
  std::vector<uint8_t> v(sizeof(l));
  std::memcpy(v.data(), &l, sizeof(l));
  return v;
}

// A fixed set of bad connections, kept open until destruction: random bytes, two wrong-secret messages,
// a huge length prefix, and one that sends nothing at all.
class StrayConnections {
 public:
  ~StrayConnections() { CloseAll(); }

  // Returns how many connections succeeded.
  int OpenAll(const RootAddr& addr, int nranks) {
    int ok = 0;
    auto open = [&](const std::vector<uint8_t>& payload) {
      const int fd = ConnectTo(addr, 2000);
      if (fd < 0) return;
      ++ok;
      if (!payload.empty()) SendBestEffort(fd, payload.data(), payload.size());
      fds_.push_back(fd);
    };
    open(RandomBytes(4096, 0xabc));
    open(WrongSecretHello(addr.layout, 1, nranks));
    open(WrongSecretHello(addr.layout, 0, nranks));
    open(WrongSecretId(addr.layout));
    open(std::vector<uint8_t>(64, 0xff));  // all-ones: every length field read from it is huge
    open({});                              // silent
    return ok;
  }

  void CloseAll() {
    for (int fd : fds_) close(fd);
    fds_.clear();
  }

 private:
  std::vector<int> fds_;
};

// Keeps connecting to addr and sending garbage (random bytes, wrong-secret hellos, partial hellos) until
// Stop(). Connections that the root has stopped accepting are ignored.
class StrayTraffic {
 public:
  explicit StrayTraffic(const RootAddr& addr, int nranks) : addr_(addr), nranks_(nranks) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~StrayTraffic() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int attempts() const { return attempts_; }
  int connected() const { return connected_; }

 private:
  void Loop() {
    uint64_t seed = 1;
    while (!stop_) {
      ++attempts_;
      const int fd = ConnectTo(addr_, 500);
      if (fd >= 0) {
        ++connected_;
        std::vector<uint8_t> payload;
        switch (seed % 3) {
          case 0: payload = RandomBytes(1 + Mix(seed) % 2000, seed); break;
          case 1: payload = WrongSecretHello(addr_.layout, int32_t(seed % uint64_t(nranks_)), nranks_); break;
          default: payload = WrongSecretHello(addr_.layout, 0, nranks_); payload.resize(10); break;  // partial
        }
        SendBestEffort(fd, payload.data(), payload.size());
        close(fd);
      }
      ++seed;
      usleep(20000);
    }
  }

  RootAddr addr_;
  int nranks_;
  std::atomic<bool> stop_{false};
  std::atomic<int> attempts_{0};
  std::atomic<int> connected_{0};
  std::thread thread_;
};

}  // namespace cctest
