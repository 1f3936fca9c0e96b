/*
 * Versioned deployment: archive/NAME/N plus one live/NAME symlink, checked
 * on real directories, with certificates made at test time.
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
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/kw_fs.h"
#include "keystore/ks_deploy.h"
#include "testpki.h"
#include "tmpdir.h"

#define DAY INT64_C(86400)

static EVP_PKEY *g_root_key, *g_int_key, *g_other_key;
static X509 *g_root, *g_inter, *g_other, *g_fake_inter;
static int64_t g_now;

static int setup(void **state)
{
    (void)state;
    g_now = (int64_t)time(NULL);
    g_root_key = tp_key_ec();
    g_int_key = tp_key_ec();
    g_other_key = tp_key_ec();
    g_root = tp_cert(&(tp_spec){.cn = "Deploy Root", .org = "Test",
                                .not_before = g_now - 10 * DAY,
                                .not_after = g_now + 3650 * DAY, .is_ca = 1,
                                .serial = 1, .key = g_root_key});
    g_inter = tp_cert(&(tp_spec){.cn = "Deploy Issuing CA", .org = "Test",
                                 .not_before = g_now - 10 * DAY,
                                 .not_after = g_now + 365 * DAY, .is_ca = 1,
                                 .serial = 2, .key = g_int_key,
                                 .issuer = g_root, .issuer_key = g_root_key});
    /* Another CA entirely, and an impostor with the real one's name. */
    g_other = tp_cert(&(tp_spec){.cn = "Other CA", .org = "Elsewhere",
                                 .not_before = g_now - 10 * DAY,
                                 .not_after = g_now + 365 * DAY, .is_ca = 1,
                                 .serial = 3, .key = g_other_key});
    g_fake_inter = tp_cert(&(tp_spec){.cn = "Deploy Issuing CA",
                                      .org = "Test",
                                      .not_before = g_now - 10 * DAY,
                                      .not_after = g_now + 365 * DAY,
                                      .is_ca = 1, .serial = 4,
                                      .key = g_other_key});
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    X509_free(g_root);
    X509_free(g_inter);
    X509_free(g_other);
    X509_free(g_fake_inter);
    EVP_PKEY_free(g_root_key);
    EVP_PKEY_free(g_int_key);
    EVP_PKEY_free(g_other_key);
    return 0;
}

/* ---- helpers ----------------------------------------------------------- */

typedef struct fx {
    char root[512];
    ks_deploy_opts o;
} fx;

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));

    tmpdir_make(f->root, sizeof(f->root), "deploy");
    f->o.root = f->root;
    f->o.key_gid = (gid_t)-1;
    f->o.owner = (uid_t)-1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;

    tmpdir_remove(f->root);
    free(f);
    return 0;
}

static X509 *leaf_for(EVP_PKEY *key, const char *const *dns,
                      const char *const *ips, long serial)
{
    return tp_cert(&(tp_spec){.cn = dns ? dns[0] : "ip", .dns = dns,
                              .ips = ips, .not_before = g_now - DAY,
                              .not_after = g_now + 90 * DAY, .serial = serial,
                              .key = key, .issuer = g_inter,
                              .issuer_key = g_int_key});
}

/* leaf + intermediate as PEM. */
static char *fullchain(X509 *leaf, X509 *issuer, size_t *len)
{
    X509 *certs[2] = {leaf, issuer};

    return tp_pem(certs, issuer ? 2 : 1, len);
}

static const char *const EXAMPLE[] = {"example.com", "www.example.com", NULL};

/* Deploys a fresh key and certificate for EXAMPLE; returns the version. */
static int deploy_fresh(fx *f, const char *name, EVP_PKEY **key_out)
{
    EVP_PKEY *k = tp_key_ec();
    X509 *x = leaf_for(k, EXAMPLE, NULL, 100);
    size_t len;
    char *pem = fullchain(x, g_inter, &len);
    ks_deploy_result r;
    kw_diag d = {""};
    int rc;

    rc = ks_deploy(&f->o, name, pem, len, k, EXAMPLE, 2, &r, &d);
    if (rc != 0)
        fail_msg("deploy %s: %d %s", name, rc, d.msg);
    free(pem);
    X509_free(x);
    if (key_out != NULL)
        *key_out = k;
    else
        EVP_PKEY_free(k);
    return r.version;
}

static void pathf(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap)
        abort();
}

