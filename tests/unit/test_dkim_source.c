/*
 * test_dkim_source.c: the signers' configurations read into selectors:
 * OpenDKIM in Debian's layout (KeyTable, refile: SigningTable, UserID,
 * /etc/dkimkeys-style key directory with an orphan), csl: lists, the
 * single-key mode and its being ignored beside a KeyTable, rspamd's
 * dkim_signing (templates, maps, domain blocks, the package's modules.d
 * file), [dkim "DOMAIN"] sections, and broken input named by file and line.
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
#include <unistd.h>

#include "dkim/dkim_source.h"
#include "tmpdir.h"

static char dir[256];

static void put(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Write DIR/name (directories made), fmt with every %1$s being DIR. */
static void put(const char *name, const char *fmt, ...)
{
    char path[512], sub[512], *slash;
    va_list ap;
    FILE *f;

    path_join(path, sizeof(path), dir, name);
    snprintf(sub, sizeof(sub), "%s", path);
    for (slash = strchr(sub + strlen(dir) + 1, '/'); slash != NULL;
         slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(sub, 0755);
        *slash = '/';
    }
    f = fopen(path, "w");
    assert_non_null(f);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

static const kw_dkim_sel *find(const kw_dkim_sources *s, const char *domain,
                               const char *selector)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (strcmp(s->sel[i].domain, domain) == 0 &&
            strcmp(s->sel[i].selector, selector) == 0)
            return &s->sel[i];
    return NULL;
}

static int has_note(const kw_dkim_sources *s, const char *a, const char *b)
{
    size_t i;

    for (i = 0; i < s->nnotes; i++)
        if (strstr(s->notes[i], a) != NULL &&
            (b == NULL || strstr(s->notes[i], b) != NULL))
            return 1;
    return 0;
}

/* Does the watch list (what the daemon watches) hold path? */
static int watches(const kw_dkim_sources *s, const char *path)
{
    size_t i;

    for (i = 0; i < s->nwatch; i++)
        if (strcmp(s->watch[i], path) == 0)
            return 1;
    return 0;
}

static char *p(const char *name)
{
    static char buf[4][512];
    static int i;

    i = (i + 1) % 4;
    path_join(buf[i], sizeof(buf[i]), dir, name);
    return buf[i];
}

static int setup(void **state)
{
    tmpdir_make(dir, sizeof(dir), "dkimsrc");
    return 0;
}

static int teardown(void **state)
{
    tmpdir_remove(dir);
    return 0;
}

static void test_debian_opendkim(void **state)
{
    kw_dkim_sources s = {0};
    const kw_dkim_sel *v;

    put("opendkim.conf",
        "# Debian's stock file, trimmed\n"
        "Syslog\t\t\tyes\n"
        "userid opendkim:opendkim\n"
        "KEYTABLE file:%s/dkimkeys/keytable\n"
        "SigningTable   refile:%s/dkimkeys/signingtable\n"
        "KeyFile /nonexistent/ignored.private\n"
        "Selector ignored\n"
        "Domain ignored.test\n",
        dir, dir);
    put("dkimkeys/keytable",
        "# name  domain:selector:keyfile\n"
        "s1._domainkey.mail.test mail.test:s1:%s/dkimkeys/s1.private\n"
        "s2._domainkey.mail.test mail.test:s2:%s/dkimkeys/s2.private\n"
        "broken mail.test:s3\n"
        "\n"
        "inline mail.test:s4:MIIBVgIBADANBgkqhkiG9w0BAQEFAASC\n"
        "any %%:any:%s/other/any.private\n",
        dir, dir, dir);
    put("dkimkeys/signingtable",
        "*@mail.test s1._domainkey.mail.test\n"
        "*@other.test any\n"
        "*@*.wild.test any\n");
    put("dkimkeys/s1.private", "k");
    put("dkimkeys/s2.private", "k");
    put("dkimkeys/s1.txt", "record");
    put("dkimkeys/old.private", "k");

    assert_int_equal(kw_dkim_read_opendkim(p("opendkim.conf"), &s), 0);
    assert_int_equal(kw_dkim_find_orphans(&s, NULL), 0);

    v = find(&s, "mail.test", "s1");
    assert_non_null(v);
    assert_int_equal(v->role, KW_DKIM_ROLE_SIGNING);
    assert_string_equal(v->signer, "opendkim");
    assert_string_equal(v->user, "opendkim");
    assert_string_equal(v->key, p("dkimkeys/s1.private"));
    assert_int_equal(v->line, 2);
    assert_non_null(strstr(v->source, "keytable:2"));
    v = find(&s, "mail.test", "s2");
    assert_non_null(v);
    assert_int_equal(v->role, KW_DKIM_ROLE_PUBLISHED);
    /* "%" takes the domain of the SigningTable patterns leading to it;
     * a wildcard domain names none. */
    v = find(&s, "other.test", "any");
    assert_non_null(v);
    assert_int_equal(v->role, KW_DKIM_ROLE_SIGNING);
    /* The single-key options are ignored beside a KeyTable. */
    assert_null(find(&s, "ignored.test", "ignored"));
    /* The orphan beside them takes their domain; the .txt is no key. */
    v = find(&s, "mail.test", "old");
    assert_non_null(v);
    assert_int_equal(v->role, KW_DKIM_ROLE_ORPHAN);
    assert_null(find(&s, "mail.test", "s1.txt"));
    assert_int_equal(s.n, 4);

    assert_true(has_note(&s, "keytable:4", "DOMAIN:SELECTOR:KEYFILE"));
    assert_true(has_note(&s, "keytable:6", "written in the table"));
    /* A change to any file read may change the selectors: the daemon
     * watches each, once. */
    assert_true(watches(&s, p("opendkim.conf")));
    assert_true(watches(&s, p("dkimkeys/keytable")));
    assert_true(watches(&s, p("dkimkeys/signingtable")));
    assert_int_equal(s.nwatch, 3);
    kw_dkim_sources_free(&s);

    /* Through kw_dkim_sources_read, the keys' directories too. */
    {
        kw_dkim_params prm;

        kw_dkim_params_defaults(&prm);
        prm.opendkim_conf = p("opendkim.conf");
        assert_int_equal(kw_dkim_sources_read(&prm, 0, &s), 0);
        assert_true(watches(&s, p("opendkim.conf")));
        assert_true(watches(&s, p("dkimkeys")));
        assert_true(watches(&s, p("other")));
        assert_int_equal(s.nwatch, 5);
        kw_dkim_sources_free(&s);
    }
}

