/*
 * "Is this certificate due?": kw_renew_decide and the timing rules beside
 * it, walked with the clock passed in (README "When").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "acme/renew_due.h"
#include "common/kw_time.h"

#define NB INT64_C(1700000000)
#define ID "aki.serial"

/* A 90-day certificate issued at NB, covering its names, with an ARI id
 * when id is set. */
static kw_renew_live live90(const char *id)
{
    kw_renew_live l = {1, NB, NB + 90 * KW_DAY, 1, id};

    return l;
}

static kw_renew_decision decide(const ks_managed *m, const kw_renew_live *l,
                                int names_changed, int force, int64_t now)
{
    kw_renew_decision o;

    kw_renew_decide(m, l, names_changed, force, now, &o);
    return o;
}

/* A record that last succeeded at NB and whose ARI answer, for id, is
 * "renew at renew_at, ask again at next_check". */
static ks_managed record(const char *id, int64_t renew_at,
                         int64_t next_check)
{
    ks_managed m;

    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "www");
    m.live_version = 1;
    m.last_ok_at = NB;
    if (id != NULL) {
        snprintf(m.ari_cert_id, sizeof(m.ari_cert_id), "%s", id);
        m.ari_offered = 1;
        m.ari_renew_at = renew_at;
        m.ari_next_check = next_check;
    }
    return m;
}

static void lifetime_rule(void **state)
{
    kw_renew_live l = live90(NULL);
    int64_t due = NB + 60 * KW_DAY;
    kw_renew_decision o;

    (void)state;
    /* One third of 90 days left: day 60. */
    assert_int_equal(kw_renew_due(NB, NB + 90 * KW_DAY), due);
    o = decide(NULL, &l, 0, 0, NB + KW_DAY);
    assert_int_equal(o.verdict, KW_DUE_NOT_YET);
    assert_int_equal(o.due, due);
    assert_int_equal(o.next_at, due);
    assert_int_equal(o.renew_at, due);
    assert_false(o.ari_first);
    o = decide(NULL, &l, 0, 0, due - 1);
    assert_int_equal(o.verdict, KW_DUE_NOT_YET);
    o = decide(NULL, &l, 0, 0, due);
    assert_int_equal(o.verdict, KW_DUE_NOW);
    assert_int_equal(o.reason, KW_WHY_LIFETIME);
    /* Never issued: due at once. */
    l.version = 0;
    o = decide(NULL, &l, 0, 0, NB);
    assert_int_equal(o.verdict, KW_DUE_NOW);
    assert_int_equal(o.reason, KW_WHY_NEVER_ISSUED);
    assert_int_equal(o.due, 0);
}

static void short_lifetimes(void **state)
{
    (void)state;
    /* 10 days or less: half the lifetime left. */
    assert_int_equal(kw_renew_due(NB, NB + 6 * KW_DAY), NB + 3 * KW_DAY);
    assert_int_equal(kw_renew_due(NB, NB + 10 * KW_DAY), NB + 5 * KW_DAY);
    assert_int_equal(kw_renew_due(NB, NB + 6 * KW_HOUR), NB + 3 * KW_HOUR);
    /* Beyond 10 days: a third. */
    assert_int_equal(kw_renew_due(NB, NB + 10 * KW_DAY + 3),
                     NB + 10 * KW_DAY + 3 - (10 * KW_DAY + 3) / 3);
    assert_int_equal(kw_renew_due(NB, NB + 30 * KW_DAY), NB + 20 * KW_DAY);
    /* No lifetime at all (or inverted dates): due from the start. */
    assert_int_equal(kw_renew_due(NB, NB), NB);
    assert_int_equal(kw_renew_due(NB, NB - KW_DAY), NB);
}

