/*
 * daemon.c: keywarden serve, the long-running service.
 *
 * One libuv loop.  The loop thread only keeps time and reacts: a single
 * uv_timer is armed for the earliest due job; SQLite, scans and file
 * system walks run on the libuv thread pool, each work item with its own
 * database connection (SQLite connections are not shared across threads).
 *
 *   timer / event --> claim pass (pool): claim due jobs, read the next
 *                     due time --> loop: start each job (pool), re-arm
 *   job done      --> loop: another claim pass
 *   SIGHUP        --> reload the configuration (pool); a broken file is
 *                     reported and the running one stays
 *   SIGTERM/INT   --> stop: running scans are told to stop at the next
 *                     file; what they committed stays, and their job is
 *                     left due so the next start resumes it
 *   inotify       --> a change under a scanned path makes the scan job
 *                     due in 2 s (debounced)
 *
 * Jobs are rows (keystore/ks_jobs.h): a job is marked running before it
 * starts, so a kill -9 leaves it running and the next start resumes it.
 */
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "discover.h"
#include "hooks.h"
#include "http.h"
#include "metrics.h"
#include "probe.h"
#include "precheck.h"
#include "renew.h"
#include "state.h"
#include "verify.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../keystore/ks_endpoint.h"
#include "../keystore/ks_inventory.h"
#include "../keystore/ks_jobs.h"
#include "../keystore/ks_managed.h"
#include "../keystore/ks_scan.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#define MAX_CLAIM 64
#define MAX_WATCHES 512
#define WATCH_DEBOUNCE_MS 2000
#define JOB_RETRY_BASE 60
#define JOB_RETRY_CAP (6 * KW_HOUR)
/* How long SIGTERM waits for work on the pool (a read from a hung file
 * system cannot be interrupted); hooks in flight add their timeouts. */
#define STOP_DEADLINE_MS 10000

typedef struct daemon_s daemon_s;

/* A hook engine and the daemon it reports to; the current one, or one
 * that a reload or stop retired and that finishes its runs. */
typedef struct hook_holder {
    daemon_s *dm;
    kw_hook_engine *e;
    struct hook_holder *next;
    char certs_dir[PATH_MAX];
} hook_holder;

/* A verification of a renewal's endpoints in flight. */
typedef struct verify_item {
    daemon_s *dm;
    kw_verifier *v;
    struct verify_item *next;
} verify_item;

typedef struct watch {
    uv_fs_event_t h;
    daemon_s *dm;
} watch;

struct daemon_s {
    uv_loop_t *loop;
    const kw_state *cli;
    kw_config conf;
    int config_from_file;
    int lock_fd;
    uv_timer_t timer;
    uv_timer_t debounce;
    uv_timer_t stop_deadline;
    uv_signal_t sighup, sigterm, sigint;
    int stopping;
    volatile int cancel; /* running scans stop at the next file */
    int running;         /* jobs in flight */
    int claiming;        /* a claim pass in flight */
    int claim_again;     /* asked for while one was in flight */
    int planning;        /* plan passes in flight */
    int reloading;
    uint64_t reload_started; /* uv_now() when the reload began */
    uint64_t stop_started, stop_allowed; /* ms, uv_now() */
    char reload_busy[PATH_MAX + 128];
    int watching;        /* a watch walk in flight */
    watch **watches;
    size_t nwatches;
    struct job_req *probing; /* probes in flight, to cancel at stop */
    struct job_req *renewing; /* renewals in flight, likewise */
    kw_acme_env acme;
    kw_http_server *http;
    kw_control *control;
    char control_path[PATH_MAX];
    int rendering;           /* /metrics renders in flight */
    int64_t watched_at;      /* when a probe last watched health */
    int controlling;         /* control requests on the pool */
    kw_metrics_counters counters;
    hook_holder *hooks;      /* the current hook engine */
    hook_holder *retired;    /* engines finishing their runs */
    verify_item *verifying;
    int exit_code;
};

static double rand01(void)
{
    return (double)(rand() & 0xffff) / 65536.0;
}

/* ---- sd_notify, without libsystemd -------------------------------------- */

void kw_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t n;
    int fd;

    if (path == NULL || (path[0] != '/' && path[0] != '@'))
        return;
    n = strlen(path);
    if (n >= sizeof(sa.sun_path))
        return;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    (void)sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                 (struct sockaddr *)&sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    close(fd);
}

/* ---- configuration --------------------------------------------------------- */

/* Without a configuration file the daemon watches the usual places. */
static int default_config(kw_config *c)
{
    static const char *const paths[] = {KW_CONFIG_DEFAULT_SCAN};
    const size_t n = sizeof(paths) / sizeof(paths[0]);
    size_t i;

    kw_config_defaults(c);
    c->scan_paths = calloc(n, sizeof(*c->scan_paths));
    if (c->scan_paths == NULL)
        return KW_ENOMEM;
    for (i = 0; i < n; i++) {
        if ((c->scan_paths[i] = strdup(paths[i])) == NULL)
            return KW_ENOMEM;
        c->nscan_paths++;
    }
    return 0;
}

static int load_config(const kw_state *cli, kw_config *c, int *from_file,
                       kw_diag *d)
{
    int r = kw_config_load(cli->config_path, c, d);

    *from_file = r == 0;
    if (r == KW_ENOENT && !cli->config_given) {
        kw_warn("%s not found; scanning /etc/ssl and /etc/letsencrypt "
                "every hour",
                cli->config_path);
        return default_config(c);
    }
    return r;
}

static int open_store(const kw_state *cli, ks_store **s, kw_diag *d)
{
    return ks_open(cli->db_path, KS_OPEN_CREATE, s, d);
}

/* ---- the claim pass ---------------------------------------------------------- */

typedef struct claim_req {
    uv_work_t req;
    daemon_s *dm;
    int64_t now;
    size_t max;
    ks_jobrec jobs[MAX_CLAIM];
    size_t n;
    int64_t next_at;
    int has_next;
    int r;
    kw_diag d;
} claim_req;

static void start_job(daemon_s *dm, const ks_jobrec *j);
static void request_claim(daemon_s *dm);
static void maybe_finish_stop(daemon_s *dm);

static void claim_work(uv_work_t *req)
{
    claim_req *c = req->data;
    ks_store *s = NULL;

    c->r = open_store(c->dm->cli, &s, &c->d);
    if (c->r == 0 && c->max > 0)
        c->r = ks_jobs_claim(s, c->now, c->max, c->jobs, &c->n, &c->d);
    if (c->r == 0)
        c->r = ks_jobs_next_due(s, &c->next_at, &c->has_next, &c->d);
    ks_close(s);
}

static void on_timer(uv_timer_t *t)
{
    request_claim(t->data);
}

static void claim_done(uv_work_t *req, int status)
{
    claim_req *c = req->data;
    daemon_s *dm = c->dm;
    size_t i;

    dm->claiming = 0;
    if (status != 0 || c->r != 0) {
        kw_err("scheduler: %s", c->r != 0 ? c->d.msg : uv_strerror(status));
        /* Try again soon rather than stall. */
        if (!dm->stopping)
            uv_timer_start(&dm->timer, on_timer, 5000, 0);
        free(c);
        if (dm->stopping)
            maybe_finish_stop(dm);
        return;
    }
    if (dm->stopping) {
        /* Claimed as the stop came: they stay marked running, and the
         * next start resumes them. */
        free(c);
        maybe_finish_stop(dm);
        return;
    }
    for (i = 0; i < c->n; i++)
        start_job(dm, &c->jobs[i]);
    if (!dm->stopping) {
        if (dm->claim_again) {
            dm->claim_again = 0;
            uv_timer_start(&dm->timer, on_timer, 0, 0);
        } else if (c->has_next) {
            int64_t wait = c->next_at - kw_now();
            /* Jobs due but beyond the concurrency limit start when a
             * running one ends; otherwise sleep until the next is due. */
            if (wait > 0 || dm->running < dm->conf.concurrency)
                uv_timer_start(&dm->timer, on_timer,
                               wait > 0 ? (uint64_t)wait * 1000 : 0, 0);
        }
    }
    free(c);
}

