// data.cc — element types, ops, and the deterministic inputs and checks of the perf tools (see data.h).
#include "data.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include <algorithm>

namespace ccperf {
namespace {

struct TypeEntry {
  const char* name;
  ccDataType_t type;
};
// nccl-tests' names first (they are what TypeName returns), then accepted aliases.
const TypeEntry kTypeNames[] = {
    {"int8", ccInt8},       {"uint8", ccUint8},     {"int32", ccInt32},   {"uint32", ccUint32},
    {"int64", ccInt64},     {"uint64", ccUint64},   {"half", ccFloat16},  {"float", ccFloat32},
    {"double", ccFloat64},  {"bfloat16", ccBfloat16}, {"char", ccInt8},   {"int", ccInt32},
    {"float16", ccFloat16}, {"fp16", ccFloat16},    {"float32", ccFloat32}, {"fp32", ccFloat32},
    {"float64", ccFloat64}, {"fp64", ccFloat64},    {"bf16", ccBfloat16},
};
const char* const kOpNames[] = {"sum", "prod", "max", "min", "avg"};

uint64_t Mix(uint64_t z) {  // splitmix64 finaliser
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t RankKey(int rank, uint64_t seed) { return Mix(seed * 0x100000001b3ULL + static_cast<uint64_t>(rank) + 1); }

// Small integers, so every type holds them exactly and sums/products stay exact for small rank counts.
// 32- and 64-bit integers (`wide`) get a wide range for sum and avg, so that avg's tolerance of 1 is tight.
int64_t ValueFromHash(uint64_t h, bool isSigned, bool wide, int op) {
  switch (op) {
    case ccSum:
    case ccAvg:
      if (wide) return isSigned ? static_cast<int64_t>(h % 2000001) - 1000000 : static_cast<int64_t>(h % 2000001);
      return isSigned ? static_cast<int64_t>(h % 9) - 4 : static_cast<int64_t>(h % 5);
    case ccProd: {
      const uint64_t r = h % 8;
      if (r == 0) return 2;
      return (isSigned && r == 1) ? -1 : 1;
    }
    default:  // max, min, copies
      return isSigned ? static_cast<int64_t>(h % 255) - 127 : static_cast<int64_t>(h % 255);
  }
}

// Element codecs: Storage is the in-memory type; Encode takes one of our small integers.
template <typename T>
struct IntCodec {
  using Storage = T;
  static constexpr bool kFloat = false;
  static constexpr bool kSigned = static_cast<T>(-1) < static_cast<T>(0);
  static constexpr bool kWide = sizeof(T) >= 4;
  static constexpr double kEps = 0;
  static T Encode(int64_t v) { return static_cast<T>(v); }
  static double ToDouble(T x) { return static_cast<double>(x); }
};
template <typename T>
struct FloatCodec {
  using Storage = T;
  static constexpr bool kFloat = true;
  static constexpr bool kSigned = true;
  static constexpr bool kWide = false;
  static constexpr double kEps = sizeof(T) == 4 ? 1.1920928955078125e-07 : 2.220446049250313e-16;
  static T Encode(int64_t v) { return static_cast<T>(v); }
  static double ToDouble(T x) { return static_cast<double>(x); }
};
struct HalfCodec {
  using Storage = uint16_t;
  static constexpr bool kFloat = true;
  static constexpr bool kSigned = true;
  static constexpr bool kWide = false;
  static constexpr double kEps = 9.765625e-04;  // 2^-10
  static uint16_t Encode(int64_t v) { return FloatToHalf(static_cast<float>(v)); }
  static double ToDouble(uint16_t x) { return HalfToFloat(x); }
};
struct Bf16Codec {
  using Storage = uint16_t;
  static constexpr bool kFloat = true;
  static constexpr bool kSigned = true;
  static constexpr bool kWide = false;
  static constexpr double kEps = 7.8125e-03;  // 2^-7
  static uint16_t Encode(int64_t v) { return FloatToBf16(static_cast<float>(v)); }
  static double ToDouble(uint16_t x) { return Bf16ToFloat(x); }
};

template <typename C>
void FillT(void* buf, size_t count, int op, int rank, uint64_t index0, uint64_t seed) {
  auto* out = static_cast<typename C::Storage*>(buf);
  const uint64_t key = RankKey(rank, seed);
  for (size_t i = 0; i < count; i++) out[i] = C::Encode(ValueFromHash(Mix(index0 + i + key), C::kSigned, C::kWide, op));
}

template <typename C>
size_t CheckCopyT(const void* got, size_t count, int srcRank, uint64_t index0, uint64_t seed) {
  const auto* in = static_cast<const typename C::Storage*>(got);
  const uint64_t key = RankKey(srcRank, seed);
  size_t wrong = 0;
  for (size_t i = 0; i < count; i++) {
    const typename C::Storage want = C::Encode(ValueFromHash(Mix(index0 + i + key), C::kSigned, C::kWide, kOpNone));
    wrong += memcmp(&in[i], &want, sizeof(want)) != 0;
  }
  return wrong;
}

// Integers: the exact result in the type's wraparound arithmetic; avg: within 1 of the true mean.
template <typename C>
bool IntOk(typename C::Storage got, int op, int nranks, const int64_t* vals) {
  using T = typename C::Storage;
  uint64_t acc = static_cast<uint64_t>(vals[0]);
  int64_t best = vals[0];
  int64_t total = vals[0];
  for (int r = 1; r < nranks; r++) {
    const int64_t v = vals[r];
    if (op == ccProd) acc *= static_cast<uint64_t>(v);
    else acc += static_cast<uint64_t>(v);
    best = op == ccMax ? std::max(best, v) : std::min(best, v);
    total += v;
  }
  if (op == ccAvg) return fabs(static_cast<double>(got) - static_cast<double>(total) / nranks) < 1.0;
  const T want = (op == ccMax || op == ccMin) ? static_cast<T>(best) : static_cast<T>(acc);
  return got == want;
}

// Floating types: inputs are small integers, so sum/prod/max/min are exact in double; avg may be computed
// as sum-then-divide or divide-then-sum, so its bound grows with the rank count.
template <typename C>
bool FloatOk(double got, int op, int nranks, const int64_t* vals) {
  if (!isfinite(got)) return false;
  double want = static_cast<double>(vals[0]);
  for (int r = 1; r < nranks; r++) {
    const double v = static_cast<double>(vals[r]);
    switch (op) {
      case ccProd: want *= v; break;
      case ccMax: want = std::max(want, v); break;
      case ccMin: want = std::min(want, v); break;
      default: want += v; break;
    }
  }
  double tol = 4 * C::kEps * fabs(want);
  if (op == ccAvg) {
    want /= nranks;
    tol = C::kEps * (4 * fabs(want) + 4.0 * (nranks + 1));
  }
  return fabs(got - want) <= tol;
}

template <typename C>
size_t CheckReduceT(const void* got, size_t count, int op, int nranks, uint64_t index0, uint64_t seed) {
  const auto* in = static_cast<const typename C::Storage*>(got);
  constexpr int kMaxStack = 64;
  int64_t stackVals[kMaxStack];
  uint64_t stackKeys[kMaxStack];
  int64_t* vals = stackVals;
  uint64_t* keys = stackKeys;
  if (nranks > kMaxStack) {
    vals = new int64_t[nranks];
    keys = new uint64_t[nranks];
  }
  for (int r = 0; r < nranks; r++) keys[r] = RankKey(r, seed);
  size_t wrong = 0;
  for (size_t i = 0; i < count; i++) {
    for (int r = 0; r < nranks; r++) vals[r] = ValueFromHash(Mix(index0 + i + keys[r]), C::kSigned, C::kWide, op);
    const bool ok = C::kFloat ? FloatOk<C>(C::ToDouble(in[i]), op, nranks, vals)
                              : IntOk<C>(in[i], op, nranks, vals);
    wrong += !ok;
  }
  if (vals != stackVals) {
    delete[] vals;
    delete[] keys;
  }
  return wrong;
}

// Calls F<Codec>::... for the codec of `type`; the functor style keeps each entry point a one-liner.
#define CCPERF_DISPATCH(type, EXPR_T, FALLBACK)            \
  switch (type) {                                          \
    case ccInt8: { using Codec = IntCodec<int8_t>; EXPR_T; }     \
    case ccUint8: { using Codec = IntCodec<uint8_t>; EXPR_T; }   \
    case ccInt32: { using Codec = IntCodec<int32_t>; EXPR_T; }   \
    case ccUint32: { using Codec = IntCodec<uint32_t>; EXPR_T; } \
    case ccInt64: { using Codec = IntCodec<int64_t>; EXPR_T; }   \
    case ccUint64: { using Codec = IntCodec<uint64_t>; EXPR_T; } \
    case ccFloat16: { using Codec = HalfCodec; EXPR_T; }         \
    case ccFloat32: { using Codec = FloatCodec<float>; EXPR_T; } \
    case ccFloat64: { using Codec = FloatCodec<double>; EXPR_T; }\
    case ccBfloat16: { using Codec = Bf16Codec; EXPR_T; }        \
    default: FALLBACK;                                     \
  }

}  // namespace

size_t TypeSize(ccDataType_t type) {
  switch (type) {
    case ccInt8: case ccUint8: return 1;
    case ccFloat16: case ccBfloat16: return 2;
    case ccInt32: case ccUint32: case ccFloat32: return 4;
    case ccInt64: case ccUint64: case ccFloat64: return 8;
    default: return 0;
  }
}

const char* TypeName(ccDataType_t type) {
  for (const TypeEntry& e : kTypeNames)
    if (e.type == type) return e.name;
  return "unknown";
}

bool ParseType(const char* name, ccDataType_t* type) {
  for (const TypeEntry& e : kTypeNames) {
    if (strcasecmp(name, e.name) == 0) {
      *type = e.type;
      return true;
    }
  }
  return false;
}

bool IsFloatType(ccDataType_t type) {
  return type == ccFloat16 || type == ccFloat32 || type == ccFloat64 || type == ccBfloat16;
}

const char* OpName(int op) { return op >= 0 && op < ccNumOps ? kOpNames[op] : "none"; }

bool ParseOp(const char* name, int* op) {
  for (int i = 0; i < ccNumOps; i++) {
    if (strcasecmp(name, kOpNames[i]) == 0) {
      *op = i;
      return true;
    }
  }
  return false;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (absx < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
    const int shift = 126 - static_cast<int>(absx >> 23);  // h = mant * 2^(e - 126), e = biased exponent
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1))) h++;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = ((absx >> 23) - 112) << 10 | ((absx >> 13) & 0x3ffu);
  const uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;  // may carry into the exponent: still correct
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    x = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    x = sign;
  } else {  // subnormal: normalise
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      exp--;
    }
    x = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  memcpy(&f, &x, 4);
  return f;
}

