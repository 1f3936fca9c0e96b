#include "dkim_key.h"

#include "../common/kw_fs.h"
#include "../common/kw_str.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <stdlib.h>
#include <string.h>

const char *kw_dkim_alg_name(kw_dkim_alg alg)
{
    switch (alg) {
    case KW_DKIM_ALG_RSA: return "rsa";
    case KW_DKIM_ALG_ED25519: return "ed25519";
    default: return "none";
    }
}

/* Decode with OpenSSL's decoders (input "PEM" or "DER"), any structure
 * (PKCS#8, traditional, type-specific), for the selection asked.  No
 * passphrase callback: an encrypted key fails to decode, as it would in
 * the signer. */
static EVP_PKEY *decode(const unsigned char *buf, size_t len,
                        const char *input, const char *structure,
                        const char *type, int selection)
{
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dc;
    const unsigned char *p = buf;
    size_t left = len;

    dc = OSSL_DECODER_CTX_new_for_pkey(&pkey, input, structure, type,
                                       selection, NULL, NULL);
    if (dc == NULL)
        return NULL;
    if (OSSL_DECODER_CTX_get_num_decoders(dc) == 0 ||
        !OSSL_DECODER_from_data(dc, &p, &left)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_DECODER_CTX_free(dc);
    return pkey;
}

/* A private key in the input form given.  Without a key type, OpenSSL 3
 * builds its decoder context from every decoder it has: about 350 us per
 * RSA 2048 key on the benchmark's machine, against 90 with "RSA" named
 * (bench_dkim reads 2,000 key files a round).  So the two types DKIM
 * signs with are tried first, named, and then any type, so that another
 * kind of key is still read and refused by name. */
static EVP_PKEY *decode_key(const unsigned char *buf, size_t len,
                            const char *input)
{
    static const char *const types[] = {"RSA", "ED25519", NULL};
    EVP_PKEY *pkey = NULL;
    size_t i;

    for (i = 0; i < sizeof(types) / sizeof(types[0]) && pkey == NULL; i++)
        pkey = decode(buf, len, input, NULL, types[i], EVP_PKEY_KEYPAIR);
    return pkey;
}

/* Base64 with whitespace skipped, into out (at most cap bytes): the
 * number of bytes, or -1 when the text is not base64 or too long. */
static int unbase64(const unsigned char *in, size_t len, unsigned char *out,
                    size_t cap)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0, pad = 0;
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        const char *c;

        if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n')
            continue;
        if (in[i] == '=') {
            pad++;
            continue;
        }
        if (pad > 0 || in[i] == '\0' || (c = strchr(al, in[i])) == NULL)
            return -1;
        acc = (acc << 6 | (unsigned)(c - al)) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= cap)
                return -1;
            out[n++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    if (pad > 2)
        return -1;
    return (int)n;
}

/* rspamadm's Ed25519 key: base64 of the 64-byte libsodium secret key (the
 * seed, then the public key), or of the 32-byte seed. */
static EVP_PKEY *raw_ed25519(const unsigned char *buf, size_t len)
{
    unsigned char raw[80], pub[32];
    size_t pub_len = sizeof(pub);
    EVP_PKEY *pkey = NULL;
    int n = unbase64(buf, len, raw, sizeof(raw));

    if (n == 32 || n == 64)
        pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, 32);
    /* The stored public half must be the seed's: otherwise the file is
     * not what it looks like, and the signer would sign with a key no
     * record can match. */
    if (pkey != NULL && n == 64 &&
        (EVP_PKEY_get_raw_public_key(pkey, pub, &pub_len) != 1 ||
         pub_len != 32 || CRYPTO_memcmp(pub, raw + 32, 32) != 0)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    return pkey;
}

/* The public facts of pkey. */
static int fill_pub(EVP_PKEY *pkey, const char *path, kw_dkim_pub *out,
                    kw_diag *d)
{
    unsigned char *spki = NULL, md[32];
    unsigned int md_len = 0;
    int n;

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        out->alg = KW_DKIM_ALG_RSA;
        out->bits = EVP_PKEY_get_bits(pkey);
    } else if (EVP_PKEY_is_a(pkey, "ED25519")) {
        out->alg = KW_DKIM_ALG_ED25519;
        out->bits = 256;
    } else {
        return kw_diag_set(d, KW_EPARSE,
                           "%s: a %s key; DKIM signs with RSA or Ed25519 "
                           "only",
                           path, EVP_PKEY_get0_type_name(pkey));
    }
    n = i2d_PUBKEY(pkey, &spki);
    if (n <= 0)
        return kw_diag_set(d, KW_ECRYPTO, "%s: cannot encode the public key",
                           path);
    if (EVP_Digest(spki, (size_t)n, md, &md_len, EVP_sha256(), NULL) != 1) {
        OPENSSL_free(spki);
        return kw_diag_set(d, KW_ECRYPTO, "%s: SHA-256 failed", path);
    }
    {
        char hex[3 * sizeof(md)];

        kw_hex(md, md_len, 0, hex);
        memcpy(out->hash, hex, 64);
        out->hash[64] = '\0';
    }
    if (out->alg == KW_DKIM_ALG_RSA) {
        if ((size_t)n > sizeof(out->p)) {
            OPENSSL_free(spki);
            return kw_diag_set(d, KW_ETOOBIG,
                               "%s: a %d-bit RSA key is too large for a "
                               "DNS record",
                               path, out->bits);
        }
        memcpy(out->p, spki, (size_t)n);
        out->p_len = (size_t)n;
    } else {
        out->p_len = 32;
        if (EVP_PKEY_get_raw_public_key(pkey, out->p, &out->p_len) != 1) {
            OPENSSL_free(spki);
            return kw_diag_set(d, KW_ECRYPTO,
                               "%s: cannot read the Ed25519 public key",
                               path);
        }
    }
    OPENSSL_free(spki);
    return 0;
}