static void request_claim(daemon_s *dm)
{
    claim_req *c;
    int r;

    if (dm->stopping)
        return;
    if (dm->claiming) {
        dm->claim_again = 1;
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        kw_err("scheduler: out of memory");
        return;
    }
    c->dm = dm;
    c->now = kw_now();
    c->max = dm->running < dm->conf.concurrency
                 ? (size_t)(dm->conf.concurrency - dm->running)
                 : 0;
    if (c->max > MAX_CLAIM)
        c->max = MAX_CLAIM;
    c->req.data = c;
    uv_timer_stop(&dm->timer);
    r = uv_queue_work(dm->loop, &c->req, claim_work, claim_done);
    if (r != 0) {
        kw_err("scheduler: %s", uv_strerror(r));
        free(c);
        return;
    }
    dm->claiming = 1;
}

/* ---- jobs ------------------------------------------------------------------------ */

typedef struct job_req {
    uv_work_t req;
    daemon_s *dm;
    struct job_req *next_probing;
    kw_probe *probe;
    struct job_req *next_renewing;
    kw_renew *renew;
    kw_renew_result rres; /* a renew job's result (msg copied); for every
                           * job, rres.unsaved says why its next run could
                           * not be written to the jobs table */
    char rname[256];
    int pc_ok;            /* a precheck job's result */
    char pc_verdict[1024];
    ks_jobrec job;
    /* What the job needs, copied so a reload cannot pull it away. */
    char **paths;
    size_t npaths;
    int64_t interval;
    int discover;
    /* A probe job: the endpoint, and what the probe found. */
    kw_endpoint_conf ep;
    kw_probe_result pres;
    int64_t object_id, stale_of;
    /* Results. */
    int r;
    kw_diag d;
    ks_scan_stats stats;
    int64_t next_at;
    int cancelled;
    int watch;            /* a probe job that also watches health */
} job_req;

static void scan_note(void *ctx, enum ks_scan_note n, const char *path,
                      const char *msg)
{
    (void)ctx;
    switch (n) {
    case KS_NOTE_ERROR:
        kw_warn("scan: %s: %s", path, msg);
        break;
    case KS_NOTE_MISSING:
        kw_warn("scan: %s: %s", path, msg);
        break;
    case KS_NOTE_CHANGED:
        kw_notice("scan: %s: changed: %s", path, msg);
        break;
    case KS_NOTE_LOOP:
        kw_info("scan: %s: %s", path, msg);
        break;
    default:
        kw_debug("scan: %s: %s", path, msg);
        break;
    }
}

static int run_scan(job_req *jr, ks_store *s)
{
    ks_scan_opts o;
    size_t nstale = 0;
    int r;

    memset(&o, 0, sizeof(o));
    o.now = kw_now();
    o.note = scan_note;
    o.cancel = &jr->dm->cancel;
    if (jr->discover) {
        /* The daemons' own configurations say which files matter. */
        kw_discovery disc;
        ks_scan_stats dst;
        size_t i;

        if (kw_discover(NULL, &disc) != 0)
            return kw_diag_set(&jr->d, KW_ENOMEM, "out of memory");
        for (i = 0; i < disc.nnotes; i++)
            kw_warn("discover: %s", disc.notes[i]);
        r = kw_discover_apply(s, &disc, o.now, &dst, &jr->d);
        kw_discovery_free(&disc);
        if (r != 0)
            return r;
    }
    r = jr->npaths == 0 ? 0
                        : ks_scan(s, (const char *const *)jr->paths,
                                  jr->npaths, &o, &jr->stats, &jr->d);
    /* A certificate renewed on disk makes an endpoint that still serves
     * the old one stale now, not at its next probe. */
    if (r == 0 && (jr->stats.objects_changed > 0 || jr->stats.objects_new > 0))
        r = ks_endpoint_recheck(s, kw_now(), &nstale, &jr->d);
    return r;
}

static int record_probe(job_req *jr, ks_store *s)
{
    ks_probe_obs o;

    kw_probe_obs_fill(&o, &jr->ep, &jr->pres);
    return ks_endpoint_record(s, &o, kw_now(), &jr->object_id,
                              &jr->stale_of, &jr->d);
}

static void job_work(uv_work_t *req)
{
    job_req *jr = req->data;
    ks_store *s = NULL;
    kw_diag fd;
    int64_t now;
    int r;

    jr->r = open_store(jr->dm->cli, &s, &jr->d);
    if (jr->r != 0) {
        snprintf(jr->rres.unsaved, sizeof(jr->rres.unsaved), "%s",
                 jr->d.msg);
        return;
    }
    if (strcmp(jr->job.type, "precheck") == 0) {
        /* Daily: a redirect added today shows weeks before the renewal
         * it would break. */
        now = kw_now();
        jr->next_at = now + KW_DAY;
        jr->r = ks_managed_precheck(s, jr->rname, jr->pc_ok, jr->pc_verdict,
                                    now, &jr->d);
        r = ks_jobs_finish(s, jr->job.id, jr->r == 0, jr->next_at,
                           jr->r != 0 ? jr->d.msg : NULL, now, &fd);
        if (r != 0 && jr->r == 0) {
            jr->r = r;
            jr->d = fd;
        }
        ks_close(s);
        return;
    }
    if (strcmp(jr->job.type, "renew") == 0) {
        /* renew.c recorded the outcome; the job only keeps the schedule:
         * the renewal time, a failure's retry time, daily while blocked
         * by a permanent error, at once after a stop. */
        now = kw_now();
        jr->next_at = jr->rres.next_at > 0 ? jr->rres.next_at
                                           : now + KW_DAY;
        if (jr->rres.outcome == KW_RENEW_CANCELLED) {
            jr->cancelled = 1;
            jr->next_at = now;
        }
        if (jr->rres.outcome == KW_RENEW_FAILED)
            jr->r = kw_diag_set(&jr->d, KW_EIO, "%s", jr->rres.msg);
        r = ks_jobs_finish(s, jr->job.id, jr->r == 0, jr->next_at,
                           jr->r != 0 ? jr->d.msg : NULL, now, &fd);
        /* The job's row is the daemon's schedule: the retry time holds
         * if, and only if, it was written. */
        if (r != 0)
            snprintf(jr->rres.unsaved, sizeof(jr->rres.unsaved), "%s",
                     fd.msg);
        else
            jr->rres.unsaved[0] = '\0';
        if (r != 0 && jr->r == 0) {
            jr->r = r;
            jr->d = fd;
        }
        if (jr->rres.outcome == KW_RENEW_ISSUED)
            kw_health_watch(s, kw_now());
        ks_close(s);
        return;
    }
    if (strcmp(jr->job.type, "scan") == 0)
        jr->r = run_scan(jr, s);
    else if (strcmp(jr->job.type, "probe") == 0 && jr->pres.cancelled)
        jr->r = KW_ECANCELED;
    else if (strcmp(jr->job.type, "probe") == 0)
        jr->r = record_probe(jr, s);
    else
        jr->r = kw_diag_set(&jr->d, KW_EINVAL, "unknown job type \"%s\"",
                            jr->job.type);

    now = kw_now();
    if (jr->r == KW_ECANCELED) {
        /* Stopped by a shutdown: due again as soon as the daemon is back. */
        jr->cancelled = 1;
        jr->next_at = now;
        r = ks_jobs_finish(s, jr->job.id, 1, now, NULL, now, &fd);
    } else if (jr->r == 0) {
        /* Jitter keeps many machines from rescanning in step; a failed
         * probe is looked at again within 5 minutes. */
        int64_t every = jr->interval;
        if (strcmp(jr->job.type, "probe") == 0 && !jr->pres.ok &&
            every > 5 * KW_MINUTE)
            every = 5 * KW_MINUTE;
        jr->next_at =
            now + every + (int64_t)((double)every * 0.05 * rand01());
        r = ks_jobs_finish(s, jr->job.id, 1, jr->next_at, NULL, now, &fd);
    } else {
        jr->next_at = now + ks_jobs_backoff(jr->job.attempt, JOB_RETRY_BASE,
                                            JOB_RETRY_CAP, rand01());
        r = ks_jobs_finish(s, jr->job.id, 0, jr->next_at, jr->d.msg, now,
                           &fd);
    }
    if (r != 0)
        snprintf(jr->rres.unsaved, sizeof(jr->rres.unsaved), "%s", fd.msg);
    if (r != 0 && jr->r == 0) {
        jr->r = r;
        jr->d = fd;
    }
    if (jr->r == 0 && (strcmp(jr->job.type, "scan") == 0 || jr->watch))
        kw_health_watch(s, kw_now());
    ks_close(s);
}

