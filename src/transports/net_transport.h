// net_transport.h — the adapter that serves ConCCL's (peer, channel) transport interface over any net
// plugin table (include/conccl_net.h): the built-in tcp and shm tables (net_builtin.h) and external plugins.
//
// Connections: one listening endpoint per communicator and rank, opened before the rendezvous; its handle
// travels in RankInfo. The first send to (peer, channel) connects to the peer's handle and sends a hello
// (magic, communicator hash, secret, rank, channel) as the connection's first message; the receiver maps each
// accepted connection to (peer, channel) by its hello and drops connections whose hello is wrong.
//
// Messages larger than the device's maxMessageBytes M travel as floor(size / M) + 1 pieces (the last one
// shorter than M, possibly empty), so a receiver knows the end of a message without a header.
//
// Progress with an external plugin: a progress thread (bound near the device, CONCCL_BIND_PROGRESS) makes the plugin calls (under the
// plugin's lock), tests in-flight requests, completes ConCCL requests and rings the communicator's doorbell.
// It polls while work is in flight, yielding the CPU after a few idle rounds, and sleeps when there is none
// (accepting new connections every 10 ms). A thread waiting for a request also runs one round of that work
// (Progress) when the lock is free, so a completion does not wait for the progress thread to be scheduled.
// With a built-in table there is no such thread: the table rings the communicator's doorbell itself (tcp from
// its own engine thread, shm from the peer's process), and waiting threads do the adapter's work (Progress).
//
// Failure: a broken connection fails its messages with ccRemoteError and marks its peer dead; receives from a
// dead peer on channels it never connected fail at once instead of waiting for the communicator's timeout. A
// peer also counts as dead when a built-in reports it gone (peerGone) or, on this host, when its process exited.
#pragma once

#include <memory>
#include <string>

#include "conccl_net.h"
#include "core/bootstrap.h"
#include "transports/transport.h"

namespace conccl {

// Opens the listening endpoint of device dev of a plugin, writing its handle (CC_NET_HANDLE_MAXSIZE bytes).
ccResult_t NetListen(const ccNet_v1_t* net, int dev, uint8_t* handle, void** listenComm);

// The adapter. Peers' listen handles come from ctx.peers[p].netHandle[slot]. Takes ownership of listenComm. A
// built-in's doorbell must already be bound (NetBuiltinOps::bindDoorbell) to ctx.doorbell's word.
std::unique_ptr<Transport> CreateNetTransport(const TransportContext& ctx, const ccNet_v1_t* net, int dev,
                                              void* listenComm, const std::string& pciPath, NetSlot slot);

}  // namespace conccl
