/*
 * acme_jws.c: JWS, JWK and thumbprints for ACME (RFC 7515, 7517, 7518,
 * 7638, 8037, 8555).
 *
 * Every JSON text here is built by jansson and dumped with JSON_COMPACT;
 * the only strings joined by hand are base64url outputs, whose alphabet
 * needs no escaping.  Nothing here holds private key bytes: signing goes
 * through EVP_DigestSign with the caller's EVP_PKEY, and the EAB HMAC key
 * stays in the caller's buffer.
 */
#include "acme_jws.h"

#include "../common/kw_json.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- base64url --------------------------------------------------------- */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* 1 when s is non-empty and every character is in the base64url alphabet
 * (RFC 8555 uses this for tokens and nonces, without padding). */
static int is_b64url_token(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (b64url_value((unsigned char)*s) < 0)
            return 0;
    return 1;
}

char *acme_b64url(const unsigned char *in, size_t n)
{
    size_t outlen, i, o = 0;
    char *out;

    if (n > SIZE_MAX / 4 - 1)
        return NULL;
    outlen = n / 3 * 4 + (n % 3 != 0 ? n % 3 + 1 : 0);
    out = malloc(outlen + 1);
    if (out == NULL)
        return NULL;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
                     in[i + 2];
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

unsigned char *acme_b64url_decode(const char *in, size_t *n)
{
    size_t len, pad = 0, i, o = 0;
    unsigned char *out;
    uint32_t acc = 0;
    int bits = 0;

    if (n != NULL)
        *n = 0;
    if (in == NULL || n == NULL)
        return NULL;
    len = strlen(in);
    while (len > 0 && in[len - 1] == '=') {
        len--;
        pad++;
    }
    /* A single leftover character carries 6 bits, less than a byte: no
     * encoder produces it.  Padding, when present, must be complete. */
    if (len % 4 == 1 || pad > 2 || (pad > 0 && (len + pad) % 4 != 0))
        return NULL;
    out = malloc(len / 4 * 3 + 3);
    if (out == NULL)
        return NULL;
    for (i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)in[i]);

        if (v < 0)
            goto bad;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Canonical encodings leave the unused low bits zero; anything else
     * would let two texts decode to the same bytes. */
    if (acc != 0)
        goto bad;
    *n = o;
    return out;
bad:
    free(out);
    return NULL;
}

/* ---- keys -------------------------------------------------------------- */

static const char *openssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    return r != NULL ? r : "unknown error";
}

typedef enum { JWS_NONE, JWS_EC, JWS_RSA, JWS_ED25519 } jws_kind;

/* What JWS makes of a key: its alg, the digest the signature uses, and for
 * EC keys the JWK curve name and the byte size of a coordinate (which is
 * also the size of r and of s in the signature). */
typedef struct {
    jws_kind kind;
    const char *alg;
    const char *md;  /* NULL for EdDSA, which hashes internally */
    const char *crv;
    size_t size;
} jws_params;

static int ec_curve_nid(EVP_PKEY *key)
{
    char group[80];
    size_t glen = 0;
    int nid;

    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
                                       group, sizeof(group), &glen) != 1)
        return NID_undef;
    /* OpenSSL names P-256 "prime256v1"; a provider may say "P-256". */
    nid = OBJ_txt2nid(group);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(group);
    return nid;
}

