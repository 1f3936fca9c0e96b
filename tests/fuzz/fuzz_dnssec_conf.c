/*
 * libFuzzer target: the named.conf and knot.conf readers
 * (dnssec/dnssec_conf.h).  Both files may be edited by hand, generated,
 * or half-written when the scan reads them.  The first byte picks the
 * parser; an include always names the same input again (so include
 * chains and their bound are exercised).  Besides memory errors it checks
 * what the readers promise: every note names the file, every zone is
 * normalised (lower case, no final dot) and named by FILE:LINE, and the
 * limits hold.
 */
#include "dnssec/dnssec_conf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct input {
    const uint8_t *data;
    size_t size;
} input;

static int again(void *ctx, const char *path, unsigned char **text,
                 size_t *len, kw_diag *d)
{
    const input *in = ctx;

    (void)path;
    (void)d;
    if ((*text = malloc(in->size + 1)) == NULL)
        return KW_ENOMEM;
    memcpy(*text, in->data, in->size);
    *len = in->size;
    return 0;
}

/* "FILE:LINE: ..." or "...FILE:LINE" (a zone's source): a line number
 * after a colon. */
static int names_line(const char *s)
{
    const char *c;

    for (c = strchr(s, ':'); c != NULL; c = strchr(c + 1, ':'))
        if (c[1] >= '0' && c[1] <= '9')
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kw_dnssec_conf c;
    input in;
    size_t i;
    int r;

    if (size < 1)
        return 0;
    in.data = data + 1;
    in.size = size - 1;
    memset(&c, 0, sizeof c);
    if (data[0] & 1)
        r = kw_dnssec_knot_conf_parse("/k/knot.conf", (const char *)in.data,
                                      in.size, again, &in, &c);
    else
        r = kw_dnssec_named_parse("/n/named.conf", (const char *)in.data,
                                  in.size, again, &in, &c);
    if (r != 0 && r != KW_ENOMEM)
        __builtin_trap();
    if (c.nnotes > KW_DNSSEC_CONF_MAX_NOTES ||
        c.nzones > KW_DNSSEC_CONF_MAX_ZONES ||
        c.nfiles > KW_DNSSEC_CONF_MAX_FILES)
        __builtin_trap();
    for (i = 0; i < c.nnotes; i++)
        if (!names_line(c.notes[i]))
            __builtin_trap();
    for (i = 0; i < c.nzones; i++) {
        const char *z = c.zones[i].zone;
        size_t n = strlen(z);

        if (n == 0 || (n > 1 && z[n - 1] == '.') ||
            !names_line(c.zones[i].source))
            __builtin_trap();
        for (size_t j = 0; j < n; j++)
            if (z[j] >= 'A' && z[j] <= 'Z')
                __builtin_trap();
    }
    kw_dnssec_conf_free(&c);
    return 0;
}
