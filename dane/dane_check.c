/*
 * dane_check.c: a host's TLSA RRset gathered and judged (dane_check.h).
 */
#include "dane_check.h"
#include "dane_match.h"

#include "../common/kw_str.h"
#include "../dns/dns_raw.h"
#include "../probe/probe.h"

#include <ldns/ldns.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* A certificate file larger than this is not a certificate chain. */
#define CERT_FILE_MAX (1024 * 1024)

int kw_dane_default_starttls(int port)
{
    switch (port) {
    case 25:
    case 587:
        return KW_TLS_SMTP;
    case 110:
        return KW_TLS_POP3;
    case 143:
        return KW_TLS_IMAP;
    default:
        return KW_TLS_IMPLICIT;
    }
}

void kw_dane_chain_free(kw_dane_chain *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        OPENSSL_free(c->der[i]);
    memset(c, 0, sizeof(*c));
}

/* Appends x's DER to c; 0, or -1 when c is full or out of memory. */
static int chain_add(kw_dane_chain *c, X509 *x)
{
    unsigned char *der = NULL;
    int len;

    if (c->n >= KW_DANE_CHAIN_MAX || (len = i2d_X509(x, &der)) <= 0)
        return -1;
    c->der[c->n] = der;
    c->len[c->n++] = (size_t)len;
    return 0;
}

int kw_dane_read_chain(const char *path, kw_dane_chain *c, kw_diag *d)
{
    BIO *b = NULL;
    X509 *x = NULL;
    struct stat st;
    int rc = 0;

    memset(c, 0, sizeof(*c));
    if (stat(path, &st) != 0)
        return kw_diag_set(d, kw_errno(), "%s: cannot read it: %s", path,
                           strerror(errno));
    if (st.st_size > CERT_FILE_MAX)
        return kw_diag_set(d, KW_ETOOBIG, "%s: %lld octets, more than a "
                           "certificate chain (%d)", path,
                           (long long)st.st_size, CERT_FILE_MAX);
    if ((b = BIO_new_file(path, "rb")) == NULL)
        return kw_diag_set(d, KW_EIO, "%s: cannot open it", path);
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (chain_add(c, x) != 0) {
            X509_free(x);
            rc = kw_diag_set(d, KW_ETOOBIG, "%s: more than %d "
                             "certificates", path, KW_DANE_CHAIN_MAX);
            goto out;
        }
        X509_free(x);
    }
    if (c->n == 0) {
        /* No PEM certificate: a single DER one? */
        (void)BIO_reset(b);
        x = d2i_X509_bio(b, NULL);
        if (x == NULL || chain_add(c, x) != 0)
            rc = kw_diag_set(d, KW_EPARSE, "%s: no certificate in it "
                             "(neither PEM nor DER)", path);
        X509_free(x);
    }
out:
    ERR_clear_error();
    BIO_free(b);
    if (rc != 0)
        kw_dane_chain_free(c);
    return rc;
}

void kw_dane_obs_free(kw_dane_obs *obs)
{
    size_t i;

    for (i = 0; i < obs->nservers; i++) {
        free(obs->srv[i].ans.wire);
        obs->srv[i].ans.wire = NULL;
    }
    free(obs->res.wire);
    obs->res.wire = NULL;
    for (i = 0; i < 2; i++) {
        free(obs->addr[i].wire);
        obs->addr[i].wire = NULL;
    }
    for (i = 0; i < obs->npeers; i++)
        kw_dane_chain_free(&obs->peer[i].chain);
    kw_dane_chain_free(&obs->disk);
}

static void ask(const kw_dns_server *s, const char *name, int type,
                int flags, int timeout_ms, kw_dnssec_ans *a)
{
    kw_diag d = {{0}};

    a->rc = kw_dns_ask_wire(s, name, type, flags, timeout_ms, &a->wire,
                            &a->len, &d);
    if (a->rc != 0)
        snprintf(a->err, sizeof(a->err), "%.290s", d.msg);
}

/* The zone holding name, found through the resolver with CD set (so a
 * bogus zone is still found): the longest suffix answering its own SOA. */
static int find_zone(const kw_dns_server *r, const char *name,
                     int timeout_ms, char *zone, size_t cap, char *err,
                     size_t errcap)
{
    const char *cand;

    for (cand = name; cand != NULL && *cand != '\0';) {
        kw_dnssec_ans a = { 0 };
        ldns_pkt *p = NULL;
        ldns_rdf *want = ldns_dname_new_frm_str(cand);
        int found = 0;
        size_t i;

        ask(r, cand, LDNS_RR_TYPE_SOA, KW_DNS_Q_RD | KW_DNS_Q_CD,
            timeout_ms, &a);
        if (a.rc != 0) {
            snprintf(err, errcap, "finding the zone of %.120s: %.150s", name,
                     a.err);
            ldns_rdf_deep_free(want);
            return -1;
        }
        if (want != NULL && ldns_wire2pkt(&p, a.wire, a.len) ==
                                LDNS_STATUS_OK)
            for (i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++) {
                ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);

                if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA &&
                    ldns_dname_compare(ldns_rr_owner(rr), want) == 0)
                    found = 1;
            }
        ldns_pkt_free(p);
        ldns_rdf_deep_free(want);
        free(a.wire);
        if (found) {
            snprintf(zone, cap, "%.250s", cand);
            return 0;
        }
        cand = strchr(cand, '.');
        if (cand != NULL)
            cand++;
    }
    snprintf(err, errcap, "finding the zone of %.250s: no SOA on the way up",
             name);
    return -1;
}

typedef struct probe_wait {
    kw_probe_result res;
    int done;
} probe_wait;

