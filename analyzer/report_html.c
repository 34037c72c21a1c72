/*
 * report_html.c - performance_dashboard.html: one self-contained file (no
 * scripts, no fonts, no network) whose charts are inline SVG: latency
 * percentiles per route, throughput and memory over time (from
 * "timeseries"), the top leak sites (from "leaks"), the gate and target
 * tables and the regressions against the baseline. Every chart says
 * "No data" instead of drawing an empty axis.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer_internal.h"

#define W      900
#define LABELW 300

static const char *colors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f"};

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
}

/* Rounds up to 1, 2 or 5 x 10^k so axis ticks read well. */
static double nice_max(double v)
{
    if (!(v > 0) || !isfinite(v))
        return 1;
    static const double steps[] = {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10};
    double p = pow(10, floor(log10(v))), m = v / p;
    size_t i = 0;
    while (i < 10 && steps[i] < m * (1 - 1e-12))
        i++;
    return steps[i] * p;
}

static void no_data(FILE *f, const char *why)
{
    fprintf(f, "<p class=\"nodata\">No data: ");
    esc(f, why);
    fprintf(f, "</p>\n");
}

static void legend(FILE *f, double y, const char *const *series, size_t k)
{
    for (size_t s = 0; s < k; s++) {
        double x = LABELW + (double)s * 110;
        fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" fill=\"%s\"/>", x, y,
                colors[s % 5]);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">", x + 16, y + 11);
        esc(f, series[s]);
        fputs("</text>", f);
    }
    fputc('\n', f);
}

/* Horizontal grouped bars: rows x k values (row-major), one colour per series. */
static void hbars(FILE *f, const char *label, size_t rows, char (*labels)[160], const double *v,
                  size_t k, const char *const *series, const char *unit)
{
    double max = 0;
    for (size_t i = 0; i < rows * k; i++)
        max = isfinite(v[i]) && v[i] > max ? v[i] : max;
    max = nice_max(max);
    double rowh = (double)k * 13 + 12, plot = W - LABELW - 60;
    double h = 30 + (double)rows * rowh + 30;
    fprintf(f,
            "<svg role=\"img\" aria-label=\"%s\" width=\"%d\" height=\"%.0f\" "
            "viewBox=\"0 0 %d %.0f\" xmlns=\"http://www.w3.org/2000/svg\">\n",
            label, W, h, W, h);
    for (int t = 0; t <= 4; t++) {
        double x = LABELW + plot * t / 4;
        fprintf(f, "<line x1=\"%.1f\" y1=\"22\" x2=\"%.1f\" y2=\"%.0f\" class=\"grid\"/>", x, x,
                h - 30);
        fprintf(f, "<text x=\"%.1f\" y=\"16\" text-anchor=\"middle\">%.4g%s</text>\n", x,
                max * t / 4, unit);
    }
    for (size_t r = 0; r < rows; r++) {
        double y = 26 + (double)r * rowh;
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", LABELW - 8, y + rowh / 2 + 2);
        esc(f, labels[r]);
        fputs("</text>", f);
        for (size_t s = 0; s < k; s++) {
            double val = v[r * k + s], bw = isfinite(val) && val > 0 ? plot * val / max : 0;
            fprintf(f,
                    "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"11\" fill=\"%s\">"
                    "<title>%s: %.4g%s</title></rect>",
                    LABELW, y + (double)s * 13, bw, colors[s % 5], series[s], val, unit);
        }
        fputc('\n', f);
    }
    legend(f, h - 22, series, k);
    fputs("</svg>\n", f);
}

