/*
 * report_out.c - output formats of a report (see report_out.h). Text and
 * JSON are written here; CSV and HTML come from the analyzer library.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chim_analyzer.h"
#include "report.h"
#include "report_out.h"

static int is_dir(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int write_stream(const cJSON *r, const char *format, FILE *f)
{
    if (!strcmp(format, "text")) {
        chim_report_print_text(r, f);
        return 0;
    }
    char *s = cJSON_Print(r);
    if (!s)
        return -ENOMEM;
    fputs(s, f);
    fputc('\n', f);
    free(s);
    return 0;
}

/* Writes the suite's file of this format into a directory (the analyzer's
 * writers; gates and the newest baseline are included). */
static int chim_report_files(const cJSON *r, const char *format, const char *dir, const char *who)
{
    char path[4096], err[512];
    if (chim_report_write_files(r, format, dir, NULL, NULL, true, path, sizeof path, err,
                                sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", who, err);
        return 2;
    }
    fprintf(stderr, "%s: wrote %s\n", who, path);
    return 0;
}

int chim_report_output(const cJSON *r, const char *format, const char *out, const char *who)
{
    int known = !strcmp(format, "text") || !strcmp(format, "json") || !strcmp(format, "csv") ||
                !strcmp(format, "html");
    if (!known) {
        fprintf(stderr, "%s: unknown format '%s' (text, json, csv, html)\n", who, format);
        return 2;
    }
    if (is_dir(out) || !strcmp(format, "csv") || !strcmp(format, "html"))
        return chim_report_files(r, format, out ? out : ".", who);
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s\n", who, out, strerror(errno));
        return 2;
    }
    int rc = write_stream(r, format, f);
    if (out && fclose(f) != 0)
        rc = -errno;
    if (rc) {
        fprintf(stderr, "%s: writing %s failed: %s\n", who, out ? out : "stdout", strerror(-rc));
        return 2;
    }
    return 0;
}
