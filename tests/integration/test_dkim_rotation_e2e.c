/*
 * test_dkim_rotation_e2e.c: DKIM rotations end to end against real
 * servers: a Knot primary (127.0.0.1) and secondary (127.0.0.2, TSIG
 * transfers), and private OpenDKIM milters with SignatureAlgorithm
 * ed25519-sha256 (Ed25519 keys: Debian 12's OpenDKIM signs them only
 * so).  Every signature checked is made by OpenDKIM through miltertest
 * and verified by dkimpy against the record both Knot servers serve,
 * which must be the same one.
 *
 *   - many_one_reload: 100 managed domains sharing one OpenDKIM's
 *     KeyTable and SigningTable rotate with `dkim rotate --due` at
 *     pinned clocks: the tables are written once for all 100 (inotify on
 *     their directory counts the renames), the built-in OpenDKIM reload
 *     hook runs once (hook_runs) for the 100 dkim.activated events,
 *     OpenDKIM signs the first, middle and last domain with the new
 *     selector, and the next `--due` retires every one;
 *   - unattended_serve: one domain with rotate = 90d under `keywarden
 *     serve` (restarted at each later pinned clock, since a pinned clock
 *     does not move), the reload hook run by serve itself: the first
 *     rotation replaces a hand-made key, the second (90 days on) goes
 *     through drain and removal; after every restart a message is signed
 *     and verifies, so no message fails DKIM at any point; at the end the
 *     old record is gone from both servers and the old key archived.
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
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkimsign.h"
#include "knot.h"
#include "kwrun.h"
#include "opendkim.h"
#include "proc.h"
#include "tmpdir.h"

#define T0 "2027-01-15T08:00:00Z"
/* T0 + max(negative TTL 60, TTL 60) + the 1 h margin: propagated. */
#define T1 "2027-01-15T09:01:00Z"
#define T1R "2027-01-15T09:02:00Z"
/* 90 days after T0 (+1 h): the next rotation, and its propagation. */
#define T2 "2027-04-15T09:01:00Z"
#define T3 "2027-04-15T10:02:00Z"
#define T3R "2027-04-15T10:03:00Z"
/* T3R + drain (7 days): the old record goes. */
#define T4 "2027-04-22T10:03:00Z"

#define NDOM 100
#define PATHLEN 600
#define ED "SignatureAlgorithm ed25519-sha256\n"

static char dir[256];
static knot g_primary, g_secondary;
static pid_t g_serve;
static int g_skip, g_passed;

/* One private OpenDKIM. */
typedef odk_signer signer;

static signer g_many, g_one;

static void keep(char *buf, const char *rel)
{
    snprintf(buf, PATHLEN, "%s", kw_path(dir, rel));
}

/* OpenDKIM under dir/name signing mail from domain with sel and a new
 * Ed25519 key (its record, unquoted, into txt). */
static int start_signer(signer *g, const char *name, const char *domain,
                        const char *sel, char *txt, size_t cap)
{
    const char *skip = NULL;

    if (odk_signer_start(g, dir, name, kn_free_port("127.0.0.1"), domain,
                         sel, 1, ED, txt, cap, &skip) == 0) {
        fprintf(stderr, "skipped: %s\n", skip);
        g_skip = 1;
        return 0;
    }
    return g->pid > 0 ? 0 : -1;
}

static int setup(void **st)
{
    char txt[2048];

    (void)st;
    tmpdir_make(dir, sizeof(dir), "dkimrote2e");
    if (kn_pair_start(dir, &g_primary, &g_secondary) != 0)
        return -1;
    /* The shared signer starts with a row for a domain no test mails
     * from (opendkim_start wants one). */
    if (start_signer(&g_many, "odk-many", "unused.example.net", "u1", txt,
                     sizeof(txt)) != 0)
        return -1;
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    kw_serve_kill(&g_serve);
    opendkim_stop(g_many.pid);
    opendkim_stop(g_one.pid);
    kn_stop(&g_secondary);
    kn_stop(&g_primary);
    if (g_passed == 2 && getenv("KW_KEEP_TMP") == NULL)
        tmpdir_remove(dir);
    else
        print_message("files kept in %s\n", dir);
    return 0;
}

/* ---- signing and verifying ---------------------------------------------- */

/* The primary and the secondary, for dkimsign.h. */
static const ds_dns g_dns = {&g_primary, &g_secondary};

