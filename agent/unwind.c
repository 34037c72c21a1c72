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
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "leak.h"
#include "unwind.h"

extern void *__libc_stack_end;

static uint32_t unwinder = CHIM_UNWIND_FP;
static int (*unw_bt)(void **, int);
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
    int saved = errno;       /* libunwind's memory probes may set it */
    chim__tls.in_unwind = 1; /* see chim__unwind_probe */
    int got = unw_bt ? unw_bt(buf, want) : 0;
    chim__tls.in_unwind = 0;
    errno = saved;
    int i = 0, n = 0;
    uintptr_t alo = chim__text.agent_lo, alen = chim__text.agent_hi - alo;
#define IN_AGENT(ip) ((uintptr_t)(ip)-alo < alen) /* chim__in_agent_text, inline */
    while (i < got && IN_AGENT(buf[i]))
        i++;
    /* buf[i] is the return address into the host's caller: it equals ra
     * unless the unwinder lost a frame. Keep ra first in any case. */
    ips[n++] = ra;
    if (i < got && (uintptr_t)buf[i] == ra)
        i++;
    for (; i < got && n < max; i++)
        if (!IN_AGENT(buf[i])) /* e.g. the thread trampoline */
            ips[n++] = (uint64_t)(uintptr_t)buf[i];
#undef IN_AGENT
    return n;
}

/* Per thread, the answers for the last code pages asked about, 64 ways
 * (hashed by page): (page | generation) << 1 | no frame pointers. Two call sites
 * on alternating pages no longer miss every time; a walk asks about each
 * of its frames' pages. */
#define PAGE_WAYS 64
static CHIM_TLS uintptr_t page_cache[PAGE_WAYS];
/* Behind it, one table for the process: a page is judged once (an object
 * judged per page costs a search of its unwind table and a look at each
 * function on the page), whichever thread asks. Entries are whole words,
 * written and read relaxed: a lost or overwritten one is judged again. */
#define PAGE_SHARED 4096
static uintptr_t page_shared[PAGE_SHARED];

static inline unsigned page_slot(uintptr_t k, unsigned ways)
{
    return (unsigned)((k * 0x9E3779B97F4A7C15ull) >> 40) & (ways - 1);
}

static inline uintptr_t page_key(uintptr_t ip, uint32_t gen)
{
    return ip >> 12 | (uintptr_t)gen << 40;
}

/* Whether code at ip is unwound by libunwind in auto mode: libc and
 * libstdc++ (operator new's callers), and objects without frame pointers
 * (leak_modules.c); the answer is remembered for ip's page. */
static __attribute__((noinline)) void nofp_lookup(uintptr_t ip, uint32_t gen)
{
    uintptr_t k = page_key(ip, gen);
    uintptr_t *g = &page_shared[page_slot(k, PAGE_SHARED)],
              e = __atomic_load_n(g, __ATOMIC_RELAXED);
    if (e >> 1 != k) {
        int lu = chim__in_libc_text(ip) || chim__in_cxx_text(ip) || chim__code_nofp(ip);
        e = k << 1 | (uintptr_t)lu;
        __atomic_store_n(g, e, __ATOMIC_RELAXED);
    }
    page_cache[page_slot(k, PAGE_WAYS)] = e;
}

/* Whether a frame-pointer walk must not go on past a return into ret: its
 * code keeps no frame pointers (or its page may hold such code). */
static inline int page_lu(uintptr_t ret, uint32_t gen)
{
    uintptr_t k = page_key(ret, gen), e = page_cache[page_slot(k, PAGE_WAYS)];
    if (CHIM_UNLIKELY(e >> 1 != k)) {
        nofp_lookup(ret, gen);
        e = page_cache[page_slot(k, PAGE_WAYS)];
    }
    return (int)(e & 1);
}

/* Frame pointers, checked: each frame above the last, inside the stack,
 * 16-byte aligned (the x86-64 ABI keeps rbp so after `push rbp`). `fp` is
 * the host's frame (0: start from this function's own). */
/* The returns into the C runtime where a walk ends, below main and, if a
 * walk reaches it, below a thread's start routine (learnt: see
 * untrusted_walk); a return into libc anywhere else is a callback's
 * caller's. */
