/*
 * test_dkim_rotation_daemon.c: DKIM rotations as durable jobs of
 * `keywarden serve`, and what the operator sees of them, against a Knot
 * primary (127.0.0.1) and secondary (127.0.0.2, TSIG-signed transfers):
 *
 *   - unattended: serve's dkim-rotate job takes a managed domain from
 *     nothing to visible on both servers and schedules itself for the end
 *     of the propagation wait (the jobs row), /metrics and `list --json`
 *     show the next rotation; serve restarted with KEYWARDEN_NOW past the
 *     wait finishes it through a signer_exec program, and `check` names
 *     the next rotation;
 *   - a rotation refused on its first run under serve pages a hook with
 *     `kinds = dkim` through health.changed (the domain and selector in
 *     its environment);
 *   - kill -9 of serve right after the UPDATE (KEYWARDEN_TEST_DIE_AT):
 *     the restart reclaims the job (job.resumed) and the record is
 *     published once (the zone's serial does not move);
 *   - a wrong TSIG secret on the second rotation: `dkim rotate --due`
 *     exits 1, `check` exits 1 naming the stage and the refusal, a
 *     health.changed event (kind dkim, rotation) is written, and with the
 *     clock within a week of max_age `check` exits 2;
 *   - a reload that adds a managed section runs the job at once (the
 *     new domain visible), one that removes every section drops the job;
 *   - `dkim abort` through the CLI: the new record gone from both servers.
 *
 * The clock is pinned (KEYWARDEN_NOW) so each stage happens when the test
 * says; serve runs a due job at its start, so a restart with a later
 * clock is the daemon's next run.  Each case has its own domain inside
 * the one zone, its own state directory and configuration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knot.h"
#include "kwrun.h"
#include "proc.h"
#include "tmpdir.h"

#define NOW "2027-01-15T08:00:00Z"
#define NOW_EPOCH 1800000000LL /* 2027-01-15T08:00:00Z */

static char dir[256];
static knot g_primary, g_secondary;
static pid_t g_serve;
static int g_passed; /* cases that passed: all, and the files go */

static int setup(void **st)
{
    (void)st;
    tmpdir_make(dir, sizeof(dir), "dkimrotd");
    return kn_pair_start(dir, &g_primary, &g_secondary);
}

/* serve, if a failed case left it running, stops by its PID. */
static void serve_kill(void)
{
    kw_serve_kill(&g_serve);
}

static int teardown(void **st)
{
    (void)st;
    serve_kill();
    kn_stop(&g_secondary);
    kn_stop(&g_primary);
    if (g_passed == 6)
        tmpdir_remove(dir);
    else
        print_message("files kept in %s\n", dir);
    return 0;
}

static int case_teardown(void **st)
{
    (void)st;
    serve_kill();
    return 0;
}

static void keep(char *buf, const char *rel)
{
    snprintf(buf, 600, "%s", kw_path(dir, rel));
}

/* A case's configuration: one managed domain, Ed25519 keys, TTL 60, a
 * signer program that logs its arguments, /metrics on mport (0: off). */
static void write_conf(const char *name, const char *domain,
                       const char *tmpl, const char *secret, int mport)
{
    char metrics[64];

    if (mport > 0)
        snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", mport);
    else
        snprintf(metrics, sizeof(metrics), "off");
    write_text(kw_path(dir, "signer.sh"), "#!/bin/sh\necho \"$@\" >> %s\n",
               kw_path(dir, "signer.log"));
    assert_int_equal(chmod(kw_path(dir, "signer.sh"), 0755), 0);
    write_text(kw_path(dir, name),
               "[daemon]\n"
               "log_level = info\n"
               "metrics_listen = %s\n"
               "[dkim]\n"
               "dns_port = %d\n"
               "max_age = 180d\n"
               "[dkim \"%s\"]\n"
               "rotate = 90d\n"
               "selector = %s\n"
               "key_dir = %s\n"
               "key_type = ed25519\n"
               "ttl = 60\n"
               "dns_server = 127.0.0.1:%d\n"
               "dns_zone = example.com\n"
               "tsig_key = %s\n"
               "tsig_algorithm = %s\n"
               "tsig_secret = %s\n"
               "signer = exec\n"
               "signer_exec = %s\n",
               metrics, g_primary.port, domain, tmpl, kw_path(dir, "keys"),
               g_primary.port, g_primary.key_name, g_primary.key_alg, secret,
               kw_path(dir, "signer.sh"));
}

