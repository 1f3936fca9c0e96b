/*
 * The DNS survey against real Knot DNS servers on loopback: a primary
 * (127.0.0.1) serving example.net, provider.org and broken.org, and a
 * secondary (127.0.0.2 and ::1, same port) taking them by TSIG-signed
 * transfers and NOTIFY.  broken.org also names 127.0.0.3, a server
 * that reads and never answers, and 127.0.0.4, one that answers
 * garbage.  The primary plays the resolver too (it ignores RD).
 *
 * Servers agreeing; NXDOMAIN and a name without TXT; a selector
 * CNAME-delegated into another zone; a 58 KiB TXT RRset (over TCP); a
 * dead and a garbage server named while the others are still reported
 * in time; a record changed on the primary while the secondary is frozen:
 * a disagreement naming both servers and their serials, then agreement
 * once the secondary is thawed; a stopped secondary.  A zone cache shared
 * by surveys: siblings and CNAME targets served from it, entries aged
 * out, and an entry dropped when a server answers without authority
 * (lame.org names 127.0.0.5, a server that does so).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "dns/dns_survey.h"
#include "knot.h"
#include "tmpdir.h"

#define BIG_N 240
#define BIG_LEN 230

static char g_dir[256];
static knot g_primary, g_secondary;
static kn_fake g_silent, g_garbage, g_lame;
static kw_dns_server g_resolver;
static kw_dns_survey_opts g_opts;
static char g_key1[420], g_key2[420];

/* A DKIM-like p= value: the SubjectPublicKeyInfo prefix every RSA key
 * shares, then a body, then a tail that tells keys apart. */
static void make_key(char *buf, size_t cap, const char *tag)
{
    size_t i, o;

    o = (size_t)snprintf(buf, cap, "%s",
                         "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA");
    for (i = 0; o + 20 < cap && i < 330; i++)
        buf[o++] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   [(i * 7) % 52];
    snprintf(buf + o, cap - o, "%sIDAQAB", tag);
}

/* The zone file line of a DKIM record at owner, in character strings of
 * at most 255 octets, as opendkim-genkey writes them. */
static void dkim_line(char *buf, size_t cap, const char *owner,
                      const char *key)
{
    size_t o, n = strlen(key), i;

    o = (size_t)snprintf(buf, cap, "%s TXT \"v=DKIM1; k=rsa; \"", owner);
    for (i = 0; i < n && o + 8 < cap; i += 200)
        o += (size_t)snprintf(buf + o, cap - o, " \"%s%.200s\"",
                              i == 0 ? "p=" : "", key + i);
    snprintf(buf + o, cap - o, "\n");
}

static void contains(const char *msg, const char *needle)
{
    if (strstr(msg, needle) == NULL)
        fail_msg("\"%s\" not in: %s", needle, msg);
}

static void dkim_value(char *buf, size_t cap, const char *key)
{
    snprintf(buf, cap, "v=DKIM1; k=rsa; p=%s", key);
}

