/*
 * report_files.c - the seed's report files: performance_report_<ts>.json
 * (the collector's report with an "analysis" object: gates, targets,
 * regressions), performance_summary_<ts>.csv (one row per metric, stable
 * columns, RFC 4180) and performance_dashboard.html (report_html.c), plus
 * chim_report_write_files(), which the collector's report verb calls.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer_internal.h"

int chim_report_write_json(const cJSON *report, const struct chim_analysis *a, FILE *out)
{
    cJSON *copy = cJSON_Duplicate(report, 1);
    if (!copy)
        return -ENOMEM;
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "analysis");
    if (a)
        cJSON_AddItemToObject(copy, "analysis", chim_analysis_to_json(a));
    char *text = cJSON_Print(copy);
    cJSON_Delete(copy);
    if (!text)
        return -ENOMEM;
    int rc = fputs(text, out) < 0 || fputs("\n", out) < 0 ? -EIO : 0;
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ CSV */

#define CSV_HEADER "metric,scope,value,unit,limit,status,baseline,change_percent,class,verdict"

static void csv_field(FILE *f, const char *s, bool last)
{
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputs(last ? "\r\n" : ",", f);
}

static const char *num(char *buf, size_t len, bool have, double v)
{
    if (!have || !isfinite(v))
        buf[0] = '\0';
    else
        snprintf(buf, len, "%.10g", v);
    return buf;
}

struct row {
    const char *metric, *scope, *unit, *status, *cls, *verdict;
    bool has_v, has_l, has_b, has_c;
    double v, l, b, c;
};

static void csv_row(FILE *f, const struct row *r)
{
    char b1[40], b2[40], b3[40], b4[40];
    csv_field(f, r->metric, false);
    csv_field(f, r->scope, false);
    csv_field(f, num(b1, sizeof b1, r->has_v, r->v), false);
    csv_field(f, r->unit ? r->unit : "", false);
    csv_field(f, num(b2, sizeof b2, r->has_l, r->l), false);
    csv_field(f, r->status ? r->status : "", false);
    csv_field(f, num(b3, sizeof b3, r->has_b, r->b), false);
    csv_field(f, num(b4, sizeof b4, r->has_c, r->c), false);
    csv_field(f, r->cls ? r->cls : "", false);
    csv_field(f, r->verdict ? r->verdict : "", true);
}

static const char *check_unit(const char *name)
{
    static const struct {
        const char *n, *u;
    } u[] = {{"response_time", "ms"},
             {"throughput", "rps"},
             {"memory", "MB"},
             {"cache", "ratio"},
             {"error_rate", "ratio"},
             {"regression_check", "count"},
             {"api_response_p95_ms", "ms"},
             {"llm_provider_p95_ms", "ms"},
             {"transformation_p95_ms", "ms"},
             {"concurrent_requests_per_second", "rps"},
             {"memory_optimization_percent", "percent"},
             {"cache_hit_ratio_percent", "percent"}};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (!strcmp(u[i].n, name))
            return u[i].u;
    return "";
}

static void csv_checks(FILE *f, const struct chim_check *c, int n, const char *scope)
{
    static const char *st[] = {"PASS", "FAIL", "NO DATA"};
    for (int i = 0; i < n; i++) {
        struct row r = {.metric = c[i].name,
                        .scope = scope,
                        .unit = check_unit(c[i].name),
                        .status = st[c[i].status],
                        .has_v = c[i].has_value,
                        .v = c[i].value,
                        .has_l = c[i].has_value,
                        .l = c[i].limit};
        csv_row(f, &r);
    }
}

static void csv_summary(FILE *f, const struct chim_analysis *a)
{
    for (int id = 0; id < CHIM_M_COUNT; id++) {
        struct row r = {.metric = chim_metric_name(id),
                        .scope = "summary",
                        .unit = chim_metric_unit(id),
                        .has_v = a->cur.has[id],
                        .v = a->cur.v[id]};
        for (size_t i = 0; i < a->n_reg; i++) {
            const struct chim_regression *g = &a->reg[i];
            if (g->per_route || g->metric != (enum chim_metric_id)id)
                continue;
            r.has_b = r.has_c = true;
            r.b = g->base_median;
            r.c = g->change_percent;
            r.cls = chim_class_name(g->cls);
            r.verdict = chim_verdict_name(g->verdict);
        }
        csv_row(f, &r);
    }
    for (size_t i = 0; i < a->n_reg; i++) {
        const struct chim_regression *g = &a->reg[i];
        if (!g->per_route)
            continue;
        char scope[200];
        snprintf(scope, sizeof scope, "route %s", g->label + 4);
        struct row r = {.metric = "p95_ms_vs_baseline",
                        .scope = scope,
                        .unit = "ms",
                        .has_v = true,
                        .v = g->cur_median,
                        .has_b = true,
                        .b = g->base_median,
                        .has_c = true,
                        .c = g->change_percent,
                        .cls = chim_class_name(g->cls),
                        .verdict = chim_verdict_name(g->verdict)};
        csv_row(f, &r);
    }
}

/* One row per numeric field of each entry of arr, scoped by its name. */
static void csv_entries(FILE *f, const cJSON *arr, const char *k1, const char *k2, const char *kind)
{
    static const char *fields[] = {"count",  "errors", "p50_ms",  "p90_ms", "p95_ms",
                                   "p99_ms", "max_ms", "mean_ms", "hits",   "misses"};
    const cJSON *e;
    cJSON_ArrayForEach(e, (cJSON_IsArray(arr) ? arr : NULL))
    {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, k1);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, k2);
        char scope[600];
        snprintf(scope, sizeof scope, "%s %s %s", kind, cJSON_IsString(a) ? a->valuestring : "",
                 cJSON_IsString(b) ? b->valuestring : "");
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            struct row r = {.metric = fields[i], .scope = scope};
            if (!chim__num(e, fields[i], &r.v))
                continue;
            r.has_v = true;
            r.unit = strstr(fields[i], "_ms") ? "ms" : "count";
            csv_row(f, &r);
        }
    }
}

