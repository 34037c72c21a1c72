/*
 * mallocbench.c - the allocation workload of the agent's benchmark: each
 * thread keeps a window of live blocks and replaces a random one per step
 * (random sizes 16 B to 4 KiB by default; mostly malloc, some calloc and
 * realloc). Prints nanoseconds per malloc+free pair, so plain and
 * instrumented runs can be compared.
 *   mallocbench THREADS OPS_PER_THREAD [WINDOW [MIN_SIZE MAX_SIZE]]
 * (small blocks, as most programs allocate: `mallocbench 1 3000000 1024 8 64`)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long ops = 2000000, window = 1024, min_size = 16, max_size = 4096;

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *worker(void *arg)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
    void **slot = calloc((size_t)window, sizeof *slot);
    for (long i = 0; i < ops; i++) {
        uint64_t r = next_rand(&seed);
        size_t k = (size_t)(r % (uint64_t)window);
        size_t size = (size_t)min_size + (size_t)((r >> 20) % (uint64_t)(max_size - min_size + 1));
        unsigned kind = (unsigned)((r >> 40) % 10);
        if (kind == 0 && slot[k]) {
            slot[k] = realloc(slot[k], size);
        } else {
            free(slot[k]);
            slot[k] = kind == 1 ? calloc(1, size) : malloc(size);
        }
        *(volatile char *)slot[k] = 1;
    }
    for (long k = 0; k < window; k++)
        free(slot[k]);
    free(slot);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2)
        ops = atol(argv[2]);
    if (argc > 3)
        window = atol(argv[3]);
    if (argc > 5) {
        min_size = atol(argv[4]);
        max_size = atol(argv[5]);
    }
    if (threads < 1 || threads > 64 || ops < 1 || window < 1 || min_size < 1 ||
        max_size < min_size) {
        fprintf(stderr, "usage: mallocbench THREADS OPS [WINDOW [MIN_SIZE MAX_SIZE]]\n");
        return 2;
    }
    pthread_t t[64];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    /* wall time per pair, per thread: threads run in parallel */
    printf("%.2f\n", ns / (double)ops);
    return 0;
}
