/*
 * test_dnssec_signer_keys.c: the keys a running signer signs a zone with,
 * read from the signer's own records, held against the DNSKEY set the
 * signer serves: every served key is in the inventory with the same
 * DNSKEY, tag and flags.
 *   - Knot with automatic key management (dnssec-policy), its KASP read
 *     through keymgr (dnssec/dnssec_knot.h): the first KSK ready and
 *     waiting for its DS, the ZSK active.
 *   - BIND's named with dnssec-policy, its key directory read
 *     (dnssec/dnssec_bind.h): the .state files named writes hold no field
 *     the parser does not know, with the key states filled in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <ldns/ldns.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "dnssec/dnssec_bind.h"
#include "dnssec/dnssec_knot.h"
#include "knot.h"
#include "proc.h"
#include "tmpdir.h"

static char dir[256];

static const char zone_text[] = "$ORIGIN child.test.\n$TTL 10\n@ SOA ns1 "
    "hostmaster 1 60 60 600 10\n@ NS ns1\nns1 A 127.0.0.1\nwww A 192.0.2.1\n";

typedef struct served {
    int port;
    ldns_rr_list *keys;     /* the DNSKEY answer, once the zone is signed */
} served;

/* The signer answers the zone's DNSKEY set (KSK and ZSK) once signed. */
static int dnskeys_served(void *ctx)
{
    served *s = ctx;
    uint8_t buf[4096];
    size_t len = 0;
    ldns_pkt *p = NULL;

    if (kn_ask("127.0.0.1", s->port, "child.test", LDNS_RR_TYPE_DNSKEY, 0,
               500, buf, sizeof buf, &len) < 0 ||
        ldns_wire2pkt(&p, buf, len) != LDNS_STATUS_OK)
        return 0;
    s->keys = ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_DNSKEY,
                                       LDNS_SECTION_ANSWER);
    ldns_pkt_free(p);
    if (s->keys && ldns_rr_list_rr_count(s->keys) >= 2)
        return 1;
    ldns_rr_list_deep_free(s->keys);
    s->keys = NULL;
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Start argv logging into dir/log and wait until it serves the signed
 * zone at s->port. */
static pid_t start_signer(char *const argv[], served *s)
{
    char log[512];
    pid_t pid;

    path_join(log, sizeof log, dir, "signer.log");
    pid = proc_spawn_log(argv, log);
    if (!proc_until(dnskeys_served, s, 60000)) {
        kill(pid, SIGKILL);
        proc_wait(pid, 5000);
        fail_msg("%s served no signed DNSKEY set in 60 s (log %s)", argv[0], log);
    }
    return pid;
}

static void stop_signer(pid_t pid, served *s)
{
    ldns_rr_list_deep_free(s->keys);
    s->keys = NULL;
    kill(pid, SIGTERM);
    assert_true(proc_wait(pid, 10000) >= 0);
}

/* Every served DNSKEY is one of keys, byte for byte; returns the index of
 * the inventory entry for served key i. */
static size_t match_served(const served *s, size_t i, const kw_dnssec_key *keys,
                           size_t n)
{
    ldns_rr *rr = ldns_rr_list_rr(s->keys, i);
    kw_dnssec_key served_key = { 0 };
    kw_diag d = { { 0 } };
    char line[4096] = "";
    size_t pos = 0, j;

    for (size_t f = 0; f < ldns_rr_rd_count(rr); f++) {
        char *rd = ldns_rdf2str(ldns_rr_rdf(rr, f));

        pos += (size_t)snprintf(line + pos, sizeof line - pos, "%s%s",
                                f ? " " : "", rd);
        free(rd);
    }
    assert_int_equal(kw_dnssec_key_set_dnskey(&served_key, line, &d), 0);
    for (j = 0; j < n && keys[j].tag != served_key.tag; j++)
        ;
    if (j == n)
        fail_msg("served key %u is not in the inventory", served_key.tag);
    assert_string_equal(served_key.dnskey, keys[j].dnskey);
    assert_int_equal(keys[j].flags, served_key.flags);
    assert_string_equal(keys[j].zone, "child.test");
    assert_int_equal(keys[j].algorithm, 13);
    return j;
}

static void test_knot_signed_zone(void **state)
{
    char conf[512], zone[512], text[2048];
    char knotd[] = "/usr/sbin/knotd", c[] = "-c";
    kw_dnssec_key keys[8];
    size_t n = 0;
    kw_diag d = { { 0 } };
    kw_dnssec_knot_opts o = { .conf = conf, .timeout_ms = 30000 };
    served s = { 0 };
    pid_t pid;
    int64_t now = (int64_t)time(NULL);

    tmpdir_make(dir, sizeof dir, "dnssec-knot");
    s.port = kn_free_port("127.0.0.1");
    path_join(conf, sizeof conf, dir, "knot.conf");
    path_join(zone, sizeof zone, dir, "child.test.zone");
    write_file(zone, zone_text);
    snprintf(text, sizeof text, "server:\n    rundir: %s\n    listen: "
             "127.0.0.1@%d\ndatabase:\n    storage: %s\nlog:\n  - target: "
             "stderr\n    any: info\npolicy:\n  - id: p\n    algorithm: "
             "ecdsap256sha256\n    dnskey-ttl: 10\n    zone-max-ttl: 10\n"
             "    propagation-delay: 5\nzone:\n  - domain: child.test\n"
             "    storage: %s\n    file: child.test.zone\n    "
             "dnssec-signing: on\n    dnssec-policy: p\n", dir, s.port, dir, dir);
    write_file(conf, text);
    pid = start_signer((char *const[]){ knotd, c, conf, NULL }, &s);

    assert_int_equal(kw_dnssec_knot_list(&o, "child.test", keys, 8, &n, &d), 0);
    assert_int_equal(n, ldns_rr_list_rr_count(s.keys));
    for (size_t i = 0; i < ldns_rr_list_rr_count(s.keys); i++) {
        size_t j = match_served(&s, i, keys, n);

        if (keys[j].role == KW_DNSSEC_KSK) {
            kw_dnssec_stage next;
            int64_t at = -1;

            /* No parent confirms the DS: Knot's KSK stays ready. */
            assert_int_equal(kw_dnssec_key_stage(&keys[j], now + 60, &next, &at),
                             KW_DNSSEC_ST_READY);
            assert_int_equal(next, KW_DNSSEC_ST_ACTIVE);
            assert_int_equal(at, 0);
        } else {
            assert_int_equal(keys[j].role, KW_DNSSEC_ZSK);
            assert_int_equal(kw_dnssec_key_stage(&keys[j], now + 60, NULL, NULL),
                             KW_DNSSEC_ST_ACTIVE);
        }
    }
    stop_signer(pid, &s);
    tmpdir_remove(dir);
}

