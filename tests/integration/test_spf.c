/*
 * SPF against a real Knot and the pyspf oracle: a zone of 40-odd SPF
 * cases (PermError by lookup count, by two records, by void lookups,
 * syntax errors; TempError from a name the server refuses and from a
 * server that stops answering; include chains, redirects, a, mx, exists
 * and macros; pass, fail, softfail, neutral, none per address) served by
 * knotd on loopback.  For every (record, address) pair keywarden's
 * kw_spf_check_host, through the production lookup (dns/dns_lookup.c),
 * must give the result pyspf gives (tests/integration/spf_oracle.py, run
 * with argv only).  Where keywarden's static walk warns and pyspf passes
 * (the lookup limit not reached for this address), that is asserted too.
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
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include "dkim/dkim_spf.h"
#include "dns/dns_resolve.h"
#include "knot.h"
#include "proc.h"
#include "tmpdir.h"

#define ZONE "spf.test"

/* The zone: one case per name (origin spf.test). */
static const char records[] =
    "pass4     TXT \"v=spf1 ip4:192.0.2.0/28 -all\"\n"
    "soft      TXT \"v=spf1 ip4:192.0.2.1 ~all\"\n"
    "neutral   TXT \"v=spf1 ip4:192.0.2.1\"\n"
    "qall      TXT \"v=spf1 ?all\"\n"
    "open      TXT \"v=spf1 +all\"\n"
    "upper     TXT \"V=SPF1 IP4:192.0.2.1 -ALL\"\n"
    "split     TXT \"v=spf1 ip4:192.0.2.1 \" \"ip4:192.0.2.2 -all\"\n"
    "v6        TXT \"v=spf1 ip6:2001:db8::/32 -all\"\n"
    "two       TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"
    "two       TXT \"v=spf1 -all\"\n"
    "other     TXT \"hello\"\n"
    "other     TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"
    "syn1      TXT \"v=spf1 ip4:192.0.2.300 -all\"\n"
    "syn2      TXT \"v=spf1 foo:bar.spf.test -all\"\n"
    "syn3      TXT \"v=spf1 -all:x\"\n"
    "syn4      TXT \"v=spf1 ip4:192.0.2.1/33 -all\"\n"
    "syn5      TXT \"v=spf1 redirect=a.spf.test redirect=b.spf.test\"\n"
    "many      TXT \"v=spf1 include:i1.spf.test include:i2.spf.test "
    "include:i3.spf.test include:i4.spf.test include:i5.spf.test "
    "include:i6.spf.test include:i7.spf.test include:i8.spf.test "
    "include:i9.spf.test include:i10.spf.test include:i11.spf.test -all\"\n"
    "ten       TXT \"v=spf1 include:i1.spf.test include:i2.spf.test "
    "include:i3.spf.test include:i4.spf.test include:i5.spf.test "
    "include:i6.spf.test include:i7.spf.test include:i8.spf.test "
    "include:i9.spf.test include:i10.spf.test -all\"\n"
    "i1        TXT \"v=spf1 ip4:198.51.100.1 -all\"\n"
    "i2        TXT \"v=spf1 ip4:198.51.100.2 -all\"\n"
    "i3        TXT \"v=spf1 ip4:198.51.100.3 -all\"\n"
    "i4        TXT \"v=spf1 ip4:198.51.100.4 -all\"\n"
    "i5        TXT \"v=spf1 ip4:198.51.100.5 -all\"\n"
    "i6        TXT \"v=spf1 ip4:198.51.100.6 -all\"\n"
    "i7        TXT \"v=spf1 ip4:198.51.100.7 -all\"\n"
    "i8        TXT \"v=spf1 ip4:198.51.100.8 -all\"\n"
    "i9        TXT \"v=spf1 ip4:198.51.100.9 -all\"\n"
    "i10       TXT \"v=spf1 ip4:198.51.100.10 -all\"\n"
    "i11       TXT \"v=spf1 ip4:198.51.100.11 -all\"\n"
    "void3     TXT \"v=spf1 a:nx1.spf.test a:nx2.spf.test a:nx3.spf.test "
    "-all\"\n"
    "void2     TXT \"v=spf1 a:nx1.spf.test a:nx2.spf.test -all\"\n"
    "voidlate  TXT \"v=spf1 ip4:192.0.2.1 a:nx1.spf.test a:nx2.spf.test "
    "a:nx3.spf.test -all\"\n"
    "chain     TXT \"v=spf1 include:chain1.spf.test -all\"\n"
    "chain1    TXT \"v=spf1 include:chain2.spf.test ~all\"\n"
    "chain2    TXT \"v=spf1 ip4:203.0.113.0/24 -all\"\n"
    "incnone   TXT \"v=spf1 include:other2.spf.test -all\"\n"
    "other2    TXT \"not spf\"\n"
    "redir     TXT \"v=spf1 ip4:203.0.113.9 redirect=pass4.spf.test\"\n"
    "redirnone TXT \"v=spf1 redirect=other2.spf.test\"\n"
    "loop      TXT \"v=spf1 include:loop2.spf.test -all\"\n"
    "loop2     TXT \"v=spf1 include:loop.spf.test -all\"\n"
    "a         TXT \"v=spf1 a -all\"\n"
    "a         A   192.0.2.50\n"
    "acidr     TXT \"v=spf1 a:host.spf.test/24 -all\"\n"
    "host      A   198.51.100.200\n"
    "a6        TXT \"v=spf1 a:host6.spf.test//64 -all\"\n"
    "host6     AAAA 2001:db8:2::1\n"
    "mx        TXT \"v=spf1 mx -all\"\n"
    "mx        MX  10 mail1\n"
    "mx        MX  20 mail2\n"
    "mail1     A   192.0.2.60\n"
    "mail2     AAAA 2001:db8:1::25\n"
    "mxmany    TXT \"v=spf1 mx -all\"\n"
    "mxmany    MX 1 m1\nmxmany MX 2 m2\nmxmany MX 3 m3\nmxmany MX 4 m4\n"
    "mxmany    MX 5 m5\nmxmany MX 6 m6\nmxmany MX 7 m7\nmxmany MX 8 m8\n"
    "mxmany    MX 9 m9\nmxmany MX 10 m10\nmxmany MX 11 m11\n"
    "exists    TXT \"v=spf1 exists:%{i}._ex.spf.test -all\"\n"
    "192.0.2.70._ex A 127.0.0.2\n"
    "macro     TXT \"v=spf1 exists:%{l}.%{d2}._u.spf.test -all\"\n"
    "alice.spf.test._u A 127.0.0.2\n"
    "macror    TXT \"v=spf1 exists:%{ir}.%{v}._r.%{d2} -all\"\n"
    "80.2.0.192.in-addr._r A 127.0.0.2\n"
    "temp      TXT \"v=spf1 ip4:192.0.2.1 include:elsewhere.invalid -all\"\n"
    "tempa     TXT \"v=spf1 a:elsewhere.example -all\"\n"
    "afterall  TXT \"v=spf1 ip4:192.0.2.1 -all a:nx1.spf.test "
    "a:nx2.spf.test a:nx3.spf.test include:many.spf.test\"\n"
    "nospf     A   192.0.2.1\n";

