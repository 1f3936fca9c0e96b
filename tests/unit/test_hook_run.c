/*
 * test_hook_run.c: the hook runner against real programs.
 *
 * The test process makes itself a child subreaper, so the grandchildren a
 * hook leaves behind are re-parented here and can be reaped: that is how
 * "the background sleep is gone" is checked without depending on the
 * container's init.
 */
#include <errno.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "hooks/hook_run.h"
#include "tmpdir.h"

typedef struct outcome {
    int calls;
    kw_hook_result r; /* copied; r.output taken over from the runner */
} outcome;

static void on_done(void *ctx, kw_hook_result *r)
{
    outcome *o = ctx;

    o->calls++;
    o->r = *r;
    r->output = NULL; /* take ownership */
}

static void spec_init(kw_hook_spec *s, const char *const *argv)
{
    memset(s, 0, sizeof(*s));
    s->argv = argv;
    s->uid = (uid_t)-1;
    s->gid = (gid_t)-1;
}

/* Run one spec to completion on a private loop. */
static void run(const kw_hook_spec *s, outcome *o)
{
    uv_loop_t loop;
    kw_diag d = {{0}};

    memset(o, 0, sizeof(*o));
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(kw_hook_run(&loop, s, on_done, o, &d), 0);
    /* Never from inside the call. */
    assert_int_equal(o->calls, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(o->calls, 1);
    /* Every handle was closed before the callback. */
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_non_null(o->r.output);
    assert_int_equal(o->r.output[o->r.output_len], '\0');
}

static void outcome_free(outcome *o)
{
    free(o->r.output);
    o->r.output = NULL;
}

/* Reap whatever was re-parented to us, then report whether pid is gone. */
static int gone(pid_t pid)
{
    int i;

    for (i = 0; i < 300; i++) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return 1;
        usleep(10000);
    }
    return 0;
}

static pid_t read_pid(const char *path)
{
    char *s = slurp(path, NULL);
    long v;

    assert_non_null(s);
    v = strtol(s, NULL, 10);
    free(s);
    assert_true(v > 1);
    return (pid_t)v;
}

static void env_is_minimal(void **state)
{
    static const char *const argv[] = {"/usr/bin/env", NULL};
    static const char *const env[] = {
        "KEYWARDEN_EVENT=cert.renewed",
        "KEYWARDEN_OBJECT=www.example.org",
        "RENEWED_DOMAINS=a b;$(touch /tmp/pwned)\"'`x`",
        "KEYWARDEN_EVENT=cert.expiring", /* a later entry wins */
        NULL,
    };
    kw_hook_spec s;
    outcome o;

    (void)state;
    assert_int_equal(setenv("KW_HOOK_TEST_SECRET", "must-not-leak", 1), 0);
    spec_init(&s, argv);
    s.env = env;
    s.timeout_ms = 10000;
    run(&s, &o);
    assert_true(o.r.exited);
    assert_int_equal(o.r.exit_status, 0);
    assert_int_equal(o.r.term_signal, 0);
    assert_false(o.r.timed_out);
    assert_string_equal(o.r.error, "");
    assert_int_equal(o.r.dropped, 0);
    assert_non_null(strstr(o.r.output, "KEYWARDEN_EVENT=cert.expiring\n"));
    assert_null(strstr(o.r.output, "cert.renewed"));
    assert_non_null(strstr(o.r.output, "KEYWARDEN_OBJECT=www.example.org\n"));
    assert_non_null(strstr(o.r.output,
                           "RENEWED_DOMAINS=a b;$(touch /tmp/pwned)\"'`x`\n"));
    assert_non_null(
        strstr(o.r.output, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"));
    assert_null(strstr(o.r.output, "KW_HOOK_TEST_SECRET"));
    assert_null(strstr(o.r.output, "HOME="));
    assert_true(o.r.duration_s >= 0 && o.r.duration_s < 10);
    outcome_free(&o);
    unsetenv("KW_HOOK_TEST_SECRET");
}

static void stdin_json(void **state)
{
    static const char *const argv[] = {"/bin/cat", NULL};
    static const char json[] =
        "{\"event\":\"cert.renewed\",\"object\":\"www\",\"names\":[\"a\"]}";
    kw_hook_spec s;
    outcome o;
    char *copy;

    (void)state;
    spec_init(&s, argv);
    /* The runner copies stdin: the caller's buffer may go away at once. */
    copy = strdup(json);
    assert_non_null(copy);
    s.stdin_data = copy;
    s.stdin_len = strlen(copy);
    s.timeout_ms = 10000;
    {
        uv_loop_t loop;
        kw_diag d = {{0}};

        memset(&o, 0, sizeof(o));
        assert_int_equal(uv_loop_init(&loop), 0);
        assert_int_equal(kw_hook_run(&loop, &s, on_done, &o, &d), 0);
        memset(copy, 'X', strlen(copy));
        free(copy);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), 0);
    }
    assert_int_equal(o.calls, 1);
    assert_true(o.r.exited);
    assert_int_equal(o.r.exit_status, 0);
    assert_int_equal(o.r.output_len, strlen(json));
    assert_string_equal(o.r.output, json);
    assert_string_equal(o.r.last_line, json);
    outcome_free(&o);

    /* No stdin data: the child reads /dev/null and sees EOF at once. */
    spec_init(&s, argv);
    s.timeout_ms = 10000;
    run(&s, &o);
    assert_true(o.r.exited);
    assert_int_equal(o.r.exit_status, 0);
    assert_int_equal(o.r.output_len, 0);
    assert_string_equal(o.r.last_line, "");
    outcome_free(&o);
}

