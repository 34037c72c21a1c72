/*
 * leak.h - the leak tracker's interface to the rest of the agent (sample
 * and full modes): settings, the call-outs the malloc hooks make, the module
 * map, the address table and the exit scan. Count mode never reaches any of
 * this except through one well-predicted branch per call (see the inline
 * helpers at the end).
 */
#ifndef CHIM_LEAK_H
#define CHIM_LEAK_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "chim/shm_leak.h"

/* Settings, read once in the constructor (read_settings). */
struct chim_leak_settings {
    uint32_t unwinder;     /* enum chim_unwinder */
    uint32_t depth;        /* CHIM_STACK_DEPTH, 4..128, default 32 */
    uint64_t sample_bytes; /* CHIM_SAMPLE_BYTES, default 512 KiB */
    uint64_t max_stacks;   /* CHIM_MAX_STACKS (= sites), power of two, default 16384 */
    uint64_t max_modules;  /* CHIM_MAX_MODULES, default 512 */
    uint64_t max_tracked;  /* CHIM_MAX_TRACKED, blocks in the address table, default 2 Mi */
    uint64_t epoch_ns;     /* CHIM_HISTORY_MS x 1e6, default 1 s */
    int scan;              /* CHIM_LEAK_SCAN=0 disables the exit scan (full mode) */
    int bench;             /* CHIM_UNWIND_BENCH=N: time N captures per unwinder at start */
};
extern struct chim_leak_settings chim__leakcfg;

/* One record of the address table (agent-owned mmap memory). */
struct chim_block {
    uint64_t addr;     /* 0 empty, 1 deleted, else the block's address */
    uint64_t size;     /* requested size */
    uint32_t stack;    /* stack id */
    uint32_t birth_ms; /* CLOCK_MONOTONIC_COARSE ms after start */
};

/* leak_track.c */
void chim__leak_read_settings(void);
uint32_t chim__leak_sections(struct chim_section *rows, uint32_t room);
void chim__leak_init(void);          /* constructor, after the segment exists */
void chim__leak_fork_prepare(void);  /* fork child, before the parent's segment goes */
void chim__leak_fork_snapshot(void); /* parent, atfork prepare: private copies of the rows */
void chim__leak_fork_parent(void);   /* parent, after fork */
void chim__leak_fork_child(void);    /* fork child, after its segment exists */
void chim__leak_fini(void);          /* library destructor: exit scan */
void chim__leak_quick_exit(void);    /* _exit: pending site deltas to the segment */
void chim__leak_idle(void);          /* before a blocking call: this thread's deltas */
/* Call-outs from the hooks (cold paths). `ra` is the hook's return address. */
void chim__leak_alloc(void *p, size_t n, void *ra);
void chim__leak_free(void *p);
/* realloc: the old block's record is taken out before the real realloc and
 * put back if the call failed. Returns nonzero if a record was taken. */
int chim__leak_take(void *p, struct chim_block *out);
void chim__leak_put_back(const struct chim_block *b);
/* Full mode: folds the calling thread's pending site deltas into the
 * segment and stops batching for it (thread exit, dl_hooks.c). */
void chim__leak_thread_exit(void);

/* The address tables, for the scan (leak_track.c): table n of
 * chim__leak_ntables() (0 the shared one, then one per thread shard in full
 * mode), its capacity and chunk bitmap; NULL and 0 where there is none. */
uint32_t chim__leak_ntables(void);
struct chim_block *chim__leak_table(uint32_t n, uint64_t *cap, const uint64_t **used);
/* The first slot >= i that may hold a block (chunks never written are
 * skipped), or cap. */
uint64_t chim__leak_table_skip(const uint64_t *used, uint64_t i, uint64_t cap);
struct chim_site *chim__leak_site(uint32_t stack);
uint64_t chim__leak_now_ms(void);
extern uint64_t chim__leak_start_ms;

/* leak_modules.c: module map, refreshed outside the hooks. */
void chim__modules_init(void);
void chim__modules_refresh(void);
int chim__in_agent_text(uintptr_t ip);
/* The agent's, the C library's and the C++ library's address ranges (the
 * unwinder tests frames against them inline). */
struct chim_text_ranges {
    uintptr_t agent_lo, agent_hi, libc_lo, libc_hi, cxx_lo, cxx_hi;
};
extern struct chim_text_ranges chim__text;

static inline int chim__in_libc_text(uintptr_t ip)
{
    return ip - chim__text.libc_lo < chim__text.libc_hi - chim__text.libc_lo;
}

