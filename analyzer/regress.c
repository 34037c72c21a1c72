/*
 * regress.c - regression verdicts per metric. The change is the ratio of
 * medians (one value per run); its size is classed as in the seed (minor
 * 10-25 %, major 25-50 %, critical > 50 %); its reality is judged by a
 * one-sided Mann-Whitney U test at alpha (0.05): DIFFERENT needs both
 * p <= alpha and at least a minor change; with 3 or fewer runs on a side
 * only complete separation can reach p <= 0.05, so a non-significant
 * result there is UNKNOWN rather than SAME. A single run on a side cannot
 * be tested at all: the change is shown, UNCONFIRMED.
 */
#include <math.h>
#include <stdlib.h>

#include "analyzer_internal.h"

/* Error rates of zero would make any error an infinite change. */
#define ERROR_RATE_FLOOR 0.001

enum chim_reg_class chim_regression_class(double w)
{
    if (w > 50)
        return CHIM_CLASS_CRITICAL;
    if (w > 25)
        return CHIM_CLASS_MAJOR;
    if (w >= 10)
        return CHIM_CLASS_MINOR;
    if (w <= -10)
        return CHIM_CLASS_IMPROVED;
    return CHIM_CLASS_NONE;
}

const char *chim_class_name(enum chim_reg_class c)
{
    static const char *n[] = {"none", "minor", "major", "critical", "improved"};
    return (unsigned)c < 5 ? n[c] : "?";
}

const char *chim_verdict_name(enum chim_verdict v)
{
    static const char *n[] = {"SAME", "DIFFERENT", "UNKNOWN", "UNCONFIRMED"};
    return (unsigned)v < 4 ? n[v] : "?";
}

/* Signed change in percent of cur against base; rounded to 1e-9 so that
 * class edges (exactly 10, 25, 50 %) are not lost to binary fractions. */
static double change_percent(enum chim_metric_id id, double base, double cur)
{
    double den = fabs(base);
    if (id == CHIM_M_ERROR_RATE && den < ERROR_RATE_FLOOR)
        den = ERROR_RATE_FLOOR;
    if (den == 0)
        return cur == base ? 0 : (cur > base ? INFINITY : -INFINITY);
    double c = (cur - base) / den * 100.0;
    return round(c * 1e9) / 1e9;
}

/* p-value that cur is worse than base (one-sided), or -1 on failure. */
static double p_worse(enum chim_metric_id id, const double *base, size_t nb, const double *cur,
                      size_t nc)
{
    struct chim_mwu r;
    int rc;
    if (chim_metric_higher_is_worse(id)) {
        rc = chim_mwu_greater(cur, nc, base, nb, &r);
    } else {
        rc = chim_mwu_greater(base, nb, cur, nc, &r);
    }
    return rc ? -1 : r.p;
}

static enum chim_verdict verdict(double p, double w, size_t nb, size_t nc, double alpha)
{
    if (nb < 2 || nc < 2 || p < 0)
        return CHIM_UNCONFIRMED;
    if (p <= alpha)
        return w >= 10 ? CHIM_DIFFERENT : CHIM_SAME;
    return (nb <= 3 || nc <= 3) ? CHIM_UNKNOWN : CHIM_SAME;
}

void chim_regression_compare(enum chim_metric_id id, const double *base, size_t nb,
                             const double *cur, size_t nc, const struct chim_config *cfg,
                             struct chim_regression *o)
{
    *o = (struct chim_regression){.metric = id, .n_base = nb, .n_cur = nc, .p = -1};
    snprintf(o->label, sizeof o->label, "%s", chim_metric_name(id));
    if (!nb || !nc)
        return;
    o->base_median = chim__median(base, nb);
    o->cur_median = chim__median(cur, nc);
    o->ratio = o->base_median != 0 ? o->cur_median / o->base_median : NAN;
    o->change_percent = change_percent(id, o->base_median, o->cur_median);
    o->worsening_percent = chim_metric_higher_is_worse(id) ? o->change_percent : -o->change_percent;
    o->cls = chim_regression_class(o->worsening_percent);
    if (nb >= 2 && nc >= 2)
        o->p = p_worse(id, base, nb, cur, nc);
    o->verdict = verdict(o->p, o->worsening_percent, nb, nc, cfg->regression.alpha);
    o->exceeds =
        o->worsening_percent > cfg->gates.max_regression_percent && o->verdict != CHIM_SAME;
    bool big = o->cls == CHIM_CLASS_MAJOR || o->cls == CHIM_CLASS_CRITICAL;
    bool confirmed = o->verdict == CHIM_DIFFERENT ||
                     (cfg->regression.fail_on_unconfirmed && o->verdict != CHIM_SAME);
    o->fails = cfg->test.fail_on_regression && o->exceeds && big && confirmed;
}
