// api_init.cc — versions, errors, unique ids, communicator creation and teardown, queries, memory and
// registration of the NCCL ABI, over conccl.h.
#include <cstdlib>
#include <cstring>
#include <memory>

#include "shim.h"

using namespace ncclshim;

static_assert(sizeof(ncclUniqueId) == sizeof(ccUniqueId), "unique ids are passed through unchanged");
static_assert(sizeof(ncclConfig_t) == 80, "ncclConfig_t layout of nccl.h 2.28");
static_assert(static_cast<int>(ncclFloat16) == static_cast<int>(ccFloat16) &&
                  static_cast<int>(ncclBfloat16) == static_cast<int>(ccBfloat16) &&
                  static_cast<int>(ncclAvg) == static_cast<int>(ccAvg),
              "NCCL and ConCCL share enum values");

namespace {

// The real NCCL's unique id as rank 0 shares it over the ConCCL communicator (with rank 0's result, so
// that a failure there fails every rank instead of leaving them waiting).
struct ForwardIdMsg {
  int32_t status;
  int32_t pad;
  ncclUniqueId id;
};

// The shared part of every init: the policy, the real NCCL, and the config of the ConCCL communicator.
ncclResult_t PrepareInit(const ncclConfig_t* config, CompressPolicy* policy, const RealNccl** real, ccConfig_t* ccfg,
                         const char* fn) {
  std::string error;
  if (ParsePolicy(getenv("CONCCL_NCCL_COMPRESS"), policy, &error) != ncclSuccess)
    return Fail(nullptr, ncclInvalidArgument, "%s: %s", fn, error.c_str());
  ncclResult_t res = LoadRealNccl(real);
  if (res != ncclSuccess) return res;
  return ToCcConfig(config, ccfg, *real != nullptr, fn);
}

void CopyForwardConfig(ncclComm* w, const ncclConfig_t* config) {
  if (!config) return;
  size_t n = config->size < sizeof(ncclConfig_t) ? config->size : sizeof(ncclConfig_t);
  memcpy(&w->fwdConfig, config, n);
  w->fwdConfig.size = n;
  w->hasFwdConfig = true;
}

void LogCreated(ncclComm* w) {
  if (CurrentLevel() < kLogInfo || !w->cc) return;
  int rank = -1, nranks = 0;
  ccCommUserRank(w->cc, &rank);
  ccCommCount(w->cc, &nranks);
  Log(kLogInfo, "comm %p rank %d nranks %d over ConCCL%s; compression %s%s%s", static_cast<void*>(w), rank, nranks,
      w->fwd ? " + the forwarded NCCL" : "", w->policy.enabled ? "\"" : "off (pure drop-in)",
      w->policy.enabled ? w->policy.text.c_str() : "", w->policy.enabled ? "\"" : "");
}

// Releases both halves; returns the first error.
ncclResult_t Teardown(ncclComm* w, bool abort) {
  ncclResult_t res = ncclSuccess;
  w->magic = 0;
  if (w->fwd) {
    ncclResult_t r = abort ? w->real->CommAbort(w->fwd) : w->real->CommDestroy(w->fwd);
    if (r != ncclSuccess && r != ncclInProgress) res = FromReal(r, nullptr, abort ? "ncclCommAbort" : "ncclCommDestroy");
  }
  if (w->cc) {
    ccResult_t r = abort ? ccCommAbort(w->cc) : ccCommDestroy(w->cc);
    if (r != ccSuccess && res == ncclSuccess) res = FromCc(r, nullptr, abort ? "ncclCommAbort" : "ncclCommDestroy");
  }
  delete w;
  return res;
}

}  // namespace

