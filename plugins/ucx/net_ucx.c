/*
 * net_ucx.c — libconccl-net-ucx.so: the net plugin ABI (include/conccl_net.h) over UCX's UCP layer.
 *
 * One UCP context and worker per process (thread mode SERIALIZED: ConCCL makes one call at a time). UCX
 * picks its transports as usual (UCX_TLS, UCX_NET_DEVICES ...): tcp, shared memory, verbs.
 *
 * Connections: listen() opens a TCP side-channel socket (on the first up, non-loopback IPv4 interface, or
 * the one whose name starts with CONCCL_SOCKET_IFNAME; loopback when there is none); the handle carries its
 * address. connect() opens a side-channel connection and sends a random 63-bit connection tag and its UCP
 * worker address; the listener answers with its worker address (oob.h). Each side then creates an endpoint to
 * the other's worker from the address — so every UCX transport works, shared memory included — and data
 * messages are UCP tag messages with the connection's tag (UCP keeps per-endpoint, per-tag order, so the n-th
 * isend matches the n-th irecv). Endpoints use peer error handling: a dead peer breaks its connections and
 * fails their requests (the receive side's endpoint exists for that alone).
 *
 * Shared memory: with UCX_TLS naming only shared-memory transports, messages go eager through 256 KiB FIFO
 * segments unless the user set those UCX variables (kSharedMemoryDefaults says why).
 *
 * Memory: regMr maps the range with ucp_mem_map and sends and receives given its handle pass it as the
 * operation's memh; without a handle UCX registers on its own (its registration cache).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/random.h>
#include <time.h>
#include <ucp/api/ucp.h>

#include "conccl_net.h"
#include "oob.h"

#define UCX_HANDLE_MAGIC 0x55435831u /* "UCX1" */
#define TAG_MASK_ALL ((ucp_tag_t)-1)
#define MAX_PENDING_ACCEPTS 1024
#define PEER_CLOSE_GRACE_MS 1000 /* a request still pending this long after the peer closed fails */
#define ACCEPT_TIMEOUT_MS 10000  /* an accepted side channel must complete the address exchange by then */
/* accept4() on an empty queue still allocates and frees a socket and its file: measured at 15% of a busy
 * rank's CPU when called on every progress round. The listen socket is polled instead, at most this often. */
#define ACCEPT_POLL_US 200

static ccNetLogger_v1_t logf_;
static ucp_context_h ctx_;
static ucp_worker_h worker_;
static int initResult_ = -1; /* -1 = not tried */

#define LOG(level, ...) \
  do {                  \
    if (logf_) logf_(level, __VA_ARGS__); \
  } while (0)

struct handle {
  uint32_t magic;
  uint32_t reserved;
  struct sockaddr_in addr; /* the listener's side-channel socket */
};

struct comm;

struct request {
  struct comm* comm;
  void* ucx;            /* UCP request, or NULL when it completed at posting */
  int isRecv;
  size_t size;
  ucp_tag_recv_info_t info;
  struct request* prev;
  struct request* next; /* the comm's outstanding requests */
};

/* A connection (either side). The endpoint's error handler points at `broken`, so a comm never moves. */
struct comm {
  ucp_ep_h ep;    /* send side: to the receiver's worker; receive side: to the sender's, to notice its death */
  uint64_t tag;   /* this connection's data tag (random, top bit clear) */
  int broken;
  struct request* reqs;
  struct oob oob; /* the side channel: the address exchange, then kept open to notice the peer's death */
  struct timespec lastWatch;
  unsigned watchCalls; /* watchPeer calls, to read the clock on a few of them */
  int64_t closedAtMs; /* when the side channel was seen closed (0 = open) */
  struct mr* mrs;     /* registrations made on this comm: released by its close */
};

/* Checks, on every 32nd call and at most once a millisecond, whether the peer closed the side channel (it
 * died or closed the connection): sets c->broken. */
