// init_env.cc — see init_env.h.
#include "core/init_env.h"

#include <cstdlib>
#include <cstring>

#include "common/env.h"
#include "common/result.h"
#include "common/socket.h"
#include "core/bootstrap.h"

namespace conccl {
namespace {

bool ParseInt(const char* text, int* out) {
  if (!text || !*text) return false;
  char* end = nullptr;
  long v = strtol(text, &end, 10);
  if (*end != 0 || v < 0 || v > (1 << 24)) return false;
  *out = static_cast<int>(v);
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

ccResult_t ReadLaunchEnv(LaunchEnv* env) {
  static const char* kPairs[][2] = {{"CONCCL_RANK", "CONCCL_NRANKS"},
                                    {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                    {"PMI_RANK", "PMI_SIZE"},
                                    {"SLURM_PROCID", "SLURM_NTASKS"},
                                    {"RANK", "WORLD_SIZE"}};
  for (auto& p : kPairs) {
    const char* r = getenv(p[0]);
    const char* n = getenv(p[1]);
    if (!r && !n) continue;
    if (!ParseInt(r, &env->rank) || !ParseInt(n, &env->nranks) || env->nranks < 1 || env->rank >= env->nranks)
      return SetError(ccInvalidArgument, "ccCommInitFromEnv: %s=%s and %s=%s are not a valid rank and size", p[0],
                      r ? r : "(unset)", p[1], n ? n : "(unset)");
    env->source = std::string(p[0]) + "/" + p[1];
    break;
  }
  if (env->nranks < 1)
    return SetError(ccInvalidUsage,
                    "ccCommInitFromEnv: no rank/size in the environment (CONCCL_RANK/CONCCL_NRANKS, OMPI_COMM_WORLD_*, "
                    "PMI_*, SLURM_PROCID/SLURM_NTASKS or RANK/WORLD_SIZE)");
  env->root = EnvString("CONCCL_ROOT");
  if (env->root.empty()) {
    const char* addr = getenv("MASTER_ADDR");
    int port = 0;
    if (addr && ParseInt(getenv("MASTER_PORT"), &port) && port > 0 && port < 65535) {
      bool v6 = strchr(addr, ':') != nullptr;
      env->root = (v6 ? "[" + std::string(addr) + "]" : std::string(addr)) + ":" + std::to_string(port + 1);
    }
  }
  if (env->root.empty())
    return SetError(ccInvalidUsage,
                    "ccCommInitFromEnv: no rendezvous address: set CONCCL_ROOT=host:port (or MASTER_ADDR and MASTER_PORT)");
  return ccSuccess;
}

ccResult_t MakeEnvUniqueId(const LaunchEnv& env, UniqueIdLayout* id) {
  SockAddr addr;
  CC_CHECK(ParseHostPort(env.root, &addr));
  id->magic = kUniqueIdMagic;
  std::string secret = EnvString("CONCCL_SECRET");
  if (!secret.empty()) {
    if (secret.size() != 2 * kSecretBytes)
      return SetError(ccInvalidArgument, "CONCCL_SECRET must be %d hex digits", 2 * kSecretBytes);
    for (int i = 0; i < kSecretBytes; ++i) {
      int hi = HexDigit(secret[2 * i]), lo = HexDigit(secret[2 * i + 1]);
      if (hi < 0 || lo < 0) return SetError(ccInvalidArgument, "CONCCL_SECRET must be %d hex digits", 2 * kSecretBytes);
      id->secret[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
  } else {
    std::string seed = "conccl|" + env.root + "|" + std::to_string(env.nranks);
    uint64_t h1 = 1469598103934665603ull, h2 = 0x9e3779b97f4a7c15ull;
    for (char c : seed) {
      h1 = (h1 ^ static_cast<uint8_t>(c)) * 1099511628211ull;
      h2 = (h2 ^ static_cast<uint8_t>(c)) * 0x100000001b3ull + 0x7f4a7c15;
    }
    memcpy(id->secret, &h1, 8);
    memcpy(id->secret + 8, &h2, 8);
  }
  if (env.rank == 0) CC_CHECK(StartBootstrapRoot(&addr, id->secret));
  memcpy(&id->addr, &addr.storage, addr.len);
  id->addrLen = addr.len;
  return ccSuccess;
}

}  // namespace conccl
