/*
 * cmd_serve.c - `chimcollect serve`: a Prometheus/OpenMetrics endpoint over
 * the segment directory, so every host runs one collector and Prometheus
 * does the fleet. Each GET /metrics loads the directory, builds the model
 * (metrics.h) and writes it in the format the Accept header asks for.
 *
 * HTTP is libmicrohttpd's (Debian's libmicrohttpd12): one internal polling
 * thread, requests served one at a time (a scrape is a few milliseconds, and
 * serializing them keeps the gone-process table below lock-free). It listens
 * on 127.0.0.1:9464 unless another address is named explicitly; an empty
 * host (":9464") is refused rather than read as "all interfaces".
 * SIGINT/SIGTERM stop the daemon and free everything.
 *
 * Gone processes: a segment whose process ended stays exported for the
 * grace period (--grace, default 300 s) counted from the later of its end
 * time and the moment this server first saw it gone, so the final counts are
 * scraped at least once and a series never drops to a lower value; after
 * that it simply ends (Prometheus marks it stale), which rate() handles.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "args.h"
#include "commands.h"
#include "metrics.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

#define GONE_MAX 4096 /* remembered gone segments; the oldest are forgotten */

struct gone {
    char path[512];
    uint64_t seen_ns;
};

struct server {
    const char *dir;
    struct chim_metrics_opts mo;
    struct gone gone[GONE_MAX];
    size_t ngone, next;
    uint64_t scrapes;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct gone *find_gone(struct server *sv, const char *path)
{
    for (size_t i = 0; i < sv->ngone; i++)
        if (!strcmp(sv->gone[i].path, path))
            return &sv->gone[i];
    return NULL;
}

/* Remembers a segment this server exported (seen_ns: 0 while running). */
static struct gone *remember(struct server *sv, const char *path)
{
    struct gone *g = find_gone(sv, path);
    if (g)
        return g;
    g = &sv->gone[sv->ngone < GONE_MAX ? sv->ngone++ : sv->next++ % GONE_MAX];
    snprintf(g->path, sizeof g->path, "%s", path);
    g->seen_ns = 0;
    return g;
}

/* When this server first saw the segment's process gone (now, if never). */
static uint64_t gone_since(void *ctx, const struct chim_seg *s)
{
    struct gone *g = remember(ctx, s->path);
    if (!g->seen_ns)
        g->seen_ns = now_ns();
    return g->seen_ns;
}

static int known(void *ctx, const char *path)
{
    return find_gone(ctx, path) != NULL;
}

/* The scrape itself: the whole exposition in a malloc'd buffer. */
static int render(struct server *sv, enum chim_metrics_format fmt, char **buf, size_t *len)
{
    struct chim_seg_set set;
    size_t long_gone = 0;
    sv->mo.now_ns = 0;
    int rc = chim_metrics_load_dir(sv->dir, &sv->mo, &set, &long_gone, NULL);
    if (rc)
        return rc;
    for (size_t i = 0; i < set.n; i++)
        if (set.segs[i].state == CHIM_SEG_RUNNING)
            remember(sv, set.segs[i].path);
    struct chim_metrics *m = chim_metrics_build(&set, &sv->mo);
    chim_seg_set_free(&set);
    if (!m)
        return -ENOMEM;
    m->expired += long_gone;
    FILE *f = open_memstream(buf, len);
    rc = f ? chim_metrics_write(m, fmt, f) : -ENOMEM;
    if (f && fclose(f) != 0 && !rc)
        rc = -EIO;
    chim_metrics_free(m);
    sv->scrapes++;
    return rc;
}

static MHD_RESULT reply(struct MHD_Connection *c, unsigned status, const char *type, char *body,
                        size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_RESULT ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static MHD_RESULT handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                         const char *version, const char *upload, size_t *upload_len, void **state)
{
    struct server *sv = cls;
    (void)version, (void)upload, (void)upload_len, (void)state;
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", 9,
                     MHD_RESPMEM_PERSISTENT);
    if (!strcmp(url, "/"))
        return reply(c, MHD_HTTP_OK, "text/html",
                     "<html><body><a href=\"/metrics\">/metrics</a></body></html>\n", 59,
                     MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics"))
        return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10,
                     MHD_RESPMEM_PERSISTENT);
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    enum chim_metrics_format fmt = chim_metrics_negotiate(accept);
    char *buf = NULL;
    size_t len = 0;
    int rc = render(sv, fmt, &buf, &len);
    if (rc) {
        free(buf);
        char msg[256];
        int n = snprintf(msg, sizeof msg, "cannot read %s: %s\n", sv->dir, strerror(-rc));
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", msg, (size_t)n,
                     MHD_RESPMEM_MUST_COPY);
    }
    return reply(c, MHD_HTTP_OK, chim_metrics_content_type(fmt), buf, len, MHD_RESPMEM_MUST_FREE);
}

