#include "ks_jobs.h"

#include "ks_store_int.h"
#include "ks_events.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int prepare(ks_store *s, const char *sql, sqlite3_stmt **st,
                   kw_diag *d)
{
    if (sqlite3_prepare_v2(ks_db(s), sql, -1, st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "preparing a jobs statement");
    return 0;
}

static void text_into(char *out, size_t len, const unsigned char *v)
{
    snprintf(out, len, "%s", v != NULL ? (const char *)v : "");
}

static int event(ks_store *s, int64_t now, const char *type,
                 const ks_jobrec *j, const char *error, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    json_t *js = json_pack("{s:I, s:s, s:s, s:i, s:s?}", "job",
                           (json_int_t)j->id, "type", j->type, "key", j->key,
                           "attempt", j->attempt, "error", error);
    char *text = js != NULL ? json_dumps(js, JSON_COMPACT | JSON_SORT_KEYS)
                            : NULL;
    int r;

    json_decref(js);
    if ((r = ks_event_type_check(type, d)) != 0) {
        free(text);
        return r;
    }
    if (text == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    if ((r = prepare(s, "INSERT INTO events (at, type, detail) VALUES (?1, "
                        "?2, ?3)",
                     &st, d)) == 0) {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            r = ks_db_error(s, d, "recording a job event");
    }
    sqlite3_finalize(st);
    free(text);
    return r;
}

int ks_jobs_ensure(ks_store *s, const char *type, const char *key,
                   int64_t next_at, int sooner, int64_t now, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int r;

    /* The partial unique index makes this idempotent. */
    r = prepare(s,
                "INSERT INTO jobs (type, key, next_at, created_at, "
                "updated_at) VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT DO "
                "NOTHING",
                &st, d);
    if (r != 0)
        return r;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, next_at);
    sqlite3_bind_int64(st, 4, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        r = ks_db_error(s, d, "scheduling a job");
    sqlite3_finalize(st);
    if (r != 0 || !sooner)
        return r;
    /* Pending: due sooner.  Running: due again at ?3 once it finishes
     * (what changed may come after the point the run has passed). */
    if ((r = prepare(s,
                     "UPDATE jobs SET next_at = CASE WHEN state = 'pending' "
                     "AND next_at > ?3 THEN ?3 ELSE next_at END, rerun_at = "
                     "CASE WHEN state = 'running' THEN MIN(COALESCE("
                     "rerun_at, ?3), ?3) ELSE rerun_at END, updated_at = ?4 "
                     "WHERE type = ?1 AND key = ?2 AND (state = 'running' "
                     "OR (state = 'pending' AND next_at > ?3))",
                     &st, d)) != 0)
        return r;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, next_at);
    sqlite3_bind_int64(st, 4, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        r = ks_db_error(s, d, "rescheduling a job");
    sqlite3_finalize(st);
    return r;
}

int ks_jobs_next_due(ks_store *s, int64_t *next_at, int *has, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int r;

    *has = 0;
    *next_at = 0;
    if ((r = prepare(s,
                     "SELECT min(next_at) FROM jobs WHERE state = 'pending'",
                     &st, d)) != 0)
        return r;
    if (sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *has = 1;
        *next_at = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return 0;
}

int ks_jobs_open_each(ks_store *s,
                      int (*cb)(void *ctx, const char *type, const char *key,
                                const char *state, int attempt,
                                int64_t next_at, const char *last_error),
                      void *ctx, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int r;

    if ((r = prepare(s,
                     "SELECT type, key, state, attempt, next_at, "
                     "last_error FROM jobs WHERE state = 'pending' "
                     "OR state = 'running' ORDER BY next_at",
                     &st, d)) != 0)
        return r;
    while (sqlite3_step(st) == SQLITE_ROW)
        if (cb(ctx, (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1),
               (const char *)sqlite3_column_text(st, 2),
               sqlite3_column_int(st, 3), sqlite3_column_int64(st, 4),
               (const char *)sqlite3_column_text(st, 5)) != 0)
            break;
    sqlite3_finalize(st);
    return 0;
}

int ks_jobs_claim(ks_store *s, int64_t now, size_t max, ks_jobrec *out,
                  size_t *n, kw_diag *d)
{
    sqlite3_stmt *q = NULL, *u = NULL;
    int r;

    *n = 0;
    if ((r = ks_begin(s, d)) != 0)
        return r;
    if ((r = prepare(s,
                     "SELECT id, type, key, attempt, next_at, last_error "
                     "FROM jobs WHERE state = 'pending' AND next_at <= ?1 "
                     "ORDER BY next_at, id LIMIT ?2",
                     &q, d)) != 0 ||
        (r = prepare(s,
                     "UPDATE jobs SET state = 'running', attempt = attempt "
                     "+ 1, updated_at = ?2 WHERE id = ?1",
                     &u, d)) != 0)
        goto out;
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)max);
    while (*n < max && sqlite3_step(q) == SQLITE_ROW) {
        ks_jobrec *j = &out[*n];

        memset(j, 0, sizeof(*j));
        j->id = sqlite3_column_int64(q, 0);
        text_into(j->type, sizeof(j->type), sqlite3_column_text(q, 1));
        text_into(j->key, sizeof(j->key), sqlite3_column_text(q, 2));
        j->attempt = sqlite3_column_int(q, 3) + 1;
        j->next_at = sqlite3_column_int64(q, 4);
        text_into(j->last_error, sizeof(j->last_error),
                  sqlite3_column_text(q, 5));
        snprintf(j->state, sizeof(j->state), "running");
        sqlite3_reset(u);
        sqlite3_bind_int64(u, 1, j->id);
        sqlite3_bind_int64(u, 2, now);
        if (sqlite3_step(u) != SQLITE_DONE) {
            r = ks_db_error(s, d, "claiming a job");
            goto out;
        }
        (*n)++;
    }
    sqlite3_finalize(q);
    sqlite3_finalize(u);
    q = u = NULL;
    r = ks_commit(s, d);
out:
    sqlite3_finalize(q);
    sqlite3_finalize(u);
    if (r != 0) {
        ks_rollback(s);
        *n = 0;
    }
    return r;
}

int ks_jobs_finish(ks_store *s, int64_t id, int ok, int64_t next_at,
                   const char *error, int64_t now, kw_diag *d)
{
    sqlite3_stmt *st = NULL, *q = NULL;
    ks_jobrec j;
    const char *state;
    int r;

    state = next_at > 0 ? "pending" : ok ? "done" : "failed";
    if ((r = ks_begin(s, d)) != 0)
        return r;
    if ((r = prepare(s,
                     "UPDATE jobs SET state = CASE WHEN rerun_at IS NOT NULL "
                     "THEN 'pending' ELSE ?2 END, next_at = CASE WHEN "
                     "rerun_at IS NOT NULL AND rerun_at < ?3 THEN rerun_at "
                     "ELSE ?3 END, rerun_at = NULL, last_error = ?4, "
                     "attempt = CASE WHEN ?5 THEN 0 ELSE attempt END, "
                     "updated_at = ?6 WHERE id = ?1 AND state = 'running'",
                     &st, d)) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, next_at > 0 ? next_at : now);
    if (!ok && error != NULL)
        sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, ok);
    sqlite3_bind_int64(st, 6, now);
    if (sqlite3_step(st) != SQLITE_DONE) {
        r = ks_db_error(s, d, "finishing a job");
        goto out;
    }
    if (!ok) {
        /* Failures are history worth keeping. */
        if ((r = prepare(s,
                         "SELECT type, key, attempt FROM jobs WHERE id = ?1",
                         &q, d)) != 0)
            goto out;
        sqlite3_bind_int64(q, 1, id);
        if (sqlite3_step(q) == SQLITE_ROW) {
            memset(&j, 0, sizeof(j));
            j.id = id;
            text_into(j.type, sizeof(j.type), sqlite3_column_text(q, 0));
            text_into(j.key, sizeof(j.key), sqlite3_column_text(q, 1));
            j.attempt = sqlite3_column_int(q, 2);
            r = event(s, now, next_at > 0 ? "job.retry" : "job.failed", &j,
                      error, d);
            if (r != 0)
                goto out;
        }
    }
    r = ks_commit(s, d);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(q);
    if (r != 0)
        ks_rollback(s);
    return r;
}

