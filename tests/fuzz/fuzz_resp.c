/*
 * fuzz_resp.c - libFuzzer target for the Redis RESP pairing parser: whole
 * versus byte-by-byte feeding must report the same commands.
 */
#include "fuzz_common.h"
#include "proto_resp.h"

static void on_x(void *ctx, const struct chim_resp_exchange *x)
{
    struct fz_log *l = ctx;
    FZ_CHECK(!x->is_error || (x->hits == 0 && x->misses == 0));
    l->n++;
    fz_mix_str(l, x->name);
    fz_mix(l, &x->nkeys, sizeof x->nkeys);
    fz_mix(l, &x->hits, sizeof x->hits);
    fz_mix(l, &x->misses, sizeof x->misses);
    fz_mix(l, &x->is_error, sizeof x->is_error);
}

static void run(const uint8_t *data, size_t size, int bytewise, struct fz_log *l,
                struct chim_resp_conn *c)
{
    chim_resp_init(c);
#define FEED(dir, b, n, now) chim_resp_feed(c, dir, b, n, now, on_x, l)
    FZ_FOR_RECORDS(data, size, bytewise, FEED);
#undef FEED
    chim_resp_close(c, 1u << 20, on_x, l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_log a = {0, 0}, b = {0, 0};
    struct chim_resp_conn ca, cb;
    run(data, size, 0, &a, &ca);
    run(data, size, 1, &b, &cb);
    FZ_CHECK(a.n == b.n && a.h == b.h);
    FZ_CHECK(ca.errors == cb.errors && ca.unanswered == cb.unanswered);
    return 0;
}
