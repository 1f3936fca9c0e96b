/*
 * mtasts_policy.c: the MTA-STS TXT record, the policy file and the
 * TLS-RPT record (mtasts_policy.h), after the ABNF of RFC 8461 sections
 * 3.1 and 3.2 and RFC 8460 section 3.
 */
#include "mtasts_policy.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define WSP(c) ((c) == ' ' || (c) == '\t')

static int alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* A shown excerpt of untrusted text: printable ASCII, at most 40
 * octets, so a diagnostic stays one readable line. */
static void excerpt(const char *s, size_t len, char *out, size_t cap)
{
    size_t i, o = 0;

    for (i = 0; i < len && o + 4 < cap && i < 40; i++)
        out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (i < len && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/*
 * The tag list shared by both TXT records: "VERSION" then
 * *(WSP ";" WSP name "=" value) with an optional final ";".  Calls
 * field() for each name=value after the version; returns 0 or KW_EPARSE.
 */
typedef int (*field_fn)(void *ctx, const char *name, size_t nlen,
                        const char *val, size_t vlen, kw_diag *d);

static int taglist(const char *what, const char *version, const char *txt,
                   size_t len, field_fn field, void *ctx, kw_diag *d)
{
    size_t vl = strlen(version), i, ns, ne, vs;
    char ex[48];
    int rc;

    if (len < vl || memcmp(txt, version, vl) != 0) {
        excerpt(txt, len, ex, sizeof(ex));
        return kw_diag_set(d, KW_EPARSE,
                           "%s \"%s\": does not start with %s", what, ex,
                           version);
    }
    i = vl;
    for (;;) {
        while (i < len && WSP(txt[i]))
            i++;
        if (i == len)
            return 0;
        if (txt[i] != ';') {
            excerpt(txt + i, len - i, ex, sizeof(ex));
            return kw_diag_set(d, KW_EPARSE,
                               "%s: at offset %zu (\"%s\"): a \";\" was "
                               "expected",
                               what, i, ex);
        }
        i++;
        while (i < len && WSP(txt[i]))
            i++;
        if (i == len)
            return 0; /* the optional final separator */
        ns = i;
        while (i < len && txt[i] != '=' && txt[i] != ';' && !WSP(txt[i]))
            i++;
        ne = i;
        if (i == len || txt[i] != '=' || ne == ns) {
            excerpt(txt + ns, len - ns, ex, sizeof(ex));
            return kw_diag_set(d, KW_EPARSE,
                               "%s: at offset %zu (\"%s\"): not a "
                               "name=value field",
                               what, ns, ex);
        }
        vs = ++i;
        while (i < len && txt[i] != ';' && !WSP(txt[i]))
            i++;
        if (i == vs)
            return kw_diag_set(d, KW_EPARSE,
                               "%s: field \"%.*s\" at offset %zu has no "
                               "value",
                               what, (int)(ne - ns), txt + ns, ns);
        rc = field(ctx, txt + ns, ne - ns, txt + vs, i - vs, d);
        if (rc != 0)
            return rc;
    }
}

static int name_is(const char *n, size_t nl, const char *want)
{
    return nl == strlen(want) && memcmp(n, want, nl) == 0;
}

static int sts_field(void *ctx, const char *n, size_t nl, const char *v,
                     size_t vl, kw_diag *d)
{
    kw_mtasts_txt *t = ctx;
    size_t i;

    if (!name_is(n, nl, "id")) {
        /* sts-extension: ext-name is an alphanumeric then up to 31 of
         * alphanumerics, "_", "-", "."; ext-value is printable without
         * ";" and "=". */
        if (nl > 32 || !alnum(n[0]))
            return kw_diag_set(d, KW_EPARSE,
                               "_mta-sts record: field name \"%.*s\" is "
                               "not valid",
                               (int)(nl > 40 ? 40 : nl), n);
        for (i = 0; i < vl; i++)
            if (v[i] == '=' || v[i] < 0x21 || v[i] > 0x7e)
                return kw_diag_set(d, KW_EPARSE,
                                   "_mta-sts record: the value of \"%.*s\" "
                                   "holds a character not allowed",
                                   (int)nl, n);
        return 0;
    }
    if (t->id[0] != '\0')
        return kw_diag_set(d, KW_EPARSE,
                           "_mta-sts record: id= appears twice");
    if (vl > 32)
        return kw_diag_set(d, KW_EPARSE,
                           "_mta-sts record: id= is %zu characters long, "
                           "at most 32 are allowed",
                           vl);
    for (i = 0; i < vl; i++)
        if (!alnum(v[i]))
            return kw_diag_set(d, KW_EPARSE,
                               "_mta-sts record: id=\"%.*s\" holds \"%c\": "
                               "only letters and digits are allowed",
                               (int)vl, v, v[i] >= 0x20 && v[i] < 0x7f
                                               ? v[i] : '?');
    memcpy(t->id, v, vl);
    t->id[vl] = '\0';
    return 0;
}

int kw_mtasts_txt_parse(const char *txt, size_t len, kw_mtasts_txt *out,
                        kw_diag *d)
{
    int rc;

    memset(out, 0, sizeof(*out));
    rc = taglist("_mta-sts record", "v=STSv1", txt, len, sts_field, out, d);
    if (rc == 0 && out->id[0] == '\0')
        rc = kw_diag_set(d, KW_EPARSE, "_mta-sts record: no id= field");
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* Which records of recs start with prefix: their count, the index of
 * the first in *first.  strict: followed by ";" (what senders select,
 * RFC 8461 section 3.1 and RFC 8460 section 3); else also by white
 * space or the end (what the operator meant to be one). */
static size_t count_prefixed(const char *const *recs, const size_t *lens,
                             size_t n, const char *prefix, int strict,
                             size_t *first)
{
    size_t i, k = 0, pl = strlen(prefix);

    for (i = 0; i < n; i++)
        if (lens[i] >= pl && memcmp(recs[i], prefix, pl) == 0 &&
            ((lens[i] > pl && recs[i][pl] == ';') ||
             (!strict && (lens[i] == pl || WSP(recs[i][pl]))))) {
            if (k++ == 0)
                *first = i;
        }
    return k;
}

/* Of recs, the one record starting with prefix, parsed by parse into
 * out; what names the record, why what its absence costs. */
typedef int (*parse_fn)(const char *txt, size_t len, void *out,
                        kw_diag *d);

static int select_one(const char *const *recs, const size_t *lens,
                      size_t n, const char *prefix, const char *what,
                      const char *why, parse_fn parse, void *out,
                      kw_diag *d)
{
    size_t first = 0, k = count_prefixed(recs, lens, n, prefix, 1, &first);
    kw_diag sub;
    int rc;

    if (k == 0 && count_prefixed(recs, lens, n, prefix, 0, &first) > 0)
        return kw_diag_set(d, KW_EPARSE,
                           "%s record \"%.*s\" does not start with \"%s;\": "
                           "senders discard it, so %s",
                           what, (int)(lens[first] > 60 ? 60 : lens[first]),
                           recs[first], prefix, why);
    if (k == 0)
        return kw_diag_set(d, KW_ENOTFOUND,
                           "no %s record starts with %s;", what, prefix);
    if (k > 1)
        return kw_diag_set(d, KW_EPARSE,
                           "%zu %s records start with %s: %s; keep one", k,
                           what, prefix, why);
    rc = parse(recs[first], lens[first], out, &sub);
    if (rc != 0)
        return kw_diag_set(d, rc, "%s: %s", sub.msg, why);
    return 0;
}

static int parse_sts(const char *txt, size_t len, void *out, kw_diag *d)
{
    return kw_mtasts_txt_parse(txt, len, out, d);
}

int kw_mtasts_txt_select(const char *const *recs, const size_t *lens,
                         size_t n, kw_mtasts_txt *out, kw_diag *d)
{
    memset(out, 0, sizeof(*out));
    return select_one(recs, lens, n, "v=STSv1", "_mta-sts",
                      "senders treat the domain as having no valid policy",
                      parse_sts, out, d);
}

/* ----- the policy file ----- */

/* A domain pattern: optional "*." then LDH labels of 1..63 octets, at
 * least two labels in all (a bare "*" or a TLD covers nothing real). */
static int pattern_ok(const char *v, size_t vl)
{
    size_t i = 0, lab = 0, labels = 0;

    if (vl >= 2 && v[0] == '*' && v[1] == '.') {
        i = 2;
        labels = 1;
    }
    if (i == vl || vl > 253)
        return 0;
    for (; i <= vl; i++) {
        if (i == vl || v[i] == '.') {
            if (lab == 0 || v[i - 1] == '-' || v[i - lab] == '-')
                return 0;
            labels++;
            lab = 0;
            if (i + 1 == vl) /* a final dot */
                return 0;
            continue;
        }
        if (!alnum(v[i]) && v[i] != '-')
            return 0;
        if (++lab > 63)
            return 0;
    }
    return labels >= 2;
}

static int parse_uint(const char *v, size_t vl, int64_t *out)
{
    int64_t n = 0;
    size_t i;

    if (vl == 0 || vl > 10)
        return -1;
    for (i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    *out = n;
    return 0;
}

int kw_mtasts_policy_parse(const char *body, size_t len,
                           kw_mtasts_policy *out, kw_diag *d)
{
    size_t pos = 0, ks, ke, vs, ve, eol, next, i;
    int line = 0, seen_version = 0, seen_mode = 0, seen_age = 0, rc = 0;
    char ex[48];

    memset(out, 0, sizeof(*out));
    if (len > KW_MTASTS_POLICY_MAX)
        return kw_diag_set(d, KW_ETOOBIG,
                           "policy: %zu octets, senders read at most %d",
                           len, KW_MTASTS_POLICY_MAX);
    while (pos < len && rc == 0) {
        line++;
        for (eol = pos; eol < len && body[eol] != '\n'; eol++)
            ;
        next = eol < len ? eol + 1 : eol;
        if (eol > pos && body[eol - 1] == '\r')
            eol--;
        if (eol == pos) { /* a blank line, as after the last field */
            pos = next;
            continue;
        }
        ks = pos;
        for (ke = ks; ke < eol && body[ke] != ':'; ke++)
            ;
        if (ke == eol || ke == ks) {
            excerpt(body + ks, eol - ks, ex, sizeof(ex));
            rc = kw_diag_set(d, KW_EPARSE,
                             "policy line %d (\"%s\"): not a \"key: value\" "
                             "line",
                             line, ex);
            break;
        }
        for (i = ks; i < ke; i++)
            if (!alnum(body[i]) && body[i] != '_' && body[i] != '-' &&
                body[i] != '.') {
                excerpt(body + ks, ke - ks, ex, sizeof(ex));
                rc = kw_diag_set(d, KW_EPARSE,
                                 "policy line %d: key \"%s\" is not valid",
                                 line, ex);
                break;
            }
        if (rc != 0)
            break;
        for (vs = ke + 1; vs < eol && WSP(body[vs]); vs++)
            ;
        for (ve = eol; ve > vs && WSP(body[ve - 1]); ve--)
            ;
        for (i = vs; i < ve; i++)
            if ((unsigned char)body[i] < 0x20 || body[i] == 0x7f) {
                rc = kw_diag_set(d, KW_EPARSE,
                                 "policy line %d (%.*s): the value holds a "
                                 "control character",
                                 line, (int)(ke - ks), body + ks);
                break;
            }
        if (rc != 0)
            break;
        const char *k = body + ks, *v = body + vs;
        size_t kl = ke - ks, vl = ve - vs;
        if (name_is(k, kl, "version")) {
            if (seen_version++)
                rc = kw_diag_set(d, KW_EPARSE,
                                 "policy line %d: version appears twice",
                                 line);
            else if (!name_is(v, vl, "STSv1"))
                rc = kw_diag_set(d, KW_EPARSE,
                                 "policy line %d: version \"%.*s\", "
                                 "senders only know STSv1",
                                 line, (int)(vl > 40 ? 40 : vl), v);
        } else if (name_is(k, kl, "mode")) {
            if (seen_mode++)
                rc = kw_diag_set(d, KW_EPARSE,
                                 "policy line %d: mode appears twice", line);
            else if (name_is(v, vl, "enforce"))
                out->mode = KW_MTASTS_ENFORCE;
            else if (name_is(v, vl, "testing"))
                out->mode = KW_MTASTS_TESTING;
            else if (name_is(v, vl, "none"))
                out->mode = KW_MTASTS_NONE;
            else
                rc = kw_diag_set(d, KW_EPARSE,
                                 "policy line %d: mode \"%.*s\" is not "
                                 "enforce, testing or none",
                                 line, (int)(vl > 40 ? 40 : vl), v);
        } else if (name_is(k, kl, "max_age")) {
            if (seen_age++)
                rc = kw_diag_set(d, KW_EPARSE,
                                 "policy line %d: max_age appears twice",
                                 line);
            else if (parse_uint(v, vl, &out->max_age) != 0 ||
                     out->max_age > KW_MTASTS_MAX_AGE_MAX)
                rc = kw_diag_set(d, KW_EPARSE,
                                 "policy line %d: max_age \"%.*s\" is not "
                                 "a number of seconds from 0 to %d",
                                 line, (int)(vl > 40 ? 40 : vl), v,
                                 KW_MTASTS_MAX_AGE_MAX);
        } else if (name_is(k, kl, "mx")) {
            if (!pattern_ok(v, vl))
                rc = kw_diag_set(d, KW_EPARSE,
                                 "policy line %d: mx \"%.*s\" is not a host "
                                 "name or *.DOMAIN pattern",
                                 line, (int)(vl > 60 ? 60 : vl), v);
            else if (out->nmx == KW_MTASTS_MX_MAX)
                rc = kw_diag_set(d, KW_ETOOBIG,
                                 "policy line %d: more than %d mx lines",
                                 line, KW_MTASTS_MX_MAX);
            else {
                for (i = 0; i < vl; i++)
                    out->mx[out->nmx][i] =
                        (char)tolower((unsigned char)v[i]);
                out->mx[out->nmx++][vl] = '\0';
            }
        }
        /* Any other key is an extension: section 3.2 has senders ignore
         * it. */
        pos = next;
    }
    if (rc == 0 && !seen_version)
        rc = kw_diag_set(d, KW_EPARSE, "policy: no version field");
    if (rc == 0 && !seen_mode)
        rc = kw_diag_set(d, KW_EPARSE, "policy: no mode field");
    if (rc == 0 && !seen_age)
        rc = kw_diag_set(d, KW_EPARSE, "policy: no max_age field");
    if (rc == 0 && out->nmx == 0 && out->mode != KW_MTASTS_NONE)
        rc = kw_diag_set(d, KW_EPARSE,
                         "policy: mode %s without any mx line",
                         kw_mtasts_mode_name(out->mode));
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

int kw_mtasts_mx_match(const char *pattern, const char *host)
{
    size_t hl = strlen(host), pl = strlen(pattern);
    const char *dot;

    if (hl > 0 && host[hl - 1] == '.')
        hl--;
    if (pl >= 2 && pattern[0] == '*' && pattern[1] == '.') {
        /* The wildcard is exactly one label: host minus its first label
         * must equal the rest of the pattern. */
        dot = memchr(host, '.', hl);
        if (dot == NULL || dot == host)
            return 0;
        pattern++;
        pl--;
        hl -= (size_t)(dot - host);
        host = dot;
    }
    return pl == hl && strncasecmp(pattern, host, hl) == 0;
}

int kw_mtasts_policy_covers(const kw_mtasts_policy *p, const char *host)
{
    size_t i;

    for (i = 0; i < p->nmx; i++)
        if (kw_mtasts_mx_match(p->mx[i], host))
            return (int)i;
    return -1;
}

const char *kw_mtasts_mode_name(kw_mtasts_mode m)
{
    return m == KW_MTASTS_ENFORCE   ? "enforce"
           : m == KW_MTASTS_TESTING ? "testing"
                                    : "none";
}

/* ----- TLS-RPT ----- */

static int rua_add(kw_tlsrpt *t, const char *u, size_t ul, kw_diag *d)
{
    size_t i;

    if (!(ul > 7 && strncasecmp(u, "mailto:", 7) == 0) &&
        !(ul > 8 && strncasecmp(u, "https://", 8) == 0))
        return kw_diag_set(d, KW_EPARSE,
                           "_smtp._tls record: rua URI \"%.*s\" is neither "
                           "mailto: nor https:",
                           (int)(ul > 60 ? 60 : ul), u);
    if (u[0] == 'm' || u[0] == 'M') {
        const char *at = memchr(u + 7, '@', ul - 7);
        if (at == NULL || at == u + 7 || at + 1 == u + ul)
            return kw_diag_set(d, KW_EPARSE,
                               "_smtp._tls record: rua URI \"%.*s\" has no "
                               "mail address",
                               (int)(ul > 60 ? 60 : ul), u);
    }
    for (i = 0; i < ul; i++)
        if (u[i] <= 0x20 || u[i] > 0x7e)
            return kw_diag_set(d, KW_EPARSE,
                               "_smtp._tls record: rua URI \"%.*s\" holds a "
                               "space or control character",
                               (int)(ul > 60 ? 60 : ul), u);
    if (ul >= sizeof(t->rua[0]))
        return kw_diag_set(d, KW_ETOOBIG,
                           "_smtp._tls record: a rua URI of %zu octets",
                           ul);
    if (t->nrua == KW_TLSRPT_RUA_MAX)
        return kw_diag_set(d, KW_ETOOBIG,
                           "_smtp._tls record: more than %d rua URIs",
                           KW_TLSRPT_RUA_MAX);
    memcpy(t->rua[t->nrua], u, ul);
    t->rua[t->nrua++][ul] = '\0';
    return 0;
}

static int rpt_field(void *ctx, const char *n, size_t nl, const char *v,
                     size_t vl, kw_diag *d)
{
    kw_tlsrpt *t = ctx;
    size_t s = 0, e;
    int rc;

    if (!name_is(n, nl, "rua"))
        return 0; /* an extension (tlsrpt-extension) */
    if (t->nrua > 0)
        return kw_diag_set(d, KW_EPARSE, "_smtp._tls record: rua= appears "
                                         "twice");
    /* taglist stops a value at white space, so the URIs arrive separated
     * by commas alone (RFC 8460 allows WSP around them only in the
     * grammar's *WSP, which we reject as senders' parsers vary). */
    while (s <= vl) {
        for (e = s; e < vl && v[e] != ','; e++)
            ;
        if (e == s)
            return kw_diag_set(d, KW_EPARSE,
                               "_smtp._tls record: an empty URI in rua=");
        if ((rc = rua_add(t, v + s, e - s, d)) != 0)
            return rc;
        s = e + 1;
    }
    return 0;
}

int kw_tlsrpt_parse(const char *txt, size_t len, kw_tlsrpt *out,
                    kw_diag *d)
{
    int rc;

    memset(out, 0, sizeof(*out));
    rc = taglist("_smtp._tls record", "v=TLSRPTv1", txt, len, rpt_field, out,
                 d);
    if (rc == 0 && out->nrua == 0)
        rc = kw_diag_set(d, KW_EPARSE, "_smtp._tls record: no rua= field");
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

static int parse_rpt(const char *txt, size_t len, void *out, kw_diag *d)
{
    return kw_tlsrpt_parse(txt, len, out, d);
}

int kw_tlsrpt_select(const char *const *recs, const size_t *lens, size_t n,
                     kw_tlsrpt *out, kw_diag *d)
{
    memset(out, 0, sizeof(*out));
    return select_one(recs, lens, n, "v=TLSRPTv1", "_smtp._tls",
                      "senders send no reports", parse_rpt, out, d);
}
