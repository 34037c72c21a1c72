/*
 * xfreebench.c - the cross-thread free workload of the leak tracker's
 * benchmark: in each round every thread allocates K blocks, then (after a
 * barrier) frees the K blocks of the next thread, so every free is of
 * another thread's block (full mode looks in other threads' tables).
 * Prints wall-clock nanoseconds per malloc+free pair, over all threads' pairs.
 *   xfreebench THREADS ROUNDS K
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int threads, rounds, per;
static void ***blocks;
static pthread_barrier_t bar;

static void *worker(void *arg)
{
    long me = (long)arg, next = (me + 1) % threads;
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < per; k++)
            blocks[me][k] = malloc(16 + (size_t)(k * 37) % 500);
        pthread_barrier_wait(&bar);
        for (int k = 0; k < per; k++)
            free(blocks[next][k]);
        pthread_barrier_wait(&bar);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    threads = argc > 1 ? atoi(argv[1]) : 8;
    rounds = argc > 2 ? atoi(argv[2]) : 50;
    per = argc > 3 ? atoi(argv[3]) : 20000;
    if (threads < 1 || threads > 64 || rounds < 1 || per < 1) {
        fprintf(stderr, "usage: xfreebench THREADS ROUNDS K\n");
        return 2;
    }
    blocks = malloc(sizeof *blocks * (size_t)threads);
    for (int i = 0; i < threads; i++)
        blocks[i] = malloc(sizeof(void *) * (size_t)per);
    pthread_barrier_init(&bar, NULL, (unsigned)threads);
    pthread_t t[64];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    printf("%.1f\n", ns / ((double)threads * rounds * per));
    return 0;
}
