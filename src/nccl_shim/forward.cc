// forward.cc — CONCCL_NCCL_FORWARD: the real libnccl.so.2 that every uncompressed call goes to.
//
// The library is opened with RTLD_LOCAL | RTLD_DEEPBIND, so that its own nccl* references (ncclCommInitAll
// calls ncclGetUniqueId, for one) bind inside it and not to the shim's exports, and its pnccl* entry
// points (NCCL's strong definitions) are looked up. AddressSanitizer refuses RTLD_DEEPBIND, so under it
// the flag is left out (with a note at INFO).
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

#include "shim.h"

namespace ncclshim {
namespace {

template <typename F>
void Sym(void* handle, const char* name, F* out) {
  std::string strong = std::string("p") + name;
  void* p = dlsym(handle, strong.c_str());
  if (!p) p = dlsym(handle, name);
  *out = reinterpret_cast<F>(p);
}

ncclResult_t Open(const std::string& path, RealNccl* r, std::string* error) {
  r->path = path;
  dlerror();
  int flags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
  if (dlsym(RTLD_DEFAULT, "__asan_init")) {
    flags &= ~RTLD_DEEPBIND;
    Log(kLogInfo, "AddressSanitizer is loaded: opening %s without RTLD_DEEPBIND", path.c_str());
  }
  r->handle = dlopen(path.c_str(), flags);
  if (!r->handle) {
    const char* why = dlerror();
    *error = "CONCCL_NCCL_FORWARD=" + path + ": cannot open it: " + (why ? why : "dlopen failed");
    return ncclSystemError;
  }
#define SHIM_SYM(name) Sym(r->handle, "nccl" #name, &r->name)
  SHIM_SYM(GetVersion); SHIM_SYM(GetUniqueId); SHIM_SYM(CommInitRankConfig); SHIM_SYM(CommInitAll);
  SHIM_SYM(CommFinalize); SHIM_SYM(CommDestroy); SHIM_SYM(CommAbort); SHIM_SYM(CommSplit);
  SHIM_SYM(CommGetAsyncError); SHIM_SYM(CommCount); SHIM_SYM(CommCuDevice); SHIM_SYM(CommUserRank);
  SHIM_SYM(GetErrorString); SHIM_SYM(GetLastError); SHIM_SYM(AllReduce); SHIM_SYM(Broadcast); SHIM_SYM(Reduce);
  SHIM_SYM(AllGather); SHIM_SYM(ReduceScatter); SHIM_SYM(Send); SHIM_SYM(Recv); SHIM_SYM(GroupStart);
  SHIM_SYM(GroupEnd); SHIM_SYM(RedOpCreatePreMulSum); SHIM_SYM(RedOpDestroy); SHIM_SYM(MemAlloc);
  SHIM_SYM(MemFree); SHIM_SYM(CommRegister); SHIM_SYM(CommDeregister);
  SHIM_SYM(AlltoAll); SHIM_SYM(Gather); SHIM_SYM(Scatter); SHIM_SYM(CommWindowRegister);
  SHIM_SYM(CommWindowDeregister);
#undef SHIM_SYM
  const void* required[] = {
      (void*)r->GetVersion, (void*)r->GetUniqueId, (void*)r->CommInitRankConfig, (void*)r->CommInitAll,
      (void*)r->CommFinalize, (void*)r->CommDestroy, (void*)r->CommAbort, (void*)r->CommSplit,
      (void*)r->CommGetAsyncError, (void*)r->CommCount, (void*)r->CommCuDevice, (void*)r->CommUserRank,
      (void*)r->GetErrorString, (void*)r->GetLastError, (void*)r->AllReduce, (void*)r->Broadcast,
      (void*)r->Reduce, (void*)r->AllGather, (void*)r->ReduceScatter, (void*)r->Send, (void*)r->Recv,
      (void*)r->GroupStart, (void*)r->GroupEnd, (void*)r->RedOpCreatePreMulSum, (void*)r->RedOpDestroy,
      (void*)r->MemAlloc, (void*)r->MemFree, (void*)r->CommRegister, (void*)r->CommDeregister};
  for (const void* p : required) {
    if (!p) {
      *error = "CONCCL_NCCL_FORWARD=" + path + ": not an NCCL 2.19+ library (ncclCommInitRankConfig, ncclCommRegister, "
               "... missing)";
      return ncclInvalidArgument;
    }
  }
  // A path that resolves to this very library would forward every call to itself.
  if (reinterpret_cast<void*>(r->GetVersion) == reinterpret_cast<void*>(&pncclGetVersion)) {
    *error = "CONCCL_NCCL_FORWARD=" + path + " is the ConCCL shim itself, not the real NCCL";
    return ncclInvalidArgument;
  }
  int version = 0;
  r->GetVersion(&version);
  Log(kLogInfo, "forwarding uncompressed calls to %s (NCCL version code %d)", path.c_str(), version);
  return ncclSuccess;
}

std::mutex gLoadMu;
RealNccl* gLoaded = nullptr;

}  // namespace

const RealNccl* LoadedRealNccl() {
  std::lock_guard<std::mutex> lock(gLoadMu);
  return gLoaded;
}

ncclResult_t LoadRealNccl(const RealNccl** out) {
  *out = nullptr;
  const char* path = getenv("CONCCL_NCCL_FORWARD");
  if (!path || !*path) return ncclSuccess;
  // Loaded once per process; a failure is remembered and reported again on every init.
  static ncclResult_t loadResult = ncclSuccess;
  static std::string loadError, loadedPath;
  std::lock_guard<std::mutex> lock(gLoadMu);
  RealNccl*& loaded = gLoaded;
  if (loadedPath != path) {
    auto* r = new RealNccl();  // kept for the life of the process: communicators point into it
    loadError.clear();
    loadResult = Open(path, r, &loadError);
    loadedPath = path;
    if (loadResult == ncclSuccess) loaded = r;
    else if (r->handle) dlclose(r->handle), delete r;
    else delete r;
  }
  if (loadResult != ncclSuccess) return Fail(nullptr, loadResult, "%s", loadError.c_str());
  *out = loaded;
  return ncclSuccess;
}

bool IsDevicePointer(const void* ptr) {
  using GetAttr = int (*)(void*, const void*);
  static GetAttr getAttr = reinterpret_cast<GetAttr>(dlsym(RTLD_DEFAULT, "cudaPointerGetAttributes"));
  if (!getAttr || !ptr) return false;
  // struct cudaPointerAttributes { enum cudaMemoryType type; int device; void* devicePointer; void* hostPointer; }
  alignas(16) unsigned char attr[64] = {0};
  if (getAttr(attr, ptr) != 0) return false;
  int type;
  memcpy(&type, attr, sizeof(type));
  return type == 2;  // cudaMemoryTypeDevice
}

void SyncStream(cudaStream_t stream) {
  using StreamSync = int (*)(cudaStream_t);
  static StreamSync sync = reinterpret_cast<StreamSync>(dlsym(RTLD_DEFAULT, "cudaStreamSynchronize"));
  if (sync) sync(stream);
}

}  // namespace ncclshim
