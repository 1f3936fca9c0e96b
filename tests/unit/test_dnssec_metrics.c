/*
 * test_dnssec_metrics.c: /metrics for DNSSEC zones and keys: a key's
 * stage as a label, its next transition with its date, a zone's earliest
 * RRSIG expiry once checked, and the health every object has.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keystore/ks_dnssec.h"
#include "service/metrics.h"
#include "tmpdir.h"

#define NOW 1800000000
#define DAY 86400

static void contains(const char *text, const char *want)
{
    if (strstr(text, want) == NULL)
        fail_msg("\"%s\" not in:\n%s", want, text);
}

static void test_metrics(void **state)
{
    char dir[256], path[512], *out = NULL;
    ks_store *st;
    kw_metrics_counters c;
    kw_diag d;
    size_t len = 0;
    ks_dnssec_zone_row z = { "a.test", "knot", "/k.conf:3" };
    ks_dnssec_key_row k[2];
    ks_dnssec_check chk = { 1, 1, NOW + 9 * DAY };
    ks_dnssec_stats sts;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "dnssecmetrics");
    path_join(path, sizeof(path), dir, "k.db");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &st, &d), 0);
    memset(k, 0, sizeof(k));
    k[0] = (ks_dnssec_key_row){ .zone = "a.test", .role = "ZSK", .tag = 7,
                                .algorithm = 13, .bits = 256, .flags = 256,
                                .dnskey = "256 3 13 AAAA",
                                .publish = NOW - 10 * DAY,
                                .activate = NOW - 9 * DAY,
                                .inactive = NOW + 20 * DAY,
                                .signer = "knot", .source = "knot:a.test" };
    /* A KSK waiting for its DS: ready, no date for the next stage. */
    k[1] = k[0];
    k[1].role = "KSK";
    k[1].tag = 8;
    k[1].flags = 257;
    k[1].dnskey = "257 3 13 BBBB";
    k[1].inactive = 0;
    k[1].sync_publish = INT64_MAX;
    assert_int_equal(ks_dnssec_sync(st, &z, 1, k, 2, NULL, 0, NOW, &sts, &d),
                     0);
    memset(&c, 0, sizeof(c));

    assert_int_equal(kw_metrics_render(st, &c, NOW, &out, &len, &d), 0);
    contains(out, "keywarden_dnssec_key_stage{zone=\"a.test\",name=\"a.test/"
                  "ZSK/7\",role=\"ZSK\",tag=\"7\",stage=\"active\"} 1\n");
    contains(out, "keywarden_dnssec_key_stage{zone=\"a.test\",name=\"a.test/"
                  "KSK/8\",role=\"KSK\",tag=\"8\",stage=\"ready\"} 1\n");
    contains(out, "keywarden_dnssec_next_transition_timestamp_seconds{zone="
                  "\"a.test\",name=\"a.test/ZSK/7\",next_stage=\"retired\"} "
                  "1801728000\n");
    assert_null(strstr(out, "next_transition_timestamp_seconds{zone=\"a."
                            "test\",name=\"a.test/KSK/8\""));
    contains(out, "keywarden_object_health{kind=\"dnssec\",name=\"a.test\","
                  "source=\"/k.conf:3\",health=\"unknown\"} 1\n");
    /* Before a check: no RRSIG expiry. */
    assert_null(strstr(out, "keywarden_dnssec_rrsig_expiry_timestamp_seconds"
                            "{"));
    free(out);

    assert_int_equal(ks_dnssec_findings_replace(st, "a.test", NULL, 0, &chk,
                                                NOW, &d),
                     0);
    assert_int_equal(kw_metrics_render(st, &c, NOW, &out, &len, &d), 0);
    contains(out, "keywarden_dnssec_rrsig_expiry_timestamp_seconds{zone="
                  "\"a.test\"} 1800777600\n");
    contains(out, "keywarden_object_health{kind=\"dnssec\",name=\"a.test\","
                  "source=\"/k.conf:3\",health=\"ok\"} 1\n");
    free(out);
    ks_close(st);
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
