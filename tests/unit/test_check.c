/*
 * Live checks' findings on inventory objects (keystore/ks_check.h): the
 * DANE check's findings on an SMTP endpoint, replaced per run, read back
 * through the inventory into the endpoint's verdict (the one list, show,
 * check, --json and /metrics share), and health.changed only when the
 * endpoint's DANE health moves; the DANE rollover's findings on a managed
 * certificate's live file, through the full and the brief listing, and
 * pruned with the certificate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/x509.h>

#include "keystore/ks_check.h"
#include "keystore/ks_endpoint.h"
#include "keystore/ks_inventory.h"
#include "keystore/ks_store_int.h"
#include "testpki.h"
#include "tmpdir.h"

#define NOW 1800000000

static char g_dir[256];

static int setup(void **state)
{
    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "check");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove(g_dir);
    return 0;
}

static int64_t count_changed(ks_store *s, int64_t id)
{
    int64_t n = -1;

    assert_int_equal(ks_value(s, NULL, "counting", &n, NULL,
                              "SELECT count(*) FROM events WHERE object_id "
                              "= ?1 AND type = 'health.changed'",
                              "i", id),
                     0);
    return n;
}

/* An endpoint "mx" probed at NOW, serving a certificate good for 90
 * days; its object's id. */
static int64_t probed_endpoint(ks_store *s)
{
    const char *dns[] = {"mx.test", NULL};
    EVP_PKEY *k = tp_key_ec();
    tp_spec sp = {.cn = "mx.test", .dns = dns, .not_before = NOW - 86400,
                  .not_after = NOW + 90 * 86400, .serial = 7, .key = k};
    X509 *x = tp_cert(&sp);
    size_t len = 0;
    unsigned char *der = tp_der(x, &len);
    ks_cert c;
    ks_probe_obs o = {.name = "mx", .host = "127.0.0.1", .port = 25,
                      .sni = "mx.test", .starttls = "smtp",
                      .origin = "config", .ok = 1, .tls_version = "TLSv1.3",
                      .name_matches = 1, .chain = &c, .nchain = 1};
    int64_t id = 0, stale = 0;
    kw_diag d;

    assert_int_equal(ks_cert_decode(der, len, 0, &c, NULL, &d), 0);
    assert_int_equal(ks_endpoint_record(s, &o, NOW, &id, &stale, &d), 0);
    ks_cert_clear(&c);
    free(der);
    X509_free(x);
    EVP_PKEY_free(k);
    return id;
}

static int take(void *ctx, const ks_object *o)
{
    ks_verdict *v = ctx;
    ks_thresholds t;

    ks_thresholds_default(&t);
    ks_health_tls(&o->facts, NOW, &t, v);
    return 0;
}

static void verdict_of(ks_store *s, int64_t id, ks_verdict *v)
{
    ks_filter f = {0};
    kw_diag d;

    memset(v, 0, sizeof(*v));
    v->health = KS_HEALTH_UNKNOWN;
    f.id = id;
    assert_int_equal(ks_inventory_each(s, &f, take, v, &d), 0);
}