static int jws_params_of(EVP_PKEY *key, jws_params *p)
{
    memset(p, 0, sizeof(*p));
    if (key == NULL)
        return -1;
    if (EVP_PKEY_is_a(key, "EC")) {
        int nid = ec_curve_nid(key);

        p->kind = JWS_EC;
        if (nid == NID_X9_62_prime256v1) {
            p->alg = "ES256";
            p->md = "SHA256";
            p->crv = "P-256";
            p->size = 32;
        } else if (nid == NID_secp384r1) {
            p->alg = "ES384";
            p->md = "SHA384";
            p->crv = "P-384";
            p->size = 48;
        } else {
            p->kind = JWS_NONE;
            return -1;
        }
        return 0;
    }
    if (EVP_PKEY_is_a(key, "RSA")) {
        /* RFC 7518 section 3.3: keys of 2048 bits or more. */
        if (EVP_PKEY_get_bits(key) < 2048)
            return -1;
        p->kind = JWS_RSA;
        p->alg = "RS256";
        p->md = "SHA256";
        return 0;
    }
    if (EVP_PKEY_is_a(key, "ED25519")) {
        p->kind = JWS_ED25519;
        p->alg = "EdDSA";
        p->crv = "Ed25519";
        p->size = 32;
        return 0;
    }
    return -1;
}

const char *acme_jws_alg(EVP_PKEY *key)
{
    jws_params p;

    if (jws_params_of(key, &p) != 0)
        return NULL;
    return p.alg;
}

/* base64url of a BIGNUM parameter: padded to size bytes when size != 0
 * (EC coordinates, RFC 7518 section 6.2.1.2), else minimal big-endian
 * (RSA n and e, section 6.3.1). */
static char *bn_param_b64(EVP_PKEY *key, const char *name, size_t size)
{
    BIGNUM *bn = NULL;
    unsigned char buf[2048]; /* RSA moduli up to 16384 bits */
    char *out = NULL;
    int n;

    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1 || bn == NULL)
        goto out;
    if (BN_is_zero(bn) || BN_is_negative(bn))
        goto out;
    if (size != 0) {
        if (size > sizeof(buf) || BN_bn2binpad(bn, buf, (int)size) < 0)
            goto out;
        n = (int)size;
    } else {
        if ((size_t)BN_num_bytes(bn) > sizeof(buf))
            goto out;
        n = BN_bn2bin(bn, buf);
    }
    out = acme_b64url(buf, (size_t)n);
out:
    BN_free(bn);
    return out;
}

json_t *acme_jwk(EVP_PKEY *key, kw_diag *d)
{
    jws_params p;
    char *a = NULL, *b = NULL;
    unsigned char raw[64];
    size_t rawlen = 0;
    json_t *jwk = NULL;

    if (jws_params_of(key, &p) != 0) {
        kw_diag_set(d, KW_EINVAL,
                    "JWK: unsupported key (need EC P-256/P-384, RSA of "
                    "2048 bits or more, or Ed25519)");
        return NULL;
    }
    ERR_clear_error();
    switch (p.kind) {
    case JWS_EC:
        a = bn_param_b64(key, OSSL_PKEY_PARAM_EC_PUB_X, p.size);
        b = bn_param_b64(key, OSSL_PKEY_PARAM_EC_PUB_Y, p.size);
        if (a == NULL || b == NULL) {
            kw_diag_set(d, KW_ECRYPTO,
                        "JWK: cannot read the EC public point (OpenSSL: %s)",
                        openssl_reason());
            goto out;
        }
        /* Members in lexicographic order, as RFC 7638 hashes them. */
        jwk = json_pack("{s:s, s:s, s:s, s:s}", "crv", p.crv, "kty", "EC",
                        "x", a, "y", b);
        break;
    case JWS_RSA:
        a = bn_param_b64(key, OSSL_PKEY_PARAM_RSA_E, 0);
        b = bn_param_b64(key, OSSL_PKEY_PARAM_RSA_N, 0);
        if (a == NULL || b == NULL) {
            kw_diag_set(d, KW_ECRYPTO,
                        "JWK: cannot read the RSA modulus and exponent "
                        "(OpenSSL: %s)",
                        openssl_reason());
            goto out;
        }
        jwk = json_pack("{s:s, s:s, s:s}", "e", a, "kty", "RSA", "n", b);
        break;
    case JWS_ED25519:
        if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY,
                                            raw, sizeof(raw),
                                            &rawlen) != 1 ||
            rawlen != p.size || (a = acme_b64url(raw, rawlen)) == NULL) {
            kw_diag_set(d, KW_ECRYPTO,
                        "JWK: cannot read the Ed25519 public key "
                        "(OpenSSL: %s)",
                        openssl_reason());
            goto out;
        }
        jwk = json_pack("{s:s, s:s, s:s}", "crv", p.crv, "kty", "OKP", "x",
                        a);
        break;
    default:
        break;
    }
    if (jwk == NULL)
        kw_diag_set(d, KW_ENOMEM, "JWK: out of memory");