static void test_csl_and_single(void **state)
{
    kw_dkim_sources s = {0};
    const kw_dkim_sel *v;

    put("csl.conf",
        "KeyTable csl:k1=a.test:sel1:/keys/k1.private,"
        "k2=b.test:sel2:/keys/k2.private\n"
        "SigningTable csl:*@a.test=k1\n");
    assert_int_equal(kw_dkim_read_opendkim(p("csl.conf"), &s), 0);
    v = find(&s, "a.test", "sel1");
    assert_non_null(v);
    assert_int_equal(v->role, KW_DKIM_ROLE_SIGNING);
    assert_string_equal(v->key, "/keys/k1.private");
    v = find(&s, "b.test", "sel2");
    assert_non_null(v);
    assert_int_equal(v->role, KW_DKIM_ROLE_PUBLISHED);
    assert_string_equal(v->user, "");
    kw_dkim_sources_free(&s);

    put("single.conf",
        "Domain example.com, example.net\n"
        "Selector mail\n"
        "KeyFile keys/mail.private\n");
    assert_int_equal(kw_dkim_read_opendkim(p("single.conf"), &s), 0);
    assert_int_equal(s.n, 2);
    v = find(&s, "example.net", "mail");
    assert_non_null(v);
    assert_int_equal(v->role, KW_DKIM_ROLE_SIGNING);
    /* Relative to the file that names it. */
    assert_string_equal(v->key, p("keys/mail.private"));
    assert_int_equal(v->line, 3);
    kw_dkim_sources_free(&s);

    /* A domain or selector DNS cannot hold is named, not recorded. */
    put("odd.conf", "KeyTable csl:k=a test:s1:/k/a.private,"
                    "k2=b.test:s/1:/k/b.private\n");
    assert_int_equal(kw_dkim_read_opendkim(p("odd.conf"), &s), 0);
    assert_int_equal(s.n, 0);
    assert_true(has_note(&s, "odd.conf:1", "\"a test\""));
    assert_true(has_note(&s, "odd.conf:1", "\"s/1\""));
    kw_dkim_sources_free(&s);

    put("half.conf", "Selector mail\nKeyFile /k.private\n");
    assert_int_equal(kw_dkim_read_opendkim(p("half.conf"), &s), 0);
    assert_int_equal(s.n, 0);
    assert_true(has_note(&s, "half.conf:2", "Domain, Selector"));
    kw_dkim_sources_free(&s);
}

static void test_unreadable(void **state)
{
    kw_dkim_sources s = {0};

    put("u.conf", "KeyTable %s/missing.table\nSigningTable ldap://x/y\n"
        "Canonicalization\n", dir);
    assert_int_equal(kw_dkim_read_opendkim(p("u.conf"), &s), 0);
    assert_int_equal(s.n, 0);
    assert_true(has_note(&s, "missing.table", NULL));
    assert_true(has_note(&s, "u.conf:3", "no value"));
    kw_dkim_sources_free(&s);

    assert_int_equal(kw_dkim_read_opendkim(p("nope.conf"), &s), 0);
    assert_true(has_note(&s, "nope.conf", NULL));
    kw_dkim_sources_free(&s);
}

