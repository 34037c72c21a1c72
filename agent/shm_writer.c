/*
 * shm_writer.c - creates this process's segment and keeps its header.
 *
 * The segment is a file in the settings' directory, opened with O_EXCL and
 * O_NOFOLLOW inside a directory that must be ours and private (0700), then
 * mapped shared, so the counters survive the process. Thread slots are
 * claimed with one CAS and written only by their thread; a thread that ends
 * folds its slot into `retired` under a small spin lock, inside the header's
 * seqlock so a reader never counts a slot twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "net_conn.h"

struct chim_shm_header *chim__seg;
int chim__many_threads;
static uint32_t seg_gen; /* bumped at each segment creation (fork children) */

uint32_t chim__seg_generation(void)
{
    return __atomic_load_n(&seg_gen, __ATOMIC_RELAXED);
}
static size_t seg_size;
void *chim__sec_base[CHIM_SEC_KINDS];
uint64_t chim__sec_count[CHIM_SEC_KINDS];

/* The layout: one row per section, in file order. Subsystems add their rows
 * here; counts may come from the settings (read before creation). */
static uint32_t plan_layout(struct chim_section *out)
{
    struct chim_section rows[CHIM_SECTIONS_MAX];
    uint32_t n = 0;
    rows[n++] = (struct chim_section){CHIM_SEC_THREADS, sizeof(struct chim_thread_slot), 0,
                                      CHIM_SHM_THREADS_COUNT};
    n += chim__extra_sections(rows + n, CHIM_SECTIONS_MAX - n);
    uint64_t off = CHIM_SHM_THREADS_OFF;
    for (uint32_t i = 0; i < n; i++) {
        rows[i].offset = off;
        off = CHIM_SHM_ALIGN_UP(off + rows[i].count * rows[i].elem_size);
        out[i] = rows[i];
    }
    seg_size = off;
    return n;
}

static void bind_sections(void)
{
    for (uint32_t i = 0; i < chim__seg->nsections; i++) {
        const struct chim_section *s = &chim__seg->sections[i];
        if (s->kind < CHIM_SEC_KINDS) {
            chim__sec_base[s->kind] = (char *)chim__seg + s->offset;
            chim__sec_count[s->kind] = s->count;
        }
    }
}
static int retire_lock; /* spin lock around slot retirement */
static unsigned claim_hint;
static unsigned live_slots; /* slots claimed and not retired */
static uint64_t flushes;
/* Counts made before the segment exists; folded into `retired` later. */
static struct chim_mem_counters early;
static int64_t early_live;

static struct chim_thread_slot *slots(void)
{
    return (struct chim_thread_slot *)((char *)chim__seg + CHIM_SHM_THREADS_OFF);
}

static struct chim_thread_slot *retired(void)
{
    return slots() + CHIM_THREAD_SLOTS;
}

static void lock(void)
{
    while (__atomic_exchange_n(&retire_lock, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&retire_lock, __ATOMIC_RELAXED))
            __builtin_ia32_pause();
}

static void unlock(void)
{
    __atomic_store_n(&retire_lock, 0, __ATOMIC_RELEASE);
}

static void seq_begin(void)
{
    __atomic_fetch_add(&chim__seg->seq, 1, __ATOMIC_ACQ_REL);
}

static void seq_end(void)
{
    __atomic_fetch_add(&chim__seg->seq, 1, __ATOMIC_RELEASE);
}

/* Why the segment could not be made, for CHIM_DEBUG (no strerror: it may
 * translate, and allocate). */
static const char *why = "";

static const char *errno_why(int e)
{
    switch (e) {
    case ELOOP:
        return ": too many symbolic links in the path";
    case ENOENT:
        return ": a parent directory does not exist";
    case ENOTDIR:
        return ": not a directory";
    case EACCES:
    case EPERM:
        return ": permission denied";
    case EROFS:
        return ": read-only file system";
    case ENOSPC:
    case EDQUOT:
        return ": no space left";
    case ENOMEM:
        return ": out of memory";
    default:
        return "";
    }
}

