/*
 * nccl_train_loop.c — a training-like loop written only against nccl.h (no ConCCL header), for the NCCL
 * ABI shim libconccl-nccl.so. It runs on host buffers, which the shim accepts and real NCCL does not.
 *
 * Usage: nccl_train_loop [NRANKS [STEPS [COUNT]]]   (defaults 4, 20, 1048576)
 * The program forks NRANKS processes; rank 0 makes the unique id and hands it to the others over pipes.
 * Each step: in-place ncclAllReduce (float sum, COUNT elements) of a gradient, an SGD update of a
 * parameter block, ncclBroadcast of the parameters from rank 0, ncclAllGather, ncclReduceScatter and a
 * grouped ncclSend/ncclRecv ring, each checked. With CONCCL_NCCL_COMPRESS set (and not codec=none) the
 * all-reduce is checked against an error bound, and its result must be bitwise identical on every rank
 * (64-bit checksums compared through an all-reduce max); otherwise every result must be exact.
 * After the loop, the other calls of the API are exercised once (Reduce, AlltoAll, Gather, Scatter,
 * Bcast, PreMulSum, Split, Register, error paths).
 *
 * Exit status: 0 success; 1 a result was wrong; 9 the unique id did not arrive; 10+r ncclCommInitRank
 * returned r; 30+r another call returned r unexpectedly; 124 the run took over 120 s.
 */
#define _POSIX_C_SOURCE 200809L /* setenv, fork, kill */
#include <nccl.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int gRank = -1;

#define CHECK_NCCL(call)                                                                               \
  do {                                                                                                 \
    ncclResult_t r_ = (call);                                                                          \
    if (r_ != ncclSuccess) {                                                                           \
      fprintf(stderr, "rank %d: %s failed: %s (%d): %s\n", gRank, #call, ncclGetErrorString(r_), (int)r_, \
              ncclGetLastError(NULL));                                                                 \
      exit(30 + (int)r_);                                                                              \
    }                                                                                                  \
  } while (0)

#define EXPECT(cond, ...)                                     \
  do {                                                        \
    if (!(cond)) {                                            \
      fprintf(stderr, "rank %d: check failed: ", gRank);      \
      fprintf(stderr, __VA_ARGS__);                           \
      fputc('\n', stderr);                                    \
      exit(1);                                                \
    }                                                         \
  } while (0)

typedef struct {
  int rank, nranks, steps;
  size_t count;
  int compressed;
} Opts;

enum { kParams = 65536, kBlock = 4096 };

static float Grad(int r, int step, size_t i) { return (float)((i * 7u + (size_t)r * 13u + (size_t)step * 5u) % 17u) - 8.0f; }

