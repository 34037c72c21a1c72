/*
 * demo_cache.c - the demo backend's response cache (see demo_cache.h).
 * The LRU is a chained hash table threaded on a recency list under one
 * mutex: simple, and the critical sections are a few pointer moves. The
 * Redis variant keeps one blocking connection per worker thread and speaks
 * RESP itself (GET key / SET key val EX 300), so no client library is needed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "demo_cache.h"
#include "httpd.h"

struct node {
    char *key, *val;
    size_t klen, vlen;
    uint64_t hash;
    struct node *hnext, *prev, *next;
};

struct demo_cache {
    int redis;
    char host[64];
    int port;
    pthread_mutex_t mu;
    struct node **tab;
    size_t nbuckets, count, max;
    struct node *head, *tail; /* most, least recently used */
    atomic_ulong evictions;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

struct demo_cache *demo_cache_lru(size_t entries)
{
    struct demo_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->max = entries;
    c->nbuckets = 16;
    while (c->nbuckets < entries * 2)
        c->nbuckets *= 2;
    c->tab = calloc(c->nbuckets, sizeof *c->tab);
    if (!c->tab) {
        free(c);
        return NULL;
    }
    return c;
}

static void list_unlink(struct demo_cache *c, struct node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        c->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        c->tail = n->prev;
}

static void list_push_front(struct demo_cache *c, struct node *n)
{
    n->prev = NULL;
    n->next = c->head;
    if (c->head)
        c->head->prev = n;
    c->head = n;
    if (!c->tail)
        c->tail = n;
}

static struct node **lru_slot(struct demo_cache *c, const char *key, size_t klen, uint64_t h)
{
    struct node **pp = &c->tab[h & (c->nbuckets - 1)];
    while (*pp && !((*pp)->hash == h && (*pp)->klen == klen && !memcmp((*pp)->key, key, klen)))
        pp = &(*pp)->hnext;
    return pp;
}

static void lru_evict(struct demo_cache *c)
{
    struct node *n = c->tail;
    struct node **pp = lru_slot(c, n->key, n->klen, n->hash);
    *pp = n->hnext;
    list_unlink(c, n);
    c->count--;
    atomic_fetch_add(&c->evictions, 1);
    free(n->key);
    free(n->val);
    free(n);
}

