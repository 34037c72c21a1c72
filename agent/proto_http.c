/*
 * proto_http.c - incremental HTTP/1.x framing for the socket hooks.
 *
 * Two byte-driven state machines per connection (request stream and response
 * stream) frame messages as RFC 9112 section 6 says; a FIFO of pending
 * requests pairs responses with requests in order. Nothing is buffered except
 * what is reported: a request's path (in a small ring shared by the pending
 * requests) and the Host header. Body bytes are skipped in bulk. A line that
 * is whole in the buffer (the usual case: a head arrives in one read or one
 * writev) is taken in one step; a header section's LFs are found 16 bytes at
 * a time with SSE2, and only lines whose first byte may start a name that is
 * read are looked at. Header lines are read leniently (only the few names
 * that frame or are reported are checked; see "headers"). Otherwise bytes go
 * through one switch per byte, and both paths leave the same state after a
 * line, so any split of the input gives the same exchanges. A request or
 * status line, a framing header or a chunk line that does not parse puts
 * the connection in an error state (counted) until re-init.
 */
#include "proto_http.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum {
    S_IDLE, /* between messages */
    S_METHOD,
    S_TARGET0,
    S_TARGET,
    S_TSKIP, /* query or fragment */
    S_ABS,   /* absolute-form: skipping scheme://authority */
    S_VER,   /* request line: "HTTP/1.x" then end of line */
    S_SVER,  /* status line: "HTTP/1.x " */
    S_STATUS,
    S_REASON,
    S_HSTART, /* start of a header (or trailer) line */
    S_HCR,    /* a header line started with CR: empty if LF follows */
    S_HNAME,  /* a name that may still be one that is read */
    S_HSKIP,  /* a line that is not read: up to its LF */
    S_HVALUE,
    S_HVCR, /* CR in a value: the line ends if LF follows */
    S_LF,   /* CR seen, LF expected; then the line kind in `next` ends */
    S_CSIZE,
    S_CEXT,
    S_CDEND, /* CRLF after chunk data */
    S_BODY,  /* Content-Length body (bulk) */
    S_CDATA, /* chunk data (bulk) */
    S_EOF,   /* close-delimited body (bulk) */
};

/* Kinds of line end, kept in `next` while a CR waits for its LF. */
enum { L_REQLINE, L_STATUS, L_HEADER, L_HEMPTY, L_CSIZE, L_CDEND };

enum { H_NONE, H_CL, H_TE, H_HOST, H_CONN, H_XCACHE };

/* Stream flags. */
#define HS_HAVE_CL  0x0001
#define HS_HAVE_TE  0x0002
#define HS_CHUNKED  0x0004 /* last transfer coding is chunked */
#define HS_CLOSE    0x0008
#define HS_TRAILER  0x0010
#define HS_CUR_FULL 0x0020 /* request stream: current request is in the FIFO */
#define HS_CUR_SKEL 0x0040 /* request stream: current request is a skeleton */
#define HS_VSTART   0x0080 /* header value: first non-blank seen */
#define HS_VEND     0x0100 /* header value: blank after the value seen */
#define HS_HIT      0x0200
#define HS_MISS     0x0400
#define HS_XCDONE   0x0800

/* Pending request flags. */
#define P_HEAD    0x01
#define P_CONNECT 0x02
#define P_DONE    0x04
#define P_TRUNC   0x08

/* Response flags (chim_http_conn.resp_flags). */
#define RF_FIRST 0x01 /* t_resp_first of the final response is set */

#define CL_LIMIT (1ull << 62)

enum { M_OTHER, M_GET, M_HEAD, M_POST, M_PUT, M_DELETE, M_PATCH, M_OPTIONS, M_CONNECT, M_TRACE };
static const char *const methods[] = {"OTHER",  "GET",   "HEAD",    "POST",    "PUT",
                                      "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"};

static const char *const hnames[] = {"content-length", "transfer-encoding", "host", "connection",
                                     "x-cache"};
static const uint8_t hlens[] = {14, 17, 4, 10, 7};

/* Value tokens matched per header kind: bit i is vtoks[i]. */
static const char *const vtoks[] = {"chunked", "close", "hit", "miss"};
static const uint8_t vlens[] = {7, 5, 3, 4};
static const uint8_t vcand[] = {0, 0, 0x1, 0, 0x2, 0xc}; /* by H_* */

