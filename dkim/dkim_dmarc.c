/*
 * dkim_dmarc.c: DMARC records, organizational domains and alignment (see
 * dkim_dmarc.h).
 */
#include "dkim_dmarc.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libpsl.h>

#define WHAT "DMARC record"

const char *kw_dmarc_policy_name(kw_dmarc_policy p)
{
    switch (p) {
    case KW_DMARC_POLICY_NONE:
        return "none";
    case KW_DMARC_POLICY_QUARANTINE:
        return "quarantine";
    case KW_DMARC_POLICY_REJECT:
        return "reject";
    case KW_DMARC_POLICY_UNSET:
        break;
    }
    return "unset";
}

/* Values compare without case: RFC 7489's grammar writes them as quoted
 * ABNF strings, which are case-insensitive. */
static int val_is(const char *txt, const kw_dkim_tag *t, const char *word)
{
    size_t n = strlen(word);

    return t->val_len == n && strncasecmp(txt + t->val_off, word, n) == 0;
}

static kw_dmarc_policy parse_policy(const char *txt, const kw_dkim_tag *t)
{
    if (val_is(txt, t, "none"))
        return KW_DMARC_POLICY_NONE;
    if (val_is(txt, t, "quarantine"))
        return KW_DMARC_POLICY_QUARANTINE;
    if (val_is(txt, t, "reject"))
        return KW_DMARC_POLICY_REJECT;
    return KW_DMARC_POLICY_UNSET;
}

/* 1*DIGIT no larger than max, into *v. */
static int parse_uint(const char *s, size_t n, uint64_t max, uint64_t *v)
{
    size_t i;

    *v = 0;
    if (n == 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (*v > (max - (uint64_t)(s[i] - '0')) / 10)
            return -1;
        *v = *v * 10 + (uint64_t)(s[i] - '0');
    }
    return 0;
}

/* A host name: labels of letters, digits, '-' (not at either end) and
 * '_', 1 to 63 octets each, 253 in all, no final dot. */
static int host_ok(const char *s, size_t n)
{
    size_t i, lab = 0;

    if (n == 0 || n > 253)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (c == '.') {
            if (lab == 0 || s[i - 1] == '-')
                return 0;
            lab = 0;
            continue;
        }
        if (!isalnum((unsigned char)c) && c != '-' && c != '_')
            return 0;
        if (c == '-' && lab == 0)
            return 0;
        if (++lab > 63)
            return 0;
    }
    return lab > 0 && s[n - 1] != '-';
}

/* RFC 3986's characters, except ',' and '!' which a DMARC URI must
 * percent-encode (RFC 7489 section 6.2). */
static int uri_char(char c)
{
    return isalnum((unsigned char)c) ||
           (c != '\0' && strchr("-._~$&'()*+;=:@/?#", c) != NULL);
}

static int is_hex(char c)
{
    return isxdigit((unsigned char)c) != 0;
}

/* One dmarc-uri (RFC 7489 section 6.4): URI [ "!" 1*DIGIT [k/m/g/t] ].
 * Returns NULL and fills u, or the reason it is not valid. */
