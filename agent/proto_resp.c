/*
 * proto_resp.c - Redis RESP command/reply pairing for the socket hooks.
 *
 * Commands are framed from the written bytes (arrays of bulk strings, or
 * inline lines) and queued at their end; replies are framed from the read
 * bytes without a stack: `need` counts the values still missing from the
 * current reply (an aggregate of n elements adds n, a map 2n, an attribute
 * 2n without taking a slot), so any nesting depth costs nothing. Bulk data
 * is skipped in bulk; only the command name is copied.
 */
#include "proto_resp.h"

#include <string.h>

enum {
    C_IDLE,
    C_ANUM, /* "*<n>" */
    C_ALF,
    C_BHDR, /* expects '$' */
    C_BNUM, /* "$<len>" */
    C_BNLF,
    C_BCR, /* CRLF after bulk data */
    C_BLF,
    C_INL,   /* inline command: name */
    C_INLA,  /* inline command: arguments */
    C_BDATA, /* bulk (first state handled in bulk) */
};

enum {
    R_TYPE,
    R_NUM,
    R_NLF,
    R_LINE,
    R_BCR,
    R_BLF,
    R_BDATA, /* bulk */
};

/* Reply flags. */
#define RF_ERR      0x01
#define RF_PUSH     0x02
#define RF_NOTFIRST 0x04
#define RF_FNULL    0x08 /* the first value is a null */
#define RF_FBULK    0x10 /* the first value is a non-null bulk string */

#define BULK_MAX  (1ull << 32)
#define ELEMS_MAX (1ull << 32)
#define NEED_MAX  (1ull << 40)

/* Commands pending: the runs' and the skeleton's. */
static uint32_t pending(const struct chim_resp_conn *c)
{
    uint32_t n = c->skel;
    for (unsigned i = 0; i < c->count; i++)
        n += c->fifo[(c->head + i) & (CHIM_RESP_FIFO - 1)].n;
    return n;
}

static void fail(struct chim_resp_conn *c)
{
    c->errors++;
    c->unanswered += pending(c);
    c->count = 0;
    c->skel = 0;
    c->state = CHIM_RESP_ST_ERROR;
}

/* ---- commands ------------------------------------------------------------ */

static int is_cmd(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(name, *list))
            return 1;
    return 0;
}

static void cmd_done(struct chim_resp_conn *c)
{
    static const char *const stop[] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR", 0};
    struct chim__resp_cmd *s = &c->cmd;
    s->st = C_IDLE;
    uint32_t nkeys = s->nargs ? s->nargs - 1 : 0;
    struct chim__resp_pend *t =
        c->count ? &c->fifo[(c->head + c->count - 1) & (CHIM_RESP_FIFO - 1)] : NULL;
    /* The same command again in one burst: the run grows. With the FIFO
     * full, a command like the last run's joins it from a later burst too
     * (its latency is then counted from the run's first write: a pipeline
     * written in many pieces, redis-cli --pipe). */
    if (c->skel == 0 && t && (t->t_first == s->t0 || c->count == CHIM_RESP_FIFO) &&
        t->nkeys == nkeys && t->n < UINT16_MAX &&
        !strncmp(t->name, s->name, CHIM_RESP_PEND_NAME - 1)) {
        t->n++;
    } else if (c->skel == 0 && c->count < CHIM_RESP_FIFO) {
        struct chim__resp_pend *p = &c->fifo[(c->head + c->count) & (CHIM_RESP_FIFO - 1)];
        p->t_first = s->t0;
        p->nkeys = nkeys;
        p->n = 1;
        memcpy(p->name, s->name, sizeof p->name - 1);
        p->name[sizeof p->name - 1] = 0;
        c->count++;
    } else {
        c->skel++;
        c->overflow++;
    }
    if (is_cmd(s->name, stop))
        c->state = CHIM_RESP_ST_PASSTHROUGH;
}

static void name_put(struct chim__resp_cmd *s, unsigned char ch)
{
    if (s->npos < CHIM_RESP_NAME_MAX) {
        s->name[s->npos++] = (char)((ch >= 'a' && ch <= 'z') ? ch - 32 : ch);
        s->name[s->npos] = 0;
    }
}

static void cmd_begin(struct chim__resp_cmd *s, uint64_t now)
{
    s->t0 = now;
    s->num = 0;
    s->neg = s->digits = s->npos = 0;
    s->nargs = 0;
    s->name[0] = 0;
}

/* Digits of a number line; returns 1 at its LF, -1 on garbage. */
static int num_char(uint64_t *num, uint8_t *neg, uint8_t *digits, uint8_t *st, uint8_t lf_st,
                    unsigned char ch)
{
    if (ch >= '0' && ch <= '9') {
        if (*digits >= 18)
            return -1;
        *num = *num * 10 + (uint64_t)(ch - '0');
        (*digits)++;
        return 0;
    }
    if (ch == '-' && !*digits && !*neg) {
        *neg = 1;
        return 0;
    }
    if (!*digits)
        return -1;
    if (ch == '\r') {
        *st = lf_st;
        return 0;
    }
    return ch == '\n' ? 1 : -1;
}