static void on_probe(void *ctx, kw_probe_result *res)
{
    probe_wait *pw = ctx;

    pw->res = *res; /* the chain moves with it */
    pw->done = 1;
}

/* Probes addr:port on a loop of our own; the served chain into pe. */
static void probe_chain(const char *addr, const char *host, int port,
                        int starttls, int timeout_ms, kw_dane_peer *pe)
{
    kw_endpoint_conf ep = { 0 };
    probe_wait pw;
    uv_loop_t loop;
    size_t i;

    memset(&pw, 0, sizeof(pw));
    snprintf(pe->address, sizeof(pe->address), "%s", addr);
    if (uv_loop_init(&loop) != 0) {
        snprintf(pe->err, sizeof(pe->err),
                 "cannot start an event loop for the probe");
        return;
    }
    ep.name = (char *)host;
    ep.host = (char *)addr;
    ep.port = port;
    ep.sni = (char *)host;
    ep.starttls = (enum kw_starttls)starttls;
    ep.timeout = (timeout_ms + 999) / 1000;
    if (kw_probe_start(&loop, &ep, on_probe, &pw, NULL) != 0)
        snprintf(pe->err, sizeof(pe->err),
                 "cannot start a probe of %s port %d", addr, port);
    else
        uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
    if (!pw.done)
        return;
    if (!pw.res.ok)
        snprintf(pe->err, sizeof(pe->err), "port %d: %.400s", port,
                 pw.res.error);
    pe->name_matches = pw.res.ok && pw.res.name_matches;
    snprintf(pe->tls_version, sizeof(pe->tls_version), "%s",
             pw.res.ok ? pw.res.tls_version : "");
    /* The DER moves from the probe's result into the peer. */
    for (i = 0; i < pw.res.nchain && i < KW_DANE_CHAIN_MAX; i++) {
        pe->chain.der[i] = pw.res.der[i];
        pe->chain.len[i] = pw.res.der_len[i];
        pw.res.der[i] = NULL;
        pe->chain.n++;
    }
    kw_probe_result_clear(&pw.res);
}

/* The A or AAAA addresses in an answer appended to list (text, at most
 * max in all, *n so far); returns how many the answer held. */
static size_t addresses(const kw_dnssec_ans *a, char (*list)[64],
                        size_t max, size_t *n)
{
    ldns_pkt *p = NULL;
    ldns_rr_list *an;
    size_t i, found = 0;

    if (a->rc != 0 || a->wire == NULL ||
        ldns_wire2pkt(&p, a->wire, a->len) != LDNS_STATUS_OK)
        return 0;
    an = ldns_pkt_answer(p);
    for (i = 0; i < ldns_rr_list_rr_count(an); i++) {
        ldns_rr *rr = ldns_rr_list_rr(an, i);
        ldns_rdf *rd = ldns_rr_rdf(rr, 0);
        int af = ldns_rr_get_type(rr) == LDNS_RR_TYPE_A ? AF_INET
                 : ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA ? AF_INET6 : 0;

        if (af == 0 || rd == NULL ||
            ldns_rdf_size(rd) != (af == AF_INET ? 4u : 16u))
            continue;
        found++;
        if (*n < max && inet_ntop(af, ldns_rdf_data(rd), list[*n], 64))
            (*n)++;
    }
    ldns_pkt_free(p);
    return found;
}

