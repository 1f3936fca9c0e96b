#include "kw_str.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

size_t kw_utf8_seq(const unsigned char *s, size_t n)
{
    size_t need, i;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        need = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        need = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        need = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Reject overlong forms, surrogates and values past U+10FFFF. */
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    /* C1 controls (U+0080..U+009F) are escaped like C0 controls. */
    if (cp >= 0x80 && cp <= 0x9f)
        return 0;
    return need;
}

char *kw_str_clean(const unsigned char *src, size_t len)
{
    char *out = malloc(len * 4 + 1);
    size_t i = 0, o = 0, k;

    if (out == NULL)
        return NULL;
    while (i < len) {
        unsigned char c = src[i];

        if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
            i++;
            continue;
        }
        k = c >= 0x80 ? kw_utf8_seq(src + i, len - i) : 0;
        if (k > 0) {
            memcpy(out + o, src + i, k);
            o += k;
            i += k;
            continue;
        }
        snprintf(out + o, 5, "\\x%02x", c);
        o += 4;
        i++;
    }
    out[o] = '\0';
    return out;
}

static int vappendf(char *buf, size_t cap, size_t *pos, const char *fmt,
                    va_list ap) __attribute__((format(printf, 4, 0)));

static int vappendf(char *buf, size_t cap, size_t *pos, const char *fmt,
                    va_list ap)
{
    int n;

    if (*pos >= cap)
        return -1;
    n = vsnprintf(buf + *pos, cap - *pos, fmt, ap);
    if (n < 0)
        return -1;
    if ((size_t)n >= cap - *pos) {
        *pos = cap;
        return -1;
    }
    *pos += (size_t)n;
    return 0;
}

int kw_str_appendf(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vappendf(buf, cap, pos, fmt, ap);
    va_end(ap);
    return r;
}

