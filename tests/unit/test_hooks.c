/*
 * test_hooks.c: the outbox and the delivery engine against real programs
 * (sh, sleep, printenv, cat) and a real database.
 *
 * Events are written the way the lifecycles write them (one row in
 * events); the engine turns them into deliveries and runs the hooks.  The
 * test process is a child subreaper, so what a killed hook left behind is
 * re-parented here and "it is gone" can be checked by PID.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/kw_time.h"
#include "hooks/hook_deliver.h"
#include "hooks/hook_outbox.h"
#include "keystore/ks_health.h"
#include "keystore/ks_scan.h"
#include "keystore/ks_store.h"
#include "keystore/ks_watch.h"
#include "keystore/ks_store_int.h"
#include "testpki.h"
#include "tmpdir.h"

typedef struct fixture {
    char dir[512];
    char db[600];
    ks_store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    kw_diag d;

    tmpdir_make(f->dir, sizeof(f->dir), "hooks");
    path_join(f->db, sizeof(f->db), f->dir, "keywarden.db");
    assert_int_equal(ks_open(f->db, KS_OPEN_CREATE, &f->s, &d), 0);
    unsetenv("KEYWARDEN_NOW");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    ks_close(f->s);
    tmpdir_remove(f->dir);
    free(f);
    unsetenv("KEYWARDEN_NOW");
    return 0;
}

static int64_t add_event(fixture *f, const char *type, const char *detail)
{
    kw_diag d;

    assert_int_equal(ks_run(f->s, &d, "test event",
                            "INSERT INTO events (at, type, detail) VALUES "
                            "(?1, ?2, ?3)",
                            "itt", kw_now(), type, detail),
                     0);
    return sqlite3_last_insert_rowid(ks_db(f->s));
}

static int64_t sql_int(fixture *f, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    assert_int_equal(sqlite3_prepare_v2(ks_db(f->s), sql, -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A hook definition; argv given as words. */
static void def_init(kw_hook_def *h, const char *name, const char *on,
                     const char *const *argv)
{
    size_t n = 0;

    memset(h, 0, sizeof(*h));
    h->name = strdup(name);
    h->on = calloc(2, sizeof(*h->on));
    h->on[0] = strdup(on);
    h->non = 1;
    while (argv[n] != NULL)
        n++;
    h->argv = calloc(n + 1, sizeof(*h->argv));
    for (h->nargv = 0; h->nargv < n; h->nargv++)
        h->argv[h->nargv] = strdup(argv[h->nargv]);
    h->timeout = 10;
    h->retries = 2;
    h->retry_delay = 60;
}

/* A script in the fixture's directory. */
static void script(fixture *f, const char *name, const char *body, char *out,
                   size_t cap)
{
    FILE *fp;

    path_join(out, cap, f->dir, name);
    fp = fopen(out, "w");
    assert_non_null(fp);
    fprintf(fp, "#!/bin/sh\n%s\n", body);
    fclose(fp);
    assert_int_equal(chmod(out, 0755), 0);
}

typedef struct deliv {
    kw_hook_engine *e;
    int reports, failed, gave_up;
    size_t nevents_last;
    char last_line[512];
    int stop_after; /* daemon mode: stop after this many reports */
    uv_timer_t guard;
} deliv;

static void on_report(void *ctx, const kw_hook_report *r)
{
    deliv *v = ctx;

    v->reports++;
    v->failed += strcmp(r->result, "ok") != 0;
    v->gave_up += r->gave_up;
    v->nevents_last = r->nevents;
    snprintf(v->last_line, sizeof(v->last_line), "%s",
             r->last_line != NULL ? r->last_line : "");
    if (v->stop_after > 0 && v->reports == v->stop_after)
        kw_hook_engine_stop(v->e);
}

static void on_idle(void *ctx)
{
    deliv *v = ctx;

    kw_hook_engine_free(v->e);
    v->e = NULL;
    uv_close((uv_handle_t *)&v->guard, NULL);
}

static void on_guard(uv_timer_t *t)
{
    (void)t;
    fail_msg("the engine did not finish within 30 s");
}

