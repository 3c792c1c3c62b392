// hier.cc — host layout and the hierarchical all-reduce (see hier.h).
#include "algorithms/hier.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

#include "algorithms/primitives.h"
#include "algorithms/schedules.h"
#include "common/result.h"
#include "common/types.h"

namespace conccl {

HostLayout GroupByHost(const std::vector<std::string>& hostIds, int rank) {
  HostLayout h;
  std::map<std::string, int> hostNumber;
  for (int r = 0; r < static_cast<int>(hostIds.size()); ++r) {
    auto it = hostNumber.find(hostIds[r]);
    if (it == hostNumber.end()) {  // ranks are visited in order, so hosts come in order of their lowest rank
      it = hostNumber.emplace(hostIds[r], h.NHosts()).first;
      h.members.emplace_back();
      h.leaders.push_back(r);
    }
    if (r == rank) {
      h.myHost = it->second;
      h.myLocal = static_cast<int>(h.members[it->second].size());
    }
    h.members[it->second].push_back(r);
  }
  return h;
}

std::string DescribeLayout(const HostLayout& layout) {
  std::string s = std::to_string(layout.NHosts()) + (layout.NHosts() == 1 ? " host:" : " hosts:");
  for (int h = 0; h < layout.NHosts() && h < 8; ++h) {
    s += " [";
    for (size_t i = 0; i < layout.members[h].size(); ++i) s += (i ? " " : "") + std::to_string(layout.members[h][i]);
    s += "]";
  }
  if (layout.NHosts() > 8) s += " ...";
  return s;
}

SubLinks HostLinks(Links& links, const HostLayout& layout) {
  return SubLinks(links, layout.members[layout.myHost], layout.myLocal);
}

SubLinks LeaderLinks(Links& links, const HostLayout& layout) {
  return SubLinks(links, layout.leaders, layout.myHost);
}

namespace {

constexpr size_t kWindow = 2;  // pieces per host member received ahead by the leader

// The data is cut into pieces so that the in-host phases of one piece overlap the leaders' all-reduce of
// another: shared-memory transfers advance whenever the leader waits inside the leaders' schedule. Pieces
// of count/16 elements within [1 MiB, 4 MiB] (measured on 2 netns hosts x 2 ranks at 1 Gbit/s: 1-4 MiB
// pieces reach the leaders-only ring time, a single piece takes twice as long). The leader's staging is
// (members x kWindow) pieces: 32 MiB for up to 9 ranks per host (the cap shrinks pieces toward 1 MiB), then
// 2 MiB per member (256 MiB for 129 ranks on one host).
// Every rank cuts the same pieces (from the largest host), as the leaders' all-reduce runs per piece.
struct Pieces {
  size_t count, elems, n;
  Pieces(size_t c, size_t es, int maxHostSize) : count(c) {
    size_t cap = std::max<size_t>(1u << 20, std::min<size_t>(4u << 20, (16u << 20) / static_cast<size_t>(std::max(1, maxHostSize - 1))));
    size_t bytes = std::min(cap, std::max<size_t>(1u << 20, c * es / 16));
    elems = std::max<size_t>(1, bytes / es);
    n = (count + elems - 1) / elems;
  }
  size_t Begin(size_t p) const { return p * elems; }
  size_t Count(size_t p) const { return std::min(elems, count - p * elems); }
};

// A host member: sends its input piece by piece to the leader, receives the results back.
ccResult_t MemberPart(Links& host, const char* in, char* out, const Pieces& P, size_t es) {
  SendQueue sends(host);
  std::vector<Request*> recvs(P.n, nullptr);
  struct Guard {
    Links& l;
    std::vector<Request*>& r;
    ~Guard() { DropAll(l, &r); }
  } guard{host, recvs};
  // A result piece arrives only after the leader received all of our input piece, so receiving into the
  // same bytes (in place) cannot overtake its send.
  for (size_t p = 0; p < P.n; ++p) {
    CC_CHECK(sends.Post(0, kChanChain, in + P.Begin(p) * es, P.Count(p) * es));
    CC_CHECK(host.Irecv(0, kChanChain, out + P.Begin(p) * es, P.Count(p) * es, &recvs[p]));
  }
  for (size_t p = 0; p < P.n; ++p) {
    size_t got = 0;
    Request* req = recvs[p];
    recvs[p] = nullptr;
    CC_CHECK(WaitRequest(host, req, &got));
    if (got != P.Count(p) * es)
      return SetError(ccRemoteError, "hierarchical all-reduce: host leader sent %zu bytes, expected %zu", got,
                      P.Count(p) * es);
    CC_CHECK(sends.Reap());
  }
  return sends.Drain();
}

// The leader: per piece, reduces the members' inputs into out, all-reduces it among the leaders, and
// sends it back to the members without waiting.
ccResult_t LeaderPart(Links& host, Links& leaders, const char* in, char* out, const Pieces& P, ccDataType_t type,
                      ccRedOp_t op, int divisor, bool leadersTree) {
  size_t es = TypeSize(type), members = static_cast<size_t>(host.NRanks() - 1);
  size_t slotBytes = std::min(P.elems, P.count) * es;
  std::unique_ptr<char[]> staging(new char[members * kWindow * slotBytes]);  // uninitialised: receives fill it
  auto slot = [&](size_t s) { return staging.get() + s * slotBytes; };
  std::vector<Request*> recvs(members * kWindow, nullptr);
  struct Guard {
    Links& l;
    std::vector<Request*>& r;
    ~Guard() { DropAll(l, &r); }
  } guard{host, recvs};
  auto post = [&](size_t p) -> ccResult_t {
    for (size_t m = 0; m < members; ++m) {
      size_t s = m * kWindow + p % kWindow;
      CC_CHECK(host.Irecv(static_cast<int>(m + 1), kChanChain, slot(s), P.Count(p) * es, &recvs[s]));
    }
    return ccSuccess;
  };
  for (size_t p = 0; p < std::min(P.n, kWindow); ++p) CC_CHECK(post(p));
  SendQueue sends(host);
  for (size_t p = 0; p < P.n; ++p) {
    char* dst = out + P.Begin(p) * es;
    if (members == 0 && dst != in + P.Begin(p) * es) memcpy(dst, in + P.Begin(p) * es, P.Count(p) * es);
    for (size_t m = 0; m < members; ++m) {
      size_t s = m * kWindow + p % kWindow, got = 0;
      Request* req = recvs[s];
      recvs[s] = nullptr;
      CC_CHECK(WaitRequest(host, req, &got));
      if (got != P.Count(p) * es)
        return SetError(ccRemoteError, "hierarchical all-reduce: host member %zu sent %zu bytes, expected %zu", m + 1,
                        got, P.Count(p) * es);
      host.Reduce(dst, m == 0 ? in + P.Begin(p) * es : dst, slot(s), P.Count(p), type, op);
    }
    if (p + kWindow < P.n) CC_CHECK(post(p + kWindow));
    if (leadersTree) CC_CHECK(TreeAllReduce(leaders, dst, dst, P.Count(p), type, op));
    else CC_CHECK(RingAllReduce(leaders, dst, dst, P.Count(p), type, op));
    if (divisor > 1) host.Divide(dst, P.Count(p), type, divisor);
    for (size_t m = 0; m < members; ++m)
      CC_CHECK(sends.Post(static_cast<int>(m + 1), kChanChain, dst, P.Count(p) * es));
    CC_CHECK(sends.Reap());
  }
  return sends.Drain();
}

}  // namespace

ccResult_t HierAllReduce(Links& links, const HostLayout& layout, const void* sendbuff, void* recvbuff, size_t count,
                         ccDataType_t type, ccRedOp_t op, bool leadersTree) {
  // avg is a sum until the very end, where the leaders divide by the whole communicator's size.
  ccRedOp_t partial = op == ccAvg ? ccSum : op;
  int divisor = op == ccAvg ? links.NRanks() : 1;
  size_t es = TypeSize(type);
  SubLinks host = HostLinks(links, layout);
  const char* in = static_cast<const char*>(sendbuff);
  char* out = static_cast<char*>(recvbuff);
  if (count == 0) return ccSuccess;
  Pieces pieces(count, es, layout.MaxHostSize());
  if (!layout.IsLeader()) return MemberPart(host, in, out, pieces, es);
  SubLinks leaders = LeaderLinks(links, layout);
  return LeaderPart(host, leaders, in, out, pieces, type, partial, divisor, leadersTree);
}

}  // namespace conccl
