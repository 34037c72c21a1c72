/*
 * agent_util.c - the few libc-like helpers the agent needs, written so that
 * they never allocate, never use stdio and never touch the host's errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"

size_t chim__strlcpy(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; n && i + 1 < n && src[i]; i++)
        dst[i] = src[i];
    if (n)
        dst[i] = 0;
    return i;
}

char *chim__utoa(uint64_t v, char *buf)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *buf++ = tmp[--n];
    *buf = 0;
    return buf;
}

/* Reads up to n bytes of a (proc) file; retries on EINTR. */
ssize_t chim__read_maps(char *buf, size_t n)
{
    ssize_t got = chim__read_file("/proc/thread-self/maps", buf, n);
    return got > 0 ? got : chim__read_file("/proc/self/maps", buf, n);
}

ssize_t chim__read_file(const char *path, char *buf, size_t n)
{
    int saved = errno;
    /* Raw syscalls: the agent's own I/O must not pass through its hooks. */
    int fd = (int)syscall(SYS_open, path, O_RDONLY | O_CLOEXEC);
    ssize_t got = -1;
    if (fd >= 0) {
        got = 0;
        while ((size_t)got < n) {
            ssize_t r = syscall(SYS_read, fd, buf + got, n - (size_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += r;
        }
        syscall(SYS_close, fd);
    }
    errno = saved;
    return got;
}

uint64_t chim__now_ns(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t slen(const char *s)
{
    size_t n = 0;
    while (s && s[n])
        n++;
    return n;
}

/* One diagnostic line on stderr, only with CHIM_DEBUG=1. */
void chim__debug3(const char *a, const char *b, const char *c)
{
    if (!chim__cfg.debug)
        return;
    int saved = errno;
    syscall(SYS_write, 2, "chimagent: ", 11);
    syscall(SYS_write, 2, a, slen(a));
    syscall(SYS_write, 2, b, slen(b));
    syscall(SYS_write, 2, c, slen(c));
    syscall(SYS_write, 2, "\n", 1);
    errno = saved;
}

void chim__debug(const char *a, const char *b)
{
    chim__debug3(a, b, "");
}

/* Field `field` (1-based, space-separated) of a /proc file as a number, 0 if
 * absent. Text up to the last ')' counts as the first two fields, since a
 * process name in /proc/<pid>/stat may hold spaces. */
uint64_t chim__proc_u64(const char *path, int field)
{
    char buf[1024];
    ssize_t n = chim__read_file(path, buf, sizeof buf - 1);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *p = buf;
    int at = 1;
    for (const char *q = buf; *q; q++)
        if (*q == ')') {
            p = q + 1;
            at = 2;
        }
    for (; *p && at < field; p++)
        if (*p == ' ')
            at++;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}