/* Deliver with the engine: now_all as the command line does, or as the
 * daemon does until stop_after reports. */
static void deliver(fixture *f, const kw_hook_def *defs, size_t n,
                    int now_all, int stop_after, deliv *v)
{
    kw_hook_engine_opts o;
    uv_loop_t loop;
    kw_diag d;

    memset(v, 0, sizeof(*v));
    v->stop_after = stop_after;
    memset(&o, 0, sizeof(o));
    assert_int_equal(uv_loop_init(&loop), 0);
    o.loop = &loop;
    o.db_path = f->db;
    o.defs = defs;
    o.ndefs = n;
    o.certs_dir = "/srv/certs";
    o.now_all = now_all;
    o.reclaim = 1;
    o.ctx = v;
    o.on_report = on_report;
    o.on_idle = on_idle;
    assert_int_equal(kw_hook_engine_new(&o, &v->e, &d), 0);
    uv_timer_init(&loop, &v->guard);
    uv_timer_start(&v->guard, on_guard, 30000, 0);
    kw_hook_engine_kick(v->e);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_null(v->e);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static char *last_output(fixture *f, const char *hook)
{
    sqlite3_stmt *st;
    char *out = NULL;

    assert_int_equal(sqlite3_prepare_v2(ks_db(f->s),
                                        "SELECT output FROM hook_runs WHERE "
                                        "hook = ?1 ORDER BY id DESC LIMIT 1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, hook, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    assert_non_null(out);
    return out;
}

/* ---- tests ---------------------------------------------------------------- */

/* A matching event runs the hook once; another type does not; a second
 * pass finds nothing to do. */
static void delivers_once(void **state)
{
    fixture *f = *state;
    char log[700], cmd[900], *text;
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    kw_hook_def h;
    deliv v;

    path_join(log, sizeof(log), f->dir, "log");
    snprintf(cmd, sizeof(cmd),
             "echo \"$KEYWARDEN_EVENT $KEYWARDEN_OBJECT $KEYWARDEN_NAMES "
             "$RENEWED_LINEAGE\" >> '%s'",
             log);
    def_init(&h, "deploy", "cert.renewed", argv);
    add_event(f, "cert.renewed", "{\"certificate\":\"www\"}");
    add_event(f, "probe.stale", "{\"endpoint\":\"mail\"}");
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.reports, 1);
    assert_int_equal(v.failed, 0);
    text = slurp(log, NULL);
    assert_non_null(text);
    assert_string_equal(text, "cert.renewed www  /srv/certs/live/www\n");
    free(text);
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.reports, 0);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM outbox WHERE state = "
                                "'done'"),
                     1);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM hook_runs"), 1);
    assert_int_equal(sql_int(f, "SELECT runs FROM hook_stats WHERE hook = "
                                "'deploy' AND result = 'ok'"),
                     1);
    kw_hook_def_free(&h);
}

/* exit 1: retried with backoff, then failed for good: a hook.failed
 * event, the output's last line as the reason, the object critical;
 * kw_hook_retry and a fixed hook clear it. */
