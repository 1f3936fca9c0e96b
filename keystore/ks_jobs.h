/*
 * ks_jobs.h: durable work, as rows in SQLite.
 *
 * A job is (type, key): "scan"/"all", "probe"/"mail".  Its life:
 *
 *     pending --claim--> running --finish(ok)--> pending (next run) or done
 *        ^                   |
 *        |                   +--finish(fail)--> pending (backoff) or failed
 *        +---- recover (at start: a job left running by a crash) ----+
 *
 * Invariants: at most one pending-or-running job per (type, key) (a
 * partial unique index); a job is marked running, in its own committed
 * transaction, before its side effect starts, so a crash leaves it
 * running and ks_jobs_recover() hands it out again after restart.
 * Times are UTC seconds; the caller passes `now`.
 */
#ifndef KS_JOBS_H
#define KS_JOBS_H

#include "ks_store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ks_jobrec {
    int64_t id;
    char type[32];
    char key[128];
    int attempt;  /* attempts so far, this one included once claimed */
    int64_t next_at;
    char state[12];
    char last_error[512];
} ks_jobrec;

/* Make sure (type, key) has a pending or running job; a new one is due at
 * next_at.  An existing pending job due later is moved to next_at when
 * sooner is set (a "run now"). */
int ks_jobs_ensure(ks_store *s, const char *type, const char *key,
                   int64_t next_at, int sooner, int64_t now, kw_diag *d);

/* The earliest next_at of pending jobs; *has is 0 when there is none. */
int ks_jobs_next_due(ks_store *s, int64_t *next_at, int *has, kw_diag *d);

/* Call cb for each pending or running job, soonest first, with the row's
 * columns (last_error is NULL when there is none; the strings live until
 * cb returns).  A nonzero return of cb stops the walk.  For a status
 * report: rows that cannot be read end the walk without an error. */
int ks_jobs_open_each(ks_store *s,
                      int (*cb)(void *ctx, const char *type, const char *key,
                                const char *state, int attempt,
                                int64_t next_at, const char *last_error),
                      void *ctx, kw_diag *d);

/* Claim up to max pending jobs due at now: each becomes running with its
 * attempt counted, committed before this returns. */
int ks_jobs_claim(ks_store *s, int64_t now, size_t max, ks_jobrec *out,
                  size_t *n, kw_diag *d);

/* A claimed job ended.  ok: it runs again at next_at (0: it is done).
 * Failed: it is retried at next_at with the error kept (0: it failed for
 * good).  The attempt counter restarts after a success. */
int ks_jobs_finish(ks_store *s, int64_t id, int ok, int64_t next_at,
                   const char *error, int64_t now, kw_diag *d);

/* At start: jobs left running by a crash or a kill become pending again,
 * due now.  *n tells how many. */
int ks_jobs_recover(ks_store *s, int64_t now, size_t *n, kw_diag *d);

/* Remove the pending jobs of type whose key is not in keys (an endpoint
 * that left the configuration). */
int ks_jobs_prune(ks_store *s, const char *type, const char *const *keys,
                  size_t nkeys, kw_diag *d);

/* Exponential backoff with a cap and up to 10% jitter: base * 2^(attempt
 * - 1), at most cap.  jitter01 is a number in [0, 1) the caller draws. */
int64_t ks_jobs_backoff(int attempt, int64_t base, int64_t cap,
                        double jitter01);

#endif
