/*
 * job_dnssec.c: the "dnssec-check" job (key "all"): every zone of the
 * inventory checked live (dnssec/dnssec_live.h) from where its [zone]
 * section or [dnssec] says, one zone after another, and recorded
 * (dnssec/dnssec_watch.h): the findings, the ds_needed decision and its
 * dnssec.ds_needed events, health.changed when a zone's health moves.
 *
 * One job for all zones rather than one per zone: the plan asks the
 * configuration for keys, and most zones are not in it (discovery finds
 * them in named.conf and knot.conf, the scan puts them in the
 * inventory), so only the work can list them; one row also keeps a
 * thousand zones from filling the concurrency limit.  Zones with servers
 * of their own ([zone] servers or ds_server) are asked one after another;
 * the others, which share the resolver, DNSSEC_BATCH at a time through
 * kw_dnssec_live_run_many's threads.
 *
 * Every [dnssec] interval (default 1 h), sooner when a signature nears
 * the moment it turns warning or critical (the earliest RRSIG expiry
 * less warn, less crit) or a missing DS becomes due, never within
 * KW_JOB_DNSSEC_MIN_WAIT; within 5 minutes when a zone could not be
 * asked at all, as the DKIM check does.
 */
#include "job.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../dnssec/dnssec_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A zone whose servers could not be found is asked again this soon. */
#define DNSSEC_UNKNOWN_AGAIN (5 * KW_MINUTE)
/* Zones checked together (kw_dnssec_live_run_many), so a thousand zones
 * hold this many results at a time, not a thousand. */
#define DNSSEC_BATCH 32

typedef struct dnssec_job {
    kw_job job;
    kw_dnssec_params p;      /* a copy: a reload cannot pull it away */
    kw_job_keys zones;       /* the inventory's, read at work */
    size_t checked, failed, events, changed;
    ks_health worst;
    int64_t soonest;         /* the earliest reason to look again, 0 */
    char first_err[400];     /* the first zone that could not be asked */
    int off;
} dnssec_job;

static int dnssec_keys(const kw_config *c, kw_job_keys *out)
{
    if (c->dnssec.configured || c->discover)
        return kw_job_keys_add(out, "all");
    return 0;
}

int64_t kw_job_dnssec_next(int64_t now, int64_t every, int64_t warn,
                           int64_t crit, int64_t next_expiry, int64_t ds_due)
{
    int64_t at = now + every, cand[4];
    size_t i;

    cand[0] = next_expiry > 0 ? next_expiry - warn : 0;
    cand[1] = next_expiry > 0 ? next_expiry - crit : 0;
    cand[2] = next_expiry;
    cand[3] = ds_due;
    for (i = 0; i < 4; i++)
        if (cand[i] > now && cand[i] < at)
            at = cand[i];
    return at < now + KW_JOB_DNSSEC_MIN_WAIT ? now + KW_JOB_DNSSEC_MIN_WAIT
                                             : at;
}

static int dnssec_start(kw_job *j)
{
    dnssec_job *dj = (dnssec_job *)j;
    const kw_config *c = j->env->conf;

    if (!c->dnssec.configured && !c->discover) {
        dj->off = 1;
        return KW_JOB_RUN_NOW;
    }
    if (kw_dnssec_params_copy(&dj->p, &c->dnssec) != 0)
        return KW_ENOMEM;
    dj->p.config_file = NULL;
    return KW_JOB_RUN_NOW;
}

/* The zones to check; oom set when one could not be kept (the walk
 * stops, and its caller must not check a part of the zones as all). */
typedef struct zone_take {
    kw_job_keys *keys;
    int oom;
} zone_take;

static int take_zone(void *ctx, const ks_dnssec_zone *z)
{
    zone_take *t = ctx;

    t->oom = kw_job_keys_add(t->keys, z->zone) != 0;
    return t->oom;
}

