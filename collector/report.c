/*
 * report.c - turns a set of segments into the report: one cJSON tree
 * (docs/REPORT_JSON.md) that every output format is made from, so text,
 * JSON and the analyzer always see the same numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "leaks.h"
#include "report.h"

static void iso_time(uint64_t ns, char *buf, size_t n)
{
    time_t t = (time_t)(ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *mode_name(uint32_t m)
{
    return m == CHIM_MODE_SAMPLE ? "sample" : m == CHIM_MODE_FULL ? "full" : "count";
}

static cJSON *memory_json(const struct chim_mem_summary *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "allocs", (double)m->allocs);
    cJSON_AddNumberToObject(o, "frees", (double)m->frees);
    cJSON_AddNumberToObject(o, "bytes_requested", (double)m->bytes_requested);
    cJSON_AddNumberToObject(o, "bytes_allocated", (double)m->bytes_allocated);
    cJSON_AddNumberToObject(o, "bytes_freed", (double)m->bytes_freed);
    cJSON_AddNumberToObject(o, "live_bytes", (double)m->live_bytes);
    cJSON_AddNumberToObject(o, "peak_live_bytes", (double)m->peak_live_bytes);
    cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)m->peak_rss_bytes);
    cJSON_AddNumberToObject(o, "failed", (double)m->failed);
    cJSON *sc = cJSON_AddArrayToObject(o, "size_classes");
    for (int k = 0; k < CHIM_SIZE_CLASSES; k++) {
        if (!m->size_class[k])
            continue;
        cJSON *b = cJSON_CreateObject();
        /* class k holds sizes below 2^k (class 0: size 0) */
        cJSON_AddNumberToObject(b, "lt", (double)(1ull << k));
        cJSON_AddNumberToObject(b, "count", (double)m->size_class[k]);
        cJSON_AddItemToArray(sc, b);
    }
    return o;
}

static void mem_add(struct chim_mem_summary *t, const struct chim_mem_summary *m)
{
    t->allocs += m->allocs;
    t->frees += m->frees;
    t->bytes_requested += m->bytes_requested;
    t->bytes_allocated += m->bytes_allocated;
    t->bytes_freed += m->bytes_freed;
    t->failed += m->failed;
    t->live_bytes += m->live_bytes;
    t->peak_live_bytes += m->peak_live_bytes;
    t->peak_rss_bytes += m->peak_rss_bytes;
    for (int k = 0; k < CHIM_SIZE_CLASSES; k++)
        t->size_class[k] += m->size_class[k];
}

static cJSON *process_json(const struct chim_seg *s)
{
    const struct chim_shm_header *h = s->hdr;
    char when[32];
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "pid", h->pid);
    cJSON_AddNumberToObject(p, "ppid", h->ppid);
    cJSON_AddStringToObject(p, "exe", h->exe);
    cJSON_AddStringToObject(p, "cmdline", h->cmdline);
    cJSON_AddStringToObject(p, "state", chim_seg_state_name(s->state));
    cJSON_AddStringToObject(p, "mode", mode_name(h->mode));
    if (h->flags & CHIM_FLAG_MODE_UNKNOWN) /* CHIM_MODE misspelt: counted only */
        cJSON_AddBoolToObject(p, "mode_unrecognized", 1);
    iso_time(h->start_time_ns, when, sizeof when);
    cJSON_AddStringToObject(p, "start_time", when);
    uint64_t end = h->end_time_ns ? h->end_time_ns : h->update_time_ns;
    if (s->state == CHIM_SEG_RUNNING) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        end = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    }
    double dur = end > h->start_time_ns ? (double)(end - h->start_time_ns) / 1e9 : 0.0;
    cJSON_AddNumberToObject(p, "duration_s", dur);
    cJSON_AddBoolToObject(p, "forked_child", (h->flags & CHIM_FLAG_FORKED_CHILD) != 0);
    cJSON_AddStringToObject(p, "segment", s->path);
    cJSON_AddNumberToObject(p, "threads_seen", (double)h->threads_seen);
    cJSON_AddNumberToObject(p, "dropped", (double)(h->dropped + h->slot_overflow));
    if (h->exit_known)
        cJSON_AddNumberToObject(p, "exit_code", h->exit_code);
    if (s->torn)
        cJSON_AddBoolToObject(p, "torn", 1);
    cJSON_AddItemToObject(p, "memory", memory_json(&s->mem));
    chim__report_net(p, &s, 1);
    return p;
}

cJSON *chim_report_build(const struct chim_seg_set *set, const char *dir, long pid)
{
    char when[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    iso_time((uint64_t)ts.tv_sec * 1000000000ull, when, sizeof when);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "schema", CHIM_REPORT_SCHEMA);
    cJSON_AddStringToObject(r, "generator", "chimcollect " CHIM_VERSION);
    cJSON_AddStringToObject(r, "generated_at", when);
    cJSON_AddStringToObject(r, "dir", dir ? dir : chim_default_dir());
    cJSON *procs = cJSON_AddArrayToObject(r, "processes");
    struct chim_mem_summary total = {0};
    const struct chim_seg **kept = calloc(set->n ? set->n : 1, sizeof *kept);
    size_t nkept = 0;
    for (size_t i = 0; i < set->n; i++) {
        const struct chim_seg *s = &set->segs[i];
        if (pid > 0 && s->hdr->pid != (uint32_t)pid)
            continue;
        cJSON_AddItemToArray(procs, process_json(s));
        mem_add(&total, &s->mem);
        if (kept)
            kept[nkept++] = s;
    }
    cJSON_AddItemToObject(r, "memory", memory_json(&total));
    chim__report_net(r, kept, nkept);
    free(kept);
    /* Top leak sites of processes run in sample or full mode (dashboard). */
    cJSON *leaks = chim_leaks_report_array(set, pid, 20);
    if (leaks)
        cJSON_AddItemToObject(r, "leaks", leaks);
    cJSON_AddNumberToObject(r, "skipped_segments", (double)set->skipped);
    char why[512];
    if (!nkept && chim_dir_refused(dir ? dir : chim_default_dir(), why, sizeof why))
        cJSON_AddStringToObject(r, "dir_refused", why);
    return r;
}

cJSON *chim_collect_report_json(const char *dir)
{
    struct chim_seg_set set;
    if (!dir)
        dir = chim_default_dir();
    if (chim_seg_load_dir(dir, &set, stderr) != 0)
        return NULL;
    cJSON *r = chim_report_build(&set, dir, 0);
    chim_seg_set_free(&set);
    return r;
}
