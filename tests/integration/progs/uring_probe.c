/*
 * uring_probe.c - sets up an io_uring instance through syscall() (as libuv
 * does) and holds it for a moment: the agent must flag the blind spot.
 */
#include <linux/io_uring.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    long fd = syscall(SYS_io_uring_setup, 4, &p);
    printf("%s\n", fd >= 0 ? "ring" : "no ring");
    fflush(stdout);
    usleep(300000);
    return 0;
}