int kw_dane_gather(const char *host, int port, const kw_dane_where *w,
                   kw_dane_obs *obs, kw_diag *d)
{
    kw_dns_server found[KW_DNSSEC_SERVERS_MAX];
    const kw_dns_server *srv = NULL;
    size_t n = 0, i;
    int tmo, rc;
    kw_diag sub = {{0}};

    memset(obs, 0, sizeof(*obs));
    if (host == NULL || w == NULL || w->resolver == NULL)
        return kw_diag_set(d, KW_EINVAL, "dane check: missing argument");
    if (port < 1 || port > 65535)
        return kw_diag_set(d, KW_EINVAL, "dane check: port %d: not a port "
                           "number", port);
    if ((rc = kw_dns_name_check(host, &sub)) != 0)
        return kw_diag_set(d, rc, "dane check: %s", sub.msg);
    tmo = w->timeout_ms > 0 ? w->timeout_ms : 5000;
    snprintf(obs->host, sizeof(obs->host), "%s", host);
    for (i = 0; obs->host[i] != '\0'; i++)
        if (obs->host[i] >= 'A' && obs->host[i] <= 'Z')
            obs->host[i] = (char)(obs->host[i] - 'A' + 'a');
    n = strlen(obs->host);
    if (n > 0 && obs->host[n - 1] == '.')
        obs->host[n - 1] = '\0';
    obs->port = port;
    snprintf(obs->qname, sizeof(obs->qname), "_%d._tcp.%s", port,
             obs->host);
    kw_dns_server_str(w->resolver, obs->resolver, sizeof(obs->resolver));
    ask(w->resolver, obs->qname, LDNS_RR_TYPE_TLSA,
        KW_DNS_Q_RD | KW_DNS_Q_DO, tmo, &obs->res);

    /* The addresses as a DANE sender finds them, through the resolver,
     * and before the zone's NS set: a resolver that has just fetched that
     * set follows the delegation from then on, so the sender's view is
     * taken first.  The answers are kept for the judge (a SERVFAIL there
     * defers the mail too). */
    ask(w->resolver, obs->host, LDNS_RR_TYPE_A, KW_DNS_Q_RD | KW_DNS_Q_DO,
        tmo, &obs->addr[0]);
    ask(w->resolver, obs->host, LDNS_RR_TYPE_AAAA, KW_DNS_Q_RD | KW_DNS_Q_DO,
        tmo, &obs->addr[1]);
    if (!w->no_probe) {
        char list[KW_DANE_PEERS_MAX][64];
        size_t na = 0, total, skipped = 0;
        int pport = port;

        obs->probed = 1;
        if (w->probe_port > 0 && w->probe_port <= 65535)
            pport = w->probe_port;
        if (w->connect != NULL) {
            snprintf(list[0], sizeof(list[0]), "%s", w->connect);
            na = total = 1;
        } else {
            total = addresses(&obs->addr[0], list, KW_DANE_PEERS_MAX, &na);
            total += addresses(&obs->addr[1], list, KW_DANE_PEERS_MAX, &na);
        }
        for (i = 0; i < na; i++) {
            kw_dns_server s = { "", 0 };

            /* An address family this host has no route for (IPv6 on an
             * IPv4-only host) is not the server's fault: skipped. */
            snprintf(s.addr, sizeof(s.addr), "%s", list[i]);
            s.port = pport;
            if (w->connect == NULL && kw_dns_reachable(&s, NULL) != 0) {
                skipped++;
                continue;
            }
            probe_chain(list[i], obs->host, pport, w->starttls, tmo,
                        &obs->peer[obs->npeers++]);
        }
        if (obs->npeers == 0)
            snprintf(obs->probe_err, sizeof(obs->probe_err),
                     "no address for %.200s through the resolver%s",
                     obs->host, skipped > 0 ? " that this host can reach"
                     : "");
        else if (total > na)
            snprintf(obs->probe_err, sizeof(obs->probe_err),
                     "%zu of %zu addresses probed", na, total);
    }
    if (find_zone(w->resolver, obs->qname, tmo, obs->zone,
                  sizeof(obs->zone), obs->servers_err,
                  sizeof(obs->servers_err)) != 0)
        obs->zone[0] = '\0';
    if (w->servers != NULL && w->nservers > 0) {
        srv = w->servers;
        n = w->nservers;
    } else if (obs->zone[0] != '\0') {
        n = 0;
        if (kw_dns_zone_servers(w->resolver, obs->zone, w->ns_port, found,
                                KW_DNSSEC_SERVERS_MAX, &n, tmo, &sub) != 0)
            snprintf(obs->servers_err, sizeof(obs->servers_err),
                     "the servers of %.100s: %.170s", obs->zone,
                     sub.msg);
        srv = found;
    } else
        n = 0;
    for (i = 0; i < n && obs->nservers < KW_DNSSEC_SERVERS_MAX; i++) {
        kw_dnssec_ans *a = &obs->srv[obs->nservers].ans;

        if (kw_dns_reachable(&srv[i], NULL) != 0)
            continue;
        kw_dns_server_str(&srv[i], obs->srv[obs->nservers].name,
                          sizeof(obs->srv[0].name));
        ask(&srv[i], obs->qname, LDNS_RR_TYPE_TLSA, KW_DNS_Q_DO, tmo, a);
        obs->nservers++;
    }

    if (w->cert_path != NULL) {
        snprintf(obs->disk_path, sizeof(obs->disk_path), "%s",
                 w->cert_path);
        if (kw_dane_read_chain(w->cert_path, &obs->disk, &sub) != 0)
            snprintf(obs->disk_err, sizeof(obs->disk_err), "%.290s",
                     sub.msg);
    }
    return 0;
}

/* ----- the judge ----- */

/* One answer's TLSA RRset: the RDATA of each record (malloc'd). */
typedef struct rrset {
    int ok;             /* a DNS message */
    int rcode, ad, aa;
    size_t n;
    uint8_t *rd[KW_DANE_TLSA_MAX];
    size_t len[KW_DANE_TLSA_MAX];
    size_t extra;       /* records past KW_DANE_TLSA_MAX */
} rrset;

static void rrset_free(rrset *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->rd[i]);
    memset(s, 0, sizeof(*s));
}

static int cmp_rd(const void *a, const void *b, size_t la, size_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);

    return c != 0 ? c : la < lb ? -1 : la > lb;
}

/* Reads the TLSA records of an answer's answer section (any owner: a
 * resolver follows a CNAME), sorted so two sets compare in one pass. */
static void rrset_of(const kw_dnssec_ans *a, rrset *s)
{
    ldns_pkt *p = NULL;
    ldns_rr_list *an;
    size_t i, j;

    memset(s, 0, sizeof(*s));
    if (a->rc != 0 || a->wire == NULL ||
        ldns_wire2pkt(&p, a->wire, a->len) != LDNS_STATUS_OK)
        return;
    s->ok = 1;
    s->rcode = ldns_pkt_get_rcode(p);
    s->ad = ldns_pkt_ad(p);
    s->aa = ldns_pkt_aa(p);
    an = ldns_pkt_answer(p);
    for (i = 0; i < ldns_rr_list_rr_count(an); i++) {
        ldns_rr *rr = ldns_rr_list_rr(an, i);
        ldns_buffer *b;

        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TLSA)
            continue;
        if (s->n >= KW_DANE_TLSA_MAX) {
            s->extra++;
            continue;
        }
        b = ldns_buffer_new(512);
        if (b != NULL && ldns_rr_rdata2buffer_wire(b, rr) ==
                             LDNS_STATUS_OK &&
            (s->rd[s->n] = malloc(ldns_buffer_position(b) + 1)) != NULL) {
            s->len[s->n] = ldns_buffer_position(b);
            memcpy(s->rd[s->n], ldns_buffer_begin(b), s->len[s->n]);
            s->n++;
        }
        ldns_buffer_free(b);
    }
    ldns_pkt_free(p);
    /* Insertion sort: at most KW_DANE_TLSA_MAX records. */
    for (i = 1; i < s->n; i++)
        for (j = i; j > 0 && cmp_rd(s->rd[j - 1], s->rd[j], s->len[j - 1],
                                    s->len[j]) > 0; j--) {
            uint8_t *t = s->rd[j];
            size_t tl = s->len[j];

            s->rd[j] = s->rd[j - 1];
            s->len[j] = s->len[j - 1];
            s->rd[j - 1] = t;
            s->len[j - 1] = tl;
        }
}