int ks_jobs_recover(ks_store *s, int64_t now, size_t *n, kw_diag *d)
{
    sqlite3_stmt *q = NULL, *u = NULL;
    int r;

    *n = 0;
    if ((r = ks_begin(s, d)) != 0)
        return r;
    if ((r = prepare(s,
                     "SELECT id, type, key, attempt FROM jobs WHERE state = "
                     "'running'",
                     &q, d)) != 0 ||
        (r = prepare(s,
                     "UPDATE jobs SET state = 'pending', next_at = ?2, "
                     "updated_at = ?2 WHERE id = ?1",
                     &u, d)) != 0)
        goto out;
    while (sqlite3_step(q) == SQLITE_ROW) {
        ks_jobrec j;

        memset(&j, 0, sizeof(j));
        j.id = sqlite3_column_int64(q, 0);
        text_into(j.type, sizeof(j.type), sqlite3_column_text(q, 1));
        text_into(j.key, sizeof(j.key), sqlite3_column_text(q, 2));
        j.attempt = sqlite3_column_int(q, 3);
        sqlite3_reset(u);
        sqlite3_bind_int64(u, 1, j.id);
        sqlite3_bind_int64(u, 2, now);
        if (sqlite3_step(u) != SQLITE_DONE) {
            r = ks_db_error(s, d, "recovering a job");
            goto out;
        }
        if ((r = event(s, now, "job.resumed", &j, NULL, d)) != 0)
            goto out;
        (*n)++;
    }
    sqlite3_finalize(q);
    sqlite3_finalize(u);
    q = u = NULL;
    r = ks_commit(s, d);
out:
    sqlite3_finalize(q);
    sqlite3_finalize(u);
    if (r != 0)
        ks_rollback(s);
    return r;
}

