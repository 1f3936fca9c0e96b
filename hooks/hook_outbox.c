#include "hook_outbox.h"

#include "../common/kw_json.h"
#include "../common/kw_time.h"
#include "../keystore/ks_health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs kept per hook in hook_runs; older ones are pruned. */
#define KEEP_RUNS 500
/* Deliveries in one coalesced run, and events read per dispatch step. */
#define MAX_BATCH 1000
#define DISPATCH_STEP 1000

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

/* What an event is about, from its detail and inventory object. */
typedef struct about {
    const char *object;
    const char *kind;
    const char *source_hook; /* hook.failed: the hook that failed */
} about;

static void event_about(json_t *detail, const char *type,
                        const char *obj_name, const char *obj_kind,
                        about *a)
{
    const char *v;

    memset(a, 0, sizeof(*a));
    a->kind = "other";
    if ((v = json_string_value(json_object_get(detail, "object"))) != NULL) {
        a->object = v;
        v = json_string_value(json_object_get(detail, "kind"));
        a->kind = v != NULL ? v : obj_kind != NULL ? obj_kind : "tls";
    } else if ((v = json_string_value(
                    json_object_get(detail, "certificate"))) != NULL) {
        a->object = v;
        a->kind = "tls";
    } else if ((v = json_string_value(json_object_get(detail, "endpoint"))) !=
               NULL) {
        a->object = v;
        a->kind = "endpoint";
    } else if (strcmp(type, "hook.failed") == 0 &&
               (v = json_string_value(json_object_get(detail, "hook"))) !=
                   NULL) {
        a->object = v;
        a->kind = "hook";
    } else if (strncmp(type, "account.", 8) == 0) {
        a->object = "account";
        a->kind = "account";
    } else if (obj_name != NULL) {
        a->object = obj_name;
        a->kind = obj_kind != NULL ? obj_kind : "tls";
    }
    if (strcmp(type, "hook.failed") == 0)
        a->source_hook = json_string_value(json_object_get(detail, "hook"));
}

/* ---- event documents ------------------------------------------------------ */

static int set_new(json_t *o, const char *k, json_t *v)
{
    return v == NULL ? -1 : json_object_set_new(o, k, v);
}

static json_t *path_join(const char *dir, const char *name, const char *file)
{
    char p[4096];

    if (snprintf(p, sizeof(p), "%s/live/%s%s%s", dir, name,
                 file != NULL ? "/" : "", file != NULL ? file : "") >=
        (int)sizeof(p))
        return json_null();
    return kw_json_path(p);
}

