// primitives.h — building blocks of schedules: waiting on requests, an in-order send queue, a pool of
// staging slots, and the per-operation header that detects calls that do not match across ranks.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "algorithms/links.h"

namespace conccl {

// Blocks until req finishes; *bytes (optional) receives its size. Releases req.
ccResult_t WaitRequest(Links& links, Request* req, size_t* bytes = nullptr);

// Sends posted in order; Reap() releases the finished prefix, WaitThrough(i) blocks until send i is
// done, Drain() waits for all. Indices are assigned by Post() starting at 0.
class SendQueue {
 public:
  explicit SendQueue(Links& links) : links_(links) {}
  ~SendQueue();
  ccResult_t Post(int peer, int channel, const void* data, size_t bytes, int64_t* index = nullptr);
  ccResult_t Reap();
  ccResult_t WaitThrough(int64_t index);
  ccResult_t Drain() { return WaitThrough(posted_ - 1); }

 private:
  Links& links_;
  std::deque<Request*> pending_;
  int64_t posted_ = 0;
  int64_t done_ = 0;  // sends [0, done_) are finished
};

// Releases (drops) any requests still held, for error paths.
void DropAll(Links& links, std::vector<Request*>* reqs);

// What every rank's call must agree on. Exchanged with both ring neighbours before data moves.
enum class CollType : uint32_t {
  kAllReduce = 1, kBroadcast, kReduce, kAllGather, kReduceScatter, kAlltoAll, kSplit, kCompressed
};

struct OpHeader {
  uint32_t magic;
  uint32_t coll;
  int32_t type;
  int32_t op;
  int32_t root;
  uint32_t pad;
  uint64_t count;
  uint64_t seq;
  uint64_t param;  // hash of any further parameters that must agree (codec settings, residual keys)
};

const char* CollName(CollType coll);

// Exchanges the operation header with the previous and next rank and compares; a difference returns
// ccInvalidUsage naming the field and both values.
ccResult_t CheckOpHeader(Links& links, const OpHeader& mine);

}  // namespace conccl
