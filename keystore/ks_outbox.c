#include "ks_outbox.h"

#include "ks_store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t != NULL ? (const char *)t : NULL;
}

static void copy_col(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const char *t = col_text(st, i);

    snprintf(dst, cap, "%s", t != NULL ? t : "");
}

static int prepare(ks_store *s, const char *sql, sqlite3_stmt **st,
                   const char *what, kw_diag *d)
{
    if (sqlite3_prepare_v2(ks_db(s), sql, -1, st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, what);
    return 0;
}

/* The columns an event row starts with: id, at, type, detail, name and
 * kind of its object, object_id. */
static void event_head(sqlite3_stmt *st, ks_outbox_event *e)
{
    memset(e, 0, sizeof(*e));
    e->id = sqlite3_column_int64(st, 0);
    e->at = sqlite3_column_int64(st, 1);
    e->type = col_text(st, 2);
    e->detail = col_text(st, 3);
    e->obj_name = col_text(st, 4);
    e->obj_kind = col_text(st, 5);
    e->has_object_id = sqlite3_column_type(st, 6) != SQLITE_NULL;
    e->object_id = sqlite3_column_int64(st, 6);
}

/* ---- events ------------------------------------------------------------ */

int ks_outbox_event_read(ks_store *s, int64_t event_id,
                         int (*cb)(void *ctx, const ks_outbox_event *e),
                         void *ctx, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    ks_outbox_event e;
    int rc, r;

    if ((r = prepare(
             s,
             "SELECT e.id, e.at, e.type, e.detail, o.name, o.kind, "
             "e.object_id, o.not_after, o.sans, o.fingerprint, f.path, "
             "o.key_path, c.names, c.not_after, c.fingerprint "
             "FROM events e LEFT JOIN objects o ON o.id = e.object_id "
             "LEFT JOIN files f ON f.id = o.file_id "
             "LEFT JOIN certificates c ON c.name = CASE WHEN "
             "json_valid(e.detail) THEN json_extract(e.detail, "
             "'$.certificate') END "
             "WHERE e.id = ?1",
             &st, "reading an event for a hook", d)) != 0)
        return r;
    sqlite3_bind_int64(st, 1, event_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        r = kw_diag_set(d, KW_ENOTFOUND, "event %lld: not in the database",
                        (long long)event_id);
    } else if (rc != SQLITE_ROW) {
        r = ks_db_error(s, d, "reading an event for a hook");
    } else {
        event_head(st, &e);
        e.has_obj_not_after = sqlite3_column_type(st, 7) != SQLITE_NULL;
        e.obj_not_after = sqlite3_column_int64(st, 7);
        e.obj_sans = col_text(st, 8);
        e.obj_fingerprint = col_text(st, 9);
        e.file_path = col_text(st, 10);
        e.key_path = col_text(st, 11);
        e.cert_names = col_text(st, 12);
        e.has_cert_not_after = sqlite3_column_type(st, 13) != SQLITE_NULL;
        e.cert_not_after = sqlite3_column_int64(st, 13);
        e.cert_fingerprint = col_text(st, 14);
        r = cb(ctx, &e);
    }
    sqlite3_finalize(st);
    return r;
}

int ks_outbox_events_after(ks_store *s, int64_t cursor, int limit,
                           int (*cb)(void *ctx, const ks_outbox_event *e),
                           void *ctx, size_t *n, kw_diag *d)
{
    sqlite3_stmt *q = NULL;
    ks_outbox_event e;
    int rc, r;

    *n = 0;
    if ((r = prepare(s,
                     "SELECT e.id, e.at, e.type, e.detail, o.name, "
                     "o.kind, e.object_id FROM events e "
                     "LEFT JOIN objects o ON o.id = e.object_id "
                     "WHERE e.id > ?1 ORDER BY e.id LIMIT ?2",
                     &q, "reading events for hooks", d)) != 0)
        return r;
    sqlite3_bind_int64(q, 1, cursor);
    sqlite3_bind_int(q, 2, limit);
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        event_head(q, &e);
        (*n)++;
        r = cb(ctx, &e);
    }
    if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = ks_db_error(s, d, "reading events for hooks");
    sqlite3_finalize(q);
    return r;
}

int ks_outbox_cursor_get(ks_store *s, int64_t *cursor, kw_diag *d)
{
    return ks_value(s, d, "reading the hook cursor", cursor, NULL,
                    "SELECT value FROM meta WHERE key = 'hook_cursor'", "");
}

