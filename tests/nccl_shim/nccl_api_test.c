/*
 * nccl_api_test.c — one process drives 4 ranks of the NCCL ABI shim the way single-process NCCL programs
 * do (ncclCommInitAll, grouped ncclCommInitRank, one thread issuing grouped calls on every communicator),
 * and checks argument and usage errors. Written against nccl.h only; host buffers (fake_cudart.c makes one
 * of them look like CUDA device memory).
 * Exit status: 0 success, 1 a check failed.
 */
#define _POSIX_C_SOURCE 200809L /* setenv, fork, kill */
#include <nccl.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 4
#define K 1000

extern const void* fakeDevicePointer; /* fake_cudart.c: reported as CUDA device memory */

#define CHECK_NCCL(call)                                                                                  \
  do {                                                                                                    \
    ncclResult_t r_ = (call);                                                                             \
    if (r_ != ncclSuccess) {                                                                              \
      fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #call, ncclGetErrorString(r_),    \
              ncclGetLastError(NULL));                                                                    \
      exit(1);                                                                                            \
    }                                                                                                     \
  } while (0)

#define EXPECT(cond, ...)                                        \
  do {                                                           \
    if (!(cond)) {                                               \
      fprintf(stderr, "%s:%d: check failed: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                              \
      fputc('\n', stderr);                                       \
      exit(1);                                                   \
    }                                                            \
  } while (0)

static void ExpectResult(ncclResult_t got, ncclResult_t want, const char* what, const char* needle) {
  const char* msg = ncclGetLastError(NULL);
  EXPECT(got == want, "%s returned %d (%s), expected %d", what, (int)got, msg, (int)want);
  EXPECT(strstr(msg, needle) != NULL, "%s: last error \"%s\" does not mention \"%s\"", what, msg, needle);
}

static uint16_t HalfOf(float f) { /* exact for the small values used here */
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) == 0) return (uint16_t)(x >> 16);
  return (uint16_t)(((x >> 16) & 0x8000) | ((((x >> 23) & 0xff) - 112) << 10) | ((x >> 13) & 0x3ff));
}

/* Collectives from one thread over N communicators, in groups. */
static void GroupedCalls(ncclComm_t* comms) {
  static float f[N][N * K], g[N][N * K];
  static uint16_t h[N][K], ho[N][K];
  CHECK_NCCL(ncclGroupStart());
  for (int r = 0; r < N; ++r) {
    for (int i = 0; i < K; ++i) f[r][i] = (float)(r + 1) * (float)(i % 5);
    CHECK_NCCL(ncclAllReduce(f[r], g[r], K, ncclFloat, ncclSum, comms[r], NULL));
  }
  CHECK_NCCL(ncclGroupEnd());
  for (int r = 0; r < N; ++r)
    for (int i = 0; i < K; ++i) EXPECT(g[r][i] == 10.0f * (float)(i % 5), "grouped allreduce[%d][%d] = %g", r, i, g[r][i]);

  /* PreMulSum in half precision inside a group: the prescaled copies must live until ncclGroupEnd. */
  ncclRedOp_t ops[N];
  uint16_t quarter = HalfOf(0.25f);
  for (int r = 0; r < N; ++r) CHECK_NCCL(ncclRedOpCreatePreMulSum(&ops[r], &quarter, ncclHalf, ncclScalarHostImmediate, comms[r]));
  CHECK_NCCL(ncclGroupStart());
  for (int r = 0; r < N; ++r) {
    for (int i = 0; i < K; ++i) h[r][i] = HalfOf((float)(r + 1) * (float)(i % 8));
    CHECK_NCCL(ncclAllReduce(h[r], ho[r], K, ncclHalf, ops[r], comms[r], NULL));
  }
  CHECK_NCCL(ncclGroupEnd());
  for (int r = 0; r < N; ++r)
    for (int i = 0; i < K; ++i) EXPECT(ho[r][i] == HalfOf(2.5f * (float)(i % 8)), "half premulsum[%d][%d] = 0x%04x", r, i, ho[r][i]);
  ExpectResult(ncclAllReduce(f[0], g[0], K, ncclFloat, ops[0], comms[0], NULL), ncclInvalidArgument,
               "a half PreMulSum op on floats", "float16");
  for (int r = 0; r < N; ++r) CHECK_NCCL(ncclRedOpDestroy(ops[r], comms[r]));
  ExpectResult(ncclRedOpDestroy(ops[0], comms[0]), ncclInvalidArgument, "destroying an op twice", "ncclRedOpCreatePreMulSum");

  /* ReduceScatter with a float PreMulSum; Gather and Scatter in place. */
  float third = 3.0f;
  for (int r = 0; r < N; ++r) CHECK_NCCL(ncclRedOpCreatePreMulSum(&ops[r], &third, ncclFloat, ncclScalarHostImmediate, comms[r]));
  CHECK_NCCL(ncclGroupStart());
  for (int r = 0; r < N; ++r) {
    for (int j = 0; j < N * K; ++j) f[r][j] = (float)(j % 13);
    CHECK_NCCL(ncclReduceScatter(f[r], g[r], K, ncclFloat, ops[r], comms[r], NULL));
  }
  CHECK_NCCL(ncclGroupEnd());
  for (int r = 0; r < N; ++r)
    for (int i = 0; i < K; ++i)
      EXPECT(g[r][i] == 3.0f * N * (float)((r * K + i) % 13), "premulsum reducescatter[%d][%d] = %g", r, i, g[r][i]);
  for (int r = 0; r < N; ++r) CHECK_NCCL(ncclRedOpDestroy(ops[r], comms[r]));
  int root = 2;
  CHECK_NCCL(ncclGroupStart());
  for (int r = 0; r < N; ++r) {
    for (int i = 0; i < K; ++i) g[r][r * K + i] = (float)(r * 100 + i % 3);  /* in place: recvbuff + rank*count */
    CHECK_NCCL(ncclGather(g[r] + r * K, g[r], K, ncclFloat, root, comms[r], NULL));
  }
  CHECK_NCCL(ncclGroupEnd());
  for (int q = 0; q < N; ++q)
    for (int i = 0; i < K; ++i) EXPECT(g[root][q * K + i] == (float)(q * 100 + i % 3), "gather in place[%d][%d]", q, i);
  CHECK_NCCL(ncclGroupStart());
  for (int r = 0; r < N; ++r) {
    for (int j = 0; j < N * K; ++j) f[r][j] = r == root ? (float)(j / K * 7 + j % 2) : -1.0f;
    CHECK_NCCL(ncclScatter(f[r], r == root ? f[r] + root * K : g[r], K, ncclFloat, root, comms[r], NULL));
  }
  CHECK_NCCL(ncclGroupEnd());
  for (int r = 0; r < N; ++r) {
    const float* got = r == root ? f[r] + root * K : g[r];
    for (int i = 0; i < K; ++i) EXPECT(got[i] == (float)(r * 7 + i % 2), "scatter[%d][%d] = %g", r, i, got[i]);
  }
}

typedef struct {
  ncclComm_t comm;
  float* buf;
  size_t count;
  ncclResult_t res;
} ThreadArg;

static void* CompressedThread(void* p) {
  ThreadArg* a = (ThreadArg*)p;
  a->res = ncclAllReduce(a->buf, a->buf, a->count, ncclFloat, ncclAvg, a->comm, NULL);
  return NULL;
}

/* With a policy: grouped all-reduces stay exact; concurrent ones from threads are compressed. */
static void PolicyCalls(ncclComm_t* comms) {
  enum { C = 8192 };
  static float b[N][C];
  CHECK_NCCL(ncclGroupStart());
  for (int r = 0; r < N; ++r) {
    for (int i = 0; i < C; ++i) b[r][i] = (float)(r + i % 3);
    CHECK_NCCL(ncclAllReduce(b[r], b[r], C, ncclFloat, ncclSum, comms[r], NULL));
  }
  CHECK_NCCL(ncclGroupEnd());
  for (int r = 0; r < N; ++r)
    for (int i = 0; i < C; ++i) EXPECT(b[r][i] == (float)(6 + 4 * (i % 3)), "grouped allreduce with a policy [%d][%d] = %g", r, i, b[r][i]);
  pthread_t t[N];
  ThreadArg args[N];
  for (int r = 0; r < N; ++r) {
    for (int i = 0; i < C; ++i) b[r][i] = (float)(r + 1) * 0.37f * (float)(i % 11 - 5);
    args[r] = (ThreadArg){comms[r], b[r], C, ncclInternalError};
    pthread_create(&t[r], NULL, CompressedThread, &args[r]);
  }
  for (int r = 0; r < N; ++r) pthread_join(t[r], NULL);
  for (int r = 0; r < N; ++r) CHECK_NCCL(args[r].res);
  for (int i = 0; i < C; ++i) {
    float exact = 2.5f * 0.37f * (float)(i % 11 - 5);
    EXPECT(b[0][i] > exact - 0.1f && b[0][i] < exact + 0.1f, "compressed avg[%d] = %g, expected about %g", i, b[0][i], exact);
  }
  for (int r = 1; r < N; ++r) EXPECT(memcmp(b[r], b[0], sizeof(b[0])) == 0, "compressed result of rank %d differs", r);
}

static void Errors(void) {
  ncclComm_t comm = NULL;
  ncclUniqueId id;
  CHECK_NCCL(ncclGetUniqueId(&id));
  ExpectResult(ncclGroupEnd(), ncclInvalidUsage, "ncclGroupEnd without start", "ncclGroupStart");
  ncclConfig_t bad = NCCL_CONFIG_INITIALIZER;
  bad.magic = 0x1234;
  ExpectResult(ncclCommInitRankConfig(&comm, 1, id, 0, &bad), ncclInvalidArgument, "a config with a bad magic", "NCCL_CONFIG_INITIALIZER");
  ncclConfig_t ib = NCCL_CONFIG_INITIALIZER;
  ib.netName = "IB";
  ExpectResult(ncclCommInitRankConfig(&comm, 1, id, 0, &ib), ncclInvalidArgument, "netName IB", "'IB'");
  ncclUniqueId ids[2] = {id, id};
  ExpectResult(ncclCommInitRankScalable(&comm, 2, 0, 2, ids, NULL), ncclInvalidUsage, "InitRankScalable nId 2", "nId = 1");
  ExpectResult(ncclCommCount(NULL, NULL), ncclInvalidArgument, "ncclCommCount(NULL)", "NULL");
  EXPECT(ncclCommDestroy(NULL) == ncclSuccess && ncclCommAbort(NULL) == ncclSuccess, "destroying NULL must succeed");
  EXPECT(strcmp(ncclGetErrorString(ncclInvalidUsage), "invalid usage (run with NCCL_DEBUG=WARN for details)") == 0,
         "ncclGetErrorString text");
  ExpectResult(ncclGroupSimulateEnd(NULL), ncclInvalidUsage, "ncclGroupSimulateEnd", "not supported");
  void* p = NULL;
  CHECK_NCCL(ncclMemAlloc(&p, 12345));
  EXPECT(p && ((uintptr_t)p % 4096) == 0, "ncclMemAlloc alignment");
  CHECK_NCCL(ncclMemFree(p));
}

int main(void) {
  int version = 0;
  CHECK_NCCL(ncclGetVersion(&version));
  EXPECT(version == NCCL_VERSION_CODE, "version %d", version);
  Errors();

  ncclComm_t comms[N];
  CHECK_NCCL(ncclCommInitAll(comms, N, NULL));
  GroupedCalls(comms);
  ExpectResult(ncclAllReduce(NULL, NULL, 1, ncclFloat, ncclSum, comms[1], NULL), ncclInvalidArgument, "a NULL buffer", "NULL");
  EXPECT(strlen(ncclGetLastError(comms[1])) > 0, "ncclGetLastError(comm) is empty after an error on comm");
  for (int r = 0; r < N; ++r) CHECK_NCCL(ncclCommDestroy(comms[r]));

  /* Grouped init from one thread, under a compression policy. */
  setenv("CONCCL_NCCL_COMPRESS", "codec=int8,min_bytes=16K", 1);
  ncclUniqueId id;
  CHECK_NCCL(ncclGetUniqueId(&id));
  CHECK_NCCL(ncclGroupStart());
  for (int r = 0; r < N; ++r) CHECK_NCCL(ncclCommInitRank(&comms[r], N, id, r));
  CHECK_NCCL(ncclGroupEnd());
  for (int r = 0; r < N; ++r) {
    int rank = -1, count = 0;
    CHECK_NCCL(ncclCommUserRank(comms[r], &rank));
    CHECK_NCCL(ncclCommCount(comms[r], &count));
    EXPECT(rank == r && count == N, "grouped init: rank %d of %d", rank, count);
  }
  PolicyCalls(comms);
  /* A CUDA device buffer without CONCCL_NCCL_FORWARD is refused, compressed or not. */
  static float dev[8192];
  fakeDevicePointer = dev;
  ExpectResult(ncclAllReduce(dev, dev, 8192, ncclFloat, ncclSum, comms[0], NULL), ncclInvalidUsage,
               "a (compressible) all-reduce on a device buffer", "CONCCL_NCCL_FORWARD");
  ExpectResult(ncclBroadcast(dev, dev, 16, ncclInt32, 0, comms[0], NULL), ncclInvalidUsage, "a broadcast on a device buffer",
               "device buffers");
  fakeDevicePointer = NULL;
  for (int r = 0; r < N; ++r) CHECK_NCCL(ncclCommAbort(comms[r]));
  printf("nccl_api_test: OK\n");
  return 0;
}
