/*
 * segment.c - loads, validates and summarises segments (see segment.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chim/shm_net.h"
#include "chim/shm_leak.h"
#include "segment.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

const char *chim_default_dir(void)
{
    static char buf[256];
    const char *d = getenv("CHIM_DIR");
    if (d && *d)
        return d;
    snprintf(buf, sizeof buf, "/dev/shm/chim-%u", (unsigned)geteuid());
    return buf;
}

int chim_dir_refused(const char *dir, char *why, size_t len)
{
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (errno != ENOENT) {
            snprintf(why, len, "%s: %s", dir, strerror(errno));
            return 1;
        }
        /* Missing: the agent creates it (0700), if its parent exists. */
        char parent[4096];
        snprintf(parent, sizeof parent, "%s", dir);
        char *slash = strrchr(parent, '/');
        if (!slash)
            return 0;
        slash[slash == parent] = 0; /* "/x" -> "/" */
        if (stat(parent, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        snprintf(why, len, "%s cannot be created: %s is not a directory", dir, parent);
        return 1;
    }
    if (S_ISLNK(st.st_mode))
        snprintf(why, len, "%s is a symlink", dir);
    else if (!S_ISDIR(st.st_mode))
        snprintf(why, len, "%s is not a directory", dir);
    else if (st.st_uid != geteuid())
        snprintf(why, len, "%s belongs to uid %u, not to you", dir, (unsigned)st.st_uid);
    else if (st.st_mode & 077)
        snprintf(why, len, "%s is open to group or others (mode %04o; chmod 700 it)", dir,
                 (unsigned)(st.st_mode & 07777));
    else
        return 0;
    return 1;
}

const char *chim_seg_state_name(enum chim_seg_state s)
{
    static const char *names[] = {"running", "exited", "vanished", "execed"};
    return (unsigned)s < 4 ? names[s] : "unknown";
}

/* Element size of a known section kind (0: not checked here). */
static size_t expected_elem(uint32_t kind)
{
    switch (kind) {
    case CHIM_SEC_NET:
        return sizeof(struct chim_net_stats);
    case CHIM_SEC_ROUTES:
    case CHIM_SEC_PEERS:
        return sizeof(struct chim_net_entry);
    case CHIM_SEC_SERIES:
        return sizeof(struct chim_series_point);
    case CHIM_SEC_MODULES:
        return sizeof(struct chim_module);
    case CHIM_SEC_SITES:
        return sizeof(struct chim_site);
    case CHIM_SEC_LEAKS:
        return sizeof(struct chim_leak_info);
    case CHIM_SEC_DELTAS:
        return sizeof(struct chim_delta_row);
    default:
        return 0;
    }
}

static int check_section(const struct chim_section *s, size_t size, char *err, size_t errlen)
{
    uint64_t bytes;
    if (s->offset % CHIM_SHM_ALIGN || s->offset > size)
        return ERR("section %u: offset %llu out of bounds", s->kind, (unsigned long long)s->offset);
    if (__builtin_mul_overflow(s->count, (uint64_t)s->elem_size, &bytes) ||
        bytes > size - s->offset)
        return ERR("section %u: %llu x %u bytes exceed the segment", s->kind,
                   (unsigned long long)s->count, s->elem_size);
    if (s->kind == CHIM_SEC_THREADS &&
        (s->elem_size != sizeof(struct chim_thread_slot) || s->count < 1))
        return ERR("thread section has element size %u, expected %zu", s->elem_size,
                   sizeof(struct chim_thread_slot));
    if (s->kind == CHIM_SEC_STACKS && (s->elem_size < CHIM_STACK_ELEM(1) ||
                                       s->elem_size > CHIM_STACK_ELEM(CHIM_STACK_DEPTH_MAX) ||
                                       (s->elem_size - CHIM_STACK_HDR_BYTES) % 8))
        return ERR("stack section has element size %u, not 16 + 8 x depth", s->elem_size);
    size_t want = expected_elem(s->kind);
    if (want && s->elem_size != want)
        return ERR("section %u has element size %u, expected %zu", s->kind, s->elem_size, want);
    return 0;
}