static int group_setup(void **state)
{
    static char main_records[4096], prov[2048], broken[2048], lame[2048];
    static char *big;
    char line[1024];
    size_t o, i;
    kn_zone more[3];
    kn_opts o2;

    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "dnssurvey");
    make_key(g_key1, sizeof(g_key1), "key1");
    make_key(g_key2, sizeof(g_key2), "key2");

    dkim_line(line, sizeof(line), "s1._domainkey", g_key1);
    o = (size_t)snprintf(main_records, sizeof(main_records),
        "%s"
        "notxt A 192.0.2.1\n"
        "ms._domainkey CNAME ms._domainkey.provider.org.\n"
        "loop1._domainkey CNAME loop2._domainkey\n"
        "loop2._domainkey CNAME loop1._domainkey\n", line);
    assert_true(o < sizeof(main_records));
    /* Many distinct records at one name: about 58 KiB on the wire. */
    big = malloc((size_t)BIG_N * (BIG_LEN + 40) + sizeof(main_records));
    assert_non_null(big);
    o = (size_t)sprintf(big, "%s", main_records);
    for (i = 0; i < BIG_N; i++) {
        size_t j;

        o += (size_t)sprintf(big + o, "big._domainkey TXT \"%03zu-", i);
        for (j = 0; j < BIG_LEN - 4; j++)
            big[o++] = (char)('a' + (i + j) % 26);
        o += (size_t)sprintf(big + o, "\"\n");
    }
    dkim_line(prov, sizeof(prov), "ms._domainkey", g_key2);
    dkim_line(line, sizeof(line), "s1._domainkey", g_key1);
    snprintf(broken, sizeof(broken),
             "@ NS ns3\nns3 A 127.0.0.3\n@ NS ns4\nns4 A 127.0.0.4\n%s",
             line);
    o = (size_t)snprintf(lame, sizeof(lame), "@ NS ns5\nns5 A 127.0.0.5\n%s",
                         line);
    dkim_line(line, sizeof(line), "s2._domainkey", g_key2);
    snprintf(lame + o, sizeof(lame) - o, "%s", line);

    memset(&o2, 0, sizeof(o2));
    o2.zone = "example.net";
    o2.ns2_addr = "127.0.0.2";
    o2.ns2_addr6 = "::1";
    o2.records = big;
    more[0].name = "provider.org";
    more[0].records = prov;
    more[1].name = "broken.org";
    more[1].records = broken;
    more[2].name = "lame.org";
    more[2].records = lame;
    o2.more = more;
    o2.nmore = 3;
    if (kn_primary_start(g_dir, "primary", &o2, &g_primary) != 0)
        return -1;
    free(big);
    if (kn_secondary_start(g_dir, "secondary", &g_primary, "127.0.0.2",
                           &g_secondary) != 0)
        return -1;
    if (kn_fake_start("127.0.0.3", g_primary.port, KN_FAKE_SILENT,
                      &g_silent) != 0 ||
        kn_fake_start("127.0.0.4", g_primary.port, KN_FAKE_GARBAGE,
                      &g_garbage) != 0 ||
        kn_fake_start("127.0.0.5", g_primary.port, KN_FAKE_LAME,
                      &g_lame) != 0)
        return -1;
    memset(&g_resolver, 0, sizeof(g_resolver));
    snprintf(g_resolver.addr, sizeof(g_resolver.addr), "%s",
             g_primary.addr);
    g_resolver.port = g_primary.port;
    g_opts.auth_port = g_primary.port;
    g_opts.timeout_ms = 8000;
    g_opts.per_server_ms = 1500;
    fprintf(stderr, "# knotd primary %s@%d, secondary %s@%d\n",
            g_primary.addr, g_primary.port, g_secondary.addr,
            g_secondary.port);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kn_fake_stop(&g_lame);
    kn_fake_stop(&g_garbage);
    kn_fake_stop(&g_silent);
    kn_stop(&g_secondary);
    kn_stop(&g_primary);
    if (g_dir[0] != '\0' && getenv("KW_KEEP_TMP") == NULL)
        tmpdir_remove(g_dir);
    return 0;
}

static kw_dns_survey *survey(const char *name)
{
    kw_dns_survey *s = NULL;
    kw_diag d = {""};

    if (kw_dns_survey_run(&g_resolver, name, &g_opts, &s, &d) != 0)
        fail_msg("survey of %s: %s", name, d.msg);
    assert_non_null(s);
    return s;
}

/* The answer of addr in step k. */
static const kw_dns_answer *at(const kw_dns_survey *s, size_t k,
                               const char *addr)
{
    size_t i;

    assert_true(k < s->nsteps);
    for (i = 0; i < s->steps[k].nauth; i++)
        if (strcmp(s->steps[k].auth[i].server.addr, addr) == 0)
            return &s->steps[k].auth[i];
    fail_msg("no answer from %s in step %zu", addr, k);
    return NULL;
}

static void serves_one(const kw_dns_answer *a, const char *value)
{
    if (a->status != 0)
        fail_msg("%s: status %d: %s", a->server.addr, a->status, a->error);
    assert_int_equal(a->rcode, 0);
    assert_int_equal(a->ntxt, 1);
    assert_int_equal(a->txt[0].len, strlen(value));
    assert_string_equal(a->txt[0].s, value);
}