static int records_at(const char *sel, const char *domain)
{
    return ds_records(&g_dns, sel, domain);
}

/* A message from domain signed through g's milter with sel, verified
 * against what both Knot servers serve.  Returns it, malloc'd. */
static char *signed_ok(const signer *g, const char *domain, const char *sel)
{
    return ds_signed_ok(&g_dns, g->base, g->port, domain, sel,
                        "ed25519-sha256");
}

static void sign_check(const signer *g, const char *domain, const char *sel)
{
    free(signed_ok(g, domain, sel));
}

/* ---- the configuration -------------------------------------------------- */

/* One managed section for domain, signed by g, keys in keys. */
static void section(FILE *f, const char *domain, const char *keys)
{
    fprintf(f,
            "[dkim \"%s\"]\nrotate = 90d\nselector = e%%Y%%m\n"
            "key_dir = %s\nkey_type = ed25519\nttl = 60\n"
            "dns_zone = example.com\ndns_server = 127.0.0.1:%d\n"
            "tsig_key = %s\ntsig_algorithm = %s\ntsig_secret = %s\n"
            "signer = opendkim\n",
            domain, keys, g_primary.port, g_primary.key_name,
            g_primary.key_alg, g_primary.key_secret);
}

/* [dkim] for g and the built-in OpenDKIM reload hook (coalesce: extra
 * hook lines, or NULL). */
static FILE *conf_open(const char *conf, const signer *g,
                       const char *hook_extra)
{
    FILE *f = fopen(conf, "w");

    assert_non_null(f);
    fprintf(f,
            "[daemon]\nlog_level = info\nmetrics_listen = off\n"
            "[dkim]\ndns_port = %d\nopendkim_conf = %s\n"
            "[hook \"reload\"]\non = dkim.activated\nreload = opendkim\n"
            "config = %s\n%s",
            g_primary.port, g->P.conf, g->P.conf,
            hook_extra != NULL ? hook_extra : "");
    return f;
}

static void rotate_due(const char *state, const char *conf, const char *now)
{
    kwres r;

    setenv("KEYWARDEN_NOW", now, 1);
    r = kw_ok(state, conf, "dkim", "rotate", "--due");
    /* The batch's one switch never fell back to one per domain. */
    assert_not_contains(r.err, "one by one");
    assert_not_contains(r.out, "one by one");
    kwres_free(&r);
}

static int64_t stage_count(const char *db, const char *stage)
{
    char sql[200];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM dkim_rotations WHERE stage = '%s'", stage);
    return db_int(db, sql);
}

/* ---- inotify: how often the signer's tables were replaced -------------- */

typedef struct table_watch {
    int fd;
    char kt[256], st[256]; /* the tables' names in their directory */
} table_watch;

static void watch_tables(table_watch *w, const odk_paths *P)
{
    char d[1100];
    const char *slash;

    slash = strrchr(P->keytable, '/');
    assert_non_null(slash);
    snprintf(d, sizeof(d), "%.*s", (int)(slash - P->keytable), P->keytable);
    snprintf(w->kt, sizeof(w->kt), "%s", slash + 1);
    slash = strrchr(P->signingtable, '/');
    assert_non_null(slash);
    snprintf(w->st, sizeof(w->st), "%s", slash + 1);
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    assert_true(w->fd >= 0);
    /* A write by rename is IN_MOVED_TO, one in place IN_CLOSE_WRITE:
     * each is one replacement of the table. */
    assert_true(inotify_add_watch(w->fd, d, IN_MOVED_TO | IN_CLOSE_WRITE) >=
                0);
}

/* The replacements of each table seen since the last call. */
static void table_writes(table_watch *w, int *kt, int *st)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;

    *kt = *st = 0;
    while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
        char *p = buf;

        while (p < buf + n) {
            const struct inotify_event *e = (const void *)p;

            if (e->len > 0 && strcmp(e->name, w->kt) == 0)
                (*kt)++;
            if (e->len > 0 && strcmp(e->name, w->st) == 0)
                (*st)++;
            p += sizeof(*e) + e->len;
        }
    }
    assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

/* ---- 100 domains, one write of the tables, one reload ------------------ */

