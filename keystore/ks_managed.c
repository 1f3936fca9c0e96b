#include "ks_managed.h"

#include "ks_store_int.h"

#include "../common/kw_json.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy_col(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    snprintf(dst, cap, "%s", t != NULL ? (const char *)t : "");
}

static void read_row(sqlite3_stmt *st, ks_managed *m)
{
    memset(m, 0, sizeof(*m));
    copy_col(st, 0, m->name, sizeof(m->name));
    m->live_version = sqlite3_column_int(st, 1);
    m->not_before = sqlite3_column_int64(st, 2);
    m->not_after = sqlite3_column_int64(st, 3);
    copy_col(st, 4, m->fingerprint, sizeof(m->fingerprint));
    m->renew_at = sqlite3_column_int64(st, 5);
    copy_col(st, 6, m->order_url, sizeof(m->order_url));
    copy_col(st, 7, m->step, sizeof(m->step));
    m->attempts = sqlite3_column_int(st, 8);
    m->failures = sqlite3_column_int(st, 9);
    m->last_attempt_at = sqlite3_column_int64(st, 10);
    m->last_ok_at = sqlite3_column_int64(st, 11);
    m->retry_at = sqlite3_column_int64(st, 12);
    copy_col(st, 13, m->last_error, sizeof(m->last_error));
    copy_col(st, 14, m->problem, sizeof(m->problem));
    copy_col(st, 15, m->ari_cert_id, sizeof(m->ari_cert_id));
    m->ari_offered = sqlite3_column_int(st, 16);
    m->ari_start = sqlite3_column_int64(st, 17);
    m->ari_end = sqlite3_column_int64(st, 18);
    m->ari_renew_at = sqlite3_column_int64(st, 19);
    m->ari_next_check = sqlite3_column_int64(st, 20);
    copy_col(st, 21, m->ari_explanation, sizeof(m->ari_explanation));
    m->precheck_at = sqlite3_column_int64(st, 22);
    m->precheck_ok = sqlite3_column_type(st, 23) == SQLITE_NULL
                         ? -1
                         : sqlite3_column_int(st, 23);
    copy_col(st, 24, m->precheck_verdict, sizeof(m->precheck_verdict));
}

#define COLUMNS                                                            \
    "name, live_version, not_before, not_after, fingerprint, renew_at, "   \
    "order_url, step, attempts, failures, last_attempt_at, last_ok_at, "   \
    "retry_at, last_error, problem, ari_cert_id, ari_offered, ari_start, " \
    "ari_end, ari_renew_at, ari_next_check, ari_explanation, " \
    "precheck_at, precheck_ok, precheck_verdict"

int ks_managed_get(ks_store *s, const char *name, ks_managed *m, kw_diag *d)
{
    sqlite3_stmt *st;
    int rc, r = 0;

    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT " COLUMNS
                           " FROM certificates WHERE name = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading a managed certificate");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_row(st, m);
    else if (rc == SQLITE_DONE)
        r = kw_diag_set(d, KW_ENOTFOUND,
                        "certificate %s: never issued by keywarden", name);
    else
        r = ks_db_error(s, d, "reading a managed certificate");
    sqlite3_finalize(st);
    return r;
}

int ks_managed_each(ks_store *s, int (*cb)(void *ctx, const ks_managed *m),
                    void *ctx, kw_diag *d)
{
    sqlite3_stmt *st;
    ks_managed m;
    int rc, r = 0;

    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT " COLUMNS
                           " FROM certificates ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "listing managed certificates");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_row(st, &m);
        if (cb(ctx, &m) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "listing managed certificates");
    sqlite3_finalize(st);
    return r;
}

int ks_managed_same_names(ks_store *s, const char *name,
                          const char *names_json, int *same, kw_diag *d)
{
    sqlite3_stmt *st;
    int rc;

    *same = 0;
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT names = ?2 FROM certificates WHERE "
                           "name = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading the names of the last attempt");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, names_json, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *same = sqlite3_column_int(st, 0);
    else if (rc != SQLITE_DONE)
        rc = ks_db_error(s, d, "reading the names of the last attempt");
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : rc;
}

static int ensure(ks_store *s, const char *name, int64_t now, kw_diag *d)
{
    return ks_run(s, d, "recording a managed certificate",
               "INSERT INTO certificates (name, created_at, updated_at) "
               "VALUES (?1, ?2, ?2) ON CONFLICT (name) DO NOTHING",
               "ti", name, now);
}

