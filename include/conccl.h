/*
 * conccl.h — the public C API of ConCCL, a collective communication library with compression built in.
 *
 * The API mirrors NCCL's: every cc* function has the signature of its nccl* twin with the opaque
 * ccStream_t in place of cudaStream_t, and every enum value equals NCCL's, so porting NCCL code is a
 * rename. Host buffers: every collective blocks until its result is in recvbuff (the stream argument is
 * ignored). All functions are thread-safe across communicators; one communicator must be used by one
 * thread at a time (as in NCCL), except ccCommAbort, which may be called from any thread at any time.
 *
 * Errors: every function returns a ccResult_t. When the result is not ccSuccess, ccGetLastError(comm)
 * (or ccGetLastError(NULL) for the calling thread's last error) returns a one-line explanation.
 * No function calls exit() or abort(), and no C++ exception crosses this boundary.
 */
#ifndef CONCCL_H_
#define CONCCL_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CC_MAJOR 0
#define CC_MINOR 1
#define CC_PATCH 0
/* Version code: MAJOR*10000 + MINOR*100 + PATCH (NCCL's encoding since 2.9). */
#define CC_VERSION(X, Y, Z) ((X) * 10000 + (Y) * 100 + (Z))
#define CC_VERSION_CODE CC_VERSION(CC_MAJOR, CC_MINOR, CC_PATCH)

/* Result codes: the values of NCCL's ncclResult_t, plus ccTimeout. */
typedef enum {
  ccSuccess = 0,              /* the call did what it says */
  ccUnhandledCudaError = 1,   /* a CUDA call failed */
  ccSystemError = 2,          /* an OS call failed (socket, shm, thread, memory) */
  ccInternalError = 3,        /* a bug in ConCCL: please report it with CONCCL_DEBUG=INFO output */
  ccInvalidArgument = 4,      /* an argument is invalid (NULL pointer, bad type or op, rank out of range) */
  ccInvalidUsage = 5,         /* a call sequence is invalid (mismatched calls across ranks, use after abort) */
  ccRemoteError = 6,          /* a peer died, a link broke, or a peer sent malformed data */
  ccInProgress = 7,           /* a non-blocking operation is still running */
  ccTimeout = 8,              /* no progress within CONCCL_TIMEOUT_MS (or config timeoutMs) */
  ccNumResults = 9
} ccResult_t;

/* Element types: NCCL's ncclDataType_t values. float16/bfloat16 reductions accumulate in float32. */
typedef enum {
  ccInt8 = 0, ccChar = 0,
  ccUint8 = 1,
  ccInt32 = 2, ccInt = 2,
  ccUint32 = 3,
  ccInt64 = 4,
  ccUint64 = 5,
  ccFloat16 = 6, ccHalf = 6,
  ccFloat32 = 7, ccFloat = 7,
  ccFloat64 = 8, ccDouble = 8,
  ccBfloat16 = 9,
  ccNumTypes = 10
} ccDataType_t;

/* Reduction operations: NCCL's ncclRedOp_t values. ccAvg = sum divided by nranks. */
typedef enum { ccSum = 0, ccProd = 1, ccMax = 2, ccMin = 3, ccAvg = 4, ccNumOps = 5 } ccRedOp_t;

/* An opaque stream handle (a cudaStream_t when the CUDA path is built; ignored for host buffers). */
typedef struct ccStream_opaque* ccStream_t;

/* A communicator: one rank's membership in a group of nranks ranks. */
typedef struct ccComm* ccComm_t;
#define CC_COMM_NULL NULL

/* The unique id: 128 opaque bytes made by ccGetUniqueId on one rank and passed to all others out of
 * band (MPI_Bcast, a file, an environment variable). It carries the root's address and a 128-bit secret. */
#define CC_UNIQUE_ID_BYTES 128
typedef struct {
  char internal[CC_UNIQUE_ID_BYTES];
} ccUniqueId;

#define CC_CONFIG_UNDEF_INT (-2147483647 - 1)
#define CC_CONFIG_UNDEF_PTR NULL
#define CC_SPLIT_NOCOLOR (-1)
#define CC_CONFIG_MAGIC 0xcc0f1a5eu

