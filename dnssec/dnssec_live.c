/*
 * dnssec_live.c: a zone's live health (see dnssec_live.h).
 *
 * The judge works in two passes over the servers: the first parses every
 * answer and learns whether the zone is signed at all (some server
 * publishes a DNSKEY set), the second judges each server's RRsets against
 * that server's own DNSKEY set, since that pair is what a resolver asking
 * that server gets.  The DS set is then matched against the union of the
 * published keys, and the chain is whole when some DS matches a key that
 * signs the DNSKEY set.
 */
#include "dnssec_live.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>
#include <openssl/rand.h>
#include <pthread.h>

#include "../common/kw_time.h"
#include "../dns/dns_raw.h"

#define DAY 86400
/* RFC 9715 / DNS flag day 2020: answers above this may fragment. */
#define DNSKEY_SIZE_MAX 1232

static const int qtype[KW_DNSSEC_Q_N] = {
    LDNS_RR_TYPE_SOA, LDNS_RR_TYPE_DNSKEY, LDNS_RR_TYPE_NS,
    LDNS_RR_TYPE_NSEC3PARAM,
    LDNS_RR_TYPE_CDS,
    LDNS_RR_TYPE_CDNSKEY,
};
static const char *const qname[KW_DNSSEC_Q_N] = {
    "SOA", "DNSKEY", "NS", "NSEC3PARAM",
    "CDS",
    "CDNSKEY",
};

/* The names and RFC 8624's verdicts live in keystore (health reads them
 * from the inventory's facts); one table. */
const char *kw_dnssec_alg_name(int alg, char buf[16])
{
    return ks_dnssec_alg_word(alg, buf);
}

#define alg_deprecated ks_dnssec_alg_deprecated
#define alg_rsa ks_dnssec_alg_rsa

static void add_find(kw_dnssec_live *out, ks_health sev, const char *code,
                     const char *server, const char *record, const char *fix,
                     const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void add_find(kw_dnssec_live *out, ks_health sev, const char *code,
                     const char *server, const char *record, const char *fix,
                     const char *fmt, ...)
{
    kw_dnssec_live_find *f;
    va_list ap;

    if (sev > out->health)
        out->health = sev;
    if (out->nfind >= KW_DNSSEC_LIVE_FINDINGS_MAX) {
        out->dropped++;
        return;
    }
    f = &out->find[out->nfind++];
    va_start(ap, fmt);
    kw_dnssec_find_vset(f, sev, code, server, record, fix, fmt, ap);
    va_end(ap);
}

void kw_dnssec_find_vset(kw_dnssec_live_find *f, ks_health sev,
                         const char *code, const char *server,
                         const char *record, const char *fix,
                         const char *fmt, va_list ap)
{
    f->severity = sev;
    snprintf(f->code, sizeof(f->code), "%s", code);
    snprintf(f->server, sizeof(f->server), "%s", server ? server : "");
    snprintf(f->record, sizeof(f->record), "%s", record ? record : "");
    snprintf(f->fix, sizeof(f->fix), "%s", fix ? fix : "");
    vsnprintf(f->text, sizeof(f->text), fmt, ap);
}

static void fmt_left(int64_t s, char *buf, size_t cap)
{
    if (s < 0)
        s = -s;
    if (s >= DAY)
        snprintf(buf, cap, "%lldd %lldh", (long long)(s / DAY),
                 (long long)(s % DAY / 3600));
    else if (s >= 3600)
        snprintf(buf, cap, "%lldh %lldm", (long long)(s / 3600),
                 (long long)(s % 3600 / 60));
    else
        snprintf(buf, cap, "%lldm %llds", (long long)(s / 60),
                 (long long)(s % 60));
}

/* The RRs of sec owned by owner, of type t (RRSIGs: those covering t
 * when sigs is set).  A new list (maybe empty) of clones. */
static ldns_rr_list *rrs_in(const ldns_rr_list *sec, const ldns_rdf *owner,
                            ldns_rr_type t, int sigs)
{
    ldns_rr_list *l = ldns_rr_list_new();
    size_t i;

    if (l == NULL || sec == NULL)
        return l;
    for (i = 0; i < ldns_rr_list_rr_count(sec); i++) {
        ldns_rr *rr = ldns_rr_list_rr(sec, i);

        if (ldns_dname_compare(ldns_rr_owner(rr), owner) != 0)
            continue;
        if (sigs) {
            ldns_rdf *cov;

            if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_RRSIG ||
                ldns_rr_rd_count(rr) < 9)
                continue;
            cov = ldns_rr_rrsig_typecovered(rr);
            if (cov == NULL || ldns_rdf2rr_type(cov) != t)
                continue;
        } else if (ldns_rr_get_type(rr) != t) {
            continue;
        }
        ldns_rr_list_push_rr(l, ldns_rr_clone(rr));
    }
    return l;
}

/* The same in the answer section of p (NULL: an empty list). */
static ldns_rr_list *section_rrs(const ldns_pkt *p, const ldns_rdf *zone,
                                 ldns_rr_type t, int sigs)
{
    return rrs_in(p != NULL ? ldns_pkt_answer(p) : NULL, zone, t, sigs);
}

static unsigned rd_u8(const ldns_rr *rr, size_t i)
{
    ldns_rdf *f = ldns_rr_rdf(rr, i);

    return f != NULL && ldns_rdf_size(f) >= 1 ? ldns_rdf2native_int8(f) : 0;
}

static unsigned rd_u16(const ldns_rr *rr, size_t i)
{
    ldns_rdf *f = ldns_rr_rdf(rr, i);

    return f != NULL && ldns_rdf_size(f) >= 2 ? ldns_rdf2native_int16(f) : 0;
}

static int64_t rd_time(const ldns_rdf *f)
{
    /* RRSIG times are 32-bit serial numbers (RFC 4034 3.1.5); unsigned
     * holds every date until 2106, which is enough here. */
    return f != NULL && ldns_rdf_size(f) >= 4
               ? (int64_t)ldns_rdf2native_int32(f) : 0;
}

/* The union of the published keys, kept both as rrs (for DS digests)
 * and as out->keys. */
static void key_note(kw_dnssec_live *out, ldns_rr_list *all, const ldns_rr *k)
{
    size_t i;
    kw_dnssec_live_key *e;

    if (ldns_rr_rd_count(k) < 4)
        return;
    for (i = 0; i < ldns_rr_list_rr_count(all); i++)
        if (ldns_rr_compare(ldns_rr_list_rr(all, i), k) == 0)
            return;
    if (out->nkeys >= KW_DNSSEC_LIVE_KEYS_MAX)
        return;
    ldns_rr_list_push_rr(all, ldns_rr_clone(k));
    e = &out->keys[out->nkeys++];
    e->tag = ldns_calc_keytag(k);
    e->flags = (int)rd_u16(k, 0);
    e->algorithm = (int)rd_u8(k, 2);
    e->bits = (int)ldns_rr_dnskey_key_size(k);
}

static kw_dnssec_live_key *key_find(kw_dnssec_live *out, const ldns_rr *k)
{
    unsigned tag = ldns_calc_keytag(k);
    int alg = (int)rd_u8(k, 2);
    size_t i;

    for (i = 0; i < out->nkeys; i++)
        if (out->keys[i].tag == tag && out->keys[i].algorithm == alg)
            return &out->keys[i];
    return NULL;
}

typedef struct srv_view {
    ldns_pkt *p[KW_DNSSEC_Q_N];
    ldns_rr_list *keys;      /* this server's DNSKEY set */
    int answered;            /* some question had an authoritative answer */
} srv_view;

static const char *fix_resign(const char *zone, char *buf, size_t cap)
{
    snprintf(buf, cap, "re-sign %.200s now on its signer (knotc zone-sign, "
             "rndc sign), see why it stopped (a frozen zone, a full disk, "
             "a stopped signer), and check that every secondary transfers "
             "the new signatures", zone);
    return buf;
}

