/*
 * analyzer_internal.h - helpers shared by the analyzer's files (chim__
 * names): error text, JSON number access, file I/O, timestamps, number
 * formatting and glob lists. Not installed, not part of the public API.
 */
#ifndef CHIM_ANALYZER_INTERNAL_H
#define CHIM_ANALYZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "chim_analyzer.h"

/* Formats err (if non-NULL) and returns rc, for "return chim__err(...)". */
int chim__err(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* true when obj[key] exists, is a number and finite; stores it in out. */
bool chim__num(const cJSON *obj, const char *key, double *out);
/* Reads a whole file (NUL-terminated, malloc'd); NULL with err. */
char *chim__slurp(const char *path, size_t max, char *err, size_t errlen);
/* Parses a JSON file; NULL with err naming the file and the offset. */
cJSON *chim__parse_file(const char *path, char *err, size_t errlen);
/* Writes text to path through path.tmp and rename. */
int chim__write_text(const char *path, const char *text, char *err, size_t errlen);
/* Appends per-route P95 regressions (after the metric rows) to a. */
void chim__route_regressions(struct chim_analysis *a, const cJSON *const *reports, size_t n,
                             const cJSON *baseline, const struct chim_config *cfg);
/* mkdir -p for one or more levels. */
int chim__mkdirs(const char *dir);
/* UTC "YYYYmmdd_HHMMSS" and ISO-8601 "YYYY-mm-ddTHH:MM:SSZ". */
void chim__stamp(char *buf, size_t len);
void chim__iso_now(char *buf, size_t len);
/* Shortest clean form of a limit: 2000 -> "2000", 0.5 -> "0.5". */
const char *chim__fmt_g(char *buf, size_t len, double v);
/* Median of v[n] (copies, does not reorder v). n > 0. */
double chim__median(const double *v, size_t n);
/* true when s matches one of the comma-separated globs in list. */
bool chim__match_list(const char *list, const char *s);

#endif
