/*
 * net_example.c — the smallest working net plugin (include/conccl_net.h): one TCP socket per connection,
 * each message framed by an 8-byte length. It depends on nothing but the ABI header and POSIX, and exists
 * to show the ABI and to test ConCCL's plugin adapter: its 128 KiB maxMessageBytes makes the adapter split
 * larger messages into pieces.
 *
 * Build: cc -shared -fPIC -I include net_example.c -o libconccl-net-example.so
 * Use:   CONCCL_NET_PLUGIN=example (or a path), CONCCL_NET=example to route every peer through it.
 *
 * Progress happens in test(): the request at the head of a connection's queue moves as far as the
 * non-blocking socket allows. Interface: the first up, non-loopback IPv4 address whose interface name
 * starts with CONCCL_SOCKET_IFNAME (when set), else loopback.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conccl_net.h"

#define EXAMPLE_MAX_MESSAGE (128u * 1024u)
#define EXAMPLE_HANDLE_MAGIC 0x45584e31u /* "EXN1" */

static ccNetLogger_v1_t logf_;

struct handle {
  uint32_t magic;
  struct sockaddr_in addr;
};

struct request;

struct mr;

struct comm {
  int fd;
  struct mr* mrs; /* registrations made on this comm: released by its close */
  int isSend;
  int broken;
  struct request* head; /* FIFO of posted requests; the head is the one moving */
  struct request* tail;
};

struct request {
  struct comm* comm;
  struct request* next;
  char* data;
  uint64_t size;    /* send: bytes; receive: capacity, then the incoming length */
  uint64_t header;  /* the length on the wire */
  size_t headerDone;
  size_t dataDone;
  int done;
};

struct mr {
  void* data;
  size_t size;
  struct mr* next;
};

static int exampleInit(ccNetLogger_v1_t logger) {
  logf_ = logger;
  return ccNetOk;
}

static int exampleDevices(int* ndev) {
  *ndev = 1;
  return ccNetOk;
}

static int exampleGetProperties(int dev, ccNetProperties_v1_t* props) {
  if (dev != 0 || !props) return ccNetErrorArgument;
  memset(props, 0, sizeof(*props));
  props->name = "example-sock";
  props->ptrSupport = CC_NET_PTR_HOST;
  props->maxComms = 65536;
  props->maxMessageBytes = EXAMPLE_MAX_MESSAGE;
  return ccNetOk;
}

/* The address to listen on: see the file comment. */
static struct in_addr pickAddress(void) {
  struct in_addr any;
  any.s_addr = htonl(INADDR_LOOPBACK);
  const char* prefix = getenv("CONCCL_SOCKET_IFNAME");
  struct ifaddrs* list = NULL;
  if (getifaddrs(&list) != 0) return any;
  for (struct ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
      continue;
    if (prefix && *prefix && strncmp(i->ifa_name, prefix, strlen(prefix)) != 0) continue;
    any = ((struct sockaddr_in*)i->ifa_addr)->sin_addr;
    break;
  }
  freeifaddrs(list);
  return any;
}

static int exampleListen(int dev, void* handle, void** listenComm) {
  if (dev != 0 || !handle || !listenComm) return ccNetErrorArgument;
  struct handle h;
  memset(&h, 0, sizeof(h));
  h.magic = EXAMPLE_HANDLE_MAGIC;
  h.addr.sin_family = AF_INET;
  h.addr.sin_addr = pickAddress();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ccNetErrorSystem;
  socklen_t len = sizeof(h.addr);
  if (bind(fd, (struct sockaddr*)&h.addr, len) != 0 || listen(fd, 128) != 0 ||
      getsockname(fd, (struct sockaddr*)&h.addr, &len) != 0) {
    if (logf_) logf_(CC_NET_LOG_WARN, "example: cannot listen: %s", strerror(errno));
    close(fd);
    return ccNetErrorSystem;
  }
  memcpy(handle, &h, sizeof(h));
  struct comm* c = calloc(1, sizeof(*c));
  if (!c) {
    close(fd);
    return ccNetErrorSystem;
  }
  c->fd = fd;
  *listenComm = c;
  return ccNetOk;
}

