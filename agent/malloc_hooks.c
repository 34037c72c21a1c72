/*
 * malloc_hooks.c - the interposed allocation family.
 *
 * Every entry point forwards to the *next* allocator in lookup order (glibc,
 * or jemalloc in a program linked with it) and counts what it did in the
 * calling thread's slot of the segment: plain stores into memory only that
 * thread writes, no locks, no atomic read-modify-write on the common path.
 * Entry points the next allocator lacks are emulated with its own functions,
 * so one allocator's pointer never reaches another.
 *
 * Calls that arrive before the next allocator is known (from the dynamic
 * loader, from dlsym itself, from constructors that run before ours) are
 * served from a small static bump arena whose pointers free, realloc and
 * malloc_usable_size recognise.
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "leak.h"

#define EXPORT __attribute__((visibility("default")))
/* The host's call site, passed to the leak tracker (sample/full modes). This
 * file is built with -ffixed-rbp so the host's frame pointer survives. */
#define RA()   __builtin_return_address(0)
#define INLINE static inline __attribute__((always_inline))

struct chim_alloc_fns chim__next;
int chim__glibc_fast_usable;
/* Set once the next allocator is resolved and is glibc's (usable sizes read
 * inline): the entry points then take their short paths. */
static int fast_ready;

/* ---- bootstrap arena ---------------------------------------------------- */

#define BOOT_SIZE (256 * 1024)
static _Alignas(64) unsigned char boot_arena[BOOT_SIZE];
static size_t boot_used; /* bump offset, advanced atomically */
static uint64_t boot_frees;