static void many_one_reload(void **st)
{
    static const int sample[] = {0, NDOM / 2, NDOM - 1};
    char state[PATHLEN], conf[PATHLEN], keys[PATHLEN], db[PATHLEN + 20];
    char domain[64], sql[300];
    table_watch w;
    int i, kt, sg;
    double t;
    FILE *f;
    kwres r;

    (void)st;
    if (g_skip)
        skip();
    keep(state, "s-many");
    keep(conf, "many.conf");
    keep(keys, "keys-many");
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    /* The reload's default coalescing (10 s) stays: `hooks run` delivers
     * every pending event in one run anyway. */
    f = conf_open(conf, &g_many, NULL);
    for (i = 0; i < NDOM; i++) {
        snprintf(domain, sizeof(domain), "d%03d.example.com", i);
        section(f, domain, keys);
    }
    assert_int_equal(fclose(f), 0);
    watch_tables(&w, &g_many.P);

    t = mono();
    rotate_due(state, conf, T0);
    print_message("rotate --due, %d domains to visible: %.2f s\n", NDOM,
                  mono() - t);
    assert_int_equal(stage_count(db, "visible"), NDOM);
    assert_int_equal(kw_count_files(keys, ".key"), NDOM);
    table_writes(&w, &kt, &sg);
    assert_int_equal(kt, 0);
    assert_int_equal(sg, 0);

    t = mono();
    rotate_due(state, conf, T1);
    print_message("rotate --due, %d domains switched: %.2f s\n", NDOM,
                  mono() - t);
    assert_int_equal(stage_count(db, "active"), NDOM);
    /* One switch for all 100: dkim_signer.c writes the KeyTable with the
     * new rows beside the old, the SigningTable, then the KeyTable
     * without the old rows; a switch per domain would be 100 times
     * that. */
    table_writes(&w, &kt, &sg);
    assert_int_equal(kt, 2);
    assert_int_equal(sg, 1);
    for (i = 0; i < NDOM; i++) {
        char row[200];

        snprintf(row, sizeof(row), "e202701._domainkey.d%03d.example.com ",
                 i);
        assert_true(file_contains(g_many.P.keytable, row));
    }
    assert_int_equal(db_int(db, "SELECT count(*) FROM events WHERE type = "
                                "'dkim.activated'"),
                     NDOM);
    /* Not yet reloaded: nothing signs the new selector. */
    {
        char *m = NULL;

        if (opendkim_sign_from(g_many.base, g_many.port, "d000.example.com",
                               &m) == 0)
            assert_false(ds_has_selector(m, "e202701"));
        free(m);
    }

    setenv("KEYWARDEN_NOW", T1, 1);
    r = kw_ok(state, conf, "hooks", "run");
    assert_contains(r.out, "hook reload: ok");
    kwres_free(&r);
    assert_int_equal(db_int(db, "SELECT count(*) FROM hook_runs WHERE "
                                "hook = 'reload'"),
                     1);
    assert_int_equal(db_int(db, "SELECT json_array_length(events) FROM "
                                "hook_runs WHERE hook = 'reload' AND "
                                "result = 'ok'"),
                     NDOM);
    r = kw_ok(state, conf, "hooks", "history", "--json");
    assert_contains(r.out, "\"reload\"");
    kwres_free(&r);
    for (i = 0; i < 3; i++) {
        snprintf(domain, sizeof(domain), "d%03d.example.com", sample[i]);
        sign_check(&g_many, domain, "e202701");
    }

    /* The reload proven, the next run retires every first rotation. */
    rotate_due(state, conf, T1R);
    assert_int_equal(stage_count(db, "retired"), NDOM);
    table_writes(&w, &kt, &sg);
    assert_int_equal(kt, 0);
    assert_int_equal(sg, 0);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM hook_runs WHERE hook = 'reload'");
    assert_int_equal(db_int(db, sql), 1);
    assert_int_equal(records_at("e202701", "d099.example.com"), 1);
    close(w.fd);
    unsetenv("KEYWARDEN_NOW");
    g_passed++;
}

/* ---- one domain, unattended under serve --------------------------------- */

/* serve at now until the rotation of domain with sel is at stage (and,
 * when runs > 0, the reload hook has run ok that many times). */
