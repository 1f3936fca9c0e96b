#include "kw_json.h"

#include "kw_err.h"
#include "kw_str.h"

#include <stdlib.h>
#include <string.h>

json_t *kw_json_str(const char *s)
{
    json_t *j;
    char *c;

    if (s == NULL)
        return json_null();
    j = json_string(s);
    if (j != NULL)
        return j;
    c = kw_str_clean((const unsigned char *)s, strlen(s));
    if (c == NULL)
        return NULL;
    j = json_string(c);
    free(c);
    return j;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

json_t *kw_json_path(const char *path)
{
    const unsigned char *p = (const unsigned char *)path;
    size_t n, i, o = 0;
    json_t *j;
    char *e;

    if (path == NULL)
        return json_null();
    if ((j = json_string(path)) != NULL)
        return j;
    n = strlen(path);
    if ((e = malloc((n + 2) / 3 * 4 + 1)) == NULL)
        return NULL;
    for (i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 |
                     (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);

        e[o++] = b64[v >> 18 & 63];
        e[o++] = b64[v >> 12 & 63];
        e[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        e[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    e[o] = '\0';
    j = json_pack("{s:s}", "base64", e);
    free(e);
    return j;
}

char *kw_json_path_bytes(const json_t *v)
{
    const char *s = json_string_value(v), *c;
    unsigned acc = 0;
    size_t n, o = 0, i;
    int bits = 0;
    char *out;

    if (s != NULL)
        return memchr(s, '\0', json_string_length(v)) == NULL ? strdup(s)
                                                               : NULL;
    if (!json_is_object(v) ||
        (s = json_string_value(json_object_get(v, "base64"))) == NULL)
        return NULL;
    n = strlen(s);
    if ((out = malloc(n / 4 * 3 + 3)) == NULL)
        return NULL;
    for (i = 0; i < n && s[i] != '='; i++) {
        if ((c = strchr(b64, s[i])) == NULL || s[i] == '\0')
            goto bad;
        acc = (acc << 6 | (unsigned)(c - b64)) & 0xffffff;
        if ((bits += 6) >= 8) {
            bits -= 8;
            out[o] = (char)(acc >> bits & 0xff);
            if (out[o++] == '\0')
                goto bad;
        }
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

int kw_json_utf8_ok(const char *s)
{
    json_t *j = json_string(s);

    json_decref(j);
    return j != NULL;
}

int kw_json_append(json_t *a, json_t *v)
{
    if (v == NULL || json_array_append_new(a, v) != 0)
        return KW_ENOMEM;
    return 0;
}