int ks_outbox_cursor_set(ks_store *s, int64_t cursor, kw_diag *d)
{
    return ks_run(s, d, "moving the hook cursor",
                  "INSERT OR REPLACE INTO meta (key, value) "
                  "VALUES ('hook_cursor', ?1)",
                  "i", cursor);
}

int ks_outbox_events_pending(ks_store *s, int *pending, kw_diag *d)
{
    int64_t v;
    int r = ks_value(s, d, "reading the hook cursor", &v, NULL,
                     "SELECT EXISTS (SELECT 1 FROM events WHERE id > "
                     "(SELECT COALESCE((SELECT value FROM meta WHERE "
                     "key = 'hook_cursor'), 0)))",
                     "");

    *pending = r == 0 && v != 0;
    return r;
}

/* ---- queueing ----------------------------------------------------------- */

struct ks_outbox_queue {
    ks_store *s;
    sqlite3_stmt *ins;
};

int ks_outbox_queue_open(ks_store *s, ks_outbox_queue **out, kw_diag *d)
{
    ks_outbox_queue *q = calloc(1, sizeof(*q));
    int r;

    *out = NULL;
    if (q == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    q->s = s;
    if ((r = prepare(s,
                     "INSERT INTO outbox (event_id, hook, state, "
                     "next_at, object, kind, object_id, created_at) "
                     "VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7) "
                     "ON CONFLICT (event_id, hook) DO NOTHING",
                     &q->ins, "reading events for hooks", d)) != 0) {
        free(q);
        return r;
    }
    *out = q;
    return 0;
}

int ks_outbox_queue_add(ks_outbox_queue *q, int64_t event_id,
                        const char *hook, int64_t due, const char *object,
                        const char *kind, int64_t object_id, int64_t now,
                        int *added, kw_diag *d)
{
    sqlite3_stmt *ins = q->ins;

    *added = 0;
    sqlite3_reset(ins);
    sqlite3_bind_int64(ins, 1, event_id);
    sqlite3_bind_text(ins, 2, hook, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 3, due);
    if (object != NULL)
        sqlite3_bind_text(ins, 4, object, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(ins, 4);
    sqlite3_bind_text(ins, 5, kind, -1, SQLITE_TRANSIENT);
    if (object_id != 0)
        sqlite3_bind_int64(ins, 6, object_id);
    else
        sqlite3_bind_null(ins, 6);
    sqlite3_bind_int64(ins, 7, now);
    if (sqlite3_step(ins) != SQLITE_DONE)
        return ks_db_error(q->s, d, "queueing a hook delivery");
    *added = sqlite3_changes(ks_db(q->s));
    return 0;
}

void ks_outbox_queue_close(ks_outbox_queue *q)
{
    if (q == NULL)
        return;
    sqlite3_finalize(q->ins);
    free(q);
}

/* ---- deliveries -------------------------------------------------------- */

int ks_outbox_open_hooks(ks_store *s,
                         int (*cb)(void *ctx, const char *hook), void *ctx,
                         kw_diag *d)
{
    sqlite3_stmt *q = NULL;
    int rc, r;

    if ((r = prepare(s,
                     "SELECT DISTINCT hook FROM outbox WHERE state = "
                     "'pending' OR state = 'running' OR state = "
                     "'failed'",
                     &q, "listing hook deliveries", d)) != 0)
        return r;
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW)
        if (col_text(q, 0) != NULL)
            r = cb(ctx, col_text(q, 0));
    if (r == 0 && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "listing hook deliveries");
    sqlite3_finalize(q);
    return r;
}

int ks_outbox_close_hook(ks_store *s, const char *hook, int64_t now,
                         size_t *n, kw_diag *d)
{
    int r = ks_run(s, d, "closing the deliveries of a removed hook",
                   "UPDATE outbox SET state = 'done', finished_at = ?2, "
                   "last_error = 'not delivered: the hook left the "
                   "configuration' WHERE hook = ?1 AND (state = 'pending' "
                   "OR state = 'running' OR state = 'failed')",
                   "ti", hook, now);

    *n = r == 0 ? (size_t)sqlite3_changes(ks_db(s)) : 0;
    return r;
}

int ks_outbox_release(ks_store *s, const char *hook, int64_t before,
                      size_t *n, kw_diag *d)
{
    int r;

    if (hook == NULL)
        r = ks_run(s, d, "taking back interrupted hook deliveries",
                   "UPDATE outbox SET state = 'pending', lease_until = NULL "
                   "WHERE state = 'running'",
                   "");
    else
        r = ks_run(s, d, "taking back expired hook leases",
                   "UPDATE outbox SET state = 'pending', lease_until = NULL "
                   "WHERE hook = ?1 AND state = 'running' AND lease_until "
                   "< ?2",
                   "ti", hook, before);
    if (n != NULL)
        *n = r == 0 ? (size_t)sqlite3_changes(ks_db(s)) : 0;
    return r;
}

int ks_outbox_claimable(ks_store *s, const char *hook, int *has,
                        int64_t *first_due, kw_diag *d)
{
    sqlite3_stmt *q = NULL;
    int r;

    *has = 0;
    *first_due = 0;
    if ((r = prepare(s,
                     "SELECT (SELECT COUNT(*) FROM outbox WHERE hook = "
                     "?1 AND state = 'running'), (SELECT MIN(next_at) "
                     "FROM outbox WHERE hook = ?1 AND state = "
                     "'pending')",
                     &q, "claiming hook deliveries", d)) != 0)
        return r;
    sqlite3_bind_text(q, 1, hook, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_ROW) {
        r = ks_db_error(s, d, "claiming hook deliveries");
    } else {
        *has = sqlite3_column_int64(q, 0) == 0 &&
               sqlite3_column_type(q, 1) != SQLITE_NULL;
        *first_due = sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);
    return r;
}

int ks_outbox_claim_each(ks_store *s, const char *hook, int all, int64_t now,
                         int first_too, int limit, int64_t lease_until,
                         int (*cb)(void *ctx, int64_t row, int64_t event_id,
                                   int attempt),
                         void *ctx, kw_diag *d)
{
    sqlite3_stmt *q = NULL, *u = NULL;
    int rc, r;

    if ((r = prepare(s,
                     "SELECT id, event_id, attempt FROM outbox WHERE hook "
                     "= ?1 AND state = 'pending' AND (?2 OR next_at <= ?3 "
                     "OR (?5 AND attempt = 0)) ORDER BY event_id LIMIT ?4",
                     &q, "claiming hook deliveries", d)) != 0 ||
        (r = prepare(s,
                     "UPDATE outbox SET state = 'running', "
                     "lease_until = ?2 WHERE id = ?1",
                     &u, "claiming hook deliveries", d)) != 0)
        goto out;
    sqlite3_bind_text(q, 1, hook, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, all);
    sqlite3_bind_int64(q, 3, now);
    sqlite3_bind_int(q, 4, limit);
    sqlite3_bind_int(q, 5, first_too);
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        r = cb(ctx, sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1),
               sqlite3_column_int(q, 2));
        if (r != 0)
            break;
        sqlite3_reset(u);
        sqlite3_bind_int64(u, 1, sqlite3_column_int64(q, 0));
        sqlite3_bind_int64(u, 2, lease_until);
        if (sqlite3_step(u) != SQLITE_DONE)
            r = ks_db_error(s, d, "claiming hook deliveries");
    }
    if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = ks_db_error(s, d, "claiming hook deliveries");
