/*
 * agent.h - what the agent's files share: settings read once at load, the
 * table of the next allocator's entry points, per-thread state and the
 * segment writer's interface. Nothing here is visible outside the library
 * (the build hides every symbol but the interposed ones).
 */
#ifndef CHIM_AGENT_H
#define CHIM_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "chim/shm.h"

#define CHIM_LIKELY(x)   __builtin_expect(!!(x), 1)
#define CHIM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CHIM_TLS         __thread __attribute__((tls_model("initial-exec")))

/* A thread flushes its live-byte delta to the header when it reaches this:
 * the peak of live bytes is exact for one thread and within
 * (threads - 1) x CHIM_FLUSH_BYTES otherwise. */
#define CHIM_FLUSH_BYTES (64 * 1024)

/* Settings, read once in the constructor (environment can be wiped later). */
struct chim_settings {
    int disabled;     /* CHIM_DISABLE=1 */
    int debug;        /* CHIM_DEBUG=1: one-line diagnostics on stderr */
    uint32_t mode;    /* enum chim_mode */
    int mode_unknown; /* CHIM_MODE was not understood (CHIM_FLAG_MODE_UNKNOWN) */
    char dir[200];    /* CHIM_DIR or /dev/shm/chim-<uid> */
};

/* The next allocator in lookup order. Every entry belongs to the same
 * allocator (the one that provides malloc); missing ones are emulated. */
struct chim_alloc_fns {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*memalign)(size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    size_t (*usable)(void *);
};

/* Per-thread state (initial-exec TLS: no allocation to reach it). */
struct chim_tls {
    struct chim_thread_slot *slot; /* NULL: slow path decides */
    int in_agent;                  /* the agent itself is running */
    int exiting;                   /* slot retired; count into `retired` */
    int64_t leak_left;             /* leak tracking: bytes to the next recorded block */
    uint32_t leak_carry;           /* realloc: the moved block's birth_ms + 1 (0: none) */
    uint32_t in_unwind;            /* inside libunwind: its pipe probes are answered (unwind.c) */
};

extern struct chim_settings chim__cfg;
extern struct chim_alloc_fns chim__next;
extern CHIM_TLS struct chim_tls chim__tls;
extern int chim__glibc_fast_usable; /* next allocator is glibc's: inline usable size */

/* Set (never cleared) once the process may run a second thread: by the
 * pthread_create hook before the thread exists, or when a second thread
 * claims a slot. Until then shared counters are updated with plain
 * single-copy stores instead of atomic read-modify-writes. */
extern int chim__many_threads;

/* *p += v: atomic once several threads may race on p, plain otherwise (a
 * single aligned store either way, so readers never see a torn value). */
static inline void chim__shared_add(uint64_t *p, uint64_t v)
{
    if (CHIM_UNLIKELY(__atomic_load_n(&chim__many_threads, __ATOMIC_RELAXED)))
        __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
    else
        __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

/* malloc_hooks.c */
int chim__resolve_next(void);
size_t chim__usable_slow(void *p);

/* glibc's usable size of p: the chunk size less its 8-byte header, less 8
 * more for an mmapped chunk (bit 1). */
static inline size_t chim__glibc_usable(const void *p)
{
    size_t sz = ((const size_t *)p)[-1];
    return (sz & ~(size_t)7) - 8 - ((sz & 2) << 2);
}

/* Usable size of a block from the next allocator. For glibc the chunk header
 * is read directly (checked against malloc_usable_size at start-up). */
static inline size_t chim__usable(void *p)
{
    if (CHIM_LIKELY(chim__glibc_fast_usable))
        return chim__glibc_usable(p);
    return chim__usable_slow(p);
}

/* shm_writer.c */
extern struct chim_shm_header *chim__seg; /* NULL until created */
/* Base and element count of each section kind in the current mapping (NULL
 * before creation; re-bound in a fork child's new segment). */
extern void *chim__sec_base[CHIM_SEC_KINDS];
extern uint64_t chim__sec_count[CHIM_SEC_KINDS];
/* Adds rows {kind, elem_size, 0, count} for sections beyond the thread
 * slots; returns how many. One definition, in agent_layout.c. */
uint32_t chim__extra_sections(struct chim_section *rows, uint32_t room);
int chim__seg_create(uint32_t flags, int64_t inherited_live);
/* Changes whenever the mapping changes: cached section pointers are stale. */
uint32_t chim__seg_generation(void);
void chim__seg_detach(void);
/* The current segment's file, read-only (-1 if it cannot be opened or is
 * no longer the file mapped). */
int chim__seg_open_file(void);
struct chim_thread_slot *chim__slot_claim(void);
void chim__slot_retire(struct chim_thread_slot *s);
__attribute__((cold)) void chim__slot_flush(struct chim_thread_slot *s);
void chim__count_shared(const struct chim_mem_counters *delta, int64_t live_delta);
int64_t chim__seg_live(void);
void chim__seg_mark_exited(void);
void chim__seg_sample_rss(void);
void chim__seg_note_maxrss(uint64_t bytes); /* raises the header's peak RSS */
void chim__seg_lock_prepare(void);
void chim__seg_lock_parent(void);
void chim__seg_lock_child(void);

/* agent_main.c */
void chim__thread_bind(struct chim_thread_slot *s);

/* clock.c: monotonic nanoseconds for request timestamps (TSC when the
 * kernel uses it, else CLOCK_MONOTONIC); calibrate once a second. */
void chim__clock_init(void);
uint64_t chim__clock_ns(void);
void chim__clock_calibrate(void);

/* agent_util.c: tiny libc helpers that never allocate and never use stdio. */
size_t chim__strlcpy(char *dst, const char *src, size_t n);
char *chim__utoa(uint64_t v, char *buf); /* returns the end (NUL) */
ssize_t chim__read_file(const char *path, char *buf, size_t n);
/* This process's mappings (/proc/thread-self/maps: /proc/self names the
 * thread group's leader, whose maps read empty once the main thread left
 * with pthread_exit; /proc/self before Linux 3.17) into buf[0..n). */
ssize_t chim__read_maps(char *buf, size_t n);
uint64_t chim__proc_u64(const char *path, int field);
uint64_t chim__now_ns(int clock);
void chim__debug(const char *a, const char *b);
void chim__debug3(const char *a, const char *b, const char *c);

#endif
