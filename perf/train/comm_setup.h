// comm_setup.h — this process's communicator, as the perf tools make it: under mpirun (tools built
// with MPI) rank 0's unique id goes out by MPI_Bcast; under conccl-run, conccl-bench-cluster or another
// launcher that sets the variables ccCommInitFromEnv reads, ccCommInitFromEnv; with no launcher (or a
// world of one), a communicator of one rank. Returns the library's result; *what names the failed call.
#ifndef CONCCL_TRAIN_COMM_SETUP_H_
#define CONCCL_TRAIN_COMM_SETUP_H_

#include "conccl.h"
#include "mpi_bootstrap.h"

namespace cctrain {

ccResult_t SetupComm(ccperf::MpiSession* mpi, ccComm_t* comm, const char** what);

}  // namespace cctrain

#endif  // CONCCL_TRAIN_COMM_SETUP_H_
