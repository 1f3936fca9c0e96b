/*
 * dkim_rotate_dns.c: the real DNS of a rotation: RFC 2136 updates,
 * dns_exec, every authoritative server asked (dkim_rotate_int.h).
 */
#include "dkim_rotate_int.h"

#include "dkim_check.h"
#include "dkim_key.h"
#include "dkim_signer.h"
#include "dkim_source.h"

#include "../common/kw_fs.h"
#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../dns/dns_auth.h"
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

int rot_timeout_of(const kw_dkim_rot_params *p)
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
    return kw_dns_find_zone(srv, name, zone, cap, rot_timeout_of(p), d);
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
        if (waited >= rot_timeout_of(p)) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return kw_diag_set(d, KW_ETIMEDOUT,
                               "dns_exec %s %s %s: still running after %d "
                               "ms; killed",
                               argv[0], argv[n - 3], name, rot_timeout_of(p));
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
                             add, name, value, p->ttl, rot_timeout_of(p), d);
}


/* A server that does not answer in one look costs this, not the whole
 * timeout: the other names of the round are still asked in time. */
#define LOOK_SLICE_MS 2000

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
    kw_dns_auth_set set;
    kw_dns_server srv;
    int rc;

    e->n = 0;
    e->skipped[0] = '\0';
    if ((rc = ask_server(p, &srv, d)) != 0)
        return rc;
    if ((rc = zone_of(p, &srv, name, e->zone, sizeof(e->zone), d)) != 0)
        return rc;
    rc = kw_dns_auth_servers(&srv, e->zone,
                             (const char *const *)p->dns_check, p->dns_port,
                             rot_timeout_of(p), &set, d);
    memcpy(e->srv, set.srv, set.n * sizeof(set.srv[0]));
    e->n = set.n;
    snprintf(e->skipped, sizeof(e->skipped), "%s", set.skipped);
    return rc;
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

void rot_look_cache_free(look_cache *c)
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
        if (kw_dns_server_same(&c->dead[j], srv)) {
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

int rot_real_visible(void *ctx, const kw_dkim_rot_params *p,
                     const char *name, const char *value, kw_diag *d)
{
    look_cache_entry tmp, *e;
    int rc;

    if ((rc = servers_of(ctx, p, name, &tmp, &e, d)) != 0)
        return rc;
    rc = kw_dns_txt_wait(e->srv, e->n, name, value, rot_timeout_of(p), 200, d);
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
            int slice = rot_timeout_of(p) < LOOK_SLICE_MS ? rot_timeout_of(p)
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
    /* With zone = the records live in the dedicated zone: its SOA. */
    snprintf(name, sizeof(name), "_domainkey.%s%s%s", p->domain,
             p->zone != NULL ? "." : "", p->zone != NULL ? p->zone : "");
    if ((rc = zone_of(p, &srv, name, zone, sizeof(zone), d)) != 0)
        return rc;
    return kw_dns_soa_negative_ttl(&srv, zone, rot_timeout_of(p), ttl, NULL, d);
}

/*
 * The slot's CNAME at the mail domain, asked of each authoritative server
 * of the mail domain's zone: the zone and its NS set come from the
 * resolver ([dkim] resolver, else the system's), never from dns_server,
 * which with zone = is the dedicated zone's primary.
 */
int kw_dkim_cname_check(void *ctx, const kw_dkim_rot_params *p,
                        const char *name, const char *target, kw_diag *d)
{
    kw_dns_server srv, all[KW_DNS_SERVERS_MAX];
    char zone[256], apex[300], msg[sizeof(d->msg)], status[200], who[96];
    size_t n = 0, i, asked = 0, bad = 0, pos = 0;
    int slice = rot_timeout_of(p) < LOOK_SLICE_MS ? rot_timeout_of(p)
                                                  : LOOK_SLICE_MS;
    int rc;

    (void)ctx;
    rc = p->resolver != NULL ? kw_dkim_resolver_parse(p->resolver, &srv, d)
                             : kw_dns_system_resolver(NULL, &srv, d);
    if (rc != 0)
        return rc;
    snprintf(apex, sizeof(apex), "_domainkey.%s", p->domain);
    if ((rc = kw_dns_find_zone(&srv, apex, zone, sizeof(zone),
                               rot_timeout_of(p), d)) != 0)
        return rc;
    if ((rc = kw_dns_zone_servers(&srv, zone, p->dns_port, all,
                                  KW_DNS_SERVERS_MAX, &n, rot_timeout_of(p),
                                  d)) != 0)
        return rc;
    msg[0] = '\0';
    for (i = 0; i < n; i++) {
        kw_diag why;

        if (kw_dns_reachable(&all[i], &why) != 0)
            continue;
        asked++;
        rc = kw_dns_cname_look(&all[i], name, target, slice, status,
                               sizeof(status));
        if (rc == 1)
            continue;
        bad++;
        kw_dns_server_str(&all[i], who, sizeof(who));
        kw_str_appendf(msg, sizeof(msg), &pos, "%s%s %s", bad > 1 ? "; " : "",
                       who, status);
    }
    if (asked == 0)
        return kw_diag_set(d, KW_ENOTFOUND, "zone %s: no authoritative "
                           "server this host can reach", zone);
    if (bad > 0)
        return kw_diag_set(d, KW_ETIMEDOUT, "%zu of %zu servers of %s do "
                           "not serve it: %s", bad, asked, zone, msg);
    return 0;
}

const kw_dkim_rot_dns rot_real_dns = {real_update, rot_real_visible,
                                         real_negative_ttl, NULL, real_look,
                                         kw_dkim_cname_check};

