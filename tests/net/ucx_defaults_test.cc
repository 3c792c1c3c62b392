// ucx_defaults_test.cc — the UCX plugin's defaults for shared-memory-only UCX_TLS (plugins/ucx/net_ucx.c):
// applied when UCX_TLS names only shared-memory transports, never over a user's own setting, never for other
// transports, and consumed by UCX (it warns "invalid configurations" about a setting no transport took).
//
// The plugin reads its configuration once per process, so each case runs init() in a forked child with its own
// environment; the child reports the plugin's log lines and UCX's stderr through pipes.
//
// CONCCL_TEST_UCX_PLUGIN (a compile definition) is the path of the built plugin.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "conccl_net.h"

namespace {

int gLogFd = -1;  // the child's end of the log pipe

void PipeLogger(int level, const char* fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  n = std::min<int>(n, sizeof(line) - 2);
  line[n++] = '\n';
  (void)level;
  if (write(gLogFd, line, n) < 0) _exit(90);
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  return out;
}

struct InitResult {
  int exitCode = -1;   // the child's: init()'s return code, or 9x for a failure before it
  std::string log;     // the plugin's log lines
  std::string stderr_; // what UCX printed
};

// Runs the plugin's init() in a child whose environment has every UCX_ variable unset, then `env` set.
InitResult InitInChild(const std::vector<std::pair<std::string, std::string>>& env) {
  InitResult r;
  int logPipe[2], errPipe[2];
  if (pipe(logPipe) != 0 || pipe(errPipe) != 0) return r;
  pid_t pid = fork();
  if (pid == 0) {
    close(logPipe[0]);
    close(errPipe[0]);
    gLogFd = logPipe[1];
    dup2(errPipe[1], STDERR_FILENO);
    dup2(errPipe[1], STDOUT_FILENO);
    std::vector<std::string> ucxVars;
    for (char** e = environ; *e; ++e)
      if (strncmp(*e, "UCX_", 4) == 0) ucxVars.emplace_back(*e, strchr(*e, '=') - *e);
    for (const auto& v : ucxVars) unsetenv(v.c_str());
    for (const auto& kv : env) setenv(kv.first.c_str(), kv.second.c_str(), 1);
    void* lib = dlopen(CONCCL_TEST_UCX_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (!lib) _exit(91);
    auto* net = static_cast<const ccNet_v1_t*>(dlsym(lib, "ccNetPlugin_v1"));
    if (!net) _exit(92);
    int rc = net->init(PipeLogger);
    fflush(stdout);
    _exit(rc);
  }
  close(logPipe[1]);
  close(errPipe[1]);
  r.log = ReadAll(logPipe[0]);
  r.stderr_ = ReadAll(errPipe[0]);
  close(logPipe[0]);
  close(errPipe[0]);
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) r.exitCode = WEXITSTATUS(status);
  return r;
}

bool Has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

TEST(UcxSharedMemoryDefaults, AppliedForSharedMemoryOnlyAndTakenByUcx) {
  for (const char* tls : {"sm", "posix,sysv,self", "posix"}) {
    InitResult r = InitInChild({{"UCX_TLS", tls}});
    ASSERT_EQ(r.exitCode, ccNetOk) << "UCX_TLS=" << tls << "\n" << r.log << r.stderr_;
    EXPECT_TRUE(Has(r.log, "RNDV_THRESH=inf by default")) << "UCX_TLS=" << tls << "\n" << r.log;
    EXPECT_TRUE(Has(r.log, "SEG_SIZE=256K by default")) << "UCX_TLS=" << tls << "\n" << r.log;
    EXPECT_FALSE(Has(r.stderr_, "invalid configuration")) << "UCX_TLS=" << tls << ": UCX ignored a default\n"
                                                          << r.stderr_;
  }
}

TEST(UcxSharedMemoryDefaults, UserSettingsWin) {
  for (const char* seg : {"UCX_POSIX_SEG_SIZE", "UCX_SYSV_SEG_SIZE", "UCX_MM_SEG_SIZE"}) {
    InitResult r = InitInChild({{"UCX_TLS", "sm"}, {"UCX_RNDV_THRESH", "32K"}, {seg, "64K"}});
    ASSERT_EQ(r.exitCode, ccNetOk) << r.log << r.stderr_;
    EXPECT_FALSE(Has(r.log, "by default")) << seg << ":\n" << r.log;
  }
  InitResult r = InitInChild({{"UCX_TLS", "sm"}, {"UCX_RNDV_THRESH", "32K"}});
  ASSERT_EQ(r.exitCode, ccNetOk) << r.log << r.stderr_;
  EXPECT_FALSE(Has(r.log, "RNDV_THRESH=inf")) << r.log;
  EXPECT_TRUE(Has(r.log, "SEG_SIZE=256K by default")) << r.log;
}

TEST(UcxSharedMemoryDefaults, NotAppliedWhenOtherTransportsMayServe) {
  for (const char* tls : {"tcp", "sm,tcp", "^tcp"}) {
    InitResult r = InitInChild({{"UCX_TLS", tls}});
    ASSERT_EQ(r.exitCode, ccNetOk) << "UCX_TLS=" << tls << "\n" << r.log << r.stderr_;
    EXPECT_FALSE(Has(r.log, "by default")) << "UCX_TLS=" << tls << "\n" << r.log;
  }
  InitResult r = InitInChild({});
  ASSERT_EQ(r.exitCode, ccNetOk) << r.log << r.stderr_;
  EXPECT_FALSE(Has(r.log, "by default")) << r.log;
}

}  // namespace
