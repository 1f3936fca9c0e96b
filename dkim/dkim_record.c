/*
 * dkim_record.c: the strict parser of DKIM key records (see
 * dkim_record.h).
 */
#include "dkim_record.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define WHAT "DKIM record"

/* The value of a base64 character (RFC 4648 section 4), or -1. */
static int b64_value(char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *at = c != '\0' ? strchr(alphabet, c) : NULL;

    return at != NULL ? (int)(at - alphabet) : -1;
}

/* p=: base64 (RFC 6376's base64string) with whitespace anywhere, '='
 * padding only at the end, decoded into out->p. */
static int decode_p(const char *txt, const kw_dkim_tag *t, kw_dkim_record *out,
                    kw_diag *d)
{
    size_t pos, end = t->val_off + t->val_len, nchars = 0, o = 0;
    unsigned acc = 0;
    int pad = 0;
    char q[80];

    out->p_off = t->val_off;
    for (pos = t->val_off; pos < end; pos++) {
        char c = txt[pos];
        int v;

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue; /* the splitter allowed only folding whitespace */
        if (c == '=') {
            if (nchars % 4 < 2)
                return kw_diag_set(d, KW_EPARSE,
                                   WHAT ": tag p= (offset %zu): '=' padding "
                                   "where base64 data should be", pos);
            pad++;
            v = 0;
        } else if ((v = b64_value(c)) < 0) {
            return kw_diag_set(d, KW_EPARSE,
                               WHAT ": tag p= (offset %zu): invalid base64 "
                               "character '%s'", pos,
                               kw_dkim_quote(q, sizeof(q), &c, 1));
        } else if (pad > 0) {
            return kw_diag_set(d, KW_EPARSE,
                               WHAT ": tag p= (offset %zu): base64 data after "
                               "the '=' padding", pos);
        }
        acc = (acc << 6) | (unsigned)v;
        nchars++;
        if (nchars % 4 == 0) {
            if (o + 3 > KW_DKIM_P_MAX)
                return kw_diag_set(d, KW_ETOOBIG,
                                   WHAT ": tag p= (offset %zu): the key is "
                                   "longer than %d bytes (an RSA key above "
                                   "8192 bits?)", t->val_off, KW_DKIM_P_MAX);
            out->p[o++] = (unsigned char)(acc >> 16);
            out->p[o++] = (unsigned char)(acc >> 8);
            out->p[o++] = (unsigned char)acc;
            acc = 0;
        }
    }
    if (nchars % 4 != 0)
        return kw_diag_set(d, KW_EPARSE,
                           WHAT ": tag p= (offset %zu): %zu base64 characters, "
                           "not a multiple of 4 (the value is cut short or "
                           "its '=' padding is missing)", t->val_off, nchars);
    /* The padding stood for bytes that are not there. */
    out->p_len = o - (size_t)pad;
    out->revoked = nchars == 0;
    return 0;
}

/* What verifiers accept for an RSA p=: SubjectPublicKeyInfo (what
 * opendkim-genkey publishes) or a bare RSAPublicKey. */
static int rsa_bits(kw_dkim_record *out, kw_diag *d)
{
    const unsigned char *pp = out->p;
    EVP_PKEY *pk;
    int r = 0;

    /* A record that is not a key is reported here, with its offset; the
     * decoders' own errors must not linger in the thread's queue for
     * whatever reads it next. */
    ERR_set_mark();
    pk = d2i_PUBKEY(NULL, &pp, (long)out->p_len);
    if (pk == NULL) {
        pp = out->p;
        pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &pp, (long)out->p_len);
    }
    ERR_pop_to_mark();
    if (pk == NULL)
        return kw_diag_set(d, KW_EPARSE,
                           WHAT ": tag p= (offset %zu): %zu bytes that are "
                           "not an RSA public key (neither "
                           "SubjectPublicKeyInfo nor RSAPublicKey DER)",
                           out->p_off, out->p_len);
    if (!EVP_PKEY_is_a(pk, "RSA"))
        r = kw_diag_set(d, KW_EPARSE,
                        WHAT ": tag p= (offset %zu): the key is %s, not RSA "
                        "as k= says", out->p_off, EVP_PKEY_get0_type_name(pk));
    else if (pp != out->p + out->p_len)
        r = kw_diag_set(d, KW_EPARSE,
                        WHAT ": tag p= (offset %zu): %zu bytes after the end "
                        "of the RSA key", out->p_off,
                        (size_t)(out->p + out->p_len - pp));
    else
        out->bits = EVP_PKEY_get_bits(pk);
    EVP_PKEY_free(pk);
    return r;
}

