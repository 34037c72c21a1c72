/*
 * segment_deltas.c - full mode's per-thread site deltas (CHIM_SEC_DELTAS,
 * include/chim/shm_leak.h), added to the private copy of SITES as soon as a
 * segment is read. So every reader sees the events a thread has counted
 * but not folded yet: a thread blocked in read() or on a condition
 * variable, a process killed while it allocated. A row is added only when
 * its `seq` was even in the copy (which read it before SITES) and still is
 * the same when re-read after the copy: no fold ran in between, so the row
 * and SITES do not hold the same events twice, nor miss any. A row left
 * out belongs to a thread that is folding, i.e. busy: SITES lag it by at
 * most one batch, as they would without this.
 */
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "chim/shm_leak.h"
#include "segment.h"

static int row_settled(int fd, const struct chim_section *s, const struct chim_delta_row *r,
                       uint64_t i)
{
    uint64_t now;
    if (fd < 0)
        return !(r->seq & 1); /* an image in memory (tests, fuzz target) */
    off_t at = (off_t)(s->offset + i * sizeof *r + offsetof(struct chim_delta_row, seq));
    return !(r->seq & 1) && pread(fd, &now, sizeof now, at) == (ssize_t)sizeof now && now == r->seq;
}

/* Unsigned arithmetic throughout: the bytes are untrusted, wrapping is
 * harmless, overflow of a signed type would not be. */
static void add_way(struct chim_site *sites, uint64_t nsites, const struct chim_site_delta *w)
{
    if (w->stack >= nsites || w->bucket >= CHIM_AGE_BUCKETS) /* stack 0: [stack table full] */
        return;
    struct chim_site *t = &sites[w->stack];
    uint64_t a = (uint64_t)w->allocs, f = (uint64_t)w->frees;
    uint64_t ab = (uint64_t)w->alloc_bytes, fb = (uint64_t)w->free_bytes;
    t->allocs += a;
    t->frees += f;
    t->alloc_w += a * CHIM_LEAK_WUNIT;
    t->free_w += f * CHIM_LEAK_WUNIT;
    t->alloc_bytes += ab;
    t->free_bytes += fb;
    t->birth_bytes[w->bucket] = (int64_t)((uint64_t)t->birth_bytes[w->bucket] + ab - fb);
}

/* The DELTAS and SITES sections of seg when they can be used: the rows
 * must end before SITES (read after SITES, a row could not be checked
 * against them), and SITES, which this writes, must not cover the header:
 * its section directory was validated once and is trusted from then on.
 * (Sizes were validated: no overflow.) */
static int usable(const struct chim_seg *seg, const struct chim_section **ds,
                  const struct chim_section **ss)
{
    const uint64_t hdr = sizeof(struct chim_shm_header);
    *ds = chim_seg_section(seg->hdr, CHIM_SEC_DELTAS);
    *ss = chim_seg_section(seg->hdr, CHIM_SEC_SITES);
    return *ds && *ss && (*ds)->elem_size == sizeof(struct chim_delta_row) &&
           (*ss)->elem_size == sizeof(struct chim_site) && (*ds)->offset >= hdr &&
           (*ss)->offset >= hdr &&
           (*ds)->offset + (*ds)->count * sizeof(struct chim_delta_row) <= (*ss)->offset;
}

static void add_row(struct chim_seg *seg, const struct chim_section *ss,
                    const struct chim_delta_row *r)
{
    struct chim_site *sites = (void *)(seg->data + ss->offset);
    for (int k = 0; k < CHIM_DELTA_WAYS; k++)
        add_way(sites, ss->count, &r->d[k]);
    seg->delta_rows_added++;
}

void chim_seg_add_deltas(struct chim_seg *seg, int fd)
{
    const struct chim_section *ds, *ss;
    if (!usable(seg, &ds, &ss))
        return;
    /* A writer that is gone (exited, killed, exec'd) folds no more: a row
     * it left odd was cut inside a fold (a thread still running when the
     * process exited, which leaves other threads' rows to this reader), and
     * its ways not reached yet are still pending (at most the way being
     * folded is half in SITES): add it rather than lose up to a batch for
     * good. (Between the exit mark and the process's end, a thread may
     * still finish such a fold: a reader at that instant may count one way
     * twice; the next read is right.) */
    int gone = fd >= 0 && seg->state != CHIM_SEG_RUNNING;
    const struct chim_delta_row *rows = (const void *)(seg->data + ds->offset);
    for (uint64_t i = 0; i < ds->count; i++) {
        if (!rows[i].tid)
            continue; /* never used (and not in the copy: a hole) */
        if (!gone && !row_settled(fd, ds, &rows[i], i)) {
            seg->delta_rows_busy++;
            seg->delta_rows_odd += (uint32_t)(rows[i].seq & 1);
            continue;
        }
        add_row(seg, ss, &rows[i]);
    }
}

/* Exec ends a process's image while the pid lives on, so the load took the
 * segment for a running one; its rows left odd were cut inside a fold by
 * the exec and are added now, as for any writer that is gone. */
void chim_seg_add_odd_rows(struct chim_seg *seg)
{
    const struct chim_section *ds, *ss;
    if (!seg->delta_rows_odd || !usable(seg, &ds, &ss))
        return;
    const struct chim_delta_row *rows = (const void *)(seg->data + ds->offset);
    for (uint64_t i = 0; i < ds->count; i++) {
        if (rows[i].tid && (rows[i].seq & 1)) {
            add_row(seg, ss, &rows[i]);
            seg->delta_rows_busy--;
        }
    }
    seg->delta_rows_odd = 0;
}