/* One RRset (set, its RRSIGs sigs; rec names it) of one server:
 * signatures present, verified against the server's keys, and in time. */
static void judge_set(kw_dnssec_live *out, const kw_dnssec_live_params *p,
                      int64_t now, const char *server, const char *zone,
                      const char *rec, const ldns_rr_list *set,
                      const ldns_rr_list *sigs, const srv_view *v)
{
    char fix[600], t1[40], t2[40];
    int64_t best_exp = 0, future_inc = 0;
    size_t i, nbad = 0, nokey = 0;

    if (set == NULL || sigs == NULL || ldns_rr_list_rr_count(set) == 0)
        return;
    if (ldns_rr_list_rr_count(sigs) == 0) {
        add_find(out, KS_HEALTH_CRITICAL, "rrsig.missing", server, rec,
                 fix_resign(zone, fix, sizeof(fix)),
                 "%s serves %s without an RRSIG while the zone is signed: "
                 "validating resolvers that ask it answer SERVFAIL",
                 server, rec);
        return;
    }
    for (i = 0; i < ldns_rr_list_rr_count(sigs); i++) {
        ldns_rr *sig = ldns_rr_list_rr(sigs, i);
        ldns_status st;
        int64_t exp, inc;
        unsigned tag;
        size_t k, have_tag = 0;

        tag = ldns_rdf2native_int16(ldns_rr_rrsig_keytag(sig));
        for (k = 0; k < ldns_rr_list_rr_count(v->keys); k++)
            if (ldns_calc_keytag(ldns_rr_list_rr(v->keys, k)) == tag)
                have_tag = 1;
        if (!have_tag) {
            nokey++;
            continue;
        }
        st = ldns_verify_rrsig_keylist_notime((ldns_rr_list *)set, sig,
                                              v->keys, NULL);
        if (st != LDNS_STATUS_OK) {
            nbad++;
            add_find(out, KS_HEALTH_CRITICAL, "rrsig.bad", server, rec,
                     fix_resign(zone, fix, sizeof(fix)),
                     "%s: the RRSIG by key %u over %s does not verify "
                     "against the published DNSKEY (%s): the data or the "
                     "signature was altered, or the key changed without "
                     "re-signing", server, tag, rec,
                     ldns_get_errorstr_by_id(st));
            continue;
        }
        exp = rd_time(ldns_rr_rrsig_expiration(sig));
        inc = rd_time(ldns_rr_rrsig_inception(sig));
        if (inc > now) {
            if (future_inc == 0 || inc < future_inc)
                future_inc = inc;
            continue;
        }
        if (exp > best_exp)
            best_exp = exp;
    }
    if (best_exp == 0) {
        if (future_inc != 0) {
            kw_time_rfc3339(future_inc, t1, sizeof(t1));
            add_find(out, KS_HEALTH_CRITICAL, "rrsig.future", server, rec,
                     "check the signer's clock (NTP) and re-sign",
                     "%s: every valid RRSIG over %s starts at %s, in the "
                     "future: resolvers reject them until then", server, rec,
                     t1);
        } else if (nbad == 0) {
            add_find(out, KS_HEALTH_CRITICAL, "rrsig.nokey", server, rec,
                     fix_resign(zone, fix, sizeof(fix)),
                     "%s: the %zu RRSIG(s) over %s name keys this server "
                     "does not publish in its DNSKEY set: nothing verifies "
                     "them", server, nokey, rec);
        }
        return;
    }
    if (out->next_expiry == 0 || best_exp < out->next_expiry)
        out->next_expiry = best_exp;
    kw_time_rfc3339(best_exp, t1, sizeof(t1));
    fmt_left(best_exp - now, t2, sizeof(t2));
    /* RFC 4035 5.3.1: valid while now <= expiration. */
    if (best_exp < now)
        add_find(out, KS_HEALTH_CRITICAL, "rrsig.expired", server, rec,
                 fix_resign(zone, fix, sizeof(fix)),
                 "%s: the RRSIG over %s expired at %s (%s ago): validating "
                 "resolvers answer SERVFAIL", server, rec, t1, t2);
    else if (best_exp - now < p->crit_s)
        add_find(out, KS_HEALTH_CRITICAL, "rrsig.expiring", server, rec,
                 fix_resign(zone, fix, sizeof(fix)),
                 "%s: the RRSIG over %s expires at %s, in %s: the signer "
                 "has not renewed it, and validating resolvers will answer "
                 "SERVFAIL then", server, rec, t1, t2);
    else if (best_exp - now < p->warn_s)
        add_find(out, KS_HEALTH_WARNING, "rrsig.expiring", server, rec,
                 fix_resign(zone, fix, sizeof(fix)),
                 "%s: the RRSIG over %s expires at %s, in %s", server, rec,
                 t1, t2);
}

/* Question q's RRset at the apex, as judge_set judges it. */
static void judge_rrset(kw_dnssec_live *out, const kw_dnssec_live_params *p,
                        int64_t now, const char *server, const char *zone,
                        const ldns_rdf *zn, const srv_view *v, kw_dnssec_q q)
{
    ldns_rr_type t = (ldns_rr_type)qtype[q];
    ldns_rr_list *set = section_rrs(v->p[q], zn, t, 0);
    ldns_rr_list *sigs = section_rrs(v->p[q], zn, t, 1);
    char rec[300];

    snprintf(rec, sizeof(rec), "%s. %s", zone, qname[q]);
    judge_set(out, p, now, server, zone, rec, set, sigs, v);
    ldns_rr_list_deep_free(set);
    ldns_rr_list_deep_free(sigs);
}

static const char *type_name(int t, char buf[16])
{
    const ldns_rr_descriptor *r = ldns_rr_descript((uint16_t)t);

    if (r != NULL && r->_name != NULL)
        return r->_name;
    snprintf(buf, 16, "TYPE%d", t);
    return buf;
}

/* Whether the NSEC or NSEC3 records of an NXDOMAIN answer (auth) prove
 * that name does not exist: a record covering the name and one covering
 * the wildcard under the closest encloser (RFC 4035 5.4, RFC 5155 8.4).
 * Signed records that prove nothing (an NSEC chain not updated after a
 * change) are bogus to a resolver just the same. */
static void judge_cover(kw_dnssec_live *out, const char *server,
                        const char *zone, const char *name,
                        const ldns_rr_list *auth)
{
    ldns_rr_list *nsec = ldns_rr_list_new(), *nsec3 = ldns_rr_list_new();
    ldns_rr_list *sigs = ldns_rr_list_new();
    ldns_rr *q = ldns_rr_new();
    ldns_rdf *owner = ldns_dname_new_frm_str(name);
    ldns_status st;
    char rec[300], fix[600];
    size_t i;

    if (nsec == NULL || nsec3 == NULL || sigs == NULL || q == NULL ||
        owner == NULL) {
        ldns_rdf_deep_free(owner);
        goto done;
    }
    /* The lists borrow auth's records. */
    for (i = 0; i < ldns_rr_list_rr_count(auth); i++) {
        ldns_rr *rr = ldns_rr_list_rr(auth, i);

        switch (ldns_rr_get_type(rr)) {
        case LDNS_RR_TYPE_NSEC:
            ldns_rr_list_push_rr(nsec, rr);
            break;
        case LDNS_RR_TYPE_NSEC3:
            ldns_rr_list_push_rr(nsec3, rr);
            break;
        case LDNS_RR_TYPE_RRSIG:
            ldns_rr_list_push_rr(sigs, rr);
            break;
        default:
            break;
        }
    }
    ldns_rr_set_owner(q, owner);
    ldns_rr_set_type(q, LDNS_RR_TYPE_A);
    ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
    if (ldns_rr_list_rr_count(nsec) > 0)
        st = ldns_dnssec_verify_denial(q, nsec, sigs);
    else
        st = ldns_dnssec_verify_denial_nsec3(q, nsec3, sigs,
                                             LDNS_RCODE_NXDOMAIN,
                                             LDNS_RR_TYPE_A, true);
    if (st != LDNS_STATUS_OK) {
        snprintf(rec, sizeof(rec), "%.200s. %s (denial)", zone,
                 ldns_rr_list_rr_count(nsec) > 0 ? "NSEC" : "NSEC3");
        add_find(out, KS_HEALTH_CRITICAL, "denial.bogus", server, rec,
                 fix_resign(zone, fix, sizeof(fix)),
                 "%s denies %.200s. with %s records that do not prove it "
                 "(%s): validating resolvers answer SERVFAIL for names that "
                 "do not exist", server, name,
                 ldns_rr_list_rr_count(nsec) > 0 ? "NSEC" : "NSEC3",
                 ldns_get_errorstr_by_id(st));
    }
done:
    ldns_rr_list_free(nsec);
    ldns_rr_list_free(nsec3);
    ldns_rr_list_free(sigs);
    ldns_rr_free(q);
}

