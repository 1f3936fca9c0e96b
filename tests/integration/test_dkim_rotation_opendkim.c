/*
 * test_dkim_rotation_opendkim.c: whole DKIM rotations driven through the
 * CLI (`keywarden dkim rotate`, `hooks run`, the clock pinned by
 * KEYWARDEN_NOW) against a Knot primary (127.0.0.1) and secondary
 * (127.0.0.2, TSIG transfers) and two real OpenDKIM milters: one signing
 * RSA (the default SignatureAlgorithm), one with SignatureAlgorithm
 * ed25519-sha256 (Debian 12's OpenDKIM signs Ed25519 only so, and then
 * only Ed25519: docs/guide.md).  After every step a message is signed
 * through the milter (miltertest) and verified with dkimpy against the
 * record fetched from both Knot servers, which must serve the same one:
 * no signed message ever fails against what DNS serves.
 *
 *   - rsa_cycle: two rotations; before the switch the old selector signs,
 *     after ACTIVE and the hooks' built-in OpenDKIM reload the new one;
 *     a message signed before the switch still verifies during drain;
 *     after REMOVED the old record is gone from both servers and the old
 *     key archived;
 *   - kill9_matrix (Ed25519): kill -9 after the key write, after the
 *     UPDATE, mid-switch of the tables, after the switch, after the
 *     reload was seen, after the removal was sent; each rerun resumes,
 *     no second key, no second record, OpenDKIM reloaded at the kill
 *     still signs with a served key;
 *   - failures, each leaving the old key signing and saying why in
 *     `dkim status`: the reload hook exiting 1; the tables made
 *     unparsable or refused by `opendkim -n` at the switch; dns_exec
 *     exiting 1 (then fixed: resumes with the same key);
 *   - an Ed25519 key refused at the switch into the RSA OpenDKIM, and
 *     why: OpenDKIM's one SignatureAlgorithm (an Ed25519 row tempfails
 *     under rsa-sha256, an RSA row's signature under ed25519-sha256 does
 *     not verify);
 *   - rspamd: maps that `rspamadm configtest` accepts, and a broken
 *     rspamd configuration refusing the switch with the maps put back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <glob.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkimsign.h"
#include "knot.h"
#include "kwrun.h"
#include "opendkim.h"
#include "proc.h"
#include "tmpdir.h"

#define T0 "2027-01-15T08:00:00Z"
/* T0 + max(negative TTL 60, TTL 60) + the 1 h margin: propagated. */
#define T1 "2027-01-15T09:01:00Z"
/* 90 days after T0 (+1 h): the next rotation, and its propagation. */
#define T2 "2027-04-15T09:01:00Z"
#define T3 "2027-04-15T10:02:00Z"
#define T3R "2027-04-15T10:03:00Z"
/* T3R + drain (7 days): the old record goes. */
#define T4 "2027-04-22T10:03:00Z"

#define PATHLEN 600

static char dir[256];
static knot g_primary, g_secondary;

/* One private OpenDKIM. */
typedef odk_signer signer;

static signer g_rsa, g_ed;
static int g_skip;

/* ---- small helpers ------------------------------------------------------ */

