/*
 * dns_survey.c: one name's TXT at the resolver and at every authoritative
 * server, CNAMEs followed, and whether those servers agree.
 *
 * Each server of a step is asked in a thread of its own (the transport
 * blocks in poll), all with the same bound: the earlier of the survey's
 * deadline and per_server_ms from the moment the step's servers are
 * asked (the zone lookups before it have a per_server_ms of their own).
 * A thread that cannot be created is replaced by asking in the calling
 * thread, which keeps the same bound.
 */
#include "dns_survey.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/kw_str.h"
#include "dns_net.h"

/* CNAMEs followed inside one answer (a resolver's answer carries the
 * whole chain it followed). */
#define CHAIN_IN_ANSWER 16
/* Stack of an asking thread (sanitizer builds need several times the
 * few KiB the work itself takes). */
#define ASK_STACK (512 * 1024)

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void copy_name(char *dst, size_t cap, const char *name)
{
    size_t n = strlen(name), i;

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n >= cap)
        n = cap - 1;
    for (i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)name[i]);
    dst[n] = '\0';
}

void kw_dns_answer_clear(kw_dns_answer *a)
{
    kw_dns_server keep;

    if (a == NULL)
        return;
    keep = a->server;
    free(a->txt);
    free(a->block_);
    memset(a, 0, sizeof(*a));
    a->server = keep;
}

/* status from an rcode: the answers we can read are NOERROR and
 * NXDOMAIN; the rest say the server cannot or will not answer. */
static int rcode_status(int rcode)
{
    switch (rcode) {
    case LDNS_RCODE_NOERROR:
    case LDNS_RCODE_NXDOMAIN:
        return 0;
    case LDNS_RCODE_REFUSED:
    case LDNS_RCODE_NOTAUTH:
        return KW_EACCES;
    default:
        return KW_EIO;
    }
}

/* The TXT records owned by owner in list, joined, into a (one block for
 * all their text, bounded by the message they came in). */
static int take_txt(const ldns_rr_list *list, const char *owner,
                    kw_dns_answer *a)
{
    size_t i, n = 0, total = 0, o = 0;

    for (i = 0; i < ldns_rr_list_rr_count(list); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(list, i);
        size_t j;

        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT ||
            !dnsn_dname_is(ldns_rr_owner(rr), owner))
            continue;
        n++;
        total += 1;
        for (j = 0; j < ldns_rr_rd_count(rr); j++)
            total += ldns_rdf_size(ldns_rr_rdf(rr, j));
    }
    if (n == 0)
        return 0;
    a->txt = calloc(n, sizeof(*a->txt));
    a->block_ = malloc(total);
    if (a->txt == NULL || a->block_ == NULL) {
        snprintf(a->error, sizeof(a->error), "out of memory");
        return KW_ENOMEM;
    }
    for (i = 0; i < ldns_rr_list_rr_count(list); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(list, i);
        size_t len = 0;

        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT ||
            !dnsn_dname_is(ldns_rr_owner(rr), owner))
            continue;
        if (dnsn_txt_join(rr, a->block_ + o, total - o, &len) != 0) {
            snprintf(a->error, sizeof(a->error), "a TXT record at %.100s "
                     "is malformed (a character string's length is wrong)",
                     owner);
            return KW_EPARSE;
        }
        a->txt[a->ntxt].s = a->block_ + o;
        a->txt[a->ntxt].len = len;
        a->ntxt++;
        o += len + 1;
    }
    return 0;
}

/* Fills a from the parsed answer p to qname TXT; zone (NULL: any) is the
 * zone whose SOA in the authority section gives the serial. */
