// comm.cc — see comm.h.
#include "core/comm.h"

#include <chrono>
#include <thread>

#include "common/result.h"
#include "common/socket.h"
#include "kernels/cpu/reduce.h"

using conccl::Request;
using conccl::RequestState;

ccResult_t ccComm::Isend(int peer, int channel, const void* data, size_t bytes, Request** req) {
  if (aborted.load()) return conccl::SetError(ccRemoteError, "communicator was aborted");
  bytesSent.fetch_add(bytes, std::memory_order_relaxed);
  return route[peer]->Isend(peer, channel, data, bytes, req);
}

ccResult_t ccComm::Irecv(int peer, int channel, void* data, size_t capacity, Request** req) {
  if (aborted.load()) return conccl::SetError(ccRemoteError, "communicator was aborted");
  return route[peer]->Irecv(peer, channel, data, capacity, req);
}

ccResult_t ccComm::Test(Request* req, bool* done, size_t* bytes) {
  RequestState st = req->state.load(std::memory_order_acquire);
  if (st == RequestState::kPending) {
    *done = false;
    return ccSuccess;
  }
  *done = true;
  *bytes = req->bytes;
  ccResult_t code = req->error;
  std::string msg = req->message;
  delete req;
  if (st == RequestState::kFailed) return conccl::SetError(code, "rank %d: %s", rank, msg.c_str());
  return ccSuccess;
}

ccResult_t ccComm::WaitForProgress() {
  bool moved = false;
  uint32_t seen = bell.Value();
  if (shm) moved |= shm->Progress();
  if (tcp) moved |= tcp->Progress();
  if (net) moved |= net->Progress();
  if (moved || seen != seenBell) {
    seenBell = seen;
    lastProgressMs = conccl::NowMs();
    return ccSuccess;
  }
  if (aborted.load()) return conccl::SetError(ccRemoteError, "communicator was aborted");
  if (opts.timeoutMs > 0 && conccl::NowMs() - lastProgressMs > opts.timeoutMs)
    return conccl::SetError(ccTimeout, "rank %d: no progress for %lld ms (CONCCL_TIMEOUT_MS)", rank,
                            (long long)opts.timeoutMs);
  // Watch the doorbell a little before sleeping on it when same-host peers may ring it soon (they ring it
  // whenever they move data); only the word is polled, so a spinning rank takes little from the peers it
  // waits for.
  for (int i = 0; i < opts.spin && shm; ++i) {
    if (bell.Value() != seen) {
      seenBell = bell.Value();
      lastProgressMs = conccl::NowMs();
      return ccSuccess;
    }
    conccl::CpuRelax();
  }
  bell.Wait(seen, shm || tcp || net ? 20 : 200);
  return ccSuccess;
}

void ccComm::Drop(Request* req) {
  if (req->state.load(std::memory_order_acquire) != RequestState::kPending) {
    delete req;
    return;
  }
  // A pending request dropped on an error path may still be written by its transport, into a buffer that
  // the schedule is about to free: stop the transports now (the call fails the communicator anyway).
  droppedPending.store(true);
  ShutdownTransports();
  std::lock_guard<std::mutex> lock(orphanMu);
  orphans.push_back(req);  // freed at destroy
}

void ccComm::Reduce(void* dst, const void* a, const void* b, size_t count, ccDataType_t type, ccRedOp_t op) {
  conccl::ReduceInto(dst, a, b, count, type, op);
}

void ccComm::Divide(void* data, size_t count, ccDataType_t type, int divisor) {
  conccl::DivideInPlace(data, count, type, divisor);
}

void ccComm::BeginCall() {
  seenBell = bell.Value();
  lastProgressMs = conccl::NowMs();
}

void ccComm::Fail(ccResult_t code) {
  int expected = ccSuccess;
  asyncError.compare_exchange_strong(expected, code);
  ShutdownTransports();
}

void ccComm::ShutdownTransports() {
  for (auto* t : {local.get(), shm.get(), tcp.get(), net.get()})
    if (t) t->Shutdown();
}

namespace conccl {

ccResult_t CheckComm(const ccComm* comm) {
  if (!comm) return SetError(ccInvalidArgument, "comm is NULL");
  uint32_t m = comm->magic.load();
  if (m == kCommDeadMagic) return SetError(ccInvalidUsage, "communicator was destroyed or aborted");
  if (m != kCommMagic) return SetError(ccInvalidArgument, "comm %p is not a ConCCL communicator", (const void*)comm);
  return ccSuccess;
}

ccResult_t DestroyComm(ccComm* comm, bool abort) {
  if (!abort && comm->executor) comm->executor->Drain();  // destroy finishes the queued stream work first
  uint32_t expected = kCommMagic;
  if (!comm->magic.compare_exchange_strong(expected, kCommDeadMagic))
    return SetError(ccInvalidUsage, "communicator was already destroyed or aborted");
  if (abort) comm->aborted.store(true);
  comm->ShutdownTransports();
  if (comm->executor) comm->executor->Stop(true);  // releases every stream still waiting on this comm
  comm->bell.Ring();
  // Calls in other threads return promptly once their requests fail; wait for them to leave.
  for (int i = 0; comm->activeCalls.load() > 0 && i < 30000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (comm->activeCalls.load() > 0)  // freeing now would pull memory from under that call: leak instead
    return SetError(ccInternalError, "rank %d: a call on this communicator did not return within 30 s of %s; "
                    "its resources are left allocated", comm->rank, abort ? "abort" : "destroy");
  ccResult_t res = ccSuccess;
  {
    std::lock_guard<std::mutex> lock(comm->orphanMu);
    for (Request* r : comm->orphans) delete r;
    comm->orphans.clear();
  }
  comm->net.reset();
  comm->tcp.reset();
  comm->bell.Attach(&comm->localBell);  // the shared word goes away with the shm endpoint
  comm->shm.reset();
  comm->local.reset();
  std::vector<conccl::Transport*>().swap(comm->route);  // the tombstone keeps no memory but its own struct
  std::vector<conccl::RankInfo>().swap(comm->peers);
  comm->hosts = conccl::HostLayout{};
  comm->residuals.reset();
  comm->keyStats.clear();
  comm->executor.reset();
  CC_INFO(kLogInit, "comm %p rank %d %s", (void*)comm, comm->rank, abort ? "aborted" : "destroyed");
  return res;
}

}  // namespace conccl
