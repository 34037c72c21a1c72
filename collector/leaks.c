/*
 * leaks.c - the leak model (see leaks.h): reads the leak sections of each
 * process's segment (untrusted: every size and index is checked), symbolizes
 * its stacks, merges stacks into call sites, fits the growth of each site's
 * live bytes and decides a class.
 *
 * A site is the innermost frame outside the C library's allocating
 * functions (and C++ operator new): a leak through strdup is reported at
 * strdup's caller. Stacks that run through the dynamic loader, or whose
 * allocating libc frames are the runtime's own (stdio buffers, locale,
 * thread set-up), are the C runtime's and hidden unless --all.
 *
 * Growth: live bytes of a site over the window - from successive snapshots
 * (--watch) or from the agent's per-site ring of one value per epoch - fitted
 * by least squares; a site is growing when the lower end of the slope's 95 %
 * confidence interval is above zero and the growth over the window is more
 * than noise, and it is a leak when, in addition, blocks born before the
 * window's middle are still live (old blocks stay).
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chim/shm_leak.h"
#include "leaks.h"
#include "symbolize.h"

#define MAX_FRAMES 256
#define MAX_POINTS 4096

/* ---- pure statistics ------------------------------------------------------ */

const char *chim_leak_class_name(enum chim_leak_class c)
{
    static const char *names[] = {"leak", "retained", "churn"};
    return (unsigned)c < 3 ? names[c] : "unknown";
}

double chim_sample_weight_count(double z, double r)
{
    double p = -expm1(-z / r);
    return p > 1e-9 ? 1.0 / p : 1e9;
}

double chim_sample_weight_bytes(double z, double r)
{
    return z * chim_sample_weight_count(z, r);
}

double chim_t975(int df)
{
    static const double t[] = {0,     12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365,
                               2.306, 2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                               2.120, 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069,
                               2.064, 2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
    if (df <= 0)
        return INFINITY;
    if (df <= 30)
        return t[df];
    return df <= 60 ? 2.000 : df <= 120 ? 1.980 : 1.960;
}

int chim_slope_fit(const double *t, const double *y, int n, struct chim_slope *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n < 3)
        return -1;
    double mt = 0, my = 0;
    for (int i = 0; i < n; i++) {
        mt += t[i];
        my += y[i];
    }
    mt /= n;
    my /= n;
    double sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        sxx += (t[i] - mt) * (t[i] - mt);
        sxy += (t[i] - mt) * (y[i] - my);
    }
    if (sxx <= 0)
        return -1;
    out->slope = sxy / sxx;
    out->intercept = my - out->slope * mt;
    double rss = 0;
    for (int i = 0; i < n; i++) {
        double r = y[i] - out->intercept - out->slope * t[i];
        rss += r * r;
    }
    out->se = sqrt(rss / (n - 2) / sxx);
    double h = chim_t975(n - 2) * out->se;
    out->lo = out->slope - h;
    out->hi = out->slope + h;
    return 0;
}

enum chim_leak_class chim_leak_classify(const struct chim_class_in *in)
{
    if (in->scanned) {
        if (in->leaked_bytes > 0)
            return CHIM_CLASS_LEAK;
        return in->reachable_bytes > 0 ? CHIM_CLASS_RETAINED : CHIM_CLASS_CHURN;
    }
    /* Growing: the slope's lower bound is above zero and the window's growth
     * is more than a page and 2 % of what is live; and it has not surely
     * stopped: the later half's upper bound is not under a quarter of the
     * slope (a cache filled early in the window, then kept, is not a
     * leak; a steady leak's noisy later half stays above that bound). */
    double grown = in->growth.slope * in->window_s;
    int stopped = in->have_recent && in->recent.hi < 0.25 * in->growth.slope;
    int growing = in->have_growth && in->growth.lo > 0 && grown >= 4096 &&
                  grown >= 0.02 * in->live && !stopped;
    if (growing && in->old_bytes > 0)
        return CHIM_CLASS_LEAK;
    if (in->live > 0 && in->old_bytes > 0)
        return CHIM_CLASS_RETAINED;
    return CHIM_CLASS_CHURN;
}

int chim_folded_line(char *buf, size_t n, const char *const *frames, int nframes, uint64_t value)
{
    size_t used = 0;
    int total = 0;
    for (int i = nframes - 1; i >= 0; i--) {
        int w = snprintf(buf + used, used < n ? n - used : 0, "%s%s", frames[i], i ? ";" : "");
        total += w;
        used = (size_t)total;
    }
    total += snprintf(buf + used, used < n ? n - used : 0, " %llu", (unsigned long long)value);
    return total;
}

/* ---- the model ------------------------------------------------------------ */

struct frame {
    const char *function, *file, *module;
    int line;
    uint32_t mflags;
    const char *linkage; /* C++: the mangled name of `function`; "" otherwise */
};

struct lstack {
    uint32_t id;
    struct frame *frames;
    int nframes, site_at; /* frames[site_at] is the site */
    int site;             /* index into proc->sites */
    double live;
};

struct lsite {
    struct frame *stack; /* from the site outwards (representative stack) */
    int nstack;
    double rep_live, rep_leaked; /* of the stack shown */
    double count, live, allocs, frees, alloc_bytes, old_bytes, oldest_age_s;
    double live_count; /* blocks live (count becomes the class's blocks in decide) */
    double leaked_bytes, leaked_blocks, indirect_bytes, indirect_blocks;
    double reachable_bytes, reachable_blocks;
    double *series; /* live bytes at each point of the window */
    int nst;        /* stacks merged here */
    struct chim_slope growth;
    int have_growth;
    double alloc_rate, bytes, bytes_stderr;
    enum chim_leak_class cls;
    const char *basis;
    int suppressed; /* 0 shown, 1 C runtime, 2 user suppression (every stack of the site) */
    int made;       /* index when made: what the stacks' `site` refers to until sorted */
};

struct lproc {
    uint32_t pid;
    char exe[CHIM_EXE_MAX];
    uint32_t mode;
    enum chim_seg_state state;
    uint32_t rows_added, rows_busy; /* full mode's per-thread deltas (segment_deltas.c) */
    struct chim_leak_info info;
    double window_s, now_rel;
    int npoints;
    double t[MAX_POINTS];
    struct lsite *sites;
    int nsites, capsites;
    struct lstack *stacks;
    int nstacks;
    struct chim_symbolizer *sym;
    /* An address range two objects of the map shared (one dlclose'd, the
     * other loaded there later): frames in it are named from the one
     * reported first, which may not be the one that ran. */
    uint64_t reuse_lo, reuse_hi;
    char reuse_a[CHIM_MODULE_PATH_MAX], reuse_b[CHIM_MODULE_PATH_MAX];
    int reuse_hit;
};

struct chim_leaks {
    struct lproc *procs;
    int n;
    int seen, counted, misspelt; /* processes looked at; in count mode; CHIM_MODE misspelt */
    struct chim_leak_opts opts;
    char **pat;
    int npat;
};

int chim_leaks_nprocs(const struct chim_leaks *l)
{
    return l ? l->n : 0;
}

/* ---- reading the sections (untrusted) ------------------------------------- */

struct leak_secs {
    const struct chim_module *mods;
    uint64_t nmods;
    const unsigned char *stacks;
    uint64_t nstacks;
    uint32_t stack_elem, depth_cap;
    const struct chim_site *sites;
    const struct chim_leak_info *info;
};

