// bench.cc — one rank's work: the size sweep, nccl-tests' timing loop (BenchTime), the data check, and
// (on global rank 0) the table. Ranks run the same sequence of library calls, so every cross-rank value
// (time, #wrong, the device report) travels through the library itself.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "codec_bound.h"
#include "device_mem.h"
#include "rank.h"
#include "report.h"

namespace ccperf {
namespace {

// One step of a sweep: a type, an op, a root and the element counts of the calls.
struct Step {
  ccDataType_t type;
  int op;
  int root;
  size_t ts;
  CollSizes s;
};

struct Ptrs {
  const void* send;
  void* recv;
};

Step MakeStep(const RankCtx* c, ccDataType_t type, int op, int root, size_t bytes) {
  const size_t ts = TypeSize(type);
  return Step{type, op, root, ts, GetCollSizes(c->sh->test->coll, bytes / ts, ts, c->sh->nranks)};
}

size_t StepBytes(const Step& st) { return std::max(st.s.sendCount, st.s.recvCount) * st.ts; }

bool UsesCodec(const RankCtx* c) { return c->sh->opt.codec.enabled; }

uint64_t Mix64(uint64_t z) {  // splitmix64 finaliser
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// --codec: the residual key of a step, identical on every rank and fixed across iterations and cycles, so
// error feedback carries from one timed call to the next. Check calls use their own key (fresh residual).
uint64_t CodecKey(const Step& st, bool inPlace, bool check) {
  uint64_t k = Mix64(0x636f6e636c2d7066ULL ^ st.s.paramCount);
  k = Mix64(k ^ (static_cast<uint64_t>(st.type) << 8) ^ (static_cast<uint64_t>(st.op + 1) << 16));
  k = Mix64(k ^ (inPlace ? 1u : 0u) ^ (check ? 2u : 0u));
  return k != 0 ? k : 1;
}
void Barrier(RankCtx* c) {
  int32_t v = 1;
  CCPERF_CHECK(c, ccAllReduce(&v, &v, 1, ccInt32, ccSum, c->comm, nullptr));
}

// nccl-tests' -a: the time reported is rank 0's (0), the mean (1), min (2) or max (3) over ranks.
double CombineTime(RankCtx* c, double sec) {
  double v = sec;
  const int a = c->sh->opt.average;
  if (a == 0) {
    CCPERF_CHECK(c, ccBroadcast(&v, &v, 1, ccFloat64, 0, c->comm, nullptr));
    return v;
  }
  const ccRedOp_t op = a == 2 ? ccMin : a == 3 ? ccMax : ccSum;
  CCPERF_CHECK(c, ccAllReduce(&v, &v, 1, ccFloat64, op, c->comm, nullptr));
  return a == 1 ? v / c->sh->nranks : v;
}

// Buffers move by one call's footprint per iteration (as in nccl-tests) so small sizes do not stay in cache.
Ptrs Pointers(const RankCtx* c, const Step& st, bool inPlace, int iter) {
  const size_t total = StepBytes(st);
  const size_t steps = total > 0 ? std::max<size_t>(1, c->capBytes / total) : 1;
  const size_t shift = total * (static_cast<size_t>(iter) % steps) + static_cast<size_t>(c->sh->opt.unalign) * st.ts;
  char* send = c->sendBase + shift;
  char* recv = c->recvBase + shift;
  if (!inPlace) return {send, recv};
  const size_t r = static_cast<size_t>(c->rank);
  return {recv + st.s.sendInplaceOffset * r * st.ts, recv + st.s.recvInplaceOffset * r * st.ts};
}

// -G 1: the host mirror of a device pointer into the send or recv buffer (host memory: p itself).
char* HostView(const RankCtx* c, const void* p) {
  const char* q = static_cast<const char*>(p);
  if (c->hostSend == nullptr) return const_cast<char*>(q);
  if (q >= c->recvBase && q < c->recvBase + c->allocBytes) return c->hostRecv + (q - c->recvBase);
  return c->hostSend + (q - c->sendBase);
}

// -G 1: a CUDA failure outside a library call ends the run like one.
void DeviceCheck(RankCtx* c, bool ok, const std::string& why, const char* file, int line) {
  if (ok) return;
  ReportFailure(c, "device buffers", file, line, ccUnhandledCudaError, why);
  throw RankFailure();
}

// -G 1: copies the host mirrors to the device buffers (after new input was written).
void UploadMirrors(RankCtx* c) {
  if (c->hostSend == nullptr) return;
  std::string why;
  DeviceCheck(c, DeviceCopy(c->sendBase, c->hostSend, c->allocBytes, c->stream, &why) &&
                     DeviceCopy(c->recvBase, c->hostRecv, c->allocBytes, c->stream, &why), why, __FILE__, __LINE__);
}

// -G 1: waits for the rank's stream, then copies the device results to the host mirror.
void DownloadResults(RankCtx* c) {
  if (c->hostSend == nullptr) return;
  std::string why;
  DeviceCheck(c, DeviceCopy(c->hostRecv, c->recvBase, c->allocBytes, c->stream, &why) &&
                     DeviceCopy(c->hostSend, c->sendBase, c->allocBytes, c->stream, &why), why, __FILE__, __LINE__);
}

// -G 1: waits until the rank's stream has finished the queued collectives.
void SyncStream(RankCtx* c) {
  if (c->stream == nullptr) return;
  std::string why;
  DeviceCheck(c, DeviceStreamSync(c->stream, &why), why, __FILE__, __LINE__);
}

// One call of the collective (with --codec: ccAllreduceCompressed with the step's residual key).
void StartColl(RankCtx* c, const Step& st, bool inPlace, int iter, bool checkKey = false) {
  const Ptrs p = Pointers(c, st, inPlace, iter);
  const ccRedOp_t op = st.op == kOpNone ? ccSum : static_cast<ccRedOp_t>(st.op);
  const CollTest& t = *c->sh->test;
  if (UsesCodec(c)) {
    ccCompressConfig_t cfg = c->sh->codecConfig;
    cfg.key = CodecKey(st, inPlace, checkKey);
    const CompressedRunFn run = c->sh->compressed;
    GuardedCall(c, "ccAllreduceCompressed", __FILE__, __LINE__, [&] {
      return run(p.send, p.recv, st.s.paramCount, st.type, op, &cfg, c->comm, static_cast<ccStream_t>(c->stream));
    });
    return;
  }
  GuardedCall(c, t.name, __FILE__, __LINE__, [&] {
    return t.run(p.send, p.recv, st.s.paramCount, st.type, op, st.root, c->rank, c->sh->nranks, c->comm,
                 static_cast<ccStream_t>(c->stream));
  });
}

// One timed iteration: -m calls, grouped when more than one (compressed calls cannot be grouped: they run
// back to back).
void RunIteration(RankCtx* c, const Step& st, bool inPlace, int iter) {
  const int agg = c->sh->opt.aggIters;
  const bool group = agg > 1 && !UsesCodec(c);
  if (group) CCPERF_CHECK(c, ccGroupStart());
  for (int a = 0; a < agg; a++) StartColl(c, st, inPlace, iter * agg + a);
  if (group) CCPERF_CHECK(c, ccGroupEnd());
}

// Poisons the result area, then writes this rank's input where the call will read it.
Ptrs PrepareData(RankCtx* c, const Step& st, bool inPlace, uint64_t seed) {
  const Ptrs p = Pointers(c, st, inPlace, 0);
  memset(HostView(c, p.recv), 0xff, st.s.recvCount * st.ts);
  const int fillOp = c->sh->test->usesOp ? st.op : kOpNone;
  FillInput(HostView(c, p.send), st.s.sendCount, st.type, fillOp, c->rank, 0, seed);
  UploadMirrors(c);
  return p;
}

int64_t CheckOnce(RankCtx* c, const Step& st, bool inPlace) {
  const uint64_t seed = ++c->rep;
  const Ptrs p = PrepareData(c, st, inPlace, seed);
  StartColl(c, st, inPlace, 0);
  DownloadResults(c);
  const CheckArgs args{HostView(c, p.recv), st.s.paramCount, st.type, st.op, st.root, c->rank, c->sh->nranks, seed};
  int64_t wrong = static_cast<int64_t>(c->sh->test->check(args));
  CCPERF_CHECK(c, ccAllReduce(&wrong, &wrong, 1, ccInt64, ccSum, c->comm, nullptr));
  return wrong;
}

// 64-bit hash of a buffer (word-wise splitmix), for the cross-rank identity check.
uint64_t HashBytes(const void* buf, size_t bytes) {
  const unsigned char* p = static_cast<const unsigned char*>(buf);
  uint64_t h = Mix64(bytes);
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    h = Mix64(h ^ w);
  }
  uint64_t tail = 0;
  memcpy(&tail, p + i, bytes - i);
  return Mix64(h ^ tail);
}

// Elements of recv[0..count) that are not bitwise identical on every rank (0 on every rank when they are).
int64_t CrossRankMismatches(RankCtx* c, const void* recv, size_t count, size_t ts) {
  const size_t bytes = count * ts;
  const uint64_t h = HashBytes(recv, bytes);
  uint64_t v[2] = {h, ~h};  // max of h and of ~h: all equal iff max(h) == min(h) == ~max(~h)
  CCPERF_CHECK(c, ccAllReduce(v, v, 2, ccUint64, ccMax, c->comm, nullptr));
  if (v[0] == ~v[1]) return 0;
  std::vector<unsigned char> hi(static_cast<const unsigned char*>(recv), static_cast<const unsigned char*>(recv) + bytes);
  std::vector<unsigned char> lo(hi);
  CCPERF_CHECK(c, ccAllReduce(hi.data(), hi.data(), bytes, ccUint8, ccMax, c->comm, nullptr));
  CCPERF_CHECK(c, ccAllReduce(lo.data(), lo.data(), bytes, ccUint8, ccMin, c->comm, nullptr));
  int64_t differ = 0;
  for (size_t i = 0; i < count; i++) differ += memcmp(&hi[i * ts], &lo[i * ts], ts) != 0;
  return std::max<int64_t>(differ, 1);
}

// --codec: one checked compressed call on fresh data with a fresh residual. #wrong = the elements outside
// the codec's bound (codec_bound.h) summed over ranks, plus the elements that differ between ranks;
// *nmse = the largest per-rank ||result - exact||^2 / ||exact||^2.
int64_t CheckCodecOnce(RankCtx* c, const Step& st, bool inPlace, double* nmse) {
  const uint64_t seed = ++c->rep;
  const Ptrs p = PrepareData(c, st, inPlace, seed);
  CCPERF_CHECK(c, ccCommResetResiduals(c->comm));
  StartColl(c, st, inPlace, 0, true);
  DownloadResults(c);
  const BoundParams bp = MakeBoundParams(c->sh->codecConfig, c->sh->nranks);
  const char* recv = HostView(c, p.recv);
  const CodecCheck r = CheckCompressed(recv, st.s.paramCount, st.type, st.op, c->sh->nranks, seed, bp);
  int64_t wrong = static_cast<int64_t>(r.wrong);
  CCPERF_CHECK(c, ccAllReduce(&wrong, &wrong, 1, ccInt64, ccSum, c->comm, nullptr));
  wrong += CrossRankMismatches(c, recv, st.s.paramCount, st.ts);
  double e = Nmse(r.errSq, r.refSq);
  CCPERF_CHECK(c, ccAllReduce(&e, &e, 1, ccFloat64, ccMax, c->comm, nullptr));
  *nmse = e;
  return wrong;
}

uint64_t WireBytes(RankCtx* c, const Step& st, bool inPlace) {
  ccCompressStats_t s{};
  CCPERF_CHECK(c, ccCommGetCompressStats(c->comm, CodecKey(st, inPlace, false), &s));
  return s.bytesWire;
}

// nccl-tests' BenchTime: one untimed call, a barrier, iters x agg calls timed together, the average time
// per call combined across ranks by -a, then -c check rounds on fresh data. --codec: residuals start empty
// (ccCommResetResiduals), the timed calls share one key, and ratio = this rank's bytesWire over the timed
// calls / (calls x 2(n-1)/n x size), the largest over ranks.
Cell BenchTime(RankCtx* c, const Step& st, bool inPlace) {
  const Options& o = c->sh->opt;
  const bool codec = UsesCodec(c);
  if (codec) CCPERF_CHECK(c, ccCommResetResiduals(c->comm));
  if (o.check > 0) PrepareData(c, st, inPlace, 0);
  StartColl(c, st, inPlace, 0);
  SyncStream(c);
  Barrier(c);
  const uint64_t wire0 = codec ? WireBytes(c, st, inPlace) : 0;
  double elapsed = 0;
  const Clock::time_point t0 = Clock::now();
  for (int it = 0; it < o.iters; it++) {
    const Clock::time_point ti = Clock::now();
    RunIteration(c, st, inPlace, it);
    if (o.blocking == 1 || o.blocking == 3) SyncStream(c);
    if (o.blocking == 1) Barrier(c);
    if (o.blocking == 3) {  // time excludes the barrier
      elapsed += std::chrono::duration<double>(Clock::now() - ti).count();
      Barrier(c);
    }
  }
  SyncStream(c);  // -G 1: the calls only queued their work; the time includes running it
  if (o.blocking != 3) elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const uint64_t wire1 = codec ? WireBytes(c, st, inPlace) : 0;
  const double calls = static_cast<double>(o.iters) * o.aggIters;
  const double sec = CombineTime(c, elapsed / calls);
  Cell cell;
  cell.valid = true;
  cell.timeUs = sec * 1.0e6;
  GetBw(c->sh->test->coll, st.s.paramCount, st.ts, sec, c->sh->nranks, &cell.algBw, &cell.busBw);
  cell.checked = o.check > 0;
  cell.nmse = NAN;
  cell.ratio = NAN;
  if (codec) {
    const int n = c->sh->nranks;
    const double ring = calls * 2.0 * (n - 1) / n * static_cast<double>(st.s.paramCount * st.ts);
    if (ring > 0) {  // the same on every rank
      double ratio = static_cast<double>(wire1 - wire0) / ring;
      CCPERF_CHECK(c, ccAllReduce(&ratio, &ratio, 1, ccFloat64, ccMax, c->comm, nullptr));
      cell.ratio = ratio;
    }
  }
  for (int k = 0; k < o.check; k++) {
    cell.wrong = codec ? CheckCodecOnce(c, st, inPlace, &cell.nmse) : CheckOnce(c, st, inPlace);
    if (cell.wrong != 0) break;
  }
  return cell;
}

void Account(RankCtx* c, const Cell& cell) {
  if (!cell.valid) return;
  c->bwSum += cell.busBw;
  c->bwCount++;
  if (cell.checked && cell.wrong != 0) c->errors++;
}

void PrintRow(RankCtx* c, const Step& st, const Cell& oop, const Cell& ip) {
  const CollTest& t = *c->sh->test;
  const RowKey key{StepBytes(st), st.s.paramCount, TypeName(st.type), OpName(st.op), st.root};
  const bool codec = UsesCodec(c);
  printf("%s\n", FormatRow(key, oop, ip, codec).c_str());
  fflush(stdout);
  if (c->sh->json != nullptr) {
    const ccCompressConfig_t& k = c->sh->codecConfig;
    const CodecInfo info{CodecName(k.codec), CodecBits(k), k.blockSize, static_cast<double>(k.ratio),
                         FeedbackName(k.feedback), AlgoName(k.algo)};
    fprintf(c->sh->json, "%s\n", JsonRow(t.name, c->sh->nranks, key, oop, ip, codec ? &info : nullptr).c_str());
    fflush(c->sh->json);
  }
}

// Number of sizes one sweep visits (the size loop of TimeTest), at most kMaxCounted.
int SizeCount(const Options& o) {
  constexpr int kMaxCounted = 100000000;
  int n = 0;
  for (size_t size = o.minBytes; size <= o.maxBytes && n < kMaxCounted;) {
    n++;
    const size_t next = o.stepFactor > 1 ? size * o.stepFactor : size + o.stepBytes;
    if (next <= size) break;
    size = next;
  }
  return n;
}

// The progress line (global rank 0, stderr a terminal): "[k/N] prog size bytes type op" while row k is
// measured, erased ("\r" + erase to end of line) before the row is printed, so that a table on the same
// terminal stays clean and nothing is left behind.
void ShowProgress(RankCtx* c, const Step& st) {
  if (c->rank != 0 || !c->sh->progress) return;
  Shared* sh = c->sh;
  fprintf(stderr, "\r\033[K[%d/%d] %s %zu bytes %s %s", sh->progressDone + 1, sh->progressTotal, sh->prog.c_str(),
          StepBytes(st), TypeName(st.type), OpName(st.op));
  if (st.root >= 0) fprintf(stderr, " root %d", st.root);
  fflush(stderr);
}

void ClearProgress(RankCtx* c) {
  if (c->rank != 0 || !c->sh->progress) return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
  c->sh->progressDone++;
}

// nccl-tests' TimeTest: warm up at the largest and smallest size, then sweep.
void TimeTest(RankCtx* c, ccDataType_t type, int op, int root) {
  const Options& o = c->sh->opt;
  Barrier(c);
  const Step big = MakeStep(c, type, op, root, o.maxBytes);
  for (int w = 0; w < o.warmupIters; w++) StartColl(c, big, false, w);
  const Step small = MakeStep(c, type, op, root, o.minBytes);
  for (int w = 0; w < o.warmupIters; w++) StartColl(c, small, false, w);
  for (size_t size = o.minBytes; size <= o.maxBytes;) {
    const Step st = MakeStep(c, type, op, root, size);
    ShowProgress(c, st);
    const Cell oop = BenchTime(c, st, false);
    const Cell ip = c->sh->test->inPlace ? BenchTime(c, st, true) : Cell{};
    Account(c, oop);
    Account(c, ip);
    ClearProgress(c);
    if (c->rank == 0) PrintRow(c, st, oop, ip);
    const size_t next = o.stepFactor > 1 ? size * o.stepFactor : size + o.stepBytes;
    if (next <= size) break;
    size = next;
  }
}

void PrintHeader(const Shared* sh) {
  const Options& o = sh->opt;
  int lib = 0;
  ccGetVersion(&lib);
  printf("# conccl-tests version %d.%d.%d conccl-headers=%d conccl-library=%d\n", CC_MAJOR, CC_MINOR, CC_PATCH,
         CC_VERSION_CODE, lib);
  printf("# Collective test starting: %s\n", sh->prog.c_str());
  printf("# nThread %d nGpus %d minBytes %zu maxBytes %zu step: %zu(%s) warmup iters: %d iters: %d agg iters: %d "
         "validation: %d graph: %d unalign: %d\n",
         o.nThreads, o.nGpus, o.minBytes, o.maxBytes, o.stepFactor > 1 ? o.stepFactor : o.stepBytes,
         o.stepFactor > 1 ? "factor" : "bytes", o.warmupIters, o.iters, o.aggIters, o.check, 0, o.unalign);
  if (o.codec.enabled) printf("%s\n", CodecHeaderLine(sh->codecConfig).c_str());
  if (o.blocking == 1) printf("# Blocking Enabled: wait for completion and barrier after each collective \n");
  if (o.blocking > 1) printf("# Blocking Enabled: wait for completion after each collective (no barrier) \n");
  if (o.parallelInit) printf("# Parallel Init Enabled: threads call into ccCommInitRank concurrently \n");
  if (sh->json != nullptr) printf("# Writing JSON output to %s\n", o.jsonFile.c_str());
  printf("#\n");
}

// "# Using devices": one line per rank, gathered through the library.
void DeviceReport(RankCtx* c) {
  struct Rec {
    int32_t rank;
    int32_t pid;
    char host[56];
  };
  static_assert(sizeof(Rec) == 64, "fixed record size");
  Rec mine{};
  mine.rank = c->rank;
  mine.pid = static_cast<int32_t>(getpid());
  snprintf(mine.host, sizeof(mine.host), "%s", c->sh->host.c_str());
  std::vector<Rec> all(static_cast<size_t>(c->sh->nranks));
  CCPERF_CHECK(c, ccAllGather(&mine, all.data(), sizeof(Rec), ccUint8, c->comm, nullptr));
  if (c->rank != 0) return;
  printf("# Using devices\n");
  const char* where = c->sh->opt.deviceBuffers ? "cuda" : "cpu";
  for (const Rec& r : all) printf("#  Rank %2d Group %2d Pid %6d on %10s device %s\n", r.rank, 0, r.pid, r.host, where);
}

// -G 1: device buffers, their host mirrors and the rank's stream.
void AllocateDevice(RankCtx* c, size_t total) {
  std::string why;
  bool ok = DeviceUsable(&why) && (c->stream = DeviceStreamCreate(&why)) != nullptr &&
            (c->sendBase = static_cast<char*>(DeviceAlloc(total, &why))) != nullptr &&
            (c->recvBase = static_cast<char*>(DeviceAlloc(total, &why))) != nullptr;
  if (ok) {
    c->hostSend = static_cast<char*>(calloc(1, total));
    c->hostRecv = static_cast<char*>(calloc(1, total));
    ok = c->hostSend != nullptr && c->hostRecv != nullptr;
    if (!ok) why = "cannot allocate the host mirrors";
  }
  if (ok) {
    UploadMirrors(c);
    return;
  }
  fprintf(stderr, "%s: rank %d: -G 1 (device buffers): %s\n", c->sh->host.c_str(), c->rank, why.c_str());
  c->sh->failed = true;
  AbortAll(c->sh);
  throw RankFailure();
}

void Allocate(RankCtx* c) {
  const Options& o = c->sh->opt;
  size_t cap = 64;
  for (ccDataType_t t : o.types) cap = std::max(cap, StepBytes(MakeStep(c, t, kOpNone, 0, o.maxBytes)));
  const size_t total = cap + static_cast<size_t>(o.unalign) * 8 + 64;
  c->capBytes = cap;
  c->allocBytes = total;
  if (o.deviceBuffers) {
    AllocateDevice(c, total);
    return;
  }
  void* s = nullptr;
  void* r = nullptr;
  if (posix_memalign(&s, 4096, total) != 0 || posix_memalign(&r, 4096, total) != 0) {
    free(s);
    fprintf(stderr, "%s: rank %d cannot allocate 2 x %zu bytes\n", c->sh->host.c_str(), c->rank, total);
    c->sh->failed = true;
    AbortAll(c->sh);
    throw RankFailure();
  }
  memset(s, 0, total);  // first touch by the rank's own thread
  memset(r, 0, total);
  c->sendBase = static_cast<char*>(s);
  c->recvBase = static_cast<char*>(r);
}

void FreeBuffers(RankCtx* c) {
  if (c->stream != nullptr) {
    DeviceFree(c->sendBase);
    DeviceFree(c->recvBase);
    DeviceStreamDestroy(c->stream);
    free(c->hostSend);
    free(c->hostRecv);
  } else {
    free(c->sendBase);
    free(c->recvBase);
  }
  c->sendBase = c->recvBase = c->hostSend = c->hostRecv = nullptr;
  c->stream = nullptr;
}

void PrintFooter(const RankCtx* c) {
  const double avg = c->bwCount > 0 ? c->bwSum / c->bwCount : 0.0;
  printf("# %-20s : %d %s\n", "Out of bounds values", c->errors, c->errors ? "FAILED" : "OK");
  printf("# %-20s : %g %s\n", "Avg bus bandwidth", avg, "");
  printf("#\n");
  printf("# Collective test concluded: %s\n", c->sh->prog.c_str());
  fflush(stdout);
}

}  // namespace

int RunRank(RankCtx* c) {
  const Shared* sh = c->sh;
  const Options& o = sh->opt;
  const CollTest& t = *sh->test;
  if (t.usesRoot && !o.rootAll && o.root >= sh->nranks) {
    if (c->rank == 0) fprintf(stderr, "%s: root %d is out of range for %d ranks (-r)\n", sh->prog.c_str(), o.root,
                              sh->nranks);
    return 2;
  }
  if (c->rank == 0) PrintHeader(sh);
  DeviceReport(c);
  Allocate(c);
  if (c->rank == 0) {
    printf("#\n");
    for (int l = 0; l < 3; l++) printf("%s\n", ColumnHeaderLine(l, o.codec.enabled).c_str());
    fflush(stdout);
  }
  std::vector<int> ops = t.usesOp ? o.ops : std::vector<int>{kOpNone};
  std::vector<int> roots{-1};
  if (t.usesRoot) {
    roots = {o.root};
    if (o.rootAll) {
      roots.clear();
      for (int r = 0; r < sh->nranks; r++) roots.push_back(r);
    }
  }
  if (c->rank == 0) {  // only global rank 0 touches the progress fields
    const int rows = SizeCount(o) * static_cast<int>(o.types.size() * ops.size() * roots.size());
    c->sh->progressTotal = rows * std::max(o.runCycles, 1);  // -N 0 (forever): counts each cycle
    c->sh->progress = rows > 1 && isatty(STDERR_FILENO) == 1;
  }
  for (int cycle = 0; o.runCycles == 0 || cycle < o.runCycles; cycle++) {
    if (c->rank == 0 && o.runCycles == 0) c->sh->progressDone = 0;
    for (ccDataType_t type : o.types)
      for (int op : ops)
        for (int root : roots) TimeTest(c, type, op, root);
  }
  if (c->rank == 0) PrintFooter(c);
  FreeBuffers(c);
  return c->errors != 0 ? 1 : 0;
}

}  // namespace ccperf
