// group.cc — see group.h.
#include "core/group.h"

#include <map>
#include <thread>
#include <vector>

#include "algorithms/primitives.h"
#include "common/result.h"
#include "core/comm.h"
#include "core/device_buffers.h"
#include "core/call.h"
#include "kernels/cpu/reduce.h"

namespace conccl {
namespace {

struct GroupEntry {
  ccComm* comm;
  bool isP2p;
  P2pOp p2p;
  std::function<ccResult_t()> run;
};

thread_local int tDepth = 0;
thread_local std::vector<GroupEntry> tEntries;

constexpr uint32_t kP2pMagic = 0x43435032;  // "CCP2"
struct P2pHeader {
  uint32_t magic;
  int32_t type;
  uint64_t count;
};

// Runs one communicator's recorded operations in order; consecutive p2p operations form one batch.
ccResult_t RunList(ccComm* comm, std::vector<GroupEntry>& list) {
  for (size_t i = 0; i < list.size();) {
    if (!list[i].isP2p) {
      CC_CHECK(list[i].run());
      ++i;
      continue;
    }
    std::vector<P2pOp> batch;
    while (i < list.size() && list[i].isP2p) batch.push_back(list[i++].p2p);
    CC_CHECK(RunCall(comm, [&] { return RunP2p(comm, batch.data(), batch.size()); }));
  }
  return ccSuccess;
}

}  // namespace

bool InGroup() { return tDepth > 0; }

void GroupAddCall(ccComm* comm, std::function<ccResult_t()> run) {
  tEntries.push_back({comm, false, {}, std::move(run)});
}

void GroupAddP2p(ccComm* comm, const P2pOp& op) { tEntries.push_back({comm, true, op, nullptr}); }

ccResult_t GroupStart() {
  ++tDepth;
  return ccSuccess;
}

ccResult_t GroupEnd() {
  if (tDepth == 0) return SetError(ccInvalidUsage, "ccGroupEnd without a matching ccGroupStart");
  if (--tDepth > 0) return ccSuccess;
  std::vector<GroupEntry> entries;
  entries.swap(tEntries);
  // One work list per communicator; every grouped init is a list of its own.
  std::vector<std::pair<ccComm*, std::vector<GroupEntry>>> lists;
  std::map<ccComm*, size_t> index;
  for (auto& e : entries) {
    if (!e.comm) {
      lists.push_back({nullptr, {std::move(e)}});
      continue;
    }
    auto it = index.find(e.comm);
    if (it == index.end()) it = index.emplace(e.comm, lists.size()).first, lists.push_back({e.comm, {}});
    lists[it->second].second.push_back(std::move(e));
  }
  if (lists.size() == 1) return RunList(lists[0].first, lists[0].second);
  std::vector<ccResult_t> results(lists.size(), ccSuccess);
  std::vector<std::string> messages(lists.size());
  std::vector<std::thread> workers;
  for (size_t i = 0; i < lists.size(); ++i) {
    workers.emplace_back([&, i] {
      results[i] = RunList(lists[i].first, lists[i].second);
      if (results[i] != ccSuccess) messages[i] = ThreadLastError();
    });
  }
  for (auto& w : workers) w.join();
  for (size_t i = 0; i < lists.size(); ++i)
    if (results[i] != ccSuccess) return SetError(results[i], "%s", messages[i].c_str());
  return ccSuccess;
}

ccResult_t RunP2p(ccComm* comm, const P2pOp* callerOps, size_t n) {
  // Device buffers travel through host copies (core/device_buffers.h); ops then points at host memory.
  StagedBuffers staged;
  std::vector<P2pOp> hostOps(callerOps, callerOps + n);
  for (P2pOp& op : hostOps)
    CC_CHECK(staged.Stage(op.buf, op.count * TypeSize(op.type), !op.isSend, op.stream, &op.buf));
  const P2pOp* ops = hostOps.data();
  std::vector<P2pHeader> sendHdr(n), recvHdr(n);
  std::vector<Request*> hdrReqs(n, nullptr), dataReqs(n, nullptr);
  struct Guard {
    ccComm* c;
    std::vector<Request*>& a;
    std::vector<Request*>& b;
    ~Guard() {
      DropAll(*c, &a);
      DropAll(*c, &b);
    }
  } guard{comm, hdrReqs, dataReqs};
  for (int pass = 0; pass < 2; ++pass) {  // receives first, then sends
    for (size_t i = 0; i < n; ++i) {
      const P2pOp& op = ops[i];
      if (op.isSend != (pass == 1)) continue;
      size_t bytes = op.count * TypeSize(op.type);
      if (op.isSend) {
        sendHdr[i] = {kP2pMagic, op.type, op.count};
        CC_CHECK(comm->Isend(op.peer, kChanP2p, &sendHdr[i], sizeof(P2pHeader), &hdrReqs[i]));
        CC_CHECK(comm->Isend(op.peer, kChanP2p, op.buf, bytes, &dataReqs[i]));
      } else {
        CC_CHECK(comm->Irecv(op.peer, kChanP2p, &recvHdr[i], sizeof(P2pHeader), &hdrReqs[i]));
        CC_CHECK(comm->Irecv(op.peer, kChanP2p, op.buf, bytes, &dataReqs[i]));
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const P2pOp& op = ops[i];
    size_t got = 0;
    Request* h = hdrReqs[i];
    hdrReqs[i] = nullptr;
    CC_CHECK(WaitRequest(*comm, h, &got));
    if (!op.isSend) {
      const P2pHeader& hd = recvHdr[i];
      if (got != sizeof(P2pHeader) || hd.magic != kP2pMagic)
        return SetError(ccRemoteError, "malformed send header from rank %d", op.peer);
      if (hd.count != op.count || hd.type != op.type)
        return SetError(ccInvalidUsage, "ccRecv from rank %d expects %zu elements of type %d, but it sent %llu of type %d",
                        op.peer, op.count, (int)op.type, (unsigned long long)hd.count, hd.type);
    }
    Request* d = dataReqs[i];
    dataReqs[i] = nullptr;
    CC_CHECK(WaitRequest(*comm, d, &got));
  }
  return staged.ReturnOutputs();
}

}  // namespace conccl
