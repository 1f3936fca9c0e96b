/*
 * test_dkim_rotation.c: `keywarden dkim rotate` and `dkim status` against a
 * Knot primary (127.0.0.1) and secondary (127.0.0.2, TSIG-signed
 * transfers), with the clock pinned by KEYWARDEN_NOW:
 *
 *   - generate -> published -> visible on both servers, the propagation
 *     wait computed from the zone's real SOA (TTL 60, MINIMUM 60) and the
 *     record's TTL 60 plus the 1 h margin, then propagated, then waiting
 *     for the signer switch;
 *   - a wrong TSIG secret stops at publishing, naming the refusal, with
 *     nothing published; the corrected secret resumes with the same key;
 *   - the secondary frozen (knotc zone-freeze): the rotation waits at
 *     published naming 127.0.0.2, and goes on after zone-thaw;
 *   - the 90-day cycle: active through a signer program, the next key 90
 *     days on, the first retired, and after drain its record gone from
 *     both servers and its key archived;
 *   - kill -9 (the KEYWARDEN_TEST_DIE_AT seam) after the key write and
 *     after the UPDATE: the rerun makes no second key and the record is
 *     at the name once;
 *   - `dkim abort` after visible, killed -9 right after its removal was
 *     sent, then run again: the record gone from both servers, the new
 *     key archived, `dkim status` saying aborted.
 * Each case uses its own signing domain inside the one zone, its own state
 * directory and key directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knot.h"
#include "kwrun.h"
#include "tmpdir.h"

#define NOW "2027-01-15T08:00:00Z"

static char dir[256];
static knot g_primary, g_secondary;

static int setup(void **st)
{
    (void)st;
    tmpdir_make(dir, sizeof(dir), "dkimrot");
    return kn_pair_start(dir, &g_primary, &g_secondary) == 0 ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    kn_stop(&g_secondary);
    kn_stop(&g_primary);
    tmpdir_remove(dir);
    return 0;
}

/* dir/rel into buf (600 bytes): kw_path's buffers rotate, and a case's
 * state directory and configuration must outlive many calls. */
static void keep(char *buf, const char *rel)
{
    snprintf(buf, 600, "%s", kw_path(dir, rel));
}

/* The state directory and configuration of one case: domain NAME.example.com
 * (or example.com for ""), selector template TMPL, TSIG secret secret. */
static void write_conf(const char *name, const char *domain,
                       const char *tmpl, const char *secret)
{
    write_text(kw_path(dir, name),
               "[dkim]\n"
               "dns_port = %d\n"
               "[dkim \"%s\"]\n"
               "rotate = 90d\n"
               "selector = %s\n"
               "key_dir = %s\n"
               "key_type = ed25519\n"
               "ttl = 60\n"
               "dns_server = 127.0.0.1:%d\n"
               "dns_zone = example.com\n"
               "tsig_key = %s\n"
               "tsig_algorithm = %s\n"
               "tsig_secret = %s\n",
               g_primary.port, domain, tmpl,
               kw_path(dir, "keys"), g_primary.port, g_primary.key_name,
               g_primary.key_alg, secret);
}

/* What addr serves at name TXT, kdig +short (quoted strings joined). */
static void served(const char *addr, const char *name, char *out,
                   size_t cap)
{
    kw_kdig_txt(addr, g_primary.port, name, out, cap);
}