typedef struct pair {
    const char *ip, *sender;
} pair;

/* Every (record, address) pair compared with pyspf. */
static const pair pairs[] = {
    {"192.0.2.1", "alice@pass4.spf.test"},
    {"192.0.2.20", "alice@pass4.spf.test"},
    {"192.0.2.9", "alice@soft.spf.test"},
    {"192.0.2.1", "alice@soft.spf.test"},
    {"192.0.2.9", "alice@neutral.spf.test"},
    {"192.0.2.9", "alice@qall.spf.test"},
    {"192.0.2.9", "alice@open.spf.test"},
    {"192.0.2.1", "alice@upper.spf.test"},
    {"192.0.2.2", "alice@split.spf.test"},
    {"192.0.2.3", "alice@split.spf.test"},
    {"2001:db8::1", "alice@v6.spf.test"},
    {"2001:db9::1", "alice@v6.spf.test"},
    {"192.0.2.1", "alice@v6.spf.test"},
    {"192.0.2.1", "alice@two.spf.test"},
    {"192.0.2.1", "alice@other.spf.test"},
    {"192.0.2.1", "alice@syn1.spf.test"},
    {"192.0.2.1", "alice@syn2.spf.test"},
    {"192.0.2.1", "alice@syn3.spf.test"},
    {"192.0.2.1", "alice@syn4.spf.test"},
    {"192.0.2.1", "alice@syn5.spf.test"},
    {"198.51.100.1", "alice@many.spf.test"},
    {"198.51.100.11", "alice@many.spf.test"},
    {"192.0.2.9", "alice@many.spf.test"},
    {"198.51.100.10", "alice@ten.spf.test"},
    {"192.0.2.9", "alice@ten.spf.test"},
    {"192.0.2.1", "alice@void3.spf.test"},
    {"192.0.2.1", "alice@void2.spf.test"},
    {"192.0.2.1", "alice@voidlate.spf.test"},
    {"192.0.2.2", "alice@voidlate.spf.test"},
    {"203.0.113.5", "alice@chain.spf.test"},
    {"192.0.2.1", "alice@chain.spf.test"},
    {"192.0.2.1", "alice@incnone.spf.test"},
    {"203.0.113.9", "alice@redir.spf.test"},
    {"192.0.2.1", "alice@redir.spf.test"},
    {"192.0.2.99", "alice@redir.spf.test"},
    {"192.0.2.1", "alice@redirnone.spf.test"},
    {"192.0.2.1", "alice@loop.spf.test"},
    {"192.0.2.50", "alice@a.spf.test"},
    {"192.0.2.51", "alice@a.spf.test"},
    {"198.51.100.7", "alice@acidr.spf.test"},
    {"198.51.101.7", "alice@acidr.spf.test"},
    {"2001:db8:2::ffff", "alice@a6.spf.test"},
    {"2001:db8:3::1", "alice@a6.spf.test"},
    {"192.0.2.60", "alice@mx.spf.test"},
    {"2001:db8:1::25", "alice@mx.spf.test"},
    {"192.0.2.61", "alice@mx.spf.test"},
    {"192.0.2.1", "alice@mxmany.spf.test"},
    {"192.0.2.70", "alice@exists.spf.test"},
    {"192.0.2.71", "alice@exists.spf.test"},
    {"192.0.2.1", "alice@macro.spf.test"},
    {"192.0.2.1", "bob@macro.spf.test"},
    {"192.0.2.80", "alice@macror.spf.test"},
    {"192.0.2.81", "alice@macror.spf.test"},
    {"192.0.2.1", "alice@temp.spf.test"},
    {"192.0.2.2", "alice@temp.spf.test"},
    {"192.0.2.1", "alice@tempa.spf.test"},
    {"192.0.2.1", "alice@afterall.spf.test"},
    {"192.0.2.2", "alice@afterall.spf.test"},
    {"192.0.2.1", "alice@nospf.spf.test"},
    {"192.0.2.1", "alice@nothing.spf.test"},
    {"192.0.2.1", "spf.test"},
};
#define NPAIRS (sizeof(pairs) / sizeof(pairs[0]))

