// stream_executor.h — collectives on device buffers, ordered on the caller's stream and run without
// blocking the caller (the CUDA execution model of DESIGN.md, as NCCL does it).
//
// Enqueue puts on the caller's stream: copies of the device inputs to pinned host staging, an event
// ("inputs staged"), a wait on a host word, and copies of the results back. The executor's thread (one per
// communicator) waits for the event, runs the collective on the host views, and writes the op's ticket into
// the word; the stream then goes on to the copies back. The caller returns after enqueueing.
//
// Guarantees:
//  - operations run in enqueue order, and a host-buffer call on the same communicator first waits for the
//    queued ones (Drain), so the communicator's call order is the caller's;
//  - every enqueued wait is released, whatever happens: a failed collective records its error in the
//    communicator's async error (ccCommGetAsyncError) and leaves the device result untouched; Stop(abort)
//    releases all waits without running the queued collectives. Nothing on a stream waits forever.
//  - a rank's stream must be its own (as in NCCL): ranks of one process that share a stream would wait on
//    each other's staging copies behind their own waits.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "conccl.h"
#include "core/stream_ops.h"

struct ccComm;

namespace conccl {

// The buffers of one call: send[0, sendBytes) is read, recv[0, recvBytes) is written (ranges may overlap).
struct CallBuffers {
  ccStream_t stream;
  const void* send;
  size_t sendBytes;
  void* recv;
  size_t recvBytes;
};

class StreamExecutor {
 public:
  // body(hostSend, hostRecv) runs the collective on host memory and returns its result.
  using Body = std::function<ccResult_t(const void* hostSend, void* hostRecv)>;

  StreamExecutor(ccComm* comm, std::unique_ptr<StreamOps> ops);
  ~StreamExecutor();  // Stop(true)
  StreamExecutor(const StreamExecutor&) = delete;
  StreamExecutor& operator=(const StreamExecutor&) = delete;

  // Stages b and enqueues body. Returns once the stream holds the work (ccSuccess), or an error when the
  // stream could not take it; in that case nothing of this call runs, and nothing waits for it.
  ccResult_t Enqueue(const CallBuffers& b, Body body);
  // Waits until every enqueued operation has run (not for the streams' copies back). Not on the executor's
  // own thread.
  void Drain();
  // True when p is memory this executor's device side owns (device memory for CUDA).
  bool IsDevice(const void* p) const { return ops_->IsDevice(p); }
  // True while operations are queued or running.
  bool Busy() const;
  // True on the executor's thread (a collective running there must not Drain).
  bool OnExecutorThread() const { return std::this_thread::get_id() == worker_.get_id(); }
  // Ends the thread. abort: the queued collectives do not run (their waits are released); else they run
  // first. Idempotent.
  void Stop(bool abort);

 private:
  struct Op;
  void Run();
  void Release(uint32_t ticket);
  ccResult_t Stage(const CallBuffers& b, Op* op);
  void Retire(Op* op);
  // Pinned staging is pooled and freed only by the destructor: cudaFreeHost synchronizes the whole device,
  // and on the executor's thread that would wait for other ranks' streams, which may be waiting for this
  // rank's next collective.
  ccResult_t AcquireHost(size_t bytes, void** p);
  void ReleaseHost(void* p);

  ccComm* comm_;
  std::unique_ptr<StreamOps> ops_;
  volatile uint32_t* word_ = nullptr;  // pinned: the streams' waits read it
  uint32_t nextTicket_ = 0;            // caller thread only
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op*> queue_;
  struct Pinned {
    void* p;
    size_t bytes;
  };
  std::vector<Pinned> freePinned_;  // under mu_
  std::vector<Pinned> allPinned_;   // under mu_
  size_t running_ = 0;
  bool stopping_ = false;
  std::atomic<bool> abort_{false};
  std::thread worker_;
};

}  // namespace conccl
