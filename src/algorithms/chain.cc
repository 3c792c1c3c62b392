// chain.cc — pipelined chain broadcast and reduce (see schedules.h).
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
}

ccResult_t ChainBroadcast(Links& links, const void* sendbuff, void* recvbuff, size_t bytes, int root) {
  int n = links.NRanks(), r = links.Rank();
  int pos = (r - root + n) % n;
  char* out = static_cast<char*>(recvbuff);
  if (pos == 0 && sendbuff != recvbuff && bytes) memcpy(out, sendbuff, bytes);
  if (n == 1 || bytes == 0) return ccSuccess;
  size_t chunk = std::max<size_t>(1, links.ChunkBytes());
  size_t K = (bytes + chunk - 1) / chunk;
  int next = pos < n - 1 ? (r + 1) % n : -1;
  int prev = (r + n - 1) % n;
  SendQueue sends(links);
  auto len = [&](size_t k) { return std::min(chunk, bytes - k * chunk); };
  if (pos == 0) {
    for (size_t k = 0; k < K; ++k) CC_CHECK(sends.Post(next, kChanChain, out + k * chunk, len(k)));
    return sends.Drain();
  }
  std::vector<Request*> reqs(K, nullptr);
  struct Guard {
    Links& l;
    std::vector<Request*>& r;
    ~Guard() { DropAll(l, &r); }
  } guard{links, reqs};
  for (size_t k = 0; k < K; ++k) CC_CHECK(links.Irecv(prev, kChanChain, out + k * chunk, len(k), &reqs[k]));
  for (size_t k = 0; k < K; ++k) {
    size_t got = 0;
    Request* req = reqs[k];
    reqs[k] = nullptr;
    CC_CHECK(WaitRequest(links, req, &got));
    if (got != len(k)) return SetError(ccRemoteError, "broadcast: rank %d sent %zu bytes, expected %zu", prev, got, len(k));
    if (next >= 0) CC_CHECK(sends.Post(next, kChanChain, out + k * chunk, len(k)));
    CC_CHECK(sends.Reap());
  }
  return sends.Drain();
}

ccResult_t ChainReduce(Links& links, const void* sendbuff, void* recvbuff, size_t count, ccDataType_t type,
                       ccRedOp_t op, int root) {
  int n = links.NRanks(), r = links.Rank();
  size_t es = TypeSize(type);
  const char* in = static_cast<const char*>(sendbuff);
  char* out = static_cast<char*>(recvbuff);
  if (n == 1) {
    if (in != out && count) memcpy(out, in, count * es);
    return ccSuccess;
  }
  if (count == 0) return ccSuccess;
  int pos = (r - root - 1 + 2 * n) % n;  // root is last (n-1)
  int next = (r + 1) % n, prev = (r + n - 1) % n;
  size_t ce = std::max<size_t>(1, links.ChunkBytes() / es);
  size_t K = (count + ce - 1) / ce;
  auto elems = [&](size_t k) { return std::min(ce, count - k * ce); };
  SendQueue sends(links);
  if (pos == 0) {
    for (size_t k = 0; k < K; ++k) CC_CHECK(sends.Post(next, kChanChain, in + k * ce * es, elems(k) * es));
    return sends.Drain();
  }
  std::vector<std::vector<char>> slots(kWindow, std::vector<char>(std::min(ce, count) * es));
  std::vector<int64_t> slotSend(kWindow, -1);
  std::vector<Request*> reqs(kWindow, nullptr);
  struct Guard {
    Links& l;
    std::vector<Request*>& r;
    ~Guard() { DropAll(l, &r); }
  } guard{links, reqs};
  auto post = [&](size_t k) -> ccResult_t {
    CC_CHECK(sends.WaitThrough(slotSend[k % kWindow]));
    return links.Irecv(prev, kChanChain, slots[k % kWindow].data(), elems(k) * es, &reqs[k % kWindow]);
  };
  for (size_t k = 0; k < std::min(K, kWindow); ++k) CC_CHECK(post(k));
  for (size_t k = 0; k < K; ++k) {
    size_t got = 0;
    Request* req = reqs[k % kWindow];
    reqs[k % kWindow] = nullptr;
    CC_CHECK(WaitRequest(links, req, &got));
    if (got != elems(k) * es) return SetError(ccRemoteError, "reduce: short chunk from rank %d", prev);
    char* slot = slots[k % kWindow].data();
    const char* mine = in + k * ce * es;
    if (r == root) {
      links.Reduce(out + k * ce * es, slot, mine, elems(k), type, op);
      if (op == ccAvg) links.Divide(out + k * ce * es, elems(k), type, n);
    } else {
      links.Reduce(slot, slot, mine, elems(k), type, op);
      CC_CHECK(sends.Post(next, kChanChain, slot, elems(k) * es, &slotSend[k % kWindow]));
    }
    if (k + kWindow < K) CC_CHECK(post(k + kWindow));
    CC_CHECK(sends.Reap());
  }
  return sends.Drain();
}

}  // namespace conccl
