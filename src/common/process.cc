// process.cc — see process.h.
#include "common/process.h"

#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace conccl {

bool ProcessAlive(int pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (!f) return false;
  char buf[512] = {0};
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  const char* rp = strrchr(buf, ')');
  if (n == 0 || !rp || rp[1] == 0) return true;
  char state = rp[2];
  return state != 'Z' && state != 'X';
}

}  // namespace conccl