static struct comm* newComm(int fd, int isSend) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  struct comm* c = calloc(1, sizeof(*c));
  if (!c) {
    close(fd);
    return NULL;
  }
  c->fd = fd;
  c->isSend = isSend;
  return c;
}

/* Connections being made, found again by their handle (calls with equal handles may finish them in any
 * order: the connections are interchangeable until their first message). */
struct connecting {
  struct handle h;
  int fd;
  struct connecting* next;
};
static struct connecting* connecting_;

/* Non-blocking: the first call starts the TCP connect, later calls finish it. */
static int exampleConnect(int dev, const void* handle, void** sendComm) {
  struct handle h;
  if (dev != 0 || !handle || !sendComm) return ccNetErrorArgument;
  memcpy(&h, handle, sizeof(h));
  if (h.magic != EXAMPLE_HANDLE_MAGIC || h.addr.sin_family != AF_INET) return ccNetErrorArgument;
  *sendComm = NULL;
  struct connecting** at = &connecting_;
  while (*at && memcmp(&(*at)->h, &h, sizeof(h)) != 0) at = &(*at)->next;
  if (!*at) {
    struct connecting* k = calloc(1, sizeof(*k));
    if (!k) return ccNetErrorSystem;
    k->h = h;
    k->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k->fd < 0) {
      free(k);
      return ccNetErrorSystem;
    }
    if (connect(k->fd, (struct sockaddr*)&h.addr, sizeof(h.addr)) != 0 && errno != EINPROGRESS) {
      if (logf_) logf_(CC_NET_LOG_INFO, "example: connect to %s:%d: %s", inet_ntoa(h.addr.sin_addr),
                       ntohs(h.addr.sin_port), strerror(errno));
      close(k->fd);
      free(k);
      return ccNetErrorRemote;
    }
    k->next = connecting_;
    connecting_ = k;
    at = &connecting_;
  }
  struct connecting* k = *at;
  struct pollfd p = {k->fd, POLLOUT, 0};
  if (poll(&p, 1, 0) == 0) return ccNetOk; /* not yet */
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  *at = k->next;
  int fd = k->fd;
  free(k);
  if (err) {
    if (logf_) logf_(CC_NET_LOG_INFO, "example: connect to %s:%d: %s", inet_ntoa(h.addr.sin_addr),
                     ntohs(h.addr.sin_port), strerror(err));
    close(fd);
    return ccNetErrorRemote;
  }
  *sendComm = newComm(fd, 1);
  return *sendComm ? ccNetOk : ccNetErrorSystem;
}

static int exampleAccept(void* listenComm, void** recvComm) {
  struct comm* l = listenComm;
  *recvComm = NULL;
  /* accept is called on every progress round: an accept4 on an empty queue would allocate a socket each time */
  struct pollfd p = {l->fd, POLLIN, 0};
  if (poll(&p, 1, 0) == 0) return ccNetOk;
  int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? ccNetOk : ccNetErrorSystem;
  *recvComm = newComm(fd, 0);
  return *recvComm ? ccNetOk : ccNetErrorSystem;
}

static int exampleRegMr(void* comm, void* data, size_t size, int ptrType, void** mhandle) {
  struct comm* c = comm;
  if (!c || !mhandle) return ccNetErrorArgument;
  if (ptrType != CC_NET_PTR_HOST) return ccNetErrorUnsupported;
  struct mr* m = malloc(sizeof(*m));
  if (!m) return ccNetErrorSystem;
  m->data = data;
  m->size = size;
  m->next = c->mrs;
  c->mrs = m;
  *mhandle = m;
  return ccNetOk;
}

static int exampleDeregMr(void* comm, void* mhandle) {
  struct comm* c = comm;
  if (!c || !mhandle) return ccNetErrorArgument;
  for (struct mr** p = &c->mrs; *p; p = &(*p)->next) {
    if (*p == mhandle) {
      *p = ((struct mr*)mhandle)->next;
      free(mhandle);
      return ccNetOk;
    }
  }
  return ccNetErrorArgument; /* not registered on this comm */
}