static void retries_then_fails(void **state)
{
    fixture *f = *state;
    char path[700], now[32];
    const char *argv[] = {path, NULL};
    kw_hook_overlay ov;
    ks_verdict verdict;
    kw_hook_def h;
    kw_diag d;
    deliv v;
    size_t n;

    script(f, "fail.sh", "echo starting\necho 'boom: cannot reload' >&2\n"
                         "exit 1",
           path, sizeof(path));
    def_init(&h, "failing", "cert.*", argv);
    assert_int_equal(ks_run(f->s, &d, "object",
                            "INSERT INTO objects (id, kind, name, source, "
                            "created_at, updated_at) VALUES (7, 'tls', "
                            "'a.example', 'x', 0, 0)",
                            ""),
                     0);
    assert_int_equal(ks_run(f->s, &d, "event",
                            "INSERT INTO events (at, object_id, type, "
                            "detail) VALUES (?1, 7, 'cert.expiring', '{}')",
                            "i", kw_now()),
                     0);
    /* Attempt 1; the retry is not due yet, so the command line stops. */
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.reports, 1);
    assert_int_equal(v.failed, 1);
    assert_int_equal(v.gave_up, 0);
    assert_string_equal(v.last_line, "boom: cannot reload");
    assert_int_equal(sql_int(f, "SELECT attempt FROM outbox"), 1);
    assert_int_equal(sql_int(f, "SELECT next_at - finished_at IS NULL FROM "
                                "outbox"),
                     1);
    /* An hour later: attempts 2 and 3 (retry = 2), then failed. */
    snprintf(now, sizeof(now), "%lld", (long long)(kw_now() + 3600));
    setenv("KEYWARDEN_NOW", now, 1);
    deliver(f, &h, 1, 1, 0, &v);
    snprintf(now, sizeof(now), "%lld", (long long)(kw_now() + 7200));
    setenv("KEYWARDEN_NOW", now, 1);
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.gave_up, 1);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM outbox WHERE state = "
                                "'failed' AND attempt = 3"),
                     1);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM hook_runs WHERE "
                                "result = 'failed'"),
                     3);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM events WHERE type = "
                                "'hook.failed' AND json_extract(detail, "
                                "'$.last_line') = 'boom: cannot reload'"),
                     1);
    /* The object the event was about is critical, with the reason. */
    assert_int_equal(kw_hook_overlay_load(f->s, &ov, &d), 0);
    assert_int_equal(ov.n, 1);
    memset(&verdict, 0, sizeof(verdict));
    assert_int_equal(kw_hook_overlay_apply(&ov, 7, &verdict), 1);
    assert_int_equal(verdict.health, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(verdict.reason, "hook failing failed for "
                                           "a.example"));
    assert_non_null(strstr(verdict.reason, "boom: cannot reload"));
    assert_int_equal(kw_hook_overlay_apply(&ov, 8, &verdict), 0);
    kw_hook_overlay_free(&ov);
    /* Fixed, retried: delivered, and the failure is gone. */
    script(f, "fail.sh", "exit 0", path, sizeof(path));
    assert_int_equal(kw_hook_retry(f->s, "failing", kw_now(), &n, &d), 0);
    assert_int_equal(n, 1);
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.reports, 1);
    assert_int_equal(v.failed, 0);
    assert_int_equal(kw_hook_overlay_load(f->s, &ov, &d), 0);
    assert_int_equal(ov.n, 0);
    kw_hook_overlay_free(&ov);
    kw_hook_def_free(&h);
}

/* Reap what was re-parented to us; is pid gone? */
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

/* A hook that hangs is killed at its timeout with what it started. */
static void hang_killed_at_timeout(void **state)
{
    fixture *f = *state;
    char path[700], pidf[700], body[1600], *text;
    const char *argv[] = {path, NULL};
    kw_hook_def h;
    deliv v;
    pid_t bg;

    path_join(pidf, sizeof(pidf), f->dir, "bg.pid");
    snprintf(body, sizeof(body),
             "sleep 300 &\necho $! > '%s'\necho hanging\nsleep 300", pidf);
    script(f, "hang.sh", body, path, sizeof(path));
    def_init(&h, "hang", "cert.renewed", argv);
    h.timeout = 1;
    add_event(f, "cert.renewed", "{\"certificate\":\"www\"}");
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.reports, 1);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM hook_runs WHERE "
                                "result = 'timeout' AND duration_ms < 5000"),
                     1);
    text = slurp(pidf, NULL);
    assert_non_null(text);
    bg = (pid_t)strtol(text, NULL, 10);
    free(text);
    assert_true(bg > 1);
    assert_true(gone(bg));
    text = last_output(f, "hang");
    assert_non_null(strstr(text, "hanging"));
    free(text);
    kw_hook_def_free(&h);
}

