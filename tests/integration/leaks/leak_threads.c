/*
 * leak_threads.c - a leak in a second thread, and blocks allocated in one
 * thread and freed in another (not a leak).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "leakcorpus.h"

#define SHARED 64
static void *shared[SHARED];

static void *leaker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++)
        touch(malloc(3000)); /* expect leak 5 15000 */
    scrub_stack();
    return NULL;
}

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < SHARED; i++)
        shared[i] = malloc(500 + i);
    return NULL;
}

int main(void)
{
    pthread_t a, b;
    pthread_create(&a, NULL, leaker, NULL);
    pthread_create(&b, NULL, producer, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    for (int i = 0; i < SHARED; i++)
        free(shared[i]); /* freed by another thread than the one that allocated */
    printf("leak_threads done\n");
    scrub_stack();
    return 0;
}