static void exit_status_and_last_line(void **state)
{
    static const char *const argv[] = {
        "/bin/sh", "-c",
        "echo starting; echo 'nginx: [emerg] bad\tcert' >&2; echo; "
        "printf '  \\n'; exit 3",
        NULL,
    };
    kw_hook_spec s;
    outcome o;

    (void)state;
    spec_init(&s, argv);
    s.timeout_ms = 10000;
    run(&s, &o);
    assert_true(o.r.exited);
    assert_int_equal(o.r.exit_status, 3);
    assert_false(o.r.timed_out);
    /* stderr and stdout share one pipe, in order. */
    assert_non_null(strstr(o.r.output, "starting\nnginx: [emerg]"));
    /* Blank lines skipped, the tab made a space. */
    assert_string_equal(o.r.last_line, "nginx: [emerg] bad cert");
    outcome_free(&o);
}

static void timeout_kills_group(void **state)
{
    char dir[512], pidfile[600], cmd[800];
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    kw_hook_spec s;
    outcome o;
    pid_t bg;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "hook");
    path_join(pidfile, sizeof(pidfile), dir, "bg.pid");
    snprintf(cmd, sizeof(cmd),
             "sleep 30 & echo $! > '%s'; echo started; sleep 30", pidfile);
    spec_init(&s, argv);
    s.timeout_ms = 500;
    run(&s, &o);
    assert_true(o.r.timed_out);
    assert_false(o.r.exited);
    assert_int_equal(o.r.term_signal, SIGTERM);
    assert_true(o.r.duration_s >= 0.45);
    assert_true(o.r.duration_s < 0.5 + 3);
    assert_string_equal(o.r.last_line, "started");
    assert_string_equal(o.r.error, "");
    bg = read_pid(pidfile);
    assert_true(gone(bg));
    outcome_free(&o);
    tmpdir_remove(dir);
}

