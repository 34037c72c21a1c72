/*
 * quick.h - one measured run of the suite: start the stack (mock LLM
 * provider and demo backend under the agent, or the user's backend), drive
 * a load scenario, stop the stack, build the report. `quick` is one such
 * run plus the gate; `full` is several (cmd_full.c).
 */
#ifndef CHIM_QUICK_H
#define CHIM_QUICK_H

#include "runner.h"

struct chim_quick_opts {
    const char *who;
    const char *config;
    char *sets[32];
    size_t nsets;
    double duration_s; /* 0: PERF_TEST_DURATION if set, else 10 */
    int users;         /* 0: from the configuration */
    double rate;       /* 0: from the configuration */
    const char *scenario;
    const char *baseline; /* file; NULL: newest in the baseline directory */
    int no_baseline, save_baseline;
    const char *junit, *out;
    const char *mode, *allocator;
    const char *target; /* user's backend URL */
    char **cmd;         /* user's backend command, started under the agent */
    int verbose;
};

/* Options of the stack a run starts. */
struct chim_stack_opts {
    const char *mode, *allocator;
    int cache_size;        /* demo LRU entries, 0 default */
    const char *llm_extra; /* e.g. "--median-ms 40" */
    const char *leak_route;
    const char *transform_cost; /* demo --transform-cost, NULL default */
};

struct chim_stack {
    int port, llm_port;
    pid_t backend, llm;
    char url[64];
};

void chim_quick_opts_init(struct chim_quick_opts *q, const char *who);
/* Applies one getopt option of quick's table; 0, or -1 on a bad value. */
int chim_quick_opt(struct chim_quick_opts *q, int c, const char *arg);
int chim_quick_run(struct chim_quick_opts *q);

/* Starts mock LLM + demo backend (under the agent) in r's directory. */
int chim_stack_start(struct chim_run *r, const struct chim_stack_opts *o, struct chim_stack *s);
/* Stops them (backend first, so its segment records a clean exit). */
void chim_stack_stop(struct chim_run *r, struct chim_stack *s);
/* Load options from the configuration and quick's flags. */
int chim_load_from_config(struct chim_load_opts *lo, const struct chim_config *cfg,
                          const struct chim_quick_opts *q, char *err, size_t errlen);

#endif
