/*
 * idle_hooks.c - the calls a thread blocks in: sleep, usleep, nanosleep,
 * clock_nanosleep, poll, ppoll, select, epoll_wait, epoll_pwait, pause.
 *
 * In full mode each thread keeps its site counters' latest changes to
 * itself (up to 1024 events, leak_track.c) and hands them to the segment as
 * it goes on allocating. A thread that allocates and then waits would keep
 * them out of sight for as long as it waits; so before it blocks they go to
 * the segment. A call that cannot block (a zero timeout) passes straight
 * through, and in count and sample mode every call costs one thread-local
 * load. Each hook then calls the real function with the host's arguments:
 * its result and errno are the real call's.
 */
#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "leak.h"

#define EXPORT __attribute__((visibility("default")))

/* poll as _FORTIFY_SOURCE builds call it (declared by glibc only there). */
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);

/* The real functions: looked up in the agent's constructor (see
 * chim__net_hooks_resolve for why), or on first use before it. */
static struct {
    __typeof__(sleep) *sleep;
    __typeof__(usleep) *usleep;
    __typeof__(nanosleep) *nanosleep;
    __typeof__(clock_nanosleep) *clock_nanosleep;
    __typeof__(poll) *poll;
    __typeof__(__poll_chk) *__poll_chk;
    __typeof__(select) *select;
    __typeof__(epoll_wait) *epoll_wait;
    __typeof__(epoll_pwait) *epoll_pwait;
    __typeof__(ppoll) *ppoll;
    __typeof__(pause) *pause;
} real;

#define LOOKUP(fn)                                                                                 \
    if (!real.fn)                                                                                  \
        *(void **)&real.fn = dlsym(RTLD_NEXT, #fn);

void chim__idle_hooks_resolve(void)
{
    LOOKUP(sleep) LOOKUP(usleep) LOOKUP(nanosleep) LOOKUP(clock_nanosleep) LOOKUP(poll);
    LOOKUP(__poll_chk)
    LOOKUP(select) LOOKUP(epoll_wait) LOOKUP(epoll_pwait) LOOKUP(ppoll) LOOKUP(pause);
}

/* next_: the real fn. */
#define REAL(fn)                                                                                   \
    if (CHIM_UNLIKELY(!real.fn))                                                                   \
        LOOKUP(fn);                                                                                \
    __typeof__(fn) *next_ = real.fn;

EXPORT unsigned int sleep(unsigned int s)
{
    REAL(sleep);
    if (s)
        chim__leak_idle();
    return next_(s);
}

EXPORT int usleep(useconds_t us)
{
    REAL(usleep);
    if (us)
        chim__leak_idle();
    return next_(us);
}

EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
    REAL(nanosleep);
    chim__leak_idle();
    return next_(req, rem);
}

EXPORT int clock_nanosleep(clockid_t c, int flags, const struct timespec *req, struct timespec *rem)
{
    REAL(clock_nanosleep);
    chim__leak_idle();
    return next_(c, flags, req, rem);
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    REAL(poll);
    if (timeout)
        chim__leak_idle();
    return next_(fds, n, timeout);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    REAL(__poll_chk);
    if (timeout)
        chim__leak_idle();
    return next_(fds, n, timeout, fdslen);
}

EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout)
{
    REAL(select);
    if (!timeout || timeout->tv_sec || timeout->tv_usec)
        chim__leak_idle();
    return next_(n, r, w, e, timeout);
}

EXPORT int epoll_wait(int fd, struct epoll_event *ev, int max, int timeout)
{
    REAL(epoll_wait);
    if (timeout)
        chim__leak_idle();
    return next_(fd, ev, max, timeout);
}

/* libuv (Node) waits here. */
EXPORT int epoll_pwait(int fd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
    REAL(epoll_pwait);
    if (timeout)
        chim__leak_idle();
    return next_(fd, ev, max, timeout, mask);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask)
{
    REAL(ppoll);
    if (!timeout || timeout->tv_sec || timeout->tv_nsec)
        chim__leak_idle();
    return next_(fds, n, timeout, mask);
}

EXPORT int pause(void)
{
    REAL(pause);
    chim__leak_idle();
    return next_();
}