out:
    free(a);
    free(b);
    ERR_clear_error();
    return jwk;
}

/* The JWK's canonical text: compact, members sorted (RFC 7638 section 3). */
static char *jwk_text(EVP_PKEY *key, kw_diag *d)
{
    json_t *jwk = acme_jwk(key, d);
    char *s;

    if (jwk == NULL)
        return NULL;
    s = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(jwk);
    if (s == NULL)
        kw_diag_set(d, KW_ENOMEM, "JWK: out of memory");
    return s;
}

static char *sha256_b64(const void *in, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char *out;

    if (EVP_Digest(in, n, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != 32) {
        ERR_clear_error();
        return NULL;
    }
    out = acme_b64url(md, mdlen);
    return out;
}

char *acme_jwk_thumbprint(EVP_PKEY *key, kw_diag *d)
{
    char *text = jwk_text(key, d), *out;

    if (text == NULL)
        return NULL;
    out = sha256_b64(text, strlen(text));
    free(text);
    if (out == NULL)
        kw_diag_set(d, KW_ECRYPTO, "JWK thumbprint: SHA-256 failed");
    return out;
}

char *acme_key_authorization(const char *token, const char *thumbprint)
{
    size_t tl, hl;
    char *out;

    /* The token comes from the CA and ends up in a file name and an HTTP
     * path; RFC 8555 section 8.3 allows only the base64url alphabet. */
    if (!is_b64url_token(token) || !is_b64url_token(thumbprint))
        return NULL;
    tl = strlen(token);
    hl = strlen(thumbprint);
    out = malloc(tl + 1 + hl + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, token, tl);
    out[tl] = '.';
    memcpy(out + tl + 1, thumbprint, hl + 1);
    return out;
}

char *acme_dns01_value(const char *key_authorization)
{
    if (key_authorization == NULL)
        return NULL;
    return sha256_b64(key_authorization, strlen(key_authorization));
}

/* ---- signing ----------------------------------------------------------- */

/* Who signs: an asymmetric key, or HMAC with a shared key (EAB). */
typedef struct {
    EVP_PKEY *key;
    const char *hmac_md;
    const unsigned char *hmac_key;
    size_t hmac_key_len;
} jws_signer;

/* ECDSA DER (SEQUENCE of two INTEGERs) to the fixed-size r||s of RFC 7518
 * section 3.4.  Replaces *sig. */
static int ecdsa_der_to_raw(unsigned char **sig, size_t *siglen, size_t size,
                            kw_diag *d)
{
    const unsigned char *p = *sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)*siglen);
    const BIGNUM *r = NULL, *s = NULL;
    unsigned char *raw = NULL;

    if (es == NULL)
        return kw_diag_set(d, KW_ECRYPTO,
                           "JWS: cannot decode the ECDSA signature");
    ECDSA_SIG_get0(es, &r, &s);
    raw = malloc(2 * size);
    if (raw == NULL) {
        ECDSA_SIG_free(es);
        return kw_diag_set(d, KW_ENOMEM, "JWS: out of memory");
    }
    if (BN_bn2binpad(r, raw, (int)size) < 0 ||
        BN_bn2binpad(s, raw + size, (int)size) < 0) {
        ECDSA_SIG_free(es);
        free(raw);
        return kw_diag_set(d, KW_ECRYPTO,
                           "JWS: ECDSA signature larger than the curve");
    }
    ECDSA_SIG_free(es);
    free(*sig);
    *sig = raw;
    *siglen = 2 * size;
    return 0;
}

