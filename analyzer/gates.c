/*
 * gates.c - the seed's six performance gates and six targets, evaluated on
 * the median of the current runs, with the regression check against a
 * baseline. A gate without data says NO DATA and does not pass: a threshold
 * checked on zero samples proves nothing. Output keeps the seed's exact
 * first lines; the score is gates passed / 6 x 100 %.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer_internal.h"

#define OK_MARK   "\xe2\x9c\x85" /* U+2705 */
#define FAIL_MARK "\xe2\x9d\x8c" /* U+274C */

static void nodata(struct chim_check *c, const char *name, const char *why)
{
    c->name = name;
    c->status = CHIM_NODATA;
    c->has_value = false;
    snprintf(c->text, sizeof c->text, "NO DATA (%s)", why ? why : "no data");
}

/* Sets a check that has a value; pass is decided by the caller. */
static void valued(struct chim_check *c, const char *name, double v, double limit, bool pass)
{
    c->name = name;
    c->status = pass ? CHIM_PASS : CHIM_FAIL;
    c->has_value = true;
    c->value = v;
    c->limit = limit;
}

/* Evaluates a metric against a max (is_max) or a min limit. */
static bool metric_check(struct chim_check *c, const char *name, const struct chim_metrics *m,
                         enum chim_metric_id id, double limit, bool is_max)
{
    if (!m->has[id]) {
        nodata(c, name, m->why[id]);
        return false;
    }
    double v = m->v[id];
    valued(c, name, v, limit, is_max ? v <= limit : v >= limit);
    return true;
}

static void gate_values(struct chim_analysis *a, const struct chim_config *cfg)
{
    const struct chim_metrics *m = &a->cur;
    struct chim_check *g = a->gates;
    char l[64];
    const struct chim_config *c = cfg;
    if (metric_check(&g[0], "response_time", m, CHIM_M_API_P95, c->gates.max_response_time_ms, 1))
        snprintf(g[0].text, sizeof g[0].text, "P95 response time: %.2fms (limit: %sms)", g[0].value,
                 chim__fmt_g(l, sizeof l, g[0].limit));
    if (metric_check(&g[1], "throughput", m, CHIM_M_THROUGHPUT, c->gates.min_throughput_rps, 0))
        snprintf(g[1].text, sizeof g[1].text, "Throughput: %.1f rps (minimum: %s rps)", g[1].value,
                 chim__fmt_g(l, sizeof l, g[1].limit));
    if (metric_check(&g[2], "memory", m, CHIM_M_PEAK_MEMORY, c->gates.max_memory_mb, 1))
        snprintf(g[2].text, sizeof g[2].text, "Peak memory: %.1fMB (limit: %sMB)", g[2].value,
                 chim__fmt_g(l, sizeof l, g[2].limit));
    if (metric_check(&g[3], "cache", m, CHIM_M_CACHE_HIT, c->gates.min_cache_hit_ratio, 0))
        snprintf(g[3].text, sizeof g[3].text, "Cache hit ratio: %.0f%% (minimum: %s%%)",
                 g[3].value * 100, chim__fmt_g(l, sizeof l, g[3].limit * 100));
    if (metric_check(&g[4], "error_rate", m, CHIM_M_ERROR_RATE, c->gates.max_error_rate, 1))
        snprintf(g[4].text, sizeof g[4].text, "Error rate: %.2f%% (maximum: %.2f%%)",
                 g[4].value * 100, g[4].limit * 100);
}

static void regression_gate(struct chim_analysis *a, const struct chim_config *cfg)
{
    struct chim_check *g = &a->gates[5];
    if (!a->have_baseline) {
        nodata(g, "regression_check", "no baseline: run 'chimcollect baseline save'");
        return;
    }
    if (!a->n_reg) {
        nodata(g, "regression_check", "no metric in common with the baseline");
        return;
    }
    size_t fails = 0, exceeds = 0;
    const struct chim_regression *first = NULL;
    for (size_t i = 0; i < a->n_reg; i++) {
        exceeds += a->reg[i].exceeds;
        if (a->reg[i].fails && !fails++)
            first = &a->reg[i];
    }
    valued(g, "regression_check", (double)fails, cfg->gates.max_regression_percent, !fails);
    if (fails)
        snprintf(g->text, sizeof g->text, "%zu confirmed regression%s: %.100s %+.1f%% (%s, %s)",
                 fails, fails == 1 ? "" : "s", first->label, first->change_percent,
                 chim_class_name(first->cls), chim_verdict_name(first->verdict));
    else if (exceeds)
        snprintf(g->text, sizeof g->text,
                 "No confirmed major or critical regressions (%zu change%s over %s%% to review)",
                 exceeds, exceeds == 1 ? "" : "s",
                 chim__fmt_g((char[32]){0}, 32, cfg->gates.max_regression_percent));
    else
        snprintf(g->text, sizeof g->text, "No significant regressions detected");
}

/* Median peak memory of the baseline runs, for the optimization target. */
static bool base_peak(const cJSON *b, const struct chim_config *cfg, double *out)
{
    size_t n = chim_baseline_run_count(b), k = 0;
    double *v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++) {
        struct chim_metrics m;
        if (!chim_baseline_run_metrics(b, i, cfg, &m) && m.has[CHIM_M_PEAK_MEMORY])
            v[k++] = m.v[CHIM_M_PEAK_MEMORY];
    }
    if (k)
        *out = chim__median(v, k);
    free(v);
    return k > 0;
}

static void latency_target(struct chim_check *t, const char *name, const char *label,
                           const struct chim_metrics *m, enum chim_metric_id id, double target)
{
    char l[64];
    if (metric_check(t, name, m, id, target, 1))
        snprintf(t->text, sizeof t->text, "%s: %.2fms (target: <= %sms)", label, t->value,
                 chim__fmt_g(l, sizeof l, target));
}

