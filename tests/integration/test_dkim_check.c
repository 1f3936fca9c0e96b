/*
 * test_dkim_check.c: `keywarden dkim check` against real DNS servers.
 *
 * A Knot primary (127.0.0.1) and a secondary (127.0.0.2, TSIG-signed
 * transfers) serve mailco.net, goodco.net, delegco.net, flakyco.net and
 * warnco.net; unbound in front is the resolver receivers would ask.  flakyco.net also names
 * 127.0.0.3, a server that never answers, and 127.0.0.4, one that answers
 * garbage.  The keys come from opendkim-genkey in Debian's OpenDKIM layout
 * (a KeyTable with a broken row, a refile: SigningTable, one key file that
 * is not a key), and every finding is produced by a real record in Knot:
 * a matching record, a swapped p=, a revoked key, a 512-bit key, t=y, a
 * selector delegated by CNAME into another zone, two records at one name,
 * about 60 KiB of TXT records at one name, a secondary kept behind with
 * knotc zone-freeze, SPF over the lookup limit and DMARC p=none (in
 * warnco.net, alone a warning).  All
 * through the keywarden binary: `scan --dkim`, `dkim check [--json]`,
 * `check`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knot.h"
#include "kwrun.h"
#include "proc.h"
#include "tmpdir.h"

static char dir[256], state[512], conf[512], conf_pf[512], db[600];
static knot g_primary, g_secondary, g_unbound;
static kn_fake g_silent, g_garbage;

static const char *at(const char *rel)
{
    return kw_path(dir, rel);
}

static void tool(const char *const argv[])
{
    kw_tool(argv, at("tools.log"));
}

static void genkey(const char *domain, const char *bits, const char *sel,
                   int testmode)
{
    tool((const char *const[]){"/usr/sbin/opendkim-genkey", "-b", bits, "-d",
                               domain, "-s", sel, "-D", at("etc/dkimkeys"),
                               testmode ? "-t" : "-v", NULL});
}

/* The record opendkim-genkey wrote for sel, as one string ("v=DKIM1;
 * h=sha256; k=rsa; p=..."), its character strings joined. */
static void record_of(const char *sel, char *out, size_t cap)
{
    char path[600], *txt, *p, *q;
    size_t len, pos = 0;

    snprintf(path, sizeof(path), "%s/etc/dkimkeys/%s.txt", dir, sel);
    txt = slurp(path, &len);
    assert_non_null(txt);
    out[0] = '\0';
    for (p = strchr(txt, '"'); p != NULL; p = strchr(q + 1, '"')) {
        q = strchr(p + 1, '"');
        assert_non_null(q);
        assert_true(pos + (size_t)(q - p) < cap);
        memcpy(out + pos, p + 1, (size_t)(q - p - 1));
        pos += (size_t)(q - p - 1);
        out[pos] = '\0';
    }
    free(txt);
}

/* A zone file line: owner TXT with value split in 250-octet strings. */
static void txt_line(char *buf, size_t cap, size_t *pos, const char *owner,
                     const char *value)
{
    size_t n = strlen(value), i;
    int w = snprintf(buf + *pos, cap - *pos, "%s TXT (", owner);

    assert_true(w > 0 && (size_t)w < cap - *pos);
    *pos += (size_t)w;
    for (i = 0; i < n; i += 250) {
        w = snprintf(buf + *pos, cap - *pos, " \"%.*s\"", 250, value + i);
        assert_true(w > 0 && (size_t)w < cap - *pos);
        *pos += (size_t)w;
    }
    w = snprintf(buf + *pos, cap - *pos, " )\n");
    assert_true(w > 0 && (size_t)w < cap - *pos);
    *pos += (size_t)w;
}

/* A signing domain's zone: sel's record, SPF passing the outbound
 * address, DMARC with policy, and extra lines. */
static void small_zone(char *buf, size_t cap, const char *sel,
                       const char *domain, const char *policy,
                       const char *extra)
{
    char rec[2048], owner[80];
    size_t pos = 0;

    record_of(sel, rec, sizeof(rec));
    snprintf(owner, sizeof(owner), "%s._domainkey", sel);
    txt_line(buf, cap, &pos, owner, rec);
    snprintf(buf + pos, cap - pos,
             "%s@ TXT \"v=spf1 ip4:192.0.2.25 -all\"\n"
             "_dmarc TXT \"v=DMARC1; p=%s; rua=mailto:dmarc@%s\"\n",
             extra, policy, domain);
}

