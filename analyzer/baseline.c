/*
 * baseline.c - performance baselines: performance_baselines/
 * performance_baseline_<timestamp>.json (docs/BASELINE_FORMAT.md). A
 * baseline holds one or more runs; each run keeps a trimmed copy of its
 * report, so metrics are recomputed under the current measurement mapping,
 * plus the metrics as computed when it was saved (for humans and tools).
 * Files are untrusted: wrong schema or shape is a one-line error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyzer_internal.h"

#define PREFIX "performance_baseline_"

static int check_run(const cJSON *run, size_t i, const char *name, char *err, size_t errlen)
{
    if (!cJSON_IsObject(run))
        return chim__err(err, errlen, -EINVAL, "%s: runs[%zu] must be an object", name, i);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(run, "metrics");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(run, "report");
    if (!m && !r)
        return chim__err(err, errlen, -EINVAL, "%s: runs[%zu] has neither metrics nor report", name,
                         i);
    if (m && !cJSON_IsObject(m))
        return chim__err(err, errlen, -EINVAL, "%s: runs[%zu].metrics must be an object", name, i);
    for (const cJSON *it = m ? m->child : NULL; it; it = it->next)
        if (!cJSON_IsNumber(it) && !cJSON_IsNull(it))
            return chim__err(err, errlen, -EINVAL, "%s: runs[%zu].metrics.%s must be a number",
                             name, i, it->string);
    if (r) {
        char where[300];
        snprintf(where, sizeof where, "%s: runs[%zu].report", name, i);
        return chim_report_validate(r, where, err, errlen);
    }
    return 0;
}

int chim_baseline_validate(const cJSON *b, const char *name, char *err, size_t errlen)
{
    if (!cJSON_IsObject(b))
        return chim__err(err, errlen, -EINVAL, "%s: a baseline must be a JSON object", name);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(b, "schema");
    if (!cJSON_IsString(s))
        return chim__err(err, errlen, -EINVAL, "%s: no \"schema\" string: not a baseline", name);
    if (strcmp(s->valuestring, CHIM_BASELINE_SCHEMA))
        return chim__err(err, errlen, -EPROTO,
                         "%s: baseline schema '%s' is not supported (this build reads %s)", name,
                         s->valuestring, CHIM_BASELINE_SCHEMA);
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(b, "runs");
    if (!cJSON_IsArray(runs))
        return chim__err(err, errlen, -EINVAL, "%s: \"runs\" must be an array", name);
    if (!runs->child)
        return chim__err(err, errlen, -EINVAL, "%s: baseline has no runs", name);
    size_t i = 0;
    for (const cJSON *run = runs->child; run; run = run->next, i++) {
        int rc = check_run(run, i, name, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

cJSON *chim_baseline_load(const char *path, char *err, size_t errlen)
{
    cJSON *b = chim__parse_file(path, err, errlen);
    if (b && chim_baseline_validate(b, path, err, errlen)) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

cJSON *chim_baseline_new(const struct chim_config *cfg)
{
    char now[32];
    chim__iso_now(now, sizeof now);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "schema", CHIM_BASELINE_SCHEMA);
    cJSON_AddStringToObject(b, "generator", "chimcollect " CHIM_VERSION);
    cJSON_AddStringToObject(b, "created_at", now);
    if (cfg)
        cJSON_AddItemToObject(b, "config", chim_config_to_json(cfg));
    cJSON_AddArrayToObject(b, "runs");
    return b;
}

/* A copy of the report without the bulky parts a baseline never needs. */
static cJSON *trim(const cJSON *report)
{
    cJSON *t = cJSON_Duplicate(report, 1);
    static const char *drop[] = {"processes", "timeseries", "leaks", "analysis"};
    for (size_t i = 0; t && i < sizeof drop / sizeof drop[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(t, drop[i]);
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "memory"),
                                            "size_classes");
    return t;
}

static cJSON *metrics_json(const struct chim_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < CHIM_M_COUNT; i++)
        if (m->has[i])
            cJSON_AddNumberToObject(o, chim_metric_name(i), m->v[i]);
    return o;
}

int chim_baseline_add_run(cJSON *b, const cJSON *report, const struct chim_config *cfg,
                          const char *source, char *err, size_t errlen)
{
    int rc = chim_report_validate(report, source ? source : "report", err, errlen);
    if (rc)
        return rc;
    cJSON *runs = cJSON_GetObjectItemCaseSensitive(b, "runs");
    if (!cJSON_IsArray(runs))
        return chim__err(err, errlen, -EINVAL, "baseline: \"runs\" must be an array");
    struct chim_metrics m;
    chim_metrics_extract(report, cfg, &m);
    char now[32];
    chim__iso_now(now, sizeof now);
    cJSON *run = cJSON_CreateObject();
    cJSON_AddStringToObject(run, "source", source ? source : "live");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(report, "generated_at");
    cJSON_AddStringToObject(run, "generated_at", cJSON_IsString(gen) ? gen->valuestring : now);
    cJSON_AddStringToObject(run, "recorded_at", now);
    cJSON_AddItemToObject(run, "metrics", metrics_json(&m));
    cJSON_AddItemToObject(run, "report", trim(report));
    cJSON_AddItemToArray(runs, run);
    return 0;
}

size_t chim_baseline_run_count(const cJSON *b)
{
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(b, "runs");
    return cJSON_IsArray(runs) ? (size_t)cJSON_GetArraySize(runs) : 0;
}

