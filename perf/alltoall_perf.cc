// alltoall_perf — ccAlltoAll: block s of rank r's result is block r of rank s's input. The count column is
// the per-peer count; algbw counts count * n elements; busbw = algbw * (n-1)/n. ccAlltoAll forbids
// overlapping buffers, so there is no in-place measurement (N/A).
#include "common/driver.h"

namespace {

ccResult_t Run(const void* send, void* recv, size_t count, ccDataType_t type, ccRedOp_t, int, int, int,
               ccComm_t comm,
               ccStream_t stream) {
  return ccAlltoAll(send, recv, count, type, comm, stream);
}

size_t Check(const ccperf::CheckArgs& a) {
  const char* base = static_cast<const char*>(a.recv);
  const size_t bytes = a.count * ccperf::TypeSize(a.type);
  const uint64_t mine = static_cast<uint64_t>(a.rank) * a.count;
  size_t wrong = 0;
  for (int s = 0; s < a.nranks; s++) wrong += ccperf::CheckCopy(base + s * bytes, a.count, a.type, s, mine, a.seed);
  return wrong;
}

}  // namespace

int main(int argc, char** argv) {
  const ccperf::CollTest test{"alltoall", ccperf::Coll::kAlltoAll, false, false, false, Run, Check};
  return ccperf::Main(argc, argv, test);
}