static void keep(char *buf, const char *rel)
{
    snprintf(buf, PATHLEN, "%s", kw_path(dir, rel));
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static char *get(const char *path)
{
    char *t = slurp(path, NULL);

    if (t == NULL)
        fail_msg("cannot read %s", path);
    return t;
}

/* How many keys (*.key) are in d, archive/ not counted. */
static int count_keys(const char *d)
{
    char pattern[PATHLEN + 10];
    glob_t g;
    int n;

    snprintf(pattern, sizeof(pattern), "%s/*.key", d);
    if (glob(pattern, 0, NULL, &g) != 0)
        return 0;
    n = (int)g.gl_pathc;
    globfree(&g);
    return n;
}

/* The TXT records addr serves at name (kwrun.h's kw_txt_served). */
static int served(const char *addr, const char *name, char *out, size_t cap)
{
    return kw_txt_served(addr, g_primary.port, name, out, cap);
}

/* The primary and the secondary, for dkimsign.h. */
static const ds_dns g_dns = {&g_primary, &g_secondary};

/* How many records each server serves at SEL._domainkey.DOMAIN (both
 * must agree). */
static int records_at(const char *sel, const char *domain)
{
    return ds_records(&g_dns, sel, domain);
}

static int verifies(const char *msg, const char *sel, const char *domain,
                    char *why, size_t cap)
{
    return ds_verifies(&g_dns, msg, sel, domain, why, cap);
}

/* A message from domain signed through g's milter with sel, in the
 * signer's one algorithm (as SignatureAlgorithm says), verified against
 * what both Knot servers serve (dkimsign.h).  Returns it, malloc'd. */
static char *signed_ok(signer *g, const char *domain, const char *sel)
{
    return ds_signed_ok(&g_dns, g->base, g->port, domain, sel,
                        g == &g_ed ? "ed25519-sha256" : "rsa-sha256");
}

static void sign_check(signer *g, const char *domain, const char *sel)
{
    free(signed_ok(g, domain, sel));
}

/* g's KeyTable and SigningTable hold kt and st, byte for byte. */
static void tables_are(signer *g, const char *kt, const char *st)
{
    char *k = get(g->P.keytable), *t = get(g->P.signingtable);

    assert_string_equal(k, kt);
    assert_string_equal(t, st);
    free(k);
    free(t);
}

/* A KeyTable and SigningTable row for domain, appended by hand as an
 * operator would, and OpenDKIM reloaded until it signs with them. */
static void odk_add(signer *g, const char *domain, const char *sel,
                    const char *key)
{
    char *kt = get(g->P.keytable), *st = get(g->P.signingtable);
    char text[8192];

    snprintf(text, sizeof(text), "%s%s._domainkey.%s %s:%s:%s\n", kt, sel,
             domain, domain, sel, key);
    put(g->P.keytable, text);
    snprintf(text, sizeof(text), "%s*@%s %s._domainkey.%s\n", st, domain,
             sel, domain);
    put(g->P.signingtable, text);
    free(kt);
    free(st);
    assert_int_equal(kill(g->pid, SIGUSR1), 0);
}

/* A key s0 for domain made by hand (not by keywarden), Ed25519 or RSA,
 * its record published with knsupdate and served by both servers, its
 * rows added to g's tables and g reloaded. */
static void add_sel(signer *g, const char *domain, const char *sel, int ed)
{
    char key[PATHLEN + 400], txt[2048], lines[2600], *p, *q;
    size_t n = 0;

    snprintf(key, sizeof(key), "%s/%s.%s.private", g->base, sel, domain);
    if (ed)
        assert_int_equal(dkim_make_ed25519_key(key, txt, sizeof(txt)), 0);
    else
        assert_int_equal(dkim_make_key(key, txt, sizeof(txt)), 0);
    /* TXT strings are at most 255 octets: a 2048-bit key's record is
     * cut into several, as in a zone file. */
    n = (size_t)snprintf(lines, sizeof(lines),
                         "update add %s._domainkey.%s 60 TXT", sel, domain);
    for (p = txt; *p != '\0'; p = q) {
        q = p + strlen(p) > p + 250 ? p + 250 : p + strlen(p);
        n += (size_t)snprintf(lines + n, sizeof(lines) - n, " \"%.*s\"",
                              (int)(q - p), p);
    }
    snprintf(lines + n, sizeof(lines) - n, "\n");
    assert_int_equal(kn_update(&g_primary, NULL, lines), 0);
    odk_add(g, domain, sel, key);
    {
        /* Until the secondary has it too. */
        char name[300], t[4096];
        int i;

        snprintf(name, sizeof(name), "%s._domainkey.%s", sel, domain);
        for (i = 0; i < 250 && served("127.0.0.2", name, t, sizeof(t)) != 1;
             i++)
            usleep(20000); /* polled: at most 5 s */
    }
}

static void add_s0(signer *g, const char *domain, int ed)
{
    add_sel(g, domain, "s0", ed);
}

/* The same, the key of g's kind: it signs domain's mail from now on. */
static void bootstrap(signer *g, const char *domain)
{
    add_s0(g, domain, g == &g_ed);
    sign_check(g, domain, "s0");
}

static int start_signer(signer *g, const char *name, const char *extra)
{
    char txt[2048];
    const char *skip = NULL;

    /* A key for a domain no test sends mail from, of the signer's kind:
     * opendkim_start wants one row. */
    if (odk_signer_start(g, dir, name, kn_free_port("127.0.0.1"),
                         "unused.example.net", "u1", extra != NULL, extra,
                         txt, sizeof(txt), &skip) == 0) {
        fprintf(stderr, "skipped: %s\n", skip);
        g_skip = 1;
        return 0;
    }
    return g->pid > 0 ? 0 : -1;
}

static int setup(void **st)
{
    (void)st;
    tmpdir_make(dir, sizeof(dir), "dkimrotodk");
    if (kn_pair_start(dir, &g_primary, &g_secondary) != 0)
        return -1;
    if (start_signer(&g_rsa, "odk-rsa", NULL) != 0 ||
        start_signer(&g_ed, "odk-ed",
                     "SignatureAlgorithm ed25519-sha256\n") != 0)
        return -1;
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    opendkim_stop(g_rsa.pid);
    opendkim_stop(g_ed.pid);
    kn_stop(&g_secondary);
    kn_stop(&g_primary);
    if (getenv("KW_KEEP_TMP") == NULL)
        tmpdir_remove(dir);
    return 0;
}

#define NEED_ODK()                                                           \
    do {                                                                     \
        if (g_skip)                                                          \
            skip();                                                          \
    } while (0)

/* ---- a case's configuration ------------------------------------------- */

typedef struct kase {
    char state[PATHLEN], conf[PATHLEN], keys[PATHLEN];
    const char *domain;
    const char *key_type; /* NULL: the signer's kind */
    signer *g;
    /* The selectors of the rotations at T0 and T2: the template is the
     * domain's first letter and %Y%m. */
    char a[32], b[32];
} kase;

/* [dkim] and [dkim "DOMAIN"] for g's OpenDKIM, publishing by UPDATE
 * (publish NULL) or the given lines, and the hooks (hooks NULL: the
 * built-in OpenDKIM reload). */
static void write_case(kase *k, const char *hooks, const char *publish)
{
    char text[8192], hk[1400], pub[1400], res[100];

    if (hooks == NULL) {
        snprintf(hk, sizeof(hk),
                 "[hook \"reload\"]\non = dkim.activated\n"
                 "reload = opendkim\nconfig = %s\n",
                 k->g->P.conf);
        hooks = hk;
    }
    if (publish == NULL) {
        snprintf(pub, sizeof(pub),
                 "dns_server = 127.0.0.1:%d\ntsig_key = %s\n"
                 "tsig_algorithm = %s\ntsig_secret = %s\n",
                 g_primary.port, g_primary.key_name, g_primary.key_alg,
                 g_primary.key_secret);
        publish = pub;
        res[0] = '\0';
    } else {
        /* No dns_server to ask for the zone's NS set and SOA: the
         * primary answers as the resolver would. */
        snprintf(res, sizeof(res), "resolver = 127.0.0.1:%d\n",
                 g_primary.port);
    }
    snprintf(text, sizeof(text),
             "[dkim]\ndns_port = %d\nopendkim_conf = %s\n%s"
             "[dkim \"%s\"]\nrotate = 90d\nselector = %c%%Y%%m\n"
             "key_dir = %s\nkey_type = %s\nttl = 60\n"
             "dns_zone = example.com\n%s"
             "signer = opendkim\n%s",
             g_primary.port, k->g->P.conf, res, k->domain, k->domain[0],
             k->keys,
             k->key_type != NULL   ? k->key_type
             : k->g == &g_ed ? "ed25519"
                             : "rsa2048",
             publish, hooks);
    put(k->conf, text);
}

/* A case for domain signed by g: its state, configuration and key
 * directory, and the hand-made s0 signing until the first switch. */
/* k's paths for domain signed by g (state, configuration, keys). */
static void case_paths(kase *k, const char *domain, signer *g)
{
    char rel[100];

    memset(k, 0, sizeof(*k));
    k->domain = domain;
    k->g = g;
    snprintf(rel, sizeof(rel), "s-%s", domain);
    keep(k->state, rel);
    snprintf(rel, sizeof(rel), "%s.conf", domain);
    keep(k->conf, rel);
    snprintf(rel, sizeof(rel), "keys-%s", domain);
    keep(k->keys, rel);
}

static void new_case(kase *k, const char *domain, signer *g)
{
    case_paths(k, domain, g);
    snprintf(k->a, sizeof(k->a), "%c202701", domain[0]);
    snprintf(k->b, sizeof(k->b), "%c202704", domain[0]);
    write_case(k, NULL, NULL);
    bootstrap(g, domain);
}

/* `dkim rotate DOMAIN` at clock now, exiting want; its output checked
 * to contain each of the NULL-terminated strings. */
static void rotate_at(kase *k, const char *now, int want, ...)
{
    const char *args[] = {"dkim", "rotate", k->domain, NULL};
    const char *s;
    va_list ap;
    kwres r;

    setenv("KEYWARDEN_NOW", now, 1);
    r = kw_expect(want, k->state, k->conf, args);
    va_start(ap, want);
    while ((s = va_arg(ap, const char *)) != NULL)
        assert_contains(r.out, s);
    va_end(ap);
    kwres_free(&r);
}

/* The same run killed at point by the test seam. */
static void rotate_killed(kase *k, const char *now, const char *point)
{
    kwres r;

    setenv("KEYWARDEN_NOW", now, 1);
    setenv("KEYWARDEN_TEST_DIE_AT", point, 1);
    r = kw(k->state, k->conf, "dkim", "rotate", k->domain);
    unsetenv("KEYWARDEN_TEST_DIE_AT");
    if (r.status != 128 + SIGKILL)
        fail_msg("not killed at %s: status %d\n%s%s", point, r.status, r.out,
                 r.err);
    kwres_free(&r);
}

static void hooks_run(kase *k, const char *now, const char *want)
{
    kwres r;

    setenv("KEYWARDEN_NOW", now, 1);
    r = kw_ok(k->state, k->conf, "hooks", "run");
    if (want != NULL)
        assert_contains(r.out, want);
    kwres_free(&r);
}

static void status_has(kase *k, const char *a, const char *b)
{
    kwres r = kw_ok(k->state, k->conf, "dkim", "status", k->domain);

    assert_contains(r.out, a);
    if (b != NULL)
        assert_contains(r.out, b);
    kwres_free(&r);
}

/* ---- the whole rotation, RSA ------------------------------------------- */

static void rsa_cycle(void **st)
{
    char since[80], archived[PATHLEN + 400], *before, why[2048];
    uint32_t s1, s2;
    kase k;

    (void)st;
    NEED_ODK();
    new_case(&k, "m.example.com", &g_rsa);
    /* The first rotation replaces the hand-made s0. */
    rotate_at(&k, T0, 0, "visible since", NULL);
    sign_check(&g_rsa, k.domain, "s0");
    rotate_at(&k, T1, 0, "active since " T1, NULL);
    /* The tables name the new key; OpenDKIM reads them on the reload. */
    sign_check(&g_rsa, k.domain, "s0");
    hooks_run(&k, T1, "hook reload: ok");
    sign_check(&g_rsa, k.domain, k.a);
    /* 90 days on: b replaces a, a signing until the switch. */
    rotate_at(&k, T2, 0, "visible since", "(replaces ", NULL);
    assert_int_equal(records_at(k.b, k.domain), 1);
    before = signed_ok(&g_rsa, k.domain, k.a);
    rotate_at(&k, T3, 0, "active since " T3, NULL);
    status_has(&k, "the signer's reload", NULL);
    sign_check(&g_rsa, k.domain, k.a);
    hooks_run(&k, T3, "hook reload: ok");
    sign_check(&g_rsa, k.domain, k.b);
    rotate_at(&k, T3R, 0, "retired since " T3R,
              "drain: the old record stays until " T4, NULL);
    /* During drain: the message signed with a before the switch still
     * verifies against what both servers serve for a. */
    assert_int_equal(verifies(before, k.a, k.domain, why, sizeof(why)), 1);
    sign_check(&g_rsa, k.domain, k.b);
    /* One second early, nothing goes. */
    assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                   "example.com", 2000, &s1), 0);
    rotate_at(&k, "2027-04-22T10:02:59Z", 0, "retired since", NULL);
    assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                   "example.com", 2000, &s2), 0);
    assert_int_equal(s1, s2);
    snprintf(since, sizeof(since), "removed since %s", T4);
    rotate_at(&k, T4, 0, since, NULL);
    assert_int_equal(records_at(k.a, k.domain), 0);
    assert_int_equal(records_at(k.b, k.domain), 1);
    sign_check(&g_rsa, k.domain, k.b);
    snprintf(archived, sizeof(archived), "%s/archive/%s.%s.key", k.keys,
             k.domain, k.a);
    assert_int_equal(access(archived, F_OK), 0);
    assert_int_equal(count_keys(k.keys), 1);
    free(before);
    unsetenv("KEYWARDEN_NOW");
}

