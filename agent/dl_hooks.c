/*
 * dl_hooks.c - the loader and thread calls the leak tracker interposes:
 * dlopen, dlmopen and dlclose (to keep the module map in the segment current) and
 * pthread_create (to learn each thread's stack bounds before its code runs,
 * for the frame-pointer walk and for the exit scan's roots).
 *
 * dlopen refreshes the map on entry and then *tail-calls* the real
 * function (dlclose refreshes it before and after the call): glibc's dlopen looks at its return
 * address to choose the caller's namespace and RUNPATH, so the host's return address must be the
 * one it sees. An object loaded by the last dlopen is recorded at the next
 * refresh (next dlopen/dlclose, fork, exit). In count mode all three pass
 * straight through.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include "leak.h"
#include "unwind.h"

#define EXPORT __attribute__((visibility("default")))

typedef void *(*dlopen_fn)(const char *, int);
typedef void *(*dlmopen_fn)(Lmid_t, const char *, int);
typedef int (*dlclose_fn)(void *);
typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

static dlopen_fn next_dlopen;
static dlmopen_fn next_dlmopen;
static dlclose_fn next_dlclose;
static create_fn next_create;

static void resolve(void)
{
    if (!next_dlopen)
        *(void **)&next_dlopen = dlsym(RTLD_NEXT, "dlopen");
    if (!next_dlclose)
        *(void **)&next_dlclose = dlsym(RTLD_NEXT, "dlclose");
    if (!next_dlmopen)
        *(void **)&next_dlmopen = dlsym(RTLD_NEXT, "dlmopen");
    if (!next_create)
        *(void **)&next_create = dlsym(RTLD_NEXT, "pthread_create");
}

/* The tracker is on: sample or full mode with a segment. */
static int tracking(void)
{
    return chim__leak_filter != NULL;
}

EXPORT void *dlopen(const char *file, int mode)
{
    if (CHIM_UNLIKELY(!next_dlopen))
        resolve();
    if (tracking() && !chim__tls.in_agent)
        chim__modules_refresh();
    return next_dlopen(file, mode); /* a tail call: the caller stays the caller */
}

EXPORT void *dlmopen(Lmid_t lmid, const char *file, int mode)
{
    if (CHIM_UNLIKELY(!next_dlmopen))
        resolve();
    if (tracking() && !chim__tls.in_agent)
        chim__modules_refresh();
    return next_dlmopen(lmid, file, mode); /* a tail call, as dlopen's */
}

/* After the real dlclose too: an object it unmapped leaves the map at once
 * (its code and unwind table are gone; an address in its old range, such
 * as generated code mapped there, must not be judged from them: that read
 * crashed the host). Not a tail call: glibc's dlclose does not look at its
 * caller. */
EXPORT int dlclose(void *h)
{
    if (CHIM_UNLIKELY(!next_dlclose))
        resolve();
    int track = tracking() && !chim__tls.in_agent;
    if (track)
        chim__modules_refresh();
    int r = next_dlclose(h);
    if (track) {
        int saved = errno;
        chim__modules_refresh();
        errno = saved;
    }
    return r;
}

/* ---- threads -------------------------------------------------------------- */

/* Start records: a fixed pool (the agent allocates nothing of its own). A
 * thread started when the pool is exhausted runs unwrapped: no bounds,
 * so its stacks come from libunwind and its stack is not a scan root. */
#define START_POOL 256
struct start_rec {
    int used;
    void *(*fn)(void *);
    void *arg;
};
static struct start_rec pool[START_POOL];

static struct start_rec *rec_claim(void)
{
    for (int i = 0; i < START_POOL; i++) {
        int zero = 0;
        if (!__atomic_load_n(&pool[i].used, __ATOMIC_RELAXED) &&
            __atomic_compare_exchange_n(&pool[i].used, &zero, 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return &pool[i];
    }
    return NULL;
}

static void unregister(void *arg)
{
    chim__leak_thread_exit();
    chim__threads_remove((int)(intptr_t)arg);
}

/* Registers the new thread's stack, then runs the host's start routine. */
static void *thread_start(void *varg)
{
    struct start_rec *r = varg;
    void *(*fn)(void *) = r->fn;
    void *arg = r->arg;
    __atomic_store_n(&r->used, 0, __ATOMIC_RELEASE);
    pthread_attr_t a;
    void *lo = NULL;
    size_t sz = 0;
    int idx = -1;
    chim__tls.in_agent = 1; /* pthread_getattr_np allocates */
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        pthread_attr_getstack(&a, &lo, &sz);
        pthread_attr_destroy(&a);
    }
    chim__tls.in_agent = 0;
    if (lo) {
        chim__unwind_set_stack((uintptr_t)lo, (uintptr_t)lo + sz);
        idx = chim__threads_add((uintptr_t)lo, (uintptr_t)lo + sz);
    }
    void *ret;
    pthread_cleanup_push(unregister, (void *)(intptr_t)idx);
    ret = fn(arg);
    pthread_cleanup_pop(1);
    return ret;
}

EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    if (CHIM_UNLIKELY(!next_create))
        resolve();
    /* Before the thread exists: from now on shared counters need atomics. */
    __atomic_store_n(&chim__many_threads, 1, __ATOMIC_RELEASE);
    struct start_rec *r = tracking() ? rec_claim() : NULL;
    if (!r)
        return next_create(t, attr, fn, arg);
    r->fn = fn;
    r->arg = arg;
    int rc = next_create(t, attr, thread_start, r);
    if (rc != 0)
        __atomic_store_n(&r->used, 0, __ATOMIC_RELEASE);
    return rc;
}