static void watchPeer(struct comm* c) {
  if (++c->watchCalls % 32 != 0) return; /* the clock itself costs (a VM's clock source): read it rarely */
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if ((now.tv_sec - c->lastWatch.tv_sec) * 1000000000L + (now.tv_nsec - c->lastWatch.tv_nsec) < 1000000L) return;
  c->lastWatch = now;
  int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  if (c->closedAtMs) {  /* a peer that closed gracefully flushed its data first: give it time to land */
    if (ms - c->closedAtMs > PEER_CLOSE_GRACE_MS && !c->broken) {
      LOG(CC_NET_LOG_INFO, "ucx: the peer closed the connection's side channel");
      c->broken = 1;
    }
    return;
  }
  char byte;
  ssize_t n = recv(c->oob.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) c->closedAtMs = ms;
}

/* A connection being set up from a connect() call, found again by its handle. */
struct connecting {
  uint8_t handle[sizeof(struct handle)];
  struct comm* c;
  struct connecting* next;
};

struct listener {
  int fd;
  int64_t lastPollUs; /* when the listen socket was last polled for connections */
  struct comm* pending[MAX_PENDING_ACCEPTS]; /* accepted sockets still exchanging addresses */
  int count;
};

struct mr {
  ucp_mem_h memh;
  struct mr* next;
};

static int sharedMemoryOnly_; /* UCX_TLS names only shared-memory transports (no peer error handling) */
static ucp_address_t* myAddress_;
static size_t myAddressLen_;
static struct connecting* connecting_;

static void epError(void* arg, ucp_ep_h ep, ucs_status_t status) {
  (void)ep;
  int* broken = arg;
  *broken = 1;
  LOG(CC_NET_LOG_INFO, "ucx: endpoint failed: %s", ucs_status_string(status));
}

/* True when a UCX_TLS list names only shared-memory transports: their endpoints cannot use peer error
 * handling, so the plugin creates them without it and watches the side-channel socket instead. */
static int onlySharedMemory(const char* tls) {
  static const char* const kShm[] = {"sm", "shm", "posix", "sysv", "cma", "knem", "xpmem", "self"};
  if (!tls || !*tls || *tls == '^') return 0;
  char buf[256];
  snprintf(buf, sizeof(buf), "%s", tls);
  for (char* save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    int known = 0;
    for (size_t i = 0; i < sizeof(kShm) / sizeof(kShm[0]); ++i) known |= strcmp(t, kShm[i]) == 0;
    if (!known) return 0;
  }
  return 1;
}

/* Defaults for shared-memory-only UCX_TLS, each applied unless the user set it (or the variable it
 * inherits from). UCX sends messages above a few KiB by rendezvous over CMA (process_vm_readv): one copy,
 * but the kernel pins every 4 KiB page of the source on each transfer. On the 2-core CI machine that one copy
 * cost as much CPU as two user-space copies, and the ring all-reduce reached 0.80-0.92x of the built-in shm
 * (perf/bench_net_plugins.sh). Eager messages through 256 KiB FIFO segments — two user-space copies, as the
 * built-in makes — reached 0.89-1.05x. The cost is shared memory: in a 2-rank run each process mapped 28 MiB
 * of SysV segments, against 8 MiB with UCX's own settings. */
static const struct {
  const char* name;         /* the UCX setting, without the UCX_ prefix, as ucp_config_modify takes it */
  const char* value;
  const char* userSet[3];   /* environment variables (without UCX_) that, when set, keep UCX's own value */
} kSharedMemoryDefaults[] = {
    {"RNDV_THRESH", "inf", {"RNDV_THRESH", NULL, NULL}},
    /* every shared-memory FIFO transport's segment (posix and sysv inherit MM_SEG_SIZE) */
    {"SEG_SIZE", "256K", {"MM_SEG_SIZE", "POSIX_SEG_SIZE", "SYSV_SEG_SIZE"}},
};

static int userSet(const char* name) {
  char var[64];
  snprintf(var, sizeof(var), "UCX_%s", name);
  return getenv(var) != NULL;
}

