// log.cc — implementation of the logging system (see log.h).
#include "common/log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "common/env.h"

namespace conccl {
namespace {

struct LogState {
  LogLevel level = kLogNone;
  uint32_t subsys = kLogInit | kLogBootstrap | kLogEnv | kLogNet | kLogShm;
  FILE* out = stderr;
  char host[64] = {0};
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

uint32_t SubsysBit(const std::string& name) {
  static const struct { const char* n; uint32_t bit; } kNames[] = {
      {"INIT", kLogInit}, {"BOOTSTRAP", kLogBootstrap}, {"NET", kLogNet}, {"SHM", kLogShm},
      {"COLL", kLogColl}, {"P2P", kLogP2p},             {"ENV", kLogEnv}, {"CALL", kLogCall},
      {"ALL", kLogAll}};
  for (auto& e : kNames)
    if (strcasecmp(e.n, name.c_str()) == 0) return e.bit;
  return 0;
}

uint32_t ParseSubsys(const std::string& spec, uint32_t dflt) {
  if (spec.empty()) return dflt;
  bool invert = spec[0] == '^';
  uint32_t mask = 0;
  size_t pos = invert ? 1 : 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    mask |= SubsysBit(spec.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return invert ? ~mask : mask;
}

// Expands %h (host) and %p (pid) in a CONCCL_DEBUG_FILE pattern.
std::string ExpandPath(const std::string& pattern, const char* host) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      char c = pattern[++i];
      if (c == 'h') { out += host; continue; }
      if (c == 'p') { out += std::to_string(getpid()); continue; }
      out += '%';
    }
    out += pattern[i];
  }
  return out;
}

LogState& State() {
  static LogState* state = [] {
    auto* s = new LogState();  // intentionally leaked: logging must outlive static destructors
    gethostname(s->host, sizeof(s->host) - 1);
    if (char* dot = strchr(s->host, '.')) *dot = 0;
    std::string level = EnvString("CONCCL_DEBUG");
    if (strcasecmp(level.c_str(), "WARN") == 0) s->level = kLogWarn;
    else if (strcasecmp(level.c_str(), "INFO") == 0) s->level = kLogInfo;
    else if (strcasecmp(level.c_str(), "TRACE") == 0) s->level = kLogTrace;
    if (s->level == kLogTrace) s->subsys = kLogAll;
    s->subsys = ParseSubsys(EnvString("CONCCL_DEBUG_SUBSYS"), s->subsys);
    std::string file = EnvString("CONCCL_DEBUG_FILE");
    if (!file.empty() && s->level != kLogNone) {
      if (FILE* f = fopen(ExpandPath(file, s->host).c_str(), "w")) s->out = f;
    }
    return s;
  }();
  return *state;
}

}  // namespace

LogLevel CurrentLogLevel() { return State().level; }

bool LogEnabled(LogLevel level, uint32_t subsys) {
  const LogState& s = State();
  return s.level >= level && (level == kLogWarn || (s.subsys & subsys) != 0);
}

void LogPrint(LogLevel level, uint32_t subsys, const char* file, int line, const char* fmt, ...) {
  if (!LogEnabled(level, subsys)) return;
  LogState& s = State();
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  const char* base = strrchr(file, '/');
  base = base ? base + 1 : file;
  long tid = static_cast<long>(syscall(SYS_gettid));
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (level == kLogWarn) {
    fprintf(s.out, "%s:%d:%ld ConCCL WARN %s:%d %s\n", s.host, getpid(), tid, base, line, msg);
  } else if (level == kLogInfo) {
    fprintf(s.out, "%s:%d:%ld ConCCL INFO %s\n", s.host, getpid(), tid, msg);
  } else {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s.start).count();
    fprintf(s.out, "%s:%d:%ld ConCCL TRACE %.3f %s:%d %s\n", s.host, getpid(), tid, ms, base, line, msg);
  }
  fflush(s.out);
}

}  // namespace conccl
