/*
 * test_dkim_rotate_many.c: kw_dkim_rotate_many's phases with a fake DNS
 * that counts its calls and a fake rspamadm that counts its runs: every
 * intent journalled before the first UPDATE and every record sent before
 * the first visibility look, each name looked at once per round (never
 * the blocking visible()), 100 domains switched by one signer run, and a
 * domain whose step fails stopping alone while the others go on (a key
 * that cannot be made; a refused UPDATE; a key missing at the switch,
 * where the group switch is retried one domain at a time; signer = exec
 * run once per domain), and the hooks' coalescing turning the batch's
 * 100 dkim.activated into one reload run; domains with a dedicated zone
 * batched with their records in it, one missing its CNAME waiting alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dkim/dkim_rotate.h"
#include "dkim/dkim_signer.h"
#include "hooks/hook_outbox.h"
#include "keystore/ks_store_int.h"
#include "tmpdir.h"

#define NOW 1800000000 /* 2027-01-15T08:00:00Z */
#define MAXD 100

/* The fake DNS.  A name is visible from its visible_at-th look on. */
typedef struct fake {
    int updates, looks, visibles;
    int updates_at_first_look;  /* -1: no look yet */
    int64_t publishing_at_first_update; /* -1: no update yet */
    char fail_update[64];       /* updates under this domain fail */
    char never[64];             /* this domain is never visible */
    int visible_at;
    char names[MAXD][340];      /* the names looked at, by first look */
    int counts[MAXD];
    size_t nnames;
    int seq[4 * MAXD];          /* the order of looks, as name indexes */
    size_t nseq;
} fake;

static fake fk;
static ks_store *st;

static int f_update(void *ctx, const kw_dkim_rot_params *p, int add,
                    const char *name, const char *value, kw_diag *d)
{
    fake *f = ctx;

    (void)add;
    (void)name;
    (void)value;
    /* How many intents were journalled before the first effect. */
    if (f->publishing_at_first_update < 0 &&
        ks_value(st, d, "counting", &f->publishing_at_first_update, NULL,
                 "SELECT count(*) FROM dkim_rotations WHERE stage = "
                 "'publishing'", "") != 0)
        return KW_EDB;
    if (f->fail_update[0] != '\0' &&
        strcmp(p->domain, f->fail_update) == 0)
        return kw_diag_set(d, KW_EACCES, "127.0.0.1:53: NOTAUTH (the TSIG "
                           "key was not accepted)");
    f->updates++;
    return 0;
}

/* The blocking form: the batch must not use it when look is there. */
static int f_visible(void *ctx, const kw_dkim_rot_params *p,
                     const char *name, const char *value, kw_diag *d)
{
    (void)p;
    (void)name;
    (void)value;
    (void)d;
    ((fake *)ctx)->visibles++;
    return 0;
}

static int f_look(void *ctx, const kw_dkim_rot_params *p, const char *name,
                  const char *value, kw_diag *d)
{
    fake *f = ctx;
    size_t i;

    (void)value;
    if (f->updates_at_first_look < 0)
        f->updates_at_first_look = f->updates;
    f->looks++;
    for (i = 0; i < f->nnames && strcmp(f->names[i], name) != 0; i++)
        ;
    if (i == f->nnames && f->nnames < MAXD)
        snprintf(f->names[f->nnames++], sizeof(f->names[0]), "%s", name);
    if (i < MAXD) {
        f->counts[i]++;
        if (f->nseq < sizeof(f->seq) / sizeof(f->seq[0]))
            f->seq[f->nseq++] = (int)i;
    }
    if ((f->never[0] != '\0' && strcmp(p->domain, f->never) == 0) ||
        (i < MAXD && f->counts[i] < f->visible_at))
        return kw_diag_set(d, KW_ETIMEDOUT, "%s: 1 of 2 servers do not "
                           "serve it yet: 127.0.0.2:53 answered NXDOMAIN",
                           name);
    return 0;
}

static int f_negttl(void *ctx, const kw_dkim_rot_params *p, int64_t *ttl,
                    kw_diag *d)
{
    (void)ctx;
    (void)p;
    (void)d;
    *ttl = 30;
    return 0;
}

