/*
 * test_dane_serve.c: serve's dane-check job against real servers on
 * loopback, on the DNSSEC bed (dnssec_bed.h): Knot signs test. and
 * child.test. (its DS in test.), unbound validates with test.'s KSK, and
 * a private Postfix (servers.h) offers STARTTLS on a free port with a
 * leaf for mx.child.test.  [endpoint "mx"] names that Postfix by address
 * with sni mx.child.test.  First the TLSA 3 1 1 at _PORT._tcp.mx is the
 * served key's: the endpoint is ok in check, list --json and /metrics.
 * Then it is replaced (knotc) by another key's: DANE senders refuse the
 * host, so after the next run it is critical in all three, check naming
 * the served key's record to publish, with one health.changed event
 * (checker "dane", ok -> critical).  The records are computed here with
 * OpenSSL (tp_tlsa_spki).  Last, the record is the served key's again
 * and a managed [certificate] for mx.child.test has a renewal with a new
 * key in its live file, not yet served: dane.reload, critical before a
 * reload makes DANE senders defer.  The clock is pinned (KEYWARDEN_NOW): the
 * probe runs at start, the dane-check job, due a minute after the plan,
 * is made due with run-job.  Last (test_serve_mx), the MX hosts of a
 * [dkim "child.test"] domain, which no [endpoint] names: a stale TLSA on
 * one is critical in check, list --json and /metrics; dropped from the
 * MX set it leaves the inventory, and its successor without TLSA is ok,
 * "no DANE" in show.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <ldns/ldns.h>
#include <openssl/x509.h>

#include "dnssec_bed.h"
#include "kwrun.h"
#include "proc.h"
#include "servers.h"
#include "testpki.h"

static int smtp_port, metrics_port;
static pid_t postfix_pid, serve_pid;
static char rec_served[100], rec_other[100], rec_next[100];
static char state[700], conf[700], db[800], serve_log[800];

/* The served pair (a leaf for both names and its CA) written for
 * Postfix; the records of the served key and of another. */
static void pki(char *cert, char *key, size_t cap)
{
    static const char *const names[] = { "mx.child.test", "mx2.child.test",
                                         "mx3.child.test", "mx4.child.test",
                                         "mx5.child.test", NULL };
    EVP_PKEY *ca_k = tp_key_ec(), *k = tp_key_ec(), *other_k = tp_key_ec();
    int64_t now = time(NULL);
    tp_spec s = { 0 };
    X509 *ca, *leaf, *other, *next;
    char live[700], live_cert[800];
    EVP_PKEY *next_k = tp_key_ec();

    ca = tp_ca("Test DANE CA", ca_k, now);
    s.cn = "mx.child.test";
    s.dns = names;
    s.not_before = now - 3600;
    s.not_after = now + 60 * 86400;
    s.serial = 2;
    s.key = k;
    s.issuer = ca;
    s.issuer_key = ca_k;
    leaf = tp_cert(&s);
    s.serial = 3;
    s.key = other_k;
    other = tp_cert(&s);
    s.serial = 4;
    s.key = next_k;
    next = tp_cert(&s);
    tp_tlsa_spki(next, 3, rec_next, sizeof(rec_next));
    tp_tlsa_spki(leaf, 3, rec_served, sizeof(rec_served));
    tp_tlsa_spki(other, 3, rec_other, sizeof(rec_other));
    tp_write_served(bed.dir, "served", leaf, ca, k, cert, key, cap);
    /* The renewal in the managed certificate's live file (live/mx a link
     * to ../archive/mx/1, as renewals leave it), read only once the
     * configuration names that certificate (test_serve_reload). */
    snprintf(live, sizeof(live), "%s/certs/live", bed.dir);
    tp_mkdirs(live);
    snprintf(live, sizeof(live), "%s/certs/live/mx", bed.dir);
    assert_int_equal(symlink("../archive/mx/1", live), 0);
    snprintf(live, sizeof(live), "%s/certs/archive/mx/1", bed.dir);
    tp_mkdirs(live);
    tp_write_served(live, "cert", next, ca, NULL, live_cert, NULL,
                    sizeof(live_cert));
    X509_free(next);
    EVP_PKEY_free(next_k);
    X509_free(ca);
    X509_free(leaf);
    X509_free(other);
    EVP_PKEY_free(ca_k);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other_k);
}

