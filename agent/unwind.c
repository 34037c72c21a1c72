/*
 * unwind.c - stack capture for the leak tracker (see unwind.h).
 *
 * Frame-pointer walk: the hooks (malloc_hooks.c, built with -ffixed-rbp)
 * never touch rbp, and everything between them and the walker keeps frame
 * pointers, so the chain from here leads straight into the host's frames.
 * The walk stops at the first frame pointer that does not move up the
 * thread's stack, leaves it, or is misaligned; the stack bounds come from
 * thread start (pthread_create is interposed in dl_hooks.c) and, for the main
 * thread, from __libc_stack_end. A thread without known bounds is unwound
 * with libunwind.
 *
 * libunwind is loaded with dlopen(RTLD_LOCAL) in the constructor, not
 * linked: a linked libunwind.so.8 would put its _Unwind_RaiseException ahead
 * of libgcc_s's for every C++ host, even in count mode. Its own memory comes
 * from mmap; any malloc it makes finds chim__tls.in_agent set and is passed
 * through untracked, so it cannot recurse.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "leak.h"
#include "unwind.h"

extern void *__libc_stack_end;

static uint32_t unwinder = CHIM_UNWIND_FP;
static int (*unw_bt)(void **, int);
static int lu_off; /* the host closed or replaced libunwind's pipe */
int chim__lu_fd[2] = {-1, -1};
static CHIM_TLS uintptr_t stack_lo, stack_hi;
static CHIM_TLS int stack_checked;
static uintptr_t main_hi;

void chim__unwind_set_stack(uintptr_t lo, uintptr_t hi)
{
    stack_lo = lo;
    stack_hi = hi;
}

/* libunwind: its frames start in this function; agent frames are cut. */
static __attribute__((noinline)) int lu_walk(uintptr_t ra, uint64_t *ips, int max)
{
    void *buf[CHIM_STACK_DEPTH_MAX + 8];
    int want =
        max + 6 < (int)(sizeof buf / sizeof buf[0]) ? max + 6 : (int)(sizeof buf / sizeof buf[0]);
    int saved = errno; /* libunwind's memory probes may set it */
    int got = unw_bt ? unw_bt(buf, want) : 0;
    errno = saved;
    int i = 0, n = 0;
    while (i < got && chim__in_agent_text((uintptr_t)buf[i]))
        i++;
    /* buf[i] is the return address into the host's caller: it equals ra
     * unless the unwinder lost a frame. Keep ra first in any case. */
    ips[n++] = ra;
    if (i < got && (uintptr_t)buf[i] == ra)
        i++;
    for (; i < got && n < max; i++)
        if (!chim__in_agent_text((uintptr_t)buf[i])) /* e.g. the thread trampoline */
            ips[n++] = (uint64_t)(uintptr_t)buf[i];
    return n;
}

/* Frame pointers, checked: each frame above the last, inside the stack,
 * 16-byte aligned (the x86-64 ABI keeps rbp so after `push rbp`). `fp` is
 * the host's frame (0: start from this function's own). */
static inline __attribute__((always_inline)) int fp_walk(uintptr_t ra, uintptr_t fp, uint64_t *ips,
                                                         int max)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    uintptr_t hi = stack_hi, alo = chim__text.agent_lo, ahi = chim__text.agent_hi;
    int n = 0;
    ips[n++] = ra;
    if (!fp)
        fp = here;
    else if (fp <= here)
        return n; /* not a frame pointer: the host was built without them */
    while (n < max) {
        if (fp & 15 || fp + 16 > hi)
            break;
        uintptr_t next = ((const uintptr_t *)fp)[0];
        uintptr_t ret = ((const uintptr_t *)fp)[1];
        if (ret < 4096)
            break;
        if (ret - alo >= ahi - alo) /* not the agent's own frame */
            ips[n++] = ret;
        if (next <= fp || next - fp > (64u << 20))
            break;
        fp = next;
    }
    return n;
}

