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
 * The MX hosts of the mail domains ([dkim "DOMAIN"] and [mta-sts
 * "DOMAIN"], kw_job_mail_domains) are checked too, each MX set looked up
 * through the same resolver at every run, except a host an SMTP
 * [endpoint] already names: port 25's TLSA (_25._tcp.HOST), every
 * address DNS gives probed with STARTTLS ([dane] smtp_port moves the
 * probe, never the TLSA name, for tests).  Each is an endpoint of origin
 * "mx" named HOST:25, recorded as a probe records one (the served
 * chain, so its expiry counts too) with the DANE findings on it; an MX
 * that leaves every MX set leaves the inventory at the next run whose
 * look-ups all answered.  A host with no TLSA record is no finding
 * (DANE is opt-in): its ok finding says so in show.  A sender applies
 * DANE to an MX host only when the MX lookup validated (RFC 7672
 * section 2.2.1), so each MX set is asked with DO and judged by the
 * resolver's AD bit and rcode (kw_dane_mx_lookup): reached only through
 * insecure MX sets, a host's TLSA findings are warnings; through a
 * bogus one, the host is critical (that domain's mail waits); secure in
 * any domain, the TLSA verdict stands (kw_dane_mx_apply).
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
#include "../common/kw_vec.h"
#include "../keystore/ks_cert.h"
#include "../keystore/ks_check.h"
#include "../keystore/ks_endpoint.h"
#include "../keystore/ks_keygen.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DANE_AGAIN (5 * KW_MINUTE)
/* The port of an MX host's TLSA record and of the mail it takes. */
#define DANE_MX_PORT 25

/* One endpoint as the job checks it; copies, a reload cannot pull them
 * away. */
typedef struct dane_ep {
    char name[300];          /* [endpoint] name, or HOST:25 */
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
    /* An MX host's probe, for its endpoint object: the chain the first
     * address that answered served (owned), or why none did. */
    int is_mx;
    /* A mail domain naming the host whose MX lookup was secure,
     * insecure, bogus ("": none): what DANE senders make of its TLSA. */
    char mx_secure[256], mx_insecure[256], mx_bogus[256];
    kw_dane_chain served;
    int name_matches;
    char tls_version[16];
    char probe_err[600];
} dane_ep;

/* A [zone] section's servers, and a managed certificate's host name and
 * live file: copies, for the MX hosts the thread finds after a reload
 * may have freed the configuration. */
typedef struct dane_zone {
    char zone[256];
    size_t n;
    char servers[KW_DNSSEC_SERVERS_MAX][80];
} dane_zone;

typedef struct dane_job {
    kw_job job;
    int off;
    char resolver[80];       /* "" the system's */
    int timeout_ms, ns_port, smtp_port;
    int64_t interval;
    size_t n;
    dane_ep *ep;
    /* The mail domains, and their MX hosts found by the thread. */
    kw_job_keys domains;
    size_t nmx, capmx;
    dane_ep *mx;
    int mx_failed;           /* an MX set was not had: keep the old ones */
    size_t nzones;
    dane_zone *zones;
    kw_job_keys cert_host, cert_path;
    size_t checked, failed, waiting, changed, skipped;
    size_t mx_cut;           /* mail domains with MX hosts left unchecked */
    char mx_cut_first[256];  /* the first of them and how many */
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
    /* The MX hosts of the mail domains. */
    if (c->mtasts.ndomains > 0 || c->dkim.nkeys > 0 || c->dkim.nrot > 0)
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
static void managed_file(const dane_job *dj, const char *host, char *path,
                         size_t cap)
{
    size_t i;

    path[0] = '\0';
    for (i = 0; i < dj->cert_host.n; i++)
        if (strcasecmp(dj->cert_host.v[i], host) == 0) {
            int n = snprintf(path, cap, "%s", dj->cert_path.v[i]);

            if (n < 0 || (size_t)n >= cap)
                path[0] = '\0'; /* no such file could exist */
            return;
        }
}

/* The servers of the [zone] section whose zone holds host (the longest
 * such zone), copied into x. */
static void zone_servers(const dane_job *dj, const char *host, dane_ep *x)
{
    const dane_zone *best = NULL;
    size_t i, hl = strlen(host), zl;

    for (i = 0; i < dj->nzones; i++) {
        zl = strlen(dj->zones[i].zone);
        if (dj->zones[i].n == 0 || zl > hl ||
            strcasecmp(host + hl - zl, dj->zones[i].zone) != 0 ||
            (zl < hl && host[hl - zl - 1] != '.'))
            continue;
        if (best == NULL || zl > strlen(best->zone))
            best = &dj->zones[i];
    }
    for (i = 0; best != NULL && i < best->n; i++)
        snprintf(x->servers[x->nservers++], sizeof(x->servers[0]), "%s",
                 best->servers[i]);
}

/* The managed certificates' names and live files, and the [zone]
 * sections' servers, copied into dj. */
static int copy_places(dane_job *dj, const kw_config *c,
                       const char *certs_dir)
{
    size_t i, k;
    char path[4096];

    for (i = 0; certs_dir[0] != '\0' && i < c->ncerts; i++) {
        int n = snprintf(path, sizeof(path), "%s/live/%s/cert.pem",
                         certs_dir, c->certs[i].name);

        for (k = 0; k < c->certs[i].nnames; k++)
            if (kw_job_keys_add(&dj->cert_host, c->certs[i].names[k]) != 0 ||
                kw_job_keys_add(&dj->cert_path,
                                n < 0 || (size_t)n >= sizeof(path) ? ""
                                                                   : path))
                return KW_ENOMEM;
    }
    if (c->dnssec.nzones == 0)
        return 0;
    if ((dj->zones = calloc(c->dnssec.nzones, sizeof(*dj->zones))) == NULL)
        return KW_ENOMEM;
    for (i = 0; i < c->dnssec.nzones; i++) {
        const kw_dnssec_zone_conf *z = &c->dnssec.zones[i];
        dane_zone *x = &dj->zones[dj->nzones++];

        snprintf(x->zone, sizeof(x->zone), "%s", z->zone);
        for (k = 0; k < z->nservers && k < KW_DNSSEC_SERVERS_MAX; k++)
            snprintf(x->servers[x->n++], sizeof(x->servers[0]), "%s",
                     z->servers[k]);
    }
    return 0;
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
    dj->smtp_port = c->dane.smtp_port;
    for (i = 0; i < c->nendpoints; i++)
        dj->n += kw_job_dane_endpoint(&c->endpoints[i]) != 0;
    if (kw_job_mail_domains(c, &dj->domains, NULL) != 0 ||
        copy_places(dj, c, certs_dir) != 0)
        return KW_ENOMEM;
    if (dj->n == 0 && dj->domains.n == 0) {
        dj->off = 1;
        return KW_JOB_RUN_NOW;
    }
    if ((dj->ep = calloc(dj->n ? dj->n : 1, sizeof(*dj->ep))) == NULL)
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
        managed_file(dj, x->host, x->cert_path, sizeof(x->cert_path));
        zone_servers(dj, x->host, x);
    }
    return KW_JOB_RUN_NOW;
}

typedef struct gather_arg {
    dane_job *dj;
    volatile int *cancel;
} gather_arg;

/* Whether an SMTP endpoint of the configuration already checks host, or
 * is called name. */
static int configured(const dane_job *dj, const char *host, const char *name)
{
    size_t i;

    for (i = 0; i < dj->n; i++)
        if (strcasecmp(dj->ep[i].host, host) == 0 ||
            strcmp(dj->ep[i].name, name) == 0)
            return 1;
    return 0;
}

/* The MX hosts of every mail domain, through the resolver, into dj->mx
 * (each once, none an [endpoint] already checks), with the security of
 * the MX sets naming each (kw_dane_mx_lookup).  A domain whose MX set
 * was not had sets mx_failed (its old hosts stay). */
static void find_mx(dane_job *dj, const kw_dns_server *resolver,
                    volatile int *cancel)
{
    kw_dane_mx *set = malloc(sizeof(*set));
    size_t i, k, m;

    if (set == NULL) {
        dj->mx_failed = 1;
        return;
    }
    for (i = 0; i < dj->domains.n && !*cancel; i++) {
        const char *dom = dj->domains.v[i];
        kw_diag d = {{0}};
        int r = kw_dane_mx_lookup(resolver, dom, dj->timeout_ms, set, &d);

        if (r == KW_ENOTFOUND)
            continue; /* no such domain: no MX to check */
        if (r != 0) {
            dj->mx_failed = 1;
            kw_warn("dane: the MX hosts of %s: %s", dom, d.msg);
            if (dj->failed++ == 0)
                snprintf(dj->first_err, sizeof(dj->first_err),
                         "MX of %.120s: %.300s", dom, d.msg);
            continue;
        }
        if (set->truncated) {
            /* The hosts past the bound are never probed: the old ones
             * stay, and the log says which domain lost how many. */
            dj->mx_failed = 1;
            kw_warn("dane: mail domain %s has %zu MX hosts; only the first "
                    "%d are DANE-checked, %d never are", dom,
                    set->n + (size_t)set->truncated, KW_DANE_MX_MAX,
                    set->truncated);
            if (dj->mx_cut++ == 0)
                snprintf(dj->mx_cut_first, sizeof(dj->mx_cut_first),
                         "%.200s (%d more than %d)", dom, set->truncated,
                         KW_DANE_MX_MAX);
        }
        for (k = 0; k < set->n; k++) {
            const char *h = set->host[k];
            char name[300], *mark;
            dane_ep *x, *grown;

            snprintf(name, sizeof(name), "%s:%d", h, DANE_MX_PORT);
            if (configured(dj, h, name))
                continue;
            for (m = 0; m < dj->nmx; m++)
                if (strcasecmp(dj->mx[m].host, h) == 0)
                    break;
            if (m == dj->nmx) {
                grown = kw_vec_grow(dj->mx, &dj->capmx, dj->nmx + 1,
                                    sizeof(*grown));
                if (grown == NULL) {
                    dj->mx_failed = 1;
                    break;
                }
                dj->mx = grown;
                x = &dj->mx[dj->nmx++];
                memset(x, 0, sizeof(*x));
                x->is_mx = 1;
                snprintf(x->name, sizeof(x->name), "%s", name);
                snprintf(x->host, sizeof(x->host), "%s", h);
                x->port = DANE_MX_PORT;
                x->starttls = KW_TLS_SMTP;
                managed_file(dj, x->host, x->cert_path,
                             sizeof(x->cert_path));
                zone_servers(dj, x->host, x);
            }
            x = &dj->mx[m];
            /* The first domain of each kind is the one findings name. */
            mark = set->dnssec == KW_DANE_SECURE ? x->mx_secure
                   : set->dnssec == KW_DANE_BOGUS ? x->mx_bogus
                                                  : x->mx_insecure;
            if (mark[0] == '\0')
                snprintf(mark, sizeof(x->mx_secure), "%s", dom);
        }
    }
    if (*cancel)
        dj->mx_failed = 1;
    free(set);
}

/* One host gathered and judged into x (obs: scratch).  An MX host keeps
 * the chain its first answering address served, for its endpoint. */
static void gather_one(dane_job *dj, dane_ep *x, const kw_dns_server *res,
                       kw_dane_obs *obs)
{
    kw_dane_where w;
    kw_dns_server srv[KW_DNSSEC_SERVERS_MAX];
    size_t k, p;

    memset(&w, 0, sizeof(w));
    for (k = 0; k < x->nservers; k++)
        if ((x->rc = kw_dns_server_parse(x->servers[k], dj->ns_port > 0
                                         ? dj->ns_port : 53, &srv[k],
                                         &x->d)) != 0)
            return;
    w.servers = k > 0 ? srv : NULL;
    w.nservers = k;
    w.ns_port = dj->ns_port;
    w.resolver = res;
    w.starttls = x->starttls;
    w.connect = x->connect[0] ? x->connect : NULL;
    w.probe_port = x->is_mx ? dj->smtp_port : 0;
    w.cert_path = x->cert_path[0] && access(x->cert_path, R_OK) == 0
                      ? x->cert_path
                      : NULL;
    w.timeout_ms = dj->timeout_ms;
    memset(obs, 0, sizeof(*obs));
    x->rc = kw_dane_gather(x->host, x->port, &w, obs, &x->d);
    if (x->rc == 0)
        kw_dane_judge(obs, kw_now(), &x->res);
    if (x->rc == 0 && x->is_mx)
        kw_dane_mx_apply(&x->res, x->mx_secure, x->mx_insecure,
                         x->mx_bogus);
    if (x->rc == 0 && x->is_mx) {
        snprintf(x->probe_err, sizeof(x->probe_err), "%s",
                 obs->probe_err[0] ? obs->probe_err : "no answer");
        for (p = 0; p < obs->npeers; p++) {
            if (obs->peer[p].chain.n == 0) {
                if (p == 0 && obs->peer[p].err[0] != '\0')
                    snprintf(x->probe_err, sizeof(x->probe_err), "%s: %s",
                             obs->peer[p].address, obs->peer[p].err);
                continue;
            }
            x->served = obs->peer[p].chain; /* moved */
            memset(&obs->peer[p].chain, 0, sizeof(obs->peer[p].chain));
            x->name_matches = obs->peer[p].name_matches;
            snprintf(x->tls_version, sizeof(x->tls_version), "%s",
                     obs->peer[p].tls_version);
            break;
        }
    }
    kw_dane_obs_free(obs);
}

/* The thread of the gathering: every endpoint, then every MX host,
 * gathered and judged into its dane_ep. */
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
    if (r == 0)
        find_mx(dj, &resolver, g->cancel);
    else if (dj->domains.n > 0)
        dj->mx_failed = 1;
    for (i = 0; i < dj->n + dj->nmx; i++) {
        dane_ep *x = i < dj->n ? &dj->ep[i] : &dj->mx[i - dj->n];

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
        gather_one(dj, x, &resolver, obs);
    }
    free(obs);
    /* The probes decoded certificates on this thread, whose per-thread
     * decoding state goes with it. */
    ks_cert_thread_done();
    return NULL;
}

