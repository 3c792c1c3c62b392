// socket.cc — see socket.h.
#include "common/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "common/env.h"
#include "common/result.h"

namespace conccl {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint16_t SockAddr::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
}

void SockAddr::setPort(uint16_t port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  else reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
}

std::string SockAddr::ToString() const {
  char host[INET6_ADDRSTRLEN] = "?";
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, host, sizeof(host));
    return std::string(host) + ":" + std::to_string(port());
  }
  inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, host, sizeof(host));
  return "[" + std::string(host) + "]:" + std::to_string(port());
}

namespace {

// NCCL_SOCKET_IFNAME semantics: "^a,b" excludes prefixes, "=a,b" matches exactly, "a,b" matches prefixes.
bool InterfaceMatches(const std::string& spec, const char* name) {
  if (spec.empty()) return true;
  bool exclude = spec[0] == '^';
  bool exact = spec[0] == '=';
  std::string list = (exclude || exact) ? spec.substr(1) : spec;
  bool hit = false;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    std::string item = list.substr(pos, comma - pos);
    if (!item.empty()) {
      if (exact ? item == name : strncmp(item.c_str(), name, item.size()) == 0) hit = true;
    }
    pos = comma + 1;
  }
  return exclude ? !hit : hit;
}

int FamilyFilter() {
  std::string f = EnvString("CONCCL_SOCKET_FAMILY");
  if (f == "AF_INET" || f == "4") return AF_INET;
  if (f == "AF_INET6" || f == "6") return AF_INET6;
  return AF_UNSPEC;
}

void FillFromIfa(const ifaddrs* ifa, SockAddr* addr) {
  addr->len = ifa->ifa_addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  memset(&addr->storage, 0, sizeof(addr->storage));
  memcpy(&addr->storage, ifa->ifa_addr, addr->len);
  addr->setPort(0);
}

// Waits for `events` on fd; returns ccTimeout at the deadline, ccRemoteError if aborted.
ccResult_t PollFd(int fd, short events, int64_t deadlineMs, const std::atomic<bool>* abort) {
  for (;;) {
    if (abort && abort->load(std::memory_order_relaxed)) return SetError(ccRemoteError, "operation aborted");
    int64_t waitMs = 100;
    if (deadlineMs > 0) {
      int64_t left = deadlineMs - NowMs();
      if (left <= 0) return SetError(ccTimeout, "timed out waiting on a socket");
      if (left < waitMs) waitMs = left;
    }
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(waitMs));
    if (n > 0) return ccSuccess;
    if (n < 0 && errno != EINTR) return SetError(ccSystemError, "poll failed: %s", strerror(errno));
  }
}

}  // namespace

ccResult_t FindInterfaceAddress(SockAddr* addr, std::string* ifname) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return SetError(ccSystemError, "getifaddrs failed: %s", strerror(errno));
  std::string spec = EnvString("CONCCL_SOCKET_IFNAME");
  int family = FamilyFilter();
  const ifaddrs* best = nullptr;
  const ifaddrs* loopback = nullptr;
  for (const ifaddrs* ifa = list; ifa; ifa = ifa->ifa_next) {
    if (!ifa->ifa_addr || !(ifa->ifa_flags & IFF_UP)) continue;
    int f = ifa->ifa_addr->sa_family;
    if (f != AF_INET && f != AF_INET6) continue;
    if (family != AF_UNSPEC && f != family) continue;
    if (f == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&reinterpret_cast<sockaddr_in6*>(ifa->ifa_addr)->sin6_addr)) continue;
    if (!InterfaceMatches(spec, ifa->ifa_name)) continue;
    bool isLoop = (ifa->ifa_flags & IFF_LOOPBACK) != 0;
    if (isLoop && spec.empty()) {
      if (!loopback || (loopback->ifa_addr->sa_family == AF_INET6 && f == AF_INET)) loopback = ifa;
      continue;
    }
    if (!best || (best->ifa_addr->sa_family == AF_INET6 && f == AF_INET)) best = ifa;
  }
  const ifaddrs* pick = best ? best : loopback;
  ccResult_t res = ccSuccess;
  if (!pick) {
    res = SetError(ccSystemError, "no network interface matches CONCCL_SOCKET_IFNAME='%s'", spec.c_str());
  } else {
    FillFromIfa(pick, addr);
    if (ifname) *ifname = pick->ifa_name;
  }
  freeifaddrs(list);
  return res;
}

