// call.h — the envelope of every communication call: checks the communicator, counts the call as in
// flight (so abort/destroy wait for it), refuses a communicator broken by an earlier failure, runs the
// body, and on a communication failure marks the communicator broken so its peers are told.
#pragma once

#include <functional>

#include "conccl.h"

struct ccComm;

namespace conccl {

ccResult_t RunCall(ccComm* comm, const std::function<ccResult_t()>& body);

// Copies the thread's last error into comm (for ccGetLastError(comm)) when res is an error.
ccResult_t Finish(ccComm* comm, ccResult_t res);

}  // namespace conccl
