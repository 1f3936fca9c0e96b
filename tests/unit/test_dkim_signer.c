/*
 * test_dkim_signer.c: the signer's tables rewritten as text: only the
 * switched domain's rows change, every other line, comment, blank and
 * the order stay byte for byte; rows are added when missing; old KeyTable
 * rows for the domain go once nothing names them; rspamd's maps; bad
 * input (a NUL, a row with no key name, too large) refused with the line;
 * the OpenDKIM check refuses a key of the other algorithm than
 * opendkim.conf's SignatureAlgorithm (one for every row).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dkim/dkim_signer.h"
#include "dkim/dkim_source.h"
#include "testpki.h"
#include "tmpdir.h"

#include <openssl/evp.h>

static char *st_set(const char *in, const char *domain, const char *name,
                    int refile, int *changed)
{
    char *out = NULL;
    size_t len = 0;
    kw_diag d;

    assert_int_equal(kw_dkim_signingtable_set(in, strlen(in), domain, name,
                                              refile, &out, &len, changed,
                                              &d),
                     0);
    assert_int_equal(strlen(out), len);
    return out;
}

static char *kt_set(const char *in, const char *domain, const char *sel,
                    const char *key, const char *signing, int *changed)
{
    char *out = NULL;
    size_t len = 0;
    kw_diag d;

    assert_int_equal(kw_dkim_keytable_set(in, strlen(in), domain, sel, key,
                                          signing, &out, &len, changed, &d),
                     0);
    assert_int_equal(strlen(out), len);
    return out;
}

static void signingtable_rows(void **state)
{
    const char *in = "# outbound mail\n"
                     "*@other.test\ts1._domainkey.other.test\n"
                     "  *@mail.test   s1._domainkey.mail.test  # main\n"
                     "bob@mail.test s1._domainkey.mail.test signer@x\n"
                     "*@sub.mail.test s1._domainkey.sub.mail.test\n"
                     "\n"
                     "*@third.test s9._domainkey.third.test";
    char *out;
    int changed = 0;

    (void)state;
    out = st_set(in, "MAIL.test", "s2._domainkey.mail.test", 1, &changed);
    assert_true(changed);
    assert_string_equal(out,
                        "# outbound mail\n"
                        "*@other.test\ts1._domainkey.other.test\n"
                        "  *@mail.test   s2._domainkey.mail.test  # main\n"
                        "bob@mail.test s2._domainkey.mail.test signer@x\n"
                        "*@sub.mail.test s1._domainkey.sub.mail.test\n"
                        "\n"
                        "*@third.test s9._domainkey.third.test");
    free(out);
    /* Switching again to the same name changes nothing. */
    out = st_set("*@mail.test s2._domainkey.mail.test\n", "mail.test",
                 "s2._domainkey.mail.test", 1, &changed);
    assert_false(changed);
    free(out);
    /* A domain with no row gets one: "*@" for refile:, before the first
     * row (OpenDKIM takes the first pattern that matches, and "*" would
     * keep signing with the old key), below the comments on top; the
     * bare domain appended for a plain file, after a newline the text
     * lacked. */
    out = st_set("# top\n\n*@a.test k\n* catchall\n", "new.test",
                 "n1._domainkey.new.test", 1, &changed);
    assert_string_equal(out, "# top\n\n*@new.test n1._domainkey.new.test\n"
                             "*@a.test k\n* catchall\n");
    free(out);
    out = st_set("# only a comment", "new.test", "n1", 1, &changed);
    assert_string_equal(out, "# only a comment\n*@new.test n1\n");
    free(out);
    out = st_set("a.test k", "new.test", "n1._domainkey.new.test", 0,
                 &changed);
    assert_string_equal(out, "a.test k\nnew.test n1._domainkey.new.test\n");
    free(out);
    out = st_set("", "new.test", "n1", 1, &changed);
    assert_string_equal(out, "*@new.test n1\n");
    free(out);
    /* CRLF lines keep their CR. */
    out = st_set("*@mail.test s1\r\n# c\r\n", "mail.test", "s2", 1,
                 &changed);
    assert_string_equal(out, "*@mail.test s2\r\n# c\r\n");
    free(out);
}

