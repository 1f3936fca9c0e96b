/*
 * job_dkim_rot.c: the "dkim-rotate" job (key "all"): every managed
 * [dkim "DOMAIN"] section's rotation advanced on the pool through
 * kw_dkim_rotate_all() (dkim/dkim_rotate.h), each domain as far as it
 * can go now; then each domain's rotation health (kw_dkim_rot_health_of)
 * is compared with the one last seen, so a rotation that stopped, or an
 * old key nearing max_age, becomes health.changed for the hooks.
 *
 * Planned while the configuration has a managed section, pruned when it
 * has none; a reload re-plans it and, since the plan pulls it forward,
 * a section added by the reload is looked at at once.  Its next run is
 * the earliest time any domain's machine asks for (next_step, else the
 * next rotation), bounded by job.h's KW_JOB_ROT_* (10 s to 1 h, and 60 s
 * while a rotation waits at *active* for the reload its dkim.activated
 * asked of the hooks: they run in this daemon once the job ends, so
 * their outcome is known within seconds).
 *
 * A kill -9 mid-job leaves the row running; the daemon's reclaim makes
 * it due at the next start, and each rotation's journal makes the
 * repeated step idempotent (dkim_rotate.c's intents).
 */
#include "hooks.h"
#include "job.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../dkim/dkim_rotate.h"
#include "../dkim/dkim_source.h"
#include "../keystore/ks_dkim_rot_seen.h"
#include "../keystore/ks_health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rot_job {
    kw_job job;
    kw_dkim_params p;        /* a copy: a reload cannot pull it away */
    kw_dkim_rot_view *views; /* p.nrot, after the work */
    size_t nviews;
    size_t changed, stopped, waiting; /* domains, for the log */
    int off;                 /* no managed section: nothing to do */
} rot_job;

static int rot_keys(const kw_config *c, kw_job_keys *out)
{
    if (c->dkim.nrot > 0)
        return kw_job_keys_add(out, "all");
    return 0;
}

void kw_dkim_rot_views_free(kw_dkim_rot_view *v, size_t n)
{
    (void)n;
    free(v);
}

int kw_dkim_rot_views(ks_store *s, const kw_dkim_params *p, int64_t now,
                      kw_dkim_rot_view **out, kw_diag *d)
{
    kw_dkim_rot_view *v;
    size_t i;
    int r;

    *out = NULL;
    if (p->nrot == 0)
        return 0;
    if ((v = calloc(p->nrot, sizeof(*v))) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory for %zu DKIM "
                           "rotations", p->nrot);
    for (i = 0; i < p->nrot; i++) {
        v[i].p = &p->rot[i];
        r = ks_dkim_rot_latest_track(s, p->rot[i].domain, p->rot[i].track,
                                     &v[i].rot, &v[i].found, d);
        if (r != 0) {
            free(v);
            return r;
        }
        kw_dkim_rot_health_of(&v[i].rot, v[i].found, &p->rot[i], now,
                              &v[i].h);
    }
    *out = v;
    return 0;
}

int kw_dkim_rot_view_waits_reload(const kw_dkim_rot_view *v)
{
    return v->found && v->rot.stopped[0] == '\0' &&
           kw_dkim_stage_parse(v->rot.stage) == KW_DKIM_ST_ACTIVE;
}

int64_t kw_job_dkim_rot_next(const kw_dkim_rot_view *v, size_t n,
                             int64_t now)
{
    int64_t next = kw_time_add(now, KW_JOB_ROT_MAX_WAIT), t;
    size_t i;

    for (i = 0; i < n; i++) {
        t = v[i].h.next_step > 0 ? v[i].h.next_step : v[i].h.next_rotation;
        if (kw_dkim_rot_view_waits_reload(&v[i]) &&
            kw_time_add(now, KW_JOB_ROT_RELOAD_POLL) < next)
            next = kw_time_add(now, KW_JOB_ROT_RELOAD_POLL);
        if (t > 0 && t < next)
            next = t;
    }
    if (next < kw_time_add(now, KW_JOB_ROT_MIN_WAIT))
        next = kw_time_add(now, KW_JOB_ROT_MIN_WAIT);
    return next;
}

int kw_dkim_rot_watch(ks_store *s, const kw_dkim_rot_view *v, size_t n,
                      int64_t now, size_t *nchanged, kw_diag *d)
{
    size_t i;
    int r, changed;

    *nchanged = 0;
    for (i = 0; i < n; i++) {
        r = ks_dkim_rot_health_seen(s, v[i].p->domain, v[i].p->track,
                                    v[i].found ? v[i].rot.selector : NULL,
                                    v[i].h.health, v[i].h.reason, now,
                                    &changed, d);
        if (r != 0)
            return r;
        *nchanged += (size_t)changed;
    }
    return 0;
}

static int rot_start(kw_job *j)
{
    rot_job *rj = (rot_job *)j;
    const kw_config *c = j->env->conf;

    /* Left the configuration: the job ends here (a skipped job would
     * stay running until a restart). */
    if (c->dkim.nrot == 0) {
        rj->off = 1;
        return KW_JOB_RUN_NOW;
    }
    if (kw_dkim_params_copy(&rj->p, &c->dkim) != 0)
        return KW_ENOMEM;
    /* Borrowed from the running configuration, which a reload frees. */
    rj->p.config_file = NULL;
    return KW_JOB_RUN_NOW;
}

