/*
 * test_jws.c: acme_jws against published vectors (RFC 4648, 7515, 7638)
 * and against an independent verifier: every JWS we sign is taken apart
 * with jansson, its key rebuilt from the JWK in its own header, and its
 * signature checked with OpenSSL's EVP_DigestVerify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "acme/acme_jws.h"
#include "testpki.h"

/* ---- independent helpers ---------------------------------------------- */

/* base64url decoding through OpenSSL's standard base64, so the verifier
 * does not lean on the decoder under test. */
static unsigned char *ub64(const char *s, size_t *n)
{
    size_t len = strlen(s), i, padded = (len + 3) / 4 * 4;
    char *t = malloc(padded + 1);
    unsigned char *out = malloc(padded / 4 * 3 + 1);
    int r, pad = (int)(padded - len);

    assert_non_null(t);
    assert_non_null(out);
    for (i = 0; i < len; i++)
        t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    for (; i < padded; i++)
        t[i] = '=';
    t[padded] = '\0';
    r = EVP_DecodeBlock(out, (const unsigned char *)t, (int)padded);
    assert_true(r >= 0);
    free(t);
    *n = (size_t)r - (size_t)pad;
    return out;
}

static char *ub64_str(const char *s)
{
    size_t n;
    unsigned char *b = ub64(s, &n);
    char *t = malloc(n + 1);

    memcpy(t, b, n);
    t[n] = '\0';
    free(b);
    return t;
}

/* Independent base64url encoding (EVP_EncodeBlock, then the URL alphabet
 * and no padding). */
static char *eb64(const unsigned char *in, size_t n)
{
    char *out = malloc(n / 3 * 4 + 8);
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n), i;

    for (i = 0; i < len; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    return out;
}

static BIGNUM *b64_bn(const char *s)
{
    size_t n;
    unsigned char *b = ub64(s, &n);
    BIGNUM *bn = BN_bin2bn(b, (int)n, NULL);

    free(b);
    assert_non_null(bn);
    return bn;
}

static EVP_PKEY *fromdata(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *k = NULL;

    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params),
                     1);
    EVP_PKEY_CTX_free(ctx);
    return k;
}

static EVP_PKEY *rsa_pub(const char *n64, const char *e64)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *n = b64_bn(n64), *e = b64_bn(e64);
    OSSL_PARAM *params;
    EVP_PKEY *k;

    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n),
                     1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e),
                     1);
    params = OSSL_PARAM_BLD_to_param(bld);
    k = fromdata("RSA", params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return k;
}

static EVP_PKEY *ec_pub(const char *crv, const char *x64, const char *y64,
                        size_t size)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    unsigned char pt[1 + 2 * 66];
    size_t xn, yn;
    unsigned char *x = ub64(x64, &xn), *y = ub64(y64, &yn);
    OSSL_PARAM *params;
    EVP_PKEY *k;

    /* A JWK coordinate is exactly the field size (RFC 7518 6.2.1.2). */
    assert_int_equal(xn, size);
    assert_int_equal(yn, size);
    pt[0] = 0x04;
    memcpy(pt + 1, x, size);
    memcpy(pt + 1 + size, y, size);
    assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(
                         bld, OSSL_PKEY_PARAM_GROUP_NAME,
                         strcmp(crv, "P-256") == 0 ? "P-256" : "P-384", 0),
                     1);
    assert_int_equal(OSSL_PARAM_BLD_push_octet_string(
                         bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * size),
                     1);
    params = OSSL_PARAM_BLD_to_param(bld);
    k = fromdata("EC", params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return k;
}

