/*
 * shm.h - the shared-memory segment: the one contract between the agent
 * (writer, inside the host process) and the collector (reader).
 *
 * One file per process in CHIM_DIR. The file starts with a fixed header
 * (magic, ABI version, header and segment sizes), followed by a directory of
 * sections; every section is addressed by an offset from the start of the
 * file, never by a pointer, so the file means the same in any process and
 * after its writer is gone. All fields are fixed-width and naturally aligned;
 * 64-bit fields are written with single aligned stores, so a reader never
 * sees a torn counter. Header fields that change together (identity, state)
 * are guarded by a seqlock (`seq`): odd while a write is in progress.
 *
 * docs/SHM_FORMAT.md describes this layout in prose; keep the two in step and
 * bump CHIM_SHM_ABI on any change that an older reader would misread.
 */
#ifndef CHIM_SHM_H
#define CHIM_SHM_H

#include <stddef.h>
#include <stdint.h>

#define CHIM_SHM_MAGIC    0x474553494d494843ull /* "CHIMISEG" little-endian */
#define CHIM_SHM_ABI      1u
#define CHIM_SHM_FILE_EXT ".seg"

#define CHIM_EXE_MAX      256
#define CHIM_CMDLINE_MAX  512
#define CHIM_SECTIONS_MAX 16

/* Thread slots: one per live thread; slots of exited threads are folded into
 * the `retired` slot and reused. */
#define CHIM_THREAD_SLOTS 256
/* Size-class histogram of requested sizes: class k holds sizes in
 * [2^(k-1), 2^k) for k >= 1, and class 1 also holds size 0 (class 0 stays
 * empty); the last class is open-ended. */
#define CHIM_SIZE_CLASSES 40

enum chim_proc_state {
    CHIM_STATE_RUNNING = 0, /* writer attached (or killed without notice) */
    CHIM_STATE_EXITED = 1,  /* the agent's destructor ran: a normal exit */
};

enum chim_mode {
    CHIM_MODE_COUNT = 0,
    CHIM_MODE_SAMPLE = 1,
    CHIM_MODE_FULL = 2,
};

enum chim_section_kind {
    CHIM_SEC_NONE = 0,
    CHIM_SEC_THREADS = 1, /* struct chim_thread_slot[count], then `retired` */
    CHIM_SEC_MODULES = 2, /* leak tracking: loaded objects (shm_leak.h) */
    CHIM_SEC_STACKS = 3,  /* leak tracking: deduplicated call stacks */
    CHIM_SEC_SITES = 4,   /* leak tracking: per-stack allocation counters */
    CHIM_SEC_LEAKS = 5,   /* leak tracking: blocks found unreachable at exit */
    CHIM_SEC_DELTAS = 6,  /* leak tracking, full mode: per-thread site deltas not yet in SITES */
    CHIM_SEC_NET = 8,     /* requests: process-wide network counters (shm_net.h) */
    CHIM_SEC_ROUTES = 9,  /* requests: inbound (method, route, status class) */
    CHIM_SEC_PEERS = 10,  /* requests: outbound (peer, protocol) */
    CHIM_SEC_SERIES = 11, /* requests: per-second time series ring */
    CHIM_SEC_KINDS = 16   /* kinds are below this */
};

/* Header flags. */
#define CHIM_FLAG_FORKED_CHILD (1u << 0) /* created in a fork child */
#define CHIM_FLAG_STATIC_HINT  (1u << 1) /* reserved: host calls no libc malloc */
#define CHIM_FLAG_MODE_UNKNOWN                                                                     \
    (1u << 2) /* CHIM_MODE was set to something else than                                          \
                 count, sample or full: ran in count mode */

/* One entry of the section directory. */
struct chim_section {
    uint32_t kind;      /* enum chim_section_kind */
    uint32_t elem_size; /* size of one element, bytes */
    uint64_t offset;    /* from the start of the file; 64-byte aligned */
    uint64_t count;     /* number of elements */
};

/* Memory counters of one thread (or of all retired threads). Written only by
 * the owning thread with plain aligned stores (the retired slot with atomic
 * adds under the retire lock). Sizes: `bytes_requested` is what the program
 * asked for; `bytes_allocated` and `bytes_freed` are the allocator's usable
 * sizes, so live = bytes_allocated - bytes_freed is exact. Every allocation
 * adds one to exactly one size class, so their sum is the allocation count
 * (one store less on the hot path). */
struct chim_mem_counters {
    uint64_t reserved0; /* 0; the number of allocations is the sum of size_class[] */
    uint64_t frees;
    uint64_t bytes_requested;
    uint64_t bytes_allocated;
    uint64_t bytes_freed;
    uint64_t failed; /* allocation calls that returned NULL / error */
    uint64_t size_class[CHIM_SIZE_CLASSES];
};