int ks_jobs_prune(ks_store *s, const char *type, const char *const *keys,
                  size_t nkeys, kw_diag *d)
{
    sqlite3_stmt *q = NULL, *del = NULL;
    int r;
    size_t i;

    if ((r = prepare(s,
                     "SELECT id, key FROM jobs WHERE type = ?1 AND state = "
                     "'pending'",
                     &q, d)) != 0 ||
        (r = prepare(s, "DELETE FROM jobs WHERE id = ?1", &del, d)) != 0)
        goto out;
    sqlite3_bind_text(q, 1, type, -1, SQLITE_STATIC);
    while (r == 0 && sqlite3_step(q) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(q, 1);
        int keep = 0;

        for (i = 0; i < nkeys && !keep; i++)
            keep = k != NULL && strcmp(k, keys[i]) == 0;
        if (keep)
            continue;
        sqlite3_reset(del);
        sqlite3_bind_int64(del, 1, sqlite3_column_int64(q, 0));
        if (sqlite3_step(del) != SQLITE_DONE)
            r = ks_db_error(s, d, "pruning jobs");
    }
out:
    sqlite3_finalize(q);
    sqlite3_finalize(del);
    return r;
}

int64_t ks_jobs_backoff(int attempt, int64_t base, int64_t cap,
                        double jitter01)
{
    int64_t delay = base;
    int i;

    for (i = 1; i < attempt && delay < cap; i++)
        delay *= 2;
    if (delay > cap)
        delay = cap;
    /* Up to 10% more, so jobs that failed together do not retry in step. */
    return delay + (int64_t)((double)delay * 0.1 * jitter01);
}