static void assert_link(fx *f, const char *name, const char *want)
{
    char p[1024], buf[512];
    ssize_t n;

    pathf(p, sizeof(p), "%s/live/%s", f->root, name);
    n = readlink(p, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

/* Sorted, comma-joined entries of a directory ("" when missing). */
static void listing(const char *dir, char *out, size_t cap)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort), i;

    out[0] = '\0';
    for (i = 0; i < n; i++) {
        if (strcmp(ents[i]->d_name, ".") != 0 &&
            strcmp(ents[i]->d_name, "..") != 0) {
            if (out[0] != '\0')
                strncat(out, ",", cap - strlen(out) - 1);
            strncat(out, ents[i]->d_name, cap - strlen(out) - 1);
        }
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
}

static void assert_listing(const char *dir, const char *want)
{
    char got[2048];

    listing(dir, got, sizeof(got));
    assert_string_equal(got, want);
}

static int key_matches_pem(const char *cert, size_t clen, const char *key,
                           size_t klen)
{
    BIO *cb = BIO_new_mem_buf(cert, (int)clen);
    BIO *kb = BIO_new_mem_buf(key, (int)klen);
    X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    int ok = x != NULL && k != NULL && X509_check_private_key(x, k) == 1;

    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    return ok;
}

/* ---- deploy, switch, rollback, prune ------------------------------------ */

static void deploy_v1_files_and_modes(void **state)
{
    fx *f = *state;
    EVP_PKEY *k = tp_key_ec();
    X509 *x = leaf_for(k, EXAMPLE, NULL, 7);
    size_t len, l1, l2, l3, l4;
    char *pem = fullchain(x, g_inter, &len), *want_leaf, *want_chain;
    char p[1024], real[PATH_MAX], *cert, *chain, *full, *priv;
    ks_deploy_result r;
    kw_diag d = {""};
    struct stat st;
    mode_t old = umask(077); /* directories must still come out 0755 */
    int v = -1;

    assert_int_equal(ks_deploy(&f->o, "example", pem, len, k, EXAMPLE, 2,
                               &r, &d),
                     0);
    umask(old);
    assert_int_equal(r.version, 1);
    assert_int_equal(r.previous, 0);
    assert_non_null(realpath(f->root, real));
    pathf(p, sizeof(p), "%s/archive/example/1", real);
    assert_string_equal(r.dir, p);
    pathf(p, sizeof(p), "%s/live/example", real);
    assert_string_equal(r.live, p);

    assert_link(f, "example", "../archive/example/1");
    pathf(p, sizeof(p), "%s/archive/example/1", f->root);
    assert_listing(p, "cert.pem,chain.pem,fullchain.pem,privkey.pem");
    pathf(p, sizeof(p), "%s/live", f->root);
    assert_listing(p, "example");

    /* Contents: re-encoded PEM, leaf / rest / both. */
    want_leaf = tp_pem(&x, 1, &l1);
    want_chain = tp_pem(&g_inter, 1, &l2);
    pathf(p, sizeof(p), "%s/live/example/cert.pem", f->root);
    cert = slurp(p, &l3);
    assert_non_null(cert);
    assert_int_equal(l3, l1);
    assert_memory_equal(cert, want_leaf, l1);
    pathf(p, sizeof(p), "%s/live/example/chain.pem", f->root);
    chain = slurp(p, &l3);
    assert_non_null(chain);
    assert_int_equal(l3, l2);
    assert_memory_equal(chain, want_chain, l2);
    pathf(p, sizeof(p), "%s/live/example/fullchain.pem", f->root);
    full = slurp(p, &l3);
    assert_non_null(full);
    assert_int_equal(l3, len);
    assert_memory_equal(full, pem, len);
    pathf(p, sizeof(p), "%s/live/example/privkey.pem", f->root);
    priv = slurp(p, &l4);
    assert_non_null(priv);
    assert_non_null(strstr(priv, "-----BEGIN PRIVATE KEY-----"));
    assert_true(key_matches_pem(cert, l1, priv, l4));

    /* Modes. */
    pathf(p, sizeof(p), "%s/archive/example/1/privkey.pem", f->root);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    pathf(p, sizeof(p), "%s/archive/example/1/cert.pem", f->root);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    pathf(p, sizeof(p), "%s/archive/example/1", f->root);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    pathf(p, sizeof(p), "%s/archive/example", f->root);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    pathf(p, sizeof(p), "%s/live", f->root);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    pathf(p, sizeof(p), "%s/live/example", f->root);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));

    assert_int_equal(ks_deploy_current(&f->o, "example", &v, &d), 0);
    assert_int_equal(v, 1);
    assert_int_equal(ks_deploy_current(&f->o, "other", &v, &d), 0);
    assert_int_equal(v, 0);

    free(want_leaf);
    free(want_chain);
    free(cert);
    free(chain);
    free(full);
    kw_wipe(priv, l4);
    free(priv);
    free(pem);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void key_mode_0640(void **state)
{
    fx *f = *state;
    EVP_PKEY *k = tp_key_ec();
    X509 *x = leaf_for(k, EXAMPLE, NULL, 7);
    size_t len;
    char *pem = fullchain(x, g_inter, &len), p[1024];
    kw_diag d = {""};
    struct stat st;

    f->o.key_mode = 0640;
    f->o.key_gid = getgid(); /* a group we are in, so fchown may */
    assert_int_equal(ks_deploy(&f->o, "grp", pem, len, k, NULL, 0, NULL, &d),
                     0);
    pathf(p, sizeof(p), "%s/live/grp/privkey.pem", f->root);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_gid, getgid());

    f->o.key_mode = 0644; /* world-readable: never */
    assert_int_equal(ks_deploy(&f->o, "grp", pem, len, k, NULL, 0, NULL, &d),
                     KW_EINVAL);
    assert_non_null(strstr(d.msg, "0644"));
    assert_link(f, "grp", "../archive/grp/1");
    free(pem);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void v2_switches_and_rollback(void **state)
{
    fx *f = *state;
    ks_deploy_result r;
    kw_diag d = {""};
    char p[1024];
    int v;

    assert_int_equal(deploy_fresh(f, "site", NULL), 1);
    assert_int_equal(deploy_fresh(f, "site", NULL), 2);
    assert_link(f, "site", "../archive/site/2");
    assert_int_equal(ks_deploy_current(&f->o, "site", &v, &d), 0);
    assert_int_equal(v, 2);

    assert_int_equal(ks_deploy_rollback(&f->o, "site", &r, &d), 0);
    assert_int_equal(r.version, 1);
    assert_int_equal(r.previous, 2);
    assert_link(f, "site", "../archive/site/1");
    assert_int_equal(ks_deploy_current(&f->o, "site", &v, &d), 0);
    assert_int_equal(v, 1);

    /* Nothing older than 1: fails, changes nothing. */
    assert_int_equal(ks_deploy_rollback(&f->o, "site", &r, &d), KW_ENOTFOUND);
    assert_non_null(strstr(d.msg, "site"));
    assert_link(f, "site", "../archive/site/1");

    /* The next version after a rollback is a new number, not 2 again. */
    assert_int_equal(deploy_fresh(f, "site", NULL), 3);
    assert_link(f, "site", "../archive/site/3");
    pathf(p, sizeof(p), "%s/archive/site", f->root);
    assert_listing(p, "1,2,3");

    /* A damaged version is skipped by rollback. */
    pathf(p, sizeof(p), "%s/archive/site/2/privkey.pem", f->root);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(ks_deploy_rollback(&f->o, "site", &r, &d), 0);
    assert_int_equal(r.version, 1);
    assert_int_equal(r.previous, 3);

    /* Nothing deployed at all. */
    assert_int_equal(ks_deploy_rollback(&f->o, "none", &r, &d), KW_ENOTFOUND);
}

