/*
 * test_segment.c - the segment reader against hostile input: truncated,
 * random, wrong magic or version, sections out of bounds, symlinks, foreign
 * owners. Every case is refused with a reason; a valid segment is read.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment.h"

static size_t seg_bytes(void)
{
    return CHIM_SHM_ALIGN_UP(CHIM_SHM_THREADS_OFF +
                             CHIM_SHM_THREADS_COUNT * sizeof(struct chim_thread_slot));
}

/* A well-formed segment image with one thread's counters. */
static unsigned char *make_valid(size_t *size)
{
    *size = seg_bytes();
    unsigned char *b = calloc(1, *size);
    struct chim_shm_header *h = (struct chim_shm_header *)b;
    h->magic = CHIM_SHM_MAGIC;
    h->abi_version = CHIM_SHM_ABI;
    h->header_size = sizeof *h;
    h->segment_size = *size;
    h->nsections = 1;
    h->sections[0] = (struct chim_section){CHIM_SEC_THREADS, sizeof(struct chim_thread_slot),
                                           CHIM_SHM_THREADS_OFF, CHIM_SHM_THREADS_COUNT};
    h->pid = 0x7ffffff0; /* no such process */
    struct chim_thread_slot *s = (struct chim_thread_slot *)(b + CHIM_SHM_THREADS_OFF);
    s->in_use = 1;
    s->mem.size_class[3] = 10;
    s->mem.frees = 4;
    s->mem.bytes_allocated = 1000;
    s->mem.bytes_freed = 400;
    h->state = CHIM_STATE_EXITED;
    return b;
}

static char tmpdir[] = "/tmp/chimseg-XXXXXX";

static const char *write_file(const char *name, const void *data, size_t n)
{
    static char path[256];
    static int made; /* not strchr(tmpdir, 'X'): the random suffix may hold an X */
    if (!made++)
        cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
    return path;
}

static void expect_refused(const unsigned char *b, size_t n, const char *why)
{
    char err[256] = "";
    cr_expect_neq(chim_seg_validate(b, n, err, sizeof err), 0, "accepted: %s", why);
    cr_expect_neq(err[0], 0, "no reason given for %s", why);
}

Test(segment, valid_is_read_and_summarised)
{
    size_t n;
    unsigned char *b = make_valid(&n);
    struct chim_seg seg;
    char err[256] = "";
    const char *path = write_file("ok.seg", b, n);
    cr_assert_eq(chim_seg_load(path, &seg, err, sizeof err), 0, "%s", err);
    cr_expect_eq(seg.mem.allocs, 10);
    cr_expect_eq(seg.mem.live_bytes, 600);
    cr_expect_eq(seg.state, CHIM_SEG_EXITED);
    chim_seg_free(&seg);
    free(b);
}

Test(segment, truncated_everywhere)
{
    size_t n;
    unsigned char *b = make_valid(&n);
    for (size_t cut = 0; cut < n; cut += (cut < 2048 ? 1 : 4093))
        expect_refused(b, cut, "truncated");
    free(b);
}

Test(segment, bad_header_fields)
{
    size_t n;
    unsigned char *b = make_valid(&n);
    struct chim_shm_header *h = (struct chim_shm_header *)b;
    h->magic ^= 1;
    expect_refused(b, n, "magic");
    h->magic ^= 1;
    h->abi_version = 99;
    expect_refused(b, n, "version");
    h->abi_version = CHIM_SHM_ABI;
    h->header_size = 12;
    expect_refused(b, n, "header size");
    h->header_size = sizeof *h;
    h->nsections = 1000;
    expect_refused(b, n, "section count");
    h->nsections = 1;
    h->sections[0].offset = n + 64;
    expect_refused(b, n, "section offset");
    h->sections[0].offset = CHIM_SHM_THREADS_OFF;
    h->sections[0].count = UINT64_MAX / 2;
    expect_refused(b, n, "section count overflow");
    h->sections[0].count = CHIM_SHM_THREADS_COUNT;
    h->sections[0].elem_size = 8;
    expect_refused(b, n, "element size");
    free(b);
}

Test(segment, random_bytes_never_crash)
{
    size_t n;
    unsigned char *b = make_valid(&n);
    srand(42);
    for (int round = 0; round < 2000; round++) {
        unsigned char *c = malloc(n);
        memcpy(c, b, n);
        for (int k = 0; k < 8; k++)
            c[(size_t)rand() % 2048] = (unsigned char)rand();
        char err[256];
        if (chim_seg_validate(c, n, err, sizeof err) == 0) {
            struct chim_seg seg = {.data = c, .size = n, .hdr = (void *)c};
            chim_seg_summarise(&seg); /* must stay in bounds (ASan checks) */
        }
        free(c);
    }
    free(b);
}

Test(segment, symlink_and_foreign_owner_refused)
{
    size_t n;
    unsigned char *b = make_valid(&n);
    const char *path = write_file("real.seg", b, n);
    char link[300], err[256];
    snprintf(link, sizeof link, "%s/link.seg", tmpdir);
    cr_assert_eq(symlink(path, link), 0);
    struct chim_seg seg;
    cr_expect_neq(chim_seg_load(link, &seg, err, sizeof err), 0);
    cr_expect(strstr(err, "symlink") != NULL, "reason: %s", err);
    if (geteuid() == 0) {
        cr_assert_eq(chown(path, 65534, 65534), 0);
        cr_expect_neq(chim_seg_load(path, &seg, err, sizeof err), 0);
        cr_expect(strstr(err, "owned by uid") != NULL, "reason: %s", err);
    }
    free(b);
}

Test(segment, directory_skips_bad_files_and_reports_the_rest)
{
    size_t n;
    unsigned char *b = make_valid(&n);
    write_file("a.seg", b, n);
    write_file("b.seg", b, 100);
    write_file("c.seg", "garbage", 7);
    struct chim_seg_set set;
    FILE *warn = tmpfile();
    cr_assert_eq(chim_seg_load_dir(tmpdir, &set, warn), 0);
    cr_expect_geq(set.n, 1);
    cr_expect_geq(set.skipped, 2);
    rewind(warn);
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof line, warn)) {
        lines++;
        cr_expect(strstr(line, "skipping") != NULL, "%s", line);
    }
    cr_expect_geq(lines, 2);
    fclose(warn);
    chim_seg_set_free(&set);
    free(b);
}