static void agreeing(void **state)
{
    char want[600], words[2048];
    kw_dns_survey *s;

    (void)state;
    dkim_value(want, sizeof(want), g_key1);
    s = survey("s1._domainkey.example.net");
    assert_int_equal(s->nsteps, 1);
    assert_string_equal(s->steps[0].zone, "example.net");
    assert_int_equal(s->steps[0].status, 0);
    /* ns1's address, and ns2's two (IPv4 and IPv6). */
    assert_int_equal(s->steps[0].nauth, 3);
    serves_one(at(s, 0, "127.0.0.1"), want);
    serves_one(at(s, 0, "127.0.0.2"), want);
    serves_one(at(s, 0, "::1"), want);
    assert_true(at(s, 0, "127.0.0.1")->aa);
    assert_true(at(s, 0, "127.0.0.2")->has_serial);
    assert_int_equal(at(s, 0, "127.0.0.1")->serial,
                     at(s, 0, "127.0.0.2")->serial);
    serves_one(&s->resolver, want);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_AGREE);
    contains(words, "agree");
    kw_dns_survey_free(s);

    /* A host without IPv6 leaves ns2's AAAA out. */
    g_opts.ipv4_only = 1;
    s = survey("s1._domainkey.example.net");
    g_opts.ipv4_only = 0;
    assert_int_equal(s->steps[0].nauth, 2);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_AGREE);
    kw_dns_survey_free(s);
}

static void nxdomain_and_nodata(void **state)
{
    char words[2048];
    kw_dns_survey *s;

    (void)state;
    s = survey("absent._domainkey.example.net");
    assert_int_equal(s->steps[0].nauth, 3);
    assert_int_equal(at(s, 0, "127.0.0.2")->status, 0);
    assert_true(at(s, 0, "127.0.0.2")->nxdomain);
    assert_false(at(s, 0, "127.0.0.2")->nodata);
    assert_true(at(s, 0, "127.0.0.1")->nxdomain);
    assert_true(at(s, 0, "127.0.0.1")->has_serial);
    assert_true(s->resolver.nxdomain);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_AGREE);
    kw_dns_survey_free(s);

    s = survey("notxt.example.net");
    assert_int_equal(at(s, 0, "127.0.0.1")->status, 0);
    assert_false(at(s, 0, "127.0.0.1")->nxdomain);
    assert_true(at(s, 0, "127.0.0.1")->nodata);
    assert_true(at(s, 0, "127.0.0.2")->nodata);
    assert_int_equal(at(s, 0, "127.0.0.2")->ntxt, 0);
    kw_dns_survey_free(s);
}

static void cname_into_another_zone(void **state)
{
    char want[600], words[2048];
    kw_dns_survey *s;

    (void)state;
    dkim_value(want, sizeof(want), g_key2);
    s = survey("ms._domainkey.example.net");
    assert_int_equal(s->nsteps, 2);
    assert_string_equal(s->steps[0].zone, "example.net");
    assert_string_equal(at(s, 0, "127.0.0.1")->cname,
                        "ms._domainkey.provider.org");
    assert_string_equal(at(s, 0, "127.0.0.2")->cname,
                        "ms._domainkey.provider.org");
    assert_false(at(s, 0, "127.0.0.1")->nodata);
    assert_string_equal(s->steps[1].name, "ms._domainkey.provider.org");
    assert_string_equal(s->steps[1].zone, "provider.org");
    assert_int_equal(s->steps[1].nauth, 3);
    serves_one(at(s, 1, "127.0.0.1"), want);
    serves_one(at(s, 1, "127.0.0.2"), want);
    assert_true(at(s, 1, "127.0.0.2")->has_serial);
    assert_string_equal(s->resolver.cname, "ms._domainkey.provider.org");
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_AGREE);
    kw_dns_survey_free(s);

    /* A loop ends the chain and is said (Knot puts both links of an
     * in-zone loop in its answer). */
    s = survey("loop1._domainkey.example.net");
    assert_int_equal(s->nsteps, 1);
    assert_int_equal(at(s, 0, "127.0.0.1")->status, KW_ELOOP);
    contains(at(s, 0, "127.0.0.1")->error, "a loop");
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_INCOMPLETE);
    kw_dns_survey_free(s);
}

