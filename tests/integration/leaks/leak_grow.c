/*
 * leak_grow.c - a long-running process: one site grows steadily (leaked
 * blocks), one churns large blocks (allocated and freed), one cache is
 * built once at start and kept, and one buffer grows by realloc (4 KiB a
 * tick, found by test_growth.py through its "grown by realloc" comment).
 *   leak_grow SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "leakcorpus.h"

#define CACHE_BLOCKS 8
static void *cache[CACHE_BLOCKS];

__attribute__((noinline)) static void build_cache(void)
{
    for (int i = 0; i < CACHE_BLOCKS; i++)
        cache[i] = memset(malloc(1 << 20), 1, 1 << 20); /* expect retained */
}

__attribute__((noinline)) static void grow(void)
{
    touch(memset(malloc(65536), 2, 4096)); /* expect leak */
}

static char *journal;
static size_t journal_len;

__attribute__((noinline)) static void append_journal(void)
{
    journal = realloc(journal, journal_len + 4096); /* grown by realloc */
    memset(journal + journal_len, 4, 4096);
    journal_len += 4096;
}

__attribute__((noinline)) static void churn(void)
{
    void *p = malloc(256 * 1024); /* expect churn */
    memset(p, 3, 4096);
    free(touch(p));
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 10;
    struct timespec tick = {0, 10 * 1000 * 1000};
    build_cache();
    for (long i = 0; i < (long)(secs * 100); i++) {
        grow();
        append_journal();
        for (int k = 0; k < 4; k++)
            churn();
        nanosleep(&tick, NULL);
    }
    printf("leak_grow done\n");
    scrub_stack();
    return 0;
}