/* ---- kill -9 at every step, Ed25519 ------------------------------------ */

/* After a kill: OpenDKIM reloaded (as if it restarted at that moment)
 * signs with a key whose record both servers serve. */
static void reload_still_signs(kase *k, const char *sel)
{
    assert_int_equal(kill(k->g->pid, SIGUSR1), 0);
    sign_check(k->g, k->domain, sel);
}

static void kill9_matrix(void **st)
{
    char txt[4096], name[300];
    uint32_t s1, s2;
    kase k;

    (void)st;
    NEED_ODK();
    new_case(&k, "k.example.com", &g_ed);
    snprintf(name, sizeof(name), "%s._domainkey.%s", k.a, k.domain);

    rotate_killed(&k, T0, "key-written");
    assert_int_equal(count_keys(k.keys), 1);
    assert_int_equal(served("127.0.0.1", name, txt, sizeof(txt)), 0);
    reload_still_signs(&k, "s0");
    rotate_killed(&k, T0, "update-sent");
    assert_int_equal(count_keys(k.keys), 1);
    assert_int_equal(served("127.0.0.1", name, txt, sizeof(txt)), 1);
    assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                   "example.com", 2000, &s1), 0);
    reload_still_signs(&k, "s0");
    rotate_at(&k, T0, 0, "visible since", NULL);
    /* The resumed add changed nothing: published once. */
    assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                   "example.com", 2000, &s2), 0);
    assert_int_equal(s1, s2);
    assert_int_equal(records_at(k.a, k.domain), 1);
    assert_int_equal(count_keys(k.keys), 1);
    sign_check(k.g, k.domain, "s0");

    /* Between the KeyTable (both keys) and the SigningTable (still s0). */
    rotate_killed(&k, T1, "signer-mid-switch");
    {
        char *kt = get(k.g->P.keytable), *sg = get(k.g->P.signingtable);

        assert_contains(kt, "s0._domainkey.k.example.com");
        assert_contains(kt, name);
        assert_contains(sg, "s0._domainkey.k.example.com");
        assert_not_contains(sg, name);
        free(kt);
        free(sg);
    }
    reload_still_signs(&k, "s0");
    status_has(&k, "propagated since", NULL);
    /* After the switch, before ACTIVE: a restarted OpenDKIM signs with
     * the new key, which is propagated. */
    rotate_killed(&k, T1, "signer-switched");
    reload_still_signs(&k, k.a);
    status_has(&k, "propagated since", NULL);
    rotate_at(&k, T1, 0, "active since " T1, NULL);
    hooks_run(&k, T1, "hook reload: ok");
    sign_check(k.g, k.domain, k.a);
    assert_int_equal(count_keys(k.keys), 1);

    /* The next rotation, killed once the reload was seen. */
    rotate_at(&k, T2, 0, "visible since", NULL);
    rotate_at(&k, T3, 0, "active since " T3, NULL);
    hooks_run(&k, T3, "hook reload: ok");
    sign_check(k.g, k.domain, k.b);
    rotate_killed(&k, T3R, "reload-seen");
    status_has(&k, "active since " T3, NULL);
    reload_still_signs(&k, k.b);
    rotate_at(&k, T3R, 0, "retired since " T3R, NULL);
    assert_int_equal(records_at(k.a, k.domain), 1);
    assert_int_equal(records_at(k.b, k.domain), 1);
    assert_int_equal(count_keys(k.keys), 2);
    sign_check(k.g, k.domain, k.b);

    /* Killed right after the removal went out. */
    rotate_killed(&k, T4, "removal-sent");
    assert_int_equal(served("127.0.0.1", name, txt, sizeof(txt)), 0);
    status_has(&k, "removing since", NULL);
    reload_still_signs(&k, k.b);
    assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                   "example.com", 2000, &s1), 0);
    rotate_at(&k, T4, 0, "removed since " T4, NULL);
    /* The repeated delete of an absent record changed nothing. */
    assert_int_equal(kn_soa_serial("127.0.0.1", g_primary.port,
                                   "example.com", 2000, &s2), 0);
    assert_int_equal(s1, s2);
    assert_int_equal(records_at(k.a, k.domain), 0);
    assert_int_equal(records_at(k.b, k.domain), 1);
    assert_int_equal(count_keys(k.keys), 1);
    sign_check(k.g, k.domain, k.b);
    unsetenv("KEYWARDEN_NOW");
}

