/*
 * mtasts_check_run.c: gathering a domain's MTA-STS facts (DNS, the
 * policy over HTTPS, the policy host's and every MX's certificate) and
 * kw_mtasts_check, which remembers the policy seen under each id
 * (mtasts_check.h).
 */
#include "mtasts_check.h"

#include "../dns/dns_lookup.h"
#include "../dns/dns_resolve.h"
#include "../keystore/ks_mtasts.h"
#include "../probe/probe.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void curl_init_once(void)
{
    curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static int tmo(const kw_mtasts_opts *o)
{
    return o->timeout_ms > 0 ? o->timeout_ms : 10000;
}

/* The TXT records at name, selected by sel into out; the status and the
 * words go into *status and err. */
typedef int (*select_fn)(const char *const *recs, const size_t *lens,
                         size_t n, void *out, kw_diag *d);

static void txt_at(const kw_dns_lookup_ctx *lc, const char *name,
                   select_fn sel, void *out, int *status, char *err,
                   size_t errcap)
{
    kw_dns_rrset *set = malloc(sizeof(*set));
    const char *recs[KW_DNS_RRSET_MAX];
    size_t lens[KW_DNS_RRSET_MAX], i;
    kw_diag d = {{0}};
    int rc;

    if (set == NULL) {
        *status = KW_ENOMEM;
        snprintf(err, errcap, "out of memory");
        return;
    }
    rc = kw_dns_lookup_server((void *)lc, name, KW_DNS_TXT, set, &d);
    if (rc == KW_ENOTFOUND) {
        *status = KW_ENOTFOUND;
        snprintf(err, errcap, "no such name (NXDOMAIN)");
    } else if (rc != 0) {
        *status = rc;
        snprintf(err, errcap, "%s", d.msg);
    } else {
        for (i = 0; i < set->n; i++) {
            recs[i] = kw_dns_rrset_rec(set, i);
            lens[i] = set->len[i];
        }
        *status = sel(recs, lens, set->n, out, &d);
        if (*status != 0)
            snprintf(err, errcap, "%s", d.msg);
    }
    free(set);
}

static int sel_sts(const char *const *r, const size_t *l, size_t n,
                   void *out, kw_diag *d)
{
    return kw_mtasts_txt_select(r, l, n, out, d);
}

static int sel_rpt(const char *const *r, const size_t *l, size_t n,
                   void *out, kw_diag *d)
{
    return kw_tlsrpt_select(r, l, n, out, d);
}

/* The first address of name (A, else AAAA) through the resolver. */
static int first_addr(const kw_mtasts_opts *o, const char *name, char *out,
                      size_t cap, char *err, size_t errcap)
{
    kw_dns_addr a[KW_DNS_ADDRS_MAX];
    size_t n = 0;
    kw_diag d = {{0}};
    int rc, v6;

    for (v6 = 0; v6 < 2; v6++) {
        rc = kw_dns_resolve(&o->resolver, name, v6, a, KW_DNS_ADDRS_MAX, &n,
                            tmo(o), &d);
        if (rc != 0) {
            snprintf(err, errcap, "%s", d.msg);
            return rc;
        }
        if (n > 0) {
            snprintf(out, cap, "%s", a[0].a);
            return 0;
        }
    }
    snprintf(err, errcap, "%s has no A or AAAA record", name);
    return KW_ENOTFOUND;
}

/* "HOST::ADDR:PORT" for CURLOPT_CONNECT_TO: connect to addr:port
 * whatever the URL's port, keeping HOST for SNI and verification. */
static struct curl_slist *connect_to(const char *host, const char *addr,
                                     int port)
{
    char s[400];

    snprintf(s, sizeof(s), strchr(addr, ':') ? "%s::[%s]:%d" : "%s::%s:%d",
             host, addr, port);
    return curl_slist_append(NULL, s);
}

typedef struct body {
    char *buf;
    size_t len;
    int too_big;
} body;

static size_t on_body(char *p, size_t sz, size_t nm, void *ctx)
{
    body *b = ctx;
    size_t n = sz * nm;

    if (b->len + n > KW_MTASTS_POLICY_MAX) {
        b->too_big = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    return n;
}

static void sha256_hex(const char *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    size_t i;

    out[0] = '\0';
    if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return;
    for (i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The options both transfers share: url and protocol, the time bound,
 * verification of the peer against the system's store or o->cafile, and
 * ct for where to connect.  1 when libcurl took them all. */
static int curl_common(CURL *e, const kw_mtasts_opts *o, const char *url,
                       const char *proto, char *errbuf,
                       struct curl_slist *ct)
{
    int ok = 1;

#define SET(opt, val) ok &= curl_easy_setopt(e, opt, val) == CURLE_OK
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, proto);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)tmo(o));
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)tmo(o));
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_CONNECT_TO, ct);
    if (o->cafile != NULL)
        SET(CURLOPT_CAINFO, o->cafile);
