/*
 * test_dnssec_store.c: DNSSEC zones and keys in the inventory: sync
 * (first seen kept, vanished objects removed, a signer that could not be
 * read keeps its objects, a new DNSKEY under an old name is a new key),
 * findings replaced per check, the ds_needed bookkeeping, and the
 * schema's version read from ks_migration_count.
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
#include "keystore/ks_inventory.h"
#include "keystore/ks_schema.h"
#include "keystore/ks_store_int.h"
#include "tmpdir.h"

#define NOW 1800000000
#define DAY 86400

static char dir[256];
static ks_store *st;

static int setup(void **state)
{
    char path[512];
    kw_diag d;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "dnssecstore");
    path_join(path, sizeof(path), dir, "k.db");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &st, &d), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ks_close(st);
    tmpdir_remove(dir);
    return 0;
}

static ks_dnssec_key_row key(const char *zone, const char *role,
                             unsigned tag, const char *dnskey,
                             const char *signer)
{
    ks_dnssec_key_row k;

    memset(&k, 0, sizeof(k));
    k.zone = zone;
    k.role = role;
    k.tag = tag;
    k.algorithm = 13;
    k.bits = 256;
    k.flags = strcmp(role, "ZSK") == 0 ? 256 : 257;
    k.dnskey = dnskey;
    k.publish = NOW - 10 * DAY;
    k.activate = NOW - 9 * DAY;
    k.signer = signer;
    k.source = "knot:x";
    return k;
}

typedef struct keys_seen {
    char name[8][128];
    int64_t first[8], missing[8], notified[8], publish[8];
    size_t n;
} keys_seen;

static int collect_key(void *ctx, const ks_dnssec_key *k)
{
    keys_seen *s = ctx;

    if (s->n < 8) {
        snprintf(s->name[s->n], sizeof(s->name[0]), "%s", k->name);
        s->first[s->n] = k->first_seen;
        s->missing[s->n] = k->ds_missing_since;
        s->notified[s->n] = k->ds_notified_at;
        s->publish[s->n] = k->publish;
    }
    s->n++;
    return 0;
}

static keys_seen keys_of(const char *zone)
{
    keys_seen s;
    kw_diag d;

    memset(&s, 0, sizeof(s));
    assert_int_equal(ks_dnssec_keys_each(st, zone, collect_key, &s, &d), 0);
    return s;
}

typedef struct zones_seen {
    char zone[8][64], signer[8][16];
    int64_t checked[8], expiry[8];
    int is_signed[8], has_ds[8];
    size_t n;
} zones_seen;

static int collect_zone(void *ctx, const ks_dnssec_zone *z)
{
    zones_seen *s = ctx;

    if (s->n < 8) {
        snprintf(s->zone[s->n], sizeof(s->zone[0]), "%s", z->zone);
        snprintf(s->signer[s->n], sizeof(s->signer[0]), "%s", z->signer);
        s->checked[s->n] = z->checked_at;
        s->expiry[s->n] = z->next_expiry;
        s->is_signed[s->n] = z->is_signed;
        s->has_ds[s->n] = z->has_ds;
    }
    s->n++;
    return 0;
}

static zones_seen zones(void)
{
    zones_seen s;
    kw_diag d;

    memset(&s, 0, sizeof(s));
    assert_int_equal(ks_dnssec_zones_each(st, collect_zone, &s, &d), 0);
    return s;
}

static int64_t count(const char *sql)
{
    int64_t n = -1;
    kw_diag d;

    assert_int_equal(ks_value(st, &d, "counting", &n, NULL, sql, ""), 0);
    return n;
}

static void test_sync(void **state)
{
    ks_dnssec_zone_row z[3] = {
        { "a.test", "knot", "/etc/knot/knot.conf:12" },
        { "b.test", "bind", "/etc/bind/named.conf:3" },
        { "w.test", "", "/etc/keywarden.conf:40" },
    };
    ks_dnssec_key_row k[3];
    ks_dnssec_stats sts;
    keys_seen ks;
    zones_seen zs;
    kw_diag d;

    (void)state;
    k[0] = key("a.test", "KSK", 100, "257 3 13 AAAA", "knot");
    k[1] = key("a.test", "ZSK", 200, "256 3 13 BBBB", "knot");
    k[2] = key("b.test", "CSK", 300, "257 3 13 CCCC", "bind");
    assert_int_equal(ks_dnssec_sync(st, z, 3, k, 3, NULL, 0, NOW, &sts, &d),
                     0);
    assert_int_equal(sts.added, 6);
    assert_int_equal(sts.zones, 3);
    assert_int_equal(sts.keys, 3);
    assert_int_equal(count("SELECT count(*) FROM objects WHERE kind = "
                           "'dnssec'"),
                     6);
    ks = keys_of("a.test");
    assert_int_equal(ks.n, 2);
    assert_string_equal(ks.name[0], "a.test/KSK/100");
    assert_string_equal(ks.name[1], "a.test/ZSK/200");
    assert_int_equal(keys_of(NULL).n, 3);
    zs = zones();
    assert_int_equal(zs.n, 3);
    assert_string_equal(zs.zone[2], "w.test");
    assert_string_equal(zs.signer[2], "");
    assert_int_equal(zs.checked[0], 0);

    /* Later: the ZSK retimed (changed, first seen kept), b.test's key
     * gone (removed), nothing else changed. */
    k[1].inactive = NOW + DAY;
    assert_int_equal(ks_dnssec_sync(st, z, 3, k, 2, NULL, 0, NOW + 3600,
                                    &sts, &d),
                     0);
    assert_int_equal(sts.added, 0);
    assert_int_equal(sts.changed, 1);
    assert_int_equal(sts.removed, 1);
    ks = keys_of(NULL);
    assert_int_equal(ks.n, 2);
    assert_int_equal(ks.first[1], NOW);

    /* Knot could not be read: its zone and keys are kept; bind's zone
     * is not in the list and its signer was read: removed. */
    assert_int_equal(ks_dnssec_sync(st, &z[2], 1, NULL, 0,
                                    (const char *const[]){ "knot" }, 1,
                                    NOW + 7200, &sts, &d),
                     0);
    assert_int_equal(sts.kept, 3);
    assert_int_equal(sts.removed, 1);
    zs = zones();
    assert_int_equal(zs.n, 2);
    assert_string_equal(zs.zone[0], "a.test");
    assert_int_equal(keys_of("a.test").n, 2);

    /* Nothing kept: everything but the watched zone goes. */
    assert_int_equal(ks_dnssec_sync(st, &z[2], 1, NULL, 0, NULL, 0,
                                    NOW + 9000, &sts, &d),
                     0);
    assert_int_equal(sts.removed, 3);
    assert_int_equal(count("SELECT count(*) FROM objects WHERE kind = "
                           "'dnssec'"),
                     1);
}

