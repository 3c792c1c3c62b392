// api_coll.cc — the collective, point-to-point and group entry points of conccl.h: argument checks,
// the operation header, algorithm choice, and dispatch to the schedules.
#include <cstdint>
#include <cstring>

#include "algorithms/hier.h"
#include "algorithms/primitives.h"
#include "algorithms/schedules.h"
#include "common/result.h"
#include "core/call.h"
#include "core/comm.h"
#include "core/device_buffers.h"
#include "core/group.h"
#include "core/hier_select.h"
#include "kernels/cpu/reduce.h"

#define CC_API extern "C" __attribute__((visibility("default")))

namespace conccl {

ccResult_t RunCall(ccComm* comm, const std::function<ccResult_t()>& body) {
  CC_CHECK(CheckComm(comm));
  // Calls keep the caller's order: a call made on the caller's thread waits for the queued stream work.
  if (comm->executor && !comm->executor->OnExecutorThread()) comm->executor->Drain();
  comm->activeCalls.fetch_add(1);
  ccResult_t res;
  int broken = comm->asyncError.load();
  if (broken != ccSuccess) {
    res = SetError(static_cast<ccResult_t>(broken),
                   "rank %d: communicator is unusable after an earlier failure (%s); abort it", comm->rank,
                   ccGetErrorString(static_cast<ccResult_t>(broken)));
  } else {
    comm->BeginCall();
    res = body();
    if (res != ccSuccess && (res != ccInvalidArgument || comm->droppedPending.load())) comm->Fail(res);
  }
  comm->activeCalls.fetch_sub(1);
  return res;
}

ccResult_t Finish(ccComm* comm, ccResult_t res) {
  if (res != ccSuccess && comm && comm->magic.load() == kCommMagic) {
    std::lock_guard<std::mutex> lock(comm->errMu);
    comm->lastError = ThreadLastError();
  }
  return res;
}

namespace {

ccResult_t CheckTypeOp(ccDataType_t type, ccRedOp_t op, bool needOp) {
  if (static_cast<int>(type) < 0 || type >= ccNumTypes)
    return SetError(ccInvalidArgument, "invalid datatype %d", static_cast<int>(type));
  if (needOp && (static_cast<int>(op) < 0 || op >= ccNumOps))
    return SetError(ccInvalidArgument, "invalid reduction op %d", static_cast<int>(op));
  return ccSuccess;
}

// count * size * factor must fit in size_t (and in addressable memory).
ccResult_t CheckBytes(size_t count, ccDataType_t type, size_t factor, const char* what) {
  size_t es = TypeSize(type);
  if (count != 0 && (count > SIZE_MAX / es / factor || count * es * factor > (size_t(1) << 56)))
    return SetError(ccInvalidArgument, "%s: count %zu of %zu-byte elements overflows", what, count, es);
  return ccSuccess;
}

ccResult_t CheckBuf(const void* p, size_t count, const char* name) {
  if (!p && count > 0) return SetError(ccInvalidArgument, "%s is NULL with count %zu", name, count);
  return ccSuccess;
}

// Validates comm first so the rest can use comm->nranks.
ccResult_t Header(ccComm* comm, CollType coll, size_t count, ccDataType_t type, ccRedOp_t op, int root) {
  OpHeader h{};
  h.coll = static_cast<uint32_t>(coll);
  h.count = count;
  h.type = type;
  h.op = op;
  h.root = root;
  h.seq = comm->opSeq++;
  CC_TRACE(kLogColl, "%s: opCount %llx count %zu datatype %d op %d root %d comm %p [nranks=%d]", CollName(coll),
           (unsigned long long)h.seq, count, (int)type, (int)op, root, (void*)comm, comm->nranks);
  return CheckOpHeader(*comm, h);
}

using CollBody = std::function<ccResult_t(const void* send, void* recv)>;

// Runs a collective whose buffers are b: queued on b.stream when a buffer is device memory
// (core/stream_executor.h: body then gets host staging), else run now on this thread; inside a group,
// recorded and queued or run at ccGroupEnd. body starts with the operation header, so it runs in the
// communicator's order.
ccResult_t Dispatch(ccComm* comm, const CallBuffers& b, CollBody body) {
  const bool queue = NeedsStreamOrder(comm, b);
  auto run = [comm, b, body, queue]() -> ccResult_t {
    if (queue) return EnqueueOnStream(comm, b, body);
    return RunCall(comm, [&] { return body(b.send, b.recv); });
  };
  if (InGroup()) {  // a queued call's ccInProgress is the communicator's state, not the group's result
    GroupAddCall(comm, [run] {
      ccResult_t r = run();
      return r == ccInProgress ? ccSuccess : r;
    });
    return ccSuccess;
  }
  return Finish(comm, run());
}

bool UseTree(ccComm* comm, size_t bytes) {
  if (comm->opts.algo != AlgoChoice::kAuto) return comm->opts.algo == AlgoChoice::kTree;
  return bytes <= comm->opts.treeThresholdBytes && comm->nranks > 2;
}

}  // namespace
}  // namespace conccl

