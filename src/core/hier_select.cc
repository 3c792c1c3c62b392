// hier_select.cc — see hier_select.h.
#include "core/hier_select.h"

#include <cstring>
#include <string>
#include <vector>

#include "common/log.h"
#include "core/comm.h"

namespace conccl {

void SetupHostLayout(ccComm* comm) {
  std::vector<std::string> ids;
  ids.reserve(comm->peers.size());
  for (const RankInfo& p : comm->peers) ids.emplace_back(p.hostId, strnlen(p.hostId, sizeof(p.hostId)));
  comm->hosts = GroupByHost(ids, comm->rank);
  const char* choice = comm->opts.algo == AlgoChoice::kHier ? "hierarchical (CONCCL_ALGO=hier)"
                       : UseHierAllReduce(comm)             ? "hierarchical (ranks span hosts; compressed: flat)"
                                                            : "flat";
  CC_INFO(kLogInit, "comm %p rank %d: %s; all-reduce %s", (void*)comm, comm->rank, DescribeLayout(comm->hosts).c_str(),
          choice);
}

bool UseHierAllReduce(const ccComm* comm) {
  if (comm->opts.algo != AlgoChoice::kAuto) return comm->opts.algo == AlgoChoice::kHier;
  return comm->hosts.Spans(comm->nranks);
}

bool HierLeadersUseTree(const ccComm* comm, size_t bytes) {
  return bytes <= comm->opts.treeThresholdBytes && comm->hosts.NHosts() > 2;
}

bool UseHierCompressed(const ccComm* comm, ccAlgo_t algo) {
  return algo == ccAlgoHier || (algo == ccAlgoAuto && comm->opts.algo == AlgoChoice::kHier);
}

}  // namespace conccl