static void test_findings_and_ds(void **state)
{
    ks_dnssec_zone_row z = { "a.test", "knot", "/k.conf:1" };
    ks_dnssec_key_row k = key("a.test", "KSK", 100, "257 3 13 AAAA", "knot");
    ks_dnssec_finding f[2] = {
        { KS_HEALTH_WARNING, "rrsig.expiring", "RRSIG expires soon",
          "re-sign", "127.0.0.1:53", "a.test. SOA", 0 },
        { KS_HEALTH_CRITICAL, "ds.mismatch", "no DS matches", "submit",
          NULL, "a.test. DS", 100 },
    };
    ks_dnssec_check c = { 1, 1, NOW + 5 * DAY };
    ks_dnssec_stats sts;
    keys_seen ks;
    zones_seen zs;
    kw_diag d;

    (void)state;
    assert_int_equal(ks_dnssec_sync(st, &z, 1, &k, 1, NULL, 0, NOW, &sts, &d),
                     0);
    assert_int_equal(ks_dnssec_findings_replace(st, "nope.test", f, 2, &c,
                                                NOW, &d),
                     KW_ENOTFOUND);
    assert_non_null(strstr(d.msg, "nope.test"));
    assert_int_equal(ks_dnssec_findings_replace(st, "a.test", f, 2, &c,
                                                NOW + 60, &d),
                     0);
    assert_int_equal(count("SELECT count(*) FROM dnssec_findings WHERE tag "
                           "= 100 AND server IS NULL AND record = "
                           "'a.test. DS'"),
                     1);
    zs = zones();
    assert_int_equal(zs.checked[0], NOW + 60);
    assert_int_equal(zs.is_signed[0], 1);
    assert_int_equal(zs.has_ds[0], 1);
    assert_int_equal(zs.expiry[0], NOW + 5 * DAY);
    /* Replaced as a whole. */
    assert_int_equal(ks_dnssec_findings_replace(st, "a.test", f, 1, &c,
                                                NOW + 120, &d),
                     0);
    assert_int_equal(count("SELECT count(*) FROM dnssec_findings"), 1);

    /* ds_needed bookkeeping: set, kept across a rescan, cleared with
     * its notification. */
    assert_int_equal(ks_dnssec_ds_mark(st, "a.test", 100, NOW, NOW + 10, &d),
                     0);
    assert_int_equal(ks_dnssec_ds_mark(st, "a.test", 999, NOW, 0, &d),
                     KW_ENOTFOUND);
    assert_int_equal(ks_dnssec_sync(st, &z, 1, &k, 1, NULL, 0, NOW + 200,
                                    &sts, &d),
                     0);
    ks = keys_of("a.test");
    assert_int_equal(ks.missing[0], NOW);
    assert_int_equal(ks.notified[0], NOW + 10);
    assert_int_equal(ks_dnssec_ds_mark(st, "a.test", 100, 0, NOW + 20, &d),
                     0);
    ks = keys_of("a.test");
    assert_int_equal(ks.missing[0], 0);
    assert_int_equal(ks.notified[0], 0);

    /* Another DNSKEY under the same name (a tag collision after a new
     * key): a new key, its history starts again. */
    assert_int_equal(ks_dnssec_ds_mark(st, "a.test", 100, NOW, NOW, &d), 0);
    k.dnskey = "257 3 13 DDDD";
    assert_int_equal(ks_dnssec_sync(st, &z, 1, &k, 1, NULL, 0, NOW + 300,
                                    &sts, &d),
                     0);
    assert_int_equal(sts.added, 1);
    ks = keys_of("a.test");
    assert_int_equal(ks.n, 1);
    assert_int_equal(ks.first[0], NOW + 300);
    assert_int_equal(ks.missing[0], 0);
    /* The zone's findings survive a rescan of the zone... */
    assert_int_equal(count("SELECT count(*) FROM dnssec_findings"), 1);
    /* ... and go with it. */
    assert_int_equal(ks_dnssec_sync(st, NULL, 0, NULL, 0, NULL, 0, NOW + 400,
                                    &sts, &d),
                     0);
    assert_int_equal(count("SELECT count(*) FROM dnssec_findings"), 0);
    assert_int_equal(count("SELECT count(*) FROM dnssec_keys"), 0);
}

