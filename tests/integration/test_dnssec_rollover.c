/*
 * test_dnssec_rollover.c: a KSK rollover whose DS nobody submits, seen by
 * keywarden the way the dnssec-check job sees it, against real servers.
 *
 * The bed (dnssec_bed.h): Knot signs test. (one CSK) and child.test.
 * (KSK and ZSK, automatic key management), child's DS in test., and a
 * validating unbound with test.'s KSK as trust anchor judges.  The
 * inventory gets child.test.'s keys from Knot's KASP (keymgr), as the
 * scan records them.  `knotc zone-key-rollover child.test. ksk` makes a
 * new KSK that becomes ready and waits for its DS; `keywarden dnssec
 * check` (the stored path: every zone of the inventory, recorded) on a
 * pinned clock marks it missing, says nothing until the parent's DS TTL
 * and the margin have passed, then records dnssec.ds_needed exactly once
 * with the DS to submit, which `dnssec ds` prints too.  That DS, put in
 * test. alone (the old one removed), makes unbound validate child.test.
 * (so it names the key that signs), and the next check clears the
 * finding.  Faults: a parent server that never answers (the check says
 * so, no event), one that answers garbage (likewise).
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
#include <ctype.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "dnssec/dnssec_knot.h"
#include "keystore/ks_dnssec.h"
#include "dnssec_bed.h"
#include "knot.h"
#include "kwrun.h"
#include "proc.h"

/* dnssec_dsneed.h's margin: the test holds the product to it. */
#define MARGIN 3600
#define DS_TTL 10

static char state[700], conf[700], db[800];
static int64_t t_ready; /* the pinned clock of the first check after the
                           new KSK became ready */

/* The inventory holds exactly child.test.'s keys as keymgr lists them
 * now (what keywarden scan records from knot.conf). */
static void sync_inventory(void)
{
    static kw_dnssec_key keys[KW_DNSSEC_KNOT_MAX_KEYS];
    kw_dnssec_knot_opts o = { KEYMGR, bed.pconf, 20000 };
    ks_dnssec_key_row rows[KW_DNSSEC_KNOT_MAX_KEYS];
    ks_dnssec_zone_row z = { "child.test", "knot", "knot.conf:1" };
    char roles[KW_DNSSEC_KNOT_MAX_KEYS][8];
    ks_dnssec_stats st;
    ks_store *s = NULL;
    kw_diag d = {{0}};
    size_t n = 0, i, k;

    assert_int_equal(kw_dnssec_knot_list(&o, "child.test", keys,
                                         KW_DNSSEC_KNOT_MAX_KEYS, &n, &d), 0);
    for (i = 0; i < n; i++) {
        const char *r = kw_dnssec_role_name(keys[i].role);

        for (k = 0; r[k] != '\0' && k < 7; k++)
            roles[i][k] = (char)toupper((unsigned char)r[k]);
        roles[i][k] = '\0';
        rows[i] = (ks_dnssec_key_row){
            "child.test", roles[i], keys[i].tag, keys[i].algorithm,
            keys[i].bits, keys[i].flags, keys[i].dnskey, keys[i].created,
            keys[i].publish, keys[i].activate, keys[i].inactive,
            keys[i].delete_, keys[i].sync_publish, keys[i].sync_delete,
            "knot", "knot:child.test" };
    }
    assert_int_equal(ks_open(db, KS_OPEN_CREATE, &s, &d), 0);
    assert_int_equal(ks_dnssec_sync(s, &z, 1, rows, n, NULL, 0, time(NULL),
                                    &st, &d), 0);
    ks_close(s);
}

static int64_t sql_int(const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* The detail of the only dnssec.ds_needed event, parsed (NULL: none). */
static json_t *ds_needed_event(void)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    json_t *doc = NULL;

    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT detail FROM events WHERE "
                                        "type = 'dnssec.ds_needed'",
                                        -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        doc = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return doc;
}