/* Applies kSharedMemoryDefaults to config; a value UCX refuses is logged and skipped. */
static void applySharedMemoryDefaults(ucp_config_t* config) {
  for (size_t i = 0; i < sizeof(kSharedMemoryDefaults) / sizeof(kSharedMemoryDefaults[0]); ++i) {
    int set = 0;
    for (int j = 0; j < 3 && kSharedMemoryDefaults[i].userSet[j]; ++j)
      set |= userSet(kSharedMemoryDefaults[i].userSet[j]);
    if (set) continue;
    const char* name = kSharedMemoryDefaults[i].name;
    const char* value = kSharedMemoryDefaults[i].value;
    ucs_status_t st = ucp_config_modify(config, name, value);
    if (st != UCS_OK) LOG(CC_NET_LOG_INFO, "ucx: cannot default %s=%s: %s", name, value, ucs_status_string(st));
    else LOG(CC_NET_LOG_INFO, "ucx: shared memory only: %s=%s by default", name, value);
  }
}

static int ucxInit(ccNetLogger_v1_t logger) {
  logf_ = logger;
  if (initResult_ >= 0) return initResult_;
  ucp_config_t* config = NULL;
  ucs_status_t st = ucp_config_read(NULL, NULL, &config);
  if (st != UCS_OK) {
    LOG(CC_NET_LOG_WARN, "ucx: ucp_config_read: %s", ucs_status_string(st));
    return initResult_ = ccNetErrorSystem;
  }
  sharedMemoryOnly_ = onlySharedMemory(getenv("UCX_TLS"));
  if (sharedMemoryOnly_) applySharedMemoryDefaults(config);
  ucp_params_t params;
  memset(&params, 0, sizeof(params));
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED;
  params.features = UCP_FEATURE_TAG;
  params.mt_workers_shared = 0;
  st = ucp_init(&params, config, &ctx_);
  ucp_config_release(config);
  if (st != UCS_OK) {
    LOG(CC_NET_LOG_WARN, "ucx: ucp_init: %s", ucs_status_string(st));
    return initResult_ = ccNetErrorSystem;
  }
  ucp_worker_params_t wp;
  memset(&wp, 0, sizeof(wp));
  wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wp.thread_mode = UCS_THREAD_MODE_SERIALIZED;
  st = ucp_worker_create(ctx_, &wp, &worker_);
  if (st == UCS_OK) st = ucp_worker_get_address(worker_, &myAddress_, &myAddressLen_);
  if (st != UCS_OK || myAddressLen_ > OOB_MAX_FRAME - 8) {
    LOG(CC_NET_LOG_WARN, "ucx: worker: %s", st != UCS_OK ? ucs_status_string(st) : "address too long");
    if (worker_) ucp_worker_destroy(worker_);
    worker_ = NULL;
    ucp_cleanup(ctx_);
    ctx_ = NULL;
    return initResult_ = ccNetErrorSystem;
  }
  unsigned major, minor, release;
  ucp_get_version(&major, &minor, &release);
  LOG(CC_NET_LOG_INFO, "ucx: UCP %u.%u.%u initialised (worker address %zu bytes)", major, minor, release,
      myAddressLen_);
  return initResult_ = ccNetOk;
}

static int ucxDevices(int* ndev) {
  if (!ndev) return ccNetErrorArgument;
  *ndev = worker_ ? 1 : 0;
  return ccNetOk;
}

static int ucxGetProperties(int dev, ccNetProperties_v1_t* props) {
  if (dev != 0 || !props || !worker_) return ccNetErrorArgument;
  memset(props, 0, sizeof(*props));
  const char* devs = getenv("UCX_NET_DEVICES");
  props->name = devs && *devs ? devs : "ucx";
  props->ptrSupport = CC_NET_PTR_HOST;
  props->maxComms = 65536;
  props->maxMessageBytes = SIZE_MAX;
  return ccNetOk;
}

