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
 * A [dkim "DOMAIN"] domain is a mail domain too, but MTA-STS is opt-in:
 * it is checked (and an object, one per domain, whichever sections name
 * it) only while it publishes an _mta-sts TXT record starting v=STSv1,
 * since a domain without MTA-STS is no problem while one with a broken
 * policy is.  When that look-up fails (timeout, SERVFAIL) an object the
 * domain already has stays, as it was, until an answer says.
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
#include "../common/kw_vec.h"
#include "../dkim/dkim_rotate.h"
#include "../dns/dns_lookup.h"
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
    kw_job_keys domains;     /* copies: [mta-sts] ones first, then the
                                [dkim] ones (kw_job_mail_domains) */
    size_t nexplicit;        /* the [mta-sts "DOMAIN"] ones */
    size_t unpublished;      /* [dkim] domains without _mta-sts */
    char resolver[80];       /* "" the system's */
    char *cafile;            /* NULL the system's store */
    int https_port, smtp_port, timeout_ms;
    int64_t interval;
    size_t checked, failed, changed;
    ks_health worst;
    char first_err[512];
} mtasts_job;

/* domain, lower case without its final dot, appended to out unless
 * seen holds it already. */
static int add_domain(kw_job_keys *out, kw_strset *seen, const char *domain)
{
    char dom[256];
    size_t i, n = strlen(domain);
    int r;

    if (n > 1 && domain[n - 1] == '.')
        n--;
    if (n == 0 || n >= sizeof(dom))
        return 0; /* the configuration refuses such names */
    for (i = 0; i < n; i++)
        dom[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z'
                            ? domain[i] + 32 : domain[i]);
    dom[n] = '\0';
    if ((r = kw_job_keys_add(out, dom)) != 0)
        return r;
    r = kw_strset_add(seen, out->v[out->n - 1]);
    if (r == 1) {
        free(out->v[--out->n]);
        r = 0;
    }
    return r;
}

int kw_job_mail_domains(const kw_config *c, kw_job_keys *out,
                        size_t *nexplicit)
{
    kw_strset seen = { 0 };
    size_t i;
    int r = 0;

    for (i = 0; r == 0 && i < c->mtasts.ndomains; i++)
        r = add_domain(out, &seen, c->mtasts.domains[i]);
    if (nexplicit != NULL)
        *nexplicit = out->n;
    for (i = 0; r == 0 && i < c->dkim.nkeys; i++)
        r = add_domain(out, &seen, c->dkim.keys[i].domain);
    for (i = 0; r == 0 && i < c->dkim.nrot; i++)
        r = add_domain(out, &seen, c->dkim.rot[i].domain);
    kw_strset_free(&seen);
    return r;
}

static int mtasts_keys(const kw_config *c, kw_job_keys *out)
{
    return c->mtasts.ndomains > 0 || c->dkim.nkeys > 0 || c->dkim.nrot > 0
               ? kw_job_keys_add(out, "all")
               : 0;
}