/* With managed: a [certificate "mx"] for mx.child.test whose live file
 * is under DIR/certs (its CA unreachable: no renewal runs). */
static void write_conf(int managed)
{
    char empty[700], more[1500] = "";

    snprintf(empty, sizeof(empty), "%s/empty", bed.dir);
    tp_mkdirs(empty);
    if (managed)
        snprintf(more, sizeof(more),
                 "\n[acme]\ndirectory = https://127.0.0.1:1/directory\n"
                 "certs_dir = %s/certs\n\n"
                 "[certificate \"mx\"]\nnames = mx.child.test\n"
                 "http01 = webroot\nwebroot = %s\n", bed.dir, empty);
    write_text(conf,
               "[daemon]\nmetrics_listen = 127.0.0.1:%d\n\n"
               "[scan]\npath = %s\n\n"
               "[endpoint \"mx\"]\nhost = 127.0.0.1\nport = %d\n"
               "sni = mx.child.test\nstarttls = smtp\n\n"
               "[dane]\nresolver = 127.0.0.1:%d\ninterval = 2h\n"
               "timeout = 5s\n\n"
               "[zone \"child.test\"]\nservers = 127.0.0.1:%d\n%s",
               metrics_port, empty, smtp_port, bed.ub.port,
               bed.port, more);
}

static int setup(void **st)
{
    char cert[700], key[700], zone[1500];
    const char *skip = NULL;

    (void)st;
    if (bed_init("dane_serve") != 0)
        return -1;
    smtp_port = free_port();
    metrics_port = free_port();
    pki(cert, key, sizeof(cert));
    bed_zone_file("test", "child NS ns1.child.test.\n"
                  "ns1.child A 127.0.0.1\n"
                  "mail NS ns1.mail.test.\nns1.mail A 127.0.0.1\n"
                  "broken NS ns1.broken.test.\nns1.broken A 127.0.0.1\n");
    /* mx2 and mx3 are the MX hosts of test_serve_mx, mx2's TLSA another
     * key's; mx4 (another key's TLSA too) and mx2 are those of the
     * unsigned mail.test, mx5 that of broken.test, signed under a DS
     * naming no key of it: its MX RRset is bogus. */
    snprintf(zone, sizeof(zone),
             "mx A 127.0.0.1\n_%d._tcp.mx TLSA %s\n"
             "@ MX 10 mx2\nmx2 A 127.0.0.1\nmx3 A 127.0.0.1\n"
             "mx4 A 127.0.0.1\nmx5 A 127.0.0.1\n"
             "_25._tcp.mx2 TLSA %s\n_25._tcp.mx4 TLSA %s\n", smtp_port,
             rec_served, rec_other, rec_other);
    bed_zone_file("child.test", zone);
    bed_zone_file("mail.test", "@ MX 10 mx4.child.test.\n"
                  "@ MX 20 mx2.child.test.\n");
    bed_zone_file("broken.test", "@ MX 10 mx5.child.test.\n");
    bed_start_chain(BED_MAIL_BROKEN_ZONES);
    bed_break_broken();
    /* keywarden's jobs ask for the mail domains' NS sets, whose
     * 127.0.0.1 would send unbound to port 53 for everything below. */
    bed.ub_stubs = "child.test. mail.test. broken.test.";
    bed_start_unbound();
    postfix_pid = postfix_start(bed.dir, smtp_port, cert, key, NULL, &skip);
    if (postfix_pid == 0) {
        fprintf(stderr, "Postfix cannot run here: %s\n", skip);
        return -1;
    }
    assert_true(postfix_pid > 0);
    snprintf(state, sizeof(state), "%s/state", bed.dir);
    snprintf(conf, sizeof(conf), "%s/keywarden.conf", bed.dir);
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    snprintf(serve_log, sizeof(serve_log), "%s/serve.log", bed.dir);
    write_conf(0);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    kw_serve_kill(&serve_pid);
    postfix_stop(bed.dir, postfix_pid);
    bed_stop();
    return 0;
}

