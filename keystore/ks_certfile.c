/*
 * ks_certfile.c: one file's certificates and keys, and how they relate.
 */
#include "ks_cert.h"

#include "ks_pem.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void ks_certfile_free(ks_certfile *f)
{
    size_t i;

    if (f == NULL)
        return;
    for (i = 0; i < f->ncerts; i++)
        ks_cert_clear(&f->certs[i]);
    free(f->certs);
    free(f->keys);
    free(f->order);
    memset(f, 0, sizeof(*f));
}

static int push_cert(ks_certfile *f, size_t *cap, ks_cert *c)
{
    if (f->ncerts >= KS_MAX_CERTS_PER_FILE)
        return KW_ETOOBIG;
    if (f->ncerts == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        ks_cert *n = realloc(f->certs, ncap * sizeof(*n));
        if (n == NULL)
            return KW_ENOMEM;
        f->certs = n;
        *cap = ncap;
    }
    f->certs[f->ncerts++] = *c;
    memset(c, 0, sizeof(*c));
    return 0;
}

static int push_key(ks_certfile *f, const ks_key_info *k)
{
    ks_key_info *n;

    if (f->nkeys >= KS_MAX_KEYS_PER_FILE)
        return KW_ETOOBIG;
    n = realloc(f->keys, (f->nkeys + 1) * sizeof(*n));
    if (n == NULL)
        return KW_ENOMEM;
    f->keys = n;
    f->keys[f->nkeys++] = *k;
    return 0;
}

/* Does a issue b?  Names must match byte for byte (RFC 5280 allows more
 * lenient comparison, but every CA we know encodes them identically), and
 * key identifiers, when both are present, must agree. */
static int issues(const ks_cert *a, const ks_cert *b)
{
    if (a->subject_der_len != b->issuer_der_len ||
        memcmp(a->subject_der, b->issuer_der, a->subject_der_len) != 0)
        return 0;
    if (a->ski_len > 0 && b->aki_len > 0 &&
        (a->ski_len != b->aki_len || memcmp(a->ski, b->aki, a->ski_len) != 0))
        return 0;
    return 1;
}

/* Decide whether the certificates form one chain, and in which order. */
static int arrange(ks_certfile *f)
{
    size_t n = f->ncerts, i, j, leaf = n, count;
    unsigned char *used;

    if (n == 0) {
        f->arrangement = KS_ARR_NONE;
        return 0;
    }
    f->order = calloc(n, sizeof(*f->order));
    if (f->order == NULL)
        return KW_ENOMEM;
    for (i = 0; i < n; i++)
        f->order[i] = i;
    if (n == 1) {
        f->arrangement = KS_ARR_SINGLE;
        return 0;
    }
    for (i = 0; i + 1 < n; i++)
        if (!issues(&f->certs[i + 1], &f->certs[i]) ||
            f->certs[i].self_signed)
            break;
    if (i + 1 == n) {
        f->arrangement = KS_ARR_CHAIN;
        return 0;
    }

    /* Not in order: find the one certificate that issues no other, then
     * walk issuer links.  A chain file in the wrong order still breaks
     * TLS clients, which is why the caller reports it. */
    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++)
            if (i != j && issues(&f->certs[i], &f->certs[j]))
                break;
        if (j == n) {
            if (leaf != n) { /* two leaves: a bundle */
                f->arrangement = KS_ARR_BUNDLE;
                return 0;
            }
            leaf = i;
        }
    }
    if (leaf == n) {
        f->arrangement = KS_ARR_BUNDLE;
        return 0;
    }
    used = calloc(n, 1);
    if (used == NULL)
        return KW_ENOMEM;
    f->order[0] = leaf;
    used[leaf] = 1;
    for (count = 1; count < n; count++) {
        const ks_cert *cur = &f->certs[f->order[count - 1]];
        if (cur->self_signed)
            break;
        for (j = 0; j < n; j++)
            if (!used[j] && issues(&f->certs[j], cur))
                break;
        if (j == n)
            break;
        f->order[count] = j;
        used[j] = 1;
    }
    free(used);
    if (count == n) {
        f->arrangement = KS_ARR_CHAIN_UNORDERED;
    } else {
        for (i = 0; i < n; i++)
            f->order[i] = i;
        f->arrangement = KS_ARR_BUNDLE;
    }
    return 0;
}

/* Keys whose public half we can derive (or, encrypted, at least count).
 * Other "... PRIVATE KEY" blocks (OpenSSH, ...) are counted as other
 * blocks, but are just as secret: see ks_pem_block.secret. */
static int is_key_label(const char *label)
{
    return strcmp(label, "PRIVATE KEY") == 0 ||
           strcmp(label, "RSA PRIVATE KEY") == 0 ||
           strcmp(label, "EC PRIVATE KEY") == 0 ||
           strcmp(label, "DSA PRIVATE KEY") == 0 ||
           strcmp(label, "ENCRYPTED PRIVATE KEY") == 0;
}