out:
    sqlite3_finalize(q);
    sqlite3_finalize(u);
    return r;
}

int ks_outbox_next_due(ks_store *s, const char *hook, int64_t *at, int *has,
                       kw_diag *d)
{
    return ks_value(s, d, "reading when hooks are due", at, has,
                    "SELECT MIN(CASE WHEN state = 'running' THEN "
                    "lease_until ELSE next_at END) FROM outbox "
                    "WHERE hook = ?1 AND (state = 'pending' OR "
                    "state = 'running')",
                    "t", hook);
}

int ks_outbox_settle(ks_store *s, int64_t row, int ok, int give_up,
                     int attempt, int64_t run_id, int64_t next_at,
                     int64_t now, const char *why, int *changed, kw_diag *d)
{
    int r;

    if (ok)
        r = ks_run(s, d, "settling a hook delivery",
                   "UPDATE outbox SET state = 'done', attempt = ?2, "
                   "lease_until = NULL, last_run = ?3, finished_at = "
                   "?4, last_error = NULL WHERE id = ?1 AND state = "
                   "'running'",
                   "iiii", row, (int64_t)attempt, run_id, now);
    else
        r = ks_run(s, d, "settling a hook delivery",
                   "UPDATE outbox SET state = ?2, attempt = ?3, "
                   "lease_until = NULL, last_run = ?4, next_at = ?5, "
                   "finished_at = CASE WHEN ?2 = 'failed' THEN ?6 END, "
                   "last_error = ?7 WHERE id = ?1 AND state = "
                   "'running'",
                   "itiiiit", row, give_up ? "failed" : "pending",
                   (int64_t)attempt, run_id, next_at, now, why);
    *changed = r == 0 ? sqlite3_changes(ks_db(s)) : 0;
    return r;
}