static const void *sec(const struct chim_seg *g, uint32_t kind, uint32_t elem, uint64_t *count)
{
    const struct chim_section *s = chim_seg_section(g->hdr, kind);
    if (!s || (elem && s->elem_size != elem) || !s->count)
        return NULL;
    *count = s->count;
    return g->data + s->offset; /* bounds checked by chim_seg_validate */
}

static int leak_sections(const struct chim_seg *g, struct leak_secs *o)
{
    uint64_t nsites = 0, ninfo = 0;
    memset(o, 0, sizeof *o);
    const struct chim_section *st = chim_seg_section(g->hdr, CHIM_SEC_STACKS);
    if (!st || st->elem_size < CHIM_STACK_ELEM(1) || (st->elem_size - CHIM_STACK_HDR_BYTES) % 8 ||
        st->elem_size > CHIM_STACK_ELEM(CHIM_STACK_DEPTH_MAX))
        return -1;
    o->stack_elem = st->elem_size;
    o->depth_cap = (st->elem_size - CHIM_STACK_HDR_BYTES) / 8;
    o->stacks = sec(g, CHIM_SEC_STACKS, 0, &o->nstacks);
    o->mods = sec(g, CHIM_SEC_MODULES, sizeof(struct chim_module), &o->nmods);
    o->sites = sec(g, CHIM_SEC_SITES, sizeof(struct chim_site), &nsites);
    o->info = sec(g, CHIM_SEC_LEAKS, sizeof(struct chim_leak_info), &ninfo);
    if (!o->stacks || !o->sites || !o->info || nsites != o->nstacks)
        return -1;
    return 0;
}

/* A running process's objects the module map does not hold yet (the agent
 * records an object dlopen'ed last at its next refresh: next dlopen,
 * dlclose, fork or exit): from /proc/PID/maps, each file's mappings
 * together, its load bias the start of its mapping at file offset 0.
 * Without a build id, the file is taken as it is. */
static void add_live_modules(struct chim_symbolizer *sym, uint32_t pid)
{
    char path[64], line[4096 + 256], cur[4096] = "";
    uint64_t lo = 0, hi = 0, bias = 0;
    snprintf(path, sizeof path, "/proc/%u/maps", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    for (int more = 1; more;) {
        unsigned long long a = 0, b = 0, off = 0;
        char file[4096] = "";
        more = fgets(line, sizeof line, f) != NULL;
        if (more && sscanf(line, "%llx-%llx %*s %llx %*s %*s %4095[^\n]", &a, &b, &off, file) < 3)
            continue;
        if (more && file[0] == '/' && !strcmp(file, cur)) { /* the same object goes on */
            hi = b > hi ? b : hi;
            bias = off == 0 ? a : bias;
            continue;
        }
        if (cur[0] == '/' && bias)
            chim_sym_add_module(sym, cur, lo, hi, bias, NULL, 0, 0); /* overlaps: ignored */
        snprintf(cur, sizeof cur, "%s", file);
        lo = a, hi = b, bias = off == 0 ? a : 0;
    }
    fclose(f);
}

/* Notes in p the first address range that two objects of the map shared. */
static void find_reuse(struct lproc *p, const struct leak_secs *ls)
{
    for (uint64_t i = 0; ls->mods && i < ls->nmods; i++)
        for (uint64_t j = i + 1; j < ls->nmods; j++) {
            struct chim_module a, b;
            memcpy(&a, &ls->mods[i], sizeof a);
            memcpy(&b, &ls->mods[j], sizeof b);
            if (a.state != CHIM_LEAK_READY || b.state != CHIM_LEAK_READY || a.end <= b.start ||
                b.end <= a.start)
                continue;
            if (a.build_id_len == b.build_id_len && a.bias == b.bias &&
                !memcmp(a.build_id, b.build_id, sizeof a.build_id) &&
                !strncmp(a.path, b.path, sizeof a.path))
                continue; /* the same file loaded again at the same place */
            p->reuse_lo = a.start > b.start ? a.start : b.start;
            p->reuse_hi = a.end < b.end ? a.end : b.end;
            a.path[CHIM_MODULE_PATH_MAX - 1] = b.path[CHIM_MODULE_PATH_MAX - 1] = 0;
            memcpy(p->reuse_a, a.path, sizeof p->reuse_a);
            memcpy(p->reuse_b, b.path, sizeof p->reuse_b);
            return;
        }
}

static void add_modules(struct chim_symbolizer *sym, const struct leak_secs *ls, int loaded)
{
    for (uint64_t i = 0; ls->mods && i < ls->nmods; i++) {
        struct chim_module m;
        memcpy(&m, &ls->mods[i], sizeof m);
        if (m.state != CHIM_LEAK_READY || (m.unload_gen == 0) != loaded)
            continue;
        m.path[CHIM_MODULE_PATH_MAX - 1] = 0;
        uint32_t bl = m.build_id_len < CHIM_BUILD_ID_MAX ? m.build_id_len : CHIM_BUILD_ID_MAX;
        chim_sym_add_module(sym, m.path, m.start, m.end, m.bias, m.build_id, bl, m.flags);
    }
}

/* ---- symbolized stacks and their site ------------------------------------- */

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* A frame of the C runtime's that starts a thread or the program. */
static int start_frame(const struct frame *f)
{
    static const char *const fns[] = {"start_thread",
                                      "__clone3",
                                      "clone3",
                                      "__clone",
                                      "clone",
                                      "_start",
                                      "__libc_start_main_impl",
                                      "__libc_start_main",
                                      "__libc_start_call_main"};
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++)
        if (!strcmp(f->function, fns[i]))
            return 1;
    return 0;
}

/* Frames that allocate on the caller's behalf: skipped to find the site
 * (the loader's too: a thread's TLS block is pthread_create's caller's). */
static int allocating_frame(const struct frame *f)
{
    return (f->mflags & (CHIM_MOD_LIBC | CHIM_MOD_LDSO)) ||
           !strncmp(f->function, "operator new", 12) || !strncmp(f->function, "_Znw", 4) ||
           !strncmp(f->function, "_Zna", 4) || !strncmp(base_name(f->module), "libstdc++", 9);
}

static const char *const runtime_fns[] = {
    "_IO_*",
    "__gconv*",
    "_nl_*",
    "setlocale",
    "__tz*",
    "tzset*",
    "__nss_*",
    "nss_*",
    "__libc_*",
    "_dl_*",
    "__new_exitfn",
    "__cxa_atexit",
    "__register_atfork",
    "*pthread_create*",
    "allocate_stack",
    "__res_*",
    "__resolv_*",
    "register_printf_*",
    "__printf_fp*",
    "fopen*",
    "__fopen_internal",
    "open_memstream",
    "*dlerror*", /* __dlerror's message, _dlerror_run's per-thread result */
};

/* The C runtime's own allocations: through the loader, or from libc's own
 * housekeeping (stdio buffers, locale, NSS, thread set-up). A FILE the
 * program opened and never closed is the program's: fopen is listed only
 * when the stack holds nothing outside the runtime. */
