/*
 * test_dnssec_dsneed.c: the ds_needed decision (dnssec_dsneed.h) on
 * hand-made keys and live results, one case per branch, the clock
 * walked across the parent's TTL plus the margin.  The DS of RFC 6605's
 * example key is the reference for the digest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dnssec/dnssec_dsneed.h"

#define NOW 1800000000
#define DAY 86400
#define TTL 600
#define MARGIN 3600

/* RFC 6605 section 6.1: example.net's KSK and its SHA-256 DS. */
#define KEY6605 "257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF" \
                "64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA=="
#define TAG6605 55648
#define DS6605 "example.net. IN DS 55648 13 2 B4C8C1FE2E7477127B27115656AD6" \
               "256F424625BF5C1E2770CE6D6E37DF61D17"

static kw_dnssec_key ksk, old, zsk;
static kw_dnssec_live live;
static kw_dnssec_dsneed_key in[3];
static kw_dnssec_dsneed_out out[3];
static const kw_dnssec_dsneed_params params = { MARGIN, 3 * DAY };

/* The new KSK ready (Knot: active, waits for its DS), the old one active
 * with its DS, a ZSK; the live check sees all three, the DS names the
 * old KSK only, the parent's DS TTL is TTL. */
static int setup(void **st)
{
    (void)st;
    memset(&ksk, 0, sizeof(ksk));
    snprintf(ksk.zone, sizeof(ksk.zone), "example.net");
    ksk.role = KW_DNSSEC_KSK;
    ksk.algorithm = 13;
    ksk.flags = 257;
    ksk.tag = TAG6605;
    snprintf(ksk.dnskey, sizeof(ksk.dnskey), "%s", KEY6605);
    ksk.publish = NOW - 2 * DAY;
    ksk.activate = NOW - DAY;
    ksk.sync_publish = KW_DNSSEC_PENDING;
    old = ksk;
    old.tag = 1111;
    old.publish = NOW - 100 * DAY;
    old.activate = NOW - 99 * DAY;
    old.sync_publish = 0;
    old.inactive = NOW + 10 * DAY;
    zsk = old;
    zsk.role = KW_DNSSEC_ZSK;
    zsk.flags = 256;
    zsk.tag = 2222;
    memset(&live, 0, sizeof(live));
    snprintf(live.zone, sizeof(live.zone), "example.net");
    live.is_signed = live.has_ds = 1;
    live.ds_ttl = TTL;
    live.nkeys = 3;
    live.keys[0] = (kw_dnssec_live_key){ TAG6605, 13, 257, 256, 0, 0, 0, 0 };
    live.keys[1] = (kw_dnssec_live_key){ 1111, 13, 257, 256, 1, 1, 0, 0 };
    live.keys[2] = (kw_dnssec_live_key){ 2222, 13, 256, 256, 0, 0, 0, 0 };
    memset(in, 0, sizeof(in));
    in[0].key = &ksk;
    in[1].key = &old;
    in[2].key = &zsk;
    return 0;
}

static size_t decide(int64_t now)
{
    return kw_dnssec_dsneed_decide(in, 3, &live, &params, now, out);
}

/* The first check marks the key missing; no event, no finding yet. */
static void test_first_seen(void **st)
{
    (void)st;
    assert_int_equal(decide(NOW), 0);
    assert_true(out[0].watched);
    assert_true(out[0].store);
    assert_int_equal(out[0].missing_since, NOW);
    assert_int_equal(out[0].notified_at, 0);
    assert_false(out[0].notify || out[0].finding);
    assert_int_equal(out[0].due, NOW + TTL + MARGIN);
    assert_string_equal(out[0].ds, DS6605);
    /* The old KSK has its DS; the ZSK is not watched. */
    assert_true(out[1].watched);
    assert_false(out[1].store || out[1].finding);
    assert_false(out[2].watched || out[2].store);
}

/* Waiting: one second short of the margin nothing happens; at the due
 * time the event once, the finding from then on. */