static int rot_work(kw_job *j, ks_store *s)
{
    rot_job *rj = (rot_job *)j;
    kw_dkim_rot_out *outs;
    int64_t now = kw_now();
    size_t i;
    int r;

    if (rj->off)
        return 0;
    /* About 11 KiB per domain: not for a pool thread's stack. */
    if ((outs = calloc(rj->p.nrot, sizeof(*outs))) == NULL)
        return kw_diag_set(&j->d, KW_ENOMEM, "out of memory for %zu DKIM "
                           "rotations", rj->p.nrot);
    r = kw_dkim_rotate_all(s, &rj->p, 0, now, outs, &j->d);
    for (i = 0; r == 0 && i < rj->p.nrot; i++) {
        rj->changed += outs[i].changes > 0;
        rj->stopped += outs[i].stopped != 0;
        rj->waiting += outs[i].waiting != 0;
        if (outs[i].stopped)
            kw_warn("dkim-rotate: %s: stopped at %s: %s", outs[i].rot.domain,
                    outs[i].rot.stage, outs[i].rot.stopped);
        else if (outs[i].changes > 0)
            kw_notice("dkim-rotate: %s: selector %s now %s", outs[i].rot.domain,
                      outs[i].rot.selector, outs[i].rot.stage);
    }
    free(outs);
    if (r != 0)
        return r;
    /* The rows as they are now, for the next run, the log and the
     * metrics; read after the work, at the clock the health is for. */
    now = kw_now();
    r = kw_dkim_rot_views(s, &rj->p, now, &rj->views, &j->d);
    if (r == 0)
        rj->nviews = rj->p.nrot;
    return r;
}

static int64_t rot_next(kw_job *j, int64_t now)
{
    rot_job *rj = (rot_job *)j;

    if (rj->off)
        return 0; /* done: a plan with a managed section makes it again */
    if (j->r != 0)
        return kw_job_next_periodic(j, now, 0);
    return kw_job_dkim_rot_next(rj->views, rj->nviews, now);
}

/* The stages are written: health changes become events now, and so do
 * those of the selectors the switch made signing. */
static void rot_recorded(kw_job *j, ks_store *s)
{
    rot_job *rj = (rot_job *)j;
    size_t n = 0;
    kw_diag d;

    if (j->r != 0 || rj->off)
        return;
    if (kw_dkim_rot_watch(s, rj->views, rj->nviews, kw_now(), &n, &d) != 0)
        kw_warn("dkim-rotate: the rotations' health could not be "
                "recorded: %s", d.msg);
    kw_health_watch(s, kw_now());
}

/* /metrics shows what this run saw (the render has no configuration). */
static void set_metrics(kw_metrics_counters *c, const kw_dkim_rot_view *v,
                        size_t n)
{
    kw_metrics_rot *m = n > 0 ? calloc(n, sizeof(*m)) : NULL;
    size_t i;

    for (i = 0; m != NULL && i < n; i++) {
        kw_dkim_rot_label(v[i].p, m[i].domain, sizeof(m[i].domain));
        if (v[i].found)
            snprintf(m[i].stage, sizeof(m[i].stage), "%s", v[i].rot.stage);
        m[i].health = v[i].h.health;
        m[i].next_rotation = v[i].h.next_rotation;
    }
    kw_metrics_set_rotations(c, m, m != NULL ? n : 0);
    free(m);
}

static void rot_report(kw_job *j, const char *when)
{
    rot_job *rj = (rot_job *)j;
    size_t i, worst = 0;
    char label[300];

    if (j->r != 0) {
        kw_job_log_failure(j, when);
        return;
    }
    if (rj->off) {
        kw_metrics_set_rotations(j->env->counters, NULL, 0);
        kw_notice("dkim-rotate: no [dkim \"DOMAIN\"] section with rotate =: "
                  "nothing to rotate");
        return;
    }
    set_metrics(j->env->counters, rj->views, rj->nviews);
    for (i = 1; i < rj->nviews; i++)
        if (ks_health_rank((ks_health)rj->views[i].h.health) >
            ks_health_rank((ks_health)rj->views[worst].h.health))
            worst = i;
    if (rj->nviews > 0 && rj->views[worst].h.health != KS_HEALTH_OK)
        kw_warn("dkim-rotate: %zu domain%s, %zu stopped; the worst, %s, is "
                "%s: %s; next at %s",
                rj->nviews, rj->nviews == 1 ? "" : "s", rj->stopped,
                kw_dkim_rot_label(rj->views[worst].p, label, sizeof(label)),
                ks_health_word((ks_health)rj->views[worst].h.health),
                rj->views[worst].h.reason, when);
    else
        kw_info("dkim-rotate: %zu domain%s, %zu advanced, %zu waiting; next "
                "at %s",
                rj->nviews, rj->nviews == 1 ? "" : "s", rj->changed,
                rj->waiting, when);
}

static void rot_release(kw_job *j)
{
    rot_job *rj = (rot_job *)j;

    kw_dkim_rot_views_free(rj->views, rj->nviews);
    kw_dkim_params_free(&rj->p);
}

const kw_job_type kw_job_dkim_rot = {
    .name = "dkim-rotate",
    .size = sizeof(rot_job),
    .retry_base = 60,
    .retry_cap = KW_HOUR,
    .keys = rot_keys,
    .first_delay = 0,
    /* A reload that adds a section, or changes one, is looked at at
     * once: the machine itself says when it is not due. */
    .pull_forward = 1,
    .drop_unlisted = 1,
    .start = rot_start,
    .work = rot_work,
    .next_run = rot_next,
    .recorded = rot_recorded,
    .report = rot_report,
    .release = rot_release,
};