static void free_job(job_req *jr)
{
    size_t i;

    for (i = 0; i < jr->npaths; i++)
        free(jr->paths[i]);
    free(jr->paths);
    free(jr->ep.name);
    free(jr->ep.host);
    free(jr->ep.sni);
    kw_probe_result_clear(&jr->pres);
    free(jr);
}

static void start_watches(daemon_s *dm);

static void job_done(uv_work_t *req, int status)
{
    job_req *jr = req->data;
    daemon_s *dm = jr->dm;
    char when[32];

    dm->running--;
    kw_time_rfc3339(jr->next_at, when, sizeof(when));
    {
        int t = strcmp(jr->job.type, "probe") == 0      ? 1
                : strcmp(jr->job.type, "renew") == 0    ? 2
                : strcmp(jr->job.type, "precheck") == 0 ? 3
                                                        : 0;
        if (status == 0 && jr->r == 0)
            dm->counters.jobs_ok_total[t]++;
        else if (!jr->cancelled)
            dm->counters.jobs_failed_total[t]++;
        if (strcmp(jr->job.type, "scan") == 0 && status == 0 &&
            jr->r == 0) {
            dm->counters.scans_total++;
            dm->counters.scan_errors_total += jr->stats.errors;
            dm->counters.scan_skipped_total += jr->stats.skipped;
        }
    }
    if (status != 0) {
        kw_err("job %s %s: %s", jr->job.type, jr->job.key,
               uv_strerror(status));
    } else if (jr->cancelled) {
        kw_notice("job %s %s: stopped; it resumes at the next start",
                  jr->job.type, jr->job.key);
    } else if (strcmp(jr->job.type, "precheck") == 0) {
        if (jr->pc_ok)
            kw_info("certificate %s: the HTTP-01 pre-check passes; next at "
                    "%s",
                    jr->rname, when);
        else
            kw_warn("certificate %s: the HTTP-01 pre-check fails: %s; the "
                    "next renewal would fail (checked again at %s)",
                    jr->rname, jr->pc_verdict, when);
    } else if (strcmp(jr->job.type, "renew") == 0) {
        if (jr->rres.outcome == KW_RENEW_ISSUED)
            kw_notice("certificate %s: issued: %s; next renewal at %s",
                      jr->rname, jr->rres.msg, when);
        else if (jr->rres.outcome == KW_RENEW_NOT_DUE)
            kw_info("certificate %s: %s", jr->rname, jr->rres.msg);
        else if (jr->rres.unsaved[0] != '\0')
            kw_err("certificate %s: renewal failed: %s; its retry time was "
                   "not recorded (%s): the renewal runs again when the "
                   "daemon restarts",
                   jr->rname, jr->rres.msg, jr->rres.unsaved);
        else
            kw_err("certificate %s: renewal failed: %s; %s %s", jr->rname,
                   jr->rres.msg,
                   jr->rres.next_at > 0 ? "retry at"
                                        : "blocked (fix, then keywarden "
                                          "run-job renew:NAME); next look at",
                   when);
    } else if (jr->r != 0 && jr->rres.unsaved[0] != '\0') {
        kw_err("job %s %s failed (attempt %d): %s; its next run was not "
               "recorded (%s): it runs again when the daemon restarts",
               jr->job.type, jr->job.key, jr->job.attempt, jr->d.msg,
               jr->rres.unsaved);
    } else if (jr->r != 0) {
        kw_err("job %s %s failed (attempt %d): %s; retry at %s",
               jr->job.type, jr->job.key, jr->job.attempt, jr->d.msg, when);
    } else if (strcmp(jr->job.type, "probe") == 0) {
        if (!jr->pres.ok) {
            kw_warn("probe %s (%s:%d): %s; again at %s", jr->ep.name,
                    jr->ep.host, jr->ep.port, jr->pres.error, when);
        } else {
            char exp[32];
            kw_time_rfc3339(jr->pres.chain[0].not_after, exp, sizeof(exp));
            kw_notice("probe %s (%s): %s, serves %s expiring %s%s; next at "
                      "%s",
                      jr->ep.name, jr->pres.address, jr->pres.tls_version,
                      ks_cert_name(&jr->pres.chain[0]), exp,
                      jr->stale_of > 0 ? " (STALE: a newer certificate is "
                                         "on disk)"
                                       : "",
                      when);
        }
    } else if (strcmp(jr->job.type, "scan") == 0) {
        const ks_scan_stats *st = &jr->stats;
        kw_notice("scan: %zu files (%zu read), %zu certificates; %zu new, "
                  "%zu changed, %zu missing, %zu broken; next at %s",
                  st->files, st->parsed, st->certs, st->objects_new,
                  st->objects_changed, st->missing, st->errors, when);
        start_watches(dm);
    }
    free_job(jr);
    /* A scan's buffers were freed on other threads' arenas: give the
     * memory back, so an idle daemon is small again. */
    if (dm->running == 0)
        malloc_trim(0);
    if (dm->stopping) {
        maybe_finish_stop(dm);
    } else {
        request_claim(dm);
        /* The job may have written events (a renewal, a stale endpoint):
         * their hooks run now, not at the next minute's look. */
        if (dm->hooks != NULL)
            kw_hook_engine_kick(dm->hooks->e);
    }
}

static void on_probe_result(void *ctx, kw_probe_result *res)
{
    job_req *jr = ctx, **pp;

    for (pp = &jr->dm->probing; *pp != NULL; pp = &(*pp)->next_probing)
        if (*pp == jr) {
            *pp = jr->next_probing;
            break;
        }
    jr->probe = NULL;
    jr->pres = *res; /* the chain's strings move with it */
    if (uv_queue_work(jr->dm->loop, &jr->req, job_work, job_done) != 0) {
        kw_err("probe %s: cannot record the result", jr->ep.name);
        jr->dm->running--;
        free_job(jr);
    }
}

static void on_renew_done(void *ctx, const kw_renew_result *res)
{
    job_req *jr = ctx, **pp;

    for (pp = &jr->dm->renewing; *pp != NULL; pp = &(*pp)->next_renewing)
        if (*pp == jr) {
            *pp = jr->next_renewing;
            break;
        }
    jr->renew = NULL;
    jr->rres = *res;
    jr->rres.name = jr->rname;
    if (uv_queue_work(jr->dm->loop, &jr->req, job_work, job_done) != 0) {
        kw_err("certificate %s: cannot record the result", jr->rname);
        jr->dm->running--;
        free_job(jr);
    }
}

static void on_precheck_done(void *ctx, int ok, const char *summary,
                             const char *fix, json_t *report)
{
    job_req *jr = ctx;

    (void)report;
    jr->pc_ok = ok;
    snprintf(jr->pc_verdict, sizeof(jr->pc_verdict), "%s%s%.600s", summary,
             ok ? "" : ". Fix: ", ok ? "" : fix);
    if (uv_queue_work(jr->dm->loop, &jr->req, job_work, job_done) != 0) {
        kw_err("certificate %s: cannot record the pre-check", jr->rname);
        jr->dm->running--;
        free_job(jr);
    }
}