static void dane_findings_make_the_endpoint_critical(void **state)
{
    char path[512];
    ks_store *s;
    kw_diag d;
    ks_verdict v;
    ks_health h;
    int changed = -1;
    int64_t id, other;
    const char *fix = "publish _25._tcp.mx.test. IN TLSA 3 1 1 ab12";
    ks_check_finding bad[] = {
        {KS_HEALTH_CRITICAL, "dane.nomatch",
         "no TLSA record matches what 127.0.0.1 serves: DANE senders defer "
         "all mail to this host", fix, "_25._tcp.mx.test"},
        {KS_HEALTH_OK, "dane.dnssec", "the TLSA RRset is secure", "", NULL},
    };
    ks_check_finding good[] = {
        {KS_HEALTH_OK, "dane.ok", "a TLSA record matches", "", NULL},
    };

    (void)state;
    path_join(path, sizeof(path), g_dir, "k.db");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &s, &d), 0);
    id = probed_endpoint(s);
    assert_true(id > 0);
    verdict_of(s, id, &v);
    assert_int_equal(v.health, KS_HEALTH_OK);

    assert_int_equal(ks_check_endpoint_object(s, "mx", &other, &d), 0);
    assert_int_equal(other, id);
    assert_int_equal(ks_check_endpoint_object(s, "nope", &other, &d),
                     KW_ENOTFOUND);
    assert_non_null(strstr(d.msg, "nope"));

    /* A record for another key: critical, with the record to publish. */
    assert_int_equal(ks_check_record(s, id, "dane", "mx", bad, 2, NOW, &h,
                                     &changed, &d), 0);
    assert_int_equal(h, KS_HEALTH_CRITICAL);
    assert_int_equal(changed, 1);
    assert_int_equal(count_changed(s, id), 1);
    {
        int64_t ep = 0;

        /* Hooks with kinds = endpoint see it, as the probe's events. */
        assert_int_equal(ks_value(s, NULL, "kind", &ep, NULL,
                                  "SELECT count(*) FROM events WHERE type = "
                                  "'health.changed' AND json_extract(detail, "
                                  "'$.kind') = 'endpoint' AND "
                                  "json_extract(detail, '$.checker') = "
                                  "'dane'", ""), 0);
        assert_int_equal(ep, 1);
    }
    verdict_of(s, id, &v);
    assert_int_equal(v.health, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(v.reason, "DANE: no TLSA record matches"));
    {
        size_t i, seen = 0;

        for (i = 0; i < v.nfindings; i++)
            if (strcmp(v.findings[i].fix, fix) == 0)
                seen++;
        assert_int_equal(seen, 1);
        /* The ok finding is not listed as a problem. */
        for (i = 0; i < v.nfindings; i++)
            assert_null(strstr(v.findings[i].text, "is secure"));
    }

    /* The same again: no event. */
    assert_int_equal(ks_check_record(s, id, "dane", "mx", bad, 2, NOW + 60,
                                     &h, &changed, &d), 0);
    assert_int_equal(changed, 0);
    assert_int_equal(count_changed(s, id), 1);

    /* Fixed: the findings are replaced, ok again, one more event. */
    assert_int_equal(ks_check_record(s, id, "dane", "mx", good, 1, NOW + 120,
                                     &h, &changed, &d), 0);
    assert_int_equal(h, KS_HEALTH_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(count_changed(s, id), 2);
    verdict_of(s, id, &v);
    assert_int_equal(v.health, KS_HEALTH_OK);

    /* Pruning keeps the endpoints still checked, forgets the others. */
    assert_int_equal(ks_check_record(s, id, "dane", "mx", bad, 2, NOW + 180,
                                     &h, &changed, &d), 0);
    assert_int_equal(ks_check_prune(s, "dane", (const char *[]){ "mx" }, 1,
                                    &d), 0);
    verdict_of(s, id, &v);
    assert_int_equal(v.health, KS_HEALTH_CRITICAL);
    assert_int_equal(ks_check_prune(s, "dane",
                                    (const char *[]){ "other" }, 1, &d), 0);
    verdict_of(s, id, &v);
    assert_int_equal(v.health, KS_HEALTH_OK);
    {
        int64_t left = -1;

        assert_int_equal(ks_value(s, NULL, "counting", &left, NULL,
                                  "SELECT (SELECT count(*) FROM checks) + "
                                  "(SELECT count(*) FROM check_findings)",
                                  ""), 0);
        assert_int_equal(left, 0);
    }

    /* An object that left the inventory is named, nothing recorded. */
    assert_int_equal(ks_check_record(s, id + 1000, "dane", "gone", bad, 1,
                                     NOW, &h, &changed, &d), KW_ENOTFOUND);
    assert_non_null(strstr(d.msg, "gone"));
    ks_close(s);
}

/* The verdict and kind of the object of kind named name, by listing. */
typedef struct by_name {
    const char *name;
    int found;
    ks_verdict v;
} by_name;

static int take_named(void *ctx, const ks_object *o)
{
    by_name *b = ctx;
    ks_thresholds t;

    if (strcmp(o->name, b->name) != 0)
        return 0;
    ks_thresholds_default(&t);
    ks_health_tls(&o->facts, NOW, &t, &b->v);
    b->found = 1;
    return 0;
}

static by_name listed(ks_store *s, const char *name)
{
    ks_filter f = {0};
    by_name b;
    kw_diag d;

    memset(&b, 0, sizeof(b));
    b.name = name;
    f.kind = "mta-sts";
    assert_int_equal(ks_inventory_each(s, &f, take_named, &b, &d), 0);
    return b;
}

/* Mail domains as objects of kind mta-sts (schema 16 widens the kind):
 * unknown until checked, then their findings' worst, with the fix; a
 * domain no longer configured goes. */