/* Twenty events in a burst: one coalesced run, as the daemon does it. */
static void burst_coalesced(void **state)
{
    fixture *f = *state;
    char log[700], cmd[900], *text;
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    kw_hook_def h;
    deliv v;
    int i;

    path_join(log, sizeof(log), f->dir, "runs");
    snprintf(cmd, sizeof(cmd), "echo \"$KEYWARDEN_EVENTS\" >> '%s'", log);
    def_init(&h, "postfix", "cert.renewed", argv);
    h.coalesce = 1;
    for (i = 0; i < 20; i++) {
        char detail[64];

        snprintf(detail, sizeof(detail), "{\"certificate\":\"c%d\"}", i);
        add_event(f, "cert.renewed", detail);
    }
    deliver(f, &h, 1, 0, 1, &v);
    assert_int_equal(v.reports, 1);
    assert_int_equal(v.nevents_last, 20);
    text = slurp(log, NULL);
    assert_non_null(text);
    assert_string_equal(text, "20\n");
    free(text);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM outbox WHERE state = "
                                "'done'"),
                     20);
    kw_hook_def_free(&h);
}

/* Names and paths with quotes, spaces, ';', $() and newlines reach the
 * hook verbatim, in the environment and on stdin, and nothing in them is
 * run. */
static void hostile_names_verbatim(void **state)
{
    fixture *f = *state;
    static const char object[] = "we\"ird 'name';$(touch PWNED)\nsecond";
    static const char path[] = "/tmp/a b/`id`;$(touch PWNED)\n.pem";
    const char *env_argv[] = {"/usr/bin/printenv", "KEYWARDEN_OBJECT",
                              "KEYWARDEN_CERT_PATH", NULL};
    const char *cat_argv[] = {"/bin/cat", NULL};
    char pwned[700], *out, expect[256];
    json_t *detail;
    char *text;
    kw_hook_def h[2];
    deliv v;

    detail = json_pack("{s:s, s:s, s:s}", "object", object, "kind", "tls",
                       "path", path);
    text = json_dumps(detail, JSON_COMPACT);
    json_decref(detail);
    add_event(f, "cert.expiring", text);
    free(text);
    def_init(&h[0], "env", "cert.expiring", env_argv);
    def_init(&h[1], "stdin", "cert.expiring", cat_argv);
    assert_int_equal(chdir(f->dir), 0);
    deliver(f, h, 2, 1, 0, &v);
    assert_int_equal(v.reports, 2);
    assert_int_equal(v.failed, 0);
    out = last_output(f, "env");
    snprintf(expect, sizeof(expect), "%s\n%s\n", object, path);
    assert_non_null(strstr(out, expect));
    free(out);
    out = last_output(f, "stdin");
    assert_non_null(
        strstr(out, "\"object\": \"we\\\"ird 'name';$(touch PWNED)\\nsecond\""));
    assert_non_null(strstr(out, "\"cert\": \"/tmp/a b/`id`;$(touch "
                                "PWNED)\\n.pem\""));
    free(out);
    path_join(pwned, sizeof(pwned), f->dir, "PWNED");
    assert_int_not_equal(access(pwned, F_OK), 0);
    assert_int_equal(access("PWNED", F_OK), -1);
    kw_hook_def_free(&h[0]);
    kw_hook_def_free(&h[1]);
}

/* A hook binary that does not exist: an error with the reason, retried
 * like any failure. */
static void missing_binary(void **state)
{
    fixture *f = *state;
    const char *argv[] = {"/nonexistent/reload-hook", NULL};
    kw_hook_def h;
    deliv v;

    def_init(&h, "missing", "cert.renewed", argv);
    add_event(f, "cert.renewed", "{\"certificate\":\"www\"}");
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.reports, 1);
    assert_int_equal(v.failed, 1);
    assert_non_null(strstr(v.last_line, "/nonexistent/reload-hook"));
    assert_non_null(strstr(v.last_line, "No such file"));
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM hook_runs WHERE "
                                "result = 'error'"),
                     1);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM outbox WHERE state = "
                                "'pending' AND attempt = 1"),
                     1);
    kw_hook_def_free(&h);
}

/* A delivery left running by a process that died runs again at the next
 * start (the caller holds the lock), not after its lease. */
