/*
 * test_route.c - route templating: configured templates, the id heuristic,
 * query dropping, truncation, and the CHIM_ROUTES parser.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "route.h"

static char out[128];
static struct chim_route_table T;

static const char *route(const char *p, const struct chim_route_table *t)
{
    chim_route_template(p, strlen(p), t, out, sizeof out);
    return out;
}

Test(route, heuristic_ids)
{
    cr_assert_str_eq(route("/users/42", NULL), "/users/{id}");
    cr_assert_str_eq(route("/users/42/orders/7?x=1", NULL), "/users/{id}/orders/{id}");
    cr_assert_str_eq(route("/o/123e4567-e89b-12d3-a456-426614174000", NULL), "/o/{id}");
    cr_assert_str_eq(route("/blob/deadbeef01", NULL), "/blob/{id}");
    cr_assert_str_eq(route("/t/aZ3kq9xYpL0mN2rS", NULL), "/t/{id}");
    cr_assert_str_eq(route("/static/app.js", NULL), "/static/app.js");
    cr_assert_str_eq(route("/api/v1/health", NULL), "/api/v1/health");
    cr_assert_str_eq(route("/feedback", NULL), "/feedback");
    cr_assert_str_eq(route("/abcdefab", NULL), "/abcdefab"); /* hex-looking word, no digit */
    cr_assert_str_eq(route("/", NULL), "/");
    cr_assert_str_eq(route("", NULL), "/");
    cr_assert_str_eq(route("?q=1", NULL), "/");
    cr_assert_str_eq(route("/a/#frag", NULL), "/a/");
}

Test(route, templates_first)
{
    int n = chim_route_table_parse(&T, " /api/v1/users/{id} ,/items/{item}/reviews,bad,,/x/{id}/");
    cr_assert_eq(n, 3);
    cr_assert_eq(T.dropped, 1);
    cr_assert_str_eq(route("/api/v1/users/alice", &T), "/api/v1/users/{id}");
    cr_assert_str_eq(route("/api/v1/users/alice/", &T), "/api/v1/users/{id}");
    cr_assert_str_eq(route("/items/sku-9/reviews?page=2", &T), "/items/{item}/reviews");
    cr_assert_str_eq(route("/x/abc", &T), "/x/{id}/");
    /* no match: falls back to the heuristic */
    cr_assert_str_eq(route("/api/v1/users", &T), "/api/v1/users");
    cr_assert_str_eq(route("/api/v1/users//", &T), "/api/v1/users//");
    cr_assert_str_eq(route("/items/9/reviews/3", &T), "/items/{id}/reviews/{id}");
}

Test(route, parse_limits)
{
    static char spec[20000];
    spec[0] = 0;
    for (int i = 0; i < 100; i++)
        strcat(spec, "/r/{id},");
    cr_assert_eq(chim_route_table_parse(&T, spec), CHIM_ROUTE_TEMPLATES);
    cr_assert_eq(T.dropped, 100 - CHIM_ROUTE_TEMPLATES);
    cr_assert_eq(chim_route_table_parse(&T, NULL), 0);
    cr_assert_eq(chim_route_table_parse(&T, "/a?b,/c d,/ok"), 1);
}

Test(route, truncation_is_safe)
{
    char small[8];
    size_t n = chim_route_template("/users/12345/profile", 20, NULL, small, sizeof small);
    cr_assert_eq(n, 7);
    cr_assert_str_eq(small, "/users/");
    cr_assert_eq(chim_route_template("/a", 2, NULL, small, 0), 0);
    /* not NUL-terminated input: only len bytes are read */
    const char raw[4] = {'/', '1', '2', '3'};
    chim_route_template(raw, 4, NULL, out, sizeof out);
    cr_assert_str_eq(out, "/{id}");
}
