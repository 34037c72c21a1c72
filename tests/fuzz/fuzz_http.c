/*
 * fuzz_http.c - libFuzzer target for the HTTP/1.x framing parser. Checks
 * that whole-buffer and byte-by-byte feeding report the same exchanges, and
 * that every reported exchange is well formed (real status, bounded path).
 */
#include <string.h>

#include "fuzz_common.h"
#include "proto_http.h"

static void on_x(void *ctx, const struct chim_http_exchange *x)
{
    struct fz_log *l = ctx;
    FZ_CHECK(x->status >= 100 && x->status <= 999);
    FZ_CHECK(strlen(x->path) <= CHIM_HTTP_PATH_MAX);
    FZ_CHECK(strlen(x->host) <= CHIM_HTTP_HOST_MAX);
    FZ_CHECK(x->cache >= 0 && x->cache <= 2);
    FZ_CHECK(x->t_req_first <= x->t_req_last || (x->flags & CHIM_HTTP_X_REQ_PARTIAL));
    l->n++;
    fz_mix_str(l, x->method);
    fz_mix_str(l, x->path);
    fz_mix_str(l, x->host);
    fz_mix(l, &x->status, sizeof x->status);
    fz_mix(l, &x->cache, sizeof x->cache);
    fz_mix(l, &x->flags, sizeof x->flags);
    fz_mix(l, &x->req_bytes, sizeof x->req_bytes);
    fz_mix(l, &x->resp_bytes, sizeof x->resp_bytes);
}

static void run(const uint8_t *data, size_t size, int role, int bytewise, struct fz_log *l,
                struct chim_http_conn *c)
{
    chim_http_init(c, role);
#define FEED(dir, b, n, now) chim_http_feed(c, dir, b, n, now, on_x, l)
    FZ_FOR_RECORDS(data, size, bytewise, FEED);
#undef FEED
    chim_http_close(c, 1u << 20, on_x, l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int role = data[0] & 1;
    struct fz_log a = {0, 0}, b = {0, 0};
    struct chim_http_conn ca, cb;
    run(data + 1, size - 1, role, 0, &a, &ca);
    run(data + 1, size - 1, role, 1, &b, &cb);
    FZ_CHECK(a.n == b.n && a.h == b.h);
    FZ_CHECK(ca.errors == cb.errors && ca.overflow == cb.overflow && ca.orphans == cb.orphans);
    FZ_CHECK(ca.unanswered == cb.unanswered && ca.truncated == cb.truncated);
    return 0;
}