static void keytable_rows(void **state)
{
    const char *in =
        "# keys\n"
        "s1._domainkey.other.test other.test:s1:/k/other.s1  # keep\n"
        "\ts1._domainkey.mail.test\tmail.test:s1:/k/mail.s1 # old one\n"
        "s0._domainkey.mail.test mail.test:s0:/k/mail.s0\n"
        "last.test last.test:x:/k/last\n";
    const char *st = "*@other.test s1._domainkey.other.test\n"
                     "*@mail.test s2._domainkey.mail.test\n"
                     "*@last.test last.test\n";
    char *out;
    int changed;

    (void)state;
    /* The new row takes the place of the first row that nothing names
     * any more; the other old row for the domain goes. */
    out = kt_set(in, "mail.test", "s2", "/k/mail.s2", st, &changed);
    assert_true(changed);
    assert_string_equal(
        out, "# keys\n"
             "s1._domainkey.other.test other.test:s1:/k/other.s1  # keep\n"
             "\ts2._domainkey.mail.test mail.test:s2:/k/mail.s2 # old one\n"
             "last.test last.test:x:/k/last\n");
    free(out);
    /* An old row still named by a SigningTable row (another pattern)
     * stays. */
    out = kt_set(in, "mail.test", "s2", "/k/mail.s2",
                 "*@mail.test s2._domainkey.mail.test\n"
                 "*@other.test s1._domainkey.other.test\n"
                 "x@last.test s0._domainkey.mail.test\n",
                 &changed);
    assert_non_null(strstr(out, "s0._domainkey.mail.test mail.test:s0:"));
    assert_null(strstr(out, "mail.s1"));
    free(out);
    /* A row already named for the new selector is rewritten in place. */
    out = kt_set("a x:y:z\ns2._domainkey.mail.test mail.test:s2:/old\n",
                 "mail.test", "s2", "/new", "*@mail.test "
                 "s2._domainkey.mail.test\n", &changed);
    assert_string_equal(out, "a x:y:z\ns2._domainkey.mail.test "
                             "mail.test:s2:/new\n");
    free(out);
    /* Nothing for the domain yet: appended. */
    out = kt_set("a x:y:z", "n.test", "n1", "/k/n1",
                 "*@n.test n1._domainkey.n.test\n", &changed);
    assert_string_equal(out, "a x:y:z\nn1._domainkey.n.test n.test:n1:/k/n1\n");
    free(out);
    /* Done twice, the second time changes nothing. */
    out = kt_set("n1._domainkey.n.test n.test:n1:/k/n1\n", "n.test", "n1",
                 "/k/n1", "*@n.test n1._domainkey.n.test\n", &changed);
    assert_false(changed);
    free(out);
}

static void map_rows(void **state)
{
    char *out = NULL;
    size_t len;
    int changed;
    kw_diag d;

    (void)state;
    assert_int_equal(kw_dkim_map_set("# sel\nother.test r1\nmail.test r1 "
                                     "# now\nMAIL.test dup\n",
                                     51, "mail.test", "r2", &out, &len,
                                     &changed, &d),
                     0);
    assert_true(changed);
    assert_string_equal(out, "# sel\nother.test r1\nmail.test r2 # now\n");
    free(out);
    assert_int_equal(kw_dkim_map_set("", 0, "mail.test", "/k/x", &out, &len,
                                     &changed, &d),
                     0);
    assert_string_equal(out, "mail.test /k/x\n");
    free(out);
    /* A row with the key alone gets its value after a blank. */
    assert_int_equal(kw_dkim_map_set("mail.test\n", 10, "mail.test", "r2",
                                     &out, &len, &changed, &d),
                     0);
    assert_string_equal(out, "mail.test r2\n");
    free(out);
}

