/*
 * conccl_net.h — the transport (net) plugin ABI: a versioned C ops table that moves bytes between two
 * processes over connections. A plugin libconccl-net-<name>.so exports `const ccNet_v1_t ccNetPlugin_v1`
 * and is found through CONCCL_NET_PLUGIN (a name, looked up as libconccl-net-<name>.so on the library
 * path, or a path to the file). Built-in transports fill the same table.
 * Self-contained: only C types; no ConCCL internals.
 *
 * Model (the shape of NCCL's net plugins):
 *   receiver: listen(dev) -> handle + listenComm; the handle (opaque bytes, at most CC_NET_HANDLE_MAXSIZE)
 *             reaches the sender out of band (ConCCL's bootstrap); accept(listenComm) -> recvComm.
 *   sender:   connect(dev, handle) -> sendComm.
 *   data:     isend(sendComm) / irecv(recvComm) post one message each and return a request; test(request)
 *             reports completion. One connection carries messages in one direction, in posting order:
 *             the n-th isend on a sendComm matches the n-th irecv on the recvComm it was accepted as.
 *             Messages of 0 bytes are valid. Several requests may be in flight on one connection.
 *
 * Threading: ConCCL calls every function of one plugin from one thread at a time (its progress thread,
 * or the thread that initialises), so a plugin needs no locks of its own for ConCCL's use. Functions
 * never block for long: connect, accept, isend and irecv may answer "not yet" (a NULL output with
 * ccNetOk) and are called again; test() is the plugin's chance to make progress.
 *
 * Errors: every function returns a ccNet* code. After ccNetErrorRemote (peer gone, connection broken,
 * message larger than the posted buffer, corrupt framing) the connection is unusable; ConCCL closes it.
 * A plugin must never write past a posted receive buffer, and must never exit or abort the process.
 */
#ifndef CONCCL_NET_H_
#define CONCCL_NET_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CC_NET_ABI_VERSION 1
#define CC_NET_HANDLE_MAXSIZE 128 /* bytes of a listen handle */

/* Results (plain ints so plugins need no other header). */
#define ccNetOk 0
#define ccNetErrorArgument 1    /* bad argument: unknown device, NULL pointer, size too large */
#define ccNetErrorSystem 2      /* a system or library call failed on this side */
#define ccNetErrorRemote 3      /* the peer closed, the link broke, or the peer sent something invalid */
#define ccNetErrorUnsupported 4 /* e.g. a pointer type the device cannot reach */

/* Pointer types (ccNetProperties_v1_t.ptrSupport bits; regMr's ptrType). */
#define CC_NET_PTR_HOST 1
#define CC_NET_PTR_CUDA 2

/* Log levels passed to the logger. */
#define CC_NET_LOG_WARN 1
#define CC_NET_LOG_INFO 2
#define CC_NET_LOG_TRACE 3

/* Logger given to init(): printf-style; ConCCL prefixes the plugin name and honours CONCCL_DEBUG. */
typedef void (*ccNetLogger_v1_t)(int level, const char* fmt, ...);

/* Property flags. */
#define CC_NET_PROP_REG_REQUIRED 1u /* isend/irecv need an mhandle from regMr for every buffer */

typedef struct {
  const char* name;    /* device name, e.g. "eth0" or "mlx5_0"; owned by the plugin, valid until unload */
  const char* pciPath; /* sysfs path of the device (e.g. /sys/devices/pci0000:00/...), or NULL if none;
                          ConCCL uses it to pick the device nearest the rank's CPU or GPU */
  uint64_t guid;       /* unique id of the device on this host (two ports of one NIC share it) */
  uint32_t ptrSupport; /* CC_NET_PTR_* bits the device can send from and receive into */
  uint32_t flags;      /* CC_NET_PROP_* */
  int32_t speedMbps;   /* link speed in Mbit/s (0 = unknown) */
  int32_t port;        /* port number on the device (1-based for verbs; 0 when meaningless) */
  float latencyUs;     /* one-way latency estimate in microseconds (0 = unknown) */
  int32_t maxComms;    /* most connections the device supports (send + recv) */
  size_t maxMessageBytes; /* largest single message (isend/irecv size) */
} ccNetProperties_v1_t;

typedef struct {
  const char* name;    /* short name, e.g. "ucx"; "tcp", "shm" and "local" are the built-ins */
  uint32_t abiVersion; /* CC_NET_ABI_VERSION this table was written for */
  uint32_t reserved;   /* 0 */

  /* Called once before any other function. Returns an error (and ConCCL skips the plugin with an INFO
   * line) when the library or hardware it needs is missing. */
  int (*init)(ccNetLogger_v1_t logger);
  /* Number of usable devices (0 is not an error: ConCCL skips the plugin). */
  int (*devices)(int* ndev);
  /* Properties of device dev (0 <= dev < ndev). */
  int (*getProperties)(int dev, ccNetProperties_v1_t* props);

  /* Opens a listening endpoint on dev; writes at most CC_NET_HANDLE_MAXSIZE bytes to handle. A listenComm
   * accepts any number of connections until closeListen. */
  int (*listen)(int dev, void* handle, void** listenComm);
  /* Starts connecting to the listener described by handle. Non-blocking: sets *sendComm to NULL until the
   * connection is ready, and is then called again with the same arguments. Connections to one handle are
   * interchangeable until their first message, so calls with equal handles may complete in any order. */
  int (*connect)(int dev, const void* handle, void** sendComm);
  /* Returns the next connection made to listenComm, or NULL in *recvComm if none is ready yet. */
  int (*accept)(void* listenComm, void** recvComm);

  /* Registers data[0..size) (ptrType CC_NET_PTR_*) for use with comm (a sendComm or recvComm). Closing the
   * comm releases its registrations too (their mhandles become invalid). */
  int (*regMr)(void* comm, void* data, size_t size, int ptrType, void** mhandle);
  int (*deregMr)(void* comm, void* mhandle);

  /* Posts a send of data[0..size). *request NULL = cannot post now, call again. data stays valid and
   * unchanged until test() reports the request done. mhandle: from regMr, or NULL unless the device sets
   * CC_NET_PROP_REG_REQUIRED. */
  int (*isend)(void* sendComm, void* data, size_t size, void* mhandle, void** request);
  /* Posts a receive of at most size bytes into data. A larger incoming message fails the request (and
   * the connection) with ccNetErrorRemote; it never writes past data + size. */
  int (*irecv)(void* recvComm, void* data, size_t size, void* mhandle, void** request);
  /* Progresses and tests a request. *done = 1 when finished: *size (if not NULL) receives the bytes
   * moved and the request is freed by the plugin. An error also frees the request. */
  int (*test)(void* request, int* done, size_t* size);
  /* Makes received data visible to the device that will read it (GPU direct); *request NULL when there is
   * nothing to flush. May be NULL in the table for plugins that only support host memory. */
  int (*iflush)(void* recvComm, void* data, size_t size, void* mhandle, void** request);

  /* Close endpoints. Pending requests on a closed comm are abandoned (never completed, never touched by
   * ConCCL again; the plugin frees them and stops touching their buffers before close returns). Messages
   * already completed on a sendComm must still reach the peer (a graceful close flushes them). */
  int (*closeSend)(void* sendComm);
  int (*closeRecv)(void* recvComm);
  int (*closeListen)(void* listenComm);
} ccNet_v1_t;

#ifdef __cplusplus
}
#endif
#endif /* CONCCL_NET_H_ */