static int parse_k(const char *txt, const kw_dkim_tag *t, kw_dkim_record *out,
                   kw_diag *d)
{
    const char *v = txt + t->val_off;
    char q[80];

    kw_dkim_quote(out->k_text, sizeof(out->k_text), v, t->val_len);
    if (t->val_len == 3 && memcmp(v, "rsa", 3) == 0)
        out->k = KW_DKIM_ALG_RSA;
    else if (t->val_len == 7 && memcmp(v, "ed25519", 7) == 0)
        out->k = KW_DKIM_ALG_ED25519;
    else
        return kw_diag_set(d, KW_EPARSE,
                           WHAT ": tag k= (offset %zu): unknown key type "
                           "\"%s\" (verifiers know rsa and ed25519; the value "
                           "is case-sensitive)", t->val_off,
                           kw_dkim_quote(q, sizeof(q), v, t->val_len));
    return 0;
}

int kw_dkim_record_parse(const char *txt, size_t len, kw_dkim_record *out,
                         kw_diag *d)
{
    static const char *const h_names[] = {"sha1", "sha256", NULL};
    static const char *const s_names[] = {"email", "*", NULL};
    static const char *const t_names[] = {"y", "s", NULL};
    kw_dkim_taglist tl;
    const kw_dkim_tag *p = NULL, *h = NULL;
    unsigned bits;
    size_t i;
    int r;

    memset(out, 0, sizeof(*out));
    out->k = KW_DKIM_ALG_RSA;
    out->h_sha1 = out->h_sha256 = 1;
    r = kw_dkim_tags_split(txt, len, WHAT, 0, &tl, d);
    if (r < 0)
        return r;
    for (i = 0; i < tl.n; i++) {
        const kw_dkim_tag *t = &tl.tag[i];

        if (kw_dkim_tag_is(txt, t, "v", 0)) {
            if (i != 0)
                return kw_diag_set(d, KW_EPARSE,
                                   WHAT ": tag v= (offset %zu) must be the "
                                   "first tag when present", t->name_off);
            if (t->val_len != 5 || memcmp(txt + t->val_off, "DKIM1", 5) != 0) {
                char q[80];

                return kw_diag_set(d, KW_EPARSE,
                                   WHAT ": tag v= (offset %zu): version "
                                   "\"%s\", verifiers discard any but DKIM1",
                                   t->val_off,
                                   kw_dkim_quote(q, sizeof(q),
                                                 txt + t->val_off,
                                                 t->val_len));
            }
            out->has_v = 1;
        } else if (kw_dkim_tag_is(txt, t, "k", 0)) {
            r = parse_k(txt, t, out, d);
        } else if (kw_dkim_tag_is(txt, t, "h", 0)) {
            h = t;
            r = kw_dkim_tags_list(txt, t, WHAT, h_names, 0, 1, &bits, out->h,
                                  sizeof(out->h), d);
            out->h_sha1 = (bits & 1u) != 0;
            out->h_sha256 = (bits & 2u) != 0;
        } else if (kw_dkim_tag_is(txt, t, "s", 0)) {
            r = kw_dkim_tags_list(txt, t, WHAT, s_names, 0, 1, &bits, out->s,
                                  sizeof(out->s), d);
            if (r == 0 && bits == 0)
                kw_dkim_warn(out->warn, &out->n_warn, KW_DKIM_W_NOT_EMAIL,
                             "s=%s names neither email nor *: verifiers do "
                             "not use this key for mail", out->s);
        } else if (kw_dkim_tag_is(txt, t, "t", 0)) {
            char flags[64];

            r = kw_dkim_tags_list(txt, t, WHAT, t_names, 0, 1, &bits, flags,
                                  sizeof(flags), d);
            out->t_y = (bits & 1u) != 0;
            out->t_s = (bits & 2u) != 0;
        } else if (kw_dkim_tag_is(txt, t, "p", 0)) {
            p = t;
            r = decode_p(txt, t, out, d);
        }
        /* Other tags (n= notes, g= from RFC 4871, future ones) are
         * ignored, as RFC 6376 section 3.6.1 says. */
        if (r < 0)
            return r;
    }
    if (p == NULL)
        return kw_diag_set(d, KW_EPARSE,
                           WHAT ": no p= tag (it is required; an empty p= "
                           "revokes the key)");
    if (h != NULL && !out->h_sha1 && !out->h_sha256)
        return kw_diag_set(d, KW_EPARSE,
                           WHAT ": tag h= (offset %zu): h=%s allows no hash "
                           "algorithm verifiers know (sha256, sha1), so no "
                           "signature can verify", h->val_off, out->h);
    if (h != NULL && !out->h_sha256)
        kw_dkim_warn(out->warn, &out->n_warn, KW_DKIM_W_SHA1_ONLY,
                     "h=%s allows only sha1, which RFC 8301 forbids for "
                     "signing: verifiers reject rsa-sha256 signatures with "
                     "this key", out->h);
    if (out->revoked)
        return 0;
    if (out->k == KW_DKIM_ALG_ED25519) {
        if (out->p_len != 32)
            return kw_diag_set(d, KW_EPARSE,
                               WHAT ": tag p= (offset %zu): k=ed25519 needs "
                               "the raw 32-byte public key (RFC 8463); this "
                               "p= decodes to %zu bytes%s", out->p_off,
                               out->p_len,
                               out->p_len == 44 ? " (a SubjectPublicKeyInfo: "
                                                  "publish its last 32 bytes)"
                                                : "");
        out->bits = 256;
        return 0;
    }
    return rsa_bits(out, d);
}

