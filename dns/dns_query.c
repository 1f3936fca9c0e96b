/*
 * dns_query.c: questions to a zone's servers: which they are, whether
 * they all serve a TXT value yet, and which zone holds a name.
 */
#include "dns_update.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/kw_str.h"
#include "dns_net.h"

/* No single query in a polling round may eat the whole budget: a dead
 * server must not stop the others from being asked again. */
#define QUERY_SLICE_MS 2000
/* NS names per zone we look at; real zones have 2 to 13.  A set larger
 * than this fails the call rather than leaving servers unasked. */
#define NS_MAX 32

static size_t name_len(const char *name)
{
    size_t n = strlen(name);

    return n > 0 && name[n - 1] == '.' ? n - 1 : n;
}

/* An A or AAAA rdata as text; 0 or -1. */
static int addr_text(const ldns_rr *rr, char *buf, size_t cap)
{
    const ldns_rdf *r = ldns_rr_rdf(rr, 0);

    if (r == NULL)
        return -1;
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A && ldns_rdf_size(r) == 4)
        return inet_ntop(AF_INET, ldns_rdf_data(r), buf, (socklen_t)cap)
                   ? 0 : -1;
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA && ldns_rdf_size(r) == 16)
        return inet_ntop(AF_INET6, ldns_rdf_data(r), buf, (socklen_t)cap)
                   ? 0 : -1;
    return -1;
}

/* Adds the A/AAAA records for ns found in list to out (de-duplicated);
 * returns how many addresses were seen for ns.  The addresses that did
 * not fit in max are counted in *over. */
static size_t take_addrs(const ldns_rr_list *list, const char *ns, int port,
                         kw_dns_server *out, size_t max, size_t *n,
                         size_t *over)
{
    size_t i, j, seen = 0;

    for (i = 0; i < ldns_rr_list_rr_count(list); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(list, i);
        char a[64];
        int dup = 0;

        if (!dnsn_dname_is(ldns_rr_owner(rr), ns) ||
            addr_text(rr, a, sizeof(a)) != 0)
            continue;
        seen++;
        for (j = 0; j < *n; j++)
            if (strcmp(out[j].addr, a) == 0 && out[j].port == port)
                dup = 1;
        if (dup)
            continue;
        if (*n >= max) {
            (*over)++;
            continue;
        }
        memset(&out[*n], 0, sizeof(out[*n]));
        memcpy(out[*n].addr, a, strlen(a) + 1);
        out[*n].port = port;
        (*n)++;
    }
    return seen;
}

