/*
 * net_hooks.c - the interposed socket and descriptor calls.
 *
 * Each hook calls the real function first, then (only if bytes moved or a
 * descriptor changed) tells the tracker (net_track.c) what happened, with
 * errno saved and restored around it: the host sees exactly the result and
 * errno the real call gave. Descriptors that are not TCP sockets cost one
 * table lookup in the tracker.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "agent.h"
#include "net_conn.h"
#include "unwind.h"

#define EXPORT __attribute__((visibility("default")))

struct real_fns {
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*read_chk)(int, void *, size_t, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recv_chk)(int, void *, size_t, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*recvfrom_chk)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    int (*recvmmsg)(int, struct mmsghdr *, unsigned, int, struct timespec *);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    int (*sendmmsg)(int, struct mmsghdr *, unsigned, int);
    ssize_t (*sendfile)(int, int, off_t *, size_t);
    ssize_t (*splice)(int, loff_t *, int, loff_t *, size_t, unsigned);
    int (*close)(int);
    int (*shutdown)(int, int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*close_range)(unsigned, unsigned, int);
    long (*syscall)(long, ...);
    FILE *(*fdopen)(int, const char *);
    int (*fcntl)(int, int, ...);
    int (*fcntl64)(int, int, ...);
};

static struct real_fns real;

/* Resolves one real function on first use (a call can come before the
 * constructor); dlsym may allocate, which the malloc hooks serve. */
#define REAL(name, sym)                                                                            \
    (CHIM_LIKELY(real.name != NULL) ? real.name                                                    \
                                    : (*(void **)&real.name = dlsym(RTLD_NEXT, sym), real.name))

/* Every real function, looked up in the agent's constructor: a lookup from
 * a hook takes the loader's lock, which a library's constructor holds
 * while dlopen runs it; one that waits for a thread making its first such
 * call would never get it back. The lazy lookup stays for calls made
 * before the constructor. */
void chim__net_hooks_resolve(void)
{
#define R(name, sym)                                                                               \
    if (!real.name)                                                                                \
        *(void **)&real.name = dlsym(RTLD_NEXT, sym);
    R(accept, "accept") R(accept4, "accept4") R(connect, "connect") R(close, "close");
    R(close_range, "close_range") R(dup, "dup") R(dup2, "dup2") R(dup3, "dup3");
    R(read, "read") R(read_chk, "__read_chk") R(readv, "readv") R(recv, "recv");
    R(recv_chk, "__recv_chk") R(recvfrom, "recvfrom") R(recvfrom_chk, "__recvfrom_chk");
    R(recvmsg, "recvmsg") R(recvmmsg, "recvmmsg") R(send, "send") R(sendto, "sendto");
    R(sendmsg, "sendmsg") R(sendmmsg, "sendmmsg") R(sendfile, "sendfile") R(splice, "splice");
    R(shutdown, "shutdown") R(syscall, "syscall") R(write, "write") R(writev, "writev");
    R(fdopen, "fdopen") R(fcntl, "fcntl") R(fcntl64, "fcntl64");
#undef R
}

#define TRACKING() CHIM_LIKELY(chim__net_on)

/* Data on fd is worth a look: tracking is on and fd is not a descriptor
 * already found uninteresting (file, pipe, listening socket, TLS ...):
 * those cost this one lookup, without a call or errno being touched. */
static inline int watched(int fd)
{
    if (!TRACKING())
        return 0;
    const struct chim_fdent *e = chim__fdent(fd, 0);
    return !e || e->kind != CHIM_FD_IGNORED;
}

/* Runs a tracker call with the host's errno preserved. */
#define NOTE(call)                                                                                 \
    do {                                                                                           \
        int saved_ = errno;                                                                        \
        call;                                                                                      \
        errno = saved_;                                                                            \
    } while (0)

/* r bytes read into buf, n asked for: 0 of n > 0 is the peer's end (a
 * read of 0 bytes returns 0 and says nothing). */
static void note_in(int fd, const void *buf, ssize_t r, size_t n)
{
    if (r > 0) {
        struct iovec v = {(void *)buf, (size_t)r};
        NOTE(chim__net_io(fd, CHIM_NET_IN, &v, 1, (size_t)r, 0));
    } else if (r == 0 && n > 0) {
        NOTE(chim__net_eof(fd));
    }
}