/* named's .state files get DNSKEYState once named has run its key
 * manager over them. */
static int states_written(void *ctx)
{
    const char *keydir = ctx;
    kw_dnssec_bind_key keys[4];
    size_t n = 0;

    if (kw_dnssec_bind_read_dir(keydir, "child.test", keys, 4, &n, NULL) < 0 ||
        n < 2)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!keys[i].has_state || !keys[i].state.dnskey[0])
            return 0;
    return 1;
}

static void test_named_signed_zone(void **state)
{
    char conf[512], zone[512], keydir[512], text[3072];
    char named[] = "/usr/sbin/named", g[] = "-g", c[] = "-c";
    kw_dnssec_bind_key keys[8];
    kw_dnssec_key plain[8];
    size_t n = 0;
    kw_diag d = { { 0 } };
    served s = { 0 };
    pid_t pid;
    int64_t now = (int64_t)time(NULL);

    tmpdir_make(dir, sizeof dir, "dnssec-named");
    s.port = kn_free_port("127.0.0.1");
    path_join(conf, sizeof conf, dir, "named.conf");
    path_join(zone, sizeof zone, dir, "child.test.db");
    path_join(keydir, sizeof keydir, dir, "keys");
    assert_int_equal(mkdir(keydir, 0700), 0);
    write_file(zone, zone_text);
    snprintf(text, sizeof text, "controls { };\noptions {\n    directory \"%s\";"
             "\n    pid-file \"%s/named.pid\";\n    listen-on port %d { "
             "127.0.0.1; };\n    listen-on-v6 { none; };\n    recursion no;\n"
             "    notify no;\n    key-directory \"%s\";\n    dnssec-validation "
             "no;\n};\ndnssec-policy \"fast\" {\n    keys { ksk lifetime "
             "unlimited algorithm ecdsap256sha256; zsk lifetime P30D algorithm "
             "ecdsap256sha256; };\n    dnskey-ttl 10;\n    max-zone-ttl 10;\n"
             "    zone-propagation-delay 5;\n    publish-safety 5;\n    "
             "retire-safety 5;\n    parent-ds-ttl 10;\n    "
             "parent-propagation-delay 5;\n};\nzone \"child.test\" {\n    "
             "type primary;\n    file \"%s\";\n    dnssec-policy \"fast\";\n"
             "    inline-signing yes;\n};\n", dir, dir, s.port, keydir, zone);
    write_file(conf, text);
    pid = start_signer((char *const[]){ named, g, c, conf, NULL }, &s);
    if (!proc_until(states_written, keydir, 30000))
        fail_msg("named wrote no key states in %s in 30 s", keydir);

    assert_int_equal(kw_dnssec_bind_read_dir(keydir, "child.test", keys, 8, &n,
                                             &d), 0);
    assert_int_equal(n, ldns_rr_list_rr_count(s.keys));
    for (size_t i = 0; i < n; i++)
        plain[i] = keys[i].key;
    for (size_t i = 0; i < ldns_rr_list_rr_count(s.keys); i++) {
        size_t j = match_served(&s, i, plain, n);
        const kw_dnssec_bind_key *bk = &keys[j];

        /* Every field named writes is known: nothing left as a note. */
        assert_int_equal(bk->state.nunknown, 0);
        assert_string_equal(bk->note, "");
        assert_true(bk->has_private);
        assert_string_equal(bk->state.goal, "omnipresent");
        assert_true(bk->state.dnskey[0] != '\0');
        assert_int_equal(bk->state.algorithm, 13);
        assert_int_equal(bk->state.length, 256);
        assert_true(bk->key.publish > 0 && bk->key.publish <= now + 60);
        if (bk->key.role == KW_DNSSEC_KSK) {
            assert_true(bk->state.ksk && !bk->state.zsk);
            assert_true(bk->state.ds[0] != '\0');
            assert_int_equal(bk->state.lifetime, 0);
        } else {
            assert_int_equal(bk->key.role, KW_DNSSEC_ZSK);
            assert_true(bk->state.zrrsig[0] != '\0');
            assert_int_equal(bk->state.lifetime, 30 * 86400);
            assert_int_equal(kw_dnssec_key_stage(&bk->key, now + 60, NULL, NULL),
                             KW_DNSSEC_ST_ACTIVE);
        }
    }
    stop_signer(pid, &s);
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_knot_signed_zone),
        cmocka_unit_test(test_named_signed_zone),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
