/*
 * test_dkim_switch.c: the signer switched to a new selector, against a
 * real OpenDKIM milter (opendkim.c), miltertest and dkimpy, and rspamd's
 * own configuration test.
 *
 *  - a KeyTable and refile: SigningTable signing mail.test with s1 beside
 *    other.test and comments: switched to s2, one reload (SIGUSR1, as the
 *    hooks' built-in reload sends) and a message signed through the
 *    milter carries s=s2 and verifies with dkimpy against s2's record
 *    (and not against s1's); every other line stays byte for byte;
 *  - a KeyTable row naming a missing key, and a key in a directory others
 *    can write with RequireSafeKeys on: refused before any file changes,
 *    the error names the file and line, OpenDKIM still signs s1;
 *  - `opendkim -n` failing on a broken SigningTable row: the previous
 *    tables are put back;
 *  - 100 domains switched in one call: one reload, and they sign with s2;
 *  - rspamd: selector_map and path_map written, `rspamadm configtest`
 *    accepts them; a configuration it rejects puts the maps back;
 *  - a program (signer = exec) given DOMAIN SELECTOR KEY, and one failing.
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
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dkim/dkim_signer.h"
#include "knot.h"
#include "opendkim.h"
#include "proc.h"
#include "testpki.h"
#include "tmpdir.h"

static char dir[256];
static char s1_txt[2048], s2_txt[2048], o1_txt[2048];
static pid_t odk;
static int odk_port;
static odk_paths P;

static char *at(const char *rel)
{
    static char buf[8][700];
    static int i;

    i = (i + 1) % 8;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, rel);
    return buf[i];
}

static void put(const char *path, const char *text)
{
    assert_int_equal(tp_write_bytes(path, text, strlen(text), 0644), 0);
}

static char *get(const char *path)
{
    size_t len;
    char *t = slurp(path, &len);

    assert_non_null(t);
    return t;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("\"%s\" not in \"%s\"", needle, hay);
}

/* ---- signing through the milter --------------------------------------- */

typedef struct signs {
    const char *domain, *selector;
    char *msg;
} signs;

/* OpenDKIM signs a message from domain with selector (the reload having
 * happened); the signed message is kept in s->msg. */
static int signs_with(void *ctx)
{
    signs *s = ctx;
    char msg[512], want[80];

    snprintf(msg, sizeof(msg),
             "From: Alice <alice@%s>\nTo: Bob <bob@example.org>\n"
             "Subject: which key\n\nSigned by OpenDKIM after a switch.\n",
             s->domain);
    free(s->msg);
    s->msg = NULL;
    if (opendkim_sign(dir, odk_port, msg, &s->msg) != 0)
        return 0;
    snprintf(want, sizeof(want), "s=%s;", s->selector);
    return strstr(s->msg, want) != NULL && strstr(s->msg, "d=") != NULL;
}

/* Reload OpenDKIM (SIGUSR1, its documented reload) and wait until it
 * signs domain's mail with selector; the signed message, malloc'd. */
static char *reload_until(const char *domain, const char *selector)
{
    signs s = {domain, selector, NULL};

    assert_int_equal(kill(odk, SIGUSR1), 0);
    if (!proc_until(signs_with, &s, 15000))
        fail_msg("OpenDKIM does not sign %s with %s: %s", domain, selector,
                 s.msg != NULL ? s.msg : "(nothing)");
    return s.msg;
}

static int verifies(const char *msg, const char *sel, const char *domain,
                    const char *txt)
{
    char why[2048];
    int v = dkim_verify(msg, sel, domain, txt, why, sizeof(why));

    assert_true(v >= 0);
    return v;
}

/* ---- the layout ---------------------------------------------------------- */

#define KT_FMT                                                               \
    "# keys for the test signer\n"                                           \
    "o1._domainkey.other.test\tother.test:o1:%1$s/keys/o1.private  # other\n" \
    "\n"                                                                     \
    "s1._domainkey.mail.test mail.test:s1:%1$s/keys/s1.private\n"
static const char *ST_FMT = "# who signs what\n"
                            "*@other.test o1._domainkey.other.test\n"
                            "*@mail.test s1._domainkey.mail.test # main\n";

