// reduce.cc — see reduce.h. Plain loops the compiler vectorises (built with -O3); fp16/bf16 widen to fp32.
#include "kernels/cpu/reduce.h"

#include <algorithm>
#include <cstdint>

#include "common/half.h"

namespace conccl {
namespace {

struct Sum { template <typename T> static T Apply(T a, T b) { return a + b; } };
struct Prod { template <typename T> static T Apply(T a, T b) { return a * b; } };
struct Max { template <typename T> static T Apply(T a, T b) { return a > b ? a : b; } };
struct Min { template <typename T> static T Apply(T a, T b) { return a < b ? a : b; } };

template <typename T, typename Op>
void Loop(T* __restrict__ out, const T* a, const T* b, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(Op::Apply(a[i], b[i]));
}

// Unsigned arithmetic for signed sums/products so overflow wraps instead of being undefined.
template <typename T, typename Op>
void IntLoop(T* out, const T* a, const T* b, size_t n) {
  using U = std::make_unsigned_t<T>;
  if constexpr (std::is_same_v<Op, Sum> || std::is_same_v<Op, Prod>) {
    Loop<U, Op>(reinterpret_cast<U*>(out), reinterpret_cast<const U*>(a), reinterpret_cast<const U*>(b), n);
  } else {
    Loop<T, Op>(out, a, b, n);
  }
}

template <typename Op, float (*ToF)(uint16_t), uint16_t (*FromF)(float)>
void HalfLoop(uint16_t* out, const uint16_t* a, const uint16_t* b, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = FromF(Op::Apply(ToF(a[i]), ToF(b[i])));
}

template <typename Op>
void Dispatch(void* dst, const void* a, const void* b, size_t n, ccDataType_t type) {
  switch (static_cast<int>(type)) {
    case ccInt8: IntLoop<int8_t, Op>((int8_t*)dst, (const int8_t*)a, (const int8_t*)b, n); break;
    case ccUint8: Loop<uint8_t, Op>((uint8_t*)dst, (const uint8_t*)a, (const uint8_t*)b, n); break;
    case kTypeInt16Internal: IntLoop<int16_t, Op>((int16_t*)dst, (const int16_t*)a, (const int16_t*)b, n); break;
    case ccInt32: IntLoop<int32_t, Op>((int32_t*)dst, (const int32_t*)a, (const int32_t*)b, n); break;
    case ccUint32: Loop<uint32_t, Op>((uint32_t*)dst, (const uint32_t*)a, (const uint32_t*)b, n); break;
    case ccInt64: IntLoop<int64_t, Op>((int64_t*)dst, (const int64_t*)a, (const int64_t*)b, n); break;
    case ccUint64: Loop<uint64_t, Op>((uint64_t*)dst, (const uint64_t*)a, (const uint64_t*)b, n); break;
    case ccFloat32: Loop<float, Op>((float*)dst, (const float*)a, (const float*)b, n); break;
    case ccFloat64: Loop<double, Op>((double*)dst, (const double*)a, (const double*)b, n); break;
    case ccFloat16:
      HalfLoop<Op, HalfToFloat, FloatToHalf>((uint16_t*)dst, (const uint16_t*)a, (const uint16_t*)b, n);
      break;
    case ccBfloat16:
      HalfLoop<Op, Bf16ToFloat, FloatToBf16>((uint16_t*)dst, (const uint16_t*)a, (const uint16_t*)b, n);
      break;
    default: break;
  }
}

template <typename T>
void DivLoop(T* p, size_t n, int d) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<T>(p[i] / static_cast<T>(d));
}

template <float (*ToF)(uint16_t), uint16_t (*FromF)(float)>
void HalfDiv(uint16_t* p, size_t n, int d) {
  float inv = 1.0f / static_cast<float>(d);
  for (size_t i = 0; i < n; ++i) p[i] = FromF(ToF(p[i]) * inv);
}

}  // namespace

void ReduceInto(void* dst, const void* a, const void* b, size_t count, ccDataType_t type, ccRedOp_t op) {
  switch (op) {
    case ccSum: case ccAvg: Dispatch<Sum>(dst, a, b, count, type); break;
    case ccProd: Dispatch<Prod>(dst, a, b, count, type); break;
    case ccMax: Dispatch<Max>(dst, a, b, count, type); break;
    case ccMin: Dispatch<Min>(dst, a, b, count, type); break;
    default: break;
  }
}

void DivideInPlace(void* p, size_t n, ccDataType_t type, int d) {
  switch (static_cast<int>(type)) {
    case ccInt8: DivLoop((int8_t*)p, n, d); break;
    case ccUint8: DivLoop((uint8_t*)p, n, d); break;
    case kTypeInt16Internal: DivLoop((int16_t*)p, n, d); break;
    case ccInt32: DivLoop((int32_t*)p, n, d); break;
    case ccUint32: DivLoop((uint32_t*)p, n, d); break;
    case ccInt64: DivLoop((int64_t*)p, n, d); break;
    case ccUint64: DivLoop((uint64_t*)p, n, d); break;
    case ccFloat32: DivLoop((float*)p, n, d); break;
    case ccFloat64: DivLoop((double*)p, n, d); break;
    case ccFloat16: HalfDiv<HalfToFloat, FloatToHalf>((uint16_t*)p, n, d); break;
    case ccBfloat16: HalfDiv<Bf16ToFloat, FloatToBf16>((uint16_t*)p, n, d); break;
    default: break;
  }
}

}  // namespace conccl
