// options.cc — nccl-tests' flags with the same meanings (see options.h).
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec_bound.h"
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
    {"device_buffers", required_argument, nullptr, 'G'},
    {"help", no_argument, nullptr, 'h'},
    // all_reduce_perf's compression flags (long only; other tools reject them)
    {"codec", required_argument, nullptr, 256},        {"bits", required_argument, nullptr, 257},
    {"block", required_argument, nullptr, 258},        {"ratio", required_argument, nullptr, 259},
    {"feedback", required_argument, nullptr, 260},     {"algo", required_argument, nullptr, 261},
    {"residual", required_argument, nullptr, 262},     {"sketch", required_argument, nullptr, 263},
    {"beta", required_argument, nullptr, 264},         {"seed", required_argument, nullptr, 265},
    {"rounding", required_argument, nullptr, 266},     {nullptr, 0, nullptr, 0},
};
constexpr int kFirstCodecOpt = 256;
const char kShortOpts[] = ":t:g:b:e:i:f:n:w:m:N:p:c:o:d:r:z:a:T:J:u:G:h";

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
  for (const struct option* o = kLongOpts; o->name != nullptr; o++) {
    if (o->val != c) continue;
    if (c >= kFirstCodecOpt) return std::string("--") + o->name;
    return std::string("-") + static_cast<char>(c) + " (--" + o->name + ")";
  }
  return std::string("-") + static_cast<char>(c);
}

// A whole decimal number (no nan/inf) in [lo, hi]; loOpen/hiOpen exclude the ends.
bool ParseReal(const char* text, double lo, bool loOpen, double hi, bool hiOpen, double* value) {
  if (text == nullptr || *text == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const double v = strtod(text, &end);
  if (errno != 0 || *end != '\0' || !isfinite(v)) return false;
  if (v < lo || (loOpen && v == lo) || v > hi || (hiOpen && v == hi)) return false;
  *value = v;
  return true;
}

// The compression flags (all_reduce_perf): names and ranges as ValidateCompressConfig in the library.
bool CodecOption(int c, const char* arg, Options* o, std::string* error) {
  CodecOptions& k = o->codec;
  const std::string what = Describe(c);
  auto bad = [&](const std::string& expected) {
    *error = "invalid value '" + std::string(arg) + "' for " + what + ": " + expected;
    return false;
  };
  long iv = 0;
  double dv = 0;
  switch (c) {
    case 256:
      if (!ParseCodecName(arg, &k.codec)) {
        *error = "unknown codec '" + std::string(arg) +
                 "' for --codec: use int8, int4, fp16, bf16, sign, randblock, topk or summable";
        return false;
      }
      k.enabled = true;
      return true;
    case 257:
      if (!ParseInt(arg, 2, 16, &iv)) return bad("expected an integer in [2, 16]");
      k.bits = static_cast<int>(iv);
      return true;
    case 258:
      if (!ParseInt(arg, 32, 4096, &iv)) return bad("expected an integer in [32, 4096]");
      k.blockSize = static_cast<int>(iv);
      return true;
    case 259:
      if (!ParseReal(arg, 0, true, 1, false, &dv) || static_cast<float>(dv) <= 0.0f)
        return bad("expected a number in (0, 1]");
      k.ratio = dv;
      return true;
    case 260: {
      ccFeedback_t f;
      if (!ParseFeedbackName(arg, &f)) return bad("use none, ef, ef2 or conef");
      k.feedback = f;
      return true;
    }
    case 261: {
      ccAlgo_t a;
      if (!ParseAlgoName(arg, &a)) return bad("use auto, ring or tree");
      k.algo = a;
      return true;
    }
    case 262: {
      ccResidualCodec_t r;
      if (!ParseResidualName(arg, &r)) return bad("use int8, int4 or sketch");
      k.residual = r;
      return true;
    }
    case 263:
      if (!ParseReal(arg, 0, true, 1, false, &dv) || static_cast<float>(dv) <= 0.0f)
        return bad("expected a number in (0, 1]");
      k.sketch = dv;
      return true;
    case 264:
      if (!ParseReal(arg, 0, false, 1, true, &dv) || static_cast<float>(dv) >= 1.0f)
        return bad("expected a number in [0, 1)");
      k.beta = dv;
      return true;
    case 265: {
      if (arg == nullptr || *arg < '0' || *arg > '9') return bad("expected a non-negative integer");
      char* end = nullptr;
      errno = 0;
      const unsigned long long v = strtoull(arg, &end, 10);
      if (errno != 0 || *end != '\0') return bad("expected a non-negative integer below 2^64");
      k.seed = static_cast<uint64_t>(v);
      return true;
    }
    case 266: {
      ccRounding_t r;
      if (!ParseRoundingName(arg, &r)) return bad("use nearest or stochastic");
      k.rounding = r;
      return true;
    }
    default:
      *error = "internal error: no compression option " + std::to_string(c);
      return false;
  }
}

// The combinations of compression flags that ccAllreduceCompressed would reject or ignore.
bool ValidateCodec(const Options& o, std::string* error) {
  const CodecOptions& k = o.codec;
  if (!k.enabled) {
    if (k.AnyParameter()) *error = "--bits, --block, --ratio, --feedback, --algo, --residual, --sketch, --beta, "
                                   "--seed and --rounding need --codec";
    return !k.AnyParameter();
  }
  const char* name = CodecName(k.codec);
  for (ccDataType_t t : o.types) {
    if (t != ccFloat32 && t != ccFloat16 && t != ccBfloat16) {
      *error = std::string("--codec ") + name + " reduces float, half or bfloat16, not " + TypeName(t) + " (-d)";
      return false;
    }
  }
  for (int op : o.ops) {
    if (op != ccSum && op != ccAvg) {
      *error = std::string("--codec ") + name + " reduces with sum or avg, not " + OpName(op) + " (-o)";
      return false;
    }
  }
  if (k.bits && k.codec != ccCodecSummable) {
    const int fixed = k.codec == ccCodecInt8 ? 8 : k.codec == ccCodecInt4 ? 4
                    : (k.codec == ccCodecFp16 || k.codec == ccCodecBf16) ? 16 : 0;
    if (*k.bits != fixed) {
      *error = std::string("--bits applies to --codec summable") +
               (fixed ? std::string(" (") + name + " has " + std::to_string(fixed) + " bits)" : std::string());
      return false;
    }
  }
  const bool conef = k.feedback && *k.feedback == ccFeedbackConef;
  if ((k.residual || k.sketch || k.beta) && !conef) {
    *error = "--residual, --sketch and --beta need --feedback conef";
    return false;
  }
  if ((k.sketch || k.beta) && !(k.residual && *k.residual == ccResidualSketch)) {
    *error = "--sketch and --beta need --residual sketch";
    return false;
  }
  return true;
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
      {'G', 0, 1, &o->deviceBuffers},
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

ParseStatus ParseOptions(int argc, char** argv, Options* opt, std::string* error, bool allowCodec) {
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
      default:
        if (c >= kFirstCodecOpt && !allowCodec) {
          *error = "option " + Describe(c) + " is only valid for all_reduce_perf";
          ok = false;
        } else {
          ok = c >= kFirstCodecOpt ? CodecOption(c, optarg, &o, error) : IntOption(c, optarg, &o, error);
        }
        break;
    }
    if (!ok) return ParseStatus::kError;
  }
  if (optind < argc) {
    *error = "unexpected argument '" + std::string(argv[optind]) + "' (see -h)";
    return ParseStatus::kError;
  }
  if (!Validate(o, error) || !ValidateCodec(o, error)) return ParseStatus::kError;
  *opt = o;
  return ParseStatus::kOk;
}