namespace ncclshim {

ncclResult_t InitForwarded(const std::vector<ncclComm*>& comms) {
  size_t n = comms.size();
  std::vector<ForwardIdMsg> msgs(n);
  std::vector<int> ranks(n), sizes(n);
  for (size_t i = 0; i < n; ++i) {
    ncclComm* c = comms[i];
    ccCommUserRank(c->cc, &ranks[i]);
    ccCommCount(c->cc, &sizes[i]);
    memset(&msgs[i], 0, sizeof(ForwardIdMsg));
    if (ranks[i] == 0) msgs[i].status = c->real->GetUniqueId(&msgs[i].id);
  }
  ccGroupStart();
  ccResult_t cr = ccSuccess;
  for (size_t i = 0; i < n && cr == ccSuccess; ++i)
    cr = ccBroadcast(&msgs[i], &msgs[i], sizeof(ForwardIdMsg), ccUint8, 0, comms[i]->cc, nullptr);
  ccResult_t ce = ccGroupEnd();
  if (cr == ccSuccess) cr = ce;
  if (cr != ccSuccess) return FromCc(cr, comms[0], "ncclCommInitRank (sharing the forwarded NCCL's unique id)");
  for (size_t i = 0; i < n; ++i)
    if (msgs[i].status != ncclSuccess)
      return FromReal(static_cast<ncclResult_t>(msgs[i].status), comms[i], "ncclCommInitRank: ncclGetUniqueId on rank 0");
  const RealNccl* real = comms[0]->real;
  if (n > 1) real->GroupStart();
  ncclResult_t res = ncclSuccess;
  for (size_t i = 0; i < n && res == ncclSuccess; ++i) {
    ncclComm* c = comms[i];
    res = real->CommInitRankConfig(&c->fwd, sizes[i], msgs[i].id, ranks[i], c->hasFwdConfig ? &c->fwdConfig : nullptr);
    if (res == ncclInProgress) res = ncclSuccess;  // a non-blocking config: the user polls ncclCommGetAsyncError
  }
  if (n > 1) {
    ncclResult_t r = real->GroupEnd();
    if (res == ncclSuccess && r != ncclInProgress) res = r;
  }
  return FromReal(res, comms[0], "ncclCommInitRank");
}

}  // namespace ncclshim

NCCL_SHIM_API(ncclResult_t, GetVersion, (int* version)) {
  if (!version) return Fail(nullptr, ncclInvalidArgument, "ncclGetVersion: version is NULL");
  *version = NCCL_VERSION_CODE;  // the NCCL ABI this library implements
  return ncclSuccess;
}

NCCL_SHIM_API(const char*, GetErrorString, (ncclResult_t result)) {
  switch (result) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
    case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
    case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "unknown result code";
  }
}

NCCL_SHIM_API(const char*, GetLastError, (ncclComm_t comm)) {
  if (comm && comm->magic == kShimCommMagic) {
    thread_local std::string copy;
    std::lock_guard<std::mutex> lock(comm->errMu);
    copy = comm->lastError;
    return copy.c_str();
  }
  return ThreadLastError();
}

NCCL_SHIM_API(void, ResetDebugInit, (void)) {}

NCCL_SHIM_API(ncclResult_t, GetUniqueId, (ncclUniqueId * uniqueId)) {
  if (!uniqueId) return Fail(nullptr, ncclInvalidArgument, "ncclGetUniqueId: uniqueId is NULL");
  ccUniqueId id;
  ccResult_t r = ccGetUniqueId(&id);
  if (r != ccSuccess) return FromCc(r, nullptr, "ncclGetUniqueId");
  memcpy(uniqueId, &id, sizeof(id));
  return ncclSuccess;
}

NCCL_SHIM_API(ncclResult_t, CommInitRankConfig,
              (ncclComm_t * comm, int nranks, ncclUniqueId commId, int rank, ncclConfig_t* config)) {
  const char* fn = "ncclCommInitRank";
  if (!comm) return Fail(nullptr, ncclInvalidArgument, "%s: comm is NULL", fn);
  *comm = nullptr;
  CompressPolicy policy;
  const RealNccl* real = nullptr;
  ccConfig_t ccfg;
  ncclResult_t res = PrepareInit(config, &policy, &real, &ccfg, fn);
  if (res != ncclSuccess) return res;
  auto w = std::make_unique<ncclComm>();
  w->policy = policy;
  w->real = real;
  if (real) CopyForwardConfig(w.get(), config);
  ccUniqueId id;
  memcpy(&id, &commId, sizeof(id));
  ccResult_t r = ccCommInitRankConfig(&w->cc, nranks, id, rank, &ccfg);
  if (r != ccSuccess) return FromCc(r, nullptr, fn);
  if (GroupDepth() > 0) {  // the ConCCL init runs at ncclGroupEnd; so does the forwarded one
    if (real) AddPendingForwardInit(w.get());
    *comm = w.release();
    return ncclSuccess;
  }
  if (real && (res = InitForwarded({w.get()})) != ncclSuccess) {
    ccCommAbort(w->cc);
    return res;
  }
  LogCreated(w.get());
  *comm = w.release();
  return ncclSuccess;
}

NCCL_SHIM_API(ncclResult_t, CommInitRank, (ncclComm_t * comm, int nranks, ncclUniqueId commId, int rank)) {
  return pncclCommInitRankConfig(comm, nranks, commId, rank, nullptr);
}

