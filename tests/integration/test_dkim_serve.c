/*
 * test_dkim_serve.c: keywarden serve keeps checking that what signs is
 * what DNS serves.
 *
 * A Knot primary (127.0.0.1) and secondary (127.0.0.2) serve mail.test
 * with the records of two RSA keys, s1 and s2, plus SPF and DMARC; a
 * private OpenDKIM signs mail.test with s1 through its KeyTable and
 * SigningTable, and keywarden's [dkim] opendkim_conf is that signer's
 * configuration.  Under `serve` with a 2 s [dkim] interval and a hook on
 * dkim.dns_mismatch and health.changed:
 *
 *  - the matching record: s1 ok; a message OpenDKIM signs verifies with
 *    dkimpy against the record fetched from Knot;
 *  - s2's p= swapped into s1's record (RFC 2136 to the primary, the
 *    secondary follows): within an interval s1 is critical, the events
 *    are recorded and the hook ran with the selector in its environment;
 *    dkimpy now fails the same signature against what Knot serves;
 *  - restored: ok again;
 *  - with the interval at 1 h (a reload), the SigningTable pointed at s2
 *    is seen through inotify, and s2 checked, without waiting for it.
 *
 * A second daemon checks against a DNS server that never answers: the
 * loop still answers /healthz and /metrics at once while the check
 * waits, and the selector ends unknown, never ok.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "knot.h"
#include "kwrun.h"
#include "opendkim.h"
#include "proc.h"
#include "tmpdir.h"

#define ZONE "mail.test"
#define INTERVAL_S 2

static char dir[256];

static char *at(const char *rel)
{
    static char buf[8][700];
    static int i;

    i = (i + 1) % 8;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, rel);
    return buf[i];
}

/* ---- HTTP and metrics ---------------------------------------------------- */

/* GET path from 127.0.0.1:port within 5 s: the whole answer, malloc'd;
 * *secs how long it took.  NULL when nothing answered. */
static char *http_get(int port, const char *path, double *secs)
{
    double t0 = mono();
    char *body = kw_http_get(port, path);

    if (secs != NULL)
        *secs = mono() - t0;
    return body;
}

/* keywarden_jobs_total{type="dkim",result="ok"}, or -1. */
static long dkim_checks_in(const char *m)
{
    static const char k[] = "keywarden_jobs_total{type=\"dkim\",result=\"ok\"} ";
    const char *p = m != NULL ? strstr(m, k) : NULL;

    return p != NULL ? strtol(p + sizeof(k) - 1, NULL, 10) : -1;
}

typedef struct want_health {
    int port;
    const char *name, *health;
    long min_checks; /* and at least this many checks done */
} want_health;

static int has_health(void *ctx)
{
    want_health *w = ctx;
    char *m = http_get(w->port, "/metrics", NULL);
    int ok = m != NULL && strcmp(kw_metrics_health(m, "dkim", w->name), w->health) == 0 &&
             dkim_checks_in(m) >= w->min_checks;

    free(m);
    return ok;
}

static long dkim_checks(int port)
{
    char *m = http_get(port, "/metrics", NULL);
    long n = dkim_checks_in(m);

    free(m);
    return n;
}

/* Wait for name's health, after at least min_checks checks; the seconds
 * it took.  Fails the test (naming the log) when it does not come. */
static double await_health(int port, const char *name, const char *health,
                           long min_checks, int timeout_ms, const char *log)
{
    want_health w = {port, name, health, min_checks};
    double t0 = mono();

    if (!proc_until(has_health, &w, timeout_ms)) {
        char *m = http_get(port, "/metrics", NULL);

        fail_msg("%s did not turn %s after %ld checks (now \"%s\", %ld "
                 "checks); see %s",
                 name, health, min_checks, kw_metrics_health(m, "dkim", name),
                 dkim_checks_in(m), log);
    }
    return mono() - t0;
}

/* ---- DNS ----------------------------------------------------------------- */

