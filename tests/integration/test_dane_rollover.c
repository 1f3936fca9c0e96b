/*
 * test_dane_rollover.c: the DANE key rollover end to end, real servers on
 * loopback, real time: the DANE bed (dane_bed.h: Knot primary + secondary
 * for example.com with TSIG updates, SOA negative TTL 2 s; Pebble
 * validating dns-01 through the primary), [certificate "mx"] with
 * dane = 3 1 1, dane_ttl = 3 (so the wait is 2 x 3 + 2 = 8 s), and a
 * private Postfix serving keywarden's live files with STARTTLS on a free
 * port, which [endpoint "mx"] (127.0.0.1, sni mx.example.com) names so the
 * probe reaches mx.example.com there.  The CLI drives it (`renew`,
 * `dane step`), as the dane-roll job does:
 *
 *   cycle 0  the first key: announced, held back (exit 0) until the wait
 *            is over, issued with exactly that key, probed; the next
 *            cycle's key announced beside it.
 *   cycle 1  `renew --force` before the wait: held back; after: issued
 *            with the announced key, the hook reloads Postfix; the probe
 *            sees it (deployed), the old record stays through the hold,
 *            then goes after the second probe, and a new key is
 *            announced.
 *   cycle 2  a hook that does not reload: the probe sees the old key,
 *            the old record stays, the rollover's health (dane step,
 *            list --json, one health.changed event) says the reload did
 *            not happen; after a real reload (and the probe's retry time,
 *            on a pinned clock) it completes.
 *   cycle 3  unattended: serve (clock pinned four years on) renews, its
 *            hook reloads Postfix, the dane-roll job probes and holds;
 *            restarted past the hold, it removes the old record and
 *            announces the next key.
 *
 * For every deployed key: it differs from the previous one, and the test
 * saw its record on both Knot servers (its own TLSA queries) at least
 * 2 x TTL + negative TTL before the certificate with it was issued; the
 * journal agrees (visible at + 6 <= the issuance), and the old record is
 * removed only after the journal's probe-proven deployed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dane/dane_check.h"
#include "dane/dane_roll.h"
#include "dane_bed.h"
#include "probe/endpoint.h"
#include "kwrun.h"
#include "proc.h"
#include "servers.h"
#include "tmpdir.h"

#define OWNER "_25._tcp.mx.example.com"
#define TTL 3
#define NEG 2
#define WAIT (2 * TTL + NEG)

static char g_dir[256], state[600], conf[600], db[700], certs[700];
static char cert_text[2048], base_text[3072];
static dane_bed g_bed;
static int smtp_port;
static pid_t postfix_pid;
/* When the test last saw a newly announced next key on every server: its
 * own query right after the command that published it. */
static int64_t g_seen;

static void pin(int64_t t)
{
    char v[32];

    snprintf(v, sizeof(v), "%lld", (long long)t);
    setenv("KEYWARDEN_NOW", v, 1);
}

/* Is rdata at OWNER on every server of the bed (present 1), or on none
 * (present 0)?  The test's own queries. */
static int on_every(const char *rdata, int present)
{
    char st[160];

    for (size_t i = 0; i < g_bed.nservers; i++)
        if (kw_dns_tlsa_look(&g_bed.servers[i], OWNER, rdata, present, 3000,
                             st, sizeof(st)) != 1)
            return 0;
    return 1;
}

#define on_all(rdata) on_every((rdata), 1)
#define on_none(rdata) on_every((rdata), 0)

/* `dane status --json mx` (or step): the one rollover's object. */
static json_t *roll_of(const char *out)
{
    json_error_t e;
    json_t *a = json_loads(out, 0, &e), *o;

    if (a == NULL)
        fail_msg("not JSON (%s): %s", e.text, out);
    o = json_is_array(a) ? json_array_get(a, 0) : a;
    json_incref(o);
    json_decref(a);
    assert_non_null(o);
    return o;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s != NULL ? s : "";
}

/* The announced next key (in o) is on every server now. */
static void saw_announced(json_t *o)
{
    assert_true(on_all(jstr(o, "next_tlsa")));
    g_seen = (int64_t)time(NULL);
}

/* `dane step --json mx`, which must exit want: the rollover after it. */
static json_t *step(int want)
{
    kwres r = kw(state, conf, "dane", "step", "--json", "mx");
    json_t *o;

    if (r.status != want)
        fail_msg("dane step exited %d, not %d:\n%s%s", r.status, want,
                 r.out, r.err);
    o = roll_of(r.out);
    kwres_free(&r);
    return o;
}