#define ROOTS 4
static uintptr_t root_ret[ROOTS];

static inline int is_root(uintptr_t ret)
{
    return ret == root_ret[0] || ret == root_ret[1] || ret == root_ret[2] || ret == root_ret[3];
}

/* `*untrusted` (auto mode, `gen` the module map's generation): a return
 * into code that keeps no frame pointers (libc, libstdc++, objects judged
 * without them) met on the way other than the roots' (0 if none): the
 * frame it leads to cannot be trusted, the walk stops there. */
static inline __attribute__((always_inline)) int fp_walk(uintptr_t ra, uintptr_t fp, uint64_t *ips,
                                                         int max, uintptr_t *untrusted,
                                                         uint32_t gen, int check)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    uintptr_t hi = stack_hi, alo = chim__text.agent_lo, ahi = chim__text.agent_hi;
    uintptr_t seen = 0;
    int n = 0;
    ips[n++] = ra;
    *untrusted = 1; /* no frame passed the checks (the host's caller keeps none) */
    if (!fp)
        fp = here;
    else if (fp <= here)
        return n; /* not a frame pointer: the host was built without them */
    int steps = 0;
    while (n < max) {
        if (fp & 15 || fp + 16 > hi)
            break;
        uintptr_t next = ((const uintptr_t *)fp)[0];
        uintptr_t ret = ((const uintptr_t *)fp)[1];
        if (ret < 4096)
            break;
        steps++;
        if (ret - alo >= ahi - alo) /* not the agent's own frame */
            ips[n++] = ret;
        else if (check)
            break; /* the agent's thread start (its code keeps no frame pointers) */
        if (check && CHIM_UNLIKELY(page_lu(ret, gen))) {
            if (!is_root(ret))
                seen = ret;
            break; /* below main or a thread's start: nothing more to read */
        }
        if (next <= fp || next - fp > (64u << 20))
            break;
        fp = next;
    }
    *untrusted = seen ? seen : steps == 0;
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

/* ret is libc's signal return trampoline (`mov $15,%rax; syscall`,
 * rt_sigreturn): a handler's caller, never a root, even when libunwind's
 * walk ends just past it (the interrupted code had no unwind information). */
static int sigreturn_at(uintptr_t ret)
{
    static const unsigned char tramp[9] = {0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05};
    return !memcmp((const void *)ret, tramp, sizeof tramp);
}

/* The frame-pointer walk met a return into code without frame pointers (ret): libunwind
 * instead. When that return is the C runtime's below main or a thread's
 * start (libunwind's walk ends one or two frames after it, in known code:
 * __libc_start_main and _start, or clone3), it is remembered and later
 * walks keep their frame pointers. A walk that ended in code without
 * unwind information (generated code) learns nothing. */
static __attribute__((noinline)) int untrusted_walk(uintptr_t ra, uint64_t *ips, int max,
                                                    uintptr_t ret)
{
    int n = lu_walk(ra, ips, max);
    for (int i = 1; i < n; i++)
        if (ips[i] == ret && n - i >= 2 && n - i <= 3 && n < max && !sigreturn_at(ret) &&
            chim__code_known((uintptr_t)ips[n - 1]) && chim__code_known((uintptr_t)ips[i + 1]))
            for (int r = 0; r < ROOTS; r++) {
                uintptr_t cur = __atomic_load_n(&root_ret[r], __ATOMIC_RELAXED);
                if (cur == ret ||
                    (!cur && __atomic_compare_exchange_n(&root_ret[r], &cur, ret, 0,
                                                         __ATOMIC_RELAXED, __ATOMIC_RELAXED)))
                    break;
            }
    return n;
}

/* chim__unwind after a miss of the page cache: looked up, then again
 * (reached by a tail call, so the hot path saves no more registers). */
static __attribute__((noinline)) int unwind_after_lookup(uintptr_t ra, uintptr_t fp, uint64_t *ips,
                                                         int max, uint32_t gen)
{
    nofp_lookup(ra, gen);
    return chim__unwind(ra, fp, ips, max);
}

