/*
 * test_dnssec_inventory.c: DNSSEC zones and keys as inventory objects,
 * from real signers' configurations (signers.h: knotd and named signing
 * child.test with automatic keys) through keywarden.conf's [dnssec]:
 *   - scan --dnssec, then list --json: every key the signer holds (by
 *     keymgr's own view, or BIND's key directory) is an object named
 *     ZONE/ROLE/TAG with the stage its timing gives; the zone is an
 *     object named after it, unknown until checked; list's DNSSEC table,
 *     list --kind dnssec, show of a key and of the zone, check's exit;
 *   - Knot: after `knotc zone-key-rollover child.test ksk` the next scan
 *     sees the new KSK; a knot.conf that cannot be read is a note naming
 *     it, and the zone and its keys stay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <time.h>

#include "dnssec/dnssec_bind.h"
#include "dnssec/dnssec_knot.h"
#include "knot.h"
#include "kwrun.h"
#include "proc.h"
#include "signers.h"
#include "tmpdir.h"

static char dir[256];

static void write_conf(const char *conf, const char *key, const char *path)
{
    char text[1024];

    snprintf(text, sizeof text, "[dnssec]\n%s = %s\nkeymgr = "
             "/usr/sbin/keymgr\n[zone \"watched.test\"]\nservers = "
             "127.0.0.1:1\n", key, path);
    sg_write_file(conf, text);
}

/* The clock `list` and the stages the test derives are read at: a
 * signer may set a key's Publish a second ahead, and two clocks read
 * either side of it would disagree on its stage. */
static int64_t list_now;

/* The dnssec objects of `list --json` (kind dnssec), new reference, at
 * list_now. */
static json_t *listed(const char *state, const char *conf, int kind_only)
{
    char now[32];
    kwres r;
    json_error_t err;
    json_t *all, *out;
    size_t i;

    list_now = (int64_t)time(NULL) + 5;
    snprintf(now, sizeof now, "%lld", (long long)list_now);
    setenv("KEYWARDEN_NOW", now, 1);
    r = kind_only ? kw_ok(state, conf, "list", "--json", "--kind", "dnssec")
                  : kw_ok(state, conf, "list", "--json");
    unsetenv("KEYWARDEN_NOW");
    all = json_loads(r.out, 0, &err);
    out = json_array();
    if (all == NULL)
        fail_msg("list --json: %s:\n%s", err.text, r.out);
    for (i = 0; i < json_array_size(all); i++) {
        json_t *o = json_array_get(all, i);
        const char *kind = json_string_value(json_object_get(o, "kind"));

        if (kind_only)
            assert_string_equal(kind, "dnssec");
        if (strcmp(kind, "dnssec") == 0)
            json_array_append(out, o);
    }
    json_decref(all);
    kwres_free(&r);
    return out;
}

static json_t *find(json_t *objs, const char *name)
{
    size_t i;

    for (i = 0; i < json_array_size(objs); i++) {
        json_t *o = json_array_get(objs, i);

        if (strcmp(json_string_value(json_object_get(o, "name")), name) == 0)
            return o;
    }
    return NULL;
}

static const char *dn(json_t *o, const char *field)
{
    return json_string_value(json_object_get(json_object_get(o, "dnssec"),
                                             field));
}

/* Each of the signer's keys is listed as ZONE/ROLE/TAG, with its
 * DNSKEY and the stage its timing gives now; the zone, and the watched
 * zone, are listed, unknown until checked; nothing else is. */
static void assert_keys_listed(json_t *objs, const kw_dnssec_key *keys,
                               size_t n, const char *signer)
{
    int64_t now = list_now;
    json_t *z;
    size_t i;

    assert_int_equal(json_array_size(objs), n + 2);
    for (i = 0; i < n; i++) {
        char name[300];
        const char *role = keys[i].role == KW_DNSSEC_KSK   ? "KSK"
                           : keys[i].role == KW_DNSSEC_ZSK ? "ZSK"
                                                           : "CSK";
        json_t *o;

        snprintf(name, sizeof name, "child.test/%s/%u", role, keys[i].tag);
        if ((o = find(objs, name)) == NULL)
            fail_msg("%s is not listed", name);
        assert_string_equal(dn(o, "shape"), "key");
        assert_string_equal(dn(o, "role"), role);
        assert_string_equal(dn(o, "dnskey"), keys[i].dnskey);
        assert_string_equal(dn(o, "signer"), signer);
        assert_string_equal(dn(o, "stage"), kw_dnssec_stage_name(
                                                kw_dnssec_key_stage(
                                                    &keys[i], now, NULL,
                                                    NULL)));
        assert_int_equal(json_integer_value(json_object_get(
                             json_object_get(o, "dnssec"), "tag")),
                         keys[i].tag);
    }
    z = find(objs, "child.test");
    assert_non_null(z);
    assert_string_equal(dn(z, "shape"), "zone");
    assert_string_equal(dn(z, "signer"), signer);
    assert_string_equal(json_string_value(json_object_get(z, "health")),
                        "unknown");
    assert_string_equal(json_string_value(json_object_get(z, "reason")),
                        "not checked yet");
    z = find(objs, "watched.test");
    assert_non_null(z);
    assert_string_equal(dn(z, "signer"), "");
}