static int count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void walk(void **st)
{
    char state[600], conf[600];
    char txt[4096];
    kwres r;

    (void)st;
    keep(state, "s-walk");
    write_conf("walk.conf", "example.com", "a%Y%m",
               g_primary.key_secret);
    keep(conf, "walk.conf");
    setenv("KEYWARDEN_NOW", NOW, 1);
    r = kw_ok(state, conf, "dkim", "rotate", "example.com");
    assert_contains(r.out, "selector a202701");
    assert_contains(r.out, "visible since 2027-01-15T08:00:00Z");
    /* The wait: max(SOA negative TTL 60, record TTL 60) + 1 h margin. */
    assert_contains(r.out, "waits until 2027-01-15T09:01:00Z");
    kwres_free(&r);
    /* Both servers serve it, as the stage says. */
    served("127.0.0.1", "a202701._domainkey.example.com", txt, sizeof(txt));
    assert_contains(txt, "v=DKIM1; k=ed25519; p=");
    served("127.0.0.2", "a202701._domainkey.example.com", txt, sizeof(txt));
    assert_contains(txt, "v=DKIM1; k=ed25519; p=");
    /* One second early: still visible.  On time: propagated, then the
     * signer switch, which this build does not have. */
    setenv("KEYWARDEN_NOW", "2027-01-15T09:00:59Z", 1);
    r = kw_ok(state, conf, "dkim", "rotate", "example.com");
    assert_contains(r.out, "visible since");
    kwres_free(&r);
    setenv("KEYWARDEN_NOW", "2027-01-15T09:01:00Z", 1);
    r = kw_ok(state, conf, "dkim", "rotate", "example.com");
    assert_contains(r.out, "propagated since 2027-01-15T09:01:00Z");
    assert_contains(r.out, "signer switch");
    kwres_free(&r);
    r = kw_ok(state, conf, "dkim", "status", "--json");
    assert_contains(r.out, "\"stage\": \"propagated\"");
    assert_not_contains(r.out, "PRIVATE");
    kwres_free(&r);
    assert_int_equal(kw_count_files(kw_path(dir, "keys"), ".key"), 1);
    unsetenv("KEYWARDEN_NOW");
}

static void wrong_tsig(void **st)
{
    char state[600], conf[600];
    char txt[4096];
    int before = kw_count_files(kw_path(dir, "keys"), ".key");
    kwres r;

    (void)st;
    keep(state, "s-tsig");
    /* A valid base64 secret, not the server's. */
    write_conf("tsig.conf", "t.example.com", "b%Y%m",
               "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=");
    keep(conf, "tsig.conf");
    setenv("KEYWARDEN_NOW", NOW, 1);
    r = kw_fail(state, conf, "dkim", "rotate", "t.example.com");
    assert_contains(r.out, "publishing since");
    assert_contains(r.out, "stopped (1 failed attempt, next try "
                           "2027-01-15T08:15:00Z): publishing "
                           "b202701._domainkey.t.example.com");
    assert_contains(r.out, "NOTAUTH");
    kwres_free(&r);
    served("127.0.0.1", "b202701._domainkey.t.example.com", txt,
           sizeof(txt));
    assert_string_equal(txt, "");
    assert_int_equal(kw_count_files(kw_path(dir, "keys"), ".key"), before + 1);
    /* Corrected: the same key is published, no second one made. */
    write_conf("tsig.conf", "t.example.com", "b%Y%m", g_primary.key_secret);
    r = kw_ok(state, conf, "dkim", "rotate", "t.example.com");
    assert_contains(r.out, "visible since");
    kwres_free(&r);
    assert_int_equal(kw_count_files(kw_path(dir, "keys"), ".key"), before + 1);
    unsetenv("KEYWARDEN_NOW");
}

static void frozen_secondary(void **st)
{
    char state[600], conf[600];
    kwres r;

    (void)st;
    keep(state, "s-freeze");
    write_conf("freeze.conf", "f.example.com", "c%Y%m",
               g_primary.key_secret);
    keep(conf, "freeze.conf");
    setenv("KEYWARDEN_NOW", NOW, 1);
    assert_int_equal(kn_knotc(&g_secondary, "zone-freeze", NULL), 0);
    r = kw_ok(state, conf, "dkim", "rotate", "f.example.com");
    assert_contains(r.out, "published since");
    assert_contains(r.out, "waits for every authoritative server");
    assert_contains(r.out, "127.0.0.2");
    kwres_free(&r);
    assert_int_equal(kn_knotc(&g_secondary, "zone-thaw", NULL), 0);
    r = kw_ok(state, conf, "dkim", "rotate", "f.example.com");
    assert_contains(r.out, "visible since");
    kwres_free(&r);
    unsetenv("KEYWARDEN_NOW");
}

/* publish = manual (DNS at a registrar's web page): the record is printed
 * and the rotation waits at published, naming the servers that do not
 * serve it yet, until the operator publishes it (here by hand, with
 * knsupdate, as a registrar's page would); then visible on its own. */
