/*
 * dns01.c: dns-01 answers (see dns01.h).
 */
#include "dns01.h"

#include "../common/kw_fs.h"
#include "../common/kw_log.h"
#include "../common/kw_proc.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"
#include "../dns/dns_update.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#define DNS_TIMEOUT_MS 10000
#define EXEC_TIMEOUT_MS 60000
#define TXT_TTL 60

/* ----- settings ------------------------------------------------------------ */

int kw_dns01_conf_dup(kw_dns01_conf *dst, const kw_dns01_conf *src)
{
    int bad = 0;
    size_t i;

    memset(dst, 0, sizeof(*dst));
    dst->server = kw_strdup_opt(src->server, &bad);
    dst->zone = kw_strdup_opt(src->zone, &bad);
    dst->tsig_key = kw_strdup_opt(src->tsig_key, &bad);
    dst->tsig_alg = kw_strdup_opt(src->tsig_alg, &bad);
    dst->tsig_secret = kw_strdup_opt(src->tsig_secret, &bad);
    dst->exec = kw_strdup_opt(src->exec, &bad);
    dst->wait = src->wait;
    if (src->ncheck > 0) {
        dst->check = calloc(src->ncheck, sizeof(char *));
        if (dst->check == NULL)
            bad = 1;
        for (i = 0; !bad && i < src->ncheck; i++) {
            dst->check[i] = kw_strdup_opt(src->check[i], &bad);
            dst->ncheck = i + 1;
        }
    }
    if (bad) {
        kw_dns01_conf_free(dst);
        return KW_ENOMEM;
    }
    return 0;
}

void kw_dns01_conf_free(kw_dns01_conf *c)
{
    size_t i;

    free(c->server);
    free(c->zone);
    free(c->tsig_key);
    free(c->tsig_alg);
    if (c->tsig_secret != NULL) {
        kw_wipe(c->tsig_secret, strlen(c->tsig_secret));
        free(c->tsig_secret);
    }
    free(c->exec);
    for (i = 0; i < c->ncheck; i++)
        free(c->check[i]);
    free(c->check);
    memset(c, 0, sizeof(*c));
}

/* ----- the operator's program ------------------------------------------------ */

int kw_dns01_run(const char *const argv[], int timeout_ms, kw_diag *d)
{
    char out[4096], *last, *envp[] = {(char *)"PATH=/usr/sbin:/usr/bin:"
                                              "/sbin:/bin",
                                      NULL};
    int status = 0, rc;

    rc = kw_proc_run(argv, envp, timeout_ms, out, sizeof(out), &status, d);
    if (rc == KW_ETIMEDOUT)
        return kw_diag_set(d, KW_ETIMEDOUT,
                           "%s %s: no exit within %d s; killed", argv[0],
                           argv[1], timeout_ms / 1000);
    if (rc != 0)
        return rc;
    last = strrchr(out, '\n');
    last = last != NULL ? last + 1 : out;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        return kw_diag_set(d, KW_EIO, "%s %s exited %d%s%.300s", argv[0],
                           argv[1], WEXITSTATUS(status), *last ? ": " : "",
                           last);
    return kw_diag_set(d, KW_EIO, "%s %s was killed by signal %d", argv[0],
                       argv[1], WTERMSIG(status));
}

/* ----- present and cleanup ---------------------------------------------------- */

typedef struct job {
    uv_work_t work;
    kw_dns01_conf c;
    char *cert, *fqdn, *value;
    int add;
    kw_dns01_cb cb;
    void *ctx;
    int status;
    kw_diag d;
} job;

static void free_job(job *j)
{
    kw_dns01_conf_free(&j->c);
    free(j->cert);
    free(j->fqdn);
    free(j->value);
    free(j);
}

/* The zone of fqdn: configured, or asked of the primary. */
static int zone_of(job *j, const kw_dns_server *server, char *zone,
                   size_t cap, kw_diag *d)
{
    if (j->c.zone != NULL) {
        snprintf(zone, cap, "%s", j->c.zone);
        return 0;
    }
    return kw_dns_find_zone(server, j->fqdn, zone, cap, DNS_TIMEOUT_MS, d);
}

static int publish(job *j, kw_dns_server *primary, char *zone, size_t cap,
                   kw_diag *d)
{
    kw_dns_tsig tsig = {j->c.tsig_key, j->c.tsig_alg, j->c.tsig_secret};
    int rc;

    if (j->c.exec != NULL) {
        const char *argv[] = {j->c.exec, j->add ? "present" : "cleanup",
                              j->fqdn, j->value, NULL};

        return kw_dns01_run(argv, EXEC_TIMEOUT_MS, d);
    }
    rc = kw_dns_server_parse(j->c.server, 53, primary, d);
    if (rc == 0)
        rc = zone_of(j, primary, zone, cap, d);
    if (rc == 0)
        rc = kw_dns_txt_update(primary, zone,
                               j->c.tsig_key != NULL ? &tsig : NULL, j->add,
                               j->fqdn, j->value, TXT_TTL, DNS_TIMEOUT_MS,
                               d);
    return rc;
}

