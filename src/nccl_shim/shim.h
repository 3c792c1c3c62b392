// shim.h — internals of libconccl-nccl.so, the NCCL 2.28 ABI over ConCCL's public API (conccl.h only).
//
// An ncclComm_t is a struct ncclComm (below) that wraps a ccComm_t, the compression policy read from
// CONCCL_NCCL_COMPRESS, the reduction ops made by ncclRedOpCreatePreMulSum and, with CONCCL_NCCL_FORWARD,
// the communicator of the real NCCL that every uncompressed call goes to.
#ifndef CONCCL_NCCL_SHIM_SHIM_H_
#define CONCCL_NCCL_SHIM_SHIM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "conccl.h"
#include "nccl_types.h"

// NCCL_SHIM_API(ret, Name, (params)) { body } defines the strong pncclName and the weak alias ncclName,
// as NCCL's own NCCL_API macro does, so a profiler can interpose ncclName and call pncclName.
#define NCCL_SHIM_API(ret, name, params)                                                         \
  extern "C" __attribute__((visibility("default"))) ret nccl##name params                        \
      __attribute__((weak, alias("pnccl" #name)));                                               \
  extern "C" __attribute__((visibility("default"))) ret pnccl##name params

namespace ncclshim {

// ---- logging and errors (shim_common.cc) ----------------------------------------------------------
enum LogLevel { kLogNone = 0, kLogWarn = 1, kLogInfo = 2, kLogTrace = 3 };
// The level of CONCCL_DEBUG (WARN, INFO, TRACE), read once.
LogLevel CurrentLevel();
// Writes "host:pid:tid ConCCL <LEVEL> nccl-shim: <message>" to stderr when level is enabled.
void Log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace ncclshim

// ---- the forwarded NCCL (forward.cc) ----------------------------------------------------------------
namespace ncclshim {

// Entry points of the real libnccl.so.2 named by CONCCL_NCCL_FORWARD. The optional ones may be NULL
// (older NCCL); a call that needs a missing one returns ncclInvalidUsage.
struct RealNccl {
  std::string path;
  void* handle = nullptr;
  ncclResult_t (*GetVersion)(int*) = nullptr;
  ncclResult_t (*GetUniqueId)(ncclUniqueId*) = nullptr;
  ncclResult_t (*CommInitRankConfig)(ncclComm_t*, int, ncclUniqueId, int, ncclConfig_t*) = nullptr;
  ncclResult_t (*CommInitAll)(ncclComm_t*, int, const int*) = nullptr;
  ncclResult_t (*CommFinalize)(ncclComm_t) = nullptr;
  ncclResult_t (*CommDestroy)(ncclComm_t) = nullptr;
  ncclResult_t (*CommAbort)(ncclComm_t) = nullptr;
  ncclResult_t (*CommSplit)(ncclComm_t, int, int, ncclComm_t*, ncclConfig_t*) = nullptr;
  ncclResult_t (*CommGetAsyncError)(ncclComm_t, ncclResult_t*) = nullptr;
  ncclResult_t (*CommCount)(const ncclComm_t, int*) = nullptr;
  ncclResult_t (*CommCuDevice)(const ncclComm_t, int*) = nullptr;
  ncclResult_t (*CommUserRank)(const ncclComm_t, int*) = nullptr;
  const char* (*GetErrorString)(ncclResult_t) = nullptr;
  const char* (*GetLastError)(ncclComm_t) = nullptr;
  ncclResult_t (*AllReduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Broadcast)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Reduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*AllGather)(const void*, void*, size_t, ncclDataType_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*ReduceScatter)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Send)(const void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Recv)(void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*GroupStart)() = nullptr;
  ncclResult_t (*GroupEnd)() = nullptr;
  ncclResult_t (*RedOpCreatePreMulSum)(ncclRedOp_t*, void*, ncclDataType_t, ncclScalarResidence_t, ncclComm_t) = nullptr;
  ncclResult_t (*RedOpDestroy)(ncclRedOp_t, ncclComm_t) = nullptr;
  ncclResult_t (*MemAlloc)(void**, size_t) = nullptr;
  ncclResult_t (*MemFree)(void*) = nullptr;
  ncclResult_t (*CommRegister)(const ncclComm_t, void*, size_t, void**) = nullptr;
  ncclResult_t (*CommDeregister)(const ncclComm_t, void*) = nullptr;
  // optional
  ncclResult_t (*AlltoAll)(const void*, void*, size_t, ncclDataType_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Gather)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Scatter)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*CommWindowRegister)(ncclComm_t, void*, size_t, ncclWindow_t*, int) = nullptr;
  ncclResult_t (*CommWindowDeregister)(ncclComm_t, ncclWindow_t) = nullptr;
};

// The real NCCL when CONCCL_NCCL_FORWARD is set (loaded once per process), else *out = NULL. A path that
// cannot be opened, or a library without the required entry points, is an error with a message.
ncclResult_t LoadRealNccl(const RealNccl** out);
// The real NCCL if an earlier LoadRealNccl loaded it, else NULL (never loads, never fails).
const RealNccl* LoadedRealNccl();

// Whether ptr is CUDA device memory, asked of the CUDA runtime the application loaded (false when none
// is loaded or it does not know the pointer).
bool IsDevicePointer(const void* ptr);
// Waits for stream through the application's CUDA runtime (no-op without one).
void SyncStream(cudaStream_t stream);

}  // namespace ncclshim

