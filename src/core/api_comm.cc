// api_comm.cc — communicator entry points of conccl.h: versions, errors, ids, init, split, destroy.
#include <cstring>
#include <thread>
#include <vector>

#include "algorithms/primitives.h"
#include "algorithms/schedules.h"
#include "common/env.h"
#include "common/result.h"
#include "common/socket.h"
#include "core/call.h"
#include "core/comm.h"
#include "core/group.h"
#include "core/init.h"
#include "core/init_env.h"

#define CC_API extern "C" __attribute__((visibility("default")))

using namespace conccl;

CC_API ccResult_t ccGetVersion(int* version) {
  if (!version) return SetError(ccInvalidArgument, "ccGetVersion: version is NULL");
  *version = CC_VERSION_CODE;
  return ccSuccess;
}

CC_API const char* ccGetErrorString(ccResult_t result) {
  switch (result) {
    case ccSuccess: return "no error";
    case ccUnhandledCudaError: return "unhandled cuda error (run with CONCCL_DEBUG=INFO for details)";
    case ccSystemError: return "unhandled system error (run with CONCCL_DEBUG=INFO for details)";
    case ccInternalError: return "internal error - please report this issue to the ConCCL developers";
    case ccInvalidArgument: return "invalid argument (run with CONCCL_DEBUG=WARN for details)";
    case ccInvalidUsage: return "invalid usage (run with CONCCL_DEBUG=WARN for details)";
    case ccRemoteError: return "remote process exited or there was a network error";
    case ccInProgress: return "ConCCL operation in progress";
    case ccTimeout: return "operation timed out (CONCCL_TIMEOUT_MS)";
    default: return "unknown result code";
  }
}

CC_API const char* ccGetLastError(ccComm_t comm) {
  if (comm && comm->magic.load() == kCommMagic) {
    std::lock_guard<std::mutex> lock(comm->errMu);
    thread_local std::string copy;
    copy = comm->lastError;
    return copy.c_str();
  }
  return ThreadLastError().c_str();
}

CC_API ccResult_t ccGetUniqueId(ccUniqueId* uniqueId) {
  if (!uniqueId) return SetError(ccInvalidArgument, "ccGetUniqueId: uniqueId is NULL");
  return MakeUniqueId(uniqueId);
}

static ccResult_t InitChecked(ccComm_t* comm, int nranks, const ccUniqueId& commId, int rank, const ccConfig_t* cfg) {
  UniqueIdLayout id;
  if (DecodeUniqueId(commId, &id) != ccSuccess)
    return SetError(ccInvalidArgument, "the unique id was not made by ccGetUniqueId (bad magic or address)");
  return InitComm(comm, nranks, id, rank, cfg);
}

CC_API ccResult_t ccCommInitRankConfig(ccComm_t* comm, int nranks, ccUniqueId commId, int rank, ccConfig_t* config) {
  if (!comm) return SetError(ccInvalidArgument, "ccCommInitRank: comm is NULL");
  *comm = nullptr;
  if (nranks < 1) return SetError(ccInvalidArgument, "ccCommInitRank: nranks %d < 1", nranks);
  if (rank < 0 || rank >= nranks)
    return SetError(ccInvalidArgument, "ccCommInitRank: rank %d out of range [0, %d)", rank, nranks);
  CC_CHECK(ValidateConfig(config));
  if (InGroup()) {
    ccConfig_t copy = config ? *config : ccConfig_t CC_CONFIG_INITIALIZER;
    GroupAddCall(nullptr, [=] { return InitChecked(comm, nranks, commId, rank, &copy); });
    return ccSuccess;
  }
  return InitChecked(comm, nranks, commId, rank, config);
}

CC_API ccResult_t ccCommInitRank(ccComm_t* comm, int nranks, ccUniqueId commId, int rank) {
  return ccCommInitRankConfig(comm, nranks, commId, rank, nullptr);
}

