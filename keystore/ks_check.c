/*
 * ks_check.c: findings of live checks per object and checker
 * (ks_check.h).
 */
#include "ks_check.h"

#include "ks_store_int.h"

#include "../common/kw_json.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int ks_check_endpoint_object(ks_store *s, const char *name, int64_t *id,
                             kw_diag *d)
{
    int found = 0, r;

    *id = 0;
    r = ks_value(s, d, "looking up an endpoint", id, &found,
                 "SELECT object_id FROM endpoints WHERE name = ?1", "t",
                 name);
    if (r == 0 && !found)
        r = kw_diag_set(d, KW_ENOTFOUND,
                        "endpoint %s is not in the inventory yet (its first "
                        "probe records it)", name);
    return r;
}

/* The end of a function's transaction, when it began its own (own):
 * committed after r == 0, else rolled back; r, or the commit's error. */
static int end_own(ks_store *s, int own, int r, kw_diag *d)
{
    if (!own)
        return r;
    if (r == 0)
        return ks_commit(s, d);
    ks_rollback(s);
    return r;
}

/* The ids (column 0) of st's rows whose name (column 1; NULL: none) is
 * not one of keep's n, malloc'd into *ids (*nids of them).  st is
 * finalized.  0, or KW_E* with d saying what while `what`. */
static int ids_not_kept(ks_store *s, sqlite3_stmt *st,
                        const char *const *keep, size_t n, int64_t **ids,
                        size_t *nids, const char *what, kw_diag *d)
{
    int64_t *grown;
    size_t cap = 0, k;
    int r = 0, rc;

    *ids = NULL;
    *nids = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);

        for (k = 0; name != NULL && k < n && strcmp(keep[k], name) != 0; k++)
            ;
        if (name != NULL && k < n)
            continue;
        if (*nids == cap) {
            cap = cap ? cap * 2 : 16;
            if ((grown = realloc(*ids, cap * sizeof(*grown))) == NULL) {
                r = kw_diag_set(d, KW_ENOMEM, "out of memory");
                break;
            }
            *ids = grown;
        }
        (*ids)[(*nids)++] = sqlite3_column_int64(st, 0);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = ks_db_error(s, d, what);
    sqlite3_finalize(st);
    return r;
}

int ks_check_sync_kind(ks_store *s, const char *kind,
                       const char *const *names, size_t n,
                       const char *source, int64_t now, kw_diag *d)
{
    int own = sqlite3_get_autocommit(ks_db(s)) != 0, r = 0, found;
    sqlite3_stmt *st = NULL;
    int64_t *drop = NULL, id;
    size_t ndrop = 0, i;

    if (own && (r = ks_begin(s, d)) != 0)
        return r;
    for (i = 0; r == 0 && i < n; i++) {
        r = ks_value(s, d, "looking up an object", &id, &found,
                     "SELECT id FROM objects WHERE kind = ?1 AND name = ?2",
                     "tt", kind, names[i]);
        if (r == 0 && !found)
            r = ks_run(s, d, "adding an object",
                       "INSERT INTO objects (kind, name, source, created_at, "
                       "updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                       "ttti", kind, names[i], source, now);
        else if (r == 0)
            r = ks_run(s, d, "updating an object",
                       "UPDATE objects SET source = ?2 WHERE id = ?1 AND "
                       "source != ?2",
                       "it", id, source);
    }
    if (r == 0 && sqlite3_prepare_v2(ks_db(s),
                                     "SELECT id, name FROM objects WHERE "
                                     "kind = ?1",
                                     -1, &st, NULL) != SQLITE_OK)
        r = ks_db_error(s, d, "listing objects");
    if (r == 0) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        r = ids_not_kept(s, st, names, n, &drop, &ndrop, "listing objects",
                         d);
    }
    for (i = 0; r == 0 && i < ndrop; i++)
        r = ks_run(s, d, "removing an object",
                   "DELETE FROM objects WHERE id = ?1", "i", drop[i]);
    free(drop);
    return end_own(s, own, r, d);
}