static int cmd_array_len(struct chim_resp_conn *c)
{
    struct chim__resp_cmd *s = &c->cmd;
    if (s->neg || s->num == 0) {
        s->st = C_IDLE; /* "*0" / "*-1": no command */
        return 0;
    }
    if (s->num > ELEMS_MAX)
        return -1;
    s->elems = (uint32_t)s->num;
    s->st = C_BHDR;
    return 0;
}

static int cmd_bulk_len(struct chim__resp_cmd *s)
{
    if (s->neg || s->num > BULK_MAX)
        return -1;
    s->st = s->num ? C_BDATA : C_BCR;
    return 0;
}

static int cmd_inline(struct chim_resp_conn *c, unsigned char ch)
{
    struct chim__resp_cmd *s = &c->cmd;
    int sp = ch == ' ' || ch == '\t' || ch == '\r';
    if (ch == '\n') {
        cmd_done(c);
        return 0;
    }
    if (s->st == C_INL) {
        if (sp) {
            s->nargs = 1;
            s->neg = 0; /* neg: inside a word */
            s->st = C_INLA;
        } else {
            name_put(s, ch);
        }
    } else if (sp) {
        s->neg = 0;
    } else if (!s->neg) {
        s->neg = 1;
        s->nargs++;
    }
    return 0;
}

static int cmd_byte(struct chim_resp_conn *c, unsigned char ch, uint64_t now)
{
    struct chim__resp_cmd *s = &c->cmd;
    int r;
    switch (s->st) {
    case C_IDLE:
        if (ch == '\r' || ch == '\n')
            return 0;
        cmd_begin(s, now);
        if (ch == '*') {
            s->st = C_ANUM;
            return 0;
        }
        s->nargs = 1;
        s->st = C_INL;
        return cmd_inline(c, ch);
    case C_ANUM:
    case C_ALF:
        if (s->st == C_ALF)
            return ch == '\n' ? cmd_array_len(c) : -1;
        r = num_char(&s->num, &s->neg, &s->digits, &s->st, C_ALF, ch);
        return r <= 0 ? r : cmd_array_len(c);
    case C_BHDR:
        if (ch != '$')
            return -1;
        s->num = 0;
        s->neg = s->digits = 0;
        s->st = C_BNUM;
        return 0;
    case C_BNUM:
        r = num_char(&s->num, &s->neg, &s->digits, &s->st, C_BNLF, ch);
        return r <= 0 ? r : cmd_bulk_len(s);
    case C_BNLF:
        return ch == '\n' ? cmd_bulk_len(s) : -1;
    case C_BCR:
        if (ch != '\r')
            return -1;
        s->st = C_BLF;
        return 0;
    case C_BLF:
        if (ch != '\n')
            return -1;
        s->nargs++;
        if (--s->elems == 0)
            cmd_done(c);
        else
            s->st = C_BHDR;
        return 0;
    default:
        return cmd_inline(c, ch);
    }
}

static size_t cmd_bulk(struct chim__resp_cmd *s, const unsigned char *p, size_t n)
{
    if (n > s->num)
        n = (size_t)s->num;
    if (s->nargs == 0)
        for (size_t i = 0; i < n; i++)
            name_put(s, p[i]);
    s->num -= n;
    if (s->num == 0)
        s->st = C_BCR;
    return n;
}

/* ---- replies -------------------------------------------------------------- */

static void emit(struct chim_resp_conn *c, uint64_t now, chim_resp_cb cb, void *ctx)
{
    static const char *const one[] = {"GET", "GETEX", "GETDEL", "HGET", 0};
    static const char *const many[] = {"MGET", "HMGET", 0};
    struct chim__resp_rep *r = &c->rep;
    if (!c->count) {
        if (c->skel)
            c->skel--;
        else
            c->orphans++;
        return;
    }
    struct chim__resp_pend *p = &c->fifo[c->head];
    struct chim_resp_exchange x;
    x.name = p->name;
    x.nkeys = p->nkeys;
    x.hits = x.misses = 0;
    x.is_error = (r->flags & RF_ERR) != 0;
    x.t_first = p->t_first;
    x.t_last = now;
    if (!x.is_error && is_cmd(p->name, one)) {
        x.hits = (r->flags & RF_FBULK) != 0;
        x.misses = (r->flags & RF_FNULL) != 0;
    } else if (!x.is_error && is_cmd(p->name, many)) {
        x.hits = r->bulks;
        x.misses = r->nulls;
    }
    if (--p->n == 0) {
        c->head = (c->head + 1) & (CHIM_RESP_FIFO - 1);
        c->count--;
    }
    if (cb)
        cb(ctx, &x);
}

/* One value of the reply is complete. */
static void value_done(struct chim_resp_conn *c, uint64_t now, chim_resp_cb cb, void *ctx)
{
    struct chim__resp_rep *r = &c->rep;
    r->st = R_TYPE;
    if (--r->need == 0 && !(r->flags & RF_PUSH))
        emit(c, now, cb, ctx);
}

