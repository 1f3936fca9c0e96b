/*
 * test_dkim_store.c: DKIM selectors in the inventory: sync (first seen
 * kept, vanished selectors removed), findings replaced per check, and the
 * health the listing computes from the local facts and the findings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keystore/ks_dkim.h"
#include "keystore/ks_dkim_rot_seen.h"
#include "keystore/ks_inventory.h"
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

    tmpdir_make(dir, sizeof(dir), "dkimstore");
    path_join(path, sizeof(path), dir, "k.db");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &st, &d), 0);
    return 0;
}

static int teardown(void **state)
{
    ks_close(st);
    tmpdir_remove(dir);
    return 0;
}

static ks_dkim_row row(const char *domain, const char *sel, const char *key,
                       const char *role, int bits, int mode)
{
    ks_dkim_row r;

    memset(&r, 0, sizeof(r));
    r.domain = domain;
    r.selector = sel;
    r.key_path = key;
    r.role = role;
    r.signer = "opendkim";
    r.source = "/etc/opendkim/KeyTable:3";
    r.line = 3;
    r.state = "ok";
    r.algorithm = "rsa";
    r.bits = bits;
    r.pub_hash = "00ff";
    r.record = "v=DKIM1; k=rsa; p=AAAA";
    r.key_mode = mode;
    r.key_time = NOW - 10 * DAY;
    r.signer_user = "opendkim";
    r.signer_reads = 1;
    r.max_age = 180 * DAY;
    return r;
}

typedef struct seen {
    char name[8][128];
    ks_verdict v[8];
    int64_t created[8];
    size_t n;
} seen;

static int collect(void *ctx, const ks_object *o)
{
    seen *s = ctx;

    if (strcmp(o->kind, "dkim") != 0 || s->n >= 8)
        return 0;
    snprintf(s->name[s->n], sizeof(s->name[0]), "%s", o->name);
    ks_health_tls(&o->facts, NOW, NULL, &s->v[s->n]);
    s->created[s->n] = o->created_at;
    s->n++;
    return 0;
}

/* The listing as `list` reads it (brief rows), and as `show` does. */
static const ks_verdict *health_of(seen *s, const char *name, int brief)
{
    ks_filter f;
    kw_diag d;
    size_t i;

    memset(&f, 0, sizeof(f));
    memset(s, 0, sizeof(*s));
    f.brief = brief;
    assert_int_equal(ks_inventory_each(st, &f, collect, s, &d), 0);
    for (i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0)
            return &s->v[i];
    return NULL;
}

static void test_sync_and_health(void **state)
{
    ks_dkim_row rows[3];
    ks_dkim_stats sts;
    seen s;
    const ks_verdict *v;
    kw_diag d;
    int64_t first;

    rows[0] = row("mail.test", "s1", "/k/s1.private", "signing", 2048, 0600);
    rows[1] = row("mail.test", "s2", "/k/s2.private", "published", 1024,
                  0600);
    rows[2] = row("mail.test", "old", "/k/old.private", "orphan", 2048,
                  0644);
    assert_int_equal(ks_dkim_sync(st, rows, 3, NULL, 0, NOW, &sts, &d), 0);
    assert_int_equal(sts.added, 3);

    v = health_of(&s, "s1._domainkey.mail.test", 1);
    assert_non_null(v);
    assert_int_equal(v->health, KS_HEALTH_OK);
    v = health_of(&s, "s2._domainkey.mail.test", 1);
    assert_int_equal(v->health, KS_HEALTH_WARNING);
    assert_non_null(strstr(v->reason, "1024-bit"));
    v = health_of(&s, "old._domainkey.mail.test", 0);
    assert_int_equal(v->health, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(v->reason, "readable by every user"));
    assert_string_equal(v->findings[0].fix, "chmod o-rwx /k/old.private");

    /* A rescan later: first seen kept, nothing changed; the orphan gone
     * from the sources is gone from the inventory. */
    health_of(&s, "s1._domainkey.mail.test", 1);
    first = s.created[0];
    assert_int_equal(ks_dkim_sync(st, rows, 2, NULL, 0, NOW + 3600, &sts, &d), 0);
    assert_int_equal(sts.added, 0);
    assert_int_equal(sts.changed, 0);
    assert_int_equal(sts.removed, 1);
    assert_null(health_of(&s, "old._domainkey.mail.test", 1));
    assert_int_equal(s.created[0], first);
    assert_int_equal(s.n, 2);

    /* The signer loses read access: changed, critical. */
    rows[0].signer_reads = 0;
    assert_int_equal(ks_dkim_sync(st, rows, 2, NULL, 0, NOW + 7200, &sts, &d), 0);
    assert_int_equal(sts.changed, 1);
    v = health_of(&s, "s1._domainkey.mail.test", 1);
    assert_int_equal(v->health, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(v->reason, "not readable by opendkim"));
    assert_non_null(strstr(v->findings[0].fix, "chown opendkim"));
}

