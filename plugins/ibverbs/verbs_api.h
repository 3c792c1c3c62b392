// verbs_api.h — the thin verbs interface of the ibverbs plugin: the dozen libibverbs operations the plugin
// uses, in plain types. VerbsReal (verbs_real.cc) calls libibverbs; the unit tests supply an in-process
// fake (tests/fake_verbs.h). Everything above this interface (connection exchange, registration cache,
// credits, chunking) is the plugin's own logic and is exercised through the fake.
//
// Contract of every method: returns 0 on success, or a nonzero errno-style code and a one-line message in
// *err (when err is not NULL). Objects returned as pointers are owned by the implementation and released
// with the matching Close/Destroy/Dereg call. No method blocks.
#ifndef CONCCL_PLUGINS_IBVERBS_VERBS_API_H_
#define CONCCL_PLUGINS_IBVERBS_VERBS_API_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ccib {

// One active port of one device: the unit the plugin reports as a "device" (like NCCL's IB transport).
struct VerbsPort {
  std::string device;      // e.g. "mlx5_0"
  int deviceIndex = 0;     // index in the implementation's device list (OpenDevice argument)
  int port = 1;            // 1-based port number
  bool ethernet = false;   // link layer: true = Ethernet (RoCE), false = InfiniBand
  uint16_t lid = 0;        // InfiniBand local id (0 on Ethernet)
  int activeMtu = 3;       // ibv_mtu enum: 1=256 2=512 3=1024 4=2048 5=4096
  int speedMbps = 0;       // link speed (0 = unknown)
  uint64_t guid = 0;       // node GUID
  std::string pciPath;     // sysfs path of the PCI device, empty if unknown
  uint32_t maxMsgBytes = 0;  // largest single work request the port accepts
  int gidTableLen = 0;     // entries in the GID table
  int maxQp = 0;           // queue pairs the device supports
};

enum class GidType { kIb, kRoceV1, kRoceV2 };

struct VerbsGid {
  uint8_t raw[16] = {};
  GidType type = GidType::kIb;
};

// A memory registration: lkey for local access, rkey for the peer's RDMA writes.
struct VerbsMr {
  void* handle = nullptr;
  uint32_t lkey = 0;
  uint32_t rkey = 0;
};

class VerbsDevice;  // opaque: an opened device context with one protection domain
class VerbsQp;      // opaque: one RC queue pair with its own completion queue

// What ConnectQp needs to move a QP from INIT through RTR to RTS.
struct QpConnectParams {
  uint32_t remoteQpn = 0;
  uint32_t remotePsn = 0;  // first packet sequence number the peer sends
  uint16_t remoteLid = 0;  // InfiniBand routing
  bool useGrh = false;     // route by GID (always on Ethernet)
  uint8_t remoteGid[16] = {};
  int localGidIndex = 0;
  int mtu = 3;             // ibv_mtu enum, the smaller of both ends
  uint32_t localPsn = 0;   // first packet sequence number this side sends
  int timeout = 20;        // local ACK timeout exponent (4.096 us * 2^timeout)
  int retryCnt = 7;
};

// One RDMA write (with immediate data when withImm). length 0 is allowed (no scatter entry).
struct WriteRequest {
  uint64_t wrId = 0;
  const void* local = nullptr;
  size_t length = 0;
  uint32_t lkey = 0;
  uint64_t remoteAddr = 0;
  uint32_t rkey = 0;
  bool withImm = false;
  uint32_t imm = 0;
};

enum class CompletionKind { kWrite, kRecvImm };

struct VerbsCompletion {
  uint64_t wrId = 0;
  int status = 0;          // 0 = success; otherwise the ibv_wc_status value
  CompletionKind kind = CompletionKind::kWrite;
  uint32_t imm = 0;        // kRecvImm only
};

class Verbs {
 public:
  virtual ~Verbs() = default;
  // Active ports of every device. No device (or no RDMA stack at all) is an empty list and 0.
  virtual int ListPorts(std::vector<VerbsPort>* ports, std::string* err) = 0;
  virtual int QueryGid(const VerbsPort& port, int index, VerbsGid* gid, std::string* err) = 0;

  virtual int OpenDevice(int deviceIndex, VerbsDevice** dev, std::string* err) = 0;
  virtual void CloseDevice(VerbsDevice* dev) = 0;
  // Registers addr[0..length) for local write and remote write.
  virtual int RegMr(VerbsDevice* dev, void* addr, size_t length, VerbsMr* mr, std::string* err) = 0;
  virtual void DeregMr(VerbsDevice* dev, const VerbsMr& mr) = 0;

  // Creates a completion queue and an RC QP (in INIT, remote write allowed) on port.
  virtual int CreateQp(VerbsDevice* dev, const VerbsPort& port, int sendDepth, int recvDepth, VerbsQp** qp,
                       uint32_t* qpn, std::string* err) = 0;
  virtual int ConnectQp(VerbsQp* qp, const QpConnectParams& params, std::string* err) = 0;
  virtual void DestroyQp(VerbsQp* qp) = 0;
  // A receive work request with no scatter entries: consumed by an incoming write with immediate.
  virtual int PostRecv(VerbsQp* qp, uint64_t wrId, std::string* err) = 0;
  // Posts one signaled RDMA write.
  virtual int PostWrite(VerbsQp* qp, const WriteRequest& wr, std::string* err) = 0;
  // Polls up to max completions; returns their number, or -1 with *err on a polling failure.
  virtual int PollCq(VerbsQp* qp, VerbsCompletion* out, int max, std::string* err) = 0;
};

}  // namespace ccib

#endif  // CONCCL_PLUGINS_IBVERBS_VERBS_API_H_