/* The denial in an answer to a name that does not exist: each NSEC or
 * NSEC3 record of the authority section is its own RRset, judged with
 * its RRSIGs; none at all in a signed zone is critical. */
static void judge_denial(kw_dnssec_live *out, const kw_dnssec_live_params *p,
                         int64_t now, const char *server, const char *zone,
                         const char *name, const ldns_pkt *pkt,
                         const srv_view *v)
{
    const ldns_rr_list *auth = ldns_pkt_authority(pkt);
    char rec[300], fix[600];
    size_t i, n = 0;

    for (i = 0; i < ldns_rr_list_rr_count(auth); i++) {
        ldns_rr *rr = ldns_rr_list_rr(auth, i);
        ldns_rr_type t = ldns_rr_get_type(rr);
        ldns_rr_list *set, *sigs;
        size_t k, seen = 0;
        char *owner;

        if (t != LDNS_RR_TYPE_NSEC && t != LDNS_RR_TYPE_NSEC3)
            continue;
        n++;
        /* An owner's RRset is judged once, at its first record. */
        for (k = 0; k < i && !seen; k++)
            seen = ldns_rr_get_type(ldns_rr_list_rr(auth, k)) == t &&
                   ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(auth, k)),
                                      ldns_rr_owner(rr)) == 0;
        if (seen)
            continue;
        owner = ldns_rdf2str(ldns_rr_owner(rr));
        /* The name denied is random per check: it stays out of the
         * record, which findings are told apart by. */
        snprintf(rec, sizeof(rec), "%.200s %s (denial)", owner ? owner : "?",
                 t == LDNS_RR_TYPE_NSEC ? "NSEC" : "NSEC3");
        free(owner);
        set = rrs_in(auth, ldns_rr_owner(rr), t, 0);
        sigs = rrs_in(auth, ldns_rr_owner(rr), t, 1);
        judge_set(out, p, now, server, zone, rec, set, sigs, v);
        ldns_rr_list_deep_free(set);
        ldns_rr_list_deep_free(sigs);
    }
    if (n > 0 && ldns_pkt_get_rcode(pkt) == LDNS_RCODE_NXDOMAIN)
        judge_cover(out, server, zone, name, auth);
    if (n == 0) {
        snprintf(rec, sizeof(rec), "%.200s. NSEC/NSEC3 (denial)", zone);
        add_find(out, KS_HEALTH_CRITICAL, "denial.missing", server, rec,
                 fix_resign(zone, fix, sizeof(fix)),
                 "%s denies %.200s. without NSEC or NSEC3 records while the "
                 "zone is signed: validating resolvers cannot trust the "
                 "denial and answer SERVFAIL for names that do not exist",
                 server, name);
    }
}

/* Sample question s of server i: the RRset asked (when it holds data)
 * or, for the name that does not exist, its denial. */
static void judge_sample(kw_dnssec_live *out, const kw_dnssec_live_params *p,
                         int64_t now, const kw_dnssec_obs *obs, size_t i,
                         size_t s, const srv_view *v)
{
    const kw_dnssec_ans *a = &obs->srv[i].sample[s];
    const char *sv = obs->srv[i].name, *name = obs->sample_name[s];
    int t = obs->sample_type[s], denial = strcmp(name, obs->zone) != 0;
    ldns_pkt *pkt = NULL;
    ldns_rdf *owner = NULL;
    ldns_rr_list *set = NULL, *sigs = NULL;
    ldns_pkt_rcode rc;
    char rec[300], tb[16];

    snprintf(rec, sizeof(rec), "%.200s. %s", name, type_name(t, tb));
    if (a->rc != 0 || a->wire == NULL) {
        add_find(out, KS_HEALTH_WARNING,
                 a->rc == KW_EPARSE ? "server.garbage" : "server.noanswer",
                 sv, rec, "check that the server runs and serves the zone, "
                 "or take it out of the NS set", "%s %s %s: %s", sv,
                 a->rc == KW_EPARSE ? "answered garbage to"
                                    : "did not answer", rec, a->err);
        return;
    }
    if (ldns_wire2pkt(&pkt, a->wire, a->len) != LDNS_STATUS_OK) {
        add_find(out, KS_HEALTH_WARNING, "server.garbage", sv, rec,
                 "check the server: resolvers cannot use its answers",
                 "%s answered %s with something that is not a DNS message "
                 "(%zu octets)", sv, rec, a->len);
        return;
    }
    rc = ldns_pkt_get_rcode(pkt);
    if ((rc != LDNS_RCODE_NOERROR &&
         !(denial && rc == LDNS_RCODE_NXDOMAIN)) || !ldns_pkt_aa(pkt)) {
        add_find(out, KS_HEALTH_WARNING, "server.lame", sv, rec,
                 "load the zone on this server, or take it out of the NS "
                 "set", "%s does not answer %s authoritatively (rcode %d, "
                 "AA %s)", sv, rec, (int)rc,
                 ldns_pkt_aa(pkt) ? "set" : "clear");
        goto done;
    }
    owner = ldns_dname_new_frm_str(name);
    if (owner == NULL)
        goto done;
    set = rrs_in(ldns_pkt_answer(pkt), owner, (ldns_rr_type)t, 0);
    sigs = rrs_in(ldns_pkt_answer(pkt), owner, (ldns_rr_type)t, 1);
    if (set != NULL && ldns_rr_list_rr_count(set) > 0)
        judge_set(out, p, now, sv, obs->zone, rec, set, sigs, v);
    else if (denial)
        judge_denial(out, p, now, sv, obs->zone, name, pkt, v);
done:
    ldns_rr_list_deep_free(set);
    ldns_rr_list_deep_free(sigs);
    ldns_rdf_deep_free(owner);
    ldns_pkt_free(pkt);
}

/* The DS records to submit for the keys that sign the DNSKEY set
 * (SHA-256), as presentation lines joined with "; ". */
static void ds_to_submit(const kw_dnssec_live *out, const ldns_rr_list *all,
                         char *buf, size_t cap)
{
    size_t i, o = 0;

    buf[0] = '\0';
    for (i = 0; i < ldns_rr_list_rr_count(all); i++) {
        ldns_rr *k = ldns_rr_list_rr(all, i);
        kw_dnssec_live_key *e = key_find((kw_dnssec_live *)out, k);
        ldns_rr *ds;
        char *s;

        if (e == NULL || !e->signs_dnskey || !(e->flags & 1))
            continue;
        ds = ldns_key_rr2ds(k, LDNS_SHA256);
        if (ds == NULL)
            continue;
        ldns_rr_set_ttl(ds, 3600);
        s = ldns_rr2str(ds);
        if (s != NULL) {
            size_t l = strlen(s);

            while (l > 0 && (s[l - 1] == '\n' || s[l - 1] == ' '))
                s[--l] = '\0';
            o += (size_t)snprintf(buf + o, o < cap ? cap - o : 0, "%s%s",
                                  o > 0 ? "; " : "", s);
            if (o >= cap)
                o = cap - 1;
        }
        free(s);
        ldns_rr_free(ds);
    }
}

