/*
 * The MTA-STS judge (mtasts/mtasts_check.h) on hand-made facts: a good
 * domain is ok with nothing to say; each broken piece gives its finding
 * with the severity its mode makes of it (an MX not covered, a
 * certificate for another name, a redirect, an unchanged id, TLS-RPT
 * missing, the policy host's certificate near expiry); and the store's
 * memory of ids and hashes (keystore/ks_mtasts.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keystore/ks_mtasts.h"
#include "mtasts/mtasts_check.h"
#include "tmpdir.h"

#define NOW INT64_C(1800000000)
#define DAY INT64_C(86400)

static kw_mtasts_facts F;
static kw_mtasts_findings R;

static void good(void)
{
    kw_diag d;
    static const char pol[] = "version: STSv1\nmode: enforce\n"
                              "mx: mx1.example.com\nmx: *.in.example.com\n"
                              "max_age: 604800\n";

    memset(&F, 0, sizeof(F));
    strcpy(F.domain, "example.com");
    strcpy(F.txt.id, "2026120401");
    strcpy(F.url, "https://mta-sts.example.com/.well-known/mta-sts.txt");
    F.fetched = 1;
    F.http_code = 200;
    strcpy(F.content_type, "text/plain; charset=utf-8");
    assert_int_equal(kw_mtasts_policy_parse(pol, strlen(pol), &F.policy, &d),
                     0);
    strcpy(F.policy_sha256, "aa");
    F.host_probed = 1;
    F.host_not_after = NOW + 60 * DAY;
    strcpy(F.host_subject, "CN=mta-sts.example.com");
    F.nmx = 2;
    for (size_t i = 0; i < 2; i++) {
        kw_mtasts_mx *m = &F.mx[i];
        strcpy(m->host, i ? "a.in.example.com" : "mx1.example.com");
        strcpy(m->addr, "192.0.2.1");
        m->resolved = m->probed = m->name_matches = m->verified = 1;
        m->not_after = NOW + 80 * DAY;
        strcpy(m->subject, "CN=mx");
    }
    F.rpt.nrua = 1;
    strcpy(F.rpt.rua[0], "mailto:tls@example.com");
}

/* The finding with code, or fail. */
static const kw_mtasts_find *find(const char *code)
{
    for (size_t i = 0; i < R.n; i++)
        if (strcmp(R.f[i].code, code) == 0)
            return &R.f[i];
    fail_msg("no finding %s (of %zu)", code, R.n);
    return NULL;
}

static void judge(void)
{
    kw_mtasts_judge(&F, NOW, &R);
}

static void test_good(void **state)
{
    (void)state;
    good();
    judge();
    for (size_t i = 0; i < R.n; i++)
        fail_msg("unexpected: %s %s", R.f[i].code, R.f[i].text);
    assert_int_equal(kw_mtasts_worst(&R), KS_HEALTH_OK);
}

static void test_uncovered(void **state)
{
    const kw_mtasts_find *f;

    (void)state;
    good();
    strcpy(F.mx[1].host, "b.c.in.example.com");
    judge();
    f = find("mx.uncovered");
    assert_int_equal(f->severity, KS_HEALTH_CRITICAL);
    assert_string_equal(f->host, "b.c.in.example.com");
    assert_non_null(strstr(f->text, "senders that honour MTA-STS refuse "
                                     "to deliver to b.c.in.example.com"));
    assert_non_null(strstr(f->fix, "mx: b.c.in.example.com"));
    assert_int_equal(R.f[0].severity, KS_HEALTH_CRITICAL);
    /* Testing mode: a warning; none: nothing about MX at all. */
    F.policy.mode = KW_MTASTS_TESTING;
    judge();
    assert_int_equal(find("mx.uncovered")->severity, KS_HEALTH_WARNING);
    assert_int_equal(find("policy.mode")->severity, KS_HEALTH_OK);
    F.policy.mode = KW_MTASTS_NONE;
    judge();
    for (size_t i = 0; i < R.n; i++)
        assert_string_not_equal(R.f[i].code, "mx.uncovered");
    assert_non_null(strstr(find("policy.mode")->text, "mode none"));
}