static void start_job(daemon_s *dm, const ks_jobrec *j)
{
    job_req *jr = calloc(1, sizeof(*jr));
    size_t i;
    int r;

    if (jr == NULL)
        goto oom;
    jr->dm = dm;
    jr->job = *j;
    jr->req.data = jr;
    jr->interval = dm->conf.scan_interval;
    jr->discover = dm->conf.discover;
    if (strcmp(j->type, "scan") == 0 && dm->conf.nscan_paths > 0) {
        jr->paths = calloc(dm->conf.nscan_paths, sizeof(*jr->paths));
        if (jr->paths == NULL)
            goto oom;
        for (i = 0; i < dm->conf.nscan_paths; i++) {
            if ((jr->paths[i] = strdup(dm->conf.scan_paths[i])) == NULL)
                goto oom;
            jr->npaths++;
        }
    }
    kw_info("job %s %s: starting (attempt %d)", j->type, j->key, j->attempt);
    if (strcmp(j->type, "precheck") == 0) {
        const kw_cert_conf *c = NULL;
        kw_precheck_req q;
        kw_diag d;

        for (i = 0; i < dm->conf.ncerts; i++)
            if (strcmp(dm->conf.certs[i].name, j->key) == 0)
                c = &dm->conf.certs[i];
        if (c == NULL || c->dns01 || c->precheck == KW_PRECHECK_OFF) {
            free_job(jr); /* the plan prunes it */
            return;
        }
        snprintf(jr->rname, sizeof(jr->rname), "%s", c->name);
        memset(&q, 0, sizeof(q));
        q.names = (const char *const *)c->names;
        q.nnames = c->nnames;
        q.webroot = c->http01_webroot ? c->webroot : NULL;
        q.listen = dm->conf.acme.http01_listen != NULL
                       ? dm->conf.acme.http01_listen
                       : KW_ACME_DEFAULT_HTTP01;
        if (kw_precheck_start(&dm->acme, &q, on_precheck_done, jr, &d) !=
            0) {
            jr->pc_ok = 0;
            snprintf(jr->pc_verdict, sizeof(jr->pc_verdict),
                     "the pre-check could not run: %s", d.msg);
            if (uv_queue_work(dm->loop, &jr->req, job_work, job_done) != 0) {
                free_job(jr);
                return;
            }
        }
        dm->running++;
        return;
    }
    if (strcmp(j->type, "renew") == 0) {
        const kw_cert_conf *c = NULL;
        kw_diag d;

        for (i = 0; i < dm->conf.ncerts; i++)
            if (strcmp(dm->conf.certs[i].name, j->key) == 0)
                c = &dm->conf.certs[i];
        if (c == NULL) {
            free_job(jr); /* left the configuration: the plan prunes it */
            return;
        }
        snprintf(jr->rname, sizeof(jr->rname), "%s", c->name);
        if (kw_renew_start(&dm->acme, c, 0, on_renew_done, jr, &jr->renew,
                           &d) != 0) {
            kw_err("certificate %s: %s", c->name, d.msg);
            free_job(jr);
            return;
        }
        jr->next_renewing = dm->renewing;
        dm->renewing = jr;
        dm->running++;
        return;
    }
    if (strcmp(j->type, "probe") == 0) {
        const kw_endpoint_conf *ep = NULL;

        for (i = 0; i < dm->conf.nendpoints; i++)
            if (strcmp(dm->conf.endpoints[i].name, j->key) == 0)
                ep = &dm->conf.endpoints[i];
        if (ep == NULL) {
            /* Left the configuration: the plan prunes it. */
            free_job(jr);
            return;
        }
        jr->ep = *ep;
        jr->ep.name = strdup(ep->name);
        jr->ep.host = strdup(ep->host);
        jr->ep.sni = ep->sni != NULL ? strdup(ep->sni) : NULL;
        jr->interval = ep->interval;
        /* Probes watch health for the daemons that only probe (no scan
         * paths), at most every ten minutes. */
        if (kw_now() - dm->watched_at >= 10 * KW_MINUTE) {
            jr->watch = 1;
            dm->watched_at = kw_now();
        }
        if (jr->ep.name == NULL || jr->ep.host == NULL ||
            (ep->sni != NULL && jr->ep.sni == NULL))
            goto oom;
        /* The probe runs on the loop; its result is recorded on the
         * pool. */
        r = kw_probe_start(dm->loop, &jr->ep, on_probe_result, jr,
                           &jr->probe);
        if (r == 0) {
            jr->next_probing = dm->probing;
            dm->probing = jr;
        } else {
            snprintf(jr->pres.error, sizeof(jr->pres.error), "%s",
                     kw_strerror(r));
            r = uv_queue_work(dm->loop, &jr->req, job_work, job_done);
        }
        if (r != 0) {
            kw_err("job %s %s: %s", j->type, j->key, uv_strerror(r));
            free_job(jr);
            return;
        }
        dm->running++;
        return;
    }
    r = uv_queue_work(dm->loop, &jr->req, job_work, job_done);
    if (r != 0) {
        kw_err("job %s %s: %s", j->type, j->key, uv_strerror(r));
        free_job(jr);
        return;
    }
    dm->running++;
    return;
oom:
    /* The job stays claimed (running); the next start resumes it. */
    kw_err("job %s %s: out of memory", j->type, j->key);
    if (jr != NULL)
        free_job(jr);
}


/* ---- hooks and what follows them --------------------------------------------- */

static void verify_done(void *ctx, const char *certificate, size_t fresh,
                        size_t stale)
{
    verify_item *vi = ctx, **pp;
    daemon_s *dm = vi->dm;

    for (pp = &dm->verifying; *pp != NULL; pp = &(*pp)->next)
        if (*pp == vi) {
            *pp = vi->next;
            break;
        }
    if (fresh + stale > 0)
        kw_info("certificate %s: %zu endpoint%s serve%s the new "
                "certificate, %zu do%s not",
                certificate, fresh, fresh == 1 ? "" : "s",
                fresh == 1 ? "s" : "", stale, stale == 1 ? "es" : "");
    free(vi);
    if (dm->stopping)
        maybe_finish_stop(dm);
}

/* An event with no delivery left open: a renewal's reloads have run (or
 * there were none), so the endpoints that serve it should now serve the
 * new certificate. */
static void hooks_settled(void *ctx, json_t *ev)
{
    hook_holder *h = ctx;
    daemon_s *dm = h->dm;
    const char *type = json_string_value(json_object_get(ev, "type"));
    verify_item *vi;
    kw_diag d;

    if (dm->stopping || type == NULL || strcmp(type, "cert.renewed") != 0 ||
        dm->conf.nendpoints == 0)
        return;
    if ((vi = calloc(1, sizeof(*vi))) == NULL)
        return;
    vi->dm = dm;
    if (kw_verify_start(dm->loop, dm->cli->db_path, &dm->conf, ev,
                        verify_done, vi, &vi->v, &d) != 0) {
        kw_debug("verify: %s", d.msg);
        free(vi);
        return;
    }
    vi->next = dm->verifying;
    dm->verifying = vi;
}

static void hooks_report(void *ctx, const kw_hook_report *r)
{
    (void)ctx;
    kw_hooks_log_report(r);
}

static void hooks_idle(void *ctx)
{
    hook_holder *h = ctx, **pp;
    daemon_s *dm = h->dm;

    /* Only retired engines report idle. */
    for (pp = &dm->retired; *pp != NULL; pp = &(*pp)->next)
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    kw_hook_engine_free(h->e);
    free(h);
    if (dm->stopping)
        maybe_finish_stop(dm);
}

/* Retire the current engine: it claims nothing more and is freed once its
 * runs are recorded. */
static void retire_hooks(daemon_s *dm)
{
    hook_holder *h = dm->hooks;

    if (h == NULL)
        return;
    dm->hooks = NULL;
    h->next = dm->retired;
    dm->retired = h;
    kw_hook_engine_stop(h->e); /* may call hooks_idle at once */
}

static void start_hooks(daemon_s *dm, int first)
{
    hook_holder *h = calloc(1, sizeof(*h));
    kw_hook_engine_opts o;
    kw_diag d;

    if (h == NULL) {
        kw_err("hooks: out of memory; hooks will not run");
        return;
    }
    h->dm = dm;
    kw_hooks_opts(&dm->conf, dm->cli->state_dir, dm->cli->db_path, dm->loop,
                  h->certs_dir, sizeof(h->certs_dir), &o);
    o.ctx = h;
    o.on_report = hooks_report;
    o.on_settled = hooks_settled;
    o.on_idle = hooks_idle;
    /* At start we hold the lock and run no other engine: a delivery left
     * running was cut off by a crash.  Not after a reload: the retired
     * engine may still be running it. */
    o.reclaim = first;
    if (kw_hook_engine_new(&o, &h->e, &d) != 0) {
        kw_err("hooks: %s; hooks will not run", d.msg);
        free(h);
        return;
    }
    dm->hooks = h;
    if (dm->conf.nhooks > 0)
        kw_notice("hooks: %zu configured", dm->conf.nhooks);
    kw_hook_engine_kick(h->e);
}

/* ---- scheduling what the configuration asks for ------------------------------ */

typedef struct plan_req {
    uv_work_t req;
    daemon_s *dm;
    char **endpoints; /* names, copied from the configuration */
    size_t nendpoints;
    char **certs;     /* [certificate] names, likewise */
    size_t ncerts;
    char **prechecks; /* those that use http-01 with a pre-check */
    size_t nprechecks;
    int scan;
    int recover;
    int r;
    kw_diag d;
    size_t recovered;
} plan_req;