static int judge_pkt(const ldns_pkt *p, const char *qname, const char *zone,
                     kw_dns_answer *a)
{
    const ldns_rr_list *ans = ldns_pkt_answer(p);
    char cur[256], rbuf[16];
    size_t i;
    int hop, rc;

    a->rcode = ldns_pkt_get_rcode(p);
    a->aa = ldns_pkt_aa(p) ? 1 : 0;
    a->nxdomain = a->rcode == LDNS_RCODE_NXDOMAIN;
    a->status = rcode_status(a->rcode);
    if (a->status != 0) {
        snprintf(a->error, sizeof(a->error), "answered %s%s",
                 dnsn_rcode_name(a->rcode, rbuf),
                 a->status == KW_EACCES ? " (does it serve the zone?)" : "");
        return a->status;
    }
    /* Follow the chain the answer carries, from qname: receivers use the
     * TXT at its end. */
    copy_name(cur, sizeof(cur), qname);
    for (hop = 0; hop < CHAIN_IN_ANSWER; hop++) {
        const ldns_rr *cn = NULL;

        for (i = 0; i < ldns_rr_list_rr_count(ans) && cn == NULL; i++) {
            const ldns_rr *rr = ldns_rr_list_rr(ans, i);

            if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME &&
                ldns_rr_rd_count(rr) == 1 &&
                dnsn_dname_is(ldns_rr_owner(rr), cur))
                cn = rr;
        }
        if (cn == NULL)
            break;
        dnsn_dname_text(ldns_rr_rdf(cn, 0), cur, sizeof(cur));
        if (hop == 0)
            snprintf(a->cname, sizeof(a->cname), "%s", cur);
    }
    if (hop == CHAIN_IN_ANSWER) {
        a->status = KW_ELOOP;
        snprintf(a->error, sizeof(a->error), "answered a CNAME chain of "
                 "more than %d links (a loop?)", CHAIN_IN_ANSWER);
        return a->status;
    }
    rc = take_txt(ans, cur, a);
    if (rc != 0)
        return a->status = rc;
    a->nodata = !a->nxdomain && a->ntxt == 0 && a->cname[0] == '\0';
    /* Negative answers carry the zone's SOA: its serial for free. */
    for (i = 0; i < ldns_rr_list_rr_count(ldns_pkt_authority(p)); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_authority(p), i);
        const ldns_rdf *ser = ldns_rr_rdf(rr, 2);

        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ser != NULL &&
            ldns_rdf_size(ser) == 4 &&
            (zone == NULL || dnsn_dname_is(ldns_rr_owner(rr), zone))) {
            a->has_serial = 1;
            a->serial = ldns_rdf2native_int32(ser);
        }
    }
    return 0;
}

int kw_dns_survey_judge_wire(const uint8_t *wire, size_t len,
                             const char *qname, kw_dns_answer *a)
{
    ldns_pkt *p = NULL;
    int rc;

    a->rcode = -1;
    if (wire == NULL || qname == NULL ||
        ldns_wire2pkt(&p, wire, len) != LDNS_STATUS_OK || p == NULL) {
        snprintf(a->error, sizeof(a->error), "the answer is not a valid "
                 "DNS message (%zu octets)", len);
        return a->status = KW_EPARSE;
    }
    rc = judge_pkt(p, qname, NULL, a);
    ldns_pkt_free(p);
    return rc;
}

/* ----- asking one server ----- */

typedef struct ask_job {
    const char *name;
    const char *zone;    /* NULL: no SOA serial wanted (the resolver) */
    int rd;
    int64_t deadline;
    kw_dns_answer *a;
} ask_job;

/* The zone's SOA serial at the server, when it answers with authority. */
static void ask_serial(const ask_job *j)
{
    ldns_pkt *p = NULL;
    size_t i;

    if (dnsn_query(&j->a->server, j->zone, LDNS_RR_TYPE_SOA, 0, j->deadline,
                   &p, NULL) != 0)
        return;
    for (i = 0; ldns_pkt_aa(p) &&
                i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);
        const ldns_rdf *ser = ldns_rr_rdf(rr, 2);

        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ser != NULL &&
            ldns_rdf_size(ser) == 4 &&
            dnsn_dname_is(ldns_rr_owner(rr), j->zone)) {
            j->a->has_serial = 1;
            j->a->serial = ldns_rdf2native_int32(ser);
        }
    }
    ldns_pkt_free(p);
}

