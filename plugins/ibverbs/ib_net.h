// ib_net.h — the ibverbs transport: the ccNet_v1_t operations (include/conccl_net.h) over a Verbs
// implementation (verbs_api.h). plugin_table.cc binds one IbNet on the real libibverbs to the exported
// table; tests bind IbNet to the in-process fake.
//
// Protocol (one connection = one RC QP pair, messages flow sender -> receiver):
//   1. listen() opens a TCP side channel; the handle carries its address and a nonce.
//   2. connect() sends the sender's ConnInfo (QP, PSN, LID, GID, MTU, credit FIFO address + rkey), reads
//      the receiver's, moves its QP to RTS and sends one ready byte; accept() does the mirror image.
//   3. irecv() n writes a credit (buffer address, size, rkey, seq n+1) into FIFO slot n % kCreditSlots of
//      the sender with an RDMA write. isend() n waits (returns a NULL request) until that slot holds seq
//      n+1, then RDMA-writes the message into the buffer in chunks of at most chunkBytes; the last chunk
//      carries the size as immediate data, which completes irecv n. A message larger than the credit is
//      never written: an empty write with the kImmTooLarge flag fails both requests with ccNetErrorRemote.
//   4. The side channel stays open: EOF on it fails the pending requests with ccNetErrorRemote.
//   5. Buffers: regMr() and isend/irecv without an mhandle both take registrations from the device's
//      RegCache (reg_cache.h), so CC_NET_PROP_REG_REQUIRED is not set.
// Every method returns a ccNet* code; none blocks.
#ifndef CONCCL_PLUGINS_IBVERBS_IB_NET_H_
#define CONCCL_PLUGINS_IBVERBS_IB_NET_H_

#include <cstdarg>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "conccl_net.h"
#include "conn_info.h"
#include "ib_config.h"
#include "reg_cache.h"
#include "verbs_api.h"

namespace ccib {

constexpr uint32_t kImmTooLarge = 0x80000000u;      // immediate flag: the message did not fit the credit
constexpr size_t kMaxMessageBytes = 0x7fffffffu;    // sizes travel in 31 bits of immediate data
constexpr int kSendDepth = 128;                     // send work requests in flight per QP

struct IbDevice {  // one plugin device = one active port that passed CONCCL_IB_HCA
  VerbsPort port;
  int gidIndex = 0;
  VerbsGid gid;
  VerbsDevice* ctx = nullptr;  // opened on first listen/connect
  std::unique_ptr<RegCache> cache;
};

struct IbComm;

struct IbRequest {
  IbComm* comm = nullptr;
  bool active = false;
  bool done = false;
  bool failed = false;
  uint8_t* data = nullptr;
  size_t size = 0;          // posted size (send: message size; recv: buffer size)
  size_t received = 0;      // recv: bytes that arrived
  RegEntry* ownedReg = nullptr;  // registration taken by this request (mhandle was NULL)
  uint32_t lkey = 0, rkey = 0;
  // send side
  uint64_t remoteAddr = 0;
  uint32_t remoteRkey = 0;
  size_t postedBytes = 0;
  bool allPosted = false;
  bool tooLarge = false;
  int inflight = 0;
};

struct IbComm {
  bool isSend = false;
  int dev = 0;
  VerbsQp* qp = nullptr;
  uint32_t qpn = 0;
  uint32_t psn = 0;          // first PSN this side sends
  int fd = -1;               // side channel
  bool broken = false;
  std::string error;
  uint64_t closedSinceMs = 0;  // when EOF was first seen on the side channel (0 = not seen)
  uint64_t nextLivenessMs = 0;
  int sqOutstanding = 0;
  uint32_t nextSeq = 0;      // next isend / irecv index
  uint32_t doneSeq = 0;      // recv: next message expected; send: next request to post chunks for
  CreditSlot* slots = nullptr;  // send: the FIFO the receiver writes; recv: sources of credit writes
  VerbsMr slotsMr;
  bool creditInFlight[kCreditSlots] = {};
  uint64_t remoteFifoAddr = 0;
  uint32_t remoteFifoRkey = 0;
  IbRequest reqs[kCreditSlots];
};

class IbNet;

// A connect or accept in progress (ib_connect.cc): its comm, handshake stage and side-channel buffers.
struct IbPending {
  enum Stage { kTcpConnect, kSendInfo, kRecvInfo, kSendReady, kRecvReady, kDone };
  IbPending(IbNet* n, IbComm* c, Stage s, uint64_t nonceIn, uint64_t deadline)
      : net(n), comm(c), stage(s), nonce(nonceIn), deadlineMs(deadline) {}
  ~IbPending();  // destroys the comm unless it was handed out
  IbPending(const IbPending&) = delete;
  IbPending& operator=(const IbPending&) = delete;
  IbNet* net;
  IbComm* comm;
  Stage stage;
  uint64_t nonce;
  uint64_t deadlineMs;
  std::string error;
  uint8_t out[kConnInfoBytes] = {};
  uint8_t in[kConnInfoBytes] = {};
  size_t outDone = 0, inDone = 0;
  uint8_t ready = kReadyByte;
  size_t readyDone = 0;
};

struct IbListen {
  int dev = 0;
  int fd = -1;
  uint64_t nonce = 0;
  std::vector<std::unique_ptr<IbPending>> pending;
};

class IbNet {
 public:
  explicit IbNet(Verbs* verbs);
  ~IbNet();
  IbNet(const IbNet&) = delete;
  IbNet& operator=(const IbNet&) = delete;

