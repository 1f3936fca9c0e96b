/*
 * dns_update.c: RFC 2136 TXT updates with TSIG, and the checks every
 * dns function makes of its input.
 */
#include "dns_update.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dns_net.h"

/* RFC 8945 recommends 300 s of clock skew. */
#define TSIG_FUDGE 300

/* ----- input checks ----- */

int kw_dns_name_check(const char *name, kw_diag *d)
{
    size_t len, label = 0, i;

    if (name == NULL || name[0] == '\0')
        return kw_diag_set(d, KW_EINVAL, "empty DNS name");
    len = strnlen(name, 256);
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0)
        return kw_diag_set(d, KW_EINVAL, "\"%s\": the root is not a name "
                           "we can work on", name);
    if (len > 253)
        return kw_diag_set(d, KW_EINVAL, "DNS name longer than 253 octets: "
                           "%.40s...", name);
    if (name[len] != '\0' && !(name[len] == '.' && name[len + 1] == '\0'))
        return kw_diag_set(d, KW_EINVAL, "DNS name longer than 253 octets: "
                           "%.40s...", name);
    for (i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (i == len || c == '.') {
            if (label == 0)
                return kw_diag_set(d, KW_EINVAL, "%.253s: empty label",
                                   name);
            if (name[i - 1] == '-')
                return kw_diag_set(d, KW_EINVAL, "%.253s: a label ends with "
                                   "'-'", name);
            label = 0;
            continue;
        }
        if (!(isalnum(c) || c == '-' || c == '_'))
            return kw_diag_set(d, KW_EINVAL, "%.253s: character 0x%02x at "
                               "offset %zu is not allowed in a host name "
                               "(letters, digits, '-', '_'; convert IDNs to "
                               "xn-- first)", name, c, i);
        if (c == '-' && label == 0)
            return kw_diag_set(d, KW_EINVAL, "%.253s: a label starts with "
                               "'-'", name);
        if (++label > 63)
            return kw_diag_set(d, KW_EINVAL, "%.253s: a label is longer "
                               "than 63 octets", name);
    }
    return 0;
}

/* Is name equal to zone or below it?  Both checked, either may end in a
 * dot. */
static int name_in_zone(const char *name, const char *zone)
{
    size_t n = strlen(name), z = strlen(zone);

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (z > 0 && zone[z - 1] == '.')
        z--;
    if (n < z || strncasecmp(name + n - z, zone, z) != 0)
        return 0;
    return n == z || name[n - z - 1] == '.';
}

static int value_check(const char *value, kw_diag *d)
{
    size_t i;

    for (i = 0; value[i] != '\0'; i++) {
        unsigned char c = (unsigned char)value[i];

        if (i >= KW_DNS_TXT_MAX)
            return kw_diag_set(d, KW_EINVAL, "TXT value longer than %d "
                               "octets", KW_DNS_TXT_MAX);
        /* Printable ASCII covers dns-01 (base64url) and DKIM records;
         * anything else is more likely a mistake than a wish. */
        if (c < 0x20 || c > 0x7e)
            return kw_diag_set(d, KW_EINVAL, "TXT value: byte 0x%02x at "
                               "offset %zu is not printable ASCII", c, i);
    }
    return 0;
}

static int base64_check(const char *s)
{
    size_t n = strnlen(s, 1025), i, pad = 0;

    if (n == 0 || n > 1024 || n % 4 != 0)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0 || !(isalnum(c) || c == '+' || c == '/'))
            return -1;
    }
    return pad <= 2 && n > pad ? 0 : -1;
}

int kw_dns_tsig_alg(const char *alg, const char **wire, kw_diag *d)
{
    static const struct {
        const char *name, *wire;
    } algs[] = {
        {"hmac-sha256", "hmac-sha256."},
        {"hmac-sha384", "hmac-sha384."},
        {"hmac-sha512", "hmac-sha512."},
    };
    size_t i, n;

    *wire = NULL;
    if (alg == NULL) {
        *wire = algs[0].wire;
        return 0;
    }
    /* MD5 is broken as a hash; it stays possible for old servers, but
     * only when the configuration spells it out. */
    if (strcmp(alg, "hmac-md5") == 0) {
        *wire = "hmac-md5.sig-alg.reg.int.";
        return 0;
    }
    n = strlen(alg);
    if (n > 0 && alg[n - 1] == '.')
        n--;
    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (strlen(algs[i].name) == n && strncasecmp(alg, algs[i].name, n) == 0) {
            *wire = algs[i].wire;
            return 0;
        }
    return kw_diag_set(d, KW_EINVAL, "TSIG algorithm \"%.40s\" is not "
                       "supported (hmac-sha256, hmac-sha384, hmac-sha512, "
                       "or exactly \"hmac-md5\")", alg);
}