CC_API ccResult_t ccCommInitAll(ccComm_t* comms, int ndev, const int* /*devlist*/) {
  if (!comms) return SetError(ccInvalidArgument, "ccCommInitAll: comms is NULL");
  if (ndev < 1) return SetError(ccInvalidArgument, "ccCommInitAll: ndev %d < 1", ndev);
  ccUniqueId id;
  CC_CHECK(MakeUniqueId(&id));
  std::vector<ccResult_t> res(ndev, ccSuccess);
  std::vector<std::string> msg(ndev);
  std::vector<std::thread> threads;
  for (int r = 0; r < ndev; ++r) {
    comms[r] = nullptr;
    threads.emplace_back([&, r] {
      res[r] = InitChecked(&comms[r], ndev, id, r, nullptr);
      if (res[r] != ccSuccess) msg[r] = ThreadLastError();
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < ndev; ++r) {
    if (res[r] == ccSuccess) continue;
    for (int k = 0; k < ndev; ++k)
      if (comms[k]) DestroyComm(comms[k], true), comms[k] = nullptr;
    return SetError(res[r], "ccCommInitAll: rank %d: %s", r, msg[r].c_str());
  }
  return ccSuccess;
}

CC_API ccResult_t ccCommInitFromEnv(ccComm_t* comm, ccConfig_t* config) {
  if (!comm) return SetError(ccInvalidArgument, "ccCommInitFromEnv: comm is NULL");
  *comm = nullptr;
  CC_CHECK(ValidateConfig(config));
  LaunchEnv env;
  CC_CHECK(ReadLaunchEnv(&env));
  UniqueIdLayout id{};
  CC_CHECK(MakeEnvUniqueId(env, &id));
  return InitComm(comm, env.nranks, id, env.rank, config);
}

CC_API ccResult_t ccCommFinalize(ccComm_t comm) {
  CC_CHECK(CheckComm(comm));
  return Finish(comm, static_cast<ccResult_t>(comm->asyncError.load()));
}

CC_API ccResult_t ccCommDestroy(ccComm_t comm) {
  CC_CHECK(CheckComm(comm));
  return DestroyComm(comm, false);
}

CC_API ccResult_t ccCommAbort(ccComm_t comm) {
  if (!comm) return ccSuccess;  // as NCCL: aborting NULL is a no-op
  CC_CHECK(CheckComm(comm));
  return DestroyComm(comm, true);
}

CC_API ccResult_t ccCommCount(const ccComm_t comm, int* count) {
  CC_CHECK(CheckComm(comm));
  if (!count) return SetError(ccInvalidArgument, "ccCommCount: count is NULL");
  *count = comm->nranks;
  return ccSuccess;
}

CC_API ccResult_t ccCommUserRank(const ccComm_t comm, int* rank) {
  CC_CHECK(CheckComm(comm));
  if (!rank) return SetError(ccInvalidArgument, "ccCommUserRank: rank is NULL");
  *rank = comm->rank;
  return ccSuccess;
}

CC_API ccResult_t ccCommGetAsyncError(ccComm_t comm, ccResult_t* asyncError) {
  CC_CHECK(CheckComm(comm));
  if (!asyncError) return SetError(ccInvalidArgument, "ccCommGetAsyncError: asyncError is NULL");
  *asyncError = static_cast<ccResult_t>(comm->asyncError.load());
  // A non-blocking communicator reports its queued stream work as in progress, as NCCL does.
  if (*asyncError == ccSuccess && !comm->opts.blocking && comm->executor && comm->executor->Busy())
    *asyncError = ccInProgress;
  return ccSuccess;
}

namespace {

struct SplitEntry {
  int32_t color, key;
};

// Every rank learns all (color, key) pairs; each group's first member by (key, rank) makes the new id
// and all ranks share the ids by a second all-gather.
ccResult_t SplitBody(ccComm* comm, int color, int key, ccComm_t* newcomm, const ccConfig_t* config) {
  int n = comm->nranks;
  OpHeader h{};
  h.coll = static_cast<uint32_t>(CollType::kSplit);
  h.seq = comm->opSeq++;
  CC_CHECK(CheckOpHeader(*comm, h));
  std::vector<SplitEntry> all(n);
  SplitEntry mine{color, key};
  CC_CHECK(RingAllGather(*comm, &mine, all.data(), sizeof(SplitEntry)));
  std::vector<int> members;
  for (int r = 0; r < n; ++r)
    if (color != CC_SPLIT_NOCOLOR && all[r].color == color) members.push_back(r);
  std::stable_sort(members.begin(), members.end(), [&](int a, int b) { return all[a].key < all[b].key; });
  ccUniqueId myId{};
  if (!members.empty() && members[0] == comm->rank) CC_CHECK(MakeUniqueId(&myId));
  std::vector<ccUniqueId> ids(n);
  CC_CHECK(RingAllGather(*comm, &myId, ids.data(), sizeof(ccUniqueId)));
  if (color == CC_SPLIT_NOCOLOR) return ccSuccess;
  int newRank = static_cast<int>(std::find(members.begin(), members.end(), comm->rank) - members.begin());
  ccConfig_t cfg = config ? *config : ccConfig_t CC_CONFIG_INITIALIZER;
  if (!config && !comm->opts.netName.empty()) cfg.netName = comm->opts.netName.c_str();
  if (!config) cfg.timeoutMs = static_cast<int>(comm->opts.timeoutMs);
  UniqueIdLayout id;
  CC_CHECK(DecodeUniqueId(ids[members[0]], &id));
  return InitComm(newcomm, static_cast<int>(members.size()), id, newRank, &cfg);
}

}  // namespace

CC_API ccResult_t ccCommSplit(ccComm_t comm, int color, int key, ccComm_t* newcomm, ccConfig_t* config) {
  CC_CHECK(CheckComm(comm));
  if (!newcomm) return Finish(comm, SetError(ccInvalidArgument, "ccCommSplit: newcomm is NULL"));
  if (color < 0 && color != CC_SPLIT_NOCOLOR)
    return Finish(comm, SetError(ccInvalidArgument, "ccCommSplit: color %d must be >= 0 or CC_SPLIT_NOCOLOR", color));
  CC_CHECK(Finish(comm, ValidateConfig(config)));
  *newcomm = nullptr;
  return Finish(comm, RunCall(comm, [&] { return SplitBody(comm, color, key, newcomm, config); }));
}
