/*
 * job_precheck.c: the "precheck" job (key: a [certificate] that uses
 * http-01 with a pre-check): daily, the names are checked the way the CA
 * will validate them, so a redirect added today shows weeks before the
 * renewal it would break.  The verdict is recorded with the certificate.
 */
#include "job.h"

#include "../acme/precheck.h"
#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../keystore/ks_managed.h"

#include <stdio.h>
#include <string.h>

typedef struct precheck_job {
    kw_job job;
    char rname[256];
    int pc_ok;
    char pc_verdict[1024];
} precheck_job;

static int wants_precheck(const kw_cert_conf *c)
{
    return c != NULL && !c->dns01 && c->precheck != KW_PRECHECK_OFF;
}

static int precheck_keys(const kw_config *c, kw_job_keys *out)
{
    size_t i;
    int r = 0;

    for (i = 0; r == 0 && i < c->ncerts; i++)
        if (wants_precheck(&c->certs[i]))
            r = kw_job_keys_add(out, c->certs[i].name);
    return r;
}

static void on_precheck_done(void *ctx, const kw_precheck_result *r)
{
    precheck_job *pj = ctx;
    int ok = r->status == 0;

    pj->pc_ok = ok;
    snprintf(pj->pc_verdict, sizeof(pj->pc_verdict), "%s%s%.600s",
             r->summary, ok ? "" : ". Fix: ", ok ? "" : r->fix);
    if (kw_job_resume(&pj->job) != 0) {
        kw_err("certificate %s: cannot record the pre-check", pj->rname);
        kw_job_abandon(&pj->job);
    }
}

static int precheck_start(kw_job *j)
{
    precheck_job *pj = (precheck_job *)j;
    const kw_config *conf = j->env->conf;
    const kw_cert_conf *c = kw_job_cert(conf, j->rec.key);
    kw_precheck_req q;
    kw_diag d;

    if (!wants_precheck(c))
        return KW_JOB_SKIP; /* the plan prunes it */
    snprintf(pj->rname, sizeof(pj->rname), "%s", c->name);
    memset(&q, 0, sizeof(q));
    q.names = (const char *const *)c->names;
    q.nnames = c->nnames;
    q.webroot = c->http01_webroot ? c->webroot : NULL;
    q.listen = conf->acme.http01_listen != NULL ? conf->acme.http01_listen
                                                : KW_ACME_DEFAULT_HTTP01;
    if (kw_precheck_start(j->env->acme, &q, on_precheck_done, pj, &d) == 0)
        return KW_JOB_WAIT;
    pj->pc_ok = 0;
    snprintf(pj->pc_verdict, sizeof(pj->pc_verdict),
             "the pre-check could not run: %s", d.msg);
    return KW_JOB_RUN_NOW;
}

static int precheck_work(kw_job *j, ks_store *s)
{
    precheck_job *pj = (precheck_job *)j;

    return ks_managed_precheck(s, pj->rname, pj->pc_ok, pj->pc_verdict,
                               kw_now(), &j->d);
}

/* Daily, whatever the verdict: a failing check is a warning to act on,
 * not an error to retry sooner. */
static int64_t precheck_next(kw_job *j, int64_t now)
{
    (void)j;
    return now + KW_DAY;
}

static void precheck_report(kw_job *j, const char *when)
{
    precheck_job *pj = (precheck_job *)j;

    if (pj->pc_ok)
        kw_info("certificate %s: the HTTP-01 pre-check passes; next at %s",
                pj->rname, when);
    else
        kw_warn("certificate %s: the HTTP-01 pre-check fails: %s; the "
                "next renewal would fail (checked again at %s)",
                pj->rname, pj->pc_verdict, when);
}

const kw_job_type kw_job_precheck = {
    .name = "precheck",
    .size = sizeof(precheck_job),
    .noun = "certificate",
    .known = kw_job_cert_known,
    /* Retries: daily (next_run). */
    .keys = precheck_keys,
    .first_delay = KW_MINUTE, /* after the renewal jobs */
    .pull_forward = 0,
    .drop_unlisted = 1,
    .start = precheck_start,
    .work = precheck_work,
    .next_run = precheck_next,
    .report = precheck_report,
};