/* mail.test signed with s1, other.test with o1, OpenDKIM reloaded. */
static void layout_s1(void)
{
    char text[4096];
    char *m;

    snprintf(text, sizeof(text), KT_FMT, dir);
    put(P.keytable, text);
    put(P.signingtable, ST_FMT);
    m = reload_until("mail.test", "s1");
    assert_int_equal(verifies(m, "s1", "mail.test", s1_txt), 1);
    free(m);
}

static kw_dkim_signer_conf odk_conf(const char *conf)
{
    kw_dkim_signer_conf c;

    memset(&c, 0, sizeof(c));
    c.kind = KW_DKIM_SIGNER_OPENDKIM;
    c.opendkim_conf = conf;
    c.opendkim_bin = "/usr/sbin/opendkim";
    c.timeout_ms = 20000;
    return c;
}

static int setup(void **st)
{
    const char *skip = NULL;

    (void)st;
    tmpdir_make(dir, sizeof(dir), "dkimsigner");
    tp_mkdirs(at("keys"));
    assert_int_equal(dkim_make_key(at("keys/s1.private"), s1_txt,
                                   sizeof(s1_txt)), 0);
    assert_int_equal(dkim_make_key(at("keys/s2.private"), s2_txt,
                                   sizeof(s2_txt)), 0);
    assert_int_equal(dkim_make_key(at("keys/o1.private"), o1_txt,
                                   sizeof(o1_txt)), 0);
    assert_int_equal(opendkim_paths(dir, &P), 0);
    odk_port = kn_free_port("127.0.0.1");
    odk = opendkim_start(dir, odk_port, "mail.test", "s1",
                         at("keys/s1.private"), &skip);
    if (odk == 0) {
        fprintf(stderr, "skipped: %s\n", skip);
        return 0;
    }
    assert_true(odk > 0);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    opendkim_stop(odk);
    if (getenv("KW_KEEP_TMP") == NULL)
        tmpdir_remove(dir);
    return 0;
}

#define NEED_ODK()                                                           \
    do {                                                                     \
        if (odk <= 0)                                                        \
            skip();                                                          \
    } while (0)

/* ---- OpenDKIM ------------------------------------------------------------ */

static void test_switch_signs_new(void **st)
{
    kw_dkim_signer_conf c = odk_conf(P.conf);
    kw_dkim_switch_result res;
    char want[4096], *kt, *m;
    kw_diag d = {{0}};
    int rc;

    (void)st;
    NEED_ODK();
    layout_s1();
    assert_int_equal(kw_dkim_signer_check(&c, &d), 0);
    rc = kw_dkim_signer_switch(&c, "mail.test", "s2", at("keys/s2.private"),
                               &res, &d);
    if (rc != 0)
        fail_msg("switch: %s", d.msg);
    assert_true(res.changed);
    assert_true(res.reload);
    /* Only mail.test's rows changed, in place. */
    snprintf(want, sizeof(want),
             "# keys for the test signer\n"
             "o1._domainkey.other.test\tother.test:o1:%1$s/keys/o1.private"
             "  # other\n"
             "\n"
             "s2._domainkey.mail.test mail.test:s2:%1$s/keys/s2.private\n",
             dir);
    kt = get(P.keytable);
    assert_string_equal(kt, want);
    free(kt);
    kt = get(P.signingtable);
    assert_string_equal(kt, "# who signs what\n"
                            "*@other.test o1._domainkey.other.test\n"
                            "*@mail.test s2._domainkey.mail.test # main\n");
    free(kt);
    /* Not before the reload: the caller's hook does it. */
    m = reload_until("mail.test", "s2");
    assert_int_equal(verifies(m, "s2", "mail.test", s2_txt), 1);
    assert_int_equal(verifies(m, "s2", "mail.test", s1_txt), 0);
    free(m);
    m = reload_until("other.test", "o1");
    assert_int_equal(verifies(m, "o1", "other.test", o1_txt), 1);
    free(m);
    /* Again: nothing to do, no reload. */
    assert_int_equal(kw_dkim_signer_switch(&c, "mail.test", "s2",
                                           at("keys/s2.private"), &res, &d),
                     0);
    assert_false(res.changed);
    assert_false(res.reload);
}

/* The tables unchanged byte for byte since before, and OpenDKIM still
 * signing s1. */