static int sign_pkey(EVP_PKEY *key, const unsigned char *in, size_t n,
                     unsigned char **sig, size_t *siglen, kw_diag *d)
{
    jws_params p;
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    size_t len = 0;
    unsigned char *buf = NULL;
    int r;

    *sig = NULL;
    *siglen = 0;
    if (jws_params_of(key, &p) != 0)
        return kw_diag_set(d, KW_EINVAL,
                           "JWS: unsupported account key (need EC "
                           "P-256/P-384, RSA of 2048 bits or more, or "
                           "Ed25519)");
    ERR_clear_error();
    mctx = EVP_MD_CTX_new();
    if (mctx == NULL) {
        r = kw_diag_set(d, KW_ENOMEM, "JWS: out of memory");
        goto out;
    }
    if (EVP_DigestSignInit_ex(mctx, &pctx, p.md, NULL, NULL, key, NULL) !=
            1 ||
        (p.kind == JWS_RSA &&
         EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) ||
        EVP_DigestSign(mctx, NULL, &len, in, n) != 1) {
        r = kw_diag_set(d, KW_ECRYPTO, "JWS: cannot sign with the %s key "
                        "(OpenSSL: %s)", p.alg, openssl_reason());
        goto out;
    }
    buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        r = kw_diag_set(d, KW_ENOMEM, "JWS: out of memory");
        goto out;
    }
    if (EVP_DigestSign(mctx, buf, &len, in, n) != 1) {
        r = kw_diag_set(d, KW_ECRYPTO, "JWS: %s signing failed (OpenSSL: %s)",
                        p.alg, openssl_reason());
        goto out;
    }
    if (p.kind == JWS_EC) {
        r = ecdsa_der_to_raw(&buf, &len, p.size, d);
        if (r != 0)
            goto out;
    }
    *sig = buf;
    *siglen = len;
    buf = NULL;
    r = 0;
out:
    free(buf);
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();
    return r;
}

static int sign_hmac(const jws_signer *s, const unsigned char *in, size_t n,
                     unsigned char **sig, size_t *siglen, kw_diag *d)
{
    unsigned char *buf;

    *sig = NULL;
    *siglen = 0;
    buf = malloc(EVP_MAX_MD_SIZE);
    if (buf == NULL)
        return kw_diag_set(d, KW_ENOMEM, "EAB: out of memory");
    ERR_clear_error();
    if (EVP_Q_mac(NULL, "HMAC", NULL, s->hmac_md, NULL, s->hmac_key,
                  s->hmac_key_len, in, n, buf, EVP_MAX_MD_SIZE,
                  siglen) == NULL) {
        free(buf);
        *siglen = 0;
        kw_diag_set(d, KW_ECRYPTO, "EAB: HMAC-%s failed (OpenSSL: %s)",
                    s->hmac_md, openssl_reason());
        ERR_clear_error();
        return KW_ECRYPTO;
    }
    *sig = buf;
    return 0;
}

/* The flattened JWS object {protected, payload, signature} over the
 * protected header hdr and the payload bytes. */
