// verbs_real.cc — Verbs over libibverbs: device and port discovery, PD/MR, RC QP state transitions,
// RDMA write (with immediate), receive posting and CQ polling. Written against rdma-core 44; never run on
// RDMA hardware in this project's CI (README, "ibverbs plugin").
#include "verbs_real.h"

#include <arpa/inet.h>
#include <infiniband/verbs.h>
#include <limits.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>

namespace ccib {

class VerbsDevice {
 public:
  ibv_context* ctx = nullptr;
  ibv_pd* pd = nullptr;
};

class VerbsQp {
 public:
  ibv_cq* cq = nullptr;
  ibv_qp* qp = nullptr;
  int port = 1;
};

namespace {

int Fail(std::string* err, const char* what, int code) {
  if (err) *err = std::string(what) + ": " + strerror(code);
  return code ? code : EIO;
}

int LaneMbps(uint8_t speed) {
  switch (speed) {
    case 1: return 2500;     // SDR
    case 2: return 5000;     // DDR
    case 4: case 8: return 10000;  // QDR, FDR10
    case 16: return 14000;   // FDR
    case 32: return 25000;   // EDR
    case 64: return 50000;   // HDR
    case 128: return 100000; // NDR
    default: return 0;
  }
}

int Lanes(uint8_t width) {
  switch (width) {
    case 1: return 1;
    case 2: return 4;
    case 4: return 8;
    case 8: return 12;
    case 16: return 2;
    default: return 0;
  }
}

class VerbsReal : public Verbs {
 public:
  ~VerbsReal() override {
    for (ibv_context* c : contexts_)
      if (c) ibv_close_device(c);
    if (list_) ibv_free_device_list(list_);
  }

  int ListPorts(std::vector<VerbsPort>* ports, std::string* err) override {
    ports->clear();
    if (!list_) {
      int n = 0;
      errno = 0;
      list_ = ibv_get_device_list(&n);
      if (!list_) return Fail(err, "ibv_get_device_list", errno);
      contexts_.assign(n, nullptr);
    }
    for (size_t i = 0; i < contexts_.size(); ++i) {
      if (!contexts_[i]) contexts_[i] = ibv_open_device(list_[i]);
      if (contexts_[i]) AddPorts(static_cast<int>(i), ports);
    }
    return 0;
  }

  int QueryGid(const VerbsPort& port, int index, VerbsGid* gid, std::string* err) override {
    ibv_context* ctx = Context(port.deviceIndex);
    if (!ctx) return Fail(err, "QueryGid on an unknown device", ENODEV);
    ibv_gid_entry entry;
    int rc = ibv_query_gid_ex(ctx, port.port, index, &entry, 0);
    if (rc != 0) return Fail(err, "ibv_query_gid_ex", rc);
    memcpy(gid->raw, entry.gid.raw, 16);
    gid->type = entry.gid_type == IBV_GID_TYPE_ROCE_V2   ? GidType::kRoceV2
                : entry.gid_type == IBV_GID_TYPE_ROCE_V1 ? GidType::kRoceV1
                                                         : GidType::kIb;
    return 0;
  }

  int OpenDevice(int deviceIndex, VerbsDevice** dev, std::string* err) override {
    ibv_context* ctx = Context(deviceIndex);
    if (!ctx) return Fail(err, "OpenDevice on an unknown device", ENODEV);
    ibv_pd* pd = ibv_alloc_pd(ctx);
    if (!pd) return Fail(err, "ibv_alloc_pd", errno);
    *dev = new VerbsDevice{ctx, pd};
    return 0;
  }

  void CloseDevice(VerbsDevice* dev) override {
    ibv_dealloc_pd(dev->pd);
    delete dev;
  }

