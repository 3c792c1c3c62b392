// mpi_bootstrap.h — under mpirun (built with Open MPI), the perf tools create their communicator the way
// nccl-tests does: rank 0 makes the unique id and MPI_Bcast shares it. Without MPI support, or when
// CONCCL_ROOT / MASTER_ADDR name a rendezvous, ccCommInitFromEnv serves instead.
#pragma once

#include "conccl.h"

namespace ccperf {

// True when a launcher started this process as one rank of several (the variables ccCommInitFromEnv reads,
// in its order). A world of one runs locally, so `srun -n 1 all_reduce_perf -t 4` still works; a lone RANK
// without WORLD_SIZE (a common shell variable name) is not taken as a launcher.
bool LaunchedAsRank();

class MpiSession {
 public:
  MpiSession() = default;
  ~MpiSession();  // MPI_Finalize when Start initialised MPI
  // True when this process runs under an MPI launcher and the tools were built with MPI; then *comm is
  // this process's rank of a communicator over all MPI ranks (or *result holds the failure).
  bool Start(ccComm_t* comm, ccResult_t* result);

 private:
  bool initialized_ = false;
};

}  // namespace ccperf