int kw_hook_event_doc(ks_store *s, int64_t event_id, const char *certs_dir,
                      json_t **out, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    json_t *doc = NULL, *detail = NULL, *names = NULL;
    int rc, r = 0, bad = 0;
    char when[32];

    *out = NULL;
    if (sqlite3_prepare_v2(
            ks_db(s),
            "SELECT e.id, e.at, e.type, e.detail, o.name, o.kind, "
            "o.not_after, o.sans, o.fingerprint, f.path, o.key_path, "
            "c.names, c.not_after, c.fingerprint, e.object_id "
            "FROM events e LEFT JOIN objects o ON o.id = e.object_id "
            "LEFT JOIN files f ON f.id = o.file_id "
            "LEFT JOIN certificates c ON c.name = CASE WHEN "
            "json_valid(e.detail) THEN json_extract(e.detail, "
            "'$.certificate') END "
            "WHERE e.id = ?1",
            -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading an event for a hook");
    sqlite3_bind_int64(st, 1, event_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        r = kw_diag_set(d, KW_ENOTFOUND, "event %lld: not in the database",
                        (long long)event_id);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = ks_db_error(s, d, "reading an event for a hook");
        goto out;
    }
    {
        const char *type = col_text(st, 2);
        const char *dtext = col_text(st, 3);
        int managed;
        about a;
        json_t *paths = json_object();

        detail = dtext != NULL ? json_loads(dtext, 0, NULL) : NULL;
        if (!json_is_object(detail)) {
            json_decref(detail);
            detail = json_object();
        }
        event_about(detail, type != NULL ? type : "", col_text(st, 4),
                    col_text(st, 5), &a);
        managed = json_object_get(detail, "certificate") != NULL;
        doc = json_object();
        if (doc == NULL || paths == NULL) {
            json_decref(paths);
            r = KW_ENOMEM;
            goto out;
        }
        kw_time_rfc3339(sqlite3_column_int64(st, 1), when, sizeof(when));
        bad |= set_new(doc, "id", json_integer(sqlite3_column_int64(st, 0)));
        bad |= set_new(doc, "type", kw_json_str(type));
        bad |= set_new(doc, "at", json_integer(sqlite3_column_int64(st, 1)));
        bad |= set_new(doc, "time", json_string(when));
        bad |= set_new(doc, "object", kw_json_path(a.object));
        bad |= set_new(doc, "kind", json_string(a.kind));
        if (sqlite3_column_type(st, 14) != SQLITE_NULL)
            bad |= set_new(doc, "object_id",
                           json_integer(sqlite3_column_int64(st, 14)));
        /* Names: the managed certificate's, else the object's SANs. */
        if (col_text(st, 11) != NULL)
            names = json_loads(col_text(st, 11), 0, NULL);
        else if (col_text(st, 7) != NULL)
            names = json_loads(col_text(st, 7), 0, NULL);
        else if (json_is_array(json_object_get(detail, "names")))
            names = json_incref(json_object_get(detail, "names"));
        if (json_is_array(names))
            bad |= json_object_set(doc, "names", names);
        if (sqlite3_column_type(st, 12) != SQLITE_NULL)
            bad |= set_new(doc, "not_after",
                           json_integer(sqlite3_column_int64(st, 12)));
        else if (sqlite3_column_type(st, 6) != SQLITE_NULL)
            bad |= set_new(doc, "not_after",
                           json_integer(sqlite3_column_int64(st, 6)));
        if (col_text(st, 13) != NULL)
            bad |= set_new(doc, "fingerprint_sha256",
                           kw_json_str(col_text(st, 13)));
        else if (col_text(st, 8) != NULL)
            bad |= set_new(doc, "fingerprint_sha256",
                           kw_json_str(col_text(st, 8)));
        if (managed && certs_dir != NULL && a.object != NULL) {
            bad |= set_new(paths, "cert",
                           path_join(certs_dir, a.object, "cert.pem"));
            bad |= set_new(paths, "key",
                           path_join(certs_dir, a.object, "privkey.pem"));
            bad |= set_new(paths, "fullchain",
                           path_join(certs_dir, a.object, "fullchain.pem"));
            bad |= set_new(paths, "chain",
                           path_join(certs_dir, a.object, "chain.pem"));
            bad |= set_new(paths, "lineage",
                           path_join(certs_dir, a.object, NULL));
        } else {
            const char *p = col_text(st, 9);
            json_t *dp = json_object_get(detail, "path");

            /* The event's own path is already in kw_json_path's form. */
            if (p != NULL)
                bad |= set_new(paths, "cert", kw_json_path(p));
            else if (dp != NULL && !json_is_null(dp))
                bad |= json_object_set(paths, "cert", dp);
            if (col_text(st, 10) != NULL)
                bad |= set_new(paths, "key", kw_json_path(col_text(st, 10)));
        }
        if (json_object_size(paths) > 0)
            bad |= json_object_set(doc, "paths", paths);
        json_decref(paths);
        bad |= json_object_set(doc, "detail", detail);
    }
    if (bad)
        r = KW_ENOMEM;
out:
    if (r == KW_ENOMEM)
        kw_diag_set(d, r, "out of memory describing event %lld",
                    (long long)event_id);
    sqlite3_finalize(st);
    json_decref(detail);
    json_decref(names);
    if (r == 0)
        *out = doc;
    else
        json_decref(doc);
    return r;
}

/* ---- dispatch ---------------------------------------------------------------- */

static int get_cursor(ks_store *s, int64_t *cursor, kw_diag *d)
{
    return ks_value(s, d, "reading the hook cursor", cursor, NULL,
                    "SELECT value FROM meta WHERE key = 'hook_cursor'", "");
}

/* One step: up to DISPATCH_STEP events, in a transaction of its own.
 * *more is 1 when a full step was read. */
static int dispatch_step(ks_store *s, const kw_hook_def *defs, size_t ndefs,
                         int64_t now, size_t *queued, json_t *settled,
                         int *more, kw_diag *d)
{
    sqlite3_stmt *q = NULL, *ins = NULL;
    int64_t cursor, last = -1;
    size_t n = 0, i;
    int rc, r;

    *more = 0;
    if ((r = ks_begin(s, d)) != 0)
        return r;
    if ((r = get_cursor(s, &cursor, d)) != 0)
        goto out;
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT e.id, e.at, e.type, e.detail, o.name, "
                           "o.kind, e.object_id FROM events e "
                           "LEFT JOIN objects o ON o.id = e.object_id "
                           "WHERE e.id > ?1 ORDER BY e.id LIMIT ?2",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(ks_db(s),
                           "INSERT INTO outbox (event_id, hook, state, "
                           "next_at, object, kind, object_id, created_at) "
                           "VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7) "
                           "ON CONFLICT (event_id, hook) DO NOTHING",
                           -1, &ins, NULL) != SQLITE_OK) {
        r = ks_db_error(s, d, "reading events for hooks");
        goto out;
    }
    sqlite3_bind_int64(q, 1, cursor);
    sqlite3_bind_int(q, 2, DISPATCH_STEP);
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *type = col_text(q, 2), *dtext = col_text(q, 3);
        json_t *detail = dtext != NULL ? json_loads(dtext, 0, NULL) : NULL;
        int64_t at = sqlite3_column_int64(q, 1);
        size_t took = 0;
        about a;

        last = sqlite3_column_int64(q, 0);
        n++;
        if (type == NULL)
            type = "";
        event_about(detail, type, col_text(q, 4), col_text(q, 5), &a);
        for (i = 0; r == 0 && i < ndefs; i++) {
            const kw_hook_def *h = &defs[i];
            /* The window starts at the event; a first delivery of a
             * hook without one is due at once. */
            int64_t due = (at > now ? now : at) + h->coalesce;

            if (!kw_hook_matches(h, type, a.object, a.kind, a.source_hook))
                continue;
            sqlite3_reset(ins);
            sqlite3_bind_int64(ins, 1, last);
            sqlite3_bind_text(ins, 2, h->name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 3, due);
            if (a.object != NULL)
                sqlite3_bind_text(ins, 4, a.object, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(ins, 4);
            sqlite3_bind_text(ins, 5, a.kind, -1, SQLITE_TRANSIENT);
            if (sqlite3_column_type(q, 6) != SQLITE_NULL)
                sqlite3_bind_int64(ins, 6, sqlite3_column_int64(q, 6));
            else
                sqlite3_bind_null(ins, 6);
            sqlite3_bind_int64(ins, 7, now);
            if (sqlite3_step(ins) != SQLITE_DONE) {
                r = ks_db_error(s, d, "queueing a hook delivery");
            } else {
                took++;
                *queued += (size_t)sqlite3_changes(ks_db(s));
            }
        }
        if (r == 0 && took == 0 && settled != NULL &&
            strncmp(type, "cert.", 5) == 0) {
            json_t *doc = NULL;

            r = kw_hook_event_doc(s, last, NULL, &doc, d);
            if (r == 0 && kw_json_append(settled, doc) != 0)
                r = kw_diag_set(d, KW_ENOMEM, "out of memory");
        }
        json_decref(detail);
    }
    if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = ks_db_error(s, d, "reading events for hooks");
    if (r == 0 && last > cursor)
        r = ks_run(s, d, "moving the hook cursor",
                   "INSERT OR REPLACE INTO meta (key, value) "
                   "VALUES ('hook_cursor', ?1)",
                   "i", last);
    *more = n == DISPATCH_STEP;
out:
    sqlite3_finalize(q);
    sqlite3_finalize(ins);
    if (r == 0)
        return ks_commit(s, d);
    ks_rollback(s);
    return r;
}

/* Is there an event after the cursor?  Read without a transaction, so a
 * pass with nothing new takes no write lock. */
static int events_pending(ks_store *s, int *pending, kw_diag *d)
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

int kw_hook_dispatch(ks_store *s, const kw_hook_def *defs, size_t ndefs,
                     int64_t now, size_t *queued, json_t *settled,
                     kw_diag *d)
{
    int more = 1, r;

    *queued = 0;
    if ((r = events_pending(s, &more, d)) != 0)
        return r;
    while (r == 0 && more)
        r = dispatch_step(s, defs, ndefs, now, queued, settled, &more, d);
    return r;
}

int kw_hook_drop_unknown(ks_store *s, const kw_hook_def *defs, size_t ndefs,
                         int64_t now, size_t *dropped, kw_diag *d)
{
    sqlite3_stmt *q = NULL;
    char **names = NULL;
    size_t n = 0, i, j;
    int rc, r = 0;

    *dropped = 0;
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT DISTINCT hook FROM outbox WHERE state = "
                           "'pending' OR state = 'running' OR state = "
                           "'failed'",
                           -1, &q, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "listing hook deliveries");
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *h = col_text(q, 0);
        int known = 0;
        char **nn;

        for (j = 0; h != NULL && j < ndefs; j++)
            known |= strcmp(defs[j].name, h) == 0;
        if (known || h == NULL)
            continue;
        nn = realloc(names, (n + 1) * sizeof(*nn));
        if (nn == NULL || (nn[n] = strdup(h)) == NULL) {
            if (nn != NULL)
                names = nn;
            r = kw_diag_set(d, KW_ENOMEM, "out of memory");
            break;
        }
        names = nn;
        n++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "listing hook deliveries");
    sqlite3_finalize(q);
    for (i = 0; r == 0 && i < n; i++) {
        r = ks_run(s, d, "closing the deliveries of a removed hook",
                   "UPDATE outbox SET state = 'done', finished_at = ?2, "
                   "last_error = 'not delivered: the hook left the "
                   "configuration' WHERE hook = ?1 AND (state = 'pending' "
                   "OR state = 'running' OR state = 'failed')",
                   "ti", names[i], now);
        if (r == 0)
            *dropped += (size_t)sqlite3_changes(ks_db(s));
    }
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return r;
}

