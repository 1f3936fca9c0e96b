/*
 * test_dnssec_live.c: dnssec_live.h against real servers on loopback.
 *
 * Knot signs a parent zone test. (one CSK) and children child.test. (KSK
 * and ZSK, automatic key management) and short.test. (signatures that
 * live 60 s), with their DS records in test.; a second knotd on
 * 127.0.0.2 is a secondary of child.test.; unbound validates with test.'s
 * KSK as its only trust anchor: it is the judge of what a resolver does.
 * Cases: secure (keywarden ok, unbound AD); a lagging secondary (warning
 * naming it); a wrong DS in the parent (unbound SERVFAIL, keywarden
 * critical, and both well again once the right DS is back); short.test.'s
 * signer frozen (keywarden warning, then critical, before unbound fails,
 * on the pinned clock and then live); bad.test., signed ahead of time
 * (zsign.c) and served by Knot as it is, with its apex TXT altered after
 * signing (unbound SERVFAIL for that RRset, keywarden critical through
 * its sample of the zone's RRsets, naming the server and the record).
 * dnsviz (dnsviz.c) probes the same servers in the secure, wrong-DS,
 * altered-TXT and expired cases: its verdict must agree with keywarden's
 * (docs/testing.md has the table the "agreement:" lines print).
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
#include <poll.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <ldns/ldns.h>

#include "dns/dns_raw.h"
#include "dnssec/dnssec_live.h"
#include "knot.h"
#include "kwrun.h"
#include "proc.h"
#include "tmpdir.h"
#include "dnsviz.h"
#include "zsign.h"

#define KNOTD "/usr/sbin/knotd"
#define KNOTC "/usr/sbin/knotc"
#define KEYMGR "/usr/sbin/keymgr"
#define UNBOUND "/usr/sbin/unbound"
#define UNBOUND_CONTROL "/usr/sbin/unbound-control"

static char dir[512];
static knot prim, sec, ub;
static int port, ctl_port;
static char pconf[600], sconf[600], uconf[600];
static char bad_ds[300];   /* bad.test.'s DS, as zs_ds writes it */
static int quiet;   /* run(): no complaint on failure (polling) */