/* Whether zone has a [zone] section of its own (servers or a parent
 * server to ask): it is then asked alone, the others together. */
static int own_where(const kw_dnssec_params *p, const char *zone)
{
    size_t i;

    for (i = 0; i < p->nzones; i++)
        if (strcmp(p->zones[i].zone, zone) == 0)
            return p->zones[i].nservers > 0 || p->zones[i].ds_server != NULL;
    return 0;
}

/* One zone's result recorded and counted; 0, or the database's error. */
static int record_zone(kw_job *j, ks_store *s, const char *zone, int rc,
                       const kw_diag *zd, const kw_dnssec_live *live,
                       int64_t now, kw_dnssec_watch_out *out)
{
    dnssec_job *dj = (dnssec_job *)j;
    int64_t every = dj->p.interval > 0 ? dj->p.interval : KW_HOUR, at;
    int r;

    if (rc != 0) {
        kw_warn("dnssec: %s: not checked: %s", zone, zd->msg);
        if (dj->failed++ == 0)
            snprintf(dj->first_err, sizeof(dj->first_err), "%s: %.300s",
                     zone, zd->msg);
        return 0;
    }
    r = kw_dnssec_watch_record(s, &dj->p, zone, live, now, out, &j->d);
    if (r == KW_ENOTFOUND)
        return 0; /* a scan removed it meanwhile */
    if (r != 0)
        return r;
    dj->checked++;
    dj->events += out->nevents;
    dj->changed += out->health_changed != 0;
    if (ks_health_rank(out->health) > ks_health_rank(dj->worst))
        dj->worst = out->health;
    at = kw_job_dnssec_next(now, every, dj->p.warn, dj->p.crit,
                            live->next_expiry, out->next_due);
    if (dj->soonest == 0 || at < dj->soonest)
        dj->soonest = at;
    return 0;
}

static int dnssec_work(kw_job *j, ks_store *s)
{
    dnssec_job *dj = (dnssec_job *)j;
    kw_dnssec_live_params lp = { dj->p.warn, dj->p.crit };
    kw_dnssec_where_buf *wb = NULL;
    kw_dnssec_live_res *res = NULL;
    kw_dnssec_watch_out *out = NULL;
    const char *batch[DNSSEC_BATCH];
    size_t i, k, nb;
    zone_take zt = { &dj->zones, 0 };
    int r = 0, shared = 0;

    if (dj->off)
        return 0;
    if ((r = ks_dnssec_zones_each(s, take_zone, &zt, &j->d)) != 0)
        return r;
    if (zt.oom)
        return kw_diag_set(&j->d, KW_ENOMEM, "out of memory listing the "
                           "zones to check");
    wb = malloc(sizeof(*wb));
    res = calloc(DNSSEC_BATCH, sizeof(*res));
    out = malloc(sizeof(*out));
    if (wb == NULL || res == NULL || out == NULL) {
        r = kw_diag_set(&j->d, KW_ENOMEM, "out of memory");
        goto done;
    }
    /* Zones with their own servers, one after another. */
    for (i = 0; r == 0 && i < dj->zones.n && !*j->env->cancel; i++) {
        const char *zone = dj->zones.v[i];
        int64_t now = kw_now();
        kw_diag zd = {{0}};
        int rc;

        if (!own_where(&dj->p, zone))
            continue;
        rc = kw_dnssec_watch_where(&dj->p, zone, wb, &zd);
        if (rc == 0)
            rc = kw_dnssec_live_run(zone, &wb->w, &lp, now, &res[0].live,
                                    &zd);
        r = record_zone(j, s, zone, rc, &zd, &res[0].live, now, out);
    }
    /* The others share where to ask: DNSSEC_BATCH at a time, each batch
     * on kw_dnssec_live_run_many's threads, recorded in order. */
    for (i = 0; r == 0 && i < dj->zones.n && !*j->env->cancel;) {
        int64_t now = kw_now();

        for (nb = 0; i < dj->zones.n && nb < DNSSEC_BATCH; i++)
            if (!own_where(&dj->p, dj->zones.v[i]))
                batch[nb++] = dj->zones.v[i];
        if (nb == 0)
            break;
        /* The shared resolver, read once a zone needs it. */
        if (!shared && (r = kw_dnssec_watch_where(&dj->p, "", wb,
                                                  &j->d)) != 0)
            break;
        shared = 1;
        if ((r = kw_dnssec_live_run_many(batch, nb, &wb->w, &lp, now, 0,
                                         res, &j->d)) != 0)
            break;
        for (k = 0; r == 0 && k < nb; k++)
            r = record_zone(j, s, batch[k], res[k].rc, &res[k].diag,
                            &res[k].live, now, out);
    }
done:
    free(wb);
    free(res);
    free(out);
    return r;
}

