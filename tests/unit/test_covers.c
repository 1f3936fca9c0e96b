/*
 * One rule for "does this certificate cover this name": ks_cert_covers,
 * and the deployment's check (which refuses a certificate that does not
 * cover a configured name) gives the same answer for every case, so a
 * renewal never finds "covered, not due" what the deployment would
 * refuse, or the reverse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/x509.h>
#include <time.h>

#include "keystore/ks_deploy.h"
#include "keystore/ks_keygen.h"
#include "testpki.h"
#include "tmpdir.h"

#define DAY INT64_C(86400)

static const struct {
    const char *name;
    int covered;
} cases[] = {
    /* A wildcard is exactly one whole leftmost label. */
    {"a.example.com", 1},
    {"A.Example.COM", 1},
    {"*.example.com", 1},
    {"a.b.example.com", 0},
    {"example.com", 0},
    {"*.b.example.com", 0},
    /* No partial wildcards: "f*.example.io" covers nothing. */
    {"foo.example.io", 0},
    {"f.example.io", 0},
    /* Plain DNS names, case-insensitive; a trailing dot is not the
     * certificate's name. */
    {"www.example.org", 1},
    {"WWW.EXAMPLE.ORG", 1},
    {"mixed.example.net", 1},
    {"www.example.org.", 0},
    {"example.org", 0},
    /* IP addresses match iPAddress SANs only, in any spelling inet_pton
     * reads; a dNSName that looks like an address is not one. */
    {"192.0.2.1", 1},
    {"192.0.2.2", 0},
    {"2001:db8::1", 1},
    {"2001:DB8:0:0::1", 1},
    {"2001:db8::2", 0},
    {"198.51.100.7", 0},
    /* Not an address (three parts): a DNS name, and none matches. */
    {"192.0.2", 0},
};

static EVP_PKEY *g_ca_key, *g_key;
static X509 *g_ca, *g_leaf;

static int setup(void **state)
{
    static const char *const dns[] = {"*.example.com", "www.example.org",
                                      "Mixed.Example.NET", "f*.example.io",
                                      "198.51.100.7", NULL};
    static const char *const ips[] = {"192.0.2.1", "2001:db8::1", NULL};
    int64_t now = (int64_t)time(NULL);

    (void)state;
    g_ca_key = tp_key_ec();
    g_key = tp_key_ec();
    g_ca = tp_cert(&(tp_spec){.cn = "Covers CA", .not_before = now - DAY,
                              .not_after = now + 365 * DAY, .is_ca = 1,
                              .serial = 1, .key = g_ca_key});
    g_leaf = tp_cert(&(tp_spec){.cn = "www.example.org", .dns = dns,
                                .ips = ips, .not_before = now - DAY,
                                .not_after = now + 90 * DAY, .serial = 2,
                                .key = g_key, .issuer = g_ca,
                                .issuer_key = g_ca_key});
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    X509_free(g_leaf);
    X509_free(g_ca);
    EVP_PKEY_free(g_key);
    EVP_PKEY_free(g_ca_key);
    return 0;
}

static void the_rule(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (ks_cert_covers(g_leaf, cases[i].name) != cases[i].covered)
            fail_msg("%s: covered %d, expected %d", cases[i].name,
                     ks_cert_covers(g_leaf, cases[i].name),
                     cases[i].covered);
}

/* The deployment accepts the certificate for a name exactly when the
 * rule says it covers it. */
static void deploy_agrees(void **state)
{
    X509 *chain[2] = {g_leaf, g_ca};
    char root[512];
    ks_deploy_opts o;
    ks_deploy_result r;
    kw_diag d;
    size_t i, len;
    char *pem = tp_pem(chain, 2, &len);

    (void)state;
    tmpdir_make(root, sizeof(root), "covers");
    memset(&o, 0, sizeof(o));
    o.root = root;
    o.key_gid = (gid_t)-1;
    o.owner = (uid_t)-1;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *names[1] = {cases[i].name};
        int rc = ks_deploy(&o, "c", pem, len, g_key, names, 1, &r, &d);

        if ((rc == 0) != cases[i].covered)
            fail_msg("%s: deploy returned %d (%s), the rule says %d",
                     cases[i].name, rc, rc != 0 ? d.msg : "",
                     cases[i].covered);
        if (rc != 0)
            assert_non_null(strstr(d.msg, "does not cover"));
    }
    free(pem);
    tmpdir_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_rule),
        cmocka_unit_test(deploy_agrees),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