uint16_t FloatToBf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

float Bf16ToFloat(uint16_t b) {
  const uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  memcpy(&f, &x, 4);
  return f;
}

int64_t InputValue(ccDataType_t type, int op, int rank, uint64_t index, uint64_t seed) {
  const bool isSigned = IsFloatType(type) || type == ccInt8 || type == ccInt32 || type == ccInt64;
  const bool wide = !IsFloatType(type) && TypeSize(type) >= 4;
  return ValueFromHash(Mix(index + RankKey(rank, seed)), isSigned, wide, op);
}

void FillInput(void* buf, size_t count, ccDataType_t type, int op, int rank, uint64_t index0, uint64_t seed) {
  CCPERF_DISPATCH(type, FillT<Codec>(buf, count, op, rank, index0, seed); return, return)
}

size_t CheckCopy(const void* got, size_t count, ccDataType_t type, int srcRank, uint64_t index0, uint64_t seed) {
  CCPERF_DISPATCH(type, return CheckCopyT<Codec>(got, count, srcRank, index0, seed), return count)
}

size_t CheckReduce(const void* got, size_t count, ccDataType_t type, int op, int nranks, uint64_t index0,
                   uint64_t seed) {
  if (nranks < 1) return count;
  CCPERF_DISPATCH(type, return CheckReduceT<Codec>(got, count, op, nranks, index0, seed), return count)
}

}  // namespace ccperf
