/*
 * Health rules: a pure function of the facts and a fixed clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/kw_time.h"
#include "keystore/ks_health.h"

#define NOW INT64_C(1795651200) /* 2026-11-26T00:00:00Z */

static ks_thresholds T;

static ks_tls_facts base(int64_t not_after)
{
    ks_tls_facts f;

    memset(&f, 0, sizeof(f));
    f.state = "ok";
    f.has_validity = 1;
    f.not_before = NOW - 30 * KW_DAY;
    f.not_after = not_after;
    f.deadline = not_after;
    f.arrangement = "single";
    return f;
}

static ks_verdict eval(const ks_tls_facts *f)
{
    ks_verdict v;

    ks_health_tls(f, NOW, &T, &v);
    return v;
}

#define assert_verdict(f, want, fragment)                                   \
    do {                                                                    \
        ks_verdict v_ = eval(&(f));                                         \
        if (v_.health != (want) || strstr(v_.reason, (fragment)) == NULL)   \
            fail_msg("got %s \"%s\", want %s \"%s\"",                     \
                     ks_health_word(v_.health), v_.reason,                  \
                     ks_health_word(want), (fragment));                     \
    } while (0)

static void expiry_thresholds(void **state)
{
    ks_tls_facts f;

    (void)state;
    f = base(NOW + 60 * KW_DAY);
    assert_verdict(f, KS_HEALTH_OK, "");
    f = base(NOW + 21 * KW_DAY); /* exactly at --warn: not yet warning */
    assert_verdict(f, KS_HEALTH_OK, "");
    f = base(NOW + 21 * KW_DAY - 1);
    assert_verdict(f, KS_HEALTH_WARNING, "expires in 20d 23h");
    f = base(NOW + 7 * KW_DAY - 1);
    assert_verdict(f, KS_HEALTH_CRITICAL, "expires in 6d 23h");
    f = base(NOW);
    assert_verdict(f, KS_HEALTH_CRITICAL, "expired 0s ago");
    f = base(NOW - 3 * KW_DAY);
    assert_verdict(f, KS_HEALTH_CRITICAL,
                   "expired 3d 0h ago (2026-11-23T00:00:00Z)");
}

static void custom_thresholds(void **state)
{
    ks_tls_facts f = base(NOW + 40 * KW_DAY);
    ks_thresholds t = {.warn = 45 * KW_DAY, .crit = 30 * KW_DAY};
    ks_verdict v;

    (void)state;
    ks_health_tls(&f, NOW, &t, &v);
    assert_int_equal(v.health, KS_HEALTH_WARNING);
    t.crit = 41 * KW_DAY;
    ks_health_tls(&f, NOW, &t, &v);
    assert_int_equal(v.health, KS_HEALTH_CRITICAL);
}

static void chain_element_before_leaf(void **state)
{
    ks_tls_facts f = base(NOW + 80 * KW_DAY);

    (void)state;
    f.weak_name = "Issuing CA R0";
    f.weak_not_after = NOW + 15 * KW_DAY;
    f.deadline = f.weak_not_after;
    f.arrangement = "chain";
    /* Within --warn: the expiry finding names the element. */
    assert_verdict(f, KS_HEALTH_WARNING, "chain element \"Issuing CA R0\"");
    /* Far away: still a warning, because it expires before the leaf. */
    f.weak_not_after = NOW + 50 * KW_DAY;
    f.deadline = f.weak_not_after;
    assert_verdict(f, KS_HEALTH_WARNING, "before the certificate");
    /* Expired intermediate: critical. */
    f.weak_not_after = NOW - KW_DAY;
    f.deadline = f.weak_not_after;
    assert_verdict(f, KS_HEALTH_CRITICAL,
                   "chain element \"Issuing CA R0\" expired");
}

static void not_yet_valid_and_unordered(void **state)
{
    ks_tls_facts f = base(NOW + 80 * KW_DAY);

    (void)state;
    f.not_before = NOW + KW_HOUR;
    assert_verdict(f, KS_HEALTH_WARNING, "not valid until");
    f = base(NOW + 80 * KW_DAY);
    f.arrangement = "unordered";
    assert_verdict(f, KS_HEALTH_WARNING, "out of order");
}

