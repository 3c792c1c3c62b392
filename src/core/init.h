// init.h — communicator creation shared by the ccCommInit* entry points, ccCommSplit and groups.
#pragma once

#include "conccl.h"
#include "core/unique_id.h"

namespace conccl {

// Makes a fresh unique id whose root listens on this host's interface (CONCCL_SOCKET_IFNAME).
ccResult_t MakeUniqueId(ccUniqueId* out);

// Creates rank `rank` of `nranks` for the rendezvous `id` (validated by the caller), with config
// (may be NULL) already checked by ValidateConfig.
ccResult_t InitComm(ccComm_t* out, int nranks, const UniqueIdLayout& id, int rank, const ccConfig_t* config);

// ccInvalidArgument unless config is NULL or was made by CC_CONFIG_INITIALIZER of a compatible header.
ccResult_t ValidateConfig(const ccConfig_t* config);

}  // namespace conccl
