/*
 * test_dkim_zone.c: rotations into a dedicated zone (zone =, fixed slot
 * selectors), driven through the CLI on a pinned clock (KEYWARDEN_NOW)
 * against a Knot primary (127.0.0.1) and secondary (127.0.0.2, TSIG
 * transfers) serving both the mail domain's zone (example.com) and the
 * dedicated zone (dkim.example.net), unbound in front as the receivers'
 * resolver, and a real OpenDKIM milter:
 *
 *   - the first rotation waits before publication for the slot's CNAME,
 *     printing it (rotate, status, cnames and cnames --json); nothing is
 *     published in the dedicated zone until the test adds the CNAMEs
 *     with an UPDATE and both servers serve them;
 *   - the record goes to kw1._domainkey.z.example.com.dkim.example.net on
 *     both servers; after the switch a message signed through the milter
 *     verifies with dkimpy whose lookup of kw1._domainkey.z.example.com
 *     the resolver answers by following the CNAME;
 *   - the second rotation takes slot 2, killed -9 right after its UPDATE
 *     and resumed with one record; the first message still verifies
 *     during drain; after removal kw1's record is gone from both servers
 *     and its key archived;
 *   - the third wants slot 1 again: it waits (saying so in rotate and
 *     status) until the removal is ttl + negative TTL + margin old, then
 *     takes it (killed -9 right after writing the key, resumed with
 *     that key) with a new key file beside the archived one; a message
 *     signed with the new kw1 key verifies through the CNAME, and the
 *     first message, signed by the old kw1 key, no longer does;
 *   - `dkim check` follows kw1's CNAME to the record it judges, and with
 *     the CNAME deleted names the CNAME to add (critical: kw1 signs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <signal.h>
#include <unistd.h>

#include "dkimsign.h"
#include "knot.h"
#include "kwrun.h"
#include "opendkim.h"
#include "proc.h"
#include "tmpdir.h"

#define DOMAIN "z.example.com"
#define ZONE "dkim.example.net"
#define CNAME1 "kw1._domainkey.z.example.com. CNAME " \
               "kw1._domainkey.z.example.com.dkim.example.net."
#define TARGET1 "kw1._domainkey.z.example.com.dkim.example.net"
#define TARGET2 "kw2._domainkey.z.example.com.dkim.example.net"

#define PATHLEN 600

static char dir[256];
static knot g_primary, g_secondary, g_unbound;
static odk_signer g_odk;
static int g_skip;
static char g_state[PATHLEN], g_conf[PATHLEN], g_keys[PATHLEN];

static int setup(void **st)
{
    static const kn_zone more[] = {{ZONE, NULL}};
    const char *skip = NULL;
    char txt[2048];
    kn_opts o;

    (void)st;
    tmpdir_make(dir, sizeof(dir), "dkimzone");
    memset(&o, 0, sizeof(o));
    o.ns2_addr = "127.0.0.2";
    o.more = more;
    o.nmore = 1;
    if (kn_primary_start(dir, "primary", &o, &g_primary) != 0 ||
        kn_secondary_start(dir, "secondary", &g_primary, "127.0.0.2",
                           &g_secondary) != 0 ||
        kn_resolver_start(dir, "unbound", &g_primary, &g_unbound) != 0)
        return -1;
    /* A key for a domain no mail comes from: opendkim_start wants one
     * row; keywarden's switch adds z.example.com's. */
    if (odk_signer_start(&g_odk, dir, "odk", kn_free_port("127.0.0.1"),
                         "unused.example.net", "u1", 0, NULL, txt,
                         sizeof(txt), &skip) == 0) {
        fprintf(stderr, "skipped: %s\n", skip);
        g_skip = 1;
    } else if (g_odk.pid < 0) {
        return -1;
    }
    snprintf(g_state, sizeof(g_state), "%s", kw_path(dir, "state"));
    snprintf(g_conf, sizeof(g_conf), "%s", kw_path(dir, "k.conf"));
    snprintf(g_keys, sizeof(g_keys), "%s", kw_path(dir, "keys"));
    write_text(g_conf,
               "[dkim]\ndns_port = %d\nopendkim_conf = %s\n"
               "resolver = 127.0.0.1:%d\n"
               "[dkim \"" DOMAIN "\"]\nrotate = 90d\nzone = " ZONE "\n"
               "key_dir = %s\nkey_type = rsa2048\nttl = 60\n"
               "dns_server = 127.0.0.1:%d\ndns_zone = " ZONE "\n"
               "tsig_key = %s\ntsig_algorithm = %s\ntsig_secret = %s\n"
               "signer = opendkim\n"
               "[hook \"reload\"]\non = dkim.activated\n"
               "reload = opendkim\nconfig = %s\n",
               g_primary.port, g_odk.P.conf, g_unbound.port, g_keys,
               g_primary.port, g_primary.key_name, g_primary.key_alg,
               g_primary.key_secret, g_odk.P.conf);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    opendkim_stop(g_odk.pid);
    kn_stop(&g_unbound);
    kn_stop(&g_secondary);
    kn_stop(&g_primary);
    if (getenv("KW_KEEP_TMP") == NULL)
        tmpdir_remove(dir);
    return 0;
}

