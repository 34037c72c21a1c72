/*
 * quick.c - one measured run and the quick verb's flow (see quick.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quick.h"
#include "report.h"

void chim_quick_opts_init(struct chim_quick_opts *q, const char *who)
{
    memset(q, 0, sizeof *q);
    q->who = who;
    q->scenario = "api";
}

static int positive(const char *who, const char *flag, const char *arg, double *out)
{
    char *end;
    double v = strtod(arg, &end);
    if (*end || !(v > 0)) {
        fprintf(stderr, "%s: %s wants a positive number, got '%s'\n", who, flag, arg);
        return -1;
    }
    *out = v;
    return 0;
}

int chim_quick_opt(struct chim_quick_opts *q, int c, const char *arg)
{
    double v;
    switch (c) {
    case 'c':
        q->config = arg;
        return 0;
    case 's':
        if (q->nsets >= 32)
            return -1;
        q->sets[q->nsets++] = (char *)arg;
        return 0;
    case 'd':
        return positive(q->who, "--duration", arg, &q->duration_s);
    case 'u':
        if (positive(q->who, "--users", arg, &v) || v != (int)v)
            return -1;
        q->users = (int)v;
        return 0;
    case 'r':
        return positive(q->who, "--rate", arg, &q->rate);
    case 'S':
        q->scenario = arg;
        return 0;
    case 'b':
        q->baseline = arg;
        return 0;
    case 'B':
        q->no_baseline = 1;
        return 0;
    case 'W':
        q->save_baseline = 1;
        return 0;
    case 'j':
        q->junit = arg;
        return 0;
    case 'o':
        q->out = arg;
        return 0;
    case 'm':
        q->mode = arg;
        return 0;
    case 'a':
        q->allocator = arg;
        return 0;
    case 't':
        q->target = arg;
        return 0;
    case 'v':
        q->verbose++;
        return 0;
    default:
        return -1;
    }
}

int chim_load_from_config(struct chim_load_opts *lo, const struct chim_config *cfg,
                          const struct chim_quick_opts *q, char *err, size_t errlen)
{
    chim_load_opts_init(lo);
    lo->users = q->users ? q->users : cfg->test.concurrent_users;
    lo->rate = q->rate > 0 ? q->rate : cfg->test.request_rate;
    const char *env = getenv("PERF_TEST_DURATION");
    lo->duration_s = q->duration_s > 0 ? q->duration_s
                     : env && *env     ? cfg->test.test_duration_seconds
                                       : 10.0;
    lo->scenario = q->scenario;
    lo->prog = q->who;
    if (strcmp(q->scenario, "api") && strcmp(q->scenario, "llm") &&
        strcmp(q->scenario, "transform") && strcmp(q->scenario, "health")) {
        snprintf(err, errlen, "unknown scenario '%s' (api, llm, transform, health)", q->scenario);
        return -EINVAL;
    }
    return 0;
}

int chim_stack_start(struct chim_run *r, const struct chim_stack_opts *o, struct chim_stack *s)
{
    char demo[4096], llm[4096], lport[16], llmaddr[32], listen[32], cache[16];
    memset(s, 0, sizeof *s);
    if (chim_tool_path("chim-demo", demo, sizeof demo) != 0 ||
        chim_tool_path("chim-mockllm", llm, sizeof llm) != 0) {
        fprintf(stderr,
                "%s: chim-demo or chim-mockllm missing next to chimcollect (build all "
                "targets: cmake --build build)\n",
                r->who);
        return 2;
    }
    s->llm_port = chim_free_port();
    s->port = chim_free_port();
    snprintf(lport, sizeof lport, "127.0.0.1:%d", s->llm_port);
    char *largv[] = {llm, "--listen", lport, NULL};
    s->llm = chim_run_start(r, largv, 0, s->llm_port, 10, "mock LLM provider");
    if (s->llm < 0)
        return 2;
    snprintf(llmaddr, sizeof llmaddr, "127.0.0.1:%d", s->llm_port);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
    snprintf(cache, sizeof cache, "%d", o->cache_size > 0 ? o->cache_size : 256);
    char *dargv[16] = {demo, "--listen", listen, "--llm", llmaddr, "--cache-size", cache};
    int n = 7;
    if (o->leak_route) {
        dargv[n++] = "--leak-route";
        dargv[n++] = (char *)o->leak_route;
    }
    if (o->transform_cost) {
        dargv[n++] = "--transform-cost";
        dargv[n++] = (char *)o->transform_cost;
    }
    dargv[n] = NULL;
    r->mode = o->mode;
    r->allocator = o->allocator;
    s->backend = chim_run_start(r, dargv, 1, s->port, 15, "demo backend");
    if (s->backend < 0)
        return 2;
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    return 0;
}

void chim_stack_stop(struct chim_run *r, struct chim_stack *s)
{
    if (s->backend > 0)
        chim_run_stop(r, s->backend);
    if (s->llm > 0)
        chim_run_stop(r, s->llm);
    s->backend = s->llm = 0;
}

/* The baseline to gate against: --baseline, else the newest, else none. */
static cJSON *pick_baseline(const struct chim_quick_opts *q, const struct chim_config *cfg,
                            int *bad)
{
    char path[4096], err[512];
    *bad = 0;
    if (q->no_baseline)
        return NULL;
    if (q->baseline)
        snprintf(path, sizeof path, "%s", q->baseline);
    else if (chim_baseline_newest(cfg->regression.baseline_dir, path, sizeof path) != 0)
        return NULL;
    cJSON *b = chim_baseline_load(path, err, sizeof err);
    if (!b) {
        fprintf(stderr, "%s: %s\n", q->who, err);
        *bad = 1;
    }
    return b;
}