int chim_seg_validate(const unsigned char *data, size_t size, char *err, size_t errlen)
{
    struct chim_shm_header h;
    if (size < sizeof h)
        return ERR("truncated: %zu bytes, header needs %zu", size, sizeof h);
    memcpy(&h, data, sizeof h);
    if (h.magic != CHIM_SHM_MAGIC)
        return ERR("not a chimera segment (bad magic)");
    if (h.abi_version != CHIM_SHM_ABI)
        return ERR("ABI version %u, this collector reads %u", h.abi_version, CHIM_SHM_ABI);
    if (h.header_size != sizeof h)
        return ERR("header size %u, expected %zu", h.header_size, sizeof h);
    if (h.segment_size != size)
        return ERR("truncated: header says %llu bytes, file has %zu",
                   (unsigned long long)h.segment_size, size);
    if (h.nsections > CHIM_SECTIONS_MAX)
        return ERR("%u sections, at most %d", h.nsections, CHIM_SECTIONS_MAX);
    int have_threads = 0;
    for (uint32_t i = 0; i < h.nsections; i++) {
        int rc = check_section(&h.sections[i], size, err, errlen);
        if (rc)
            return rc;
        have_threads |= h.sections[i].kind == CHIM_SEC_THREADS;
    }
    if (!have_threads)
        return ERR("no thread section");
    return 0;
}

const struct chim_section *chim_seg_section(const struct chim_shm_header *h, uint32_t kind)
{
    for (uint32_t i = 0; i < h->nsections && i < CHIM_SECTIONS_MAX; i++)
        if (h->sections[i].kind == kind)
            return &h->sections[i];
    return NULL;
}

/* Copies the data extents of fd into buf (size bytes, already zeroed):
 * segments are sparse (tables sized for the worst case), and holes read as
 * zeros, so skipping them gives the same image for a fraction of the cost. */
static int copy_extents(int fd, unsigned char *buf, size_t size)
{
    off_t pos = 0;
    while ((size_t)pos < size) {
        off_t data = lseek(fd, pos, SEEK_DATA);
        if (data < 0)
            return errno == ENXIO ? 0 : -errno; /* ENXIO: only a hole is left */
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0 || (size_t)hole > size)
            hole = (off_t)size;
        for (off_t at = data; at < hole;) {
            ssize_t got = pread(fd, buf + at, (size_t)(hole - at), at);
            if (got <= 0)
                return got < 0 ? -errno : -EIO;
            at += got;
        }
        pos = hole;
    }
    return 0;
}

/* Reads the whole file; retries while the seqlock is odd or moves. */
static int read_stable(int fd, size_t size, unsigned char *buf, int *torn)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int rc = copy_extents(fd, buf, size);
        if (rc)
            return rc;
        uint64_t s1 = ((struct chim_shm_header *)buf)->seq, s2;
        if (pread(fd, &s2, sizeof s2, offsetof(struct chim_shm_header, seq)) != sizeof s2)
            return -EIO;
        if (s1 == s2 && !(s1 & 1)) {
            *torn = 0;
            return 0;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    *torn = 1; /* the writer died inside an update: report what is there */
    return 0;
}

static int open_checked(const char *path, struct stat *st, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s", e == ELOOP ? "is a symlink" : strerror(e));
        return -e;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return ERR("not a regular file");
    }
    if (st->st_uid != geteuid()) {
        close(fd);
        snprintf(err, errlen, "owned by uid %u, not by this user", (unsigned)st->st_uid);
        return -EPERM;
    }
    if ((size_t)st->st_size > CHIM_SEG_MAX_BYTES) {
        close(fd);
        return ERR("%lld bytes, larger than any segment", (long long)st->st_size);
    }
    return fd;
}

/* True if the header (not yet validated) says the process ended before
 * the filter's time; such a segment is not copied. */