static json_t *jws_flatten(const jws_signer *s, json_t *hdr,
                           const char *payload, size_t payload_len,
                           kw_diag *d)
{
    char *hdr_text = NULL, *p64 = NULL, *pl64 = NULL, *sig64 = NULL;
    char *input = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0, a, b;
    json_t *jws = NULL;
    int r;

    hdr_text = json_dumps(hdr, JSON_COMPACT);
    if (hdr_text == NULL)
        goto nomem;
    p64 = acme_b64url((const unsigned char *)hdr_text, strlen(hdr_text));
    pl64 = acme_b64url((const unsigned char *)payload, payload_len);
    if (p64 == NULL || pl64 == NULL)
        goto nomem;
    /* The JWS Signing Input (RFC 7515 section 5.1, step 8). */
    a = strlen(p64);
    b = strlen(pl64);
    input = malloc(a + 1 + b + 1);
    if (input == NULL)
        goto nomem;
    memcpy(input, p64, a);
    input[a] = '.';
    memcpy(input + a + 1, pl64, b + 1);
    if (s->key != NULL)
        r = sign_pkey(s->key, (const unsigned char *)input, a + 1 + b, &sig,
                      &siglen, d);
    else
        r = sign_hmac(s, (const unsigned char *)input, a + 1 + b, &sig,
                      &siglen, d);
    if (r != 0)
        goto out;
    sig64 = acme_b64url(sig, siglen);
    if (sig64 == NULL)
        goto nomem;
    jws = json_pack("{s:s, s:s, s:s}", "protected", p64, "payload", pl64,
                    "signature", sig64);
    if (jws == NULL)
        goto nomem;
    goto out;
nomem:
    kw_diag_set(d, KW_ENOMEM, "JWS: out of memory");
out:
    free(hdr_text);
    free(p64);
    free(pl64);
    free(input);
    free(sig);
    free(sig64);
    return jws;
}

static char *dump_free(json_t *j, kw_diag *d)
{
    char *s;

    if (j == NULL)
        return NULL;
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s == NULL)
        kw_diag_set(d, KW_ENOMEM, "JWS: out of memory");
    return s;
}

/* Strings that go into a header must be text jansson takes as it is: a
 * URL or kid with invalid UTF-8 is a bug upstream, not something to
 * repair silently. */
static int check_text(const char *what, const char *s, kw_diag *d)
{
    if (s == NULL)
        return kw_diag_set(d, KW_EINVAL, "JWS: %s missing", what);
    if (*s == '\0')
        return kw_diag_set(d, KW_EINVAL, "JWS: %s is empty", what);
    if (!kw_json_utf8_ok(s))
        return kw_diag_set(d, KW_EINVAL, "JWS: %s is not valid UTF-8", what);
    return 0;
}

char *acme_jws_sign(EVP_PKEY *key, const char *kid, const char *nonce,
                    const char *url, const char *payload, kw_diag *d)
{
    jws_signer s = {.key = key};
    const char *alg = acme_jws_alg(key);
    json_t *hdr = NULL, *jwk = NULL, *jws = NULL;

    if (alg == NULL) {
        kw_diag_set(d, KW_EINVAL,
                    "JWS: unsupported account key (need EC P-256/P-384, RSA "
                    "of 2048 bits or more, or Ed25519)");
        return NULL;
    }
    /* RFC 8555 section 6.5.1: a nonce is base64url; anything else is a
     * broken Replay-Nonce the HTTP layer should have dropped. */
    if (!is_b64url_token(nonce)) {
        kw_diag_set(d, KW_EINVAL, "JWS: nonce %s",
                    nonce == NULL ? "missing" : "is not base64url");
        return NULL;
    }
    if (check_text("url", url, d) != 0 ||
        (kid != NULL && check_text("kid", kid, d) != 0))
        return NULL;
    if (kid != NULL) {
        hdr = json_pack("{s:s, s:s, s:s, s:s}", "alg", alg, "kid", kid,
                        "nonce", nonce, "url", url);
    } else {
        jwk = acme_jwk(key, d);
        if (jwk == NULL)
            return NULL;
        hdr = json_pack("{s:s, s:O, s:s, s:s}", "alg", alg, "jwk", jwk,
                        "nonce", nonce, "url", url);
    }
    if (hdr == NULL) {
        kw_diag_set(d, KW_ENOMEM, "JWS: out of memory");
        goto out;
    }
    /* payload NULL: POST-as-GET, whose payload is the empty string. */
    jws = jws_flatten(&s, hdr, payload != NULL ? payload : "",
                      payload != NULL ? strlen(payload) : 0, d);
out:
    json_decref(jwk);
    json_decref(hdr);
    return dump_free(jws, d);
}

