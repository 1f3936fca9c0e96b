/*
 * dkim_check.c: the judge of dkim_check.h: a selector's DNS survey, and
 * a signing domain's SPF and DMARC, turned into findings.
 *
 * Every answer the survey holds (the resolver's, and each authoritative
 * server's at the last step of the CNAME chain) is classified on its own;
 * servers with the same outcome are then named together in one finding,
 * so "127.0.0.2:53 serves another key" reads as one line however many
 * servers agree.  An answer that could not be had is unknown, never ok.
 */
#include "dkim_check.h"

#include "dkim_dmarc.h"
#include "dkim_record.h"
#include "dkim_rotate.h"

#include "../common/kw_str.h"

#include <openssl/sha.h>

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What one server's answer means for the selector. */
typedef enum ans_state {
    ST_FAIL = 0,  /* no usable answer: timeout, SERVFAIL, refused, garbage */
    ST_NONE,      /* NXDOMAIN, or no TXT record that looks like DKIM */
    ST_DUP,       /* two or more DKIM records */
    ST_BAD,       /* one record that does not parse */
    ST_REVOKED,   /* p= empty */
    ST_MATCH,     /* the key file's public key */
    ST_OTHER,     /* another key */
    ST_VALID,     /* a valid record; the key file could not be read */
    ST_COUNT
} ans_state;

typedef struct view {
    const kw_dns_answer *a;
    char label[120];      /* "resolver 127.0.0.1:53", "127.0.0.2:53
                           * (serial 7)" */
    int auth;             /* an authoritative server (else the resolver) */
    ans_state st;
    kw_dkim_record rec;   /* with ST_MATCH/OTHER/VALID/REVOKED */
    char why[512];        /* ST_BAD: the parser's words; ST_FAIL: error */
} view;

/* Authoritative answers judged plus the resolver's. */
#define VIEWS_MAX (KW_DNS_SURVEY_SERVERS + 1)

