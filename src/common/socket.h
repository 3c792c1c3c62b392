// socket.h — socket helpers shared by bootstrap and the tcp transport: addresses, interface choice
// (CONCCL_SOCKET_IFNAME), listen/connect, and deadline-bounded full reads and writes.
//
// Contract: every blocking helper takes an absolute deadline (steady clock, ms; 0 = none) and returns
// ccTimeout when it passes, ccRemoteError when the peer closes or resets, ccSystemError for local
// failures. Sockets are non-blocking and close-on-exec.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "conccl.h"

namespace conccl {

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* sa() { return reinterpret_cast<sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  uint16_t port() const;
  void setPort(uint16_t port);
  std::string ToString() const;  // "1.2.3.4:5" or "[::1]:5"
};

// Milliseconds on the steady clock; the time base of every deadline.
int64_t NowMs();
inline int64_t DeadlineAfter(int64_t timeoutMs) { return timeoutMs > 0 ? NowMs() + timeoutMs : 0; }

// Picks this host's address for listening: the first interface matching CONCCL_SOCKET_IFNAME (prefix
// list, '^' excludes, '=' exact), else the first non-loopback up interface, else loopback. `ifname`
// receives the interface name.
ccResult_t FindInterfaceAddress(SockAddr* addr, std::string* ifname);

// The interface address that routes to `remote` (via a UDP connect), for ranks joining a given root.
ccResult_t FindAddressTowards(const SockAddr& remote, SockAddr* addr);

// Parses "host:port", "[v6]:port" or "v4" + separate port. Host may be a name (resolved).
ccResult_t ParseHostPort(const std::string& text, SockAddr* addr);

// Creates a listening socket on addr (port 0 = any; the chosen port is written back).
ccResult_t Listen(SockAddr* addr, int backlog, int* fd);

// Connects to addr, retrying refused connections until the deadline when retryRefused (a listener that
// may not be up yet); otherwise a refusal fails at once with ccRemoteError (a listener that is gone).
ccResult_t Connect(const SockAddr& addr, int64_t deadlineMs, int* fd, bool retryRefused = true);

// Accepts one pending connection (non-blocking; *fd = -1 if none is pending).
ccResult_t Accept(int listenFd, int* fd);

// Full write/read of len bytes, polling until the deadline. `abort`, when given, is checked each poll.
ccResult_t SendAll(int fd, const void* buf, size_t len, int64_t deadlineMs, const std::atomic<bool>* abort = nullptr);
ccResult_t RecvAll(int fd, void* buf, size_t len, int64_t deadlineMs, const std::atomic<bool>* abort = nullptr);

void SetNoDelay(int fd);
void CloseFd(int* fd);

}  // namespace conccl