/* ---- claiming and finishing ---------------------------------------------------- */

int kw_hook_reclaim(ks_store *s, size_t *n, kw_diag *d)
{
    int r = ks_run(s, d, "taking back interrupted hook deliveries",
                   "UPDATE outbox SET state = 'pending', lease_until = NULL "
                   "WHERE state = 'running'",
                   "");

    *n = r == 0 ? (size_t)sqlite3_changes(ks_db(s)) : 0;
    return r;
}

void kw_hook_batch_clear(kw_hook_batch *b)
{
    free(b->rows);
    free(b->attempts);
    json_decref(b->events);
    memset(b, 0, sizeof(*b));
}

int kw_hook_claim(ks_store *s, const kw_hook_def *h, int64_t now, int now_all,
                  int64_t lease_until, const char *certs_dir,
                  kw_hook_batch *b, kw_diag *d)
{
    sqlite3_stmt *q = NULL, *u = NULL;
    int64_t first_due = 0;
    int rc, r, has = 0;

    memset(b, 0, sizeof(*b));
    /* Nothing open for the hook: no transaction, no write lock. */
    if ((r = kw_hook_next_due(s, h->name, &first_due, &has, d)) != 0)
        return r;
    if (!has || (!now_all && first_due > now))
        return 0;
    if ((r = ks_begin(s, d)) != 0)
        return r;
    /* A lease that ended belongs to a process that is gone. */
    r = ks_run(s, d, "taking back expired hook leases",
               "UPDATE outbox SET state = 'pending', lease_until = NULL "
               "WHERE hook = ?1 AND state = 'running' AND lease_until < ?2",
               "ti", h->name, now);
    if (r != 0)
        goto out;
    /* Another process running this hook: wait for it. */
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT (SELECT COUNT(*) FROM outbox WHERE hook = "
                           "?1 AND state = 'running'), (SELECT MIN(next_at) "
                           "FROM outbox WHERE hook = ?1 AND state = "
                           "'pending')",
                           -1, &q, NULL) != SQLITE_OK) {
        r = ks_db_error(s, d, "claiming hook deliveries");
        goto out;
    }
    sqlite3_bind_text(q, 1, h->name, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_ROW) {
        r = ks_db_error(s, d, "claiming hook deliveries");
        goto out;
    }
    has = sqlite3_column_int64(q, 0) == 0 &&
          sqlite3_column_type(q, 1) != SQLITE_NULL;
    first_due = sqlite3_column_int64(q, 1);
    sqlite3_finalize(q);
    q = NULL;
    if (!has || (!now_all && first_due > now))
        goto out;
    if (sqlite3_prepare_v2(
            ks_db(s),
            "SELECT id, event_id, attempt FROM outbox WHERE hook = ?1 AND "
            "state = 'pending' AND (?2 OR next_at <= ?3 OR (?5 AND "
            "attempt = 0)) ORDER BY event_id LIMIT ?4",
            -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(ks_db(s),
                           "UPDATE outbox SET state = 'running', "
                           "lease_until = ?2 WHERE id = ?1",
                           -1, &u, NULL) != SQLITE_OK) {
        r = ks_db_error(s, d, "claiming hook deliveries");
        goto out;
    }
    sqlite3_bind_text(q, 1, h->name, -1, SQLITE_STATIC);
    /* Coalescing: once the oldest window has passed, everything pending
     * goes in the same run, the events still in their window too. */
    sqlite3_bind_int(q, 2, !now_all && h->coalesce > 0);
    sqlite3_bind_int64(q, 3, now);
    sqlite3_bind_int(q, 4, h->coalesce > 0 ? MAX_BATCH : 1);
    /* The command line delivers what is new at once; a delivery waiting
     * to be retried keeps its time. */
    sqlite3_bind_int(q, 5, now_all);
    if ((b->events = json_array()) == NULL ||
        (b->rows = calloc(MAX_BATCH, sizeof(*b->rows))) == NULL ||
        (b->attempts = calloc(MAX_BATCH, sizeof(*b->attempts))) == NULL) {
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto out;
    }
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *doc = NULL;
        int attempt = sqlite3_column_int(q, 2) + 1;

        r = kw_hook_event_doc(s, sqlite3_column_int64(q, 1), certs_dir, &doc,
                              d);
        if (r == 0 && kw_json_append(b->events, doc) != 0)
            r = kw_diag_set(d, KW_ENOMEM, "out of memory");
        if (r != 0)
            break;
        sqlite3_reset(u);
        sqlite3_bind_int64(u, 1, sqlite3_column_int64(q, 0));
        sqlite3_bind_int64(u, 2, lease_until);
        if (sqlite3_step(u) != SQLITE_DONE) {
            r = ks_db_error(s, d, "claiming hook deliveries");
            break;
        }
        b->rows[b->nrows] = sqlite3_column_int64(q, 0);
        b->attempts[b->nrows++] = attempt;
        if (attempt > b->attempt)
            b->attempt = attempt;
    }
    if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = ks_db_error(s, d, "claiming hook deliveries");
