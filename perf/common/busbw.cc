// busbw.cc — nccl-tests' size and bandwidth rules for each collective (see busbw.h).
#include "busbw.h"

namespace ccperf {
namespace {
constexpr size_t kAlign = 4;  // all-gather and reduce-scatter counts are multiples of 4 elements, as in nccl-tests
}

CollSizes GetCollSizes(Coll coll, size_t count, size_t typeSize, int nranks) {
  const size_t n = nranks > 0 ? static_cast<size_t>(nranks) : 1;
  CollSizes s{count, count, count, 0, 0};
  switch (coll) {
    case Coll::kAllReduce:
    case Coll::kBroadcast:
    case Coll::kReduce:
    case Coll::kSendRecv:
      break;
    case Coll::kAllGather: {
      const size_t base = (count / (kAlign * n)) * kAlign;
      s = {base, base * n, base, base, 0};
      break;
    }
    case Coll::kReduceScatter: {
      const size_t base = (count / (kAlign * n)) * kAlign;
      s = {base * n, base, base, 0, base};
      break;
    }
    case Coll::kAlltoAll: {
      // Per-peer blocks of whole 16-byte units (nccl-tests: (count/n) & -(16/eltSize)).
      const size_t unit = typeSize > 0 && typeSize < 16 ? 16 / typeSize : 1;
      const size_t base = (count / n) / unit * unit;
      s = {base * n, base * n, base, 0, 0};
      break;
    }
  }
  return s;
}

double BusBwFactor(Coll coll, int nranks) {
  const double n = nranks > 0 ? nranks : 1;
  switch (coll) {
    case Coll::kAllReduce:
      return 2.0 * (n - 1) / n;
    case Coll::kAllGather:
    case Coll::kReduceScatter:
    case Coll::kAlltoAll:
      return (n - 1) / n;
    case Coll::kBroadcast:
    case Coll::kReduce:
    case Coll::kSendRecv:
      return 1.0;
  }
  return 1.0;
}

double AlgBwBytes(Coll coll, size_t paramCount, size_t typeSize, int nranks) {
  const double bytes = static_cast<double>(paramCount) * static_cast<double>(typeSize);
  switch (coll) {
    case Coll::kAllGather:
    case Coll::kReduceScatter:
    case Coll::kAlltoAll:
      return bytes * (nranks > 0 ? nranks : 1);
    default:
      return bytes;
  }
}

void GetBw(Coll coll, size_t paramCount, size_t typeSize, double sec, int nranks, double* algBw, double* busBw) {
  const double alg = sec > 0 ? AlgBwBytes(coll, paramCount, typeSize, nranks) / 1.0e9 / sec : 0.0;
  *algBw = alg;
  *busBw = alg * BusBwFactor(coll, nranks);
}

}  // namespace ccperf