static int runtime_stack(const struct lstack *s)
{
    for (int i = 0; i < s->nframes; i++)
        if (s->frames[i].mflags & CHIM_MOD_LDSO)
            return 1;
    /* libstdc++'s exception-handling pool, made at start-up; linked
     * statically, its allocation is the executable's own frame. */
    if (!strcmp(s->frames[s->site_at].function, "_GLOBAL__sub_I_eh_alloc.cc"))
        return 1;
    /* The frames that allocated for the site (all of them when every frame
     * is the runtime's, as a frame-pointer walk through libc leaves it). */
    int upto = s->site_at ? s->site_at : allocating_frame(&s->frames[0]) ? s->nframes : 0;
    for (int i = 0; i < upto; i++) /* a memstream's buffer is handed to its caller */
        if (!fnmatch("_IO_mem_*", s->frames[i].function, 0) ||
            !fnmatch("_IO_wmem_*", s->frames[i].function, 0))
            return 0;
    for (int i = 0; i < upto; i++) {
        const char *fn = s->frames[i].function;
        for (size_t k = 0; k < sizeof runtime_fns / sizeof *runtime_fns; k++) {
            if (!strncmp(runtime_fns[k], "fopen", 5) || !strcmp(runtime_fns[k], "open_memstream") ||
                !strcmp(runtime_fns[k], "__fopen_internal"))
                continue;
            if (!fnmatch(runtime_fns[k], fn, 0))
                return 1;
        }
    }
    return 0;
}

static int user_suppressed(const struct chim_leaks *l, const struct lstack *s)
{
    for (int p = 0; p < l->npat; p++)
        for (int i = 0; i < s->nframes; i++) {
            const struct frame *f = &s->frames[i];
            if (!fnmatch(l->pat[p], f->function, 0) || !fnmatch(l->pat[p], f->linkage, 0) ||
                !fnmatch(l->pat[p], f->file, 0) || !fnmatch(l->pat[p], base_name(f->file), 0) ||
                !fnmatch(l->pat[p], base_name(f->module), 0))
                return 1;
        }
    return 0;
}

static int symbolize_stack(struct lproc *p, const struct leak_secs *ls, uint32_t id,
                           struct lstack *out)
{
    struct chim_stack hdr;
    const unsigned char *e = ls->stacks + (uint64_t)id * ls->stack_elem;
    memcpy(&hdr, e, sizeof hdr);
    int depth = hdr.depth <= ls->depth_cap ? hdr.depth : (int)ls->depth_cap;
    struct frame fr[MAX_FRAMES];
    int n = 0;
    for (int i = 0; i < depth && n < MAX_FRAMES; i++) {
        uint64_t ip;
        memcpy(&ip, e + CHIM_STACK_HDR_BYTES + 8u * (unsigned)i, sizeof ip);
        p->reuse_hit |= ip >= p->reuse_lo && ip < p->reuse_hi;
        struct chim_sym_frame sf[CHIM_SYM_MAX_INLINE];
        int k = chim_sym_lookup(p->sym, ip, sf, CHIM_SYM_MAX_INLINE);
        if (i > 0 && !*sf[0].module)
            break; /* outside every module: a frame-pointer walk went astray */
        for (int j = 0; j < k && n < MAX_FRAMES; j++)
            fr[n++] = (struct frame){sf[j].function, sf[j].file,         sf[j].module,
                                     sf[j].line,     sf[j].module_flags, sf[j].linkage};
    }
    /* Nothing below main: the C runtime's start-up (__libc_start_call_main,
     * __libc_start_main, _start) says nothing, and a walk reaches it or not
     * depending on the unwinder (libunwind for allocations from inside libc,
     * frame pointers otherwise), which would split one call path into two
     * in folded stacks (valgrind hides it the same way). */
    for (int j = 0; j < n; j++)
        if (fr[j].function && !strcmp(fr[j].function, "main")) {
            n = j + 1;
            break;
        }
    /* Likewise a thread's start (start_thread, clone3) and _start below a
     * constructor: libunwind reaches them, a frame-pointer walk does not. */
    while (n > 1 && start_frame(&fr[n - 1]))
        n--;
    if (n == 0)
        fr[n++] = (struct frame){id ? "[no stack]" : "[stack table full]", "", "", 0, 0, ""};
    out->id = id;
    out->frames = malloc((size_t)n * sizeof *fr);
    if (!out->frames)
        return -ENOMEM;
    memcpy(out->frames, fr, (size_t)n * sizeof *fr);
    out->nframes = n;
    out->site_at = 0;
    while (out->site_at < n && allocating_frame(&fr[out->site_at]))
        out->site_at++;
    if (out->site_at == n)
        out->site_at = 0;
    return 0;
}

/* The site of stack s, whose suppression is `supp` (as lsite.suppressed):
 * stacks merge by function, file and line, and only with stacks suppressed
 * alike, so that a line which both allocates and prints (stdio's buffer)
 * keeps the buffer hidden and the program's block shown. */
static int site_of(struct lproc *p, const struct lstack *s, int supp)
{
    const struct frame *f = &s->frames[s->site_at];
    for (int i = 0; i < p->nsites; i++) {
        const struct frame *g = &p->sites[i].stack[0];
        if (g->line == f->line && p->sites[i].suppressed == supp &&
            !strcmp(g->function, f->function) && !strcmp(g->file, f->file))
            return i;
    }
    if (p->nsites == p->capsites) {
        int n = p->capsites ? p->capsites * 2 : 64;
        struct lsite *q = realloc(p->sites, (size_t)n * sizeof *q);
        if (!q)
            return -1;
        p->sites = q;
        p->capsites = n;
    }
    struct lsite *z = &p->sites[p->nsites];
    memset(z, 0, sizeof *z);
    z->stack = s->frames + s->site_at;
    z->nstack = s->nframes - s->site_at;
    z->rep_live = -1;
    z->made = p->nsites;
    z->suppressed = supp;
    z->series = calloc((size_t)(p->npoints ? p->npoints : 1), sizeof *z->series);
    if (!z->series)
        return -1;
    return p->nsites++;
}

/* ---- time series ---------------------------------------------------------- */

static double live_of(const struct chim_site *s)
{
    return (double)(int64_t)(s->alloc_bytes - s->free_bytes);
}

/* Times (seconds after the tracker's origin) of the points: the epochs of
 * the agent's ring that the window covers. */
static void ring_times(struct lproc *p)
{
    double ep = p->info.epoch_ns ? (double)p->info.epoch_ns / 1e9 : 1.0;
    uint64_t e_now = (uint64_t)(p->now_rel / ep);
    uint64_t e0 = e_now + 1 > CHIM_HIST_RING ? e_now + 1 - CHIM_HIST_RING : 0;
    p->npoints = 0;
    for (uint64_t e = e0; e <= e_now && p->npoints < MAX_POINTS; e++)
        p->t[p->npoints++] = e == e_now ? p->now_rel : (double)(e + 1) * ep;
}

static void ring_series(const struct lproc *p, const struct chim_site *s, double *y)
{
    double ep = p->info.epoch_ns ? (double)p->info.epoch_ns / 1e9 : 1.0;
    uint64_t e_now = (uint64_t)(p->now_rel / ep);
    uint64_t e0 = e_now + 1 > CHIM_HIST_RING ? e_now + 1 - CHIM_HIST_RING : 0;
    uint64_t last = s->hist_epoch ? s->hist_epoch - 1 : 0;
    for (int i = 0; i < p->npoints; i++) {
        uint64_t e = e0 + (uint64_t)i;
        if (!s->hist_epoch || e > last)
            y[i] = s->hist_epoch ? live_of(s) : 0;
        else if (last - e < CHIM_HIST_RING)
            y[i] = (double)s->hist[e % CHIM_HIST_RING];
        else
            y[i] = 0;
    }
}

