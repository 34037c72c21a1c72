/*
 * runner.h - what `quick` and `full` share: a private segment directory per
 * run, starting the demo backend (under the agent), the mock LLM provider
 * and the user's backend, waiting until they listen, driving load, and
 * stopping everything they started, also on Ctrl-C and on failure.
 */
#ifndef CHIM_RUNNER_H
#define CHIM_RUNNER_H

#include <stdio.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "chim_analyzer.h"
#include "chim_load.h"

struct chim_run {
    const char *who;       /* "chimcollect quick" */
    char segdir[512];      /* private CHIM_DIR of this run, removed at the end */
    const char *mode;      /* agent mode for started backends */
    const char *allocator; /* glibc|jemalloc */
    int verbose;
};

/* Creates the run's segment directory; registers cleanup (atexit, SIGINT,
 * SIGTERM, SIGHUP). Returns 0 or 2 after one line on stderr. */
int chim_run_begin(struct chim_run *r, const char *who);
/* Stops every started process (SIGTERM, then SIGKILL after 3 s) and removes
 * the segment directory. Safe to call twice. */
void chim_run_end(struct chim_run *r);

/* Path of a tool next to chimcollect (chim-demo, chim-mockllm). */
int chim_tool_path(const char *name, char *buf, size_t n);
/* A free TCP port on 127.0.0.1, or 0. */
int chim_free_port(void);

/* Starts argv (under the agent when agent != 0, with the run's CHIM_DIR),
 * stdout and stderr to a log in the run directory (or inherited with -v);
 * waits until 127.0.0.1:port accepts connections (timeout_s). Returns the
 * pid, or -1 after one line saying what to check. */
pid_t chim_run_start(struct chim_run *r, char *const argv[], int agent, int port, double timeout_s,
                     const char *what);
/* Stops one started process gracefully; returns its exit status. */
int chim_run_stop(struct chim_run *r, pid_t pid);

/* Waits until host:port accepts a TCP connection; 0 or -1. */
int chim_wait_port(const char *host, int port, double timeout_s, pid_t watch);

/* One POST with Connection: close; the whole response (headers and body)
 * into resp. 0 or -1. */
int chim_http_post(int port, const char *path, const char *body, char *resp, size_t n);

/* The run's report: segments of the run directory, plus a "load" block with
 * the load generator's client-side figures. */
cJSON *chim_run_report(struct chim_run *r, const struct chim_load_result *load);
/* Adds the client's view to a report ("load" block). */
void chim_report_add_load(cJSON *report, const struct chim_load_result *load);

#endif
