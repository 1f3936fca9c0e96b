/*
 * dns_lookup.c: one question of the configured resolver, answered as
 * text (see dns_lookup.h).
 */
#include "dns_lookup.h"

#include <arpa/inet.h>
#include <string.h>

#include "dns_net.h"

void kw_dns_rrset_clear(kw_dns_rrset *set)
{
    set->n = 0;
    set->used = 0;
    set->truncated = 0;
    set->text[0] = '\0';
}

int kw_dns_rrset_add(kw_dns_rrset *set, const char *s, size_t len)
{
    if (set->n >= KW_DNS_RRSET_MAX ||
        len + 1 > sizeof(set->text) - set->used) {
        set->truncated = 1;
        return -1;
    }
    memcpy(set->text + set->used, s, len);
    set->text[set->used + len] = '\0';
    set->off[set->n] = set->used;
    set->len[set->n] = len;
    set->used += len + 1;
    set->n++;
    return 0;
}

const char *kw_dns_rrset_rec(const kw_dns_rrset *set, size_t i)
{
    return i < set->n ? set->text + set->off[i] : "";
}

const char *kw_dns_rrtype_name(kw_dns_rrtype type)
{
    switch (type) {
    case KW_DNS_TXT: return "TXT";
    case KW_DNS_A: return "A";
    case KW_DNS_AAAA: return "AAAA";
    case KW_DNS_MX: return "MX";
    case KW_DNS_PTR: return "PTR";
    }
    return "?";
}

static ldns_rr_type ldns_type(kw_dns_rrtype type)
{
    switch (type) {
    case KW_DNS_TXT: return LDNS_RR_TYPE_TXT;
    case KW_DNS_A: return LDNS_RR_TYPE_A;
    case KW_DNS_AAAA: return LDNS_RR_TYPE_AAAA;
    case KW_DNS_MX: return LDNS_RR_TYPE_MX;
    case KW_DNS_PTR: return LDNS_RR_TYPE_PTR;
    }
    return LDNS_RR_TYPE_A;
}

/* One answer record of the asked type into set, as dns_lookup.h says. */
static void take(const ldns_rr *rr, kw_dns_rrtype type, kw_dns_rrset *set)
{
    char buf[KW_DNS_TXT_MAX + 1];
    size_t i, o = 0;

    switch (type) {
    case KW_DNS_TXT:
        /* A TXT record longer than any SPF record we accept is kept
         * truncated to that size; the parser then reports it too long. */
        for (i = 0; i < ldns_rr_rd_count(rr); i++) {
            const ldns_rdf *r = ldns_rr_rdf(rr, i);
            const uint8_t *p = ldns_rdf_data(r);
            size_t sz = ldns_rdf_size(r), k;

            if (sz == 0 || (size_t)p[0] + 1 != sz)
                return;
            for (k = 1; k < sz && o < sizeof(buf) - 1; k++)
                buf[o++] = (char)p[k];
        }
        kw_dns_rrset_add(set, buf, o);
        return;
    case KW_DNS_A:
    case KW_DNS_AAAA: {
        const ldns_rdf *r = ldns_rr_rdf(rr, 0);
        int v6 = type == KW_DNS_AAAA;

        if (r == NULL || ldns_rdf_size(r) != (v6 ? 16u : 4u) ||
            inet_ntop(v6 ? AF_INET6 : AF_INET, ldns_rdf_data(r), buf,
                      sizeof(buf)) == NULL)
            return;
        kw_dns_rrset_add(set, buf, strlen(buf));
        return;
    }
    case KW_DNS_MX:
    case KW_DNS_PTR: {
        const ldns_rdf *r = ldns_rr_rdf(rr, type == KW_DNS_MX ? 1 : 0);

        if (r == NULL || ldns_rdf_get_type(r) != LDNS_RDF_TYPE_DNAME)
            return;
        dnsn_dname_text(r, buf, 256);
        kw_dns_rrset_add(set, buf, strlen(buf));
        return;
    }
    }
}

int kw_dns_lookup_server(void *ctx, const char *name, kw_dns_rrtype type,
                         kw_dns_rrset *out, kw_diag *d)
{
    const kw_dns_lookup_ctx *c = ctx;
    const char *tname = kw_dns_rrtype_name(type);
    char who[96], rbuf[16];
    ldns_pkt *p = NULL;
    const ldns_rr_list *ans;
    kw_diag sub;
    size_t i;
    int rc, rcode, timeout;

    sub.msg[0] = '\0';
    kw_dns_rrset_clear(out);
    if (c == NULL || name == NULL)
        return kw_diag_set(d, KW_EINVAL, "DNS lookup: missing argument");
    dnsn_server_str(&c->server, who, sizeof(who));
    /* A name SPF macros built that DNS cannot hold does not exist: the
     * same answer a resolver would give, without asking. */
    if (kw_dns_name_check(name, &sub) != 0)
        return kw_diag_set(d, KW_ENOTFOUND, "%.253s %s: %s", name, tname,
                           sub.msg);
    timeout = c->timeout_ms > 0 ? c->timeout_ms : 5000;
    rc = dnsn_query(&c->server, name, ldns_type(type), 1,
                    dnsn_now_ms() + timeout, &p, &sub);
    if (rc != 0)
        return kw_diag_set(d, rc, "%s %s at %s: %s", name, tname, who,
                           sub.msg);
    rcode = ldns_pkt_get_rcode(p);
    if (rcode == LDNS_RCODE_NXDOMAIN) {
        rc = kw_diag_set(d, KW_ENOTFOUND, "%s %s at %s: NXDOMAIN", name,
                         tname, who);
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

        if (ldns_rr_get_type(rr) == ldns_type(type))
            take(rr, type, out);
    }
    rc = 0;
out:
    ldns_pkt_free(p);
    return rc;
}