static void csv_object(FILE *f, const cJSON *o, const char *scope)
{
    for (const cJSON *it = cJSON_IsObject(o) ? o->child : NULL; it; it = it->next) {
        if (!cJSON_IsNumber(it))
            continue;
        const char *unit = strstr(it->string, "bytes")   ? "bytes"
                           : strstr(it->string, "_s")    ? "s"
                           : strstr(it->string, "ratio") ? "ratio"
                                                         : "count";
        struct row r = {.metric = it->string,
                        .scope = scope,
                        .unit = unit,
                        .has_v = true,
                        .v = it->valuedouble};
        csv_row(f, &r);
    }
}

int chim_report_write_csv(const cJSON *rep, const struct chim_analysis *a, FILE *f)
{
    fputs(CSV_HEADER "\r\n", f);
    csv_checks(f, a->gates, CHIM_GATES, "gate");
    csv_checks(f, a->targets, CHIM_TARGETS, "target");
    csv_summary(f, a);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(rep, "http_server");
    csv_object(f, h, "http_server");
    csv_entries(f, cJSON_GetObjectItemCaseSensitive(h, "routes"), "method", "route", "route");
    csv_entries(f, cJSON_GetObjectItemCaseSensitive(rep, "upstreams"), "peer", "host", "upstream");
    csv_object(f, cJSON_GetObjectItemCaseSensitive(rep, "memory"), "memory");
    csv_object(f, cJSON_GetObjectItemCaseSensitive(rep, "cache"), "cache");
    csv_object(f, cJSON_GetObjectItemCaseSensitive(rep, "resources"), "resources");
    csv_object(f, cJSON_GetObjectItemCaseSensitive(rep, "network"), "network");
    return ferror(f) ? -EIO : 0;
}

/* ------------------------------------------------------------ the files */

static int load_baseline(const struct chim_config *cfg, cJSON **out, char *name, size_t nlen,
                         char *err, size_t errlen)
{
    *out = NULL;
    int rc = chim_baseline_newest(cfg->regression.baseline_dir, name, nlen);
    if (rc == -ENOENT)
        return 0;
    if (rc)
        return chim__err(err, errlen, rc, "%s: %s", cfg->regression.baseline_dir, strerror(-rc));
    *out = chim_baseline_load(name, err, errlen);
    return *out ? 0 : -EINVAL;
}

static int write_one(const cJSON *rep, const struct chim_analysis *a, const char *fmt,
                     const char *path, char *err, size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return chim__err(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
    int rc = !strcmp(fmt, "json")  ? chim_report_write_json(rep, a, f)
             : !strcmp(fmt, "csv") ? chim_report_write_csv(rep, a, f)
                                   : chim_report_write_html(rep, a, f);
    if (fclose(f) != 0 && !rc)
        rc = -EIO;
    if (!rc && rename(tmp, path) != 0)
        rc = -errno;
    if (rc) {
        remove(tmp);
        return chim__err(err, errlen, rc, "%s: cannot write: %s", path, strerror(-rc));
    }
    return 0;
}

static int file_name(const char *fmt, const char *outdir, char *path, size_t len)
{
    char stamp[32];
    chim__stamp(stamp, sizeof stamp);
    int n =
        !strcmp(fmt, "json")  ? snprintf(path, len, "%s/performance_report_%s.json", outdir, stamp)
        : !strcmp(fmt, "csv") ? snprintf(path, len, "%s/performance_summary_%s.csv", outdir, stamp)
                              : snprintf(path, len, "%s/performance_dashboard.html", outdir);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int chim_report_write_files(const cJSON *rep, const char *fmt, const char *outdir,
                            const struct chim_config *cfg_in, const cJSON *baseline,
                            bool use_baseline, char *path, size_t len, char *err, size_t errlen)
{
    struct chim_config cfg;
    char bname[4200] = "baseline";
    cJSON *own = NULL;
    if (!fmt || (strcmp(fmt, "json") && strcmp(fmt, "csv") && strcmp(fmt, "html")))
        return chim__err(err, errlen, -EINVAL, "unknown report format '%s' (json, csv, html)",
                         fmt ? fmt : "");
    int rc = chim_report_validate(rep, "report", err, errlen);
    if (!rc && cfg_in)
        cfg = *cfg_in;
    else if (!rc)
        rc = chim_config_resolve(&cfg, NULL, NULL, 0, NULL, err, errlen);
    if (!rc && use_baseline && !baseline) {
        rc = load_baseline(&cfg, &own, bname, sizeof bname, err, errlen);
        baseline = own;
    }
    if (!rc && (rc = chim__mkdirs(outdir ? outdir : ".")))
        chim__err(err, errlen, rc, "%s: cannot create directory: %s", outdir, strerror(-rc));
    if (!rc && (rc = file_name(fmt, outdir ? outdir : ".", path, len)))
        chim__err(err, errlen, rc, "%s: path too long", outdir);
    struct chim_analysis *a = rc ? NULL : malloc(sizeof *a);
    const cJSON *one[1] = {rep};
    if (!rc && (!a || chim_analyze(one, 1, &cfg, use_baseline ? baseline : NULL, bname, a)))
        rc = chim__err(err, errlen, -ENOMEM, "out of memory");
    if (!rc)
        rc = write_one(rep, a, fmt, path, err, errlen);
    free(a);
    cJSON_Delete(own);
    return rc;
}
