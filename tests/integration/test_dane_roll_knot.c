/*
 * test_dane_roll_knot.c: the DANE rollover against a real Knot primary
 * and secondary with TSIG updates, on a pinned clock: the next key's TLSA
 * sent beside the live key's and seen on both servers before the wait
 * starts, the deployment gate, the old record removed from both after
 * the deployment; a refused TSIG key holding the renewal back with
 * nothing published; a secondary that lags (frozen) holding it at
 * published; kill -9 right after the UPDATE resumed with each record in
 * the zone once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <ldns/ldns.h>

#include "dane/dane_roll.h"
#include "dns/dns_update.h"
#include "keystore/ks_keygen.h"
#include "knot.h"
#include "kwrun.h"
#include "tmpdir.h"

static knot g_primary, g_secondary;
static char dir[512];

static int setup_group(void **st)
{
    (void)st;
    tmpdir_make(dir, sizeof(dir), "danerollknot");
    return kn_pair_start(dir, &g_primary, &g_secondary) == 0 ? 0 : -1;
}

static int teardown_group(void **st)
{
    (void)st;
    kn_stop(&g_secondary);
    kn_stop(&g_primary);
    tmpdir_remove(dir);
    return 0;
}

typedef struct bed {
    char sub[600], db[700], next[700], live[700], server[96];
    ks_store *s;
    kw_dane_roll_net net;
    kw_dane_roll_dns dns;
    kw_dane_roll_params p;
} bed;

static const char *hosts[] = {"mx.example.com", NULL};
static int bed_no;

static void bed_open(bed *b, const char *host)
{
    kw_diag d;
    EVP_PKEY *k;
    char name[32];

    memset(b, 0, sizeof(*b));
    snprintf(name, sizeof(name), "bed%d", ++bed_no);
    path_join(b->sub, sizeof(b->sub), dir, name);
    assert_int_equal(mkdir(b->sub, 0700), 0);
    path_join(b->db, sizeof(b->db), b->sub, "keywarden.db");
    path_join(b->next, sizeof(b->next), b->sub, "next-key.pem");
    path_join(b->live, sizeof(b->live), b->sub, "privkey.pem");
    assert_int_equal(ks_open(b->db, KS_OPEN_CREATE, &b->s, &d), 0);
    assert_non_null(k = ks_keygen(KS_KEY_EC256, &d));
    assert_int_equal(ks_key_write(b->live, k, 0600, (gid_t)-1, &d), 0);
    EVP_PKEY_free(k);
    snprintf(b->server, sizeof(b->server), "%s:%d", g_primary.addr,
             g_primary.port);
    b->net.server = b->server;
    b->net.zone = g_primary.zone;
    b->net.tsig_key = g_primary.key_name;
    b->net.tsig_alg = g_primary.key_alg;
    b->net.tsig_secret = g_primary.key_secret;
    b->net.port = g_primary.port;
    b->net.timeout_ms = 8000;
    kw_dane_roll_dns_real(&b->dns, &b->net);
    hosts[0] = host;
    b->p.cert = "mail";
    b->p.hosts = hosts;
    b->p.nhosts = 1;
    b->p.port = 25;
    b->p.usage = 3;
    b->p.selector = 1;
    b->p.mtype = 1;
    b->p.ttl = 60;
    b->p.next_key_path = b->next;
    b->p.live_key_path = b->live;
}

static void bed_close(bed *b)
{
    ks_close(b->s);
}

/* How many TLSA records addr serves at owner, and whether rdata is one
 * of them (asked with a plain query, parsed with ldns: not our code). */
static int served(const char *addr, const char *owner, const char *rdata,
                  int *count)
{
    uint8_t r[4096];
    size_t len = 0, i;
    ldns_pkt *p = NULL;
    ldns_rr *want = NULL;
    char buf[512];
    int found = 0;

    *count = 0;
    assert_int_equal(kn_ask(addr, g_primary.port, owner, LDNS_RR_TYPE_TLSA,
                            0, 3000, r, sizeof(r), &len), 0);
    assert_int_equal(ldns_wire2pkt(&p, r, len), LDNS_STATUS_OK);
    if (rdata != NULL) {
        snprintf(buf, sizeof(buf), "%s. 60 IN TLSA %s", owner, rdata);
        assert_int_equal(ldns_rr_new_frm_str(&want, buf, 0, NULL, NULL),
                         LDNS_STATUS_OK);
    }
    for (i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++) {
        ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);

        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TLSA)
            continue;
        (*count)++;
        if (want != NULL && ldns_rr_compare(rr, want) == 0)
            found = 1;
    }
    ldns_rr_free(want);
    ldns_pkt_free(p);
    return found;
}