static void test_findings(void **state)
{
    ks_dkim_row r = row("f.test", "s1", "/k/f.private", "signing", 2048,
                        0600);
    ks_dkim_finding f[2] = {
        {KS_HEALTH_CRITICAL, "mismatch",
         "p= at ns1 does not match the private key",
         "publish v=DKIM1; k=rsa; p=AAAA", "192.0.2.1"},
        {KS_HEALTH_WARNING, "testing", "t=y on a signing key", "", NULL},
    };
    ks_dkim_stats sts;
    seen s;
    const ks_verdict *v;
    kw_diag d;
    int64_t id = 0;

    assert_int_equal(ks_dkim_sync(st, &r, 1, NULL, 0, NOW, &sts, &d), 0);
    assert_int_equal(ks_value(st, &d, "id", &id, NULL,
                              "SELECT id FROM objects WHERE name = "
                              "'s1._domainkey.f.test'",
                              ""),
                     0);
    assert_true(id > 0);
    assert_int_equal(ks_dkim_findings_replace(st, id, f, 2, NOW, &d), 0);
    v = health_of(&s, "s1._domainkey.f.test", 1);
    assert_int_equal(v->health, KS_HEALTH_CRITICAL);
    assert_int_equal(v->nfindings, 2);
    assert_non_null(strstr(v->reason, "does not match"));
    assert_non_null(strstr(v->reason, "192.0.2.1"));
    assert_string_equal(v->findings[0].fix, "publish v=DKIM1; k=rsa; p=AAAA");

    /* The fix names the exact record to publish: a 4096-bit key's
     * record at a long name is shown whole, never cut short. */
    {
        static char fix[1100];
        size_t o = (size_t)snprintf(fix, sizeof(fix), "publish s1._domainkey."
                                    "%0120d.f.test. TXT \"v=DKIM1; k=rsa; p=",
                                    0);

        memset(fix + o, 'A', 736);
        snprintf(fix + o + 736, sizeof(fix) - o - 736, "\"");
        f[0].fix = fix;
        assert_int_equal(ks_dkim_findings_replace(st, id, f, 1, NOW, &d), 0);
        v = health_of(&s, "s1._domainkey.f.test", 0);
        assert_string_equal(v->findings[0].fix, fix);
        f[0].fix = "publish v=DKIM1; k=rsa; p=AAAA";
    }

    /* Replaced as a whole: the next check found only the warning. */
    assert_int_equal(ks_dkim_findings_replace(st, id, &f[1], 1, NOW + 60, &d),
                     0);
    v = health_of(&s, "s1._domainkey.f.test", 1);
    assert_int_equal(v->health, KS_HEALTH_WARNING);
    assert_int_equal(v->nfindings, 1);
    assert_int_equal(ks_dkim_findings_replace(st, id, NULL, 0, NOW + 120, &d),
                     0);
    v = health_of(&s, "s1._domainkey.f.test", 1);
    assert_int_equal(v->health, KS_HEALTH_OK);
    /* A severity outside the four is recorded as unknown, never ok. */
    f[0].severity = (ks_health)7;
    assert_int_equal(ks_dkim_findings_replace(st, id, f, 1, NOW, &d), 0);
    v = health_of(&s, "s1._domainkey.f.test", 1);
    assert_int_equal(v->health, KS_HEALTH_UNKNOWN);
}

/* A signer whose files could not be read keeps its selectors, in state
 * unreadable: a broken KeyTable must not empty the inventory (check
 * would say OK). */
