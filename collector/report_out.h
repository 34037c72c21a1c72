/*
 * report_out.h - writes a report model in one of the output formats, to
 * stdout, a file, or (csv, html, json into a directory) the suite's files.
 */
#ifndef CHIM_REPORT_OUT_H
#define CHIM_REPORT_OUT_H

#include <cjson/cJSON.h>

/* format: text|json|csv|html; out: NULL (stdout), a file, or a directory.
 * Returns 0, or 2 with a one-line error prefixed by `who` on stderr. */
int chim_report_output(const cJSON *report, const char *format, const char *out, const char *who);

#endif