static const char *parse_uri(const char *s, size_t n, kw_dmarc_uri *u,
                             int *mailto)
{
    static const char units[] = "kmgt";
    const char *bang = memchr(s, '!', n), *at, *q;
    size_t un = bang != NULL ? (size_t)(bang - s) : n, i, an;

    memset(u, 0, sizeof(*u));
    *mailto = 0;
    if (bang != NULL) {
        size_t dn = n - un - 1;
        uint64_t mult = 1;
        const char *unit;

        if (dn > 0 && (unit = strchr(units, tolower((unsigned char)s[n - 1]))) &&
            *unit != '\0') {
            for (i = 0; i <= (size_t)(unit - units); i++)
                mult *= 1024;
            dn--;
        }
        if (parse_uint(bang + 1, dn, UINT64_MAX / mult, &u->max_size) < 0)
            return "the size after '!' must be digits with an optional k, m, "
                   "g or t (a '!' inside the URI must be written %21)";
        u->max_size *= mult;
    }
    if (un == 0)
        return "empty URI";
    if (!isalpha((unsigned char)s[0]))
        return "a URI starts with a scheme such as mailto:";
    for (i = 1; i < un && s[i] != ':'; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '-' &&
            s[i] != '.')
            return "a URI starts with a scheme such as mailto:";
    if (i == un)
        return "no scheme (mailto:)";
    for (i = 0; i < un; i++) {
        if (s[i] == '%') {
            if (i + 2 >= un || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                return "'%' not followed by two hex digits";
        } else if (!uri_char(s[i])) {
            return "a character URIs do not allow (',' and '!' must be "
                   "written %2c and %21)";
        }
    }
    if (un >= sizeof(u->uri))
        return "longer than keywarden keeps (319 bytes)";
    memcpy(u->uri, s, un);
    if (un < 7 || strncasecmp(s, "mailto:", 7) != 0)
        return NULL;
    *mailto = 1;
    q = memchr(s + 7, '?', un - 7);
    an = (q != NULL ? (size_t)(q - s) : un) - 7;
    at = memchr(s + 7, '@', an);
    if (at == NULL)
        return "no '@' in the mailto: address";
    if (at == s + 7)
        return "nothing before '@' in the mailto: address";
    if (memchr(at + 1, '@', (size_t)(s + 7 + an - at - 1)) != NULL)
        return "two '@' in the mailto: address";
    an = (size_t)(s + 7 + an - at - 1);
    if (!host_ok(at + 1, an) || memchr(at + 1, '.', an) == NULL)
        return "the mailto: address's domain is not a host name";
    for (i = 0; i < an; i++)
        u->domain[i] = (char)tolower((unsigned char)at[1 + i]);
    return NULL;
}

/* rua= or ruf=: comma-separated dmarc-uris.  Valid ones are kept (up to
 * KW_DMARC_URI_MAX); bad ones become one warning naming the first. */
static void parse_uris(const char *txt, const kw_dkim_tag *t, const char *nm,
                       kw_dmarc_uri *uris, size_t *n_ok, kw_dmarc_record *out)
{
    size_t pos = t->val_off, end = t->val_off + t->val_len, nbad = 0;
    size_t nother = 0;
    char first[200] = "", q[80];

    *n_ok = 0;
    for (;;) {
        size_t off, n;
        const char *why;
        kw_dmarc_uri u;
        int mailto;

        while (pos < end && (txt[pos] == ' ' || txt[pos] == '\t' ||
                             txt[pos] == '\r' || txt[pos] == '\n'))
            pos++;
        off = pos;
        while (pos < end && txt[pos] != ',' && txt[pos] != ' ' &&
               txt[pos] != '\t' && txt[pos] != '\r')
            pos++;
        n = pos - off;
        why = parse_uri(txt + off, n, &u, &mailto);
        if (why != NULL) {
            if (nbad++ == 0)
                snprintf(first, sizeof(first), "\"%s\" (offset %zu): %s",
                         kw_dkim_quote(q, sizeof(q), txt + off, n), off, why);
        } else {
            if (!mailto)
                nother++;
            if (*n_ok < KW_DMARC_URI_MAX)
                uris[*n_ok] = u;
            (*n_ok)++;
        }
        while (pos < end && (txt[pos] == ' ' || txt[pos] == '\t' ||
                             txt[pos] == '\r' || txt[pos] == '\n'))
            pos++;
        if (pos >= end)
            break;
        if (txt[pos] == ',') {
            pos++;
            continue;
        }
        /* Two URIs with only whitespace between: the second one starts
         * here; report the gap as a bad (empty) separator. */
        if (nbad++ == 0)
            snprintf(first, sizeof(first),
                     "offset %zu: URIs must be separated by ','", pos);
    }
    if (nbad > 0)
        kw_dkim_warn(out->warn, &out->n_warn, KW_DMARC_W_BAD_URI,
                     "%s=: %s%s; receivers send no reports there", nm, first,
                     nbad > 1 ? " (and more)" : "");
    if (nother > 0)
        kw_dkim_warn(out->warn, &out->n_warn, KW_DMARC_W_NOT_MAILTO,
                     "%s=: %zu URI(s) not mailto:, which is the only scheme "
                     "receivers must support", nm, nother);
    if (*n_ok > 2)
        kw_dkim_warn(out->warn, &out->n_warn, KW_DMARC_W_MANY_URIS,
                     "%s=: %zu URIs; receivers may send to the first two only",
                     nm, *n_ok);
}

/* adkim= and aspf=. */
static int parse_mode(const char *txt, const kw_dkim_tag *t, const char *nm,
                      char *mode, kw_diag *d)
{
    char q[80];

    if (val_is(txt, t, "r") || val_is(txt, t, "s")) {
        *mode = (char)tolower((unsigned char)txt[t->val_off]);
        return 0;
    }
    return kw_diag_set(d, KW_EPARSE,
                       WHAT ": tag %s= (offset %zu): \"%s\" is neither r "
                       "(relaxed) nor s (strict)", nm, t->val_off,
                       kw_dkim_quote(q, sizeof(q), txt + t->val_off,
                                     t->val_len));
}

int kw_dmarc_record_parse(const char *txt, size_t len, kw_dmarc_record *out,
                          kw_diag *d)
{
    static const char *const fo_names[] = {"0", "1", "d", "s", NULL};
    static const char *const rf_names[] = {"afrf", NULL};
    const kw_dkim_tag *p = NULL, *sp = NULL, *rua = NULL;
    kw_dkim_taglist tl;
    char q[80];
    size_t i;
    int r;

    memset(out, 0, sizeof(*out));
    out->adkim = out->aspf = 'r';
    out->pct = 100;
    out->ri = 86400;
    out->fo = KW_DMARC_FO_0;
    strcpy(out->rf, "afrf");
    r = kw_dkim_tags_split(txt, len, WHAT, 1, &tl, d);
    if (r < 0)
        return r;
    if (!kw_dkim_tag_is(txt, &tl.tag[0], "v", 1) ||
        tl.tag[0].val_len != 6 || memcmp(txt + tl.tag[0].val_off, "DMARC1", 6))
        return kw_diag_set(d, KW_EPARSE,
                           WHAT ": must start with v=DMARC1 (receivers "
                           "discard it otherwise); it starts with \"%s\"",
                           kw_dkim_quote(q, sizeof(q), txt, len));
    for (i = 1; i < tl.n && r == 0; i++) {
        const kw_dkim_tag *t = &tl.tag[i];
        const char *v = txt + t->val_off;
        uint64_t u;
        unsigned bits;

        if (kw_dkim_tag_is(txt, t, "v", 1)) {
            r = kw_diag_set(d, KW_EPARSE, WHAT ": tag v= appears twice");
        } else if (kw_dkim_tag_is(txt, t, "p", 1)) {
            p = t;
            out->p = parse_policy(txt, t);
            if (i != 1)
                kw_dkim_warn(out->warn, &out->n_warn, KW_DMARC_W_P_NOT_SECOND,
                             "p= is tag %zu, not right after v= as RFC 7489's "
                             "grammar asks (most receivers accept it)", i + 1);
        } else if (kw_dkim_tag_is(txt, t, "sp", 1)) {
            sp = t;
            out->sp = parse_policy(txt, t);
        } else if (kw_dkim_tag_is(txt, t, "adkim", 1)) {
            r = parse_mode(txt, t, "adkim", &out->adkim, d);
        } else if (kw_dkim_tag_is(txt, t, "aspf", 1)) {
            r = parse_mode(txt, t, "aspf", &out->aspf, d);
        } else if (kw_dkim_tag_is(txt, t, "pct", 1)) {
            if (t->val_len > 3 || parse_uint(v, t->val_len, 100, &u) < 0)
                r = kw_diag_set(d, KW_EPARSE,
                                WHAT ": tag pct= (offset %zu): \"%s\" is not "
                                "a whole number from 0 to 100", t->val_off,
                                kw_dkim_quote(q, sizeof(q), v, t->val_len));
            else
                out->pct = (int)u;
        } else if (kw_dkim_tag_is(txt, t, "ri", 1)) {
            if (parse_uint(v, t->val_len, UINT32_MAX, &u) < 0)
                r = kw_diag_set(d, KW_EPARSE,
                                WHAT ": tag ri= (offset %zu): \"%s\" is not "
                                "a number of seconds (0 to 4294967295)",
                                t->val_off,
                                kw_dkim_quote(q, sizeof(q), v, t->val_len));
            else
                out->ri = (uint32_t)u;
        } else if (kw_dkim_tag_is(txt, t, "fo", 1)) {
            char norm[32];

            r = kw_dkim_tags_list(txt, t, WHAT, fo_names, 1, 0, &bits, norm,
                                  sizeof(norm), d);
            out->fo = bits;
        } else if (kw_dkim_tag_is(txt, t, "rf", 1)) {
            r = kw_dkim_tags_list(txt, t, WHAT, rf_names, 1, 1, &bits,
                                  out->rf, sizeof(out->rf), d);
        } else if (kw_dkim_tag_is(txt, t, "rua", 1)) {
            rua = t;
            parse_uris(txt, t, "rua", out->rua, &out->n_rua, out);
        } else if (kw_dkim_tag_is(txt, t, "ruf", 1)) {
            parse_uris(txt, t, "ruf", out->ruf, &out->n_ruf, out);
        }
        /* Unknown tags are ignored (RFC 7489 section 6.3). */
    }
    if (r < 0)
        return r;
    /* RFC 7489 section 6.6.3: without a valid p= (or with an sp= that is
     * not valid) receivers act as if p=none when rua= holds a valid URI,
     * and apply nothing otherwise. */
    if (out->p == KW_DMARC_POLICY_UNSET ||
        (sp != NULL && out->sp == KW_DMARC_POLICY_UNSET)) {
        char why[160];

        if (p == NULL)
            snprintf(why, sizeof(why), "no p= tag (it is required)");
        else if (out->p == KW_DMARC_POLICY_UNSET)
            snprintf(why, sizeof(why),
                     "tag p= (offset %zu): \"%s\" is not none, quarantine or "
                     "reject", p->val_off,
                     kw_dkim_quote(q, sizeof(q), txt + p->val_off,
                                   p->val_len));
        else
            snprintf(why, sizeof(why),
                     "tag sp= (offset %zu): \"%s\" is not none, quarantine "
                     "or reject", sp->val_off,
                     kw_dkim_quote(q, sizeof(q), txt + sp->val_off,
                                   sp->val_len));
        if (out->n_rua == 0)
            return kw_diag_set(d, KW_EPARSE,
                               WHAT ": %s, and no valid rua= URI: receivers "
                               "apply no DMARC policy", why);
        kw_dkim_warn(out->warn, &out->n_warn, KW_DMARC_W_P_FALLBACK,
                     "%s: receivers act as if p=none because rua= is there",
                     why);
        out->p = KW_DMARC_POLICY_NONE;
        out->sp = KW_DMARC_POLICY_UNSET;
    } else if (out->p == KW_DMARC_POLICY_NONE) {
        kw_dkim_warn(out->warn, &out->n_warn, KW_DMARC_W_P_NONE,
                     "p=none: receivers only report, and deliver mail that "
                     "fails DMARC as if there were no record");
    }
    if (out->sp == KW_DMARC_POLICY_NONE && out->p > KW_DMARC_POLICY_NONE)
        kw_dkim_warn(out->warn, &out->n_warn, KW_DMARC_W_SP_NONE,
                     "sp=none under p=%s: mail from subdomains that fails "
                     "DMARC is delivered", kw_dmarc_policy_name(out->p));
    if (out->pct < 100)
        kw_dkim_warn(out->warn, &out->n_warn, KW_DMARC_W_PCT,
                     "pct=%d: the policy applies to %d%% of failing mail only",
                     out->pct, out->pct);
    if (rua == NULL)
        kw_dkim_warn(out->warn, &out->n_warn, KW_DMARC_W_NO_RUA,
                     "no rua=: no receiver sends aggregate reports, so "
                     "failures go unseen");
    return 0;
}

/* Whitespace as the tag-list allows it around names and '=' (a CR LF
 * that is not followed by a space makes the record invalid, but it is
 * still a DMARC record). */
static size_t skip_ws(const char *txt, size_t i, size_t len)
{
    while (i < len && (txt[i] == ' ' || txt[i] == '\t' || txt[i] == '\r' ||
                       txt[i] == '\n'))
        i++;
    return i;
}

int kw_dmarc_record_is_dmarc(const char *txt, size_t len)
{
    size_t i = skip_ws(txt, 0, len);

    /* RFC 7489 section 6.6.3 selects records that begin with "v=DMARC1";
     * the name "v" compares without case, as receivers do. */
    if (i >= len || (txt[i] != 'v' && txt[i] != 'V'))
        return 0;
    i = skip_ws(txt, i + 1, len);
    if (i >= len || txt[i] != '=')
        return 0;
    i = skip_ws(txt, i + 1, len);
    return len - i >= 6 && memcmp(txt + i, "DMARC1", 6) == 0 &&
           (len - i == 6 || txt[i + 6] == ';' || txt[i + 6] == ' ' ||
            txt[i + 6] == '\t' || txt[i + 6] == '\r');
}

static const psl_ctx_t *psl;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

static void psl_load(void)
{
    /* The newer of Debian's publicsuffix file and libpsl's built-in copy;
     * the process keeps it to the end. */
    psl = psl_latest(NULL);
    if (psl == NULL)
        psl = psl_builtin();
}

/* name, lower case without the final dot, into buf[254]. */
static int normalize(const char *name, char *buf, kw_diag *d)
{
    size_t n = strlen(name), i;
    char q[80];

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (!host_ok(name, n))
        return kw_diag_set(d, KW_EINVAL, "\"%s\" is not a host name",
                           kw_dkim_quote(q, sizeof(q), name, strlen(name)));
    for (i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)name[i]);
    buf[n] = '\0';
    return 0;
}

