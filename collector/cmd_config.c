/*
 * cmd_config.c - 'chimcollect config': prints or writes the effective
 * configuration (defaults < --config < PERF_* environment < --set) in the
 * config file's own JSON form; the seed's
 * "performance_runner config --output FILE".
 */
#include <stdlib.h>
#include <string.h>

#include "chim_analyzer.h"
#include "commands.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: chimcollect config [--config FILE] [--set KEY=VALUE]... [--output "
                 "FILE]\n\n"
                 "Prints the effective configuration as JSON (or writes it to --output):\n"
                 "defaults < --config FILE < PERF_* environment < --set KEY=VALUE.\n"
                 "Keys: performance_targets.*, performance_gates.*, test_configuration.*,\n"
                 "measurement_mapping.*, regression_analysis.* (see docs/ANALYZER.md).\n"
                 "Exit status: 0 success, 2 usage, configuration or write error.\n");
}

int chim_cmd_config(int argc, char **argv)
{
    const char *config = NULL, *output = NULL;
    char *sets[64], err[512];
    size_t nsets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 < argc && !strcmp(argv[i], "--config"))
            config = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--output"))
            output = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--set") && nsets < 64)
            sets[nsets++] = argv[++i];
        else {
            fprintf(stderr, "chimcollect config: unknown or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    struct chim_config cfg;
    if (chim_config_resolve(&cfg, config, sets, nsets, stderr, err, sizeof err)) {
        fprintf(stderr, "chimcollect config: %s\n", err);
        return 2;
    }
    cJSON *j = chim_config_to_json(&cfg);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text) {
        fprintf(stderr, "chimcollect config: out of memory\n");
        return 2;
    }
    size_t n = strlen(text);
    char *t2 = realloc(text, n + 2);
    if (t2) {
        text = t2;
        strcpy(text + n, "\n");
    }
    int rc = 0;
    if (!output)
        fputs(text, stdout);
    else if (chim_write_file(output, text, err, sizeof err)) {
        fprintf(stderr, "chimcollect config: %s\n", err);
        rc = 2;
    } else
        fprintf(stderr, "Configuration written to %s\n", output);
    free(text);
    return rc;
}
