// stream_executor.cc — see stream_executor.h.
#include "core/stream_executor.h"

#include <algorithm>

#include "common/log.h"
#include "common/result.h"
#include "core/comm.h"

namespace conccl {

struct StreamExecutor::Op {
  uint32_t ticket = 0;
  Body body;
  void* ready = nullptr;  // event: the inputs are in host staging
  void* done = nullptr;   // event: the stream is past the copies back (staging may be freed)
  void* staging[2] = {nullptr, nullptr};
  const void* hostSend = nullptr;
  void* hostRecv = nullptr;
};

StreamExecutor::StreamExecutor(ccComm* comm, std::unique_ptr<StreamOps> ops) : comm_(comm), ops_(std::move(ops)) {
  void* w = nullptr;
  if (ops_->AllocHost(sizeof(uint32_t), &w) == ccSuccess) {
    word_ = static_cast<volatile uint32_t*>(w);
    *word_ = 0;
  }
  worker_ = std::thread([this] { Run(); });
}

StreamExecutor::~StreamExecutor() {
  Stop(true);
  for (const Pinned& p : allPinned_) ops_->FreeHost(p.p);
  if (word_) ops_->FreeHost(const_cast<uint32_t*>(word_));
}

ccResult_t StreamExecutor::AcquireHost(size_t bytes, void** p) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto best = freePinned_.end();  // the smallest free buffer that fits
    for (auto it = freePinned_.begin(); it != freePinned_.end(); ++it)
      if (it->bytes >= bytes && (best == freePinned_.end() || it->bytes < best->bytes)) best = it;
    if (best != freePinned_.end()) {
      *p = best->p;
      freePinned_.erase(best);
      return ccSuccess;
    }
  }
  CC_CHECK(ops_->AllocHost(bytes, p));
  std::lock_guard<std::mutex> lock(mu_);
  allPinned_.push_back({*p, bytes});
  return ccSuccess;
}

void StreamExecutor::ReleaseHost(void* p) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Pinned& k : allPinned_)
    if (k.p == p) freePinned_.push_back(k);
}

ccResult_t StreamExecutor::Stage(const CallBuffers& b, Op* op) {
  bool sendDev = b.sendBytes && ops_->IsDevice(b.send);
  bool recvDev = b.recvBytes && ops_->IsDevice(b.recv);
  auto s = static_cast<const uint8_t*>(b.send);
  auto r = static_cast<uint8_t*>(b.recv);
  op->hostSend = b.send;
  op->hostRecv = b.recv;
  if (sendDev && recvDev && s < r + b.recvBytes && r < s + b.sendBytes) {  // in place: one copy of the union
    const uint8_t* lo = std::min<const uint8_t*>(s, r);
    size_t bytes = static_cast<size_t>(std::max<const uint8_t*>(s + b.sendBytes, r + b.recvBytes) - lo);
    CC_CHECK(AcquireHost(bytes, &op->staging[0]));
    CC_CHECK(ops_->CopyAsync(op->staging[0], lo, bytes, b.stream));
    op->hostSend = static_cast<uint8_t*>(op->staging[0]) + (s - lo);
    op->hostRecv = static_cast<uint8_t*>(op->staging[0]) + (r - lo);
    return ccSuccess;
  }
  if (sendDev) {
    CC_CHECK(AcquireHost(b.sendBytes, &op->staging[0]));
    CC_CHECK(ops_->CopyAsync(op->staging[0], b.send, b.sendBytes, b.stream));
    op->hostSend = op->staging[0];
  }
  if (recvDev) {  // fetched as well: parts a collective leaves alone must come back unchanged
    CC_CHECK(AcquireHost(b.recvBytes, &op->staging[1]));
    CC_CHECK(ops_->CopyAsync(op->staging[1], b.recv, b.recvBytes, b.stream));
    op->hostRecv = op->staging[1];
  }
  return ccSuccess;
}

void StreamExecutor::Retire(Op* op) {
  for (void* e : {op->ready, op->done})
    if (e) ops_->DestroyEvent(e);
  for (void* p : op->staging)
    if (p) ReleaseHost(p);
  delete op;
}

ccResult_t StreamExecutor::Enqueue(const CallBuffers& b, Body body) {
  if (!word_) return SetError(ccSystemError, "rank %d: no pinned host word for stream waits", comm_->rank);
  std::unique_ptr<Op> op(new Op);
  op->body = std::move(body);
  ccResult_t res = Stage(b, op.get());
  if (res == ccSuccess) res = ops_->RecordEvent(b.stream, &op->ready);
  if (res == ccSuccess) res = ops_->WaitWordAsync(word_, nextTicket_ + 1, b.stream);
  if (res != ccSuccess) {  // nothing waits for this op: undo it
    // Copies already queued may still write into the staging: wait for them before it goes back to the
    // pool, or keep it out of the pool (freed with the executor) when even that cannot be known.
    bool staged = op->staging[0] || op->staging[1];
    if (!op->ready && staged && ops_->RecordEvent(b.stream, &op->ready) != ccSuccess)
      op->staging[0] = op->staging[1] = nullptr;
    if (op->ready) ops_->WaitEvent(op->ready);
    Retire(op.release());
    return res;
  }
  op->ticket = ++nextTicket_;
  // From here the stream waits for this ticket, so the op is queued whatever fails below: it runs (the
  // peers take part in it too) and releases the wait; the caller is told its result will not come back.
  bool recvDev = b.recvBytes && op->hostRecv != b.recv;
  if (recvDev) res = ops_->CopyAsync(b.recv, op->hostRecv, b.recvBytes, b.stream);
  ccResult_t doneRes = ops_->RecordEvent(b.stream, &op->done);
  if (res == ccSuccess) res = doneRes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(op.release());
  }
  cv_.notify_all();
  return res;
}

void StreamExecutor::Release(uint32_t ticket) { __atomic_store_n(const_cast<uint32_t*>(word_), ticket, __ATOMIC_RELEASE); }

void StreamExecutor::Run() {
  for (;;) {
    Op* op;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      op = queue_.front();
      queue_.pop_front();
      ++running_;
    }
    ccResult_t res = ops_->WaitEvent(op->ready);
    if (res == ccSuccess && !abort_.load()) res = op->body(op->hostSend, op->hostRecv);
    if (res != ccSuccess && !abort_.load()) {
      int expected = ccSuccess;
      comm_->asyncError.compare_exchange_strong(expected, res);
      CC_WARN("rank %d: a stream-ordered collective failed: %s", comm_->rank, ccGetErrorString(res));
    }
    Release(op->ticket);  // the stream goes on (to the copies back) in every case
    if (op->done) ops_->WaitEvent(op->done);
    Retire(op);
    {
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
    }
    cv_.notify_all();
  }
}

void StreamExecutor::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return queue_.empty() && running_ == 0; });
}

bool StreamExecutor::Busy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !queue_.empty() || running_ > 0;
}

void StreamExecutor::Stop(bool abort) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (abort) abort_.store(true);
  }
  cv_.notify_all();
  if (worker_.joinable() && !OnExecutorThread()) worker_.join();
}

}  // namespace conccl
