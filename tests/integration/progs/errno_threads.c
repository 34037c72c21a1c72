/*
 * errno_threads.c - errno across the agent's rare paths: threads that free
 * each other's blocks (in full mode another thread's parked record, taken
 * with membarrier and sched_yield), a thread whose first event is a free,
 * and frees and a malloc in a fork child. errno is preset to a marker
 * before each call and checked after it; prints the number of calls that
 * changed it (0 with and without the agent).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 50000
static void *volatile ring[64];
static int changed;

#define CHECKED(call)                                                                              \
    do {                                                                                           \
        errno = 4242;                                                                              \
        call;                                                                                      \
        if (errno != 4242)                                                                         \
            __atomic_fetch_add(&changed, 1, __ATOMIC_RELAXED);                                     \
    } while (0)

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        void *p;
        CHECKED(p = malloc(16 + (size_t)(i % 200)));
        void *old = __atomic_exchange_n(&ring[i & 63], p, __ATOMIC_ACQ_REL);
        if (old)
            CHECKED(free(old));
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        void *old = __atomic_exchange_n(&ring[(i * 7) & 63], NULL, __ATOMIC_ACQ_REL);
        if (old)
            CHECKED(free(old)); /* a free may be this thread's first event */
        void *q;
        CHECKED(q = malloc(24));
        CHECKED(free(q));
    }
    return NULL;
}

int main(void)
{
    pthread_t t[4];
    CHECKED(free(malloc(1)));
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, i & 1 ? consumer : producer, NULL);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
    }
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        for (int i = 0; i < 64; i++)
            if (ring[i])
                CHECKED(free(ring[i]));
        void *p;
        CHECKED(p = malloc(5));
        CHECKED(free(p));
        printf("child: errno changed by %d calls\n", changed);
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("parent: errno changed by %d calls\n", changed);
    return 0;
}
