// shim_common.cc — logging, error recording, type and config translation, and per-thread group state.
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "shim.h"

namespace ncclshim {
namespace {

thread_local std::string tLastError;
thread_local std::vector<bool> tGroupLevels;  // per open ncclGroupStart: did it open a real group too
thread_local std::vector<std::unique_ptr<char[]>> tGroupScratch;
thread_local std::vector<ncclComm*> tPendingInits;

std::string Format(const char* fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof(buf), fmt, ap);
  return buf;
}

void Record(ncclComm* comm, const std::string& msg) {
  tLastError = msg;
  if (comm && comm->magic == kShimCommMagic) {
    std::lock_guard<std::mutex> lock(comm->errMu);
    comm->lastError = msg;
  }
}

}  // namespace

LogLevel CurrentLevel() {
  static const LogLevel level = [] {
    const char* v = getenv("CONCCL_DEBUG");
    if (!v) return kLogNone;
    if (strcasecmp(v, "WARN") == 0) return kLogWarn;
    if (strcasecmp(v, "INFO") == 0) return kLogInfo;
    if (strcasecmp(v, "TRACE") == 0) return kLogTrace;
    return kLogNone;
  }();
  return level;
}

void Log(LogLevel level, const char* fmt, ...) {
  if (CurrentLevel() < level || level == kLogNone) return;
  static const char* kNames[] = {"", "WARN", "INFO", "TRACE"};
  char host[64] = {0};
  gethostname(host, sizeof(host) - 1);
  if (char* dot = strchr(host, '.')) *dot = 0;
  va_list ap;
  va_start(ap, fmt);
  std::string msg = Format(fmt, ap);
  va_end(ap);
  // One fprintf per line, so lines of concurrent threads do not interleave.
  fprintf(stderr, "%s:%d:%ld ConCCL %s nccl-shim: %s\n", host, static_cast<int>(getpid()),
          static_cast<long>(syscall(SYS_gettid)), kNames[level], msg.c_str());
}

ncclResult_t Fail(ncclComm* comm, ncclResult_t res, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string msg = Format(fmt, ap);
  va_end(ap);
  Record(comm, msg);
  Log(kLogWarn, "%s", msg.c_str());
  return res;
}

ncclResult_t FromCc(ccResult_t res, ncclComm* comm, const char* what) {
  if (res == ccSuccess) return ncclSuccess;
  const char* msg = ccGetLastError(nullptr);
  if ((!msg || !*msg) && comm && comm->cc) msg = ccGetLastError(comm->cc);
  if (res == ccTimeout)
    return Fail(comm, ncclRemoteError, "%s: timed out: %s", what, msg ? msg : "");
  ncclResult_t mapped = (res >= ccSuccess && res <= ccInProgress) ? static_cast<ncclResult_t>(res) : ncclInternalError;
  return Fail(comm, mapped, "%s: %s", what, msg && *msg ? msg : ccGetErrorString(res));
}

ncclResult_t FromReal(ncclResult_t res, ncclComm* comm, const char* what) {
  if (res == ncclSuccess || res == ncclInProgress) return res;
  const RealNccl* real = comm ? comm->real : nullptr;
  const char* msg = real && real->GetLastError ? real->GetLastError(comm ? comm->fwd : nullptr) : nullptr;
  const char* str = real && real->GetErrorString ? real->GetErrorString(res) : "error";
  return Fail(comm, res, "%s (forwarded to the real NCCL): %s%s%s", what, str, msg && *msg ? ": " : "",
              msg ? msg : "");
}

const char* ThreadLastError() { return tLastError.c_str(); }

ncclResult_t CheckComm(ncclComm_t comm, const char* fn) {
  if (!comm) return Fail(nullptr, ncclInvalidArgument, "%s: comm is NULL", fn);
  if (comm->magic != kShimCommMagic)
    return Fail(nullptr, ncclInvalidArgument, "%s: comm %p is not a communicator (destroyed or never created)", fn,
                static_cast<void*>(comm));
  if (!comm->cc && !comm->fwd)
    return Fail(comm, ncclInvalidUsage,
                "%s: comm is not initialised yet (an init inside ncclGroupStart completes at ncclGroupEnd)", fn);
  return ncclSuccess;
}