static int64_t neg_ttl(void)
{
    kw_dns_server srv;
    kw_diag d;
    int64_t t = 0;

    assert_int_equal(kw_dns_server_parse(g_primary.addr, g_primary.port,
                                         &srv, &d), 0);
    assert_int_equal(kw_dns_soa_negative_ttl(&srv, g_primary.zone, 3000, &t,
                                             NULL, &d), 0);
    return t;
}

#define T0 1800000000

static int may(bed *b, int64_t now)
{
    char path[1024];
    kw_diag d;

    return kw_dane_roll_may_deploy(b->s, &b->p, now, path, sizeof(path), &d);
}

static int probe_sees_it(void *ctx, const char *host, int port,
                         const char *rdata, kw_diag *d)
{
    (void)ctx;
    (void)host;
    (void)port;
    (void)rdata;
    (void)d;
    return 0;
}

static void test_cycle(void **st)
{
    const char *owner = "_25._tcp.mx1.example.com";
    kw_dane_roll_out out;
    kw_diag d;
    char old[160], next[160];
    int n;
    bed b;

    (void)st;
    bed_open(&b, "mx1.example.com");
    assert_int_equal(kw_dane_roll_step(b.s, &b.p, &b.dns, T0, &out, &d), 0);
    assert_string_equal(out.roll.stopped, "");
    assert_string_equal(out.roll.stage, "visible");
    snprintf(old, sizeof(old), "%s", out.roll.old_tlsa);
    snprintf(next, sizeof(next), "%s", out.roll.tlsa);
    /* Both records on both servers before the wait began. */
    assert_true(served("127.0.0.1", owner, next, &n));
    assert_int_equal(n, 2);
    assert_true(served("127.0.0.2", owner, next, &n));
    assert_true(served("127.0.0.2", owner, old, &n));
    assert_int_equal(n, 2);
    /* From when both servers served them: the pinned clock plus the
     * seconds the polls took. */
    assert_true(out.roll.wait_until >= T0 + 2 * 60 + neg_ttl());
    assert_true(out.roll.wait_until <= T0 + 2 * 60 + neg_ttl() + 10);
    assert_int_equal(may(&b, T0 + 1), 0);
    assert_int_equal(kw_dane_roll_step(b.s, &b.p, &b.dns,
                                       out.roll.wait_until, &out, &d), 0);
    assert_string_equal(out.roll.stage, "ready");
    assert_int_equal(may(&b, out.roll.wait_until), 1);
    assert_int_equal(kw_dane_roll_deployed(b.s, &b.p, b.next, T0 + 9000, &d),
                     0);
    /* Deployed: copy of the next key is live (the renewal's deploy). */
    {
        EVP_PKEY *k = ks_key_read(b.next, &d);

        assert_non_null(k);
        assert_int_equal(ks_key_write(b.live, k, 0600, (gid_t)-1, &d), 0);
        EVP_PKEY_free(k);
    }
    /* The hold of one TTL: the old record stays. */
    assert_int_equal(kw_dane_roll_step(b.s, &b.p, &b.dns, T0 + 9001, &out,
                                       &d), 0);
    assert_string_equal(out.roll.stage, "deployed");
    assert_true(served("127.0.0.2", owner, old, &n));
    /* After it, the second probe (here a stand-in that sees the next key:
     * test_dane_rollover probes a real Postfix) lets the removal go. */
    b.dns.served = probe_sees_it;
    assert_int_equal(kw_dane_roll_step(b.s, &b.p, &b.dns, T0 + 9000 + 60,
                                       &out, &d), 0);
    assert_string_equal(out.roll.stopped, "");
    /* The old record gone from both; the deployed and a new next key. */
    assert_false(served("127.0.0.1", owner, old, &n));
    assert_false(served("127.0.0.2", owner, old, &n));
    assert_true(served("127.0.0.2", owner, next, &n));
    assert_true(served("127.0.0.2", owner, out.roll.tlsa, &n));
    assert_int_equal(n, 2);
    assert_string_equal(out.roll.old_tlsa, next);
    bed_close(&b);
}

/* A key the primary refuses: nothing published, the renewal held back. */
static void test_tsig_refused(void **st)
{
    const char *owner = "_25._tcp.mx2.example.com";
    kw_dane_roll_out out;
    kw_diag d;
    int n;
    bed b;

    (void)st;
    bed_open(&b, "mx2.example.com");
    b.net.tsig_secret = "c2VjcmV0IHRoYXQgdGhlIHNlcnZlciBkb2VzIG5vdCBrbm93";
    assert_int_equal(kw_dane_roll_step(b.s, &b.p, &b.dns, T0, &out, &d), 0);
    assert_string_equal(out.roll.stage, "publishing");
    assert_non_null(strstr(out.roll.stopped, "TSIG"));
    assert_false(served("127.0.0.1", owner, out.roll.tlsa, &n));
    assert_int_equal(n, 0);
    assert_int_equal(may(&b, T0 + 86400), 0);
    b.net.tsig_secret = g_primary.key_secret;
    assert_int_equal(kw_dane_roll_step(b.s, &b.p, &b.dns, T0 + 900, &out,
                                       &d), 0);
    assert_string_equal(out.roll.stage, "visible");
    assert_true(served("127.0.0.2", owner, out.roll.tlsa, &n));
    bed_close(&b);
}

