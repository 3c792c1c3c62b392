// premulsum.cc — ncclRedOpCreatePreMulSum / ncclRedOpDestroy. ConCCL has no scaled-sum op, so a call
// with such an op scales its input by the scalar into scratch memory and then sums (what NCCL computes:
// sum over ranks of scalar * x, with the product rounded to the element type).
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#include "shim.h"

using namespace ncclshim;

namespace {

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do ++e, man <<= 1; while (!(man & 0x400));
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
    }
  } else {
    bits = sign | (exp + 112) << 23 | man << 13;
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float f) {  // round to nearest even
  uint32_t x;
  memcpy(&x, &f, 4);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0);  // inf / nan
  if (absx >= 0x477ff000u) return sign | 0x7c00;                                      // overflow
  if (absx < 0x38800000u) {                                                           // subnormal or zero
    if (absx < 0x33000000u) return sign;
    uint32_t man = (absx & 0x7fffff) | 0x800000;
    int shift = 113 - static_cast<int>(absx >> 23) + 13;
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  uint32_t r = absx + 0xfff + ((absx >> 13) & 1) - (112u << 23);
  return sign | static_cast<uint16_t>(r >> 13);
}

float Bf16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet nan
  return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

template <typename T>
void ScaleInt(const void* in, void* out, size_t n, const unsigned char* scalar) {
  using U = typename std::make_unsigned<T>::type;  // wrap-around product, like the GPU's integer multiply
  T s;
  memcpy(&s, scalar, sizeof(T));
  const T* x = static_cast<const T*>(in);
  T* y = static_cast<T*>(out);
  for (size_t i = 0; i < n; ++i) y[i] = static_cast<T>(static_cast<U>(x[i]) * static_cast<U>(s));
}

template <typename T>
void ScaleFloat(const void* in, void* out, size_t n, const unsigned char* scalar) {
  T s;
  memcpy(&s, scalar, sizeof(T));
  const T* x = static_cast<const T*>(in);
  T* y = static_cast<T*>(out);
  for (size_t i = 0; i < n; ++i) y[i] = x[i] * s;
}

template <float (*ToF)(uint16_t), uint16_t (*FromF)(float)>
void Scale16(const void* in, void* out, size_t n, const unsigned char* scalar) {
  uint16_t sbits;
  memcpy(&sbits, scalar, 2);
  float s = ToF(sbits);
  const uint16_t* x = static_cast<const uint16_t*>(in);
  uint16_t* y = static_cast<uint16_t*>(out);
  for (size_t i = 0; i < n; ++i) y[i] = FromF(ToF(x[i]) * s);
}

void Scale(ncclDataType_t type, const void* in, void* out, size_t n, const unsigned char* s) {
  switch (type) {
    case ncclInt8: ScaleInt<int8_t>(in, out, n, s); break;
    case ncclUint8: ScaleInt<uint8_t>(in, out, n, s); break;
    case ncclInt32: ScaleInt<int32_t>(in, out, n, s); break;
    case ncclUint32: ScaleInt<uint32_t>(in, out, n, s); break;
    case ncclInt64: ScaleInt<int64_t>(in, out, n, s); break;
    case ncclUint64: ScaleInt<uint64_t>(in, out, n, s); break;
    case ncclFloat16: Scale16<HalfToFloat, FloatToHalf>(in, out, n, s); break;
    case ncclBfloat16: Scale16<Bf16ToFloat, FloatToBf16>(in, out, n, s); break;
    case ncclFloat32: ScaleFloat<float>(in, out, n, s); break;
    case ncclFloat64: ScaleFloat<double>(in, out, n, s); break;
    default: break;  // fp8 is refused when the op is created
  }
}

}  // namespace

