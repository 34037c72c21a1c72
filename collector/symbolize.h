/*
 * symbolize.h - instruction pointers to function, file and line, off
 * process, with elfutils libdwfl: the agent ships return addresses and a
 * module map (path, load bias, build id); this side reads the files, so it
 * works after the process is gone. Inlined frames are expanded where DWARF
 * has them. Results are cached per address; libdwfl caches per module.
 */
#ifndef CHIM_SYMBOLIZE_H
#define CHIM_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#define CHIM_SYM_MAX_INLINE 8

struct chim_sym_frame {
    const char *function; /* never NULL: "??" when unknown */
    const char *file;     /* "" when unknown */
    int line;             /* 0 when unknown */
    const char *module;   /* path of the object, "" when unknown */
    uint32_t module_flags;
    int inlined;         /* 1: inlined into the next frame */
    const char *linkage; /* C++: the mangled name `function` shows demangled; else "" */
};

struct chim_symbolizer;

struct chim_symbolizer *chim_sym_new(void);
void chim_sym_free(struct chim_symbolizer *s);

/* Reports one object mapped at [start, end) with load bias `bias`. Objects
 * overlapping one already reported are ignored (report loaded ones first).
 * With a build id recorded (build_id_len > 0), a file at `path` that does
 * not carry it is not used (the copy kept under /usr/lib/debug/.build-id
 * is, when there is one): its frames show as module+offset and the first
 * lookup in it says so on stderr, once per path for the whole run.
 * Returns 0 or a negative errno. */
int chim_sym_add_module(struct chim_symbolizer *s, const char *path, uint64_t start, uint64_t end,
                        uint64_t bias, const uint8_t *build_id, uint32_t build_id_len,
                        uint32_t flags);

/* Frames of return address `ip` (the call instruction before it is looked
 * up), innermost first: inlined callees, then the function itself. Returns
 * how many were stored in out (at least 1). Strings live as long as `s`. */
int chim_sym_lookup(struct chim_symbolizer *s, uint64_t ip, struct chim_sym_frame *out, int max);

#endif
