// unique_id.h — the layout of the 128 opaque bytes of a ccUniqueId.
//
// Contract: ccGetUniqueId fills one of these; every rank decodes it with DecodeUniqueId, which rejects
// a wrong magic or address family (ccInvalidArgument). Tests may use this header to find the bootstrap
// root's address (for stray-connection tests); nothing outside src/core writes it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

#include "conccl.h"

namespace conccl {

constexpr uint32_t kUniqueIdMagic = 0x43434c31;  // "CCL1"
constexpr int kSecretBytes = 16;

struct UniqueIdLayout {
  uint32_t magic;                 // kUniqueIdMagic
  uint32_t addrLen;               // bytes of addr in use (sizeof sockaddr_in or sockaddr_in6)
  uint8_t secret[kSecretBytes];   // random 128-bit secret every connection must present
  union {
    sockaddr sa;
    sockaddr_in in4;
    sockaddr_in6 in6;
  } addr;                         // the root's listening address (AF_INET or AF_INET6)
};
static_assert(sizeof(UniqueIdLayout) <= CC_UNIQUE_ID_BYTES, "unique id layout too large");

inline void EncodeUniqueId(const UniqueIdLayout& layout, ccUniqueId* id) {
  std::memset(id->internal, 0, sizeof(id->internal));
  std::memcpy(id->internal, &layout, sizeof(layout));
}

// Returns ccInvalidArgument when the bytes are not a unique id made by this library version.
inline ccResult_t DecodeUniqueId(const ccUniqueId& id, UniqueIdLayout* layout) {
  std::memcpy(layout, id.internal, sizeof(*layout));
  if (layout->magic != kUniqueIdMagic) return ccInvalidArgument;
  int family = layout->addr.sa.sa_family;
  if (family == AF_INET && layout->addrLen == sizeof(sockaddr_in)) return ccSuccess;
  if (family == AF_INET6 && layout->addrLen == sizeof(sockaddr_in6)) return ccSuccess;
  return ccInvalidArgument;
}

}  // namespace conccl
