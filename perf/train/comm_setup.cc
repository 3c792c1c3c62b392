// comm_setup.cc — SetupComm.
#include "comm_setup.h"

namespace cctrain {

ccResult_t SetupComm(ccperf::MpiSession* mpi, ccComm_t* comm, const char** what) {
  ccResult_t r = ccSuccess;
  if (!ccperf::LaunchedAsRank()) {  // a world of one trains alone
    *what = "ccCommInitAll(1 rank)";
    return ccCommInitAll(comm, 1, nullptr);
  }
  if (mpi->Start(comm, &r)) {
    *what = "ccCommInitRank (MPI bootstrap)";
    return r;
  }
  *what = "ccCommInitFromEnv";
  return ccCommInitFromEnv(comm, nullptr);
}

}  // namespace cctrain