void ApplyCodecOptions(const CodecOptions& k, ccCompressConfig_t* c) {
  c->codec = k.codec;
  if (k.bits) c->bits = *k.bits;
  if (k.blockSize) c->blockSize = *k.blockSize;
  if (k.ratio) c->ratio = static_cast<float>(*k.ratio);
  if (k.feedback) c->feedback = *k.feedback;
  if (k.residual) c->residualCodec = *k.residual;
  if (k.sketch) c->sketchSize = static_cast<float>(*k.sketch);
  if (k.beta) c->beta = static_cast<float>(*k.beta);
  if (k.seed) c->seed = *k.seed;
  if (k.rounding) c->rounding = *k.rounding;
  if (k.algo) c->algo = *k.algo;
}

void PrintUsage(FILE* out, const char* prog, bool allowCodec) {
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
          "\t[-G,--device_buffers <0: host memory, 1: CUDA device memory, one stream per rank>]\n"
          "\t[-h,--help]\n"
          "%s"
          "Ranks: -t N runs N ranks as threads; under conccl-run, mpirun, srun or torchrun each process\n"
          "joins through ccCommInitFromEnv (CONCCL_RANK/NRANKS/ROOT, OMPI_COMM_WORLD_*, SLURM_*, RANK/WORLD_SIZE)\n"
          "with -t threads each.\n"
          "Exit status: 0 ok, 1 a data check failed, 2 bad usage, 3 a library call failed or timed out.\n",
          prog,
          allowCodec
              ? "Compressed all-reduce (ccAllreduceCompressed; adds the columns ratio and nmse):\n"
                "\t[--codec <int8/int4/fp16/bf16/sign/randblock/topk/summable>]\n"
                "\t[--bits <summable: 2..16>] [--block <elements per scale, 32..4096>]\n"
                "\t[--ratio <randblock/topk: fraction sent, (0,1]>] [--rounding <nearest/stochastic>]\n"
                "\t[--feedback <none/ef/ef2/conef>] [--residual <conef: int8/int4/sketch>]\n"
                "\t[--sketch <conef sketch: buckets per element, (0,1]>] [--beta <conef sketch: [0,1)>]\n"
                "\t[--algo <auto/ring/tree>] [--seed <shared randomness of the codec>]\n"
              : "");
}

}  // namespace ccperf