/* txt as zone-file character strings of at most 200 octets. */
static void txt_strings(const char *txt, char *out, size_t cap)
{
    size_t n = strlen(txt), i, o = 0;

    out[0] = '\0';
    for (i = 0; i < n && o < cap; i += 200)
        o += (size_t)snprintf(out + o, cap - o, "%s\"%.*s\"", i ? " " : "",
                              (int)(n - i < 200 ? n - i : 200), txt + i);
}

/* Skip a (possibly compressed) name at r[*off]; -1 when cut short. */
static int skip_name(const uint8_t *r, size_t len, size_t *off)
{
    while (*off < len) {
        uint8_t l = r[*off];

        if ((l & 0xc0) == 0xc0) {
            *off += 2;
            return *off <= len ? 0 : -1;
        }
        *off += 1u + l;
        if (l == 0)
            return 0;
    }
    return -1;
}

/* The TXT record at name as Knot's primary serves it, its character
 * strings concatenated: what a receiver's dkimpy would fetch. */
static void fetch_txt(const knot *k, const char *name, char *out, size_t cap)
{
    uint8_t r[4096];
    size_t len = 0, off = 12, o = 0;
    unsigned an, i;

    out[0] = '\0';
    assert_int_equal(kn_ask(k->addr, k->port, name, 16, 0, 3000, r,
                            sizeof(r), &len),
                     0);
    assert_true(len >= 12);
    an = (unsigned)(r[6] << 8 | r[7]);
    assert_true(an >= 1);
    assert_int_equal(skip_name(r, len, &off), 0);
    off += 4;
    for (i = 0; i < an; i++) {
        size_t rdlen, end;
        unsigned type;

        assert_int_equal(skip_name(r, len, &off), 0);
        assert_true(off + 10 <= len);
        type = (unsigned)(r[off] << 8 | r[off + 1]);
        rdlen = (size_t)(r[off + 8] << 8 | r[off + 9]);
        off += 10;
        end = off + rdlen;
        assert_true(end <= len);
        while (type == 16 && off < end) {
            size_t sl = r[off++];

            assert_true(off + sl <= end && o + sl < cap);
            memcpy(out + o, r + off, sl);
            o += sl;
            off += sl;
        }
        out[o] = '\0';
        off = end;
        if (type == 16)
            return;
    }
    fail_msg("no TXT at %s", name);
}

/* Replace the TXT record at SELECTOR._domainkey with txt, at the primary,
 * and wait until the secondary serves the new serial. */
static void set_record(const knot *primary, const knot *secondary,
                       const char *selector, const char *txt)
{
    char lines[8192], strs[2048];
    uint32_t serial = 0;

    assert_int_equal(kn_soa_serial(primary->addr, primary->port, ZONE, 3000,
                                   &serial),
                     0);
    txt_strings(txt, strs, sizeof(strs));
    snprintf(lines, sizeof(lines),
             "update delete %s._domainkey." ZONE ". TXT\n"
             "update add %s._domainkey." ZONE ". 60 TXT %s\n",
             selector, selector, strs);
    assert_int_equal(kn_update(primary, ZONE, lines), 0);
    assert_int_equal(kn_wait_serial(secondary->addr, secondary->port, ZONE,
                                    serial + 1, 10000),
                     0);
}

/* ---- the bench ------------------------------------------------------------ */

typedef struct bench {
    knot primary, secondary;
    char s1_txt[1024], s2_txt[1024];
    pid_t odk;
    int odk_port, metrics_port;
    char conf[700], state[700], log[700], paged[700], db[800];
    pid_t kw;
} bench;