static struct in_addr pickAddress(void) {
  struct in_addr a;
  a.s_addr = htonl(INADDR_LOOPBACK);
  const char* prefix = getenv("CONCCL_SOCKET_IFNAME");
  struct ifaddrs* list = NULL;
  if (getifaddrs(&list) != 0) return a;
  for (struct ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
      continue;
    if (prefix && *prefix && strncmp(i->ifa_name, prefix, strlen(prefix)) != 0) continue;
    a = ((struct sockaddr_in*)i->ifa_addr)->sin_addr;
    break;
  }
  freeifaddrs(list);
  return a;
}

static int ucxListen(int dev, void* handle, void** listenComm) {
  if (dev != 0 || !handle || !listenComm || !worker_) return ccNetErrorArgument;
  struct handle h;
  memset(&h, 0, sizeof(h));
  h.magic = UCX_HANDLE_MAGIC;
  h.addr.sin_family = AF_INET;
  h.addr.sin_addr = pickAddress();
  struct listener* l = calloc(1, sizeof(*l));
  if (!l) return ccNetErrorSystem;
  l->fd = oobListen(&h.addr);
  if (l->fd < 0) {
    LOG(CC_NET_LOG_WARN, "ucx: cannot listen on %s: %s", inet_ntoa(h.addr.sin_addr), strerror(errno));
    free(l);
    return ccNetErrorSystem;
  }
  memcpy(handle, &h, sizeof(h));
  *listenComm = l;
  return ccNetOk;
}

static int64_t nowUs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int64_t nowMs(void) { return nowUs() / 1000; }

/* True when the listen socket has a connection to accept; polled at most every ACCEPT_POLL_US. */
static int acceptReady(struct listener* l) {
  int64_t now = nowUs();
  if (now - l->lastPollUs < ACCEPT_POLL_US) return 0;
  l->lastPollUs = now;
  struct pollfd p = {.fd = l->fd, .events = POLLIN, .revents = 0};
  return poll(&p, 1, 0) == 1;
}

/* Progresses the worker until req is no longer in progress or ms milliseconds passed; then frees it.
 * Returns 1 if it finished in time. */
static int waitRequest(void* req, int ms) {
  if (!UCS_PTR_IS_PTR(req)) return 1;
  int64_t end = nowMs() + ms;
  while (ucp_request_check_status(req) == UCS_INPROGRESS && nowMs() < end) ucp_worker_progress(worker_);
  int done = ucp_request_check_status(req) != UCS_INPROGRESS;
  ucp_request_free(req);
  return done;
}

/* Closes an endpoint. Gracefully when `graceful` (what was sent is flushed to the peer first, for up to
 * 2 s); by force otherwise, or when the graceful close does not finish (the peer is gone): outstanding
 * operations are purged, so no buffer is touched afterwards. Endpoints without peer error handling (shared
 * memory) cannot be closed by force: theirs is always the graceful close. */
static void closeEp(ucp_ep_h ep, int graceful) {
  if (!ep) return;
  ucp_request_param_t p;
  memset(&p, 0, sizeof(p));
  p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  p.flags = graceful || sharedMemoryOnly_ ? 0 : UCP_EP_CLOSE_FLAG_FORCE;
  void* req = ucp_ep_close_nbx(ep, &p);
  if (UCS_PTR_IS_ERR(req) || waitRequest(req, 2000) || p.flags || sharedMemoryOnly_) return;
  p.flags = UCP_EP_CLOSE_FLAG_FORCE;
  waitRequest(ucp_ep_close_nbx(ep, &p), 1000);
}

/* Creates c's endpoint to the worker address in the peer's side-channel frame (at offset skip). */
static int makeEp(struct comm* c, size_t skip) {
  size_t len = 0;
  const uint8_t* frame = oobPeerFrame(&c->oob, &len);
  if (len <= skip) return -1;
  ucp_ep_params_t ep;
  memset(&ep, 0, sizeof(ep));
  ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLER |
                  UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
  ep.address = (const ucp_address_t*)(frame + skip);
  ep.err_mode = sharedMemoryOnly_ ? UCP_ERR_HANDLING_MODE_NONE : UCP_ERR_HANDLING_MODE_PEER;
  ep.err_handler.cb = epError;
  ep.err_handler.arg = &c->broken;
  ucs_status_t st = ucp_ep_create(worker_, &ep, &c->ep);
  if (st != UCS_OK) {
    LOG(CC_NET_LOG_INFO, "ucx: ucp_ep_create: %s", ucs_status_string(st));
    c->ep = NULL;
    return -1;
  }
  return 0;
}