/* ---- history of snapshots ------------------------------------------------ */

struct hist_proc {
    uint32_t pid;
    uint64_t start_ns;
    uint64_t nstacks;
    int64_t *live; /* live bytes per stack, then (at live + nstacks) bytes freed */
};

struct hist_point {
    uint64_t t;
    struct hist_proc *procs;
    size_t n;
};

struct chim_leak_history {
    struct hist_point *pts;
    int n, cap;
};

struct chim_leak_history *chim_leak_history_new(void)
{
    return calloc(1, sizeof(struct chim_leak_history));
}

void chim_leak_history_free(struct chim_leak_history *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->n; i++) {
        for (size_t k = 0; k < h->pts[i].n; k++)
            free(h->pts[i].procs[k].live);
        free(h->pts[i].procs);
    }
    free(h->pts);
    free(h);
}

int chim_leak_history_add(struct chim_leak_history *h, const struct chim_seg_set *set, uint64_t t)
{
    if (h->n == MAX_POINTS)
        return 0;
    if (h->n == h->cap) {
        int n = h->cap ? h->cap * 2 : 64;
        struct hist_point *p = realloc(h->pts, (size_t)n * sizeof *p);
        if (!p)
            return -ENOMEM;
        h->pts = p;
        h->cap = n;
    }
    struct hist_point *pt = &h->pts[h->n];
    pt->t = t;
    pt->n = 0;
    pt->procs = calloc(set->n ? set->n : 1, sizeof *pt->procs);
    if (!pt->procs)
        return -ENOMEM;
    h->n++;
    for (size_t i = 0; i < set->n; i++) {
        struct leak_secs ls;
        if (leak_sections(&set->segs[i], &ls) != 0)
            continue;
        struct hist_proc *hp = &pt->procs[pt->n];
        hp->live = malloc(2 * ls.nstacks * sizeof *hp->live);
        if (!hp->live)
            return -ENOMEM;
        hp->pid = set->segs[i].hdr->pid;
        hp->start_ns = set->segs[i].hdr->start_time_ns;
        hp->nstacks = ls.nstacks;
        for (uint64_t k = 0; k < ls.nstacks; k++) {
            struct chim_site s;
            memcpy(&s, &ls.sites[k], sizeof s);
            hp->live[k] = (int64_t)(s.alloc_bytes - s.free_bytes);
            hp->live[ls.nstacks + k] = (int64_t)s.free_bytes;
        }
        pt->n++;
    }
    return 0;
}

/* The process's live bytes (freed: bytes freed so far) of stack `id` at
 * history point k, or 0. */
static double hist_at(const struct chim_leak_history *h, int k, const struct chim_seg *g,
                      uint64_t id, int freed)
{
    const struct hist_point *pt = &h->pts[k];
    for (size_t i = 0; i < pt->n; i++)
        if (pt->procs[i].pid == g->hdr->pid && pt->procs[i].start_ns == g->hdr->start_time_ns) {
            const struct hist_proc *hp = &pt->procs[i];
            return id < hp->nstacks ? (double)hp->live[(freed ? hp->nstacks : 0) + id] : 0;
        }
    return 0;
}

/* Bytes of stack `id` live at the first point that are surely still live
 * at the last: live then, less everything freed in between (birth buckets
 * are powers of two of uptime, too coarse to tell a late leak's blocks
 * from young ones in a long-running process; this bound is exact). */
static double stayed(const struct chim_leak_history *h, const struct chim_seg *g, uint64_t id)
{
    double freed = hist_at(h, h->n - 1, g, id, 1) - hist_at(h, 0, g, id, 1);
    double s = hist_at(h, 0, g, id, 0) - freed;
    return s > 0 ? s : 0;
}

/* ---- per-stack accounting into sites -------------------------------------- */

/* Updates the site's oldest age; returns this stack's bytes born before
 * `mid` (by birth bucket). */
static double age_stats(const struct lproc *p, const struct chim_site *s, double mid,
                        struct lsite *z)
{
    double old = 0;
    for (int k = 0; k < CHIM_AGE_BUCKETS; k++) {
        double lo = k ? ldexp(1, k - 1) : 0, hi = k + 1 < CHIM_AGE_BUCKETS ? ldexp(1, k) : INFINITY;
        double b = (double)s->birth_bytes[k];
        if (b <= 0)
            continue;
        if (hi <= mid)
            old += b;
        double age = p->now_rel - lo;
        if (age > z->oldest_age_s)
            z->oldest_age_s = age;
    }
    return old;
}

/* Standard error of a sample-mode estimate of z->bytes (sampling interval
 * R). A block of size Z sampled with p = 1 - exp(-Z/R) and counted as Z/p
 * adds Z^2 (1 - p) / p of variance: about Z R for blocks much smaller than
 * R, nothing for blocks much larger (always sampled, exact). Taken with the
 * mean size of the blocks counted (bytes / blocks), else of all allocated:
 * a mean inflated by freed big blocks would understate it. */
static double sample_stderr(const struct lsite *z, double r)
{
    double zbar = z->count > 0    ? z->bytes / z->count
                  : z->allocs > 0 ? z->alloc_bytes / z->allocs
                                  : 0;
    if (zbar <= 0)
        return sqrt(z->bytes * r);
    double p = -expm1(-zbar / r);
    return p > 0 ? sqrt(z->bytes * zbar * (1 - p) / p) : sqrt(z->bytes * r);
}

/* `kept`: bytes known to have stayed through a watched window (0 without
 * one). */
static void account(struct lproc *p, const struct lstack *st, const struct chim_site *s,
                    const double *y, double mid, double kept)
{
    struct lsite *z = &p->sites[st->site];
    double live = live_of(s);
    z->live += live;
    double blocks = (double)(int64_t)(s->alloc_w - s->free_w) / CHIM_LEAK_WUNIT;
    z->count += blocks;
    z->live_count += blocks;
    z->allocs += (double)s->alloc_w / CHIM_LEAK_WUNIT;
    z->frees += (double)s->free_w / CHIM_LEAK_WUNIT;
    z->alloc_bytes += (double)s->alloc_bytes;
    z->leaked_bytes += (double)s->leaked_bytes;
    z->leaked_blocks += (double)s->leaked_blocks;
    z->indirect_bytes += (double)s->indirect_bytes;
    z->indirect_blocks += (double)s->indirect_blocks;
    z->reachable_bytes += (double)s->reachable_bytes;
    z->reachable_blocks += (double)s->reachable_blocks;
    for (int i = 0; i < p->npoints; i++)
        z->series[i] += y[i];
    double old = age_stats(p, s, mid, z);
    z->old_bytes += old > kept ? old : kept;
    if (kept > 0 && p->window_s > z->oldest_age_s)
        z->oldest_age_s = p->window_s;
    /* The stack shown: the one holding the most leaked bytes (by the exit
     * scan), else the most live bytes (a leak through a wrapper is shown
     * from the caller that leaked, not from one that keeps more). */
    double leaked = (double)s->leaked_bytes + (double)s->indirect_bytes;
    if (leaked > z->rep_leaked || (leaked == z->rep_leaked && live > z->rep_live)) {
        z->rep_leaked = leaked;
        z->rep_live = live;
        z->stack = st->frames + st->site_at;
        z->nstack = st->nframes - st->site_at;
    }
}