const char *kw_dns_rcode_words(int rcode)
{
    switch (rcode) {
    case LDNS_RCODE_NOERROR: return "NOERROR";
    case LDNS_RCODE_FORMERR:
        return "FORMERR (the server could not parse our message)";
    case LDNS_RCODE_SERVFAIL:
        return "SERVFAIL (the server failed; see its log)";
    case LDNS_RCODE_NXDOMAIN: return "NXDOMAIN (no such name)";
    case LDNS_RCODE_NOTIMPL:
        return "NOTIMP (the server does not implement this request)";
    case LDNS_RCODE_REFUSED:
        return "REFUSED (the server refuses updates from us (check its "
               "acl))";
    case LDNS_RCODE_YXDOMAIN:
        return "YXDOMAIN (a name that should not exist exists)";
    case LDNS_RCODE_YXRRSET:
        return "YXRRSET (a record set that should not exist exists)";
    case LDNS_RCODE_NXRRSET:
        return "NXRRSET (a record set that should exist does not)";
    case LDNS_RCODE_NOTAUTH:
        return "NOTAUTH (the TSIG key was not accepted)";
    case LDNS_RCODE_NOTZONE:
        return "NOTZONE (the name is not within the zone)";
    default: return "an unknown rcode";
    }
}

static const char *tsig_error_words(int e)
{
    switch (e) {
    case 16: return "BADSIG: the signature does not verify (wrong secret?)";
    case 17: return "BADKEY: the server knows no key of that name and "
                    "algorithm";
    case 18: return "BADTIME: our clock and the server's differ by more "
                    "than 300 s";
    case 22: return "BADTRUNC: truncated MAC refused";
    default: return "unknown TSIG error";
    }
}

int kw_dns_server_parse(const char *s, int default_port, kw_dns_server *out,
                        kw_diag *d)
{
    char host[sizeof(out->addr)];
    const char *end, *port = NULL;
    unsigned char buf[sizeof(struct in6_addr)];
    size_t hl;

    memset(out, 0, sizeof(*out));
    if (s == NULL || s[0] == '\0')
        return kw_diag_set(d, KW_EINVAL, "empty server address");
    if (s[0] == '[') {
        end = strchr(s, ']');
        if (end == NULL)
            return kw_diag_set(d, KW_EINVAL, "%.80s: missing ']'", s);
        hl = (size_t)(end - s - 1);
        s++;
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != '\0')
            return kw_diag_set(d, KW_EINVAL, "%.80s: junk after ']'", s - 1);
    } else {
        const char *colon = strchr(s, ':');

        hl = strlen(s);
        /* One colon: IPv4 with a port; more: a bare IPv6 address. */
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            hl = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (hl == 0 || hl >= sizeof(host))
        return kw_diag_set(d, KW_EINVAL, "%.80s: not an IP address", s);
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET, host, buf) != 1 &&
        inet_pton(AF_INET6, host, buf) != 1)
        return kw_diag_set(d, KW_EINVAL, "%.80s: not an IPv4 or IPv6 address "
                           "(host names are not resolved here)", host);
    out->port = default_port;
    if (port != NULL) {
        char *e;
        long p = strtol(port, &e, 10);

        if (*port == '\0' || *e != '\0' || p < 1 || p > 65535)
            return kw_diag_set(d, KW_EINVAL, "%.80s: bad port", port);
        out->port = (int)p;
    }
    if (out->port < 1 || out->port > 65535)
        return kw_diag_set(d, KW_EINVAL, "%s: no port", host);
    memcpy(out->addr, host, hl + 1);
    return 0;
}

void kw_dns_server_str(const kw_dns_server *s, char *buf, size_t cap)
{
    dnsn_server_str(s, buf, cap);
}

/* ----- the update ----- */

/* TXT rdata for value: 255-octet character strings, at least one. */
static int push_txt(ldns_rr *rr, const char *value)
{
    size_t len = strlen(value), off = 0;

    do {
        uint8_t chunk[256];
        size_t n = len - off > 255 ? 255 : len - off;
        ldns_rdf *rdf;

        chunk[0] = (uint8_t)n;
        memcpy(chunk + 1, value + off, n);
        rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, n + 1, chunk);
        if (rdf == NULL || !ldns_rr_push_rdf(rr, rdf)) {
            ldns_rdf_deep_free(rdf);
            return KW_ENOMEM;
        }
        off += n;
    } while (off < len);
    return 0;
}

