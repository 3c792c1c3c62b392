// test_util.h — shared helpers for the ConCCL test suite.
//
// What is here: element access for every ccDataType_t (with fp16/bf16 conversions written here, not taken
// from the library), deterministic inputs per (seed, rank, element), a serial reference for every reduction
// with an error bound, buffers with guard zones, a thread-per-rank launcher, a communicator set built from
// one unique id, and fork-and-wait with a deadline for multi-process tests.
//
// Nothing here uses gtest, so the helpers can run inside forked children.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "conccl.h"

namespace cctest {

// ---- time ----------------------------------------------------------------------------------------

// CLOCK_MONOTONIC in ns: comparable across processes of one machine.
inline int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

inline double SecondsSince(int64_t startNs) { return double(NowNs() - startNs) / 1e9; }

// ---- environment -----------------------------------------------------------------------------------

// Sets (or, with value == nullptr, unsets) an environment variable for the scope's lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    if (old != nullptr) {
      hadOld_ = true;
      old_ = old;
    }
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (hadOld_) {
      setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  bool hadOld_ = false;
  std::string old_;
};

// ---- result codes ----------------------------------------------------------------------------------

inline std::string ResultName(ccResult_t r) {
  switch (r) {
    case ccSuccess: return "ccSuccess";
    case ccUnhandledCudaError: return "ccUnhandledCudaError";
    case ccSystemError: return "ccSystemError";
    case ccInternalError: return "ccInternalError";
    case ccInvalidArgument: return "ccInvalidArgument";
    case ccInvalidUsage: return "ccInvalidUsage";
    case ccRemoteError: return "ccRemoteError";
    case ccInProgress: return "ccInProgress";
    case ccTimeout: return "ccTimeout";
    default: return "ccResult(" + std::to_string(int(r)) + ")";
  }
}

// The last error message for comm, falling back to the thread's message; copied at once because the
// library's string only lives until the next call.
inline std::string LastError(ccComm_t comm) {
  std::string msg;
  if (comm != nullptr) {
    const char* s = ccGetLastError(comm);
    if (s != nullptr) msg = s;
  }
  if (msg.empty()) {
    const char* s = ccGetLastError(nullptr);
    if (s != nullptr) msg = s;
  }
  return msg;
}

// ---- data types ------------------------------------------------------------------------------------

inline const std::vector<ccDataType_t>& AllTypes() {
  static const std::vector<ccDataType_t> kTypes = {ccInt8,    ccUint8,   ccInt32,   ccUint32,  ccInt64,
                                                   ccUint64,  ccFloat16, ccFloat32, ccFloat64, ccBfloat16};
  return kTypes;
}

inline const std::vector<ccRedOp_t>& AllOps() {
  static const std::vector<ccRedOp_t> kOps = {ccSum, ccProd, ccMax, ccMin, ccAvg};
  return kOps;
}

inline size_t TypeSize(ccDataType_t dt) {
  switch (dt) {
    case ccInt8:
    case ccUint8: return 1;
    case ccFloat16:
    case ccBfloat16: return 2;
    case ccInt32:
    case ccUint32:
    case ccFloat32: return 4;
    case ccInt64:
    case ccUint64:
    case ccFloat64: return 8;
    default: return 0;
  }
}

inline bool IsFloat(ccDataType_t dt) {
  return dt == ccFloat16 || dt == ccFloat32 || dt == ccFloat64 || dt == ccBfloat16;
}
inline bool IsSignedInt(ccDataType_t dt) { return dt == ccInt8 || dt == ccInt32 || dt == ccInt64; }
inline bool IsUnsignedInt(ccDataType_t dt) { return dt == ccUint8 || dt == ccUint32 || dt == ccUint64; }

inline const char* TypeName(ccDataType_t dt) {
  switch (dt) {
    case ccInt8: return "int8";
    case ccUint8: return "uint8";
    case ccInt32: return "int32";
    case ccUint32: return "uint32";
    case ccInt64: return "int64";
    case ccUint64: return "uint64";
    case ccFloat16: return "float16";
    case ccFloat32: return "float32";
    case ccFloat64: return "float64";
    case ccBfloat16: return "bfloat16";
    default: return "badtype";
  }
}