static void plan_work(uv_work_t *req)
{
    plan_req *p = req->data;
    ks_store *s = NULL;
    int64_t now = kw_now();

    size_t i;

    p->r = open_store(p->dm->cli, &s, &p->d);
    if (p->r == 0 && p->recover)
        p->r = ks_jobs_recover(s, now, &p->recovered, &p->d);
    /* A scan at start (or now, after a reload), then every interval. */
    if (p->r == 0 && p->scan)
        p->r = ks_jobs_ensure(s, "scan", "all", now, 1, now, &p->d);
    /* Each endpoint probed now, then every interval; endpoints that left
     * the configuration leave the inventory too. */
    for (i = 0; p->r == 0 && i < p->nendpoints; i++)
        p->r = ks_jobs_ensure(s, "probe", p->endpoints[i], now, 1, now,
                              &p->d);
    if (p->r == 0)
        p->r = ks_jobs_prune(s, "probe", (const char *const *)p->endpoints,
                             p->nendpoints, &p->d);
    /* Each managed certificate is looked at now (a renewal that is not
     * due ends at once and sets its own next time). */
    for (i = 0; p->r == 0 && i < p->ncerts; i++)
        p->r = ks_jobs_ensure(s, "renew", p->certs[i], now, 1, now, &p->d);
    if (p->r == 0)
        p->r = ks_jobs_prune(s, "renew", (const char *const *)p->certs,
                             p->ncerts, &p->d);
    /* The daily pre-check, first a minute after the renewal jobs. */
    for (i = 0; p->r == 0 && i < p->nprechecks; i++)
        p->r = ks_jobs_ensure(s, "precheck", p->prechecks[i],
                              now + KW_MINUTE, 0, now, &p->d);
    if (p->r == 0)
        p->r = ks_jobs_prune(s, "precheck",
                             (const char *const *)p->prechecks,
                             p->nprechecks, &p->d);
    if (p->r == 0)
        p->r = ks_endpoint_prune(s, (const char *const *)p->endpoints,
                                 p->nendpoints, &p->d);
    ks_close(s);
}

static void free_plan(plan_req *p)
{
    size_t i;

    for (i = 0; i < p->nendpoints; i++)
        free(p->endpoints[i]);
    free(p->endpoints);
    for (i = 0; i < p->ncerts; i++)
        free(p->certs[i]);
    free(p->certs);
    for (i = 0; i < p->nprechecks; i++)
        free(p->prechecks[i]);
    free(p->prechecks);
    free(p);
}

static void plan_done(uv_work_t *req, int status)
{
    plan_req *p = req->data;

    if (status != 0 || p->r != 0)
        kw_err("scheduling: %s", p->r != 0 ? p->d.msg : uv_strerror(status));
    else if (p->recovered > 0)
        kw_notice("resuming %zu job%s interrupted by the last stop",
                  p->recovered, p->recovered == 1 ? "" : "s");
    p->dm->planning--;
    if (p->dm->stopping)
        maybe_finish_stop(p->dm);
    else
        request_claim(p->dm);
    free_plan(p);
}

/* names[*n] = a copy of name, *n + 1; the array has room. */
static int add_name(char **names, size_t *n, const char *name)
{
    if ((names[*n] = strdup(name)) == NULL)
        return -1;
    (*n)++;
    return 0;
}

static plan_req *new_plan(daemon_s *dm, int recover)
{
    plan_req *p = calloc(1, sizeof(*p));
    size_t i;

    if (p == NULL)
        return NULL;
    p->dm = dm;
    p->recover = recover;
    p->scan = dm->conf.nscan_paths > 0 || dm->conf.discover;
    p->req.data = p;
    p->endpoints = calloc(dm->conf.nendpoints + 1, sizeof(*p->endpoints));
    p->certs = calloc(dm->conf.ncerts + 1, sizeof(*p->certs));
    p->prechecks = calloc(dm->conf.ncerts + 1, sizeof(*p->prechecks));
    if (p->endpoints == NULL || p->certs == NULL || p->prechecks == NULL) {
        free_plan(p);
        return NULL;
    }
    for (i = 0; i < dm->conf.nendpoints; i++)
        if (add_name(p->endpoints, &p->nendpoints,
                     dm->conf.endpoints[i].name) != 0) {
            free_plan(p);
            return NULL;
        }
    for (i = 0; i < dm->conf.ncerts; i++) {
        const kw_cert_conf *c = &dm->conf.certs[i];

        if (add_name(p->certs, &p->ncerts, c->name) != 0 ||
            (!c->dns01 && c->precheck != KW_PRECHECK_OFF &&
             add_name(p->prechecks, &p->nprechecks, c->name) != 0)) {
            free_plan(p);
            return NULL;
        }
    }
    return p;
}

static void plan(daemon_s *dm, int recover)
{
    plan_req *p = new_plan(dm, recover);

    if (p == NULL) {
        kw_err("scheduling: out of memory");
        return;
    }
    if (uv_queue_work(dm->loop, &p->req, plan_work, plan_done) != 0) {
        kw_err("scheduling: cannot queue work");
        free_plan(p);
        return;
    }
    dm->planning++;
}

/* ---- watching scanned paths ------------------------------------------------- */

typedef struct watch_req {
    uv_work_t req;
    daemon_s *dm;
    char **roots;
    size_t nroots;
    char **dirs;
    size_t ndirs;
    int truncated;
} watch_req;

static void collect_dirs(watch_req *w, const char *path, int depth)
{
    DIR *d;
    struct dirent *de;
    char sub[PATH_MAX];
    char **nd;
    struct stat sb;

    if (w->ndirs >= MAX_WATCHES) {
        w->truncated = 1;
        return;
    }
    if (depth > 16 || stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return;
    nd = realloc(w->dirs, (w->ndirs + 1) * sizeof(*nd));
    if (nd == NULL)
        return;
    w->dirs = nd;
    if ((w->dirs[w->ndirs] = strdup(path)) == NULL)
        return;
    w->ndirs++;
    /* Symlinked directories are not followed: the walk is only for
     * change notification, and the links' targets are watched where they
     * live when they are under a scanned path. */
    if ((d = opendir(path)) == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' &&
            (de->d_name[1] == '\0' ||
             (de->d_name[1] == '.' && de->d_name[2] == '\0')))
            continue;
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >=
            sizeof(sub))
            continue;
        if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
            collect_dirs(w, sub, depth + 1);
    }
    closedir(d);
}

static void watch_work(uv_work_t *req)
{
    watch_req *w = req->data;
    size_t i;

    for (i = 0; i < w->nroots; i++)
        collect_dirs(w, w->roots[i], 0);
}

static void on_debounce(uv_timer_t *t)
{
    daemon_s *dm = t->data;
    plan_req *p;

    kw_info("watch: changes under a scanned path; rescanning");
    p = new_plan(dm, 0);
    if (p == NULL)
        return;
    if (uv_queue_work(dm->loop, &p->req, plan_work, plan_done) != 0)
        free_plan(p);
    else
        dm->planning++;
}

static void on_fs_event(uv_fs_event_t *h, const char *name, int events,
                        int status)
{
    watch *w = h->data;

    (void)name;
    (void)events;
    if (status != 0 || w->dm->stopping)
        return;
    /* Restarting the timer on every event: a burst costs one rescan. */
    uv_timer_start(&w->dm->debounce, on_debounce, WATCH_DEBOUNCE_MS, 0);
}

static void free_watch(uv_handle_t *h)
{
    free(h->data);
}

static void stop_watches(daemon_s *dm)
{
    size_t i;

    for (i = 0; i < dm->nwatches; i++) {
        uv_fs_event_stop(&dm->watches[i]->h);
        uv_close((uv_handle_t *)&dm->watches[i]->h, free_watch);
    }
    free(dm->watches);
    dm->watches = NULL;
    dm->nwatches = 0;
}