/* `keywarden ARGS` at clock now, exiting 0, its output containing each
 * of the NULL-terminated strings; returns the output, malloc'd. */
static char *run_at(const char *now, const char **args, ...)
{
    const char *s;
    va_list ap;
    kwres r;
    char *out;

    setenv("KEYWARDEN_NOW", now, 1);
    r = kw_expect(0, g_state, g_conf, args);
    va_start(ap, args);
    while ((s = va_arg(ap, const char *)) != NULL)
        assert_contains(r.out, s);
    va_end(ap);
    out = r.out;
    r.out = NULL;
    kwres_free(&r);
    return out;
}

#define rotate_at(now, ...)                                                \
    free(run_at((now), (const char *[]){"dkim", "rotate", DOMAIN, NULL},  \
                __VA_ARGS__, NULL))
#define status_at(now, ...)                                                \
    free(run_at((now), (const char *[]){"dkim", "status", DOMAIN, NULL},  \
                __VA_ARGS__, NULL))

static void hooks_run(const char *now)
{
    free(run_at(now, (const char *[]){"hooks", "run", NULL},
                "dkim.activated", NULL));
}

/* How many TXT records each server serves at name; they must agree. */
static int records_at(const char *name)
{
    char a[8192], b[8192];
    int n1 = kw_txt_served("127.0.0.1", g_primary.port, name, a, sizeof(a));
    int n2 = kw_txt_served("127.0.0.2", g_primary.port, name, b, sizeof(b));

    if (n1 != n2 || strcmp(a, b) != 0)
        fail_msg("%s: the primary serves %d (%s), the secondary %d (%s)",
                 name, n1, a, n2, b);
    return n1;
}

/* A message from z.example.com signed through the milter with sel
 * (a reload is asynchronous: waited for), verified as a receiver would:
 * dkimpy asking unbound, which follows the CNAME.  Returns it. */
static char *signed_through_cname(const char *sel, const char *target)
{
    ds_try t = {g_odk.base, g_odk.port, DOMAIN, sel, NULL};
    char why[2048];

    if (!proc_until(ds_try_sign, &t, 15000))
        fail_msg("OpenDKIM does not sign %s with %s: %s", DOMAIN, sel,
                 t.msg != NULL ? t.msg : "(nothing)");
    if (dkim_verify_dns(t.msg, g_unbound.addr, g_unbound.port, why,
                        sizeof(why)) != 1)
        fail_msg("signed with %s, not verified through the resolver: %s",
                 sel, why);
    assert_contains(why, target);
    return t.msg;
}

/* `dkim rotate` at now, killed by the test seam at point (as kill -9
 * would, right after that effect). */
