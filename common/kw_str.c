#include "kw_str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
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
        k = c >= 0x80 ? utf8_seq(src + i, len - i) : 0;
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

int kw_str_appendf(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*pos >= cap)
        return -1;
    va_start(ap, fmt);
    n = vsnprintf(buf + *pos, cap - *pos, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n >= cap - *pos) {
        *pos = cap;
        return -1;
    }
    *pos += (size_t)n;
    return 0;
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