/* The public key a JWK describes, built with OpenSSL alone. */
static EVP_PKEY *jwk_to_pkey(json_t *jwk)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));

    assert_non_null(kty);
    if (strcmp(kty, "RSA") == 0) {
        assert_int_equal(json_object_size(jwk), 3);
        return rsa_pub(json_string_value(json_object_get(jwk, "n")),
                       json_string_value(json_object_get(jwk, "e")));
    }
    if (strcmp(kty, "EC") == 0) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));

        assert_int_equal(json_object_size(jwk), 4);
        assert_non_null(crv);
        return ec_pub(crv, json_string_value(json_object_get(jwk, "x")),
                      json_string_value(json_object_get(jwk, "y")),
                      strcmp(crv, "P-256") == 0 ? 32 : 48);
    }
    if (strcmp(kty, "OKP") == 0) {
        size_t n;
        unsigned char *x;
        EVP_PKEY *k;

        assert_int_equal(json_object_size(jwk), 3);
        assert_string_equal(json_string_value(json_object_get(jwk, "crv")),
                            "Ed25519");
        x = ub64(json_string_value(json_object_get(jwk, "x")), &n);
        assert_int_equal(n, 32);
        k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, n);
        free(x);
        assert_non_null(k);
        return k;
    }
    fail_msg("unexpected kty %s", kty);
    return NULL;
}

/* Verify a JWS signature (base64url) over input with pub, per alg. */
static int verify(EVP_PKEY *pub, const char *alg, const char *input,
                  const char *sig64)
{
    size_t siglen;
    unsigned char *sig = ub64(sig64, &siglen);
    unsigned char *der = NULL;
    const char *md = NULL;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t size = 0;
    int derlen = 0, ok;

    if (strcmp(alg, "ES256") == 0) {
        md = "SHA256";
        size = 32;
    } else if (strcmp(alg, "ES384") == 0) {
        md = "SHA384";
        size = 48;
    } else if (strcmp(alg, "RS256") == 0) {
        md = "SHA256";
    } else {
        assert_string_equal(alg, "EdDSA");
    }
    if (size != 0) {
        /* JWS r||s back to the DER OpenSSL verifies. */
        ECDSA_SIG *es = ECDSA_SIG_new();

        assert_int_equal(siglen, 2 * size);
        assert_int_equal(ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)size, NULL),
                                        BN_bin2bn(sig + size, (int)size,
                                                  NULL)),
                         1);
        derlen = i2d_ECDSA_SIG(es, &der);
        assert_true(derlen > 0);
        ECDSA_SIG_free(es);
    }
    assert_int_equal(EVP_DigestVerifyInit_ex(m, &pctx, md, NULL, NULL, pub,
                                             NULL),
                     1);
    if (strcmp(alg, "RS256") == 0)
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx,
                                                      RSA_PKCS1_PADDING),
                         1);
    ok = EVP_DigestVerify(m, der != NULL ? der : sig,
                          der != NULL ? (size_t)derlen : siglen,
                          (const unsigned char *)input, strlen(input));
    EVP_MD_CTX_free(m);
    OPENSSL_free(der);
    free(sig);
    return ok == 1;
}

/* Takes a flattened JWS apart: checks it has exactly the three members,
 * verifies its signature with key (or, when key is NULL, with the jwk of
 * its own header), and returns the decoded protected header and payload
 * text. */
static void check_jws(json_t *jws, EVP_PKEY *key, json_t **hdr_out,
                      char **payload_out)
{
    const char *p64, *pl64, *s64, *alg;
    char *hdr_text, *input;
    json_t *hdr;
    json_error_t err;
    EVP_PKEY *pub = key;

    assert_int_equal(json_object_size(jws), 3);
    p64 = json_string_value(json_object_get(jws, "protected"));
    pl64 = json_string_value(json_object_get(jws, "payload"));
    s64 = json_string_value(json_object_get(jws, "signature"));
    assert_non_null(p64);
    assert_non_null(pl64);
    assert_non_null(s64);
    hdr_text = ub64_str(p64);
    hdr = json_loads(hdr_text, JSON_REJECT_DUPLICATES, &err);
    assert_non_null(hdr);
    free(hdr_text);
    alg = json_string_value(json_object_get(hdr, "alg"));
    assert_non_null(alg);
    if (pub == NULL)
        pub = jwk_to_pkey(json_object_get(hdr, "jwk"));
    input = malloc(strlen(p64) + strlen(pl64) + 2);
    sprintf(input, "%s.%s", p64, pl64);
    assert_true(verify(pub, alg, input, s64));
    /* A flipped bit must not verify. */
    input[0] ^= 1;
    assert_false(verify(pub, alg, input, s64));
    free(input);
    if (pub != key)
        EVP_PKEY_free(pub);
    *hdr_out = hdr;
    *payload_out = ub64_str(pl64);
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);

    assert_non_null(j);
    return j;
}

