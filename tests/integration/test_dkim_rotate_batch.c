/*
 * test_dkim_rotate_batch.c: kw_dkim_rotate_many with the real DNS against
 * a Knot primary (127.0.0.1) and a secondary (127.0.0.2 and ::1, ns2's A
 * and AAAA), TSIG-signed updates and transfers:
 *
 *   - 20 domains with the secondary frozen: every record sent, every
 *     rotation waiting at published naming both of the secondary's
 *     addresses (the IPv6 one is asked: no KEYWARDEN_DNS6 needed); a
 *     domain with a wrong TSIG secret stops alone; after zone-thaw the
 *     next call finds all 19 visible on both servers, well within one
 *     domain's timeout;
 *   - dns_check: a further server (a fake that never answers) keeps a
 *     rotation at published naming it, while the NS set serves the record;
 *   - an address this host has no route to (in a network namespace
 *     without routes, where Knot runs on its loopback): dns_check =
 *     [2001:db8::1]:53 is skipped and named in the visible stage's
 *     journal, not waited on, as is a third NS whose only address is
 *     IPv6 there; the DKIM check's survey leaves that NS out the same
 *     way and says so.  Skipped when namespaces are not allowed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dkim/dkim_rotate.h"
#include "dns/dns_survey.h"
#include "dns/dns_update.h"
#include "keystore/ks_store.h"
#include "knot.h"
#include "tmpdir.h"

#define NOW 1800000000 /* 2027-01-15T08:00:00Z */
#define N 20

static char dir[256];
static knot g_primary, g_secondary;

static int setup(void **st)
{
    kn_opts o;

    (void)st;
    tmpdir_make(dir, sizeof(dir), "dkimmany");
    memset(&o, 0, sizeof(o));
    o.ns2_addr = "127.0.0.2";
    o.ns2_addr6 = "::1";
    if (kn_primary_start(dir, "primary", &o, &g_primary) != 0)
        return -1;
    if (kn_secondary_start(dir, "secondary", &g_primary, "127.0.0.2",
                           &g_secondary) != 0)
        return -1;
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    kn_stop(&g_secondary);
    kn_stop(&g_primary);
    tmpdir_remove(dir);
    return 0;
}

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A managed section for domain in k's zone, as config_dkim.c fills it. */
static void section(kw_dkim_rot_params *p, const knot *k, const char *domain,
                    const char *keys, const char *secret)
{
    char buf[700];

    kw_dkim_rot_params_defaults(p);
    p->domain = strdup(domain);
    p->selector = strdup("kw%Y%m");
    p->key_dir = strdup(keys);
    p->key_type = strdup("ed25519");
    p->ttl = 60;
    snprintf(buf, sizeof(buf), "%s:%d", k->addr, k->port);
    p->dns_server = strdup(buf);
    p->dns_zone = strdup(k->zone);
    p->tsig_key = strdup(k->key_name);
    p->tsig_algorithm = strdup(k->key_alg);
    p->tsig_secret = strdup(secret);
    p->dns_port = k->port;
    p->timeout_ms = 1500;
}

static ks_store *open_store(const char *name)
{
    char path[600];
    ks_store *s;
    kw_diag d;

    path_join(path, sizeof(path), dir, name);
    if (ks_open(path, KS_OPEN_CREATE, &s, &d) != 0)
        fail_msg("%s", d.msg);
    return s;
}

/* Does addr serve value at name?  One kn_ask, the answer searched for
 * the value's text (its TXT strings are under 255 octets). */
static int serves(const char *addr, const char *name, const char *value)
{
    uint8_t r[4096];
    size_t len = 0;

    if (kn_ask(addr, g_primary.port, name, 16, 0, 2000, r, sizeof(r),
               &len) != 0)
        return 0;
    return memmem(r, len, value, strlen(value)) != NULL;
}

