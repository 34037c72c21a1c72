/*
 * httpd.h - the small HTTP/1.1 server core shared by the demo backend
 * (chim-demo) and the mock LLM provider (chim-mockllm), plus the few JSON and
 * HTTP-client helpers both need.
 *
 * Why its own core: the agent measures from inside the process by
 * interposing libc socket calls, so these servers must use plain blocking
 * read()/write()/accept() on real TCP sockets. One epoll thread only watches
 * readiness (EPOLLONESHOT); a ready connection is queued to a worker pool,
 * and one worker reads, parses and answers one request at a time with
 * blocking libc calls, then hands the connection back to epoll. Idle
 * keep-alive connections therefore never hold a worker.
 */
#ifndef CHIM_TOOLS_HTTPD_H
#define CHIM_TOOLS_HTTPD_H

#include <stddef.h>
#include <stdint.h>

/* Largest request body a server accepts; larger gets 413. */
#define CHIM_HTTP_MAX_BODY (4u << 20)

/* One parsed request. Pointers refer to the connection buffer and are valid
 * only during the handler call; none is NUL-terminated except path. */
struct chim_http_req {
    char method[16];
    char path[512]; /* NUL-terminated, query string included */
    const char *body;
    size_t body_len;
    int keep_alive; /* the client allows the connection to stay open */
};

/* A handler writes its response on fd (chim_http_reply or its own bytes)
 * and returns 0 to keep the connection, or -1 to close it. */
typedef int (*chim_http_handler)(void *ctx, int fd, const struct chim_http_req *rq);

struct chim_httpd_opts {
    const char *name; /* program name for messages and the ready line */
    const char *host; /* numeric IPv4 listen address */
    int port;
    int threads;
    chim_http_handler handler;
    void *ctx;
};

/* Listens, prints "<name> listening on HOST:PORT" to stdout, serves until
 * SIGTERM or SIGINT, then stops the workers and closes every connection.
 * Returns 0 on a clean stop, 1 if the socket could not be set up (after one
 * line on stderr). Blocks SIGTERM/SIGINT in the calling thread. */
int chim_httpd_run(const struct chim_httpd_opts *o);

/* Writes a full response with Content-Length framing. extra is zero or more
 * complete header lines ("X-A: b\r\n"), or NULL. Returns 0 or -1 (write
 * failed: the caller should close). */
int chim_http_reply(int fd, int status, const char *ctype, const char *extra, const char *body,
                    size_t len, int keep_alive);

/* Writes all of buf with blocking write(); 0 or -1. */
int chim_write_all(int fd, const void *buf, size_t len);

/* The standard reason phrase of status ("Unknown" if none). */
const char *chim_http_reason(int status);

/* Parses "HOST:PORT" (numeric IPv4 or "localhost"); 0 or -1. */
int chim_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

/* Parses a non-negative integer / double option value; 0 or -1. */
int chim_parse_long(const char *s, long lo, long hi, long *out);
int chim_parse_double(const char *s, double lo, double hi, double *out);

/* Copies the JSON string value of the first "key" in json into a malloc'd
 * NUL-terminated buffer (escapes decoded, \u kept as '?'). Returns the
 * buffer and its length in *len, or NULL if absent or malformed. */
char *chim_json_get_string(const char *json, size_t n, const char *key, size_t *len);

/* Appends s as a JSON string body (no quotes) to out, escaping as needed;
 * out must hold 6*n+1 bytes. Returns the bytes written. */
size_t chim_json_escape(char *out, const char *s, size_t n);

/* Opens a blocking TCP connection to host:port with TCP_NODELAY; fd or -errno. */
int chim_tcp_connect(const char *host, int port);

/* A response read by chim_http_client_read. body is malloc'd (caller frees). */
struct chim_http_resp {
    int status;
    int keep_alive;
    char *body;
    size_t body_len;
};

/* Reads one HTTP/1.1 response (Content-Length or chunked) from a blocking
 * fd. Returns 0, or -1 on a socket error, EOF or malformed response. */
int chim_http_client_read(int fd, struct chim_http_resp *r);

/* Monotonic clock in nanoseconds. */
uint64_t chim_now_ns(void);

#endif