static void timeout_escalates_to_sigkill(void **state)
{
    char dir[512], pidfile[600], cmd[800];
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    kw_hook_spec s;
    outcome o;
    pid_t bg;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "hook");
    path_join(pidfile, sizeof(pidfile), dir, "bg.pid");
    /* Both the shell and its background child ignore SIGTERM. */
    snprintf(cmd, sizeof(cmd),
             "trap '' TERM; sleep 30 & echo $! > '%s'; sleep 30", pidfile);
    spec_init(&s, argv);
    s.timeout_ms = 300;
    run(&s, &o);
    assert_true(o.r.timed_out);
    assert_int_equal(o.r.term_signal, SIGKILL);
    assert_true(o.r.duration_s >= 0.3 + 1.9);
    assert_true(o.r.duration_s < 0.3 + 3);
    bg = read_pid(pidfile);
    assert_true(gone(bg));
    outcome_free(&o);
    tmpdir_remove(dir);
}

static void straggler_does_not_hold_the_run(void **state)
{
    char dir[512], pidfile[600], cmd[800];
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    kw_hook_spec s;
    outcome o;
    pid_t bg;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "hook");
    path_join(pidfile, sizeof(pidfile), dir, "bg.pid");
    /* The background sleep keeps the output pipe open after sh exits. */
    snprintf(cmd, sizeof(cmd), "sleep 20 & echo $! > '%s'; echo reloaded",
             pidfile);
    spec_init(&s, argv);
    s.timeout_ms = 10000;
    run(&s, &o);
    assert_true(o.r.exited);
    assert_int_equal(o.r.exit_status, 0);
    assert_false(o.r.timed_out);
    assert_true(o.r.duration_s < 2.5);
    assert_string_equal(o.r.last_line, "reloaded");
    bg = read_pid(pidfile);
    kill(bg, SIGKILL);
    assert_true(gone(bg));
    outcome_free(&o);
    tmpdir_remove(dir);
}

static void output_flood_is_bounded(void **state)
{
    static const char *const argv[] = {"/bin/sh", "-c",
                                       "yes | head -c 10000000", NULL};
    static const char *const argv2[] = {"/bin/sh", "-c",
                                        "printf 0123456789abcdefXYZ", NULL};
    kw_hook_spec s;
    outcome o;

    (void)state;
    spec_init(&s, argv);
    s.timeout_ms = 30000;
    run(&s, &o);
    assert_true(o.r.exited);
    assert_int_equal(o.r.exit_status, 0);
    assert_true(o.r.output_len <= KW_HOOK_DEFAULT_MAX_OUTPUT + 64);
    assert_int_equal(o.r.dropped, 10000000 - KW_HOOK_DEFAULT_MAX_OUTPUT);
    assert_int_equal(memcmp(o.r.output, "y\ny\ny\n", 6), 0);
    assert_non_null(strstr(o.r.output, "[keywarden: 9934464 bytes of output "
                                       "dropped]\n"));
    assert_int_equal(memcmp(o.r.output + o.r.output_len - 4, "y\ny\n", 4), 0);
    assert_string_equal(o.r.last_line, "y");
    outcome_free(&o);

    /* A small bound: head and tail exact. */
    spec_init(&s, argv2);
    s.max_output = 8;
    run(&s, &o);
    assert_int_equal(o.r.dropped, 11);
    assert_string_equal(o.r.output,
                        "0123\n[keywarden: 11 bytes of output dropped]\nfXYZ");
    outcome_free(&o);
}

