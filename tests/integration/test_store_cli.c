/*
 * The inventory as the reading commands meet it: read by a monitoring
 * user that may not write it (with and without a running daemon, and
 * through a read-only mount), missing, empty, or corrupt; and the clock
 * they judge it by (KEYWARDEN_NOW), at its extremes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <unistd.h>

#include "kwrun.h"
#include "proc.h"
#include "testpki.h"
#include "tmpdir.h"

#define NOW INT64_C(1795651200) /* 2026-11-26T00:00:00Z */
#define NOW_TEXT "1795651200"
#define KW_TEST_DAY INT64_C(86400)

static char g_dir[256], g_state[512], g_demo[512], g_conf[512], g_db[600];

/* Child hooks for kw_argv_in: they run between fork and exec. */
static void child_fail(const char *what)
{
    fprintf(stderr, "test child: %s: %s\n", what, strerror(errno));
    _exit(126);
}

static void as_nobody(void *ctx)
{
    struct passwd *pw = getpwnam("nobody");

    (void)ctx;
    if (pw == NULL)
        child_fail("no user nobody");
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0)
        child_fail("becoming nobody");
}

/* A private mount namespace in which dir is a read-only bind mount of
 * itself; exit 77 when the kernel or the user may not do that. */
static void readonly_dir(void *ctx)
{
    const char *dir = ctx;

    if (unshare(CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount(dir, dir, NULL, MS_BIND, NULL) != 0) {
        fprintf(stderr, "test child: read-only bind mount: %s\n",
                strerror(errno));
        _exit(77);
    }
    if (mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0)
        child_fail("remounting read-only");
}

static kwres run_in(void (*child)(void *), void *ctx, const char **args)
{
    return kw_argv_in(g_state, g_conf, args, child, ctx);
}

#define kw_as(child, ctx, ...)                                            \
    run_in((child), (ctx), (const char *[]){__VA_ARGS__, NULL})

/* check, list and show as a reader: the demo tree's verdict, not
 * "cannot open the inventory". */
static void reads_everything(void (*child)(void *), void *ctx)
{
    kwres r = kw_as(child, ctx, "check");

    if (r.status == 77)
        skip();
    if (r.status != 2)
        fail_msg("check: exit %d, expected 2 (CRITICAL)\n%s\n%s", r.status,
                 r.out, r.err);
    assert_contains(r.out, "KEYWARDEN CRITICAL - ");
    assert_contains(r.out, "objects=15;");
    kwres_free(&r);
    r = kw_as(child, ctx, "list");
    if (r.status != 0)
        fail_msg("list: exit %d\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "legacy.example.com");
    kwres_free(&r);
    r = kw_as(child, ctx, "show", "legacy.example.com");
    if (r.status != 0)
        fail_msg("show: exit %d\n%s\n%s", r.status, r.out, r.err);
    kwres_free(&r);
}

static void remove_wal(void)
{
    char p[700];

    snprintf(p, sizeof(p), "%s-wal", g_db);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", g_db);
    unlink(p);
}

static int setup(void **state)
{
    kwres r;

    (void)state;
    setenv("KEYWARDEN_NOW", NOW_TEXT, 1);
    unsetenv("KEYWARDEN_STATE_DIR");
    tmpdir_make(g_dir, sizeof(g_dir), "store-cli");
    /* As the README advises: the monitoring user may enter the state
     * directory and read the database, nothing more. */
    chmod(g_dir, 0755);
    path_join(g_state, sizeof(g_state), g_dir, "state");
    path_join(g_demo, sizeof(g_demo), g_dir, "demo");
    path_join(g_conf, sizeof(g_conf), g_dir, "keywarden.conf");
    snprintf(g_db, sizeof(g_db), "%s/keywarden.db", g_state);
    tp_make_demo(g_demo, NOW);
    write_text(g_conf,
               "[daemon]\nmetrics_listen = off\n[scan]\npath = %s\n"
               "interval = 1h\n",
               g_demo);
    mkdir(g_state, 0755);
    r = kw(g_state, g_conf, "scan", g_demo);
    kwres_free(&r);
    chmod(g_db, 0644);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove(g_dir);
    return 0;
}

static void skip_unless_root(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: changing user needs root\n");
        skip();
    }
}

/* No daemon: the files a writer leaves behind are read as they are, and
 * a database whose -wal and -shm are gone (an older keywarden, a copy) is
 * read too. */
static void reader_without_daemon(void **state)
{
    (void)state;
    skip_unless_root();
    reads_everything(as_nobody, NULL);
    remove_wal();
    reads_everything(as_nobody, NULL);
}

static int log_has(void *ctx)
{
    char log[600];

    path_join(log, sizeof(log), g_dir, "serve.log");
    return file_contains(log, (const char *)ctx);
}

/* A daemon holding the database open (and writing it). */
static void reader_with_daemon(void **state)
{
    char log[600];
    char *argv[] = {(char *)KEYWARDEN_BIN, (char *)"--config", g_conf,
                    (char *)"--state-dir", g_state, (char *)"serve", NULL};
    pid_t pid;

    (void)state;
    skip_unless_root();
    path_join(log, sizeof(log), g_dir, "serve.log");
    pid = proc_spawn_log(argv, log);
    if (!proc_until(log_has, (void *)"scan: 26 files", 30000)) {
        kill(pid, SIGKILL);
        proc_wait(pid, 5000);
        fail_msg("the daemon did not finish its first scan in 30 s");
    }
    reads_everything(as_nobody, NULL);
    kill(pid, SIGTERM);
    assert_int_equal(proc_wait(pid, 20000), 0);
}

/* The state directory mounted read-only (root may write nothing there
 * either), with and without the -wal and -shm files. */
static void reader_readonly_mount(void **state)
{
    (void)state;
    skip_unless_root();
    reads_everything(readonly_dir, g_state);
    remove_wal();
    reads_everything(readonly_dir, g_state);
}

/* Every reading command, against a state directory without a database
 * and against an empty (0-byte) database file: "no inventory at PATH",
 * non-zero, and the empty file is left as it was. */
static void no_inventory(void **state)
{
    static const char *const cmds[][4] = {
        {"list", NULL, NULL},         {"list", "--json", NULL},
        {"show", "1", NULL},          {"forget", "1", NULL},
        {"hooks", "history", NULL},   {"hooks", "retry", "x"},
    };
    char dirs[2][512], db[600], empty[512], nothing[512];
    struct stat st;
    size_t i, k;
    kwres r;

    (void)state;
    path_join(dirs[0], sizeof(dirs[0]), g_dir, "missing");
    path_join(dirs[1], sizeof(dirs[1]), g_dir, "zero");
    mkdir(dirs[1], 0700);
    snprintf(db, sizeof(db), "%s/keywarden.db", dirs[1]);
    tp_write_bytes(db, "", 0, 0600);
    for (k = 0; k < 2; k++) {
        for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
            r = kw_argv(dirs[k], g_conf, (const char **)cmds[i]);
            if (r.status != 1 || strstr(r.err, "no inventory at ") == NULL ||
                strstr(r.err, dirs[k]) == NULL)
                fail_msg("%s %s in %s: exit %d, expected 1 and \"no "
                         "inventory at\"\nstdout:\n%s\nstderr:\n%s",
                         cmds[i][0], cmds[i][1] ? cmds[i][1] : "", dirs[k],
                         r.status, r.out, r.err);
            kwres_free(&r);
        }
        r = kw(dirs[k], g_conf, "check");
        assert_int_equal(r.status, 3);
        assert_contains(r.out, "KEYWARDEN UNKNOWN - no inventory at ");
        kwres_free(&r);
    }
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_size, 0);

    /* An inventory that exists and holds nothing is another matter. */
    path_join(nothing, sizeof(nothing), g_dir, "nothing");
    mkdir(nothing, 0700);
    path_join(empty, sizeof(empty), g_dir, "empty-state");
    r = kw_ok(empty, g_conf, "scan", nothing);
    kwres_free(&r);
    r = kw_ok(empty, g_conf, "list");
    assert_contains(r.out, "is empty");
    kwres_free(&r);
}