/* The object in list --json's output named name, or NULL. */
static json_t *listed(json_t *all, const char *name)
{
    json_t *objs = json_is_array(all) ? all : json_object_get(all, "objects");
    size_t i;

    for (i = 0; i < json_array_size(objs); i++) {
        json_t *o = json_array_get(objs, i);
        const char *n = json_string_value(json_object_get(o, "name"));

        if (n != NULL && strcmp(n, name) == 0)
            return o;
    }
    return NULL;
}

/* How often needle occurs in hay. */
static int occurrences(const char *hay, const char *needle)
{
    int n = 0;

    while ((hay = strstr(hay, needle)) != NULL) {
        n++;
        hay += strlen(needle);
    }
    return n;
}

/* The endpoint's health in check --kind tls (exit code), list --json
 * and /metrics, which must all be want ("ok" or "critical"); check's
 * output must hold text when it is not NULL. */
static void health_is(const char *want, const char *text)
{
    int code = strcmp(want, "ok") == 0 ? 0 : 2;
    json_t *all, *o;
    char *m;
    kwres r;

    r = kw_expect(code, state, conf,
                  (const char *[]){ "check", "--kind", "tls", NULL });
    fprintf(stderr, "%s", r.out);
    if (text != NULL)
        assert_non_null(strstr(r.out, text));
    /* The problem's line carries a live check's fix; no "fix:" line
     * repeats it under it (the only problem here is DANE's). */
    if (text != NULL)
        assert_null(strstr(r.out, "\n  fix: "));
    kwres_free(&r);
    r = kw_expect(0, state, conf,
                  (const char *[]){ "show", "mx.child.test", NULL });
    if (strcmp(want, "ok") != 0)
        assert_non_null(strstr(r.out, "DANE: "));
    else
        assert_null(strstr(r.out, "DANE: "));
    /* The fix (the record to publish) is said once, not once in the
     * finding's line and again as its fix. */
    if (text != NULL)
        assert_int_equal(occurrences(r.out, text), 1);
    kwres_free(&r);
    all = kw_list_json(state, conf, "tls", &r);
    o = listed(all, "mx.child.test");
    if (o == NULL)
        fail_msg("mx.child.test not in list --json: %s", r.out);
    assert_string_equal(json_string_value(json_object_get(o, "health")),
                        want);
    if (strcmp(want, "ok") != 0)
        assert_non_null(strstr(r.out, "DANE: "));
    json_decref(all);
    kwres_free(&r);
    m = kw_http_get(metrics_port, "/metrics");
    assert_non_null(m);
    assert_string_equal(kw_metrics_health(m, "tls", "mx.child.test"), want);
    free(m);
}

/* One more run of the job, from an empty resolver cache. */
static void run_dane(void)
{
    kwres r;

    bed_ub_flush();
    r = kw_expect(0, state, conf,
                  (const char *[]){ "run-job", "dane-check", NULL });
    kwres_free(&r);
}