static size_t iov_len(const struct iovec *v, int cnt)
{
    size_t n = 0;
    for (int i = 0; v && i < cnt; i++)
        n += v[i].iov_len;
    return n;
}

/* Descriptors received over a Unix socket (SCM_RIGHTS) are new here, even
 * at a number whose close the agent did not see: their state starts over. */
static void received_fds(const struct msghdr *m)
{
    if (!m || !m->msg_control || m->msg_controllen < sizeof(struct cmsghdr))
        return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)m); c;
         c = CMSG_NXTHDR((struct msghdr *)m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
            NOTE(chim__net_reset(fd));
        }
    }
}

static void note_out(int fd, const void *buf, ssize_t r, uint64_t t)
{
    if (r > 0) {
        struct iovec v = {(void *)buf, (size_t)r};
        NOTE(chim__net_io(fd, CHIM_NET_OUT, &v, 1, (size_t)r, t));
    }
}

/* Bytes written are stamped when the process hands them over, before the
 * call: the time the kernel takes to send them, or a preemption on the way
 * back, is then part of a client's call and not of a server's latency.
 * Bytes read are stamped when the process has them, after the call. 0: fd
 * is not watched (no clock read). */
static inline uint64_t out_stamp(int fd)
{
    return watched(fd) ? chim__clock_ns() : 0;
}

/* ---- descriptors -------------------------------------------------------- */

EXPORT int accept(int s, struct sockaddr *a, socklen_t *l)
{
    int fd = REAL(accept, "accept")(s, a, l);
    if (fd >= 0 && TRACKING())
        NOTE(chim__net_opened(fd, CHIM_FD_IN, NULL));
    return fd;
}

EXPORT int accept4(int s, struct sockaddr *a, socklen_t *l, int flags)
{
    int fd = REAL(accept4, "accept4")(s, a, l, flags);
    if (fd >= 0 && TRACKING())
        NOTE(chim__net_opened(fd, CHIM_FD_IN, NULL));
    return fd;
}

EXPORT int connect(int fd, const struct sockaddr *a, socklen_t l)
{
    int rc = REAL(connect, "connect")(fd, a, l);
    if ((rc == 0 || errno == EINPROGRESS) && TRACKING())
        NOTE(chim__net_opened(fd, CHIM_FD_OUT, a));
    return rc;
}

EXPORT int close(int fd)
{
    if (TRACKING())
        NOTE(chim__net_closing(fd)); /* before: the number may be reused at once */
    return REAL(close, "close")(fd);
}

EXPORT int shutdown(int fd, int how)
{
    int rc = REAL(shutdown, "shutdown")(fd, how);
    if (rc == 0 && TRACKING() && how != SHUT_WR)
        NOTE(chim__net_eof(fd));
    return rc;
}

EXPORT int dup(int fd)
{
    int n = REAL(dup, "dup")(fd);
    if (n >= 0 && TRACKING())
        NOTE(chim__net_dup(fd, n));
    return n;
}

/* dup2/dup3 onto a followed descriptor: its old connection ends in
 * chim__net_dup, once the call has replaced it (a failed call leaves it). */
EXPORT int dup2(int fd, int n)
{
    int r = REAL(dup2, "dup2")(fd, n);
    if (r >= 0 && fd != n && TRACKING())
        NOTE(chim__net_dup(fd, r));
    return r;
}

EXPORT int dup3(int fd, int n, int flags)
{
    int r = REAL(dup3, "dup3")(fd, n, flags);
    if (r >= 0 && TRACKING())
        NOTE(chim__net_dup(fd, r));
    return r;
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if (TRACKING() && !(flags & 4 /* CLOSE_RANGE_CLOEXEC */))
        NOTE(chim__net_close_range(first, last));
    if (!REAL(close_range, "close_range")) {
        errno = ENOSYS;
        return -1;
    }
    return real.close_range(first, last, flags);
}

