// comm_setup.cc — SetupComm.
#include "comm_setup.h"

#include <stdlib.h>
#include <string.h>

namespace cctrain {
namespace {

// The launcher variables ccCommInitFromEnv reads, in its order; a lone RANK without WORLD_SIZE (a common
// shell variable name) is not taken as a launcher, and a world of one trains alone.
bool LaunchedAsRank() {
  static const char* const kVars[][2] = {{"CONCCL_RANK", "CONCCL_NRANKS"},
                                         {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                         {"PMI_RANK", "PMI_SIZE"},
                                         {"SLURM_PROCID", "SLURM_NTASKS"},
                                         {"RANK", "WORLD_SIZE"}};
  for (const auto& v : kVars) {
    if (getenv(v[0]) == nullptr) continue;
    const char* size = getenv(v[1]);
    if (size == nullptr) return strcmp(v[0], "RANK") != 0;
    return strcmp(size, "1") != 0;
  }
  return false;
}

}  // namespace

ccResult_t SetupComm(ccperf::MpiSession* mpi, ccComm_t* comm, const char** what) {
  ccResult_t r = ccSuccess;
  if (!LaunchedAsRank()) {
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
