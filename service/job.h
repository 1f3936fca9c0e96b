/*
 * job.h: the daemon's job types, as one table, and the runner that starts
 * a claimed job, records its outcome and reports it.
 *
 * A job is a row in the jobs table (keystore/ks_jobs.h): (type, key),
 * "scan"/"all", "probe"/"mail", "renew"/"example.org".  Each type is one
 * row of the table in job.c, a kw_job_type whose handlers live in one
 * file (job_scan.c, job_probe.c, job_renew.c, job_precheck.c,
 * job_dkim.c, job_dkim_rot.c, job_dnssec.c).  The
 * daemon (daemon.c) never names a type: it claims rows, hands each to
 * kw_job_start(), plans what the configuration asks for from the rows'
 * keys(), and /metrics counts by the rows' names.  A new lifecycle (DKIM
 * rotation, a DNSSEC check) adds a row and a handler file.
 *
 * A job's states, as rows (ks_jobs.c) and as a kw_job in memory:
 *
 *            plan: ensure (type, key) at now + first_delay
 *                     |            (pull_forward: a later one moves to now)
 *                     v
 *   +------------> pending ---- prune: its key left the configuration
 *   |                 |          --> deleted (dropped; only pending rows)
 *   |   claim (due, under the concurrency limit; attempt + 1,
 *   |                 |        committed before anything starts)
 *   |                 v
 *   |              running ---- ensure while running: rerun_at = the
 *   |                 |          earliest asked time (kept, not lost)
 *   |        start (loop): SKIP --> stays running until the next start
 *   |                 |            (the plan prunes what left the
 *   |                 |             configuration)
 *   |        RUN_NOW or WAIT (loop work, then kw_job_resume)
 *   |                 |
 *   |        work (pool), then finish in one transaction:
 *   |          ok        --> pending at next_run() (0: done)
 *   |          failed    --> pending at next_run() with last_error and a
 *   |                        job.retry event (0: failed, job.failed)
 *   |          cancelled --> pending, due now (a stop; not an error)
 *   |          rerun_at set --> pending at min(rerun_at, next_at)
 *   |                 |
 *   +-----------------+
 *      reclaim (recover): at start, a row left running by a crash or a
 *      kill -9 is pending again, due now, with a job.resumed event.
 *
 * Invariants: a row is running (committed) before its side effect
 * starts, so a crash can only leave it running, never lose it; at most
 * one pending-or-running row per (type, key); the loop thread never
 * opens the store (work and finish run on the pool); a kw_job is owned
 * by the runner from kw_job_start() until its report, and a handler
 * frees only what it put in its own part (release).
 *
 * Callback contract: start() and report() run on the loop, work() and
 * recorded() on the pool with a store of their own.  A handler whose
 * start() returns KW_JOB_WAIT calls kw_job_resume() exactly once, on the
 * loop, when its loop work ends (never from inside start()).
 */
#ifndef KW_JOB_H
#define KW_JOB_H

#include "config.h"
#include "metrics.h"

#include "../common/kw_err.h"
#include "../dkim/dkim_rotate.h"
#include "../keystore/ks_jobs.h"
#include "../keystore/ks_store.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct kw_job kw_job;
typedef struct kw_job_type kw_job_type;

/* Keys a type's jobs are planned for: copies, grown by doubling. */
typedef struct kw_job_keys {
    char **v;
    size_t n, cap;
} kw_job_keys;

/* What the daemon lends its jobs.  It outlives every job. */
typedef struct kw_job_env {
    uv_loop_t *loop;
    const char *db_path;
    const kw_config *conf;   /* the running one; a reload replaces its
                              * contents, so a job copies what it keeps */
    struct kw_acme_env *acme; /* renew.h: what every order shares */
    volatile int *cancel;    /* set at stop: scans end at the next file */
    kw_metrics_counters *counters;
    int64_t watched_at;      /* when a probe last watched health */
    int running;             /* jobs between start and report */
    kw_job *waiting;         /* jobs in loop work, cancelled at stop */
    /* The DKIM signers' files and key directories the last scan read
     * (kw_dkim_scan_result.watch), for the daemon's watch of them; set
     * by the scan job on the loop. */
    kw_job_keys dkim_files;
    /* On the loop: a scan finished (walk the watched directories again),
     * and any job ended (claim more, run the hooks its events asked
     * for). */
    void (*scanned)(void *ctx);
    void (*ended)(void *ctx);
    void *ctx;
} kw_job_env;

/* One job in flight.  A handler's own part follows it (kw_job_type.size
 * bytes in all, zeroed): struct scan_job { kw_job job; ... }. */
