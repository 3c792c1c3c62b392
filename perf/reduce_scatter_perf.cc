// reduce_scatter_perf — ccReduceScatter: rank r gets op over ranks of block r. The count column is the
// per-rank count; algbw counts the whole input array; busbw = algbw * (n-1)/n.
#include "common/driver.h"

namespace {

ccResult_t Run(const void* send, void* recv, size_t count, ccDataType_t type, ccRedOp_t op, int, int, int,
               ccComm_t comm,
               ccStream_t stream) {
  return ccReduceScatter(send, recv, count, type, op, comm, stream);
}

size_t Check(const ccperf::CheckArgs& a) {
  return ccperf::CheckReduce(a.recv, a.count, a.type, a.op, a.nranks, static_cast<uint64_t>(a.rank) * a.count,
                             a.seed);
}

}  // namespace

int main(int argc, char** argv) {
  const ccperf::CollTest test{"reduce_scatter", ccperf::Coll::kReduceScatter, true, false, true, Run, Check};
  return ccperf::Main(argc, argv, test);
}