int kw_dkim_key_load(const char *path, kw_dkim_pub *out, kw_diag *d)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    EVP_PKEY *pkey = NULL;
    int r, pem;

    memset(out, 0, sizeof(*out));
    r = kw_fs_read_regular(path, KW_DKIM_KEY_FILE_MAX, &buf, &len, d);
    if (r != 0)
        return r;
    pem = memmem(buf, len, "-----BEGIN ", 11) != NULL;
    if (pem && memmem(buf, len, "ENCRYPTED", 9) != NULL) {
        r = kw_diag_set(d, KW_EPARSE,
                        "%s: the private key is encrypted; DKIM signers "
                        "read keys in clear",
                        path);
        goto out;
    }
    if (pem)
        pkey = decode_key(buf, len, "PEM");
    else if ((pkey = raw_ed25519(buf, len)) == NULL)
        pkey = decode_key(buf, len, "DER");
    if (pkey == NULL) {
        r = kw_diag_set(d, KW_EPARSE,
                        "%s: not a private key (PEM, DER, or rspamd's "
                        "base64 Ed25519)",
                        path);
        goto out;
    }
    r = fill_pub(pkey, path, out, d);
out:
    EVP_PKEY_free(pkey);
    OPENSSL_cleanse(buf, len);
    free(buf);
    if (r != 0)
        memset(out, 0, sizeof(*out));
    return r;
}

int kw_dkim_pub_matches(const kw_dkim_pub *key, kw_dkim_alg k,
                        const unsigned char *p, size_t n)
{
    const unsigned char *q = p;
    EVP_PKEY *mine, *theirs;
    int eq;

    if (key == NULL || k != key->alg || p == NULL || n == 0 ||
        key->p_len == 0)
        return 0;
    if (k == KW_DKIM_ALG_ED25519)
        return n == key->p_len && CRYPTO_memcmp(p, key->p, n) == 0;
    if (k != KW_DKIM_ALG_RSA)
        return 0;
    /* The same SubjectPublicKeyInfo bytes are the same key: the usual
     * case (opendkim-genkey publishes exactly these), answered without
     * decoding two keys (about 200 us). */
    if (n == key->p_len && CRYPTO_memcmp(p, key->p, n) == 0)
        return 1;
    theirs = d2i_PUBKEY(NULL, &q, (long)n);
    if (theirs != NULL && q != p + n) {
        EVP_PKEY_free(theirs);
        theirs = NULL;
    }
    if (theirs == NULL)
        theirs = decode(p, n, "DER", "type-specific", "RSA",
                        EVP_PKEY_PUBLIC_KEY);
    q = key->p;
    mine = d2i_PUBKEY(NULL, &q, (long)key->p_len);
    eq = mine != NULL && theirs != NULL && EVP_PKEY_is_a(theirs, "RSA") &&
         EVP_PKEY_eq(mine, theirs) == 1;
    EVP_PKEY_free(mine);
    EVP_PKEY_free(theirs);
    return eq;
}

int kw_dkim_pub_record(const kw_dkim_pub *key, char *buf, size_t cap)
{
    /* Base64 of KW_DKIM_P_MAX bytes, and its NUL. */
    unsigned char b64[(KW_DKIM_P_MAX + 2) / 3 * 4 + 1];
    size_t pos = 0;

    if (key == NULL || key->p_len == 0 || key->alg == KW_DKIM_ALG_NONE ||
        key->p_len > KW_DKIM_P_MAX)
        return KW_EINVAL;
    EVP_EncodeBlock(b64, key->p, (int)key->p_len);
    if (cap > 0)
        buf[0] = '\0';
    if (kw_str_appendf(buf, cap, &pos, "v=DKIM1; k=%s; p=%s",
                     kw_dkim_alg_name(key->alg), (const char *)b64) != 0)
        return KW_ETOOBIG;
    return 0;
}