/* After FWS at pos, does txt hold word and then '=' (with FWS around)? */
static size_t match_tag(const char *txt, size_t pos, size_t len,
                        const char *word)
{
    size_t n = strlen(word);

    while (pos < len && (txt[pos] == ' ' || txt[pos] == '\t' ||
                         txt[pos] == '\r' || txt[pos] == '\n'))
        pos++;
    if (len - pos < n || memcmp(txt + pos, word, n) != 0)
        return 0;
    pos += n;
    while (pos < len && (txt[pos] == ' ' || txt[pos] == '\t' ||
                         txt[pos] == '\r' || txt[pos] == '\n'))
        pos++;
    return pos < len && txt[pos] == '=' ? pos + 1 : 0;
}

int kw_dkim_record_looks_like(const char *txt, size_t len)
{
    size_t pos = match_tag(txt, 0, len, "v"), i;

    if (pos > 0) {
        /* Verifiers discard a record whose v= is not DKIM1, so only
         * v=DKIM1 counts. */
        while (pos < len && (txt[pos] == ' ' || txt[pos] == '\t' ||
                             txt[pos] == '\r' || txt[pos] == '\n'))
            pos++;
        return len - pos >= 5 && memcmp(txt + pos, "DKIM1", 5) == 0 &&
               (len - pos == 5 || txt[pos + 5] == ';' ||
                txt[pos + 5] == ' ' || txt[pos + 5] == '\t' ||
                txt[pos + 5] == '\r');
    }
    for (i = 0; i <= len; i = pos + 1) {
        if (match_tag(txt, i, len, "p") > 0)
            return 1;
        for (pos = i; pos < len && txt[pos] != ';'; pos++)
            ;
    }
    return 0;
}
