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

/* t[0..n) with every direction turned round: the same bytes as a client
 * sees them (its requests go out). Host is read in a client's requests
 * only, so the Host checks run on these. */
static const struct seg *as_client(const struct seg *t, int n)
{
    static struct seg out[16];
    cr_assert_leq(n, 16);
    for (int k = 0; k < n; k++)
        out[k] = (struct seg){t[k].dir == IN ? OUT : IN, t[k].s};
    return out;
}

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
    run(&C, CHIM_HTTP_CLIENT, as_client(t, 3), 3, 0, 0, &L);
    cr_assert_str_eq(L.r[0].host, "ex", "a client reports the Host it sent");
    run(&C, CHIM_HTTP_SERVER, t, 3, 0, 0, &L);
    cr_assert_eq(L.n, 1);
    cr_assert_str_eq(L.r[0].method, "GET");
    cr_assert_str_eq(L.r[0].path, "/a/b");
    cr_assert_str_eq(L.r[0].host, "", "a server does not read Host");
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
    struct seg f[] = {{IN, "GET / HTTP/1.1\r\nContent-Length: 1\r1\r\n\r\n"}};
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
    static char big[CHIM_HTTP_HEAD_MAX + 16000];
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

/* ---- whole-line fast path vs the byte machine ----------------------------
 *
 * A complete line is taken in one step when it is whole in the buffer; the
 * byte machine takes it otherwise. These transcripts are fed whole, one byte
 * at a time, and with each segment cut at every position, and everything
 * observable must agree: exchanges, counters, state, the kept Host. */

static void same_outcome(const struct chim_http_conn *a, const struct log *la,
                         const struct chim_http_conn *b, const struct log *lb, const char *what,
                         size_t cut)
{
    cr_assert_eq(la->n, lb->n, "%s: exchanges %d vs %d (cut %zu)", what, la->n, lb->n, cut);
    for (int i = 0; i < la->n; i++)
        cr_assert_eq(memcmp(&la->r[i], &lb->r[i], sizeof la->r[i]), 0,
                     "%s: exchange %d differs (cut %zu)", what, i, cut);
    cr_assert_eq(a->errors, b->errors, "%s: errors (cut %zu)", what, cut);
    cr_assert_eq(a->overflow, b->overflow, "%s: overflow (cut %zu)", what, cut);
    cr_assert_eq(a->orphans, b->orphans, "%s: orphans (cut %zu)", what, cut);
    cr_assert_eq(a->unanswered, b->unanswered, "%s: unanswered (cut %zu)", what, cut);
    cr_assert_eq(a->truncated, b->truncated, "%s: truncated (cut %zu)", what, cut);
    cr_assert_eq(a->state, b->state, "%s: state (cut %zu)", what, cut);
    cr_assert_eq(a->host_len, b->host_len, "%s: host (cut %zu)", what, cut);
    cr_assert_eq(memcmp(a->host, b->host, a->host_len), 0, "%s: host (cut %zu)", what, cut);
}

/* Feed t[0..n) without closing, segment k cut at `cut` (SIZE_MAX: whole;
 * 0: byte by byte), then close. */
static void feed_cut(struct chim_http_conn *c, int role, const struct seg *t, int n, size_t cut,
                     struct log *l)
{
    memset(l, 0, sizeof *l);
    chim_http_init(c, role);
    for (int k = 0; k < n; k++) {
        size_t len = strlen(t[k].s);
        if (cut == 0) {
            for (size_t i = 0; i < len; i++)
                chim_http_feed(c, t[k].dir, t[k].s + i, 1, 100 + k, on_x, l);
        } else {
            size_t a = cut < len ? cut : len;
            chim_http_feed(c, t[k].dir, t[k].s, a, 100 + k, on_x, l);
            chim_http_feed(c, t[k].dir, t[k].s + a, len - a, 100 + k, on_x, l);
        }
    }
    chim_http_close(c, 999, on_x, l);
}

/* Returns the whole-buffer log in *ref for further checks. */
static void fast_equiv(int role, const struct seg *t, int n, const char *what, struct log *ref)
{
    static struct chim_http_conn whole, other;
    static struct log got;
    size_t max = 0;
    for (int k = 0; k < n; k++)
        if (strlen(t[k].s) > max)
            max = strlen(t[k].s);
    feed_cut(&whole, role, t, n, SIZE_MAX, ref);
    feed_cut(&other, role, t, n, 0, &got);
    same_outcome(&whole, ref, &other, &got, what, 0);
    for (size_t cut = 1; cut <= max; cut++) {
        feed_cut(&other, role, t, n, cut, &got);
        same_outcome(&whole, ref, &other, &got, what, cut);
    }
    C = whole;
}