inline const char* OpName(ccRedOp_t op) {
  switch (op) {
    case ccSum: return "sum";
    case ccProd: return "prod";
    case ccMax: return "max";
    case ccMin: return "min";
    case ccAvg: return "avg";
    default: return "badop";
  }
}

// Distance between 1 and the next representable number (2 * unit roundoff).
inline double TypeEpsilon(ccDataType_t dt) {
  switch (dt) {
    case ccFloat16: return std::ldexp(1.0, -10);
    case ccBfloat16: return std::ldexp(1.0, -7);
    case ccFloat32: return std::ldexp(1.0, -23);
    case ccFloat64: return std::ldexp(1.0, -52);
    default: return 0.0;
  }
}

// ---- fp16 / bf16 conversions (round to nearest even), independent of the library -----------------

inline uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  if (absx >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // >= 65520 rounds to infinity
  if (absx < 0x38800000u) {                                   // below 2^-14: half subnormal or zero
    float v;
    std::memcpy(&v, &absx, 4);
    const uint32_t m = uint32_t(std::nearbyint(double(v) * 16777216.0));  // v * 2^24, exact
    return uint16_t(sign | m);
  }
  const uint32_t mant = absx & 0x7fffffu;
  const uint32_t exp = (absx >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return uint16_t(sign | h);
}

inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = std::ldexp(float(mant), -24);
    return sign ? -v : v;
  }
  uint32_t bits;
  if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t FloatToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);
  const uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return uint16_t(x >> 16);
}

inline float Bf16ToFloat(uint16_t b) {
  const uint32_t x = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// ---- element access ----------------------------------------------------------------------------------

// Stores v converted to dt (integers: converted through int64/uint64, so unsigned types wrap).
inline void StoreDouble(void* buf, ccDataType_t dt, size_t i, double v) {
  switch (dt) {
    case ccFloat16: {
      const uint16_t h = FloatToHalf(float(v));
      std::memcpy(static_cast<char*>(buf) + 2 * i, &h, 2);
      break;
    }
    case ccBfloat16: {
      const uint16_t b = FloatToBf16(float(v));
      std::memcpy(static_cast<char*>(buf) + 2 * i, &b, 2);
      break;
    }
    case ccFloat32: static_cast<float*>(buf)[i] = float(v); break;
    case ccFloat64: static_cast<double*>(buf)[i] = v; break;
    default: std::abort();  // integer types go through StoreBits
  }
}

// Stores the low TypeSize(dt) bytes of bits (two's complement for signed types).
inline void StoreBits(void* buf, ccDataType_t dt, size_t i, uint64_t bits) {
  char* p = static_cast<char*>(buf) + TypeSize(dt) * i;
  switch (TypeSize(dt)) {
    case 1: { const uint8_t v = uint8_t(bits); std::memcpy(p, &v, 1); break; }
    case 2: { const uint16_t v = uint16_t(bits); std::memcpy(p, &v, 2); break; }
    case 4: { const uint32_t v = uint32_t(bits); std::memcpy(p, &v, 4); break; }
    case 8: std::memcpy(p, &bits, 8); break;
    default: std::abort();
  }
}

inline double LoadDouble(const void* buf, ccDataType_t dt, size_t i) {
  const char* p = static_cast<const char*>(buf);
  switch (dt) {
    case ccFloat16: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); return HalfToFloat(h); }
    case ccBfloat16: { uint16_t b; std::memcpy(&b, p + 2 * i, 2); return Bf16ToFloat(b); }
    case ccFloat32: { float f; std::memcpy(&f, p + 4 * i, 4); return f; }
    case ccFloat64: { double d; std::memcpy(&d, p + 8 * i, 8); return d; }
    case ccInt8: { int8_t v; std::memcpy(&v, p + i, 1); return v; }
    case ccUint8: { uint8_t v; std::memcpy(&v, p + i, 1); return v; }
    case ccInt32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); return v; }
    case ccUint32: { uint32_t v; std::memcpy(&v, p + 4 * i, 4); return v; }
    case ccInt64: { int64_t v; std::memcpy(&v, p + 8 * i, 8); return double(v); }
    case ccUint64: { uint64_t v; std::memcpy(&v, p + 8 * i, 8); return double(v); }
    default: std::abort();
  }
}