struct kw_job {
    uv_work_t req;
    const kw_job_type *type;
    kw_job_env *env;
    ks_jobrec rec;           /* the claimed row */
    kw_job *next_waiting;
    /* The outcome, set on the pool. */
    int r;                   /* 0 or a negative KW_E*, with d */
    kw_diag d;
    int cancelled;           /* stopped by a shutdown */
    int64_t next_at;         /* when it runs again (0: never) */
    /* Why next_at could not be written to the jobs table, else empty:
     * it is then a wish, not a schedule, and is not shown as one. */
    char unsaved[512];
};

/* What start() did. */
enum kw_job_started {
    KW_JOB_SKIP,    /* nothing to run (its key left the configuration, or
                     * it logged why it cannot start): freed, no outcome */
    KW_JOB_RUN_NOW, /* the runner queues work() on the pool */
    KW_JOB_WAIT,    /* loop work started; kw_job_resume() follows */
};

struct kw_job_type {
    const char *name;        /* jobs.type, run-job's TYPE, and the type=
                              * label of keywarden_jobs_total */
    size_t size;             /* bytes of the handler's struct */
    /* What a key names in the configuration, for "no such %s in the
     * configuration"; NULL: the type has one job, key "all". */
    const char *noun;
    /* Whether the configuration names key (run-job checks it). */
    int (*known)(const kw_config *c, const char *key);

    /* Retry policy.  A failure retries after ks_jobs_backoff(attempt,
     * retry_base, retry_cap); next_run() may decide otherwise (a
     * renewal's own backoff, a daily check). */
    int64_t retry_base, retry_cap;

    /* Planning: the keys the configuration asks for (keys added with
     * kw_job_keys_add), each first due first_delay after the plan;
     * pull_forward moves one due later to then; drop_unlisted deletes
     * pending rows whose key is no longer asked for, and pruned() (may be
     * NULL) then drops what belonged to them. */
    int (*keys)(const kw_config *c, kw_job_keys *out);
    int64_t first_delay;
    int pull_forward;
    int drop_unlisted;
    int (*pruned)(ks_store *s, const char *const *keys, size_t n,
                  kw_diag *d);

    /* Handlers (see the contract above). */
    int (*start)(kw_job *j);                    /* loop: enum kw_job_started,
                                                 * or KW_ENOMEM */
    int (*work)(kw_job *j, ks_store *s);        /* pool: 0 or KW_E* in j->d */
    int64_t (*next_run)(kw_job *j, int64_t now); /* pool, after work */
    void (*recorded)(kw_job *j, ks_store *s);   /* pool, after the finish;
                                                 * may be NULL */
    void (*report)(kw_job *j, const char *when); /* loop: the log line */
    void (*cancel)(kw_job *j);                  /* loop, at stop; may be
                                                 * NULL */
    void (*release)(kw_job *j);                 /* frees the handler's
                                                 * part; may be NULL */
};

/* The table, in the order /metrics lists the types and plans them. */
size_t kw_job_types_count(void);
const kw_job_type *kw_job_type_at(size_t i);
/* The row named name, or NULL. */
const kw_job_type *kw_job_type_find(const char *name);
/* The types' names for a message: "scan, probe, renew or precheck". */
void kw_job_type_names(char *out, size_t len);

/* Start the claimed job rec (loop).  Its outcome is recorded, counted
 * and logged, then env->ended runs.  A job that cannot start stays
 * running in the table and resumes at the next start. */
void kw_job_start(kw_job_env *env, const ks_jobrec *rec);

/* A KW_JOB_WAIT job's loop work ended: queue its work() (loop).  Fails
 * only when the pool refuses it: the caller logs why, then calls
 * kw_job_abandon(). */
int kw_job_resume(kw_job *j);
void kw_job_abandon(kw_job *j);

/* At stop: ask every waiting job to stop (their outcomes still come). */
void kw_jobs_cancel(kw_job_env *env);

/* For handlers. */
int kw_job_keys_add(kw_job_keys *k, const char *key);
void kw_job_keys_free(kw_job_keys *k);
/* A periodic job's next run: every seconds (plus up to 5% jitter) after
 * a success, the row's backoff after a failure. */
int64_t kw_job_next_periodic(const kw_job *j, int64_t now, int64_t every);
/* The failure line of a job with no words of its own. */
void kw_job_log_failure(const kw_job *j, const char *when);
double kw_job_rand01(void);
/* The [certificate] named key, or NULL; known: whether there is one. */
const kw_cert_conf *kw_job_cert(const kw_config *c, const char *key);