/* x's findings recorded on object id. */
static int record_findings(dane_job *dj, ks_store *s, dane_ep *x,
                           int64_t id, kw_diag *d)
{
    ks_check_finding f[KW_DANE_FINDINGS_MAX];
    ks_health h;
    size_t i;
    int changed = 0, r;

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

static void note_unchecked(dane_job *dj, const dane_ep *x)
{
    kw_warn("dane: %s: not checked: %s", x->name, x->d.msg);
    if (dj->failed++ == 0)
        snprintf(dj->first_err, sizeof(dj->first_err), "%.120s: %.300s",
                 x->name, x->d.msg);
}

static int record_ep(dane_job *dj, ks_store *s, dane_ep *x, kw_diag *d)
{
    int64_t id;
    int r;

    if (x->host[0] == '\0') {
        /* Not a failure to retry in 5 minutes: the configuration gives
         * no name, and only the operator can. */
        dj->skipped++;
        return 0;
    }
    if (x->rc != 0) {
        note_unchecked(dj, x);
        return 0;
    }
    r = ks_check_endpoint_object(s, x->name, &id, d);
    if (r == KW_ENOTFOUND) {
        dj->waiting++;
        return 0;
    }
    if (r != 0)
        return r;
    return record_findings(dj, s, x, id, d);
}

/* An MX host: its endpoint (origin "mx") recorded from what the check's
 * probe saw, as the probe job records an [endpoint], then its findings
 * on that object. */
static int record_mx(dane_job *dj, ks_store *s, dane_ep *x, kw_diag *d)
{
    ks_cert chain[KW_DANE_CHAIN_MAX];
    ks_probe_obs o;
    int64_t id = 0, stale = 0;
    size_t i, n = 0;
    int r;

    if (x->rc != 0) {
        note_unchecked(dj, x);
        return 0;
    }
    memset(chain, 0, sizeof(chain));
    for (i = 0; i < x->served.n; i++) {
        kw_diag dd = {{0}};

        if (ks_cert_decode(x->served.der[i], x->served.len[i], 0,
                           &chain[n], NULL, &dd) != 0)
            break; /* the chain ends where a sender's would */
        n++;
    }
    memset(&o, 0, sizeof(o));
    o.name = x->name;
    o.host = x->host;
    o.port = x->port;
    o.sni = x->host;
    o.starttls = "smtp";
    o.origin = "mx";
    o.ok = n > 0;
    o.error = n > 0 ? NULL : x->probe_err;
    o.tls_version = x->tls_version[0] ? x->tls_version : NULL;
    o.name_matches = x->name_matches;
    o.chain = chain;
    o.nchain = n;
    r = ks_endpoint_record(s, &o, kw_now(), &id, &stale, d);
    for (i = 0; i < n; i++)
        ks_cert_clear(&chain[i]);
    if (r != 0)
        return r;
    return record_findings(dj, s, x, id, d);
}

/* No SMTP endpoint or mail domain left (the plan lists no key): no DANE
 * verdict stays on any object, and no MX host. */
static int dane_pruned(ks_store *s, const char *const *keys, size_t n,
                       kw_diag *d)
{
    int r;

    (void)keys;
    if (n > 0)
        return 0;
    r = ks_check_prune(s, "dane", NULL, 0, d);
    return r != 0 ? r : ks_endpoint_prune_origin(s, "mx", NULL, 0, d);
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
        return dane_pruned(s, NULL, 0, &j->d);
    /* An endpoint no longer checked (gone, or no longer SMTP) keeps no
     * old DANE verdict. */
    if ((names = calloc(dj->n + 1, sizeof(*names))) == NULL)
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
    for (i = 0; r == 0 && i < dj->nmx; i++)
        r = record_mx(dj, s, &dj->mx[i], &j->d);
    /* An MX host no longer in any MX set leaves the inventory, once every
     * set was had. */
    if (r == 0 && !dj->mx_failed) {
        if ((names = calloc(dj->nmx + 1, sizeof(*names))) == NULL)
            return kw_diag_set(&j->d, KW_ENOMEM, "out of memory");
        for (i = 0; i < dj->nmx; i++)
            names[i] = dj->mx[i].name;
        r = ks_endpoint_prune_origin(s, "mx", names, dj->nmx, &j->d);
        free(names);
    }
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
        kw_notice("dane: no SMTP endpoint ([endpoint] starttls = smtp) "
                  "and no mail domain to check");
        return;
    }
    if (dj->nmx > 0)
        kw_info("dane: %zu MX host%s of %zu mail domain%s checked beside "
                "the endpoints", dj->nmx, dj->nmx == 1 ? "" : "s",
                dj->domains.n, dj->domains.n == 1 ? "" : "s");
    if (dj->failed > 0)
        kw_warn("dane: %zu of %zu endpoint%s and MX set%s not checked "
                "(first: %s); next at %s", dj->failed,
                dj->n + dj->nmx + dj->domains.n,
                dj->n + dj->nmx + dj->domains.n == 1 ? "" : "s",
                dj->failed == 1 ? "" : "s", dj->first_err, when);
    if (dj->mx_cut > 0)
        kw_warn("dane: %zu mail domain%s with more than %d MX hosts: the "
                "hosts past them were not DANE-checked (first: %s)",
                dj->mx_cut, dj->mx_cut == 1 ? "" : "s", KW_DANE_MX_MAX,
                dj->mx_cut_first);
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
    dane_job *dj = (dane_job *)j;
    size_t i;

    for (i = 0; i < dj->nmx; i++)
        kw_dane_chain_free(&dj->mx[i].served);
    free(dj->mx);
    free(dj->ep);
    free(dj->zones);
    kw_job_keys_free(&dj->domains);
    kw_job_keys_free(&dj->cert_host);
    kw_job_keys_free(&dj->cert_path);
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
