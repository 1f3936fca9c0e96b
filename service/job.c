/*
 * job.c: the table of job types and the runner every job goes through
 * (states and transitions in job.h).  Like Knot's zone event table, a
 * type is looked up by name once, and everything after goes through its
 * row: nothing here or in daemon.c names a type.
 */
#include "job.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../common/kw_vec.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define JOB_RETRY_BASE 60
#define JOB_RETRY_CAP (6 * KW_HOUR)

/* One row per job type.  Adding a lifecycle: write job_NAME.c with its
 * kw_job_type, declare it in job.h and list it here. */
static const kw_job_type *const types[] = {
    &kw_job_scan,
    &kw_job_probe,
    &kw_job_renew,
    &kw_job_precheck,
    &kw_job_dkim,
    &kw_job_dkim_rot,
    &kw_job_dnssec,
    &kw_job_dane,
    &kw_job_mtasts,
    &kw_job_dane_roll,
};

/* A row claimed from a newer (or broken) database: it fails and is
 * retried with the usual backoff, so it is visible in status and the
 * log, and picked up once a keywarden that knows it runs. */
static int unknown_start(kw_job *j)
{
    (void)j;
    return KW_JOB_RUN_NOW;
}

static int unknown_work(kw_job *j, ks_store *s)
{
    (void)s;
    return kw_diag_set(&j->d, KW_EINVAL, "unknown job type \"%s\"",
                       j->rec.type);
}

static int64_t unknown_next(kw_job *j, int64_t now)
{
    return kw_job_next_periodic(j, now, KW_DAY);
}

static void unknown_report(kw_job *j, const char *when)
{
    kw_job_log_failure(j, when);
}

static const kw_job_type unknown_type = {
    .name = "unknown",
    .size = sizeof(kw_job),
    .retry_base = JOB_RETRY_BASE,
    .retry_cap = JOB_RETRY_CAP,
    .start = unknown_start,
    .work = unknown_work,
    .next_run = unknown_next,
    .report = unknown_report,
};

size_t kw_job_types_count(void)
{
    return sizeof(types) / sizeof(types[0]);
}

const kw_job_type *kw_job_type_at(size_t i)
{
    return i < kw_job_types_count() ? types[i] : NULL;
}

const kw_job_type *kw_job_type_find(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < kw_job_types_count(); i++)
        if (strcmp(types[i]->name, name) == 0)
            return types[i];
    return NULL;
}

void kw_job_type_names(char *out, size_t len)
{
    size_t i, n = kw_job_types_count(), o = 0;
    int w;

    out[0] = '\0';
    for (i = 0; i < n && o < len; i++) {
        w = snprintf(out + o, len - o, "%s%s",
                     i == 0 ? "" : i + 1 < n ? ", " : " or ", types[i]->name);
        o += w > 0 ? (size_t)w : 0;
    }
}

double kw_job_rand01(void)
{
    return (double)(rand() & 0xffff) / 65536.0;
}

const kw_cert_conf *kw_job_cert(const kw_config *c, const char *key)
{
    const kw_cert_conf *cc = NULL;
    size_t i;

    for (i = 0; i < c->ncerts; i++)
        if (strcmp(c->certs[i].name, key) == 0)
            cc = &c->certs[i];
    return cc;
}

int kw_job_cert_known(const kw_config *c, const char *key)
{
    return kw_job_cert(c, key) != NULL;
}

int kw_job_keys_add(kw_job_keys *k, const char *key)
{
    char **nv = kw_vec_grow(k->v, &k->cap, k->n + 1, sizeof(*nv));

    if (nv == NULL)
        return KW_ENOMEM;
    k->v = nv;
    if ((nv[k->n] = strdup(key)) == NULL)
        return KW_ENOMEM;
    k->n++;
    return 0;
}

void kw_job_keys_free(kw_job_keys *k)
{
    size_t i;

    for (i = 0; i < k->n; i++)
        free(k->v[i]);
    free(k->v);
    memset(k, 0, sizeof(*k));
}

int64_t kw_job_next_periodic(const kw_job *j, int64_t now, int64_t every)
{
    /* Jitter keeps many machines from running in step. */
    if (j->r == 0)
        return now + every + (int64_t)((double)every * 0.05 *
                                       kw_job_rand01());
    return now + ks_jobs_backoff(j->rec.attempt, j->type->retry_base,
                                 j->type->retry_cap, kw_job_rand01());
}

void kw_job_log_failure(const kw_job *j, const char *when)
{
    if (j->unsaved[0] != '\0')
        kw_err("job %s %s failed (attempt %d): %s; its next run was not "
               "recorded (%s): it runs again when the daemon restarts",
               j->rec.type, j->rec.key, j->rec.attempt, j->d.msg,
               j->unsaved);
    else
        kw_err("job %s %s failed (attempt %d): %s; retry at %s",
               j->rec.type, j->rec.key, j->rec.attempt, j->d.msg, when);
}

