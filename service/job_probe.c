/*
 * job_probe.c: the "probe" job (key: an [endpoint] name): a TLS (or
 * STARTTLS) handshake on the loop, its outcome recorded on the pool as
 * the endpoint's object.  Every endpoint's interval; a failed probe again
 * within 5 minutes.
 */
#include "hooks.h"
#include "job.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../keystore/ks_endpoint.h"
#include "../probe/probe.h"

#include <stdlib.h>
#include <string.h>

typedef struct probe_job {
    kw_job job;
    kw_endpoint_conf ep; /* a copy: a reload cannot pull it away */
    kw_probe *probe;     /* in flight, on the loop */
    kw_probe_result pres;
    int64_t object_id, stale_of;
    int watch;           /* also watches health */
} probe_job;

static const kw_endpoint_conf *find(const kw_config *c, const char *name)
{
    const kw_endpoint_conf *ep = NULL;
    size_t i;

    for (i = 0; i < c->nendpoints; i++)
        if (strcmp(c->endpoints[i].name, name) == 0)
            ep = &c->endpoints[i];
    return ep;
}

static int probe_known(const kw_config *c, const char *key)
{
    return find(c, key) != NULL;
}

static int probe_keys(const kw_config *c, kw_job_keys *out)
{
    size_t i;
    int r = 0;

    for (i = 0; r == 0 && i < c->nendpoints; i++)
        r = kw_job_keys_add(out, c->endpoints[i].name);
    return r;
}

/* Endpoints that left the configuration leave the inventory too. */
static int probe_pruned(ks_store *s, const char *const *keys, size_t n,
                        kw_diag *d)
{
    return ks_endpoint_prune(s, keys, n, d);
}

static void on_probe_result(void *ctx, kw_probe_result *res)
{
    probe_job *pj = ctx;

    pj->probe = NULL;
    pj->pres = *res; /* the chain's strings move with it */
    if (kw_job_resume(&pj->job) != 0) {
        kw_err("probe %s: cannot record the result", pj->ep.name);
        kw_job_abandon(&pj->job);
    }
}

static int probe_start(kw_job *j)
{
    probe_job *pj = (probe_job *)j;
    kw_job_env *env = j->env;
    const kw_endpoint_conf *ep = find(env->conf, j->rec.key);
    int r;

    if (ep == NULL)
        return KW_JOB_SKIP; /* left the configuration: the plan prunes it */
    pj->ep = *ep;
    pj->ep.name = strdup(ep->name);
    pj->ep.host = strdup(ep->host);
    pj->ep.sni = ep->sni != NULL ? strdup(ep->sni) : NULL;
    /* Probes watch health for the daemons that only probe (no scan
     * paths), at most every ten minutes. */
    if (kw_now() - env->watched_at >= 10 * KW_MINUTE) {
        pj->watch = 1;
        env->watched_at = kw_now();
    }
    if (pj->ep.name == NULL || pj->ep.host == NULL ||
        (ep->sni != NULL && pj->ep.sni == NULL))
        return KW_ENOMEM;
    /* The probe runs on the loop; its result is recorded on the pool. */
    r = kw_probe_start(env->loop, &pj->ep, on_probe_result, pj, &pj->probe);
    if (r == 0)
        return KW_JOB_WAIT;
    snprintf(pj->pres.error, sizeof(pj->pres.error), "%s", kw_strerror(r));
    return KW_JOB_RUN_NOW;
}

static int probe_work(kw_job *j, ks_store *s)
{
    probe_job *pj = (probe_job *)j;
    ks_probe_obs o;

    if (pj->pres.cancelled)
        return KW_ECANCELED;
    kw_probe_obs_fill(&o, &pj->ep, &pj->pres);
    return ks_endpoint_record(s, &o, kw_now(), &pj->object_id,
                              &pj->stale_of, &j->d);
}

static int64_t probe_next(kw_job *j, int64_t now)
{
    probe_job *pj = (probe_job *)j;
    int64_t every = pj->ep.interval;

    /* A failed probe is looked at again within 5 minutes. */
    if (j->r == 0 && !pj->pres.ok && every > 5 * KW_MINUTE)
        every = 5 * KW_MINUTE;
    return kw_job_next_periodic(j, now, every);
}

static void probe_recorded(kw_job *j, ks_store *s)
{
    if (j->r == 0 && ((probe_job *)j)->watch)
        kw_health_watch(s, kw_now());
}

static void probe_report(kw_job *j, const char *when)
{
    probe_job *pj = (probe_job *)j;
    char exp[32];

    if (j->r != 0) {
        kw_job_log_failure(j, when);
    } else if (!pj->pres.ok) {
        kw_warn("probe %s (%s:%d): %s; again at %s", pj->ep.name,
                pj->ep.host, pj->ep.port, pj->pres.error, when);
    } else {
        kw_time_rfc3339(pj->pres.chain[0].not_after, exp, sizeof(exp));
        kw_notice("probe %s (%s): %s, serves %s expiring %s%s; next at %s",
                  pj->ep.name, pj->pres.address, pj->pres.tls_version,
                  ks_cert_name(&pj->pres.chain[0]), exp,
                  pj->stale_of > 0 ? " (STALE: a newer certificate is "
                                     "on disk)"
                                   : "",
                  when);
    }
}

static void probe_cancel(kw_job *j)
{
    kw_probe_cancel(((probe_job *)j)->probe);
}

static void probe_release(kw_job *j)
{
    probe_job *pj = (probe_job *)j;

    free(pj->ep.name);
    free(pj->ep.host);
    free(pj->ep.sni);
    kw_probe_result_clear(&pj->pres);
}

const kw_job_type kw_job_probe = {
    .name = "probe",
    .size = sizeof(probe_job),
    .noun = "endpoint",
    .known = probe_known,
    .retry_base = 60,
    .retry_cap = 6 * KW_HOUR,
    .keys = probe_keys,
    .first_delay = 0,
    .pull_forward = 1,
    .drop_unlisted = 1,
    .pruned = probe_pruned,
    .start = probe_start,
    .work = probe_work,
    .next_run = probe_next,
    .recorded = probe_recorded,
    .report = probe_report,
    .cancel = probe_cancel,
    .release = probe_release,
};
