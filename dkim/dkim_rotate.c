/*
 * dkim_rotate.c: a DKIM rotation's state machine (dkim_rotate.h).
 *
 * One row of dkim_rotations per new key; its stage says how far the
 * rotation got.  Stages whose name ends in -ing are intents: written
 * before their effect, so a run killed after the effect knows it may
 * have happened and repeats it in a way that cannot do it twice.
 *
 *   (none)      no rotation runs; one starts when the last started
 *               `rotate` ago, or never, or when asked.
 *   GENERATING  a selector is chosen (never one used before) and the key
 *               file is being written.  Resumed: a key file already there
 *               is the one written before the crash and is used.
 *   GENERATED   the key file is on disk (0600, or 0640 for the group),
 *               fsync'd; the record to publish is stored.
 *   PUBLISHING  the record is being sent (RFC 2136 add, dns_exec add) or
 *               handed to the operator.  Resumed: the same record is sent
 *               again; an add of a record that exists changes nothing.
 *   PUBLISHED   the server accepted it (the UPDATE's TSIG verified).
 *   VISIBLE     every authoritative server serves exactly this record;
 *               wait_until is set to now + max(negative TTL, record TTL)
 *               + margin.
 *   PROPAGATED  that wait is over: no resolver can still hold a negative
 *               answer for the new name.
 *   ACTIVE      the signer's files name the new key (dkim_signer.h) and
 *               dkim.activated went to the hooks (their reload).  With no
 *               signer = configured a rotation waits at PROPAGATED.  It
 *               waits here until the reload is proven (await_reload()).
 *   RETIRED     the old selector no longer signs; its record stays for
 *               `drain` (mail in queues, re-verification).
 *   REMOVING    the old record is being removed (or emptied to p=).
 *   REMOVED / REVOKED  the old record is gone (or empty) on every
 *               authoritative server; the old key archived or deleted.
 *   ABORTING    `keywarden dkim abort` takes the rotation back: the new
 *               record is being removed (when the journal shows
 *               PUBLISHING: it was or may have been sent) and its absence
 *               checked on every authoritative server as REMOVING does,
 *               then the new key archived or deleted (old_key =).
 *               Resumed: the removal is sent again (removing what is not
 *               there changes nothing) and a key already moved is noted.
 *   ABORTED     taken back; the old key never stopped signing.  Terminal,
 *               and its selector stays used.  The next rotation is due
 *               `rotate` after the aborted one started (an abort postpones
 *               the next key by one period and never restarts by itself at
 *               once); it replaces the key the aborted one would have.
 *
 * NONE -> GENERATING -> GENERATED -> PUBLISHING -> PUBLISHED -> VISIBLE
 * -> PROPAGATED -> ACTIVE -> RETIRED -> REMOVING -> REMOVED | REVOKED;
 * GENERATING ... PROPAGATED -> ABORTING -> ABORTED; and no other change.
 * A rotation that replaces no managed key (the first: the key that signed
 * before was made by hand) ends at RETIRED, once the reload is proven as
 * for any other; the old key's record is not keywarden's to remove.  Any
 * stage may
 * also be written again with a note (what it waits for) or stopped with a
 * reason: a failed step leaves the stage where it was, says why in
 * `stopped`, counts the failure in `failures` (0 again at any change of
 * stage) and is retried after min(RETRY_FIRST * 2^(failures - 1),
 * RETRY_MAX): 15 minutes, 30, an hour, ... at most 6 hours.
 *
 * Invariants (each checked in set_state(), the one place a stage is
 * written, and tested in tests/unit/test_dkim_rotate.c):
 *   1. The signer never switches to a key that is not PROPAGATED: ACTIVE
 *      is entered from PROPAGATED only.
 *   2. An old record is never removed while its key signs, nor within
 *      `drain` of its last signing: REMOVING is entered from RETIRED only,
 *      and only `drain` after RETIRED began; RETIRED is entered only with
 *      evidence that the running signer reloaded: for opendkim and rspamd
 *      every hook delivery of this rotation's dkim.activated succeeded
 *      and there was at least one, for exec the program's exit 0.
 *      Without it the rotation waits at ACTIVE, then stops there after
 *      RELOAD_BOUND, the old record untouched.
 *   3. A failure stops the rotation at its step: the stage never moves on
 *      after a failed effect, so the old key keeps signing.
 *   4. Nothing is published twice, and no second key is made: each
 *      effect's intent is journalled first and a resumed intent repeats
 *      the effect idempotently (the same key file, the same record).
 *   5. The private key is never in the database: rows hold the record.
 *   6. An abort never takes back a key that may sign: ABORTING is entered
 *      only from a stage before ACTIVE (allowed()), and not from
 *      PROPAGATED while a switch to the new key was begun and never
 *      finished unless the signer's files, read back, do not name it.
 */
#include "dkim_rotate.h"

#include "dkim_check.h"
#include "dkim_key.h"
#include "dkim_signer.h"
#include "dkim_source.h"

#include "../common/kw_fs.h"
#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../dns/dns_resolve.h"
#include "../dns/dns_update.h"
#include "../keystore/ks_health.h"
#include "../keystore/ks_keygen.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NAME_MAX_LEN 340

/* A stopped step is tried again RETRY_FIRST after its first failure,
 * twice as long after each further one, at most RETRY_MAX. */
#define RETRY_FIRST 900
#define RETRY_MAX (6 * 3600)
/* How long ACTIVE waits for the signer's reload before it stops. */
#define RELOAD_BOUND 3600
/* The most stage changes one call makes (the whole walk is 11). */
#define MAX_CHANGES 16

static const char *const stage_names[KW_DKIM_ST_COUNT] = {
    "none",       "generating", "generated", "publishing",
    "published",  "visible",    "propagated", "active",
    "retired",    "removing",   "removed",    "revoked",
    "aborting",   "aborted"};

const char *kw_dkim_stage_name(kw_dkim_stage s)
{
    return s >= 0 && s < KW_DKIM_ST_COUNT ? stage_names[s] : "none";
}

kw_dkim_stage kw_dkim_stage_parse(const char *name)
{
    int i;

    for (i = 0; i < KW_DKIM_ST_COUNT; i++)
        if (strcmp(stage_names[i], name) == 0)
            return (kw_dkim_stage)i;
    return KW_DKIM_ST_NONE;
}

/* The one successor of each stage (REMOVING has two), and the way back
 * from every stage before ACTIVE. */
static int allowed(kw_dkim_stage from, kw_dkim_stage to)
{
    if (from == to)
        return 1;
    if (to == KW_DKIM_ST_ABORTING)
        return from >= KW_DKIM_ST_GENERATING && from < KW_DKIM_ST_ACTIVE;
    if (from == KW_DKIM_ST_ABORTING)
        return to == KW_DKIM_ST_ABORTED;
    if (from == KW_DKIM_ST_REMOVING)
        return to == KW_DKIM_ST_REMOVED || to == KW_DKIM_ST_REVOKED;
    return from < KW_DKIM_ST_REMOVING && to == from + 1;
}

/* How long after its failures-th failure in a row a step is retried. */
static int64_t retry_after(int failures)
{
    int64_t t = RETRY_FIRST;

    while (--failures > 0 && t < RETRY_MAX)
        t *= 2;
    return t < RETRY_MAX ? t : RETRY_MAX;
}

/* ---- parameters ---------------------------------------------------- */

void kw_dkim_rot_params_defaults(kw_dkim_rot_params *p)
{
    memset(p, 0, sizeof(*p));
    p->rotate = 90 * 86400;
    p->drain = 7 * 86400;
    p->margin = 3600;
    p->ttl = 3600;
}