json_t *acme_jws_eab(const char *eab_kid, const unsigned char *hmac_key,
                     size_t key_len, const char *alg, EVP_PKEY *account_key,
                     const char *url, kw_diag *d)
{
    jws_signer s = {.hmac_key = hmac_key, .hmac_key_len = key_len};
    json_t *hdr = NULL, *jws = NULL;
    char *payload = NULL;

    if (alg == NULL) {
        kw_diag_set(d, KW_EINVAL, "EAB: MAC algorithm missing");
        return NULL;
    }
    if (strcmp(alg, "HS256") == 0)
        s.hmac_md = "SHA256";
    else if (strcmp(alg, "HS384") == 0)
        s.hmac_md = "SHA384";
    else if (strcmp(alg, "HS512") == 0)
        s.hmac_md = "SHA512";
    else {
        kw_diag_set(d, KW_EINVAL,
                    "EAB: unsupported MAC algorithm (need HS256, HS384 or "
                    "HS512)");
        return NULL;
    }
    if (hmac_key == NULL || key_len == 0) {
        kw_diag_set(d, KW_EINVAL, "EAB: HMAC key is empty");
        return NULL;
    }
    if (check_text("EAB key identifier", eab_kid, d) != 0 ||
        check_text("url", url, d) != 0)
        return NULL;
    /* RFC 8555 section 7.3.4: the payload is the account key's JWK, and
     * the header has no nonce. */
    payload = jwk_text(account_key, d);
    if (payload == NULL)
        return NULL;
    hdr = json_pack("{s:s, s:s, s:s}", "alg", alg, "kid", eab_kid, "url",
                    url);
    if (hdr == NULL) {
        kw_diag_set(d, KW_ENOMEM, "EAB: out of memory");
        goto out;
    }
    jws = jws_flatten(&s, hdr, payload, strlen(payload), d);
out:
    json_decref(hdr);
    free(payload);
    return jws;
}

char *acme_jws_key_change(EVP_PKEY *new_key, EVP_PKEY *old_key,
                          const char *account_url, const char *url,
                          kw_diag *d)
{
    jws_signer s = {.key = new_key};
    const char *alg = acme_jws_alg(new_key);
    json_t *new_jwk = NULL, *old_jwk = NULL, *hdr = NULL, *body = NULL;
    json_t *jws = NULL;
    char *payload = NULL;

    if (alg == NULL) {
        kw_diag_set(d, KW_EINVAL,
                    "keyChange: unsupported new key (need EC P-256/P-384, "
                    "RSA of 2048 bits or more, or Ed25519)");
        return NULL;
    }
    if (check_text("account URL", account_url, d) != 0 ||
        check_text("url", url, d) != 0)
        return NULL;
    new_jwk = acme_jwk(new_key, d);
    if (new_jwk == NULL)
        goto out;
    old_jwk = acme_jwk(old_key, d);
    if (old_jwk == NULL)
        goto out;
    /* RFC 8555 section 7.3.5: the inner header has jwk and url, no nonce
     * and no kid. */
    hdr = json_pack("{s:s, s:O, s:s}", "alg", alg, "jwk", new_jwk, "url",
                    url);
    body = json_pack("{s:s, s:O}", "account", account_url, "oldKey",
                     old_jwk);
    if (hdr == NULL || body == NULL ||
        (payload = json_dumps(body, JSON_COMPACT)) == NULL) {
        kw_diag_set(d, KW_ENOMEM, "keyChange: out of memory");
        goto out;
    }
    jws = jws_flatten(&s, hdr, payload, strlen(payload), d);
out:
    json_decref(new_jwk);
    json_decref(old_jwk);
    json_decref(hdr);
    json_decref(body);
    free(payload);
    return dump_free(jws, d);
}