/* ---- failure paths ------------------------------------------------------ */

/* The reload hook exits 1: the rotation stops at ACTIVE with the old
 * record in place; the old key keeps signing; fixed, it goes on. */
static void reload_hook_fails(void **st)
{
    char hooks[1400];
    kase k;
    kwres r;

    (void)st;
    NEED_ODK();
    new_case(&k, "h.example.com", &g_rsa);
    rotate_at(&k, T0, 0, "visible since", NULL);
    rotate_at(&k, T1, 0, "active since", NULL);
    hooks_run(&k, T1, "hook reload: ok");
    sign_check(&g_rsa, k.domain, k.a);
    rotate_at(&k, T2, 0, "visible since", NULL);
    /* The same hook name, now a command that fails, retried never. */
    write_case(&k, "[hook \"reload\"]\non = dkim.activated\n"
                   "run = /bin/false\nretry = 0\n",
               NULL);
    rotate_at(&k, T3, 0, "active since", NULL);
    setenv("KEYWARDEN_NOW", T3, 1);
    r = kw(k.state, k.conf, "hooks", "run");
    assert_int_not_equal(r.status, 0);
    kwres_free(&r);
    rotate_at(&k, T3R, 1, "active since " T3,
              "stopped (", "): the signer's reload: hook reload failed",
              NULL);
    status_has(&k, "): the signer's reload: hook reload failed", "exit");
    /* OpenDKIM was never reloaded: a still signs, its record served. */
    sign_check(&g_rsa, k.domain, k.a);
    assert_int_equal(records_at(k.a, k.domain), 1);
    /* Later runs do not go past it either. */
    rotate_at(&k, T4, 1, "active since " T3, NULL);
    assert_int_equal(records_at(k.a, k.domain), 1);
    sign_check(&g_rsa, k.domain, k.a);
    /* Fixed and retried: the reload runs, the rotation goes on. */
    snprintf(hooks, sizeof(hooks),
             "[hook \"reload\"]\non = dkim.activated\nreload = opendkim\n"
             "config = %s\n",
             g_rsa.P.conf);
    write_case(&k, hooks, NULL);
    {
        kwres rr = kw_ok(k.state, k.conf, "hooks", "retry", "reload");

        kwres_free(&rr);
    }
    hooks_run(&k, T4, "hook reload: ok");
    sign_check(&g_rsa, k.domain, k.b);
    rotate_at(&k, T4, 0, "retired since " T4, NULL);
    assert_int_equal(records_at(k.a, k.domain), 1);
    unsetenv("KEYWARDEN_NOW");
}

/* The signer's tables broken by hand at the switch: refused, the files
 * put back, s0 signing; fixed, the switch goes through. */