static void present_work(uv_work_t *w)
{
    job *j = w->data;
    kw_dns_server primary, servers[KW_DNS_SERVERS_MAX];
    char zone[256] = "";
    size_t n = 0, i;
    kw_diag d;
    int rc;

    d.msg[0] = '\0';
    rc = publish(j, &primary, zone, sizeof(zone), &d);
    /* Then wait for every authoritative server: the configured ones, or
     * the zone's NS records (asked of the primary). */
    for (i = 0; rc == 0 && i < j->c.ncheck && n < KW_DNS_SERVERS_MAX; i++)
        if ((rc = kw_dns_server_parse(j->c.check[i], 53, &servers[n], &d)) ==
            0)
            n++;
    if (rc == 0 && n == 0) {
        if (j->c.server == NULL)
            rc = kw_diag_set(&d, KW_EINVAL,
                             "no servers to check: set dns_check");
        else if ((rc = kw_dns_server_parse(j->c.server, 53, &primary,
                                           &d)) == 0 &&
                 (zone[0] != '\0' ||
                  (rc = zone_of(j, &primary, zone, sizeof(zone), &d)) == 0))
            rc = kw_dns_zone_servers(&primary, zone, 0, servers,
                                     KW_DNS_SERVERS_MAX, &n, DNS_TIMEOUT_MS,
                                     &d);
    }
    if (rc == 0)
        rc = kw_dns_txt_wait(servers, n, j->fqdn, j->value,
                             (int)(j->c.wait * 1000), 500, &d);
    j->status = rc;
    if (rc != 0)
        j->d = d;
}

static void present_done(uv_work_t *w, int status)
{
    job *j = w->data;

    if (status != 0)
        j->status = kw_diag_set(&j->d, KW_EIO,
                                "the thread pool refused the work");
    j->cb(j->ctx, j->status, &j->d);
    free_job(j);
}

static void cleanup_work(uv_work_t *w)
{
    job *j = w->data;
    kw_dns_server primary;
    char zone[256] = "";
    kw_diag d;

    d.msg[0] = '\0';
    if (publish(j, &primary, zone, sizeof(zone), &d) != 0)
        kw_warn("certificate %s: removing the dns-01 record %s: %s",
                j->cert, j->fqdn, d.msg);
}

static void cleanup_done(uv_work_t *w, int status)
{
    (void)status;
    free_job(w->data);
}

static job *new_job(const kw_dns01_conf *c, const char *cert,
                    const char *ident, const char *value, int add)
{
    job *j = calloc(1, sizeof(*j));

    if (j == NULL)
        return NULL;
    j->add = add;
    j->work.data = j;
    if (kw_dns01_conf_dup(&j->c, c) != 0) {
        free(j);
        return NULL;
    }
    j->cert = strdup(cert);
    j->value = strdup(value);
    j->fqdn = malloc(strlen(ident) + sizeof("_acme-challenge."));
    if (j->cert == NULL || j->value == NULL || j->fqdn == NULL) {
        free_job(j);
        return NULL;
    }
    sprintf(j->fqdn, "_acme-challenge.%s", ident);
    return j;
}

int kw_dns01_present(uv_loop_t *loop, const kw_dns01_conf *c,
                     const char *cert, const char *ident, const char *value,
                     kw_dns01_cb cb, void *ctx, kw_diag *d)
{
    job *j = new_job(c, cert, ident, value, 1);

    if (j == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    j->cb = cb;
    j->ctx = ctx;
    if (uv_queue_work(loop, &j->work, present_work, present_done) != 0) {
        free_job(j);
        return kw_diag_set(d, KW_EIO, "the thread pool refused the work");
    }
    return 0;
}

void kw_dns01_cleanup(uv_loop_t *loop, const kw_dns01_conf *c,
                      const char *cert, const char *ident, const char *value)
{
    job *j = new_job(c, cert, ident, value, 0);

    if (j == NULL ||
        uv_queue_work(loop, &j->work, cleanup_work, cleanup_done) != 0) {
        kw_warn("certificate %s: cannot remove the dns-01 record for %s",
                cert, ident);
        if (j != NULL)
            free_job(j);
    }
}