static int64_t dnssec_next(kw_job *j, int64_t now)
{
    dnssec_job *dj = (dnssec_job *)j;
    int64_t every = dj->p.interval > 0 ? dj->p.interval : KW_HOUR;
    int64_t at;

    if (dj->off)
        return 0;
    if (j->r != 0)
        return kw_job_next_periodic(j, now, every);
    if (dj->failed > 0 && every > DNSSEC_UNKNOWN_AGAIN)
        every = DNSSEC_UNKNOWN_AGAIN;
    at = kw_job_next_periodic(j, now, every);
    if (dj->soonest != 0 && dj->soonest < at)
        at = dj->soonest < now + KW_JOB_DNSSEC_MIN_WAIT
                 ? now + KW_JOB_DNSSEC_MIN_WAIT : dj->soonest;
    return at;
}

static void dnssec_report(kw_job *j, const char *when)
{
    dnssec_job *dj = (dnssec_job *)j;

    if (j->r != 0) {
        kw_job_log_failure(j, when);
        return;
    }
    if (dj->off) {
        kw_notice("dnssec: no [dnssec] or [zone] section and no discovery: "
                  "no zone to check");
        return;
    }
    if (dj->zones.n == 0) {
        kw_info("dnssec: no zone in the inventory to check; next at %s",
                when);
        return;
    }
    if (dj->failed > 0)
        kw_warn("dnssec: %zu of %zu zone%s not checked (first: %s); next "
                "at %s", dj->failed, dj->zones.n,
                dj->zones.n == 1 ? "" : "s", dj->first_err, when);
    if (dj->checked == 0)
        return;
    if (dj->worst == KS_HEALTH_OK)
        kw_notice("dnssec: %zu zone%s checked, all ok; next at %s",
                  dj->checked, dj->checked == 1 ? "" : "s", when);
    else
        kw_warn("dnssec: %zu zone%s checked, the worst %s (keywarden "
                "dnssec check says why), %zu dnssec.ds_needed event%s, "
                "%zu health change%s; next at %s",
                dj->checked, dj->checked == 1 ? "" : "s",
                ks_health_word(dj->worst), dj->events,
                dj->events == 1 ? "" : "s", dj->changed,
                dj->changed == 1 ? "" : "s", when);
}

static void dnssec_release(kw_job *j)
{
    dnssec_job *dj = (dnssec_job *)j;

    kw_dnssec_params_free(&dj->p);
    kw_job_keys_free(&dj->zones);
}

const kw_job_type kw_job_dnssec = {
    .name = "dnssec-check",
    .size = sizeof(dnssec_job),
    .retry_base = 60,
    .retry_cap = 6 * KW_HOUR,
    .keys = dnssec_keys,
    /* A new row waits for the first scan to record the zones. */
    .first_delay = 60,
    .pull_forward = 0,
    .drop_unlisted = 1,
    .start = dnssec_start,
    .work = dnssec_work,
    .next_run = dnssec_next,
    .report = dnssec_report,
    .release = dnssec_release,
};
