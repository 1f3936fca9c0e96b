/*
 * The event registry: every type it lists can be written, a type it
 * lacks is refused, a hook's `on =` is checked against it, and the guide
 * and the man page list exactly its types, in its order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hooks/hook_def.h"
#include "keystore/ks_events.h"
#include "keystore/ks_store.h"
#include "keystore/ks_store_int.h" /* reads the events table back */
#include "tmpdir.h"

static char g_dir[256];

static int setup(void **state)
{
    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "events");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove(g_dir);
    return 0;
}

/* "group.word": lower case, one dot, the word may hold underscores. */
static int type_shaped(const char *s)
{
    const char *dot = strchr(s, '.');

    if (dot == NULL || dot == s || dot[1] == '\0' || strchr(dot + 1, '.'))
        return 0;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '.' ||
              (*s == '_' && s > dot)))
            return 0;
    return 1;
}

static void registry_is_well_formed(void **state)
{
    size_t i, j;

    (void)state;
    assert_true(ks_event_ntypes > 20);
    for (i = 0; i < ks_event_ntypes; i++) {
        const ks_event_type *t = &ks_event_types[i];
        /* The lifecycles' types are reserved; the DNS check's
         * dkim.dns_mismatch, the rotation's dkim.activated and the
         * DNSSEC check's dnssec.ds_needed are emitted already. */
        int dkim_or_dnssec = (strncmp(t->name, "dkim.", 5) == 0 &&
                              strcmp(t->name, "dkim.dns_mismatch") != 0 &&
                              strcmp(t->name, "dkim.activated") != 0) ||
                             (strncmp(t->name, "dnssec.", 7) == 0 &&
                              strcmp(t->name, "dnssec.ds_needed") != 0);

        assert_true(type_shaped(t->name));
        assert_true(t->meaning != NULL && t->meaning[0] != '\0');
        assert_int_equal(t->status == KS_EVENT_RESERVED, dkim_or_dnssec);
        assert_ptr_equal(ks_event_type_find(t->name), t);
        for (j = i + 1; j < ks_event_ntypes; j++)
            assert_string_not_equal(t->name, ks_event_types[j].name);
    }
    assert_null(ks_event_type_find("cert.renewd"));
    assert_null(ks_event_type_find(""));
    assert_null(ks_event_type_find(NULL));
}

/* The types the writers outside ks_event_add emit (the scan, the jobs
 * table) are in the registry, as emitted. */
static void scan_and_job_types_are_registered(void **state)
{
    static const char *const types[] = {
        "scan.completed", "file.renamed", "file.restored", "job.retry",
        "job.failed",     "job.resumed",  "object.forgotten"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        const ks_event_type *t = ks_event_type_find(types[i]);

        assert_non_null(t);
        assert_int_equal(t->status, KS_EVENT_EMITTED);
    }
}

static int64_t events_count(ks_store *s)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    assert_int_equal(sqlite3_prepare_v2(ks_db(s),
                                        "SELECT count(*) FROM events", -1,
                                        &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void every_type_is_written_unknown_refused(void **state)
{
    char path[512];
    ks_store *s;
    kw_diag d;
    int64_t before;
    size_t i;

    (void)state;
    path_join(path, sizeof(path), g_dir, "e.db");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &s, &d), 0);
    before = events_count(s);
    for (i = 0; i < ks_event_ntypes; i++)
        assert_int_equal(ks_event_add(s, 1000 + (int64_t)i, 0,
                                      ks_event_types[i].name,
                                      json_pack("{s:i}", "n", (int)i), &d),
                         0);
    assert_int_equal(events_count(s), before + (int64_t)ks_event_ntypes);

    /* A misspelt type writes nothing and says which type and where the
     * registry is. */
    memset(&d, 0, sizeof(d));
    assert_int_equal(ks_event_add(s, 2000, 0, "cert.renewd",
                                  json_pack("{s:s}", "x", "y"), &d),
                     KW_EINVAL);
    assert_non_null(strstr(d.msg, "cert.renewd"));
    assert_non_null(strstr(d.msg, "ks_events.c"));
    assert_int_equal(ks_event_type_check("nope.nope", &d), KW_EINVAL);
    assert_int_equal(ks_event_type_check("hook.failed", &d), 0);
    assert_int_equal(events_count(s), before + (int64_t)ks_event_ntypes);
    ks_close(s);
}

static void hook_patterns_use_the_registry(void **state)
{
    (void)state;
    assert_true(kw_hook_event_pattern_ok("job.*"));
    assert_true(kw_hook_event_pattern_ok("job.failed"));
    assert_true(kw_hook_event_pattern_ok("scan.completed"));
    assert_true(kw_hook_event_pattern_ok("file.*"));
    assert_true(kw_hook_event_emitted("job.failed"));
    assert_true(kw_hook_event_emitted("scan.*"));
    assert_true(kw_hook_event_pattern_ok("dkim.*"));
    assert_true(kw_hook_event_emitted("dkim.*"));
    assert_true(kw_hook_event_emitted("dkim.dns_mismatch"));
    assert_false(kw_hook_event_emitted("dkim.published"));
    assert_true(kw_hook_event_emitted("dnssec.ds_needed"));
    assert_false(kw_hook_event_pattern_ok("job.done"));
    assert_false(kw_hook_event_pattern_ok("scan"));
}

/* The event type names in text between the line holding start and the
 * line holding end, in order; with backticks only those quoted so. */
static size_t doc_types(const char *path, const char *start,
                        const char *end, int backticked, char out[][64],
                        size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int in = 0;
    size_t n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = line;

        if (!in && strstr(line, start) != NULL)
            in = 1;
        if (!in)
            continue;
        while (*p != '\0') {
            size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz._");
            char word[64];

            if (len > 0 && len < sizeof(word) &&
                (!backticked || (p > line && p[-1] == '`' && p[len] == '`'))) {
                memcpy(word, p, len);
                word[len] = '\0';
                if (type_shaped(word) && n < cap)
                    snprintf(out[n++], 64, "%s", word);
            }
            p += len > 0 ? len : 1;
        }
        if (strstr(line, end) != NULL)
            break;
    }
    fclose(f);
    return n;
}

static void docs_list_the_registry(void **state)
{
    static char got[64][64];
    const struct {
        const char *path, *start, *end;
        int backticked;
    } docs[] = {
        {GUIDE_MD, "**Events**", "DNSSEC lifecycles", 1},
        {MAN_PAGE, "The event types", "emits is an error", 0},
    };
    size_t i, k, n;

    (void)state;
    for (k = 0; k < sizeof(docs) / sizeof(docs[0]); k++) {
        n = doc_types(docs[k].path, docs[k].start, docs[k].end,
                      docs[k].backticked, got, 64);
        for (i = 0; i < n && i < ks_event_ntypes; i++)
            if (strcmp(got[i], ks_event_types[i].name) != 0)
                fail_msg("%s lists %s where the registry has %s",
                         docs[k].path, got[i], ks_event_types[i].name);
        if (n != ks_event_ntypes)
            fail_msg("%s lists %zu event types, the registry %zu",
                     docs[k].path, n, ks_event_ntypes);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registry_is_well_formed),
        cmocka_unit_test(scan_and_job_types_are_registered),
        cmocka_unit_test_setup_teardown(every_type_is_written_unknown_refused,
                                        setup, teardown),
        cmocka_unit_test(hook_patterns_use_the_registry),
        cmocka_unit_test(docs_list_the_registry),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
