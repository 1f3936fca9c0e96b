/*
 * dnssec_key.c: names of roles and stages, and the RFC 7583 stage of a key
 * from its timing data.
 */
#include "dnssec_key.h"

#include "../common/kw_str.h"
#include "../keystore/ks_health.h"

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

/* The stage derivation lives in keystore (ks_dnssec_stage), which health
 * and the listing call without reaching up into dnssec/: one function,
 * and these say the numbers are the same. */
_Static_assert((int)KW_DNSSEC_ST_GENERATED == (int)KS_DNSSEC_ST_GENERATED &&
                   (int)KW_DNSSEC_ST_REMOVED == (int)KS_DNSSEC_ST_REMOVED &&
                   (int)KW_DNSSEC_ST_READY == (int)KS_DNSSEC_ST_READY,
               "kw_dnssec_stage numbers ks_dnssec_stage's stages");
_Static_assert(KW_DNSSEC_PENDING == KS_DNSSEC_PENDING,
               "one pending time");

const char *kw_dnssec_stage_name(kw_dnssec_stage s)
{
    return ks_dnssec_stage_word((int)s);
}

kw_dnssec_stage kw_dnssec_key_stage(const kw_dnssec_key *k, int64_t now,
                                    kw_dnssec_stage *next, int64_t *next_at)
{
    ks_dnssec_timing t = {
        .ksk = k->role == KW_DNSSEC_KSK || k->role == KW_DNSSEC_CSK,
        .publish = k->publish,
        .activate = k->activate,
        .inactive = k->inactive,
        .delete_ = k->delete_,
        .sync_publish = k->sync_publish,
    };
    int nx = 0;
    kw_dnssec_stage cur = (kw_dnssec_stage)ks_dnssec_stage(&t, now, &nx,
                                                           next_at);

    if (next)
        *next = (kw_dnssec_stage)nx;
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
