#include "ks_pem.h"

#include "../common/kw_fs.h"

#include <stdio.h>
#include <string.h>

#define BEGIN_MARK "-----BEGIN "
#define END_MARK "-----END "
#define DASHES "-----"

static const unsigned char *find(const unsigned char *hay, size_t n,
                                 const char *needle)
{
    size_t k = strlen(needle);

    if (n < k)
        return NULL;
    return memmem(hay, n, needle, k);
}

static int count_lines(const unsigned char *from, const unsigned char *to)
{
    int n = 0;

    while (from < to) {
        const unsigned char *nl = memchr(from, '\n', (size_t)(to - from));
        if (nl == NULL)
            break;
        n++;
        from = nl + 1;
    }
    return n;
}

int ks_pem_present(const unsigned char *buf, size_t len)
{
    return find(buf, len, BEGIN_MARK) != NULL;
}

void ks_pem_iter_init(ks_pem_iter *it, const unsigned char *buf, size_t len,
                      unsigned char *scratch, size_t scratch_cap)
{
    memset(it, 0, sizeof(*it));
    it->buf = buf;
    it->len = len;
    it->line = 1;
    it->scratch = scratch;
    it->scratch_cap = scratch_cap;
}

/* Base64 alphabet (RFC 4648 section 4): value, or 0xff. */
static unsigned char b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return (unsigned char)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (unsigned char)(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return (unsigned char)(c - '0' + 52);
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return 0xff;
}

/* Decode the base64 body [p, end) into out; *line tracks line numbers for
 * messages.  Whitespace is skipped; '=' only at the end.  On error the
 * bytes already decoded are wiped: they may be part of a private key. */
static int b64_decode(const unsigned char *p, const unsigned char *end,
                      unsigned char *out, size_t cap, size_t *outlen,
                      int *line, const ks_pem_block *blk, kw_diag *d)
{
    unsigned acc = 0;
    int nbits = 0, pad = 0, r;
    size_t o = 0, nchars = 0;

    for (; p < end; p++) {
        unsigned char c = *p, v;

        if (c == '\n') {
            (*line)++;
            continue;
        }
        if (c == '\r' || c == ' ' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            if (pad > 2)
                goto bad_pad;
            continue;
        }
        if (pad > 0)
            goto bad_pad;
        v = b64val(c);
        if (v == 0xff) {
            if (c >= 0x20 && c < 0x7f)
                r = kw_diag_set(d, KW_EPARSE,
                                "PEM block %d (%s, line %d): invalid "
                                "base64 character '%c' at line %d",
                                blk->index, blk->label, blk->line, c, *line);
            else
                r = kw_diag_set(d, KW_EPARSE,
                                "PEM block %d (%s, line %d): invalid base64 "
                                "byte 0x%02x at line %d",
                                blk->index, blk->label, blk->line, c, *line);
            goto fail;
        }
        acc = (acc << 6) | v;
        nbits += 6;
        nchars++;
        if (nbits >= 8) {
            nbits -= 8;
            if (o >= cap) {
                r = kw_diag_set(d, KW_ETOOBIG,
                                "PEM block %d: decoded body too large",
                                blk->index);
                goto fail;
            }
            out[o++] = (unsigned char)(acc >> nbits);
            acc &= (1u << nbits) - 1;
        }
    }
    /* RFC 7468 text is padded to whole 4-character quanta, and the bits
     * left over in the last one must be zero. */
    if ((nchars + (size_t)pad) % 4 != 0 || nbits >= 6 || acc != 0 ||
        (pad != 0 && (nbits / 2) != pad)) {
        r = kw_diag_set(d, KW_EPARSE,
                        "PEM block %d (%s, line %d): base64 body is "
                        "truncated or has bad padding",
                        blk->index, blk->label, blk->line);
        goto fail;
    }
    *outlen = o;
    return 0;

bad_pad:
    r = kw_diag_set(d, KW_EPARSE,
                    "PEM block %d (%s, line %d): misplaced '=' padding "
                    "at line %d",
                    blk->index, blk->label, blk->line, *line);
fail:
    kw_wipe(out, o);
    return r;
}