static void freeComm(struct comm* c) {
  oobClose(&c->oob);
  free(c);
}

/* Connections to one handle are interchangeable until their first message, so repeated calls with equal
 * handles may finish the set-ups in any order. */
static int ucxConnect(int dev, const void* handle, void** sendComm) {
  struct handle h;
  if (dev != 0 || !handle || !sendComm || !worker_) return ccNetErrorArgument;
  memcpy(&h, handle, sizeof(h));
  if (h.magic != UCX_HANDLE_MAGIC || h.addr.sin_family != AF_INET) return ccNetErrorArgument;
  *sendComm = NULL;
  struct connecting** at = &connecting_;
  while (*at && memcmp((*at)->handle, &h, sizeof(h)) != 0) at = &(*at)->next;
  struct connecting* k = *at;
  if (!k) {
    k = calloc(1, sizeof(*k));
    struct comm* c = calloc(1, sizeof(*c));
    if (!k || !c) {
      free(k);
      free(c);
      return ccNetErrorSystem;
    }
    c->oob.fd = -1;
    if (getrandom(&c->tag, sizeof(c->tag), 0) != sizeof(c->tag)) {
      free(k);
      free(c);
      return ccNetErrorSystem;
    }
    c->tag &= ~((uint64_t)1 << 63);
    uint8_t frame[OOB_MAX_FRAME];
    memcpy(frame, &c->tag, 8);
    memcpy(frame + 8, myAddress_, myAddressLen_);
    if (oobConnect(&c->oob, &h.addr, frame, 8 + myAddressLen_) != 0) {
      LOG(CC_NET_LOG_INFO, "ucx: connect to %s:%d: %s", inet_ntoa(h.addr.sin_addr), ntohs(h.addr.sin_port),
          strerror(errno));
      free(k);
      free(c);
      return ccNetErrorRemote;
    }
    memcpy(k->handle, &h, sizeof(h));
    k->c = c;
    k->next = connecting_;
    connecting_ = k;
    at = &connecting_;
  }
  int r = oobAdvance(&k->c->oob);
  if (r == 0) return ccNetOk;
  struct comm* c = k->c;
  *at = k->next;
  free(k);
  if (r < 0 || makeEp(c, 0) != 0) {
    LOG(CC_NET_LOG_INFO, "ucx: connection set-up with %s:%d failed", inet_ntoa(h.addr.sin_addr),
        ntohs(h.addr.sin_port));
    freeComm(c);
    return ccNetErrorRemote;
  }
  *sendComm = c;
  return ccNetOk;
}

static int ucxAccept(void* listenComm, void** recvComm) {
  struct listener* l = listenComm;
  if (!l || !recvComm) return ccNetErrorArgument;
  *recvComm = NULL;
  ucp_worker_progress(worker_);
  int ready = acceptReady(l);
  while (ready && l->count < MAX_PENDING_ACCEPTS) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) break;
    struct comm* c = calloc(1, sizeof(*c));
    if (!c) {
      close(fd);
      break;
    }
    oobStart(&c->oob, fd, myAddress_, myAddressLen_);
    c->closedAtMs = nowMs() + ACCEPT_TIMEOUT_MS; /* until identified: the set-up deadline */
    l->pending[l->count++] = c;
  }
  for (int i = 0; i < l->count; ++i) {
    struct comm* c = l->pending[i];
    int r = oobAdvance(&c->oob);
    if (r == 0 && nowMs() < c->closedAtMs) continue;
    if (r == 0) r = -1; /* no address exchange in time */
    c->closedAtMs = 0;
    l->pending[i--] = l->pending[--l->count];
    size_t len = 0;
    const uint8_t* frame = r > 0 ? oobPeerFrame(&c->oob, &len) : NULL;
    if (r < 0 || len <= 8 || (memcpy(&c->tag, frame, 8), c->tag >> 63) || makeEp(c, 8) != 0) {
      LOG(CC_NET_LOG_INFO, "ucx: dropping an incoming connection whose set-up failed");
      freeComm(c);
      continue;
    }
    *recvComm = c;
    return ccNetOk;
  }
  return ccNetOk;
}

