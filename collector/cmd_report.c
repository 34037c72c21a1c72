/*
 * cmd_report.c - `chimcollect report`: every segment in the directory, per
 * process and aggregated, as text, JSON, or the analyzer's CSV and HTML.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "commands.h"
#include "report.h"
#include "report_out.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: chimcollect report [--dir D] [--pid P] [--format text|json|csv|html]\n"
                 "                          [--out FILE|DIR]\n\n"
                 "Reports every instrumented process in D (default $CHIM_DIR or\n"
                 "/dev/shm/chim-<uid>), running or gone, per process and in total.\n"
                 "--out FILE writes there instead of stdout; --out DIR (an existing\n"
                 "directory) writes the suite's files: performance_report_<ts>.json,\n"
                 "performance_summary_<ts>.csv, performance_dashboard.html.\n");
}

int chim_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"dir", 1, 0, 'd'},    {"pid", 1, 0, 'p'},
                                         {"format", 1, 0, 'f'}, {"out", 1, 0, 'o'},
                                         {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    const char *dir = NULL, *format = "text", *out = NULL;
    long pid = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:p:f:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'p':
            if (chim_arg_pid("chimcollect report", optarg, &pid))
                return 2;
            break;
        case 'f':
            format = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "chimcollect report: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    struct chim_seg_set set;
    int given = dir != NULL || getenv("CHIM_DIR") != NULL; /* a directory the user named */
    if (!dir)
        dir = chim_default_dir();
    int rc = chim_seg_load_dir(dir, &set, stderr);
    if (rc == -ENOENT && !given) {
        memset(&set, 0, sizeof set); /* no default directory yet: nothing ran */
    } else if (rc) {
        fprintf(stderr, "chimcollect report: cannot read %s: %s\n", dir, strerror(-rc));
        return 2;
    }
    if (!chim_seg_set_has_pid(&set, pid)) {
        fprintf(stderr, "chimcollect report: no segment of process %ld in %s\n", pid, dir);
        chim_seg_set_free(&set);
        return 1;
    }
    cJSON *r = chim_report_build(&set, dir, pid);
    chim_seg_set_free(&set);
    rc = chim_report_output(r, format, out, "chimcollect report");
    cJSON_Delete(r);
    return rc;
}
