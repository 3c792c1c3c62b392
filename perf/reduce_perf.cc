// reduce_perf — ccReduce to -r root: the root gets op over ranks; other ranks' buffers are not checked.
// busbw = algbw.
#include "common/driver.h"

namespace {

ccResult_t Run(const void* send, void* recv, size_t count, ccDataType_t type, ccRedOp_t op, int root, int, int,
               ccComm_t comm,
               ccStream_t stream) {
  return ccReduce(send, recv, count, type, op, root, comm, stream);
}

size_t Check(const ccperf::CheckArgs& a) {
  if (a.rank != a.root) return 0;
  return ccperf::CheckReduce(a.recv, a.count, a.type, a.op, a.nranks, 0, a.seed);
}

}  // namespace

int main(int argc, char** argv) {
  const ccperf::CollTest test{"reduce", ccperf::Coll::kReduce, true, true, true, Run, Check};
  return ccperf::Main(argc, argv, test);
}