ncclResult_t ToCcType(ncclComm* comm, ncclDataType_t type, ccDataType_t* out, const char* fn) {
  if (type == ncclFloat8e4m3 || type == ncclFloat8e5m2)
    return Fail(comm, ncclInvalidArgument, "%s: fp8 types are not supported (datatype %d)", fn, static_cast<int>(type));
  if (static_cast<int>(type) < 0 || static_cast<int>(type) >= static_cast<int>(ccNumTypes))
    return Fail(comm, ncclInvalidArgument, "%s: invalid datatype %d", fn, static_cast<int>(type));
  *out = static_cast<ccDataType_t>(type);  // NCCL and ConCCL share the values 0..9
  return ncclSuccess;
}

size_t TypeBytes(ncclDataType_t type) {
  switch (type) {
    case ncclInt8: case ncclUint8: case ncclFloat8e4m3: case ncclFloat8e5m2: return 1;
    case ncclFloat16: case ncclBfloat16: return 2;
    case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
    case ncclInt64: case ncclUint64: case ncclFloat64: return 8;
    default: return 0;
  }
}

const char* TypeName(ncclDataType_t type) {
  static const char* kNames[] = {"int8",    "uint8",   "int32",   "uint32",   "int64",    "uint64",
                                 "float16", "float32", "float64", "bfloat16", "fp8e4m3", "fp8e5m2"};
  int t = static_cast<int>(type);
  return t >= 0 && t < 12 ? kNames[t] : "invalid";
}

ncclResult_t ToCcConfig(const ncclConfig_t* in, ccConfig_t* out, bool forwarding, const char* fn) {
  ccConfig_t c = CC_CONFIG_INITIALIZER;
  *out = c;
  if (!in) return ncclSuccess;
  if (in->magic != NCCL_CONFIG_MAGIC)
    return Fail(nullptr, ncclInvalidArgument,
                "%s: config was not initialised with NCCL_CONFIG_INITIALIZER (magic 0x%x, expected 0x%x)", fn,
                in->magic, NCCL_CONFIG_MAGIC);
  auto has = [&](size_t offset, size_t bytes) { return in->size >= offset + bytes; };
  if (!has(offsetof(ncclConfig_t, blocking), sizeof(int)))
    return Fail(nullptr, ncclInvalidArgument, "%s: config size %zu is too small", fn, in->size);
  if (in->blocking != NCCL_CONFIG_UNDEF_INT) {
    if (in->blocking != 0 && in->blocking != 1)
      return Fail(nullptr, ncclInvalidArgument, "%s: config blocking must be 0 or 1, not %d", fn, in->blocking);
    out->blocking = in->blocking;  // host calls always complete before returning, either way
  }
  // The other NCCL fields (CTAs, cgaClusterSize, splitShare, trafficClass, collnet, ...) tune GPU kernels
  // and networks ConCCL does not have; they are accepted and ignored (results do not depend on them).
  if (has(offsetof(ncclConfig_t, netName), sizeof(char*)) && in->netName && !forwarding) {
    const char* n = in->netName;
    if (strcasecmp(n, "socket") == 0 || strcasecmp(n, "tcp") == 0) out->netName = "tcp";
    else if (strcasecmp(n, "shm") == 0) out->netName = "shm";
    else if (strcasecmp(n, "local") == 0) out->netName = "local";
    else
      return Fail(nullptr, ncclInvalidArgument,
                  "%s: config netName '%s' is not a ConCCL transport (Socket/tcp, shm or local)", fn, n);
  }
  if (has(offsetof(ncclConfig_t, commName), sizeof(char*)) && in->commName) out->commName = in->commName;
  return ncclSuccess;
}

int GroupDepth() { return static_cast<int>(tGroupLevels.size()); }
void GroupEnter(bool realStarted) { tGroupLevels.push_back(realStarted); }
bool GroupLeave() {
  if (tGroupLevels.empty()) return false;
  bool real = tGroupLevels.back();
  tGroupLevels.pop_back();
  return real;
}

void* GroupScratch(size_t bytes) {
  tGroupScratch.emplace_back(new (std::nothrow) char[bytes ? bytes : 1]);
  if (!tGroupScratch.back()) {
    tGroupScratch.pop_back();
    return nullptr;
  }
  return tGroupScratch.back().get();
}

void ReleaseGroupScratch() { tGroupScratch.clear(); }

void AddPendingForwardInit(ncclComm* comm) { tPendingInits.push_back(comm); }

std::vector<ncclComm*> TakePendingForwardInits() {
  std::vector<ncclComm*> out;
  out.swap(tPendingInits);
  return out;
}

}  // namespace ncclshim
