/*
 * test_proto_http.c - framing cases of the HTTP/1.x exchange parser, the
 * split-anywhere equivalence (one buffer == any two pieces == byte by byte),
 * pipelining, overflow and garbage.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_http.h"

struct rec {
    char method[16], path[128], host[80];
    int status, cache;
    uint32_t flags;
    uint64_t tq0, tq1, tr0, tr1, qb, rb;
};

struct log {
    int n;
    struct rec r[64];
};

static void on_x(void *ctx, const struct chim_http_exchange *x)
{
    struct log *l = ctx;
    cr_assert_lt(l->n, 64);
    struct rec *r = &l->r[l->n++];
    snprintf(r->method, sizeof r->method, "%s", x->method);
    snprintf(r->path, sizeof r->path, "%s", x->path);
    snprintf(r->host, sizeof r->host, "%s", x->host);
    r->status = x->status;
    r->cache = x->cache;
    r->flags = x->flags;
    r->tq0 = x->t_req_first;
    r->tq1 = x->t_req_last;
    r->tr0 = x->t_resp_first;
    r->tr1 = x->t_resp_last;
    r->qb = x->req_bytes;
    r->rb = x->resp_bytes;
}

/* A transcript: segments of bytes in one direction. */
struct seg {
    int dir;
    const char *s;
};

/* Feed a transcript; split==0 one buffer per segment, split==1 one byte at a
 * time, split>=2 each segment cut at byte (split-2) when it is long enough. */
static void run(struct chim_http_conn *c, int role, const struct seg *t, int nseg, int split,
                int close, struct log *l)
{
    memset(l, 0, sizeof *l);
    chim_http_init(c, role);
    for (int k = 0; k < nseg; k++) {
        const char *s = t[k].s;
        size_t n = strlen(s);
        if (split == 1) {
            for (size_t i = 0; i < n; i++)
                chim_http_feed(c, t[k].dir, s + i, 1, 100 + k, on_x, l);
        } else if (split >= 2 && (size_t)(split - 2) < n) {
            size_t cut = (size_t)(split - 2);
            chim_http_feed(c, t[k].dir, s, cut, 100 + k, on_x, l);
            chim_http_feed(c, t[k].dir, s + cut, n - cut, 100 + k, on_x, l);
        } else {
            chim_http_feed(c, t[k].dir, s, n, 100 + k, on_x, l);
        }
    }
    if (close)
        chim_http_close(c, 999, on_x, l);
}

static void same_logs(const struct log *a, const struct log *b)
{
    cr_assert_eq(a->n, b->n);
    for (int i = 0; i < a->n; i++)
        cr_assert_eq(memcmp(&a->r[i], &b->r[i], sizeof a->r[i]), 0, "exchange %d differs", i);
}

#define IN  CHIM_DIR_IN
#define OUT CHIM_DIR_OUT

static struct chim_http_conn C;
static struct log L;

Test(proto_http, state_size)
{
    cr_assert_leq(sizeof(struct chim_http_conn), 512);
}

