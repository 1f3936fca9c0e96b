/*
 * make_dnssec_seeds.c: seeds for fuzz_dnssec_live, made at run time with
 * ldns (no key is committed): a signed zone with its DS (two servers),
 * the same with a DS for another key, and an unsigned zone under a DS;
 * each with the sample's answers (apex A, AAAA, MX, TXT, the denial).
 * Usage: fuzz-dnssec-seeds DIR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "fuzz_dnssec_live.h"

#define Z FUZZ_DNSSEC_ZONE "."

static ldns_key *mk(int flags)
{
    ldns_key *k = ldns_key_new_frm_algorithm(LDNS_SIGN_ECDSAP256SHA256, 256);
    ldns_rr *rr;

    if (k == NULL)
        exit(1);
    ldns_key_set_pubkey_owner(k, ldns_dname_new_frm_str(Z));
    ldns_key_set_flags(k, (uint16_t)flags);
    ldns_key_set_inception(k, FUZZ_DNSSEC_NOW - 3600);
    ldns_key_set_expiration(k, FUZZ_DNSSEC_NOW + 5 * 86400);
    rr = ldns_key2rr(k);
    ldns_key_set_keytag(k, ldns_calc_keytag(rr));
    ldns_rr_free(rr);
    return k;
}

/* One answer (rrs signed by k when k is not NULL), length-prefixed. */
static void put(FILE *f, ldns_rr_type t, ldns_rr_list *rrs, ldns_key *k)
{
    ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str(Z), t,
                                     LDNS_RR_CLASS_IN, 0);
    uint8_t *w = NULL;
    size_t len = 0, i;

    ldns_pkt_set_qr(p, 1);
    ldns_pkt_set_aa(p, 1);
    for (i = 0; i < ldns_rr_list_rr_count(rrs); i++)
        ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER,
                         ldns_rr_clone(ldns_rr_list_rr(rrs, i)));
    if (k != NULL) {
        ldns_key_list *kl = ldns_key_list_new();
        ldns_rr_list *sigs;

        ldns_key_list_push_key(kl, k);
        sigs = ldns_sign_public(rrs, kl);
        ldns_key_list_set_key_count(kl, 0);
        ldns_key_list_free(kl);
        for (i = 0; sigs && i < ldns_rr_list_rr_count(sigs); i++)
            ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER,
                             ldns_rr_clone(ldns_rr_list_rr(sigs, i)));
        ldns_rr_list_deep_free(sigs);
    }
    if (ldns_pkt2wire(&w, p, &len) != LDNS_STATUS_OK)
        exit(1);
    fputc((int)(len >> 8), f);
    fputc((int)(len & 0xff), f);
    fwrite(w, 1, len, f);
    free(w);
    ldns_pkt_free(p);
}

static ldns_rr_list *one(const char *line)
{
    ldns_rr_list *l = ldns_rr_list_new();
    ldns_rr *rr = NULL;

    if (ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL) != LDNS_STATUS_OK)
        exit(1);
    ldns_rr_list_push_rr(l, rr);
    return l;
}

static void seed(const char *dir, const char *name, int nserv, int sign,
                 ldns_key *ksk, ldns_key *zsk, ldns_rr *ds_key)
{
    char path[1024];
    FILE *f;
    int s;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL)
        exit(1);
    fputc(nserv - 1, f);
    for (s = 0; s < nserv; s++) {
        ldns_rr_list *l = one(Z " 10 IN SOA ns1." Z " h." Z
                              " 7 60 60 600 10");

        put(f, LDNS_RR_TYPE_SOA, l, sign ? zsk : NULL);
        ldns_rr_list_deep_free(l);
        l = ldns_rr_list_new();
        if (sign) {
            ldns_rr_list_push_rr(l, ldns_key2rr(ksk));
            ldns_rr_list_push_rr(l, ldns_key2rr(zsk));
        }
        put(f, LDNS_RR_TYPE_DNSKEY, l, sign ? ksk : NULL);
        ldns_rr_list_deep_free(l);
        l = one(Z " 10 IN NS ns1." Z);
        put(f, LDNS_RR_TYPE_NS, l, sign ? zsk : NULL);
        ldns_rr_list_deep_free(l);
        l = one(Z " 0 IN NSEC3PARAM 1 0 10 aabb");
        put(f, LDNS_RR_TYPE_NSEC3PARAM, l, sign ? zsk : NULL);
        ldns_rr_list_deep_free(l);
    }
    {
        ldns_rr_list *l = ldns_rr_list_new();

        ldns_rr_list_push_rr(l, ldns_key_rr2ds(ds_key, LDNS_SHA256));
        ldns_rr_list_push_rr(l, ldns_key_rr2ds(ds_key, LDNS_SHA1));
        put(f, LDNS_RR_TYPE_DS, l, NULL);
        ldns_rr_list_deep_free(l);
    }
    /* The sample: apex A, AAAA (no data), MX, TXT, and the denial
     * question answered with nothing (no NSEC). */
    for (s = 0; s < nserv; s++) {
        static const char *const line[] = {
            Z " 10 IN A 192.0.2.1", NULL, Z " 10 IN MX 10 mail." Z,
            Z " 10 IN TXT \"v=spf1 -all\"", NULL
        };
        static const ldns_rr_type t[] = {
            LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_MX,
            LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_A
        };
        size_t q;

        for (q = 0; q < sizeof(t) / sizeof(t[0]); q++) {
            ldns_rr_list *l = line[q] ? one(line[q]) : ldns_rr_list_new();

            put(f, t[q], l, sign && line[q] ? zsk : NULL);
            ldns_rr_list_deep_free(l);
        }
    }
    if (fclose(f) != 0)
        exit(1);
}

int main(int argc, char **argv)
{
    ldns_key *ksk, *zsk, *other;
    ldns_rr *ksk_rr, *other_rr;

    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-dnssec-seeds DIR\n");
        return 2;
    }
    ksk = mk(257);
    zsk = mk(256);
    other = mk(257);
    ksk_rr = ldns_key2rr(ksk);
    other_rr = ldns_key2rr(other);
    seed(argv[1], "secure", 2, 1, ksk, zsk, ksk_rr);
    seed(argv[1], "wrong_ds", 1, 1, ksk, zsk, other_rr);
    seed(argv[1], "unsigned_under_ds", 1, 0, ksk, zsk, ksk_rr);
    ldns_rr_free(ksk_rr);
    ldns_rr_free(other_rr);
    ldns_key_deep_free(ksk);
    ldns_key_deep_free(zsk);
    ldns_key_deep_free(other);
    return 0;
}