/* Each bootstrap block is preceded by 16 bytes holding its size. */
static void *boot_alloc(size_t n, size_t align)
{
    if (align < 16)
        align = 16;
    if (n > BOOT_SIZE || align > 4096)
        return NULL;
    size_t need = (n + 15) & ~(size_t)15;
    size_t old = __atomic_load_n(&boot_used, __ATOMIC_RELAXED), start;
    do {
        start = (old + 16 + align - 1) & ~(align - 1);
        if (start + need > BOOT_SIZE)
            return NULL;
    } while (!__atomic_compare_exchange_n(&boot_used, &old, start + need, 0, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    ((size_t *)(boot_arena + start))[-1] = n;
    return boot_arena + start;
}

static inline int is_boot(const void *p)
{
    return (uintptr_t)p - (uintptr_t)boot_arena < BOOT_SIZE; /* one compare */
}

static inline size_t boot_size(const void *p)
{
    return ((const size_t *)p)[-1];
}

/* ---- resolving the next allocator ---------------------------------------- */

static int resolving;

static void *fallback_memalign(size_t a, size_t n);

static void *emu_aligned_alloc(size_t a, size_t n)
{
    return chim__next.memalign(a, n);
}

static int emu_posix_memalign(void **out, size_t a, size_t n)
{
    if (a < sizeof(void *) || (a & (a - 1)))
        return EINVAL;
    int saved = errno;
    void *p = chim__next.memalign(a, n);
    int err = p ? 0 : errno;
    errno = saved;
    if (!p)
        return err ? err : ENOMEM;
    *out = p;
    return 0;
}

static void *emu_valloc(size_t n)
{
    return chim__next.memalign((size_t)sysconf(_SC_PAGESIZE), n);
}

static void *emu_pvalloc(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    if (n > SIZE_MAX - pg) {
        errno = ENOMEM;
        return NULL;
    }
    return chim__next.memalign(pg, n ? (n + pg - 1) & ~(pg - 1) : pg);
}

static void *emu_reallocarray(void *p, size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return chim__next.realloc(p, total);
}

static size_t emu_usable(void *p)
{
    (void)p;
    return 0; /* allocator gives no sizes: bytes freed cannot be counted */
}

/* dlsym(RTLD_NEXT, name), accepted only if it lives in the same object as
 * the next malloc. */
static void *same_owner(const char *name, const void *owner_base)
{
    void *f = dlsym(RTLD_NEXT, name);
    Dl_info info;
    if (!f || !dladdr(f, &info) || info.dli_fbase != owner_base)
        return NULL;
    return f;
}

#define RESOLVE(field, name, emu)                                                                  \
    do {                                                                                           \
        void *f_ = same_owner(name, base);                                                         \
        *(void **)&fns.field = f_ ? f_ : (void *)(emu);                                            \
    } while (0)

/* Compares the inline glibc chunk-size read with malloc_usable_size. */
static int check_glibc_usable(const struct chim_alloc_fns *f)
{
    static const size_t sizes[] = {1, 24, 25, 100, 1000, 4096, 70000, 300000};
    int ok = 1;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = f->malloc(sizes[i]);
        if (!p)
            return 0;
        ok &= chim__glibc_usable(p) == f->usable(p);
        f->free(p);
    }
    return ok;
}

int chim__resolve_next(void)
{
    if (chim__next.free)
        return 0;
    if (__atomic_exchange_n(&resolving, 1, __ATOMIC_ACQUIRE))
        return -EAGAIN; /* another thread (or dlsym itself) is resolving */
    struct chim_alloc_fns fns = {0};
    Dl_info info;
    void *m = dlsym(RTLD_NEXT, "malloc");
    if (!m || !dladdr(m, &info)) {
        __atomic_store_n(&resolving, 0, __ATOMIC_RELEASE);
        return -ENOENT;
    }
    const void *base = info.dli_fbase;
    fns.malloc = m;
    RESOLVE(free, "free", NULL);
    RESOLVE(calloc, "calloc", NULL);
    RESOLVE(realloc, "realloc", NULL);
    RESOLVE(memalign, "memalign", fallback_memalign);
    RESOLVE(posix_memalign, "posix_memalign", emu_posix_memalign);
    RESOLVE(aligned_alloc, "aligned_alloc", emu_aligned_alloc);
    RESOLVE(valloc, "valloc", emu_valloc);
    RESOLVE(pvalloc, "pvalloc", emu_pvalloc);
    RESOLVE(reallocarray, "reallocarray", emu_reallocarray);
    RESOLVE(usable, "malloc_usable_size", emu_usable);
    if (!fns.free || !fns.calloc || !fns.realloc) {
        __atomic_store_n(&resolving, 0, __ATOMIC_RELEASE);
        return -ENOENT;
    }
    int glibc = strstr(info.dli_fname ? info.dli_fname : "", "libc.so") != NULL;
    chim__glibc_fast_usable = glibc && check_glibc_usable(&fns);
    chim__next = fns; /* the stores of fns complete before `free` is seen */
    __atomic_store_n(&chim__next.free, fns.free, __ATOMIC_RELEASE);
    __atomic_store_n(&fast_ready, chim__glibc_fast_usable, __ATOMIC_RELEASE);
    __atomic_store_n(&resolving, 0, __ATOMIC_RELEASE);
    return 0;
}

/* Only reached when the owner lacks memalign entirely (no known allocator):
 * over-allocating would break free, so fail cleanly. */
static void *fallback_memalign(size_t a, size_t n)
{
    (void)a;
    (void)n;
    errno = ENOMEM;
    return NULL;
}

size_t chim__usable_slow(void *p)
{
    return chim__next.usable(p);
}

/* True when the next allocator can be used; resolves it on first use. */
static inline int ready(void)
{
    if (CHIM_LIKELY(chim__next.free != NULL))
        return 1;
    int saved = errno;
    int rc = chim__resolve_next();
    errno = saved;
    return rc == 0;
}

/* ---- accounting ----------------------------------------------------------- */

/* Plain read-modify-write: only this thread writes its slot; readers in
 * other processes see whole aligned words (x86-64). */
#define BUMP(field, v) ((field) += (v))

/* Counts an allocation (req bytes asked for, u usable) in the thread's own
 * slot; nonzero when the slot's live delta must now be flushed. */
static inline __attribute__((always_inline)) int slot_alloc(struct chim_thread_slot *s, size_t req,
                                                            size_t u)
{
    BUMP(s->mem.bytes_requested, req);
    BUMP(s->mem.bytes_allocated, u);
    BUMP(s->mem.size_class[chim_size_class(req)], 1);
    int64_t pend = s->pending + (int64_t)u;
    __atomic_store_n(&s->pending, pend, __ATOMIC_RELAXED);
    if (pend <= s->pending_hi)
        return 0;
    __atomic_store_n(&s->pending_hi, pend, __ATOMIC_RELAXED);
    return pend >= CHIM_FLUSH_BYTES;
}

/* Counts a free of u usable bytes; nonzero when the slot must be flushed. */
static inline __attribute__((always_inline)) int slot_free(struct chim_thread_slot *s, size_t u)
{
    BUMP(s->mem.frees, 1);
    BUMP(s->mem.bytes_freed, u);
    int64_t pend = s->pending - (int64_t)u;
    __atomic_store_n(&s->pending, pend, __ATOMIC_RELAXED);
    return pend <= -CHIM_FLUSH_BYTES;
}

/* No slot yet: claim one, or (exiting thread, no segment yet, no free slot)
 * add to the shared counters with atomics. Agent-internal calls are not
 * counted. Never changes errno. */
static __attribute__((noinline, cold)) void slow_count(int is_alloc, size_t req, size_t u)
{
    if (chim__tls.in_agent || chim__cfg.disabled)
        return;
    int saved = errno;
    struct chim_thread_slot *s = NULL;
    if (!chim__tls.exiting && chim__seg)
        s = chim__slot_claim();
    if (s) {
        chim__thread_bind(s);
        if (is_alloc ? slot_alloc(s, req, u) : slot_free(s, u))
            chim__slot_flush(s);
    } else {
        struct chim_mem_counters d = {0};
        d.frees = is_alloc ? 0 : 1;
        d.bytes_requested = is_alloc ? req : 0;
        d.bytes_allocated = is_alloc ? u : 0;
        d.bytes_freed = is_alloc ? 0 : u;
        if (is_alloc)
            d.size_class[chim_size_class(req)] = 1;
        chim__count_shared(&d, is_alloc ? (int64_t)u : -(int64_t)u);
    }
    errno = saved;
}

static inline __attribute__((always_inline)) void count_alloc(size_t req, void *p)
{
    struct chim_thread_slot *s = chim__tls.slot;
    if (CHIM_LIKELY(s != NULL)) {
        if (CHIM_UNLIKELY(slot_alloc(s, req, chim__usable(p))))
            chim__slot_flush(s);
    } else
        slow_count(1, req, chim__usable(p));
}

static inline __attribute__((always_inline)) void count_free(size_t u)
{
    struct chim_thread_slot *s = chim__tls.slot;
    if (CHIM_LIKELY(s != NULL)) {
        if (CHIM_UNLIKELY(slot_free(s, u)))
            chim__slot_flush(s);
    } else
        slow_count(0, 0, u);
}

/* Takes back a counted free (a realloc that failed). */
static void count_unfree(size_t u)
{
    struct chim_thread_slot *s = chim__tls.slot;
    if (s) {
        BUMP(s->mem.frees, -1);
        BUMP(s->mem.bytes_freed, -u);
        __atomic_store_n(&s->pending, s->pending + (int64_t)u, __ATOMIC_RELAXED);
        return;
    }
    struct chim_mem_counters d = {0};
    d.frees = (uint64_t)-1;
    d.bytes_freed = (uint64_t)0 - u;
    chim__count_shared(&d, (int64_t)u);
}

static void count_failed(void)
{
    struct chim_thread_slot *s = chim__tls.slot;
    if (s)
        BUMP(s->mem.failed, 1);
}

/* A realloc that failed (n > 0): its counted free of `old` usable bytes is
 * taken back, and the call counts as failed. */
static void realloc_failed(size_t old)
{
    count_unfree(old);
    count_failed();
}

/* ---- the interposed entry points ------------------------------------------ */

/* Counts what an allocating call returned (p of n requested bytes, asked
 * for from return address ra) and hands p back. */
INLINE void *counted(void *p, size_t n, void *ra)
{
    if (CHIM_LIKELY(p != NULL)) {
        count_alloc(n, p);
        CHIM_LEAK_ON_ALLOC(p, n, ra);
    } else {
        count_failed();
    }
    return p;
}

INLINE void *do_malloc(size_t n, void *ra)
{
    if (CHIM_UNLIKELY(!ready()))
        return boot_alloc(n, 16);
    return counted(chim__next.malloc(n), n, ra);
}

/* ---- the short paths --------------------------------------------------------
 * Next allocator glibc's (usable sizes read inline), the thread's slot bound:
 * the common case. Everything else leaves through a tail call to a noinline
 * function, so a short path saves no register it does not need. Those
 * functions are entered by a jump: the return address they read is the
 * host's (the leak tests check the call sites this gives). */

#define NOINLINE static __attribute__((noinline))

NOINLINE void *malloc_general(size_t n)
{
    return do_malloc(n, RA());
}

NOINLINE void *counted_general(void *p, size_t n)
{
    return counted(p, n, RA());
}

NOINLINE void *leak_alloc_out(void *p, size_t n)
{
    chim__leak_alloc(p, n, RA());
    return p;
}

NOINLINE void *flush_alloc_out(struct chim_thread_slot *s, void *p, size_t n)
{
    chim__slot_flush(s);
    CHIM_LEAK_ON_ALLOC(p, n, RA());
    return p;
}

static inline int fast(void)
{
    return __atomic_load_n(&fast_ready, __ATOMIC_ACQUIRE);
}

/* Counts an allocating call's result on the short path and hands it back. */
INLINE void *counted_fast(void *p, size_t n)
{
    struct chim_thread_slot *s = chim__tls.slot;
    if (CHIM_UNLIKELY(p == NULL || s == NULL))
        return counted_general(p, n);
    if (CHIM_UNLIKELY(slot_alloc(s, n, chim__glibc_usable(p))))
        return flush_alloc_out(s, p, n);
    if (CHIM_UNLIKELY((chim__tls.leak_left -= (int64_t)n) < 0))
        return leak_alloc_out(p, n);
    return p;
}

EXPORT void *malloc(size_t n)
{
    if (CHIM_UNLIKELY(!fast()))
        return malloc_general(n);
    return counted_fast(chim__next.malloc(n), n);
}

NOINLINE void free_general(void *p)
{
    if (!p)
        return;
    if (CHIM_UNLIKELY(is_boot(p))) {
        __atomic_fetch_add(&boot_frees, 1, __ATOMIC_RELAXED);
        return;
    }
    if (CHIM_UNLIKELY(!ready()))
        return;                  /* cannot happen: p came from the next allocator */
    count_free(chim__usable(p)); /* before the real free: p may be reused at once */
    CHIM_LEAK_ON_FREE(p);
    chim__next.free(p);
}

NOINLINE void free_leak_out(void *p)
{
    chim__leak_free(p);
    chim__next.free(p);
}

NOINLINE void free_flush_out(struct chim_thread_slot *s, void *p)
{
    chim__slot_flush(s);
    CHIM_LEAK_ON_FREE(p);
    chim__next.free(p);
}

EXPORT void free(void *p)
{
    struct chim_thread_slot *s = chim__tls.slot;
    if (CHIM_UNLIKELY(p == NULL || s == NULL || is_boot(p) || !fast()))
        return free_general(p);
    /* Counted before the real free: p may be reused at once. */
    if (CHIM_UNLIKELY(slot_free(s, chim__glibc_usable(p))))
        return free_flush_out(s, p);
    if (chim__leak_maybe(p))
        return free_leak_out(p);
    chim__next.free(p);
}

NOINLINE void *calloc_general(size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        count_failed();
        return NULL;
    }
    if (CHIM_UNLIKELY(!ready()))
        return boot_alloc(total, 16); /* the arena is never reused: already zero */
    return counted(chim__next.calloc(n, m), total, RA());
}