static void test_twenty_domains(void **state)
{
    static kw_dkim_rot_params prm[N];
    static kw_dkim_rot_out outs[N];
    const kw_dkim_rot_params *pp[N];
    char keys[600], name[640], domain[300], ns6[64];
    ks_store *s = open_store("twenty.db");
    kw_diag d;
    double t0, took;
    int i;

    (void)state;
    path_join(keys, sizeof(keys), dir, "keys20");
    for (i = 0; i < N; i++) {
        snprintf(domain, sizeof(domain), "m%02d.%s", i, g_primary.zone);
        section(&prm[i], &g_primary, domain, keys,
                i == 4 ? "d3Jvbmd3cm9uZ3dyb25nd3Jvbmc=" : g_primary.key_secret);
        pp[i] = &prm[i];
    }
    assert_int_equal(kn_knotc(&g_secondary, "zone-freeze", NULL), 0);
    if (kw_dkim_rotate_many(s, pp, N, NULL, 0, NOW, outs, &d) != 0)
        fail_msg("%s", d.msg);
    snprintf(ns6, sizeof(ns6), "[::1]:%d", g_primary.port);
    for (i = 0; i < N; i++) {
        if (i == 4) {
            assert_string_equal(outs[i].rot.stage, "publishing");
            assert_true(outs[i].stopped);
            assert_non_null(strstr(outs[i].rot.stopped, "NOTAUTH"));
            continue;
        }
        assert_string_equal(outs[i].rot.stage, "published");
        assert_true(outs[i].waiting);
        assert_false(outs[i].stopped);
        assert_non_null(strstr(outs[i].rot.waits_for, "127.0.0.2:"));
        assert_non_null(strstr(outs[i].rot.waits_for, ns6));
        snprintf(name, sizeof(name), "%s._domainkey.%s",
                 outs[i].rot.selector, outs[i].rot.domain);
        assert_true(serves("127.0.0.1", name, "k=ed25519"));
    }

    /* The secondary catches up with all of them in one transfer. */
    assert_int_equal(kn_knotc(&g_secondary, "zone-thaw", NULL), 0);
    t0 = now_s();
    if (kw_dkim_rotate_many(s, pp, N, NULL, 0, NOW + 60, outs, &d) != 0)
        fail_msg("%s", d.msg);
    took = now_s() - t0;
    for (i = 0; i < N; i++) {
        if (i == 4) {
            assert_string_equal(outs[i].rot.stage, "publishing");
            continue;
        }
        assert_string_equal(outs[i].rot.stage, "visible");
        snprintf(name, sizeof(name), "%s._domainkey.%s",
                 outs[i].rot.selector, outs[i].rot.domain);
        assert_true(serves("127.0.0.2", name, "k=ed25519"));
    }
    print_message("19 domains visible after zone-thaw in %.2f s\n", took);
    /* One domain's timeout is 1.5 s: one wait for all, not one each. */
    assert_true(took < 1.5);
    for (i = 0; i < N; i++)
        kw_dkim_rot_params_free(&prm[i]);
    ks_close(s);
}

static void test_dns_check(void **state)
{
    kw_dkim_rot_params p[2];
    const kw_dkim_rot_params *pp[2] = {&p[0], &p[1]};
    kw_dkim_rot_out outs[2];
    char keys[600], extra[64], same[64];
    ks_store *s = open_store("check.db");
    uint32_t serial = 0;
    kn_fake f;
    kw_diag d;
    int port = kn_free_port("127.0.0.9");

    (void)state;
    assert_int_equal(kn_fake_start("127.0.0.9", port, KN_FAKE_SILENT, &f), 0);
    path_join(keys, sizeof(keys), dir, "keyscheck");
    snprintf(extra, sizeof(extra), "127.0.0.9:%d", port);
    /* The second names a server of the NS set again: asked once. */
    snprintf(same, sizeof(same), "127.0.0.2:%d", g_primary.port);
    section(&p[0], &g_primary, "c1.example.com", keys, g_primary.key_secret);
    section(&p[1], &g_primary, "c2.example.com", keys, g_primary.key_secret);
    p[0].dns_check = calloc(2, sizeof(char *));
    p[0].dns_check[0] = strdup(extra);
    p[1].dns_check = calloc(2, sizeof(char *));
    p[1].dns_check[0] = strdup(same);
    if (kw_dkim_rotate_many(s, pp, 2, NULL, 0, NOW, outs, &d) != 0)
        fail_msg("%s", d.msg);
    /* Once the secondary has the records, the silent server alone keeps
     * c1 waiting (in the first call the secondary may still have been
     * transferring them). */
    assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                   g_primary.zone, 2000, &serial), 0);
    assert_int_equal(kn_wait_serial("127.0.0.2", g_primary.port,
                                    g_primary.zone, serial, 5000), 0);
    if (kw_dkim_rotate_many(s, pp, 2, NULL, 0, NOW + 60, outs, &d) != 0)
        fail_msg("%s", d.msg);
    kn_fake_stop(&f);
    assert_string_equal(outs[0].rot.stage, "published");
    assert_true(outs[0].waiting);
    assert_non_null(strstr(outs[0].rot.waits_for, extra));
    assert_non_null(strstr(outs[0].rot.waits_for, "did not answer"));
    if (strstr(outs[0].rot.waits_for, "1 of 4 servers") == NULL)
        fail_msg("%s", outs[0].rot.waits_for);
    assert_string_equal(outs[1].rot.stage, "visible");
    kw_dkim_rot_params_free(&p[0]);
    kw_dkim_rot_params_free(&p[1]);
    ks_close(s);
}