static void orphan_reclaimed(void **state)
{
    fixture *f = *state;
    char log[700], cmd[900], *text;
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    kw_hook_batch b;
    kw_hook_def h;
    kw_diag d;
    deliv v;
    size_t q;

    path_join(log, sizeof(log), f->dir, "log");
    snprintf(cmd, sizeof(cmd), "echo ran >> '%s'", log);
    def_init(&h, "reload", "cert.renewed", argv);
    add_event(f, "cert.renewed", "{\"certificate\":\"www\"}");
    /* What a process killed mid-run leaves: a claimed delivery. */
    assert_int_equal(kw_hook_dispatch(f->s, &h, 1, kw_now(), &q, NULL, &d),
                     0);
    assert_int_equal(q, 1);
    assert_int_equal(kw_hook_claim(f->s, &h, kw_now(), 0, kw_now() + 86400,
                                   NULL, &b, &d),
                     0);
    assert_int_equal(b.nrows, 1);
    kw_hook_batch_clear(&b);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM outbox WHERE state = "
                                "'running'"),
                     1);
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.reports, 1);
    text = slurp(log, NULL);
    assert_non_null(text);
    assert_string_equal(text, "ran\n");
    free(text);
    kw_hook_def_free(&h);
}

/* hook.failed reaches other hooks, never the one that failed; a hook
 * that left the configuration has its deliveries closed. */
static void hook_failed_routing(void **state)
{
    fixture *f = *state;
    char log[700], cmd[900], *text;
    const char *fail_argv[] = {"/bin/false", NULL};
    const char *pager_argv[] = {"/bin/sh", "-c", cmd, NULL};
    kw_hook_def h[2];
    kw_diag d;
    deliv v;
    size_t q;

    path_join(log, sizeof(log), f->dir, "pager");
    snprintf(cmd, sizeof(cmd), "echo \"$KEYWARDEN_EVENT $KEYWARDEN_OBJECT\" "
                               ">> '%s'",
             log);
    def_init(&h[0], "flaky", "*", fail_argv);
    h[0].retries = 0;
    def_init(&h[1], "pager", "hook.failed", pager_argv);
    add_event(f, "cert.renewed", "{\"certificate\":\"www\"}");
    deliver(f, h, 2, 1, 0, &v);
    /* flaky failed for good at once; its hook.failed went to the pager
     * only. */
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM events WHERE type = "
                                "'hook.failed'"),
                     1);
    text = slurp(log, NULL);
    assert_non_null(text);
    assert_string_equal(text, "hook.failed flaky\n");
    free(text);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM outbox WHERE hook = "
                                "'flaky'"),
                     1);
    /* The pager leaves the configuration with a delivery open. */
    add_event(f, "hook.failed", "{\"hook\":\"other\"}");
    assert_int_equal(kw_hook_dispatch(f->s, h, 2, kw_now(), &q, NULL, &d),
                     0);
    assert_int_equal(q, 2);
    deliver(f, h, 1, 1, 0, &v);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM outbox WHERE hook = "
                                "'pager' AND state = 'done' AND last_error "
                                "LIKE 'not delivered%'"),
                     1);
    kw_hook_def_free(&h[0]);
    kw_hook_def_free(&h[1]);
}

/* Events from before the hooks existed are not replayed: the cursor
 * starts at the newest event of the database it migrated. */
static void history_not_replayed(void **state)
{
    fixture *f = *state;
    const char *argv[] = {"/bin/true", NULL};
    kw_hook_def h;
    kw_diag d;
    ks_store *s;
    deliv v;
    char db2[600];

    (void)f;
    path_join(db2, sizeof(db2), f->dir, "old.db");
    assert_int_equal(ks_open_at_version(db2, 7, &s, &d), 0);
    assert_int_equal(ks_run(s, &d, "old event",
                            "INSERT INTO events (at, type, detail) VALUES "
                            "(1, 'cert.renewed', '{\"certificate\":\"x\"}')",
                            ""),
                     0);
    ks_close(s);
    assert_int_equal(ks_open(db2, 0, &s, &d), 0);
    ks_close(s);
    ks_close(f->s);
    snprintf(f->db, sizeof(f->db), "%s", db2);
    assert_int_equal(ks_open(f->db, 0, &f->s, &d), 0);
    def_init(&h, "deploy", "cert.renewed", argv);
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.reports, 0);
    add_event(f, "cert.renewed", "{\"certificate\":\"y\"}");
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.reports, 1);
    kw_hook_def_free(&h);
}

