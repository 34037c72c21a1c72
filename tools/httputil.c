/*
 * httputil.c - helpers shared by the demo backend and the mock LLM: option
 * parsing, a minimal JSON string extractor/escaper (the bodies are tiny and
 * we only ever need one string field), and a blocking HTTP/1.1 client that
 * reads Content-Length and chunked responses, for the demo's LLM calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "httpd.h"

int chim_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int chim_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int chim_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(s, ':');
    long p;
    if (!colon || colon == s || (size_t)(colon - s) >= hostlen)
        return -1;
    if (chim_parse_long(colon + 1, 0, 65535, &p) < 0)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    if (!strcmp(host, "localhost"))
        snprintf(host, hostlen, "127.0.0.1");
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1)
        return -1;
    *port = (int)p;
    return 0;
}

/* ---- JSON ---- */

/* Finds the opening quote of the string value of "key"; NULL if none. */
static const char *json_value_at(const char *j, size_t n, const char *key)
{
    size_t kl = strlen(key);
    const char *end = j + n;
    for (const char *p = j; p + kl + 2 <= end; p++) {
        if (*p != '"' || memcmp(p + 1, key, kl) != 0 || p[kl + 1] != '"')
            continue;
        const char *q = p + kl + 2;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
            q++;
        if (q >= end || *q != ':')
            continue;
        q++;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
            q++;
        return q < end && *q == '"' ? q : NULL;
    }
    return NULL;
}

static char unescape(char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case 'r':
        return '\r';
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'u':
        return '?';
    default:
        return c; /* \" \\ \/ */
    }
}

char *chim_json_get_string(const char *json, size_t n, const char *key, size_t *len)
{
    const char *p = json_value_at(json, n, key);
    if (!p)
        return NULL;
    const char *end = json + n;
    char *out = malloc((size_t)(end - p) + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (p++; p < end && *p != '"'; p++) {
        if (*p == '\\') {
            if (++p >= end)
                break;
            out[o++] = unescape(*p);
            if (*p == 'u')
                p += (end - p > 4) ? 4 : 0;
        } else {
            out[o++] = *p;
        }
    }
    if (p >= end) {
        free(out);
        return NULL;
    }
    out[o] = 0;
    *len = o;
    return out;
}

size_t chim_json_escape(char *out, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)sprintf(out + o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = 0;
    return o;
}

/* ---- client ---- */

int chim_tcp_connect(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

/* A growable receive buffer with a read cursor. */
struct rbuf {
    int fd;
    char *b;
    size_t len, pos, cap;
};

static int rb_more(struct rbuf *r)
{
    if (r->cap - r->len < 4096) {
        size_t ncap = r->cap ? r->cap * 2 : 16384;
        if (ncap > 64u << 20)
            return -1;
        char *nb = realloc(r->b, ncap);
        if (!nb)
            return -1;
        r->b = nb;
        r->cap = ncap;
    }
    ssize_t n;
    do
        n = read(r->fd, r->b + r->len, r->cap - r->len);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1;
    r->len += (size_t)n;
    return 0;
}

/* Returns the offset just past the next CRLF from pos, reading as needed. */
static long rb_line(struct rbuf *r)
{
    for (;;) {
        for (size_t i = r->pos; i + 1 < r->len; i++)
            if (r->b[i] == '\r' && r->b[i + 1] == '\n')
                return (long)(i + 2);
        if (r->len - r->pos > 65536 || rb_more(r) < 0)
            return -1;
    }
}

static int rb_need(struct rbuf *r, size_t n)
{
    while (r->len - r->pos < n)
        if (rb_more(r) < 0)
            return -1;
    return 0;
}

/* Parses status line and headers; sets *clen (-1 if absent), *chunked. */
static int read_head(struct rbuf *r, struct chim_http_resp *resp, long *clen, int *chunked)
{
    long e = rb_line(r);
    if (e < 0 || e - (long)r->pos < 12 || memcmp(r->b, "HTTP/1.", 7) != 0)
        return -1;
    resp->status = atoi(r->b + 9);
    resp->keep_alive = r->b[7] == '1';
    r->pos = (size_t)e;
    *clen = -1;
    *chunked = 0;
    while ((e = rb_line(r)) >= 0 && e - (long)r->pos > 2) {
        char *h = r->b + r->pos;
        size_t hl = (size_t)e - r->pos - 2;
        if (hl > 15 && !strncasecmp(h, "Content-Length:", 15))
            *clen = strtol(h + 15, NULL, 10);
        else if (hl > 18 && !strncasecmp(h, "Transfer-Encoding:", 18))
            *chunked = memmem(h, hl, "chunked", 7) != NULL;
        else if (hl > 11 && !strncasecmp(h, "Connection:", 11))
            resp->keep_alive = memmem(h, hl, "close", 5) == NULL;
        r->pos = (size_t)e;
    }
    if (e < 0)
        return -1;
    r->pos = (size_t)e;
    return 0;
}

/* Decodes a chunked body in place at r->pos; body bytes land in out. */
static int read_chunked(struct rbuf *r, struct chim_http_resp *resp)
{
    size_t total = 0;
    char *out = NULL;
    for (;;) {
        long e = rb_line(r);
        if (e < 0)
            goto err;
        unsigned long sz = strtoul(r->b + r->pos, NULL, 16);
        r->pos = (size_t)e;
        if (sz > (16u << 20) || rb_need(r, sz + 2) < 0)
            goto err;
        if (sz == 0)
            break;
        char *nb = realloc(out, total + sz + 1);
        if (!nb)
            goto err;
        out = nb;
        memcpy(out + total, r->b + r->pos, sz);
        total += sz;
        r->pos += sz + 2;
    }
    if (out)
        out[total] = 0;
    resp->body = out ? out : calloc(1, 1);
    resp->body_len = total;
    return resp->body ? 0 : -1;
err:
    free(out);
    return -1;
}

int chim_http_client_read(int fd, struct chim_http_resp *resp)
{
    struct rbuf r = {.fd = fd};
    long clen;
    int chunked, rc = -1;
    memset(resp, 0, sizeof *resp);
    if (read_head(&r, resp, &clen, &chunked) < 0)
        goto out;
    if (chunked) {
        rc = read_chunked(&r, resp);
        goto out;
    }
    if (clen < 0 || clen > (64l << 20) || rb_need(&r, (size_t)clen) < 0)
        goto out;
    resp->body = malloc((size_t)clen + 1);
    if (!resp->body)
        goto out;
    memcpy(resp->body, r.b + r.pos, (size_t)clen);
    resp->body[clen] = 0;
    resp->body_len = (size_t)clen;
    rc = 0;
out:
    free(r.b);
    return rc;
}