static void *ask(void *arg)
{
    const ask_job *j = arg;
    kw_dns_answer *a = j->a;
    int64_t start = dnsn_now_ms();
    uint8_t *wire = NULL;
    size_t wlen = 0;
    ldns_pkt *p = NULL;
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    a->rcode = -1;
    rc = dnsn_query_wire(&a->server, j->name, LDNS_RR_TYPE_TXT, j->rd,
                         j->deadline, &p, &wire, &wlen, &sub);
    if (rc != 0) {
        char who[96];
        size_t wl;

        /* The transport's words start with the server, which the
         * answer names already. */
        dnsn_server_str(&a->server, who, sizeof(who));
        wl = strlen(who);
        a->status = rc;
        snprintf(a->error, sizeof(a->error), "%.*s",
                 (int)sizeof(a->error) - 1,
                 strncmp(sub.msg, who, wl) == 0 && sub.msg[wl] == ':'
                     ? sub.msg + wl + 1 + (sub.msg[wl + 1] == ' ')
                     : sub.msg);
    } else {
        a->wire_len = wlen;
        judge_pkt(p, j->name, j->zone, a);
        if (j->zone != NULL && !a->has_serial)
            ask_serial(j);
    }
    ldns_pkt_free(p);
    free(wire);
    a->ms = (int)(dnsn_now_ms() - start);
    return NULL;
}

/* Asks every jobs[i] at once; returns when all are done (each is bounded
 * by its deadline). */
