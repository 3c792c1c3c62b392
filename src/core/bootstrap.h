// bootstrap.h — rendezvous of the ranks of one communicator through the root named by the unique id.
//
// Protocol: each rank connects to the root, sends a fixed-size Hello (magic, the 128-bit secret, rank,
// nranks, its RankInfo). The root keeps connections that present the right secret within
// CONCCL_HANDSHAKE_TIMEOUT_MS and drops any other without disturbing the rest; when all nranks ranks
// have joined it sends every rank the table of all RankInfos and exits. Every size read from the wire
// is fixed or checked against a bound before use.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "common/socket.h"
#include "conccl.h"
#include "conccl_net.h"
#include "core/unique_id.h"

namespace conccl {

// The listen handles a rank publishes, one per net table it listens with.
enum NetSlot : int { kNetSlotTcp = 0, kNetSlotShm = 1, kNetSlotPlugin = 2, kNetSlots = 3 };

// What a rank tells its peers about itself. Plain bytes: it crosses the wire as is.
struct RankInfo {
  int32_t pid;
  uint64_t processNonce;  // random per process: equal nonces = same process (local transport)
  char hostId[192];       // host identity (shm): hostname + boot id + netns, or CONCCL_HOST_ID
  char netName[16];       // external net plugin this rank listens with ("" = none)
  uint64_t netMaxMessage;  // that plugin device's maxMessageBytes (0 = no limit)
  uint8_t netHandle[kNetSlots][CC_NET_HANDLE_MAXSIZE];  // listen handles (all zero = not listening)
};

// This process's random nonce, and this host's identity string (see RankInfo).
uint64_t ProcessNonce();
std::string HostIdentity();

// Starts the root listener thread on `addr` (port 0 = any; updated with the bound address) for one
// communicator with `secret`. The thread serves one rendezvous, then exits; it also exits after
// CONCCL_BOOTSTRAP_TIMEOUT_MS if the ranks never all arrive.
ccResult_t StartBootstrapRoot(SockAddr* addr, const uint8_t secret[kSecretBytes]);

// Joins the rendezvous of `id` as `rank` of `nranks`, returning all ranks' infos (index = rank).
// Fails with ccTimeout at the deadline, ccRemoteError if the root rejects this rank (with its reason).
ccResult_t BootstrapJoin(const UniqueIdLayout& id, int rank, int nranks, const RankInfo& mine,
                         std::vector<RankInfo>* all, int64_t deadlineMs, const std::atomic<bool>* abort);

}  // namespace conccl
