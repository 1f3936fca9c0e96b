/*
 * signers.c: knotd and named signing child.test (signers.h).
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
#include <sys/stat.h>

#include "dnssec/dnssec_bind.h"
#include "knot.h"
#include "proc.h"
#include "signers.h"
#include "tmpdir.h"

const char sg_zone_text[] = "$ORIGIN child.test.\n$TTL 10\n@ SOA ns1 "
    "hostmaster 1 60 60 600 10\n@ NS ns1\nns1 A 127.0.0.1\nwww A 192.0.2.1\n";

void sg_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

int sg_dnskeys(sg_signer *s, size_t min)
{
    uint8_t buf[4096];
    size_t len = 0;
    ldns_pkt *p = NULL;

    ldns_rr_list_deep_free(s->keys);
    s->keys = NULL;
    if (kn_ask("127.0.0.1", s->port, "child.test", LDNS_RR_TYPE_DNSKEY, 0,
               500, buf, sizeof buf, &len) < 0 ||
        ldns_wire2pkt(&p, buf, len) != LDNS_STATUS_OK)
        return 0;
    s->keys = ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_DNSKEY,
                                       LDNS_SECTION_ANSWER);
    ldns_pkt_free(p);
    if (s->keys && ldns_rr_list_rr_count(s->keys) >= min)
        return 1;
    ldns_rr_list_deep_free(s->keys);
    s->keys = NULL;
    return 0;
}

/* The signer answers the zone's DNSKEY set (KSK and ZSK) once signed. */
static int dnskeys_served(void *ctx)
{
    return sg_dnskeys(ctx, 2);
}

/* Start argv logging into dir/signer.log and wait until it serves the
 * signed zone. */
static void start(sg_signer *s, char *const argv[])
{
    char log[512];

    path_join(log, sizeof log, s->dir, "signer.log");
    s->pid = proc_spawn_log(argv, log);
    if (!proc_until(dnskeys_served, s, 60000)) {
        kill(s->pid, SIGKILL);
        proc_wait(s->pid, 5000);
        fail_msg("%s served no signed DNSKEY set in 60 s (log %s)", argv[0],
                 log);
    }
}

void sg_stop(sg_signer *s)
{
    ldns_rr_list_deep_free(s->keys);
    s->keys = NULL;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        assert_true(proc_wait(s->pid, 10000) >= 0);
    }
    s->pid = 0;
}

void sg_start_knot(sg_signer *s, const char *dir)
{
    char zone[512], text[2048];
    char knotd[] = "/usr/sbin/knotd", c[] = "-c";

    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    s->port = kn_free_port("127.0.0.1");
    path_join(s->conf, sizeof s->conf, dir, "knot.conf");
    path_join(zone, sizeof zone, dir, "child.test.zone");
    sg_write_file(zone, sg_zone_text);
    snprintf(text, sizeof text, "server:\n    rundir: %s\n    listen: "
             "127.0.0.1@%d\ndatabase:\n    storage: %s\nlog:\n  - target: "
             "stderr\n    any: info\npolicy:\n  - id: p\n    algorithm: "
             "ecdsap256sha256\n    dnskey-ttl: 10\n    zone-max-ttl: 10\n"
             "    propagation-delay: 5\nzone:\n  - domain: child.test\n"
             "    storage: %s\n    file: child.test.zone\n    "
             "dnssec-signing: on\n    dnssec-policy: p\n", dir, s->port, dir,
             dir);
    sg_write_file(s->conf, text);
    start(s, (char *const[]){ knotd, c, s->conf, NULL });
}

/* named's .state files get DNSKEYState once named has run its key
 * manager over them; the .key's Publish and Activate times may be
 * written after that, so both are waited for: a scan before them sees
 * a key "generated" that BIND's own view calls active a moment later. */
static int states_written(void *ctx)
{
    const char *keydir = ctx;
    kw_dnssec_bind_key keys[4];
    size_t n = 0;

    if (kw_dnssec_bind_read_dir(keydir, "child.test", keys, 4, &n, NULL) < 0 ||
        n < 2)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!keys[i].has_state || !keys[i].state.dnskey[0] ||
            keys[i].key.publish == 0 || keys[i].key.activate == 0)
            return 0;
    return 1;
}

void sg_start_named(sg_signer *s, const char *dir)
{
    char zone[512], text[3072];
    char named[] = "/usr/sbin/named", g[] = "-g", c[] = "-c";

    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    s->port = kn_free_port("127.0.0.1");
    path_join(s->conf, sizeof s->conf, dir, "named.conf");
    path_join(zone, sizeof zone, dir, "child.test.db");
    path_join(s->keydir, sizeof s->keydir, dir, "keys");
    assert_int_equal(mkdir(s->keydir, 0700), 0);
    sg_write_file(zone, sg_zone_text);
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
             "    inline-signing yes;\n};\n", dir, dir, s->port, s->keydir,
             zone);
    sg_write_file(s->conf, text);
    start(s, (char *const[]){ named, g, c, s->conf, NULL });
    if (!proc_until(states_written, s->keydir, 30000))
        fail_msg("named wrote no key states in %s in 30 s", s->keydir);
}