static int parse_pem(const unsigned char *buf, size_t len,
                     unsigned char *scratch, size_t scratch_cap,
                     ks_certfile *out, kw_diag *d)
{
    ks_pem_iter it;
    ks_pem_block blk;
    size_t cap = 0;
    int r;
    kw_diag sub;

    sub.msg[0] = '\0';
    ks_pem_iter_init(&it, buf, len, scratch, scratch_cap);
    while ((r = ks_pem_next(&it, &blk, d)) == 1) {
        if (blk.secret)
            out->saw_private = 1;
        if (strcmp(blk.label, "CERTIFICATE") == 0 ||
            strcmp(blk.label, "X509 CERTIFICATE") == 0 ||
            strcmp(blk.label, "TRUSTED CERTIFICATE") == 0) {
            ks_cert c;
            int trusted = blk.label[0] == 'T';

            r = ks_cert_decode(blk.der, blk.der_len, trusted, &c, NULL, &sub);
            if (r != 0) {
                r = kw_diag_set(d, r, "PEM block %d (%s, line %d): %s",
                                blk.index, blk.label, blk.line, sub.msg);
                break;
            }
            r = push_cert(out, &cap, &c);
            ks_cert_clear(&c);
            if (r == KW_ETOOBIG)
                kw_diag_set(d, r, "more than %d certificates in one file",
                            KS_MAX_CERTS_PER_FILE);
            else if (r != 0)
                kw_diag_set(d, r, "PEM block %d (%s, line %d): out of memory",
                            blk.index, blk.label, blk.line);
        } else if (is_key_label(blk.label)) {
            ks_key_info k;

            memset(&k, 0, sizeof(k));
            if (blk.encrypted ||
                strcmp(blk.label, "ENCRYPTED PRIVATE KEY") == 0) {
                k.encrypted = 1;
                r = 0;
            } else {
                r = ks_privkey_info(blk.der, blk.der_len, &k, &sub);
                if (r != 0)
                    kw_diag_set(d, r, "PEM block %d (%s, line %d): %s",
                                blk.index, blk.label, blk.line, sub.msg);
            }
            k.block = blk.index;
            if (r == 0) {
                r = push_key(out, &k);
                if (r == KW_ETOOBIG)
                    kw_diag_set(d, r, "more than %d private keys in one file",
                                KS_MAX_KEYS_PER_FILE);
                else if (r != 0)
                    kw_diag_set(d, r,
                                "PEM block %d (%s, line %d): out of memory",
                                blk.index, blk.label, blk.line);
            }
        } else {
            out->other_blocks++;
            r = 0;
        }
        if (blk.secret)
            OPENSSL_cleanse(blk.der, blk.der_len);
        if (r != 0)
            break;
    }
    if (r < 0 && blk.secret) /* a key block that failed to decode */
        out->saw_private = 1;
    if (out->saw_private || r != 0)
        OPENSSL_cleanse(scratch, it.scratch_used);
    return r < 0 ? r : 0;
}

static int parse_der(const unsigned char *buf, size_t len, ks_certfile *out,
                     kw_diag *d)
{
    size_t off = 0, used, cap = 0;
    ks_cert c;
    kw_diag sub;
    int r;

    sub.msg[0] = '\0';
    while (off < len) {
        r = ks_cert_decode(buf + off, len - off, 1, &c, &used, &sub);
        if (r != 0) {
            ks_key_info k;
            kw_diag kd;

            if (off == 0 && ks_privkey_info(buf, len, &k, &kd) == 0) {
                k.block = 0;
                out->saw_private = 1;
                if ((r = push_key(out, &k)) != 0)
                    return kw_diag_set(d, r, "out of memory");
                return 0;
            }
            if (off == 0)
                return kw_diag_set(d, r, "%s", sub.msg);
            return kw_diag_set(d, r, "DER certificate %zu at byte %zu: %s",
                               out->ncerts + 1, off, sub.msg);
        }
        r = push_cert(out, &cap, &c);
        ks_cert_clear(&c);
        if (r == KW_ETOOBIG)
            return kw_diag_set(d, r, "more than %d certificates in one file",
                               KS_MAX_CERTS_PER_FILE);
        if (r != 0)
            return kw_diag_set(d, r, "DER certificate %zu at byte %zu: out "
                               "of memory",
                               out->ncerts + 1, off);
        off += used;
    }
    return 0;
}

int ks_certfile_parse(const unsigned char *buf, size_t len,
                      unsigned char *scratch, size_t scratch_cap,
                      ks_certfile *out, kw_diag *d)
{
    int r;

    memset(out, 0, sizeof(*out));
    if (len == 0)
        return 0;
    if (ks_pem_present(buf, len)) {
        out->format = KS_FMT_PEM;
        if (scratch_cap < len)
            return kw_diag_set(d, KW_ETOOBIG, "scratch buffer too small");
        r = parse_pem(buf, len, scratch, scratch_cap, out, d);
    } else if (buf[0] == 0x30 &&
               (len == 1 || buf[1] >= 0x80 || (size_t)buf[1] + 2 == len)) {
        /* DER is a SEQUENCE (0x30) with a long-form length (certificates
         * are longer than 127 bytes), or a short one that covers the file
         * exactly (a small EC key); a text file starting with "0" is not
         * mistaken for either. */
        out->format = KS_FMT_DER;
        r = parse_der(buf, len, out, d);
    } else {
        return 0;
    }
    if (r == 0 && (r = arrange(out)) != 0)
        kw_diag_set(d, r, "out of memory arranging %zu certificates",
                    out->ncerts);
    if (r != 0) {
        /* d names the block that failed; whether key bytes were seen
         * survives the free, so the caller still knows to wipe buf. */
        int saw_private = out->saw_private;

        ks_certfile_free(out);
        out->saw_private = saw_private;
    }
    return r;
}
