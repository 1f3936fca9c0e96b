/*
 * ks_outbox.h: the rows behind hook deliveries (outbox, hook_runs,
 * hook_stats, meta.hook_cursor) and the inventory reads the hooks need.
 *
 * hooks/hook_outbox.c keeps the logic (which hook takes which event, when
 * a delivery is due, retries, coalescing, event documents); this module
 * only runs its SQL, so the keystore stays the one place that does.  The
 * states a delivery moves through are described in hooks/hook_outbox.h.
 *
 * Every function runs on the caller's thread and blocks on SQLite (busy
 * timeout included).  None opens a transaction: the caller brackets the
 * steps that must be atomic with ks_begin()/ks_commit().  Strings handed
 * to a callback belong to SQLite and live until the callback returns;
 * copy what must outlive it.  A walk stops at a callback's first nonzero
 * return and returns that value, so a callback can fail with a kw error
 * it has set in the diag.  Errors otherwise name what was read or written
 * and the database file (ks_db_error()).
 */
#ifndef KS_OUTBOX_H
#define KS_OUTBOX_H

#include "ks_store.h"

#include <stddef.h>
#include <stdint.h>

/* ---- events ------------------------------------------------------------ */

/* An event with what the inventory knows of its object.  has_* are 0 where
 * the column is NULL; text columns are NULL then. */
typedef struct ks_outbox_event {
    int64_t id, at;
    const char *type, *detail;            /* detail: JSON text */
    const char *obj_name, *obj_kind;
    int has_object_id;
    int64_t object_id;
    /* Filled by ks_outbox_event_read() only: */
    int has_obj_not_after;
    int64_t obj_not_after;
    const char *obj_sans, *obj_fingerprint; /* sans: JSON array text */
    const char *file_path, *key_path;
    const char *cert_names;               /* the managed certificate's */
    int has_cert_not_after;
    int64_t cert_not_after;
    const char *cert_fingerprint;
} ks_outbox_event;

/* Call cb once with event event_id, its object, file and managed
 * certificate (named by detail.certificate).  KW_ENOTFOUND when there is
 * no such event. */
int ks_outbox_event_read(ks_store *s, int64_t event_id,
                         int (*cb)(void *ctx, const ks_outbox_event *e),
                         void *ctx, kw_diag *d);

/* Call cb for up to limit events after id cursor, oldest first (the
 * fields up to object_id only).  *n counts the rows read. */
int ks_outbox_events_after(ks_store *s, int64_t cursor, int limit,
                           int (*cb)(void *ctx, const ks_outbox_event *e),
                           void *ctx, size_t *n, kw_diag *d);

/* The id of the last event turned into deliveries (0 before the first). */
int ks_outbox_cursor_get(ks_store *s, int64_t *cursor, kw_diag *d);
int ks_outbox_cursor_set(ks_store *s, int64_t cursor, kw_diag *d);

/* Is there an event after the cursor? */
int ks_outbox_events_pending(ks_store *s, int *pending, kw_diag *d);

/* ---- queueing ----------------------------------------------------------- */

/* A prepared insert of deliveries, for the events of one dispatch step.
 * Free it with ks_outbox_queue_close() before the transaction ends. */
typedef struct ks_outbox_queue ks_outbox_queue;

int ks_outbox_queue_open(ks_store *s, ks_outbox_queue **out, kw_diag *d);
/* A pending delivery of event_id to hook, due at due (object may be NULL;
 * object_id 0 stores none).  *added is 1, or 0 when the pair was queued
 * already. */
int ks_outbox_queue_add(ks_outbox_queue *q, int64_t event_id,
                        const char *hook, int64_t due, const char *object,
                        const char *kind, int64_t object_id, int64_t now,
                        int *added, kw_diag *d);
void ks_outbox_queue_close(ks_outbox_queue *q);

/* ---- deliveries -------------------------------------------------------- */

/* Call cb with each hook that has pending, running or failed
 * deliveries. */
int ks_outbox_open_hooks(ks_store *s,
                         int (*cb)(void *ctx, const char *hook), void *ctx,
                         kw_diag *d);

/* Close (done, saying why) the open and failed deliveries of hook, which
 * left the configuration; *n counts them. */
int ks_outbox_close_hook(ks_store *s, const char *hook, int64_t now,
                         size_t *n, kw_diag *d);

/* Running deliveries back to pending: all (hook NULL, before) or, for
 * hook, those whose lease ended before before.  *n (may be NULL) counts
 * them. */
int ks_outbox_release(ks_store *s, const char *hook, int64_t before,
                      size_t *n, kw_diag *d);

/* Is hook free to claim (nothing running) with something pending?  Then
 * *has is 1 and *first_due the earliest pending next_at. */
int ks_outbox_claimable(ks_store *s, const char *hook, int *has,
                        int64_t *first_due, kw_diag *d);

/* Lease up to limit pending deliveries of hook until lease_until, oldest
 * event first: every pending one when all is set, else those due at now
 * and, when first_too is set, every first delivery.  cb sees each row
 * (attempt: tries so far) before it is marked running. */