static int64_t events_ds_needed(void)
{
    return sql_int("SELECT count(*) FROM events WHERE type = "
                   "'dnssec.ds_needed'");
}

/* keywarden.conf: the resolver and the NS addresses' port are the bed's;
 * the DS is asked of ds_port; knot_conf and keymgr name the bed's, so a
 * scan reads the same keys sync_inventory records. */
static void write_conf(int ds_port)
{
    write_text(conf,
               "[daemon]\nmetrics_listen = off\n"
               "[dnssec]\nresolver = 127.0.0.1:%d\ndns_port = %d\n"
               "knot_conf = %s\nkeymgr = %s\n"
               "[zone \"child.test\"]\nds_server = 127.0.0.1:%d\n",
               bed.port, bed.port, bed.pconf, KEYMGR, ds_port);
}

/* The same without the [zone] section: the DS through the resolver (the
 * primary, which serves test. too), the zone checked with the others
 * (the job's kw_dnssec_live_run_many path). */
static void write_conf_shared(void)
{
    write_text(conf,
               "[daemon]\nmetrics_listen = off\n"
               "[dnssec]\nresolver = 127.0.0.1:%d\ndns_port = %d\n"
               "knot_conf = %s\nkeymgr = %s\n",
               bed.port, bed.port, bed.pconf, KEYMGR);
}