static void keep_prunes(void **state)
{
    fx *f = *state;
    char p[1024];
    int i;

    f->o.keep = 2;
    for (i = 1; i <= 4; i++)
        assert_int_equal(deploy_fresh(f, "site", NULL), i);
    pathf(p, sizeof(p), "%s/archive/site", f->root);
    assert_listing(p, "3,4");
    assert_link(f, "site", "../archive/site/4");

    f->o.keep = 1;
    assert_int_equal(deploy_fresh(f, "site", NULL), 5);
    assert_listing(p, "5");

    /* The default keeps 5. */
    f->o.keep = 0;
    for (i = 6; i <= 12; i++)
        assert_int_equal(deploy_fresh(f, "site", NULL), i);
    assert_listing(p, "10,11,12,8,9");
}

/* ---- rejections leave live/ alone --------------------------------------- */

typedef struct snap {
    char link[512];
    char *file[4];
    size_t len[4];
    char archive[2048];
    char live[2048];
} snap;

static const char *const FILES[4] = {"cert.pem", "chain.pem", "fullchain.pem",
                                     "privkey.pem"};

static void take(fx *f, const char *name, snap *s)
{
    char p[1024];
    ssize_t n;
    int i;

    pathf(p, sizeof(p), "%s/live/%s", f->root, name);
    n = readlink(p, s->link, sizeof(s->link) - 1);
    assert_true(n > 0);
    s->link[n] = '\0';
    for (i = 0; i < 4; i++) {
        pathf(p, sizeof(p), "%s/live/%s/%s", f->root, name, FILES[i]);
        s->file[i] = slurp(p, &s->len[i]);
        assert_non_null(s->file[i]);
    }
    pathf(p, sizeof(p), "%s/archive/%s", f->root, name);
    listing(p, s->archive, sizeof(s->archive));
    pathf(p, sizeof(p), "%s/live", f->root);
    listing(p, s->live, sizeof(s->live));
}