static void put_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Runs argv; its stdout in *out (malloc'd, may be NULL). Exit code. */
static int run(char *const argv[], char **out)
{
    char *o = NULL, *e = NULL;
    int ofd, efd, rc;
    pid_t pid = proc_spawn_pipes(argv, &ofd, &efd);

    assert_true(pid > 0);
    proc_drain(ofd, efd, &o, &e);
    rc = proc_wait(pid, 20000);
    if (rc != 0 && !quiet)
        fprintf(stderr, "%s %s: exit %d: %s%s\n", argv[0], argv[3], rc,
                o ? o : "", e ? e : "");
    free(e);
    if (out != NULL)
        *out = o;
    else
        free(o);
    return rc;
}

/* knotc -c conf -t 10 ARGS... (NULL-terminated). Exit code. */
static int knotc(const char *conf, ...)
{
    char *argv[16] = { (char *)KNOTC, (char *)"-c", (char *)conf,
                       (char *)"-t", (char *)"10" };
    size_t n = 5;
    va_list ap;

    va_start(ap, conf);
    while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    return run(argv, NULL);
}

static void ub_flush(void)
{
    char *a1[] = { (char *)UNBOUND_CONTROL, (char *)"-c", uconf,
                   (char *)"flush_zone", (char *)"test.", NULL };
    char *a2[] = { (char *)UNBOUND_CONTROL, (char *)"-c", uconf,
                   (char *)"flush_bogus", NULL };

    assert_int_equal(run(a1, NULL), 0);
    assert_int_equal(run(a2, NULL), 0);
}

/* unbound's verdict on name/type: 1 secure (AD), 0 SERVFAIL, -1 other;
 * its cache flushed first when flush is set. */
static int ub_ask_type(const char *name, int type, int flush)
{
    kw_dns_server s = { "127.0.0.1", 0 };
    kw_diag d = {{0}};
    uint8_t *w = NULL;
    size_t len = 0;
    ldns_pkt *p = NULL;
    int v = -1;

    s.port = ub.port;
    if (flush)
        ub_flush();
    if (kw_dns_ask_wire(&s, name, type, KW_DNS_Q_RD | KW_DNS_Q_DO, 5000,
                        &w, &len, &d) != 0) {
        fprintf(stderr, "unbound: %s\n", d.msg);
        return -1;
    }
    if (ldns_wire2pkt(&p, w, len) == LDNS_STATUS_OK) {
        if (ldns_pkt_get_rcode(p) == LDNS_RCODE_SERVFAIL)
            v = 0;
        else if (ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR &&
                 ldns_pkt_ad(p))
            v = 1;
    }
    ldns_pkt_free(p);
    free(w);
    return v;
}

static int ub_ask(const char *name, int flush)
{
    return ub_ask_type(name, LDNS_RR_TYPE_A, flush);
}

static int ub_verdict(const char *name)
{
    return ub_ask(name, 1);
}

static int has_dnskey(void *ctx)
{
    const char *zone = ctx;
    uint8_t r[4096];
    size_t len;

    return kn_ask("127.0.0.1", port, zone, 48, 0, 300, r, sizeof(r),
                  &len) == 0 && len > 12 && (r[6] | r[7]) != 0;
}

/* The DS (SHA-256) of zone's KSK, as keymgr prints it: "TAG ALG 2 HEX". */
static void ds_of(const char *zone, char *tag, char *alg, char *hex)
{
    char *argv[] = { (char *)KEYMGR, (char *)"-c", pconf, (char *)zone,
                     (char *)"ds", NULL };
    char *out = NULL, *line, *save = NULL;
    int found = 0;

    assert_int_equal(run(argv, &out), 0);
    for (line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char z[300], t[10], a[10], dt[10], h[200];

        if (sscanf(line, "%299s DS %9s %9s %9s %199s", z, t, a, dt, h) == 5 &&
            strcmp(dt, "2") == 0) {
            strcpy(tag, t);
            strcpy(alg, a);
            strcpy(hex, h);
            found = 1;
        }
    }
    free(out);
    assert_true(found);
}

static uint32_t serial_of(const char *addr, const char *zone)
{
    uint32_t s = 0;

    assert_int_equal(kn_soa_serial(addr, port, zone, 2000, &s), 0);
    return s;
}

/* Replace owner's DS in test. with one record. */
static void set_ds(const char *owner, const char *tag, const char *alg,
                   const char *hex)
{
    uint32_t before = serial_of("127.0.0.1", "test.");

    assert_int_equal(knotc(pconf, "zone-begin", "test.", NULL), 0);
    /* Nothing to unset the first time: its failure is expected then. */
    (void)knotc(pconf, "zone-unset", "test.", owner, "DS", NULL);
    assert_int_equal(knotc(pconf, "zone-set", "test.", owner, "10", "DS",
                           tag, alg, "2", hex, NULL), 0);
    assert_int_equal(knotc(pconf, "zone-commit", "test.", NULL), 0);
    assert_int_equal(kn_wait_serial("127.0.0.1", port, "test.", before + 1,
                                    10000), 0);
}

static void judge(const char *zone, const kw_dnssec_live_params *p,
                  int64_t now, kw_dnssec_live *r)
{
    kw_dns_server prim_srv = { "127.0.0.1", 0 };
    kw_dnssec_live_where w = { 0 };
    kw_diag d = {{0}};
    size_t i;

    prim_srv.port = port;
    w.resolver = &prim_srv;
    w.port = port;
    w.ds_server = &prim_srv;
    w.timeout_ms = 2000;
    assert_int_equal(kw_dnssec_live_run(zone, &w, p, now, r, &d), 0);
    fprintf(stderr, "%s: health %d, %zu finding(s)\n", zone, r->health,
            r->nfind);
    for (i = 0; i < r->nfind; i++)
        fprintf(stderr, "  %d %s [%s] %s: %s\n", r->find[i].severity,
                r->find[i].code, r->find[i].server, r->find[i].record,
                r->find[i].text);
}

/* keywarden dnssec check ARGS... zone against the test's servers, which
 * must exit with want. */
static kwres kw_dnssec(int want, const char *json, const char *zone)
{
    char srv[64], p[16];
    const char *args[] = { "dnssec", "check", "--server", srv, "--ds-server",
                           srv, "--port", p, zone, json, NULL };

    snprintf(srv, sizeof(srv), "127.0.0.1:%d", port);
    snprintf(p, sizeof(p), "%d", port);
    return kw_expect(want, kw_path(dir, "state"), kw_path(dir, "none.conf"),
                     args);
}

static const kw_dnssec_live_find *has(const kw_dnssec_live *r,
                                      const char *code)
{
    size_t i;

    for (i = 0; i < r->nfind; i++)
        if (strcmp(r->find[i].code, code) == 0)
            return &r->find[i];
    return NULL;
}

static pid_t start_daemon(char *const argv[], const char *log)
{
    pid_t pid = proc_spawn_log(argv, log);

    assert_true(pid > 0);
    return pid;
}

static void zone_file(const char *name, const char *extra)
{
    char path[700], text[2048];

    snprintf(path, sizeof(path), "%s/zones/%s.zone", dir, name);
    snprintf(text, sizeof(text),
             "$ORIGIN %s.\n$TTL 10\n"
             "@ SOA ns1.%s. hostmaster.%s. 1 60 10 86400 10\n"
             "@ NS ns1.%s.\nns1 A 127.0.0.1\nwww A 127.0.0.1\n%s",
             name, name, name, name, extra);
    put_text(path, text);
}

static int serves(void *ctx)
{
    knot *k = ctx;
    uint32_t s;

    return kn_soa_serial(k->addr, port, k->zone, 300, &s) == 0;
}

/* A knotd's server, log and database sections; its files in dir+sub. */
static size_t prologue(char *text, size_t cap, const char *sub,
                       const char *addr)
{
    int n = snprintf(text, cap,
        "server:\n    rundir: \"%s%s\"\n    listen: %s@%d\n"
        "log:\n  - target: \"%s%s/knot.log\"\n    any: info\n"
        "database:\n    storage: \"%s%s/db\"\n",
        dir, sub, addr, port, dir, sub, dir, sub);

    assert_true(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* bad.test., signed here for 30 days (Knot serves it as it is: no
 * dnssec-signing), then its apex TXT altered under the old signature. */
static void bad_zone(void)
{
    zs_zone z;
    char path[700];
    int64_t now = time(NULL);

    assert_int_equal(zs_sign("bad.test",
                             "@ SOA ns1 hostmaster 1 60 10 86400 10\n"
                             "@ NS ns1\nns1 A 127.0.0.1\n@ A 127.0.0.1\n"
                             "@ TXT \"signed\"\nwww A 127.0.0.1\n",
                             now - 3600, now + 30 * 86400, &z), 0);
    assert_int_equal(zs_tamper(&z, "bad.test", LDNS_RR_TYPE_TXT,
                               "\"altered\""), 0);
    snprintf(path, sizeof(path), "%s/zones/bad.test.zone", dir);
    assert_int_equal(zs_write(&z, path), 0);
    assert_int_equal(zs_ds(&z, bad_ds, sizeof(bad_ds)), 0);
    zs_free(&z);
}

static int setup(void **st)
{
    char path[700], text[6000], *argv[6];
    size_t n;
    char tag[10], alg[10], hex[200];

    (void)st;
    if (access(KNOTD, X_OK) != 0 || access(UNBOUND, X_OK) != 0) {
        fprintf(stderr, "knotd or unbound missing (tests/deps.sh)\n");
        return -1;
    }
    tmpdir_make(dir, sizeof(dir), "dnssec_live");
    port = kn_free_port("127.0.0.1");
    ctl_port = kn_free_port("127.0.0.1");
    snprintf(path, sizeof(path), "%s/zones", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/sec", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/db", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/sec/db", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    zone_file("test", "child NS ns1.child.test.\nchild NS ns2.child.test.\n"
              "ns1.child A 127.0.0.1\nns2.child A 127.0.0.2\n"
              "short NS ns1.short.test.\nns1.short A 127.0.0.1\n"
              "bad NS ns1.bad.test.\nns1.bad A 127.0.0.1\n"
              "n3 NS ns1.n3.test.\nns1.n3 A 127.0.0.1\n");
    zone_file("n3.test", "* A 127.0.0.3\n");
    bad_zone();
    zone_file("child.test", "@ NS ns2.child.test.\nns2 A 127.0.0.2\n");
    zone_file("short.test", "");
    snprintf(pconf, sizeof(pconf), "%s/knot.conf", dir);
    n = prologue(text, sizeof(text), "", "127.0.0.1");
    snprintf(text + n, sizeof(text) - n,
        "remote:\n  - id: secondary\n    address: 127.0.0.2@%d\n"
        "acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    action: transfer\n"
        "policy:\n"
        "  - id: parent\n    algorithm: ecdsap256sha256\n"
        "    single-type-signing: on\n    dnskey-ttl: 10\n"
        "    zone-max-ttl: 10\n"
        "  - id: child\n    algorithm: ecdsap256sha256\n"
        "    single-type-signing: off\n    dnskey-ttl: 10\n"
        "    zone-max-ttl: 10\n    propagation-delay: 1s\n"
        "  - id: n3\n    algorithm: ecdsap256sha256\n"
        "    dnskey-ttl: 10\n    zone-max-ttl: 10\n    nsec3: on\n"
        "    nsec3-iterations: 0\n    nsec3-salt-length: 0\n"
        "  - id: short\n    algorithm: ecdsap256sha256\n"
        "    dnskey-ttl: 10\n    zone-max-ttl: 10\n"
        "    propagation-delay: 1s\n    rrsig-lifetime: 60s\n"
        "    rrsig-refresh: 30s\n    rrsig-pre-refresh: 1s\n"
        "template:\n  - id: default\n    storage: \"%s/zones\"\n"
        "    file: \"%%s.zone\"\n    zonefile-sync: -1\n"
        "    zonefile-load: difference-no-serial\n"
        "    journal-content: all\n    serial-policy: increment\n"
        "zone:\n"
        "  - domain: test.\n    dnssec-signing: on\n"
        "    dnssec-policy: parent\n"
        "  - domain: child.test.\n    dnssec-signing: on\n"
        "    dnssec-policy: child\n    acl: [xfr]\n"
        "    notify: secondary\n"
        "  - domain: short.test.\n    dnssec-signing: on\n"
        "    dnssec-policy: short\n"
        "  - domain: bad.test.\n    zonefile-load: whole\n"
        "  - domain: n3.test.\n    dnssec-signing: on\n"
        "    dnssec-policy: n3\n",
        port, dir);
    put_text(pconf, text);
    snprintf(sconf, sizeof(sconf), "%s/sec/knot.conf", dir);
    n = prologue(text, sizeof(text), "/sec", "127.0.0.2");
    snprintf(text + n, sizeof(text) - n,
        "remote:\n  - id: primary\n    address: 127.0.0.1@%d\n"
        "acl:\n  - id: notify\n    address: 127.0.0.1\n    action: notify\n"
        "template:\n  - id: default\n    storage: \"%s/sec\"\n"
        "    file: \"%%s.zone\"\n"
        "zone:\n  - domain: child.test.\n    master: primary\n"
        "    acl: [notify]\n",
        port, dir);
    put_text(sconf, text);

    argv[0] = (char *)KNOTD; argv[1] = (char *)"-c"; argv[2] = pconf;
    argv[3] = NULL;
    snprintf(path, sizeof(path), "%s/knotd.out", dir);
    prim.pid = start_daemon(argv, path);
    snprintf(prim.addr, sizeof(prim.addr), "127.0.0.1");
    snprintf(prim.zone, sizeof(prim.zone), "test.");
    assert_true(proc_until(serves, &prim, 15000));
    assert_true(proc_until(has_dnskey, (void *)"child.test.", 15000));
    assert_true(proc_until(has_dnskey, (void *)"short.test.", 15000));
    assert_true(proc_until(has_dnskey, (void *)"test.", 15000));
    argv[2] = sconf;
    snprintf(path, sizeof(path), "%s/sec/knotd.out", dir);
    sec.pid = start_daemon(argv, path);
    snprintf(sec.addr, sizeof(sec.addr), "127.0.0.2");
    snprintf(sec.zone, sizeof(sec.zone), "child.test.");
    assert_int_equal(kn_wait_serial("127.0.0.2", port, "child.test.",
                                    serial_of("127.0.0.1", "child.test."),
                                    15000), 0);

    ds_of("child.test.", tag, alg, hex);
    set_ds("child", tag, alg, hex);
    ds_of("short.test.", tag, alg, hex);
    set_ds("short", tag, alg, hex);
    assert_true(proc_until(has_dnskey, (void *)"n3.test.", 15000));
    ds_of("n3.test.", tag, alg, hex);
    set_ds("n3", tag, alg, hex);
    assert_true(proc_until(has_dnskey, (void *)"bad.test.", 15000));
    assert_int_equal(sscanf(bad_ds, "%*s %*s %*s DS %9s %9s %*s %199s", tag,
                            alg, hex), 3);
    set_ds("bad", tag, alg, hex);
    return 0;
}

/* unbound validates test. and its control channel listens (it binds
 * that after the DNS port). */
static int ub_up(void *ctx)
{
    char *argv[] = { (char *)UNBOUND_CONTROL, (char *)"-c", uconf,
                     (char *)"status", NULL };
    int rc;

    (void)ctx;
    if (ub_ask("www.test.", 0) != 1)
        return 0;
    quiet = 1;
    rc = run(argv, NULL);
    quiet = 0;
    return rc == 0;
}

/* unbound, validating, with test.'s KSK as its only trust anchor. */
static void start_unbound(void)
{
    kw_dns_server s = { "127.0.0.1", 0 };
    kw_diag d = {{0}};
    uint8_t *w = NULL;
    size_t len = 0, i;
    ldns_pkt *p = NULL;
    char path[700], text[4000], anchor[2000] = "", *argv[5];
    ldns_rr_list *ans;

    s.port = port;
    assert_int_equal(kw_dns_ask_wire(&s, "test.", LDNS_RR_TYPE_DNSKEY, 0,
                                     3000, &w, &len, &d), 0);
    assert_int_equal(ldns_wire2pkt(&p, w, len), LDNS_STATUS_OK);
    ans = ldns_pkt_answer(p);
    for (i = 0; i < ldns_rr_list_rr_count(ans); i++) {
        ldns_rr *rr = ldns_rr_list_rr(ans, i);
        char *t;

        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_DNSKEY ||
            ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)) != 257)
            continue;
        t = ldns_rr2str(rr);
        strncat(anchor, t, sizeof(anchor) - strlen(anchor) - 1);
        free(t);
    }
    ldns_pkt_free(p);
    free(w);
    assert_true(anchor[0] != '\0');
    snprintf(path, sizeof(path), "%s/test.anchor", dir);
    put_text(path, anchor);
    ub.port = kn_free_port("127.0.0.1");
    snprintf(ub.addr, sizeof(ub.addr), "127.0.0.1");
    snprintf(uconf, sizeof(uconf), "%s/unbound.conf", dir);
    /* The settings without which unbound hides the failures: test. is
     * an RFC 6761 local zone unless nodefault, and expired signatures
     * validate for an hour unless the skew is 0 (testbed doc, sec. 2). */
    snprintf(text, sizeof(text),
        "server:\n    interface: 127.0.0.1@%d\n    port: %d\n"
        "    access-control: 127.0.0.0/8 allow\n"
        "    do-not-query-localhost: no\n    username: \"\"\n"
        "    chroot: \"\"\n    directory: \"%s\"\n"
        "    pidfile: \"%s/unbound.pid\"\n    use-syslog: no\n"
        "    logfile: \"%s/unbound.log\"\n    val-log-level: 2\n"
        "    do-ip6: no\n    num-threads: 1\n"
        "    trust-anchor-file: \"%s/test.anchor\"\n"
        "    module-config: \"validator iterator\"\n"
        "    cache-max-ttl: 10\n    cache-max-negative-ttl: 5\n"
        "    val-bogus-ttl: 1\n    val-sig-skew-min: 0\n"
        "    val-sig-skew-max: 0\n    prefetch: no\n"
        "    local-zone: \"test.\" nodefault\n"
        "stub-zone:\n    name: \".\"\n    stub-addr: 127.0.0.1@%d\n"
        "stub-zone:\n    name: \"test.\"\n    stub-addr: 127.0.0.1@%d\n"
        "remote-control:\n    control-enable: yes\n"
        "    control-interface: 127.0.0.1\n    control-port: %d\n"
        "    control-use-cert: no\n",
        ub.port, ub.port, dir, dir, dir, dir, port, port, ctl_port);
    put_text(uconf, text);
    argv[0] = (char *)UNBOUND; argv[1] = (char *)"-d"; argv[2] = (char *)"-c";
    argv[3] = uconf; argv[4] = NULL;
    snprintf(path, sizeof(path), "%s/unbound.out", dir);
    ub.pid = start_daemon(argv, path);
    assert_true(proc_until(ub_up, NULL, 15000));
}

