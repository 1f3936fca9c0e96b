/*
 * libFuzzer target: an SPF record as a DNS server hands it over (any
 * octets) through kw_spf_parse, and every term's domain-spec through
 * macro expansion.  A hostile domain owner controls all of these bytes.
 */
#include "dkim/dkim_spf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kw_spf_record rec;
    const kw_spf_env env = {"2001:db8::cb01", "strong-bad@email.example.com",
                            "mx.example.org", "email.example.com"};
    char buf[1024], *s;
    kw_diag d;
    size_t i;
    int rc;

    rc = kw_spf_parse((const char *)data, size, &rec, &d);
    if (rc != 0 && memchr(d.msg, '\0', sizeof(d.msg)) == NULL)
        __builtin_trap();
    for (i = 0; rc == 0 && i < rec.n; i++) {
        const kw_spf_term *t = &rec.t[i];

        if (t->offset + t->len > size || t->len == 0)
            __builtin_trap();
        if (t->spec[0] != '\0' && t->mech != KW_SPF_IP4 &&
            t->mech != KW_SPF_IP6 &&
            kw_spf_macro_expand(t->spec, &env, buf, sizeof(buf), &d) == 0 &&
            strlen(buf) > 253)
            __builtin_trap();
    }
    /* The input as a macro-string of its own (explanations allow more). */
    if ((s = malloc(size + 1)) == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (kw_spf_macro_expand(s, &env, buf, sizeof(buf), &d) == 0 &&
        strlen(buf) > 253)
        __builtin_trap();
    free(s);
    return 0;
}