/* The set of member names of o, sorted and comma-joined. */
static void member_names(json_t *o, char *buf, size_t cap)
{
    const char *names[16];
    const char *k;
    json_t *v;
    size_t n = 0, i, j, pos = 0;

    json_object_foreach(o, k, v) {
        assert_true(n < 16);
        names[n++] = k;
    }
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                const char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    buf[0] = '\0';
    for (i = 0; i < n; i++)
        pos += (size_t)snprintf(buf + pos, cap - pos, "%s%s", i ? "," : "",
                                names[i]);
}

/* ---- base64url -------------------------------------------------------- */

static void b64url_rfc4648_vectors(void **state)
{
    static const char *const v[][2] = {
        {"", ""},           {"f", "Zg"},         {"fo", "Zm8"},
        {"foo", "Zm9v"},    {"foob", "Zm9vYg"},  {"fooba", "Zm9vYmE"},
        {"foobar", "Zm9vYmFy"},
    };
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *e = acme_b64url((const unsigned char *)v[i][0],
                              strlen(v[i][0]));
        unsigned char *dd;

        assert_string_equal(e, v[i][1]);
        free(e);
        dd = acme_b64url_decode(v[i][1], &n);
        assert_non_null(dd);
        assert_int_equal(n, strlen(v[i][0]));
        assert_memory_equal(dd, v[i][0], n);
        free(dd);
    }
    /* Padding is optional on input. */
    {
        unsigned char *dd = acme_b64url_decode("Zm8=", &n);

        assert_non_null(dd);
        assert_int_equal(n, 2);
        assert_memory_equal(dd, "fo", 2);
        free(dd);
        dd = acme_b64url_decode("Zg==", &n);
        assert_non_null(dd);
        assert_int_equal(n, 1);
        free(dd);
    }
}

static void b64url_url_alphabet(void **state)
{
    const unsigned char in[] = {0xfb, 0xff, 0xbf, 0xfb, 0xff};
    unsigned char all[256];
    unsigned char *dd;
    char *e, *ref;
    size_t n, i, len;

    (void)state;
    e = acme_b64url(in, sizeof(in));
    assert_string_equal(e, "-_-_-_8"); /* standard: "+/+/+/8=" */
    free(e);
    /* Every byte value, at every length mod 3, against OpenSSL's encoder. */
    for (i = 0; i < 256; i++)
        all[i] = (unsigned char)(255 - i);
    for (len = 0; len <= 256; len += 1) {
        e = acme_b64url(all, len);
        ref = eb64(all, len);
        assert_string_equal(e, ref);
        dd = acme_b64url_decode(e, &n);
        assert_non_null(dd);
        assert_int_equal(n, len);
        if (len > 0)
            assert_memory_equal(dd, all, len);
        free(dd);
        free(e);
        free(ref);
    }
}

static void b64url_decode_rejects(void **state)
{
    static const char *const bad[] = {
        "Z",     /* one character cannot hold a byte */
        "Zm9vY", /* 5 mod 4 == 1 */
        "Zh",    /* non-zero unused bits: not canonical */
        "Zm+v",  /* standard alphabet */
        "Zm/v",
        "Zm9v\n",
        "Zm 9v",
        "Zg=",   /* incomplete padding */
        "Zg===",
        "Zm8==",
        "Zm=8",  /* padding inside */
        "====",
    };
    size_t i, n = 99;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char *dd = acme_b64url_decode(bad[i], &n);

        if (dd != NULL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(n, 0);
    }
    assert_null(acme_b64url_decode(NULL, &n));
}

/* RFC 7515 appendix A.1: the encoded header and payload, and the HS256
 * signature recomputed from the published key. */