/* keywarden serve with the clock at now (KEYWARDEN_NOW), logging to
 * log; die_at: KEYWARDEN_TEST_DIE_AT, or NULL. */
static void serve_start(const char *state, const char *conf, const char *now,
                        const char *die_at, const char *log)
{
    g_serve = kw_serve_start(state, conf, now, die_at, log);
}

static void serve_stop(void)
{
    kw_serve_stop(&g_serve);
}

/* Wait up to 60 s for sql (one integer) to be positive on db. */
static void await_sql(const char *db, const char *sql, const char *log)
{
    kw_await_sql(db, sql, 60000, log);
}

/* The rotation of domain reached stage, per the database. */
static void await_stage(const char *db, const char *domain,
                        const char *stage, const char *log)
{
    char sql[400];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM dkim_rotations WHERE domain = '%s' AND "
             "stage = '%s'",
             domain, stage);
    await_sql(db, sql, log);
}

typedef struct want_metric {
    int port;
    const char *line;
} want_metric;

static int metric_has(void *ctx)
{
    const want_metric *w = ctx;
    char *m = kw_http_get(w->port, "/metrics");
    int ok = m != NULL && strstr(m, w->line) != NULL;

    free(m);
    return ok;
}

/* What addr serves at name TXT, kdig +short. */
static void served(const char *addr, const char *name, char *out,
                   size_t cap)
{
    kw_kdig_txt(addr, g_primary.port, name, out, cap);
}

static int count_keys(void)
{
    return kw_count_files(kw_path(dir, "keys"), ".key");
}

/* serve alone: nothing to visible, the next run at the propagation
 * wait's end; restarted after it, the signer switched. */
static void unattended(void **st)
{
    char state[600], conf[600], log[600], db[700], txt[4096], sql[300];
    want_metric w;
    int mport = kn_free_port("127.0.0.1");
    kwres r;

    (void)st;
    keep(state, "s-unattended");
    keep(conf, "unattended.conf");
    keep(log, "unattended.log");
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    write_conf("unattended.conf", "u.example.com", "u%Y%m",
               g_primary.key_secret, mport);
    serve_start(state, conf, NOW, NULL, log);
    await_stage(db, "u.example.com", "visible", log);
    /* The job's report fills /metrics: health and the next rotation. */
    w.port = mport;
    w.line = "keywarden_dkim_rotation_health{domain=\"u.example.com\","
             "stage=\"visible\",health=\"ok\"} 1";
    if (!proc_until(metric_has, &w, 30000))
        fail_msg("no \"%s\" in /metrics (see %s)", w.line, log);
    w.line = "keywarden_dkim_next_rotation_timestamp_seconds{domain="
             "\"u.example.com\"} 1807776000"; /* 2027-04-15T08:00:00Z */
    assert_true(metric_has(&w));
    /* The job runs again at the end of the propagation wait (60 s
     * negative TTL and record TTL, plus the 1 h margin), bounded by an
     * hour: a pending row at exactly that time, with no jitter. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM jobs WHERE type = 'dkim-rotate' AND "
             "state = 'pending' AND next_at = %lld",
             NOW_EPOCH + 3600);
    await_sql(db, sql, log);
    served("127.0.0.2", "u202701._domainkey.u.example.com", txt,
           sizeof(txt));
    assert_contains(txt, "v=DKIM1; k=ed25519; p=");
    r = kw_ok(state, conf, "list", "--json");
    assert_contains(r.out, "\"kind\":\"dkim-rotation\"");
    assert_contains(r.out, "\"stage\":\"visible\"");
    assert_contains(r.out, "\"next_rotation\":\"2027-04-15T08:00:00Z\"");
    kwres_free(&r);
    serve_stop();

    /* The clock at the wait's end: serve's first run switches the
     * signer; the rotation replaced no managed key, so it ends at
     * retired once the program's exit 0 proved the switch. */
    serve_start(state, conf, "2027-01-15T09:01:00Z", NULL, log);
    await_stage(db, "u.example.com", "retired", log);
    serve_stop();
    assert_true(file_contains(kw_path(dir, "signer.log"),
                              "u.example.com u202701"));
    r = kw_ok(state, conf, "check");
    assert_contains(r.out, "next DKIM rotation u.example.com at "
                           "2027-04-15T08:00:00Z");
    kwres_free(&r);
    r = kw_ok(state, conf, "list");
    assert_contains(r.out, "DKIM ROTATION");
    assert_contains(r.out, "u.example.com");
    assert_contains(r.out, "2027-04-15T08:00:00Z");
    kwres_free(&r);
    unsetenv("KEYWARDEN_NOW");
    g_passed++;
}

