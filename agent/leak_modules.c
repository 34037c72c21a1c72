/*
 * leak_modules.c - the module map in the segment (path, address range, load
 * bias, build id of every loaded object), so the collector can symbolize
 * stacks after the process is gone, and the exit scan's data/bss/TLS roots.
 *
 * dl_iterate_phdr takes the loader lock and must never run inside a malloc
 * hook: the map is refreshed in the constructor, after dlopen and dlclose
 * (dl_hooks.c), in a fork child and at exit, and the refresh is skipped when
 * the loader's add/remove counters have not moved. Entries are appended and
 * never reused: a dlclosed object keeps its entry with `unload_gen` set.
 * The agent's own range and the C library's are kept in plain globals for
 * the unwinder's per-frame tests.
 */
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "leak.h"
#include "unwind.h"

struct chim_text_ranges chim__text;
#define agent_lo chim__text.agent_lo
#define agent_hi chim__text.agent_hi
#define libc_lo  chim__text.libc_lo
#define libc_hi  chim__text.libc_hi
static int refresh_lock;
static unsigned long long last_adds, last_subs;
static uint64_t gen;
static unsigned char seen[4096];

int chim__in_agent_text(uintptr_t ip)
{
    return ip - agent_lo < agent_hi - agent_lo;
}

uint32_t chim__modmap_gen; /* never reset, not even in a fork child */

static int page_nofp(uint64_t i, uintptr_t ip, uintptr_t lo, uintptr_t hi);

/* Index of the loaded object whose code holds ip, or -1. */
static int64_t module_at(uintptr_t ip, const struct chim_module **mod)
{
    uint64_t n = chim__sec_count[CHIM_SEC_MODULES];
    const struct chim_module *m = chim__sec_base[CHIM_SEC_MODULES];
    for (uint64_t i = 0; m && i < n; i++) {
        if (__atomic_load_n(&m[i].state, __ATOMIC_ACQUIRE) != CHIM_LEAK_READY)
            break;
        if (!m[i].unload_gen && ip >= m[i].start && ip < m[i].end) {
            *mod = &m[i];
            return (int64_t)i;
        }
    }
    return -1;
}

int chim__code_known(uintptr_t ip)
{
    const struct chim_module *m;
    return module_at(ip, &m) >= 0;
}

int chim__code_nofp(uintptr_t ip)
{
    const struct chim_module *m;
    int64_t i = module_at(ip, &m);
    if (i < 0)
        return 1; /* not in the map: dlopen'ed since its last refresh, or generated */
    return (m->flags & (CHIM_MOD_NOFP | CHIM_MOD_LDSO)) != 0 ||
           page_nofp((uint64_t)i, ip, m->start, m->end);
}

static struct chim_module *table(uint64_t *n)
{
    *n = chim__sec_count[CHIM_SEC_MODULES];
    if (*n > sizeof seen)
        *n = sizeof seen;
    return chim__sec_base[CHIM_SEC_MODULES];
}

static struct chim_leak_info *info(void)
{
    return chim__sec_base[CHIM_SEC_LEAKS];
}

static void object_range(const struct dl_phdr_info *o, uintptr_t *lo, uintptr_t *hi)
{
    *lo = UINTPTR_MAX;
    *hi = 0;
    for (int i = 0; i < o->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &o->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = o->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
        *lo = a < *lo ? a : *lo;
        *hi = b > *hi ? b : *hi;
    }
}

/* NT_GNU_BUILD_ID from the object's PT_NOTE segments (mapped memory). */
static uint32_t build_id(const struct dl_phdr_info *o, uint8_t *out)
{
    for (int i = 0; i < o->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &o->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(o->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof *nh;
            const char *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (desc + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4)) {
                uint32_t n = nh->n_descsz < CHIM_BUILD_ID_MAX ? nh->n_descsz : CHIM_BUILD_ID_MAX;
                memcpy(out, desc, n);
                return n;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    return 0;
}

/* ---- frame pointers ------------------------------------------------------
 *
 * Whether an object's code keeps frame pointers, judged from its function
 * entries: the .eh_frame_hdr search table lists every function with unwind
 * information; code built with frame pointers starts nearly every function
 * with `push %rbp; mov %rsp,%rbp` (after `endbr64`), code built without
 * them almost none (only functions that need a frame, such as alloca's).
 * Up to 64 entries, evenly spread, are looked at, each inside an
 * executable segment of the object. */

static int in_segment(const struct dl_phdr_info *o, uintptr_t a, size_t n, int exec)
{
    for (int i = 0; i < o->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &o->dlpi_phdr[i];
        uintptr_t lo = o->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (!exec || (ph->p_flags & PF_X)) && a >= lo &&
            a - lo <= ph->p_memsz && n <= ph->p_memsz - (a - lo))
            return 1;
    }
    return 0;
}

/* The function at f (n bytes readable) sets up a frame pointer within its
 * first 32 bytes (1: GCC's shrink-wrapping may put an early exit test
 * before it), does not (0), or is not telling (-1): a PLT stub (an
 * indirect jump or push, maybe after bnd), or _start (xor %ebp,%ebp). */
static int sets_frame(const uint8_t *f, size_t n)
{
    static const uint8_t endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa}, mov[3] = {0x48, 0x89, 0xe5};
    if (!memcmp(f, endbr64, 4))
        f += 4, n -= 4;
    if (f[0] == 0xff || f[0] == 0xf2 || (f[0] == 0x31 && f[1] == 0xed))
        return -1;
    /* `push %rbp` then `mov %rsp,%rbp`: GCC -O2 may schedule other
     * instructions between them (mallocbench's worker). */
    int pushed = 0;
    for (size_t i = 0; i + 3 <= n && i < 32; i++) {
        pushed |= f[i] == 0x55;
        if (pushed && !memcmp(f + i, mov, 3))
            return 1;
    }
    return 0;
}

