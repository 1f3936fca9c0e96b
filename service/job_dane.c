/*
 * job_dane.c: the "dane-check" job (key "all"): the DANE check
 * (dane/dane_check.h) of every SMTP endpoint of the configuration (an
 * [endpoint] with starttls = smtp, or implicit TLS on port 465), its
 * findings recorded on the endpoint's object (keystore/ks_check.h), so
 * list, show, check, --json and /metrics read them with the probe's, and
 * a health.changed event when an endpoint's DANE health moves.
 *
 * The TLSA name is _PORT._tcp.HOST with the endpoint's host, or its sni
 * when the host is an address (a sender looks the MX name up, not the
 * address).  The certificate on disk, which `dane.reload` compares with
 * the records before a reload makes it served, is the live file of the
 * managed [certificate] that names that host, when there is one.  The
 * authoritative servers asked are those of the [zone] section whose zone
 * holds the host, when there is one ([dnssec] dns_port for the others,
 * found through the resolver), as the dnssec-check job asks them.
 *
 * The gather probes on a private libuv loop whose address lookups use
 * libuv's pool (dane.h, mtasts.h): run inside a pool work callback, a
 * full pool would wait on itself.  So work() hands the gathering to a
 * thread of its own and waits for it; the pool thread that waits is the
 * only one this job holds.  One job for all endpoints, one after
 * another: a few MX hosts, each bounded by [dane] timeout per step.
 *
 * Every [dane] interval (default 1 h); within 5 minutes when an endpoint
 * could not be checked or has not been probed yet (no object to record
 * on), as the DKIM check does.
 */
#include "job.h"

#include "../acme/renew.h"
#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../dane/dane.h"
#include "../dns/dns_resolve.h"
#include "../keystore/ks_cert.h"
#include "../keystore/ks_check.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DANE_AGAIN (5 * KW_MINUTE)

/* One endpoint as the job checks it; copies, a reload cannot pull them
 * away. */
typedef struct dane_ep {
    char name[128];
    char host[256];          /* the TLSA name's host */
    char connect[64];        /* the address to probe, or "" */
    int port, starttls;
    char cert_path[4096];    /* the managed live file, or "" */
    size_t nservers;         /* the [zone] section's servers */
    char servers[KW_DNSSEC_SERVERS_MAX][80];
    /* The outcome, from the thread. */
    int rc;
    kw_diag d;
    kw_dane_result res;
} dane_ep;

typedef struct dane_job {
    kw_job job;
    int off;
    char resolver[80];       /* "" the system's */
    int timeout_ms, ns_port;
    int64_t interval;
    size_t n;
    dane_ep *ep;
    size_t checked, failed, waiting, changed, skipped;
    ks_health worst;
    char first_err[512];
} dane_job;

int kw_job_dane_endpoint(const kw_endpoint_conf *e)
{
    return e->starttls == KW_TLS_SMTP ||
           (e->starttls == KW_TLS_IMPLICIT && e->port == 465);
}

static int dane_keys(const kw_config *c, kw_job_keys *out)
{
    size_t i;

    for (i = 0; i < c->nendpoints; i++)
        if (kw_job_dane_endpoint(&c->endpoints[i]))
            return kw_job_keys_add(out, "all");
    return 0;
}