  int Init(ccNetLogger_v1_t logger, const IbConfig& config);
  int Devices(int* ndev);
  int GetProperties(int dev, ccNetProperties_v1_t* props);
  int Listen(int dev, void* handle, void** listenComm);
  int Connect(int dev, const void* handle, void** sendComm);
  int Accept(void* listenComm, void** recvComm);
  int RegMr(void* comm, void* data, size_t size, int ptrType, void** mhandle);
  int DeregMr(void* comm, void* mhandle);
  int Isend(void* sendComm, void* data, size_t size, void* mhandle, void** request);
  int Irecv(void* recvComm, void* data, size_t size, void* mhandle, void** request);
  int Test(void* request, int* done, size_t* size);
  int CloseSend(void* sendComm);
  int CloseRecv(void* recvComm);
  int CloseListen(void* listenComm);

  // For tests: the registration cache of device dev (NULL before the device is opened).
  const RegCache* CacheOf(int dev) const;
  void Log(int level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

 private:
  friend struct IbPending;
  int OpenDevice(int dev, std::string* err);
  void CloseDevices();
  int SetupQp(IbComm* c, std::string* err);
  int ConnectQp(IbComm* c, const ConnInfo& peer, std::string* err);
  void FillInfo(const IbComm* c, ConnRole role, uint64_t nonce, ConnInfo* info) const;
  void DestroyComm(IbComm* c);
  int ProgressAccept(IbListen* l, IbPending* p);
  int ProgressConnect(IbPending* p);
  int Progress(IbComm* c);
  void HandleCompletion(IbComm* c, const VerbsCompletion& wc);
  void PostChunks(IbComm* c);
  int PostCredit(IbComm* c, IbRequest* r);
  void CheckLiveness(IbComm* c, bool idle);
  void Break(IbComm* c, const std::string& why);
  int TakeRegistration(IbComm* c, IbRequest* r, void* mhandle);
  void FreeRequest(IbRequest* r);

  Verbs* verbs_;
  IbConfig config_;
  ccNetLogger_v1_t logger_ = nullptr;
  bool initialised_ = false;
  std::vector<IbDevice> devices_;
  std::map<std::string, std::unique_ptr<IbPending>> connecting_;  // key: dev + handle bytes
};

}  // namespace ccib

#endif  // CONCCL_PLUGINS_IBVERBS_IB_NET_H_
