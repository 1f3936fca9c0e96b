/*
 * dnssec_bed.c: the DNSSEC test bed (dnssec_bed.h), moved here from
 * test_dnssec_live.c so the rollover test builds on the same servers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <ldns/ldns.h>

#include "dns/dns_raw.h"
#include "dnssec_bed.h"
#include "proc.h"
#include "tmpdir.h"

dnssec_bed bed;

int bed_init(const char *name)
{
    static const char *const sub[] = { "zones", "sec", "db", "sec/db" };
    char path[700];
    size_t i;

    memset(&bed, 0, sizeof(bed));
    if (access(KNOTD, X_OK) != 0 || access(UNBOUND, X_OK) != 0) {
        fprintf(stderr, "knotd or unbound missing (tests/deps.sh)\n");
        return -1;
    }
    tmpdir_make(bed.dir, sizeof(bed.dir), name);
    bed.port = kn_free_port("127.0.0.1");
    bed.ctl_port = kn_free_port("127.0.0.1");
    for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", bed.dir, sub[i]);
        assert_int_equal(mkdir(path, 0700), 0);
    }
    return 0;
}

void bed_stop(void)
{
    kn_stop(&bed.ub);
    kn_stop(&bed.sec);
    kn_stop(&bed.prim);
    if (getenv("KW_KEEP_TMP") == NULL && bed.dir[0] != '\0')
        tmpdir_remove(bed.dir);
}

void bed_primary_conf(const char *head, const char *more_policies,
                      const char *child_extra, const char *more_zones)
{
    char text[8000];
    size_t n;
    int m;

    snprintf(bed.pconf, sizeof(bed.pconf), "%s/knot.conf", bed.dir);
    n = bed_prologue(text, sizeof(text), "", "127.0.0.1");
    m = snprintf(text + n, sizeof(text) - n,
        "%s"
        "policy:\n"
        "  - id: parent\n    algorithm: ecdsap256sha256\n"
        "    single-type-signing: on\n    dnskey-ttl: 10\n"
        "    zone-max-ttl: 10\n"
        "  - id: child\n    algorithm: ecdsap256sha256\n"
        "    single-type-signing: off\n    dnskey-ttl: 10\n"
        "    zone-max-ttl: 10\n    propagation-delay: 1s\n"
        "%s"
        "template:\n  - id: default\n    storage: \"%s/zones\"\n"
        "    file: \"%%s.zone\"\n    zonefile-sync: -1\n"
        "    zonefile-load: difference-no-serial\n"
        "    journal-content: all\n    serial-policy: increment\n"
        "zone:\n"
        "  - domain: test.\n    dnssec-signing: on\n"
        "    dnssec-policy: parent\n"
        "  - domain: child.test.\n    dnssec-signing: on\n"
        "    dnssec-policy: child\n%s%s",
        head, more_policies, bed.dir, child_extra, more_zones);
    assert_true(m > 0 && (size_t)m < sizeof(text) - n);
    bed_put_text(bed.pconf, text);
}

void bed_start_knotd(knot *k, const char *conf, const char *out,
                     const char *addr, const char *zone)
{
    char path[700], *argv[4];

    argv[0] = (char *)KNOTD;
    argv[1] = (char *)"-c";
    argv[2] = (char *)conf;
    argv[3] = NULL;
    snprintf(path, sizeof(path), "%s/%s", bed.dir, out);
    k->pid = bed_start_daemon(argv, path);
    snprintf(k->addr, sizeof(k->addr), "%s", addr);
    snprintf(k->zone, sizeof(k->zone), "%s", zone);
    assert_true(proc_until(bed_serves, k, 15000));
}

void bed_put_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Runs argv; its stdout in *out (malloc'd, may be NULL). Exit code. */
int bed_run(char *const argv[], char **out)
{
    char *o = NULL, *e = NULL;
    int ofd, efd, rc;
    pid_t pid = proc_spawn_pipes(argv, &ofd, &efd);

    assert_true(pid > 0);
    proc_drain(ofd, efd, &o, &e);
    rc = proc_wait(pid, 20000);
    if (rc != 0 && !bed.quiet)
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
int bed_knotc(const char *conf, ...)
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
    return bed_run(argv, NULL);
}

/* The zone unbound trusts. */
static const char *ub_zone(void)
{
    return bed.ub_zone != NULL ? bed.ub_zone : "test.";
}