static int start_ask(pthread_t *t, ask_job *job)
{
    pthread_attr_t attr;
    int rc;

    /* The work needs a few KiB of stack; many surveys run at once. */
    if (pthread_attr_init(&attr) != 0)
        return -1;
    pthread_attr_setstacksize(&attr, ASK_STACK);
    rc = pthread_create(t, &attr, ask, job);
    pthread_attr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

static void ask_all(ask_job *jobs, size_t n)
{
    pthread_t *t = calloc(n, sizeof(*t));
    unsigned char *started = calloc(n, 1);
    size_t i;

    for (i = 0; i < n; i++) {
        if (t != NULL && started != NULL && start_ask(&t[i], &jobs[i]) == 0)
            started[i] = 1;
        else
            ask(&jobs[i]);
    }
    for (i = 0; i < n; i++)
        if (started != NULL && started[i])
            pthread_join(t[i], NULL);
    free(t);
    free(started);
}

/* ----- the zone cache ----- */

#define ZC_BUCKETS 1024
/* Entries kept at most; past it the cache starts again empty (a round
 * of checks refills it). */
#define ZC_MAX 65536

typedef struct zc_entry {
    struct zc_entry *next;
    char key[256];           /* the parent of a surveyed name */
    char zone[256];          /* its zone */
    int64_t at;
    size_t n;
    kw_dns_server *servers;
} zc_entry;

struct kw_dns_zone_cache {
    pthread_mutex_t mu;
    int max_age_ms;
    size_t count;
    long hits, stored;
    zc_entry *b[ZC_BUCKETS];
};

kw_dns_zone_cache *kw_dns_zone_cache_new(int max_age_ms)
{
    kw_dns_zone_cache *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->max_age_ms = max_age_ms > 0 ? max_age_ms : 60000;
    return c;
}

static void zc_clear(kw_dns_zone_cache *c)
{
    size_t i;

    for (i = 0; i < ZC_BUCKETS; i++) {
        while (c->b[i] != NULL) {
            zc_entry *e = c->b[i];

            c->b[i] = e->next;
            free(e->servers);
            free(e);
        }
    }
    c->count = 0;
}

void kw_dns_zone_cache_free(kw_dns_zone_cache *c)
{
    if (c == NULL)
        return;
    zc_clear(c);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void kw_dns_zone_cache_stats(kw_dns_zone_cache *c, long *hits,
                             long *stored)
{
    pthread_mutex_lock(&c->mu);
    if (hits != NULL)
        *hits = c->hits;
    if (stored != NULL)
        *stored = c->stored;
    pthread_mutex_unlock(&c->mu);
}

/* The key of name: its parent ("" for a single label, never cached). */
static const char *zc_key(const char *name)
{
    const char *dot = strchr(name, '.');

    return dot != NULL ? dot + 1 : "";
}

/* FNV-1a over the key. */
static size_t zc_bucket(const char *key)
{
    uint32_t h = 2166136261u;

    for (; *key != '\0'; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return h % ZC_BUCKETS;
}

/* The entry of key in c (locked), its link, or NULL. */
static zc_entry **zc_find(kw_dns_zone_cache *c, const char *key)
{
    zc_entry **e = &c->b[zc_bucket(key)];

    for (; *e != NULL; e = &(*e)->next)
        if (strcmp((*e)->key, key) == 0)
            return e;
    return NULL;
}

static void zc_unlink(kw_dns_zone_cache *c, zc_entry **link)
{
    zc_entry *e = *link;

    *link = e->next;
    free(e->servers);
    free(e);
    c->count--;
}

/* The zone of name and its servers from c: 1, or 0 (not there, or too
 * old: then removed). */
static int zc_get(kw_dns_zone_cache *c, const char *name, char *zone,
                  size_t zcap, kw_dns_server *servers, size_t max,
                  size_t *n)
{
    const char *key = zc_key(name);
    zc_entry **link;
    int hit = 0;

    if (*key == '\0')
        return 0;
    pthread_mutex_lock(&c->mu);
    link = zc_find(c, key);
    if (link != NULL && dnsn_now_ms() - (*link)->at > c->max_age_ms) {
        zc_unlink(c, link);
        link = NULL;
    }
    if (link != NULL) {
        const zc_entry *e = *link;

        snprintf(zone, zcap, "%s", e->zone);
        *n = e->n < max ? e->n : max;
        memcpy(servers, e->servers, *n * sizeof(*servers));
        c->hits++;
        hit = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

/* Stores that name's zone is zone, served by servers[0..n).  A name that
 * is its zone's apex says nothing of its parent's zone: not stored. */
static void zc_put(kw_dns_zone_cache *c, const char *name, const char *zone,
                   const kw_dns_server *servers, size_t n)
{
    const char *key = zc_key(name);
    zc_entry **link, *e;

    if (*key == '\0' || strcmp(name, zone) == 0 || n == 0)
        return;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return;
    e->servers = malloc(n * sizeof(*servers));
    if (e->servers == NULL) {
        free(e);
        return;
    }
    snprintf(e->key, sizeof(e->key), "%s", key);
    snprintf(e->zone, sizeof(e->zone), "%s", zone);
    memcpy(e->servers, servers, n * sizeof(*servers));
    e->n = n;
    e->at = dnsn_now_ms();
    pthread_mutex_lock(&c->mu);
    if ((link = zc_find(c, key)) != NULL)
        zc_unlink(c, link);
    if (c->count >= ZC_MAX)
        zc_clear(c);
    e->next = c->b[zc_bucket(key)];
    c->b[zc_bucket(key)] = e;
    c->count++;
    c->stored++;
    pthread_mutex_unlock(&c->mu);
}

static void zc_drop(kw_dns_zone_cache *c, const char *name)
{
    zc_entry **link;

    pthread_mutex_lock(&c->mu);
    if ((link = zc_find(c, zc_key(name))) != NULL)
        zc_unlink(c, link);
    pthread_mutex_unlock(&c->mu);
}

/* ----- the survey ----- */

void kw_dns_survey_free(kw_dns_survey *s)
{
    size_t i, j;

    if (s == NULL)
        return;
    kw_dns_answer_clear(&s->resolver);
    for (i = 0; i < s->nsteps; i++) {
        for (j = 0; j < s->steps[i].nauth; j++)
            kw_dns_answer_clear(&s->steps[i].auth[j]);
        free(s->steps[i].auth);
    }
    free(s);
}

/* The CNAME target most of the step's servers give, or NULL. */
static const char *step_target(const kw_dns_survey_step *st)
{
    const char *best = NULL;
    size_t i, j, best_n = 0;

    for (i = 0; i < st->nauth; i++) {
        size_t n = 0;

        if (st->auth[i].status != 0 || st->auth[i].cname[0] == '\0')
            continue;
        for (j = 0; j < st->nauth; j++)
            n += st->auth[j].status == 0 &&
                 strcmp(st->auth[j].cname, st->auth[i].cname) == 0;
        if (n > best_n) {
            best = st->auth[i].cname;
            best_n = n;
        }
    }
    return best;
}

/* Finds the zone of st->name (from the cache when read_cache and it
 * knows it) and asks its servers. */
static int survey_step(const kw_dns_server *resolver, int port, int per_ms,
                       int v4only, int64_t deadline,
                       kw_dns_zone_cache *cache, int read_cache,
                       kw_dns_survey_step *st)
{
    kw_dns_server servers[KW_DNS_SURVEY_SERVERS];
    int64_t now = dnsn_now_ms(), until = min64(deadline, now + per_ms);
    ask_job *jobs;
    size_t n = 0, i;
    kw_diag sub;
    int rc = 0, cached;

    sub.msg[0] = '\0';
    if (until <= now) {
        st->status = KW_ETIMEDOUT;
        snprintf(st->error, sizeof(st->error), "%s: not asked: the "
                 "survey's time ran out", st->name);
        return 0;
    }
    cached = cache != NULL && read_cache &&
             zc_get(cache, st->name, st->zone, sizeof(st->zone), servers,
                    KW_DNS_SURVEY_SERVERS, &n);
    if (!cached) {
        rc = kw_dns_find_zone(resolver, st->name, st->zone,
                              sizeof(st->zone), (int)(until - now), &sub);
        if (rc == 0) {
            now = dnsn_now_ms();
            rc = until > now
                     ? kw_dns_zone_servers(resolver, st->zone, port, servers,
                                           KW_DNS_SURVEY_SERVERS, &n,
                                           (int)(until - now), &sub)
                     : kw_diag_set(&sub, KW_ETIMEDOUT, "no time left to "
                                   "ask for the servers of %s", st->zone);
        }
        /* Only a complete answer is worth keeping. */
        if (rc == 0 && cache != NULL)
            zc_put(cache, st->name, st->zone, servers, n);
    }
    if (rc != 0) {
        snprintf(st->error, sizeof(st->error), "%.*s",
                 (int)sizeof(st->error) - 1, sub.msg);
        if (n == 0) {
            st->status = rc;
            return 0;
        }
    }
    if (v4only) {
        size_t kept = 0;

        for (i = 0; i < n; i++)
            if (strchr(servers[i].addr, ':') == NULL)
                servers[kept++] = servers[i];
        n = kept;
        if (n == 0) {
            st->status = KW_ENOTFOUND;
            snprintf(st->error, sizeof(st->error), "the servers of %.200s "
                     "have only IPv6 addresses, and IPv6 is off", st->zone);
            return 0;
        }
    }
    /* An address this host has no route to (IPv6 on an IPv4-only host)
     * is left out and named, not waited on for per_ms. */
    {
        size_t kept = 0, pos = 0;

        for (i = 0; i < n; i++) {
            kw_diag why;

            if (kw_dns_reachable(&servers[i], &why) == 0) {
                servers[kept++] = servers[i];
                continue;
            }
            kw_str_appendf(st->skipped, sizeof(st->skipped), &pos, "%s%s",
                           pos > 0 ? "; " : "", why.msg);
        }
        n = kept;
        if (n == 0) {
            st->status = -ENETUNREACH;
            snprintf(st->error, sizeof(st->error), "no server of %.100s "
                     "can be reached from this host: %.150s", st->zone,
                     st->skipped);
            return 0;
        }
    }
    st->auth = calloc(n, sizeof(*st->auth));
    jobs = calloc(n, sizeof(*jobs));
    if (st->auth == NULL || jobs == NULL) {
        free(jobs);
        return KW_ENOMEM;
    }
    st->nauth = n;
    /* Each server gets its own per_ms from here, not what the zone
     * lookups left of the step's. */
    now = dnsn_now_ms();
    for (i = 0; i < n; i++) {
        st->auth[i].server = servers[i];
        jobs[i].name = st->name;
        jobs[i].zone = st->zone;
        jobs[i].rd = 0;
        jobs[i].deadline = min64(deadline, now + per_ms);
        jobs[i].a = &st->auth[i];
    }
    ask_all(jobs, n);
    free(jobs);
    /* A server answering the cached zone's name without authority: the
     * name lies in another zone now.  Forget it and look it up. */
    for (i = 0; cached && i < st->nauth; i++) {
        if (st->auth[i].status == 0 && !st->auth[i].aa) {
            size_t j;

            zc_drop(cache, st->name);
            for (j = 0; j < st->nauth; j++)
                kw_dns_answer_clear(&st->auth[j]);
            free(st->auth);
            st->auth = NULL;
            st->nauth = 0;
            st->zone[0] = '\0';
            return survey_step(resolver, port, per_ms, v4only, deadline,
                               cache, 0, st);
        }
    }
    return 0;
}

int kw_dns_survey_run(const kw_dns_server *resolver, const char *name,
                      const kw_dns_survey_opts *opts, kw_dns_survey **out,
                      kw_diag *d)
{
    int64_t start = dnsn_now_ms(), deadline;
    kw_dns_survey *s;
    pthread_t rt;
    ask_job rjob;
    kw_diag sub;
    const char *cur;
    int rc, per, port, rthread;
    size_t k;

    sub.msg[0] = '\0';
    if (out != NULL)
        *out = NULL;
    if (resolver == NULL || name == NULL || opts == NULL || out == NULL)
        return kw_diag_set(d, KW_EINVAL, "DNS survey: missing argument");
    if ((rc = kw_dns_name_check(name, &sub)) != 0)
        return kw_diag_set(d, rc, "DNS survey: %s", sub.msg);
    if (opts->timeout_ms <= 0 || opts->per_server_ms < 0 ||
        opts->auth_port < 0 || opts->auth_port > 65535)
        return kw_diag_set(d, KW_EINVAL, "DNS survey of %s: bad timeout or "
                           "port", name);
    port = opts->auth_port ? opts->auth_port : 53;
    per = opts->per_server_ms;
    if (per == 0) {
        per = opts->timeout_ms / 3;
        if (per < 1000)
            per = 1000;
    }
    if (per > opts->timeout_ms)
        per = opts->timeout_ms;
    deadline = start + opts->timeout_ms;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    copy_name(s->name, sizeof(s->name), name);

    /* The resolver's view, asked while the zones are looked up. */
    s->resolver.server = *resolver;
    memset(&rjob, 0, sizeof(rjob));
    rjob.name = s->name;
    rjob.rd = 1;
    rjob.deadline = min64(deadline, start + per);
    rjob.a = &s->resolver;
    rthread = start_ask(&rt, &rjob) == 0;
    if (!rthread)
        ask(&rjob);

    rc = 0;
    cur = s->name;
    for (k = 0; k < KW_DNS_SURVEY_STEPS && rc == 0; k++) {
        kw_dns_survey_step *st = &s->steps[k];
        const char *next;
        size_t j;

        copy_name(st->name, sizeof(st->name), cur);
        s->nsteps++;
        rc = survey_step(resolver, port, per, opts->ipv4_only, deadline,
                         opts->cache, 1, st);
        next = rc == 0 ? step_target(st) : NULL;
        if (next == NULL)
            break;
        for (j = 0; j <= k; j++) {
            if (strcmp(s->steps[j].name, next) == 0) {
                snprintf(st->error, sizeof(st->error), "the CNAME to %.200s "
                         "leads back to a name already surveyed (a loop)",
                         next);
                next = NULL;
                break;
            }
        }
        if (next == NULL)
            break;
        if (k + 1 == KW_DNS_SURVEY_STEPS)
            s->chain_too_long = 1;
        cur = next;
    }
    if (rthread)
        pthread_join(rt, NULL);
    s->ms = (int)(dnsn_now_ms() - start);
    if (rc != 0) {
        kw_dns_survey_free(s);
        return kw_diag_set(d, rc, "DNS survey of %s: out of memory", name);
    }
    *out = s;
    return 0;
}

/* ----- reading a survey ----- */

void kw_dns_answer_words(const kw_dns_answer *a, char *buf, size_t cap)
{
    char v[200];
    size_t pos = 0;

    if (cap == 0)
        return;
    buf[0] = '\0';
    if (a->status != 0) {
        kw_str_appendf(buf, cap, &pos, "no usable answer: %s", a->error);
        return;
    }
    if (a->cname[0] != '\0')
        kw_str_appendf(buf, cap, &pos, "CNAME to %s, then ", a->cname);
    if (a->nxdomain) {
        kw_str_appendf(buf, cap, &pos, "NXDOMAIN");
        return;
    }
    if (a->ntxt == 0) {
        kw_str_appendf(buf, cap, &pos, "no TXT");
        return;
    }
    dnsn_shown(a->txt[0].s, a->txt[0].len, v, sizeof(v));
    if (a->ntxt == 1)
        kw_str_appendf(buf, cap, &pos, "TXT \"%s\"", v);
    else
        kw_str_appendf(buf, cap, &pos, "%zu TXT records, one \"%s\"",
                       a->ntxt, v);
}

/* Do a and b serve the same thing (TXT records as a multiset)? */
static int same_answer(const kw_dns_answer *a, const kw_dns_answer *b)
{
    unsigned char *used;
    size_t i, j;
    int same = 1;

    if (a->nxdomain != b->nxdomain || a->ntxt != b->ntxt ||
        strcmp(a->cname, b->cname) != 0)
        return 0;
    if (a->ntxt == 0)
        return 1;
    used = calloc(b->ntxt, 1);
    if (used == NULL)
        return 0;
    for (i = 0; i < a->ntxt && same; i++) {
        for (j = 0; j < b->ntxt; j++) {
            if (!used[j] && a->txt[i].len == b->txt[j].len &&
                memcmp(a->txt[i].s, b->txt[j].s, a->txt[i].len) == 0) {
                used[j] = 1;
                break;
            }
        }
        same = j < b->ntxt;
    }
    free(used);
    return same;
}

static void server_words(const kw_dns_answer *a, char *buf, size_t cap,
                         size_t *pos)
{
    char who[96];

    dnsn_server_str(&a->server, who, sizeof(who));
    if (a->has_serial)
        kw_str_appendf(buf, cap, pos, "%s (serial %u)", who,
                       (unsigned)a->serial);
    else
        kw_str_appendf(buf, cap, pos, "%s", who);
}

/* A usable authoritative answer: one the comparison can count. */
static int usable(const kw_dns_answer *a)
{
    return a->status == 0 && a->aa;
}

kw_dns_verdict kw_dns_survey_compare(const kw_dns_survey *s, char *buf,
                                     size_t cap)
{
    char words[300];
    size_t pos = 0, k, i, j;
    int disagree = 0, incomplete = 0;

    if (cap > 0)
        buf[0] = '\0';
    for (k = 0; k < s->nsteps; k++) {
        const kw_dns_survey_step *st = &s->steps[k];
        const kw_dns_answer *first = NULL;

        for (i = 0; i < st->nauth; i++) {
            if (!usable(&st->auth[i]))
                continue;
            if (first == NULL)
                first = &st->auth[i];
            else if (!same_answer(first, &st->auth[i]))
                disagree = 1;
        }
        /* A step's own error (an NS name without an address, a CNAME
         * loop) means some of the picture is missing. */
        if (st->status != 0 || st->nauth == 0 || st->error[0] != '\0')
            incomplete = 1;
        for (i = 0; i < st->nauth; i++)
            incomplete |= !usable(&st->auth[i]);
    }
    if (s->chain_too_long)
        incomplete = 1;
    if (!disagree && !incomplete) {
        kw_str_appendf(buf, cap, &pos, "%s: all authoritative servers "
                       "asked agree", s->name);
        for (k = 0; k < s->nsteps; k++)
            if (s->steps[k].skipped[0] != '\0')
                kw_str_appendf(buf, cap, &pos, "; not asked (no route "
                               "here): %s", s->steps[k].skipped);
        return KW_DNS_AGREE;
    }

    for (k = 0; k < s->nsteps; k++) {
        const kw_dns_survey_step *st = &s->steps[k];

        if (st->status != 0) {
            kw_str_appendf(buf, cap, &pos, "%s%s: servers unknown: %s",
                           pos ? "; " : "", st->name, st->error);
            continue;
        }
        if (st->error[0] != '\0')
            kw_str_appendf(buf, cap, &pos, "%s%s: %s", pos ? "; " : "",
                           st->name, st->error);
        if (st->skipped[0] != '\0')
            kw_str_appendf(buf, cap, &pos, "%s%s: not asked (no route "
                           "here): %s", pos ? "; " : "", st->name,
                           st->skipped);
        /* Each group of servers serving one thing, named once. */
        for (i = 0; i < st->nauth; i++) {
            const kw_dns_answer *a = &st->auth[i];
            int seen = 0, nth = 0;

            if (!usable(a))
                continue;
            for (j = 0; j < i && !seen; j++)
                seen = usable(&st->auth[j]) && same_answer(&st->auth[j], a);
            if (seen)
                continue;
            kw_str_appendf(buf, cap, &pos, "%s%s: ", pos ? "; " : "",
                           st->name);
            for (j = i; j < st->nauth; j++) {
                if (!usable(&st->auth[j]) ||
                    !same_answer(&st->auth[j], a))
                    continue;
                if (nth++ > 0)
                    kw_str_appendf(buf, cap, &pos, ", ");
                server_words(&st->auth[j], buf, cap, &pos);
            }
            kw_dns_answer_words(a, words, sizeof(words));
            kw_str_appendf(buf, cap, &pos, " %s %s",
                           nth > 1 ? "serve" : "serves", words);
        }
        for (i = 0; i < st->nauth; i++) {
            const kw_dns_answer *a = &st->auth[i];

            if (usable(a))
                continue;
            kw_str_appendf(buf, cap, &pos, "%s%s: ", pos ? "; " : "",
                           st->name);
            server_words(a, buf, cap, &pos);
            if (a->status != 0)
                kw_str_appendf(buf, cap, &pos, ": %s", a->error);
            else
                kw_str_appendf(buf, cap, &pos, ": answered without "
                               "authority (AA=0: a lame delegation)");
        }
    }
    if (s->chain_too_long)
        kw_str_appendf(buf, cap, &pos, "%sthe CNAME chain goes on past %d "
                       "names; the rest was not surveyed", pos ? "; " : "",
                       KW_DNS_SURVEY_STEPS);
    return disagree ? KW_DNS_DISAGREE : KW_DNS_INCOMPLETE;
}