static void write_conf(bench *b, const char *interval)
{
    write_text(b->conf,
               "[daemon]\n"
               "metrics_listen = 127.0.0.1:%d\n"
               "log_level = info\n"
               "[scan]\n"
               "interval = 1h\n"
               "[dkim]\n"
               "opendkim_conf = %s\n"
               "interval = %s\n"
               "resolver = 127.0.0.1:%d\n"
               "dns_port = %d\n"
               "[hook \"page\"]\n"
               "on = dkim.dns_mismatch, health.changed\n"
               "kinds = dkim\n"
               "run = %s\n"
               "retry = 0\n",
               b->metrics_port, at("opendkim/opendkim.conf"), interval,
               b->primary.port, b->primary.port, at("page.sh"));
}

static int bench_up(bench *b)
{
    char records[8192], s1[2048], s2[2048];
    kn_opts o;
    const char *skip = NULL;
    char *argv[8];

    memset(b, 0, sizeof(*b));
    tmpdir_make(dir, sizeof(dir), "dkimserve");
    mkdir(at("keys"), 0700);
    assert_int_equal(dkim_make_key(at("keys/s1.private"), b->s1_txt,
                                   sizeof(b->s1_txt)),
                     0);
    assert_int_equal(dkim_make_key(at("keys/s2.private"), b->s2_txt,
                                   sizeof(b->s2_txt)),
                     0);
    txt_strings(b->s1_txt, s1, sizeof(s1));
    txt_strings(b->s2_txt, s2, sizeof(s2));
    snprintf(records, sizeof(records),
             "s1._domainkey 60 TXT %s\n"
             "s2._domainkey 60 TXT %s\n"
             "@ 60 TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n"
             "_dmarc 60 TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@" ZONE "\"\n",
             s1, s2);
    memset(&o, 0, sizeof(o));
    o.zone = ZONE;
    o.ns2_addr = "127.0.0.2";
    o.records = records;
    assert_int_equal(kn_primary_start(dir, "primary", &o, &b->primary), 0);
    assert_int_equal(kn_secondary_start(dir, "secondary", &b->primary,
                                        "127.0.0.2", &b->secondary),
                     0);
    b->odk_port = kn_free_port("127.0.0.1");
    b->odk = opendkim_start(dir, b->odk_port, ZONE, "s1",
                            at("keys/s1.private"), &skip);
    if (b->odk == 0)
        return -1; /* skipped: skip says why */
    assert_true(b->odk > 0);

    /* The hook pages by writing what it was told. */
    write_text(at("page.sh"),
               "#!/bin/sh\n"
               "echo \"$KEYWARDEN_EVENT selector=$KEYWARDEN_DKIM_SELECTOR "
               "domain=$KEYWARDEN_DKIM_DOMAIN object=$KEYWARDEN_OBJECT\" "
               ">> %s\n",
               at("paged.txt"));
    assert_int_equal(chmod(at("page.sh"), 0755), 0);
    snprintf(b->paged, sizeof(b->paged), "%s", at("paged.txt"));
    snprintf(b->conf, sizeof(b->conf), "%s", at("keywarden.conf"));
    snprintf(b->state, sizeof(b->state), "%s", at("state"));
    snprintf(b->log, sizeof(b->log), "%s", at("serve.log"));
    snprintf(b->db, sizeof(b->db), "%s/keywarden.db", b->state);
    mkdir(b->state, 0700);
    b->metrics_port = kn_free_port("127.0.0.1");
    write_conf(b, "2s");

    argv[0] = (char *)KEYWARDEN_BIN;
    argv[1] = (char *)"--state-dir";
    argv[2] = b->state;
    argv[3] = (char *)"--config";
    argv[4] = b->conf;
    argv[5] = (char *)"serve";
    argv[6] = NULL;
    b->kw = proc_spawn_log(argv, b->log);
    return 0;
}

static bench g_bench;
static int g_passed;

/* Everything the test started stops, by PID, however it ended; its
 * files stay for a look when it failed. */
