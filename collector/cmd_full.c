/*
 * cmd_full.c - `chimcollect full`: every scenario of the suite against the
 * demo backend, each on a fresh stack under the agent: LLM service (response
 * time, cache effectiveness), transformation (single, parallel speedup,
 * memory per request), memory (tracking, leak check, allocator comparison),
 * cache (hit ratio, hit vs miss latency, eviction with a small cache),
 * concurrency (closed-loop throughput, stability over time) and end to end
 * (the API mix, repeated, gated). Writes the report files and a baseline
 * holding the repeated end-to-end runs.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "quick.h"

struct scen {
    const char *name, *scenario;
    int closed, cache_size;
    const char *allocator, *leak_route;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: chimcollect full [--config F] [--set KEY=VALUE]... [--duration S]\n"
                 "                        [--users N] [--rate R] [--runs N] [--out DIR]\n"
                 "                        [--junit FILE] [--baseline F | --no-baseline] [-v]\n\n"
                 "Runs every scenario of the suite on the demo backend under the agent,\n"
                 "prints a line per measurement, gates the end-to-end runs (repeated --runs\n"
                 "times, default 3), writes the report files to DIR (default\n"
                 "performance_reports) and saves the runs as a new baseline.\n"
                 "PERF_SKIP_SLOW_TESTS=true skips the allocator comparison and the\n"
                 "stability run. Exit: 0 pass, 1 a gate failed, 2 error.\n");
}

static double num(const cJSON *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *v = o;
    for (char *k = strtok(buf, "."); k && v; k = strtok(NULL, "."))
        v = cJSON_GetObjectItemCaseSensitive(v, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const cJSON *route(const cJSON *rep, const char *method, const char *name)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(rep, "http_server"), *r;
    const cJSON *routes = cJSON_GetObjectItemCaseSensitive(h, "routes");
    cJSON_ArrayForEach(r, routes)
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "method");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(r, "route");
        if (cJSON_IsString(m) && cJSON_IsString(n) && !strcmp(m->valuestring, method) &&
            !strcmp(n->valuestring, name))
            return r;
    }
    return NULL;
}

/* One scenario on a fresh stack; returns its report (NULL on failure). */
static cJSON *run_one(struct chim_quick_opts *q, const struct chim_config *cfg,
                      const struct scen *sc, struct chim_load_result *res)
{
    struct chim_run run = {.verbose = q->verbose};
    struct chim_load_opts lo;
    char err[256];
    struct chim_quick_opts qq = *q;
    qq.scenario = sc->scenario;
    if (chim_load_from_config(&lo, cfg, &qq, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s: %s\n", q->who, sc->name, err);
        return NULL;
    }
    if (chim_run_begin(&run, q->who) != 0)
        return NULL;
    lo.closed = sc->closed;
    struct chim_stack st;
    struct chim_stack_opts so = {
        .allocator = sc->allocator, .cache_size = sc->cache_size, .leak_route = sc->leak_route};
    cJSON *rep = NULL;
    if (chim_stack_start(&run, &so, &st) == 0) {
        lo.target = st.url;
        if (chim_load_run(&lo, res) != 0)
            fprintf(stderr, "%s: %s: %s\n", q->who, sc->name, res->error);
        chim_stack_stop(&run, &st);
        rep = chim_run_report(&run, res);
    }
    chim_run_end(&run);
    return rep;
}

static void line(const char *group, const char *what, const char *fmt, double v)
{
    char val[64];
    if (isnan(v))
        snprintf(val, sizeof val, "NO DATA");
    else
        snprintf(val, sizeof val, fmt, v);
    printf("  %-15s %-38s %s\n", group, what, val);
}

static void scenario_lines(const char *name, const cJSON *rep, const struct chim_load_result *l)
{
    if (!strcmp(name, "llm_batch")) {
        line("LLM service", "batch throughput (closed loop)", "%.1f rps", l->rps);
        line("LLM service", "batch P95 (server side)", "%.2f ms",
             num(route(rep, "POST", "/api/v1/generate"), "p95_ms"));
    } else if (!strcmp(name, "llm")) {
        const cJSON *g = route(rep, "POST", "/api/v1/generate");
        line("LLM service", "generate P95 (server side)", "%.2f ms", num(g, "p95_ms"));
        line("LLM service", "LLM provider P95 (upstream)", "%.2f ms",
             num(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "upstreams"), 0),
                 "p95_ms"));
        line("LLM service", "cache hit ratio", "%.1f %%", 100 * num(rep, "cache.hit_ratio"));
        double hit = num(g, "cache.hit_p95_ms"), miss = num(g, "cache.miss_p95_ms");
        line("LLM service", "cache speedup (miss P95 / hit P95)", "%.1fx", miss / hit);
    } else if (!strcmp(name, "transform")) {
        const cJSON *t = route(rep, "POST", "/api/v1/transform");
        line("Transformation", "single P95", "%.2f ms", num(t, "p95_ms"));
        line("Transformation", "memory per request", "%.0f bytes", num(t, "bytes_per_request"));
        line("Transformation", "throughput", "%.1f rps", l->rps);
    } else if (!strcmp(name, "eviction")) {
        line("Cache", "hit ratio with an 8-entry cache", "%.1f %%",
             100 * num(rep, "cache.hit_ratio"));
    } else if (!strcmp(name, "closed")) {
        line("Concurrent", "closed-loop maximum throughput", "%.1f rps", l->rps);
        line("Concurrent", "P95 at maximum throughput", "%.2f ms", num(rep, "http_server.p95_ms"));
    } else if (!strcmp(name, "leak")) {
        line("Memory", "live heap at exit, leaking route on", "%.0f bytes",
             num(rep, "memory.live_bytes"));
        line("Memory", "leaked bytes per request (transform)", "%.0f",
             num(route(rep, "POST", "/api/v1/transform"), "bytes_per_request"));
    }
}

