/*
 * metrics_load.c - loads a segment directory for serve, export and top,
 * cheaply enough to do once a second or on every scrape.
 *
 * Why not chim_seg_load_dir as it is: a segment is a 13 MB sparse file
 * (route and peer tables sized for the worst case), and copying it with
 * pread copies 13 MB of zeros from the holes: about 6 ms of system time per
 * segment, half a second for 74 segments. Here a segment is copied into a
 * zeroed buffer of the same size (calloc: untouched pages cost nothing) by
 * its data extents only (SEEK_DATA/SEEK_HOLE; tmpfs and the usual file
 * systems report them), which gives the same image as a full copy since
 * holes read as zeros. Segments of processes that ended before `skip_ns`
 * are not copied at all: their header says so. The checks are those of
 * chim_seg_load: no symlinks, regular files of our own uid, size bounds,
 * the seqlock, then chim_seg_validate on the image.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

static int open_seg(const char *path, struct stat *st, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s", errno == ELOOP ? "is a symlink" : strerror(errno));
        return -errno;
    }
    const char *why = NULL;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))
        why = "not a regular file";
    else if (st->st_uid != geteuid())
        why = "owned by another user";
    else if ((size_t)st->st_size > CHIM_SEG_MAX_BYTES)
        why = "larger than any segment";
    else if ((size_t)st->st_size < sizeof(struct chim_shm_header))
        why = "truncated: no room for the header";
    if (why) {
        snprintf(err, errlen, "%s", why);
        close(fd);
        return -EINVAL;
    }
    return fd;
}

/* Copies the data extents of fd into buf (size bytes, zeroed). */
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

/* Image of the whole file with a settled seqlock (or flagged torn). */
static int read_image(int fd, unsigned char *buf, size_t size, int *torn)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int rc = copy_extents(fd, buf, size);
        if (rc)
            return rc;
        uint64_t s1 = ((const struct chim_shm_header *)buf)->seq, s2;
        if (pread(fd, &s2, sizeof s2, offsetof(struct chim_shm_header, seq)) != sizeof s2)
            return -EIO;
        if (s1 == s2 && !(s1 & 1)) {
            *torn = 0;
            return 0;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    *torn = 1;
    return 0;
}

/* True if the header says the process ended before skip_ns. */
static int ended_before(const struct chim_shm_header *h, uint64_t skip_ns)
{
    if (!skip_ns || h->magic != CHIM_SHM_MAGIC || h->abi_version != CHIM_SHM_ABI)
        return 0;
    uint64_t end = h->end_time_ns ? h->end_time_ns : h->update_time_ns;
    if (end >= skip_ns)
        return 0;
    return h->state == CHIM_STATE_EXITED || !chim_seg_alive(h);
}

/* Loads one segment. 0 loaded, 1 skipped as long gone, < 0 error. */
static int load_one(const char *path, uint64_t skip_ns, const struct chim_metrics_opts *o,
                    struct chim_seg *seg, char *err, size_t errlen)
{
    struct stat st;
    struct chim_shm_header h;
    memset(seg, 0, sizeof *seg);
    snprintf(seg->path, sizeof seg->path, "%s", path);
    int fd = open_seg(path, &st, err, errlen);
    if (fd < 0)
        return fd;
    size_t size = (size_t)st.st_size;
    int rc = pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h ? 0 : -EIO;
    if (!rc && ended_before(&h, skip_ns) && !(o && o->known && o->known(o->gone_ctx, path))) {
        close(fd);
        return 1;
    }
    unsigned char *buf = rc ? NULL : calloc(1, size);
    if (!rc && !buf)
        rc = -ENOMEM;
    if (!rc)
        rc = read_image(fd, buf, size, &seg->torn);
    close(fd);
    if (rc)
        snprintf(err, errlen, "read failed: %s", strerror(-rc));
    else
        rc = chim_seg_validate(buf, size, err, errlen);
    if (rc) {
        free(buf);
        return rc;
    }
    struct chim_shm_header *hp = (struct chim_shm_header *)buf;
    hp->exe[CHIM_EXE_MAX - 1] = 0;
    hp->cmdline[CHIM_CMDLINE_MAX - 1] = 0;
    seg->data = buf;
    seg->size = size;
    seg->hdr = hp;
    seg->state = hp->state == CHIM_STATE_EXITED ? CHIM_SEG_EXITED
                 : chim_seg_alive(hp)           ? CHIM_SEG_RUNNING
                                                : CHIM_SEG_VANISHED;
    chim_seg_summarise(seg);
    return 0;
}

static int cmp_seg(const void *a, const void *b)
{
    const struct chim_shm_header *x = ((const struct chim_seg *)a)->hdr;
    const struct chim_shm_header *y = ((const struct chim_seg *)b)->hdr;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->start_time_ns < y->start_time_ns ? -1 : x->start_time_ns > y->start_time_ns;
}

static int push(struct chim_seg_set *set, size_t *cap, const struct chim_seg *seg)
{
    if (set->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct chim_seg *v = realloc(set->segs, ncap * sizeof *v);
        if (!v)
            return -ENOMEM;
        set->segs = v;
        *cap = ncap;
    }
    set->segs[set->n++] = *seg;
    return 0;
}

static int is_seg_name(const char *name)
{
    size_t n = strlen(name), e = strlen(CHIM_SHM_FILE_EXT);
    return name[0] != '.' && n > e && !strcmp(name + n - e, CHIM_SHM_FILE_EXT);
}

int chim_metrics_load_dir(const char *dir, const struct chim_metrics_opts *o,
                          struct chim_seg_set *set, size_t *long_gone, FILE *warn)
{
    memset(set, 0, sizeof *set);
    uint64_t skip_ns = 0;
    if (o) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t now =
            o->now_ns ? o->now_ns : (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        double grace = o->grace_s < 0 ? CHIM_METRICS_GRACE_S : o->grace_s;
        uint64_t g = (uint64_t)(grace * 1e9);
        skip_ns = now > g ? now - g : 0;
    }
    *long_gone = 0;
    DIR *d = opendir(dir ? dir : chim_default_dir());
    if (!d)
        return -errno;
    size_t cap = 0;
    int rc = 0;
    char path[sizeof((struct chim_seg *)0)->path], err[256];
    struct dirent *e;
    while (!rc && (e = readdir(d)) != NULL) {
        if (!is_seg_name(e->d_name))
            continue;
        struct chim_seg seg;
        int r = -ENAMETOOLONG;
        if (snprintf(path, sizeof path, "%s/%s", dir ? dir : chim_default_dir(), e->d_name) >=
            (int)sizeof path)
            snprintf(err, sizeof err, "path too long");
        else
            r = load_one(path, skip_ns, o, &seg, err, sizeof err);
        if (r == 1)
            (*long_gone)++;
        else if (r < 0 && warn)
            fprintf(warn, "chimcollect: warning: skipping %s: %s\n", path, err);
        set->skipped += r < 0;
        if (r == 0 && (rc = push(set, &cap, &seg)) != 0)
            chim_seg_free(&seg);
    }
    closedir(d);
    if (set->n)
        qsort(set->segs, set->n, sizeof *set->segs, cmp_seg);
    for (size_t i = 0; i + 1 < set->n; i++) {
        const struct chim_shm_header *a = set->segs[i].hdr, *b = set->segs[i + 1].hdr;
        if (a->pid == b->pid && a->start_ticks == b->start_ticks &&
            set->segs[i].state != CHIM_SEG_EXITED)
            set->segs[i].state = CHIM_SEG_EXECED;
    }
    return rc;
}