static void broken_tables(void **st)
{
    char *kt0, *st0, text[8192], where[1200];
    kase k;

    (void)st;
    NEED_ODK();
    new_case(&k, "n.example.com", &g_rsa);
    rotate_at(&k, T0, 0, "visible since", NULL);
    kt0 = get(g_rsa.P.keytable);
    st0 = get(g_rsa.P.signingtable);

    /* A KeyTable row that is no DOMAIN:SELECTOR:KEYFILE (OpenDKIM's own
     * -n does not look). */
    snprintf(text, sizeof(text), "%sbad._domainkey.x.test no-colons-here\n",
             kt0);
    put(g_rsa.P.keytable, text);
    rotate_at(&k, T1, 1, "propagated since " T1,
              "stopped (", "): switching the signer", NULL);
    snprintf(where, sizeof(where), "%s:", g_rsa.P.keytable);
    status_has(&k, where, "expected DOMAIN:SELECTOR:KEYFILE");
    tables_are(&g_rsa, text, st0);
    sign_check(&g_rsa, k.domain, "s0");
    put(g_rsa.P.keytable, kt0);

    /* A SigningTable pattern that is no regular expression: `opendkim
     * -n` refuses it after the write, and the previous files are back. */
    snprintf(text, sizeof(text), "%s*@[broken.test bad._domainkey.x.test\n",
             st0);
    put(g_rsa.P.signingtable, text);
    rotate_at(&k, T1, 1, "stopped (", "): switching the signer", NULL);
    status_has(&k, "regular expression", "the previous files are back");
    tables_are(&g_rsa, kt0, text);
    sign_check(&g_rsa, k.domain, "s0");
    put(g_rsa.P.signingtable, st0);
    free(kt0);
    free(st0);
    rotate_at(&k, T1, 0, "active since " T1, NULL);
    hooks_run(&k, T1, "hook reload: ok");
    sign_check(&g_rsa, k.domain, k.a);
    unsetenv("KEYWARDEN_NOW");
}

/* Publication through dns_exec, which fails first: nothing published,
 * s0 signing, the reason in status; fixed: the same key, resumed. */
static void dns_exec_fails(void **st)
{
    char script[4096], pub[1400], flag[PATHLEN], prog[PATHLEN];
    kase k;

    (void)st;
    NEED_ODK();
    new_case(&k, "x.example.com", &g_ed);
    keep(flag, "dns-exec.fail");
    keep(prog, "dns-exec.sh");
    put(flag, "");
    /* An Ed25519 record fits one TXT string: no splitting needed. */
    snprintf(script, sizeof(script),
             "#!/bin/sh\n"
             "if [ -e %s ]; then echo \"test: refused $1 $2\" >&2; exit 1; "
             "fi\n"
             "case \"$1\" in add) v=add ;; remove) v=delete ;; *) exit 2 ;; "
             "esac\n"
             "printf 'server 127.0.0.1 %d\\nzone example.com.\\n"
             "update %%s %%s 60 TXT \"%%s\"\\nsend\\n' \"$v\" \"$2\" \"$3\" |"
             " /usr/bin/knsupdate -y %s:%s:%s\n",
             flag, g_primary.port, g_primary.key_alg, g_primary.key_name,
             g_primary.key_secret);
    put(prog, script);
    assert_int_equal(chmod(prog, 0755), 0);
    snprintf(pub, sizeof(pub), "dns_exec = %s\n", prog);
    write_case(&k, NULL, pub);
    rotate_at(&k, T0, 1, "publishing since " T0,
              "stopped (", "): publishing", NULL);
    status_has(&k, "exited with status 1", prog);
    assert_int_equal(records_at(k.a, k.domain), 0);
    sign_check(&g_ed, k.domain, "s0");
    assert_int_equal(count_keys(k.keys), 1);
    assert_int_equal(unlink(flag), 0);
    rotate_at(&k, T0, 0, "visible since", NULL);
    assert_int_equal(records_at(k.a, k.domain), 1);
    assert_int_equal(count_keys(k.keys), 1);
    rotate_at(&k, T1, 0, "active since " T1, NULL);
    hooks_run(&k, T1, "hook reload: ok");
    sign_check(&g_ed, k.domain, k.a);
    unsetenv("KEYWARDEN_NOW");
}

/* An Ed25519 key switched into the RSA OpenDKIM would make it tempfail
 * every message of the domain: refused, s0 keeps signing. */
static void ed25519_key_refused_by_rsa_signer(void **st)
{
    char *kt0, *st0;
    kase k;

    (void)st;
    NEED_ODK();
    new_case(&k, "w.example.com", &g_rsa);
    kt0 = get(g_rsa.P.keytable);
    st0 = get(g_rsa.P.signingtable);
    k.key_type = "ed25519";
    write_case(&k, NULL, NULL);
    rotate_at(&k, T0, 0, "visible since", NULL);
    rotate_at(&k, T1, 1, "stopped (", "): switching the signer", NULL);
    status_has(&k, "SignatureAlgorithm rsa-sha256", "tempfail");
    tables_are(&g_rsa, kt0, st0);
    free(kt0);
    free(st0);
    sign_check(&g_rsa, k.domain, "s0");
    unsetenv("KEYWARDEN_NOW");
}

/* ---- what Debian 12's OpenDKIM does with Ed25519 ---------------------- */

typedef struct refused {
    signer *g;
    const char *domain;
    char *why;
} refused;

/* The milter answers the end of the message with a reply code (a
 * tempfail) instead of a signature: the reload took the row. */
static int tempfails(void *ctx)
{
    refused *r = ctx;

    free(r->why);
    r->why = NULL;
    if (opendkim_sign_from(r->g->base, r->g->port, r->domain, &r->why) == 0)
        return 0;
    return r->why != NULL && strstr(r->why, "end of message: the filter "
                                            "replied 'y'") != NULL;
}

/* The evidence for docs/guide.md and the switch's check: OpenDKIM
 * 2.11.0~beta2 signs every row with its one SignatureAlgorithm.  Under
 * rsa-sha256 (the default) an Ed25519 row tempfails the message; under
 * ed25519-sha256 an RSA row gets an RSA signature labelled
 * a=ed25519-sha256, which dkimpy refuses; Ed25519 rows sign and verify
 * (the cases above). */