/* The verdicts `list`, `show` and `check` compute, read back through the
 * inventory as they read it. */
typedef struct verdicts {
    char name[8][128];
    ks_verdict v[8];
    int stage[8];
    size_t n;
} verdicts;

static int collect_verdict(void *ctx, const ks_object *o)
{
    verdicts *vs = ctx;

    if (strcmp(o->kind, "dnssec") != 0 || vs->n >= 8)
        return 0;
    assert_true(o->facts.is_dnssec == 1 || o->facts.is_dnssec == 2);
    snprintf(vs->name[vs->n], sizeof(vs->name[0]), "%s", o->name);
    ks_health_tls(&o->facts, NOW, NULL, &vs->v[vs->n]);
    vs->stage[vs->n] = o->facts.is_dnssec == 2
                           ? ks_dnssec_stage(&o->facts.dnssec_timing, NOW,
                                             NULL, NULL)
                           : 0;
    vs->n++;
    return 0;
}

static const ks_verdict *verdict(verdicts *vs, const char *name, int brief,
                                 int *stage)
{
    ks_filter f;
    kw_diag d;
    size_t i;

    memset(&f, 0, sizeof(f));
    memset(vs, 0, sizeof(*vs));
    f.brief = brief;
    assert_int_equal(ks_inventory_each(st, &f, collect_verdict, vs, &d), 0);
    for (i = 0; i < vs->n; i++)
        if (strcmp(vs->name[i], name) == 0) {
            if (stage != NULL)
                *stage = vs->stage[i];
            return &vs->v[i];
        }
    fail_msg("%s is not in the inventory", name);
    return NULL;
}

static int has_finding(const ks_verdict *v, ks_health h, const char *words,
                       const char *fix)
{
    size_t i;

    for (i = 0; i < v->nfindings; i++)
        if (v->findings[i].health == h &&
            strstr(v->findings[i].text, words) != NULL &&
            (fix == NULL || strstr(v->findings[i].fix, fix) != NULL))
            return 1;
    return 0;
}

