// api_coll.cc — collectives, point-to-point and group calls of the NCCL ABI.
//
// Each call goes one of three ways: ncclAllReduce calls that match CONCCL_NCCL_COMPRESS become
// ccAllreduceCompressed on the ConCCL communicator; with CONCCL_NCCL_FORWARD every other call goes to the
// real NCCL; otherwise it runs on the ConCCL communicator (host buffers), exactly.
#include <cstring>
#include <memory>

#include "shim.h"

using namespace ncclshim;

namespace {

ccStream_t CcStream(cudaStream_t s) { return reinterpret_cast<ccStream_t>(s); }

uint64_t Mix64(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The checks of the ConCCL path: datatype, and host memory (ConCCL's collectives read host buffers).
ncclResult_t HostCall(ncclComm* comm, ncclDataType_t type, ccDataType_t* cct, const char* fn, const void* a,
                      const void* b) {
  ncclResult_t res = ToCcType(comm, type, cct, fn);
  if (res != ncclSuccess) return res;
  if (IsDevicePointer(a) || IsDevicePointer(b))
    return Fail(comm, ncclInvalidUsage,
                "%s: CUDA device buffers need CONCCL_NCCL_FORWARD=<path to the real libnccl.so.2>; ConCCL's shim "
                "runs collectives on host memory",
                fn);
  return ncclSuccess;
}

// A built-in op maps to ConCCL's; a PreMulSum op prescales *send into scratch and sums.
ncclResult_t ResolveOp(ncclComm* comm, ncclRedOp_t op, ncclDataType_t type, const void** send, size_t count,
                       std::unique_ptr<char[]>* owned, ccRedOp_t* ccop, const char* fn) {
  if (static_cast<int>(op) >= 0 && static_cast<int>(op) < ncclNumOps) {
    *ccop = static_cast<ccRedOp_t>(op);
    return ncclSuccess;
  }
  *ccop = ccSum;
  return PreScale(comm, op, type, *send, count, send, owned, fn);
}

bool WantCompressed(ncclComm* comm, const void* send, const void* recv, size_t count, ncclDataType_t type,
                    ncclRedOp_t op) {
  const CompressPolicy& p = comm->policy;
  if (!p.enabled || !comm->cc) return false;
  if (type != ncclFloat32 && type != ncclFloat16 && type != ncclBfloat16) return false;
  if (op != ncclSum && op != ncclAvg) return false;
  if (count * TypeBytes(type) < p.minBytes) return false;
  if (GroupDepth() > 0) {  // ccAllreduceCompressed does not take part in groups (yet)
    if (!comm->loggedGroupExact)
      Log(kLogInfo, "ncclAllReduce count %zu type %s inside ncclGroupStart/End stays exact (compressed calls cannot be "
          "grouped)", count, TypeName(type));
    comm->loggedGroupExact = true;
    return false;
  }
  if (IsDevicePointer(send) || IsDevicePointer(recv)) {  // forwarded exact; refused without forwarding
    if (comm->fwd && !comm->loggedDeviceExact)
      Log(kLogInfo, "ncclAllReduce count %zu type %s on device buffers stays exact (forwarded): this ConCCL compresses "
          "host buffers", count, TypeName(type));
    comm->loggedDeviceExact = true;
    return false;
  }
  return true;
}

// (recvbuff, count) names the residual; the key is the n-th such pair this communicator has seen, which
// every rank of a training loop numbers alike, while addresses differ between processes.
uint64_t KeyFor(ncclComm* comm, const void* recv, size_t count, ncclDataType_t type) {
  auto slot = std::make_pair(reinterpret_cast<uintptr_t>(recv), count);
  auto it = comm->keys.find(slot);
  if (it != comm->keys.end()) return it->second;
  uint64_t key = Mix64(0x6e63636c73686dull ^ Mix64(comm->keys.size() + 1) ^ Mix64(count));
  if (key == 0) key = 1;  // 0 would ask the library to derive its own key
  comm->keys.emplace(slot, key);
  const ccCompressConfig_t& c = comm->policy.config;
  Log(kLogInfo, "ncclAllReduce count %zu type %s -> ccAllreduceCompressed codec %s (feedback %s, key 0x%016llx)", count,
      TypeName(type), CodecName(c.codec), FeedbackName(c.feedback), static_cast<unsigned long long>(key));
  return key;
}

ncclResult_t Compressed(ncclComm* comm, const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                        cudaStream_t stream) {
  ccCompressConfig_t c = comm->policy.config;
  c.key = KeyFor(comm, recv, count, type);
  if (comm->fwd) SyncStream(stream);  // earlier work on the stream (forwarded) must be done before we read
  ccResult_t r = ccAllreduceCompressed(send, recv, count, static_cast<ccDataType_t>(type), static_cast<ccRedOp_t>(op), &c,
                                       comm->cc, CcStream(stream));
  return FromCc(r, comm, "ncclAllReduce (compressed)");
}

ncclResult_t RankAndSize(ncclComm* comm, int* rank, int* nranks, const char* fn) {
  ccResult_t r = ccCommUserRank(comm->cc, rank);
  if (r == ccSuccess) r = ccCommCount(comm->cc, nranks);
  return FromCc(r, comm, fn);
}

// Runs body between ccGroupStart and ccGroupEnd, always closing the group; returns the first error.
template <typename Body>
ncclResult_t InCcGroup(ncclComm* comm, const char* fn, Body body) {
  ccGroupStart();
  ccResult_t r = body();
  ccResult_t e = ccGroupEnd();
  return FromCc(r != ccSuccess ? r : e, comm, fn);
}

}  // namespace

NCCL_SHIM_API(ncclResult_t, AllReduce,
              (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op,
               ncclComm_t comm, cudaStream_t stream)) {
  const char* fn = "ncclAllReduce";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (WantCompressed(comm, sendbuff, recvbuff, count, datatype, op))
    return Compressed(comm, sendbuff, recvbuff, count, datatype, op, stream);
  if (comm->fwd)
    return FromReal(comm->real->AllReduce(sendbuff, recvbuff, count, datatype, op, comm->fwd, stream), comm, fn);
  ccDataType_t t;
  ccRedOp_t o;
  std::unique_ptr<char[]> scaled;
  if ((res = HostCall(comm, datatype, &t, fn, sendbuff, recvbuff)) != ncclSuccess) return res;
  if ((res = ResolveOp(comm, op, datatype, &sendbuff, count, &scaled, &o, fn)) != ncclSuccess) return res;
  return FromCc(ccAllReduce(sendbuff, recvbuff, count, t, o, comm->cc, CcStream(stream)), comm, fn);
}

NCCL_SHIM_API(ncclResult_t, Reduce,
              (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op, int root,
               ncclComm_t comm, cudaStream_t stream)) {
  const char* fn = "ncclReduce";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (comm->fwd)
    return FromReal(comm->real->Reduce(sendbuff, recvbuff, count, datatype, op, root, comm->fwd, stream), comm, fn);
  ccDataType_t t;
  ccRedOp_t o;
  std::unique_ptr<char[]> scaled;
  if ((res = HostCall(comm, datatype, &t, fn, sendbuff, recvbuff)) != ncclSuccess) return res;
  if ((res = ResolveOp(comm, op, datatype, &sendbuff, count, &scaled, &o, fn)) != ncclSuccess) return res;
  return FromCc(ccReduce(sendbuff, recvbuff, count, t, o, root, comm->cc, CcStream(stream)), comm, fn);
}

NCCL_SHIM_API(ncclResult_t, ReduceScatter,
              (const void* sendbuff, void* recvbuff, size_t recvcount, ncclDataType_t datatype, ncclRedOp_t op,
               ncclComm_t comm, cudaStream_t stream)) {
  const char* fn = "ncclReduceScatter";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (comm->fwd)
    return FromReal(comm->real->ReduceScatter(sendbuff, recvbuff, recvcount, datatype, op, comm->fwd, stream), comm, fn);
  ccDataType_t t;
  ccRedOp_t o;
  std::unique_ptr<char[]> scaled;
  int rank = 0, nranks = 0;
  if ((res = HostCall(comm, datatype, &t, fn, sendbuff, recvbuff)) != ncclSuccess) return res;
  if ((res = RankAndSize(comm, &rank, &nranks, fn)) != ncclSuccess) return res;
  if ((res = ResolveOp(comm, op, datatype, &sendbuff, recvcount * nranks, &scaled, &o, fn)) != ncclSuccess) return res;
  return FromCc(ccReduceScatter(sendbuff, recvbuff, recvcount, t, o, comm->cc, CcStream(stream)), comm, fn);
}

NCCL_SHIM_API(ncclResult_t, Broadcast,
              (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,
               cudaStream_t stream)) {
  const char* fn = "ncclBroadcast";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (comm->fwd)
    return FromReal(comm->real->Broadcast(sendbuff, recvbuff, count, datatype, root, comm->fwd, stream), comm, fn);
  ccDataType_t t;
  if ((res = HostCall(comm, datatype, &t, fn, sendbuff, recvbuff)) != ncclSuccess) return res;
  return FromCc(ccBroadcast(sendbuff, recvbuff, count, t, root, comm->cc, CcStream(stream)), comm, fn);
}

NCCL_SHIM_API(ncclResult_t, Bcast,
              (void* buff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream)) {
  return pncclBroadcast(buff, buff, count, datatype, root, comm, stream);
}

NCCL_SHIM_API(ncclResult_t, AllGather,
              (const void* sendbuff, void* recvbuff, size_t sendcount, ncclDataType_t datatype, ncclComm_t comm,
               cudaStream_t stream)) {
  const char* fn = "ncclAllGather";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (comm->fwd)
    return FromReal(comm->real->AllGather(sendbuff, recvbuff, sendcount, datatype, comm->fwd, stream), comm, fn);
  ccDataType_t t;
  if ((res = HostCall(comm, datatype, &t, fn, sendbuff, recvbuff)) != ncclSuccess) return res;
  return FromCc(ccAllGather(sendbuff, recvbuff, sendcount, t, comm->cc, CcStream(stream)), comm, fn);
}

NCCL_SHIM_API(ncclResult_t, AlltoAll,
              (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, ncclComm_t comm,
               cudaStream_t stream)) {
  const char* fn = "ncclAlltoAll";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (comm->fwd) {
    if (!comm->real->AlltoAll) return Fail(comm, ncclInvalidUsage, "%s: the forwarded NCCL does not have it", fn);
    return FromReal(comm->real->AlltoAll(sendbuff, recvbuff, count, datatype, comm->fwd, stream), comm, fn);
  }
  ccDataType_t t;
  if ((res = HostCall(comm, datatype, &t, fn, sendbuff, recvbuff)) != ncclSuccess) return res;
  return FromCc(ccAlltoAll(sendbuff, recvbuff, count, t, comm->cc, CcStream(stream)), comm, fn);
}

// Gather and Scatter: nranks point-to-point transfers in one group, the root's own block included (as a
// send to itself, allowed inside a group) unless the call is in place. `mine` is this rank's block (the
// gather's input, the scatter's output); `blocks` holds the root's nranks blocks.
static ncclResult_t RootedBlocks(ncclComm_t comm, const char* fn, bool gather, const void* sendbuff, void* recvbuff,
                                 size_t count, ncclDataType_t datatype, int root, cudaStream_t stream) {
  ccDataType_t t;
  int rank = 0, nranks = 0;
  ncclResult_t res;
  if ((res = HostCall(comm, datatype, &t, fn, sendbuff, recvbuff)) != ncclSuccess) return res;
  if ((res = RankAndSize(comm, &rank, &nranks, fn)) != ncclSuccess) return res;
  if (root < 0 || root >= nranks) return Fail(comm, ncclInvalidArgument, "%s: root %d out of range [0, %d)", fn, root, nranks);
  char* blocks = static_cast<char*>(gather ? recvbuff : const_cast<void*>(sendbuff));
  char* mine = static_cast<char*>(gather ? const_cast<void*>(sendbuff) : recvbuff);
  if (rank == root && count && !blocks)
    return Fail(comm, ncclInvalidArgument, "%s: %s is NULL on the root", fn, gather ? "recvbuff" : "sendbuff");
  size_t bytes = count * TypeBytes(datatype);
  ccStream_t s = CcStream(stream);
  return InCcGroup(comm, fn, [&]() -> ccResult_t {
    if (rank != root)
      return gather ? ccSend(mine, count, t, root, comm->cc, s) : ccRecv(mine, count, t, root, comm->cc, s);
    ccResult_t r = ccSuccess;
    for (int p = 0; p < nranks && r == ccSuccess; ++p) {
      char* block = blocks + p * bytes;
      if (p != root) {
        r = gather ? ccRecv(block, count, t, p, comm->cc, s) : ccSend(block, count, t, p, comm->cc, s);
      } else if (mine != block) {  // the root's own block, unless in place
        r = ccSend(gather ? mine : block, count, t, root, comm->cc, s);
        if (r == ccSuccess) r = ccRecv(gather ? block : mine, count, t, root, comm->cc, s);
      }
    }
    return r;
  });
}

NCCL_SHIM_API(ncclResult_t, Gather,
              (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,
               cudaStream_t stream)) {
  const char* fn = "ncclGather";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (comm->fwd) {
    if (!comm->real->Gather) return Fail(comm, ncclInvalidUsage, "%s: the forwarded NCCL does not have it", fn);
    return FromReal(comm->real->Gather(sendbuff, recvbuff, count, datatype, root, comm->fwd, stream), comm, fn);
  }
  return RootedBlocks(comm, fn, true, sendbuff, recvbuff, count, datatype, root, stream);
}

NCCL_SHIM_API(ncclResult_t, Scatter,
              (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,
               cudaStream_t stream)) {
  const char* fn = "ncclScatter";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (comm->fwd) {
    if (!comm->real->Scatter) return Fail(comm, ncclInvalidUsage, "%s: the forwarded NCCL does not have it", fn);
    return FromReal(comm->real->Scatter(sendbuff, recvbuff, count, datatype, root, comm->fwd, stream), comm, fn);
  }
  return RootedBlocks(comm, fn, false, sendbuff, recvbuff, count, datatype, root, stream);
}

NCCL_SHIM_API(ncclResult_t, Send,
              (const void* sendbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
               cudaStream_t stream)) {
  const char* fn = "ncclSend";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (comm->fwd) return FromReal(comm->real->Send(sendbuff, count, datatype, peer, comm->fwd, stream), comm, fn);
  ccDataType_t t;
  if ((res = HostCall(comm, datatype, &t, fn, sendbuff, nullptr)) != ncclSuccess) return res;
  return FromCc(ccSend(sendbuff, count, t, peer, comm->cc, CcStream(stream)), comm, fn);
}

NCCL_SHIM_API(ncclResult_t, Recv,
              (void* recvbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm, cudaStream_t stream)) {
  const char* fn = "ncclRecv";
  ncclResult_t res = CheckComm(comm, fn);
  if (res != ncclSuccess) return res;
  if (comm->fwd) return FromReal(comm->real->Recv(recvbuff, count, datatype, peer, comm->fwd, stream), comm, fn);
  ccDataType_t t;
  if ((res = HostCall(comm, datatype, &t, fn, recvbuff, nullptr)) != ncclSuccess) return res;
  return FromCc(ccRecv(recvbuff, count, t, peer, comm->cc, CcStream(stream)), comm, fn);
}

// ---- groups ------------------------------------------------------------------------------------------

NCCL_SHIM_API(ncclResult_t, GroupStart, (void)) {
  const RealNccl* real = LoadedRealNccl();
  ncclResult_t res = real ? real->GroupStart() : ncclSuccess;
  GroupEnter(real && res == ncclSuccess);
  ccResult_t r = ccGroupStart();
  if (res != ncclSuccess) {
    ncclComm tmp;
    tmp.real = real;
    return FromReal(res, &tmp, "ncclGroupStart");
  }
  return FromCc(r, nullptr, "ncclGroupStart");
}

NCCL_SHIM_API(ncclResult_t, GroupEnd, (void)) {
  if (GroupDepth() == 0) return Fail(nullptr, ncclInvalidUsage, "ncclGroupEnd without a matching ncclGroupStart");
  bool realGroup = GroupLeave();
  const RealNccl* real = LoadedRealNccl();
  ncclResult_t res = ncclSuccess;
  if (realGroup && real && (res = real->GroupEnd()) != ncclSuccess && res != ncclInProgress) {
    ncclComm tmp;
    tmp.real = real;
    res = FromReal(res, &tmp, "ncclGroupEnd");
  }
  ccResult_t r = ccGroupEnd();
  if (res == ncclSuccess && r != ccSuccess) res = FromCc(r, nullptr, "ncclGroupEnd");
  if (GroupDepth() > 0) return res;
  ReleaseGroupScratch();
  std::vector<ncclComm*> pending = TakePendingForwardInits();
  if (pending.empty() || res != ncclSuccess) return res;
  for (ncclComm* c : pending)
    if (!c->cc) return Fail(nullptr, ncclInternalError, "ncclGroupEnd: a grouped ncclCommInitRank left no communicator");
  return InitForwarded(pending);
}

NCCL_SHIM_API(ncclResult_t, GroupSimulateEnd, (ncclSimInfo_t * /*simInfo*/)) {
  return Fail(nullptr, ncclInvalidUsage,
              "ncclGroupSimulateEnd is not supported by ConCCL (end the group with ncclGroupEnd)");
}
