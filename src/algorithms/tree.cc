// tree.cc — double binary tree all-reduce (see schedules.h).
//
// Tree t places rank r at heap position r (t = 0) or nranks-1-r (t = 1); position p has parent
// (p-1)/2 and children 2p+1, 2p+2, so each rank is an inner node of at most one tree. Tree t owns
// half t of the data, cut into chunks. Per chunk: receive the children's partial results into staging
// slots, reduce them with the local input into recvbuff, send that to the parent; the root finishes
// (avg: divides) and sends down; inner nodes receive the final chunk from the parent straight into
// recvbuff and forward it to their children. Both trees advance in one event loop.
//
// A final chunk from the parent lands in the recvbuff region our partial result was sent from; that is
// safe because the parent sends it only after receiving (hence after we finished reading) that region.
#include <algorithm>
#include <cstring>
#include <deque>
#include <vector>

#include "algorithms/primitives.h"
#include "algorithms/schedules.h"
#include "common/result.h"
#include "common/types.h"

namespace conccl {
namespace {

constexpr size_t kWindow = 4;

struct PendingRecv {
  size_t chunk;
  Request* req;
  bool done;
};

class TreeHalf {
 public:
  TreeHalf(Links& links, SendQueue& sends, int tree, const char* send, char* recv, size_t begin, size_t count,
           ccDataType_t type, ccRedOp_t op)
      : L_(links), sends_(sends), channel_(tree == 0 ? kChanTree0 : kChanTree1), send_(send), recv_(recv),
        begin_(begin), count_(count), type_(type), op_(op), es_(TypeSize(type)) {
    int n = links.NRanks(), r = links.Rank();
    auto rankAt = [&](int pos) { return tree == 0 ? pos : n - 1 - pos; };
    int pos = tree == 0 ? r : n - 1 - r;
    parent_ = pos == 0 ? -1 : rankAt((pos - 1) / 2);
    for (int c = 2 * pos + 1; c <= 2 * pos + 2; ++c)
      if (c < n) children_.push_back(rankAt(c));
    chunkElems_ = std::max<size_t>(1, links.ChunkBytes() / es_);
    K_ = count_ == 0 ? 0 : (count_ + chunkElems_ - 1) / chunkElems_;
    childRecvs_.resize(children_.size());
    slots_.assign(children_.size(), std::vector<std::vector<char>>(kWindow, std::vector<char>(std::min(chunkElems_, count_) * es_)));
  }

  ~TreeHalf() {
    for (auto& q : childRecvs_)
      for (auto& p : q) if (p.req) L_.Drop(p.req);
    for (auto& p : parentRecvs_) if (p.req) L_.Drop(p.req);
  }

  bool Done() const { return reduced_ == K_ && (parent_ < 0 || forwarded_ == K_); }

  // Advances as far as possible without blocking; *progressed tells whether anything happened.
  ccResult_t Step(bool* progressed) {
    for (size_t c = 0; c < children_.size(); ++c) {
      while (posted_[c] < K_ && posted_[c] < reduced_ + kWindow) {
        size_t k = posted_[c]++;
        Request* req = nullptr;
        CC_CHECK(L_.Irecv(children_[c], channel_, slots_[c][k % kWindow].data(), Elems(k) * es_, &req));
        childRecvs_[c].push_back({k, req, false});
      }
    }
    for (;;) {
      if (reduced_ < K_ && ChildrenReady()) {
        CC_CHECK(ReduceChunk(reduced_++));
        *progressed = true;
        continue;
      }
      if (!parentRecvs_.empty() && TestFront(parentRecvs_)) {
        size_t k = parentRecvs_.front().chunk;
        parentRecvs_.pop_front();
        CC_CHECK(SendDown(k));
        forwarded_++;
        *progressed = true;
        continue;
      }
      return ccSuccess;
    }
  }

