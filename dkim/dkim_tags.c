/*
 * dkim_tags.c: the tag-list syntax of RFC 6376 section 3.2 (see
 * dkim_tags.h).
 */
#include "dkim_tags.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnumpunc(char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}

/* VALCHAR: '!' to '~' except ';'. */
static int is_valchar(char c)
{
    return c >= 0x21 && c <= 0x7e && c != ';';
}

/* FWS is whitespace, or CRLF when whitespace follows it (a folded line). */
static size_t fws_len(const char *s, size_t pos, size_t len)
{
    if (pos < len && is_wsp(s[pos]))
        return 1;
    if (pos + 2 < len && s[pos] == '\r' && s[pos + 1] == '\n' &&
        is_wsp(s[pos + 2]))
        return 3;
    return 0;
}

static size_t skip_fws(const char *s, size_t pos, size_t len)
{
    size_t k;

    while ((k = fws_len(s, pos, len)) > 0)
        pos += k;
    return pos;
}

const char *kw_dkim_quote(char *buf, size_t cap, const char *s, size_t n)
{
    size_t i, o = 0;

    if (cap == 0)
        return buf;
    for (i = 0; i < n && o + 8 < cap && i < 60; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    if (i < n && o + 4 <= cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o < cap ? o : cap - 1] = '\0';
    return buf;
}

int kw_dkim_tag_is(const char *txt, const kw_dkim_tag *t, const char *name,
                   int icase)
{
    size_t n = strlen(name);

    if (t->name_len != n)
        return 0;
    return icase ? strncasecmp(txt + t->name_off, name, n) == 0
                 : memcmp(txt + t->name_off, name, n) == 0;
}

/* The byte at pos, for a message: 'c', \xNN, or "the end". */
static const char *what_at(char *buf, size_t cap, const char *s, size_t pos,
                           size_t len)
{
    if (pos >= len)
        return "the end of the record";
    buf[0] = '\'';
    kw_dkim_quote(buf + 1, cap - 2, s + pos, 1);
    strcat(buf, "'");
    return buf;
}

int kw_dkim_tags_split(const char *txt, size_t len, const char *what,
                       int icase, kw_dkim_taglist *out, kw_diag *d)
{
    char q[80], nm[80];
    size_t pos = 0, i;

    out->n = 0;
    if (len > KW_DKIM_TXT_MAX)
        return kw_diag_set(d, KW_ETOOBIG,
                           "%s: %zu bytes, more than a TXT record can hold "
                           "(%d)", what, len, KW_DKIM_TXT_MAX);
    for (;;) {
        kw_dkim_tag t;

        pos = skip_fws(txt, pos, len);
        if (pos >= len) {
            if (out->n == 0)
                return kw_diag_set(d, KW_EPARSE, "%s: empty record", what);
            return 0; /* whitespace after the last ';' */
        }
        if (txt[pos] == ';')
            return kw_diag_set(d, KW_EPARSE,
                               "%s: offset %zu: empty tag (';' with no "
                               "tag=value before it)", what, pos);
        if (!is_alpha(txt[pos]))
            return kw_diag_set(d, KW_EPARSE,
                               "%s: offset %zu: a tag name must start with a "
                               "letter, found %s", what, pos,
                               what_at(q, sizeof(q), txt, pos, len));
        t.name_off = pos;
        while (pos < len && is_alnumpunc(txt[pos]))
            pos++;
        t.name_len = pos - t.name_off;
        kw_dkim_quote(nm, sizeof(nm), txt + t.name_off, t.name_len);
        pos = skip_fws(txt, pos, len);
        if (pos >= len || txt[pos] != '=')
            return kw_diag_set(d, KW_EPARSE,
                               "%s: offset %zu: expected '=' after tag name "
                               "\"%s\", found %s", what, pos, nm,
                               what_at(q, sizeof(q), txt, pos, len));
        pos = skip_fws(txt, pos + 1, len);
        t.val_off = pos;
        t.val_len = 0;
        while (pos < len && txt[pos] != ';') {
            size_t k = fws_len(txt, pos, len);

            if (k > 0) {
                pos += k;
                continue;
            }
            if (!is_valchar(txt[pos]))
                return kw_diag_set(d, KW_EPARSE,
                                   "%s: tag %s= (offset %zu): %s is not "
                                   "allowed in a value (printable ASCII only; "
                                   "CR LF only before a space)", what, nm,
                                   pos, what_at(q, sizeof(q), txt, pos, len));
            pos++;
            t.val_len = pos - t.val_off;
        }
        for (i = 0; i < out->n; i++)
            if (out->tag[i].name_len == t.name_len &&
                (icase ? strncasecmp(txt + out->tag[i].name_off,
                                     txt + t.name_off, t.name_len)
                       : memcmp(txt + out->tag[i].name_off,
                                txt + t.name_off, t.name_len)) == 0)
                return kw_diag_set(d, KW_EPARSE,
                                   "%s: tag %s= appears twice (offsets %zu "
                                   "and %zu); a record with a repeated tag "
                                   "is invalid", what, nm,
                                   out->tag[i].name_off, t.name_off);
        if (out->n == KW_DKIM_TAGS_MAX)
            return kw_diag_set(d, KW_ETOOBIG,
                               "%s: more than %d tags (offset %zu)", what,
                               KW_DKIM_TAGS_MAX, t.name_off);
        out->tag[out->n++] = t;
        if (pos >= len)
            return 0;
        pos++; /* the ';' */
    }
}

void kw_dkim_warn(kw_dkim_warning *w, size_t *n, int code, const char *fmt,
                  ...)
{
    va_list ap;

    if (*n >= KW_DKIM_WARN_MAX)
        return;
    w[*n].code = code;
    va_start(ap, fmt);
    vsnprintf(w[*n].msg, sizeof(w[*n].msg), fmt, ap);
    va_end(ap);
    (*n)++;
}

static int is_item_char(char c)
{
    return is_alnumpunc(c) || c == '-' || c == '*';
}

int kw_dkim_tags_list(const char *txt, const kw_dkim_tag *t, const char *what,
                      const char *const *names, int icase, int unknown_ok,
                      unsigned *known, char *norm, size_t cap, kw_diag *d)
{
    size_t pos = t->val_off, end = t->val_off + t->val_len, o = 0;
    char nm[80], q[80];
    int cut = 0;

    *known = 0;
    if (cap > 0)
        norm[0] = '\0';
    kw_dkim_quote(nm, sizeof(nm), txt + t->name_off, t->name_len);
    for (;;) {
        size_t off, n, i;
        int found = 0;

        pos = skip_fws(txt, pos, end);
        off = pos;
        while (pos < end && is_item_char(txt[pos]))
            pos++;
        n = pos - off;
        if (n == 0)
            return kw_diag_set(d, KW_EPARSE,
                               "%s: tag %s= (offset %zu): empty item in the "
                               "list (found %s where a value should be)",
                               what, nm, off,
                               pos < end ? what_at(q, sizeof(q), txt, pos, end)
                                         : "nothing");
        for (i = 0; names[i] != NULL; i++)
            if (strlen(names[i]) == n &&
                (icase ? strncasecmp(txt + off, names[i], n)
                       : memcmp(txt + off, names[i], n)) == 0) {
                *known |= 1u << i;
                found = 1;
            }
        if (!found && !unknown_ok)
            return kw_diag_set(d, KW_EPARSE,
                               "%s: tag %s= (offset %zu): unknown value "
                               "\"%s\"", what, nm, off,
                               kw_dkim_quote(q, sizeof(q), txt + off, n));
        if (!cut && o + n + 2 < cap) {
            if (o > 0)
                norm[o++] = ':';
            memcpy(norm + o, txt + off, n);
            o += n;
            norm[o] = '\0';
        } else if (!cut && cap >= 4) {
            cut = 1;
            if (o + 4 > cap)
                o = cap - 4;
            memcpy(norm + o, "...", 4);
        }
        pos = skip_fws(txt, pos, end);
        if (pos >= end)
            return 0;
        if (txt[pos] != ':')
            return kw_diag_set(d, KW_EPARSE,
                               "%s: tag %s= (offset %zu): expected ':' between "
                               "items, found %s", what, nm, pos,
                               what_at(q, sizeof(q), txt, pos, end));
        pos++;
    }
}
