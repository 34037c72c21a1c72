/*
 * proto_http.h - incremental, allocation-free HTTP/1.x exchange framing.
 *
 * The agent's socket hooks feed every byte read from or written to a TCP
 * socket into one `struct chim_http_conn` per descriptor; the parser frames
 * requests and responses exactly (request line, status line, Content-Length,
 * chunked with trailers, HEAD/1xx/204/304 without body, 101 and CONNECT end
 * tracking, close-delimited bodies), pairs them through a FIFO of pending
 * requests (pipelining) and calls back once per completed exchange. Bytes
 * may arrive in any split: feeding one byte at a time gives the same
 * exchanges as feeding one buffer. The state is fixed-size and position
 * independent (no pointers), so it can live in the agent's mmapped fd table.
 * No malloc, no stdio, no errno writes. See docs/PROTOCOLS.md.
 */
#ifndef CHIM_PROTO_HTTP_H
#define CHIM_PROTO_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define CHIM_HTTP_SERVER 0 /* accepted socket: reads are requests */
#define CHIM_HTTP_CLIENT 1 /* connected socket: writes are requests */

#ifndef CHIM_DIR_IN
#define CHIM_DIR_IN  0 /* bytes read from the socket */
#define CHIM_DIR_OUT 1 /* bytes written to the socket */
#endif

#define CHIM_HTTP_FIFO      8   /* fully tracked pending requests */
#define CHIM_HTTP_SKEL      32  /* further pending requests, framed but not reported */
#define CHIM_HTTP_PATH_MAX  96  /* bytes of path kept per request */
#define CHIM_HTTP_PATH_RING 128 /* path text shared by pending requests */
#define CHIM_HTTP_HOST_MAX  64  /* bytes of Host kept per connection */
/* Bytes of a request or status line and its headers: past this the stream
 * is taken for something that is not HTTP (an error). Header lines are only
 * counted, never kept, so the limit bounds no memory; it is above what
 * servers accept (Python's http.server: 100 lines of 64 KiB, 6.4 MiB;
 * nginx: large_client_header_buffers, 32 KiB by default). */
#define CHIM_HTTP_HEAD_MAX (8u * 1024u * 1024u)

/* Connection states (chim_http_conn.state). */
enum {
    CHIM_HTTP_ST_ACTIVE = 0,
    CHIM_HTTP_ST_PASSTHROUGH = 1, /* after 101 or a CONNECT tunnel: nothing tracked */
    CHIM_HTTP_ST_ERROR = 2,       /* framing lost: nothing tracked until re-init */
    CHIM_HTTP_ST_CLOSED = 3,      /* chim_http_close was called */
};

/* Exchange flags (chim_http_exchange.flags). */
#define CHIM_HTTP_X_PATH_TRUNC  0x01 /* path longer than kept (or ring full) */
#define CHIM_HTTP_X_REQ_PARTIAL 0x02 /* response ended before the request did */
#define CHIM_HTTP_X_CLOSE_DELIM 0x04 /* response body delimited by connection close */
#define CHIM_HTTP_X_CONN_CLOSE  0x08 /* response said Connection: close */
#define CHIM_HTTP_X_UPGRADE     0x10 /* 101 or CONNECT 2xx: tracking ends here */

/* One completed request/response pair, valid only during the callback. */
struct chim_http_exchange {
    const char *method;               /* "GET", ..., "OTHER": constants (same name, same pointer) */
    const char *path;                 /* NUL-terminated, query and fragment dropped */
    const char *host;                 /* client role: the request's Host, "" if none; server: "" */
    int status;                       /* final response status; 0 never happens for a callback */
    int cache;                        /* 0 no X-Cache, 1 HIT, 2 MISS */
    uint32_t flags;                   /* CHIM_HTTP_X_* */
    uint64_t t_req_first, t_req_last; /* ns, first/last request byte */
    uint64_t t_resp_first, t_resp_last; /* ns, first/last byte of the final response */
    uint64_t req_bytes, resp_bytes;     /* message bytes (headers + body; resp incl. 1xx) */
};

typedef void (*chim_http_cb)(void *ctx, const struct chim_http_exchange *x);

/* Internal: per-direction framing state. */
struct chim__http_stream {
    uint64_t remain; /* body or chunk bytes left; number being parsed */
    uint64_t clen;   /* Content-Length seen (valid with HAVE_CL) */
    uint32_t hbytes; /* header bytes so far (bounded) */
    uint16_t flags;  /* CHIM__HS_* */
    uint16_t status; /* response: status code being parsed */
    uint8_t st;      /* parser state */
    uint8_t next;    /* state after an expected LF */
    uint8_t pos;     /* position inside a literal / token / name */
    uint8_t cand;    /* candidate bitmask (header names / value tokens) */
    uint8_t hkind;   /* header being read */
    uint8_t method;  /* request: method code */
    uint8_t _pad[2];
};

/* Internal: one pending request. */
struct chim__http_pend {
    uint64_t t_first, t_last;
    uint32_t bytes; /* saturating */
    uint8_t path_off, path_len, method, flags;
};

struct chim_http_conn {
    uint8_t role;                 /* CHIM_HTTP_SERVER / CHIM_HTTP_CLIENT */
    uint8_t state;                /* CHIM_HTTP_ST_* */
    uint8_t head, count;          /* FIFO of fully tracked pending requests */
    uint8_t skel;                 /* pending requests past the FIFO */
    uint8_t ring_head, ring_used; /* path ring */
    uint8_t host_len;
    uint64_t skel_bits; /* 2 bits (HEAD, CONNECT) per skeleton request */
    /* response in progress */
    uint64_t t_resp_first, t_resp_last, resp_bytes;
    uint16_t resp_status;
    uint8_t cache, resp_flags;
    /* counters: harvest them before chim_http_init reuses the state */
    uint32_t errors;     /* framing errors (tracking stopped) */
    uint32_t overflow;   /* requests not reported: FIFO full */
    uint32_t orphans;    /* responses without a pending request */
    uint32_t unanswered; /* requests pending at close or error */
    uint32_t truncated;  /* responses cut by close */
    struct chim__http_stream req, resp;
    struct chim__http_pend fifo[CHIM_HTTP_FIFO];
    char ring[CHIM_HTTP_PATH_RING];
    char host[CHIM_HTTP_HOST_MAX];
};

/* Reset c for a new connection in the given role. Counters are zeroed. */
void chim_http_init(struct chim_http_conn *c, int role);

/* Feed len bytes that went through the socket in direction dir at time
 * now_ns; cb(ctx, x) runs once per exchange completed by these bytes. */
void chim_http_feed(struct chim_http_conn *c, int dir, const char *buf, size_t len, uint64_t now_ns,
                    chim_http_cb cb, void *ctx);

/* The connection ended (close, or a client-role read returning 0):
 * completes a close-delimited response, counts what was left pending. */
void chim_http_close(struct chim_http_conn *c, uint64_t now_ns, chim_http_cb cb, void *ctx);

#endif /* CHIM_PROTO_HTTP_H */
