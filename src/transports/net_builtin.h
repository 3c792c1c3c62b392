// net_builtin.h — the built-in net plugins (tcp: sockets, shm: shared-memory rings) and what they offer the
// adapter (net_transport.h) beyond the public ccNet_v1_t ABI (include/conccl_net.h).
//
// Both tables implement the ABI in full and can be driven like any external plugin (the ABI tests do). Inside
// a communicator the adapter uses three extensions, so that a waiting rank sleeps instead of polling:
// - bindDoorbell: the plugin rings a doorbell word whenever something happens on a comm made from a listen
//   endpoint (a request finished, a connection arrived, a peer went away). tcp rings the word it is given (a
//   process-local one); shm ignores it and returns the word in its own shared segment, which other processes
//   ring — the communicator's doorbell must then sleep on that word.
// - connectFrom: connect() on behalf of a listen endpoint, so the new sendComm shares its progress thread (tcp)
//   and its doorbell (shm: the receiver rings the sender's word when ring space frees up).
// - peerGone: whether the far end of an idle connection closed or died, so receives on channels that peer never
//   connected can fail at once. Messages it sent before going can still be received.
// Built-in tables are thread-safe: calls on different comms may run concurrently (the adapter does not take
// the one-call-at-a-time plugin lock for them). Calls on one comm must still be serialised by the caller.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/socket.h"
#include "conccl_net.h"
#include "transports/doorbell.h"

namespace conccl {

struct NetBuiltinOps {
  // Returns the word the plugin rings for comms of listenComm: `word` (tcp) or its own shared word (shm). The
  // returned word stays valid until closeListen. Call before the first connectFrom / accept.
  DoorbellWord* (*bindDoorbell)(void* listenComm, DoorbellWord* word);
  // connect() for the endpoint listenComm (same contract as ccNet_v1_t::connect).
  int (*connectFrom)(void* listenComm, int dev, const void* handle, void** sendComm);
  // 1 when the far end of comm (send or receive side) closed it or died; 0 otherwise.
  int (*peerGone)(void* comm);
};

const ccNet_v1_t* NetTcpTable();
const ccNet_v1_t* NetShmTable();
const NetBuiltinOps* NetTcpOps();
const NetBuiltinOps* NetShmOps();

// The extensions of a built-in table; nullptr for any other (external) table.
inline const NetBuiltinOps* NetBuiltinExtensions(const ccNet_v1_t* net) {
  return net == NetTcpTable() ? NetTcpOps() : net == NetShmTable() ? NetShmOps() : nullptr;
}

// Shared by the built-in tables: a random 64-bit id (connection ids, nonces); init() with nothing to set up;
// devices() = 1; regMr/deregMr for host memory, which needs no registration (CUDA pointers: unsupported).
uint64_t NetRandomU64();
int NetBuiltinInit(ccNetLogger_v1_t logger);
int NetBuiltinOneDevice(int* ndev);
int NetHostRegMr(void* comm, void* data, size_t size, int ptrType, void** mhandle);
int NetHostDeregMr(void* comm, void* mhandle);

// tcp's listen() on a given address (a rank listens on the interface that reaches its bootstrap root; listen()
// itself picks CONCCL_SOCKET_IFNAME's or the first up interface). Writes the handle like listen().
ccResult_t NetTcpListenOn(const SockAddr& addr, uint8_t* handle, void** listenComm);

// The listener address and nonce in a tcp handle; false when it is not one (tools and wire tests).
bool NetTcpHandleAddress(const void* handle, SockAddr* addr, uint64_t* nonce);

// How the tcp plugin splits a message of `total` bytes over `nsocks` sockets: part i is
// [*offset, *offset + *len). Socket 0 always carries a part (possibly empty); small messages go whole on it.
void TcpPartRange(size_t total, int nsocks, int i, size_t* offset, size_t* len);

}  // namespace conccl