static void decide(struct lproc *p, struct lsite *z)
{
    int scanned = p->info.scan_state == CHIM_SCAN_DONE;
    z->have_growth = chim_slope_fit(p->t, z->series, p->npoints, &z->growth) == 0;
    int half = p->npoints / 2;
    struct chim_class_in in = {scanned,
                               z->leaked_bytes + z->indirect_bytes,
                               z->reachable_bytes,
                               z->have_growth,
                               z->growth,
                               p->window_s,
                               z->live,
                               z->old_bytes,
                               0,
                               {0, 0, 0, 0, 0, 0}};
    in.have_recent =
        chim_slope_fit(p->t + half, z->series + half, p->npoints - half, &in.recent) == 0;
    z->cls = chim_leak_classify(&in);
    z->basis = scanned ? "reachability scan" : "growth";
    int exited = p->state == CHIM_SEG_EXITED || p->state == CHIM_SEG_VANISHED;
    if (!scanned && exited && z->live > 0 && z->cls != CHIM_CLASS_LEAK) {
        z->cls = CHIM_CLASS_LEAK; /* no scan: unfreed at exit, as heaptrack counts it */
        z->basis = "unfreed at exit";
    }
    if (scanned && z->cls == CHIM_CLASS_LEAK) {
        z->bytes = z->leaked_bytes + z->indirect_bytes;
        z->count = z->leaked_blocks + z->indirect_blocks;
    } else if (scanned) {
        z->bytes = z->reachable_bytes;
        z->count = z->reachable_blocks;
    } else {
        z->bytes = z->live > 0 ? z->live : 0;
    }
    if (p->info.sample_bytes && z->bytes > 0)
        z->bytes_stderr = sample_stderr(z, (double)p->info.sample_bytes);
    z->alloc_rate = p->now_rel > 0 ? z->alloc_bytes / p->now_rel : 0;
}

static int build_stacks(struct chim_leaks *l, struct lproc *p, const struct leak_secs *ls,
                        const struct chim_leak_history *h, const struct chim_seg *g)
{
    static double y[MAX_POINTS];
    double mid = p->npoints ? (p->t[0] + p->t[p->npoints - 1]) / 2 : 0;
    p->stacks = calloc(ls->nstacks, sizeof *p->stacks);
    if (!p->stacks)
        return -ENOMEM;
    for (uint64_t i = 0; i < ls->nstacks; i++) {
        struct chim_site s;
        uint32_t state;
        memcpy(&s, &ls->sites[i], sizeof s);
        memcpy(&state, ls->stacks + i * ls->stack_elem, sizeof state);
        if (!s.allocs || (state != CHIM_LEAK_READY && i != 0))
            continue;
        struct lstack *st = &p->stacks[p->nstacks];
        if (symbolize_stack(p, ls, (uint32_t)i, st) != 0)
            return -ENOMEM;
        int supp = user_suppressed(l, st) ? 2 : st->id != 0 && runtime_stack(st) ? 1 : 0;
        st->site = site_of(p, st, supp);
        if (st->site < 0)
            return -ENOMEM;
        st->live = live_of(&s);
        p->nstacks++;
        double kept = 0;
        if (h && h->n > 1) {
            for (int k = 0; k < p->npoints; k++)
                y[k] = hist_at(h, k, g, i, 0);
            kept = stayed(h, g, i);
        } else {
            ring_series(p, &s, y);
        }
        account(p, st, &s, y, mid, kept);
        p->sites[st->site].nst++;
    }
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int build_proc(struct chim_leaks *l, struct lproc *p, const struct chim_seg *g,
                      const struct chim_leak_history *h)
{
    struct leak_secs ls;
    if (leak_sections(g, &ls) != 0)
        return 1; /* not a leak-tracking segment */
    memcpy(&p->info, ls.info, sizeof p->info);
    p->pid = g->hdr->pid;
    memcpy(p->exe, g->hdr->exe, sizeof p->exe);
    p->mode = g->hdr->mode;
    p->state = g->state;
    p->rows_added = g->delta_rows_added;
    p->rows_busy = g->delta_rows_busy;
    uint64_t origin = p->info.origin_ns ? p->info.origin_ns : g->hdr->start_time_ns;
    uint64_t now = g->state == CHIM_SEG_RUNNING ? now_ns()
                   : g->hdr->end_time_ns        ? g->hdr->end_time_ns
                                                : g->hdr->update_time_ns;
    int watched = h && h->n > 1;
    if (watched && g->state == CHIM_SEG_RUNNING)
        now = h->pts[h->n - 1].t;
    p->now_rel = now > origin ? (double)(now - origin) / 1e9 : 0;
    if (watched) {
        p->npoints = 0;
        for (int k = 0; k < h->n && k < MAX_POINTS; k++)
            p->t[p->npoints++] = h->pts[k].t > origin ? (double)(h->pts[k].t - origin) / 1e9 : 0;
    } else {
        ring_times(p);
    }
    p->window_s = p->npoints > 1 ? p->t[p->npoints - 1] - p->t[0] : 0;
    p->sym = chim_sym_new();
    if (!p->sym)
        return -ENOMEM;
    add_modules(p->sym, &ls, 1);
    if (p->state == CHIM_SEG_RUNNING)
        add_live_modules(p->sym, p->pid);
    add_modules(p->sym, &ls, 0);
    find_reuse(p, &ls);
    int rc = build_stacks(l, p, &ls, h, g);
    if (p->reuse_hit)
        fprintf(stderr,
                "chimcollect leaks: pid %u: %s and %s were mapped at the same addresses "
                "(one dlclose'd, the other loaded there): frames there may name the wrong one\n",
                p->pid, p->reuse_a, p->reuse_b);
    for (int i = 0; rc == 0 && i < p->nsites; i++)
        decide(p, &p->sites[i]);
    return rc;
}

/* ---- ranking -------------------------------------------------------------- */

static int cmp_site(const void *a, const void *b)
{
    const struct lsite *x = a, *y = b;
    if (x->cls != y->cls)
        return x->cls < y->cls ? -1 : 1;
    if (x->cls == CHIM_CLASS_LEAK && x->have_growth && y->have_growth &&
        x->growth.slope != y->growth.slope && x->basis[0] == 'g')
        return x->growth.slope > y->growth.slope ? -1 : 1;
    return x->bytes > y->bytes ? -1 : x->bytes < y->bytes;
}

/* Sorts p's sites by rank and points every stack at its site's new place
 * (folded stacks find their site through it). */
static int sort_sites(struct lproc *p)
{
    qsort(p->sites, (size_t)p->nsites, sizeof *p->sites, cmp_site);
    int *at = malloc((size_t)(p->nsites ? p->nsites : 1) * sizeof *at);
    if (!at)
        return -ENOMEM;
    for (int k = 0; k < p->nsites; k++)
        at[p->sites[k].made] = k;
    for (int k = 0; k < p->nstacks; k++)
        if (p->stacks[k].site >= 0 && p->stacks[k].site < p->nsites)
            p->stacks[k].site = at[p->stacks[k].site];
    free(at);
    return 0;
}

static int shown(const struct chim_leaks *l, const struct lsite *z)
{
    if (z->suppressed == 2)
        return 0;
    if (!l->opts.all && (z->suppressed || z->cls == CHIM_CLASS_CHURN))
        return 0;
    return z->bytes >= (double)l->opts.min_bytes;
}

/* ---- suppressions --------------------------------------------------------- */

/* "word:rest" with a single ':' after an identifier: another tool's
 * suppression type (LeakSanitizer's called_from_lib:, valgrind's ...).
 * "Foo::bar" (a C++ name) and globs are patterns. */
static int typed(const char *s)
{
    const char *c = s;
    while (isalnum((unsigned char)*c) || *c == '_')
        c++;
    return c > s && c[0] == ':' && c[1] != ':' && !strchr(s, '*');
}

static int load_patterns(struct chim_leaks *l, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line, *e;
        while (isspace((unsigned char)*s))
            s++;
        for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]);)
            *--e = 0;
        if (!*s || *s == '#')
            continue;
        if (!strncmp(s, "leak:", 5))
            s += 5;
        else if (typed(s)) {
            snprintf(err, errlen, "%s:%d: unknown suppression type (use leak:PATTERN)", path,
                     lineno);
            fclose(f);
            return -EINVAL;
        }
        char **q = realloc(l->pat, (size_t)(l->npat + 1) * sizeof *q);
        if (q)
            l->pat = q; /* the old array is gone: chim_leaks_free frees this one */
        if (!q || !(q[l->npat] = strdup(s))) {
            fclose(f);
            return -ENOMEM;
        }
        l->npat++;
    }
    int bad = ferror(f) ? errno : 0; /* a directory: EISDIR */
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: %s", path, strerror(bad));
        return -bad;
    }
    return 0;
}

