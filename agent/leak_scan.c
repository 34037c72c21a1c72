/*
 * leak_scan.c - full mode's exit-time reachability scan, done in process
 * (no ptrace, which containers often forbid).
 *
 * Conservative, as LeakSanitizer and valgrind: every aligned word of the
 * roots that points into a recorded block (at its start or inside it) makes
 * that block reachable, and its contents are scanned in turn. Roots are the
 * writable PT_LOAD segments (.data, .bss, GOT) and TLS blocks of every loaded
 * object but the agent, the calling thread's registers and stack, and the
 * stacks of the other live threads (registered at thread start; scanned
 * whole, since their stack pointers are not known). Blocks not reached are
 * leaked: "indirectly" when a leaked block points at them, "directly"
 * otherwise. Results go into each site's scan fields.
 *
 * Everything the scan needs (the sorted block index, the mark stack, the
 * readable map of the address space) lives in anonymous mmap memory; every
 * root range is clipped to what /proc/self/maps says is readable.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "leak.h"
#include "unwind.h"

/* ---- thread registry ------------------------------------------------------ */

#define MAX_THREADS 1024
struct thread_rec {
    uintptr_t lo, hi; /* lo == 0: free */
};
static struct thread_rec threads[MAX_THREADS];

int chim__threads_add(uintptr_t lo, uintptr_t hi)
{
    for (int i = 0; i < MAX_THREADS; i++) {
        uintptr_t zero = 0;
        if (!__atomic_load_n(&threads[i].lo, __ATOMIC_RELAXED) &&
            __atomic_compare_exchange_n(&threads[i].lo, &zero, lo, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            __atomic_store_n(&threads[i].hi, hi, __ATOMIC_RELEASE);
            return i;
        }
    }
    return -1;
}

void chim__threads_remove(int idx)
{
    if (idx < 0 || idx >= MAX_THREADS)
        return;
    __atomic_store_n(&threads[idx].hi, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&threads[idx].lo, 0, __ATOMIC_RELEASE);
}

void chim__threads_reset_child(void)
{
    memset(threads, 0, sizeof threads); /* only the forking thread lives on */
}

/* ---- readable ranges ------------------------------------------------------ */

struct range {
    uintptr_t lo, hi;
};

struct scan {
    struct range *maps;
    size_t nmaps;
    struct chim_block *idx; /* recorded blocks, sorted by address */
    unsigned char *mark;    /* 0 unreached, 1 reachable, 2 leaked-indirect */
    uint32_t *stack;        /* blocks waiting to be scanned */
    size_t n, sp;
    uintptr_t min, max;
    uint64_t root_bytes;
    int exact; /* only pointers to a block's start count (libc's data) */
};

static uintptr_t hex(const char **p)
{
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return v;
        v = v * 16 + (uintptr_t)d;
    }
}

/* Readable mappings of this process (no stdio, no malloc; chim__read_maps:
 * /proc/self's read empty once the main thread left with pthread_exit, and
 * every root was then clipped away, every block "leaked"). */
static size_t read_maps(struct range *out, size_t room, char *buf, size_t buflen)
{
    ssize_t n = chim__read_maps(buf, buflen - 1);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    size_t k = 0;
    for (const char *p = buf; *p && k < room;) {
        uintptr_t lo = hex(&p);
        p++;
        uintptr_t hi = hex(&p);
        int readable = p[1] == 'r';
        int special = 0;
        const char *eol = strchr(p, '\n');
        const char *name = p;
        while (name < (eol ? eol : p + strlen(p)) && *name != '[')
            name++;
        special = !strncmp(name, "[vvar", 5) || !strncmp(name, "[vsyscall", 9);
        if (readable && !special)
            out[k++] = (struct range){lo, hi};
        p = eol ? eol + 1 : p + strlen(p);
    }
    return k;
}

/* ---- block index ---------------------------------------------------------- */

static void sift(struct chim_block *a, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && a[c + 1].addr > a[c].addr)
            c++;
        if (a[i].addr >= a[c].addr)
            return;
        struct chim_block t = a[i];
        a[i] = a[c];
        a[c] = t;
        i = c;
    }
}

static void heap_sort(struct chim_block *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(a, i, n);
    for (size_t i = n; i-- > 1;) {
        struct chim_block t = a[0];
        a[0] = a[i];
        a[i] = t;
        sift(a, 0, i);
    }
}