int ks_check_object(ks_store *s, const char *kind, const char *name,
                    int64_t *id, kw_diag *d)
{
    int found = 0, r;

    *id = 0;
    r = ks_value(s, d, "looking up an object", id, &found,
                 "SELECT id FROM objects WHERE kind = ?1 AND name = ?2",
                 "tt", kind, name);
    if (r == 0 && !found)
        r = kw_diag_set(d, KW_ENOTFOUND, "no %s object %s in the inventory",
                        kind, name);
    return r;
}

int ks_check_cert_object(ks_store *s, const char *name, int64_t *id,
                         kw_diag *d)
{
    int found = 0, r;

    *id = 0;
    r = ks_value(s, d, "looking up a managed certificate's object", id,
                 &found,
                 "SELECT o.id FROM objects o JOIN certificates c ON "
                 "o.fingerprint = c.fingerprint WHERE c.name = ?1 AND "
                 "o.kind = 'tls' AND o.position = 0 ORDER BY "
                 "(o.source LIKE '%/live/' || ?1 || '/cert.pem') DESC, "
                 "(o.source LIKE '%/live/' || ?1 || '/%') DESC, o.id DESC "
                 "LIMIT 1",
                 "t", name);
    if (r == 0 && !found)
        r = kw_diag_set(d, KW_ENOTFOUND, "certificate \"%s\" has no live "
                        "version in the inventory yet", name);
    return r;
}