static int filtered_out(int fd, const char *path, const struct chim_seg_filter *f)
{
    struct chim_shm_header h;
    if (!f || !f->ended_before_ns || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        return 0;
    if (h.magic != CHIM_SHM_MAGIC || h.abi_version != CHIM_SHM_ABI)
        return 0; /* let validation say what is wrong */
    uint64_t end = h.end_time_ns ? h.end_time_ns : h.update_time_ns;
    if (end >= f->ended_before_ns || (h.state != CHIM_STATE_EXITED && chim_seg_alive(&h)))
        return 0;
    return !(f->keep && f->keep(f->ctx, path));
}

int chim_seg_load(const char *path, struct chim_seg *seg, char *err, size_t errlen)
{
    return chim_seg_load_filtered(path, NULL, seg, err, errlen);
}

int chim_seg_load_filtered(const char *path, const struct chim_seg_filter *f, struct chim_seg *seg,
                           char *err, size_t errlen)
{
    struct stat st;
    memset(seg, 0, sizeof *seg);
    snprintf(seg->path, sizeof seg->path, "%s", path);
    int fd = open_checked(path, &st, err, errlen);
    if (fd < 0)
        return fd;
    if (filtered_out(fd, path, f)) {
        close(fd);
        return 1;
    }
    size_t size = (size_t)st.st_size;
    int rc = -ENOMEM;
    unsigned char *buf = calloc(1, size ? size : 1); /* untouched pages cost nothing */
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (size < sizeof(struct chim_shm_header)) {
        rc = ERR("truncated: %zu bytes, header needs %zu", size, sizeof(struct chim_shm_header));
        goto fail;
    }
    rc = read_stable(fd, size, buf, &seg->torn);
    if (rc) {
        snprintf(err, errlen, "read failed: %s", strerror(-rc));
        goto fail;
    }
    rc = chim_seg_validate(buf, size, err, errlen);
    if (rc)
        goto fail;
    seg->data = buf;
    seg->size = size;
    seg->hdr = (const struct chim_shm_header *)buf;
    seg->state = seg->hdr->state == CHIM_STATE_EXITED ? CHIM_SEG_EXITED
                 : chim_seg_alive(seg->hdr)           ? CHIM_SEG_RUNNING
                                                      : CHIM_SEG_VANISHED;
    chim_seg_add_deltas(seg, fd);
    close(fd);
    /* Strings are untrusted: terminate them inside their fields. */
    ((struct chim_shm_header *)buf)->exe[CHIM_EXE_MAX - 1] = 0;
    ((struct chim_shm_header *)buf)->cmdline[CHIM_CMDLINE_MAX - 1] = 0;
    chim_seg_summarise(seg);
    return 0;
fail:
    free(buf);
    close(fd);
    return rc;
}

/* The number after `key` (e.g. "Threads:") in pid's /proc status, 0 if
 * absent. */
static unsigned long long proc_status(uint32_t pid, const char *key)
{
    char path[64], line[256];
    unsigned long long v = 0;
    size_t k = strlen(key);
    snprintf(path, sizeof path, "/proc/%u/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, k) && sscanf(line + k, "%llu", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* Start time (field 22) of a live pid, or 0 (also for a zombie: dead,
 * not yet reaped by its parent; a process whose main thread exited while
 * others run shows as a zombie too, and is alive). */
static uint64_t proc_start_ticks(uint32_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (p && (p[1] != ' ' || p[2] == 'X' || (p[2] == 'Z' && proc_status(pid, "Threads:") <= 1)))
        return 0; /* field 3: the state */
    for (int field = 2; p && *p && field < 22; p++)
        if (*p == ' ')
            field++;
    return p ? strtoull(p, NULL, 10) : 0;
}

int chim_seg_alive(const struct chim_shm_header *h)
{
    if (h->pid == 0)
        return 0;
    uint64_t t = proc_start_ticks(h->pid);
    return t != 0 && (h->start_ticks == 0 || t == h->start_ticks);
}

int chim_seg_proc_cpu(uint32_t pid, uint64_t *user_us, uint64_t *sys_us)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    for (int field = 2; p && *p && field < 14; p++)
        if (*p == ' ')
            field++;
    unsigned long long ut, st;
    long hz = sysconf(_SC_CLK_TCK);
    if (!p || hz <= 0 || sscanf(p, "%llu %llu", &ut, &st) != 2)
        return -1;
    *user_us = ut * 1000000ull / (unsigned long long)hz;
    *sys_us = st * 1000000ull / (unsigned long long)hz;
    return 0;
}

/* VmHWM of a running process, bytes (0 if unknown). */
static uint64_t proc_hwm(uint32_t pid)
{
    return (uint64_t)proc_status(pid, "VmHWM:") * 1024;
}

void chim_seg_summarise(struct chim_seg *seg)
{
    const struct chim_shm_header *h = seg->hdr;
    const struct chim_section *sec = chim_seg_section(h, CHIM_SEC_THREADS);
    struct chim_mem_summary *m = &seg->mem;
    memset(m, 0, sizeof *m);
    int64_t max_hi = 0;
    for (uint64_t i = 0; sec && i < sec->count; i++) {
        struct chim_thread_slot s;
        memcpy(&s, seg->data + sec->offset + i * sizeof s, sizeof s);
        m->frees += s.mem.frees;
        m->bytes_requested += s.mem.bytes_requested;
        m->bytes_allocated += s.mem.bytes_allocated;
        m->bytes_freed += s.mem.bytes_freed;
        m->failed += s.mem.failed;
        for (int k = 0; k < CHIM_SIZE_CLASSES; k++) {
            m->size_class[k] += s.mem.size_class[k];
            m->allocs += s.mem.size_class[k];
        }
        if (s.pending_hi > max_hi)
            max_hi = s.pending_hi;
    }
    m->live_bytes = h->inherited_live + (int64_t)(m->bytes_allocated - m->bytes_freed);
    int64_t peak = (int64_t)h->peak_live_bytes;
    if (m->live_bytes > peak)
        peak = m->live_bytes;
    if (h->live_flushed + max_hi > peak)
        peak = h->live_flushed + max_hi;
    m->peak_live_bytes = peak > 0 ? (uint64_t)peak : 0;
    m->peak_rss_bytes = h->peak_rss_bytes;
    if (seg->state == CHIM_SEG_RUNNING) {
        uint64_t hwm = proc_hwm(h->pid);
        if (hwm > m->peak_rss_bytes)
            m->peak_rss_bytes = hwm;
    }
}

void chim_seg_free(struct chim_seg *seg)
{
    free(seg->data);
    seg->data = NULL;
    seg->hdr = NULL;
}

static int cmp_seg(const void *a, const void *b)
{
    const struct chim_shm_header *x = ((const struct chim_seg *)a)->hdr;
    const struct chim_shm_header *y = ((const struct chim_seg *)b)->hdr;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->start_time_ns < y->start_time_ns ? -1 : x->start_time_ns > y->start_time_ns;
}

/* A segment followed by a newer one of the same process ended in exec.
 * Summarised again: it was taken for the running image, whose /proc
 * figures (peak RSS) are not its own. */
static void mark_execed(struct chim_seg_set *set)
{
    for (size_t i = 0; i + 1 < set->n; i++) {
        const struct chim_shm_header *a = set->segs[i].hdr, *b = set->segs[i + 1].hdr;
        if (a->pid == b->pid && a->start_ticks == b->start_ticks &&
            set->segs[i].state != CHIM_SEG_EXITED && set->segs[i].state != CHIM_SEG_EXECED) {
            set->segs[i].state = CHIM_SEG_EXECED;
            chim_seg_add_odd_rows(&set->segs[i]);
            chim_seg_summarise(&set->segs[i]);
        }
    }
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Loads one file into the set; 1 if the filter left it out. */
static int add_seg(struct chim_seg_set *set, size_t *cap, const char *path,
                   const struct chim_seg_filter *f, FILE *warn)
{
    char err[256];
    struct chim_seg seg;
    int r = chim_seg_load_filtered(path, f, &seg, err, sizeof err);
    if (r == 1)
        return 1;
    if (r != 0) {
        if (warn)
            fprintf(warn, "chimcollect: warning: skipping %s: %s\n", path, err);
        set->skipped++;
        return 0;
    }
    if (set->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct chim_seg *p = realloc(set->segs, ncap * sizeof *p);
        if (!p) {
            chim_seg_free(&seg);
            return -ENOMEM;
        }
        set->segs = p;
        *cap = ncap;
    }
    set->segs[set->n++] = seg;
    return 0;
}

int chim_seg_load_dir(const char *dir, struct chim_seg_set *set, FILE *warn)
{
    return chim_seg_load_dir_filtered(dir, NULL, set, NULL, warn);
}

int chim_seg_load_dir_filtered(const char *dir, const struct chim_seg_filter *f,
                               struct chim_seg_set *set, size_t *filtered, FILE *warn)
{
    memset(set, 0, sizeof *set);
    if (filtered)
        *filtered = 0;
    if (!dir)
        dir = chim_default_dir();
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    size_t cap = 0;
    int rc = 0;
    struct dirent *e;
    char path[sizeof set->segs->path];
    while (rc >= 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !has_suffix(e->d_name, CHIM_SHM_FILE_EXT))
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) {
            if (warn)
                fprintf(warn, "chimcollect: warning: skipping %s/%s: path too long\n", dir,
                        e->d_name);
            set->skipped++;
            continue;
        }
        rc = add_seg(set, &cap, path, f, warn);
        if (rc == 1 && filtered)
            (*filtered)++;
    }
    closedir(d);
    if (set->n)
        qsort(set->segs, set->n, sizeof *set->segs, cmp_seg);
    mark_execed(set);
    return rc < 0 ? rc : 0;
}

int chim_seg_set_has_pid(const struct chim_seg_set *set, long pid)
{
    for (size_t i = 0; pid > 0 && i < set->n; i++)
        if (set->segs[i].hdr->pid == (uint32_t)pid)
            return 1;
    return pid <= 0;
}

void chim_seg_set_free(struct chim_seg_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        chim_seg_free(&set->segs[i]);
    free(set->segs);
    memset(set, 0, sizeof *set);
}
