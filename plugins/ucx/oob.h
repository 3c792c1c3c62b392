/*
 * oob.h — the UCX plugin's out-of-band side channel: a TCP connection on which each side sends one
 * length-prefixed frame (its UCP worker address, plus the connection tag from the client) and reads the
 * other's. Non-blocking: oobAdvance() moves what the socket allows. Frames are bounded (OOB_MAX_FRAME) and a
 * longer length, a short read or a closed socket is an error, never an overflow.
 */
#ifndef CONCCL_UCX_OOB_H_
#define CONCCL_UCX_OOB_H_

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define OOB_MAX_FRAME 8192

struct oob {
  int fd;
  int connecting; /* a non-blocking connect is in progress */
  uint8_t out[4 + OOB_MAX_FRAME];
  size_t outLen, outDone;
  uint8_t in[4 + OOB_MAX_FRAME];
  size_t inDone;
};

/* Opens a non-blocking listening socket on addr (port 0 = any); writes the bound port back. -1 on error. */
int oobListen(struct sockaddr_in* addr);
/* Starts a non-blocking connect to addr and queues `payload` (len <= OOB_MAX_FRAME); oobAdvance finishes
 * the connect. 0 on success, -1 on error. */
int oobConnect(struct oob* o, const struct sockaddr_in* addr, const void* payload, size_t len);
/* Takes an accepted socket and queues `payload`. */
void oobStart(struct oob* o, int fd, const void* payload, size_t len);
/* 1 = our frame is sent and the peer's frame received, 0 = not yet, -1 = error (socket closed, bad length). */
int oobAdvance(struct oob* o);
/* The peer's frame (valid after oobAdvance returned 1). */
const uint8_t* oobPeerFrame(const struct oob* o, size_t* len);
void oobClose(struct oob* o);

#endif