static void test_health(void **state)
{
    ks_dnssec_zone_row z[2] = {
        { "a.test", "knot", "/k.conf:1" },
        { "b.test", "bind", "/n.conf:1" },
    };
    ks_dnssec_key_row k[4];
    ks_dnssec_finding f[2] = {
        { KS_HEALTH_CRITICAL, "ds.mismatch", "no DS matches this key",
          "submit the DS", NULL, "a.test. DS", 100 },
        { KS_HEALTH_WARNING, "rrsig.expiring", "RRSIG expires in 2 days",
          "re-sign", "127.0.0.1:53", "a.test. SOA", 0 },
    };
    ks_dnssec_check c = { 1, 0, NOW + 2 * DAY };
    ks_dnssec_stats sts;
    const ks_verdict *v;
    verdicts vs;
    kw_diag d;
    int stage = 0;

    (void)state;
    /* A Knot KSK ready, waiting for its DS (sync_publish pending). */
    k[0] = key("a.test", "KSK", 100, "257 3 13 AAAA", "knot");
    k[0].sync_publish = KS_DNSSEC_PENDING;
    /* An RSA 1024 ZSK, active. */
    k[1] = key("a.test", "ZSK", 200, "256 3 8 BBBB", "knot");
    k[1].algorithm = 8;
    k[1].bits = 1024;
    /* Knot said remove two days ago, and still lists it. */
    k[2] = key("a.test", "ZSK", 300, "256 3 13 CCCC", "knot");
    k[2].inactive = NOW - 5 * DAY;
    k[2].delete_ = NOW - 2 * DAY;
    /* BIND keeps a removed key's files: no such warning; RSASHA1. */
    k[3] = key("b.test", "CSK", 400, "257 3 5 DDDD", "bind");
    k[3].algorithm = 5;
    k[3].bits = 2048;
    k[3].delete_ = NOW - 2 * DAY;
    k[3].inactive = NOW - 3 * DAY;
    assert_int_equal(ks_dnssec_sync(st, z, 2, k, 4, NULL, 0, NOW, &sts, &d),
                     0);

    /* Zones never checked: unknown, with what to run. */
    v = verdict(&vs, "a.test", 1, NULL);
    assert_int_equal(v->health, KS_HEALTH_UNKNOWN);
    assert_string_equal(v->reason, "not checked yet");
    assert_true(has_finding(v, KS_HEALTH_UNKNOWN, "not checked yet",
                            "keywarden dnssec check a.test"));
    v = verdict(&vs, "a.test/KSK/100", 1, &stage);
    assert_int_equal(stage, KS_DNSSEC_ST_READY);
    assert_int_equal(v->health, KS_HEALTH_OK);
    v = verdict(&vs, "a.test/ZSK/200", 1, &stage);
    assert_int_equal(stage, KS_DNSSEC_ST_ACTIVE);
    assert_int_equal(v->health, KS_HEALTH_WARNING);
    assert_true(has_finding(v, KS_HEALTH_WARNING, "RSA with 1024 bits",
                            NULL));
    v = verdict(&vs, "a.test/ZSK/300", 0, &stage);
    assert_int_equal(stage, KS_DNSSEC_ST_REMOVED);
    assert_true(has_finding(v, KS_HEALTH_WARNING, "the signer has not "
                            "acted: is it running?", "knotc zone-status"));
    v = verdict(&vs, "b.test/CSK/400", 0, &stage);
    assert_int_equal(stage, KS_DNSSEC_ST_REMOVED);
    assert_int_equal(v->health, KS_HEALTH_OK); /* retired: alg moot */

    /* Checked: the zone takes the worst of its findings; the key the
     * ones that name its tag, with the record and the server. */
    assert_int_equal(ks_dnssec_findings_replace(st, "a.test", f, 2, &c, NOW,
                                                &d),
                     0);
    v = verdict(&vs, "a.test", 1, NULL);
    assert_int_equal(v->health, KS_HEALTH_CRITICAL);
    assert_string_equal(v->reason, "a.test. DS: no DS matches this key");
    assert_true(has_finding(v, KS_HEALTH_WARNING, "a.test. SOA: RRSIG "
                            "expires in 2 days (127.0.0.1:53)", "re-sign"));
    v = verdict(&vs, "a.test/KSK/100", 1, NULL);
    assert_int_equal(v->health, KS_HEALTH_CRITICAL);
    assert_int_equal(v->nfindings, 1);
    v = verdict(&vs, "a.test/ZSK/200", 1, NULL);
    assert_int_equal(v->health, KS_HEALTH_WARNING);

    /* A KSK seen ready without a DS: what to submit. */
    assert_int_equal(ks_dnssec_findings_replace(st, "a.test", NULL, 0, &c,
                                                NOW, &d),
                     0);
    assert_int_equal(ks_dnssec_ds_mark(st, "a.test", 100, NOW - DAY, 0, &d),
                     0);
    v = verdict(&vs, "a.test/KSK/100", 1, NULL);
    assert_int_equal(v->health, KS_HEALTH_WARNING);
    assert_true(has_finding(v, KS_HEALTH_WARNING, "no DS at the parent for "
                            "this key since 2027-01-14",
                            "keywarden dnssec ds a.test"));
    v = verdict(&vs, "a.test", 1, NULL);
    assert_int_equal(v->health, KS_HEALTH_OK);
}

static void test_schema_version(void **state)
{
    int64_t v = 0;
    kw_diag d;

    (void)state;
    assert_int_equal(ks_value(st, &d, "version", &v, NULL,
                              "PRAGMA user_version", ""),
                     0);
    assert_int_equal(v, ks_migration_count);
    assert_int_equal(count("SELECT count(*) FROM sqlite_master WHERE name "
                           "IN ('dnssec_zones', 'dnssec_keys', "
                           "'dnssec_findings')"),
                     3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_findings_and_ds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_version, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
