/*
 * ks_health_dnssec.c: the RFC 7583 stage of a DNSSEC key from its timing
 * data, and the health of DNSSEC zones and keys (ks_health.h).  Pure.
 *
 * A key:
 *   the zone's latest check found something about it (by tag)   its severity
 *   a KSK or CSK seen ready without a DS at the parent           warning
 *   an algorithm RFC 8624 says not to sign with                  warning
 *   RSA under 2048 bits                                          warning
 *   Knot's timing said remove it more than a day ago, and it is
 *     still in Knot's key set: the signer has not acted          warning
 *   (BIND keeps a removed key's files until purge-keys, 90 days by
 *   default: for its keys the rule would only say that.)
 * A zone:
 *   never checked                                                unknown
 *   the worst of its latest check's findings (none: ok)
 */
#include "ks_health.h"

#include "../common/kw_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A removal this much overdue means the signer is not running. */
#define OVERDUE (24 * 3600)

const char *ks_dnssec_alg_word(int alg, char buf[16])
{
    static const struct { int n; const char *s; } t[] = {
        { 1, "RSAMD5" }, { 3, "DSA" }, { 5, "RSASHA1" },
        { 6, "DSA-NSEC3-SHA1" }, { 7, "RSASHA1-NSEC3-SHA1" },
        { 8, "RSASHA256" }, { 10, "RSASHA512" }, { 12, "ECC-GOST" },
        { 13, "ECDSAP256SHA256" }, { 14, "ECDSAP384SHA384" },
        { 15, "ED25519" }, { 16, "ED448" },
    };
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].n == alg)
            return t[i].s;
    snprintf(buf, 16, "ALG%d", alg);
    return buf;
}

/* RFC 8624 section 3.1: MUST NOT or NOT RECOMMENDED for signing. */
int ks_dnssec_alg_deprecated(int alg)
{
    return alg == 1 || alg == 3 || alg == 5 || alg == 6 || alg == 7 ||
           alg == 12;
}

int ks_dnssec_alg_rsa(int alg)
{
    return alg == 1 || alg == 5 || alg == 7 || alg == 8 || alg == 10;
}

const char *ks_dnssec_stage_word(int stage)
{
    switch (stage) {
    case KS_DNSSEC_ST_GENERATED: return "generated";
    case KS_DNSSEC_ST_PUBLISHED: return "published";
    case KS_DNSSEC_ST_READY: return "ready";
    case KS_DNSSEC_ST_ACTIVE: return "active";
    case KS_DNSSEC_ST_RETIRED: return "retired";
    case KS_DNSSEC_ST_REMOVED: return "removed";
    }
    return "?";
}

/*
 * The timing data map onto RFC 7583's states as follows (a time of 0 is
 * not set, and a transition that is not set never happens):
 *   removed    from delete_;
 *   retired    from inactive until delete_;
 *   active     from activate, but for a KSK or CSK whose sync_publish (the
 *              time its DS may go to the parent) is later than activate,
 *              only from sync_publish: before it the key signs yet cannot
 *              be trusted through the chain, which is RFC 7583's "ready";
 *   ready      from publish until activate when publish precedes
 *              activate for a KSK/CSK with sync_publish, as above;
 *   published  from publish until it is ready or active;
 *   generated  before publish (or always, when nothing else is set).
 * A ZSK is never "ready" here: RFC 7583 makes it ready once its DNSKEY
 * has propagated (publish + Ipub), and no signer records that moment.
 */
typedef struct stage_edge {
    int64_t at;
    int stage;
} stage_edge;

static size_t stage_edges(const ks_dnssec_timing *k, stage_edge e[5])
{
    size_t n = 0;
    int64_t active = k->activate;

    if (k->publish)
        e[n++] = (stage_edge){ k->publish, KS_DNSSEC_ST_PUBLISHED };
    if (k->ksk && k->sync_publish && k->activate &&
        k->sync_publish > k->activate) {
        e[n++] = (stage_edge){ k->activate, KS_DNSSEC_ST_READY };
        active = k->sync_publish;
    }
    if (active)
        e[n++] = (stage_edge){ active, KS_DNSSEC_ST_ACTIVE };
    if (k->inactive)
        e[n++] = (stage_edge){ k->inactive, KS_DNSSEC_ST_RETIRED };
    if (k->delete_)
        e[n++] = (stage_edge){ k->delete_, KS_DNSSEC_ST_REMOVED };
    return n;
}

/* The latest stage whose edge is at or before now: edges given out of
 * order (activate before publish) never move a key backwards. */
static int stage_at(const stage_edge *e, size_t n, int64_t now)
{
    int cur = KS_DNSSEC_ST_GENERATED;

    for (size_t i = 0; i < n; i++)
        if (e[i].at <= now && e[i].stage > cur)
            cur = e[i].stage;
    return cur;
}

