// hier.h — hierarchical all-reduce for ranks that span hosts: reduce inside each host (exact, over the
// host's fast links), all-reduce among one leader per host, broadcast inside each host.
//
// Host layout contract: hosts are numbered in order of their lowest rank; a host's members are its
// ranks in ascending order and its leader is the lowest of them (so rank 0 always leads host 0). Every
// rank computes the same layout from the same host identities.
//
// Channels: the in-host phases use kChanChain between ranks of one host (members -> leader: inputs,
// leader -> members: results; each direction its own FIFO), the leader phase uses kChanRing or
// kChanTree0/1 between leaders. Every message of a (peer, channel) pair is received in posting order
// and each rank posts them in schedule order, so phases never take each other's messages.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "algorithms/links.h"
#include "algorithms/sub_links.h"
#include "conccl.h"

namespace conccl {

struct HostLayout {
  std::vector<std::vector<int>> members;  // per host: its ranks, ascending
  std::vector<int> leaders;               // per host: members[h][0]
  int myHost = 0;                         // host of this rank
  int myLocal = 0;                        // index of this rank in members[myHost]

  int NHosts() const { return static_cast<int>(members.size()); }
  bool IsLeader() const { return myLocal == 0; }
  int MaxHostSize() const {
    size_t m = 0;
    for (const auto& h : members) m = std::max(m, h.size());
    return static_cast<int>(m);
  }
  // True when more than one host holds ranks and some host holds more than one: the case where the
  // hierarchy saves traffic on the slow links (chosen automatically then).
  bool Spans(int nranks) const { return NHosts() > 1 && NHosts() < nranks; }
};

// Groups ranks 0..hostIds.size()-1 by equal host identity; `rank` is this rank.
HostLayout GroupByHost(const std::vector<std::string>& hostIds, int rank);

// One line for logs: "2 hosts: [0 1] [2 3]" (at most 8 hosts listed).
std::string DescribeLayout(const HostLayout& layout);

// This rank's host as a communicator (sub-rank 0 = the leader).
SubLinks HostLinks(Links& links, const HostLayout& layout);
// The leaders as a communicator (sub-rank = host number). Only for a leader.
SubLinks LeaderLinks(Links& links, const HostLayout& layout);

// All-reduce of count elements over `links` (the whole communicator) following `layout`, in pieces of
// 1 to 4 MiB that flow through three overlapping stages: the host members send their piece to the
// leader, which reduces them with its own (op; avg reduces as sum); the leaders all-reduce it (ring, or
// tree when leadersTree) and divide by links.NRanks() for avg; the leader sends the result to its
// members. In place allowed. Integers and max/min are exact; float sums are rounded at most nranks-1
// times, like the flat schedules.
ccResult_t HierAllReduce(Links& links, const HostLayout& layout, const void* sendbuff, void* recvbuff, size_t count,
                         ccDataType_t type, ccRedOp_t op, bool leadersTree);

}  // namespace conccl