EXPORT void *calloc(size_t n, size_t m)
{
    size_t total;
    if (CHIM_UNLIKELY(__builtin_mul_overflow(n, m, &total) || !fast()))
        return calloc_general(n, m);
    return counted_fast(chim__next.calloc(n, m), total);
}

/* realloc of a bootstrap block: move it to the next allocator. */
static void *boot_realloc(void *p, size_t n)
{
    if (n == 0)
        return NULL;
    void *q = malloc(n);
    if (q) {
        size_t old = boot_size(p);
        memcpy(q, p, old < n ? old : n);
    }
    return q;
}

/* A recorded block leaves the leak tracker before the real realloc and
 * comes back if it fails (sample/full modes). */
static __attribute__((noinline, cold)) int leak_take(void *p, struct chim_block *b)
{
    return chim__leak_take(p, b);
}

INLINE void *do_realloc(void *p, size_t n, void *ra)
{
    if (!p)
        return do_malloc(n, ra);
    if (CHIM_UNLIKELY(is_boot(p)))
        return boot_realloc(p, n);
    if (CHIM_UNLIKELY(!ready()))
        return NULL;
    size_t old = chim__usable(p);
    /* Count the free first: once realloc returns, the old address may
     * already belong to another thread. */
    count_free(old);
    struct chim_block ob;
    int took = chim__leak_maybe(p) && leak_take(p, &ob);
    void *q = chim__next.realloc(p, n);
    if (CHIM_LIKELY(q != NULL)) {
        count_alloc(n, q);
        /* The moved block keeps its birth time: a buffer grown by realloc
         * is one old block (docs/LEAKS.md), not a new one at every step. */
        if (took)
            chim__tls.leak_carry = ob.birth_ms + 1;
        CHIM_LEAK_ON_ALLOC(q, n, ra);
        if (took)
            chim__tls.leak_carry = 0;
    } else if (n != 0) {
        realloc_failed(old); /* the old block is still live */
        if (took)
            chim__leak_put_back(&ob);
    }
    return q;
}

