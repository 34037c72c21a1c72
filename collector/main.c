/*
 * main.c - chimcollect's entry point: global flags and the verb table.
 * Every verb lives in its own cmd_<verb>.c (see commands.h).
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

int chim_verbose;

struct verb {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
};

static const struct verb verbs[] = {
    {"report", chim_cmd_report, "report every instrumented process (text, json, csv, html)"},
    {"run", chim_cmd_run, "run a command under the agent and print its report"},
    {"clean", chim_cmd_clean, "remove the segments of processes that are gone"},
    {"leaks", chim_cmd_leaks, "rank call sites by live and growing memory"},
    {"gate", chim_cmd_gate, "check the performance gates (exit 1 on failure)"},
    {"baseline", chim_cmd_baseline, "save, list or show performance baselines"},
    {"config", chim_cmd_config, "print or write the effective configuration"},
    {"load", chim_cmd_load, "drive HTTP load against a target (--scenario api|llm)"},
    {"quick", chim_cmd_quick, "short run against the demo or your backend, then gate"},
    {"full", chim_cmd_full, "every scenario of the suite; reports and a baseline"},
    {"serve", chim_cmd_serve, "serve /metrics for Prometheus"},
    {"export", chim_cmd_export, "write metrics once (prometheus, openmetrics, otlp-json)"},
    {"top", chim_cmd_top, "live view of processes, routes and growing sites"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: chimcollect [-v] [--version] VERB [ARGS...]\n\nverbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        fprintf(out, "  %-9s %s\n", verbs[i].name, verbs[i].summary);
    fprintf(out, "\n'chimcollect VERB --help' describes one verb.\n");
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            chim_verbose++;
        } else if (!strcmp(argv[i], "--version")) {
            printf("chimcollect %s\n", CHIM_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "chimcollect: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++)
        if (!strcmp(argv[i], verbs[v].name)) {
            /* getopt prefixes its messages with argv[0]: "chimcollect report:
             * unrecognized option", like the verbs' own messages. */
            char name[64];
            snprintf(name, sizeof name, "chimcollect %s", verbs[v].name);
            argv[i] = name;
            return verbs[v].fn(argc - i, argv + i);
        }
    if (!strcmp(argv[i], "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "chimcollect: unknown verb '%s' (try --help)\n", argv[i]);
    return 2;
}
