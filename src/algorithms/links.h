// links.h — what a schedule sees of its communicator: ranks, point-to-point requests on numbered
// channels, and a way to wait. Implemented by the core (Comm); schedules never name a transport.
//
// Contract: messages from this rank to `peer` on `channel` arrive in posting order. Test() releases a
// request once it is finished (done or failed); a failed request returns its error code and sets the
// error message. WaitForProgress() sleeps until some request may have advanced, and fails with
// ccTimeout (no progress for the communicator's timeout) or ccRemoteError (aborted, peer lost).
#pragma once

#include <cstddef>
#include <cstdint>

#include "conccl.h"
#include "transports/transport.h"

namespace conccl {

// Channel numbers: each schedule streams on its own channels so their FIFOs never interleave.
enum Channel : int {
  kChanControl = 0,  // per-operation headers
  kChanRing = 1,
  kChanTree0 = 2,
  kChanTree1 = 3,
  kChanP2p = 4,
  kChanChain = 5,    // broadcast / reduce chains
};

class Links {
 public:
  virtual ~Links() = default;
  virtual int Rank() const = 0;
  virtual int NRanks() const = 0;
  virtual size_t ChunkBytes() const = 0;
  virtual ccResult_t Isend(int peer, int channel, const void* data, size_t bytes, Request** req) = 0;
  virtual ccResult_t Irecv(int peer, int channel, void* data, size_t capacity, Request** req) = 0;
  virtual ccResult_t Test(Request* req, bool* done, size_t* bytes) = 0;
  virtual ccResult_t WaitForProgress() = 0;
  // Fails and releases a request that will not be waited for (error paths).
  virtual void Drop(Request* req) = 0;
  // Local arithmetic, done by whatever kernels serve the buffers (CPU here): dst = a op b elementwise
  // (ccAvg reduces as sum), and data /= divisor (the last step of ccAvg).
  virtual void Reduce(void* dst, const void* a, const void* b, size_t count, ccDataType_t type, ccRedOp_t op) = 0;
  virtual void Divide(void* data, size_t count, ccDataType_t type, int divisor) = 0;
};

}  // namespace conccl