static int ucxRegMr(void* comm, void* data, size_t size, int ptrType, void** mhandle) {
  struct comm* c = comm;
  if (!c || !mhandle || (size && !data)) return ccNetErrorArgument;
  if (ptrType != CC_NET_PTR_HOST) return ccNetErrorUnsupported;
  struct mr* m = calloc(1, sizeof(*m));
  if (!m) return ccNetErrorSystem;
  ucp_mem_map_params_t mp;
  memset(&mp, 0, sizeof(mp));
  mp.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
  mp.address = data;
  mp.length = size ? size : 1;
  ucs_status_t st = ucp_mem_map(ctx_, &mp, &m->memh);
  if (st != UCS_OK) {
    LOG(CC_NET_LOG_WARN, "ucx: ucp_mem_map of %zu bytes: %s", size, ucs_status_string(st));
    free(m);
    return ccNetErrorSystem;
  }
  m->next = c->mrs;
  c->mrs = m;
  *mhandle = m;
  return ccNetOk;
}

static int ucxDeregMr(void* comm, void* mhandle) {
  struct comm* c = comm;
  if (!c || !mhandle) return ccNetErrorArgument;
  for (struct mr** p = &c->mrs; *p; p = &(*p)->next) {
    if (*p != mhandle) continue;
    struct mr* m = *p;
    *p = m->next;
    ucs_status_t st = ucp_mem_unmap(ctx_, m->memh);
    free(m);
    return st == UCS_OK ? ccNetOk : ccNetErrorSystem;
  }
  return ccNetErrorArgument; /* not registered on this comm */
}

static void linkReq(struct comm* c, struct request* r) {
  r->next = c->reqs;
  if (c->reqs) c->reqs->prev = r;
  c->reqs = r;
}

static void unlink_(struct request* r) {
  struct comm* c = r->comm;
  if (r->prev) r->prev->next = r->next;
  else c->reqs = r->next;
  if (r->next) r->next->prev = r->prev;
}

static int post(struct comm* c, void* data, size_t size, void* mhandle, void** request, int isRecv) {
  if (!c || !request || (size && !data)) return ccNetErrorArgument;
  if (c->broken) return ccNetErrorRemote;
  struct request* r = calloc(1, sizeof(*r));
  if (!r) return ccNetErrorSystem;
  r->comm = c;
  r->isRecv = isRecv;
  r->size = size;
  ucp_request_param_t p;
  memset(&p, 0, sizeof(p));
  p.op_attr_mask = UCP_OP_ATTR_FIELD_DATATYPE;
  p.datatype = ucp_dt_make_contig(1);
  if (mhandle) {
    p.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
    p.memh = ((struct mr*)mhandle)->memh;
  }
  void* req;
  if (isRecv) {
    p.op_attr_mask |= UCP_OP_ATTR_FIELD_RECV_INFO | UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    p.recv_info.tag_info = &r->info;
    req = ucp_tag_recv_nbx(worker_, data, size, c->tag, TAG_MASK_ALL, &p);
  } else {
    req = ucp_tag_send_nbx(c->ep, data, size, c->tag, &p);
  }
  if (UCS_PTR_IS_ERR(req)) {
    LOG(CC_NET_LOG_INFO, "ucx: %s: %s", isRecv ? "tag receive" : "tag send", ucs_status_string(UCS_PTR_STATUS(req)));
    free(r);
    c->broken = 1;
    return ccNetErrorRemote;
  }
  r->ucx = req;
  if (!isRecv && !req) r->info.length = size;
  linkReq(c, r);
  *request = r;
  return ccNetOk;
}