static void null_value(struct chim__resp_rep *r)
{
    r->nulls++;
    if (!(r->flags & RF_NOTFIRST))
        r->flags |= RF_FNULL;
}

static int rep_type(struct chim__resp_rep *r, unsigned char ch)
{
    if (r->need == 0) {
        r->need = 1;
        r->nulls = r->bulks = 0;
        r->flags = 0;
        if (ch == '-' || ch == '!')
            r->flags |= RF_ERR;
        if (ch == '>')
            r->flags |= RF_PUSH;
    } else {
        r->flags |= RF_NOTFIRST;
    }
    r->type = ch;
    r->num = 0;
    r->neg = r->digits = 0;
    switch (ch) {
    case '+':
    case '-':
    case ':':
    case ',':
    case '(':
    case '#':
        r->st = R_LINE;
        return 0;
    case '_':
        null_value(r);
        r->st = R_LINE;
        return 0;
    case '$':
    case '!':
    case '=':
    case '*':
    case '~':
    case '>':
    case '%':
    case '|':
        r->st = R_NUM;
        return 0;
    default:
        return -1;
    }
}

/* The length line of an aggregate or bulk value ended. */
static int rep_len(struct chim_resp_conn *c, uint64_t now, chim_resp_cb cb, void *ctx)
{
    struct chim__resp_rep *r = &c->rep;
    if (r->neg) {
        if (r->num != 1 || r->type == '%' || r->type == '|')
            return -1;
        null_value(r);
        value_done(c, now, cb, ctx);
        return 0;
    }
    switch (r->type) {
    case '$':
    case '!':
    case '=':
        if (r->num > BULK_MAX)
            return -1;
        if (r->type != '!') {
            r->bulks++;
            if (!(r->flags & RF_NOTFIRST))
                r->flags |= RF_FBULK;
        }
        r->st = r->num ? R_BDATA : R_BCR;
        return 0;
    case '|':
        if (r->num > ELEMS_MAX)
            return -1;
        r->need += 2 * r->num; /* an attribute precedes the value it describes */
        r->st = R_TYPE;
        return 0;
    default:
        if (r->num > ELEMS_MAX)
            return -1;
        r->need += (r->type == '%' ? 2 : 1) * r->num;
        if (r->need > NEED_MAX)
            return -1;
        value_done(c, now, cb, ctx);
        return 0;
    }
}

static int rep_byte(struct chim_resp_conn *c, unsigned char ch, uint64_t now, chim_resp_cb cb,
                    void *ctx)
{
    struct chim__resp_rep *r = &c->rep;
    int k;
    switch (r->st) {
    case R_TYPE:
        return rep_type(r, ch);
    case R_NUM:
        k = num_char(&r->num, &r->neg, &r->digits, &r->st, R_NLF, ch);
        return k <= 0 ? k : rep_len(c, now, cb, ctx);
    case R_NLF:
        return ch == '\n' ? rep_len(c, now, cb, ctx) : -1;
    case R_LINE:
        if (ch == '\n')
            value_done(c, now, cb, ctx);
        return 0;
    case R_BCR:
        if (ch != '\r')
            return -1;
        r->st = R_BLF;
        return 0;
    default: /* R_BLF */
        if (ch != '\n')
            return -1;
        value_done(c, now, cb, ctx);
        return 0;
    }
}

void chim_resp_feed(struct chim_resp_conn *c, int dir, const char *buf, size_t len, uint64_t now_ns,
                    chim_resp_cb cb, void *ctx)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len && c->state == CHIM_RESP_ST_ACTIVE) {
        int rc = 0;
        if (dir == CHIM_DIR_OUT) {
            if (c->cmd.st == C_BDATA) {
                i += cmd_bulk(&c->cmd, p + i, len - i);
                continue;
            }
            rc = cmd_byte(c, p[i], now_ns);
        } else {
            struct chim__resp_rep *r = &c->rep;
            if (r->st == R_BDATA) {
                size_t n = len - i < r->num ? len - i : (size_t)r->num;
                r->num -= n;
                if (r->num == 0)
                    r->st = R_BCR;
                i += n;
                continue;
            }
            rc = rep_byte(c, p[i], now_ns, cb, ctx);
        }
        if (rc < 0) {
            fail(c);
            return;
        }
        i++;
    }
}

void chim_resp_close(struct chim_resp_conn *c, uint64_t now_ns, chim_resp_cb cb, void *ctx)
{
    if (c->state == CHIM_RESP_ST_ACTIVE || c->state == CHIM_RESP_ST_PASSTHROUGH)
        c->unanswered += pending(c);
    c->count = 0;
    c->skel = 0;
    c->state = CHIM_RESP_ST_CLOSED;
}

void chim_resp_init(struct chim_resp_conn *c)
{
    memset(c, 0, sizeof *c);
}

_Static_assert(sizeof(struct chim_resp_conn) <= 512, "RESP connection state must stay small");
