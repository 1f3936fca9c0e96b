/*
 * zsign.c: a zone signed in-process with ldns (see zsign.h).
 */
#include "zsign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ldns_rdf *dname(const char *s)
{
    char buf[300];
    size_t l = strlen(s);

    snprintf(buf, sizeof(buf), "%s%s", s, l > 0 && s[l - 1] == '.' ? ""
                                                                  : ".");
    return ldns_dname_new_frm_str(buf);
}

/* Every record of the zone, the SOA first (borrowed pointers). */
static ldns_rr_list *all_rrs(const zs_zone *z)
{
    ldns_rr_list *l = ldns_rr_list_new();
    ldns_rr_list *rrs = ldns_zone_rrs(z->z);
    size_t i;

    if (ldns_zone_soa(z->z) != NULL)
        ldns_rr_list_push_rr(l, ldns_zone_soa(z->z));
    for (i = 0; i < ldns_rr_list_rr_count(rrs); i++)
        ldns_rr_list_push_rr(l, ldns_rr_list_rr(rrs, i));
    return l;
}

static int covers(const ldns_rr *rr, ldns_rr_type t)
{
    return ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG &&
           ldns_rr_rrsig_typecovered(rr) != NULL &&
           ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == t;
}

/* Copies into pkt's section the records at owner of type t (and their
 * RRSIGs).  Returns how many records of type t were copied. */
static size_t copy_set(ldns_pkt *pkt, ldns_pkt_section sec,
                       const ldns_rr_list *all, const ldns_rdf *owner,
                       ldns_rr_type t)
{
    size_t i, n = 0;

    for (i = 0; i < ldns_rr_list_rr_count(all); i++) {
        ldns_rr *rr = ldns_rr_list_rr(all, i);

        if (ldns_dname_compare(ldns_rr_owner(rr), owner) != 0)
            continue;
        if (ldns_rr_get_type(rr) == t)
            n++;
        else if (!covers(rr, t))
            continue;
        ldns_pkt_push_rr(pkt, sec, ldns_rr_clone(rr));
    }
    return n;
}

int zs_sign(const char *origin, const char *text, int64_t inc, int64_t exp,
            zs_zone *z)
{
    char *buf;
    size_t cap = strlen(text) + 600;
    FILE *f;
    ldns_zone *plain = NULL;
    ldns_key *k;
    ldns_rr *rr;
    int line = 0;
    ldns_status st;

    memset(z, 0, sizeof(*z));
    z->origin = dname(origin);
    buf = malloc(cap);
    if (z->origin == NULL || buf == NULL) {
        free(buf);
        fprintf(stderr, "zsign: %s: out of memory\n", origin);
        return -1;
    }
    snprintf(buf, cap, "$ORIGIN %s%s\n$TTL 10\n%s", origin,
             origin[strlen(origin) - 1] == '.' ? "" : ".", text);
    f = fmemopen(buf, strlen(buf), "r");
    if (f == NULL) {
        free(buf);
        return -1;
    }
    st = ldns_zone_new_frm_fp_l(&plain, f, z->origin, 10, LDNS_RR_CLASS_IN,
                                &line);
    fclose(f);
    free(buf);
    if (st != LDNS_STATUS_OK) {
        fprintf(stderr, "zsign: %s: line %d: %s\n", origin, line,
                ldns_get_errorstr_by_id(st));
        return -1;
    }
    k = ldns_key_new_frm_algorithm(LDNS_SIGN_ECDSAP256SHA256, 256);
    if (k == NULL) {
        ldns_zone_deep_free(plain);
        fprintf(stderr, "zsign: %s: cannot make a key\n", origin);
        return -1;
    }
    ldns_key_set_pubkey_owner(k, ldns_rdf_clone(z->origin));
    ldns_key_set_flags(k, 257);
    ldns_key_set_inception(k, (uint32_t)inc);
    ldns_key_set_expiration(k, (uint32_t)exp);
    rr = ldns_key2rr(k);
    ldns_key_set_keytag(k, ldns_calc_keytag(rr));
    ldns_rr_set_ttl(rr, 10);
    z->dnskey = rr;
    z->keys = ldns_key_list_new();
    ldns_key_list_push_key(z->keys, k);
    ldns_zone_push_rr(plain, ldns_rr_clone(rr));
    z->z = ldns_zone_sign(plain, z->keys);
    ldns_zone_deep_free(plain);
    if (z->z == NULL) {
        fprintf(stderr, "zsign: %s: ldns_zone_sign failed\n", origin);
        zs_free(z);
        return -1;
    }
    return 0;
}