static uint64_t Checksum(const void* p, size_t bytes) {
  const unsigned char* b = (const unsigned char*)p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

/* All ranks hold the same bytes: max(h) == min(h), with min(h) computed as ~max(~h). */
static void ExpectIdentical(ncclComm_t comm, const void* buf, size_t bytes, const char* what) {
  uint64_t h[2];
  h[0] = Checksum(buf, bytes);
  h[1] = ~h[0];
  CHECK_NCCL(ncclAllReduce(h, h, 2, ncclUint64, ncclMax, comm, NULL));
  EXPECT(h[0] == ~h[1], "%s differs between ranks (checksums max %016llx min %016llx)", what,
         (unsigned long long)h[0], (unsigned long long)~h[1]);
}

static void StepAllReduce(const Opts* o, ncclComm_t comm, float* bucket, int step, double* maxErr, double* errSq,
                          double* refSq) {
  for (size_t i = 0; i < o->count; ++i) bucket[i] = Grad(o->rank, step, i);
  CHECK_NCCL(ncclAllReduce(bucket, bucket, o->count, ncclFloat, ncclSum, comm, NULL));
  for (size_t i = 0; i < o->count; ++i) {
    float exact = 0.0f;
    for (int r = 0; r < o->nranks; ++r) exact += Grad(r, step, i);
    double err = fabs((double)bucket[i] - exact);
    if (!o->compressed) EXPECT(err == 0.0, "step %d allreduce[%zu] = %g, expected %g", step, i, bucket[i], exact);
    /* int8 blocks of 256: each re-quantisation errs by at most |max|/254 <= 32/254; with error feedback
       the carried residual adds as much again per rank. */
    EXPECT(err <= 1.0, "step %d compressed allreduce[%zu] = %g, expected %g (error %g > 1.0)", step, i, bucket[i],
           exact, err);
    if (err > *maxErr) *maxErr = err;
    *errSq += err * err;
    *refSq += (double)exact * exact;
  }
  ExpectIdentical(comm, bucket, o->count * sizeof(float), "the all-reduce result");
}

static void StepOthers(const Opts* o, ncclComm_t comm, int step, const float* params, float* scratch, int* ints,
                       int* ints2) {
  int n = o->nranks, me = o->rank;
  /* Broadcast of the parameters from rank 0: identical everywhere, so equal to our own copy. */
  CHECK_NCCL(ncclBroadcast(params, scratch, kParams, ncclFloat, 0, comm, NULL));
  EXPECT(memcmp(scratch, params, kParams * sizeof(float)) == 0, "step %d: broadcast parameters differ from ours", step);
  /* AllGather of one block per rank. */
  for (int i = 0; i < kBlock; ++i) scratch[i] = (float)(me * 1000 + step + i % 97);
  CHECK_NCCL(ncclAllGather(scratch, scratch + kBlock, kBlock, ncclFloat, comm, NULL));
  for (int q = 0; q < n; ++q)
    for (int i = 0; i < kBlock; ++i)
      EXPECT(scratch[kBlock + q * kBlock + i] == (float)(q * 1000 + step + i % 97), "step %d allgather[%d][%d] = %g",
             step, q, i, scratch[kBlock + q * kBlock + i]);
  /* ReduceScatter of nranks blocks. */
  for (int j = 0; j < n * kBlock; ++j) scratch[j] = (float)(j % 11 + me + step);
  CHECK_NCCL(ncclReduceScatter(scratch, scratch + n * kBlock, kBlock, ncclFloat, ncclSum, comm, NULL));
  for (int i = 0; i < kBlock; ++i) {
    float want = 0.0f;
    for (int r = 0; r < n; ++r) want += (float)((me * kBlock + i) % 11 + r + step);
    EXPECT(scratch[n * kBlock + i] == want, "step %d reducescatter[%d] = %g, expected %g", step, i,
           scratch[n * kBlock + i], want);
  }
  /* A ring of sends and receives in one group. */
  int next = (me + 1) % n, prev = (me + n - 1) % n;
  for (int i = 0; i < kBlock; ++i) ints[i] = me * 100000 + step * 10 + i % 7;
  CHECK_NCCL(ncclGroupStart());
  CHECK_NCCL(ncclSend(ints, kBlock, ncclInt32, next, comm, NULL));
  CHECK_NCCL(ncclRecv(ints2, kBlock, ncclInt32, prev, comm, NULL));
  CHECK_NCCL(ncclGroupEnd());
  for (int i = 0; i < kBlock; ++i)
    EXPECT(ints2[i] == prev * 100000 + step * 10 + i % 7, "step %d recv[%d] = %d", step, i, ints2[i]);
}

static void ExpectError(ncclResult_t got, ncclResult_t want, const char* what, const char* needle) {
  const char* msg = ncclGetLastError(NULL);
  EXPECT(got == want, "%s returned %d, expected %d", what, (int)got, (int)want);
  EXPECT(strstr(msg, needle) != NULL, "%s: last error \"%s\" does not mention \"%s\"", what, msg, needle);
}

/* Every other call once: Reduce, AlltoAll, Gather, Scatter, Bcast, PreMulSum, Split, Register, errors. */
static void Extras(const Opts* o, ncclComm_t comm, int* a, int* b) {
  int n = o->nranks, me = o->rank, root = 1 % n, K = 1000;
  for (int i = 0; i < K; ++i) a[i] = me + i;
  CHECK_NCCL(ncclReduce(a, b, K, ncclInt32, ncclSum, root, comm, NULL));
  if (me == root)
    for (int i = 0; i < K; ++i) EXPECT(b[i] == n * i + n * (n - 1) / 2, "reduce[%d] = %d", i, b[i]);
  for (int p = 0; p < n; ++p)
    for (int i = 0; i < K; ++i) a[p * K + i] = me * 1000 + p * 10 + i % 10;
  CHECK_NCCL(ncclAlltoAll(a, b, K, ncclInt32, comm, NULL));
  for (int q = 0; q < n; ++q)
    for (int i = 0; i < K; ++i) EXPECT(b[q * K + i] == q * 1000 + me * 10 + i % 10, "alltoall[%d][%d]", q, i);
  int groot = 2 % n;
  for (int i = 0; i < K; ++i) a[i] = me * 7 + i;
  CHECK_NCCL(ncclGather(a, b, K, ncclInt32, groot, comm, NULL));
  if (me == groot)
    for (int q = 0; q < n; ++q)
      for (int i = 0; i < K; ++i) EXPECT(b[q * K + i] == q * 7 + i, "gather[%d][%d] = %d", q, i, b[q * K + i]);
  int sroot = n - 1;
  for (int q = 0; q < n; ++q)
    for (int i = 0; i < K; ++i) a[q * K + i] = q * 3 + i;
  CHECK_NCCL(ncclScatter(a, b, K, ncclInt32, sroot, comm, NULL));
  for (int i = 0; i < K; ++i) EXPECT(b[i] == me * 3 + i, "scatter[%d] = %d", i, b[i]);
  for (int i = 0; i < K; ++i) a[i] = me == root ? 5 * i : -1;
  CHECK_NCCL(ncclBcast(a, K, ncclInt32, root, comm, NULL));
  for (int i = 0; i < K; ++i) EXPECT(a[i] == 5 * i, "bcast[%d] = %d", i, a[i]);

  /* PreMulSum: sum over ranks of 0.5 * x. */
  float half = 0.5f, *fa = (float*)a, *fb = (float*)b;
  ncclRedOp_t op;
  CHECK_NCCL(ncclRedOpCreatePreMulSum(&op, &half, ncclFloat, ncclScalarHostImmediate, comm));
  EXPECT((int)op >= (int)ncclNumOps, "PreMulSum op %d < ncclNumOps", (int)op);
  for (int i = 0; i < K; ++i) fa[i] = (float)(me + 1) * (float)(i % 9);
  CHECK_NCCL(ncclAllReduce(fa, fb, K, ncclFloat, op, comm, NULL));
  for (int i = 0; i < K; ++i)
    EXPECT(fb[i] == 0.5f * (float)(n * (n + 1) / 2) * (float)(i % 9), "premulsum[%d] = %g", i, fb[i]);
  CHECK_NCCL(ncclRedOpDestroy(op, comm));
  ExpectError(ncclRedOpCreatePreMulSum(&op, &half, ncclFloat, ncclScalarDevice, comm), ncclInvalidUsage,
              "PreMulSum with a device scalar", "ncclScalarDevice");
  ExpectError(ncclAllReduce(fa, fb, K, (ncclDataType_t)10, ncclSum, comm, NULL), ncclInvalidArgument,
              "an fp8 all-reduce", "fp8 types are not supported");
  ExpectError(ncclCommInitRankScalable(NULL, n, me, 1, NULL, NULL), ncclInvalidArgument, "InitRankScalable(NULL)",
              "NULL");

  /* Split into even and odd ranks, and reduce inside each half. */
  ncclComm_t sub;
  CHECK_NCCL(ncclCommSplit(comm, me % 2, me, &sub, NULL));
  int subN = 0, subRank = -1;
  CHECK_NCCL(ncclCommCount(sub, &subN));
  CHECK_NCCL(ncclCommUserRank(sub, &subRank));
  EXPECT(subN == (n + 1 - me % 2) / 2 && subRank == me / 2, "split: rank %d of %d", subRank, subN);
  a[0] = me;
  CHECK_NCCL(ncclAllReduce(a, b, 1, ncclInt32, ncclMax, sub, NULL));
  EXPECT(b[0] == me % 2 + 2 * (subN - 1), "split max = %d", b[0]);
  CHECK_NCCL(ncclCommDestroy(sub));

  void* handle = NULL;
  CHECK_NCCL(ncclCommRegister(comm, a, K * sizeof(int), &handle));
  CHECK_NCCL(ncclCommDeregister(comm, handle));
  int dev = -1;
  ncclResult_t async = ncclInternalError;
  CHECK_NCCL(ncclCommCuDevice(comm, &dev));
  CHECK_NCCL(ncclCommGetAsyncError(comm, &async));
  EXPECT(async == ncclSuccess, "async error %d", (int)async);
}

static int CompressedMode(void) {
  const char* p = getenv("CONCCL_NCCL_COMPRESS");
  return p && *p && !strstr(p, "codec=none");
}

static int RunRank(Opts* o, ncclUniqueId id) {
  gRank = o->rank;
  ncclComm_t comm;
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.commName = "nccl_train_loop";
  ncclResult_t r = ncclCommInitRankConfig(&comm, o->nranks, id, o->rank, &config);
  if (r != ncclSuccess) {
    fprintf(stderr, "rank %d: ncclCommInitRank failed: %s (%d): %s\n", o->rank, ncclGetErrorString(r), (int)r,
            ncclGetLastError(NULL));
    return 10 + (int)r;
  }
  int n = 0, me = -1;
  CHECK_NCCL(ncclCommCount(comm, &n));
  CHECK_NCCL(ncclCommUserRank(comm, &me));
  EXPECT(n == o->nranks && me == o->rank, "comm is rank %d of %d", me, n);

  size_t scratchFloats = (size_t)(o->nranks + 1) * kBlock > kParams ? (size_t)(o->nranks + 1) * kBlock : kParams;
  float *bucket, *params, *expect, *scratch;
  int *ints, *ints2;
  CHECK_NCCL(ncclMemAlloc((void**)&bucket, o->count * sizeof(float)));
  params = calloc(kParams, sizeof(float));
  expect = calloc(kParams, sizeof(float));
  scratch = malloc(scratchFloats * sizeof(float));
  ints = malloc((size_t)o->nranks * 1000 * sizeof(int) + kBlock * sizeof(int));
  ints2 = malloc((size_t)o->nranks * 1000 * sizeof(int) + kBlock * sizeof(int));
  EXPECT(params && expect && scratch && ints && ints2, "out of memory");
  size_t nParams = o->count < kParams ? o->count : kParams;
  const float lr = 1.0f / 1024.0f;
  double maxErr = 0.0, errSq = 0.0, refSq = 0.0;
  for (int step = 0; step < o->steps; ++step) {
    StepAllReduce(o, comm, bucket, step, &maxErr, &errSq, &refSq);
    for (size_t i = 0; i < nParams; ++i) {
      float exact = 0.0f;
      for (int q = 0; q < n; ++q) exact += Grad(q, step, i);
      params[i] -= lr * bucket[i] / (float)n;
      expect[i] -= lr * exact / (float)n;
    }
    if (!o->compressed) EXPECT(memcmp(params, expect, kParams * sizeof(float)) == 0, "step %d: parameters drifted", step);
    StepOthers(o, comm, step, params, scratch, ints, ints2);
  }
  ExpectIdentical(comm, params, kParams * sizeof(float), "the parameters");
  double relRms = refSq > 0 ? sqrt(errSq / refSq) : 0.0;
  if (o->compressed) EXPECT(relRms < 0.03, "compressed all-reduce relative rms error %g >= 0.03", relRms);
  Extras(o, comm, ints, ints2);
  CHECK_NCCL(ncclCommFinalize(comm));
  CHECK_NCCL(ncclCommDestroy(comm));
  CHECK_NCCL(ncclMemFree(bucket));
  if (o->rank == 0)
    printf("nccl_train_loop: OK nranks %d steps %d count %zu %s max_err %.4g rel_rms %.4g\n", o->nranks, o->steps,
           o->count, o->compressed ? "compressed" : "exact", maxErr, relRms);
  free(params), free(expect), free(scratch), free(ints), free(ints2);
  return 0;
}

/* Waits for every rank; the first failure kills the others. */
static int WaitAll(pid_t* pids, int n) {
  int status = 0, left = n, first = 0;
  while (left > 0) {
    int st;
    pid_t p = wait(&st);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;
    }
    --left;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (code != 0 && !first) {
      first = 1;
      status = code;
      for (int i = 0; i < n; ++i)
        if (pids[i] > 0 && pids[i] != p) kill(pids[i], SIGKILL);
    }
  }
  return status;
}

