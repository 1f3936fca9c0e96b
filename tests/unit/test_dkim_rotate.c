/*
 * test_dkim_rotate.c: the DKIM rotation's state machine with a fake DNS
 * side and a clock passed in: the walk to propagated and the wait it
 * computes, a stop and its retry (the same record, one key), a resume from
 * a key written before a crash, the signer-switch and drain invariants,
 * the reload invariant (no retirement while the reload hook has not
 * succeeded), selectors never reused, and a 90-day cycle walked in test time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dkim/dkim_key.h"
#include "dkim/dkim_rotate.h"
#include "dkim/dkim_signer.h"
#include "common/kw_fs.h"
#include "keystore/ks_keygen.h"
#include "keystore/ks_store_int.h"
#include "tmpdir.h"

#define NOW 1800000000 /* 2027-01-15T08:00:00Z */
#define DAY 86400

/* The fake DNS: what was sent, and what the servers will say. */
typedef struct fake {
    int adds, removes;
    char last_add[4096], last_remove[4096], last_name[340];
    int fail_update;     /* the next updates fail (TSIG refused) */
    int invisible;       /* the next visibility checks time out */
    int64_t neg_ttl;
} fake;

static int f_update(void *ctx, const kw_dkim_rot_params *p, int add,
                    const char *name, const char *value, kw_diag *d)
{
    fake *f = ctx;

    (void)p;
    if (f->fail_update > 0) {
        f->fail_update--;
        return kw_diag_set(d, KW_EACCES, "127.0.0.1:53: NOTAUTH (the TSIG "
                           "key was not accepted)");
    }
    snprintf(f->last_name, sizeof(f->last_name), "%s", name);
    if (add) {
        f->adds++;
        snprintf(f->last_add, sizeof(f->last_add), "%s", value);
    } else {
        f->removes++;
        snprintf(f->last_remove, sizeof(f->last_remove), "%s",
                 value != NULL ? value : "");
    }
    return 0;
}

static int f_visible(void *ctx, const kw_dkim_rot_params *p,
                     const char *name, const char *value, kw_diag *d)
{
    fake *f = ctx;

    (void)p;
    (void)value;
    if (f->invisible > 0) {
        f->invisible--;
        return kw_diag_set(d, KW_ETIMEDOUT, "127.0.0.2:53 (serial 7) "
                           "answers NXDOMAIN for %s", name);
    }
    return 0;
}

static int f_negttl(void *ctx, const kw_dkim_rot_params *p, int64_t *ttl,
                    kw_diag *d)
{
    (void)p;
    (void)d;
    *ttl = ((fake *)ctx)->neg_ttl;
    return 0;
}

static char dir[256], keydir[512];
static ks_store *st;
static fake fk;
static kw_dkim_rot_dns dns = {f_update, f_visible, f_negttl, &fk, NULL};
static kw_dkim_rot_params prm;

static int setup(void **state)
{
    char path[512];
    kw_diag d;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "dkimrot");
    path_join(path, sizeof(path), dir, "k.db");
    path_join(keydir, sizeof(keydir), dir, "keys");
    assert_int_equal(ks_open(path, KS_OPEN_CREATE, &st, &d), 0);
    memset(&fk, 0, sizeof(fk));
    fk.neg_ttl = 300;
    kw_dkim_rot_params_defaults(&prm);
    prm.domain = strdup("example.com");
    prm.selector = strdup("kw%Y%m");
    prm.key_dir = strdup(keydir);
    prm.key_type = strdup("ed25519");
    prm.dns_server = strdup("127.0.0.1");
    prm.tsig_key = strdup("kw");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_dkim_rot_params_free(&prm);
    ks_close(st);
    tmpdir_remove(dir);
    return 0;
}

static kw_dkim_rot_out run(int flags, int64_t now)
{
    kw_dkim_rot_out out;
    kw_diag d;

    d.msg[0] = '\0';
    if (kw_dkim_rotate_run(st, &prm, &dns, flags, now, &out, &d) != 0)
        fail_msg("kw_dkim_rotate_run: %s", d.msg);
    return out;
}

