/*
 * hold_and_wait.c - allocates a known amount (N blocks of S bytes), says
 * "ready" and sleeps: the test kills it with SIGKILL and reads the segment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    size_t s = argc > 2 ? (size_t)atol(argv[2]) : 1000;
    for (int i = 0; i < n; i++) {
        volatile char *p = malloc(s);
        p[0] = 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