static inline int lc(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* RFC 9110 tchar, as a table: header bytes are checked one by one. */
static const uint8_t tchar[256] = {
    ['0' ... '9'] = 1, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1,
    ['%'] = 1,         ['&'] = 1,         ['\''] = 1,        ['*'] = 1, ['+'] = 1, ['-'] = 1,
    ['.'] = 1,         ['^'] = 1,         ['_'] = 1,         ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

static inline int is_tchar(unsigned char c)
{
    return tchar[c];
}

static inline int is_ws(int c)
{
    return c == ' ' || c == '\t';
}

/* ---- connection-level helpers ---------------------------------------- */

static void fail(struct chim_http_conn *c)
{
    c->errors++;
    c->unanswered += c->count + c->skel;
    c->count = c->skel = 0;
    c->state = CHIM_HTTP_ST_ERROR;
}

static inline struct chim__http_pend *tail(struct chim_http_conn *c)
{
    return &c->fifo[(c->head + c->count - 1) & (CHIM_HTTP_FIFO - 1)];
}

/* Flags (P_HEAD, P_CONNECT) of the request the next response answers. */
static uint8_t head_flags(const struct chim_http_conn *c)
{
    if (c->count)
        return c->fifo[c->head].flags;
    if (c->skel)
        return (uint8_t)(c->skel_bits & 3);
    return 0;
}

static void begin_request(struct chim_http_conn *c, uint64_t now)
{
    struct chim__http_stream *s = &c->req;
    s->flags &= (uint16_t) ~(HS_CUR_FULL | HS_CUR_SKEL);
    if (c->skel == 0 && c->count < CHIM_HTTP_FIFO) {
        c->count++;
        struct chim__http_pend *p = tail(c);
        p->t_first = p->t_last = now;
        p->bytes = 0;
        p->path_off = (uint8_t)((c->ring_head + c->ring_used) & (CHIM_HTTP_PATH_RING - 1));
        p->path_len = 0;
        p->method = M_OTHER;
        p->flags = 0;
        s->flags |= HS_CUR_FULL;
    } else if (c->skel < CHIM_HTTP_SKEL) {
        c->skel_bits &= ~(3ull << (2 * c->skel));
        c->skel++;
        c->overflow++;
        s->flags |= HS_CUR_SKEL;
    } else {
        c->overflow++;
        fail(c);
    }
}

static void set_method(struct chim_http_conn *c, uint8_t m)
{
    uint8_t f = m == M_HEAD ? P_HEAD : m == M_CONNECT ? P_CONNECT : 0;
    if (c->req.flags & HS_CUR_FULL) {
        tail(c)->method = m;
        tail(c)->flags |= f;
    } else if (c->req.flags & HS_CUR_SKEL) {
        c->skel_bits |= (uint64_t)f << (2 * (c->skel - 1));
    }
}

static inline void path_put(struct chim_http_conn *c, char ch)
{
    if (!(c->req.flags & HS_CUR_FULL))
        return;
    struct chim__http_pend *p = tail(c);
    if (p->path_len >= CHIM_HTTP_PATH_MAX || c->ring_used >= CHIM_HTTP_PATH_RING) {
        p->flags |= P_TRUNC;
        return;
    }
    c->ring[(p->path_off + p->path_len) & (CHIM_HTTP_PATH_RING - 1)] = ch;
    p->path_len++;
    c->ring_used++;
}

static inline void add_bytes(struct chim_http_conn *c, int is_req, uint64_t n)
{
    if (!is_req) {
        c->resp_bytes += n;
    } else if (c->req.flags & HS_CUR_FULL) {
        struct chim__http_pend *p = tail(c);
        uint64_t b = (uint64_t)p->bytes + n;
        p->bytes = b > UINT32_MAX ? UINT32_MAX : (uint32_t)b;
    }
}

static void request_done(struct chim_http_conn *c, uint64_t now)
{
    if (c->req.flags & HS_CUR_FULL) {
        tail(c)->t_last = now;
        tail(c)->flags |= P_DONE;
    }
    c->req.flags &= (uint16_t) ~(HS_CUR_FULL | HS_CUR_SKEL);
    c->req.st = S_IDLE;
}

static void copy_path(const struct chim_http_conn *c, const struct chim__http_pend *p, char *out)
{
    size_t a = CHIM_HTTP_PATH_RING - p->path_off; /* bytes before the ring wraps */
    if (p->path_len <= 16 && a >= 16) {           /* out has room for 16 */
        memcpy(out, c->ring + p->path_off, 16);
    } else if (a >= p->path_len) {
        memcpy(out, c->ring + p->path_off, p->path_len);
    } else {
        memcpy(out, c->ring + p->path_off, a);
        memcpy(out + a, c->ring, p->path_len - a);
    }
    out[p->path_len] = 0;
}

/* Pop the oldest pending request and report it with the current response. */
static void emit(struct chim_http_conn *c, uint32_t xflags, chim_http_cb cb, void *ctx)
{
    if (c->count) {
        struct chim__http_pend *p = &c->fifo[c->head];
        char path[CHIM_HTTP_PATH_MAX + 1], host[CHIM_HTTP_HOST_MAX + 1];
        struct chim_http_exchange x;
        copy_path(c, p, path);
        host[0] = 0;
        if (c->role == CHIM_HTTP_CLIENT) { /* read_kind: a server's host_len stays 0 */
            memcpy(host, c->host, CHIM_HTTP_HOST_MAX);
            host[c->host_len] = 0;
        }
        x.method = methods[p->method];
        x.path = path;
        x.host = host;
        x.status = c->resp_status;
        x.cache = c->cache;
        x.flags = xflags | ((p->flags & P_TRUNC) ? CHIM_HTTP_X_PATH_TRUNC : 0) |
                  ((p->flags & P_DONE) ? 0 : CHIM_HTTP_X_REQ_PARTIAL);
        x.t_req_first = p->t_first;
        x.t_req_last = p->t_last;
        x.t_resp_first = c->t_resp_first;
        x.t_resp_last = c->t_resp_last;
        x.req_bytes = p->bytes;
        x.resp_bytes = c->resp_bytes;
        if (c->count == 1 && (c->req.flags & HS_CUR_FULL))
            c->req.flags &= (uint16_t)~HS_CUR_FULL; /* answered before it ended */
        c->ring_head = (uint8_t)((c->ring_head + p->path_len) & (CHIM_HTTP_PATH_RING - 1));
        c->ring_used = (uint8_t)(c->ring_used - p->path_len);
        c->head = (c->head + 1) & (CHIM_HTTP_FIFO - 1);
        c->count--;
        if (cb)
            cb(ctx, &x);
    } else if (c->skel) {
        if (c->skel == 1 && (c->req.flags & HS_CUR_SKEL))
            c->req.flags &= (uint16_t)~HS_CUR_SKEL;
        c->skel_bits >>= 2;
        c->skel--;
    } else {
        c->orphans++;
    }
    c->resp_bytes = 0;
    c->resp_status = 0;
    c->cache = 0;
    c->resp_flags = 0;
}

static void response_done(struct chim_http_conn *c, uint64_t now, uint32_t xflags, chim_http_cb cb,
                          void *ctx)
{
    c->t_resp_last = now;
    if (c->resp.flags & HS_CLOSE)
        xflags |= CHIM_HTTP_X_CONN_CLOSE;
    c->resp.st = S_IDLE;
    emit(c, xflags, cb, ctx);
}

/* ---- headers -------------------------------------------------------------
 *
 * Header lines are read leniently, as an observer should: the server decides
 * what it accepts (nginx answers 400 to a name with a blank in it and 200 to
 * one with '@'), and either answer is worth reporting. Only LF ends a line;
 * one CR before it is dropped; an empty line ends the section. A line is
 * read only when the bytes before its first ':' are, in any case, one of
 * the names read in its stream (read_set); every other line, whatever it
 * holds, is only counted. So only the lines that frame a message or are
 * reported are checked. */

#define B_CL     (1u << (H_CL - 1))
#define B_TE     (1u << (H_TE - 1))
#define B_HOST   (1u << (H_HOST - 1))
#define B_CONN   (1u << (H_CONN - 1))
#define B_XCACHE (1u << (H_XCACHE - 1))

/* The header names read in stream s, as B_* bits: framing in both
 * directions; Host in a client's requests (the upstream's name; a server's
 * routes do not use it); Connection and X-Cache in responses; none in
 * trailers. */
static inline unsigned read_set(const struct chim_http_conn *c, const struct chim__http_stream *s)
{
    if (s->flags & HS_TRAILER)
        return 0;
    if (s == &c->resp)
        return B_CL | B_TE | B_CONN | B_XCACHE;
    return c->role == CHIM_HTTP_CLIENT ? B_CL | B_TE | B_HOST : B_CL | B_TE;
}

/* The state every header line leaves behind, read or not. */
static inline void header_line_reset(struct chim__http_stream *s)
{
    s->hkind = H_NONE;
    s->flags &= (uint16_t) ~(HS_VSTART | HS_VEND);
    s->remain = 0;
    s->pos = 0;
    s->cand = 0;
    s->st = S_HSTART;
}

/* One byte (lower-cased) of a name that may be read: the candidates it
 * does not match drop out; with none left the line is skipped. */
static void header_name_char(struct chim__http_stream *s, int ch)
{
    for (unsigned i = 0; i < 5; i++)
        if ((s->cand >> i) & 1)
            if (s->pos >= hlens[i] || hnames[i][s->pos] != ch)
                s->cand &= (uint8_t) ~(1u << i);
    s->pos++; /* at most 17 while a candidate is left */
    if (!s->cand)
        s->st = S_HSKIP;
}

/* The name of a header of kind k ended (its ':' was read). */
static inline void header_begin(struct chim_http_conn *c, struct chim__http_stream *s, uint8_t k)
{
    s->hkind = k;
    if (k == H_HOST)
        c->host_len = 0;
    if (k == H_TE)
        s->flags = (uint16_t)((s->flags | HS_HAVE_TE) & ~HS_CHUNKED);
    s->flags &= (uint16_t) ~(HS_VSTART | HS_VEND);
    s->remain = 0;
    s->pos = 0;
    s->cand = vcand[k];
}

/* The ':' after a name that matched a candidate so far: read its value if
 * the whole name is one, else skip the line. */
static void header_name_end(struct chim_http_conn *c, struct chim__http_stream *s)
{
    uint8_t k = H_NONE;
    for (unsigned i = 0; i < 5; i++)
        if (((s->cand >> i) & 1) && s->pos == hlens[i])
            k = (uint8_t)(i + 1);
    if (k == H_NONE) {
        s->st = S_HSKIP;
        return;
    }
    header_begin(c, s, k);
    s->st = S_HVALUE;
}

static void token_flags(struct chim__http_stream *s, unsigned m);

/* Bytes that end a value token. */
static const uint8_t vsep[256] = {[','] = 1, [' '] = 1, ['\t'] = 1};

/* A value token ended: record what it matched (exact, or prefix for X-Cache). */
static void token_end(struct chim__http_stream *s)
{
    if (s->pos == 0)
        return;
    unsigned m = 0;
    for (unsigned i = 0; i < 4; i++)
        if (((s->cand >> i) & 1) &&
            (s->hkind == H_XCACHE ? s->pos >= vlens[i] : s->pos == vlens[i]))
            m |= 1u << i;
    token_flags(s, m);
}

/* The end of token_end: a token that matched the tokens in m ended. */
static void token_flags(struct chim__http_stream *s, unsigned m)
{
    if (s->hkind == H_TE)
        s->flags = (uint16_t)((m & 1) ? (s->flags | HS_CHUNKED) : (s->flags & ~HS_CHUNKED));
    else if (s->hkind == H_CONN && (m & 2))
        s->flags |= HS_CLOSE;
    else if (s->hkind == H_XCACHE && !(s->flags & HS_XCDONE)) {
        s->flags |= HS_XCDONE;
        if (m & 4)
            s->flags |= HS_HIT;
        else if (m & 8)
            s->flags |= HS_MISS;
    }
    s->pos = 0;
    s->cand = vcand[s->hkind];
}

static void token_char(struct chim__http_stream *s, int ch)
{
    if (ch == ',' || is_ws(ch)) {
        token_end(s);
        return;
    }
    ch = lc(ch);
    for (unsigned i = 0; i < 4; i++)
        if (((s->cand >> i) & 1) && s->pos < vlens[i] && vtoks[i][s->pos] != ch)
            s->cand &= (uint8_t) ~(1u << i);
    if (s->pos < 255)
        s->pos++;
}

/* *x = *x * 10 + d, or -1 when that would pass CL_LIMIT (checked before
 * the multiply, which could wrap). */
static inline int cl_digit(uint64_t *x, unsigned d)
{
    if (*x > (CL_LIMIT - d) / 10)
        return -1;
    *x = *x * 10 + d;
    return 0;
}

/* Returns -1 on a malformed Content-Length. */
static int cl_char(struct chim__http_stream *s, int ch)
{
    if (is_ws(ch)) {
        if (s->flags & HS_VSTART)
            s->flags |= HS_VEND;
        return 0;
    }
    if (ch < '0' || ch > '9' || (s->flags & HS_VEND))
        return -1;
    s->flags |= HS_VSTART;
    return cl_digit(&s->remain, (unsigned)(ch - '0'));
}

static void host_char(struct chim_http_conn *c, struct chim__http_stream *s, int ch)
{
    if (is_ws(ch) && !(s->flags & HS_VSTART))
        return;
    s->flags |= HS_VSTART;
    if (c->host_len < CHIM_HTTP_HOST_MAX)
        c->host[c->host_len++] = (char)ch;
}

static int value_char(struct chim_http_conn *c, struct chim__http_stream *s, int ch)
{
    switch (s->hkind) {
    case H_CL:
        return cl_char(s, ch);
    case H_HOST:
        host_char(c, s, ch);
        return 0;
    case H_TE:
    case H_CONN:
    case H_XCACHE:
        token_char(s, ch);
        return 0;
    default:
        return 0;
    }
}

static int header_end(struct chim_http_conn *c, struct chim__http_stream *s)
{
    switch (s->hkind) {
    case H_CL:
        if (!(s->flags & HS_VSTART))
            return -1;
        if ((s->flags & HS_HAVE_CL) && s->clen != s->remain)
            return -1;
        s->clen = s->remain;
        s->flags |= HS_HAVE_CL;
        break;
    case H_HOST:
        while (c->host_len && is_ws(c->host[c->host_len - 1]))
            c->host_len--;
        break;
    case H_TE:
    case H_CONN:
    case H_XCACHE:
        token_end(s);
        break;
    }
    s->hkind = H_NONE;
    s->remain = 0;
    return 0;
}

/* token_run then token_end for a whole token t[0..n) (n > 0), the stream
 * at the start of a token (pos 0, cand reset). */
static void token_whole(struct chim__http_stream *s, const unsigned char *t, size_t n)
{
    unsigned m = 0;
    for (unsigned cand = s->cand; cand; cand &= cand - 1) {
        unsigned i = (unsigned)__builtin_ctz(cand), l = vlens[i], j = 0;
        if (s->hkind == H_XCACHE ? n < l : n != l)
            continue;
        while (j < l && lc(t[j]) == vtoks[i][j])
            j++;
        if (j == l)
            m |= 1u << i;
    }
    token_flags(s, m);
}

/* value_char for a whole value (no CR or LF in it) of a header read by
 * token or the Host header; the Content-Length value is taken elsewhere. */
static void value_run(struct chim_http_conn *c, struct chim__http_stream *s, const unsigned char *v,
                      size_t n)
{
    size_t i = 0, a;
    if (s->hkind == H_HOST) {
        if (!(s->flags & HS_VSTART))
            while (i < n && is_ws(v[i]))
                i++;
        if (i == n)
            return;
        s->flags |= HS_VSTART;
        a = n - i;
        if (a > (size_t)(CHIM_HTTP_HOST_MAX - c->host_len))
            a = (size_t)(CHIM_HTTP_HOST_MAX - c->host_len);
        memcpy(c->host + c->host_len, v + i, a);
        c->host_len = (uint8_t)(c->host_len + a);
        return;
    }
    while (i < n) { /* token_end at a separator with no token before it does nothing */
        if (vsep[v[i]]) {
            i++;
            continue;
        }
        for (a = i; i < n && !vsep[v[i]];)
            i++;
        token_whole(s, v + a, i - a);
    }
}

/* ---- message boundaries ------------------------------------------------- */

static void request_headers_done(struct chim_http_conn *c, uint64_t now)
{
    struct chim__http_stream *s = &c->req;
    if (s->flags & HS_HAVE_TE) {
        if (!(s->flags & HS_CHUNKED)) {
            fail(c); /* a request body must be chunked-framed or sized */
            return;
        }
        s->st = S_CSIZE;
        s->remain = 0;
        s->pos = 0;
    } else if ((s->flags & HS_HAVE_CL) && s->clen > 0) {
        s->st = S_BODY;
        s->remain = s->clen;
    } else {
        request_done(c, now);
    }
}

static void response_headers_done(struct chim_http_conn *c, uint64_t now, chim_http_cb cb,
                                  void *ctx)
{
    struct chim__http_stream *s = &c->resp;
    unsigned st = s->status;
    uint8_t rf = head_flags(c);
    c->resp_status = (uint16_t)st;
    if (s->flags & HS_HIT)
        c->cache = 1;
    else if (s->flags & HS_MISS)
        c->cache = 2;
    if (st == 101 || ((rf & P_CONNECT) && st >= 200 && st < 300)) {
        response_done(c, now, CHIM_HTTP_X_UPGRADE, cb, ctx);
        c->state = CHIM_HTTP_ST_PASSTHROUGH;
    } else if (st < 200) {
        c->resp_flags &= (uint8_t)~RF_FIRST; /* interim: the final response follows */
        c->resp_status = 0;
        s->st = S_IDLE;
    } else if ((rf & P_HEAD) || st == 204 || st == 304) {
        response_done(c, now, 0, cb, ctx);
    } else if (s->flags & HS_HAVE_TE) {
        s->st = (s->flags & HS_CHUNKED) ? S_CSIZE : S_EOF;
        s->remain = 0;
        s->pos = 0;
    } else if (s->flags & HS_HAVE_CL) {
        s->st = S_BODY;
        s->remain = s->clen;
        if (s->clen == 0)
            response_done(c, now, 0, cb, ctx);
    } else {
        s->st = S_EOF;
    }
}

static void message_done(struct chim_http_conn *c, struct chim__http_stream *s, uint64_t now,
                         chim_http_cb cb, void *ctx)
{
    if (s == &c->req)
        request_done(c, now);
    else
        response_done(c, now, 0, cb, ctx);
}

static void headers_done(struct chim_http_conn *c, struct chim__http_stream *s, uint64_t now,
                         chim_http_cb cb, void *ctx)
{
    if (s->flags & HS_TRAILER)
        message_done(c, s, now, cb, ctx);
    else if (s == &c->req)
        request_headers_done(c, now);
    else
        response_headers_done(c, now, cb, ctx);
}

/* A line of kind k ended (at its LF). */
static void line_end(struct chim_http_conn *c, struct chim__http_stream *s, int k, uint64_t now,
                     chim_http_cb cb, void *ctx)
{
    switch (k) {
    case L_REQLINE:
    case L_STATUS:
        s->st = S_HSTART;
        break;
    case L_HEMPTY:
        s->hbytes = 0;
        headers_done(c, s, now, cb, ctx);
        break;
    case L_HEADER:
        if (header_end(c, s) < 0) {
            fail(c);
            return;
        }
        header_line_reset(s);
        break;
    case L_CSIZE:
        if (s->remain == 0) {
            s->flags |= HS_TRAILER;
            s->st = S_HSTART;
        } else {
            s->st = S_CDATA;
        }
        break;
    case L_CDEND:
        s->hbytes = 0; /* the header limit applies per chunk line, not per body */
        s->st = S_CSIZE;
        s->remain = 0;
        s->pos = 0;
        break;
    }
}

static void begin_message(struct chim_http_conn *c, struct chim__http_stream *s, uint64_t now)
{
    uint16_t keep = s->flags & (HS_CUR_FULL | HS_CUR_SKEL);
    s->flags = keep;
    s->hbytes = 0;
    s->remain = 0;
    s->pos = 0;
    s->status = 0;
    if (s == &c->req) {
        begin_request(c, now);
        s->st = S_METHOD;
    } else {
        if (!(c->resp_flags & RF_FIRST)) {
            c->t_resp_first = now;
            c->resp_flags |= RF_FIRST;
        }
        s->st = S_SVER;
    }
}

/* ---- per-byte steps ----------------------------------------------------- */

#define PK3(a, b, c)             ((uint64_t)(a) | (uint64_t)(b) << 8 | (uint64_t)(c) << 16)
#define PK4(a, b, c, d)          (PK3(a, b, c) | (uint64_t)(d) << 24)
#define PK5(a, b, c, d, e)       (PK4(a, b, c, d) | (uint64_t)(e) << 32)
#define PK6(a, b, c, d, e, f)    (PK5(a, b, c, d, e) | (uint64_t)(f) << 40)
#define PK7(a, b, c, d, e, f, g) (PK6(a, b, c, d, e, f) | (uint64_t)(g) << 48)

/* The method named by the len bytes packed little-endian in `packed`. */
static uint8_t method_code(uint64_t packed, unsigned len)
{
    switch (len) {
    case 3:
        return packed == PK3('G', 'E', 'T')   ? M_GET
               : packed == PK3('P', 'U', 'T') ? M_PUT
                                              : M_OTHER;
    case 4:
        return packed == PK4('H', 'E', 'A', 'D')   ? M_HEAD
               : packed == PK4('P', 'O', 'S', 'T') ? M_POST
                                                   : M_OTHER;
    case 5:
        return packed == PK5('P', 'A', 'T', 'C', 'H')   ? M_PATCH
               : packed == PK5('T', 'R', 'A', 'C', 'E') ? M_TRACE
                                                        : M_OTHER;
    case 6:
        return packed == PK6('D', 'E', 'L', 'E', 'T', 'E') ? M_DELETE : M_OTHER;
    case 7:
        return packed == PK7('O', 'P', 'T', 'I', 'O', 'N', 'S')   ? M_OPTIONS
               : packed == PK7('C', 'O', 'N', 'N', 'E', 'C', 'T') ? M_CONNECT
                                                                  : M_OTHER;
    default:
        return M_OTHER;
    }
}

static int step_method(struct chim_http_conn *c, struct chim__http_stream *s, unsigned char ch)
{
    if (ch == ' ') {
        if (s->pos == 0)
            return -1;
        set_method(c, s->pos <= 8 ? method_code(s->remain, s->pos) : M_OTHER);
        s->st = S_TARGET0;
        s->pos = 0;
        return 0;
    }
    if (!is_tchar(ch) || s->pos >= 32)
        return -1;
    if (s->pos < 8)
        s->remain |= (uint64_t)ch << (8 * s->pos);
    s->pos++;
    return 0;
}

static int step_target(struct chim_http_conn *c, struct chim__http_stream *s, unsigned char ch)
{
    if (ch <= ' ' || ch == 0x7f) {
        if (ch != ' ' || s->st == S_TARGET0)
            return -1;
        s->st = S_VER;
        s->pos = 0;
        return 0;
    }
    switch (s->st) {
    case S_TARGET0:
        if (ch == '/' || ch == '*' || (c->req.flags & HS_CUR_FULL && tail(c)->flags & P_CONNECT)) {
            s->st = S_TARGET;
            path_put(c, (char)ch);
        } else {
            s->st = S_ABS;
            s->pos = 0;
        }
        return 0;
    case S_ABS: /* scheme://authority/path: the path starts at the third '/' */
        if (ch == '/' && ++s->pos == 3) {
            s->st = S_TARGET;
            path_put(c, '/');
        }
        return 0;
    case S_TARGET:
        if (ch == '?' || ch == '#')
            s->st = S_TSKIP;
        else
            path_put(c, (char)ch);
        return 0;
    default: /* S_TSKIP */
        return 0;
    }
}

/* "HTTP/1.x": pos walks the literal; returns 1 when the version is complete. */
static int version_char(struct chim__http_stream *s, unsigned char ch)
{
    static const char lit[] = "HTTP/1.";
    if (s->pos < 7) {
        if (ch != (unsigned char)lit[s->pos])
            return -1;
        s->pos++;
        return 0;
    }
    if (s->pos == 7) {
        if (ch < '0' || ch > '9')
            return -1;
        s->pos++;
        return 1;
    }
    return -1;
}

/* CR or LF ending a line of kind k: returns 1 if ch was one. */
static int eol(struct chim_http_conn *c, struct chim__http_stream *s, unsigned char ch, int k,
               uint64_t now, chim_http_cb cb, void *ctx)
{
    if (ch == '\r') {
        s->next = (uint8_t)k;
        s->st = S_LF;
        return 1;
    }
    if (ch == '\n') {
        line_end(c, s, k, now, cb, ctx);
        return 1;
    }
    return 0;
}

static int step_status(struct chim_http_conn *c, struct chim__http_stream *s, unsigned char ch,
                       uint64_t now, chim_http_cb cb, void *ctx)
{
    if (s->st == S_SVER) {
        if (s->pos == 8) {
            if (ch != ' ')
                return -1;
            s->st = S_STATUS;
            s->pos = 0;
            return 0;
        }
        return version_char(s, ch) < 0 ? -1 : 0;
    }
    if (s->st == S_STATUS) {
        if (s->pos < 3) {
            if (ch < '0' || ch > '9' || (s->pos == 0 && ch == '0'))
                return -1;
            s->status = (uint16_t)(s->status * 10 + (ch - '0'));
            s->pos++;
            return 0;
        }
        if (ch == ' ') {
            s->st = S_REASON;
            return 0;
        }
        return eol(c, s, ch, L_STATUS, now, cb, ctx) ? 0 : -1;
    }
    eol(c, s, ch, L_STATUS, now, cb, ctx); /* S_REASON: anything but CR/LF */
    return 0;
}

static int step_header(struct chim_http_conn *c, struct chim__http_stream *s, unsigned char ch,
                       uint64_t now, chim_http_cb cb, void *ctx)
{
    switch (s->st) {
    case S_HSTART:
        if (ch == '\n' || ch == '\r') {
            if (ch == '\n')
                line_end(c, s, L_HEMPTY, now, cb, ctx);
            else
                s->st = S_HCR;
            return 0;
        }
        s->cand = (uint8_t)read_set(c, s);
        s->pos = 0;
        s->st = S_HNAME;
        header_name_char(s, lc(ch));
        return 0;
    case S_HCR: /* anything but LF makes it a line that is not read */
        if (ch == '\n')
            line_end(c, s, L_HEMPTY, now, cb, ctx);
        else
            s->st = S_HSKIP;
        return 0;
    case S_HNAME:
        if (ch == ':')
            header_name_end(c, s);
        else if (ch == '\n') /* no ':' on the line: not read */
            line_end(c, s, L_HEADER, now, cb, ctx);
        else
            header_name_char(s, lc(ch));
        return 0;
    case S_HSKIP:
        if (ch == '\n')
            line_end(c, s, L_HEADER, now, cb, ctx);
        return 0;
    case S_HVCR: /* the CR was a value byte: take it, then ch as in S_HVALUE */
        if (ch == '\n') {
            line_end(c, s, L_HEADER, now, cb, ctx);
            return 0;
        }
        s->st = S_HVALUE;
        if (value_char(c, s, '\r') < 0)
            return -1;
        /* fall through */
    default: /* S_HVALUE */
        if (ch == '\n') {
            line_end(c, s, L_HEADER, now, cb, ctx);
            return 0;
        }
        if (ch == '\r') {
            s->st = S_HVCR;
            return 0;
        }
        return value_char(c, s, ch);
    }
}

static int step_chunk(struct chim_http_conn *c, struct chim__http_stream *s, unsigned char ch,
                      uint64_t now, chim_http_cb cb, void *ctx)
{
    if (s->st == S_CDEND)
        return eol(c, s, ch, L_CDEND, now, cb, ctx) ? 0 : -1;
    if (s->st == S_CEXT) {
        eol(c, s, ch, L_CSIZE, now, cb, ctx);
        return 0;
    }
    int d = (ch >= '0' && ch <= '9')   ? ch - '0'
            : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
            : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                       : -1;
    if (d >= 0) {
        if (s->pos >= 15)
            return -1;
        s->remain = s->remain * 16 + (uint64_t)d;
        s->pos++;
        return 0;
    }
    if (s->pos == 0)
        return -1;
    if (ch == ';' || is_ws(ch)) {
        s->st = S_CEXT;
        return 0;
    }
    return eol(c, s, ch, L_CSIZE, now, cb, ctx) ? 0 : -1;
}

/* One byte of a line-based state. Returns -1 on a framing error. */
static int step_byte(struct chim_http_conn *c, struct chim__http_stream *s, unsigned char ch,
                     uint64_t now, chim_http_cb cb, void *ctx)
{
    if (++s->hbytes > CHIM_HTTP_HEAD_MAX)
        return -1;
    switch (s->st) {
    case S_METHOD:
        return step_method(c, s, ch);
    case S_TARGET0:
    case S_TARGET:
    case S_TSKIP:
    case S_ABS:
        return step_target(c, s, ch);
    case S_VER:
        if (s->pos == 8)
            return eol(c, s, ch, L_REQLINE, now, cb, ctx) ? 0 : -1;
        return version_char(s, ch) < 0 ? -1 : 0;
    case S_SVER:
    case S_STATUS:
    case S_REASON:
        return step_status(c, s, ch, now, cb, ctx);
    case S_HSTART:
    case S_HCR:
    case S_HNAME:
    case S_HSKIP:
    case S_HVALUE:
    case S_HVCR:
        return step_header(c, s, ch, now, cb, ctx);
    case S_LF:
        if (ch != '\n')
            return -1;
        line_end(c, s, s->next, now, cb, ctx);
        return 0;
    default:
        return step_chunk(c, s, ch, now, cb, ctx);
    }
}

/* Bulk body states: consume up to n bytes (counted first, as the message may
 * complete and be reported here), returns how many. */
static size_t step_bulk(struct chim_http_conn *c, struct chim__http_stream *s, int is_req, size_t n,
                        uint64_t now, chim_http_cb cb, void *ctx)
{
    if (s->st != S_EOF && n > s->remain)
        n = (size_t)s->remain;
    add_bytes(c, is_req, n);
    if (s->st == S_EOF) {
        c->t_resp_last = now;
        return n;
    }
    s->remain -= n;
    if (s->remain == 0) {
        if (s->st == S_CDATA)
            s->st = S_CDEND;
        else
            message_done(c, s, now, cb, ctx);
    }
    return n;
}

static inline uint64_t ld64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Bytes of a request target: 1 path, 2 '?' or '#' (the path ends, the
 * target goes on), 0 ends the target (blank, control, DEL). */
static const uint8_t tgt[256] = {[0x21 ... 0x22] = 1, ['#'] = 2,           [0x24 ... 0x3e] = 1,
                                 ['?'] = 2,           [0x40 ... 0x7e] = 1, [0x80 ... 0xff] = 1};

/* path_put for a run of n bytes. */
static void path_run(struct chim_http_conn *c, const unsigned char *p, size_t n)
{
    if (!(c->req.flags & HS_CUR_FULL) || n == 0)
        return;
    struct chim__http_pend *t = tail(c);
    size_t room = CHIM_HTTP_PATH_MAX - t->path_len;
    if (room > (size_t)(CHIM_HTTP_PATH_RING - c->ring_used))
        room = (size_t)(CHIM_HTTP_PATH_RING - c->ring_used);
    if (n > room) {
        t->flags |= P_TRUNC;
        n = room;
    }
    size_t at = (t->path_off + t->path_len) & (CHIM_HTTP_PATH_RING - 1);
    size_t a = CHIM_HTTP_PATH_RING - at; /* bytes before the ring wraps */
    if (a >= n) {
        memcpy(c->ring + at, p, n);
    } else {
        memcpy(c->ring + at, p, a);
        memcpy(c->ring, p + a, n - a);
    }
    t->path_len = (uint8_t)(t->path_len + n);
    c->ring_used = (uint8_t)(c->ring_used + n);
}

#ifdef __SSE2__
/* Bit i set when byte i of v is CR or LF. */
static inline unsigned eol_mask(__m128i v)
{
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
}

static inline __m128i load16(const unsigned char *p)
{
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

/* Bit i set when byte i of v is LF. */
static inline unsigned lf_mask(__m128i v)
{
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
}
#endif

/* Bit i set when p[i] is LF, for p[0..16). */
static inline unsigned lf_bits(const unsigned char *p)
{
#ifdef __SSE2__
    return lf_mask(load16(p));
#else
    unsigned m = 0;
    for (unsigned i = 0; i < 16; i++)
        m |= (unsigned)(p[i] == '\n') << i;
    return m;
#endif
}

/* Index of the first LF (lf_only) or of the first CR or LF in p[0..n), or
 * n. With SSE2, 16 bytes per step; the last step re-reads bytes already
 * known to be neither, so no load goes past p + n. */
static inline size_t find_end(const unsigned char *p, size_t n, int lf_only)
{
#ifdef __SSE2__
    if (n >= 16) {
        for (size_t i = 0;;) {
            __m128i v = load16(p + i);
            unsigned m = lf_only ? lf_mask(v) : eol_mask(v);
            if (m)
                return i + (size_t)__builtin_ctz(m);
            if (i + 16 == n)
                return n;
            i = i + 32 <= n ? i + 16 : n - 16;
        }
    }
#endif
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\n' || (!lf_only && p[i] == '\r'))
            return i;
    return n;
}

static inline size_t find_eol(const unsigned char *p, size_t n)
{
    return find_end(p, n, 0);
}

/* Fast path for the path part of a request target: copies the run of
 * path bytes up to the byte that ends it. */
static size_t target_run(struct chim_http_conn *c, struct chim__http_stream *s,
                         const unsigned char *p, size_t n)
{
    size_t i = 0;
    if (s->st != S_TARGET)
        return 0;
    while (i < n && tgt[p[i]] == 1)
        i++;
    path_run(c, p, i);
    return i;
}

/* Fast path: the length of a run of bytes that the current state would
 * only skip (a header line that is not read, a reason phrase, a query
 * string, a chunk extension) up to, not including, the byte ending it. */
static size_t skip_run(const struct chim__http_stream *s, const unsigned char *p, size_t n)
{
    size_t i = 0;
    switch (s->st) {
    case S_HSKIP:
        return find_end(p, n, 1);
    case S_REASON:
    case S_CEXT:
        return find_eol(p, n);
    case S_TSKIP:
        while (i < n && tgt[p[i]])
            i++;
        return i;
    default:
        return 0;
    }
}

/* ---- whole lines --------------------------------------------------------
 *
 * When a line is complete in the buffer (the usual case: a whole head in one
 * read or one writev), it is taken in one step: the line is checked first
 * without touching the state, then applied exactly as the byte-by-byte
 * machine would leave it after its LF. Anything the check does not accept
 * (a partial line, a byte the machine would reject, the header limit, an
 * absolute-form or authority-form target, a bad Content-Length) returns 0
 * and the line goes through the byte machine, which also reports the
 * error. So every split of the input ends in the same exchanges and
 * counters. */

/* Length of the line end at p[e]: 2 for CRLF, 1 for LF, 0 when it is not
 * complete here or a CR is not followed by LF. */
static inline size_t eol_len(const unsigned char *p, size_t e, size_t n)
{
    if (e < n && p[e] == '\n')
        return 1;
    if (e + 1 < n && p[e] == '\r' && p[e + 1] == '\n')
        return 2;
    return 0;
}

/* The header limit as step_byte applies it, for k more bytes. */
static inline int fits(const struct chim__http_stream *s, size_t k)
{
    return k <= CHIM_HTTP_HEAD_MAX - s->hbytes;
}

static inline int is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

static inline int hex_val(unsigned char ch)
{
    return is_digit(ch)               ? ch - '0'
           : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
           : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                      : -1;
}

/* A line of k bytes (line end included) of kind `kind` was taken whole. */
static size_t line_done(struct chim_http_conn *c, struct chim__http_stream *s, int is_req, size_t k,
                        int kind, uint64_t now, chim_http_cb cb, void *ctx)
{
    add_bytes(c, is_req, k);
    s->hbytes += (uint32_t)k;
    line_end(c, s, kind, now, cb, ctx);
    return k;
}

/* A request line, as scanned: method p[0..m), path p[m + 1..q). */
struct rline {
    size_t m, q;
    uint64_t packed; /* the method's first (up to) 8 bytes, little-endian */
};

/* "METHOD SP target SP HTTP/1.d" with an origin-form or '*' target at p:
 * the line's length with its end, or 0 (not whole here, or not taken by
 * this path). Changes no state. */
static size_t rl_scan(const unsigned char *p, size_t n, struct rline *r)
{
    size_t m = 0, q, e;
    if (n >= 4 && ld32(p) == PK4('G', 'E', 'T', ' ')) /* the usual method */
        m = 3;
    else
        while (m < n && m <= 32 && tchar[p[m]])
            m++;
    if (m == 0 || m > 32 || m + 1 >= n || p[m] != ' ' || (p[m + 1] != '/' && p[m + 1] != '*'))
        return 0;
    q = m + 1;
#ifdef __SSE2__
    for (; q + 16 <= n; q += 16) { /* path bytes: 0x21..0x7e but '#' and '?', and 0x80..0xff */
        __m128i v = load16(p + q);
        __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x20)), v);
        __m128i bad = _mm_or_si128(_mm_or_si128(low, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('#')),
                                                _mm_cmpeq_epi8(v, _mm_set1_epi8('?'))));
        unsigned bm = (unsigned)_mm_movemask_epi8(bad);
        if (bm) {
            q += (size_t)__builtin_ctz(bm);
            goto path_end;
        }
    }