static char *lru_get(struct demo_cache *c, const char *key, size_t klen, size_t *vlen)
{
    uint64_t h = fnv1a(key, klen);
    char *out = NULL;
    pthread_mutex_lock(&c->mu);
    struct node *n = *lru_slot(c, key, klen, h);
    if (n) {
        list_unlink(c, n);
        list_push_front(c, n);
        out = malloc(n->vlen + 1);
        if (out) {
            memcpy(out, n->val, n->vlen + 1);
            *vlen = n->vlen;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return out;
}

static void lru_put(struct demo_cache *c, const char *key, size_t klen, const char *val,
                    size_t vlen)
{
    struct node *n = calloc(1, sizeof *n);
    if (!n || !(n->key = malloc(klen)) || !(n->val = malloc(vlen + 1)))
        goto fail;
    memcpy(n->key, key, klen);
    memcpy(n->val, val, vlen);
    n->val[vlen] = 0;
    n->klen = klen;
    n->vlen = vlen;
    n->hash = fnv1a(key, klen);
    pthread_mutex_lock(&c->mu);
    struct node **pp = lru_slot(c, key, klen, n->hash);
    if (*pp) { /* another worker stored it first */
        pthread_mutex_unlock(&c->mu);
        goto fail;
    }
    *pp = n;
    list_push_front(c, n);
    if (++c->count > c->max)
        lru_evict(c);
    pthread_mutex_unlock(&c->mu);
    return;
fail:
    if (n) {
        free(n->key);
        free(n->val);
    }
    free(n);
}

/* ---- Redis ---- */

static _Thread_local int redis_fd = -1;

/* Sends a RESP array of argc bulk strings. */
static int resp_send(int fd, int argc, const char **argv, const size_t *lens)
{
    size_t total = 32;
    for (int i = 0; i < argc; i++)
        total += lens[i] + 32;
    char *b = malloc(total);
    if (!b)
        return -1;
    size_t o = (size_t)sprintf(b, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        o += (size_t)sprintf(b + o, "$%zu\r\n", lens[i]);
        memcpy(b + o, argv[i], lens[i]);
        o += lens[i];
        b[o++] = '\r';
        b[o++] = '\n';
    }
    int rc = chim_write_all(fd, b, o);
    free(b);
    return rc;
}

static int read_exact(int fd, char *b, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Reads one reply line (byte by byte: replies are tiny). */
static int resp_line(int fd, char *line, size_t cap)
{
    size_t o = 0;
    while (o + 1 < cap) {
        if (read_exact(fd, line + o, 1) < 0)
            return -1;
        if (o > 0 && line[o - 1] == '\r' && line[o] == '\n') {
            line[o - 1] = 0;
            return 0;
        }
        o++;
    }
    return -1;
}

/* Reads a reply: bulk -> malloc'd value (*ok=1); nil/+OK -> NULL (*ok=1). */
static char *resp_read(int fd, size_t *vlen, int *ok)
{
    char line[64];
    *ok = 0;
    if (resp_line(fd, line, sizeof line) < 0)
        return NULL;
    if (line[0] == '+' || (line[0] == '$' && line[1] == '-')) {
        *ok = 1;
        return NULL;
    }
    long n = line[0] == '$' ? strtol(line + 1, NULL, 10) : -1;
    if (n < 0 || n > (16l << 20))
        return NULL;
    char *v = malloc((size_t)n + 2);
    if (!v || read_exact(fd, v, (size_t)n + 2) < 0) {
        free(v);
        return NULL;
    }
    v[n] = 0;
    *vlen = (size_t)n;
    *ok = 1;
    return v;
}

/* One command round trip on this thread's connection, reconnecting once. */
static char *redis_call(struct demo_cache *c, int argc, const char **argv, const size_t *lens,
                        size_t *vlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (redis_fd < 0)
            redis_fd = chim_tcp_connect(c->host, c->port);
        if (redis_fd < 0)
            return NULL;
        int ok = 0;
        char *v = NULL;
        if (resp_send(redis_fd, argc, argv, lens) == 0)
            v = resp_read(redis_fd, vlen, &ok);
        if (ok)
            return v;
        close(redis_fd);
        redis_fd = -1;
    }
    return NULL;
}

struct demo_cache *demo_cache_redis(const char *host, int port)
{
    struct demo_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->redis = 1;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    int fd = chim_tcp_connect(host, port);
    if (fd < 0) {
        fprintf(stderr, "chim-demo: cannot connect to redis at %s:%d: %s\n", host, port,
                strerror(-fd));
        free(c);
        return NULL;
    }
    close(fd);
    return c;
}

static const char prefix[] = "chim:gen:";

char *demo_cache_get(struct demo_cache *c, const char *key, size_t klen, size_t *vlen)
{
    if (!c->redis)
        return c->max ? lru_get(c, key, klen, vlen) : NULL;
    char *k = malloc(sizeof prefix + klen);
    if (!k)
        return NULL;
    memcpy(k, prefix, sizeof prefix - 1);
    memcpy(k + sizeof prefix - 1, key, klen);
    const char *argv[] = {"GET", k};
    size_t lens[] = {3, sizeof prefix - 1 + klen};
    char *v = redis_call(c, 2, argv, lens, vlen);
    free(k);
    return v;
}

void demo_cache_put(struct demo_cache *c, const char *key, size_t klen, const char *val,
                    size_t vlen)
{
    if (!c->redis) {
        if (c->max)
            lru_put(c, key, klen, val, vlen);
        return;
    }
    char *k = malloc(sizeof prefix + klen);
    if (!k)
        return;
    memcpy(k, prefix, sizeof prefix - 1);
    memcpy(k + sizeof prefix - 1, key, klen);
    const char *argv[] = {"SET", k, val, "EX", "300"};
    size_t lens[] = {3, sizeof prefix - 1 + klen, vlen, 2, 3}, dummy;
    free(redis_call(c, 5, argv, lens, &dummy));
    free(k);
}

uint64_t demo_cache_evictions(struct demo_cache *c)
{
    return atomic_load(&c->evictions);
}