using namespace conccl;

CC_API ccResult_t ccAllReduce(const void* sendbuff, void* recvbuff, size_t count, ccDataType_t datatype, ccRedOp_t op,
                              ccComm_t comm, ccStream_t stream) {
  CC_CHECK(Finish(comm, CheckComm(comm)));
  CC_CHECK(Finish(comm, CheckTypeOp(datatype, op, true)));
  CC_CHECK(Finish(comm, CheckBytes(count, datatype, 1, "ccAllReduce")));
  CC_CHECK(Finish(comm, CheckBuf(sendbuff, count, "sendbuff")));
  CC_CHECK(Finish(comm, CheckBuf(recvbuff, count, "recvbuff")));
  size_t bytes = count * TypeSize(datatype);
  return Dispatch(comm, {stream, sendbuff, bytes, recvbuff, bytes}, [=](const void* send, void* recv) {
    CC_CHECK(Header(comm, CollType::kAllReduce, count, datatype, op, 0));
    if (UseHierAllReduce(comm))
      return HierAllReduce(*comm, comm->hosts, send, recv, count, datatype, op, HierLeadersUseTree(comm, bytes));
    if (UseTree(comm, bytes)) return TreeAllReduce(*comm, send, recv, count, datatype, op);
    return RingAllReduce(*comm, send, recv, count, datatype, op);
  });
}

CC_API ccResult_t ccBroadcast(const void* sendbuff, void* recvbuff, size_t count, ccDataType_t datatype, int root,
                              ccComm_t comm, ccStream_t stream) {
  CC_CHECK(Finish(comm, CheckComm(comm)));
  CC_CHECK(Finish(comm, CheckTypeOp(datatype, ccSum, false)));
  CC_CHECK(Finish(comm, CheckBytes(count, datatype, 1, "ccBroadcast")));
  if (root < 0 || root >= comm->nranks)
    return Finish(comm, SetError(ccInvalidArgument, "ccBroadcast: root %d out of range [0, %d)", root, comm->nranks));
  if (comm->rank == root) CC_CHECK(Finish(comm, CheckBuf(sendbuff, count, "sendbuff")));
  CC_CHECK(Finish(comm, CheckBuf(recvbuff, count, "recvbuff")));
  size_t bytes = count * TypeSize(datatype);
  CallBuffers b{stream, sendbuff, comm->rank == root ? bytes : 0, recvbuff, bytes};
  return Dispatch(comm, b, [=](const void* send, void* recv) {
    CC_CHECK(Header(comm, CollType::kBroadcast, count, datatype, ccSum, root));
    return ChainBroadcast(*comm, send, recv, bytes, root);
  });
}

CC_API ccResult_t ccReduce(const void* sendbuff, void* recvbuff, size_t count, ccDataType_t datatype, ccRedOp_t op,
                           int root, ccComm_t comm, ccStream_t stream) {
  CC_CHECK(Finish(comm, CheckComm(comm)));
  CC_CHECK(Finish(comm, CheckTypeOp(datatype, op, true)));
  CC_CHECK(Finish(comm, CheckBytes(count, datatype, 1, "ccReduce")));
  if (root < 0 || root >= comm->nranks)
    return Finish(comm, SetError(ccInvalidArgument, "ccReduce: root %d out of range [0, %d)", root, comm->nranks));
  CC_CHECK(Finish(comm, CheckBuf(sendbuff, count, "sendbuff")));
  if (comm->rank == root) CC_CHECK(Finish(comm, CheckBuf(recvbuff, count, "recvbuff")));
  size_t bytes = count * TypeSize(datatype);
  CallBuffers b{stream, sendbuff, bytes, recvbuff, comm->rank == root ? bytes : 0};
  return Dispatch(comm, b, [=](const void* send, void* recv) {
    CC_CHECK(Header(comm, CollType::kReduce, count, datatype, op, root));
    return ChainReduce(*comm, send, recv, count, datatype, op, root);
  });
}

CC_API ccResult_t ccAllGather(const void* sendbuff, void* recvbuff, size_t sendcount, ccDataType_t datatype,
                              ccComm_t comm, ccStream_t stream) {
  CC_CHECK(Finish(comm, CheckComm(comm)));
  CC_CHECK(Finish(comm, CheckTypeOp(datatype, ccSum, false)));
  CC_CHECK(Finish(comm, CheckBytes(sendcount, datatype, comm->nranks, "ccAllGather")));
  CC_CHECK(Finish(comm, CheckBuf(sendbuff, sendcount, "sendbuff")));
  CC_CHECK(Finish(comm, CheckBuf(recvbuff, sendcount, "recvbuff")));
  size_t bytes = sendcount * TypeSize(datatype);
  return Dispatch(comm, {stream, sendbuff, bytes, recvbuff, bytes * comm->nranks}, [=](const void* send, void* recv) {
    CC_CHECK(Header(comm, CollType::kAllGather, sendcount, datatype, ccSum, 0));
    return RingAllGather(*comm, send, recv, bytes);
  });
}

