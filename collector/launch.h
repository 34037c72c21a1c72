/*
 * launch.h - starting a command under the agent: finds libchimagent.so next
 * to chimcollect, sets LD_PRELOAD (agent first, then an optional allocator
 * underneath it), CHIM_DIR and CHIM_MODE, and runs the command.
 */
#ifndef CHIM_LAUNCH_H
#define CHIM_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

struct chim_launch_opts {
    const char *dir;       /* CHIM_DIR for the child, NULL: inherit/default */
    const char *mode;      /* count|sample|full, NULL: inherit */
    const char *allocator; /* glibc|jemalloc, NULL: glibc */
    const char *agent;     /* path of the agent, NULL: next to chimcollect */
};

/* rel resolved against the directory of the running chimcollect. */
int chim_beside_self(const char *rel, char *buf, size_t n);
/* Path of libchimagent.so: $CHIM_AGENT, else <dir of chimcollect>/../lib.
 * Returns 0 or -ENOENT. */
int chim_agent_path(char *buf, size_t n);
/* Path of libjemalloc.so.2, or -ENOENT. */
int chim_jemalloc_path(char *buf, size_t n);
/* Forks and execs argv under the agent. Returns 0 and the child's pid, or 2
 * after printing one line to stderr prefixed by `who`. */
int chim_launch(char *const argv[], const struct chim_launch_opts *o, pid_t *pid, const char *who);
/* 1 if path is a static ELF executable (LD_PRELOAD cannot reach it). */
int chim_is_static_elf(const char *path);
/* Waits for pid; returns its exit status as a shell would (128+signal). */
int chim_wait_status(pid_t pid);

#endif