static int rrset_equal(const rrset *a, const rrset *b)
{
    size_t i;

    if (a->n != b->n || a->extra != b->extra)
        return 0;
    for (i = 0; i < a->n; i++)
        if (cmp_rd(a->rd[i], b->rd[i], a->len[i], b->len[i]) != 0)
            return 0;
    return 1;
}

static void add(kw_dane_result *o, ks_health sev, const char *code,
                const char *server, const char *record, const char *fix,
                const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void add(kw_dane_result *o, ks_health sev, const char *code,
                const char *server, const char *record, const char *fix,
                const char *fmt, ...)
{
    kw_dnssec_live_find *f;
    va_list ap;

    if (o->nfind >= KW_DANE_FINDINGS_MAX) {
        o->dropped++;
        return;
    }
    f = &o->find[o->nfind++];
    va_start(ap, fmt);
    kw_dnssec_find_vset(f, sev, code, server, record, fix, fmt, ap);
    va_end(ap);
}

/* The chain's certificates decoded; n of them (a certificate that does
 * not decode ends the chain there: a sender could not use it either). */
static size_t decode(const kw_dane_chain *c, X509 **out)
{
    size_t i;

    for (i = 0; i < c->n; i++) {
        const unsigned char *p = c->der[i];

        out[i] = d2i_X509(NULL, &p, (long)c->len[i]);
        if (out[i] == NULL)
            break;
    }
    ERR_clear_error();
    return i;
}

static void free_x509s(X509 **x, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        X509_free(x[i]);
}

const char *kw_dane_dnssec_word(int s)
{
    return s == KW_DANE_SECURE ? "secure" : s == KW_DANE_INSECURE
           ? "insecure" : s == KW_DANE_BOGUS ? "bogus" : "unknown";
}

/* The resolver's verdict into out; its RRset in res. */
static void judge_resolver(const kw_dane_obs *obs, const rrset *res,
                           kw_dane_result *o)
{
    if (obs->res.rc != 0) {
        add(o, KS_HEALTH_UNKNOWN, "dane.resolver", obs->resolver,
            obs->qname, "check that the resolver answers and validates",
            "the validating resolver did not answer: %s", obs->res.err);
        return;
    }
    if (!res->ok) {
        add(o, KS_HEALTH_UNKNOWN, "dane.resolver", obs->resolver,
            obs->qname, NULL, "the resolver's answer is not a DNS message");
        return;
    }
    if (res->rcode == LDNS_RCODE_SERVFAIL) {
        o->dnssec = KW_DANE_BOGUS;
        add(o, KS_HEALTH_CRITICAL, "dane.bogus", obs->resolver,
            obs->qname, "repair the chain of trust: keywarden dnssec check "
            "ZONE names the broken link",
            "the validating resolver answers SERVFAIL for %s TLSA: "
            "DNSSEC validation fails (bogus), so DANE senders defer all "
            "mail to this host (RFC 7672 section 2.1.1)", obs->qname);
        return;
    }
    if (res->rcode != LDNS_RCODE_NOERROR &&
        res->rcode != LDNS_RCODE_NXDOMAIN) {
        add(o, KS_HEALTH_UNKNOWN, "dane.resolver", obs->resolver,
            obs->qname, NULL, "the resolver answers rcode %d for %s TLSA",
            res->rcode, obs->qname);
        return;
    }
    o->dnssec = res->ad ? KW_DANE_SECURE : KW_DANE_INSECURE;
}

/* Each authoritative server against the reference RRset. */
static void judge_servers(const kw_dane_obs *obs, const rrset *ref,
                          const char *ref_name, kw_dane_result *o)
{
    size_t i;

    if (obs->servers_err[0] != '\0')
        add(o, KS_HEALTH_WARNING, "dane.servers", "", obs->qname,
            "pass the servers with --server", "%s", obs->servers_err);
    for (i = 0; i < obs->nservers; i++) {
        const char *name = obs->srv[i].name;
        rrset s;

        if (obs->srv[i].ans.rc != 0) {
            add(o, KS_HEALTH_WARNING, "dane.server", name, obs->qname,
                NULL, "no answer: %s", obs->srv[i].ans.err);
            continue;
        }
        rrset_of(&obs->srv[i].ans, &s);
        if (!s.ok)
            add(o, KS_HEALTH_WARNING, "dane.server", name, obs->qname,
                NULL, "the answer is not a DNS message");
        else if (!s.aa)
            add(o, KS_HEALTH_WARNING, "dane.server", name, obs->qname,
                "fix the delegation or the server's zones",
                "not authoritative for %s (rcode %d)", obs->qname,
                s.rcode);
        else if (ref != NULL && !rrset_equal(&s, ref))
            add(o, KS_HEALTH_WARNING, "dane.disagree", name, obs->qname,
                "let the server catch up (zone transfer, NOTIFY), or "
                "remove it from the NS set",
                "serves %zu TLSA record%s, not the %zu %s serves: senders "
                "asking it see another set", s.n + s.extra,
                s.n + s.extra == 1 ? "" : "s", ref->n + ref->extra,
                ref_name);
        rrset_free(&s);
    }
}

/* The 3 1 1 record of x into buf ("" when it cannot be made). */
static void rec311(X509 *x, char *buf, size_t cap)
{
    if (x == NULL || kw_dane_tlsa_text_for(x, 3, 1, 1, buf, cap, NULL) != 0)
        buf[0] = '\0';
}

/* The host's address as the sender finds it: a SERVFAIL there defers the
 * mail as surely as one for the TLSA records.  An address that is merely
 * insecure (a CNAME into an unsigned zone) changes nothing: Postfix still
 * enforces a secure TLSA RRset at the name it was given (the integration
 * test holds this against posttls-finger). */
static void judge_address(const kw_dane_obs *obs, kw_dane_result *o)
{
    size_t i;

    for (i = 0; i < 2; i++) {
        rrset a;

        if (obs->addr[i].rc != 0 || obs->addr[i].wire == NULL)
            continue;
        rrset_of(&obs->addr[i], &a);
        if (a.ok && a.rcode == LDNS_RCODE_SERVFAIL) {
            add(o, KS_HEALTH_CRITICAL, "dane.addr.bogus", obs->resolver,
                obs->host, "repair the chain of trust of the zone holding "
                "the address (keywarden dnssec check ZONE)",
                "the validating resolver answers SERVFAIL for the %s "
                "records of %s: DANE senders cannot find the host and "
                "defer its mail", i == 0 ? "A" : "AAAA", obs->host);
            i = 2;
        }
        rrset_free(&a);
    }
}

/* A peer's findings: no chain (unknown), or no usable record matching
 * the chain it serves (sev), the fix its own key's record. */
static void judge_peer(const kw_dane_obs *obs, const kw_dane_peer *pe,
                       X509 *leaf, int ok, size_t usable, ks_health sev,
                       kw_dane_result *o)
{
    char fix[600], rec[80];

    if (leaf == NULL) {
        add(o, KS_HEALTH_UNKNOWN, "dane.probe", pe->address, obs->host,
            "check that the server answers TLS on this port",
            "no chain to match: %s", pe->err[0] ? pe->err
            : "the served certificate does not decode");
        return;
    }
    if (usable == 0 || ok)
        return;
    rec311(leaf, rec, sizeof(rec));
    snprintf(fix, sizeof(fix), "publish TLSA %s (the served key)%s%.300s%s",
             rec, o->disk_ok ? ", or reload the server: " : "",
             o->disk_ok ? obs->disk_path : "", o->disk_ok ? " matches" : "");
    add(o, sev, "dane.nomatch", pe->address, obs->qname, fix,
        "no DANE-EE or DANE-TA record matches the chain %s serves at %s: "
        "DANE senders defer all mail to it%s", obs->host, pe->address,
        sev == KS_HEALTH_CRITICAL ? "" : " (once the zone validates)");
}

static void judge_records(const kw_dane_obs *obs, const rrset *set,
                          int64_t now, kw_dane_result *o)
{
    X509 *served[KW_DANE_PEERS_MAX][KW_DANE_CHAIN_MAX];
    X509 *disk[KW_DANE_CHAIN_MAX] = { 0 };
    size_t ns[KW_DANE_PEERS_MAX] = { 0 }, nd = decode(&obs->disk, disk);
    int peer_ok[KW_DANE_PEERS_MAX] = { 0 }, first = -1;
    size_t i, p, usable = 0, answered = 0;
    int ta_warned = 0, pkix_warned = 0;
    ks_health sev = o->dnssec == KW_DANE_SECURE ? KS_HEALTH_CRITICAL
                                                : KS_HEALTH_WARNING;
    char fix[600], who[16];

    for (p = 0; p < obs->npeers; p++) {
        ns[p] = decode(&obs->peer[p].chain, served[p]);
        if (ns[p] > 0 && answered++ == 0)
            first = (int)p;
    }
    rec311(first >= 0 ? served[first][0] : NULL, o->served_311,
           sizeof(o->served_311));
    rec311(nd > 0 ? disk[0] : NULL, o->disk_311, sizeof(o->disk_311));
    if (set->extra > 0)
        add(o, KS_HEALTH_WARNING, "dane.many", "", obs->qname, NULL,
            "%zu TLSA records past the first %d were not checked",
            set->extra, KW_DANE_TLSA_MAX);
    for (i = 0; i < set->n; i++) {
        kw_dane_rec *r = &o->rec[o->nrec++];
        kw_dane_match_res m;
        kw_diag d = {{0}};
        kw_tlsa t;

        if (kw_dane_tlsa_parse(set->rd[i], set->len[i], &t, &d) != 0) {
            char hex[2 * 16 + 1];
            size_t n = set->len[i] > 16 ? 16 : set->len[i];

            kw_hex(set->rd[i], n, 0, hex);
            hex[2 * n] = '\0';
            snprintf(r->text, sizeof(r->text), "(unusable) %s%s", hex,
                     set->len[i] > 16 ? "..." : "");
            add(o, KS_HEALTH_WARNING, "tlsa.unusable", "", r->text,
                "remove the record or correct it", "%s", d.msg);
            continue;
        }
        kw_dane_tlsa_text(&t, r->text, sizeof(r->text));
        /* Usages 0 and 1 count for no SMTP sender (RFC 7672 3.1.3). */
        r->usable = t.usage == KW_DANE_DANE_TA || t.usage == KW_DANE_DANE_EE;
        usable += (size_t)r->usable;
        if ((t.usage == KW_DANE_PKIX_TA || t.usage == KW_DANE_PKIX_EE) &&
            !pkix_warned++)
            add(o, KS_HEALTH_WARNING, "tlsa.pkix", "", r->text,
                "publish DANE-EE (3 1 1) or DANE-TA (2 1 1) records",
                "%s: not used by SMTP DANE senders, RFC 7672 section "
                "3.1.3 (they treat usages 0 and 1 as unusable)",
                kw_dane_usage_name(t.usage, who));
        if (t.usage == KW_DANE_DANE_TA && !ta_warned++)
            add(o, KS_HEALTH_WARNING, "tlsa.ta", "", r->text,
                o->served_311[0] ? "publish your own key's record beside "
                "it (3 1 1 of the leaf)" : NULL,
                "DANE-TA names the CA's certificate or key: the CA's "
                "intermediates change (Let's Encrypt rotates them), and a "
                "renewal under a new one matches no record");
        /* Matched when every address that answered serves a chain the
         * record names. */
        r->served_match = answered > 0;
        for (p = 0; p < obs->npeers; p++) {
            if (ns[p] == 0)
                continue;
            if (kw_dane_match(&t, served[p], ns[p], now, &m, &d) == 0 &&
                m.matched)
                peer_ok[p] |= r->usable;
            else
                r->served_match = 0;
        }
        if (kw_dane_match(&t, disk, nd, now, &m, &d) == 0 && m.matched)
            r->disk_match = 1;
        if (r->usable)
            o->disk_ok |= r->disk_match;
    }
    o->served_ok = answered > 0;
    for (p = 0; p < obs->npeers; p++)
        if (ns[p] > 0 && !peer_ok[p])
            o->served_ok = 0;
    if (set->n > 0 && usable == 0)
        add(o, KS_HEALTH_WARNING, "dane.unusable", "", obs->qname,
            "publish a DANE-EE record: TLSA 3 1 1 of the served key",
            "no usable DANE-EE or DANE-TA record: DANE senders insist on "
            "TLS but authenticate nothing (RFC 7672 section 2.2)");
    if (obs->probed && obs->npeers == 0)
        add(o, KS_HEALTH_UNKNOWN, "dane.probe", "", obs->host,
            "check the host's address records", "no chain to match: %s",
            obs->probe_err);
    for (p = 0; p < obs->npeers; p++) {
        o->peer[p].ok = peer_ok[p];
        judge_peer(obs, &obs->peer[p], ns[p] > 0 ? served[p][0] : NULL,
                   peer_ok[p], usable, sev, o);
    }
    if (obs->disk_err[0] != '\0')
        add(o, KS_HEALTH_WARNING, "dane.cert", "", obs->disk_path, NULL,
            "%s", obs->disk_err);
    else if (nd > 0 && usable > 0 && !o->disk_ok) {
        snprintf(fix, sizeof(fix), "publish TLSA %s first, wait twice its "
                 "TTL, then reload", o->disk_311);
        if (o->served_ok || answered == 0)
            add(o, sev, "dane.reload", "", obs->disk_path, fix,
                "the certificate in %s matches no TLSA record%s: a reload "
                "will make DANE senders defer mail", obs->disk_path,
                o->served_ok ? " while the served one does" : "");
        else
            add(o, sev, "dane.reload", "", obs->disk_path, fix,
                "the certificate in %s matches no TLSA record either: a "
                "reload will not end the deferrals", obs->disk_path);
    }
    for (p = 0; p < obs->npeers; p++)
        free_x509s(served[p], ns[p]);
    free_x509s(disk, nd);
}

/* o's health: its worst finding's. */
static void set_health(kw_dane_result *o)
{
    size_t i;

    o->health = KS_HEALTH_OK;
    for (i = 0; i < o->nfind; i++) {
        ks_health s = o->find[i].severity;

        if (s == KS_HEALTH_CRITICAL ||
            (s == KS_HEALTH_UNKNOWN && o->health != KS_HEALTH_CRITICAL) ||
            (s == KS_HEALTH_WARNING && o->health == KS_HEALTH_OK))
            o->health = s;
    }
}

void kw_dane_judge(const kw_dane_obs *obs, int64_t now, kw_dane_result *o)
{
    rrset res, first;
    const rrset *ref = NULL;
    const char *ref_name = "the resolver";
    size_t i;

    memset(o, 0, sizeof(*o));
    memset(&first, 0, sizeof(first));
    snprintf(o->host, sizeof(o->host), "%s", obs->host);
    o->port = obs->port;
    snprintf(o->qname, sizeof(o->qname), "%s", obs->qname);
    o->npeers = obs->npeers;
    for (i = 0; i < obs->npeers; i++) {
        X509 *x[KW_DANE_CHAIN_MAX];
        size_t n = decode(&obs->peer[i].chain, x);

        snprintf(o->peer[i].address, sizeof(o->peer[i].address), "%s",
                 obs->peer[i].address);
        rec311(n > 0 ? x[0] : NULL, o->peer[i].served_311,
               sizeof(o->peer[i].served_311));
        free_x509s(x, n);
    }
    rrset_of(&obs->res, &res);
    judge_resolver(obs, &res, o);
    if (o->dnssec == KW_DANE_SECURE || o->dnssec == KW_DANE_INSECURE)
        ref = &res;
    else
        /* No usable answer from the resolver: show what the servers
         * publish, compared with the first that answered. */
        for (i = 0; i < obs->nservers && ref == NULL; i++) {
            rrset_of(&obs->srv[i].ans, &first);
            if (first.ok && first.aa) {
                ref = &first;
                ref_name = obs->srv[i].name;
            } else
                rrset_free(&first);
        }
    judge_servers(obs, ref, ref_name, o);
    if (ref != NULL && ref->n + ref->extra == 0 &&
        o->dnssec != KW_DANE_BOGUS)
        add(o, KS_HEALTH_OK, "dane.none", "", obs->qname, NULL,
            "no TLSA record: DANE is not in use for %s port %d (%s zone)",
            obs->host, obs->port, kw_dane_dnssec_word(o->dnssec));
    else if (ref != NULL) {
        if (o->dnssec == KW_DANE_SECURE)
            judge_address(obs, o);
        if (o->dnssec == KW_DANE_INSECURE)
            add(o, KS_HEALTH_WARNING, "dane.insecure", obs->resolver,
                obs->qname, "sign the zone and publish its DS at the "
                "parent, or remove the TLSA records",
                "TLSA records in a zone that does not validate as secure "
                "(no AD): worthless, senders ignore TLSA without DNSSEC");
        judge_records(obs, ref, now, o);
    }
    rrset_free(&res);
    rrset_free(&first);
    set_health(o);
}

/* The exchanges of an MX answer into out (each once); its rcode and AD
 * bit.  -1 when wire is not a DNS message. */
static int mx_of(const uint8_t *wire, size_t len, kw_dane_mx *out,
                 int *rcode, int *ad)
{
    ldns_pkt *p = NULL;
    ldns_rr_list *an;
    size_t i, k;

    if (wire == NULL || ldns_wire2pkt(&p, wire, len) != LDNS_STATUS_OK)
        return -1;
    *rcode = ldns_pkt_get_rcode(p);
    *ad = ldns_pkt_ad(p);
    an = ldns_pkt_answer(p);
    for (i = 0; i < ldns_rr_list_rr_count(an); i++) {
        ldns_rr *rr = ldns_rr_list_rr(an, i);
        ldns_rdf *x = ldns_rr_rdf(rr, 1);
        char *t, *e;

        /* Every MX of the answer: the resolver followed any CNAME. */
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_MX || x == NULL ||
            (t = ldns_rdf2str(x)) == NULL)
            continue;
        e = t + strlen(t);
        if (e > t && e[-1] == '.')
            *--e = '\0';
        for (e = t; *e != '\0'; e++)
            if (*e >= 'A' && *e <= 'Z')
                *e = (char)(*e - 'A' + 'a');
        for (k = 0; k < out->n && strcmp(out->host[k], t) != 0; k++)
            ;
        /* A null MX (RFC 7505: ".") says the domain takes no mail. */
        if (t[0] != '\0' && strlen(t) < sizeof(out->host[0]) &&
            k == out->n) {
            if (out->n < KW_DANE_MX_MAX)
                snprintf(out->host[out->n++], sizeof(out->host[0]), "%s",
                         t);
            else
                out->truncated++;
        }
        free(t);
    }
    ldns_pkt_free(p);
    return 0;
}

