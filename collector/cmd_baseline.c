/*
 * cmd_baseline.c - 'chimcollect baseline save|list|show': performance
 * baselines in performance_baselines/performance_baseline_<timestamp>.json.
 * 'save' stores one run per --report (or the live report); --append adds
 * the runs to the newest (or a given) baseline, so a baseline can hold the
 * repeated runs the regression test needs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chim_analyzer.h"
#include "commands.h"
#include "report.h"

#define MAX_RUNS 64

struct bl_args {
    const char *sub, *config, *dir, *bdir, *file;
    const char *reports[MAX_RUNS];
    char *sets[64];
    size_t nreports, nsets;
    bool append, json;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: chimcollect baseline save [--report FILE]... [--dir DIR] [--append [--file "
            "FILE]]\n"
            "       chimcollect baseline list\n"
            "       chimcollect baseline show [FILE] [--json]\n"
            "common options: [--config FILE] [--set KEY=VALUE]... [--baseline-dir DIR]\n\n"
            "Baselines live in performance_baselines/performance_baseline_<timestamp>.json\n"
            "(regression_analysis.baseline_dir); the newest is the default for 'gate'.\n"
            "  save      one run per --report (default: the live report of --dir); with\n"
            "            --append the runs are added to the newest baseline (or --file)\n"
            "  list      the baselines, oldest first, with their number of runs\n"
            "  show      a baseline's runs and medians (default: the newest)\n"
            "Exit status: 0 success, 2 usage or input error.\n");
}

static int parse(int argc, char **argv, struct bl_args *a)
{
    int i = 1;
    if (argc < 2)
        goto bad;
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
        return -1;
    a->sub = argv[1];
    for (i = 2; i < argc; i++) {
        const char *o = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(o, "-h") || !strcmp(o, "--help"))
            return -1;
        if (!strcmp(o, "--append") || !strcmp(o, "--json")) {
            *(o[2] == 'a' ? &a->append : &a->json) = true;
            continue;
        }
        if (o[0] != '-' && !a->file) {
            a->file = o;
            continue;
        }
        if (!has)
            goto bad;
        if (!strcmp(o, "--config"))
            a->config = argv[++i];
        else if (!strcmp(o, "--dir"))
            a->dir = argv[++i];
        else if (!strcmp(o, "--baseline-dir"))
            a->bdir = argv[++i];
        else if (!strcmp(o, "--file"))
            a->file = argv[++i];
        else if (!strcmp(o, "--report") && a->nreports < MAX_RUNS)
            a->reports[a->nreports++] = argv[++i];
        else if (!strcmp(o, "--set") && a->nsets < 64)
            a->sets[a->nsets++] = argv[++i];
        else
            goto bad;
    }
    return 0;
bad:
    fprintf(stderr, "chimcollect baseline: %s '%s'\n",
            argc < 2 ? "missing subcommand" : "unknown or incomplete option",
            argc < 2 ? "" : argv[i < argc ? i : argc - 1]);
    usage(stderr);
    return 2;
}

/* Adds one run per report (or the live report) to b; 0 or 2. */
static int add_runs(cJSON *b, const struct bl_args *a, const struct chim_config *cfg)
{
    char err[512];
    if (!a->nreports) {
        cJSON *r = chim_collect_report_json(a->dir);
        int rc = r ? chim_baseline_add_run(b, r, cfg, "live", err, sizeof err) : -ENOENT;
        if (!r)
            snprintf(err, sizeof err, "no live report (use --report FILE)");
        cJSON_Delete(r);
        if (rc)
            fprintf(stderr, "chimcollect baseline: %s\n", err);
        return rc ? 2 : 0;
    }
    for (size_t i = 0; i < a->nreports; i++) {
        cJSON *r = chim_report_load(a->reports[i], err, sizeof err);
        int rc = r ? chim_baseline_add_run(b, r, cfg, a->reports[i], err, sizeof err) : -EINVAL;
        cJSON_Delete(r);
        if (rc) {
            fprintf(stderr, "chimcollect baseline: %s\n", err);
            return 2;
        }
    }
    return 0;
}

static int do_save(const struct bl_args *a, const struct chim_config *cfg)
{
    char path[4200], err[512];
    cJSON *b = NULL;
    const char *dir = cfg->regression.baseline_dir;
    if (a->append) {
        if (a->file)
            snprintf(path, sizeof path, "%s", a->file);
        else if (chim_baseline_newest(dir, path, sizeof path) != 0) {
            fprintf(stderr, "chimcollect baseline: no baseline in %s/ to append to\n", dir);
            return 2;
        }
        b = chim_baseline_load(path, err, sizeof err);
    } else {
        b = chim_baseline_new(cfg);
    }
    int rc = b ? add_runs(b, a, cfg) : 2;
    if (!b)
        fprintf(stderr, "chimcollect baseline: %s\n", err);
    if (!rc && (a->append ? chim_baseline_write(b, path, err, sizeof err)
                          : chim_baseline_save(b, dir, path, sizeof path, err, sizeof err))) {
        fprintf(stderr, "chimcollect baseline: %s\n", err);
        rc = 2;
    }
    if (!rc)
        printf("Baseline %s: %s (%zu run%s)\n", a->append ? "updated" : "saved", path,
               chim_baseline_run_count(b), chim_baseline_run_count(b) == 1 ? "" : "s");
    cJSON_Delete(b);
    return rc;
}

static int do_show(const struct bl_args *a, const struct chim_config *cfg)
{
    char path[4200], err[512];
    if (a->file)
        snprintf(path, sizeof path, "%s", a->file);
    else if (chim_baseline_newest(cfg->regression.baseline_dir, path, sizeof path) != 0) {
        fprintf(stderr, "chimcollect baseline: no baseline in %s/\n", cfg->regression.baseline_dir);
        return 2;
    }
    cJSON *b = chim_baseline_load(path, err, sizeof err);
    if (!b) {
        fprintf(stderr, "chimcollect baseline: %s\n", err);
        return 2;
    }
    if (a->json) {
        char *t = cJSON_Print(b);
        if (t)
            puts(t);
        free(t);
    } else {
        printf("%s\n", path);
        chim_baseline_show(b, cfg, stdout);
    }
    cJSON_Delete(b);
    return 0;
}

int chim_cmd_baseline(int argc, char **argv)
{
    struct bl_args a = {0};
    struct chim_config cfg;
    char err[512];
    int rc = parse(argc, argv, &a);
    if (rc) {
        if (rc < 0)
            usage(stdout);
        return rc < 0 ? 0 : rc;
    }
    if (chim_config_resolve(&cfg, a.config, a.sets, a.nsets, stderr, err, sizeof err)) {
        fprintf(stderr, "chimcollect baseline: %s\n", err);
        return 2;
    }
    if (a.bdir)
        snprintf(cfg.regression.baseline_dir, sizeof cfg.regression.baseline_dir, "%s", a.bdir);
    if (!strcmp(a.sub, "save"))
        return do_save(&a, &cfg);
    if (!strcmp(a.sub, "show"))
        return do_show(&a, &cfg);
    if (!strcmp(a.sub, "list")) {
        if (chim_baseline_list(cfg.regression.baseline_dir, stdout, err, sizeof err)) {
            fprintf(stderr, "chimcollect baseline: %s\n", err);
            return 2;
        }
        return 0;
    }
    fprintf(stderr, "chimcollect baseline: unknown subcommand '%s' (save, list, show)\n", a.sub);
    return 2;
}