#endif
    while (q < n && tgt[p[q]] == 1)
        q++;
#ifdef __SSE2__
path_end:
#endif
    for (e = q; e < n && tgt[p[e]];)
        e++;
    if (e + 9 >= n || p[e] != ' ' || memcmp(p + e + 1, "HTTP/1.", 7) != 0 || !is_digit(p[e + 8]))
        return 0;
    size_t el = eol_len(p, e + 9, n);
    if (!el)
        return 0;
    uint64_t packed = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (m < 8 && n >= 8) /* the first m bytes, as below */
        packed = ld64(p) & ((1ull << (8 * m)) - 1);
    else
#endif
        for (size_t i = 0; i < m && i < 8; i++)
            packed |= (uint64_t)p[i] << (8 * i);
    r->m = m;
    r->q = q;
    r->packed = packed;
    return e + 9 + el;
}

/* The method and path of a scanned request line, into the current request. */
static void rl_apply(struct chim_http_conn *c, const unsigned char *p, const struct rline *r)
{
    set_method(c, r->m <= 8 ? method_code(r->packed, (unsigned)r->m) : M_OTHER);
    path_run(c, p + r->m + 1, r->q - r->m - 1);
}

static size_t request_line(struct chim_http_conn *c, struct chim__http_stream *s,
                           const unsigned char *p, size_t n, uint64_t now, chim_http_cb cb,
                           void *ctx)
{
    struct rline r;
    size_t k = rl_scan(p, n, &r);
    if (!k || !fits(s, k))
        return 0;
    s->remain = r.packed;
    rl_apply(c, p, &r);
    s->pos = 8;
    return line_done(c, s, 1, k, L_REQLINE, now, cb, ctx);
}

