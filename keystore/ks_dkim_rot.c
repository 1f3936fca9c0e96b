/*
 * ks_dkim_rot.c: DKIM selector rotations and their journal (ks_dkim_rot.h).
 */
#include "ks_dkim_rot.h"

#include "ks_store_int.h"

#include "../common/kw_vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROT_COLUMNS                                                         \
    "id, domain, selector, key_path, key_type, COALESCE(record, ''), "      \
    "COALESCE(old_selector, ''), COALESCE(old_record, ''), stage, since, "  \
    "wait_until, waits_for, COALESCE(stopped, ''), started_at, failures, "   \
    "old_started_at"

/* A rotation not finished (the schema's partial unique index). */
#define ROT_RUNNING                                                         \
    "NOT (stage IN ('removed', 'revoked', 'aborted') OR (stage = "          \
    "'retired' AND old_selector IS NULL))"

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

static const char *or_null(const char *s)
{
    return s[0] != '\0' ? s : NULL;
}


static void read_row(sqlite3_stmt *st, ks_dkim_rot *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    ks_col_text(st, 1, r->domain, sizeof(r->domain));
    ks_col_text(st, 2, r->selector, sizeof(r->selector));
    ks_col_text(st, 3, r->key_path, sizeof(r->key_path));
    ks_col_text(st, 4, r->key_type, sizeof(r->key_type));
    ks_col_text(st, 5, r->record, sizeof(r->record));
    ks_col_text(st, 6, r->old_selector, sizeof(r->old_selector));
    ks_col_text(st, 7, r->old_record, sizeof(r->old_record));
    ks_col_text(st, 8, r->stage, sizeof(r->stage));
    r->since = sqlite3_column_int64(st, 9);
    r->wait_until = sqlite3_column_int64(st, 10);
    ks_col_text(st, 11, r->waits_for, sizeof(r->waits_for));
    ks_col_text(st, 12, r->stopped, sizeof(r->stopped));
    r->started_at = sqlite3_column_int64(st, 13);
    r->failures = sqlite3_column_int(st, 14);
    r->old_started_at = sqlite3_column_int64(st, 15);
}

static int write_row(ks_store *s, ks_dkim_rot *r, kw_diag *d)
{
    int rc;

    if (r->id == 0) {
        int64_t used = 0;

        /* The schema's partial index in words: one running rotation
         * per selector (a dedicated zone's slots reuse finished ones;
         * dkim_rotate.c refuses any reuse without zone =). */
        rc = ks_value(s, d, "checking a DKIM selector", &used, NULL,
                      "SELECT count(*) FROM dkim_rotations WHERE domain = ?1 "
                      "COLLATE NOCASE AND selector = ?2 AND " ROT_RUNNING,
                      "tt", r->domain, r->selector);
        if (rc != 0)
            return rc;
        if (used > 0)
            return kw_diag_set(d, KW_EINVAL,
                               "DKIM selector %s of %s is taken by a "
                               "rotation still running",
                               r->selector, r->domain);
        rc = ks_run(s, d, "recording a DKIM rotation",
                    "INSERT INTO dkim_rotations (domain, selector, key_path, "
                    "key_type, record, old_selector, old_record, stage, "
                    "since, wait_until, waits_for, stopped, started_at, "
                    "failures, old_started_at) VALUES (?1, ?2, ?3, ?4, ?5, "
                    "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                    "ttttttttiittiii", r->domain, r->selector, r->key_path,
                    r->key_type, or_null(r->record), or_null(r->old_selector),
                    or_null(r->old_record), r->stage, (int64_t)r->since,
                    (int64_t)r->wait_until, r->waits_for, or_null(r->stopped),
                    (int64_t)r->started_at, (int64_t)r->failures,
                    (int64_t)r->old_started_at);
        if (rc == 0)
            r->id = sqlite3_last_insert_rowid(ks_db(s));
        return rc;
    }
    return ks_run(s, d, "recording a DKIM rotation",
                  "UPDATE dkim_rotations SET record = ?2, old_selector = ?3, "
                  "old_record = ?4, stage = ?5, since = ?6, wait_until = ?7, "
                  "waits_for = ?8, stopped = ?9, failures = ?10, "
                  "old_started_at = ?11 WHERE id = ?1",
                  "ittttiittii", (int64_t)r->id, or_null(r->record),
                  or_null(r->old_selector), or_null(r->old_record), r->stage,
                  (int64_t)r->since, (int64_t)r->wait_until, r->waits_for,
                  or_null(r->stopped), (int64_t)r->failures,
                  (int64_t)r->old_started_at);
}

int ks_dkim_rot_save(ks_store *s, ks_dkim_rot *r, const char *old_stage,
                     int64_t at, const char *intent, const char *effect,
                     const char *result, const char *event, kw_diag *d)
{
    return ks_dkim_rot_save_for(s, r, old_stage, at, intent, effect, result,
                                event, NULL, d);
}