static const char NGINX_REQ[] = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                                "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
static const char NGINX_RESP[] = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"
                                 "Date: Tue, 24 Nov 2026 10:15:42 GMT\r\n"
                                 "Content-Type: text/html\r\nContent-Length: 6\r\n"
                                 "Last-Modified: Mon, 23 Nov 2026 08:00:00 GMT\r\n"
                                 "Connection: keep-alive\r\nETag: \"6560a2c0-264\"\r\n"
                                 "Accept-Ranges: bytes\r\n\r\nhello\n";

Test(proto_http, fast_nginx_head_whole_vs_every_split)
{
    struct seg t[] = {{IN, NGINX_REQ}, {OUT, NGINX_RESP}, {IN, NGINX_REQ}, {OUT, NGINX_RESP}};
    struct log ref;
    fast_equiv(CHIM_HTTP_CLIENT, as_client(t, 4), 4, "nginx as client", &ref);
    cr_assert_str_eq(ref.r[0].host, "127.0.0.1:8080");
    fast_equiv(CHIM_HTTP_SERVER, t, 4, "nginx", &ref);
    cr_assert_eq(ref.n, 2);
    cr_assert_str_eq(ref.r[0].path, "/index.html");
    cr_assert_str_eq(ref.r[0].host, "");
    cr_assert_eq(ref.r[1].qb, strlen(NGINX_REQ));
    cr_assert_eq(ref.r[1].rb, strlen(NGINX_RESP));
    cr_assert_eq(C.errors, 0);
    /* The whole transcript in two buffers, cut at every position. */
    static char q[1024], r[1024];
    snprintf(q, sizeof q, "%s%s", NGINX_REQ, NGINX_REQ);
    snprintf(r, sizeof r, "%s%s", NGINX_RESP, NGINX_RESP);
    struct seg two[] = {{IN, q}, {OUT, r}};
    fast_equiv(CHIM_HTTP_SERVER, two, 2, "nginx pipelined", &ref);
    cr_assert_eq(ref.n, 2);
}

