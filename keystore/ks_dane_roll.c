/*
 * ks_dane_roll.c: DANE rollover rows and their journal (ks_dane_roll.h).
 */
#include "ks_dane_roll.h"

#include "ks_store_int.h"


#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int write_row(ks_store *s, ks_dane_roll *r, kw_diag *d)
{
    int rc;

    if (r->id != 0)
        return ks_run(s, d, "updating a DANE rollover",
                      "UPDATE dane_rollovers SET key_path = ?2, tlsa = ?3, "
                      "old_tlsa = ?4, names = ?5, stage = ?6, since = ?7, "
                      "wait_until = ?8, waits_for = ?9, stopped = ?10, "
                      "failures = ?11, released = ?12 WHERE id = ?1",
                      "itttttiittii", r->id, r->key_path, r->tlsa,
                      r->old_tlsa, r->names, r->stage, r->since,
                      r->wait_until, r->waits_for, r->stopped,
                      (int64_t)r->failures, (int64_t)r->released);
    rc = ks_run(s, d, "recording a DANE rollover",
                "INSERT INTO dane_rollovers (cert, key_path, tlsa, old_tlsa, "
                "names, stage, since, wait_until, waits_for, stopped, "
                "failures, released, started_at) VALUES (?1, ?2, ?3, ?4, ?5, "
                "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                "ttttttiittiii", r->cert, r->key_path, r->tlsa,
                r->old_tlsa, r->names, r->stage, r->since, r->wait_until,
                r->waits_for, r->stopped, (int64_t)r->failures,
                (int64_t)r->released, r->started_at);
    if (rc == 0)
        r->id = sqlite3_last_insert_rowid(ks_db(s));
    return rc;
}

int ks_dane_roll_save(ks_store *s, ks_dane_roll *r, const char *old_stage,
                      int64_t at, const char *note, kw_diag *d)
{
    int64_t id = r->id;
    int rc;

    if ((rc = ks_begin(s, d)) != 0)
        return rc;
    rc = write_row(s, r, d);
    if (rc == 0)
        rc = ks_run(s, d, "journalling a DANE rollover",
                    "INSERT INTO dane_roll_journal (rollover_id, at, "
                    "old_stage, new_stage, note) VALUES (?1, ?2, ?3, ?4, ?5)",
                    "iittt", r->id, at, old_stage != NULL ? old_stage : "",
                    r->stage, note != NULL ? note : "");
    if (rc == 0)
        rc = ks_commit(s, d);
    if (rc != 0) {
        ks_rollback(s);
        r->id = id;
    }
    return rc;
}

static void read_roll(sqlite3_stmt *st, ks_dane_roll *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    ks_col_text(st, 1, r->cert, sizeof(r->cert));
    ks_col_text(st, 2, r->key_path, sizeof(r->key_path));
    ks_col_text(st, 3, r->tlsa, sizeof(r->tlsa));
    ks_col_text(st, 4, r->old_tlsa, sizeof(r->old_tlsa));
    ks_col_text(st, 5, r->names, sizeof(r->names));
    ks_col_text(st, 6, r->stage, sizeof(r->stage));
    r->since = sqlite3_column_int64(st, 7);
    r->wait_until = sqlite3_column_int64(st, 8);
    ks_col_text(st, 9, r->waits_for, sizeof(r->waits_for));
    ks_col_text(st, 10, r->stopped, sizeof(r->stopped));
    r->failures = sqlite3_column_int(st, 11);
    r->released = sqlite3_column_int(st, 12);
    r->started_at = sqlite3_column_int64(st, 13);
}

static void read_roll_row(sqlite3_stmt *st, void *row)
{
    read_roll(st, row);
}

int ks_dane_roll_list(ks_store *s, const char *cert, ks_dane_roll **out,
                      size_t *n, size_t max, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    void *v = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT id, cert, key_path, tlsa, old_tlsa, names, "
                           "stage, since, wait_until, waits_for, stopped, "
                           "failures, released, started_at FROM "
                           "dane_rollovers WHERE id IN (SELECT max(id) FROM "
                           "dane_rollovers WHERE ?1 IS NULL OR cert = ?1 "
                           "GROUP BY cert) ORDER BY cert",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading DANE rollovers");
    if (cert != NULL)
        sqlite3_bind_text(st, 1, cert, -1, SQLITE_TRANSIENT);
    rc = ks_collect(s, st, max, sizeof(ks_dane_roll), read_roll_row, &v, n,
                    "reading DANE rollovers", d);
    *out = v;
    return rc;
}

int ks_dane_roll_latest(ks_store *s, const char *cert, ks_dane_roll *r,
                        int *found, kw_diag *d)
{
    ks_dane_roll *v = NULL;
    size_t n = 0;
    int rc;

    memset(r, 0, sizeof(*r));
    *found = 0;
    if ((rc = ks_dane_roll_list(s, cert, &v, &n, 1, d)) != 0)
        return rc;
    if (n == 1) {
        *r = v[0];
        *found = 1;
    }
    free(v);
    return 0;
}

static void read_step(sqlite3_stmt *st, void *row)
{
    ks_dane_roll_step *j = row;

    j->at = sqlite3_column_int64(st, 0);
    ks_col_text(st, 1, j->old_stage, sizeof(j->old_stage));
    ks_col_text(st, 2, j->new_stage, sizeof(j->new_stage));
    ks_col_text(st, 3, j->note, sizeof(j->note));
}

int ks_dane_roll_journal(ks_store *s, int64_t id, ks_dane_roll_step **out,
                         size_t *n, size_t max, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    void *v = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT at, old_stage, new_stage, note FROM "
                           "dane_roll_journal WHERE rollover_id = ?1 "
                           "ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading a DANE rollover's journal");
    sqlite3_bind_int64(st, 1, id);
    rc = ks_collect(s, st, max, sizeof(ks_dane_roll_step), read_step, &v, n,
                    "reading a DANE rollover's journal", d);
    *out = v;
    return rc;
}
