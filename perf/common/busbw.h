// busbw.h — the one place that knows how each collective's buffer sizes and bandwidths are computed.
// These are nccl-tests' rules (see doc/PERFORMANCE.md there): algbw = bytes / time with GB = 1e9 bytes,
// busbw = algbw * factor, where the factor makes busbw comparable with the link bandwidth whatever the
// algorithm. Pure functions, no library calls, so they can be unit tested.
#ifndef CONCCL_PERF_BUSBW_H_
#define CONCCL_PERF_BUSBW_H_

#include <stddef.h>

namespace ccperf {

enum class Coll { kAllReduce, kAllGather, kBroadcast, kReduce, kReduceScatter, kAlltoAll, kSendRecv };

// Element counts of one call, derived from the nominal element count of a sweep step (size / typeSize).
struct CollSizes {
  size_t sendCount;          // elements in the send buffer
  size_t recvCount;          // elements in the receive buffer
  size_t paramCount;         // the count argument passed to the collective (the "count" column)
  size_t sendInplaceOffset;  // in place: sendbuff = recvbuff + rank * sendInplaceOffset (elements)
  size_t recvInplaceOffset;  // in place: recvbuff = recvbuff + rank * recvInplaceOffset (elements)
};

CollSizes GetCollSizes(Coll coll, size_t count, size_t typeSize, int nranks);

// busbw / algbw: 2(n-1)/n for all-reduce, (n-1)/n for all-gather, reduce-scatter and all-to-all, 1 otherwise.
double BusBwFactor(Coll coll, int nranks);

// Bytes that define algbw for one call with count argument paramCount: the whole result array for
// all-gather / reduce-scatter / all-to-all (paramCount * nranks elements), paramCount elements otherwise.
double AlgBwBytes(Coll coll, size_t paramCount, size_t typeSize, int nranks);

// algbw and busbw in GB/s (1e9 bytes per second) for one call that took sec seconds.
void GetBw(Coll coll, size_t paramCount, size_t typeSize, double sec, int nranks, double* algBw, double* busBw);

}  // namespace ccperf

#endif  // CONCCL_PERF_BUSBW_H_
