// compress_test_util.h — helpers for the compressed all-reduce tests: a communicator set whose ranks are
// threads of this process, a per-rank thread launcher, float16/bfloat16 conversions written here (not
// taken from the library, so the tests check the library against an independent reference), typed
// buffers and deterministic gaussian inputs.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "conccl.h"

namespace cctest {

// ---- ranks as threads ------------------------------------------------------------------------------

// Runs fn(rank) on nranks threads and joins them.
inline void RunRanks(int nranks, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  threads.reserve(nranks);
  for (int r = 0; r < nranks; ++r) threads.emplace_back(fn, r);
  for (auto& t : threads) t.join();
}

// One communicator per rank, created from one unique id over netName ("local" by default).
class Comms {
 public:
  Comms() = default;
  Comms(const Comms&) = delete;
  Comms& operator=(const Comms&) = delete;
  ~Comms() { Release(); }

  // timeoutMs: the no-progress limit, so that a bug fails instead of hanging.
  ccResult_t Init(int nranks, const char* netName = "local", int timeoutMs = 60000) {
    Release();
    ccUniqueId id;
    ccResult_t r = ccGetUniqueId(&id);
    if (r != ccSuccess) return r;
    comms_.assign(nranks, nullptr);
    std::vector<ccResult_t> res(nranks, ccSuccess);
    RunRanks(nranks, [&](int rank) {
      ccConfig_t cfg = CC_CONFIG_INITIALIZER;
      cfg.netName = netName;
      cfg.timeoutMs = timeoutMs;
      res[rank] = ccCommInitRankConfig(&comms_[rank], nranks, id, rank, &cfg);
    });
    for (ccResult_t x : res)
      if (x != ccSuccess) {
        broken_ = true;
        return x;
      }
    return ccSuccess;
  }

  int size() const { return static_cast<int>(comms_.size()); }
  ccComm_t operator[](int r) const { return comms_[r]; }
  // After a failed collective the group is in an unknown state: release aborts instead of destroying.
  void MarkBroken() { broken_ = true; }

  void Release() {
    if (comms_.empty()) return;
    if (broken_) {
      for (ccComm_t c : comms_)
        if (c) ccCommAbort(c);
    } else {
      // ccCommDestroy closes connections; do it on all ranks concurrently.
      RunRanks(size(), [&](int r) {
        if (comms_[r]) ccCommDestroy(comms_[r]);
      });
    }
    comms_.clear();
    broken_ = false;
  }