static void add(kw_dkim_findings *out, ks_health h, const char *code,
                const char *server, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void add(kw_dkim_findings *out, ks_health h, const char *code,
                const char *server, const char *fix, const char *fmt, ...)
{
    kw_dkim_find *f;
    va_list ap;
    size_t i;

    if (out->n == KW_DKIM_FINDINGS_MAX) {
        /* Keep the worst: replace the mildest one when this is worse. */
        size_t low = 0;

        for (i = 1; i < out->n; i++)
            if (ks_health_rank(out->f[i].severity) <
                ks_health_rank(out->f[low].severity))
                low = i;
        out->dropped++;
        if (ks_health_rank(h) <= ks_health_rank(out->f[low].severity))
            return;
        f = &out->f[low];
    } else {
        f = &out->f[out->n++];
    }
    memset(f, 0, sizeof(*f));
    f->severity = h;
    snprintf(f->code, sizeof(f->code), "%s", code);
    snprintf(f->server, sizeof(f->server), "%s", server != NULL ? server : "");
    snprintf(f->fix, sizeof(f->fix), "%s", fix != NULL ? fix : "");
    va_start(ap, fmt);
    vsnprintf(f->text, sizeof(f->text), fmt, ap);
    va_end(ap);
}

/* Worst first, then by code, so what health reads (the first
 * KS_MAX_FINDINGS) is what matters, and runs compare equal. */
static int cmp_find(const void *x, const void *y)
{
    const kw_dkim_find *a = x, *b = y;
    int ra = ks_health_rank(a->severity), rb = ks_health_rank(b->severity);

    if (ra != rb)
        return rb - ra;
    return strcmp(a->code, b->code);
}

void kw_dkim_findings_sort(kw_dkim_findings *f)
{
    if (f->n > 1)
        qsort(f->f, f->n, sizeof(f->f[0]), cmp_find);
}

/* The selector's key, from the record the inventory keeps for it. */
static int facts_key(const kw_dkim_facts *k, kw_dkim_pub *pub)
{
    kw_dkim_record r;

    memset(pub, 0, sizeof(*pub));
    if (k->record == NULL || k->record[0] == '\0' ||
        kw_dkim_record_parse(k->record, strlen(k->record), &r, NULL) != 0 ||
        r.revoked)
        return 0;
    pub->alg = r.k;
    pub->bits = r.bits;
    memcpy(pub->p, r.p, r.p_len);
    pub->p_len = r.p_len;
    return 1;
}

static void classify(view *v, const kw_dkim_pub *pub, int have_key)
{
    const kw_dns_answer *a = v->a;
    const kw_dns_txt *one = NULL;
    size_t i, ndkim = 0;
    kw_diag d;

    if (a->status != 0) {
        v->st = ST_FAIL;
        snprintf(v->why, sizeof(v->why), "%s",
                 a->error[0] != '\0' ? a->error : kw_strerror(a->status));
        return;
    }
    /* An authoritative server that answers without AA (a referral, a
     * lame delegation) does not serve the zone: its empty answer says
     * nothing of the record, as the survey's comparison counts it. */
    if (v->auth && !a->aa) {
        v->st = ST_FAIL;
        snprintf(v->why, sizeof(v->why), "it answered without authority "
                 "(AA=0: a lame delegation; it does not serve the zone)");
        return;
    }
    for (i = 0; i < a->ntxt; i++)
        if (kw_dkim_record_looks_like(a->txt[i].s, a->txt[i].len)) {
            ndkim++;
            one = &a->txt[i];
        }
    if (ndkim == 0) {
        v->st = ST_NONE;
        return;
    }
    if (ndkim > 1) {
        v->st = ST_DUP;
        return;
    }
    d.msg[0] = '\0';
    if (kw_dkim_record_parse(one->s, one->len, &v->rec, &d) != 0) {
        v->st = ST_BAD;
        snprintf(v->why, sizeof(v->why), "%s", d.msg);
        return;
    }
    if (v->rec.revoked)
        v->st = ST_REVOKED;
    else if (!have_key)
        v->st = ST_VALID;
    else if (kw_dkim_pub_matches(pub, v->rec.k, v->rec.p, v->rec.p_len))
        v->st = ST_MATCH;
    else
        v->st = ST_OTHER;
}

/* The servers in state st, as one comma-separated list. */
static size_t servers_in(const view *v, size_t n, ans_state st, char *buf,
                         size_t cap, const char **first)
{
    size_t i, pos = 0, count = 0;

    buf[0] = '\0';
    *first = NULL;
    for (i = 0; i < n; i++) {
        if (v[i].st != st)
            continue;
        kw_str_appendf(buf, cap, &pos, "%s%s", count > 0 ? ", " : "",
                       v[i].label);
        if (*first == NULL)
            *first = v[i].label;
        count++;
    }
    return count;
}

/* The last step: where the record itself lives. */
static const kw_dns_survey_step *last_step(const kw_dns_survey *sv)
{
    return sv->nsteps > 0 ? &sv->steps[sv->nsteps - 1] : NULL;
}

/* Name of a server as findings show it. */
static void label_auth(const kw_dns_answer *a, char *buf, size_t cap)
{
    char sv[80];

    kw_dns_server_str(&a->server, sv, sizeof(sv));
    if (a->has_serial)
        snprintf(buf, cap, "%s (serial %u)", sv, (unsigned)a->serial);
    else
        snprintf(buf, cap, "%s", sv);
}

/* The key in a record, briefly: its algorithm, size and the start of
 * the SHA-256 of p=, which tells two keys apart in one line without 400
 * characters of base64. */
static void key_words(const kw_dkim_record *r, char *buf, size_t cap)
{
    unsigned char sha[32];
    char hex[20];

    SHA256(r->p, r->p_len, sha);
    kw_hex(sha, 4, 0, hex);
    snprintf(buf, cap, "%s %d-bit key sha256:%s", kw_dkim_alg_name(r->k),
             r->bits, hex);
}

static int role_is(const kw_dkim_facts *k, const char *role)
{
    return k->role != NULL && strcmp(k->role, role) == 0;
}

/* Equal host names, case and a final dot aside. */
static int same_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la > 0 && a[la - 1] == '.')
        la--;
    if (lb > 0 && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* Is name (SELECTOR._domainkey.DOMAIN) a slot of a managed section with
 * a dedicated zone?  Then want is the CNAME target it must have. */
static int slot_target(const kw_dkim_params *p, const kw_dkim_facts *k,
                       const char *name, char *want, size_t cap)
{
    char owner[600], target[600];
    size_t i;
    int slot;
    kw_diag d;

    for (i = 0; p != NULL && i < p->nrot; i++) {
        const kw_dkim_rot_params *r = &p->rot[i];

        if (r->zone == NULL || strcasecmp(r->domain, k->domain) != 0)
            continue;
        for (slot = 1; slot <= r->slots; slot++)
            if (kw_dkim_slot_cname(r, slot, owner, sizeof(owner), target,
                                   sizeof(target), &d) == 0 &&
                same_name(owner, name)) {
                snprintf(want, cap, "%s", target);
                return 1;
            }
    }
    return 0;
}

/*
 * A slot of a dedicated zone (zone =) is found by receivers only through
 * its one-time CNAME at the mail domain: every server that answered
 * there (the resolver, each authoritative server of the mail domain)
 * must give exactly that CNAME.  A missing or wrong one is a finding
 * naming the record to add.
 */
static void judge_slot_cname(const kw_dkim_facts *k, const kw_dns_survey *sv,
                             const kw_dkim_params *p, const char *name,
                             kw_dkim_findings *out)
{
    char want[600], list[600], fix[1400], lab[120];
    const char *wrong = NULL;
    size_t pos = 0, bad = 0, i;
    int signing = role_is(k, "signing");

    if (!slot_target(p, k, name, want, sizeof(want)))
        return;
    list[0] = '\0';
    for (i = 0; i <= (sv->nsteps > 0 ? sv->steps[0].nauth : 0); i++) {
        const kw_dns_answer *a = i == 0 ? &sv->resolver
                                        : &sv->steps[0].auth[i - 1];

        if (a->status != 0 || same_name(a->cname, want))
            continue;
        if (a->cname[0] != '\0' && wrong == NULL)
            wrong = a->cname;
        if (i == 0) {
            char s[80];

            kw_dns_server_str(&a->server, s, sizeof(s));
            snprintf(lab, sizeof(lab), "resolver %s", s);
        } else {
            label_auth(a, lab, sizeof(lab));
        }
        kw_str_appendf(list, sizeof(list), &pos, "%s%s", bad ? ", " : "",
                       lab);
        bad++;
    }
    if (bad == 0)
        return;
    snprintf(fix, sizeof(fix), "add once to the zone of %s: %s. CNAME %s. "
             "(`keywarden dkim cnames %s` lists every slot's)", k->domain,
             name, want, k->domain);
    if (wrong != NULL)
        add(out, signing ? KS_HEALTH_CRITICAL : KS_HEALTH_WARNING,
            "cname.wrong", bad == 1 ? list : NULL, fix,
            "%s points to %s at %s, not to %s in the dedicated zone where "
            "keywarden publishes the key", name, wrong, list, want);
    else
        add(out, signing ? KS_HEALTH_CRITICAL : KS_HEALTH_WARNING,
            "cname.missing", bad == 1 ? list : NULL, fix,
            "%s has no CNAME to %s at %s: receivers cannot find the key "
            "keywarden publishes in the dedicated zone", name, want, list);
}

void kw_dkim_judge(const kw_dkim_facts *k, const kw_dns_survey *sv,
                   int64_t now, const kw_dkim_params *p,
                   kw_dkim_findings *out)
{
    view *v;
    size_t nv = 0, i, cnt;
    kw_dkim_pub pub;
    int have_key, signing = role_is(k, "signing"),
                  published = role_is(k, "published");
    const kw_dns_survey_step *last = last_step(sv);
    const char *where = sv->name, *first;
    char fix[1400], list[600], name[300], target[300];
    ks_health h;

    /* The clock is the judge's input so the rules may use it; today's
     * DNS rules do not (key age is a local fact of the inventory).  The
     * parameters name a dedicated zone's slots (judge_slot_cname). */
    (void)now;
    memset(out, 0, sizeof(*out));
    snprintf(name, sizeof(name), "%s._domainkey.%s", k->selector, k->domain);
    v = calloc(VIEWS_MAX, sizeof(*v));
    if (v == NULL) {
        add(out, KS_HEALTH_UNKNOWN, "dns.internal", NULL, "",
            "out of memory judging %s", name);
        return;
    }
    have_key = facts_key(k, &pub);
    /* The record belongs where the CNAME chain ends. */
    target[0] = '\0';
    if (sv->nsteps > 1) {
        where = last->name;
        snprintf(target, sizeof(target), "%s", last->name);
    } else if (sv->resolver.cname[0] != '\0') {
        where = sv->resolver.cname;
        snprintf(target, sizeof(target), "%s", sv->resolver.cname);
    }
    if (k->record != NULL && k->record[0] != '\0')
        snprintf(fix, sizeof(fix), "publish %s. TXT \"%s\"", where,
                 k->record);
    else
        snprintf(fix, sizeof(fix), "make the key file readable to "
                 "keywarden, then publish the record it prints at %s.",
                 where);

    v[nv].a = &sv->resolver;
    {
        char s[80];

        kw_dns_server_str(&sv->resolver.server, s, sizeof(s));
        snprintf(v[nv].label, sizeof(v[nv].label), "resolver %s", s);
    }
    nv++;
    for (i = 0; last != NULL && i < last->nauth && nv < VIEWS_MAX; i++) {
        v[nv].a = &last->auth[i];
        v[nv].auth = 1;
        label_auth(&last->auth[i], v[nv].label, sizeof(v[nv].label));
        nv++;
    }
    for (i = 0; i < nv; i++)
        classify(&v[i], &pub, have_key);

    judge_slot_cname(k, sv, p, name, out);
    if (target[0] != '\0')
        add(out, KS_HEALTH_OK, "cname", NULL, "",
            "%s is delegated by CNAME to %s; followed, the record there is "
            "the one judged", name, target);
    if (sv->chain_too_long)
        add(out, KS_HEALTH_UNKNOWN, "dns.cname_chain", NULL,
            "shorten the CNAME chain to the record",
            "the CNAME chain from %s goes on past %d names; the record was "
            "not reached", name, KW_DNS_SURVEY_STEPS);
    for (i = 0; i < sv->nsteps; i++)
        if (sv->steps[i].status != 0 || sv->steps[i].nauth == 0)
            add(out, KS_HEALTH_UNKNOWN, "dns.zone", NULL,
                "check the zone's NS records and that the resolver "
                "answers",
                "the authoritative servers of %s could not be asked: %s",
                sv->steps[i].name,
                sv->steps[i].error[0] != '\0' ? sv->steps[i].error
                                              : "no servers found");
        else if (sv->steps[i].error[0] != '\0')
            /* Some servers were asked, others not (an NS name without an
             * address, a CNAME loop): what the others serve is unknown,
             * so the answers at hand cannot make the selector ok. */
            add(out, KS_HEALTH_UNKNOWN, "dns.zone", NULL,
                "check the zone's NS records and that the resolver "
                "answers",
                "the survey of %s is incomplete: %s",
                sv->steps[i].name, sv->steps[i].error);
    for (i = 0; i < sv->nsteps; i++)
        if (sv->steps[i].skipped[0] != '\0')
            add(out, KS_HEALTH_OK, "dns.skipped", NULL, "",
                "not asked for %s: this host has no route to %s",
                sv->steps[i].name, sv->steps[i].skipped);
    /* Each server that did not answer, with the query it was asked. */
    for (i = 0; i < nv; i++)
        if (v[i].st == ST_FAIL)
            add(out, KS_HEALTH_UNKNOWN, "dns.unanswered", v[i].label,
                "check that the server runs and serves the zone",
                "%s did not answer %s TXT%s: %s", v[i].label,
                i == 0 ? name : where,
                v[i].a->status == 0 ? " with authority" : "", v[i].why);

    /* The servers of the chain's earlier names: they only point on, but
     * one that does not answer is as unknown as any. */
    for (i = 0; i + 1 < sv->nsteps; i++) {
        size_t j;

        for (j = 0; j < sv->steps[i].nauth; j++) {
            const kw_dns_answer *a = &sv->steps[i].auth[j];
            char lab[120];

            if (a->status == 0 && a->aa)
                continue;
            label_auth(a, lab, sizeof(lab));
            add(out, KS_HEALTH_UNKNOWN, "dns.unanswered", lab,
                "check that the server runs and serves the zone",
                "%s did not answer %s TXT%s: %s", lab, sv->steps[i].name,
                a->status == 0 ? " with authority" : "",
                a->status == 0 ? "it answered without authority (AA=0: a "
                                 "lame delegation; it does not serve the "
                                 "zone)"
                : a->error[0] != '\0' ? a->error
                                      : kw_strerror(a->status));
        }
    }
    /* Missing: critical for the signing key (every signature fails),
     * a warning for a published one (a rotation may still need it). */
    if ((cnt = servers_in(v, nv, ST_NONE, list, sizeof(list), &first)) > 0 &&
        (signing || published))
        add(out, signing ? KS_HEALTH_CRITICAL : KS_HEALTH_WARNING,
            "missing", cnt == 1 ? first : NULL, fix,
            "no DKIM record at %s (NXDOMAIN or no TXT) at %s%s", where, list,
            signing ? ": every message signed with it fails DKIM" : "");
    if ((cnt = servers_in(v, nv, ST_DUP, list, sizeof(list), &first)) > 0)
        add(out, signing ? KS_HEALTH_CRITICAL : KS_HEALTH_WARNING,
            "duplicate", cnt == 1 ? first : NULL, fix,
            "two or more DKIM records at %s at %s: verifiers pick either or "
            "fail; keep only one", where, list);
    if ((cnt = servers_in(v, nv, ST_BAD, list, sizeof(list), &first)) > 0) {
        for (i = 0; i < nv && v[i].st != ST_BAD; i++)
            ;
        add(out, signing ? KS_HEALTH_CRITICAL : KS_HEALTH_WARNING, "syntax",
            cnt == 1 ? first : NULL, fix,
            "the DKIM record at %s does not parse at %s: %s", where, list,
            v[i].why);
    }
    if ((cnt = servers_in(v, nv, ST_REVOKED, list, sizeof(list), &first)) >
        0) {
        h = signing ? KS_HEALTH_CRITICAL : KS_HEALTH_OK;
        add(out, h, "revoked", cnt == 1 ? first : NULL,
            signing ? fix : "",
            signing ? "the record at %s is revoked (empty p=) at %s, but "
                      "the signer still signs with this key"
                    : "the record at %s is revoked (empty p=) at %s: "
                      "retired",
            where, list);
    }
    if ((cnt = servers_in(v, nv, ST_OTHER, list, sizeof(list), &first)) > 0) {
        char served[80], right[600];
        const char *rf;

        for (i = 0; i < nv && v[i].st != ST_OTHER; i++)
            ;
        key_words(&v[i].rec, served, sizeof(served));
        if (servers_in(v, nv, ST_MATCH, right, sizeof(right), &rf) == 0)
            snprintf(right, sizeof(right), "no server");
        h = signing ? KS_HEALTH_CRITICAL
            : published ? KS_HEALTH_WARNING : KS_HEALTH_OK;
        add(out, h, "mismatch", cnt == 1 ? first : NULL, fix,
            "p= at %s is not the key in the key file: %s serve%s another "
            "key (%s); %s serve%s the key file's", where, list,
            cnt == 1 ? "s" : "", served, right,
            strchr(right, ',') != NULL ? "" : "s");
    }
    /* The record as receivers see it: t=y, size, algorithm. */
    for (i = 0; i < nv; i++)
        if (v[i].st == ST_MATCH || v[i].st == ST_VALID)
            break;
    if (i < nv) {
        const kw_dkim_record *r = &v[i].rec;

        if (r->t_y && signing)
            add(out, KS_HEALTH_WARNING, "testing", NULL, fix,
                "the record at %s has t=y (testing): receivers may treat "
                "signatures as unsigned", where);
        /* The key file's size is a local fact health already judges;
         * only a key we could not read is judged by its record. */
        if (!have_key && r->k == KW_DKIM_ALG_RSA && r->bits > 0 &&
            r->bits <= 1024 && (signing || published))
            add(out, r->bits < 1024 ? KS_HEALTH_CRITICAL : KS_HEALTH_WARNING,
                "weak", NULL,
                "generate a 2048-bit key under a new selector, publish it, "
                "then sign with it",
                "the record at %s holds a %d-bit RSA key%s", where, r->bits,
                r->bits < 1024 ? ": receivers ignore it (RFC 8301)"
                               : ": the minimum RFC 8301 allows");
        for (cnt = 0; cnt < r->n_warn; cnt++)
            add(out, KS_HEALTH_WARNING, "record", NULL, fix,
                "the record at %s: %s", where, r->warn[cnt].msg);
        if (v[i].st == ST_MATCH)
            add(out, KS_HEALTH_OK, "match", NULL, "",
                "%s serves the key file's %s key", where,
                kw_dkim_alg_name(r->k));
    }
    if (signing && k->algorithm != NULL &&
        strcmp(k->algorithm, "ed25519") == 0 && !k->rsa_beside)
        add(out, KS_HEALTH_WARNING, "ed25519_alone", NULL,
            "sign with an RSA key too (a second selector): OpenDKIM and "
            "rspamd sign with both",
            "%s signs with Ed25519 only: many receivers cannot verify it "
            "yet and treat the mail as unsigned", k->domain);
    /* Secondaries behind their primary. */
    {
        char words[1000];

        if (kw_dns_survey_compare(sv, words, sizeof(words)) ==
            KW_DNS_DISAGREE) {
            const char *lag = NULL;
            uint32_t low = 0;

            for (i = 1; i < nv; i++)
                if (v[i].a->has_serial &&
                    (lag == NULL || v[i].a->serial < low)) {
                    lag = v[i].label;
                    low = v[i].a->serial;
                }
            add(out, KS_HEALTH_WARNING, "dns.disagree", lag,
                "check the zone transfers to the server with the lowest "
                "serial (its logs, its notify and allow-transfer settings)",
                "the authoritative servers disagree about %s: %s", where,
                words);
        }
    }
    kw_dkim_findings_sort(out);
    free(v);
}

/* ----- SPF and DMARC ----- */

static void spf_problems(const kw_spf_node *n, kw_dkim_findings *out,
                         int depth)
{
    size_t i;

    if (n == NULL || depth > 24)
        return;
    for (i = 0; i < n->nproblems; i++) {
        const kw_spf_problem *pr = &n->problems[i];

        switch (pr->sev) {
        case KW_SPF_SEV_PERMERROR:
            add(out, KS_HEALTH_CRITICAL, "spf.permerror", NULL,
                "fix the record so that every branch evaluates",
                "SPF of %s: %s", n->name, pr->text);
            break;
        case KW_SPF_SEV_TEMPERROR:
            add(out, KS_HEALTH_UNKNOWN, "spf.temperror", NULL,
                "check the name servers of the name that failed",
                "SPF of %s: %s", n->name, pr->text);
            break;
        default:
            add(out, KS_HEALTH_WARNING, "spf.warning", NULL, "",
                "SPF of %s: %s", n->name, pr->text);
            break;
        }
    }
    for (i = 0; i < n->nkids; i++)
        spf_problems(n->kids[i], out, depth + 1);
}

/* The DMARC records at name: 0 with the texts found, KW_ENOTFOUND, or
 * why the lookup failed. */
static int dmarc_at(const kw_dns_lookup *lk, const char *name,
                    kw_dns_rrset *set, size_t *ndmarc, size_t *which,
                    kw_diag *d)
{
    int r = lk->fn(lk->ctx, name, KW_DNS_TXT, set, d);
    size_t i;

    *ndmarc = 0;
    if (r != 0)
        return r;
    for (i = 0; i < set->n; i++)
        if (kw_dmarc_record_is_dmarc(kw_dns_rrset_rec(set, i),
                                     set->len[i])) {
            if (*ndmarc == 0)
                *which = i;
            (*ndmarc)++;
        }
    return 0;
}

static void judge_dmarc(const kw_dns_lookup *lk, kw_dkim_domain *dom,
                        kw_dns_rrset *set)
{
    kw_dkim_findings *out = &dom->findings;
    char org[256], name[300];
    size_t nd = 0, which = 0, i;
    kw_dmarc_record rec;
    kw_diag d;
    int r;

    snprintf(name, sizeof(name), "_dmarc.%s", dom->domain);
    d.msg[0] = '\0';
    r = dmarc_at(lk, name, set, &nd, &which, &d);
    if ((r == 0 || r == KW_ENOTFOUND) && nd == 0 &&
        kw_dmarc_org_domain(dom->domain, org, sizeof(org), NULL) == 0 &&
        strcasecmp(org, dom->domain) != 0) {
        snprintf(name, sizeof(name), "_dmarc.%s", org);
        d.msg[0] = '\0';
        r = dmarc_at(lk, name, set, &nd, &which, &d);
    }
    if (r != 0 && r != KW_ENOTFOUND) {
        dom->dmarc_status = r;
        snprintf(dom->dmarc_error, sizeof(dom->dmarc_error), "%s", d.msg);
        add(out, KS_HEALTH_UNKNOWN, "dmarc.temperror", NULL,
            "check the name servers of the domain",
            "DMARC of %s could not be read: %s TXT: %s", dom->domain, name,
            d.msg);
        return;
    }
    if (nd == 0) {
        add(out, KS_HEALTH_WARNING, "dmarc.none", NULL,
            "publish a DMARC record, e.g. _dmarc.DOMAIN. TXT "
            "\"v=DMARC1; p=none; rua=mailto:dmarc@DOMAIN\", then tighten p=",
            "no DMARC record at _dmarc.%s or its organizational domain",
            dom->domain);
        return;
    }
    snprintf(dom->dmarc_name, sizeof(dom->dmarc_name), "%s", name);
    snprintf(dom->dmarc_text, sizeof(dom->dmarc_text), "%s",
             kw_dns_rrset_rec(set, which));
    if (nd > 1) {
        add(out, KS_HEALTH_WARNING, "dmarc.multiple", NULL,
            "keep one v=DMARC1 record",
            "%zu DMARC records at %s: receivers apply no policy", nd, name);
        return;
    }
    d.msg[0] = '\0';
    if (kw_dmarc_record_parse(kw_dns_rrset_rec(set, which), set->len[which],
                              &rec, &d) != 0) {
        add(out, KS_HEALTH_WARNING, "dmarc.syntax", NULL,
            "correct the record: receivers discard it",
            "the DMARC record at %s does not parse: %s", name, d.msg);
        return;
    }
    snprintf(dom->dmarc_policy, sizeof(dom->dmarc_policy), "%s",
             kw_dmarc_policy_name(rec.p));
    for (i = 0; i < rec.n_warn; i++)
        add(out, KS_HEALTH_WARNING,
            rec.warn[i].code == KW_DMARC_W_P_NONE ? "dmarc.p_none"
                                                  : "dmarc.warning",
            NULL,
            rec.warn[i].code == KW_DMARC_W_P_NONE
                ? "once the reports show legitimate mail passing, set "
                  "p=quarantine, then p=reject"
                : "",
            "DMARC at %s: %s", name, rec.warn[i].msg);
    /* Found at the organizational domain with adkim=s: signatures with
     * d=DOMAIN do not align with mail From: the organizational domain. */
    if (strcasecmp(name + 7, dom->domain) != 0 && rec.adkim == 's')
        add(out, KS_HEALTH_WARNING, "dmarc.alignment", NULL,
            "sign mail From: the organizational domain with a key of that "
            "domain, or relax adkim",
            "DMARC at %s has adkim=s: signatures with d=%s align only with "
            "mail From: %s itself, not From: %s",
            name, dom->domain, dom->domain, name + 7);
}

int kw_dkim_judge_domain(const kw_dns_lookup *lookup, const char *domain,
                         const char *const *outbound, size_t nout,
                         kw_dkim_domain *out, kw_diag *d)
{
    kw_dns_rrset *set;
    size_t i;
    int r;

    memset(out, 0, sizeof(*out));
    if (lookup == NULL || domain == NULL || (nout > 0 && outbound == NULL))
        return kw_diag_set(d, KW_EINVAL, "SPF/DMARC check: bad arguments");
    snprintf(out->domain, sizeof(out->domain), "%s", domain);
    if ((set = malloc(sizeof(*set))) == NULL ||
        (nout > 0 && ((out->out_ip = calloc(nout, sizeof(*out->out_ip))) ==
                          NULL ||
                      (out->out_check = calloc(nout,
                                               sizeof(*out->out_check))) ==
                          NULL))) {
        free(set);
        kw_dkim_domain_clear(out);
        return kw_diag_set(d, KW_ENOMEM, "out of memory checking %s",
                           domain);
    }
    r = kw_spf_walk(lookup, domain, NULL, &out->spf, d);
    if (r == KW_ENOMEM) {
        free(set);
        kw_dkim_domain_clear(out);
        return r;
    }
    if (r != 0)
        add(&out->findings, KS_HEALTH_UNKNOWN, "spf.temperror", NULL, "",
            "SPF of %s could not be walked: %s", domain,
            d != NULL ? d->msg : kw_strerror(r));
    else
        spf_problems(out->spf.root, &out->findings, 0);
    /* The walk has no record to check addresses against when it found
     * none, or two; check_host would only repeat that. */
    for (i = 0; i < nout && out->spf.root != NULL &&
                out->spf.root->record[0] != '\0';
         i++) {
        kw_spf_check *c = &out->out_check[i];
        char sender[300];

        snprintf(out->out_ip[i], sizeof(out->out_ip[i]), "%s", outbound[i]);
        snprintf(sender, sizeof(sender), "postmaster@%s", domain);
        out->nout++;
        if (kw_spf_check_host(lookup, outbound[i], sender, domain, c,
                              NULL) != 0) {
            c->result = KW_SPF_PERMERROR;
            snprintf(c->reason, sizeof(c->reason), "not an address");
        }
        switch (c->result) {
        case KW_SPF_PASS:
            add(&out->findings, KS_HEALTH_OK, "spf.pass", NULL, "",
                "SPF of %s passes outbound address %s (%s)", domain,
                outbound[i], c->reason);
            break;
        case KW_SPF_FAIL:
        case KW_SPF_SOFTFAIL:
            add(&out->findings,
                c->result == KW_SPF_FAIL ? KS_HEALTH_CRITICAL
                                         : KS_HEALTH_WARNING,
                c->result == KW_SPF_FAIL ? "spf.fail" : "spf.softfail",
                NULL, "add the address to the record (ip4:/ip6:)",
                "SPF of %s: outbound address %s gets %s (%s): receivers %s "
                "mail this server sends",
                domain, outbound[i], kw_spf_result_name(c->result), c->reason,
                c->result == KW_SPF_FAIL ? "reject" : "mark as suspicious");
            break;
        case KW_SPF_TEMPERROR:
            add(&out->findings, KS_HEALTH_UNKNOWN, "spf.temperror", NULL, "",
                "SPF of %s for outbound address %s: TempError (%s)", domain,
                outbound[i], c->reason);
            break;
        case KW_SPF_PERMERROR:
            add(&out->findings, KS_HEALTH_CRITICAL, "spf.permerror", NULL,
                "", "SPF of %s for outbound address %s: PermError (%s)",
                domain, outbound[i], c->reason);
            break;
        default:
            add(&out->findings, KS_HEALTH_WARNING, "spf.neutral", NULL,
                "add the address to the record (ip4:/ip6:)",
                "SPF of %s for outbound address %s: %s (%s): not "
                "authorized", domain, outbound[i],
                kw_spf_result_name(c->result), c->reason);
            break;
        }
    }
    judge_dmarc(lookup, out, set);
    free(set);
    kw_dkim_findings_sort(&out->findings);
    return 0;
}

void kw_dkim_domain_clear(kw_dkim_domain *dom)
{
    if (dom == NULL)
        return;
    kw_spf_tree_free(&dom->spf);
    free(dom->out_ip);
    free(dom->out_check);
    memset(dom, 0, sizeof(*dom));
}
