/*
 * job_renew.c: the "renew" job (key: a [certificate] name).  renew.c
 * decides whether the certificate is due, runs the order and records the
 * outcome; the job only keeps the schedule: the renewal time, a
 * failure's retry time, daily while a permanent error blocks it, at once
 * after a stop.
 */
#include "hooks.h"
#include "job.h"

#include "../acme/renew.h"
#include "../common/kw_log.h"
#include "../common/kw_time.h"

#include <stdio.h>
#include <string.h>

typedef struct renew_job {
    kw_job job;
    kw_renew *renew;      /* in flight, on the loop */
    kw_renew_result rres; /* its result (msg copied) */
    char rname[256];
    int dane;             /* dane =: its dane-roll job probes after */
} renew_job;

/* Each managed certificate is looked at now (a renewal that is not due
 * ends at once and sets its own next time). */
static int renew_keys(const kw_config *c, kw_job_keys *out)
{
    size_t i;
    int r = 0;

    for (i = 0; r == 0 && i < c->ncerts; i++)
        r = kw_job_keys_add(out, c->certs[i].name);
    return r;
}

static void on_renew_done(void *ctx, const kw_renew_result *res)
{
    renew_job *rj = ctx;

    rj->renew = NULL;
    rj->rres = *res;
    rj->rres.name = rj->rname;
    if (kw_job_resume(&rj->job) != 0) {
        kw_err("certificate %s: cannot record the result", rj->rname);
        kw_job_abandon(&rj->job);
    }
}

static int renew_start(kw_job *j)
{
    renew_job *rj = (renew_job *)j;
    const kw_cert_conf *c = kw_job_cert(j->env->conf, j->rec.key);
    kw_renew_params p;
    kw_diag d;

    if (c == NULL)
        return KW_JOB_SKIP; /* left the configuration: the plan prunes it */
    snprintf(rj->rname, sizeof(rj->rname), "%s", c->name);
    rj->dane = c->dane;
    kw_config_renew_params(j->env->conf, c, &p);
    if (kw_renew_start(j->env->acme, &p, 0, on_renew_done, rj, &rj->renew,
                       &d) != 0) {
        kw_err("certificate %s: %s", c->name, d.msg);
        return KW_JOB_SKIP;
    }
    return KW_JOB_WAIT;
}

static int renew_work(kw_job *j, ks_store *s)
{
    renew_job *rj = (renew_job *)j;

    (void)s;
    if (rj->rres.outcome == KW_RENEW_CANCELLED)
        j->cancelled = 1;
    if (rj->rres.outcome == KW_RENEW_FAILED)
        return kw_diag_set(&j->d, KW_EIO, "%s", rj->rres.msg);
    return 0;
}

static int64_t renew_next(kw_job *j, int64_t now)
{
    renew_job *rj = (renew_job *)j;

    return rj->rres.next_at > 0 ? rj->rres.next_at : now + KW_DAY;
}

static void renew_recorded(kw_job *j, ks_store *s)
{
    renew_job *rj = (renew_job *)j;
    kw_diag d;

    if (rj->rres.outcome != KW_RENEW_ISSUED)
        return;
    kw_health_watch(s, kw_now());
    /* A DANE certificate's new key is served once the hooks this job's
     * events asked for have reloaded the server; they run when the job
     * ends.  The rollover's probe looks a few seconds later and again
     * (its own backoff) until it sees the key. */
    if (rj->dane &&
        ks_jobs_ensure(s, "dane-roll", rj->rname,
                       kw_now() + KW_JOB_DANE_ROLL_AFTER_RENEWAL, 1,
                       kw_now(), &d) != 0)
        kw_warn("certificate %s: the DANE rollover's probe could not be "
                "planned: %s; it runs at its next time", rj->rname, d.msg);
}

static void renew_report(kw_job *j, const char *when)
{
    renew_job *rj = (renew_job *)j;

    if (rj->rres.outcome == KW_RENEW_ISSUED)
        kw_notice("certificate %s: issued: %s; next renewal at %s",
                  rj->rname, rj->rres.msg, when);
    else if (rj->rres.outcome == KW_RENEW_NOT_DUE)
        kw_info("certificate %s: %s", rj->rname, rj->rres.msg);
    else if (rj->rres.outcome == KW_RENEW_HELD)
        kw_notice("certificate %s: %s; looked at again at %s", rj->rname,
                  rj->rres.msg, when);
    else if (j->unsaved[0] != '\0')
        kw_err("certificate %s: renewal failed: %s; its retry time was "
               "not recorded (%s): the renewal runs again when the "
               "daemon restarts",
               rj->rname, rj->rres.msg, j->unsaved);
    else
        kw_err("certificate %s: renewal failed: %s; %s %s", rj->rname,
               rj->rres.msg,
               rj->rres.next_at > 0 ? "retry at"
                                    : "blocked (fix, then keywarden "
                                      "run-job renew:NAME); next look at",
               when);
}

static void renew_cancel(kw_job *j)
{
    kw_renew_cancel(((renew_job *)j)->renew);
}

const kw_job_type kw_job_renew = {
    .name = "renew",
    .size = sizeof(renew_job),
    .noun = "certificate",
    .known = kw_job_cert_known,
    /* Retries follow renew.c's classified failures (next_run). */
    .keys = renew_keys,
    .first_delay = 0,
    .pull_forward = 1,
    .drop_unlisted = 1,
    .start = renew_start,
    .work = renew_work,
    .next_run = renew_next,
    .recorded = renew_recorded,
    .report = renew_report,
    .cancel = renew_cancel,
};