int chim__unwind(uintptr_t ra, uintptr_t fp, uint64_t *ips, int max)
{
    if (max <= 0)
        return 0;
    uint32_t u = unwinder;
    if (u == CHIM_UNWIND_LIBUNWIND && unw_bt)
        return lu_walk(ra, ips, max);
    if (u == CHIM_UNWIND_AUTO && unw_bt) {
        /* The caller in libc, libstdc++ or code without frame pointers
         * (nofp_lookup): the answer for its page, kept per thread while the
         * module map stays the same. */
        uint32_t gen = __atomic_load_n(&chim__modmap_gen, __ATOMIC_ACQUIRE);
        uintptr_t k = page_key(ra, gen), e = page_cache[page_slot(k, PAGE_WAYS)];
        if (CHIM_UNLIKELY(e >> 1 != k))
            return unwind_after_lookup(ra, fp, ips, max, gen);
        if ((e & 1) || !know_stack())
            return lu_walk(ra, ips, max);
    }
    if (!know_stack()) {
        ips[0] = ra; /* no bounds, no libunwind: the caller alone */
        return 1;
    }
    uintptr_t untrusted = 0;
    if (u != CHIM_UNWIND_AUTO || !unw_bt)
        return fp_walk(ra, fp, ips, max, &untrusted, 0, 0);
    uint32_t gen = __atomic_load_n(&chim__modmap_gen, __ATOMIC_ACQUIRE);
    int n = fp_walk(ra, fp, ips, max, &untrusted, gen, 1);
    /* A checked walk always reads at least the caller's frame (its return
     * into main's caller in libc, or into the agent's thread start): none
     * means the host's caller keeps no frame pointer (-O2 code): libunwind. */
    if (CHIM_UNLIKELY(untrusted == 1) && max > 1)
        return lu_walk(ra, ips, max);
    /* A walk that met a return into code without frame pointers other
     * than a root's (libc calling a qsort comparator, a pthread_once
     * routine, a signal handler through __restore_rt; an -O2 library
     * calling back): the frames beyond it are lost or skipped. */
    if (CHIM_UNLIKELY(untrusted != 0))
        return untrusted_walk(ra, ips, max, untrusted);
    return n;
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

/* A process started with 0-2 closed: libunwind's pipe, opened by the
 * warm-up at the lowest free numbers, would become its stdin or stdout;
 * /dev/null holds them during the warm-up. Returns how many it holds. */
static int hold_low_fds(int hold[3])
{
    int nh = 0;
    for (int f; nh < 3 && (f = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0;) {
        if (f > 2) {
            close(f);
            break;
        }
        hold[nh++] = f;
    }
    return nh;
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
    int hold[3], nh = unw_bt ? hold_low_fds(hold) : 0;
    chim__unwind((uintptr_t)__builtin_return_address(0), 0, ips, 32);
    if (unwinder == CHIM_UNWIND_AUTO && unw_bt)
        lu_walk((uintptr_t)__builtin_return_address(0), ips, 32);
    while (nh)
        close(hold[--nh]);
    return unwinder;
}

/* libunwind 1.6 checks that an address is readable by draining a private
 * pipe with read() and writing one byte of the address into it with
 * syscall(SYS_write); when the drain fails it closes the pipe and opens a
 * new one. The pipe's numbers are the host's to close and reuse (a daemon
 * closing every descriptor, closefrom), so while the agent unwinds, the
 * read and syscall hooks send those calls here and no descriptor is
 * touched: a drain finds the pipe empty, a probe asks process_vm_readv.
 * Where that is denied (seccomp), the address counts as unreadable: the
 * walk stops there, short but safe. Returns -2 for a call that is not a
 * probe (it goes to the kernel). */
long chim__unwind_probe(long nr, long fd, const void *addr, size_t n)
{
    (void)fd;
    if (n != 1)
        return -2;
    if (nr == SYS_read) {
        errno = EAGAIN;
        return -1;
    }
    char byte;
    struct iovec l = {&byte, 1}, r = {(void *)(uintptr_t)addr, 1};
    if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) == 1)
        return 1;
    errno = EFAULT;
    return -1;
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
