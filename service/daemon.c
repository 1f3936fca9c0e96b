/*
 * daemon.c: keywarden serve, the long-running service.
 *
 * One libuv loop.  The loop thread only keeps time and reacts: a single
 * uv_timer is armed for the earliest due job; SQLite, scans and file
 * system walks run on the libuv thread pool, each work item with its own
 * database connection (SQLite connections are not shared across threads).
 *
 *   timer / event --> claim pass (pool): claim due jobs, read the next
 *                     due time --> loop: kw_job_start() each, re-arm
 *   job done      --> loop: another claim pass
 *   start, reload,--> plan pass (pool): each job type's keys from the
 *   watch debounce    configuration ensured, the ones it dropped pruned
 *   SIGHUP        --> reload the configuration (pool); a broken file is
 *                     reported and the running one stays
 *   SIGTERM/INT   --> stop: running scans are told to stop at the next
 *                     file; what they committed stays, and their job is
 *                     left due so the next start resumes it
 *   inotify       --> a change under a scanned path, or to a DKIM
 *                     signer's files, makes the scan job due in 2 s
 *                     (debounced); a scan that changed the selectors
 *                     makes the DKIM check due
 *
 * Jobs are rows (keystore/ks_jobs.h): a job is marked running before it
 * starts, so a kill -9 leaves it running and the next start resumes it.
 * What a job does is its type's, in the table of job.h (states and
 * transitions drawn there): this file names no job type.
 */
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "hooks.h"
#include "job.h"
#include "metrics.h"
#include "state.h"
#include "watch.h"
#include "listing.h"
#include "web.h"

#include "../acme/http.h"
#include "../acme/renew.h"
#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../keystore/ks_inventory.h"
#include "../keystore/ks_jobs.h"
#include "../keystore/ks_scan.h"
#include "../probe/verify.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#define MAX_CLAIM 64
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