/* keymgr lists n keys for child.test. */
typedef struct kasp {
    const char *conf;
    kw_dnssec_key keys[8];
    size_t n, want;
} kasp;

static int kasp_has(void *ctx)
{
    kasp *k = ctx;
    kw_dnssec_knot_opts o = { .conf = k->conf, .keymgr = "/usr/sbin/keymgr",
                              .timeout_ms = 10000 };
    kw_diag d;

    return kw_dnssec_knot_list(&o, "child.test", k->keys, 8, &k->n, &d) == 0 &&
           k->n >= k->want;
}

/* The signer started in a new dir, a keywarden.conf naming its
 * configuration (key: "knot" or "named"), and the first scan: the zone,
 * the watched zone and the two keys are new. */
static void first_scan(sg_signer *s, const char *key,
                       void (*start)(sg_signer *, const char *),
                       char state_dir[512], char conf[512])
{
    char name[64];
    kwres r;

    snprintf(name, sizeof name, "dnssec-inv-%s", key);
    tmpdir_make(dir, sizeof dir, name);
    start(s, dir);
    path_join(state_dir, 512, dir, "state");
    path_join(conf, 512, dir, "keywarden.conf");
    snprintf(name, sizeof name, "%s_conf", key);
    write_conf(conf, name, s->conf);
    r = kw_ok(state_dir, conf, "scan", "--dnssec");
    assert_contains(r.out, "dnssec: 2 zones, 2 keys; 4 new");
    kwres_free(&r);
}

/* GET /metrics has the DNSSEC key stages. */
typedef struct metrics_wait {
    int port;
    char *text;
} metrics_wait;

static int dnssec_metrics(void *ctx)
{
    metrics_wait *w = ctx;

    free(w->text);
    w->text = kw_http_get(w->port, "/metrics");
    /* The stages and the objects' health come from two readings of the
     * store, each refreshed by its own job's end: wait for both. */
    return w->text != NULL &&
           strstr(w->text, "keywarden_dnssec_key_stage{") != NULL &&
           strstr(w->text, "keywarden_object_health{kind=\"dnssec\","
                           "name=\"child.test\"") != NULL;
}

/* serve's scan job records the zones and keys as scan --dnssec does, and
 * /metrics carries their stages, next transitions and health. */
static void serve_metrics(const sg_signer *s, const char *ksk)
{
    char conf[512], state_dir[512], text[1024], want[400], now[32];
    metrics_wait w = { kn_free_port("127.0.0.1"), NULL };
    pid_t pid;

    /* serve's clock pinned at the real now (the helper pins it). */
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));

    path_join(conf, sizeof conf, dir, "serve.conf");
    path_join(state_dir, sizeof state_dir, dir, "serve-state");
    snprintf(text, sizeof text, "[daemon]\nmetrics_listen = 127.0.0.1:%d\n"
             "[dnssec]\nknot_conf = %s\nkeymgr = /usr/sbin/keymgr\n",
             w.port, s->conf);
    sg_write_file(conf, text);
    pid = kw_serve_start(state_dir, conf, now, NULL,
                         kw_path(dir, "serve.log"));
    if (!proc_until(dnssec_metrics, &w, 60000)) {
        kill(pid, SIGKILL);
        proc_wait(pid, 10000);
        fail_msg("serve's /metrics has no DNSSEC key stage after 60 s (log "
                 "%s)", kw_path(dir, "serve.log"));
    }
    snprintf(want, sizeof want, "keywarden_dnssec_key_stage{zone=\"child."
             "test\",name=\"%s\",role=\"KSK\",tag=\"%s\",stage=\"ready\"} 1",
             ksk, strrchr(ksk, '/') + 1);
    assert_contains(w.text, want);
    assert_contains(w.text, "keywarden_object_health{kind=\"dnssec\","
                            "name=\"child.test\"");
    /* The KSK waits for its DS: no date for its next stage. */
    snprintf(want, sizeof want, "keywarden_dnssec_next_transition_timestamp_"
             "seconds{zone=\"child.test\",name=\"%s\"", ksk);
    assert_not_contains(w.text, want);
    free(w.text);
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(proc_wait(pid, 30000), 0);
}

