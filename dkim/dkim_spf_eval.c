/*
 * dkim_spf_eval.c: SPF over DNS: check_host() for one address (RFC 7208
 * §4, §5) and keywarden's static walk of every branch (see dkim_spf.h).
 * Both ask DNS only through the caller's kw_dns_lookup.
 */
#include "dkim_spf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Nodes one walk may create: a diamond of includes otherwise grows
 * exponentially, and no receiver would get that far (10 lookups). */
#define WALK_NODES_MAX 256

/* ----- shared: a domain's record, addresses ----- */

/* Is name usable as a <domain> (§4.3): labels of 1..63 octets, at least
 * two of them? */
static int domain_ok(const char *name)
{
    size_t label = 0, labels = 0, i, n = strlen(name);

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return 0;
    for (i = 0; i <= n; i++) {
        if (i == n || name[i] == '.') {
            if (label == 0 || label > 63)
                return 0;
            labels++;
            label = 0;
        } else {
            label++;
        }
    }
    return labels >= 2;
}

typedef enum fetch_rc {
    FETCH_OK = 0,      /* rec parsed, text copied */
    FETCH_NONE,        /* no SPF record (void when the name is empty) */
    FETCH_TEMP,        /* the lookup failed */
    FETCH_PERM         /* two records, or a syntax error */
} fetch_rc;

/*
 * The SPF record of name: looks up TXT (set is scratch), keeps the
 * v=spf1 ones.  *isvoid says the answer was NXDOMAIN or empty.  why says
 * what went wrong for FETCH_TEMP/FETCH_PERM/FETCH_NONE.
 */
static fetch_rc fetch(const kw_dns_lookup *lk, const char *name,
                      kw_dns_rrset *set, kw_spf_record *rec, char *text,
                      size_t cap, int *isvoid, char *why, size_t wcap)
{
    kw_diag sub;
    size_t i, found = 0, which = 0;
    int rc;

    *isvoid = 0;
    text[0] = '\0';
    sub.msg[0] = '\0';
    rc = lk->fn(lk->ctx, name, KW_DNS_TXT, set, &sub);
    if (rc == KW_ENOTFOUND || (rc == 0 && set->n == 0)) {
        *isvoid = 1;
        snprintf(why, wcap, "%s has no TXT records (%s)", name,
                 rc == 0 ? "no data" : "NXDOMAIN");
        return FETCH_NONE;
    }
    if (rc != 0) {
        snprintf(why, wcap, "TXT lookup failed: %s", sub.msg);
        return FETCH_TEMP;
    }
    for (i = 0; i < set->n; i++)
        if (kw_spf_is_record(kw_dns_rrset_rec(set, i), set->len[i])) {
            if (found++ == 0)
                which = i;
        }
    /* An answer cut to what the set keeps may hide the v=spf1 record:
     * "none" would be a guess, so the answer counts as unread. */
    if (found == 0 && set->truncated) {
        snprintf(why, wcap, "TXT lookup failed: %s has more TXT records "
                 "than keywarden reads (%d, %d bytes); the v=spf1 record "
                 "may be among the rest", name, KW_DNS_RRSET_MAX,
                 KW_DNS_RRSET_TEXT);
        return FETCH_TEMP;
    }
    if (found == 0) {
        snprintf(why, wcap, "%s has no \"v=spf1\" TXT record", name);
        return FETCH_NONE;
    }
    snprintf(text, cap, "%s", kw_dns_rrset_rec(set, which));
    if (found > 1) {
        snprintf(why, wcap, "%s has %zu \"v=spf1\" TXT records; exactly "
                 "one is allowed (RFC 7208 §4.5)", name, found);
        return FETCH_PERM;
    }
    if (kw_spf_parse(kw_dns_rrset_rec(set, which), set->len[which], rec,
                     &sub) != 0) {
        snprintf(why, wcap, "%s: %s", name, sub.msg);
        return FETCH_PERM;
    }
    return FETCH_OK;
}

