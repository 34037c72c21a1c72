/*
 * proto_memcache.c - memcached text protocol pairing for the socket hooks.
 *
 * Both directions are lines of space-separated tokens, some followed by a
 * data block whose length is one of the tokens. One small tokenizer serves
 * both: it keeps the first token (the command or reply word), the count of
 * tokens, one numeric token chosen by the first word, and whether the last
 * token was `noreply`. Data blocks are skipped in bulk.
 */
#include "proto_memcache.h"

#include <string.h>

enum { T_LINE, T_DATA, T_DCR, T_DLF };

enum { K_OTHER, K_GET, K_GAT, K_STORE, K_MS, K_MG, K_META, K_SIMPLE, K_QUIT };

/* Tokenizer flags. */
#define F_INTOK  0x01 /* inside a token */
#define F_MNR    0x02 /* the current token still matches "noreply" */
#define F_MQ     0x04 /* the current token still matches "q" */
#define F_LASTNR 0x08 /* the last complete token is "noreply" */
#define F_QUIET  0x10 /* a token "q" after the first (meta quiet mode) */
#define F_BADNUM 0x20 /* the numeric token is not a number */

static const struct {
    const char *w;
    uint8_t kind, numtok;
} cmds[] = {
    {"get", K_GET, 0},       {"gets", K_GET, 0},    {"gat", K_GAT, 0},       {"gats", K_GAT, 0},
    {"set", K_STORE, 4},     {"add", K_STORE, 4},   {"replace", K_STORE, 4}, {"append", K_STORE, 4},
    {"prepend", K_STORE, 4}, {"cas", K_STORE, 4},   {"ms", K_MS, 2},         {"mg", K_MG, 0},
    {"md", K_META, 0},       {"ma", K_META, 0},     {"mn", K_META, 0},       {"me", K_META, 0},
    {"delete", K_SIMPLE, 0}, {"incr", K_SIMPLE, 0}, {"decr", K_SIMPLE, 0},   {"touch", K_SIMPLE, 0},
    {"quit", K_QUIT, 0},
};

#define DATA_MAX (1ull << 32)

static uint32_t pending(const struct chim_mc_conn *c);

static void fail(struct chim_mc_conn *c)
{
    c->errors++;
    c->unanswered += pending(c);
    c->count = 0;
    c->skel = 0;
    c->state = CHIM_MC_ST_ERROR;
}

static int word_is(const struct chim__mc_stream *s, const char *w)
{
    return !strcmp(s->word, w);
}

static uint8_t cmd_kind(const struct chim__mc_stream *s, uint8_t *numtok)
{
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (word_is(s, cmds[i].w)) {
            *numtok = cmds[i].numtok;
            return cmds[i].kind;
        }
    *numtok = 0;
    return K_OTHER;
}

/* ---- tokenizer ----------------------------------------------------------- */

static void line_reset(struct chim__mc_stream *s)
{
    s->num = 0;
    s->ntok = 0;
    s->tlen = 0;
    s->numtok = 0;
    s->flags = 0;
    s->wlen = 0;
    s->word[0] = 0;
    s->st = T_LINE;
}

static void token_end(struct chim__mc_stream *s, int is_cmd)
{
    uint8_t f = s->flags & (uint8_t) ~(F_INTOK | F_LASTNR);
    if ((s->flags & F_MNR) && s->tlen == 7)
        f |= F_LASTNR;
    if ((s->flags & F_MQ) && s->tlen == 1 && s->ntok > 1)
        f |= F_QUIET;
    s->flags = f;
    if (s->ntok == 1) {
        uint8_t nt = 0;
        if (is_cmd)
            cmd_kind(s, &nt);
        else
            nt = word_is(s, "VALUE") ? 3 : word_is(s, "VA") ? 1 : 0;
        s->numtok = nt;
    }
}

