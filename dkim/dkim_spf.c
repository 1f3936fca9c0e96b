/*
 * dkim_spf.c: one SPF record's syntax (RFC 7208 §4.6, §5, §6) and its
 * macros (§7): checked, parsed and expanded.  Pure: no I/O.
 */
#include "dkim_spf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int kw_spf_is_record(const char *txt, size_t len)
{
    return len >= 6 && strncasecmp(txt, "v=spf1", 6) == 0 &&
           (len == 6 || txt[6] == ' ');
}

const char *kw_spf_result_name(kw_spf_result r)
{
    switch (r) {
    case KW_SPF_NONE: return "none";
    case KW_SPF_NEUTRAL: return "neutral";
    case KW_SPF_PASS: return "pass";
    case KW_SPF_FAIL: return "fail";
    case KW_SPF_SOFTFAIL: return "softfail";
    case KW_SPF_TEMPERROR: return "temperror";
    case KW_SPF_PERMERROR: return "permerror";
    }
    return "?";
}

static int is_delim(int c)
{
    return c != '\0' && strchr(".-+,/_=", c) != NULL;
}

static int is_letter(int c, int exp)
{
    c = tolower(c);
    return c != '\0' && (strchr("slodiphv", c) != NULL ||
                         (exp && strchr("crt", c) != NULL));
}

/* Checks the macro-expand at s (after "%{"); returns its length up to and
 * including '}', or 0 when malformed. */
static size_t expand_len(const char *s, int exp)
{
    size_t i = 0;

    if (!is_letter(s[i], exp))
        return 0;
    i++;
    while (isdigit((unsigned char)s[i]))
        i++;
    if (s[i] == 'r' || s[i] == 'R')
        i++;
    while (is_delim(s[i]))
        i++;
    return s[i] == '}' ? i + 1 : 0;
}

int kw_spf_macro_check(const char *s, int exp, kw_diag *d)
{
    size_t i = 0;

    while (s[i] != '\0') {
        unsigned char c = (unsigned char)s[i];

        if (c == '%') {
            size_t n;

            if (s[i + 1] == '%' || s[i + 1] == '_' || s[i + 1] == '-') {
                i += 2;
                continue;
            }
            if (s[i + 1] != '{' || (n = expand_len(s + i + 2, exp)) == 0)
                return kw_diag_set(d, KW_EPARSE, "bad macro at offset %zu "
                                   "of \"%.200s\" (%%{letter[digits][r]"
                                   "[delimiters]}, %%%%, %%_ or %%-)", i, s);
            i += 2 + n;
            continue;
        }
        if (c < 0x21 || c > 0x7e)
            return kw_diag_set(d, KW_EPARSE, "character 0x%02x at offset "
                               "%zu of \"%.200s\" is not allowed", c, i, s);
        i++;
    }
    return 0;
}

static int is_alnum_only(const char *s, size_t n, int hyphen)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !(hyphen && s[i] == '-'))
            return 0;
    return 1;
}

/* §7.1 domain-end: "." toplabel ["."], or a macro-expand at the end. */
static int domain_end_ok(const char *s)
{
    size_t n = strlen(s), start, i;
    int alpha = 0;

    if (n > 0 && s[n - 1] == '}') {
        /* Only a real macro-expand counts: in "x.%%{d}" the "{d}" is
         * literal text (s has passed kw_spf_macro_check). */
        size_t k = 0;
        int last = 0;

        while (s[k] != '\0') {
            last = 0;
            if (s[k] == '%' && s[k + 1] == '{') {
                k += 2 + expand_len(s + k + 2, 0);
                last = 1;
            } else {
                k += s[k] == '%' ? 2 : 1;
            }
        }
        return last;
    }
    if (n > 0 && s[n - 1] == '.')
        n--;
    for (start = n; start > 0 && s[start - 1] != '.'; start--)
        ;
    if (start == 0 || start == n)
        return 0;
    if (!is_alnum_only(s + start, n - start, 1) || s[start] == '-' ||
        s[n - 1] == '-')
        return 0;
    for (i = start; i < n; i++)
        alpha |= isalpha((unsigned char)s[i]) != 0;
    /* A toplabel of digits only needs a hyphen in it (RFC 7208 §7.1). */
    return alpha || memchr(s + start, '-', n - start) != NULL;
}

