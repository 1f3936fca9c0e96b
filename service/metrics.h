/*
 * metrics.h: the Prometheus text exposition of the inventory.
 */
#ifndef KW_METRICS_H
#define KW_METRICS_H

#include "../common/kw_err.h"
#include "../keystore/ks_store.h"

#include <stddef.h>
#include <stdint.h>

/* Jobs of one type finished since the daemon started. */
typedef struct kw_metrics_jobs {
    const char *type; /* the label; not copied (a job type's name) */
    uint64_t ok, failed;
} kw_metrics_jobs;

/* A managed DKIM domain's rotation as the dkim-rotate job last saw it. */
typedef struct kw_metrics_rot {
    char domain[256];
    char stage[16];          /* "" before the first rotation */
    int health;              /* ks_health */
    int64_t next_rotation;   /* 0: unknown */
} kw_metrics_rot;

/* What only the running daemon knows (counters since it started).
 * Zeroed is empty; kw_metrics_counters_free() frees jobs. */
typedef struct kw_metrics_counters {
    uint64_t scans_total;
    uint64_t scan_errors_total;   /* broken certificate files seen */
    uint64_t scan_skipped_total;  /* files skipped as not certificates */
    kw_metrics_jobs *jobs;        /* one per job type, rendered in this
                                   * order, zeros included */
    size_t njobs, cap;
    int64_t started_at;
    int64_t dkim_checked_at;      /* the last DKIM check's end; 0 none */
    size_t dkim_selectors;        /* selectors it checked */
    kw_metrics_rot *rots;         /* the last dkim-rotate job's domains */
    size_t nrots;
} kw_metrics_counters;

/* Count jobs of type (added at the end when new).  KW_ENOMEM. */
int kw_metrics_add_job_type(kw_metrics_counters *c, const char *type);
/* A job of type ended; a type never added is not counted. */
void kw_metrics_job_ended(kw_metrics_counters *c, const char *type, int ok);
/* The rotations' lines: a copy of v[n] replaces the last ones (on the
 * loop).  On failure (out of memory) the old lines are dropped, not
 * left to pass for current ones. */
void kw_metrics_set_rotations(kw_metrics_counters *c,
                              const kw_metrics_rot *v, size_t n);
/* dst = a copy of src with its own jobs and rotations arrays (a render on the pool
 * reads it while the loop counts on).  KW_ENOMEM. */
int kw_metrics_counters_copy(kw_metrics_counters *dst,
                             const kw_metrics_counters *src);
void kw_metrics_counters_free(kw_metrics_counters *c);

/* Render the metrics (format 0.0.4) into a malloc'd buffer.  Absolute
 * timestamps, not "days left": alert rules compute the rest. */
int kw_metrics_render(ks_store *s, const kw_metrics_counters *c,
                      int64_t now, char **out, size_t *len, kw_diag *d);

#endif