static int is_address(const char *h)
{
    unsigned char b[16];

    return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

/* The live file of the managed certificate that names host, in cap
 * bytes of path, or "". */
static void managed_file(const kw_config *c, const char *certs_dir,
                         const char *host, char *path, size_t cap)
{
    size_t i, k;

    path[0] = '\0';
    for (i = 0; certs_dir[0] != '\0' && i < c->ncerts; i++)
        for (k = 0; k < c->certs[i].nnames; k++)
            if (strcasecmp(c->certs[i].names[k], host) == 0) {
                int n = snprintf(path, cap, "%s/live/%s/cert.pem",
                                 certs_dir, c->certs[i].name);

                if (n < 0 || (size_t)n >= cap)
                    path[0] = '\0'; /* no such file could exist */
                return;
            }
}

/* The servers of the [zone] section whose zone holds host (the longest
 * such zone), copied into x. */
static void zone_servers(const kw_dnssec_params *p, const char *host,
                         dane_ep *x)
{
    const kw_dnssec_zone_conf *best = NULL;
    size_t i, hl = strlen(host), zl;

    for (i = 0; i < p->nzones; i++) {
        zl = strlen(p->zones[i].zone);
        if (p->zones[i].nservers == 0 || zl > hl ||
            strcasecmp(host + hl - zl, p->zones[i].zone) != 0 ||
            (zl < hl && host[hl - zl - 1] != '.'))
            continue;
        if (best == NULL || zl > strlen(best->zone))
            best = &p->zones[i];
    }
    for (i = 0; best != NULL && i < best->nservers &&
                i < KW_DNSSEC_SERVERS_MAX; i++)
        snprintf(x->servers[x->nservers++], sizeof(x->servers[0]), "%s",
                 best->servers[i]);
}

static int dane_start(kw_job *j)
{
    dane_job *dj = (dane_job *)j;
    const kw_config *c = j->env->conf;
    const char *certs_dir =
        j->env->acme != NULL ? j->env->acme->params.certs_dir : "";
    const char *res = c->dane.resolver != NULL ? c->dane.resolver
                                               : c->dnssec.resolver;
    size_t i;

    dj->interval = c->dane.interval > 0 ? c->dane.interval : KW_HOUR;
    dj->timeout_ms = (int)(c->dane.timeout > 0 ? c->dane.timeout : 10) * 1000;
    snprintf(dj->resolver, sizeof(dj->resolver), "%s", res ? res : "");
    dj->ns_port = c->dnssec.dns_port;
    for (i = 0; i < c->nendpoints; i++)
        dj->n += kw_job_dane_endpoint(&c->endpoints[i]) != 0;
    if (dj->n == 0) {
        dj->off = 1;
        return KW_JOB_RUN_NOW;
    }
    if ((dj->ep = calloc(dj->n, sizeof(*dj->ep))) == NULL)
        return KW_ENOMEM;
    dj->n = 0;
    for (i = 0; i < c->nendpoints; i++) {
        const kw_endpoint_conf *e = &c->endpoints[i];
        dane_ep *x = &dj->ep[dj->n];

        if (!kw_job_dane_endpoint(e))
            continue;
        dj->n++;
        snprintf(x->name, sizeof(x->name), "%s", e->name);
        x->port = e->port;
        x->starttls = (int)e->starttls;
        if (is_address(e->host)) {
            snprintf(x->connect, sizeof(x->connect), "%s", e->host);
            snprintf(x->host, sizeof(x->host), "%s",
                     e->sni != NULL ? e->sni : "");
        } else {
            snprintf(x->host, sizeof(x->host), "%s", e->host);
        }
        if (x->host[0] == '\0')
            continue;
        managed_file(c, certs_dir, x->host, x->cert_path,
                     sizeof(x->cert_path));
        zone_servers(&c->dnssec, x->host, x);
    }
    return KW_JOB_RUN_NOW;
}

typedef struct gather_arg {
    dane_job *dj;
    volatile int *cancel;
} gather_arg;

/* The thread of the gathering: every endpoint gathered and judged into
 * its dane_ep. */
static void *gather_all(void *arg)
{
    gather_arg *g = arg;
    dane_job *dj = g->dj;
    kw_dns_server resolver;
    kw_diag d = {{0}};
    kw_dane_obs *obs = malloc(sizeof(*obs));
    int r;
    size_t i;

    if (dj->resolver[0] != '\0')
        r = kw_dns_server_parse(dj->resolver, 53, &resolver, &d);
    else
        r = kw_dns_system_resolver(NULL, &resolver, &d);
    if (r == 0 && obs == NULL)
        r = kw_diag_set(&d, KW_ENOMEM, "out of memory");
    for (i = 0; i < dj->n; i++) {
        dane_ep *x = &dj->ep[i];
        kw_dane_where w;
        kw_dns_server srv[KW_DNSSEC_SERVERS_MAX];
        size_t k;

        if (r != 0) {
            x->rc = r;
            x->d = d;
            if (dj->resolver[0] != '\0')
                kw_diag_set(&x->d, r, "[dane] resolver %s: %s",
                            dj->resolver, d.msg);
            continue;
        }
        if (*g->cancel) {
            x->rc = KW_ECANCELED;
            kw_diag_set(&x->d, KW_ECANCELED, "stopped");
            continue;
        }
        if (x->host[0] == '\0')
            continue; /* no name to look up: skipped (record_ep) */
        memset(&w, 0, sizeof(w));
        for (k = 0; k < x->nservers; k++)
            if ((x->rc = kw_dns_server_parse(x->servers[k], dj->ns_port > 0
                                             ? dj->ns_port : 53, &srv[k],
                                             &x->d)) != 0)
                break;
        if (k < x->nservers)
            continue;
        w.servers = k > 0 ? srv : NULL;
        w.nservers = k;
        w.ns_port = dj->ns_port;
        w.resolver = &resolver;
        w.starttls = x->starttls;
        w.connect = x->connect[0] ? x->connect : NULL;
        w.cert_path = x->cert_path[0] && access(x->cert_path, R_OK) == 0
                          ? x->cert_path
                          : NULL;
        w.timeout_ms = dj->timeout_ms;
        memset(obs, 0, sizeof(*obs));
        x->rc = kw_dane_gather(x->host, x->port, &w, obs, &x->d);
        if (x->rc == 0)
            kw_dane_judge(obs, kw_now(), &x->res);
        kw_dane_obs_free(obs);
    }
    free(obs);
    /* The probes decoded certificates on this thread, whose per-thread
     * decoding state goes with it. */
    ks_cert_thread_done();
    return NULL;
}

static int record_ep(dane_job *dj, ks_store *s, dane_ep *x, kw_diag *d)
{
    ks_check_finding f[KW_DANE_FINDINGS_MAX];
    ks_health h;
    int64_t id;
    size_t i;
    int changed = 0, r;

    if (x->host[0] == '\0') {
        /* Not a failure to retry in 5 minutes: the configuration gives
         * no name, and only the operator can. */
        dj->skipped++;
        return 0;
    }
    if (x->rc != 0) {
        kw_warn("dane: %s: not checked: %s", x->name, x->d.msg);
        if (dj->failed++ == 0)
            snprintf(dj->first_err, sizeof(dj->first_err), "%.120s: %.300s",
                     x->name, x->d.msg);
        return 0;
    }
    r = ks_check_endpoint_object(s, x->name, &id, d);
    if (r == KW_ENOTFOUND) {
        dj->waiting++;
        return 0;
    }
    if (r != 0)
        return r;
    for (i = 0; i < x->res.nfind && i < KW_DANE_FINDINGS_MAX; i++) {
        const kw_dnssec_live_find *lf = &x->res.find[i];

        f[i] = (ks_check_finding){ lf->severity, lf->code, lf->text, lf->fix,
                                   lf->record };
    }
    r = ks_check_record(s, id, "dane", x->name, f, i, kw_now(), &h,
                        &changed, d);
    if (r == KW_ENOTFOUND) {
        dj->waiting++;
        return 0;
    }
    if (r != 0)
        return r;
    dj->checked++;
    dj->changed += changed != 0;
    if (ks_health_rank(h) > ks_health_rank(dj->worst))
        dj->worst = h;
    return 0;
}

/* No SMTP endpoint left (the plan lists no key): no DANE verdict stays
 * on any object. */
static int dane_pruned(ks_store *s, const char *const *keys, size_t n,
                       kw_diag *d)
{
    (void)keys;
    return n == 0 ? ks_check_prune(s, "dane", NULL, 0, d) : 0;
}

static int dane_work(kw_job *j, ks_store *s)
{
    dane_job *dj = (dane_job *)j;
    gather_arg g = { dj, j->env->cancel };
    const char **names;
    pthread_t t;
    size_t i, k;
    int r = 0;

    if (dj->off)
        return ks_check_prune(s, "dane", NULL, 0, &j->d);
    /* An endpoint no longer checked (gone, or no longer SMTP) keeps no
     * old DANE verdict. */
    if ((names = calloc(dj->n, sizeof(*names))) == NULL)
        return kw_diag_set(&j->d, KW_ENOMEM, "out of memory");
    for (i = 0, k = 0; i < dj->n; i++)
        if (dj->ep[i].host[0] != '\0')
            names[k++] = dj->ep[i].name;
    r = ks_check_prune(s, "dane", names, k, &j->d);
    free(names);
    if (r != 0)
        return r;
    if (pthread_create(&t, NULL, gather_all, &g) != 0)
        return kw_diag_set(&j->d, KW_ENOMEM,
                           "cannot start the DANE check's thread");
    pthread_join(t, NULL);
    for (i = 0; r == 0 && i < dj->n; i++)
        r = record_ep(dj, s, &dj->ep[i], &j->d);
    return r;
}

static int64_t dane_next(kw_job *j, int64_t now)
{
    dane_job *dj = (dane_job *)j;
    int64_t every = dj->interval;

    if (dj->off)
        return 0;
    if (j->r == 0 && (dj->failed > 0 || dj->waiting > 0) &&
        every > DANE_AGAIN)
        every = DANE_AGAIN;
    return kw_job_next_periodic(j, now, every);
}

static void dane_report(kw_job *j, const char *when)
{
    dane_job *dj = (dane_job *)j;

    if (j->r != 0) {
        kw_job_log_failure(j, when);
        return;
    }
    if (dj->off) {
        kw_notice("dane: no SMTP endpoint ([endpoint] starttls = smtp) to "
                  "check");
        return;
    }
    if (dj->failed > 0)
        kw_warn("dane: %zu of %zu endpoint%s not checked (first: %s); next "
                "at %s", dj->failed, dj->n, dj->n == 1 ? "" : "s",
                dj->first_err, when);
    if (dj->skipped > 0)
        kw_notice("dane: %zu endpoint%s not checked: an address as host "
                  "and no sni, so no host name to look the TLSA record up "
                  "for (set sni to the MX name)",
                  dj->skipped, dj->skipped == 1 ? "" : "s");
    if (dj->waiting > 0)
        kw_info("dane: %zu endpoint%s not probed yet, recorded at the next "
                "run (%s)", dj->waiting, dj->waiting == 1 ? "" : "s", when);
    if (dj->checked == 0)
        return;
    if (dj->worst == KS_HEALTH_OK)
        kw_notice("dane: %zu endpoint%s checked, all ok; next at %s",
                  dj->checked, dj->checked == 1 ? "" : "s", when);
    else
        kw_warn("dane: %zu endpoint%s checked, the worst %s (keywarden "
                "check says why), %zu health change%s; next at %s",
                dj->checked, dj->checked == 1 ? "" : "s",
                ks_health_word(dj->worst), dj->changed,
                dj->changed == 1 ? "" : "s", when);
}

static void dane_release(kw_job *j)
{
    free(((dane_job *)j)->ep);
}

const kw_job_type kw_job_dane = {
    .name = "dane-check",
    .size = sizeof(dane_job),
    .retry_base = 60,
    .retry_cap = 6 * KW_HOUR,
    .keys = dane_keys,
    /* A new row waits for the first probes to record the endpoints. */
    .first_delay = 60,
    .pull_forward = 0,
    .drop_unlisted = 1,
    .pruned = dane_pruned,
    .start = dane_start,
    .work = dane_work,
    .next_run = dane_next,
    .report = dane_report,
    .release = dane_release,
};