/* One thread's slot. `pending` is this thread's live-byte change not yet
 * added to the header's `live_flushed`; `pending_hi` its maximum since that
 * flush (which makes the peak exact for a single thread). Padded to a whole
 * number of cache lines so two threads never share one. */
struct chim_thread_slot {
    uint32_t in_use; /* 0 free, 1 owned by a live thread */
    uint32_t tid;
    int64_t pending;
    int64_t pending_hi;
    uint64_t reserved;
    struct chim_mem_counters mem;
    uint64_t pad[6];
};

/* The fixed header at offset 0. */
struct chim_shm_header {
    uint64_t magic;          /* CHIM_SHM_MAGIC */
    uint32_t abi_version;    /* CHIM_SHM_ABI */
    uint32_t header_size;    /* sizeof(struct chim_shm_header) */
    uint64_t segment_size;   /* size of the whole file, bytes */
    uint64_t seq;            /* seqlock: odd while the writer updates */
    uint32_t pid;            /* writer's pid */
    uint32_t ppid;           /* parent at creation */
    uint32_t uid;            /* real uid at creation */
    uint32_t mode;           /* enum chim_mode */
    uint64_t start_ticks;    /* /proc/<pid>/stat field 22: pid-reuse guard */
    uint64_t start_time_ns;  /* CLOCK_REALTIME at agent start */
    uint64_t update_time_ns; /* CLOCK_REALTIME at the last header update */
    uint64_t end_time_ns;    /* CLOCK_REALTIME at normal exit, else 0 */
    uint32_t state;          /* enum chim_proc_state */
    uint32_t flags;          /* CHIM_FLAG_* */
    uint32_t page_size;
    uint32_t nsections;
    /* Process-wide memory figures. live is derived by the reader from the
     * thread slots; these are maintained by the agent's batched flushes. */
    int64_t live_flushed;     /* sum of flushed per-thread deltas */
    uint64_t peak_live_bytes; /* max of live_flushed + a thread's local high */
    uint64_t peak_rss_bytes;  /* getrusage ru_maxrss, sampled */
    int64_t inherited_live;   /* live bytes inherited from the parent at fork */
    uint64_t dropped;         /* events the agent could not record */
    uint64_t threads_seen;    /* threads that claimed a slot */
    uint64_t slot_overflow;   /* threads that found no free slot */
    int32_t exit_code;        /* status passed to exit/_exit, if exit_known */
    uint32_t exit_known;
    uint64_t reserved[7];
    char exe[CHIM_EXE_MAX];         /* NUL-terminated, truncated */
    char cmdline[CHIM_CMDLINE_MAX]; /* arguments separated by spaces */
    struct chim_section sections[CHIM_SECTIONS_MAX];
};

_Static_assert(sizeof(struct chim_section) == 24, "section entry is 24 bytes");
_Static_assert(sizeof(struct chim_mem_counters) == 48 + 8 * CHIM_SIZE_CLASSES,
               "mem counters layout");
_Static_assert(sizeof(struct chim_thread_slot) == 448, "thread slot is 7 cache lines");
_Static_assert(offsetof(struct chim_thread_slot, mem) == 32, "slot counters offset");
_Static_assert(offsetof(struct chim_shm_header, seq) == 24, "seq offset");
_Static_assert(offsetof(struct chim_shm_header, exe) == 216, "exe offset");
_Static_assert(offsetof(struct chim_shm_header, sections) == 984, "sections offset");
_Static_assert(sizeof(struct chim_shm_header) == 1368, "header size");

/* Section placement, shared by writer (to lay out) and reader (to check). */
#define CHIM_SHM_ALIGN         64u
#define CHIM_SHM_ALIGN_UP(x)   (((x) + CHIM_SHM_ALIGN - 1) & ~(uint64_t)(CHIM_SHM_ALIGN - 1))
#define CHIM_SHM_THREADS_OFF   CHIM_SHM_ALIGN_UP(sizeof(struct chim_shm_header))
#define CHIM_SHM_THREADS_COUNT (CHIM_THREAD_SLOTS + 1) /* last one is `retired` */

/* Size class of a requested size (see CHIM_SIZE_CLASSES). */
static inline unsigned chim_size_class(uint64_t size)
{
    unsigned k = 64u - (unsigned)__builtin_clzll(size | 1); /* size 0 joins class 1 */
    return k < CHIM_SIZE_CLASSES ? k : CHIM_SIZE_CLASSES - 1;
}

#endif /* CHIM_SHM_H */
