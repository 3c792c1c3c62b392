// side_channel.cc — non-blocking TCP helpers for the ib connection handshake and liveness.
#include "side_channel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "gid_select.h"
#include "hca_filter.h"

namespace ccib {

static socklen_t AddrLen(const sockaddr_storage& a) {
  return a.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

static std::string SysError(const char* what) { return std::string(what) + ": " + strerror(errno); }

void ChooseListenAddress(const uint8_t* gid, const std::string& ifSpec, sockaddr_storage* out) {
  *out = sockaddr_storage{};
  auto* in = reinterpret_cast<sockaddr_in*>(out);
  in->sin_family = AF_INET;
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  HcaFilter filter;  // interface names use the same list syntax as device names
  std::string ignored;
  bool filtered = !ifSpec.empty() && filter.Parse(ifSpec, &ignored);
  if (!filtered && gid && GidIsIpv4Mapped(gid)) {
    memcpy(&in->sin_addr, gid + 12, 4);
    return;
  }
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP)) continue;
    if (filtered ? !filter.Matches(i->ifa_name, 1) : (i->ifa_flags & IFF_LOOPBACK) != 0) continue;
    memcpy(&in->sin_addr, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
    break;
  }
  freeifaddrs(list);
}

static void MakeNonBlocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int ListenTcp(const sockaddr_storage& addr, int* fd, sockaddr_storage* bound, std::string* err) {
  int s = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return *err = SysError("socket"), errno;
  socklen_t len = sizeof(*bound);
  if (bind(s, reinterpret_cast<const sockaddr*>(&addr), AddrLen(addr)) != 0 || listen(s, 64) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(bound), &len) != 0) {
    int e = errno;
    *err = SysError("bind/listen of the ib side channel");
    close(s);
    return e;
  }
  MakeNonBlocking(s);
  *fd = s;
  return 0;
}

int AcceptTcp(int listenFd, int* fd, std::string* err) {
  *fd = accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
  if (*fd >= 0) {
    MakeNonBlocking(*fd);
    return 0;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EINTR) return 0;
  *err = SysError("accept on the ib side channel");
  return errno;
}

int ConnectTcp(const sockaddr_storage& addr, int* fd, std::string* err) {
  int s = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return *err = SysError("socket"), errno;
  MakeNonBlocking(s);
  if (connect(s, reinterpret_cast<const sockaddr*>(&addr), AddrLen(addr)) != 0 && errno != EINPROGRESS) {
    int e = errno;
    *err = SysError("connect to the ib side channel");
    close(s);
    return e;
  }
  *fd = s;
  return 0;
}

IoStatus ConnectDone(int fd, std::string* err) {
  pollfd p = {fd, POLLOUT, 0};
  if (poll(&p, 1, 0) == 0) return IoStatus::kAgain;
  int e = 0;
  socklen_t len = sizeof(e);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0) e = errno;
  if (e == 0) return IoStatus::kDone;
  *err = std::string("connect to the ib side channel: ") + strerror(e);
  return IoStatus::kError;
}

IoStatus SendSome(int fd, const uint8_t* buf, size_t len, size_t* done) {
  while (*done < len) {
    ssize_t n = send(fd, buf + *done, len - *done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      *done += n;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::kAgain;
    return errno == EPIPE || errno == ECONNRESET ? IoStatus::kClosed : IoStatus::kError;
  }
  return IoStatus::kDone;
}

IoStatus RecvSome(int fd, uint8_t* buf, size_t len, size_t* done) {
  while (*done < len) {
    ssize_t n = recv(fd, buf + *done, len - *done, MSG_DONTWAIT);
    if (n > 0) {
      *done += n;
      continue;
    }
    if (n == 0) return IoStatus::kClosed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::kAgain;
    return errno == ECONNRESET ? IoStatus::kClosed : IoStatus::kError;
  }
  return IoStatus::kDone;
}

bool PeerClosed(int fd) {
  uint8_t b;
  ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
  if (n == 0) return true;
  return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

uint64_t NowMs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000 + t.tv_nsec / 1000000;
}

uint64_t RandomU64() {
  uint64_t v = 0;
  if (getrandom(&v, sizeof(v), 0) != sizeof(v)) v = NowMs() * 0x9e3779b97f4a7c15ull ^ getpid();
  return v;
}

}  // namespace ccib
