// data.h — element types, reduction ops, and the deterministic data used by the perf tools' check (-c).
// Every input element is an integer drawn from a hash of (seed, rank, index), small enough that reductions
// are exact in every type whatever the order of operations (products: mostly 1 and 2, so half and bfloat16
// products stay exact up to a few dozen ranks), and any rank can compute what any other rank sent.
#ifndef CONCCL_PERF_DATA_H_
#define CONCCL_PERF_DATA_H_

#include <stddef.h>
#include <stdint.h>

#include "conccl.h"

namespace ccperf {

constexpr int kOpNone = -1;  // a collective without a reduction (copies only)

size_t TypeSize(ccDataType_t type);
const char* TypeName(ccDataType_t type);  // nccl-tests names: int8 ... bfloat16
bool ParseType(const char* name, ccDataType_t* type);
bool IsFloatType(ccDataType_t type);
const char* OpName(int op);  // sum, prod, max, min, avg, or none for kOpNone
bool ParseOp(const char* name, int* op);

// IEEE half and bfloat16 conversions (round to nearest even).
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);
uint16_t FloatToBf16(float f);
float Bf16ToFloat(uint16_t b);

// The input value of element `index` of rank `rank` for reduction op (kOpNone: a copy).
int64_t InputValue(ccDataType_t type, int op, int rank, uint64_t index, uint64_t seed);

// Writes elements index0 .. index0+count-1 of rank's input into buf.
void FillInput(void* buf, size_t count, ccDataType_t type, int op, int rank, uint64_t index0, uint64_t seed);

// Counts elements of got[0..count) that differ from srcRank's input elements index0.. (exact compare).
size_t CheckCopy(const void* got, size_t count, ccDataType_t type, int srcRank, uint64_t index0, uint64_t seed);

// Counts elements of got[0..count) that differ from op over ranks 0..nranks-1 of their input elements
// index0.. . Integers: exact (with wraparound), except avg, which accepts anything within 1 of the true mean.
// Floating types: a relative bound of a few units in the last place of the type.
size_t CheckReduce(const void* got, size_t count, ccDataType_t type, int op, int nranks, uint64_t index0,
                   uint64_t seed);

}  // namespace ccperf

#endif  // CONCCL_PERF_DATA_H_