// ---- the compression policy (policy.cc) --------------------------------------------------------------
namespace ncclshim {

// CONCCL_NCCL_COMPRESS parsed: which ncclAllReduce calls become ccAllreduceCompressed, and how.
struct CompressPolicy {
  bool enabled = false;       // false: a pure drop-in (no compression)
  ccCompressConfig_t config;  // codec settings; key is set per call
  size_t minBytes = 1 << 20;  // smaller calls stay exact
  std::string text;           // the policy string, for log lines
};

// Parses text (NULL or "" = disabled). On a malformed string returns ncclInvalidArgument with *error
// naming the bad token.
ncclResult_t ParsePolicy(const char* text, CompressPolicy* out, std::string* error);
const char* CodecName(ccCodec_t codec);
const char* FeedbackName(ccFeedback_t feedback);

}  // namespace ncclshim

// ---- the communicator --------------------------------------------------------------------------------
constexpr uint32_t kShimCommMagic = 0x6e63636cu;  // "nccl"

// A reduction op made by ncclRedOpCreatePreMulSum: sum after scaling each input by scalar.
struct ShimPreMulSum {
  bool live = false;
  ncclDataType_t type = ncclFloat32;
  unsigned char scalar[8] = {0};  // one element of type
};

struct ncclComm {
  uint32_t magic = kShimCommMagic;
  ccComm_t cc = nullptr;                       // set at init (or at ncclGroupEnd for a grouped init)
  ncclComm_t fwd = nullptr;                    // the real NCCL communicator (forwarding only)
  const ncclshim::RealNccl* real = nullptr;    // non-NULL when forwarding
  ncclshim::CompressPolicy policy;
  // Residual keys: (recvbuff, count) -> a key equal on every rank (the n-th distinct buffer of this
  // communicator), because the library checks explicit keys across ranks and seeds randomness with them.
  std::map<std::pair<uintptr_t, size_t>, uint64_t> keys;
  std::vector<ShimPreMulSum> ops;              // op value ncclNumOps + i
  bool loggedGroupExact = false;               // INFO lines printed once per communicator
  bool loggedDeviceExact = false;
  bool hasFwdConfig = false;                   // forwarding: the user's config, copied for the real init
  ncclConfig_t fwdConfig{};
  std::mutex errMu;
  std::string lastError;
};

namespace ncclshim {

// Records message as the last error of the calling thread (and of comm when not NULL), logs it at WARN
// and returns res.
ncclResult_t Fail(ncclComm* comm, ncclResult_t res, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
// Maps a ConCCL result to NCCL's; on error records "<what>: <ConCCL's message>" (ccTimeout becomes
// ncclRemoteError, whose message says it timed out).
ncclResult_t FromCc(ccResult_t res, ncclComm* comm, const char* what);
// Same for a result of the forwarded NCCL: on error records "<what> (forwarded to the real NCCL): <its
// error string>: <its last error>" (ncclInProgress passes through as it is not an error).
ncclResult_t FromReal(ncclResult_t res, ncclComm* comm, const char* what);
// Thread's last error message.
const char* ThreadLastError();

// Checks that comm is a live shim communicator whose init has completed.
ncclResult_t CheckComm(ncclComm_t comm, const char* fn);
// NCCL datatype -> ConCCL datatype (fp8 and out-of-range values are ncclInvalidArgument).
ncclResult_t ToCcType(ncclComm* comm, ncclDataType_t type, ccDataType_t* out, const char* fn);
size_t TypeBytes(ncclDataType_t type);
const char* TypeName(ncclDataType_t type);
// ncclConfig_t -> ccConfig_t (blocking, netName, commName); a bad magic is ncclInvalidArgument. When
// forwarding, netName names a network of the real NCCL and is not applied to the ConCCL communicator.
ncclResult_t ToCcConfig(const ncclConfig_t* in, ccConfig_t* out, bool forwarding, const char* fn);

// Shim-side group depth of the calling thread, and scratch memory that must live until its outermost
// ncclGroupEnd (the prescaled inputs of PreMulSum calls recorded in a group).
// GroupEnter records whether that level also opened a group of the real NCCL; GroupLeave returns it.
int GroupDepth();
void GroupEnter(bool realStarted);
bool GroupLeave();
void* GroupScratch(size_t bytes);  // NULL when out of memory; freed by ReleaseGroupScratch
void ReleaseGroupScratch();
// Comms whose grouped forwarding init finishes at the outermost ncclGroupEnd.
void AddPendingForwardInit(ncclComm* comm);
std::vector<ncclComm*> TakePendingForwardInits();

// For an op made by ncclRedOpCreatePreMulSum: scales count elements of in by the op's scalar into scratch
// (*owned outside a group, group scratch inside one) and points *out at it.
ncclResult_t PreScale(ncclComm* comm, ncclRedOp_t op, ncclDataType_t type, const void* in, size_t count,
                      const void** out, std::unique_ptr<char[]>* owned, const char* fn);

// Creates the real NCCL communicator(s) alongside comms whose ConCCL communicators exist: rank 0 of each
// makes an id with the real ncclGetUniqueId, ccBroadcast shares it, then the real ncclCommInitRankConfig
// runs (in one real group when there are several).
ncclResult_t InitForwarded(const std::vector<ncclComm*>& comms);

}  // namespace ncclshim

#endif  // CONCCL_NCCL_SHIM_SHIM_H_