static void opendkim_one_algorithm(void **st)
{
    char *kt_rsa, *st_rsa, *kt_ed, *st_ed, *m, why[2048];
    refused r = {&g_rsa, "e1.example.com", NULL};
    ds_try s = {g_ed.base, g_ed.port, "r1.example.com", "s0", NULL};

    (void)st;
    NEED_ODK();
    kt_rsa = get(g_rsa.P.keytable);
    st_rsa = get(g_rsa.P.signingtable);
    kt_ed = get(g_ed.P.keytable);
    st_ed = get(g_ed.P.signingtable);
    add_s0(&g_rsa, "e1.example.com", 1);
    if (!proc_until(tempfails, &r, 15000))
        fail_msg("OpenDKIM (rsa-sha256) with an Ed25519 row: %s",
                 r.why != NULL ? r.why : "signed");
    free(r.why);
    add_s0(&g_ed, "r1.example.com", 0);
    if (!proc_until(ds_try_sign, &s, 15000))
        fail_msg("OpenDKIM (ed25519-sha256) does not sign with the RSA "
                 "row: %s", s.msg != NULL ? s.msg : "(nothing)");
    m = s.msg;
    assert_contains(m, "a=ed25519-sha256;");
    assert_int_equal(verifies(m, "s0", "r1.example.com", why, sizeof(why)),
                     0);
    free(m);
    /* The signers as they were, for whatever runs next. */
    put(g_rsa.P.keytable, kt_rsa);
    put(g_rsa.P.signingtable, st_rsa);
    put(g_ed.P.keytable, kt_ed);
    put(g_ed.P.signingtable, st_ed);
    assert_int_equal(kill(g_rsa.pid, SIGUSR1), 0);
    assert_int_equal(kill(g_ed.pid, SIGUSR1), 0);
    free(kt_rsa);
    free(st_rsa);
    free(kt_ed);
    free(st_ed);
}

/* ---- rspamd --------------------------------------------------------------- */

static void rspamd_maps(void **st)
{
    char rsp[PATHLEN], selmap[PATHLEN], pathmap[PATHLEN], local[PATHLEN];
    char text[8192], want[2048], *c;
    char *cp[] = {(char *)"/bin/cp", (char *)"-r", (char *)"/etc/rspamd",
                  rsp, NULL};
    kase k;
    pid_t pid;

    (void)st;
    if (access("/usr/bin/rspamadm", X_OK) != 0 ||
        access("/etc/rspamd/rspamd.conf", R_OK) != 0)
        skip();
    keep(rsp, "rspamd");
    keep(selmap, "rspamd-selectors.map");
    keep(pathmap, "rspamd-paths.map");
    keep(local, "rspamd/local.d/dkim_signing.conf");
    {
        char *o = NULL, *e = NULL;
        int ofd, efd;

        pid = proc_spawn_pipes(cp, &ofd, &efd);
        proc_drain(ofd, efd, &o, &e);
        free(o);
        free(e);
        assert_int_equal(proc_wait(pid, 30000), 0);
    }
    snprintf(text, sizeof(text), "selector_map = \"%s\";\npath_map = \"%s\";\n",
             selmap, pathmap);
    put(local, text);
    put(selmap, "# selectors\nother.test r1\n");
    put(pathmap, "other.test /etc/dkim/other.key\n");
    memset(&k, 0, sizeof(k));
    k.domain = "r.example.com";
    keep(k.state, "s-rspamd");
    keep(k.conf, "rspamd.conf");
    keep(k.keys, "keys-rspamd");
    snprintf(text, sizeof(text),
             "[dkim]\ndns_port = %d\nrspamd_conf = %s\n"
             "[dkim \"%s\"]\nrotate = 90d\nselector = r%%Y%%m\n"
             "key_dir = %s\nkey_type = rsa2048\nttl = 60\n"
             "dns_zone = example.com\ndns_server = 127.0.0.1:%d\n"
             "tsig_key = %s\ntsig_algorithm = %s\ntsig_secret = %s\n"
             "signer = rspamd\nselector_map = %s\npath_map = %s\n"
             /* rspamd is not running here: a command stands in for its
              * reload. */
             "[hook \"reload\"]\non = dkim.activated\nrun = /bin/true\n",
             g_primary.port, rsp, k.domain, k.keys, g_primary.port,
             g_primary.key_name, g_primary.key_alg, g_primary.key_secret,
             selmap, pathmap);
    put(k.conf, text);
    rotate_at(&k, T0, 0, "visible since", NULL);
    rotate_at(&k, T1, 0, "active since " T1, NULL);
    c = get(selmap);
    assert_string_equal(c, "# selectors\nother.test r1\n"
                           "r.example.com r202701\n");
    free(c);
    snprintf(want, sizeof(want),
             "other.test /etc/dkim/other.key\nr.example.com "
             "%s/r.example.com.r202701.key\n",
             k.keys);
    c = get(pathmap);
    assert_string_equal(c, want);
    free(c);
    /* The first rotation retires only once its reload is proven. */
    hooks_run(&k, T1, "hook reload: ok");
    /* The next switch with a configuration rspamadm rejects. */
    rotate_at(&k, T2, 0, "visible since", NULL);
    put(local, "broken {\n");
    rotate_at(&k, T3, 1, "propagated since " T3,
              "stopped (", "): switching the signer", NULL);
    status_has(&k, "syntax BAD", "the previous files are back");
    c = get(selmap);
    assert_string_equal(c, "# selectors\nother.test r1\n"
                           "r.example.com r202701\n");
    free(c);
    c = get(pathmap);
    assert_string_equal(c, want);
    free(c);
    /* Repaired: switched, reloaded, retired. */
    snprintf(text, sizeof(text), "selector_map = \"%s\";\npath_map = \"%s\";\n",
             selmap, pathmap);
    put(local, text);
    rotate_at(&k, T3, 0, "active since " T3, NULL);
    c = get(selmap);
    assert_contains(c, "r.example.com r202704\n");
    free(c);
    hooks_run(&k, T3, "hook reload: ok");
    rotate_at(&k, T3R, 0, "retired since " T3R, NULL);
    unsetenv("KEYWARDEN_NOW");
}