static void rfc3339(int64_t t, char *buf, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;

    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* keywarden dnssec ARGS... at the pinned time t, which must exit want. */
static kwres kw_at(int64_t t, int want, const char *a1, const char *a2,
                   const char *a3)
{
    char now[40];
    kwres r;

    rfc3339(t, now, sizeof(now));
    setenv("KEYWARDEN_NOW", now, 1);
    r = kw_expect(want, state, conf,
                  (const char *[]){ "dnssec", a1, a2, a3, NULL });
    unsetenv("KEYWARDEN_NOW");
    return r;
}

/* The KSK old_tag names, ready or active, and the other KSKs that are
 * ready, as keymgr lists them now. */
static unsigned old_tag;

static void ksk_count(size_t *old_live, size_t *new_ready)
{
    static kw_dnssec_key keys[KW_DNSSEC_KNOT_MAX_KEYS];
    kw_dnssec_knot_opts o = { KEYMGR, bed.pconf, 20000 };
    kw_diag d = {{0}};
    size_t n = 0, i;

    *old_live = 1; /* unknown: not gone */
    *new_ready = 0;
    if (kw_dnssec_knot_list(&o, "child.test", keys, KW_DNSSEC_KNOT_MAX_KEYS,
                            &n, &d) != 0)
        return;
    *old_live = 0;
    for (i = 0; i < n; i++) {
        kw_dnssec_stage s = kw_dnssec_key_stage(&keys[i], time(NULL), NULL,
                                                NULL);

        if (keys[i].role != KW_DNSSEC_KSK)
            continue;
        if (keys[i].tag == old_tag)
            *old_live += s == KW_DNSSEC_ST_READY || s == KW_DNSSEC_ST_ACTIVE;
        else
            *new_ready += s == KW_DNSSEC_ST_READY;
    }
}

/* A new KSK is ready (Knot publishes its CDS/CDNSKEY then). */
static int new_ksk_ready(void *ctx)
{
    size_t old, ready;

    (void)ctx;
    ksk_count(&old, &ready);
    return ready > 0;
}

/* old_tag's key is no longer ready or active. */
static int old_ksk_gone(void *ctx)
{
    size_t old, ready;

    (void)ctx;
    ksk_count(&old, &ready);
    return old == 0;
}

/* A KSK rollover started, waited for until the new key is ready, and the
 * inventory synced. */
static void roll_ksk(void)
{
    assert_int_equal(bed_knotc(bed.pconf, "zone-key-rollover", "child.test.",
                               "ksk", NULL), 0);
    assert_true(proc_until(new_ksk_ready, NULL, 60000));
    sync_inventory();
}

static int setup(void **st)
{
    char tag[10], alg[10], hex[200];

    (void)st;
    if (bed_init("dnssec_rollover") != 0)
        return -1;
    bed_zone_file("test", "child NS ns1.child.test.\n"
                  "ns1.child A 127.0.0.1\n");
    bed_zone_file("child.test", "");
    bed_primary_conf("", "", "", "");
    bed_start_knotd(&bed.prim, bed.pconf, "knotd.out", "127.0.0.1", "test.");
    assert_true(proc_until(bed_has_dnskey, (void *)"child.test.", 15000));
    assert_true(proc_until(bed_has_dnskey, (void *)"test.", 15000));
    bed_ds_of("child.test.", tag, alg, hex);
    bed_set_ds("child", tag, alg, hex);
    old_tag = (unsigned)atoi(tag);
    /* The first KSK's DS is at the parent: it becomes active, as on a
     * zone that has been running for a while. */
    assert_int_equal(bed_knotc(bed.pconf, "zone-ksk-submitted",
                               "child.test.", NULL), 0);
    bed_start_unbound();
    snprintf(state, sizeof(state), "%s/state", bed.dir);
    assert_int_equal(mkdir(state, 0700), 0);
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    snprintf(conf, sizeof(conf), "%s/keywarden.conf", bed.dir);
    write_conf(bed.port);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    bed_stop();
    return 0;
}

/* Before the roll: secure, ok, nothing waits. */
static void test_before(void **st)
{
    kwres r;

    (void)st;
    sync_inventory();
    assert_int_equal(bed_ub_verdict("www.child.test."), 1);
    r = kw_at(time(NULL), 0, "check", NULL, NULL);
    assert_contains(r.out, "child.test: ok (signed, DS at the parent)");
    assert_not_contains(r.out, "waits for its DS");
    kwres_free(&r);
    assert_int_equal(events_ds_needed(), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM dnssec_findings"), 0);
}

/* dnssec ds for a zone the inventory does not hold: the SEP keys of the
 * DNSKEY set the servers publish, the same DS keymgr computes. */
static void test_ds_without_inventory(void **st)
{
    char tag[10], alg[10], hex[200], line[300];
    const char *empty = kw_path(bed.dir, "empty-state");
    kwres r;
    size_t i;

    (void)st;
    assert_int_equal(mkdir(empty, 0700), 0);
    bed_ds_of("child.test.", tag, alg, hex);
    for (i = 0; hex[i] != '\0'; i++)
        hex[i] = (char)toupper((unsigned char)hex[i]);
    snprintf(line, sizeof(line), "child.test. IN DS %s %s 2 %s", tag, alg,
             hex);
    r = kw_expect(0, empty, conf, (const char *[]){ "dnssec", "ds",
                                                    "child.test", NULL });
    assert_contains(r.out, "keys from the live DNSKEY set");
    assert_contains(r.out, line);
    assert_contains(r.out, "the parent publishes it");
    kwres_free(&r);
}

/* The roll with no DS submitted: missing from the first check, the event
 * once after the parent's TTL and the margin, the same DS from dnssec ds;
 * then that DS alone at the parent: unbound secure, the finding gone. */
static void test_rollover(void **st)
{
    kwres r;
    json_t *ev;
    const char *ds;
    char want_tag[16], z[300], in[8], dsw[8], tag[10], alg[10], dt[10];
    char hex[200];

    (void)st;
    roll_ksk();
    t_ready = time(NULL);

    /* First look: it waits; nothing said yet beyond that. */
    r = kw_at(t_ready, 0, "check", NULL, NULL);
    assert_contains(r.out, "waits for its DS at the parent");
    assert_contains(r.out, "named by CDS/CDNSKEY");
    assert_contains(r.out, "CDS/CDNSKEY published\n");
    kwres_free(&r);
    assert_int_equal(sql_int("SELECT count(*) FROM dnssec_keys WHERE "
                             "ds_missing_since > 0"), 1);
    assert_int_equal(sql_int("SELECT max(ds_missing_since) FROM "
                             "dnssec_keys"), t_ready);
    /* One second short of TTL + margin: still nothing. */
    r = kw_at(t_ready + DS_TTL + MARGIN - 1, 0, "check", NULL, NULL);
    kwres_free(&r);
    assert_int_equal(events_ds_needed(), 0);
    /* Due: the event, once, and the finding (a warning: the old KSK has
     * no retirement date while Knot waits for the submission). */
    r = kw_at(t_ready + DS_TTL + MARGIN, 1, "check", NULL, NULL);
    assert_contains(r.out, "warning ds.needed");
    assert_contains(r.out, "dnssec.ds_needed: 1 event recorded");
    kwres_free(&r);
    assert_int_equal(events_ds_needed(), 1);
    r = kw_at(t_ready + DS_TTL + MARGIN + 600, 1, "check", "--json", NULL);
    assert_contains(r.out, "\"ds_needed_events\": 0");
    assert_contains(r.out, "\"notified\": true");
    assert_contains(r.out, "\"health\": \"warning\"");
    kwres_free(&r);
    assert_int_equal(events_ds_needed(), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM dnssec_findings WHERE "
                             "code = 'ds.needed'"), 1);

    ev = ds_needed_event();
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "zone")),
                        "child.test");
    assert_true(json_is_true(json_object_get(ev, "cds_published")));
    ds = json_string_value(json_array_get(json_object_get(ev, "ds_records"),
                                          0));
    assert_non_null(ds);
    snprintf(want_tag, sizeof(want_tag), "%lld",
             (long long)json_integer_value(json_object_get(ev, "key_tag")));
    assert_int_equal(sscanf(ds, "%299s %7s %7s %9s %9s %9s %199s", z, in,
                            dsw, tag, alg, dt, hex), 7);
    assert_string_equal(z, "child.test.");
    assert_string_equal(dsw, "DS");
    assert_string_equal(tag, want_tag);
    assert_string_equal(dt, "2");

    /* dnssec ds prints the same record, not yet at the parent. */
    r = kw_at(t_ready + DS_TTL + MARGIN + 600, 1, "ds", "child.test", NULL);
    assert_contains(r.out, ds);
    assert_contains(r.out, "NOT at the parent");
    assert_contains(r.out, "the parent publishes it");  /* the old KSK */
    kwres_free(&r);

    /* The DS from the event, alone at the parent: unbound validates
     * through the new key, and keywarden clears the finding. */
    bed_set_ds("child", tag, alg, hex);
    assert_int_equal(bed_ub_verdict("www.child.test."), 1);
    r = kw_at(t_ready + DS_TTL + MARGIN + 700, 0, "check", NULL, NULL);
    assert_not_contains(r.out, "ds.needed");
    kwres_free(&r);
    assert_int_equal(sql_int("SELECT count(*) FROM dnssec_findings WHERE "
                             "code = 'ds.needed'"), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM dnssec_keys WHERE "
                             "ds_missing_since > 0 OR ds_notified_at > 0"),
                     0);
    assert_int_equal(events_ds_needed(), 1);
    /* Knot told, the old KSK retires; dnssec ds then lists the new one,
     * at the parent. */
    assert_int_equal(bed_knotc(bed.pconf, "zone-ksk-submitted",
                               "child.test.", NULL), 0);
    assert_true(proc_until(old_ksk_gone, NULL, 60000));
    sync_inventory();
    r = kw_at(time(NULL), 0, "ds", "child.test", "--json");
    assert_contains(r.out, "\"at_parent\": true");
    assert_not_contains(r.out, "\"at_parent\": false");
    kwres_free(&r);
    json_decref(ev);
    old_tag = (unsigned)atoi(tag);
}