static void manual_publication(void **st)
{
    char state[600], conf[600], upd[2400], value[1200], txt[4096];
    const char *at, *nl;
    size_t n;
    FILE *f;
    kwres r;

    (void)st;
    keep(state, "s-manual");
    keep(conf, "manual.conf");
    write_conf("manual.conf", "m.example.com", "m%Y%m",
               g_primary.key_secret);
    f = fopen(conf, "a");
    assert_non_null(f);
    fputs("publish = manual\n", f);
    fclose(f);
    setenv("KEYWARDEN_NOW", NOW, 1);
    r = kw_ok(state, conf, "dkim", "rotate", "m.example.com");
    assert_contains(r.out, "Publish this TXT record at "
                           "m202701._domainkey.m.example.com");
    assert_contains(r.out, "published since");
    assert_contains(r.out, "waits for");
    assert_contains(r.out, "127.0.0.2");
    /* The record, as printed on the line after the instruction. */
    at = strstr(r.out, "again:\n  ");
    assert_non_null(at);
    at += strlen("again:\n  ");
    nl = strchr(at, '\n');
    assert_non_null(nl);
    n = (size_t)(nl - at);
    assert_true(n > 20 && n < sizeof(value));
    memcpy(value, at, n);
    value[n] = '\0';
    assert_non_null(strstr(value, "v=DKIM1; k=ed25519; p="));
    kwres_free(&r);
    /* Nothing was sent to the server. */
    served("127.0.0.1", "m202701._domainkey.m.example.com", txt,
           sizeof(txt));
    assert_string_equal(txt, "");
    /* Asked again before the operator acted: still waiting, and the
     * record to paste repeated. */
    r = kw_ok(state, conf, "dkim", "status", "m.example.com");
    assert_contains(r.out, "published since");
    assert_contains(r.out, "record: m202701._domainkey.m.example.com TXT");
    assert_contains(r.out, value);
    kwres_free(&r);
    snprintf(upd, sizeof(upd),
             "update add m202701._domainkey.m.example.com 60 TXT \"%s\"\n",
             value);
    assert_int_equal(kn_update(&g_primary, "example.com", upd), 0);
    r = kw_ok(state, conf, "dkim", "rotate", "m.example.com");
    assert_contains(r.out, "visible since");
    kwres_free(&r);
    assert_int_equal(kw_count_files(kw_path(dir, "keys"), ".key") > 0, 1);
    unsetenv("KEYWARDEN_NOW");
}

/* kill -9 right after point; the rerun resumes. */
static void killed_at(const char *point, const char *label,
                      const char *tmpl, const char *sel)
{
    char name[64], conf_name[64], domain[64], rname[200], txt[4096];
    char keyfile[200];
    char state[600], conf[600];
    char *key_before, *key_after;
    uint32_t serial_before, serial_after;
    int before = kw_count_files(kw_path(dir, "keys"), ".key");
    kwres r;

    snprintf(name, sizeof(name), "s-%s", label);
    snprintf(conf_name, sizeof(conf_name), "%s.conf", label);
    snprintf(domain, sizeof(domain), "%s.example.com", label);
    keep(state, name);
    write_conf(conf_name, domain, tmpl, g_primary.key_secret);
    keep(conf, conf_name);
    setenv("KEYWARDEN_NOW", NOW, 1);
    setenv("KEYWARDEN_TEST_DIE_AT", point, 1);
    r = kw(state, conf, "dkim", "rotate", domain);
    unsetenv("KEYWARDEN_TEST_DIE_AT");
    if (r.status != 128 + 9)
        fail_msg("not killed at %s: status %d\n%s%s", point, r.status,
                 r.out, r.err);
    kwres_free(&r);
    assert_int_equal(kw_count_files(kw_path(dir, "keys"), ".key"), before + 1);
    snprintf(keyfile, sizeof(keyfile), "keys/%s.%s.key", domain, sel);
    key_before = slurp(kw_path(dir, keyfile), NULL);
    assert_non_null(key_before);
    assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                   "example.com", 2000, &serial_before), 0);
    r = kw_ok(state, conf, "dkim", "rotate", domain);
    assert_contains(r.out, "visible since");
    kwres_free(&r);
    /* The same key file, not a second key written over it. */
    key_after = slurp(kw_path(dir, keyfile), NULL);
    assert_non_null(key_after);
    /* Compared without printing: a failure must not show key bytes. */
    assert_true(strcmp(key_before, key_after) == 0);
    free(key_before);
    free(key_after);
    assert_int_equal(kw_count_files(kw_path(dir, "keys"), ".key"), before + 1);
    /* After the UPDATE the resumed add changed nothing in the zone: the
     * record was published once.  After the key write it was the first
     * UPDATE, one change. */
    assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                   "example.com", 2000, &serial_after), 0);
    if (strcmp(point, "update-sent") == 0)
        assert_int_equal(serial_after, serial_before);
    else
        assert_int_equal(serial_after, serial_before + 1);
    snprintf(rname, sizeof(rname), "%s._domainkey.%s", sel, domain);
    served("127.0.0.2", rname, txt, sizeof(txt));
    assert_int_equal(count_lines(txt), 1);
    r = kw_ok(state, conf, "dkim", "status", domain);
    assert_int_equal(count_lines(r.out), 2); /* one rotation, its wait */
    kwres_free(&r);
    unsetenv("KEYWARDEN_NOW");
}