 private:
  size_t Elems(size_t k) const { return std::min(chunkElems_, count_ - k * chunkElems_); }
  char* Out(size_t k) const { return recv_ + (begin_ + k * chunkElems_) * es_; }
  const char* In(size_t k) const { return send_ + (begin_ + k * chunkElems_) * es_; }

  // Tests the front receive; a failure is remembered and surfaces on the next Step through error_.
  bool TestFront(std::deque<PendingRecv>& q) {
    PendingRecv& p = q.front();
    if (!p.done) {
      size_t got = 0;
      ccResult_t res = L_.Test(p.req, &p.done, &got);
      if (res != ccSuccess) {
        p.req = nullptr;
        error_ = res;
        return false;
      }
      if (p.done) {
        p.req = nullptr;
        if (got != Elems(p.chunk) * es_) error_ = SetError(ccRemoteError, "tree all-reduce: short chunk");
      }
    }
    return p.done && error_ == ccSuccess;
  }

  bool ChildrenReady() {
    for (auto& q : childRecvs_)
      if (q.empty() || !TestFront(q)) return false;
    return true;
  }

  ccResult_t ReduceChunk(size_t k) {
    size_t n = Elems(k);
    const char* acc = In(k);
    for (size_t c = 0; c < children_.size(); ++c) {
      L_.Reduce(Out(k), acc, slots_[c][k % kWindow].data(), n, type_, op_);
      acc = Out(k);
      childRecvs_[c].pop_front();
    }
    if (parent_ >= 0) {
      CC_CHECK(sends_.Post(parent_, channel_, acc, n * es_));
      Request* req = nullptr;
      CC_CHECK(L_.Irecv(parent_, channel_, Out(k), n * es_, &req));
      parentRecvs_.push_back({k, req, false});
      return ccSuccess;
    }
    if (acc != Out(k)) memcpy(Out(k), acc, n * es_);
    if (op_ == ccAvg) L_.Divide(Out(k), n, type_, L_.NRanks());
    return SendDown(k);
  }

  ccResult_t SendDown(size_t k) {
    for (int child : children_) CC_CHECK(sends_.Post(child, channel_, Out(k), Elems(k) * es_));
    return ccSuccess;
  }

 public:
  ccResult_t error_ = ccSuccess;

 private:
  Links& L_;
  SendQueue& sends_;
  int channel_;
  const char* send_;
  char* recv_;
  size_t begin_, count_;
  ccDataType_t type_;
  ccRedOp_t op_;
  size_t es_;
  int parent_ = -1;
  std::vector<int> children_;
  size_t chunkElems_ = 1, K_ = 0;
  size_t reduced_ = 0, forwarded_ = 0;
  size_t posted_[2] = {0, 0};
  std::vector<std::deque<PendingRecv>> childRecvs_;
  std::deque<PendingRecv> parentRecvs_;
  std::vector<std::vector<std::vector<char>>> slots_;
};

}  // namespace

ccResult_t TreeAllReduce(Links& links, const void* sendbuff, void* recvbuff, size_t count, ccDataType_t type,
                         ccRedOp_t op) {
  if (links.NRanks() == 1) {
    if (sendbuff != recvbuff) memcpy(recvbuff, sendbuff, count * TypeSize(type));
    return ccSuccess;
  }
  if (count == 0) return ccSuccess;
  SendQueue sends(links);
  size_t half = count / 2;
  auto* s = static_cast<const char*>(sendbuff);
  auto* r = static_cast<char*>(recvbuff);
  TreeHalf trees[2] = {TreeHalf(links, sends, 0, s, r, 0, half, type, op),
                       TreeHalf(links, sends, 1, s, r, half, count - half, type, op)};
  while (!trees[0].Done() || !trees[1].Done()) {
    bool progressed = false;
    for (auto& t : trees) {
      CC_CHECK(t.Step(&progressed));
      CC_CHECK(t.error_);
    }
    CC_CHECK(sends.Reap());
    if (!progressed && (!trees[0].Done() || !trees[1].Done())) CC_CHECK(links.WaitForProgress());
  }
  return sends.Drain();
}

}  // namespace conccl