static void rfc7515_a1_hs256(void **state)
{
    const char hdr[] = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
    const char payload[] = "{\"iss\":\"joe\",\r\n"
                           " \"exp\":1300819380,\r\n"
                           " \"http://example.com/is_root\":true}";
    const char *k64 = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH"
                      "75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    char *h64, *p64, *input, *sig64;
    unsigned char *key, mac[64];
    size_t keylen, maclen = 0;

    (void)state;
    h64 = acme_b64url((const unsigned char *)hdr, strlen(hdr));
    p64 = acme_b64url((const unsigned char *)payload, strlen(payload));
    assert_string_equal(h64, "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9");
    assert_string_equal(p64,
                        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogI"
                        "mh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ");
    key = acme_b64url_decode(k64, &keylen);
    assert_non_null(key);
    assert_int_equal(keylen, 64);
    input = malloc(strlen(h64) + strlen(p64) + 2);
    sprintf(input, "%s.%s", h64, p64);
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key,
                              keylen, (const unsigned char *)input,
                              strlen(input), mac, sizeof(mac), &maclen));
    sig64 = acme_b64url(mac, maclen);
    assert_string_equal(sig64, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    free(sig64);
    free(input);
    free(key);
    free(h64);
    free(p64);
}

/* RFC 7515 appendix A.3: the ES256 example, which checks the verifier
 * these tests use (r||s to DER) and acme_jwk's EC coordinates. */
static void rfc7515_a3_es256(void **state)
{
    const char *x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const char *y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const char *input =
        "eyJhbGciOiJFUzI1NiJ9"
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
        "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const char *sig = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDx"
                      "w5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    EVP_PKEY *k = ec_pub("P-256", x, y, 32);
    json_t *jwk;
    kw_diag d;

    (void)state;
    assert_true(verify(k, "ES256", input, sig));
    jwk = acme_jwk(k, &d);
    assert_non_null(jwk);
    assert_string_equal(json_string_value(json_object_get(jwk, "x")), x);
    assert_string_equal(json_string_value(json_object_get(jwk, "y")), y);
    assert_string_equal(json_string_value(json_object_get(jwk, "crv")),
                        "P-256");
    assert_string_equal(acme_jws_alg(k), "ES256");
    json_decref(jwk);
    EVP_PKEY_free(k);
}

/* ---- JWK and thumbprint ----------------------------------------------- */

static const char *rfc7638_n =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPF"
    "FxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93"
    "lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZ"
    "Hzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3X"
    "PksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

static void rfc7638_thumbprint(void **state)
{
    EVP_PKEY *k = rsa_pub(rfc7638_n, "AQAB");
    char *tp, *text;
    json_t *jwk;
    kw_diag d;

    (void)state;
    tp = acme_jwk_thumbprint(k, &d);
    assert_non_null(tp);
    assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    free(tp);
    /* The JWK itself: required members only, n without a leading zero. */
    jwk = acme_jwk(k, &d);
    text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    {
        char want[512];

        snprintf(want, sizeof(want),
                 "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"%s\"}", rfc7638_n);
        assert_string_equal(text, want);
    }
    assert_string_equal(json_string_value(json_object_get(jwk, "n")),
                        rfc7638_n);
    free(text);
    json_decref(jwk);
    EVP_PKEY_free(k);
}

static void jwk_members_and_padding(void **state)
{
    EVP_PKEY *keys[4];
    const char *names[4] = {"crv,kty,x,y", "crv,kty,x,y", "e,kty,n",
                            "crv,kty,x"};
    char buf[128];
    size_t i;
    kw_diag d;

    (void)state;
    keys[0] = tp_key_ec();
    keys[1] = tp_key_ec384();
    keys[2] = tp_key_rsa(2048);
    keys[3] = tp_key_ed25519();
    for (i = 0; i < 4; i++) {
        json_t *jwk = acme_jwk(keys[i], &d);
        EVP_PKEY *back;
        char *tp, *text, *ref;
        unsigned char md[32];
        unsigned int mdlen;

        assert_non_null(jwk);
        member_names(jwk, buf, sizeof(buf));
        assert_string_equal(buf, names[i]);
        /* The JWK describes the same public key. */
        back = jwk_to_pkey(jwk);
        assert_int_equal(EVP_PKEY_eq(back, keys[i]), 1);
        EVP_PKEY_free(back);
        /* Thumbprint computed here from the canonical text. */
        text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
        assert_int_equal(EVP_Digest(text, strlen(text), md, &mdlen,
                                    EVP_sha256(), NULL),
                         1);
        ref = eb64(md, mdlen);
        tp = acme_jwk_thumbprint(keys[i], &d);
        assert_string_equal(tp, ref);
        assert_int_equal(strlen(tp), 43);
        free(text);
        free(ref);
        free(tp);
        json_decref(jwk);
    }
    /* RSA n starts with a non-zero byte (minimal big-endian). */
    {
        json_t *jwk = acme_jwk(keys[2], &d);
        size_t n;
        unsigned char *nb = ub64(json_string_value(json_object_get(jwk, "n")),
                                 &n);

        assert_int_equal(n, 256);
        assert_int_not_equal(nb[0], 0);
        assert_string_equal(json_string_value(json_object_get(jwk, "e")),
                            "AQAB");
        free(nb);
        json_decref(jwk);
    }
    for (i = 0; i < 4; i++)
        EVP_PKEY_free(keys[i]);
}