/* Communicator options. Initialise with CC_CONFIG_INITIALIZER, then set the fields you need; a field left
 * UNDEF takes its environment or built-in default. size/magic/version are set by the initializer and
 * identify the struct's layout (do not touch them); an uninitialised config returns ccInvalidArgument. */
typedef struct {
  size_t size;           /* reserved: sizeof(ccConfig_t) of the caller's header */
  unsigned int magic;    /* reserved: CC_CONFIG_MAGIC */
  unsigned int version;  /* reserved: CC_VERSION_CODE of the caller's header */
  int blocking;          /* 1 (default); 0: device-buffer calls return ccInProgress once queued, and
                            ccCommGetAsyncError says ccInProgress until they have run. Host calls block */
  int timeoutMs;         /* a call fails with ccTimeout after this many ms without progress; 0 = never;
                            default CONCCL_TIMEOUT_MS (30 minutes) */
  const char* netName;   /* force a transport: "tcp", "shm" or "local"; default CONCCL_NET or automatic */
  const char* commName;  /* a name shown in log lines; copied at init */
} ccConfig_t;

#define CC_CONFIG_INITIALIZER                                                         \
  {                                                                                   \
    sizeof(ccConfig_t), CC_CONFIG_MAGIC, CC_VERSION_CODE, CC_CONFIG_UNDEF_INT,        \
        CC_CONFIG_UNDEF_INT, CC_CONFIG_UNDEF_PTR, CC_CONFIG_UNDEF_PTR                 \
  }

/* ---- Versions and errors ---------------------------------------------------------------------- */

/* Stores CC_VERSION_CODE of the library in *version. ccInvalidArgument if version is NULL. */
ccResult_t ccGetVersion(int* version);

/* A static string naming the result code (never NULL). */
const char* ccGetErrorString(ccResult_t result);

/* The last error message recorded for comm, or for the calling thread when comm is NULL; "" if none.
 * The string stays valid until the next call on the same comm (or thread). */
const char* ccGetLastError(ccComm_t comm);

/* ---- Communicator creation and destruction ------------------------------------------------------ */

/* Makes a new unique id on the calling process, which becomes the bootstrap root: a listener thread on
 * CONCCL_SOCKET_IFNAME's address (or the first non-loopback interface, else loopback) serves the
 * rendezvous of the ranks that use this id. Each id serves one communicator. */
ccResult_t ccGetUniqueId(ccUniqueId* uniqueId);

/* Creates rank `rank` (0 <= rank < nranks) of a communicator of nranks ranks identified by commId.
 * Collective across the nranks callers; blocks until all have joined or the timeout expires (ccTimeout):
 * config->timeoutMs when set, else CONCCL_BOOTSTRAP_TIMEOUT_MS (default 120 s). */
ccResult_t ccCommInitRank(ccComm_t* comm, int nranks, ccUniqueId commId, int rank);

/* As ccCommInitRank, with options (config may be NULL for defaults). */
ccResult_t ccCommInitRankConfig(ccComm_t* comm, int nranks, ccUniqueId commId, int rank, ccConfig_t* config);

/* Creates ndev communicators of one group inside this process (ranks 0..ndev-1, one thread each during
 * init). comms must hold ndev entries. devlist is accepted for NCCL compatibility and ignored on host. */
ccResult_t ccCommInitAll(ccComm_t* comms, int ndev, const int* devlist);

/* Creates this process's communicator from the launcher's environment, in this order of preference:
 * CONCCL_RANK/CONCCL_NRANKS/CONCCL_ROOT (root = host:port), OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/PMI_SIZE,
 * SLURM_PROCID/SLURM_NTASKS, RANK/WORLD_SIZE; the rendezvous address comes from CONCCL_ROOT, else
 * MASTER_ADDR:MASTER_PORT. Rank 0 listens there; the others connect to it. The secret is taken from
 * CONCCL_SECRET if set (recommended on shared networks), else derived from the address. */
ccResult_t ccCommInitFromEnv(ccComm_t* comm, ccConfig_t* config);

/* Waits until all operations issued on comm are complete (host calls are already complete when they
 * return, so this only flushes). After it, only ccCommDestroy is allowed. */
ccResult_t ccCommFinalize(ccComm_t comm);

/* Frees comm's resources. Not collective: it closes connections, which peers still using them see as
 * a remote error. Returns the first error the cleanup met (the comm is freed regardless). */
