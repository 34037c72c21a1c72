/*
 * leak_big.c - leaks of a megabyte and more, in small, medium and large
 * blocks, among much churn: what sample mode must find within 10 %.
 */
#include <stdio.h>
#include <stdlib.h>

#include "leakcorpus.h"

__attribute__((noinline)) static void small_blocks(void)
{
    for (int i = 0; i < 8192; i++)
        touch(malloc(128)); /* expect leak 8192 1048576 */
}

__attribute__((noinline)) static void medium_blocks(void)
{
    for (int i = 0; i < 64; i++)
        touch(malloc(32768)); /* expect leak 64 2097152 */
}

__attribute__((noinline)) static void large_blocks(void)
{
    for (int i = 0; i < 2; i++)
        touch(malloc(8 << 20)); /* expect leak 2 16777216 */
}

__attribute__((noinline)) static void churn(void)
{
    for (int i = 0; i < 200000; i++)
        free(touch(malloc(16 + (i % 2000))));
}

int main(void)
{
    churn();
    small_blocks();
    churn();
    medium_blocks();
    large_blocks();
    churn();
    printf("leak_big done\n");
    scrub_stack();
    return 0;
}