static void test_mx_certs(void **state)
{
    (void)state;
    good();
    F.mx[0].name_matches = 0;
    F.mx[0].verified = 0;
    judge();
    assert_int_equal(find("mx.cert_name")->severity, KS_HEALTH_CRITICAL);
    good();
    F.mx[0].verified = 0;
    strcpy(F.mx[0].verify_error, "unable to get local issuer certificate");
    judge();
    assert_non_null(strstr(find("mx.cert_invalid")->text, "local issuer"));
    good();
    F.mx[1].probed = 0;
    strcpy(F.mx[1].probe_error, "STARTTLS refused");
    judge();
    assert_int_equal(find("mx.starttls")->severity, KS_HEALTH_CRITICAL);
    good();
    F.mx[1].resolved = 0;
    judge();
    assert_int_equal(find("mx.resolve")->severity, KS_HEALTH_UNKNOWN);
    good();
    F.mx[0].not_after = NOW + 10 * DAY;
    judge();
    assert_int_equal(find("mx.cert_expiry")->severity, KS_HEALTH_WARNING);
    F.mx[0].not_after = NOW - DAY;
    judge();
    assert_int_equal(find("mx.cert_expiry")->severity, KS_HEALTH_CRITICAL);
    good();
    F.mx_status = KW_ETIMEDOUT;
    judge();
    assert_int_equal(find("mx.lookup")->severity, KS_HEALTH_UNKNOWN);
    good();
    F.nmx = 0;
    judge();
    assert_int_equal(find("mx.none")->severity, KS_HEALTH_WARNING);
    good();
    F.mx_unchecked = 3;
    judge();
    assert_non_null(strstr(find("mx.unchecked")->text, "3 more"));
    assert_int_equal(kw_mtasts_worst(&R), KS_HEALTH_UNKNOWN);
}

static void test_fetch(void **state)
{
    const kw_mtasts_find *f;

    (void)state;
    good();
    F.http_code = 301;
    strcpy(F.location, "https://www.example.com/");
    judge();
    f = find("policy.redirect");
    assert_int_equal(f->severity, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(f->text, "HTTP 301 to https://www.example.com/"));
    /* Without a policy the MX are still looked at, as a warning. */
    assert_int_equal(kw_mtasts_worst(&R), KS_HEALTH_CRITICAL);
    good();
    F.http_code = 404;
    judge();
    assert_non_null(strstr(find("policy.http")->text, "HTTP 404"));
    good();
    F.fetched = 0;
    strcpy(F.fetch_error, "Failed to connect to mta-sts.example.com");
    judge();
    f = find("policy.fetch");
    assert_non_null(strstr(f->text, F.url));
    assert_non_null(strstr(f->text, "Failed to connect"));
    good();
    F.policy_status = KW_EPARSE;
    strcpy(F.policy_error, "policy line 2: mode \"x\"");
    judge();
    assert_non_null(strstr(find("policy.invalid")->text, "line 2"));
    good();
    strcpy(F.content_type, "text/html");
    judge();
    assert_int_equal(find("policy.content_type")->severity,
                     KS_HEALTH_WARNING);
    good();
    strcpy(F.content_type, "text/plainx");
    judge();
    find("policy.content_type");
    good();
    F.policy.max_age = 3600;
    judge();
    assert_int_equal(find("policy.max_age")->severity, KS_HEALTH_WARNING);
}

static void test_txt_and_rpt(void **state)
{
    (void)state;
    good();
    F.txt_status = KW_ENOTFOUND;
    F.txt.id[0] = '\0';
    judge();
    assert_int_equal(find("txt.missing")->severity, KS_HEALTH_WARNING);
    assert_string_equal(find("txt.missing")->fix,
                        "publish _mta-sts.example.com. TXT \"v=STSv1; "
                        "id=20270115080000\" (one record)");
    good();
    F.txt_status = KW_EPARSE;
    strcpy(F.txt_error, "2 _mta-sts records start with v=STSv1");
    judge();
    assert_int_equal(find("txt.invalid")->severity, KS_HEALTH_CRITICAL);
    good();
    F.txt_status = KW_ETIMEDOUT;
    judge();
    assert_int_equal(find("txt.lookup")->severity, KS_HEALTH_UNKNOWN);
    good();
    F.rpt_status = KW_ENOTFOUND;
    judge();
    assert_non_null(strstr(find("tlsrpt.missing")->text,
                           "no reports of failed deliveries reach you"));
    assert_int_equal(kw_mtasts_worst(&R), KS_HEALTH_WARNING);
    good();
    F.rpt_status = KW_EPARSE;
    judge();
    assert_int_equal(find("tlsrpt.invalid")->severity, KS_HEALTH_WARNING);
    good();
    F.rpt_status = KW_EIO;
    judge();
    assert_int_equal(find("tlsrpt.lookup")->severity, KS_HEALTH_UNKNOWN);
}

static void test_host_and_id(void **state)
{
    const kw_mtasts_find *f;

    (void)state;
    good();
    F.host_not_after = NOW + 20 * DAY;
    judge();
    assert_int_equal(find("host.cert_expiry")->severity, KS_HEALTH_WARNING);
    F.host_not_after = NOW + 6 * DAY;
    judge();
    assert_int_equal(find("host.cert_expiry")->severity, KS_HEALTH_CRITICAL);
    F.host_not_after = NOW - DAY;
    judge();
    assert_non_null(strstr(find("host.cert_expiry")->text, "expired"));
    good();
    F.host_probed = 0;
    judge();
    assert_int_equal(find("host.probe")->severity, KS_HEALTH_UNKNOWN);
    /* The same id with another body: the warning and an id to publish. */
    good();
    F.seen = 1;
    strcpy(F.seen_id, F.txt.id);
    strcpy(F.seen_sha256, "bb");
    judge();
    f = find("policy.id_unchanged");
    assert_int_equal(f->severity, KS_HEALTH_WARNING);
    assert_non_null(strstr(f->text, "change the id"));
    assert_non_null(strstr(f->fix, "_mta-sts.example.com. TXT \"v=STSv1; "
                                   "id=20270115"));
    strcpy(F.seen_sha256, "aa");
    judge();
    assert_int_equal(R.n, 0);
    strcpy(F.seen_id, "older");
    strcpy(F.seen_sha256, "bb");
    judge();
    assert_int_equal(R.n, 0);
}