/* ---- two keys side by side (key_type = rsa2048+ed25519) ---------------- */

/* A dual section for domain: the RSA track switched in g_rsa (through
 * [dkim] opendkim_conf), the Ed25519 track in g_ed
 * (opendkim_conf_ed25519), the default template kw%Y%m%a; one built-in
 * reload without config =, which reloads the instances the events name.
 * The hand-made s0r (RSA) and s0e (Ed25519) sign until the switches. */
static void new_dual(kase *k, const char *domain)
{
    char text[8192];

    case_paths(k, domain, &g_rsa);
    snprintf(text, sizeof(text),
             "[dkim]\ndns_port = %d\nopendkim_conf = %s\n"
             "[dkim \"%s\"]\nrotate = 90d\nkey_type = rsa2048+ed25519\n"
             "key_dir = %s\nttl = 60\ndns_zone = example.com\n"
             "dns_server = 127.0.0.1:%d\ntsig_key = %s\n"
             "tsig_algorithm = %s\ntsig_secret = %s\n"
             "signer = opendkim\nopendkim_conf_ed25519 = %s\n"
             "[hook \"reload\"]\non = dkim.activated\nreload = opendkim\n",
             g_primary.port, g_rsa.P.conf, domain, k->keys, g_primary.port,
             g_primary.key_name, g_primary.key_alg, g_primary.key_secret,
             g_ed.P.conf);
    put(k->conf, text);
    add_sel(&g_rsa, domain, "s0r", 0);
    add_sel(&g_ed, domain, "s0e", 1);
    sign_check(&g_rsa, domain, "s0r");
    sign_check(&g_ed, domain, "s0e");
}

/* new_dual, and its first rotation of both tracks to visible at T0. */
static void dual_visible(kase *k, const char *domain)
{
    new_dual(k, domain);
    rotate_at(k, T0, 0, "(rsa2048)  selector kw202701r  visible since",
              "(ed25519)  selector kw202701e  visible since", NULL);
    assert_int_equal(records_at("kw202701r", domain), 1);
    assert_int_equal(records_at("kw202701e", domain), 1);
}

/* A message signed by the RSA milter, then by the Ed25519 milter, carries
 * both signatures: the Ed25519 one on top (index 0) with sel_e, the RSA
 * one below with sel_r, and each verifies with dkimpy against the record
 * both Knot servers serve. */
static void both_sign(const char *domain, const char *sel_r,
                      const char *sel_e)
{
    char *m1 = signed_ok(&g_rsa, domain, sel_r), *m2 = NULL, txt[4096],
         why[2048];

    if (opendkim_sign(g_ed.base, g_ed.port, m1, &m2) != 0)
        fail_msg("the Ed25519 milter did not sign: %s", m2 ? m2 : "");
    assert_true(ds_has_selector(m2, sel_r));
    assert_true(ds_has_selector(m2, sel_e));
    ds_record(&g_dns, sel_e, domain, txt, sizeof(txt));
    if (dkim_verify_at(m2, 0, sel_e, domain, txt, why, sizeof(why)) != 1)
        fail_msg("the Ed25519 signature (%s) fails: %s", sel_e, why);
    assert_non_null(strstr(why, sel_e));
    ds_record(&g_dns, sel_r, domain, txt, sizeof(txt));
    if (dkim_verify_at(m2, 1, sel_r, domain, txt, why, sizeof(why)) != 1)
        fail_msg("the RSA signature (%s) fails: %s", sel_r, why);
    assert_non_null(strstr(why, sel_r));
    /* Either record for the other signature does not verify it: the two
     * tracks have two keys. */
    if (dkim_verify_at(m2, 1, sel_e, domain, txt, why, sizeof(why)) != 0)
        fail_msg("the RSA signature verified against %s: %s", sel_e, why);
    free(m1);
    free(m2);
}

/* Two whole rotations of both tracks in step, on the pinned clock. */
static void dual_cycle(void **st)
{
    kase k;
    kwres r;

    (void)st;
    NEED_ODK();
    dual_visible(&k, "dw.example.com");
    /* Not propagated yet: the hand-made keys still sign. */
    sign_check(&g_rsa, k.domain, "s0r");
    sign_check(&g_ed, k.domain, "s0e");
    rotate_at(&k, T1, 0, "(rsa2048)  selector kw202701r  active since " T1,
              "(ed25519)  selector kw202701e  active since " T1, NULL);
    /* Each instance's tables name its own track's key only. */
    {
        char *kr = get(g_rsa.P.keytable), *ke = get(g_ed.P.keytable);

        assert_non_null(strstr(kr, "kw202701r"));
        assert_null(strstr(kr, "kw202701e"));
        assert_non_null(strstr(ke, "kw202701e"));
        assert_null(strstr(ke, "kw202701r"));
        free(kr);
        free(ke);
    }
    /* One hook, both instances reloaded (each event names its own). */
    hooks_run(&k, T1, "hook reload: ok");
    sign_check(&g_rsa, k.domain, "kw202701r");
    sign_check(&g_ed, k.domain, "kw202701e");
    both_sign(k.domain, "kw202701r", "kw202701e");
    rotate_at(&k, "2027-01-15T09:02:00Z", 0,
              "(rsa2048)  selector kw202701r  retired since",
              "(ed25519)  selector kw202701e  retired since", NULL);
    /* 90 days on: both tracks again, each replacing its own key. */
    rotate_at(&k, T2, 0, "(rsa2048)  selector kw202704r  visible since",
              "(replaces kw202701r)", "(replaces kw202701e)", NULL);
    rotate_at(&k, T3, 0, "(ed25519)  selector kw202704e  active since " T3,
              "(rsa2048)  selector kw202704r  active since " T3, NULL);
    sign_check(&g_rsa, k.domain, "kw202701r");
    sign_check(&g_ed, k.domain, "kw202701e");
    hooks_run(&k, T3, "hook reload: ok");
    both_sign(k.domain, "kw202704r", "kw202704e");
    rotate_at(&k, T3R, 0, "(rsa2048)  selector kw202704r  retired since",
              "(ed25519)  selector kw202704e  retired since", NULL);
    /* Each track's old record goes after its own drain, both here. */
    rotate_at(&k, T4, 0, "(rsa2048)  selector kw202704r  removed since",
              "(ed25519)  selector kw202704e  removed since", NULL);
    assert_int_equal(records_at("kw202701r", k.domain), 0);
    assert_int_equal(records_at("kw202701e", k.domain), 0);
    assert_int_equal(records_at("kw202704r", k.domain), 1);
    assert_int_equal(records_at("kw202704e", k.domain), 1);
    both_sign(k.domain, "kw202704r", "kw202704e");
    /* list: one line per track; the inventory reads both instances, so
     * each track's new key is seen signing. */
    setenv("KEYWARDEN_NOW", T4, 1);
    kwres_free((r = kw_ok(k.state, k.conf, "scan", "--dkim"), &r));
    r = kw(k.state, k.conf, "list");
    assert_contains(r.out, "dw.example.com (rsa2048)         removed     "
                           "kw202704r");
    assert_contains(r.out, "dw.example.com (ed25519)         removed     "
                           "kw202704e");
    assert_contains(r.out, "kw202704r._domainkey.dw.example.com -");
    assert_contains(r.out, "kw202704e._domainkey.dw.example.com -");
    kwres_free(&r);
    r = kw_ok(k.state, k.conf, "list", "--json");
    assert_contains(r.out, "\"name\":\"dw.example.com (ed25519)\","
                           "\"key_type\":\"ed25519\"");
    assert_contains(r.out, "\"name\":\"dw.example.com (rsa2048)\","
                           "\"key_type\":\"rsa2048\"");
    kwres_free(&r);
    unsetenv("KEYWARDEN_NOW");
}

