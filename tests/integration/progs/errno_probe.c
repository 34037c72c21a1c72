/*
 * errno_probe.c - calls the interposed functions with errno preset to a
 * marker and prints errno after each: the output must be the same with and
 * without the agent (the agent never changes the host's errno).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROBE(name, call)                                                                          \
    do {                                                                                           \
        errno = 4242;                                                                              \
        call;                                                                                      \
        printf("%-24s errno=%d\n", name, errno);                                                   \
    } while (0)

int main(void)
{
    void *p = NULL, *q = NULL;
    void *volatile q2;
    signal(SIGPIPE, SIG_IGN);             /* the unconnected write below raises it */
    volatile size_t huge = (size_t)-4096; /* defeats the compiler's size check */
    int fds[2], sv[2];
    char buf[64];
    PROBE("malloc", p = malloc(100));
    PROBE("realloc grow", p = realloc(p, 5000));
    PROBE("free", free(p));
    PROBE("calloc", q = calloc(3, 40));
    PROBE("calloc overflow", q2 = calloc(huge, 16));
    PROBE("malloc huge", q2 = malloc(huge));
    PROBE("posix_memalign", (void)posix_memalign(&p, 64, 100));
    PROBE("free aligned", free(p));
    PROBE("free NULL", free(NULL));
    PROBE("malloc_usable_size", (void)malloc_usable_size(q));
    PROBE("free q", free(q));
    PROBE("pipe", (void)pipe(fds));
    PROBE("write pipe", (void)write(fds[1], "hello", 5));
    PROBE("read pipe", (void)read(fds[0], buf, sizeof buf));
    PROBE("socketpair", (void)socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    PROBE("send unix", (void)send(sv[0], "GET / HTTP/1.1\r\n\r\n", 18, 0));
    PROBE("recv unix", (void)recv(sv[1], buf, sizeof buf, 0));
    PROBE("read bad fd", (void)read(-1, buf, 1));
    PROBE("close bad fd", (void)close(12345));
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    PROBE("connect refused", (void)connect(s, (struct sockaddr *)&a, sizeof a));
    PROBE("write unconnected", (void)write(s, "x", 1));
    PROBE("close socket", (void)close(s));
    PROBE("dup2", (void)dup2(fds[0], 40));
    PROBE("close", (void)close(40));
    return q2 != NULL;
}
