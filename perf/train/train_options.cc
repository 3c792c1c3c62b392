// train_options.cc — flag parsing for conccl-train.
#include "train_options.h"

#include <stdlib.h>
#include <string.h>

#include <cerrno>
#include <cmath>
#include <functional>
#include <map>

#include "dataset.h"

namespace cctrain {
namespace {

bool ToInt(const std::string& s, long lo, long hi, int* out) {
  char* end = nullptr;
  errno = 0;
  long v = strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ToDouble(const std::string& s, double lo, double hi, double* out) {
  char* end = nullptr;
  errno = 0;
  double v = strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno != 0 || !std::isfinite(v) || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// "1/64" or "0.015625".
bool ToRatio(const std::string& s, double* out) {
  size_t slash = s.find('/');
  if (slash == std::string::npos) return ToDouble(s, 1e-9, 1.0, out) && *out > 0;
  double num, den;
  if (!ToDouble(s.substr(0, slash), 1e-9, 1e9, &num) || !ToDouble(s.substr(slash + 1), 1e-9, 1e9, &den)) return false;
  *out = num / den;
  return *out > 0 && *out <= 1.0;
}

bool OneOf(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (v == a) return true;
  return false;
}

std::string Check(const TrainOptions& o) {
  if (!OneOf(o.model, {"mlp", "cnn"})) return "--model must be mlp or cnn, not '" + o.model + "'";
  if (!OneOf(o.method, {"sgd", "none", "ef", "ef2", "conef", "def", "saef"}))
    return "--method must be sgd, none, ef, ef2, conef, def or saef, not '" + o.method + "'";
  if (!OneOf(o.codec, {"randblock", "int8", "int4", "topk", "sign"}))
    return "--codec must be randblock, int8, int4, topk or sign, not '" + o.codec + "'";
  if (!OneOf(o.residual, {"int8", "int4", "sketch"}))
    return "--residual must be int8, int4 or sketch, not '" + o.residual + "'";
  if (!OneOf(o.exchange, {"layer", "bucket"})) return "--exchange must be layer or bucket, not '" + o.exchange + "'";
  if (o.averagePeriod > 0 && o.method != "saef" && o.method != "def")
    return "--average-period needs --method saef or def (error averaging of EF residuals)";
  if (o.residualFp16 && o.residual != "sketch") return "--residual-fp16 applies to --residual sketch only";
  if (o.method == "ef2" && o.codec != "int8" && o.codec != "int4")
    return "--method ef2 needs a ring codec that re-compresses at the chunk owner (int8 or int4)";
  return "";
}

}  // namespace

const char* TrainUsage() {
  return "Usage: conccl-train [options]   (one rank per process: conccl-run, mpirun, conccl-bench-cluster;\n"
         "                                 without a launcher it trains alone as one rank)\n"
         "Data-parallel training of an MLP or a small CNN on Fashion-MNIST over ConCCL.\n"
         "  --model mlp|cnn        (mlp)      --width W       MLP 784-W-W-10 (1024)\n"
         "  --channels C           CNN conv channels C, 2C (8)\n"
         "  --epochs E (5)   --batch B per rank (32)   --lr LR (0.05)   --momentum M (0.9)   --wd WD (1e-4)\n"
         "  --method sgd|none|ef|ef2|conef|def|saef   (sgd = uncompressed ccAllReduce)\n"
         "  --codec randblock|int8|int4|topk|sign     --ratio R (randblock/topk; 1/64 or 0.1 form; 1/64)\n"
         "  --block-size N (256)   --residual int8|int4|sketch (conef; sketch)   --sketch S (0.2)\n"
         "  --beta B (0.9)         --residual-fp16 (sketch buckets as fp16)\n"
         "  --def-coeff A (def: gradient at x - A*lr/(1-momentum)*e; 0.3; saef = def with A=1)\n"
         "  --average-period H     (saef/def: ccCommAverageResiduals every H steps; 0 = never)\n"
         "  --exchange layer|bucket (layer)   --bucket-mib MiB (4)   --warmup-steps N (0)\n"
         "  --train-subset N  --test-subset N (0 = all)   --eval-every STEPS (0 = per epoch)\n"
         "  --seed S (1)   --data-dir DIR (" "/usr/share/datasets/fashion-mnist" ")   --blas-threads T (1)\n"
         "  -J FILE  JSON lines, one per evaluation (rank 0)   --label TEXT (copied into the rows)\n"
         "Exit status: 0 done, 1 training diverged (non-finite loss), 2 bad usage or data, 3 library failure.\n";
}

bool ParseTrainOptions(int argc, char** argv, TrainOptions* o, std::string* error) {
  using Setter = std::function<bool(const std::string&)>;
  const std::map<std::string, Setter> flags = {
      {"--model", [o](const std::string& v) { o->model = v; return true; }},
      {"--width", [o](const std::string& v) { return ToInt(v, 1, 65536, &o->width); }},
      {"--channels", [o](const std::string& v) { return ToInt(v, 1, 256, &o->channels); }},
      {"--epochs", [o](const std::string& v) { return ToInt(v, 1, 100000, &o->epochs); }},
      {"--batch", [o](const std::string& v) { return ToInt(v, 1, 65536, &o->batch); }},
      {"--lr", [o](const std::string& v) { return ToDouble(v, 0, 1e3, &o->lr); }},
      {"--momentum", [o](const std::string& v) { return ToDouble(v, 0, 0.999999, &o->momentum); }},
      {"--wd", [o](const std::string& v) { return ToDouble(v, 0, 1, &o->weightDecay); }},
      {"--method", [o](const std::string& v) { o->method = v; return true; }},
      {"--codec", [o](const std::string& v) { o->codec = v; return true; }},
      {"--ratio", [o](const std::string& v) { return ToRatio(v, &o->ratio); }},
      {"--block-size", [o](const std::string& v) { return ToInt(v, 32, 4096, &o->blockSize); }},
      {"--residual", [o](const std::string& v) { o->residual = v; return true; }},
      {"--sketch", [o](const std::string& v) { return ToDouble(v, 1e-6, 1, &o->sketchSize); }},
      {"--beta", [o](const std::string& v) { return ToDouble(v, 0, 0.999999, &o->beta); }},
      {"--def-coeff", [o](const std::string& v) { return ToDouble(v, 0, 10, &o->defCoeff); }},
      {"--average-period", [o](const std::string& v) { return ToInt(v, 0, 1 << 30, &o->averagePeriod); }},
      {"--exchange", [o](const std::string& v) { o->exchange = v; return true; }},
      {"--bucket-mib", [o](const std::string& v) { return ToDouble(v, 1.0 / 1024, 4096, &o->bucketMiB); }},
      {"--warmup-steps", [o](const std::string& v) { return ToInt(v, 0, 1 << 30, &o->warmupSteps); }},
      {"--train-subset", [o](const std::string& v) { return ToInt(v, 0, 1 << 30, &o->trainSubset); }},
      {"--test-subset", [o](const std::string& v) { return ToInt(v, 0, 1 << 30, &o->testSubset); }},
      {"--eval-every", [o](const std::string& v) { return ToInt(v, 0, 1 << 30, &o->evalEvery); }},
      {"--blas-threads", [o](const std::string& v) { return ToInt(v, 1, 256, &o->blasThreads); }},
      {"--seed", [o](const std::string& v) { int s; if (!ToInt(v, 0, 2147483647, &s)) return false; o->seed = s; return true; }},
      {"--data-dir", [o](const std::string& v) { o->dataDir = v; return !v.empty(); }},
      {"-J", [o](const std::string& v) { o->jsonPath = v; return !v.empty(); }},
      {"--label", [o](const std::string& v) { o->label = v; return true; }},
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") { o->help = true; return true; }
    if (a == "--residual-fp16") { o->residualFp16 = true; continue; }
    std::string value;
    bool inlineValue = false;
    size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      inlineValue = true;
    }
    auto it = flags.find(a);
    if (it == flags.end()) { *error = "unknown option '" + a + "' (see --help)"; return false; }
    if (!inlineValue) {
      if (i + 1 >= argc) { *error = "option " + a + " needs a value"; return false; }
      value = argv[++i];
    }
    if (!it->second(value)) { *error = "option " + a + ": invalid value '" + value + "'"; return false; }
  }
  if (o->method == "saef") o->defCoeff = 1.0;
  if (o->dataDir.empty()) o->dataDir = kDefaultDataDir;
  *error = Check(*o);
  return error->empty();
}

}  // namespace cctrain