static void bench_down(bench *b)
{
    if (b->kw > 0) {
        kill(b->kw, SIGTERM);
        if (proc_wait(b->kw, 30000) < 0) {
            kill(b->kw, SIGKILL);
            proc_wait(b->kw, 5000);
        }
    }
    b->kw = 0;
    opendkim_stop(b->odk);
    b->odk = 0;
    kn_stop(&b->secondary);
    kn_stop(&b->primary);
    if (g_passed)
        tmpdir_remove(dir);
    else if (dir[0] != '\0')
        print_message("files kept in %s\n", dir);
}

static int teardown(void **st)
{
    (void)st;
    bench_down(&g_bench);
    return 0;
}

static int paged_s1(void *path)
{
    return file_contains(path, "dkim.dns_mismatch selector=s1 "
                               "domain=" ZONE);
}

/* The pending DKIM check is more than 10 minutes away. */
static int next_check_far(void *db)
{
    return db_int(db, "SELECT count(*) FROM jobs WHERE type = 'dkim' AND "
                      "state = 'pending' AND next_at > "
                      "CAST(strftime('%s', 'now') AS INTEGER) + 600") == 1;
}

/* The daemon writes a job's row on the pool and counts it in /metrics
 * on the loop a moment later: the last check's end in /metrics (set
 * after the count) at or after the dkim job row's last update says both
 * are done. */
static int metrics_caught_up(void *ctx)
{
    static const char k[] = "\nkeywarden_dkim_last_check_timestamp_seconds ";
    bench *b = ctx;
    char *m = http_get(b->metrics_port, "/metrics", NULL);
    const char *p = m != NULL ? strstr(m, k) : NULL;
    long long at = p != NULL ? strtoll(p + sizeof(k) - 1, NULL, 10) : -1;
    int ok = at >= db_int(b->db, "SELECT updated_at FROM jobs WHERE "
                                 "type = 'dkim'");

    free(m);
    return ok;
}

static int log_has(void *ctx)
{
    const char *const *c = ctx;

    return file_contains(c[0], c[1]);
}

static const char message[] = "From: Alice <alice@" ZONE ">\n"
                              "To: Bob <bob@example.org>\n"
                              "Subject: the key that signs\n"
                              "\n"
                              "Signed by OpenDKIM, checked by keywarden.\n";

/* OpenDKIM signs message; dkimpy verifies it against the record Knot
 * serves for selector.  1 verified, 0 not (why says why). */
static int signs_and_verifies(bench *b, const char *selector, char *why,
                              size_t whylen)
{
    char *signed_msg = NULL, txt[2048], name[300];
    int v;

    if (opendkim_sign(dir, b->odk_port, message, &signed_msg) != 0)
        fail_msg("OpenDKIM did not sign: %s",
                 signed_msg != NULL ? signed_msg : "(no output)");
    snprintf(name, sizeof(name), "%s._domainkey." ZONE, selector);
    assert_contains(signed_msg, "s=");
    fetch_txt(&b->primary, name, txt, sizeof(txt));
    v = dkim_verify(signed_msg, selector, ZONE, txt, why, whylen);
    free(signed_msg);
    assert_true(v >= 0);
    return v;
}

