/*
 * test_dkim_key.c: DKIM private keys as the signers write them, generated
 * at test time by opendkim-genkey, rspamadm and openssl, read back to the
 * public half that the tools themselves print for DNS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dkim/dkim_key.h"
#include "tmpdir.h"

static char dir[256];

/* Run argv with stdout into out_path (or /dev/null), in dir; its exit
 * status. */
static int run(const char *out_path, const char *const argv[])
{
    pid_t pid = fork();
    int st = -1;

    if (pid == 0) {
        int fd = open(out_path != NULL ? out_path : "/dev/null",
                      O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int nul = open("/dev/null", O_WRONLY);

        if (fd < 0 || nul < 0 || chdir(dir) != 0)
            _exit(126);
        dup2(fd, 1);
        dup2(nul, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void sh(const char *out, const char *const argv[])
{
    assert_int_equal(run(out, argv), 0);
}

static char *path(const char *name)
{
    static char buf[4][512];
    static int i;

    i = (i + 1) % 4;
    path_join(buf[i], sizeof(buf[i]), dir, name);
    return buf[i];
}

/* The p= a tool printed for DNS: its quoted strings concatenated, then
 * the value of p= up to the closing quote. */
static void printed_p(const char *file, char *out, size_t cap)
{
    char *txt = slurp(path(file), NULL), *s, *p;
    size_t n = 0;

    assert_non_null(txt);
    for (s = txt; *s != '\0'; s++) {
        if (*s != '"')
            continue;
        for (s++; *s != '\0' && *s != '"'; s++) {
            assert_true(n + 1 < cap);
            out[n++] = *s;
        }
        if (*s == '\0')
            break;
    }
    out[n] = '\0';
    free(txt);
    p = strstr(out, "p=");
    assert_non_null(p);
    memmove(out, p + 2, strlen(p + 2) + 1);
}

static void expect_record(const kw_dkim_pub *k, const char *alg,
                          const char *p)
{
    char rec[2048], want[2048];

    assert_int_equal(kw_dkim_pub_record(k, rec, sizeof(rec)), 0);
    snprintf(want, sizeof(want), "v=DKIM1; k=%s; p=%s", alg, p);
    assert_string_equal(rec, want);
}

static int setup(void **state)
{
    tmpdir_make(dir, sizeof(dir), "dkimkey");
    return 0;
}

static int teardown(void **state)
{
    tmpdir_remove(dir);
    return 0;
}

static void test_opendkim_genkey(void **state)
{
    char p[2048];
    kw_dkim_pub k;
    kw_diag d;

    sh(NULL, (const char *const[]){"opendkim-genkey", "-b", "1024", "-d",
                             "mail.test", "-s", "s1", "-D", dir, NULL});
    assert_int_equal(kw_dkim_key_load(path("s1.private"), &k, &d), 0);
    assert_int_equal(k.alg, KW_DKIM_ALG_RSA);
    assert_int_equal(k.bits, 1024);
    assert_int_equal(strlen(k.hash), 64);
    printed_p("s1.txt", p, sizeof(p));
    expect_record(&k, "rsa", p);
}

/* rspamadm dkim_keygen -t TYPE -b BITS: the key it writes loads to the
 * public key it prints. */
static void rspamadm(const char *type, const char *bits, kw_dkim_alg alg,
                     int want_bits)
{
    char p[2048], key[64], txt[64];
    kw_dkim_pub k;
    kw_diag d;

    snprintf(key, sizeof(key), "%s.key", type);
    snprintf(txt, sizeof(txt), "%s.txt", type);
    sh(path(txt),
       (const char *const[]){"rspamadm", "dkim_keygen", "-t", type, "-b",
                             bits, "-d", "mail.test", "-s", "r1", "-k",
                             path(key), NULL});
    assert_int_equal(kw_dkim_key_load(path(key), &k, &d), 0);
    assert_int_equal(k.alg, alg);
    assert_int_equal(k.bits, want_bits);
    printed_p(txt, p, sizeof(p));
    expect_record(&k, kw_dkim_alg_name(alg), p);
}

/* Ed25519: a raw base64 file, not PEM. */
static void test_rspamadm_ed25519(void **state)
{
    rspamadm("ed25519", "256", KW_DKIM_ALG_ED25519, 256);
}

static void test_rspamadm_rsa(void **state)
{
    rspamadm("rsa", "2048", KW_DKIM_ALG_RSA, 2048);
}

/* Traditional PEM, PKCS#8 PEM, PKCS#8 DER and traditional DER of one key
 * are one key; a 512-bit key loads (health flags it later). */
static void test_formats_same_key(void **state)
{
    kw_dkim_pub a, b;
    kw_diag d;
    const char *names[] = {"t.pem", "p8.pem", "p8.der", "t.der"};
    size_t i;

    sh(NULL, (const char *const[]){"openssl", "genrsa", "-traditional", "-out",
                             "t.pem", "512", NULL});
    sh(NULL, (const char *const[]){"openssl", "pkey", "-in", "t.pem", "-out",
                             "p8.pem", NULL});
    sh(NULL, (const char *const[]){"openssl", "pkey", "-in", "t.pem", "-outform",
                             "DER", "-out", "p8.der", NULL});
    sh(NULL, (const char *const[]){"openssl", "rsa", "-in", "t.pem", "-traditional",
                             "-outform", "DER", "-out", "t.der", NULL});
    {
        char *t = slurp(path("t.pem"), NULL);

        assert_non_null(t);
        assert_non_null(strstr(t, "BEGIN RSA PRIVATE KEY"));
        free(t);
    }
    assert_int_equal(kw_dkim_key_load(path("t.pem"), &a, &d), 0);
    assert_int_equal(a.bits, 512);
    for (i = 1; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(kw_dkim_key_load(path(names[i]), &b, &d), 0);
        assert_string_equal(a.hash, b.hash);
        assert_memory_equal(a.p, b.p, a.p_len);
    }
}

/* Record bytes in both RSA forms match; another key, another algorithm
 * or garbage do not. */
static void test_matches(void **state)
{
    unsigned char *bare;
    size_t bare_len;
    kw_dkim_pub a, other, ed;
    kw_diag d;
    unsigned char junk[40] = {0x30, 0x26, 1, 2, 3};

    sh(NULL, (const char *const[]){"openssl", "genpkey", "-algorithm", "RSA",
                             "-pkeyopt", "rsa_keygen_bits:1024", "-out",
                             "m.pem", NULL});
    sh(NULL, (const char *const[]){"openssl", "genpkey", "-algorithm", "RSA",
                             "-pkeyopt", "rsa_keygen_bits:1024", "-out",
                             "o.pem", NULL});
    sh(NULL, (const char *const[]){"openssl", "genpkey", "-algorithm", "ED25519",
                             "-out", "ed.pem", NULL});
    sh(NULL, (const char *const[]){"openssl", "rsa", "-in", "m.pem",
                             "-RSAPublicKey_out", "-outform", "DER", "-out",
                             "bare.der", NULL});
    assert_int_equal(kw_dkim_key_load(path("m.pem"), &a, &d), 0);
    assert_int_equal(kw_dkim_key_load(path("o.pem"), &other, &d), 0);
    assert_int_equal(kw_dkim_key_load(path("ed.pem"), &ed, &d), 0);
    assert_int_equal(ed.alg, KW_DKIM_ALG_ED25519);
    bare = (unsigned char *)slurp(path("bare.der"), &bare_len);
    assert_non_null(bare);

    assert_int_equal(kw_dkim_pub_matches(&a, KW_DKIM_ALG_RSA, a.p, a.p_len),
                     1);
    assert_int_equal(kw_dkim_pub_matches(&a, KW_DKIM_ALG_RSA, bare, bare_len),
                     1);
    assert_true(bare_len != a.p_len);
    assert_int_equal(
        kw_dkim_pub_matches(&a, KW_DKIM_ALG_RSA, other.p, other.p_len), 0);
    assert_int_equal(
        kw_dkim_pub_matches(&a, KW_DKIM_ALG_ED25519, a.p, a.p_len), 0);
    assert_int_equal(kw_dkim_pub_matches(&a, KW_DKIM_ALG_RSA, junk,
                                         sizeof(junk)),
                     0);
    assert_int_equal(kw_dkim_pub_matches(&a, KW_DKIM_ALG_RSA, a.p,
                                         a.p_len - 1),
                     0);
    assert_int_equal(
        kw_dkim_pub_matches(&ed, KW_DKIM_ALG_ED25519, ed.p, ed.p_len), 1);
    assert_int_equal(kw_dkim_pub_matches(&ed, KW_DKIM_ALG_ED25519, ed.p, 31),
                     0);
    free(bare);
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_refused(void **state)
{
    kw_dkim_pub k;
    kw_diag d;

    sh(NULL, (const char *const[]){"openssl", "genpkey", "-algorithm", "EC",
                             "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                             "ec.pem", NULL});
    assert_int_equal(kw_dkim_key_load(path("ec.pem"), &k, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "RSA or Ed25519"));
    assert_non_null(strstr(d.msg, "ec.pem"));

    sh(NULL, (const char *const[]){"openssl", "genpkey", "-algorithm", "RSA",
                             "-pkeyopt", "rsa_keygen_bits:1024", "-aes128",
                             "-pass", "pass:x", "-out", "enc.pem", NULL});
    assert_int_equal(kw_dkim_key_load(path("enc.pem"), &k, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "encrypted"));

    write_file("junk.key", "not a key at all\n");
    assert_int_equal(kw_dkim_key_load(path("junk.key"), &k, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "junk.key"));
    assert_int_equal(k.alg, KW_DKIM_ALG_NONE);

    /* 64 bytes whose second half is not the seed's public key. */
    write_file("bad.key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                          "AAAAAAAAAAAAAAAAAAAAAAAAAA==\n");
    assert_int_equal(kw_dkim_key_load(path("bad.key"), &k, &d), KW_EPARSE);

    assert_int_equal(kw_dkim_key_load(path("nope.key"), &k, &d), KW_ENOENT);
    assert_non_null(strstr(d.msg, "nope.key"));
    assert_true(kw_dkim_key_load(dir, &k, &d) < 0);
}

static void test_record_bounds(void **state)
{
    kw_dkim_pub k;
    char small[20];

    memset(&k, 0, sizeof(k));
    assert_int_equal(kw_dkim_pub_record(&k, small, sizeof(small)), KW_EINVAL);
    k.alg = KW_DKIM_ALG_ED25519;
    k.p_len = 32;
    assert_int_equal(kw_dkim_pub_record(&k, small, sizeof(small)),
                     KW_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opendkim_genkey),
        cmocka_unit_test(test_rspamadm_ed25519),
        cmocka_unit_test(test_rspamadm_rsa),
        cmocka_unit_test(test_formats_same_key),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_record_bounds),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
