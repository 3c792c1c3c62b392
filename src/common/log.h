// log.h — the one logging system: CONCCL_DEBUG (WARN|INFO|TRACE), CONCCL_DEBUG_SUBSYS, CONCCL_DEBUG_FILE.
//
// Line format (like NCCL's): "host:pid:tid ConCCL LEVEL [SUBSYS] message". WARN lines always print when
// CONCCL_DEBUG is WARN or higher; INFO/TRACE lines print when their subsystem is enabled.
#pragma once

#include <cstdint>

namespace conccl {

enum LogLevel { kLogNone = 0, kLogWarn = 1, kLogInfo = 2, kLogTrace = 3 };

// Subsystem bits for CONCCL_DEBUG_SUBSYS (comma list, "^" negates, "ALL").
enum LogSubsys : uint32_t {
  kLogInit = 1u << 0,
  kLogBootstrap = 1u << 1,
  kLogNet = 1u << 2,
  kLogShm = 1u << 3,
  kLogColl = 1u << 4,
  kLogP2p = 1u << 5,
  kLogEnv = 1u << 6,
  kLogCall = 1u << 7,
  kLogAll = ~0u,
};

// Current level, read once from the environment.
LogLevel CurrentLogLevel();
bool LogEnabled(LogLevel level, uint32_t subsys);
void LogPrint(LogLevel level, uint32_t subsys, const char* file, int line, const char* fmt, ...)
    __attribute__((format(printf, 5, 6)));

}  // namespace conccl

#define CC_WARN(...) ::conccl::LogPrint(::conccl::kLogWarn, ::conccl::kLogAll, __FILE__, __LINE__, __VA_ARGS__)
#define CC_INFO(sub, ...)                                                               \
  do {                                                                                  \
    if (::conccl::LogEnabled(::conccl::kLogInfo, sub))                                  \
      ::conccl::LogPrint(::conccl::kLogInfo, sub, __FILE__, __LINE__, __VA_ARGS__);     \
  } while (0)
#define CC_TRACE(sub, ...)                                                              \
  do {                                                                                  \
    if (::conccl::LogEnabled(::conccl::kLogTrace, sub))                                 \
      ::conccl::LogPrint(::conccl::kLogTrace, sub, __FILE__, __LINE__, __VA_ARGS__);    \
  } while (0)