static void unchanged(const char *kt_before, const char *st_before)
{
    char *kt = get(P.keytable), *sg = get(P.signingtable), *m;

    assert_string_equal(kt, kt_before);
    assert_string_equal(sg, st_before);
    free(kt);
    free(sg);
    m = reload_until("mail.test", "s1");
    assert_int_equal(verifies(m, "s1", "mail.test", s1_txt), 1);
    free(m);
}

static void test_missing_key_refused(void **st)
{
    kw_dkim_signer_conf c = odk_conf(P.conf);
    kw_dkim_switch_result res;
    char text[4096], where[1200], *kt0, *st0;
    kw_diag d = {{0}};

    (void)st;
    NEED_ODK();
    layout_s1();
    snprintf(text, sizeof(text), KT_FMT, dir);
    strcat(text, "m1._domainkey.gone.test gone.test:m1:");
    strcat(text, at("keys/missing.private"));
    strcat(text, "\n");
    put(P.keytable, text);
    kt0 = get(P.keytable);
    st0 = get(P.signingtable);
    assert_int_equal(kw_dkim_signer_check(&c, &d), KW_ENOENT);
    assert_int_equal(kw_dkim_signer_switch(&c, "mail.test", "s2",
                                           at("keys/s2.private"), &res, &d),
                     KW_ENOENT);
    snprintf(where, sizeof(where), "%s:5:", P.keytable);
    assert_contains(d.msg, where);
    assert_contains(d.msg, "missing.private");
    assert_false(res.reload);
    unchanged(kt0, st0);
    /* The new key itself missing: the same, naming the row the switch
     * would write. */
    assert_int_equal(kw_dkim_signer_switch(&c, "other.test", "o2",
                                           at("keys/nope.private"), &res,
                                           &d),
                     KW_ENOENT);
    unchanged(kt0, st0);
    free(kt0);
    free(st0);
}

static void test_unsafe_key_refused(void **st)
{
    kw_dkim_signer_conf c;
    kw_dkim_switch_result res;
    char text[8192], *kt0, *st0, *conf, *key;
    size_t len;
    kw_diag d = {{0}};

    (void)st;
    NEED_ODK();
    layout_s1();
    /* The same signer, with RequireSafeKeys on (last setting wins). */
    conf = slurp(P.conf, &len);
    assert_non_null(conf);
    snprintf(text, sizeof(text), "%sRequireSafeKeys yes\n", conf);
    free(conf);
    put(at("opendkim/strict.conf"), text);
    tp_mkdirs(at("wkeys"));
    assert_int_equal(chmod(at("wkeys"), 0777), 0);
    key = get(at("keys/s2.private"));
    assert_int_equal(tp_write_bytes(at("wkeys/s2.private"), key, strlen(key),
                                    0600), 0);
    free(key);
    kt0 = get(P.keytable);
    st0 = get(P.signingtable);
    c = odk_conf(at("opendkim/strict.conf"));
    assert_int_equal(kw_dkim_signer_switch(&c, "mail.test", "s2",
                                           at("wkeys/s2.private"), &res, &d),
                     KW_EREJECTED);
    assert_contains(d.msg, P.keytable);
    assert_contains(d.msg, at("wkeys"));
    assert_contains(d.msg, "writable by others");
    assert_contains(d.msg, "RequireSafeKeys");
    unchanged(kt0, st0);
    /* Without RequireSafeKeys the same key is taken. */
    c = odk_conf(P.conf);
    assert_int_equal(kw_dkim_signer_switch(&c, "mail.test", "s2",
                                           at("wkeys/s2.private"), &res, &d),
                     0);
    assert_true(res.reload);
    free(kt0);
    free(st0);
}