static void watch_done(uv_work_t *req, int status)
{
    watch_req *w = req->data;
    daemon_s *dm = w->dm;
    size_t i;

    dm->watching = 0;
    if (status == 0 && !dm->stopping && dm->conf.scan_watch) {
        stop_watches(dm);
        dm->watches = calloc(w->ndirs > 0 ? w->ndirs : 1,
                             sizeof(*dm->watches));
        for (i = 0; dm->watches != NULL && i < w->ndirs; i++) {
            watch *wt = calloc(1, sizeof(*wt));
            if (wt == NULL)
                break;
            wt->dm = dm;
            uv_fs_event_init(dm->loop, &wt->h);
            wt->h.data = wt;
            if (uv_fs_event_start(&wt->h, on_fs_event, w->dirs[i], 0) != 0) {
                uv_close((uv_handle_t *)&wt->h, free_watch);
                continue;
            }
            dm->watches[dm->nwatches++] = wt;
        }
        if (w->truncated)
            kw_warn("watch: more than %d directories under the scanned "
                    "paths; changes deeper are found by the periodic scan",
                    MAX_WATCHES);
        kw_debug("watch: %zu directories", dm->nwatches);
    }
    for (i = 0; i < w->nroots; i++)
        free(w->roots[i]);
    for (i = 0; i < w->ndirs; i++)
        free(w->dirs[i]);
    free(w->roots);
    free(w->dirs);
    free(w);
    if (dm->stopping)
        maybe_finish_stop(dm);
}

static void start_watches(daemon_s *dm)
{
    watch_req *w;
    size_t i;

    if (!dm->conf.scan_watch || dm->watching || dm->stopping)
        return;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return;
    w->dm = dm;
    w->req.data = w;
    w->roots = calloc(dm->conf.nscan_paths + 1, sizeof(*w->roots));
    for (i = 0; w->roots != NULL && i < dm->conf.nscan_paths; i++)
        if ((w->roots[w->nroots] = strdup(dm->conf.scan_paths[i])) != NULL)
            w->nroots++;
    if (uv_queue_work(dm->loop, &w->req, watch_work, watch_done) != 0) {
        free(w->roots);
        free(w);
        return;
    }
    dm->watching = 1;
}

/* ---- /metrics and /healthz -------------------------------------------------------- */

typedef struct render_req {
    uv_work_t req;
    daemon_s *dm;
    kw_http_req *http;
    kw_metrics_counters counters;
    char *body;
    size_t len;
    int r;
    kw_diag d;
} render_req;

static void render_work(uv_work_t *req)
{
    render_req *rr = req->data;
    ks_store *s = NULL;

    rr->r = open_store(rr->dm->cli, &s, &rr->d);
    if (rr->r == 0)
        rr->r = kw_metrics_render(s, &rr->counters, kw_now(), &rr->body,
                                  &rr->len, &rr->d);
    ks_close(s);
}

static void render_done(uv_work_t *req, int status)
{
    render_req *rr = req->data;
    daemon_s *dm = rr->dm;

    dm->rendering--;
    if (status != 0 || rr->r != 0) {
        char *msg = strdup("metrics unavailable\n");
        kw_err("/metrics: %s", rr->r != 0 ? rr->d.msg : uv_strerror(status));
        kw_http_respond(rr->http, 500, "text/plain", msg,
                        msg != NULL ? strlen(msg) : 0);
        free(rr->body);
    } else {
        kw_http_respond(rr->http, 200, "text/plain; version=0.0.4",
                        rr->body, rr->len);
    }
    free(rr);
    if (dm->stopping)
        maybe_finish_stop(dm);
}

static void on_http(void *ctx, kw_http_req *req, const char *method,
                    const char *path)
{
    daemon_s *dm = ctx;
    render_req *rr;
    char *text;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        text = strdup("only GET\n");
        kw_http_respond(req, 405, NULL, text, text ? strlen(text) : 0);
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        text = strdup(dm->stopping ? "stopping\n" : "ok\n");
        kw_http_respond(req, dm->stopping ? 503 : 200, NULL, text,
                        text ? strlen(text) : 0);
        return;
    }
    if (strcmp(path, "/metrics") != 0) {
        text = strdup("not found; try /metrics or /healthz\n");
        kw_http_respond(req, 404, NULL, text, text ? strlen(text) : 0);
        return;
    }
    rr = calloc(1, sizeof(*rr));
    if (rr == NULL || dm->stopping || dm->rendering >= 4) {
        /* A few renders at a time; more clients wait for the next. */
        free(rr);
        text = strdup("busy\n");
        kw_http_respond(req, 503, NULL, text, text ? strlen(text) : 0);
        return;
    }
    rr->dm = dm;
    rr->http = req;
    rr->counters = dm->counters;
    rr->req.data = rr;
    if (uv_queue_work(dm->loop, &rr->req, render_work, render_done) != 0) {
        free(rr);
        text = strdup("busy\n");
        kw_http_respond(req, 503, NULL, text, text ? strlen(text) : 0);
        return;
    }
    dm->rendering++;
}

/* ---- the control socket ----------------------------------------------------------- */

typedef struct ctl_req {
    uv_work_t req;
    daemon_s *dm;
    kw_control_req *conn;
    char cmd[16];
    char type[16], key[128];
    char **paths;
    size_t npaths;
    int64_t ids[KW_CONTROL_MAX_IDS];
    size_t nids;
    json_t *reply;
    int r;
    kw_diag d;
} ctl_req;

static void ctl_work(uv_work_t *req)
{
    ctl_req *c = req->data;
    ks_store *s = NULL;
    int64_t now = kw_now();

    c->r = open_store(c->dm->cli, &s, &c->d);
    if (c->r != 0)
        return;
    if (strcmp(c->cmd, "status") == 0) {
        sqlite3_stmt *st = NULL;
        json_t *jobs = json_array();

        if (sqlite3_prepare_v2(ks_db(s),
                               "SELECT type, key, state, attempt, next_at, "
                               "last_error FROM jobs WHERE state = 'pending' "
                               "OR state = 'running' ORDER BY next_at",
                               -1, &st, NULL) == SQLITE_OK) {
            while (sqlite3_step(st) == SQLITE_ROW) {
                char when[32];
                kw_time_rfc3339(sqlite3_column_int64(st, 4), when,
                                sizeof(when));
                json_array_append_new(
                    jobs,
                    json_pack("{s:s, s:s, s:s, s:i, s:s, s:s?}", "type",
                              sqlite3_column_text(st, 0), "key",
                              sqlite3_column_text(st, 1), "state",
                              sqlite3_column_text(st, 2), "attempt",
                              sqlite3_column_int(st, 3), "next_at", when,
                              "last_error", sqlite3_column_text(st, 5)));
            }
        }
        sqlite3_finalize(st);
        c->reply = json_pack("{s:b, s:o}", "ok", 1, "jobs", jobs);
    } else if (strcmp(c->cmd, "run") == 0) {
        c->r = ks_jobs_ensure(s, c->type, c->key, now, 1, now, &c->d);
        if (c->r == 0)
            c->reply = json_pack("{s:b}", "ok", 1);
    } else if (strcmp(c->cmd, "forget") == 0) {
        size_t i;

        for (i = 0; i < c->nids && c->r == 0; i++)
            c->r = ks_inventory_forget(s, c->ids[i], now, &c->d);
        if (c->r == 0)
            c->reply = json_pack("{s:b}", "ok", 1);
    } else if (strcmp(c->cmd, "scan") == 0) {
        ks_scan_opts o;
        ks_scan_stats st;

        memset(&o, 0, sizeof(o));
        o.now = now;
        o.cancel = &c->dm->cancel;
        c->r = ks_scan(s, (const char *const *)c->paths, c->npaths, &o, &st,
                       &c->d);
        if (c->r == 0)
            c->reply = json_pack(
                "{s:b, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
                "ok", 1, "stats", "files", (json_int_t)st.files, "dirs",
                (json_int_t)st.dirs, "unchanged", (json_int_t)st.unchanged,
                "parsed", (json_int_t)st.parsed, "certs",
                (json_int_t)st.certs, "keys", (json_int_t)st.keys, "new",
                (json_int_t)st.objects_new, "changed",
                (json_int_t)st.objects_changed, "missing",
                (json_int_t)st.missing, "errors", (json_int_t)st.errors);
    }
    ks_close(s);
}

static void ctl_done(uv_work_t *req, int status)
{
    ctl_req *c = req->data;
    daemon_s *dm = c->dm;
    size_t i;

    dm->controlling--;
    if (status != 0 || c->r != 0 || c->reply == NULL) {
        json_decref(c->reply);
        kw_control_reply(c->conn,
                         json_pack("{s:b, s:s}", "ok", 0, "error",
                                   c->r != 0 ? c->d.msg
                                             : "the request failed"));
    } else {
        kw_control_reply(c->conn, c->reply);
    }
    if (strcmp(c->cmd, "run") == 0 && c->r == 0)
        request_claim(dm);
    for (i = 0; i < c->npaths; i++)
        free(c->paths[i]);
    free(c->paths);
    free(c);
    if (dm->stopping)
        maybe_finish_stop(dm);
}

