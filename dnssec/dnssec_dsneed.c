/*
 * dnssec_dsneed.c: the ds_needed decision (see dnssec_dsneed.h).
 *
 * Per key, the bookkeeping moves through three states, stored as the two
 * times of ks_dnssec_keys:
 *
 *   clear (0, 0) --no DS names it--> missing (since, 0)
 *   missing --now >= since + DS TTL + margin--> notified (since, now):
 *            the event once, the finding from then on
 *   missing or notified --a DS names it, or the key is no longer ready
 *            or active--> clear
 *
 * Invariants: notified_at is never set without missing_since; nothing
 * moves while the parent's DS answer is unknown (ds_ttl < 0) or the key
 * is not in the live DNSKEY set (a server that did not answer is no
 * reason to restart the clock).
 */
#include "dnssec_dsneed.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <ldns/ldns.h>

#include "../common/kw_time.h"

#define DAY 86400

int kw_dnssec_ds_record(const char *zone, const char *dnskey, char *buf,
                        size_t cap, kw_diag *d)
{
    char line[4600];
    ldns_rr *k = NULL, *ds = NULL;
    ldns_status st;
    ldns_rdf *dg;
    size_t i, o;
    int n;

    buf[0] = '\0';
    n = snprintf(line, sizeof(line), "%s. 3600 IN DNSKEY %s", zone, dnskey);
    if (n < 0 || (size_t)n >= sizeof(line))
        return kw_diag_set(d, KW_EPARSE, "%s: the DNSKEY record is too "
                           "long", zone);
    st = ldns_rr_new_frm_str(&k, line, 0, NULL, NULL);
    if (st != LDNS_STATUS_OK || ldns_rr_rd_count(k) < 4) {
        ldns_rr_free(k);
        return kw_diag_set(d, KW_EPARSE, "%s: DNSKEY \"%.80s\": %s", zone,
                           dnskey, st != LDNS_STATUS_OK
                                       ? ldns_get_errorstr_by_id(st)
                                       : "too few fields");
    }
    ds = ldns_key_rr2ds(k, LDNS_SHA256);
    if (ds == NULL || ldns_rr_rd_count(ds) < 4) {
        ldns_rr_free(k);
        ldns_rr_free(ds);
        return kw_diag_set(d, KW_EPARSE, "%s: no DS can be computed from "
                           "DNSKEY \"%.80s\"", zone, dnskey);
    }
    dg = ldns_rr_rdf(ds, 3);
    o = (size_t)snprintf(buf, cap, "%s. IN DS %u %u 2 ", zone,
                         (unsigned)ldns_calc_keytag(k),
                         (unsigned)ldns_rdf2native_int8(ldns_rr_rdf(k, 2)));
    for (i = 0; i < ldns_rdf_size(dg) && o + 3 <= cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%02X",
                              ldns_rdf_data(dg)[i]);
    ldns_rr_free(k);
    ldns_rr_free(ds);
    if (o + 3 > cap && i < ldns_rdf_size(dg))
        return kw_diag_set(d, KW_ETOOBIG, "%s: the DS record does not fit "
                           "in %zu octets", zone, cap);
    return 0;
}

static int is_ksk(const kw_dnssec_key *k)
{
    return k->role == KW_DNSSEC_KSK || k->role == KW_DNSSEC_CSK;
}

static const kw_dnssec_live_key *live_key(const kw_dnssec_live *live,
                                          const kw_dnssec_key *k)
{
    size_t i;

    for (i = 0; i < live->nkeys; i++)
        if (live->keys[i].tag == k->tag &&
            live->keys[i].algorithm == k->algorithm)
            return &live->keys[i];
    return NULL;
}

/* Some other published key signs the DNSKEY set and has its DS. */
static int other_chain(const kw_dnssec_live *live,
                       const kw_dnssec_live_key *self)
{
    size_t i;

    for (i = 0; i < live->nkeys; i++)
        if (&live->keys[i] != self && live->keys[i].signs_dnskey &&
            live->keys[i].ds_matched)
            return 1;
    return 0;
}

/* A set time that is a date (not "unset", not "waits for an event"). */
static int64_t dated(int64_t t)
{
    return t > 0 && t != KW_DNSSEC_PENDING ? t : 0;
}

static int64_t earliest(int64_t a, int64_t b)
{
    return a == 0 || (b != 0 && b < a) ? b : a;
}

/* When the key the new one replaces stops working for resolvers: the
 * other KSKs' inactive (else delete) time, or the new key's own
 * activation after now (its signer then stops using the old one). */
static int64_t retirement(const kw_dnssec_dsneed_key *keys, size_t n,
                          size_t self, int64_t now)
{
    const kw_dnssec_key *me = keys[self].key;
    int64_t at = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        const kw_dnssec_key *o = keys[i].key;
        kw_dnssec_stage s;

        if (i == self || !is_ksk(o))
            continue;
        s = kw_dnssec_key_stage(o, now, NULL, NULL);
        if (s != KW_DNSSEC_ST_READY && s != KW_DNSSEC_ST_ACTIVE)
            continue;
        at = earliest(at, dated(o->inactive) ? dated(o->inactive)
                                             : dated(o->delete_));
    }
    if (dated(me->activate) > now)
        at = earliest(at, me->activate);
    if (dated(me->sync_publish) > now)
        at = earliest(at, me->sync_publish);
    return at;
}