static void private_keys(void **state)
{
    ks_tls_facts f = base(NOW + 80 * KW_DAY);
    ks_verdict v;

    (void)state;
    f.key_state = "match";
    f.key_path = "/etc/ssl/private/a.key";
    f.key_mode = 0600;
    assert_verdict(f, KS_HEALTH_OK, "");
    f.key_mode = 0640;
    assert_verdict(f, KS_HEALTH_OK, "");
    f.key_mode = 0644;
    assert_verdict(f, KS_HEALTH_CRITICAL, "world-readable (mode 0644)");
    v = eval(&f);
    assert_string_equal(v.findings[0].fix, "chmod o-rwx /etc/ssl/private/a.key");
    f.key_mode = 0600;
    f.key_state = "mismatch";
    assert_verdict(f, KS_HEALTH_CRITICAL, "does not match");
    f.key_state = "encrypted";
    assert_verdict(f, KS_HEALTH_UNKNOWN, "encrypted");
}

static void source_states(void **state)
{
    ks_tls_facts f = base(NOW - 100 * KW_DAY);

    (void)state;
    f.state = "unreadable";
    f.error = "PEM block 1: bad base64";
    assert_verdict(f, KS_HEALTH_UNKNOWN, "unreadable: PEM block 1");
    f.state = "missing";
    f.updated_at = NOW - KW_DAY;
    assert_verdict(f, KS_HEALTH_WARNING, "missing since 2026-11-25");
    f = base(0);
    f.has_validity = 0;
    assert_verdict(f, KS_HEALTH_UNKNOWN, "no validity");
}

/* A file a daemon's configuration names (discover): missing, or holding
 * no certificate, stops the daemon; one keywarden may not open is still
 * unknown, since the daemon may read what this user cannot. */
static void daemon_files(void **state)
{
    ks_tls_facts f = base(NOW + 60 * KW_DAY);

    (void)state;
    f.used_by = "dovecot: /etc/dovecot/conf.d/10-ssl.conf line 12 "
                "(ssl_cert)";
    assert_verdict(f, KS_HEALTH_OK, ""); /* usage alone changes nothing */
    f.state = "missing";
    assert_verdict(f, KS_HEALTH_CRITICAL,
                   "named by dovecot: /etc/dovecot/conf.d/10-ssl.conf line "
                   "12 (ssl_cert): the daemon will not start or reload");
    f.state = "unreadable";
    f.error = "no PEM block and not DER: not a certificate";
    assert_verdict(f, KS_HEALTH_CRITICAL,
                   "not a certificate; named by dovecot");
    f.error = KS_ERR_CANNOT_OPEN "Permission denied";
    assert_verdict(f, KS_HEALTH_UNKNOWN,
                   "cannot open: Permission denied; named by dovecot");
}

static void hidden_objects_are_ok(void **state)
{
    ks_tls_facts f = base(NOW - 100 * KW_DAY);

    (void)state;
    f.superseded_by = 42;
    assert_verdict(f, KS_HEALTH_OK, "superseded by object 42");
    f = base(NOW - 100 * KW_DAY);
    f.idle_anchor = 1;
    assert_verdict(f, KS_HEALTH_OK, "trust anchor, expired");
}

static void worst_finding_wins(void **state)
{
    ks_tls_facts f = base(NOW + 10 * KW_DAY); /* warning */
    ks_verdict v;

    (void)state;
    f.key_state = "encrypted"; /* unknown outranks warning */
    f.key_path = "k";
    v = eval(&f);
    assert_int_equal(v.health, KS_HEALTH_UNKNOWN);
    assert_int_equal(v.nfindings, 2);
    f.key_mode = 0604; /* critical outranks both */
    v = eval(&f);
    assert_int_equal(v.health, KS_HEALTH_CRITICAL);
    assert_int_equal(v.nfindings, 3);
}