static void test_due_once(void **st)
{
    const int64_t due = NOW + TTL + MARGIN;

    (void)st;
    in[0].missing_since = NOW;
    assert_int_equal(decide(due - 1), 0);
    assert_false(out[0].store || out[0].notify || out[0].finding);
    assert_int_equal(decide(due), 1);
    assert_true(out[0].notify && out[0].finding && out[0].store);
    assert_int_equal(out[0].notified_at, due);
    assert_int_equal(out[0].missing_since, NOW);
    assert_int_equal(out[0].severity, KS_HEALTH_WARNING);
    assert_int_equal(out[0].retire_at, old.inactive);
    assert_non_null(strstr(out[0].fix, DS6605));
    assert_non_null(strstr(out[0].text, "no DS at the parent names it"));
    assert_null(strstr(out[0].text, "CDS/CDNSKEY"));
    /* Stored: the next check says it again, without another event. */
    in[0].notified_at = due;
    assert_int_equal(decide(due + 3600), 0);
    assert_false(out[0].notify || out[0].store);
    assert_true(out[0].finding);
}

/* The DS arrives: the bookkeeping clears (a later rollover notifies
 * again); already clear, nothing to store. */
static void test_ds_arrives(void **st)
{
    (void)st;
    in[0].missing_since = NOW;
    in[0].notified_at = NOW + TTL + MARGIN;
    live.keys[0].ds_matched = 1;
    assert_int_equal(decide(NOW + DAY), 0);
    assert_true(out[0].store);
    assert_int_equal(out[0].missing_since, 0);
    assert_int_equal(out[0].notified_at, 0);
    assert_false(out[0].finding);
    in[0].missing_since = in[0].notified_at = 0;
    decide(NOW + DAY);
    assert_false(out[0].store);
}

/* The parent's answer unknown, or the key not heard: the clock stays. */
static void test_unknown_keeps(void **st)
{
    (void)st;
    in[0].missing_since = NOW;
    live.ds_ttl = -1;
    assert_int_equal(decide(NOW + DAY), 0);
    assert_false(out[0].store || out[0].finding || out[0].watched);
    live.ds_ttl = TTL;
    live.nkeys = 1;
    live.keys[0] = live.keys[1]; /* only the old KSK was heard */
    assert_int_equal(decide(NOW + DAY), 0);
    assert_false(out[0].store || out[0].finding);
    assert_int_equal(out[0].missing_since, NOW);
}

/* Without a DS at all (an island, or the DS removed): the negative TTL
 * counts, and the first KSK needs its DS just the same. */
static void test_negative_ttl(void **st)
{
    (void)st;
    live.has_ds = 0;
    live.keys[1].ds_matched = 0;
    live.ds_ttl = 60;
    in[0].missing_since = NOW;
    assert_int_equal(decide(NOW + 60 + MARGIN), 1);
    assert_true(out[0].notify);
    assert_int_equal(out[0].due, NOW + 60 + MARGIN);
    /* The old KSK lost its DS only now: its clock starts. */
    assert_false(out[1].notify);
    assert_int_equal(out[1].missing_since, NOW + 60 + MARGIN);
}

/* The key it replaces retires within crit: critical; already retired:
 * critical too; a retirement beyond crit or unknown: warning. */
static void test_critical_near_retirement(void **st)
{
    const int64_t t = NOW + TTL + MARGIN;

    (void)st;
    in[0].missing_since = NOW;
    old.inactive = t + 2 * DAY;
    decide(t);
    assert_int_equal(out[0].severity, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(out[0].text, "SERVFAIL"));
    old.inactive = 0;
    old.delete_ = t + 4 * DAY;
    decide(t);
    assert_int_equal(out[0].severity, KS_HEALTH_WARNING);
    assert_int_equal(out[0].retire_at, t + 4 * DAY);
    old.delete_ = 0;
    decide(t);
    assert_int_equal(out[0].retire_at, 0);
    assert_int_equal(out[0].severity, KS_HEALTH_WARNING);
    /* BIND: the new key's own activation takes over from the old. */
    ksk.sync_publish = 0;
    ksk.activate = t + DAY;
    ksk.publish = NOW - DAY;
    live.keys[0].signs_dnskey = 0;
    /* Published, not ready yet: not watched, the bookkeeping cleared. */
    decide(t);
    assert_false(out[0].watched);
    assert_true(out[0].store);
    assert_int_equal(out[0].missing_since, 0);
    /* Ready until its sync_publish, which is the old key's end. */
    ksk.activate = NOW - DAY;
    ksk.sync_publish = t + DAY;
    decide(t);
    assert_true(out[0].finding);
    assert_int_equal(out[0].retire_at, t + DAY);
    assert_int_equal(out[0].severity, KS_HEALTH_CRITICAL);
}

