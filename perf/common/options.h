// options.h — nccl-tests' command line, parsed without side effects so it can be unit tested.
#ifndef CONCCL_PERF_OPTIONS_H_
#define CONCCL_PERF_OPTIONS_H_

#include <stddef.h>
#include <stdio.h>

#include <string>
#include <vector>

#include "conccl.h"

namespace ccperf {

struct Options {
  int nThreads = 1;                       // -t: ranks (threads) per process
  int nGpus = 1;                          // -g: accepted for compatibility, must be 1
  size_t minBytes = 32u << 20;            // -b
  size_t maxBytes = 32u << 20;            // -e
  size_t stepBytes = 1u << 20;            // -i (used when -f is 1)
  size_t stepFactor = 1;                  // -f (> 1: multiplicative steps)
  int iters = 20;                         // -n
  int warmupIters = 1;                    // -w
  int aggIters = 1;                       // -m: ops per ccGroupStart/End
  int runCycles = 1;                      // -N: repeat the sweep; 0 = forever
  int check = 1;                          // -c: check iterations per size (0: #wrong is N/A)
  std::vector<int> ops{ccSum};            // -o: sum|prod|max|min|avg|all
  std::vector<ccDataType_t> types{ccFloat32};  // -d: a type name or all
  int root = 0;                           // -r: root of rooted collectives
  bool rootAll = false;                   // -r all
  int blocking = 0;                       // -z: 0 none, 1 barrier after each op, 2 none, 3 barrier per iteration
  int average = 1;                        // -a: time across ranks: 0 rank 0, 1 mean, 2 min, 3 max
  int timeoutSec = 0;                     // -T: abort a call that takes longer (0: off)
  int unalign = 0;                        // -u: offset buffers by this many elements
  int parallelInit = 0;                   // -p: accepted; ranks always initialise in their own thread
  std::string jsonFile;                   // -J: JSON lines, one object per row
  std::string opArg = "sum";              // as given, for the header
  std::string typeArg = "float";
};

enum class ParseStatus { kOk, kHelp, kError };

// Parses a size: a non-negative number with an optional K, M or G suffix (binary: KiB, MiB, GiB).
bool ParseSize(const char* text, size_t* bytes);

// Parses argv into *opt. kError: *error holds a one-line message; kHelp: -h was given.
ParseStatus ParseOptions(int argc, char** argv, Options* opt, std::string* error);

void PrintUsage(FILE* out, const char* prog);

}  // namespace ccperf

#endif  // CONCCL_PERF_OPTIONS_H_