/* A domain-spec: macros valid and a proper end.  0 or KW_EPARSE. */
static int domain_spec_check(const char *spec, kw_diag *d)
{
    kw_diag sub;

    if (spec[0] == '\0')
        return kw_diag_set(d, KW_EPARSE, "empty domain");
    if (kw_spf_macro_check(spec, 0, &sub) != 0)
        return kw_diag_set(d, KW_EPARSE, "%s", sub.msg);
    if (!domain_end_ok(spec))
        return kw_diag_set(d, KW_EPARSE, "\"%.200s\" does not end in a top "
                           "label such as \".com\" or a macro", spec);
    return 0;
}

/* Decimal without leading zeros, 0..max; -1 when not. */
static int cidr_num(const char *s, size_t n, int max)
{
    int v = 0;
    size_t i;

    if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
        return -1;
    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

/* Strict dotted quad: four decimals 0..255 without leading zeros. */
static int ip4_parse(const char *s, size_t n, unsigned char out[4])
{
    size_t i = 0, k;

    for (k = 0; k < 4; k++) {
        size_t st = i;
        int v;

        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if ((v = cidr_num(s + st, i - st, 255)) < 0)
            return -1;
        out[k] = (unsigned char)v;
        if (k < 3) {
            if (i >= n || s[i] != '.')
                return -1;
            i++;
        }
    }
    return i == n ? 0 : -1;
}

/* Length of a trailing "/N" (max) at the end of s[0..n); 0 if none. */
static size_t trailing_cidr(const char *s, size_t n, int *v, int max,
                            int dbl)
{
    size_t i = n;

    while (i > 0 && isdigit((unsigned char)s[i - 1]))
        i--;
    if (i == n || i == 0 || s[i - 1] != '/')
        return 0;
    if (dbl ? (i < 2 || s[i - 2] != '/') : (i >= 2 && s[i - 2] == '/'))
        return 0;
    *v = cidr_num(s + i, n - i, max);
    return n - i + (dbl ? 2 : 1);
}

static const struct {
    const char *name;
    kw_spf_mech mech;
} mechs[] = {
    {"all", KW_SPF_ALL}, {"include", KW_SPF_INCLUDE}, {"a", KW_SPF_A},
    {"mx", KW_SPF_MX}, {"ptr", KW_SPF_PTR}, {"ip4", KW_SPF_IP4},
    {"ip6", KW_SPF_IP6}, {"exists", KW_SPF_EXISTS},
};

/* Copies s[0..n) into the term's spec; -1 when too long. */
static int set_spec(kw_spf_term *t, const char *s, size_t n)
{
    if (n >= sizeof(t->spec))
        return -1;
    memcpy(t->spec, s, n);
    t->spec[n] = '\0';
    return 0;
}

/* Parses one mechanism (s, n octets, qualifier included) into t. */
static int parse_mech(const char *s, size_t n, kw_spf_term *t, kw_diag *d)
{
    size_t i = 0, nl, k, rest;
    const char *arg;
    kw_diag sub;

    t->qual = '+';
    if (n > 0 && strchr("+-~?", s[0]) != NULL)
        t->qual = s[i++];
    for (nl = i; nl < n && s[nl] != ':' && s[nl] != '/'; nl++)
        ;
    for (k = 0; k < sizeof(mechs) / sizeof(mechs[0]); k++)
        if (strlen(mechs[k].name) == nl - i &&
            strncasecmp(s + i, mechs[k].name, nl - i) == 0)
            break;
    if (k == sizeof(mechs) / sizeof(mechs[0]))
        return kw_diag_set(d, KW_EPARSE, "unknown mechanism");
    t->mech = mechs[k].mech;
    arg = s + nl;
    rest = n - nl;

    switch (t->mech) {
    case KW_SPF_ALL:
        if (rest != 0)
            return kw_diag_set(d, KW_EPARSE, "\"all\" takes no argument");
        return 0;
    case KW_SPF_INCLUDE:
    case KW_SPF_EXISTS:
    case KW_SPF_PTR:
        if (rest == 0 && t->mech == KW_SPF_PTR)
            return 0;
        if (rest < 2 || arg[0] != ':')
            return kw_diag_set(d, KW_EPARSE, "needs \":domain\"");
        if (set_spec(t, arg + 1, rest - 1) != 0)
            return kw_diag_set(d, KW_ETOOBIG, "domain too long");
        if (domain_spec_check(t->spec, &sub) != 0)
            return kw_diag_set(d, KW_EPARSE, "%s", sub.msg);
        return 0;
    case KW_SPF_A:
    case KW_SPF_MX: {
        size_t c6 = trailing_cidr(arg, rest, &t->cidr6, 128, 1), c4;

        if (c6 > 0 && t->cidr6 < 0)
            return kw_diag_set(d, KW_EPARSE, "IPv6 prefix length not in "
                               "0..128");
        rest -= c6;
        c4 = trailing_cidr(arg, rest, &t->cidr4, 32, 0);
        if (c4 > 0 && t->cidr4 < 0)
            return kw_diag_set(d, KW_EPARSE, "IPv4 prefix length not in "
                               "0..32");
        rest -= c4;
        if (rest == 0)
            return 0;
        if (rest < 2 || arg[0] != ':')
            return kw_diag_set(d, KW_EPARSE, "expected \":domain\" or a "
                               "prefix length");
        if (set_spec(t, arg + 1, rest - 1) != 0)
            return kw_diag_set(d, KW_ETOOBIG, "domain too long");
        if (domain_spec_check(t->spec, &sub) != 0)
            return kw_diag_set(d, KW_EPARSE, "%s", sub.msg);
        return 0;
    }
    case KW_SPF_IP4:
    case KW_SPF_IP6: {
        int v6 = t->mech == KW_SPF_IP6;
        size_t c = trailing_cidr(arg, rest, v6 ? &t->cidr6 : &t->cidr4,
                                 v6 ? 128 : 32, 0);
        char a[64];

        if (c > 0 && (v6 ? t->cidr6 : t->cidr4) < 0)
            return kw_diag_set(d, KW_EPARSE, "prefix length not in 0..%d",
                               v6 ? 128 : 32);
        rest -= c;
        if (rest < 2 || arg[0] != ':')
            return kw_diag_set(d, KW_EPARSE, "needs \":address\"");
        if (rest - 1 >= sizeof(a))
            return kw_diag_set(d, KW_EPARSE, "not an IPv%d address",
                               v6 ? 6 : 4);
        memcpy(a, arg + 1, rest - 1);
        a[rest - 1] = '\0';
        if (set_spec(t, a, rest - 1) != 0)
            return kw_diag_set(d, KW_ETOOBIG, "address too long");
        if (v6 ? inet_pton(AF_INET6, a, t->ip) != 1
               : ip4_parse(a, rest - 1, t->ip) != 0)
            return kw_diag_set(d, KW_EPARSE, "not an IPv%d address",
                               v6 ? 6 : 4);
        return 0;
    }
    case KW_SPF_MODIFIER:
        break;
    }
    return kw_diag_set(d, KW_EPARSE, "unknown mechanism");
}

/* Length of a modifier name at s ending in '=', or 0 (§4.6.1: name =
 * ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )). */
static size_t modifier_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || !isalpha((unsigned char)s[0]))
        return 0;
    for (i = 1; i < n; i++) {
        if (s[i] == '=')
            return i;
        if (!isalnum((unsigned char)s[i]) && strchr("-_.", s[i]) == NULL)
            return 0;
    }
    return 0;
}

