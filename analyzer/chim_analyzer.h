/*
 * chim_analyzer.h - the analyzer library: configuration (the seed suite's
 * JSON keys and PERF_* variables), the six performance gates and six
 * targets, baselines, noise-aware regression verdicts and the report files
 * (JSON, CSV, self-contained HTML, JUnit XML).
 *
 * The library never exits and never prints except to the FILE it is given.
 * Functions that can fail return 0 or a negative errno and, where they take
 * an err buffer, put one line there naming the file, key and reason.
 * Every report field may be missing: a missing block is "no data", never 0.
 */
#ifndef CHIM_ANALYZER_H
#define CHIM_ANALYZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#define CHIM_REPORT_SCHEMA   "chim.report/1"
#define CHIM_BASELINE_SCHEMA "chim.baseline/1"
#define CHIM_CONFIG_SCHEMA   "chim.config/1"
#define CHIM_PATTERN_MAX     256

/* ---------------------------------------------------------------- config */

struct chim_config {
    struct {                                   /* "performance_targets" */
        double api_response_p95_ms;            /* 2000 */
        double llm_provider_p95_ms;            /* 10000 */
        double transformation_p95_ms;          /* 1000 */
        double concurrent_requests_per_second; /* 150 */
        double memory_optimization_percent;    /* 30 */
        double cache_hit_ratio_percent;        /* 85 */
    } targets;
    struct {                           /* "performance_gates" */
        double max_response_time_ms;   /* 2000 */
        double min_throughput_rps;     /* 150 */
        double max_memory_mb;          /* 1024 */
        double min_cache_hit_ratio;    /* 0.85 */
        double max_error_rate;         /* 0.01 */
        double max_regression_percent; /* 10 */
    } gates;
    struct {                          /* "test_configuration" */
        double test_duration_seconds; /* 60 */
        int concurrent_users;         /* 50 */
        double request_rate;          /* 10 per user */
        bool fail_on_regression;      /* true */
        bool skip_slow_tests;         /* false */
    } test;
    struct { /* "measurement_mapping": comma-separated fnmatch globs */
        char api_routes[CHIM_PATTERN_MAX];            /* "*" */
        char llm_upstreams[CHIM_PATTERN_MAX];         /* "*" (http upstreams) */
        char llm_routes[CHIM_PATTERN_MAX];            /* "" */
        char transformation_routes[CHIM_PATTERN_MAX]; /* "*transform*" */
        char cache_source[16];                        /* "wire" | "routes" */
    } mapping;
    struct {                      /* "regression_analysis" */
        double alpha;             /* 0.05 */
        bool fail_on_unconfirmed; /* false: single-run changes never fail */
        char baseline_dir[1024];  /* "performance_baselines" */
    } regression;
};

/* Fills the seed's defaults. */
void chim_config_defaults(struct chim_config *cfg);
/* Merges a JSON config file; unknown keys are warned about on warn (may be
 * NULL); wrong types and impossible values are errors. */
int chim_config_load_file(struct chim_config *cfg, const char *path, FILE *warn, char *err,
                          size_t errlen);
/* Applies the PERF_* variables present in the environment. */
int chim_config_apply_env(struct chim_config *cfg, char *err, size_t errlen);
/* Sets one key from text: "section.key=value" or "key=value" (when unique). */
int chim_config_set(struct chim_config *cfg, const char *assignment, char *err, size_t errlen);
/* Checks impossible values; names the key. */
int chim_config_validate(const struct chim_config *cfg, char *err, size_t errlen);
/* defaults < file (may be NULL) < environment < sets[] (command line). */
int chim_config_resolve(struct chim_config *cfg, const char *path, char *const *sets, size_t nsets,
                        FILE *warn, char *err, size_t errlen);
/* The effective configuration in the config file's own form. */
cJSON *chim_config_to_json(const struct chim_config *cfg);

/* --------------------------------------------------------------- reports */

/* Reads and validates a report written by 'chimcollect report --format json'
 * (also accepts performance_report_*.json). NULL on error, err says why. */
cJSON *chim_report_load(const char *path, char *err, size_t errlen);
/* Validates a report tree already in memory (schema, field types). */
int chim_report_validate(const cJSON *report, const char *name, char *err, size_t errlen);

/* ------------------------------------------------------------ metrics */

