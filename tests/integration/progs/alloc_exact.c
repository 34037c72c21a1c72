/*
 * alloc_exact.c - a known sequence of allocations through every entry point,
 * in several threads and in a forked child. Each process writes what it did
 * (counts, requested bytes, usable bytes) to <out>.<role>; with `0` as the
 * first argument it does everything except the sequence, so the test can
 * subtract the runtime's own allocations and compare exactly.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct expect {
    long allocs, frees, failed;
    unsigned long req, usable_in, usable_out;
};

static int enabled;

static void *got(struct expect *e, void *p, size_t n)
{
    if (p) {
        e->allocs++;
        e->req += n;
        e->usable_in += malloc_usable_size(p);
    }
    return p;
}

static void drop(struct expect *e, void *p)
{
    e->frees++;
    e->usable_out += malloc_usable_size(p);
    free(p);
}

/* realloc(p, n) with p and n non-zero: one free, then one allocation. */
static void *move(struct expect *e, void *p, size_t n, int array)
{
    size_t old = malloc_usable_size(p);
    void *q = array ? reallocarray(p, n / 8, 8) : realloc(p, n);
    e->frees++;
    e->usable_out += old;
    return got(e, q, n);
}

static void sequence(struct expect *e, int salt)
{
    void *keep[200];
    int k = 0;
    for (int i = 0; i < 100; i++)
        keep[k++] = got(e, malloc((size_t)(i * 7 + 1 + salt)), (size_t)(i * 7 + 1 + salt));
    keep[k++] = got(e, calloc(10, 33), 330);
    keep[k++] = got(e, malloc(0), 0);
    volatile size_t huge = SIZE_MAX / 2;
    if (calloc(huge, 3) == NULL)
        e->failed++;
    void *r = realloc(NULL, 100); /* realloc(NULL) is malloc */
    got(e, r, 100);
    r = move(e, r, 5000, 0);
    r = move(e, r, 80, 1);
    size_t old = malloc_usable_size(r);
    if (realloc(r, 0) == NULL) { /* glibc: realloc(p, 0) frees p */
        e->frees++;
        e->usable_out += old;
    }
    void *a = NULL;
    if (posix_memalign(&a, 64, 1000) == 0)
        keep[k++] = got(e, a, 1000);
    keep[k++] = got(e, aligned_alloc(256, 512), 512);
    keep[k++] = got(e, memalign(128, 300), 300);
    keep[k++] = got(e, valloc(100), 100);
    keep[k++] = got(e, pvalloc(100), 100);
    keep[k++] = got(e, strdup("a string of 24 bytes...."), 25);
    for (int i = 0; i < k; i += 2) /* free every other block */
        drop(e, keep[i]);
}

static void *worker(void *arg)
{
    if (enabled)
        sequence(arg, 3);
    return NULL;
}

static void write_expect(const char *out, const char *role, const struct expect *e)
{
    char path[512];
    snprintf(path, sizeof path, "%s.%s", out, role);
    FILE *f = fopen(path, "w");
    if (!f)
        exit(3);
    fprintf(f,
            "{\"allocs\": %ld, \"frees\": %ld, \"failed\": %ld, \"bytes_requested\": %lu, "
            "\"bytes_allocated\": %lu, \"bytes_freed\": %lu}\n",
            e->allocs, e->frees, e->failed, e->req, e->usable_in, e->usable_out);
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    enabled = atoi(argv[1]);
    static struct expect mainx, tx[3], childx;
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, worker, &tx[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    if (enabled)
        sequence(&mainx, 0);
    for (int i = 0; i < 3; i++) {
        mainx.allocs += tx[i].allocs, mainx.frees += tx[i].frees, mainx.failed += tx[i].failed;
        mainx.req += tx[i].req, mainx.usable_in += tx[i].usable_in;
        mainx.usable_out += tx[i].usable_out;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (enabled)
            sequence(&childx, 5);
        write_expect(argv[2], "child", &childx);
        exit(0);
    }
    waitpid(pid, NULL, 0);
    write_expect(argv[2], "parent", &mainx);
    return 0;
}