int ks_check_record(ks_store *s, int64_t object_id, const char *checker,
                    const char *label, const ks_check_finding *f, size_t n,
                    int64_t now, ks_health *health, int *changed,
                    kw_diag *d)
{
    int own = sqlite3_get_autocommit(ks_db(s)) != 0, r = 0, found = 0;
    sqlite3_stmt *st = NULL;
    ks_health worst = KS_HEALTH_OK, before = KS_HEALTH_OK;
    const char *reason = "";
    char kind[16] = "";
    size_t i;

    *changed = 0;
    for (i = 0; i < n; i++)
        if (ks_health_rank(f[i].severity) > ks_health_rank(worst)) {
            worst = f[i].severity;
            reason = f[i].text != NULL ? f[i].text : "";
        }
    *health = worst;
    if (own && (r = ks_begin(s, d)) != 0)
        return r;
    /* The event's kind is what a hook's kinds = filters on: an endpoint's
     * object is "endpoint", as the probe's events say. */
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT CASE WHEN EXISTS (SELECT 1 FROM endpoints "
                           "WHERE object_id = ?1) THEN 'endpoint' ELSE kind "
                           "END FROM objects WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        r = ks_db_error(s, d, "looking up an object");
    } else {
        sqlite3_bind_int64(st, 1, object_id);
        if ((found = sqlite3_step(st) == SQLITE_ROW))
            snprintf(kind, sizeof(kind), "%s",
                     (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        st = NULL;
    }
    if (r == 0 && !found)
        r = kw_diag_set(d, KW_ENOTFOUND,
                        "object %lld (%s) is no longer in the inventory",
                        (long long)object_id, label);
    if (r == 0) {
        /* The previous run's health, ok when there was none. */
        if (sqlite3_prepare_v2(ks_db(s),
                               "SELECT health FROM checks WHERE object_id = "
                               "?1 AND checker = ?2",
                               -1, &st, NULL) != SQLITE_OK)
            r = ks_db_error(s, d, "reading a check's health");
        else {
            sqlite3_bind_int64(st, 1, object_id);
            sqlite3_bind_text(st, 2, checker, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW) {
                int h = ks_health_parse(
                    (const char *)sqlite3_column_text(st, 0));

                before = h < 0 ? KS_HEALTH_UNKNOWN : (ks_health)h;
            }
            sqlite3_finalize(st);
        }
    }
    if (r == 0)
        r = ks_run(s, d, "replacing a check's findings",
                   "DELETE FROM check_findings WHERE object_id = ?1 AND "
                   "checker = ?2",
                   "it", object_id, checker);
    for (i = 0; r == 0 && i < n; i++)
        r = ks_run(s, d, "recording a check's finding",
                   "INSERT INTO check_findings (object_id, checker, "
                   "severity, code, text, fix, record, checked_at) VALUES "
                   "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                   "itttttti", object_id, checker,
                   ks_health_word(f[i].severity),
                   f[i].code != NULL ? f[i].code : "",
                   f[i].text != NULL ? f[i].text : "",
                   f[i].fix != NULL ? f[i].fix : "",
                   f[i].record != NULL && f[i].record[0] != '\0'
                       ? f[i].record
                       : NULL,
                   now);
    if (r == 0)
        r = ks_run(s, d, "recording a check",
                   "INSERT INTO checks (object_id, checker, checked_at, "
                   "health) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (object_id, "
                   "checker) DO UPDATE SET checked_at = ?3, health = ?4",
                   "itit", object_id, checker, now, ks_health_word(worst));
    if (r == 0 && before != worst) {
        r = ks_event_add(
            s, now, object_id, "health.changed",
            json_pack("{s:o, s:s, s:s, s:s, s:s, s:o}", "object",
                      kw_json_str(label), "kind", kind, "checker", checker,
                      "from", ks_health_word(before), "to",
                      ks_health_word(worst), "reason", kw_json_str(reason)),
            d);
        *changed = r == 0;
    }
    r = end_own(s, own, r, d);
    if (r != 0)
        *changed = 0;
    return r;
}

/* Forget checker's runs and findings on the objects whose name (the
 * second column of sql, which lists checker's checked objects with ?1
 * the checker) is not one of keep's n. */
static int forget_unkept(ks_store *s, const char *checker, const char *sql,
                         const char *const *keep, size_t n, kw_diag *d)
{
    int own = sqlite3_get_autocommit(ks_db(s)) != 0, r = 0;
    sqlite3_stmt *st = NULL;
    int64_t *drop = NULL;
    size_t ndrop = 0, i;

    if (own && (r = ks_begin(s, d)) != 0)
        return r;
    if (sqlite3_prepare_v2(ks_db(s), sql, -1, &st, NULL) != SQLITE_OK) {
        r = ks_db_error(s, d, "listing checked objects");
    } else {
        sqlite3_bind_text(st, 1, checker, -1, SQLITE_STATIC);
        r = ids_not_kept(s, st, keep, n, &drop, &ndrop,
                         "listing checked objects", d);
    }
    for (i = 0; r == 0 && i < ndrop; i++) {
        r = ks_run(s, d, "forgetting a check's findings",
                   "DELETE FROM check_findings WHERE object_id = ?1 AND "
                   "checker = ?2",
                   "it", drop[i], checker);
        if (r == 0)
            r = ks_run(s, d, "forgetting a check",
                       "DELETE FROM checks WHERE object_id = ?1 AND checker "
                       "= ?2",
                       "it", drop[i], checker);
    }
    free(drop);
    return end_own(s, own, r, d);
}

int ks_check_prune(ks_store *s, const char *checker,
                   const char *const *keep, size_t n, kw_diag *d)
{
    /* The checked objects and the endpoint names they have (NULL: not
     * an endpoint any more). */
    return forget_unkept(s, checker,
                         "SELECT c.object_id, e.name FROM checks c LEFT "
                         "JOIN endpoints e ON e.object_id = c.object_id "
                         "WHERE c.checker = ?1",
                         keep, n, d);
}

int ks_check_prune_certs(ks_store *s, const char *checker,
                         const char *const *keep, size_t n, kw_diag *d)
{
    /* The checked objects and the managed certificate whose live
     * version each is (NULL: an old version, or no certificate). */
    return forget_unkept(s, checker,
                         "SELECT c.object_id, m.name FROM checks c LEFT "
                         "JOIN objects o ON o.id = c.object_id LEFT JOIN "
                         "certificates m ON m.fingerprint = o.fingerprint "
                         "WHERE c.checker = ?1",
                         keep, n, d);
}
