// driver.cc — process-level part of the perf tools: flags, how ranks are created (threads, or one process
// per rank under a launcher through ccCommInitFromEnv), failure handling, -T timeouts, exit status.
#include "driver.h"
#include "mpi_bootstrap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <thread>

#include "rank.h"

namespace ccperf {

void AbortAll(Shared* sh) {
  for (RankCtx* c : sh->ranks) {
    bool abort = false;
    {
      std::lock_guard<std::mutex> g(c->mu);
      if (c->comm != nullptr && (c->state == kIdle || c->state == kInCall)) {
        c->state = kAborted;
        abort = true;
      }
    }
    // Outside the lock: the owner may be blocked in a call on this communicator; the abort wakes it.
    if (abort) ccCommAbort(c->comm);
  }
}

void ReportFailure(RankCtx* c, const char* what, const char* file, int line, ccResult_t r, const std::string& msg) {
  if (!c->sh->failed.exchange(true)) {
    if (c->sh->progress) fputs("\r\033[K", stderr);  // the message replaces the progress line
    fprintf(stderr, "%s: Test ConCCL failure %s:%d '%s : %s' (rank %d, %s)\n", c->sh->host.c_str(), FileBase(file), line,
            ccGetErrorString(r), msg.c_str(), c->rank, what);
    fflush(stderr);
  }
  AbortAll(c->sh);
}

namespace {

std::string Basename(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  char* dot = strchr(buf, '.');
  if (dot != nullptr) *dot = '\0';
  return buf;
}

// -T: aborts every rank of the process when one library call has run longer than the limit.
class Watchdog {
 public:
  Watchdog(Shared* sh, int seconds) : sh_(sh), seconds_(seconds) {
    if (seconds_ > 0) thread_ = std::thread([this] { Loop(); });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stop_) {
      cv_.wait_for(lk, std::chrono::milliseconds(100));
      if (!stop_ && Scan()) return;
    }
  }
  bool Scan() {
    const Clock::time_point now = Clock::now();
    for (RankCtx* c : sh_->ranks) {
      std::string file;
      int line = 0;
      {
        std::lock_guard<std::mutex> g(c->mu);
        if (c->state != kInCall || now - c->callStart < std::chrono::seconds(seconds_)) continue;
        file = FileBase(c->callFile);
        line = c->callLine;
      }
      if (!sh_->failed.exchange(true)) {
        if (sh_->progress) fputs("\r\033[K", stderr);
        fprintf(stderr, "%s: Test timeout (%ds) %s:%d (rank %d)\n", sh_->host.c_str(), seconds_, file.c_str(), line,
                c->rank);
        fflush(stderr);
      }
      AbortAll(sh_);
      return true;
    }
    return false;
  }
  Shared* sh_;
  int seconds_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// One rank: joins the communicator (unless given one), runs the sweeps, tears down.
int RankThread(RankCtx* c, const ccUniqueId& id, ccComm_t given) {
  Shared* sh = c->sh;
  int code = 0;
  try {
    ccComm_t comm = given;
    if (comm == nullptr) {
      const ccResult_t r = ccCommInitRank(&comm, sh->nranks, id, c->rank);
      if (r != ccSuccess) {
        ReportFailure(c, "ccCommInitRank", __FILE__, __LINE__, r, ccGetLastError(nullptr));
        return 3;
      }
    }
    bool abortNow = false;
    {
      std::lock_guard<std::mutex> g(c->mu);
      c->comm = comm;
      if (sh->failed) {  // a sibling failed while this rank was joining
        c->state = kAborted;
        abortNow = true;
      }
    }
    if (abortNow) {
      ccCommAbort(comm);
      return 3;
    }
    code = RunRank(c);
  } catch (const RankFailure&) {
    code = 3;
  }
  free(c->sendBase);
  free(c->recvBase);
  bool destroy = false;
  {
    std::lock_guard<std::mutex> g(c->mu);
    if (c->comm != nullptr && c->state == kIdle) {
      c->state = kDestroyed;
      destroy = true;
    }
  }
  if (destroy && given == nullptr) {  // a given communicator belongs to Main
    ccCommFinalize(c->comm);
    ccCommDestroy(c->comm);
  }
  return code;
}

int Fail(const Shared& sh, const char* what, ccResult_t r) {
  fprintf(stderr, "%s: Test ConCCL failure %s '%s : %s'\n", sh.host.c_str(), what, ccGetErrorString(r),
          ccGetLastError(nullptr));
  return 3;
}

}  // namespace

int Main(int argc, char** argv, const CollTest& test, CompressedRunFn compressed) {
  setlinebuf(stdout);
  Shared sh;
  sh.test = &test;
  sh.compressed = compressed;
  sh.prog = Basename(argv[0]);
  sh.host = HostName();
  std::string error;
  switch (ParseOptions(argc, argv, &sh.opt, &error, compressed != nullptr)) {
    case ParseStatus::kHelp:
      PrintUsage(stdout, sh.prog.c_str(), compressed != nullptr);
      return 0;
    case ParseStatus::kError:
      fprintf(stderr, "%s: %s\n", sh.prog.c_str(), error.c_str());
      return 2;
    case ParseStatus::kOk:
      break;
  }
  if (sh.opt.codec.enabled) {
    ccCompressConfigInit(&sh.codecConfig);
    ApplyCodecOptions(sh.opt.codec, &sh.codecConfig);
  }
  const int nThreads = sh.opt.nThreads;
  ccComm_t procComm = nullptr;
  ccUniqueId id;
  memset(&id, 0, sizeof(id));
  ccResult_t r = ccSuccess;
  MpiSession mpi;
  if (LaunchedAsRank()) {
    if (mpi.Start(&procComm, &r)) {
      if (r != ccSuccess) return Fail(sh, "ccCommInitRank (MPI bootstrap)", r);
    } else if ((r = ccCommInitFromEnv(&procComm, nullptr)) != ccSuccess) {
      return Fail(sh, "ccCommInitFromEnv", r);
    }
    ccCommCount(procComm, &sh.nProcs);
    ccCommUserRank(procComm, &sh.procRank);
    if (nThreads > 1) {  // the threads of all processes join one communicator of nProcs * nThreads ranks
      if (sh.procRank == 0 && (r = ccGetUniqueId(&id)) != ccSuccess) return Fail(sh, "ccGetUniqueId", r);
      if ((r = ccBroadcast(&id, &id, sizeof(id), ccUint8, 0, procComm, nullptr)) != ccSuccess)
        return Fail(sh, "ccBroadcast(unique id)", r);
    }
  } else if ((r = ccGetUniqueId(&id)) != ccSuccess) {
    return Fail(sh, "ccGetUniqueId", r);
  }
  sh.nranks = sh.nProcs * nThreads;
  if (sh.procRank == 0 && !sh.opt.jsonFile.empty()) {
    sh.json = fopen(sh.opt.jsonFile.c_str(), "w");
    if (sh.json == nullptr) printf("# skipping json output; %s not accessible\n", sh.opt.jsonFile.c_str());
  }
  std::vector<std::unique_ptr<RankCtx>> ctxs;
  for (int i = 0; i < nThreads; i++) {
    ctxs.emplace_back(new RankCtx);
    ctxs.back()->sh = &sh;
    ctxs.back()->rank = sh.procRank * nThreads + i;
    ctxs.back()->thread = i;
    sh.ranks.push_back(ctxs.back().get());
  }
  std::vector<int> codes(static_cast<size_t>(nThreads), 0);
  {
    Watchdog watchdog(&sh, sh.opt.timeoutSec);
    ccComm_t given = nThreads == 1 ? procComm : nullptr;
    if (nThreads == 1) {
      codes[0] = RankThread(ctxs[0].get(), id, given);
    } else {
      std::vector<std::thread> threads;
      for (int i = 0; i < nThreads; i++)
        threads.emplace_back([&, i] { codes[i] = RankThread(ctxs[i].get(), id, nullptr); });
      for (std::thread& t : threads) t.join();
    }
  }
  if (procComm != nullptr) {
    bool aborted = false;
    if (nThreads == 1) {
      std::lock_guard<std::mutex> g(ctxs[0]->mu);
      aborted = ctxs[0]->state == kAborted;
    }
    if (aborted) {
      // ccCommAbort already freed it
    } else if (sh.failed) {
      ccCommAbort(procComm);
    } else {
      ccCommFinalize(procComm);
      ccCommDestroy(procComm);
    }
  }
  if (sh.json != nullptr) fclose(sh.json);
  if (sh.failed) return 3;
  return *std::max_element(codes.begin(), codes.end());
}

}  // namespace ccperf