static size_t watch(fixture *f, int64_t now)
{
    ks_thresholds t;
    size_t n = 0;
    kw_diag d;

    ks_thresholds_default(&t);
    if (ks_watch_health(f->s, now, &t, &n, &d) != 0)
        fail_msg("%s", d.msg);
    return n;
}

/* Health that changes by itself becomes events, each once: cert.expiring
 * at the warning and the critical threshold, health.changed on each
 * change after the first sighting. */
static void health_becomes_events(void **state)
{
    fixture *f = *state;
    const int64_t day = 86400, now = kw_now();
    const char *dns[] = {"soon.example", NULL};
    char tree[700], p[800];
    const char *roots[] = {tree};
    EVP_PKEY *k = tp_key_ec();
    X509 *c;
    ks_scan_opts o;
    ks_scan_stats st;
    kw_diag d;

    path_join(tree, sizeof(tree), f->dir, "tree");
    tp_mkdirs(tree);
    c = tp_cert(&(tp_spec){.cn = "soon.example", .dns = dns,
                           .not_before = now - day,
                           .not_after = now + 10 * day, .key = k});
    path_join(p, sizeof(p), tree, "soon.pem");
    tp_write_pem(p, &c, 1, NULL, 0644);
    memset(&o, 0, sizeof(o));
    o.now = now;
    assert_int_equal(ks_scan(f->s, roots, 1, &o, &st, &d), 0);
    /* First sighting: within 21 days, so announced; health only noted. */
    assert_int_equal(watch(f, now), 1);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM events WHERE type = "
                                "'cert.expiring' AND json_extract(detail, "
                                "'$.level') = 'warning' AND "
                                "json_extract(detail, '$.days_left') = 10"),
                     1);
    assert_int_equal(watch(f, now + 60), 0);
    /* Five days on: critical (7 days), and the health changed. */
    assert_int_equal(watch(f, now + 5 * day), 2);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM events WHERE type = "
                                "'health.changed' AND json_extract(detail, "
                                "'$.from') = 'warning' AND "
                                "json_extract(detail, '$.to') = "
                                "'critical'"),
                     1);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM events WHERE type = "
                                "'cert.expiring' AND json_extract(detail, "
                                "'$.level') = 'critical'"),
                     1);
    assert_int_equal(watch(f, now + 5 * day + 60), 0);
    /* The path reaches a hook's KEYWARDEN_CERT_PATH. */
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM events WHERE type = "
                                "'cert.expiring' AND json_extract(detail, "
                                "'$.path') LIKE '%/tree/soon.pem'"),
                     2);
    X509_free(c);
    EVP_PKEY_free(k);
}

/* An event whose detail is not JSON (a bug, a hand edit) is still
 * delivered, as an event about nothing in particular; it never blocks the
 * ones after it. */
static void malformed_detail(void **state)
{
    fixture *f = *state;
    const char *argv[] = {"/usr/bin/printenv", "KEYWARDEN_KIND", NULL};
    kw_hook_def h;
    deliv v;
    char *out;

    def_init(&h, "any", "cert.renewed", argv);
    add_event(f, "cert.renewed", "{not json");
    add_event(f, "cert.renewed", "{\"certificate\":\"www\"}");
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.reports, 2);
    assert_int_equal(v.failed, 0);
    out = last_output(f, "any");
    assert_non_null(strstr(out, "tls\n"));
    free(out);
    kw_hook_def_free(&h);
}

/* A coalesced run carries a retry and a first delivery: each keeps its
 * own count of tries, so the newcomer gets all its retries. */
