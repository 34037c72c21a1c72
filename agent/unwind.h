/*
 * unwind.h - stack capture behind one small interface. Two unwinders: a
 * frame-pointer walk (tens of nanoseconds, needs frame pointers in the
 * host's code) and libunwind's unw_backtrace (reads .eh_frame, works
 * without frame pointers, several times slower). CHIM_UNWIND selects
 * fp, libunwind or auto (frame pointers, libunwind when the caller is the C
 * library, whose functions have no frame pointers).
 */
#ifndef CHIM_UNWIND_H
#define CHIM_UNWIND_H

#include <stddef.h>
#include <stdint.h>

/* Loads the unwinder and runs it once (constructor only: loading libunwind
 * takes the loader lock and allocates). `kind` is enum chim_unwinder;
 * returns the unwinder actually in use (fp if libunwind cannot be loaded). */
uint32_t chim__unwind_init(uint32_t kind);

/* Captures up to `max` return addresses of the allocating code, innermost
 * first, without the agent's own frames; ips[0] is `ra`, the return address
 * of the interposed call. `fp`, if not 0, is the host's frame pointer at
 * that call (the frame-pointer walk starts there instead of walking the
 * agent's frames). Never allocates, never takes a lock of ours; call with
 * chim__tls.in_agent set. Returns the number stored. */
int chim__unwind(uintptr_t ra, uintptr_t fp, uint64_t *ips, int max);

/* The calling thread's stack bounds, for the frame-pointer walk's checks
 * (set at thread start and for the main thread at load). */
void chim__unwind_set_stack(uintptr_t lo, uintptr_t hi);

/* True if the unwinder's own library lies in [lo, hi) (the exit scan does
 * not take the agent's tools for the host's roots). */
int chim__unwind_owns(uintptr_t lo, uintptr_t hi);

/* The main thread's stack top (page end of __libc_stack_end). */
uintptr_t chim__unwind_main_hi(void);

/* While chim__tls.in_unwind is set, the read and syscall hooks pass
 * libunwind's pipe probes here (see unwind.c); -2: not a probe. */
long chim__unwind_probe(long nr, long fd, const void *addr, size_t n);

/* One capture with a given unwinder (benchmarks and tests): ns per call. */
double chim__unwind_bench(uint32_t kind, int iterations);

#endif