/* "HTTP/1.d SSS[ reason]" at p: the line's length with its end, the
 * status in *st, or 0. Changes no state. */
static size_t sl_scan(const unsigned char *p, size_t n, uint16_t *st)
{
    if (n < 13 || memcmp(p, "HTTP/1.", 7) != 0 || !is_digit(p[7]) || p[8] != ' ' || p[9] < '1' ||
        p[9] > '9' || !is_digit(p[10]) || !is_digit(p[11]))
        return 0;
    size_t e = p[12] == ' ' ? 13 + find_eol(p + 13, n - 13) : 12;
    size_t el = eol_len(p, e, n);
    if (!el)
        return 0;
    *st = (uint16_t)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
    return e + el;
}

static size_t status_line(struct chim_http_conn *c, struct chim__http_stream *s, int is_req,
                          const unsigned char *p, size_t n, uint64_t now, chim_http_cb cb,
                          void *ctx)
{
    uint16_t st;
    size_t k = sl_scan(p, n, &st);
    if (!k || !fits(s, k))
        return 0;
    s->status = st;
    s->pos = 3;
    return line_done(c, s, is_req, k, L_STATUS, now, cb, ctx);
}

/* A Content-Length value v[0..n): digits with blanks around them, into
 * *val (*vend set when a blank followed the digits); 0 when malformed. */
