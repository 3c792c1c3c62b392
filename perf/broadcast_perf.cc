// broadcast_perf — ccBroadcast from -r root: every rank gets the root's input. busbw = algbw.
#include "common/driver.h"

namespace {

ccResult_t Run(const void* send, void* recv, size_t count, ccDataType_t type, ccRedOp_t, int root, int, int,
               ccComm_t comm,
               ccStream_t stream) {
  return ccBroadcast(send, recv, count, type, root, comm, stream);
}

size_t Check(const ccperf::CheckArgs& a) { return ccperf::CheckCopy(a.recv, a.count, a.type, a.root, 0, a.seed); }

}  // namespace

int main(int argc, char** argv) {
  const ccperf::CollTest test{"broadcast", ccperf::Coll::kBroadcast, false, true, true, Run, Check};
  return ccperf::Main(argc, argv, test);
}
