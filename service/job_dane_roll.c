/*
 * job_dane_roll.c: the "dane-roll" job (key: a [certificate] name with
 * dane =): the certificate's DANE key rollover advanced unattended
 * (service/dane_roll_run.h): the next key announced and waited for, and
 * after the renewal deployed it the probe of every dane host, the hold,
 * the second probe, the old record's removal and the next cycle; its
 * health recorded on the certificate's object (checker "dane-roll").
 *
 * Its next run is what the machine asks for (the end of a wait, a
 * retry, the end of the hold), within 10 s .. 1 h (the health changes by
 * the clock alone as expiry nears); a renewal that issued a dane
 * certificate pulls it to a few seconds after its own end, when the
 * hooks it asked for have reloaded the server (job_renew.c).
 *
 * Why it cannot race the renewal (or `keywarden dane step`, or another
 * keywarden): the rollover's row and journal are the truth, and every
 * writer holds the rollover's lock (dane_roll.h) across its read-modify-
 * write, so no runner writes over a row it did not read; the effects are
 * journalled intents repeated idempotently; the renewal only reads the
 * stage (kw_dane_roll_may_deploy) and orders with the key the row names,
 * and the probe moves to DEPLOYED only when the live key file already
 * holds that key.  A run that finds the lock held looks again a minute
 * later.
 *
 * The probe runs on a private libuv loop whose address lookups use the
 * pool (as the dane-check job's): the step runs on a thread of its own
 * that work() waits for, so this job holds one pool thread.
 */
#include "dane_roll_run.h"
#include "job.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../keystore/ks_cert.h"
#include "../keystore/ks_check.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROLL_MIN_WAIT 10
#define ROLL_MAX_WAIT KW_HOUR

typedef struct roll_job {
    kw_job job;
    int off;
    /* Copies: a reload cannot pull them away. */
    char name[256], first[256], key_type[64];
    char certs_dir[PATH_MAX];
    kw_dns01_conf dns;
    char hosts[KW_DANE_ROLL_HOSTS_MAX][256];
    const char *hostp[KW_DANE_ROLL_HOSTS_MAX];
    size_t nhosts;
    int usage, selector, mtype, port, ttl, release;
    struct {
        char host[256], connect[256];
    } atc[KW_DANE_ROLL_HOSTS_MAX];
    kw_dane_probe_at at[KW_DANE_ROLL_HOSTS_MAX];
    size_t nat;
    /* The outcome. */
    ks_store *s;
    int rc;
    kw_dane_roll_run_out o;
} roll_job;

static int roll_keys(const kw_config *c, kw_job_keys *out)
{
    size_t i;
    int r = 0;

    for (i = 0; r == 0 && i < c->ncerts; i++)
        if (c->certs[i].dane)
            r = kw_job_keys_add(out, c->certs[i].name);
    return r;
}

/* A certificate no longer rolled (gone, or dane = removed), and every
 * old version, keeps no rollover verdict. */
static int roll_pruned(ks_store *s, const char *const *keys, size_t n,
                       kw_diag *d)
{
    return ks_check_prune_certs(s, "dane-roll", keys, n, d);
}

static int roll_known(const kw_config *c, const char *key)
{
    const kw_cert_conf *cc = kw_job_cert(c, key);

    return cc != NULL && cc->dane;
}

static int roll_start(kw_job *j)
{
    roll_job *rj = (roll_job *)j;
    const kw_config *c = j->env->conf;
    const kw_cert_conf *cc = kw_job_cert(c, j->rec.key);
    kw_dane_probe_at at[KW_DANE_ROLL_HOSTS_MAX];
    kw_renew_params rp;
    size_t i;

    if (cc == NULL || !cc->dane || j->env->acme == NULL) {
        rj->off = 1; /* left the configuration: the plan prunes it */
        return KW_JOB_RUN_NOW;
    }
    kw_config_renew_params(c, cc, &rp);
    snprintf(rj->name, sizeof(rj->name), "%s", cc->name);
    snprintf(rj->first, sizeof(rj->first), "%s",
             cc->nnames > 0 ? cc->names[0] : cc->name);
    snprintf(rj->key_type, sizeof(rj->key_type), "%s",
             cc->key_type != NULL ? cc->key_type : "");
    snprintf(rj->certs_dir, sizeof(rj->certs_dir), "%s",
             j->env->acme->params.certs_dir);
    if (kw_dns01_conf_dup(&rj->dns, &rp.dns) != 0)
        return KW_ENOMEM;
    for (i = 0; i < cc->ndane_hosts && i < KW_DANE_ROLL_HOSTS_MAX; i++) {
        snprintf(rj->hosts[i], sizeof(rj->hosts[0]), "%s",
                 cc->dane_hosts[i]);
        rj->hostp[i] = rj->hosts[i];
    }
    rj->nhosts = i;
    rj->usage = rp.dane_usage;
    rj->selector = rp.dane_selector;
    rj->mtype = rp.dane_mtype;
    rj->port = rp.dane_port;
    rj->ttl = rp.dane_ttl;
    rj->release = rp.dane_release;
    rj->nat = kw_dane_roll_probe_at(c, cc, at, KW_DANE_ROLL_HOSTS_MAX);
    for (i = 0; i < rj->nat; i++) {
        snprintf(rj->atc[i].host, sizeof(rj->atc[0].host), "%s", at[i].host);
        snprintf(rj->atc[i].connect, sizeof(rj->atc[0].connect), "%s",
                 at[i].connect != NULL ? at[i].connect : "");
        rj->at[i] = at[i];
        rj->at[i].host = rj->atc[i].host;
        /* NULL: every address of the host (kw_dane_roll_probe_at). */
        rj->at[i].connect = at[i].connect != NULL ? rj->atc[i].connect
                                                  : NULL;
    }
    return KW_JOB_RUN_NOW;
}

