/*
 * job_mtasts.c: the "mta-sts-check" job (key "all"): every mail domain
 * of a [mta-sts "DOMAIN"] section is an inventory object of kind mta-sts
 * named DOMAIN (synced at each run: a section removed, its object goes),
 * checked as `keywarden mta-sts check` checks it (mtasts/mtasts_check.h:
 * the _mta-sts and _smtp._tls records, the policy fetched over HTTPS, the
 * policy host's and every MX's certificate), its findings recorded on the
 * object (keystore/ks_check.h), so list, show, check, --json and
 * /metrics read them, with a health.changed event when a domain's health
 * moves.  The policy's id and body hash are remembered per domain
 * (ks_mtasts.h), so a policy edited without a new id is found.
 *
 * The check's probes run on a private libuv loop whose address lookups
 * use libuv's pool (mtasts.h): inside a pool work callback a full pool
 * would wait on itself, so work() hands the domains to a thread of its
 * own and waits for it; the store is used by that thread alone while
 * work() waits.  Domains one after another, each step bounded by
 * [mta-sts] timeout.  Every [mta-sts] interval (default 1 h); within 5
 * minutes after a domain could not be checked.
 */
#include "job.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../dns/dns_resolve.h"
#include "../keystore/ks_cert.h"
#include "../keystore/ks_check.h"
#include "../mtasts/mtasts.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MTASTS_AGAIN (5 * KW_MINUTE)

typedef struct mtasts_job {
    kw_job job;
    int off;
    kw_job_keys domains;     /* copies of the sections' */
    char resolver[80];       /* "" the system's */
    char *cafile;            /* NULL the system's store */
    int https_port, smtp_port, timeout_ms;
    int64_t interval;
    size_t checked, failed, changed;
    ks_health worst;
    char first_err[512];
} mtasts_job;

static int mtasts_keys(const kw_config *c, kw_job_keys *out)
{
    return c->mtasts.ndomains > 0 ? kw_job_keys_add(out, "all") : 0;
}

static int mtasts_start(kw_job *j)
{
    mtasts_job *mj = (mtasts_job *)j;
    const kw_config *c = j->env->conf;
    const char *res = c->mtasts.resolver != NULL ? c->mtasts.resolver
                      : c->dane.resolver != NULL ? c->dane.resolver
                                                 : c->dnssec.resolver;
    size_t i;

    if (c->mtasts.ndomains == 0) {
        mj->off = 1;
        return KW_JOB_RUN_NOW;
    }
    for (i = 0; i < c->mtasts.ndomains; i++)
        if (kw_job_keys_add(&mj->domains, c->mtasts.domains[i]) != 0)
            return KW_ENOMEM;
    if (c->mtasts.cafile != NULL &&
        (mj->cafile = strdup(c->mtasts.cafile)) == NULL)
        return KW_ENOMEM;
    snprintf(mj->resolver, sizeof(mj->resolver), "%s", res ? res : "");
    mj->https_port = c->mtasts.https_port;
    mj->smtp_port = c->mtasts.smtp_port;
    mj->timeout_ms =
        (int)(c->mtasts.timeout > 0 ? c->mtasts.timeout : 10) * 1000;
    mj->interval = c->mtasts.interval > 0 ? c->mtasts.interval : KW_HOUR;
    return KW_JOB_RUN_NOW;
}

typedef struct mtasts_run {
    mtasts_job *mj;
    ks_store *s;
    volatile int *cancel;
    int r;                   /* a database error that ends the run */
    kw_diag d;
} mtasts_run;

static void note_failure(mtasts_job *mj, const char *domain, const char *why)
{
    kw_warn("mta-sts: %s: not checked: %s", domain, why);
    if (mj->failed++ == 0)
        snprintf(mj->first_err, sizeof(mj->first_err), "%.200s: %.300s",
                 domain, why);
}

/* One domain checked and recorded; 0, or the database's error. */
static int one_domain(mtasts_run *x, const kw_mtasts_opts *o,
                      const char *domain, kw_mtasts_facts *facts,
                      kw_mtasts_findings *out)
{
    mtasts_job *mj = x->mj;
    ks_check_finding f[KW_MTASTS_FINDINGS_MAX];
    kw_diag d = {{0}};
    ks_health h;
    int64_t id, now = kw_now();
    int changed = 0, r;
    size_t i;

    if ((r = ks_check_object(x->s, "mta-sts", domain, &id, &x->d)) != 0)
        return r;
    if (kw_mtasts_check(x->s, o, domain, now, facts, out, &d) != 0) {
        note_failure(mj, domain, d.msg);
        return 0;
    }
    for (i = 0; i < out->n; i++)
        f[i] = (ks_check_finding){ out->f[i].severity, out->f[i].code,
                                   out->f[i].text, out->f[i].fix,
                                   out->f[i].host };
    r = ks_check_record(x->s, id, "mta-sts", domain, f, out->n, now, &h,
                        &changed, &x->d);
    if (r != 0)
        return r;
    mj->checked++;
    mj->changed += changed != 0;
    if (ks_health_rank(h) > ks_health_rank(mj->worst))
        mj->worst = h;
    return 0;
}

