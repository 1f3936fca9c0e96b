/*
 * test_dnssec_scan.c: kw_dnssec_scan over configurations on disk: a zone
 * two signers declare is read from the first (a note names the other's
 * line), a missing key directory is a note naming the zone's line and
 * keeps the signer's objects, [zone] sections add watched zones (a zone a
 * signer holds stays the signer's), and the files to watch are listed.
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

#include "dnssec/dnssec_scan.h"
#include "tmpdir.h"

#define NOW 1800000000

static char dir[256];
static ks_store *st;

static void write_file(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    path_join(path, sizeof(path), dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int has(char **v, size_t n, const char *words)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strstr(v[i], words) != NULL)
            return 1;
    return 0;
}

typedef struct zones {
    char zone[8][64], signer[8][16];
    size_t n;
} zones;

static int collect(void *ctx, const ks_dnssec_zone *z)
{
    zones *zs = ctx;

    if (zs->n < 8) {
        snprintf(zs->zone[zs->n], sizeof(zs->zone[0]), "%s", z->zone);
        snprintf(zs->signer[zs->n], sizeof(zs->signer[0]), "%s", z->signer);
    }
    zs->n++;
    return 0;
}

static void test_scan(void **state)
{
    char named[512], knot[512], keys[512], text[1024], want[1400];
    char srv[] = "127.0.0.1:5300", w[] = "w.test", a[] = "a.test";
    char *servers[] = { srv, NULL };
    kw_dnssec_zone_conf zc[2] = {
        { w, servers, 1, NULL, 40 },
        { a, NULL, 0, NULL, 44 },
    };
    kw_dnssec_params p;
    kw_dnssec_scan_result res;
    zones zs;
    kw_diag d;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "dnssecscan");
    path_join(named, sizeof(named), dir, "named.conf");
    path_join(knot, sizeof(knot), dir, "knot.conf");
    path_join(keys, sizeof(keys), dir, "keys");
    assert_int_equal(mkdir(keys, 0700), 0);
    snprintf(text, sizeof(text), "options { directory \"%s\"; };\n"
             "zone \"a.test\" { type primary; dnssec-policy default; "
             "key-directory \"keys\"; };\n"
             "zone \"b.test\" { type primary; dnssec-policy default; "
             "key-directory \"nokeys\"; };\n", dir);
    write_file("named.conf", text);
    write_file("knot.conf", "zone:\n  - domain: a.test\n    dnssec-signing: "
                            "on\n");
    path_join(text, sizeof(text), dir, "k.db");
    assert_int_equal(ks_open(text, KS_OPEN_CREATE, &st, &d), 0);

    kw_dnssec_params_defaults(&p);
    p.named_conf = named;
    p.knot_conf = knot;
    p.keymgr = srv; /* never run: a.test is BIND's already */
    p.zones = zc;
    p.nzones = 2;
    p.config_file = "/etc/keywarden/keywarden.conf";
    assert_int_equal(kw_dnssec_scan(st, &p, kw_dnssec_discover(&p), NOW,
                                    &res, &d),
                     0);
    assert_int_equal(res.stats.zones, 3);
    assert_int_equal(res.stats.keys, 0);
    snprintf(want, sizeof(want), "bind: %s:3: zone b.test: its key "
             "directory %s/nokeys does not exist", named, dir);
    assert_true(has(res.notes, res.nnotes, want));
    snprintf(want, sizeof(want), "knot: %s:2: zone a.test is read from "
             "another signer already", knot);
    assert_true(has(res.notes, res.nnotes, want));
    assert_true(has(res.watch, res.nwatch, named));
    assert_true(has(res.watch, res.nwatch, knot));
    assert_true(has(res.watch, res.nwatch, keys));
    kw_dnssec_scan_result_free(&res);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(ks_dnssec_zones_each(st, collect, &zs, &d), 0);
    assert_int_equal(zs.n, 3);
    assert_string_equal(zs.zone[0], "a.test");
    assert_string_equal(zs.signer[0], "bind");
    assert_string_equal(zs.zone[2], "w.test");
    assert_string_equal(zs.signer[2], "");

    /* named.conf gone: a note naming it, and BIND's zone kept; a.test is
     * Knot's now, whose keymgr cannot run: a note naming the zone's line
     * of knot.conf. */
    assert_int_equal(unlink(named), 0);
    assert_int_equal(kw_dnssec_scan(st, &p, 0, NOW + 60, &res, &d), 0);
    assert_true(has(res.notes, res.nnotes, named));
    snprintf(want, sizeof(want), "knot: %s:2: zone a.test: ", knot);
    assert_true(has(res.notes, res.nnotes, want));
    assert_int_equal(res.stats.kept, 1);
    assert_int_equal(res.stats.removed, 0);
    kw_dnssec_scan_result_free(&res);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(ks_dnssec_zones_each(st, collect, &zs, &d), 0);
    assert_int_equal(zs.n, 3);
    assert_string_equal(zs.zone[0], "a.test");
    assert_string_equal(zs.signer[0], "knot");
    assert_string_equal(zs.zone[1], "b.test");
    assert_string_equal(zs.signer[1], "bind");

    ks_close(st);
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
