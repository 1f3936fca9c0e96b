/*
 * The store: pragmas, migrations from every earlier schema version,
 * append-only history.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keystore/ks_store.h"
#include "keystore/ks_store_int.h"
#include "tmpdir.h"

static char g_dir[256];

static int setup(void **state)
{
    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "store");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove(g_dir);
    return 0;
}

static int64_t one_int(ks_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_prepare_v2(ks_db(s), sql, -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void pragmas(void **state)
{
    char path[512];
    ks_store *s;
    kw_diag d;
    sqlite3_stmt *st = NULL;

    (void)state;
    path_join(path, sizeof(path), g_dir, "p.db");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &s, &d), 0);
    assert_int_equal(ks_schema_version(s), ks_schema_latest());
    assert_int_equal(one_int(s, "PRAGMA foreign_keys"), 1);
    assert_int_equal(one_int(s, "PRAGMA synchronous"), 2); /* FULL */
    sqlite3_prepare_v2(ks_db(s), "PRAGMA journal_mode", -1, &st, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    ks_close(s);
}

static void open_missing_without_create_fails(void **state)
{
    char path[512];
    ks_store *s = NULL;
    kw_diag d;

    (void)state;
    path_join(path, sizeof(path), g_dir, "none.db");
    assert_int_equal(ks_open(path, 0, &s, &d), KW_EDB);
    assert_null(s);
    assert_non_null(strstr(d.msg, path));
}

/* Data a database at version v could hold; inserted before upgrading. */
static void insert_fixture(ks_store *s, int v)
{
    kw_diag d;

    if (v >= 1) {
        assert_int_equal(
            ks_exec(s,
                    "INSERT INTO files (id, path, dir, first_seen, "
                    "last_seen, content) VALUES (7, '/etc/ssl/a.pem', "
                    "'/etc/ssl', 1, 1, 'certs');"
                    "INSERT INTO objects (id, kind, name, source, file_id, "
                    "not_after, deadline, created_at, updated_at) VALUES "
                    "(3, 'tls', 'a.example', '/etc/ssl/a.pem', 7, 100, 100, "
                    "1, 1);"
                    "INSERT INTO events (at, object_id, type) VALUES "
                    "(1, 3, 'object.discovered');",
                    &d),
            0);
    }
    /* Version 9 dropped jobs.object_id. */
    if (v >= 2 && v < 9) {
        assert_int_equal(
            ks_exec(s,
                    "INSERT INTO jobs (object_id, type, next_at, created_at, "
                    "updated_at) VALUES (3, 'renew', 50, 1, 1);",
                    &d),
            0);
    }
    if (v >= 3) {
        assert_int_equal(
            ks_exec(s,
                    "INSERT INTO endpoints (object_id, name, host, port, "
                    "created_at, updated_at) VALUES (3, 'mail', 'h', 25, 1, "
                    "1);",
                    &d),
            0);
    }
}

static void upgrade_from_every_earlier_version(void **state)
{
    int v;

    (void)state;
    for (v = 0; v < ks_schema_latest(); v++) {
        char path[512], name[32];
        ks_store *s;
        kw_diag d;

        snprintf(name, sizeof(name), "v%d.db", v);
        path_join(path, sizeof(path), g_dir, name);
        assert_int_equal(ks_open_at_version(path, v, &s, &d), 0);
        assert_int_equal(ks_schema_version(s), v);
        insert_fixture(s, v);
        ks_close(s);

        if (ks_open(path, 0, &s, &d) != 0)
            fail_msg("upgrade from v%d: %s", v, d.msg);
        assert_int_equal(ks_schema_version(s), ks_schema_latest());
        if (v >= 1) {
            assert_int_equal(one_int(s, "SELECT count(*) FROM objects WHERE "
                                        "id = 3 AND name = 'a.example'"),
                             1);
            assert_int_equal(one_int(s, "SELECT count(*) FROM events"), 1);
        }
        if (v >= 2 && v < 9)
            assert_int_equal(one_int(s, "SELECT count(*) FROM jobs WHERE "
                                        "type = 'renew' AND key = ''"),
                             1);
        /* The newest tables work after the upgrade. */
        assert_int_equal(
            ks_exec(s,
                    "INSERT INTO objects (kind, name, source, created_at, "
                    "updated_at) VALUES ('dkim', 'sel._domainkey.x', 'x', 1,"
                    " 1);"
                    /* Version 16 widened the kinds in place. */
                    "INSERT INTO objects (kind, name, source, created_at, "
                    "updated_at) VALUES ('mta-sts', 'example.com', "
                    "'[mta-sts]', 1, 1);"
                    "INSERT INTO jobs (type, key, next_at, created_at, "
                    "updated_at) VALUES ('scan', 'all', 1, 1, 1);"
                    "INSERT INTO endpoints (object_id, name, host, port, "
                    "created_at, updated_at) VALUES ((SELECT max(id) FROM "
                    "objects), "
                    "'x', 'h', 1, 1, 1);"
                    "INSERT INTO dkim_keys (object_id, domain, selector, "
                    "key_path, role, signer, source, first_seen, last_seen) "
                    "VALUES ((SELECT max(id) FROM objects), 'x', 'sel', 'x', "
                    "'signing', 'opendkim', 'c:1', 1, 1);",
                    &d),
            0);
        assert_true(one_int(s, "PRAGMA foreign_key_check") == -1);
        ks_close(s);
    }
}