  int RegMr(VerbsDevice* dev, void* addr, size_t length, VerbsMr* mr, std::string* err) override {
    ibv_mr* m = ibv_reg_mr(dev->pd, addr, length, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
    if (!m) return Fail(err, "ibv_reg_mr", errno);
    mr->handle = m;
    mr->lkey = m->lkey;
    mr->rkey = m->rkey;
    return 0;
  }

  void DeregMr(VerbsDevice*, const VerbsMr& mr) override { ibv_dereg_mr(static_cast<ibv_mr*>(mr.handle)); }

  int CreateQp(VerbsDevice* dev, const VerbsPort& port, int sendDepth, int recvDepth, VerbsQp** qp, uint32_t* qpn,
               std::string* err) override;
  int ConnectQp(VerbsQp* qp, const QpConnectParams& p, std::string* err) override;

  void DestroyQp(VerbsQp* qp) override {
    if (qp->qp) ibv_destroy_qp(qp->qp);
    if (qp->cq) ibv_destroy_cq(qp->cq);
    delete qp;
  }

  int PostRecv(VerbsQp* qp, uint64_t wrId, std::string* err) override {
    ibv_recv_wr wr{};
    ibv_recv_wr* bad = nullptr;
    wr.wr_id = wrId;
    int rc = ibv_post_recv(qp->qp, &wr, &bad);
    return rc ? Fail(err, "ibv_post_recv", rc) : 0;
  }

  int PostWrite(VerbsQp* qp, const WriteRequest& w, std::string* err) override {
    ibv_sge sge{reinterpret_cast<uintptr_t>(w.local), static_cast<uint32_t>(w.length), w.lkey};
    ibv_send_wr wr{};
    ibv_send_wr* bad = nullptr;
    wr.wr_id = w.wrId;
    wr.sg_list = w.length ? &sge : nullptr;
    wr.num_sge = w.length ? 1 : 0;
    wr.opcode = w.withImm ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE;
    wr.send_flags = IBV_SEND_SIGNALED;
    wr.imm_data = htonl(w.imm);
    wr.wr.rdma.remote_addr = w.remoteAddr;
    wr.wr.rdma.rkey = w.rkey;
    int rc = ibv_post_send(qp->qp, &wr, &bad);
    return rc ? Fail(err, "ibv_post_send", rc) : 0;
  }

  int PollCq(VerbsQp* qp, VerbsCompletion* out, int max, std::string* err) override {
    ibv_wc wc[32];
    int n = ibv_poll_cq(qp->cq, max < 32 ? max : 32, wc);
    if (n < 0) return Fail(err, "ibv_poll_cq", EIO), -1;
    for (int i = 0; i < n; ++i) {
      out[i].wrId = wc[i].wr_id;
      out[i].status = wc[i].status;
      out[i].kind = wc[i].opcode == IBV_WC_RECV_RDMA_WITH_IMM ? CompletionKind::kRecvImm : CompletionKind::kWrite;
      out[i].imm = out[i].kind == CompletionKind::kRecvImm ? ntohl(wc[i].imm_data) : 0;
    }
    return n;
  }

 private:
  ibv_context* Context(int i) const {
    return i >= 0 && i < static_cast<int>(contexts_.size()) ? contexts_[i] : nullptr;
  }
  void AddPorts(int index, std::vector<VerbsPort>* ports);

  ibv_device** list_ = nullptr;
  std::vector<ibv_context*> contexts_;
};

void VerbsReal::AddPorts(int index, std::vector<VerbsPort>* ports) {
  ibv_context* ctx = contexts_[index];
  ibv_device_attr attr;
  if (ibv_query_device(ctx, &attr) != 0) return;
  char sysPath[PATH_MAX], real[PATH_MAX];
  snprintf(sysPath, sizeof(sysPath), "/sys/class/infiniband/%s/device", ibv_get_device_name(list_[index]));
  bool havePci = realpath(sysPath, real) != nullptr;
  for (int p = 1; p <= attr.phys_port_cnt; ++p) {
    ibv_port_attr pa;
    if (ibv_query_port(ctx, p, &pa) != 0 || pa.state != IBV_PORT_ACTIVE) continue;
    if (pa.link_layer != IBV_LINK_LAYER_INFINIBAND && pa.link_layer != IBV_LINK_LAYER_ETHERNET) continue;
    VerbsPort v;
    v.device = ibv_get_device_name(list_[index]);
    v.deviceIndex = index;
    v.port = p;
    v.ethernet = pa.link_layer == IBV_LINK_LAYER_ETHERNET;
    v.lid = pa.lid;
    v.activeMtu = pa.active_mtu;
    v.speedMbps = LaneMbps(pa.active_speed) * Lanes(pa.active_width);
    v.guid = be64toh(attr.node_guid);
    if (havePci) v.pciPath = real;
    v.maxMsgBytes = pa.max_msg_sz;
    v.gidTableLen = pa.gid_tbl_len;
    v.maxQp = attr.max_qp;
    ports->push_back(v);
  }
}

int VerbsReal::CreateQp(VerbsDevice* dev, const VerbsPort& port, int sendDepth, int recvDepth, VerbsQp** out,
                        uint32_t* qpn, std::string* err) {
  auto* q = new VerbsQp;
  q->port = port.port;
  q->cq = ibv_create_cq(dev->ctx, sendDepth + recvDepth, nullptr, nullptr, 0);
  if (!q->cq) return DestroyQp(q), Fail(err, "ibv_create_cq", errno);
  ibv_qp_init_attr init{};
  init.send_cq = init.recv_cq = q->cq;
  init.qp_type = IBV_QPT_RC;
  init.cap.max_send_wr = sendDepth;
  init.cap.max_recv_wr = recvDepth;
  init.cap.max_send_sge = init.cap.max_recv_sge = 1;
  q->qp = ibv_create_qp(dev->pd, &init);
  if (!q->qp) return DestroyQp(q), Fail(err, "ibv_create_qp", errno);
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_INIT;
  a.pkey_index = 0;
  a.port_num = port.port;
  a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
  int rc = ibv_modify_qp(q->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
  if (rc != 0) return DestroyQp(q), Fail(err, "ibv_modify_qp(INIT)", rc);
  *qpn = q->qp->qp_num;
  *out = q;
  return 0;
}

int VerbsReal::ConnectQp(VerbsQp* q, const QpConnectParams& p, std::string* err) {
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_RTR;
  a.path_mtu = static_cast<ibv_mtu>(p.mtu);
  a.dest_qp_num = p.remoteQpn;
  a.rq_psn = p.remotePsn;
  a.max_dest_rd_atomic = 1;
  a.min_rnr_timer = 12;
  a.ah_attr.dlid = p.remoteLid;
  a.ah_attr.port_num = q->port;
  a.ah_attr.is_global = p.useGrh ? 1 : 0;
  memcpy(a.ah_attr.grh.dgid.raw, p.remoteGid, 16);
  a.ah_attr.grh.sgid_index = p.localGidIndex;
  a.ah_attr.grh.hop_limit = 255;
  int rc = ibv_modify_qp(q->qp, &a,
                         IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                             IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
  if (rc != 0) return Fail(err, "ibv_modify_qp(RTR)", rc);
  a = ibv_qp_attr{};
  a.qp_state = IBV_QPS_RTS;
  a.timeout = p.timeout;
  a.retry_cnt = p.retryCnt;
  a.rnr_retry = 7;
  a.sq_psn = p.localPsn;
  a.max_rd_atomic = 1;
  rc = ibv_modify_qp(q->qp, &a,
                     IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
                         IBV_QP_MAX_QP_RD_ATOMIC);
  return rc ? Fail(err, "ibv_modify_qp(RTS)", rc) : 0;
}

}  // namespace

std::unique_ptr<Verbs> MakeRealVerbs() { return std::unique_ptr<Verbs>(new VerbsReal); }

}  // namespace ccib
