// all_gather_perf — ccAllGather: block r of every rank's result is rank r's input. The count column is the
// per-rank count; algbw counts the whole gathered array; busbw = algbw * (n-1)/n.
#include "common/driver.h"

namespace {

ccResult_t Run(const void* send, void* recv, size_t count, ccDataType_t type, ccRedOp_t, int, int, int,
               ccComm_t comm,
               ccStream_t stream) {
  return ccAllGather(send, recv, count, type, comm, stream);
}

size_t Check(const ccperf::CheckArgs& a) {
  const char* base = static_cast<const char*>(a.recv);
  const size_t bytes = a.count * ccperf::TypeSize(a.type);
  size_t wrong = 0;
  for (int r = 0; r < a.nranks; r++) wrong += ccperf::CheckCopy(base + r * bytes, a.count, a.type, r, 0, a.seed);
  return wrong;
}

}  // namespace

int main(int argc, char** argv) {
  const ccperf::CollTest test{"all_gather", ccperf::Coll::kAllGather, false, false, true, Run, Check};
  return ccperf::Main(argc, argv, test);
}
