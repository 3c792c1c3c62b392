// result.h — result codes, error recording and the CC_CHECK propagation macros.
//
// Contract: a failing internal function returns a ccResult_t != ccSuccess after calling SetError (once,
// at the place that knows why); callers propagate with CC_CHECK, which adds a TRACE line per frame.
// The message is kept per thread and copied into the communicator at the API boundary.
#pragma once

#include <string>

#include "conccl.h"
#include "common/log.h"

namespace conccl {

// Records `msg` as the calling thread's last error and logs it at WARN. Returns `code` for chaining.
ccResult_t SetError(ccResult_t code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// The calling thread's last error message ("" if none).
const std::string& ThreadLastError();
void ClearThreadLastError();

}  // namespace conccl

#define CC_CHECK(call)                                                                   \
  do {                                                                                   \
    ccResult_t cc_res_ = (call);                                                         \
    if (cc_res_ != ccSuccess) {                                                          \
      CC_TRACE(::conccl::kLogCall, "%s:%d -> %d", __FILE__, __LINE__, (int)cc_res_);     \
      return cc_res_;                                                                    \
    }                                                                                    \
  } while (0)

// Checks a condition that an argument must satisfy; fails with ccInvalidArgument and a message.
#define CC_CHECK_ARG(cond, ...)                                                          \
  do {                                                                                   \
    if (!(cond)) return ::conccl::SetError(ccInvalidArgument, __VA_ARGS__);              \
  } while (0)
