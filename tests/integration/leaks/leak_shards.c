/*
 * leak_shards.c - many allocation sites and many events per thread, so the
 * full-mode per-thread site deltas are evicted (more sites than slots),
 * folded in batches and at thread exit, with blocks freed by another thread
 * than the one that allocated them, some while the allocating thread still
 * has them parked (full mode puts a thread's newest record in the table at
 * its next allocation): a relay of blocks freed by a second thread right
 * after the first allocated them. Every site's allocs and frees must come
 * out exact.
 *   leak_shards [ROUNDS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "leakcorpus.h"

#define THREADS 3
#define SITES   70 /* distinct call sites, more than a thread's delta slots */
#define KEEP    64
#define GIVE    256

#define RELAY      20000 /* blocks handed over through the ring */
#define RELAY_RING 4

static long rounds = 3000;
static void *handoff[THREADS][GIVE];
static void *ring[RELAY_RING];
static unsigned long ring_in, ring_out; /* blocks put in, taken out */

/* A distinct site (source line) per k. */
static __attribute__((noinline)) void *alloc_at(int k, size_t n)
{
    switch (k) {
    case 0:
        return malloc(n); /* expect churn */
    case 1:
        return malloc(n); /* expect churn */
    case 2:
        return malloc(n); /* expect churn */
    case 3:
        return malloc(n); /* expect churn */
    case 4:
        return malloc(n); /* expect churn */
    case 5:
        return malloc(n); /* expect churn */
    case 6:
        return malloc(n); /* expect churn */
    case 7:
        return malloc(n); /* expect churn */
    case 8:
        return malloc(n); /* expect churn */
    case 9:
        return malloc(n); /* expect churn */
    case 10:
        return malloc(n); /* expect churn */
    case 11:
        return malloc(n); /* expect churn */
    case 12:
        return malloc(n); /* expect churn */
    case 13:
        return malloc(n); /* expect churn */
    case 14:
        return malloc(n); /* expect churn */
    case 15:
        return malloc(n); /* expect churn */
    case 16:
        return malloc(n); /* expect churn */
    case 17:
        return malloc(n); /* expect churn */
    case 18:
        return malloc(n); /* expect churn */
    case 19:
        return malloc(n); /* expect churn */
    case 20:
        return malloc(n); /* expect churn */
    case 21:
        return malloc(n); /* expect churn */
    case 22:
        return malloc(n); /* expect churn */
    case 23:
        return malloc(n); /* expect churn */
    case 24:
        return malloc(n); /* expect churn */
    case 25:
        return malloc(n); /* expect churn */
    case 26:
        return malloc(n); /* expect churn */
    case 27:
        return malloc(n); /* expect churn */
    case 28:
        return malloc(n); /* expect churn */
    case 29:
        return malloc(n); /* expect churn */
    case 30:
        return malloc(n); /* expect churn */
    case 31:
        return malloc(n); /* expect churn */
    case 32:
        return malloc(n); /* expect churn */
    case 33:
        return malloc(n); /* expect churn */
    case 34:
        return malloc(n); /* expect churn */
    case 35:
        return malloc(n); /* expect churn */
    case 36:
        return malloc(n); /* expect churn */
    case 37:
        return malloc(n); /* expect churn */
    case 38:
        return malloc(n); /* expect churn */
    case 39:
        return malloc(n); /* expect churn */
    case 40:
        return malloc(n); /* expect churn */
    case 41:
        return malloc(n); /* expect churn */
    case 42:
        return malloc(n); /* expect churn */
    case 43:
        return malloc(n); /* expect churn */
    case 44:
        return malloc(n); /* expect churn */
    case 45:
        return malloc(n); /* expect churn */
    case 46:
        return malloc(n); /* expect churn */
    case 47:
        return malloc(n); /* expect churn */
    case 48:
        return malloc(n); /* expect churn */
    case 49:
        return malloc(n); /* expect churn */
    case 50:
        return malloc(n); /* expect churn */
    case 51:
        return malloc(n); /* expect churn */
    case 52:
        return malloc(n); /* expect churn */
    case 53:
        return malloc(n); /* expect churn */
    case 54:
        return malloc(n); /* expect churn */
    case 55:
        return malloc(n); /* expect churn */
    case 56:
        return malloc(n); /* expect churn */
    case 57:
        return malloc(n); /* expect churn */
    case 58:
        return malloc(n); /* expect churn */
    case 59:
        return malloc(n); /* expect churn */
    case 60:
        return malloc(n); /* expect churn */
    case 61:
        return malloc(n); /* expect churn */
    case 62:
        return malloc(n); /* expect churn */
    case 63:
        return malloc(n); /* expect churn */
    case 64:
        return malloc(n); /* expect churn */
    case 65:
        return malloc(n); /* expect churn */
    case 66:
        return malloc(n); /* expect churn */
    case 67:
        return malloc(n); /* expect churn */
    case 68:
        return malloc(n); /* expect churn */
    case 69:
        return malloc(n); /* expect churn */
    default:
        return NULL;
    }
}

static void *worker(void *arg)
{
    long t = (long)arg;
    void *keep[KEEP] = {0};
    for (long i = 0; i < rounds; i++) {
        size_t k = (size_t)i % KEEP;
        free(keep[k]);
        keep[k] = alloc_at((int)((i * 7 + t) % SITES), 16 + (size_t)(i % 200));
    }
    for (int k = 0; k < KEEP; k++)
        free(keep[k]);
    for (int k = 0; k < GIVE; k++) /* freed by the next thread */
        handoff[t][k] = alloc_at(k % SITES, 100);
    for (int k = 0; k < 7; k++)
        touch(malloc(1000)); /* expect leak 21 21000 */
    scrub_stack();
    return NULL;
}

static void *taker(void *arg)
{
    long t = (long)arg;
    for (int k = 0; k < GIVE; k++)
        free(handoff[t][k]);
    return NULL;
}

/* Allocates RELAY blocks and puts each in the ring as soon as there is room:
 * the consumer frees it while it may still be this thread's newest. */
static void *relay_producer(void *arg)
{
    (void)arg;
    for (unsigned long i = 0; i < RELAY; i++) {
        void *p = alloc_at((int)(i % SITES), 64);
        while (i - __atomic_load_n(&ring_out, __ATOMIC_ACQUIRE) >= RELAY_RING)
            ;
        ring[i % RELAY_RING] = p;
        __atomic_store_n(&ring_in, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *relay_consumer(void *arg)
{
    (void)arg;
    for (unsigned long i = 0; i < RELAY; i++) {
        while (__atomic_load_n(&ring_in, __ATOMIC_ACQUIRE) == i)
            ;
        free(ring[i % RELAY_RING]);
        __atomic_store_n(&ring_out, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        rounds = atol(argv[1]);
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, taker, (void *)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_create(&th[0], NULL, relay_producer, NULL);
    pthread_create(&th[1], NULL, relay_consumer, NULL);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    printf("leak_shards done %ld\n", rounds);
    scrub_stack();
    return 0;
}
