/*
 * hook_outbox.h: hook deliveries in the database.
 *
 * Events are written by the lifecycles in the same transaction as the
 * change they record.  The outbox is derived from them: a dispatch pass
 * reads the events after meta.hook_cursor, inserts one delivery per
 * matching hook and moves the cursor, in one transaction.  A crash after
 * the change and before its hook ran therefore leaves either an event
 * past the cursor or a pending delivery, and the next pass or start
 * delivers it: at least once.  (Hooks live in the configuration file, so
 * the keystore writing an event cannot know them; the cursor is what
 * joins the two.)
 *
 * A delivery's states:
 *
 *   pending --claim--> running --finish(ok)--> done
 *      ^                  |  \--finish(fail, attempts left)--> pending
 *      |                  |                                  (next_at later)
 *      +--lease expired---+  \--finish(fail, none left)--> failed
 *   failed --kw_hook_retry--> pending
 *
 * A claim holds a lease (lease_until); a process that died holding one
 * gives it up when the lease ends.  Deliveries of one hook whose window is
 * open share one run (coalescing): the batch is every pending delivery of
 * the hook.
 */
#ifndef KW_HOOK_OUTBOX_H
#define KW_HOOK_OUTBOX_H

#include "hook_def.h"

#include "../keystore/ks_outbox.h"
#include "../keystore/ks_store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The event as a hook sees it, and as stdin carries it:
 *   {"id", "type", "at", "time", "object", "kind", "names": [...],
 *    "not_after", "fingerprint_sha256", "paths": {"cert", "key",
 *    "fullchain", "chain", "lineage"}, "detail": {...}}
 * Fields that do not apply are left out.  Paths of a managed certificate
 * are those of certs_dir/live/NAME (NULL certs_dir: none). */
int kw_hook_event_doc(ks_store *s, int64_t event_id, const char *certs_dir,
                      json_t **out, kw_diag *d);

/* Turn the events after the cursor into deliveries for the hooks that
 * take them.  *queued counts the deliveries made.  When settled is an
 * array, the document of each cert.* event no hook took is appended to it
 * (nothing to wait for: its effect can be verified now). */
int kw_hook_dispatch(ks_store *s, const kw_hook_def *defs, size_t ndefs,
                     int64_t now, size_t *queued, json_t *settled,
                     kw_diag *d);

/* Deliveries still open for hooks that left the configuration are closed
 * (done, with last_error saying why), so they neither wait forever nor
 * report a failure of something no longer there. */
int kw_hook_drop_unknown(ks_store *s, const kw_hook_def *defs, size_t ndefs,
                         int64_t now, size_t *dropped, kw_diag *d);

/* Every running delivery back to pending: for a process that just took
 * the daemon lock, which every deliverer holds, so a running row is an
 * orphan of one that died (kill -9 mid-run): it runs again now rather
 * than when its lease ends. */
int kw_hook_reclaim(ks_store *s, size_t *n, kw_diag *d);

typedef struct kw_hook_batch {
    int64_t *rows;   /* outbox ids */
    int *attempts;   /* per row: which try this run is for it */
    size_t nrows;
    int attempt;     /* the highest of them: 1 for first deliveries */
    json_t *events;  /* event documents, oldest first (one per row) */
} kw_hook_batch;

void kw_hook_batch_clear(kw_hook_batch *b);

/*
 * Claim h's next run: with h->coalesce > 0, every pending delivery of h
 * once the oldest one's window has passed; else the oldest due delivery
 * alone.  now_all: every first delivery, due or not, and the retries
 * that are due, in one run (the command line delivering at once).  The rows are leased until lease_until.  b->nrows
 * is 0 when nothing is due.
 */
int kw_hook_claim(ks_store *s, const kw_hook_def *h, int64_t now, int now_all,
                  int64_t lease_until, const char *certs_dir,
                  kw_hook_batch *b, kw_diag *d);

/* When h next has work: the earliest pending next_at or running lease
 * end.  *has is 0 when there is none. */
int kw_hook_next_due(ks_store *s, const char *hook, int64_t *at, int *has,
                     kw_diag *d);

typedef struct kw_hook_outcome {
    const char *result;     /* "ok", "failed", "timeout" or "error" */
    int exit_status;        /* -1: did not exit normally */
    int signal;
    int64_t duration_ms;
    const char *output;     /* may be NULL */
    size_t output_len;
    const char *last_line;  /* may be NULL */
    const char *error;      /* may be NULL */
    int64_t started_at;
    int test;               /* keywarden hooks test: no deliveries */
} kw_hook_outcome;