/* An EC coordinate that starts with a zero byte still takes all 32 bytes
 * (about one key in 128 has one). */
static void jwk_ec_coordinate_leading_zero(void **state)
{
    int tries, found = 0;
    kw_diag d;

    (void)state;
    for (tries = 0; tries < 5000 && !found; tries++) {
        EVP_PKEY *k = tp_key_ec();
        BIGNUM *x = NULL, *y = NULL;

        assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X,
                                               &x),
                         1);
        assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y,
                                               &y),
                         1);
        if (BN_num_bytes(x) < 32 || BN_num_bytes(y) < 32) {
            json_t *jwk = acme_jwk(k, &d);
            EVP_PKEY *back;

            assert_non_null(jwk);
            assert_int_equal(
                strlen(json_string_value(json_object_get(jwk, "x"))), 43);
            assert_int_equal(
                strlen(json_string_value(json_object_get(jwk, "y"))), 43);
            back = jwk_to_pkey(jwk); /* asserts 32-byte coordinates */
            assert_int_equal(EVP_PKEY_eq(back, k), 1);
            EVP_PKEY_free(back);
            json_decref(jwk);
            found = 1;
        }
        BN_free(x);
        BN_free(y);
        EVP_PKEY_free(k);
    }
    assert_true(found);
}

static void unsupported_keys(void **state)
{
    EVP_PKEY *small = tp_key_rsa(1024);
    EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    kw_diag d;

    (void)state;
    assert_null(acme_jws_alg(small));
    assert_null(acme_jws_alg(p521));
    assert_null(acme_jws_alg(NULL));
    d.msg[0] = '\0';
    assert_null(acme_jwk(small, &d));
    assert_non_null(strstr(d.msg, "unsupported"));
    assert_null(acme_jws_sign(p521, NULL, "abc", "https://ca/x", "{}", &d));
    assert_non_null(strstr(d.msg, "unsupported"));
    EVP_PKEY_free(small);
    EVP_PKEY_free(p521);
}

/* ---- challenges ------------------------------------------------------- */

static void key_authorization_and_dns01(void **state)
{
    /* RFC 8555 section 8.3's token and key authorization; the dns-01 value
     * is computed here independently (section 8.4 elides it). */
    const char *token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
    const char *tp = "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
    char *ka, *v, *ref;
    unsigned char md[32];
    unsigned int mdlen;

    (void)state;
    ka = acme_key_authorization(token, tp);
    assert_string_equal(ka, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA."
                            "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI");
    v = acme_dns01_value(ka);
    assert_int_equal(EVP_Digest(ka, strlen(ka), md, &mdlen, EVP_sha256(),
                                NULL),
                     1);
    ref = eb64(md, mdlen);
    assert_string_equal(v, ref);
    assert_int_equal(strlen(v), 43);
    free(ref);
    free(v);
    free(ka);
    /* A token from the CA outside the base64url alphabet is refused. */
    assert_null(acme_key_authorization("../../etc/passwd", tp));
    assert_null(acme_key_authorization("abc def", tp));
    assert_null(acme_key_authorization("", tp));
    assert_null(acme_key_authorization(NULL, tp));
    assert_null(acme_key_authorization(token, NULL));
    assert_null(acme_dns01_value(NULL));
}

/* ---- signing ---------------------------------------------------------- */