ccResult_t FindAddressTowards(const SockAddr& remote, SockAddr* addr) {
  if (!EnvString("CONCCL_SOCKET_IFNAME").empty()) return FindInterfaceAddress(addr, nullptr);
  int fd = socket(remote.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return SetError(ccSystemError, "socket failed: %s", strerror(errno));
  ccResult_t res = ccSuccess;
  addr->len = sizeof(addr->storage);
  if (connect(fd, remote.sa(), remote.len) != 0 || getsockname(fd, addr->sa(), &addr->len) != 0) {
    res = FindInterfaceAddress(addr, nullptr);
  } else {
    addr->setPort(0);
  }
  close(fd);
  return res;
}

ccResult_t ParseHostPort(const std::string& text, SockAddr* addr) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return SetError(ccInvalidArgument, "bad address '%s' (expected [v6addr]:port)", text.c_str());
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon)
      return SetError(ccInvalidArgument, "bad address '%s' (expected host:port)", text.c_str());
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  char* end = nullptr;
  long p = strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != 0 || p <= 0 || p > 65535)
    return SetError(ccInvalidArgument, "bad port in address '%s'", text.c_str());
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) return SetError(ccInvalidArgument, "cannot resolve '%s': %s", host.c_str(), gai_strerror(rc));
  memset(&addr->storage, 0, sizeof(addr->storage));
  memcpy(&addr->storage, res->ai_addr, res->ai_addrlen);
  addr->len = res->ai_addrlen;
  addr->setPort(static_cast<uint16_t>(p));
  freeaddrinfo(res);
  return ccSuccess;
}

ccResult_t Listen(SockAddr* addr, int backlog, int* fd) {
  int s = socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return SetError(ccSystemError, "socket failed: %s", strerror(errno));
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(s, addr->sa(), addr->len) != 0 || listen(s, backlog) != 0) {
    int err = errno;
    close(s);
    return SetError(ccSystemError, "cannot listen on %s: %s", addr->ToString().c_str(), strerror(err));
  }
  socklen_t len = sizeof(addr->storage);
  getsockname(s, addr->sa(), &len);
  addr->len = len;
  *fd = s;
  return ccSuccess;
}

ccResult_t Connect(const SockAddr& addr, int64_t deadlineMs, int* fd, bool retryRefused) {
  int delayMs = 10;
  for (;;) {
    int s = socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) return SetError(ccSystemError, "socket failed: %s", strerror(errno));
    int rc = connect(s, addr.sa(), addr.len);
    int err = rc == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      ccResult_t res = PollFd(s, POLLOUT, deadlineMs, nullptr);
      if (res != ccSuccess) {
        close(s);
        return res;
      }
      socklen_t len = sizeof(err);
      getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
    }
    if (err == 0) {
      SetNoDelay(s);
      *fd = s;
      return ccSuccess;
    }
    close(s);
    bool retry = (retryRefused && err == ECONNREFUSED) || err == ETIMEDOUT || err == EAGAIN || err == ECONNRESET;
    if (!retry || (deadlineMs > 0 && NowMs() + delayMs > deadlineMs))
      return SetError(ccRemoteError, "connect to %s failed: %s", addr.ToString().c_str(), strerror(err));
    std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
    if (delayMs < 200) delayMs *= 2;
  }
}

ccResult_t Accept(int listenFd, int* fd) {
  *fd = accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (*fd >= 0) {
    SetNoDelay(*fd);
    return ccSuccess;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return ccSuccess;
  return SetError(ccSystemError, "accept failed: %s", strerror(errno));
}

ccResult_t SendAll(int fd, const void* buf, size_t len, int64_t deadlineMs, const std::atomic<bool>* abort) {
  const char* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      CC_CHECK(PollFd(fd, POLLOUT, deadlineMs, abort));
      continue;
    }
    return SetError(ccRemoteError, "send failed: %s", n < 0 ? strerror(errno) : "connection closed");
  }
  return ccSuccess;
}

ccResult_t RecvAll(int fd, void* buf, size_t len, int64_t deadlineMs, const std::atomic<bool>* abort) {
  char* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = recv(fd, p, len, 0);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      CC_CHECK(PollFd(fd, POLLIN, deadlineMs, abort));
      continue;
    }
    return SetError(ccRemoteError, "recv failed: %s", n < 0 ? strerror(errno) : "connection closed by peer");
  }
  return ccSuccess;
}

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

}  // namespace conccl
