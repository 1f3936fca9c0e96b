/*
 * test_dnssec_knot_keys.c: the keys a running Knot signs a zone with
 * (automatic key management, dnssec-policy) read from its KASP through
 * keymgr (dnssec/dnssec_knot.h) and held against the DNSKEY set that
 * knotd serves: every served key is in the inventory with the same
 * DNSKEY, tag and role, and the stages follow Knot's timers (the first
 * KSK ready and waiting for its DS, the ZSK active).
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
#include <time.h>

#include "dnssec/dnssec_knot.h"
#include "knot.h"
#include "proc.h"
#include "tmpdir.h"

static char dir[256];

typedef struct served {
    int port;
    ldns_rr_list *keys;     /* the DNSKEY answer, once knotd signed */
} served;

/* knotd answers the zone's DNSKEY set once it has signed it. */
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

static void test_knot_signed_zone(void **state)
{
    char conf[512], zone[512], log[512], text[2048];
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
    path_join(log, sizeof log, dir, "knotd.log");
    write_file(zone, "$ORIGIN child.test.\n$TTL 10\n@ SOA ns1 hostmaster 1 60 "
               "60 600 10\n@ NS ns1\nns1 A 127.0.0.1\nwww A 192.0.2.1\n");
    snprintf(text, sizeof text, "server:\n    rundir: %s\n    listen: "
             "127.0.0.1@%d\ndatabase:\n    storage: %s\nlog:\n  - target: "
             "stderr\n    any: info\npolicy:\n  - id: p\n    algorithm: "
             "ecdsap256sha256\n    dnskey-ttl: 10\n    zone-max-ttl: 10\n"
             "    propagation-delay: 5\nzone:\n  - domain: child.test\n"
             "    storage: %s\n    file: child.test.zone\n    "
             "dnssec-signing: on\n    dnssec-policy: p\n", dir, s.port, dir, dir);
    write_file(conf, text);
    {
        char knotd[] = "/usr/sbin/knotd", c[] = "-c";

        pid = proc_spawn_log((char *const[]){ knotd, c, conf, NULL }, log);
    }
    if (!proc_until(dnskeys_served, &s, 30000)) {
        kill(pid, SIGKILL);
        proc_wait(pid, 5000);
        fail_msg("knotd served no DNSKEY set in 30 s (log %s)", log);
    }

    assert_int_equal(kw_dnssec_knot_list(&o, "child.test", keys, 8, &n, &d), 0);
    assert_int_equal(n, ldns_rr_list_rr_count(s.keys));
    for (size_t i = 0; i < ldns_rr_list_rr_count(s.keys); i++) {
        ldns_rr *rr = ldns_rr_list_rr(s.keys, i);
        unsigned tag = ldns_calc_keytag(rr);
        size_t j;

        for (j = 0; j < n && keys[j].tag != tag; j++)
            ;
        assert_true(j < n);
        {
            kw_dnssec_key served_key = { 0 };
            char *rd = NULL, line[4096] = "";
            size_t pos = 0;

            for (size_t f = 0; f < ldns_rr_rd_count(rr); f++) {
                rd = ldns_rdf2str(ldns_rr_rdf(rr, f));
                pos += (size_t)snprintf(line + pos, sizeof line - pos, "%s%s",
                                        f ? " " : "", rd);
                free(rd);
            }
            assert_int_equal(kw_dnssec_key_set_dnskey(&served_key, line, &d), 0);
            assert_string_equal(served_key.dnskey, keys[j].dnskey);
        }
        assert_int_equal(keys[j].flags, ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)));
        assert_string_equal(keys[j].zone, "child.test");
        assert_int_equal(keys[j].algorithm, 13);
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
    ldns_rr_list_deep_free(s.keys);
    kill(pid, SIGTERM);
    assert_true(proc_wait(pid, 10000) >= 0);
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_knot_signed_zone),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
