/*
 * httpd.c - the HTTP/1.1 server core of chim-demo and chim-mockllm (see
 * httpd.h for why it looks like this): an epoll readiness thread, a queue of
 * ready connections, and a pool of workers that read, parse and answer with
 * blocking libc calls so that an LD_PRELOAD agent sees every byte.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"

#define HDR_MAX 16384 /* request line + headers */

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
    struct conn *next;                /* ready queue */
    struct conn *all_prev, *all_next; /* registry of open connections */
};

struct server {
    const struct chim_httpd_opts *o;
    int ep, lfd, sfd;
    volatile int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct conn *qhead, *qtail;
    struct conn *all;
};

uint64_t chim_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int chim_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

const char *chim_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

int chim_http_reply(int fd, int status, const char *ctype, const char *extra, const char *body,
                    size_t len, int keep_alive)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: %s\r\n%s\r\n",
                     status, chim_http_reason(status), ctype ? ctype : "application/json", len,
                     keep_alive ? "keep-alive" : "close", extra ? extra : "");
    if (n < 0 || (size_t)n >= sizeof head)
        return -1;
    /* One write for small responses keeps the agent's view to one call. */
    if (len <= 8192) {
        char out[1024 + 8192];
        memcpy(out, head, (size_t)n);
        if (len)
            memcpy(out + n, body, len);
        return chim_write_all(fd, out, (size_t)n + len);
    }
    if (chim_write_all(fd, head, (size_t)n) < 0)
        return -1;
    return chim_write_all(fd, body, len);
}

/* ---- request parsing ---- */

static const char *find_crlf2(const char *p, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
            return p + i;
    return NULL;
}

