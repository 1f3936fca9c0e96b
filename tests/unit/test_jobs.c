/*
 * Durable jobs: scheduling is idempotent, a claimed job survives a crash
 * and is handed out again, failures back off with a cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keystore/ks_jobs.h"
#include "keystore/ks_store_int.h"
#include "tmpdir.h"

static char g_dir[256], g_db[512];

static int setup(void **state)
{
    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "jobs");
    path_join(g_db, sizeof(g_db), g_dir, "j.db");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove(g_dir);
    return 0;
}

static ks_store *open_db(void)
{
    ks_store *s;
    kw_diag d;

    if (ks_open(g_db, KS_OPEN_CREATE, &s, &d) != 0)
        fail_msg("%s", d.msg);
    return s;
}

static void lifecycle(void **state)
{
    ks_store *s = open_db();
    ks_jobrec j[4];
    size_t n;
    int64_t next;
    int has;
    kw_diag d;

    (void)state;
    assert_int_equal(ks_jobs_next_due(s, &next, &has, &d), 0);
    assert_int_equal(has, 0);
    assert_int_equal(ks_jobs_ensure(s, "scan", "all", 100, 0, 1, &d), 0);
    assert_int_equal(ks_jobs_ensure(s, "scan", "all", 50, 0, 1, &d), 0);
    assert_int_equal(ks_jobs_ensure(s, "probe", "mail", 200, 0, 1, &d), 0);
    assert_int_equal(ks_jobs_next_due(s, &next, &has, &d), 0);
    assert_int_equal(has, 1);
    assert_int_equal(next, 100); /* the second ensure changed nothing */
    assert_int_equal(ks_jobs_ensure(s, "scan", "all", 50, 1, 1, &d), 0);
    assert_int_equal(ks_jobs_next_due(s, &next, &has, &d), 0);
    assert_int_equal(next, 50); /* "sooner" moved it */

    /* Nothing due before its time. */
    assert_int_equal(ks_jobs_claim(s, 49, 4, j, &n, &d), 0);
    assert_int_equal(n, 0);
    assert_int_equal(ks_jobs_claim(s, 300, 4, j, &n, &d), 0);
    assert_int_equal(n, 2);
    assert_string_equal(j[0].type, "scan");
    assert_int_equal(j[0].attempt, 1);
    /* While running, it is not handed out twice. */
    assert_int_equal(ks_jobs_claim(s, 300, 4, j + 2, &n, &d), 0);
    assert_int_equal(n, 0);

    assert_int_equal(ks_jobs_finish(s, j[0].id, 1, 1000, NULL, 300, &d), 0);
    assert_int_equal(ks_jobs_finish(s, j[1].id, 0, 400, "refused", 300, &d),
                     0);
    assert_int_equal(ks_jobs_next_due(s, &next, &has, &d), 0);
    assert_int_equal(next, 400);
    assert_int_equal(ks_jobs_claim(s, 400, 4, j, &n, &d), 0);
    assert_int_equal(n, 1);
    assert_string_equal(j[0].key, "mail");
    assert_int_equal(j[0].attempt, 2); /* the failure counted */
    assert_string_equal(j[0].last_error, "refused");
    assert_int_equal(ks_jobs_finish(s, j[0].id, 0, 0, "gave up", 400, &d), 0);
    ks_close(s);
}

static void crash_recovery(void **state)
{
    ks_store *s = open_db();
    ks_jobrec j[2];
    size_t n;
    kw_diag d;

    (void)state;
    assert_int_equal(ks_jobs_ensure(s, "renew", "x", 10, 0, 1, &d), 0);
    assert_int_equal(ks_jobs_claim(s, 10, 2, j, &n, &d), 0);
    assert_int_equal(n, 1);
    /* The process dies here: the connection closes with the job running. */
    ks_close(s);

    s = open_db();
    assert_int_equal(ks_jobs_claim(s, 20, 2, j, &n, &d), 0);
    assert_int_equal(n, 0);
    assert_int_equal(ks_jobs_recover(s, 20, &n, &d), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ks_jobs_claim(s, 20, 2, j, &n, &d), 0);
    assert_int_equal(n, 1);
    assert_string_equal(j[0].type, "renew");
    assert_int_equal(j[0].attempt, 2);
    assert_int_equal(ks_jobs_finish(s, j[0].id, 1, 0, NULL, 21, &d), 0);
    ks_close(s);
}

