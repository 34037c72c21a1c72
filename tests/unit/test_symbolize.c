/*
 * test_symbolize.c - libdwfl symbolization of this test's own code: the
 * module is reported at its real load bias, as the agent records it.
 */
#include <criterion/criterion.h>
#include <link.h>
#include <unistd.h>
#include <string.h>

#include "symbolize.h"

struct self {
    uint64_t lo, hi, bias;
    char path[512];
};

static int find_self(struct dl_phdr_info *o, size_t size, void *arg)
{
    struct self *s = arg;
    (void)size;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < o->dlpi_phnum; i++)
        if (o->dlpi_phdr[i].p_type == PT_LOAD) {
            uint64_t a = o->dlpi_addr + o->dlpi_phdr[i].p_vaddr;
            lo = a < lo ? a : lo;
            hi = a + o->dlpi_phdr[i].p_memsz > hi ? a + o->dlpi_phdr[i].p_memsz : hi;
        }
    uint64_t me = (uint64_t)(uintptr_t)&find_self;
    if (me >= lo && me < hi) {
        s->lo = lo;
        s->hi = hi;
        s->bias = o->dlpi_addr;
        return 1;
    }
    return 0;
}

static __attribute__((noinline)) uint64_t where_am_i(void)
{
    return (uint64_t)(uintptr_t)__builtin_return_address(0);
}

Test(symbolize, own_function_and_file)
{
    struct self s = {0};
    dl_iterate_phdr(find_self, &s);
    ssize_t n = readlink("/proc/self/exe", s.path, sizeof s.path - 1);
    cr_assert(n > 0);
    struct chim_symbolizer *sym = chim_sym_new();
    cr_assert_not_null(sym);
    cr_assert_eq(chim_sym_add_module(sym, s.path, s.lo, s.hi, s.bias, NULL, 0, 0), 0);
    cr_assert_neq(chim_sym_add_module(sym, s.path, s.lo, s.hi, s.bias, NULL, 0, 0), 0,
                  "an overlapping module is refused");
    uint64_t ip = where_am_i(); /* return address inside this test function */
    struct chim_sym_frame f[CHIM_SYM_MAX_INLINE];
    int k = chim_sym_lookup(sym, ip, f, CHIM_SYM_MAX_INLINE);
    cr_assert(k >= 1);
    cr_assert(strstr(f[k - 1].function, "own_function_and_file") != NULL, "got %s",
              f[k - 1].function);
    cr_assert(strstr(f[0].file, "test_symbolize.c") != NULL, "got %s", f[0].file);
    cr_assert(f[0].line > 0);
    /* Cached: the same answer again. */
    struct chim_sym_frame g[CHIM_SYM_MAX_INLINE];
    cr_assert_eq(chim_sym_lookup(sym, ip, g, CHIM_SYM_MAX_INLINE), k);
    cr_assert_eq(g[0].line, f[0].line);
    /* An address outside every module. */
    k = chim_sym_lookup(sym, 0x10, f, CHIM_SYM_MAX_INLINE);
    cr_assert_eq(k, 1);
    cr_assert_str_eq(f[0].function, "??");
    chim_sym_free(sym);
}

Test(symbolize, rebuilt_file_is_not_named)
{
    struct self s = {0};
    dl_iterate_phdr(find_self, &s);
    ssize_t n = readlink("/proc/self/exe", s.path, sizeof s.path - 1);
    cr_assert(n > 0);
    /* A build id this file does not carry: the process that recorded it
     * ran another build, so the file's symbols would name wrong functions. */
    const uint8_t other[20] = {0xde, 0xad, 0xbe, 0xef};
    struct chim_symbolizer *sym = chim_sym_new();
    cr_assert_not_null(sym);
    cr_assert_eq(chim_sym_add_module(sym, s.path, s.lo, s.hi, s.bias, other, sizeof other, 0), 0);
    uint64_t ip = where_am_i();
    struct chim_sym_frame f[CHIM_SYM_MAX_INLINE];
    cr_assert_eq(chim_sym_lookup(sym, ip, f, CHIM_SYM_MAX_INLINE), 1);
    const char *base = strrchr(s.path, '/') + 1;
    cr_assert(strncmp(f[0].function, base, strlen(base)) == 0 &&
                  strncmp(f[0].function + strlen(base), "+0x", 3) == 0,
              "got %s", f[0].function);
    cr_assert_str_eq(f[0].file, "");
    cr_assert_eq(f[0].line, 0);
    chim_sym_free(sym);
}