static void on_sighup(uv_signal_t *h, int signum);

static void ctl_fail(kw_control_req *conn, const char *why)
{
    kw_control_reply(conn, json_pack("{s:b, s:s}", "ok", 0, "error", why));
}

static int start_reload(daemon_s *dm, kw_control_req *conn,
                        const char **why);

static void on_control(void *ctx, kw_control_req *conn,
                       kw_control_request *q)
{
    daemon_s *dm = ctx;
    const char *why;
    ctl_req *c;
    size_t i;

    if (dm->stopping) {
        ctl_fail(conn, "the daemon is stopping");
        return;
    }
    if (strcmp(q->cmd, "reload") == 0) {
        /* Answered when the new configuration is in use, or with the
         * reason it is not. */
        if (start_reload(dm, conn, &why) != 0)
            ctl_fail(conn, why);
        return;
    }
    if (strcmp(q->cmd, "run") == 0 && strcmp(q->type, "scan") != 0) {
        int cert = strcmp(q->type, "renew") == 0 ||
                   strcmp(q->type, "precheck") == 0;
        int known = 0;

        for (i = 0; !cert && i < dm->conf.nendpoints; i++)
            known |= strcmp(dm->conf.endpoints[i].name, q->key) == 0;
        for (i = 0; cert && i < dm->conf.ncerts; i++)
            known |= strcmp(dm->conf.certs[i].name, q->key) == 0;
        if (!known) {
            ctl_fail(conn, cert ? "no such certificate in the configuration"
                                : "no such endpoint in the configuration");
            return;
        }
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        ctl_fail(conn, "out of memory");
        return;
    }
    c->dm = dm;
    c->conn = conn;
    c->req.data = c;
    snprintf(c->cmd, sizeof(c->cmd), "%s", q->cmd);
    snprintf(c->type, sizeof(c->type), "%s", q->type);
    snprintf(c->key, sizeof(c->key), "%s", q->key);
    memcpy(c->ids, q->ids, sizeof(c->ids));
    c->nids = q->nids;
    c->paths = q->paths;
    c->npaths = q->npaths;
    q->paths = NULL;
    q->npaths = 0;
    if (uv_queue_work(dm->loop, &c->req, ctl_work, ctl_done) != 0) {
        for (i = 0; i < c->npaths; i++)
            free(c->paths[i]);
        free(c->paths);
        free(c);
        ctl_fail(conn, "busy");
        return;
    }
    dm->controlling++;
}

/* ---- signals ------------------------------------------------------------------------ */

typedef struct reload_req {
    uv_work_t req;
    daemon_s *dm;
    kw_control_req *conn; /* a `keywarden reload` waiting for the result */
    kw_config conf;
    int from_file;
    int r;
    kw_diag d;
} reload_req;

static void reload_work(uv_work_t *req)
{
    reload_req *rr = req->data;

    rr->r = load_config(rr->dm->cli, &rr->conf, &rr->from_file, &rr->d);
}

static void reload_done(uv_work_t *req, int status)
{
    reload_req *rr = req->data;
    daemon_s *dm = rr->dm;
    const char *failed = NULL;

    dm->reloading = 0;
    if (status != 0 || rr->r != 0) {
        failed = rr->r != 0 ? rr->d.msg : uv_strerror(status);
        kw_err("reload: %s; keeping the running configuration", failed);
        kw_config_free(&rr->conf);
    } else if (dm->stopping) {
        failed = "the daemon is stopping";
        kw_config_free(&rr->conf);
    } else {
        kw_config_free(&dm->conf);
        dm->conf = rr->conf;
        dm->config_from_file = rr->from_file;
        if (dm->conf.log_level >= 0)
            kw_log_set_level((enum kw_log_level)dm->conf.log_level);
        kw_notice("reload: %s loaded: %zu scan paths, %zu endpoints",
                  dm->conf.path ? dm->conf.path : "defaults",
                  dm->conf.nscan_paths, dm->conf.nendpoints);
        if (!dm->conf.scan_watch)
            stop_watches(dm);
        plan(dm, 0);
        start_watches(dm);
        /* New hook definitions: a new engine; the old one finishes what
         * it runs (the database keeps two from running one hook). */
        retire_hooks(dm);
        start_hooks(dm, 0);
    }
    if (rr->conn != NULL && failed != NULL) {
        char why[sizeof(rr->d.msg) + 64];

        snprintf(why, sizeof(why), "%s; the running configuration stays",
                 failed);
        ctl_fail(rr->conn, why);
    } else if (rr->conn != NULL) {
        kw_control_reply(rr->conn, json_pack("{s:b}", "ok", 1));
    }
    kw_sd_notify("READY=1");
    free(rr);
    if (dm->stopping)
        maybe_finish_stop(dm);
}

/* Re-read the configuration on the pool; conn (when not NULL) gets the
 * outcome.  -1 with *why when no reload starts. */
static int start_reload(daemon_s *dm, kw_control_req *conn,
                        const char **why)
{
    reload_req *rr;

    if (dm->stopping) {
        *why = "the daemon is stopping";
        return -1;
    }
    if (dm->reloading) {
        /* One at a time; a read that hangs (a slow file system) must be
         * visible, not a silent no-op. */
        snprintf(dm->reload_busy, sizeof(dm->reload_busy),
                 "a reload started %lld s ago is still reading %s; this "
                 "one is not done",
                 (long long)((uv_now(dm->loop) - dm->reload_started) / 1000),
                 dm->cli->config_path);
        *why = dm->reload_busy;
        return -1;
    }
    rr = calloc(1, sizeof(*rr));
    if (rr == NULL) {
        *why = "out of memory";
        return -1;
    }
    rr->dm = dm;
    rr->conn = conn;
    rr->req.data = rr;
    kw_notice("%s: reloading %s", conn != NULL ? "keywarden reload" : "SIGHUP",
              dm->cli->config_path);
    kw_sd_notify("RELOADING=1");
    if (uv_queue_work(dm->loop, &rr->req, reload_work, reload_done) != 0) {
        free(rr);
        kw_sd_notify("READY=1");
        *why = "the daemon could not queue the reload";
        return -1;
    }
    dm->reloading = 1;
    dm->reload_started = uv_now(dm->loop);
    return 0;
}

