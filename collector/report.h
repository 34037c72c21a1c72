/*
 * report.h - the report model (a cJSON tree, docs/REPORT_JSON.md) and its
 * human-readable rendering.
 */
#ifndef CHIM_REPORT_H
#define CHIM_REPORT_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "segment.h"

#define CHIM_REPORT_SCHEMA "chim.report/1"

/* Builds the report of a loaded set; pid > 0 keeps that process only. */
cJSON *chim_report_build(const struct chim_seg_set *set, const char *dir, long pid);
/* Loads dir (NULL: default) and builds its report; NULL if the directory
 * cannot be read. Warnings about bad segments go to stderr. */
cJSON *chim_collect_report_json(const char *dir);
/* Adds http_server, upstreams, cache, network, resources and timeseries
 * of the given segments (merged) to o; nothing if none captured requests. */
void chim__report_net(cJSON *o, const struct chim_seg *const *segs, size_t n);
void chim__report_series(cJSON *o, const struct chim_seg *const *segs, size_t n);
/* Text for people: aligned columns, KiB/MiB. */
void chim_report_print_text(const cJSON *report, FILE *out);
/* "1.5 MiB" style; returns buf. */
char *chim_fmt_bytes(double bytes, char *buf, size_t n);

#endif
