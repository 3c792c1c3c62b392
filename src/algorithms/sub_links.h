// sub_links.h — a group of a communicator's ranks seen as a communicator of its own, so that every
// schedule (ring, tree, chain, compressed ring/tree) runs unchanged over the ranks of one host or over
// the host leaders.
//
// Contract: sub-rank i is parent rank members[i]; the parent's rank must be one of the members (the
// constructor takes its index). Everything else is forwarded to the parent with peers translated, so
// the parent's FIFO order per (peer, channel) and its timeout and failure handling hold unchanged.
// The view keeps a reference to `members`, which must outlive it.
#pragma once

#include <vector>

#include "algorithms/links.h"

namespace conccl {

class SubLinks : public Links {
 public:
  SubLinks(Links& parent, const std::vector<int>& members, int myIndex)
      : parent_(parent), members_(members), me_(myIndex) {}

  int Rank() const override { return me_; }
  int NRanks() const override { return static_cast<int>(members_.size()); }
  size_t ChunkBytes() const override { return parent_.ChunkBytes(); }
  ccResult_t Isend(int peer, int channel, const void* data, size_t bytes, Request** req) override {
    return parent_.Isend(members_[peer], channel, data, bytes, req);
  }
  ccResult_t Irecv(int peer, int channel, void* data, size_t capacity, Request** req) override {
    return parent_.Irecv(members_[peer], channel, data, capacity, req);
  }
  ccResult_t Test(Request* req, bool* done, size_t* bytes) override { return parent_.Test(req, done, bytes); }
  ccResult_t WaitForProgress() override { return parent_.WaitForProgress(); }
  void Drop(Request* req) override { parent_.Drop(req); }
  void Reduce(void* dst, const void* a, const void* b, size_t count, ccDataType_t type, ccRedOp_t op) override {
    parent_.Reduce(dst, a, b, count, type, op);
  }
  void Divide(void* data, size_t count, ccDataType_t type, int divisor) override {
    parent_.Divide(data, count, type, divisor);
  }

 private:
  Links& parent_;
  const std::vector<int>& members_;
  int me_;
};

}  // namespace conccl
