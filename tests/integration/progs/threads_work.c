/*
 * threads_work.c - a multi-threaded program with a deterministic output:
 * N threads each build and free a linked list and sum it; prints the total.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct node {
    struct node *next;
    long v;
};

static void *work(void *arg)
{
    long id = (long)arg, sum = 0;
    for (int round = 0; round < 200; round++) {
        struct node *head = NULL;
        for (long i = 0; i < 500; i++) {
            struct node *n = malloc(sizeof *n + (size_t)(i % 64));
            n->v = i * id;
            n->next = head;
            head = n;
        }
        while (head) {
            struct node *n = head->next;
            sum += head->v;
            free(head);
            head = n;
        }
    }
    return (void *)sum;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 4;
    pthread_t t[64];
    long total = 0;
    for (long i = 0; i < n && i < 64; i++)
        pthread_create(&t[i], NULL, work, (void *)(i + 1));
    for (int i = 0; i < n && i < 64; i++) {
        void *r;
        pthread_join(t[i], &r);
        total += (long)r;
    }
    printf("total %ld\n", total);
    return 0;
}
