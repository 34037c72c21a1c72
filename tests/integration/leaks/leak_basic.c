/*
 * leak_basic.c - one site and many: plain malloc in a loop, several distinct
 * sites, a linked list lost through its head (indirect leaks), realloc
 * chains, realloc(NULL), calloc, the memalign family, strdup and strndup,
 * blocks kept in globals (retained) and blocks freed (not reported).
 * Each expected site carries an "expect" comment the test reads:
 * expect CLASS BLOCKS BYTES.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leakcorpus.h"

struct node {
    struct node *next;
    char payload[48];
};

void *kept_global;
char *kept_name;

__attribute__((noinline)) static void many_small(void)
{
    for (int i = 0; i < 100; i++)
        touch(malloc(100)); /* expect leak 100 10000 */
}

__attribute__((noinline)) static void one_big(void)
{
    touch(malloc(70000)); /* expect leak 1 70000 */
}

__attribute__((noinline)) static void lost_list(void)
{
    struct node *head = NULL;
    for (int i = 0; i < 20; i++) {
        struct node *n = malloc(sizeof *n); /* expect leak 20 1120 */
        n->next = head;
        head = n;
    }
    touch(head);
}

__attribute__((noinline)) static void realloc_chain(void)
{
    char *p = malloc(10);
    p = realloc(p, 100);
    p = realloc(p, 5000);
    p = realloc(p, 3000); /* expect leak 1 3000 */
    touch(p);
}

__attribute__((noinline)) static void realloc_null(void)
{
    touch(realloc(NULL, 640)); /* expect leak 1 640 */
}

__attribute__((noinline)) static void zeroed(void)
{
    touch(calloc(10, 99)); /* expect leak 1 990 */
}

__attribute__((noinline)) static void aligned(void)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, 200) == 0) /* expect leak 1 200 */
        touch(p);
    touch(aligned_alloc(64, 256)); /* expect leak 1 256 */
    touch(memalign(128, 300));     /* expect leak 1 300 */
}

__attribute__((noinline)) static void strings(void)
{
    touch(strdup("hello, leak"));    /* expect leak 1 12 */
    touch(strndup("abcdefghij", 4)); /* expect leak 1 5 */
}

__attribute__((noinline)) static void kept(void)
{
    kept_global = malloc(4096);       /* expect retained 1 4096 */
    kept_name = strdup("still here"); /* expect retained 1 11 */
}

__attribute__((noinline)) static void freed(void)
{
    for (int i = 0; i < 50; i++) {
        void *p = malloc(64 + i);
        p = realloc(p, 1000);
        free(touch(p));
    }
    char *s = strdup("temporary");
    free(touch(s));
}

int main(void)
{
    many_small();
    one_big();
    lost_list();
    realloc_chain();
    realloc_null();
    zeroed();
    aligned();
    strings();
    kept();
    freed();
    printf("leak_basic done\n");
    scrub_stack();
    return 0;
}
