// options.cc — nccl-tests' flags with the same meanings (see options.h).
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

namespace ccperf {
namespace {

const struct option kLongOpts[] = {
    {"nthreads", required_argument, nullptr, 't'},     {"ngpus", required_argument, nullptr, 'g'},
    {"minbytes", required_argument, nullptr, 'b'},     {"maxbytes", required_argument, nullptr, 'e'},
    {"stepbytes", required_argument, nullptr, 'i'},    {"stepfactor", required_argument, nullptr, 'f'},
    {"iters", required_argument, nullptr, 'n'},        {"warmup_iters", required_argument, nullptr, 'w'},
    {"agg_iters", required_argument, nullptr, 'm'},    {"run_cycles", required_argument, nullptr, 'N'},
    {"parallel_init", required_argument, nullptr, 'p'}, {"check", required_argument, nullptr, 'c'},
    {"op", required_argument, nullptr, 'o'},           {"datatype", required_argument, nullptr, 'd'},
    {"root", required_argument, nullptr, 'r'},         {"blocking", required_argument, nullptr, 'z'},
    {"average", required_argument, nullptr, 'a'},      {"timeout", required_argument, nullptr, 'T'},
    {"output_file", required_argument, nullptr, 'J'},  {"unalign", required_argument, nullptr, 'u'},
    {"help", no_argument, nullptr, 'h'},               {nullptr, 0, nullptr, 0},
};
const char kShortOpts[] = ":t:g:b:e:i:f:n:w:m:N:p:c:o:d:r:z:a:T:J:u:h";

// A whole decimal integer in [lo, hi].
bool ParseInt(const char* text, long lo, long hi, long* value) {
  if (text == nullptr || *text == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const long v = strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *value = v;
  return true;
}

std::string Describe(int c) {
  for (const struct option* o = kLongOpts; o->name != nullptr; o++)
    if (o->val == c) return std::string("-") + static_cast<char>(c) + " (--" + o->name + ")";
  return std::string("-") + static_cast<char>(c);
}

// Handles one option with an integer argument; returns false with *error set when it is out of range.
bool IntOption(int c, const char* arg, Options* o, std::string* error) {
  struct Spec {
    int flag;
    long lo, hi;
    int* field;
  };
  const Spec specs[] = {
      {'t', 1, 4096, &o->nThreads},  {'g', 1, 1, &o->nGpus},       {'n', 1, INT_MAX, &o->iters},
      {'w', 0, INT_MAX, &o->warmupIters}, {'m', 1, 1 << 20, &o->aggIters}, {'N', 0, INT_MAX, &o->runCycles},
      {'p', 0, 1, &o->parallelInit}, {'c', 0, INT_MAX, &o->check}, {'z', 0, 3, &o->blocking},
      {'a', 0, 3, &o->average},      {'T', 0, INT_MAX, &o->timeoutSec}, {'u', 0, 1 << 20, &o->unalign},
  };
  for (const Spec& s : specs) {
    if (s.flag != c) continue;
    long v = 0;
    if (!ParseInt(arg, s.lo, s.hi, &v)) {
      *error = "invalid value '" + std::string(arg) + "' for " + Describe(c) + ": expected an integer in [" +
               std::to_string(s.lo) + ", " + std::to_string(s.hi) + "]" +
               (c == 'g' ? " (host memory: one rank per thread, use -t)" : "");
      return false;
    }
    *s.field = static_cast<int>(v);
    return true;
  }
  *error = "internal error: no integer option " + Describe(c);
  return false;
}

bool SizeOption(int c, const char* arg, Options* o, std::string* error) {
  size_t v = 0;
  if (!ParseSize(arg, &v)) {
    *error = "invalid size '" + std::string(arg) + "' for " + Describe(c) +
             ": expected a number with an optional K, M or G suffix";
    return false;
  }
  if (c == 'b') o->minBytes = v;
  if (c == 'e') o->maxBytes = v;
  if (c == 'i') o->stepBytes = v;
  if (c == 'f') o->stepFactor = v;
  return true;
}

bool OpOption(const char* arg, Options* o, std::string* error) {
  o->opArg = arg;
  o->ops.clear();
  if (strcmp(arg, "all") == 0) {
    for (int op = 0; op < ccNumOps; op++) o->ops.push_back(op);
    return true;
  }
  int op = 0;
  if (!ParseOp(arg, &op)) {
    *error = "unknown reduction op '" + std::string(arg) + "' for -o: use sum, prod, max, min, avg or all";
    return false;
  }
  o->ops.push_back(op);
  return true;
}

bool TypeOption(const char* arg, Options* o, std::string* error) {
  o->typeArg = arg;
  o->types.clear();
  if (strcmp(arg, "all") == 0) {
    const ccDataType_t all[] = {ccInt8,  ccUint8,   ccInt32,   ccUint32,  ccInt64,
                                ccUint64, ccFloat16, ccFloat32, ccFloat64, ccBfloat16};
    o->types.assign(all, all + sizeof(all) / sizeof(all[0]));
    return true;
  }
  ccDataType_t t;
  if (!ParseType(arg, &t)) {
    *error = "unknown data type '" + std::string(arg) +
             "' for -d: use int8, uint8, int32, uint32, int64, uint64, half, float, double, bfloat16 or all";
    return false;
  }
  o->types.push_back(t);
  return true;
}

bool RootOption(const char* arg, Options* o, std::string* error) {
  if (strcmp(arg, "all") == 0) {
    o->rootAll = true;
    return true;
  }
  long v = 0;
  if (!ParseInt(arg, 0, INT_MAX, &v)) {
    *error = "invalid root '" + std::string(arg) + "' for -r: expected a rank or all";
    return false;
  }
  o->root = static_cast<int>(v);
  o->rootAll = false;
  return true;
}

bool Validate(const Options& o, std::string* error) {
  if (o.maxBytes < o.minBytes) {
    *error = "maxbytes (-e " + std::to_string(o.maxBytes) + ") is smaller than minbytes (-b " +
             std::to_string(o.minBytes) + ")";
    return false;
  }
  if (o.stepFactor <= 1 && o.stepBytes == 0 && o.maxBytes > o.minBytes) {
    *error = "stepbytes (-i) must be > 0 when -f is not given";
    return false;
  }
  if (o.stepFactor > 1 && o.minBytes == 0 && o.maxBytes > 0) {
    *error = "minbytes (-b) must be > 0 with a step factor (-f)";
    return false;
  }
  return true;
}

}  // namespace

bool ParseSize(const char* text, size_t* bytes) {
  if (text == nullptr) return false;
  // digits [. digits] [K|M|G]: no sign, no exponent, no hex, nothing after the suffix
  const char* p = text;
  double v = 0;
  int digits = 0;
  for (; *p >= '0' && *p <= '9'; p++, digits++) v = v * 10 + (*p - '0');
  if (*p == '.') {
    double scale = 0.1;
    for (p++; *p >= '0' && *p <= '9'; p++, digits++, scale /= 10) v += (*p - '0') * scale;
  }
  if (digits == 0 || digits > 19) return false;
  double unit = 1;
  switch (*p) {
    case '\0': break;
    case 'K': case 'k': unit = 1024.0; p++; break;
    case 'M': case 'm': unit = 1024.0 * 1024; p++; break;
    case 'G': case 'g': unit = 1024.0 * 1024 * 1024; p++; break;
    default: return false;
  }
  if (*p != '\0') return false;
  const double total = v * unit;
  if (total > 1.8e19 || total != floor(total)) return false;  // whole bytes that fit a size_t
  *bytes = static_cast<size_t>(total);
  return true;
}

ParseStatus ParseOptions(int argc, char** argv, Options* opt, std::string* error) {
  Options o;
  opterr = 0;
  optind = 0;  // GNU: full reinitialisation, so the parser can run more than once (tests)
  for (;;) {
    const int c = getopt_long(argc, argv, kShortOpts, kLongOpts, nullptr);
    if (c == -1) break;
    bool ok = true;
    switch (c) {
      case 'b': case 'e': case 'i': case 'f': ok = SizeOption(c, optarg, &o, error); break;
      case 'o': ok = OpOption(optarg, &o, error); break;
      case 'd': ok = TypeOption(optarg, &o, error); break;
      case 'r': ok = RootOption(optarg, &o, error); break;
      case 'J': o.jsonFile = optarg; ok = !o.jsonFile.empty(); if (!ok) *error = "empty file name for -J"; break;
      case 'h': *opt = o; return ParseStatus::kHelp;
      case ':': *error = "option " + (optopt ? Describe(optopt) : std::string(argv[optind - 1])) +
                         " needs an argument"; ok = false; break;
      case '?': *error = "unknown option " + (optopt ? Describe(optopt) : std::string(argv[optind - 1])) +
                         " (see -h)"; ok = false; break;
      default: ok = IntOption(c, optarg, &o, error); break;
    }
    if (!ok) return ParseStatus::kError;
  }
  if (optind < argc) {
    *error = "unexpected argument '" + std::string(argv[optind]) + "' (see -h)";
    return ParseStatus::kError;
  }
  if (!Validate(o, error)) return ParseStatus::kError;
  *opt = o;
  return ParseStatus::kOk;
}

void PrintUsage(FILE* out, const char* prog) {
  fprintf(out,
          "USAGE: %s\n"
          "\t[-t,--nthreads <ranks as threads of this process>]\n"
          "\t[-g,--ngpus <1: host memory has one rank per thread>]\n"
          "\t[-b,--minbytes <min size in bytes, K/M/G suffixes>]\n"
          "\t[-e,--maxbytes <max size in bytes>]\n"
          "\t[-i,--stepbytes <increment size>]\n"
          "\t[-f,--stepfactor <increment factor>]\n"
          "\t[-n,--iters <iteration count>]\n"
          "\t[-m,--agg_iters <ops per group call>]\n"
          "\t[-w,--warmup_iters <warmup iteration count>]\n"
          "\t[-N,--run_cycles <run the sweep N times, 0 = forever>]\n"
          "\t[-p,--parallel_init <0/1>]\n"
          "\t[-c,--check <check iterations, 0 disables>]\n"
          "\t[-o,--op <sum/prod/max/min/avg/all>]\n"
          "\t[-d,--datatype <int8/uint8/int32/uint32/int64/uint64/half/float/double/bfloat16/all>]\n"
          "\t[-r,--root <root rank or all>]\n"
          "\t[-z,--blocking <0: none, 1: barrier after each op, 2: no barrier, 3: barrier per iteration>]\n"
          "\t[-a,--average <0: rank 0, 1: mean, 2: min, 3: max time across ranks>]\n"
          "\t[-T,--timeout <seconds per call, 0 = off>]\n"
          "\t[-J,--output_file <JSON lines file>]\n"
          "\t[-u,--unalign <offset in elements>]\n"
          "\t[-h,--help]\n"
          "Ranks: -t N runs N ranks as threads; under conccl-run, mpirun, srun or torchrun each process\n"
          "joins through ccCommInitFromEnv (CONCCL_RANK/NRANKS/ROOT, OMPI_COMM_WORLD_*, SLURM_*, RANK/WORLD_SIZE)\n"
          "with -t threads each.\n"
          "Exit status: 0 ok, 1 a data check failed, 2 bad usage, 3 a library call failed or timed out.\n",
          prog);
}

}  // namespace ccperf