static void test_serve_follows_dns(void **st)
{
    bench *bp = &g_bench;
    char why[2048];
    double took;
    long before;
    int64_t n;

    (void)st;
    g_passed = 0;
    if (bench_up(bp) != 0) {
        g_passed = 1;
        skip();
    }
#define b (*bp)
    /* The matching record: keywarden says ok, and the key OpenDKIM
     * signs with verifies against what Knot serves. */
    await_health(b.metrics_port, "s1._domainkey." ZONE, "ok", 1, 60000,
                 b.log);
    if (signs_and_verifies(&b, "s1", why, sizeof(why)) != 1)
        fail_msg("dkimpy did not verify OpenDKIM's signature while "
                 "keywarden said ok: %s",
                 why);

    /* s2's key published under s1's name. */
    before = dkim_checks(b.metrics_port);
    set_record(&b.primary, &b.secondary, "s1", b.s2_txt);
    took = await_health(b.metrics_port, "s1._domainkey." ZONE, "critical",
                        before + 1, 30000, b.log);
    /* Within one interval, plus the check itself and the jitter. */
    assert_true(took < 3.0 * INTERVAL_S + 4.0);
    print_message("critical %.1f s after the record changed\n", took);
    if (signs_and_verifies(&b, "s1", why, sizeof(why)) != 0)
        fail_msg("dkimpy verified a signature against a record that does "
                 "not match the key: %s",
                 why);
    /* Critical for the reason dkimpy failed: the key does not match. */
    n = db_int(b.db, "SELECT count(*) FROM dkim_findings f JOIN objects o "
                     "ON o.id = f.object_id WHERE f.code = 'mismatch' AND "
                     "f.severity = 'critical' AND o.name = 's1._domainkey."
                     ZONE "'");
    assert_int_equal(n, 1);
    n = db_int(b.db, "SELECT count(*) FROM events e JOIN objects o ON "
                     "o.id = e.object_id WHERE e.type = 'dkim.dns_mismatch' "
                     "AND o.name = 's1._domainkey." ZONE "'");
    assert_int_equal(n, 1);
    n = db_int(b.db, "SELECT count(*) FROM events e JOIN objects o ON "
                     "o.id = e.object_id WHERE e.type = 'health.changed' "
                     "AND o.name = 's1._domainkey." ZONE "'");
    assert_true(n >= 1);
    if (!proc_until(paged_s1, b.paged, 20000))
        fail_msg("the hook was not run for dkim.dns_mismatch of s1 (%s; "
                 "log %s)",
                 b.paged, b.log);

    /* Restored: ok again, and the signature verifies again. */
    before = dkim_checks(b.metrics_port);
    set_record(&b.primary, &b.secondary, "s1", b.s1_txt);
    await_health(b.metrics_port, "s1._domainkey." ZONE, "ok", before + 1,
                 30000, b.log);
    if (signs_and_verifies(&b, "s1", why, sizeof(why)) != 1)
        fail_msg("dkimpy did not verify after the record was restored: %s",
                 why);
    /* health.changed is about a dkim object, and says which selector. */
    assert_true(file_contains(b.paged, "health.changed selector=s1 "
                                       "domain=" ZONE));

    /* The interval at 1 h (a reload re-plans); once the check due now
     * has run, the next is an hour away. */
    write_conf(&b, "1h");
    assert_int_equal(kill(b.kw, SIGHUP), 0);
    if (!proc_until(next_check_far, b.db, 20000))
        fail_msg("after the reload the DKIM check is not an hour away "
                 "(log %s)",
                 b.log);
    if (!proc_until(metrics_caught_up, &b, 20000))
        fail_msg("/metrics never counted the check after the reload (log "
                 "%s)", b.log);
    before = dkim_checks(b.metrics_port);

    /* The SigningTable pointed at s2: inotify, a scan, then the check,
     * long before the hour. */
    assert_int_equal(opendkim_set_key(dir, ZONE, "s2", at("keys/s2.private")),
                     0);
    took = await_health(b.metrics_port, "s2._domainkey." ZONE, "ok",
                        before + 1, 20000, b.log);
    print_message("s2 checked %.1f s after the SigningTable changed\n", took);
    assert_int_equal(db_int(b.db, "SELECT count(*) FROM dkim_keys k JOIN "
                                  "objects o ON o.id = k.object_id WHERE "
                                  "o.name = 's2._domainkey." ZONE "' AND "
                                  "k.role = 'signing'"),
                     1);
    assert_true(file_contains(b.log, "watch: changes under a DKIM or "
                                     "DNSSEC signer's files"));

    /* And on demand: run-job dkim (the type's one job, no name). */
    before = dkim_checks(b.metrics_port);
    {
        kwres r = kw_ok(b.state, b.conf, "run-job", "dkim");

        kwres_free(&r);
    }
    await_health(b.metrics_port, "s2._domainkey." ZONE, "ok", before + 1,
                 20000, b.log);
    assert_int_equal(kill(b.kw, SIGTERM), 0);
    assert_int_equal(proc_wait(b.kw, 30000), 0);
    b.kw = 0;
    g_passed = 1;
#undef b
}