/* Lines over x (seconds) for k series of n points each (row-major ys). */
static void lines(FILE *f, const char *label, size_t n, const double *x, const double *ys, size_t k,
                  const char *const *series, const char *unit)
{
    double xmax = 0, ymax = 0, L = 80, R = 20, T = 20, B = 60, H = 300;
    for (size_t i = 0; i < n; i++) {
        xmax = x[i] > xmax ? x[i] : xmax;
        for (size_t s = 0; s < k; s++)
            ymax = ys[s * n + i] > ymax ? ys[s * n + i] : ymax;
    }
    xmax = xmax > 0 ? xmax : 1;
    ymax = nice_max(ymax);
    double pw = W - L - R, ph = H - T - B;
    fprintf(f,
            "<svg role=\"img\" aria-label=\"%s\" width=\"%d\" height=\"%.0f\" "
            "viewBox=\"0 0 %d %.0f\" xmlns=\"http://www.w3.org/2000/svg\">\n",
            label, W, H, W, H);
    for (int t = 0; t <= 4; t++) {
        double y = T + ph - ph * t / 4, xx = L + pw * t / 4;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" class=\"grid\"/>", L, y,
                L + pw, y);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.4g%s</text>", L - 6, y + 4,
                ymax * t / 4, unit);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.4gs</text>\n", xx,
                T + ph + 16, xmax * t / 4);
    }
    for (size_t s = 0; s < k; s++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                colors[s % 5]);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%.1f,%.1f ", L + pw * x[i] / xmax, T + ph - ph * ys[s * n + i] / ymax);
        fputs("\"/>\n", f);
    }
    legend(f, H - 24, series, k);
    fputs("</svg>\n", f);
}

/* ------------------------------------------------------------ sections */

static int by_count(const void *a, const void *b)
{
    double x = 0, y = 0;
    chim__num(*(const cJSON *const *)a, "count", &x);
    chim__num(*(const cJSON *const *)b, "count", &y);
    return (x < y) - (x > y);
}

static void latency_section(FILE *f, const cJSON *rep)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(rep, "http_server");
    const cJSON *routes = cJSON_GetObjectItemCaseSensitive(h, "routes");
    int n = cJSON_IsArray(routes) ? cJSON_GetArraySize(routes) : 0;
    fputs("<section id=\"latency\"><h2>Latency percentiles per route</h2>\n", f);
    if (!n) {
        no_data(f, "no HTTP requests were captured");
        fputs("</section>\n", f);
        return;
    }
    const cJSON **r = calloc((size_t)n, sizeof *r);
    size_t rows = 0;
    for (const cJSON *it = routes->child; r && it; it = it->next)
        r[rows++] = it;
    if (r)
        qsort(r, rows, sizeof *r, by_count);
    rows = rows > 15 ? 15 : rows;
    static const char *pk[] = {"p50_ms", "p90_ms", "p95_ms", "p99_ms"};
    static const char *series[] = {"P50", "P90", "P95", "P99"};
    char(*labels)[160] = calloc(rows + 1, sizeof *labels);
    double *v = calloc(rows * 4 + 1, sizeof *v);
    for (size_t i = 0; labels && v && i < rows; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r[i], "method");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(r[i], "route");
        snprintf(labels[i], sizeof labels[i], "%s %s", cJSON_IsString(m) ? m->valuestring : "",
                 cJSON_IsString(p) ? p->valuestring : "?");
        for (int s = 0; s < 4; s++)
            if (!chim__num(r[i], pk[s], &v[i * 4 + s]))
                v[i * 4 + s] = 0;
    }
    if (labels && v)
        hbars(f, "latency percentiles per route", rows, labels, v, 4, series, "ms");
    free(labels);
    free(v);
    free(r);
    fputs("</section>\n", f);
}

/* Per-interval counts; a cumulative series (non-decreasing, ending at the
 * report's total) is differenced first. */
static void throughput_points(const cJSON *rep, const cJSON *ts, size_t n, double *x, double *y)
{
    double total = -1, prev_t = 0, prev = 0;
    bool mono = n > 2;
    chim__num(cJSON_GetObjectItemCaseSensitive(rep, "http_server"), "requests", &total);
    for (size_t i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(ts, (int)i);
        x[i] = y[i] = 0;
        chim__num(e, "t", &x[i]);
        chim__num(e, "requests", &y[i]);
        mono = mono && (i == 0 || y[i] >= y[i - 1]);
    }
    bool cumulative = mono && total > 0 && fabs(y[n - 1] - total) <= total * 0.01;
    for (size_t i = 0; i < n; i++) {
        double dt = x[i] - prev_t, c = cumulative ? y[i] - prev : y[i];
        prev = y[i];
        prev_t = x[i];
        y[i] = dt > 0 ? c / dt : 0;
    }
}

