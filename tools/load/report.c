/*
 * report.c - the load generator's summaries: a table for people and one
 * JSON object for programs (chimcollect quick/full, CI). Route names and
 * the target are the only strings, and both are escaped in JSON.
 */
#include <stdio.h>

#include "chim_load.h"

static void row(FILE *out, const struct chim_load_stats *s)
{
    fprintf(out, "  %-26s %8llu %7llu %9.2f %9.2f %9.2f %9.2f %9.2f\n", s->route,
            (unsigned long long)s->count, (unsigned long long)s->errors, s->p50_ms, s->p90_ms,
            s->p95_ms, s->p99_ms, s->max_ms);
}

void chim_load_print_text(const struct chim_load_result *r, FILE *out)
{
    if (r->closed)
        fprintf(out, "load: scenario %s, closed loop, %d users, %.1f s, target %s\n", r->scenario,
                r->users, r->duration_s, r->target);
    else
        fprintf(out, "load: scenario %s, open loop, %d users x %g req/s, %.1f s, target %s\n",
                r->scenario, r->users, r->rate, r->duration_s, r->target);
    double er = r->sent ? 100.0 * (double)r->errors / (double)r->sent : 0;
    fprintf(out,
            "requests: sent %llu, completed %llu, errors %llu (%.2f%%: %llu status, %llu socket, "
            "%llu timeout), unsent %llu\n",
            (unsigned long long)r->sent, (unsigned long long)r->completed,
            (unsigned long long)r->errors, er, (unsigned long long)r->status_errors,
            (unsigned long long)r->socket_errors, (unsigned long long)r->timeouts,
            (unsigned long long)r->unsent);
    fprintf(out, "throughput: %.1f req/s over %.2f s\n", r->rps, r->elapsed_s);
    fprintf(out, "latency (ms, from the %s send time):\n", r->closed ? "actual" : "scheduled");
    fprintf(out, "  %-26s %8s %7s %9s %9s %9s %9s %9s\n", "route", "count", "errors", "p50", "p90",
            "p95", "p99", "max");
    for (int i = 0; i < r->nroutes; i++)
        row(out, &r->routes[i]);
    row(out, &r->overall);
    uint64_t h = r->overall.cache_hits, m = r->overall.cache_misses;
    if (h + m)
        fprintf(out, "cache: %llu hits, %llu misses (%.1f%% hit ratio)\n", (unsigned long long)h,
                (unsigned long long)m, 100.0 * (double)h / (double)(h + m));
}

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(out, "\\u%04x", (unsigned char)*s);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

static void json_stats(FILE *out, const struct chim_load_stats *s)
{
    fprintf(out, "{\"route\":");
    json_str(out, s->route);
    fprintf(out,
            ",\"count\":%llu,\"errors\":%llu,\"cache_hits\":%llu,\"cache_misses\":%llu,"
            "\"mean_ms\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f,"
            "\"max_ms\":%.3f}",
            (unsigned long long)s->count, (unsigned long long)s->errors,
            (unsigned long long)s->cache_hits, (unsigned long long)s->cache_misses, s->mean_ms,
            s->p50_ms, s->p90_ms, s->p95_ms, s->p99_ms, s->max_ms);
}

void chim_load_print_json(const struct chim_load_result *r, FILE *out)
{
    fprintf(out, "{\"target\":");
    json_str(out, r->target);
    fprintf(out, ",\"scenario\":");
    json_str(out, r->scenario);
    fprintf(out,
            ",\"mode\":\"%s\",\"users\":%d,\"rate_per_user\":%g,\"duration_s\":%g,"
            "\"sent\":%llu,\"completed\":%llu,\"errors\":%llu,\"status_errors\":%llu,"
            "\"socket_errors\":%llu,\"timeouts\":%llu,\"unsent\":%llu,\"elapsed_s\":%.3f,"
            "\"rps\":%.2f,\"overall\":",
            r->closed ? "closed" : "open", r->users, r->closed ? 0.0 : r->rate, r->duration_s,
            (unsigned long long)r->sent, (unsigned long long)r->completed,
            (unsigned long long)r->errors, (unsigned long long)r->status_errors,
            (unsigned long long)r->socket_errors, (unsigned long long)r->timeouts,
            (unsigned long long)r->unsent, r->elapsed_s, r->rps);
    json_stats(out, &r->overall);
    fprintf(out, ",\"routes\":[");
    for (int i = 0; i < r->nroutes; i++) {
        if (i)
            fputc(',', out);
        json_stats(out, &r->routes[i]);
    }
    fprintf(out, "]}\n");
}
