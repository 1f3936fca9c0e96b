/*
 * libFuzzer target: the DMARC record parser and the organizational domain
 * (dkim/dkim_dmarc.h).  Anyone's DNS answers reach the parser; names from
 * the inventory and from DNS reach kw_dmarc_org_domain.  Besides memory
 * errors it checks the parser's promises (a policy after a success, pct
 * and modes in range, bounded URIs, is_dmarc agreeing) and that an
 * organizational domain is a suffix of its name, aligned with it.
 */
#include "dkim/dkim_dmarc.h"
#include "fuzz_dkim.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_uris(const kw_dmarc_uri *u, size_t n)
{
    size_t i;

    for (i = 0; i < n && i < KW_DMARC_URI_MAX; i++)
        if (!memchr(u[i].uri, '\0', sizeof(u[i].uri)) ||
            !memchr(u[i].domain, '\0', sizeof(u[i].domain)) ||
            u[i].uri[0] == '\0')
            __builtin_trap();
}

static void org_domain(const uint8_t *data, size_t size)
{
    char name[300], org[254];
    size_t n, m;
    kw_diag d;

    if (size >= sizeof(name) || memchr(data, '\0', size) != NULL)
        return;
    memcpy(name, data, size);
    name[size] = '\0';
    if (kw_dmarc_org_domain(name, org, sizeof(org), &d) != 0)
        return;
    n = strlen(name) - (size > 0 && name[size - 1] == '.');
    m = strlen(org);
    if (m == 0 || m > n || strncasecmp(name + n - m, org, m) != 0 ||
        (m < n && name[n - m - 1] != '.') ||
        kw_dmarc_aligned(name, org, 'r', &d) != 1 ||
        kw_dmarc_aligned(name, name, 's', &d) != 1)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *txt = (const char *)data;
    kw_dmarc_record rec;
    kw_diag d = {""};
    int r = kw_dmarc_record_parse(txt, size, &rec, &d);

    if (r == 0) {
        if (rec.p == KW_DMARC_POLICY_UNSET || rec.pct < 0 || rec.pct > 100 ||
            (rec.adkim != 'r' && rec.adkim != 's') ||
            (rec.aspf != 'r' && rec.aspf != 's') ||
            !memchr(rec.rf, '\0', sizeof(rec.rf)) ||
            !kw_dmarc_record_is_dmarc(txt, size))
            __builtin_trap();
        check_uris(rec.rua, rec.n_rua);
        check_uris(rec.ruf, rec.n_ruf);
        fuzz_dkim_check_warnings(rec.warn, rec.n_warn);
    } else {
        fuzz_dkim_check_failure(r, &d);
    }
    org_domain(data, size);
    return 0;
}
