/*
 * dkim_rotate_many.c: many domains rotated together, in phases
 * (dkim_rotate_int.h).
 */
#include "dkim_rotate_int.h"

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
    int go;          /* rot_begin() said the domain has work now */
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
        if ((rc = rot_step(m, &more, d)) != 0)
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
    j->rc = rot_generate_effect(&j->x->m, j->effect, sizeof(j->effect), j->why,
                                sizeof(j->why));
}

static int generate_verdict(batch_job *j, kw_diag *d)
{
    return rot_generated(&j->x->m, j->rc, j->effect, j->why, d);
}

/* A publication (publish_effect) as a job, and its verdict. */
static void publish_job(batch_job *j)
{
    j->sub.msg[0] = '\0';
    j->rc = rot_publish_effect(&j->x->m, &j->sub);
}

static int publish_verdict(batch_job *j, kw_diag *d)
{
    return rot_published(&j->x->m, j->rc, &j->sub, d);
}

/* One look of a round as a job. */
static void look_job(batch_job *j)
{
    const machine *m = &j->x->m;
    char name[NAME_MAX_LEN];

    j->sub.msg[0] = '\0';
    rot_dkim_name(m->p, m->r->selector, m->r->domain, name, sizeof(name));
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
            v[i].deadline = t0 + rot_timeout_of(v[i].m.p);
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
            rc = rot_visible_seen(&x->m, jobs[i].rc, &jobs[i].sub, d);
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

    rot_signer_conf_of(p, &c);
    for (j = 0; j < k; j++) {
        machine *m = &v[idx[j]].m;

        if ((rc = rot_activate_intent(m, d)) != 0)
            return rc;
        sw[j].domain = m->r->domain;
        sw[j].selector = m->r->selector;
        sw[j].key_path = m->r->key_path;
    }
    sub.msg[0] = '\0';
    memset(&res, 0, sizeof(res));
    sw_rc = kw_dkim_signer_switch_many(&c, sw, k, &res, &sub);
    rot_die_point("signer-switched");
    if (sw_rc != 0 && k > 1) {
        kw_warn("dkim rotation: switching %s for %zu domains together "
                "failed (%s); switching them one by one",
                rot_signer_word(p->signer), k, sub.msg);
        for (j = 0; j < k; j++) {
            sub.msg[0] = '\0';
            memset(&res, 0, sizeof(res));
            sw_rc = kw_dkim_signer_switch_many(&c, &sw[j], 1, &res, &sub);
            rot_die_point("signer-switched");
            if ((rc = rot_activated(&v[idx[j]].m, sw_rc, &res, sub.msg,
                                    d)) != 0)
                return rc;
        }
        return 0;
    }
    for (j = 0; j < k; j++)
        if ((rc = rot_activated(&v[idx[j]].m, sw_rc, &res, sub.msg, d)) != 0)
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

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int kw_dkim_rotate_many(ks_store *s, const kw_dkim_rot_params *const *ps,
                        size_t n, const kw_dkim_rot_dns *dns, int flags,
                        int64_t now, kw_dkim_rot_out *outs, kw_diag *d)
{
    return kw_dkim_rotate_many_timed(s, ps, n, dns, flags, now, outs, NULL,
                                     d);
}

int kw_dkim_rotate_many_timed(ks_store *s,
                              const kw_dkim_rot_params *const *ps, size_t n,
                              const kw_dkim_rot_dns *dns, int flags,
                              int64_t now, kw_dkim_rot_out *outs,
                              kw_dkim_rot_times *t, kw_diag *d)
{
    look_cache cache;
    kw_dkim_rot_dns live;
    kw_dkim_rot_times spent = {0};
    many_dom *v;
    size_t i;
    int rc = 0, real = dns == NULL;
    double t0 = mono_s(), t1;

    if (n == 0)
        return 0;
    if ((v = calloc(n, sizeof(*v))) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "dkim rotate: out of memory for "
                           "%zu domains", n);
    memset(&cache, 0, sizeof(cache));
    pthread_mutex_init(&cache.mu, NULL);
    if (real) {
        /* The real DNS, with the servers of each domain found once. */
        live = rot_real_dns;
        live.ctx = &cache;
        dns = &live;
    }
    /* Every domain up to its first hold point (a new rotation: its
     * selector chosen, the key's intent journalled); then the keys made
     * together, on threads (CPU: RSA takes 50-150 ms a key), the intents
     * to publish journalled, and the updates sent together. */
    for (i = 0; i < n && rc == 0; i++) {
        rc = rot_begin(&v[i].m, s, ps[i], dns, flags, now, &outs[i], &v[i].go,
                       d);
        if (rc == 0 && v[i].go)
            rc = advance(&v[i], 1, d);
    }
    if (rc == 0)
        rc = effects(v, n, KW_DKIM_ST_GENERATING, 1, generate_job,
                     generate_verdict, d);
    t1 = mono_s();
    spent.keys = t1 - t0;
    if (rc == 0)
        rc = advance_all(v, n, 1, d);
    if (rc == 0)
        rc = effects(v, n, KW_DKIM_ST_PUBLISHING, real, publish_job,
                     publish_verdict, d);
    if (rc == 0)
        rc = advance_all(v, n, 1, d);
    t0 = mono_s();
    spent.publish = t0 - t1;
    /* Then the visibility of all of them together; those that need no
     * wait after it (none configured) go on to the switch. */
    if (rc == 0)
        rc = visibility_rounds(v, n, real ? &cache : NULL, d);
    if (rc == 0)
        rc = advance_all(v, n, 1, d);
    t1 = mono_s();
    spent.visible = t1 - t0;
    if (rc == 0)
        rc = switch_groups(v, n, d);
    if (rc == 0)
        rc = advance_all(v, n, 0, d);
    spent.signer = mono_s() - t1;
    if (t != NULL)
        *t = spent;
    free(v);
    rot_look_cache_free(&cache);
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

