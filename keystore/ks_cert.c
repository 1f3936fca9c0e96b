/*
 * ks_cert.c: decode just what the inventory needs from X.509 certificates.
 *
 * The templates below mirror RFC 5280's TBSCertificate, but declare the
 * parts we do not need as raw values (ASN1_SEQUENCE keeps a name's DER
 * verbatim; extensions stay OCTET STRINGs until we pick the four we read).
 * OpenSSL's DER decoder still checks every tag and length, so the input is
 * validated as strictly as by d2i_X509, without building an EVP_PKEY or
 * caching every extension.
 */
#include "ks_cert.h"

#include "../common/kw_str.h"
#include "../common/kw_time.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "ks_pem.h"

/* ---- templates --------------------------------------------------------- */

typedef struct {
    ASN1_OBJECT *type;
    ASN1_TYPE *value;
} KS_ATV;

ASN1_SEQUENCE(KS_ATV) = {
    ASN1_SIMPLE(KS_ATV, type, ASN1_OBJECT),
    ASN1_SIMPLE(KS_ATV, value, ASN1_ANY),
} static_ASN1_SEQUENCE_END(KS_ATV)

DEFINE_STACK_OF(KS_ATV)
typedef STACK_OF(KS_ATV) KS_RDN;

ASN1_ITEM_TEMPLATE(KS_RDN) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SET_OF, 0, rdn, KS_ATV)
static_ASN1_ITEM_TEMPLATE_END(KS_RDN)

DEFINE_STACK_OF(KS_RDN)
typedef STACK_OF(KS_RDN) KS_NAME;

ASN1_ITEM_TEMPLATE(KS_NAME) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, name, KS_RDN)
static_ASN1_ITEM_TEMPLATE_END(KS_NAME)

typedef struct {
    ASN1_OBJECT *oid;
    ASN1_BOOLEAN critical;
    ASN1_OCTET_STRING *value;
} KS_EXT;

