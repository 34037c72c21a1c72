/*
 * symbolize.c - libdwfl symbolization (see symbolize.h).
 *
 * Every module of a segment is reported with dwfl_report_elf at its load
 * bias; separate debug files are found the standard way (.gnu_debuglink,
 * /usr/lib/debug/.build-id). A file whose build id differs from the one the
 * agent recorded (rebuilt since) is not trusted for lines: only the module
 * name is shown. Lookups are cached in a small open-addressing table.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize.h"

struct sym_mod {
    char *path;
    uint64_t start, end, bias;
    uint32_t flags;
    int trusted;
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

static int same_build_id(Dwfl_Module *dm, const uint8_t *want, uint32_t len)
{
    const unsigned char *bits;
    GElf_Addr vaddr;
    if (!len)
        return 1; /* nothing recorded: trust the file */
    int n = dwfl_module_build_id(dm, &bits, &vaddr);
    if (n <= 0)
        return 1;
    uint32_t cmp = (uint32_t)n < len ? (uint32_t)n : len;
    return memcmp(bits, want, cmp) == 0;
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
    m->start = start;
    m->end = end;
    m->bias = bias;
    m->flags = flags;
    if (path && path[0] == '/')
        m->dm = dwfl_report_elf(s->dwfl, path, path, -1, bias, false);
    m->trusted = m->dm && same_build_id(m->dm, build_id, build_id_len);
    s->nmods++;
    return 0;
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
static int inline_frames(struct chim_symbolizer *s, Dwfl_Module *dm, uint64_t pc, const char *file,
                         int line, const struct sym_mod *m, struct chim_sym_frame *out, int max)
{
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwfl_module_addrdie(dm, pc, &bias);
    Dwarf_Die *scopes = NULL;
    int ns = cu ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;
    Dwarf_Files *files = NULL;
    size_t nfiles;
    if (cu)
        dwarf_getsrcfiles(cu, &files, &nfiles);
    int n = 0;
    for (int i = 0; i < ns && n < max; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue;
        const char *name = die_name(&scopes[i]);
        out[n] = (struct chim_sym_frame){
            keep(s, name ? name : "??"),     keep(s, file), line, m->path, m->flags,
            tag == DW_TAG_inlined_subroutine};
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
    out[0] = (struct chim_sym_frame){"??", "", 0, m ? m->path : "", m ? m->flags : 0, 0};
    if (!m)
        return 1;
    /* No symbol (a stripped object): module+offset, so that distinct
     * unknown functions stay distinct sites. */
    char name[300];
    const char *base = strrchr(m->path, '/');
    snprintf(name, sizeof name, "%s+0x%llx", base ? base + 1 : m->path,
             (unsigned long long)(pc - m->bias));
    out[0].function = keep(s, name);
    if (!m->dm)
        return 1;
    GElf_Off off;
    GElf_Sym sym;
    const char *fn = dwfl_module_addrinfo(m->dm, pc, &off, &sym, NULL, NULL, NULL);
    if (fn)
        out[0].function = keep(s, fn);
    if (!m->trusted)
        return 1;
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
    if (fn && !out[n - 1].inlined && out[n - 1].function[0] == '?')
        out[n - 1].function = keep(s, fn);
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