/* How long caches may keep the parent's DS answer: the lowest TTL of
 * the DS set, or for a negative answer the lower of the authority SOA's
 * TTL and its minimum field (RFC 2308 section 5); -1 without a SOA. */
static int64_t ds_ttl_of(const ldns_pkt *p, const ldns_rr_list *ds)
{
    ldns_rr_list *auth = ldns_pkt_authority(p);
    int64_t ttl = -1;
    size_t i;

    for (i = 0; i < ldns_rr_list_rr_count(ds); i++) {
        int64_t t = (int64_t)ldns_rr_ttl(ldns_rr_list_rr(ds, i));

        if (ttl < 0 || t < ttl)
            ttl = t;
    }
    if (ttl >= 0)
        return ttl;
    for (i = 0; i < ldns_rr_list_rr_count(auth); i++) {
        ldns_rr *rr = ldns_rr_list_rr(auth, i);
        ldns_rdf *min;

        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA ||
            ldns_rr_rd_count(rr) < 7)
            continue;
        min = ldns_rr_rdf(rr, 6);
        ttl = (int64_t)ldns_rr_ttl(rr);
        if (ldns_rdf_size(min) >= 4 &&
            (int64_t)ldns_rdf2native_int32(min) < ttl)
            ttl = (int64_t)ldns_rdf2native_int32(min);
        return ttl;
    }
    return -1;
}

static int serial_gt(uint32_t a, uint32_t b)
{
    return a != b && (int32_t)(a - b) > 0;   /* RFC 1982 */
}

static void judge_ds(kw_dnssec_live *out, const kw_dnssec_obs *obs,
                     const ldns_rdf *zn, const ldns_rr_list *all,
                     int dnskey_seen)
{
    ldns_pkt *p = NULL;
    ldns_rr_list *ds = NULL;
    char rec[300], fix[600], submit[500], a1[16];
    const char *from = obs->ds_from;
    size_t i, k, nsha1 = 0;
    int chain = 0;

    snprintf(rec, sizeof(rec), "%s. DS", obs->zone);
    if (obs->ds.rc == KW_EPARSE) {
        add_find(out, KS_HEALTH_WARNING, "ds.garbage", from, rec,
                 "check the resolver or parent server keywarden asks",
                 "%s answered the DS question with garbage (%s): the chain "
                 "of trust was not checked", from, obs->ds.err);
        return;
    }
    if (obs->ds.rc != 0 || obs->ds.wire == NULL) {
        add_find(out, KS_HEALTH_WARNING, "ds.noanswer", from, rec,
                 "check the resolver or parent server keywarden asks",
                 "the DS set was not read (%s): the chain of trust from "
                 "the parent was not checked", obs->ds.err);
        return;
    }
    if (ldns_wire2pkt(&p, obs->ds.wire, obs->ds.len) != LDNS_STATUS_OK) {
        add_find(out, KS_HEALTH_WARNING, "ds.garbage", from, rec,
                 "check the resolver or parent server keywarden asks",
                 "%s answered the DS question with something that is not a "
                 "DNS message (%zu octets): the chain of trust was not "
                 "checked", from, obs->ds.len);
        return;
    }
    if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR) {
        char rb[16];
        ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes,
                                                  ldns_pkt_get_rcode(p));

        snprintf(rb, sizeof(rb), "%s", lt ? lt->name : "RCODE");
        add_find(out, KS_HEALTH_WARNING, "ds.rcode", from, rec,
                 "check the delegation of the zone at its parent",
                 "%s answered the DS question with %s: the chain of trust "
                 "was not checked", from, rb);
        goto done;
    }
    ds = section_rrs(p, zn, LDNS_RR_TYPE_DS, 0);
    if (ds == NULL)
        goto done;
    out->has_ds = ldns_rr_list_rr_count(ds) > 0;
    out->ds_ttl = ds_ttl_of(p, ds);
    for (i = 0; i < ldns_rr_list_rr_count(ds) &&
                out->nds < KW_DNSSEC_LIVE_KEYS_MAX; i++) {
        ldns_rr *d = ldns_rr_list_rr(ds, i);
        kw_dnssec_live_ds *e = &out->ds[out->nds++];

        if (ldns_rr_rd_count(d) < 4)
            continue;
        e->tag = rd_u16(d, 0);
        e->algorithm = (int)rd_u8(d, 1);
        e->digest_type = (int)rd_u8(d, 2);
        if (e->digest_type == 1)
            nsha1++;
        for (k = 0; k < ldns_rr_list_rr_count(all); k++) {
            ldns_rr *key = ldns_rr_list_rr(all, k);
            kw_dnssec_live_key *ke;

            if (!ldns_rr_compare_ds(d, key))
                continue;
            e->matched = 1;
            ke = key_find(out, key);
            if (ke != NULL) {
                ke->ds_matched = 1;
                if (ke->signs_dnskey)
                    chain = 1;
            }
        }
    }
    ds_to_submit(out, all, submit, sizeof(submit));
    if (out->has_ds && !out->is_signed) {
        if (dnskey_seen)
            add_find(out, KS_HEALTH_CRITICAL, "ds.unsigned", from, rec,
                     "remove the DS at the parent (registrar), or sign the "
                     "zone again with the key it names",
                     "the parent publishes a DS for %s but no server "
                     "publishes a DNSKEY: the zone is unsigned under a "
                     "secure delegation, and validating resolvers answer "
                     "SERVFAIL for the whole zone", obs->zone);
        goto done;
    }
    if (!out->has_ds) {
        if (out->is_signed) {
            snprintf(fix, sizeof(fix), "submit the DS to the parent "
                     "(registrar): %s", submit[0] ? submit : "(no key "
                     "signs the DNSKEY set)");
            add_find(out, KS_HEALTH_WARNING, "ds.island", from, rec, fix,
                     "%s is signed but its parent publishes no DS for it: "
                     "an island of security, which validating resolvers "
                     "treat as unsigned (no protection)", obs->zone);
        }
        goto done;
    }
    if (!chain) {
        snprintf(fix, sizeof(fix), "replace the DS at the parent "
                 "(registrar) with: %s",
                 submit[0] ? submit : "(no key signs the DNSKEY set)");
        add_find(out, KS_HEALTH_CRITICAL, "ds.mismatch", from, rec, fix,
                 "no DS at the parent matches a DNSKEY that signs %s's "
                 "DNSKEY set: validating resolvers answer SERVFAIL for the "
                 "whole zone", obs->zone);
    }
    for (i = 0; i < out->nds; i++) {
        kw_dnssec_live_ds *e = &out->ds[i];
        char r2[300];

        if (e->matched)
            continue;
        snprintf(r2, sizeof(r2), "%s. DS %u %d %d", obs->zone, e->tag,
                 e->algorithm, e->digest_type);
        /* Resolvers need one DS that leads to a key; an extra one is
         * harmless to them but says a rollover was left half done (or
         * a DS was submitted for a key the zone never published). */
        add_find(out, chain ? KS_HEALTH_WARNING : KS_HEALTH_CRITICAL,
                 "ds.nokey", from, r2,
                 "remove this DS at the parent (registrar), unless a "
                 "rollover is about to publish its key",
                 "the parent's DS %u (algorithm %s, digest type %d) matches "
                 "no DNSKEY the zone publishes%s", e->tag,
                 kw_dnssec_alg_name(e->algorithm, a1), e->digest_type,
                 chain ? "; another DS still leads to the zone's key"
                       : "");
    }
    if (nsha1 > 0 && nsha1 == out->nds)
        add_find(out, KS_HEALTH_WARNING, "ds.sha1", from, rec,
                 "submit a SHA-256 DS (digest type 2) and remove the SHA-1 "
                 "one",
                 "every DS of %s at the parent uses SHA-1 (digest type 1), "
                 "which RFC 8624 says not to use", obs->zone);