int kw_dns_zone_servers(const kw_dns_server *server, const char *zone,
                        int port, kw_dns_server *out, size_t max, size_t *n,
                        int timeout_ms, kw_diag *d)
{
    char who[96], ns[NS_MAX][256], missing[300] = "", rbuf[16];
    ldns_pkt *p = NULL;
    size_t nns = 0, nall = 0, over = 0, i, mpos = 0;
    int64_t deadline;
    kw_diag sub;
    int rc, pass;

    sub.msg[0] = '\0';
    if (n != NULL)
        *n = 0;
    dnsn_server_str(server, who, sizeof(who));
    if (server == NULL || out == NULL || n == NULL || max == 0)
        return kw_diag_set(d, KW_EINVAL, "zone servers: missing argument");
    if ((rc = kw_dns_name_check(zone, &sub)) != 0)
        return kw_diag_set(d, rc, "servers of zone at %s: %s", who, sub.msg);
    if (port == 0)
        port = 53;
    if (port < 1 || port > 65535 || timeout_ms <= 0)
        return kw_diag_set(d, KW_EINVAL, "servers of zone %s: bad port or "
                           "timeout", zone);
    deadline = dnsn_now_ms() + timeout_ms;

    rc = dnsn_query(server, zone, LDNS_RR_TYPE_NS, 1, deadline, &p, &sub);
    if (rc != 0)
        return kw_diag_set(d, rc, "NS of zone %s: %s", zone, sub.msg);
    if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR) {
        rc = kw_diag_set(d, ldns_pkt_get_rcode(p) == LDNS_RCODE_NXDOMAIN
                                ? KW_ENOTFOUND : KW_EIO,
                         "NS of zone %s at %s: %s", zone, who,
                         dnsn_rcode_name(ldns_pkt_get_rcode(p), rbuf));
        goto out;
    }
    /* The zone's own NS set (answer), or the delegation from its parent
     * (authority), whichever the server has. */
    for (pass = 0; pass < 2 && nns == 0; pass++) {
        const ldns_rr_list *l = pass == 0 ? ldns_pkt_answer(p)
                                          : ldns_pkt_authority(p);

        for (i = 0; i < ldns_rr_list_rr_count(l); i++) {
            const ldns_rr *rr = ldns_rr_list_rr(l, i);

            if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS ||
                !dnsn_dname_is(ldns_rr_owner(rr), zone))
                continue;
            /* Counted past the bound, so the error can say how many. */
            if (++nall > NS_MAX)
                continue;
            dnsn_dname_text(ldns_rr_ns_nsdname(rr), ns[nns], sizeof(ns[0]));
            if (kw_dns_name_check(ns[nns], NULL) == 0)
                nns++;
        }
    }
    if (nns == 0) {
        rc = kw_diag_set(d, KW_ENOTFOUND, "zone %s: %s gives no NS records "
                         "for it (is it a zone?)", zone, who);
        goto out;
    }

    for (i = 0; i < nns; i++) {
        size_t seen = take_addrs(ldns_pkt_additional(p), ns[i], port, out,
                                 max, n, &over);
        int t;

        /* No glue: ask for the addresses (RD set, so a resolver will go
         * and find names outside its caches). */
        for (t = 0; t < 2 && seen == 0; t++) {
            ldns_rr_type type = t == 0 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA;
            ldns_pkt *a = NULL;

            rc = dnsn_query(server, ns[i], type, 1, deadline, &a, &sub);
            if (rc != 0) {
                rc = kw_diag_set(d, rc, "address of %s (NS of %s): %s",
                                 ns[i], zone, sub.msg);
                goto out;
            }
            seen += take_addrs(ldns_pkt_answer(a), ns[i], port, out, max, n,
                               &over);
            if (seen == 0 && t == 1)
                kw_str_appendf(missing, sizeof(missing), &mpos, "%s%s (%s)",
                               mpos ? ", " : "", ns[i],
                               dnsn_rcode_name(ldns_pkt_get_rcode(a), rbuf));
            ldns_pkt_free(a);
        }
    }
    if (mpos > 0) {
        rc = kw_diag_set(d, KW_ENOTFOUND, "zone %s: %s has no address for "
                         "the name servers %s; when they lie outside the "
                         "zone, ask a recursive resolver", zone, who,
                         missing);
        goto out;
    }
    /* A check that asks only some of the servers must not pass for one
     * that asked them all. */
    if (nall > NS_MAX) {
        rc = kw_diag_set(d, KW_ETOOBIG, "zone %s has %zu NS names; only the "
                         "first %d were looked up, so the others' servers "
                         "would never be asked", zone, nall, NS_MAX);
        goto out;
    }
    if (over > 0) {
        rc = kw_diag_set(d, KW_ETOOBIG, "zone %s: its name servers have "
                         "%zu addresses; only %zu can be asked, so the "
                         "others were left out", zone, *n + over, max);
        goto out;
    }
    rc = 0;
out:
    ldns_pkt_free(p);
    return rc;
}

/* An answer that says nothing about the name: an rcode other than
 * NOERROR and NXDOMAIN, or no authority.  1 then, with why in status. */
static int not_authoritative(const ldns_pkt *p, char *status, size_t cap)
{
    int rcode = ldns_pkt_get_rcode(p);
    char rbuf[16];

    if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
        snprintf(status, cap, "answered %s%s", dnsn_rcode_name(rcode, rbuf),
                 rcode == LDNS_RCODE_REFUSED ? " (does it serve the zone?)"
                                             : "");
        return 1;
    }
    if (!ldns_pkt_aa(p)) {
        snprintf(status, cap, "answered without authority (AA=0: does it "
                 "serve the zone?)");
        return 1;
    }
    return 0;
}

/* One server's answer for name TXT: 1 when it is what we wait for,
 * 0 when not (what it said in status). */
