// sendrecv_perf — every rank sends to rank+1 and receives from rank-1 (a ring shift) in one group.
// busbw = algbw. Sending and receiving one buffer in a group is not defined, so there is no in-place (N/A).
#include "common/driver.h"

namespace {

ccResult_t Run(const void* send, void* recv, size_t count, ccDataType_t type, ccRedOp_t, int, int rank, int nranks,
               ccComm_t comm,
               ccStream_t stream) {
  const int next = (rank + 1) % nranks;
  const int prev = (rank + nranks - 1) % nranks;
  ccResult_t r = ccGroupStart();
  if (r != ccSuccess) return r;
  const ccResult_t rs = ccSend(send, count, type, next, comm, stream);
  const ccResult_t rr = ccRecv(recv, count, type, prev, comm, stream);
  r = ccGroupEnd();  // always close the group, even when recording a call failed
  if (rs != ccSuccess) return rs;
  if (rr != ccSuccess) return rr;
  return r;
}

size_t Check(const ccperf::CheckArgs& a) {
  const int prev = (a.rank + a.nranks - 1) % a.nranks;
  return ccperf::CheckCopy(a.recv, a.count, a.type, prev, 0, a.seed);
}

}  // namespace

int main(int argc, char** argv) {
  const ccperf::CollTest test{"sendrecv", ccperf::Coll::kSendRecv, false, false, false, Run, Check};
  return ccperf::Main(argc, argv, test);
}