int ks_pem_next(ks_pem_iter *it, ks_pem_block *blk, kw_diag *d)
{
    const unsigned char *base = it->buf + it->pos;
    const unsigned char *end = it->buf + it->len;
    const unsigned char *begin, *lab, *labend, *body, *p, *dash, *eol;
    size_t lablen, endlen, outlen = 0;
    int line, r;
    char endline[80];

    memset(blk, 0, sizeof(*blk));
    begin = find(base, (size_t)(end - base), BEGIN_MARK);
    if (begin == NULL) {
        it->pos = it->len;
        return 0;
    }
    it->line += count_lines(base, begin);
    it->nblocks++;
    blk->index = it->nblocks;
    blk->line = it->line;

    lab = begin + strlen(BEGIN_MARK);
    eol = memchr(lab, '\n', (size_t)(end - lab));
    if (eol == NULL)
        eol = end;
    labend = find(lab, (size_t)(eol - lab), DASHES);
    if (labend == NULL || labend == lab || labend - lab > 64)
        return kw_diag_set(d, KW_EPARSE,
                           "PEM block %d at line %d: malformed BEGIN line",
                           blk->index, blk->line);
    lablen = (size_t)(labend - lab);
    for (p = lab; p < labend; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == ' '))
            return kw_diag_set(d, KW_EPARSE,
                               "PEM block %d at line %d: malformed BEGIN "
                               "label",
                               blk->index, blk->line);
    memcpy(blk->label, lab, lablen);
    blk->label[lablen] = '\0';
    /* "PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
     * "OPENSSH PRIVATE KEY", ...: key bytes, whatever the format. */
    blk->secret = strstr(blk->label, "PRIVATE KEY") != NULL;

    body = eol < end ? eol + 1 : end;
    line = blk->line + 1;

    /* The first "-----" after the body must be the matching END line. */
    dash = find(body, (size_t)(end - body), DASHES);
    snprintf(endline, sizeof(endline), END_MARK "%s" DASHES, blk->label);
    endlen = strlen(endline);
    if (dash == NULL)
        return kw_diag_set(d, KW_EPARSE,
                           "PEM block %d (%s, line %d): no END line "
                           "(file truncated?)",
                           blk->index, blk->label, blk->line);
    if ((size_t)(end - dash) < endlen || memcmp(dash, endline, endlen) != 0) {
        int at = line + count_lines(body, dash);
        if ((size_t)(end - dash) >= strlen(BEGIN_MARK) &&
            memcmp(dash, BEGIN_MARK, strlen(BEGIN_MARK)) == 0)
            return kw_diag_set(d, KW_EPARSE,
                               "PEM block %d (%s, line %d): no END line "
                               "before the next BEGIN at line %d",
                               blk->index, blk->label, blk->line, at);
        return kw_diag_set(d, KW_EPARSE,
                           "PEM block %d (%s, line %d): expected "
                           "\"%s\" at line %d",
                           blk->index, blk->label, blk->line, endline, at);
    }

    /* RFC 1421 headers: "Name: value" lines, then an empty line. */
    p = body;
    while (p < dash) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(dash - p));
        const unsigned char *le = nl != NULL ? nl : dash;
        const unsigned char *colon = memchr(p, ':', (size_t)(le - p));

        if (colon == NULL)
            break;
        if (le - p >= 9 && memcmp(p, "Proc-Type", 9) == 0 &&
            find(p, (size_t)(le - p), "ENCRYPTED") != NULL)
            blk->encrypted = 1;
        p = nl != NULL ? nl + 1 : dash;
        line++;
    }

    r = b64_decode(p, dash, it->scratch + it->scratch_used,
                   it->scratch_cap - it->scratch_used, &outlen, &line, blk,
                   d);
    if (r != 0)
        return r;
    if (outlen == 0)
        return kw_diag_set(d, KW_EPARSE,
                           "PEM block %d (%s, line %d): empty body",
                           blk->index, blk->label, blk->line);
    blk->der = it->scratch + it->scratch_used;
    blk->der_len = outlen;
    it->scratch_used += outlen;

    it->line = line;
    it->pos = (size_t)(dash + endlen - it->buf);
    return 1;
}
