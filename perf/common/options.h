// options.h — nccl-tests' command line, parsed without side effects so it can be unit tested.
#ifndef CONCCL_PERF_OPTIONS_H_
#define CONCCL_PERF_OPTIONS_H_

#include <stddef.h>
#include <stdio.h>

#include <optional>
#include <string>
#include <vector>

#include "conccl.h"

namespace ccperf {

// all_reduce_perf's compression flags (--codec ...). A flag left unset keeps ccCompressConfigInit's default.
struct CodecOptions {
  bool enabled = false;                      // --codec given: time ccAllreduceCompressed
  ccCodec_t codec = ccCodecInt8;             // --codec int8|int4|fp16|bf16|sign|randblock|topk|summable
  std::optional<int> bits;                   // --bits (summable: 2..16)
  std::optional<int> blockSize;              // --block (32..4096)
  std::optional<double> ratio;               // --ratio (randblock, topk: (0, 1])
  std::optional<ccFeedback_t> feedback;      // --feedback none|ef|ef2|conef
  std::optional<ccResidualCodec_t> residual; // --residual int8|int4|sketch (conef)
  std::optional<double> sketch;              // --sketch (conef sketch: (0, 1])
  std::optional<double> beta;                // --beta (conef sketch: [0, 1))
  std::optional<uint64_t> seed;              // --seed (the codec's shared randomness, not the data's)
  std::optional<ccRounding_t> rounding;      // --rounding nearest|stochastic
  std::optional<ccAlgo_t> algo;              // --algo auto|ring|tree
  // True when any flag above other than --codec was given.
  bool AnyParameter() const {
    return bits || blockSize || ratio || feedback || residual || sketch || beta || seed || rounding || algo;
  }
};

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
  int deviceBuffers = 0;                  // -G: 1 = CUDA device buffers, one stream per rank
  int parallelInit = 0;                   // -p: accepted; ranks always initialise in their own thread
  std::string jsonFile;                   // -J: JSON lines, one object per row
  std::string opArg = "sum";              // as given, for the header
  std::string typeArg = "float";
  CodecOptions codec;                     // all_reduce_perf only
};

enum class ParseStatus { kOk, kHelp, kError };

// Parses a size: a non-negative number with an optional K, M or G suffix (binary: KiB, MiB, GiB).
bool ParseSize(const char* text, size_t* bytes);

// Parses argv into *opt. kError: *error holds a one-line message; kHelp: -h was given. The compression
// flags (--codec, --bits, ...) are accepted only when allowCodec is true (all_reduce_perf).
ParseStatus ParseOptions(int argc, char** argv, Options* opt, std::string* error, bool allowCodec = false);

// Overrides the fields of *config (filled by ccCompressConfigInit) that the flags set.
void ApplyCodecOptions(const CodecOptions& codec, ccCompressConfig_t* config);

void PrintUsage(FILE* out, const char* prog, bool allowCodec = false);

}  // namespace ccperf

#endif  // CONCCL_PERF_OPTIONS_H_