static int cl_parse(const unsigned char *v, size_t n, uint64_t *val, int *vend)
{
    size_t i = 0, d;
    uint64_t x = 0;
    while (i < n && is_ws(v[i]))
        i++;
    for (d = i; i < n && is_digit(v[i]); i++)
        if (cl_digit(&x, (unsigned)(v[i] - '0')) < 0)
            return 0;
    if (i == d)
        return 0;
    *vend = i < n;
    while (i < n && is_ws(v[i]))
        i++;
    *val = x;
    return i == n;
}

/* Content-Length value v[0..n) as cl_char and header_end would take it:
 * 1 with the value in *val and *vend set when a blank followed the digits,
 * or 0 (the byte machine then reports the error). */
static int cl_value(const struct chim__http_stream *s, const unsigned char *v, size_t n,
                    uint64_t *val, int *vend)
{
    return cl_parse(v, n, val, vend) && !((s->flags & HS_HAVE_CL) && s->clen != *val);
}

/* "hex[;ext]" before chunk data (or the last chunk). */
static size_t chunk_line(struct chim_http_conn *c, struct chim__http_stream *s, int is_req,
                         const unsigned char *p, size_t n, uint64_t now, chim_http_cb cb, void *ctx)
{
    size_t d = 0, e;
    uint64_t v = 0;
    int x;
    while (d < n && (x = hex_val(p[d])) >= 0) {
        if (d == 15)
            return 0;
        v = v * 16 + (uint64_t)x;
        d++;
    }
    if (d == 0 || d >= n)
        return 0;
    e = (p[d] == ';' || is_ws(p[d])) ? d + 1 + find_eol(p + d + 1, n - d - 1) : d;
    size_t el = eol_len(p, e, n);
    if (!el || !fits(s, e + el))
        return 0;
    s->remain = v;
    s->pos = (uint8_t)d;
    return line_done(c, s, is_req, e + el, L_CSIZE, now, cb, ctx);
}

