/*
 * leak_fork.c - a leak in a forked child. The child inherits the parent's
 * live blocks (the kept global); each process reports its own leaks.
 * expect ROLE CLASS BLOCKS BYTES, ROLE parent, child or both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "leakcorpus.h"

void *kept;

__attribute__((noinline)) static void child_work(void)
{
    for (int i = 0; i < 3; i++)
        touch(malloc(2222)); /* expect child leak 3 6666 */
}

__attribute__((noinline)) static void parent_work(void)
{
    for (int i = 0; i < 2; i++)
        touch(malloc(1111)); /* expect parent leak 2 2222 */
}

int main(void)
{
    kept = malloc(4444); /* expect both retained 1 4444 */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        child_work();
        scrub_stack();
        exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    parent_work();
    printf("leak_fork done\n");
    scrub_stack();
    return 0;
}