static void serve_until(const char *state, const char *conf, const char *now,
                        const char *log, const char *domain, const char *sel,
                        const char *stage, int runs)
{
    char db[PATHLEN + 20], sql[400];

    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    g_serve = kw_serve_start(state, conf, now, NULL, log);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM dkim_rotations WHERE domain = '%s' AND "
             "selector = '%s' AND stage = '%s'",
             domain, sel, stage);
    kw_await_sql(db, sql, 30000, log);
    if (runs > 0) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) >= %d FROM hook_runs WHERE hook = 'reload' "
                 "AND result = 'ok'",
                 runs);
        kw_await_sql(db, sql, 30000, log);
    }
    kw_serve_stop(&g_serve);
}

static void unattended_serve(void **st)
{
    const char *domain = "u.example.com";
    char state[PATHLEN], conf[PATHLEN], keys[PATHLEN], log[PATHLEN];
    char db[PATHLEN + 20], txt[2048], lines[2600], archived[PATHLEN + 100];
    char *before, why[2048];
    FILE *f;

    (void)st;
    if (g_skip)
        skip();
    keep(state, "s-one");
    keep(conf, "one.conf");
    keep(keys, "keys-one");
    keep(log, "serve.log");
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    /* The hand-made key s0 signs the domain before keywarden does. */
    assert_int_equal(start_signer(&g_one, "odk-one", domain, "s0", txt,
                                  sizeof(txt)),
                     0);
    if (g_skip)
        skip();
    snprintf(lines, sizeof(lines),
             "update add s0._domainkey.%s 60 TXT \"%s\"\n", domain, txt);
    assert_int_equal(kn_update(&g_primary, NULL, lines), 0);
    {
        uint32_t serial;

        assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                       "example.com", 2000, &serial), 0);
        assert_int_equal(kn_wait_serial("127.0.0.2", g_primary.port,
                                        "example.com", serial, 10000), 0);
    }
    sign_check(&g_one, domain, "s0");
    /* A pinned clock does not move: the hook's coalescing window (10 s
     * by default for a reload) would never pass under serve, so the
     * reload runs as soon as its event is written. */
    f = conf_open(conf, &g_one, "coalesce = 0s\n");
    section(f, domain, keys);
    assert_int_equal(fclose(f), 0);

    /* The first rotation: e202701 published, s0 signing meanwhile. */
    serve_until(state, conf, T0, log, domain, "e202701", "visible", 0);
    assert_int_equal(records_at("e202701", domain), 1);
    sign_check(&g_one, domain, "s0");
    /* Propagated: switched, reloaded by serve's own hook. */
    serve_until(state, conf, T1, log, domain, "e202701", "active", 1);
    sign_check(&g_one, domain, "e202701");
    serve_until(state, conf, T1R, log, domain, "e202701", "retired", 0);
    sign_check(&g_one, domain, "e202701");
    /* The hand-made s0 is not keywarden's to remove. */
    assert_int_equal(records_at("s0", domain), 1);

    /* 90 days on: e202704 replaces e202701, which signs until the
     * switch. */
    serve_until(state, conf, T2, log, domain, "e202704", "visible", 0);
    before = signed_ok(&g_one, domain, "e202701");
    assert_int_equal(records_at("e202704", domain), 1);
    serve_until(state, conf, T3, log, domain, "e202704", "active", 2);
    sign_check(&g_one, domain, "e202704");
    serve_until(state, conf, T3R, log, domain, "e202704", "retired", 0);
    sign_check(&g_one, domain, "e202704");
    /* During drain a message signed before the switch still verifies. */
    assert_int_equal(ds_verifies(&g_dns, before, "e202701", domain, why,
                                 sizeof(why)),
                     1);
    free(before);
    /* Drain over: the old record goes from both servers, its key to the
     * archive. */
    serve_until(state, conf, T4, log, domain, "e202704", "removed", 0);
    assert_int_equal(records_at("e202701", domain), 0);
    assert_int_equal(records_at("e202704", domain), 1);
    sign_check(&g_one, domain, "e202704");
    snprintf(archived, sizeof(archived), "%s/archive/%s.e202701.key", keys,
             domain);
    assert_int_equal(access(archived, F_OK), 0);
    assert_int_equal(kw_count_files(keys, ".key"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM hook_runs WHERE "
                                "hook = 'reload' AND result != 'ok'"),
                     0);
    unsetenv("KEYWARDEN_NOW");
    g_passed++;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_one_reload),
        cmocka_unit_test(unattended_serve),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