/* "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464". 0 or -EINVAL. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || strlen(s) >= sizeof host)
        return -EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1)
        return -EINVAL;
    snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = 0;
        if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) != 1)
            return -EINVAL;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *sl = sizeof *v6;
        return 0;
    }
    if (!strcmp(host, "localhost"))
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &v4->sin_addr) != 1)
        return -EINVAL;
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *sl = sizeof *v4;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: chimcollect serve [--listen 127.0.0.1:9464] [--dir D] [--grace SECONDS]\n"
               "                         [--leak-top N]\n"
               "  GET /metrics: Prometheus text 0.0.4, or OpenMetrics 1.0 when the Accept\n"
               "  header asks for application/openmetrics-text. Loopback unless another\n"
               "  address is given (e.g. --listen 0.0.0.0:9464). Port 0 picks a free port.\n");
}

static int parse_args(int argc, char **argv, struct server *sv, const char **listen)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"dir", required_argument, 0, 'd'},
        {"grace", required_argument, 0, 'g'},  {"leak-top", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "l:d:h", opts, NULL)) != -1) {
        if (c == 'l')
            *listen = optarg;
        else if (c == 'd')
            sv->dir = optarg;
        else if (c == 'g')
            sv->mo.grace_s = atof(optarg);
        else if (c == 't') {
            if (chim_arg_int("chimcollect serve", "leak-top", "a number of sites", optarg, 0,
                             100000, &sv->mo.leak_top))
                return 2;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    return -1;
}

/* Blocks until SIGINT or SIGTERM; the daemon's thread was started with them
 * blocked, so this thread is the one that takes them. */
static int wait_signal(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

int chim_cmd_serve(int argc, char **argv)
{
    struct server *sv = calloc(1, sizeof *sv);
    const char *listen = "127.0.0.1:9464";
    if (!sv)
        return 2;
    chim_metrics_opts_init(&sv->mo);
    sv->mo.gone_since = gone_since;
    sv->mo.known = known;
    sv->mo.gone_ctx = sv;
    int rc = parse_args(argc, argv, sv, &listen);
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (rc < 0 && parse_listen(listen, &ss, &sl) != 0) {
        fprintf(stderr,
                "chimcollect serve: bad --listen '%s' (want ADDRESS:PORT, e.g. "
                "127.0.0.1:9464 or 0.0.0.0:9464)\n",
                listen);
        rc = 2;
    }
    if (rc >= 0) {
        free(sv);
        return rc;
    }
    if (!sv->dir)
        sv->dir = chim_default_dir();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "chimcollect serve: cannot listen on %s: %s\n", listen, strerror(errno));
        free(sv);
        return 2;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(strrchr(listen, ':') - listen), listen);
    fprintf(stderr, "chimcollect: serving http://%s:%u/metrics from %s (grace %.0f s)\n", host,
            info ? info->port : 0, sv->dir, sv->mo.grace_s);
    int sig = wait_signal(&set);
    MHD_stop_daemon(d);
    fprintf(stderr, "chimcollect: %s: stopped after %llu scrapes\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)sv->scrapes);
    free(sv);
    return 0;
}