/* Active yet not signing the DNSKEY set: not the key resolvers need a DS
 * for; a retired KSK's bookkeeping clears. */
static void test_active_not_signing_and_retired(void **st)
{
    (void)st;
    ksk.sync_publish = 0;   /* active since NOW - DAY */
    in[0].missing_since = NOW;
    decide(NOW + DAY);
    assert_false(out[0].watched || out[0].finding);
    assert_true(out[0].store);
    assert_int_equal(out[0].missing_since, 0);
    /* Signing it beside another signing key that has the DS (a
     * rollover's outgoing key after the DS was replaced): none needed. */
    live.keys[0].signs_dnskey = 1;
    decide(NOW + DAY);
    assert_false(out[0].watched || out[0].finding);
    /* The only signing key: needs its DS. */
    live.keys[1].signs_dnskey = 0;
    decide(NOW + DAY);
    assert_true(out[0].watched && out[0].finding);
    /* Retired: cleared. */
    ksk.inactive = NOW + 1;
    decide(NOW + DAY);
    assert_false(out[0].watched || out[0].finding);
    assert_true(out[0].store);
}

/* CDS/CDNSKEY naming it are reported; the margin is a parameter; a clock
 * before the stored time restarts the count. */
static void test_cds_margin_clock(void **st)
{
    kw_dnssec_dsneed_params p = { 60, 0 };

    (void)st;
    live.keys[0].cdnskey = 1;
    in[0].missing_since = NOW;
    assert_int_equal(kw_dnssec_dsneed_decide(in, 3, &live, &p,
                                             NOW + TTL + 60, out), 1);
    assert_true(out[0].cds_published);
    assert_non_null(strstr(out[0].text, "CDS/CDNSKEY are published"));
    assert_int_equal(kw_dnssec_dsneed_decide(in, 3, &live, NULL,
                                             NOW + TTL + 60, out), 0);
    assert_int_equal(out[0].due, NOW + TTL + KW_DNSSEC_DSNEED_MARGIN);
    in[0].missing_since = NOW + 10;
    in[0].notified_at = NOW + 10;
    decide(NOW);
    assert_int_equal(out[0].missing_since, NOW);
    assert_int_equal(out[0].notified_at, 0);
    assert_true(out[0].store);
}

static void test_ds_record(void **st)
{
    char buf[300];
    kw_diag d;

    (void)st;
    assert_int_equal(kw_dnssec_ds_record("example.net", KEY6605, buf,
                                         sizeof(buf), &d), 0);
    assert_string_equal(buf, DS6605);
    assert_int_equal(kw_dnssec_ds_record("example.net", "257 3 13 !!!",
                                         buf, sizeof(buf), &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "example.net"));
    assert_int_equal(kw_dnssec_ds_record("example.net", KEY6605, buf, 40,
                                         &d), KW_ETOOBIG);
    /* A key that cannot be hashed is said in the DS field, not hidden. */
    snprintf(ksk.dnskey, sizeof(ksk.dnskey), "257 3 13");
    decide(NOW);
    assert_non_null(strstr(out[0].ds, "(none: "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_first_seen, setup),
        cmocka_unit_test_setup(test_due_once, setup),
        cmocka_unit_test_setup(test_ds_arrives, setup),
        cmocka_unit_test_setup(test_unknown_keeps, setup),
        cmocka_unit_test_setup(test_negative_ttl, setup),
        cmocka_unit_test_setup(test_critical_near_retirement, setup),
        cmocka_unit_test_setup(test_active_not_signing_and_retired, setup),
        cmocka_unit_test_setup(test_cds_margin_clock, setup),
        cmocka_unit_test_setup(test_ds_record, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