done:
    ldns_rr_list_deep_free(ds);
    ldns_pkt_free(p);
}

/* RFC 9276 3.1: NSEC3 with extra iterations or a salt costs resolvers
 * and buys nothing; unbound 1.17 treats more than 150 iterations as
 * insecure.  Said once, from the first server that publishes it. */
static void judge_nsec3(kw_dnssec_live *out, const kw_dnssec_obs *obs,
                        const ldns_rdf *zn, const srv_view *v, size_t ns)
{
    char rec[300];
    size_t i;

    for (i = 0; i < ns; i++) {
        ldns_rr_list *l = section_rrs(v[i].p[KW_DNSSEC_Q_NSEC3PARAM], zn,
                                      LDNS_RR_TYPE_NSEC3PARAM, 0);
        ldns_rr *rr;
        unsigned iter = 0, salt = 0;

        if (l == NULL || ldns_rr_list_rr_count(l) == 0) {
            ldns_rr_list_deep_free(l);
            continue;
        }
        rr = ldns_rr_list_rr(l, 0);
        if (ldns_rr_rd_count(rr) >= 4) {
            ldns_rdf *s = ldns_rr_rdf(rr, 3);

            iter = rd_u16(rr, 2);
            salt = ldns_rdf_size(s) >= 1 ? ldns_rdf_data(s)[0] : 0;
        }
        ldns_rr_list_deep_free(l);
        if (iter > 0 || salt > 0) {
            snprintf(rec, sizeof(rec), "%s. NSEC3PARAM", obs->zone);
            add_find(out, KS_HEALTH_WARNING, "nsec3.params",
                     obs->srv[i].name, rec,
                     "set NSEC3 iterations to 0 and no salt (Knot: "
                     "nsec3-iterations: 0, nsec3-salt-length: 0; BIND: "
                     "nsec3param iterations 0 salt-length 0)",
                     "%s uses NSEC3 with %u extra iteration(s) and a salt "
                     "of %u octet(s); RFC 9276 asks for 0 and none%s",
                     obs->zone, iter, salt,
                     iter > 150 ? ", and validating resolvers such as "
                                  "unbound treat its denials as insecure"
                                : "");
        }
        return;
    }
}

/* Whether a CDS (as a DS) or a CDNSKEY (as a DNSKEY) names key k. */
static int cds_names(const ldns_rr *c, const ldns_rr *k)
{
    ldns_rr *x = ldns_rr_clone(c);
    int hit;

    if (x == NULL)
        return 0;
    if (ldns_rr_get_type(c) == LDNS_RR_TYPE_CDS) {
        ldns_rr_set_type(x, LDNS_RR_TYPE_DS);
        hit = ldns_rr_compare_ds(x, k);
    } else {
        ldns_rr_set_type(x, LDNS_RR_TYPE_DNSKEY);
        hit = ldns_rr_compare(x, k) == 0;
    }
    ldns_rr_free(x);
    return hit;
}

/* The tag and algorithm a CDS or CDNSKEY names. */
static void cds_tag_alg(const ldns_rr *c, unsigned *tag, unsigned *alg)
{
    ldns_rr *x;

    if (ldns_rr_get_type(c) == LDNS_RR_TYPE_CDS) {
        *tag = rd_u16(c, 0);
        *alg = rd_u8(c, 1);
        return;
    }
    *alg = rd_u8(c, 2);
    x = ldns_rr_clone(c);
    if (x != NULL)
        ldns_rr_set_type(x, LDNS_RR_TYPE_DNSKEY);
    *tag = x != NULL ? ldns_calc_keytag(x) : 0;
    ldns_rr_free(x);
}

/* RFC 8078 section 4: algorithm 0 ("0 0 0 00", "0 3 0 AA==") asks the
 * parent to remove the DS. */
static int cds_is_delete(const ldns_rr *c)
{
    unsigned tag, alg;

    if (ldns_rr_rd_count(c) < 3)
        return 0;
    cds_tag_alg(c, &tag, &alg);
    return alg == 0;
}

/* RFC 7344: which published keys the CDS and CDNSKEY sets name (a key
 * counts when every server that publishes the set names it), whether the
 * servers agree (a parent that polls them acts only on one answer), and
 * a CDS that names no published key (the parent would install a DS that
 * leads nowhere). */
static void judge_cds(kw_dnssec_live *out, const kw_dnssec_obs *obs,
                      const ldns_rdf *zn, const srv_view *v, size_t ns,
                      const ldns_rr_list *all)
{
    unsigned ncds[KW_DNSSEC_LIVE_KEYS_MAX] = { 0 };
    unsigned ncdn[KW_DNSSEC_LIVE_KEYS_MAX] = { 0 };
    unsigned srv_cds = 0, srv_cdn = 0;
    ldns_rr_list *first = NULL;
    size_t first_i = 0;
    char rec[300], a1[16];
    size_t i, k, c, nkeys = ldns_rr_list_rr_count(all);
    int nokey_said = 0;

    if (nkeys > KW_DNSSEC_LIVE_KEYS_MAX)
        nkeys = KW_DNSSEC_LIVE_KEYS_MAX;
    snprintf(rec, sizeof(rec), "%s. CDS", obs->zone);
    for (i = 0; i < ns; i++) {
        ldns_rr_list *set;
        ldns_rr_list *cdn;

        if (v[i].p[KW_DNSSEC_Q_CDS] == NULL &&
            v[i].p[KW_DNSSEC_Q_CDNSKEY] == NULL)
            continue;
        set = section_rrs(v[i].p[KW_DNSSEC_Q_CDS], zn, LDNS_RR_TYPE_CDS, 0);
        cdn = section_rrs(v[i].p[KW_DNSSEC_Q_CDNSKEY], zn,
                          LDNS_RR_TYPE_CDNSKEY, 0);
        if (set == NULL || cdn == NULL) {
            ldns_rr_list_deep_free(set);
            ldns_rr_list_deep_free(cdn);
            continue;
        }
        srv_cds += ldns_rr_list_rr_count(set) > 0;
        srv_cdn += ldns_rr_list_rr_count(cdn) > 0;
        for (c = 0; c < ldns_rr_list_rr_count(cdn); c++)
            ldns_rr_list_push_rr(set, ldns_rr_clone(ldns_rr_list_rr(cdn, c)));
        ldns_rr_list_deep_free(cdn);
        for (c = 0; c < ldns_rr_list_rr_count(set); c++) {
            ldns_rr *cr = ldns_rr_list_rr(set, c);
            int named = 0;

            out->cds_published = 1;
            if (cds_is_delete(cr)) {
                out->cds_delete = 1;
                continue;
            }
            for (k = 0; k < nkeys; k++)
                if (cds_names(cr, ldns_rr_list_rr(all, k))) {
                    named = 1;
                    if (ldns_rr_get_type(cr) == LDNS_RR_TYPE_CDS)
                        ncds[k]++;
                    else
                        ncdn[k]++;
                }
            if (!named && !nokey_said) {
                nokey_said = 1;
                unsigned ctag, calg;

                nokey_said = 1;
                cds_tag_alg(cr, &ctag, &calg);
                add_find(out, KS_HEALTH_WARNING, "cds.nokey",
                         obs->srv[i].name, rec,
                         "make the signer publish CDS/CDNSKEY only for keys "
                         "in the DNSKEY set (knotc zone-sign; BIND: "
                         "rndc dnssec -checkds)",
                         "%s publishes a %s for key %u (algorithm %s) that "
                         "is not in the DNSKEY set: a parent that follows "
                         "it would install a DS that leads to no key",
                         obs->srv[i].name,
                         ldns_rr_get_type(cr) == LDNS_RR_TYPE_CDS
                             ? "CDS" : "CDNSKEY",
                         ctag, kw_dnssec_alg_name((int)calg, a1));
            }
        }
        ldns_rr_list_sort(set);
        if (first == NULL) {
            first = set;
            first_i = i;
            continue;
        }
        if (!out->cds_inconsistent && ldns_rr_list_compare(first, set) != 0) {
            out->cds_inconsistent = 1;
            add_find(out, KS_HEALTH_WARNING, "cds.inconsistent",
                     obs->srv[i].name, rec,
                     "make every server transfer the zone's latest "
                     "version (check the secondaries' serials)",
                     "%s publishes other CDS/CDNSKEY records than %s: a "
                     "parent that polls them (RFC 7344) acts only when "
                     "every server agrees", obs->srv[i].name,
                     obs->srv[first_i].name);
        }
        ldns_rr_list_deep_free(set);
    }
    ldns_rr_list_deep_free(first);
    for (k = 0; k < nkeys && k < out->nkeys; k++) {
        out->keys[k].cds = srv_cds > 0 && ncds[k] == srv_cds;
        out->keys[k].cdnskey = srv_cdn > 0 && ncdn[k] == srv_cdn;
    }
}

