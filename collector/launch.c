/*
 * launch.c - runs a command under the agent (see launch.h).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"

int chim_beside_self(const char *rel, char *buf, size_t n)
{
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return -ENOENT;
    self[len] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return -ENOENT;
    *slash = 0;
    snprintf(buf, n, "%s/%s", self, rel);
    return 0;
}

int chim_agent_path(char *buf, size_t n)
{
    const char *env = getenv("CHIM_AGENT");
    if (env && *env) {
        snprintf(buf, n, "%s", env);
        return access(buf, R_OK) == 0 ? 0 : -ENOENT;
    }
    if (chim_beside_self("../lib/libchimagent.so", buf, n) != 0)
        return -ENOENT;
    char real[PATH_MAX];
    if (!realpath(buf, real))
        return -ENOENT;
    snprintf(buf, n, "%s", real);
    return 0;
}

int chim_jemalloc_path(char *buf, size_t n)
{
    static const char *dirs[] = {"/usr/lib/x86_64-linux-gnu",
                                 "/lib/x86_64-linux-gnu",
                                 "/usr/lib/aarch64-linux-gnu",
                                 "/usr/lib64",
                                 "/usr/lib",
                                 "/usr/local/lib"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(buf, n, "%s/libjemalloc.so.2", dirs[i]);
        if (access(buf, R_OK) == 0)
            return 0;
    }
    return -ENOENT;
}

/* LD_PRELOAD = agent[:allocator][:previous value]. */
static int set_preload(const struct chim_launch_opts *o, const char *who)
{
    char agent[PATH_MAX], alloc[PATH_MAX] = "", val[3 * PATH_MAX];
    if (o->agent)
        snprintf(agent, sizeof agent, "%s", o->agent);
    else if (chim_agent_path(agent, sizeof agent) != 0) {
        fprintf(stderr, "%s: cannot find libchimagent.so next to chimcollect (set CHIM_AGENT)\n",
                who);
        return -1;
    }
    if (o->allocator && !strcmp(o->allocator, "jemalloc")) {
        if (chim_jemalloc_path(alloc, sizeof alloc) != 0) {
            fprintf(stderr, "%s: libjemalloc.so.2 not found (apt-get install libjemalloc2)\n", who);
            return -1;
        }
    } else if (o->allocator && strcmp(o->allocator, "glibc") != 0) {
        fprintf(stderr, "%s: unknown allocator '%s' (glibc, jemalloc)\n", who, o->allocator);
        return -1;
    }
    const char *old = getenv("LD_PRELOAD");
    snprintf(val, sizeof val, "%s%s%s%s%s", agent, *alloc ? ":" : "", alloc, old && *old ? ":" : "",
             old && *old ? old : "");
    return setenv("LD_PRELOAD", val, 1);
}

/* Finds cmd in PATH (as execvp would); 0 or -ENOENT. */
static int which(const char *cmd, char *out, size_t n)
{
    if (strchr(cmd, '/')) {
        snprintf(out, n, "%s", cmd);
        return access(out, X_OK) == 0 ? 0 : -ENOENT;
    }
    const char *path = getenv("PATH");
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        snprintf(out, n, "%.*s/%s", (int)len, p, cmd);
        if (access(out, X_OK) == 0)
            return 0;
        p += len + (e ? 1 : 0);
    }
    return -ENOENT;
}

/* 1 if path is a 64-bit ELF executable without an interpreter (static):
 * LD_PRELOAD cannot reach it. Scripts and unreadable files give 0. */
int chim_is_static_elf(const char *path)
{
    FILE *f = fopen(path, "rb");
    Elf64_Ehdr eh;
    int is_static = 0;
    if (!f)
        return 0;
    if (fread(&eh, sizeof eh, 1, f) == 1 && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
        eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr) &&
        eh.e_phnum < 4096) {
        is_static = 1;
        for (unsigned i = 0; i < eh.e_phnum; i++) {
            Elf64_Phdr ph;
            if (fseek(f, (long)(eh.e_phoff + i * sizeof ph), SEEK_SET) != 0 ||
                fread(&ph, sizeof ph, 1, f) != 1 || ph.p_type == PT_INTERP) {
                is_static = 0;
                break;
            }
        }
    }
    fclose(f);
    return is_static;
}

int chim_launch(char *const argv[], const struct chim_launch_opts *o, pid_t *pid, const char *who)
{
    char exe[4096];
    if (which(argv[0], exe, sizeof exe) == 0 && chim_is_static_elf(exe))
        fprintf(stderr,
                "%s: warning: %s is statically linked: the agent cannot be preloaded into it, "
                "nothing will be measured\n",
                who, exe);
    if (o->mode && strcmp(o->mode, "count") && strcmp(o->mode, "sample") &&
        strcmp(o->mode, "full")) {
        fprintf(stderr, "%s: unknown mode '%s' (count, sample, full)\n", who, o->mode);
        return 2;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, "%s: pipe: %s\n", who, strerror(errno));
        return 2;
    }
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "%s: fork: %s\n", who, strerror(errno));
        return 2;
    }
    if (child == 0) {
        close(fds[0]);
        if (set_preload(o, who) != 0)
            _exit(127);
        if (o->dir)
            setenv("CHIM_DIR", o->dir, 1);
        if (o->mode)
            setenv("CHIM_MODE", o->mode, 1);
        execvp(argv[0], argv);
        int e = errno;
        ssize_t w = write(fds[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(fds[1]);
    int e = 0;
    ssize_t got = read(fds[0], &e, sizeof e);
    close(fds[0]);
    if (got == sizeof e) {
        waitpid(child, NULL, 0);
        fprintf(stderr, "%s: cannot run '%s': %s\n", who, argv[0], strerror(e));
        return 2;
    }
    *pid = child;
    return 0;
}

int chim_wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 127;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return 127;
}
