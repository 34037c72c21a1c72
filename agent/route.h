/*
 * route.h - turn a request path into a low-cardinality route.
 *
 * Per-route histograms need routes, not paths: `/users/42` and `/users/43`
 * must land together. Configured templates win (CHIM_ROUTES, parsed once at
 * load into a fixed-size table); otherwise a heuristic replaces id-like
 * segments with `{id}`. Query strings and fragments are always dropped. The
 * per-process cap on distinct routes (overflow -> `{other}`) belongs to the
 * agent's route table, not here. No malloc, no stdio, no errno writes.
 */
#ifndef CHIM_ROUTE_H
#define CHIM_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define CHIM_ROUTE_TEMPLATES 64   /* templates kept from CHIM_ROUTES */
#define CHIM_ROUTE_TEXT      4096 /* bytes of template text kept */
#define CHIM_ROUTE_TPL_MAX   255  /* longest template accepted */

struct chim_route_table {
    uint16_t n;       /* templates loaded */
    uint16_t dropped; /* templates skipped: malformed, too long, or table full */
    uint16_t off[CHIM_ROUTE_TEMPLATES];
    uint16_t len[CHIM_ROUTE_TEMPLATES];
    char text[CHIM_ROUTE_TEXT];
};

/* Parse a comma-separated template list such as
 * "/api/v1/users/{id},/items/{id}/reviews" into t (reset first; spec may be
 * NULL). A template starts with '/'; a segment written `{name}` matches any
 * one non-empty segment; blanks around entries are ignored; a trailing '/'
 * is not significant. Returns the number of templates loaded; bad entries
 * are skipped and counted in t->dropped. */
int chim_route_table_parse(struct chim_route_table *t, const char *spec);

/* Write the route of path[0..len) into out (NUL-terminated, truncated to
 * outlen - 1): the first matching template of t (t may be NULL), else the
 * path with id-like segments replaced by `{id}`: all digits, UUIDs, hex
 * strings of >= 8 characters containing a digit, and tokens of >= 16
 * characters containing a digit. Returns the length written. */
size_t chim_route_template(const char *path, size_t len, const struct chim_route_table *t,
                           char *out, size_t outlen);

/* 1 if the segment seg[0..n) looks like an identifier (the heuristic above). */
int chim_route_is_id(const char *seg, size_t n);

#endif /* CHIM_ROUTE_H */
