// policy.cc — parsing of CONCCL_NCCL_COMPRESS, the policy that turns matching ncclAllReduce calls into
// ccAllreduceCompressed.
//
// Syntax: a comma list of key=value, e.g. "codec=int8,feedback=conef,residual=int4,min_bytes=1M".
//   codec      int8 | int4 | fp16 | bf16 | randblock | summable | sign | topk | none   (default int8)
//   feedback   none | ef | ef2 | conef                                                 (default none)
//   residual   int8 | int4 | sketch      (feedback=conef only)                         (default int8)
//   min_bytes  bytes, with an optional K, M or G suffix (powers of 1024)               (default 1M)
//   block      elements per scale, 32..4096                                            (default 256)
//   ratio      fraction sent by randblock/topk, (0, 1]                                  (default 1/64)
//   bits       summable bits, 2..16                                                     (default 8)
//   warmup     first N calls per buffer go uncompressed                                 (default 0)
//   seed       shared random seed                                                       (default 42)
//   rounding   nearest | stochastic                                                     (default nearest)
//   algo       auto | ring | tree                                                       (default auto)
//   sketch     conef sketch buckets per element, (0, 1]                                 (default 0.2)
//   beta       conef sketch feedback factor, [0, 1)                                     (default 0.9)
#include <strings.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "shim.h"

