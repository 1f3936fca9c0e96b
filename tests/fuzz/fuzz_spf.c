/*
 * libFuzzer target: an SPF record as a DNS server hands it over (any
 * octets) through kw_spf_parse, and every term's domain-spec through
 * macro expansion; then the walk and check_host() over a DNS where every
 * name's TXT record is the input (includes of themselves, loops, limits).
 * A hostile domain owner controls all of these bytes.
 */
#include "dkim/dkim_spf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *g_data;
static size_t g_size;

/* Every name exists: TXT is the input, A/AAAA/MX/PTR one record each. */
static int fake(void *ctx, const char *name, kw_dns_rrtype type,
                kw_dns_rrset *out, kw_diag *d)
{
    (void)ctx;
    (void)name;
    (void)d;
    kw_dns_rrset_clear(out);
    switch (type) {
    case KW_DNS_TXT:
        kw_dns_rrset_add(out, (const char *)g_data, g_size);
        break;
    case KW_DNS_A:
        kw_dns_rrset_add(out, "192.0.2.1", 9);
        break;
    case KW_DNS_AAAA:
        kw_dns_rrset_add(out, "2001:db8::1", 11);
        break;
    case KW_DNS_MX:
    case KW_DNS_PTR:
        kw_dns_rrset_add(out, "mx.example.com", 14);
        break;
    }
    return 0;
}

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

    if (rc == 0) {
        const kw_dns_lookup lk = {fake, NULL};
        const kw_spf_limits lim = {0, 0, 4};
        kw_spf_check c;
        kw_spf_tree t;

        g_data = data;
        g_size = size;
        if (kw_spf_check_host(&lk, "192.0.2.1", "a@example.com", "h.example",
                              &c, &d) != 0 || c.lookups > 11)
            __builtin_trap();
        if (kw_spf_walk(&lk, "example.com", &lim, &t, &d) == 0) {
            json_t *j = kw_spf_tree_json(&t);
            char *txt = kw_spf_tree_text(&t);

            if (j == NULL || txt == NULL)
                __builtin_trap();
            json_decref(j);
            free(txt);
            kw_spf_tree_free(&t);
        }
    }
    return 0;
}