static void clear(const kw_dnssec_dsneed_key *k, kw_dnssec_dsneed_out *o)
{
    o->store = k->missing_since != 0 || k->notified_at != 0;
    o->missing_since = 0;
    o->notified_at = 0;
}

/* The ds.needed finding: warning, critical once the old KSK's retirement
 * is within crit (resolvers then have no key their DS leads to). */
static void say(kw_dnssec_dsneed_out *o, const kw_dnssec_key *k,
                int64_t ttl, int64_t now, int64_t crit)
{
    char t1[40], t2[40], a1[16], when[160] = "";

    o->finding = 1;
    o->severity = KS_HEALTH_WARNING;
    if (o->retire_at != 0) {
        kw_time_rfc3339(o->retire_at, t2, sizeof(t2));
        if (o->retire_at <= now + crit)
            o->severity = KS_HEALTH_CRITICAL;
        snprintf(when, sizeof(when), "; the key it replaces %s at %s%s",
                 o->retire_at <= now ? "retired" : "retires", t2,
                 o->severity == KS_HEALTH_CRITICAL
                     ? ", and without this DS validating resolvers then "
                       "answer SERVFAIL for the whole zone"
                     : "");
    }
    kw_time_rfc3339(o->missing_since, t1, sizeof(t1));
    snprintf(o->text, sizeof(o->text),
             "%s key %u (%s) is %s and no DS at the parent names it, since "
             "%s (longer than the parent's DS TTL of %llds plus the "
             "margin): the DS was not submitted%s%s",
             kw_dnssec_role_name(k->role), k->tag,
             kw_dnssec_alg_name(k->algorithm, a1),
             kw_dnssec_stage_name(kw_dnssec_key_stage(k, now, NULL, NULL)),
             t1, (long long)ttl, when,
             o->cds_published ? "; CDS/CDNSKEY are published for it, so a "
                                "parent that polls them (RFC 7344) may "
                                "still add it"
                              : "");
    snprintf(o->fix, sizeof(o->fix), "submit this DS to the parent "
             "(registrar): %s", o->ds);
}

size_t kw_dnssec_dsneed_decide(const kw_dnssec_dsneed_key *keys, size_t n,
                               const kw_dnssec_live *live,
                               const kw_dnssec_dsneed_params *p, int64_t now,
                               kw_dnssec_dsneed_out *out)
{
    int64_t margin = p != NULL && p->margin > 0 ? p->margin
                                                : KW_DNSSEC_DSNEED_MARGIN;
    int64_t crit = p != NULL && p->crit > 0 ? p->crit : 3 * DAY;
    size_t i, due = 0;

    for (i = 0; i < n; i++) {
        const kw_dnssec_dsneed_key *in = &keys[i];
        const kw_dnssec_key *k = in->key;
        kw_dnssec_dsneed_out *o = &out[i];
        const kw_dnssec_live_key *lk;
        kw_dnssec_stage st;
        kw_diag d;

        memset(o, 0, sizeof(*o));
        o->tag = k->tag;
        o->algorithm = k->algorithm;
        o->missing_since = in->missing_since;
        o->notified_at = in->notified_at;
        snprintf(o->record, sizeof(o->record), "%s. DNSKEY %d 3 %d (tag %u)",
                 k->zone, k->flags, k->algorithm, k->tag);
        if (!is_ksk(k))
            continue;
        st = kw_dnssec_key_stage(k, now, NULL, NULL);
        lk = live_key(live, k);
        if (st != KW_DNSSEC_ST_READY && st != KW_DNSSEC_ST_ACTIVE) {
            clear(in, o); /* retired, removed, or not yet published */
            continue;
        }
        /* Unknown: keep the clock as it is. */
        if (live->ds_ttl < 0 || lk == NULL)
            continue;
        /* An active key needs its DS only while it is the zone's way in:
         * not when it does not sign the DNSKEY set, nor when another key
         * that signs has its DS (a rollover's outgoing key, whose DS the
         * operator has just replaced). */
        if (st == KW_DNSSEC_ST_ACTIVE &&
            (!lk->signs_dnskey || other_chain(live, lk))) {
            clear(in, o);
            continue;
        }
        o->watched = 1;
        o->cds_published = lk->cds || lk->cdnskey;
        if (lk->ds_matched) {
            clear(in, o);
            continue;
        }
        if (kw_dnssec_ds_record(k->zone, k->dnskey, o->ds, sizeof(o->ds),
                                &d) != 0)
            snprintf(o->ds, sizeof(o->ds), "(none: %.280s)", d.msg);
        if (o->missing_since == 0 || o->missing_since > now) {
            o->missing_since = now;
            o->notified_at = 0;
            o->store = 1;
        }
        o->due = o->missing_since + live->ds_ttl + margin;
        o->retire_at = retirement(keys, n, i, now);
        if (now < o->due)
            continue;
        say(o, k, live->ds_ttl, now, crit);
        if (o->notified_at == 0) {
            o->notify = 1;
            o->notified_at = now;
            o->store = 1;
            due++;
        }
    }
    return due;
}