int kw_str_is_clean(const unsigned char *src, size_t len)
{
    size_t i = 0, k;

    while (i < len) {
        if (src[i] >= 0x20 && src[i] < 0x7f) {
            i++;
            continue;
        }
        k = src[i] >= 0x80 ? kw_utf8_seq(src + i, len - i) : 0;
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* Where kw_safe_format writes: a stream, or a bounded buffer. */
typedef struct safe_sink {
    FILE *out;
    char *buf;
    size_t cap, *pos;
} safe_sink;

/* The formats are built here from the caller's checked format string,
 * one conversion at a time, so they are not literals. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int sink_put(safe_sink *k, const char *spec, ...)
    __attribute__((format(printf, 2, 3)));

static int sink_put(safe_sink *k, const char *spec, ...)
{
    va_list ap;
    int r;

    va_start(ap, spec);
    if (k->out != NULL)
        r = vfprintf(k->out, spec, ap) < 0 ? -1 : 0;
    else
        r = vappendf(k->buf, k->cap, k->pos, spec, ap);
    va_end(ap);
    return r;
}

static int sink_raw(safe_sink *k, const char *s, size_t n)
{
    if (n == 0)
        return 0;
    return sink_put(k, "%.*s", (int)n, s);
}

/* A %s argument: escaped unless already clean (the common case costs a
 * scan, no allocation). */
static int put_text(safe_sink *k, const char *spec, const char *s,
                    size_t n)
{
    char *c = NULL;
    int r;

    if (!kw_str_is_clean((const unsigned char *)s, n)) {
        if ((c = kw_str_clean((const unsigned char *)s, n)) == NULL)
            return -1;
        s = c;
        n = strlen(c);
    }
    /* spec holds the flags and width, and ".*s" for the length. */
    r = sink_put(k, spec, (int)n, s);
    free(c);
    return r;
}

static int safe_format(safe_sink *k, const char *fmt, va_list ap)
{
    const char *p = fmt, *lit = fmt;
    int bad = 0;

    while (*p != '\0') {
        char spec[64], len[3] = "";
        size_t n = 0;
        int prec = -1;

        if (*p != '%') {
            p++;
            continue;
        }
        bad |= sink_raw(k, lit, (size_t)(p - lit));
        p++;
        if (*p == '%') {
            bad |= sink_raw(k, "%", 1);
            lit = ++p;
            continue;
        }
        spec[n++] = '%';
        while (*p != '\0' && strchr("-+ #0", *p) != NULL && n < 8)
            spec[n++] = *p++;
        if (*p == '*') {
            n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%d",
                                  va_arg(ap, int));
            p++;
        } else {
            while (*p >= '0' && *p <= '9' && n < 24)
                spec[n++] = *p++;
        }
        if (*p == '.') {
            p++;
            if (*p == '*') {
                prec = va_arg(ap, int);
                p++;
            } else {
                prec = 0;
                while (*p >= '0' && *p <= '9' && prec < 100000)
                    prec = prec * 10 + (*p++ - '0');
            }
        }
        if ((*p == 'h' || *p == 'l') && p[1] == *p) {
            len[0] = len[1] = *p;
            p += 2;
        } else if (*p != '\0' && strchr("hlzjtL", *p) != NULL) {
            len[0] = *p++;
        }
        if (*p != 's' && *p != 'c' && prec >= 0)
            n += (size_t)snprintf(spec + n, sizeof(spec) - n, ".%d", prec);
        if (*p != 's' && *p != 'c')
            n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%s%c", len,
                                  *p);
        switch (*p) {
        case 's': {
            const char *s = va_arg(ap, const char *);

            if (s == NULL)
                s = "(null)";
            memcpy(spec + n, ".*s", 4);
            bad |= put_text(k, spec, s,
                            prec >= 0 ? strnlen(s, (size_t)prec)
                                      : strlen(s));
            break;
        }
        case 'c': {
            char ch = (char)va_arg(ap, int);

            memcpy(spec + n, ".*s", 4);
            bad |= put_text(k, spec, &ch, 1);
            break;
        }
        case 'd':
        case 'i':
            if (strcmp(len, "ll") == 0)
                bad |= sink_put(k, spec, va_arg(ap, long long));
            else if (strcmp(len, "l") == 0)
                bad |= sink_put(k, spec, va_arg(ap, long));
            else if (strcmp(len, "z") == 0)
                bad |= sink_put(k, spec, va_arg(ap, ssize_t));
            else if (strcmp(len, "j") == 0)
                bad |= sink_put(k, spec, va_arg(ap, intmax_t));
            else if (strcmp(len, "t") == 0)
                bad |= sink_put(k, spec, va_arg(ap, ptrdiff_t));
            else
                bad |= sink_put(k, spec, va_arg(ap, int));
            break;
        case 'u':
        case 'x':
        case 'X':
        case 'o':
            if (strcmp(len, "ll") == 0)
                bad |= sink_put(k, spec, va_arg(ap, unsigned long long));
            else if (strcmp(len, "l") == 0)
                bad |= sink_put(k, spec, va_arg(ap, unsigned long));
            else if (strcmp(len, "z") == 0)
                bad |= sink_put(k, spec, va_arg(ap, size_t));
            else if (strcmp(len, "j") == 0)
                bad |= sink_put(k, spec, va_arg(ap, uintmax_t));
            else if (strcmp(len, "t") == 0)
                bad |= sink_put(k, spec, va_arg(ap, ptrdiff_t));
            else
                bad |= sink_put(k, spec, va_arg(ap, unsigned));
            break;
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
        case 'a':
        case 'A':
            if (strcmp(len, "L") == 0)
                bad |= sink_put(k, spec, va_arg(ap, long double));
            else
                bad |= sink_put(k, spec, va_arg(ap, double));
            break;
        case 'p':
            bad |= sink_put(k, spec, va_arg(ap, void *));
            break;
        default:
            /* %n, or a conversion this function does not know: the
             * compiler's format check makes this unreachable. */
            return -1;
        }
        lit = ++p;
    }
    bad |= sink_raw(k, lit, (size_t)(p - lit));
    return bad ? -1 : 0;
}
#pragma GCC diagnostic pop

int kw_voutf(FILE *out, const char *fmt, va_list ap)
{
    safe_sink k = {out, NULL, 0, NULL};

    return safe_format(&k, fmt, ap);
}

int kw_outf(FILE *out, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = kw_voutf(out, fmt, ap);
    va_end(ap);
    return r;
}

int kw_str_vsafef(char *buf, size_t cap, size_t *pos, const char *fmt,
                  va_list ap)
{
    safe_sink k = {NULL, buf, cap, pos};

    return safe_format(&k, fmt, ap);
}

int kw_str_safef(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = kw_str_vsafef(buf, cap, pos, fmt, ap);
    va_end(ap);
    return r;
}

void kw_hex(const unsigned char *in, size_t n, char sep, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        if (sep != 0 && i > 0)
            out[o++] = sep;
        out[o++] = digits[in[i] >> 4];
        out[o++] = digits[in[i] & 15];
    }
    out[o] = '\0';
}

int kw_str_endswith(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);

    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

char *kw_strdup_opt(const char *s, int *failed)
{
    char *c;

    if (s == NULL)
        return NULL;
    if ((c = strdup(s)) == NULL)
        *failed = 1;
    return c;
}