/* ip is in libstdc++ (operator new and its kin, built without frame
 * pointers: a frame-pointer walk from there loses their caller). */
static inline int chim__in_cxx_text(uintptr_t ip)
{
    return ip - chim__text.cxx_lo < chim__text.cxx_hi - chim__text.cxx_lo;
}
/* Bumped (release) after every change of the module map; never reset (a
 * fork child's map goes on counting), so a thread's cached answers keyed by
 * it are never taken for a later map's. */
extern uint32_t chim__modmap_gen;
/* ip's code keeps no frame pointers: its object was judged so when it was
 * recorded (CHIM_MOD_NOFP), or the map does not know it. */
int chim__code_nofp(uintptr_t ip);
/* ip is in a loaded object's code (the module map knows it). */
int chim__code_known(uintptr_t ip);
/* Calls fn for each writable PT_LOAD of every loaded object except the
 * agent (the scan's data/bss roots) and for the calling thread's TLS block
 * of each; `libc` is set for the C library's (its allocator's state). */
void chim__modules_roots(void (*fn)(uintptr_t lo, uintptr_t hi, int libc, void *arg), void *arg);

/* leak_scan.c */
/* Scans; the calling thread's stack is scanned from `stack_from` up (the
 * caller spilled its registers there). */
void chim__leak_scan(uintptr_t stack_from);
/* Registry of live threads' stacks (filled at thread start, dl_hooks.c):
 * returns an index for chim__threads_remove, or -1 when full. */
int chim__threads_add(uintptr_t lo, uintptr_t hi);
void chim__threads_remove(int idx);
void chim__threads_reset_child(void);

/* ---- hot-path helpers used by malloc_hooks.c ------------------------------ */

/* Counting filter of tracked addresses (NULL in count mode): an untracked
 * free costs one load and a branch, a count-mode free one load. A counter
 * covers a 512-byte granule of addresses (and others 32 MiB apart or in
 * another 64 MiB region):
 * frees near each other read the same few lines, so the filter's working
 * set follows the heap's instead of being one random line of 64 KiB per
 * free (an L1 miss each). Sampled blocks are sparse, so a granule rarely
 * holds more than one. In full mode every block is tracked: the mask is 0
 * (every free looks in the table; its counter, slot 0, stays saturated). */
struct chim_leak_filter_ref {
    unsigned char *bytes;
    uint64_t mask; /* (1 << CHIM_FILTER_BITS) - 1 in sample mode, 0 in full mode */
};
extern struct chim_leak_filter_ref chim__leak_filt;
#define chim__leak_filter      (chim__leak_filt.bytes)
#define CHIM_FILTER_BITS       16 /* 64 KiB of counters */
#define CHIM_FILTER_GRAIN_BITS 9  /* 512-byte granules */

static inline uint32_t chim__filter_slot(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    /* Each 64 MiB region (a glibc thread arena's heap) is rotated by a hash
     * of its number, in steps of one cache line of counters: two threads'
     * heaps start at the same offset in their regions and would otherwise
     * share every filter line (one thread's sampled blocks changing the
     * lines the other's frees read). */
    uintptr_t rot = (uintptr_t)(((uint64_t)(a >> 26) * 0x9E3779B97F4A7C15ull) >> 54) << 6;
    return (uint32_t)(((a >> CHIM_FILTER_GRAIN_BITS) + rot) & chim__leak_filt.mask);
}

/* Allocation: one subtract and one branch; the countdown never fires in
 * count mode after the first call (it is set out of reach). */
#define CHIM_LEAK_ON_ALLOC(p, n, ra)                                                               \
    do {                                                                                           \
        if (CHIM_UNLIKELY((chim__tls.leak_left -= (int64_t)(n)) < 0))                              \
            chim__leak_alloc((p), (n), (ra));                                                      \
    } while (0)

/* p may be a tracked block: one load in count mode, a filter byte in sample
 * mode, always in full mode (mask 0: no slot to compute). */
static inline int chim__leak_maybe(const void *p)
{
    const unsigned char *f = chim__leak_filter;
    return CHIM_UNLIKELY(f != NULL) && (!chim__leak_filt.mask || f[chim__filter_slot(p)]);
}

#define CHIM_LEAK_ON_FREE(p)                                                                       \
    do {                                                                                           \
        if (chim__leak_maybe(p))                                                                   \
            chim__leak_free(p);                                                                    \
    } while (0)

#endif