static void token_char(struct chim__mc_stream *s, unsigned char ch, uint64_t now)
{
    static const char noreply[] = "noreply";
    if (!(s->flags & F_INTOK)) {
        if (s->ntok == 0)
            s->t0 = now;
        s->flags |= F_INTOK | F_MNR | F_MQ;
        if (s->ntok < UINT16_MAX)
            s->ntok++;
        s->tlen = 0;
    }
    if (s->ntok == 1 && s->wlen < sizeof s->word - 1) {
        s->word[s->wlen++] = (char)ch;
        s->word[s->wlen] = 0;
    }
    if (s->numtok && s->ntok == s->numtok + 1) {
        if (ch < '0' || ch > '9' || s->tlen >= 12)
            s->flags |= F_BADNUM;
        else
            s->num = s->num * 10 + (uint64_t)(ch - '0');
    }
    if (s->tlen >= 7 || noreply[s->tlen] != (char)ch)
        s->flags &= (uint8_t)~F_MNR;
    if (s->tlen >= 1 || ch != 'q')
        s->flags &= (uint8_t)~F_MQ;
    if (s->tlen < 255)
        s->tlen++;
}

/* One byte of a line: returns 1 when it ends the line. */
static int line_byte(struct chim__mc_stream *s, unsigned char ch, int is_cmd, uint64_t now)
{
    if (ch == ' ' || ch == '\r' || ch == '\t' || ch == '\n') {
        if (s->flags & F_INTOK)
            token_end(s, is_cmd);
        return ch == '\n';
    }
    token_char(s, ch, now);
    return 0;
}

/* A line announced a data block of s->num bytes (then CRLF). */
static int data_block(struct chim__mc_stream *s)
{
    if ((s->flags & F_BADNUM) || s->ntok <= s->numtok || s->num > DATA_MAX)
        return -1;
    s->st = s->num ? T_DATA : T_DCR;
    return 0;
}

/* ---- commands -------------------------------------------------------------- */

/* Commands pending: the runs' and the skeleton's. */
static uint32_t pending(const struct chim_mc_conn *c)
{
    uint32_t n = c->skel;
    for (unsigned i = 0; i < c->count; i++)
        n += c->fifo[(c->head + i) & (CHIM_MC_FIFO - 1)].n;
    return n;
}

static void push(struct chim_mc_conn *c, uint8_t kind, uint32_t nkeys)
{
    struct chim__mc_stream *s = &c->cmd;
    struct chim__mc_pend *t =
        c->count ? &c->fifo[(c->head + c->count - 1) & (CHIM_MC_FIFO - 1)] : NULL;
    /* The same command again in one burst: the run grows; with the FIFO
     * full, from a later burst too (latency from the run's first write). */
    if (!c->skel && t && (t->t_first == s->t0 || c->count == CHIM_MC_FIFO) && t->nkeys == nkeys &&
        t->kind == kind && t->n < UINT16_MAX && !strncmp(t->name, s->word, CHIM_MC_PEND_NAME)) {
        t->n++;
        return;
    }
    if (c->skel || c->count >= CHIM_MC_FIFO) {
        c->skel++;
        c->overflow++;
        return;
    }
    struct chim__mc_pend *p = &c->fifo[(c->head + c->count) & (CHIM_MC_FIFO - 1)];
    p->t_first = s->t0;
    p->nkeys = nkeys;
    p->kind = kind;
    p->n = 1;
    memcpy(p->name, s->word, CHIM_MC_PEND_NAME);
    c->count++;
}

static int cmd_line(struct chim_mc_conn *c)
{
    struct chim__mc_stream *s = &c->cmd;
    uint8_t nt;
    if (s->ntok == 0) {
        line_reset(s);
        return 0;
    }
    uint8_t kind = cmd_kind(s, &nt);
    uint32_t nkeys = kind == K_GET ? s->ntok - 1u : kind == K_GAT ? s->ntok - 2u : 0;
    if (kind == K_MG)
        nkeys = 1;
    int meta = kind == K_MS || kind == K_MG || kind == K_META;
    if (meta && (s->flags & F_QUIET))
        c->state = CHIM_MC_ST_PASSTHROUGH; /* quiet replies cannot be paired in order */
    else if (kind != K_QUIT && (meta || !(s->flags & F_LASTNR)))
        push(c, kind, nkeys);
    if (nt)
        return data_block(s);
    line_reset(s);
    return 0;
}

/* ---- replies ---------------------------------------------------------------- */