/* The thread of the step (see the top). */
static void *roll_thread(void *arg)
{
    roll_job *rj = arg;
    const char *names[1] = {rj->first};
    kw_renew_params rp;

    memset(&rp, 0, sizeof(rp));
    rp.name = rj->name;
    rp.names = names;
    rp.nnames = 1;
    rp.key_type = rj->key_type[0] != '\0' ? rj->key_type : NULL;
    rp.dns = rj->dns;
    rp.dane = 1;
    rp.dane_usage = rj->usage;
    rp.dane_selector = rj->selector;
    rp.dane_mtype = rj->mtype;
    rp.dane_port = rj->port;
    rp.dane_ttl = rj->ttl;
    rp.dane_release = rj->release;
    rp.dane_hosts = rj->nhosts > 0 ? rj->hostp : NULL;
    rp.ndane_hosts = rj->nhosts;
    rj->rc = kw_dane_roll_run(rj->s, &rp, rj->certs_dir, rj->at, rj->nat,
                              kw_now(), &rj->o, &rj->job.d);
    /* The probes decoded certificates on this thread. */
    ks_cert_thread_done();
    return NULL;
}

static int roll_work(kw_job *j, ks_store *s)
{
    roll_job *rj = (roll_job *)j;
    pthread_t t;

    if (rj->off)
        return 0;
    rj->s = s;
    if (pthread_create(&t, NULL, roll_thread, rj) != 0)
        return kw_diag_set(&j->d, KW_ENOMEM,
                           "cannot start the DANE rollover's thread");
    pthread_join(t, NULL);
    rj->s = NULL;
    return rj->rc;
}

static int64_t roll_next(kw_job *j, int64_t now)
{
    roll_job *rj = (roll_job *)j;
    int64_t next = kw_time_add(now, ROLL_MAX_WAIT);

    if (rj->off)
        return 0;
    if (j->r != 0)
        return kw_job_next_periodic(j, now, 0);
    if (rj->o.out.next_step > 0 && rj->o.out.next_step < next)
        next = rj->o.out.next_step;
    if (next < kw_time_add(now, ROLL_MIN_WAIT))
        next = kw_time_add(now, ROLL_MIN_WAIT);
    return next;
}

static void roll_report(kw_job *j, const char *when)
{
    roll_job *rj = (roll_job *)j;
    const ks_dane_roll *r = &rj->o.out.roll;

    if (j->r != 0) {
        kw_job_log_failure(j, when);
        return;
    }
    if (rj->off)
        return;
    if (rj->o.h.health != KS_HEALTH_OK)
        kw_warn("dane-roll: %s: %s at %s: %s; next at %s", rj->name,
                ks_health_word((ks_health)rj->o.h.health), r->stage,
                rj->o.h.reason, when);
    else
        kw_info("dane-roll: %s: %s%s%s; next at %s", rj->name,
                rj->o.out.found ? r->stage : "none",
                r->waits_for[0] != '\0' ? ": " : "", r->waits_for, when);
}

static void roll_release(kw_job *j)
{
    kw_dns01_conf_free(&((roll_job *)j)->dns);
}

const kw_job_type kw_job_dane_roll = {
    .name = "dane-roll",
    .size = sizeof(roll_job),
    .noun = "certificate with dane =",
    .known = roll_known,
    .retry_base = 60,
    .retry_cap = KW_HOUR,
    .keys = roll_keys,
    .first_delay = 0,
    .pull_forward = 1,
    .drop_unlisted = 1,
    .pruned = roll_pruned,
    .start = roll_start,
    .work = roll_work,
    .next_run = roll_next,
    .report = roll_report,
    .release = roll_release,
};