NCCL_SHIM_API(ncclResult_t, CommInitRankScalable,
              (ncclComm_t * newcomm, int nranks, int myrank, int nId, ncclUniqueId* commIds, ncclConfig_t* config)) {
  if (!newcomm || !commIds || nId < 1)
    return Fail(nullptr, ncclInvalidArgument, "ncclCommInitRankScalable: newcomm or commIds is NULL, or nId %d < 1", nId);
  if (nId > 1)
    return Fail(nullptr, ncclInvalidUsage,
                "ncclCommInitRankScalable: ConCCL bootstraps from one root; pass nId = 1 (got %d)", nId);
  return pncclCommInitRankConfig(newcomm, nranks, commIds[0], myrank, config);
}

NCCL_SHIM_API(ncclResult_t, CommInitAll, (ncclComm_t * comms, int ndev, const int* devlist)) {
  const char* fn = "ncclCommInitAll";
  if (!comms) return Fail(nullptr, ncclInvalidArgument, "%s: comms is NULL", fn);
  if (ndev < 1) return Fail(nullptr, ncclInvalidArgument, "%s: ndev %d < 1", fn, ndev);
  CompressPolicy policy;
  const RealNccl* real = nullptr;
  ccConfig_t ccfg;
  ncclResult_t res = PrepareInit(nullptr, &policy, &real, &ccfg, fn);
  if (res != ncclSuccess) return res;
  std::vector<ccComm_t> ccs(ndev, nullptr);
  std::vector<ncclComm_t> fwds(ndev, nullptr);
  ccResult_t r = ccCommInitAll(ccs.data(), ndev, devlist);  // devlist is ignored on host
  if (r != ccSuccess) return FromCc(r, nullptr, fn);
  if (real && (res = real->CommInitAll(fwds.data(), ndev, devlist)) != ncclSuccess) {
    for (ccComm_t c : ccs) ccCommAbort(c);
    ncclComm tmp;
    tmp.real = real;
    return FromReal(res, &tmp, fn);
  }
  for (int i = 0; i < ndev; ++i) {
    auto* w = new ncclComm();
    w->cc = ccs[i];
    w->fwd = fwds[i];
    w->real = real;
    w->policy = policy;
    LogCreated(w);
    comms[i] = w;
  }
  return ncclSuccess;
}

NCCL_SHIM_API(ncclResult_t, CommSplit, (ncclComm_t comm, int color, int key, ncclComm_t* newcomm, ncclConfig_t* config)) {
  const char* fn = "ncclCommSplit";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (!newcomm) return Fail(comm, ncclInvalidArgument, "%s: newcomm is NULL", fn);
  *newcomm = nullptr;
  ccConfig_t ccfg;
  if ((res = ToCcConfig(config, &ccfg, comm->real != nullptr, fn)) != ncclSuccess) return res;
  ccComm_t cc = nullptr;
  ccResult_t r = ccCommSplit(comm->cc, color, key, &cc, config ? &ccfg : nullptr);
  if (r != ccSuccess) return FromCc(r, comm, fn);
  ncclComm_t fwd = nullptr;
  if (comm->real && (res = comm->real->CommSplit(comm->fwd, color, key, &fwd, config)) != ncclSuccess) {
    if (cc) ccCommAbort(cc);
    return FromReal(res, comm, fn);
  }
  if (!cc && !fwd) return ncclSuccess;  // NCCL_SPLIT_NOCOLOR
  auto* w = new ncclComm();
  w->cc = cc;
  w->fwd = fwd;
  w->real = comm->real;
  w->policy = comm->policy;  // a child inherits the parent's compression policy
  LogCreated(w);
  *newcomm = w;
  return ncclSuccess;
}

NCCL_SHIM_API(ncclResult_t, CommShrink,
              (ncclComm_t comm, int* /*exclude*/, int /*excludeCount*/, ncclComm_t* newcomm, ncclConfig_t* /*config*/,
               int /*flags*/)) {
  if (newcomm) *newcomm = nullptr;
  return Fail(comm && comm->magic == kShimCommMagic ? comm : nullptr, ncclInvalidUsage,
              "ncclCommShrink is not supported by ConCCL (abort the communicator and create a new one)");
}

NCCL_SHIM_API(ncclResult_t, CommRevoke, (ncclComm_t comm, int /*flags*/)) {
  return Fail(comm && comm->magic == kShimCommMagic ? comm : nullptr, ncclInvalidUsage,
              "ncclCommRevoke is not supported by ConCCL (use ncclCommAbort)");
}

