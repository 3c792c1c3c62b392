// primitives.cc — see primitives.h.
#include "algorithms/primitives.h"

#include "common/result.h"

namespace conccl {

constexpr uint32_t kOpMagic = 0x4343504f;  // "CCOP"

ccResult_t WaitRequest(Links& links, Request* req, size_t* bytes) {
  for (;;) {
    bool done = false;
    size_t n = 0;
    CC_CHECK(links.Test(req, &done, &n));
    if (done) {
      if (bytes) *bytes = n;
      return ccSuccess;
    }
    ccResult_t res = links.WaitForProgress();
    if (res != ccSuccess) {
      links.Drop(req);
      return res;
    }
  }
}

SendQueue::~SendQueue() {
  for (Request* r : pending_) links_.Drop(r);
}

ccResult_t SendQueue::Post(int peer, int channel, const void* data, size_t bytes, int64_t* index) {
  Request* req = nullptr;
  CC_CHECK(links_.Isend(peer, channel, data, bytes, &req));
  pending_.push_back(req);
  if (index) *index = posted_;
  posted_++;
  return ccSuccess;
}

ccResult_t SendQueue::Reap() {
  while (!pending_.empty()) {
    bool done = false;
    size_t n;
    ccResult_t res = links_.Test(pending_.front(), &done, &n);
    if (res != ccSuccess) {
      pending_.pop_front();
      return res;
    }
    if (!done) break;
    pending_.pop_front();
    done_++;
  }
  return ccSuccess;
}

ccResult_t SendQueue::WaitThrough(int64_t index) {
  while (done_ <= index) {
    Request* front = pending_.front();
    pending_.pop_front();
    CC_CHECK(WaitRequest(links_, front));
    done_++;
  }
  return ccSuccess;
}

void DropAll(Links& links, std::vector<Request*>* reqs) {
  for (Request*& r : *reqs) {
    if (r) links.Drop(r);
    r = nullptr;
  }
}

const char* CollName(CollType coll) {
  switch (coll) {
    case CollType::kAllReduce: return "AllReduce";
    case CollType::kBroadcast: return "Broadcast";
    case CollType::kReduce: return "Reduce";
    case CollType::kAllGather: return "AllGather";
    case CollType::kReduceScatter: return "ReduceScatter";
    case CollType::kAlltoAll: return "AlltoAll";
    case CollType::kSplit: return "CommSplit";
    case CollType::kCompressed: return "AllreduceCompressed";
  }
  return "unknown";
}

static ccResult_t Compare(const OpHeader& mine, const OpHeader& theirs, int peer) {
  if (theirs.magic != kOpMagic) return SetError(ccRemoteError, "malformed operation header from rank %d", peer);
  auto coll = [](uint32_t c) { return CollName(static_cast<CollType>(c)); };
  if (theirs.seq != mine.seq)
    return SetError(ccInvalidUsage, "call mismatch: this is operation #%llu here but #%llu on rank %d",
                    (unsigned long long)mine.seq, (unsigned long long)theirs.seq, peer);
  if (theirs.coll != mine.coll)
    return SetError(ccInvalidUsage, "call mismatch: %s here, %s on rank %d", coll(mine.coll), coll(theirs.coll), peer);
  if (theirs.count != mine.count)
    return SetError(ccInvalidUsage, "call mismatch in %s: count %llu here, %llu on rank %d", coll(mine.coll),
                    (unsigned long long)mine.count, (unsigned long long)theirs.count, peer);
  if (theirs.type != mine.type)
    return SetError(ccInvalidUsage, "call mismatch in %s: datatype %d here, %d on rank %d", coll(mine.coll), mine.type,
                    theirs.type, peer);
  if (theirs.op != mine.op)
    return SetError(ccInvalidUsage, "call mismatch in %s: op %d here, %d on rank %d", coll(mine.coll), mine.op,
                    theirs.op, peer);
  if (theirs.root != mine.root)
    return SetError(ccInvalidUsage, "call mismatch in %s: root %d here, %d on rank %d", coll(mine.coll), mine.root,
                    theirs.root, peer);
  if (theirs.param != mine.param)
    return SetError(ccInvalidUsage, "call mismatch in %s: parameters (codec, bits, block size, ratio, seed, feedback or "
                    "residual keys) differ from rank %d's", coll(mine.coll), peer);
  return ccSuccess;
}

ccResult_t CheckOpHeader(Links& links, const OpHeader& in) {
  int n = links.NRanks(), r = links.Rank();
  if (n == 1) return ccSuccess;
  OpHeader mine = in;
  mine.magic = kOpMagic;
  int next = (r + 1) % n, prev = (r + n - 1) % n;
  OpHeader fromPrev{}, fromNext{};
  std::vector<Request*> reqs(4, nullptr);
  ccResult_t res = links.Irecv(prev, kChanControl, &fromPrev, sizeof(OpHeader), &reqs[0]);
  if (res == ccSuccess) res = links.Irecv(next, kChanControl, &fromNext, sizeof(OpHeader), &reqs[1]);
  if (res == ccSuccess) res = links.Isend(next, kChanControl, &mine, sizeof(OpHeader), &reqs[2]);
  if (res == ccSuccess) res = links.Isend(prev, kChanControl, &mine, sizeof(OpHeader), &reqs[3]);
  for (size_t i = 0; i < reqs.size() && res == ccSuccess; ++i) {
    size_t bytes = 0;
    res = WaitRequest(links, reqs[i], &bytes);
    reqs[i] = nullptr;
    if (res == ccSuccess && i < 2 && bytes != sizeof(OpHeader))
      res = SetError(ccRemoteError, "truncated operation header from rank %d", i == 0 ? prev : next);
  }
  DropAll(links, &reqs);
  CC_CHECK(res);
  CC_CHECK(Compare(mine, fromPrev, prev));
  return Compare(mine, fromNext, next);
}

}  // namespace conccl