/* Per entry of the module table (same index), agent-private: the search
 * table of an object whose functions keep frame pointers but for some
 * (a static library built without them, such as libstdc++.a's operator
 * new in a -static-libstdc++ program, or an -O2 object linked into a
 * frame-pointer program). Such an object is judged per code page: a page
 * keeps them when every function of 64 bytes or more on it does. */
static struct {
    const uint8_t *hdr;
    uint32_t count;
} mixed[sizeof seen];

/* Start of search-table entry k. */
static uintptr_t fn_start(const uint8_t *h, uint32_t k)
{
    int32_t rel;
    memcpy(&rel, h + 12 + (size_t)k * 8, 4);
    return (uintptr_t)h + (uintptr_t)(intptr_t)rel;
}

static int page_nofp(uint64_t i, uintptr_t ip, uintptr_t lo, uintptr_t hi)
{
    const uint8_t *h = mixed[i].hdr;
    uint32_t n = mixed[i].count, a = 0, b = n;
    if (!h || n == 0)
        return 0;
    uintptr_t page = ip & ~(uintptr_t)4095;
    while (b - a > 1) { /* the last function starting at or before the page */
        uint32_t mid = a + (b - a) / 2;
        if (fn_start(h, mid) <= page)
            a = mid;
        else
            b = mid;
    }
    for (uint32_t k = a; k < n; k++) {
        uintptr_t f = fn_start(h, k), end = k + 1 < n ? fn_start(h, k + 1) : hi;
        if (f >= page + 4096)
            break;
        if (end < f + 64 || f < lo || f + 40 > hi || end <= page)
            continue;
        if (sets_frame((const uint8_t *)f, 40) == 0)
            return 1;
    }
    return 0;
}

/* 1 keeps frame pointers, 0 does not, -1 cannot tell (no search table, or
 * one in an encoding other than the linkers' usual: datarel sdata4). With
 * 1, *mix is set when some function does not (the object is then judged
 * per page). */