struct daemon_s {
    uv_loop_t *loop;
    const kw_state *cli;
    kw_config conf;
    int config_from_file;
    int lock_fd;
    uv_timer_t timer;
    uv_timer_t stop_deadline;
    uv_signal_t sighup, sigterm, sigint;
    int stopping;
    volatile int cancel; /* running scans stop at the next file */
    int claiming;        /* a claim pass in flight */
    int claim_again;     /* asked for while one was in flight */
    int planning;        /* plan passes in flight */
    int reloading;
    uint64_t reload_started; /* uv_now() when the reload began */
    uint64_t stop_started, stop_allowed; /* ms, uv_now() */
    char reload_busy[PATH_MAX + 128];
    kw_watch watch;      /* inotify under the scanned paths */
    kw_watch dkim_watch; /* the DKIM signers' files (flat) */
    kw_job_env jobs;         /* what jobs get; jobs.running in flight */
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
        kw_job_start(&dm->jobs, &c->jobs[i]);
    if (!dm->stopping) {
        if (dm->claim_again) {
            dm->claim_again = 0;
            uv_timer_start(&dm->timer, on_timer, 0, 0);
        } else if (c->has_next) {
            int64_t wait = c->next_at - kw_now();
            /* Jobs due but beyond the concurrency limit start when a
             * running one ends; otherwise sleep until the next is due. */
            if (wait > 0 || dm->jobs.running < dm->conf.concurrency)
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
    c->max = dm->jobs.running < dm->conf.concurrency
                 ? (size_t)(dm->conf.concurrency - dm->jobs.running)
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

/* A job ended (job.c has counted and logged it). */
static void job_ended(void *ctx)
{
    daemon_s *dm = ctx;

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

static void start_watches(daemon_s *dm);

static void job_scanned(void *ctx)
{
    start_watches(ctx);
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
    if (kw_verify_start(dm->loop, dm->cli->db_path, dm->conf.endpoints,
                        dm->conf.nendpoints, ev, verify_done, vi, &vi->v,
                        &d) != 0) {
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
    /* Per job type (the table's order), the keys the configuration asks
     * for, copied on the loop so a reload cannot pull them away. */
    kw_job_keys *keys;
    size_t ntypes;
    int recover;
    int r;
    kw_diag d;
    size_t recovered;
} plan_req;

/* Each type's jobs made sure of (a new one due first_delay from now),
 * and, for types that drop them, the pending ones whose key the
 * configuration no longer names dropped. */
static void plan_work(uv_work_t *req)
{
    plan_req *p = req->data;
    ks_store *s = NULL;
    int64_t now = kw_now();
    size_t i, t;

    p->r = open_store(p->dm->cli, &s, &p->d);
    if (p->r == 0 && p->recover)
        p->r = ks_jobs_recover(s, now, &p->recovered, &p->d);
    for (t = 0; p->r == 0 && t < p->ntypes; t++) {
        const kw_job_type *jt = kw_job_type_at(t);
        const kw_job_keys *k = &p->keys[t];

        for (i = 0; p->r == 0 && i < k->n; i++)
            p->r = ks_jobs_ensure(s, jt->name, k->v[i], now + jt->first_delay,
                                  jt->pull_forward, now, &p->d);
        if (p->r == 0 && jt->drop_unlisted)
            p->r = ks_jobs_prune(s, jt->name, (const char *const *)k->v,
                                 k->n, &p->d);
        if (p->r == 0 && jt->pruned != NULL)
            p->r = jt->pruned(s, (const char *const *)k->v, k->n, &p->d);
    }
    ks_close(s);
}

static void free_plan(plan_req *p)
{
    size_t t;

    for (t = 0; p->keys != NULL && t < p->ntypes; t++)
        kw_job_keys_free(&p->keys[t]);
    free(p->keys);
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

static plan_req *new_plan(daemon_s *dm, int recover)
{
    plan_req *p = calloc(1, sizeof(*p));
    size_t t;

    if (p == NULL)
        return NULL;
    p->dm = dm;
    p->recover = recover;
    p->req.data = p;
    p->ntypes = kw_job_types_count();
    if ((p->keys = calloc(p->ntypes, sizeof(*p->keys))) == NULL) {
        free(p);
        return NULL;
    }
    for (t = 0; t < p->ntypes; t++)
        if (kw_job_type_at(t)->keys(&dm->conf, &p->keys[t]) != 0) {
            free_plan(p);
            return NULL;
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

/* A change under a scanned path: plan again, which makes the scan due. */
static void on_watched_change(void *ctx)
{
    plan(ctx, 0);
}

static void on_walked(void *ctx)
{
    daemon_s *dm = ctx;

    if (dm->stopping)
        maybe_finish_stop(dm);
}

static void start_watches(daemon_s *dm)
{
    const kw_job_keys *dk = &dm->jobs.dkim_files;

    if (!dm->conf.scan_watch || dm->stopping)
        return;
    kw_watch_start(&dm->watch, (const char *const *)dm->conf.scan_paths,
                   dm->conf.nscan_paths);
    /* The files the last scan read: after a reload that turned DKIM off
     * the scan's report empties them. */
    if (dk->n > 0)
        kw_watch_start(&dm->dkim_watch, (const char *const *)dk->v, dk->n);
    else
        kw_watch_stop(&dm->dkim_watch);
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
    kw_metrics_counters_free(&rr->counters);
    free(rr);
    if (dm->stopping)
        maybe_finish_stop(dm);
}

/* The page (web.h): built on the pool from the store, as /metrics. */
typedef struct page_req {
    uv_work_t req;
    daemon_s *dm;
    kw_http_req *http;
    char path[KW_HTTP_MAX_URL + 1];
    char query[KW_HTTP_MAX_URL + 1];
    kw_web_opts opts;
    char *body;
    size_t len;
    int status, r;
    kw_diag d;
} page_req;

static void page_work(uv_work_t *req)
{
    page_req *pr = req->data;
    ks_store *s = NULL;

    pr->r = open_store(pr->dm->cli, &s, &pr->d);
    if (pr->r == 0)
        pr->r = kw_web_build(s, pr->path, &pr->opts, &pr->status,
                             &pr->body, &pr->len, &pr->d);
    ks_close(s);
}

static void page_done(uv_work_t *req, int status)
{
    page_req *pr = req->data;
    daemon_s *dm = pr->dm;

    dm->rendering--;
    if (status != 0 || pr->r != 0) {
        char *msg = strdup("page unavailable; the daemon's log says why\n");

        kw_err("%s: %s", pr->path,
               pr->r != 0 ? pr->d.msg : uv_strerror(status));
        kw_http_respond_h(pr->http, 500, "text/plain; charset=utf-8",
                          kw_web_headers(), msg, msg != NULL ? strlen(msg)
                                                             : 0);
        free(pr->body);
    } else {
        kw_http_respond_h(pr->http, pr->status,
                          pr->status == 200 ? "text/html; charset=utf-8"
                                            : "text/plain; charset=utf-8",
                          kw_web_headers(), pr->body, pr->len);
    }
    free(pr);
    if (dm->stopping)
        maybe_finish_stop(dm);
}

static void start_page(daemon_s *dm, kw_http_req *req, const char *path)
{
    page_req *pr = calloc(1, sizeof(*pr));
    char *text;

    if (pr == NULL || dm->stopping || dm->rendering >= 4) {
        free(pr);
        text = strdup("busy\n");
        kw_http_respond(req, 503, NULL, text, text ? strlen(text) : 0);
        return;
    }
    pr->dm = dm;
    pr->http = req;
    pr->req.data = pr;
    snprintf(pr->path, sizeof(pr->path), "%s", path);
    snprintf(pr->query, sizeof(pr->query), "%s", kw_http_query(req));
    pr->opts.query = pr->query;
    pr->opts.now = kw_now();
    pr->opts.horizon_days = dm->conf.web_horizon;
    pr->opts.config_path = dm->cli->config_path;
    if (uv_queue_work(dm->loop, &pr->req, page_work, page_done) != 0) {
        free(pr);
        text = strdup("busy\n");
        kw_http_respond(req, 503, NULL, text, text ? strlen(text) : 0);
        return;
    }
    dm->rendering++;
}

static void on_http(void *ctx, kw_http_req *req, const char *method,
                    const char *path)
{
    daemon_s *dm = ctx;
    render_req *rr;
    char *text;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        /* Read-only: nothing here changes anything. */
        text = strdup("only GET and HEAD\n");
        kw_http_respond(req, 405, NULL, text, text ? strlen(text) : 0);
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        text = strdup(dm->stopping ? "stopping\n" : "ok\n");
        kw_http_respond(req, dm->stopping ? 503 : 200, NULL, text,
                        text ? strlen(text) : 0);
        return;
    }
    /* With web_auth, everything but /healthz needs the token (required
     * off loopback, config.c). */
    if (dm->conf.has_web_auth &&
        !kw_web_auth_ok(dm->conf.web_auth, kw_http_authorization(req))) {
        text = strdup("a token is required: Authorization: Bearer TOKEN "
                      "(web_auth)\n");
        kw_http_respond_h(req, 401, "text/plain; charset=utf-8",
                          "WWW-Authenticate: Bearer realm=\"keywarden\"\r\n",
                          text, text ? strlen(text) : 0);
        return;
    }
    if (strcmp(path, "/") == 0 || strcmp(path, "/jobs") == 0 ||
        strcmp(path, "/hooks") == 0 || strncmp(path, "/object/", 8) == 0) {
        start_page(dm, req, path);
        return;
    }
    if (strcmp(path, "/metrics") != 0) {
        text = strdup("not found; try /, /jobs, /hooks, /metrics or /healthz\n");
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
    rr->req.data = rr;
    if (kw_metrics_counters_copy(&rr->counters, &dm->counters) != 0 ||
        uv_queue_work(dm->loop, &rr->req, render_work, render_done) != 0) {
        kw_metrics_counters_free(&rr->counters);
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

/* One row of the status reply's jobs. */
static void ctl_work(uv_work_t *req)
{
    ctl_req *c = req->data;
    ks_store *s = NULL;
    int64_t now = kw_now();

    c->r = open_store(c->dm->cli, &s, &c->d);
    if (c->r != 0)
        return;
    if (strcmp(c->cmd, "status") == 0) {
        c->reply = json_pack("{s:b, s:o}", "ok", 1, "jobs",
                             kw_listing_jobs(s));
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
    if (strcmp(q->cmd, "run") == 0) {
        /* A job for a name the configuration does not have would be
         * skipped at its start: say so now. */
        const kw_job_type *t = kw_job_type_find(q->type);
        char why_not[64];

        if (t != NULL && t->known != NULL && !t->known(&dm->conf, q->key)) {
            snprintf(why_not, sizeof(why_not),
                     "no such %s in the configuration", t->noun);
            ctl_fail(conn, why_not);
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
        kw_acme_params ap;

        kw_config_free(&dm->conf);
        dm->conf = rr->conf;
        dm->config_from_file = rr->from_file;
        /* Renewals from now on take the new [acme]; those running keep
         * their copies. */
        kw_config_acme_params(&dm->conf, dm->cli->state_dir, &ap);
        kw_acme_env_set_params(&dm->acme, &ap);
        if (dm->conf.log_level >= 0)
            kw_log_set_level((enum kw_log_level)dm->conf.log_level);
        kw_notice("reload: %s loaded: %zu scan paths, %zu endpoints",
                  dm->conf.path ? dm->conf.path : "defaults",
                  dm->conf.nscan_paths, dm->conf.nendpoints);
        if (!dm->conf.scan_watch) {
            kw_watch_stop(&dm->watch);
            kw_watch_stop(&dm->dkim_watch);
        }
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
    if (dm->jobs.running > 0 || dm->claiming || dm->watch.walking ||
        dm->dkim_watch.walking ||
        dm->reloading || dm->planning > 0 || dm->rendering > 0 ||
        dm->controlling > 0 || dm->retired != NULL || dm->verifying != NULL)
        return;
    kw_acme_env_close(&dm->acme);
    kw_control_close(dm->control);
    dm->control = NULL;
    kw_watch_close(&dm->watch);
    kw_watch_close(&dm->dkim_watch);
    kw_http_close(dm->http);
    dm->http = NULL;
    close_handle((uv_handle_t *)&dm->timer);
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
    ADD(dm->jobs.running > 0, "%d job%s", dm->jobs.running,
        dm->jobs.running == 1 ? "" : "s");
    ADD(dm->reloading, "a configuration reload reading %s (for %llu s)",
        dm->cli->config_path,
        (unsigned long long)((uv_now(dm->loop) - dm->reload_started) /
                             1000));
    ADD(dm->claiming, "a claim pass");
    ADD(dm->planning > 0, "%d plan pass%s", dm->planning,
        dm->planning == 1 ? "" : "es");
    ADD(dm->watch.walking || dm->dkim_watch.walking,
        "a walk for inotify watches");
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
    kw_jobs_cancel(&dm->jobs);
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
    kw_watch_stop(&dm->watch);
    kw_watch_stop(&dm->dkim_watch);
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
    kw_acme_params ap;
    kw_diag d;
    size_t i;
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
    uv_timer_init(dm.loop, &dm.stop_deadline);
    dm.timer.data = dm.stop_deadline.data = &dm;
    kw_watch_init(&dm.watch, dm.loop, on_watched_change, on_walked, &dm);
    /* A signer's files: the same rescan, which checks DNS again when the
     * selectors changed. */
    kw_watch_init(&dm.dkim_watch, dm.loop, on_watched_change, on_walked,
                  &dm);
    dm.dkim_watch.flat = 1;
    dm.dkim_watch.what = "a DKIM or DNSSEC signer's files";
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
    dm.jobs.loop = dm.loop;
    dm.jobs.db_path = cli->db_path;
    dm.jobs.conf = &dm.conf;
    dm.jobs.acme = &dm.acme;
    dm.jobs.cancel = &dm.cancel;
    dm.jobs.counters = &dm.counters;
    dm.jobs.scanned = job_scanned;
    dm.jobs.ended = job_ended;
    dm.jobs.ctx = &dm;
    /* Every type is counted from the start, zeros included. */
    for (i = 0; i < kw_job_types_count(); i++)
        if (kw_metrics_add_job_type(&dm.counters,
                                    kw_job_type_at(i)->name) != 0)
            kw_warn("metrics: out of memory; keywarden_jobs_total is "
                    "incomplete");
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
            kw_metrics_counters_free(&dm.counters);
            close(dm.lock_fd);
            return KW_EXIT_FAIL;
        }
        if (dm.http != NULL)
            kw_notice("metrics on http://%s/metrics, the page on "
                      "http://%s/%s",
                      dm.conf.metrics_listen, dm.conf.metrics_listen,
                      dm.conf.has_web_auth ? " (token required)" : "");
    }
    kw_state_control_path(cli, dm.conf.control_socket, dm.control_path,
                          sizeof(dm.control_path));
    if (kw_control_listen(dm.loop, dm.control_path, dm.conf.control_group,
                          on_control, &dm, &dm.control, &d) != 0)
        kw_warn("%s; status, reload and run-job will not reach this daemon",
                d.msg);
    kw_config_acme_params(&dm.conf, cli->state_dir, &ap);
    if (kw_acme_env_init(&dm.acme, dm.loop, &ap, cli->state_dir,
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
    kw_metrics_counters_free(&dm.counters);
    kw_job_keys_free(&dm.jobs.dkim_files);
    close(dm.lock_fd);
    return dm.exit_code;
}