static int parse_modifier(const char *s, size_t n, size_t nl,
                          kw_spf_record *r, kw_spf_term *t, kw_diag *d)
{
    kw_diag sub;
    size_t i;
    int *slot = NULL;

    t->mech = KW_SPF_MODIFIER;
    if (nl >= sizeof(t->name))
        return kw_diag_set(d, KW_EPARSE, "modifier name too long");
    for (i = 0; i < nl; i++)
        t->name[i] = (char)tolower((unsigned char)s[i]);
    t->name[nl] = '\0';
    if (set_spec(t, s + nl + 1, n - nl - 1) != 0)
        return kw_diag_set(d, KW_ETOOBIG, "value too long");
    if (strcmp(t->name, "redirect") == 0)
        slot = &r->redirect;
    else if (strcmp(t->name, "exp") == 0)
        slot = &r->exp;
    if (slot != NULL) {
        if (*slot >= 0)
            return kw_diag_set(d, KW_EPARSE, "\"%s=\" appears twice",
                               t->name);
        *slot = (int)r->n;
        if (domain_spec_check(t->spec, &sub) != 0)
            return kw_diag_set(d, KW_EPARSE, "%s", sub.msg);
        return 0;
    }
    /* Unknown modifiers are ignored (§6), but their value must still be a
     * macro-string. */
    if (kw_spf_macro_check(t->spec, 0, &sub) != 0)
        return kw_diag_set(d, KW_EPARSE, "%s", sub.msg);
    return 0;
}

