// cc_over_nccl.cc — the cc* calls of the perf driver implemented on nccl.h, so the same perf tools run
// over any NCCL: ConCCL's shim (libconccl-nccl.so) here, or a real libnccl, as nccl-tests does. Every
// symbol is hidden: the shim's own calls into libconccl must not bind to these. Compression needs the
// ConCCL API and is refused with ccInvalidUsage; ranks come from -t threads or mpirun (MPI_Bcast).
#include <nccl.h>

#include <cstring>
#include <string>

#include "conccl.h"

#define CC_ADAPTER extern "C" __attribute__((visibility("hidden")))

struct ccComm {
  ncclComm_t nccl;
};

namespace {
thread_local std::string tLastError;

ccResult_t Map(ncclResult_t r) { return static_cast<ccResult_t>(r); }
ccResult_t Unsupported(const char* what) {
  tLastError = std::string(what) + " needs the ConCCL API; this build of the perf tools runs over nccl.h";
  return ccInvalidUsage;
}
cudaStream_t Stream(ccStream_t s) { return reinterpret_cast<cudaStream_t>(s); }
ncclDataType_t T(ccDataType_t t) { return static_cast<ncclDataType_t>(t); }
ncclRedOp_t Op(ccRedOp_t o) { return static_cast<ncclRedOp_t>(o); }
}  // namespace

CC_ADAPTER ccResult_t ccGetVersion(int* v) { return Map(ncclGetVersion(v)); }
CC_ADAPTER const char* ccGetErrorString(ccResult_t r) { return ncclGetErrorString(static_cast<ncclResult_t>(r)); }
CC_ADAPTER const char* ccGetLastError(ccComm_t comm) {
  if (!tLastError.empty()) return tLastError.c_str();
  return ncclGetLastError(comm ? comm->nccl : nullptr);
}
CC_ADAPTER ccResult_t ccGetUniqueId(ccUniqueId* id) {
  static_assert(sizeof(ncclUniqueId) == sizeof(ccUniqueId), "both ids are 128 bytes");
  ncclUniqueId nid;
  ncclResult_t r = ncclGetUniqueId(&nid);
  memcpy(id, &nid, sizeof(nid));
  return Map(r);
}
CC_ADAPTER ccResult_t ccCommInitRank(ccComm_t* comm, int nranks, ccUniqueId id, int rank) {
  ncclUniqueId nid;
  memcpy(&nid, &id, sizeof(nid));
  ncclComm_t c = nullptr;
  ncclResult_t r = ncclCommInitRank(&c, nranks, nid, rank);
  *comm = r == ncclSuccess ? new ccComm{c} : nullptr;
  return Map(r);
}
CC_ADAPTER ccResult_t ccCommInitFromEnv(ccComm_t* comm, ccConfig_t*) {
  *comm = nullptr;
  return Unsupported("ccCommInitFromEnv (conccl-run launch; use -t N or mpirun)");
}
CC_ADAPTER ccResult_t ccCommCount(const ccComm_t comm, int* n) { return Map(ncclCommCount(comm->nccl, n)); }
CC_ADAPTER ccResult_t ccCommUserRank(const ccComm_t comm, int* r) { return Map(ncclCommUserRank(comm->nccl, r)); }
CC_ADAPTER ccResult_t ccCommFinalize(ccComm_t comm) { return Map(ncclCommFinalize(comm->nccl)); }
CC_ADAPTER ccResult_t ccCommDestroy(ccComm_t comm) {
  ncclResult_t r = ncclCommDestroy(comm->nccl);
  delete comm;
  return Map(r);
}
CC_ADAPTER ccResult_t ccCommAbort(ccComm_t comm) {
  if (!comm) return ccSuccess;
  ncclResult_t r = ncclCommAbort(comm->nccl);
  delete comm;
  return Map(r);
}
CC_ADAPTER ccResult_t ccAllReduce(const void* s, void* r, size_t n, ccDataType_t t, ccRedOp_t o, ccComm_t c,
                                  ccStream_t st) {
  return Map(ncclAllReduce(s, r, n, T(t), Op(o), c->nccl, Stream(st)));
}
CC_ADAPTER ccResult_t ccBroadcast(const void* s, void* r, size_t n, ccDataType_t t, int root, ccComm_t c,
                                  ccStream_t st) {
  return Map(ncclBroadcast(s, r, n, T(t), root, c->nccl, Stream(st)));
}
CC_ADAPTER ccResult_t ccReduce(const void* s, void* r, size_t n, ccDataType_t t, ccRedOp_t o, int root, ccComm_t c,
                               ccStream_t st) {
  return Map(ncclReduce(s, r, n, T(t), Op(o), root, c->nccl, Stream(st)));
}
CC_ADAPTER ccResult_t ccAllGather(const void* s, void* r, size_t n, ccDataType_t t, ccComm_t c, ccStream_t st) {
  return Map(ncclAllGather(s, r, n, T(t), c->nccl, Stream(st)));
}
CC_ADAPTER ccResult_t ccReduceScatter(const void* s, void* r, size_t n, ccDataType_t t, ccRedOp_t o, ccComm_t c,
                                      ccStream_t st) {
  return Map(ncclReduceScatter(s, r, n, T(t), Op(o), c->nccl, Stream(st)));
}
CC_ADAPTER ccResult_t ccAlltoAll(const void* s, void* r, size_t n, ccDataType_t t, ccComm_t c, ccStream_t st) {
  return Map(ncclAlltoAll(s, r, n, T(t), c->nccl, Stream(st)));
}
CC_ADAPTER ccResult_t ccSend(const void* s, size_t n, ccDataType_t t, int peer, ccComm_t c, ccStream_t st) {
  return Map(ncclSend(s, n, T(t), peer, c->nccl, Stream(st)));
}
CC_ADAPTER ccResult_t ccRecv(void* r, size_t n, ccDataType_t t, int peer, ccComm_t c, ccStream_t st) {
  return Map(ncclRecv(r, n, T(t), peer, c->nccl, Stream(st)));
}
CC_ADAPTER ccResult_t ccGroupStart(void) { return Map(ncclGroupStart()); }
CC_ADAPTER ccResult_t ccGroupEnd(void) { return Map(ncclGroupEnd()); }
CC_ADAPTER ccResult_t ccCompressConfigInit(ccCompressConfig_t*) { return Unsupported("--codec"); }
CC_ADAPTER ccResult_t ccAllreduceCompressed(const void*, void*, size_t, ccDataType_t, ccRedOp_t,
                                            const ccCompressConfig_t*, ccComm_t, ccStream_t) {
  return Unsupported("ccAllreduceCompressed");
}
CC_ADAPTER ccResult_t ccCommGetCompressStats(ccComm_t, uint64_t, ccCompressStats_t*) {
  return Unsupported("ccCommGetCompressStats");
}
CC_ADAPTER ccResult_t ccCommResetResiduals(ccComm_t) { return Unsupported("ccCommResetResiduals"); }
