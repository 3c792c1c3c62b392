// ib_config.cc — CONCCL_IB_* parsing with range checks.
#include "ib_config.h"

#include <cerrno>
#include <cstdlib>

namespace ccib {

// Reads name into *value when set; false with *err when it is not an integer within [lo, hi].
static bool ReadInt(const char* name, long long lo, long long hi, long long* value, std::string* err) {
  const char* text = getenv(name);
  if (!text || !*text) return true;
  char* end = nullptr;
  errno = 0;
  long long v = strtoll(text, &end, 0);
  if (errno != 0 || *end != 0 || v < lo || v > hi) {
    *err = std::string(name) + "=" + text + " is not an integer in [" + std::to_string(lo) + ", " +
           std::to_string(hi) + "]";
    return false;
  }
  *value = v;
  return true;
}

bool IbConfig::LoadFromEnv(std::string* err) {
  if (const char* hcaEnv = getenv("CONCCL_IB_HCA")) hca = hcaEnv;
  if (const char* ifEnv = getenv("CONCCL_SOCKET_IFNAME")) socketIfname = ifEnv;
  long long gid = gidIndex, to = timeout, retry = retryCnt, chunk = chunkBytes, cache = regCacheBytes,
            connect = connectTimeoutMs;
  if (!ReadInt("CONCCL_IB_GID_INDEX", -1, 1023, &gid, err) || !ReadInt("CONCCL_IB_TIMEOUT", 1, 31, &to, err) ||
      !ReadInt("CONCCL_IB_RETRY_CNT", 0, 7, &retry, err) ||
      !ReadInt("CONCCL_IB_CHUNK_BYTES", 4096, 1ll << 30, &chunk, err) ||
      !ReadInt("CONCCL_IB_REG_CACHE_BYTES", 0, 1ll << 50, &cache, err) ||
      !ReadInt("CONCCL_IB_CONNECT_TIMEOUT_MS", 1, 86400000, &connect, err))
    return false;
  gidIndex = static_cast<int>(gid);
  timeout = static_cast<int>(to);
  retryCnt = static_cast<int>(retry);
  chunkBytes = static_cast<size_t>(chunk);
  regCacheBytes = static_cast<size_t>(cache);
  connectTimeoutMs = static_cast<int>(connect);
  return true;
}

}  // namespace ccib
