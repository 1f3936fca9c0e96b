/*
 * docs/configuration.md is the one reference for keywarden.conf: every key
 * the parser accepts is documented there once, in its section, and every
 * key it documents is one the parser accepts.  The example file names only
 * keys that exist, its commented-out ones included.
 *
 * The reference is read as written for people: a section starts at a
 * "## `[name]`" or "## `[name "NAME"]`" heading, and a key is a table row
 * whose first cell is the key in backquotes ("| `log_level` | ...").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/kw_fs.h"
#include "service/config.h"

#define MAX_KEYS 256

typedef struct doc_key {
    char section[32];
    char key[64];
    int line;
} doc_key;

typedef struct doc {
    doc_key keys[MAX_KEYS];
    size_t nkeys;
    char sections[16][32];
    size_t nsections;
} doc;

static char *slurp(const char *path)
{
    unsigned char *text = NULL;
    size_t len;
    kw_diag d;

    if (kw_fs_read_regular(path, 1024 * 1024, &text, &len, &d) != 0)
        fail_msg("%s", d.msg);
    return (char *)text;
}

static const kw_config_section *code_section(const char *name)
{
    const kw_config_section *s;

    for (s = kw_config_sections; s->name != NULL; s++)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static int code_has_key(const kw_config_section *s, const char *key)
{
    const char *const *k;

    for (k = s->keys; *k != NULL; k++)
        if (strcmp(*k, key) == 0)
            return 1;
    return 0;
}

/* "`[name]`" or "`[name "NAME"]`" at p: the name into out. */
static int section_heading(const char *p, char *out, size_t outsz)
{
    size_t n;

    if (strncmp(p, "`[", 2) != 0)
        return 0;
    p += 2;
    n = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
    if (n == 0 || n >= outsz || (p[n] != ']' && p[n] != ' '))
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static void read_doc(const char *path, doc *dc)
{
    char *text = slurp(path), *line, *nl;
    char cur[32] = "";
    int lineno = 0;

    memset(dc, 0, sizeof(*dc));
    for (line = text; line != NULL && *line != '\0'; line = nl) {
        nl = strchr(line, '\n');
        if (nl != NULL)
            *nl++ = '\0';
        lineno++;
        if (strncmp(line, "## ", 3) == 0) {
            cur[0] = '\0';
            if (section_heading(line + 3, cur, sizeof(cur))) {
                assert_true(dc->nsections < 16);
                snprintf(dc->sections[dc->nsections++], 32, "%s", cur);
            }
        } else if (strncmp(line, "# ", 2) == 0) {
            cur[0] = '\0';
        } else if (strncmp(line, "| `", 3) == 0) {
            const char *k = line + 3;
            size_t n = strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_");
            doc_key *dk;

            if (n == 0 || k[n] != '`')
                continue;
            if (cur[0] == '\0')
                fail_msg("%s:%d: key `%.*s` outside a section heading "
                         "(## `[name]`)",
                         path, lineno, (int)n, k);
            assert_true(dc->nkeys < MAX_KEYS);
            assert_true(n < sizeof(dk->key));
            dk = &dc->keys[dc->nkeys++];
            snprintf(dk->section, sizeof(dk->section), "%s", cur);
            memcpy(dk->key, k, n);
            dk->key[n] = '\0';
            dk->line = lineno;
        }
    }
    free(text);
}

/* Every section and key of the parser's table is in the reference, each
 * key once; every one there is in the table. */
static void reference_matches_parser(void **state)
{
    static doc dc;
    const kw_config_section *s;
    const char *const *k;
    size_t i, j;
    int bad = 0;

    (void)state;
    read_doc(CONFIG_REF, &dc);
    assert_true(dc.nkeys > 0);
    for (s = kw_config_sections; s->name != NULL; s++) {
        int found = 0;

        for (i = 0; i < dc.nsections; i++)
            found += strcmp(dc.sections[i], s->name) == 0;
        if (found != 1) {
            print_error("%s: [%s] has %d section headings; expected one\n",
                        CONFIG_REF, s->name, found);
            bad = 1;
        }
        for (k = s->keys; *k != NULL; k++) {
            int n = 0;

            for (i = 0; i < dc.nkeys; i++)
                n += strcmp(dc.keys[i].section, s->name) == 0 &&
                     strcmp(dc.keys[i].key, *k) == 0;
            if (n != 1) {
                print_error("%s: [%s] %s is documented %d times; the parser "
                            "accepts it, so document it once\n",
                            CONFIG_REF, s->name, *k, n);
                bad = 1;
            }
        }
    }
    for (i = 0; i < dc.nsections; i++)
        if (code_section(dc.sections[i]) == NULL) {
            print_error("%s: section [%s]: the parser has no such section\n",
                        CONFIG_REF, dc.sections[i]);
            bad = 1;
        }
    for (j = 0; j < dc.nkeys; j++) {
        s = code_section(dc.keys[j].section);
        if (s != NULL && !code_has_key(s, dc.keys[j].key)) {
            print_error("%s:%d: [%s] %s: the parser rejects this key\n",
                        CONFIG_REF, dc.keys[j].line, dc.keys[j].section,
                        dc.keys[j].key);
            bad = 1;
        }
    }
    if (bad)
        fail_msg("the reference and service/config.c disagree (above)");
}

/* Independently of the table: each documented key, fed to the parser in
 * its section, is not refused as unknown (its value may be). */
static void parser_accepts_documented_keys(void **state)
{
    static doc dc;
    size_t i;

    (void)state;
    read_doc(CONFIG_REF, &dc);
    for (i = 0; i < dc.nkeys; i++) {
        const kw_config_section *s = code_section(dc.keys[i].section);
        char text[256];
        kw_config c;
        kw_diag d;

        if (s == NULL)
            fail_msg("[%s]: no such section", dc.keys[i].section);
        snprintf(text, sizeof(text), "[%s%s]\n%s = x\n", s->name,
                 s->named ? " \"t\"" : "", dc.keys[i].key);
        memset(&d, 0, sizeof(d));
        if (kw_config_parse("k.conf", text, strlen(text), &c, &d) == 0)
            kw_config_free(&c);
        else if (strstr(d.msg, "unknown") != NULL)
            fail_msg("%s:%d: [%s] %s: %s", CONFIG_REF, dc.keys[i].line,
                     s->name, dc.keys[i].key, d.msg);
    }
}

/* The example's keys, those commented out ("#key = value") too, exist in
 * the section they are written in. */
static void example_names_only_known_keys(void **state)
{
    char *text = slurp(EXAMPLE_CONF), *line, *nl;
    const kw_config_section *cur = NULL;
    int lineno = 0, nkeys = 0;

    (void)state;
    for (line = text; line != NULL && *line != '\0'; line = nl) {
        const char *p = line;
        char key[64];
        size_t n;

        nl = strchr(line, '\n');
        if (nl != NULL)
            *nl++ = '\0';
        lineno++;
        if (*p == '[') {
            char name[32];

            n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz");
            assert_true(n > 0 && n < sizeof(name));
            memcpy(name, p + 1, n);
            name[n] = '\0';
            cur = code_section(name);
            if (cur == NULL)
                fail_msg("%s:%d: [%s]: no such section", EXAMPLE_CONF,
                         lineno, name);
            continue;
        }
        if (*p == '#')
            p++; /* "#key = value": a key shown, not set */
        n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
        if (n == 0 || n >= sizeof(key) || strncmp(p + n, " = ", 3) != 0)
            continue;
        memcpy(key, p, n);
        key[n] = '\0';
        if (cur == NULL || !code_has_key(cur, key))
            fail_msg("%s:%d: %s: not a key of [%s]", EXAMPLE_CONF, lineno,
                     key, cur != NULL ? cur->name : "(no section)");
        nkeys++;
    }
    assert_true(nkeys > 0);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reference_matches_parser),
        cmocka_unit_test(parser_accepts_documented_keys),
        cmocka_unit_test(example_names_only_known_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