static void test_serve_dane(void **st)
{
    char now[40], owner[64];
    time_t t = time(NULL);

    (void)st;
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    serve_pid = kw_serve_start(state, conf, now, NULL, serve_log);
    kw_await_sql(db, "SELECT count(*) = 1 FROM endpoints WHERE ok = 1",
                 30000, serve_log);
    kw_await_sql(db, "SELECT count(*) FROM jobs WHERE type = 'dane-check'",
                 30000, serve_log);

    /* The served key's record: ok, no event. */
    run_dane();
    kw_await_sql(db, "SELECT count(*) = 1 FROM checks WHERE checker = "
                     "'dane' AND health = 'ok'", 60000, serve_log);
    health_is("ok", NULL);

    /* Another key's record: critical, the served key's record to
     * publish, one health.changed. */
    snprintf(owner, sizeof(owner), "_%d._tcp.mx", smtp_port);
    bed_set_rr("child.test.", owner, "TLSA", rec_other);
    run_dane();
    kw_await_sql(db, "SELECT count(*) = 1 FROM checks WHERE checker = "
                     "'dane' AND health = 'critical'", 60000, serve_log);
    health_is("critical", rec_served + 6);
    kw_await_sql(db, "SELECT count(*) = 1 FROM events WHERE type = "
                     "'health.changed' AND json_extract(detail, "
                     "'$.checker') = 'dane' AND json_extract(detail, "
                     "'$.object') = 'mx' AND json_extract(detail, '$.from') "
                     "= 'ok' AND json_extract(detail, '$.to') = "
                     "'critical'", 5000, serve_log);
    kw_serve_stop(&serve_pid);
}

/* The served key's record again, and a renewal with a new key in the
 * managed certificate's live file: critical before the reload. */
static void test_serve_reload(void **st)
{
    char now[40], owner[64];
    time_t t = time(NULL);
    kwres r;

    (void)st;
    snprintf(owner, sizeof(owner), "_%d._tcp.mx", smtp_port);
    bed_set_rr("child.test.", owner, "TLSA", rec_served);
    write_conf(1);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    serve_pid = kw_serve_start(state, conf, now, NULL, serve_log);
    kw_await_sql(db, "SELECT count(*) FROM jobs WHERE type = 'dane-check'",
                 30000, serve_log);
    run_dane();
    kw_await_sql(db, "SELECT count(*) = 1 FROM check_findings WHERE code = "
                     "'dane.reload' AND severity = 'critical'", 60000,
                 serve_log);
    r = kw_expect(2, state, conf,
                  (const char *[]){ "check", "--kind", "tls", NULL });
    fprintf(stderr, "%s", r.out);
    assert_non_null(strstr(r.out, "matches no TLSA record while the served "
                                  "one does"));
    /* The renewal's record, to publish before the reload. */
    assert_non_null(strstr(r.out, rec_next));
    kwres_free(&r);
    kw_serve_stop(&serve_pid);
}

/* unbound answers name's type securely (a first resolution after a
 * flush can outlast one run's 5 s bound: the trust anchor is primed
 * again). */
typedef struct ub_q {
    const char *name;
    int type;
    int want;          /* ub_verdict: bed_ub_ask_type's answer */
} ub_q;

static int ub_secure(void *ctx)
{
    const ub_q *q = ctx;

    return bed_ub_ask_type(q->name, q->type, 0) == 1;
}

static int ub_verdict(void *ctx)
{
    const ub_q *q = ctx;

    return bed_ub_ask_type(q->name, q->type, 0) == q->want;
}

/* One more run of the job in state dir st, once unbound, its cache
 * flushed, answers the names the run asks (the TLSA name when mx has
 * one: the others' is NXDOMAIN). */
static void run_dane_mx(const char *st, const char *cf, const char *mx,
                        int has_tlsa)
{
    char tlsa[300];
    ub_q q[3] = { { "child.test.", LDNS_RR_TYPE_MX, 1 },
                  { mx, LDNS_RR_TYPE_A, 1 },
                  { tlsa, LDNS_RR_TYPE_TLSA, 1 } };
    size_t i;
    kwres r;

    snprintf(tlsa, sizeof(tlsa), "_25._tcp.%s", mx);
    bed_ub_flush();
    for (i = 0; i < (has_tlsa ? 3u : 2u); i++)
        if (!proc_until(ub_secure, &q[i], 30000))
            fail_msg("unbound does not answer %s type %d securely",
                     q[i].name, q[i].type);
    r = kw_expect(0, st, cf, (const char *[]){ "run-job", "dane-check",
                                               NULL });
    kwres_free(&r);
}

