// compressed_tree.cc — compressed double binary tree all-reduce (see compressed.h).
//
// Tree t places rank r at heap position r (t = 0) or nranks-1-r (t = 1), as tree.cc does, and owns the
// blocks of half t. Per chunk (whole blocks): wait for every child's compressed partial sum, add them in
// child order to `local` (one fused decompress-add-compress for the first child), send the bytes up. The
// root's bytes are the result: it decompresses them like everyone else and sends them down; inner nodes
// receive them, decompress, and forward the same bytes. Every buffer lives until the call ends.
#include <algorithm>
#include <deque>
#include <vector>

#include "algorithms/compressed.h"
#include "algorithms/primitives.h"
#include "common/result.h"

namespace conccl {
namespace {

struct Pending {
  Request* req = nullptr;
  bool done = false;
  size_t bytes = 0;
};

class CompressedTreeHalf {
 public:
  CompressedTreeHalf(Links& links, SendQueue& sends, const CompressedPlan& plan, int tree, const float* first,
                     const float* local, float* out, size_t begin, size_t count)
      : L_(links), sends_(sends), plan_(plan), channel_(tree == 0 ? kChanTree0 : kChanTree1), first_(first),
        local_(local), out_(out), begin_(begin), count_(count) {
    int n = links.NRanks(), r = links.Rank();
    auto rankAt = [&](int pos) { return tree == 0 ? pos : n - 1 - pos; };
    int pos = tree == 0 ? r : n - 1 - r;
    parent_ = pos == 0 ? -1 : rankAt((pos - 1) / 2);
    for (int c = 2 * pos + 1; c <= 2 * pos + 2; ++c)
      if (c < n) children_.push_back(rankAt(c));
    size_t B = plan.blockSize;
    chunkElems_ = std::max(B, links.ChunkBytes() / sizeof(float) / B * B);
    K_ = count_ == 0 ? 0 : (count_ + chunkElems_ - 1) / chunkElems_;
    childBytes_.assign(children_.size(), std::vector<std::vector<uint8_t>>(K_));
    childReqs_.assign(children_.size(), std::vector<Pending>(K_));
    upBytes_.resize(K_);
    finalBytes_.resize(K_);
    parentReqs_.resize(K_);
  }

  ~CompressedTreeHalf() {
    for (auto& v : childReqs_)
      for (auto& p : v) if (p.req) L_.Drop(p.req);
    for (auto& p : parentReqs_) if (p.req) L_.Drop(p.req);
  }

  bool Done() const { return reduced_ == K_ && (parent_ < 0 || forwarded_ == K_); }

  ccResult_t Start() {  // every receive is posted up front into its own buffer
    for (size_t c = 0; c < children_.size(); ++c)
      for (size_t k = 0; k < K_; ++k) CC_CHECK(PostRecv(children_[c], k, &childBytes_[c][k], &childReqs_[c][k]));
    if (parent_ >= 0)
      for (size_t k = 0; k < K_; ++k) CC_CHECK(PostRecv(parent_, k, &finalBytes_[k], &parentReqs_[k]));
    return ccSuccess;
  }

  ccResult_t Step(bool* progressed) {
    while (reduced_ < K_) {
      bool ready = true;
      for (size_t c = 0; c < children_.size() && ready; ++c) {
        CC_CHECK(Poll(&childReqs_[c][reduced_]));
        ready = childReqs_[c][reduced_].done;
      }
      if (!ready) break;
      CC_CHECK(Reduce(reduced_++));
      *progressed = true;
    }
    while (parent_ >= 0 && forwarded_ < reduced_) {
      Pending& p = parentReqs_[forwarded_];
      CC_CHECK(Poll(&p));
      if (!p.done) break;
      size_t k = forwarded_++;
      CC_CHECK(ValidateChunk(*plan_.codec, plan_.params, finalBytes_[k].data(), p.bytes, Elems(k), parent_));
      finalBytes_[k].resize(p.bytes);
      CC_CHECK(DecodeChunk(plan_, Index(k), finalBytes_[k].data(), p.bytes, out_ + Index(k), Elems(k)));
      CC_CHECK(SendDown(k));
      *progressed = true;
    }
    return ccSuccess;
  }

 private:
  size_t Index(size_t k) const { return begin_ + k * chunkElems_; }
  size_t Elems(size_t k) const { return std::min(chunkElems_, count_ - k * chunkElems_); }