static void ari_window(void **state)
{
    kw_renew_live l = live90(ID);
    ks_managed m;
    kw_renew_decision o;
    int64_t now = NB + 10 * KW_DAY;

    (void)state;
    /* No answer yet for this certificate: ask the CA first. */
    o = decide(NULL, &l, 0, 0, now);
    assert_int_equal(o.verdict, KW_DUE_ASK_CA);
    m = record("another.cert", now + KW_DAY, now + KW_HOUR);
    o = decide(&m, &l, 0, 0, now);
    assert_int_equal(o.verdict, KW_DUE_ASK_CA);
    assert_false(o.ari_current);
    /* A current answer, the window ahead and before the lifetime rule:
     * not yet, shown as the window's time, looked at again at the
     * earlier of the window's time and the next check. */
    m = record(ID, now + 5 * KW_DAY, now + 6 * KW_HOUR);
    o = decide(&m, &l, 0, 0, now);
    assert_int_equal(o.verdict, KW_DUE_NOT_YET);
    assert_int_equal(o.renew_at, now + 5 * KW_DAY);
    assert_true(o.ari_first);
    assert_true(o.ari_current);
    assert_true(o.ari_offered);
    assert_int_equal(o.next_at, now + 6 * KW_HOUR);
    m.ari_next_check = now + 9 * KW_DAY;
    assert_int_equal(decide(&m, &l, 0, 0, now).next_at, now + 5 * KW_DAY);
    /* The next check has come: ask again. */
    m.ari_next_check = now;
    assert_int_equal(decide(&m, &l, 0, 0, now).verdict, KW_DUE_ASK_CA);
    /* The time picked in the window has come (a CA planning to revoke
     * moves it into the past): due now, though the lifetime rule is
     * weeks away. */
    m = record(ID, now - KW_HOUR, now + 6 * KW_HOUR);
    o = decide(&m, &l, 0, 0, now);
    assert_int_equal(o.verdict, KW_DUE_NOW);
    assert_int_equal(o.reason, KW_WHY_ARI);
    /* The CA offers no ARI: the lifetime rule alone, until the next
     * check. */
    m = record(ID, 0, now + KW_DAY);
    m.ari_offered = 0;
    o = decide(&m, &l, 0, 0, now);
    assert_int_equal(o.verdict, KW_DUE_NOT_YET);
    assert_int_equal(o.renew_at, NB + 60 * KW_DAY);
    assert_false(o.ari_first);
    assert_false(o.ari_offered);
    assert_int_equal(o.next_at, now + KW_DAY);
    /* A certificate without an ARI id never asks. */
    l.cert_id = NULL;
    assert_int_equal(decide(NULL, &l, 0, 0, now).verdict, KW_DUE_NOT_YET);
}

/* The lifetime rule is the floor: a window later than it, or an answer
 * that says "not yet", never delays a renewal past it, and an expired
 * certificate is due whatever the record says. */
static void emergency_floor(void **state)
{
    kw_renew_live l = live90(ID);
    int64_t due = NB + 60 * KW_DAY;
    ks_managed m = record(ID, due + 20 * KW_DAY, due + KW_DAY);
    kw_renew_decision o;

    (void)state;
    o = decide(&m, &l, 0, 0, due - KW_DAY);
    assert_int_equal(o.verdict, KW_DUE_NOT_YET);
    assert_int_equal(o.renew_at, due);
    assert_int_equal(o.next_at, due);
    assert_false(o.ari_first);
    o = decide(&m, &l, 0, 0, due);
    assert_int_equal(o.verdict, KW_DUE_NOW);
    assert_int_equal(o.reason, KW_WHY_LIFETIME);
    o = decide(&m, &l, 0, 0, NB + 91 * KW_DAY);
    assert_int_equal(o.verdict, KW_DUE_NOW);
    assert_int_equal(o.reason, KW_WHY_LIFETIME);
}

static void names_and_force(void **state)
{
    kw_renew_live l = live90(ID);
    ks_managed m = record(ID, NB + 50 * KW_DAY, NB + 5 * KW_DAY);
    kw_renew_decision o;

    (void)state;
    /* A configured name the live certificate lacks: due now, without
     * asking the CA. */
    l.covers_all = 0;
    o = decide(&m, &l, 0, 0, NB + KW_DAY);
    assert_int_equal(o.verdict, KW_DUE_NOW);
    assert_int_equal(o.reason, KW_WHY_NAMES);
    l.covers_all = 1;
    o = decide(&m, &l, 0, 1, NB + KW_DAY);
    assert_int_equal(o.verdict, KW_DUE_NOW);
    assert_int_equal(o.reason, KW_WHY_FORCED);
    l.version = 0;
    assert_int_equal(decide(NULL, &l, 0, 1, NB).reason, KW_WHY_FORCED);
}

/* Issued less than a day ago and already due: not again before it is a
 * day old. */
static void issued_less_than_a_day_ago(void **state)
{
    kw_renew_live l = {1, NB, NB + 6 * KW_HOUR, 1, NULL};
    ks_managed m = record(NULL, 0, 0);
    kw_renew_decision o;

    (void)state;
    m.last_ok_at = NB + KW_HOUR;
    o = decide(&m, &l, 0, 0, NB + 4 * KW_HOUR);
    assert_int_equal(o.verdict, KW_DUE_TOO_SOON);
    assert_int_equal(o.next_at, NB + KW_HOUR + KW_DAY);
    assert_int_equal(o.due, NB + 3 * KW_HOUR);
    /* A day old: due. */
    o = decide(&m, &l, 0, 0, NB + KW_HOUR + KW_DAY);
    assert_int_equal(o.verdict, KW_DUE_NOW);
    /* A success recorded in the future (a clock set back): no guard. */
    m.last_ok_at = NB + 5 * KW_HOUR;
    assert_int_equal(decide(&m, &l, 0, 0, NB + 4 * KW_HOUR).verdict,
                     KW_DUE_NOW);
    /* Forced, or a name missing: renewed all the same. */
    m.last_ok_at = NB + KW_HOUR;
    assert_int_equal(decide(&m, &l, 0, 1, NB + 4 * KW_HOUR).verdict,
                     KW_DUE_NOW);
    l.covers_all = 0;
    assert_int_equal(decide(&m, &l, 0, 0, NB + 4 * KW_HOUR).verdict,
                     KW_DUE_NOW);
    /* Never succeeded: no guard. */
    l.covers_all = 1;
    m.last_ok_at = 0;
    assert_int_equal(decide(&m, &l, 0, 0, NB + 4 * KW_HOUR).verdict,
                     KW_DUE_NOW);
}