static int teardown(void **st)
{
    (void)st;
    kn_stop(&ub);
    kn_stop(&sec);
    kn_stop(&prim);
    if (getenv("KW_KEEP_TMP") == NULL)
        tmpdir_remove(dir);
    return 0;
}

/* dnsviz's verdict on zone ("child.test.") from the test's primary, with
 * test.'s KSK as its trust anchor (the file start_unbound wrote), printed
 * beside keywarden's health for the agreement table in docs/testing.md. */
static void viz(const char *zone, const char *cas, ks_health kw,
                dv_verdict *v)
{
    char x1[100], x2[400], anchor[700];
    const char *xs[2] = { x1, x2 };
    static const char *const hn[] = { "ok", "warning", "critical" };

    assert_true(dv_available());
    snprintf(x1, sizeof(x1), "test.+:ns1.test=127.0.0.1:%d", port);
    snprintf(x2, sizeof(x2), "%s:ns1.%s=127.0.0.1:%d", zone, zone, port);
    snprintf(anchor, sizeof(anchor), "%s/test.anchor", dir);
    assert_int_equal(dv_judge(dir, anchor, xs, 2, zone, v), 0);
    fprintf(stderr, "agreement: %s | dnsviz %s (errors: %s; warnings: %s) "
            "| keywarden %s\n", cas, v->status,
            v->errors[0] ? v->errors : "none",
            v->warnings[0] ? v->warnings : "none",
            kw <= KS_HEALTH_CRITICAL ? hn[kw] : "unknown");
}

