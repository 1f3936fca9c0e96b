/*
 * dns_resolve.c: A/AAAA lookups through one recursive resolver (see
 * dns_resolve.h).
 */
#include "dns_resolve.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_lookup.h"
#include "../common/kw_fs.h"

int kw_dns_resolve(const kw_dns_server *server, const char *name,
                   int want_aaaa, kw_dns_addr *addrs, size_t max, size_t *n,
                   int timeout_ms, kw_diag *d)
{
    kw_dns_lookup_ctx ctx;
    kw_dns_rrset *set;
    kw_diag sub;
    size_t i, j;
    int rc;

    sub.msg[0] = '\0';
    if (n != NULL)
        *n = 0;
    if (server == NULL || name == NULL || addrs == NULL || n == NULL ||
        max == 0 || timeout_ms <= 0)
        return kw_diag_set(d, KW_EINVAL, "resolve: missing argument");
    /* A bad name is the caller's mistake here, not a missing name. */
    if ((rc = kw_dns_name_check(name, &sub)) != 0)
        return kw_diag_set(d, rc, "%s", sub.msg);
    memset(&ctx, 0, sizeof(ctx));
    ctx.server = *server;
    ctx.timeout_ms = timeout_ms;
    if ((set = malloc(sizeof(*set))) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    rc = kw_dns_lookup_server(&ctx, name, want_aaaa ? KW_DNS_AAAA : KW_DNS_A,
                              set, d);
    for (i = 0; rc == 0 && i < set->n; i++) {
        const char *a = kw_dns_rrset_rec(set, i);
        int dup = 0;

        for (j = 0; j < *n; j++)
            if (strcmp(addrs[j].a, a) == 0)
                dup = 1;
        if (dup || *n >= max || set->len[i] >= sizeof(addrs[0].a))
            continue;
        memcpy(addrs[*n].a, a, set->len[i] + 1);
        (*n)++;
    }
    free(set);
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