static char s1_rec[2048];

static int setup(void **st)
{
    static char mail[160000], good[8192], deleg[8192], flaky[16384],
        warn[4096];
    char rec[2048], rec2[2048], ty[2048];
    struct passwd *pw = getpwuid(getuid());
    kn_zone more[4];
    kn_opts o;
    size_t pos = 0, i;

    (void)st;
    tmpdir_make(dir, sizeof(dir), "dkimchk");
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(conf, sizeof(conf), "%s/keywarden.conf", dir);
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    mkdir(at("etc"), 0755);
    mkdir(at("etc/dkimkeys"), 0755);
    mkdir(state, 0700);
    genkey("mailco.net", "2048", "s1", 0);
    genkey("mailco.net", "2048", "sw", 0);
    genkey("mailco.net", "2048", "rev", 0);
    genkey("mailco.net", "512", "weak", 0);
    genkey("mailco.net", "2048", "ty", 1);
    genkey("mailco.net", "2048", "dup", 0);
    genkey("mailco.net", "2048", "cn", 0);
    genkey("mailco.net", "2048", "lag", 0);
    genkey("mailco.net", "2048", "big", 0);
    genkey("goodco.net", "2048", "g1", 0);
    genkey("flakyco.net", "2048", "fl", 0);
    genkey("warnco.net", "2048", "w1", 0);
    /* A key file that is not a key: it cannot be read, the rest is. */
    write_text(at("etc/dkimkeys/junk.private"), "not a key\n");

    /* mailco.net: every finding. */
    record_of("s1", s1_rec, sizeof(s1_rec));
    txt_line(mail, sizeof(mail), &pos, "s1._domainkey", s1_rec);
    txt_line(mail, sizeof(mail), &pos, "sw._domainkey", s1_rec);
    txt_line(mail, sizeof(mail), &pos, "rev._domainkey", "v=DKIM1; k=rsa; p=");
    record_of("weak", rec, sizeof(rec));
    txt_line(mail, sizeof(mail), &pos, "weak._domainkey", rec);
    record_of("ty", ty, sizeof(ty));
    assert_non_null(strstr(ty, "t=y"));
    txt_line(mail, sizeof(mail), &pos, "ty._domainkey", ty);
    record_of("dup", rec, sizeof(rec));
    txt_line(mail, sizeof(mail), &pos, "dup._domainkey", rec);
    txt_line(mail, sizeof(mail), &pos, "dup._domainkey", s1_rec);
    pos += (size_t)snprintf(mail + pos, sizeof(mail) - pos,
                            "cn._domainkey CNAME cn.delegco.net.\n");
    record_of("lag", rec2, sizeof(rec2));
    txt_line(mail, sizeof(mail), &pos, "lag._domainkey", rec2);
    record_of("big", rec, sizeof(rec));
    /* About 60 KiB of TXT records at one name (230 of 255 octets): none
     * of them a DKIM record. */
    for (i = 0; i < 230; i++) {
        char junk[256];

        memset(junk, 'a' + (int)(i % 26), 255);
        junk[255] = '\0';
        snprintf(junk, 8, "%05zu", i);
        junk[5] = 'x';
        txt_line(mail, sizeof(mail), &pos, "big._domainkey", junk);
    }
    record_of("s1", rec, sizeof(rec));
    txt_line(mail, sizeof(mail), &pos, "junk._domainkey", rec);
    pos += (size_t)snprintf(mail + pos, sizeof(mail) - pos,
                            "h A 192.0.2.1\n"
                            "@ TXT \"v=spf1 a:h.mailco.net a:h.mailco.net "
                            "a:h.mailco.net a:h.mailco.net a:h.mailco.net "
                            "a:h.mailco.net a:h.mailco.net a:h.mailco.net "
                            "a:h.mailco.net a:h.mailco.net a:h.mailco.net "
                            "ip4:192.0.2.25 -all\"\n"
                            "_dmarc TXT \"v=DMARC1; p=none; "
                            "rua=mailto:dmarc@mailco.net\"\n");
    /* goodco.net: all is well. */
    small_zone(good, sizeof(good), "g1", "goodco.net", "reject", "");
    /* delegco.net: where cn._domainkey.mailco.net points. */
    pos = 0;
    record_of("cn", rec, sizeof(rec));
    txt_line(deleg, sizeof(deleg), &pos, "cn", rec);
    /* warnco.net: a DMARC policy of none, nothing else wrong. */
    small_zone(warn, sizeof(warn), "w1", "warnco.net", "none", "");
    /* flakyco.net: two of its four servers are broken.  fl2..fl4 share
     * fl's key, so four surveys each wait for the silent server. */
    {
        static char extra[8192];
        size_t epos = 0;

        epos += (size_t)snprintf(extra, sizeof(extra),
                                 "@ NS ns3\nns3 A 127.0.0.3\n"
                                 "@ NS ns4\nns4 A 127.0.0.4\n");
        record_of("fl", rec, sizeof(rec));
        txt_line(extra, sizeof(extra), &epos, "fl2._domainkey", rec);
        txt_line(extra, sizeof(extra), &epos, "fl3._domainkey", rec);
        txt_line(extra, sizeof(extra), &epos, "fl4._domainkey", rec);
        small_zone(flaky, sizeof(flaky), "fl", "flakyco.net", "reject",
                   extra);
    }

    memset(&o, 0, sizeof(o));
    memset(more, 0, sizeof(more));
    o.zone = "mailco.net";
    o.records = mail;
    more[0].name = "goodco.net";
    more[0].records = good;
    more[1].name = "delegco.net";
    more[1].records = deleg;
    more[2].name = "flakyco.net";
    more[2].records = flaky;
    more[3].name = "warnco.net";
    more[3].records = warn;
    o.more = more;
    o.nmore = 4;
    o.ns2_addr = "127.0.0.2";
    if (kn_primary_start(dir, "primary", &o, &g_primary) != 0)
        return -1;
    if (kn_secondary_start(dir, "secondary", &g_primary, "127.0.0.2",
                           &g_secondary) != 0)
        return -1;
    if (kn_fake_start("127.0.0.3", g_primary.port, KN_FAKE_SILENT,
                      &g_silent) != 0 ||
        kn_fake_start("127.0.0.4", g_primary.port, KN_FAKE_GARBAGE,
                      &g_garbage) != 0)
        return -1;
    if (kn_resolver_start(dir, "unbound", &g_primary, &g_unbound) != 0)
        return -1;

    /* Debian's layout: KeyTable (one row with missing fields) and a
     * refile: SigningTable.  Every key signs but "lag2" nothing names. */
    write_text(at("etc/dkimkeys/keytable"),
               "s1._domainkey.mailco.net mailco.net:s1:%1$s/s1.private\n"
               "sw._domainkey.mailco.net mailco.net:sw:%1$s/sw.private\n"
               "rev._domainkey.mailco.net mailco.net:rev:%1$s/rev.private\n"
               "weak._domainkey.mailco.net mailco.net:weak:%1$s/weak.private\n"
               "ty._domainkey.mailco.net mailco.net:ty:%1$s/ty.private\n"
               "dup._domainkey.mailco.net mailco.net:dup:%1$s/dup.private\n"
               "cn._domainkey.mailco.net mailco.net:cn:%1$s/cn.private\n"
               "lag._domainkey.mailco.net mailco.net:lag:%1$s/lag.private\n"
               "big._domainkey.mailco.net mailco.net:big:%1$s/big.private\n"
               "junk._domainkey.mailco.net mailco.net:junk:%1$s/junk.private\n"
               "broken mailco.net:nokey\n"
               "g1._domainkey.goodco.net goodco.net:g1:%1$s/g1.private\n"
               "fl._domainkey.flakyco.net flakyco.net:fl:%1$s/fl.private\n"
               "fl2._domainkey.flakyco.net flakyco.net:fl2:%1$s/fl.private\n"
               "fl3._domainkey.flakyco.net flakyco.net:fl3:%1$s/fl.private\n"
               "fl4._domainkey.flakyco.net flakyco.net:fl4:%1$s/fl.private\n"
               "w1._domainkey.warnco.net warnco.net:w1:%1$s/w1.private\n",
               at("etc/dkimkeys"));
    write_text(at("etc/dkimkeys/signingtable"),
               "*@mailco.net s1._domainkey.mailco.net\n"
               "*@mailco.net sw._domainkey.mailco.net\n"
               "*@mailco.net rev._domainkey.mailco.net\n"
               "*@mailco.net weak._domainkey.mailco.net\n"
               "*@mailco.net ty._domainkey.mailco.net\n"
               "*@mailco.net dup._domainkey.mailco.net\n"
               "*@mailco.net cn._domainkey.mailco.net\n"
               "*@mailco.net lag._domainkey.mailco.net\n"
               "*@mailco.net big._domainkey.mailco.net\n"
               "*@mailco.net junk._domainkey.mailco.net\n"
               "*@goodco.net g1._domainkey.goodco.net\n"
               "*@flakyco.net fl._domainkey.flakyco.net\n"
               "*@flakyco.net fl2._domainkey.flakyco.net\n"
               "*@flakyco.net fl3._domainkey.flakyco.net\n"
               "*@flakyco.net fl4._domainkey.flakyco.net\n"
               "*@warnco.net w1._domainkey.warnco.net\n");
    write_text(at("etc/opendkim.conf"),
               "Syslog\t\t\tyes\n"
               "UserID\t\t\t%s\n"
               "KeyTable\t\tfile:%s\n"
               "SigningTable\t\trefile:%s\n",
               pw != NULL ? pw->pw_name : "root",
               at("etc/dkimkeys/keytable"), at("etc/dkimkeys/signingtable"));
    write_text(conf,
               "[dkim]\n"
               "opendkim_conf = %s\n"
               "resolver = %s@%d\n"
               "dns_port = %d\n"
               "outbound = 192.0.2.25\n",
               at("etc/opendkim.conf"), g_unbound.addr, g_unbound.port,
               g_primary.port);
    /* The same without outbound: Postfix's main.cf says where mail
     * leaves from. */
    snprintf(conf_pf, sizeof(conf_pf), "%s/keywarden-postfix.conf", dir);
    write_text(conf_pf,
               "[dkim]\n"
               "opendkim_conf = %s\n"
               "resolver = %s@%d\n"
               "dns_port = %d\n",
               at("etc/opendkim.conf"), g_unbound.addr, g_unbound.port,
               g_primary.port);
    mkdir(at("etc/postfix"), 0755);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    kn_stop(&g_unbound);
    kn_fake_stop(&g_garbage);
    kn_fake_stop(&g_silent);
    kn_stop(&g_secondary);
    kn_stop(&g_primary);
    tmpdir_remove(dir);
    return 0;
}

