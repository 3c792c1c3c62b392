// gid_select.h — which GID of a port a QP uses. On Ethernet (RoCE) the preference is a RoCE v2 GID
// holding an IPv4-mapped address (::ffff:a.b.c.d, routable over UDP/IP), then any other RoCE v2 GID,
// then RoCE v1; link-local and zero GIDs come last. CONCCL_IB_GID_INDEX >= 0 overrides the choice.
// On InfiniBand GID 0 is used (routing is by LID unless CONCCL_IB_GID_INDEX asks for a GRH).
#ifndef CONCCL_PLUGINS_IBVERBS_GID_SELECT_H_
#define CONCCL_PLUGINS_IBVERBS_GID_SELECT_H_

#include <string>

#include "verbs_api.h"

namespace ccib {

// True for ::ffff:a.b.c.d.
bool GidIsIpv4Mapped(const uint8_t raw[16]);

// Chooses the GID index of port into *index and its value into *gid. forcedIndex < 0 = automatic.
// Returns 0, or an errno-style code with *err (forced index out of range, no usable GID on Ethernet).
int SelectGid(Verbs* verbs, const VerbsPort& port, int forcedIndex, int* index, VerbsGid* gid, std::string* err);

}  // namespace ccib

#endif  // CONCCL_PLUGINS_IBVERBS_GID_SELECT_H_