int ks_outbox_claim_each(ks_store *s, const char *hook, int all, int64_t now,
                         int first_too, int limit, int64_t lease_until,
                         int (*cb)(void *ctx, int64_t row, int64_t event_id,
                                   int attempt),
                         void *ctx, kw_diag *d);

/* The earliest pending next_at or running lease end of hook. */
int ks_outbox_next_due(ks_store *s, const char *hook, int64_t *at, int *has,
                       kw_diag *d);

/* A running delivery settled by run run_id: done (ok), else pending again
 * at next_at or failed for good (give_up).  *changed is 0 when the row was
 * no longer running and was left alone. */
int ks_outbox_settle(ks_store *s, int64_t row, int ok, int give_up,
                     int attempt, int64_t run_id, int64_t next_at,
                     int64_t now, const char *why, int *changed, kw_diag *d);

/* Has the event a pending or running delivery? */
int ks_outbox_event_open(ks_store *s, int64_t event_id, int *open,
                         kw_diag *d);

/* Failed deliveries back to pending, due now: hook's, or all (NULL). */
int ks_outbox_retry(ks_store *s, const char *hook, int64_t now, size_t *n,
                    kw_diag *d);

/* ---- runs ------------------------------------------------------------------ */

/* One run of a hook, as recorded and as read back. */
typedef struct ks_outbox_run {
    int64_t id;
    char hook[128];
    int64_t started_at, finished_at;
    int attempt;
    char events[256];     /* JSON array of event ids, cut */
    char event_type[64];
    char object[256];
    char result[16];
    int exit_status;      /* -1: none */
    int signal;
    int64_t duration_ms;
    const char *output;   /* valid during the callback */
    char last_line[512];
    char error[512];
    int test;
} ks_outbox_run;

/* What ks_outbox_run_add() stores (NULL and negative: none). */
typedef struct ks_outbox_run_rec {
    const char *hook;
    int64_t started_at, finished_at;
    int attempt;
    const char *events, *event_type, *object, *result;
    int exit_status;      /* < 0: none */
    int signal;           /* 0: none */
    int64_t duration_ms;
    const char *output;
    size_t output_len;
    const char *last_line, *error; /* error "": none */
    int test;             /* a test run: not counted */
} ks_outbox_run_rec;

/* Record a run (*run_id its id) and, unless a test, count it by result. */
int ks_outbox_run_add(ks_store *s, const ks_outbox_run_rec *r,
                      int64_t *run_id, kw_diag *d);

/* Keep the newest keep runs of hook. */
int ks_outbox_runs_prune(ks_store *s, const char *hook, int64_t keep,
                         kw_diag *d);

/* Runs, newest first: of hook (NULL: all), at most limit (<= 0: all). */
int ks_outbox_history(ks_store *s, const char *hook, int limit,
                      int (*cb)(void *ctx, const ks_outbox_run *r),
                      void *ctx, kw_diag *d);

/* ---- failures and summaries --------------------------------------------- */

/* A hook that failed for good on an object and has not succeeded for it
 * since. */
typedef struct ks_outbox_failure {
    char hook[128];
    char object[256];
    char kind[32];
    int64_t object_id;      /* the inventory object, or 0 */
    char fingerprint[96];   /* a managed certificate's live leaf, or "" */
    char event_type[64];
    int attempts;
    int64_t at;
    char last_line[512];
} ks_outbox_failure;

int ks_outbox_failures(ks_store *s,
                       int (*cb)(void *ctx, const ks_outbox_failure *f),
                       void *ctx, kw_diag *d);

/* Call cb with the id of each current object whose leaf has fingerprint
 * fp.  Rows that cannot be read end the walk without an error. */
int ks_outbox_objects_by_fingerprint(ks_store *s, const char *fp,
                                     int (*cb)(void *ctx, int64_t id),
                                     void *ctx, kw_diag *d);

/* Per hook: open (pending or running) and failed deliveries, and runs by
 * result with the last success. */
typedef struct ks_outbox_summary {
    int64_t pending, failed;
    int64_t runs_ok, runs_failed; /* failed counts timeout and error too */
    int64_t last_run_at, last_ok_at;
    char last_result[16];
} ks_outbox_summary;

int ks_outbox_summary_get(ks_store *s, const char *hook,
                          ks_outbox_summary *out, kw_diag *d);

/* Every (hook, result) counter. */
int ks_outbox_stats(ks_store *s,
                    int (*cb)(void *ctx, const char *hook,
                              const char *result, int64_t runs,
                              int64_t last_at),
                    void *ctx, kw_diag *d);

/* The usages (as discovery last read them) of path or, when lineage is
 * not NULL, of anything under the directory lineage. */
int ks_outbox_usages_of(ks_store *s, const char *path, const char *lineage,
                        int (*cb)(void *ctx, const char *daemon,
                                  const char *config, int line,
                                  const char *path),
                        void *ctx, kw_diag *d);

#endif
