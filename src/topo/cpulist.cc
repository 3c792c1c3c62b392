// cpulist.cc — see cpulist.h.
#include "topo/cpulist.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace conccl {

namespace {

constexpr long kMaxCpu = 1 << 16;
constexpr int kAffinityCpus = 8192;  // size of the mask we ask the kernel for

// Reads a non-negative decimal number at text[*pos]; false when none is there or it is too large.
bool ReadNumber(const std::string& text, size_t* pos, long* value) {
  size_t start = *pos;
  long v = 0;
  while (*pos < text.size() && text[*pos] >= '0' && text[*pos] <= '9') {
    v = v * 10 + (text[*pos] - '0');
    if (v >= kMaxCpu) return false;
    ++*pos;
  }
  *value = v;
  return *pos > start;
}

}  // namespace

bool ParseCpuList(const std::string& raw, CpuList* out) {
  out->clear();
  size_t b = raw.find_first_not_of(" \t\n");
  if (b == std::string::npos) return true;
  std::string text = raw.substr(b, raw.find_last_not_of(" \t\n") - b + 1);
  CpuList cpus;
  size_t pos = 0;
  for (;;) {
    long lo = 0, hi = 0;
    if (!ReadNumber(text, &pos, &lo)) return false;
    hi = lo;
    if (pos < text.size() && text[pos] == '-') {
      ++pos;
      if (!ReadNumber(text, &pos, &hi) || hi < lo) return false;
    }
    for (long c = lo; c <= hi; ++c) cpus.push_back(static_cast<int>(c));
    if (pos == text.size()) break;
    if (text[pos] != ',') return false;
    ++pos;
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  *out = std::move(cpus);
  return true;
}

std::string FormatCpuList(const CpuList& cpus) {
  std::string text;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!text.empty()) text += ',';
    text += std::to_string(cpus[i]);
    if (j > i) text += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return text;
}

CpuList IntersectCpus(const CpuList& a, const CpuList& b) {
  CpuList both;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
  return both;
}

bool CpusSubset(const CpuList& sub, const CpuList& super) {
  return std::includes(super.begin(), super.end(), sub.begin(), sub.end());
}

namespace {

bool GetTaskCpus(pid_t task, CpuList* out) {
  out->clear();
  cpu_set_t* set = CPU_ALLOC(kAffinityCpus);
  if (!set) return false;
  size_t bytes = CPU_ALLOC_SIZE(kAffinityCpus);
  bool ok = sched_getaffinity(task, bytes, set) == 0;
  if (ok)
    for (int c = 0; c < kAffinityCpus; ++c)
      if (CPU_ISSET_S(c, bytes, set)) out->push_back(c);
  CPU_FREE(set);
  return ok;
}

}  // namespace

bool GetThreadCpus(CpuList* out) { return GetTaskCpus(0, out); }
bool GetProcessCpus(CpuList* out) { return GetTaskCpus(getpid(), out); }

bool SetThreadCpus(const CpuList& cpus) {
  if (cpus.empty() || cpus.back() >= kAffinityCpus) {
    errno = EINVAL;
    return false;
  }
  cpu_set_t* set = CPU_ALLOC(kAffinityCpus);
  if (!set) return false;
  size_t bytes = CPU_ALLOC_SIZE(kAffinityCpus);
  CPU_ZERO_S(bytes, set);
  for (int c : cpus) CPU_SET_S(c, bytes, set);
  bool ok = sched_setaffinity(0, bytes, set) == 0;
  CPU_FREE(set);
  return ok;
}

}  // namespace conccl