int ks_outbox_event_open(ks_store *s, int64_t event_id, int *open,
                         kw_diag *d)
{
    int64_t v;
    int r = ks_value(s, d, "reading hook deliveries", &v, NULL,
                     "SELECT EXISTS (SELECT 1 FROM outbox WHERE "
                     "event_id = ?1 AND (state = 'pending' OR state = "
                     "'running'))",
                     "i", event_id);

    *open = r == 0 && v != 0;
    return r;
}

int ks_outbox_retry(ks_store *s, const char *hook, int64_t now, size_t *n,
                    kw_diag *d)
{
    int r = ks_run(s, d, "retrying failed hook deliveries",
                   "UPDATE outbox SET state = 'pending', attempt = 0, "
                   "next_at = ?2, finished_at = NULL WHERE state = 'failed' "
                   "AND (?1 IS NULL OR hook = ?1)",
                   "ti", hook, now);

    *n = r == 0 ? (size_t)sqlite3_changes(ks_db(s)) : 0;
    return r;
}

/* ---- runs ------------------------------------------------------------------ */

int ks_outbox_run_add(ks_store *s, const ks_outbox_run_rec *o,
                      int64_t *run_id, kw_diag *d)
{
    sqlite3_stmt *st;
    int rc, r;

    if ((r = prepare(
             s,
             "INSERT INTO hook_runs (hook, started_at, finished_at, attempt, "
             "events, event_type, object, result, exit_status, signal, "
             "duration_ms, output, last_line, error, test) VALUES (?1, ?2, "
             "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
             &st, "recording a hook run", d)) != 0)
        return r;
    sqlite3_bind_text(st, 1, o->hook, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, o->started_at);
    sqlite3_bind_int64(st, 3, o->finished_at);
    sqlite3_bind_int(st, 4, o->attempt);
    sqlite3_bind_text(st, 5, o->events, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, o->event_type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, o->object, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, o->result, -1, SQLITE_STATIC);
    if (o->exit_status >= 0)
        sqlite3_bind_int(st, 9, o->exit_status);
    if (o->signal > 0)
        sqlite3_bind_int(st, 10, o->signal);
    sqlite3_bind_int64(st, 11, o->duration_ms);
    if (o->output != NULL)
        sqlite3_bind_text(st, 12, o->output, (int)o->output_len,
                          SQLITE_TRANSIENT);
    if (o->last_line != NULL)
        sqlite3_bind_text(st, 13, o->last_line, -1, SQLITE_TRANSIENT);
    if (o->error != NULL && *o->error)
        sqlite3_bind_text(st, 14, o->error, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 15, o->test);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return ks_db_error(s, d, "recording a hook run");
    *run_id = sqlite3_last_insert_rowid(ks_db(s));
    if (o->test)
        return 0;
    return ks_run(s, d, "counting hook runs",
                  "INSERT INTO hook_stats (hook, result, runs, last_at) "
                  "VALUES (?1, ?2, 1, ?3) ON CONFLICT (hook, result) DO "
                  "UPDATE SET runs = runs + 1, last_at = ?3",
                  "tti", o->hook, o->result, o->finished_at);
}

int ks_outbox_runs_prune(ks_store *s, const char *hook, int64_t keep,
                         kw_diag *d)
{
    return ks_run(s, d, "pruning old hook runs",
                  "DELETE FROM hook_runs WHERE hook = ?1 AND id <= "
                  "(SELECT id FROM hook_runs WHERE hook = ?1 ORDER BY id "
                  "DESC LIMIT 1 OFFSET ?2)",
                  "ti", hook, keep);
}

