/*
 * metrics.h: the Prometheus text exposition of the inventory.
 */
#ifndef KW_METRICS_H
#define KW_METRICS_H

#include "../common/kw_err.h"
#include "../keystore/ks_store.h"

#include <stddef.h>
#include <stdint.h>

/* What only the running daemon knows (counters since it started). */
typedef struct kw_metrics_counters {
    uint64_t scans_total;
    uint64_t scan_errors_total;   /* broken certificate files seen */
    uint64_t scan_skipped_total;  /* files skipped as not certificates */
    uint64_t jobs_ok_total[4]; /* [0] scan, [1] probe, [2] renew, [3]
                                  precheck */
    uint64_t jobs_failed_total[4];
    int64_t started_at;
} kw_metrics_counters;

/* Render the metrics (format 0.0.4) into a malloc'd buffer.  Absolute
 * timestamps, not "days left": alert rules compute the rest. */
int kw_metrics_render(ks_store *s, const kw_metrics_counters *c,
                      int64_t now, char **out, size_t *len, kw_diag *d);

#endif