static int paged(void *path)
{
    return file_contains(path, "health.changed kind=dkim domain="
                               "w.example.com selector=w202701");
}

/* A rotation the server refuses on its first run: the daemon's job
 * writes health.changed, and a hook taking dkim events is run. */
static void daemon_pages(void **st)
{
    char state[600], conf[600], log[600], db[700], pagedf[600];
    FILE *f;

    (void)st;
    keep(pagedf, "paged.txt");
    keep(state, "s-pages");
    keep(conf, "pages.conf");
    keep(log, "pages.log");
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    write_conf("pages.conf", "w.example.com", "w%Y%m",
               "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=", 0);
    write_text(kw_path(dir, "page.sh"),
               "#!/bin/sh\necho \"$KEYWARDEN_EVENT kind=$KEYWARDEN_KIND "
               "domain=$KEYWARDEN_DKIM_DOMAIN "
               "selector=$KEYWARDEN_DKIM_SELECTOR\" >> %s\n",
               kw_path(dir, "paged.txt"));
    assert_int_equal(chmod(kw_path(dir, "page.sh"), 0755), 0);
    f = fopen(conf, "a");
    assert_non_null(f);
    fprintf(f, "[hook \"page\"]\non = health.changed\nkinds = dkim\n"
               "run = %s\nretry = 0\n",
            kw_path(dir, "page.sh"));
    fclose(f);
    serve_start(state, conf, NOW, NULL, log);
    await_sql(db, "SELECT count(*) FROM dkim_rotations WHERE domain = "
                  "'w.example.com' AND stage = 'publishing' AND stopped "
                  "LIKE '%NOTAUTH%'",
              log);
    if (!proc_until(paged, pagedf, 60000))
        fail_msg("the hook was not run for the stopped rotation (see %s "
                 "and %s)",
                 log, pagedf);
    serve_stop();
    unsetenv("KEYWARDEN_NOW");
    g_passed++;
}

/* kill -9 of serve right after the UPDATE: the job resumes and nothing
 * is published twice. */
static void killed_mid_job(void **st)
{
    char state[600], conf[600], log[600], db[700], txt[4096];
    uint32_t serial_before, serial_after;
    int keys_before = count_keys(), status;

    (void)st;
    keep(state, "s-killed");
    keep(conf, "killed.conf");
    keep(log, "killed.log");
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    write_conf("killed.conf", "k.example.com", "k%Y%m",
               g_primary.key_secret, 0);
    serve_start(state, conf, NOW, "update-sent", log);
    status = proc_wait(g_serve, 60000);
    if (status != 128 + 9)
        fail_msg("serve was not killed after the UPDATE: status %d (see "
                 "%s)",
                 status, log);
    g_serve = 0;
    assert_int_equal(db_int(db, "SELECT count(*) FROM jobs WHERE type = "
                                "'dkim-rotate' AND state = 'running'"),
                     1);
    assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                   "example.com", 2000, &serial_before), 0);
    serve_start(state, conf, NOW, NULL, log);
    await_stage(db, "k.example.com", "visible", log);
    serve_stop();
    assert_true(db_int(db, "SELECT count(*) FROM events WHERE type = "
                           "'job.resumed'") >= 1);
    /* The resumed add changed nothing: the record was published once. */
    assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                   "example.com", 2000, &serial_after), 0);
    assert_int_equal(serial_after, serial_before);
    served("127.0.0.2", "k202701._domainkey.k.example.com", txt,
           sizeof(txt));
    assert_non_null(strchr(txt, '\n'));
    assert_null(strchr(strchr(txt, '\n') + 1, '\n'));
    assert_int_equal(count_keys(), keys_before + 1);
    unsetenv("KEYWARDEN_NOW");
    g_passed++;
}