int zs_ds(const zs_zone *z, char *buf, size_t cap)
{
    ldns_rr *ds = ldns_key_rr2ds(z->dnskey, LDNS_SHA256);
    char *s;
    size_t l;

    if (ds == NULL)
        return -1;
    ldns_rr_set_ttl(ds, 10);
    s = ldns_rr2str(ds);
    ldns_rr_free(ds);
    if (s == NULL)
        return -1;
    l = strlen(s);
    while (l > 0 && (s[l - 1] == '\n' || s[l - 1] == ' '))
        s[--l] = '\0';
    snprintf(buf, cap, "%s", s);
    free(s);
    return l < cap ? 0 : -1;
}

int zs_write(const zs_zone *z, const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        perror(path);
        return -1;
    }
    ldns_zone_print(f, z->z);
    return fclose(f) == 0 ? 0 : -1;
}

int zs_tamper(zs_zone *z, const char *owner, int type, const char *rdata)
{
    ldns_rdf *o = dname(owner);
    ldns_rr_list *rrs = ldns_zone_rrs(z->z);
    size_t i, n = 0;

    for (i = 0; o != NULL && i < ldns_rr_list_rr_count(rrs); i++) {
        ldns_rr *rr = ldns_rr_list_rr(rrs, i), *nrr = NULL;
        char *os, line[1200];

        if (ldns_rr_get_type(rr) != (ldns_rr_type)type ||
            ldns_dname_compare(ldns_rr_owner(rr), o) != 0)
            continue;
        os = ldns_rdf2str(o);
        snprintf(line, sizeof(line), "%s %u IN %s %s", os,
                 ldns_rr_ttl(rr), ldns_rr_descript((uint16_t)type)->_name,
                 rdata);
        free(os);
        if (ldns_rr_new_frm_str(&nrr, line, 0, NULL, NULL) !=
            LDNS_STATUS_OK)
            break;
        ldns_rr_free(ldns_rr_list_set_rr(rrs, nrr, i));
        n++;
    }
    ldns_rdf_deep_free(o);
    return n > 0 ? 0 : -1;
}

int zs_strip(zs_zone *z, const char *owner, int type)
{
    ldns_rdf *o = dname(owner);
    ldns_rr_list *rrs = ldns_zone_rrs(z->z), *keep = ldns_rr_list_new();
    size_t i, n = 0;

    for (i = 0; o != NULL && i < ldns_rr_list_rr_count(rrs); i++) {
        ldns_rr *rr = ldns_rr_list_rr(rrs, i);

        if (covers(rr, (ldns_rr_type)type) &&
            ldns_dname_compare(ldns_rr_owner(rr), o) == 0) {
            ldns_rr_free(rr);
            n++;
        } else {
            ldns_rr_list_push_rr(keep, rr);
        }
    }
    ldns_rdf_deep_free(o);
    /* The zone keeps the survivors: its old list goes, not its RRs. */
    ldns_rr_list_free(rrs);
    ldns_zone_set_rrs(z->z, keep);
    return n > 0 ? 0 : -1;
}

