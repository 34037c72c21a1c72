/*
 * symbolize.c - libdwfl symbolization (see symbolize.h).
 *
 * Every module of a segment is reported with dwfl_report_elf at its load
 * bias; separate debug files are found the standard way (.gnu_debuglink,
 * /usr/lib/debug/.build-id). A file whose build id differs from the one the
 * agent recorded (rebuilt since the process ran) is not used at all: its
 * symbols would name the wrong functions. The file of that build id under
 * /usr/lib/debug/.build-id is used instead when there is one; otherwise the
 * module's frames stay module+offset and one warning says why. An inlined
 * call expands into one frame per inline level, innermost first, each at
 * its call site line, as addr2line -i does. C++ names are shown
 * demangled and qualified (`app::Cache::fill(int)`, as valgrind and
 * LeakSanitizer print them): from a DIE's linkage name when it has one,
 * else its plain DWARF name; the mangled name is kept beside it for
 * suppressions written against it. Lookups are cached in a small
 * open-addressing table.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize.h"

struct sym_mod {
    char *path;
    uint64_t start, end, bias;
    uint32_t flags;
    int stale; /* the file on disk is not the one that ran: no names */
    Dwfl_Module *dm;
};

struct cache_ent {
    uint64_t ip;
    int n;
    struct chim_sym_frame f[CHIM_SYM_MAX_INLINE];
};

struct chim_symbolizer {
    Dwfl *dwfl;
    struct sym_mod *mods;
    size_t nmods, capmods;
    struct cache_ent *cache;
    size_t cache_cap, cache_used;
    char **strs; /* interned strings owned by s */
    size_t nstrs, capstrs;
};

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

struct chim_symbolizer *chim_sym_new(void)
{
    struct chim_symbolizer *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->dwfl = dwfl_begin(&callbacks);
    s->cache_cap = 4096;
    s->cache = calloc(s->cache_cap, sizeof *s->cache);
    if (!s->dwfl || !s->cache) {
        chim_sym_free(s);
        return NULL;
    }
    dwfl_report_begin(s->dwfl);
    return s;
}

void chim_sym_free(struct chim_symbolizer *s)
{
    if (!s)
        return;
    if (s->dwfl)
        dwfl_end(s->dwfl);
    for (size_t i = 0; i < s->nmods; i++)
        free(s->mods[i].path);
    for (size_t i = 0; i < s->nstrs; i++)
        free(s->strs[i]);
    free(s->strs);
    free(s->mods);
    free(s->cache);
    free(s);
}

/* Keeps a copy of str for the symbolizer's lifetime. */
static const char *keep(struct chim_symbolizer *s, const char *str)
{
    if (!str)
        return "";
    if (s->nstrs == s->capstrs) {
        size_t n = s->capstrs ? s->capstrs * 2 : 256;
        char **p = realloc(s->strs, n * sizeof *p);
        if (!p)
            return "";
        s->strs = p;
        s->capstrs = n;
    }
    char *c = strdup(str);
    if (!c)
        return "";
    s->strs[s->nstrs++] = c;
    return c;
}

static int overlaps(const struct chim_symbolizer *s, uint64_t start, uint64_t end)
{
    for (size_t i = 0; i < s->nmods; i++)
        if (start < s->mods[i].end && s->mods[i].start < end)
            return 1;
    return 0;
}

/* Whether the ELF file at path carries build id `want`: 1 yes, 0 no, or
 * -ENOENT when it cannot be read. A recorded id may be a prefix of the
 * file's (the agent keeps at most CHIM_BUILD_ID_MAX bytes); a file without
 * one differs from any recorded id. */
static int file_has_build_id(const char *path, const uint8_t *want, uint32_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ENOENT;
    elf_version(EV_CURRENT);
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    const void *bits = NULL;
    ssize_t n = e ? dwelf_elf_gnu_build_id(e, &bits) : -1;
    int same = n > 0 && (size_t)n >= len && memcmp(bits, want, len) == 0;
    if (!e)
        same = -ENOENT;
    elf_end(e);
    close(fd);
    return same;
}

/* The file that ran with build id `id`, kept by its id under
 * /usr/lib/debug/.build-id (where libdwfl and gdb look): the object itself
 * (xx/yyyy) or its separate debug file (xx/yyyy.debug), which has the same
 * symbols and addresses. Writes its path to out; returns 0 or -ENOENT. */