static char g_dir[256];
static knot g_knot;

static int setup(void **state)
{
    kn_opts o;
    char zone[8192], path[600];
    FILE *f;
    char *argv[8];
    pid_t pid;

    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "spf");
    memset(&o, 0, sizeof(o));
    o.zone = ZONE;
    if (kn_primary_start(g_dir, "knot", &o, &g_knot) != 0)
        return -1;
    /* The cases do not fit the harness's zone buffer: the zone file is
     * rewritten with a higher serial and reloaded. */
    snprintf(zone, sizeof(zone),
             "$ORIGIN %s.\n$TTL 60\n"
             "@ IN SOA ns1 hostmaster 2 3600 600 86400 60\n"
             "@ IN NS ns1\nns1 IN A %s\n%s", ZONE, g_knot.addr, records);
    snprintf(path, sizeof(path), "%s/zones/%s.zone", g_knot.dir, ZONE);
    if ((f = fopen(path, "w")) == NULL || fputs(zone, f) < 0 ||
        fclose(f) != 0)
        return -1;
    argv[0] = (char *)"/usr/sbin/knotc";
    argv[1] = (char *)"-c";
    argv[2] = g_knot.conf;
    argv[3] = (char *)"zone-reload";
    argv[4] = (char *)ZONE;
    argv[5] = NULL;
    pid = proc_spawn_log(argv, g_knot.log);
    if (proc_wait(pid, 30000) != 0 ||
        kn_wait_serial(g_knot.addr, g_knot.port, ZONE, 2, 30000) != 0) {
        fprintf(stderr, "knot did not load the SPF zone; see %s\n",
                g_knot.log);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kn_stop(&g_knot);
    tmpdir_remove(g_dir);
    return 0;
}