/* ---- whole heads ----------------------------------------------------------
 *
 * The header section after the request or status line: its LFs are found 16
 * bytes at a time (one compare per 16 bytes, each line then a bit scan), and
 * a line is looked at only when its first byte starts a name that is read
 * here; that name is then checked where its ':' must be and compared as 4-
 * or 8-byte words. Every other line is only counted. The run stops at the
 * empty line, at a line not whole in the buffer (the byte machine takes it),
 * at the head limit and at a bad Content-Length (the byte machine then
 * reports the error at the same byte). */

/* B_* bits of the names read that start with a byte, in either case; CR
 * and LF, which may start the empty line, have B_EOL. */
#define B_EOL 0x80u
static const uint8_t name_first[256] = {
    ['c'] = B_CL | B_CONN, ['C'] = B_CL | B_CONN, ['t'] = B_TE,     ['T'] = B_TE,   ['h'] = B_HOST,
    ['H'] = B_HOST,        ['x'] = B_XCACHE,      ['X'] = B_XCACHE, ['\r'] = B_EOL, ['\n'] = B_EOL};

/* Offset of the '-' in the name of each H_* kind (0: none). */
static const uint8_t name_dash[6] = {0, 7, 8, 0, 0, 1};

/* p[0..n) of the name of kind k (n = its length), in any case: `| 0x20`
 * lower-cases letters and leaves ':' and '-' alone, but also turns CR into
 * '-', so the '-' is checked on its own. */