/* zone =: every slot's CNAME served, but for the domain in fk.never. */
static int f_cname(void *ctx, const kw_dkim_rot_params *p, const char *name,
                   const char *target, kw_diag *d)
{
    fake *f = ctx;

    (void)target;
    if (f->never[0] != '\0' && strcmp(p->domain, f->never) == 0)
        return kw_diag_set(d, KW_ETIMEDOUT, "2 of 2 servers of %s do not "
                           "serve it: 127.0.0.1:53 answered NXDOMAIN (no "
                           "CNAME)", p->domain);
    (void)name;
    return 0;
}

static kw_dkim_rot_dns dns = {f_update, f_visible, f_negttl, &fk, f_look,
                              f_cname};

static char dir[256], keydir[512], smap[512], pmap[512];
static kw_dkim_rot_params prm[MAXD];
static const kw_dkim_rot_params *pp[MAXD];
static kw_dkim_rot_out outs[MAXD];
static char *old_path;

/* dir/name: a shell script logging its arguments to dir/name.log, then
 * running tail (may be ""); its path into path (600 bytes). */
static void write_script(const char *name, const char *tail, char *path)
{
    char text[1200];
    FILE *f;

    path_join(path, 600, dir, name);
    snprintf(text, sizeof(text), "#!/bin/sh\necho \"$@\" >> %s/%s.log\n%s"
             "exit 0\n", dir, name, tail);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}

/* Empty rspamd maps dir/sname and dir/pname; their paths (512 bytes). */
static void empty_maps(const char *sname, const char *pname, char *spath,
                       char *ppath)
{
    FILE *f;

    path_join(spath, 512, dir, sname);
    path_join(ppath, 512, dir, pname);
    assert_non_null(f = fopen(spath, "w"));
    fclose(f);
    assert_non_null(f = fopen(ppath, "w"));
    fclose(f);
}

/* A fake rspamadm first in PATH: logs each run, exits 0. */
static void fake_rspamadm(void)
{
    char path[600], newpath[4096];

    write_script("rspamadm", "", path);
    old_path = strdup(getenv("PATH") != NULL ? getenv("PATH") : "/usr/bin");
    snprintf(newpath, sizeof(newpath), "%s:%s", dir, old_path);
    setenv("PATH", newpath, 1);
}

static int setup(void **state)
{
    char path[512];
    kw_diag d;
    int i;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "dkimmany");
    path_join(path, sizeof(path), dir, "k.db");
    path_join(keydir, sizeof(keydir), dir, "keys");
    empty_maps("selectors.map", "paths.map", smap, pmap);
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &st, &d), 0);
    memset(&fk, 0, sizeof(fk));
    fk.updates_at_first_look = -1;
    fk.publishing_at_first_update = -1;
    fk.visible_at = 1;
    for (i = 0; i < MAXD; i++) {
        char dom[64];

        kw_dkim_rot_params_defaults(&prm[i]);
        snprintf(dom, sizeof(dom), "d%03d.example", i);
        prm[i].domain = strdup(dom);
        prm[i].selector = strdup("kw%Y%m");
        prm[i].key_dir = strdup(keydir);
        prm[i].key_type = strdup("ed25519");
        prm[i].dns_server = strdup("127.0.0.1");
        prm[i].ttl = 60;
        prm[i].margin = 0;
        prm[i].signer = KW_DKIM_SIGNER_RSPAMD;
        prm[i].selector_map = strdup(smap);
        prm[i].path_map = strdup(pmap);
        pp[i] = &prm[i];
    }
    fake_rspamadm();
    return 0;
}

static int teardown(void **state)
{
    int i;

    (void)state;
    for (i = 0; i < MAXD; i++)
        kw_dkim_rot_params_free(&prm[i]);
    ks_close(st);
    tmpdir_remove(dir);
    setenv("PATH", old_path, 1);
    free(old_path);
    return 0;
}

static void many(size_t n, int64_t now)
{
    kw_diag d;

    d.msg[0] = '\0';
    if (kw_dkim_rotate_many(st, pp, n, &dns, 0, now, outs, &d) != 0)
        fail_msg("kw_dkim_rotate_many: %s", d.msg);
}

/* Lines of dir/NAME (0 when missing). */
static int lines_of(const char *name)
{
    char path[600];

    path_join(path, sizeof(path), dir, name);
    return file_lines(path);
}

static int64_t events_of(const char *type)
{
    int64_t n = 0;
    kw_diag d;

    assert_int_equal(ks_value(st, &d, "counting", &n, NULL,
                              "SELECT count(*) FROM events WHERE type = ?1",
                              "t", type),
                     0);
    return n;
}

