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

static void print_processes(const cJSON *procs, FILE *out)
{
    char live[32], peak[32], rss[32];
    fprintf(out, "%-8s %-8s %-9s %-18s %12s %12s %11s %11s %11s\n", "PID", "PPID", "STATE", "EXE",
            "ALLOCS", "FREES", "LIVE", "PEAK LIVE", "PEAK RSS");
    const cJSON *p;
    cJSON_ArrayForEach(p, procs)
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(p, "memory");
        fprintf(out, "%-8.0f %-8.0f %-9s %-18.18s %12.0f %12.0f %11s %11s %11s\n", num(p, "pid"),
                num(p, "ppid"), str(p, "state"), base(str(p, "exe")), num(m, "allocs"),
                num(m, "frees"), chim_fmt_bytes(num(m, "live_bytes"), live, sizeof live),
                chim_fmt_bytes(num(m, "peak_live_bytes"), peak, sizeof peak),
                chim_fmt_bytes(num(m, "peak_rss_bytes"), rss, sizeof rss));
    }
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

void chim_report_print_text(const cJSON *r, FILE *out)
{
    const cJSON *procs = cJSON_GetObjectItemCaseSensitive(r, "processes");
    int n = cJSON_GetArraySize(procs);
    fprintf(out, "Chimera report: %d process%s in %s\n\n", n, n == 1 ? "" : "es", str(r, "dir"));
    if (n == 0) {
        fprintf(out, "No instrumented process found. Run one with\n"
                     "  LD_PRELOAD=/path/to/libchimagent.so CMD   or   chimcollect run -- CMD\n");
        return;
    }
    print_processes(procs, out);
    print_memory(cJSON_GetObjectItemCaseSensitive(r, "memory"), out);
}