static void killed_at(const char *now, const char *point)
{
    kwres r;

    setenv("KEYWARDEN_NOW", now, 1);
    setenv("KEYWARDEN_TEST_DIE_AT", point, 1);
    r = kw(g_state, g_conf, "dkim", "rotate", DOMAIN);
    unsetenv("KEYWARDEN_TEST_DIE_AT");
    if (r.status != 128 + SIGKILL)
        fail_msg("not killed at %s: status %d\n%s%s", point, r.status,
                 r.out, r.err);
    kwres_free(&r);
}

static int verifies_now(const char *msg)
{
    char why[2048];
    int r = dkim_verify_dns(msg, g_unbound.addr, g_unbound.port, why,
                            sizeof(why));

    assert_true(r >= 0);
    return r;
}

/* The two CNAMEs added at example.com and served by both servers. */
static void add_cnames(void)
{
    uint32_t serial = 0;

    assert_int_equal(
        kn_update(&g_primary, "example.com",
                  "update add kw1._domainkey." DOMAIN ". 60 CNAME "
                  TARGET1 ".\n"
                  "update add kw2._domainkey." DOMAIN ". 60 CNAME "
                  TARGET2 ".\n"),
        0);
    assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                   "example.com", 2000, &serial), 0);
    assert_int_equal(kn_wait_serial("127.0.0.2", g_primary.port,
                                    "example.com", serial, 10000), 0);
}

