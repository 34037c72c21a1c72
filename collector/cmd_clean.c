/*
 * cmd_clean.c - `chimcollect clean`: removes the segments of processes that
 * are gone (exited, vanished, replaced by exec). Running ones stay.
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "segment.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: chimcollect clean [--dir D] [--dry-run]\n\n"
                 "Removes the segments of processes that have exited, were killed or\n"
                 "exec'd; segments of running processes are kept.\n");
}

int chim_cmd_clean(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", 1, 0, 'd'}, {"dry-run", 0, 0, 'n'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *dir = NULL;
    int dry = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'n':
            dry = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!dir)
        dir = chim_default_dir();
    struct chim_seg_set set;
    int rc = chim_seg_load_dir(dir, &set, stderr);
    if (rc == -ENOENT)
        return 0;
    if (rc) {
        fprintf(stderr, "chimcollect clean: cannot read %s: %s\n", dir, strerror(-rc));
        return 2;
    }
    size_t removed = 0, kept = 0;
    for (size_t i = 0; i < set.n; i++) {
        if (set.segs[i].state == CHIM_SEG_RUNNING) {
            kept++;
            continue;
        }
        if (dry || unlink(set.segs[i].path) == 0)
            removed++;
        else
            fprintf(stderr, "chimcollect clean: cannot remove %s: %s\n", set.segs[i].path,
                    strerror(errno));
    }
    printf("%s %zu segment%s, kept %zu of running processes\n", dry ? "would remove" : "removed",
           removed, removed == 1 ? "" : "s", kept);
    chim_seg_set_free(&set);
    return 0;
}
