/*
 * Managed-certificate state: each change and its event land together; a
 * renewal clears the failure and the order, a failure keeps the order
 * only when asked, a rollback keeps the failure history.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keystore/ks_managed.h"
#include "keystore/ks_store_int.h"
#include "tmpdir.h"

static char g_dir[256], g_db[512];

static int setup(void **state)
{
    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "managed");
    path_join(g_db, sizeof(g_db), g_dir, "m.db");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove(g_dir);
    return 0;
}

static int64_t count(ks_store *s, const char *sql)
{
    sqlite3_stmt *st;
    int64_t n = -1;

    assert_int_equal(sqlite3_prepare_v2(ks_db(s), sql, -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int count_rows(void *ctx, const ks_managed *m)
{
    (void)m;
    (*(int *)ctx)++;
    return 0;
}

static void lifecycle(void **state)
{
    ks_store *s;
    ks_managed m;
    kw_diag d;
    int n = 0;

    (void)state;
    assert_int_equal(ks_open(g_db, KS_OPEN_CREATE, &s, &d), 0);
    assert_int_equal(ks_managed_get(s, "www", &m, &d), KW_ENOTFOUND);
    assert_non_null(strstr(d.msg, "www"));

    assert_int_equal(ks_managed_attempt(s, "www", "[\"a.example\"]", 100,
                                        &d), 0);
    assert_int_equal(ks_managed_progress(s, "www", "order",
                                         "https://ca/order/1", 101, &d), 0);
    assert_int_equal(ks_managed_get(s, "www", &m, &d), 0);
    assert_string_equal(m.order_url, "https://ca/order/1");
    assert_string_equal(m.step, "order");
    assert_int_equal(m.attempts, 1);

    /* A transient failure keeps the order (it may still complete). */
    assert_int_equal(ks_managed_failed(s, "www", "CA down", NULL, 500, 1,
                                       102, &d), 0);
    assert_int_equal(ks_managed_get(s, "www", &m, &d), 0);
    assert_int_equal(m.failures, 1);
    assert_string_equal(m.order_url, "https://ca/order/1");
    assert_int_equal(m.retry_at, 500);
    /* A validation failure drops it. */
    assert_int_equal(ks_managed_failed(s, "www", "challenge failed",
                                       "urn:ietf:params:acme:error:"
                                       "connection",
                                       900, 0, 103, &d), 0);
    assert_int_equal(ks_managed_get(s, "www", &m, &d), 0);
    assert_int_equal(m.failures, 2);
    assert_string_equal(m.order_url, "");
    assert_string_equal(m.problem, "urn:ietf:params:acme:error:connection");

    assert_int_equal(ks_managed_renewed(s, "www", 1, 0, 1000, 2000, "ab",
                                        "/c/archive/www/1", 1667, 104, &d),
                     0);
    assert_int_equal(ks_managed_get(s, "www", &m, &d), 0);
    assert_int_equal(m.live_version, 1);
    assert_int_equal(m.failures, 0);
    assert_string_equal(m.last_error, "");
    assert_string_equal(m.problem, "");
    assert_int_equal(m.not_after, 2000);
    assert_int_equal(m.renew_at, 1667);
    assert_int_equal(m.last_ok_at, 104);

    assert_int_equal(ks_managed_renewed(s, "www", 2, 1, 1500, 2500, "cd",
                                        "/c/archive/www/2", 2167, 105, &d),
                     0);
    assert_int_equal(ks_managed_failed(s, "www", "rate limited",
                                       "urn:ietf:params:acme:error:"
                                       "rateLimited",
                                       4000, 0, 106, &d), 0);
    assert_int_equal(ks_managed_rolled_back(s, "www", 1, 2, 1000, 2000,
                                            "ab", 1667, 107, &d), 0);
    assert_int_equal(ks_managed_get(s, "www", &m, &d), 0);
    assert_int_equal(m.live_version, 1);
    assert_string_equal(m.fingerprint, "ab");
    assert_int_equal(m.failures, 1); /* a rollback is not a success */

    assert_int_equal(count(s, "SELECT count(*) FROM events WHERE type = "
                              "'cert.renewed'"),
                     2);
    assert_int_equal(count(s, "SELECT count(*) FROM events WHERE type = "
                              "'cert.renewal_failed'"),
                     3);
    assert_int_equal(count(s, "SELECT count(*) FROM events WHERE type = "
                              "'cert.rolled_back' AND json_extract(detail,"
                              " '$.from') = 2"),
                     1);
    assert_int_equal(ks_managed_attempt(s, "mail", "[]", 108, &d), 0);
    assert_int_equal(ks_managed_each(s, count_rows, &n, &d), 0);
    assert_int_equal(n, 2);
    ks_close(s);
}

/* A failed write inside the transaction leaves neither the row change nor
 * the event. */
static void all_or_nothing(void **state)
{
    ks_store *s;
    ks_managed m;
    kw_diag d;
    int64_t before;

    (void)state;
    assert_int_equal(ks_open(g_db, KS_OPEN_CREATE, &s, &d), 0);
    assert_int_equal(ks_exec(s,
                             "CREATE TEMP TRIGGER no_events BEFORE INSERT ON "
                             "events WHEN NEW.type = 'cert.renewed' BEGIN "
                             "SELECT RAISE(ABORT, 'disk full'); END;",
                             &d),
                     0);
    before = count(s, "SELECT count(*) FROM events");
    assert_int_not_equal(ks_managed_renewed(s, "db", 7, 6, 1, 2, "ff",
                                            "/x", 2, 200, &d),
                         0);
    assert_non_null(strstr(d.msg, "disk full"));
    assert_int_equal(count(s, "SELECT count(*) FROM events"), before);
    assert_int_equal(ks_managed_get(s, "db", &m, &d), KW_ENOTFOUND);
    ks_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lifecycle),
        cmocka_unit_test(all_or_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
