// transport.h — the internal transport interface the schedules see, per (peer, channel). Implementations:
// local (threads of one process, transports/local.h) and the net adapter (transports/net_transport.h), which
// serves any ccNet_v1_t table (include/conccl_net.h): the built-in shm and tcp tables and external plugins.
//
// Contract:
// - Messages between (this rank -> peer, channel) are delivered in posting order (FIFO per direction and
//   channel). A receive of capacity C accepts a message of at most C bytes; a larger one fails the
//   receive with ccRemoteError ("message larger than the posted buffer"), never writes past C.
// - Isend/Irecv return a Request owned by the transport until Test reports it finished (done or error);
//   the caller then calls Release. The buffer must stay valid until then.
// - Completion or progress rings the owning communicator's doorbell, so a waiter can sleep on it.
// - Shutdown() fails every pending and later request with ccRemoteError and makes peers notice (their
//   requests on connections to us fail too). It is idempotent and may be called from any thread.
// - Transports know nothing of collectives, codecs or communicators beyond the TransportContext.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "conccl.h"
#include "core/bootstrap.h"
#include "transports/doorbell.h"

namespace conccl {

enum class RequestState : int { kPending = 0, kDone = 1, kFailed = 2 };

struct Request {
  std::atomic<RequestState> state{RequestState::kPending};
  ccResult_t error = ccSuccess;
  size_t bytes = 0;  // bytes received (receives) or sent (sends), valid when done
  std::string message;  // why it failed
  virtual ~Request() = default;
  void Complete(size_t n) {
    bytes = n;
    state.store(RequestState::kDone, std::memory_order_release);
  }
  void Fail(ccResult_t code, std::string why) {
    if (state.load(std::memory_order_acquire) != RequestState::kPending) return;
    error = code;
    message = std::move(why);
    state.store(RequestState::kFailed, std::memory_order_release);
  }
};

// What a transport knows of the communicator it serves.
struct TransportContext {
  int rank = 0;
  int nranks = 0;
  uint64_t commHash = 0;                 // identifies the communicator (from its secret)
  uint8_t secret[kSecretBytes] = {0};    // presented on every tcp connection
  const std::vector<RankInfo>* peers = nullptr;
  Doorbell* doorbell = nullptr;          // this rank's doorbell, rung on progress
  const std::atomic<bool>* aborted = nullptr;
  int64_t connectTimeoutMs = 120000;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const char* Name() const = 0;
  virtual ccResult_t Isend(int peer, int channel, const void* data, size_t bytes, Request** req) = 0;
  virtual ccResult_t Irecv(int peer, int channel, void* data, size_t capacity, Request** req) = 0;
  // Drives progress that needs the caller's thread (shm copies). Returns true if anything moved.
  virtual bool Progress() { return false; }
  virtual void Release(Request* req) { delete req; }
  virtual void Shutdown() = 0;
};

}  // namespace conccl