static void prune(void **state)
{
    ks_store *s = open_db();
    const char *keep[] = {"a"};
    ks_jobrec j[4];
    size_t n;
    kw_diag d;

    (void)state;
    assert_int_equal(ks_jobs_ensure(s, "probe", "a", 1, 0, 1, &d), 0);
    assert_int_equal(ks_jobs_ensure(s, "probe", "b", 1, 0, 1, &d), 0);
    assert_int_equal(ks_jobs_prune(s, "probe", keep, 1, &d), 0);
    assert_int_equal(ks_jobs_claim(s, 5, 4, j, &n, &d), 0);
    assert_int_equal(n, 1);
    assert_string_equal(j[0].key, "a");
    ks_close(s);
}

/* Asked for while it runs (a file changed during a scan): due again right
 * after it finishes, not at its next period; asked for twice, the
 * earlier time wins; a one-shot job asked for again is not "done". */
static void rerun_while_running(void **state)
{
    ks_store *s = open_db();
    ks_jobrec j[2];
    size_t n;
    int64_t next;
    int has;
    kw_diag d;

    (void)state;
    assert_int_equal(ks_exec(s, "DELETE FROM jobs", &d), 0);
    assert_int_equal(ks_jobs_ensure(s, "scan", "rerun", 10, 0, 1, &d), 0);
    assert_int_equal(ks_jobs_claim(s, 10, 1, j, &n, &d), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ks_jobs_ensure(s, "scan", "rerun", 20, 1, 15, &d), 0);
    assert_int_equal(ks_jobs_ensure(s, "scan", "rerun", 18, 1, 16, &d), 0);
    assert_int_equal(ks_jobs_finish(s, j[0].id, 1, 3600, NULL, 30, &d), 0);
    assert_int_equal(ks_jobs_next_due(s, &next, &has, &d), 0);
    assert_int_equal(has, 1);
    assert_int_equal(next, 18);
    /* Once more: nothing asked during the run, the period holds. */
    assert_int_equal(ks_jobs_claim(s, 40, 2, j, &n, &d), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ks_jobs_finish(s, j[0].id, 1, 3600, NULL, 41, &d), 0);
    assert_int_equal(ks_jobs_next_due(s, &next, &has, &d), 0);
    assert_int_equal(next, 3600);
    /* A job that would be done stays pending when asked for again. */
    assert_int_equal(ks_jobs_claim(s, 3600, 2, j, &n, &d), 0);
    assert_int_equal(ks_jobs_ensure(s, "scan", "rerun", 3601, 1, 3600, &d),
                     0);
    assert_int_equal(ks_jobs_finish(s, j[0].id, 1, 0, NULL, 3602, &d), 0);
    assert_int_equal(ks_jobs_next_due(s, &next, &has, &d), 0);
    assert_int_equal(has, 1);
    assert_int_equal(next, 3601);
    ks_close(s);
}

static void backoff(void **state)
{
    (void)state;
    assert_int_equal(ks_jobs_backoff(1, 60, 3600, 0), 60);
    assert_int_equal(ks_jobs_backoff(2, 60, 3600, 0), 120);
    assert_int_equal(ks_jobs_backoff(4, 60, 3600, 0), 480);
    assert_int_equal(ks_jobs_backoff(30, 60, 3600, 0), 3600);
    assert_int_equal(ks_jobs_backoff(1000, 60, 3600, 0), 3600);
    assert_int_equal(ks_jobs_backoff(2, 60, 3600, 0.5), 126);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lifecycle),
        cmocka_unit_test(crash_recovery),
        cmocka_unit_test(prune),
        cmocka_unit_test(rerun_while_running),
        cmocka_unit_test(backoff),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
