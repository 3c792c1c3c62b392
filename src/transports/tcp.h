// tcp.h — the socket transport: several non-blocking sockets per (peer, channel, direction), a progress
// thread on epoll that sleeps when idle, and a secret-checked handshake on every accepted connection.
//
// Wire format of a message: each socket that carries part of it sends a PartHeader (magic, socket index,
// message sequence number, total bytes) then its part; socket 0 always carries the header. The receiver
// checks magic, sequence and size against the posted receive before writing anything.
#pragma once

#include <memory>

#include "common/socket.h"
#include "transports/transport.h"

namespace conccl {

// listenFd: a listening socket (address published in this rank's RankInfo); the transport takes it.
std::unique_ptr<Transport> CreateTcpTransport(const TransportContext& ctx, int listenFd);

// How a message of `total` bytes is split over `nsocks` sockets: part i is [*offset, *offset + *len).
void TcpPartRange(size_t total, int nsocks, int i, size_t* offset, size_t* len);

}  // namespace conccl