NOINLINE void *realloc_general(void *p, size_t n)
{
    return do_realloc(p, n, RA());
}

/* The real realloc returned NULL after the short path counted the free. */
NOINLINE void *realloc_failed_out(size_t old, size_t n)
{
    if (n != 0)
        realloc_failed(old); /* the old block is still live */
    return NULL;
}

EXPORT void *realloc(void *p, size_t n)
{
    struct chim_thread_slot *s = chim__tls.slot;
    if (CHIM_UNLIKELY(p == NULL || s == NULL || is_boot(p) || !fast() || chim__leak_maybe(p)))
        return realloc_general(p, n);
    /* Count the free first: once realloc returns, the old address may
     * already belong to another thread. */
    size_t old = chim__glibc_usable(p);
    if (CHIM_UNLIKELY(slot_free(s, old)))
        chim__slot_flush(s);
    void *q = chim__next.realloc(p, n);
    if (CHIM_UNLIKELY(q == NULL))
        return realloc_failed_out(old, n);
    return counted_fast(q, n);
}

EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        count_failed();
        return NULL;
    }
    return do_realloc(p, total, RA());
}

INLINE void *aligned_common(size_t a, size_t n, void *(*fn)(size_t, size_t), void *ra)
{
    if (CHIM_UNLIKELY(!ready()))
        return boot_alloc(n, a);
    return counted(fn(a, n), n, ra);
}

