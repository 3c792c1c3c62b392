// main.cc — conccl-train: flags, the communicator, the training run, the exit status.
#include <stdio.h>

#include <string>

#include "comm_setup.h"
#include "conccl.h"
#include "trainer.h"
#include "train_options.h"

// OpenBLAS's thread count, when the BLAS is OpenBLAS (weak: other BLAS builds link without it).
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

int main(int argc, char** argv) {
  cctrain::TrainOptions opt;
  std::string err;
  if (!cctrain::ParseTrainOptions(argc, argv, &opt, &err)) {
    fprintf(stderr, "conccl-train: %s\n", err.c_str());
    return 2;
  }
  if (opt.help) {
    fputs(cctrain::TrainUsage(), stdout);
    return 0;
  }
  if (openblas_set_num_threads) openblas_set_num_threads(opt.blasThreads);
  ccperf::MpiSession mpi;
  ccComm_t comm = nullptr;
  const char* what = "";
  ccResult_t r = cctrain::SetupComm(&mpi, &comm, &what);
  if (r != ccSuccess) {
    fprintf(stderr, "conccl-train: %s failed: %s (%s)\n", what, ccGetErrorString(r), ccGetLastError(nullptr));
    return 3;
  }
  int rc;
  {
    cctrain::Trainer trainer(opt, comm);
    rc = trainer.Run();
  }
  if (rc == 0 || rc == 1) {
    ccCommFinalize(comm);
    ccCommDestroy(comm);
  } else {
    ccCommAbort(comm);  // peers blocked in a collective see a remote error instead of waiting
  }
  return rc;
}
