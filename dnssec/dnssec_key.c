/*
 * dnssec_key.c: names of roles and stages, and the RFC 7583 stage of a key
 * from its timing data.
 */
#include "dnssec_key.h"

#include "../common/kw_str.h"

#include <ctype.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *kw_dnssec_role_name(kw_dnssec_role r)
{
    switch (r) {
    case KW_DNSSEC_KSK: return "ksk";
    case KW_DNSSEC_ZSK: return "zsk";
    case KW_DNSSEC_CSK: return "csk";
    }
    return "?";
}

const char *kw_dnssec_stage_name(kw_dnssec_stage s)
{
    switch (s) {
    case KW_DNSSEC_ST_GENERATED: return "generated";
    case KW_DNSSEC_ST_PUBLISHED: return "published";
    case KW_DNSSEC_ST_READY: return "ready";
    case KW_DNSSEC_ST_ACTIVE: return "active";
    case KW_DNSSEC_ST_RETIRED: return "retired";
    case KW_DNSSEC_ST_REMOVED: return "removed";
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
    kw_dnssec_stage stage;
} stage_edge;

static size_t stage_edges(const kw_dnssec_key *k, stage_edge e[5])
{
    size_t n = 0;
    int ksk = k->role == KW_DNSSEC_KSK || k->role == KW_DNSSEC_CSK;
    int64_t active = k->activate;

    if (k->publish)
        e[n++] = (stage_edge){ k->publish, KW_DNSSEC_ST_PUBLISHED };
    if (ksk && k->sync_publish && k->activate && k->sync_publish > k->activate) {
        e[n++] = (stage_edge){ k->activate, KW_DNSSEC_ST_READY };
        active = k->sync_publish;
    }
    if (active)
        e[n++] = (stage_edge){ active, KW_DNSSEC_ST_ACTIVE };
    if (k->inactive)
        e[n++] = (stage_edge){ k->inactive, KW_DNSSEC_ST_RETIRED };
    if (k->delete_)
        e[n++] = (stage_edge){ k->delete_, KW_DNSSEC_ST_REMOVED };
    return n;
}

/* The latest stage whose edge is at or before now: edges given out of
 * order (activate before publish) never move a key backwards. */
static kw_dnssec_stage stage_at(const stage_edge *e, size_t n, int64_t now)
{
    kw_dnssec_stage cur = KW_DNSSEC_ST_GENERATED;

    for (size_t i = 0; i < n; i++)
        if (e[i].at <= now && e[i].stage > cur)
            cur = e[i].stage;
    return cur;
}

kw_dnssec_stage kw_dnssec_key_stage(const kw_dnssec_key *k, int64_t now,
                                    kw_dnssec_stage *next, int64_t *next_at)
{
    stage_edge e[5];
    size_t n = stage_edges(k, e);
    kw_dnssec_stage cur = stage_at(e, n, now);
    int64_t nx_at = 0;

    /* The next transition is the earliest edge after now that leads to a
     * later stage; the stage then is what all edges up to it make. */
    for (size_t i = 0; i < n; i++)
        if (e[i].at > now && e[i].stage > cur && (nx_at == 0 || e[i].at < nx_at))
            nx_at = e[i].at;
    if (next)
        *next = nx_at ? stage_at(e, n, nx_at) : 0;
    if (next_at)
        *next_at = nx_at == KW_DNSSEC_PENDING ? 0 : nx_at;
    return cur;
}

/* A zone name as keywarden keeps it: lower case, no trailing dot (the
 * root stays "."). -1 when it is too long or empty. */
int kw_dnssec_zone_norm(const char *in, size_t n, char out[256])
{
    size_t label = 0;

    if (n == 1 && in[0] == '.') {
        memcpy(out, ".", 2);
        return 0;
    }
    if (n > 1 && in[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return -1;
    /* LDH labels (underscores too, as in _dnssec names), 1..63 octets:
     * an empty label would make "a..b" or a name with two trailing dots. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];

        if (c == '.') {
            if (label == 0)
                return -1;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return -1;
        } else {
            return -1;
        }
        out[i] = (char)tolower(c);
    }
    if (label == 0)
        return -1;
    out[n] = '\0';
    return 0;
}

/* "owner [ttl] [class] DNSKEY rdata", as BIND's .key files and keymgr's
 * dnskey command print it. */
int kw_dnssec_key_parse_rr(char *line, kw_dnssec_key *k, kw_diag *d)
{
    char *save = NULL, *tok = strtok_r(line, " \t", &save), *rest;

    if (!tok || kw_dnssec_zone_norm(tok, strlen(tok), k->zone) < 0)
        return kw_diag_set(d, KW_EPARSE, "no owner name a zone can have");
    tok = strtok_r(NULL, " \t", &save);
    if (tok && isdigit((unsigned char)tok[0]) && strspn(tok, "0123456789") == strlen(tok))
        tok = strtok_r(NULL, " \t", &save);
    if (tok && strcasecmp(tok, "IN") == 0)
        tok = strtok_r(NULL, " \t", &save);
    if (!tok || strcasecmp(tok, "DNSKEY") != 0)
        return kw_diag_set(d, KW_EPARSE, "a %.20s record, not a DNSKEY",
                           tok ? tok : "truncated");
    rest = save;
    while (rest && (*rest == ' ' || *rest == '\t'))
        rest++;
    if (!rest || !*rest)
        return kw_diag_set(d, KW_EPARSE, "DNSKEY without its data (truncated?)");
    return kw_dnssec_key_set_dnskey(k, rest, d);
}

/* ldns parses the record with an owner, TTL and class of our own; only
 * the RDATA is the caller's. */
int kw_dnssec_key_set_dnskey(kw_dnssec_key *k, const char *rdata, kw_diag *d)
{
    char line[sizeof k->dnskey + 32];
    ldns_rr *rr = NULL;
    size_t pos = 0;
    int rc = 0;

    if (strlen(rdata) >= sizeof k->dnskey)
        return kw_diag_set(d, KW_ETOOBIG, "DNSKEY longer than %zu characters",
                           sizeof k->dnskey - 1);
    snprintf(line, sizeof line, "k. 0 IN DNSKEY %s", rdata);
    if (ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL) != LDNS_STATUS_OK ||
        ldns_rr_get_type(rr) != LDNS_RR_TYPE_DNSKEY || ldns_rr_rd_count(rr) != 4) {
        rc = kw_diag_set(d, KW_EPARSE, "not a DNSKEY record (flags protocol "
                         "algorithm base64-key): \"%.80s\"", rdata);
        goto out;
    }
    if (ldns_rdf2native_int8(ldns_rr_rdf(rr, 1)) != 3) {
        rc = kw_diag_set(d, KW_EPARSE, "DNSKEY protocol is %u, RFC 4034 "
                         "allows only 3", ldns_rdf2native_int8(ldns_rr_rdf(rr, 1)));
        goto out;
    }
    k->dnskey[0] = '\0';
    for (size_t i = 0; i < 4; i++) {
        char *t = ldns_rdf2str(ldns_rr_rdf(rr, i));

        if (!t) {
            rc = kw_diag_set(d, KW_ENOMEM, "out of memory printing a DNSKEY");
            goto out;
        }
        rc = kw_str_appendf(k->dnskey, sizeof k->dnskey, &pos, "%s%s",
                            i ? " " : "", t);
        free(t);
        if (rc < 0) {
            rc = kw_diag_set(d, KW_ETOOBIG, "DNSKEY longer than %zu characters",
                             sizeof k->dnskey - 1);
            goto out;
        }
    }
    k->flags = ldns_rdf2native_int16(ldns_rr_rdf(rr, 0));
    k->algorithm = ldns_rdf2native_int8(ldns_rr_rdf(rr, 2));
    k->bits = (int)ldns_rr_dnskey_key_size(rr);
    k->tag = ldns_calc_keytag(rr);
out:
    ldns_rr_free(rr);
    return rc;
}