int ks_outbox_history(ks_store *s, const char *hook, int limit,
                      int (*cb)(void *ctx, const ks_outbox_run *r),
                      void *ctx, kw_diag *d)
{
    sqlite3_stmt *q;
    ks_outbox_run row;
    int rc, r;

    if ((r = prepare(
             s,
             "SELECT id, hook, started_at, finished_at, attempt, events, "
             "event_type, object, result, exit_status, signal, duration_ms, "
             "output, last_line, error, test FROM hook_runs WHERE ?1 IS NULL "
             "OR hook = ?1 ORDER BY id DESC LIMIT ?2",
             &q, "reading hook runs", d)) != 0)
        return r;
    if (hook != NULL)
        sqlite3_bind_text(q, 1, hook, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, limit > 0 ? limit : -1);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        memset(&row, 0, sizeof(row));
        row.id = sqlite3_column_int64(q, 0);
        copy_col(q, 1, row.hook, sizeof(row.hook));
        row.started_at = sqlite3_column_int64(q, 2);
        row.finished_at = sqlite3_column_int64(q, 3);
        row.attempt = sqlite3_column_int(q, 4);
        copy_col(q, 5, row.events, sizeof(row.events));
        copy_col(q, 6, row.event_type, sizeof(row.event_type));
        copy_col(q, 7, row.object, sizeof(row.object));
        copy_col(q, 8, row.result, sizeof(row.result));
        row.exit_status = sqlite3_column_type(q, 9) == SQLITE_NULL
                              ? -1
                              : sqlite3_column_int(q, 9);
        row.signal = sqlite3_column_int(q, 10);
        row.duration_ms = sqlite3_column_int64(q, 11);
        row.output = col_text(q, 12);
        copy_col(q, 13, row.last_line, sizeof(row.last_line));
        copy_col(q, 14, row.error, sizeof(row.error));
        row.test = sqlite3_column_int(q, 15);
        if (cb(ctx, &row) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "reading hook runs");
    sqlite3_finalize(q);
    return r;
}

/* ---- failures and summaries --------------------------------------------- */

int ks_outbox_failures(ks_store *s,
                       int (*cb)(void *ctx, const ks_outbox_failure *f),
                       void *ctx, kw_diag *d)
{
    sqlite3_stmt *q;
    ks_outbox_failure f;
    int rc, r;

    /* The newest failed delivery per (hook, object), unless a later one
     * for the same pair succeeded. */
    if ((r = prepare(
             s,
             "SELECT x.hook, x.object, x.kind, x.object_id, c.fingerprint, "
             "e.type, x.attempt, x.finished_at, COALESCE(r.last_line, "
             "r.error, x.last_error) FROM outbox x "
             "JOIN events e ON e.id = x.event_id "
             "LEFT JOIN hook_runs r ON r.id = x.last_run "
             "LEFT JOIN certificates c ON c.name = x.object AND x.kind = "
             "'tls' AND x.object_id IS NULL "
             "WHERE x.state = 'failed' AND x.id = (SELECT MAX(y.id) FROM "
             "outbox y WHERE y.hook = x.hook AND y.object IS x.object AND "
             "y.state = 'failed') AND NOT EXISTS (SELECT 1 FROM outbox z "
             "JOIN events ez ON ez.id = z.event_id "
             "WHERE z.hook = x.hook AND z.object IS x.object AND z.state = "
             "'done' AND z.id > x.id AND z.last_run IS NOT NULL AND "
             "ez.type = e.type) "
             "ORDER BY x.hook, x.object",
             &q, "reading failed hooks", d)) != 0)
        return r;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        memset(&f, 0, sizeof(f));
        copy_col(q, 0, f.hook, sizeof(f.hook));
        copy_col(q, 1, f.object, sizeof(f.object));
        copy_col(q, 2, f.kind, sizeof(f.kind));
        f.object_id = sqlite3_column_int64(q, 3);
        copy_col(q, 4, f.fingerprint, sizeof(f.fingerprint));
        copy_col(q, 5, f.event_type, sizeof(f.event_type));
        f.attempts = sqlite3_column_int(q, 6);
        f.at = sqlite3_column_int64(q, 7);
        copy_col(q, 8, f.last_line, sizeof(f.last_line));
        if (cb(ctx, &f) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "reading failed hooks");
    sqlite3_finalize(q);
    return r;
}