static void test_keep(void **state)
{
    ks_dkim_row r[2] = {
        row("k.test", "s1", "/k/k1.private", "signing", 2048, 0600),
        row("r.test", "s1", "/k/r1.key", "signing", 2048, 0600),
    };
    ks_dkim_keep keep = {"opendkim",
                         "opendkim's configuration could not be read"};
    ks_dkim_stats sts;
    seen s;
    const ks_verdict *v;
    kw_diag d;

    r[1].signer = "rspamd";
    assert_int_equal(ks_dkim_sync(st, r, 2, NULL, 0, NOW, &sts, &d), 0);
    /* Neither is seen now; only opendkim's failed. */
    assert_int_equal(ks_dkim_sync(st, NULL, 0, &keep, 1, NOW + 60, &sts, &d),
                     0);
    assert_int_equal(sts.kept, 1);
    assert_int_equal(sts.removed, 1);
    v = health_of(&s, "s1._domainkey.k.test", 1);
    assert_non_null(v);
    assert_int_equal(v->health, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(v->reason, "could not be read"));
    assert_null(health_of(&s, "s1._domainkey.r.test", 1));
    /* Read again: back to ok. */
    assert_int_equal(ks_dkim_sync(st, r, 1, NULL, 0, NOW + 120, &sts, &d), 0);
    v = health_of(&s, "s1._domainkey.k.test", 1);
    assert_int_equal(v->health, KS_HEALTH_OK);
}

static int count_sel(void *ctx, const ks_dkim_sel *k)
{
    (*(int *)ctx)++;
    assert_non_null(k->record);
    return 0;
}

static void test_each(void **state)
{
    ks_dkim_row r = row("e.test", "s1", "/k/e.private", "signing", 2048,
                        0600);
    ks_dkim_stats sts;
    kw_diag d;
    int n = 0;

    assert_int_equal(ks_dkim_sync(st, &r, 1, NULL, 0, NOW, &sts, &d), 0);
    assert_int_equal(ks_dkim_each(st, count_sel, &n, &d), 0);
    assert_int_equal(n, 1);
}

/* The rules alone, on facts. */
static void test_rules(void **state)
{
    ks_tls_facts f;
    ks_verdict v;

    memset(&f, 0, sizeof(f));
    f.is_dkim = 1;
    f.state = "ok";
    f.key_path = "/k/a.private";
    f.key_mode = 0600;
    f.dkim_role = "signing";
    f.dkim_alg = "rsa";
    f.dkim_bits = 512;
    f.dkim_reads = -1;
    ks_health_tls(&f, NOW, NULL, &v);
    assert_int_equal(v.health, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(v.reason, "RFC 8301"));

    f.dkim_bits = 2048;
    f.dkim_key_time = NOW - 200 * DAY;
    f.dkim_max_age = 180 * DAY;
    ks_health_tls(&f, NOW, NULL, &v);
    assert_int_equal(v.health, KS_HEALTH_WARNING);
    assert_non_null(strstr(v.reason, "older than max_age"));
    f.dkim_key_time = NOW - 100 * DAY;
    ks_health_tls(&f, NOW, NULL, &v);
    assert_int_equal(v.health, KS_HEALTH_OK);

    f.state = "missing";
    f.error = "the key file is missing";
    ks_health_tls(&f, NOW, NULL, &v);
    assert_int_equal(v.health, KS_HEALTH_CRITICAL);
    f.dkim_role = "published";
    ks_health_tls(&f, NOW, NULL, &v);
    assert_int_equal(v.health, KS_HEALTH_WARNING);
    f.state = "unreadable";
    f.error = KS_ERR_CANNOT_OPEN "Permission denied";
    ks_health_tls(&f, NOW, NULL, &v);
    assert_int_equal(v.health, KS_HEALTH_UNKNOWN);

    /* An orphan: ok, saying so; a weak orphan is nobody's problem. */
    f.state = "ok";
    f.error = NULL;
    f.dkim_role = "orphan";
    f.dkim_bits = 512;
    ks_health_tls(&f, NOW, NULL, &v);
    assert_int_equal(v.health, KS_HEALTH_OK);
    assert_non_null(strstr(v.reason, "no signer"));
}