static int find_by_build_id(const uint8_t *id, uint32_t len, char *out, size_t outlen)
{
    char hex[2 * 64 + 1];
    if (len < 2 || len > 64)
        return -ENOENT;
    for (uint32_t i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    static const char *const suffix[] = {"", ".debug"};
    for (size_t k = 0; k < sizeof suffix / sizeof *suffix; k++) {
        snprintf(out, outlen, "/usr/lib/debug/.build-id/%.2s/%s%s", hex, hex + 2, suffix[k]);
        if (file_has_build_id(out, id, len) == 1)
            return 0;
    }
    return -ENOENT;
}

/* Reports m to libdwfl from the file that ran: its own path when nothing
 * was recorded or the build ids agree, else the copy kept by build id.
 * Without one, a file that differs marks m stale; a missing file leaves m
 * unreported (module+offset, as before). */
static void report_module(struct chim_symbolizer *s, struct sym_mod *m, const uint8_t *build_id,
                          uint32_t build_id_len)
{
    char alt[512];
    const char *file = m->path;
    if (m->path[0] != '/')
        return;
    int same = build_id_len ? file_has_build_id(m->path, build_id, build_id_len) : 1;
    if (same != 1) {
        if (find_by_build_id(build_id, build_id_len, alt, sizeof alt) != 0) {
            m->stale = same == 0;
            return;
        }
        file = alt;
    }
    m->dm = dwfl_report_elf(s->dwfl, m->path, file, -1, m->bias, false);
}

int chim_sym_add_module(struct chim_symbolizer *s, const char *path, uint64_t start, uint64_t end,
                        uint64_t bias, const uint8_t *build_id, uint32_t build_id_len,
                        uint32_t flags)
{
    if (end <= start || overlaps(s, start, end))
        return -EEXIST;
    if (s->nmods == s->capmods) {
        size_t n = s->capmods ? s->capmods * 2 : 64;
        struct sym_mod *p = realloc(s->mods, n * sizeof *p);
        if (!p)
            return -ENOMEM;
        s->mods = p;
        s->capmods = n;
    }
    struct sym_mod *m = &s->mods[s->nmods];
    memset(m, 0, sizeof *m);
    m->path = strdup(path ? path : "");
    if (!m->path)
        return -ENOMEM;
    m->start = start;
    m->end = end;
    m->bias = bias;
    m->flags = flags;
    report_module(s, m, build_id, build_id_len);
    s->nmods++;
    return 0;
}

/* Says once per file for the whole run (several processes may share it)
 * that a module's frames are left unnamed, the first time one is met. */
static void warn_stale(const char *path)
{
    static char **warned;
    static size_t nwarned, capwarned;
    for (size_t i = 0; i < nwarned; i++)
        if (!strcmp(warned[i], path))
            return;
    fprintf(stderr,
            "chimcollect leaks: %s changed since the process ran (build id differs): "
            "its frames are not named\n",
            path);
    if (nwarned == capwarned) {
        size_t n = capwarned ? capwarned * 2 : 16;
        char **p = realloc(warned, n * sizeof *p);
        if (!p)
            return;
        warned = p;
        capwarned = n;
    }
    char *c = strdup(path);
    if (c)
        warned[nwarned++] = c;
}

static const struct sym_mod *module_of(const struct chim_symbolizer *s, uint64_t ip)
{
    for (size_t i = 0; i < s->nmods; i++)
        if (ip >= s->mods[i].start && ip < s->mods[i].end)
            return &s->mods[i];
    return NULL;
}

/* Name of a DIE: its own, or that of its abstract origin / specification. */
static const char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));
    return n;
}

/* libstdc++'s demangler: a C entry point, linked from this C program. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* A function's name for display: demangled when it is a C++ mangled name
 * (and demangles), else as it is; "??" for none. */
static const char *keep_fn(struct chim_symbolizer *s, const char *name)
{
    if (!name)
        return "??";
    if (name[0] == '_' && name[1] == 'Z') {
        int st = -1;
        char *d = __cxa_demangle(name, NULL, NULL, &st);
        const char *k = d && st == 0 ? keep(s, d) : NULL;
        free(d);
        if (k && *k)
            return k;
    }
    return keep(s, name);
}

/* The DIE's C++ mangled name, through its abstract origin and
 * specification, or NULL. Other linkage names are not taken: glibc's
 * internal aliases (`__GI__IO_file_doallocate`) would hide a function's
 * real name from the runtime suppressions. */
static const char *die_linkage(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));
    if (!n)
        n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
    return n && n[0] == '_' && n[1] == 'Z' ? n : NULL;
}

static int die_call_line(Dwarf_Die *die, Dwarf_Files *files, const char **file, int *line)
{
    Dwarf_Attribute a;
    Dwarf_Word w;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &a), &w) != 0)
        return -1;
    *line = (int)w;
    Dwarf_Word fi;
    if (files && dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &a), &fi) == 0)
        *file = dwarf_filesrc(files, fi, NULL, NULL);
    return 0;
}

/* Expands inlined frames at pc from the DWARF scopes; returns frames
 * stored, or 0 if the CU has no scopes for pc. */
/* The concrete scopes holding pc, innermost first, into *out (malloc'd);
 * returns how many, 0 if none. dwarf_getscopes alone continues from an
 * inlined instance into the scopes of its abstract definition (the
 * compile unit), so the function it was inlined into never shows;
 * dwarf_getscopes_die on the innermost scope walks the concrete tree. */