// Integer element: sign-extended for signed types, zero-extended for unsigned ones.
inline uint64_t LoadBits(const void* buf, ccDataType_t dt, size_t i) {
  const char* p = static_cast<const char*>(buf);
  switch (dt) {
    case ccInt8: { int8_t v; std::memcpy(&v, p + i, 1); return uint64_t(int64_t(v)); }
    case ccUint8: { uint8_t v; std::memcpy(&v, p + i, 1); return v; }
    case ccInt32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); return uint64_t(int64_t(v)); }
    case ccUint32: { uint32_t v; std::memcpy(&v, p + 4 * i, 4); return v; }
    case ccInt64:
    case ccUint64: { uint64_t v; std::memcpy(&v, p + 8 * i, 8); return v; }
    case ccFloat16:
    case ccBfloat16: { uint16_t v; std::memcpy(&v, p + 2 * i, 2); return v; }
    case ccFloat32: { uint32_t v; std::memcpy(&v, p + 4 * i, 4); return v; }
    case ccFloat64: { uint64_t v; std::memcpy(&v, p + 8 * i, 8); return v; }
    default: std::abort();
  }
}

// ---- deterministic inputs ------------------------------------------------------------------------------

inline uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint64_t Hash3(uint64_t seed, uint64_t rank, uint64_t i) {
  return Mix(seed ^ Mix(rank * 0x100000001b3ull + 0x51ed27) ^ Mix(i + 0x2545f491ull * (rank + 1)));
}

// One input value, chosen so that the reference is exact or tightly bounded:
//  - floats: multiples of 1/4 in [-8, 8] (exact in fp16/bf16), for prod a value in {±1/2, ±1, ±2};
//  - signed integers: small values (no overflow for up to 16 ranks); prod: ±1, sometimes ±2;
//  - unsigned integers: full range for sum/max/min (sum wraps), odd values for prod (product wraps but
//    stays nonzero), small values for avg (so the sum never wraps).
// Returned as a double for float types (in *f) or as two's-complement bits for integer types (in *bits).
inline void InputValue(ccDataType_t dt, ccRedOp_t op, uint64_t seed, int rank, size_t i, double* f,
                       uint64_t* bits) {
  const uint64_t h = Hash3(seed, uint64_t(rank), uint64_t(i));
  if (IsFloat(dt)) {
    if (op == ccProd) {
      static const double kProdVals[6] = {-2.0, -1.0, -0.5, 0.5, 1.0, 2.0};
      *f = kProdVals[h % 6];
    } else {
      *f = double(int64_t(h % 65) - 32) / 4.0;
    }
    return;
  }
  if (IsSignedInt(dt)) {
    int64_t v;
    if (op == ccProd) {
      const int64_t mag = ((i + size_t(rank)) % 4 == 0) ? 2 : 1;
      v = (h & 1) ? -mag : mag;
    } else if (dt == ccInt8) {
      v = int64_t(h % 15) - 7;  // |sum| <= 7 * 16 = 112
    } else if (dt == ccInt32) {
      v = int64_t(h % 2000001) - 1000000;
    } else {
      v = int64_t(h % (1ull << 41)) - (int64_t(1) << 40);
    }
    *bits = uint64_t(v);
    return;
  }
  // unsigned
  const int bitsOfType = int(TypeSize(dt) * 8);
  const uint64_t mask = bitsOfType == 64 ? ~0ull : ((1ull << bitsOfType) - 1);
  if (op == ccProd) {
    *bits = (h | 1ull) & mask;
  } else if (op == ccAvg) {
    const uint64_t limit = bitsOfType == 8 ? 16 : (bitsOfType == 32 ? (1ull << 27) : (1ull << 59));
    *bits = h % limit;  // 16 ranks * limit fits in the type
  } else {
    *bits = h & mask;
  }
}

// Fills buf[0..count) with rank's inputs for elements first..first+count.
inline void FillInput(void* buf, ccDataType_t dt, ccRedOp_t op, size_t count, int rank, uint64_t seed,
                      size_t first = 0) {
  for (size_t i = 0; i < count; ++i) {
    double f = 0;
    uint64_t b = 0;
    InputValue(dt, op, seed, rank, first + i, &f, &b);
    if (IsFloat(dt)) {
      StoreDouble(buf, dt, i, f);
    } else {
      StoreBits(buf, dt, i, b);
    }
  }
}

// ---- serial reference ---------------------------------------------------------------------------------