static int mtasts_start(kw_job *j)
{
    mtasts_job *mj = (mtasts_job *)j;
    const kw_config *c = j->env->conf;
    const char *res = c->mtasts.resolver != NULL ? c->mtasts.resolver
                      : c->dane.resolver != NULL ? c->dane.resolver
                      : c->dnssec.resolver != NULL ? c->dnssec.resolver
                                                   : c->dkim.resolver;

    if (kw_job_mail_domains(c, &mj->domains, &mj->nexplicit) != 0)
        return KW_ENOMEM;
    if (mj->domains.n == 0) {
        mj->off = 1;
        return KW_JOB_RUN_NOW;
    }
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
    ks_check_finding f[KW_MTASTS_FINDINGS_MAX + 1]; /* + findings.dropped */
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

/* Whether domain publishes MTA-STS: 1 an _mta-sts TXT record starting
 * "v=STSv1" (well formed or not: the check judges it), 0 none (no such
 * name, or no such record), or a KW_E* when no answer was had (d). */
static int publishes(const kw_dns_server *resolver, int timeout_ms,
                     const char *domain, kw_diag *d)
{
    kw_dns_lookup_ctx lc;
    kw_dns_rrset *set = malloc(sizeof(*set));
    char name[300];
    size_t i;
    int r;

    if (set == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    memset(&lc, 0, sizeof(lc));
    lc.server = *resolver;
    lc.timeout_ms = timeout_ms;
    snprintf(name, sizeof(name), "_mta-sts.%s", domain);
    r = kw_dns_lookup_server(&lc, name, KW_DNS_TXT, set, d);
    if (r == KW_ENOTFOUND)
        r = 0;
    else if (r == 0)
        for (i = 0; i < set->n && r == 0; i++) {
            const char *t = kw_dns_rrset_rec(set, i);

            r = strncmp(t, "v=STSv1", 7) == 0 &&
                (t[7] == '\0' || t[7] == ';' || t[7] == ' ' ||
                 t[7] == '\t');
        }
    free(set);
    return r;
}

/* The domains to check into x->mj->domains' first *n (reordered): every
 * [mta-sts] one, and the [dkim] ones that publish MTA-STS or whose
 * look-up failed while they have an object; their objects made exactly
 * these (sources: which section names them).  0 or the database's
 * error (x->d). */
static int pick_domains(mtasts_run *x, const kw_dns_server *resolver,
                        size_t *n, unsigned char *failed)
{
    mtasts_job *mj = x->mj;
    char (*src)[300] = calloc(mj->domains.n ? mj->domains.n : 1,
                              sizeof(*src));
    const char **srcs = calloc(mj->domains.n ? mj->domains.n : 1,
                               sizeof(*srcs));
    size_t i, k = mj->nexplicit;
    int64_t id;
    int r = 0;

    if (src == NULL || srcs == NULL) {
        free(src);
        free(srcs);
        return kw_diag_set(&x->d, KW_ENOMEM, "out of memory");
    }
    for (i = 0; i < mj->nexplicit; i++) {
        snprintf(src[i], sizeof(src[0]), "[mta-sts \"%s\"]",
                 mj->domains.v[i]);
        srcs[i] = src[i];
    }
    for (i = mj->nexplicit; r == 0 && i < mj->domains.n && !*x->cancel;
         i++) {
        kw_diag d = {{0}};
        char *t;
        int p = publishes(resolver, mj->timeout_ms, mj->domains.v[i], &d);

        if (p == 0) {
            mj->unpublished++;
            continue;
        }
        if (p < 0) {
            r = ks_check_object(x->s, "mta-sts", mj->domains.v[i], &id,
                                &x->d);
            if (r == KW_ENOTFOUND) {
                r = 0;
                note_failure(mj, mj->domains.v[i], d.msg);
                continue;
            }
            failed[k] = 1;
            note_failure(mj, mj->domains.v[i], d.msg);
        }
        snprintf(src[k], sizeof(src[0]),
                 "[dkim \"%s\"], which publishes _mta-sts",
                 mj->domains.v[i]);
        srcs[k] = src[k];
        t = mj->domains.v[k];
        mj->domains.v[k++] = mj->domains.v[i];
        mj->domains.v[i] = t;
    }
    if (r == 0 && !*x->cancel)
        r = ks_check_sync_kind_src(x->s, "mta-sts",
                                   (const char *const *)mj->domains.v, srcs,
                                   k, "[mta-sts]", kw_now(), &x->d);
    free(src);
    free(srcs);
    *n = k;
    if (r == 0 && *x->cancel)
        r = kw_diag_set(&x->d, KW_ECANCELED, "stopped");
    return r;
}

/* The thread of the checks. */
static void *check_all(void *arg)
{
    mtasts_run *x = arg;
    mtasts_job *mj = x->mj;
    kw_mtasts_facts *facts = malloc(sizeof(*facts));
    kw_mtasts_findings *out = malloc(sizeof(*out));
    unsigned char *failed = calloc(mj->domains.n + 1, 1);
    kw_mtasts_opts o;
    kw_diag d = {{0}};
    size_t i, n = 0;
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
    if (r == 0 && (facts == NULL || out == NULL || failed == NULL))
        r = kw_diag_set(&d, KW_ENOMEM, "out of memory");
    if (r != 0) {
        /* No resolver: the objects stay as they are. */
        for (i = 0; i < mj->domains.n; i++)
            note_failure(mj, mj->domains.v[i], d.msg);
    } else {
        x->r = pick_domains(x, &o.resolver, &n, failed);
    }
    for (i = 0; i < n && x->r == 0 && !*x->cancel; i++)
        if (!failed[i])
            x->r = one_domain(x, &o, mj->domains.v[i], facts, out);
    free(failed);
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

    /* The objects are the configured domains that are checked (none when
     * off), made so by the thread once it knows which [dkim] domains
     * publish MTA-STS. */
    if (mj->off)
        return ks_check_sync_kind(s, "mta-sts", NULL, 0, "", kw_now(),
                                  &j->d);
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
        kw_notice("mta-sts: no [mta-sts \"DOMAIN\"] or [dkim \"DOMAIN\"] "
                  "section: no domain to check");
        return;
    }
    if (mj->unpublished > 0)
        kw_info("mta-sts: %zu [dkim] domain%s publish%s no _mta-sts record: "
                "not checked", mj->unpublished,
                mj->unpublished == 1 ? "" : "s",
                mj->unpublished == 1 ? "es" : "");
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
