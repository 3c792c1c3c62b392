// driver.h — the perf tools' driver: one Main for every collective, which parses nccl-tests' flags,
// creates the ranks (threads with -t, or one process per rank under a launcher), sweeps sizes, times,
// checks results and prints nccl-tests' table. Each <collective>_perf.cc only describes its collective.
#ifndef CONCCL_PERF_DRIVER_H_
#define CONCCL_PERF_DRIVER_H_

#include <stddef.h>
#include <stdint.h>

#include "busbw.h"
#include "conccl.h"
#include "data.h"

namespace ccperf {

// What a collective's check sees: this rank's result buffer after one call.
struct CheckArgs {
  const void* recv;    // the receive pointer that was passed to the call
  size_t count;        // the count argument of the call
  ccDataType_t type;
  int op;              // ccRedOp_t, or kOpNone
  int root;            // -1 for collectives without root
  int rank;
  int nranks;
  uint64_t seed;       // the seed FillInput used on every rank
};

struct CollTest {
  const char* name;    // "all_reduce": the JSON "collective" field
  Coll coll;           // sizes and busbw rules (busbw.h)
  bool usesOp;         // false: the redop column says none and -o is ignored
  bool usesRoot;       // false: the root column says -1 and -r is ignored
  bool inPlace;        // false: in-place is not defined for this collective; its columns say N/A
  // Issues one call on stream (the rank's CUDA stream with -G 1, else NULL); `op` is ccSum when usesOp is
  // false, `root` is -1 when usesRoot is false.
  ccResult_t (*run)(const void* send, void* recv, size_t count, ccDataType_t type, ccRedOp_t op, int root,
                    int rank, int nranks, ccComm_t comm, ccStream_t stream);
  // Counts this rank's wrong result elements. Every rank's send buffer held FillInput(rank, index 0..).
  size_t (*check)(const CheckArgs& args);
};

// all_reduce_perf --codec: issues one ccAllreduceCompressed call with config.
using CompressedRunFn = ccResult_t (*)(const void* send, void* recv, size_t count, ccDataType_t type, ccRedOp_t op,
                                       const ccCompressConfig_t* config, ccComm_t comm, ccStream_t stream);

// The whole program: returns the exit status (0 ok, 1 data check failed, 2 bad usage, 3 library failure).
// compressed: the tool accepts --codec and friends (all_reduce_perf); other tools reject them.
int Main(int argc, char** argv, const CollTest& test, CompressedRunFn compressed = nullptr);

}  // namespace ccperf

#endif  // CONCCL_PERF_DRIVER_H_
