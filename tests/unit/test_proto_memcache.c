/*
 * test_proto_memcache.c - memcached text protocol pairing: multi-key get hits
 * and misses, storage replies, noreply, errors, meta commands, pipelining,
 * overflow, split-anywhere equivalence, garbage.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_memcache.h"

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

static void on_x(void *ctx, const struct chim_mc_exchange *x)
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

static struct chim_mc_conn C;
static struct log L;

static void run(const struct seg *t, int nseg, struct log *l)
{
    memset(l, 0, sizeof *l);
    chim_mc_init(&C);
    for (int k = 0; k < nseg; k++)
        chim_mc_feed(&C, t[k].dir, t[k].s, strlen(t[k].s), 10 + k, on_x, l);
}

Test(proto_memcache, get_hits_and_misses)
{
    struct seg t[] = {
        {W, "get a b c\r\n"},    {R, "VALUE a 0 3\r\nxyz\r\nVALUE c 5 2 99\r\n\r\n\r\nEND\r\n"},
        {W, "get nope\r\n"},     {R, "END\r\n"},
        {W, "gets k\r\n"},       {R, "VALUE k 0 1 7\r\nv\r\nEND\r\n"},
        {W, "gat 60 k1 k2\r\n"}, {R, "END\r\n"}};
    run(t, 8, &L);
    cr_assert_eq(L.n, 4);
    cr_assert_str_eq(L.r[0].name, "get");
    cr_assert_eq(L.r[0].nkeys, 3);
    cr_assert_eq(L.r[0].hits, 2);
    cr_assert_eq(L.r[0].misses, 1);
    cr_assert_eq(L.r[0].t0, 10);
    cr_assert_eq(L.r[0].t1, 11);
    cr_assert_eq(L.r[1].hits, 0);
    cr_assert_eq(L.r[1].misses, 1);
    cr_assert_eq(L.r[2].hits, 1);
    cr_assert_eq(L.r[3].nkeys, 2);
    cr_assert_eq(L.r[3].misses, 2);
}

Test(proto_memcache, storage_noreply_errors)
{
    struct seg t[] = {{W, "set k 0 0 5\r\nhello\r\nadd k 0 0 2 noreply\r\nhi\r\n"
                          "cas k 0 0 1 12\r\nx\r\ndelete k\r\nincr n 1\r\nbogus\r\n"
                          "set k 0 0 0\r\n\r\n"},
                      {R, "STORED\r\nEXISTS\r\nDELETED\r\n42\r\nERROR\r\n"},
                      {R, "SERVER_ERROR out of memory storing object\r\n"}};
    run(t, 3, &L);
    cr_assert_eq(L.n, 6);
    cr_assert_str_eq(L.r[0].name, "set");
    cr_assert_str_eq(L.r[1].name, "cas");
    cr_assert_str_eq(L.r[2].name, "delete");
    cr_assert_str_eq(L.r[3].name, "incr");
    cr_assert_eq(L.r[4].err, 1);
    cr_assert_eq(L.r[5].err, 1);
    cr_assert_eq(C.errors, 0);
    cr_assert_eq(C.count, 0);
}

Test(proto_memcache, meta_commands)
{
    struct seg t[] = {{W, "mg foo v\r\nmg bar v t\r\nmg baz\r\nms foo 3 T60\r\nabc\r\nmn\r\n"},
                      {R, "VA 3 t-1\r\nabc\r\nEN\r\nHD\r\nHD\r\nMN\r\n"}};
    run(t, 2, &L);
    cr_assert_eq(L.n, 5);
    cr_assert_eq(L.r[0].hits, 1);
    cr_assert_eq(L.r[1].misses, 1);
    cr_assert_eq(L.r[2].hits, 1);
    cr_assert_str_eq(L.r[3].name, "ms");
    cr_assert_eq(L.r[3].hits, 0);
    cr_assert_str_eq(L.r[4].name, "mn");
    struct seg q[] = {{W, "mg foo v q\r\n"}};
    run(q, 1, &L);
    cr_assert_eq(C.state, CHIM_MC_ST_PASSTHROUGH);
}

Test(proto_memcache, stats_multiline_and_overflow)
{
    static char w[2048], r[2048];
    w[0] = r[0] = 0;
    strcat(w, "stats\r\n");
    strcat(r, "STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n");
    for (int i = 0; i < 20; i++) { /* 20 runs: get and gets alternate */
        strcat(w, i & 1 ? "gets k\r\n" : "get k\r\n");
        strcat(r, i & 1 ? "END\r\n" : "VALUE k 0 1\r\nv\r\nEND\r\n");
    }
    struct seg t[] = {{W, w}, {R, r}, {W, "get z\r\n"}, {R, "END\r\n"}};
    run(t, 4, &L);
    cr_assert_eq(C.overflow, 5);
    cr_assert_eq(L.n, 17);
    cr_assert_str_eq(L.r[0].name, "stats");
    cr_assert_eq(L.r[1].hits, 1);
    cr_assert_eq(L.r[2].misses, 1);
    cr_assert_eq(L.r[16].misses, 1);
    cr_assert_eq(C.orphans, 0);
}