int kw_dane_mx_lookup(const kw_dns_server *resolver, const char *domain,
                      int timeout_ms, kw_dane_mx *out, kw_diag *d)
{
    int tmo = timeout_ms > 0 ? timeout_ms : 5000, rcode = 0, ad = 0;
    kw_dnssec_ans a = { 0 };
    char who[80];
    int r;

    memset(out, 0, sizeof(*out));
    if (resolver == NULL || domain == NULL || domain[0] == '\0')
        return kw_diag_set(d, KW_EINVAL, "an MX lookup needs a resolver "
                           "and a domain");
    kw_dns_server_str(resolver, who, sizeof(who));
    ask(resolver, domain, LDNS_RR_TYPE_MX, KW_DNS_Q_RD | KW_DNS_Q_DO, tmo,
        &a);
    if (a.rc != 0)
        return kw_diag_set(d, a.rc, "%s MX through the resolver %s: %s",
                           domain, who, a.err);
    r = mx_of(a.wire, a.len, out, &rcode, &ad);
    free(a.wire);
    if (r != 0)
        return kw_diag_set(d, KW_EPARSE, "%s MX: the resolver %s's answer "
                           "is not a DNS message", domain, who);
    if (rcode == LDNS_RCODE_NXDOMAIN)
        return kw_diag_set(d, KW_ENOTFOUND, "%s MX: no such domain (the "
                           "resolver %s)", domain, who);
    if (rcode == LDNS_RCODE_SERVFAIL) {
        /* Bogus when the resolver hands the set over once checking is
         * disabled: a server that does not answer fails that way too. */
        memset(&a, 0, sizeof(a));
        ask(resolver, domain, LDNS_RR_TYPE_MX,
            KW_DNS_Q_RD | KW_DNS_Q_DO | KW_DNS_Q_CD, tmo, &a);
        r = a.rc != 0 ? -1 : mx_of(a.wire, a.len, out, &rcode, &ad);
        free(a.wire);
        if (r != 0 || rcode != LDNS_RCODE_NOERROR) {
            memset(out, 0, sizeof(*out));
            return kw_diag_set(d, KW_EIO, "%s MX: the resolver %s answers "
                               "SERVFAIL, with checking disabled too",
                               domain, who);
        }
        out->dnssec = KW_DANE_BOGUS;
        return 0;
    }
    if (rcode != LDNS_RCODE_NOERROR)
        return kw_diag_set(d, KW_EIO, "%s MX: the resolver %s answers rcode "
                           "%d", domain, who, rcode);
    out->dnssec = ad ? KW_DANE_SECURE : KW_DANE_INSECURE;
    return 0;
}