/* The outbound addresses of the DKIM check's SPF results: p's own
 * ([dkim] outbound), else those of Postfix's main.cf in postfix_dir
 * (NULL: /etc/postfix; probe/discover.h's kw_discover_outbound) copied
 * into p.  from (cap bytes) says where they came from, file and line, or
 * why there are none, for the log and `dkim check`.  0 or KW_ENOMEM; a
 * main.cf that is missing or unreadable leaves none, with the reason.
 * BLOCKS (reads main.cf): the pool's, or the CLI's. */
/* The dkim job's next period: interval, or 5 minutes when unknown > 0
 * selectors had a server that did not answer (whatever else is critical),
 * so DNS that was not heard is asked again soon. */
int64_t kw_job_dkim_every(int64_t interval, size_t unknown);

int kw_job_dkim_outbound(kw_dkim_params *p, const char *postfix_dir,
                         char *from, size_t cap);
int kw_job_cert_known(const kw_config *c, const char *key);

/* DKIM rotations (job_dkim_rot.c), for the job and for the commands
 * that show them (list, show, check, dkim rotate --due).  One managed
 * [dkim "DOMAIN"] section's newest rotation and its health at a time. */
typedef struct kw_dkim_rot_view {
    const kw_dkim_rot_params *p; /* borrowed from the params read */
    int found;                   /* 0: no rotation yet */
    ks_dkim_rot rot;
    kw_dkim_rot_health h;
} kw_dkim_rot_view;

/* The dkim-rotate job runs again within these bounds (seconds): never
 * sooner than MIN (a machine that asks for "now" again is not spun),
 * never later than MAX (health nears max_age by the clock alone), and
 * within RELOAD_POLL while a rotation waits at active for the hooks'
 * reload, which this daemon runs as soon as the job ends. */
#define KW_JOB_ROT_MIN_WAIT 10
#define KW_JOB_ROT_MAX_WAIT 3600
#define KW_JOB_ROT_RELOAD_POLL 60

/* p's nrot managed sections, each with its newest rotation and health at
 * now, malloc'd into *out (NULL when there is none; free with
 * kw_dkim_rot_views_free).  BLOCKS on the database. */
int kw_dkim_rot_views(ks_store *s, const kw_dkim_params *p, int64_t now,
                      kw_dkim_rot_view **out, kw_diag *d);
void kw_dkim_rot_views_free(kw_dkim_rot_view *v, size_t n);
/* 1 when v's rotation is at active and waits for the signer's reload. */
int kw_dkim_rot_view_waits_reload(const kw_dkim_rot_view *v);
/* When the dkim-rotate job runs again after a run that left v[n] at now:
 * the earliest next_step (else next_rotation) of the domains, bounded as
 * the KW_JOB_ROT_* say.  Pure. */
int64_t kw_job_dkim_rot_next(const kw_dkim_rot_view *v, size_t n,
                             int64_t now);
/* Record each domain's rotation health as seen at now; a change is a
 * health.changed event (keystore/ks_dkim_rot_seen.h).  *nchanged counts
 * them.  BLOCKS on the database. */
int kw_dkim_rot_watch(ks_store *s, const kw_dkim_rot_view *v, size_t n,
                      int64_t now, size_t *nchanged, kw_diag *d);

/* The dnssec-check job (job_dnssec.c) runs again never sooner than
 * this after a run (seconds). */
#define KW_JOB_DNSSEC_MIN_WAIT 60

/* Its next run after a zone checked at now: every after, or sooner at
 * the moments the zone's health changes by the clock alone (its earliest
 * RRSIG expiry next_expiry, less warn, less crit, and itself; 0: none)
 * or a missing DS becomes due (ds_due, 0: none); never within
 * KW_JOB_DNSSEC_MIN_WAIT.  Pure. */
int64_t kw_job_dnssec_next(int64_t now, int64_t every, int64_t warn,
                           int64_t crit, int64_t next_expiry, int64_t ds_due);

/* The rows; the table in job.c lists them. */
extern const kw_job_type kw_job_scan, kw_job_probe, kw_job_renew,
    kw_job_precheck, kw_job_dkim, kw_job_dkim_rot, kw_job_dnssec,
    kw_job_dane, kw_job_mtasts, kw_job_dane_roll;

/* A renewal that issued a dane = certificate makes its dane-roll job due
 * this long after (seconds): the hooks it asked for reload the server
 * when the renewal job ends. */
#define KW_JOB_DANE_ROLL_AFTER_RENEWAL 5

/* Whether the dane-check job (job_dane.c) checks endpoint e: it speaks
 * SMTP (starttls = smtp, or implicit TLS on port 465). */
int kw_job_dane_endpoint(const kw_endpoint_conf *e);

#endif