ccResult_t ccCommDestroy(ccComm_t comm);

/* Aborts comm: any call blocked on it (in another thread) returns ccRemoteError promptly, connections
 * close, and resources are freed. Safe to call from any thread. After it, comm must not be used. */
ccResult_t ccCommAbort(ccComm_t comm);

/* Collective over comm: ranks that pass the same color form a new communicator, ordered by key (ties by
 * rank in comm). color CC_SPLIT_NOCOLOR (-1) gets *newcomm = NULL. config may be NULL (inherit comm's). */
ccResult_t ccCommSplit(ccComm_t comm, int color, int key, ccComm_t* newcomm, ccConfig_t* config);

/* Number of ranks in comm. */
ccResult_t ccCommCount(const ccComm_t comm, int* count);

/* This rank's index in comm. */
ccResult_t ccCommUserRank(const ccComm_t comm, int* rank);

/* The first error that broke comm (a dead peer, a timeout, an abort, a failed stream-ordered call), or
 * ccSuccess; ccInProgress on a non-blocking communicator (config blocking = 0) with queued device calls. */
ccResult_t ccCommGetAsyncError(ccComm_t comm, ccResult_t* asyncError);

/* ---- Collectives (host buffers: block until done; in place when sendbuff == recvbuff) ----------
 * CUDA device buffers (builds with CUDA): the call (or ccGroupEnd) queues it on `stream` (a cudaStream_t,
 * one per rank) and returns; the result is in recvbuff when the stream gets there, and a failure is
 * reported by ccCommGetAsyncError. ccSend/ccRecv on device buffers return when the data has moved. */

/* recvbuff[i] = op over ranks of sendbuff[i], for i < count, on every rank. */
ccResult_t ccAllReduce(const void* sendbuff, void* recvbuff, size_t count, ccDataType_t datatype, ccRedOp_t op,
                       ccComm_t comm, ccStream_t stream);

/* Copies root's sendbuff[0..count) into every rank's recvbuff. sendbuff is read on root only. */
ccResult_t ccBroadcast(const void* sendbuff, void* recvbuff, size_t count, ccDataType_t datatype, int root,
                       ccComm_t comm, ccStream_t stream);

/* root's recvbuff[i] = op over ranks of sendbuff[i]. recvbuff may be NULL on other ranks. */
ccResult_t ccReduce(const void* sendbuff, void* recvbuff, size_t count, ccDataType_t datatype, ccRedOp_t op,
                    int root, ccComm_t comm, ccStream_t stream);

/* recvbuff[r*sendcount + i] = rank r's sendbuff[i]. In place when sendbuff == recvbuff + rank*sendcount. */
ccResult_t ccAllGather(const void* sendbuff, void* recvbuff, size_t sendcount, ccDataType_t datatype,
                       ccComm_t comm, ccStream_t stream);

/* recvbuff[i] = op over ranks of sendbuff[rank*recvcount + i]; sendbuff holds nranks*recvcount elements.
 * In place when recvbuff == sendbuff + rank*recvcount. */
ccResult_t ccReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount, ccDataType_t datatype,
                           ccRedOp_t op, ccComm_t comm, ccStream_t stream);

/* recvbuff[r*count + i] = rank r's sendbuff[rank*count + i]. Buffers hold nranks*count elements and must
 * not overlap. */
ccResult_t ccAlltoAll(const void* sendbuff, void* recvbuff, size_t count, ccDataType_t datatype, ccComm_t comm,
                      ccStream_t stream);

/* Point to point. Outside a group each call blocks until its buffer may be reused (a send may wait for
 * the peer to receive), so a symmetric exchange must be put inside ccGroupStart/ccGroupEnd. count and
 * datatype must match the peer's ccRecv (a mismatch returns ccInvalidUsage on the receiver). A send or
 * receive to oneself is allowed inside a group only. */
ccResult_t ccSend(const void* sendbuff, size_t count, ccDataType_t datatype, int peer, ccComm_t comm,
                  ccStream_t stream);
ccResult_t ccRecv(void* recvbuff, size_t count, ccDataType_t datatype, int peer, ccComm_t comm, ccStream_t stream);