static int judge(const ldns_pkt *p, const char *name, const char *value,
                 char *status, size_t cap)
{
    char *txt = NULL, show[200];
    size_t i, ntxt = 0, len = 0;
    int rcode = ldns_pkt_get_rcode(p), found = 0;
    const ldns_rr_list *ans = ldns_pkt_answer(p);

    if (not_authoritative(p, status, cap))
        return 0;
    if (rcode == LDNS_RCODE_NXDOMAIN) {
        snprintf(status, cap, "answered NXDOMAIN");
        return value == NULL;
    }
    txt = malloc(DNSN_MSG_MAX);
    if (txt == NULL) {
        snprintf(status, cap, "out of memory");
        return 0;
    }
    show[0] = '\0';
    for (i = 0; i < ldns_rr_list_rr_count(ans); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ans, i);

        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME &&
            dnsn_dname_is(ldns_rr_owner(rr), name)) {
            char target[256];

            dnsn_dname_text(ldns_rr_rdf(rr, 0), target, sizeof(target));
            snprintf(show, sizeof(show), "a CNAME to %.150s", target);
            continue;
        }
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT ||
            !dnsn_dname_is(ldns_rr_owner(rr), name))
            continue;
        ntxt++;
        if (dnsn_txt_join(rr, txt, DNSN_MSG_MAX, &len) != 0)
            continue;
        if (value != NULL && len == strlen(value) &&
            memcmp(txt, value, len) == 0)
            found = 1;
        if (ntxt == 1) {
            char s[180];

            dnsn_shown(txt, len, s, sizeof(s));
            snprintf(show, sizeof(show), "TXT \"%s\"", s);
        }
    }
    free(txt);
    if (value == NULL) {
        if (ntxt == 0) {
            snprintf(status, cap, "has no TXT");
            return 1;
        }
    } else if (found) {
        snprintf(status, cap, "serves it");
        return 1;
    }
    if (ntxt == 0)
        snprintf(status, cap, "answered %s", show[0] ? show : "no TXT");
    else if (ntxt == 1)
        snprintf(status, cap, "answered %s", show);
    else
        snprintf(status, cap, "answered %zu TXT records, e.g. %s", ntxt,
                 show);
    return 0;
}

/* One non-recursive question of a look: 0 with the answer in *p, or a
 * KW_E* with what went wrong in status. */
static int look_once(const kw_dns_server *server, const char *name,
                     int type, int timeout_ms, ldns_pkt **p, char *status,
                     size_t cap)
{
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    if (server == NULL || name == NULL || timeout_ms <= 0) {
        snprintf(status, cap, "not asked: bad arguments");
        return KW_EINVAL;
    }
    rc = dnsn_query(server, name, (ldns_rr_type)type, 0,
                    dnsn_now_ms() + timeout_ms, p, &sub);
    if (rc == KW_ETIMEDOUT)
        snprintf(status, cap, "did not answer");
    else if (rc == -ECONNREFUSED)
        snprintf(status, cap, "refused (nothing listens)");
    else if (rc != 0)
        snprintf(status, cap, "failed: %.140s", sub.msg);
    return rc;
}

int kw_dns_judge_txt_wire(const uint8_t *wire, size_t len, const char *name,
                          const char *value, char *status, size_t cap)
{
    ldns_pkt *p = NULL;
    int r;

    if (ldns_wire2pkt(&p, wire, len) != LDNS_STATUS_OK || p == NULL) {
        snprintf(status, cap, "not a DNS message");
        return -1;
    }
    r = judge(p, name, value, status, cap);
    ldns_pkt_free(p);
    return r;
}

int kw_dns_txt_look(const kw_dns_server *server, const char *name,
                    const char *value, int timeout_ms, char *status,
                    size_t cap)
{
    ldns_pkt *p = NULL;
    int rc = look_once(server, name, LDNS_RR_TYPE_TXT, timeout_ms, &p,
                       status, cap);

    if (rc == 0)
        rc = judge(p, name, value, status, cap);
    ldns_pkt_free(p);
    return rc;
}

/* One server's answer for name CNAME: 1 a CNAME to target (any case, with
 * or without the final dot), 0 not (what it said in status). */
static int judge_cname(const ldns_pkt *p, const char *name,
                       const char *target, char *status, size_t cap)
{
    const ldns_rr_list *ans = ldns_pkt_answer(p);
    int rcode = ldns_pkt_get_rcode(p);
    char got[256];
    size_t i;

    if (not_authoritative(p, status, cap))
        return 0;
    if (rcode == LDNS_RCODE_NXDOMAIN) {
        snprintf(status, cap, "answered NXDOMAIN (no CNAME)");
        return 0;
    }
    for (i = 0; i < ldns_rr_list_rr_count(ans); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ans, i);

        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_CNAME ||
            !dnsn_dname_is(ldns_rr_owner(rr), name))
            continue;
        if (dnsn_dname_is(ldns_rr_rdf(rr, 0), target)) {
            snprintf(status, cap, "serves it");
            return 1;
        }
        dnsn_dname_text(ldns_rr_rdf(rr, 0), got, sizeof(got));
        snprintf(status, cap, "answered a CNAME to %.150s", got);
        return 0;
    }
    snprintf(status, cap, "answered no CNAME");
    return 0;
}

