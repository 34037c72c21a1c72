/*
 * shm_leak.h - the leak-tracking sections of the segment (sample and full
 * modes): the module map, the deduplicated call stacks, per-stack site
 * counters and the exit scan's summary. Written by the agent (agent/leak_*.c),
 * read by the collector (collector/leaks.c) as untrusted bytes.
 *
 * A stack is stored once; everything else refers to it by its index in the
 * STACKS section (its "stack id"). The SITES section runs parallel to it:
 * site i holds the counters of stack i. Stack id 0 is reserved for
 * allocations whose stack found no room in the table (counted as dropped).
 * Addresses in stacks are return addresses in the process's address space;
 * the module map (path, load bias, build id) lets the collector symbolize
 * them after the process is gone. docs/SHM_FORMAT.md and docs/LEAKS.md say
 * the same in prose.
 */
#ifndef CHIM_SHM_LEAK_H
#define CHIM_SHM_LEAK_H

#include <stddef.h>
#include <stdint.h>

#define CHIM_MODULE_PATH_MAX 288
#define CHIM_BUILD_ID_MAX    40
#define CHIM_AGE_BUCKETS     16   /* birth-time buckets per site */
#define CHIM_HIST_RING       32   /* per-site live-byte history, one entry per epoch */
#define CHIM_LEAK_WUNIT      256u /* weighted block counts are in 1/256 blocks */
#define CHIM_STACK_DEPTH_MAX 128
#define CHIM_STACK_HDR_BYTES 16u
#define CHIM_STACK_ELEM(d)   (CHIM_STACK_HDR_BYTES + 8u * (uint32_t)(d))

/* Entry states (modules and stacks): written once, then published. */
enum chim_leak_entry_state {
    CHIM_LEAK_EMPTY = 0,
    CHIM_LEAK_WRITING = 1, /* claimed; fields not complete yet */
    CHIM_LEAK_READY = 2,
};

/* Module flags. */
#define CHIM_MOD_AGENT (1u << 0) /* libchimagent.so itself */
#define CHIM_MOD_LIBC  (1u << 1) /* the C library (allocating wrappers live here) */
#define CHIM_MOD_LDSO  (1u << 2) /* the dynamic loader */
#define CHIM_MOD_MAIN  (1u << 3) /* the executable */
#define CHIM_MOD_VDSO  (1u << 4)
#define CHIM_MOD_NOFP  (1u << 5) /* its code keeps no frame pointers (auto: libunwind) */

/* CHIM_SEC_MODULES: one loaded object (384 bytes). An object unloaded by
 * dlclose keeps its entry (stacks may still name it) with `unload_gen` set. */
struct chim_module {
    uint32_t state;    /* enum chim_leak_entry_state */
    uint32_t flags;    /* CHIM_MOD_* */
    uint64_t start;    /* lowest address of its PT_LOAD segments */
    uint64_t end;      /* one past the highest */
    uint64_t bias;     /* load bias: runtime address - ELF virtual address */
    uint64_t load_gen; /* module-map generation that found it */
    uint64_t unload_gen;
    uint32_t build_id_len;
    uint32_t reserved;
    uint8_t build_id[CHIM_BUILD_ID_MAX]; /* NT_GNU_BUILD_ID bytes */
    char path[CHIM_MODULE_PATH_MAX];     /* NUL-terminated; "" for the executable is filled in */
};

/* CHIM_SEC_STACKS: one deduplicated stack, CHIM_STACK_ELEM(depth_cap) bytes
 * (the section's elem_size gives the cap). ip[0] is the return address into
 * the function that called the allocator (the agent's own frames are never
 * stored); the rest are its callers, innermost first. */
struct chim_stack {
    uint32_t state; /* enum chim_leak_entry_state */
    uint16_t depth; /* valid entries in ip[] */
    uint16_t flags; /* bit 0: truncated at the depth cap */
    uint64_t hash;
    uint64_t ip[];
};

/* CHIM_SEC_SITES: counters of stack i (512 bytes). Weighted fields are exact
 * in full mode; in sample mode each sampled block of size Z adds
 * Z / (1 - exp(-Z/R)) bytes and 1 / (1 - exp(-Z/R)) blocks, so live figures
 * are unbiased estimates. Bytes are requested sizes. */
struct chim_site {
    uint64_t allocs;      /* blocks recorded (samples in sample mode) */
    uint64_t frees;       /* recorded blocks freed */
    uint64_t alloc_w;     /* weighted blocks allocated, CHIM_LEAK_WUNIT per block */
    uint64_t free_w;      /* weighted blocks freed */
    uint64_t alloc_bytes; /* weighted bytes allocated */
    uint64_t free_bytes;  /* weighted bytes freed */
    uint64_t hist_epoch;  /* last epoch written to hist[], plus one (0: none) */
    uint64_t reserved0;
    /* Live weighted bytes by birth time: bucket 0 = born in the first second
     * after start, bucket k = born in [2^(k-1), 2^k) s, the last is open. */
    int64_t birth_bytes[CHIM_AGE_BUCKETS];
    /* Live weighted bytes at the end of epoch e, at hist[e % CHIM_HIST_RING].
     * Epoch e covers [e, e+1) x epoch_ns after start_time_ns. */
    int64_t hist[CHIM_HIST_RING];
    /* Exit scan (full mode): leaked directly, leaked only through leaked
     * blocks, still reachable. */
    uint64_t leaked_blocks, leaked_bytes;
    uint64_t indirect_blocks, indirect_bytes;
    uint64_t reachable_blocks, reachable_bytes;
    uint64_t reserved1[2];
};