/* ---- bytes in ------------------------------------------------------------ */

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    if (CHIM_UNLIKELY(chim__tls.in_unwind)) { /* libunwind draining its pipe */
        long p = chim__unwind_probe(SYS_read, fd, NULL, n);
        if (p != -2)
            return p;
    }
    ssize_t r = REAL(read, "read")(fd, buf, n);
    if (watched(fd))
        note_in(fd, buf, r, n);
    return r;
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    ssize_t r = REAL(read_chk, "__read_chk")(fd, buf, n, buflen);
    if (watched(fd))
        note_in(fd, buf, r, n);
    return r;
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    ssize_t r = REAL(recv, "recv")(fd, buf, n, flags);
    if (watched(fd) && !(flags & MSG_PEEK))
        note_in(fd, buf, r, n);
    return r;
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
    ssize_t r = REAL(recv_chk, "__recv_chk")(fd, buf, n, buflen, flags);
    if (watched(fd) && !(flags & MSG_PEEK))
        note_in(fd, buf, r, n);
    return r;
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *a, socklen_t *l)
{
    ssize_t r = REAL(recvfrom, "recvfrom")(fd, buf, n, flags, a, l);
    if (watched(fd) && !(flags & MSG_PEEK))
        note_in(fd, buf, r, n);
    return r;
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                              struct sockaddr *a, socklen_t *l)
{
    ssize_t r = REAL(recvfrom_chk, "__recvfrom_chk")(fd, buf, n, buflen, flags, a, l);
    if (watched(fd) && !(flags & MSG_PEEK))
        note_in(fd, buf, r, n);
    return r;
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    ssize_t r = REAL(readv, "readv")(fd, iov, cnt);
    if (watched(fd) && r > 0)
        NOTE(chim__net_io(fd, CHIM_NET_IN, iov, cnt, (size_t)r, 0));
    else if (watched(fd) && r == 0 && iov_len(iov, cnt) > 0)
        NOTE(chim__net_eof(fd));
    return r;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
    ssize_t r = REAL(recvmsg, "recvmsg")(fd, m, flags);
    if (r >= 0 && TRACKING() && m->msg_controllen)
        received_fds(m);
    if (watched(fd) && r > 0 && !(flags & MSG_PEEK))
        NOTE(chim__net_io(fd, CHIM_NET_IN, m->msg_iov, (int)m->msg_iovlen, (size_t)r, 0));
    else if (watched(fd) && r == 0 && iov_len(m->msg_iov, (int)m->msg_iovlen) > 0)
        NOTE(chim__net_eof(fd));
    return r;
}

EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *t)
{
    int r = REAL(recvmmsg, "recvmmsg")(fd, v, n, flags, t);
    for (int i = 0; TRACKING() && i < r; i++)
        if (v[i].msg_hdr.msg_controllen)
            received_fds(&v[i].msg_hdr);
    for (int i = 0; watched(fd) && i < r && !(flags & MSG_PEEK); i++)
        NOTE(chim__net_io(fd, CHIM_NET_IN, v[i].msg_hdr.msg_iov, (int)v[i].msg_hdr.msg_iovlen,
                          v[i].msg_len, 0));
    return r;
}

/* ---- bytes out ----------------------------------------------------------- */

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    uint64_t t = out_stamp(fd);
    ssize_t r = REAL(write, "write")(fd, buf, n);
    if (t)
        note_out(fd, buf, r, t);
    return r;
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    uint64_t t = out_stamp(fd);
    ssize_t r = REAL(send, "send")(fd, buf, n, flags);
    if (t)
        note_out(fd, buf, r, t);
    return r;
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *a,
                      socklen_t l)
{
    uint64_t t = out_stamp(fd);
    ssize_t r = REAL(sendto, "sendto")(fd, buf, n, flags, a, l);
    if (t)
        note_out(fd, buf, r, t);
    return r;
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    uint64_t t = out_stamp(fd);
    ssize_t r = REAL(writev, "writev")(fd, iov, cnt);
    if (t && r > 0)
        NOTE(chim__net_io(fd, CHIM_NET_OUT, iov, cnt, (size_t)r, t));
    return r;
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    uint64_t t = out_stamp(fd);
    ssize_t r = REAL(sendmsg, "sendmsg")(fd, m, flags);
    if (t && r > 0)
        NOTE(chim__net_io(fd, CHIM_NET_OUT, m->msg_iov, (int)m->msg_iovlen, (size_t)r, t));
    return r;
}

EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
    uint64_t t = out_stamp(fd);
    int r = REAL(sendmmsg, "sendmmsg")(fd, v, n, flags);
    for (int i = 0; t && i < r; i++)
        NOTE(chim__net_io(fd, CHIM_NET_OUT, v[i].msg_hdr.msg_iov, (int)v[i].msg_hdr.msg_iovlen,
                          v[i].msg_len, t));
    return r;
}

/* sendfile and splice move bytes the agent never sees: the tracker counts
 * them as opaque body bytes (framing stays exact for length-framed bodies). */
EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    uint64_t t = out_stamp(out);
    ssize_t r = REAL(sendfile, "sendfile")(out, in, off, n);
    if (TRACKING() && r > 0)
        NOTE(chim__net_opaque(out, CHIM_NET_OUT, (size_t)r, t));
    return r;
}

EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t n)
{
    return sendfile(out, in, off, n);
}

EXPORT ssize_t splice(int in, loff_t *oin, int out, loff_t *oout, size_t n, unsigned flags)
{
    uint64_t t = out_stamp(out);
    ssize_t r = REAL(splice, "splice")(in, oin, out, oout, n, flags);
    if (TRACKING() && r > 0) {
        NOTE(chim__net_opaque(in, CHIM_NET_IN, (size_t)r, 0));
        NOTE(chim__net_opaque(out, CHIM_NET_OUT, (size_t)r, t));
    }
    return r;
}

/* fcntl's duplicating commands (CPython's socket.dup and os.dup use
 * F_DUPFD_CLOEXEC): the new descriptor shares the connection, as after
 * dup(). Every command's third argument goes through as a long: an int or
 * a pointer, both passed in one register. */
static int fcntl_call(int (*fn)(int, int, ...), int fd, int cmd, long arg)
{
    if (!fn) {
        errno = ENOSYS;
        return -1;
    }
    int r = fn(fd, cmd, arg);
    if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && r >= 0 && TRACKING())
        NOTE(chim__net_dup(fd, r));
    return r;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    return fcntl_call(REAL(fcntl, "fcntl"), fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    return fcntl_call(REAL(fcntl64, "fcntl64"), fd, cmd, arg);
}

/* A socket wrapped in a stdio stream: glibc's stdio reads and writes it
 * with its internal calls, past every hook; noticed, so the report can say
 * (the stream is not followed). */
EXPORT FILE *fdopen(int fd, const char *mode)
{
    if (!REAL(fdopen, "fdopen")) {
        errno = ENOSYS;
        return NULL;
    }
    FILE *f = real.fdopen(fd, mode);
    if (f && TRACKING())
        NOTE(chim__net_stdio(fd));
    return f;
}

/* Descriptor calls made through syscall(2), as libuv (Node.js) closes its
 * sockets: a close the agent does not see leaves the number's state for
 * the next descriptor to get it (a file read as requests, a socket taken
 * for a pipe). io_uring moves bytes past every hook: noticed, so the
 * report can say. */
static void raw_descriptor_call(long nr, long a, long b, long c)
{
    switch (nr) {
    case SYS_close:
        chim__net_closing((int)a);
        break;
#ifdef SYS_close_range
    case SYS_close_range:
        if (!(c & 4 /* CLOSE_RANGE_CLOEXEC */))
            chim__net_close_range((unsigned)a, (unsigned)b);
        break;
#endif
    case SYS_io_uring_setup:
        chim__net_io_uring();
        break;
    }
}

EXPORT long syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    if (CHIM_UNLIKELY(chim__tls.in_unwind) && (nr == SYS_read || nr == SYS_write)) {
        long p = chim__unwind_probe(nr, a, (const void *)b, (size_t)c);
        if (p != -2)
            return p;
    }
    if (TRACKING())
        NOTE(raw_descriptor_call(nr, a, b, c));
    long r = REAL(syscall, "syscall")(nr, a, b, c, d, e, f);
    int dup_call = nr == SYS_dup || nr == SYS_dup2 || nr == SYS_dup3 ||
                   (nr == SYS_fcntl && (b == F_DUPFD || b == F_DUPFD_CLOEXEC));
    if (dup_call && r >= 0 && r != a && TRACKING())
        NOTE(chim__net_dup((int)a, (int)r));
    return r;
}
