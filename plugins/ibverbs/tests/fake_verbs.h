// fake_verbs.h — an in-process Verbs (verbs_api.h) for the plugin's unit tests: devices, ports and GID
// tables are configured by the test; memory registrations, QPs and completion queues live in memory.
// An RDMA write runs when posted: the fake checks what a real RC QP would (both QPs connected to each
// other with matching PSNs and GIDs/LIDs, lkey covering the source, rkey covering the target with
// remote-write access, a receive posted for immediate data, send-queue depth) and then copies the bytes and
// queues the completions; a failed check yields an error completion and moves the QP to the error state.
#ifndef CONCCL_PLUGINS_IBVERBS_TESTS_FAKE_VERBS_H_
#define CONCCL_PLUGINS_IBVERBS_TESTS_FAKE_VERBS_H_

#include <deque>
#include <map>
#include <vector>

#include "verbs_api.h"

namespace ccib {

struct FakePortSpec {
  VerbsPort port;
  std::vector<VerbsGid> gids;  // the GID table; an all-zero entry fails to query (unpopulated)
};

struct FakeStats {
  int regs = 0, deregs = 0;
  int writes = 0;
  size_t largestWrite = 0;
  int qpsCreated = 0, qpsDestroyed = 0;
  int badDeregs = 0;  // deregistration of a key that is not registered (a plugin bug)
};

class FakeVerbs : public Verbs {
 public:
  std::vector<FakePortSpec> ports;  // what ListPorts reports (deviceIndex selects the device)
  bool listFails = false;           // ListPorts fails like ibv_get_device_list without an RDMA stack
  int failRegAfter = -1;            // RegMr fails once this many more registrations succeeded (-1 = never)
  FakeStats stats;

  ~FakeVerbs() override;
  int ListPorts(std::vector<VerbsPort>* out, std::string* err) override;
  int QueryGid(const VerbsPort& port, int index, VerbsGid* gid, std::string* err) override;
  int OpenDevice(int deviceIndex, VerbsDevice** dev, std::string* err) override;
  void CloseDevice(VerbsDevice* dev) override;
  int RegMr(VerbsDevice* dev, void* addr, size_t length, VerbsMr* mr, std::string* err) override;
  void DeregMr(VerbsDevice* dev, const VerbsMr& mr) override;
  int CreateQp(VerbsDevice* dev, const VerbsPort& port, int sendDepth, int recvDepth, VerbsQp** qp,
               uint32_t* qpn, std::string* err) override;
  int ConnectQp(VerbsQp* qp, const QpConnectParams& params, std::string* err) override;
  void DestroyQp(VerbsQp* qp) override;
  int PostRecv(VerbsQp* qp, uint64_t wrId, std::string* err) override;
  int PostWrite(VerbsQp* qp, const WriteRequest& wr, std::string* err) override;
  int PollCq(VerbsQp* qp, VerbsCompletion* out, int max, std::string* err) override;

  int OpenDevices() const { return static_cast<int>(devices_.size()); }
  int LiveRegistrations() const { return static_cast<int>(mrs_.size()); }

 private:
  struct Mr {
    VerbsDevice* dev;
    uintptr_t addr;
    size_t len;
  };
  bool Covers(VerbsDevice* dev, uint32_t key, uintptr_t addr, size_t len) const;
  int Execute(VerbsQp* qp, const WriteRequest& wr);

  std::map<uint32_t, Mr> mrs_;  // key (lkey == rkey) -> registration
  uint32_t nextKey_ = 0x100;
  uint32_t nextQpn_ = 0x40;
  std::map<uint32_t, VerbsQp*> qps_;
  std::vector<VerbsDevice*> devices_;
};

}  // namespace ccib

#endif  // CONCCL_PLUGINS_IBVERBS_TESTS_FAKE_VERBS_H_