/* The secondary frozen: held at published until it serves the records. */
static void test_secondary_lags(void **st)
{
    const char *owner = "_25._tcp.mx3.example.com";
    kw_dane_roll_out out;
    kw_diag d;
    bed b;

    (void)st;
    bed_open(&b, "mx3.example.com");
    b.net.timeout_ms = 1500;
    assert_int_equal(kn_knotc(&g_secondary, "zone-freeze", NULL), 0);
    assert_int_equal(kw_dane_roll_step(b.s, &b.p, &b.dns, T0, &out, &d), 0);
    assert_string_equal(out.roll.stage, "published");
    assert_non_null(strstr(out.roll.stopped, "127.0.0.2"));
    assert_int_equal(may(&b, T0 + 86400), 0);
    assert_int_equal(kn_knotc(&g_secondary, "zone-thaw", NULL), 0);
    b.net.timeout_ms = 8000;
    assert_int_equal(kw_dane_roll_step(b.s, &b.p, &b.dns, T0 + 900, &out,
                                       &d), 0);
    assert_string_equal(out.roll.stage, "visible");
    (void)owner;
    bed_close(&b);
}

/* kill -9 right after the UPDATE: resumed, each record once. */
static void test_kill_after_update(void **st)
{
    const char *owner = "_25._tcp.mx4.example.com";
    kw_dane_roll_out out;
    kw_diag d;
    int status, n, found;
    pid_t pid;
    bed b;

    (void)st;
    bed_open(&b, "mx4.example.com");
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ks_store *cs;

        setenv("KEYWARDEN_TEST_DIE_AT", "dane-update-sent", 1);
        if (ks_open(b.db, 0, &cs, &d) != 0)
            _exit(3);
        kw_dane_roll_step(cs, &b.p, &b.dns, T0, &out, &d);
        _exit(4);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(ks_dane_roll_latest(b.s, "mail", &out.roll, &found, &d),
                     0);
    assert_string_equal(out.roll.stage, "publishing");
    assert_true(served("127.0.0.1", owner, out.roll.tlsa, &n));
    assert_int_equal(n, 2);
    assert_int_equal(kw_dane_roll_step(b.s, &b.p, &b.dns, T0 + 1, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "visible");
    assert_true(served("127.0.0.2", owner, out.roll.tlsa, &n));
    assert_int_equal(n, 2);
    bed_close(&b);
}

/* dane status and dane release on a held-back rollover. */
static void test_cli_release(void **st)
{
    const char *status[] = {"dane", "status", "--json", "mail", NULL};
    const char *text[] = {"dane", "status", NULL};
    const char *unknown[] = {"dane", "status", "nosuch", NULL};
    const char *release[] = {"dane", "release", "mail", NULL};
    kw_dane_roll_out out;
    char conf[700];
    kw_diag d;
    kwres r;
    bed b;
    FILE *f;

    (void)st;
    bed_open(&b, "mx5.example.com");
    path_join(conf, sizeof(conf), b.sub, "keywarden.conf");
    assert_non_null(f = fopen(conf, "w"));
    fclose(f);
    b.net.tsig_secret = "c2VjcmV0IHRoYXQgdGhlIHNlcnZlciBkb2VzIG5vdCBrbm93";
    assert_int_equal(kw_dane_roll_step(b.s, &b.p, &b.dns, T0, &out, &d), 0);
    r = kw_argv(b.sub, conf, status);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "\"stage\": \"publishing\"");
    assert_contains(r.out, "\"health\": \"warning\"");
    assert_contains(r.out, "TSIG");
    assert_contains(r.out, out.roll.tlsa);
    kwres_free(&r);
    r = kw_argv(b.sub, conf, unknown);
    assert_int_equal(r.status, 3);
    kwres_free(&r);
    assert_int_equal(may(&b, T0 + 1), 0);
    r = kw_argv(b.sub, conf, release);
    assert_int_equal(r.status, 0);
    kwres_free(&r);
    assert_int_equal(may(&b, T0 + 2), 1);
    r = kw_argv(b.sub, conf, text);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "mail: publishing, RELEASED (warning)");
    assert_contains(r.out, "_25._tcp.mx5.example.com");
    kwres_free(&r);
    r = kw_argv(b.sub, conf, release);
    assert_int_equal(r.status, 0);
    kwres_free(&r);
    bed_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_tsig_refused),
        cmocka_unit_test(test_secondary_lags),
        cmocka_unit_test(test_kill_after_update),
        cmocka_unit_test(test_cli_release),
    };
    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