  ccResult_t PostRecv(int peer, size_t k, std::vector<uint8_t>* buf, Pending* p) {
    ccCodecParams_v1_t params = plan_.params;
    buf->resize(sizeof(ChunkHeader) + plan_.codec->compressedBound(&params, Elems(k)));
    return L_.Irecv(peer, channel_, buf->data(), buf->size(), &p->req);
  }

  ccResult_t Poll(Pending* p) {
    if (p->done) return ccSuccess;
    ccResult_t res = L_.Test(p->req, &p->done, &p->bytes);
    if (res != ccSuccess || p->done) p->req = nullptr;
    return res;
  }

  ccResult_t Reduce(size_t k) {
    size_t n = Elems(k), idx = Index(k);
    std::vector<uint8_t>& mine = parent_ >= 0 ? upBytes_[k] : finalBytes_[k];
    if (children_.empty()) {
      CC_CHECK(EncodeChunk(plan_, idx, first_ + idx, n, &mine));
    } else {
      std::vector<float> acc(local_ + idx, local_ + idx + n), tmp(n);
      for (size_t c = 1; c < children_.size(); ++c) {  // children after the first: decompress and add
        CC_CHECK(Check(c, k));
        CC_CHECK(DecodeChunk(plan_, idx, childBytes_[c][k].data(), childReqs_[c][k].bytes, tmp.data(), n));
        for (size_t i = 0; i < n; ++i) acc[i] += tmp[i];
      }
      CC_CHECK(Check(0, k));
      const std::vector<uint8_t>& c0 = childBytes_[0][k];
      CC_CHECK(EncodeChunk(plan_, idx, acc.data(), n, &mine, c0.data() + sizeof(ChunkHeader),
                           childReqs_[0][k].bytes - sizeof(ChunkHeader)));
    }
    if (parent_ >= 0) return sends_.Post(parent_, channel_, mine.data(), mine.size());
    CC_CHECK(DecodeChunk(plan_, idx, mine.data(), mine.size(), out_ + idx, n));
    return SendDown(k);
  }

  ccResult_t Check(size_t c, size_t k) {
    return ValidateChunk(*plan_.codec, plan_.params, childBytes_[c][k].data(), childReqs_[c][k].bytes, Elems(k),
                         children_[c]);
  }

  ccResult_t SendDown(size_t k) {
    for (int child : children_) CC_CHECK(sends_.Post(child, channel_, finalBytes_[k].data(), finalBytes_[k].size()));
    return ccSuccess;
  }

  Links& L_;
  SendQueue& sends_;
  const CompressedPlan& plan_;
  int channel_;
  const float* first_;
  const float* local_;
  float* out_;
  size_t begin_, count_;
  int parent_ = -1;
  std::vector<int> children_;
  size_t chunkElems_ = 1, K_ = 0, reduced_ = 0, forwarded_ = 0;
  std::vector<std::vector<std::vector<uint8_t>>> childBytes_;
  std::vector<std::vector<Pending>> childReqs_;
  std::vector<std::vector<uint8_t>> upBytes_, finalBytes_;
  std::vector<Pending> parentReqs_;
};

}  // namespace

ccResult_t CompressedTreeAllReduce(Links& links, const CompressedPlan& plan, const float* first, const float* local,
                                   float* out, size_t count) {
  if (links.NRanks() == 1 || count == 0) return CompressedRingAllReduce(links, plan, first, local, out, count, nullptr);
  size_t B = plan.blockSize, nb = (count + B - 1) / B;
  size_t half = std::min(count, nb / 2 * B);
  SendQueue sends(links);
  CompressedTreeHalf trees[2] = {CompressedTreeHalf(links, sends, plan, 0, first, local, out, 0, half),
                                 CompressedTreeHalf(links, sends, plan, 1, first, local, out, half, count - half)};
  for (auto& t : trees) CC_CHECK(t.Start());
  while (!trees[0].Done() || !trees[1].Done()) {
    bool progressed = false;
    for (auto& t : trees) CC_CHECK(t.Step(&progressed));
    CC_CHECK(sends.Reap());
    if (!progressed && (!trees[0].Done() || !trees[1].Done())) CC_CHECK(links.WaitForProgress());
  }
  return sends.Drain();
}

}  // namespace conccl