Test(proto_http, simple_get_timestamps)
{
    struct seg t[] = {{IN, "GET /a/b?x=1 HTTP/1.1\r\nHost: ex\r\n\r\n"},
                      {OUT, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"},
                      {OUT, "abc"}};
    run(&C, CHIM_HTTP_SERVER, t, 3, 0, 0, &L);
    cr_assert_eq(L.n, 1);
    cr_assert_str_eq(L.r[0].method, "GET");
    cr_assert_str_eq(L.r[0].path, "/a/b");
    cr_assert_str_eq(L.r[0].host, "ex");
    cr_assert_eq(L.r[0].status, 200);
    cr_assert_eq(L.r[0].tq0, 100);
    cr_assert_eq(L.r[0].tq1, 100);
    cr_assert_eq(L.r[0].tr0, 101);
    cr_assert_eq(L.r[0].tr1, 102);
    cr_assert_eq(L.r[0].qb, strlen(t[0].s));
    cr_assert_eq(L.r[0].rb, strlen(t[1].s) + 3);
    cr_assert_eq(L.r[0].cache, 0);
}

Test(proto_http, post_content_length_and_keepalive)
{
    struct seg t[] = {{IN, "POST /u HTTP/1.1\r\nContent-Length: 5\r\n\r\nhe"},
                      {IN, "llo"},
                      {OUT, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"},
                      {IN, "GET /v HTTP/1.1\r\n\r\n"},
                      {OUT, "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nno"}};
    run(&C, CHIM_HTTP_SERVER, t, 5, 0, 0, &L);
    cr_assert_eq(L.n, 2);
    cr_assert_str_eq(L.r[0].method, "POST");
    cr_assert_eq(L.r[0].status, 201);
    cr_assert_eq(L.r[0].tq1, 101);
    cr_assert_eq(L.r[0].flags & CHIM_HTTP_X_REQ_PARTIAL, 0);
    cr_assert_str_eq(L.r[1].path, "/v");
    cr_assert_eq(L.r[1].status, 404);
    cr_assert_eq(C.errors, 0);
}

Test(proto_http, chunked_both_ways_with_trailers)
{
    struct seg t[] = {
        {IN,
         "PUT /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4;ext=1\r\nwiki\r\n0\r\n\r\n"},
        {OUT,
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nA\r\n0123456789\r\n"},
        {OUT, "0\r\nX-Trailer: yes\r\nOther: 1\r\n\r\n"},
        {IN, "GET /after HTTP/1.1\r\n\r\n"},
        {OUT, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"}};
    run(&C, CHIM_HTTP_SERVER, t, 5, 0, 0, &L);
    cr_assert_eq(L.n, 2);
    cr_assert_str_eq(L.r[0].method, "PUT");
    cr_assert_eq(L.r[0].tr1, 102);
    cr_assert_eq(L.r[0].rb, strlen(t[1].s) + strlen(t[2].s));
    cr_assert_str_eq(L.r[1].path, "/after");
}

Test(proto_http, te_not_chunked_response_is_close_delimited)
{
    struct seg t[] = {{IN, "GET / HTTP/1.1\r\n\r\n"},
                      {OUT, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxxxx"}};
    run(&C, CHIM_HTTP_SERVER, t, 2, 0, 1, &L);
    cr_assert_eq(L.n, 1);
    cr_assert(L.r[0].flags & CHIM_HTTP_X_CLOSE_DELIM);
}

Test(proto_http, pipelining)
{
    struct seg t[] = {
        {IN, "GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n"},
        {OUT, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
              "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
              "HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nzz"}};
    run(&C, CHIM_HTTP_SERVER, t, 2, 0, 0, &L);
    cr_assert_eq(L.n, 3);
    cr_assert_str_eq(L.r[0].path, "/1");
    cr_assert_str_eq(L.r[1].path, "/2");
    cr_assert_str_eq(L.r[1].method, "HEAD");
    cr_assert_str_eq(L.r[2].path, "/3");
    cr_assert_eq(L.r[2].status, 500);
    cr_assert_eq(C.count, 0);
    cr_assert_eq(C.ring_used, 0);
}

Test(proto_http, no_body_statuses_and_interim)
{
    struct seg t[] = {{IN, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"},
                      {OUT, "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"},
                      {OUT, "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"},
                      {IN, "POST /c HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"},
                      {OUT, "HTTP/1.1 100 Continue\r\n\r\n"},
                      {IN, "ok"},
                      {OUT, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}};
    run(&C, CHIM_HTTP_SERVER, t, 7, 0, 0, &L);
    cr_assert_eq(L.n, 3);
    cr_assert_eq(L.r[0].status, 204);
    cr_assert_eq(L.r[1].status, 304);
    cr_assert_eq(L.r[2].status, 200);
    cr_assert_eq(L.r[2].tr0, 106, "TTFB is the final response's first byte");
    cr_assert_eq(L.r[2].tq1, 105);
    cr_assert_eq(L.r[2].rb, strlen(t[4].s) + strlen(t[6].s));
}

Test(proto_http, upgrade_101_passthrough)
{
    struct seg t[] = {{IN, "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"},
                      {OUT, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"},
                      {OUT, "\x81\x05hello garbage"},
                      {IN, "\x81\x85xxxxgarbage"}};
    run(&C, CHIM_HTTP_SERVER, t, 4, 0, 1, &L);
    cr_assert_eq(L.n, 1);
    cr_assert_eq(L.r[0].status, 101);
    cr_assert(L.r[0].flags & CHIM_HTTP_X_UPGRADE);
    cr_assert_eq(C.errors, 0);
}

Test(proto_http, connect_tunnel_client)
{
    struct seg t[] = {
        {OUT, "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n"},
        {IN, "HTTP/1.1 200 Connection established\r\n\r\n"},
        {OUT, "\x16\x03\x01 tls bytes"}};
    run(&C, CHIM_HTTP_CLIENT, t, 3, 0, 1, &L);
    cr_assert_eq(L.n, 1);
    cr_assert_str_eq(L.r[0].method, "CONNECT");
    cr_assert_str_eq(L.r[0].path, "api.example.com:443");
    cr_assert(L.r[0].flags & CHIM_HTTP_X_UPGRADE);
    cr_assert_eq(C.state, CHIM_HTTP_ST_CLOSED);
    cr_assert_eq(C.errors, 0);
}

Test(proto_http, close_delimited_completes_at_close)
{
    struct seg t[] = {{IN, "GET /old HTTP/1.0\r\n\r\n"},
                      {OUT, "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nbody..."},
                      {OUT, "more body"}};
    run(&C, CHIM_HTTP_SERVER, t, 3, 0, 0, &L);
    cr_assert_eq(L.n, 0);
    chim_http_close(&C, 5000, on_x, &L);
    cr_assert_eq(L.n, 1);
    cr_assert_eq(L.r[0].tr1, 102, "last byte time, not close time");
    cr_assert(L.r[0].flags & CHIM_HTTP_X_CLOSE_DELIM);
    cr_assert(L.r[0].flags & CHIM_HTTP_X_CONN_CLOSE);
    cr_assert_eq(C.truncated, 0);
}

Test(proto_http, xcache_hit_miss)
{
    struct seg t[] = {
        {IN, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n"},
        {OUT, "HTTP/1.1 200 OK\r\nx-cache: Hit from cloudfront\r\nContent-Length: 0\r\n\r\n"
              "HTTP/1.1 200 OK\r\nX-CACHE:MISS\r\nContent-Length: 0\r\n\r\n"
              "HTTP/1.1 200 OK\r\nX-Cache-Status: HIT\r\nX-Cache: BYPASS\r\n"
              "Content-Length: 0\r\n\r\n"}};
    run(&C, CHIM_HTTP_SERVER, t, 2, 0, 0, &L);
    cr_assert_eq(L.n, 3);
    cr_assert_eq(L.r[0].cache, 1);
    cr_assert_eq(L.r[1].cache, 2);
    cr_assert_eq(L.r[2].cache, 0);
}

Test(proto_http, client_role_host_and_absolute_form)
{
    struct seg t[] = {
        {OUT, "POST http://proxy.local:8080/v1/chat/completions?stream=1 HTTP/1.1\r\n"
              "Host:  api.openai.com \r\nContent-Length: 2\r\n\r\n{}"},
        {IN, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"}};
    run(&C, CHIM_HTTP_CLIENT, t, 2, 0, 0, &L);
    cr_assert_eq(L.n, 1);
    cr_assert_str_eq(L.r[0].path, "/v1/chat/completions");
    cr_assert_str_eq(L.r[0].host, "api.openai.com");
    cr_assert_eq(L.r[0].tq0, 100);
    cr_assert_eq(L.r[0].tr1, 101);
}

Test(proto_http, long_path_truncated)
{
    char req[400];
    char path[201];
    memset(path, 'p', 200);
    path[0] = '/';
    path[200] = 0;
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n\r\n", path);
    struct seg t[] = {{IN, req}, {OUT, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}};
    run(&C, CHIM_HTTP_SERVER, t, 2, 0, 0, &L);
    cr_assert_eq(L.n, 1);
    cr_assert_eq(strlen(L.r[0].path), CHIM_HTTP_PATH_MAX);
    cr_assert(L.r[0].flags & CHIM_HTTP_X_PATH_TRUNC);
}

Test(proto_http, pipeline_overflow_keeps_pairing)
{
    static char reqs[4096], resps[4096];
    reqs[0] = resps[0] = 0;
    for (int i = 0; i < 12; i++) {
        char b[128];
        snprintf(b, sizeof b, "%s /r%d HTTP/1.1\r\n\r\n", i == 10 ? "HEAD" : "GET", i);
        strcat(reqs, b);
        strcat(resps, i == 10 ? "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
                              : "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
    }
    struct seg t[] = {{IN, reqs},
                      {OUT, resps},
                      {IN, "GET /next HTTP/1.1\r\n\r\n"},
                      {OUT, "HTTP/1.1 202 OK\r\nContent-Length: 0\r\n\r\n"}};
    run(&C, CHIM_HTTP_SERVER, t, 4, 0, 0, &L);
    cr_assert_eq(L.n, 9);
    cr_assert_eq(C.overflow, 4);
    cr_assert_str_eq(L.r[7].path, "/r7");
    cr_assert_str_eq(L.r[8].path, "/next");
    cr_assert_eq(L.r[8].status, 202);
    cr_assert_eq(C.errors, 0);
}

Test(proto_http, orphan_truncated_unanswered)
{
    struct seg t[] = {{OUT, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n"},
                      {IN, "GET /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n"},
                      {OUT, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"}};
    run(&C, CHIM_HTTP_SERVER, t, 3, 0, 1, &L);
    cr_assert_eq(L.n, 0);
    cr_assert_eq(C.orphans, 1);
    cr_assert_eq(C.truncated, 1);
    cr_assert_eq(C.unanswered, 2);
}

Test(proto_http, response_before_request_ends)
{
    struct seg t[] = {
        {IN, "POST /up HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc"},
        {OUT, "HTTP/1.1 413 Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
        {IN, "more upload bytes"}};
    run(&C, CHIM_HTTP_SERVER, t, 3, 0, 1, &L);
    cr_assert_eq(L.n, 1);
    cr_assert_eq(L.r[0].status, 413);
    cr_assert(L.r[0].flags & CHIM_HTTP_X_REQ_PARTIAL);
    cr_assert_eq(C.errors, 0);
    cr_assert_eq(C.unanswered, 0);
}

static void expect_error(int role, const struct seg *t, int n)
{
    run(&C, role, t, n, 0, 1, &L);
    cr_assert_eq(C.errors, 1, "expected one framing error");
    for (int i = 0; i < L.n; i++)
        cr_assert_neq(L.r[i].status, 0);
}

Test(proto_http, garbage_goes_to_error)
{
    struct seg a[] = {{IN, "\x16\x03\x01\x02\x00 TLS hello"}};
    expect_error(CHIM_HTTP_SERVER, a, 1);
    struct seg b[] = {{IN, "GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"}};
    expect_error(CHIM_HTTP_SERVER, b, 1);
    struct seg c[] = {{IN, "GET / HTTP/1.1\r\n\r\n"}, {OUT, "HTTP/1.1 2x0 OK\r\n\r\n"}};
    expect_error(CHIM_HTTP_SERVER, c, 2);
    struct seg d[] = {{IN, "GET /\r\n"}};
    expect_error(CHIM_HTTP_SERVER, d, 1);
    struct seg e[] = {{IN, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"}};
    expect_error(CHIM_HTTP_SERVER, e, 1);
    struct seg f[] = {{IN, "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"}};
    expect_error(CHIM_HTTP_SERVER, f, 1);
    struct seg g[] = {{IN, "GET / HTTP/1.1\r\n\r\n"},
                      {OUT, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}};
    expect_error(CHIM_HTTP_SERVER, g, 2);
    cr_assert_eq(C.unanswered, 1);
    /* recoverable: the next connection parses */
    struct seg ok[] = {{IN, "GET / HTTP/1.1\r\n\r\n"},
                       {OUT, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}};
    run(&C, CHIM_HTTP_SERVER, ok, 2, 0, 0, &L);
    cr_assert_eq(L.n, 1);
    cr_assert_eq(C.errors, 0);
}

Test(proto_http, header_section_limit)
{
    static char big[80000];
    strcpy(big, "GET / HTTP/1.1\r\nX-Big: ");
    size_t n = strlen(big);
    memset(big + n, 'a', sizeof big - n - 1);
    struct seg t[] = {{IN, big}};
    expect_error(CHIM_HTTP_SERVER, t, 1);
}

Test(proto_http, many_small_chunks)
{
    /* A streamed (SSE-like) response: far more chunk lines than the header
     * limit allows for a header section. */
    chim_http_init(&C, CHIM_HTTP_CLIENT);
    memset(&L, 0, sizeof L);
    const char *q = "POST /v1/chat HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    chim_http_feed(&C, OUT, q, strlen(q), 1, on_x, &L);
    chim_http_feed(&C, IN, h, strlen(h), 2, on_x, &L);
    for (int i = 0; i < 20000; i++)
        chim_http_feed(&C, IN, "6\r\ndata: \r\n", 11, 3, on_x, &L);
    chim_http_feed(&C, IN, "0\r\n\r\n", 5, 4, on_x, &L);
    cr_assert_eq(C.errors, 0);
    cr_assert_eq(L.n, 1);
    cr_assert_eq(L.r[0].rb, strlen(h) + 20000 * 11 + 5);
}

/* The composite transcripts used for split equivalence. */
static const struct seg T1[] = {
    {IN, "\r\nPOST /api/v1/users/42?debug=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody"},
    {IN, "GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nT: 1\r\n\r\n"
         "HEAD /h HTTP/1.1\r\n\r\n"},
    {OUT, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nX-Cache: HIT\r\n"
          "Content-Length: 2\r\n\r\nok"},
    {OUT,
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
     "0\r\n\r\n"},
    {OUT, "HTTP/1.1 200 OK\r\nContent-Length: 55\r\nX-Cache: miss\r\n\r\n"},
    {IN, "GET /z HTTP/1.0\n\n"},
    {OUT, "HTTP/1.0 404 Not Found\nConnection: close\n\nclose-delimited tail"}};

static const struct seg T2[] = {
    {OUT, "GET /v1/models HTTP/1.1\r\nHost: api.example.com\r\n\r\n"},
    {IN, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
    {IN, "10\r\n0123456789abcdef\r\n0\r\n\r\n"},
    {OUT, "POST /v1/chat HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 3\r\n\r\n{x}"},
    {IN, "HTTP/1.1 429 Too Many\r\nContent-Length: 0\r\n\r\n"}};

static void split_equiv(int role, const struct seg *t, int n, int close)
{
    struct log ref, got;
    static struct chim_http_conn c2;
    run(&C, role, t, n, 0, close, &ref);
    cr_assert_gt(ref.n, 0);
    struct chim_http_conn ref_state = C;
    run(&c2, role, t, n, 1, close, &got);
    same_logs(&ref, &got);
    cr_assert_eq(c2.errors, ref_state.errors);
    for (int cut = 2; cut < 260; cut++) {
        run(&c2, role, t, n, cut, close, &got);
        same_logs(&ref, &got);
        cr_assert_eq(c2.errors, 0);
    }
}

Test(proto_http, split_equivalence_server)
{
    split_equiv(CHIM_HTTP_SERVER, T1, sizeof T1 / sizeof T1[0], 1);
    cr_assert_eq(L.n, 0); /* silence unused */
}

Test(proto_http, split_equivalence_client)
{
    split_equiv(CHIM_HTTP_CLIENT, T2, sizeof T2 / sizeof T2[0], 1);
}

Test(proto_http, split_every_position_whole_stream)
{
    /* Concatenate T1's request bytes and response bytes and cut both at
     * every position, interleaving requests first, then responses. */
    static char req[2048], resp[2048];
    req[0] = resp[0] = 0;
    for (size_t k = 0; k < sizeof T1 / sizeof T1[0]; k++)
        strcat(T1[k].dir == IN ? req : resp, T1[k].s);
    struct seg one[] = {{IN, req}, {OUT, resp}};
    struct log ref, got;
    run(&C, CHIM_HTTP_SERVER, one, 2, 0, 1, &ref);
    cr_assert_eq(ref.n, 4);
    size_t nq = strlen(req), nr = strlen(resp);
    for (size_t cut = 0; cut <= nq + nr; cut++) {
        memset(&got, 0, sizeof got);
        chim_http_init(&C, CHIM_HTTP_SERVER);
        size_t a = cut < nq ? cut : nq, b = cut > nq ? cut - nq : 0;
        chim_http_feed(&C, IN, req, a, 100, on_x, &got);
        chim_http_feed(&C, IN, req + a, nq - a, 100, on_x, &got);
        chim_http_feed(&C, OUT, resp, b, 101, on_x, &got);
        chim_http_feed(&C, OUT, resp + b, nr - b, 101, on_x, &got);
        chim_http_close(&C, 999, on_x, &got);
        same_logs(&ref, &got);
    }
}

Test(proto_http, random_garbage_never_crashes)
{
    static char buf[4096];
    srand(1234);
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = (size_t)(rand() % (int)sizeof buf);
        const char *alpha = "GET /HTP1.0\r\n:ContentLgh-Tsfrcdk 0123456789abcdefxX;";
        for (size_t i = 0; i < n; i++)
            buf[i] = (rand() & 3) ? alpha[rand() % 52] : (char)rand();
        chim_http_init(&C, iter & 1);
        memset(&L, 0, sizeof L);
        size_t i = 0;
        while (i < n) {
            size_t k = 1 + (size_t)rand() % 64;
            if (k > n - i)
                k = n - i;
            chim_http_feed(&C, rand() & 1, buf + i, k, (uint64_t)i, on_x, &L);
            if (L.n > 60)
                L.n = 0;
            i += k;
        }
        chim_http_close(&C, n, on_x, &L);
        for (int j = 0; j < L.n; j++)
            cr_assert(L.r[j].status >= 100 && L.r[j].status <= 999);
    }
}
