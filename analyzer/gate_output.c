/*
 * gate_output.c - how an analysis is shown: the seed's text block (first
 * lines exactly as the Python suite printed them), the targets and the
 * regression table after it, the analysis as JSON, and chim_gate_run(),
 * the entry point the verbs (gate, quick, full) share.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer_internal.h"

#define OK_MARK   "\xe2\x9c\x85"
#define FAIL_MARK "\xe2\x9d\x8c"

static void print_checks(const struct chim_check *c, int n, FILE *out)
{
    for (int i = 0; i < n; i++)
        fprintf(out, "  %s %s: %s\n", c[i].status == CHIM_PASS ? OK_MARK : FAIL_MARK, c[i].name,
                c[i].text);
}

static const char *fmt_val(char *buf, size_t len, double v, enum chim_metric_id id)
{
    if (!isfinite(v))
        snprintf(buf, len, "%s", v > 0 ? "inf" : "-inf");
    else if (!strcmp(chim_metric_unit(id), "ratio"))
        snprintf(buf, len, "%.2f%%", v * 100);
    else
        snprintf(buf, len, "%.2f%s", v, chim_metric_unit(id));
    return buf;
}

static void print_regression(const struct chim_regression *r, FILE *out)
{
    char b[48], c[48], ch[32], p[24], ratio[24];
    if (isfinite(r->change_percent))
        snprintf(ch, sizeof ch, "%+.1f%%", r->change_percent);
    else
        snprintf(ch, sizeof ch, "new");
    if (r->p >= 0)
        snprintf(p, sizeof p, "p=%.4f", r->p);
    else
        snprintf(p, sizeof p, "p=n/a");
    if (isfinite(r->ratio))
        snprintf(ratio, sizeof ratio, "%.3f", r->ratio);
    else
        snprintf(ratio, sizeof ratio, "n/a");
    fprintf(out, "  %s %-30s %12s -> %-12s %8s  %-8s  %-11s  %-8s  ratio %s  (%zu vs %zu runs)\n",
            r->fails     ? FAIL_MARK
            : r->exceeds ? "\xe2\x9a\xa0\xef\xb8\x8f"
                         : "  ",
            r->label, fmt_val(b, sizeof b, r->base_median, r->metric),
            fmt_val(c, sizeof c, r->cur_median, r->metric), ch, chim_class_name(r->cls),
            chim_verdict_name(r->verdict), p, ratio, r->n_base, r->n_cur);
}

void chim_analysis_print(const struct chim_analysis *a, FILE *out)
{
    bool pass = a->gates_passed == CHIM_GATES;
    fprintf(out, "Performance Gate: %s\n", pass ? "PASS" : "FAIL");
    fprintf(out, "Gates Passed: %d/%d\n", a->gates_passed, CHIM_GATES);
    print_checks(a->gates, CHIM_GATES, out);
    fprintf(out, "Performance Score: %.1f%%\n", a->score);
    fprintf(out, "\nPerformance Targets: %d/%d met\n", a->targets_met, CHIM_TARGETS);
    print_checks(a->targets, CHIM_TARGETS, out);
    if (!a->have_baseline) {
        fprintf(out, "\nRegressions: no baseline (save one with 'chimcollect baseline save')\n");
        return;
    }
    fprintf(out, "\nRegressions vs %s (%zu baseline run%s, %zu current run%s):\n", a->baseline_name,
            a->n_base_runs, a->n_base_runs == 1 ? "" : "s", a->n_runs, a->n_runs == 1 ? "" : "s");
    for (size_t i = 0; i < a->n_reg; i++)
        print_regression(&a->reg[i], out);
    if (a->n_base_runs < 2 || a->n_runs < 2)
        fprintf(out, "  (single run on a side: changes are UNCONFIRMED; save and gate 3 or more "
                     "runs to test them)\n");
}

static const char *status_name(enum chim_status s)
{
    return s == CHIM_PASS ? "PASS" : s == CHIM_FAIL ? "FAIL" : "NO DATA";
}

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static cJSON *checks_json(const struct chim_check *c, int n)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", c[i].name);
        cJSON_AddStringToObject(o, "status", status_name(c[i].status));
        if (c[i].has_value) {
            add_num(o, "value", c[i].value);
            add_num(o, "limit", c[i].limit);
        }
        cJSON_AddStringToObject(o, "text", c[i].text);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *regression_json(const struct chim_regression *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "metric", r->per_route ? "route_p95_ms" : r->label);
    if (r->per_route)
        cJSON_AddStringToObject(o, "route", r->label + 4);
    add_num(o, "baseline", r->base_median);
    add_num(o, "current", r->cur_median);
    add_num(o, "change_percent", r->change_percent);
    add_num(o, "ratio_of_medians", r->ratio);
    cJSON_AddStringToObject(o, "class", chim_class_name(r->cls));
    cJSON_AddStringToObject(o, "verdict", chim_verdict_name(r->verdict));
    if (r->p >= 0)
        add_num(o, "p_value", r->p);
    else
        cJSON_AddNullToObject(o, "p_value");
    cJSON_AddNumberToObject(o, "baseline_runs", (double)r->n_base);
    cJSON_AddNumberToObject(o, "current_runs", (double)r->n_cur);
    cJSON_AddBoolToObject(o, "exceeds_limit", r->exceeds);
    cJSON_AddBoolToObject(o, "fails", r->fails);
    return o;
}

cJSON *chim_analysis_to_json(const struct chim_analysis *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "gate", a->gates_passed == CHIM_GATES ? "PASS" : "FAIL");
    cJSON_AddNumberToObject(o, "gates_passed", a->gates_passed);
    cJSON_AddNumberToObject(o, "gates_total", CHIM_GATES);
    cJSON_AddNumberToObject(o, "score_percent", a->score);
    cJSON_AddItemToObject(o, "gates", checks_json(a->gates, CHIM_GATES));
    cJSON_AddNumberToObject(o, "targets_met", a->targets_met);
    cJSON_AddItemToObject(o, "targets", checks_json(a->targets, CHIM_TARGETS));
    cJSON *m = cJSON_AddObjectToObject(o, "metrics");
    for (int i = 0; i < CHIM_M_COUNT; i++)
        if (a->cur.has[i])
            add_num(m, chim_metric_name(i), a->cur.v[i]);
        else
            cJSON_AddNullToObject(m, chim_metric_name(i));
    cJSON_AddNumberToObject(o, "runs", (double)a->n_runs);
    if (a->have_baseline)
        cJSON_AddStringToObject(o, "baseline", a->baseline_name);
    else
        cJSON_AddNullToObject(o, "baseline");
    cJSON_AddNumberToObject(o, "baseline_runs", (double)a->n_base_runs);
    cJSON *regs = cJSON_AddArrayToObject(o, "regressions");
    for (size_t i = 0; i < a->n_reg; i++)
        cJSON_AddItemToArray(regs, regression_json(&a->reg[i]));
    return o;
}

int chim_gate_run_multi(const cJSON *const *reports, size_t n, const struct chim_config *cfg,
                        const cJSON *baseline, const char *bname, FILE *out, const char *junit_path)
{
    char err[512];
    struct chim_config defaults;
    if (!cfg) {
        if (chim_config_resolve(&defaults, NULL, NULL, 0, NULL, err, sizeof err)) {
            fprintf(stderr, "chimcollect: %s\n", err);
            return 2;
        }
        cfg = &defaults;
    }
    for (size_t i = 0; i < n; i++) {
        if (chim_report_validate(reports[i], "report", err, sizeof err)) {
            fprintf(stderr, "chimcollect: %s\n", err);
            return 2;
        }
    }
    if (baseline && chim_baseline_validate(baseline, bname ? bname : "baseline", err, sizeof err)) {
        fprintf(stderr, "chimcollect: %s\n", err);
        return 2;
    }
    struct chim_analysis *a = malloc(sizeof *a);
    if (!a || chim_analyze(reports, n, cfg, baseline, bname, a)) {
        free(a);
        fprintf(stderr, "chimcollect: gate: cannot analyze (out of memory or no report)\n");
        return 2;
    }
    chim_analysis_print(a, out);
    int rc = a->gates_passed == CHIM_GATES ? 0 : 1;
    if (junit_path && chim_junit_write(a, junit_path, err, sizeof err)) {
        fprintf(stderr, "chimcollect: %s\n", err);
        rc = 2;
    }
    free(a);
    return rc;
}

int chim_gate_run(const cJSON *report, const struct chim_config *cfg, const cJSON *baseline,
                  FILE *out, const char *junit_path)
{
    const cJSON *one[1] = {report};
    if (!report) {
        fprintf(stderr, "chimcollect: gate: no report\n");
        return 2;
    }
    return chim_gate_run_multi(one, 1, cfg, baseline, NULL, out, junit_path);
}