static void failures_retry_time(void **state)
{
    kw_renew_live l = live90(ID);
    int64_t now = NB + 70 * KW_DAY;
    ks_managed m = record(ID, 0, 0);
    kw_renew_decision o;

    (void)state;
    m.failures = 2;
    snprintf(m.last_error, sizeof(m.last_error), "the CA said no");
    m.retry_at = now + KW_HOUR;
    o = decide(&m, &l, 0, 0, now);
    assert_int_equal(o.verdict, KW_DUE_BACKOFF);
    assert_int_equal(o.next_at, now + KW_HOUR);
    /* The retry time has come, the names changed, or forced: due. */
    assert_int_equal(decide(&m, &l, 0, 0, now + KW_HOUR).verdict,
                     KW_DUE_NOW);
    assert_int_equal(decide(&m, &l, 1, 0, now).verdict, KW_DUE_NOW);
    assert_int_equal(decide(&m, &l, 0, 1, now).verdict, KW_DUE_NOW);
    /* Before the lifetime rule's time the CA is asked first; the
     * backoff is looked at only once the certificate is due. */
    assert_int_equal(decide(&m, &l, 0, 0, NB + KW_DAY).verdict,
                     KW_DUE_ASK_CA);
    /* A permanent error blocks, until the names change or --force. */
    m.retry_at = KW_RENEW_BLOCKED;
    o = decide(&m, &l, 0, 0, now + 100 * KW_DAY);
    assert_int_equal(o.verdict, KW_DUE_BLOCKED);
    assert_int_equal(o.next_at, 0);
    assert_int_equal(decide(&m, &l, 1, 0, now).verdict, KW_DUE_NOW);
    assert_int_equal(decide(&m, &l, 0, 1, now).verdict, KW_DUE_NOW);
    /* The backoff holds when the CA's window says renew, too. */
    m = record(ID, now - KW_HOUR, now + KW_HOUR);
    m.failures = 1;
    snprintf(m.last_error, sizeof(m.last_error), "timeout");
    m.retry_at = now + 10 * KW_MINUTE;
    assert_int_equal(decide(&m, &l, 0, 0, NB + KW_DAY).verdict,
                     KW_DUE_NOT_YET);
    m.ari_renew_at = NB + KW_DAY - KW_HOUR;
    m.ari_next_check = NB + KW_DAY + KW_HOUR;
    m.retry_at = NB + KW_DAY + 10 * KW_MINUTE;
    assert_int_equal(decide(&m, &l, 0, 0, NB + KW_DAY).verdict,
                     KW_DUE_BACKOFF);
    m.retry_at = KW_RENEW_BLOCKED;
    assert_int_equal(decide(&m, &l, 0, 0, NB + KW_DAY).verdict,
                     KW_DUE_BLOCKED);
    /* A never-issued certificate backs off as well. */
    l.version = 0;
    m.retry_at = NB + 10 * KW_MINUTE;
    assert_int_equal(decide(&m, &l, 0, 0, NB).verdict, KW_DUE_BACKOFF);
    /* No error text: no backoff (a failure that recorded nothing). */
    m.last_error[0] = '\0';
    assert_int_equal(decide(&m, &l, 0, 0, NB).verdict, KW_DUE_NOW);
}