void kw_dane_mx_apply(kw_dane_result *o, const char *secure_dom,
                      const char *insecure_dom, const char *bogus_dom)
{
    int sec = secure_dom != NULL && secure_dom[0] != '\0';
    int insec = insecure_dom != NULL && insecure_dom[0] != '\0';
    size_t i, n = o->nfind;

    if (sec && insec && o->nrec > 0)
        add(o, KS_HEALTH_OK, "dane.mx.secure", "", o->qname, NULL,
            "the MX lookup for %s is secure: DANE senders for %s use these "
            "TLSA records (those for %s, whose MX lookup is insecure, "
            "ignore them)", secure_dom, secure_dom, insecure_dom);
    else if (insec && !sec && (o->nrec > 0 || o->dnssec == KW_DANE_BOGUS)) {
        /* No sender applies DANE to this host: what its TLSA records
         * would do to mail is no emergency.  An address that does not
         * validate still stops every validating sender. */
        for (i = 0; i < n; i++) {
            kw_dnssec_live_find *f = &o->find[i];
            size_t len = strlen(f->text);

            if (f->severity != KS_HEALTH_CRITICAL ||
                strcmp(f->code, "dane.addr.bogus") == 0)
                continue;
            f->severity = KS_HEALTH_WARNING;
            snprintf(f->text + len, sizeof(f->text) - len,
                     " (not while the MX lookup for %s is insecure)",
                     insecure_dom);
        }
        add(o, KS_HEALTH_WARNING, "dane.mx.insecure", "", o->qname,
            "sign the domain and publish its DS at the parent, or remove "
            "the TLSA records",
            "the MX lookup for %s is insecure: DANE senders ignore these "
            "TLSA records (sign %s or remove them; RFC 7672 section "
            "2.2.1)", insecure_dom, insecure_dom);
        /* First: the finding a one-line summary shows explains the
         * others. */
        if (o->nfind > n) {
            kw_dnssec_live_find f = o->find[n];

            memmove(&o->find[1], &o->find[0], n * sizeof(o->find[0]));
            o->find[0] = f;
        }
    }
    if (bogus_dom != NULL && bogus_dom[0] != '\0') {
        char rec[300];

        snprintf(rec, sizeof(rec), "%.250s MX", bogus_dom);
        add(o, KS_HEALTH_CRITICAL, "dane.mx.bogus", "", rec,
            "repair the domain's chain of trust: keywarden dnssec check "
            "ZONE names the broken link",
            "DANE senders defer all mail for %s: its MX RRset does not "
            "validate (bogus, RFC 7672 section 2.2.1)", bogus_dom);
    }
    set_health(o);
}