/* The test plays the signer switch (dkim_signer.h's): propagated to
 * active, written the way a switch would, with event (may be NULL) in
 * the same transaction. */
static void play_switch(kw_dkim_rot_out *o, int64_t now, const char *event)
{
    kw_diag d;

    assert_string_equal(o->rot.stage, "propagated");
    snprintf(o->rot.stage, sizeof(o->rot.stage), "active");
    o->rot.since = now;
    o->rot.waits_for[0] = '\0';
    o->rot.wait_until = 0;
    assert_int_equal(ks_dkim_rot_save(st, &o->rot, "propagated", now, NULL,
                                      "signer switched (test)", NULL, event,
                                      &d),
                     0);
}

static void play_signer(kw_dkim_rot_out *o, int64_t now)
{
    play_switch(o, now, NULL);
}

/* An OpenDKIM switch as dkim_rotate.c writes it: with dkim.activated. */
static void play_opendkim(kw_dkim_rot_out *o, int64_t now)
{
    play_switch(o, now, "dkim.activated");
}

static int count_keys(void)
{
    char cmd[700], buf[32] = "";
    FILE *p;

    snprintf(cmd, sizeof(cmd), "ls %s | grep -c '\\.key$'", keydir);
    p = popen(cmd, "r");
    assert_non_null(p);
    if (fgets(buf, sizeof(buf), p) == NULL)
        buf[0] = '0';
    pclose(p);
    return atoi(buf);
}

/* generate -> published -> visible, the wait from max(neg TTL, TTL) +
 * margin, then propagated, and a wait for the signer. */