static void timeseries_section(FILE *f, const cJSON *rep)
{
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(rep, "timeseries");
    size_t n = cJSON_IsArray(ts) ? (size_t)cJSON_GetArraySize(ts) : 0;
    double *x = calloc(n + 1, sizeof *x), *y = calloc(2 * n + 1, sizeof *y);
    fputs("<section id=\"throughput\"><h2>Throughput over time</h2>\n", f);
    if (n < 2 || !x || !y) {
        no_data(f, "no time series in the report");
    } else {
        static const char *s1[] = {"requests/s"};
        throughput_points(rep, ts, n, x, y);
        lines(f, "throughput over time", n, x, y, 1, s1, "");
    }
    fputs("</section>\n<section id=\"memory\"><h2>Memory over time</h2>\n", f);
    bool any = false;
    for (size_t i = 0; n >= 2 && x && y && i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(ts, (int)i);
        y[i] = y[n + i] = 0;
        any |= chim__num(e, "rss_bytes", &y[i]);
        any |= chim__num(e, "live_bytes", &y[n + i]);
        y[i] /= 1048576.0;
        y[n + i] /= 1048576.0;
    }
    static const char *s2[] = {"RSS (MB)", "live heap (MB)"};
    if (any)
        lines(f, "memory over time", n, x, y, 2, s2, "MB");
    else
        no_data(f, "no memory samples in the time series");
    fputs("</section>\n", f);
    free(x);
    free(y);
}

static int by_bytes(const void *a, const void *b)
{
    double x = 0, y = 0;
    chim__num(*(const cJSON *const *)a, "bytes", &x);
    chim__num(*(const cJSON *const *)b, "bytes", &y);
    return (x < y) - (x > y);
}

static void leaks_section(FILE *f, const cJSON *rep)
{
    const cJSON *lk = cJSON_GetObjectItemCaseSensitive(rep, "leaks");
    size_t n = cJSON_IsArray(lk) ? (size_t)cJSON_GetArraySize(lk) : 0, rows = 0;
    fputs("<section id=\"leaks\"><h2>Top leak sites</h2>\n", f);
    const cJSON **e = calloc(n + 1, sizeof *e);
    for (const cJSON *it = n ? lk->child : NULL; e && it; it = it->next)
        e[rows++] = it;
    if (!rows || !e) {
        no_data(f, "no leak data in the report");
        free(e);
        fputs("</section>\n", f);
        return;
    }
    qsort(e, rows, sizeof *e, by_bytes);
    rows = rows > 10 ? 10 : rows;
    char(*labels)[160] = calloc(rows, sizeof *labels);
    double *v = calloc(rows, sizeof *v);
    for (size_t i = 0; labels && v && i < rows; i++) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(e[i], "function");
        const cJSON *fl = cJSON_GetObjectItemCaseSensitive(e[i], "file");
        double line = 0;
        chim__num(e[i], "line", &line);
        snprintf(labels[i], sizeof labels[i], "%s (%s:%.0f)",
                 cJSON_IsString(fn) ? fn->valuestring : "?",
                 cJSON_IsString(fl) ? fl->valuestring : "?", line);
        v[i] = 0;
        chim__num(e[i], "bytes", &v[i]);
        v[i] /= 1024.0;
    }
    static const char *s[] = {"live KiB"};
    if (labels && v)
        hbars(f, "top leak sites", rows, labels, v, 1, s, "KiB");
    free(labels);
    free(v);
    free(e);
    fputs("</section>\n", f);
}

static void check_table(FILE *f, const char *id, const char *title, const struct chim_check *c,
                        int n, int passed)
{
    fprintf(f,
            "<section id=\"%s\"><h2>%s: %d/%d</h2>\n<table><tr><th></th><th>name</th>"
            "<th>status</th><th>detail</th></tr>\n",
            id, title, passed, n);
    static const char *st[] = {"PASS", "FAIL", "NO DATA"};
    for (int i = 0; i < n; i++) {
        fprintf(f, "<tr class=\"%s\"><td>%s</td><td>%s</td><td>%s</td><td>",
                c[i].status == CHIM_PASS ? "pass" : "fail",
                c[i].status == CHIM_PASS ? "<b class=\"PASS\">&#x2713;</b>"
                                         : "<b class=\"FAIL\">&#x2717;</b>",
                c[i].name, st[c[i].status]);
        esc(f, c[i].text);
        fputs("</td></tr>\n", f);
    }
    fputs("</table></section>\n", f);
}