namespace ncclshim {
namespace {

struct Name {
  const char* text;
  int value;
};

const Name kCodecs[] = {{"int8", ccCodecInt8},       {"int4", ccCodecInt4},         {"fp16", ccCodecFp16},
                        {"bf16", ccCodecBf16},       {"randblock", ccCodecRandBlock}, {"summable", ccCodecSummable},
                        {"sign", ccCodecSign},       {"topk", ccCodecTopK},         {"none", ccCodecNone}};
const Name kFeedback[] = {{"none", ccFeedbackNone}, {"ef", ccFeedbackEf}, {"ef2", ccFeedbackEf2}, {"conef", ccFeedbackConef}};
const Name kResidual[] = {{"int8", ccResidualInt8}, {"int4", ccResidualInt4}, {"sketch", ccResidualSketch}};
const Name kRounding[] = {{"nearest", ccRoundNearest}, {"stochastic", ccRoundStochastic}};
const Name kAlgo[] = {{"auto", ccAlgoAuto}, {"ring", ccAlgoRing}, {"tree", ccAlgoTree}};

template <size_t N>
bool Lookup(const Name (&names)[N], const std::string& v, int* out) {
  for (const Name& n : names)
    if (strcasecmp(n.text, v.c_str()) == 0) return *out = n.value, true;
  return false;
}

template <size_t N>
std::string Choices(const Name (&names)[N]) {
  std::string s;
  for (const Name& n : names) s += (s.empty() ? "" : "|") + std::string(n.text);
  return s;
}

bool ParseInt(const std::string& v, long long lo, long long hi, long long* out) {
  if (v.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long x = strtoll(v.c_str(), &end, 10);
  if (errno || *end || x < lo || x > hi) return false;
  return *out = x, true;
}

bool ParseFloat(const std::string& v, float* out) {
  if (v.empty()) return false;
  char* end = nullptr;
  errno = 0;
  float x = strtof(v.c_str(), &end);
  if (errno || *end) return false;
  return *out = x, true;
}

// "1048576", "64K", "1M", "2G", also "64KB", "64KiB" (powers of 1024).
bool ParseBytes(const std::string& v, size_t* out) {
  if (v.empty() || !(v[0] >= '0' && v[0] <= '9')) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long x = strtoull(v.c_str(), &end, 10);
  if (errno) return false;
  std::string suffix = end;
  unsigned shift = 0;
  if (!suffix.empty()) {
    char c = static_cast<char>(toupper(static_cast<unsigned char>(suffix[0])));
    shift = c == 'K' ? 10 : c == 'M' ? 20 : c == 'G' ? 30 : 99;
    std::string rest = suffix.substr(1);
    if (shift == 99 || !(rest.empty() || strcasecmp(rest.c_str(), "B") == 0 || strcasecmp(rest.c_str(), "iB") == 0))
      return false;
  }
  if (x > (~0ull >> shift)) return false;
  *out = static_cast<size_t>(x << shift);
  return true;
}

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Applies one key=value; returns "" or the reason it is bad.
std::string Apply(const std::string& key, const std::string& v, CompressPolicy* p, bool* sawResidual) {
  ccCompressConfig_t& c = p->config;
  int e = 0;
  long long i = 0;
  float f = 0;
  auto bad = [&](const std::string& expect) { return "bad value '" + v + "' for " + key + " (" + expect + ")"; };
  if (key == "codec") {
    if (!Lookup(kCodecs, v, &e)) return bad(Choices(kCodecs));
    c.codec = static_cast<ccCodec_t>(e);
  } else if (key == "feedback") {
    if (!Lookup(kFeedback, v, &e)) return bad(Choices(kFeedback));
    c.feedback = static_cast<ccFeedback_t>(e);
  } else if (key == "residual") {
    if (!Lookup(kResidual, v, &e)) return bad(Choices(kResidual));
    c.residualCodec = static_cast<ccResidualCodec_t>(e);
    *sawResidual = true;
  } else if (key == "rounding") {
    if (!Lookup(kRounding, v, &e)) return bad(Choices(kRounding));
    c.rounding = static_cast<ccRounding_t>(e);
  } else if (key == "algo") {
    if (!Lookup(kAlgo, v, &e)) return bad(Choices(kAlgo));
    c.algo = static_cast<ccAlgo_t>(e);
  } else if (key == "min_bytes") {
    if (!ParseBytes(v, &p->minBytes)) return bad("bytes with an optional K, M or G suffix");
  } else if (key == "block") {
    if (!ParseInt(v, 32, 4096, &i)) return bad("an integer in 32..4096");
    c.blockSize = static_cast<int>(i);
  } else if (key == "bits") {
    if (!ParseInt(v, 2, 16, &i)) return bad("an integer in 2..16");
    c.bits = static_cast<int>(i);
  } else if (key == "warmup") {
    if (!ParseInt(v, 0, 1 << 30, &i)) return bad("a non-negative integer");
    c.warmupCalls = static_cast<int>(i);
  } else if (key == "seed") {
    if (!ParseInt(v, 0, (1ll << 62), &i)) return bad("a non-negative integer");
    c.seed = static_cast<uint64_t>(i);
  } else if (key == "ratio") {
    if (!ParseFloat(v, &f) || !(f > 0.0f && f <= 1.0f)) return bad("a number in (0, 1]");
    c.ratio = f;
  } else if (key == "sketch") {
    if (!ParseFloat(v, &f) || !(f > 0.0f && f <= 1.0f)) return bad("a number in (0, 1]");
    c.sketchSize = f;
  } else if (key == "beta") {
    if (!ParseFloat(v, &f) || !(f >= 0.0f && f < 1.0f)) return bad("a number in [0, 1)");
    c.beta = f;
  } else {
    return "unknown key '" + key +
           "' (keys: codec, feedback, residual, min_bytes, block, ratio, bits, warmup, seed, rounding, algo, sketch, beta)";
  }
  return "";
}

}  // namespace

const char* CodecName(ccCodec_t codec) {
  for (const Name& n : kCodecs)
    if (n.value == codec) return n.text;
  return "plugin";
}

const char* FeedbackName(ccFeedback_t feedback) {
  for (const Name& n : kFeedback)
    if (n.value == feedback) return n.text;
  return "?";
}

ncclResult_t ParsePolicy(const char* text, CompressPolicy* out, std::string* error) {
  CompressPolicy p;
  ccCompressConfigInit(&p.config);
  p.text = text ? text : "";
  if (Trim(p.text).empty()) {
    *out = p;
    return ncclSuccess;
  }
  bool sawResidual = false;
  size_t pos = 0;
  while (pos <= p.text.size()) {
    size_t comma = p.text.find(',', pos);
    if (comma == std::string::npos) comma = p.text.size();
    std::string token = Trim(p.text.substr(pos, comma - pos));
    pos = comma + 1;
    if (token.empty()) continue;  // tolerate "a=1,,b=2" and a trailing comma
    size_t eq = token.find('=');
    std::string why;
    if (eq == std::string::npos) why = "'" + token + "' is not key=value";
    else why = Apply(Trim(token.substr(0, eq)), Trim(token.substr(eq + 1)), &p, &sawResidual);
    if (!why.empty()) {
      *error = "CONCCL_NCCL_COMPRESS: " + why + " in \"" + p.text + "\"";
      return ncclInvalidArgument;
    }
  }
  if (sawResidual && p.config.feedback != ccFeedbackConef) {
    *error = "CONCCL_NCCL_COMPRESS: residual= applies to feedback=conef only, in \"" + p.text + "\"";
    return ncclInvalidArgument;
  }
  p.config.minCount = 0;  // the shim applies min_bytes itself, so small calls also stay on the exact path
  p.enabled = p.config.codec != ccCodecNone;
  *out = p;
  return ncclSuccess;
}

}  // namespace ncclshim