/* Parses the request line into rq; 0, or an HTTP error status. */
static int parse_reqline(const char *p, const char *end, struct chim_http_req *rq, int *minor)
{
    const char *sp1 = memchr(p, ' ', (size_t)(end - p));
    if (!sp1 || sp1 == p || (size_t)(sp1 - p) >= sizeof rq->method)
        return 400;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
    if (!sp2 || sp2 == sp1 + 1 || sp1[1] != '/')
        return 400;
    if ((size_t)(sp2 - sp1 - 1) >= sizeof rq->path)
        return 431;
    if (end - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return 400;
    if (sp2[8] != '0' && sp2[8] != '1')
        return 505;
    memcpy(rq->method, p, (size_t)(sp1 - p));
    rq->method[sp1 - p] = 0;
    memcpy(rq->path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    rq->path[sp2 - sp1 - 1] = 0;
    *minor = sp2[8] - '0';
    return 0;
}

static int header_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n > k && line[k] == ':' && strncasecmp(line, name, k) == 0;
}

static const char *header_value(const char *line, size_t n, size_t *vlen)
{
    const char *v = memchr(line, ':', n) + 1;
    const char *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *vlen = (size_t)(e - v);
    return v;
}

/* Applies one header line; 0 or an HTTP error status. */
static int parse_header(const char *line, size_t n, struct chim_http_req *rq, long *clen)
{
    size_t vl;
    if (!memchr(line, ':', n))
        return 400;
    const char *v = header_value(line, n, &vl);
    if (header_is(line, n, "Content-Length")) {
        char tmp[24];
        if (vl == 0 || vl >= sizeof tmp)
            return 400;
        memcpy(tmp, v, vl);
        tmp[vl] = 0;
        if (chim_parse_long(tmp, 0, CHIM_HTTP_MAX_BODY, clen) < 0)
            return vl > 7 ? 413 : 400;
    } else if (header_is(line, n, "Transfer-Encoding")) {
        return 411; /* chunked request bodies are not supported */
    } else if (header_is(line, n, "Connection")) {
        if (vl == 5 && strncasecmp(v, "close", 5) == 0)
            rq->keep_alive = 0;
        else if (vl == 10 && strncasecmp(v, "keep-alive", 10) == 0)
            rq->keep_alive = 1;
    }
    return 0;
}

/* Parses one request at buf. Returns the bytes it spans (> 0), 0 if more
 * bytes are needed, or -status for a malformed request. */
static long parse_request(const char *buf, size_t len, struct chim_http_req *rq)
{
    const char *hend = find_crlf2(buf, len);
    if (!hend)
        return len > HDR_MAX ? -431 : 0;
    const char *eol = memchr(buf, '\r', (size_t)(hend - buf) + 1);
    int minor = 1, st = parse_reqline(buf, eol, rq, &minor);
    if (st)
        return -st;
    rq->keep_alive = minor == 1;
    long clen = 0;
    for (const char *p = eol + 2; p < hend + 2;) {
        const char *e = memchr(p, '\r', (size_t)(hend + 2 - p));
        if (!e || e[1] != '\n')
            return -400;
        if ((st = parse_header(p, (size_t)(e - p), rq, &clen)) != 0)
            return -st;
        p = e + 2;
    }
    size_t head = (size_t)(hend + 4 - buf);
    if (len < head + (size_t)clen)
        return 0;
    rq->body = buf + head;
    rq->body_len = (size_t)clen;
    return (long)(head + (size_t)clen);
}

/* ---- connections and the ready queue ---- */

static void conn_close(struct server *s, struct conn *c)
{
    pthread_mutex_lock(&s->mu);
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        s->all = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    pthread_mutex_unlock(&s->mu);
    close(c->fd);
    free(c->buf);
    free(c);
}

static void queue_push(struct server *s, struct conn *c)
{
    pthread_mutex_lock(&s->mu);
    c->next = NULL;
    if (s->qtail)
        s->qtail->next = c;
    else
        s->qhead = c;
    s->qtail = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static struct conn *queue_pop(struct server *s)
{
    pthread_mutex_lock(&s->mu);
    while (!s->qhead && !s->stop)
        pthread_cond_wait(&s->cv, &s->mu);
    struct conn *c = s->qhead;
    if (c) {
        s->qhead = c->next;
        if (!s->qhead)
            s->qtail = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    return c;
}

/* Reads what is available into c->buf; bytes read, 0 on EOF, -1 on error. */
static ssize_t conn_fill(struct conn *c)
{
    if (c->cap - c->len < 4096) {
        size_t ncap = c->cap ? c->cap * 2 : 8192;
        if (ncap > CHIM_HTTP_MAX_BODY + HDR_MAX * 2)
            return -1;
        char *nb = realloc(c->buf, ncap);
        if (!nb)
            return -1;
        c->buf = nb;
        c->cap = ncap;
    }
    ssize_t n;
    do
        n = read(c->fd, c->buf + c->len, c->cap - c->len);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

/* Serves every complete request in c->buf. 1 keep open, 0 close. */
static int conn_serve(struct server *s, struct conn *c)
{
    for (;;) {
        struct chim_http_req rq;
        memset(&rq, 0, sizeof rq);
        long n = parse_request(c->buf, c->len, &rq);
        if (n == 0)
            return 1;
        if (n < 0) {
            char b[64];
            int bl = snprintf(b, sizeof b, "{\"error\":\"%s\"}", chim_http_reason((int)-n));
            chim_http_reply(c->fd, (int)-n, NULL, NULL, b, (size_t)bl, 0);
            return 0;
        }
        if (s->o->handler(s->o->ctx, c->fd, &rq) < 0 || !rq.keep_alive || s->stop)
            return 0;
        memmove(c->buf, c->buf + n, c->len - (size_t)n);
        c->len -= (size_t)n;
    }
}

static void conn_rearm(struct server *s, struct conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        conn_close(s, c);
}

static void *worker(void *arg)
{
    struct server *s = arg;
    struct conn *c;
    while ((c = queue_pop(s)) != NULL) {
        if (conn_fill(c) <= 0 || !conn_serve(s, c))
            conn_close(s, c);
        else
            conn_rearm(s, c);
    }
    return NULL;
}

/* ---- listening and the readiness loop ---- */

static void sock_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void accept_all(struct server *s)
{
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            /* Out of descriptors: the listen socket stays readable, so
             * pause instead of spinning until a connection closes. */
            if (errno == EMFILE || errno == ENFILE)
                usleep(10000);
            return; /* EAGAIN, or a transient error: epoll tells us again */
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        sock_timeouts(fd);
        c->fd = fd;
        pthread_mutex_lock(&s->mu);
        c->all_next = s->all;
        if (s->all)
            s->all->all_prev = c;
        s->all = c;
        pthread_mutex_unlock(&s->mu);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT | EPOLLRDHUP, .data.ptr = c};
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            conn_close(s, c);
    }
}

static int listen_on(const char *host, int port, int *bound)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *bound = ntohs(sa.sin_port);
    return fd;
}

/* Many keep-alive clients need many descriptors: use the hard limit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int setup(struct server *s, int *bound)
{
    raise_nofile();
    const struct chim_httpd_opts *o = s->o;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    s->lfd = listen_on(o->host, o->port, bound);
    if (s->lfd < 0) {
        fprintf(stderr, "%s: cannot listen on %s:%d: %s\n", o->name, o->host, o->port,
                strerror(-s->lfd));
        return -1;
    }
    s->sfd = signalfd(-1, &set, SFD_CLOEXEC);
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    if (s->sfd < 0 || s->ep < 0) {
        fprintf(stderr, "%s: epoll/signalfd: %s\n", o->name, strerror(errno));
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->lfd};
    epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev);
    ev.data.ptr = &s->sfd;
    epoll_ctl(s->ep, EPOLL_CTL_ADD, s->sfd, &ev);
    return 0;
}

static void loop(struct server *s)
{
    struct epoll_event evs[64];
    while (!s->stop) {
        int n = epoll_wait(s->ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &s->lfd)
                accept_all(s);
            else if (evs[i].data.ptr == &s->sfd)
                s->stop = 1;
            else
                queue_push(s, evs[i].data.ptr);
        }
    }
}

static void teardown(struct server *s, pthread_t *tids, int nt)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < nt; i++)
        pthread_join(tids[i], NULL);
    while (s->all)
        conn_close(s, s->all); /* idle and still-queued connections */
}

int chim_httpd_run(const struct chim_httpd_opts *o)
{
    struct server s = {.o = o, .ep = -1, .lfd = -1, .sfd = -1};
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    int bound = 0, rc = 1, nt = 0;
    pthread_t *tids = calloc((size_t)o->threads, sizeof *tids);
    if (!tids || setup(&s, &bound) < 0)
        goto out;
    for (; nt < o->threads; nt++)
        if (pthread_create(&tids[nt], NULL, worker, &s) != 0)
            break;
    printf("%s listening on %s:%d\n", o->name, o->host, bound);
    fflush(stdout);
    loop(&s);
    teardown(&s, tids, nt);
    rc = 0;
out:
    if (s.lfd >= 0)
        close(s.lfd);
    if (s.sfd >= 0)
        close(s.sfd);
    if (s.ep >= 0)
        close(s.ep);
    free(tids);
    return rc;
}
