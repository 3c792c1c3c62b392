// all_reduce_perf — ccAllReduce: every rank gets op over ranks of every element. busbw = algbw * 2(n-1)/n.
// With --codec (and only here), ccAllreduceCompressed instead, with the columns ratio and nmse.
#include "common/driver.h"

namespace {

ccResult_t Run(const void* send, void* recv, size_t count, ccDataType_t type, ccRedOp_t op, int, int, int,
               ccComm_t comm,
               ccStream_t stream) {
  return ccAllReduce(send, recv, count, type, op, comm, stream);
}

ccResult_t RunCompressed(const void* send, void* recv, size_t count, ccDataType_t type, ccRedOp_t op,
                        const ccCompressConfig_t* config, ccComm_t comm,
                        ccStream_t stream) {
  return ccAllreduceCompressed(send, recv, count, type, op, config, comm, stream);
}

size_t Check(const ccperf::CheckArgs& a) {
  return ccperf::CheckReduce(a.recv, a.count, a.type, a.op, a.nranks, 0, a.seed);
}

}  // namespace

int main(int argc, char** argv) {
  const ccperf::CollTest test{"all_reduce", ccperf::Coll::kAllReduce, true, false, true, Run, Check};
  return ccperf::Main(argc, argv, test, RunCompressed);
}