static void sign_one(EVP_PKEY *key, const char *want_alg)
{
    const char *url = "https://ca.example/acme/new-order";
    const char *nonce = "oFvnlFP1wIhRlYS2jTaXbA";
    const char *kid = "https://ca.example/acme/acct/evOfKhNU60wg";
    const char *payload = "{\"identifiers\":[{\"type\":\"dns\","
                          "\"value\":\"example.org\"}]}";
    char names[128], *text, *pl;
    json_t *jws, *hdr, *jwk;
    kw_diag d;

    assert_string_equal(acme_jws_alg(key), want_alg);

    /* With jwk (newAccount): verified against the key in the header. */
    text = acme_jws_sign(key, NULL, nonce, url, payload, &d);
    assert_non_null(text);
    assert_null(strchr(text, '\n'));
    jws = parse(text);
    check_jws(jws, NULL, &hdr, &pl);
    member_names(hdr, names, sizeof(names));
    assert_string_equal(names, "alg,jwk,nonce,url");
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")),
                        want_alg);
    assert_string_equal(json_string_value(json_object_get(hdr, "nonce")),
                        nonce);
    assert_string_equal(json_string_value(json_object_get(hdr, "url")), url);
    jwk = acme_jwk(key, &d);
    assert_true(json_equal(jwk, json_object_get(hdr, "jwk")));
    json_decref(jwk);
    assert_string_equal(pl, payload);
    free(pl);
    json_decref(hdr);
    json_decref(jws);
    free(text);

    /* With kid: verified against the key itself. */
    text = acme_jws_sign(key, kid, nonce, url, payload, &d);
    assert_non_null(text);
    jws = parse(text);
    check_jws(jws, key, &hdr, &pl);
    member_names(hdr, names, sizeof(names));
    assert_string_equal(names, "alg,kid,nonce,url");
    assert_string_equal(json_string_value(json_object_get(hdr, "kid")), kid);
    assert_string_equal(pl, payload);
    free(pl);
    json_decref(hdr);
    json_decref(jws);
    free(text);

    /* POST-as-GET: the payload is the empty string. */
    text = acme_jws_sign(key, kid, nonce, url, NULL, &d);
    assert_non_null(text);
    jws = parse(text);
    assert_string_equal(json_string_value(json_object_get(jws, "payload")),
                        "");
    check_jws(jws, key, &hdr, &pl);
    assert_string_equal(pl, "");
    free(pl);
    json_decref(hdr);
    json_decref(jws);
    free(text);
}

static void sign_es256(void **state)
{
    EVP_PKEY *k = tp_key_ec();

    (void)state;
    sign_one(k, "ES256");
    EVP_PKEY_free(k);
}

static void sign_es384(void **state)
{
    EVP_PKEY *k = tp_key_ec384();

    (void)state;
    sign_one(k, "ES384");
    EVP_PKEY_free(k);
}

static void sign_rs256(void **state)
{
    EVP_PKEY *k = tp_key_rsa(2048);

    (void)state;
    sign_one(k, "RS256");
    EVP_PKEY_free(k);
}

static void sign_eddsa(void **state)
{
    EVP_PKEY *k = tp_key_ed25519();

    (void)state;
    sign_one(k, "EdDSA");
    EVP_PKEY_free(k);
}

/* Hostile strings end up escaped inside JSON, never spliced into it. */
static void sign_escapes_and_refuses(void **state)
{
    EVP_PKEY *k = tp_key_ec();
    const char *url = "https://ca.example/x\",\"alg\":\"none";
    char *text, *pl;
    json_t *jws, *hdr;
    kw_diag d;

    (void)state;
    text = acme_jws_sign(k, "kid\"}", "abc", url, "{}", &d);
    assert_non_null(text);
    jws = parse(text);
    check_jws(jws, k, &hdr, &pl);
    assert_string_equal(json_string_value(json_object_get(hdr, "url")), url);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")),
                        "ES256");
    assert_string_equal(json_string_value(json_object_get(hdr, "kid")),
                        "kid\"}");
    free(pl);
    json_decref(hdr);
    json_decref(jws);
    free(text);

    assert_null(acme_jws_sign(k, NULL, NULL, "https://ca/x", "{}", &d));
    assert_non_null(strstr(d.msg, "nonce"));
    assert_null(acme_jws_sign(k, NULL, "a b", "https://ca/x", "{}", &d));
    assert_non_null(strstr(d.msg, "nonce"));
    assert_null(acme_jws_sign(k, NULL, "abc", NULL, "{}", &d));
    assert_non_null(strstr(d.msg, "url"));
    assert_null(acme_jws_sign(k, NULL, "abc", "https://ca/\xff", "{}", &d));
    assert_non_null(strstr(d.msg, "UTF-8"));
    assert_null(acme_jws_sign(NULL, NULL, "abc", "https://ca/x", "{}", &d));
    EVP_PKEY_free(k);
}

