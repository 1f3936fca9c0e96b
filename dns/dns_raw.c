/* dns_raw.c: one question, the answer as received (see dns_raw.h). */
#include "dns_raw.h"

#include <stdio.h>
#include <stdlib.h>

#include <ldns/ldns.h>

#include "dns_net.h"

int kw_dns_ask_wire(const kw_dns_server *server, const char *name,
                    int type, int flags, int timeout_ms, uint8_t **wire,
                    size_t *len, kw_diag *d)
{
    ldns_rdf *qname;
    ldns_pkt *q, *p = NULL;
    kw_diag sub = {{0}};
    char who[96];
    int rc;

    *wire = NULL;
    *len = 0;
    if (server == NULL || name == NULL || timeout_ms <= 0)
        return kw_diag_set(d, KW_EINVAL, "kw_dns_ask_wire: bad arguments");
    dnsn_server_str(server, who, sizeof(who));
    qname = ldns_dname_new_frm_str(name);
    if (qname == NULL)
        return kw_diag_set(d, KW_EINVAL, "%s: not a DNS name", name);
    q = ldns_pkt_query_new(qname, (ldns_rr_type)type, LDNS_RR_CLASS_IN,
                           (flags & KW_DNS_Q_RD) ? LDNS_RD : 0);
    if (q == NULL) {
        ldns_rdf_deep_free(qname);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    ldns_pkt_set_id(q, dnsn_random_id());
    ldns_pkt_set_edns_udp_size(q, DNSN_EDNS_SIZE);
    if (flags & KW_DNS_Q_DO)
        ldns_pkt_set_edns_do(q, 1);
    if (flags & KW_DNS_Q_CD)
        ldns_pkt_set_cd(q, 1);
    rc = dnsn_send(server, q, dnsn_now_ms() + timeout_ms, &p, wire, len,
                   &sub);
    ldns_pkt_free(q);
    ldns_pkt_free(p);
    if (rc != 0) {
        char tname[32];
        ldns_rr_type t = (ldns_rr_type)type;
        const ldns_rr_descriptor *desc = ldns_rr_descript(t);

        snprintf(tname, sizeof(tname), "%s",
                 desc != NULL && desc->_name != NULL ? desc->_name : "TYPE");
        return kw_diag_set(d, rc, "%s %s asked of %s: %s", name, tname, who,
                           sub.msg);
    }
    return 0;
}