// The expected result of reducing the inputs of ranks 0..nranks-1 (element i = op over ranks of element
// i). Integers: exact, stored in the type. Floats: a float64 value and an absolute error bound.
struct Expected {
  ccDataType_t dt = ccFloat32;
  size_t count = 0;
  std::vector<uint64_t> exact;  // integer types: two's complement bits, truncated to the type
  std::vector<double> value;    // float types
  std::vector<double> tol;      // float types
};

inline uint64_t TruncBits(ccDataType_t dt, uint64_t v) {
  const size_t s = TypeSize(dt);
  if (s == 8) return v;
  const uint64_t mask = (1ull << (8 * s)) - 1;
  uint64_t t = v & mask;
  if (IsSignedInt(dt) && (t >> (8 * s - 1)) & 1) t |= ~mask;  // sign-extend, as LoadBits does
  return t;
}

// The reference of reducing inputs (seed, rank, first + i) over nranks ranks, for i < count.
// Float bound: (nranks + 2) * eps * sum|x| for sum and avg (each of the at most nranks rounding hops adds at
// most eps times a partial sum), (nranks + 2) * eps * prod|x| for prod, exact for max and min.
inline Expected ReduceReference(ccDataType_t dt, ccRedOp_t op, size_t count, int nranks, uint64_t seed,
                                size_t first = 0) {
  Expected e;
  e.dt = dt;
  e.count = count;
  if (IsFloat(dt)) {
    e.value.resize(count);
    e.tol.resize(count);
  } else {
    e.exact.resize(count);
  }
  const double eps = TypeEpsilon(dt);
  // Inputs are generated in float64 and stored in the type; all of them are exact in every float type.
  for (size_t i = 0; i < count; ++i) {
    if (IsFloat(dt)) {
      double acc = 0, mag = 0;
      for (int r = 0; r < nranks; ++r) {
        double x = 0;
        uint64_t unused = 0;
        InputValue(dt, op, seed, r, first + i, &x, &unused);
        if (r == 0) {
          acc = x;
          mag = std::fabs(x);
          continue;
        }
        switch (op) {
          case ccSum:
          case ccAvg: acc += x; mag += std::fabs(x); break;
          case ccProd: acc *= x; mag *= std::fabs(x); break;
          case ccMax: acc = std::max(acc, x); break;
          case ccMin: acc = std::min(acc, x); break;
          default: std::abort();
        }
      }
      double tol = 0;
      if (op == ccAvg) {
        acc /= nranks;
        tol = (nranks + 2) * eps * mag / nranks + eps * std::fabs(acc);
      } else if (op == ccSum || op == ccProd) {
        tol = (nranks + 2) * eps * mag;
      }
      e.value[i] = acc;
      e.tol[i] = tol;
    } else {
      const bool isSigned = IsSignedInt(dt);
      uint64_t acc = 0;
      for (int r = 0; r < nranks; ++r) {
        double unused = 0;
        uint64_t x = 0;
        InputValue(dt, op, seed, r, first + i, &unused, &x);
        x = TruncBits(dt, x);
        if (r == 0) {
          acc = x;
          continue;
        }
        switch (op) {
          case ccSum:
          case ccAvg: acc += x; break;  // modular: the same bits for signed and unsigned
          case ccProd: acc *= x; break;
          case ccMax:
            acc = isSigned ? uint64_t(std::max(int64_t(acc), int64_t(x))) : std::max(acc, x);
            break;
          case ccMin:
            acc = isSigned ? uint64_t(std::min(int64_t(acc), int64_t(x))) : std::min(acc, x);
            break;
          default: std::abort();
        }
      }
      if (op == ccAvg) {  // inputs for avg never overflow, so this is the true sum; C division truncates
        acc = isSigned ? uint64_t(int64_t(acc) / int64_t(nranks)) : acc / uint64_t(nranks);
      }
      e.exact[i] = TruncBits(dt, acc);
    }
  }
  return e;
}

