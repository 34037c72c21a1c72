/*
 * httpbench.c - micro-benchmark of the HTTP/1.x framing parser
 * (agent/proto_http.c): feeds N keep-alive exchanges shaped like nginx
 * serving a small static file to curl/wrk (request head ~80 bytes, response
 * head ~240 bytes written with its body in one buffer) and prints the
 * nanoseconds per exchange, median of several runs.
 *
 *   httpbench [exchanges-per-run] [runs]
 *
 * Variants: "small" (6-byte body in the response buffer), "612" (nginx's
 * default index.html, body in the same buffer), "sendfile" (612-byte body
 * fed as a second buffer of zero bytes, as the agent does for sendfile),
 * "chunked" (a chunked response of four chunks in one buffer), and "split"
 * (each head fed in two pieces, the byte-by-byte fallback), and "wrk"
 * (what nginx sees from wrk: a request with only Host, nginx's 9-line
 * response head and its 6-byte body as writev's second buffer).
 *
 *   httpbench N RUNS VARIANT   runs only that variant (for callgrind)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto_http.h"

static const char REQ[] = "GET /index.html HTTP/1.1\r\n"
                          "Host: 127.0.0.1:8080\r\n"
                          "User-Agent: curl/7.88.1\r\n"
                          "Accept: */*\r\n"
                          "\r\n";

static const char WRK_REQ[] = "GET /index.html HTTP/1.1\r\n"
                              "Host: 127.0.0.1:18770\r\n"
                              "\r\n";

static const char WRK_HEAD[] = "HTTP/1.1 200 OK\r\n"
                               "Server: nginx/1.22.1\r\n"
                               "Date: Tue, 24 Nov 2026 17:07:16 GMT\r\n"
                               "Content-Type: text/html\r\n"
                               "Content-Length: 6\r\n"
                               "Last-Modified: Tue, 24 Nov 2026 17:06:00 GMT\r\n"
                               "Connection: keep-alive\r\n"
                               "ETag: \"6b05c3f8-6\"\r\n"
                               "Accept-Ranges: bytes\r\n"
                               "\r\n";

#define RESP_HEAD(len)                                                                             \
    "HTTP/1.1 200 OK\r\n"                                                                          \
    "Server: nginx/1.22.1\r\n"                                                                     \
    "Date: Tue, 24 Nov 2026 10:15:42 GMT\r\n"                                                      \
    "Content-Type: text/html\r\n"                                                                  \
    "Content-Length: " len "\r\n"                                                                  \
    "Last-Modified: Mon, 23 Nov 2026 08:00:00 GMT\r\n"                                             \
    "Connection: keep-alive\r\n"                                                                   \
    "ETag: \"6560a2c0-264\"\r\n"                                                                   \
    "Accept-Ranges: bytes\r\n"                                                                     \
    "\r\n"

static const char CHUNKED[] = "HTTP/1.1 200 OK\r\n"
                              "Server: nginx/1.22.1\r\n"
                              "Date: Tue, 24 Nov 2026 10:15:42 GMT\r\n"
                              "Content-Type: application/json\r\n"
                              "Transfer-Encoding: chunked\r\n"
                              "Connection: keep-alive\r\n"
                              "\r\n"
                              "21\r\n{\"id\":1,\"name\":\"alpha\",\"ok\":true}\r\n"
                              "21\r\n{\"id\":2,\"name\":\"bravo\",\"ok\":true}\r\n"
                              "21\r\n{\"id\":3,\"name\":\"gamma\",\"ok\":true}\r\n"
                              "21\r\n{\"id\":4,\"name\":\"delta\",\"ok\":true}\r\n"
                              "0\r\n\r\n";

struct variant {
    const char *name;
    const char *resp; /* response buffer */
    size_t resp_len;
    size_t extra;    /* bytes fed as a second buffer (sendfile) */
    int split;       /* feed each head in two pieces */
    const char *req; /* NULL: REQ */
    size_t req_len;
    const char *body; /* fed as a second buffer after resp (writev's next iovec) */
    size_t body_len;
};

static unsigned long long done;

static void on_x(void *ctx, const struct chim_http_exchange *x)
{
    (void)ctx;
    done += (unsigned long long)x->status;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void feed(struct chim_http_conn *c, int dir, const char *b, size_t n, int split, uint64_t t)
{
    if (split && n > 8) {
        size_t cut = n / 2;
        chim_http_feed(c, dir, b, cut, t, on_x, NULL);
        chim_http_feed(c, dir, b + cut, n - cut, t, on_x, NULL);
    } else {
        chim_http_feed(c, dir, b, n, t, on_x, NULL);
    }
}

static double run(const struct variant *v, long n)
{
    static const char zeros[4096];
    struct chim_http_conn c;
    chim_http_init(&c, CHIM_HTTP_SERVER);
    done = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (v->req)
            feed(&c, CHIM_DIR_IN, v->req, v->req_len, v->split, (uint64_t)i);
        else
            feed(&c, CHIM_DIR_IN, REQ, sizeof REQ - 1, v->split, (uint64_t)i);
        feed(&c, CHIM_DIR_OUT, v->resp, v->resp_len, v->split, (uint64_t)i);
        if (v->body)
            chim_http_feed(&c, CHIM_DIR_OUT, v->body, v->body_len, (uint64_t)i, on_x, NULL);
        if (v->extra)
            chim_http_feed(&c, CHIM_DIR_OUT, zeros, v->extra, (uint64_t)i, on_x, NULL);
    }
    double t1 = now_ns();
    if (done != 200ull * (unsigned long long)n || c.errors) {
        fprintf(stderr, "%s: %llu status sum, %u errors: parser lost framing\n", v->name, done,
                c.errors);
        exit(1);
    }
    return (t1 - t0) / (double)n;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static char small[512], big[2048];
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (n < 1 || runs < 1 || runs > 64) {
        fprintf(stderr, "usage: httpbench [exchanges-per-run] [runs<=64]\n");
        return 2;
    }
    size_t hs = (size_t)snprintf(small, sizeof small, "%s%s", RESP_HEAD("6"), "hello\n");
    size_t hb = (size_t)snprintf(big, sizeof big, "%s", RESP_HEAD("612"));
    size_t head612 = hb;
    memset(big + hb, 'x', 612);
    hb += 612;
    struct variant vs[] = {
        {"small", small, hs, 0, 0, NULL, 0, NULL, 0},
        {"612", big, hb, 0, 0, NULL, 0, NULL, 0},
        {"sendfile", big, head612, 612, 0, NULL, 0, NULL, 0},
        {"chunked", CHUNKED, sizeof CHUNKED - 1, 0, 0, NULL, 0, NULL, 0},
        {"split", small, hs, 0, 1, NULL, 0, NULL, 0},
        {"wrk", WRK_HEAD, sizeof WRK_HEAD - 1, 0, 0, WRK_REQ, sizeof WRK_REQ - 1, "hello\n", 6},
    };
    const char *only = argc > 3 ? argv[3] : NULL;
    printf("request %zu bytes, response head %zu bytes; %ld exchanges x %d runs\n", sizeof REQ - 1,
           head612 - 2, n, runs);
    for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++) {
        double r[64];
        if (only && strcmp(only, vs[k].name) != 0)
            continue;
        run(&vs[k], n / 10 + 1); /* warm up */
        for (int i = 0; i < runs; i++)
            r[i] = run(&vs[k], n);
        qsort(r, (size_t)runs, sizeof r[0], cmp);
        printf("%-9s %7.1f ns/exchange (min %.1f, max %.1f)\n", vs[k].name, r[runs / 2], r[0],
               r[runs - 1]);
    }
    return 0;
}
