// shm.h — the shared-memory transport between processes on one host. Each (sender -> receiver, channel)
// has a POSIX shared-memory ring buffer (CONCCL_SHM_BUFFSIZE bytes) created by the sender; data moves
// sender buffer -> ring -> receiver buffer, driven by the waiting threads (Progress), which sleep on the
// rank's shared doorbell (a futex) when nothing can move. A peer that dies is noticed from /proc.
//
// Wire format in the ring: per message a 16-byte header (magic, bytes) then the payload; the receiver
// checks the magic and that bytes <= its posted capacity before copying.
#pragma once

#include <memory>

#include "transports/transport.h"

namespace conccl {

// Creates this rank's doorbell segment and attaches ctx.doorbell to it (so peers can wake this rank).
// Must be created before the rank's other transports are used.
ccResult_t CreateShmTransport(const TransportContext& ctx, std::unique_ptr<Transport>* out);

}  // namespace conccl