/* Group calls: between ccGroupStart and ccGroupEnd, calls are recorded and return ccSuccess after checking
 * their arguments; ccGroupEnd runs them (all sends and receives of the group concurrently, collectives in
 * order; calls on several communicators run concurrently, so one thread can drive several ranks) and
 * returns the first error. Groups nest; only the outermost ccGroupEnd runs. ccCommInitRank calls inside a
 * group are run concurrently at ccGroupEnd as well. */
ccResult_t ccGroupStart(void);
ccResult_t ccGroupEnd(void);


/* ---- Compressed all-reduce ------------------------------------------------------------------------ */

typedef enum {
  ccCodecNone = 0,       /* exact; accepts every type and op (it is ccAllReduce) */
  ccCodecFp16 = 1,       /* float16 on the wire */
  ccCodecBf16 = 2,       /* bfloat16 on the wire */
  ccCodecInt8 = 3,       /* 8-bit block quantization, one float32 scale per block */
  ccCodecInt4 = 4,       /* 4-bit block quantization, one float32 scale per block */
  ccCodecRandBlock = 5,  /* one contiguous block of ratio*count elements (wrap-around), start from the shared seed */
  ccCodecSummable = 6,   /* integers on shared per-block scales, summed exactly with headroom bits */
  ccCodecSign = 7,       /* 1 bit per element plus a per-block scale (mean |x|); all-gather schedule */
  ccCodecTopK = 8,       /* the ratio*count largest |x| as (index, value) pairs; all-gather schedule */
  ccCodecPlugin = 9      /* the codec named by codecName, loaded from libconccl-codec-<name>.so */
} ccCodec_t;

typedef enum { ccRoundNearest = 0, ccRoundStochastic = 1 } ccRounding_t;

typedef enum {
  ccFeedbackNone = 0,  /* no residual */
  ccFeedbackEf = 1,    /* p = g + e; send C(p); e <- p - C(p)   (float32 residual, count elements) */
  ccFeedbackEf2 = 2,   /* ef, plus the chunk owner's residual of the final re-compression */
  ccFeedbackConef = 3  /* ef with the residual stored compressed by residualCodec (ConEF) */
} ccFeedback_t;

typedef enum {
  ccResidualInt8 = 0,    /* block-quantized int8 (blockSize elements per float32 scale) */
  ccResidualInt4 = 1,    /* block-quantized int4 */
  ccResidualSketch = 2   /* count sketch of sketchSize*count buckets, feedback factor beta */
} ccResidualCodec_t;

/* Schedule of ccAllreduceCompressed. Auto: the ring, or hier under CONCCL_ALGO=hier (hier is not chosen
 * by itself: its exact in-host phases move the full fp32 data, which cost more than the compressed wire
 * saves on the setups measured). Hier: exact fp32 reduce inside each host to its leader (its lowest
 * rank), the codec's schedule among the leaders (compressed ring; all-gather for sign/topk; exact ring
 * for randblock/summable), broadcast of the result inside each host; error-feedback residuals then live
 * on the leaders only (other ranks hold none for the key, see ccCommResidualBytes). */
typedef enum { ccAlgoAuto = 0, ccAlgoRing = 1, ccAlgoTree = 2, ccAlgoHier = 3 } ccAlgo_t;

#define CC_COMPRESS_CONFIG_MAGIC 0xcc0c0def

/* Options of one ccAllreduceCompressed call. Fill with ccCompressConfigInit, then set fields. */
typedef struct {
  size_t size;             /* reserved: sizeof(ccCompressConfig_t) */
  unsigned int magic;      /* reserved: CC_COMPRESS_CONFIG_MAGIC */
  unsigned int version;    /* reserved: CC_VERSION_CODE */
  ccCodec_t codec;         /* default ccCodecInt8 */
  const char* codecName;   /* plugin codec name (codec == ccCodecPlugin) */
  int bits;                /* summable: bits per element before headroom (2..16, default 8); the wire
                              container is int16 while bits + ceil(log2 nranks) <= 16, else int32 */
  float ratio;             /* randblock, topk: fraction of elements sent (0 < ratio <= 1, default 1/64) */
  int blockSize;           /* int8/int4/summable/sign: elements per scale, 32..4096 (default 256) */
  ccRounding_t rounding;   /* default nearest */
  ccFeedback_t feedback;   /* default none */
  ccResidualCodec_t residualCodec;  /* conef: how the residual is stored (default int8) */
  float sketchSize;        /* conef sketch: buckets = max(1, sketchSize*count) (default 0.2) */
  float beta;              /* conef sketch: fraction of the error withheld each step (default 0.9) */
  int residualFp16;        /* conef sketch: 1 = buckets stored as float16 (default 0) */
  uint64_t key;            /* names the residual; 0 = derived from sendbuff and count */
  int warmupCalls;         /* first N calls per key go uncompressed (default 0) */
  size_t minCount;         /* calls with fewer elements go uncompressed (default 0) */
  ccAlgo_t algo;           /* default auto (ring; hier under CONCCL_ALGO=hier) */
  uint64_t seed;           /* shared randomness (stochastic rounding, random-block start); default 42 */
} ccCompressConfig_t;