/* CHIM_SEC_DELTAS (full mode): each thread that allocates owns one row,
 * where it counts its events per (stack, birth bucket) before it adds them
 * to SITES in a batch ("folds" them: every CHIM_DELTA_BATCH events, when a
 * way is needed by another key, at a new history epoch, before it blocks in
 * sleep/poll/epoll_wait, at thread exit, fork and exit). A reader adds a
 * row's ways to SITES to see events not folded yet, e.g. of a thread that
 * waits in a blocking read. The owner makes `seq` odd for the length of a
 * fold: a reader that saw the same even `seq` before reading SITES and
 * after reading the row has a consistent pair; otherwise it leaves the row
 * out (its thread is busy and folds soon). The section precedes SITES in
 * the file so that one pass over the file reads it first. */
#define CHIM_DELTA_WAYS  64
#define CHIM_DELTA_BATCH 1024
#define CHIM_DELTA_ROWS  1024 /* the agent's count; readers use the section's */

struct chim_site_delta {
    uint32_t stack;        /* stack id (0: [stack table full]); all counts 0: way unused */
    uint32_t bucket;       /* birth bucket of the blocks counted here */
    int64_t allocs, frees; /* blocks (each weighs CHIM_LEAK_WUNIT) */
    int64_t alloc_bytes, free_bytes;
    uint64_t reserved[3];
};

struct chim_delta_row {
    uint64_t seq; /* odd while the owner folds */
    uint32_t tid; /* the owner's thread id (0: never used) */
    uint32_t reserved0;
    uint64_t reserved[6];
    struct chim_site_delta d[CHIM_DELTA_WAYS];
};

/* Unwinders. */
enum chim_unwinder {
    CHIM_UNWIND_FP = 1,        /* frame-pointer walk */
    CHIM_UNWIND_LIBUNWIND = 2, /* libunwind unw_backtrace (.eh_frame) */
    CHIM_UNWIND_AUTO = 3,      /* frame pointers; libunwind when called from libc */
};

enum chim_scan_state {
    CHIM_SCAN_NONE = 0,    /* not run (sample mode, or still running) */
    CHIM_SCAN_RUNNING = 1, /* started and did not finish (killed during the scan) */
    CHIM_SCAN_DONE = 2,
    CHIM_SCAN_FAILED = 3, /* no memory for the index */
};

/* CHIM_SEC_LEAKS: one record, the tracker's settings and the exit scan. */
struct chim_leak_info {
    uint32_t unwinder;     /* enum chim_unwinder */
    uint32_t stack_depth;  /* depth cap */
    uint64_t sample_bytes; /* mean sampling gap R (0 in full mode) */
    uint64_t epoch_ns;     /* length of a history epoch */
    uint64_t modules_gen;  /* bumped at every module-map refresh that changed it */
    uint64_t stacks_used;
    uint64_t stacks_dropped;  /* stacks that found no room: attributed to stack 0 */
    uint64_t tracked_max;     /* capacity of each address table */
    uint64_t tracked_dropped; /* blocks not recorded (table full) */
    uint64_t modules_dropped;
    uint32_t scan_state; /* enum chim_scan_state */
    uint32_t flags;      /* bit 0: tables inherited from the parent at fork */
    uint64_t scan_ns;
    uint64_t scan_blocks, scan_bytes;
    uint64_t scan_leaked_blocks, scan_leaked_bytes;
    uint64_t scan_indirect_blocks, scan_indirect_bytes;
    uint64_t scan_root_bytes; /* bytes of roots scanned */
    uint64_t scan_threads;    /* thread stacks scanned */
    uint64_t origin_ns;       /* CLOCK_REALTIME of epoch 0 and of birth time 0 */
    uint64_t reserved[12];
};

#define CHIM_LEAK_INHERITED   1u
#define CHIM_LEAK_BAD_SETTING (1u << 1) /* a CHIM_* leak setting did not parse: default used */

_Static_assert(sizeof(struct chim_module) == 384, "module entry is 384 bytes");
_Static_assert(offsetof(struct chim_module, path) == 96, "module path offset");
_Static_assert(sizeof(struct chim_stack) == CHIM_STACK_HDR_BYTES, "stack header");
_Static_assert(offsetof(struct chim_stack, ip) == 16, "stack ip offset");
_Static_assert(sizeof(struct chim_site) == 512, "site is 512 bytes");
_Static_assert(offsetof(struct chim_site, birth_bytes) == 64, "site birth offset");
_Static_assert(offsetof(struct chim_site, hist) == 192, "site hist offset");
_Static_assert(offsetof(struct chim_site, leaked_blocks) == 448, "site scan offset");
_Static_assert(sizeof(struct chim_leak_info) == 256, "leak info is 256 bytes");
_Static_assert(sizeof(struct chim_site_delta) == 64, "site delta is 64 bytes");
_Static_assert(offsetof(struct chim_delta_row, d) == 64, "delta row header");

/* Birth bucket of a block born `sec` whole seconds after start. */
static inline unsigned chim_birth_bucket(uint64_t sec)
{
    unsigned k = sec ? 64u - (unsigned)__builtin_clzll(sec) : 0u;
    return k < CHIM_AGE_BUCKETS ? k : CHIM_AGE_BUCKETS - 1;
}

#endif /* CHIM_SHM_LEAK_H */