/* The element of array whose key is value, or NULL. */
static json_t *member(json_t *array, const char *key, const char *value)
{
    json_t *o;
    size_t i;

    json_array_foreach(array, i, o)
    {
        const char *v = json_string_value(json_object_get(o, key));

        if (v != NULL && strcmp(v, value) == 0)
            return o;
    }
    return NULL;
}

static json_t *sel_of(json_t *rep, const char *name)
{
    json_t *o = member(json_object_get(rep, "selectors"), "name", name);

    if (o == NULL)
        fail_msg("selector %s not in the report", name);
    return o;
}

static json_t *dom_of(json_t *rep, const char *name)
{
    json_t *o = member(json_object_get(rep, "domains"), "domain", name);

    if (o == NULL)
        fail_msg("domain %s not in the report", name);
    return o;
}

/* The finding of code in o's findings (NULL when there is none). */
static json_t *finding(json_t *o, const char *code)
{
    return member(json_object_get(o, "findings"), "code", code);
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

/* Asserts o has a finding code of health sev whose text has needle. */
static void has(json_t *o, const char *code, const char *sev,
                const char *needle)
{
    json_t *f = finding(o, code);

    if (f == NULL) {
        char *dump = json_dumps(o, JSON_INDENT(1));

        fail_msg("no %s finding in %s", code, dump);
        free(dump);
    }
    assert_string_equal(str(f, "severity"), sev);
    if (needle != NULL)
        assert_contains(str(f, "text"), needle);
}

static json_t *check_json(int want, const char *domain)
{
    json_error_t err;
    json_t *rep;
    kwres r = kw_expect(want, state, conf,
                        (const char *[]){"dkim", "check", "--json", domain,
                                         NULL});

    rep = json_loads(r.out, 0, &err);
    if (rep == NULL)
        fail_msg("not JSON (%s): %s", err.text, r.out);
    kwres_free(&r);
    return rep;
}

/* Without [dkim] outbound, the address Postfix sends from (main.cf's
 * inet_interfaces, a continuation line and a $parameter) gets its SPF
 * result; with inet_interfaces = all there is none, and the report says
 * why. */
static void test_postfix_outbound(void **st)
{
    const char *pf = at("etc/postfix");
    json_error_t err;
    json_t *rep, *outs, *o;
    kwres r;

    (void)st;
    kwres_free((r = kw_ok(state, conf_pf, "scan", "--dkim"), &r));
    write_text(at("etc/postfix/main.cf"),
               "public = 192.0.2.25\n"
               "inet_interfaces = $public,\n"
               "    127.0.0.1\n");
    r = kw_expect(0, state, conf_pf,
                  (const char *[]){"dkim", "check", "--json", "--postfix",
                                   pf, "goodco.net", NULL});
    rep = json_loads(r.out, 0, &err);
    if (rep == NULL)
        fail_msg("not JSON (%s): %s", err.text, r.out);
    kwres_free(&r);
    outs = json_object_get(json_object_get(dom_of(rep, "goodco.net"), "spf"),
                           "outbound");
    assert_int_equal(json_array_size(outs), 1);
    o = json_array_get(outs, 0);
    assert_string_equal(str(o, "address"), "192.0.2.25");
    assert_string_equal(str(o, "result"), "pass");
    has(dom_of(rep, "goodco.net"), "spf.pass", "ok", "192.0.2.25");
    assert_contains(str(rep, "outbound_from"),
                    "192.0.2.25 (");
    assert_contains(str(rep, "outbound_from"),
                    "etc/postfix/main.cf:2 inet_interfaces)");
    json_decref(rep);

    /* An address SPF does not authorize: critical, as from [dkim]. */
    write_text(at("etc/postfix/main.cf"),
               "smtp_bind_address = 198.51.100.7\n"
               "inet_interfaces = 192.0.2.25\n");
    r = kw_expect(2, state, conf_pf,
                  (const char *[]){"dkim", "check", "--postfix", pf,
                                   "goodco.net", NULL});
    if (getenv("KW_TEST_SHOW") != NULL)
        fprintf(stderr, "%s", r.out);
    assert_contains(r.out, "outbound addresses for SPF: 198.51.100.7 (");
    assert_contains(r.out, "main.cf:1 smtp_bind_address)");
    assert_contains(r.out, "SPF for outbound 198.51.100.7: fail");
    kwres_free(&r);

    /* "all": no address to check, and why. */
    write_text(at("etc/postfix/main.cf"), "inet_interfaces = all\n");
    r = kw_expect(0, state, conf_pf,
                  (const char *[]){"dkim", "check", "--postfix", pf,
                                   "goodco.net", NULL});
    assert_contains(r.out, "outbound addresses for SPF: none ([dkim] "
                           "outbound is not set; ");
    assert_contains(r.out, "main.cf:1: inet_interfaces = all: the outbound "
                           "address is whatever the route picks; set "
                           "[dkim] outbound");
    assert_null(strstr(r.out, "SPF for outbound"));
    kwres_free(&r);

    /* A directory without main.cf: which of the two it is (Postfix
     * missing, or only its configuration) and what to do. */
    {
        char none[1200];

        snprintf(none, sizeof(none), "%s/no-postfix-here", pf);
        r = kw_expect(0, state, conf_pf,
                      (const char *[]){"dkim", "check", "--postfix", none,
                                       "goodco.net", NULL});
        assert_contains(r.out, "outbound addresses for SPF: none ([dkim] "
                               "outbound is not set and there is no ");
        assert_contains(r.out, access("/usr/sbin/postfix", X_OK) == 0
                                   ? "Postfix is installed but has no "
                                     "main.cf there; set [dkim] outbound, "
                                     "or give dkim check --postfix DIR"
                                   : "Postfix is not installed here");
        kwres_free(&r);
    }

    /* [dkim] outbound wins over main.cf. */
    r = kw_expect(0, state, conf,
                  (const char *[]){"dkim", "check", "--postfix", pf,
                                   "goodco.net", NULL});
    assert_contains(r.out, "outbound addresses for SPF: 192.0.2.25 ([dkim] "
                           "outbound)");
    kwres_free(&r);
}

static void test_findings(void **st)
{
    char srv1[64], srv2[64], want[200];
    json_t *rep, *s;
    kwres r;

    (void)st;
    snprintf(srv1, sizeof(srv1), "127.0.0.1:%d", g_primary.port);
    snprintf(srv2, sizeof(srv2), "127.0.0.2:%d", g_primary.port);
    r = kw_ok(state, conf, "scan", "--dkim");
    /* The broken KeyTable row is named by file and line. */
    assert_contains(r.err, "keytable:11");
    kwres_free(&r);

    /* goodco.net alone: everything ok, exit 0. */
    rep = check_json(0, "goodco.net");
    s = sel_of(rep, "g1._domainkey.goodco.net");
    assert_string_equal(str(s, "health"), "ok");
    has(s, "match", "ok", NULL);
    assert_int_equal(json_array_size(json_object_get(s, "answers")), 3);
    has(dom_of(rep, "goodco.net"), "spf.pass", "ok", "192.0.2.25");
    json_decref(rep);
    kwres_free((r = kw_expect(0, state, conf,
                              (const char *[]){"check",
                                               "g1._domainkey.goodco.net",
                                               NULL}),
                &r));

    /* DMARC p=none: a warning, in `dkim check` and in `check`. */
    rep = check_json(1, "warnco.net");
    has(dom_of(rep, "warnco.net"), "dmarc.p_none", "warning", "p=none");
    assert_string_equal(str(sel_of(rep, "w1._domainkey.warnco.net"),
                            "health"), "warning");
    json_decref(rep);
    r = kw_expect(1, state, conf,
                  (const char *[]){"check", "w1._domainkey.warnco.net",
                                   NULL});
    assert_contains(r.out, "p=none");
    kwres_free(&r);

    /* Four surveys that each wait 3 s for the silent server run side
     * by side: one after the other they would take 12 s. */
    r = kw_expect(3, state, conf,
                  (const char *[]){"dkim", "check", "flakyco.net", NULL});
    if (r.secs >= 8.0)
        fail_msg("dkim check flakyco.net took %.1f s: the surveys did not "
                 "run concurrently", r.secs);
    kwres_free(&r);

    /* flakyco.net: a server that never answers and one that answers
     * garbage are unknown, never ok. */
    rep = check_json(3, "flakyco.net");
    s = sel_of(rep, "fl._domainkey.flakyco.net");
    assert_string_equal(str(s, "health"), "unknown");
    snprintf(want, sizeof(want), "127.0.0.3:%d did not answer "
             "fl._domainkey.flakyco.net TXT", g_primary.port);
    {
        json_t *f;
        size_t i, silent = 0, garbage = 0;

        json_array_foreach(json_object_get(s, "findings"), i, f)
        {
            if (strstr(str(f, "text"), want) != NULL)
                silent = 1;
            if (strstr(str(f, "text"), "127.0.0.4") != NULL &&
                strcmp(str(f, "severity"), "unknown") == 0)
                garbage = 1;
        }
        assert_true(silent);
        assert_true(garbage);
    }
    json_decref(rep);

    /* Everything: critical. */
    rep = check_json(2, "mailco.net");
    has(sel_of(rep, "s1._domainkey.mailco.net"), "match", "ok", NULL);
    s = sel_of(rep, "sw._domainkey.mailco.net");
    has(s, "mismatch", "critical", "is not the key in the key file");
    assert_contains(str(finding(s, "mismatch"), "text"), srv1);
    assert_contains(str(finding(s, "mismatch"), "text"), srv2);
    assert_contains(str(finding(s, "mismatch"), "text"), "resolver");
    assert_contains(str(finding(s, "mismatch"), "fix"),
                    "publish sw._domainkey.mailco.net. TXT \"v=DKIM1;");
    has(sel_of(rep, "rev._domainkey.mailco.net"), "revoked", "critical",
        "empty p=");
    assert_string_equal(str(sel_of(rep, "weak._domainkey.mailco.net"),
                            "health"), "critical");
    {
        char *kf = json_dumps(json_object_get(sel_of(rep,
                              "weak._domainkey.mailco.net"), "key_findings"),
                              0);

        assert_non_null(kf);
        assert_contains(kf, "512-bit");
        free(kf);
        kf = json_dumps(json_object_get(sel_of(rep,
                        "junk._domainkey.mailco.net"), "key_findings"), 0);
        assert_non_null(kf);
        assert_contains(kf, "junk.private");
        free(kf);
    }
    has(sel_of(rep, "ty._domainkey.mailco.net"), "testing", "warning", "t=y");
    has(sel_of(rep, "dup._domainkey.mailco.net"), "duplicate", "critical",
        "two or more DKIM records");
    s = sel_of(rep, "cn._domainkey.mailco.net");
    has(s, "cname", "ok", "cn.delegco.net");
    has(s, "match", "ok", NULL);
    s = sel_of(rep, "big._domainkey.mailco.net");
    has(s, "missing", "critical", "no DKIM record");
    /* All 230 records were read, from the resolver and each server
     * (over TCP: the answer is far over 1232 octets). */
    {
        json_t *a;
        size_t i;

        json_array_foreach(json_object_get(s, "answers"), i, a)
        {
            assert_int_equal(json_array_size(json_object_get(a, "txt")),
                             230);
        }
        assert_int_equal(i, 3);
    }
    /* The key file that is not a key: its record is still read. */
    assert_null(finding(sel_of(rep, "junk._domainkey.mailco.net"),
                        "mismatch"));
    assert_string_equal(str(sel_of(rep, "junk._domainkey.mailco.net"),
                            "health"), "critical");
    s = dom_of(rep, "mailco.net");
    has(s, "spf.permerror", "critical", "DNS-querying");
    has(s, "dmarc.p_none", "warning", NULL);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(s, "spf"), "lookups")),
                     11);
    json_decref(rep);

    /* Its health moved with the findings: a health.changed event. */
    assert_true(db_int(db, "SELECT count(*) FROM events e JOIN objects o "
                           "ON o.id = e.object_id WHERE e.type = "
                           "'health.changed' AND o.name = "
                           "'sw._domainkey.mailco.net'") >= 1);
    /* The swapped key became an event, once. */
    assert_int_equal(db_int(db, "SELECT count(*) FROM events WHERE type = "
                                "'dkim.dns_mismatch'"),
                     1);
    kwres_free((r = kw_expect(2, state, conf,
                              (const char *[]){"dkim", "check", NULL}),
                &r));
    assert_int_equal(db_int(db, "SELECT count(*) FROM events WHERE type = "
                                "'dkim.dns_mismatch'"),
                     1);

    /* The text report and `check` carry the same. */
    r = kw_expect(2, state, conf, (const char *[]){"dkim", "check", NULL});
    if (getenv("KW_TEST_SHOW") != NULL)
        fprintf(stderr, "%s", r.out);
    assert_contains(r.out, "resolver");
    assert_contains(r.out, "SPF: 11 of 10 DNS lookups");
    assert_contains(r.out, "DMARC at _dmarc.mailco.net");
    assert_contains(r.out, "fix: publish sw._domainkey.mailco.net. TXT");
    kwres_free(&r);
    r = kw_expect(2, state, conf, (const char *[]){"check", NULL});
    assert_contains(r.out, "sw._domainkey.mailco.net");
    kwres_free(&r);

    /* A secondary behind: frozen, the record changed on the primary. */
    assert_int_equal(kn_knotc(&g_secondary, "zone-freeze", "mailco.net"), 0);
    {
        char rec[2048], upd[4096];
        size_t pos = 0;

        record_of("lag", rec, sizeof(rec));
        snprintf(upd, sizeof(upd),
                 "update delete lag._domainkey.mailco.net. TXT\n");
        pos = strlen(upd);
        snprintf(upd + pos, sizeof(upd) - pos,
                 "update add lag._domainkey.mailco.net. 60 TXT \"v=DKIM1; "
                 "s=email; %.230s\" \"%s\"\n", rec + 8,
                 strlen(rec + 8) > 230 ? rec + 8 + 230 : "");
        assert_int_equal(kn_update(&g_primary, "mailco.net", upd), 0);
    }
    {
        uint32_t p1 = 0, p2 = 0;

        assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                       "mailco.net", 2000, &p1), 0);
        assert_int_equal(kn_soa_serial("127.0.0.2", g_primary.port,
                                       "mailco.net", 2000, &p2), 0);
        assert_true(p1 > p2);
        rep = check_json(2, "mailco.net");
        s = sel_of(rep, "lag._domainkey.mailco.net");
        has(s, "dns.disagree", "warning", srv2);
        snprintf(want, sizeof(want), "(serial %u)", (unsigned)p2);
        assert_contains(str(finding(s, "dns.disagree"), "text"), want);
        assert_contains(str(finding(s, "dns.disagree"), "server"), srv2);
        json_decref(rep);
    }
    assert_int_equal(kn_knotc(&g_secondary, "zone-thaw", "mailco.net"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_findings),
        cmocka_unit_test(test_postfix_outbound),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
