// local.h — the transport between ranks that are threads of one process. A message is copied once,
// straight from the sender's buffer into the receiver's, by whichever side posts second.
#pragma once

#include <memory>

#include "transports/transport.h"

namespace conccl {

// Registers this rank's endpoint so peers in the same process can find it. Call before the rendezvous.
std::unique_ptr<Transport> CreateLocalTransport(const TransportContext& ctx);

}  // namespace conccl
