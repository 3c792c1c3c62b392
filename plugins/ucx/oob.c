/* oob.c — see oob.h. */
#define _GNU_SOURCE
#include "oob.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int oobListen(struct sockaddr_in* addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  socklen_t len = sizeof(*addr);
  if (bind(fd, (struct sockaddr*)addr, len) != 0 || listen(fd, 256) != 0 ||
      getsockname(fd, (struct sockaddr*)addr, &len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void queue(struct oob* o, const void* payload, size_t len) {
  uint32_t n = (uint32_t)len;
  memcpy(o->out, &n, 4);
  memcpy(o->out + 4, payload, len);
  o->outLen = 4 + len;
  o->outDone = 0;
  o->inDone = 0;
}

int oobConnect(struct oob* o, const struct sockaddr_in* addr, const void* payload, size_t len) {
  if (len > OOB_MAX_FRAME) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (const struct sockaddr*)addr, sizeof(*addr)) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  o->fd = fd;
  o->connecting = 1;
  queue(o, payload, len);
  return 0;
}

void oobStart(struct oob* o, int fd, const void* payload, size_t len) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  o->fd = fd;
  queue(o, payload, len > OOB_MAX_FRAME ? 0 : len);
}

static int wouldBlock(void) { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

int oobAdvance(struct oob* o) {
  if (o->connecting) { /* the non-blocking connect has not finished yet */
    struct pollfd p = {o->fd, POLLOUT, 0};
    if (poll(&p, 1, 0) == 0) return 0;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return -1;
    o->connecting = 0;
  }
  while (o->outDone < o->outLen) {
    ssize_t n = send(o->fd, o->out + o->outDone, o->outLen - o->outDone, MSG_NOSIGNAL);
    if (n < 0 && wouldBlock()) break;
    if (n <= 0) return -1;
    o->outDone += (size_t)n;
  }
  for (;;) {
    size_t want = 4;
    if (o->inDone >= 4) {
      uint32_t len;
      memcpy(&len, o->in, 4);
      if (len > OOB_MAX_FRAME) return -1;
      want = 4 + len;
    }
    if (o->inDone == want) break;
    ssize_t n = recv(o->fd, o->in + o->inDone, want - o->inDone, 0);
    if (n < 0 && wouldBlock()) return 0;
    if (n <= 0) return -1;
    o->inDone += (size_t)n;
  }
  return o->outDone == o->outLen ? 1 : 0;
}

const uint8_t* oobPeerFrame(const struct oob* o, size_t* len) {
  uint32_t n;
  memcpy(&n, o->in, 4);
  *len = n;
  return o->in + 4;
}

void oobClose(struct oob* o) {
  if (o->fd >= 0) close(o->fd);
  o->fd = -1;
}