static void free_argv(char **v)
{
    size_t i;

    for (i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

void kw_dkim_rot_params_free(kw_dkim_rot_params *p)
{
    free(p->domain);
    free(p->selector);
    free(p->key_dir);
    free(p->group);
    free(p->key_type);
    free(p->dns_server);
    free(p->dns_zone);
    free(p->tsig_key);
    free(p->tsig_algorithm);
    if (p->tsig_secret != NULL) {
        kw_wipe(p->tsig_secret, strlen(p->tsig_secret));
        free(p->tsig_secret);
    }
    free(p->resolver);
    free(p->opendkim_conf);
    free(p->selector_map);
    free(p->path_map);
    free(p->rspamd_conf);
    free_argv(p->dns_exec);
    free_argv(p->dns_check);
    free_argv(p->signer_exec);
    kw_dkim_rot_params_defaults(p);
}

static char **dup_argv(char *const *v, int *bad)
{
    size_t i, n = 0;
    char **r;

    while (v != NULL && v[n] != NULL)
        n++;
    if (n == 0)
        return NULL;
    if ((r = calloc(n + 1, sizeof(char *))) == NULL) {
        *bad = 1;
        return NULL;
    }
    for (i = 0; i < n; i++)
        if ((r[i] = strdup(v[i])) == NULL)
            *bad = 1;
    return r;
}

static char *dup_opt(const char *s, int *bad)
{
    char *r;

    if (s == NULL)
        return NULL;
    if ((r = strdup(s)) == NULL)
        *bad = 1;
    return r;
}

int kw_dkim_rot_params_copy(kw_dkim_rot_params *dst,
                            const kw_dkim_rot_params *src)
{
    int bad = 0;

    *dst = *src;
    dst->domain = dup_opt(src->domain, &bad);
    dst->selector = dup_opt(src->selector, &bad);
    dst->key_dir = dup_opt(src->key_dir, &bad);
    dst->group = dup_opt(src->group, &bad);
    dst->key_type = dup_opt(src->key_type, &bad);
    dst->dns_server = dup_opt(src->dns_server, &bad);
    dst->dns_zone = dup_opt(src->dns_zone, &bad);
    dst->tsig_key = dup_opt(src->tsig_key, &bad);
    dst->tsig_algorithm = dup_opt(src->tsig_algorithm, &bad);
    dst->tsig_secret = dup_opt(src->tsig_secret, &bad);
    dst->resolver = dup_opt(src->resolver, &bad);
    dst->opendkim_conf = dup_opt(src->opendkim_conf, &bad);
    dst->selector_map = dup_opt(src->selector_map, &bad);
    dst->path_map = dup_opt(src->path_map, &bad);
    dst->rspamd_conf = dup_opt(src->rspamd_conf, &bad);
    dst->dns_exec = dup_argv(src->dns_exec, &bad);
    dst->dns_check = dup_argv(src->dns_check, &bad);
    dst->signer_exec = dup_argv(src->signer_exec, &bad);
    if (bad) {
        kw_dkim_rot_params_free(dst);
        return KW_ENOMEM;
    }
    return 0;
}

/* ---- selectors ----------------------------------------------------- */

int kw_dkim_selector_expand(const char *tmpl, int64_t now, char *out,
                            size_t cap, kw_diag *d)
{
    time_t t = (time_t)now;
    struct tm tm;
    size_t i, o = 0;

    if (gmtime_r(&t, &tm) == NULL)
        return kw_diag_set(d, KW_EINVAL, "selector: time %lld out of range",
                           (long long)now);
    for (i = 0; tmpl[i] != '\0'; i++) {
        char piece[16];
        size_t k;

        if (tmpl[i] != '%') {
            unsigned char c = (unsigned char)tmpl[i];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_'))
                return kw_diag_set(d, KW_EINVAL,
                                   "selector = %s: '%c' is not allowed in "
                                   "a DNS label (letters, digits, '-', "
                                   "'_')",
                                   tmpl, c);
            piece[0] = (char)c;
            piece[1] = '\0';
        } else {
            switch (tmpl[++i]) {
            case 'Y': snprintf(piece, sizeof(piece), "%04d",
                               tm.tm_year + 1900); break;
            case 'm': snprintf(piece, sizeof(piece), "%02d",
                               tm.tm_mon + 1); break;
            case 'd': snprintf(piece, sizeof(piece), "%02d", tm.tm_mday);
                break;
            case 'H': snprintf(piece, sizeof(piece), "%02d", tm.tm_hour);
                break;
            default:
                return kw_diag_set(d, KW_EINVAL,
                                   "selector = %s: only %%Y, %%m, %%d and "
                                   "%%H may be used",
                                   tmpl);
            }
        }
        k = strlen(piece);
        if (o + k >= cap || o + k > 60)
            return kw_diag_set(d, KW_ETOOBIG,
                               "selector = %s: longer than 60 characters",
                               tmpl);
        memcpy(out + o, piece, k);
        o += k;
    }
    if (o == 0)
        return kw_diag_set(d, KW_EINVAL, "selector: the template is empty");
    out[o] = '\0';
    return 0;
}

/* ---- the real DNS -------------------------------------------------- */

static int timeout_of(const kw_dkim_rot_params *p)
{
    return p->timeout_ms > 0 ? p->timeout_ms : 10000;
}

/* The server asked for the zone and its NS set: the primary when there is
 * one, else the resolver. */
static int ask_server(const kw_dkim_rot_params *p, kw_dns_server *srv,
                      kw_diag *d)
{
    if (p->dns_server != NULL)
        return kw_dns_server_parse(p->dns_server, 53, srv, d);
    if (p->resolver != NULL)
        return kw_dkim_resolver_parse(p->resolver, srv, d);
    return kw_dns_system_resolver(NULL, srv, d);
}

static int zone_of(const kw_dkim_rot_params *p, const kw_dns_server *srv,
                   const char *name, char *zone, size_t cap, kw_diag *d)
{
    if (p->dns_zone != NULL) {
        snprintf(zone, cap, "%s", p->dns_zone);
        return 0;
    }
    return kw_dns_find_zone(srv, name, zone, cap, timeout_of(p), d);
}

/* dns_exec: PROG add|remove NAME VALUE, no shell, bounded in time. */
static int run_exec(const kw_dkim_rot_params *p, int add, const char *name,
                    const char *value, kw_diag *d)
{
    const char *argv[64];
    size_t n = 0, i;
    int64_t waited = 0;
    int status, devnull;
    pid_t pid, w;

    for (i = 0; p->dns_exec[i] != NULL && n < 60; i++)
        argv[n++] = p->dns_exec[i];
    argv[n++] = add ? "add" : "remove";
    argv[n++] = name;
    argv[n++] = value;
    argv[n] = NULL;
    pid = fork();
    if (pid < 0)
        return kw_diag_set(d, kw_errno(), "dns_exec %s: fork: %s", argv[0],
                           strerror(errno));
    if (pid == 0) {
        devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            if (devnull > 2)
                close(devnull);
        }
        setpgid(0, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (;;) {
        w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return kw_diag_set(d, KW_EIO, "dns_exec %s: waitpid: %s",
                               argv[0], strerror(errno));
        if (waited >= timeout_of(p)) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return kw_diag_set(d, KW_ETIMEDOUT,
                               "dns_exec %s %s %s: still running after %d "
                               "ms; killed",
                               argv[0], argv[n - 3], name, timeout_of(p));
        }
        usleep(20000);
        waited += 20;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        return kw_diag_set(d, KW_EREJECTED,
                           "dns_exec %s %s %s: exited with status %d%s",
                           argv[0], argv[n - 3], name, WEXITSTATUS(status),
                           WEXITSTATUS(status) == 127
                               ? " (could it be run?)"
                               : "");
    return kw_diag_set(d, KW_EREJECTED, "dns_exec %s %s %s: killed by signal "
                       "%d", argv[0], argv[n - 3], name, WTERMSIG(status));
}

static int real_update(void *ctx, const kw_dkim_rot_params *p, int add,
                       const char *name, const char *value, kw_diag *d)
{
    kw_dns_server srv;
    kw_dns_tsig tsig;
    char zone[256];
    int rc;

    (void)ctx;
    if (p->publish == KW_DKIM_PUBLISH_EXEC)
        return run_exec(p, add, name, value, d);
    if ((rc = kw_dns_server_parse(p->dns_server, 53, &srv, d)) != 0)
        return rc;
    if ((rc = zone_of(p, &srv, name, zone, sizeof(zone), d)) != 0)
        return rc;
    tsig.name = p->tsig_key;
    tsig.alg = p->tsig_algorithm;
    tsig.secret = p->tsig_secret;
    return kw_dns_txt_update(&srv, zone, p->tsig_key != NULL ? &tsig : NULL,
                             add, name, value, p->ttl, timeout_of(p), d);
}

/*
 * What a batch (kw_dkim_rotate_many) keeps between the looks of its
 * rounds: each domain's servers, found once, and the servers that did not
 * answer in the current round, not asked again in it (a dead server
 * would cost LOOK_SLICE_MS for every name otherwise).  The looks of a
 * round run on several threads: mu guards the table and the dead list;
 * entries are allocated one by one, so a pointer to one stays valid.
 */
typedef struct look_cache_entry {
    const kw_dkim_rot_params *p;
    char zone[256];
    kw_dns_server srv[KW_DNS_SERVERS_MAX];
    size_t n;
    char skipped[300];
} look_cache_entry;

typedef struct look_cache {
    pthread_mutex_t mu;
    look_cache_entry **e;
    size_t n, cap;
    kw_dns_server dead[KW_DNS_SERVERS_MAX];
    char dead_why[KW_DNS_SERVERS_MAX][96];
    size_t ndead;
} look_cache;

/* A server that does not answer in one look costs this, not the whole
 * timeout: the other names of the round are still asked in time. */
#define LOOK_SLICE_MS 2000

static int same_server(const kw_dns_server *a, const kw_dns_server *b)
{
    return a->port == b->port && strcmp(a->addr, b->addr) == 0;
}

/* Adds srv to v[*n] unless it is there (max entries). */
static void add_server(kw_dns_server *v, size_t *n, size_t max,
                       const kw_dns_server *srv)
{
    size_t i;

    for (i = 0; i < *n; i++)
        if (same_server(&v[i], srv))
            return;
    if (*n < max)
        v[(*n)++] = *srv;
}

/*
 * The servers a visibility check of name asks: the zone's NS set (each
 * address) and dns_check's, less those this host has no route to
 * (kw_dns_reachable: IPv6 on an IPv4-only host), which are named in
 * skipped rather than waited on.  Both address families are asked where
 * there is a route, as the DKIM check's survey does.
 */
static int check_servers(const kw_dkim_rot_params *p, const char *name,
                         look_cache_entry *e, kw_diag *d)
{
    kw_dns_server srv, all[KW_DNS_SERVERS_MAX];
    size_t n = 0, i, pos = 0;
    int rc;

    e->n = 0;
    e->skipped[0] = '\0';
    if ((rc = ask_server(p, &srv, d)) != 0)
        return rc;
    if ((rc = zone_of(p, &srv, name, e->zone, sizeof(e->zone), d)) != 0)
        return rc;
    if ((rc = kw_dns_zone_servers(&srv, e->zone, p->dns_port, all,
                                  KW_DNS_SERVERS_MAX, &n, timeout_of(p),
                                  d)) != 0)
        return rc;
    for (i = 0; p->dns_check != NULL && p->dns_check[i] != NULL; i++) {
        kw_dns_server extra;

        if ((rc = kw_dns_server_parse(p->dns_check[i],
                                      p->dns_port > 0 ? p->dns_port : 53,
                                      &extra, d)) != 0)
            return rc;
        add_server(all, &n, KW_DNS_SERVERS_MAX, &extra);
    }
    for (i = 0; i < n; i++) {
        kw_diag why;

        if (kw_dns_reachable(&all[i], &why) == 0)
            e->srv[e->n++] = all[i];
        else
            kw_str_appendf(e->skipped, sizeof(e->skipped), &pos, "%s%s",
                           pos > 0 ? "; " : "", why.msg);
    }
    if (e->n == 0)
        return kw_diag_set(d, KW_ENOTFOUND, "zone %s: no authoritative "
                           "server this host can reach: %s", e->zone,
                           e->skipped);
    return 0;
}

/* The entry of p in the batch's cache, its servers found on first use;
 * c NULL: e is filled for this call only. */
static int servers_of(look_cache *c, const kw_dkim_rot_params *p,
                      const char *name, look_cache_entry *tmp,
                      look_cache_entry **e, kw_diag *d)
{
    look_cache_entry *found = NULL, *ne;
    size_t i;
    int rc;

    *e = tmp;
    if (c != NULL) {
        pthread_mutex_lock(&c->mu);
        for (i = c->n; i > 0 && found == NULL; i--)
            if (c->e[i - 1]->p == p)
                found = c->e[i - 1];
        pthread_mutex_unlock(&c->mu);
        if (found != NULL) {
            *e = found;
            return 0;
        }
    }
    /* Outside the lock: the zone's servers are DNS queries. */
    if ((rc = check_servers(p, name, tmp, d)) != 0)
        return rc;
    tmp->p = p;
    if (c == NULL || (ne = malloc(sizeof(*ne))) == NULL)
        return 0;
    *ne = *tmp;
    pthread_mutex_lock(&c->mu);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        look_cache_entry **v = realloc(c->e, cap * sizeof(*v));

        if (v != NULL) {
            c->e = v;
            c->cap = cap;
        }
    }
    if (c->n < c->cap) {
        c->e[c->n++] = ne;
        *e = ne;
    } else {
        free(ne);
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void look_cache_free(look_cache *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        free(c->e[i]);
    free(c->e);
}

/* Was srv found dead earlier in this round?  Its words then in why. */
static int dead_in_round(look_cache *c, const kw_dns_server *srv,
                         char *why, size_t cap)
{
    size_t j;
    int dead = 0;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    for (j = 0; j < c->ndead && !dead; j++)
        if (same_server(&c->dead[j], srv)) {
            snprintf(why, cap, "%s", c->dead_why[j]);
            dead = 1;
        }
    pthread_mutex_unlock(&c->mu);
    return dead;
}

static void mark_dead(look_cache *c, const kw_dns_server *srv,
                      const char *status)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    if (c->ndead < KW_DNS_SERVERS_MAX) {
        c->dead[c->ndead] = *srv;
        snprintf(c->dead_why[c->ndead++], sizeof(c->dead_why[0]),
                 "%.60s earlier in this round", status);
    }
    pthread_mutex_unlock(&c->mu);
}

static int real_visible(void *ctx, const kw_dkim_rot_params *p,
                        const char *name, const char *value, kw_diag *d)
{
    look_cache_entry tmp, *e;
    int rc;

    if ((rc = servers_of(ctx, p, name, &tmp, &e, d)) != 0)
        return rc;
    rc = kw_dns_txt_wait(e->srv, e->n, name, value, timeout_of(p), 200, d);
    if (rc == 0 && d != NULL && e->skipped[0] != '\0')
        snprintf(d->msg, sizeof(d->msg), "not asked: %s", e->skipped);
    return rc;
}

/* One look at each server for name (kw_dkim_rot_dns.look). */
static int real_look(void *ctx, const kw_dkim_rot_params *p,
                     const char *name, const char *value, kw_diag *d)
{
    look_cache *c = ctx;
    look_cache_entry tmp, *e;
    char msg[sizeof(d->msg)], status[160], who[96];
    size_t i, pos = 0, bad = 0;
    int rc;

    if ((rc = servers_of(c, p, name, &tmp, &e, d)) != 0)
        return rc;
    msg[0] = '\0';
    for (i = 0; i < e->n; i++) {
        if (!dead_in_round(c, &e->srv[i], status, sizeof(status))) {
            int slice = timeout_of(p) < LOOK_SLICE_MS ? timeout_of(p)
                                                      : LOOK_SLICE_MS;

            rc = kw_dns_txt_look(&e->srv[i], name, value, slice, status,
                                 sizeof(status));
            if (rc == 1)
                continue;
            if (rc < 0)
                mark_dead(c, &e->srv[i], status);
        }
        bad++;
        kw_dns_server_str(&e->srv[i], who, sizeof(who));
        kw_str_appendf(msg, sizeof(msg), &pos, "%s%s %s", bad > 1 ? "; " : "",
                       who, status);
    }
    if (bad > 0)
        return kw_diag_set(d, KW_ETIMEDOUT, "%s: %zu of %zu servers do not "
                           "serve it yet: %s", name, bad, e->n, msg);
    if (d != NULL && e->skipped[0] != '\0')
        snprintf(d->msg, sizeof(d->msg), "not asked: %s", e->skipped);
    return 0;
}

static int real_negative_ttl(void *ctx, const kw_dkim_rot_params *p,
                             int64_t *ttl, kw_diag *d)
{
    kw_dns_server srv;
    char zone[256], name[320];
    int rc;

    (void)ctx;
    if ((rc = ask_server(p, &srv, d)) != 0)
        return rc;
    snprintf(name, sizeof(name), "_domainkey.%s", p->domain);
    if ((rc = zone_of(p, &srv, name, zone, sizeof(zone), d)) != 0)
        return rc;
    return kw_dns_soa_negative_ttl(&srv, zone, timeout_of(p), ttl, NULL, d);
}

static const kw_dkim_rot_dns real_dns = {real_update, real_visible,
                                         real_negative_ttl, NULL, real_look};

/* ---- the machine --------------------------------------------------- */

typedef struct machine {
    ks_store *s;
    const kw_dkim_rot_params *p;
    const kw_dkim_rot_dns *dns;
    int64_t now;
    kw_dkim_rot_out *out;
    ks_dkim_rot *r;
} machine;

static void machine_init(machine *m, ks_store *s, const kw_dkim_rot_params *p,
                         const kw_dkim_rot_dns *dns, int64_t now,
                         kw_dkim_rot_out *out)
{
    memset(out, 0, sizeof(*out));
    m->s = s;
    m->p = p;
    m->dns = dns != NULL ? dns : &real_dns;
    m->now = now;
    m->out = out;
    m->r = &out->rot;
}

/* The test seam of dkim_rotate.h: stop as kill -9 would, after an effect
 * and before the stage that records it. */
static void die_point(const char *name)
{
    const char *at = getenv("KEYWARDEN_TEST_DIE_AT");

    if (at != NULL && strcmp(at, name) == 0)
        raise(SIGKILL);
}

static void fmt_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "@%lld", (long long)t);
}

/*
 * The one place a rotation's stage is written: checks the transition and
 * the invariants, logs old -> new, and writes the row, its journal entry
 * (intent, effect, result) and the event for the hooks (may be NULL) in
 * one transaction.  stop non-NULL marks the step failed (the stage
 * stays, the failure counted, the retry backed off); a change of stage
 * clears a stop and the count.
 */
static int set_state_ev(machine *m, kw_dkim_stage to, const char *intent,
                        const char *effect, const char *result,
                        const char *stop, const char *event, kw_diag *d)
{
    ks_dkim_rot *r = m->r, save = *r;
    kw_dkim_stage from = kw_dkim_stage_parse(r->stage);
    int rc;

    if (r->id == 0)
        from = KW_DKIM_ST_NONE;
    if (!allowed(from, to))
        return kw_diag_set(d, KW_EINVAL,
                           "DKIM rotation of %s: %s -> %s is not a "
                           "transition of the state machine",
                           r->domain, kw_dkim_stage_name(from),
                           kw_dkim_stage_name(to));
    if (to == KW_DKIM_ST_ACTIVE && from != KW_DKIM_ST_ACTIVE &&
        from != KW_DKIM_ST_PROPAGATED)
        return kw_diag_set(d, KW_EINVAL, "DKIM rotation of %s: the signer "
                           "may switch only to a propagated key",
                           r->domain);
    if (to == KW_DKIM_ST_REMOVING && from == KW_DKIM_ST_RETIRED &&
        m->now < r->since + m->p->drain)
        return kw_diag_set(d, KW_EINVAL, "DKIM rotation of %s: the old "
                           "record of %s may not go before its drain ends",
                           r->domain, r->old_selector);
    if (to != from) {
        kw_info("dkim rotation %s %s: %s -> %s", r->domain, r->selector,
                kw_dkim_stage_name(from), kw_dkim_stage_name(to));
        r->since = m->now;
        r->wait_until = 0;
        r->waits_for[0] = '\0';
        r->stopped[0] = '\0';
        r->failures = 0;
    }
    snprintf(r->stage, sizeof(r->stage), "%s", kw_dkim_stage_name(to));
    if (stop != NULL) {
        char at[40];

        r->failures++;
        r->wait_until = m->now + retry_after(r->failures);
        fmt_time(r->wait_until, at, sizeof(at));
        kw_warn("dkim rotation %s %s: stopped at %s (failure %d, next try "
                "%s): %s", r->domain, r->selector, r->stage, r->failures,
                at, stop);
        snprintf(r->stopped, sizeof(r->stopped), "%s", stop);
        snprintf(r->waits_for, sizeof(r->waits_for), "a retry");
    }
    rc = ks_dkim_rot_save(m->s, r, kw_dkim_stage_name(from), m->now, intent,
                          effect, stop != NULL ? stop : result, event, d);
    if (rc != 0) {
        *r = save;
        return rc;
    }
    if (to != from)
        m->out->changes++;
    return 0;
}

static int set_state(machine *m, kw_dkim_stage to, const char *intent,
                     const char *effect, const char *result,
                     const char *stop, kw_diag *d)
{
    return set_state_ev(m, to, intent, effect, result, stop, NULL, d);
}

/* The stage stays; say what it waits for (journalled when it changed). */
static int wait_for(machine *m, int64_t until, const char *what, kw_diag *d)
{
    ks_dkim_rot *r = m->r;

    m->out->waiting = 1;
    if (r->wait_until == until && r->stopped[0] == '\0' &&
        strcmp(r->waits_for, what) == 0)
        return 0;
    /* Waiting after a stop: the step ran and did not fail this time, so
     * the rotation is no longer stopped (its failures still count until
     * the stage moves on). */
    r->stopped[0] = '\0';
    r->wait_until = until;
    snprintf(r->waits_for, sizeof(r->waits_for), "%s", what);
    return set_state(m, kw_dkim_stage_parse(r->stage), NULL, NULL, what,
                     NULL, d);
}

static int stop(machine *m, const char *why, kw_diag *d)
{
    m->out->stopped = 1;
    return set_state(m, kw_dkim_stage_parse(m->r->stage), NULL, NULL, NULL,
                     why, d);
}

/* SELECTOR._domainkey.DOMAIN; the buffers are NAME_MAX_LEN, room for a
 * 63-octet label and a 253-octet domain. */
static void dkim_name(const char *selector, const char *domain, char *buf,
                      size_t cap)
{
    if (snprintf(buf, cap, "%s._domainkey.%s", selector, domain) >=
        (int)cap)
        buf[0] = '\0';
}

/* The first selector from the template that no rotation of the domain
 * used and no file in key_dir holds: "-2", "-3", ... when it repeats. */
static int pick_selector(machine *m, char *sel, size_t cap, char *path,
                         size_t pcap, kw_diag *d)
{
    char base[64];
    int i, used, rc;

    if ((rc = kw_dkim_selector_expand(m->p->selector, m->now, base,
                                      sizeof(base), d)) != 0)
        return rc;
    for (i = 1; i < 1000; i++) {
        if ((i == 1 ? snprintf(sel, cap, "%s", base)
                    : snprintf(sel, cap, "%s-%d", base, i)) >= (int)cap)
            return kw_diag_set(d, KW_ETOOBIG, "[dkim \"%s\"]: selector %s "
                               "is too long for a suffix",
                               m->p->domain, base);
        if ((rc = ks_dkim_rot_selector_used(m->s, m->p->domain, sel, &used,
                                            d)) != 0)
            return rc;
        if (strcmp(sel, m->r->old_selector) == 0)
            used = 1;
        snprintf(path, pcap, "%s/%s.%s.key", m->p->key_dir, m->p->domain,
                 sel);
        if (!used && access(path, F_OK) != 0)
            return 0;
    }
    return kw_diag_set(d, KW_ETOOBIG, "[dkim \"%s\"]: selector %s was used "
                       "999 times; change the template",
                       m->p->domain, base);
}

static int start(machine *m, const ks_dkim_rot *prev, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    char intent[1400];
    int rc;

    memset(r, 0, sizeof(*r));
    snprintf(r->domain, sizeof(r->domain), "%s", m->p->domain);
    snprintf(r->key_type, sizeof(r->key_type), "%s",
             m->p->key_type != NULL ? m->p->key_type : "rsa2048");
    if (prev != NULL &&
        kw_dkim_stage_parse(prev->stage) == KW_DKIM_ST_ABORTED) {
        /* An aborted rotation's new key never signed: the key it would
         * have replaced still does. */
        snprintf(r->old_selector, sizeof(r->old_selector), "%s",
                 prev->old_selector);
        snprintf(r->old_record, sizeof(r->old_record), "%s",
                 prev->old_record);
        r->old_started_at = prev->old_started_at;
    } else if (prev != NULL) {
        snprintf(r->old_selector, sizeof(r->old_selector), "%s",
                 prev->selector);
        snprintf(r->old_record, sizeof(r->old_record), "%s", prev->record);
        r->old_started_at = prev->started_at;
    }
    if ((rc = pick_selector(m, r->selector, sizeof(r->selector), r->key_path,
                            sizeof(r->key_path), d)) != 0)
        return rc;
    r->started_at = m->now;
    snprintf(intent, sizeof(intent), "write a %s key for selector %s to %s",
             r->key_type, r->selector, r->key_path);
    return set_state(m, KW_DKIM_ST_GENERATING, intent, NULL, NULL, NULL, d);
}

/* GENERATING's effect: the key file written (or, resumed, the one
 * written before the crash), read back, its record in r->record.  0, or
 * -1 with why.  May run on a batch's thread: it touches only the
 * domain's own row copy and its key file. */
static int generate_effect(machine *m, char *effect, size_t ecap,
                           char *why, size_t wcap)
{
    ks_dkim_rot *r = m->r;
    kw_dkim_pub pub;
    ks_key_type kt;
    gid_t gid = (gid_t)-1;
    mode_t mode = 0600;
    EVP_PKEY *key;
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    if (access(r->key_path, F_OK) == 0) {
        /* Written before a crash, the stage not yet: the same key. */
        snprintf(effect, ecap, "%s was already written (resumed)",
                 r->key_path);
    } else {
        if (ks_key_type_parse(r->key_type, &kt) != 0 ||
            (kt != KS_KEY_RSA2048 && kt != KS_KEY_RSA3072 &&
             kt != KS_KEY_ED25519)) {
            snprintf(why, wcap, "key_type = %s: expected rsa2048, rsa3072 "
                     "or ed25519", r->key_type);
            return -1;
        }
        if (m->p->group != NULL) {
            struct group gr, *res = NULL;
            char buf[4096];

            if (getgrnam_r(m->p->group, &gr, buf, sizeof(buf), &res) != 0 ||
                res == NULL) {
                snprintf(why, wcap, "group %s: no such group here",
                         m->p->group);
                return -1;
            }
            gid = gr.gr_gid;
            mode = 0640;
        }
        if ((rc = kw_mkdir_p(m->p->key_dir, 0750)) != 0) {
            snprintf(why, wcap, "creating %s: %s", m->p->key_dir,
                     kw_strerror(rc));
            return -1;
        }
        if ((key = ks_keygen(kt, &sub)) == NULL) {
            snprintf(why, wcap, "generating a %s key: %s", r->key_type,
                     sub.msg);
            return -1;
        }
        rc = ks_key_write(r->key_path, key, mode, gid, &sub);
        EVP_PKEY_free(key);
        if (rc != 0) {
            snprintf(why, wcap, "writing the key: %s", sub.msg);
            return -1;
        }
        die_point("key-written");
        snprintf(effect, ecap, "wrote %s (mode %04o)", r->key_path,
                 (unsigned)mode);
    }
    if ((rc = kw_dkim_key_load(r->key_path, &pub, &sub)) != 0) {
        snprintf(why, wcap, "reading back the new key: %s", sub.msg);
        return -1;
    }
    if (kw_dkim_pub_record(&pub, r->record, sizeof(r->record)) != 0) {
        snprintf(why, wcap, "the new key's record does not fit");
        return -1;
    }
    return 0;
}

/* GENERATING -> GENERATED on the effect's rc, or stopped there. */
static int generated(machine *m, int rc, const char *effect, const char *why,
                     kw_diag *d)
{
    if (rc != 0)
        return stop(m, why, d);
    return set_state(m, KW_DKIM_ST_GENERATED, NULL, effect, m->r->record,
                     NULL, d);
}

/* GENERATING -> GENERATED: the key file, then the stage. */
static int do_generate(machine *m, kw_diag *d)
{
    char effect[1400], why[1400];
    int rc = generate_effect(m, effect, sizeof(effect), why, sizeof(why));

    return generated(m, rc, effect, why, d);
}

static const char *how(const kw_dkim_rot_params *p, char *buf, size_t cap)
{
    switch (p->publish) {
    case KW_DKIM_PUBLISH_EXEC:
        snprintf(buf, cap, "dns_exec %s", p->dns_exec[0]);
        break;
    case KW_DKIM_PUBLISH_MANUAL:
        snprintf(buf, cap, "the operator (publish = manual)");
        break;
    default:
        snprintf(buf, cap, "an RFC 2136 UPDATE to %s%s%s", p->dns_server,
                 p->tsig_key != NULL ? " signed with TSIG key " : "",
                 p->tsig_key != NULL ? p->tsig_key : "");
    }
    return buf;
}

/* PUBLISHING's effect: the record sent (nothing for publish = manual);
 * rc and the words in sub.  May run on a batch's thread: it writes
 * nothing but sub. */
static int publish_effect(const machine *m, kw_diag *sub)
{
    char name[NAME_MAX_LEN];
    int rc;

    if (m->p->publish == KW_DKIM_PUBLISH_MANUAL)
        return 0;
    dkim_name(m->r->selector, m->r->domain, name, sizeof(name));
    rc = m->dns->update(m->dns->ctx, m->p, 1, name, m->r->record, sub);
    die_point("update-sent");
    return rc;
}

/* PUBLISHING -> PUBLISHED on the effect's rc (its words in sent), or
 * stopped at PUBLISHING. */
static int published(machine *m, int rc, const kw_diag *sent, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    char name[NAME_MAX_LEN], way[600], why[1400];

    dkim_name(r->selector, r->domain, name, sizeof(name));
    if (m->p->publish == KW_DKIM_PUBLISH_MANUAL) {
        snprintf(m->out->manual_name, sizeof(m->out->manual_name), "%s",
                 name);
        return set_state(m, KW_DKIM_ST_PUBLISHED, NULL,
                         "handed to the operator", NULL, NULL, d);
    }
    if (rc != 0) {
        snprintf(why, sizeof(why), "publishing %s: %s", name, sent->msg);
        return stop(m, why, d);
    }
    return set_state(m, KW_DKIM_ST_PUBLISHED, NULL,
                     how(m->p, way, sizeof(way)),
                     m->p->publish == KW_DKIM_PUBLISH_UPDATE
                         ? (m->p->tsig_key != NULL
                                ? "NOERROR, the answer's TSIG verified"
                                : "NOERROR (unsigned: no tsig_key)")
                         : "dns_exec exited 0",
                     NULL, d);
}

/* PUBLISHING -> PUBLISHED.  Resumed, the same add is sent again. */
static int do_publish(machine *m, kw_diag *d)
{
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    rc = publish_effect(m, &sub);
    return published(m, rc, &sub, d);
}

/* PUBLISHED -> VISIBLE on the check's verdict rc (its words in seen:
 * why not, or a note), and the propagation wait computed. */
static int visible_seen(machine *m, int rc, const kw_diag *seen, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    char name[NAME_MAX_LEN], what[KS_DKIM_ROT_TEXT_MAX], why[1400], until[40];
    char result[600], effect[700];
    int64_t neg = 0, wait;
    kw_diag sub;

    sub.msg[0] = '\0';
    dkim_name(r->selector, r->domain, name, sizeof(name));
    if (rc == KW_ETIMEDOUT) {
        snprintf(what, sizeof(what), "every authoritative server to serve "
                 "%s: %s", name, seen->msg);
        return wait_for(m, 0, what, d);
    }
    if (rc != 0) {
        snprintf(why, sizeof(why), "checking %s on the authoritative "
                 "servers: %s", name, seen->msg);
        return stop(m, why, d);
    }
    snprintf(effect, sizeof(effect), "every authoritative server serves "
             "the record%s%.600s", seen->msg[0] != '\0' ? "; " : "",
             seen->msg);
    if ((rc = m->dns->negative_ttl(m->dns->ctx, m->p, &neg, &sub)) != 0) {
        snprintf(why, sizeof(why), "reading the zone's SOA: %s", sub.msg);
        return stop(m, why, d);
    }
    wait = (neg > m->p->ttl ? neg : m->p->ttl) + m->p->margin;
    r->wait_until = m->now + wait;
    fmt_time(r->wait_until, until, sizeof(until));
    snprintf(result, sizeof(result), "propagation wait %llds (negative TTL "
             "%llds, record TTL %ds, margin %llds): until %s",
             (long long)wait, (long long)neg, m->p->ttl,
             (long long)m->p->margin, until);
    rc = set_state(m, KW_DKIM_ST_VISIBLE, NULL, effect, result, NULL, d);
    if (rc == 0) {
        r->wait_until = m->now + wait;
        snprintf(what, sizeof(what), "propagation: waits until %s", until);
        rc = wait_for(m, r->wait_until, what, d);
        m->out->waiting = 0;
    }
    return rc;
}

/* PUBLISHED -> VISIBLE, the check waiting up to the timeout. */
static int do_visible(machine *m, kw_diag *d)
{
    char name[NAME_MAX_LEN];
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    dkim_name(m->r->selector, m->r->domain, name, sizeof(name));
    rc = m->dns->visible(m->dns->ctx, m->p, name, m->r->record, &sub);
    return visible_seen(m, rc, &sub, d);
}

/* The old key's file, from the rotation that made it ("" unknown). */
static int old_key_path(machine *m, char *buf, size_t cap, kw_diag *d)
{
    ks_dkim_rot *v;
    size_t n, i;
    int rc;

    buf[0] = '\0';
    if ((rc = ks_dkim_rot_list(m->s, m->r->domain, &v, &n, d)) != 0)
        return rc;
    for (i = 0; i < n; i++)
        if (strcmp(v[i].selector, m->r->old_selector) == 0)
            snprintf(buf, cap, "%s", v[i].key_path);
    free(v);
    return 0;
}

/* A private key file archived (KEY_DIR/archive/, 0700) or deleted, as
 * old_key = says; which ("old", "new") names it in *effect. */
static int dispose_key(machine *m, const char *path, const char *which,
                       char *effect, size_t cap, kw_diag *d)
{
    char dir[1100], dst[2200];
    const char *base;

    if (path[0] == '\0' || access(path, F_OK) != 0) {
        snprintf(effect, cap, "%s key file %s not found (disposed of before "
                 "a restart, or kept by another tool?)", which,
                 path[0] != '\0' ? path : "(unknown)");
        return 0;
    }
    if (m->p->delete_old_key) {
        if (unlink(path) != 0)
            return kw_diag_set(d, kw_errno(), "deleting %s: %s", path,
                               strerror(errno));
        snprintf(effect, cap, "deleted %s", path);
        return 0;
    }
    base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    snprintf(dir, sizeof(dir), "%s/archive", m->p->key_dir);
    if (kw_mkdir_p(dir, 0700) != 0)
        return kw_diag_set(d, kw_errno(), "creating %s: %s", dir,
                           strerror(errno));
    snprintf(dst, sizeof(dst), "%s/%s", dir, base);
    if (rename(path, dst) != 0)
        return kw_diag_set(d, kw_errno(), "archiving %s to %s: %s", path,
                           dst, strerror(errno));
    snprintf(effect, cap, "archived %s to %s", path, dst);
    return 0;
}

#define REVOKED_RECORD "v=DKIM1; p="

/*
 * The TXT value at name taken out of DNS (revoke: replaced by an empty
 * p=), then seen so on every authoritative server.  With publish = manual
 * the operator takes it out and this only looks.  die names the test
 * seam after the update.  *done 1 when every server agrees; else the
 * rotation now waits or stopped (m->out says which).
 */
static int withdraw(machine *m, const char *name, const char *value,
                    int revoke, const char *die, int *done, kw_diag *d)
{
    const char *want = revoke ? REVOKED_RECORD : NULL;
    char why[1400], what[KS_DKIM_ROT_TEXT_MAX];
    int manual = m->p->publish == KW_DKIM_PUBLISH_MANUAL, rc = 0;
    kw_diag sub;

    *done = 0;
    sub.msg[0] = '\0';
    if (!manual) {
        rc = m->dns->update(m->dns->ctx, m->p, 0, name, value, &sub);
        if (rc == 0 && revoke)
            rc = m->dns->update(m->dns->ctx, m->p, 1, name, REVOKED_RECORD,
                                &sub);
        die_point(die);
        if (rc != 0) {
            snprintf(why, sizeof(why), "%s %s: %s",
                     revoke ? "revoking" : "removing", name, sub.msg);
            return stop(m, why, d);
        }
    }
    rc = m->dns->visible(m->dns->ctx, m->p, name, want, &sub);
    if (rc == KW_ETIMEDOUT) {
        snprintf(what, sizeof(what), "%s%s%s on every authoritative server: "
                 "%s", manual ? "the operator (publish = manual) to take "
                 "out the TXT record; " : "", name,
                 revoke ? " to serve an empty p=" : " to be gone", sub.msg);
        return wait_for(m, 0, what, d);
    }
    if (rc != 0) {
        snprintf(why, sizeof(why), "checking %s on the authoritative "
                 "servers: %s", name, sub.msg);
        return stop(m, why, d);
    }
    *done = 1;
    return 0;
}

/* REMOVING -> REMOVED/REVOKED: the old record removed (or p= emptied),
 * seen so on every authoritative server, the old key disposed of. */
static int do_remove(machine *m, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    int revoke = m->p->retire_revoke, done, rc;
    char name[NAME_MAX_LEN], path[1024], effect[2400];
    kw_diag sub;

    sub.msg[0] = '\0';
    dkim_name(r->old_selector, r->domain, name, sizeof(name));
    if ((rc = withdraw(m, name, r->old_record, revoke, "removal-sent", &done,
                       d)) != 0 || !done)
        return rc;
    if ((rc = old_key_path(m, path, sizeof(path), d)) != 0)
        return rc;
    if ((rc = dispose_key(m, path, "old", effect, sizeof(effect), &sub)) != 0)
        return stop(m, sub.msg, d);
    return set_state(m, revoke ? KW_DKIM_ST_REVOKED : KW_DKIM_ST_REMOVED,
                     NULL, effect,
                     revoke ? "every authoritative server serves p= empty"
                            : "no authoritative server serves the old "
                              "record",
                     NULL, d);
}

/* Did the rotation ever enter stage?  Its journal says. */
static int reached(machine *m, kw_dkim_stage stage, int *yes, kw_diag *d)
{
    ks_dkim_rot_step *j;
    size_t n, i;
    int rc;

    *yes = 0;
    if ((rc = ks_dkim_rot_journal(m->s, m->r->id, &j, &n, d)) != 0)
        return rc;
    for (i = 0; i < n; i++)
        if (strcmp(j[i].new_stage, kw_dkim_stage_name(stage)) == 0)
            *yes = 1;
    free(j);
    return 0;
}

/* ABORTING -> ABORTED: the new record taken out of DNS when it was or may
 * have been sent (the journal shows PUBLISHING), seen gone on every
 * authoritative server, the new key disposed of.  The old key kept
 * signing throughout: ABORTING is entered only before ACTIVE. */
static int do_abort(machine *m, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    char name[NAME_MAX_LEN], effect[2400], result[800], gone[400];
    int sent, done, rc;
    kw_diag sub;

    sub.msg[0] = '\0';
    if ((rc = reached(m, KW_DKIM_ST_PUBLISHING, &sent, d)) != 0)
        return rc;
    dkim_name(r->selector, r->domain, name, sizeof(name));
    if (sent && ((rc = withdraw(m, name, r->record, 0, "abort-sent", &done,
                                d)) != 0 || !done))
        return rc;
    if ((rc = dispose_key(m, r->key_path, "new", effect, sizeof(effect),
                          &sub)) != 0)
        return stop(m, sub.msg, d);
    if (sent)
        snprintf(gone, sizeof(gone), "no authoritative server serves %s",
                 name);
    else
        snprintf(gone, sizeof(gone), "the record was never sent");
    snprintf(result, sizeof(result), "%s; %s%s keeps signing; selector %s "
             "stays used", gone, r->old_selector[0] != '\0'
             ? "old selector " : "the key that signed before",
             r->old_selector, r->selector);
    return set_state(m, KW_DKIM_ST_ABORTED, NULL, effect, result, NULL, d);
}

static const char *signer_word(int kind)
{
    return kind == KW_DKIM_SIGNER_OPENDKIM ? "opendkim"
           : kind == KW_DKIM_SIGNER_RSPAMD ? "rspamd"
                                           : "signer_exec";
}

/* The signer's files of p, borrowed from it. */
static void signer_conf_of(const kw_dkim_rot_params *p,
                           kw_dkim_signer_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->kind = (kw_dkim_signer_kind)p->signer;
    c->opendkim_conf = p->opendkim_conf;
    c->selector_map = p->selector_map;
    c->path_map = p->path_map;
    c->rspamd_conf = p->rspamd_conf;
    c->argv = (const char *const *)p->signer_exec;
}

/* The switch's intent, journalled at PROPAGATED before the files change. */
static int activate_intent(machine *m, kw_diag *d)
{
    char intent[1400];

    snprintf(intent, sizeof(intent), "switch %s to selector %s (%s)",
             signer_word(m->p->signer), m->r->selector, m->r->key_path);
    return set_state(m, KW_DKIM_ST_PROPAGATED, intent, NULL, NULL, NULL, d);
}

/* After the switch (rc, its words in err): stopped at PROPAGATED, or
 * ACTIVE with dkim.activated in the same transaction. */
static int activated(machine *m, int rc, const kw_dkim_switch_result *res,
                     const char *err, kw_diag *d)
{
    char why[1400], effect[200];

    if (rc != 0) {
        snprintf(why, sizeof(why), "switching the signer: %s", err);
        return stop(m, why, d);
    }
    snprintf(effect, sizeof(effect), "%s switched%s",
             signer_word(m->p->signer),
             res->changed ? "" : " (it already named the new key)");
    return set_state_ev(m, KW_DKIM_ST_ACTIVE, NULL, effect,
                        res->reload ? "dkim.activated emitted: the hooks' "
                                      "reload makes the signer read it"
                                    : "dkim.activated emitted",
                        NULL, "dkim.activated", d);
}

/* PROPAGATED -> ACTIVE: the signer's files switched to the new key
 * (dkim_signer.h puts the previous ones back when its check refuses the
 * new), dkim.activated emitted in the same transaction as the stage, so
 * the hooks' reload runs.  The intent is journalled first; a resumed
 * switch rewrites the files to what they already hold. */
static int do_activate(machine *m, kw_diag *d)
{
    kw_dkim_signer_conf c;
    kw_dkim_switch_result res;
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    memset(&res, 0, sizeof(res));
    signer_conf_of(m->p, &c);
    if ((rc = activate_intent(m, d)) != 0)
        return rc;
    rc = kw_dkim_signer_switch(&c, m->r->domain, m->r->selector,
                               m->r->key_path, &res, &sub);
    die_point("signer-switched");
    return activated(m, rc, &res, sub.msg, d);
}

/* How the key a rotation replaces is named: the old selector when it was
 * keywarden's, else the key that signed before (made by hand, not
 * keywarden's to remove). */
static const char *old_word(const ks_dkim_rot *r)
{
    return r->old_selector[0] != '\0' ? "old selector "
                                       : "the key that signed before";
}

/*
 * ACTIVE -> RETIRED needs evidence that the running signer signs with the
 * new key (invariant 2).  opendkim and rspamd read their files only when
 * reloaded, and the reload is a [hook] on dkim.activated: the evidence is
 * that the hooks' dispatch passed this rotation's event, at least one
 * hook took it, and every delivery of it ended in a successful run.  For
 * signer = exec the program's exit 0 at the switch is the evidence (it
 * does what its signer needs, reload included: dkim_signer.h).  Without
 * evidence the rotation waits at ACTIVE saying why; a delivery that
 * failed for good, or no evidence within RELOAD_BOUND, stops it there
 * with the old record untouched.  On success *effect says what was seen.
 */
static int await_reload(machine *m, char *effect, size_t cap, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    ks_dkim_rot_hooks h;
    char why[KS_DKIM_ROT_TEXT_MAX], until[40];
    int rc;

    if (m->p->signer != KW_DKIM_SIGNER_OPENDKIM &&
        m->p->signer != KW_DKIM_SIGNER_RSPAMD) {
        snprintf(effect, cap, "%s%s no longer signs (%s succeeded)",
                 old_word(r), r->old_selector, signer_word(m->p->signer));
        return 0;
    }
    if ((rc = ks_dkim_rot_hooks_of(m->s, "dkim.activated", r->domain,
                                   r->selector, &h, d)) != 0)
        return rc;
    if (h.event_id == 0)
        snprintf(why, sizeof(why), "the signer's reload: no dkim.activated "
                 "event names %s %s; run `keywarden dkim abort %s` or "
                 "reload %s by hand and retry", r->domain, r->selector,
                 r->domain, signer_word(m->p->signer));
    else if (!h.dispatched)
        snprintf(why, sizeof(why), "the signer's reload: the hooks have not "
                 "taken dkim.activated (event %lld) yet",
                 (long long)h.event_id);
    else if (h.total == 0)
        snprintf(why, sizeof(why), "the signer's reload: no [hook] reloads "
                 "the signer on dkim.activated (event %lld); add one "
                 "(reload = %s) or the old key keeps signing",
                 (long long)h.event_id, signer_word(m->p->signer));
    else if (h.failed > 0)
        snprintf(why, sizeof(why), "the signer's reload: hook %s failed on "
                 "dkim.activated (event %lld): %s; %s may still sign with "
                 "%s, whose record stays; fix it, then `keywarden hooks "
                 "retry %s`", h.hook, (long long)h.event_id,
                 h.last_error[0] != '\0' ? h.last_error : "no reason given",
                 signer_word(m->p->signer),
                 r->old_selector[0] != '\0' ? r->old_selector
                                             : "the key it used before",
                 h.hook);
    else if (h.open > 0)
        snprintf(why, sizeof(why), "the signer's reload: %d of %d hook "
                 "deliveries of dkim.activated (event %lld) done%s%s%s",
                 h.ok, h.total, (long long)h.event_id,
                 h.last_error[0] != '\0' ? "; hook " : "", h.last_error[0]
                 != '\0' ? h.hook : "", h.last_error[0] != '\0'
                 ? " is retrying" : "");
    else {
        snprintf(effect, cap, "%s%s no longer signs (%d reload hook%s on "
                 "dkim.activated succeeded)", old_word(r), r->old_selector,
                 h.ok, h.ok == 1 ? "" : "s");
        return 0;
    }
    if (h.failed > 0 || h.event_id == 0 ||
        m->now >= r->since + RELOAD_BOUND) {
        char msg[KS_DKIM_ROT_TEXT_MAX];

        fmt_time(r->since, until, sizeof(until));
        snprintf(msg, sizeof(msg), "%.900s (active since %s)", why, until);
        return stop(m, msg, d);
    }
    fmt_time(r->since + RELOAD_BOUND, until, sizeof(until));
    snprintf(effect, cap, "%.900s; stops at %s", why, until);
    return wait_for(m, r->since + RELOAD_BOUND, effect, d);
}

/*
 * ACTIVE -> RETIRED also needs the result seen: the signer's files, read
 * back as the inventory reads them (dkim_source.h: OpenDKIM's KeyTable
 * and SigningTable through opendkim.conf, rspamd's selector and path
 * maps), must make the new selector the domain's only signing one, with
 * a key whose public half is the record published.  signer = exec
 * writes what keywarden cannot read; its exit 0 stands.  *why "" when
 * seen; else it names the file and what it says.
 */
/* The signer's files read into src as the inventory reads them; the
 * file named first, or NULL for a signer whose files keywarden does not
 * know (exec, none). */
static const char *read_signer(const kw_dkim_rot_params *p,
                               kw_dkim_sources *src, int *rc)
{
    memset(src, 0, sizeof(*src));
    *rc = 0;
    if (p->signer == KW_DKIM_SIGNER_OPENDKIM) {
        *rc = kw_dkim_read_opendkim(p->opendkim_conf != NULL
                                        ? p->opendkim_conf
                                        : KW_DKIM_OPENDKIM_CONF,
                                    src);
        return p->opendkim_conf != NULL ? p->opendkim_conf
                                        : KW_DKIM_OPENDKIM_CONF;
    }
    if (p->signer == KW_DKIM_SIGNER_RSPAMD && p->selector_map != NULL) {
        *rc = kw_dkim_read_rspamd_maps(p->selector_map, p->path_map, src);
        return p->selector_map;
    }
    return NULL;
}

static void verify_switch(machine *m, char *why, size_t cap)
{
    ks_dkim_rot *r = m->r;
    const kw_dkim_sel *got = NULL;
    kw_dkim_sources src;
    char rec[KS_DKIM_ROT_RECORD_MAX];
    const char *files;
    kw_dkim_pub pub;
    kw_diag sub;
    size_t i;
    int rc;

    why[0] = '\0';
    if ((files = read_signer(m->p, &src, &rc)) == NULL)
        return;
    if (rc != 0)
        snprintf(why, cap, "reading %.400s: %s", files, kw_strerror(rc));
    else if (src.nfailed > 0)
        snprintf(why, cap, "%.600s", src.failed[0].why);
    for (i = 0; why[0] == '\0' && i < src.n; i++) {
        const kw_dkim_sel *v = &src.sel[i];

        if (strcasecmp(v->domain, r->domain) != 0 ||
            v->role != KW_DKIM_ROLE_SIGNING)
            continue;
        if (strcmp(v->selector, r->selector) != 0)
            snprintf(why, cap, "%.400s: %.200s still signs with selector "
                     "%s, not %s", v->source, r->domain, v->selector, r->selector);
        else
            got = v;
    }
    if (why[0] == '\0' && got == NULL)
        snprintf(why, cap, "%.400s: nothing signs %.200s with selector "
                 "%s%s%.300s",
                 files, r->domain, r->selector, src.nnotes > 0 ? "; " : "",
                 src.nnotes > 0 ? src.notes[0] : "");
    else if (why[0] == '\0' && got->key[0] != '\0') {
        /* A key found by rspamd's path template (no path_map) is not
         * known here; the selector was. */
        sub.msg[0] = '\0';
        if (kw_dkim_key_load(got->key, &pub, &sub) != 0)
            snprintf(why, cap, "%.400s: the key of selector %s: %.500s",
                     got->source, r->selector, sub.msg);
        else if (kw_dkim_pub_record(&pub, rec, sizeof(rec)) != 0 ||
                 strcmp(rec, r->record) != 0)
            snprintf(why, cap, "%.400s: %.400s, the key of selector %s, is "
                     "not the "
                     "key whose record was published (its public half "
                     "differs)", got->source, got->key, r->selector);
    }
    kw_dkim_sources_free(&src);
}

/* One step from the current stage; *more 0 when it must wait. */
static int step(machine *m, int *more, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    char what[KS_DKIM_ROT_TEXT_MAX], until[40], intent[1400], name[320];
    char why[1200];
    kw_dkim_stage st = kw_dkim_stage_parse(r->stage);
    int before = m->out->changes, rc = 0;

    switch (st) {
    case KW_DKIM_ST_GENERATING: rc = do_generate(m, d); break;
    case KW_DKIM_ST_GENERATED:
        dkim_name(r->selector, r->domain, name, sizeof(name));
        snprintf(intent, sizeof(intent), "add TXT %s \"%.200s...\"", name,
                 r->record);
        rc = set_state(m, KW_DKIM_ST_PUBLISHING, intent, NULL, NULL, NULL,
                       d);
        break;
    case KW_DKIM_ST_PUBLISHING: rc = do_publish(m, d); break;
    case KW_DKIM_ST_PUBLISHED: rc = do_visible(m, d); break;
    case KW_DKIM_ST_VISIBLE:
        if (m->now < r->wait_until) {
            fmt_time(r->wait_until, until, sizeof(until));
            snprintf(what, sizeof(what), "propagation: waits until %s",
                     until);
            rc = wait_for(m, r->wait_until, what, d);
        } else
            rc = set_state(m, KW_DKIM_ST_PROPAGATED, NULL, NULL,
                           "no resolver can still hold a negative answer "
                           "for the new name",
                           NULL, d);
        break;
    case KW_DKIM_ST_PROPAGATED:
        if (m->p->signer == 0) {
            /* No signer to switch: the new key waits, ready, and the
             * old one keeps signing. */
            rc = wait_for(m, 0, "the signer switch: no signer = in this "
                          "[dkim] section; the new key is published and "
                          "propagated, the old key keeps signing", d);
            break;
        }
        rc = do_activate(m, d);
        break;
    case KW_DKIM_ST_ACTIVE:
        rc = await_reload(m, what, sizeof(what), d);
        if (rc != 0 || m->out->waiting || m->out->stopped)
            break;
        verify_switch(m, why, sizeof(why));
        if (why[0] != '\0') {
            snprintf(intent, sizeof(intent), "verifying the switch: %.1200s; "
                     "the old record stays", why);
            rc = stop(m, intent, d);
            break;
        }
        die_point("reload-seen");
        rc = set_state(m, KW_DKIM_ST_RETIRED, NULL, what,
                       m->p->signer == KW_DKIM_SIGNER_EXEC
                           ? NULL
                           : "the signer's files name the new selector and "
                             "its key is the one published",
                       NULL, d);
        if (rc == 0 && r->old_selector[0] != '\0') {
            r->wait_until = m->now + m->p->drain;
            fmt_time(r->wait_until, until, sizeof(until));
            snprintf(what, sizeof(what), "drain: the old record stays until "
                     "%s", until);
            rc = wait_for(m, r->wait_until, what, d);
            m->out->waiting = 0;
        }
        break;
    case KW_DKIM_ST_RETIRED:
        if (r->old_selector[0] == '\0') {
            /* A first rotation: the key it replaced was not keywarden's,
             * so its record is the operator's to remove. */
            *more = 0;
            return 0;
        }
        if (m->now < r->since + m->p->drain) {
            fmt_time(r->since + m->p->drain, until, sizeof(until));
            snprintf(what, sizeof(what), "drain: the old record stays until "
                     "%s", until);
            rc = wait_for(m, r->since + m->p->drain, what, d);
            break;
        }
        dkim_name(r->old_selector, r->domain, name, sizeof(name));
        snprintf(intent, sizeof(intent), "%s TXT %s",
                 m->p->retire_revoke ? "empty p= of" : "remove", name);
        rc = set_state(m, KW_DKIM_ST_REMOVING, intent, NULL, NULL, NULL, d);
        break;
    case KW_DKIM_ST_REMOVING: rc = do_remove(m, d); break;
    case KW_DKIM_ST_ABORTING: rc = do_abort(m, d); break;
    default: *more = 0; return 0;
    }
    *more = rc == 0 && !m->out->stopped && !m->out->waiting &&
            m->out->changes > before;
    return rc;
}

static int finished(const ks_dkim_rot *r)
{
    kw_dkim_stage st = kw_dkim_stage_parse(r->stage);

    return st == KW_DKIM_ST_REMOVED || st == KW_DKIM_ST_REVOKED ||
           st == KW_DKIM_ST_ABORTED ||
           (st == KW_DKIM_ST_RETIRED && r->old_selector[0] == '\0');
}

/* The start of a call for one domain: the machine set up, a rotation
 * started when one is due; *go 0 when there is nothing to do now (out
 * says why). */
static int begin(machine *m, ks_store *s, const kw_dkim_rot_params *p,
                 const kw_dkim_rot_dns *dns, int flags, int64_t now,
                 kw_dkim_rot_out *out, int *go, kw_diag *d)
{
    ks_dkim_rot prev;
    int found, rc;

    *go = 0;
    machine_init(m, s, p, dns, now, out);
    if ((rc = ks_dkim_rot_latest(s, p->domain, &prev, &found, d)) != 0)
        return rc;
    if (!found || finished(&prev)) {
        int64_t due = found ? prev.started_at + p->rotate : now;

        if (!(flags & KW_DKIM_ROT_START) && now < due) {
            char until[40];

            out->rot = prev;
            out->waiting = 1;
            out->rot.wait_until = due;
            fmt_time(due, until, sizeof(until));
            snprintf(out->rot.waits_for, sizeof(out->rot.waits_for),
                     "the next rotation, due %s", until);
            return 0;
        }
        /* The key being replaced is the one the last rotation left
         * signing. */
        rc = start(m, found ? &prev : NULL, d);
        if (rc != 0)
            return rc;
    } else {
        out->rot = prev;
        if (prev.stopped[0] != '\0' && !(flags & KW_DKIM_ROT_RETRY) &&
            now < prev.wait_until) {
            out->stopped = 1;
            return 0;
        }
    }
    *go = 1;
    return 0;
}

int kw_dkim_rotate_run(ks_store *s, const kw_dkim_rot_params *p,
                       const kw_dkim_rot_dns *dns, int flags, int64_t now,
                       kw_dkim_rot_out *out, kw_diag *d)
{
    machine m;
    int more, rc, i, go, round, total = 0;

    /* Two rounds at most: a rotation that finishes in this call (a first
     * one retired once its reload is proven) lets the next one start in
     * the same call when it is due, as it would have had it finished
     * earlier. */
    for (round = 0; round < 2; round++) {
        if ((rc = begin(&m, s, p, dns, round == 0 ? flags : 0, now, out,
                        &go, d)) != 0)
            return rc;
        if (!go)
            break;
        for (i = 0, more = 1; more && i < MAX_CHANGES; i++)
            if ((rc = step(&m, &more, d)) != 0)
                return rc;
        total += out->changes;
        if (out->changes == 0 || !finished(&out->rot))
            break;
    }
    out->changes = total;
    return 0;
}

/* The managed section of domain among params' (NULL: KW_ENOTFOUND in d). */
static const kw_dkim_rot_params *section_of(const struct kw_dkim_params *params,
                                            const char *domain, kw_diag *d)
{
    size_t i;

    for (i = 0; i < params->nrot; i++)
        if (strcasecmp(params->rot[i].domain, domain) == 0)
            return &params->rot[i];
    kw_diag_set(d, KW_ENOTFOUND, "%s: no [dkim \"%s\"] section with "
                "rotate = in the configuration", domain, domain);
    return NULL;
}

int kw_dkim_rotate_step(ks_store *s, const struct kw_dkim_params *params,
                        const char *domain, int flags, int64_t now,
                        kw_dkim_rot_out *out, kw_diag *d)
{
    const kw_dkim_rot_params *p = section_of(params, domain, d);

    return p == NULL ? KW_ENOTFOUND
                     : kw_dkim_rotate_run(s, p, NULL, flags, now, out, d);
}

/* ---- abort --------------------------------------------------------- */

/* Was the signer switch to the new key begun and never finished (the
 * intent at PROPAGATED journalled, no result after it: a run killed
 * mid-switch)?  Then the signer's files may name the new key. */
static int switch_interrupted(machine *m, int *yes, kw_diag *d)
{
    ks_dkim_rot_step *j;
    size_t n;
    int rc;

    *yes = 0;
    if (kw_dkim_stage_parse(m->r->stage) != KW_DKIM_ST_PROPAGATED ||
        m->r->stopped[0] != '\0')
        return 0;
    if ((rc = ks_dkim_rot_journal(m->s, m->r->id, &j, &n, d)) != 0)
        return rc;
    *yes = n > 0 && j[n - 1].intent[0] != '\0' &&
           strcmp(j[n - 1].new_stage, "propagated") == 0;
    free(j);
    return 0;
}

/* Do the signer's files name the new selector for the domain?  1 yes,
 * 0 no, -1 not known (signer = exec, or the files cannot be read). */
static int signer_names_new(machine *m)
{
    kw_dkim_sources src;
    size_t i;
    int rc, yes = 0;

    if (read_signer(m->p, &src, &rc) == NULL)
        return -1;
    if (rc != 0 || src.nfailed > 0)
        yes = -1;
    for (i = 0; yes == 0 && i < src.n; i++)
        yes = strcasecmp(src.sel[i].domain, m->r->domain) == 0 &&
              src.sel[i].role == KW_DKIM_ROLE_SIGNING &&
              strcmp(src.sel[i].selector, m->r->selector) == 0;
    kw_dkim_sources_free(&src);
    return yes;
}

int kw_dkim_rotate_abort_run(ks_store *s, const kw_dkim_rot_params *p,
                             const kw_dkim_rot_dns *dns, int64_t now,
                             kw_dkim_rot_out *out, kw_diag *d)
{
    ks_dkim_rot *r = &out->rot;
    kw_dkim_stage st;
    char intent[1400], name[NAME_MAX_LEN];
    machine m;
    int found, more = 1, rc, i, begun;

    machine_init(&m, s, p, dns, now, out);
    if ((rc = ks_dkim_rot_latest(s, p->domain, r, &found, d)) != 0)
        return rc;
    st = found ? kw_dkim_stage_parse(r->stage) : KW_DKIM_ST_NONE;
    if (st >= KW_DKIM_ST_ACTIVE && st <= KW_DKIM_ST_REMOVING)
        return kw_diag_set(d, KW_EINVAL, "dkim abort %s: the rotation to "
                           "selector %s is %s: the signer was switched to "
                           "the new key, which may sign mail now, so its "
                           "record must stay; let this rotation finish, "
                           "or start the next with `keywarden dkim rotate "
                           "%s` once it has", p->domain, r->selector,
                           r->stage, p->domain);
    if (!found || finished(r))
        return kw_diag_set(d, KW_ENOTFOUND, "dkim abort %s: no rotation "
                           "runs%s%s%s%s%s", p->domain,
                           found ? " (the last, to selector " : "",
                           found ? r->selector : "", found ? ", is " : "",
                           found ? r->stage : "", found ? ")" : "");
    if ((rc = switch_interrupted(&m, &begun, d)) != 0)
        return rc;
    if (begun && signer_names_new(&m) == 0)
        begun = 0;
    if (begun)
        return kw_diag_set(d, KW_EINVAL, "dkim abort %s: a switch of the "
                           "signer to selector %s was begun and not "
                           "finished (a run was stopped mid-switch), so the "
                           "new key may sign mail and its record must "
                           "stay; run `keywarden dkim rotate %s` to finish "
                           "the switch", p->domain, r->selector, p->domain);
    if (st != KW_DKIM_ST_ABORTING) {
        dkim_name(r->selector, r->domain, name, sizeof(name));
        snprintf(intent, sizeof(intent), "abort at %s: %s%s, then %s %.900s",
                 r->stage, st >= KW_DKIM_ST_PUBLISHING ? "remove TXT " : "",
                 st >= KW_DKIM_ST_PUBLISHING ? name : "nothing published",
                 p->delete_old_key ? "delete" : "archive", r->key_path);
        if ((rc = set_state(&m, KW_DKIM_ST_ABORTING, intent, NULL, NULL,
                            NULL, d)) != 0)
            return rc;
    }
    for (i = 0; more && i < MAX_CHANGES; i++)
        if ((rc = step(&m, &more, d)) != 0)
            return rc;
    return 0;
}

int kw_dkim_rotate_abort(ks_store *s, const struct kw_dkim_params *params,
                         const char *domain, int64_t now,
                         kw_dkim_rot_out *out, kw_diag *d)
{
    const kw_dkim_rot_params *p = section_of(params, domain, d);

    return p == NULL ? KW_ENOTFOUND
                     : kw_dkim_rotate_abort_run(s, p, NULL, now, out, d);
}

/* ---- health -------------------------------------------------------- */

/* A DNS wait with no time bound (a server that does not serve what it
 * should) becomes a warning after this long. */
#define STUCK_AFTER 86400
/* Critical this long before the key that signs reaches max_age. */
#define AGE_MARGIN (7 * 86400)

/*
 * A managed domain's health, from its newest rotation r alone:
 *   none yet        OK; the first starts at the next run (next_rotation
 *                   and next_step: now).
 *   finished        REMOVED, REVOKED, ACTIVE replacing no key, ABORTED:
 *                   OK; next_rotation = next_step = started_at + rotate
 *                   (for ABORTED too: an abort postpones the next key by
 *                   one period, `dkim rotate` starts one sooner).
 *   stopped         WARNING naming the stage, the reason, the failures in
 *                   a row and the next retry; next_step = that retry.
 *   stuck           waiting for DNS (PUBLISHED, REMOVING, ABORTING) with
 *                   no time bound since STUCK_AFTER or longer: WARNING.
 *   waiting, other  OK, the reason saying what for; next_step =
 *                   wait_until, or now when it waits for no time.
 * Stopped, stuck or ABORTED while the old key still signs (every stage
 * before RETIRED, ABORTING, ABORTED) turns CRITICAL when that key nears
 * the end of its life: now >= old_started_at + max_age - AGE_MARGIN when
 * both are known; otherwise, for a stopped or stuck rotation, when it is
 * a whole `rotate` late (now >= started_at + rotate: the next would be
 * due).
 */
void kw_dkim_rot_health_of(const ks_dkim_rot *r, int found,
                           const kw_dkim_rot_params *p, int64_t now,
                           kw_dkim_rot_health *h)
{
    kw_dkim_stage st;
    char at[40], next[40], old[120];
    int stuck, old_signs, late = 0;
    int64_t end = 0;

    memset(h, 0, sizeof(*h));
    h->health = KS_HEALTH_OK;
    if (!found) {
        h->next_rotation = h->next_step = now;
        snprintf(h->reason, sizeof(h->reason), "no rotation yet: the first "
                 "starts at the next run");
        return;
    }
    st = kw_dkim_stage_parse(r->stage);
    h->next_rotation = r->started_at + p->rotate;
    fmt_time(r->since, at, sizeof(at));
    fmt_time(h->next_rotation, next, sizeof(next));
    if (r->old_selector[0] != '\0')
        snprintf(old, sizeof(old), "old selector %s", r->old_selector);
    else
        snprintf(old, sizeof(old), "the key that signed before");
    old_signs = st < KW_DKIM_ST_RETIRED || st == KW_DKIM_ST_ABORTING ||
                st == KW_DKIM_ST_ABORTED;
    if (finished(r)) {
        h->next_step = h->next_rotation;
        if (st == KW_DKIM_ST_ABORTED)
            snprintf(h->reason, sizeof(h->reason), "the rotation to %s was "
                     "aborted at %s; %s keeps signing; the next rotation "
                     "is due %s", r->selector, at, old, next);
    } else if (r->stopped[0] != '\0') {
        fmt_time(r->wait_until, next, sizeof(next));
        h->health = KS_HEALTH_WARNING;
        h->next_step = r->wait_until;
        snprintf(h->reason, sizeof(h->reason), "the rotation to %s stopped "
                 "at %s (since %s): %.300s; %d failed attempt%s, next "
                 "try %s", r->selector, r->stage, at, r->stopped,
                 r->failures, r->failures == 1 ? "" : "s", next);
        snprintf(h->fix, sizeof(h->fix), "fix the cause, then `keywarden "
                 "dkim rotate %.120s` retries now%s", r->domain,
                 st < KW_DKIM_ST_ACTIVE ? "; `keywarden dkim abort` takes "
                 "it back" : "");
        late = 1;
    } else {
        stuck = r->wait_until == 0 && now - r->since >= STUCK_AFTER &&
                (st == KW_DKIM_ST_PUBLISHED || st == KW_DKIM_ST_REMOVING ||
                 st == KW_DKIM_ST_ABORTING);
        h->next_step = r->wait_until > 0 ? r->wait_until : now;
        snprintf(h->reason, sizeof(h->reason), "the rotation to %s is %s "
                 "(since %s)%s%.400s", r->selector, r->stage, at,
                 r->waits_for[0] != '\0' ? ", waiting for " : "",
                 r->waits_for);
        if (stuck) {
            h->health = KS_HEALTH_WARNING;
            snprintf(h->fix, sizeof(h->fix), "make every authoritative "
                     "server of the zone serve what it waits for (a "
                     "secondary behind its primary?)");
            late = 1;
        }
    }
    if (!old_signs)
        return;
    if (p->max_age > 0 && r->old_started_at > 0)
        end = r->old_started_at + p->max_age;
    else if (late)
        end = r->started_at + p->rotate + AGE_MARGIN;
    if (end == 0 || now < end - AGE_MARGIN ||
        (!late && st != KW_DKIM_ST_ABORTED))
        return;
    {
        char why[600];
        size_t len = strlen(h->reason);

        fmt_time(end, at, sizeof(at));
        h->health = KS_HEALTH_CRITICAL;
        snprintf(why, sizeof(why), "%s%s still signs and %s %s",
                 len > 0 ? "; " : "", old,
                 p->max_age > 0 && r->old_started_at > 0
                     ? "reaches max_age at" : "a whole rotation late, since",
                 at);
        snprintf(h->reason + len, sizeof(h->reason) - len, "%s", why);
        if (h->fix[0] == '\0')
            snprintf(h->fix, sizeof(h->fix), "start a rotation: `keywarden "
                     "dkim rotate %s`", r->domain);
    }
}

/* ---- many domains at once ------------------------------------------- */

/*
 * kw_dkim_rotate_many walks every domain with the same step() and the
 * same set_state() as kw_dkim_rotate_run, but holds each at the four
 * stages where going one domain at a time costs most:
 *
 *   GENERATING  the key made.  Every held domain's selector is chosen and
 *               its intent journalled; the keys are then made together
 *               on BATCH_THREADS threads (key generation is CPU: an RSA
 *               key takes 50-150 ms), and each result journalled.
 *   PUBLISHING  the record sent.  Every held domain's intent is already
 *               journalled; the updates then go out together (on
 *               BATCH_THREADS threads for the real DNS: a round trip to
 *               the primary each), and each result is journalled.
 *   PUBLISHED   the visibility check.  Every held domain is looked at in
 *               rounds (each name asked of each of its servers once per
 *               round, ROUND_MS apart) until all are visible or each one's
 *               timeout passes: a secondary catches up with the whole batch
 *               in one IXFR after a NOTIFY, so the wait is one transfer
 *               round, not one per domain.
 *   PROPAGATED  the signer switch.  Held domains whose signer files are the
 *               same (opendkim, rspamd) are switched by one
 *               kw_dkim_signer_switch_many (the files written and checked
 *               once); each then goes ACTIVE with its own
 *               dkim.activated, which a reload hook with coalesce set
 *               turns into one reload.  A group switch that fails is
 *               retried one domain at a time, so only the domain at fault
 *               stops.
 *
 * Everything else (drain, removal) is step()'s, one domain after the
 * other.  Effects that may run on threads (generate_effect,
 * publish_effect, a look) write nothing but their own result; every
 * stage is written on the calling thread, which owns the database
 * connection.
 */

/* Between visibility rounds (as real_visible's polling interval). */
#define ROUND_MS 200
/* Threads sending the updates, or asking the servers in a round, for the
 * real DNS. */
#define BATCH_THREADS 16

typedef struct many_dom {
    machine m;
    int go;          /* begin() said the domain has work now */
    int held;        /* stopped at a hold point by advance() */
    int64_t deadline; /* visibility rounds: monotonic ms */
} many_dom;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* step() until the domain waits, stops or reaches a hold point
 * (GENERATING, PUBLISHING, PUBLISHED with a look to batch, PROPAGATED
 * with a signer). */
static int advance(many_dom *x, int hold, kw_diag *d)
{
    machine *m = &x->m;
    int more = 1, rc, i;

    x->held = 0;
    for (i = 0; more && i < MAX_CHANGES; i++) {
        kw_dkim_stage st = kw_dkim_stage_parse(m->r->stage);

        if (hold && (st == KW_DKIM_ST_GENERATING ||
                     st == KW_DKIM_ST_PUBLISHING ||
                     (st == KW_DKIM_ST_PUBLISHED && m->dns->look != NULL) ||
                     (st == KW_DKIM_ST_PROPAGATED && m->p->signer != 0))) {
            x->held = 1;
            return 0;
        }
        if ((rc = step(m, &more, d)) != 0)
            return rc;
    }
    return 0;
}

static int held_at(const many_dom *x, kw_dkim_stage st)
{
    return x->go && x->held && !x->m.out->stopped &&
           kw_dkim_stage_parse(x->m.r->stage) == st;
}

/* One effect of a phase: the domain, its result and words (a key's
 * generation says what it did in effect, or why it failed in why). */
typedef struct batch_job {
    many_dom *x;
    int rc;
    kw_diag sub;
    char effect[1400], why[1400];
} batch_job;

/* The effects of a phase, taken by BATCH_THREADS threads in turn. */
typedef struct batch_pool {
    batch_job *jobs;
    size_t n, next;
    void (*fn)(batch_job *j);
    pthread_mutex_t mu;
} batch_pool;

/* A key's generation (generate_effect) as a job, and its verdict. */
static void generate_job(batch_job *j)
{
    j->rc = generate_effect(&j->x->m, j->effect, sizeof(j->effect), j->why,
                            sizeof(j->why));
}

static int generate_verdict(batch_job *j, kw_diag *d)
{
    return generated(&j->x->m, j->rc, j->effect, j->why, d);
}

/* A publication (publish_effect) as a job, and its verdict. */
static void publish_job(batch_job *j)
{
    j->sub.msg[0] = '\0';
    j->rc = publish_effect(&j->x->m, &j->sub);
}

static int publish_verdict(batch_job *j, kw_diag *d)
{
    return published(&j->x->m, j->rc, &j->sub, d);
}

/* One look of a round as a job. */
static void look_job(batch_job *j)
{
    const machine *m = &j->x->m;
    char name[NAME_MAX_LEN];

    j->sub.msg[0] = '\0';
    dkim_name(m->r->selector, m->r->domain, name, sizeof(name));
    j->rc = m->dns->look(m->dns->ctx, m->p, name, m->r->record, &j->sub);
}

static void *batch_worker(void *arg)
{
    batch_pool *pool = arg;

    for (;;) {
        size_t k;

        pthread_mutex_lock(&pool->mu);
        k = pool->next++;
        pthread_mutex_unlock(&pool->mu);
        if (k >= pool->n)
            return NULL;
        pool->fn(&pool->jobs[k]);
    }
}

/* fn for each of jobs[k]: on up to BATCH_THREADS threads when threads
 * (the real DNS: a round trip each, and 1,000 of them one after another
 * would take 1,000 round trips), else in order on this thread (a
 * caller's table, whose functions need not be thread-safe). */
static void run_jobs(batch_job *jobs, size_t k, int threads,
                     void (*fn)(batch_job *j))
{
    pthread_t t[BATCH_THREADS];
    batch_pool pool;
    size_t i, started = 0;

    if (!threads || k < 2) {
        for (i = 0; i < k; i++)
            fn(&jobs[i]);
        return;
    }
    pool.jobs = jobs;
    pool.n = k;
    pool.next = 0;
    pool.fn = fn;
    pthread_mutex_init(&pool.mu, NULL);
    for (i = 0; i < BATCH_THREADS && i < k; i++)
        if (pthread_create(&t[started], NULL, batch_worker, &pool) == 0)
            started++;
    /* This thread takes its share too (all of it if none started). */
    batch_worker(&pool);
    for (i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&pool.mu);
}

/* The effects of the domains held at an intent stage (GENERATING,
 * PUBLISHING) together, then each verdict journalled in order. */
static int effects(many_dom *v, size_t n, kw_dkim_stage st, int threads,
                   void (*fn)(batch_job *j),
                   int (*verdict)(batch_job *j, kw_diag *d), kw_diag *d)
{
    batch_job *jobs;
    size_t i, k = 0;
    int rc = 0;

    for (i = 0; i < n; i++)
        k += held_at(&v[i], st);
    if (k == 0)
        return 0;
    if ((jobs = calloc(k, sizeof(*jobs))) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "dkim rotate: out of memory for "
                           "%zu domains at %s", k, kw_dkim_stage_name(st));
    for (i = 0, k = 0; i < n; i++)
        if (held_at(&v[i], st))
            jobs[k++].x = &v[i];
    run_jobs(jobs, k, threads, fn);
    for (i = 0; i < k && rc == 0; i++) {
        jobs[i].x->held = 0;
        rc = verdict(&jobs[i], d);
    }
    free(jobs);
    return rc;
}

/* The visibility rounds over the domains held at PUBLISHED; cache is the
 * real DNS's (looks on threads), NULL for a caller's table. */
static int visibility_rounds(many_dom *v, size_t n, look_cache *cache,
                             kw_diag *d)
{
    int64_t t0 = mono_ms(), round;
    batch_job *jobs;
    size_t i, k, left = 0;
    int rc = 0;

    for (i = 0; i < n; i++)
        if (held_at(&v[i], KW_DKIM_ST_PUBLISHED)) {
            v[i].deadline = t0 + timeout_of(v[i].m.p);
            left++;
        }
    if (left == 0)
        return 0;
    if ((jobs = calloc(left, sizeof(*jobs))) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "dkim rotate: out of memory for "
                           "%zu visibility checks", left);
    while (left > 0 && rc == 0) {
        round = mono_ms();
        if (cache != NULL)
            cache->ndead = 0;
        for (i = 0, k = 0; i < n; i++)
            if (held_at(&v[i], KW_DKIM_ST_PUBLISHED))
                jobs[k++].x = &v[i];
        run_jobs(jobs, k, cache != NULL, look_job);
        /* The verdicts on this thread, in order: the database is its. */
        for (i = 0; i < k && rc == 0; i++) {
            many_dom *x = jobs[i].x;

            if (jobs[i].rc == KW_ETIMEDOUT && mono_ms() < x->deadline)
                continue;
            /* Visible, failed, or out of time: the verdict goes through
             * the same visible_seen() as a lone domain's. */
            x->held = 0;
            left--;
            rc = visible_seen(&x->m, jobs[i].rc, &jobs[i].sub, d);
        }
        if (left > 0 && rc == 0) {
            int64_t rest = round + ROUND_MS - mono_ms();

            if (rest > 0)
                poll(NULL, 0, (int)rest);
        }
    }
    free(jobs);
    return rc;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Do p and q name the same signer files (one switch may serve both)?
 * signer = exec runs its program once per domain anyway and cannot undo
 * the runs before a failing one, so each such domain is its own group. */
static int same_signer(const kw_dkim_rot_params *p,
                       const kw_dkim_rot_params *q)
{
    if (p->signer != q->signer)
        return 0;
    switch (p->signer) {
    case KW_DKIM_SIGNER_OPENDKIM: return same_str(p->opendkim_conf,
                                                  q->opendkim_conf);
    case KW_DKIM_SIGNER_RSPAMD:
        return same_str(p->selector_map, q->selector_map) &&
               same_str(p->path_map, q->path_map) &&
               same_str(p->rspamd_conf, q->rspamd_conf);
    default: return p == q;
    }
}

/* One group of domains held at PROPAGATED with the same signer files
 * (idx[k]): one switch for all, or, when it fails, one per domain. */
static int switch_group(many_dom *v, const size_t *idx, size_t k,
                        kw_dkim_switch *sw, kw_diag *d)
{
    const kw_dkim_rot_params *p = v[idx[0]].m.p;
    kw_dkim_signer_conf c;
    kw_dkim_switch_result res;
    kw_diag sub;
    size_t j;
    int rc, sw_rc;

    signer_conf_of(p, &c);
    for (j = 0; j < k; j++) {
        machine *m = &v[idx[j]].m;

        if ((rc = activate_intent(m, d)) != 0)
            return rc;
        sw[j].domain = m->r->domain;
        sw[j].selector = m->r->selector;
        sw[j].key_path = m->r->key_path;
    }
    sub.msg[0] = '\0';
    memset(&res, 0, sizeof(res));
    sw_rc = kw_dkim_signer_switch_many(&c, sw, k, &res, &sub);
    die_point("signer-switched");
    if (sw_rc != 0 && k > 1) {
        kw_warn("dkim rotation: switching %s for %zu domains together "
                "failed (%s); switching them one by one",
                signer_word(p->signer), k, sub.msg);
        for (j = 0; j < k; j++) {
            sub.msg[0] = '\0';
            memset(&res, 0, sizeof(res));
            sw_rc = kw_dkim_signer_switch_many(&c, &sw[j], 1, &res, &sub);
            die_point("signer-switched");
            if ((rc = activated(&v[idx[j]].m, sw_rc, &res, sub.msg, d)) != 0)
                return rc;
        }
        return 0;
    }
    for (j = 0; j < k; j++)
        if ((rc = activated(&v[idx[j]].m, sw_rc, &res, sub.msg, d)) != 0)
            return rc;
    return 0;
}

/* The switches of every domain held at PROPAGATED, a group per set of
 * signer files. */
static int switch_groups(many_dom *v, size_t n, kw_diag *d)
{
    kw_dkim_switch *sw = NULL;
    size_t *idx = NULL, i, j, k;
    int rc = 0;

    for (i = 0; i < n && rc == 0; i++) {
        if (!held_at(&v[i], KW_DKIM_ST_PROPAGATED))
            continue;
        if (idx == NULL) {
            idx = calloc(n, sizeof(*idx));
            sw = calloc(n, sizeof(*sw));
            if (idx == NULL || sw == NULL) {
                rc = kw_diag_set(d, KW_ENOMEM, "dkim rotate: out of "
                                 "memory for %zu switches", n);
                break;
            }
        }
        for (k = 0, j = i; j < n; j++)
            if (held_at(&v[j], KW_DKIM_ST_PROPAGATED) &&
                same_signer(v[i].m.p, v[j].m.p))
                idx[k++] = j;
        rc = switch_group(v, idx, k, sw, d);
        for (j = 0; j < k; j++)
            v[idx[j]].held = 0;
    }
    free(idx);
    free(sw);
    return rc;
}

/* advance() for every domain that neither waits, nor stopped, nor is
 * held. */
static int advance_all(many_dom *v, size_t n, int hold, kw_diag *d)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++)
        if (v[i].go && !v[i].m.out->stopped && !v[i].m.out->waiting &&
            !v[i].held &&
            (rc = advance(&v[i], hold, d)) != 0)
            return rc;
    return 0;
}