/* A second rotation refused by the server: warning, then critical as the
 * signing key nears max_age. */
static void stopped_is_health(void **st)
{
    char state[600], conf[600], db[700];
    kwres r;

    (void)st;
    keep(state, "s-stopped");
    keep(conf, "stopped.conf");
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    write_conf("stopped.conf", "t.example.com", "t%Y%m",
               g_primary.key_secret, 0);
    setenv("KEYWARDEN_NOW", NOW, 1);
    r = kw_ok(state, conf, "dkim", "rotate", "--due");
    assert_contains(r.out, "selector t202701  visible since");
    kwres_free(&r);
    setenv("KEYWARDEN_NOW", "2027-01-15T09:01:00Z", 1);
    r = kw_ok(state, conf, "dkim", "rotate", "--due");
    assert_contains(r.out, "selector t202701  retired since");
    kwres_free(&r);
    r = kw_ok(state, conf, "check");
    kwres_free(&r);
    /* 90 days on, with a secret the server does not know. */
    write_conf("stopped.conf", "t.example.com", "t%Y%m",
               "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=", 0);
    setenv("KEYWARDEN_NOW", "2027-04-15T08:00:00Z", 1);
    r = kw_fail(state, conf, "dkim", "rotate", "--due");
    assert_contains(r.out, "publishing since");
    assert_contains(r.out, "stopped");
    assert_contains(r.out, "NOTAUTH");
    kwres_free(&r);
    r = kw_fail(state, conf, "check");
    assert_contains(r.out, "KEYWARDEN WARNING");
    assert_contains(r.out, "DKIM rotation of t.example.com");
    assert_contains(r.out, "stage publishing");
    assert_contains(r.out, "NOTAUTH");
    kwres_free(&r);
    r = kw_ok(state, conf, "show", "t.example.com");
    assert_contains(r.out, "warning");
    kwres_free(&r);
    assert_int_equal(db_int(db, "SELECT count(*) FROM events WHERE type = "
                                "'health.changed' AND json_extract(detail, "
                                "'$.kind') = 'dkim' AND json_extract("
                                "detail, '$.rotation') AND "
                                "json_extract(detail, '$.domain') = "
                                "'t.example.com' AND json_extract(detail, "
                                "'$.to') = 'warning'"),
                     1);
    /* 175 days after the signing key was made, max_age 180 days. */
    setenv("KEYWARDEN_NOW", "2027-07-09T08:00:00Z", 1);
    r = kw_expect(2, state, conf, (const char *[]){"check", NULL});
    assert_contains(r.out, "KEYWARDEN CRITICAL");
    assert_contains(r.out, "DKIM rotation of t.example.com");
    kwres_free(&r);
    r = kw_ok(state, conf, "list", "--json");
    assert_contains(r.out, "\"health\":\"critical\"");
    kwres_free(&r);
    unsetenv("KEYWARDEN_NOW");
    g_passed++;
}