static void big_rrset_over_tcp(void **state)
{
    char words[2048];
    kw_dns_survey *s;
    size_t i;

    (void)state;
    s = survey("big._domainkey.example.net");
    for (i = 0; i < s->steps[0].nauth; i++) {
        const kw_dns_answer *a = &s->steps[0].auth[i];

        if (a->status != 0)
            fail_msg("%s: %s", a->server.addr, a->error);
        assert_int_equal(a->ntxt, BIG_N);
        /* More than the EDNS size we advertise: it came over TCP. */
        assert_true(a->wire_len > 50000);
        assert_int_equal(a->txt[0].len, BIG_LEN);
    }
    assert_int_equal(s->resolver.ntxt, BIG_N);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_AGREE);
    kw_dns_survey_free(s);
}

static void dead_and_garbage_servers(void **state)
{
    char want[600], words[4096], exp[128];
    const kw_dns_answer *a;
    kw_dns_survey *s;

    (void)state;
    dkim_value(want, sizeof(want), g_key1);
    s = survey("s1._domainkey.broken.org");
    assert_string_equal(s->steps[0].zone, "broken.org");
    assert_int_equal(s->steps[0].nauth, 5);
    serves_one(at(s, 0, "127.0.0.1"), want);
    serves_one(at(s, 0, "127.0.0.2"), want);
    a = at(s, 0, "127.0.0.3");
    assert_int_equal(a->status, KW_ETIMEDOUT);
    assert_int_equal(a->rcode, -1);
    a = at(s, 0, "127.0.0.4");
    assert_int_equal(a->status, KW_EPARSE);
    contains(a->error, "not a valid DNS message");
    /* One per_server_ms for the dead server, not the whole budget. */
    assert_true(s->ms < g_opts.per_server_ms + 1500);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_INCOMPLETE);
    snprintf(exp, sizeof(exp), "127.0.0.3:%d: no answer within",
             g_primary.port);
    contains(words, exp);
    snprintf(exp, sizeof(exp), "127.0.0.4:%d: the answer", g_primary.port);
    contains(words, exp);
    contains(words, "not a valid DNS message");
    fprintf(stderr, "# %d ms: %s\n", s->ms, words);
    kw_dns_survey_free(s);
}

static void cache_counts(kw_dns_zone_cache *c, long hits, long stored)
{
    long h, st;

    kw_dns_zone_cache_stats(c, &h, &st);
    if (h != hits || st != stored)
        fail_msg("zone cache: %ld hits and %ld stored, expected %ld and %ld",
                 h, st, hits, stored);
}

/* Surveys sharing a cache find each zone once: a sibling selector and a
 * CNAME's target take it from there, with the same answers. */
static void zone_cache(void **state)
{
    kw_dns_zone_cache *c = kw_dns_zone_cache_new(0);
    char want[600], words[2048];
    kw_dns_survey *s;

    (void)state;
    assert_non_null(c);
    g_opts.cache = c;
    s = survey("s1._domainkey.example.net");
    cache_counts(c, 0, 1);
    kw_dns_survey_free(s);

    s = survey("absent._domainkey.example.net");
    cache_counts(c, 1, 1);
    assert_string_equal(s->steps[0].zone, "example.net");
    assert_int_equal(s->steps[0].status, 0);
    assert_int_equal(s->steps[0].nauth, 3);
    assert_true(at(s, 0, "127.0.0.2")->nxdomain);
    assert_true(at(s, 0, "::1")->nxdomain);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_AGREE);
    kw_dns_survey_free(s);

    /* The first step from the cache, the CNAME's target looked up, then
     * both from the cache. */
    dkim_value(want, sizeof(want), g_key2);
    s = survey("ms._domainkey.example.net");
    cache_counts(c, 2, 2);
    kw_dns_survey_free(s);
    s = survey("ms._domainkey.example.net");
    cache_counts(c, 4, 2);
    assert_int_equal(s->nsteps, 2);
    assert_string_equal(s->steps[1].zone, "provider.org");
    assert_int_equal(s->steps[1].nauth, 3);
    serves_one(at(s, 1, "127.0.0.2"), want);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_AGREE);
    kw_dns_survey_free(s);

    /* A zone's apex says nothing about its parent's zone: not kept. */
    s = survey("example.net");
    assert_string_equal(s->steps[0].zone, "example.net");
    cache_counts(c, 4, 2);
    kw_dns_survey_free(s);
    g_opts.cache = NULL;
    kw_dns_zone_cache_free(c);
}