static int event(ks_store *s, const char *type, json_t *detail, int64_t now,
                 kw_diag *d)
{
    return ks_event_add(s, now, 0, type, detail, d);
}

int ks_managed_event(ks_store *s, const char *type, json_t *detail,
                     int64_t now, kw_diag *d)
{
    return event(s, type, detail, now, d);
}

int ks_managed_attempt(ks_store *s, const char *name, const char *names_json,
                       int64_t now, kw_diag *d)
{
    int r = ensure(s, name, now, d);

    if (r == 0)
        r = ks_run(s, d, "recording a renewal attempt",
                "UPDATE certificates SET attempts = attempts + 1, "
                "last_attempt_at = ?2, names = ?3, updated_at = ?2 "
                "WHERE name = ?1",
                "tit", name, now, names_json != NULL ? names_json : "[]");
    return r;
}

int ks_managed_names(ks_store *s, const char *name, const char *names_json,
                     int64_t now, kw_diag *d)
{
    int r = ensure(s, name, now, d);

    if (r == 0)
        r = ks_run(s, d, "recording the names of a renewal",
                "UPDATE certificates SET names = ?2, updated_at = ?3 "
                "WHERE name = ?1",
                "tti", name, names_json != NULL ? names_json : "[]", now);
    return r;
}

int ks_managed_progress(ks_store *s, const char *name, const char *step,
                        const char *order_url, int64_t now, kw_diag *d)
{
    int r = ensure(s, name, now, d);

    if (r == 0)
        r = ks_run(s, d, "saving the order's progress",
                "UPDATE certificates SET step = ?2, order_url = CASE "
                "WHEN ?3 IS NULL THEN order_url WHEN ?3 = '' THEN NULL "
                "ELSE ?3 END, updated_at = ?4 WHERE name = ?1",
                "ttti", name, step, order_url, now);
    return r;
}

/* live/NAME now points at version: the row's live facts, the failure
 * state cleared (after a renewal), and the event, in one transaction.
 * detail is taken over. */
static int live_switched(ks_store *s, const char *name, int version,
                         int64_t nb, int64_t na, const char *fp,
                         int64_t renew_at, int renewed, const char *type,
                         json_t *detail, int64_t now, kw_diag *d)
{
    int r;

    if ((r = ks_begin(s, d)) != 0) {
        json_decref(detail);
        return r;
    }
    r = ensure(s, name, now, d);
    if (r == 0)
        r = ks_run(s, d, "recording the live version",
                "UPDATE certificates SET live_version = ?2, not_before = ?3, "
                "not_after = ?4, fingerprint = ?5, renew_at = ?6, "
                "updated_at = ?7 WHERE name = ?1",
                "tiiitii", name, (int64_t)version, nb, na, fp, renew_at, now);
    if (r == 0 && renewed)
        r = ks_run(s, d, "recording the new version",
                "UPDATE certificates SET order_url = NULL, step = NULL, "
                "failures = 0, last_ok_at = ?2, last_error = NULL, "
                "problem = NULL, retry_at = NULL WHERE name = ?1",
                "ti", name, now);
    if (r == 0)
        r = event(s, type, detail, now, d);
    else
        json_decref(detail);
    if (r == 0)
        return ks_commit(s, d);
    ks_rollback(s);
    return r;
}

int ks_managed_renewed(ks_store *s, const char *name, int version,
                       int previous, int64_t not_before, int64_t not_after,
                       const char *fingerprint, const char *dir,
                       int64_t renew_at, int64_t now, kw_diag *d)
{
    return live_switched(
        s, name, version, not_before, not_after, fingerprint, renew_at, 1,
        "cert.renewed",
        json_pack("{s:o, s:i, s:i, s:I, s:o, s:o}", "certificate",
                  kw_json_str(name), "version", version, "previous",
                  previous, "not_after", (json_int_t)not_after,
                  "fingerprint_sha256", kw_json_str(fingerprint), "dir",
                  kw_json_str(dir)),
        now, d);
}