/* In the child: a network namespace with only its loopback up. */
static int netns_up(void)
{
    struct ifreq ifr;
    int fd;

    if (unshare(CLONE_NEWNET) != 0)
        return -1;
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
        return -1;
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
        return -1;
    close(fd);
    return 0;
}

/* The child's checks: 0 passed, 77 skipped, else the failing line. */
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "line %d: %s\n", \
                         __LINE__, #c); _exit(__LINE__ % 70 + 1); } } while (0)

static void no_route_child(void)
{
    kw_dkim_rot_params p;
    const kw_dkim_rot_params *pp[1] = {&p};
    kw_dkim_rot_out out;
    ks_dkim_rot_step *j;
    kw_dns_server far, srv;
    kw_dns_survey_opts so;
    kw_dns_survey *sv = NULL;
    char sub[300], keys[600], path[600], name[300], words[2048];
    knot pri, sec;
    kn_opts o;
    ks_store *s;
    kw_diag d;
    size_t n, i;
    int seen = 0;

    if (netns_up() != 0)
        _exit(77);
    snprintf(sub, sizeof(sub), "%s/ns", dir);
    CHECK(mkdir(sub, 0700) == 0);
    memset(&o, 0, sizeof(o));
    o.ns2_addr = "127.0.0.2";
    /* A third NS with only an address this namespace cannot reach. */
    o.records = "@ NS ns9\nns9 AAAA 2001:db8::53\n";
    CHECK(kn_primary_start(sub, "primary", &o, &pri) == 0);
    CHECK(kn_secondary_start(sub, "secondary", &pri, "127.0.0.2", &sec) ==
          0);
    snprintf(far.addr, sizeof(far.addr), "2001:db8::1");
    far.port = 53;
    CHECK(kw_dns_reachable(&far, &d) == -ENETUNREACH);
    CHECK(strstr(d.msg, "no IPv6 route") != NULL);
    snprintf(keys, sizeof(keys), "%s/keys", sub);
    section(&p, &pri, "v6.example.com", keys, pri.key_secret);
    p.dns_check = calloc(2, sizeof(char *));
    p.dns_check[0] = strdup("[2001:db8::1]:53");
    snprintf(path, sizeof(path), "%s/k.db", sub);
    CHECK(ks_open(path, KS_OPEN_CREATE, &s, &d) == 0);
    CHECK(kw_dkim_rotate_many(s, pp, 1, NULL, 0, NOW, &out, &d) == 0);
    if (strcmp(out.rot.stage, "visible") != 0)
        fprintf(stderr, "at %s: %s%s\n", out.rot.stage, out.rot.stopped,
                out.rot.waits_for);
    CHECK(strcmp(out.rot.stage, "visible") == 0);
    CHECK(ks_dkim_rot_journal(s, out.rot.id, &j, &n, &d) == 0);
    for (i = 0; i < n; i++)
        if (strcmp(j[i].new_stage, "visible") == 0 &&
            strcmp(j[i].old_stage, "published") == 0)
            seen = strstr(j[i].effect, "no IPv6 route") != NULL &&
                   strstr(j[i].effect, "[2001:db8::1]:53") != NULL &&
                   strstr(j[i].effect, "[2001:db8::53]:") != NULL;
    free(j);
    CHECK(seen);

    /* The DKIM check's survey leaves ns9 out the same way, and says so;
     * the two servers it asked agree. */
    snprintf(srv.addr, sizeof(srv.addr), "127.0.0.1");
    srv.port = pri.port;
    memset(&so, 0, sizeof(so));
    so.auth_port = pri.port;
    so.timeout_ms = 5000;
    snprintf(name, sizeof(name), "%s._domainkey.v6.example.com",
             out.rot.selector);
    CHECK(kw_dns_survey_run(&srv, name, &so, &sv, &d) == 0);
    CHECK(sv->steps[0].nauth == 2);
    CHECK(strstr(sv->steps[0].skipped, "[2001:db8::53]:") != NULL);
    CHECK(kw_dns_survey_compare(sv, words, sizeof(words)) == KW_DNS_AGREE);
    CHECK(strstr(words, "not asked (no route here)") != NULL);
    kw_dns_survey_free(sv);
    ks_close(s);
    kw_dkim_rot_params_free(&p);
    kn_stop(&sec);
    kn_stop(&pri);
    _exit(0);
}

static void test_no_route_skipped(void **state)
{
    int status = 0;
    pid_t pid;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        no_route_child();
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        print_message("no network namespace here (unshare refused): "
                      "skipped\n");
        skip();
    }
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twenty_domains),
        cmocka_unit_test(test_dns_check),
        cmocka_unit_test(test_no_route_skipped),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
