/*
 * junit.c - JUnit XML for CI systems (Jenkins, GitLab, GitHub reporters):
 * one testsuite "performance_gates" with a testcase per gate (a failed gate
 * and a gate without data are <failure>s) and one "performance_targets".
 */
#include <errno.h>
#include <string.h>

#include "analyzer_internal.h"

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
                fputc(*s, f);
        }
    }
}

static void suite(FILE *f, const char *name, const struct chim_check *c, int n)
{
    int failures = 0;
    for (int i = 0; i < n; i++)
        failures += c[i].status != CHIM_PASS;
    fprintf(f, "  <testsuite name=\"%s\" tests=\"%d\" failures=\"%d\" errors=\"0\">\n", name, n,
            failures);
    for (int i = 0; i < n; i++) {
        fprintf(f, "    <testcase classname=\"chimera.%s\" name=\"%s\" time=\"0\">", name,
                c[i].name);
        if (c[i].status != CHIM_PASS) {
            fprintf(f, "\n      <failure type=\"%s\" message=\"",
                    c[i].status == CHIM_NODATA ? "nodata" : "threshold");
            xml_text(f, c[i].text);
            fputs("\"/>\n    ", f);
        }
        fputs("<system-out>", f);
        xml_text(f, c[i].text);
        fputs("</system-out></testcase>\n", f);
    }
    fputs("  </testsuite>\n", f);
}

int chim_junit_write(const struct chim_analysis *a, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return chim__err(err, errlen, -errno, "junit %s: %s", path, strerror(errno));
    int tests = CHIM_GATES + CHIM_TARGETS;
    int failures = (CHIM_GATES - a->gates_passed) + (CHIM_TARGETS - a->targets_met);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"chimera\" tests=\"%d\" failures=\"%d\" errors=\"0\">\n", tests,
            failures);
    suite(f, "performance_gates", a->gates, CHIM_GATES);
    suite(f, "performance_targets", a->targets, CHIM_TARGETS);
    fputs("</testsuites>\n", f);
    if (fclose(f) != 0)
        return chim__err(err, errlen, -EIO, "junit %s: write error", path);
    return 0;
}
