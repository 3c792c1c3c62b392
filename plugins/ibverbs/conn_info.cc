// conn_info.cc — fixed-size little-endian encodings of the listen handle and the connection info.
#include "conn_info.h"

#include <cstring>

namespace ccib {
namespace {

constexpr uint32_t kHandleMagic = 0x42494343;  // "CCIB"
constexpr uint32_t kInfoMagic = 0x4f464e49;    // "INFO"
constexpr uint16_t kVersion = 1;

class Writer {
 public:
  explicit Writer(uint8_t* p) : p_(p) {}
  void U(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) *p_++ = static_cast<uint8_t>(v >> (8 * i));
  }
  void Raw(const void* src, size_t n) {
    memcpy(p_, src, n);
    p_ += n;
  }

 private:
  uint8_t* p_;
};

class Reader {
 public:
  explicit Reader(const uint8_t* p) : p_(p) {}
  uint64_t U(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(*p_++) << (8 * i);
    return v;
  }
  void Raw(void* dst, size_t n) {
    memcpy(dst, p_, n);
    p_ += n;
  }

 private:
  const uint8_t* p_;
};

}  // namespace

void EncodeListenHandle(const ListenHandle& h, uint8_t out[kListenHandleBytes]) {
  memset(out, 0, kListenHandleBytes);
  Writer w(out);
  w.U(kHandleMagic, 4);
  w.U(kVersion, 2);
  w.U(h.addr.ss_family, 2);
  uint8_t ip[16] = {};
  uint16_t port = 0;  // network order, kept as bytes
  if (h.addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&h.addr);
    memcpy(ip, &a->sin_addr, 4);
    port = a->sin_port;
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&h.addr);
    memcpy(ip, &a->sin6_addr, 16);
    port = a->sin6_port;
  }
  w.Raw(&port, 2);
  w.Raw(ip, 16);
  w.U(h.nonce, 8);
}

bool DecodeListenHandle(const void* in, ListenHandle* h, std::string* err) {
  Reader r(static_cast<const uint8_t*>(in));
  uint32_t magic = static_cast<uint32_t>(r.U(4));
  uint16_t version = static_cast<uint16_t>(r.U(2));
  uint16_t family = static_cast<uint16_t>(r.U(2));
  uint16_t port;
  uint8_t ip[16];
  r.Raw(&port, 2);
  r.Raw(ip, 16);
  h->nonce = r.U(8);
  if (magic != kHandleMagic || version != kVersion) {
    *err = "not an ib listen handle (bad magic or version)";
    return false;
  }
  if ((family != AF_INET && family != AF_INET6) || port == 0) {
    *err = "ib listen handle has an invalid address";
    return false;
  }
  h->addr = sockaddr_storage{};
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&h->addr);
    a->sin_family = AF_INET;
    a->sin_port = port;
    memcpy(&a->sin_addr, ip, 4);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&h->addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = port;
    memcpy(&a->sin6_addr, ip, 16);
  }
  return true;
}

void EncodeConnInfo(const ConnInfo& c, uint8_t out[kConnInfoBytes]) {
  memset(out, 0, kConnInfoBytes);
  Writer w(out);
  w.U(kInfoMagic, 4);
  w.U(kVersion, 2);
  w.U(static_cast<uint8_t>(c.role), 1);
  w.U(c.ethernet, 1);
  w.U(c.nonce, 8);
  w.U(c.qpn, 4);
  w.U(c.psn, 4);
  w.U(c.lid, 2);
  w.U(c.mtu, 1);
  w.U(0, 1);
  w.Raw(c.gid, 16);
  w.U(c.fifoAddr, 8);
  w.U(c.fifoRkey, 4);
  w.U(c.slots, 4);
}

bool DecodeConnInfo(const uint8_t in[kConnInfoBytes], ConnRole expected, uint64_t nonce, ConnInfo* c,
                    std::string* err) {
  Reader r(in);
  uint32_t magic = static_cast<uint32_t>(r.U(4));
  uint16_t version = static_cast<uint16_t>(r.U(2));
  uint8_t role = static_cast<uint8_t>(r.U(1));
  c->ethernet = static_cast<uint8_t>(r.U(1));
  c->nonce = r.U(8);
  c->qpn = static_cast<uint32_t>(r.U(4));
  c->psn = static_cast<uint32_t>(r.U(4));
  c->lid = static_cast<uint16_t>(r.U(2));
  c->mtu = static_cast<uint8_t>(r.U(1));
  r.U(1);
  r.Raw(c->gid, 16);
  c->fifoAddr = r.U(8);
  c->fifoRkey = static_cast<uint32_t>(r.U(4));
  c->slots = static_cast<uint32_t>(r.U(4));
  c->role = static_cast<ConnRole>(role);
  const char* bad = nullptr;
  if (magic != kInfoMagic || version != kVersion) bad = "bad magic or version";
  else if (role != static_cast<uint8_t>(expected)) bad = "unexpected role";
  else if (c->nonce != nonce) bad = "nonce does not match the listen handle";
  else if (c->qpn == 0 || c->qpn >= (1u << 24) || c->psn >= (1u << 24)) bad = "QP number or PSN out of range";
  else if (c->mtu < 1 || c->mtu > 5) bad = "MTU out of range";
  else if (c->ethernet > 1) bad = "invalid link layer";
  else if (c->slots != kCreditSlots) bad = "credit FIFO depth differs";
  else if (expected == ConnRole::kSender && c->fifoAddr == 0) bad = "sender has no credit FIFO";
  if (bad) {
    *err = std::string("invalid ib connection info: ") + bad;
    return false;
  }
  return true;
}

}  // namespace ccib