/* The 90-day cycle on the clock: a first key to active through a signer
 * program, the next one 90 days on, the first retired, and after drain
 * its record gone from both servers and its key archived. */
static void full_cycle(void **st)
{
    char state[600], conf[600], txt[4096], extra[600];
    kwres r;

    (void)st;
    keep(state, "s-cycle");
    keep(conf, "cycle.conf");
    write_text(kw_path(dir, "signer.sh"),
               "#!/bin/sh\necho \"$@\" >> %s\n",
               kw_path(dir, "signer.log"));
    assert_int_equal(chmod(kw_path(dir, "signer.sh"), 0755), 0);
    write_conf("cycle.conf", "c.example.com", "g%Y%m",
               g_primary.key_secret);
    snprintf(extra, sizeof(extra), "signer = exec\nsigner_exec = %s\n",
             kw_path(dir, "signer.sh"));
    {
        FILE *f = fopen(kw_path(dir, "cycle.conf"), "a");

        assert_non_null(f);
        fputs(extra, f);
        fclose(f);
    }
    setenv("KEYWARDEN_NOW", NOW, 1);
    r = kw_ok(state, conf, "dkim", "rotate", "c.example.com");
    kwres_free(&r);
    setenv("KEYWARDEN_NOW", "2027-01-15T09:01:00Z", 1);
    r = kw_ok(state, conf, "dkim", "rotate", "c.example.com");
    /* The first rotation (nothing managed before it) ends at retired,
     * the signer program's exit 0 the proof of the switch. */
    assert_contains(r.out, "selector g202701  retired since "
                           "2027-01-15T09:01:00Z");
    kwres_free(&r);
    /* 90 days on: g202704 replaces it. */
    setenv("KEYWARDEN_NOW", "2027-04-15T09:01:00Z", 1);
    r = kw_ok(state, conf, "dkim", "rotate", "c.example.com");
    assert_contains(r.out, "selector g202704  visible since");
    assert_contains(r.out, "(replaces g202701)");
    kwres_free(&r);
    setenv("KEYWARDEN_NOW", "2027-04-15T10:02:00Z", 1);
    r = kw_ok(state, conf, "dkim", "rotate", "c.example.com");
    assert_contains(r.out, "retired since 2027-04-15T10:02:00Z");
    assert_contains(r.out, "drain: the old record stays until "
                           "2027-04-22T10:02:00Z");
    kwres_free(&r);
    served("127.0.0.2", "g202701._domainkey.c.example.com", txt,
           sizeof(txt));
    assert_contains(txt, "v=DKIM1");
    setenv("KEYWARDEN_NOW", "2027-04-22T10:02:00Z", 1);
    r = kw_ok(state, conf, "dkim", "rotate", "c.example.com");
    assert_contains(r.out, "removed since 2027-04-22T10:02:00Z");
    kwres_free(&r);
    served("127.0.0.1", "g202701._domainkey.c.example.com", txt,
           sizeof(txt));
    assert_string_equal(txt, "");
    served("127.0.0.2", "g202701._domainkey.c.example.com", txt,
           sizeof(txt));
    assert_string_equal(txt, "");
    served("127.0.0.2", "g202704._domainkey.c.example.com", txt,
           sizeof(txt));
    assert_contains(txt, "v=DKIM1");
    assert_int_equal(access(kw_path(dir, "keys/archive/"
                                         "c.example.com.g202701.key"),
                            F_OK),
                     0);
    unsetenv("KEYWARDEN_NOW");
}

