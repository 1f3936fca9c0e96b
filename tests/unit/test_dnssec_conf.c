/*
 * test_dnssec_conf.c: the signed zones named.conf and knot.conf declare:
 * inheritance of dnssec-policy and key-directory, views, includes
 * (followed, bounded, unreadable), Knot's templates, and bad input named
 * by file and line with what could be read kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dnssec/dnssec_conf.h"

/* Includes from memory: "inc/NAME" is the text after "=NAME\n" in the
 * table; a name that includes itself makes a loop. */
static const char *const files[][2] = {
    {"/etc/bind/zones.conf", "zone \"inc.test\" { type primary; file "
                             "\"x\"; };\n"},
    {"/etc/bind/loop.conf", "include \"loop.conf\";\n"},
    {"/etc/bind/fan.conf", "include \"fan.conf\"; include \"fan.conf\";\n"
                           "include \"fan.conf\"; include \"fan.conf\";\n"},
    {"/etc/knot/zones.conf", "zone:\n  - domain: kinc.test\n    "
                             "dnssec-signing: on\n"},
};

static int mem_reader(void *ctx, const char *path, unsigned char **text,
                      size_t *len, kw_diag *d)
{
    size_t i;

    (void)ctx;
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (strcmp(files[i][0], path) == 0) {
            *text = (unsigned char *)strdup(files[i][1]);
            *len = strlen(files[i][1]);
            return 0;
        }
    return kw_diag_set(d, KW_ENOENT, "%s: no such file", path);
}

static const kw_dnssec_conf_zone *zone(const kw_dnssec_conf *c,
                                       const char *name)
{
    size_t i;

    for (i = 0; i < c->nzones; i++)
        if (strcmp(c->zones[i].zone, name) == 0)
            return &c->zones[i];
    return NULL;
}

static int has_note(const kw_dnssec_conf *c, const char *words)
{
    size_t i;

    for (i = 0; i < c->nnotes; i++)
        if (strstr(c->notes[i], words) != NULL)
            return 1;
    return 0;
}

static void named(void **state)
{
    static const char text[] =
        "// BIND's configuration\n"
        "options {\n"
        "    directory \"/var/cache/bind\";\n"
        "    dnssec-policy default; # every primary zone\n"
        "    listen-on { 127.0.0.1; };\n"
        "};\n"
        "/* a comment\n"
        "   over lines */\n"
        "zone \"A.test.\" { type primary; file \"a\"; };\n"
        "zone \"b.test\" {\n"
        "    type master;\n"
        "    dnssec-policy none;\n"
        "};\n"
        "zone \"c.test\" { type primary; key-directory \"keys/c\"; };\n"
        "zone \".\" { type hint; file \"root.hints\"; };\n"
        "view \"inside\" {\n"
        "    key-directory \"/srv/keys\";\n"
        "    zone \"d.test\" { type secondary; };\n"
        "};\n"
        "include \"zones.conf\";\n"
        "include \"missing.conf\";\n"
        "include \"loop.conf\";\n";
    kw_dnssec_conf c;
    const kw_dnssec_conf_zone *z;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(kw_dnssec_named_parse("/etc/bind/named.conf", text,
                                           strlen(text), mem_reader, NULL,
                                           &c),
                     0);
    assert_int_equal(c.nzones, 4);
    z = zone(&c, "a.test");
    assert_non_null(z);
    assert_string_equal(z->key_dir, "/var/cache/bind");
    assert_string_equal(z->source, "/etc/bind/named.conf:9");
    assert_null(zone(&c, "b.test"));  /* dnssec-policy none */
    assert_string_equal(zone(&c, "c.test")->key_dir,
                        "/var/cache/bind/keys/c");
    assert_null(zone(&c, "."));       /* a hint zone inherits nothing */
    assert_string_equal(zone(&c, "d.test")->key_dir, "/srv/keys");
    z = zone(&c, "inc.test");
    assert_non_null(z);
    assert_string_equal(z->source, "/etc/bind/zones.conf:1");
    assert_true(has_note(&c, "/etc/bind/named.conf:21: include "
                             "/etc/bind/missing.conf: "));
    assert_true(has_note(&c, "more than 8 includes deep"));
    assert_int_equal(c.nfiles, 1 + 8); /* zones.conf, loop.conf 8 deep */
    kw_dnssec_conf_free(&c);
}

/* Bad input: the note names the file and line; the zones before it and
 * in other blocks are kept. */