static int ucxIsend(void* sendComm, void* data, size_t size, void* mhandle, void** request) {
  return post(sendComm, data, size, mhandle, request, 0);
}

static int ucxIrecv(void* recvComm, void* data, size_t size, void* mhandle, void** request) {
  return post(recvComm, data, size, mhandle, request, 1);
}

/* Frees a request. One still in progress is cancelled first and progressed until UCX lets go of its
 * buffer (bounded: 1 s; the endpoint of a broken connection was force-closed, which purges its sends). */
static void release(struct request* r) {
  unlink_(r);
  if (r->ucx) {
    if (ucp_request_check_status(r->ucx) == UCS_INPROGRESS) ucp_request_cancel(worker_, r->ucx);
    waitRequest(r->ucx, 1000);
  }
  free(r);
}

/* A broken connection: its endpoint is closed by force so that no outstanding send touches its buffer. */
static void breakComm(struct comm* c) {
  c->broken = 1;
  if (c->ep) closeEp(c->ep, 0);
  c->ep = NULL;
}

static int ucxTest(void* request, int* done, size_t* size) {
  struct request* r = request;
  if (!r || !done) return ccNetErrorArgument;
  *done = 0;
  ucp_worker_progress(worker_);
  ucs_status_t st = UCS_OK;
  if (r->ucx) {
    st = r->isRecv ? ucp_tag_recv_request_test(r->ucx, &r->info) : ucp_request_check_status(r->ucx);
    if (!r->isRecv && st == UCS_OK) r->info.length = r->size;
  }
  if (st == UCS_INPROGRESS) {
    watchPeer(r->comm);
    if (!r->comm->broken) return ccNetOk;
    breakComm(r->comm); /* the peer is gone: this receive (or send) will never finish */
    release(r);
    return ccNetErrorRemote;
  }
  if (st != UCS_OK) {
    LOG(CC_NET_LOG_INFO, "ucx: %s failed: %s", r->isRecv ? "receive" : "send", ucs_status_string(st));
    breakComm(r->comm);
    release(r);
    return ccNetErrorRemote;
  }
  *done = 1;
  if (size) *size = r->info.length;
  release(r);
  return ccNetOk;
}

static int closeComm(void* comm) {
  struct comm* c = comm;
  if (!c) return ccNetErrorArgument;
  closeEp(c->ep, !c->broken && !c->reqs); /* graceful flushes what was sent; pending requests mean abandon */
  c->ep = NULL;
  while (c->reqs) release(c->reqs);
  while (c->mrs) {
    struct mr* m = c->mrs;
    c->mrs = m->next;
    ucp_mem_unmap(ctx_, m->memh);
    free(m);
  }
  freeComm(c);
  return ccNetOk;
}

static int ucxCloseListen(void* listenComm) {
  struct listener* l = listenComm;
  if (!l) return ccNetErrorArgument;
  for (int i = 0; i < l->count; ++i) freeComm(l->pending[i]);
  close(l->fd);
  free(l);
  return ccNetOk;
}

__attribute__((visibility("default"))) const ccNet_v1_t ccNetPlugin_v1 = {
    .name = "ucx",
    .abiVersion = CC_NET_ABI_VERSION,
    .init = ucxInit,
    .devices = ucxDevices,
    .getProperties = ucxGetProperties,
    .listen = ucxListen,
    .connect = ucxConnect,
    .accept = ucxAccept,
    .regMr = ucxRegMr,
    .deregMr = ucxDeregMr,
    .isend = ucxIsend,
    .irecv = ucxIrecv,
    .test = ucxTest,
    .iflush = NULL,
    .closeSend = closeComm,
    .closeRecv = closeComm,
    .closeListen = ucxCloseListen,
};