static inline int name_is(const unsigned char *p, size_t n, unsigned k)
{
    const char *h = hnames[k - 1];
    if (name_dash[k] && p[name_dash[k]] != '-')
        return 0;
    if (n < 8) /* 4..7: two words that may overlap */
        return (ld32(p) | 0x20202020u) == ld32(h) &&
               (ld32(p + n - 4) | 0x20202020u) == ld32(h + n - 4);
    for (size_t i = 0; i + 8 < n; i += 8)
        if ((ld64(p + i) | 0x2020202020202020ull) != ld64(h + i))
            return 0;
    return (ld64(p + n - 8) | 0x2020202020202020ull) == ld64(h + n - 8);
}

/* The kind (one of `want`, B_* bits) of the header line at p[0..len), or
 * H_NONE when it is not read: its name and ':' must lie in p[0..len). */
static inline unsigned read_name(const unsigned char *p, size_t len, unsigned want)
{
    for (unsigned m = name_first[p[0]] & want & ~B_EOL; m; m &= m - 1) {
        unsigned k = (unsigned)__builtin_ctz(m) + 1;
        size_t n = hlens[k - 1];
        if (n < len && p[n] == ':' && name_is(p, n, k))
            return k;
    }
    return H_NONE;
}

/* The value v[0..n) is "keep-alive" (any case, blanks around it), the usual
 * Connection value: a token that is not read, so value_run would change
 * nothing. (A CR, which `| 0x20` turns into '-', makes a token that is not
 * read either.) */
static inline int keep_alive(const unsigned char *v, size_t n)
{
    while (n && is_ws(*v))
        v++, n--;
    while (n && is_ws(v[n - 1]))
        n--;
    return n == 10 && (ld64(v) | 0x2020202020202020ull) == ld64("keep-ali") &&
           (v[8] | 0x20) == 'v' && (v[9] | 0x20) == 'e';
}

/* A whole header line of kind k (read in its stream) with the value
 * v[0..n), applied as the byte machine would but for the byte counts and
 * header_line_reset: 0 when the byte machine has to take it (a bad
 * Content-Length, which it reports). */
static int header_read(struct chim_http_conn *c, struct chim__http_stream *s,
                       const unsigned char *v, size_t n, uint8_t k)
{
    uint16_t fl = s->flags & (uint16_t) ~(HS_VSTART | HS_VEND);
    size_t i = 0, a;
    uint64_t val = 0;
    int vend = 0;
    switch (k) {
    case H_CL:
        if (!cl_value(s, v, n, &val, &vend))
            return 0;
        fl |= (uint16_t)(HS_VSTART | HS_HAVE_CL | (vend ? HS_VEND : 0));
        s->clen = val;
        s->cand = 0;
        break;
    case H_HOST: /* a client's requests only (read_kind) */
        while (i < n && is_ws(v[i]))
            i++;
        a = n - i < CHIM_HTTP_HOST_MAX ? n - i : CHIM_HTTP_HOST_MAX;
        memcpy(c->host, v + i, a);
        while (a && is_ws(c->host[a - 1])) /* as header_end */
            a--;
        c->host_len = (uint8_t)a;
        if (i < n)
            fl |= HS_VSTART;
        s->cand = 0;
        break;
    default: /* read by token */
        if (k == H_TE)
            fl = (uint16_t)((fl | HS_HAVE_TE) & ~HS_CHUNKED);
        s->flags = fl;
        s->hkind = k;
        s->pos = 0;
        s->cand = vcand[k];
        if (k != H_CONN || !keep_alive(v, n))
            value_run(c, s, v, n);
        fl = s->flags;
    }
    s->flags = fl; /* the rest of the line's state: taken() after the run */
    return 1;
}

/* The first n bytes, whole header lines, were taken: counted, and the
 * state is what their last LF leaves. */
static inline void taken(struct chim_http_conn *c, struct chim__http_stream *s, int is_req,
                         size_t n)
{
    if (!n)
        return;
    header_line_reset(s);
    add_bytes(c, is_req, n);
    s->hbytes += (uint32_t)n;
}

/* A header line starting at p[a] whose first byte may start a name read
 * here, or may make it the empty line: 1 when it was applied (a line that
 * is not read changes nothing), 0 when the run has to stop before it (not
 * whole in p[0..n), or a bad Content-Length), 2 when it was the empty line
 * (its length in *el). */
static int head_line(struct chim_http_conn *c, struct chim__http_stream *s, const unsigned char *p,
                     size_t a, size_t n, unsigned want, size_t *el)
{
    if (p[a] == '\n' || p[a] == '\r') {
        if (p[a] == '\n' || (a + 1 < n && p[a + 1] == '\n')) {
            *el = p[a] == '\n' ? 1 : 2;
            return 2;
        }
        return a + 1 < n; /* CR then another byte: a line that is not read */
    }
    unsigned k = read_name(p + a, n - a, want); /* its bytes hold no CR or LF */
    if (!k)
        return 1;
    size_t v = a + hlens[k - 1] + 1, e = v + find_end(p + v, n - v, 1);
    if (e == n)
        return 0;
    return header_read(c, s, p + v, e - (p[e - 1] == '\r') - v, (uint8_t)k);
}

/* Whole header lines from S_HSTART on, the empty line included (the head
 * is then done); returns the bytes taken. The LFs are found 16 bytes at a
 * time (the last load ending at p + n); a line is looked at only when its
 * first byte starts a name read here, or is CR or LF. Bytes past the head
 * limit are left to the byte machine, which fails at the same byte. */
static size_t head_lines(struct chim_http_conn *c, struct chim__http_stream *s, int is_req,
                         const unsigned char *p, size_t n, uint64_t now, chim_http_cb cb, void *ctx)
{
    unsigned want = read_set(c, s) | B_EOL, m;
    size_t room = CHIM_HTTP_HEAD_MAX - s->hbytes, a = 0, b = 0, el = 0;
    if (n > room)
        n = room;
    if (n < 16)
        return 0;
    m = lf_bits(p); /* LFs at p[b + i] not yet passed */
    for (;;) {
        if (name_first[p[a]] & want) { /* the line starting at p[a] */
            int r = head_line(c, s, p, a, n, want, &el);
            if (r == 2) {
                taken(c, s, is_req, a);
                return a + line_done(c, s, is_req, el, L_HEMPTY, now, cb, ctx);
            }
            if (!r)
                break;
        }
        while (!m) { /* its LF */
            b += 16;
            if (b >= n)
                goto partial;
            m = b + 16 <= n ? lf_bits(p + b) : lf_bits(p + n - 16) >> (16 - (n - b));
        }
        a = b + (size_t)__builtin_ctz(m) + 1;
        m &= m - 1;
        if (a == n)
            break;
    }
partial:
    taken(c, s, is_req, a);
    return a;
}

/* Complete lines from a line-start state on; returns the bytes taken. */
static size_t line_run(struct chim_http_conn *c, struct chim__http_stream *s, int is_req,
                       const unsigned char *p, size_t n, uint64_t now, chim_http_cb cb, void *ctx)
{
    size_t i = 0, k = 1;
    while (k && i < n && c->state == CHIM_HTTP_ST_ACTIVE) {
        switch (s->st) {
        case S_METHOD:
            k = s->pos == 0 ? request_line(c, s, p + i, n - i, now, cb, ctx) : 0;
            break;
        case S_SVER:
            k = s->pos == 0 ? status_line(c, s, is_req, p + i, n - i, now, cb, ctx) : 0;
            break;
        case S_HSTART:
            k = head_lines(c, s, is_req, p + i, n - i, now, cb, ctx);
            break;
        case S_CSIZE:
            k = s->pos == 0 ? chunk_line(c, s, is_req, p + i, n - i, now, cb, ctx) : 0;
            break;
        case S_CDEND: {
            size_t el = eol_len(p + i, 0, n - i);
            k = el && fits(s, el) ? line_done(c, s, is_req, el, L_CDEND, now, cb, ctx) : 0;
            break;
        }
        default:
            k = 0;
        }
        i += k;
    }
    return i;
}