/* The Ed25519 track's signer refuses its switch (`opendkim -n` fails on
 * its SigningTable): that track stops at propagated with s0e signing, and
 * says so; the RSA track goes on to its new key and retires s0r.  Fixed,
 * the Ed25519 track resumes. */
static void dual_ed_signer_fails(void **st)
{
    char *st0, text[8192];
    kase k;
    kwres r;

    (void)st;
    NEED_ODK();
    dual_visible(&k, "dv.example.com");
    st0 = get(g_ed.P.signingtable);
    snprintf(text, sizeof(text), "%s*@[broken.test bad._domainkey.x.test\n",
             st0);
    put(g_ed.P.signingtable, text);
    rotate_at(&k, T1, 1, "(rsa2048)  selector kw202701r  active since " T1,
              "(ed25519)  selector kw202701e  propagated since " T1,
              "stopped (", "): switching the signer", NULL);
    /* The Ed25519 instance's files are as they were (put back). */
    {
        char *kt = get(g_ed.P.keytable);

        assert_null(strstr(kt, "kw202701e"));
        tables_are(&g_ed, kt, text);
        free(kt);
    }
    hooks_run(&k, T1, "hook reload: ok");
    sign_check(&g_rsa, k.domain, "kw202701r");
    /* Its old key still signs, and verifies against what DNS serves. */
    sign_check(&g_ed, k.domain, "s0e");
    rotate_at(&k, "2027-01-15T09:02:00Z", 1,
              "(rsa2048)  selector kw202701r  retired since",
              "(ed25519)  selector kw202701e  propagated since " T1,
              "stopped (", NULL);
    status_has(&k, "dv.example.com (ed25519)  selector kw202701e  propagated",
               "regular expression");
    r = kw(k.state, k.conf, "list");
    assert_contains(r.out, "dv.example.com (ed25519)");
    assert_contains(r.out, "warning");
    kwres_free(&r);
    sign_check(&g_ed, k.domain, "s0e");
    assert_int_equal(records_at("s0e", k.domain), 1);
    /* Fixed: the Ed25519 track switches; the RSA track stays retired. */
    put(g_ed.P.signingtable, st0);
    free(st0);
    rotate_at(&k, "2027-01-15T09:03:00Z", 0,
              "(ed25519)  selector kw202701e  active since",
              "(rsa2048)  selector kw202701r  retired since", NULL);
    hooks_run(&k, "2027-01-15T09:03:00Z", "hook reload: ok");
    sign_check(&g_ed, k.domain, "kw202701e");
    both_sign(k.domain, "kw202701r", "kw202701e");
    unsetenv("KEYWARDEN_NOW");
}

/* `dkim abort DOMAIN` takes back both tracks before active: both new
 * records gone from both servers, the hand-made keys signing. */
static void dual_abort(void **st)
{
    const char *args[] = {"dkim", "abort", "du.example.com", NULL};
    kase k;
    kwres r;

    (void)st;
    NEED_ODK();
    dual_visible(&k, "du.example.com");
    setenv("KEYWARDEN_NOW", T0, 1);
    r = kw_expect(0, k.state, k.conf, args);
    assert_contains(r.out, "du.example.com (rsa2048)  selector kw202701r  "
                           "aborted since");
    assert_contains(r.out, "du.example.com (ed25519)  selector kw202701e  "
                           "aborted since");
    kwres_free(&r);
    assert_int_equal(records_at("kw202701r", k.domain), 0);
    assert_int_equal(records_at("kw202701e", k.domain), 0);
    sign_check(&g_rsa, k.domain, "s0r");
    sign_check(&g_ed, k.domain, "s0e");
    /* Nothing runs any more: a second abort says so for both. */
    r = kw_expect(3, k.state, k.conf, args);
    assert_contains(r.err, "no rotation runs in either track");
    kwres_free(&r);
    unsetenv("KEYWARDEN_NOW");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rsa_cycle),
        cmocka_unit_test(dual_cycle),
        cmocka_unit_test(dual_ed_signer_fails),
        cmocka_unit_test(dual_abort),
        cmocka_unit_test(kill9_matrix),
        cmocka_unit_test(reload_hook_fails),
        cmocka_unit_test(broken_tables),
        cmocka_unit_test(dns_exec_fails),
        cmocka_unit_test(ed25519_key_refused_by_rsa_signer),
        cmocka_unit_test(rspamd_maps),
        cmocka_unit_test(opendkim_one_algorithm),
    };

    if (getenv("KW_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("KW_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