/* Does any line of text hold needle twice? */
static int repeated_on_a_line(const char *text, const char *needle)
{
    const char *p = strstr(text, needle), *q;

    for (; p != NULL; p = strstr(p + 1, needle)) {
        q = strstr(p + 1, needle);
        if (q != NULL && memchr(p, '\n', (size_t)(q - p)) == NULL)
            return 1;
    }
    return 0;
}

/* A corrupt database: every command says so, and SQLite's message once
 * (it used to come twice, "malformed: database disk image is
 * malformed"). */
static void corrupt_database(void **state)
{
    static const char malformed[] = "database disk image is malformed";
    char dir[512], db[600], junk[3000];
    size_t len;
    char *bytes;
    kwres r;

    (void)state;
    path_join(dir, sizeof(dir), g_dir, "corrupt");
    mkdir(dir, 0700);
    snprintf(db, sizeof(db), "%s/keywarden.db", dir);
    bytes = slurp(g_db, &len);
    assert_non_null(bytes);
    assert_true(len > sizeof(junk) + 100);
    /* Page 1 past the file header: the schema's b-tree page. */
    memset(junk, 0xff, sizeof(junk));
    memcpy(bytes + 100, junk, sizeof(junk));
    tp_write_bytes(db, bytes, len, 0600);
    free(bytes);

    r = kw(dir, g_conf, "list");
    assert_int_equal(r.status, 1);
    assert_contains(r.err, malformed);
    assert_contains(r.err, db);
    assert_false(repeated_on_a_line(r.err, malformed));
    kwres_free(&r);
    r = kw(dir, g_conf, "scan", g_demo);
    assert_int_equal(r.status, 1);
    assert_contains(r.err, malformed);
    assert_false(repeated_on_a_line(r.err, malformed));
    kwres_free(&r);
    r = kw(dir, g_conf, "check");
    assert_int_equal(r.status, 3);
    assert_contains(r.out, "KEYWARDEN UNKNOWN - ");
    assert_contains(r.err, malformed);
    assert_false(repeated_on_a_line(r.err, malformed));
    kwres_free(&r);
}