static void regression_section(FILE *f, const struct chim_analysis *a)
{
    fputs("<section id=\"regressions\"><h2>Regressions against the baseline</h2>\n", f);
    if (!a->have_baseline || !a->n_reg) {
        no_data(f, a->have_baseline ? "no metric in common with the baseline"
                                    : "no baseline (chimcollect baseline save)");
        fputs("</section>\n", f);
        return;
    }
    fprintf(f, "<p>");
    esc(f, a->baseline_name);
    fprintf(f,
            ": %zu baseline run(s), %zu current run(s). Worsening in percent "
            "(positive = worse).</p>\n",
            a->n_base_runs, a->n_runs);
    char(*labels)[160] = calloc(a->n_reg, sizeof *labels);
    double *v = calloc(a->n_reg, sizeof *v);
    for (size_t i = 0; labels && v && i < a->n_reg; i++) {
        snprintf(labels[i], sizeof labels[i], "%s", a->reg[i].label);
        v[i] = isfinite(a->reg[i].worsening_percent) ? a->reg[i].worsening_percent : 100;
    }
    static const char *s[] = {"worsening %"};
    if (labels && v)
        hbars(f, "regressions", a->n_reg, labels, v, 1, s, "%");
    free(labels);
    free(v);
    fputs("<table><tr><th>metric</th><th>baseline</th><th>current</th><th>change</th>"
          "<th>class</th><th>verdict</th><th>p</th><th>fails gate</th></tr>\n",
          f);
    for (size_t i = 0; i < a->n_reg; i++) {
        const struct chim_regression *r = &a->reg[i];
        char pbuf[32] = "n/a";
        if (r->p >= 0)
            snprintf(pbuf, sizeof pbuf, "%.4f", r->p);
        fprintf(f, "<tr class=\"%s\"><td>", r->fails ? "fail" : "pass");
        esc(f, r->label);
        fprintf(f,
                "</td><td>%.4g</td><td>%.4g</td><td>%+.1f%%</td>"
                "<td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                r->base_median, r->cur_median, r->change_percent, chim_class_name(r->cls),
                chim_verdict_name(r->verdict), pbuf, r->fails ? "yes" : "no");
    }
    fputs("</table></section>\n", f);
}

static const char *css =
    "body{font-family:sans-serif;margin:2em;color:#222;max-width:960px}"
    "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
    "tr.fail td{background:#fdecea}tr.pass td{background:#eefaf0}"
    "svg text{font-size:11px;font-family:sans-serif;fill:#333}"
    "svg .grid{stroke:#e5e5e5}.nodata{color:#888;font-style:italic}"
    ".verdict{font-size:1.3em;font-weight:bold}.PASS{color:#2e7d32}.FAIL{color:#c62828}";

int chim_report_write_html(const cJSON *rep, const struct chim_analysis *a, FILE *f)
{
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(rep, "generated_at");
    bool pass = a->gates_passed == CHIM_GATES;
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>Chimera performance dashboard</title><style>%s</style></head><body>\n",
            css);
    fputs("<h1>Chimera performance dashboard</h1>\n<p>Report generated ", f);
    esc(f, cJSON_IsString(gen) ? gen->valuestring : "(unknown time)");
    fprintf(f,
            ". <span class=\"verdict %s\">Performance Gate: %s</span> &mdash; "
            "Performance Score: %.1f%%</p>\n",
            pass ? "PASS" : "FAIL", pass ? "PASS" : "FAIL", a->score);
    check_table(f, "gates", "Performance gates passed", a->gates, CHIM_GATES, a->gates_passed);
    check_table(f, "targets", "Performance targets met", a->targets, CHIM_TARGETS, a->targets_met);
    latency_section(f, rep);
    timeseries_section(f, rep);
    leaks_section(f, rep);
    regression_section(f, a);
    fputs("</body></html>\n", f);
    return ferror(f) ? -EIO : 0;
}