/* A rotation taken back after its record reached both servers. */
static void abort_after_visible(void **st)
{
    char state[600], conf[600], txt[4096];
    const char *name = "h202701._domainkey.ab.example.com";
    kwres r;

    (void)st;
    keep(state, "s-abort");
    write_conf("abort.conf", "ab.example.com", "h%Y%m",
               g_primary.key_secret);
    keep(conf, "abort.conf");
    setenv("KEYWARDEN_NOW", NOW, 1);
    r = kw_ok(state, conf, "dkim", "rotate", "ab.example.com");
    assert_contains(r.out, "visible since");
    kwres_free(&r);
    served("127.0.0.2", name, txt, sizeof(txt));
    assert_contains(txt, "v=DKIM1");
    /* Killed right after the removal was sent: the intent is journalled,
     * the rotation is aborting. */
    setenv("KEYWARDEN_NOW", "2027-01-15T08:10:00Z", 1);
    setenv("KEYWARDEN_TEST_DIE_AT", "abort-sent", 1);
    r = kw(state, conf, "dkim", "abort", "ab.example.com");
    unsetenv("KEYWARDEN_TEST_DIE_AT");
    if (r.status != 128 + 9)
        fail_msg("not killed at abort-sent: status %d\n%s%s", r.status,
                 r.out, r.err);
    kwres_free(&r);
    r = kw_ok(state, conf, "dkim", "status", "ab.example.com");
    assert_contains(r.out, "aborting since 2027-01-15T08:10:00Z");
    kwres_free(&r);
    assert_int_equal(access(kw_path(dir, "keys/ab.example.com.h202701.key"),
                            F_OK),
                     0);
    /* Run again: it resumes, sees the record gone everywhere, archives
     * the key. */
    setenv("KEYWARDEN_NOW", "2027-01-15T08:11:00Z", 1);
    r = kw_ok(state, conf, "dkim", "abort", "ab.example.com");
    assert_contains(r.out, "aborted since 2027-01-15T08:11:00Z");
    kwres_free(&r);
    served("127.0.0.1", name, txt, sizeof(txt));
    assert_string_equal(txt, "");
    served("127.0.0.2", name, txt, sizeof(txt));
    assert_string_equal(txt, "");
    assert_int_equal(access(kw_path(dir, "keys/ab.example.com.h202701.key"),
                            F_OK),
                     -1);
    assert_int_equal(access(kw_path(dir, "keys/archive/"
                                         "ab.example.com.h202701.key"),
                            F_OK),
                     0);
    r = kw_ok(state, conf, "dkim", "status", "ab.example.com");
    assert_contains(r.out, "selector h202701  aborted since "
                           "2027-01-15T08:11:00Z");
    kwres_free(&r);
    r = kw_ok(state, conf, "dkim", "status", "--json");
    assert_contains(r.out, "\"stage\": \"aborted\"");
    kwres_free(&r);
    /* Nothing left to take back. */
    r = kw(state, conf, "dkim", "abort", "ab.example.com");
    assert_int_not_equal(r.status, 0);
    assert_contains(r.err, "no rotation runs (the last, to selector "
                           "h202701, is aborted)");
    kwres_free(&r);
    unsetenv("KEYWARDEN_NOW");
}

static void kill_after_key_write(void **st)
{
    (void)st;
    killed_at("key-written", "k1", "d%Y%m", "d202701");
}

static void kill_after_update(void **st)
{
    (void)st;
    killed_at("update-sent", "k2", "e%Y%m", "e202701");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(walk),
        cmocka_unit_test(wrong_tsig),
        cmocka_unit_test(frozen_secondary),
        cmocka_unit_test(manual_publication),
        cmocka_unit_test(full_cycle),
        cmocka_unit_test(kill_after_key_write),
        cmocka_unit_test(kill_after_update),
        cmocka_unit_test(abort_after_visible),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