/* A second managed section, appended to a case's configuration. */
static void add_domain(const char *name, const char *domain,
                       const char *tmpl)
{
    FILE *f = fopen(kw_path(dir, name), "a");

    assert_non_null(f);
    fprintf(f,
            "[dkim \"%s\"]\n"
            "rotate = 90d\n"
            "selector = %s\n"
            "key_dir = %s\n"
            "key_type = ed25519\n"
            "ttl = 60\n"
            "dns_server = 127.0.0.1:%d\n"
            "dns_zone = example.com\n"
            "tsig_key = %s\n"
            "tsig_algorithm = %s\n"
            "tsig_secret = %s\n",
            domain, tmpl, kw_path(dir, "keys"), g_primary.port,
            g_primary.key_name, g_primary.key_alg, g_primary.key_secret);
    fclose(f);
}

/* A reload re-plans the job: a new section is looked at at once, and
 * with no managed section left the job is dropped. */
static void reload_replans(void **st)
{
    char state[600], conf[600], log[600], db[700];
    kwres r;

    (void)st;
    keep(state, "s-reload");
    keep(conf, "reload.conf");
    keep(log, "reload.log");
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    write_conf("reload.conf", "r1.example.com", "r%Y%m",
               g_primary.key_secret, 0);
    serve_start(state, conf, NOW, NULL, log);
    await_stage(db, "r1.example.com", "visible", log);
    /* The next run is an hour away; the new section does not wait. */
    await_sql(db, "SELECT count(*) FROM jobs WHERE type = 'dkim-rotate' "
                  "AND state = 'pending'",
              log);
    add_domain("reload.conf", "r2.example.com", "s%Y%m");
    r = kw_ok(state, conf, "reload");
    kwres_free(&r);
    await_stage(db, "r2.example.com", "visible", log);
    /* No managed section left: the pending job goes. */
    write_text(conf, "[daemon]\nlog_level = info\nmetrics_listen = off\n");
    await_sql(db, "SELECT count(*) = 0 FROM jobs WHERE type = "
                  "'dkim-rotate' AND state = 'running'",
              log);
    r = kw_ok(state, conf, "reload");
    kwres_free(&r);
    await_sql(db, "SELECT count(*) = 0 FROM jobs WHERE type = "
                  "'dkim-rotate'",
              log);
    serve_stop();
    unsetenv("KEYWARDEN_NOW");
    g_passed++;
}

/* dkim abort: the new record taken back from both servers. */
static void abort_cli(void **st)
{
    char state[600], conf[600], txt[4096];
    kwres r;

    (void)st;
    keep(state, "s-abort");
    keep(conf, "abort.conf");
    write_conf("abort.conf", "a.example.com", "a%Y%m", g_primary.key_secret,
               0);
    setenv("KEYWARDEN_NOW", NOW, 1);
    r = kw_ok(state, conf, "dkim", "rotate", "a.example.com");
    assert_contains(r.out, "visible since");
    kwres_free(&r);
    served("127.0.0.2", "a202701._domainkey.a.example.com", txt,
           sizeof(txt));
    assert_contains(txt, "v=DKIM1");
    r = kw_ok(state, conf, "dkim", "abort", "a.example.com");
    assert_contains(r.out, "aborted since");
    kwres_free(&r);
    served("127.0.0.1", "a202701._domainkey.a.example.com", txt,
           sizeof(txt));
    assert_string_equal(txt, "");
    served("127.0.0.2", "a202701._domainkey.a.example.com", txt,
           sizeof(txt));
    assert_string_equal(txt, "");
    r = kw_ok(state, conf, "dkim", "status", "a.example.com");
    assert_contains(r.out, "aborted");
    kwres_free(&r);
    /* Nothing left to take back. */
    r = kw(state, conf, "dkim", "abort", "a.example.com");
    assert_int_not_equal(r.status, 0);
    kwres_free(&r);
    unsetenv("KEYWARDEN_NOW");
    g_passed++;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(unattended, case_teardown),
        cmocka_unit_test_teardown(daemon_pages, case_teardown),
        cmocka_unit_test_teardown(killed_mid_job, case_teardown),
        cmocka_unit_test_teardown(stopped_is_health, case_teardown),
        cmocka_unit_test_teardown(reload_replans, case_teardown),
        cmocka_unit_test_teardown(abort_cli, case_teardown),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