/* The production lookup's context: our Knot, timeout_ms per call. */
static void knot_ctx(kw_dns_lookup_ctx *ctx, int timeout_ms)
{
    memset(ctx, 0, sizeof(*ctx));
    snprintf(ctx->server.addr, sizeof(ctx->server.addr), "%s", g_knot.addr);
    ctx->server.port = g_knot.port;
    ctx->timeout_ms = timeout_ms;
}

/* pyspf's verdicts for pairs[0..n) at addr:port: one line each, in
 * lines[] (malloc'd text in *buf). */
static size_t oracle(const pair *p, size_t n, int port, double timeout,
                     char **buf, char **lines, size_t max)
{
    char *argv[8 + 2 * NPAIRS], portbuf[16], tbuf[16], *err = NULL, *s;
    size_t i, a = 0, nl = 0;
    int ofd, efd, rc;
    pid_t pid;

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    snprintf(tbuf, sizeof(tbuf), "%.1f", timeout);
    argv[a++] = (char *)"/usr/bin/python3";
    argv[a++] = (char *)SPF_ORACLE;
    argv[a++] = g_knot.addr;
    argv[a++] = portbuf;
    argv[a++] = tbuf;
    for (i = 0; i < n; i++) {
        argv[a++] = (char *)p[i].ip;
        argv[a++] = (char *)p[i].sender;
    }
    argv[a] = NULL;
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    proc_drain(ofd, efd, buf, &err);
    rc = proc_wait(pid, 120000);
    if (rc != 0)
        fail_msg("pyspf oracle exited %d: %s", rc, err ? err : "");
    free(err);
    for (s = strtok(*buf, "\n"); s != NULL && nl < max;
         s = strtok(NULL, "\n"))
        lines[nl++] = s;
    return nl;
}

static void against_pyspf(void **state)
{
    kw_dns_lookup_ctx ctx;
    kw_dns_lookup lk = {kw_dns_lookup_server, &ctx};
    char *buf = NULL, *lines[NPAIRS];
    size_t i, n, agree = 0, disagree = 0;
    int seen[KW_SPF_PERMERROR + 1] = {0}, r;

    (void)state;
    knot_ctx(&ctx, 3000);
    n = oracle(pairs, NPAIRS, g_knot.port, 3.0, &buf, lines, NPAIRS);
    assert_int_equal(n, NPAIRS);
    for (i = 0; i < NPAIRS; i++) {
        kw_spf_check c;
        kw_diag d = {""};
        char want[32];

        assert_int_equal(kw_spf_check_host(&lk, pairs[i].ip,
                                           pairs[i].sender, "mx.example.org",
                                           &c, &d), 0);
        snprintf(want, sizeof(want), "%.*s", (int)strcspn(lines[i], "\t"),
                 lines[i]);
        if (strcmp(want, kw_spf_result_name(c.result)) == 0) {
            agree++;
            seen[c.result]++;
        } else {
            disagree++;
            print_error("DISAGREE %s from %s: keywarden %s (%s), pyspf "
                        "%s\n", pairs[i].sender, pairs[i].ip,
                        kw_spf_result_name(c.result), c.reason, lines[i]);
        }
    }
    print_message("keywarden and pyspf agree on %zu of %zu pairs:", agree,
                  (size_t)NPAIRS);
    for (r = 0; r <= KW_SPF_PERMERROR; r++)
        print_message(" %s %d", kw_spf_result_name((kw_spf_result)r),
                      seen[r]);
    print_message("\n");
    free(buf);
    /* Every result occurs: an oracle that always says the same thing
     * would not do. */
    for (r = 0; r <= KW_SPF_PERMERROR; r++)
        assert_true(seen[r] > 0);
    assert_int_equal(disagree, 0);
    assert_true(agree >= 30);
}

/* The walk against pyspf: where it warns, pyspf still passes an address
 * that matches early. */