int zs_resign(zs_zone *z, const char *owner, int type, int64_t inc,
              int64_t exp)
{
    ldns_rdf *o = dname(owner);
    ldns_rr_list *rrs, *set = ldns_rr_list_new(), *sigs;
    ldns_key *k = ldns_key_list_key(z->keys, 0);
    uint32_t oi = ldns_key_inception(k), oe = ldns_key_expiration(k);
    size_t i;

    (void)zs_strip(z, owner, type);
    rrs = ldns_zone_rrs(z->z);
    for (i = 0; o != NULL && i < ldns_rr_list_rr_count(rrs); i++) {
        ldns_rr *rr = ldns_rr_list_rr(rrs, i);

        if (ldns_rr_get_type(rr) == (ldns_rr_type)type &&
            ldns_dname_compare(ldns_rr_owner(rr), o) == 0)
            ldns_rr_list_push_rr(set, rr);
    }
    ldns_rdf_deep_free(o);
    ldns_key_set_inception(k, (uint32_t)inc);
    ldns_key_set_expiration(k, (uint32_t)exp);
    sigs = ldns_rr_list_rr_count(set) > 0 ? ldns_sign_public(set, z->keys)
                                          : NULL;
    ldns_key_set_inception(k, oi);
    ldns_key_set_expiration(k, oe);
    ldns_rr_list_free(set);
    if (sigs == NULL)
        return -1;
    for (i = 0; i < ldns_rr_list_rr_count(sigs); i++)
        ldns_zone_push_rr(z->z, ldns_rr_list_rr(sigs, i));
    ldns_rr_list_free(sigs);
    return 0;
}

int zs_answer(const zs_zone *z, const char *qname, int qtype, uint8_t **wire,
              size_t *len)
{
    ldns_rdf *q = dname(qname), *wild = NULL;
    ldns_rr_list *all = all_rrs(z);
    ldns_pkt *p;
    size_t i;
    int exists = 0, rc = -1;

    if (q == NULL)
        goto out;
    p = ldns_pkt_query_new(ldns_rdf_clone(q), (ldns_rr_type)qtype,
                           LDNS_RR_CLASS_IN, 0);
    ldns_pkt_set_qr(p, 1);
    ldns_pkt_set_aa(p, 1);
    for (i = 0; i < ldns_rr_list_rr_count(all); i++)
        exists |= ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(all, i)),
                                     q) == 0;
    if (copy_set(p, LDNS_SECTION_ANSWER, all, q, (ldns_rr_type)qtype) == 0) {
        /* NODATA or NXDOMAIN: the SOA and the NSEC records that prove it
         * (RFC 4035 3.1.3). */
        (void)copy_set(p, LDNS_SECTION_AUTHORITY, all, z->origin,
                       LDNS_RR_TYPE_SOA);
        if (exists) {
            (void)copy_set(p, LDNS_SECTION_AUTHORITY, all, q,
                           LDNS_RR_TYPE_NSEC);
        } else {
            ldns_pkt_set_rcode(p, LDNS_RCODE_NXDOMAIN);
            wild = ldns_dname_new_frm_str("*");
            (void)ldns_dname_cat(wild, z->origin);
            for (i = 0; i < ldns_rr_list_rr_count(all); i++) {
                ldns_rr *rr = ldns_rr_list_rr(all, i);

                if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NSEC &&
                    (ldns_nsec_covers_name(rr, q) ||
                     ldns_nsec_covers_name(rr, wild)))
                    (void)copy_set(p, LDNS_SECTION_AUTHORITY, all,
                                   ldns_rr_owner(rr), LDNS_RR_TYPE_NSEC);
            }
        }
    }
    rc = ldns_pkt2wire(wire, p, len) == LDNS_STATUS_OK ? 0 : -1;
    ldns_pkt_free(p);
out:
    ldns_rdf_deep_free(wild);
    ldns_rdf_deep_free(q);
    ldns_rr_list_free(all);
    return rc;
}

void zs_free(zs_zone *z)
{
    ldns_zone_deep_free(z->z);
    ldns_key_list_free(z->keys);
    ldns_rr_free(z->dnskey);
    ldns_rdf_deep_free(z->origin);
    memset(z, 0, sizeof(*z));
}