int kw_spf_parse(const char *txt, size_t len, kw_spf_record *out,
                 kw_diag *d)
{
    size_t i;

    if (out == NULL || (txt == NULL && len > 0))
        return kw_diag_set(d, KW_EINVAL, "SPF parse: missing argument");
    out->n = 0;
    out->redirect = -1;
    out->exp = -1;
    if (len > KW_SPF_RECORD_MAX)
        return kw_diag_set(d, KW_ETOOBIG, "SPF record of %zu octets, more "
                           "than %d", len, KW_SPF_RECORD_MAX);
    if (!kw_spf_is_record(txt, len))
        return kw_diag_set(d, KW_EPARSE, "not an SPF record: it must start "
                           "with \"v=spf1\" and a space");
    for (i = 0; i < len; i++)
        if ((unsigned char)txt[i] < 0x20 || (unsigned char)txt[i] > 0x7e)
            return kw_diag_set(d, KW_EPARSE, "SPF record: character 0x%02x "
                               "at offset %zu (only printable ASCII is "
                               "allowed)", (unsigned char)txt[i], i);
    i = 6;
    while (i < len) {
        size_t st, n, nl;
        kw_spf_term *t;
        kw_diag sub;
        int rc;

        while (i < len && txt[i] == ' ')
            i++;
        if (i >= len)
            break;
        for (st = i; i < len && txt[i] != ' '; i++)
            ;
        n = i - st;
        if (out->n >= KW_SPF_TERMS_MAX)
            return kw_diag_set(d, KW_ETOOBIG, "SPF record: more than %d "
                               "terms", KW_SPF_TERMS_MAX);
        t = &out->t[out->n];
        memset(t, 0, sizeof(*t));
        t->cidr4 = t->cidr6 = -1;
        t->offset = st;
        t->len = n;
        sub.msg[0] = '\0';
        nl = modifier_name(txt + st, n);
        rc = nl > 0 ? parse_modifier(txt + st, n, nl, out, t, &sub)
                    : parse_mech(txt + st, n, t, &sub);
        if (rc != 0)
            return kw_diag_set(d, rc, "SPF term \"%.*s\" at offset %zu: %s",
                               (int)(n < 200 ? n : 200), txt + st, st,
                               sub.msg);
        out->n++;
    }
    return 0;
}

/* ----- macro expansion (§7.2-7.4) ----- */

/* The value of macro letter c into buf. */
static int letter_value(int c, const kw_spf_env *env, char *buf, size_t cap)
{
    const char *s = env->sender != NULL ? env->sender : "";
    const char *at = strrchr(s, '@');
    unsigned char a[16];

    switch (tolower(c)) {
    case 's':
        if (at == NULL)
            return snprintf(buf, cap, "postmaster@%s", s);
        if (at == s)
            return snprintf(buf, cap, "postmaster%s", s);
        return snprintf(buf, cap, "%s", s);
    case 'l':
        if (at == NULL || at == s)
            return snprintf(buf, cap, "postmaster");
        return snprintf(buf, cap, "%.*s", (int)(at - s), s);
    case 'o':
        return snprintf(buf, cap, "%s", at != NULL ? at + 1 : s);
    case 'd':
        return snprintf(buf, cap, "%s", env->domain ? env->domain : "");
    case 'h':
        return snprintf(buf, cap, "%s", env->helo ? env->helo : "");
    case 'c':
        return snprintf(buf, cap, "%s", env->ip ? env->ip : "");
    case 'p':
    case 'r':
        return snprintf(buf, cap, "unknown");
    case 't':
        return snprintf(buf, cap, "0");
    case 'v':
        return snprintf(buf, cap, "%s", env->ip && strchr(env->ip, ':')
                                            ? "ip6" : "in-addr");
    case 'i':
        if (env->ip != NULL && inet_pton(AF_INET6, env->ip, a) == 1) {
            size_t k, o = 0;

            /* §7.3: IPv6 as dot-separated nibbles. */
            for (k = 0; k < 16 && o + 4 < cap; k++)
                o += (size_t)snprintf(buf + o, cap - o, "%s%x.%x",
                                      k ? "." : "", a[k] >> 4, a[k] & 15);
            return (int)o;
        }
        return snprintf(buf, cap, "%s", env->ip ? env->ip : "");
    }
    return -1;
}

/* Appends s (n octets) to buf at *o; -1 when full. */
static int put(char *buf, size_t cap, size_t *o, const char *s, size_t n)
{
    if (*o + n >= cap)
        return -1;
    memcpy(buf + *o, s, n);
    *o += n;
    buf[*o] = '\0';
    return 0;
}

