// verbs_real.h — the Verbs implementation on libibverbs (the only file of the plugin that includes
// <infiniband/verbs.h>). Without an RDMA stack or device, ListPorts reports an empty list.
#ifndef CONCCL_PLUGINS_IBVERBS_VERBS_REAL_H_
#define CONCCL_PLUGINS_IBVERBS_VERBS_REAL_H_

#include <memory>

#include "verbs_api.h"

namespace ccib {

std::unique_ptr<Verbs> MakeRealVerbs();

}  // namespace ccib

#endif  // CONCCL_PLUGINS_IBVERBS_VERBS_REAL_H_
