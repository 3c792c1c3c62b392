// conn_info.h — the bytes the ibverbs plugin exchanges before any RDMA happens.
//   ListenHandle: what listen() writes into the ccNet handle: where the receiver's TCP side channel listens
//                 and a random nonce that a connecting sender must echo.
//   ConnInfo:     what each side sends over the side channel: its QP number, first PSN, LID, GID, MTU,
//                 link layer, and (from the sender) the address and rkey of its credit FIFO, which the
//                 receiver writes buffer credits into.
// Encodings are fixed-size little-endian; Decode* checks every field against its bound and returns false
// with a message for truncated or invalid bytes. Nothing read from the wire is used before it is checked.
#ifndef CONCCL_PLUGINS_IBVERBS_CONN_INFO_H_
#define CONCCL_PLUGINS_IBVERBS_CONN_INFO_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace ccib {

constexpr size_t kListenHandleBytes = 36;
constexpr size_t kConnInfoBytes = 72;
constexpr uint32_t kCreditSlots = 64;  // credit FIFO depth = most receives a connection has outstanding
constexpr uint8_t kReadyByte = 0x5a;   // the sender's last handshake byte: its QP is ready to be written to

struct ListenHandle {
  sockaddr_storage addr{};  // AF_INET or AF_INET6, with port
  uint64_t nonce = 0;
};

enum class ConnRole : uint8_t { kSender = 1, kReceiver = 2 };

struct ConnInfo {
  ConnRole role = ConnRole::kSender;
  uint64_t nonce = 0;      // the listener's nonce, echoed by both sides
  uint32_t qpn = 0;        // 24 bits, nonzero
  uint32_t psn = 0;        // 24 bits
  uint16_t lid = 0;
  uint8_t mtu = 3;         // ibv_mtu enum 1..5
  uint8_t ethernet = 0;    // link layer; both sides must agree
  uint8_t gid[16] = {};
  uint64_t fifoAddr = 0;   // sender only: its credit FIFO (kCreditSlots CreditSlot entries)
  uint32_t fifoRkey = 0;   // sender only
  uint32_t slots = kCreditSlots;
};

// One credit: a receive buffer the sender may write one message into; seq = message index + 1. A slot is
// written by one RDMA write and is 32 bytes, so (the FIFO being page-aligned) it never straddles a cache
// line and the sender does not see seq before the rest of the slot.
struct CreditSlot {
  uint64_t addr;
  uint64_t size;
  uint32_t rkey;
  uint32_t seq;
  uint64_t reserved;
};
static_assert(sizeof(CreditSlot) == 32, "CreditSlot layout is part of the wire format");

void EncodeListenHandle(const ListenHandle& h, uint8_t out[kListenHandleBytes]);
bool DecodeListenHandle(const void* in, ListenHandle* h, std::string* err);

void EncodeConnInfo(const ConnInfo& c, uint8_t out[kConnInfoBytes]);
// Decodes and validates bytes received from a peer that should be in role `expected` and echo `nonce`.
bool DecodeConnInfo(const uint8_t in[kConnInfoBytes], ConnRole expected, uint64_t nonce, ConnInfo* c,
                    std::string* err);

}  // namespace ccib

#endif  // CONCCL_PLUGINS_IBVERBS_CONN_INFO_H_