/* elapsed_ms of a batch of 64 items transformed by `threads` threads. */
static double batch_ms(int port, int threads)
{
    static char body[64 * 64];
    char path[64], resp[4096];
    size_t off = 0;
    for (int i = 0; i < 64; i++)
        off +=
            (size_t)snprintf(body + off, sizeof body - off, "item %d: some text to transform\n", i);
    snprintf(path, sizeof path, "/api/v1/transform/batch?threads=%d", threads);
    if (chim_http_post(port, path, body, resp, sizeof resp) != 0)
        return NAN;
    const char *e = strstr(resp, "\"elapsed_ms\":");
    return e ? strtod(e + 13, NULL) : NAN;
}

/* Parallel speedup of the batch route: best of 3 with 1 thread vs 4. */
static void speedup_lines(struct chim_quick_opts *q)
{
    struct chim_run run = {.verbose = q->verbose};
    struct chim_stack st;
    struct chim_stack_opts so = {.transform_cost = "20000"};
    if (chim_run_begin(&run, q->who) != 0)
        return;
    if (chim_stack_start(&run, &so, &st) == 0) {
        double one = INFINITY, four = INFINITY;
        for (int i = 0; i < 3; i++) {
            one = fmin(one, batch_ms(st.port, 1));
            four = fmin(four, batch_ms(st.port, 4));
        }
        line("Transformation", "batch of 64, 1 thread", "%.1f ms", one);
        line("Transformation", "batch of 64, 4 threads", "%.1f ms", four);
        line("Transformation", "parallel speedup", "%.2fx", one / four);
        chim_stack_stop(&run, &st);
    }
    chim_run_end(&run);
}

/* Coefficient of variation of per-second requests (stability over time). */
static double stability(const cJSON *rep)
{
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(rep, "timeseries"), *p;
    double s = 0, s2 = 0;
    int n = 0, i = 0, len = cJSON_GetArraySize(ts);
    cJSON_ArrayForEach(p, ts)
    {
        if (i++ == 0 || i == len)
            continue; /* partial first and last seconds */
        double v = num(p, "requests");
        s += v, s2 += v * v, n++;
    }
    if (n < 2 || s == 0)
        return NAN;
    double mean = s / n;
    return sqrt(fmax(0, s2 / n - mean * mean)) / mean;
}

static void allocator_lines(struct chim_quick_opts *q, const struct chim_config *cfg)
{
    struct chim_load_result r1, r2;
    struct scen g = {"glibc", "api", 0, 0, "glibc", NULL},
                j = {"jemalloc", "api", 0, 0, "jemalloc", NULL};
    cJSON *a = run_one(q, cfg, &g, &r1), *b = run_one(q, cfg, &j, &r2);
    double pa = num(a, "memory.peak_rss_bytes"), pb = num(b, "memory.peak_rss_bytes");
    line("Memory", "peak RSS with glibc malloc", "%.1f MiB", pa / 1048576);
    line("Memory", "peak RSS with jemalloc", "%.1f MiB", pb / 1048576);
    double red = 100 * (pa - pb) / pa;
    printf("  %-15s %-38s %.1f %% %s (target: >= %.0f %%)\n", "Memory", "reduction with jemalloc",
           red, red >= cfg->targets.memory_optimization_percent ? "✅" : "❌",
           cfg->targets.memory_optimization_percent);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static cJSON *pick_baseline(const struct chim_quick_opts *q, const struct chim_config *cfg,
                            char *name, size_t n)
{
    char err[512];
    if (q->no_baseline)
        return NULL;
    if (q->baseline)
        snprintf(name, n, "%s", q->baseline);
    else if (chim_baseline_newest(cfg->regression.baseline_dir, name, n) != 0)
        return NULL;
    cJSON *b = chim_baseline_load(name, err, sizeof err);
    if (!b)
        fprintf(stderr, "%s: %s (ignored)\n", q->who, err);
    return b;
}

/* The measured scenarios, one line or more each. */
static void scenarios(struct chim_quick_opts *q, const struct chim_config *cfg)
{
    static const struct scen list[] = {
        {"llm", "llm", 0, 0, NULL, NULL},
        {"transform", "transform", 0, 0, NULL, NULL},
        {"llm_batch", "llm", 1, 0, NULL, NULL},
        {"eviction", "llm", 0, 8, NULL, NULL},
        {"closed", "api", 1, 0, NULL, NULL},
        {"leak", "transform", 0, 0, NULL, "/api/v1/transform"},
    };
    printf("Scenarios\n");
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        struct chim_load_result res;
        cJSON *rep = run_one(q, cfg, &list[i], &res);
        if (!rep) {
            printf("  %-15s %-38s failed (see above)\n", list[i].name, "");
            continue;
        }
        scenario_lines(list[i].name, rep, &res);
        cJSON_Delete(rep);
    }
    speedup_lines(q);
    if (cfg->test.skip_slow_tests) {
        printf("  %-15s %-38s skipped (PERF_SKIP_SLOW_TESTS)\n", "Memory", "allocator comparison");
        return;
    }
    allocator_lines(q, cfg);
}