CC_API ccResult_t ccReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount, ccDataType_t datatype,
                                  ccRedOp_t op, ccComm_t comm, ccStream_t stream) {
  CC_CHECK(Finish(comm, CheckComm(comm)));
  CC_CHECK(Finish(comm, CheckTypeOp(datatype, op, true)));
  CC_CHECK(Finish(comm, CheckBytes(recvcount, datatype, comm->nranks, "ccReduceScatter")));
  CC_CHECK(Finish(comm, CheckBuf(sendbuff, recvcount, "sendbuff")));
  CC_CHECK(Finish(comm, CheckBuf(recvbuff, recvcount, "recvbuff")));
  size_t bytes = recvcount * TypeSize(datatype);
  return Dispatch(comm, {stream, sendbuff, bytes * comm->nranks, recvbuff, bytes}, [=](const void* send, void* recv) {
    CC_CHECK(Header(comm, CollType::kReduceScatter, recvcount, datatype, op, 0));
    return RingReduceScatter(*comm, send, recv, recvcount, datatype, op);
  });
}

CC_API ccResult_t ccAlltoAll(const void* sendbuff, void* recvbuff, size_t count, ccDataType_t datatype,
                             ccComm_t comm, ccStream_t stream) {
  CC_CHECK(Finish(comm, CheckComm(comm)));
  CC_CHECK(Finish(comm, CheckTypeOp(datatype, ccSum, false)));
  CC_CHECK(Finish(comm, CheckBytes(count, datatype, comm->nranks, "ccAlltoAll")));
  CC_CHECK(Finish(comm, CheckBuf(sendbuff, count, "sendbuff")));
  CC_CHECK(Finish(comm, CheckBuf(recvbuff, count, "recvbuff")));
  size_t total = count * TypeSize(datatype) * comm->nranks;
  auto* s = static_cast<const char*>(sendbuff);
  auto* r = static_cast<char*>(recvbuff);
  if (count && s < r + total && r < s + total)
    return Finish(comm, SetError(ccInvalidArgument, "ccAlltoAll: sendbuff and recvbuff overlap"));
  return Dispatch(comm, {stream, sendbuff, total, recvbuff, total}, [=](const void* send, void* recv) {
    CC_CHECK(Header(comm, CollType::kAlltoAll, count, datatype, ccSum, 0));
    return AlltoAllExchange(*comm, send, recv, count * TypeSize(datatype));
  });
}

static ccResult_t P2p(bool isSend, void* buf, size_t count, ccDataType_t datatype, int peer, ccComm_t comm,
                      ccStream_t stream) {
  CC_CHECK(Finish(comm, CheckComm(comm)));
  CC_CHECK(Finish(comm, CheckTypeOp(datatype, ccSum, false)));
  CC_CHECK(Finish(comm, CheckBytes(count, datatype, 1, isSend ? "ccSend" : "ccRecv")));
  CC_CHECK(Finish(comm, CheckBuf(buf, count, isSend ? "sendbuff" : "recvbuff")));
  if (peer < 0 || peer >= comm->nranks)
    return Finish(comm, SetError(ccInvalidArgument, "%s: peer %d out of range [0, %d)", isSend ? "ccSend" : "ccRecv",
                                 peer, comm->nranks));
  P2pOp op{isSend, buf, count, datatype, peer, stream};
  if (peer == comm->rank && !InGroup())
    return Finish(comm, SetError(ccInvalidUsage, "a send or receive to oneself must be inside a group"));
  if (InGroup()) {
    GroupAddP2p(comm, op);
    return ccSuccess;
  }
  return Finish(comm, RunCall(comm, [&] { return RunP2p(comm, &op, 1); }));
}

CC_API ccResult_t ccSend(const void* sendbuff, size_t count, ccDataType_t datatype, int peer, ccComm_t comm,
                         ccStream_t stream) {
  return P2p(true, const_cast<void*>(sendbuff), count, datatype, peer, comm, stream);
}

CC_API ccResult_t ccRecv(void* recvbuff, size_t count, ccDataType_t datatype, int peer, ccComm_t comm,
                         ccStream_t stream) {
  return P2p(false, recvbuff, count, datatype, peer, comm, stream);
}

CC_API ccResult_t ccGroupStart(void) { return GroupStart(); }
CC_API ccResult_t ccGroupEnd(void) { return GroupEnd(); }