/* Opens (creating 0700 if missing) the segment directory; refuses a
 * directory that is a symlink, not ours, or open to others. */
static int open_dir(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return why = errno_why(errno), -errno;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        struct stat ls; /* Linux says ENOTDIR for a symlink here, not ELOOP */
        why = (e == ENOTDIR || e == ELOOP) && lstat(dir, &ls) == 0 && S_ISLNK(ls.st_mode)
                  ? ": it is a symlink (refused)"
                  : errno_why(e);
        errno = e;
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        why = errno_why(errno);
    else if (st.st_uid != geteuid())
        why = ": owned by another user (refused)";
    else if (st.st_mode & 077)
        why = ": open to group or others (refused; chmod 700 it)";
    else
        return fd;
    syscall(SYS_close, fd);
    return -EPERM;
}

/* Field 22 of /proc/self/stat: start time in clock ticks since boot. */
static uint64_t start_ticks(void)
{
    return chim__proc_u64("/proc/self/stat", 22);
}

/* The command line, arguments joined by spaces (a server may retitle
 * itself after start, like nginx's workers: re-read at exit). */
static void read_cmdline(struct chim_shm_header *h)
{
    char buf[CHIM_CMDLINE_MAX];
    ssize_t n = chim__read_file("/proc/self/cmdline", buf, CHIM_CMDLINE_MAX - 1);
    if (n <= 0)
        return;
    while (n > 0 && !buf[n - 1])
        n--;
    for (ssize_t i = 0; i < n; i++)
        if (!buf[i])
            buf[i] = ' ';
    buf[n] = 0;
    memcpy(h->cmdline, buf, (size_t)n + 1);
}

static void fill_identity(struct chim_shm_header *h)
{
    ssize_t n = readlink("/proc/self/exe", h->exe, CHIM_EXE_MAX - 1);
    h->exe[n > 0 ? n : 0] = 0;
    read_cmdline(h);
    h->pid = (uint32_t)getpid();
    h->ppid = (uint32_t)getppid();
    h->uid = (uint32_t)getuid();
    h->start_ticks = start_ticks();
}

static void fill_header(struct chim_shm_header *h, uint32_t flags, int64_t inherited)
{
    h->abi_version = CHIM_SHM_ABI;
    h->header_size = sizeof *h;
    h->segment_size = seg_size;
    h->mode = chim__cfg.mode;
    h->flags = flags | (chim__cfg.mode_unknown ? CHIM_FLAG_MODE_UNKNOWN : 0u);
    h->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
    h->start_time_ns = chim__now_ns(CLOCK_REALTIME);
    h->update_time_ns = h->start_time_ns;
    h->inherited_live = inherited;
    h->live_flushed = inherited;
    h->peak_live_bytes = inherited > 0 ? (uint64_t)inherited : 0;
    h->nsections = plan_layout(h->sections);
    h->segment_size = seg_size;
    fill_identity(h);
    /* The magic goes last: a reader ignores a segment without it. */
    __atomic_store_n(&h->magic, CHIM_SHM_MAGIC, __ATOMIC_RELEASE);
}

