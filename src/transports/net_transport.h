// net_transport.h — the adapter that serves ConCCL's (peer, channel) transport interface over any net
// plugin table (include/conccl_net.h).
//
// Connections: one listening endpoint per communicator and rank, opened before the rendezvous; its handle
// travels in RankInfo. The first send to (peer, channel) connects to the peer's handle and sends a hello
// (magic, communicator hash, secret, rank, channel) as the connection's first message; the receiver maps each
// accepted connection to (peer, channel) by its hello and drops connections whose hello is wrong.
//
// Messages larger than the device's maxMessageBytes M travel as floor(size / M) + 1 pieces (the last one
// shorter than M, possibly empty), so a receiver knows the end of a message without a header.
//
// Progress: a progress thread (bound near the device, CONCCL_BIND_PROGRESS) makes the plugin calls (under the
// plugin's lock), tests in-flight requests, completes ConCCL requests and rings the communicator's doorbell.
// It polls while work is in flight, yielding the CPU after a few idle rounds, and sleeps when there is none
// (accepting new connections every 10 ms). A thread waiting for a request also runs one round of that work
// (Progress) when the lock is free, so a completion does not wait for the progress thread to be scheduled.
//
// Failure: a broken connection fails its messages with ccRemoteError and marks its peer dead; receives from a
// dead peer on channels it never connected fail at once instead of waiting for the communicator's timeout.
#pragma once

#include <memory>
#include <string>

#include "conccl_net.h"
#include "transports/transport.h"

namespace conccl {

// Opens the listening endpoint of device dev of a plugin, writing its handle (CC_NET_HANDLE_MAXSIZE bytes).
ccResult_t NetListen(const ccNet_v1_t* net, int dev, uint8_t* handle, void** listenComm);

// The adapter. Peers' listen handles come from ctx.peers[p].netHandle. Takes ownership of listenComm.
std::unique_ptr<Transport> CreateNetTransport(const TransportContext& ctx, const ccNet_v1_t* net, int dev,
                                              void* listenComm, const std::string& pciPath);

}  // namespace conccl