int kw_dns_cname_look(const kw_dns_server *server, const char *name,
                      const char *target, int timeout_ms, char *status,
                      size_t cap)
{
    ldns_pkt *p = NULL;
    int rc = target == NULL ? KW_EINVAL
                            : look_once(server, name, LDNS_RR_TYPE_CNAME,
                                        timeout_ms, &p, status, cap);

    if (target == NULL)
        snprintf(status, cap, "not asked: bad arguments");
    if (rc == 0)
        rc = judge_cname(p, name, target, status, cap);
    ldns_pkt_free(p);
    return rc;
}

/* One server's answer for name TLSA: 1 when rdata is among the records
 * (present) or not (!present), 0 otherwise (what it said in status). */
static int judge_tlsa(const ldns_pkt *p, const char *name, const ldns_rr *want,
                      int present, char *status, size_t cap)
{
    const ldns_rr_list *ans = ldns_pkt_answer(p);
    size_t i, n = 0;
    int found = 0;

    if (not_authoritative(p, status, cap))
        return 0;
    for (i = 0; i < ldns_rr_list_rr_count(ans); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ans, i);
        size_t k;
        int same = 1;

        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TLSA ||
            !dnsn_dname_is(ldns_rr_owner(rr), name) ||
            ldns_rr_rd_count(rr) != ldns_rr_rd_count(want))
            continue;
        n++;
        for (k = 0; k < ldns_rr_rd_count(rr) && same; k++)
            same = ldns_rdf_compare(ldns_rr_rdf(rr, k),
                                    ldns_rr_rdf(want, k)) == 0;
        found |= same;
    }
    if (found == present) {
        snprintf(status, cap, present ? "serves it" : "does not serve it");
        return 1;
    }
    if (present)
        snprintf(status, cap, "answered %zu TLSA record(s), not this one", n);
    else
        snprintf(status, cap, "still serves it");
    return 0;
}

int kw_dns_tlsa_look(const kw_dns_server *server, const char *name,
                     const char *rdata, int present, int timeout_ms,
                     char *status, size_t cap)
{
    ldns_pkt *p = NULL;
    ldns_rr *want = NULL;
    int rc;

    if (dnsn_tlsa_rr(name, rdata, &want) != 0) {
        snprintf(status, cap, "not asked: \"%.60s\" is not TLSA data",
                 rdata != NULL ? rdata : "");
        return KW_EINVAL;
    }
    rc = look_once(server, name, LDNS_RR_TYPE_TLSA, timeout_ms, &p, status,
                   cap);
    if (rc == 0)
        rc = judge_tlsa(p, name, want, present, status, cap);
    ldns_pkt_free(p);
    ldns_rr_free(want);
    return rc;
}

/* What a wait asks of each server: a TXT value (or none), or a TLSA
 * record present or absent. */
typedef struct wait_want {
    int tlsa;
    const char *value;
    int present;
} wait_want;

static int wait_look(const wait_want *w, const kw_dns_server *srv,
                     const char *name, int timeout_ms, char *status,
                     size_t cap)
{
    if (w->tlsa)
        return kw_dns_tlsa_look(srv, name, w->value, w->present, timeout_ms,
                                status, cap);
    return kw_dns_txt_look(srv, name, w->value, timeout_ms, status, cap);
}

static int wait_all(const kw_dns_server *servers, size_t n, const char *name,
                    const wait_want *w, int timeout_ms, int interval_ms,
                    kw_diag *d);

int kw_dns_txt_wait(const kw_dns_server *servers, size_t n, const char *name,
                    const char *value, int timeout_ms, int interval_ms,
                    kw_diag *d)
{
    wait_want w = {0, value, value != NULL};

    return wait_all(servers, n, name, &w, timeout_ms, interval_ms, d);
}