namespace ncclshim {

ncclResult_t PreScale(ncclComm* comm, ncclRedOp_t op, ncclDataType_t type, const void* in, size_t count,
                      const void** out, std::unique_ptr<char[]>* owned, const char* fn) {
  size_t idx = static_cast<size_t>(op) - ncclNumOps;
  if (static_cast<int>(op) < ncclNumOps || idx >= comm->ops.size() || !comm->ops[idx].live)
    return Fail(comm, ncclInvalidArgument, "%s: invalid reduction op %d", fn, static_cast<int>(op));
  const ShimPreMulSum& pm = comm->ops[idx];
  if (pm.type != type)
    return Fail(comm, ncclInvalidArgument, "%s: op %d was created for datatype %s, not %s", fn, static_cast<int>(op),
                TypeName(pm.type), TypeName(type));
  size_t bytes = count * TypeBytes(type);
  if (bytes && !in) return Fail(comm, ncclInvalidArgument, "%s: sendbuff is NULL", fn);
  void* buf;
  if (GroupDepth() > 0) {  // the call runs at ncclGroupEnd: scratch lives until then
    buf = GroupScratch(bytes);
  } else {
    owned->reset(new (std::nothrow) char[bytes ? bytes : 1]);
    buf = owned->get();
  }
  if (!buf) return Fail(comm, ncclSystemError, "%s: out of memory for %zu bytes of prescaled input", fn, bytes);
  Scale(type, in, buf, count, pm.scalar);
  *out = buf;
  return ncclSuccess;
}

}  // namespace ncclshim

NCCL_SHIM_API(ncclResult_t, RedOpCreatePreMulSum,
              (ncclRedOp_t * op, void* scalar, ncclDataType_t datatype, ncclScalarResidence_t residence, ncclComm_t comm)) {
  const char* fn = "ncclRedOpCreatePreMulSum";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (!op || !scalar) return Fail(comm, ncclInvalidArgument, "%s: op or scalar is NULL", fn);
  if (comm->fwd)
    return FromReal(comm->real->RedOpCreatePreMulSum(op, scalar, datatype, residence, comm->fwd), comm, fn);
  if (residence == ncclScalarDevice)
    return Fail(comm, ncclInvalidUsage,
                "%s: a device-resident scalar (ncclScalarDevice) needs CUDA; the ConCCL shim takes "
                "ncclScalarHostImmediate only",
                fn);
  if (residence != ncclScalarHostImmediate)
    return Fail(comm, ncclInvalidArgument, "%s: invalid residence %d", fn, static_cast<int>(residence));
  ccDataType_t cct;
  if ((res = ToCcType(comm, datatype, &cct, fn)) != ncclSuccess) return res;
  size_t idx = 0;
  while (idx < comm->ops.size() && comm->ops[idx].live) ++idx;
  if (idx == comm->ops.size()) {
    if (idx >= static_cast<size_t>(ncclMaxRedOp - ncclNumOps))
      return Fail(comm, ncclInvalidUsage, "%s: too many live reduction ops", fn);
    comm->ops.emplace_back();
  }
  ShimPreMulSum& pm = comm->ops[idx];
  pm.live = true;
  pm.type = datatype;
  memset(pm.scalar, 0, sizeof(pm.scalar));
  memcpy(pm.scalar, scalar, TypeBytes(datatype));  // host-immediate: read now
  *op = static_cast<ncclRedOp_t>(ncclNumOps + idx);
  return ncclSuccess;
}

NCCL_SHIM_API(ncclResult_t, RedOpDestroy, (ncclRedOp_t op, ncclComm_t comm)) {
  const char* fn = "ncclRedOpDestroy";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (comm->fwd) return FromReal(comm->real->RedOpDestroy(op, comm->fwd), comm, fn);
  size_t idx = static_cast<size_t>(op) - ncclNumOps;
  if (static_cast<int>(op) < ncclNumOps || idx >= comm->ops.size() || !comm->ops[idx].live)
    return Fail(comm, ncclInvalidArgument, "%s: op %d was not made by ncclRedOpCreatePreMulSum on this communicator", fn,
                static_cast<int>(op));
  comm->ops[idx].live = false;
  return ncclSuccess;
}
