/*
 * proto_resp.h - Redis RESP2/RESP3 client-side command/reply pairing.
 *
 * Fed with the bytes a client writes (commands: RESP arrays of bulk strings
 * or inline lines) and reads (replies of any RESP2/RESP3 type, nested to any
 * depth), it pairs replies with commands in order (pipelining: a FIFO) and
 * reports each completed command with its latency and cache verdicts: a GET
 * family reply of null ($-1, *-1 or _) is a miss and a bulk string a hit;
 * for MGET/HMGET every null element is a miss and every bulk element a hit.
 * Fixed-size state, no pointers, no malloc, no stdio, no errno writes.
 */
#ifndef CHIM_PROTO_RESP_H
#define CHIM_PROTO_RESP_H

#include <stddef.h>
#include <stdint.h>

#ifndef CHIM_DIR_IN
#define CHIM_DIR_IN  0 /* bytes read from the socket */
#define CHIM_DIR_OUT 1 /* bytes written to the socket */
#endif

#define CHIM_RESP_FIFO     16 /* fully tracked runs of pending commands */
#define CHIM_RESP_NAME_MAX 11 /* bytes of command name kept */

enum {
    CHIM_RESP_ST_ACTIVE = 0,
    CHIM_RESP_ST_PASSTHROUGH = 1, /* SUBSCRIBE/MONITOR: replies no longer pair */
    CHIM_RESP_ST_ERROR = 2,       /* framing lost until re-init */
    CHIM_RESP_ST_CLOSED = 3,
};

/* One completed command, valid only during the callback. */
struct chim_resp_exchange {
    const char *name; /* upper-cased command name, e.g. "GET" (truncated to 9) */
    uint32_t nkeys;   /* arguments after the name */
    uint32_t hits, misses;
    int is_error;     /* the reply was an error (-ERR ..., !blob error) */
    uint64_t t_first; /* ns: first byte of the command written */
    uint64_t t_last;  /* ns: last byte of the reply read */
};

typedef void (*chim_resp_cb)(void *ctx, const struct chim_resp_exchange *x);

/* Internal: a run of pending commands written in one burst (same time of
 * first byte), with the same name and key count, as a pipeline sends them:
 * a FIFO of 16 runs follows pipelines of any depth whose commands come in
 * up to 16 runs (redis-benchmark -P, a client's pipeline of GETs). */
#define CHIM_RESP_PEND_NAME 10 /* bytes of a pending command's name, NUL included */
struct chim__resp_pend {
    uint64_t t_first;
    uint32_t nkeys;
    uint16_t n; /* commands in the run */
    char name[CHIM_RESP_PEND_NAME];
};

/* Internal: command (written) stream. */
struct chim__resp_cmd {
    uint64_t t0;    /* first byte of the command being written */
    uint64_t num;   /* number being parsed, then bulk bytes left */
    uint32_t elems; /* array elements left */
    uint32_t nargs; /* elements (or inline words) seen */
    uint8_t st, neg, digits, npos;
    char name[CHIM_RESP_NAME_MAX + 1];
};

/* Internal: reply (read) stream. */
struct chim__resp_rep {
    uint64_t need; /* values still needed to complete the reply */
    uint64_t num;  /* number being parsed, then bulk bytes left */
    uint32_t nulls, bulks;
    uint8_t st, type, neg, digits;
    uint8_t first; /* type of the reply's first value */
    uint8_t flags; /* error / push / first-null */
    uint8_t _pad[2];
};

struct chim_resp_conn {
    uint8_t state;       /* CHIM_RESP_ST_* */
    uint8_t head, count; /* FIFO of runs */
    uint8_t _pad;
    uint32_t skel;       /* pending commands past the FIFO (replies framed, not reported) */
    uint32_t errors;     /* framing errors (tracking stopped) */
    uint32_t overflow;   /* commands not reported: FIFO full */
    uint32_t orphans;    /* replies without a pending command */
    uint32_t unanswered; /* commands pending at close or error */
    struct chim__resp_cmd cmd;
    struct chim__resp_rep rep;
    struct chim__resp_pend fifo[CHIM_RESP_FIFO];
};

/* Reset c for a new connection (client side of Redis). */
void chim_resp_init(struct chim_resp_conn *c);

/* Feed bytes written (CHIM_DIR_OUT, commands) or read (CHIM_DIR_IN, replies). */
void chim_resp_feed(struct chim_resp_conn *c, int dir, const char *buf, size_t len, uint64_t now_ns,
                    chim_resp_cb cb, void *ctx);

/* The connection ended: counts commands left without a reply. */
void chim_resp_close(struct chim_resp_conn *c, uint64_t now_ns, chim_resp_cb cb, void *ctx);

#endif /* CHIM_PROTO_RESP_H */
