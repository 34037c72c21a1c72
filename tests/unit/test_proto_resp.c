/*
 * test_proto_resp.c - Redis RESP pairing: GET hits and misses (RESP2 and
 * RESP3), MGET per key, errors, nested and push types, inline commands,
 * pipelining, large bulks in pieces, split-anywhere equivalence, garbage.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_resp.h"

struct rec {
    char name[16];
    uint32_t nkeys, hits, misses;
    int err;
    uint64_t t0, t1;
};
struct log {
    int n;
    struct rec r[64];
};

static void on_x(void *ctx, const struct chim_resp_exchange *x)
{
    struct log *l = ctx;
    cr_assert_lt(l->n, 64);
    struct rec *r = &l->r[l->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", x->name);
    r->nkeys = x->nkeys;
    r->hits = x->hits;
    r->misses = x->misses;
    r->err = x->is_error;
    r->t0 = x->t_first;
    r->t1 = x->t_last;
}

#define W CHIM_DIR_OUT
#define R CHIM_DIR_IN
struct seg {
    int dir;
    const char *s;
};

static struct chim_resp_conn C;
static struct log L;

static void run(const struct seg *t, int nseg, int bytewise, struct log *l)
{
    memset(l, 0, sizeof *l);
    chim_resp_init(&C);
    for (int k = 0; k < nseg; k++) {
        size_t n = strlen(t[k].s);
        if (bytewise)
            for (size_t i = 0; i < n; i++)
                chim_resp_feed(&C, t[k].dir, t[k].s + i, 1, 10 + k, on_x, l);
        else
            chim_resp_feed(&C, t[k].dir, t[k].s, n, 10 + k, on_x, l);
    }
}

Test(proto_resp, get_hit_miss_resp2_resp3)
{
    struct seg t[] = {{W, "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"},   {R, "$3\r\nbar\r\n"},
                      {W, "*2\r\n$3\r\nget\r\n$4\r\nnope\r\n"},  {R, "$-1\r\n"},
                      {W, "*2\r\n$3\r\nGET\r\n$4\r\nnope\r\n"},  {R, "_\r\n"},
                      {W, "*2\r\n$3\r\nGET\r\n$5\r\nempty\r\n"}, {R, "$0\r\n\r\n"}};
    run(t, 8, 0, &L);
    cr_assert_eq(L.n, 4);
    cr_assert_str_eq(L.r[0].name, "GET");
    cr_assert_eq(L.r[0].nkeys, 1);
    cr_assert_eq(L.r[0].hits, 1);
    cr_assert_eq(L.r[0].t0, 10);
    cr_assert_eq(L.r[0].t1, 11);
    cr_assert_eq(L.r[1].misses, 1);
    cr_assert_eq(L.r[1].hits, 0);
    cr_assert_eq(L.r[2].misses, 1);
    cr_assert_eq(L.r[3].hits, 1);
}

Test(proto_resp, mget_per_key_and_errors)
{
    struct seg t[] = {{W, "*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"},
                      {R, "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n"},
                      {W, "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"},
                      {R, "-ERR wrong number of arguments\r\n"},
                      {W, "*2\r\n$5\r\nHMGET\r\n$1\r\nh\r\n"},
                      {R, "*2\r\n_\r\n_\r\n"},
                      {W, "*1\r\n$4\r\nPING\r\n"},
                      {R, "+PONG\r\n"}};
    run(t, 8, 0, &L);
    cr_assert_eq(L.n, 4);
    cr_assert_str_eq(L.r[0].name, "MGET");
    cr_assert_eq(L.r[0].nkeys, 3);
    cr_assert_eq(L.r[0].hits, 2);
    cr_assert_eq(L.r[0].misses, 1);
    cr_assert_eq(L.r[1].err, 1);
    cr_assert_eq(L.r[2].misses, 2);
    cr_assert_eq(L.r[3].err, 0);
    cr_assert_eq(C.errors, 0);
}

Test(proto_resp, pipelined_inline_nested_push)
{
    struct seg t[] = {
        {W, "GET k1\r\nget  k2 \r\n\r\n*1\r\n$5\r\nHELLO\r\n*2\r\n$5\r\nXREAD\r\n$1\r\nx\r\n"},
        {R, "$2\r\nv1\r\n"},
        {R, ">3\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nk1\r\n#t\r\n"}, /* out of band */
        {R, "_\r\n%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n"},
        {R, "|1\r\n+ttl\r\n:3\r\n*1\r\n*2\r\n$1\r\nx\r\n*1\r\n*2\r\n$3\r\n1-0\r\n"
            "~2\r\n,1.5\r\n(123456789012345678901\r\n"}};
    run(t, 5, 0, &L);
    cr_assert_eq(L.n, 4);
    cr_assert_eq(L.r[0].hits, 1);
    cr_assert_eq(L.r[1].misses, 1);
    cr_assert_eq(L.r[1].nkeys, 1);
    cr_assert_str_eq(L.r[2].name, "HELLO");
    cr_assert_str_eq(L.r[3].name, "XREAD");
    cr_assert_eq(C.orphans, 0);
    cr_assert_eq(C.errors, 0);
}

