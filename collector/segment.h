/*
 * segment.h - reading segments: every byte is untrusted. A segment is
 * copied into private memory (never mapped: a file truncated under us must
 * not kill the collector), checked field by field against the ABI in
 * include/chim/shm.h, and summarised into plain structs.
 */
#ifndef CHIM_SEGMENT_H
#define CHIM_SEGMENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chim/shm.h"

#define CHIM_SEG_MAX_BYTES (264u << 20) /* refuse larger files (256 MiB + full mode's deltas) */

enum chim_seg_state {
    CHIM_SEG_RUNNING,
    CHIM_SEG_EXITED,
    CHIM_SEG_VANISHED, /* gone without the agent's exit mark: killed */
    CHIM_SEG_EXECED,   /* the process replaced its image (a newer segment) */
};

struct chim_mem_summary {
    uint64_t allocs, frees, bytes_requested, bytes_allocated, bytes_freed, failed;
    int64_t live_bytes;
    uint64_t peak_live_bytes, peak_rss_bytes;
    uint64_t size_class[CHIM_SIZE_CLASSES];
};

/* A validated copy of one segment. */
struct chim_seg {
    char path[512];
    unsigned char *data; /* private copy, `size` bytes */
    size_t size;
    const struct chim_shm_header *hdr; /* == data */
    int torn;                          /* seqlock never settled (writer died mid-update) */
    uint32_t delta_rows_added;         /* full mode: threads' unfolded deltas added to SITES */
    uint32_t delta_rows_busy;          /* ... left out: their thread was folding */
    uint32_t delta_rows_odd;           /* of those, left odd (mid-fold) in the copy */
    enum chim_seg_state state;
    struct chim_mem_summary mem;
};

/* Reads and validates the segment at `path`. Returns 0, or a negative errno
 * with a one-line reason in `err` (e.g. "bad magic", "ABI version 7, this
 * collector reads 1", "owned by uid 1001"). */
int chim_seg_load(const char *path, struct chim_seg *seg, char *err, size_t errlen);
/* Leaves out segments of processes that ended long ago, before they are
 * copied (serve and export keep gone processes for a grace period only). */
struct chim_seg_filter {
    uint64_t ended_before_ns; /* skip processes gone before this (REALTIME); 0: none */
    int (*keep)(void *ctx, const char *path); /* load anyway when it returns true */
    void *ctx;
};

/* chim_seg_load with a filter: returns 1 (nothing loaded) when filtered. */
int chim_seg_load_filtered(const char *path, const struct chim_seg_filter *f, struct chim_seg *seg,
                           char *err, size_t errlen);
/* Validates a segment image already in memory (used by the loader, the
 * tests and the fuzz target). `size` is the number of bytes available. */
int chim_seg_validate(const unsigned char *data, size_t size, char *err, size_t errlen);
/* Adds full mode's per-thread site deltas to the copy of SITES
 * (segment_deltas.c); fd is the segment, re-read to check each row (-1:
 * an image in memory, no re-read); seg->state must be set. */
void chim_seg_add_deltas(struct chim_seg *seg, int fd);
/* A segment found to have ended in exec after it was loaded (its writer is
 * gone): adds the rows it left out because they were odd. */
void chim_seg_add_odd_rows(struct chim_seg *seg);
/* Fills seg->mem from the thread slots. */
void chim_seg_summarise(struct chim_seg *seg);
void chim_seg_free(struct chim_seg *seg);
/* The first section of a kind, or NULL. */
const struct chim_section *chim_seg_section(const struct chim_shm_header *h, uint32_t kind);

/* True if the pid runs and is the process that wrote the segment. */
int chim_seg_alive(const struct chim_shm_header *h);
/* CPU time of a live process so far (/proc/PID/stat), microseconds: 0 or
 * -1 when it cannot be read. */
int chim_seg_proc_cpu(uint32_t pid, uint64_t *user_us, uint64_t *sys_us);

/* All segments of a directory, sorted by pid and start time. */
struct chim_seg_set {
    struct chim_seg *segs;
    size_t n;
    size_t skipped; /* files warned about and skipped */
};

/* Loads every *.seg file in dir (NULL: the default directory). Bad files get
 * one warning line on `warn` (may be NULL) and are skipped. Returns 0 or a
 * negative errno if the directory itself cannot be read. */
int chim_seg_load_dir(const char *dir, struct chim_seg_set *set, FILE *warn);
/* chim_seg_load_dir with a filter; `filtered` (may be NULL) counts what it
 * left out. */
int chim_seg_load_dir_filtered(const char *dir, const struct chim_seg_filter *f,
                               struct chim_seg_set *set, size_t *filtered, FILE *warn);
void chim_seg_set_free(struct chim_seg_set *set);
/* 1 when pid is 0 (every process) or some segment of the set is pid's. */
int chim_seg_set_has_pid(const struct chim_seg_set *set, long pid);

/* The default segment directory: $CHIM_DIR or /dev/shm/chim-<euid>. */
/* The agent would refuse `dir` (it exists and is a symlink, another
 * user's, or open to group or others): 1 with the reason in why, else 0. */
int chim_dir_refused(const char *dir, char *why, size_t len);

const char *chim_default_dir(void);
const char *chim_seg_state_name(enum chim_seg_state s);

#endif
