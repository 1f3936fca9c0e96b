/* fakedns.c: see fakedns.h. */
#include "fakedns.h"

#include <string.h>
#include <strings.h>

int fake_dns(void *ctx, const char *name, kw_dns_rrtype type,
             kw_dns_rrset *out, kw_diag *d)
{
    const fake_rr *z;
    int exists = 0;

    kw_dns_rrset_clear(out);
    for (z = ctx; z->name != NULL; z++) {
        if (strcasecmp(z->name, name) != 0)
            continue;
        exists = 1;
        if (z->type != type)
            continue;
        if (z->rc != 0)
            return kw_diag_set(d, z->rc, "%s %s at 127.0.0.1:53: timed out",
                               name, kw_dns_rrtype_name(type));
        if (z->data != NULL)
            kw_dns_rrset_add(out, z->data, strlen(z->data));
    }
    return exists ? 0 : kw_diag_set(d, KW_ENOTFOUND, "%s %s: NXDOMAIN",
                                    name, kw_dns_rrtype_name(type));
}