static void coalesced_attempts_per_row(void **state)
{
    fixture *f = *state;
    const char *argv[] = {"/bin/false", NULL};
    kw_hook_def h;
    char now[32];
    deliv v;

    def_init(&h, "reload", "cert.renewed", argv);
    h.coalesce = 1;
    h.retries = 2;
    add_event(f, "cert.renewed", "{\"certificate\":\"a\"}");
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.reports, 1);
    add_event(f, "cert.renewed", "{\"certificate\":\"b\"}");
    snprintf(now, sizeof(now), "%lld", (long long)(kw_now() + 3600));
    setenv("KEYWARDEN_NOW", now, 1);
    /* The retry of a is due, b is new: one run for both. */
    deliver(f, &h, 1, 1, 0, &v);
    assert_int_equal(v.reports, 1);
    assert_int_equal(v.nevents_last, 2);
    assert_int_equal(sql_int(f, "SELECT attempt FROM outbox WHERE object = "
                                "'a'"),
                     2);
    assert_int_equal(sql_int(f, "SELECT attempt FROM outbox WHERE object = "
                                "'b'"),
                     1);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM outbox WHERE state = "
                                "'failed'"),
                     0);
    kw_hook_def_free(&h);
}

/* Two alert hooks on hook.failed whose pager is down do not feed each
 * other: a failure to deliver hook.failed is not announced again. */
static void alert_hooks_do_not_loop(void **state)
{
    fixture *f = *state;
    const char *argv[] = {"/bin/false", NULL};
    kw_hook_def h[2];
    deliv v;

    def_init(&h[0], "pager-a", "hook.failed", argv);
    def_init(&h[1], "pager-b", "hook.failed", argv);
    h[0].retries = h[1].retries = 0;
    add_event(f, "hook.failed", "{\"hook\":\"deploy\"}");
    deliver(f, h, 2, 1, 0, &v);
    assert_int_equal(v.reports, 2);
    assert_int_equal(v.failed, 2);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM events WHERE type = "
                                "'hook.failed'"),
                     1);
    deliver(f, h, 2, 1, 0, &v);
    assert_int_equal(v.reports, 0);
    kw_hook_def_free(&h[0]);
    kw_hook_def_free(&h[1]);
}

/* user = drops privileges (looked up on the pool); a user that does not
 * exist is an error with the name in it. */
static void user_drop(void **state)
{
    fixture *f = *state;
    const char *argv[] = {"/usr/bin/id", "-u", NULL};
    kw_hook_def h[2];
    deliv v;
    char *out;

    def_init(&h[0], "as-nobody", "cert.renewed", argv);
    h[0].user = strdup("nobody");
    def_init(&h[1], "as-ghost", "cert.renewed", argv);
    h[1].user = strdup("no-such-user-kw");
    add_event(f, "cert.renewed", "{\"certificate\":\"www\"}");
    deliver(f, h, geteuid() == 0 ? 2 : 1, 1, 0, &v);
    if (geteuid() == 0) {
        out = last_output(f, "as-nobody");
        assert_non_null(strstr(out, "65534\n"));
        free(out);
    }
    if (geteuid() != 0)
        deliver(f, &h[1], 1, 1, 0, &v);
    out = last_output(f, "as-ghost");
    assert_non_null(strstr(out, "user no-such-user-kw: no such user"));
    free(out);
    kw_hook_def_free(&h[0]);
    kw_hook_def_free(&h[1]);
}