static __attribute__((noinline)) int know_stack_slow(void)
{
    if (stack_checked)
        return 0;
    /* The main thread (once per thread): its frames lie below the page end
     * of __libc_stack_end. */
    stack_checked = 1;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (main_hi && here < main_hi && syscall(SYS_gettid) == getpid()) {
        stack_hi = main_hi;
        stack_lo = here;
        return 1;
    }
    return 0;
}

static inline int know_stack(void)
{
    return CHIM_LIKELY(stack_hi != 0) || know_stack_slow();
}

int chim__unwind(uintptr_t ra, uintptr_t fp, uint64_t *ips, int max)
{
    if (max <= 0)
        return 0;
    uint32_t u = unwinder;
    int lu = unw_bt && !__atomic_load_n(&lu_off, __ATOMIC_RELAXED);
    if (u == CHIM_UNWIND_LIBUNWIND && lu)
        return lu_walk(ra, ips, max);
    if (u == CHIM_UNWIND_AUTO && lu &&
        (chim__in_libc_text(ra) || chim__in_cxx_text(ra) || !know_stack()))
        return lu_walk(ra, ips, max);
    if (!know_stack()) {
        ips[0] = ra; /* no bounds, no libunwind: the caller alone */
        return 1;
    }
    return fp_walk(ra, fp, ips, max);
}

int chim__unwind_owns(uintptr_t lo, uintptr_t hi)
{
    uintptr_t f = (uintptr_t)unw_bt;
    return f && f >= lo && f < hi;
}

uintptr_t chim__unwind_main_hi(void)
{
    return main_hi;
}

static void load_libunwind(void)
{
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        h = dlopen("libunwind.so", RTLD_NOW | RTLD_LOCAL);
    if (h)
        *(void **)&unw_bt = dlsym(h, "unw_backtrace");
}

/* The two lowest free descriptors: where libunwind's pipe2 will land. */
static void lowest_free(int out[2])
{
    out[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    out[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < 2; i++)
        if (out[i] >= 0)
            close(out[i]);
}

static int is_fifo(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

void chim__unwind_fd_lost(void)
{
    if (chim__lu_fd[0] < 0 && chim__lu_fd[1] < 0)
        return;
    __atomic_store_n(&lu_off, 1, __ATOMIC_RELAXED);
    chim__lu_fd[0] = chim__lu_fd[1] = -1;
    chim__leak_unwinder_lost();
}

uint32_t chim__unwind_init(uint32_t kind)
{
    uintptr_t top = (uintptr_t)__libc_stack_end;
    main_hi = (top + 4095) & ~(uintptr_t)4095;
    if (kind != CHIM_UNWIND_FP)
        load_libunwind();
    unwinder = kind;
    if (kind == CHIM_UNWIND_LIBUNWIND && !unw_bt)
        unwinder = CHIM_UNWIND_FP;
    /* Warm up: libunwind builds its caches and opens its descriptors on the
     * first call. In auto mode too: else that happens at the first
     * allocation from libc, maybe after a daemon closed 0-2 and before it
     * reopens them (its pipe would take them). */
    uint64_t ips[CHIM_STACK_DEPTH_MAX];
    int fds[2] = {-1, -1};
    if (unw_bt)
        lowest_free(fds);
    chim__unwind((uintptr_t)__builtin_return_address(0), 0, ips, 32);
    if (unwinder == CHIM_UNWIND_AUTO && unw_bt)
        lu_walk((uintptr_t)__builtin_return_address(0), ips, 32);
    if (is_fifo(fds[0]) && is_fifo(fds[1])) { /* its pipe2 took them */
        chim__lu_fd[0] = fds[0];
        chim__lu_fd[1] = fds[1];
    }
    return unwinder;
}

double chim__unwind_bench(uint32_t kind, int iterations)
{
    uint32_t saved = unwinder;
    uint64_t ips[CHIM_STACK_DEPTH_MAX];
    unwinder = kind;
    uint64_t t0 = chim__now_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < iterations; i++)
        chim__unwind((uintptr_t)__builtin_return_address(0), 0, ips, (int)chim__leakcfg.depth);
    uint64_t t1 = chim__now_ns(CLOCK_MONOTONIC);
    unwinder = saved;
    return iterations ? (double)(t1 - t0) / iterations : 0.0;
}