static pid_t gPids[64];
static int gNumPids;

static void OnAlarm(int sig) {
  (void)sig;
  static const char msg[] = "nccl_train_loop: timed out after 120 s\n";
  if (write(2, msg, sizeof(msg) - 1) < 0) { /* nothing to do */ }
  for (int i = 0; i < gNumPids; ++i)
    if (gPids[i] > 0) kill(gPids[i], SIGKILL);
  _exit(124);
}

int main(int argc, char** argv) {
  Opts o = {0, argc > 1 ? atoi(argv[1]) : 4, argc > 2 ? atoi(argv[2]) : 20,
            argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : (size_t)1 << 20, CompressedMode()};
  if (o.nranks < 2 || o.nranks > 64 || o.steps < 1 || o.count < 1) {
    fprintf(stderr, "usage: %s [NRANKS (2..64) [STEPS [COUNT]]]\n", argv[0]);
    return 2;
  }
  int version = 0;
  CHECK_NCCL(ncclGetVersion(&version));
  EXPECT(version >= 22800, "ncclGetVersion = %d", version);
  int fds[64][2];
  for (int r = 1; r < o.nranks; ++r)
    if (pipe(fds[r]) != 0) return perror("pipe"), 2;
  fflush(stdout);
  pid_t* pids = gPids;
  for (int r = 0; r < o.nranks; ++r) {
    pids[r] = fork();
    gNumPids = r + 1;
    if (pids[r] < 0) return perror("fork"), 2;
    if (pids[r] > 0) continue;
    o.rank = r;
    gRank = r;
    ncclUniqueId id;
    if (r == 0) {
      CHECK_NCCL(ncclGetUniqueId(&id));
      for (int q = 1; q < o.nranks; ++q)
        if (write(fds[q][1], &id, sizeof(id)) != (ssize_t)sizeof(id)) _exit(9);
    } else if (read(fds[r][0], &id, sizeof(id)) != (ssize_t)sizeof(id)) {
      fprintf(stderr, "rank %d: no unique id from rank 0\n", r);
      _exit(9);
    }
    for (int q = 1; q < o.nranks; ++q) close(fds[q][0]), close(fds[q][1]);
    int rc = RunRank(&o, id);
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }
  for (int q = 1; q < o.nranks; ++q) close(fds[q][0]), close(fds[q][1]);
  signal(SIGALRM, OnAlarm);
  alarm(120);
  return WaitAll(pids, o.nranks);
}
