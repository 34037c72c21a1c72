/*
 * agent_main.c - the agent's life cycle: settings read once at load, the
 * segment created in the constructor, per-thread slots bound and retired,
 * fork (the child gets its own segment before it can drop privileges) and
 * exit (the segment is marked exited and stays for the collector).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "leak.h"
#include "net_track.h"

struct chim_settings chim__cfg;
CHIM_TLS struct chim_tls chim__tls;

static pthread_key_t exit_key;
static int have_key;

/* Reads the environment once; later getenv calls are never made (nginx
 * workers wipe their environment after fork). */
static void read_settings(void)
{
    const char *v = getenv("CHIM_DISABLE");
    chim__cfg.disabled = v && *v && strcmp(v, "0") != 0;
    v = getenv("CHIM_DEBUG");
    chim__cfg.debug = v && *v && strcmp(v, "0") != 0;
    v = getenv("CHIM_MODE");
    chim__cfg.mode = CHIM_MODE_COUNT;
    if (v && !strcasecmp(v, "sample")) {
        chim__cfg.mode = CHIM_MODE_SAMPLE;
    } else if (v && !strcasecmp(v, "full")) {
        chim__cfg.mode = CHIM_MODE_FULL;
    } else if (v && *v && strcasecmp(v, "count")) {
        /* Counted only; the segment says so (the collector warns) and
         * CHIM_DEBUG=1 says it here. */
        chim__cfg.mode_unknown = 1;
        chim__debug("CHIM_MODE is not count, sample or full; counting only: ", v);
    }
    v = getenv("CHIM_DIR");
    if (v && *v) {
        chim__strlcpy(chim__cfg.dir, v, sizeof chim__cfg.dir);
    } else {
        char *e = chim__cfg.dir + chim__strlcpy(chim__cfg.dir, "/dev/shm/chim-", 32);
        chim__utoa((uint64_t)geteuid(), e);
    }
    chim__leak_read_settings();
}

/* Thread exit: fold the slot into `retired`; later calls from this thread
 * (other destructors, the loader freeing TLS) count there with atomics. */
static void thread_exit(void *arg)
{
    struct chim_thread_slot *s = arg;
    chim__tls.exiting = 1;
    chim__tls.slot = NULL;
    if (s && chim__seg)
        chim__slot_retire(s);
}

void chim__thread_bind(struct chim_thread_slot *s)
{
    chim__tls.slot = s;
    if (have_key) {
        chim__tls.in_agent = 1;
        pthread_setspecific(exit_key, s);
        chim__tls.in_agent = 0;
    }
}

static void fork_prepare(void)
{
    int saved = errno;
    chim__leak_fork_snapshot();
    errno = saved;
    chim__seg_lock_prepare();
}

static void fork_parent(void)
{
    chim__seg_lock_parent();
    chim__leak_fork_parent();
}

/* The child: its own segment, created now, while it still has the
 * parent's privileges; it starts with the parent's live bytes. */
static void fork_child(void)
{
    int saved = errno;
    chim__seg_lock_child();
    if (!chim__seg) {
        errno = saved;
        return;
    }
    int64_t live = chim__seg_live();
    chim__tls.slot = NULL;
    chim__tls.in_agent = 1;
    chim__leak_fork_prepare();
    chim__seg_detach();
    chim__net_fork_child();
    chim__seg_create(CHIM_FLAG_FORKED_CHILD, live);
    chim__leak_fork_child();
    chim__tls.in_agent = 0;
    errno = saved;
}

static void resolve_exits(void);
static int owns_segment(void);

__attribute__((constructor(101))) static void chim_agent_init(void)
{
    int saved = errno;
    chim__tls.in_agent = 1;
    read_settings();
    chim__resolve_next();
    resolve_exits();
    chim__net_hooks_resolve();
    chim__idle_hooks_resolve();
    if (!chim__cfg.disabled) {
        chim__net_init(); /* before the segment: it adds sections */
        have_key = pthread_key_create(&exit_key, thread_exit) == 0;
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        chim__seg_create(0, 0);
    }
    chim__leak_init();
    chim__tls.in_agent = 0;
    errno = saved;
}

__attribute__((destructor(101))) static void chim_agent_fini(void)
{
    int saved = errno;
    if (!owns_segment())
        return;
    if (chim__tls.slot)
        chim__slot_flush(chim__tls.slot);
    chim__leak_fini();
    chim__seg_mark_exited();
    errno = saved;
}

/* ---- exit: record the status, then leave as the host asked ---------------- */

typedef void (*exit_fn)(int) __attribute__((noreturn));
static exit_fn next_exit, next__exit, next__Exit;

static void resolve_exits(void)
{
    *(void **)&next_exit = dlsym(RTLD_NEXT, "exit");
    *(void **)&next__exit = dlsym(RTLD_NEXT, "_exit");
    *(void **)&next__Exit = dlsym(RTLD_NEXT, "_Exit");
}

/* Only the process that owns the segment marks it: a vfork child shares
 * our memory and must not mark its parent as exited. */
static int owns_segment(void)
{
    return chim__seg && chim__seg->pid == (uint32_t)getpid();
}

static void note_exit(int code)
{
    if (owns_segment() && !chim__seg->exit_known) {
        chim__seg->exit_code = code;
        chim__seg->exit_known = 1;
    }
}

static __attribute__((noreturn)) void leave(exit_fn next, int code)
{
    if (next)
        next(code);
    for (;;)
        syscall(SYS_exit_group, code);
}

__attribute__((visibility("default"), noreturn)) void exit(int code)
{
    int saved = errno;
    note_exit(code);
    errno = saved;
    leave(next_exit, code);
}

/* _exit skips destructors (dash exits this way): mark the exit here. */
static __attribute__((noreturn)) void leave_now(exit_fn next, int code)
{
    if (owns_segment()) {
        note_exit(code);
        if (chim__tls.slot)
            chim__slot_flush(chim__tls.slot);
        chim__leak_quick_exit();
        chim__seg_mark_exited();
    }
    leave(next, code);
}

__attribute__((visibility("default"), noreturn)) void _exit(int code)
{
    leave_now(next__exit, code);
}

__attribute__((visibility("default"), noreturn)) void _Exit(int code)
{
    leave_now(next__Exit, code);
}
