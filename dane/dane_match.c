/*
 * dane_match.c: TLSA records parsed and matched (dane_match.h).
 */
#include "dane_match.h"

#include "../common/kw_str.h"

#include <openssl/evp.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kw_dane_tlsa_parse(const uint8_t *rdata, size_t len, kw_tlsa *t,
                       kw_diag *d)
{
    memset(t, 0, sizeof(*t));
    if (rdata == NULL || len < 3)
        return kw_diag_set(d, KW_EPARSE, "TLSA RDATA of %zu octets: the "
                           "usage, selector and matching type take 3", len);
    t->usage = rdata[0];
    t->selector = rdata[1];
    t->mtype = rdata[2];
    t->data = rdata + 3;
    t->len = len - 3;
    if (t->usage > 3)
        return kw_diag_set(d, KW_EPARSE, "TLSA certificate usage %d is not "
                           "defined (0-3): senders treat the record as "
                           "unusable", t->usage);
    if (t->selector > 1)
        return kw_diag_set(d, KW_EPARSE, "TLSA selector %d is not defined "
                           "(0 full certificate, 1 public key): senders "
                           "treat the record as unusable", t->selector);
    if (t->mtype > 2)
        return kw_diag_set(d, KW_EPARSE, "TLSA matching type %d is not "
                           "defined (0 exact, 1 SHA-256, 2 SHA-512): "
                           "senders treat the record as unusable", t->mtype);
    if (t->len == 0)
        return kw_diag_set(d, KW_EPARSE, "TLSA certificate association "
                           "data is empty");
    if (t->mtype == 1 && t->len != 32)
        return kw_diag_set(d, KW_EPARSE, "TLSA certificate association "
                           "data: %zu octets for SHA-256 (matching type 1), "
                           "which has 32", t->len);
    if (t->mtype == 2 && t->len != 64)
        return kw_diag_set(d, KW_EPARSE, "TLSA certificate association "
                           "data: %zu octets for SHA-512 (matching type 2), "
                           "which has 64", t->len);
    return 0;
}