/* The dane-check job's verdict on the MX host endpoint: want. */
static void mx_health_sql(char *q, size_t cap, const char *name,
                          const char *want)
{
    snprintf(q, cap, "SELECT count(*) = 1 FROM checks c JOIN "
             "endpoints e ON e.object_id = c.object_id WHERE e.origin = "
             "'mx' AND e.name = '%s' AND c.checker = 'dane' AND c.health = "
             "'%s'", name, want);
}

static void mx_health(const char *mdb, const char *mlog, const char *name,
                      const char *want)
{
    char q[600];

    mx_health_sql(q, sizeof(q), name, want);
    kw_await_sql(mdb, q, 60000, mlog);
}

/* The MX sets' own security (RFC 7672 section 2.2.1), in
 * test_serve_mx's state: child.test's MX is mx2 again (secure), and two
 * more mail domains.  mail.test is unsigned: the stale TLSA of its MX
 * mx4 is only a warning, as no DANE sender uses it; mx2, its MX too,
 * stays critical for child.test's senders, a note naming child.test.
 * broken.test's MX RRset is bogus: its MX mx5, without TLSA, is
 * critical, as DANE senders defer that domain's mail. */
static void mx_security(const char *mstate, const char *mconf,
                        const char *mdb, const char *mlog, const char *key)
{
    ub_q q[] = { { "child.test.", LDNS_RR_TYPE_MX, 1 },
                 { "_25._tcp.mx2.child.test.", LDNS_RR_TYPE_TLSA, 1 },
                 { "_25._tcp.mx4.child.test.", LDNS_RR_TYPE_TLSA, 1 },
                 { "mx2.child.test.", LDNS_RR_TYPE_A, 1 },
                 { "mx4.child.test.", LDNS_RR_TYPE_A, 1 },
                 { "mx5.child.test.", LDNS_RR_TYPE_A, 1 },
                 { "mail.test.", LDNS_RR_TYPE_MX, -1 },
                 { "broken.test.", LDNS_RR_TYPE_MX, 0 } };
    char now[40], sql[300];
    time_t t = time(NULL);
    FILE *f;
    size_t i;
    kwres r;

    bed_set_rr("child.test.", "child.test.", "MX", "10 mx2.child.test.");
    f = fopen(mconf, "a");
    assert_non_null(f);
    fprintf(f, "\n[dkim \"mail.test\"]\nselector = k1\nkey = %s\n"
               "\n[dkim \"broken.test\"]\nselector = k1\nkey = %s\n",
            key, key);
    assert_int_equal(fclose(f), 0);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    serve_pid = kw_serve_start(mstate, mconf, now, NULL, mlog);
    /* The other jobs ask the resolver for the mail domains' NS sets,
     * after which unbound follows their delegations to port 53, where
     * nothing listens: the run waits until those due at the pinned
     * clock have run (the others never come due). */
    snprintf(sql, sizeof(sql), "SELECT count(*) = 0 FROM jobs WHERE type "
             "NOT IN ('dane-check', 'scan') AND (state != 'pending' OR "
             "next_at <= %lld)", (long long)t);
    kw_await_sql(mdb, sql, 60000, mlog);
    bed_ub_flush();
    for (i = 0; i < sizeof(q) / sizeof(q[0]); i++)
        if (!proc_until(ub_verdict, &q[i], 30000))
            fail_msg("unbound does not answer %s type %d as %d", q[i].name,
                     q[i].type, q[i].want);
    /* Under a loaded CI machine unbound has taken over 5 s for one
     * answer (a run then records "MX set not had" and the job comes back
     * in 5 minutes): a run that did not reach the verdicts is run again,
     * said on stderr, at most four times. */
    for (i = 0; i < 4; i++) {
        char q4[600], q5[600];

        r = kw_expect(0, mstate, mconf, (const char *[]){ "run-job",
                                                          "dane-check",
                                                          NULL });
        kwres_free(&r);
        mx_health_sql(q4, sizeof(q4), "mx4.child.test:25", "warning");
        mx_health_sql(q5, sizeof(q5), "mx5.child.test:25", "critical");
        if (kw_sql_within(mdb, q4, 20000) && kw_sql_within(mdb, q5, 5000))
            break;
        fprintf(stderr, "note: dane-check run %zu did not reach the MX "
                        "verdicts in 20 s; running it again (%s)\n",
                i + 1, mlog);
    }
    mx_health(mdb, mlog, "mx4.child.test:25", "warning");
    mx_health(mdb, mlog, "mx5.child.test:25", "critical");
    mx_health(mdb, mlog, "mx2.child.test:25", "critical");
    kw_await_sql(mdb, "SELECT count(*) = 1 FROM check_findings f JOIN "
                      "endpoints e ON e.object_id = f.object_id WHERE "
                      "e.name = 'mx2.child.test:25' AND f.code = "
                      "'dane.mx.secure' AND f.text LIKE '%MX lookup for "
                      "child.test is secure%mail.test%'", 5000, mlog);
    r = kw_expect(2, mstate, mconf,
                  (const char *[]){ "check", "--kind", "tls", NULL });
    fprintf(stderr, "%s", r.out);
    assert_contains(r.out, "the MX lookup for mail.test is insecure: DANE "
                           "senders ignore these TLSA records (sign "
                           "mail.test or");
    assert_contains(r.out, "DANE senders defer all mail for broken.test: "
                           "its MX RRset does not validate");
    kwres_free(&r);
    kw_serve_stop(&serve_pid);
}