int ks_dkim_rot_save_for(ks_store *s, ks_dkim_rot *r, const char *old_stage,
                         int64_t at, const char *intent, const char *effect,
                         const char *result, const char *event,
                         const char *signer_conf, kw_diag *d)
{
    int64_t id = r->id;
    int rc;

    if ((rc = ks_begin(s, d)) != 0)
        return rc;
    rc = write_row(s, r, d);
    if (rc == 0)
        rc = ks_run(s, d, "journalling a DKIM rotation",
                    "INSERT INTO dkim_rot_journal (rotation_id, at, "
                    "old_stage, new_stage, intent, effect, result) VALUES "
                    "(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    "iittttt", (int64_t)r->id, at,
                    nz(old_stage), r->stage, nz(intent), nz(effect),
                    nz(result));
    if (rc == 0 && event != NULL)
        rc = ks_event_add(s, at, 0, event,
                          json_pack("{s:s, s:s, s:s, s:s, s:s?}",
                                    "domain", r->domain, "selector",
                                    r->selector, "old_selector",
                                    r->old_selector, "key_path", r->key_path,
                                    "opendkim_conf", signer_conf),
                          d);
    if (rc == 0)
        rc = ks_commit(s, d);
    if (rc != 0) {
        ks_rollback(s);
        r->id = id;
    }
    return rc;
}

static void read_step(sqlite3_stmt *st, void *row)
{
    ks_dkim_rot_step *j = row;

    j->at = sqlite3_column_int64(st, 0);
    ks_col_text(st, 1, j->old_stage, sizeof(j->old_stage));
    ks_col_text(st, 2, j->new_stage, sizeof(j->new_stage));
    ks_col_text(st, 3, j->intent, sizeof(j->intent));
    ks_col_text(st, 4, j->effect, sizeof(j->effect));
    ks_col_text(st, 5, j->result, sizeof(j->result));
}

static void read_rot(sqlite3_stmt *st, void *row)
{
    read_row(st, row);
}

/* Run sql with text parameters ?1 = a and ?2 = b (when not NULL) and
 * ?3 = i (when the statement has it), and collect its rotation rows. */
static int query(ks_store *s, ks_dkim_rot **out, size_t *n, size_t max,
                 kw_diag *d, const char *sql, const char *a, const char *b,
                 int64_t i)
{
    sqlite3_stmt *st = NULL;
    void *v;
    int rc;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(ks_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading DKIM rotations");
    if (a != NULL)
        sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b != NULL)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    if (sqlite3_bind_parameter_count(st) >= 3)
        sqlite3_bind_int64(st, 3, i);
    rc = ks_collect(s, st, max, sizeof(ks_dkim_rot), read_rot, &v, n,
                 "reading DKIM rotations", d);
    *out = v;
    return rc;
}

int ks_dkim_track_of(const char *key_type)
{
    return strcmp(key_type, "ed25519") == 0 ? KS_DKIM_TRACK_ED25519
                                             : KS_DKIM_TRACK_RSA;
}

/* The SQL that keeps a track's rows: the key types are the section's
 * own words (service/config_dkim.c), never input. */
static const char *track_sql(int track)
{
    return track == KS_DKIM_TRACK_RSA       ? " AND key_type LIKE 'rsa%'"
           : track == KS_DKIM_TRACK_ED25519 ? " AND key_type = 'ed25519'"
                                            : "";
}

int ks_dkim_rot_latest(ks_store *s, const char *domain, ks_dkim_rot *out,
                       int *found, kw_diag *d)
{
    return ks_dkim_rot_latest_track(s, domain, KS_DKIM_TRACK_ANY, out, found,
                                    d);
}

int ks_dkim_rot_latest_track(ks_store *s, const char *domain, int track,
                             ks_dkim_rot *out, int *found, kw_diag *d)
{
    static const char *const any[] = {NULL};

    return ks_dkim_rot_latest_in(s, domain, track, any, 0, out, found, d);
}

int ks_dkim_rot_latest_in(ks_store *s, const char *domain, int track,
                          const char *const *stages, int64_t except_id,
                          ks_dkim_rot *out, int *found, kw_diag *d)
{
    char list[512] = "";
    size_t i, len = 0;
    ks_dkim_rot *v;
    size_t n;
    int rc;

    /* The stages are the state machine's own names, never input: a list
     * of ', '-separated quoted words, so the stage test is one IN. */
    for (i = 0; stages[i] != NULL && len + 24 < sizeof(list); i++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s'%s'",
                                i ? ", " : "", stages[i]);
    {
        char sql[1024];

        snprintf(sql, sizeof(sql),
                 "SELECT " ROT_COLUMNS " FROM dkim_rotations WHERE domain = "
                 "?1 COLLATE NOCASE AND id <> ?3%s %s%s%s ORDER BY id "
                 "DESC LIMIT 1",
                 track_sql(track), i ? "AND stage IN (" : "", list,
                 i ? ")" : "");
        rc = query(s, &v, &n, 1, d, sql, domain, NULL, except_id);
    }
    if (rc != 0)
        return rc;
    *found = n > 0;
    if (n > 0)
        *out = v[0];
    free(v);
    return 0;
}