/* The thread of the checks. */
static void *check_all(void *arg)
{
    mtasts_run *x = arg;
    mtasts_job *mj = x->mj;
    kw_mtasts_facts *facts = malloc(sizeof(*facts));
    kw_mtasts_findings *out = malloc(sizeof(*out));
    kw_mtasts_opts o;
    kw_diag d = {{0}};
    size_t i;
    int r;

    memset(&o, 0, sizeof(o));
    o.cafile = mj->cafile;
    o.https_port = mj->https_port;
    o.smtp_port = mj->smtp_port;
    o.timeout_ms = mj->timeout_ms;
    if (mj->resolver[0] != '\0')
        r = kw_dns_server_parse(mj->resolver, 53, &o.resolver, &d);
    else
        r = kw_dns_system_resolver(NULL, &o.resolver, &d);
    if (r == 0 && (facts == NULL || out == NULL))
        r = kw_diag_set(&d, KW_ENOMEM, "out of memory");
    for (i = 0; i < mj->domains.n && x->r == 0 && !*x->cancel; i++) {
        if (r != 0)
            note_failure(mj, mj->domains.v[i], d.msg);
        else
            x->r = one_domain(x, &o, mj->domains.v[i], facts, out);
    }
    free(facts);
    free(out);
    /* The probes decoded certificates on this thread. */
    ks_cert_thread_done();
    return NULL;
}

static int mtasts_work(kw_job *j, ks_store *s)
{
    mtasts_job *mj = (mtasts_job *)j;
    mtasts_run x = { mj, s, j->env->cancel, 0, {{0}} };
    pthread_t t;
    int r;

    /* The objects are exactly the configured domains (none when off). */
    r = ks_check_sync_kind(s, "mta-sts",
                           (const char *const *)mj->domains.v,
                           mj->domains.n, "[mta-sts]", kw_now(), &j->d);
    if (r != 0 || mj->off)
        return r;
    if (pthread_create(&t, NULL, check_all, &x) != 0)
        return kw_diag_set(&j->d, KW_ENOMEM,
                           "cannot start the MTA-STS check's thread");
    pthread_join(t, NULL);
    if (x.r != 0)
        j->d = x.d;
    return x.r;
}

/* No [mta-sts "DOMAIN"] left (the plan lists no key): no mail domain
 * object stays. */
static int mtasts_pruned(ks_store *s, const char *const *keys, size_t n,
                         kw_diag *d)
{
    (void)keys;
    return n == 0 ? ks_check_sync_kind(s, "mta-sts", NULL, 0, "", 0, d) : 0;
}

static int64_t mtasts_next(kw_job *j, int64_t now)
{
    mtasts_job *mj = (mtasts_job *)j;
    int64_t every = mj->interval;

    if (mj->off)
        return 0;
    if (j->r == 0 && mj->failed > 0 && every > MTASTS_AGAIN)
        every = MTASTS_AGAIN;
    return kw_job_next_periodic(j, now, every);
}

static void mtasts_report(kw_job *j, const char *when)
{
    mtasts_job *mj = (mtasts_job *)j;

    if (j->r != 0) {
        kw_job_log_failure(j, when);
        return;
    }
    if (mj->off) {
        kw_notice("mta-sts: no [mta-sts \"DOMAIN\"] section: no domain to "
                  "check");
        return;
    }
    if (mj->failed > 0)
        kw_warn("mta-sts: %zu of %zu domain%s not checked (first: %s); "
                "next at %s", mj->failed, mj->domains.n,
                mj->domains.n == 1 ? "" : "s", mj->first_err, when);
    if (mj->checked == 0)
        return;
    if (mj->worst == KS_HEALTH_OK)
        kw_notice("mta-sts: %zu domain%s checked, all ok; next at %s",
                  mj->checked, mj->checked == 1 ? "" : "s", when);
    else
        kw_warn("mta-sts: %zu domain%s checked, the worst %s (keywarden "
                "check says why), %zu health change%s; next at %s",
                mj->checked, mj->checked == 1 ? "" : "s",
                ks_health_word(mj->worst), mj->changed,
                mj->changed == 1 ? "" : "s", when);
}

static void mtasts_release(kw_job *j)
{
    mtasts_job *mj = (mtasts_job *)j;

    kw_job_keys_free(&mj->domains);
    free(mj->cafile);
}

const kw_job_type kw_job_mtasts = {
    .name = "mta-sts-check",
    .size = sizeof(mtasts_job),
    .retry_base = 60,
    .retry_cap = 6 * KW_HOUR,
    .keys = mtasts_keys,
    .first_delay = 60,
    .pull_forward = 0,
    .drop_unlisted = 1,
    .pruned = mtasts_pruned,
    .start = mtasts_start,
    .work = mtasts_work,
    .next_run = mtasts_next,
    .report = mtasts_report,
    .release = mtasts_release,
};