/* Splitting run = into argv, and the reload commands. */
static void split_and_plans(void **state)
{
    char **argv = NULL;
    size_t n = 0;
    const char *why = NULL;
    kw_reload_plan p;

    (void)state;
    assert_int_equal(kw_hook_split("/usr/bin/x \"a b\" 'c d' e\\ f "
                                   "\"q\\\"uote\" $(no)",
                                   &argv, &n, &why),
                     0);
    assert_int_equal(n, 6);
    assert_string_equal(argv[1], "a b");
    assert_string_equal(argv[2], "c d");
    assert_string_equal(argv[3], "e f");
    assert_string_equal(argv[4], "q\"uote");
    assert_string_equal(argv[5], "$(no)");
    for (size_t i = 0; i < n; i++)
        free(argv[i]);
    free(argv);
    assert_int_equal(kw_hook_split("/bin/x \"open", &argv, &n, &why), -1);
    assert_non_null(strstr(why, "unbalanced"));
    kw_reload_plan_make(KW_RELOAD_NGINX, "/etc/nginx/test.conf", &p);
    assert_int_equal(p.nsteps, 2);
    assert_string_equal(p.steps[0].argv[3], "-t");
    assert_string_equal(p.steps[1].argv[3], "-s");
    assert_string_equal(p.steps[1].argv[4], "reload");
    kw_reload_plan_make(KW_RELOAD_POSTFIX, NULL, &p);
    assert_int_equal(p.nsteps, 1);
    assert_string_equal(p.steps[0].argv[1], "reload");
    kw_reload_plan_make(KW_RELOAD_OPENDKIM, "/nonexistent.conf", &p);
    assert_int_equal(p.nsteps, 2);
    assert_int_equal(p.steps[1].signal, SIGUSR1);
    assert_string_equal(p.steps[1].pidfile, "/run/opendkim/opendkim.pid");
    assert_true(kw_hook_event_pattern_ok("cert.*"));
    assert_false(kw_hook_event_pattern_ok("cert.renewd"));
}

/* reload = opendkim without config = reloads each OpenDKIM the events
 * name; more than one run's commands hold is a failed run that says so,
 * never some of them reloaded and the run ok (the others would keep
 * signing with the old key). */
static void opendkim_plan_overflow(void **state)
{
    fixture *f = *state;
    kw_hook_def h;
    deliv v;
    char detail[200], *err;
    sqlite3_stmt *st;
    int i;

    memset(&h, 0, sizeof(h));
    h.name = strdup("odk");
    h.on = calloc(2, sizeof(*h.on));
    h.on[0] = strdup("dkim.*");
    h.non = 1;
    h.reload = KW_RELOAD_OPENDKIM;
    h.timeout = 10;
    h.retries = 1;
    h.retry_delay = 60;
    h.coalesce = 1;
    /* Five instances: two commands each (opendkim -n, then SIGUSR1). */
    for (i = 0; i < 5; i++) {
        snprintf(detail, sizeof(detail),
                 "{\"domain\":\"d%d.test\",\"opendkim_conf\":"
                 "\"/nonexistent/odk%d.conf\"}",
                 i, i);
        add_event(f, "dkim.rotation.switched", detail);
    }
    deliver(f, &h, 1, 0, 1, &v);
    assert_int_equal(v.reports, 1);
    assert_int_equal(v.failed, 1);
    assert_int_equal(sqlite3_prepare_v2(ks_db(f->s),
                                        "SELECT error FROM hook_runs WHERE "
                                        "hook = 'odk'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    err = strdup(sqlite3_column_text(st, 0) != NULL
                     ? (const char *)sqlite3_column_text(st, 0)
                     : "(none)");
    sqlite3_finalize(st);
    if (strstr(err, "more than 8 reload commands") == NULL)
        fail_msg("the run's error: \"%s\"", err);
    free(err);
    kw_hook_def_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_and_plans),
        cmocka_unit_test_setup_teardown(delivers_once, setup, teardown),
        cmocka_unit_test_setup_teardown(retries_then_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(hang_killed_at_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(burst_coalesced, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_names_verbatim, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(missing_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(orphan_reclaimed, setup, teardown),
        cmocka_unit_test_setup_teardown(hook_failed_routing, setup, teardown),
        cmocka_unit_test_setup_teardown(history_not_replayed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(health_becomes_events, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(malformed_detail, setup, teardown),
        cmocka_unit_test_setup_teardown(coalesced_attempts_per_row, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(alert_hooks_do_not_loop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(user_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(opendkim_plan_overflow, setup,
                                        teardown),
    };

    /* What a killed hook leaves behind is re-parented here. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