/* `check` with the clock pinned at clock: it must exit want. */
static kwres check_at(const char *state_dir, const char *clock, int want)
{
    kwres r;

    setenv("KEYWARDEN_NOW", clock, 1);
    r = kw(state_dir, g_conf, "check");
    setenv("KEYWARDEN_NOW", NOW_TEXT, 1);
    if (r.status != want)
        fail_msg("check at %s: exit %d, expected %d\n%s\n%s", clock,
                 r.status, want, r.out, r.err);
    return r;
}

/* KEYWARDEN_NOW: an invalid value is an error naming it, and extreme
 * clocks and validity periods give true verdicts (and no UBSan report in
 * the sanitizer build). */
static void clock_values(void **state)
{
    static const char *const bad[] = {
        "abc", "2026-13-45T99:99:99Z", "2026-02-30T00:00:00Z",
        "9223372036854775807", "-9223372036854775808",
    };
    static const char *const cmds[][3] = {
        {"list", NULL, NULL}, {"check", NULL, NULL}, {"show", "1", NULL},
    };
    char dir[512], state_dir[512], pem[600];
    EVP_PKEY *k = tp_key_ec();
    tp_spec sp;
    X509 *c;
    size_t i, j;
    kwres r;

    (void)state;
    path_join(dir, sizeof(dir), g_dir, "extreme");
    path_join(state_dir, sizeof(state_dir), g_dir, "extreme-state");
    tp_mkdirs(dir);
    memset(&sp, 0, sizeof(sp));
    sp.key = k;
    sp.cn = "old.example.com";
    sp.not_before = -631152000; /* 1950 */
    sp.not_after = -599616000;  /* 1951 */
    c = tp_cert(&sp);
    path_join(pem, sizeof(pem), dir, "old.pem");
    tp_write_pem(pem, &c, 1, NULL, 0644);
    X509_free(c);
    sp.cn = "forever.example.com";
    sp.not_before = NOW - KW_TEST_DAY;
    sp.not_after = INT64_C(253402300799); /* 9999-12-31T23:59:59Z */
    c = tp_cert(&sp);
    path_join(pem, sizeof(pem), dir, "forever.pem");
    tp_write_pem(pem, &c, 1, NULL, 0644);
    X509_free(c);
    EVP_PKEY_free(k);
    r = kw_ok(state_dir, g_conf, "scan", dir);
    kwres_free(&r);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[128];

        snprintf(want, sizeof(want), "KEYWARDEN_NOW=%s: ", bad[i]);
        setenv("KEYWARDEN_NOW", bad[i], 1);
        for (j = 0; j < sizeof(cmds) / sizeof(cmds[0]); j++) {
            r = kw_argv(state_dir, g_conf, (const char **)cmds[j]);
            /* check is a monitoring plugin: UNKNOWN is 3. */
            if (r.status != (strcmp(cmds[j][0], "check") == 0 ? 3 : 1) ||
                strstr(r.err, want) == NULL)
                fail_msg("%s with KEYWARDEN_NOW=%s: exit %d\nstdout:\n%s"
                         "\nstderr:\n%s",
                         cmds[j][0], bad[i], r.status, r.out, r.err);
            kwres_free(&r);
        }
    }

    /* At the end of time the 1951 certificate is expired, and so is the
     * one valid until that very second. */
    r = check_at(state_dir, "9999-12-31T23:59:59Z", 2);
    assert_contains(r.out, "CRITICAL: old.example.com");
    assert_contains(r.out, "expired");
    assert_contains(r.out, "CRITICAL: forever.example.com");
    kwres_free(&r);
    setenv("KEYWARDEN_NOW", "253402300799", 1);
    r = kw_ok(state_dir, g_conf, "list", "--json");
    assert_contains(r.out, "\"health\":\"critical\"");
    assert_not_contains(r.out, "\"health\":\"ok\"");
    kwres_free(&r);
    /* At the start of time nothing is valid yet, nothing is expired. */
    r = check_at(state_dir, "0000-01-01T00:00:00Z", 1);
    assert_contains(r.out, "not valid until");
    assert_not_contains(r.out, "expired");
    kwres_free(&r);
    r = check_at(state_dir, NOW_TEXT, 2);
    assert_contains(r.out, "CRITICAL: old.example.com");
    assert_not_contains(r.out, "forever.example.com");
    kwres_free(&r);
}