#undef SET
    return ok;
}

/* Fetches the policy into f (url, fetched, http_code, location,
 * content_type, policy, policy_sha256). */
static void fetch_policy(const kw_mtasts_opts *o, const char *host,
                         const char *addr, kw_mtasts_facts *f)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *ct = NULL;
    body b = {0};
    CURL *e = NULL;
    CURLcode rc;
    char *s = NULL;
    kw_diag d = {{0}};
    int ok = 1;

    if ((b.buf = malloc(KW_MTASTS_POLICY_MAX)) == NULL ||
        (e = curl_easy_init()) == NULL ||
        (ct = connect_to(host, addr, o->https_port > 0 ? o->https_port
                                                       : 443)) == NULL) {
        snprintf(f->fetch_error, sizeof(f->fetch_error), "out of memory");
        goto out;
    }
    ok = curl_common(e, o, f->url, "https", errbuf, ct);
    /* RFC 8461 section 3.3: senders must not follow redirects, so the
     * check does not either; a 3xx is a finding. */
    ok &= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                           (curl_off_t)KW_MTASTS_POLICY_MAX) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, "keywarden-mta-sts") ==
          CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, &b) == CURLE_OK;
    if (!ok) {
        snprintf(f->fetch_error, sizeof(f->fetch_error),
                 "libcurl refused an option");
        goto out;
    }
    rc = curl_easy_perform(e);
    if (rc != CURLE_OK) {
        snprintf(f->fetch_error, sizeof(f->fetch_error), "%s",
                 b.too_big || rc == CURLE_FILESIZE_EXCEEDED
                     ? "the policy is larger than 64 KiB, senders read no "
                       "more"
                 : errbuf[0] ? errbuf
                             : curl_easy_strerror(rc));
        goto out;
    }
    f->fetched = 1;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &f->http_code);
    if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &s) == CURLE_OK &&
        s != NULL)
        snprintf(f->content_type, sizeof(f->content_type), "%s", s);
    s = NULL;
    if (curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &s) == CURLE_OK &&
        s != NULL)
        snprintf(f->location, sizeof(f->location), "%s", s);
    if (f->http_code == 200) {
        sha256_hex(b.buf, b.len, f->policy_sha256);
        f->policy_status =
            kw_mtasts_policy_parse(b.buf, b.len, &f->policy, &d);
        if (f->policy_status != 0)
            snprintf(f->policy_error, sizeof(f->policy_error), "%s", d.msg);
    } else {
        f->policy_status = KW_ENOENT;
    }
out:
    curl_slist_free_all(ct);
    if (e != NULL)
        curl_easy_cleanup(e);
    free(b.buf);
}

/* Verifies the certificate mx serves after STARTTLS with libcurl (chain
 * to the trust store or o->cafile, and the name), without sending mail:
 * CONNECT_ONLY stops after the SMTP connection phase, which includes
 * EHLO, STARTTLS and the handshake. */
static void verify_mx(const kw_mtasts_opts *o, kw_mtasts_mx *m)
{
    char url[300], errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *ct;
    CURL *e = curl_easy_init();
    CURLcode rc;
    int ok = 1;

    ct = connect_to(m->host, m->addr, o->smtp_port > 0 ? o->smtp_port : 25);
    if (e == NULL || ct == NULL) {
        snprintf(m->verify_error, sizeof(m->verify_error), "out of memory");
        goto out;
    }
    snprintf(url, sizeof(url), "smtp://%s", m->host);
    ok = curl_common(e, o, url, "smtp", errbuf, ct);
    ok &= curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL) ==
          CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L) == CURLE_OK;
    if (!ok) {
        snprintf(m->verify_error, sizeof(m->verify_error),
                 "libcurl refused an option");
        goto out;
    }
    rc = curl_easy_perform(e);
    if (rc == CURLE_OK)
        m->verified = 1;
    else
        snprintf(m->verify_error, sizeof(m->verify_error), "%s",
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
out:
    curl_slist_free_all(ct);
    if (e != NULL)
        curl_easy_cleanup(e);
}