/* Index of the block containing address v, or -1. */
static long find_block(const struct scan *s, uintptr_t v)
{
    if (v < s->min || v >= s->max)
        return -1;
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->idx[mid].addr <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const struct chim_block *b = &s->idx[lo - 1];
    uintptr_t end = b->addr + (b->size ? b->size : 1);
    return v < end ? (long)(lo - 1) : -1;
}

static void *map_anon(size_t bytes)
{
    void *m = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

/* Copies up to `room` recorded blocks to dst (counts them if dst is NULL). */
static size_t collect(struct chim_block *dst, size_t room)
{
    size_t n = 0;
    for (uint32_t k = 0; k < chim__leak_ntables(); k++) {
        uint64_t cap;
        const uint64_t *used;
        struct chim_block *t = chim__leak_table(k, &cap, &used);
        for (uint64_t i = chim__leak_table_skip(used, 0, cap); i < cap && n < room;
             i = chim__leak_table_skip(used, i + 1, cap)) {
            uint64_t a = __atomic_load_n(&t[i].addr, __ATOMIC_ACQUIRE);
            if (a > 2) {
                if (dst) {
                    dst[n] = t[i];
                    dst[n].addr = a;
                }
                n++;
            }
        }
    }
    return n;
}

/* ---- marking -------------------------------------------------------------- */

/* Scans [lo, hi) for pointers to blocks; marks unreached ones with `m`. */
static void scan_words(struct scan *s, uintptr_t lo, uintptr_t hi, unsigned char m)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    for (uintptr_t p = lo; p + 8 <= hi; p += 8) {
        uintptr_t v = *(const uintptr_t *)p;
        long i = find_block(s, v);
        if (i >= 0 && s->mark[i] == 0 && (!s->exact || s->idx[i].addr == v)) {
            s->mark[i] = m;
            s->stack[s->sp++] = (uint32_t)i;
        }
    }
}

static void drain(struct scan *s, unsigned char m)
{
    int exact = s->exact;
    s->exact = 0; /* blocks' contents: interior pointers count */
    while (s->sp) {
        const struct chim_block *b = &s->idx[s->stack[--s->sp]];
        scan_words(s, b->addr, b->addr + b->size, m);
    }
    s->exact = exact;
}

/* A root range, clipped to the readable mappings it overlaps. */
static void scan_root(struct scan *s, uintptr_t lo, uintptr_t hi)
{
    for (size_t i = 0; i < s->nmaps && lo < hi; i++) {
        uintptr_t a = lo > s->maps[i].lo ? lo : s->maps[i].lo;
        uintptr_t b = hi < s->maps[i].hi ? hi : s->maps[i].hi;
        if (a < b) {
            s->root_bytes += b - a;
            scan_words(s, a, b, 1);
            drain(s, 1);
        }
    }
}

/* Interior pointers make a block reachable (as LeakSanitizer has it),
 * except from the C library's own data: glibc's allocator keeps chunk
 * addresses there (the top chunk, the bins), which fall 16 bytes before a
 * neighbour's start, inside the block before it. */
static void root_cb(uintptr_t lo, uintptr_t hi, int libc, void *arg)
{
    struct scan *s = arg;
    s->exact = libc;
    scan_root(s, lo, hi);
    s->exact = 0;
}

/* The stack mapping that holds address a (for the main thread's range). */
static struct range mapping_of(const struct scan *s, uintptr_t a)
{
    for (size_t i = 0; i < s->nmaps; i++)
        if (a >= s->maps[i].lo && a < s->maps[i].hi)
            return s->maps[i];
    return (struct range){0, 0};
}

/* The calling thread from `from` (where the caller saved its registers:
 * the scan's own frames below it hold copies of block addresses), the
 * other registered threads whole, and the main thread if it is not us. */
static void scan_threads(struct scan *s, uintptr_t from, uint64_t *nthreads)
{
    uintptr_t sp = from;
    struct range own = mapping_of(s, sp);
    scan_root(s, sp, own.hi);
    *nthreads = 1;
    for (int i = 0; i < MAX_THREADS; i++) {
        uintptr_t lo = __atomic_load_n(&threads[i].lo, __ATOMIC_ACQUIRE);
        uintptr_t hi = __atomic_load_n(&threads[i].hi, __ATOMIC_ACQUIRE);
        if (!lo || !hi || (sp >= lo && sp < hi))
            continue;
        scan_root(s, lo, hi);
        (*nthreads)++;
    }
    /* The main thread, if the exit happens elsewhere: its whole stack. */
    struct range main = mapping_of(s, (uintptr_t)chim__unwind_main_hi() - 1);
    if (main.hi && !(sp >= main.lo && sp < main.hi)) {
        scan_root(s, main.lo, main.hi);
        (*nthreads)++;
    }
}