/* A public-only key cannot sign; the error says so instead of crashing. */
static void sign_public_only_fails(void **state)
{
    EVP_PKEY *k = rsa_pub(rfc7638_n, "AQAB");
    kw_diag d;

    (void)state;
    d.msg[0] = '\0';
    assert_null(acme_jws_sign(k, NULL, "abc", "https://ca/x", "{}", &d));
    assert_non_null(strstr(d.msg, "RS256"));
    EVP_PKEY_free(k);
}

/* ---- EAB and keyChange ------------------------------------------------ */

static int hmac_ok(const char *md, const unsigned char *key, size_t keylen,
                   json_t *jws)
{
    const char *p64 = json_string_value(json_object_get(jws, "protected"));
    const char *pl64 = json_string_value(json_object_get(jws, "payload"));
    const char *s64 = json_string_value(json_object_get(jws, "signature"));
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    OSSL_PARAM params[2];
    unsigned char out[64], *sig;
    size_t outlen = 0, siglen;
    int ok;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)md, 0);
    params[1] = OSSL_PARAM_construct_end();
    assert_int_equal(EVP_MAC_init(ctx, key, keylen, params), 1);
    assert_int_equal(EVP_MAC_update(ctx, (const unsigned char *)p64,
                                    strlen(p64)),
                     1);
    assert_int_equal(EVP_MAC_update(ctx, (const unsigned char *)".", 1), 1);
    assert_int_equal(EVP_MAC_update(ctx, (const unsigned char *)pl64,
                                    strlen(pl64)),
                     1);
    assert_int_equal(EVP_MAC_final(ctx, out, &outlen, sizeof(out)), 1);
    sig = ub64(s64, &siglen);
    ok = siglen == outlen && memcmp(sig, out, outlen) == 0;
    free(sig);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok;
}