int kw_dane_cert_data(X509 *x, int selector, int mtype, uint8_t **out,
                      size_t *len, kw_diag *d)
{
    unsigned char *der = NULL, *md = NULL;
    unsigned int mdlen = 0;
    int n, rc = 0;

    *out = NULL;
    *len = 0;
    if (x == NULL || selector < 0 || selector > 1 || mtype < 0 || mtype > 2)
        return kw_diag_set(d, KW_EINVAL, "TLSA selector %d, matching type "
                           "%d: not defined", selector, mtype);
    n = selector == 0 ? i2d_X509(x, &der)
                      : i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    if (n <= 0)
        return kw_diag_set(d, KW_ECRYPTO, "cannot encode the %s as DER",
                           selector == 0 ? "certificate" : "public key");
    if (mtype == 0) {
        md = malloc((size_t)n);
        if (md == NULL) {
            rc = kw_diag_set(d, KW_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(md, der, (size_t)n);
        mdlen = (unsigned)n;
    } else {
        md = malloc(EVP_MAX_MD_SIZE);
        if (md == NULL) {
            rc = kw_diag_set(d, KW_ENOMEM, "out of memory");
            goto out;
        }
        if (EVP_Digest(der, (size_t)n, md, &mdlen,
                       mtype == 1 ? EVP_sha256() : EVP_sha512(),
                       NULL) != 1) {
            free(md);
            md = NULL;
            rc = kw_diag_set(d, KW_ECRYPTO, "cannot hash the %s",
                             selector == 0 ? "certificate" : "public key");
            goto out;
        }
    }
    *out = md;
    *len = mdlen;
out:
    OPENSSL_free(der);
    return rc;
}

int kw_dane_tlsa_text_for(X509 *x, int usage, int selector, int mtype,
                          char *buf, size_t cap, kw_diag *d)
{
    uint8_t *data = NULL;
    size_t len = 0, need;
    int rc = kw_dane_cert_data(x, selector, mtype, &data, &len, d);

    if (rc != 0)
        return rc;
    need = 7 + 2 * len;
    if (cap < need) {
        free(data);
        return kw_diag_set(d, KW_ETOOBIG, "the TLSA record takes %zu "
                           "octets, %zu given", need, cap);
    }
    snprintf(buf, cap, "%d %d %d ", usage, selector, mtype);
    kw_hex(data, len, 0, buf + 6);
    free(data);
    return 0;
}

void kw_dane_tlsa_text(const kw_tlsa *t, char *buf, size_t cap)
{
    char hex[2 * 64 + 1];
    size_t n = t->len > 64 ? 64 : t->len;

    kw_hex(t->data, n, 0, hex);
    hex[2 * n] = '\0';
    if (t->len > 64)
        snprintf(buf, cap, "%d %d %d %s...(%zu octets)", t->usage,
                 t->selector, t->mtype, hex, t->len);
    else
        snprintf(buf, cap, "%d %d %d %s", t->usage, t->selector, t->mtype,
                 hex);
}

const char *kw_dane_usage_name(int usage, char buf[16])
{
    static const char *const names[] = { "PKIX-TA", "PKIX-EE", "DANE-TA",
                                         "DANE-EE" };

    if (usage >= 0 && usage <= 3)
        return names[usage];
    snprintf(buf, 16, "usage %d", usage);
    return buf;
}

/* 1 when chain[i] holds t's data under t's selector and matching type,
 * 0 not, a KW_E* on failure. */
static int holds(const kw_tlsa *t, X509 *x, kw_diag *d)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = kw_dane_cert_data(x, t->selector, t->mtype, &data, &len, d);

    if (rc != 0)
        return rc;
    rc = len == t->len && memcmp(data, t->data, len) == 0;
    free(data);
    return rc;
}

/* Does the leaf chain up to chain[ta] at now, through the certificates
 * served between them?  0 yes; else why in why.  The trust anchor is
 * the served certificate itself (partial chain), as a DANE-TA record
 * makes it one. */
static int chains_to(X509 *const *chain, size_t ta, int64_t now, char *why,
                     size_t cap)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *mid = sk_X509_new_null();
    X509_VERIFY_PARAM *vp;
    size_t i;
    int rc = -1;

    if (store == NULL || ctx == NULL || mid == NULL ||
        X509_STORE_add_cert(store, chain[ta]) != 1) {
        snprintf(why, cap, "out of memory checking the chain");
        goto out;
    }
    for (i = 1; i < ta; i++)
        if (!sk_X509_push(mid, chain[i])) {
            snprintf(why, cap, "out of memory checking the chain");
            goto out;
        }
    if (X509_STORE_CTX_init(ctx, store, chain[0], mid) != 1) {
        snprintf(why, cap, "cannot set up the chain check");
        goto out;
    }
    vp = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
    X509_VERIFY_PARAM_set_time(vp, (time_t)now);
    if (X509_verify_cert(ctx) == 1) {
        rc = 0;
        goto out;
    }
    snprintf(why, cap, "the certificate at position %zu matches, but the "
             "leaf does not chain up to it: %s", ta,
             X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
    sk_X509_free(mid);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

int kw_dane_match(const kw_tlsa *t, X509 *const *chain, size_t n,
                  int64_t now, kw_dane_match_res *r, kw_diag *d)
{
    size_t i;
    int h;

    memset(r, 0, sizeof(*r));
    r->at = -1;
    if (n == 0 || chain == NULL) {
        snprintf(r->why, sizeof(r->why), "no certificate to match");
        return 0;
    }
    if (t->usage == KW_DANE_DANE_EE || t->usage == KW_DANE_PKIX_EE) {
        h = holds(t, chain[0], d);
        if (h < 0)
            return h;
        if (h) {
            r->matched = 1;
            r->at = 0;
        } else
            snprintf(r->why, sizeof(r->why), "the leaf's %s does not "
                     "match", t->selector == 0 ? "certificate"
                                               : "public key");
        return 0;
    }
    /* A trust anchor: a CA certificate the server sends after the leaf. */
    for (i = 1; i < n; i++) {
        if (X509_check_ca(chain[i]) <= 0)
            continue;
        h = holds(t, chain[i], d);
        if (h < 0)
            return h;
        if (!h)
            continue;
        r->at = (int)i;
        if (chains_to(chain, i, now, r->why, sizeof(r->why)) == 0) {
            r->matched = 1;
            r->why[0] = '\0';
            return 0;
        }
    }
    if (r->at < 0)
        snprintf(r->why, sizeof(r->why), "no CA certificate the server "
                 "sends (%zu after the leaf) matches", n - 1);
    return 0;
}