ASN1_SEQUENCE(KS_EXT) = {
    ASN1_SIMPLE(KS_EXT, oid, ASN1_OBJECT),
    ASN1_OPT(KS_EXT, critical, ASN1_FBOOLEAN),
    ASN1_SIMPLE(KS_EXT, value, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(KS_EXT)

DEFINE_STACK_OF(KS_EXT)

typedef struct {
    ASN1_TIME *not_before;
    ASN1_TIME *not_after;
} KS_VALIDITY;

ASN1_SEQUENCE(KS_VALIDITY) = {
    ASN1_SIMPLE(KS_VALIDITY, not_before, ASN1_TIME),
    ASN1_SIMPLE(KS_VALIDITY, not_after, ASN1_TIME),
} static_ASN1_SEQUENCE_END(KS_VALIDITY)

typedef struct {
    X509_ALGOR *alg;
    ASN1_BIT_STRING *key;
} KS_SPKI;

ASN1_SEQUENCE(KS_SPKI) = {
    ASN1_SIMPLE(KS_SPKI, alg, X509_ALGOR),
    ASN1_SIMPLE(KS_SPKI, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(KS_SPKI)

typedef struct {
    ASN1_INTEGER *version;
    ASN1_INTEGER *serial;
    X509_ALGOR *sig_alg;
    ASN1_STRING *issuer;  /* raw DER of the Name */
    KS_VALIDITY *validity;
    ASN1_STRING *subject; /* raw DER of the Name */
    KS_SPKI *spki;
    ASN1_BIT_STRING *issuer_uid;
    ASN1_BIT_STRING *subject_uid;
    STACK_OF(KS_EXT) *exts;
} KS_TBS;

ASN1_SEQUENCE(KS_TBS) = {
    ASN1_EXP_OPT(KS_TBS, version, ASN1_INTEGER, 0),
    ASN1_SIMPLE(KS_TBS, serial, ASN1_INTEGER),
    ASN1_SIMPLE(KS_TBS, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(KS_TBS, issuer, ASN1_SEQUENCE),
    ASN1_SIMPLE(KS_TBS, validity, KS_VALIDITY),
    ASN1_SIMPLE(KS_TBS, subject, ASN1_SEQUENCE),
    ASN1_SIMPLE(KS_TBS, spki, KS_SPKI),
    ASN1_IMP_OPT(KS_TBS, issuer_uid, ASN1_BIT_STRING, 1),
    ASN1_IMP_OPT(KS_TBS, subject_uid, ASN1_BIT_STRING, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(KS_TBS, exts, KS_EXT, 3),
} static_ASN1_SEQUENCE_END(KS_TBS)

typedef struct {
    KS_TBS *tbs;
    X509_ALGOR *sig_alg;
    ASN1_BIT_STRING *signature;
} KS_CERT;

ASN1_SEQUENCE(KS_CERT) = {
    ASN1_SIMPLE(KS_CERT, tbs, KS_TBS),
    ASN1_SIMPLE(KS_CERT, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(KS_CERT, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(KS_CERT)

typedef struct {
    ASN1_INTEGER *n;
    ASN1_INTEGER *e;
} KS_RSAPUB;

ASN1_SEQUENCE(KS_RSAPUB) = {
    ASN1_SIMPLE(KS_RSAPUB, n, ASN1_INTEGER),
    ASN1_SIMPLE(KS_RSAPUB, e, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(KS_RSAPUB)

/* ---- helpers ----------------------------------------------------------- */

/* The hash contexts are per thread so that scans may parse in parallel. */
static _Thread_local EVP_MD_CTX *t_md_ctx;
static EVP_MD *g_sha256;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void fetch_digest(void)
{
    /* Fetching once avoids a provider lookup per certificate. */
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void ks_cert_init(void)
{
    pthread_once(&g_once, fetch_digest);
}

void ks_cert_thread_done(void)
{
    EVP_MD_CTX_free(t_md_ctx);
    t_md_ctx = NULL;
}

static int sha256(const unsigned char *p, size_t n, unsigned char out[32])
{
    unsigned int outlen = 0;

    ks_cert_init();
    if (g_sha256 == NULL)
        return KW_ECRYPTO;
    if (t_md_ctx == NULL && (t_md_ctx = EVP_MD_CTX_new()) == NULL)
        return KW_ENOMEM;
    if (EVP_DigestInit_ex(t_md_ctx, g_sha256, NULL) != 1 ||
        EVP_DigestUpdate(t_md_ctx, p, n) != 1 ||
        EVP_DigestFinal_ex(t_md_ctx, out, &outlen) != 1 || outlen != 32)
        return KW_ECRYPTO;
    return 0;
}

static const char *openssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    return r != NULL ? r : "invalid encoding";
}

static int asn1_time_to_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return KW_EPARSE;
    *out = kw_time_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                              tm.tm_hour, tm.tm_min, tm.tm_sec);
    return 0;
}

/* RFC 4514 escaping of one attribute value, appended to buf. */
static void append_value(char *buf, size_t cap, size_t *pos,
                         const unsigned char *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = v[i];
        int esc = c == ',' || c == '+' || c == '"' || c == '\\' ||
                  c == '<' || c == '>' || c == ';' ||
                  (i == 0 && (c == '#' || c == ' ')) ||
                  (i == n - 1 && c == ' ');
        if (*pos + 3 >= cap) {
            *pos = cap;
            return;
        }
        if (esc)
            buf[(*pos)++] = '\\';
        buf[(*pos)++] = (char)c;
    }
}

/* Render a Name's DER as "CN=x, O=y" (most specific first) and, if cn is
 * not NULL, pick out the most specific CN.  Returns 0 or KW_EPARSE or
 * KW_ENOMEM. */
static int render_name(const unsigned char *der, size_t len, char **text,
                       char **cn)
{
    const unsigned char *p = der;
    KS_NAME *name;
    char buf[2048];
    size_t pos = 0;
    int i, j, r = 0;
    unsigned char *cn_utf8 = NULL;
    int cn_len = 0;

    *text = NULL;
    if (cn != NULL)
        *cn = NULL;
    name = (KS_NAME *)ASN1_item_d2i(NULL, &p, (long)len,
                                    ASN1_ITEM_rptr(KS_NAME));
    if (name == NULL || p != der + len) {
        ASN1_item_free((ASN1_VALUE *)name, ASN1_ITEM_rptr(KS_NAME));
        return KW_EPARSE;
    }
    buf[0] = '\0';
    for (i = sk_KS_RDN_num(name) - 1; i >= 0; i--) {
        KS_RDN *rdn = sk_KS_RDN_value(name, i);

        for (j = 0; j < sk_KS_ATV_num(rdn); j++) {
            KS_ATV *atv = sk_KS_ATV_value(rdn, j);
            int nid = OBJ_obj2nid(atv->type);
            unsigned char *utf8 = NULL;
            int n = -1;
            char oid[64];
            const char *key;

            if (nid != NID_undef && (key = OBJ_nid2sn(nid)) != NULL) {
                /* short names as operators know them */
            } else {
                OBJ_obj2txt(oid, sizeof(oid), atv->type, 1);
                key = oid;
            }
            if (atv->value->type != V_ASN1_BOOLEAN &&
                atv->value->type != V_ASN1_NULL &&
                atv->value->type != V_ASN1_OBJECT &&
                atv->value->type != V_ASN1_SEQUENCE &&
                atv->value->type != V_ASN1_SET)
                n = ASN1_STRING_to_UTF8(&utf8, atv->value->value.asn1_string);
            kw_str_appendf(buf, sizeof(buf), &pos, "%s%s=",
                           pos > 0 ? (j > 0 ? " + " : ", ") : "", key);
            if (n >= 0) {
                append_value(buf, sizeof(buf), &pos, utf8, (size_t)n);
                if (cn != NULL && nid == NID_commonName && cn_utf8 == NULL) {
                    /* Most specific CN: the first one met in this order. */
                    cn_utf8 = utf8;
                    cn_len = n;
                    utf8 = NULL;
                }
            } else {
                kw_str_appendf(buf, sizeof(buf), &pos, "#(non-string)");
            }
            OPENSSL_free(utf8);
        }
    }
    if (pos >= sizeof(buf))
        pos = sizeof(buf) - 1;
    buf[pos] = '\0';
    *text = kw_str_clean((const unsigned char *)buf, pos);
    if (cn_utf8 != NULL)
        *cn = kw_str_clean(cn_utf8, (size_t)cn_len);
    if (*text == NULL || (cn_utf8 != NULL && *cn == NULL))
        r = KW_ENOMEM;
    OPENSSL_free(cn_utf8);
    ASN1_item_free((ASN1_VALUE *)name, ASN1_ITEM_rptr(KS_NAME));
    return r;
}

static int bits_of(const unsigned char *p, size_t n)
{
    int b;

    while (n > 0 && *p == 0) {
        p++;
        n--;
    }
    if (n == 0)
        return 0;
    if (n > (size_t)(INT32_MAX / 8))
        return 0;
    b = (int)(n - 1) * 8;
    for (unsigned char c = *p; c != 0; c >>= 1)
        b++;
    return b;
}

static void describe_key(const KS_SPKI *spki, char *type, size_t tlen,
                         char *curve, size_t clen, int *bits)
{
    int nid = OBJ_obj2nid(spki->alg->algorithm);
    const unsigned char *kp = spki->key->data;
    size_t klen = (size_t)spki->key->length;

    *bits = 0;
    curve[0] = '\0';
    switch (nid) {
    case NID_rsaEncryption:
    case NID_rsassaPss: {
        const unsigned char *p = kp;
        KS_RSAPUB *rsa = (KS_RSAPUB *)ASN1_item_d2i(
            NULL, &p, (long)klen, ASN1_ITEM_rptr(KS_RSAPUB));
        snprintf(type, tlen, "%s", nid == NID_rsaEncryption ? "RSA"
                                                              : "RSA-PSS");
        if (rsa != NULL)
            *bits = bits_of(rsa->n->data, (size_t)rsa->n->length);
        ASN1_item_free((ASN1_VALUE *)rsa, ASN1_ITEM_rptr(KS_RSAPUB));
        return;
    }
    case NID_X9_62_id_ecPublicKey: {
        const ASN1_OBJECT *param = NULL;
        int ptype = V_ASN1_UNDEF, cnid;
        const void *pval = NULL;

        snprintf(type, tlen, "EC");
        X509_ALGOR_get0(NULL, &ptype, &pval, spki->alg);
        if (ptype != V_ASN1_OBJECT)
            return;
        param = pval;
        cnid = OBJ_obj2nid(param);
        switch (cnid) {
        case NID_X9_62_prime256v1:
            snprintf(curve, clen, "P-256");
            *bits = 256;
            return;
        case NID_secp384r1:
            snprintf(curve, clen, "P-384");
            *bits = 384;
            return;
        case NID_secp521r1:
            snprintf(curve, clen, "P-521");
            *bits = 521;
            return;
        default:
            if (cnid != NID_undef)
                snprintf(curve, clen, "%s", OBJ_nid2sn(cnid));
            /* An uncompressed point is 04 || X || Y. */
            if (klen > 1 && kp[0] == 4)
                *bits = (int)((klen - 1) / 2 * 8);
            return;
        }
    }
    case NID_ED25519:
        snprintf(type, tlen, "Ed25519");
        *bits = 256;
        return;
    case NID_ED448:
        snprintf(type, tlen, "Ed448");
        *bits = 456;
        return;
    case NID_dsa:
        snprintf(type, tlen, "DSA");
        return;
    default:
        if (nid != NID_undef)
            snprintf(type, tlen, "%s", OBJ_nid2sn(nid));
        else
            snprintf(type, tlen, "unknown");
        return;
    }
}

static int add_san(ks_cert *c, char type, const char *value)
{
    char **ns;
    char *nt, *v;

    if (c->nsans >= KS_MAX_SANS)
        return 0; /* absurd counts are truncated, not fatal */
    v = kw_str_clean((const unsigned char *)value, strlen(value));
    if (v == NULL)
        return KW_ENOMEM;
    ns = realloc(c->sans, (c->nsans + 1) * sizeof(*ns));
    if (ns == NULL) {
        free(v);
        return KW_ENOMEM;
    }
    c->sans = ns;
    nt = realloc(c->san_types, c->nsans + 1);
    if (nt == NULL) {
        free(v);
        return KW_ENOMEM;
    }
    c->san_types = nt;
    c->sans[c->nsans] = v;
    c->san_types[c->nsans] = type;
    c->nsans++;
    return 0;
}

static int read_sans(ks_cert *c, const ASN1_OCTET_STRING *v)
{
    const unsigned char *p = v->data;
    GENERAL_NAMES *gens;
    int i, r = 0;

    gens = d2i_GENERAL_NAMES(NULL, &p, v->length);
    if (gens == NULL)
        return KW_EPARSE;
    for (i = 0; i < sk_GENERAL_NAME_num(gens) && r == 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char text[INET6_ADDRSTRLEN + 8];

        if (g->type == GEN_DNS) {
            const ASN1_IA5STRING *s = g->d.dNSName;
            char *tmp = kw_str_clean(s->data, (size_t)s->length);
            if (tmp == NULL) {
                r = KW_ENOMEM;
                break;
            }
            r = add_san(c, KS_SAN_DNS, tmp);
            free(tmp);
        } else if (g->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *s = g->d.iPAddress;
            if (s->length == 4)
                inet_ntop(AF_INET, s->data, text, sizeof(text));
            else if (s->length == 16)
                inet_ntop(AF_INET6, s->data, text, sizeof(text));
            else
                snprintf(text, sizeof(text), "(bad IP length %d)",
                         s->length);
            r = add_san(c, KS_SAN_IP, text);
        }
    }
    GENERAL_NAMES_free(gens);
    return r;
}

/* 0, or KW_ENOMEM: running out of memory is an error, while a malformed
 * extension is not. */
static int read_extensions(ks_cert *c, const STACK_OF(KS_EXT) *exts)
{
    int i;

    for (i = 0; i < sk_KS_EXT_num(exts); i++) {
        const KS_EXT *e = sk_KS_EXT_value(exts, i);
        const unsigned char *p = e->value->data;
        int nid = OBJ_obj2nid(e->oid);

        /* A malformed extension is ignored rather than failing the whole
         * certificate: the expiry is still worth knowing.  A certificate
         * with names missing for lack of memory is not ignored: its
         * names key would be wrong. */
        if (nid == NID_subject_alt_name) {
            if (read_sans(c, e->value) == KW_ENOMEM)
                return KW_ENOMEM;
        } else if (nid == NID_basic_constraints) {
            BASIC_CONSTRAINTS *bc =
                d2i_BASIC_CONSTRAINTS(NULL, &p, e->value->length);
            if (bc != NULL)
                c->is_ca = bc->ca != 0;
            BASIC_CONSTRAINTS_free(bc);
        } else if (nid == NID_subject_key_identifier) {
            ASN1_OCTET_STRING *ski =
                d2i_ASN1_OCTET_STRING(NULL, &p, e->value->length);
            if (ski != NULL && (size_t)ski->length <= sizeof(c->ski)) {
                memcpy(c->ski, ski->data, (size_t)ski->length);
                c->ski_len = (size_t)ski->length;
            }
            ASN1_OCTET_STRING_free(ski);
        } else if (nid == NID_authority_key_identifier) {
            AUTHORITY_KEYID *aki =
                d2i_AUTHORITY_KEYID(NULL, &p, e->value->length);
            if (aki != NULL && aki->keyid != NULL &&
                (size_t)aki->keyid->length <= sizeof(c->aki)) {
                memcpy(c->aki, aki->keyid->data,
                       (size_t)aki->keyid->length);
                c->aki_len = (size_t)aki->keyid->length;
            }
            AUTHORITY_KEYID_free(aki);
        }
    }
    return 0;
}

static char *serial_hex(const ASN1_INTEGER *s)
{
    size_t n = (size_t)s->length, i = 0;
    char *out;

    while (n > 1 && s->data[i] == 0) { /* strip redundant leading zeros */
        i++;
        n--;
    }
    out = malloc(n * 2 + 2);
    if (out == NULL)
        return NULL;
    if (s->type == V_ASN1_NEG_INTEGER) {
        out[0] = '-';
        kw_hex(s->data + i, n, 0, out + 1);
    } else {
        kw_hex(s->data + i, n, 0, out);
    }
    return out;
}

static unsigned char *dup_bytes(const unsigned char *p, size_t n)
{
    unsigned char *q = malloc(n > 0 ? n : 1);

    if (q != NULL && n > 0)
        memcpy(q, p, n);
    return q;
}

/* Why a DER blob is not a certificate, in operator's words. */
static int explain_der(const unsigned char *der, size_t len, kw_diag *d)
{
    size_t hdr, body, i, nlen;

    if (len == 0)
        return kw_diag_set(d, KW_EPARSE, "empty certificate");
    if (der[0] != 0x30)
        return kw_diag_set(d, KW_EPARSE,
                           "not a DER certificate: first byte 0x%02x is not "
                           "an ASN.1 SEQUENCE",
                           der[0]);
    if (len < 2)
        return kw_diag_set(d, KW_EPARSE,
                           "truncated: DER header cut short after %zu byte",
                           len);
    if (der[1] < 0x80) {
        hdr = 2;
        body = der[1];
    } else {
        nlen = der[1] & 0x7f;
        if (nlen == 0 || nlen > 4)
            return kw_diag_set(d, KW_EPARSE,
                               "not a DER certificate: bad length octet "
                               "0x%02x",
                               der[1]);
        if (len < 2 + nlen)
            return kw_diag_set(d, KW_EPARSE,
                               "truncated: DER header cut short after %zu "
                               "bytes",
                               len);
        body = 0;
        for (i = 0; i < nlen; i++)
            body = body << 8 | der[2 + i];
        hdr = 2 + nlen;
    }
    if (hdr + body > len)
        return kw_diag_set(d, KW_EPARSE,
                           "truncated: the certificate declares %zu bytes "
                           "but only %zu are present",
                           hdr + body, len);
    return kw_diag_set(d, KW_EPARSE,
                       "not a valid X.509 certificate (OpenSSL: %s)",
                       openssl_reason());
}

/* ---- public ------------------------------------------------------------ */

void ks_cert_clear(ks_cert *c)
{
    size_t i;

    if (c == NULL)
        return;
    free(c->subject);
    free(c->issuer);
    free(c->cn);
    free(c->serial);
    free(c->sig_alg);
    for (i = 0; i < c->nsans; i++)
        free(c->sans[i]);
    free(c->sans);
    free(c->san_types);
    free(c->subject_der);
    free(c->issuer_der);
    memset(c, 0, sizeof(*c));
}

int ks_cert_decode(const unsigned char *der, size_t len, int allow_trailing,
                   ks_cert *out, size_t *used, kw_diag *d)
{
    const unsigned char *p = der;
    KS_CERT *x = NULL;
    KS_TBS *t;
    size_t n;
    int r = KW_ENOMEM;
    char algname[80];

    memset(out, 0, sizeof(*out));
    if (used != NULL)
        *used = 0;
    if (len > (size_t)INT32_MAX)
        return kw_diag_set(d, KW_ETOOBIG, "certificate too large");

    ERR_clear_error();
    x = (KS_CERT *)ASN1_item_d2i(NULL, &p, (long)len,
                                 ASN1_ITEM_rptr(KS_CERT));
    if (x == NULL) {
        r = explain_der(der, len, d);
        ERR_clear_error();
        return r;
    }
    n = (size_t)(p - der);
    if (n != len && !allow_trailing) {
        r = kw_diag_set(d, KW_EPARSE,
                        "%zu unexpected bytes after the certificate",
                        len - n);
        goto out;
    }
    t = x->tbs;

    if (asn1_time_to_unix(t->validity->not_before, &out->not_before) != 0 ||
        asn1_time_to_unix(t->validity->not_after, &out->not_after) != 0) {
        r = kw_diag_set(d, KW_EPARSE, "invalid validity time");
        goto out;
    }
    if ((r = sha256(der, n, out->fingerprint)) != 0 ||
        (r = sha256(t->spki->key->data, (size_t)t->spki->key->length,
                    out->spki_hash)) != 0) {
        if (r == KW_ENOMEM)
            kw_diag_set(d, r, "out of memory decoding the certificate");
        else
            kw_diag_set(d, r, "SHA-256 failed");
        goto out;
    }
    if ((r = render_name(t->subject->data, (size_t)t->subject->length,
                         &out->subject, &out->cn)) != 0 ||
        (r = render_name(t->issuer->data, (size_t)t->issuer->length,
                         &out->issuer, NULL)) != 0) {
        if (r == KW_EPARSE)
            kw_diag_set(d, r, "malformed subject or issuer name");
        else
            kw_diag_set(d, r, "out of memory decoding the certificate");
        goto out;
    }

    out->subject_der = dup_bytes(t->subject->data, (size_t)t->subject->length);
    out->issuer_der = dup_bytes(t->issuer->data, (size_t)t->issuer->length);
    out->serial = serial_hex(t->serial);
    OBJ_obj2txt(algname, sizeof(algname), x->sig_alg->algorithm, 0);
    out->sig_alg = kw_str_clean((const unsigned char *)algname,
                                strlen(algname));
    if (out->subject_der == NULL || out->issuer_der == NULL ||
        out->serial == NULL || out->sig_alg == NULL) {
        r = kw_diag_set(d, KW_ENOMEM,
                        "out of memory decoding the certificate");
        goto out;
    }
    out->subject_der_len = (size_t)t->subject->length;
    out->issuer_der_len = (size_t)t->issuer->length;

    describe_key(t->spki, out->key_type, sizeof(out->key_type),
                 out->key_curve, sizeof(out->key_curve), &out->key_bits);
    if ((r = read_extensions(out, t->exts)) != 0) {
        kw_diag_set(d, r, "out of memory reading the certificate's names");
        goto out;
    }

    out->self_signed =
        out->subject_der_len == out->issuer_der_len &&
        memcmp(out->subject_der, out->issuer_der, out->subject_der_len) ==
            0 &&
        (out->aki_len == 0 || out->ski_len == 0 ||
         (out->aki_len == out->ski_len &&
          memcmp(out->aki, out->ski, out->ski_len) == 0));
    if (used != NULL)
        *used = n;
    r = 0;
out:
    ASN1_item_free((ASN1_VALUE *)x, ASN1_ITEM_rptr(KS_CERT));
    ERR_clear_error();
    if (r != 0)
        ks_cert_clear(out);
    return r;
}

int ks_privkey_info(const unsigned char *der, size_t len, ks_key_info *out,
                    kw_diag *d)
{
    const unsigned char *p = der;
    unsigned char *pub = NULL;
    const unsigned char *q;
    EVP_PKEY *pkey = NULL;
    KS_SPKI *spki = NULL;
    char curve[24];
    int publen, r;

    memset(out, 0, sizeof(*out));
    if (len > (size_t)INT32_MAX)
        return kw_diag_set(d, KW_ETOOBIG, "private key too large");
    ERR_clear_error();
    pkey = d2i_AutoPrivateKey(NULL, &p, (long)len);
    if (pkey == NULL) {
        r = kw_diag_set(d, KW_EPARSE, "not a valid private key (OpenSSL: %s)",
                        openssl_reason());
        goto out;
    }
    publen = i2d_PUBKEY(pkey, &pub);
    q = pub;
    if (publen <= 0 ||
        (spki = (KS_SPKI *)ASN1_item_d2i(NULL, &q, publen,
                                         ASN1_ITEM_rptr(KS_SPKI))) == NULL) {
        r = kw_diag_set(d, KW_ECRYPTO,
                        "cannot derive the public key (OpenSSL: %s)",
                        openssl_reason());
        goto out;
    }
    r = sha256(spki->key->data, (size_t)spki->key->length, out->spki_hash);
    if (r != 0) {
        if (r == KW_ENOMEM)
            kw_diag_set(d, r, "out of memory reading the private key");
        else
            kw_diag_set(d, r, "SHA-256 failed");
        goto out;
    }
    describe_key(spki, out->key_type, sizeof(out->key_type), curve,
                 sizeof(curve), &out->key_bits);
    out->parsed = 1;
out:
    ASN1_item_free((ASN1_VALUE *)spki, ASN1_ITEM_rptr(KS_SPKI));
    OPENSSL_free(pub);
    EVP_PKEY_free(pkey); /* OpenSSL wipes private key material on free */
    ERR_clear_error();
    return r;
}

const char *ks_cert_name(const ks_cert *c)
{
    size_t i;

    if (c->cn != NULL && c->cn[0] != '\0')
        return c->cn;
    for (i = 0; i < c->nsans; i++)
        if (c->san_types[i] == KS_SAN_DNS)
            return c->sans[i];
    if (c->nsans > 0)
        return c->sans[0];
    if (c->subject != NULL && c->subject[0] != '\0')
        return c->subject;
    return "(no name)";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *ks_cert_names_key(const ks_cert *cert)
{
    size_t len = 0, pos = 0, i, n = cert->nsans;
    char **v, *key = NULL;

    if (cert->is_ca || n == 0) {
        const char *subj = cert->subject ? cert->subject : "";

        len = strlen("subject:") + strlen(subj) + 1;
        key = malloc(len);
        if (key != NULL)
            snprintf(key, len, "subject:%s", subj);
        return key;
    }
    v = calloc(n, sizeof(*v));
    if (v == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        char *c;
        if ((v[i] = strdup(cert->sans[i])) == NULL)
            goto out;
        for (c = v[i]; *c != '\0'; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        len += strlen(v[i]) + 1; /* the name and a comma or the NUL */
    }
    qsort(v, n, sizeof(*v), cmp_str);
    /* No cap: a key cut short would make distinct certificates collide. */
    key = malloc(len);
    if (key == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        size_t k;

        if (i > 0 && strcmp(v[i], v[i - 1]) == 0)
            continue;
        if (pos > 0)
            key[pos++] = ',';
        k = strlen(v[i]);
        memcpy(key + pos, v[i], k);
        pos += k;
    }
    key[pos] = '\0';
out:
    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return key;
}
