/*
 * fuzz_route.c - libFuzzer target for route templating: the input is
 * "templates\npath". Checks that the output is NUL-terminated within its
 * buffer, never longer than asked, and that templating is idempotent for
 * the heuristic (a route templates to itself).
 */
#include <string.h>

#include "fuzz_common.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct chim_route_table t;
    char spec[1024], out[128], again[128], tiny[5];
    const char *nl = memchr(data, '\n', size);
    size_t sl = nl ? (size_t)(nl - (const char *)data) : 0;
    if (sl >= sizeof spec)
        sl = sizeof spec - 1;
    memcpy(spec, data, sl);
    spec[sl] = 0;
    const char *path = nl ? nl + 1 : (const char *)data;
    size_t pl = size - (size_t)(path - (const char *)data);
    chim_route_table_parse(&t, spec);
    FZ_CHECK(t.n <= CHIM_ROUTE_TEMPLATES);
    size_t n = chim_route_template(path, pl, &t, out, sizeof out);
    FZ_CHECK(n < sizeof out && out[n] == 0 && strlen(out) == n);
    n = chim_route_template(path, pl, NULL, out, sizeof out);
    FZ_CHECK(n < sizeof out && out[n] == 0);
    if (n + 1 < sizeof out && !memchr(out, '{', n)) {
        size_t m = chim_route_template(out, n, NULL, again, sizeof again);
        FZ_CHECK(m == n && !memcmp(out, again, n));
    }
    n = chim_route_template(path, pl, &t, tiny, sizeof tiny);
    FZ_CHECK(n < sizeof tiny && tiny[n] == 0);
    return 0;
}