 private:
  std::vector<ccComm_t> comms_;
  bool broken_ = false;
};

inline std::string Msg(ccComm_t comm) {
  const char* s = ccGetLastError(comm);
  return s ? std::string(s) : std::string();
}

// Sets (value != nullptr) or unsets an environment variable for the scope's lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_.c_str(), old_.c_str(), 1);
    else unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

// ---- float16 / bfloat16, written independently of the library ---------------------------------------

inline float Bits32ToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t FloatToBits32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float HalfToFloatRef(uint16_t h) {
  int sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  double v;
  if (exp == 0x1f) v = man ? NAN : INFINITY;
  else if (exp == 0) v = std::ldexp(static_cast<double>(man), -24);
  else v = std::ldexp(static_cast<double>(man | 0x400), exp - 25);
  return static_cast<float>(sign ? -v : v);
}

// Round to nearest even through double arithmetic (exact for every float32 input).
inline uint16_t FloatToHalfRef(float f) {
  if (std::isnan(f)) return 0x7e00;
  uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  double a = std::fabs(static_cast<double>(f));
  if (a >= 65520.0) return sign | 0x7c00;
  // Quantum: 2^-24 below 2^-14, else 2^(e-10) for a in [2^e, 2^(e+1)).
  int e;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  int q = std::max(-24, (e - 1) - 10);
  double units = std::nearbyint(std::ldexp(a, -q));  // default rounding mode: nearest even
  double r = std::ldexp(units, q);
  // Re-encode r (exactly representable as half by construction).
  if (r == 0) return sign;
  int re;
  std::frexp(r, &re);
  int hexp = (re - 1) + 15;
  if (hexp <= 0) return sign | static_cast<uint16_t>(std::ldexp(r, 24));
  if (hexp >= 31) return sign | 0x7c00;
  uint16_t man = static_cast<uint16_t>(std::ldexp(r, -(re - 1) + 10) - 1024.0);
  return sign | static_cast<uint16_t>(hexp << 10) | man;
}

inline float Bf16ToFloatRef(uint16_t b) { return Bits32ToFloat(static_cast<uint32_t>(b) << 16); }
inline uint16_t FloatToBf16Ref(float f) {
  if (std::isnan(f)) return 0x7fc0;
  uint32_t x = FloatToBits32(f);
  uint32_t lsb = (x >> 16) & 1;
  x += 0x7fff + lsb;
  return static_cast<uint16_t>(x >> 16);
}

inline size_t ElemSize(ccDataType_t t) { return (t == ccFloat16 || t == ccBfloat16) ? 2 : 4; }
inline const char* FloatTypeName(ccDataType_t t) {
  return t == ccFloat16 ? "float16" : t == ccBfloat16 ? "bfloat16" : t == ccFloat32 ? "float32" : "other";
}

// A host buffer of count elements of a float type (float32, float16, bfloat16).
struct TypedBuf {
  ccDataType_t type = ccFloat32;
  std::vector<uint8_t> bytes;
  TypedBuf() = default;
  TypedBuf(ccDataType_t t, size_t n) : type(t), bytes(n * ElemSize(t) + 1 /* never empty */) {}
  void* data() { return bytes.data(); }
  const void* data() const { return bytes.data(); }
  size_t count() const { return (bytes.size() - 1) / ElemSize(type); }
  float Get(size_t i) const {
    if (type == ccFloat32) {
      float f;
      std::memcpy(&f, bytes.data() + 4 * i, 4);
      return f;
    }
    uint16_t h;
    std::memcpy(&h, bytes.data() + 2 * i, 2);
    return type == ccFloat16 ? HalfToFloatRef(h) : Bf16ToFloatRef(h);
  }
  void Set(size_t i, float v) {
    if (type == ccFloat32) {
      std::memcpy(bytes.data() + 4 * i, &v, 4);
      return;
    }
    uint16_t h = type == ccFloat16 ? FloatToHalfRef(v) : FloatToBf16Ref(v);
    std::memcpy(bytes.data() + 2 * i, &h, 2);
  }
  // Stores v rounded to the type; returns the stored values (as float).
  std::vector<float> Fill(const std::vector<float>& v) {
    std::vector<float> back(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      Set(i, v[i]);
      back[i] = Get(i);
    }
    return back;
  }
  std::vector<float> ToFloats() const {
    std::vector<float> out(count());
    for (size_t i = 0; i < out.size(); ++i) out[i] = Get(i);
    return out;
  }
  bool SameBytes(const TypedBuf& o) const {
    return bytes.size() == o.bytes.size() && std::memcmp(bytes.data(), o.bytes.data(), bytes.size() - 1) == 0;
  }
};

// ---- inputs ----------------------------------------------------------------------------------------

// Gaussian N(mean, sigma^2) values, a deterministic function of (seed, stream).
inline std::vector<float> Gaussian(size_t n, uint64_t seed, uint64_t stream = 0, double sigma = 1.0,
                                   double mean = 0.0) {
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ull + stream * 0xbf58476d1ce4e5b9ull + 1);
  std::normal_distribution<double> dist(mean, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(dist(rng));
  return v;
}

inline double SquaredNorm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return s;
}

// ||got - ref||^2 / ||ref||^2 (0 when ref is 0 and got equals it).
inline double Nmse(const std::vector<float>& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double d = static_cast<double>(got[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den > 0 ? num / den : num;
}

inline ccCompressConfig_t MakeConfig(ccCodec_t codec, uint64_t key = 1) {
  ccCompressConfig_t c;
  ccCompressConfigInit(&c);
  c.codec = codec;
  c.key = key;  // an explicit key: the default is derived from the send buffer address, which differs by rank
  return c;
}

inline const char* CodecName(ccCodec_t c) {
  switch (c) {
    case ccCodecNone: return "none";
    case ccCodecFp16: return "fp16";
    case ccCodecBf16: return "bf16";
    case ccCodecInt8: return "int8";
    case ccCodecInt4: return "int4";
    case ccCodecRandBlock: return "randblock";
    case ccCodecSummable: return "summable";
    case ccCodecSign: return "sign";
    case ccCodecTopK: return "topk";
    default: return "plugin";
  }
}

// Seconds since a steady-clock point.
inline double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace cctest
