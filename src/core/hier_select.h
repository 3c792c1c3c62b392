// hier_select.h — when all-reduces take the hierarchical schedule (algorithms/hier.h), decided from the
// communicator's host layout and CONCCL_ALGO. Every rank computes the same answer from the same inputs
// (host identities exchanged at bootstrap, the call's config), so ranks never disagree on the schedule.
#pragma once

#include <cstddef>

#include "conccl.h"

struct ccComm;

namespace conccl {

// Groups comm->peers by host identity into comm->hosts and logs the layout and the all-reduce choice at
// INFO (once per communicator). Call after the rendezvous.
void SetupHostLayout(ccComm* comm);

// ccAllReduce: hierarchical when CONCCL_ALGO=hier, or automatically when the ranks span hosts
// (1 < hosts < nranks) and CONCCL_ALGO does not force ring or tree.
bool UseHierAllReduce(const ccComm* comm);

// The leaders' schedule inside the hierarchical all-reduce: the tree for messages of at most
// CONCCL_TREE_THRESHOLD bytes among more than two leaders, else the ring.
bool HierLeadersUseTree(const ccComm* comm, size_t bytes);

// ccAllreduceCompressed with config algo `algo`: hierarchical for ccAlgoHier, or for ccAlgoAuto under
// CONCCL_ALGO=hier; never automatically. Measured on 2 netns hosts x 2 ranks at 1 Gbit/s, 64 MiB: the
// exact fp32 in-host phases cost more than the smaller compressed wire saves (int8 0.72x, int4 0.43x,
// randblock 1/64 0.15x the speed of the flat compressed ring).
bool UseHierCompressed(const ccComm* comm, ccAlgo_t algo);

}  // namespace conccl
