/*
 * demo_cache.h - the demo backend's response cache: an in-process LRU, or a
 * real Redis spoken to in RESP so that hits and misses are seen on the wire.
 * Both behind the same three calls; the choice is made once at start.
 */
#ifndef CHIM_TOOLS_DEMO_CACHE_H
#define CHIM_TOOLS_DEMO_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct demo_cache;

/* An LRU of at most entries values (0 disables caching); NULL on ENOMEM. */
struct demo_cache *demo_cache_lru(size_t entries);

/* A Redis cache at host:port; checks the server answers PING. NULL (after
 * one line on stderr) if it does not. */
struct demo_cache *demo_cache_redis(const char *host, int port);

/* The cached value for key as a malloc'd NUL-terminated string, or NULL on
 * a miss (a Redis error also counts as a miss). */
char *demo_cache_get(struct demo_cache *c, const char *key, size_t klen, size_t *vlen);

/* Stores key -> val (Redis: with a 300 s expiry); evicts the least recently
 * used entry when the LRU is full. Errors are ignored: it is a cache. */
void demo_cache_put(struct demo_cache *c, const char *key, size_t klen, const char *val,
                    size_t vlen);

/* Entries evicted so far (LRU only). */
uint64_t demo_cache_evictions(struct demo_cache *c);

#endif