static void test_knot(void **state)
{
    char state_dir[512], conf[512], ksk[300];
    sg_signer s;
    kasp k;
    json_t *objs;
    kwres r;
    size_t i;

    (void)state;
    first_scan(&s, "knot", sg_start_knot, state_dir, conf);
    memset(&k, 0, sizeof k);
    k.conf = s.conf;
    k.want = 2;
    assert_true(kasp_has(&k));
    objs = listed(state_dir, conf, 0);
    assert_keys_listed(objs, k.keys, k.n, "knot");
    json_decref(objs);
    objs = listed(state_dir, conf, 1);
    assert_keys_listed(objs, k.keys, k.n, "knot");
    /* The zone's source is the line of knot.conf that names it. */
    assert_non_null(strstr(dn(find(objs, "child.test"), "named_by"),
                           "knot.conf:16"));
    json_decref(objs);

    for (i = 0; i < k.n && k.keys[i].role != KW_DNSSEC_KSK; i++)
        ;
    assert_true(i < k.n);
    snprintf(ksk, sizeof ksk, "child.test/KSK/%u", k.keys[i].tag);
    r = kw_ok(state_dir, conf, "list");
    assert_contains(r.out, "DNSSEC");
    assert_contains(r.out, ksk);
    assert_contains(r.out, "ECDSAP256SHA256 256");
    /* Knot's KSK waits for its DS: ready, active once it is seen. */
    assert_contains(r.out, "ready");
    assert_contains(r.out, "active when the DS is seen");
    assert_contains(r.out, "zone (knot)");
    kwres_free(&r);
    r = kw_ok(state_dir, conf, "show", ksk);
    assert_contains(r.out, "kind         dnssec");
    assert_contains(r.out, "stage        ready; next: active when the DS is "
                           "seen");
    assert_contains(r.out, k.keys[i].dnskey);
    kwres_free(&r);
    r = kw_ok(state_dir, conf, "show", "child.test");
    assert_contains(r.out, "health       unknown: not checked yet");
    assert_contains(r.out, "keywarden dnssec check child.test");
    assert_contains(r.out, "checked      never");
    kwres_free(&r);
    /* Zones never checked: unknown is the worst, check exits 3. */
    r = kw_expect(3, state_dir, conf, (const char *[]){ "check", "--kind",
                                                         "dnssec", NULL });
    kwres_free(&r);

    serve_metrics(&s, ksk);

    /* A KSK rollover: Knot makes a new KSK; the next scan lists it. */
    kw_tool((const char *const[]){ "/usr/sbin/knotc", "-c", s.conf,
                                   "zone-key-rollover", "child.test", "ksk",
                                   NULL },
            kw_path(dir, "knotc.log"));
    k.want = 3;
    if (!proc_until(kasp_has, &k, 30000))
        fail_msg("keymgr lists no third key 30 s after the rollover");
    r = kw_ok(state_dir, conf, "scan", "--dnssec");
    assert_contains(r.out, "dnssec: 2 zones, 3 keys; 1 new");
    kwres_free(&r);
    objs = listed(state_dir, conf, 1);
    assert_keys_listed(objs, k.keys, k.n, "knot");
    json_decref(objs);

    /* knot.conf cannot be read: a note naming it; the zone and its keys
     * stay as they were. */
    write_conf(conf, "knot_conf", kw_path(dir, "gone/knot.conf"));
    r = kw_ok(state_dir, conf, "scan", "--dnssec");
    assert_contains(r.err, "gone/knot.conf");
    assert_contains(r.out, "4 kept");
    kwres_free(&r);
    objs = listed(state_dir, conf, 1);
    assert_keys_listed(objs, k.keys, k.n, "knot");
    json_decref(objs);

    sg_stop(&s);
    tmpdir_remove(dir);
}

static void test_named(void **state)
{
    char state_dir[512], conf[512];
    kw_dnssec_bind_key bk[8];
    kw_dnssec_key keys[8];
    sg_signer s;
    json_t *objs;
    kw_diag d;
    kwres r;
    size_t n = 0, i;

    (void)state;
    first_scan(&s, "named", sg_start_named, state_dir, conf);
    /* BIND's own view: its key directory. */
    assert_int_equal(kw_dnssec_bind_read_dir(s.keydir, "child.test", bk, 8,
                                             &n, &d),
                     0);
    for (i = 0; i < n; i++)
        keys[i] = bk[i].key;
    /* Scanned again after BIND's view was read: named may still have
     * been writing its key files' times at the first scan. */
    r = kw_ok(state_dir, conf, "scan", "--dnssec");
    kwres_free(&r);
    objs = listed(state_dir, conf, 1);
    assert_keys_listed(objs, keys, n, "bind");
    assert_non_null(strstr(dn(find(objs, "child.test"), "named_by"),
                           "named.conf:"));
    json_decref(objs);
    r = kw_ok(state_dir, conf, "list", "--kind", "dnssec");
    assert_contains(r.out, "zone (bind)");
    assert_contains(r.out, "active");
    kwres_free(&r);
    sg_stop(&s);
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_knot),
        cmocka_unit_test(test_named),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