Test(proto_http, fast_interesting_names_any_case_and_near_misses)
{
    /* Each name of interest in several cases, and names one byte shorter or
     * longer, or starting the same: only the exact ones count. */
    struct seg t[] = {
        {IN, "GET /a HTTP/1.1\r\nHOST: upper.example\r\nhost-name: no\r\nhos: no\r\n"
             "Hosts: no\r\n\r\n"},
        {OUT, "HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 3\r\nContent-Lengthy: 99\r\n"
              "Content-Lengt: 98\r\nContent-Location: /x\r\nContent_Length: 97\r\n"
              "CONNECTION: CLOSE\r\nConnections: keep\r\nX-CACHE: hIt\r\nX-Cache-Status: MISS\r\n"
              "X-Cach: MISS\r\n\r\nabc"},
        {IN, "GET /b HTTP/1.1\r\nhOsT:\t tab.example \t\r\n\r\n"},
        {OUT, "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip , CHUNKED\r\n"
              "Transfer-Encodings: identity\r\nTransfer-Encodin: identity\r\nx-cache: MISS, HIT\r\n"
              "connection: keep-alive , close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
        {IN, "GET /c HTTP/1.1\r\nX_Under_Score: 1\r\nx.dot~name!#$%&'*+^`|: v\r\n"
             "X-A-Header-Name-Longer-Than-Thirty-Two-Bytes: v\r\n"
             "X-A-Header-Name-Longer-Than-Sixteen: v\r\nHost:h\r\n\r\n"},
        {OUT, "HTTP/1.1 200 OK\r\nX-Cache:hitx\r\nContent-Length: 2\r\n\r\nok"},
        {IN, "GET /d HTTP/1.1\r\n\r\n"},
        {OUT, "HTTP/1.1 200 OK\r\nX-Cache: BYPASS\r\nTransfer-Encoding: chunked, gzip\r\n"
              "Content-Length: 2\r\n\r\ntail"}};
    struct log ref;
    fast_equiv(CHIM_HTTP_SERVER, t, 8, "names", &ref);
    for (int i = 0; i < ref.n; i++)
        cr_assert_str_eq(ref.r[i].host, "");
    fast_equiv(CHIM_HTTP_CLIENT, as_client(t, 8), 8, "names as client", &ref);
    cr_assert_eq(ref.n, 4);
    cr_assert_str_eq(ref.r[0].host, "upper.example");
    cr_assert_eq(ref.r[0].rb, strlen(t[1].s));
    cr_assert(ref.r[0].flags & CHIM_HTTP_X_CONN_CLOSE);
    cr_assert_eq(ref.r[0].cache, 1);
    cr_assert_str_eq(ref.r[1].host, "tab.example");
    cr_assert_eq(ref.r[1].rb, strlen(t[3].s), "chunked, the last coding");
    cr_assert(ref.r[1].flags & CHIM_HTTP_X_CONN_CLOSE);
    cr_assert_eq(ref.r[1].cache, 2);
    cr_assert_str_eq(ref.r[2].host, "h");
    cr_assert_eq(ref.r[2].cache, 1, "X-Cache matches HIT as a prefix");
    cr_assert_eq(ref.r[3].cache, 0);
    cr_assert_eq(ref.r[3].rb, strlen(t[7].s), "not chunked (gzip last): closes, CL ignored");
    cr_assert(ref.r[3].flags & CHIM_HTTP_X_CLOSE_DELIM);
    cr_assert_eq(C.errors, 0);
}

Test(proto_http, fast_request_and_status_line_variants)
{
    static char longm[64], longpath[256], req[1024];
    /* A 32-byte method is the longest allowed; the path is cut at 96. */
    memset(longm, 'M', 32);
    memset(longpath, 'p', 120);
    longpath[0] = '/';
    snprintf(req, sizeof req,
             "%s /m HTTP/1.1\r\n\r\nGET %s?q=%s#frag HTTP/1.1\r\n\r\nOPTIONS * HTTP/1.0\n\n"
             "DELETE /x?y HTTP/1.1\r\n\r\nPATCH /\xc3\xa9t\xc3\xa9 HTTP/1.1\r\n\r\n"
             "POST http://h:1/abs/p?x HTTP/1.1\r\nContent-Length: 1\r\n\r\nZ"
             "HEAD /h HTTP/1.1\r\n\r\n",
             longm, longpath, longpath);
    struct seg t[] = {
        {IN, req},
        {OUT, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"
              "HTTP/1.0 201 \r\nContent-Length: 0\r\n\r\n"
              "HTTP/1.1 202 Accepted but with a rather long reason phrase\r\n"
              "Content-Length: 0\r\n\r\n"
              "HTTP/1.1 204\n\n"
              "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 205 Reset\r\nContent-Length: 0\r\n\r\n"
              "HTTP/1.1 999 Nine\r\nContent-Length: 0\r\n\r\n"
              "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"}};
    struct log ref;
    fast_equiv(CHIM_HTTP_SERVER, t, 2, "lines", &ref);
    cr_assert_eq(ref.n, 7);
    cr_assert_str_eq(ref.r[0].method, "OTHER");
    cr_assert_eq(strlen(ref.r[1].path), CHIM_HTTP_PATH_MAX);
    cr_assert(ref.r[1].flags & CHIM_HTTP_X_PATH_TRUNC);
    cr_assert_str_eq(ref.r[2].path, "*");
    cr_assert_str_eq(ref.r[3].method, "DELETE");
    cr_assert_str_eq(ref.r[3].path, "/x");
    cr_assert_str_eq(ref.r[4].path, "/\xc3\xa9t\xc3\xa9");
    cr_assert_str_eq(ref.r[5].path, "/abs/p");
    cr_assert_str_eq(ref.r[6].method, "HEAD");
    cr_assert_eq(ref.r[6].status, 200);
    cr_assert_eq(C.errors, 0);
}

Test(proto_http, fast_bad_lines_fail_like_the_byte_machine)
{
    static const char *const bad_req[] = {
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",
        "GET / HTTP/1.1\rX\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET /a\x01 HTTP/1.1\r\n\r\n",
        "GET /a?b\x7f HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 2\r\r\n\r\n",
        "GET / HTTP/1.1\r\ncontent-length:\r3\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 4611686018427387905\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 18446744073709551620\r\n\r\nabcd",
        "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM / HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0123456789abcdef0\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000001\r\nx\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1x\r\n"};
    static const char *const bad_resp[] = {"HTTP/1.1 2000 OK\r\n\r\n",   "HTTP/1.1 099 OK\r\n\r\n",
                                           "HTTP/1.1  200 OK\r\n\r\n",   "HTTP/1.x 200 OK\r\n\r\n",
                                           "HTTP/1.1 200 OK\rX\r\n\r\n", "HTTP/1.1 20\r\n\r\n",
                                           "http/1.1 200 OK\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad_req / sizeof bad_req[0]; i++) {
        struct seg t[] = {{IN, bad_req[i]}, {OUT, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}};
        struct log ref;
        fast_equiv(CHIM_HTTP_SERVER, t, 2, bad_req[i], &ref);
        cr_assert_eq(C.errors, 1, "%s", bad_req[i]);
    }
    for (size_t i = 0; i < sizeof bad_resp / sizeof bad_resp[0]; i++) {
        struct seg t[] = {{IN, "GET / HTTP/1.1\r\n\r\n"}, {OUT, bad_resp[i]}};
        struct log ref;
        fast_equiv(CHIM_HTTP_SERVER, t, 2, bad_resp[i], &ref);
        cr_assert_eq(C.errors, 1, "%s", bad_resp[i]);
    }
}

/* Header lines that are not read are only counted, whatever they hold: an
 * observer frames what the server answers (nginx: 400 to a blank in a
 * name, 200 to '@'). Each request here is framed and paired, whole and at
 * every split, with no error; the name must match exactly to be read. */
Test(proto_http, unread_header_lines_are_lenient)
{
    static const char *const odd[] = {"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
                                      "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
                                      "GET / HTTP/1.1\r\n: v\r\n\r\n",
                                      "GET / HTTP/1.1\r\nX : v\r\n\r\n",
                                      "GET / HTTP/1.1\r\n\tfolded: x\r\n\r\n",
                                      "GET / HTTP/1.1\r\nX-\xff: v\r\n\r\n",
                                      "GET / HTTP/1.1\r\nX@y: z\r\n\r\n",
                                      "GET / HTTP/1.1\r\nNoColonLine\r\n\r\n",
                                      "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
                                      "GET / HTTP/1.1\r\n\r\r\n\r\n",
                                      "GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n",
                                      "GET / HTTP/1.1\r\nContent\rLength: 5\r\n\r\n",
                                      "GET / HTTP/1.1\r\nContent-Length\r\n\r\n",
                                      "GET / HTTP/1.1\r\nTransfer-Encoding-X: chunked\r\n\r\n",
                                      "GET / HTTP/1.1\nX: y\n\n"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        struct seg t[] = {{IN, odd[i]},
                          {OUT, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"}};
        struct log ref;
        fast_equiv(CHIM_HTTP_SERVER, t, 2, odd[i], &ref);
        cr_assert_eq(C.errors, 0, "%s", odd[i]);
        cr_assert_eq(ref.n, 1, "%s", odd[i]);
        cr_assert_eq(ref.r[0].status, 400, "%s", odd[i]);
        cr_assert_eq(ref.r[0].qb, strlen(odd[i]), "%s", odd[i]);
    }
    /* A response's odd lines around the ones that frame it. */
    struct seg t[] = {{IN, "GET / HTTP/1.1\r\n\r\n"},
                      {OUT, "HTTP/1.1 200 OK\r\nX Y: 1\r\nCONTENT-LENGTH: 3\r\n\x01\x02\r\n"
                            "x-cache: HIT\r\n\r\nabc"}};
    struct log ref;
    fast_equiv(CHIM_HTTP_SERVER, t, 2, "odd response", &ref);
    cr_assert_eq(ref.n, 1);
    cr_assert_eq(ref.r[0].cache, 1);
    cr_assert_eq(C.errors, 0);
}

Test(proto_http, fast_chunk_lines)
{
    struct seg t[] = {
        {OUT, "POST /s HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
              "5;name=value;other\r\nhello\r\n00000000000000A\r\n0123456789\r\n"
              "1 \r\nx\r\n1\t;e\r\ny\r\n1\nz\n0\r\nTrailer-One: 1\r\nContent-Length: 77\r\n\r\n"},
        {IN, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             "1a\r\nabcdefghijklmnopqrstuvwxyz\r\nA;x\r\n0123456789\r\n0;last\r\n\r\n"},
        {OUT, "GET /t HTTP/1.1\r\nHost: example.org\r\n\r\n"},
        {IN, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}};
    struct log ref;
    fast_equiv(CHIM_HTTP_CLIENT, t, 4, "chunks", &ref);
    cr_assert_eq(ref.n, 2);
    cr_assert_eq(ref.r[0].qb, strlen(t[0].s));
    cr_assert_eq(ref.r[0].rb, strlen(t[1].s));
    cr_assert_str_eq(ref.r[1].host, "example.org");
    cr_assert_eq(C.errors, 0);
}

Test(proto_http, fast_host_at_the_kept_length)
{
    /* Host is the last one seen on the connection: answer each request
     * before the next so every exchange reports its own. */
    static char q1[128], q2[128], q3[128];
    char h64[65], h65[66];
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    memset(h64, 'h', 64);
    h64[64] = 0;
    memset(h65, 'k', 65);
    h65[65] = 0;
    snprintf(q1, sizeof q1, "GET /1 HTTP/1.1\r\nHost: %s\r\n\r\n", h64);
    snprintf(q2, sizeof q2, "GET /2 HTTP/1.1\r\nHost: %s\r\n\r\n", h65);
    snprintf(q3, sizeof q3, "GET /3 HTTP/1.1\r\nHost: %s   \r\n\r\n", h64);
    struct seg t[] = {{OUT, q1}, {IN, ok}, {OUT, q2}, {IN, ok}, {OUT, q3}, {IN, ok}};
    struct log ref;
    fast_equiv(CHIM_HTTP_SERVER, as_client(t, 6), 6, "host, server", &ref);
    cr_assert_eq(ref.n, 3);
    cr_assert_eq(C.host_len, 0, "a server keeps no Host");
    fast_equiv(CHIM_HTTP_CLIENT, t, 6, "host", &ref);
    cr_assert_eq(ref.n, 3);
    cr_assert_str_eq(ref.r[0].host, h64);
    cr_assert_eq(strlen(ref.r[1].host), 64);
    cr_assert_eq(memcmp(ref.r[1].host, h65, 64), 0);
    cr_assert_str_eq(ref.r[2].host, h64, "trailing blanks past the kept length");
    cr_assert_eq(C.host_len, 64);
}

Test(proto_http, fast_value_tokens_near_misses)
{
    /* Every value token against words that differ in one byte, first or
     * last, or are one byte shorter or longer. */
    static const struct {
        const char *hdr;
        int close, cache, chunked;
    } cases[] = {{"Connection: close", 1, 0, 0},
                 {"Connection: CLOSE", 1, 0, 0},
                 {"Connection: closf", 0, 0, 0},
                 {"Connection: xlose", 0, 0, 0},
                 {"Connection: clos", 0, 0, 0},
                 {"Connection: closed", 0, 0, 0},
                 {"Connection: a,close", 1, 0, 0},
                 {"Connection: close,a", 1, 0, 0},
                 {"X-Cache: hit", 0, 1, 0},
                 {"X-Cache: hiT", 0, 1, 0},
                 {"X-Cache: hix", 0, 0, 0},
                 {"X-Cache: hi", 0, 0, 0},
                 {"X-Cache: MISS", 0, 2, 0},
                 {"X-Cache: misx", 0, 0, 0},
                 {"X-Cache: mis", 0, 0, 0},
                 {"X-Cache: missed", 0, 2, 0},
                 {"X-Cache: x, hit", 0, 0, 0},
                 {"X-Cache:   hit   ", 0, 1, 0},
                 {"Transfer-Encoding: chunked", 0, 0, 1},
                 {"Transfer-Encoding: chunkeD", 0, 0, 1},
                 {"Transfer-Encoding: chunkez", 0, 0, 0},
                 {"Transfer-Encoding: chunke", 0, 0, 0},
                 {"Transfer-Encoding: chunkedx", 0, 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char resp[256];
        snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\n%s\r\nContent-Length: 3\r\n\r\n%s",
                 cases[i].hdr, cases[i].chunked ? "3\r\nabc\r\n0\r\n\r\n" : "abc");
        struct seg t[] = {{IN, "GET / HTTP/1.1\r\n\r\n"}, {OUT, resp}};
        struct log ref;
        fast_equiv(CHIM_HTTP_SERVER, t, 2, cases[i].hdr, &ref);
        cr_assert_eq(ref.n, 1, "%s", cases[i].hdr);
        cr_assert_eq(!!(ref.r[0].flags & CHIM_HTTP_X_CONN_CLOSE), cases[i].close, "%s",
                     cases[i].hdr);
        cr_assert_eq(ref.r[0].cache, cases[i].cache, "%s", cases[i].hdr);
        cr_assert_eq(!!(ref.r[0].flags & CHIM_HTTP_X_CLOSE_DELIM),
                     !cases[i].chunked && cases[i].hdr[0] == 'T', "%s", cases[i].hdr);
        cr_assert_eq(C.errors, 0, "%s", cases[i].hdr);
    }
}

/* A request head of exactly `total` bytes: one big header padded to fit. */
static size_t head_of(char *buf, size_t total, const char *eol)
{
    const char *start = "GET / HTTP/1.1";
    size_t el = strlen(eol);
    size_t fixed = strlen(start) + el + strlen("X-Pad: ") + el + el;
    size_t pad = total - fixed;
    size_t n = (size_t)sprintf(buf, "%s%sX-Pad: ", start, eol);
    memset(buf + n, 'a', pad);
    n += pad;
    n += (size_t)sprintf(buf + n, "%s%s", eol, eol);
    return n;
}

Test(proto_http, fast_header_limit_exact)
{
    /* The head may be CHIM_HTTP_HEAD_MAX bytes exactly (its last LF
     * included), not one byte more; both with CRLF and bare LF, whole and
     * cut anywhere near the end. */
    static char buf[CHIM_HTTP_HEAD_MAX + 8000];
    static struct chim_http_conn a, b;
    static struct log la, lb;
    const char *eols[] = {"\r\n", "\n"};
    for (int e = 0; e < 2; e++) {
        for (size_t total = CHIM_HTTP_HEAD_MAX - 2; total <= CHIM_HTTP_HEAD_MAX + 2; total++) {
            size_t n = head_of(buf, total, eols[e]);
            cr_assert_eq(n, total);
            const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            int want_err = total > CHIM_HTTP_HEAD_MAX;
            memset(&la, 0, sizeof la);
            chim_http_init(&a, CHIM_HTTP_SERVER);
            chim_http_feed(&a, IN, buf, n, 1, on_x, &la);
            chim_http_feed(&a, OUT, resp, strlen(resp), 2, on_x, &la);
            cr_assert_eq(a.errors, (uint32_t)want_err, "total %zu", total);
            cr_assert_eq(la.n, !want_err);
            for (size_t cut = n - 12; cut <= n; cut++) {
                memset(&lb, 0, sizeof lb);
                chim_http_init(&b, CHIM_HTTP_SERVER);
                chim_http_feed(&b, IN, buf, cut, 1, on_x, &lb);
                chim_http_feed(&b, IN, buf + cut, n - cut, 1, on_x, &lb);
                chim_http_feed(&b, OUT, resp, strlen(resp), 2, on_x, &lb);
                same_outcome(&a, &la, &b, &lb, "limit", cut);
            }
            for (size_t cut = 0; cut < 40; cut++) {
                memset(&lb, 0, sizeof lb);
                chim_http_init(&b, CHIM_HTTP_SERVER);
                chim_http_feed(&b, IN, buf, cut, 1, on_x, &lb);
                chim_http_feed(&b, IN, buf + cut, n - cut, 1, on_x, &lb);
                chim_http_feed(&b, OUT, resp, strlen(resp), 2, on_x, &lb);
                same_outcome(&a, &la, &b, &lb, "limit", cut);
            }
        }
    }
}

Test(proto_http, fast_random_heads_whole_vs_bytewise)
{
    /* Heads assembled from pieces that stress the line scan: names of every
     * length around the SIMD widths, values with blanks and separators,
     * bare LF, stray CR, garbage; fed whole and byte by byte. */
    static const char *const names[] = {"Host",
                                        "host",
                                        "HOST",
                                        "Hos",
                                        "Hostx",
                                        "Content-Length",
                                        "content-length",
                                        "Connection",
                                        "CONNECTION",
                                        "Transfer-Encoding",
                                        "TRANSFER-ENCODING",
                                        "X-Cache",
                                        "x-cache",
                                        "X-Cach",
                                        "X-Cache-Status",
                                        "A",
                                        "Abcdefghijklmno",
                                        "Abcdefghijklmnop",
                                        "Abcdefghijklmnopq",
                                        "Abcdefghijklmnopqrstuvwxyz01234",
                                        "Abcdefghijklmnopqrstuvwxyz012345",
                                        "Abcdefghijklmnopqrstuvwxyz0123456",
                                        "X_Y",
                                        "a.b",
                                        "Bad Name",
                                        ""};
    static const char *const values[] = {"",
                                         " ",
                                         " 0",
                                         " 12",
                                         "12 ",
                                         " 1 2",
                                         " chunked",
                                         " gzip, chunked",
                                         " chunked, gzip",
                                         " close",
                                         " keep-alive, Close",
                                         " HIT",
                                         " miss",
                                         " hit-x",
                                         " example.com:80 ",
                                         "\tv\t",
                                         " a\rb",
                                         " x,y,,z",
                                         " Keep-Alive ",
                                         "keep-alive",
                                         " keep-alivex"};
    static const char *const eols[] = {"\r\n", "\n", "\r\n", "\r\n", "\r"};
    static char req[4096], resp[4096];
    static struct chim_http_conn a, b;
    static struct log la, lb;
    srand(4321);
    for (int iter = 0; iter < 3000; iter++) {
        size_t nq = (size_t)sprintf(req, "%s /r%d HTTP/1.1\r\n", (iter & 7) ? "GET" : "HEAD", iter);
        size_t nr = (size_t)sprintf(resp, "HTTP/1.1 %d OK\r\n", 200 + iter % 7);
        for (int h = rand() % 6; h > 0; h--) {
            char *buf = (rand() & 1) ? req : resp;
            size_t *n = buf == req ? &nq : &nr;
            *n += (size_t)sprintf(buf + *n, "%s:%s%s", names[rand() % 26], values[rand() % 21],
                                  eols[rand() % 5]);
        }
        nq += (size_t)sprintf(req + nq, "\r\n");
        nr += (size_t)sprintf(resp + nr, "%s", (rand() & 1) ? "\r\n12\r\n" : "\n0\r\n\r\n");
        int role = iter & 1 ? CHIM_HTTP_CLIENT : CHIM_HTTP_SERVER;
        int qdir = role == CHIM_HTTP_SERVER ? IN : OUT;
        memset(&la, 0, sizeof la);
        memset(&lb, 0, sizeof lb);
        chim_http_init(&a, role);
        chim_http_init(&b, role);
        chim_http_feed(&a, qdir, req, nq, 1, on_x, &la);
        chim_http_feed(&a, !qdir, resp, nr, 2, on_x, &la);
        chim_http_close(&a, 3, on_x, &la);
        for (size_t i = 0; i < nq; i++)
            chim_http_feed(&b, qdir, req + i, 1, 1, on_x, &lb);
        for (size_t i = 0; i < nr; i++)
            chim_http_feed(&b, !qdir, resp + i, 1, 2, on_x, &lb);
        chim_http_close(&b, 3, on_x, &lb);
        same_outcome(&a, &la, &b, &lb, req, (size_t)iter);
    }
}

/* ---- whole-head run --------------------------------------------------------
 *
 * Header lines whole in the buffer are taken by one load at their start and a
 * scan for their end; names of a read length whose first byte matches are
 * compared, every other line only counted. */

Test(proto_http, head_run_same_length_same_first_byte)
{
    /* Names of the read lengths that start like a read name but differ later
     * (and in other cases) are not read; the real ones still are. */
    struct seg t[] = {
        {IN, "GET /a HTTP/1.1\r\nHosx: wrong.example\r\nhOsT: \t right.example \t\r\n"
             "Hist: no\r\nX-Ok: 1\r\n\r\n"},
        {OUT, "HTTP/1.1 200 OK\r\nContent-Lengtx: 99\r\ncontent-lengtz: 98\r\n"
              "Contact-Length: 97\r\nConnectiox: close\r\nConnecting: close\r\n"
              "X-Cachx: MISS\r\nx-Cache: Hit-Fresh\r\nHost: resp.example\r\n"
              "Content-Length: 3\r\nTransfer-Encodinx: chunked\r\nCONNECTION: Keep-Alive, CLOSE\r\n"
              "\r\nabc"},
    };
    struct log ref;
    fast_equiv(CHIM_HTTP_SERVER, t, 2, "same first byte, server", &ref);
    cr_assert_str_eq(ref.r[0].host, "");
    fast_equiv(CHIM_HTTP_CLIENT, as_client(t, 2), 2, "same first byte", &ref);
    cr_assert_eq(ref.n, 1);
    cr_assert_str_eq(ref.r[0].host, "right.example");
    cr_assert_eq(ref.r[0].rb, strlen(t[1].s));
    cr_assert_eq(ref.r[0].cache, 1);
    cr_assert(ref.r[0].flags & CHIM_HTTP_X_CONN_CLOSE);
    cr_assert_eq(C.errors, 0);
}

Test(proto_http, head_run_long_lines_and_block_edges)
{
    /* Lines shorter than, as long as and longer than the 16-byte loads, names
     * of 15, 16 and 17 bytes, values crossing several loads, and heads whose
     * end falls on, before and after a 16-byte boundary (the padding value
     * grows one byte per round), with CRLF and bare LF. */
    static char q[512], r[1024];
    static const char *const eols[] = {"\r\n", "\n"};
    for (int e = 0; e < 2; e++) {
        const char *el = eols[e];
        for (int pad = 0; pad < 18; pad++) {
            char v[32];
            memset(v, 'v', (size_t)pad);
            v[pad] = 0;
            snprintf(q, sizeof q,
                     "GET /%s HTTP/1.1%sHost: h%s%sAbcdefghijklmno: x%sAbcdefghijklmnop: y%s"
                     "Abcdefghijklmnopq: z%s%s",
                     v, el, v, el, el, el, el, el);
            snprintf(r, sizeof r,
                     "HTTP/1.1 200 OK%sA: %s%sContent-Length: 2%s"
                     "X-Long: 0123456789abcdef0123456789abcdef0123456789abcdef01234%s"
                     "Transfer-Encoding-X: chunked%sConnection: close%sB: %s%s%sok",
                     el, v, el, el, el, el, el, v, el, el);
            struct seg t[] = {{IN, q}, {OUT, r}};
            struct log ref;
            fast_equiv(CHIM_HTTP_SERVER, t, 2, q, &ref);
            cr_assert_eq(ref.n, 1, "%s", q);
            cr_assert_eq(ref.r[0].rb, strlen(r), "%s", r);
            cr_assert(ref.r[0].flags & CHIM_HTTP_X_CONN_CLOSE);
            cr_assert_eq(C.errors, 0, "%s", q);
        }
    }
}

Test(proto_http, head_run_bad_lines_after_good_ones)
{
    /* A bad line after a run of lines that are only counted: the error and the
     * counts are those of the byte machine, whatever the split. */
    static const char *const bad[] = {
        "Bad Name: x\r\n",
        " obs-fold\r\n",
        "NoColonAtAllInThisLine\r\n",
        "X: a\rb\r\n",
        ": empty\r\n",
        "Content-Length: 1x\r\n",
        "Content-Length: 3\r\n",
        "Abcdefghijklmnopqrstu_vwxyz: ok\r\n",
        "X_Y: ok\r\n",
    };
    static char r[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(r, sizeof r,
                 "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 4\r\n"
                 "Date: Tue, 24 Nov 2026 10:15:42 GMT\r\n%sAccept-Ranges: bytes\r\n\r\nbody",
                 bad[i]);
        struct seg t[] = {{IN, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"}, {OUT, r}};
        struct log ref;
        fast_equiv(CHIM_HTTP_SERVER, t, 2, bad[i], &ref);
    }
}

Test(proto_http, head_run_limit_among_counted_lines)
{
    /* Many short lines that are only counted, the head at the limit give or
     * take a few bytes: the limit applies at the same byte whole and cut. */
    static char buf[CHIM_HTTP_HEAD_MAX + 8000];
    static struct chim_http_conn a, b;
    static struct log la, lb;
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (size_t total = CHIM_HTTP_HEAD_MAX - 2; total <= CHIM_HTTP_HEAD_MAX + 2; total++) {
        size_t n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
        while (total - n > 60)
            n += (size_t)sprintf(buf + n, "X-Some-Header: 0123456789\r\n");
        n += (size_t)sprintf(buf + n, "X-Pad: ");
        memset(buf + n, 'p', total - n - 4);
        n = total - 4;
        n += (size_t)sprintf(buf + n, "\r\n\r\n");
        cr_assert_eq(n, total);
        memset(&la, 0, sizeof la);
        chim_http_init(&a, CHIM_HTTP_SERVER);
        chim_http_feed(&a, IN, buf, n, 1, on_x, &la);
        chim_http_feed(&a, OUT, resp, strlen(resp), 2, on_x, &la);
        cr_assert_eq(a.errors, (uint32_t)(total > CHIM_HTTP_HEAD_MAX), "total %zu", total);
        for (size_t cut = 0; cut <= n; cut += cut < 64 || cut > n - 64 ? 1 : n / 24 + 1) {
            memset(&lb, 0, sizeof lb);
            chim_http_init(&b, CHIM_HTTP_SERVER);
            chim_http_feed(&b, IN, buf, cut, 1, on_x, &lb);
            chim_http_feed(&b, IN, buf + cut, n - cut, 1, on_x, &lb);
            chim_http_feed(&b, OUT, resp, strlen(resp), 2, on_x, &lb);
            same_outcome(&a, &la, &b, &lb, "limit run", cut);
        }
    }
}
