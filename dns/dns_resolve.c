/*
 * dns_resolve.c: A/AAAA lookups through one recursive resolver (see
 * dns_resolve.h).
 */
#include "dns_resolve.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_net.h"
#include "../common/kw_fs.h"

int kw_dns_resolve(const kw_dns_server *server, const char *name,
                   int want_aaaa, kw_dns_addr *addrs, size_t max, size_t *n,
                   int timeout_ms, kw_diag *d)
{
    ldns_rr_type type = want_aaaa ? LDNS_RR_TYPE_AAAA : LDNS_RR_TYPE_A;
    const char *tname = want_aaaa ? "AAAA" : "A";
    char who[96], rbuf[16];
    ldns_pkt *p = NULL;
    const ldns_rr_list *ans;
    kw_diag sub;
    size_t i, j;
    int rc, rcode;

    sub.msg[0] = '\0';
    if (n != NULL)
        *n = 0;
    if (server == NULL || name == NULL || addrs == NULL || n == NULL ||
        max == 0 || timeout_ms <= 0)
        return kw_diag_set(d, KW_EINVAL, "resolve: missing argument");
    if ((rc = kw_dns_name_check(name, &sub)) != 0)
        return kw_diag_set(d, rc, "%s", sub.msg);
    dnsn_server_str(server, who, sizeof(who));
    rc = dnsn_query(server, name, type, 1, dnsn_now_ms() + timeout_ms, &p,
                    &sub);
    if (rc != 0)
        return kw_diag_set(d, rc, "%s %s: %s", name, tname, sub.msg);
    rcode = ldns_pkt_get_rcode(p);
    if (rcode == LDNS_RCODE_NXDOMAIN) {
        rc = kw_diag_set(d, KW_ENOTFOUND, "%s %s at %s: NXDOMAIN (no such "
                         "name)", name, tname, who);
        goto out;
    }
    if (rcode != LDNS_RCODE_NOERROR) {
        rc = kw_diag_set(d, KW_EIO, "%s %s at %s: %s", name, tname, who,
                         dnsn_rcode_name(rcode, rbuf));
        goto out;
    }
    ans = ldns_pkt_answer(p);
    for (i = 0; i < ldns_rr_list_rr_count(ans); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ans, i);
        const ldns_rdf *r = ldns_rr_rdf(rr, 0);
        char a[sizeof(addrs[0].a)];
        int dup = 0;

        if (ldns_rr_get_type(rr) != type || r == NULL ||
            ldns_rdf_size(r) != (want_aaaa ? 16u : 4u))
            continue;
        if (inet_ntop(want_aaaa ? AF_INET6 : AF_INET, ldns_rdf_data(r), a,
                      sizeof(a)) == NULL)
            continue;
        for (j = 0; j < *n; j++)
            if (strcmp(addrs[j].a, a) == 0)
                dup = 1;
        if (dup || *n >= max)
            continue;
        memcpy(addrs[*n].a, a, strlen(a) + 1);
        (*n)++;
    }
    rc = 0;
out:
    ldns_pkt_free(p);
    return rc;
}

int kw_dns_system_resolver(const char *resolv_conf, kw_dns_server *out,
                           kw_diag *d)
{
    const char *path = resolv_conf != NULL ? resolv_conf
                                           : "/etc/resolv.conf";
    unsigned char *text;
    char *line, *save = NULL;
    size_t len;
    int rc = KW_ENOTFOUND;

    memset(out, 0, sizeof(*out));
    if ((rc = kw_fs_read_regular(path, 1024 * 1024, &text, &len, d)) != 0)
        return rc;
    rc = KW_ENOTFOUND;
    for (line = strtok_r((char *)text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char addr[128];

        if (sscanf(line, " nameserver %127s", addr) != 1)
            continue;
        /* A scoped IPv6 address (fe80::1%eth0) is not ours to dial. */
        if (strchr(addr, '%') != NULL)
            continue;
        if (kw_dns_server_parse(addr, 53, out, NULL) == 0) {
            rc = 0;
            break;
        }
    }
    free(text);
    if (rc != 0)
        return kw_diag_set(d, rc, "%s names no usable nameserver", path);
    return 0;
}