int chim_baseline_run_metrics(const cJSON *b, size_t i, const struct chim_config *cfg,
                              struct chim_metrics *m)
{
    const cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(b, "runs"), (int)i);
    if (!run)
        return -ENOENT;
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(run, "report");
    if (cJSON_IsObject(rep)) {
        chim_metrics_extract(rep, cfg, m);
        return 0;
    }
    memset(m, 0, sizeof *m);
    const cJSON *mj = cJSON_GetObjectItemCaseSensitive(run, "metrics");
    for (int k = 0; k < CHIM_M_COUNT; k++) {
        m->has[k] = chim__num(mj, chim_metric_name(k), &m->v[k]);
        m->why[k] = m->has[k] ? NULL : "not in the baseline";
    }
    return 0;
}

int chim_baseline_write(const cJSON *b, const char *path, char *err, size_t errlen)
{
    char *text = cJSON_Print(b);
    if (!text)
        return chim__err(err, errlen, -ENOMEM, "%s: out of memory", path);
    size_t n = strlen(text);
    char *t2 = realloc(text, n + 2);
    if (t2) {
        text = t2;
        strcpy(text + n, "\n");
    }
    int rc = chim__write_text(path, text, err, errlen);
    free(text);
    return rc;
}

int chim_baseline_save(const cJSON *b, const char *dir, char *path, size_t len, char *err,
                       size_t errlen)
{
    int rc = chim__mkdirs(dir);
    if (rc)
        return chim__err(err, errlen, rc, "%s: cannot create directory: %s", dir, strerror(-rc));
    char stamp[32];
    chim__stamp(stamp, sizeof stamp);
    struct stat st;
    for (int seq = 1; seq < 1000; seq++) {
        int n = seq == 1 ? snprintf(path, len, "%s/" PREFIX "%s.json", dir, stamp)
                         : snprintf(path, len, "%s/" PREFIX "%s_%d.json", dir, stamp, seq);
        if (n < 0 || (size_t)n >= len)
            return chim__err(err, errlen, -ENAMETOOLONG, "%s: path too long", dir);
        if (stat(path, &st) != 0)
            return chim_baseline_write(b, path, err, errlen);
    }
    return chim__err(err, errlen, -EEXIST, "%s: too many baselines this second", dir);
}

static bool is_baseline_name(const char *n)
{
    size_t l = strlen(n);
    return !strncmp(n, PREFIX, strlen(PREFIX)) && l > strlen(PREFIX) + 5 &&
           !strcmp(n + l - 5, ".json");
}

static int by_version(const struct dirent **a, const struct dirent **b)
{
    return strverscmp((*a)->d_name, (*b)->d_name);
}

static int filter(const struct dirent *d)
{
    return is_baseline_name(d->d_name);
}

int chim_baseline_newest(const char *dir, char *path, size_t len)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, filter, by_version);
    if (n < 0)
        return -errno;
    int rc = n ? 0 : -ENOENT;
    if (n && snprintf(path, len, "%s/%s", dir, list[n - 1]->d_name) >= (int)len)
        rc = -ENAMETOOLONG;
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return rc;
}

static void list_one(const char *dir, const char *name, bool newest, FILE *out)
{
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cJSON *b = chim_baseline_load(path, err, sizeof err);
    if (!b) {
        fprintf(out, "  %-52s  invalid: %s\n", name, err);
        return;
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(b, "created_at");
    fprintf(out, "  %-52s  %4zu run%s  %s%s\n", name, chim_baseline_run_count(b),
            chim_baseline_run_count(b) == 1 ? " " : "s", cJSON_IsString(c) ? c->valuestring : "?",
            newest ? "  (newest, default)" : "");
    cJSON_Delete(b);
}

int chim_baseline_list(const char *dir, FILE *out, char *err, size_t errlen)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, filter, by_version);
    if (n < 0 && errno == ENOENT) {
        fprintf(out, "No baselines in %s/\n", dir);
        return 0;
    }
    if (n < 0)
        return chim__err(err, errlen, -errno, "%s: %s", dir, strerror(errno));
    if (!n)
        fprintf(out, "No baselines in %s/\n", dir);
    else
        fprintf(out, "Baselines in %s/ (oldest first):\n", dir);
    for (int i = 0; i < n; i++) {
        list_one(dir, list[i]->d_name, i == n - 1, out);
        free(list[i]);
    }
    free(list);
    return 0;
}

void chim_baseline_show(const cJSON *b, const struct chim_config *cfg, FILE *out)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(b, "created_at");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(b, "generator");
    size_t n = chim_baseline_run_count(b);
    fprintf(out, "Baseline created %s by %s, %zu run%s\n", cJSON_IsString(c) ? c->valuestring : "?",
            cJSON_IsString(g) ? g->valuestring : "?", n, n == 1 ? "" : "s");
    fprintf(out, "  %-24s", "metric");
    for (size_t i = 0; i < n && i < 8; i++)
        fprintf(out, "  run %-7zu", i + 1);
    fprintf(out, "  %s\n", "median");
    for (int k = 0; k < CHIM_M_COUNT; k++) {
        double vals[8];
        size_t nv = 0;
        fprintf(out, "  %-24s", chim_metric_name(k));
        for (size_t i = 0; i < n; i++) {
            struct chim_metrics m;
            chim_baseline_run_metrics(b, i, cfg, &m);
            if (i < 8 && m.has[k])
                fprintf(out, "  %-11.4g", m.v[k]);
            else if (i < 8)
                fprintf(out, "  %-11s", "-");
            if (m.has[k] && nv < 8)
                vals[nv++] = m.v[k];
        }
        if (nv)
            fprintf(out, "  %.4g\n", chim__median(vals, nv));
        else
            fprintf(out, "  no data\n");
    }
}