static void unlink_waiting(kw_job *j)
{
    kw_job **pp;

    for (pp = &j->env->waiting; *pp != NULL; pp = &(*pp)->next_waiting)
        if (*pp == j) {
            *pp = j->next_waiting;
            break;
        }
    j->next_waiting = NULL;
}

static void free_job(kw_job *j)
{
    if (j->type->release != NULL)
        j->type->release(j);
    free(j);
}

/* Pool: the type's work, then its outcome and next run in the row. */
static void job_work(uv_work_t *req)
{
    kw_job *j = req->data;
    ks_store *s = NULL;
    kw_diag fd;
    int64_t now;
    int ok, r;

    j->r = ks_open(j->env->db_path, KS_OPEN_CREATE, &s, &j->d);
    if (j->r != 0) {
        snprintf(j->unsaved, sizeof(j->unsaved), "%s", j->d.msg);
        return;
    }
    j->r = j->type->work(j, s);
    if (j->r == KW_ECANCELED)
        j->cancelled = 1;
    now = kw_now();
    /* Stopped by a shutdown: due again as soon as the daemon is back. */
    j->next_at = j->cancelled ? now : j->type->next_run(j, now);
    ok = j->r == 0 || j->cancelled;
    r = ks_jobs_finish(s, j->rec.id, ok, j->next_at, ok ? NULL : j->d.msg,
                       now, &fd);
    /* The row is the daemon's schedule: the next run holds if, and only
     * if, it was written. */
    if (r != 0)
        snprintf(j->unsaved, sizeof(j->unsaved), "%s", fd.msg);
    else
        j->unsaved[0] = '\0';
    if (r != 0 && j->r == 0) {
        j->r = r;
        j->d = fd;
    }
    if (j->type->recorded != NULL)
        j->type->recorded(j, s);
    ks_close(s);
}

/* Loop: count, log, free, and let the daemon go on. */
static void job_done(uv_work_t *req, int status)
{
    kw_job *j = req->data;
    kw_job_env *env = j->env;
    char when[32];

    env->running--;
    kw_time_rfc3339(j->next_at, when, sizeof(when));
    if (status == 0 && j->r == 0)
        kw_metrics_job_ended(env->counters, j->type->name, 1);
    else if (!j->cancelled)
        kw_metrics_job_ended(env->counters, j->type->name, 0);
    if (status != 0)
        kw_err("job %s %s: %s", j->rec.type, j->rec.key,
               uv_strerror(status));
    else if (j->cancelled)
        kw_notice("job %s %s: stopped; it resumes at the next start",
                  j->rec.type, j->rec.key);
    else
        j->type->report(j, when);
    free_job(j);
    /* A scan's buffers were freed on other threads' arenas: give the
     * memory back, so an idle daemon is small again. */
    if (env->running == 0)
        malloc_trim(0);
    env->ended(env->ctx);
}

static int queue(kw_job *j)
{
    return uv_queue_work(j->env->loop, &j->req, job_work, job_done);
}

int kw_job_resume(kw_job *j)
{
    unlink_waiting(j);
    return queue(j);
}

void kw_job_abandon(kw_job *j)
{
    j->env->running--;
    free_job(j);
}

void kw_jobs_cancel(kw_job_env *env)
{
    kw_job *j, *next;

    /* A cancel may end the job's loop work at once (unlinking it). */
    for (j = env->waiting; j != NULL; j = next) {
        next = j->next_waiting;
        if (j->type->cancel != NULL)
            j->type->cancel(j);
    }
}

void kw_job_start(kw_job_env *env, const ks_jobrec *rec)
{
    const kw_job_type *t = kw_job_type_find(rec->type);
    kw_job *j;
    int r;

    if (t == NULL)
        t = &unknown_type;
    if ((j = calloc(1, t->size)) == NULL) {
        /* The job stays claimed (running); the next start resumes it. */
        kw_err("job %s %s: out of memory", rec->type, rec->key);
        return;
    }
    j->type = t;
    j->env = env;
    j->rec = *rec;
    j->req.data = j;
    kw_info("job %s %s: starting (attempt %d)", rec->type, rec->key,
            rec->attempt);
    r = t->start(j);
    if (r == KW_JOB_SKIP) {
        free_job(j);
        return;
    }
    if (r < 0) {
        kw_err("job %s %s: %s", rec->type, rec->key,
               r == KW_ENOMEM ? "out of memory" : kw_strerror(r));
        free_job(j);
        return;
    }
    if (r == KW_JOB_WAIT) {
        j->next_waiting = env->waiting;
        env->waiting = j;
    } else if ((r = queue(j)) != 0) {
        kw_err("job %s %s: %s", rec->type, rec->key, uv_strerror(r));
        free_job(j);
        return;
    }
    env->running++;
}