static int post(struct comm* c, void* data, size_t size, void* mhandle, void** request) {
  struct mr* m = mhandle;
  if (!c || !request || (size && !data)) return ccNetErrorArgument;
  if (m && ((char*)data < (char*)m->data || (char*)data + size > (char*)m->data + m->size)) return ccNetErrorArgument;
  if (c->broken) return ccNetErrorRemote;
  struct request* r = calloc(1, sizeof(*r));
  if (!r) return ccNetErrorSystem;
  r->comm = c;
  r->data = data;
  r->size = size;
  r->header = size;
  if (c->tail) c->tail->next = r;
  else c->head = r;
  c->tail = r;
  *request = r;
  return ccNetOk;
}

static int exampleIsend(void* sendComm, void* data, size_t size, void* mhandle, void** request) {
  return post(sendComm, data, size, mhandle, request);
}

static int exampleIrecv(void* recvComm, void* data, size_t size, void* mhandle, void** request) {
  return post(recvComm, data, size, mhandle, request);
}

/* Moves bytes of the head request; returns 0 when the socket would block, 1 when the head finished,
 * -1 when the connection broke (or the peer sent a message larger than the posted buffer). */
static int advanceHead(struct comm* c) {
  struct request* r = c->head;
  while (r->headerDone < sizeof(r->header)) {
    char* h = (char*)&r->header + r->headerDone;
    size_t want = sizeof(r->header) - r->headerDone;
    ssize_t n = c->isSend ? send(c->fd, h, want, MSG_NOSIGNAL) : recv(c->fd, h, want, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    if (n <= 0) return -1;
    r->headerDone += (size_t)n;
  }
  if (!c->isSend && r->header > r->size) {
    if (logf_) logf_(CC_NET_LOG_WARN, "example: incoming message of %llu bytes exceeds the posted %llu",
                     (unsigned long long)r->header, (unsigned long long)r->size);
    return -1;
  }
  while (r->dataDone < r->header) {
    char* d = r->data + r->dataDone;
    size_t want = r->header - r->dataDone;
    ssize_t n = c->isSend ? send(c->fd, d, want, MSG_NOSIGNAL) : recv(c->fd, d, want, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    if (n <= 0) return -1;
    r->dataDone += (size_t)n;
  }
  return 1;
}

static int exampleTest(void* request, int* done, size_t* size) {
  struct request* r = request;
  struct comm* c = r->comm;
  *done = 0;
  while (!c->broken && c->head && !r->done) {
    int st = advanceHead(c);
    if (st == 0) break;
    if (st < 0) {
      c->broken = 1;
      break;
    }
    struct request* h = c->head;
    h->done = 1;
    c->head = h->next;
    if (!c->head) c->tail = NULL;
  }
  if (r->done) {
    *done = 1;
    if (size) *size = (size_t)r->header;
    free(r);
    return ccNetOk;
  }
  if (c->broken) {
    /* unlink and free the failed request; the others fail when tested */
    struct request** p = &c->head;
    struct request* prev = NULL;
    while (*p && *p != r) {
      prev = *p;
      p = &(*p)->next;
    }
    if (*p) {
      *p = r->next;
      if (c->tail == r) c->tail = prev;
    }
    free(r);
    return ccNetErrorRemote;
  }
  return ccNetOk;
}

static int closeComm(void* comm) {
  struct comm* c = comm;
  if (!c) return ccNetErrorArgument;
  struct request* r = c->head;
  while (r) {
    struct request* next = r->next;
    free(r);
    r = next;
  }
  while (c->mrs) {
    struct mr* m = c->mrs;
    c->mrs = m->next;
    free(m);
  }
  close(c->fd);
  free(c);
  return ccNetOk;
}

__attribute__((visibility("default"))) const ccNet_v1_t ccNetPlugin_v1 = {
    .name = "example",
    .abiVersion = CC_NET_ABI_VERSION,
    .init = exampleInit,
    .devices = exampleDevices,
    .getProperties = exampleGetProperties,
    .listen = exampleListen,
    .connect = exampleConnect,
    .accept = exampleAccept,
    .regMr = exampleRegMr,
    .deregMr = exampleDeregMr,
    .isend = exampleIsend,
    .irecv = exampleIrecv,
    .test = exampleTest,
    .iflush = NULL,
    .closeSend = closeComm,
    .closeRecv = closeComm,
    .closeListen = closeComm,
};