/*
 * Record one run of h and settle the batch's deliveries, each by its own
 * count of tries (a coalesced run carries first deliveries and retries
 * together): done on "ok"; else pending again after h->retry_delay
 * doubled per try (at most KW_HOOK_MAX_RETRY_WAIT), or failed once
 * h->retries retries are spent, which also records a hook.failed event
 * (*gave_up = 1) unless what failed was itself delivering hook.failed
 * events (two alert hooks must not feed each other).  A row no longer
 * running (a removed hook's, closed meanwhile) is left alone.  Events of
 * the batch left without open deliveries are appended to settled (if not
 * NULL).  One transaction.
 */
int kw_hook_finish(ks_store *s, const kw_hook_def *h, const kw_hook_batch *b,
                   const kw_hook_outcome *o, int64_t now, int64_t *run_id,
                   int *gave_up, json_t *settled, kw_diag *d);

/* Failed deliveries back to pending, due now: all of hook's, or every
 * hook's when hook is NULL. */
int kw_hook_retry(ks_store *s, const char *hook, int64_t now, size_t *n,
                  kw_diag *d);

/* A recorded run (keystore/ks_outbox.h). */
typedef ks_outbox_run kw_hook_run_row;

/* Runs, newest first: of hook (NULL: all), at most limit. */
int kw_hook_history(ks_store *s, const char *hook, int limit,
                    int (*cb)(void *ctx, const kw_hook_run_row *r),
                    void *ctx, kw_diag *d);

/* A hook that failed for good on an object and has not succeeded for it
 * since. */
typedef ks_outbox_failure kw_hook_failure;

int kw_hook_failures(ks_store *s,
                     int (*cb)(void *ctx, const kw_hook_failure *f),
                     void *ctx, kw_diag *d);

/* The failures, with the inventory objects each concerns (the object of
 * the event, or every object holding a managed certificate's live leaf),
 * so list, check and /metrics can turn those objects critical. */
typedef struct kw_hook_overlay {
    kw_hook_failure *f;
    size_t n;
    int64_t **ids;   /* per failure */
    size_t *nids;
    unsigned char *used; /* per failure: matched an object while listing */
    int oom;
} kw_hook_overlay;

int kw_hook_overlay_load(ks_store *s, kw_hook_overlay *ov, kw_diag *d);
/* The failure concerning inventory object id (marking it used), or
 * NULL. */
const kw_hook_failure *kw_hook_overlay_find(kw_hook_overlay *ov,
                                            int64_t id);
void kw_hook_overlay_free(kw_hook_overlay *ov);

/* Object id's verdict turned critical (a first finding) when a hook
 * failed for it; 1 if it was. */
struct ks_verdict;
int kw_hook_overlay_apply(kw_hook_overlay *ov, int64_t id,
                          struct ks_verdict *v);
/* "hook NAME failed for OBJECT (cert.renewed, 4 attempts): LAST LINE" */
void kw_hook_failure_text(const kw_hook_failure *f, char *out, size_t cap);

/* Per hook: open (pending or running) and failed deliveries, and runs by
 * result with the last success. */
typedef ks_outbox_summary kw_hook_summary;

int kw_hook_summary_get(ks_store *s, const char *hook, kw_hook_summary *out,
                        kw_diag *d);

/* reload = auto: the daemons whose configuration (as discovery last
 * read it) names a file of one of the events: the certificate, key,
 * chain or anything under the lineage directory.  Up to max targets, each
 * a reload and its configuration ("" for the default: Postfix's is the
 * directory of the main.cf that names the file). */
typedef struct kw_hook_target {
    kw_reload reload;
    char config[512];
    char why[600]; /* "postfix: /etc/postfix/main.cf:33 names ..." */
} kw_hook_target;

int kw_hook_auto_targets(ks_store *s, json_t *events, kw_hook_target *out,
                         size_t max, size_t *n, kw_diag *d);

/* Every (hook, result) counter: for /metrics. */
int kw_hook_stats(ks_store *s,
                  int (*cb)(void *ctx, const char *hook, const char *result,
                            int64_t runs, int64_t last_at),
                  void *ctx, kw_diag *d);

#endif