int ks_dnssec_stage(const ks_dnssec_timing *t, int64_t now, int *next,
                    int64_t *next_at)
{
    stage_edge e[5];
    size_t n = stage_edges(t, e);
    int cur = stage_at(e, n, now);
    int64_t nx_at = 0;

    /* The next transition is the earliest edge after now that leads to a
     * later stage; the stage then is what all edges up to it make. */
    for (size_t i = 0; i < n; i++)
        if (e[i].at > now && e[i].stage > cur &&
            (nx_at == 0 || e[i].at < nx_at))
            nx_at = e[i].at;
    if (next)
        *next = nx_at ? stage_at(e, n, nx_at) : 0;
    if (next_at)
        *next_at = nx_at == KS_DNSSEC_PENDING ? 0 : nx_at;
    return cur;
}

#define add ks_verdict_add

static void add_found(ks_verdict *v, const ks_dnssec_found *x)
{
    const char *text = x->text != NULL ? x->text : "";
    const char *rec = x->record != NULL ? x->record : "";
    const char *srv = x->server != NULL ? x->server : "";

    /* The record and the server it concerns lead and follow the words,
     * so `show` and `check` say where to look. */
    add(v, x->health, x->fix, "%s%s%s%s%s%s", rec, rec[0] ? ": " : "", text,
        srv[0] ? " (" : "", srv, srv[0] ? ")" : "");
}

static void key_health(const ks_tls_facts *f, int64_t now, ks_verdict *v)
{
    const char *zone = f->dnssec_zone != NULL ? f->dnssec_zone : "?";
    int ksk = f->dnssec_timing.ksk;
    int stage = ks_dnssec_stage(&f->dnssec_timing, now, NULL, NULL);
    char when[32], fix[600], ab[16];
    size_t i;

    for (i = 0; i < f->dnssec_nfound && i < KS_MAX_FINDINGS; i++) {
        const ks_dnssec_found *x = &f->dnssec_found[i];

        /* The key's own facts below say these without a check. */
        if (x->code != NULL && strncmp(x->code, "alg.", 4) == 0)
            continue;
        add_found(v, x);
    }
    if (ksk && f->dnssec_ds_missing_since > 0) {
        kw_time_rfc3339(f->dnssec_ds_missing_since, when, sizeof(when));
        snprintf(fix, sizeof(fix), "submit the DS to the parent's "
                 "operator: `keywarden dnssec ds %s` prints it", zone);
        add(v, KS_HEALTH_WARNING, fix,
            "no DS at the parent for this key since %s", when);
    }
    if (stage >= KS_DNSSEC_ST_RETIRED)
        ; /* on its way out: its algorithm and size no longer matter */
    else if (ks_dnssec_alg_deprecated(f->dnssec_alg))
        add(v, KS_HEALTH_WARNING,
            "roll the zone to ECDSAP256SHA256 (13) or ED25519 (15)",
            "algorithm %s, which RFC 8624 says not to sign with",
            ks_dnssec_alg_word(f->dnssec_alg, ab));
    else if (ks_dnssec_alg_rsa(f->dnssec_alg) && f->dnssec_bits > 0 &&
             f->dnssec_bits < 2048)
        add(v, KS_HEALTH_WARNING,
            "roll to a key of at least 2048 bits, or to ECDSA",
            "RSA with %d bits, under 2048", f->dnssec_bits);
    if (stage == KS_DNSSEC_ST_REMOVED && f->dnssec_signer != NULL &&
        strcmp(f->dnssec_signer, "knot") == 0 &&
        f->dnssec_timing.delete_ > 0 &&
        kw_time_diff(now, f->dnssec_timing.delete_) > OVERDUE) {
        kw_time_rfc3339(f->dnssec_timing.delete_, when, sizeof(when));
        snprintf(fix, sizeof(fix), "check that knotd runs and signs %s "
                 "(knotc zone-status %s), and its log", zone, zone);
        add(v, KS_HEALTH_WARNING, fix,
            "the signer's timing said remove this key at %s and it is "
            "still in the key set: the signer has not acted: is it "
            "running?", when);
    }
}

void ks_health_dnssec(const ks_tls_facts *f, int64_t now, ks_verdict *v)
{
    size_t i;

    memset(v, 0, sizeof(*v));
    if (f->is_dnssec == 2) {
        key_health(f, now, v);
    } else if (f->dnssec_checked_at == 0) {
        char fix[400];

        snprintf(fix, sizeof(fix), "`keywarden dnssec check %s`, or "
                 "`keywarden serve`, which checks every zone each [dnssec] "
                 "interval", f->dnssec_zone != NULL ? f->dnssec_zone : "ZONE");
        add(v, KS_HEALTH_UNKNOWN, fix, "not checked yet");
    } else {
        for (i = 0; i < f->dnssec_nfound && i < KS_MAX_FINDINGS; i++)
            add_found(v, &f->dnssec_found[i]);
    }
    ks_verdict_finish(v);
}