enum chim_metric_id {
    CHIM_M_API_P95,
    CHIM_M_LLM_P95,
    CHIM_M_TRANSFORM_P95,
    CHIM_M_THROUGHPUT,
    CHIM_M_PEAK_MEMORY,
    CHIM_M_CACHE_HIT,
    CHIM_M_ERROR_RATE,
    CHIM_M_COUNT
};

struct chim_metrics {
    double v[CHIM_M_COUNT];
    bool has[CHIM_M_COUNT];
    const char *why[CHIM_M_COUNT]; /* reason when !has (static string) */
    double requests, errors;       /* of the API routes */
};

/* Extracts the gate metrics from a report under the config's mapping. */
void chim_metrics_extract(const cJSON *report, const struct chim_config *cfg,
                          struct chim_metrics *m);
const char *chim_metric_name(enum chim_metric_id id); /* "api_p95_ms" */
const char *chim_metric_unit(enum chim_metric_id id); /* "ms" */
bool chim_metric_higher_is_worse(enum chim_metric_id id);

/* ------------------------------------------------- statistics, regressions */

struct chim_mwu {
    double u; /* U of x: pairs with x > y, ties count 1/2 */
    double p; /* one-sided P(U >= u) under H0 */
    bool exact;
};
/* One-sided Mann-Whitney U test that x tends to be greater than y. Exact
 * (ties included) for small samples, normal approximation otherwise. */
int chim_mwu_greater(const double *x, size_t nx, const double *y, size_t ny, struct chim_mwu *out);
/* Exact P(U <= u) for sample sizes m, n without ties (the tables' law). */
double chim_mwu_cdf(size_t m, size_t n, double u);

enum chim_reg_class {
    CHIM_CLASS_NONE,
    CHIM_CLASS_MINOR,    /* 10 <= w <= 25 */
    CHIM_CLASS_MAJOR,    /* 25 < w <= 50 */
    CHIM_CLASS_CRITICAL, /* w > 50 */
    CHIM_CLASS_IMPROVED  /* w <= -10 */
};
enum chim_verdict { CHIM_SAME, CHIM_DIFFERENT, CHIM_UNKNOWN, CHIM_UNCONFIRMED };

/* Classes a worsening in percent (positive = worse). */
enum chim_reg_class chim_regression_class(double worsening_percent);
const char *chim_class_name(enum chim_reg_class c);
const char *chim_verdict_name(enum chim_verdict v);

struct chim_regression {
    enum chim_metric_id metric; /* CHIM_M_API_P95 for a per-route row */
    bool per_route;
    char label[160]; /* metric name, or "p95 GET /route" */
    size_t n_base, n_cur;
    double base_median, cur_median;
    double ratio;             /* cur_median / base_median */
    double change_percent;    /* signed, (ratio - 1) x 100 */
    double worsening_percent; /* change in the bad direction */
    double p;                 /* one-sided U p-value, or -1 with < 2 runs */
    enum chim_reg_class cls;
    enum chim_verdict verdict;
    bool exceeds; /* worsening > max_regression_percent and verdict != SAME */
    bool fails;   /* fails regression_check (see docs/ANALYZER.md) */
};

/* Compares one metric: base[nb] and cur[nc] hold one value per run. */
void chim_regression_compare(enum chim_metric_id id, const double *base, size_t nb,
                             const double *cur, size_t nc, const struct chim_config *cfg,
                             struct chim_regression *out);

/* ------------------------------------------------------------- baselines */

/* Validates and loads a baseline file; NULL with err on any problem. */
cJSON *chim_baseline_load(const char *path, char *err, size_t errlen);
int chim_baseline_validate(const cJSON *baseline, const char *name, char *err, size_t errlen);
/* A new, empty baseline (no runs yet). */
cJSON *chim_baseline_new(const struct chim_config *cfg);
/* Adds one run (one report) to a baseline. */
int chim_baseline_add_run(cJSON *baseline, const cJSON *report, const struct chim_config *cfg,
                          const char *source, char *err, size_t errlen);
size_t chim_baseline_run_count(const cJSON *baseline);
/* Metrics of run i, recomputed from its stored report under cfg. */
int chim_baseline_run_metrics(const cJSON *baseline, size_t i, const struct chim_config *cfg,
                              struct chim_metrics *m);