static int finish_full(struct chim_quick_opts *q, const struct chim_config *cfg, cJSON **reps,
                       int n)
{
    char bname[4096] = "baseline", path[4096], err[512];
    cJSON *base = pick_baseline(q, cfg, bname, sizeof bname);
    printf("\nEnd to end (%d runs of the API mix)\n", n);
    int rc = chim_gate_run_multi((const cJSON *const *)reps, (size_t)n, cfg, base, bname, stdout,
                                 q->junit);
    static const char *fmts[] = {"json", "csv", "html"};
    for (int i = 0; i < 3 && rc != 2; i++)
        if (chim_report_write_files(reps[n - 1], fmts[i], q->out, cfg, base, base != NULL, path,
                                    sizeof path, err, sizeof err) == 0)
            fprintf(stderr, "%s: wrote %s\n", q->who, path);
        else
            fprintf(stderr, "%s: %s\n", q->who, err), rc = 2;
    cJSON *b = chim_baseline_new(cfg);
    int ok = b != NULL;
    for (int i = 0; ok && i < n; i++)
        ok = chim_baseline_add_run(b, reps[i], cfg, q->who, err, sizeof err) == 0;
    if (ok && chim_baseline_save(b, cfg->regression.baseline_dir, path, sizeof path, err,
                                 sizeof err) == 0)
        fprintf(stderr, "%s: saved baseline %s (%d runs)\n", q->who, path, n);
    else
        fprintf(stderr, "%s: cannot save the baseline: %s\n", q->who, err), rc = 2;
    cJSON_Delete(b);
    cJSON_Delete(base);
    return rc;
}

static int chim_full_run(struct chim_quick_opts *q, const struct chim_config *cfg, int runs)
{
    scenarios(q, cfg);
    cJSON *reps[20] = {0};
    int n = 0;
    struct scen e2e = {"e2e", "api", 0, 0, NULL, NULL};
    for (int i = 0; i < runs; i++) {
        struct chim_load_result res;
        cJSON *rep = run_one(q, cfg, &e2e, &res);
        if (rep)
            reps[n++] = rep;
        if (rep && i == 0)
            line("Concurrent", "stability (CV of requests per second)", "%.3f", stability(rep));
    }
    int rc = n ? finish_full(q, cfg, reps, n) : 2;
    for (int i = 0; i < n; i++)
        cJSON_Delete(reps[i]);
    return rc;
}

static int parse(int argc, char **argv, struct chim_quick_opts *q, int *runs)
{
    static const struct option opts[] = {{"config", 1, 0, 'c'},
                                         {"set", 1, 0, 's'},
                                         {"duration", 1, 0, 'd'},
                                         {"users", 1, 0, 'u'},
                                         {"rate", 1, 0, 'r'},
                                         {"runs", 1, 0, 'n'},
                                         {"out", 1, 0, 'o'},
                                         {"junit", 1, 0, 'j'},
                                         {"baseline", 1, 0, 'b'},
                                         {"no-baseline", 0, 0, 'B'},
                                         {"verbose", 0, 0, 'v'},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:s:d:u:r:n:o:j:b:Bvh", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 1;
        }
        if (c == 'n') {
            if (chim_arg_int("chimcollect full", "runs", "1..20", optarg, 1, 20, runs))
                return 2;
        } else if (chim_quick_opt(q, c, optarg) != 0) {
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

int chim_cmd_full(int argc, char **argv)
{
    struct chim_quick_opts q;
    int runs = 3;
    chim_quick_opts_init(&q, "chimcollect full");
    int rc = parse(argc, argv, &q, &runs);
    if (rc)
        return rc == 1 ? 0 : rc;
    q.verbose += chim_verbose;
    if (!q.out)
        q.out = "performance_reports";
    struct chim_config cfg;
    char err[512];
    if (chim_config_resolve(&cfg, q.config, q.sets, q.nsets, stderr, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", q.who, err);
        return 2;
    }
    return chim_full_run(&q, &cfg, runs);
}