static int keeps_frame_pointers(const struct dl_phdr_info *o, const uint8_t **tab, uint32_t *cnt,
                                int *mix)
{
    *mix = 0;
    const ElfW(Phdr) *eh = NULL;
    for (int i = 0; i < o->dlpi_phnum; i++)
        if (o->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
            eh = &o->dlpi_phdr[i];
    if (!eh || eh->p_memsz < 12 || !in_segment(o, o->dlpi_addr + eh->p_vaddr, eh->p_memsz, 0))
        return -1; /* a table outside the mapped segments is not read */
    const uint8_t *h = (const uint8_t *)(o->dlpi_addr + eh->p_vaddr);
    uint32_t count;
    memcpy(&count, h + 8, 4);
    if (h[0] != 1 || (h[1] & 0x0f) != 0x0b || h[2] != 0x03 || h[3] != 0x3b || count == 0 ||
        count > (eh->p_memsz - 12) / 8)
        return -1;
    uint32_t step = count > 64 ? count / 64 : 1, looked = 0, framed = 0;
    for (uint32_t k = 0; k < count; k += step) {
        int32_t rel[3] = {0, 0, INT32_MAX}; /* its start, its FDE, the next one's start */
        memcpy(rel, h + 12 + (size_t)k * 8, k + 1 < count ? sizeof rel : 8);
        uintptr_t f = (uintptr_t)h + (uintptr_t)(intptr_t)rel[0];
        /* Functions of 64 bytes or more (the last one has no next: taken):
         * the C runtime's start-up helpers, built without frame pointers,
         * would outvote a small program's own functions. */
        size_t n = in_segment(o, f, 40, 1) ? 40 : 8; /* near its segment's end: less */
        if ((int64_t)rel[2] - rel[0] < 64 || !in_segment(o, f, n, 1))
            continue;
        int r = sets_frame((const uint8_t *)f, n);
        looked += r >= 0;
        framed += r > 0;
    }
    *tab = h;
    *cnt = count;
    *mix = framed < looked;
    return looked == 0 ? -1 : framed * 2 >= looked;
}

static uint32_t module_flags(const char *path, uintptr_t lo, uintptr_t hi, int first)
{
    uintptr_t self = (uintptr_t)&chim__in_agent_text;
    uint32_t f = 0;
    if (self >= lo && self < hi)
        f |= CHIM_MOD_AGENT;
    if (strstr(path, "/libc.so") || !strncmp(path, "libc.so", 7))
        f |= CHIM_MOD_LIBC;
    if (strstr(path, "/ld-linux") || strstr(path, "/ld64.so"))
        f |= CHIM_MOD_LDSO;
    if (strstr(path, "linux-vdso") || strstr(path, "linux-gate"))
        f |= CHIM_MOD_VDSO;
    if (first && !*path)
        f |= CHIM_MOD_MAIN;
    return f;
}

static void note_ranges(uint32_t flags, const char *path, uintptr_t lo, uintptr_t hi)
{
    if (strstr(path, "/libstdc++.so")) {
        chim__text.cxx_lo = lo;
        chim__text.cxx_hi = hi;
    }
    if (flags & CHIM_MOD_AGENT) {
        agent_lo = lo;
        agent_hi = hi;
    }
    if (flags & CHIM_MOD_LIBC) {
        libc_lo = lo;
        libc_hi = hi;
    }
}

/* The file the kernel mapped at page `at`, from the process's maps (the
 * name the loader was given may be relative, and the process may have
 * changed directory since): into out, 1 if found. Refreshes are
 * serialized (refresh_lock), so one static buffer serves. */
static int mapped_file(uintptr_t at, char *out, size_t n)
{
    static char maps[256 * 1024];
    ssize_t got = chim__read_maps(maps, sizeof maps - 1);
    if (got <= 0)
        return 0;
    maps[got] = 0;
    for (char *line = maps; *line;) {
        char *eol = strchr(line, '\n'), *end;
        if (eol)
            *eol = 0;
        char *slash = strchr(line, '/');
        if ((uintptr_t)strtoull(line, &end, 16) == at && *end == '-' && slash) {
            chim__strlcpy(out, slash, n);
            return 1;
        }
        if (!eol)
            break;
        line = eol + 1;
    }
    return 0;
}

/* The path the collector will open: the loader keeps a dlopen'ed name as
 * given, so a relative one ("./libx.so") is taken from the kernel's
 * mappings (`lo`: the object's first address), else made absolute against
 * the current directory (the collector runs elsewhere, maybe after the
 * process is gone; a chdir since the dlopen made that wrong). getcwd with
 * a buffer allocates nothing. */
static void module_path(const char *path, uintptr_t lo, char *out, size_t n)
{
    char cwd[sizeof((struct chim_module *)0)->path];
    int saved = errno;
    if (path[0] && path[0] != '/' && strchr(path, '/') &&
        mapped_file(lo & ~(uintptr_t)4095, out, n)) {
        errno = saved;
        return;
    }
    if (path[0] && path[0] != '/' && strchr(path, '/') && getcwd(cwd, sizeof cwd)) {
        while (path[0] == '.' && path[1] == '/')
            path += 2;
        size_t k = strlen(cwd);
        chim__strlcpy(out, cwd, n);
        if (k + 1 < n) {
            out[k] = '/';
            chim__strlcpy(out + k + 1, path, n - k - 1);
        }
    } else {
        chim__strlcpy(out, path, n);
    }
    errno = saved;
}

/* Appends a new entry for object `o`, or marks its existing entry seen. */
static void add_object(struct dl_phdr_info *o, int first)
{
    uintptr_t lo, hi;
    object_range(o, &lo, &hi);
    if (hi <= lo)
        return;
    const char *path = o->dlpi_name ? o->dlpi_name : "";
    uint32_t flags = module_flags(path, lo, hi, first);
    note_ranges(flags, path, lo, hi);
    uint64_t n;
    struct chim_module *m = table(&n);
    if (!m)
        return;
    uint64_t i = 0;
    for (; i < n && m[i].state == CHIM_LEAK_READY; i++) {
        if (m[i].start == lo && m[i].bias == o->dlpi_addr && !m[i].unload_gen) {
            seen[i] = 1;
            return;
        }
    }
    if (i >= n) {
        if (info())
            info()->modules_dropped++;
        return;
    }
    struct chim_module *e = &m[i];
    const uint8_t *tab = NULL;
    uint32_t cnt = 0;
    int mix = 0, keeps = -1;
    if (!(flags & (CHIM_MOD_AGENT | CHIM_MOD_LIBC | CHIM_MOD_LDSO | CHIM_MOD_VDSO)))
        keeps = keeps_frame_pointers(o, &tab, &cnt, &mix);
    if (keeps == 0)
        flags |= CHIM_MOD_NOFP;
    mixed[i].hdr = keeps == 1 && mix ? tab : NULL;
    mixed[i].count = keeps == 1 && mix ? cnt : 0;
    e->state = CHIM_LEAK_WRITING;
    e->flags = flags;
    e->start = lo;
    e->end = hi;
    e->bias = o->dlpi_addr;
    e->load_gen = gen + 1;
    e->unload_gen = 0;
    e->build_id_len = build_id(o, e->build_id);
    if ((flags & CHIM_MOD_MAIN) && chim__seg)
        chim__strlcpy(e->path, chim__seg->exe, sizeof e->path);
    else
        module_path(path, lo, e->path, sizeof e->path);
    __atomic_store_n(&e->state, CHIM_LEAK_READY, __ATOMIC_RELEASE);
    seen[i] = 1;
    if (flags & CHIM_MOD_NOFP)
        chim__debug("no frame pointers (libunwind in auto mode): ", e->path);
    else if (mixed[i].hdr)
        chim__debug("frame pointers but in some functions (judged per page): ", e->path);
}

static int refresh_cb(struct dl_phdr_info *o, size_t size, void *arg)
{
    int *first = arg;
    (void)size;
    add_object(o, *first);
    *first = 0;
    return 0;
}

/* Marks objects the loader no longer lists as unloaded. */
static int retire_unseen(void)
{
    uint64_t n;
    struct chim_module *m = table(&n);
    int changed = 0;
    for (uint64_t i = 0; m && i < n && m[i].state == CHIM_LEAK_READY; i++) {
        if (!seen[i] && !m[i].unload_gen) {
            m[i].unload_gen = gen + 1;
            changed = 1;
        }
        changed |= seen[i] && m[i].load_gen == gen + 1;
    }
    return changed;
}

static int adds_cb(struct dl_phdr_info *o, size_t size, void *arg)
{
    unsigned long long *v = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof o->dlpi_subs) {
        v[0] = o->dlpi_adds;
        v[1] = o->dlpi_subs;
    }
    return 1; /* the first object carries the loader's counters */
}