/* Entries older than the cache's age are looked up again; a server of a
 * cached zone answering without authority drops the entry. */
static void zone_cache_age_and_lame(void **state)
{
    kw_dns_zone_cache *c = kw_dns_zone_cache_new(1);
    char words[2048];
    kw_dns_survey *s;

    (void)state;
    assert_non_null(c);
    g_opts.cache = c;
    s = survey("s1._domainkey.example.net");
    kw_dns_survey_free(s);
    poll(NULL, 0, 20);
    s = survey("absent._domainkey.example.net");
    cache_counts(c, 0, 2);
    assert_int_equal(s->steps[0].nauth, 3);
    kw_dns_survey_free(s);
    kw_dns_zone_cache_free(c);

    c = kw_dns_zone_cache_new(0);
    assert_non_null(c);
    g_opts.cache = c;
    s = survey("s1._domainkey.lame.org");
    cache_counts(c, 0, 1);
    assert_int_equal(s->steps[0].nauth, 4);
    assert_int_equal(at(s, 0, "127.0.0.5")->status, 0);
    assert_false(at(s, 0, "127.0.0.5")->aa);
    kw_dns_survey_free(s);
    /* Taken from the cache, answered without authority by 127.0.0.5:
     * looked up again (and stored again: the servers are what DNS
     * says), the lame server still named. */
    s = survey("s2._domainkey.lame.org");
    cache_counts(c, 1, 2);
    assert_string_equal(s->steps[0].zone, "lame.org");
    assert_int_equal(s->steps[0].nauth, 4);
    assert_false(at(s, 0, "127.0.0.5")->aa);
    assert_true(at(s, 0, "127.0.0.1")->aa);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_INCOMPLETE);
    contains(words, "without authority");
    kw_dns_survey_free(s);
    g_opts.cache = NULL;
    kw_dns_zone_cache_free(c);
}

/* unbound in front of Knot, as receivers see the zones: it follows the
 * CNAME into the other zone itself, and fetches the big RRset over TCP. */
static void through_a_resolver(void **state)
{
    char want1[600], want2[600], words[2048];
    kw_dns_server saved = g_resolver;
    kw_dns_survey *s;
    knot ub;

    (void)state;
    dkim_value(want1, sizeof(want1), g_key1);
    dkim_value(want2, sizeof(want2), g_key2);
    assert_int_equal(kn_resolver_start(g_dir, "unbound", &g_primary, &ub),
                     0);
    snprintf(g_resolver.addr, sizeof(g_resolver.addr), "%s", ub.addr);
    g_resolver.port = ub.port;

    s = survey("s1._domainkey.example.net");
    serves_one(&s->resolver, want1);
    assert_false(s->resolver.aa);
    assert_int_equal(s->steps[0].nauth, 3);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_AGREE);
    kw_dns_survey_free(s);

    s = survey("ms._domainkey.example.net");
    assert_string_equal(s->resolver.cname, "ms._domainkey.provider.org");
    serves_one(&s->resolver, want2);
    assert_int_equal(s->nsteps, 2);
    assert_string_equal(s->steps[1].zone, "provider.org");
    serves_one(at(s, 1, "::1"), want2);
    kw_dns_survey_free(s);

    s = survey("big._domainkey.example.net");
    assert_int_equal(s->resolver.status, 0);
    assert_int_equal(s->resolver.ntxt, BIG_N);
    kw_dns_survey_free(s);

    s = survey("absent._domainkey.example.net");
    assert_true(s->resolver.nxdomain);
    kw_dns_survey_free(s);

    g_resolver = saved;
    kn_stop(&ub);
}

