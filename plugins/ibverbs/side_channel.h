// side_channel.h — the small non-blocking TCP channel that carries the ib connection info (conn_info.h)
// and then stays open for the life of the connection, so that either side learns when the other one is
// gone (an RDMA write to a dead peer only fails after the retry timeout; a receiver waiting on a dead
// sender would otherwise wait forever). Every call returns at once.
#ifndef CONCCL_PLUGINS_IBVERBS_SIDE_CHANNEL_H_
#define CONCCL_PLUGINS_IBVERBS_SIDE_CHANNEL_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace ccib {

enum class IoStatus { kDone, kAgain, kClosed, kError };

// The address the listener binds and advertises. With ifSpec (CONCCL_SOCKET_IFNAME syntax: prefix list,
// ^ excludes, = exact) non-empty: the first up IPv4 address of a matching interface (loopback included).
// Otherwise the IPv4 address of an IPv4-mapped RoCE GID when there is one (gid may be NULL), else the first
// up, non-loopback IPv4 interface address. Last resort: 127.0.0.1.
void ChooseListenAddress(const uint8_t* gid, const std::string& ifSpec, sockaddr_storage* out);

// Opens a non-blocking listening socket on addr (port 0 = any) and writes the bound address to *bound.
int ListenTcp(const sockaddr_storage& addr, int* fd, sockaddr_storage* bound, std::string* err);
// Accepts one pending connection (non-blocking); *fd = -1 when none is waiting.
int AcceptTcp(int listenFd, int* fd, std::string* err);
// Starts a non-blocking connect.
int ConnectTcp(const sockaddr_storage& addr, int* fd, std::string* err);
// kDone once a started connect has completed, kAgain while in progress, kError (with *err) on failure.
IoStatus ConnectDone(int fd, std::string* err);

// Sends / receives buf[*done..len) as far as possible without blocking, advancing *done.
IoStatus SendSome(int fd, const uint8_t* buf, size_t len, size_t* done);
IoStatus RecvSome(int fd, uint8_t* buf, size_t len, size_t* done);
// True when the peer has closed its end (or the connection broke).
bool PeerClosed(int fd);

uint64_t NowMs();
uint64_t RandomU64();

}  // namespace ccib

#endif  // CONCCL_PLUGINS_IBVERBS_SIDE_CHANNEL_H_