/* Does address a (text) lie in ip/prefix of the same family? */
static int in_net(const char *a, const unsigned char *ip, int v6, int prefix)
{
    unsigned char b[16];
    int full, rest;

    if (inet_pton(v6 ? AF_INET6 : AF_INET, a, b) != 1)
        return 0;
    if (prefix < 0)
        prefix = v6 ? 128 : 32;
    full = prefix / 8;
    rest = prefix % 8;
    if (memcmp(b, ip, (size_t)full) != 0)
        return 0;
    return rest == 0 ||
           ((b[full] ^ ip[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* ----- check_host() ----- */

typedef struct ev {
    const kw_dns_lookup *lk;
    unsigned char ip[16];
    int v6;
    char ipstr[64];
    const char *sender, *helo;
    int lookups, voids;
    kw_dns_rrset *set;
    char reason[384];
} ev;

static kw_spf_result ev_fail(ev *e, kw_spf_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static kw_spf_result ev_fail(ev *e, kw_spf_result r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
    va_end(ap);
    return r;
}

/* A DNS-querying term: one more lookup, PermError past the limit. */
static int ev_count(ev *e)
{
    return ++e->lookups > KW_SPF_LOOKUP_LIMIT ? -1 : 0;
}

/* An answer was void: one more, PermError past the limit. */
static int ev_void(ev *e)
{
    return ++e->voids > KW_SPF_VOID_LIMIT ? -1 : 0;
}

/* Asks name/type into e->set: 1 with records, 0 for a void answer
 * (counted when count_void), or -result: PermError past the void limit,
 * TempError when the lookup failed (reason set). */
static int ev_ask(ev *e, const char *name, kw_dns_rrtype type,
                  int count_void)
{
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    rc = e->lk->fn(e->lk->ctx, name, type, e->set, &sub);
    if (rc == KW_ENOTFOUND || (rc == 0 && e->set->n == 0)) {
        if (count_void && ev_void(e) != 0)
            return -ev_fail(e, KW_SPF_PERMERROR, "more than %d void lookups "
                            "(the last: %s %s)", KW_SPF_VOID_LIMIT, name,
                            kw_dns_rrtype_name(type));
        return 0;
    }
    if (rc != 0)
        return -ev_fail(e, KW_SPF_TEMPERROR, "%s", sub.msg);
    return 1;
}

/* Looks name up (A or AAAA as the address is) and matches against cidr:
 * 1 match, 0 none, or -result as ev_ask. */
static int ev_addrs(ev *e, const char *name, int cidr, int count_void)
{
    size_t i;
    int r = ev_ask(e, name, e->v6 ? KW_DNS_AAAA : KW_DNS_A, count_void);

    if (r <= 0)
        return r;
    for (i = 0; i < e->set->n; i++)
        if (in_net(kw_dns_rrset_rec(e->set, i), e->ip, e->v6, cidr))
            return 1;
    return 0;
}

/* The name of ip in in-addr.arpa / ip6.arpa. */
static void reverse_name(const ev *e, char *buf, size_t cap)
{
    size_t o = 0;
    int k;

    if (!e->v6) {
        snprintf(buf, cap, "%u.%u.%u.%u.in-addr.arpa", e->ip[3], e->ip[2],
                 e->ip[1], e->ip[0]);
        return;
    }
    for (k = 15; k >= 0 && o + 5 < cap; k--)
        o += (size_t)snprintf(buf + o, cap - o, "%x.%x.", e->ip[k] & 15,
                              e->ip[k] >> 4);
    snprintf(buf + o, cap - o, "ip6.arpa");
}

/* Does name equal target or end in ".target" (ignoring case)? */
static int name_under(const char *name, const char *target)
{
    size_t n = strlen(name), t = strlen(target);

    if (t > 0 && target[t - 1] == '.')
        t--;
    if (n == t)
        return strncasecmp(name, target, t) == 0;
    return n > t && name[n - t - 1] == '.' &&
           strncasecmp(name + n - t, target, t) == 0;
}

static kw_spf_result ev_check(ev *e, const char *domain, int depth);

/* One mechanism: 1 match, 0 none, or a result < 0 as -(result). */
static int ev_mech(ev *e, const kw_spf_term *t, const char *domain,
                   int depth)
{
    kw_spf_env env = {e->ipstr, e->sender, e->helo, domain};
    char target[1024];
    kw_diag sub;
    int r;
    size_t i;

    sub.msg[0] = '\0';
    if (t->mech == KW_SPF_IP4 || t->mech == KW_SPF_IP6) {
        char a[64];

        if ((t->mech == KW_SPF_IP6) != e->v6)
            return 0;
        inet_ntop(e->v6 ? AF_INET6 : AF_INET, t->ip, a, sizeof(a));
        return in_net(a, e->ip, e->v6, e->v6 ? t->cidr6 : t->cidr4) ? 1 : 0;
    }
    if (t->mech == KW_SPF_ALL)
        return 1;
    if (ev_count(e) != 0)
        return -ev_fail(e, KW_SPF_PERMERROR, "more than %d DNS lookups "
                        "(at \"%.100s\" in %s)", KW_SPF_LOOKUP_LIMIT,
                        t->spec[0] ? t->spec : "", domain);
    if (t->spec[0] == '\0')
        snprintf(target, sizeof(target), "%s", domain);
    else if (kw_spf_macro_expand(t->spec, &env, target, sizeof(target),
                                 &sub) != 0)
        return -ev_fail(e, KW_SPF_PERMERROR, "%s", sub.msg);

    switch (t->mech) {
    case KW_SPF_INCLUDE:
        switch (ev_check(e, target, depth + 1)) {
        case KW_SPF_PASS:
            return 1;
        case KW_SPF_FAIL:
        case KW_SPF_SOFTFAIL:
        case KW_SPF_NEUTRAL:
            return 0;
        case KW_SPF_TEMPERROR:
            return -KW_SPF_TEMPERROR;
        case KW_SPF_NONE: {
            char inner[sizeof(e->reason)];

            /* ev_fail writes e->reason: never format it into itself. */
            memcpy(inner, e->reason, sizeof(inner));
            return -ev_fail(e, KW_SPF_PERMERROR, "include:%s: %s", target,
                            inner);
        }
        case KW_SPF_PERMERROR:
            return -KW_SPF_PERMERROR;
        }
        return 0;
    case KW_SPF_A:
        return ev_addrs(e, target, e->v6 ? t->cidr6 : t->cidr4, 1);
    case KW_SPF_EXISTS:
        return ev_ask(e, target, KW_DNS_A, 1);
    case KW_SPF_MX: {
        char hosts[KW_SPF_MX_LIMIT][256];
        size_t nh;

        if ((r = ev_ask(e, target, KW_DNS_MX, 1)) <= 0)
            return r;
        if (e->set->n > KW_SPF_MX_LIMIT || e->set->truncated)
            return -ev_fail(e, KW_SPF_PERMERROR, "mx:%s: more than %d MX "
                            "records", target, KW_SPF_MX_LIMIT);
        nh = e->set->n;
        for (i = 0; i < nh; i++)
            snprintf(hosts[i], sizeof(hosts[i]), "%s",
                     kw_dns_rrset_rec(e->set, i));
        for (i = 0; i < nh; i++) {
            r = ev_addrs(e, hosts[i], e->v6 ? t->cidr6 : t->cidr4, 1);
            if (r != 0)
                return r;
        }
        return 0;
    }
    case KW_SPF_PTR: {
        char rev[80], names[KW_SPF_PTR_LIMIT][256];
        size_t nn;

        reverse_name(e, rev, sizeof(rev));
        r = ev_ask(e, rev, KW_DNS_PTR, 1);
        /* §5.5: a failed PTR lookup is no match, not an error. */
        if (r <= 0)
            return r == -KW_SPF_PERMERROR ? r : 0;
        nn = e->set->n < KW_SPF_PTR_LIMIT ? e->set->n : KW_SPF_PTR_LIMIT;
        for (i = 0; i < nn; i++)
            snprintf(names[i], sizeof(names[i]), "%s",
                     kw_dns_rrset_rec(e->set, i));
        for (i = 0; i < nn; i++) {
            if (!name_under(names[i], target))
                continue;
            /* §5.5: a name whose addresses cannot be had is skipped. */
            if (ev_addrs(e, names[i], -1, 0) == 1)
                return 1;
        }
        return 0;
    }
    default:
        return 0;
    }
}

static kw_spf_result qual_result(char q)
{
    switch (q) {
    case '-': return KW_SPF_FAIL;
    case '~': return KW_SPF_SOFTFAIL;
    case '?': return KW_SPF_NEUTRAL;
    default: return KW_SPF_PASS;
    }
}

/* A record and its text, together on the heap (a record is ~70 KiB). */
typedef struct held {
    kw_spf_record rec;
    char text[KW_SPF_RECORD_MAX + 1];
} held;

static kw_spf_result ev_check(ev *e, const char *domain, int depth)
{
    kw_spf_result res = KW_SPF_NEUTRAL;
    char why[384];
    held *h;
    size_t i;
    int isvoid, m;
    fetch_rc f;

    if (!domain_ok(domain))
        return ev_fail(e, KW_SPF_NONE, "\"%.200s\" is not a domain name",
                       domain);
    if ((h = malloc(sizeof(*h))) == NULL)
        return ev_fail(e, KW_SPF_TEMPERROR, "out of memory");
    f = fetch(e->lk, domain, e->set, &h->rec, h->text, sizeof(h->text),
              &isvoid, why, sizeof(why));
    /* pyspf counts an empty answer for an included name as void too. */
    if (isvoid && depth > 0 && ev_void(e) != 0) {
        res = ev_fail(e, KW_SPF_PERMERROR, "more than %d void lookups (the "
                      "last: %s TXT)", KW_SPF_VOID_LIMIT, domain);
        goto out;
    }
    if (f != FETCH_OK) {
        res = ev_fail(e, f == FETCH_NONE ? KW_SPF_NONE
                         : f == FETCH_TEMP ? KW_SPF_TEMPERROR
                                           : KW_SPF_PERMERROR, "%s", why);
        goto out;
    }
    for (i = 0; i < h->rec.n; i++) {
        const kw_spf_term *t = &h->rec.t[i];

        if (t->mech == KW_SPF_MODIFIER)
            continue;
        m = ev_mech(e, t, domain, depth);
        if (m < 0) {
            res = (kw_spf_result)-m;
            goto out;
        }
        if (m == 1) {
            res = ev_fail(e, qual_result(t->qual), "%s: matched \"%.*s\"",
                          domain, (int)(t->len < 200 ? t->len : 200),
                          h->text + t->offset);
            goto out;
        }
    }
    if (h->rec.redirect >= 0) {
        kw_spf_env env = {e->ipstr, e->sender, e->helo, domain};
        char target[1024];
        kw_diag sub;

        if (ev_count(e) != 0) {
            res = ev_fail(e, KW_SPF_PERMERROR, "more than %d DNS lookups "
                          "(at redirect in %s)", KW_SPF_LOOKUP_LIMIT,
                          domain);
            goto out;
        }
        if (kw_spf_macro_expand(h->rec.t[h->rec.redirect].spec, &env,
                                target, sizeof(target), &sub) != 0) {
            res = ev_fail(e, KW_SPF_PERMERROR, "%s", sub.msg);
            goto out;
        }
        res = ev_check(e, target, depth + 1);
        if (res == KW_SPF_NONE) {
            char inner[sizeof(e->reason)];

            memcpy(inner, e->reason, sizeof(inner));
            res = ev_fail(e, KW_SPF_PERMERROR, "redirect=%s: %s", target,
                          inner);
        }
        goto out;
    }
    res = ev_fail(e, KW_SPF_NEUTRAL, "%s: no mechanism matched", domain);
out:
    free(h);
    return res;
}

int kw_spf_check_host(const kw_dns_lookup *lookup, const char *ip,
                      const char *sender, const char *helo,
                      kw_spf_check *out, kw_diag *d)
{
    char mapped[64], dom[256];
    const char *at;
    ev e;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (lookup == NULL || lookup->fn == NULL || ip == NULL || out == NULL)
        return kw_diag_set(d, KW_EINVAL, "SPF check: missing argument");
    /* The null reverse-path (bounces): check HELO as postmaster@HELO
     * (RFC 7208 §2.4). */
    if (sender == NULL || sender[0] == '\0') {
        if (helo == NULL || helo[0] == '\0')
            return kw_diag_set(d, KW_EINVAL, "SPF check: neither a sender "
                               "nor a HELO name");
        sender = helo;
    }
    memset(&e, 0, sizeof(e));
    e.lk = lookup;
    e.sender = sender;
    e.helo = helo != NULL ? helo : "";
    if (inet_pton(AF_INET, ip, e.ip) == 1) {
        snprintf(e.ipstr, sizeof(e.ipstr), "%s", ip);
    } else if (inet_pton(AF_INET6, ip, e.ip) == 1) {
        static const unsigned char v4map[12] = {0, 0, 0, 0, 0, 0, 0, 0,
                                                0, 0, 0xff, 0xff};

        e.v6 = 1;
        /* An IPv4-mapped address is the IPv4 sender it carries (§5). */
        if (memcmp(e.ip, v4map, 12) == 0) {
            memmove(e.ip, e.ip + 12, 4);
            e.v6 = 0;
            inet_ntop(AF_INET, e.ip, mapped, sizeof(mapped));
            ip = mapped;
        }
        snprintf(e.ipstr, sizeof(e.ipstr), "%s", ip);
    } else {
        return kw_diag_set(d, KW_EINVAL, "SPF check: \"%.60s\" is not an IP "
                           "address", ip);
    }
    at = strrchr(sender, '@');
    snprintf(dom, sizeof(dom), "%s", at != NULL ? at + 1 : sender);
    if ((e.set = malloc(sizeof(*e.set))) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    out->result = ev_check(&e, dom, 0);
    snprintf(out->reason, sizeof(out->reason), "%s", e.reason);
    out->lookups = e.lookups;
    out->voids = e.voids;
    free(e.set);
    return 0;
}

/* ----- the static walk ----- */

typedef struct walker {
    const kw_dns_lookup *lk;
    kw_spf_limits lim;
    kw_dns_rrset *set;
    int nodes;
    int oom;
} walker;

static void problem(walker *w, kw_spf_node *n, kw_spf_sev sev,
                    const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(walker *w, kw_spf_node *n, kw_spf_sev sev,
                    const char *fmt, ...)
{
    kw_spf_problem *p;
    va_list ap;

    p = realloc(n->problems, (n->nproblems + 1) * sizeof(*p));
    if (p == NULL) {
        w->oom = 1;
        return;
    }
    n->problems = p;
    p = &p[n->nproblems++];
    p->sev = sev;
    va_start(ap, fmt);
    vsnprintf(p->text, sizeof(p->text), fmt, ap);
    va_end(ap);
}

static kw_spf_node *node_new(walker *w, kw_spf_node *parent,
                             const char *name, const char *via)
{
    kw_spf_node *n = calloc(1, sizeof(*n)), **k;

    if (n == NULL) {
        w->oom = 1;
        return NULL;
    }
    snprintf(n->name, sizeof(n->name), "%.255s", name);
    snprintf(n->via, sizeof(n->via), "%s", via);
    w->nodes++;
    if (parent == NULL)
        return n;
    k = realloc(parent->kids, (parent->nkids + 1) * sizeof(*k));
    if (k == NULL) {
        free(n);
        w->oom = 1;
        return NULL;
    }
    parent->kids = k;
    k[parent->nkids++] = n;
    return n;
}

static void node_free(kw_spf_node *n)
{
    size_t i;

    if (n == NULL)
        return;
    for (i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->problems);
    free(n);
}

/* Does spec use macros whose value depends on the sender or its address
 * (anything but %{d}, %{o} is the sender's domain)?  Then the walk cannot
 * know the name. */
static int spec_depends(const char *spec)
{
    const char *p;

    for (p = spec; (p = strstr(p, "%{")) != NULL; p += 2)
        if (tolower((unsigned char)p[2]) != 'd')
            return 1;
    return 0;
}

/* One name queried for a term: counts a void answer, records a failure.
 * Returns the rc of the lookup. */
static int walk_query(walker *w, kw_spf_node *n, const char *name,
                      kw_dns_rrtype type, const char *term)
{
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    rc = w->lk->fn(w->lk->ctx, name, type, w->set, &sub);
    if (rc == KW_ENOTFOUND || (rc == 0 && w->set->n == 0)) {
        n->voids++;
        problem(w, n, KW_SPF_SEV_WARN, "\"%s\": %s %s is a void lookup (%s)",
                term, name, kw_dns_rrtype_name(type),
                rc == 0 ? "no data" : "NXDOMAIN");
    } else if (rc != 0) {
        problem(w, n, KW_SPF_SEV_TEMPERROR, "\"%s\": TempError: %s", term,
                sub.msg);
    }
    return rc;
}

static void walk_node(walker *w, kw_spf_node *n, const char **path,
                      int depth);

/* A term of n's record: counts it and follows it. */
static void walk_term(walker *w, kw_spf_node *n, const kw_spf_record *rec,
                      const char *text, const kw_spf_term *t,
                      const char **path, int depth)
{
    kw_spf_env env = {"192.0.2.0", "postmaster@invalid", "invalid",
                      n->name};
    char term[220], target[1024];
    kw_diag sub;
    int follow = t->mech == KW_SPF_INCLUDE ||
                 (t->mech == KW_SPF_MODIFIER && (int)(t - rec->t) ==
                  rec->redirect);

    snprintf(term, sizeof(term), "%.*s", (int)(t->len < 200 ? t->len : 200),
             text + t->offset);
    switch (t->mech) {
    case KW_SPF_ALL:
    case KW_SPF_IP4:
    case KW_SPF_IP6:
        return;
    case KW_SPF_MODIFIER:
        if (!follow)
            return;
        break;
    default:
        break;
    }
    n->lookups++;
    if (t->mech == KW_SPF_PTR)
        problem(w, n, KW_SPF_SEV_WARN, "\"%s\": ptr is slow and unreliable; "
                "RFC 7208 §5.5 says not to use it", term);
    if (t->spec[0] == '\0') {
        snprintf(target, sizeof(target), "%s", n->name);
    } else if (spec_depends(t->spec)) {
        /* exists:%{i}._spf.example.com and the like: the name depends on
         * the sender; counted, not followed. */
        if (follow)
            problem(w, n, KW_SPF_SEV_WARN, "\"%s\": the name depends on "
                    "the sender; counted once, not followed", term);
        return;
    } else if (kw_spf_macro_expand(t->spec, &env, target, sizeof(target),
                                   &sub) != 0) {
        problem(w, n, KW_SPF_SEV_PERMERROR, "\"%s\": %s", term, sub.msg);
        return;
    }

    switch (t->mech) {
    case KW_SPF_A:
    case KW_SPF_EXISTS:
        /* IPv4 senders are the common case: the walk asks A only. */
        walk_query(w, n, target, KW_DNS_A, term);
        return;
    case KW_SPF_PTR:
        return;
    case KW_SPF_MX: {
        char hosts[KW_DNS_RRSET_MAX][256];
        size_t nh, i;

        if (walk_query(w, n, target, KW_DNS_MX, term) != 0 ||
            w->set->n == 0)
            return;
        if (w->set->n > KW_SPF_MX_LIMIT || w->set->truncated)
            problem(w, n, KW_SPF_SEV_PERMERROR, "\"%s\": %s has %s%zu MX "
                    "records; more than %d is a PermError (RFC 7208 "
                    "§4.6.4)", term, target, w->set->truncated ? "over " : "",
                    w->set->n, KW_SPF_MX_LIMIT);
        nh = w->set->n;
        for (i = 0; i < nh; i++)
            snprintf(hosts[i], sizeof(hosts[i]), "%s",
                     kw_dns_rrset_rec(w->set, i));
        for (i = 0; i < nh && i < KW_SPF_MX_LIMIT; i++)
            walk_query(w, n, hosts[i], KW_DNS_A, term);
        return;
    }
    default:
        break;
    }

    /* include: and redirect=: a child node. */
    {
        int k;
        kw_spf_node *c;

        for (k = 0; k <= depth; k++)
            if (strcasecmp(path[k], target) == 0) {
                problem(w, n, KW_SPF_SEV_PERMERROR, "\"%s\": include loop "
                        "back to %s", term, target);
                return;
            }
        if (depth + 1 >= w->lim.depth) {
            problem(w, n, KW_SPF_SEV_PERMERROR, "\"%s\": includes nested "
                    "deeper than %d", term, w->lim.depth);
            return;
        }
        if (w->nodes >= WALK_NODES_MAX) {
            problem(w, n, KW_SPF_SEV_PERMERROR, "\"%s\": not followed: the "
                    "walk stopped at %d records", term, WALK_NODES_MAX);
            return;
        }
        c = node_new(w, n, target, t->mech == KW_SPF_INCLUDE ? "include"
                                                             : "redirect");
        if (c == NULL)
            return;
        path[depth + 1] = c->name;
        walk_node(w, c, path, depth + 1);
    }
}

static void walk_node(walker *w, kw_spf_node *n, const char **path,
                      int depth)
{
    held *h;
    char why[384];
    int isvoid, all_at = -1;
    size_t i;
    fetch_rc f;

    if (!domain_ok(n->name)) {
        problem(w, n, KW_SPF_SEV_PERMERROR, "\"%s\" is not a domain name",
                n->name);
        return;
    }
    if ((h = malloc(sizeof(*h))) == NULL) {
        w->oom = 1;
        return;
    }
    f = fetch(w->lk, n->name, w->set, &h->rec, h->text, sizeof(h->text),
              &isvoid, why, sizeof(why));
    snprintf(n->record, sizeof(n->record), "%s", h->text);
    if (isvoid && depth > 0)
        n->voids++;
    switch (f) {
    case FETCH_OK:
        break;
    case FETCH_NONE:
        problem(w, n, depth > 0 ? KW_SPF_SEV_PERMERROR : KW_SPF_SEV_WARN,
                "%s%s", why, depth > 0 ? ": a PermError for every sender "
                "that reaches it" : ": no SPF record (result none)");
        goto out;
    case FETCH_TEMP:
        problem(w, n, KW_SPF_SEV_TEMPERROR, "TempError: %s", why);
        goto out;
    case FETCH_PERM:
        problem(w, n, KW_SPF_SEV_PERMERROR, "PermError: %s", why);
        goto out;
    }
    for (i = 0; i < h->rec.n; i++) {
        const kw_spf_term *t = &h->rec.t[i];

        if (t->mech == KW_SPF_ALL && all_at < 0) {
            all_at = (int)i;
            /* In an included record "?all" only makes the include not
             * match; "+all" there passes everyone through it. */
            if (t->qual == '+' ||
                (t->qual == '?' && strcmp(n->via, "include") != 0))
                problem(w, n, KW_SPF_SEV_WARN, "\"%.*s\": %s",
                        (int)t->len, h->text + t->offset, t->qual == '+'
                        ? "every address on the Internet passes"
                        : "every other address is neutral: SPF protects "
                          "nothing");
        } else if (all_at >= 0 && t->mech != KW_SPF_MODIFIER) {
            problem(w, n, KW_SPF_SEV_WARN, "\"%.*s\" comes after \"all\" "
                    "and is never evaluated", (int)t->len,
                    h->text + t->offset);
        }
    }
    if (all_at >= 0 && h->rec.redirect >= 0)
        problem(w, n, KW_SPF_SEV_WARN, "redirect= is ignored: the record "
                "has \"all\"");
    /* Terms after "all" are never evaluated, nor is redirect= beside
     * it: counting them would warn about lookups no receiver makes. */
    for (i = 0; i < h->rec.n && !w->oom; i++) {
        if (all_at >= 0 && ((int)i > all_at || (int)i == h->rec.redirect))
            continue;
        walk_term(w, n, &h->rec, h->text, &h->rec.t[i], path, depth);
    }
out:
    free(h);
}

/* Subtree sums, limits judged at the root. */
static void sum(kw_spf_node *n)
{
    size_t i;

    n->subtree_lookups = n->lookups;
    n->subtree_voids = n->voids;
    for (i = 0; i < n->nkids; i++) {
        sum(n->kids[i]);
        n->subtree_lookups += n->kids[i]->subtree_lookups;
        n->subtree_voids += n->kids[i]->subtree_voids;
    }
}

static void tally(kw_spf_tree *tree, const kw_spf_node *n)
{
    size_t i;

    for (i = 0; i < n->nproblems; i++) {
        if (n->problems[i].sev == KW_SPF_SEV_PERMERROR)
            tree->permerror++;
        else if (n->problems[i].sev == KW_SPF_SEV_TEMPERROR)
            tree->temperror++;
        else
            tree->warnings++;
    }
    for (i = 0; i < n->nkids; i++)
        tally(tree, n->kids[i]);
}

int kw_spf_walk(const kw_dns_lookup *lookup, const char *domain,
                const kw_spf_limits *limits, kw_spf_tree *tree, kw_diag *d)
{
    const char *path[64];
    walker w;

    if (tree != NULL)
        memset(tree, 0, sizeof(*tree));
    if (lookup == NULL || lookup->fn == NULL || domain == NULL ||
        tree == NULL)
        return kw_diag_set(d, KW_EINVAL, "SPF walk: missing argument");
    memset(&w, 0, sizeof(w));
    w.lk = lookup;
    if (limits != NULL)
        w.lim = *limits;
    if (w.lim.lookups <= 0)
        w.lim.lookups = KW_SPF_LOOKUP_LIMIT;
    if (w.lim.voids <= 0)
        w.lim.voids = KW_SPF_VOID_LIMIT;
    if (w.lim.depth <= 0 || w.lim.depth > 63)
        w.lim.depth = 20;
    if ((w.set = malloc(sizeof(*w.set))) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    tree->root = node_new(&w, NULL, domain, "");
    if (tree->root != NULL) {
        path[0] = tree->root->name;
        walk_node(&w, tree->root, path, 0);
        sum(tree->root);
        tree->lookups = tree->root->subtree_lookups;
        tree->voids = tree->root->subtree_voids;
        if (tree->lookups > w.lim.lookups)
            problem(&w, tree->root, KW_SPF_SEV_PERMERROR, "%d DNS-querying "
                    "terms over all branches, more than %d: receivers "
                    "answer PermError for any sender whose evaluation "
                    "reaches term %d", tree->lookups, w.lim.lookups,
                    w.lim.lookups + 1);
        if (tree->voids > w.lim.voids)
            problem(&w, tree->root, KW_SPF_SEV_PERMERROR, "%d void lookups "
                    "over all branches, more than %d: receivers that "
                    "enforce RFC 7208 §4.6.4 answer PermError for senders "
                    "that reach the third", tree->voids, w.lim.voids);
        tally(tree, tree->root);
    }
    free(w.set);
    if (w.oom) {
        kw_spf_tree_free(tree);
        return kw_diag_set(d, KW_ENOMEM, "out of memory walking the SPF "
                           "records of %s", domain);
    }
    return 0;
}

void kw_spf_tree_free(kw_spf_tree *tree)
{
    if (tree == NULL)
        return;
    node_free(tree->root);
    memset(tree, 0, sizeof(*tree));
}

static const char *sev_name(kw_spf_sev s)
{
    switch (s) {
    case KW_SPF_SEV_WARN: return "warning";
    case KW_SPF_SEV_PERMERROR: return "permerror";
    case KW_SPF_SEV_TEMPERROR: return "temperror";
    }
    return "?";
}

static json_t *node_json(const kw_spf_node *n)
{
    json_t *o = json_object(), *probs = json_array(), *kids = json_array();
    size_t i;

    if (o == NULL || probs == NULL || kids == NULL) {
        json_decref(o);
        json_decref(probs);
        json_decref(kids);
        return NULL;
    }
    for (i = 0; i < n->nproblems; i++)
        json_array_append_new(probs, json_pack("{s:s, s:s}", "severity",
                              sev_name(n->problems[i].sev), "text",
                              n->problems[i].text));
    for (i = 0; i < n->nkids; i++)
        json_array_append_new(kids, node_json(n->kids[i]));
    json_object_set_new(o, "name", json_string(n->name));
    json_object_set_new(o, "via", json_string(n->via));
    json_object_set_new(o, "record", n->record[0] ? json_string(n->record)
                                                  : json_null());
    json_object_set_new(o, "lookups", json_integer(n->lookups));
    json_object_set_new(o, "voids", json_integer(n->voids));
    json_object_set_new(o, "subtree_lookups",
                        json_integer(n->subtree_lookups));
    json_object_set_new(o, "subtree_voids", json_integer(n->subtree_voids));
    json_object_set_new(o, "problems", probs);
    json_object_set_new(o, "includes", kids);
    return o;
}

json_t *kw_spf_tree_json(const kw_spf_tree *tree)
{
    json_t *o;

    if (tree == NULL || tree->root == NULL)
        return NULL;
    o = json_pack("{s:i, s:i, s:i, s:i, s:b, s:b, s:i}", "lookups",
                  tree->lookups, "voids", tree->voids, "lookup_limit",
                  KW_SPF_LOOKUP_LIMIT, "void_limit", KW_SPF_VOID_LIMIT,
                  "permerror", tree->permerror > 0, "temperror",
                  tree->temperror > 0, "warnings", tree->warnings);
    if (o != NULL)
        json_object_set_new(o, "root", node_json(tree->root));
    return o;
}

/* Appends to a growing string; sets *oom instead of failing. */
static void grow(char **buf, size_t *len, size_t *cap, int *oom,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void grow(char **buf, size_t *len, size_t *cap, int *oom,
                 const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || *oom)
        return;
    if (*len + (size_t)n + 1 > *cap) {
        size_t nc = (*cap + (size_t)n + 1) * 2;
        char *nb = realloc(*buf, nc);

        if (nb == NULL) {
            *oom = 1;
            return;
        }
        *buf = nb;
        *cap = nc;
    }
    va_start(ap, fmt);
    vsnprintf(*buf + *len, *cap - *len, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
}

static void node_text(const kw_spf_node *n, int depth, char **buf,
                      size_t *len, size_t *cap, int *oom)
{
    size_t i;

    grow(buf, len, cap, oom, "%*s%s%s%s  [lookups: %d here, %d with "
         "includes; void: %d]\n", depth * 2, "", n->via[0] ? n->via : "",
         n->via[0] ? ":" : "", n->name, n->lookups, n->subtree_lookups,
         n->subtree_voids);
    grow(buf, len, cap, oom, "%*s  %s\n", depth * 2, "",
         n->record[0] ? n->record : "(no SPF record)");
    for (i = 0; i < n->nproblems; i++)
        grow(buf, len, cap, oom, "%*s  %s: %s\n", depth * 2, "",
             sev_name(n->problems[i].sev), n->problems[i].text);
    for (i = 0; i < n->nkids; i++)
        node_text(n->kids[i], depth + 1, buf, len, cap, oom);
}

char *kw_spf_tree_text(const kw_spf_tree *tree)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int oom = 0;

    if (tree == NULL || tree->root == NULL)
        return NULL;
    grow(&buf, &len, &cap, &oom, "SPF for %s: %d of %d DNS lookups over "
         "all branches, %d of %d void\n", tree->root->name, tree->lookups,
         KW_SPF_LOOKUP_LIMIT, tree->voids, KW_SPF_VOID_LIMIT);
    node_text(tree->root, 0, &buf, &len, &cap, &oom);
    if (oom) {
        free(buf);
        return NULL;
    }
    return buf;
}
