// codec_bound.cc — codec names and the error bounds of all_reduce_perf --codec (see codec_bound.h).
#include "codec_bound.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "data.h"

namespace ccperf {
namespace {

template <typename E>
struct Name {
  const char* name;
  E value;
};

const Name<ccCodec_t> kCodecs[] = {{"int8", ccCodecInt8},         {"int4", ccCodecInt4}, {"fp16", ccCodecFp16},
                                   {"bf16", ccCodecBf16},         {"sign", ccCodecSign}, {"randblock", ccCodecRandBlock},
                                   {"topk", ccCodecTopK},         {"summable", ccCodecSummable}};
const Name<ccFeedback_t> kFeedbacks[] = {
    {"none", ccFeedbackNone}, {"ef", ccFeedbackEf}, {"ef2", ccFeedbackEf2}, {"conef", ccFeedbackConef}};
const Name<ccResidualCodec_t> kResiduals[] = {
    {"int8", ccResidualInt8}, {"int4", ccResidualInt4}, {"sketch", ccResidualSketch}};
const Name<ccRounding_t> kRoundings[] = {{"nearest", ccRoundNearest}, {"stochastic", ccRoundStochastic}};
const Name<ccAlgo_t> kAlgos[] = {{"auto", ccAlgoAuto}, {"ring", ccAlgoRing}, {"tree", ccAlgoTree}};

template <typename E, size_t N>
bool ParseName(const Name<E> (&table)[N], const char* name, E* value) {
  if (name == nullptr) return false;
  for (const Name<E>& e : table) {
    if (strcmp(e.name, name) == 0) {
      *value = e.value;
      return true;
    }
  }
  return false;
}

template <typename E, size_t N>
const char* NameOf(const Name<E> (&table)[N], E value) {
  for (const Name<E>& e : table)
    if (e.value == value) return e.name;
  return "unknown";
}

// Levels L of the block-quantizing codecs (the code of max|block|).
double Levels(const BoundParams& p) {
  switch (p.codec) {
    case ccCodecInt8: return 127;
    case ccCodecInt4: return 7;
    case ccCodecSummable: return ldexp(1.0, std::min(std::max(p.bits, 2), 30) - 1) - 1;
    default: return 0;
  }
}

// The smallest absolute error that rounding to `type` can make near zero (half subnormals).
double TypeTiny(ccDataType_t type) { return type == ccFloat16 ? ldexp(1.0, -24) : ldexp(1.0, -126); }

double ElementAsDouble(const void* got, ccDataType_t type, size_t i) {
  switch (type) {
    case ccFloat32: return static_cast<const float*>(got)[i];
    case ccFloat16: return HalfToFloat(static_cast<const uint16_t*>(got)[i]);
    case ccBfloat16: return Bf16ToFloat(static_cast<const uint16_t*>(got)[i]);
    case ccFloat64: return static_cast<const double*>(got)[i];
    default: return NAN;
  }
}

}  // namespace

bool ParseCodecName(const char* name, ccCodec_t* codec) { return ParseName(kCodecs, name, codec); }
const char* CodecName(ccCodec_t codec) { return NameOf(kCodecs, codec); }
bool ParseFeedbackName(const char* name, ccFeedback_t* feedback) { return ParseName(kFeedbacks, name, feedback); }
const char* FeedbackName(ccFeedback_t feedback) { return NameOf(kFeedbacks, feedback); }
bool ParseResidualName(const char* name, ccResidualCodec_t* residual) { return ParseName(kResiduals, name, residual); }
const char* ResidualName(ccResidualCodec_t residual) { return NameOf(kResiduals, residual); }
bool ParseRoundingName(const char* name, ccRounding_t* rounding) { return ParseName(kRoundings, name, rounding); }
const char* RoundingName(ccRounding_t rounding) { return NameOf(kRoundings, rounding); }
bool ParseAlgoName(const char* name, ccAlgo_t* algo) { return ParseName(kAlgos, name, algo); }
const char* AlgoName(ccAlgo_t algo) { return NameOf(kAlgos, algo); }

int CodecBits(const ccCompressConfig_t& c) {
  switch (c.codec) {
    case ccCodecInt8: return 8;
    case ccCodecInt4: return 4;
    case ccCodecFp16: case ccCodecBf16: return 16;
    case ccCodecSign: return 1;
    case ccCodecSummable: return c.bits;
    default: return 32;
  }
}

std::string CodecHeaderLine(const ccCompressConfig_t& c) {
  char buf[512];
  int len = snprintf(buf, sizeof(buf), "# codec %s bits %d block %d ratio %g feedback %s algo %s", CodecName(c.codec),
                     CodecBits(c), c.blockSize, static_cast<double>(c.ratio), FeedbackName(c.feedback),
                     AlgoName(c.algo));
  std::string s(buf, static_cast<size_t>(std::max(0, std::min(len, static_cast<int>(sizeof(buf)) - 1))));
  if (c.rounding != ccRoundNearest) s += std::string(" rounding ") + RoundingName(c.rounding);
  if (c.feedback == ccFeedbackConef) {
    s += std::string(" residual ") + ResidualName(c.residualCodec);
    if (c.residualCodec == ccResidualSketch) {
      snprintf(buf, sizeof(buf), " sketch %g beta %g", static_cast<double>(c.sketchSize), static_cast<double>(c.beta));
      s += buf;
    }
  }
  if (c.seed != 42) s += " seed " + std::to_string(c.seed);
  return s;
}

BoundParams MakeBoundParams(const ccCompressConfig_t& c, int nranks) {
  BoundParams p;
  p.codec = c.codec;
  p.nranks = nranks;
  p.blockSize = c.blockSize;
  p.bits = c.bits;
  p.stochastic = c.rounding == ccRoundStochastic;
  p.feedback = c.feedback != ccFeedbackNone;
  return p;
}

int CompressionSteps(const BoundParams& p) { return std::max(p.nranks, 1) + (p.feedback ? 1 : 0); }

double StepError(const BoundParams& p) {
  const double q = p.stochastic ? 1.0 : 0.5;  // in units of the grid step
  switch (p.codec) {
    case ccCodecInt8:
    case ccCodecInt4:
    case ccCodecSummable: {
      const double L = Levels(p);
      // float32 arithmetic of x / scale can move a code by up to about 2 L 2^-24 grid steps
      return (q + 2 * L * ldexp(1.0, -24)) / L;
    }
    case ccCodecFp16: return q * ldexp(1.0, -10) + ldexp(1.0, -23);  // ulp <= 2^-10 |x| (normal numbers)
    case ccCodecBf16: return q * ldexp(1.0, -7) + ldexp(1.0, -23);
    default: return 0;
  }
}

double SumErrorBound(const BoundParams& p, double magnitude) {
  const double e = StepError(p);
  if (e == 0 || magnitude == 0) return 0;
  if (p.codec == ccCodecSummable) return std::max(p.nranks, 1) * e * magnitude;  // one rounding per rank, exact sum
  const int k = CompressionSteps(p);
  // fp16 subnormals: an absolute step of 2^-24 below 2^-14
  const double subnormal = p.codec == ccCodecFp16 ? k * ldexp(1.0, -24) : 0.0;
  return magnitude * (pow(1.0 + e, k) - 1.0) + subnormal;
}

double TypeRounding(ccDataType_t type) {
  switch (type) {
    case ccFloat16: return ldexp(1.0, -11);
    case ccBfloat16: return ldexp(1.0, -8);
    case ccFloat64: return ldexp(1.0, -53);
    default: return ldexp(1.0, -24);
  }
}

double Nmse(double errSq, double refSq) {
  if (refSq > 0) return errSq / refSq;
  return errSq > 0 ? INFINITY : 0.0;
}

CodecCheck CheckCompressed(const void* got, size_t count, ccDataType_t type, int op, int nranks, uint64_t seed,
                           const BoundParams& p) {
  CodecCheck out;
  if (nranks < 1) {
    out.wrong = count;
    return out;
  }
  const bool avg = op == ccAvg;
  const double div = avg ? nranks : 1.0;
  // The result's own rounding (twice the type's unit: the sum-to-type conversion and, for avg, the scaling
  // in float32) and the float32 arithmetic of the final steps.
  const double rel = 2 * TypeRounding(type) + ldexp(1.0, -22);
  const double tiny = TypeTiny(type);
  const bool perBlock = p.codec == ccCodecInt8 || p.codec == ccCodecInt4 || p.codec == ccCodecSummable ||
                        p.codec == ccCodecSign;
  const size_t B = perBlock ? static_cast<size_t>(std::max(p.blockSize, 1)) : 1024;
  std::vector<double> exact(B), pos(B), neg(B), absSum(B);
  for (size_t b0 = 0; b0 < count; b0 += B) {
    const size_t len = std::min(B, count - b0);
    std::fill(exact.begin(), exact.begin() + len, 0.0);
    std::fill(pos.begin(), pos.begin() + len, 0.0);
    std::fill(neg.begin(), neg.begin() + len, 0.0);
    std::fill(absSum.begin(), absSum.begin() + len, 0.0);
    double sumMax = 0, maxMax = 0, sumMean = 0;
    for (int r = 0; r < nranks; r++) {
      double m = 0, s = 0;
      for (size_t j = 0; j < len; j++) {
        const double v = static_cast<double>(InputValue(type, op, r, b0 + j, seed));
        exact[j] += v;
        (v > 0 ? pos[j] : neg[j]) += v;
        absSum[j] += fabs(v);
        m = std::max(m, fabs(v));
        s += fabs(v);
      }
      sumMax += m;
      maxMax = std::max(maxMax, m);
      sumMean += s / static_cast<double>(len);
    }
    for (size_t j = 0; j < len; j++) {
      const double g = ElementAsDouble(got, type, b0 + j);
      const double want = exact[j] / div;
      out.refSq += want * want;
      if (!isfinite(g)) {
        out.errSq = INFINITY;
        out.wrong++;
        continue;
      }
      out.errSq += (g - want) * (g - want);
      bool ok = false;
      switch (p.codec) {
        case ccCodecRandBlock:  // 0 outside the block, the exact sum inside
          ok = g == 0 || fabs(g - want) <= rel * fabs(want) + tiny;
          break;
        case ccCodecTopK: {  // a subset of the ranks' exact values
          const double lo = neg[j] / div, hi = pos[j] / div;
          const double slack = rel * std::max(fabs(lo), fabs(hi)) + tiny;
          ok = g >= lo - slack && g <= hi + slack;
          break;
        }
        case ccCodecSign: {  // +-mean|x_r| per rank and block
          const double env = sumMean / div;
          ok = fabs(g) <= 1.01 * env * (1 + rel) + tiny;
          break;
        }
        default: {
          const double m = p.codec == ccCodecSummable ? maxMax
                         : (p.codec == ccCodecFp16 || p.codec == ccCodecBf16) ? absSum[j] : sumMax;
          const double e = SumErrorBound(p, m) / div;
          ok = fabs(g - want) <= 1.01 * (e + rel * (fabs(want) + e)) + tiny;
          break;
        }
      }
      out.wrong += !ok;
    }
  }
  return out;
}

}  // namespace ccperf
