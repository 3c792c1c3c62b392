// ring.cc — ring all-reduce (see schedules.h).
//
// The schedule is one stream of 2(n-1)K incoming chunks from the previous rank, processed in order;
// processing chunk m emits chunk m+K-ish to the next rank:
//   reduce-scatter step s (0 <= s < n-1): receive segment (r-s-1) into a staging slot, reduce it with the
//     local input into recvbuff, and send it on (as step s+1, or as the first all-gather step);
//   all-gather step a (0 <= a < n-1): receive segment (r-a) straight into recvbuff, forward unless last.
// A receive into a recvbuff region first waits for the earlier send that reads that region.
#include <algorithm>
#include <cstring>
#include <vector>

#include "algorithms/primitives.h"
#include "algorithms/schedules.h"
#include "common/result.h"
#include "common/types.h"

namespace conccl {
namespace {

constexpr int kWindow = 4;  // receives posted ahead

struct Partition {
  size_t count, n, chunkElems, K;
  size_t SegStart(size_t s) const { return s * (count / n) + std::min(s, count % n); }
  size_t SegCount(size_t s) const { return count / n + (s < count % n ? 1 : 0); }
  // Element range of chunk k of segment s (may be empty).
  void Chunk(size_t s, size_t k, size_t* start, size_t* cnt) const {
    size_t sc = SegCount(s), off = std::min(sc, k * chunkElems);
    *start = SegStart(s) + off;
    *cnt = std::min(chunkElems, sc - off);
  }
};

Partition MakePartition(size_t count, int n, size_t chunkBytes, size_t esize) {
  Partition p{count, static_cast<size_t>(n), std::max<size_t>(1, chunkBytes / esize), 1};
  size_t maxSeg = (count + n - 1) / n;
  p.K = std::max<size_t>(1, (maxSeg + p.chunkElems - 1) / p.chunkElems);
  return p;
}

class RingAllReduceRun {
 public:
  RingAllReduceRun(Links& links, const void* send, void* recv, size_t count, ccDataType_t type, ccRedOp_t op)
      : L_(links), sends_(links), send_(static_cast<const char*>(send)), recv_(static_cast<char*>(recv)),
        type_(type), op_(op), es_(TypeSize(type)), n_(links.NRanks()), r_(links.Rank()),
        P_(MakePartition(count, n_, links.ChunkBytes(), es_)) {}

  ~RingAllReduceRun() { DropAll(L_, &recvReqs_); }

  ccResult_t Run() {
    next_ = (r_ + 1) % n_;
    prev_ = (r_ + n_ - 1) % n_;
    total_ = 2 * static_cast<size_t>(n_ - 1) * P_.K;
    lastSend_.assign(static_cast<size_t>(n_) * P_.K, -1);
    slots_.assign(kWindow, std::vector<char>(std::min(P_.chunkElems, (P_.count + n_ - 1) / n_) * es_));
    recvReqs_.assign(kWindow, nullptr);
    for (size_t k = 0; k < P_.K; ++k) {  // reduce-scatter step 0: our own segment, from the input
      size_t start, cnt;
      P_.Chunk(r_, k, &start, &cnt);
      CC_CHECK(SendChunk(send_, r_, k, start, cnt));
    }
    for (size_t m = 0; m < std::min<size_t>(kWindow, total_); ++m) CC_CHECK(PostRecv(m));
    for (size_t m = 0; m < total_; ++m) {
      Request* req = recvReqs_[m % kWindow];
      recvReqs_[m % kWindow] = nullptr;
      size_t got = 0;
      CC_CHECK(WaitRequest(L_, req, &got));
      CC_CHECK(Process(m, got));
      if (m + kWindow < total_) CC_CHECK(PostRecv(m + kWindow));
      CC_CHECK(sends_.Reap());
    }
    return sends_.Drain();
  }

 private:
  size_t Seg(size_t m) const {
    size_t step = m / P_.K;
    size_t back = step < static_cast<size_t>(n_ - 1) ? step + 1 : step - (n_ - 1);
    return (r_ + n_ * 2 - back % n_) % n_;
  }
  bool IsReduceStep(size_t m) const { return m / P_.K < static_cast<size_t>(n_ - 1); }

  ccResult_t SendChunk(const char* base, size_t seg, size_t k, size_t start, size_t cnt) {
    int64_t idx;
    CC_CHECK(sends_.Post(next_, kChanRing, base + start * es_, cnt * es_, &idx));
    if (base == recv_) lastSend_[seg * P_.K + k] = idx;
    return ccSuccess;
  }

  ccResult_t PostRecv(size_t m) {
    size_t seg = Seg(m), k = m % P_.K, start, cnt;
    P_.Chunk(seg, k, &start, &cnt);
    char* dst;
    if (IsReduceStep(m)) {
      dst = slots_[m % kWindow].data();
    } else {
      dst = recv_ + start * es_;
      CC_CHECK(sends_.WaitThrough(lastSend_[seg * P_.K + k]));  // in place, this covers the input's send
    }
    return L_.Irecv(prev_, kChanRing, dst, cnt * es_, &recvReqs_[m % kWindow]);
  }

  ccResult_t Process(size_t m, size_t got) {
    size_t seg = Seg(m), k = m % P_.K, start, cnt;
    P_.Chunk(seg, k, &start, &cnt);
    if (got != cnt * es_)
      return SetError(ccRemoteError, "ring all-reduce: rank %d sent %zu bytes, expected %zu", prev_, got, cnt * es_);
    size_t step = m / P_.K;
    if (IsReduceStep(m)) {
      L_.Reduce(recv_ + start * es_, slots_[m % kWindow].data(), send_ + start * es_, cnt, type_, op_);
      if (step == static_cast<size_t>(n_ - 2) && op_ == ccAvg) L_.Divide(recv_ + start * es_, cnt, type_, n_);
      return SendChunk(recv_, seg, k, start, cnt);
    }
    if (step - (n_ - 1) < static_cast<size_t>(n_ - 2)) return SendChunk(recv_, seg, k, start, cnt);
    return ccSuccess;
  }

  Links& L_;
  SendQueue sends_;
  const char* send_;
  char* recv_;
  ccDataType_t type_;
  ccRedOp_t op_;
  size_t es_;
  int n_, r_, next_ = 0, prev_ = 0;
  Partition P_;
  size_t total_ = 0;
  std::vector<int64_t> lastSend_;  // per (segment, chunk): index of the last send reading recvbuff there
  std::vector<std::vector<char>> slots_;
  std::vector<Request*> recvReqs_;
};

}  // namespace

ccResult_t RingAllReduce(Links& links, const void* sendbuff, void* recvbuff, size_t count, ccDataType_t type,
                         ccRedOp_t op) {
  if (links.NRanks() == 1) {
    if (sendbuff != recvbuff) memcpy(recvbuff, sendbuff, count * TypeSize(type));
    return ccSuccess;
  }
  if (count == 0) return ccSuccess;
  RingAllReduceRun run(links, sendbuff, recvbuff, count, type, op);
  return run.Run();
}

}  // namespace conccl
