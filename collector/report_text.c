/*
 * report_text.c - the report for people: a process table and the memory
 * totals, with sizes in KiB/MiB. Reads only the report model, so it shows
 * exactly what the JSON says.
 */
#include <math.h>
#include <string.h>

#include "report.h"

char *chim_fmt_bytes(double b, char *buf, size_t n)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    double a = fabs(b);
    while (a >= 1024 && u < 4) {
        a /= 1024;
        b /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f %s", b, units[u]);
    else
        snprintf(buf, n, "%.1f %s", b, units[u]);
    return buf;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void print_process(const cJSON *p, FILE *out)
{
    char live[32], peak[32], rss[32];
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(p, "memory");
    fprintf(out, "%-8.0f %-8.0f %-9s %-18.18s %12.0f %12.0f %11s %11s %11s\n", num(p, "pid"),
            num(p, "ppid"), str(p, "state"), base(str(p, "exe")), num(m, "allocs"), num(m, "frees"),
            chim_fmt_bytes(num(m, "live_bytes"), live, sizeof live),
            chim_fmt_bytes(num(m, "peak_live_bytes"), peak, sizeof peak),
            chim_fmt_bytes(num(m, "peak_rss_bytes"), rss, sizeof rss));
}

/* A process worth a row when there are many: still running, or one whose
 * peak heap reached 1 MiB (a shell, env or readlink of a launcher script
 * does not). */
static int notable(const cJSON *p)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(p, "memory");
    return !strcmp(str(p, "state"), "running") || num(m, "peak_live_bytes") >= 1048576.0;
}

#define ROWS_ALL 16 /* up to this many processes, every one has a row */

/* One row per process; beyond ROWS_ALL, the notable ones and a line
 * counting the others by executable (JSON lists every process). */
static void print_processes(const cJSON *procs, FILE *out)
{
    fprintf(out, "%-8s %-8s %-9s %-18s %12s %12s %11s %11s %11s\n", "PID", "PPID", "STATE", "EXE",
            "ALLOCS", "FREES", "LIVE", "PEAK LIVE", "PEAK RSS");
    int n = cJSON_GetArraySize(procs), hidden = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, procs)
    {
        if (n <= ROWS_ALL || notable(p))
            print_process(p, out);
        else
            hidden++;
    }
    if (!hidden)
        return;
    /* "+ 69 more (40 bash, 20 env, 9 readlink)": the first few names. */
    fprintf(out, "+ %d more, ended, each with a peak heap under 1 MiB (", hidden);
    const char *seen[8];
    int nseen = 0;
    cJSON_ArrayForEach(p, procs)
    {
        const char *e = base(str(p, "exe"));
        if (n <= ROWS_ALL || notable(p) || nseen == 8)
            continue;
        int dup = 0;
        for (int i = 0; i < nseen; i++)
            dup |= !strcmp(seen[i], e);
        if (dup)
            continue;
        int c = 0;
        const cJSON *q;
        cJSON_ArrayForEach(q, procs) c += !notable(q) && !strcmp(base(str(q, "exe")), e);
        fprintf(out, "%s%d %s", nseen ? ", " : "", c, e);
        seen[nseen++] = e;
    }
    fprintf(out, "%s; --format json lists every process)\n", nseen == 8 ? ", ..." : "");
}

static void print_memory(const cJSON *m, FILE *out)
{
    char a[32], b[32], c[32], d[32], e[32], f[32];
    fprintf(out, "\nMemory (all processes)\n");
    fprintf(out, "  allocations      %14.0f    frees        %14.0f\n", num(m, "allocs"),
            num(m, "frees"));
    fprintf(out, "  bytes requested  %14s    allocated    %14s    freed  %12s\n",
            chim_fmt_bytes(num(m, "bytes_requested"), a, sizeof a),
            chim_fmt_bytes(num(m, "bytes_allocated"), b, sizeof b),
            chim_fmt_bytes(num(m, "bytes_freed"), c, sizeof c));
    fprintf(out, "  live             %14s    peak live    %14s    peak RSS %10s\n",
            chim_fmt_bytes(num(m, "live_bytes"), d, sizeof d),
            chim_fmt_bytes(num(m, "peak_live_bytes"), e, sizeof e),
            chim_fmt_bytes(num(m, "peak_rss_bytes"), f, sizeof f));
    if (num(m, "failed") > 0)
        fprintf(out, "  failed allocations %12.0f\n", num(m, "failed"));
}