/* 100 domains: every record sent before the first look, each name looked
 * at once, then one rspamadm run switches all of them, each active with
 * its own dkim.activated. */
static void test_hundred_one_switch(void **state)
{
    int i;

    (void)state;
    many(MAXD, NOW);
    assert_int_equal(fk.updates, MAXD);
    /* Every key made and every intent journalled before the first
     * UPDATE; every record sent before the first look. */
    assert_int_equal(fk.publishing_at_first_update, MAXD);
    assert_int_equal(fk.updates_at_first_look, MAXD);
    assert_int_equal(fk.looks, MAXD);
    assert_int_equal(fk.visibles, 0);
    for (i = 0; i < MAXD; i++) {
        assert_string_equal(outs[i].rot.stage, "visible");
        assert_true(outs[i].waiting);
        /* max(negative TTL 30, TTL 60) + margin 0. */
        assert_int_equal(outs[i].rot.wait_until, NOW + 60);
    }
    assert_int_equal(lines_of("rspamadm.log"), 0);

    many(MAXD, NOW + 60);
    assert_int_equal(lines_of("rspamadm.log"), 1);
    assert_int_equal(lines_of("selectors.map"), MAXD);
    assert_int_equal(lines_of("paths.map"), MAXD);
    assert_int_equal(events_of("dkim.activated"), MAXD);
    for (i = 0; i < MAXD; i++) {
        assert_string_equal(outs[i].rot.stage, "active");
        assert_false(outs[i].stopped);
    }
    /* Nothing sent or looked at again. */
    assert_int_equal(fk.updates, MAXD);
    assert_int_equal(fk.looks, MAXD);
}

/* The hooks turn a batch's 100 dkim.activated into one reload: a reload
 * hook (coalesce 10 s) claims nothing while the window is open, then all
 * 100 deliveries in one run; with coalesce 0 (a run = hook left as it
 * is) a run takes one. */
static void test_one_reload_for_the_batch(void **state)
{
    char *on[] = {(char *)"dkim.activated"};
    kw_hook_def h;
    kw_hook_batch b;
    size_t queued = 0;
    kw_diag d;

    (void)state;
    many(MAXD, NOW);
    many(MAXD, NOW + 60);
    memset(&h, 0, sizeof(h));
    h.name = (char *)"reload-opendkim";
    h.on = on;
    h.non = 1;
    h.reload = KW_RELOAD_OPENDKIM;
    h.timeout = KW_HOOK_DEFAULT_TIMEOUT;
    h.retries = KW_HOOK_DEFAULT_RETRIES;
    h.retry_delay = KW_HOOK_DEFAULT_RETRY_DELAY;
    h.coalesce = KW_HOOK_RELOAD_COALESCE;
    assert_int_equal(kw_hook_dispatch(st, &h, 1, NOW + 61, &queued, NULL,
                                      &d), 0);
    assert_int_equal(queued, MAXD);
    memset(&b, 0, sizeof(b));
    assert_int_equal(kw_hook_claim(st, &h, NOW + 65, 0, NOW + 200, NULL, &b,
                                   &d), 0);
    assert_int_equal(b.nrows, 0);
    kw_hook_batch_clear(&b);
    assert_int_equal(kw_hook_claim(st, &h, NOW + 60 + KW_HOOK_RELOAD_COALESCE,
                                   0, NOW + 200, NULL, &b, &d), 0);
    assert_int_equal(b.nrows, MAXD);
    assert_int_equal(json_array_size(b.events), MAXD);
    kw_hook_batch_clear(&b);

    /* The same events for a hook without coalescing: one per run. */
    h.name = (char *)"run-per-event";
    h.reload = KW_RELOAD_NONE;
    h.coalesce = 0;
    assert_int_equal(ks_exec(st, "UPDATE meta SET value = '0' WHERE key = "
                                 "'hook_cursor'", &d), 0);
    assert_int_equal(kw_hook_dispatch(st, &h, 1, NOW + 61, &queued, NULL,
                                      &d), 0);
    memset(&b, 0, sizeof(b));
    assert_int_equal(kw_hook_claim(st, &h, NOW + 61, 0, NOW + 200, NULL, &b,
                                   &d), 0);
    assert_int_equal(b.nrows, 1);
    kw_hook_batch_clear(&b);
}