static void assert_same(fx *f, const char *name, const snap *before)
{
    snap now;
    int i;

    take(f, name, &now);
    assert_string_equal(now.link, before->link);
    for (i = 0; i < 4; i++) {
        assert_int_equal(now.len[i], before->len[i]);
        assert_memory_equal(now.file[i], before->file[i], now.len[i]);
        free(now.file[i]);
    }
    assert_string_equal(now.archive, before->archive);
    assert_string_equal(now.live, before->live);
}

#define REJECT(pem, len, key, names, nnames, code, fragment)               \
    do {                                                                   \
        kw_diag d_ = {""};                                                 \
        int rc_ = ks_deploy(&f->o, "example", (pem), (len), (key), (names),\
                            (nnames), NULL, &d_);                          \
        if (rc_ != (code) || strstr(d_.msg, (fragment)) == NULL ||         \
            strstr(d_.msg, "example") == NULL)                             \
            fail_msg("got %d \"%s\", want %d \"%s\"", rc_, d_.msg,         \
                     (code), (fragment));                                  \
        assert_same(f, "example", &before);                                \
    } while (0)

static void rejections_change_nothing(void **state)
{
    fx *f = *state;
    EVP_PKEY *k = tp_key_ec(), *k2 = tp_key_ec();
    X509 *x = leaf_for(k, EXAMPLE, NULL, 10);
    X509 *by_other = tp_cert(&(tp_spec){.cn = "example.com", .dns = EXAMPLE,
                                        .not_before = g_now - DAY,
                                        .not_after = g_now + 90 * DAY,
                                        .serial = 11, .key = k,
                                        .issuer = g_other,
                                        .issuer_key = g_other_key});
    const char *const www[] = {"www.example.com"};
    const char *const mail[] = {"example.com", "mail.example.com"};
    const char *const ip[] = {"192.0.2.1"};
    const char *const empty[] = {""};
    size_t len, l2;
    char *pem, *pem2, *withkey;
    snap before;
    BIO *b;
    BUF_MEM *m;
    int i;

    assert_int_equal(deploy_fresh(f, "example", NULL), 1);
    take(f, "example", &before);

    /* The key does not match. */
    pem = fullchain(x, g_inter, &len);
    REJECT(pem, len, k2, www, 1, KW_EPARSE,
           "private key does not match the certificate");
    /* A name not covered. */
    REJECT(pem, len, k, mail, 2, KW_EPARSE,
           "certificate example: the certificate does not cover "
           "mail.example.com (its names: example.com, www.example.com)");
    REJECT(pem, len, k, ip, 1, KW_EPARSE, "does not cover 192.0.2.1");
    REJECT(pem, len, k, empty, 1, KW_EINVAL, "empty");
    /* The chain's first certificate did not sign the leaf. */
    pem2 = fullchain(x, g_other, &l2);
    REJECT(pem2, l2, k, www, 1, KW_EPARSE,
           "issuer (/O=Test/CN=Deploy Issuing CA) is not the first chain "
           "certificate (/O=Elsewhere/CN=Other CA)");
    free(pem2);
    pem2 = fullchain(x, g_fake_inter, &l2);
    REJECT(pem2, l2, k, www, 1, KW_EPARSE,
           "signature does not verify with the key of the first chain "
           "certificate");
    free(pem2);
    pem2 = fullchain(by_other, g_inter, &l2);
    REJECT(pem2, l2, k, www, 1, KW_EPARSE, "is not the first chain");
    free(pem2);
    /* Not certificates at all. */
    REJECT("", 0, k, www, 1, KW_EPARSE, "holds no certificate");
    REJECT("hello\n", 6, k, www, 1, KW_EPARSE, "holds no certificate");
    pem2 = strdup("-----BEGIN CERTIFICATE-----\nAAAA\n"
                  "-----END CERTIFICATE-----\n");
    REJECT(pem2, strlen(pem2), k, www, 1, KW_EPARSE,
           "not a valid X.509 certificate");
    free(pem2);
    /* A private key in the chain would end up in a 0644 file. */
    b = BIO_new(BIO_s_mem());
    BIO_write(b, pem, (int)len);
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    BIO_get_mem_ptr(b, &m);
    withkey = malloc(m->length);
    memcpy(withkey, m->data, m->length);
    REJECT(withkey, m->length, k, www, 1, KW_EPARSE,
           "holds a \"PRIVATE KEY\" PEM block");
    free(withkey);
    BIO_free(b);
    /* Truncated PEM. */
    REJECT(pem, len - 40, k, www, 1, KW_EPARSE, "not valid PEM");

    for (i = 0; i < 4; i++)
        free(before.file[i]);
    free(pem);
    X509_free(x);
    X509_free(by_other);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
}