static const cJSON *obj(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* "1.234 ms", or "-" when v is not a number (no request to measure). */
static const char *ms_or_dash(const cJSON *v, char *buf, size_t n)
{
    if (!cJSON_IsNumber(v))
        return "-";
    snprintf(buf, n, "%.3f ms", v->valuedouble);
    return buf;
}

static void print_routes(const cJSON *h, FILE *out)
{
    double n = num(h, "requests"), dur = num(h, "duration_s");
    fprintf(out,
            "\nHTTP server: %.0f request%s, %.0f errors (5xx, %.2f%%), %.0f client errors (4xx)", n,
            n == 1 ? "" : "s", num(h, "errors"), 100.0 * num(h, "error_rate"),
            num(h, "client_errors"));
    if (dur >= 1) /* over less than a second a rate says nothing */
        fprintf(out, ", %.1f rps from the first request to the last (%.1f s)", num(h, "rps"), dur);
    fprintf(out, ", p95 %.3f ms\n", num(h, "p95_ms"));
    if (num(h, "unanswered") + num(h, "truncated") > 0)
        fprintf(out,
                "  and %.0f request%s the connection ended without an answer, %.0f response%s "
                "cut short (not in the counts)\n",
                num(h, "unanswered"), num(h, "unanswered") == 1 ? "" : "s", num(h, "truncated"),
                num(h, "truncated") == 1 ? "" : "s");
    fprintf(out, "  %-7s %-34s %8s %6s %6s %9s %9s %9s %9s %9s %10s\n", "METHOD", "ROUTE", "COUNT",
            "ERR", "4XX", "P50 ms", "P90 ms", "P95 ms", "P99 ms", "MAX ms", "ALLOC/REQ");
    const cJSON *r;
    cJSON_ArrayForEach(r, obj(h, "routes"))
    {
        char alloc[32] = "-";
        if (cJSON_IsNumber(obj(r, "bytes_per_request")))
            chim_fmt_bytes(num(r, "bytes_per_request"), alloc, sizeof alloc);
        fprintf(out, "  %-7s %-34.34s %8.0f %6.0f %6.0f %9.3f %9.3f %9.3f %9.3f %9.3f %10s\n",
                str(r, "method"), str(r, "route"), num(r, "count"), num(r, "errors"),
                num(obj(r, "status"), "4xx"), num(r, "p50_ms"), num(r, "p90_ms"), num(r, "p95_ms"),
                num(r, "p99_ms"), num(r, "max_ms"), alloc);
        const cJSON *c = obj(r, "cache");
        char hp[32], mp[32];
        if (c)
            fprintf(out, "  %-7s   cache: %.0f hits (p95 %s), %.0f misses (p95 %s)\n", "",
                    num(c, "hits"), ms_or_dash(obj(c, "hit_p95_ms"), hp, sizeof hp),
                    num(c, "misses"), ms_or_dash(obj(c, "miss_p95_ms"), mp, sizeof mp));
    }
}

static void print_upstreams(const cJSON *ups, FILE *out)
{
    if (cJSON_GetArraySize(ups) == 0)
        return;
    fprintf(out, "\nUpstream calls\n  %-24s %-10s %-20s %8s %6s %6s %9s %9s %9s %9s %9s %7s %7s\n",
            "PEER", "PROTOCOL", "HOST", "COUNT", "ERR", "4XX", "P50 ms", "P90 ms", "P95 ms",
            "P99 ms", "MAX ms", "HITS", "MISSES");
    const cJSON *u;
    cJSON_ArrayForEach(u, ups)
    {
        char c4[24] = "-"; /* 4xx: HTTP upstreams only */
        if (cJSON_IsNumber(obj(u, "client_errors")))
            snprintf(c4, sizeof c4, "%.0f", num(u, "client_errors"));
        fprintf(out,
                "  %-24.24s %-10s %-20.20s %8.0f %6.0f %6s %9.3f %9.3f %9.3f %9.3f %9.3f %7.0f "
                "%7.0f\n",
                str(u, "peer"), str(u, "protocol"), str(u, "host"), num(u, "count"),
                num(u, "errors"), c4, num(u, "p50_ms"), num(u, "p90_ms"), num(u, "p95_ms"),
                num(u, "p99_ms"), num(u, "max_ms"), num(u, "hits"), num(u, "misses"));
        if (num(u, "failed") > 0)
            fprintf(out, "  %-24s and %.0f call%s whose reply never came whole (closed or reset)\n",
                    "", num(u, "failed"), num(u, "failed") == 1 ? "" : "s");
    }
}

/* What the agent could not follow, so that a count below the server's own
 * is explained where it is read (docs/REQUESTS.md). */
static void print_not_tracked(const cJSON *nt, FILE *out)
{
    /* key, then what one and what several are */
    static const char *const what[][3] = {
        {"framing_errors",
         "connection whose bytes could not be framed (followed again from its next request)",
         "connections whose bytes could not be framed (followed again from their next "
         "request)"},
        {"pipeline_overflow",
         "pipelined request past the 8 kept per connection (16 runs for Redis, memcached; not "
         "reported)",
         "pipelined requests past the 8 kept per connection (16 runs for Redis, memcached; not "
         "reported)"},
        {"connections_dropped", "connection past CHIM_MAX_CONNS",
         "connections past CHIM_MAX_CONNS"},
        {"routes_dropped", "exchange with the route table full",
         "exchanges with the route table full"},
        {"peers_dropped", "upstream call with the peer table full",
         "upstream calls with the peer table full"},
        {"route_overflow", "request past CHIM_MAX_ROUTES, counted as {other}",
         "requests past CHIM_MAX_ROUTES, counted as {other}"},
        {"contended", "socket event skipped while another thread held the connection",
         "socket events skipped while another thread held the connection"},
        {"upgraded", "connection upgraded (101, CONNECT): not followed after",
         "connections upgraded (101, CONNECT): not followed after"},
        {"orphan_responses", "response with no request pending",
         "responses with no request pending"}};
    int any = 0;
    for (size_t i = 0; i < sizeof what / sizeof what[0]; i++) {
        double v = num(nt, what[i][0]);
        if (v > 0)
            fprintf(out, "%s %.0f %s", any++ ? ";" : "Not tracked:", v, what[i][v == 1 ? 1 : 2]);
    }
    if (any)
        fprintf(out, "\n");
}

static void print_net(const cJSON *r, FILE *out)
{
    const cJSON *h = obj(r, "http_server");
    if (!h)
        return;
    if (num(h, "requests") > 0)
        print_routes(h, out);
    print_upstreams(obj(r, "upstreams"), out);
    const cJSON *c = obj(r, "cache"), *n = obj(r, "network"), *res = obj(r, "resources");
    if (c && num(c, "hits") + num(c, "misses") > 0)
        fprintf(out, "\nCache: %.0f hits, %.0f misses, hit ratio %.1f%% (%s)\n", num(c, "hits"),
                num(c, "misses"), 100.0 * num(c, "hit_ratio"), str(c, "source"));
    char in[32], outb[32];
    if (n && num(n, "bytes_in") + num(n, "bytes_out") > 0)
        fprintf(out, "Network: %s in, %s out; CPU %.2f s\n",
                chim_fmt_bytes(num(n, "bytes_in"), in, sizeof in),
                chim_fmt_bytes(num(n, "bytes_out"), outb, sizeof outb), num(res, "cpu_seconds"));
    print_not_tracked(n ? obj(n, "not_tracked") : NULL, out);
    const cJSON *b, *spots = n ? obj(n, "blind_spots") : NULL;
    cJSON_ArrayForEach(b, spots)
    {
        if (cJSON_IsString(b))
            fprintf(out, "Blind spot: %s\n", b->valuestring);
    }
}

void chim_report_print_text(const cJSON *r, FILE *out)
{
    const cJSON *procs = cJSON_GetObjectItemCaseSensitive(r, "processes");
    int n = cJSON_GetArraySize(procs);
    fprintf(out, "Chimera report: %d process%s in %s\n\n", n, n == 1 ? "" : "es", str(r, "dir"));
    if (n == 0 && cJSON_IsString(obj(r, "dir_refused"))) {
        fprintf(out,
                "No instrumented process found: the agent refuses this directory, as\n"
                "  %s\n",
                str(r, "dir_refused"));
        return;
    }
    if (n == 0) {
        fprintf(out, "No instrumented process found. Run one with\n"
                     "  LD_PRELOAD=/path/to/libchimagent.so CMD   or   chimcollect run -- CMD\n");
        return;
    }
    print_processes(procs, out);
    const cJSON *p;
    cJSON_ArrayForEach(p, procs)
    {
        if (cJSON_IsTrue(obj(p, "mode_unrecognized")))
            fprintf(out,
                    "Note: pid %.0f ran in count mode: its CHIM_MODE was not count, sample or "
                    "full\n",
                    num(p, "pid"));
    }
    print_memory(cJSON_GetObjectItemCaseSensitive(r, "memory"), out);
    print_net(r, out);
}