int kw_dane_served(const char *host, int port, int starttls,
                   const char *connect, const char *rdata, int timeout_ms,
                   char *served, size_t cap, kw_diag *d)
{
    char list[KW_DANE_SERVED_ADDRS_MAX][64], rec[200];
    int usage, selector, mtype, rc = 0;
    size_t na = 0, total = 0, i;

    if (served != NULL && cap > 0)
        served[0] = '\0';
    if (sscanf(rdata, "%d %d %d", &usage, &selector, &mtype) != 3)
        return kw_diag_set(d, KW_EINVAL, "probe of %s: \"%.100s\" is no "
                           "TLSA record", host, rdata);
    if (connect != NULL) {
        snprintf(list[0], sizeof(list[0]), "%s", connect);
        na = 1;
    } else {
        struct addrinfo hints, *res = NULL, *ai;
        int g;

        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        if ((g = getaddrinfo(host, NULL, &hints, &res)) != 0)
            return kw_diag_set(d, KW_ENOTFOUND, "probe of %s: no address: "
                               "%s", host, gai_strerror(g));
        for (ai = res; ai != NULL; ai = ai->ai_next) {
            const void *a = ai->ai_family == AF_INET
                ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)
                      ->sin6_addr;

            if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
                continue;
            total++;
            if (na < KW_DANE_SERVED_ADDRS_MAX &&
                inet_ntop(ai->ai_family, a, list[na], sizeof(list[0])))
                na++;
        }
        freeaddrinfo(res);
        if (na == 0)
            return kw_diag_set(d, KW_ENOTFOUND, "probe of %s: no address",
                               host);
        /* An address left unprobed may serve the old key when its record
         * is removed: refused, never a partial proof. */
        if (total > na)
            return kw_diag_set(d, KW_ETOOBIG, "probe of %s: it has %zu "
                               "addresses; the probe proves at most %d",
                               host, total, KW_DANE_SERVED_ADDRS_MAX);
    }
    /* Every address: a DANE sender may reach any of them, and one that
     * still serves the old key defers its mail once the old record is
     * gone. */
    for (i = 0; rc == 0 && i < na; i++) {
        kw_dane_peer pe;
        X509 *x[KW_DANE_CHAIN_MAX];
        size_t n;

        memset(&pe, 0, sizeof(pe));
        probe_chain(list[i], host, port, starttls,
                    timeout_ms > 0 ? timeout_ms : 5000, &pe);
        n = decode(&pe.chain, x);
        rec[0] = '\0';
        if (n > 0 && kw_dane_tlsa_text_for(x[0], usage, selector, mtype, rec,
                                           sizeof(rec), NULL) != 0)
            rec[0] = '\0';
        free_x509s(x, n);
        kw_dane_chain_free(&pe.chain);
        if (served != NULL && cap > 0)
            snprintf(served, cap, "%s", rec);
        if (rec[0] == '\0')
            rc = kw_diag_set(d, KW_ENOTFOUND, "%s port %d (%s) serves no "
                             "certificate: %.300s", list[i], port, host,
                             pe.err[0] ? pe.err : "no chain");
        else if (strcasecmp(rec, rdata) != 0)
            rc = kw_diag_set(d, KW_ENOTFOUND, "%s port %d (%s) serves the "
                             "key of %.100s, not %.100s", list[i], port,
                             host, rec, rdata);
    }
    return rc;
}