struct chim_leaks *chim_leaks_build(const struct chim_seg_set *last,
                                    const struct chim_leak_history *hist, long pid,
                                    const struct chim_leak_opts *opts, char *err, size_t errlen)
{
    struct chim_leaks *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    if (opts)
        l->opts = *opts;
    if (l->opts.suppress_file && load_patterns(l, l->opts.suppress_file, err, errlen) != 0) {
        chim_leaks_free(l);
        return NULL;
    }
    l->procs = calloc(last->n ? last->n : 1, sizeof *l->procs);
    if (!l->procs) {
        chim_leaks_free(l);
        return NULL;
    }
    for (size_t i = 0; i < last->n; i++) {
        const struct chim_seg *g = &last->segs[i];
        if (pid > 0 && g->hdr->pid != (uint32_t)pid)
            continue;
        l->seen++;
        l->counted += g->hdr->mode == CHIM_MODE_COUNT;
        l->misspelt += (g->hdr->flags & CHIM_FLAG_MODE_UNKNOWN) != 0;
        struct lproc *p = &l->procs[l->n];
        int rc = build_proc(l, p, g, hist);
        if (rc == 0) {
            l->n++;
            if (sort_sites(p) != 0) {
                chim_leaks_free(l);
                return NULL;
            }
        } else {
            chim_sym_free(p->sym);
            for (int k = 0; k < p->nstacks; k++)
                free(p->stacks[k].frames);
            free(p->stacks);
            for (int k = 0; k < p->nsites; k++)
                free(p->sites[k].series);
            free(p->sites);
            memset(p, 0, sizeof *p);
            if (rc < 0) {
                chim_leaks_free(l);
                return NULL;
            }
        }
    }
    return l;
}

void chim_leaks_free(struct chim_leaks *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n; i++) {
        struct lproc *p = &l->procs[i];
        for (int k = 0; k < p->nstacks; k++)
            free(p->stacks[k].frames);
        free(p->stacks);
        for (int k = 0; k < p->nsites; k++)
            free(p->sites[k].series);
        free(p->sites);
        chim_sym_free(p->sym);
    }
    for (int i = 0; i < l->npat; i++)
        free(l->pat[i]);
    free(l->pat);
    free(l->procs);
    free(l);
}

/* ---- output --------------------------------------------------------------- */

static const char *mode_name(uint32_t m)
{
    return m == CHIM_MODE_SAMPLE ? "sample" : m == CHIM_MODE_FULL ? "full" : "count";
}

static cJSON *frame_json(const struct frame *f)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "function", f->function);
    cJSON_AddStringToObject(o, "file", f->file);
    cJSON_AddNumberToObject(o, "line", f->line);
    cJSON_AddStringToObject(o, "module", f->module);
    if (*f->linkage)
        cJSON_AddStringToObject(o, "linkage_name", f->linkage);
    return o;
}

static cJSON *site_json(const struct lproc *p, const struct lsite *z)
{
    cJSON *o = cJSON_CreateObject();
    const struct frame *f = &z->stack[0];
    cJSON_AddNumberToObject(o, "pid", p->pid);
    cJSON_AddStringToObject(o, "function", f->function);
    cJSON_AddStringToObject(o, "file", f->file);
    cJSON_AddNumberToObject(o, "line", f->line);
    cJSON_AddStringToObject(o, "module", f->module);
    cJSON_AddStringToObject(o, "class", chim_leak_class_name(z->cls));
    cJSON_AddStringToObject(o, "basis", z->basis);
    cJSON_AddNumberToObject(o, "count", round(z->count));
    cJSON_AddNumberToObject(o, "bytes", round(z->bytes));
    if (z->bytes_stderr > 0)
        cJSON_AddNumberToObject(o, "bytes_stderr", round(z->bytes_stderr));
    cJSON_AddNumberToObject(o, "live_bytes", round(z->live));
    cJSON_AddNumberToObject(o, "live_count", round(z->live_count));
    cJSON_AddNumberToObject(o, "leaked_bytes", z->leaked_bytes);
    cJSON_AddNumberToObject(o, "indirect_bytes", z->indirect_bytes);
    cJSON_AddNumberToObject(o, "retained_bytes", z->reachable_bytes);
    cJSON_AddNumberToObject(o, "allocs", round(z->allocs));
    cJSON_AddNumberToObject(o, "frees", round(z->frees));
    cJSON_AddNumberToObject(o, "alloc_rate_bytes_per_s", round(z->alloc_rate));
    cJSON_AddNumberToObject(o, "growth_bytes_per_s", z->have_growth ? z->growth.slope : 0);
    if (z->have_growth) {
        cJSON_AddNumberToObject(o, "growth_ci95_lo", z->growth.lo);
        cJSON_AddNumberToObject(o, "growth_ci95_hi", z->growth.hi);
    }
    cJSON_AddNumberToObject(o, "oldest_age_s", z->oldest_age_s);
    cJSON_AddBoolToObject(o, "suppressed", z->suppressed != 0);
    cJSON *st = cJSON_AddArrayToObject(o, "stack");
    for (int i = 0; i < z->nstack; i++)
        cJSON_AddItemToArray(st, frame_json(&z->stack[i]));
    return o;
}

