/*
 * test_dnssec_watch.c: one zone's live result recorded in a real store
 * (dnssec_watch.h): the ds_needed bookkeeping kept between checks, one
 * dnssec.ds_needed event with its document, the ds.needed finding, the
 * zone's health.changed on each move and only then, the DS arriving
 * clearing it all, a zone not in the inventory refused; and where to ask
 * from [dnssec] and [zone].
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

#include "dnssec/dnssec_watch.h"
#include "keystore/ks_store_int.h"
#include "tmpdir.h"

#define NOW 1800000000
#define DAY 86400
#define TTL 600

/* RFC 6605 section 6.1: example.net's KSK and its SHA-256 DS. */
#define KEY6605 "257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF" \
                "64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA=="
#define DS6605 "example.net. IN DS 55648 13 2 B4C8C1FE2E7477127B27115656AD6" \
               "256F424625BF5C1E2770CE6D6E37DF61D17"

static char dir[256];
static ks_store *st;
static kw_dnssec_live live;
static kw_dnssec_watch_out out;

static int setup(void **state)
{
    char path[512];
    kw_diag d;
    ks_dnssec_zone_row z = { "example.net", "knot", "knot.conf:3" };
    ks_dnssec_key_row k[2] = {
        { "example.net", "KSK", 55648, 13, 256, 257, KEY6605, NOW - 2 * DAY,
          NOW - 2 * DAY, NOW - DAY, 0, 0, INT64_MAX, 0, "knot",
          "knot:example.net" },
        { "example.net", "KSK", 1111, 13, 256, 257, "257 3 13 AAAA",
          NOW - 99 * DAY, NOW - 99 * DAY, NOW - 98 * DAY, 0, 0, 0, 0,
          "knot", "knot:example.net" },
    };
    ks_dnssec_stats s;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "dnssecwatch");
    path_join(path, sizeof(path), dir, "k.db");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &st, &d), 0);
    assert_int_equal(ks_dnssec_sync(st, &z, 1, k, 2, NULL, 0, NOW, &s, &d),
                     0);
    memset(&live, 0, sizeof(live));
    snprintf(live.zone, sizeof(live.zone), "example.net");
    live.is_signed = live.has_ds = 1;
    live.ds_ttl = TTL;
    live.nkeys = 2;
    live.keys[0] = (kw_dnssec_live_key){ 55648, 13, 257, 256, 1, 0, 1, 1 };
    live.keys[1] = (kw_dnssec_live_key){ 1111, 13, 257, 256, 1, 1, 0, 0 };
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ks_close(st);
    tmpdir_remove(dir);
    return 0;
}

static int64_t count(const char *sql)
{
    int64_t v = -1;
    kw_diag d;

    assert_int_equal(ks_value(st, &d, "test", &v, NULL, sql, ""), 0);
    return v;
}

static void record(int64_t now)
{
    kw_diag d = {{0}};

    assert_int_equal(kw_dnssec_watch_record(st, NULL, "example.net", &live,
                                            now, &out, &d), 0);
}

static void test_ds_needed_once(void **state)
{
    const int64_t due = NOW + TTL + KW_DNSSEC_DSNEED_MARGIN;
    json_t *doc;
    char *text = NULL;
    sqlite3_stmt *q = NULL;

    (void)state;
    record(NOW);
    assert_int_equal(out.nkeys, 2);
    assert_int_equal(out.health, KS_HEALTH_OK);
    assert_int_equal(out.nevents, 0);
    assert_false(out.health_changed);
    assert_int_equal(out.next_due, due);
    assert_int_equal(count("SELECT ds_missing_since FROM dnssec_keys "
                           "WHERE tag = 55648"), NOW);
    /* Before due nothing; at due the event, the finding, the change. */
    record(due - 1);
    assert_int_equal(out.nevents, 0);
    record(due);
    assert_int_equal(out.nevents, 1);
    assert_int_equal(out.nneed, 1);
    assert_int_equal(out.health, KS_HEALTH_WARNING);
    assert_true(out.health_changed);
    assert_int_equal(count("SELECT count(*) FROM dnssec_findings WHERE "
                           "code = 'ds.needed' AND tag = 55648"), 1);
    assert_int_equal(sqlite3_prepare_v2(ks_db(st), "SELECT detail FROM "
                                        "events WHERE type = "
                                        "'dnssec.ds_needed'", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    text = strdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    doc = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "zone")),
                        "example.net");
    assert_string_equal(json_string_value(json_object_get(doc, "object")),
                        "example.net/KSK/55648");
    assert_int_equal(json_integer_value(json_object_get(doc, "key_tag")),
                     55648);
    assert_int_equal(json_integer_value(json_object_get(doc, "algorithm")),
                     13);
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(doc, "ds_records"), 0)), DS6605);
    assert_true(json_is_true(json_object_get(doc, "cds_published")));
    json_decref(doc);
    assert_int_equal(count("SELECT count(*) FROM events WHERE type = "
                           "'health.changed' AND json_extract(detail, "
                           "'$.to') = 'warning'"), 1);
    /* Again: the finding stays, no second event, no change. */
    record(due + 60);
    assert_int_equal(out.nevents, 0);
    assert_false(out.health_changed);
    assert_int_equal(out.health, KS_HEALTH_WARNING);
    assert_int_equal(count("SELECT count(*) FROM events WHERE type = "
                           "'dnssec.ds_needed'"), 1);
    /* The DS arrives: cleared, back to ok, one change. */
    live.keys[0].ds_matched = 1;
    record(due + 120);
    assert_int_equal(out.health, KS_HEALTH_OK);
    assert_true(out.health_changed);
    assert_int_equal(count("SELECT count(*) FROM dnssec_findings"), 0);
    assert_int_equal(count("SELECT count(*) FROM dnssec_keys WHERE "
                           "ds_missing_since != 0 OR ds_notified_at != 0"),
                     0);
    assert_int_equal(count("SELECT count(*) FROM events WHERE type = "
                           "'health.changed'"), 2);
}