/* 48-bit TSIG time. */
static int64_t tsig_time(const ldns_rdf *r)
{
    const uint8_t *p;
    int64_t t = 0;
    int i;

    if (r == NULL || ldns_rdf_size(r) != 6)
        return -1;
    p = ldns_rdf_data(r);
    for (i = 0; i < 6; i++)
        t = (t << 8) | p[i];
    return t;
}

/*
 * Checks the answer's TSIG.  Returns 0 when it verifies; 1 when the answer
 * carries no MAC (allowed only for errors, RFC 8945 5.3.2); a negative
 * code with why in d otherwise.  *terr gets the TSIG error field.
 */
static int tsig_check(ldns_pkt *reply, const uint8_t *wire, size_t wlen,
                      const kw_dns_tsig *tsig, const char *alg_wire,
                      const ldns_rdf *query_mac, int *terr, kw_diag *d)
{
    ldns_rr *t = ldns_pkt_tsig(reply);
    const ldns_rdf *mac;
    int64_t signed_at, now;

    *terr = 0;
    if (t == NULL)
        return 1;
    if (ldns_rr_rd_count(t) < 7)
        return kw_diag_set(d, KW_EPARSE, "malformed TSIG record in the "
                           "answer");
    *terr = ldns_rdf2native_int16(ldns_rr_rdf(t, 5));
    mac = ldns_rr_rdf(t, 3);
    if (mac == NULL || ldns_rdf_size(mac) <= 2)
        return 1;
    if (!dnsn_dname_is(ldns_rr_owner(t), tsig->name))
        return kw_diag_set(d, KW_ECRYPTO, "the answer is signed with another "
                           "key than ours");
    if (!dnsn_dname_is(ldns_rr_rdf(t, 0), alg_wire))
        return kw_diag_set(d, KW_ECRYPTO, "the answer is signed with another "
                           "TSIG algorithm than ours");
    if (!ldns_pkt_tsig_verify(reply, wire, wlen, tsig->name, tsig->secret,
                              query_mac))
        return kw_diag_set(d, KW_ECRYPTO, "the answer's TSIG signature does "
                           "not verify with our key");
    /* ldns checks the MAC only; the time is ours to check (replay). */
    signed_at = tsig_time(ldns_rr_rdf(t, 1));
    now = (int64_t)time(NULL);
    if (signed_at < 0 || signed_at > now + TSIG_FUDGE ||
        signed_at < now - TSIG_FUDGE)
        return kw_diag_set(d, KW_ECRYPTO, "the answer's TSIG time is more "
                           "than %d s away from our clock", TSIG_FUDGE);
    return 0;
}

static int rcode_code(int rcode)
{
    switch (rcode) {
    case LDNS_RCODE_NOTAUTH:
    case LDNS_RCODE_REFUSED: return KW_EACCES;
    case LDNS_RCODE_NOTZONE:
    case LDNS_RCODE_NXDOMAIN: return KW_ENOTFOUND;
    default: return KW_EIO;
    }
}

/* RFC 2136 add or delete of one record of type (TXT: value is the text;
 * TLSA: its presentation rdata) at name; see kw_dns_txt_update. */
