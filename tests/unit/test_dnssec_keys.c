/*
 * test_dnssec_keys.c: the DNSSEC key inventory's readers against keys made
 * at test time by BIND's dnssec-keygen and dnssec-settime (plain and
 * dnssec-policy with .state files) and by Knot's keymgr on a Knot
 * configuration with its own KASP; the RFC 7583 stages from timing data;
 * malformed files and keymgr output named by file and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include "common/kw_proc.h"
#include "dnssec/dnssec_bind.h"
#include "dnssec/dnssec_knot.h"
#include "tmpdir.h"

static char dir[256];

static int setup(void **state)
{
    tmpdir_make(dir, sizeof dir, "dnssec");
    return 0;
}

static int teardown(void **state)
{
    tmpdir_remove(dir);
    return 0;
}

/* Run argv to its end; its first output line into out (if given). */
static void run_ok(const char *const argv[], char *out, size_t cap)
{
    char buf[8192];
    int status = -1;
    kw_diag d = { { 0 } };

    if (kw_proc_run(argv, NULL, 120000, buf, sizeof buf, &status, &d) < 0 ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s failed: %s %s", argv[0], d.msg, buf);
    if (out) {
        size_t len = strcspn(buf, "\n");

        assert_true(len < cap);
        memcpy(out, buf, len);
        out[len] = '\0';
    }
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

/* 2026-12-04T00:00:00Z and days from it. */
#define T0 INT64_C(1796342400)
#define DAY INT64_C(86400)

static void test_stage_zsk(void **state)
{
    kw_dnssec_key k = { .role = KW_DNSSEC_ZSK, .publish = T0,
                        .activate = T0 + 2 * DAY, .inactive = T0 + 30 * DAY,
                        .delete_ = T0 + 40 * DAY };
    kw_dnssec_stage next;
    int64_t at;

    assert_int_equal(kw_dnssec_key_stage(&k, T0 - 1, &next, &at),
                     KW_DNSSEC_ST_GENERATED);
    assert_int_equal(next, KW_DNSSEC_ST_PUBLISHED);
    assert_int_equal(at, T0);
    assert_int_equal(kw_dnssec_key_stage(&k, T0, &next, &at),
                     KW_DNSSEC_ST_PUBLISHED);
    assert_int_equal(next, KW_DNSSEC_ST_ACTIVE);
    assert_int_equal(at, T0 + 2 * DAY);
    assert_int_equal(kw_dnssec_key_stage(&k, T0 + 29 * DAY, &next, &at),
                     KW_DNSSEC_ST_ACTIVE);
    assert_int_equal(next, KW_DNSSEC_ST_RETIRED);
    assert_int_equal(kw_dnssec_key_stage(&k, T0 + 30 * DAY, &next, &at),
                     KW_DNSSEC_ST_RETIRED);
    assert_int_equal(at, T0 + 40 * DAY);
    assert_int_equal(kw_dnssec_key_stage(&k, T0 + 41 * DAY, &next, &at),
                     KW_DNSSEC_ST_REMOVED);
    assert_int_equal(next, 0);
    assert_int_equal(at, 0);
    assert_string_equal(kw_dnssec_stage_name(KW_DNSSEC_ST_RETIRED), "retired");
    assert_string_equal(kw_dnssec_role_name(KW_DNSSEC_CSK), "csk");
    assert_string_equal(kw_dnssec_stage_name(0), "?");
}

static void test_stage_ksk_ready(void **state)
{
    /* A KSK signing from activate whose DS may go up only at sync_publish
     * is "ready" in between. */
    kw_dnssec_key k = { .role = KW_DNSSEC_KSK, .publish = T0,
                        .activate = T0 + DAY, .sync_publish = T0 + 3 * DAY };
    kw_dnssec_key none = { .role = KW_DNSSEC_KSK };
    kw_dnssec_key odd = { .role = KW_DNSSEC_ZSK, .publish = T0 + 5 * DAY,
                          .activate = T0 };
    kw_dnssec_stage next;
    int64_t at;

    assert_int_equal(kw_dnssec_key_stage(&k, T0 + DAY, &next, &at),
                     KW_DNSSEC_ST_READY);
    assert_int_equal(next, KW_DNSSEC_ST_ACTIVE);
    assert_int_equal(at, T0 + 3 * DAY);
    assert_int_equal(kw_dnssec_key_stage(&k, T0 + 3 * DAY, NULL, NULL),
                     KW_DNSSEC_ST_ACTIVE);
    /* The same times on a ZSK: no ready stage. */
    k.role = KW_DNSSEC_ZSK;
    assert_int_equal(kw_dnssec_key_stage(&k, T0 + DAY, NULL, NULL),
                     KW_DNSSEC_ST_ACTIVE);
    assert_int_equal(kw_dnssec_key_stage(&none, T0, &next, &at),
                     KW_DNSSEC_ST_GENERATED);
    assert_int_equal(next, 0);
    /* Activate before publish never moves the key backwards. */
    assert_int_equal(kw_dnssec_key_stage(&odd, T0 + 6 * DAY, &next, &at),
                     KW_DNSSEC_ST_ACTIVE);
    assert_int_equal(next, 0);
}

static void test_dnskey_vectors(void **state)
{
    kw_dnssec_key k = { 0 };
    kw_diag d = { { 0 } };

    /* Keys made by dnssec-keygen, whose file names gave these tags. */
    assert_int_equal(kw_dnssec_key_set_dnskey(&k, "257 3 13 U2sXbp35mo9shvI"
        "IUAZ+wJ6+7vagdD/QZUjHvH+xHupoSsB2SmofADu/ FAO+xrwtjWggqhoQ+qeLAq8fO"
        "SPV5w==", &d), 0);
    assert_int_equal(k.tag, 30524);
    assert_int_equal(k.flags, 257);
    assert_int_equal(k.algorithm, 13);
    assert_int_equal(k.bits, 256);
    assert_string_equal(k.dnskey, "257 3 13 U2sXbp35mo9shvIIUAZ+wJ6+7vagdD/QZU"
        "jHvH+xHupoSsB2SmofADu/FAO+xrwtjWggqhoQ+qeLAq8fOSPV5w==");
    assert_int_equal(kw_dnssec_key_set_dnskey(&k, "256 3 8 AwEAAbeUiqPeQ8gVLY"
        "/yO2cO74tWROpkTkOII0TDDCbei0D9xzcfI472 yuYkJJmBT/IG7pYqPZR4vvweq9xX"
        "W7OMCb+GacRSZMZQKKEx4JtqfCp2 G7ZFD5hGT7eTTKedvFe44L9/DJ8ZfgKgDwjVvkn"
        "AoNM6Tu5TCQTaA0yw gYF+bLxgHWh3Yuq6PNDN847DD9V6Cf5owhqRS3GE6DiIWQG6wc"
        "jMiO1l 0nrLeWa6GL/66hHhdSlr4bKvD3YIwIapmwJwCmD7hKpcUrEnwTqbVcIb 1f+0"
        "f0mP13N79tHqM9xQDeXfTXoUxP70wk8H3J0taYocLGc7AKkJmL+N +a6CGbH5hgE=",
        &d), 0);
    assert_int_equal(k.tag, 35619);
    assert_int_equal(k.bits, 2048);
    assert_int_equal(kw_dnssec_key_set_dnskey(&k, "257 4 13 U2sXbp35mo9shvIIUA"
        "Z+wJ6+7vagdD/QZUjHvH+xHupoSsB2SmofADu/", &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "protocol is 4"));
    assert_int_equal(kw_dnssec_key_set_dnskey(&k, "257 3 13 !!!", &d), KW_EPARSE);
    assert_int_equal(kw_dnssec_key_set_dnskey(&k, "", &d), KW_EPARSE);
}

/* dnssec-keygen's name for a key ("Kexample.test.+013+12345") read from
 * its output; the tag from the name. */
static unsigned name_tag(const char *name)
{
    const char *p = strrchr(name, '+');

    assert_non_null(p);
    return (unsigned)atoi(p + 1);
}

static void test_bind_keygen(void **state)
{
    char ksk[128], zsk[128], other[128], path[512];
    kw_dnssec_bind_key keys[8];
    size_t n = 0;
    kw_diag d = { { 0 } };
    unsigned tz;

    run_ok((const char *const[]){ "dnssec-keygen", "-q", "-K", dir, "-a",
           "ECDSAP256SHA256", "-f", "KSK", "Example.TEST", NULL }, ksk, sizeof ksk);
    run_ok((const char *const[]){ "dnssec-keygen", "-q", "-K", dir, "-a",
           "RSASHA256", "-b", "2048", "example.test", NULL }, zsk, sizeof zsk);
    run_ok((const char *const[]){ "dnssec-keygen", "-q", "-K", dir, "-a",
           "ED25519", "other.test", NULL }, other, sizeof other);
    path_join(path, sizeof path, dir, zsk);
    /* 2026-12-04, +2 d, +30 d, +40 d. */
    run_ok((const char *const[]){ "dnssec-settime", "-K", dir, "-P",
           "20261204000000", "-A", "20261206000000", "-I", "20270103000000",
           "-D", "20270113000000", zsk, NULL }, NULL, 0);

    assert_int_equal(kw_dnssec_bind_read_dir(dir, "example.test.", keys, 8,
                                             &n, &d), 0);
    assert_int_equal(n, 2);
    tz = name_tag(zsk);
    for (size_t i = 0; i < n; i++) {
        kw_dnssec_key *k = &keys[i].key;

        assert_string_equal(k->zone, "example.test");
        assert_string_equal(k->signer, "bind");
        assert_true(keys[i].has_private);
        assert_int_equal(keys[i].private_mode & 077, 0);
        assert_string_equal(keys[i].note, "");
        assert_false(keys[i].has_state);
        assert_non_null(strstr(k->source, k->tag == tz ? zsk : ksk));
        assert_true(k->created > T0 - 365 * DAY);
        if (k->tag == tz) {
            assert_int_equal(k->role, KW_DNSSEC_ZSK);
            assert_int_equal(k->algorithm, 8);
            assert_int_equal(k->bits, 2048);
            assert_int_equal(k->flags, 256);
            assert_int_equal(k->publish, T0);
            assert_int_equal(k->activate, T0 + 2 * DAY);
            assert_int_equal(k->inactive, T0 + 30 * DAY);
            assert_int_equal(k->delete_, T0 + 40 * DAY);
            assert_int_equal(kw_dnssec_key_stage(k, T0 + DAY, NULL, NULL),
                             KW_DNSSEC_ST_PUBLISHED);
            assert_int_equal(kw_dnssec_key_stage(k, T0 + 35 * DAY, NULL, NULL),
                             KW_DNSSEC_ST_RETIRED);
        } else {
            assert_int_equal(k->tag, name_tag(ksk));
            assert_int_equal(k->role, KW_DNSSEC_KSK);
            assert_int_equal(k->algorithm, 13);
            assert_int_equal(k->bits, 256);
            assert_int_equal(k->flags, 257);
        }
    }
    assert_true(keys[0].key.tag < keys[1].key.tag);
    /* All zones: the other one too; a cap too small is an error. */
    assert_int_equal(kw_dnssec_bind_read_dir(dir, NULL, keys, 8, &n, &d), 0);
    assert_int_equal(n, 3);
    assert_string_equal(keys[2].key.zone, "other.test");
    assert_int_equal(keys[2].key.algorithm, 15);
    assert_int_equal(kw_dnssec_bind_read_dir(dir, NULL, keys, 2, &n, &d),
                     KW_ETOOBIG);
    assert_int_equal(n, 0);
}

static void test_bind_policy_state(void **state)
{
    char conf[512], name[128], path[600];
    kw_dnssec_bind_key keys[4];
    size_t n = 0;
    kw_diag d = { { 0 } };

    path_join(conf, sizeof conf, dir, "named.conf");
    write_file(conf, "dnssec-policy \"p\" { keys { csk lifetime unlimited "
               "algorithm 13; }; };\n", 0644);
    run_ok((const char *const[]){ "dnssec-keygen", "-q", "-K", dir, "-k", "p",
           "-l", conf, "policy.test", NULL }, name, sizeof name);
    assert_int_equal(kw_dnssec_bind_read_dir(dir, "policy.test", keys, 4, &n,
                                             &d), 0);
    assert_int_equal(n, 1);
    assert_true(keys[0].has_state);
    assert_int_equal(keys[0].key.role, KW_DNSSEC_CSK);
    assert_int_equal(keys[0].state.algorithm, 13);
    assert_int_equal(keys[0].state.length, 256);
    assert_true(keys[0].state.ksk && keys[0].state.zsk);
    assert_int_equal(keys[0].state.lifetime, 0);
    assert_int_equal(keys[0].state.generated, keys[0].key.created);
    assert_int_equal(keys[0].state.nunknown, 0);

    /* Fields named adds in later versions are a note, not an error. */
    snprintf(path, sizeof path, "%s/%s.state", dir, name);
    {
        size_t len;
        char *text = slurp(path, &len), *more;

        assert_non_null(text);
        more = malloc(len + 64);
        assert_non_null(more);
        snprintf(more, len + 64, "%sFutureField: 42\nDSState: omnipresent\n", text);
        write_file(path, more, 0644);
        free(more);
        free(text);
    }
    assert_int_equal(kw_dnssec_bind_read_dir(dir, "policy.test", keys, 4, &n,
                                             &d), 0);
    assert_int_equal(keys[0].state.nunknown, 1);
    assert_string_equal(keys[0].state.ds, "omnipresent");
    assert_non_null(strstr(keys[0].note, "unknown field FutureField"));
    assert_non_null(strstr(keys[0].note, ".state: line "));

    /* A known field with a bad value names the file and line. */
    write_file(path, "; state\nKSK: yes\nDSState: sideways\n", 0644);
    assert_int_equal(kw_dnssec_bind_read_dir(dir, "policy.test", keys, 4, &n,
                                             &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, ".state: line 3: DSState"));
}

static void test_bind_bad_files(void **state)
{
    char name[128], path[600], path2[600];
    kw_dnssec_bind_key keys[4];
    kw_dnssec_key k;
    size_t n = 0, len;
    kw_diag d = { { 0 } };
    char *text;

    run_ok((const char *const[]){ "dnssec-keygen", "-q", "-K", dir, "-a",
           "ECDSAP256SHA256", "bad.test", NULL }, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    text = slurp(path, &len);
    assert_non_null(text);

    /* Truncated in the middle of the record: the base64 is cut short. */
    assert_int_equal(kw_dnssec_bind_parse_key("x.key", text, len - 30, &k, &d),
                     KW_EPARSE);
    assert_non_null(strstr(d.msg, "x.key: line 5:"));
    /* Truncated before the record. */
    assert_int_equal(kw_dnssec_bind_parse_key("x.key", text,
                     (size_t)(strstr(text, "bad.test. IN") - text), &k, &d),
                     KW_EPARSE);
    assert_non_null(strstr(d.msg, "x.key: no DNSKEY record"));
    assert_int_equal(kw_dnssec_bind_parse_key("y.key", "; Publish: 2026x\n",
                     17, &k, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "y.key: line 1: Publish"));
    assert_int_equal(kw_dnssec_bind_parse_key("z.key", "a. IN A 1.2.3.4\n",
                     16, &k, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "z.key: line 1: a A record"));
    assert_int_equal(kw_dnssec_bind_parse_key("n.key", "a\0b", 3, &k, &d),
                     KW_EPARSE);
    assert_int_equal(kw_dnssec_bind_parse_state("s.state", "KSK yes\n", 8,
                     &keys[0].state, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "s.state: line 1:"));
    assert_int_equal(kw_dnssec_bind_parse_state("s.state", "; only\n", 7,
                     &keys[0].state, &d), KW_EPARSE);

    /* Mode and presence of the .private are notes; its bytes are never
     * read, so garbage in it changes nothing. */
    snprintf(path2, sizeof path2, "%s/%s.private", dir, name);
    write_file(path2, "garbage", 0644);
    assert_int_equal(kw_dnssec_bind_read_dir(dir, NULL, keys, 4, &n, &d), 0);
    assert_int_equal(n, 1);
    assert_int_equal(keys[0].private_mode, 0644);
    assert_non_null(strstr(keys[0].note, "readable by any user"));
    unlink(path2);
    assert_int_equal(kw_dnssec_bind_read_dir(dir, NULL, keys, 4, &n, &d), 0);
    assert_false(keys[0].has_private);
    assert_non_null(strstr(keys[0].note, "no .private"));

    /* A truncated file in the directory fails the whole read, by name. */
    write_file(path, "; This is a zone-signing key\nbad.test. IN DNSKEY 256 3 13\n",
               0644);
    assert_int_equal(kw_dnssec_bind_read_dir(dir, NULL, keys, 4, &n, &d),
                     KW_EPARSE);
    assert_non_null(strstr(d.msg, name));
    assert_non_null(strstr(d.msg, "line 2"));
    /* A file renamed to another tag. */
    write_file(path, text, 0644);
    snprintf(path2, sizeof path2, "%s/Kbad.test.+013+00001.key", dir);
    assert_int_equal(rename(path, path2), 0);
    assert_int_equal(kw_dnssec_bind_read_dir(dir, NULL, keys, 4, &n, &d),
                     KW_EPARSE);
    assert_non_null(strstr(d.msg, "file name says zone bad.test, algorithm "
                           "13, tag 1"));
    free(text);
    assert_int_equal(kw_dnssec_bind_read_dir("/nonexistent/keys", NULL, keys,
                                             4, &n, &d), KW_ENOENT);
    assert_non_null(strstr(d.msg, "/nonexistent/keys"));
}

static void test_knot_parse_bad(void **state)
{
    kw_dnssec_key keys[2];
    kw_dnssec_knot_id ids[2];
    size_t n = 9;
    kw_diag d = { { 0 } };
    const char *good = "[{\"zone\": \"a.test.\", \"id\": \"0a1b\", \"ksk\": "
        "true, \"zsk\": false, \"tag\": 1, \"algorithm\": 13, \"size\": 256, "
        "\"publish\": 10, \"ready\": 20, \"active\": 30, \"retire-active\": 40,"
        " \"retire\": 50, \"remove\": 60}]";

    assert_int_equal(kw_dnssec_knot_parse_list("a.test", good, strlen(good),
                     keys, ids, 2, &n, &d), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], "0a1b");
    assert_int_equal(keys[0].role, KW_DNSSEC_KSK);
    assert_int_equal(keys[0].activate, 20);
    assert_int_equal(keys[0].sync_publish, 30);
    assert_int_equal(keys[0].sync_delete, 40);
    assert_int_equal(keys[0].inactive, 50);
    assert_int_equal(keys[0].delete_, 60);
    assert_int_equal(kw_dnssec_key_stage(&keys[0], 25, NULL, NULL),
                     KW_DNSSEC_ST_READY);
    assert_int_equal(kw_dnssec_knot_parse_list("b.test", good, strlen(good),
                     keys, ids, 2, &n, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "\"zone\" is not b.test"));
    assert_int_equal(n, 0);
    assert_int_equal(kw_dnssec_knot_parse_list("a.test", "[{\"zone\"",
                     8, keys, ids, 2, &n, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "line 1"));
    assert_int_equal(kw_dnssec_knot_parse_list("a.test", "garbage\nmore", 12,
                     keys, ids, 2, &n, &d), KW_EPARSE);
    assert_int_equal(kw_dnssec_knot_parse_list("a.test", "{}", 2, keys, ids,
                     2, &n, &d), KW_EPARSE);
    assert_int_equal(kw_dnssec_knot_parse_list("a.test", "", 0, keys, ids, 2,
                     &n, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "printed nothing"));
    {
        char bad[600];

        snprintf(bad, sizeof bad, "%s", good);
        memcpy(strstr(bad, "\"tag\""), "\"tax\"", 5);
        assert_int_equal(kw_dnssec_knot_parse_list("a.test", bad, strlen(bad),
                         keys, ids, 2, &n, &d), KW_EPARSE);
        assert_non_null(strstr(d.msg, "key 0: \"tag\" is missing"));
    }
    assert_int_equal(kw_dnssec_knot_parse_list("a.test", good, strlen(good),
                     keys, ids, 0, &n, &d), KW_ETOOBIG);
    /* Knot's first KSK: ready, signing, its DS not yet confirmed (active
     * 0): ready, and active next at no date. */
    {
        const char *wait = "[{\"zone\": \"a.test.\", \"id\": \"0a1b\", "
            "\"ksk\": true, \"zsk\": false, \"tag\": 1, \"algorithm\": 13, "
            "\"size\": 256, \"publish\": 10, \"ready\": 20, \"active\": 0, "
            "\"retire-active\": 0, \"retire\": 0, \"remove\": 0}]";
        kw_dnssec_stage next;
        int64_t at = -1;

        assert_int_equal(kw_dnssec_knot_parse_list("a.test", wait, strlen(wait),
                         keys, ids, 2, &n, &d), 0);
        assert_int_equal(keys[0].activate, 20);
        assert_int_equal(keys[0].sync_publish, KW_DNSSEC_PENDING);
        assert_int_equal(kw_dnssec_key_stage(&keys[0], 25, &next, &at),
                         KW_DNSSEC_ST_READY);
        assert_int_equal(next, KW_DNSSEC_ST_ACTIVE);
        assert_int_equal(at, 0);
    }
}

static void test_knot_keymgr(void **state)
{
    char conf[512], text[2048], ksk[128], rsa[128];
    kw_dnssec_key keys[4];
    size_t n = 0;
    kw_diag d = { { 0 } };
    kw_dnssec_knot_opts o = { .conf = conf, .timeout_ms = 30000 };
    kw_dnssec_knot_opts missing = { .keymgr = "/nonexistent/keymgr", .conf = conf };

    path_join(conf, sizeof conf, dir, "knot.conf");
    snprintf(text, sizeof text, "server:\n    rundir: %s\ndatabase:\n    "
             "storage: %s\n    kasp-db: %s/kasp\npolicy:\n  - id: p\n    "
             "algorithm: ecdsap256sha256\nzone:\n  - domain: example.test\n"
             "    storage: %s\n    dnssec-signing: on\n    dnssec-policy: p\n",
             dir, dir, dir, dir);
    write_file(conf, text, 0644);
    run_ok((const char *const[]){ "keymgr", "-c", conf, "example.test.",
           "generate", "algorithm=13", "ksk=yes", "zsk=yes", NULL }, ksk,
           sizeof ksk);
    run_ok((const char *const[]){ "keymgr", "-c", conf, "example.test.",
           "generate", "algorithm=8", "size=2048", "ksk=yes",
           "publish=1796342400", "ready=1796428800", "active=1796601600",
           "retire=1799020800", "remove=1799884800", NULL }, rsa, sizeof rsa);

    assert_int_equal(kw_dnssec_knot_list(&o, "Example.Test.", keys, 4, &n, &d), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        kw_dnssec_key *k = &keys[i];

        assert_string_equal(k->zone, "example.test");
        assert_string_equal(k->source, "knot:example.test");
        assert_string_equal(k->signer, "knot");
        assert_int_equal(k->flags, 257);
        if (k->algorithm == 13) {
            assert_int_equal(k->role, KW_DNSSEC_CSK);
            assert_int_equal(k->bits, 256);
            assert_true(strncmp(k->dnskey, "257 3 13 ", 9) == 0);
        } else {
            assert_int_equal(k->algorithm, 8);
            assert_int_equal(k->role, KW_DNSSEC_KSK);
            assert_int_equal(k->bits, 2048);
            assert_true(strncmp(k->dnskey, "257 3 8 ", 8) == 0);
            assert_int_equal(k->publish, T0);
            assert_int_equal(k->activate, T0 + DAY);
            assert_int_equal(k->sync_publish, T0 + 3 * DAY);
            assert_int_equal(k->inactive, T0 + 31 * DAY);
            assert_int_equal(k->delete_, T0 + 41 * DAY);
            assert_int_equal(kw_dnssec_key_stage(k, T0 + 2 * DAY, NULL, NULL),
                             KW_DNSSEC_ST_READY);
        }
        /* The tag was computed from the DNSKEY keymgr printed and held
         * against the listing's: recompute it here too. */
        {
            kw_dnssec_key again = { 0 };

            assert_int_equal(kw_dnssec_key_set_dnskey(&again, k->dnskey, &d), 0);
            assert_int_equal(again.tag, k->tag);
        }
    }
    assert_int_equal(kw_dnssec_knot_list(&o, "nothere.test", keys, 4, &n, &d),
                     KW_EPARSE);
    assert_non_null(strstr(d.msg, "printed nothing for nothere.test"));
    assert_int_equal(kw_dnssec_knot_list(&o, "-x", keys, 4, &n, &d), KW_EINVAL);
    assert_true(kw_dnssec_knot_list(&missing, "example.test", keys, 4, &n, &d) < 0);
    assert_non_null(strstr(d.msg, "/nonexistent/keymgr"));
    assert_int_equal(n, 0);
}

/* keymgr stand-ins: one that hangs, one that prints garbage, one that
 * prints too much, one without end, one that fails; each must end in words, bounded. */
static void test_knot_keymgr_faults(void **state)
{
    static const struct {
        const char *script;
        int rc;
        const char *words;
    } cases[] = {
        { "#!/bin/sh\nexec sleep 30\n", KW_ETIMEDOUT, "no answer in time" },
        { "#!/bin/sh\necho '[{\"zone\": garbage'\n", KW_EPARSE, "line 1" },
        { "#!/bin/sh\nhead -c 200000 /dev/zero | tr '\\0' x\n", KW_ETOOBIG,
          "bytes of output or more" },
        { "#!/bin/sh\nexec yes '[{}'\n", KW_ETIMEDOUT, "no answer in time" },
        { "#!/bin/sh\necho 'error: no such zone' >&2; exit 1\n", KW_EIO,
          "no such zone" },
    };
    char prog[512];
    kw_dnssec_key keys[2];
    size_t n = 7;
    kw_diag d = { { 0 } };
    kw_dnssec_knot_opts o = { .keymgr = prog, .timeout_ms = 1000 };

    path_join(prog, sizeof prog, dir, "keymgr");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(prog, cases[i].script, 0755);
        assert_int_equal(kw_dnssec_knot_list(&o, "a.test", keys, 2, &n, &d),
                         cases[i].rc);
        assert_non_null(strstr(d.msg, cases[i].words));
        assert_int_equal(n, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stage_zsk),
        cmocka_unit_test(test_stage_ksk_ready),
        cmocka_unit_test(test_dnskey_vectors),
        cmocka_unit_test_setup_teardown(test_bind_keygen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_policy_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_bad_files, setup, teardown),
        cmocka_unit_test(test_knot_parse_bad),
        cmocka_unit_test_setup_teardown(test_knot_keymgr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_knot_keymgr_faults, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