static int64_t rot_events(const char *to)
{
    int64_t n = 0;
    kw_diag d;

    assert_int_equal(ks_value(st, &d, "count", &n, NULL,
                              "SELECT count(*) FROM events WHERE type = "
                              "'health.changed' AND json_extract(detail, "
                              "'$.kind') = 'dkim' AND json_extract(detail, "
                              "'$.rotation') AND "
                              "json_extract(detail, '$.domain') = "
                              "'rot.test' AND json_extract(detail, "
                              "'$.selector') = 's1' AND json_extract(detail, "
                              "'$.to') = ?1",
                              "t", to),
                     0);
    return n;
}

/* Record domain's rotation health h; whether an event was written. */
static int rot_seen(const char *domain, const char *sel, int h,
                const char *reason)
{
    kw_diag d;
    int changed = -1;

    assert_int_equal(ks_dkim_rot_health_seen(st, domain, KS_DKIM_TRACK_ANY,
                                             sel, h, reason, NOW, &changed,
                                             &d),
                     0);
    return changed;
}

/* A rotation's health seen: a first sighting as ok records, a change is
 * one health.changed event (kind dkim, rotation, the domain, the
 * selector, the reason), the same health again is nothing. */
static void test_rotation_health_seen(void **state)
{
    (void)state;
    assert_int_equal(rot_seen("rot.test", "s1", KS_HEALTH_OK, ""), 0);
    assert_int_equal(rot_seen("rot.test", "s1", KS_HEALTH_OK, ""), 0);
    assert_int_equal(rot_seen("rot.test", "s1", KS_HEALTH_WARNING,
                          "stopped at publishing: NOTAUTH"),
                     1);
    assert_int_equal(rot_events("warning"), 1);
    assert_int_equal(rot_seen("rot.test", "s1", KS_HEALTH_WARNING, "again"),
                     0);
    assert_int_equal(rot_events("warning"), 1);
    assert_int_equal(
        rot_seen("rot.test", "s1", KS_HEALTH_CRITICAL, "old key"), 1);
    assert_int_equal(rot_events("critical"), 1);
    /* Another domain is seen apart, and first seen stopped it was ok
     * before: a rotation failing on its first run is announced. */
    assert_int_equal(rot_seen("other.test", NULL, KS_HEALTH_CRITICAL, "x"),
                     1);
    assert_int_equal(rot_events("critical"), 1); /* rot.test's alone */
}

/* Record the health h of dual.test's track; whether an event was
 * written. */
static int track_seen(int track, const char *sel, int h, const char *why)
{
    kw_diag d;
    int changed = -1;

    assert_int_equal(ks_dkim_rot_health_seen(st, "dual.test", track, sel, h,
                                             why, NOW, &changed, &d),
                     0);
    return changed;
}

/* A dual section's tracks are seen apart: the Ed25519 track stopping is
 * its own change (its event says track ed25519), the RSA track at ok is
 * none, and the RSA track shares the domain's health of before. */
static void test_rotation_health_seen_tracks(void **state)
{
    kw_diag d;
    int64_t n = 0;

    (void)state;
    assert_int_equal(track_seen(KS_DKIM_TRACK_RSA, "kwr", KS_HEALTH_OK, ""),
                     0);
    assert_int_equal(track_seen(KS_DKIM_TRACK_ED25519, "kwe",
                                KS_HEALTH_WARNING, "stopped at propagated"),
                     1);
    /* The RSA track is still ok: no change, though the other warns. */
    assert_int_equal(track_seen(KS_DKIM_TRACK_RSA, "kwr", KS_HEALTH_OK, ""),
                     0);
    /* The domain as a single section is the RSA track's key. */
    assert_int_equal(track_seen(KS_DKIM_TRACK_ANY, "kwr", KS_HEALTH_OK, ""),
                     0);
    assert_int_equal(ks_value(st, &d, "counting", &n, NULL,
                              "SELECT count(*) FROM events WHERE type = "
                              "'health.changed' AND json_extract(detail, "
                              "'$.domain') = 'dual.test' AND "
                              "json_extract(detail, '$.track') = 'ed25519' "
                              "AND json_extract(detail, '$.selector') = "
                              "'kwe'",
                              ""),
                     0);
    assert_int_equal(n, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_and_health),
        cmocka_unit_test(test_findings),
        cmocka_unit_test(test_each),
        cmocka_unit_test(test_keep),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_rotation_health_seen),
        cmocka_unit_test(test_rotation_health_seen_tracks),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