/* A first scan drops the listing index and builds it at the end; if it is
 * killed in between, the next open builds it. */
static void listing_index_is_restored(void **state)
{
    char path[512];
    ks_store *s;
    kw_diag d;

    (void)state;
    path_join(path, sizeof(path), g_dir, "idx.db");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &s, &d), 0);
    assert_int_equal(ks_exec(s, "DROP INDEX objects_deadline", &d), 0);
    ks_close(s);
    assert_int_equal(ks_open(path, 0, &s, &d), 0);
    assert_int_equal(one_int(s, "SELECT count(*) FROM sqlite_master WHERE "
                                "name = 'objects_deadline'"),
                     1);
    ks_close(s);
}

static void newer_schema_is_refused(void **state)
{
    char path[512];
    ks_store *s;
    kw_diag d;
    char sql[64];

    (void)state;
    path_join(path, sizeof(path), g_dir, "future.db");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &s, &d), 0);
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
             ks_schema_latest() + 1);
    assert_int_equal(ks_exec(s, sql, &d), 0);
    ks_close(s);
    assert_int_equal(ks_open(path, 0, &s, &d), KW_ESCHEMA);
    assert_non_null(strstr(d.msg, "newer than this keywarden"));
}

static void events_are_append_only(void **state)
{
    char path[512];
    ks_store *s;
    kw_diag d;

    (void)state;
    path_join(path, sizeof(path), g_dir, "ev.db");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &s, &d), 0);
    assert_int_equal(ks_exec(s,
                             "INSERT INTO events (at, type) VALUES (1, 'x')",
                             &d),
                     0);
    assert_int_equal(ks_exec(s, "UPDATE events SET type = 'y'", &d), KW_EDB);
    assert_non_null(strstr(d.msg, "append-only"));
    assert_int_equal(ks_exec(s, "DELETE FROM events", &d), KW_EDB);
    assert_int_equal(one_int(s, "SELECT count(*) FROM events"), 1);
    ks_close(s);
}

static void failed_migration_leaves_old_version(void **state)
{
    char path[512];
    ks_store *s;
    kw_diag d;

    (void)state;
    if (ks_schema_latest() < 2)
        skip();
    path_join(path, sizeof(path), g_dir, "half.db");
    assert_int_equal(ks_open_at_version(path, 1, &s, &d), 0);
    /* A table the next migration wants to create already exists: the
     * migration fails, and its transaction leaves version 1 intact. */
    assert_int_equal(ks_exec(s, "CREATE TABLE versions (x)", &d), 0);
    ks_close(s);
    assert_int_equal(ks_open(path, 0, &s, &d), KW_EDB);
    assert_non_null(strstr(d.msg, "migration to schema version 2"));
    assert_int_equal(ks_open_at_version(path, 1, &s, &d), 0);
    assert_int_equal(ks_schema_version(s), 1);
    assert_int_equal(one_int(s, "SELECT count(*) FROM sqlite_master WHERE "
                                "name = 'jobs'"),
                     0);
    ks_close(s);
}