out:
    sqlite3_finalize(q);
    sqlite3_finalize(u);
    if (r == 0)
        r = ks_commit(s, d);
    else
        ks_rollback(s);
    if (r != 0)
        kw_hook_batch_clear(b);
    return r;
}

int kw_hook_next_due(ks_store *s, const char *hook, int64_t *at, int *has,
                     kw_diag *d)
{
    return ks_value(s, d, "reading when hooks are due", at, has,
                    "SELECT MIN(CASE WHEN state = 'running' THEN "
                    "lease_until ELSE next_at END) FROM outbox "
                    "WHERE hook = ?1 AND (state = 'pending' OR "
                    "state = 'running')",
                    "t", hook);
}

static char *event_ids(const kw_hook_batch *b)
{
    json_t *a = json_array();
    size_t i;
    char *text;

    for (i = 0; a != NULL && i < json_array_size(b->events); i++)
        json_array_append(a, json_object_get(json_array_get(b->events, i),
                                             "id"));
    text = a != NULL ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return text;
}

static int record_run(ks_store *s, const kw_hook_def *h,
                      const kw_hook_batch *b, const kw_hook_outcome *o,
                      int64_t now, int64_t *run_id, kw_diag *d)
{
    sqlite3_stmt *st;
    json_t *newest = b != NULL && json_array_size(b->events) > 0
                         ? json_array_get(b->events,
                                          json_array_size(b->events) - 1)
                         : NULL;
    char *ids = b != NULL ? event_ids(b) : NULL;
    int rc;

    if (sqlite3_prepare_v2(
            ks_db(s),
            "INSERT INTO hook_runs (hook, started_at, finished_at, attempt, "
            "events, event_type, object, result, exit_status, signal, "
            "duration_ms, output, last_line, error, test) VALUES (?1, ?2, "
            "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            -1, &st, NULL) != SQLITE_OK) {
        free(ids);
        return ks_db_error(s, d, "recording a hook run");
    }
    sqlite3_bind_text(st, 1, h->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, o->started_at);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int(st, 4, b != NULL && b->attempt > 0 ? b->attempt : 1);
    sqlite3_bind_text(st, 5, ids != NULL ? ids : "[]", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, json_string_value(json_object_get(newest,
                                                               "type")),
                      -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, json_string_value(json_object_get(newest,
                                                               "object")),
                      -1, SQLITE_TRANSIENT);
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
    free(ids);
    if (rc != SQLITE_DONE)
        return ks_db_error(s, d, "recording a hook run");
    *run_id = sqlite3_last_insert_rowid(ks_db(s));
    if (o->test)
        return 0;
    return ks_run(s, d, "counting hook runs",
                  "INSERT INTO hook_stats (hook, result, runs, last_at) "
                  "VALUES (?1, ?2, 1, ?3) ON CONFLICT (hook, result) DO "
                  "UPDATE SET runs = runs + 1, last_at = ?3",
                  "tti", h->name, o->result, now);
}

/* Is any delivery of the event still open? */
static int event_open(ks_store *s, int64_t event_id, int *open, kw_diag *d)
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

static int64_t retry_wait(const kw_hook_def *h, int attempt)
{
    int64_t w = h->retry_delay > 0 ? h->retry_delay : 1;
    int i;

    for (i = 1; i < attempt && w < KW_HOOK_MAX_RETRY_WAIT; i++)
        w *= 2;
    return w < KW_HOOK_MAX_RETRY_WAIT ? w : KW_HOOK_MAX_RETRY_WAIT;
}

/* Does every event of the batch announce a hook failure? */
static int only_hook_failures(const kw_hook_batch *b)
{
    size_t i;

    for (i = 0; i < json_array_size(b->events); i++) {
        const char *t = json_string_value(
            json_object_get(json_array_get(b->events, i), "type"));

        if (t == NULL || strcmp(t, "hook.failed") != 0)
            return 0;
    }
    return json_array_size(b->events) > 0;
}

int kw_hook_finish(ks_store *s, const kw_hook_def *h, const kw_hook_batch *b,
                   const kw_hook_outcome *o, int64_t now, int64_t *run_id,
                   int *gave_up, json_t *settled, kw_diag *d)
{
    int ok = strcmp(o->result, "ok") == 0;
    const char *why = o->last_line != NULL && *o->last_line ? o->last_line
                      : o->error != NULL && *o->error      ? o->error
                                                           : o->result;
    json_t *given_up = NULL; /* the newest event failed for good */
    size_t i;
    int r, failed_for_good = 0;

    *run_id = 0;
    if (gave_up != NULL)
        *gave_up = 0;
    if ((r = ks_begin(s, d)) != 0)
        return r;
    r = record_run(s, h, b, o, now, run_id, d);
    for (i = 0; r == 0 && b != NULL && i < b->nrows; i++) {
        int attempt = b->attempts != NULL && b->attempts[i] > 0
                          ? b->attempts[i]
                          : 1;
        int give_up = !ok && attempt > h->retries;

        if (ok)
            r = ks_run(s, d, "settling a hook delivery",
                       "UPDATE outbox SET state = 'done', attempt = ?2, "
                       "lease_until = NULL, last_run = ?3, finished_at = "
                       "?4, last_error = NULL WHERE id = ?1 AND state = "
                       "'running'",
                       "iiii", b->rows[i], (int64_t)attempt, *run_id, now);
        else
            r = ks_run(s, d, "settling a hook delivery",
                       "UPDATE outbox SET state = ?2, attempt = ?3, "
                       "lease_until = NULL, last_run = ?4, next_at = ?5, "
                       "finished_at = CASE WHEN ?2 = 'failed' THEN ?6 END, "
                       "last_error = ?7 WHERE id = ?1 AND state = "
                       "'running'",
                       "itiiiit", b->rows[i],
                       give_up ? "failed" : "pending", (int64_t)attempt,
                       *run_id, now + retry_wait(h, attempt), now, why);
        if (r == 0 && give_up && sqlite3_changes(ks_db(s)) == 1) {
            failed_for_good = 1;
            given_up = json_array_get(b->events, i);
        }
    }
    /* A failure for good is an event itself, so another hook (a pager, a
     * mail) can carry it; never to the hook that failed (kw_hook_matches),
     * and never for a failure to deliver hook.failed itself, or two alert
     * hooks whose pager is down would feed each other for ever. */
    if (r == 0 && failed_for_good && !only_hook_failures(b)) {
        json_t *detail = json_pack(
            "{s:s, s:O?, s:O?, s:O?, s:i, s:s, s:o}", "hook", h->name,
            "event", json_object_get(given_up, "type"), "about",
            json_object_get(given_up, "object"), "about_kind",
            json_object_get(given_up, "kind"), "attempts",
            b->attempt > 0 ? b->attempt : 1, "result", o->result,
            "last_line", kw_json_str(why));

        r = ks_event_add(s, now, 0, "hook.failed", detail, d);
    }
    if (gave_up != NULL)
        *gave_up = failed_for_good;
    /* Keep the newest runs of the hook. */
    if (r == 0)
        r = ks_run(s, d, "pruning old hook runs",
                   "DELETE FROM hook_runs WHERE hook = ?1 AND id <= "
                   "(SELECT id FROM hook_runs WHERE hook = ?1 ORDER BY id "
                   "DESC LIMIT 1 OFFSET ?2)",
                   "ti", h->name, (int64_t)KEEP_RUNS);
    for (i = 0; r == 0 && settled != NULL && b != NULL &&
                i < json_array_size(b->events);
         i++) {
        json_t *ev = json_array_get(b->events, i);
        int open = 0;

        r = event_open(s, json_integer_value(json_object_get(ev, "id")),
                       &open, d);
        if (r == 0 && !open && kw_json_append(settled, json_incref(ev)) != 0)
            r = kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    if (r == 0)
        return ks_commit(s, d);
    ks_rollback(s);
    return r;
}

int kw_hook_retry(ks_store *s, const char *hook, int64_t now, size_t *n,
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

/* ---- reading -------------------------------------------------------------------- */

int kw_hook_history(ks_store *s, const char *hook, int limit,
                    int (*cb)(void *ctx, const kw_hook_run_row *r),
                    void *ctx, kw_diag *d)
{
    sqlite3_stmt *q;
    kw_hook_run_row row;
    int rc, r = 0;

    if (sqlite3_prepare_v2(
            ks_db(s),
            "SELECT id, hook, started_at, finished_at, attempt, events, "
            "event_type, object, result, exit_status, signal, duration_ms, "
            "output, last_line, error, test FROM hook_runs WHERE ?1 IS NULL "
            "OR hook = ?1 ORDER BY id DESC LIMIT ?2",
            -1, &q, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading hook runs");
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

int kw_hook_failures(ks_store *s,
                     int (*cb)(void *ctx, const kw_hook_failure *f),
                     void *ctx, kw_diag *d)
{
    sqlite3_stmt *q;
    kw_hook_failure f;
    int rc, r = 0;

    /* The newest failed delivery per (hook, object), unless a later one
     * for the same pair succeeded. */
    if (sqlite3_prepare_v2(
            ks_db(s),
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
            -1, &q, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading failed hooks");
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

static int collect_failure(void *ctx, const kw_hook_failure *f)
{
    kw_hook_overlay *ov = ctx;
    kw_hook_failure *nf = realloc(ov->f, (ov->n + 1) * sizeof(*nf));

    if (nf == NULL) {
        ov->oom = 1;
        return 1;
    }
    ov->f = nf;
    nf[ov->n++] = *f;
    return 0;
}

static int add_id(kw_hook_overlay *ov, size_t i, int64_t id)
{
    int64_t *ni = realloc(ov->ids[i], (ov->nids[i] + 1) * sizeof(*ni));

    if (ni == NULL)
        return -1;
    ov->ids[i] = ni;
    ni[ov->nids[i]++] = id;
    return 0;
}

int kw_hook_overlay_load(ks_store *s, kw_hook_overlay *ov, kw_diag *d)
{
    sqlite3_stmt *q = NULL;
    size_t i;
    int r, rc;

    memset(ov, 0, sizeof(*ov));
    if ((r = kw_hook_failures(s, collect_failure, ov, d)) != 0 || ov->oom)
        goto fail;
    if (ov->n == 0)
        return 0;
    ov->ids = calloc(ov->n, sizeof(*ov->ids));
    ov->nids = calloc(ov->n, sizeof(*ov->nids));
    ov->used = calloc(ov->n, 1);
    if (ov->ids == NULL || ov->nids == NULL || ov->used == NULL) {
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto fail;
    }
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT id FROM objects WHERE fingerprint = ?1 "
                           "AND superseded_by IS NULL",
                           -1, &q, NULL) != SQLITE_OK) {
        r = ks_db_error(s, d, "matching failed hooks to objects");
        goto fail;
    }
    for (i = 0; i < ov->n; i++) {
        if (ov->f[i].object_id > 0 && add_id(ov, i, ov->f[i].object_id) != 0)
            break;
        if (ov->f[i].fingerprint[0] == '\0')
            continue;
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, ov->f[i].fingerprint, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(q)) == SQLITE_ROW)
            if (add_id(ov, i, sqlite3_column_int64(q, 0)) != 0) {
                ov->oom = 1;
                break;
            }
        if (ov->oom)
            break;
    }
    sqlite3_finalize(q);
    if (i < ov->n) {
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto fail;
    }
    return 0;
fail:
    kw_hook_overlay_free(ov);
    return r != 0 ? r : kw_diag_set(d, KW_ENOMEM, "out of memory");
}

const kw_hook_failure *kw_hook_overlay_find(kw_hook_overlay *ov, int64_t id)
{
    size_t i, k;

    for (i = 0; i < ov->n; i++)
        for (k = 0; k < ov->nids[i]; k++)
            if (ov->ids[i][k] == id) {
                ov->used[i] = 1;
                return &ov->f[i];
            }
    return NULL;
}

void kw_hook_overlay_free(kw_hook_overlay *ov)
{
    size_t i;

    for (i = 0; ov->ids != NULL && i < ov->n; i++)
        free(ov->ids[i]);
    free(ov->ids);
    free(ov->nids);
    free(ov->used);
    free(ov->f);
    memset(ov, 0, sizeof(*ov));
}

void kw_hook_failure_text(const kw_hook_failure *f, char *out, size_t cap)
{
    char tmp[1200];
    size_t n;

    snprintf(tmp, sizeof(tmp), "hook %s failed for %s (%s, %d attempt%s): %s",
             f->hook, f->object[0] ? f->object : "-", f->event_type,
             f->attempts, f->attempts == 1 ? "" : "s",
             f->last_line[0] ? f->last_line : "no output");
    /* Cut to the caller's buffer: a one-line reason. */
    n = strlen(tmp);
    if (cap == 0)
        return;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, tmp, n);
    out[n] = '\0';
}

int kw_hook_overlay_apply(kw_hook_overlay *ov, int64_t id, ks_verdict *v)
{
    const kw_hook_failure *f = kw_hook_overlay_find(ov, id);
    ks_finding *fi;

    if (f == NULL)
        return 0;
    v->health = KS_HEALTH_CRITICAL;
    kw_hook_failure_text(f, v->reason, sizeof(v->reason));
    if (v->nfindings < KS_MAX_FINDINGS) {
        memmove(&v->findings[1], &v->findings[0],
                v->nfindings * sizeof(v->findings[0]));
        v->nfindings++;
    }
    fi = &v->findings[0];
    fi->health = KS_HEALTH_CRITICAL;
    memcpy(fi->text, v->reason, sizeof(fi->text));
    fi->text[sizeof(fi->text) - 1] = '\0';
    snprintf(fi->fix, sizeof(fi->fix),
             "keywarden hooks history %.90s; fix it, then keywarden hooks "
             "retry %.90s",
             f->hook, f->hook);
    return 1;
}

int kw_hook_summary_get(ks_store *s, const char *hook, kw_hook_summary *out,
                        kw_diag *d)
{
    sqlite3_stmt *q;
    int rc;

    memset(out, 0, sizeof(*out));
    if (sqlite3_prepare_v2(
            ks_db(s),
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
            -1, &q, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading a hook's summary");
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

int kw_hook_stats(ks_store *s,
                  int (*cb)(void *ctx, const char *hook, const char *result,
                            int64_t runs, int64_t last_at),
                  void *ctx, kw_diag *d)
{
    sqlite3_stmt *q;
    int rc, r = 0;

    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT hook, result, runs, last_at FROM "
                           "hook_stats ORDER BY hook, result",
                           -1, &q, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading hook counters");
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        if (cb(ctx, col_text(q, 0), col_text(q, 1),
               sqlite3_column_int64(q, 2), sqlite3_column_int64(q, 3)) != 0)
            break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "reading hook counters");
    sqlite3_finalize(q);
    return r;
}

/* ---- reload = auto ------------------------------------------------------------ */

static int add_target(kw_hook_target *out, size_t max, size_t *n,
                      const char *daemon, const char *config,
                      const char *path, int line)
{
    kw_hook_target t;
    size_t i;

    memset(&t, 0, sizeof(t));
    if (strcmp(daemon, "postfix") == 0) {
        const char *slash = strrchr(config, '/');

        t.reload = KW_RELOAD_POSTFIX;
        /* postfix -c takes the directory of main.cf. */
        if (slash != NULL && strcmp(config, "/etc/postfix/main.cf") != 0 &&
            strcmp(config, "/etc/postfix/master.cf") != 0)
            snprintf(t.config, sizeof(t.config), "%.*s",
                     (int)(slash - config), config);
    } else if (strcmp(daemon, "nginx") == 0) {
        t.reload = KW_RELOAD_NGINX;
    } else if (strcmp(daemon, "dovecot") == 0) {
        t.reload = KW_RELOAD_DOVECOT;
    } else {
        return 0;
    }
    snprintf(t.why, sizeof(t.why), "%s: %s:%d names %s", daemon, config,
             line, path);
    for (i = 0; i < *n; i++)
        if (out[i].reload == t.reload && strcmp(out[i].config, t.config) == 0)
            return 0;
    if (*n < max)
        out[(*n)++] = t;
    return 0;
}

int kw_hook_auto_targets(ks_store *s, json_t *events, kw_hook_target *out,
                         size_t max, size_t *n, kw_diag *d)
{
    static const char *const keys[] = {"cert", "key", "fullchain", "chain",
                                       NULL};
    sqlite3_stmt *q;
    size_t i;
    int rc, r = 0, k;

    *n = 0;
    /* The usage's path may be the file or a name under the lineage (the
     * live/NAME/... paths a daemon is configured with). */
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT daemon, config, line, path FROM usages "
                           "WHERE path = ?1 OR (?2 IS NOT NULL AND "
                           "substr(path, 1, length(?2) + 1) = ?2 || '/') "
                           "ORDER BY daemon, config",
                           -1, &q, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading which daemons use a file");
    for (i = 0; r == 0 && i < json_array_size(events); i++) {
        json_t *paths = json_object_get(json_array_get(events, i), "paths");
        const char *lineage =
            json_string_value(json_object_get(paths, "lineage"));

        for (k = 0; r == 0 && keys[k] != NULL; k++) {
            const char *p = json_string_value(json_object_get(paths, keys[k]));

            if (p == NULL)
                continue;
            sqlite3_reset(q);
            sqlite3_bind_text(q, 1, p, -1, SQLITE_TRANSIENT);
            if (lineage != NULL)
                sqlite3_bind_text(q, 2, lineage, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(q, 2);
            while ((rc = sqlite3_step(q)) == SQLITE_ROW)
                add_target(out, max, n, col_text(q, 0), col_text(q, 1),
                           col_text(q, 3), sqlite3_column_int(q, 2));
            if (rc != SQLITE_DONE)
                r = ks_db_error(s, d, "reading which daemons use a file");
        }
    }
    sqlite3_finalize(q);
    return r;
}
