// result.cc — per-thread last-error storage (see result.h).
#include "common/result.h"

#include <cstdarg>
#include <cstdio>

namespace conccl {
namespace {
thread_local std::string tLastError;
}

ccResult_t SetError(ccResult_t code, const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  tLastError = msg;
  CC_WARN("%s", msg);
  return code;
}

const std::string& ThreadLastError() { return tLastError; }
void ClearThreadLastError() { tLastError.clear(); }

}  // namespace conccl