static void retry_policy(void **state)
{
    int64_t now = NB;
    int keep = -1;

    (void)state;
    /* Transient: backoff, the order kept for the next run. */
    assert_int_equal(kw_renew_retry_at(ACME_FAIL_TRANSIENT, 1, 0, now, 0,
                                       &keep),
                     now + 5 * KW_MINUTE);
    assert_int_equal(keep, 1);
    /* Validation: backoff, the order dropped. */
    assert_int_equal(kw_renew_retry_at(ACME_FAIL_VALIDATION, 3, 0, now, 0,
                                       &keep),
                     now + 20 * KW_MINUTE);
    assert_int_equal(keep, 0);
    /* rateLimited: the CA's Retry-After, an hour without one. */
    assert_int_equal(kw_renew_retry_at(ACME_FAIL_RATELIMIT, 1, 7200, now,
                                       0.5, &keep),
                     now + 7200);
    assert_int_equal(kw_renew_retry_at(ACME_FAIL_RATELIMIT, 1, 0, now, 0.5,
                                       &keep),
                     now + KW_HOUR);
    assert_int_equal(keep, 0);
    /* Permanent: blocked. */
    assert_int_equal(kw_renew_retry_at(ACME_FAIL_PERMANENT, 1, 0, now, 0,
                                       &keep),
                     KW_RENEW_BLOCKED);
    assert_int_equal(keep, 0);
}

/* Every random draw stays in its bounds, at both ends. */
static void jitter_bounds(void **state)
{
    static const double js[] = {0, 0.25, 0.5, 0.999999};
    int f;
    size_t i;

    (void)state;
    for (f = 1; f <= 40; f++) {
        int64_t base = kw_renew_backoff(f, 0);

        assert_true(base >= 5 * KW_MINUTE);
        assert_true(base <= KW_DAY);
        if (f > 1 && base < KW_DAY)
            assert_int_equal(base, 2 * kw_renew_backoff(f - 1, 0));
        for (i = 0; i < sizeof(js) / sizeof(js[0]); i++) {
            int64_t b = kw_renew_backoff(f, js[i]);

            assert_true(b >= base);
            assert_true(b < base + base / 10 + 1);
        }
    }
    assert_int_equal(kw_renew_backoff(0, 0), 5 * KW_MINUTE);
    assert_int_equal(kw_renew_backoff(1000000, 0), KW_DAY);
    /* A time in [start, end), whatever u is. */
    assert_int_equal(acme_ari_pick(NB, NB + KW_DAY, 0), NB);
    assert_true(acme_ari_pick(NB, NB + KW_DAY, 0.999999) < NB + KW_DAY);
    assert_true(acme_ari_pick(NB, NB + KW_DAY, 1.0) < NB + KW_DAY);
    assert_true(acme_ari_pick(NB, NB + KW_DAY, 7.0) >= NB);
    assert_int_equal(acme_ari_pick(NB, NB + KW_DAY, -3.0), NB);
    assert_int_equal(acme_ari_pick(NB, NB + KW_DAY, 0.5), NB + KW_DAY / 2);
    /* An empty or inverted window: its start. */
    assert_int_equal(acme_ari_pick(NB, NB, 0.5), NB);
    assert_int_equal(acme_ari_pick(NB, NB - KW_DAY, 0.5), NB);
}

static void ari_plan(void **state)
{
    acme_ari_result a;
    int64_t at, next;

    (void)state;
    memset(&a, 0, sizeof(a));
    a.ok = a.offered = 1;
    a.start = NB + 30 * KW_DAY;
    a.end = NB + 31 * KW_DAY;
    a.retry_after = 21600;
    kw_renew_ari_plan(&a, NB, 0.5, &at, &next);
    assert_int_equal(at, NB + 30 * KW_DAY + KW_DAY / 2);
    assert_int_equal(next, NB + 21600);
    /* Retry-After kept between an hour and a day; 6 h unsaid. */
    a.retry_after = 60;
    kw_renew_ari_plan(&a, NB, 0, &at, &next);
    assert_int_equal(next, NB + KW_HOUR);
    a.retry_after = 9 * KW_DAY;
    kw_renew_ari_plan(&a, NB, 0, &at, &next);
    assert_int_equal(next, NB + KW_DAY);
    a.retry_after = -1;
    kw_renew_ari_plan(&a, NB, 0, &at, &next);
    assert_int_equal(next, NB + 6 * KW_HOUR);
    /* No ARI at this CA: asked again in a day; an error: in an hour. */
    a.offered = 0;
    kw_renew_ari_plan(&a, NB, 0.5, &at, &next);
    assert_int_equal(at, 0);
    assert_int_equal(next, NB + KW_DAY);
    a.ok = 0;
    kw_renew_ari_plan(&a, NB, 0.5, &at, &next);
    assert_int_equal(at, 0);
    assert_int_equal(next, NB + KW_HOUR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lifetime_rule),
        cmocka_unit_test(short_lifetimes),
        cmocka_unit_test(ari_window),
        cmocka_unit_test(emergency_floor),
        cmocka_unit_test(names_and_force),
        cmocka_unit_test(issued_less_than_a_day_ago),
        cmocka_unit_test(failures_retry_time),
        cmocka_unit_test(retry_policy),
        cmocka_unit_test(jitter_bounds),
        cmocka_unit_test(ari_plan),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