static void bad_input(void **state)
{
    char *out = NULL, *big;
    size_t len;
    kw_diag d;

    (void)state;
    assert_int_equal(kw_dkim_signingtable_set("a b\n*@mail.test\n", 16,
                                              "mail.test", "n", 1, &out,
                                              &len, NULL, &d),
                     KW_EPARSE);
    assert_non_null(strstr(d.msg, "line 2"));
    assert_int_equal(kw_dkim_map_set("a b\nc\0d\n", 8, "x", "y", &out, &len,
                                     NULL, &d),
                     KW_EPARSE);
    assert_non_null(strstr(d.msg, "line 2"));
    big = calloc(1, KW_DKIM_MAX_FILE + 2);
    assert_non_null(big);
    memset(big, '#', KW_DKIM_MAX_FILE + 1);
    assert_int_equal(kw_dkim_keytable_set(big, KW_DKIM_MAX_FILE + 1, "a",
                                          "b", "/c", "", &out, &len, NULL,
                                          &d),
                     KW_ETOOBIG);
    free(big);
}

/* opendkim.conf with SignatureAlgorithm alg (NULL: none) and a KeyTable
 * naming key; the check's result, its words in d. */
static int check_alg(const char *dir, const char *alg, const char *key,
                     kw_diag *d)
{
    char conf[600], kt[600], st[600], text[2400];
    kw_dkim_signer_conf c;

    path_join(conf, sizeof(conf), dir, "opendkim.conf");
    path_join(kt, sizeof(kt), dir, "KeyTable");
    path_join(st, sizeof(st), dir, "SigningTable");
    snprintf(text, sizeof(text), "k._domainkey.mail.test mail.test:k:%s\n",
             key);
    assert_int_equal(tp_write_bytes(kt, text, strlen(text), 0644), 0);
    snprintf(text, sizeof(text), "*@mail.test k._domainkey.mail.test\n");
    assert_int_equal(tp_write_bytes(st, text, strlen(text), 0644), 0);
    snprintf(text, sizeof(text),
             "KeyTable %s\nSigningTable refile:%s\nRequireSafeKeys no\n"
             "%s%s%s",
             kt, st, alg != NULL ? "SignatureAlgorithm\t" : "",
             alg != NULL ? alg : "", alg != NULL ? "\n" : "");
    assert_int_equal(tp_write_bytes(conf, text, strlen(text), 0644), 0);
    memset(&c, 0, sizeof(c));
    c.kind = KW_DKIM_SIGNER_OPENDKIM;
    c.opendkim_conf = conf;
    c.opendkim_bin = "/bin/true"; /* `opendkim -n` has nothing to add */
    d->msg[0] = '\0';
    return kw_dkim_signer_check(&c, d);
}

static void one_algorithm(void **state)
{
    char dir[256], rsa[600], ed[600];
    EVP_PKEY *k;
    kw_diag d;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "signeralg");
    path_join(rsa, sizeof(rsa), dir, "rsa.key");
    path_join(ed, sizeof(ed), dir, "ed.key");
    k = tp_key_rsa(2048);
    assert_int_equal(tp_write_key(rsa, k, 0600), 0);
    EVP_PKEY_free(k);
    k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k);
    assert_int_equal(tp_write_key(ed, k, 0600), 0);
    EVP_PKEY_free(k);
    assert_int_equal(check_alg(dir, NULL, rsa, &d), 0);
    assert_int_equal(check_alg(dir, "rsa-sha256", rsa, &d), 0);
    assert_int_equal(check_alg(dir, "ED25519-SHA256", ed, &d), 0);
    /* An Ed25519 key under rsa-sha256 (also the default). */
    assert_int_equal(check_alg(dir, NULL, ed, &d), KW_EREJECTED);
    assert_non_null(strstr(d.msg, "KeyTable:1:"));
    assert_non_null(strstr(d.msg, "an ed25519 key"));
    assert_non_null(strstr(d.msg, "SignatureAlgorithm rsa-sha256"));
    assert_non_null(strstr(d.msg, "tempfail"));
    /* An RSA key under ed25519-sha256. */
    assert_int_equal(check_alg(dir, "ed25519-sha256", rsa, &d),
                     KW_EREJECTED);
    assert_non_null(strstr(d.msg, "an rsa key"));
    assert_non_null(strstr(d.msg, "SignatureAlgorithm ed25519-sha256"));
    assert_non_null(strstr(d.msg, "no verifier accepts"));
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signingtable_rows),
        cmocka_unit_test(keytable_rows),
        cmocka_unit_test(map_rows),
        cmocka_unit_test(bad_input),
        cmocka_unit_test(one_algorithm),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