/* Secure: keywarden ok, unbound AD; both servers seen. */
static void test_secure(void **st)
{
    static kw_dnssec_live r;
    dv_verdict v;
    kwres cli;

    (void)st;
    start_unbound();
    judge("child.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_OK);
    assert_int_equal(r.nfind, 0);
    assert_true(r.is_signed && r.has_ds);
    assert_true(r.serial[0] != 0 && r.serial[1] != 0);
    assert_int_equal(r.nds, 1);
    assert_true(r.ds[0].matched);
    assert_int_equal(ub_verdict("www.child.test."), 1);
    viz("child.test.", "secure child", r.health, &v);
    assert_string_equal(v.status, "SECURE");
    assert_string_equal(v.errors, "");
    cli = kw_dnssec(0, NULL, "child.test");
    assert_contains(cli.out, "child.test: ok (signed, DS at the parent)");
    assert_contains(cli.out, "signs the DNSKEY set, named by the DS");
    kwres_free(&cli);
}

/* A secondary that holds an older serial is named. */
static void test_secondary_lags(void **st)
{
    static kw_dnssec_live r;
    const kw_dnssec_live_find *f;
    uint32_t before = serial_of("127.0.0.1", "child.test.");
    char who[80];

    (void)st;
    assert_int_equal(knotc(sconf, "zone-freeze", "child.test.", NULL), 0);
    assert_int_equal(knotc(pconf, "zone-begin", "child.test.", NULL), 0);
    assert_int_equal(knotc(pconf, "zone-set", "child.test.", "new", "10",
                           "TXT", "lag", NULL), 0);
    assert_int_equal(knotc(pconf, "zone-commit", "child.test.", NULL), 0);
    assert_int_equal(kn_wait_serial("127.0.0.1", port, "child.test.",
                                    before + 1, 10000), 0);
    judge("child.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_WARNING);
    f = has(&r, "soa.serial");
    assert_non_null(f);
    snprintf(who, sizeof(who), "127.0.0.2:%d", port);
    assert_string_equal(f->server, who);
    assert_int_equal(knotc(sconf, "zone-thaw", "child.test.", NULL), 0);
    assert_int_equal(kn_wait_serial("127.0.0.2", port, "child.test.",
                                    serial_of("127.0.0.1", "child.test."),
                                    15000), 0);
    judge("child.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_OK);
}

/* A wrong DS: unbound SERVFAIL and keywarden critical together; the
 * DS keywarden says to submit makes both well again. */
static void test_wrong_ds(void **st)
{
    static kw_dnssec_live r;
    const kw_dnssec_live_find *f;
    char tag[10], alg[10], hex[200], z[300], t[10], a[10], dt[10], h[200];
    char zeros[65];
    dv_verdict v;
    kwres cli;

    (void)st;
    ds_of("child.test.", tag, alg, hex);
    memset(zeros, '0', 64);
    zeros[64] = '\0';
    set_ds("child", tag, alg, zeros);
    assert_int_equal(ub_verdict("www.child.test."), 0);
    judge("child.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_CRITICAL);
    f = has(&r, "ds.mismatch");
    assert_non_null(f);
    assert_non_null(strstr(f->text, "SERVFAIL for the whole zone"));
    viz("child.test.", "wrong DS at the parent", r.health, &v);
    assert_string_equal(v.status, "BOGUS");
    assert_non_null(strstr(v.errors, "DIGEST_INVALID"));
    cli = kw_dnssec(2, "--json", "child.test");
    assert_contains(cli.out, "\"code\": \"ds.mismatch\"");
    assert_contains(cli.out, "\"health\": \"critical\"");
    kwres_free(&cli);
    /* The fix carries the DS to submit: put exactly that in. */
    h[0] = '\0';
    assert_int_equal(sscanf(strstr(f->fix, "with: ") + 6,
                            "%299s %*s %*s DS %9s %9s %9s %199s", z, t, a,
                            dt, h), 5);
    assert_string_equal(t, tag);
    assert_string_equal(h, hex);
    set_ds("child", t, a, h);
    assert_int_equal(ub_verdict("www.child.test."), 1);
    judge("child.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_OK);
}

/* short.test.'s signer frozen: warning, then critical, before unbound
 * fails; first on the pinned clock, then live until unbound fails. */
static void test_signer_stopped(void **st)
{
    static kw_dnssec_live r;
    kw_dnssec_live_params p = { 25, 12 };
    int64_t e, end, crit_at = 0, fail_at = 0;
    dv_verdict dv;

    (void)st;
    assert_int_equal(knotc(pconf, "zone-freeze", "short.test.", NULL), 0);
    judge("short.test", &p, time(NULL), &r);
    assert_int_equal(ub_verdict("www.short.test."), 1);
    e = r.next_expiry;
    assert_true(e > time(NULL));
    judge("short.test", &p, e - 40, &r);
    assert_int_equal(r.health, KS_HEALTH_OK);
    judge("short.test", &p, e - 20, &r);
    assert_int_equal(r.health, KS_HEALTH_WARNING);
    assert_non_null(has(&r, "rrsig.expiring"));
    judge("short.test", &p, e - 5, &r);
    assert_int_equal(r.health, KS_HEALTH_CRITICAL);
    judge("short.test", &p, e + 1, &r);
    assert_non_null(has(&r, "rrsig.expired"));

    /* Live: poll both until unbound fails. */
    end = time(NULL) + 90;
    while (time(NULL) < end && fail_at == 0) {
        int v;

        judge("short.test", &p, time(NULL), &r);
        if (r.health == KS_HEALTH_CRITICAL && crit_at == 0)
            crit_at = time(NULL);
        v = ub_verdict("www.short.test.");
        if (v == 0)
            fail_at = time(NULL);
        else
            poll(NULL, 0, 1000);
    }
    fprintf(stderr, "critical at %lld, unbound SERVFAIL at %lld\n",
            (long long)crit_at, (long long)fail_at);
    assert_true(fail_at != 0);
    assert_true(crit_at != 0 && crit_at < fail_at);
    judge("short.test", &p, time(NULL), &r);
    assert_non_null(has(&r, "rrsig.expired"));
    viz("short.test.", "signatures expired (signer frozen)", r.health,
        &dv);
    assert_string_equal(dv.status, "BOGUS");
    assert_non_null(strstr(dv.errors, "EXPIRATION_IN_PAST"));
    assert_int_equal(knotc(pconf, "zone-thaw", "short.test.", NULL), 0);
}

/* A server that never answers and one that answers garbage, given as
 * the zone's servers beside the primary: each named, the primary still
 * judged, the DS chain still checked. */
static void test_bad_servers(void **st)
{
    static kw_dnssec_live r;
    kn_fake silent, garbage;
    kw_dns_server list[3], prim_srv = { "127.0.0.1", 0 };
    kw_dnssec_live_where w = { 0 };
    kw_diag d = {{0}};
    char who[80];
    size_t i;

    (void)st;
    assert_int_equal(kn_fake_start("127.0.0.1", kn_free_port("127.0.0.1"),
                                   KN_FAKE_SILENT, &silent), 0);
    assert_int_equal(kn_fake_start("127.0.0.1", kn_free_port("127.0.0.1"),
                                   KN_FAKE_GARBAGE, &garbage), 0);
    prim_srv.port = port;
    list[0] = prim_srv;
    snprintf(list[1].addr, sizeof(list[1].addr), "127.0.0.1");
    list[1].port = silent.port;
    snprintf(list[2].addr, sizeof(list[2].addr), "127.0.0.1");
    list[2].port = garbage.port;
    w.servers = list;
    w.nservers = 3;
    w.ds_server = &prim_srv;
    w.timeout_ms = 500;
    assert_int_equal(kw_dnssec_live_run("child.test", &w, NULL, time(NULL),
                                        &r, &d), 0);
    kn_fake_stop(&silent);
    kn_fake_stop(&garbage);
    for (i = 0; i < r.nfind; i++)
        fprintf(stderr, "  %d %s [%s] %s\n", r.find[i].severity,
                r.find[i].code, r.find[i].server, r.find[i].text);
    assert_int_equal(r.health, KS_HEALTH_WARNING);
    snprintf(who, sizeof(who), "127.0.0.1:%d", silent.port);
    assert_string_equal(has(&r, "server.noanswer")->server, who);
    assert_non_null(has(&r, "server.garbage"));
    assert_true(r.serial[0] != 0);
    assert_true(r.has_ds && r.ds[0].matched);
    assert_null(has(&r, "ds.mismatch"));
}

/* A sampled RRset with a broken signature: unbound SERVFAIL for that
 * name and type while the rest of the zone validates; keywarden critical,
 * naming the server and the record, and nothing else wrong. */
static void test_bogus_sample(void **st)
{
    static kw_dnssec_live r;
    const kw_dnssec_live_find *f;
    char who[80];
    dv_verdict v;
    kwres cli;

    (void)st;
    assert_int_equal(ub_ask_type("bad.test.", LDNS_RR_TYPE_TXT, 1), 0);
    assert_int_equal(ub_ask_type("www.bad.test.", LDNS_RR_TYPE_A, 1), 1);
    judge("bad.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_CRITICAL);
    assert_int_equal(r.nfind, 1);
    f = has(&r, "rrsig.bad");
    assert_non_null(f);
    assert_string_equal(f->record, "bad.test. TXT");
    snprintf(who, sizeof(who), "127.0.0.1:%d", port);
    assert_string_equal(f->server, who);
    assert_true(r.has_ds && r.ds[0].matched);
    viz("bad.test.", "apex TXT altered after signing", r.health, &v);
    assert_non_null(strstr(v.errors, "SIGNATURE_INVALID"));
    cli = kw_dnssec(2, "--json", "bad.test");
    assert_contains(cli.out, "\"record\": \"bad.test. TXT\"");
    kwres_free(&cli);
}

/* NSEC3 (Knot, 0 iterations, no salt) and a wildcard: the sample's name
 * answered from the wildcard, its signature verified as expanded, no
 * finding, unbound secure. */
static void test_nsec3(void **st)
{
    static kw_dnssec_live r;

    (void)st;
    judge("n3.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_OK);
    assert_int_equal(r.nfind, 0);
    assert_int_equal(ub_verdict("www.n3.test."), 1);
}

/* Several zones at once: each result in its place, the zone that cannot
 * be checked (no such delegation) its own error. */
static void test_run_many(void **st)
{
    static kw_dnssec_live_res outs[4];
    const char *zones[4] = { "child.test", "bad.test", "missing.test",
                             "n3.test" };
    kw_dns_server prim_srv = { "127.0.0.1", 0 };
    kw_dnssec_live_where w = { 0 };
    kw_diag d = {{0}};

    (void)st;
    prim_srv.port = port;
    w.resolver = &prim_srv;
    w.port = port;
    w.ds_server = &prim_srv;
    w.timeout_ms = 2000;
    assert_int_equal(kw_dnssec_live_run_many(zones, 4, &w, NULL, time(NULL),
                                             2, outs, &d), 0);
    assert_int_equal(outs[0].rc, 0);
    assert_int_equal(outs[0].live.health, KS_HEALTH_OK);
    assert_int_equal(outs[1].rc, 0);
    assert_int_equal(outs[1].live.health, KS_HEALTH_CRITICAL);
    assert_string_equal(outs[1].live.find[0].record, "bad.test. TXT");
    assert_true(outs[2].rc != 0);
    fprintf(stderr, "missing.test: %s\n", outs[2].diag.msg);
    assert_non_null(strstr(outs[2].diag.msg, "missing.test"));
    assert_int_equal(outs[3].rc, 0);
    assert_int_equal(outs[3].live.health, KS_HEALTH_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secure),
        cmocka_unit_test(test_secondary_lags),
        cmocka_unit_test(test_wrong_ds),
        cmocka_unit_test(test_bad_servers),
        cmocka_unit_test(test_bogus_sample),
        cmocka_unit_test(test_nsec3),
        cmocka_unit_test(test_run_many),
        cmocka_unit_test(test_signer_stopped),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