/* Version 9 drops the versions table, objects.live_version and jobs.step,
 * data and object_id, which no code used: the objects and jobs a version
 * 8 database holds survive with every column that is still read, and the
 * dropped schema is gone. */
static void unused_schema_is_dropped(void **state)
{
    char path[512];
    ks_store *s;
    kw_diag d;

    (void)state;
    if (ks_schema_latest() < 9)
        skip();
    path_join(path, sizeof(path), g_dir, "v8-jobs.db");
    assert_int_equal(ks_open_at_version(path, 8, &s, &d), 0);
    assert_int_equal(
        ks_exec(s,
                "INSERT INTO objects (id, kind, name, source, created_at, "
                "updated_at) VALUES (3, 'tls', 'a.example', 'f', 1, 1);"
                "INSERT INTO jobs (id, object_id, type, key, step, attempt, "
                "next_at, state, last_error, data, created_at, updated_at, "
                "rerun_at) VALUES (7, 3, 'renew', 'www', 'order', 2, 50, "
                "'pending', 'timeout', '{}', 10, 20, 60);"
                "INSERT INTO jobs (id, type, key, next_at, state, "
                "created_at, updated_at) VALUES (8, 'scan', 'all', 70, "
                "'done', 11, 21);",
                &d),
        0);
    ks_close(s);

    if (ks_open(path, 0, &s, &d) != 0)
        fail_msg("upgrade from v8: %s", d.msg);
    assert_int_equal(ks_schema_version(s), ks_schema_latest());
    assert_int_equal(
        one_int(s, "SELECT count(*) FROM jobs WHERE id = 7 AND type = "
                   "'renew' AND key = 'www' AND attempt = 2 AND next_at = 50 "
                   "AND state = 'pending' AND last_error = 'timeout' AND "
                   "created_at = 10 AND updated_at = 20 AND rerun_at = 60"),
        1);
    assert_int_equal(
        one_int(s, "SELECT count(*) FROM jobs WHERE id = 8 AND type = 'scan' "
                   "AND key = 'all' AND next_at = 70 AND state = 'done' AND "
                   "created_at = 11 AND updated_at = 21 AND rerun_at IS "
                   "NULL"),
        1);
    assert_int_equal(one_int(s, "SELECT count(*) FROM jobs"), 2);
    assert_int_equal(one_int(s, "SELECT count(*) FROM pragma_table_info("
                                "'jobs') WHERE name = 'step' OR name = "
                                "'data' OR name = 'object_id'"),
                     0);
    assert_int_equal(one_int(s, "SELECT count(*) FROM sqlite_master WHERE "
                                "name = 'jobs_new' OR name = 'jobs_object' "
                                "OR name = 'versions' OR name = "
                                "'objects_live_version'"),
                     0);
    assert_int_equal(one_int(s, "SELECT count(*) FROM pragma_table_info("
                                "'objects') WHERE name = 'live_version'"),
                     0);
    assert_int_equal(one_int(s, "SELECT count(*) FROM objects WHERE id = 3 "
                                "AND name = 'a.example'"),
                     1);
    assert_int_equal(one_int(s, "SELECT count(*) FROM "
                                "pragma_integrity_check WHERE "
                                "integrity_check = 'ok'"),
                     1);
    /* The rebuilt table keeps its indexes: one pending job per key. */
    assert_int_equal(one_int(s, "SELECT count(*) FROM sqlite_master WHERE "
                                "type = 'index' AND (name = 'jobs_due' OR "
                                "name = 'jobs_key')"),
                     2);
    assert_int_not_equal(
        ks_exec(s,
                "INSERT INTO jobs (type, key, next_at, created_at, "
                "updated_at) VALUES ('renew', 'www', 1, 1, 1);",
                &d),
        0);
    assert_true(one_int(s, "PRAGMA foreign_key_check") == -1);
    ks_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pragmas),
        cmocka_unit_test(open_missing_without_create_fails),
        cmocka_unit_test(upgrade_from_every_earlier_version),
        cmocka_unit_test(listing_index_is_restored),
        cmocka_unit_test(newer_schema_is_refused),
        cmocka_unit_test(events_are_append_only),
        cmocka_unit_test(failed_migration_leaves_old_version),
        cmocka_unit_test(unused_schema_is_dropped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