/* One macro-expand (m: after "%{", up to '}') appended to buf. */
static int expand_one(const char *m, const kw_spf_env *env, char *buf,
                      size_t cap, size_t *o)
{
    char val[1024], delims[16] = "";
    const char *parts[256];
    size_t plen[256], np = 0, i = 1, dn = 0, k, first;
    int digits = -1, rev = 0, upper = isupper((unsigned char)m[0]);
    const char *p, *st;

    if (letter_value(m[0], env, val, sizeof(val)) < 0)
        return -1;
    if (isdigit((unsigned char)m[i])) {
        digits = 0;
        while (isdigit((unsigned char)m[i]) && digits < 1000)
            digits = digits * 10 + (m[i++] - '0');
        while (isdigit((unsigned char)m[i]))
            i++;
        if (digits == 0)
            return -1;
    }
    if (m[i] == 'r' || m[i] == 'R') {
        rev = 1;
        i++;
    }
    while (is_delim(m[i]) && dn < sizeof(delims) - 1)
        delims[dn++] = m[i++];
    if (dn == 0)
        delims[dn++] = '.';
    delims[dn] = '\0';
    for (st = p = val;; p++) {
        if (*p == '\0' || strchr(delims, *p) != NULL) {
            if (np < 256) {
                parts[np] = st;
                plen[np++] = (size_t)(p - st);
            }
            if (*p == '\0')
                break;
            st = p + 1;
        }
    }
    if (rev)
        for (k = 0; k < np / 2; k++) {
            const char *tp = parts[k];
            size_t tl = plen[k];

            parts[k] = parts[np - 1 - k];
            plen[k] = plen[np - 1 - k];
            parts[np - 1 - k] = tp;
            plen[np - 1 - k] = tl;
        }
    first = digits > 0 && (size_t)digits < np ? np - (size_t)digits : 0;
    for (k = first; k < np; k++) {
        if (k > first && put(buf, cap, o, ".", 1) != 0)
            return -1;
        if (!upper) {
            if (put(buf, cap, o, parts[k], plen[k]) != 0)
                return -1;
            continue;
        }
        /* Upper-case letters URL-escape (§7.3) all but unreserved. */
        for (i = 0; i < plen[k]; i++) {
            unsigned char c = (unsigned char)parts[k][i];
            char e[4];

            if (isalnum(c) || strchr("-._~", c) != NULL) {
                if (put(buf, cap, o, (const char *)&c, 1) != 0)
                    return -1;
            } else {
                snprintf(e, sizeof(e), "%%%02X", c);
                if (put(buf, cap, o, e, 3) != 0)
                    return -1;
            }
        }
    }
    return 0;
}

int kw_spf_macro_expand(const char *s, const kw_spf_env *env, char *buf,
                        size_t cap, kw_diag *d)
{
    size_t i = 0, o = 0;

    if (cap == 0)
        return kw_diag_set(d, KW_EINVAL, "macro expansion: no room");
    buf[0] = '\0';
    if (kw_spf_macro_check(s, 1, d) != 0)
        return KW_EPARSE;
    while (s[i] != '\0') {
        int rc = 0;

        if (s[i] != '%') {
            rc = put(buf, cap, &o, s + i, 1);
            i++;
        } else if (s[i + 1] == '%') {
            rc = put(buf, cap, &o, "%", 1);
            i += 2;
        } else if (s[i + 1] == '_') {
            rc = put(buf, cap, &o, " ", 1);
            i += 2;
        } else if (s[i + 1] == '-') {
            rc = put(buf, cap, &o, "%20", 3);
            i += 2;
        } else {
            rc = expand_one(s + i + 2, env, buf, cap, &o);
            i += 2 + expand_len(s + i + 2, 1);
        }
        if (rc != 0)
            return kw_diag_set(d, KW_ETOOBIG, "macro expansion of \"%.200s\" "
                               "failed (too long, or a zero digit count)",
                               s);
    }
    /* §7.3: a domain over 253 octets loses labels on the left. */
    if (o > 0 && buf[o - 1] == '.')
        buf[--o] = '\0';
    while (o > 253) {
        char *dot = strchr(buf, '.');

        if (dot == NULL)
            return kw_diag_set(d, KW_ETOOBIG, "macro expansion of \"%.200s\" "
                               "gives a label longer than a name", s);
        o -= (size_t)(dot + 1 - buf);
        memmove(buf, dot + 1, o + 1);
    }
    return 0;
}