static json_t *status(void)
{
    kwres r = kw(state, conf, "dane", "status", "--json", "mx");
    json_t *o = roll_of(r.out);

    kwres_free(&r);
    return o;
}

/* Waits (by the clock, no polling) until the rollover's wait is over. */
static void sleep_past_wait(void)
{
    json_t *o = status();
    int64_t until = json_integer_value(json_object_get(o, "wait_until"));

    assert_string_equal(jstr(o, "stage"), "visible");
    json_decref(o);
    while ((int64_t)time(NULL) <= until)
        poll(NULL, 0, 100);
}

static void write_conf(const char *hook)
{
    char text[4096];

    snprintf(text, sizeof(text), "%s%s", base_text, hook);
    assert_int_equal(dane_bed_conf(&g_bed, conf, text), 0);
}

/* The configuration with a hook that reloads the private Postfix. */
static void write_conf_reloading(void)
{
    char hook[800];

    snprintf(hook, sizeof(hook),
             "[hook \"postfix\"]\non = cert.renewed\nreload = postfix\n"
             "config = %s/postfix/etc\ncoalesce = 0s\n", g_dir);
    write_conf(hook);
}

/* The journal's time for rollover id's change to stage to. */
static int64_t journal_at(int64_t id, const char *to)
{
    char sql[256];

    snprintf(sql, sizeof(sql), "SELECT at FROM dane_roll_journal WHERE "
             "rollover_id = %lld AND new_stage = '%s' AND old_stage != "
             "new_stage", (long long)id, to);
    return db_int(db, sql);
}

/* Until Postfix serves the key of rdata (after a reload), 10 s at most. */
static void await_served(const char *rdata)
{
    kw_diag d;
    char served[160];

    for (int i = 0; i < 100; i++) {
        if (kw_dane_served("mx.example.com", smtp_port, KW_TLS_SMTP,
                           "127.0.0.1", rdata, 3000, served, sizeof(served),
                           &d) == 0)
            return;
        poll(NULL, 0, 100);
    }
    fail_msg("Postfix does not serve %s: %s", rdata, d.msg);
}

static int setup(void **st)
{
    dane_bed_opts o = {.secondary = 1, .neg_ttl = NEG};
    char bdir[600];

    (void)st;
    unsetenv("KEYWARDEN_NOW");
    tmpdir_make(g_dir, sizeof(g_dir), "danerollover");
    snprintf(state, sizeof(state), "%s/state", g_dir);
    snprintf(conf, sizeof(conf), "%s/keywarden.conf", g_dir);
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    snprintf(certs, sizeof(certs), "%s/certs", state);
    snprintf(bdir, sizeof(bdir), "%s/bed", g_dir);
    if (dane_bed_start(bdir, &o, &g_bed) != 0)
        return -1;
    smtp_port = free_port();
    if (dane_bed_cert(&g_bed, "mx", "mx.example.com", TTL, NULL, cert_text,
                      sizeof(cert_text)) != 0)
        return -1;
    snprintf(base_text, sizeof(base_text),
             "[daemon]\nmetrics_listen = off\n%s"
             "[endpoint \"mx\"]\nhost = 127.0.0.1\nport = %d\n"
             "sni = mx.example.com\nstarttls = smtp\n",
             cert_text, smtp_port);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    unsetenv("KEYWARDEN_NOW");
    postfix_stop(g_dir, postfix_pid);
    dane_bed_stop(&g_bed);
    if (getenv("KW_KEEP_TMP") == NULL)
        tmpdir_remove(g_dir);
    return 0;
}

/* One cycle's renewal: held back before the wait, issued after it with
 * exactly the announced key, which the test saw on both servers WAIT s
 * or more before.  Returns the key's record in key. */
static void renew_cycle(int cycle, char *key)
{
    char live[160], keyf[800];
    json_t *o = status();
    int64_t id, issued;
    const char *force = cycle == 0 ? "mx" : "--force";
    kwres r;

    snprintf(key, 160, "%s", jstr(o, "next_tlsa"));
    id = db_int(db, "SELECT max(id) FROM dane_rollovers");
    json_decref(o);
    assert_true(on_all(key));
    /* Before the wait: held back, not a failure, nothing live changes. */
    r = kw_ok(state, conf, "renew", force);
    assert_contains(r.out, "mx: held back: the next key's TLSA record is "
                           "visible");
    kwres_free(&r);
    assert_int_equal(db_int(db, "SELECT count(*) FROM certificates WHERE "
                                "failures > 0"), 0);
    sleep_past_wait();
    r = kw_ok(state, conf, "renew", force);
    assert_contains(r.out, "mx: issued");
    kwres_free(&r);
    issued = db_int(db, "SELECT last_ok_at FROM certificates WHERE "
                        "name = 'mx'");
    snprintf(keyf, sizeof(keyf), "%s/live/mx/privkey.pem", certs);
    assert_int_equal(dane_bed_key_tlsa(keyf, live), 0);
    assert_string_equal(live, key);
    /* Seen on every authoritative server long enough before, by the
     * test's own queries and by the journal. */
    if (issued - g_seen < WAIT)
        fail_msg("cycle %d: issued at %lld, the record seen at %lld: less "
                 "than %d s", cycle, (long long)issued, (long long)g_seen,
                 WAIT);
    assert_true(journal_at(id, "visible") > 0);
    assert_true(issued - journal_at(id, "visible") >= WAIT);
}

