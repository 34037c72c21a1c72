/*
 * net_track.h - what the socket hooks tell the request tracker, and the
 * tracker's tables: a descriptor table (fd -> role, connection), a pool of
 * connection states in agent-owned memory, and the segment's route, peer,
 * counter and time-series sections.
 */
#ifndef CHIM_NET_TRACK_H
#define CHIM_NET_TRACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "chim/shm_net.h"

enum { CHIM_NET_IN = 0, CHIM_NET_OUT = 1 };

enum chim_fd_kind {
    CHIM_FD_UNKNOWN = 0, /* not seen yet: classified on first use */
    CHIM_FD_IGNORED = 1, /* not a TCP socket, listening, TLS, or given up */
    CHIM_FD_IN = 2,      /* accepted: we are the server */
    CHIM_FD_OUT = 3,     /* connected: we are the client */
};

/* Set once in the constructor: request capture on (CHIM_NET != 0). */
extern int chim__net_on;

void chim__net_init(void);
/* net_hooks.c, idle_hooks.c: look up every real function (constructor). */
void chim__net_hooks_resolve(void);
void chim__idle_hooks_resolve(void);
void chim__net_fork_child(void);
/* accept/connect succeeded (peer: connect's address, or NULL). */
void chim__net_opened(int fd, int kind, const struct sockaddr *peer);
/* n bytes moved through iov (n <= the iovecs' total) at time t
 * (chim__clock_ns; 0: now). */
void chim__net_io(int fd, int dir, const struct iovec *iov, int iovcnt, size_t n, uint64_t t);
/* n bytes moved that the agent cannot see (sendfile, splice), at t (0: now). */
void chim__net_opaque(int fd, int dir, size_t n, uint64_t t);
/* The peer closed its side (read returned 0) or we shut down reading. */
void chim__net_eof(int fd);
/* The descriptor is about to be closed or replaced. */
void chim__net_closing(int fd);
void chim__net_close_range(unsigned first, unsigned last);
/* A new descriptor for an existing socket (dup): classified on first use. */
void chim__net_reset(int fd);
/* to is now a duplicate of from (dup, dup2, dup3): it shares from's
 * connection, or starts over when from is not one. */
void chim__net_dup(int from, int to);
void chim__net_io_uring(void);
/* fd, a TCP socket or not, was wrapped in a stdio stream (fdopen). */
void chim__net_stdio(int fd);
struct chim_conn;

/* Adds the bytes pending on open connections to the counters (exit, and
 * before a time-series point); held: a connection the caller has locked. */
void chim__net_flush_all(void);
/* At exit: every connection still open is finished as if closed. */
void chim__net_finish_open(void);
void chim__net_flush_held(struct chim_conn *held);
/* Writes a time-series point if the wall-clock second changed (one compare
 * otherwise); held as above, or NULL; now: the event's chim__clock_ns(). */
void chim__net_tick(struct chim_conn *held, uint64_t now);
/* CLOCK_REALTIME minus chim__clock_ns(), as of the last tick's wall-clock
 * read (once a second): the wall-clock time of a monotonic timestamp. */
extern uint64_t chim__net_rt_off;
/* A fork child's series starts afresh. */
void chim__net_series_fork(void);

/* Section rows for agent_layout.c. */
uint32_t chim__net_sections(struct chim_section *rows, uint32_t room);

#endif