int kw_dns_tlsa_wait(const kw_dns_server *servers, size_t n,
                     const char *name, const char *rdata, int present,
                     int timeout_ms, int interval_ms, kw_diag *d)
{
    wait_want w = {1, rdata, present};

    if (rdata == NULL)
        return kw_diag_set(d, KW_EINVAL, "waiting for TLSA %s: no record",
                           name);
    return wait_all(servers, n, name, &w, timeout_ms, interval_ms, d);
}

static int wait_all(const kw_dns_server *servers, size_t n, const char *name,
                    const wait_want *w, int timeout_ms, int interval_ms,
                    kw_diag *d)
{
    const char *value = w->value, *tw = w->tlsa ? "TLSA" : "TXT";
    char (*status)[160] = NULL, want[200], msg[sizeof(d->msg)];
    unsigned char *ok = NULL;
    int64_t start = dnsn_now_ms(), deadline;
    size_t i, pos = 0, bad = 0;
    kw_diag sub;
    int rc, rounds = 0;

    sub.msg[0] = '\0';
    if (servers == NULL || n == 0 || n > KW_DNS_SERVERS_MAX)
        return kw_diag_set(d, KW_EINVAL, "waiting for %s: between 1 and %d "
                           "servers needed, not %zu", tw, KW_DNS_SERVERS_MAX,
                           n);
    if ((rc = kw_dns_name_check(name, &sub)) != 0)
        return kw_diag_set(d, rc, "waiting for %s: %s", tw, sub.msg);
    if (value != NULL && strlen(value) > KW_DNS_TXT_MAX)
        return kw_diag_set(d, KW_EINVAL, "waiting for %s %s: value too "
                           "long", tw, name);
    if (timeout_ms <= 0 || interval_ms < 0)
        return kw_diag_set(d, KW_EINVAL, "waiting for %s %s: bad timeout "
                           "or interval", tw, name);
    if (interval_ms == 0)
        interval_ms = 500;
    status = calloc(n, sizeof(*status));
    ok = calloc(n, 1);
    if (status == NULL || ok == NULL) {
        rc = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++)
        snprintf(status[i], sizeof(status[i]), "was not asked (time ran "
                 "out)");
    deadline = start + timeout_ms;

    for (;;) {
        size_t good = 0;

        rounds++;
        /* Every server in the same round: a value seen once and gone by
         * the next round (a secondary still loading) does not count. */
        for (i = 0; i < n; i++) {
            int64_t now = dnsn_now_ms(), until;

            if (now >= deadline)
                break;
            until = now + QUERY_SLICE_MS < deadline ? now + QUERY_SLICE_MS
                                                    : deadline;
            rc = wait_look(w, &servers[i], name, (int)(until - now),
                           status[i], sizeof(status[i]));
            ok[i] = rc == 1;
            good += ok[i];
        }
        if (good == n) {
            rc = 0;
            goto out;
        }
        {
            int64_t now = dnsn_now_ms(), left = deadline - now;

            if (left <= 0)
                break;
            poll(NULL, 0, (int)(left < interval_ms ? left : interval_ms));
        }
    }

    if (w->tlsa) {
        snprintf(want, sizeof(want), "%s TLSA %.150s",
                 w->present ? "do not serve" : "still serve", value);
    } else if (value != NULL) {
        char s[180];

        dnsn_shown(value, strlen(value), s, sizeof(s));
        snprintf(want, sizeof(want), "do not serve TXT \"%s\"", s);
    } else {
        snprintf(want, sizeof(want), "still serve TXT records");
    }
    for (i = 0; i < n; i++)
        bad += !ok[i];
    kw_str_appendf(msg, sizeof(msg), &pos, "%s: after %lld ms (%d rounds) "
                   "%zu of %zu servers %s:", name,
                   (long long)(dnsn_now_ms() - start), rounds, bad, n, want);
    for (i = 0; i < n; i++) {
        char who[96];

        if (ok[i])
            continue;
        dnsn_server_str(&servers[i], who, sizeof(who));
        kw_str_appendf(msg, sizeof(msg), &pos, " %s %s;", who, status[i]);
    }
    if (pos > 0 && pos < sizeof(msg) && msg[pos - 1] == ';')
        msg[pos - 1] = '\0';
    rc = kw_diag_set(d, KW_ETIMEDOUT, "%s", msg);
out:
    free(status);
    free(ok);
    return rc;
}

