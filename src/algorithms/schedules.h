// schedules.h — the collective schedules over Links. Each takes host buffers, assumes its arguments
// were validated and the operation header was checked, and returns when this rank's part is done.
//
// Partition rule shared by ring schedules: `count` elements split into nranks segments; segment i has
// count/nranks elements, plus one for i < count % nranks. Segments are streamed in chunks of
// Links::ChunkBytes() (rounded down to whole elements, at least one).
#pragma once

#include <cstddef>

#include "algorithms/links.h"
#include "conccl.h"

namespace conccl {

// Ring all-reduce: reduce-scatter then all-gather, pipelined in chunks, channel kChanRing.
ccResult_t RingAllReduce(Links& links, const void* sendbuff, void* recvbuff, size_t count, ccDataType_t type,
                         ccRedOp_t op);

// Double binary tree all-reduce: two trees (rank r at position r, and mirrored at nranks-1-r), each
// reducing up and broadcasting down half of the data, pipelined in chunks, channels kChanTree0/1.
ccResult_t TreeAllReduce(Links& links, const void* sendbuff, void* recvbuff, size_t count, ccDataType_t type,
                         ccRedOp_t op);

// Pipelined chain broadcast from root along ranks root, root+1, ... (channel kChanChain).
ccResult_t ChainBroadcast(Links& links, const void* sendbuff, void* recvbuff, size_t bytes, int root);

// Pipelined chain reduce toward root along root+1, root+2, ..., root (channel kChanChain).
ccResult_t ChainReduce(Links& links, const void* sendbuff, void* recvbuff, size_t count, ccDataType_t type,
                       ccRedOp_t op, int root);

// Ring all-gather of sendcount elements per rank (channel kChanRing).
ccResult_t RingAllGather(Links& links, const void* sendbuff, void* recvbuff, size_t bytesPerRank);

// Ring reduce-scatter: recvbuff = op over ranks of sendbuff[rank*recvcount ...] (channel kChanRing).
ccResult_t RingReduceScatter(Links& links, const void* sendbuff, void* recvbuff, size_t recvcount, ccDataType_t type,
                             ccRedOp_t op);

// Pairwise exchange: every rank sends block p to rank p (channel kChanP2p).
ccResult_t AlltoAllExchange(Links& links, const void* sendbuff, void* recvbuff, size_t bytesPerRank);

}  // namespace conccl
