// codec_bound.h — all_reduce_perf --codec: codec names, and the per-element error bounds that its data
// check (-c) counts #wrong against. Pure functions of the deterministic inputs (data.h), no library calls,
// so they are unit tested (perf/tests/perf_unit_test.cc).
//
// The bound of one element of the sum (ccSum; ccAvg divides it by nranks), with n ranks and k = n
// compressions on every element's way (ring: step 0, n-2 hops, the owner's final re-compression; tree:
// one per node; n = 1: the single local round trip), plus one with error feedback (the local round trip
// D(C(p)) that the later hops add):
//   int8 / int4    one compression of a value in a block adds at most q * scale, scale = max|block| / L,
//                  L = 127 (int8) or 7 (int4), q = 1/2 (nearest) or 1 (stochastic). A partial sum's block
//                  maximum is at most M + E, M = sum over ranks of max|x_r| over the block, E the error so
//                  far, so E_k = (1 + q/L) E_{k-1} + (q/L) M, i.e. E = M ((1 + q/L)^k - 1) (= k q M / L to
//                  first order: the n * 0.5 * M / 127).
//   fp16 / bf16    relative q = 2^-11 / 2^-8 (nearest; 2^-10 / 2^-7 stochastic) per compression of each
//                  element: E = M ((1 + q)^k - 1) with M = sum over ranks of |x_r| of that element.
//   summable       ranks quantize once on the shared scale S / L (S = max over ranks of the block's max|x_r|,
//                  L = 2^(bits-1) - 1) and the integers add exactly: E = n q S / L.
// Then the result's own rounding to the element type (float 2^-24, half 2^-11, bfloat16 2^-8 relative,
// doubled) is added, and the total is multiplied by 1.01.
//
// sign, topk and randblock are biased: their result is not near the sum, so the check tests what they
// promise instead (with a fresh residual, so p = the input):
//   randblock      every element is 0 or the exact sum (a contiguous block is all-reduced exactly);
//   topk           every element lies in [sum of the negative x_r, sum of the positive x_r] (each rank
//                  sends some of its elements exactly and zeros elsewhere);
//   sign           |element| <= sum over ranks of the block's mean|x_r| (each rank sends +-mean|x| per block).
// For every codec a non-finite element is wrong, and the driver adds the elements that are not bitwise
// identical on every rank.
#ifndef CONCCL_PERF_CODEC_BOUND_H_
#define CONCCL_PERF_CODEC_BOUND_H_

#include <stddef.h>
#include <stdint.h>

#include <string>

#include "conccl.h"

namespace ccperf {

// Names as on the command line: int8 int4 fp16 bf16 sign randblock topk summable (plugin and none are not
// offered), none ef ef2 conef, int8 int4 sketch, nearest stochastic, auto ring tree.
bool ParseCodecName(const char* name, ccCodec_t* codec);
const char* CodecName(ccCodec_t codec);
bool ParseFeedbackName(const char* name, ccFeedback_t* feedback);
const char* FeedbackName(ccFeedback_t feedback);
bool ParseResidualName(const char* name, ccResidualCodec_t* residual);
const char* ResidualName(ccResidualCodec_t residual);
bool ParseRoundingName(const char* name, ccRounding_t* rounding);
const char* RoundingName(ccRounding_t rounding);
bool ParseAlgoName(const char* name, ccAlgo_t* algo);
const char* AlgoName(ccAlgo_t algo);

// Bits per element on the wire before scales and indices: int8 8, int4 4, fp16/bf16 16, sign 1,
// summable config.bits, topk/randblock 32 (float32 values).
int CodecBits(const ccCompressConfig_t& config);

// The header line "# codec int8 bits 8 block 256 ratio 0.015625 feedback none algo auto" (no newline);
// rounding, the residual codec (conef), sketch/beta (conef sketch) and seed follow when not the default.
std::string CodecHeaderLine(const ccCompressConfig_t& config);

// What a bound depends on.
struct BoundParams {
  ccCodec_t codec = ccCodecInt8;
  int nranks = 1;
  int blockSize = 256;
  int bits = 8;             // summable
  bool stochastic = false;
  bool feedback = false;    // any feedback mode: one more compression (the local round trip)
};
BoundParams MakeBoundParams(const ccCompressConfig_t& config, int nranks);

// Compressions on an element's way: max(n, 1), plus 1 with feedback.
int CompressionSteps(const BoundParams& p);
// The relative error of one compression: q / L (int8, int4, summable) or q (fp16, bf16); 0 for the others.
double StepError(const BoundParams& p);
// The bound on |sum - exact sum| of one element (before the result's rounding), given the magnitude M
// that the codec scales with (block quantization: sum over ranks of the block's max|x_r|; fp16/bf16: sum
// over ranks of |x_r|; summable: max over ranks of the block's max|x_r|). 0 for sign, topk, randblock.
double SumErrorBound(const BoundParams& p, double magnitude);
// Relative rounding of the result stored as `type` (float 2^-24, half 2^-11, bfloat16 2^-8).
double TypeRounding(ccDataType_t type);

// One rank's check of a compressed all-reduce result: `got` holds count elements of type (float, half or
// bfloat16) and op (ccSum or ccAvg) over nranks ranks whose inputs were FillInput(rank, index 0.., seed).
struct CodecCheck {
  size_t wrong = 0;   // elements outside the bound (or outside the codec's promise), or not finite
  double errSq = 0;   // sum of (got - exact)^2
  double refSq = 0;   // sum of exact^2
};
CodecCheck CheckCompressed(const void* got, size_t count, ccDataType_t type, int op, int nranks, uint64_t seed,
                           const BoundParams& p);

// errSq / refSq; 0 when both are 0, infinity when only the reference is 0.
double Nmse(double errSq, double refSq);

}  // namespace ccperf

#endif  // CONCCL_PERF_CODEC_BOUND_H_