static void eab(void **state)
{
    static const struct {
        const char *alg, *md;
        size_t len;
    } v[] = {{"HS256", "SHA256", 32}, {"HS384", "SHA384", 48},
             {"HS512", "SHA512", 64}};
    unsigned char key[32];
    EVP_PKEY *acct = tp_key_ec();
    const char *url = "https://ca.example/acme/new-account";
    size_t i;
    kw_diag d;

    (void)state;
    for (i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(i * 7 + 3);
    for (i = 0; i < 3; i++) {
        json_t *jws = acme_jws_eab("kid-1", key, sizeof(key), v[i].alg,
                                   acct, url, &d);
        json_t *hdr, *pl, *jwk;
        char names[64], *t;
        size_t n;
        unsigned char *sig;

        assert_non_null(jws);
        assert_int_equal(json_object_size(jws), 3);
        assert_true(hmac_ok(v[i].md, key, sizeof(key), jws));
        sig = ub64(json_string_value(json_object_get(jws, "signature")), &n);
        assert_int_equal(n, v[i].len);
        free(sig);
        /* Header: alg, kid, url; no nonce, no jwk. */
        t = ub64_str(json_string_value(json_object_get(jws, "protected")));
        hdr = parse(t);
        free(t);
        member_names(hdr, names, sizeof(names));
        assert_string_equal(names, "alg,kid,url");
        assert_string_equal(json_string_value(json_object_get(hdr, "alg")),
                            v[i].alg);
        assert_string_equal(json_string_value(json_object_get(hdr, "kid")),
                            "kid-1");
        assert_string_equal(json_string_value(json_object_get(hdr, "url")),
                            url);
        /* Payload: the account key's JWK. */
        t = ub64_str(json_string_value(json_object_get(jws, "payload")));
        pl = parse(t);
        free(t);
        jwk = acme_jwk(acct, &d);
        assert_true(json_equal(pl, jwk));
        json_decref(jwk);
        json_decref(pl);
        json_decref(hdr);
        /* A different key does not verify. */
        key[0] ^= 1;
        assert_false(hmac_ok(v[i].md, key, sizeof(key), jws));
        key[0] ^= 1;
        json_decref(jws);
    }
    assert_null(acme_jws_eab("kid-1", key, sizeof(key), "HS1", acct, url,
                             &d));
    assert_non_null(strstr(d.msg, "HS256"));
    assert_null(acme_jws_eab("kid-1", key, 0, "HS256", acct, url, &d));
    assert_null(acme_jws_eab(NULL, key, sizeof(key), "HS256", acct, url, &d));
    EVP_PKEY_free(acct);
}

static void key_change(void **state)
{
    EVP_PKEY *old_key = tp_key_rsa(2048), *new_key = tp_key_ec384();
    const char *acct = "https://ca.example/acme/acct/1";
    const char *url = "https://ca.example/acme/key-change";
    char *text, *pl, names[64];
    json_t *jws, *hdr, *body, *jwk;
    kw_diag d;

    (void)state;
    text = acme_jws_key_change(new_key, old_key, acct, url, &d);
    assert_non_null(text);
    jws = parse(text);
    /* Verified with the jwk of its own header, and that is the new key. */
    check_jws(jws, NULL, &hdr, &pl);
    member_names(hdr, names, sizeof(names));
    assert_string_equal(names, "alg,jwk,url");
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")),
                        "ES384");
    assert_string_equal(json_string_value(json_object_get(hdr, "url")), url);
    jwk = acme_jwk(new_key, &d);
    assert_true(json_equal(jwk, json_object_get(hdr, "jwk")));
    json_decref(jwk);
    body = parse(pl);
    member_names(body, names, sizeof(names));
    assert_string_equal(names, "account,oldKey");
    assert_string_equal(json_string_value(json_object_get(body, "account")),
                        acct);
    jwk = acme_jwk(old_key, &d);
    assert_true(json_equal(jwk, json_object_get(body, "oldKey")));
    json_decref(jwk);
    json_decref(body);
    free(pl);
    json_decref(hdr);
    json_decref(jws);
    free(text);

    /* The text is usable as the payload of the outer JWS, signed with the
     * old key. */
    text = acme_jws_key_change(new_key, old_key, acct, url, &d);
    {
        char *outer = acme_jws_sign(old_key, acct, "abc", url, text, &d);
        json_t *o = parse(outer), *ohdr;
        char *opl;

        check_jws(o, old_key, &ohdr, &opl);
        assert_string_equal(opl, text);
        free(opl);
        json_decref(ohdr);
        json_decref(o);
        free(outer);
    }
    free(text);
    assert_null(acme_jws_key_change(new_key, old_key, NULL, url, &d));
    assert_null(acme_jws_key_change(new_key, NULL, acct, url, &d));
    EVP_PKEY_free(old_key);
    EVP_PKEY_free(new_key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(b64url_rfc4648_vectors),
        cmocka_unit_test(b64url_url_alphabet),
        cmocka_unit_test(b64url_decode_rejects),
        cmocka_unit_test(rfc7515_a1_hs256),
        cmocka_unit_test(rfc7515_a3_es256),
        cmocka_unit_test(rfc7638_thumbprint),
        cmocka_unit_test(jwk_members_and_padding),
        cmocka_unit_test(jwk_ec_coordinate_leading_zero),
        cmocka_unit_test(unsupported_keys),
        cmocka_unit_test(key_authorization_and_dns01),
        cmocka_unit_test(sign_es256),
        cmocka_unit_test(sign_es384),
        cmocka_unit_test(sign_rs256),
        cmocka_unit_test(sign_eddsa),
        cmocka_unit_test(sign_escapes_and_refuses),
        cmocka_unit_test(sign_public_only_fails),
        cmocka_unit_test(eab),
        cmocka_unit_test(key_change),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
