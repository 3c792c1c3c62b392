// ib_config.h — the ibverbs plugin's settings, read once by init() from CONCCL_IB_* variables (each one
// is declared, with its default and meaning, in src/common/env.cc so conccl-info lists it). Tests build an
// IbConfig directly.
#ifndef CONCCL_PLUGINS_IBVERBS_IB_CONFIG_H_
#define CONCCL_PLUGINS_IBVERBS_IB_CONFIG_H_

#include <cstddef>
#include <string>

namespace ccib {

struct IbConfig {
  std::string hca;                // CONCCL_IB_HCA: device filter (hca_filter.h)
  int gidIndex = -1;              // CONCCL_IB_GID_INDEX: -1 = automatic (gid_select.h)
  int timeout = 20;               // CONCCL_IB_TIMEOUT: QP ACK timeout exponent, 1..31
  int retryCnt = 7;               // CONCCL_IB_RETRY_CNT: 0..7
  size_t chunkBytes = 8u << 20;   // CONCCL_IB_CHUNK_BYTES: largest RDMA write; bigger messages are split
  size_t regCacheBytes = 0;       // CONCCL_IB_REG_CACHE_BYTES: unheld registrations kept (reg_cache.h)
  int connectTimeoutMs = 30000;   // CONCCL_IB_CONNECT_TIMEOUT_MS: handshake limit for connect/accept
  std::string socketIfname;       // CONCCL_SOCKET_IFNAME: interfaces for the TCP side channel

  // Reads the environment. Returns false with *err for a value that is not a number or is out of range.
  bool LoadFromEnv(std::string* err);
};

}  // namespace ccib

#endif  // CONCCL_PLUGINS_IBVERBS_IB_CONFIG_H_