Test(proto_resp, large_bulk_across_reads)
{
    static char big[300000];
    int h = snprintf(big, sizeof big, "$%d\r\n", 250000);
    memset(big + h, 'x', 250000);
    memcpy(big + h + 250000, "\r\n", 2);
    size_t n = (size_t)h + 250002;
    chim_resp_init(&C);
    memset(&L, 0, sizeof L);
    const char *cmd = "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
    chim_resp_feed(&C, W, cmd, strlen(cmd), 1, on_x, &L);
    for (size_t i = 0; i < n; i += 4096)
        chim_resp_feed(&C, R, big + i, n - i < 4096 ? n - i : 4096, 2 + i, on_x, &L);
    cr_assert_eq(L.n, 1);
    cr_assert_eq(L.r[0].hits, 1);
    cr_assert_eq(L.r[0].t1, 2 + (n - 1) / 4096 * 4096);
}

/* 20 GETs in one write are one run of the FIFO: every one is reported (the
 * FIFO of single commands reported 16 and counted 4 as overflow). */
Test(proto_resp, pipelined_run_all_reported)
{
    static char w[4096], r[4096];
    w[0] = r[0] = 0;
    for (int i = 0; i < 20; i++) {
        strcat(w, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        strcat(r, i % 2 ? "$-1\r\n" : "$1\r\nv\r\n");
    }
    struct seg t[] = {{W, w}, {R, r}, {W, "*2\r\n$3\r\nGET\r\n$1\r\nz\r\n"}, {R, "$-1\r\n"}};
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        run(t, 4, bytewise, &L);
        cr_assert_eq(C.overflow, 0);
        cr_assert_eq(L.n, 21);
        unsigned hits = 0, misses = 0;
        for (int i = 0; i < 21; i++) {
            hits += L.r[i].hits;
            misses += L.r[i].misses;
        }
        cr_assert_eq(hits, 10);
        cr_assert_eq(misses, 11);
        cr_assert_eq(L.r[20].misses, 1);
        cr_assert_eq(L.r[19].t0, 10);
        cr_assert_eq(L.r[20].t0, 12);
        cr_assert_eq(C.orphans, 0);
    }
}

/* 20 commands in 20 runs (GET and EXISTS alternate): 16 runs are followed,
 * 4 commands are framed past the FIFO, and a later command still pairs. */
