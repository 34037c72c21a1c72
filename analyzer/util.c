/*
 * util.c - small helpers for the analyzer: one-line errors, JSON number
 * access that treats a missing or non-finite field as "no data", whole-file
 * reads, atomic writes, timestamps for the seed's file names, number
 * formatting for limits and glob lists for the measurement mapping.
 */
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "analyzer_internal.h"

int chim__err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

bool chim__num(const cJSON *obj, const char *key, double *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return false;
    *out = it->valuedouble;
    return true;
}

char *chim__slurp(const char *path, size_t max, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        chim__err(err, errlen, 0, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap)
            break;
        if (cap >= max) {
            chim__err(err, errlen, 0, "%s: larger than %zu bytes", path, max);
            free(buf);
            buf = NULL;
            break;
        }
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb)
            free(buf);
        buf = nb;
    }
    if (buf && ferror(f)) {
        chim__err(err, errlen, 0, "%s: read error", path);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    else if (err && !err[0])
        chim__err(err, errlen, 0, "%s: out of memory", path);
    return buf;
}

cJSON *chim__parse_file(const char *path, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    char *text = chim__slurp(path, 256u << 20, err, errlen);
    if (!text)
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        size_t off = end ? (size_t)(end - text) : 0;
        chim__err(err, errlen, 0, "%s: not valid JSON (near byte %zu)", path, off);
    }
    free(text);
    return root;
}

int chim__write_text(const char *path, const char *text, char *err, size_t errlen)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return chim__err(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return chim__err(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
    size_t n = strlen(text);
    int bad = fwrite(text, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno ? errno : EIO;
        remove(tmp);
        return chim__err(err, errlen, -e, "%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}

int chim__mkdirs(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

void chim__stamp(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y%m%d_%H%M%S", &tm);
}

void chim__iso_now(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *chim__fmt_g(char *buf, size_t len, double v)
{
    snprintf(buf, len, "%.6f", v);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *e = buf + strlen(buf) - 1;
        while (e > dot && *e == '0')
            *e-- = '\0';
        if (e == dot)
            *e = '\0';
    }
    if (!strcmp(buf, "-0"))
        strcpy(buf, "0");
    return buf;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double chim__median(const double *v, size_t n)
{
    double tmp[64], *s = n <= 64 ? tmp : malloc(n * sizeof *s);
    if (!s)
        return v[0];
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmpd);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    if (s != tmp)
        free(s);
    return m;
}

bool chim__match_list(const char *list, const char *s)
{
    char pat[CHIM_PATTERN_MAX];
    while (list && *list) {
        const char *comma = strchr(list, ',');
        size_t n = comma ? (size_t)(comma - list) : strlen(list);
        while (n && (*list == ' ')) {
            list++;
            n--;
        }
        while (n && list[n - 1] == ' ')
            n--;
        if (n && n < sizeof pat) {
            memcpy(pat, list, n);
            pat[n] = '\0';
            if (fnmatch(pat, s, 0) == 0)
                return true;
        }
        if (!comma)
            break;
        list = comma + 1;
    }
    return false;
}

int chim_write_file(const char *path, const char *text, char *err, size_t errlen)
{
    return chim__write_text(path, text, err, errlen);
}
