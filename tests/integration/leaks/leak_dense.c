/*
 * leak_dense.c - runs of the smallest blocks packed next to each other
 * (four 32-byte chunks per 128 bytes of heap), in two threads, with holes
 * freed and filled again: every block must be counted, none dropped. A
 * guard for full mode's address tables, which have one home slot per 32
 * bytes; a coarser home (one per 128 bytes was tried) drops most of them.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "leakcorpus.h"

#define KEPT 60000
static void *kept[KEPT];

__attribute__((noinline)) static void tiny(void)
{
    for (int i = 0; i < 100000; i++)
        touch(malloc(8)); /* expect leak 100000 800000 */
}

__attribute__((noinline)) static void small(void)
{
    for (int i = 0; i < 50000; i++)
        touch(malloc(40)); /* expect leak 50000 2000000 */
}

/* Every other block freed, the holes filled with new blocks (which are
 * leaked), the rest kept reachable. */
__attribute__((noinline)) static void holes(void)
{
    for (int i = 0; i < KEPT; i++)
        kept[i] = touch(malloc(24)); /* expect retained 30000 720000 */
    for (int i = 0; i < KEPT; i += 2) {
        free(kept[i]);
        kept[i] = NULL;
    }
    for (int i = 0; i < KEPT / 2; i++)
        touch(malloc(16)); /* expect leak 30000 480000 */
}

static void *worker(void *arg)
{
    (void)arg;
    tiny();
    scrub_stack();
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    small();
    holes();
    pthread_join(t, NULL);
    printf("leak_dense done\n");
    scrub_stack();
    return 0;
}
