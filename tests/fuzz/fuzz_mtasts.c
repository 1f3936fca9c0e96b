/*
 * libFuzzer target: the three MTA-STS texts (mtasts/mtasts_policy.h).
 * The first byte picks the parser (0 the _mta-sts record, 1 the policy
 * file, 2 the _smtp._tls record, 3 the selection among several records
 * split at newlines); the rest is what a DNS answer or an HTTPS body
 * would bring.  Besides memory errors it checks the parsers' promises:
 * an id of 1 to 32 alphanumerics, a mode and max_age in range, mx
 * patterns that match a host built from them, URIs that are mailto: or
 * https:, and an empty result after any error.
 */
#include "mtasts/mtasts_policy.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_txt(const kw_mtasts_txt *t, int rc)
{
    size_t i, n = strlen(t->id);

    if (rc != 0) {
        if (n != 0)
            __builtin_trap();
        return;
    }
    if (n < 1 || n > 32)
        __builtin_trap();
    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)t->id[i]))
            __builtin_trap();
}

static void check_policy(const kw_mtasts_policy *p, int rc)
{
    char host[300];
    size_t i;

    if (rc != 0) {
        if (p->nmx != 0 || p->max_age != 0)
            __builtin_trap();
        return;
    }
    if (p->max_age < 0 || p->max_age > KW_MTASTS_MAX_AGE_MAX ||
        p->nmx > KW_MTASTS_MX_MAX ||
        (p->mode != KW_MTASTS_NONE && p->nmx == 0))
        __builtin_trap();
    for (i = 0; i < p->nmx; i++) {
        const char *m = p->mx[i];

        if (m[0] == '*')
            snprintf(host, sizeof(host), "x%s", m + 1);
        else
            snprintf(host, sizeof(host), "%s", m);
        if (!kw_mtasts_mx_match(m, host) ||
            kw_mtasts_policy_covers(p, host) < 0)
            __builtin_trap();
        /* A wildcard never matches its own base. */
        if (m[0] == '*' && kw_mtasts_mx_match(m, m + 2))
            __builtin_trap();
    }
}

static void check_rpt(const kw_tlsrpt *t, int rc)
{
    size_t i;

    if (rc != 0) {
        if (t->nrua != 0)
            __builtin_trap();
        return;
    }
    if (t->nrua < 1 || t->nrua > KW_TLSRPT_RUA_MAX)
        __builtin_trap();
    for (i = 0; i < t->nrua; i++)
        if (strncasecmp(t->rua[i], "mailto:", 7) != 0 &&
            strncasecmp(t->rua[i], "https://", 8) != 0)
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    kw_mtasts_txt t;
    kw_mtasts_policy p;
    kw_tlsrpt r;
    kw_diag d;

    if (size < 1)
        return 0;
    switch (data[0] & 3) {
    case 0:
        check_txt(&t, kw_mtasts_txt_parse(s, n, &t, &d));
        break;
    case 1:
        check_policy(&p, kw_mtasts_policy_parse(s, n, &p, &d));
        break;
    case 2:
        check_rpt(&r, kw_tlsrpt_parse(s, n, &r, &d));
        break;
    default: {
        const char *recs[8];
        size_t lens[8], k = 0, start = 0, i;

        for (i = 0; i <= n && k < 8; i++)
            if (i == n || s[i] == '\n') {
                recs[k] = s + start;
                lens[k++] = i - start;
                start = i + 1;
            }
        check_txt(&t, kw_mtasts_txt_select(recs, lens, k, &t, &d));
        check_rpt(&r, kw_tlsrpt_select(recs, lens, k, &r, &d));
        break;
    }
    }
    return 0;
}