Test(proto_resp, overflow_still_pairs)
{
    static char w[4096], r[4096];
    w[0] = r[0] = 0;
    for (int i = 0; i < 20; i++) {
        strcat(w, i % 2 ? "*2\r\n$6\r\nEXISTS\r\n$1\r\nk\r\n" : "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        strcat(r, i % 2 ? ":1\r\n" : "$1\r\nv\r\n");
    }
    struct seg t[] = {{W, w}, {R, r}, {W, "*2\r\n$3\r\nGET\r\n$1\r\nz\r\n"}, {R, "$-1\r\n"}};
    run(t, 4, 0, &L);
    cr_assert_eq(C.overflow, 4);
    cr_assert_eq(L.n, 17);
    cr_assert_eq(L.r[16].misses, 1);
    cr_assert_eq(C.orphans, 0);
}

Test(proto_resp, subscribe_goes_passthrough)
{
    struct seg t[] = {{W, "*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n"},
                      {R, "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"}};
    run(t, 2, 0, &L);
    cr_assert_eq(C.state, CHIM_RESP_ST_PASSTHROUGH);
    cr_assert_eq(C.errors, 0);
}

Test(proto_resp, garbage_and_close)
{
    struct seg t[] = {{W, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"}, {R, "?what\r\n"}};
    run(t, 2, 0, &L);
    cr_assert_eq(C.errors, 1);
    cr_assert_eq(C.unanswered, 1);
    struct seg u[] = {{W, "*2\r\n$3\r\nGET\r\nxx"}};
    run(u, 1, 0, &L);
    cr_assert_eq(C.errors, 1);
    struct seg v[] = {{W, "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n"}, {R, "+PONG\r\n"}};
    run(v, 2, 0, &L);
    chim_resp_close(&C, 99, on_x, &L);
    cr_assert_eq(L.n, 1);
    cr_assert_eq(C.unanswered, 1);
    cr_assert_eq(C.errors, 0);
}

Test(proto_resp, split_every_position)
{
    static const char w[] =
        "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\nMGET a b\r\n*2\r\n$3\r\nGET\r\n$1\r\nz\r\n"
        "*1\r\n$4\r\nPING\r\n";
    static const char r[] =
        "$3\r\nbar\r\n*2\r\n$-1\r\n$2\r\nhi\r\n>2\r\n+x\r\n+y\r\n_\r\n-ERR no\r\n";
    struct log ref, got;
    struct seg one[] = {{W, w}, {R, r}};
    run(one, 2, 0, &ref);
    cr_assert_eq(ref.n, 4);
    for (size_t a = 0; a <= strlen(w); a++)
        for (size_t b = 0; b <= strlen(r); b++) {
            memset(&got, 0, sizeof got);
            chim_resp_init(&C);
            chim_resp_feed(&C, W, w, a, 10, on_x, &got);
            chim_resp_feed(&C, W, w + a, strlen(w) - a, 10, on_x, &got);
            chim_resp_feed(&C, R, r, b, 10, on_x, &got);
            chim_resp_feed(&C, R, r + b, strlen(r) - b, 10, on_x, &got);
            cr_assert_eq(got.n, ref.n);
            for (int i = 0; i < ref.n; i++) {
                ref.r[i].t0 = ref.r[i].t1 = got.r[i].t0 = got.r[i].t1 = 0;
                cr_assert_eq(memcmp(&ref.r[i], &got.r[i], sizeof ref.r[i]), 0);
            }
        }
    run(one, 2, 1, &got);
    cr_assert_eq(got.n, ref.n);
}

Test(proto_resp, random_garbage_never_crashes)
{
    static char buf[2048];
    srand(7);
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = (size_t)(rand() % (int)sizeof buf);
        const char *alpha = "*$:+-_>%|~#,(!=0123456789\r\n GETMSabc";
        for (size_t i = 0; i < n; i++)
            buf[i] = (rand() & 7) ? alpha[rand() % 36] : (char)rand();
        chim_resp_init(&C);
        memset(&L, 0, sizeof L);
        for (size_t i = 0; i < n;) {
            size_t k = 1 + (size_t)rand() % 32;
            k = k > n - i ? n - i : k;
            chim_resp_feed(&C, rand() & 1, buf + i, k, i, on_x, &L);
            if (L.n > 60)
                L.n = 0;
            i += k;
        }
        chim_resp_close(&C, n, on_x, &L);
    }
}