NCCL_SHIM_API(ncclResult_t, CommFinalize, (ncclComm_t comm)) {
  ncclResult_t res = CheckComm(comm, "ncclCommFinalize");
  if (res != ncclSuccess) return res;
  if (comm->fwd && (res = comm->real->CommFinalize(comm->fwd)) != ncclSuccess && res != ncclInProgress)
    return FromReal(res, comm, "ncclCommFinalize");
  ccResult_t r = comm->cc ? ccCommFinalize(comm->cc) : ccSuccess;
  return r != ccSuccess ? FromCc(r, comm, "ncclCommFinalize") : res;
}

NCCL_SHIM_API(ncclResult_t, CommDestroy, (ncclComm_t comm)) {
  if (!comm) return ncclSuccess;  // as NCCL
  if (comm->magic != kShimCommMagic)
    return Fail(nullptr, ncclInvalidArgument, "ncclCommDestroy: comm %p is not a communicator", static_cast<void*>(comm));
  return Teardown(comm, false);
}

NCCL_SHIM_API(ncclResult_t, CommAbort, (ncclComm_t comm)) {
  if (!comm) return ncclSuccess;
  if (comm->magic != kShimCommMagic)
    return Fail(nullptr, ncclInvalidArgument, "ncclCommAbort: comm %p is not a communicator", static_cast<void*>(comm));
  return Teardown(comm, true);
}

NCCL_SHIM_API(ncclResult_t, CommGetAsyncError, (ncclComm_t comm, ncclResult_t* asyncError)) {
  ncclResult_t res = CheckComm(comm, "ncclCommGetAsyncError");
  if (res != ncclSuccess) return res;
  if (!asyncError) return Fail(comm, ncclInvalidArgument, "ncclCommGetAsyncError: asyncError is NULL");
  *asyncError = ncclSuccess;
  ccResult_t ce = ccSuccess;
  if (comm->cc && ccCommGetAsyncError(comm->cc, &ce) == ccSuccess && ce != ccSuccess) {
    *asyncError = ce == ccTimeout ? ncclRemoteError : static_cast<ncclResult_t>(ce);
    return ncclSuccess;
  }
  if (comm->fwd) return FromReal(comm->real->CommGetAsyncError(comm->fwd, asyncError), comm, "ncclCommGetAsyncError");
  return ncclSuccess;
}

NCCL_SHIM_API(ncclResult_t, CommCount, (const ncclComm_t comm, int* count)) {
  ncclResult_t res = CheckComm(comm, "ncclCommCount");
  if (res != ncclSuccess) return res;
  if (!count) return Fail(comm, ncclInvalidArgument, "ncclCommCount: count is NULL");
  if (comm->fwd) return FromReal(comm->real->CommCount(comm->fwd, count), comm, "ncclCommCount");
  return FromCc(ccCommCount(comm->cc, count), comm, "ncclCommCount");
}

NCCL_SHIM_API(ncclResult_t, CommUserRank, (const ncclComm_t comm, int* rank)) {
  ncclResult_t res = CheckComm(comm, "ncclCommUserRank");
  if (res != ncclSuccess) return res;
  if (!rank) return Fail(comm, ncclInvalidArgument, "ncclCommUserRank: rank is NULL");
  if (comm->fwd) return FromReal(comm->real->CommUserRank(comm->fwd, rank), comm, "ncclCommUserRank");
  return FromCc(ccCommUserRank(comm->cc, rank), comm, "ncclCommUserRank");
}

// Without a forwarded NCCL there is no CUDA device behind a communicator: device 0 is reported.
NCCL_SHIM_API(ncclResult_t, CommCuDevice, (const ncclComm_t comm, int* device)) {
  ncclResult_t res = CheckComm(comm, "ncclCommCuDevice");
  if (res != ncclSuccess) return res;
  if (!device) return Fail(comm, ncclInvalidArgument, "ncclCommCuDevice: device is NULL");
  if (comm->fwd) return FromReal(comm->real->CommCuDevice(comm->fwd, device), comm, "ncclCommCuDevice");
  *device = 0;
  return ncclSuccess;
}

// ---- memory and registration ----------------------------------------------------------------------