/* Telemetry of one residual key (ccCommGetCompressStats). */
typedef struct {
  uint64_t calls;          /* compressed calls made with this key */
  uint64_t bytesIn;        /* uncompressed bytes of the inputs, summed over calls */
  uint64_t bytesWire;      /* bytes this rank sent for those calls (headers included) */
  double nmse;             /* last call: ||D(C(p)) - p||^2 / ||p||^2 of this rank's local compression (with
                              feedback: exact; without: estimated on the first 64 Ki elements; -1 when it
                              cannot be estimated locally: summable, plugins) */
  double residualNorm;     /* L2 norm of the residual after the last call (0 without feedback) */
} ccCompressStats_t;

/* Fills config with the defaults listed above. ccInvalidArgument if config is NULL. */
ccResult_t ccCompressConfigInit(ccCompressConfig_t* config);

/* recvbuff = sum (or avg) over ranks of sendbuff, with blocks compressed on the wire (see DESIGN.md).
 * All ranks get bitwise identical results. Lossy codecs need float32/float16/bfloat16 and sum/avg
 * (else ccInvalidArgument); ccCodecNone is exact for every type and op. The call must match on every
 * rank (count, type, op, codec parameters), which is checked. With feedback, the residual named by
 * config->key is created on first use and updated by every call. config NULL = defaults. */
ccResult_t ccAllreduceCompressed(const void* sendbuff, void* recvbuff, size_t count, ccDataType_t datatype,
                                 ccRedOp_t op, const ccCompressConfig_t* config, ccComm_t comm, ccStream_t stream);

/* Bytes of residual memory held for key (0 = all keys), measured from the residual allocator.
 * Hierarchical calls (ccAlgoHier, or auto under CONCCL_ALGO=hier) keep residuals on host leaders only:
 * a rank that does not lead its host holds none for that key (0 bytes, and ccCommGetResidual reports no
 * residual). */
ccResult_t ccCommResidualBytes(ccComm_t comm, uint64_t key, size_t* bytes);

/* Frees every residual (the next call starts from zero error). */
ccResult_t ccCommResetResiduals(ccComm_t comm);

/* Writes the decompressed residual of key into out[0..count) (count must equal the key's count;
 * ccInvalidUsage otherwise, or if the key has no residual). */
ccResult_t ccCommGetResidual(ccComm_t comm, uint64_t key, float* out, size_t count);

/* Collective: replaces every rank's residuals by their mean over ranks (error averaging). All ranks
 * must hold the same keys with the same counts (checked; after hierarchical calls only the host leaders
 * hold residuals, so this returns ccInvalidUsage there). */
ccResult_t ccCommAverageResiduals(ccComm_t comm);

/* Serialises all residuals. With buf NULL, *size receives the bytes needed; otherwise *size is the
 * capacity of buf on entry and the bytes written on return. */
ccResult_t ccCommSaveResiduals(ccComm_t comm, void* buf, size_t* size);

/* Restores residuals saved by ccCommSaveResiduals (bit-exact). Malformed bytes, or residuals saved by
 * a different rank or communicator size, return ccInvalidUsage with a message and change nothing. */
ccResult_t ccCommLoadResiduals(ccComm_t comm, const void* buf, size_t size);

/* Telemetry of key (0 = totals over keys; nmse and residualNorm then refer to the last call). */
ccResult_t ccCommGetCompressStats(ccComm_t comm, uint64_t key, ccCompressStats_t* stats);

#ifdef __cplusplus
}
#endif
#endif /* CONCCL_H_ */
