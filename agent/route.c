/*
 * route.c - route templating: configured templates first, then an id
 * heuristic, segment by segment. Pure functions over caller buffers.
 */
#include "route.h"

#include <string.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Length of the path proper: up to '?' or '#'. */
static size_t path_len(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '?' || p[i] == '#' || p[i] == 0)
            return i;
    return n;
}

static int is_uuid(const char *s, size_t n)
{
    if (n != 36)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return 0;
    }
    return 1;
}

int chim_route_is_id(const char *s, size_t n)
{
    size_t digits = 0, hex = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        digits += is_digit(s[i]);
        hex += is_hex(s[i]);
    }
    if (digits == n)
        return 1;
    if (is_uuid(s, n))
        return 1;
    if (n >= 8 && hex == n && digits)
        return 1;
    return n >= 16 && digits > 0;
}

/* ---- templates --------------------------------------------------------------- */

/* Does template tpl[0..tn) match path p[0..pn)? Segment by segment. */
static int tpl_match(const char *tpl, size_t tn, const char *p, size_t pn)
{
    while (tn && tpl[tn - 1] == '/' && tn > 1)
        tn--;
    while (pn && p[pn - 1] == '/' && pn > 1)
        pn--;
    size_t i = 0, j = 0;
    while (i < tn && j < pn) {
        if (tpl[i] != '/' || p[j] != '/')
            return 0;
        i++, j++;
        size_t te = i, pe = j;
        while (te < tn && tpl[te] != '/')
            te++;
        while (pe < pn && p[pe] != '/')
            pe++;
        int wild = te - i >= 2 && tpl[i] == '{' && tpl[te - 1] == '}';
        if (wild ? pe == j : (te - i != pe - j || memcmp(tpl + i, p + j, te - i)))
            return 0;
        i = te, j = pe;
    }
    return i == tn && j == pn;
}

static int tpl_valid(const char *s, size_t n)
{
    if (n == 0 || n > CHIM_ROUTE_TPL_MAX || s[0] != '/')
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == '?' || s[i] == '#' || s[i] == 0x7f)
            return 0;
    return 1;
}

static void tpl_add(struct chim_route_table *t, const char *s, size_t n, size_t *used)
{
    while (n && (s[0] == ' ' || s[0] == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0)
        return;
    if (!tpl_valid(s, n) || t->n >= CHIM_ROUTE_TEMPLATES || *used + n > CHIM_ROUTE_TEXT) {
        t->dropped++;
        return;
    }
    memcpy(t->text + *used, s, n);
    t->off[t->n] = (uint16_t)*used;
    t->len[t->n] = (uint16_t)n;
    t->n++;
    *used += n;
}

int chim_route_table_parse(struct chim_route_table *t, const char *spec)
{
    size_t used = 0;
    memset(t, 0, sizeof *t);
    if (!spec)
        return 0;
    const char *start = spec;
    for (const char *p = spec;; p++) {
        if (*p == ',' || *p == 0) {
            tpl_add(t, start, (size_t)(p - start), &used);
            start = p + 1;
        }
        if (*p == 0)
            break;
    }
    return t->n;
}

/* ---- output ------------------------------------------------------------------- */

static size_t put(char *out, size_t outlen, size_t at, const char *s, size_t n)
{
    for (size_t i = 0; i < n && at + 1 < outlen; i++)
        out[at++] = s[i];
    return at;
}

static size_t heuristic(const char *p, size_t n, char *out, size_t outlen)
{
    size_t at = 0, i = 0;
    if (n == 0)
        return put(out, outlen, 0, "/", 1);
    while (i < n) {
        size_t e = i;
        while (e < n && p[e] != '/')
            e++;
        if (chim_route_is_id(p + i, e - i))
            at = put(out, outlen, at, "{id}", 4);
        else
            at = put(out, outlen, at, p + i, e - i);
        if (e < n)
            at = put(out, outlen, at, "/", 1);
        i = e + 1;
    }
    return at;
}

size_t chim_route_template(const char *path, size_t len, const struct chim_route_table *t,
                           char *out, size_t outlen)
{
    size_t n = path_len(path, len), at = 0;
    if (outlen == 0)
        return 0;
    for (unsigned k = 0; t && k < t->n; k++) {
        const char *tpl = t->text + t->off[k];
        if (tpl_match(tpl, t->len[k], path, n)) {
            at = put(out, outlen, 0, tpl, t->len[k]);
            out[at] = 0;
            return at;
        }
    }
    at = heuristic(path, n, out, outlen);
    out[at] = 0;
    return at;
}