// Without a forwarded NCCL, memory is host memory (ConCCL runs on host buffers), aligned like a window.
NCCL_SHIM_API(ncclResult_t, MemAlloc, (void** ptr, size_t size)) {
  if (!ptr) return Fail(nullptr, ncclInvalidArgument, "ncclMemAlloc: ptr is NULL");
  *ptr = nullptr;
  const RealNccl* real = nullptr;
  ncclResult_t res = LoadRealNccl(&real);
  if (res != ncclSuccess) return res;
  if (real) return FromReal(real->MemAlloc(ptr, size), nullptr, "ncclMemAlloc");
  if (posix_memalign(ptr, NCCL_WIN_REQUIRED_ALIGNMENT, size ? size : 1) != 0) {
    *ptr = nullptr;
    return Fail(nullptr, ncclSystemError, "ncclMemAlloc: out of host memory (%zu bytes)", size);
  }
  return ncclSuccess;
}

NCCL_SHIM_API(ncclResult_t, MemFree, (void* ptr)) {
  const RealNccl* real = LoadedRealNccl();
  if (real) return FromReal(real->MemFree(ptr), nullptr, "ncclMemFree");
  free(ptr);
  return ncclSuccess;
}

namespace {

constexpr uint32_t kRegMagic = 0x72656731u;  // "reg1"
// Registration only speeds up NCCL's GPU transports; ConCCL needs none, so a handle just records the call.
struct ShimRegistration {
  uint32_t magic;
  ncclComm* comm;
  void* buff;
  size_t size;
};

ncclResult_t NewRegistration(ncclComm* comm, void* buff, size_t size, void** handle, const char* fn) {
  if (!handle) return Fail(comm, ncclInvalidArgument, "%s: handle is NULL", fn);
  if (!buff && size) return Fail(comm, ncclInvalidArgument, "%s: buff is NULL with size %zu", fn, size);
  *handle = new ShimRegistration{kRegMagic, comm, buff, size};
  return ncclSuccess;
}

ncclResult_t DropRegistration(ncclComm* comm, void* handle, const char* fn) {
  auto* reg = static_cast<ShimRegistration*>(handle);
  if (!reg || reg->magic != kRegMagic || reg->comm != comm)
    return Fail(comm, ncclInvalidArgument, "%s: handle %p was not registered with this communicator", fn, handle);
  reg->magic = 0;
  delete reg;
  return ncclSuccess;
}

}  // namespace

NCCL_SHIM_API(ncclResult_t, CommRegister, (const ncclComm_t comm, void* buff, size_t size, void** handle)) {
  ncclResult_t res = CheckComm(comm, "ncclCommRegister");
  if (res != ncclSuccess) return res;
  if (comm->fwd) return FromReal(comm->real->CommRegister(comm->fwd, buff, size, handle), comm, "ncclCommRegister");
  return NewRegistration(comm, buff, size, handle, "ncclCommRegister");
}

NCCL_SHIM_API(ncclResult_t, CommDeregister, (const ncclComm_t comm, void* handle)) {
  ncclResult_t res = CheckComm(comm, "ncclCommDeregister");
  if (res != ncclSuccess) return res;
  if (comm->fwd) return FromReal(comm->real->CommDeregister(comm->fwd, handle), comm, "ncclCommDeregister");
  return DropRegistration(comm, handle, "ncclCommDeregister");
}

NCCL_SHIM_API(ncclResult_t, CommWindowRegister, (ncclComm_t comm, void* buff, size_t size, ncclWindow_t* win, int winFlags)) {
  ncclResult_t res = CheckComm(comm, "ncclCommWindowRegister");
  if (res != ncclSuccess) return res;
  if (comm->fwd) {
    if (!comm->real->CommWindowRegister)
      return Fail(comm, ncclInvalidUsage, "ncclCommWindowRegister: the forwarded NCCL does not have it");
    return FromReal(comm->real->CommWindowRegister(comm->fwd, buff, size, win, winFlags), comm, "ncclCommWindowRegister");
  }
  return NewRegistration(comm, buff, size, reinterpret_cast<void**>(win), "ncclCommWindowRegister");
}

NCCL_SHIM_API(ncclResult_t, CommWindowDeregister, (ncclComm_t comm, ncclWindow_t win)) {
  ncclResult_t res = CheckComm(comm, "ncclCommWindowDeregister");
  if (res != ncclSuccess) return res;
  if (comm->fwd) {
    if (!comm->real->CommWindowDeregister)
      return Fail(comm, ncclInvalidUsage, "ncclCommWindowDeregister: the forwarded NCCL does not have it");
    return FromReal(comm->real->CommWindowDeregister(comm->fwd, win), comm, "ncclCommWindowDeregister");
  }
  return DropRegistration(comm, win, "ncclCommWindowDeregister");
}