static void names_and_wildcards(void **state)
{
    fx *f = *state;
    EVP_PKEY *k = tp_key_ec();
    const char *const dns[] = {"*.example.com", "example.com", NULL};
    const char *const ips[] = {"192.0.2.7", "2001:db8::1", NULL};
    const char *const ok[] = {"example.com", "a.example.com",
                              "*.example.com", "EXAMPLE.COM", "192.0.2.7",
                              "2001:db8:0::1"};
    const char *const bad[] = {"a.b.example.com", "example.org",
                               "192.0.2.8", "2001:db8::2", "*.b.example.com",
                               "*.com"};
    X509 *x = leaf_for(k, dns, ips, 20);
    size_t len, i;
    char *pem = fullchain(x, NULL, &len); /* no chain: allowed */
    kw_diag d = {""};

    assert_int_equal(ks_deploy(&f->o, "wild", pem, len, k, ok, 6, NULL, &d),
                     0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = ks_deploy(&f->o, "wild", pem, len, k, &bad[i], 1, NULL, &d);
        assert_int_equal(rc, KW_EPARSE);
        assert_non_null(strstr(d.msg, "does not cover"));
        assert_non_null(strstr(d.msg, bad[i]));
        assert_non_null(
            strstr(d.msg, "*.example.com, example.com, 192.0.2.7, "
                          "2001:db8::1"));
    }
    assert_link(f, "wild", "../archive/wild/1");
    free(pem);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void invalid_names(void **state)
{
    fx *f = *state;
    EVP_PKEY *k = tp_key_ec();
    X509 *x = leaf_for(k, EXAMPLE, NULL, 30);
    size_t len, i;
    char *pem = fullchain(x, g_inter, &len), longname[202], p[1024];
    const char *bad[] = {"", ".hidden", "..", ".", "a/b", "../x", "a b",
                         "a\nb", "é", "a*", longname, NULL};
    kw_diag d = {""};
    int v;

    memset(longname, 'n', 201);
    longname[201] = '\0';
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        d.msg[0] = '\0';
        assert_int_equal(ks_deploy(&f->o, bad[i], pem, len, k, NULL, 0,
                                   NULL, &d),
                         KW_EINVAL);
        assert_non_null(strstr(d.msg, "invalid name"));
        assert_int_equal(ks_deploy_current(&f->o, bad[i], &v, &d),
                         KW_EINVAL);
        assert_int_equal(ks_deploy_rollback(&f->o, bad[i], NULL, &d),
                         KW_EINVAL);
        assert_int_equal(ks_deploy_cleanup(&f->o, bad[i], &d), KW_EINVAL);
    }
    /* Nothing was created for them. */
    assert_int_equal(access(f->root, F_OK), 0);
    pathf(p, sizeof(p), "%s/archive", f->root);
    assert_int_equal(access(p, F_OK), -1);

    /* 200 bytes and the whole alphabet are fine. */
    longname[200] = '\0';
    assert_int_equal(ks_deploy(&f->o, longname, pem, len, k, NULL, 0, NULL,
                               &d),
                     0);
    assert_int_equal(ks_deploy(&f->o, "A-z_0.9-", pem, len, k, NULL, 0, NULL,
                               &d),
                     0);
    assert_int_equal(ks_deploy_current(&f->o, "A-z_0.9-", &v, &d), 0);
    assert_int_equal(v, 1);
    free(pem);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* ---- crashes, planted links, foreign files ------------------------------ */

static void crash_leftovers(void **state)
{
    fx *f = *state;
    char p[1024], q[1024];
    kw_diag d = {""};
    int v;

    assert_int_equal(deploy_fresh(f, "site", NULL), 1);
    /* A crash while writing version 7 (say), and one during a switch. */
    pathf(p, sizeof(p), "%s/archive/site/7.tmp-x", f->root);
    assert_int_equal(mkdir(p, 0755), 0);
    pathf(q, sizeof(q), "%s/cert.pem", p);
    tp_write_bytes(q, "x", 1, 0644);
    pathf(q, sizeof(q), "%s/privkey.pem.tmp-1-ab", p);
    tp_write_bytes(q, "k", 1, 0600);
    pathf(p, sizeof(p), "%s/live/.site.tmp-123-abcdef", f->root);
    assert_int_equal(symlink("../archive/site/7.tmp-x", p), 0);
    /* Not ours: another NAME's temp link, a stranger's file. */
    pathf(p, sizeof(p), "%s/live/.site.tmp-x.tmp-1-ab", f->root);
    assert_int_equal(symlink("../archive/site.tmp-x/1", p), 0);
    pathf(p, sizeof(p), "%s/archive/site/notes.txt", f->root);
    tp_write_bytes(p, "hi", 2, 0644);

    /* The leftover is not a version: the next one is 2, not 8. */
    assert_int_equal(deploy_fresh(f, "site", NULL), 2);
    assert_int_equal(ks_deploy_current(&f->o, "site", &v, &d), 0);
    assert_int_equal(v, 2);
    /* Nor a rollback target. */
    assert_int_equal(ks_deploy_rollback(&f->o, "site", NULL, &d), 0);
    assert_link(f, "site", "../archive/site/1");

    assert_int_equal(ks_deploy_cleanup(&f->o, "site", &d), 0);
    pathf(p, sizeof(p), "%s/archive/site", f->root);
    assert_listing(p, "1,2,notes.txt");
    pathf(p, sizeof(p), "%s/live", f->root);
    assert_listing(p, ".site.tmp-x.tmp-1-ab,site");
    assert_link(f, "site", "../archive/site/1");

    /* Cleanup of a NAME never deployed, or with no root: nothing to do. */
    assert_int_equal(ks_deploy_cleanup(&f->o, "never", &d), 0);

    /* A leftover holding a file we did not write stays, and says so. */
    pathf(p, sizeof(p), "%s/archive/site/3.tmp-y", f->root);
    assert_int_equal(mkdir(p, 0755), 0);
    pathf(q, sizeof(q), "%s/stranger", p);
    tp_write_bytes(q, "s", 1, 0644);
    assert_int_equal(ks_deploy_cleanup(&f->o, "site", &d), KW_EIO);
    assert_non_null(strstr(d.msg, "3.tmp-y"));
    assert_int_equal(access(q, F_OK), 0);
}

static void planted_symlinks_not_followed(void **state)
{
    fx *f = *state;
    char p[1024], outside[1024], q[1024];
    ks_deploy_result r;
    kw_diag d = {""};
    int i, v;

    pathf(outside, sizeof(outside), "%s/outside", f->root);
    assert_int_equal(mkdir(outside, 0755), 0);
    for (i = 0; i < 4; i++) {
        pathf(q, sizeof(q), "%s/%s", outside, FILES[i]);
        tp_write_bytes(q, "precious", 8, 0644);
    }
    assert_int_equal(deploy_fresh(f, "site", NULL), 1);
    assert_int_equal(deploy_fresh(f, "site", NULL), 2);
    /* A symlink posing as version 5, and one as a crash leftover. */
    pathf(p, sizeof(p), "%s/archive/site/5", f->root);
    assert_int_equal(symlink(outside, p), 0);
    pathf(p, sizeof(p), "%s/archive/site/6.tmp-z", f->root);
    assert_int_equal(symlink(outside, p), 0);

    /* Never a target for rollback, never pruned through, never reused. */
    f->o.keep = 1;
    assert_int_equal(deploy_fresh(f, "site", NULL), 6);
    assert_int_equal(ks_deploy_rollback(&f->o, "site", &r, &d), KW_ENOTFOUND);
    assert_int_equal(ks_deploy_cleanup(&f->o, "site", &d), 0);
    pathf(p, sizeof(p), "%s/archive/site", f->root);
    assert_listing(p, "5,6,6.tmp-z");
    assert_listing(outside,
                   "cert.pem,chain.pem,fullchain.pem,privkey.pem");

    /* A live/NAME that is not our link is not replaced. */
    pathf(p, sizeof(p), "%s/live/plain", f->root);
    tp_write_bytes(p, "file", 4, 0644);
    assert_int_equal(ks_deploy_current(&f->o, "plain", &v, &d), KW_EPARSE);
    f->o.keep = 0;
    {
        EVP_PKEY *k = tp_key_ec();
        X509 *x = leaf_for(k, EXAMPLE, NULL, 40);
        size_t len;
        char *pem = fullchain(x, g_inter, &len);

        assert_int_equal(ks_deploy(&f->o, "plain", pem, len, k, NULL, 0,
                                   NULL, &d),
                         KW_EPARSE);
        assert_non_null(strstr(d.msg, "not replacing"));
        pathf(q, sizeof(q), "%s/live/foreign", f->root);
        assert_int_equal(symlink("/etc", q), 0);
        assert_int_equal(ks_deploy_current(&f->o, "foreign", &v, &d),
                         KW_EPARSE);
        assert_int_equal(ks_deploy(&f->o, "foreign", pem, len, k, NULL, 0,
                                   NULL, &d),
                         KW_EPARSE);
        /* archive/NAME itself a symlink: refused. */
        pathf(q, sizeof(q), "%s/archive/linked", f->root);
        assert_int_equal(symlink(outside, q), 0);
        assert_true(ks_deploy(&f->o, "linked", pem, len, k, NULL, 0, NULL,
                              &d) < 0);
        assert_non_null(strstr(d.msg, "symlink is not followed"));
        free(pem);
        X509_free(x);
        EVP_PKEY_free(k);
    }
    assert_listing(outside,
                   "cert.pem,chain.pem,fullchain.pem,privkey.pem");
}

/* ---- two deployers of one NAME ------------------------------------------ */

typedef struct deployer {
    fx *f;
    int failures;
    int versions[5];
} deployer;

static void *deployer_main(void *arg)
{
    deployer *dp = arg;
    int i;

    for (i = 0; i < 5; i++) {
        EVP_PKEY *k = tp_key_ec();
        X509 *x = leaf_for(k, EXAMPLE, NULL, 500 + i);
        size_t len;
        char *pem = fullchain(x, g_inter, &len);
        ks_deploy_result r;
        kw_diag d = {""};

        if (ks_deploy(&dp->f->o, "busy", pem, len, k, EXAMPLE, 2, &r, &d) !=
            0)
            dp->failures++;
        else
            dp->versions[i] = r.version;
        free(pem);
        X509_free(x);
        EVP_PKEY_free(k);
    }
    return NULL;
}

static void concurrent_deploys_get_distinct_versions(void **state)
{
    fx *f = *state;
    deployer a = {f, 0, {0}}, b = {f, 0, {0}};
    pthread_t ta, tb;
    int seen[11] = {0}, i;
    char p[1024];

    f->o.keep = 20;
    assert_int_equal(pthread_create(&ta, NULL, deployer_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, deployer_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.failures + b.failures, 0);
    for (i = 0; i < 5; i++) {
        assert_in_range(a.versions[i], 1, 10);
        assert_in_range(b.versions[i], 1, 10);
        seen[a.versions[i]]++;
        seen[b.versions[i]]++;
    }
    for (i = 1; i <= 10; i++)
        assert_int_equal(seen[i], 1);
    pathf(p, sizeof(p), "%s/archive/busy", f->root);
    assert_listing(p, "1,10,2,3,4,5,6,7,8,9");
    assert_link(f, "busy", "../archive/busy/10");
}

/* ---- readers never see a mixed pair ------------------------------------- */

typedef struct reader {
    const char *root;
    atomic_int stop;
    atomic_long pairs;  /* read through one open of live/NAME */
    long mismatched;    /* ... whose cert and key differ: must be 0 */
    long link_missing;  /* live/NAME did not resolve: must be 0 */
    long incomplete;    /* a file missing in a live version: must be 0 */
    long pruned;        /* version pruned under the reader: skipped */
    long path_pairs;    /* read by two path opens, like most servers */
    long path_mixed;    /* ... whose cert and key differ: reported */
} reader;

static char *read_at(int dfd, const char *name, size_t *len)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    char *buf;
    size_t got = 0;

    if (fd < 0)
        return NULL;
    buf = malloc(65536);
    if (kw_read_fd(fd, (unsigned char *)buf, 65535, &got) != 0) {
        free(buf);
        close(fd);
        return NULL;
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    return buf;
}

static void *reader_main(void *arg)
{
    reader *rd = arg;
    char live[1024], cp[1024], kp[1024];

    pathf(live, sizeof(live), "%s/live/site", rd->root);
    pathf(cp, sizeof(cp), "%s/cert.pem", live);
    pathf(kp, sizeof(kp), "%s/privkey.pem", live);
    while (!atomic_load(&rd->stop)) {
        size_t cl = 0, kl = 0;
        char *c, *k;
        int dfd = open(live, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd < 0) {
            rd->link_missing++;
            continue;
        }
        c = read_at(dfd, "cert.pem", &cl);
        k = read_at(dfd, "privkey.pem", &kl);
        if (c == NULL || k == NULL) {
            struct stat st;

            /* Only a version pruned under us (its directory gone) may
             * lack a file; a live version never may. */
            if (fstat(dfd, &st) == 0 && st.st_nlink == 0)
                rd->pruned++;
            else
                rd->incomplete++;
        } else {
            rd->pairs++;
            if (!key_matches_pem(c, cl, k, kl))
                rd->mismatched++;
        }
        close(dfd);
        free(c);
        if (k != NULL)
            kw_wipe(k, kl);
        free(k);

        /* The way nginx and most servers read: two opens by path. */
        c = slurp(cp, &cl);
        k = slurp(kp, &kl);
        if (c != NULL && k != NULL) {
            rd->path_pairs++;
            if (!key_matches_pem(c, cl, k, kl))
                rd->path_mixed++;
        }
        free(c);
        free(k);
    }
    return NULL;
}

#define NVERSIONS 50

static void readers_see_whole_versions(void **state)
{
    fx *f = *state;
    EVP_PKEY *keys[NVERSIONS];
    char *pems[NVERSIONS];
    size_t lens[NVERSIONS];
    reader rd;
    pthread_t th;
    kw_diag d = {""};
    int i;

    for (i = 0; i < NVERSIONS; i++) {
        X509 *x;

        keys[i] = tp_key_ec();
        x = leaf_for(keys[i], EXAMPLE, NULL, 1000 + i);
        pems[i] = fullchain(x, g_inter, &lens[i]);
        X509_free(x);
    }
    memset(&rd, 0, sizeof(rd));
    rd.root = f->root;
    atomic_init(&rd.stop, 0);
    atomic_init(&rd.pairs, 0);
    assert_int_equal(ks_deploy(&f->o, "site", pems[0], lens[0], keys[0],
                               EXAMPLE, 2, NULL, &d),
                     0);
    assert_int_equal(pthread_create(&th, NULL, reader_main, &rd), 0);
    for (i = 1; i < NVERSIONS; i++) {
        ks_deploy_result r;

        if (ks_deploy(&f->o, "site", pems[i], lens[i], keys[i], EXAMPLE, 2,
                      &r, &d) != 0)
            fail_msg("deploy %d: %s", i + 1, d.msg);
        assert_int_equal(r.version, i + 1);
        /* Give the reader a few rounds per version. */
        for (int spin = 0; spin < 50 && atomic_load(&rd.pairs) < (long)i * 3; spin++)
            usleep(1000);
    }
    atomic_store(&rd.stop, 1);
    pthread_join(th, NULL);
    print_message("reader: %ld pairs through one open of live/site, %ld "
                  "mixed, %ld incomplete, %ld skipped (pruned); %ld pairs by "
                  "two path opens, %ld mixed\n",
                  atomic_load(&rd.pairs), rd.mismatched, rd.incomplete,
                  rd.pruned, rd.path_pairs,
                  rd.path_mixed);
    assert_true(atomic_load(&rd.pairs) > NVERSIONS);
    assert_int_equal(rd.mismatched, 0);
    assert_int_equal(rd.link_missing, 0);
    assert_int_equal(rd.incomplete, 0);
    assert_link(f, "site", "../archive/site/50");
    for (i = 0; i < NVERSIONS; i++) {
        free(pems[i]);
        EVP_PKEY_free(keys[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(deploy_v1_files_and_modes, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(key_mode_0640, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(v2_switches_and_rollback, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(keep_prunes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(rejections_change_nothing, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(names_and_wildcards, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(invalid_names, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(crash_leftovers, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(planted_symlinks_not_followed,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            concurrent_deploys_get_distinct_versions, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(readers_see_whole_versions, fx_setup,
                                        fx_teardown),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