static int make_file(int dfd, char *name, size_t len)
{
    char *e = name;
    e = chim__utoa((uint64_t)getpid(), e + chim__strlcpy(e, "chim.", len));
    *e++ = '.';
    e = chim__utoa(chim__now_ns(CLOCK_REALTIME), e);
    chim__strlcpy(e, CHIM_SHM_FILE_EXT, 8);
    return openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* The current segment's file: its name in chim__cfg.dir, device and inode
 * (a fork child reads the parent's through it: chim__seg_open_file). */
static char seg_name[96];
static dev_t seg_dev;
static ino_t seg_ino;

int chim__seg_open_file(void)
{
    int saved = errno, dfd = open_dir(chim__cfg.dir), fd = -1;
    struct stat st;
    if (dfd >= 0 && seg_name[0]) {
        fd = openat(dfd, seg_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && (fstat(fd, &st) != 0 || st.st_dev != seg_dev || st.st_ino != seg_ino)) {
            syscall(SYS_close, fd); /* another file now has the name */
            fd = -1;
        }
    }
    if (dfd >= 0)
        syscall(SYS_close, dfd);
    errno = saved;
    return fd;
}

/* Creates and maps the segment. Returns 0 or a negative errno; on error the
 * agent keeps forwarding calls and counts nothing. */
int chim__seg_create(uint32_t flags, int64_t inherited_live)
{
    char name[96];
    int saved = errno, rc = 0;
    int dfd = open_dir(chim__cfg.dir);
    if (dfd < 0) {
        rc = dfd;
        goto out;
    }
    int fd = make_file(dfd, name, sizeof name);
    syscall(SYS_close, dfd);
    if (fd < 0) {
        rc = -errno;
        why = errno_why(errno);
        goto out;
    }
    struct chim_section plan[CHIM_SECTIONS_MAX];
    plan_layout(plan); /* sets seg_size */
    void *m = MAP_FAILED;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        seg_dev = st.st_dev;
        seg_ino = st.st_ino;
        chim__strlcpy(seg_name, name, sizeof seg_name);
    }
    if (ftruncate(fd, (off_t)seg_size) == 0)
        m = mmap(NULL, seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    syscall(SYS_close, fd);
    if (m == MAP_FAILED) {
        rc = -errno;
        why = errno_why(errno);
        goto out;
    }
    fill_header(m, flags, inherited_live);
    chim__seg = m;
    __atomic_fetch_add(&seg_gen, 1, __ATOMIC_RELAXED);
    bind_sections();
    retired()->mem = early;
    chim__seg->live_flushed += early_live;
    if (chim__seg->live_flushed > 0)
        chim__seg->peak_live_bytes = (uint64_t)chim__seg->live_flushed;
out:
    if (rc)
        chim__debug3("cannot create segment in ", chim__cfg.dir, why);
    errno = saved;
    return rc;
}

/* Forgets the mapping (in a fork child, before creating its own). */
void chim__seg_detach(void)
{
    if (chim__seg)
        munmap(chim__seg, seg_size);
    chim__seg = NULL;
    __atomic_fetch_add(&seg_gen, 1, __ATOMIC_RELAXED);
    memset(chim__sec_base, 0, sizeof chim__sec_base);
    live_slots = 0; /* a fork child has one thread: it claims anew */
    memset(chim__sec_count, 0, sizeof chim__sec_count);
    memset(&early, 0, sizeof early);
    early_live = 0;
}

struct chim_thread_slot *chim__slot_claim(void)
{
    struct chim_thread_slot *s = slots();
    unsigned start = __atomic_fetch_add(&claim_hint, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < CHIM_THREAD_SLOTS; i++) {
        struct chim_thread_slot *c = &s[(start + i) % CHIM_THREAD_SLOTS];
        uint32_t zero = 0;
        if (__atomic_load_n(&c->in_use, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&c->in_use, &zero, 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            c->tid = (uint32_t)syscall(SYS_gettid);
            if (__atomic_fetch_add(&live_slots, 1, __ATOMIC_RELAXED) >= 1)
                __atomic_store_n(&chim__many_threads, 1, __ATOMIC_RELEASE);
            __atomic_fetch_add(&chim__seg->threads_seen, 1, __ATOMIC_RELAXED);
            return c;
        }
    }
    __atomic_fetch_add(&chim__seg->slot_overflow, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void atomic_max(uint64_t *p, uint64_t v)
{
    uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v > cur &&
           !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* Adds the slot's pending live delta to the header and raises the peak by
 * the slot's high-water mark since the last flush. */
void chim__slot_flush(struct chim_thread_slot *s)
{
    if (!chim__seg)
        return;
    int64_t pend = s->pending, hi = s->pending_hi;
    int64_t before = __atomic_fetch_add(&chim__seg->live_flushed, pend, __ATOMIC_RELAXED);
    __atomic_store_n(&s->pending, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->pending_hi, 0, __ATOMIC_RELAXED);
    int64_t peak = before + (hi > pend ? hi : pend);
    if (peak > 0)
        atomic_max(&chim__seg->peak_live_bytes, (uint64_t)peak);
    chim__seg->update_time_ns = chim__now_ns(CLOCK_REALTIME);
    if ((++flushes & 63) == 0)
        chim__seg_sample_rss();
}

static void add_counters(struct chim_mem_counters *dst, const struct chim_mem_counters *src)
{
    const uint64_t *s = (const uint64_t *)src;
    uint64_t *d = (uint64_t *)dst;
    for (size_t i = 0; i < sizeof *src / sizeof(uint64_t); i++)
        if (s[i])
            __atomic_fetch_add(&d[i], s[i], __ATOMIC_RELAXED);
}

/* Folds a slot into `retired` and frees it (thread exit). */
void chim__slot_retire(struct chim_thread_slot *s)
{
    int saved = errno;
    chim__slot_flush(s);
    lock();
    seq_begin();
    add_counters(&retired()->mem, &s->mem);
    memset(&s->mem, 0, sizeof s->mem);
    s->tid = 0;
    seq_end();
    unlock();
    __atomic_store_n(&s->in_use, 0, __ATOMIC_RELEASE);
    __atomic_fetch_sub(&live_slots, 1, __ATOMIC_RELAXED);
    errno = saved;
}

/* Counts without a slot of one's own: atomics on `retired` (or on the early
 * counters before the segment exists). */
void chim__count_shared(const struct chim_mem_counters *d, int64_t live_delta)
{
    if (!chim__seg) {
        add_counters(&early, d);
        __atomic_fetch_add(&early_live, live_delta, __ATOMIC_RELAXED);
        return;
    }
    add_counters(&retired()->mem, d);
    int64_t after = __atomic_add_fetch(&chim__seg->live_flushed, live_delta, __ATOMIC_RELAXED);
    if (after > 0)
        atomic_max(&chim__seg->peak_live_bytes, (uint64_t)after);
}

/* Live bytes as the reader computes them (used at fork for the child). */
int64_t chim__seg_live(void)
{
    if (!chim__seg)
        return early_live;
    int64_t live = chim__seg->inherited_live;
    for (unsigned i = 0; i < CHIM_SHM_THREADS_COUNT; i++) {
        const struct chim_thread_slot *s = &slots()[i];
        live += (int64_t)(s->mem.bytes_allocated - s->mem.bytes_freed);
    }
    return live;
}

void chim__seg_note_maxrss(uint64_t bytes)
{
    if (chim__seg)
        atomic_max(&chim__seg->peak_rss_bytes, bytes);
}

void chim__seg_sample_rss(void)
{
    struct rusage ru;
    int saved = errno;
    if (chim__seg && getrusage(RUSAGE_SELF, &ru) == 0)
        chim__seg_note_maxrss((uint64_t)ru.ru_maxrss * 1024);
    errno = saved;
}

void chim__seg_mark_exited(void)
{
    if (!chim__seg)
        return;
    chim__seg_sample_rss();
    chim__net_final_tick();
    seq_begin();
    read_cmdline(chim__seg);
    chim__seg->end_time_ns = chim__now_ns(CLOCK_REALTIME);
    chim__seg->update_time_ns = chim__seg->end_time_ns;
    chim__seg->state = CHIM_STATE_EXITED;
    seq_end();
}

/* fork: no retirement may be half done when the child is made. */
void chim__seg_lock_prepare(void)
{
    lock();
}

void chim__seg_lock_parent(void)
{
    unlock();
}

void chim__seg_lock_child(void)
{
    retire_lock = 0;
}