int ks_managed_rolled_back(ks_store *s, const char *name, int version,
                           int from, int64_t not_before, int64_t not_after,
                           const char *fingerprint, int64_t renew_at,
                           int64_t now, kw_diag *d)
{
    return live_switched(
        s, name, version, not_before, not_after, fingerprint, renew_at, 0,
        "cert.rolled_back",
        json_pack("{s:o, s:i, s:i, s:I, s:o}", "certificate",
                  kw_json_str(name), "version", version, "from", from,
                  "not_after", (json_int_t)not_after, "fingerprint_sha256",
                  kw_json_str(fingerprint)),
        now, d);
}

int ks_managed_failed(ks_store *s, const char *name, const char *error,
                      const char *problem, int64_t retry_at, int keep_order,
                      int64_t now, kw_diag *d)
{
    int r;

    if ((r = ks_begin(s, d)) != 0)
        return r;
    r = ensure(s, name, now, d);
    if (r == 0)
        r = ks_run(s, d, "recording a failed renewal",
                keep_order
                    ? "UPDATE certificates SET failures = failures + 1, "
                      "last_error = ?2, problem = ?3, retry_at = ?4, "
                      "updated_at = ?5 WHERE name = ?1"
                    : "UPDATE certificates SET failures = failures + 1, "
                      "last_error = ?2, problem = ?3, retry_at = ?4, "
                      "order_url = NULL, step = NULL, updated_at = ?5 "
                      "WHERE name = ?1",
                "tttii", name, error, problem != NULL && *problem ? problem
                                                                  : NULL,
                retry_at, now);
    if (r == 0)
        r = event(s, "cert.renewal_failed",
                  json_pack("{s:o, s:o, s:o, s:I}", "certificate",
                            kw_json_str(name), "error", kw_json_str(error),
                            "problem",
                            kw_json_str(problem != NULL && *problem ? problem
                                                                    : NULL),
                            "retry_at", (json_int_t)retry_at),
                  now, d);
    if (r == 0)
        return ks_commit(s, d);
    ks_rollback(s);
    return r;
}

int ks_managed_ari(ks_store *s, const char *name, const char *cert_id,
                   int offered, int64_t start, int64_t end,
                   int64_t renew_at, int64_t next_check,
                   const char *explanation, int64_t now, kw_diag *d)
{
    int r = ensure(s, name, now, d);

    if (r == 0)
        r = ks_run(s, d, "recording the renewal information",
                "UPDATE certificates SET ari_cert_id = ?2, ari_offered = ?3, "
                "ari_start = NULLIF(?4, 0), ari_end = NULLIF(?5, 0), "
                "ari_renew_at = NULLIF(?6, 0), ari_next_check = ?7, "
                "ari_explanation = NULLIF(?8, ''), updated_at = ?9 "
                "WHERE name = ?1",
                "ttiiiiiti", name, cert_id, (int64_t)offered, start, end,
                renew_at, next_check, explanation ? explanation : "", now);
    return r;
}

int ks_managed_precheck(ks_store *s, const char *name, int ok,
                        const char *verdict, int64_t now, kw_diag *d)
{
    ks_managed m;
    int r, was;

    if ((r = ks_begin(s, d)) != 0)
        return r;
    r = ensure(s, name, now, d);
    if (r == 0)
        r = ks_managed_get(s, name, &m, d);
    was = r == 0 ? m.precheck_ok : -1;
    if (r == 0)
        r = ks_run(s, d, "recording the pre-check",
                "UPDATE certificates SET precheck_at = ?2, precheck_ok = ?3, "
                "precheck_verdict = ?4, updated_at = ?2 WHERE name = ?1",
                "tiit", name, now, (int64_t)(ok != 0),
                ok ? NULL : verdict);
    if (r == 0 && was != (ok != 0) && !(was == -1 && ok))
        r = event(s, ok ? "precheck.recovered" : "precheck.failed",
                  json_pack("{s:o, s:o}", "certificate", kw_json_str(name),
                            "verdict", kw_json_str(ok ? NULL : verdict)),
                  now, d);
    if (r == 0)
        return ks_commit(s, d);
    ks_rollback(s);
    return r;
}

int ks_managed_schedule(ks_store *s, const char *name, int64_t renew_at,
                        int64_t now, kw_diag *d)
{
    int r = ensure(s, name, now, d);

    if (r == 0)
        r = ks_run(s, d, "scheduling a renewal",
                "UPDATE certificates SET renew_at = ?2, updated_at = ?3 "
                "WHERE name = ?1",
                "tii", name, renew_at, now);
    return r;
}
