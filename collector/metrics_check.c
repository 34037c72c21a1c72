/*
 * metrics_check.c - checks exposition text for what `promtool check metrics`
 * does not: classic histogram buckets that decrease or whose le="+Inf" is
 * not the _count, a series (name and label set) written twice, a family
 * typed twice. Used by the unit tests, by `chimcollect export --check` and
 * by the integration tests on every scrape they take. It reads the text as
 * our writer lays it out (labels in a fixed order, le last), which is all
 * it needs to: it is a test of our output, not a general parser.
 */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

struct strset {
    char **v;
    size_t cap, n;
};

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Adds s[0..n) to the set; returns 1 if it was there already, -1 on OOM. */
static int strset_add(struct strset *t, const char *s, size_t n)
{
    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        char **v = calloc(cap, sizeof *v);
        if (!v)
            return -1;
        for (size_t i = 0; i < t->cap; i++)
            if (t->v[i])
                for (size_t j = hash_str(t->v[i], strlen(t->v[i])) & (cap - 1);;
                     j = (j + 1) & (cap - 1))
                    if (!v[j]) {
                        v[j] = t->v[i];
                        break;
                    }
        free(t->v);
        t->v = v;
        t->cap = cap;
    }
    size_t j = hash_str(s, n) & (t->cap - 1);
    for (; t->v[j]; j = (j + 1) & (t->cap - 1))
        if (strlen(t->v[j]) == n && !memcmp(t->v[j], s, n))
            return 1;
    if (!(t->v[j] = strndup(s, n)))
        return -1;
    t->n++;
    return 0;
}

static void strset_free(struct strset *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->v[i]);
    free(t->v);
}

struct hstate {
    char group[1024]; /* histogram name and labels without le */
    double prev_le;
    unsigned long long prev, inf;
    int have_inf;
};

#define PROBLEM(...)                                                                               \
    do {                                                                                           \
        if (!problems++)                                                                           \
            snprintf(why, whylen, __VA_ARGS__);                                                    \
    } while (0)

/* A bucket line: checks order against the group it belongs to. */
static int bucket(struct hstate *h, const char *key, size_t klen, unsigned long long v, char *why,
                  size_t whylen)
{
    int problems = 0;
    const char *le = strstr(key, "le=\"");
    if (!le || le >= key + klen || (le[-1] != '{' && le[-1] != ','))
        return 0;
    char group[1024];
    size_t pre = (size_t)(le - key - (le[-1] == ',' ? 1 : 0));
    const char *post = strchr(le + 4, '"');
    if (!post || pre + klen >= sizeof group)
        return 0;
    snprintf(group, sizeof group, "%.*s%.*s", (int)pre, key, (int)(key + klen - post - 1),
             post + 1);
    int inf = !strncmp(le + 4, "+Inf\"", 5);
    double lev = inf ? 1e308 : strtod(le + 4, NULL);
    if (strcmp(group, h->group)) {
        snprintf(h->group, sizeof h->group, "%s", group);
        h->prev_le = -1e308;
        h->prev = 0;
        h->have_inf = 0;
    }
    if (lev <= h->prev_le)
        PROBLEM("%.*s: le not increasing", (int)klen, key);
    if (v < h->prev)
        PROBLEM("%.*s: bucket count %llu below the previous bucket's %llu", (int)klen, key, v,
                h->prev);
    h->prev_le = lev;
    h->prev = v;
    if (inf)
        h->inf = v, h->have_inf = 1;
    return problems;
}

/* A _count line: must equal the +Inf bucket of its group. */
static int count_line(struct hstate *h, const char *key, size_t klen, unsigned long long v,
                      char *why, size_t whylen)
{
    int problems = 0;
    const char *brace = memchr(key, '{', klen);
    size_t nlen = brace ? (size_t)(brace - key) : klen;
    char group[1024];
    if (nlen < 6 || klen + 8 >= sizeof group)
        return 0;
    snprintf(group, sizeof group, "%.*s_bucket%.*s", (int)(nlen - 6), key, (int)(klen - nlen),
             key + nlen);
    if (!strcmp(group, h->group) && (!h->have_inf || h->inf != v))
        PROBLEM("%.*s = %llu but le=\"+Inf\" is %llu", (int)klen, key, v, h->inf);
    return problems;
}

int chim_metrics_check_text(const char *text, char *why, size_t whylen)
{
    struct strset series = {0}, types = {0};
    struct hstate h = {{0}, 0, 0, 0, 0};
    int problems = 0;
    why[0] = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 7 && !strncmp(line, "# TYPE ", 7)) {
            const char *name = line + 7;
            size_t n = strcspn(name, " \n");
            if (strset_add(&types, name, n) == 1)
                PROBLEM("family %.*s typed twice", (int)n, name);
        } else if (len && line[0] != '#') {
            const char *sp = line + len;
            while (sp > line && sp[-1] != ' ')
                sp--;
            size_t klen = sp > line ? (size_t)(sp - line - 1) : len;
            unsigned long long v = strtoull(sp, NULL, 10);
            if (strset_add(&series, line, klen) == 1)
                PROBLEM("series %.*s written twice", (int)klen, line);
            const char *brace = memchr(line, '{', klen);
            size_t nlen = brace ? (size_t)(brace - line) : klen;
            if (nlen > 7 && !strncmp(line + nlen - 7, "_bucket", 7))
                problems += bucket(&h, line, klen, v, problems ? NULL : why, problems ? 0 : whylen);
            else if (nlen > 6 && !strncmp(line + nlen - 6, "_count", 6))
                problems +=
                    count_line(&h, line, klen, v, problems ? NULL : why, problems ? 0 : whylen);
        }
        line = end ? end + 1 : NULL;
    }
    strset_free(&series);
    strset_free(&types);
    return problems;
}