static void on_sighup(uv_signal_t *h, int signum)
{
    daemon_s *dm = h->data;
    const char *why;

    (void)signum;
    if (start_reload(dm, NULL, &why) != 0)
        kw_warn("SIGHUP: %s", why);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Close what keeps the loop alive once no work is in flight. */
static void maybe_finish_stop(daemon_s *dm)
{
    if (dm->running > 0 || dm->claiming || dm->watching || dm->reloading ||
        dm->planning > 0 || dm->rendering > 0 || dm->controlling > 0 ||
        dm->retired != NULL || dm->verifying != NULL)
        return;
    kw_acme_env_close(&dm->acme);
    kw_control_close(dm->control);
    dm->control = NULL;
    stop_watches(dm);
    kw_http_close(dm->http);
    dm->http = NULL;
    close_handle((uv_handle_t *)&dm->timer);
    close_handle((uv_handle_t *)&dm->debounce);
    close_handle((uv_handle_t *)&dm->stop_deadline);
    close_handle((uv_handle_t *)&dm->sighup);
    close_handle((uv_handle_t *)&dm->sigterm);
    close_handle((uv_handle_t *)&dm->sigint);
}

/* What a stop still waits for, in words for the log. */
static void describe_pending(const daemon_s *dm, char *out, size_t len)
{
    size_t n = 0;

#define ADD(cond, ...)                                                    \
    do {                                                                  \
        if ((cond) && n < len) {                                          \
            int w = snprintf(out + n, len - n, "%s", n ? ", " : "");      \
            n += w > 0 ? (size_t)w : 0;                                   \
            if (n < len) {                                                \
                w = snprintf(out + n, len - n, __VA_ARGS__);              \
                n += w > 0 ? (size_t)w : 0;                               \
            }                                                             \
        }                                                                 \
    } while (0)
    out[0] = '\0';
    ADD(dm->running > 0, "%d job%s", dm->running,
        dm->running == 1 ? "" : "s");
    ADD(dm->reloading, "a configuration reload reading %s (for %llu s)",
        dm->cli->config_path,
        (unsigned long long)((uv_now(dm->loop) - dm->reload_started) /
                             1000));
    ADD(dm->claiming, "a claim pass");
    ADD(dm->planning > 0, "%d plan pass%s", dm->planning,
        dm->planning == 1 ? "" : "es");
    ADD(dm->watching, "a walk for inotify watches");
    ADD(dm->rendering > 0, "%d /metrics render%s", dm->rendering,
        dm->rendering == 1 ? "" : "s");
    ADD(dm->controlling > 0, "%d control request%s", dm->controlling,
        dm->controlling == 1 ? "" : "s");
    ADD(dm->retired != NULL, "hook runs");
    ADD(dm->verifying != NULL, "endpoint verifications");
#undef ADD
    if (out[0] == '\0')
        snprintf(out, len, "handles closing");
}

/* The stop took too long: something on the pool does not return (a hung
 * file system, a FIFO).  Exiting is safe, as kill -9 is: jobs left
 * running are resumed at the next start, SQLite rolls back what was not
 * committed.  _exit, because exit() would run libuv's destructor, which
 * joins the pool's threads and so waits for the stuck one. */
static void on_stop_deadline(uv_timer_t *t)
{
    daemon_s *dm = t->data;
    char what[1024];

    describe_pending(dm, what, sizeof(what));
    kw_err("stop: still waiting after %llu s for %s; exiting without it "
           "(work left running resumes at the next start)",
           (unsigned long long)((uv_now(dm->loop) - dm->stop_started) /
                                1000),
           what);
    if (dm->control != NULL)
        unlink(dm->control_path);
    fflush(NULL);
    _exit(KW_EXIT_FAIL);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    daemon_s *dm = h->data;
    job_req *jr;
    uint64_t deadline = STOP_DEADLINE_MS;
    size_t i;

    if (dm->stopping) {
        char what[1024];

        describe_pending(dm, what, sizeof(what));
        kw_notice("%s again: still waiting for %s (at most %llu s more)",
                  strsignal(signum), what,
                  (unsigned long long)((dm->stop_started +
                                        dm->stop_allowed -
                                        uv_now(dm->loop)) /
                                       1000));
        return;
    }
    kw_notice("%s: stopping", strsignal(signum));
    kw_sd_notify("STOPPING=1");
    dm->stopping = 1;
    dm->cancel = 1;
    for (jr = dm->probing; jr != NULL; jr = jr->next_probing)
        kw_probe_cancel(jr->probe);
    for (jr = dm->renewing; jr != NULL; jr = jr->next_renewing)
        kw_renew_cancel(jr->renew);
    {
        verify_item *vi;

        verify_item *next;

        for (vi = dm->verifying; vi != NULL; vi = next) {
            next = vi->next;
            kw_verify_cancel(vi->v);
        }
    }
    /* Hooks in flight finish (each within its timeout) and are recorded;
     * what was not claimed waits in the outbox for the next start. */
    retire_hooks(dm);
    uv_timer_stop(&dm->timer);
    uv_timer_stop(&dm->debounce);
    /* Stopping is bounded: hooks get their timeouts (a built-in reload
     * is two commands, each killed 2 s after its timeout), the rest
     * STOP_DEADLINE_MS. */
    for (i = 0; dm->retired != NULL && i < dm->conf.nhooks; i++) {
        uint64_t h_ms = (uint64_t)(dm->conf.hooks[i].timeout + 2) * 2000 +
                        STOP_DEADLINE_MS;
        if (h_ms > deadline)
            deadline = h_ms;
    }
    dm->stop_started = uv_now(dm->loop);
    dm->stop_allowed = deadline;
    uv_timer_start(&dm->stop_deadline, on_stop_deadline, deadline, 0);
    maybe_finish_stop(dm);
}

/* ---- keywarden serve ------------------------------------------------------------- */

int kw_daemon_serve(const kw_state *cli)
{
    daemon_s dm;
    ks_store *s = NULL;
    kw_diag d;
    int r;

    memset(&dm, 0, sizeof(dm));
    dm.cli = cli;
    dm.lock_fd = -1;
    /* Few malloc arenas: the thread pool's work is short, and every
     * arena keeps its high-water mark resident. */
    mallopt(M_ARENA_MAX, 2);
    /* A peer that goes away (a control client, a hook that does not read
     * its stdin) must cost an EPIPE, not the daemon. */
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)getpid() ^ (unsigned)kw_now());

    if ((r = load_config(cli, &dm.conf, &dm.config_from_file, &d)) != 0) {
        kw_err("%s", d.msg);
        return KW_EXIT_FAIL;
    }
    if (dm.conf.log_level >= 0)
        kw_log_set_level((enum kw_log_level)dm.conf.log_level);
    /* The store is created (and migrated) before the loop starts, once. */
    if ((r = kw_state_open(cli, 1, &s, &d)) != 0) {
        kw_err("%s", d.msg);
        kw_config_free(&dm.conf);
        return KW_EXIT_FAIL;
    }
    ks_close(s);
    if ((r = kw_state_lock(cli, "serve", &dm.lock_fd, &d)) != 0) {
        kw_err("%s", d.msg);
        kw_config_free(&dm.conf);
        return KW_EXIT_FAIL;
    }

    dm.loop = uv_default_loop();
    uv_timer_init(dm.loop, &dm.timer);
    uv_timer_init(dm.loop, &dm.debounce);
    uv_timer_init(dm.loop, &dm.stop_deadline);
    dm.timer.data = dm.debounce.data = dm.stop_deadline.data = &dm;
    uv_signal_init(dm.loop, &dm.sighup);
    uv_signal_init(dm.loop, &dm.sigterm);
    uv_signal_init(dm.loop, &dm.sigint);
    dm.sighup.data = dm.sigterm.data = dm.sigint.data = &dm;
    uv_signal_start(&dm.sighup, on_sighup, SIGHUP);
    uv_signal_start(&dm.sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&dm.sigint, on_stop_signal, SIGINT);

    kw_notice("serving %s with %s (%zu scan paths, %zu endpoints)",
              cli->db_path,
              dm.config_from_file ? cli->config_path : "built-in defaults",
              dm.conf.nscan_paths, dm.conf.nendpoints);
    dm.counters.started_at = kw_now();
    if (dm.conf.metrics_listen[0] != '\0') {
        r = kw_http_listen(dm.loop, dm.conf.metrics_listen, on_http, &dm,
                           &dm.http, &d);
        if (r != 0 && dm.conf.metrics_default) {
            /* Only the default: another daemon may use the port. */
            kw_warn("metrics: %s; set metrics_listen (or off) in %s", d.msg,
                    cli->config_path);
            r = 0;
        } else if (r != 0) {
            kw_err("metrics_listen: %s", d.msg);
            dm.exit_code = KW_EXIT_FAIL;
            dm.stopping = 1;
            maybe_finish_stop(&dm);
            uv_run(dm.loop, UV_RUN_DEFAULT);
            uv_loop_close(dm.loop);
            kw_config_free(&dm.conf);
            close(dm.lock_fd);
            return KW_EXIT_FAIL;
        }
        if (dm.http != NULL)
            kw_notice("metrics on http://%s/metrics",
                      dm.conf.metrics_listen);
    }
    kw_state_control_path(cli, dm.conf.control_socket, dm.control_path,
                          sizeof(dm.control_path));
    if (kw_control_listen(dm.loop, dm.control_path, dm.conf.control_group,
                          on_control, &dm, &dm.control, &d) != 0)
        kw_warn("%s; status, reload and run-job will not reach this daemon",
                d.msg);
    if (kw_acme_env_init(&dm.acme, dm.loop, &dm.conf, cli->state_dir,
                         cli->db_path, &d) != 0)
        kw_warn("acme: %s; managed certificates will not renew", d.msg);
    plan(&dm, 1);
    start_watches(&dm);
    start_hooks(&dm, 1);
    kw_sd_notify("READY=1");

    r = uv_run(dm.loop, UV_RUN_DEFAULT);
    (void)r;
    r = uv_loop_close(dm.loop);
    if (r != 0)
        kw_warn("loop closed with handles still open: %s", uv_strerror(r));
    kw_notice("stopped");
    kw_config_free(&dm.conf);
    close(dm.lock_fd);
    return dm.exit_code;
}