/* A renewal failure whose retry time cannot be written (the write fails
 * as on a full state disk) says so instead of promising "retry at". */
static void renew_failure_not_recorded(void **state)
{
    char dir[512], conf[600], db[600], empty[512];
    sqlite3 *h;
    kwres r;

    (void)state;
    path_join(dir, sizeof(dir), g_dir, "renew-state");
    path_join(conf, sizeof(conf), g_dir, "renew.conf");
    path_join(empty, sizeof(empty), g_dir, "renew-empty");
    snprintf(db, sizeof(db), "%s/keywarden.db", dir);
    mkdir(empty, 0700);
    /* Port 9 (discard) on loopback: refused, a transient failure. */
    write_text(conf,
               "[acme]\ndirectory = https://127.0.0.1:9/directory\n"
               "[certificate \"www\"]\nnames = www.example.org\n"
               "precheck = off\n");
    r = kw_ok(dir, conf, "scan", empty);
    kwres_free(&r);
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h,
                     "CREATE TRIGGER disk_full BEFORE UPDATE OF retry_at ON "
                     "certificates BEGIN SELECT RAISE(FAIL, 'database or "
                     "disk is full'); END;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);

    r = kw(dir, conf, "renew");
    if (r.status != 1 || strstr(r.out, "www: FAILED: ") == NULL)
        fail_msg("renew: exit %d\nstdout:\n%s\nstderr:\n%s", r.status,
                 r.out, r.err);
    assert_contains(r.out, "retry time were not recorded");
    assert_contains(r.out, "database or disk is full");
    assert_not_contains(r.out, "retry at");
    kwres_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_without_daemon),
        cmocka_unit_test(reader_with_daemon),
        cmocka_unit_test(reader_readonly_mount),
        cmocka_unit_test(no_inventory),
        cmocka_unit_test(corrupt_database),
        cmocka_unit_test(clock_values),
        cmocka_unit_test(renew_failure_not_recorded),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