/* A parent server that never answers, then one that answers garbage:
 * check says the DS was not read, nothing is marked, no event. */
static void test_parent_faults(void **st)
{
    kn_fake silent, garbage;
    int64_t before = events_ds_needed();
    kwres r;

    (void)st;
    /* Another roll, so a key waits for its DS again. */
    roll_ksk();
    t_ready = time(NULL);
    assert_int_equal(kn_fake_start("127.0.0.1", kn_free_port("127.0.0.1"),
                                   KN_FAKE_SILENT, &silent), 0);
    assert_int_equal(kn_fake_start("127.0.0.1", kn_free_port("127.0.0.1"),
                                   KN_FAKE_GARBAGE, &garbage), 0);
    write_conf(silent.port);
    r = kw_at(t_ready + 2 * MARGIN, 1, "check", NULL, NULL);
    assert_contains(r.out, "ds.noanswer");
    assert_contains(r.out, "the DS set was not read");
    kwres_free(&r);
    write_conf(garbage.port);
    r = kw_at(t_ready + 3 * MARGIN, 1, "check", NULL, NULL);
    assert_contains(r.out, "ds.garbage");
    kwres_free(&r);
    kn_fake_stop(&silent);
    kn_fake_stop(&garbage);
    write_conf(bed.port);
    assert_int_equal(events_ds_needed(), before);
    assert_int_equal(sql_int("SELECT count(*) FROM dnssec_keys WHERE "
                             "ds_missing_since > 0"), 0);
    /* The parent heard again: the wait starts now. */
    r = kw_at(t_ready + 3 * MARGIN, 0, "check", NULL, NULL);
    assert_contains(r.out, "waits for its DS at the parent");
    kwres_free(&r);
    assert_int_equal(sql_int("SELECT count(*) FROM dnssec_keys WHERE "
                             "ds_missing_since > 0"), 1);
}

