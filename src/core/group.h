// group.h — ccGroupStart/ccGroupEnd: calls recorded per thread and run at the outermost ccGroupEnd.
//
// Contract: operations of one communicator run in call order on one thread, with consecutive sends and
// receives posted together and then waited for (so symmetric exchanges cannot deadlock); operations of
// different communicators (and grouped inits) run concurrently, one thread each, so one thread can drive
// several ranks. ccGroupEnd returns the first error.
#pragma once

#include <functional>

#include "conccl.h"

struct ccComm;

namespace conccl {

struct P2pOp {
  bool isSend;
  void* buf;
  size_t count;
  ccDataType_t type;
  int peer;
  ccStream_t stream;  // orders the staging copies of a device buffer
};

bool InGroup();
// Records a collective (or an init when comm is NULL) to run at ccGroupEnd.
void GroupAddCall(ccComm* comm, std::function<ccResult_t()> run);
void GroupAddP2p(ccComm* comm, const P2pOp& op);

ccResult_t GroupStart();
ccResult_t GroupEnd();

// Posts all operations, then waits for all; checks each message's header against the receive.
ccResult_t RunP2p(ccComm* comm, const P2pOp* ops, size_t n);

}  // namespace conccl