int kw_dns_find_zone(const kw_dns_server *server, const char *name,
                     char *zone, size_t cap, int timeout_ms, kw_diag *d)
{
    char buf[256], who[96], last[64] = "nothing", rbuf[16];
    const char *cand;
    int64_t deadline;
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    if (zone != NULL && cap > 0)
        zone[0] = '\0';
    dnsn_server_str(server, who, sizeof(who));
    if (server == NULL || zone == NULL || cap == 0)
        return kw_diag_set(d, KW_EINVAL, "finding a zone: missing argument");
    if ((rc = kw_dns_name_check(name, &sub)) != 0)
        return kw_diag_set(d, rc, "finding the zone at %s: %s", who,
                           sub.msg);
    if (timeout_ms <= 0)
        return kw_diag_set(d, KW_EINVAL, "finding the zone of %s: the "
                           "timeout must be positive", name);
    memcpy(buf, name, name_len(name));
    buf[name_len(name)] = '\0';
    deadline = dnsn_now_ms() + timeout_ms;

    for (cand = buf; cand != NULL;) {
        const char *dot;
        ldns_pkt *p = NULL;
        size_t i;
        int found = 0, rcode;

        rc = dnsn_query(server, cand, LDNS_RR_TYPE_SOA, 1, deadline, &p,
                        &sub);
        if (rc != 0)
            return kw_diag_set(d, rc, "finding the zone of %s (SOA of %s): "
                               "%s", name, cand, sub.msg);
        rcode = ldns_pkt_get_rcode(p);
        for (i = 0; rcode == LDNS_RCODE_NOERROR &&
                    i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++) {
            const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);

            if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA &&
                dnsn_dname_is(ldns_rr_owner(rr), cand))
                found = 1;
        }
        snprintf(last, sizeof(last), "%s for %.40s",
                 dnsn_rcode_name(rcode, rbuf), cand);
        ldns_pkt_free(p);
        if (found) {
            size_t len = strlen(cand);

            if (len >= cap)
                return kw_diag_set(d, KW_ETOOBIG, "the zone of %s is %s, "
                                   "longer than the caller's buffer", name,
                                   cand);
            for (i = 0; i <= len; i++)
                zone[i] = (char)tolower((unsigned char)cand[i]);
            return 0;
        }
        dot = strchr(cand, '.');
        cand = dot != NULL ? dot + 1 : NULL;
    }
    return kw_diag_set(d, KW_ENOTFOUND, "%s: %s serves no zone containing "
                       "it (asked SOA of it and each parent; last: %s)", name,
                       who, last);
}

int kw_dns_soa_negative_ttl(const kw_dns_server *server, const char *zone,
                            int timeout_ms, int64_t *neg_ttl,
                            int64_t *soa_ttl, kw_diag *d)
{
    char who[96], rbuf[16];
    ldns_pkt *p = NULL;
    kw_diag sub;
    size_t i;
    int rc, rcode;

    sub.msg[0] = '\0';
    if (server == NULL || neg_ttl == NULL || timeout_ms <= 0)
        return kw_diag_set(d, KW_EINVAL, "reading a SOA: missing argument");
    dnsn_server_str(server, who, sizeof(who));
    if ((rc = kw_dns_name_check(zone, &sub)) != 0)
        return kw_diag_set(d, rc, "reading the SOA at %s: %s", who, sub.msg);
    rc = dnsn_query(server, zone, LDNS_RR_TYPE_SOA, 1,
                    dnsn_now_ms() + timeout_ms, &p, &sub);
    if (rc != 0)
        return kw_diag_set(d, rc, "reading the SOA of %s: %s", zone,
                           sub.msg);
    rcode = ldns_pkt_get_rcode(p);
    for (i = 0; rcode == LDNS_RCODE_NOERROR &&
                i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);
        int64_t ttl, min;

        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA ||
            !dnsn_dname_is(ldns_rr_owner(rr), zone) ||
            ldns_rr_rd_count(rr) < 7)
            continue;
        ttl = (int64_t)ldns_rr_ttl(rr);
        min = (int64_t)ldns_rdf2native_int32(ldns_rr_rdf(rr, 6));
        *neg_ttl = ttl < min ? ttl : min;
        if (soa_ttl != NULL)
            *soa_ttl = ttl;
        ldns_pkt_free(p);
        return 0;
    }
    ldns_pkt_free(p);
    return kw_diag_set(d, KW_ENOTFOUND, "%s gave no SOA for %s (%s)", who,
                       zone, dnsn_rcode_name(rcode, rbuf));
}