static void test_json(void **state)
{
    json_t *j;

    (void)state;
    good();
    strcpy(F.mx[1].host, "z.example.org");
    judge();
    j = kw_mtasts_json(&F, &R);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "health")),
                        "critical");
    assert_string_equal(json_string_value(json_object_get(j, "mode")),
                        "enforce");
    assert_true(json_is_true(json_object_get(
        json_array_get(json_object_get(j, "mx"), 0), "covered")));
    assert_true(json_is_false(json_object_get(
        json_array_get(json_object_get(j, "mx"), 1), "covered")));
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(j, "findings"), 0), "code")),
        "mx.uncovered");
    json_decref(j);
}

static void test_store(void **state)
{
    char dir[256], path[512], id[33], sha[65];
    ks_store *st = NULL;
    kw_diag d;
    int found = 1;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "mtastsstore");
    path_join(path, sizeof(path), dir, "kw.db");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &st, &d), 0);
    assert_int_equal(ks_mtasts_seen_get(st, "example.com", id, sizeof(id),
                                        sha, sizeof(sha), &found, &d),
                     0);
    assert_int_equal(found, 0);
    assert_string_equal(id, "");
    assert_int_equal(ks_mtasts_seen_put(st, "example.com", "1", "aa", NOW,
                                        &d),
                     0);
    assert_int_equal(ks_mtasts_seen_put(st, "example.com", "2", "bb", NOW,
                                        &d),
                     0);
    assert_int_equal(ks_mtasts_seen_put(st, "other.example", "9", "cc", NOW,
                                        &d),
                     0);
    assert_int_equal(ks_mtasts_seen_get(st, "example.com", id, sizeof(id),
                                        sha, sizeof(sha), &found, &d),
                     0);
    assert_int_equal(found, 1);
    assert_string_equal(id, "2");
    assert_string_equal(sha, "bb");
    ks_close(st);
    tmpdir_remove(dir);
}

static void test_gather_refuses(void **state)
{
    kw_mtasts_opts o;
    kw_diag d;

    (void)state;
    /* A name that is not a host name never reaches the network. */
    memset(&o, 0, sizeof(o));
    strcpy(o.resolver.addr, "192.0.2.1");
    o.resolver.port = 53;
    assert_int_equal(kw_mtasts_gather(&o, "a b.example", &F, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "\"a b.example\" is not a mail domain"));
    assert_int_equal(kw_mtasts_gather(&o, "", &F, &d), KW_EINVAL);
    assert_int_equal(kw_mtasts_gather(&o, "x/../y", &F, &d), KW_EINVAL);
}

/* More findings than are kept: the worst stay, and a findings.dropped
 * warning, last, says how many more there were. */
static void test_findings_dropped(void **state)
{
    const kw_mtasts_find *x;

    (void)state;
    good();
    F.nmx = KW_MTASTS_MXS_MAX;
    for (size_t i = 0; i < F.nmx; i++) {
        kw_mtasts_mx *m = &F.mx[i];

        /* Three findings each: not covered, another name, expiring. */
        snprintf(m->host, sizeof(m->host), "mx%zu.other.net", i);
        strcpy(m->addr, "192.0.2.1");
        m->resolved = m->probed = m->verified = 1;
        m->name_matches = 0;
        m->not_after = NOW + 2 * DAY;
        strcpy(m->subject, "CN=mx");
    }
    judge();
    assert_int_equal(R.n, KW_MTASTS_FINDINGS_MAX + 1);
    assert_int_equal(R.dropped, 3 * KW_MTASTS_MXS_MAX -
                                    KW_MTASTS_FINDINGS_MAX);
    x = find("findings.dropped");
    assert_ptr_equal(x, &R.f[R.n - 1]);
    assert_int_equal(x->severity, KS_HEALTH_WARNING);
    assert_non_null(strstr(x->text, "example.com: 16 more findings were "
                                    "not kept"));
    /* The worst were kept: every critical one. */
    assert_int_equal(R.f[KW_MTASTS_FINDINGS_MAX - 1].severity,
                     KS_HEALTH_CRITICAL);
    assert_int_equal(kw_mtasts_worst(&R), KS_HEALTH_CRITICAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),        cmocka_unit_test(test_uncovered),
        cmocka_unit_test(test_mx_certs),    cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_txt_and_rpt), cmocka_unit_test(test_host_and_id),
        cmocka_unit_test(test_json),        cmocka_unit_test(test_store),
        cmocka_unit_test(test_gather_refuses),
        cmocka_unit_test(test_findings_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