static cJSON *proc_json(const struct lproc *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pid", p->pid);
    cJSON_AddStringToObject(o, "exe", p->exe);
    cJSON_AddStringToObject(o, "mode", mode_name(p->mode));
    cJSON_AddStringToObject(o, "state", chim_seg_state_name(p->state));
    cJSON_AddNumberToObject(o, "window_s", p->window_s);
    cJSON_AddNumberToObject(o, "points", p->npoints);
    cJSON_AddNumberToObject(o, "sample_bytes", (double)p->info.sample_bytes);
    cJSON_AddStringToObject(o, "unwinder",
                            p->info.unwinder == CHIM_UNWIND_FP     ? "fp"
                            : p->info.unwinder == CHIM_UNWIND_AUTO ? "auto"
                                                                   : "libunwind");
    cJSON_AddNumberToObject(o, "stacks_dropped", (double)p->info.stacks_dropped);
    cJSON_AddNumberToObject(o, "tracked_dropped", (double)p->info.tracked_dropped);
    cJSON_AddBoolToObject(o, "settings_ignored", (p->info.flags & CHIM_LEAK_BAD_SETTING) != 0);
    if (p->mode == CHIM_MODE_FULL) {
        cJSON_AddNumberToObject(o, "threads_pending_added", p->rows_added);
        cJSON_AddNumberToObject(o, "threads_pending_left_out", p->rows_busy);
    }
    static const char *scan[] = {"none", "interrupted", "done", "failed"};
    cJSON *s = cJSON_AddObjectToObject(o, "scan");
    cJSON_AddStringToObject(s, "state", scan[p->info.scan_state & 3]);
    cJSON_AddNumberToObject(s, "blocks", (double)p->info.scan_blocks);
    cJSON_AddNumberToObject(s, "leaked_blocks", (double)p->info.scan_leaked_blocks);
    cJSON_AddNumberToObject(s, "leaked_bytes", (double)p->info.scan_leaked_bytes);
    cJSON_AddNumberToObject(s, "indirect_blocks", (double)p->info.scan_indirect_blocks);
    cJSON_AddNumberToObject(s, "indirect_bytes", (double)p->info.scan_indirect_bytes);
    cJSON_AddNumberToObject(s, "root_bytes", (double)p->info.scan_root_bytes);
    cJSON_AddNumberToObject(s, "threads", (double)p->info.scan_threads);
    cJSON_AddNumberToObject(s, "ms", (double)p->info.scan_ns / 1e6);
    return o;
}

cJSON *chim_leaks_json(const struct chim_leaks *l)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "schema", "chim.leaks/1");
    cJSON *procs = cJSON_AddArrayToObject(r, "processes");
    cJSON *sites = cJSON_AddArrayToObject(r, "sites");
    for (int i = 0; i < l->n; i++) {
        const struct lproc *p = &l->procs[i];
        int emitted = 0; /* --top is per process, as in the text */
        cJSON_AddItemToArray(procs, proc_json(p));
        for (int k = 0; k < p->nsites; k++) {
            if (!shown(l, &p->sites[k]) || (l->opts.top && emitted >= l->opts.top))
                continue;
            cJSON_AddItemToArray(sites, site_json(p, &p->sites[k]));
            emitted++;
        }
    }
    return r;
}

static char *fmt_bytes(double b, char *buf, size_t n)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    double v = fabs(b);
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(buf, n, i ? "%s%.1f %s" : "%s%.0f %s", b < 0 ? "-" : "", v, u[i]);
    return buf;
}

/* A C++ name for the text report: template arguments shown as `<>`
 * (`std::vector<>::push_back(int const&)`); JSON and folded output keep the
 * whole name. The `<` of an operator's name (operator<, <<, <=, <=>, ->)
 * is not a template's. */
static const char *short_name(const char *fn, char *out, size_t n)
{
    size_t o = 0;
    int depth = 0;
    if (!strchr(fn, '<'))
        return fn;
    for (const char *p = fn; *p && o + 2 < n; p++) {
        int op = p - fn >= 8 && !strncmp(p - 8, "operator", 8);
        if (depth == 0 && op && (*p == '<' || *p == '-')) {
            while ((*p == '<' || *p == '=' || *p == '>' || *p == '-') && o + 2 < n)
                out[o++] = *p++;
            p--;
            continue;
        }
        if (*p == '<' && depth++ == 0)
            out[o++] = '<';
        else if (*p == '>' && depth > 0 && --depth == 0)
            out[o++] = '>';
        else if (depth == 0)
            out[o++] = *p;
    }
    out[o] = 0;
    return depth ? fn : out; /* unbalanced: as it is */
}

static void text_frame(const struct frame *f, FILE *out)
{
    char nm[512];
    fprintf(out, "%s (%s:%d)\n", short_name(f->function, nm, sizeof nm),
            *f->file ? base_name(f->file) : base_name(f->module), f->line);
}

static void text_site(const struct lsite *z, FILE *out)
{
    char b1[32], b2[32];
    fprintf(out, "  %-8s %10s %8.0f %10s/s %7.0fs  ", chim_leak_class_name(z->cls),
            fmt_bytes(z->bytes, b1, sizeof b1), z->count,
            z->have_growth ? fmt_bytes(z->growth.slope, b2, sizeof b2) : "-", z->oldest_age_s);
    text_frame(&z->stack[0], out);
    for (int i = 1; i < z->nstack && i < 8; i++) {
        fprintf(out, "%52s at ", "");
        text_frame(&z->stack[i], out);
    }
}

/* Directly leaked blocks of sites hidden as the C runtime's. */
static double runtime_leaked(const struct lproc *p)
{
    double n = 0;
    for (int k = 0; k < p->nsites; k++)
        if (p->sites[k].suppressed == 1 && p->sites[k].cls == CHIM_CLASS_LEAK)
            n += p->sites[k].leaked_blocks;
    return n;
}

/* Why a process lists no site: what hid them, so the hint names the option
 * that brings them back. */
static const char *none_shown_hint(const struct chim_leaks *l, const struct lproc *p)
{
    int small = 0, user = 0, other = 0;
    for (int k = 0; k < p->nsites; k++) {
        const struct lsite *z = &p->sites[k];
        if (z->suppressed == 2)
            user++;
        else if (!l->opts.all && (z->suppressed || z->cls == CHIM_CLASS_CHURN))
            other++;
        else
            small++; /* below --min-bytes */
    }
    if (small)
        return "no site reaches --min-bytes";
    if (user && !other)
        return "every site is suppressed by --suppress";
    if (l->opts.all || !other)
        return "no leaking or retained sites";
    return "no leaking or retained sites; --all shows churn and the C runtime's own";
}

/* What the agent could not record, under the process's header: the
 * figures below are then lower bounds. */
static void dropped_note(const struct lproc *p, FILE *out)
{
    if (p->info.flags & CHIM_LEAK_BAD_SETTING)
        fprintf(out, "  note: a CHIM_* leak setting did not parse and its default was used "
                     "(CHIM_DEBUG=1 names it)\n");
    unsigned long long blocks = p->info.tracked_dropped, stacks = p->info.stacks_dropped;
    if (blocks)
        fprintf(out,
                "  not tracked: %llu %s (the address table was full: raise "
                "CHIM_MAX_TRACKED%s); the counts below leave them out\n",
                blocks, p->info.sample_bytes ? "samples" : "blocks",
                p->info.sample_bytes ? ", or CHIM_SAMPLE_BYTES" : "");
    if (stacks)
        fprintf(out,
                "  %llu stacks found no room (CHIM_MAX_STACKS): their blocks are under "
                "[stack table full]\n",
                stacks);
}