// Checks out[0..n) against e's elements first..first+n. On failure, describes up to 5 mismatches.
inline bool CheckResult(const void* out, const Expected& e, size_t first, size_t n, std::string* why) {
  std::ostringstream os;
  size_t bad = 0;
  for (size_t j = 0; j < n; ++j) {
    const size_t i = first + j;
    bool ok;
    if (IsFloat(e.dt)) {
      const double got = LoadDouble(out, e.dt, j);
      ok = std::isfinite(got) && std::fabs(got - e.value[i]) <= e.tol[i];
      if (!ok && bad < 5) {
        os << " [" << j << "] got " << got << " want " << e.value[i] << " +- " << e.tol[i] << ";";
      }
    } else {
      const uint64_t got = TruncBits(e.dt, LoadBits(out, e.dt, j));
      ok = got == e.exact[i];
      if (!ok && bad < 5) {
        os << " [" << j << "] got 0x" << std::hex << got << " want 0x" << e.exact[i] << std::dec << ";";
      }
    }
    if (!ok) ++bad;
  }
  if (bad == 0) return true;
  if (why != nullptr) *why = std::to_string(bad) + " of " + std::to_string(n) + " elements wrong:" + os.str();
  return false;
}

inline bool CheckResult(const void* out, const Expected& e, std::string* why) {
  return CheckResult(out, e, 0, e.count, why);
}

// ---- buffers with guard zones ------------------------------------------------------------------------

// A byte buffer with 64-byte guard zones on both sides, filled with a known pattern, to catch writes
// outside [data, data + bytes). data() is never NULL, even for zero bytes.
class GuardedBuffer {
 public:
  static constexpr size_t kGuard = 64;
  static constexpr uint8_t kGuardByte = 0xA5;

  GuardedBuffer() : GuardedBuffer(0) {}
  explicit GuardedBuffer(size_t bytes, uint8_t fill = 0xCD) : bytes_(bytes), storage_(bytes + 2 * kGuard) {
    std::memset(storage_.data(), kGuardByte, kGuard);
    std::memset(storage_.data() + kGuard, fill, bytes);
    std::memset(storage_.data() + kGuard + bytes, kGuardByte, kGuard);
  }
  void* data() { return storage_.data() + kGuard; }
  const void* data() const { return storage_.data() + kGuard; }
  char* bytes_ptr() { return reinterpret_cast<char*>(data()); }
  size_t size() const { return bytes_; }
  bool GuardsIntact() const {
    for (size_t i = 0; i < kGuard; ++i) {
      if (storage_[i] != kGuardByte || storage_[kGuard + bytes_ + i] != kGuardByte) return false;
    }
    return true;
  }
  bool AllBytesEqual(uint8_t v) const {
    for (size_t i = 0; i < bytes_; ++i) {
      if (storage_[kGuard + i] != v) return false;
    }
    return true;
  }

 private:
  size_t bytes_;
  std::vector<uint8_t> storage_;
};

// ---- ranks as threads ----------------------------------------------------------------------------------

// Runs fn(rank) on nranks threads at once and joins them all.
template <class F>
void RunRanks(int nranks, F&& fn) {
  std::vector<std::thread> threads;
  threads.reserve(size_t(nranks));
  for (int r = 0; r < nranks; ++r) threads.emplace_back([&fn, r] { fn(r); });
  for (auto& t : threads) t.join();
}

// Per-rank result codes of one parallel step, and a summary.
struct RankCodes {
  std::vector<ccResult_t> codes;
  std::vector<std::string> messages;
  explicit RankCodes(int n) : codes(size_t(n), ccSuccess), messages(size_t(n)) {}
  void Set(int rank, ccResult_t r, ccComm_t comm) {
    codes[size_t(rank)] = r;
    if (r != ccSuccess) messages[size_t(rank)] = LastError(comm);
  }
  bool AllOk() const {
    for (auto c : codes)
      if (c != ccSuccess) return false;
    return true;
  }
  std::string Describe() const {
    std::string s;
    for (size_t r = 0; r < codes.size(); ++r) {
      s += " rank " + std::to_string(r) + ": " + ResultName(codes[r]);
      if (!messages[r].empty()) s += " (" + messages[r] + ")";
      s += ";";
    }
    return s;
  }
};

// A config forcing a transport (nullptr: automatic) and a no-progress timeout.
inline ccConfig_t MakeConfig(const char* net, int timeoutMs) {
  ccConfig_t cfg = CC_CONFIG_INITIALIZER;
  cfg.netName = net;
  cfg.timeoutMs = timeoutMs;
  return cfg;
}

// nranks communicators of one group, made by nranks threads from one unique id.
class CommSet {
 public:
  CommSet() = default;
  CommSet(const CommSet&) = delete;
  CommSet& operator=(const CommSet&) = delete;
  ~CommSet() { Abort(); }