static kn_fake g_fake;
static pid_t g_slow_kw;

/* A second daemon whose DNS never answers: the check waits on the pool,
 * the loop does not. */
static void test_loop_never_blocks(void **st)
{
    char txt[1024], conf[800], state[800], log[800], line[200];
    char *argv[8], *body;
    kn_fake *fake = &g_fake;
    int port, mport, i;
    double secs, worst = 0;
    pid_t kw;

    (void)st;
    g_passed = 0;
    tmpdir_make(dir, sizeof(dir), "dkimslow");
    mkdir(at("keys"), 0700);
    assert_int_equal(dkim_make_key(at("keys/s1.private"), txt, sizeof(txt)),
                     0);
    port = kn_free_port("127.0.0.1");
    assert_int_equal(kn_fake_start("127.0.0.1", port, KN_FAKE_SILENT, fake),
                     0);
    mport = kn_free_port("127.0.0.1");
    snprintf(conf, sizeof(conf), "%s", at("keywarden.conf"));
    snprintf(state, sizeof(state), "%s", at("state"));
    snprintf(log, sizeof(log), "%s", at("serve.log"));
    mkdir(state, 0700);
    write_text(conf,
               "[daemon]\n"
               "metrics_listen = 127.0.0.1:%d\n"
               "log_level = info\n"
               "[dkim]\n"
               "interval = 2s\n"
               "resolver = 127.0.0.1:%d\n"
               "dns_port = %d\n"
               "[dkim \"" ZONE "\"]\n"
               "selector = s1\n"
               "key = %s\n",
               mport, port, port, at("keys/s1.private"));
    argv[0] = (char *)KEYWARDEN_BIN;
    argv[1] = (char *)"--state-dir";
    argv[2] = state;
    argv[3] = (char *)"--config";
    argv[4] = conf;
    argv[5] = (char *)"serve";
    argv[6] = NULL;
    kw = g_slow_kw = proc_spawn_log(argv, log);
    snprintf(line, sizeof(line), "job dkim all: starting");
    {
        const char *ctx[2] = {log, line};

        if (!proc_until(log_has, ctx, 30000))
            fail_msg("the DKIM check did not start (log %s)", log);
    }
    /* While it waits on the silent server, every request is answered at
     * once. */
    for (i = 0; i < 20; i++) {
        body = http_get(mport, i % 2 ? "/metrics" : "/healthz", &secs);
        assert_non_null(body);
        assert_contains(body, "200 OK");
        free(body);
        if (secs > worst)
            worst = secs;
        usleep(100 * 1000);
    }
    print_message("slowest answer while the check waited: %.3f s\n", worst);
    assert_true(worst < 0.5);
    /* And the check was waiting all along. */
    assert_false(file_contains(log, "checked, the worst"));
    /* It ends unknown, never ok. */
    await_health(mport, "s1._domainkey." ZONE, "unknown", 1, 120000, log);
    assert_int_equal(kill(kw, SIGTERM), 0);
    assert_int_equal(proc_wait(kw, 30000), 0);
    g_slow_kw = 0;
    g_passed = 1;
}

static int slow_teardown(void **st)
{
    (void)st;
    if (g_slow_kw > 0) {
        kill(g_slow_kw, SIGKILL);
        proc_wait(g_slow_kw, 5000);
        g_slow_kw = 0;
    }
    kn_fake_stop(&g_fake);
    if (g_passed)
        tmpdir_remove(dir);
    else
        print_message("files kept in %s\n", dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_serve_follows_dns, teardown),
        cmocka_unit_test_teardown(test_loop_never_blocks, slow_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