static void missing_program(void **state)
{
    static const char *const argv[] = {"/nonexistent/kw-hook", "x", NULL};
    static const char *const rel[] = {"postfix", "reload", NULL};
    static const char *const badenv[] = {"NOEQUALS", NULL};
    static const char *const ok[] = {"/bin/true", NULL};
    kw_hook_spec s;
    outcome o;
    uv_loop_t loop;
    kw_diag d = {{0}};

    (void)state;
    spec_init(&s, argv);
    run(&s, &o);
    assert_false(o.r.exited);
    assert_int_equal(o.r.term_signal, 0);
    assert_false(o.r.timed_out);
    assert_string_equal(o.r.error,
                        "cannot run /nonexistent/kw-hook: No such file or "
                        "directory");
    assert_int_equal(o.r.output_len, 0);
    outcome_free(&o);

    /* A directory that does not exist is named too. */
    spec_init(&s, ok);
    s.cwd = "/nonexistent-dir";
    run(&s, &o);
    assert_false(o.r.exited);
    assert_non_null(strstr(o.r.error, "in /nonexistent-dir"));
    outcome_free(&o);

    /* Synchronous refusals: the callback never runs. */
    memset(&o, 0, sizeof(o));
    assert_int_equal(uv_loop_init(&loop), 0);
    spec_init(&s, rel);
    assert_int_equal(kw_hook_run(&loop, &s, on_done, &o, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "absolute path"));
    spec_init(&s, ok);
    s.env = badenv;
    assert_int_equal(kw_hook_run(&loop, &s, on_done, &o, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "NOEQUALS"));
    spec_init(&s, ok);
    s.timeout_ms = -1;
    assert_int_equal(kw_hook_run(&loop, &s, on_done, &o, &d), KW_EINVAL);
    spec_init(&s, NULL);
    assert_int_equal(kw_hook_run(&loop, &s, on_done, &o, &d), KW_EINVAL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(o.calls, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void concurrent_runs(void **state)
{
    enum { N = 8 };
    static const char *const argv[] = {"/bin/sh", "-c",
                                       "read x; echo \"got $x\"", NULL};
    char in[N][16];
    outcome o[N];
    kw_hook_spec s;
    uv_loop_t loop;
    kw_diag d = {{0}};
    char want[32];
    int i;

    (void)state;
    memset(o, 0, sizeof(o));
    assert_int_equal(uv_loop_init(&loop), 0);
    for (i = 0; i < N; i++) {
        snprintf(in[i], sizeof(in[i]), "%d\n", i);
        spec_init(&s, argv);
        s.stdin_data = in[i];
        s.stdin_len = strlen(in[i]);
        s.timeout_ms = 10000;
        assert_int_equal(kw_hook_run(&loop, &s, on_done, &o[i], &d), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    for (i = 0; i < N; i++) {
        assert_int_equal(o[i].calls, 1);
        snprintf(want, sizeof(want), "got %d", i);
        assert_string_equal(o[i].r.last_line, want);
        outcome_free(&o[i]);
    }
}

static void drops_privileges(void **state)
{
    static const char *const argv[] = {"/bin/sh", "-c", "id -u; id -g; id -G",
                                       NULL};
    struct passwd *pw;
    kw_hook_spec s;
    outcome o;
    char want[128];

    (void)state;
    if (geteuid() != 0)
        skip();
    pw = getpwnam("nobody");
    if (pw == NULL)
        skip();
    spec_init(&s, argv);
    s.uid = pw->pw_uid;
    s.gid = pw->pw_gid;
    s.cwd = "/";
    s.timeout_ms = 10000;
    run(&s, &o);
    assert_string_equal(o.r.error, "");
    assert_true(o.r.exited);
    assert_int_equal(o.r.exit_status, 0);
    /* uid, gid, and no supplementary group left over from root. */
    snprintf(want, sizeof(want), "%u\n%u\n%u\n", (unsigned)pw->pw_uid,
             (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
    assert_string_equal(o.r.output, want);
    outcome_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(env_is_minimal),
        cmocka_unit_test(stdin_json),
        cmocka_unit_test(exit_status_and_last_line),
        cmocka_unit_test(timeout_kills_group),
        cmocka_unit_test(timeout_escalates_to_sigkill),
        cmocka_unit_test(straggler_does_not_hold_the_run),
        cmocka_unit_test(output_flood_is_bounded),
        cmocka_unit_test(missing_program),
        cmocka_unit_test(concurrent_runs),
        cmocka_unit_test(drops_privileges),
    };

    /* What the daemon does too: a hook that ignores its stdin must not
     * kill us with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