void chim_leaks_text(const struct chim_leaks *l, FILE *out)
{
    char b1[32], b2[32];
    if (!l->n && !l->seen)
        fprintf(out, "chimcollect leaks: no instrumented process found\n");
    else if (!l->n)
        fprintf(out,
                "chimcollect leaks: no process ran in sample or full mode (CHIM_MODE=sample|full);"
                " %d ran in count mode%s%s\n",
                l->counted,
                l->misspelt ? ", some with a CHIM_MODE that is not count, sample or full" : "",
                l->seen > l->counted ? "; the others have no leak sections" : "");
    for (int i = 0; i < l->n; i++) {
        const struct lproc *p = &l->procs[i];
        fprintf(out, "pid %u %s: %s mode, %s", p->pid, p->exe, mode_name(p->mode),
                chim_seg_state_name(p->state));
        if (p->info.scan_state == CHIM_SCAN_DONE) {
            fprintf(out, "; exit scan: %llu blocks leaked (%s), %llu indirectly (%s)",
                    (unsigned long long)p->info.scan_leaked_blocks,
                    fmt_bytes((double)p->info.scan_leaked_bytes, b1, sizeof b1),
                    (unsigned long long)p->info.scan_indirect_blocks,
                    fmt_bytes((double)p->info.scan_indirect_bytes, b2, sizeof b2));
            double rt = runtime_leaked(p);
            if (rt > 0 && !l->opts.all)
                fprintf(out, ", %.0f of them the C runtime's own (--all shows them)", rt);
        } else
            fprintf(out, "; growth over %.1f s (%d points)", p->window_s, p->npoints);
        fputc('\n', out);
        dropped_note(p, out);
        fprintf(out, "  %-8s %10s %8s %12s %8s  %s\n", "class", "bytes", "blocks", "growth",
                "oldest", "site");
        int shown_n = 0;
        for (int k = 0; k < p->nsites; k++) {
            if (!shown(l, &p->sites[k]) || (l->opts.top && shown_n >= l->opts.top))
                continue;
            text_site(&p->sites[k], out);
            shown_n++;
        }
        if (!shown_n)
            fprintf(out, "  (%s)\n", none_shown_hint(l, p));
    }
}

/* Marks in `in` the sites of p that are listed (shown, within --top). */
static void listed_sites(const struct chim_leaks *l, const struct lproc *p, char *in)
{
    int n = 0;
    for (int k = 0; k < p->nsites; k++) {
        in[k] = shown(l, &p->sites[k]) && (!l->opts.top || n < l->opts.top);
        n += in[k];
    }
}

struct folded {
    char *key; /* frames, outermost first, ';'-joined */
    uint64_t bytes;
};

static int cmp_folded(const void *a, const void *b)
{
    return strcmp(((const struct folded *)a)->key, ((const struct folded *)b)->key);
}

/* ';' (the frame separator) made '_' in place. */
static void unsplit(char *s)
{
    for (; *s; s++)
        if (*s == ';')
            *s = '_';
}

/* `exe[pid]`, as one frame (a ';' in it is made '_' with the others'). */
static void root_frame(const struct lproc *p, char *out, size_t n)
{
    snprintf(out, n, "%s[%u]", base_name(p->exe), p->pid);
}

/* Appends p's folded stacks (listed sites, live bytes) to *v. */
static int folded_of(const struct chim_leaks *l, const struct lproc *p, struct folded **v,
                     size_t *n, size_t *cap)
{
    static char line[65536];
    const char *names[MAX_FRAMES + 1];
    char root[CHIM_EXE_MAX + 16];
    char *in = malloc((size_t)(p->nsites ? p->nsites : 1));
    if (!in)
        return -ENOMEM;
    listed_sites(l, p, in);
    root_frame(p, root, sizeof root);
    for (int k = 0; k < p->nstacks; k++) {
        const struct lstack *s = &p->stacks[k];
        if (s->live <= 0 || !in[s->site])
            continue;
        int nf = 0;
        for (; nf < s->nframes; nf++)
            names[nf] = s->frames[nf].function;
        if (l->n > 1)
            names[nf++] = root;
        for (int f = 0; f < nf; f++) /* a name holding ';' would split its frame */
            if (strchr(names[f], ';')) {
                static char fixed[MAX_FRAMES + 1][256];
                snprintf(fixed[f], sizeof fixed[f], "%s", names[f]);
                unsplit(fixed[f]);
                names[f] = fixed[f];
            }
        chim_folded_line(line, sizeof line, names, nf, 0);
        *strrchr(line, ' ') = 0; /* the key alone */
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 256;
            struct folded *q = realloc(*v, c * sizeof *q);
            if (!q)
                break;
            *v = q, *cap = c;
        }
        if (!((*v)[*n].key = strdup(line)))
            break;
        (*v)[(*n)++].bytes = (uint64_t)llround(s->live);
    }
    free(in);
    return 0;
}

/* Folded stacks of live bytes, for the listed sites, one line per call
 * path: stacks that differ only in addresses the symbols do not tell apart
 * are summed. With more than one process each starts at a frame naming its
 * process, `exe[pid]`: a forked child holds its parent's blocks too, and
 * merged they would count twice. */
int chim_leaks_folded(const struct chim_leaks *l, FILE *out)
{
    struct folded *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (int i = 0; i < l->n && !rc; i++)
        rc = folded_of(l, &l->procs[i], &v, &n, &cap);
    if (n)
        qsort(v, n, sizeof *v, cmp_folded);
    for (size_t i = 0; i < n; i++) {
        uint64_t sum = v[i].bytes;
        while (i + 1 < n && !strcmp(v[i].key, v[i + 1].key))
            sum += v[++i].bytes, free(v[i - 1].key);
        if (!rc)
            fprintf(out, "%s %llu\n", v[i].key, (unsigned long long)sum);
        free(v[i].key);
    }
    free(v);
    return rc;
}

cJSON *chim_leaks_report_array(const struct chim_seg_set *set, long pid, int top)
{
    struct chim_leak_opts o = {0};
    char err[128];
    struct chim_leaks *l = chim_leaks_build(set, NULL, pid, &o, err, sizeof err);
    if (!l)
        return NULL;
    cJSON *a = cJSON_CreateArray();
    int n = 0;
    for (int i = 0; i < l->n; i++)
        for (int k = 0; k < l->procs[i].nsites && (!top || n < top); k++) {
            const struct lsite *z = &l->procs[i].sites[k];
            if (!shown(l, z))
                continue;
            cJSON *o2 = cJSON_CreateObject();
            cJSON_AddNumberToObject(o2, "pid", l->procs[i].pid);
            cJSON_AddStringToObject(o2, "function", z->stack[0].function);
            cJSON_AddStringToObject(o2, "file", z->stack[0].file);
            cJSON_AddNumberToObject(o2, "line", z->stack[0].line);
            cJSON_AddNumberToObject(o2, "bytes", round(z->bytes));
            cJSON_AddStringToObject(o2, "class", chim_leak_class_name(z->cls));
            cJSON_AddItemToArray(a, o2);
            n++;
        }
    chim_leaks_free(l);
    return a;
}