static void walk_warns_where_pyspf_passes(void **state)
{
    static const struct {
        const char *domain;
        pair pass;             /* pyspf passes this one */
        int lookups, voids;
    } cases[] = {
        {"many.spf.test", {"198.51.100.1", "a@many.spf.test"}, 11, 0},
        {"voidlate.spf.test", {"192.0.2.1", "a@voidlate.spf.test"}, 3, 3},
    };
    kw_dns_lookup_ctx ctx;
    kw_dns_lookup lk = {kw_dns_lookup_server, &ctx};
    size_t i;

    (void)state;
    knot_ctx(&ctx, 3000);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kw_spf_tree t;
        kw_diag d = {""};
        char *buf = NULL, *line[1];

        assert_int_equal(kw_spf_walk(&lk, cases[i].domain, NULL, &t, &d), 0);
        assert_int_equal(t.lookups, cases[i].lookups);
        assert_int_equal(t.voids, cases[i].voids);
        assert_true(t.permerror > 0);
        kw_spf_tree_free(&t);
        assert_int_equal(oracle(&cases[i].pass, 1, g_knot.port, 3.0, &buf,
                                line, 1), 1);
        assert_true(strncmp(line[0], "pass\t", 5) == 0);
        free(buf);
    }

    /* ten includes: at the limit, not over it. */
    {
        kw_spf_tree t;
        kw_diag d = {""};

        assert_int_equal(kw_spf_walk(&lk, "ten.spf.test", NULL, &t, &d), 0);
        assert_int_equal(t.lookups, 10);
        assert_int_equal(t.permerror, 0);
        kw_spf_tree_free(&t);
        /* Terms after "all" are never evaluated: not counted. */
        assert_int_equal(kw_spf_walk(&lk, "afterall.spf.test", NULL, &t, &d),
                         0);
        assert_int_equal(t.lookups, 0);
        assert_int_equal(t.voids, 0);
        assert_int_equal(t.permerror, 0);
        kw_spf_tree_free(&t);
        /* The name the server refuses: TempError naming the lookup. */
        assert_int_equal(kw_spf_walk(&lk, "temp.spf.test", NULL, &t, &d), 0);
        assert_int_equal(t.temperror, 1);
        assert_non_null(strstr(t.root->kids[0]->problems[0].text,
                               "elsewhere.invalid TXT at 127.0.0.1:"));
        assert_non_null(strstr(t.root->kids[0]->problems[0].text,
                               "REFUSED"));
        kw_spf_tree_free(&t);
    }
}

/* The production lookup itself, and kw_dns_resolve that now asks
 * through it: records as text, NXDOMAIN, no data, a refused name. */
static void lookups(void **state)
{
    kw_dns_lookup_ctx ctx;
    kw_dns_rrset *set = malloc(sizeof(*set));
    kw_dns_addr a[4];
    kw_diag d = {""};
    size_t n = 9;

    (void)state;
    assert_non_null(set);
    knot_ctx(&ctx, 3000);
    assert_int_equal(kw_dns_lookup_server(&ctx, "mx.spf.test", KW_DNS_MX,
                                          set, &d), 0);
    assert_int_equal(set->n, 2);
    assert_true((strcmp(kw_dns_rrset_rec(set, 0), "mail1.spf.test") == 0 &&
                 strcmp(kw_dns_rrset_rec(set, 1), "mail2.spf.test") == 0) ||
                (strcmp(kw_dns_rrset_rec(set, 1), "mail1.spf.test") == 0 &&
                 strcmp(kw_dns_rrset_rec(set, 0), "mail2.spf.test") == 0));
    assert_int_equal(kw_dns_lookup_server(&ctx, "two.spf.test", KW_DNS_TXT,
                                          set, &d), 0);
    assert_int_equal(set->n, 2);
    /* Several strings of one record, joined without a space. */
    assert_int_equal(kw_dns_lookup_server(&ctx, "split.spf.test", KW_DNS_TXT,
                                          set, &d), 0);
    assert_int_equal(set->n, 1);
    assert_string_equal(kw_dns_rrset_rec(set, 0),
                        "v=spf1 ip4:192.0.2.1 ip4:192.0.2.2 -all");
    assert_int_equal(set->len[0], strlen(kw_dns_rrset_rec(set, 0)));
    assert_int_equal(kw_dns_lookup_server(&ctx, "nx.spf.test", KW_DNS_A,
                                          set, &d), KW_ENOTFOUND);
    assert_non_null(strstr(d.msg, "nx.spf.test A at 127.0.0.1:"));
    assert_int_equal(kw_dns_lookup_server(&ctx, "nospf.spf.test", KW_DNS_TXT,
                                          set, &d), 0);
    assert_int_equal(set->n, 0);
    assert_int_equal(kw_dns_lookup_server(&ctx, "x.example", KW_DNS_TXT, set,
                                          &d), KW_EIO);
    assert_non_null(strstr(d.msg, "REFUSED"));
    free(set);

    assert_int_equal(kw_dns_resolve(&ctx.server, "host.spf.test", 0, a, 4,
                                    &n, 3000, &d), 0);
    assert_int_equal(n, 1);
    assert_string_equal(a[0].a, "198.51.100.200");
    assert_int_equal(kw_dns_resolve(&ctx.server, "host6.spf.test", 1, a, 4,
                                    &n, 3000, &d), 0);
    assert_int_equal(n, 1);
    assert_string_equal(a[0].a, "2001:db8:2::1");
    assert_int_equal(kw_dns_resolve(&ctx.server, "host6.spf.test", 0, a, 4,
                                    &n, 3000, &d), 0);
    assert_int_equal(n, 0);
    assert_int_equal(kw_dns_resolve(&ctx.server, "nx.spf.test", 0, a, 4, &n,
                                    3000, &d), KW_ENOTFOUND);
    assert_int_equal(kw_dns_resolve(&ctx.server, "bad name", 0, a, 4, &n,
                                    3000, &d), KW_EINVAL);
}

