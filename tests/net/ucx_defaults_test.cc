// ucx_defaults_test.cc — the UCX plugin's defaults for shared-memory-only UCX_TLS (plugins/ucx/net_ucx.c):
// applied when UCX_TLS names only shared-memory transports, never over a user's own setting, never for other
// transports, and consumed by UCX (it warns "invalid configurations" about a setting no transport took).
//
// The plugin reads its configuration once per process, so each case runs init() in a forked child with its own
// environment; the child reports the plugin's log lines and UCX's own output through a pipe.
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

int gOutFd = -1;  // the child's end of the output pipe (its stdout and stderr go there too)

// The plugin's logger in the child: one line per message, prefixed, into the same pipe as UCX's own output
// (one pipe, so that neither can fill while the parent drains the other).
void PipeLogger(int level, const char* fmt, ...) {
  (void)level;
  char line[512] = "[plugin] ";
  size_t at = strlen(line);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line + at, sizeof(line) - at - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  at = std::min(at + n, sizeof(line) - 2);
  line[at++] = '\n';
  if (write(gOutFd, line, at) < 0) _exit(90);
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  return out;
}

struct InitResult {
  int exitCode = -1;  // the child's: init()'s return code, or 9x for a failure before it
  std::string out;    // the plugin's log lines ("[plugin] ...") and whatever UCX printed
};

// Runs the plugin's init() in a child whose environment has every UCX_ variable unset, then `env` set.
InitResult InitInChild(const std::vector<std::pair<std::string, std::string>>& env) {
  InitResult r;
  int out[2];
  if (pipe(out) != 0) return r;
  pid_t pid = fork();
  if (pid == 0) {
    close(out[0]);
    gOutFd = out[1];
    dup2(out[1], STDERR_FILENO);
    dup2(out[1], STDOUT_FILENO);
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
  close(out[1]);
  r.out = ReadAll(out[0]);
  close(out[0]);
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) r.exitCode = WEXITSTATUS(status);
  return r;
}

bool Has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

TEST(UcxSharedMemoryDefaults, AppliedForSharedMemoryOnlyAndTakenByUcx) {
  for (const char* tls : {"sm", "posix,sysv,self", "posix"}) {
    InitResult r = InitInChild({{"UCX_TLS", tls}});
    ASSERT_EQ(r.exitCode, ccNetOk) << "UCX_TLS=" << tls << "\n" << r.out;
    EXPECT_TRUE(Has(r.out, "RNDV_THRESH=inf by default")) << "UCX_TLS=" << tls << "\n" << r.out;
    EXPECT_TRUE(Has(r.out, "SEG_SIZE=256K by default")) << "UCX_TLS=" << tls << "\n" << r.out;
    EXPECT_FALSE(Has(r.out, "invalid configuration")) << "UCX_TLS=" << tls << ": UCX ignored a default\n"
                                                          << r.out;
  }
}

TEST(UcxSharedMemoryDefaults, UserSettingsWin) {
  for (const char* seg : {"UCX_POSIX_SEG_SIZE", "UCX_SYSV_SEG_SIZE", "UCX_MM_SEG_SIZE"}) {
    InitResult r = InitInChild({{"UCX_TLS", "sm"}, {"UCX_RNDV_THRESH", "32K"}, {seg, "64K"}});
    ASSERT_EQ(r.exitCode, ccNetOk) << r.out;
    EXPECT_FALSE(Has(r.out, "by default")) << seg << ":\n" << r.out;
  }
  InitResult r = InitInChild({{"UCX_TLS", "sm"}, {"UCX_RNDV_THRESH", "32K"}});
  ASSERT_EQ(r.exitCode, ccNetOk) << r.out;
  EXPECT_FALSE(Has(r.out, "RNDV_THRESH=inf")) << r.out;
  EXPECT_TRUE(Has(r.out, "SEG_SIZE=256K by default")) << r.out;
}

TEST(UcxSharedMemoryDefaults, NotAppliedWhenOtherTransportsMayServe) {
  for (const char* tls : {"tcp", "sm,tcp", "^tcp"}) {
    InitResult r = InitInChild({{"UCX_TLS", tls}});
    ASSERT_EQ(r.exitCode, ccNetOk) << "UCX_TLS=" << tls << "\n" << r.out;
    EXPECT_FALSE(Has(r.out, "by default")) << "UCX_TLS=" << tls << "\n" << r.out;
  }
  InitResult r = InitInChild({});
  ASSERT_EQ(r.exitCode, ccNetOk) << r.out;
  EXPECT_FALSE(Has(r.out, "by default")) << r.out;
}

}  // namespace