void kw_dnssec_live_judge(const kw_dnssec_obs *obs,
                          const kw_dnssec_live_params *pin, int64_t now,
                          kw_dnssec_live *out)
{
    kw_dnssec_live_params p = { 7 * DAY, 3 * DAY };
    srv_view v[KW_DNSSEC_SERVERS_MAX];
    ldns_rr_list *all = ldns_rr_list_new();
    ldns_rdf *zn;
    char rec[300], a1[16];
    size_t i, ns = obs->nservers, nok = 0, dnskey_seen = 0;
    uint32_t top = 0;
    int have_top = 0, big = 0;

    memset(out, 0, sizeof(*out));
    memset(v, 0, sizeof(v));
    out->ds_ttl = -1;
    snprintf(out->zone, sizeof(out->zone), "%s", obs->zone);
    if (pin != NULL && pin->warn_s > 0)
        p.warn_s = pin->warn_s;
    if (pin != NULL && pin->crit_s > 0)
        p.crit_s = pin->crit_s;
    if (ns > KW_DNSSEC_SERVERS_MAX)
        ns = KW_DNSSEC_SERVERS_MAX;
    zn = ldns_dname_new_frm_str(obs->zone[0] ? obs->zone : ".");
    if (zn == NULL || all == NULL) {
        add_find(out, KS_HEALTH_CRITICAL, "zone.name", "", obs->zone,
                 "give the zone's name", "%s: not a DNS name (or out of "
                 "memory)", obs->zone);
        goto out;
    }
    if (obs->servers_err[0])
        add_find(out, KS_HEALTH_WARNING, "ns.lookup", "", obs->zone,
                 "check the zone's NS records and their addresses",
                 "%s", obs->servers_err);
    if (ns == 0)
        add_find(out, KS_HEALTH_CRITICAL, "ns.none", "", obs->zone,
                 "check the zone's NS records and their addresses",
                 "no authoritative server of %s was found to ask",
                 obs->zone);

    /* Pass 1: parse, and what each server says about SOA and DNSKEY. */
    for (i = 0; i < ns; i++) {
        const char *sv = obs->srv[i].name;
        int q, answered = 0;

        int failed = 0;

        for (q = 0; q < KW_DNSSEC_Q_N; q++)
            failed += obs->srv[i].a[q].rc != 0 ||
                      obs->srv[i].a[q].wire == NULL;
        for (q = 0; q < KW_DNSSEC_Q_N; q++) {
            const kw_dnssec_ans *a = &obs->srv[i].a[q];
            int garbage = a->rc == KW_EPARSE;

            snprintf(rec, sizeof(rec), "%s. %s", obs->zone, qname[q]);
            if (a->rc != 0 || a->wire == NULL) {
                /* A server that failed every question is one finding. */
                if (failed == KW_DNSSEC_Q_N && q > 0)
                    continue;
                if (failed == KW_DNSSEC_Q_N)
                    snprintf(rec, sizeof(rec), "%s. SOA, DNSKEY, NS, "
                             "NSEC3PARAM, CDS, CDNSKEY", obs->zone);
                add_find(out, KS_HEALTH_WARNING,
                         garbage ? "server.garbage" : "server.noanswer", sv,
                         rec, "check that the server runs and serves the "
                         "zone, or take it out of the NS set",
                         "%s %s %s: %s", sv,
                         garbage ? "answered garbage to" : "did not answer",
                         rec, a->err);
                continue;
            }
            if (ldns_wire2pkt(&v[i].p[q], a->wire, a->len) !=
                LDNS_STATUS_OK) {
                v[i].p[q] = NULL;
                add_find(out, KS_HEALTH_WARNING, "server.garbage", sv, rec,
                         "check the server: resolvers cannot use its "
                         "answers",
                         "%s answered %s with something that is not a DNS "
                         "message (%zu octets)", sv, rec, a->len);
                continue;
            }
            if (ldns_pkt_get_rcode(v[i].p[q]) != LDNS_RCODE_NOERROR ||
                !ldns_pkt_aa(v[i].p[q])) {
                add_find(out, KS_HEALTH_WARNING, "server.lame", sv, rec,
                         "load the zone on this server, or take it out of "
                         "the NS set",
                         "%s does not answer %s authoritatively (rcode %d, "
                         "AA %s): a lame server", sv, rec,
                         (int)ldns_pkt_get_rcode(v[i].p[q]),
                         ldns_pkt_aa(v[i].p[q]) ? "set" : "clear");
                ldns_pkt_free(v[i].p[q]);
                v[i].p[q] = NULL;
                continue;
            }
            answered = 1;
        }
        if (answered)
            nok++;
        v[i].answered = answered;
        if (v[i].p[KW_DNSSEC_Q_SOA] != NULL) {
            ldns_rr_list *soa = section_rrs(v[i].p[KW_DNSSEC_Q_SOA], zn,
                                            LDNS_RR_TYPE_SOA, 0);

            if (soa != NULL && ldns_rr_list_rr_count(soa) > 0 &&
                ldns_rr_rd_count(ldns_rr_list_rr(soa, 0)) >= 3) {
                ldns_rdf *s = ldns_rr_rdf(ldns_rr_list_rr(soa, 0), 2);

                if (ldns_rdf_size(s) >= 4) {
                    out->serial[i] = ldns_rdf2native_int32(s);
                    if (!have_top || serial_gt(out->serial[i], top))
                        top = out->serial[i];
                    have_top = 1;
                }
            }
            ldns_rr_list_deep_free(soa);
        }
        if (v[i].p[KW_DNSSEC_Q_DNSKEY] != NULL) {
            size_t k;

            dnskey_seen = 1;
            v[i].keys = section_rrs(v[i].p[KW_DNSSEC_Q_DNSKEY], zn,
                                    LDNS_RR_TYPE_DNSKEY, 0);
            for (k = 0; v[i].keys && k < ldns_rr_list_rr_count(v[i].keys);
                 k++)
                key_note(out, all, ldns_rr_list_rr(v[i].keys, k));
            if (v[i].keys && ldns_rr_list_rr_count(v[i].keys) > 0) {
                out->is_signed = 1;
                if (obs->srv[i].a[KW_DNSSEC_Q_DNSKEY].len > DNSKEY_SIZE_MAX)
                    big = (int)i + 1;
            }
        }
    }
    if (ns > 0 && nok == 0)
        add_find(out, KS_HEALTH_CRITICAL, "server.none", "", obs->zone,
                 "check the zone's servers: none of them answers",
                 "no authoritative server of %s answered: resolvers cannot "
                 "resolve the zone", obs->zone);

    /* Pass 2: signatures, per server against its own keys. */
    for (i = 0; out->is_signed && i < ns; i++) {
        size_t sq;
        int q;

        if (v[i].p[KW_DNSSEC_Q_DNSKEY] != NULL &&
            (v[i].keys == NULL || ldns_rr_list_rr_count(v[i].keys) == 0)) {
            snprintf(rec, sizeof(rec), "%s. DNSKEY", obs->zone);
            add_find(out, KS_HEALTH_CRITICAL, "dnskey.missing",
                     obs->srv[i].name, rec,
                     "make this server transfer the signed zone",
                     "%s serves %s without DNSKEY while other servers "
                     "publish one: resolvers that ask it fail to validate",
                     obs->srv[i].name, obs->zone);
            continue;
        }
        for (q = 0; q < KW_DNSSEC_Q_N; q++)
            if (v[i].p[q] != NULL)
                judge_rrset(out, &p, now, obs->srv[i].name, obs->zone, zn,
                            &v[i], (kw_dnssec_q)q);
        /* The sample, unless the server answered nothing at all (said
         * once already). */
        for (sq = 0; v[i].answered && sq < obs->nsample &&
                     sq < KW_DNSSEC_SAMPLE_MAX; sq++)
            judge_sample(out, &p, now, obs, i, sq, &v[i]);
        /* Which keys sign the DNSKEY set (a valid signature, any time:
         * the times were judged above). */
        if (v[i].keys != NULL) {
            ldns_rr_list *sigs = section_rrs(v[i].p[KW_DNSSEC_Q_DNSKEY], zn,
                                             LDNS_RR_TYPE_DNSKEY, 1);
            ldns_rr_list *good = ldns_rr_list_new();
            size_t s, k;

            for (s = 0; sigs && good && s < ldns_rr_list_rr_count(sigs);
                 s++)
                (void)ldns_verify_rrsig_keylist_notime(
                    v[i].keys, ldns_rr_list_rr(sigs, s), v[i].keys, good);
            for (k = 0; good && k < ldns_rr_list_rr_count(good); k++) {
                kw_dnssec_live_key *e = key_find(out,
                                                 ldns_rr_list_rr(good, k));

                if (e != NULL)
                    e->signs_dnskey = 1;
            }
            /* good holds pointers into v[i].keys, not copies. */
            ldns_rr_list_free(good);
            ldns_rr_list_deep_free(sigs);
        }
    }
    judge_nsec3(out, obs, zn, v, ns);
    judge_cds(out, obs, zn, v, ns, all);
    if (big) {
        snprintf(rec, sizeof(rec), "%s. DNSKEY", obs->zone);
        add_find(out, KS_HEALTH_WARNING, "dnskey.size",
                 obs->srv[big - 1].name, rec,
                 "use fewer or smaller keys (ECDSA P-256), and keep a "
                 "rollover's extra key published no longer than needed",
                 "the DNSKEY answer is %zu octets, above %d: it needs TCP "
                 "or fragments, which some networks drop",
                 obs->srv[big - 1].a[KW_DNSSEC_Q_DNSKEY].len,
                 DNSKEY_SIZE_MAX);
    }
    for (i = 0; i < out->nkeys; i++) {
        kw_dnssec_live_key *e = &out->keys[i];

        snprintf(rec, sizeof(rec), "%s. DNSKEY %d 3 %d (tag %u)", obs->zone,
                 e->flags, e->algorithm, e->tag);
        if (alg_deprecated(e->algorithm))
            add_find(out, KS_HEALTH_WARNING, "alg.deprecated", "", rec,
                     "roll the zone to ECDSAP256SHA256 (13) or ED25519 (15)",
                     "key %u uses %s, which RFC 8624 says not to sign with",
                     e->tag, kw_dnssec_alg_name(e->algorithm, a1));
        if (alg_rsa(e->algorithm) && e->bits > 0 && e->bits < 2048)
            add_find(out, KS_HEALTH_WARNING, "alg.weak", "", rec,
                     "roll to a key of at least 2048 bits, or to ECDSA",
                     "key %u is RSA with %d bits, under 2048", e->tag,
                     e->bits);
    }
    for (i = 0; have_top && i < ns; i++)
        if (v[i].p[KW_DNSSEC_Q_SOA] != NULL && out->serial[i] != top) {
            snprintf(rec, sizeof(rec), "%s. SOA", obs->zone);
            add_find(out, KS_HEALTH_WARNING, "soa.serial", obs->srv[i].name,
                     rec, "check the transfers from the primary to this "
                     "server (notify, ACL, TSIG; a frozen zone)",
                     "%s serves serial %u while another server serves %u: "
                     "it lags behind", obs->srv[i].name, out->serial[i],
                     top);
        }
    judge_ds(out, obs, zn, all, (int)dnskey_seen);
out:
    for (i = 0; i < KW_DNSSEC_SERVERS_MAX; i++) {
        int q;

        for (q = 0; q < KW_DNSSEC_Q_N; q++)
            ldns_pkt_free(v[i].p[q]);
        ldns_rr_list_deep_free(v[i].keys);
    }
    ldns_rr_list_deep_free(all);
    ldns_rdf_deep_free(zn);
}

