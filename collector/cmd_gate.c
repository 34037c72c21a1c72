/*
 * cmd_gate.c - 'chimcollect gate': checks the seed's six performance gates
 * (and reports the six targets and the regressions against the newest
 * baseline) on a saved report or, without --report, on a live report of
 * the segments in --dir. Exit 0 all gates pass, 1 a gate failed or had no
 * data, 2 usage or input error.
 */
#include <stdlib.h>
#include <string.h>

#include "chim_analyzer.h"
#include "commands.h"
#include "report.h"

#define MAX_RUNS 64

struct gate_args {
    const char *config, *baseline, *junit, *dir, *json_out;
    const char *reports[MAX_RUNS];
    char *sets[64];
    size_t nreports, nsets;
    bool no_baseline;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: chimcollect gate [--config FILE] [--report FILE]... [--baseline FILE | "
            "--no-baseline]\n"
            "                        [--junit FILE] [--json FILE] [--set KEY=VALUE]... [--dir "
            "DIR]\n\n"
            "Checks the performance gates (response_time, throughput, memory, cache,\n"
            "error_rate, regression_check) and prints the targets and regressions.\n\n"
            "  --config FILE     JSON config (performance_targets, performance_gates, ...)\n"
            "  --report FILE     a saved report (chimcollect report --format json); repeat it\n"
            "                    for several runs of the same build (regressions are then\n"
            "                    tested with a Mann-Whitney U test). Default: live segments.\n"
            "  --dir DIR         segment directory for the live report\n"
            "  --baseline FILE   baseline to compare with (default: the newest in\n"
            "                    regression_analysis.baseline_dir, performance_baselines/)\n"
            "  --no-baseline     do not compare (regression_check then says NO DATA)\n"
            "  --junit FILE      also write JUnit XML for CI\n"
            "  --json FILE       also write the analysis as JSON\n"
            "  --set KEY=VALUE   override a config key, e.g. --set max_memory_mb=2048\n\n"
            "Precedence: defaults < --config < PERF_* environment < --set.\n"
            "Exit status: 0 all gates pass, 1 a gate failed or had no data, 2 usage or input "
            "error.\n");
}

/* Returns 0 on success, 2 after printing a usage error, -1 for --help. */
static int parse(int argc, char **argv, struct gate_args *a)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *o = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(o, "-h") || !strcmp(o, "--help"))
            return -1;
        if (!strcmp(o, "--no-baseline")) {
            a->no_baseline = true;
            continue;
        }
        if (!has)
            goto bad;
        if (!strcmp(o, "--config"))
            a->config = argv[++i];
        else if (!strcmp(o, "--baseline"))
            a->baseline = argv[++i];
        else if (!strcmp(o, "--junit"))
            a->junit = argv[++i];
        else if (!strcmp(o, "--json"))
            a->json_out = argv[++i];
        else if (!strcmp(o, "--dir"))
            a->dir = argv[++i];
        else if (!strcmp(o, "--report") && a->nreports < MAX_RUNS)
            a->reports[a->nreports++] = argv[++i];
        else if (!strcmp(o, "--set") && a->nsets < 64)
            a->sets[a->nsets++] = argv[++i];
        else
            goto bad;
    }
    return 0;
bad:
    fprintf(stderr, "chimcollect gate: unknown or incomplete option '%s'\n", argv[i]);
    usage(stderr);
    return 2;
}

/* Loads the reports (or the live one) into runs[]; 0 or 2. */
static int load_runs(const struct gate_args *a, cJSON **runs, size_t *n)
{
    char err[512];
    *n = 0;
    if (!a->nreports) {
        runs[0] = chim_collect_report_json(a->dir);
        if (!runs[0]) {
            fprintf(stderr, "chimcollect gate: no live report from %s (use --report FILE)\n",
                    a->dir ? a->dir : "the default segment directory");
            return 2;
        }
        *n = 1;
        return 0;
    }
    for (size_t i = 0; i < a->nreports; i++) {
        runs[i] = chim_report_load(a->reports[i], err, sizeof err);
        if (!runs[i]) {
            fprintf(stderr, "chimcollect gate: %s\n", err);
            return 2;
        }
        *n = i + 1;
    }
    return 0;
}

/* The explicit or newest baseline; *b stays NULL when there is none. */
static int load_baseline(const struct gate_args *a, const struct chim_config *cfg, cJSON **b,
                         char *name, size_t len)
{
    char err[512];
    *b = NULL;
    if (a->no_baseline)
        return 0;
    if (a->baseline)
        snprintf(name, len, "%s", a->baseline);
    else if (chim_baseline_newest(cfg->regression.baseline_dir, name, len) != 0)
        return 0;
    *b = chim_baseline_load(name, err, sizeof err);
    if (!*b) {
        fprintf(stderr, "chimcollect gate: %s\n", err);
        return 2;
    }
    return 0;
}

static int write_json(const char *path, const cJSON *const *runs, size_t n,
                      const struct chim_config *cfg, const cJSON *b, const char *bname)
{
    struct chim_analysis *an = malloc(sizeof *an);
    char err[512];
    int rc = !an || chim_analyze(runs, n, cfg, b, bname, an);
    cJSON *j = rc ? NULL : chim_analysis_to_json(an);
    char *text = j ? cJSON_Print(j) : NULL;
    if (!text || chim_write_file(path, text, err, sizeof err)) {
        fprintf(stderr, "chimcollect gate: %s\n", text ? err : "cannot build the JSON");
        rc = 2;
    }
    free(text);
    cJSON_Delete(j);
    free(an);
    return rc ? 2 : 0;
}

int chim_cmd_gate(int argc, char **argv)
{
    struct gate_args a = {0};
    struct chim_config cfg;
    char err[512], bname[4200] = "";
    cJSON *runs[MAX_RUNS] = {0}, *b = NULL;
    size_t n = 0;
    int rc = parse(argc, argv, &a);
    if (rc) {
        if (rc < 0)
            usage(stdout);
        return rc < 0 ? 0 : rc;
    }
    if (chim_config_resolve(&cfg, a.config, a.sets, a.nsets, stderr, err, sizeof err)) {
        fprintf(stderr, "chimcollect gate: %s\n", err);
        return 2;
    }
    rc = load_runs(&a, runs, &n);
    if (!rc)
        rc = load_baseline(&a, &cfg, &b, bname, sizeof bname);
    if (!rc)
        rc = chim_gate_run_multi((const cJSON *const *)runs, n, &cfg, b, bname, stdout, a.junit);
    if (rc != 2 && a.json_out &&
        write_json(a.json_out, (const cJSON *const *)runs, n, &cfg, b, bname))
        rc = 2;
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(runs[i]);
    cJSON_Delete(b);
    return rc;
}