/* Is every thread of the process *ctx stopped?  kill(SIGSTOP) returns
 * before they are, and a worker thread can still answer meanwhile. */
static int all_stopped(void *ctx)
{
    char dir[64], path[600], buf[512], *rp;
    struct dirent *de;
    DIR *dp;
    int stopped = 1;

    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)*(pid_t *)ctx);
    if ((dp = opendir(dir)) == NULL)
        return 0;
    while ((de = readdir(dp)) != NULL && stopped) {
        FILE *f;
        size_t n;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s/stat", dir, de->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* "pid (comm) S ...": the state follows the last ')'. */
        rp = strrchr(buf, ')');
        stopped = rp != NULL && (rp[2] == 'T' || rp[2] == 't');
    }
    closedir(dp);
    return stopped;
}

/* A server that stops answering: both say TempError, keywarden within
 * its bound. */
static void frozen_server(void **state)
{
    kw_dns_lookup_ctx ctx;
    kw_dns_lookup lk = {kw_dns_lookup_server, &ctx};
    const pair p = {"192.0.2.1", "alice@pass4.spf.test"};
    kw_spf_check c;
    kw_spf_tree t;
    kw_diag d = {""};
    char *buf = NULL, *line[1];

    (void)state;
    knot_ctx(&ctx, 700);
    assert_int_equal(kill(g_knot.pid, SIGSTOP), 0);
    assert_true(proc_until(all_stopped, &g_knot.pid, 5000));
    assert_int_equal(kw_spf_check_host(&lk, p.ip, p.sender, "h", &c, &d), 0);
    assert_int_equal(c.result, KW_SPF_TEMPERROR);
    assert_non_null(strstr(c.reason, "pass4.spf.test TXT at 127.0.0.1:"));
    assert_int_equal(kw_spf_walk(&lk, "pass4.spf.test", NULL, &t, &d), 0);
    assert_int_equal(t.temperror, 1);
    kw_spf_tree_free(&t);
    {
        kw_dns_addr a[2];
        size_t n;

        assert_int_equal(kw_dns_resolve(&ctx.server, "host.spf.test", 0, a,
                                        2, &n, 500, &d), KW_ETIMEDOUT);
    }
    assert_int_equal(oracle(&p, 1, g_knot.port, 1.0, &buf, line, 1), 1);
    kill(g_knot.pid, SIGCONT);
    assert_true(strncmp(line[0], "temperror\t", 10) == 0);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(against_pyspf),
        cmocka_unit_test(walk_warns_where_pyspf_passes),
        cmocka_unit_test(lookups),
        cmocka_unit_test(frozen_server),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