static void test_check_fails_restores(void **st)
{
    kw_dkim_signer_conf c = odk_conf(P.conf);
    kw_dkim_switch_result res;
    char *kt0, *st0;
    kw_diag d = {{0}};

    (void)st;
    NEED_ODK();
    layout_s1();
    /* A refile: pattern that is no regular expression: `opendkim -n`
     * refuses the table (our key checks have nothing to say). */
    put(P.signingtable, "# who signs what\n"
                        "*@[broken.test o1._domainkey.other.test\n"
                        "*@mail.test s1._domainkey.mail.test # main\n");
    kt0 = get(P.keytable);
    st0 = get(P.signingtable);
    assert_int_equal(kw_dkim_signer_switch(&c, "mail.test", "s2",
                                           at("keys/s2.private"), &res, &d),
                     KW_EREJECTED);
    assert_contains(d.msg, "opendkim");
    assert_contains(d.msg, "regular expression");
    assert_contains(d.msg, "the previous files are back");
    assert_false(res.reload);
    {
        char *kt = get(P.keytable), *sg = get(P.signingtable);

        assert_string_equal(kt, kt0);
        assert_string_equal(sg, st0);
        free(kt);
        free(sg);
    }
    free(kt0);
    free(st0);
    /* OpenDKIM, never reloaded onto the broken table, still signs s1. */
    {
        signs s = {"mail.test", "s1", NULL};

        assert_true(signs_with(&s));
        assert_int_equal(verifies(s.msg, "s1", "mail.test", s1_txt), 1);
        free(s.msg);
    }
}

static void test_hundred_domains_one_reload(void **st)
{
    enum { N = 100 };
    kw_dkim_signer_conf c = odk_conf(P.conf);
    kw_dkim_switch sw[N];
    kw_dkim_switch_result res;
    static char doms[N][32];
    char *kt, *sg, *m, *p;
    size_t kl = 0, sl = 0;
    struct timeval t0, t1;
    kw_diag d = {{0}};
    int i, rows = 0;

    (void)st;
    NEED_ODK();
    kt = calloc(1, 200 * N);
    sg = calloc(1, 200 * N);
    assert_non_null(kt);
    assert_non_null(sg);
    for (i = 0; i < N; i++) {
        snprintf(doms[i], sizeof(doms[i]), "d%03d.test", i);
        kl += (size_t)snprintf(kt + kl, 200 * N - kl,
                               "s1._domainkey.%s %s:s1:%s\n", doms[i],
                               doms[i], at("keys/s1.private"));
        sl += (size_t)snprintf(sg + sl, 200 * N - sl,
                               "*@%s s1._domainkey.%s\n", doms[i], doms[i]);
        sw[i].domain = doms[i];
        sw[i].selector = "s2";
        sw[i].key_path = at("keys/s2.private");
    }
    put(P.keytable, kt);
    put(P.signingtable, sg);
    free(kt);
    free(sg);
    m = reload_until("d042.test", "s1");
    free(m);
    gettimeofday(&t0, NULL);
    if (kw_dkim_signer_switch_many(&c, sw, N, &res, &d) != 0)
        fail_msg("switch of %d domains: %s", N, d.msg);
    gettimeofday(&t1, NULL);
    fprintf(stderr, "%d domains switched in %.3f s (one write, one "
            "opendkim -n)\n", N,
            (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_usec - t0.tv_usec) / 1e6);
    assert_true(res.reload);
    kt = get(P.keytable);
    for (p = kt; (p = strstr(p, ":s2:")) != NULL; p++)
        rows++;
    assert_int_equal(rows, N);
    assert_null(strstr(kt, ":s1:"));
    free(kt);
    /* One reload serves them all. */
    m = reload_until("d042.test", "s2");
    assert_int_equal(verifies(m, "s2", "d042.test", s2_txt), 1);
    free(m);
    {
        signs s = {"d099.test", "s2", NULL};

        assert_true(signs_with(&s));
        assert_int_equal(verifies(s.msg, "s2", "d099.test", s2_txt), 1);
        free(s.msg);
    }
}

/* ---- rspamd -------------------------------------------------------------- */

static int run_argv(char *const argv[])
{
    int ofd, efd;
    char *out = NULL, *err = NULL;
    pid_t pid = proc_spawn_pipes(argv, &ofd, &efd);

    proc_drain(ofd, efd, &out, &err);
    free(out);
    free(err);
    return proc_wait(pid, 60000);
}