EXPORT void *memalign(size_t a, size_t n)
{
    return aligned_common(a, n, ready() ? chim__next.memalign : NULL, RA());
}

EXPORT void *aligned_alloc(size_t a, size_t n)
{
    return aligned_common(a, n, ready() ? chim__next.aligned_alloc : NULL, RA());
}

NOINLINE int posix_memalign_general(void **out, size_t a, size_t n)
{
    if (CHIM_UNLIKELY(!ready())) {
        if (a < sizeof(void *) || (a & (a - 1)))
            return EINVAL;
        void *p = boot_alloc(n, a);
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    int rc = chim__next.posix_memalign(out, a, n);
    counted(rc == 0 ? *out : NULL, n, RA());
    return rc;
}

/* A block that the real posix_memalign returned, on the short path
 * (entered by a jump: RA() is the host's). */
NOINLINE int memalign_counted_out(void *p, size_t n)
{
    counted(p, n, RA());
    return 0;
}

EXPORT int posix_memalign(void **out, size_t a, size_t n)
{
    if (CHIM_UNLIKELY(!fast()))
        return posix_memalign_general(out, a, n);
    int rc = chim__next.posix_memalign(out, a, n);
    if (CHIM_UNLIKELY(rc != 0)) {
        count_failed();
        return rc;
    }
    return memalign_counted_out(*out, n);
}

EXPORT void *valloc(size_t n)
{
    if (CHIM_UNLIKELY(!ready()))
        return boot_alloc(n, 4096);
    return counted(chim__next.valloc(n), n, RA());
}

EXPORT void *pvalloc(size_t n)
{
    if (CHIM_UNLIKELY(!ready()))
        return boot_alloc((n + 4095) & ~(size_t)4095, 4096);
    return counted(chim__next.pvalloc(n), n, RA());
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (CHIM_UNLIKELY(is_boot(p)))
        return boot_size(p);
    if (CHIM_UNLIKELY(!ready()))
        return 0;
    return chim__next.usable(p);
}