/* Names not yet visible are asked again in the next round, each once per
 * round, in the same order; one never visible waits alone at published
 * with the last look's words once its timeout passes. */
static void test_rounds(void **state)
{
    size_t i;

    (void)state;
    fk.visible_at = 3;
    many(5, NOW);
    assert_int_equal(fk.looks, 15);
    assert_int_equal(fk.nseq, 15);
    for (i = 0; i < 15; i++)
        assert_int_equal(fk.seq[i], (int)(i % 5));
    for (i = 0; i < 5; i++)
        assert_string_equal(outs[i].rot.stage, "visible");
    assert_int_equal(fk.visibles, 0);

    /* A second batch, one domain never visible within its 700 ms. */
    memset(&fk, 0, sizeof(fk));
    fk.updates_at_first_look = -1;
    fk.publishing_at_first_update = -1;
    fk.visible_at = 1;
    snprintf(fk.never, sizeof(fk.never), "d007.example");
    for (i = 5; i < 10; i++)
        prm[i].timeout_ms = 700;
    many(10, NOW);
    for (i = 5; i < 10; i++) {
        if (i == 7)
            continue;
        assert_string_equal(outs[i].rot.stage, "visible");
        assert_int_equal(fk.counts[i - 5], 1);
    }
    assert_string_equal(outs[7].rot.stage, "published");
    assert_true(outs[7].waiting);
    assert_false(outs[7].stopped);
    assert_non_null(strstr(outs[7].rot.waits_for, "127.0.0.2:53 answered "
                                                  "NXDOMAIN"));
    /* Rounds 200 ms apart within 700 ms: 3 to 5 looks, not one. */
    assert_in_range(fk.counts[2], 3, 5);
}

/* Domains with a dedicated zone in one batch: their records looked at in
 * the dedicated zone, in the same rounds; one whose CNAME is missing
 * waits before publication, alone. */
static void test_zone_batch(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++) {
        free(prm[i].selector);
        prm[i].selector = strdup("kw%n");
        prm[i].zone = strdup("dkim.example.net");
    }
    snprintf(fk.never, sizeof(fk.never), "d001.example");
    many(3, NOW);
    assert_string_equal(outs[0].rot.stage, "visible");
    assert_string_equal(outs[2].rot.stage, "visible");
    assert_string_equal(outs[0].rot.selector, "kw1");
    assert_string_equal(outs[1].rot.stage, "generated");
    assert_true(outs[1].waiting);
    assert_non_null(strstr(outs[1].rot.waits_for, "add \"kw1._domainkey."
                           "d001.example. CNAME kw1._domainkey.d001.example."
                           "dkim.example.net.\""));
    assert_int_equal(fk.updates, 2);
    assert_int_equal(fk.nnames, 2);
    assert_string_equal(fk.names[0],
                        "kw1._domainkey.d000.example.dkim.example.net");
    assert_string_equal(fk.names[1],
                        "kw1._domainkey.d002.example.dkim.example.net");
}

/* A refused UPDATE stops its domain alone; a key gone at the switch makes
 * the group switch fail, and the one-by-one retry stops only that
 * domain. */
static void test_one_fails_others_go_on(void **state)
{
    int i;

    (void)state;
    snprintf(fk.fail_update, sizeof(fk.fail_update), "d003.example");
    many(10, NOW);
    for (i = 0; i < 10; i++) {
        if (i == 3) {
            assert_string_equal(outs[i].rot.stage, "publishing");
            assert_true(outs[i].stopped);
            assert_non_null(strstr(outs[i].rot.stopped, "NOTAUTH"));
        } else {
            assert_string_equal(outs[i].rot.stage, "visible");
        }
    }
    assert_int_equal(fk.updates, 9);
    assert_int_equal(fk.looks, 9);

    assert_int_equal(unlink(outs[5].rot.key_path), 0);
    many(10, NOW + 60);
    for (i = 0; i < 10; i++) {
        if (i == 3) {
            /* Still stopped: its retry is not due yet. */
            assert_true(outs[i].stopped);
            assert_string_equal(outs[i].rot.stage, "publishing");
        } else if (i == 5) {
            assert_string_equal(outs[i].rot.stage, "propagated");
            assert_true(outs[i].stopped);
            assert_non_null(strstr(outs[i].rot.stopped,
                                   "switching the signer"));
        } else {
            assert_string_equal(outs[i].rot.stage, "active");
            assert_false(outs[i].stopped);
        }
    }
    /* The group failed before its check; then 8 switches one by one. */
    assert_int_equal(lines_of("rspamadm.log"), 8);
    assert_int_equal(lines_of("selectors.map"), 8);
    assert_int_equal(events_of("dkim.activated"), 8);
}