/* 20 gets in one write are one run of the FIFO: every one is reported (the
 * FIFO of single commands reported 15 and counted 5 as overflow). */
Test(proto_memcache, pipelined_run_all_reported)
{
    static char w[2048], r[2048];
    w[0] = r[0] = 0;
    for (int i = 0; i < 20; i++) {
        strcat(w, "get k\r\n");
        strcat(r, i & 1 ? "END\r\n" : "VALUE k 0 1\r\nv\r\nEND\r\n");
    }
    struct seg t[] = {{W, w}, {R, r}, {W, "get z\r\n"}, {R, "END\r\n"}};
    run(t, 4, &L);
    cr_assert_eq(C.overflow, 0);
    cr_assert_eq(L.n, 21);
    unsigned hits = 0, misses = 0;
    for (int i = 0; i < 21; i++) {
        hits += L.r[i].hits;
        misses += L.r[i].misses;
    }
    cr_assert_eq(hits, 10);
    cr_assert_eq(misses, 11);
    cr_assert_eq(C.orphans, 0);
}

Test(proto_memcache, garbage_and_close)
{
    struct seg a[] = {{W, "\x80\x00\x00\x05"}};
    run(a, 1, &L);
    cr_assert_eq(C.errors, 1);
    struct seg b[] = {{W, "set k 0 0 xx\r\nabc\r\n"}};
    run(b, 1, &L);
    cr_assert_eq(C.errors, 1);
    struct seg d[] = {{W, "get a\r\n"}, {R, "VALUE a 0 3\r\nabcdEND\r\n"}};
    run(d, 2, &L);
    cr_assert_eq(C.errors, 1);
    cr_assert_eq(C.unanswered, 1);
    struct seg e[] = {{W, "get a\r\nget b\r\n"}, {R, "END\r\n"}};
    run(e, 2, &L);
    chim_mc_close(&C, 5, on_x, &L);
    cr_assert_eq(L.n, 1);
    cr_assert_eq(C.unanswered, 1);
    cr_assert_eq(C.errors, 0);
}

Test(proto_memcache, split_every_position)
{
    static const char w[] =
        "get a b\r\nset k 0 0 4\r\nwxyz\r\nmg k v\r\ndelete q noreply\r\nget c\r\n";
    static const char r[] = "VALUE b 0 2\r\nhi\r\nEND\r\nSTORED\r\nVA 2\r\nok\r\nEND\r\n";
    struct log ref, got;
    struct seg one[] = {{W, w}, {R, r}};
    run(one, 2, &ref);
    cr_assert_eq(ref.n, 4);
    for (size_t a = 0; a <= strlen(w); a++)
        for (size_t b = 0; b <= strlen(r); b++) {
            memset(&got, 0, sizeof got);
            chim_mc_init(&C);
            chim_mc_feed(&C, W, w, a, 10, on_x, &got);
            chim_mc_feed(&C, W, w + a, strlen(w) - a, 10, on_x, &got);
            chim_mc_feed(&C, R, r, b, 11, on_x, &got);
            chim_mc_feed(&C, R, r + b, strlen(r) - b, 11, on_x, &got);
            cr_assert_eq(got.n, ref.n);
            for (int i = 0; i < ref.n; i++)
                cr_assert_eq(memcmp(&ref.r[i], &got.r[i], sizeof ref.r[i]), 0);
        }
}

Test(proto_memcache, random_garbage_never_crashes)
{
    static char buf[2048];
    srand(11);
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = (size_t)(rand() % (int)sizeof buf);
        const char *alpha = "get set VALUE END mg VA EN 0123456789\r\n";
        size_t na = strlen(alpha);
        for (size_t i = 0; i < n; i++)
            buf[i] = (rand() & 7) ? alpha[(size_t)rand() % na] : (char)rand();
        chim_mc_init(&C);
        memset(&L, 0, sizeof L);
        for (size_t i = 0; i < n;) {
            size_t k = 1 + (size_t)rand() % 32;
            k = k > n - i ? n - i : k;
            chim_mc_feed(&C, rand() & 1, buf + i, k, i, on_x, &L);
            if (L.n > 60)
                L.n = 0;
            i += k;
        }
        chim_mc_close(&C, n, on_x, &L);
    }
}
