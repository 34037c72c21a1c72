/*
 * leakcorpus.h - helpers shared by the leak corpus: a sink that keeps the
 * compiler from removing allocations, and a stack scrub so a pointer left
 * in a dead stack slot does not make a leaked block look reachable to a
 * conservative scan (LeakSanitizer's tests do the same).
 */
#ifndef LEAKCORPUS_H
#define LEAKCORPUS_H

#include <string.h>

static void *volatile corpus_sink;

/* Touches a block so the allocation is not optimised away. */
static inline void *touch(void *p)
{
    corpus_sink = p;
    corpus_sink = 0;
    return p;
}

/* Overwrites the dead stack below the caller. */
static __attribute__((noinline)) void scrub_stack(void)
{
    volatile char buf[32768];
    memset((char *)buf, 0, sizeof buf);
}

#endif
