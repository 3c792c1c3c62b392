// net_builtin.cc — pieces the built-in net tables share (see net_builtin.h).
#include "transports/net_builtin.h"

#include <unistd.h>

#include <random>

namespace conccl {

uint64_t NetRandomU64() {
  static thread_local std::mt19937_64 gen(std::random_device{}() ^ (uint64_t(getpid()) << 32));
  return gen();
}

int NetBuiltinInit(ccNetLogger_v1_t) { return ccNetOk; }

int NetBuiltinOneDevice(int* ndev) {
  if (!ndev) return ccNetErrorArgument;
  *ndev = 1;
  return ccNetOk;
}

int NetHostRegMr(void* comm, void* data, size_t, int ptrType, void** mhandle) {
  if (!comm || !mhandle) return ccNetErrorArgument;
  if (ptrType != CC_NET_PTR_HOST) return ccNetErrorUnsupported;
  *mhandle = data ? data : comm;  // host memory needs no registration; the handle only has to be non-NULL
  return ccNetOk;
}

int NetHostDeregMr(void* comm, void*) { return comm ? ccNetOk : ccNetErrorArgument; }

}  // namespace conccl