static void test_not_in_inventory(void **state)
{
    kw_diag d = {{0}};

    (void)state;
    assert_int_equal(kw_dnssec_watch_record(st, NULL, "other.example",
                                            &live, NOW, &out, &d),
                     KW_ENOTFOUND);
    assert_non_null(strstr(d.msg, "other.example"));
}

/* A zone with more keys than the bound: the ones past it are not
 * checked, and a keys.unchecked warning names the zone and the count. */
static void test_keys_past_bound(void **state)
{
    enum { NK = KW_DNSSEC_WATCH_KEYS_MAX + 8 };
    ks_dnssec_zone_row z = { "example.net", "knot", "knot.conf:3" };
    ks_dnssec_key_row k[NK];
    ks_dnssec_stats s;
    sqlite3_stmt *q = NULL;
    kw_diag d = {{0}};
    size_t i;

    (void)state;
    for (i = 0; i < NK; i++)
        k[i] = (ks_dnssec_key_row){ "example.net", "ZSK", 2000 + (unsigned)i,
                                    13, 256, 256, "256 3 13 AAAA",
                                    NOW - DAY, NOW - DAY, NOW - DAY, 0, 0, 0,
                                    0, "knot", "knot:example.net" };
    assert_int_equal(ks_dnssec_sync(st, &z, 1, k, NK, NULL, 0, NOW, &s, &d),
                     0);
    live.nkeys = 0;
    record(NOW);
    assert_int_equal(out.nkeys, KW_DNSSEC_WATCH_KEYS_MAX);
    assert_int_equal(out.nunchecked, 8);
    assert_int_equal(out.health, KS_HEALTH_WARNING);
    assert_int_equal(sqlite3_prepare_v2(ks_db(st), "SELECT severity, text "
                                        "FROM dnssec_findings WHERE code = "
                                        "'keys.unchecked'", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "warning");
    assert_non_null(strstr((const char *)sqlite3_column_text(q, 1),
                           "zone example.net has 40 keys"));
    assert_non_null(strstr((const char *)sqlite3_column_text(q, 1),
                           "only the first 32 were checked"));
    sqlite3_finalize(q);
}

static void test_where(void **state)
{
    kw_dnssec_params p;
    kw_dnssec_where_buf wb;
    char *servers[] = { (char *)"192.0.2.1", (char *)"192.0.2.2:5300" };
    kw_dnssec_zone_conf zc = { (char *)"example.net", servers, 2,
                               (char *)"192.0.2.9:53", 7 };
    kw_diag d = {{0}};

    (void)state;
    kw_dnssec_params_defaults(&p);
    p.resolver = (char *)"127.0.0.1:5353";
    p.dns_port = 5400;
    p.zones = &zc;
    p.nzones = 1;
    assert_int_equal(kw_dnssec_watch_where(&p, "example.net", &wb, &d), 0);
    assert_int_equal(wb.w.nservers, 2);
    assert_int_equal(wb.servers[0].port, 5400);
    assert_int_equal(wb.servers[1].port, 5300);
    assert_non_null(wb.w.ds_server);
    assert_string_equal(wb.ds_server.addr, "192.0.2.9");
    assert_int_equal(wb.resolver.port, 5353);
    /* Another zone: the resolver and the port only. */
    assert_int_equal(kw_dnssec_watch_where(&p, "other.example", &wb, &d), 0);
    assert_null(wb.w.servers);
    assert_null(wb.w.ds_server);
    assert_int_equal(wb.w.port, 5400);
    /* A bad address is named with its section. */
    servers[1] = (char *)"not an address";
    assert_int_equal(kw_dnssec_watch_where(&p, "example.net", &wb, &d) != 0,
                     1);
    assert_non_null(strstr(d.msg, "[zone \"example.net\"] servers"));
    /* More servers than a check asks: refused, never cut in silence. */
    {
        char *many[KW_DNSSEC_SERVERS_MAX + 1];
        size_t i;

        for (i = 0; i < KW_DNSSEC_SERVERS_MAX + 1; i++)
            many[i] = (char *)"192.0.2.1";
        zc.servers = many;
        zc.nservers = KW_DNSSEC_SERVERS_MAX + 1;
        assert_int_equal(kw_dnssec_watch_where(&p, "example.net", &wb, &d),
                         KW_ETOOBIG);
        assert_non_null(strstr(d.msg, "[zone \"example.net\"] servers: 17 "
                                      "servers, but a check asks at most "
                                      "16"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ds_needed_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_not_in_inventory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keys_past_bound, setup,
                                        teardown),
        cmocka_unit_test(test_where),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
