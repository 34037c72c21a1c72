/*
 * proto_memcache.h - memcached text protocol, client side: command/reply
 * pairing with cache verdicts.
 *
 * Fed with the bytes a client writes (commands, with their data blocks) and
 * reads (replies), it pairs replies with commands in order (pipelining: a
 * FIFO) and reports each command: for get/gets/gat/gats one hit per VALUE
 * and a miss per requested key without one (a bare END is all misses); for
 * meta mg, EN is a miss and VA/HD a hit; ERROR, CLIENT_ERROR and
 * SERVER_ERROR are errors. Commands sent with `noreply` are not paired.
 * Replies frame themselves (VALUE/VA carry a byte count, VALUE and STAT
 * lines continue a reply), so overflowing the FIFO never breaks framing.
 * Fixed-size state, no pointers, no malloc, no stdio, no errno writes.
 */
#ifndef CHIM_PROTO_MEMCACHE_H
#define CHIM_PROTO_MEMCACHE_H

#include <stddef.h>
#include <stdint.h>

#ifndef CHIM_DIR_IN
#define CHIM_DIR_IN  0 /* bytes read from the socket */
#define CHIM_DIR_OUT 1 /* bytes written to the socket */
#endif

#define CHIM_MC_FIFO 16 /* fully tracked runs of pending commands */

enum {
    CHIM_MC_ST_ACTIVE = 0,
    CHIM_MC_ST_PASSTHROUGH = 1, /* meta quiet mode (q flag): replies no longer pair */
    CHIM_MC_ST_ERROR = 2,       /* framing lost until re-init */
    CHIM_MC_ST_CLOSED = 3,
};

/* One completed command, valid only during the callback. */
struct chim_mc_exchange {
    const char *name; /* command as sent, e.g. "get", "set", "mg" (up to 9 bytes) */
    uint32_t nkeys;   /* keys requested (retrieval commands), else 0 */
    uint32_t hits, misses;
    int is_error;     /* ERROR, CLIENT_ERROR or SERVER_ERROR */
    uint64_t t_first; /* ns: first byte of the command written */
    uint64_t t_last;  /* ns: last byte of the reply read */
};

typedef void (*chim_mc_cb)(void *ctx, const struct chim_mc_exchange *x);

/* Internal: a run of pending commands written in one burst (same time of
 * first byte), of the same kind, name and key count, as a pipeline sends
 * them: a FIFO of 16 runs follows pipelines of any depth in up to 16 runs. */
#define CHIM_MC_PEND_NAME 9 /* bytes of a pending command's name (not NUL-ended) */
struct chim__mc_pend {
    uint64_t t_first;
    uint32_t nkeys;
    uint16_t n; /* commands in the run */
    uint8_t kind;
    char name[CHIM_MC_PEND_NAME];
};

/* Internal: a line tokenizer with an optional data block (both directions). */
struct chim__mc_stream {
    uint64_t t0;   /* first byte of the current command / reply */
    uint64_t num;  /* numeric token (data block length), then bytes left */
    uint32_t hits; /* replies: VALUE lines so far */
    uint16_t ntok; /* tokens on the line */
    uint8_t st, tlen, numtok, flags, wlen;
    char word[16]; /* first token (15 bytes kept) */
};

struct chim_mc_conn {
    uint8_t state; /* CHIM_MC_ST_* */
    uint8_t head, count;
    uint8_t _pad;
    uint32_t skel;       /* pending commands past the FIFO (replies framed, not reported) */
    uint32_t errors;     /* framing errors (tracking stopped) */
    uint32_t overflow;   /* commands not reported: FIFO full */
    uint32_t orphans;    /* replies without a pending command */
    uint32_t unanswered; /* commands pending at close or error */
    struct chim__mc_stream cmd, rep;
    struct chim__mc_pend fifo[CHIM_MC_FIFO];
};

/* Reset c for a new connection (client side of memcached). */
void chim_mc_init(struct chim_mc_conn *c);

/* Feed bytes written (CHIM_DIR_OUT, commands) or read (CHIM_DIR_IN, replies). */
void chim_mc_feed(struct chim_mc_conn *c, int dir, const char *buf, size_t len, uint64_t now_ns,
                  chim_mc_cb cb, void *ctx);

/* The connection ended: counts commands left without a reply. */
void chim_mc_close(struct chim_mc_conn *c, uint64_t now_ns, chim_mc_cb cb, void *ctx);

#endif /* CHIM_PROTO_MEMCACHE_H */