static void zone_slots(void **st)
{
    char *first, *second, *third, *out, archived[PATHLEN + 100];
    kwres r;

    (void)st;
    if (g_skip)
        skip();
    /* 1. No CNAME yet: the key is made, nothing is published. */
    rotate_at("2027-01-15T08:00:00Z", "selector kw1  generated",
              "the one-time CNAME: add \"" CNAME1 "\"",
              "2 of 2 servers of example.com do not serve it",
              "127.0.0.2:");
    assert_int_equal(records_at(TARGET1), 0);
    status_at("2027-01-15T08:00:30Z", "publishes in the dedicated zone "
              ZONE, "  " CNAME1 "\n",
              "  kw2._domainkey.z.example.com. CNAME "
              "kw2._domainkey.z.example.com.dkim.example.net.\n");
    out = run_at("2027-01-15T08:00:30Z",
                 (const char *[]){"dkim", "cnames", NULL}, CNAME1 "\n",
                 NULL);
    free(out);
    out = run_at("2027-01-15T08:00:30Z",
                 (const char *[]){"dkim", "cnames", "--json", DOMAIN, NULL},
                 "\"cname\": \"" TARGET1 "\"", "\"slot\": 2", NULL);
    free(out);
    out = run_at("2027-01-15T08:00:30Z",
                 (const char *[]){"dkim", "status", "--json", DOMAIN, NULL},
                 "\"record_name\": \"" TARGET1 "\"",
                 "\"zone\": \"" ZONE "\"", NULL);
    free(out);
    r = kw(g_state, g_conf, "dkim", "cnames", "other.example.com");
    assert_int_equal(r.status, 3);
    assert_contains(r.err, "no [dkim \"other.example.com\"] section with "
                    "rotate = and zone =");
    kwres_free(&r);
    rotate_at("2027-01-15T08:00:40Z", "selector kw1  generated",
              "waits for the one-time CNAME");
    assert_int_equal(records_at(TARGET1), 0);

    /* 2. The CNAMEs added: published in the dedicated zone, visible on
     * both servers, switched, reloaded, retired (a first rotation). */
    add_cnames();
    rotate_at("2027-01-15T08:01:00Z", "selector kw1  visible since");
    assert_int_equal(records_at(TARGET1), 1);
    rotate_at("2027-01-15T09:03:00Z", "active since");
    hooks_run("2027-01-15T09:03:00Z");
    rotate_at("2027-01-15T09:03:10Z", "selector kw1  retired");
    first = signed_through_cname("kw1", "kw1._domainkey." DOMAIN
                                 ". -> " TARGET1);

    /* 3. Slot 2, killed right after its UPDATE: resumed, one record. */
    killed_at("2027-04-15T08:00:00Z", "update-sent");
    rotate_at("2027-04-15T08:00:10Z", "selector kw2  visible since",
              "(replaces kw1)");
    assert_int_equal(records_at(TARGET2), 1);
    rotate_at("2027-04-15T09:02:00Z", "active since");
    hooks_run("2027-04-15T09:02:00Z");
    rotate_at("2027-04-15T09:02:10Z", "selector kw2  retired",
              "drain: the old record stays until");
    second = signed_through_cname("kw2", TARGET2);
    /* Mail signed before the switch still verifies during drain. */
    assert_int_equal(verifies_now(first), 1);
    assert_int_equal(records_at(TARGET1), 1);
    rotate_at("2027-04-22T09:02:10Z", "selector kw2  removed since");
    assert_int_equal(records_at(TARGET1), 0);
    /* The first kw1 key, archived under a name its slot's reuse will
     * not take (the start time is in it). */
    snprintf(archived, sizeof(archived),
             "%s/archive/" DOMAIN ".kw1.1800000000.key", g_keys);
    assert_int_equal(access(archived, F_OK), 0);

    /* 4. Slot 1 again: not before the removal is ttl 60 + negative TTL
     * 60 + margin 3600 old (09:02:10 + 3720 s = 10:04:10). */
    rotate_at("2027-04-22T09:03:00Z", "a free slot for the next rotation",
              "kw1: record gone since 2027-04-22T09:02:10Z",
              "kw2: its key signs",
              "the first slot is free 2027-04-22T10:04:10Z");
    status_at("2027-04-22T09:30:00Z", "a free slot for the next rotation");
    rotate_at("2027-04-22T10:04:09Z", "selector kw2  removed");
    assert_int_equal(records_at(TARGET1), 0);
    /* Killed right after the slot's new key was written: resumed with
     * that key, no second one. */
    killed_at("2027-04-22T10:04:10Z", "key-written");
    rotate_at("2027-04-22T10:04:11Z", "selector kw1  visible since",
              "(replaces kw2)");
    assert_int_equal(records_at(TARGET1), 1);
    assert_int_equal(kw_count_files(kw_path(g_keys, "archive"), ".key"), 1);
    assert_int_equal(kw_count_files(g_keys, ".key"), 2);
    rotate_at("2027-04-22T11:06:00Z", "active since");
    hooks_run("2027-04-22T11:06:00Z");
    rotate_at("2027-04-22T11:06:10Z", "selector kw1  retired");
    third = signed_through_cname("kw1", TARGET1);
    /* The old kw1 key's signatures no longer verify: its record went
     * and the name now serves the new key. */
    assert_int_equal(verifies_now(first), 0);
    assert_int_equal(verifies_now(third), 1);
    assert_int_equal(access(archived, F_OK), 0);

    /* 5. The inventory's check follows the CNAME to the record; with the
     * CNAME taken away it names the one to add. */
    setenv("KEYWARDEN_NOW", "2027-04-22T11:07:00Z", 1);
    kwres_free((r = kw_ok(g_state, g_conf, "scan", "--dkim"), &r));
    r = kw(g_state, g_conf, "dkim", "check", DOMAIN);
    assert_contains(r.out, "delegated by CNAME to " TARGET1);
    assert_contains(r.out, TARGET1 " serves the key file's rsa key");
    assert_not_contains(r.out, "CNAME to " TARGET1 " at");
    kwres_free(&r);
    {
        uint32_t serial = 0;

        assert_int_equal(kn_update(&g_primary, "example.com",
                                   "update delete kw1._domainkey." DOMAIN
                                   ". CNAME\n"),
                         0);
        assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                       "example.com", 2000, &serial), 0);
        assert_int_equal(kn_wait_serial("127.0.0.2", g_primary.port,
                                        "example.com", serial, 10000), 0);
    }
    r = kw(g_state, g_conf, "dkim", "check", DOMAIN);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "kw1._domainkey." DOMAIN " has no CNAME to "
                    TARGET1 " at ");
    assert_contains(r.out, "127.0.0.2:");
    assert_contains(r.out, "fix: add once to the zone of " DOMAIN ": "
                    CNAME1 " ");
    kwres_free(&r);
    free(first);
    free(second);
    free(third);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zone_slots),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
