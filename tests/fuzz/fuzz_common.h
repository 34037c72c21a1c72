/*
 * fuzz_common.h - shared helpers of the protocol fuzz targets.
 *
 * An input is a sequence of records: one header byte (bit 7: direction,
 * bits 0-6: length) followed by that many payload bytes. Each target feeds
 * the records once as whole buffers and once byte by byte and aborts if the
 * two runs report different exchanges (the split-anywhere invariant).
 */
#ifndef CHIM_FUZZ_COMMON_H
#define CHIM_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct fz_log {
    uint64_t n;
    uint64_t h; /* FNV-1a over the reported fields */
};

static inline void fz_mix(struct fz_log *l, const void *p, size_t n)
{
    const unsigned char *b = p;
    if (!l->h)
        l->h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        l->h = (l->h ^ b[i]) * 1099511628211ull;
}

static inline void fz_mix_str(struct fz_log *l, const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    fz_mix(l, s, n + 1);
}

/* Calls feed(dir, bytes, len, now) for every record, whole or byte by byte. */
#define FZ_FOR_RECORDS(data, size, bytewise, FEED)                                                 \
    do {                                                                                           \
        size_t _i = 0;                                                                             \
        uint64_t _now = 1;                                                                         \
        while (_i < (size)) {                                                                      \
            int dir = (data)[_i] >> 7;                                                             \
            size_t _n = (data)[_i] & 0x7f;                                                         \
            _i++;                                                                                  \
            if (_n > (size)-_i)                                                                    \
                _n = (size)-_i;                                                                    \
            const char *_b = (const char *)(data) + _i;                                            \
            if (bytewise) {                                                                        \
                for (size_t _k = 0; _k < _n; _k++)                                                 \
                    FEED(dir, _b + _k, 1, _now);                                                   \
            } else {                                                                               \
                FEED(dir, _b, _n, _now);                                                           \
            }                                                                                      \
            _i += _n;                                                                              \
            _now++;                                                                                \
        }                                                                                          \
    } while (0)

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#endif