static int pc_scopes(Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die **out)
{
    Dwarf_Die *scopes = NULL;
    *out = NULL;
    if (dwarf_getscopes(cu, pc, &scopes) <= 0) {
        free(scopes);
        return 0;
    }
    int n = dwarf_getscopes_die(&scopes[0], out);
    free(scopes);
    return n > 0 ? n : 0;
}

static int inline_frames(struct chim_symbolizer *s, Dwfl_Module *dm, uint64_t pc, const char *file,
                         int line, const struct sym_mod *m, struct chim_sym_frame *out, int max)
{
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwfl_module_addrdie(dm, pc, &bias);
    Dwarf_Die *scopes = NULL;
    int ns = cu ? pc_scopes(cu, pc - bias, &scopes) : 0;
    Dwarf_Files *files = NULL;
    size_t nfiles;
    if (cu && dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
        files = NULL;
    int n = 0;
    for (int i = 0; i < ns && n < max; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue;
        const char *link = die_linkage(&scopes[i]);
        out[n] = (struct chim_sym_frame){keep_fn(s, link ? link : die_name(&scopes[i])),
                                         keep(s, file),
                                         line,
                                         m->path,
                                         m->flags,
                                         tag == DW_TAG_inlined_subroutine,
                                         link ? keep(s, link) : ""};
        n++;
        if (tag == DW_TAG_subprogram)
            break;
        if (die_call_line(&scopes[i], files, &file, &line) != 0) {
            file = "";
            line = 0;
        }
    }
    free(scopes);
    return n;
}

static int resolve(struct chim_symbolizer *s, uint64_t ip, struct chim_sym_frame *out, int max)
{
    uint64_t pc = ip ? ip - 1 : 0; /* inside the call instruction */
    const struct sym_mod *m = module_of(s, pc);
    out[0] = (struct chim_sym_frame){"??", "", 0, m ? m->path : "", m ? m->flags : 0, 0, ""};
    if (!m)
        return 1;
    /* No symbol (a stripped object): module+offset, so that distinct
     * unknown functions stay distinct sites. */
    char name[300];
    const char *base = strrchr(m->path, '/');
    snprintf(name, sizeof name, "%s+0x%llx", base ? base + 1 : m->path,
             (unsigned long long)(pc - m->bias));
    out[0].function = keep(s, name);
    if (m->stale)
        warn_stale(m->path);
    if (!m->dm)
        return 1;
    GElf_Off off;
    GElf_Sym sym;
    const char *fn = dwfl_module_addrinfo(m->dm, pc, &off, &sym, NULL, NULL, NULL);
    if (fn) {
        out[0].function = keep_fn(s, fn);
        out[0].linkage = fn[0] == '_' && fn[1] == 'Z' ? keep(s, fn) : "";
    }
    const char *file = "";
    int line = 0;
    Dwfl_Line *dl = dwfl_module_getsrc(m->dm, pc);
    if (dl) {
        const char *f = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
        file = f ? f : "";
    }
    int n = inline_frames(s, m->dm, pc, file, line, m, out, max);
    if (n == 0) {
        out[0].file = keep(s, file);
        out[0].line = line;
        return 1;
    }
    /* The outermost frame's name from the symbol table (the linkage name a
     * user greps for); DWARF names are kept for inlined ones. */
    if (fn && !out[n - 1].inlined && out[n - 1].function[0] == '?') {
        out[n - 1].function = keep_fn(s, fn);
        out[n - 1].linkage = fn[0] == '_' && fn[1] == 'Z' ? keep(s, fn) : "";
    }
    return n;
}

int chim_sym_lookup(struct chim_symbolizer *s, uint64_t ip, struct chim_sym_frame *out, int max)
{
    if (max <= 0)
        return 0;
    size_t mask = s->cache_cap - 1, h = (size_t)((ip * 0x9E3779B97F4A7C15ull) >> 20) & mask;
    for (size_t i = 0; i < s->cache_cap; i++) {
        struct cache_ent *e = &s->cache[(h + i) & mask];
        if (e->n && e->ip == ip) {
            int n = e->n < max ? e->n : max;
            memcpy(out, e->f, (size_t)n * sizeof *out);
            return n;
        }
        if (!e->n) {
            if (s->cache_used * 4 >= s->cache_cap * 3)
                break; /* full enough: resolve without caching */
            e->ip = ip;
            e->n = resolve(s, ip, e->f, CHIM_SYM_MAX_INLINE);
            s->cache_used++;
            int n = e->n < max ? e->n : max;
            memcpy(out, e->f, (size_t)n * sizeof *out);
            return n;
        }
    }
    struct chim_sym_frame tmp[CHIM_SYM_MAX_INLINE];
    int n = resolve(s, ip, tmp, CHIM_SYM_MAX_INLINE);
    n = n < max ? n : max;
    memcpy(out, tmp, (size_t)n * sizeof *out);
    return n;
}