/* Writes dir/performance_baseline_<timestamp>.json (creates dir). */
int chim_baseline_save(const cJSON *baseline, const char *dir, char *path, size_t len, char *err,
                       size_t errlen);
/* Rewrites an existing baseline file in place (atomic rename). */
int chim_baseline_write(const cJSON *baseline, const char *path, char *err, size_t errlen);
/* Newest baseline in dir: 0 and path, -ENOENT when there is none. */
int chim_baseline_newest(const char *dir, char *path, size_t len);
/* Lists baselines in dir (newest last): name, runs, created_at. */
int chim_baseline_list(const char *dir, FILE *out, char *err, size_t errlen);
void chim_baseline_show(const cJSON *baseline, const struct chim_config *cfg, FILE *out);

/* -------------------------------------------------------------- analysis */

enum chim_status { CHIM_PASS, CHIM_FAIL, CHIM_NODATA };

struct chim_check {
    const char *name; /* "response_time", "api_response_p95_ms", ... */
    enum chim_status status;
    bool has_value;
    double value, limit;
    char text[256]; /* the seed-form text after "name: " */
};

#define CHIM_GATES         6
#define CHIM_MAX_ROUTE_REG 32
#define CHIM_TARGETS       6

struct chim_analysis {
    struct chim_check gates[CHIM_GATES];
    struct chim_check targets[CHIM_TARGETS];
    int gates_passed, targets_met;
    double score; /* gates passed / 6 x 100 */
    size_t n_runs, n_base_runs;
    struct chim_metrics cur; /* medians over the current runs */
    bool have_baseline;
    char baseline_name[256];
    struct chim_regression reg[CHIM_M_COUNT + CHIM_MAX_ROUTE_REG]; /* metrics, then routes */
    size_t n_reg;
};

/* Evaluates gates, targets and regressions. reports[n] are runs of the
 * current side (one report = one run); baseline may be NULL. */
int chim_analyze(const cJSON *const *reports, size_t n, const struct chim_config *cfg,
                 const cJSON *baseline, const char *baseline_name, struct chim_analysis *a);
/* Prints the seed's gate block, the score, the targets and regressions. */
void chim_analysis_print(const struct chim_analysis *a, FILE *out);
cJSON *chim_analysis_to_json(const struct chim_analysis *a);
/* JUnit XML: one testsuite for the gates, one for the targets. */
int chim_junit_write(const struct chim_analysis *a, const char *path, char *err, size_t errlen);

/* The gate entry point for verbs: analyzes, prints to out, writes JUnit when
 * junit_path != NULL. cfg NULL = defaults + PERF_* environment. Returns 0 all gates pass, 1 a gate
 * failed or has no data, 2 input error (message on stderr). */
int chim_gate_run(const cJSON *report, const struct chim_config *cfg, const cJSON *baseline,
                  FILE *out, const char *junit_path);
int chim_gate_run_multi(const cJSON *const *reports, size_t n, const struct chim_config *cfg,
                        const cJSON *baseline, const char *baseline_name, FILE *out,
                        const char *junit_path);

/* --------------------------------------------------------------- writers */

/* Writes one of the seed's report files into outdir (created if needed):
 *   "json" -> performance_report_<timestamp>.json (the report + "analysis")
 *   "csv"  -> performance_summary_<timestamp>.csv (one row per metric)
 *   "html" -> performance_dashboard.html (self-contained, inline SVG)
 * cfg NULL = defaults + PERF_* environment; baseline NULL = newest baseline
 * in cfg's baseline_dir if any (pass use_baseline=false to skip it).
 * written_path receives the file's path. 0, or -errno/-EINVAL with err. */
int chim_report_write_files(const cJSON *report, const char *format, const char *outdir,
                            const struct chim_config *cfg, const cJSON *baseline, bool use_baseline,
                            char *written_path, size_t len, char *err, size_t errlen);
/* Writes text to path atomically (path.tmp, then rename). */
int chim_write_file(const char *path, const char *text, char *err, size_t errlen);
/* The individual writers, to a stream. */
int chim_report_write_json(const cJSON *report, const struct chim_analysis *a, FILE *out);
int chim_report_write_csv(const cJSON *report, const struct chim_analysis *a, FILE *out);
int chim_report_write_html(const cJSON *report, const struct chim_analysis *a, FILE *out);

#endif