int kw_dnssec_q_type(kw_dnssec_q q)
{
    return (int)q >= 0 && q < KW_DNSSEC_Q_N ? qtype[q] : 0;
}

void kw_dnssec_sample_names(kw_dnssec_obs *obs, const char *label)
{
    static const int t[] = { LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA,
                             LDNS_RR_TYPE_MX, LDNS_RR_TYPE_TXT };
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(obs->sample_name[i], sizeof(obs->sample_name[i]), "%s",
                 obs->zone);
        obs->sample_type[i] = t[i];
    }
    obs->nsample = i;
    /* A zone too long to hold the label under it goes without the
     * denial question (RFC 1035: 253 octets in presentation). */
    if (strlen(label) + 1 + strlen(obs->zone) > 253)
        return;
    snprintf(obs->sample_name[i], sizeof(obs->sample_name[i]), "%.60s.%.190s",
             label, obs->zone);
    obs->sample_type[i] = LDNS_RR_TYPE_A;
    obs->nsample = i + 1;
}

void kw_dnssec_obs_free(kw_dnssec_obs *obs)
{
    size_t i;
    int q;

    if (obs == NULL)
        return;
    for (i = 0; i < KW_DNSSEC_SERVERS_MAX; i++) {
        for (q = 0; q < KW_DNSSEC_Q_N; q++) {
            free(obs->srv[i].a[q].wire);
            obs->srv[i].a[q].wire = NULL;
            obs->srv[i].a[q].len = 0;
        }
        for (q = 0; q < KW_DNSSEC_SAMPLE_MAX; q++) {
            free(obs->srv[i].sample[q].wire);
            obs->srv[i].sample[q].wire = NULL;
            obs->srv[i].sample[q].len = 0;
        }
    }
    free(obs->ds.wire);
    obs->ds.wire = NULL;
    obs->ds.len = 0;
}

static void ask(const kw_dns_server *s, const char *zone, int type,
                int flags, int timeout_ms, kw_dnssec_ans *a)
{
    kw_diag d = {{0}};

    a->rc = kw_dns_ask_wire(s, zone, type, flags, timeout_ms, &a->wire,
                            &a->len, &d);
    if (a->rc != 0)
        snprintf(a->err, sizeof(a->err), "%.280s", d.msg);
}