static int rr_update(const kw_dns_server *primary, const char *zone,
                     const kw_dns_tsig *tsig, int add, const char *name,
                     int type, const char *value, int ttl, int timeout_ms,
                     kw_diag *d)
{
    char who[96], what[600], words[200] = "";
    const char *alg_wire = NULL;
    ldns_rr_list *up = NULL;
    ldns_rr *rr = NULL;
    ldns_rdf *zone_rdf = NULL, *owner = NULL;
    ldns_pkt *q = NULL, *reply = NULL;
    uint8_t *wire = NULL;
    size_t wlen = 0;
    kw_diag sub;
    int rc, rcode, terr = 0, signed_ok = 0;

    sub.msg[0] = '\0';
    dnsn_server_str(primary, who, sizeof(who));
    if (primary == NULL)
        return kw_diag_set(d, KW_EINVAL, "DNS update: no primary server");
    if ((rc = kw_dns_name_check(zone, &sub)) != 0)
        return kw_diag_set(d, rc, "DNS update at %s: zone: %s", who,
                           sub.msg);
    if ((rc = kw_dns_name_check(name, &sub)) != 0)
        return kw_diag_set(d, rc, "DNS update at %s: name: %s", who,
                           sub.msg);
    snprintf(what, sizeof(what), "%s of %s %s in zone %s at %s",
             add ? "adding" : "deleting",
             type == LDNS_RR_TYPE_TLSA ? "TLSA" : "TXT", name, zone, who);
    if (!name_in_zone(name, zone))
        return kw_diag_set(d, KW_EINVAL, "%s: the name is not in the zone",
                           what);
    if (add && value == NULL)
        return kw_diag_set(d, KW_EINVAL, "%s: no value to add", what);
    if (type == LDNS_RR_TYPE_TXT && value != NULL &&
        (rc = value_check(value, &sub)) != 0)
        return kw_diag_set(d, rc, "%s: %s", what, sub.msg);
    if (type == LDNS_RR_TYPE_TLSA && value == NULL)
        return kw_diag_set(d, KW_EINVAL, "%s: no record", what);
    if (add && ttl < 0)
        return kw_diag_set(d, KW_EINVAL, "%s: negative TTL", what);
    if (timeout_ms <= 0)
        return kw_diag_set(d, KW_EINVAL, "%s: the timeout must be positive",
                           what);
    if (tsig != NULL) {
        if (tsig->name == NULL || kw_dns_name_check(tsig->name, &sub) != 0)
            return kw_diag_set(d, KW_EINVAL, "%s: TSIG key name: %s", what,
                               tsig->name == NULL ? "missing" : sub.msg);
        if ((rc = kw_dns_tsig_alg(tsig->alg, &alg_wire, &sub)) != 0)
            return kw_diag_set(d, rc, "%s: %s", what, sub.msg);
        if (tsig->secret == NULL || base64_check(tsig->secret) != 0)
            return kw_diag_set(d, KW_EINVAL, "%s: the secret of TSIG key %s "
                               "is not base64", what, tsig->name);
    }

    rc = KW_ENOMEM;
    zone_rdf = ldns_dname_new_frm_str(zone);
    owner = ldns_dname_new_frm_str(name);
    up = ldns_rr_list_new();
    if (type == LDNS_RR_TYPE_TLSA) {
        if (dnsn_tlsa_rr(name, value, &rr) != 0) {
            rc = kw_diag_set(d, KW_EINVAL, "%s: \"%s\" is not TLSA data "
                             "(usage selector type hex)", what, value);
            goto out;
        }
    } else {
        rr = ldns_rr_new();
    }
    if (zone_rdf == NULL || owner == NULL || up == NULL || rr == NULL)
        goto nomem;
    if (type == LDNS_RR_TYPE_TXT) {
        ldns_rr_set_owner(rr, owner);
        owner = NULL;
        ldns_rr_set_type(rr, LDNS_RR_TYPE_TXT);
    }
    /* RFC 2136 2.5: add in the zone's class; delete one RR with class
     * NONE; delete an RRset with class ANY and no rdata; TTL 0 for both
     * deletes. */
    if (add) {
        ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
        ldns_rr_set_ttl(rr, (uint32_t)ttl);
    } else {
        ldns_rr_set_class(rr, value != NULL ? LDNS_RR_CLASS_NONE
                                            : LDNS_RR_CLASS_ANY);
        ldns_rr_set_ttl(rr, 0);
    }
    if (type == LDNS_RR_TYPE_TXT && value != NULL && push_txt(rr, value) != 0)
        goto nomem;
    if (!ldns_rr_list_push_rr(up, rr))
        goto nomem;
    rr = NULL;
    q = ldns_update_pkt_new(zone_rdf, LDNS_RR_CLASS_IN, NULL, up, NULL);
    if (q == NULL)
        goto nomem;
    zone_rdf = NULL;  /* the packet owns it */
    ldns_pkt_set_rd(q, false);
    ldns_pkt_set_id(q, dnsn_random_id());
    if (tsig != NULL &&
        ldns_pkt_tsig_sign(q, tsig->name, tsig->secret, TSIG_FUDGE, alg_wire,
                           NULL) != LDNS_STATUS_OK) {
        rc = kw_diag_set(d, KW_ECRYPTO, "%s: cannot sign with TSIG key %s "
                         "(%s)", what, tsig->name, alg_wire);
        goto out;
    }

    rc = dnsn_send(primary, q, dnsn_now_ms() + timeout_ms, &reply,
                   tsig != NULL ? &wire : NULL, &wlen, &sub);
    if (rc != 0) {
        size_t wl = strlen(who);
        const char *m = sub.msg;

        /* The transport names the server too: say it once. */
        if (strncmp(m, who, wl) == 0 && m[wl] == ':' && m[wl + 1] == ' ')
            m += wl + 2;
        kw_diag_set(d, rc, "%s: %s", what, m);
        goto out;
    }
    rcode = ldns_pkt_get_rcode(reply);
    if (ldns_pkt_get_opcode(reply) != LDNS_PACKET_UPDATE) {
        rc = kw_diag_set(d, KW_EPARSE, "%s: the answer is not to an update",
                         what);
        goto out;
    }
    if (tsig != NULL) {
        int v = tsig_check(reply, wire, wlen, tsig, alg_wire,
                           ldns_rr_rdf(ldns_pkt_tsig(q), 3), &terr, &sub);

        signed_ok = v == 0;
        if (v < 0 && rcode == LDNS_RCODE_NOERROR) {
            rc = kw_diag_set(d, v, "%s: NOERROR, but %s: not trusting it",
                             what, sub.msg);
            goto out;
        }
        if (v == 1 && rcode == LDNS_RCODE_NOERROR) {
            rc = kw_diag_set(d, KW_ECRYPTO, "%s: NOERROR, but the answer is "
                             "not signed: not trusting it", what);
            goto out;
        }
    }
    if (rcode == LDNS_RCODE_NOERROR) {
        rc = 0;
        goto out;
    }

    /* NOTAUTH means "not authoritative" in RFC 2136 and "bad key" in
     * RFC 8945; the TSIG error field tells which, when there is one.
     * Knot answers NOTAUTH where BIND says REFUSED for an acl denial. */
    if (rcode == LDNS_RCODE_NOTAUTH && tsig == NULL)
        snprintf(words, sizeof(words), "NOTAUTH (the server wants a TSIG "
                 "key for updates (check its acl), or is not authoritative "
                 "for the zone)");
    else if (rcode == LDNS_RCODE_NOTAUTH && terr == 0)
        snprintf(words, sizeof(words), "NOTAUTH (the TSIG key was not "
                 "accepted, or the server is not authoritative for the "
                 "zone)");
    else
        snprintf(words, sizeof(words), "%s", kw_dns_rcode_words(rcode));
    if (terr != 0)
        rc = kw_diag_set(d, rcode_code(rcode), "%s: %s; TSIG error %d, %s "
                         "(key %s)%s", what, words, terr,
                         tsig_error_words(terr), tsig->name,
                         signed_ok ? "" : " [unsigned answer]");
    else if (tsig != NULL && rcode == LDNS_RCODE_NOTAUTH)
        rc = kw_diag_set(d, rcode_code(rcode), "%s: %s (key %s)%s", what,
                         words, tsig->name,
                         signed_ok ? "" : " [unsigned answer]");
    else
        rc = kw_diag_set(d, rcode_code(rcode), "%s: %s%s", what, words,
                         tsig != NULL && !signed_ok ? " [unsigned answer]"
                                                    : "");
    goto out;

nomem:
    rc = kw_diag_set(d, KW_ENOMEM, "%s: out of memory", what);
out:
    ldns_rr_free(rr);
    ldns_rr_list_deep_free(up);
    ldns_rdf_deep_free(owner);
    ldns_rdf_deep_free(zone_rdf);
    ldns_pkt_free(q);
    ldns_pkt_free(reply);
    free(wire);
    return rc;
}

int kw_dns_txt_update(const kw_dns_server *primary, const char *zone,
                      const kw_dns_tsig *tsig, int add, const char *name,
                      const char *value, int ttl, int timeout_ms,
                      kw_diag *d)
{
    return rr_update(primary, zone, tsig, add, name, LDNS_RR_TYPE_TXT, value,
                     ttl, timeout_ms, d);
}

int kw_dns_tlsa_update(const kw_dns_server *primary, const char *zone,
                       const kw_dns_tsig *tsig, int add, const char *name,
                       const char *rdata, int ttl, int timeout_ms,
                       kw_diag *d)
{
    return rr_update(primary, zone, tsig, add, name, LDNS_RR_TYPE_TLSA,
                     rdata, ttl, timeout_ms, d);
}