  // algo: value of CONCCL_ALGO during init (nullptr: leave the environment alone).
  ccResult_t Init(int nranks, const char* net, const char* algo, int timeoutMs, std::string* why) {
    comms_.assign(size_t(nranks), nullptr);
    ccUniqueId id;
    ccResult_t r = ccGetUniqueId(&id);
    if (r != ccSuccess) {
      if (why) *why = "ccGetUniqueId: " + ResultName(r) + " " + LastError(nullptr);
      return r;
    }
    std::unique_ptr<ScopedEnv> env;
    if (algo != nullptr) env.reset(new ScopedEnv("CONCCL_ALGO", algo));
    RankCodes rc(nranks);
    RunRanks(nranks, [&](int rank) {
      ccConfig_t cfg = MakeConfig(net, timeoutMs);
      ccComm_t c = nullptr;
      ccResult_t res = ccCommInitRankConfig(&c, nranks, id, rank, &cfg);
      rc.Set(rank, res, nullptr);
      comms_[size_t(rank)] = (res == ccSuccess) ? c : nullptr;
    });
    if (!rc.AllOk()) {
      if (why) *why = "init:" + rc.Describe();
      return ccSystemError;
    }
    return ccSuccess;
  }

  // Destroys every comm sequentially (ccCommDestroy is not collective); returns the first failure.
  ccResult_t Destroy(std::string* why = nullptr) {
    ccResult_t first = ccSuccess;
    for (size_t r = 0; r < comms_.size(); ++r) {
      if (comms_[r] == nullptr) continue;
      ccResult_t res = ccCommDestroy(comms_[r]);
      if (res != ccSuccess && first == ccSuccess) {
        first = res;
        if (why) *why = "ccCommDestroy rank " + std::to_string(r) + ": " + ResultName(res);
      }
      comms_[r] = nullptr;
    }
    comms_.clear();
    return first;
  }

  // Aborts every remaining comm (for broken groups).
  void Abort() {
    for (auto& c : comms_) {
      if (c != nullptr) ccCommAbort(c);
      c = nullptr;
    }
    comms_.clear();
  }

  int size() const { return int(comms_.size()); }
  ccComm_t operator[](int r) const { return comms_[size_t(r)]; }
  std::vector<ccComm_t>& comms() { return comms_; }

 private:
  std::vector<ccComm_t> comms_;
};

// Bounds the time a failure test can take when the library does not return: after `seconds`, every comm
// whose rank has not called Finish yet is aborted (ccCommAbort unblocks its call). Each rank calls
// Finish(r) once its call has returned; Finish aborts the rank's comm unless the watchdog already did, so
// every comm is aborted exactly once. Fired(r) says whether rank r needed the watchdog.
class AbortWatchdog {
 public:
  AbortWatchdog(std::vector<ccComm_t> comms, double seconds)
      : comms_(std::move(comms)), state_(comms_.size(), kRunning) {
    thread_ = std::thread([this, seconds] {
      std::unique_lock<std::mutex> lk(mu_);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
      cv_.wait_until(lk, deadline, [this] { return finished_ == comms_.size() || shutdown_; });
      if (shutdown_) return;  // destroyed before the deadline: the owner handles its comms
      for (size_t r = 0; r < comms_.size(); ++r) {
        if (state_[r] != kRunning) continue;
        state_[r] = kFired;
        if (comms_[r] != nullptr) ccCommAbort(comms_[r]);
      }
    });
  }
  ~AbortWatchdog() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  AbortWatchdog(const AbortWatchdog&) = delete;
  AbortWatchdog& operator=(const AbortWatchdog&) = delete;

  // Rank r's call returned: abort its comm (unless the watchdog did).
  void Finish(int r) {
    std::unique_lock<std::mutex> lk(mu_);
    if (state_[size_t(r)] == kRunning) {
      state_[size_t(r)] = kFinished;
      if (comms_[size_t(r)] != nullptr) ccCommAbort(comms_[size_t(r)]);
    }
    ++finished_;
    lk.unlock();
    cv_.notify_all();
  }
  bool Fired(int r) {
    std::lock_guard<std::mutex> lk(mu_);
    return state_[size_t(r)] == kFired;
  }

