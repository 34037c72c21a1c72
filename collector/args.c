/*
 * args.c - checked number parsing for the verbs' options (args.h).
 */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

int chim_arg_long(const char *verb, const char *opt, const char *what, const char *s, long lo,
                  long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi || isspace((unsigned char)*s)) {
        fprintf(stderr, "%s: --%s wants %s, got '%s'\n", verb, opt, what, s);
        return -1;
    }
    *out = v;
    return 0;
}

int chim_arg_int(const char *verb, const char *opt, const char *what, const char *s, int lo, int hi,
                 int *out)
{
    long v;
    if (chim_arg_long(verb, opt, what, s, lo, hi, &v))
        return -1;
    *out = (int)v;
    return 0;
}

int chim_arg_pid(const char *verb, const char *s, long *out)
{
    return chim_arg_long(verb, "pid", "a process id", s, 1, 1L << 22, out);
}

/* The multiplier of a size suffix, 0 if unknown. */
static uint64_t suffix_mult(const char *u)
{
    static const struct {
        const char *s;
        uint64_t m;
    } tab[] = {{"", 1},
               {"b", 1},
               {"k", 1ull << 10},
               {"kib", 1ull << 10},
               {"kb", 1000ull},
               {"m", 1ull << 20},
               {"mib", 1ull << 20},
               {"mb", 1000000ull},
               {"g", 1ull << 30},
               {"gib", 1ull << 30},
               {"gb", 1000000000ull},
               {"t", 1ull << 40},
               {"tib", 1ull << 40},
               {"tb", 1000000000000ull}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcasecmp(u, tab[i].s))
            return tab[i].m;
    return 0;
}

int chim_parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t m = errno ? 0 : suffix_mult(end);
    if (!m || (v && m > UINT64_MAX / v))
        return -1;
    *out = (uint64_t)v * m;
    return 0;
}

int chim_arg_bytes(const char *verb, const char *opt, const char *s, uint64_t *out)
{
    if (chim_parse_bytes(s, out) == 0)
        return 0;
    fprintf(stderr, "%s: --%s wants a size in bytes (e.g. 4096, 64K, 1MiB), got '%s'\n", verb, opt,
            s);
    return -1;
}