/* ----- the probes, on a private loop ----- */

/* One probe: the policy host's (mx NULL) or an MX's. */
typedef struct probe_slot {
    kw_endpoint_conf ep;
    kw_mtasts_mx *mx;
    int ok, name_matches;
    int64_t not_after;
    char subject[256];
    char error[512];
} probe_slot;

static void on_probe(void *ctx, kw_probe_result *res)
{
    probe_slot *p = ctx;

    p->ok = res->ok;
    if (res->ok && res->nchain > 0) {
        p->name_matches = res->name_matches;
        p->not_after = res->chain[0].not_after;
        snprintf(p->subject, sizeof(p->subject), "%s",
                 res->chain[0].subject ? res->chain[0].subject : "");
    } else {
        p->ok = 0;
        snprintf(p->error, sizeof(p->error), "%s",
                 res->error[0] ? res->error : "no certificate served");
    }
    kw_probe_result_clear(res);
}

static void probe_all(probe_slot *slots, size_t n)
{
    uv_loop_t loop;
    size_t i;

    if (uv_loop_init(&loop) != 0) {
        for (i = 0; i < n; i++)
            snprintf(slots[i].error, sizeof(slots[i].error),
                     "libuv could not make a loop");
        return;
    }
    for (i = 0; i < n; i++)
        if (kw_probe_start(&loop, &slots[i].ep, on_probe, &slots[i], NULL) !=
            0)
            snprintf(slots[i].error, sizeof(slots[i].error),
                     "the probe could not start");
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

int kw_mtasts_gather(const kw_mtasts_opts *o, const char *domain,
                     kw_mtasts_facts *f, kw_diag *d)
{
    kw_dns_lookup_ctx lc;
    kw_dns_rrset *set = NULL;
    probe_slot *slots = NULL;
    char name[300], host[270], addr[64] = "", err[512];
    kw_diag mxd = {{0}};
    size_t i, nslots = 0, dl = strlen(domain);
    int rc;

    memset(f, 0, sizeof(*f));
    if (dl == 0 || dl > 240 || strspn(domain, "abcdefghijklmnopqrstuvwxyz"
                                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789-.") != dl)
        return kw_diag_set(d, KW_EINVAL, "\"%s\" is not a mail domain",
                           domain);
    pthread_once(&curl_once, curl_init_once);
    if (!curl_ok)
        return kw_diag_set(d, KW_EIO, "libcurl failed to initialise");
    snprintf(f->domain, sizeof(f->domain), "%s", domain);
    if (dl > 0 && f->domain[dl - 1] == '.')
        f->domain[dl - 1] = '\0';
    memset(&lc, 0, sizeof(lc));
    lc.server = o->resolver;
    lc.timeout_ms = tmo(o);

    snprintf(name, sizeof(name), "_mta-sts.%s", f->domain);
    txt_at(&lc, name, sel_sts, &f->txt, &f->txt_status, f->txt_error,
           sizeof(f->txt_error));
    snprintf(name, sizeof(name), "_smtp._tls.%s", f->domain);
    txt_at(&lc, name, sel_rpt, &f->rpt, &f->rpt_status, f->rpt_error,
           sizeof(f->rpt_error));

    slots = calloc(KW_MTASTS_MXS_MAX + 1, sizeof(*slots));
    set = malloc(sizeof(*set));
    if (slots == NULL || set == NULL) {
        free(slots);
        free(set);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }

    /* The policy, from the address the resolver gives its host. */
    snprintf(host, sizeof(host), "mta-sts.%s", f->domain);
    snprintf(f->url, sizeof(f->url), "https://%s/.well-known/mta-sts.txt",
             host);
    if (first_addr(o, host, addr, sizeof(addr), err, sizeof(err)) != 0) {
        snprintf(f->fetch_error, sizeof(f->fetch_error), "%s", err);
        snprintf(f->host_probe_error, sizeof(f->host_probe_error), "%s",
                 err);
    } else {
        fetch_policy(o, host, addr, f);
        probe_slot *s = &slots[nslots++];
        s->ep.name = host;
        s->ep.host = strdup(addr);
        s->ep.sni = host;
        s->ep.port = o->https_port > 0 ? o->https_port : 443;
        s->ep.starttls = KW_TLS_IMPLICIT;
        s->ep.timeout = (tmo(o) + 999) / 1000;
    }

    rc = kw_dns_lookup_server(&lc, f->domain, KW_DNS_MX, set, &mxd);
    if (rc != 0) {
        f->mx_status = rc;
        snprintf(f->mx_error, sizeof(f->mx_error), "%s",
                 rc == KW_ENOTFOUND ? "the domain does not exist (NXDOMAIN)"
                                    : mxd.msg);
    }
    for (i = 0; rc == 0 && i < set->n; i++) {
        kw_mtasts_mx *m = &f->mx[f->nmx];
        const char *h = kw_dns_rrset_rec(set, i);

        /* A null MX (RFC 7505: ".") says the domain takes no mail. */
        if (h[0] == '\0' || strcmp(h, ".") == 0)
            continue;
        if (f->nmx == KW_MTASTS_MXS_MAX) {
            f->mx_unchecked++;
            continue;
        }
        f->nmx++;
        snprintf(m->host, sizeof(m->host), "%s", h);
        if (first_addr(o, m->host, m->addr, sizeof(m->addr),
                       m->resolve_error, sizeof(m->resolve_error)) != 0)
            continue;
        m->resolved = 1;
        probe_slot *s = &slots[nslots++];
        s->mx = m;
        s->ep.name = m->host;
        s->ep.host = strdup(m->addr);
        s->ep.sni = m->host;
        s->ep.port = o->smtp_port > 0 ? o->smtp_port : 25;
        s->ep.starttls = KW_TLS_SMTP;
        s->ep.timeout = (tmo(o) + 999) / 1000;
    }
    if (rc == 0 && set->truncated && f->mx_unchecked == 0)
        f->mx_unchecked = 1;
    for (i = 0; i < nslots; i++)
        if (slots[i].ep.host == NULL) {
            for (i = 0; i < nslots; i++)
                free(slots[i].ep.host);
            free(slots);
            free(set);
            return kw_diag_set(d, KW_ENOMEM, "out of memory");
        }
    probe_all(slots, nslots);

    for (i = 0; i < nslots; i++) {
        probe_slot *s = &slots[i];
        kw_mtasts_mx *m = s->mx;

        if (m == NULL) {
            f->host_probed = s->ok;
            f->host_not_after = s->not_after;
            snprintf(f->host_subject, sizeof(f->host_subject), "%s",
                     s->subject);
            snprintf(f->host_probe_error, sizeof(f->host_probe_error), "%s",
                     s->error);
            continue;
        }
        m->probed = s->ok;
        m->name_matches = s->name_matches;
        m->not_after = s->not_after;
        snprintf(m->subject, sizeof(m->subject), "%s", s->subject);
        snprintf(m->probe_error, sizeof(m->probe_error), "%s", s->error);
        if (m->probed)
            verify_mx(o, m);
    }
    for (i = 0; i < nslots; i++)
        free(slots[i].ep.host);
    free(slots);
    free(set);
    return 0;
}

int kw_mtasts_check(ks_store *s, const kw_mtasts_opts *o,
                    const char *domain, int64_t now, kw_mtasts_facts *f,
                    kw_mtasts_findings *out, kw_diag *d)
{
    int rc = kw_mtasts_gather(o, domain, f, d), found = 0;

    if (rc != 0)
        return rc;
    if (s != NULL) {
        rc = ks_mtasts_seen_get(s, f->domain, f->seen_id,
                                sizeof(f->seen_id), f->seen_sha256,
                                sizeof(f->seen_sha256), &found, d);
        if (rc != 0)
            return rc;
        f->seen = found;
    }
    kw_mtasts_judge(f, now, out);
    /* The hash kept is the body first seen under the id, so the warning
     * stays until the id changes, as senders' caches do. */
    if (s != NULL && f->txt_status == 0 && f->policy_sha256[0] &&
        (!found || strcmp(f->seen_id, f->txt.id) != 0))
        rc = ks_mtasts_seen_put(s, f->domain, f->txt.id, f->policy_sha256,
                                now, d);
    return rc;
}
