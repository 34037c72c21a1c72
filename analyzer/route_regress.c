/*
 * route_regress.c - per-route P95 regressions: every route of the current
 * runs (busiest first, at most CHIM_MAX_ROUTE_REG) that the baseline's
 * stored reports also have is compared like any other metric, one P95 per
 * run, so that a regression on one small route is not hidden inside the
 * API's aggregate.
 */
#include <stdlib.h>
#include <string.h>

#include "analyzer_internal.h"

/* "METHOD route" of a route entry; false if it has no route string. */
static bool route_key(const cJSON *r, char *buf, size_t len)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "method");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "route");
    if (!cJSON_IsString(p))
        return false;
    snprintf(buf, len, "%s %s", cJSON_IsString(m) ? m->valuestring : "", p->valuestring);
    return true;
}

static const cJSON *routes_of(const cJSON *rep)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(rep, "http_server");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(h, "routes");
    return cJSON_IsArray(r) ? r : NULL;
}

/* The P95 of route key in rep, if it served requests. */
static bool route_p95(const cJSON *rep, const char *key, double *out)
{
    const cJSON *r;
    char k[160];
    double count;
    cJSON_ArrayForEach(r, routes_of(rep))
    {
        if (route_key(r, k, sizeof k) && !strcmp(k, key) && chim__num(r, "count", &count) &&
            count > 0 && chim__num(r, "p95_ms", out))
            return true;
    }
    return false;
}

static const cJSON *run_report(const cJSON *b, size_t i)
{
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(b, "runs");
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(runs, (int)i), "report");
}

static int by_count(const void *a, const void *b)
{
    double x = 0, y = 0;
    chim__num(*(const cJSON *const *)a, "count", &x);
    chim__num(*(const cJSON *const *)b, "count", &y);
    return (x < y) - (x > y);
}

/* Compares one route; appends a row when both sides have it. */
static void one_route(struct chim_analysis *a, const char *key, const cJSON *const *reports,
                      size_t n, const cJSON *b, const struct chim_config *cfg, double *x, double *y)
{
    size_t nb = chim_baseline_run_count(b), kx = 0, ky = 0;
    for (size_t i = 0; i < n; i++)
        kx += route_p95(reports[i], key, &x[kx]);
    for (size_t i = 0; i < nb; i++)
        ky += route_p95(run_report(b, i), key, &y[ky]);
    if (!kx || !ky)
        return;
    struct chim_regression *r = &a->reg[a->n_reg++];
    chim_regression_compare(CHIM_M_API_P95, y, ky, x, kx, cfg, r);
    r->per_route = true;
    snprintf(r->label, sizeof r->label, "p95 %.150s", key);
}

void chim__route_regressions(struct chim_analysis *a, const cJSON *const *reports, size_t n,
                             const cJSON *b, const struct chim_config *cfg)
{
    const cJSON *routes = routes_of(reports[0]);
    size_t nr = routes ? (size_t)cJSON_GetArraySize(routes) : 0, k = 0;
    const cJSON **list = calloc(nr + 1, sizeof *list);
    double *x = calloc(n + 1, sizeof *x);
    double *y = calloc(chim_baseline_run_count(b) + 1, sizeof *y);
    for (const cJSON *r = routes ? routes->child : NULL; list && r; r = r->next)
        list[k++] = r;
    if (list && x && y) {
        qsort(list, k, sizeof *list, by_count);
        for (size_t i = 0, done = 0; i < k && done < CHIM_MAX_ROUTE_REG; i++) {
            char key[160];
            size_t before = a->n_reg;
            if (route_key(list[i], key, sizeof key))
                one_route(a, key, reports, n, b, cfg, x, y);
            done += a->n_reg > before;
        }
    }
    free(list);
    free(x);
    free(y);
}