/* serve's dnssec-check job: the key the last test left waiting becomes
 * due; the job (made due by run-job, the pinned clock does not move)
 * records dnssec.ds_needed and the zone's health.changed. */
static void test_serve_job(void **st)
{
    int64_t due = t_ready + 3 * MARGIN + DS_TTL + MARGIN;
    int64_t ev = events_ds_needed();
    int64_t hc = sql_int("SELECT count(*) FROM events WHERE type = "
                         "'health.changed' AND json_extract(detail, "
                         "'$.kind') = 'dnssec' AND json_extract(detail, "
                         "'$.to') = 'warning'");
    char now[40], sql[300], log[800];
    pid_t pid;
    kwres r;

    (void)st;
    snprintf(log, sizeof(log), "%s/serve.log", bed.dir);
    write_conf_shared();
    rfc3339(due, now, sizeof(now));
    pid = kw_serve_start(state, conf, now, NULL, log);
    kw_await_sql(db, "SELECT count(*) FROM jobs WHERE type = "
                     "'dnssec-check'", 30000, log);
    r = kw_expect(0, state, conf, (const char *[]){ "run-job",
                                                    "dnssec-check", NULL });
    kwres_free(&r);
    snprintf(sql, sizeof(sql), "SELECT count(*) - %lld FROM events WHERE "
             "type = 'dnssec.ds_needed'", (long long)ev);
    kw_await_sql(db, sql, 30000, log);
    snprintf(sql, sizeof(sql), "SELECT count(*) - %lld FROM events WHERE "
             "type = 'health.changed' AND json_extract(detail, '$.kind') = "
             "'dnssec' AND json_extract(detail, '$.to') = 'warning'",
             (long long)hc);
    kw_await_sql(db, sql, 30000, log);
    kw_serve_stop(&pid);
    write_conf(bed.port);
    assert_int_equal(events_ds_needed(), ev + 1);
    assert_int_equal(sql_int("SELECT count(*) FROM dnssec_findings WHERE "
                             "code = 'ds.needed'"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_before),
        cmocka_unit_test(test_ds_without_inventory),
        cmocka_unit_test(test_rollover),
        cmocka_unit_test(test_parent_faults),
        cmocka_unit_test(test_serve_job),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