static void lagging_secondary(void **state)
{
    char want1[600], want2[600], words[4096], upd[2048], exp[128];
    uint32_t before, after, sec;
    kw_dns_survey *s;

    (void)state;
    dkim_value(want1, sizeof(want1), g_key1);
    dkim_value(want2, sizeof(want2), g_key2);
    assert_int_equal(kn_soa_serial(g_primary.addr, g_primary.port,
                                   "example.net", 2000, &before), 0);
    assert_int_equal(kn_knotc(&g_secondary, "zone-freeze", "example.net"),
                     0);
    snprintf(upd, sizeof(upd),
             "update delete s1._domainkey.example.net. TXT\n"
             "update add s1._domainkey.example.net. 60 TXT "
             "\"v=DKIM1; k=rsa; \" \"p=%.200s\" \"%s\"\n",
             g_key2, g_key2 + 200);
    assert_int_equal(kn_update(&g_primary, "example.net", upd), 0);
    assert_int_equal(kn_wait_serial(g_primary.addr, g_primary.port,
                                    "example.net", before + 1, 5000), 0);
    assert_int_equal(kn_soa_serial(g_primary.addr, g_primary.port,
                                   "example.net", 2000, &after), 0);
    assert_int_equal(kn_soa_serial("127.0.0.2", g_primary.port,
                                   "example.net", 2000, &sec), 0);
    assert_int_equal(sec, before);

    s = survey("s1._domainkey.example.net");
    serves_one(at(s, 0, "127.0.0.1"), want2);
    serves_one(at(s, 0, "127.0.0.2"), want1);
    assert_int_equal(at(s, 0, "127.0.0.2")->serial, before);
    assert_int_equal(at(s, 0, "127.0.0.1")->serial, after);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_DISAGREE);
    fprintf(stderr, "# %s\n", words);
    snprintf(exp, sizeof(exp), "127.0.0.2:%d (serial %u)",
             g_primary.port, (unsigned)before);
    contains(words, exp);
    snprintf(exp, sizeof(exp), "[::1]:%d (serial %u)", g_primary.port,
             (unsigned)before);
    contains(words, exp);
    snprintf(exp, sizeof(exp), "127.0.0.1:%d (serial %u) serves TXT",
             g_primary.port, (unsigned)after);
    contains(words, exp);
    contains(words, "key1IDAQAB");
    contains(words, "key2IDAQAB");
    kw_dns_survey_free(s);
    /* The freeze is what holds it back: a second later it still lags
     * (unfrozen, NOTIFY brings the change in milliseconds). */
    assert_int_equal(kn_wait_serial("127.0.0.2", g_primary.port,
                                    "example.net", after, 1000), -1);

    /* Thawed, the secondary catches up and they agree again. */
    assert_int_equal(kn_knotc(&g_secondary, "zone-thaw", "example.net"), 0);
    assert_int_equal(kn_knotc(&g_secondary, "zone-refresh", "example.net"),
                     0);
    assert_int_equal(kn_wait_serial("127.0.0.2", g_primary.port,
                                    "example.net", after, 10000), 0);
    s = survey("s1._domainkey.example.net");
    serves_one(at(s, 0, "127.0.0.2"), want2);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_AGREE);
    kw_dns_survey_free(s);
}

static void stopped_secondary(void **state)
{
    char words[4096];
    kw_dns_survey *s;

    (void)state;
    kn_stop(&g_secondary);
    s = survey("s1._domainkey.example.net");
    assert_int_equal(at(s, 0, "127.0.0.1")->status, 0);
    assert_int_equal(at(s, 0, "127.0.0.2")->status, -ECONNREFUSED);
    assert_int_equal(at(s, 0, "::1")->status, -ECONNREFUSED);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_INCOMPLETE);
    contains(words, "nothing listens");
    kw_dns_survey_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agreeing),
        cmocka_unit_test(nxdomain_and_nodata),
        cmocka_unit_test(cname_into_another_zone),
        cmocka_unit_test(big_rrset_over_tcp),
        cmocka_unit_test(dead_and_garbage_servers),
        cmocka_unit_test(zone_cache),
        cmocka_unit_test(zone_cache_age_and_lame),
        cmocka_unit_test(through_a_resolver),
        cmocka_unit_test(lagging_secondary),
        cmocka_unit_test(stopped_secondary),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