void chim__modules_refresh(void)
{
    if (__atomic_exchange_n(&refresh_lock, 1, __ATOMIC_ACQUIRE))
        return; /* another thread is refreshing right now */
    int saved_guard = chim__tls.in_agent;
    chim__tls.in_agent = 1;
    unsigned long long v[2] = {0, 0};
    dl_iterate_phdr(adds_cb, v);
    if (gen == 0 || v[0] != last_adds || v[1] != last_subs) {
        last_adds = v[0];
        last_subs = v[1];
        memset(seen, 0, sizeof seen);
        int first = 1;
        dl_iterate_phdr(refresh_cb, &first);
        if (retire_unseen() || gen == 0) {
            gen++;
            if (info())
                __atomic_store_n(&info()->modules_gen, gen, __ATOMIC_RELEASE);
            __atomic_store_n(&chim__modmap_gen, chim__modmap_gen + 1, __ATOMIC_RELEASE);
        }
    }
    chim__tls.in_agent = saved_guard;
    __atomic_store_n(&refresh_lock, 0, __ATOMIC_RELEASE);
}

void chim__modules_init(void)
{
    refresh_lock = 0;
    gen = 0;
    chim__modules_refresh();
}

/* ---- exit-scan roots ------------------------------------------------------ */

struct roots_arg {
    void (*fn)(uintptr_t, uintptr_t, int, void *);
    void *arg;
};

static int roots_cb(struct dl_phdr_info *o, size_t size, void *varg)
{
    struct roots_arg *ra = varg;
    uintptr_t lo, hi;
    (void)size;
    object_range(o, &lo, &hi);
    if ((uintptr_t)&chim__in_agent_text - lo < hi - lo || chim__unwind_owns(lo, hi))
        return 0; /* the agent and its unwinder hold pointers of their own */
    int libc = chim__in_libc_text(lo);
    for (int i = 0; i < o->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &o->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W)) {
            uintptr_t a = o->dlpi_addr + ph->p_vaddr;
            ra->fn(a, a + ph->p_memsz, libc, ra->arg);
        } else if (ph->p_type == PT_TLS && o->dlpi_tls_data) {
            uintptr_t a = (uintptr_t)o->dlpi_tls_data;
            ra->fn(a, a + ph->p_memsz, libc, ra->arg);
        }
    }
    return 0;
}

void chim__modules_roots(void (*fn)(uintptr_t lo, uintptr_t hi, int libc, void *arg), void *arg)
{
    struct roots_arg ra = {fn, arg};
    dl_iterate_phdr(roots_cb, &ra);
}