/* The MX hosts of a [dkim] domain that no [endpoint] names: child.test's
 * MX mx2 has another key's TLSA at _25._tcp.mx2 (probed on Postfix's
 * port through [dane] smtp_port, its address from DNS): critical in
 * check, list --json and /metrics on the endpoint mx2.child.test:25.
 * The MX set then becomes mx3, which has no TLSA: mx2 leaves the
 * inventory, mx3 is ok and show says it does not use DANE.  The
 * domain publishes no _mta-sts, so the MTA-STS check makes no object. */
static void test_serve_mx(void **st)
{
    char mstate[700], mconf[700], mdb[800], mlog[800], key[700], now[40];
    char empty[700], *m;
    EVP_PKEY *k = tp_key_rsa(2048);
    time_t t = time(NULL);
    json_t *all, *objs, *o;
    size_t i;
    kwres r;

    (void)st;
    snprintf(mstate, sizeof(mstate), "%s/mx-state", bed.dir);
    snprintf(mconf, sizeof(mconf), "%s/mx.conf", bed.dir);
    snprintf(mdb, sizeof(mdb), "%s/keywarden.db", mstate);
    snprintf(mlog, sizeof(mlog), "%s/mx.log", bed.dir);
    snprintf(empty, sizeof(empty), "%s/empty", bed.dir);
    /* The key in a directory of its own: the DKIM sources watch the
     * key's directory, and the bed's has the daemon's log. */
    snprintf(key, sizeof(key), "%s/dkimkeys", bed.dir);
    tp_mkdirs(key);
    snprintf(key, sizeof(key), "%s/dkimkeys/k1.pem", bed.dir);
    assert_int_equal(tp_write_key(key, k, 0600), 0);
    EVP_PKEY_free(k);
    write_text(mconf,
               "[daemon]\nmetrics_listen = 127.0.0.1:%d\n\n"
               "[scan]\npath = %s\n\n"
               "[dane]\nresolver = 127.0.0.1:%d\ninterval = 2h\n"
               "timeout = 5s\nsmtp_port = %d\n\n"
               "[zone \"child.test\"]\nservers = 127.0.0.1:%d\n\n"
               "[dkim]\nresolver = 127.0.0.1:%d\n\n"
               "[dkim \"child.test\"]\nselector = k1\nkey = %s\n",
               metrics_port, empty, bed.ub.port, smtp_port, bed.port,
               bed.ub.port, key);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    serve_pid = kw_serve_start(mstate, mconf, now, NULL, mlog);
    kw_await_sql(mdb, "SELECT count(*) FROM jobs WHERE type = 'dane-check'",
                 30000, mlog);
    run_dane_mx(mstate, mconf, "mx2.child.test.", 1);
    mx_health(mdb, mlog, "mx2.child.test:25", "critical");

    r = kw_expect(2, mstate, mconf,
                  (const char *[]){ "check", "--kind", "tls", NULL });
    fprintf(stderr, "%s", r.out);
    assert_contains(r.out, "DANE: no DANE-EE or DANE-TA record matches the "
                           "chain mx2.child.test serves");
    assert_contains(r.out, rec_served + 6);
    assert_null(strstr(r.out, "\n  fix: "));
    kwres_free(&r);
    r = kw_expect(0, mstate, mconf,
                  (const char *[]){ "show", "mx.child.test", NULL });
    fprintf(stderr, "%s", r.out);
    assert_contains(r.out, "smtp://mx2.child.test:25");
    assert_int_equal(occurrences(r.out, rec_served + 6), 1);
    kwres_free(&r);
    all = kw_list_json(mstate, mconf, "tls", &r);
    objs = json_is_array(all) ? all : json_object_get(all, "objects");
    for (i = 0, o = NULL; i < json_array_size(objs) && o == NULL; i++) {
        const char *src = json_string_value(
            json_object_get(json_array_get(objs, i), "source"));

        if (src != NULL && strcmp(src, "smtp://mx2.child.test:25") == 0)
            o = json_array_get(objs, i);
    }
    if (o == NULL)
        fail_msg("the MX host is not in list --json: %s", r.out);
    assert_string_equal(json_string_value(json_object_get(o, "health")),
                        "critical");
    assert_contains(r.out, "DANE: no DANE-EE or DANE-TA record matches");
    json_decref(all);
    kwres_free(&r);
    m = kw_http_get(metrics_port, "/metrics");
    assert_non_null(m);
    assert_string_equal(kw_metrics_health(m, "tls", "mx.child.test"),
                        "critical");
    assert_contains(m, "endpoint=\"smtp://mx2.child.test:25\"");
    assert_null(strstr(m, "kind=\"mta-sts\""));
    free(m);

    /* The MX set becomes mx3, which publishes no TLSA. */
    bed_set_rr("child.test.", "child.test.", "MX", "10 mx3.child.test.");
    run_dane_mx(mstate, mconf, "mx3.child.test.", 0);
    kw_await_sql(mdb, "SELECT count(*) = 0 FROM endpoints WHERE name = "
                      "'mx2.child.test:25'", 60000, mlog);
    mx_health(mdb, mlog, "mx3.child.test:25", "ok");
    r = kw_expect(0, mstate, mconf,
                  (const char *[]){ "check", "--kind", "tls", NULL });
    kwres_free(&r);
    r = kw_expect(0, mstate, mconf,
                  (const char *[]){ "list", "--json", "--kind", "tls",
                                    NULL });
    assert_not_contains(r.out, "mx2.child.test:25");
    assert_contains(r.out, "smtp://mx3.child.test:25");
    kwres_free(&r);
    r = kw_expect(0, mstate, mconf,
                  (const char *[]){ "show", "mx.child.test", NULL });
    fprintf(stderr, "%s", r.out);
    assert_contains(r.out, "no DANE: no TLSA record");
    assert_not_contains(r.out, "DANE: no DANE-EE");
    kwres_free(&r);
    m = kw_http_get(metrics_port, "/metrics");
    assert_non_null(m);
    assert_string_equal(kw_metrics_health(m, "tls", "mx.child.test"), "ok");
    assert_null(strstr(m, "smtp://mx2.child.test:25"));
    free(m);
    kw_serve_stop(&serve_pid);
    mx_security(mstate, mconf, mdb, mlog, key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serve_dane),
        cmocka_unit_test(test_serve_reload),
        cmocka_unit_test(test_serve_mx),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
