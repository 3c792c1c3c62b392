// rank.h — driver internals shared by driver.cc (process, threads, failures) and bench.cc (timing loop).
#ifndef CONCCL_PERF_RANK_H_
#define CONCCL_PERF_RANK_H_

#include <stdio.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "driver.h"
#include "options.h"

namespace ccperf {

using Clock = std::chrono::steady_clock;

struct RankCtx;

// State of this process, shared by its rank threads.
struct Shared {
  const CollTest* test = nullptr;
  Options opt;
  std::string prog;              // basename of argv[0]
  std::string host;              // hostname
  int nProcs = 1;
  int procRank = 0;
  int nranks = 1;                // nProcs * nThreads
  std::vector<RankCtx*> ranks;   // this process's ranks
  std::atomic<bool> failed{false};
  FILE* json = nullptr;          // global rank 0 only
  CompressedRunFn compressed = nullptr;  // all_reduce_perf: issues ccAllreduceCompressed
  ccCompressConfig_t codecConfig{};      // --codec: the flags over ccCompressConfigInit (key set per call)
  // Progress line on stderr (global rank 0 only, when stderr is a terminal and a sweep has several rows).
  std::atomic<bool> progress{false};     // read by any thread that reports a failure
  int progressDone = 0;                  // rows finished in this cycle
  int progressTotal = 0;                 // rows of one cycle
};

// Thrown inside a rank thread after the failure was reported; unwinds the rank.
struct RankFailure {};

// Guards a rank's communicator against ccCommAbort from another thread: the owner never touches the
// communicator again once its state is kAborted, and the aborter only aborts communicators it moved there.
enum RankState { kIdle, kInCall, kAborted, kDestroyed };

struct RankCtx {
  Shared* sh = nullptr;
  int rank = 0;
  int thread = 0;
  ccComm_t comm = nullptr;
  std::mutex mu;
  RankState state = kIdle;
  Clock::time_point callStart;
  const char* callFile = "";
  int callLine = 0;
  // Buffers: capBytes usable bytes each, plus room for -u (allocBytes in all). With -G 1 the bases are device
  // memory, hostSend/hostRecv their host mirrors (data is written and checked there), stream the rank's.
  char* sendBase = nullptr;
  char* recvBase = nullptr;
  size_t capBytes = 0;
  size_t allocBytes = 0;
  char* hostSend = nullptr;
  char* hostRecv = nullptr;
  void* stream = nullptr;
  uint64_t rep = 0;              // check seed counter, identical on every rank
  double bwSum = 0;              // rank 0: footer average
  int bwCount = 0;
  int errors = 0;                // cells with #wrong > 0 (identical on every rank)
};

// The file name without its directories, for messages.
inline const char* FileBase(const char* path) {
  const char* base = path;
  for (const char* p = path; *p != '\0'; p++)
    if (*p == '/') base = p + 1;
  return base;
}

// Reports a failed call once per process and aborts every rank of this process.
void ReportFailure(RankCtx* c, const char* what, const char* file, int line, ccResult_t r, const std::string& msg);
// Aborts the communicators of this process's ranks (safe from any thread).
void AbortAll(Shared* sh);

template <typename F>
void GuardedCall(RankCtx* c, const char* what, const char* file, int line, F&& f) {
  {
    std::lock_guard<std::mutex> g(c->mu);
    if (c->state == kAborted) throw RankFailure();
    c->state = kInCall;
    c->callStart = Clock::now();
    c->callFile = file;
    c->callLine = line;
  }
  const ccResult_t r = f();
  std::string msg;
  {
    std::lock_guard<std::mutex> g(c->mu);
    if (c->state == kAborted) throw RankFailure();  // aborted meanwhile: the aborter has reported why
    c->state = kIdle;
    if (r != ccSuccess) msg = ccGetLastError(c->comm);
  }
  if (r != ccSuccess) {
    ReportFailure(c, what, file, line, r, msg);
    throw RankFailure();
  }
}

#define CCPERF_CHECK(ctx, expr) ::ccperf::GuardedCall((ctx), #expr, __FILE__, __LINE__, [&] { return (expr); })

// Runs every sweep of the test on one rank whose communicator is ready; returns the exit status.
int RunRank(RankCtx* c);

}  // namespace ccperf

#endif  // CONCCL_PERF_RANK_H_
