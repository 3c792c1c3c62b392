// gather_scatter.cc — ring all-gather, ring reduce-scatter and the all-to-all exchange (see schedules.h).
#include <algorithm>
#include <cstring>
#include <vector>

#include "algorithms/primitives.h"
#include "algorithms/schedules.h"
#include "common/result.h"
#include "common/types.h"

namespace conccl {
namespace {
constexpr size_t kWindow = 4;

struct ReqGuard {
  Links& links;
  std::vector<Request*> reqs;
  ~ReqGuard() { DropAll(links, &reqs); }
};
}  // namespace

// Step a (0 <= a < n-1): send block (r-a), receive block (r-a-1) into place, forward it next step.
ccResult_t RingAllGather(Links& links, const void* sendbuff, void* recvbuff, size_t bpr) {
  int n = links.NRanks(), r = links.Rank();
  char* out = static_cast<char*>(recvbuff);
  if (sendbuff != out + r * bpr && bpr) memcpy(out + r * bpr, sendbuff, bpr);
  if (n == 1 || bpr == 0) return ccSuccess;
  size_t chunk = std::max<size_t>(1, links.ChunkBytes());
  size_t K = (bpr + chunk - 1) / chunk, total = (n - 1) * K;
  int next = (r + 1) % n, prev = (r + n - 1) % n;
  auto len = [&](size_t k) { return std::min(chunk, bpr - k * chunk); };
  auto region = [&](size_t m) {  // where incoming message m lands
    size_t block = (r - 1 - static_cast<int>(m / K) + 2 * n) % n;
    return out + block * bpr + (m % K) * chunk;
  };
  SendQueue sends(links);
  ReqGuard g{links, std::vector<Request*>(kWindow, nullptr)};
  for (size_t k = 0; k < K; ++k) CC_CHECK(sends.Post(next, kChanRing, out + r * bpr + k * chunk, len(k)));
  for (size_t m = 0; m < std::min(total, kWindow); ++m)
    CC_CHECK(links.Irecv(prev, kChanRing, region(m), len(m % K), &g.reqs[m]));
  for (size_t m = 0; m < total; ++m) {
    size_t got = 0;
    Request* req = g.reqs[m % kWindow];
    g.reqs[m % kWindow] = nullptr;
    CC_CHECK(WaitRequest(links, req, &got));
    if (got != len(m % K)) return SetError(ccRemoteError, "all-gather: short chunk from rank %d", prev);
    if (m / K < static_cast<size_t>(n - 2)) CC_CHECK(sends.Post(next, kChanRing, region(m), got));
    if (m + kWindow < total)
      CC_CHECK(links.Irecv(prev, kChanRing, region(m + kWindow), len((m + kWindow) % K), &g.reqs[m % kWindow]));
    CC_CHECK(sends.Reap());
  }
  return sends.Drain();
}

// Step s (0 <= s < n-1): send segment (r-s-1) (partial sum), receive segment (r-s-2), reduce with the local
// input; the last step's result is segment r, written to recvbuff. Partial sums live in staging slots.
ccResult_t RingReduceScatter(Links& links, const void* sendbuff, void* recvbuff, size_t rc, ccDataType_t type,
                             ccRedOp_t op) {
  int n = links.NRanks(), r = links.Rank();
  size_t es = TypeSize(type);
  const char* in = static_cast<const char*>(sendbuff);
  char* out = static_cast<char*>(recvbuff);
  if (n == 1) {
    if (in != out && rc) memcpy(out, in, rc * es);
    return ccSuccess;
  }
  if (rc == 0) return ccSuccess;
  size_t ce = std::max<size_t>(1, links.ChunkBytes() / es);
  size_t K = (rc + ce - 1) / ce, total = (n - 1) * K;
  int next = (r + 1) % n, prev = (r + n - 1) % n;
  auto elems = [&](size_t k) { return std::min(ce, rc - k * ce); };
  auto segOf = [&](size_t m) { return static_cast<size_t>((r - 2 - static_cast<int>(m / K) + 3 * n) % n); };
  auto input = [&](size_t seg, size_t k) { return in + (seg * rc + k * ce) * es; };
  SendQueue sends(links);
  ReqGuard g{links, std::vector<Request*>(kWindow, nullptr)};
  std::vector<std::vector<char>> slots(kWindow, std::vector<char>(std::min(ce, rc) * es));
  std::vector<int64_t> slotSend(kWindow, -1);
  auto post = [&](size_t m) -> ccResult_t {
    CC_CHECK(sends.WaitThrough(slotSend[m % kWindow]));
    return links.Irecv(prev, kChanRing, slots[m % kWindow].data(), elems(m % K) * es, &g.reqs[m % kWindow]);
  };
  size_t first = (r - 1 + n) % n;
  for (size_t k = 0; k < K; ++k) CC_CHECK(sends.Post(next, kChanRing, input(first, k), elems(k) * es));
  for (size_t m = 0; m < std::min(total, kWindow); ++m) CC_CHECK(post(m));
  for (size_t m = 0; m < total; ++m) {
    size_t got = 0, k = m % K, seg = segOf(m);
    Request* req = g.reqs[m % kWindow];
    g.reqs[m % kWindow] = nullptr;
    CC_CHECK(WaitRequest(links, req, &got));
    if (got != elems(k) * es) return SetError(ccRemoteError, "reduce-scatter: short chunk from rank %d", prev);
    char* slot = slots[m % kWindow].data();
    if (m / K == static_cast<size_t>(n - 2)) {
      links.Reduce(out + k * ce * es, slot, input(seg, k), elems(k), type, op);
      if (op == ccAvg) links.Divide(out + k * ce * es, elems(k), type, n);
    } else {
      links.Reduce(slot, slot, input(seg, k), elems(k), type, op);
      CC_CHECK(sends.Post(next, kChanRing, slot, elems(k) * es, &slotSend[m % kWindow]));
    }
    if (m + kWindow < total) CC_CHECK(post(m + kWindow));
    CC_CHECK(sends.Reap());
  }
  return sends.Drain();
}

ccResult_t AlltoAllExchange(Links& links, const void* sendbuff, void* recvbuff, size_t bpr) {
  int n = links.NRanks(), r = links.Rank();
  const char* in = static_cast<const char*>(sendbuff);
  char* out = static_cast<char*>(recvbuff);
  if (bpr) memcpy(out + r * bpr, in + r * bpr, bpr);
  if (n == 1 || bpr == 0) return ccSuccess;
  ReqGuard g{links, std::vector<Request*>(2 * n, nullptr)};
  for (int i = 1; i < n; ++i) {  // staggered order spreads load over peers
    int peer = (r + i) % n, from = (r - i + n) % n;
    CC_CHECK(links.Irecv(from, kChanP2p, out + from * bpr, bpr, &g.reqs[2 * i]));
    CC_CHECK(links.Isend(peer, kChanP2p, in + peer * bpr, bpr, &g.reqs[2 * i + 1]));
  }
  for (size_t i = 0; i < g.reqs.size(); ++i) {
    if (!g.reqs[i]) continue;
    size_t got = 0;
    Request* req = g.reqs[i];
    g.reqs[i] = nullptr;
    CC_CHECK(WaitRequest(links, req, &got));
    if (got != bpr) return SetError(ccRemoteError, "all-to-all: short block");
  }
  return ccSuccess;
}

}  // namespace conccl
