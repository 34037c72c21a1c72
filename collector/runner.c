/*
 * runner.c - processes and directories of a `quick` or `full` run (see
 * runner.h). Every child is recorded as soon as it is forked, so a signal
 * or an early return never leaves a backend, a mock provider or a segment
 * directory behind.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "report.h"
#include "runner.h"

#define MAX_CHILDREN 16

static pid_t children[MAX_CHILDREN];
static struct chim_run *active;

static void forget(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid)
            children[i] = 0;
}

static void remember(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (!children[i]) {
            children[i] = pid;
            return;
        }
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[PATH_MAX];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* SIGTERM to every child, SIGKILL to those still there after 3 s. */
static void stop_all(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0)
            kill(children[i], SIGTERM);
    double end = now_s() + 3;
    for (int i = 0; i < MAX_CHILDREN; i++) {
        while (children[i] > 0 && waitpid(children[i], NULL, WNOHANG) == 0 && now_s() < end)
            usleep(20000);
        if (children[i] > 0 && waitpid(children[i], NULL, WNOHANG) == 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
        }
        children[i] = 0;
    }
}

void chim_run_end(struct chim_run *r)
{
    stop_all();
    if (r && r->segdir[0]) {
        remove_dir(r->segdir);
        r->segdir[0] = 0;
    }
    active = NULL;
}

static void on_exit_cleanup(void)
{
    if (active)
        chim_run_end(active);
}

static void on_signal(int sig)
{
    const char msg[] = "\nchimcollect: interrupted: stopping what this run started\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    on_exit_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

int chim_run_begin(struct chim_run *r, const char *who)
{
    r->who = who;
    const char *base = chim_default_dir();
    if (mkdir(base, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot create %s: %s\n", who, base, strerror(errno));
        return 2;
    }
    snprintf(r->segdir, sizeof r->segdir, "%s/run-%d-XXXXXX", base, (int)getpid());
    if (!mkdtemp(r->segdir)) {
        fprintf(stderr, "%s: cannot create a run directory in %s: %s\n", who, base,
                strerror(errno));
        r->segdir[0] = 0;
        return 2;
    }
    active = r;
    static int registered;
    if (!registered++)
        atexit(on_exit_cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int chim_tool_path(const char *name, char *buf, size_t n)
{
    if (chim_beside_self(name, buf, n) != 0)
        return -ENOENT;
    return access(buf, X_OK) == 0 ? 0 : -ENOENT;
}

int chim_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int port = 0;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

int chim_wait_port(const char *host, int port, double timeout_s, pid_t watch)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return -1;
    double end = now_s() + timeout_s;
    do {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        if (s >= 0)
            close(s);
        if (ok)
            return 0;
        if (watch > 0 && waitpid(watch, NULL, WNOHANG) == watch) {
            forget(watch);
            return -1;
        }
        usleep(20000);
    } while (now_s() < end);
    return -1;
}

static void child_exec(struct chim_run *r, char *const argv[], int agent, const char *log)
{
    if (!r->verbose) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    setenv("CHIM_DIR", r->segdir, 1);
    if (agent) {
        char path[PATH_MAX], jem[PATH_MAX], val[3 * PATH_MAX];
        if (chim_agent_path(path, sizeof path) != 0)
            _exit(127);
        int je = r->allocator && !strcmp(r->allocator, "jemalloc") &&
                 chim_jemalloc_path(jem, sizeof jem) == 0;
        snprintf(val, sizeof val, "%s%s%s", path, je ? ":" : "", je ? jem : "");
        setenv("LD_PRELOAD", val, 1);
        if (r->mode)
            setenv("CHIM_MODE", r->mode, 1);
    }
    execvp(argv[0], argv);
    fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

pid_t chim_run_start(struct chim_run *r, char *const argv[], int agent, int port, double timeout_s,
                     const char *what)
{
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/%s.log", r->segdir, what);
    for (char *p = log + strlen(r->segdir) + 1; *p; p++)
        if (*p == ' ' || *p == '/')
            *p = '_';
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: fork: %s\n", r->who, strerror(errno));
        return -1;
    }
    if (pid == 0)
        child_exec(r, argv, agent, log);
    remember(pid);
    if (port > 0 && chim_wait_port("127.0.0.1", port, timeout_s, pid) != 0) {
        fprintf(stderr,
                "%s: %s did not start listening on 127.0.0.1:%d (ensure backend services are "
                "running on port %d; see %s)\n",
                r->who, what, port, port, r->verbose ? "its output above" : log);
        return -1;
    }
    return pid;
}

int chim_run_stop(struct chim_run *r, pid_t pid)
{
    (void)r;
    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    int st = 0;
    double end = now_s() + 5;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (now_s() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        usleep(10000);
    }
    forget(pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static cJSON *stats_json(const struct chim_load_stats *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "route", s->route);
    cJSON_AddNumberToObject(o, "count", (double)s->count);
    cJSON_AddNumberToObject(o, "errors", (double)s->errors);
    cJSON_AddNumberToObject(o, "cache_hits", (double)s->cache_hits);
    cJSON_AddNumberToObject(o, "cache_misses", (double)s->cache_misses);
    cJSON_AddNumberToObject(o, "p50_ms", s->p50_ms);
    cJSON_AddNumberToObject(o, "p90_ms", s->p90_ms);
    cJSON_AddNumberToObject(o, "p95_ms", s->p95_ms);
    cJSON_AddNumberToObject(o, "p99_ms", s->p99_ms);
    cJSON_AddNumberToObject(o, "max_ms", s->max_ms);
    return o;
}

void chim_report_add_load(cJSON *report, const struct chim_load_result *l)
{
    cJSON *o = cJSON_AddObjectToObject(report, "load");
    cJSON_AddStringToObject(o, "target", l->target);
    cJSON_AddStringToObject(o, "scenario", l->scenario);
    cJSON_AddNumberToObject(o, "users", l->users);
    cJSON_AddNumberToObject(o, "rate", l->rate);
    cJSON_AddBoolToObject(o, "closed_loop", l->closed);
    cJSON_AddNumberToObject(o, "duration_s", l->duration_s);
    cJSON_AddNumberToObject(o, "sent", (double)l->sent);
    cJSON_AddNumberToObject(o, "completed", (double)l->completed);
    cJSON_AddNumberToObject(o, "errors", (double)l->errors);
    cJSON_AddNumberToObject(o, "rps", l->rps);
    cJSON_AddItemToObject(o, "overall", stats_json(&l->overall));
    cJSON *routes = cJSON_AddArrayToObject(o, "routes");
    for (int i = 0; i < l->nroutes && i < CHIM_LOAD_MAX_ROUTES; i++)
        cJSON_AddItemToArray(routes, stats_json(&l->routes[i]));
}

cJSON *chim_run_report(struct chim_run *r, const struct chim_load_result *load)
{
    cJSON *rep = chim_collect_report_json(r->segdir);
    if (rep && load)
        chim_report_add_load(rep, load);
    return rep;
}

int chim_http_post(int port, const char *path, const char *body, char *resp, size_t n)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      path, strlen(body));
    size_t got = 0;
    int ok =
        write(s, head, (size_t)hl) == hl && write(s, body, strlen(body)) == (ssize_t)strlen(body);
    ssize_t r;
    while (ok && got + 1 < n && (r = read(s, resp + got, n - 1 - got)) > 0)
        got += (size_t)r;
    resp[got] = 0;
    close(s);
    return ok ? 0 : -1;
}