static void named_bad(void **state)
{
    static const struct {
        const char *text, *note, *kept;
    } cases[] = {
        {"zone \"a.test\" { dnssec-policy default; };\n"
         "zone \"b.test\" { dnssec-policy default;\n",
         "n.conf:2: the block opened here is not closed", "b.test"},
        {"zone \"a.test\" { dnssec-policy default; };\n"
         "frobnicate yes;\n"
         "zone \"b.test\" { dnssec-policy default; };\n",
         "n.conf:2: unknown statement frobnicate", "b.test"},
        {"zone \"a.test\" { dnssec-policy default; };\n"
         "options { directory \"/x;\n};\n"
         "zone \"b.test\" { dnssec-policy default; };\n",
         "n.conf:2: a quoted string is not closed", "b.test"},
        {"zone \"a.test\" { dnssec-policy default; };\n"
         "/* never closed\n",
         "n.conf:2: a /* comment is not closed", "a.test"},
        {"zone \"a.test\" { dnssec-policy default; };\n"
         "};\n"
         "zone \"b.test\" { dnssec-policy default; };\n",
         "n.conf:2: a } without its {", "b.test"},
        {"zone \"a.test\" { dnssec-policy default; }\n"
         "zone \"b.test\" { dnssec-policy default; };\n",
         "n.conf:2: expected ; after the } of zone", "a.test"},
        {"zone \"a..test\" { dnssec-policy default; };\n"
         "zone \"a.test\" { dnssec-policy default; };\n",
         "n.conf:1: \"a..test\" is not a zone name", "a.test"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kw_dnssec_conf c;

        memset(&c, 0, sizeof(c));
        assert_int_equal(kw_dnssec_named_parse("n.conf", cases[i].text,
                                               strlen(cases[i].text), NULL,
                                               NULL, &c),
                         0);
        if (!has_note(&c, cases[i].note))
            fail_msg("case %zu: no note \"%s\" (%zu notes: %s)", i,
                     cases[i].note, c.nnotes,
                     c.nnotes > 0 ? c.notes[0] : "");
        if (zone(&c, cases[i].kept) == NULL)
            fail_msg("case %zu: %s not kept", i, cases[i].kept);
        kw_dnssec_conf_free(&c);
    }
}

static void knot(void **state)
{
    static const char text[] =
        "# Knot's configuration\n"
        "server:\n"
        "    listen: 127.0.0.1@5300\n"
        "template:\n"
        "  - id: default\n"
        "    storage: /var/lib/knot\n"
        "    dnssec-signing: on   # every zone signs\n"
        "  - id: plain\n"
        "    dnssec-signing: off\n"
        "zone:\n"
        "  - domain: \"A.test.\"\n"
        "  - domain: b.test\n"
        "    template: plain\n"
        "  - domain: c.test\n"
        "    template: plain\n"
        "    dnssec-signing: on\n"
        "  - domain: d.test\n"
        "    template: nosuch\n"
        "include: zones.conf\n"
        "frob:\n"
        "  x: y\n";
    kw_dnssec_conf c;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(kw_dnssec_knot_conf_parse("/etc/knot/knot.conf", text,
                                               strlen(text), mem_reader,
                                               NULL, &c),
                     0);
    assert_non_null(zone(&c, "a.test"));
    assert_string_equal(zone(&c, "a.test")->source,
                        "/etc/knot/knot.conf:11");
    assert_null(zone(&c, "b.test"));
    assert_non_null(zone(&c, "c.test"));
    assert_null(zone(&c, "d.test"));
    assert_true(has_note(&c, "knot.conf:17: zone d.test: template nosuch "
                             "is not defined"));
    assert_non_null(zone(&c, "kinc.test"));
    assert_true(has_note(&c, "knot.conf:20: unknown section frob"));
    assert_int_equal(c.nzones, 3);
    kw_dnssec_conf_free(&c);

    /* Without a default template nothing signs unless it says so; bad
     * lines are named. */
    memset(&c, 0, sizeof(c));
    static const char bad[] = "zone:\n"
                              "  - domain: e.test\n"
                              "    dnssec-signing: maybe\n"
                              "    garbage\n"
                              "  - domain: f.test\n"
                              "    dnssec-signing: true\n"
                              "  - domain: g.test\n";
    assert_int_equal(kw_dnssec_knot_conf_parse("k.conf", bad, strlen(bad),
                                               NULL, NULL, &c),
                     0);
    assert_true(has_note(&c, "k.conf:3: dnssec-signing: maybe"));
    assert_true(has_note(&c, "k.conf:4: expected \"key: value\""));
    assert_int_equal(c.nzones, 1);
    assert_string_equal(c.zones[0].zone, "f.test");
    kw_dnssec_conf_free(&c);
}

/* Four includes of itself per file, 8 deep, would be 87,380 reads: the
 * bound on files read in all stops it, and the notes are bounded. */
static void include_fan_out(void **state)
{
    static const char text[] = "include \"fan.conf\";\n";
    kw_dnssec_conf c;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(kw_dnssec_named_parse("/etc/bind/named.conf", text,
                                           strlen(text), mem_reader, NULL,
                                           &c),
                     0);
    assert_int_equal(c.nfiles, KW_DNSSEC_CONF_MAX_FILES);
    /* The depth notes came first; the list says it is cut. */
    assert_int_equal(c.nnotes, KW_DNSSEC_CONF_MAX_NOTES);
    assert_true(has_note(&c, "more than 8 includes deep"));
    assert_true(has_note(&c, "more problems; the first 63 are listed"));
    kw_dnssec_conf_free(&c);
}

static void unreadable(void **state)
{
    kw_dnssec_conf c;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(kw_dnssec_conf_read_knot("/nonexistent/knot.conf", &c),
                     0);
    assert_true(c.unreadable);
    assert_true(has_note(&c, "/nonexistent/knot.conf"));
    kw_dnssec_conf_free(&c);
}

/* A note about a file whose path is longer than the note itself (a
 * named.conf under a deep directory): the path's end, the line and the
 * problem, never a write past the note's buffer. */
static void long_path(void **state)
{
    static const char text[] = "frobnicate yes;\n";
    char path[2200];
    kw_dnssec_conf c;
    size_t i;

    (void)state;
    path[0] = '/';
    for (i = 1; i < 2000; i++)
        path[i] = i % 50 == 0 ? '/' : 'd';
    snprintf(path + 2000, sizeof(path) - 2000, "/named.conf");
    memset(&c, 0, sizeof(c));
    assert_int_equal(kw_dnssec_named_parse(path, text, strlen(text), NULL,
                                           NULL, &c),
                     0);
    assert_int_equal(c.nnotes, 1);
    assert_true(strncmp(c.notes[0], "...", 3) == 0);
    assert_true(has_note(&c, "/named.conf:1: unknown statement frobnicate"));
    assert_true(strlen(c.notes[0]) < 1100);
    kw_dnssec_conf_free(&c);
}

/* Counts the files it is asked for; there are none. */
static int counting_reader(void *ctx, const char *path, unsigned char **text,
                           size_t *len, kw_diag *d)
{
    (void)text;
    (void)len;
    (*(int *)ctx)++;
    return kw_diag_set(d, KW_ENOENT, "%s: no such file", path);
}

typedef int (*conf_parse_fn)(const char *path, const char *text,
                             size_t len, kw_dnssec_conf_reader rd, void *ctx,
                             kw_dnssec_conf *out);

/* text parsed as path: no file is asked for, and a note says where. */
static void refused_long(conf_parse_fn parse, const char *path,
                         const char *text, const char *where)
{
    kw_dnssec_conf c;
    int asked = 0;

    memset(&c, 0, sizeof(c));
    assert_int_equal(parse(path, text, strlen(text), counting_reader, &asked,
                           &c),
                     0);
    assert_int_equal(asked, 0);
    assert_true(has_note(&c, where));
    assert_true(has_note(&c, "the path is longer than 1023 bytes: not "
                             "followed"));
    kw_dnssec_conf_free(&c);
}

/* An include whose path is longer than the 1023 bytes read: refused with
 * a note naming the file and the line, never opened under the cut name
 * (another file), in named.conf and in knot.conf. */
static void include_path_too_long(void **state)
{
    char big[1200], text[1400];
    size_t i;

    (void)state;
    big[0] = '/';
    for (i = 1; i < 1100; i++)
        big[i] = i % 60 == 0 ? '/' : 'i';
    big[1100] = '\0';
    snprintf(text, sizeof(text), "options { };\ninclude \"%s\";\n", big);
    refused_long(kw_dnssec_named_parse, "/etc/bind/named.conf", text,
                 "/etc/bind/named.conf:2: include /iii");
    snprintf(text, sizeof(text), "server:\n  listen: 127.0.0.1\n"
             "include: %s\n", big + 1);
    refused_long(kw_dnssec_knot_conf_parse, "/etc/knot/knot.conf", text,
                 "/etc/knot/knot.conf:3: include iii");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(named),
        cmocka_unit_test(named_bad),
        cmocka_unit_test(knot),
        cmocka_unit_test(include_fan_out),
        cmocka_unit_test(include_path_too_long),
        cmocka_unit_test(unreadable),
        cmocka_unit_test(long_path),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