static void reply_done(struct chim_mc_conn *c, int err, int meta_hit, int meta_miss, uint64_t now,
                       chim_mc_cb cb, void *ctx)
{
    struct chim__mc_stream *s = &c->rep;
    uint32_t hits = s->hits;
    s->hits = 0;
    line_reset(s);
    if (!c->count) {
        if (c->skel)
            c->skel--;
        else
            c->orphans++;
        return;
    }
    struct chim__mc_pend *p = &c->fifo[c->head];
    char name[CHIM_MC_PEND_NAME + 1];
    memcpy(name, p->name, CHIM_MC_PEND_NAME);
    name[CHIM_MC_PEND_NAME] = 0;
    struct chim_mc_exchange x = {name, p->nkeys, 0, 0, err, p->t_first, now};
    if (!err && (p->kind == K_GET || p->kind == K_GAT)) {
        x.hits = hits;
        x.misses = p->nkeys > hits ? p->nkeys - hits : 0;
    } else if (!err && p->kind == K_MG) {
        x.hits = (uint32_t)meta_hit;
        x.misses = (uint32_t)meta_miss;
    }
    if (--p->n == 0) {
        c->head = (c->head + 1) & (CHIM_MC_FIFO - 1);
        c->count--;
    }
    if (cb)
        cb(ctx, &x);
}

static int rep_line(struct chim_mc_conn *c, uint64_t now, chim_mc_cb cb, void *ctx)
{
    struct chim__mc_stream *s = &c->rep;
    if (s->ntok == 0) {
        line_reset(s);
        return 0;
    }
    if (word_is(s, "VALUE")) {
        s->hits++;
        return data_block(s);
    }
    if (word_is(s, "VA"))
        return data_block(s);
    if (word_is(s, "STAT")) {
        line_reset(s);
        return 0;
    }
    int err = word_is(s, "ERROR") || word_is(s, "CLIENT_ERROR") || word_is(s, "SERVER_ERROR");
    reply_done(c, err, word_is(s, "HD"), word_is(s, "EN"), now, cb, ctx);
    return 0;
}

/* The CRLF after a data block. */
static int data_end(struct chim_mc_conn *c, int is_cmd, uint64_t now, chim_mc_cb cb, void *ctx)
{
    struct chim__mc_stream *s = is_cmd ? &c->cmd : &c->rep;
    if (!is_cmd && word_is(s, "VA"))
        reply_done(c, 0, 1, 0, now, cb, ctx);
    else
        line_reset(s);
    return 0;
}

static int step(struct chim_mc_conn *c, int is_cmd, unsigned char ch, uint64_t now, chim_mc_cb cb,
                void *ctx)
{
    struct chim__mc_stream *s = is_cmd ? &c->cmd : &c->rep;
    switch (s->st) {
    case T_DCR:
        if (ch != '\r')
            return -1;
        s->st = T_DLF;
        return 0;
    case T_DLF:
        return ch == '\n' ? data_end(c, is_cmd, now, cb, ctx) : -1;
    default:
        if (ch == 0x80 && s->ntok == 0 && !(s->flags & F_INTOK))
            return -1; /* binary protocol */
        if (!line_byte(s, ch, is_cmd, now))
            return 0;
        return is_cmd ? cmd_line(c) : rep_line(c, now, cb, ctx);
    }
}

void chim_mc_feed(struct chim_mc_conn *c, int dir, const char *buf, size_t len, uint64_t now_ns,
                  chim_mc_cb cb, void *ctx)
{
    const unsigned char *p = (const unsigned char *)buf;
    int is_cmd = dir == CHIM_DIR_OUT;
    struct chim__mc_stream *s = is_cmd ? &c->cmd : &c->rep;
    size_t i = 0;
    while (i < len && c->state == CHIM_MC_ST_ACTIVE) {
        if (s->st == T_DATA) {
            size_t n = len - i < s->num ? len - i : (size_t)s->num;
            s->num -= n;
            if (s->num == 0)
                s->st = T_DCR;
            i += n;
            continue;
        }
        if (step(c, is_cmd, p[i], now_ns, cb, ctx) < 0) {
            fail(c);
            return;
        }
        i++;
    }
}

void chim_mc_close(struct chim_mc_conn *c, uint64_t now_ns, chim_mc_cb cb, void *ctx)
{
    if (c->state == CHIM_MC_ST_ACTIVE || c->state == CHIM_MC_ST_PASSTHROUGH)
        c->unanswered += pending(c);
    c->count = 0;
    c->skel = 0;
    c->state = CHIM_MC_ST_CLOSED;
}

void chim_mc_init(struct chim_mc_conn *c)
{
    memset(c, 0, sizeof *c);
}

_Static_assert(sizeof(struct chim_mc_conn) <= 512, "memcached connection state must stay small");