/* ---- whole heads in one step ---------------------------------------------
 *
 * The usual case: a message begins at p[0] and its whole head is in the
 * buffer. The head is scanned first with no state change, then applied at
 * once, as the line path above leaves the stream after the empty line.
 * Taken here: an origin-form request line, a status line, header lines
 * that are not read, Content-Length (in both directions) and a Connection
 * value of `keep-alive` or `close`. Any other header that is read
 * (Transfer-Encoding, a client's Host, X-Cache, other Connection values),
 * a head not whole in the buffer or past the head limit returns 0, and the
 * line path takes the message from the same byte. The fuzz target feeds
 * every input whole and byte by byte (which never comes here) and requires
 * the same exchanges and counters. */

/* What a head's read lines said. */
struct hscan {
    uint64_t clen;
    uint16_t flags; /* HS_HAVE_CL, HS_CLOSE */
};

/* The value v[0..n) is "close" (any case, blanks around it). */
static inline int conn_close(const unsigned char *v, size_t n)
{
    while (n && is_ws(*v))
        v++, n--;
    while (n && is_ws(v[n - 1]))
        n--;
    return n == 5 && (ld32(v) | 0x20202020u) == ld32("clos") && (v[4] | 0x20) == 'e';
}

/* A read header line of kind k with the value v[0..n), into h: 0 when the
 * line path has to take the head. */
static int hs_header(struct hscan *h, unsigned k, const unsigned char *v, size_t n)
{
    uint64_t x;
    int vend;
    if (k == H_CL) {
        if (!cl_parse(v, n, &x, &vend) || ((h->flags & HS_HAVE_CL) && h->clen != x))
            return 0;
        h->clen = x;
        h->flags |= HS_HAVE_CL;
        return 1;
    }
    if (k == H_CONN) {
        if (keep_alive(v, n))
            return 1;
        if (!conn_close(v, n))
            return 0;
        h->flags |= HS_CLOSE;
        return 1;
    }
    return 0;
}

/* LF bits of p[b..b + 16), or of p[b..n) when fewer are left (n >= 16:
 * the last load ends at p + n; else byte by byte). */
static inline unsigned lf_at(const unsigned char *p, size_t b, size_t n)
{
    if (b + 16 <= n)
        return lf_bits(p + b);
    if (n >= 16)
        return lf_bits(p + n - 16) >> (16 - (n - b));
    unsigned m = 0;
    for (size_t i = b; i < n; i++)
        m |= (unsigned)(p[i] == '\n') << (i - b);
    return m;
}

/* The header lines at p[0..n) up to and including the empty line: their
 * length, or 0. Lines are found and picked as in head_lines. */
static size_t hs_lines(const unsigned char *p, size_t n, unsigned want, struct hscan *h)
{
    size_t a = 0, b = 0;
    unsigned m = lf_at(p, 0, n);
    if (n == 0)
        return 0;
    for (;;) {
        unsigned char ch = p[a];
        if (name_first[ch] & want) {
            if (ch == '\n')
                return a + 1;
            if (ch != '\r') {
                unsigned k = read_name(p + a, n - a, want & ~B_EOL);
                if (k) {
                    size_t v = a + hlens[k - 1] + 1, e = v + find_end(p + v, n - v, 1);
                    if (e == n || !hs_header(h, k, p + v, e - (p[e - 1] == '\r') - v))
                        return 0;
                }
            } else if (a + 1 >= n) {
                return 0;
            } else if (p[a + 1] == '\n') {
                return a + 2;
            } /* CR then another byte: a line that is not read */
        }
        while (!m) { /* the line's LF */
            b += 16;
            if (b >= n)
                return 0;
            m = lf_at(p, b, n);
        }
        a = b + (size_t)__builtin_ctz(m) + 1;
        m &= m - 1;
        if (a == n)
            return 0;
    }
}

/* A message just begun (begin_message) whose whole head is at p[0..n):
 * applied in one step; returns its length, or 0 (nothing changed). */
static size_t whole_head(struct chim_http_conn *c, struct chim__http_stream *s, int is_req,
                         const unsigned char *p, size_t n, uint64_t now, chim_http_cb cb, void *ctx)
{
    struct hscan h = {0, 0};
    struct rline r;
    uint16_t st = 0;
    size_t k, t;
    if (n > CHIM_HTTP_HEAD_MAX)
        n = CHIM_HTTP_HEAD_MAX;
    k = is_req ? rl_scan(p, n, &r) : sl_scan(p, n, &st);
    if (!k || !(t = hs_lines(p + k, n - k, read_set(c, s) | B_EOL, &h)))
        return 0;
    s->flags |= h.flags;
    s->clen = h.clen;
    add_bytes(c, is_req, k + t);
    if (is_req) {
        rl_apply(c, p, &r);
        request_headers_done(c, now);
    } else {
        s->status = st;
        response_headers_done(c, now, cb, ctx);
    }
    return k + t;
}

void chim_http_feed(struct chim_http_conn *c, int dir, const char *buf, size_t len, uint64_t now_ns,
                    chim_http_cb cb, void *ctx)
{
    int is_req = (dir == CHIM_DIR_IN) == (c->role == CHIM_HTTP_SERVER);
    struct chim__http_stream *s = is_req ? &c->req : &c->resp;
    const unsigned char *p = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len && c->state == CHIM_HTTP_ST_ACTIVE) {
        if (s->st == S_IDLE) {
            if (p[i] == '\r' || p[i] == '\n') {
                i++; /* blank lines between messages are tolerated, not counted */
                continue;
            }
            begin_message(c, s, now_ns);
            if (c->state != CHIM_HTTP_ST_ACTIVE)
                break;
            size_t k = whole_head(c, s, is_req, p + i, len - i, now_ns, cb, ctx);
            if (k) {
                i += k;
                continue;
            }
        }
        if (s->st >= S_BODY) {
            i += step_bulk(c, s, is_req, len - i, now_ns, cb, ctx);
            continue;
        }
        size_t k = line_run(c, s, is_req, p + i, len - i, now_ns, cb, ctx);
        if (k) {
            i += k;
            continue;
        }
        k = skip_run(s, p + i, len - i);
        if (!k)
            k = target_run(c, s, p + i, len - i);
        if (k) {
            add_bytes(c, is_req, k);
            s->hbytes += (uint32_t)k;
            if (s->hbytes > CHIM_HTTP_HEAD_MAX) {
                fail(c);
                break;
            }
            i += k;
            continue;
        }
        add_bytes(c, is_req, 1);
        if (step_byte(c, s, p[i], now_ns, cb, ctx) < 0) {
            fail(c);
            break;
        }
        i++;
    }
}

void chim_http_close(struct chim_http_conn *c, uint64_t now_ns, chim_http_cb cb, void *ctx)
{
    if (c->state == CHIM_HTTP_ST_ACTIVE) {
        if (c->resp.st == S_EOF)
            response_done(c, c->t_resp_last, CHIM_HTTP_X_CLOSE_DELIM, cb, ctx);
        else if (c->resp.st != S_IDLE || (c->resp_flags & RF_FIRST))
            c->truncated++;
        c->unanswered += c->count + c->skel;
    }
    c->count = c->skel = 0;
    c->state = CHIM_HTTP_ST_CLOSED;
}

void chim_http_init(struct chim_http_conn *c, int role)
{
    memset(c, 0, sizeof *c);
    c->role = role == CHIM_HTTP_CLIENT ? CHIM_HTTP_CLIENT : CHIM_HTTP_SERVER;
}

_Static_assert(sizeof(struct chim_http_conn) <= 512, "HTTP connection state must stay small");