static void test_rspamd_maps(void **st)
{
    kw_dkim_signer_conf c;
    kw_dkim_switch_result res;
    char text[2048], *sel, *path;
    char *cp[] = {(char *)"/bin/cp", (char *)"-r", (char *)"/etc/rspamd",
                  at("rspamd"), NULL};
    kw_diag d = {{0}};
    int rc;

    (void)st;
    if (access("/usr/bin/rspamadm", X_OK) != 0 ||
        access("/etc/rspamd/rspamd.conf", R_OK) != 0)
        skip();
    assert_int_equal(run_argv(cp), 0);
    snprintf(text, sizeof(text),
             "selector_map = \"%s\";\npath_map = \"%s\";\n",
             at("maps/selectors"), at("maps/paths"));
    tp_mkdirs(at("maps"));
    put(at("rspamd/local.d/dkim_signing.conf"), text);
    put(at("maps/selectors"), "# selectors\nother.test r1\n");
    memset(&c, 0, sizeof(c));
    c.kind = KW_DKIM_SIGNER_RSPAMD;
    c.selector_map = at("maps/selectors");
    c.path_map = at("maps/paths"); /* not there yet: made */
    c.rspamadm_bin = "/usr/bin/rspamadm";
    c.rspamd_conf = at("rspamd/rspamd.conf");
    c.timeout_ms = 60000;
    rc = kw_dkim_signer_switch(&c, "mail.test", "s2", at("keys/s2.private"),
                               &res, &d);
    if (rc != 0)
        fail_msg("rspamd switch: %s", d.msg);
    assert_true(res.reload);
    sel = get(at("maps/selectors"));
    assert_string_equal(sel, "# selectors\nother.test r1\nmail.test s2\n");
    path = get(at("maps/paths"));
    snprintf(text, sizeof(text), "mail.test %s\n", at("keys/s2.private"));
    assert_string_equal(path, text);
    /* A configuration rspamadm rejects: the maps are put back. */
    put(at("rspamd/local.d/dkim_signing.conf"), "broken {\n");
    assert_int_equal(kw_dkim_signer_switch(&c, "mail.test", "s1",
                                           at("keys/s1.private"), &res, &d),
                     KW_EREJECTED);
    assert_contains(d.msg, "syntax BAD");
    assert_contains(d.msg, "the previous files are back");
    {
        char *s2 = get(at("maps/selectors")), *p2 = get(at("maps/paths"));

        assert_string_equal(s2, sel);
        assert_string_equal(p2, path);
        free(s2);
        free(p2);
    }
    free(sel);
    free(path);
}

/* ---- a program ------------------------------------------------------------ */

static void test_exec(void **st)
{
    kw_dkim_signer_conf c;
    kw_dkim_switch_result res;
    char script[1024], *got;
    const char *argv[3];
    kw_diag d = {{0}};

    (void)st;
    snprintf(script, sizeof(script),
             "#!/bin/sh\nprintf '%%s|' \"$@\" > %s\n"
             "[ \"$3\" = bad ] && { echo \"no such selector\" >&2; exit 3; }\n"
             "exit 0\n",
             at("exec.out"));
    assert_int_equal(tp_write_bytes(at("switch.sh"), script, strlen(script),
                                    0755), 0);
    memset(&c, 0, sizeof(c));
    c.kind = KW_DKIM_SIGNER_EXEC;
    argv[0] = at("switch.sh");
    argv[1] = "--flag";
    argv[2] = NULL;
    c.argv = argv;
    c.timeout_ms = 10000;
    assert_int_equal(kw_dkim_signer_switch(&c, "mail.test", "s2",
                                           "/k/s 2", &res, &d),
                     KW_EINVAL); /* a blank in the key path */
    assert_int_equal(kw_dkim_signer_switch(&c, "mail.test", "s2",
                                           "/k/s2.private", &res, &d),
                     0);
    got = get(at("exec.out"));
    assert_string_equal(got, "--flag|mail.test|s2|/k/s2.private|");
    free(got);
    assert_false(res.reload);
    assert_int_equal(kw_dkim_signer_switch(&c, "mail.test", "bad",
                                           "/k/s2.private", &res, &d),
                     KW_EREJECTED);
    assert_contains(d.msg, "exited 3");
    assert_contains(d.msg, "no such selector");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switch_signs_new),
        cmocka_unit_test(test_missing_key_refused),
        cmocka_unit_test(test_unsafe_key_refused),
        cmocka_unit_test(test_check_fails_restores),
        cmocka_unit_test(test_hundred_domains_one_reload),
        cmocka_unit_test(test_rspamd_maps),
        cmocka_unit_test(test_exec),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