static void test_walk_to_propagated(void **state)
{
    kw_dkim_rot_out o;
    ks_dkim_rot_step *j;
    kw_dkim_pub pub;
    char rec[4096];
    struct stat sb;
    size_t n, i;
    kw_diag d;
    static const char *const want[] = {"generating", "generated",
                                       "publishing", "published", "visible",
                                       "propagated"};

    (void)state;
    fk.invisible = 2;
    o = run(0, NOW);
    assert_string_equal(o.rot.selector, "kw202701");
    assert_string_equal(o.rot.stage, "published");
    assert_true(o.waiting);
    assert_non_null(strstr(o.rot.waits_for, "127.0.0.2:53"));
    assert_int_equal(fk.adds, 1);
    assert_string_equal(fk.last_name, "kw202701._domainkey.example.com");
    assert_string_equal(fk.last_add, o.rot.record);
    /* The key file: 0600, and the record is its public half. */
    assert_int_equal(stat(o.rot.key_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(kw_dkim_key_load(o.rot.key_path, &pub, &d), 0);
    assert_int_equal(kw_dkim_pub_record(&pub, rec, sizeof(rec)), 0);
    assert_string_equal(rec, o.rot.record);

    /* Still not visible: the same wait, nothing sent again. */
    o = run(0, NOW + 60);
    assert_string_equal(o.rot.stage, "published");
    assert_int_equal(o.changes, 0);
    /* Visible: the wait is max(300, 3600) + 3600. */
    o = run(0, NOW + 120);
    assert_string_equal(o.rot.stage, "visible");
    assert_int_equal(o.rot.wait_until, NOW + 120 + 7200);
    assert_non_null(strstr(o.rot.waits_for, "waits until"));
    o = run(0, NOW + 120 + 7199);
    assert_string_equal(o.rot.stage, "visible");
    o = run(0, NOW + 120 + 7200);
    assert_string_equal(o.rot.stage, "propagated");
    assert_true(o.waiting);
    assert_non_null(strstr(o.rot.waits_for, "signer switch"));
    /* Invariant 1: waiting longer never makes it active by itself. */
    o = run(0, NOW + 30 * DAY);
    assert_string_equal(o.rot.stage, "propagated");
    assert_int_equal(fk.adds, 1);
    assert_int_equal(count_keys(), 1);

    /* The journal: each stage once, in order, the intent before the
     * effect; no private key in any row. */
    assert_int_equal(ks_dkim_rot_journal(st, o.rot.id, &j, &n, &d), 0);
    {
        size_t k = 0;

        for (i = 0; i < n; i++) {
            if (strcmp(j[i].old_stage, j[i].new_stage) != 0) {
                assert_true(k < 6);
                assert_string_equal(j[i].new_stage, want[k]);
                k++;
            }
            assert_null(strstr(j[i].result, "PRIVATE"));
            assert_null(strstr(j[i].effect, "PRIVATE"));
        }
        assert_int_equal(k, 6);
    }
    assert_non_null(strstr(j[0].intent, o.rot.key_path));
    free(j);
}

/* A refused UPDATE stops at publishing with the reason; nothing more is
 * sent before the retry time; the retry sends the same record, and the
 * key is the one written before. */
static void test_stop_and_retry(void **state)
{
    kw_dkim_rot_out o, o2;

    (void)state;
    fk.fail_update = 1;
    o = run(0, NOW);
    assert_string_equal(o.rot.stage, "publishing");
    assert_true(o.stopped);
    assert_non_null(strstr(o.rot.stopped, "NOTAUTH"));
    assert_int_equal(fk.adds, 0);
    o2 = run(0, NOW + 60);
    assert_true(o2.stopped);
    assert_int_equal(fk.adds, 0);
    o2 = run(0, NOW + 901);
    assert_string_equal(o2.rot.stage, "visible");
    assert_int_equal(fk.adds, 1);
    assert_string_equal(fk.last_add, o.rot.record);
    assert_string_equal(o2.rot.stopped, "");
    assert_int_equal(count_keys(), 1);
}

/* Killed after the key write, before the stage said generated: the resume
 * uses that key, it makes no second one. */
static void test_resume_generating(void **state)
{
    kw_dkim_rot_out o;
    ks_dkim_rot r;
    kw_dkim_pub pub;
    char path[700], rec[4096];
    EVP_PKEY *k;
    kw_diag d;

    (void)state;
    assert_int_equal(kw_mkdir_p(keydir, 0700), 0);
    snprintf(path, sizeof(path), "%s/example.com.kw202701.key", keydir);
    k = ks_keygen(KS_KEY_ED25519, &d);
    assert_non_null(k);
    assert_int_equal(ks_key_write(path, k, 0600, (gid_t)-1, &d), 0);
    EVP_PKEY_free(k);
    /* The record of the key written before the "crash". */
    assert_int_equal(kw_dkim_key_load(path, &pub, &d), 0);
    assert_int_equal(kw_dkim_pub_record(&pub, rec, sizeof(rec)), 0);
    memset(&r, 0, sizeof(r));
    snprintf(r.domain, sizeof(r.domain), "example.com");
    snprintf(r.selector, sizeof(r.selector), "kw202701");
    snprintf(r.key_path, sizeof(r.key_path), "%s", path);
    snprintf(r.key_type, sizeof(r.key_type), "ed25519");
    snprintf(r.stage, sizeof(r.stage), "generating");
    r.since = r.started_at = NOW;
    assert_int_equal(ks_dkim_rot_save(st, &r, "none", NOW, "write", NULL,
                                      NULL, NULL, &d), 0);
    o = run(0, NOW + 5);
    assert_int_equal(o.rot.id, r.id);
    assert_string_equal(o.rot.record, rec);
    assert_string_equal(fk.last_add, rec);
    assert_int_equal(count_keys(), 1);
}

/* Killed after the UPDATE, before the stage said published: the resume
 * sends the same record again (an idempotent add), once. */
static void test_resume_publishing(void **state)
{
    kw_dkim_rot_out o;
    kw_diag d;

    (void)state;
    fk.fail_update = 1; /* stop at publishing, as a crash would leave it */
    o = run(0, NOW);
    assert_string_equal(o.rot.stage, "publishing");
    o = run(KW_DKIM_ROT_RETRY, NOW + 1);
    assert_int_equal(fk.adds, 1);
    assert_string_equal(o.rot.stage, "visible");
    (void)d;
}

/* A selector is never used twice: the same month gives a suffix. */
static void test_selector_not_reused(void **state)
{
    kw_dkim_rot_out o;
    char s[64];
    kw_diag d;

    (void)state;
    o = run(0, NOW);
    assert_string_equal(o.rot.selector, "kw202701");
    o = run(0, NOW + 9000);
    play_signer(&o, NOW + 9000);
    o = run(KW_DKIM_ROT_START, NOW + 10000);
    assert_string_equal(o.rot.selector, "kw202701-2");
    assert_string_equal(o.rot.old_selector, "kw202701");
    assert_int_equal(kw_dkim_selector_expand("k%Y%m%d", NOW, s, sizeof(s),
                                             &d), 0);
    assert_string_equal(s, "k20270115");
    assert_int_not_equal(kw_dkim_selector_expand("k%s", NOW, s, sizeof(s),
                                                 &d), 0);
    assert_int_not_equal(kw_dkim_selector_expand("k.x", NOW, s, sizeof(s),
                                                 &d), 0);
}

/* Invariant 2: the old record stays for drain after retirement, then is
 * removed (the exact old record), seen gone, the old key archived. */
static void test_drain_then_remove(void **state)
{
    kw_dkim_rot_out o;
    char first_rec[4096], first_key[1024], archived[1400];
    int64_t t;

    (void)state;
    o = run(0, NOW);
    o = run(0, NOW + 7200);
    play_signer(&o, NOW + 7200);
    snprintf(first_rec, sizeof(first_rec), "%s", o.rot.record);
    snprintf(first_key, sizeof(first_key), "%s", o.rot.key_path);
    /* Finished (it replaced no managed key): nothing until rotate. */
    o = run(0, NOW + 89 * DAY);
    assert_true(o.waiting);
    assert_non_null(strstr(o.rot.waits_for, "next rotation"));
    assert_int_equal(fk.adds, 1);

    t = NOW + 90 * DAY;
    o = run(0, t);
    assert_string_equal(o.rot.selector, "kw202704");
    assert_string_equal(o.rot.old_record, first_rec);
    o = run(0, t + 7200);
    play_signer(&o, t + 7200);
    o = run(0, t + 7300);
    assert_string_equal(o.rot.stage, "retired");
    assert_int_equal(o.rot.wait_until, t + 7300 + 7 * DAY);
    o = run(0, t + 7300 + 7 * DAY - 1);
    assert_string_equal(o.rot.stage, "retired");
    assert_int_equal(fk.removes, 0);
    fk.invisible = 1;
    o = run(0, t + 7300 + 7 * DAY);
    assert_string_equal(o.rot.stage, "removing");
    assert_true(o.waiting);
    assert_int_equal(fk.removes, 1);
    assert_string_equal(fk.last_remove, first_rec);
    assert_string_equal(fk.last_name, "kw202701._domainkey.example.com");
    o = run(0, t + 7400 + 7 * DAY);
    assert_string_equal(o.rot.stage, "removed");
    assert_int_equal(access(first_key, F_OK), -1);
    snprintf(archived, sizeof(archived),
             "%s/archive/example.com.kw202701.key", keydir);
    assert_int_equal(access(archived, F_OK), 0);
    assert_int_equal(access(o.rot.key_path, F_OK), 0);
}

/* retire = revoke: p= emptied, not removed. */
static void test_revoke(void **state)
{
    kw_dkim_rot_out o;
    int64_t t = NOW + 90 * DAY;

    (void)state;
    prm.retire_revoke = 1;
    prm.delete_old_key = 1;
    o = run(0, NOW);
    o = run(0, NOW + 7200);
    play_signer(&o, NOW + 7200);
    o = run(0, t);
    o = run(0, t + 7200);
    play_signer(&o, t + 7200);
    o = run(0, t + 7300);
    assert_string_equal(o.rot.stage, "retired");
    o = run(0, t + 7300 + 7 * DAY);
    assert_string_equal(o.rot.stage, "revoked");
    assert_string_equal(fk.last_add, "v=DKIM1; p=");
    assert_int_equal(count_keys(), 1);
}

/* A 0640 key for a group. */
static void test_group_mode(void **state)
{
    kw_dkim_rot_out o;
    struct stat sb;

    (void)state;
    /* Our own group: we may give a file to it without privilege. */
    assert_non_null(getgrgid(getgid()));
    prm.group = strdup(getgrgid(getgid())->gr_name);
    o = run(0, NOW);
    assert_int_equal(stat(o.rot.key_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    assert_int_equal(sb.st_gid, getgid());
}

/* A signer program that logs its arguments and exits with the status in
 * dir/rc (0 when missing). */
static void exec_signer(void)
{
    char script[600], text[1400];
    FILE *f;

    path_join(script, sizeof(script), dir, "signer.sh");
    snprintf(text, sizeof(text),
             "#!/bin/sh\n"
             "echo \"$@\" >> %s/signer.log\n"
             "[ -f %s/rc ] && exit $(cat %s/rc)\n"
             "exit 0\n",
             dir, dir, dir);
    f = fopen(script, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(script, 0755), 0);
    prm.signer = KW_DKIM_SIGNER_EXEC;
    prm.signer_exec = calloc(2, sizeof(char *));
    prm.signer_exec[0] = strdup(script);
}

static int signer_calls(void)
{
    char path[600], *log;
    int n = 0;
    size_t len, i;

    path_join(path, sizeof(path), dir, "signer.log");
    if ((log = slurp(path, &len)) == NULL)
        return 0;
    for (i = 0; i < len; i++)
        n += log[i] == '\n';
    free(log);
    return n;
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

/* propagated -> active through the signer, once, with dkim.activated in
 * the stage's transaction; then retired, and the next rotation's old key
 * is this one. */
static void test_activate_through_signer(void **state)
{
    kw_dkim_rot_out o;
    char path[600], *log;

    (void)state;
    exec_signer();
    o = run(0, NOW);
    assert_string_equal(o.rot.stage, "visible");
    assert_int_equal(signer_calls(), 0);
    assert_int_equal(events_of("dkim.activated"), 0);
    o = run(0, NOW + 7200);
    /* It replaced no managed key: the rotation ends at active. */
    assert_string_equal(o.rot.stage, "active");
    assert_int_equal(signer_calls(), 1);
    assert_int_equal(events_of("dkim.activated"), 1);
    path_join(path, sizeof(path), dir, "signer.log");
    log = slurp(path, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "example.com kw202701 "));
    assert_non_null(strstr(log, o.rot.key_path));
    free(log);
    o = run(0, NOW + 8000);
    assert_int_equal(signer_calls(), 1);
    assert_true(o.waiting);
    /* The next one, 90 days on, replaces it and retires it. */
    o = run(0, NOW + 90 * DAY);
    o = run(0, NOW + 90 * DAY + 7200);
    assert_string_equal(o.rot.stage, "retired");
    assert_string_equal(o.rot.old_selector, "kw202701");
    assert_int_equal(signer_calls(), 2);
    assert_int_equal(events_of("dkim.activated"), 2);
}

/* A signer that refuses: stopped at propagated with its words, no event,
 * nothing retired; the retry after the signer is fixed activates. */
static void test_signer_refuses(void **state)
{
    kw_dkim_rot_out o;
    char rc[600];
    FILE *f;

    (void)state;
    exec_signer();
    path_join(rc, sizeof(rc), dir, "rc");
    f = fopen(rc, "w");
    assert_non_null(f);
    fputs("3\n", f);
    fclose(f);
    o = run(0, NOW);
    o = run(0, NOW + 7200);
    assert_string_equal(o.rot.stage, "propagated");
    assert_true(o.stopped);
    assert_non_null(strstr(o.rot.stopped, "switching the signer"));
    assert_int_equal(events_of("dkim.activated"), 0);
    assert_int_equal(unlink(rc), 0);
    o = run(KW_DKIM_ROT_RETRY, NOW + 7300);
    assert_string_equal(o.rot.stage, "active");
    assert_int_equal(events_of("dkim.activated"), 1);
}

/* The hooks' side, as hooks/hook_outbox.c leaves the tables: the cursor
 * past the newest event, and (hook non-NULL) its delivery in state with
 * last_error (NULL: none). */
static void play_hooks(const char *hook, const char *state, const char *err)
{
    int64_t ev = 0;
    kw_diag d;

    assert_int_equal(ks_value(st, &d, "event", &ev, NULL,
                              "SELECT MAX(id) FROM events", ""),
                     0);
    assert_int_equal(ks_run(st, &d, "cursor",
                            "INSERT OR REPLACE INTO meta (key, value) "
                            "VALUES ('hook_cursor', ?1)",
                            "i", ev),
                     0);
    if (hook == NULL)
        return;
    assert_int_equal(ks_run(st, &d, "delivery",
                            "INSERT INTO outbox (event_id, hook, state, "
                            "attempt, next_at, last_error) VALUES (?1, ?2, "
                            "?3, 1, 0, ?4) ON CONFLICT (event_id, hook) DO "
                            "UPDATE SET state = ?3, last_error = ?4",
                            "ittt", ev, hook, state, err),
                     0);
}

/* Two rotations of an OpenDKIM-signed domain up to the second's active
 * stage (it replaces the first's key) at t + 7200. */
static int64_t walk_to_second_active(kw_dkim_rot_out *o)
{
    int64_t t = NOW + 90 * DAY;

    *o = run(0, NOW);
    *o = run(0, NOW + 7200);
    play_opendkim(o, NOW + 7200);
    *o = run(0, t);
    *o = run(0, t + 7200);
    play_opendkim(o, t + 7200);
    assert_string_equal(o->rot.old_selector, "kw202701");
    /* From here on the rotation is one of an OpenDKIM signer. */
    prm.signer = KW_DKIM_SIGNER_OPENDKIM;
    return t + 7200;
}

/* Invariant 2 with a reload that failed: the rotation stays at active,
 * says which hook failed, and the old record is never removed, not even
 * after drain; once the hook's retry succeeds it retires, drains and
 * removes. */
static void test_reload_failed_keeps_old(void **state)
{
    kw_dkim_rot_out o;
    int64_t t;

    (void)state;
    t = walk_to_second_active(&o);
    /* Not yet taken by the hooks: waits. */
    o = run(0, t + 10);
    assert_string_equal(o.rot.stage, "active");
    assert_true(o.waiting);
    assert_non_null(strstr(o.rot.waits_for, "have not taken"));
    play_hooks("reload-opendkim", "failed",
               "exit status 1: opendkim -n: KeyTable line 3");
    o = run(0, t + 20);
    assert_string_equal(o.rot.stage, "active");
    assert_true(o.stopped);
    assert_non_null(strstr(o.rot.stopped, "hook reload-opendkim failed"));
    assert_non_null(strstr(o.rot.stopped, "KeyTable line 3"));
    assert_non_null(strstr(o.rot.stopped, "kw202701"));
    /* `hooks retry`: waits again, no longer stopped. */
    play_hooks("reload-opendkim", "pending", "exit status 1");
    o = run(KW_DKIM_ROT_RETRY, t + 100);
    assert_string_equal(o.rot.stage, "active");
    assert_false(o.stopped);
    assert_true(o.waiting);
    assert_string_equal(o.rot.stopped, "");
    assert_non_null(strstr(o.rot.waits_for, "reload-opendkim is retrying"));
    /* It fails for good; long after drain, retried: still active, the
     * old record not touched. */
    play_hooks("reload-opendkim", "failed", "exit status 1");
    o = run(KW_DKIM_ROT_RETRY, t + 30 * DAY);
    assert_string_equal(o.rot.stage, "active");
    assert_true(o.stopped);
    assert_int_equal(fk.removes, 0);
    /* Still retrying past the bound: stopped, saying so. */
    play_hooks("reload-opendkim", "pending", "exit status 1");
    o = run(KW_DKIM_ROT_RETRY, t + 30 * DAY + 10);
    assert_string_equal(o.rot.stage, "active");
    assert_true(o.stopped);
    assert_non_null(strstr(o.rot.stopped, "reload-opendkim is retrying"));
    assert_int_equal(fk.removes, 0);
    /* The run succeeds; the next try after the backoff retires. */
    play_hooks("reload-opendkim", "done", NULL);
    o = run(0, t + 30 * DAY + 20);
    assert_string_equal(o.rot.stage, "active");
    o = run(0, t + 30 * DAY + 910);
    assert_string_equal(o.rot.stage, "retired");
    assert_non_null(strstr(o.rot.waits_for, "drain"));
    assert_int_equal(fk.removes, 0);
    o = run(0, t + 37 * DAY + 910);
    o = run(0, t + 37 * DAY + 920);
    assert_string_equal(o.rot.stage, "removed");
    assert_int_equal(fk.removes, 1);
}

/* No hook takes dkim.activated: waits saying so, then stops after the
 * bound; the old record stays. */
static void test_no_reload_hook(void **state)
{
    kw_dkim_rot_out o;
    int64_t t;

    (void)state;
    t = walk_to_second_active(&o);
    play_hooks(NULL, NULL, NULL);
    o = run(0, t + 10);
    assert_string_equal(o.rot.stage, "active");
    assert_true(o.waiting);
    assert_false(o.stopped);
    assert_non_null(strstr(o.rot.waits_for, "no [hook] reloads the signer "
                                            "on dkim.activated"));
    o = run(0, t + 3600);
    assert_true(o.stopped);
    assert_non_null(strstr(o.rot.stopped, "no [hook] reloads the signer"));
    o = run(KW_DKIM_ROT_RETRY, t + 10 * DAY);
    assert_string_equal(o.rot.stage, "active");
    assert_int_equal(fk.removes, 0);
}

/* A hook closed because it left the configuration delivered nothing:
 * no reload, stopped naming it. */
static void test_reload_hook_removed(void **state)
{
    kw_dkim_rot_out o;
    int64_t t;

    (void)state;
    t = walk_to_second_active(&o);
    play_hooks("reload-opendkim", "done",
               "not delivered: the hook left the configuration");
    o = run(0, t + 10);
    assert_string_equal(o.rot.stage, "active");
    assert_true(o.stopped);
    assert_non_null(strstr(o.rot.stopped, "left the configuration"));
}

/* The happy path: the reload hook succeeded, so retired at once. */
static void test_reload_done_retires(void **state)
{
    kw_dkim_rot_out o;
    int64_t t;

    (void)state;
    t = walk_to_second_active(&o);
    play_hooks("reload-opendkim", "done", NULL);
    o = run(0, t + 10);
    assert_string_equal(o.rot.stage, "retired");
    assert_int_equal(o.rot.wait_until, t + 10 + 7 * DAY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_walk_to_propagated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_and_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_generating, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resume_publishing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_selector_not_reused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_drain_then_remove, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_activate_through_signer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reload_failed_keeps_old, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_reload_hook, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reload_hook_removed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reload_done_retires, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_signer_refuses, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
