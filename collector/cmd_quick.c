/*
 * cmd_quick.c - `chimcollect quick`: a short run against the demo backend
 * (started here under the agent, with the mock LLM provider behind it) or
 * against the user's backend, then the suite's gate report. Exit codes are
 * the analyzer's: 0 all gates pass, 1 a gate failed, 2 usage or input error.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "quick.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: chimcollect quick [--config F] [--set KEY=VALUE]... [--duration S]\n"
                 "                         [--users N] [--rate R] [--scenario api|llm]\n"
                 "                         [--baseline F | --no-baseline] [--save-baseline]\n"
                 "                         [--junit FILE] [--out DIR] [--mode M] [--allocator A]\n"
                 "                         [--target URL [-- CMD ARGS...]] [-v]\n\n"
                 "Starts the demo backend under the agent (with the mock LLM provider),\n"
                 "drives load for S seconds (default 10, or PERF_TEST_DURATION), stops it,\n"
                 "and prints the performance gate report. --target URL drives your backend\n"
                 "instead; with '-- CMD' it is started under the agent first (otherwise only\n"
                 "the load generator's client-side figures are available). --out DIR writes\n"
                 "performance_report_<ts>.json, performance_summary_<ts>.csv and\n"
                 "performance_dashboard.html; --save-baseline saves this run as a new\n"
                 "baseline in performance_baselines/. Exit: 0 pass, 1 a gate failed, 2 error.\n");
}

int chim_cmd_quick(int argc, char **argv)
{
    static const struct option opts[] = {{"config", 1, 0, 'c'},
                                         {"set", 1, 0, 's'},
                                         {"duration", 1, 0, 'd'},
                                         {"users", 1, 0, 'u'},
                                         {"rate", 1, 0, 'r'},
                                         {"scenario", 1, 0, 'S'},
                                         {"baseline", 1, 0, 'b'},
                                         {"no-baseline", 0, 0, 'B'},
                                         {"save-baseline", 0, 0, 'W'},
                                         {"junit", 1, 0, 'j'},
                                         {"out", 1, 0, 'o'},
                                         {"mode", 1, 0, 'm'},
                                         {"allocator", 1, 0, 'a'},
                                         {"target", 1, 0, 't'},
                                         {"verbose", 0, 0, 'v'},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct chim_quick_opts q;
    chim_quick_opts_init(&q, "chimcollect quick");
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:s:d:u:r:S:b:BWj:o:m:a:t:vh", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (chim_quick_opt(&q, c, optarg) != 0) {
            usage(stderr);
            return 2;
        }
    }
    q.verbose += chim_verbose;
    if (optind < argc) {
        q.cmd = argv + optind;
        if (!q.target) {
            fprintf(stderr, "chimcollect quick: '-- CMD' needs --target URL (where CMD listens)\n");
            return 2;
        }
    }
    return chim_quick_run(&q);
}