/* Leaked blocks reached from other leaked blocks are "indirect". */
static void mark_indirect(struct scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->mark[i] != 0)
            continue;
        const struct chim_block *b = &s->idx[i];
        scan_words(s, b->addr, b->addr + b->size, 2);
        drain(s, 2);
    }
}

static void tally(const struct scan *s, struct chim_leak_info *in)
{
    /* Only sites of live blocks: the scan runs once per process (a fork
     * child's copy of its parent's sites predates the parent's scan), and
     * touching every site would fault in the whole SITES section (8 MiB). */
    for (size_t i = 0; i < s->n; i++) {
        struct chim_site *site = chim__leak_site(s->idx[i].stack);
        if (!site)
            continue;
        site->leaked_blocks = site->leaked_bytes = 0;
        site->indirect_blocks = site->indirect_bytes = 0;
        site->reachable_blocks = site->reachable_bytes = 0;
    }
    for (size_t i = 0; i < s->n; i++) {
        const struct chim_block *b = &s->idx[i];
        struct chim_site *site = chim__leak_site(b->stack);
        if (!site)
            continue;
        in->scan_bytes += b->size;
        if (s->mark[i] == 1) {
            site->reachable_blocks++;
            site->reachable_bytes += b->size;
        } else if (s->mark[i] == 2) {
            site->indirect_blocks++;
            site->indirect_bytes += b->size;
            in->scan_indirect_blocks++;
            in->scan_indirect_bytes += b->size;
        } else {
            site->leaked_blocks++;
            site->leaked_bytes += b->size;
            in->scan_leaked_blocks++;
            in->scan_leaked_bytes += b->size;
        }
    }
    in->scan_blocks = s->n;
}

#define MAPS_MAX 8192
#define MAPS_BUF (2u << 20)

void chim__leak_scan(uintptr_t stack_from)
{
    struct chim_leak_info *in = chim__sec_base[CHIM_SEC_LEAKS];
    if (!in)
        return;
    uint64_t t0 = chim__now_ns(CLOCK_MONOTONIC);
    in->scan_state = CHIM_SCAN_RUNNING;
    struct scan s = {0};
    size_t cap = collect(NULL, SIZE_MAX) + 1024; /* room for blocks added meanwhile */
    char *buf = map_anon(MAPS_BUF);
    s.maps = map_anon(MAPS_MAX * sizeof *s.maps);
    s.idx = map_anon(cap * sizeof *s.idx);
    s.mark = map_anon(cap);
    s.stack = map_anon(cap * sizeof *s.stack);
    if (!buf || !s.maps || !s.idx || !s.mark || !s.stack) {
        in->scan_state = CHIM_SCAN_FAILED;
        goto out;
    }
    s.nmaps = read_maps(s.maps, MAPS_MAX, buf, MAPS_BUF);
    s.n = collect(s.idx, cap);
    heap_sort(s.idx, s.n);
    if (s.n) {
        s.min = s.idx[0].addr;
        s.max = s.idx[s.n - 1].addr + s.idx[s.n - 1].size + 1;
    }
    chim__modules_roots(root_cb, &s);
    scan_threads(&s, stack_from, &in->scan_threads);
    mark_indirect(&s);
    tally(&s, in);
    in->scan_root_bytes = s.root_bytes;
    in->scan_ns = chim__now_ns(CLOCK_MONOTONIC) - t0;
    in->scan_state = CHIM_SCAN_DONE;
out:
    if (buf)
        munmap(buf, MAPS_BUF);
    if (s.maps)
        munmap(s.maps, MAPS_MAX * sizeof *s.maps);
    if (s.idx)
        munmap(s.idx, cap * sizeof *s.idx);
    if (s.mark)
        munmap(s.mark, cap);
    if (s.stack)
        munmap(s.stack, cap * sizeof *s.stack);
}