int kw_dmarc_org_domain(const char *name, char *out, size_t cap, kw_diag *d)
{
    char buf[254];
    const char *reg;
    int r = normalize(name, buf, d);

    if (r < 0)
        return r;
    pthread_once(&psl_once, psl_load);
    if (psl == NULL)
        return kw_diag_set(d, KW_ENOMEM,
                           "the Public Suffix List could not be loaded");
    reg = psl_registrable_domain(psl, buf);
    if (reg == NULL)
        reg = buf; /* a public suffix is its own organizational domain */
    if (strlen(reg) >= cap)
        return kw_diag_set(d, KW_ETOOBIG,
                           "organizational domain of %s: buffer too small",
                           buf);
    memmove(out, reg, strlen(reg) + 1);
    return 0;
}

int kw_dmarc_aligned(const char *a, const char *b, char mode, kw_diag *d)
{
    char na[254], nb[254];
    int r;

    if (mode == 's' || mode == 'S') {
        if ((r = normalize(a, na, d)) < 0 || (r = normalize(b, nb, d)) < 0)
            return r;
    } else if (mode == 'r' || mode == 'R') {
        if ((r = kw_dmarc_org_domain(a, na, sizeof(na), d)) < 0 ||
            (r = kw_dmarc_org_domain(b, nb, sizeof(nb), d)) < 0)
            return r;
    } else {
        return kw_diag_set(d, KW_EINVAL,
                           "alignment mode must be r or s, not '%c'", mode);
    }
    return strcmp(na, nb) == 0;
}