/* A key that cannot be made (its group does not exist) stops its domain
 * at generating; the keys of the others, made on the same threads, go
 * on to be published and seen. */
static void test_keygen_fails_alone(void **state)
{
    int i;

    (void)state;
    prm[2].group = strdup("kw-no-such-group");
    many(5, NOW);
    for (i = 0; i < 5; i++) {
        if (i == 2) {
            assert_string_equal(outs[i].rot.stage, "generating");
            assert_true(outs[i].stopped);
            assert_non_null(strstr(outs[i].rot.stopped, "kw-no-such-group"));
            continue;
        }
        assert_string_equal(outs[i].rot.stage, "visible");
        assert_non_null(strstr(outs[i].rot.record, "k=ed25519"));
    }
    assert_int_equal(fk.updates, 4);
}

/* Two sets of signer files: one switch each. */
static void test_groups_by_files(void **state)
{
    char smap2[512], pmap2[512];
    int i;

    (void)state;
    empty_maps("selectors2.map", "paths2.map", smap2, pmap2);
    for (i = 0; i < 20; i += 2) {
        free(prm[i].selector_map);
        free(prm[i].path_map);
        prm[i].selector_map = strdup(smap2);
        prm[i].path_map = strdup(pmap2);
    }
    many(20, NOW);
    many(20, NOW + 60);
    assert_int_equal(lines_of("rspamadm.log"), 2);
    assert_int_equal(lines_of("selectors.map"), 10);
    assert_int_equal(lines_of("selectors2.map"), 10);
    for (i = 0; i < 20; i++)
        assert_string_equal(outs[i].rot.stage, "active");
}

/* signer = exec: one run per domain, never repeated for the others when
 * one domain's run fails. */
static void test_exec_each_once(void **state)
{
    char script[600];
    int i;

    (void)state;
    write_script("signer", "[ \"$1\" = d001.example ] && exit 3\n", script);
    for (i = 0; i < 3; i++) {
        prm[i].signer = KW_DKIM_SIGNER_EXEC;
        prm[i].signer_exec = calloc(2, sizeof(char *));
        prm[i].signer_exec[0] = strdup(script);
    }
    many(3, NOW);
    many(3, NOW + 60);
    assert_int_equal(lines_of("signer.log"), 3);
    /* First rotations: the program's exit 0 proves the switch, so they
     * end at retired. */
    assert_string_equal(outs[0].rot.stage, "retired");
    assert_string_equal(outs[1].rot.stage, "propagated");
    assert_true(outs[1].stopped);
    assert_non_null(strstr(outs[1].rot.stopped, "exited 3"));
    assert_string_equal(outs[2].rot.stage, "retired");
}

/* kw_dkim_rotate_many and kw_dkim_rotate_run leave the same journal: the
 * same stages in the same order, each through set_state(). */
static void test_same_walk_as_run(void **state)
{
    ks_dkim_rot_step *j;
    size_t n, i, k = 0;
    kw_diag d;
    static const char *const want[] = {"generating", "generated",
                                       "publishing", "published", "visible",
                                       "propagated", "active"};

    (void)state;
    many(1, NOW);
    many(1, NOW + 60);
    assert_int_equal(ks_dkim_rot_journal(st, outs[0].rot.id, &j, &n, &d), 0);
    for (i = 0; i < n; i++)
        if (strcmp(j[i].old_stage, j[i].new_stage) != 0) {
            assert_true(k < 7);
            assert_string_equal(j[i].new_stage, want[k]);
            k++;
        }
    assert_int_equal(k, 7);
    /* The switch's intent is journalled before the effect. */
    for (i = 0; i < n; i++)
        if (strcmp(j[i].new_stage, "active") == 0)
            break;
    assert_true(i > 0 && i < n);
    assert_non_null(strstr(j[i - 1].intent, "switch rspamd to selector"));
    free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hundred_one_switch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zone_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_fails_others_go_on, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_groups_by_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keygen_fails_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_same_walk_as_run, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_exec_each_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_one_reload_for_the_batch, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