int ks_dkim_rot_selector_used(ks_store *s, const char *domain,
                              const char *selector, int *used, kw_diag *d)
{
    int64_t c = 0;
    int rc = ks_value(s, d, "checking a DKIM selector", &c, NULL,
                      "SELECT count(*) FROM dkim_rotations WHERE domain = ?1 "
                      "COLLATE NOCASE AND selector = ?2",
                      "tt", domain, selector);

    *used = c > 0;
    return rc;
}

int ks_dkim_rot_list(ks_store *s, const char *domain, ks_dkim_rot **out,
                     size_t *n, kw_diag *d)
{
    return query(s, out, n, (size_t)-1, d,
                 domain != NULL
                     ? "SELECT " ROT_COLUMNS " FROM dkim_rotations WHERE "
                       "domain = ?1 COLLATE NOCASE ORDER BY domain, id"
                     : "SELECT " ROT_COLUMNS " FROM dkim_rotations ORDER BY "
                       "domain, id",
                 domain, NULL, 0);
}

int ks_dkim_rot_list_track(ks_store *s, const char *domain, int track,
                           ks_dkim_rot **out, size_t *n, kw_diag *d)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT " ROT_COLUMNS " FROM dkim_rotations WHERE domain = ?1 "
             "COLLATE NOCASE%s ORDER BY domain, id",
             track_sql(track));
    return query(s, out, n, (size_t)-1, d, sql, domain, NULL, 0);
}

int ks_dkim_rot_journal(ks_store *s, int64_t id, ks_dkim_rot_step **out,
                        size_t *n, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    void *v;
    int rc;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT at, old_stage, new_stage, intent, effect, "
                           "result FROM dkim_rot_journal WHERE rotation_id = "
                           "?1 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading a DKIM rotation's journal");
    sqlite3_bind_int64(st, 1, id);
    rc = ks_collect(s, st, (size_t)-1, sizeof(ks_dkim_rot_step), read_step, &v,
                 n, "reading a DKIM rotation's journal", d);
    *out = v;
    return rc;
}

int ks_dkim_rot_hooks_of(ks_store *s, const char *type, const char *domain,
                         const char *selector, ks_dkim_rot_hooks *out,
                         kw_diag *d)
{
    static const char what[] = "reading the hook deliveries of a DKIM "
                               "rotation's event";
    sqlite3_stmt *st = NULL;
    int64_t cursor = 0;
    int found, rc;

    memset(out, 0, sizeof(*out));
    if ((rc = ks_value(s, d, what, &out->event_id, &found,
                       "SELECT MAX(id) FROM events WHERE type = ?1 AND "
                       "json_valid(detail) AND "
                       "json_extract(detail, '$.domain') = ?2 AND "
                       "json_extract(detail, '$.selector') = ?3",
                       "ttt", type, domain, selector)) != 0 ||
        !found)
        return rc;
    if ((rc = ks_value(s, d, what, &cursor, NULL,
                       "SELECT value FROM meta WHERE key = 'hook_cursor'",
                       "")) != 0)
        return rc;
    out->dispatched = cursor >= out->event_id;
    /* A successful settle clears last_error; a hook that left the
     * configuration is closed 'done' with the reason in last_error, which
     * is no reload. */
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT state, last_error IS NULL, hook, "
                           "COALESCE(last_error, '') FROM outbox WHERE "
                           "event_id = ?1 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, what);
    sqlite3_bind_int64(st, 1, out->event_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *state = nz((const char *)sqlite3_column_text(st, 0));
        int clean = sqlite3_column_int(st, 1);

        out->total++;
        if (strcmp(state, "done") == 0 && clean) {
            out->ok++;
            continue;
        }
        if (strcmp(state, "pending") == 0 || strcmp(state, "running") == 0)
            out->open++;
        else
            out->failed++;
        if (!clean || out->hook[0] == '\0') {
            ks_col_text(st, 2, out->hook, sizeof(out->hook));
            ks_col_text(st, 3, out->last_error, sizeof(out->last_error));
        }
    }
    rc = rc == SQLITE_DONE ? 0 : ks_db_error(s, d, what);
    sqlite3_finalize(st);
    return rc;
}