static void walk_a_lifetime(void **state)
{
    /* A 90-day certificate checked every hour of its life: health only
     * ever gets worse, and flips exactly at the thresholds. */
    ks_tls_facts f = base(NOW + 90 * KW_DAY);
    int64_t t;
    int last = 0;
    ks_verdict v;

    (void)state;
    f.not_before = NOW;
    for (t = NOW; t <= NOW + 91 * KW_DAY; t += KW_HOUR) {
        ks_health_tls(&f, t, &T, &v);
        assert_true(ks_health_rank(v.health) >= last);
        last = ks_health_rank(v.health);
        if (t < NOW + 69 * KW_DAY)
            assert_int_equal(v.health, KS_HEALTH_OK);
        else if (t > NOW + 69 * KW_DAY && t < NOW + 83 * KW_DAY)
            assert_int_equal(v.health, KS_HEALTH_WARNING);
        else if (t > NOW + 83 * KW_DAY)
            assert_int_equal(v.health, KS_HEALTH_CRITICAL);
    }
}

/* Extreme clocks and validity periods: no overflow (UBSan), and a
 * certificate long expired is never ok because a difference wrapped. */
static void extreme_times(void **state)
{
    static const int64_t clocks[] = {INT64_MIN, KW_TIME_MIN, 0, NOW,
                                     KW_TIME_MAX, INT64_MAX};
    ks_tls_facts f;
    ks_verdict v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
        int64_t now = clocks[i];

        /* Expired in year 0: critical from any later clock. */
        f = base(KW_TIME_MIN);
        f.not_before = KW_TIME_MIN;
        ks_health_tls(&f, now, &T, &v);
        if (now > KW_TIME_MIN && (v.health != KS_HEALTH_CRITICAL ||
                                  strstr(v.reason, "expired") == NULL))
            fail_msg("clock %lld: year-0 certificate is %s \"%s\"",
                     (long long)now, ks_health_word(v.health), v.reason);
        f = base(INT64_MIN);
        ks_health_tls(&f, now, &T, &v);
        if (now > INT64_MIN && v.health != KS_HEALTH_CRITICAL)
            fail_msg("clock %lld: INT64_MIN deadline is %s \"%s\"",
                     (long long)now, ks_health_word(v.health), v.reason);
        /* Valid until 9999: ok from any clock before the last weeks. */
        f = base(KW_TIME_MAX);
        f.not_before = INT64_MIN;
        ks_health_tls(&f, now, &T, &v);
        if (now < KW_TIME_MAX - T.warn && v.health != KS_HEALTH_OK)
            fail_msg("clock %lld: 9999 certificate is %s \"%s\"",
                     (long long)now, ks_health_word(v.health), v.reason);
        if (now > KW_TIME_MAX && v.health != KS_HEALTH_CRITICAL)
            fail_msg("clock %lld: 9999 certificate is %s \"%s\"",
                     (long long)now, ks_health_word(v.health), v.reason);
    }
}

static void words(void **state)
{
    (void)state;
    assert_string_equal(ks_health_word(KS_HEALTH_UNKNOWN), "unknown");
    assert_int_equal(ks_health_parse("critical"), KS_HEALTH_CRITICAL);
    assert_int_equal(ks_health_parse("bad"), -1);
    assert_true(ks_health_rank(KS_HEALTH_UNKNOWN) >
                ks_health_rank(KS_HEALTH_WARNING));
    assert_true(ks_health_rank(KS_HEALTH_CRITICAL) >
                ks_health_rank(KS_HEALTH_UNKNOWN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(expiry_thresholds),
        cmocka_unit_test(custom_thresholds),
        cmocka_unit_test(chain_element_before_leaf),
        cmocka_unit_test(not_yet_valid_and_unordered),
        cmocka_unit_test(private_keys),
        cmocka_unit_test(source_states),
        cmocka_unit_test(daemon_files),
        cmocka_unit_test(hidden_objects_are_ok),
        cmocka_unit_test(worst_finding_wins),
        cmocka_unit_test(walk_a_lifetime),
        cmocka_unit_test(extreme_times),
        cmocka_unit_test(words),
    };
    ks_thresholds_default(&T);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
