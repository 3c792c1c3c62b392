// init_env.h — reading a launcher's environment for ccCommInitFromEnv.
//
// Rank and size come from the first complete pair of: CONCCL_RANK/CONCCL_NRANKS, OMPI_COMM_WORLD_RANK/
// OMPI_COMM_WORLD_SIZE (Open MPI), PMI_RANK/PMI_SIZE (MPICH, Hydra), SLURM_PROCID/SLURM_NTASKS (srun),
// RANK/WORLD_SIZE (torchrun). The rendezvous address is CONCCL_ROOT=host:port, else MASTER_ADDR with
// port MASTER_PORT+1 (torchrun's own store already listens on MASTER_PORT).
#pragma once

#include <string>

#include "conccl.h"
#include "core/unique_id.h"

namespace conccl {

struct LaunchEnv {
  int rank = -1;
  int nranks = 0;
  std::string source;  // which variables gave rank and size
  std::string root;    // host:port
};

ccResult_t ReadLaunchEnv(LaunchEnv* env);

// Builds the unique id every rank derives from the environment; rank 0 also starts the root there.
// The secret is CONCCL_SECRET (32 hex digits) or, without it, derived from the address and size.
ccResult_t MakeEnvUniqueId(const LaunchEnv& env, UniqueIdLayout* id);

}  // namespace conccl
