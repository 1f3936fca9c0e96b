/* fakedns.h: a kw_dns_lookup over a table, for the SPF and DMARC unit
 * tests: (name, type, rc, one record) rows, ended by a NULL name. */
#ifndef KW_TEST_FAKEDNS_H
#define KW_TEST_FAKEDNS_H

#include "dns/dns_lookup.h"

typedef struct fake_rr {
    const char *name;
    kw_dns_rrtype type;
    int rc;                 /* non-zero: the lookup fails with this */
    const char *data;
} fake_rr;

/* ctx is the table.  A name in the table exists (NOERROR, maybe no data
 * of the type asked); any other is NXDOMAIN (KW_ENOTFOUND). */
int fake_dns(void *ctx, const char *name, kw_dns_rrtype type,
             kw_dns_rrset *out, kw_diag *d);

#endif