static void mtasts_domains_are_objects(void **state)
{
    char path[512];
    ks_store *s;
    kw_diag d;
    ks_health h;
    int changed = -1;
    int64_t id;
    by_name b;
    const char *two[] = {"example.com", "other.example"};
    ks_check_finding uncovered[] = {
        {KS_HEALTH_CRITICAL, "mx.uncovered",
         "no mx: line of the policy matches mx2.example.com",
         "add \"mx: mx2.example.com\" to the policy and a new id", NULL},
    };

    (void)state;
    path_join(path, sizeof(path), g_dir, "m.db");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &s, &d), 0);
    assert_int_equal(ks_check_sync_kind(s, "mta-sts", two, 2, "[mta-sts]",
                                        NOW, &d), 0);
    b = listed(s, "example.com");
    assert_true(b.found);
    assert_int_equal(b.v.health, KS_HEALTH_UNKNOWN);
    assert_non_null(strstr(b.v.reason, "not checked yet"));

    assert_int_equal(ks_check_object(s, "mta-sts", "example.com", &id, &d),
                     0);
    assert_int_equal(ks_check_record(s, id, "mta-sts", "example.com",
                                     uncovered, 1, NOW, &h, &changed, &d),
                     0);
    assert_int_equal(changed, 1);
    b = listed(s, "example.com");
    assert_int_equal(b.v.health, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(b.v.reason, "MTA-STS: no mx: line"));
    assert_non_null(strstr(b.v.findings[0].fix, "mx: mx2.example.com"));
    assert_int_equal(ks_value(s, NULL, "kind", &id, NULL,
                              "SELECT count(*) FROM events WHERE type = "
                              "'health.changed' AND json_extract(detail, "
                              "'$.kind') = 'mta-sts'", ""), 0);
    assert_int_equal(id, 1);
    /* Checked without findings: ok. */
    assert_int_equal(ks_check_object(s, "mta-sts", "example.com", &id, &d),
                     0);
    assert_int_equal(ks_check_record(s, id, "mta-sts", "example.com", NULL,
                                     0, NOW + 60, &h, &changed, &d), 0);
    assert_int_equal(listed(s, "example.com").v.health, KS_HEALTH_OK);

    /* other.example left the configuration. */
    assert_int_equal(ks_check_sync_kind(s, "mta-sts", two, 1, "[mta-sts]",
                                        NOW, &d), 0);
    assert_false(listed(s, "other.example").found);
    assert_true(listed(s, "example.com").found);
    assert_int_equal(ks_check_object(s, "mta-sts", "other.example", &id,
                                     &d), KW_ENOTFOUND);
    ks_close(s);
}

/* A managed certificate's live file with the DANE rollover's finding:
 * found by its certificates row, warning through the full and the brief
 * listing (check, /metrics read the brief one), pruned when the
 * certificate is no longer rolled. */
static void rollover_findings_on_a_certificate(void **state)
{
    char db[512], fix[] = "reload the server";
    ks_check_finding f = {KS_HEALTH_WARNING, "dane.roll",
                          "stopped at ready: the reload did not happen", fix,
                          NULL};
    ks_verdict v;
    ks_filter flt = {0};
    ks_health h;
    ks_store *s;
    kw_diag d;
    int64_t id = 0;
    int changed;

    (void)state;
    path_join(db, sizeof(db), g_dir, "cert.db");
    assert_int_equal(ks_open(db, KS_OPEN_CREATE, &s, &d), 0);
    assert_int_equal(ks_check_cert_object(s, "mx", &id, &d), KW_ENOTFOUND);
    /* The live file and its chain (same leaf), and an unrelated one. */
    assert_int_equal(ks_run(s, &d, "t", "INSERT INTO objects (kind, name, "
                            "source, fingerprint, not_before, not_after, "
                            "deadline, created_at, updated_at) VALUES "
                            "('tls', 'mx.test', '/c/live/mx/fullchain.pem', "
                            "'ab', ?1, ?2, ?2, ?1, ?1), ('tls', 'mx.test', "
                            "'/c/live/mx/cert.pem', 'ab', ?1, ?2, ?2, ?1, "
                            "?1), ('tls', 'www.test', '/c/live/www/cert.pem', "
                            "'cd', ?1, ?2, ?2, ?1, ?1)",
                            "ii", (int64_t)NOW - 86400,
                            (int64_t)NOW + 90 * 86400), 0);
    assert_int_equal(ks_run(s, &d, "t", "INSERT INTO certificates (name, "
                            "live_version, fingerprint, created_at, "
                            "updated_at) VALUES ('mx', 1, 'ab', ?1, ?1)",
                            "i", (int64_t)NOW), 0);
    assert_int_equal(ks_check_cert_object(s, "mx", &id, &d), 0);
    assert_int_equal(id, 2); /* cert.pem before fullchain.pem */
    assert_int_equal(ks_check_record(s, id, "dane-roll", "mx", &f, 1, NOW,
                                     &h, &changed, &d), 0);
    assert_int_equal(h, KS_HEALTH_WARNING);
    assert_int_equal(changed, 1);
    verdict_of(s, id, &v);
    assert_int_equal(v.health, KS_HEALTH_WARNING);
    assert_non_null(strstr(v.reason, "DANE rollover: stopped at ready"));
    memset(&v, 0, sizeof(v));
    flt.id = id;
    flt.brief = 1;
    assert_int_equal(ks_inventory_each(s, &flt, take, &v, &d), 0);
    assert_int_equal(v.health, KS_HEALTH_WARNING);
    verdict_of(s, 3, &v);
    assert_int_equal(v.health, KS_HEALTH_OK);
    /* Kept while mx is rolled; forgotten when it is not. */
    assert_int_equal(ks_check_prune_certs(s, "dane-roll",
                                          (const char *[]){"mx"}, 1, &d), 0);
    verdict_of(s, id, &v);
    assert_int_equal(v.health, KS_HEALTH_WARNING);
    assert_int_equal(ks_check_prune_certs(s, "dane-roll", NULL, 0, &d), 0);
    verdict_of(s, id, &v);
    assert_int_equal(v.health, KS_HEALTH_OK);
    ks_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            dane_findings_make_the_endpoint_critical, setup, teardown),
        cmocka_unit_test_setup_teardown(mtasts_domains_are_objects, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rollover_findings_on_a_certificate,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