int kw_dkim_rotate_many(ks_store *s, const kw_dkim_rot_params *const *ps,
                        size_t n, const kw_dkim_rot_dns *dns, int flags,
                        int64_t now, kw_dkim_rot_out *outs, kw_diag *d)
{
    look_cache cache;
    kw_dkim_rot_dns live;
    many_dom *v;
    size_t i;
    int rc = 0, real = dns == NULL;

    if (n == 0)
        return 0;
    if ((v = calloc(n, sizeof(*v))) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "dkim rotate: out of memory for "
                           "%zu domains", n);
    memset(&cache, 0, sizeof(cache));
    pthread_mutex_init(&cache.mu, NULL);
    if (real) {
        /* The real DNS, with the servers of each domain found once. */
        live = real_dns;
        live.ctx = &cache;
        dns = &live;
    }
    /* Every domain up to its first hold point (a new rotation: its
     * selector chosen, the key's intent journalled); then the keys made
     * together, on threads (CPU: RSA takes 50-150 ms a key), the intents
     * to publish journalled, and the updates sent together. */
    for (i = 0; i < n && rc == 0; i++) {
        rc = begin(&v[i].m, s, ps[i], dns, flags, now, &outs[i], &v[i].go,
                   d);
        if (rc == 0 && v[i].go)
            rc = advance(&v[i], 1, d);
    }
    if (rc == 0)
        rc = effects(v, n, KW_DKIM_ST_GENERATING, 1, generate_job,
                     generate_verdict, d);
    if (rc == 0)
        rc = advance_all(v, n, 1, d);
    if (rc == 0)
        rc = effects(v, n, KW_DKIM_ST_PUBLISHING, real, publish_job,
                     publish_verdict, d);
    if (rc == 0)
        rc = advance_all(v, n, 1, d);
    /* Then the visibility of all of them together; those that need no
     * wait after it (none configured) go on to the switch. */
    if (rc == 0)
        rc = visibility_rounds(v, n, real ? &cache : NULL, d);
    if (rc == 0)
        rc = advance_all(v, n, 1, d);
    if (rc == 0)
        rc = switch_groups(v, n, d);
    if (rc == 0)
        rc = advance_all(v, n, 0, d);
    free(v);
    look_cache_free(&cache);
    pthread_mutex_destroy(&cache.mu);
    return rc;
}

int kw_dkim_rotate_all(ks_store *s, const struct kw_dkim_params *params,
                       int flags, int64_t now, kw_dkim_rot_out *outs,
                       kw_diag *d)
{
    const kw_dkim_rot_params **ps;
    size_t i;
    int rc;

    if (params->nrot == 0)
        return 0;
    if ((ps = calloc(params->nrot, sizeof(*ps))) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "dkim rotate: out of memory for "
                           "%zu sections", params->nrot);
    for (i = 0; i < params->nrot; i++)
        ps[i] = &params->rot[i];
    rc = kw_dkim_rotate_many(s, ps, params->nrot, NULL, flags, now, outs, d);
    free(ps);
    return rc;
}