int ks_outbox_objects_by_fingerprint(ks_store *s, const char *fp,
                                     int (*cb)(void *ctx, int64_t id),
                                     void *ctx, kw_diag *d)
{
    sqlite3_stmt *q = NULL;
    int r;

    if ((r = prepare(s,
                     "SELECT id FROM objects WHERE fingerprint = ?1 "
                     "AND superseded_by IS NULL",
                     &q, "matching failed hooks to objects", d)) != 0)
        return r;
    sqlite3_bind_text(q, 1, fp, -1, SQLITE_STATIC);
    while (r == 0 && sqlite3_step(q) == SQLITE_ROW)
        r = cb(ctx, sqlite3_column_int64(q, 0));
    sqlite3_finalize(q);
    return r;
}

int ks_outbox_summary_get(ks_store *s, const char *hook,
                          ks_outbox_summary *out, kw_diag *d)
{
    sqlite3_stmt *q;
    int rc, r;

    memset(out, 0, sizeof(*out));
    if ((r = prepare(
             s,
             "SELECT (SELECT COUNT(*) FROM outbox WHERE hook = ?1 AND (state "
             "= 'pending' OR state = 'running')), (SELECT COUNT(*) FROM "
             "outbox WHERE hook = ?1 AND state = 'failed'), (SELECT "
             "COALESCE(SUM(runs), 0) FROM hook_stats WHERE hook = ?1 AND "
             "result = 'ok'), (SELECT COALESCE(SUM(runs), 0) FROM hook_stats "
             "WHERE hook = ?1 AND result != 'ok'), (SELECT MAX(last_at) FROM "
             "hook_stats WHERE hook = ?1), (SELECT last_at FROM hook_stats "
             "WHERE hook = ?1 AND result = 'ok'), (SELECT result FROM "
             "hook_runs WHERE hook = ?1 AND test = 0 ORDER BY id DESC LIMIT "
             "1)",
             &q, "reading a hook's summary", d)) != 0)
        return r;
    sqlite3_bind_text(q, 1, hook, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->pending = sqlite3_column_int64(q, 0);
        out->failed = sqlite3_column_int64(q, 1);
        out->runs_ok = sqlite3_column_int64(q, 2);
        out->runs_failed = sqlite3_column_int64(q, 3);
        out->last_run_at = sqlite3_column_int64(q, 4);
        out->last_ok_at = sqlite3_column_int64(q, 5);
        copy_col(q, 6, out->last_result, sizeof(out->last_result));
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW)
        return ks_db_error(s, d, "reading a hook's summary");
    return 0;
}

int ks_outbox_stats(ks_store *s,
                    int (*cb)(void *ctx, const char *hook,
                              const char *result, int64_t runs,
                              int64_t last_at),
                    void *ctx, kw_diag *d)
{
    sqlite3_stmt *q;
    int rc, r;

    if ((r = prepare(s,
                     "SELECT hook, result, runs, last_at FROM "
                     "hook_stats ORDER BY hook, result",
                     &q, "reading hook counters", d)) != 0)
        return r;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        if (cb(ctx, col_text(q, 0), col_text(q, 1),
               sqlite3_column_int64(q, 2), sqlite3_column_int64(q, 3)) != 0)
            break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "reading hook counters");
    sqlite3_finalize(q);
    return r;
}

int ks_outbox_usages_of(ks_store *s, const char *path, const char *lineage,
                        int (*cb)(void *ctx, const char *daemon,
                                  const char *config, int line,
                                  const char *path),
                        void *ctx, kw_diag *d)
{
    sqlite3_stmt *q;
    int rc, r;

    /* The usage's path may be the file or a name under the lineage (the
     * live/NAME/... paths a daemon is configured with). */
    if ((r = prepare(s,
                     "SELECT daemon, config, line, path FROM usages "
                     "WHERE path = ?1 OR (?2 IS NOT NULL AND "
                     "substr(path, 1, length(?2) + 1) = ?2 || '/') "
                     "ORDER BY daemon, config",
                     &q, "reading which daemons use a file", d)) != 0)
        return r;
    sqlite3_bind_text(q, 1, path, -1, SQLITE_TRANSIENT);
    if (lineage != NULL)
        sqlite3_bind_text(q, 2, lineage, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(q, 2);
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW)
        r = cb(ctx, col_text(q, 0), col_text(q, 1), sqlite3_column_int(q, 2),
               col_text(q, 3));
    if (r == 0 && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "reading which daemons use a file");
    sqlite3_finalize(q);
    return r;
}