void bed_ub_flush(void)
{
    char *a1[] = { (char *)UNBOUND_CONTROL, (char *)"-c", bed.uconf,
                   (char *)"flush_zone", (char *)ub_zone(), NULL };
    char *a2[] = { (char *)UNBOUND_CONTROL, (char *)"-c", bed.uconf,
                   (char *)"flush_bogus", NULL };

    assert_int_equal(bed_run(a1, NULL), 0);
    assert_int_equal(bed_run(a2, NULL), 0);
}

/* unbound's verdict on name/type: 1 secure (AD), 0 SERVFAIL, -1 other;
 * its cache flushed first when flush is set. */
int bed_ub_ask_type(const char *name, int type, int flush)
{
    kw_dns_server s = { "127.0.0.1", 0 };
    kw_diag d = {{0}};
    uint8_t *w = NULL;
    size_t len = 0;
    ldns_pkt *p = NULL;
    int v = -1;

    s.port = bed.ub.port;
    if (flush)
        bed_ub_flush();
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

int bed_ub_ask(const char *name, int flush)
{
    return bed_ub_ask_type(name, LDNS_RR_TYPE_A, flush);
}

int bed_ub_verdict(const char *name)
{
    return bed_ub_ask(name, 1);
}

int bed_has_dnskey(void *ctx)
{
    const char *zone = ctx;
    uint8_t r[4096];
    size_t len;

    return kn_ask("127.0.0.1", bed.port, zone, 48, 0, 300, r, sizeof(r),
                  &len) == 0 && len > 12 && (r[6] | r[7]) != 0;
}

/* The DS (SHA-256) of zone's KSK, as keymgr prints it: "TAG ALG 2 HEX". */
void bed_ds_of(const char *zone, char *tag, char *alg, char *hex)
{
    char *argv[] = { (char *)KEYMGR, (char *)"-c", bed.pconf, (char *)zone,
                     (char *)"ds", NULL };
    char *out = NULL, *line, *save = NULL;
    int found = 0;

    assert_int_equal(bed_run(argv, &out), 0);
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

uint32_t bed_serial_of(const char *addr, const char *zone)
{
    uint32_t s = 0;

    assert_int_equal(kn_soa_serial(addr, bed.port, zone, 2000, &s), 0);
    return s;
}

/* Replace owner's DS in test. with one record. */
void bed_set_rr(const char *zone, const char *owner, const char *type,
                const char *rdata)
{
    uint32_t before = bed_serial_of("127.0.0.1", zone);
    char buf[600], *f[8] = { NULL }, *save = NULL, *t;
    size_t n = 0;

    snprintf(buf, sizeof(buf), "%s", rdata);
    for (t = strtok_r(buf, " ", &save); t != NULL && n < 8;
         t = strtok_r(NULL, " ", &save))
        f[n++] = t;
    assert_true(n > 0 && n < 8);
    assert_int_equal(bed_knotc(bed.pconf, "zone-begin", zone, NULL), 0);
    /* Nothing to unset the first time: its failure is expected then. */
    (void)bed_knotc(bed.pconf, "zone-unset", zone, owner, type, NULL);
    assert_int_equal(bed_knotc(bed.pconf, "zone-set", zone, owner, "10", type,
                               f[0], f[1], f[2], f[3], f[4], f[5], f[6],
                               NULL), 0);
    assert_int_equal(bed_knotc(bed.pconf, "zone-commit", zone, NULL), 0);
    assert_int_equal(kn_wait_serial("127.0.0.1", bed.port, zone, before + 1,
                                    10000), 0);
}

void bed_set_ds(const char *owner, const char *tag, const char *alg,
                const char *hex)
{
    char rdata[300];

    snprintf(rdata, sizeof(rdata), "%s %s 2 %s", tag, alg, hex);
    bed_set_rr("test.", owner, "DS", rdata);
}

pid_t bed_start_daemon(char *const argv[], const char *log)
{
    pid_t pid = proc_spawn_log(argv, log);

    assert_true(pid > 0);
    return pid;
}

void bed_zone_file(const char *name, const char *extra)
{
    char path[700], text[2048];

    snprintf(path, sizeof(path), "%s/zones/%s.zone", bed.dir, name);
    snprintf(text, sizeof(text),
             "$ORIGIN %s.\n$TTL 10\n"
             "@ SOA ns1.%s. hostmaster.%s. 1 60 10 86400 10\n"
             "@ NS ns1.%s.\nns1 A 127.0.0.1\nwww A 127.0.0.1\n%s",
             name, name, name, name, extra);
    bed_put_text(path, text);
}

int bed_serves(void *ctx)
{
    knot *k = ctx;
    uint32_t s;

    return kn_soa_serial(k->addr, bed.port, k->zone, 300, &s) == 0;
}

/* A knotd's server, log and database sections; its files in dir+sub. */
size_t bed_prologue(char *text, size_t cap, const char *sub,
                       const char *addr)
{
    int n = snprintf(text, cap,
        "server:\n    rundir: \"%s%s\"\n    listen: %s@%d\n"
        "log:\n  - target: \"%s%s/knot.log\"\n    any: info\n"
        "database:\n    storage: \"%s%s/db\"\n",
        bed.dir, sub, addr, bed.port, bed.dir, sub, bed.dir, sub);

    assert_true(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* unbound validates test. and its control channel listens (it binds
 * that after the DNS port). */
int bed_ub_up(void *ctx)
{
    char *argv[] = { (char *)UNBOUND_CONTROL, (char *)"-c", bed.uconf,
                     (char *)"status", NULL };
    char www[300];
    int rc;

    (void)ctx;
    snprintf(www, sizeof(www), "www.%s", ub_zone());
    if (bed_ub_ask(www, 0) != 1)
        return 0;
    bed.quiet = 1;
    rc = bed_run(argv, NULL);
    bed.quiet = 0;
    return rc == 0;
}

/* unbound, validating, with test.'s KSK as its only trust anchor. */
void bed_start_unbound(void)
{
    kw_dns_server s = { "127.0.0.1", 0 };
    kw_diag d = {{0}};
    uint8_t *w = NULL;
    size_t len = 0, i;
    ldns_pkt *p = NULL;
    char path[700], text[4000], anchor[2000] = "", *argv[5];
    ldns_rr_list *ans;

    s.port = bed.port;
    assert_int_equal(kw_dns_ask_wire(&s, ub_zone(), LDNS_RR_TYPE_DNSKEY, 0,
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
    snprintf(path, sizeof(path), "%s/test.anchor", bed.dir);
    bed_put_text(path, anchor);
    bed.ub.port = bed.ub_port > 0 ? bed.ub_port : kn_free_port("127.0.0.1");
    snprintf(bed.ub.addr, sizeof(bed.ub.addr), "127.0.0.1");
    snprintf(bed.uconf, sizeof(bed.uconf), "%s/unbound.conf", bed.dir);
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
        "stub-zone:\n    name: \"%s\"\n    stub-addr: 127.0.0.1@%d\n"
        "remote-control:\n    control-enable: yes\n"
        "    control-interface: 127.0.0.1\n    control-port: %d\n"
        "    control-use-cert: no\n",
        bed.ub.port, bed.ub.port, bed.dir, bed.dir, bed.dir, bed.dir, bed.port,
        ub_zone(), bed.port, bed.ctl_port);
    for (const char *z = bed.ub_stubs; z != NULL && *z != '\0';) {
        size_t n = strcspn(z, " "), used = strlen(text);

        if (n > 0 && used < sizeof(text) &&
            (size_t)snprintf(text + used, sizeof(text) - used,
                             "stub-zone:\n    name: \"%.*s\"\n"
                             "    stub-addr: 127.0.0.1@%d\n",
                             (int)n, z, bed.port) >= sizeof(text) - used)
            fail_msg("%s: the unbound configuration does not fit in %zu "
                     "bytes", bed.uconf, sizeof(text));
        z += n;
        z += strspn(z, " ");
    }
    bed_put_text(bed.uconf, text);
    argv[0] = (char *)UNBOUND; argv[1] = (char *)"-d"; argv[2] = (char *)"-c";
    argv[3] = bed.uconf; argv[4] = NULL;
    snprintf(path, sizeof(path), "%s/unbound.out", bed.dir);
    bed.ub.pid = bed_start_daemon(argv, path);
    assert_true(proc_until(bed_ub_up, NULL, 15000));
}

void bed_break_broken(void)
{
    char tag[10], alg[10], hex[200];

    assert_true(proc_until(bed_has_dnskey, (void *)"broken.test.", 15000));
    bed_ds_of("broken.test.", tag, alg, hex);
    memset(hex, '0', strlen(hex));
    bed_set_ds("broken", tag, alg, hex);
}

void bed_start_chain(const char *more_zones)
{
    char tag[10], alg[10], hex[200];

    bed_primary_conf("", "", "", more_zones);
    bed_start_knotd(&bed.prim, bed.pconf, "knotd.out", "127.0.0.1",
                    "test.");
    assert_true(proc_until(bed_has_dnskey, (void *)"test.", 15000));
    assert_true(proc_until(bed_has_dnskey, (void *)"child.test.", 15000));
    bed_ds_of("child.test.", tag, alg, hex);
    bed_set_ds("child", tag, alg, hex);
}