int kw_dnssec_live_gather(const char *zone, const kw_dnssec_live_where *w,
                          kw_dnssec_obs *obs, kw_diag *d)
{
    kw_dns_server list[KW_DNSSEC_SERVERS_MAX];
    size_t n = 0, i, l;
    int tmo, rc;

    memset(obs, 0, sizeof(*obs));
    if (zone == NULL || w == NULL ||
        (w->servers == NULL && w->resolver == NULL))
        return kw_diag_set(d, KW_EINVAL, "kw_dnssec_live_gather: a zone "
                           "and a resolver or servers are needed");
    rc = kw_dns_name_check(zone, d);
    if (rc != 0)
        return rc;
    snprintf(obs->zone, sizeof(obs->zone), "%s", zone);
    l = strlen(obs->zone);
    if (l > 0 && obs->zone[l - 1] == '.')
        obs->zone[--l] = '\0';
    for (i = 0; i < l; i++)
        obs->zone[i] = (char)tolower((unsigned char)obs->zone[i]);
    tmo = w->timeout_ms > 0 ? w->timeout_ms : 3000;
    if (w->servers != NULL) {
        n = w->nservers < KW_DNSSEC_SERVERS_MAX ? w->nservers
                                                : KW_DNSSEC_SERVERS_MAX;
        memcpy(list, w->servers, n * sizeof(list[0]));
    } else {
        kw_diag sub = {{0}};

        rc = kw_dns_zone_servers(w->resolver, obs->zone, w->port, list,
                                 KW_DNSSEC_SERVERS_MAX, &n, tmo, &sub);
        if (rc != 0 && n == 0)
            return kw_diag_set(d, rc, "%s: no authoritative server found: "
                               "%s", obs->zone, sub.msg);
        if (rc != 0)
            snprintf(obs->servers_err, sizeof(obs->servers_err), "%.280s",
                     sub.msg);
    }
    obs->nservers = n;
    /* A fresh label per check, so the denial is the server's own and not
     * one a cache kept; without randomness a fixed label still asks a
     * name the zone does not hold. */
    {
        unsigned char r[6];
        char label[20];

        if (RAND_bytes(r, sizeof(r)) == 1)
            snprintf(label, sizeof(label), "kw-%02x%02x%02x%02x%02x%02x",
                     r[0], r[1], r[2], r[3], r[4], r[5]);
        else
            snprintf(label, sizeof(label), "kw-denial-probe");
        kw_dnssec_sample_names(obs, label);
    }
    for (i = 0; i < n; i++) {
        kw_diag sub = {{0}};
        size_t sq;
        int q;

        kw_dns_server_str(&list[i], obs->srv[i].name,
                          sizeof(obs->srv[i].name));
        if (kw_dns_reachable(&list[i], &sub) != 0) {
            /* No route (a host without IPv6): say so without waiting. */
            for (q = 0; q < KW_DNSSEC_Q_N; q++) {
                obs->srv[i].a[q].rc = KW_EIO;
                snprintf(obs->srv[i].a[q].err, sizeof(obs->srv[i].a[q].err),
                         "%.280s", sub.msg);
            }
            for (sq = 0; sq < obs->nsample; sq++) {
                obs->srv[i].sample[sq].rc = KW_EIO;
                snprintf(obs->srv[i].sample[sq].err,
                         sizeof(obs->srv[i].sample[sq].err), "%.280s",
                         sub.msg);
            }
            continue;
        }
        for (q = 0; q < KW_DNSSEC_Q_N; q++)
            ask(&list[i], obs->zone, qtype[q], KW_DNS_Q_DO, tmo,
                &obs->srv[i].a[q]);
        for (sq = 0; sq < obs->nsample; sq++)
            ask(&list[i], obs->sample_name[sq], obs->sample_type[sq],
                KW_DNS_Q_DO, tmo, &obs->srv[i].sample[sq]);
    }
    if (w->ds_server != NULL) {
        kw_dns_server_str(w->ds_server, obs->ds_from, sizeof(obs->ds_from));
        ask(w->ds_server, obs->zone, LDNS_RR_TYPE_DS, KW_DNS_Q_DO, tmo,
            &obs->ds);
    } else if (w->resolver != NULL) {
        kw_dns_server_str(w->resolver, obs->ds_from, sizeof(obs->ds_from));
        ask(w->resolver, obs->zone, LDNS_RR_TYPE_DS,
            KW_DNS_Q_RD | KW_DNS_Q_DO | KW_DNS_Q_CD, tmo, &obs->ds);
    } else {
        obs->ds.rc = KW_EINVAL;
        snprintf(obs->ds.err, sizeof(obs->ds.err), "neither a resolver nor "
                 "a parent server was given to ask for the DS");
    }
    return 0;
}

int kw_dnssec_live_run(const char *zone, const kw_dnssec_live_where *w,
                       const kw_dnssec_live_params *p, int64_t now,
                       kw_dnssec_live *out, kw_diag *d)
{
    kw_dnssec_obs *obs = calloc(1, sizeof(*obs));
    int rc;

    if (obs == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    rc = kw_dnssec_live_gather(zone, w, obs, d);
    if (rc == 0)
        kw_dnssec_live_judge(obs, p, now, out);
    kw_dnssec_obs_free(obs);
    free(obs);
    return rc;
}

/* kw_dnssec_live_run_many's shared state: the next zone to take, under
 * the lock; each zone's result is written by the one thread that took
 * it. */
typedef struct many_ctx {
    pthread_mutex_t lock;
    size_t next, n;
    const char *const *zones;
    const kw_dnssec_live_where *w;
    const kw_dnssec_live_params *p;
    int64_t now;
    kw_dnssec_live_res *outs;
} many_ctx;

static void *many_worker(void *arg)
{
    many_ctx *c = arg;

    for (;;) {
        kw_dnssec_live_res *r;
        size_t i;

        pthread_mutex_lock(&c->lock);
        i = c->next < c->n ? c->next++ : c->n;
        pthread_mutex_unlock(&c->lock);
        if (i >= c->n)
            return NULL;
        r = &c->outs[i];
        r->diag.msg[0] = '\0';
        r->rc = kw_dnssec_live_run(c->zones[i], c->w, c->p, c->now,
                                   &r->live, &r->diag);
    }
}

int kw_dnssec_live_run_many(const char *const *zones, size_t n,
                            const kw_dnssec_live_where *w,
                            const kw_dnssec_live_params *p, int64_t now,
                            int threads, kw_dnssec_live_res *outs,
                            kw_diag *d)
{
    pthread_t tid[256];
    many_ctx c;
    size_t i, want, started = 0;

    if ((n > 0 && (zones == NULL || outs == NULL)) || w == NULL)
        return kw_diag_set(d, KW_EINVAL, "kw_dnssec_live_run_many: zones, "
                           "their results and where to ask are needed");
    for (i = 0; i < n; i++)
        if (zones[i] == NULL)
            return kw_diag_set(d, KW_EINVAL, "kw_dnssec_live_run_many: zone "
                               "%zu has no name", i);
    want = threads <= 0 ? 16 : (size_t)threads;
    if (want > sizeof(tid) / sizeof(tid[0]))
        want = sizeof(tid) / sizeof(tid[0]);
    if (want > n)
        want = n;
    memset(&c, 0, sizeof(c));
    if (pthread_mutex_init(&c.lock, NULL) != 0)
        return kw_diag_set(d, KW_ENOMEM, "kw_dnssec_live_run_many: cannot "
                           "make a lock");
    c.n = n;
    c.zones = zones;
    c.w = w;
    c.p = p;
    c.now = now;
    c.outs = outs;
    /* Threads that cannot start leave their share to the others; with
     * none at all the calling thread does everything. */
    for (i = 0; i < want; i++) {
        if (pthread_create(&tid[started], NULL, many_worker, &c) != 0)
            break;
        started++;
    }
    if (started == 0)
        (void)many_worker(&c);
    for (i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&c.lock);
    return 0;
}