 private:
  enum State { kRunning, kFinished, kFired };
  std::vector<ccComm_t> comms_;
  std::vector<State> state_;
  size_t finished_ = 0;
  bool shutdown_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

// ---- processes -------------------------------------------------------------------------------------------

// In a forked child (no gtest there): check a condition or a library call, print what went wrong with the
// child's `rank` to stderr and return `code` from the child's body. CHILD_CALL also needs a `comm` in scope.
#define CHILD_CHECK(cond, code, ...)            \
  do {                                          \
    if (!(cond)) {                              \
      std::fprintf(stderr, "[rank %d] ", rank); \
      std::fprintf(stderr, __VA_ARGS__);        \
      std::fprintf(stderr, "\n");               \
      return (code);                            \
    }                                           \
  } while (0)

#define CHILD_CALL(call, code)                                                                       \
  do {                                                                                               \
    const ccResult_t r_ = (call);                                                                    \
    CHILD_CHECK(r_ == ccSuccess, (code), "%s returned %s: %s", #call, ::cctest::ResultName(r_).c_str(), \
                ::cctest::LastError(comm).c_str());                                                  \
  } while (0)

// Forks one child per index; child i runs body(i) and _exits with its return value (an escaping exception
// exits 99). The child dies with its parent (PR_SET_PDEATHSIG) and after hardLimitSec at the latest.
inline std::vector<pid_t> ForkChildren(int n, const std::function<int(int)>& body, unsigned hardLimitSec = 120) {
  std::vector<pid_t> pids;
  std::fflush(stdout);
  std::fflush(stderr);
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      alarm(hardLimitSec);
      int rc = 99;
      try {
        rc = body(i);
      } catch (...) {
        rc = 99;
      }
      std::fflush(stdout);
      std::fflush(stderr);
      _exit(rc);
    }
    pids.push_back(pid);  // -1 on failure; WaitChildren reports it
  }
  return pids;
}

struct ChildStatus {
  pid_t pid = -1;
  bool reaped = false;    // waitpid returned its status
  bool timedOut = false;  // still running at the deadline (then killed)
  int status = 0;
  double seconds = 0;     // from the start of WaitChildren to its exit
  bool ExitedWith(int code) const { return reaped && !timedOut && WIFEXITED(status) && WEXITSTATUS(status) == code; }
  bool KilledBy(int sig) const { return reaped && WIFSIGNALED(status) && WTERMSIG(status) == sig; }
  std::string Describe() const {
    std::ostringstream os;
    os << "pid " << pid << ": ";
    if (pid < 0) return os.str() + "fork failed";
    if (timedOut) os << "TIMED OUT (killed) ";
    if (!reaped) return os.str() + "not reaped";
    if (WIFEXITED(status)) os << "exit " << WEXITSTATUS(status);
    if (WIFSIGNALED(status)) os << "signal " << WTERMSIG(status);
    os << " after " << seconds << " s";
    return os.str();
  }
};

// Waits for all pids until deadlineSec; kills (SIGKILL) and reaps the ones still running then.
inline std::vector<ChildStatus> WaitChildren(const std::vector<pid_t>& pids, double deadlineSec) {
  std::vector<ChildStatus> st(pids.size());
  const int64_t start = NowNs();
  size_t left = 0;
  for (size_t i = 0; i < pids.size(); ++i) {
    st[i].pid = pids[i];
    if (pids[i] > 0) ++left;
  }
  while (left > 0) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (pids[i] <= 0 || st[i].reaped) continue;
      int status = 0;
      const pid_t r = waitpid(pids[i], &status, WNOHANG);
      if (r == pids[i]) {
        st[i].reaped = true;
        st[i].status = status;
        st[i].seconds = SecondsSince(start);
        --left;
      }
    }
    if (left == 0) break;
    if (SecondsSince(start) > deadlineSec) {
      for (size_t i = 0; i < pids.size(); ++i) {
        if (pids[i] <= 0 || st[i].reaped) continue;
        st[i].timedOut = true;
        kill(pids[i], SIGKILL);
        int status = 0;
        if (waitpid(pids[i], &status, 0) == pids[i]) {
          st[i].reaped = true;
          st[i].status = status;
          st[i].seconds = SecondsSince(start);
        }
      }
      break;
    }
    usleep(5000);
  }
  return st;
}

}  // namespace cctest