static void print_agreement(const cJSON *rep, const struct chim_load_result *l, FILE *out)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(rep, "http_server");
    const cJSON *n = h ? cJSON_GetObjectItemCaseSensitive(h, "requests") : NULL;
    fprintf(out,
            "Load: %s scenario, %d users x %.1f rps for %.0f s: %llu sent, %llu completed, "
            "%llu errors, %.1f rps, client P95 %.2f ms\n",
            l->scenario, l->users, l->rate, l->duration_s, (unsigned long long)l->sent,
            (unsigned long long)l->completed, (unsigned long long)l->errors, l->rps,
            l->overall.p95_ms);
    if (cJSON_IsNumber(n))
        fprintf(out, "Agent: %.0f requests measured inside the backend (load generator: %llu)\n\n",
                n->valuedouble, (unsigned long long)l->completed);
    else
        fprintf(out, "Agent: no server-side data (backend not under the agent)\n\n");
}

static int save_baseline(const struct chim_quick_opts *q, const struct chim_config *cfg,
                         const cJSON *rep)
{
    char path[4096], err[512];
    cJSON *b = chim_baseline_new(cfg);
    int rc = b ? chim_baseline_add_run(b, rep, cfg, q->who, err, sizeof err) : -ENOMEM;
    if (!rc)
        rc =
            chim_baseline_save(b, cfg->regression.baseline_dir, path, sizeof path, err, sizeof err);
    cJSON_Delete(b);
    if (rc) {
        fprintf(stderr, "%s: cannot save the baseline: %s\n", q->who, err);
        return 2;
    }
    fprintf(stderr, "%s: saved baseline %s\n", q->who, path);
    return 0;
}

static int write_outputs(const struct chim_quick_opts *q, const struct chim_config *cfg,
                         const cJSON *rep, const cJSON *base)
{
    static const char *fmts[] = {"json", "csv", "html"};
    char path[4096], err[512];
    for (int i = 0; q->out && i < 3; i++) {
        if (chim_report_write_files(rep, fmts[i], q->out, cfg, base, base != NULL, path,
                                    sizeof path, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", q->who, err);
            return 2;
        }
        fprintf(stderr, "%s: wrote %s\n", q->who, path);
    }
    return 0;
}

/* Starts what the run needs, drives the load, stops it again. */
static int measure(struct chim_quick_opts *q, struct chim_run *run, struct chim_load_opts *lo,
                   struct chim_load_result *res)
{
    struct chim_stack st = {0};
    pid_t user = 0;
    if (!q->target) {
        struct chim_stack_opts so = {.mode = q->mode, .allocator = q->allocator};
        if (chim_stack_start(run, &so, &st) != 0)
            return 2;
        lo->target = st.url;
    } else {
        lo->target = q->target;
        const char *p = strrchr(q->target, ':');
        int port = p ? atoi(p + 1) : 80;
        run->mode = q->mode;
        run->allocator = q->allocator;
        if (q->cmd && (user = chim_run_start(run, q->cmd, 1, port, 30, "your backend")) < 0)
            return 2;
    }
    int rc = chim_load_run(lo, res);
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", q->who, res->error);
    usleep(200000); /* let the last responses' bytes reach the segment */
    chim_stack_stop(run, &st);
    if (user > 0)
        chim_run_stop(run, user);
    return rc ? 2 : 0;
}

int chim_quick_run(struct chim_quick_opts *q)
{
    struct chim_config cfg;
    char err[512];
    if (chim_config_resolve(&cfg, q->config, q->sets, q->nsets, stderr, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", q->who, err);
        return 2;
    }
    struct chim_load_opts lo;
    if (chim_load_from_config(&lo, &cfg, q, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", q->who, err);
        return 2;
    }
    int bad;
    cJSON *base = pick_baseline(q, &cfg, &bad);
    if (bad)
        return 2;
    struct chim_run run = {.verbose = q->verbose};
    struct chim_load_result res;
    int rc = chim_run_begin(&run, q->who);
    if (!rc)
        rc = measure(q, &run, &lo, &res);
    cJSON *rep = rc ? NULL : chim_run_report(&run, &res);
    chim_run_end(&run);
    if (!rc && !rep) {
        fprintf(stderr, "%s: no report could be built\n", q->who);
        rc = 2;
    }
    if (!rc) {
        print_agreement(rep, &res, stdout);
        rc = chim_gate_run(rep, &cfg, base, stdout, q->junit);
        if (write_outputs(q, &cfg, rep, base) || (q->save_baseline && save_baseline(q, &cfg, rep)))
            rc = 2;
    }
    cJSON_Delete(rep);
    cJSON_Delete(base);
    return rc;
}
