// mpi_bootstrap.cc — see mpi_bootstrap.h.
#include "mpi_bootstrap.h"

#include <cstdlib>
#include <cstring>

#ifdef CONCCL_PERF_WITH_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only: no MPI C++ bindings to link
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace ccperf {

MpiSession::~MpiSession() {
#ifdef CONCCL_PERF_WITH_MPI
  if (initialized_) MPI_Finalize();
#endif
}

bool MpiSession::Start(ccComm_t* comm, ccResult_t* result) {
#ifdef CONCCL_PERF_WITH_MPI
  bool underMpi = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE");
  if (!underMpi || getenv("CONCCL_ROOT") || getenv("MASTER_ADDR")) return false;
  if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS) return false;
  initialized_ = true;
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  ccUniqueId id{};
  ccResult_t made = rank == 0 ? ccGetUniqueId(&id) : ccSuccess;
  int ok = made == ccSuccess;
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);  // every rank learns whether rank 0 has an id
  if (!ok) {
    *result = rank == 0 ? made : ccRemoteError;
    return true;
  }
  MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
  *result = ccCommInitRank(comm, size, id, rank);
  return true;
#else
  (void)comm;
  (void)result;
  return false;
#endif
}

bool LaunchedAsRank() {
  static const char* const kVars[][2] = {{"CONCCL_RANK", "CONCCL_NRANKS"},
                                         {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                         {"PMI_RANK", "PMI_SIZE"},
                                         {"SLURM_PROCID", "SLURM_NTASKS"},
                                         {"RANK", "WORLD_SIZE"}};
  for (const auto& v : kVars) {
    if (getenv(v[0]) == nullptr) continue;
    const char* size = getenv(v[1]);
    if (size == nullptr) return strcmp(v[0], "RANK") != 0;  // let ccCommInitFromEnv say what is missing
    return strcmp(size, "1") != 0;
  }
  return false;
}

}  // namespace ccperf