static void targets(struct chim_analysis *a, const struct chim_config *cfg, const cJSON *b)
{
    const struct chim_metrics *m = &a->cur;
    struct chim_check *t = a->targets;
    char l[64];
    latency_target(&t[0], "api_response_p95_ms", "API P95", m, CHIM_M_API_P95,
                   cfg->targets.api_response_p95_ms);
    latency_target(&t[1], "llm_provider_p95_ms", "LLM provider P95", m, CHIM_M_LLM_P95,
                   cfg->targets.llm_provider_p95_ms);
    latency_target(&t[2], "transformation_p95_ms", "Transformation P95", m, CHIM_M_TRANSFORM_P95,
                   cfg->targets.transformation_p95_ms);
    if (metric_check(&t[3], "concurrent_requests_per_second", m, CHIM_M_THROUGHPUT,
                     cfg->targets.concurrent_requests_per_second, 0))
        snprintf(t[3].text, sizeof t[3].text, "Throughput: %.1f rps (target: >= %s rps)",
                 t[3].value, chim__fmt_g(l, sizeof l, t[3].limit));
    double bp, goal = cfg->targets.memory_optimization_percent;
    if (!b)
        nodata(&t[4], "memory_optimization_percent", "no baseline to compare peak memory with");
    else if (!m->has[CHIM_M_PEAK_MEMORY] || !base_peak(b, cfg, &bp) || bp <= 0)
        nodata(&t[4], "memory_optimization_percent", "no peak memory on both sides");
    else {
        double red = (bp - m->v[CHIM_M_PEAK_MEMORY]) / bp * 100;
        valued(&t[4], "memory_optimization_percent", red, goal, red >= goal);
        snprintf(t[4].text, sizeof t[4].text,
                 "Peak memory reduction: %.1f%% (%.1fMB vs %.1fMB baseline; target: >= %s%%)", red,
                 m->v[CHIM_M_PEAK_MEMORY], bp, chim__fmt_g(l, sizeof l, goal));
    }
    if (metric_check(&t[5], "cache_hit_ratio_percent", m, CHIM_M_CACHE_HIT,
                     cfg->targets.cache_hit_ratio_percent / 100, 0)) {
        t[5].value *= 100;
        t[5].limit *= 100;
        snprintf(t[5].text, sizeof t[5].text, "Cache hit ratio: %.1f%% (target: >= %s%%)",
                 t[5].value, chim__fmt_g(l, sizeof l, t[5].limit));
    }
}

/* Per-metric values of the runs of one side; returns how many have it. */
static size_t column(const struct chim_metrics *runs, size_t n, enum chim_metric_id id, double *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (runs[i].has[id])
            out[k++] = runs[i].v[id];
    return k;
}

static void regressions(struct chim_analysis *a, const struct chim_metrics *cur, size_t nc,
                        const struct chim_metrics *base, size_t nb, const struct chim_config *cfg)
{
    double *x = calloc(nc + 1, sizeof *x), *y = calloc(nb + 1, sizeof *y);
    for (int id = 0; x && y && id < CHIM_M_COUNT; id++) {
        size_t kx = column(cur, nc, id, x), ky = column(base, nb, id, y);
        if (kx && ky)
            chim_regression_compare(id, y, ky, x, kx, cfg, &a->reg[a->n_reg++]);
    }
    free(x);
    free(y);
}

static void medians(struct chim_metrics *out, const struct chim_metrics *runs, size_t n)
{
    *out = runs[0];
    double *v = calloc(n, sizeof *v);
    for (int id = 0; v && id < CHIM_M_COUNT; id++) {
        size_t k = column(runs, n, id, v);
        out->has[id] = k > 0;
        if (k) {
            out->v[id] = chim__median(v, k);
            out->why[id] = NULL;
        }
    }
    free(v);
}

int chim_analyze(const cJSON *const *reports, size_t n, const struct chim_config *cfg,
                 const cJSON *b, const char *bname, struct chim_analysis *a)
{
    memset(a, 0, sizeof *a);
    if (!n || !reports || !cfg)
        return -22;
    size_t nb = b ? chim_baseline_run_count(b) : 0;
    struct chim_metrics *cur = calloc(n, sizeof *cur), *base = calloc(nb + 1, sizeof *base);
    if (!cur || !base) {
        free(cur);
        free(base);
        return -12;
    }
    for (size_t i = 0; i < n; i++)
        chim_metrics_extract(reports[i], cfg, &cur[i]);
    for (size_t i = 0; i < nb; i++)
        chim_baseline_run_metrics(b, i, cfg, &base[i]);
    medians(&a->cur, cur, n);
    a->n_runs = n;
    a->n_base_runs = nb;
    a->have_baseline = b != NULL && nb > 0;
    snprintf(a->baseline_name, sizeof a->baseline_name, "%s", bname ? bname : "baseline");
    if (a->have_baseline) {
        regressions(a, cur, n, base, nb, cfg);
        chim__route_regressions(a, reports, n, b, cfg);
    }
    gate_values(a, cfg);
    regression_gate(a, cfg);
    targets(a, cfg, a->have_baseline ? b : NULL);
    for (int i = 0; i < CHIM_GATES; i++)
        a->gates_passed += a->gates[i].status == CHIM_PASS;
    for (int i = 0; i < CHIM_TARGETS; i++)
        a->targets_met += a->targets[i].status == CHIM_PASS;
    a->score = a->gates_passed * 100.0 / CHIM_GATES;
    free(cur);
    free(base);
    return 0;
}