static void test_rspamd(void **state)
{
    kw_dkim_sources s = {0};
    const kw_dkim_sel *v;
    char want[512];

    /* The package's file, as Debian ships it. */
    put("rspamd/modules.d/dkim_signing.conf",
        "# Please don't modify this file as your changes might be "
        "overwritten\n"
        "dkim_signing {\n"
        "  allow_envfrom_empty = true;\n"
        "  selector = \"dkim\";\n"
        "  use_esld = true;\n"
        "  .include(try=true,priority=5) "
        "\"${DBDIR}/dynamic/dkim_signing.conf\"\n"
        "  .include(try=true,priority=1,duplicate=merge) "
        "\"$LOCAL_CONFDIR/local.d/dkim_signing.conf\"\n"
        "}\n");
    put("rspamd/local.d/dkim_signing.conf",
        "/* local settings */\n"
        "path = \"%s/rkeys/$domain.$selector.key\";\n"
        "selector = r1;  # the default selector\n"
        "selector_map = \"file://%s/sel.map\";\n"
        "domain {\n"
        "  example.org {\n"
        "    selector = \"s2024\";\n"
        "    path = \"/keys/$domain-$selector.key\";\n"
        "  }\n"
        "  list.test { selectors = [ { path = \"/a\"; selector = \"b\"; } ]; "
        "}\n"
        "}\n",
        dir, dir);
    put("rspamd/override.d/dkim_signing.conf", "selector = 'r2';\n");
    put("sel.map", "mapped.test m1\n");
    put("rkeys/tmpl.test.r2.key", "k");
    put("rkeys/other.test.r1.key", "k");

    assert_int_equal(kw_dkim_read_rspamd(p("rspamd"), &s), 0);
    v = find(&s, "example.org", "s2024");
    assert_non_null(v);
    assert_string_equal(v->key, "/keys/example.org-s2024.key");
    assert_string_equal(v->signer, "rspamd");
    assert_int_equal(v->role, KW_DKIM_ROLE_SIGNING);
    assert_int_equal(v->line, 8);
    v = find(&s, "mapped.test", "m1");
    assert_non_null(v);
    snprintf(want, sizeof(want), "%s/rkeys/mapped.test.m1.key", dir);
    assert_string_equal(v->key, want);
    /* override.d wins: the template finds r2's files, not r1's. */
    v = find(&s, "tmpl.test", "r2");
    assert_non_null(v);
    assert_null(find(&s, "other.test", "r1"));
    assert_true(has_note(&s, "local.d/dkim_signing.conf:10", "selectors"));
    /* The three files (each looked for, so one written later counts) and
     * the map. */
    assert_true(watches(&s, p("rspamd/modules.d/dkim_signing.conf")));
    assert_true(watches(&s, p("rspamd/local.d/dkim_signing.conf")));
    assert_true(watches(&s, p("rspamd/override.d/dkim_signing.conf")));
    assert_true(watches(&s, p("sel.map")));
    kw_dkim_sources_free(&s);

    put("rspamd/override.d/dkim_signing.conf",
        "selector = 'r2';\npath = \"unterminated\n");
    assert_int_equal(kw_dkim_read_rspamd(p("rspamd"), &s), 0);
    assert_true(has_note(&s, "override.d/dkim_signing.conf:2",
                         "unterminated"));
    kw_dkim_sources_free(&s);
}

/* A path template whose file name puts $domain past what the matcher
 * keeps of it (an operator's typo, a pasted line): read, not a crash. */
static void test_rspamd_long_template(void **state)
{
    kw_dkim_sources s = {0};
    char longname[700];

    (void)state;
    memset(longname, 'x', 600);
    longname[600] = '\0';
    put("rsp2/local.d/dkim_signing.conf",
        "path = \"%s/rkeys2/%s$domain.key\";\n", dir, longname);
    put("rkeys2/a.test.key", "k");
    assert_int_equal(kw_dkim_read_rspamd(p("rsp2"), &s), 0);
    assert_int_equal(s.n, 0);
    kw_dkim_sources_free(&s);
}

static void test_config_sections(void **state)
{
    kw_dkim_params prm;
    kw_dkim_conf_key k = {(char *)"exim.test", (char *)"x1",
                          (char *)"/keys/x1.pem", NULL, 42};
    kw_dkim_sources s = {0};
    const kw_dkim_sel *v;

    kw_dkim_params_defaults(&prm);
    assert_int_equal(prm.max_age, 180 * 86400);
    assert_int_equal(prm.interval, 3600);
    prm.keys = &k;
    prm.nkeys = 1;
    prm.config_file = "/etc/keywarden/keywarden.conf";
    assert_int_equal(kw_dkim_sources_read(&prm, 0, &s), 0);
    assert_int_equal(s.n, 1);
    v = find(&s, "exim.test", "x1");
    assert_non_null(v);
    assert_string_equal(v->signer, "config");
    assert_string_equal(v->source, "/etc/keywarden/keywarden.conf:42");
    kw_dkim_sources_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_debian_opendkim),
        cmocka_unit_test(test_csl_and_single),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_rspamd),
        cmocka_unit_test(test_rspamd_long_template),
        cmocka_unit_test(test_config_sections),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
