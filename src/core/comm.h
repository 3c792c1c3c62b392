// comm.h — the communicator: identity, transports per peer, failure state, and the Links view that the
// schedules use. Lifetime: created by InitComm (init.cc), freed by DestroyComm; the ccComm struct itself
// stays allocated as a tombstone so that a call on a destroyed communicator is reported, not undefined.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "algorithms/hier.h"
#include "algorithms/links.h"
#include "codecs/residual.h"
#include "conccl.h"
#include "core/bootstrap.h"
#include "core/stream_executor.h"
#include "transports/transport.h"

namespace conccl {
constexpr uint32_t kCommMagic = 0xc0cc11a1;
constexpr uint32_t kCommDeadMagic = 0xdeadc0cc;

enum class AlgoChoice { kAuto, kRing, kTree, kHier };  // CONCCL_ALGO

struct CommOptions {
  int64_t timeoutMs = 0;       // 0 = no limit
  std::string netName;         // "" = automatic
  std::string commName;
  AlgoChoice algo = AlgoChoice::kAuto;
  size_t treeThresholdBytes = 65536;
  size_t chunkBytes = 512 * 1024;
  int spin = 200;
  bool blocking = true;  // ccConfig_t::blocking: false = device-buffer calls return ccInProgress
};
}  // namespace conccl

struct ccComm : public conccl::Links {
  std::atomic<uint32_t> magic{conccl::kCommMagic};
  int rank = 0;
  int nranks = 0;
  uint64_t commHash = 0;
  conccl::UniqueIdLayout id{};
  conccl::CommOptions opts;
  std::vector<conccl::RankInfo> peers;
  conccl::HostLayout hosts;  // ranks grouped by peers[].hostId (set at init; see algorithms/hier.h)

  conccl::DoorbellWord localBell;
  conccl::Doorbell bell{&localBell};
  std::unique_ptr<conccl::Transport> local;     // threads of this process
  std::unique_ptr<conccl::Transport> shm, tcp;  // the built-in net tables through the adapter (net_builtin.h)
  std::unique_ptr<conccl::Transport> net;  // a net plugin through the adapter (transports/net_transport.h)
  std::vector<conccl::Transport*> route;  // transport serving each peer

  std::atomic<bool> aborted{false};
  std::atomic<int> asyncError{ccSuccess};
  std::atomic<int> activeCalls{0};
  std::atomic<bool> droppedPending{false};  // an error path dropped a pending request: transports are shut
  uint64_t opSeq = 0;

  std::mutex errMu;
  std::string lastError;

  // Compressed all-reduce state: residuals per key and per-key telemetry.
  struct KeyStats {
    uint64_t totalCalls = 0;  // every call with this key, warm-up and small calls included
    ccCompressStats_t stats{};
  };
  std::unique_ptr<conccl::ResidualStore> residuals;
  std::map<uint64_t, KeyStats> keyStats;
  uint64_t lastStatsKey = 0;
  std::atomic<uint64_t> bytesSent{0};

  // Device-buffer collectives ordered on the caller's streams (created by the first one).
  std::unique_ptr<conccl::StreamExecutor> executor;

  std::mutex orphanMu;
  std::vector<conccl::Request*> orphans;  // requests dropped on error paths, freed at destroy

  uint32_t seenBell = 0;
  int64_t lastProgressMs = 0;

  // ---- Links ----
  int Rank() const override { return rank; }
  int NRanks() const override { return nranks; }
  size_t ChunkBytes() const override { return opts.chunkBytes; }
  ccResult_t Isend(int peer, int channel, const void* data, size_t bytes, conccl::Request** req) override;
  ccResult_t Irecv(int peer, int channel, void* data, size_t capacity, conccl::Request** req) override;
  ccResult_t Test(conccl::Request* req, bool* done, size_t* bytes) override;
  ccResult_t WaitForProgress() override;
  void Drop(conccl::Request* req) override;
  void Reduce(void* dst, const void* a, const void* b, size_t count, ccDataType_t type, ccRedOp_t op) override;
  void Divide(void* data, size_t count, ccDataType_t type, int divisor) override;

  // Starts a call: resets the no-progress timer.
  void BeginCall();
  // Marks the communicator broken after a communication failure: peers are told by closing links.
  void Fail(ccResult_t code);
  // Shuts down every transport (idempotent; any thread).
  void ShutdownTransports();
};

namespace conccl {

// Checks that comm is a live communicator; fails with ccInvalidArgument (NULL / not a communicator) or
// ccInvalidUsage (destroyed or aborted).
ccResult_t CheckComm(const ccComm* comm);

// Frees the communicator's resources (after waiting for calls in flight to leave) and leaves a tombstone.
ccResult_t DestroyComm(ccComm* comm, bool abort);

}  // namespace conccl