static void test_rollover(void **st)
{
    char k1[160], k2[160], k3[160], k4[160], out[800];
    const char *skip = NULL;
    json_t *o;
    int64_t id, t;
    kwres r;

    (void)st;
    write_conf("");
    /* Cycle 0: the first key, announced before it is ever served. */
    r = kw_ok(state, conf, "renew");
    assert_contains(r.out, "held back");
    kwres_free(&r);
    o = status();
    saw_announced(o);
    json_decref(o);
    renew_cycle(0, k1);
    snprintf(out, sizeof(out), "%s/live/mx", certs);
    postfix_pid = postfix_start(g_dir, smtp_port,
                                kw_path(out, "fullchain.pem"),
                                kw_path(out, "privkey.pem"), NULL, &skip);
    if (postfix_pid == 0) {
        print_message("skipped: %s\n", skip != NULL ? skip : "no Postfix");
        skip();
    }
    assert_true(postfix_pid > 0);
    /* The probe sees k1: deployed; nothing old to remove; the next
     * cycle's key announced beside k1 at once. */
    o = step(0);
    assert_string_equal(jstr(o, "stage"), "visible");
    assert_string_equal(jstr(o, "current_tlsa"), k1);
    assert_string_not_equal(jstr(o, "next_tlsa"), k1);
    saw_announced(o);
    json_decref(o);

    /* Cycle 1: the hook reloads Postfix. */
    write_conf_reloading();
    renew_cycle(1, k2);
    assert_string_not_equal(k2, k1);
    id = db_int(db, "SELECT max(id) FROM dane_rollovers");
    await_served(k2);
    o = step(0);
    assert_string_equal(jstr(o, "stage"), "deployed");
    t = json_integer_value(json_object_get(o, "wait_until"));
    assert_true(t >= journal_at(id, "deployed") + TTL);
    json_decref(o);
    /* The hold: both records stay one TTL; a step within it removes
     * nothing. */
    assert_true(on_all(k1));
    assert_true(on_all(k2));
    o = step(0);
    assert_string_equal(jstr(o, "stage"), "deployed");
    json_decref(o);
    assert_true(on_all(k1));
    while ((int64_t)time(NULL) < t)
        poll(NULL, 0, 100);
    o = step(0);
    assert_string_equal(jstr(o, "stage"), "visible");
    assert_string_equal(jstr(o, "current_tlsa"), k2);
    saw_announced(o);
    json_decref(o);
    assert_true(on_none(k1));
    assert_true(on_all(k2));
    /* Removed only after the probe-proven deployment and the hold. */
    assert_true(journal_at(id, "removing") >= journal_at(id, "deployed") +
                                                  TTL);
    assert_true(journal_at(id, "done") >= journal_at(id, "removing"));

    /* Cycle 2: a hook that does not reload. */
    write_conf("[hook \"forgot\"]\non = cert.renewed\nrun = /bin/true\n");
    renew_cycle(2, k3);
    assert_string_not_equal(k3, k2);
    assert_string_not_equal(k3, k1);
    id = db_int(db, "SELECT max(id) FROM dane_rollovers");
    o = step(1); /* warning */
    assert_string_equal(jstr(o, "stage"), "ready");
    assert_string_equal(jstr(o, "health"), "warning");
    if (strstr(jstr(o, "reason"), "reload did not happen") == NULL ||
        strstr(jstr(o, "reason"), "127.0.0.1 port") == NULL)
        fail_msg("reason: %s", jstr(o, "reason"));
    json_decref(o);
    /* The old record stays while the old key is served. */
    assert_true(on_all(k2));
    assert_true(on_all(k3));
    /* The certificate's health in the inventory says why, once. */
    r = kw(state, conf, "list", "--json");
    assert_contains(r.out, "DANE rollover: stopped at ready");
    assert_contains(r.out, "reload did not happen");
    kwres_free(&r);
    r = kw(state, conf, "check");
    if (r.status != 1)
        fail_msg("check exited %d:\n%s%s", r.status, r.out, r.err);
    assert_contains(r.out, "DANE rollover: stopped at ready");
    kwres_free(&r);
    assert_int_equal(db_int(db, "SELECT count(*) FROM events WHERE type = "
                                "'health.changed' AND detail LIKE "
                                "'%dane-roll%'"),
                     1);
    /* A real reload; the probe's retry is a minute away: the clock
     * pinned past it. */
    assert_true(postfix_master_pid(g_dir) > 0);
    assert_int_equal(kill(postfix_master_pid(g_dir), SIGHUP), 0);
    await_served(k3);
    t = (int64_t)time(NULL) + 61;
    pin(t);
    o = step(0);
    assert_string_equal(jstr(o, "stage"), "deployed");
    t = json_integer_value(json_object_get(o, "wait_until"));
    json_decref(o);
    assert_true(on_all(k2));
    pin(t);
    o = step(0);
    assert_string_equal(jstr(o, "stage"), "visible");
    assert_string_equal(jstr(o, "current_tlsa"), k3);
    snprintf(k4, sizeof(k4), "%s", jstr(o, "next_tlsa"));
    json_decref(o);
    unsetenv("KEYWARDEN_NOW");
    assert_true(on_none(k2));
    assert_true(on_all(k3));
    assert_true(on_all(k4));
    assert_true(journal_at(id, "removing") > journal_at(id, "deployed"));
    /* Healthy again: the event back to ok. */
    assert_int_equal(db_int(db, "SELECT count(*) FROM events WHERE type = "
                                "'health.changed' AND detail LIKE "
                                "'%dane-roll%'"),
                     2);

    /* Cycle 3, unattended: serve, on a clock pinned four years on (the
     * certificate due), renews with k4 and its hook reloads Postfix; the
     * dane-roll job, run when the renewal ended (run-job: a pinned clock
     * never reaches the job's own time), sees k4 and holds; after a
     * restart past the hold it removes k3 and announces k5. */
    {
        char now[32], log[700], sql[300];
        pid_t pid;
        int64_t p = (int64_t)time(NULL) + 4LL * 365 * 86400;

        write_conf_reloading();
        /* Due then, but the next key's record is not ready yet: the
         * renewal's status is the rollover's, not a failure. */
        pin(p);
        r = kw(state, conf, "list", "--json");
        assert_contains(r.out, "\"verdict\":\"held-back\"");
        assert_contains(r.out, "\"held_back\":\"held back: the next key's "
                               "TLSA record is visible");
        kwres_free(&r);
        snprintf(log, sizeof(log), "%s/serve.log", g_dir);
        id = db_int(db, "SELECT max(id) FROM dane_rollovers");
        snprintf(now, sizeof(now), "%lld", (long long)p);
        pid = kw_serve_start(state, conf, now, NULL, log);
        kw_await_sql(db, "SELECT live_version >= 4 FROM certificates WHERE "
                         "name = 'mx'", 60000, log);
        assert_int_equal(
            dane_bed_key_tlsa(kw_path(certs, "live/mx/privkey.pem"), out),
            0);
        assert_string_equal(out, k4);
        await_served(k4);
        r = kw(state, conf, "run-job", "dane-roll:mx");
        assert_int_equal(r.status, 0);
        kwres_free(&r);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM dane_roll_journal "
                 "WHERE rollover_id = %lld AND new_stage = 'deployed' AND "
                 "old_stage = 'ready'", (long long)id);
        kw_await_sql(db, sql, 30000, log);
        assert_true(on_all(k3));
        kw_serve_stop(&pid);
        o = status();
        t = json_integer_value(json_object_get(o, "wait_until"));
        json_decref(o);
        snprintf(now, sizeof(now), "%lld", (long long)t);
        pid = kw_serve_start(state, conf, now, NULL, log);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM dane_rollovers "
                 "WHERE id > %lld AND stage = 'visible'", (long long)id);
        kw_await_sql(db, sql, 30000, log);
        kw_serve_stop(&pid);
        assert_true(on_none(k3));
        assert_true(on_all(k4));
        o = status();
        assert_string_equal(jstr(o, "current_tlsa"), k4);
        assert_string_not_equal(jstr(o, "next_tlsa"), k4);
        assert_true(on_all(jstr(o, "next_tlsa")));
        json_decref(o);
        /* The job recorded the rollover's health on the certificate. */
        assert_true(db_int(db, "SELECT count(*) FROM checks WHERE checker = "
                               "'dane-roll' AND health = 'ok'") >= 1);
    }
    unsetenv("KEYWARDEN_NOW");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollover),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
