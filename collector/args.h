/*
 * args.h - checked parsing of the numbers chimcollect's verbs take (process
 * ids, counts, byte sizes with K/M/G suffixes): a value that does not parse
 * gets one line on stderr naming the verb and the option, and the verb
 * exits 2, instead of being read as 0 or cut at its first bad character.
 */
#ifndef CHIM_ARGS_H
#define CHIM_ARGS_H

#include <stdint.h>

/* An integer in [lo, hi] from all of s. 0, or -1 after printing
 * "<verb>: --<opt> wants <what>, got '<s>'". */
int chim_arg_long(const char *verb, const char *opt, const char *what, const char *s, long lo,
                  long hi, long *out);

/* chim_arg_long into an int (lo and hi within int's range). */
int chim_arg_int(const char *verb, const char *opt, const char *what, const char *s, int lo, int hi,
                 int *out);

/* A process id (1 .. 2^22). */
int chim_arg_pid(const char *verb, const char *s, long *out);

/* Bytes: digits with an optional suffix, K/M/G/T or KiB/MiB/GiB/TiB
 * (powers of 1024), KB/MB/GB/TB (powers of 1000), B; case-insensitive. */
int chim_parse_bytes(const char *s, uint64_t *out);
int chim_arg_bytes(const char *verb, const char *opt, const char *s, uint64_t *out);

#endif
