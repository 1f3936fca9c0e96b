/*
 * test_dkim_rotate.c: the DKIM rotation's state machine with a fake DNS
 * side and a clock passed in: the walk to propagated and the wait it
 * computes, a stop and its retry (the same record, one key), a resume from
 * a key written before a crash, the signer-switch and drain invariants,
 * the reload invariant (no retirement while the reload hook has not
 * succeeded), selectors never reused, a 90-day cycle walked in test time,
 * the switch read back before retirement (OpenDKIM's tables, rspamd's
 * maps), the retry backoff, abort (published or not, failing, refused at
 * active or after a switch begun) and the domain's health rules; with
 * a dedicated zone (zone =): the CNAME wait, slot choice and reuse, the
 * store's one running rotation per selector.
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
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

#include "dkim/dkim_key.h"
#include "dkim/dkim_rotate.h"
#include "dkim/dkim_signer.h"
#include "dkim/dkim_source.h"
#include "common/kw_fs.h"
#include "keystore/ks_health.h"
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
    int garbage;         /* the next visibility checks fail outright */
    int64_t neg_ttl;
    int cname_missing;   /* zone =: the mail domain serves no CNAME */
    int cnames;          /* CNAME checks made */
    char last_cname[700];
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
    if (f->garbage > 0) {
        f->garbage--;
        return kw_diag_set(d, KW_EPARSE, "127.0.0.2:53: a garbled answer "
                           "for %s", name);
    }
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

static int f_cname(void *ctx, const kw_dkim_rot_params *p, const char *name,
                   const char *target, kw_diag *d)
{
    fake *f = ctx;

    (void)p;
    f->cnames++;
    snprintf(f->last_cname, sizeof(f->last_cname), "%s -> %s", name, target);
    if (f->cname_missing)
        return kw_diag_set(d, KW_ETIMEDOUT, "1 of 2 servers of example.com "
                           "do not serve it: 127.0.0.3:53 answered no "
                           "CNAME");
    return 0;
}

static char dir[256], keydir[512];
static ks_store *st;
static fake fk;
static kw_dkim_rot_dns dns = {f_update, f_visible, f_negttl, &fk, NULL,
                              f_cname};
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
    /* A first rotation ends at retired once its switch is proven: with
     * no signer configured the played switch is its own proof. */
    if (o->rot.old_selector[0] == '\0') {
        *o = run(0, now);
        assert_string_equal(o->rot.stage, "retired");
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* OpenDKIM's files as a switch leaves them: example.com signs with sel
 * and key; prm.opendkim_conf names them. */
static void write_opendkim(const char *sel, const char *key)
{
    char conf[600], kt[600], stab[600], text[2600];

    path_join(conf, sizeof(conf), dir, "opendkim.conf");
    path_join(kt, sizeof(kt), dir, "KeyTable");
    path_join(stab, sizeof(stab), dir, "SigningTable");
    /* The keys live under /tmp, which others may write: OpenDKIM's
     * RequireSafeKeys would refuse them.  The test's keys are Ed25519,
     * which OpenDKIM signs only with this algorithm for every row. */
    snprintf(text, sizeof(text), "KeyTable file:%s\nSigningTable refile:%s\n"
             "RequireSafeKeys no\nSignatureAlgorithm ed25519-sha256\n", kt,
             stab);
    write_file(conf, text);
    snprintf(text, sizeof(text), "%s._domainkey.example.com "
             "example.com:%s:%s\n", sel, sel, key);
    write_file(kt, text);
    snprintf(text, sizeof(text), "*@example.com %s._domainkey.example.com\n",
             sel);
    write_file(stab, text);
    free(prm.opendkim_conf);
    prm.opendkim_conf = strdup(conf);
}

/* An OpenDKIM switch as dkim_rotate.c writes it: the tables, and the
 * stage with dkim.activated. */
static void play_opendkim(kw_dkim_rot_out *o, int64_t now)
{
    write_opendkim(o->rot.selector, o->rot.key_path);
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
    char path[600];

    path_join(path, sizeof(path), dir, "signer.log");
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
    /* It replaced no managed key: the rotation ends at retired, the
     * program's exit 0 the proof of the switch. */
    assert_string_equal(o.rot.stage, "retired");
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
    assert_string_equal(o.rot.stage, "retired");
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
    /* The first rotation's played switch is its own proof (no signer
     * configured yet): it retires, replacing a key made by hand. */
    *o = run(0, NOW + 7300);
    assert_string_equal(o->rot.stage, "retired");
    *o = run(0, t);
    *o = run(0, t + 7200);
    play_opendkim(o, t + 7200);
    assert_string_equal(o->rot.old_selector, "kw202701");
    /* From here on the rotation is one of an OpenDKIM signer. */
    prm.signer = KW_DKIM_SIGNER_OPENDKIM;
    return t + 7200;
}

/* A first rotation (the key it replaces was made by hand) is not done at
 * active: it waits for the reload like any other, stops naming the hook
 * when it fails, and ends at retired only once the reload succeeded and
 * the tables read back name the new key. */
static void test_first_rotation_waits_reload(void **state)
{
    kw_dkim_rot_out o;

    (void)state;
    o = run(0, NOW);
    o = run(0, NOW + 7200);
    prm.signer = KW_DKIM_SIGNER_OPENDKIM;
    play_opendkim(&o, NOW + 7200);
    o = run(0, NOW + 7300);
    assert_string_equal(o.rot.stage, "active");
    assert_true(o.waiting);
    assert_non_null(strstr(o.rot.waits_for, "have not taken"));
    play_hooks("reload-opendkim", "failed", "exit status 1");
    o = run(0, NOW + 7400);
    assert_string_equal(o.rot.stage, "active");
    assert_true(o.stopped);
    assert_non_null(strstr(o.rot.stopped, "the key it used before"));
    play_hooks("reload-opendkim", "done", NULL);
    o = run(KW_DKIM_ROT_RETRY, NOW + 7500);
    assert_string_equal(o.rot.stage, "retired");
    assert_string_equal(o.rot.old_selector, "");
    /* Finished: nothing to remove, the next rotation due in 90 days. */
    o = run(0, NOW + 8000);
    assert_true(o.waiting);
    assert_non_null(strstr(o.rot.waits_for, "next rotation"));
    assert_int_equal(fk.removes, 0);
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
    /* The run succeeds; the next try after the backoff (the third
     * failure in a row: an hour) retires. */
    assert_int_equal(o.rot.failures, 3);
    play_hooks("reload-opendkim", "done", NULL);
    o = run(0, t + 30 * DAY + 3600);
    assert_string_equal(o.rot.stage, "active");
    o = run(0, t + 30 * DAY + 3610);
    assert_string_equal(o.rot.stage, "retired");
    assert_int_equal(o.rot.failures, 0);
    assert_non_null(strstr(o.rot.waits_for, "drain"));
    assert_int_equal(fk.removes, 0);
    o = run(0, t + 37 * DAY + 3610);
    o = run(0, t + 37 * DAY + 3620);
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

/* The switch verified before retired: OpenDKIM's tables still naming
 * the old selector (a switch undone by hand, a configuration management
 * run) stop the rotation at active naming the file; tables naming a key
 * that is not the published one too; the right tables retire it. */
static void test_verify_opendkim(void **state)
{
    kw_dkim_rot_out o;
    char kt[600], other[700];
    EVP_PKEY *k;
    kw_diag d;
    int64_t t;

    (void)state;
    t = walk_to_second_active(&o);
    play_hooks("reload-opendkim", "done", NULL);
    write_opendkim(o.rot.old_selector, o.rot.key_path);
    o = run(0, t + 10);
    assert_string_equal(o.rot.stage, "active");
    assert_true(o.stopped);
    path_join(kt, sizeof(kt), dir, "KeyTable");
    assert_non_null(strstr(o.rot.stopped, kt));
    assert_non_null(strstr(o.rot.stopped, "still signs with selector "
                                          "kw202701, not kw202704"));
    /* The new selector, but a key whose record was never published. */
    snprintf(other, sizeof(other), "%s/other.key", dir);
    k = ks_keygen(KS_KEY_ED25519, &d);
    assert_non_null(k);
    assert_int_equal(ks_key_write(other, k, 0600, (gid_t)-1, &d), 0);
    EVP_PKEY_free(k);
    write_opendkim(o.rot.selector, other);
    o = run(KW_DKIM_ROT_RETRY, t + 20);
    assert_true(o.stopped);
    assert_non_null(strstr(o.rot.stopped, "not the key whose record was "
                                          "published"));
    assert_int_equal(fk.removes, 0);
    write_opendkim(o.rot.selector, o.rot.key_path);
    o = run(KW_DKIM_ROT_RETRY, t + 30);
    assert_string_equal(o.rot.stage, "retired");
    assert_int_equal(o.rot.failures, 0);
}

/* The tables as dkim_signer.c's real switch writes them (with `opendkim
 * -n` as its check) pass the read-back. */
static void test_verify_real_switch(void **state)
{
    kw_dkim_rot_out o;
    kw_dkim_signer_conf c;
    kw_dkim_switch_result res;
    char old_key[1024];
    kw_diag d;
    int64_t t;

    (void)state;
    t = walk_to_second_active(&o);
    snprintf(old_key, sizeof(old_key), "%s/example.com.%s.key", keydir,
             o.rot.old_selector);
    write_opendkim(o.rot.old_selector, old_key);
    memset(&c, 0, sizeof(c));
    c.kind = KW_DKIM_SIGNER_OPENDKIM;
    c.opendkim_conf = prm.opendkim_conf;
    if (kw_dkim_signer_switch(&c, "example.com", o.rot.selector,
                              o.rot.key_path, &res, &d) != 0)
        fail_msg("switch: %s", d.msg);
    assert_true(res.changed);
    play_hooks("reload-opendkim", "done", NULL);
    o = run(0, t + 10);
    assert_string_equal(o.rot.stopped, "");
    assert_string_equal(o.rot.stage, "retired");
}

/* rspamd: the maps read back; a selector_map left on the old selector
 * stops at active naming the map's line. */
static void test_verify_rspamd(void **state)
{
    kw_dkim_rot_out o;
    char smap[600], pmap[600], text[1400];
    int64_t t;

    (void)state;
    t = walk_to_second_active(&o);
    prm.signer = KW_DKIM_SIGNER_RSPAMD;
    path_join(smap, sizeof(smap), dir, "selectors.map");
    path_join(pmap, sizeof(pmap), dir, "paths.map");
    prm.selector_map = strdup(smap);
    prm.path_map = strdup(pmap);
    play_hooks("reload-rspamd", "done", NULL);
    write_file(smap, "other.example kw1\nexample.com kw202701\n");
    snprintf(text, sizeof(text), "example.com %s\n", o.rot.key_path);
    write_file(pmap, text);
    o = run(0, t + 10);
    assert_true(o.stopped);
    snprintf(text, sizeof(text), "%s:2", smap);
    assert_non_null(strstr(o.rot.stopped, text));
    write_file(smap, "example.com kw202704\n");
    o = run(KW_DKIM_ROT_RETRY, t + 20);
    assert_string_equal(o.rot.stage, "retired");
    /* Without a path_map the selector is read, its key not known. */
    {
        kw_dkim_sources src;

        memset(&src, 0, sizeof(src));
        assert_int_equal(kw_dkim_read_rspamd_maps(smap, NULL, &src), 0);
        assert_int_equal(src.n, 1);
        assert_string_equal(src.sel[0].selector, "kw202704");
        assert_string_equal(src.sel[0].key, "");
        kw_dkim_sources_free(&src);
    }
}

/* A step failing again and again is retried after 15 min, 30, 1 h, 2 h,
 * 4 h, then every 6 h; nothing is sent in between; the count shows in
 * the row and is 0 again once the stage moves on. */
static void test_backoff(void **state)
{
    static const int64_t gap[] = {900, 1800, 3600, 7200, 14400, 21600,
                                  21600};
    kw_dkim_rot_out o;
    int64_t t = NOW;
    size_t i;

    (void)state;
    fk.fail_update = 7;
    o = run(0, t);
    for (i = 0; i < 7; i++) {
        assert_true(o.stopped);
        assert_string_equal(o.rot.stage, "publishing");
        assert_int_equal(o.rot.failures, (int)i + 1);
        assert_int_equal(o.rot.wait_until, t + gap[i]);
        /* Before the retry time nothing is tried. */
        o = run(0, t + gap[i] - 1);
        assert_int_equal(o.rot.failures, (int)i + 1);
        t += gap[i];
        o = run(0, t);
    }
    assert_string_equal(o.rot.stage, "visible");
    assert_int_equal(o.rot.failures, 0);
    assert_string_equal(o.rot.stopped, "");
    assert_int_equal(fk.adds, 1);
}

/* A step that failed, retried, and now only waits (a server that answered
 * garbage, then one not caught up yet) is no longer stopped: status and
 * health say it waits; the failure still counts until the stage moves. */
static void test_stop_then_wait(void **state)
{
    kw_dkim_rot_out o;
    kw_dkim_rot_health h;

    (void)state;
    fk.garbage = 1;
    o = run(0, NOW);
    assert_string_equal(o.rot.stage, "published");
    assert_true(o.stopped);
    assert_non_null(strstr(o.rot.stopped, "garbled"));
    fk.invisible = 1;
    o = run(0, NOW + 900);
    assert_string_equal(o.rot.stage, "published");
    assert_false(o.stopped);
    assert_true(o.waiting);
    assert_string_equal(o.rot.stopped, "");
    assert_int_equal(o.rot.failures, 1);
    kw_dkim_rot_health_of(&o.rot, 1, &prm, NOW + 901, &h);
    assert_int_equal(h.health, KS_HEALTH_OK);
    o = run(0, NOW + 960);
    assert_string_equal(o.rot.stage, "visible");
    assert_int_equal(o.rot.failures, 0);
}

static int abort_rc(int64_t now, kw_dkim_rot_out *o, kw_diag *d)
{
    d->msg[0] = '\0';
    return kw_dkim_rotate_abort_run(st, &prm, &dns, now, o, d);
}

/* Abort after the record was published: removed (the exact record),
 * seen gone, the new key archived, aborted; the next rotation is due a
 * period after the aborted one started and replaces the key that still
 * signs. */
static void test_abort_published(void **state)
{
    kw_dkim_rot_out o, first;
    char archived[1400], sel[64];
    kw_diag d;
    int64_t t = NOW + 90 * DAY;

    (void)state;
    first = run(0, NOW);
    first = run(0, NOW + 7200);
    play_signer(&first, NOW + 7200);
    o = run(0, t);
    assert_string_equal(o.rot.stage, "visible");
    snprintf(sel, sizeof(sel), "%s", o.rot.selector);
    fk.invisible = 1;
    assert_int_equal(abort_rc(t + 10, &o, &d), 0);
    /* Sent, not yet gone everywhere: waits at aborting. */
    assert_string_equal(o.rot.stage, "aborting");
    assert_true(o.waiting);
    assert_non_null(strstr(o.rot.waits_for, "to be gone"));
    assert_int_equal(fk.removes, 1);
    assert_string_equal(fk.last_name, "kw202704._domainkey.example.com");
    assert_string_equal(fk.last_remove, o.rot.record);
    assert_int_equal(access(o.rot.key_path, F_OK), 0);
    /* The daemon's next run finishes it. */
    o = run(0, t + 20);
    assert_string_equal(o.rot.stage, "aborted");
    assert_int_equal(access(o.rot.key_path, F_OK), -1);
    snprintf(archived, sizeof(archived),
             "%s/archive/example.com.kw202704.key", keydir);
    assert_int_equal(access(archived, F_OK), 0);
    assert_int_equal(fk.removes, 2);
    /* Aborting again: nothing runs. */
    assert_int_equal(abort_rc(t + 30, &o, &d), KW_ENOTFOUND);
    assert_non_null(strstr(d.msg, "aborted"));
    /* Not restarted at once: due rotate after the aborted start. */
    o = run(0, t + 89 * DAY);
    assert_true(o.waiting);
    assert_string_equal(o.rot.stage, "aborted");
    assert_int_equal(o.rot.wait_until, t + 90 * DAY);
    o = run(0, t + 90 * DAY);
    assert_string_not_equal(o.rot.selector, sel);
    assert_string_equal(o.rot.old_selector, first.rot.selector);
    assert_string_equal(o.rot.old_record, first.rot.record);
    assert_int_equal(o.rot.old_started_at, first.rot.started_at);
}

/* Abort before anything was sent: no DNS change; a removal that fails
 * stops the abort with backoff, and abort again finishes it; old_key =
 * delete deletes the new key. */
static void test_abort_unpublished_and_failing(void **state)
{
    kw_dkim_rot_out o;
    kw_diag d;

    (void)state;
    free(prm.key_type);
    prm.key_type = strdup("rsa1024");
    o = run(0, NOW);
    assert_string_equal(o.rot.stage, "generating");
    assert_true(o.stopped);
    assert_int_equal(abort_rc(NOW + 10, &o, &d), 0);
    assert_string_equal(o.rot.stage, "aborted");
    assert_int_equal(fk.removes, 0);

    /* A published one whose removal is refused. */
    free(prm.key_type);
    prm.key_type = strdup("ed25519");
    prm.delete_old_key = 1;
    o = run(KW_DKIM_ROT_START, NOW + 100);
    assert_string_equal(o.rot.stage, "visible");
    fk.fail_update = 1;
    assert_int_equal(abort_rc(NOW + 110, &o, &d), 0);
    assert_string_equal(o.rot.stage, "aborting");
    assert_true(o.stopped);
    assert_int_equal(o.rot.failures, 1);
    assert_non_null(strstr(o.rot.stopped, "NOTAUTH"));
    assert_int_equal(access(o.rot.key_path, F_OK), 0);
    /* Retried by the daemon only after the backoff... */
    o = run(0, NOW + 120);
    assert_true(o.stopped);
    assert_int_equal(fk.removes, 0);
    /* ...or at once by abort. */
    assert_int_equal(abort_rc(NOW + 130, &o, &d), 0);
    assert_string_equal(o.rot.stage, "aborted");
    assert_int_equal(fk.removes, 1);
    assert_int_equal(access(o.rot.key_path, F_OK), -1);
    assert_int_equal(count_keys(), 0);
}

/* Invariant 6: at active or later abort is refused saying why, and
 * nothing changes; a switch begun and not finished refuses too, unless
 * the signer's files read back do not name the new key. */
static void test_abort_refused(void **state)
{
    kw_dkim_rot_out o;
    kw_diag d;

    (void)state;
    exec_signer();
    o = run(0, NOW);
    o = run(0, NOW + 7200);
    assert_string_equal(o.rot.stage, "retired");
    assert_int_equal(abort_rc(NOW + 7300, &o, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "is retired"));
    assert_non_null(strstr(d.msg, "may sign mail now"));
    o = run(0, NOW + 7400);
    assert_string_equal(o.rot.stage, "retired");
    assert_int_equal(fk.removes, 0);

    /* The next rotation killed mid-switch: the intent at propagated is
     * the journal's last row. */
    o = run(KW_DKIM_ROT_START, NOW + DAY);
    assert_string_equal(o.rot.stage, "visible");
    snprintf(o.rot.stage, sizeof(o.rot.stage), "propagated");
    o.rot.wait_until = 0;
    assert_int_equal(ks_dkim_rot_save(st, &o.rot, "visible", NOW + DAY, NULL,
                                      NULL, NULL, NULL, &d), 0);
    assert_int_equal(ks_dkim_rot_save(st, &o.rot, "propagated", NOW + DAY,
                                      "switch signer_exec to selector",
                                      NULL, NULL, NULL, &d), 0);
    assert_int_equal(abort_rc(NOW + DAY + 10, &o, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "begun and not finished"));
    /* OpenDKIM whose tables name the new key: refused; naming the old
     * one (the switch never got to write them): taken back. */
    prm.signer = KW_DKIM_SIGNER_OPENDKIM;
    write_opendkim(o.rot.selector, o.rot.key_path);
    assert_int_equal(abort_rc(NOW + DAY + 20, &o, &d), KW_EINVAL);
    write_opendkim(o.rot.old_selector, "/nonexistent/old.key");
    assert_int_equal(abort_rc(NOW + DAY + 30, &o, &d), 0);
    assert_string_equal(o.rot.stage, "aborted");
}

static ks_dkim_rot health_row(const char *stage, int64_t started)
{
    ks_dkim_rot r;

    memset(&r, 0, sizeof(r));
    snprintf(r.domain, sizeof(r.domain), "example.com");
    snprintf(r.selector, sizeof(r.selector), "kw202704");
    snprintf(r.old_selector, sizeof(r.old_selector), "kw202701");
    snprintf(r.stage, sizeof(r.stage), "%s", stage);
    r.started_at = r.since = started;
    r.old_started_at = started - 90 * DAY;
    return r;
}

/* kw_dkim_rot_health_of, pure: each rule. */
static void test_health(void **state)
{
    kw_dkim_rot_health h;
    ks_dkim_rot r;
    int64_t t = NOW;

    (void)state;
    prm.max_age = 180 * DAY;
    kw_dkim_rot_health_of(NULL, 0, &prm, t, &h);
    assert_int_equal(h.health, KS_HEALTH_OK);
    assert_int_equal(h.next_rotation, t);
    assert_int_equal(h.next_step, t);

    /* Finished: OK, next rotation and step at started + rotate. */
    r = health_row("removed", t);
    kw_dkim_rot_health_of(&r, 1, &prm, t + 10 * DAY, &h);
    assert_int_equal(h.health, KS_HEALTH_OK);
    assert_int_equal(h.next_rotation, t + 90 * DAY);
    assert_int_equal(h.next_step, t + 90 * DAY);

    /* Waiting for a time: OK, saying what for, next step then. */
    r = health_row("visible", t);
    r.wait_until = t + 7200;
    snprintf(r.waits_for, sizeof(r.waits_for), "propagation: waits");
    kw_dkim_rot_health_of(&r, 1, &prm, t + 60, &h);
    assert_int_equal(h.health, KS_HEALTH_OK);
    assert_non_null(strstr(h.reason, "propagation"));
    assert_int_equal(h.next_step, t + 7200);
    assert_int_equal(h.next_rotation, t + 90 * DAY);

    /* Waiting for DNS: OK for a day, then a warning. */
    r = health_row("published", t);
    snprintf(r.waits_for, sizeof(r.waits_for), "every authoritative "
             "server to serve it: 127.0.0.2 answers NXDOMAIN");
    kw_dkim_rot_health_of(&r, 1, &prm, t + 3600, &h);
    assert_int_equal(h.health, KS_HEALTH_OK);
    assert_int_equal(h.next_step, t + 3600);
    kw_dkim_rot_health_of(&r, 1, &prm, t + DAY, &h);
    assert_int_equal(h.health, KS_HEALTH_WARNING);
    assert_non_null(strstr(h.reason, "127.0.0.2"));

    /* Stopped: a warning naming stage, reason, failures, next try. */
    r = health_row("publishing", t);
    snprintf(r.stopped, sizeof(r.stopped), "publishing x: NOTAUTH");
    r.failures = 3;
    r.wait_until = t + 7200;
    kw_dkim_rot_health_of(&r, 1, &prm, t + 60, &h);
    assert_int_equal(h.health, KS_HEALTH_WARNING);
    assert_non_null(strstr(h.reason, "stopped at publishing"));
    assert_non_null(strstr(h.reason, "NOTAUTH"));
    assert_non_null(strstr(h.reason, "3 failed attempts"));
    assert_non_null(strstr(h.reason, "2027-01-15T10:00:00Z"));
    assert_non_null(strstr(h.fix, "dkim abort"));
    assert_int_equal(h.next_step, t + 7200);
    /* The old key (made 90 days before) nears max_age 180 days: critical
     * from 7 days before. */
    kw_dkim_rot_health_of(&r, 1, &prm, t + 83 * DAY - 1, &h);
    assert_int_equal(h.health, KS_HEALTH_WARNING);
    kw_dkim_rot_health_of(&r, 1, &prm, t + 83 * DAY, &h);
    assert_int_equal(h.health, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(h.reason, "kw202701 still signs"));
    /* Waiting normally at the same age: not critical (nothing failed). */
    r.stopped[0] = '\0';
    kw_dkim_rot_health_of(&r, 1, &prm, t + 83 * DAY, &h);
    assert_int_equal(h.health, KS_HEALTH_OK);
    /* No max_age: critical once a whole rotate late. */
    snprintf(r.stopped, sizeof(r.stopped), "publishing x: NOTAUTH");
    prm.max_age = 0;
    kw_dkim_rot_health_of(&r, 1, &prm, t + 90 * DAY - 1, &h);
    assert_int_equal(h.health, KS_HEALTH_WARNING);
    kw_dkim_rot_health_of(&r, 1, &prm, t + 90 * DAY, &h);
    assert_int_equal(h.health, KS_HEALTH_CRITICAL);
    /* Stopped after the switch (the new key signs): a warning only. */
    prm.max_age = 180 * DAY;
    r = health_row("retired", t);
    snprintf(r.stopped, sizeof(r.stopped), "x");
    kw_dkim_rot_health_of(&r, 1, &prm, t + 170 * DAY, &h);
    assert_int_equal(h.health, KS_HEALTH_WARNING);

    /* Aborted: OK saying so; critical as the old key nears max_age. */
    r = health_row("aborted", t);
    kw_dkim_rot_health_of(&r, 1, &prm, t + DAY, &h);
    assert_int_equal(h.health, KS_HEALTH_OK);
    assert_non_null(strstr(h.reason, "aborted"));
    assert_int_equal(h.next_rotation, t + 90 * DAY);
    kw_dkim_rot_health_of(&r, 1, &prm, t + 83 * DAY, &h);
    assert_int_equal(h.health, KS_HEALTH_CRITICAL);
}

/* ---- a dedicated zone (zone =, slots) ------------------------------ */

static void zone_params(int slots)
{
    free(prm.selector);
    prm.selector = strdup("kw%n");
    prm.zone = strdup("dkim.example.net");
    prm.slots = slots;
}

/* A rotation through to removed of its old key, from a due start at t:
 * returns the time the old record went (0 for a first rotation). */
static int64_t zone_walk(kw_dkim_rot_out *o, int flags, int64_t t)
{
    *o = run(flags, t);
    assert_string_equal(o->rot.stage, "visible");
    *o = run(0, t + 7200);
    assert_string_equal(o->rot.stage, "propagated");
    play_signer(o, t + 7200);
    if (o->rot.old_selector[0] == '\0')
        return 0;
    *o = run(0, t + 7300);
    assert_string_equal(o->rot.stage, "retired");
    *o = run(0, t + 7300 + 7 * DAY);
    assert_string_equal(o->rot.stage,
                        prm.retire_revoke ? "revoked" : "removed");
    return t + 7300 + 7 * DAY;
}

/* retire = revoke: a slot's reuse deletes the empty p= its previous key
 * left before adding the new record; the revocation frees the slot as a
 * removal does. */
static void test_zone_revoke(void **state)
{
    kw_dkim_rot_out o;
    int64_t gone;

    (void)state;
    zone_params(2);
    prm.retire_revoke = 1;
    zone_walk(&o, 0, NOW);
    assert_string_equal(fk.last_remove, "v=DKIM1; p=");
    gone = zone_walk(&o, 0, NOW + 90 * DAY);
    assert_string_equal(o.rot.selector, "kw2");
    assert_string_equal(fk.last_add, "v=DKIM1; p=");
    assert_string_equal(fk.last_name,
                        "kw1._domainkey.example.com.dkim.example.net");
    fk.removes = 0;
    fk.last_remove[0] = '\0';
    o = run(KW_DKIM_ROT_START, gone + 7500);
    assert_string_equal(o.rot.stage, "visible");
    assert_string_equal(o.rot.selector, "kw1");
    assert_int_equal(fk.removes, 1);
    assert_string_equal(fk.last_remove, "v=DKIM1; p=");
    assert_string_equal(fk.last_add, o.rot.record);
}

/* Invariant 7: the first rotation waits before publication for the
 * slot's CNAME, saying which to add; the TXT goes to the dedicated zone;
 * slots alternate; a slot is reused only ttl + negative TTL + margin
 * after its old record went, the wait written where status and health
 * see it; the archived key of the slot's first use survives its reuse. */
static void test_zone_slots(void **state)
{
    kw_dkim_rot_out o;
    kw_dkim_rot_health h;
    char first_key[1024], archived[1400], *base;
    int64_t gone, t;
    int used;
    kw_diag d;

    (void)state;
    zone_params(2);
    fk.cname_missing = 1;
    o = run(0, NOW);
    assert_string_equal(o.rot.selector, "kw1");
    assert_string_equal(o.rot.stage, "generated");
    assert_true(o.waiting);
    assert_int_equal(fk.adds, 0);
    assert_string_equal(fk.last_cname, "kw1._domainkey.example.com -> "
                        "kw1._domainkey.example.com.dkim.example.net");
    assert_non_null(strstr(o.rot.waits_for, "add \"kw1._domainkey.example."
                           "com. CNAME kw1._domainkey.example.com.dkim."
                           "example.net.\""));
    assert_non_null(strstr(o.rot.waits_for, "127.0.0.3:53 answered no "
                           "CNAME"));
    /* A day later still missing: a warning naming the fix. */
    kw_dkim_rot_health_of(&o.rot, 1, &prm, NOW + 2 * DAY, &h);
    assert_int_equal(h.health, KS_HEALTH_WARNING);
    assert_non_null(strstr(h.fix, "dkim cnames"));
    o = run(0, NOW + 60);
    assert_string_equal(o.rot.stage, "generated");
    assert_int_equal(fk.adds, 0);

    /* Added: the record goes to the dedicated zone. */
    fk.cname_missing = 0;
    o = run(0, NOW + 120);
    assert_string_equal(o.rot.stage, "visible");
    assert_int_equal(fk.adds, 1);
    assert_string_equal(fk.last_name,
                        "kw1._domainkey.example.com.dkim.example.net");
    assert_int_equal(fk.removes, 0);
    base = strrchr(o.rot.key_path, '/');
    assert_non_null(base);
    assert_string_equal(base + 1, "example.com.kw1.1800000000.key");
    snprintf(first_key, sizeof(first_key), "%s", o.rot.key_path);
    o = run(0, NOW + 120 + 7200);
    assert_string_equal(o.rot.stage, "propagated");
    play_signer(&o, NOW + 120 + 7200);

    /* The second takes slot 2 and removes kw1's record from the
     * dedicated zone after drain. */
    t = NOW + 90 * DAY;
    gone = zone_walk(&o, 0, t);
    assert_string_equal(o.rot.selector, "kw2");
    assert_string_equal(o.rot.old_selector, "kw1");
    assert_string_equal(fk.last_name,
                        "kw1._domainkey.example.com.dkim.example.net");
    assert_int_equal(access(first_key, F_OK), -1);
    snprintf(archived, sizeof(archived), "%s/archive/%s", keydir,
             strrchr(first_key, '/') + 1);
    assert_int_equal(access(archived, F_OK), 0);

    /* Asked for at once: kw1's old record went just now, kw2 signs; it
     * waits until ttl 3600 + negative TTL 300 + margin 3600 after. */
    o = run(KW_DKIM_ROT_START, gone + 10);
    assert_true(o.waiting);
    assert_string_equal(o.rot.selector, "kw2");
    assert_string_equal(o.rot.stage, "removed");
    assert_int_equal(o.rot.wait_until, gone + 7500);
    assert_non_null(strstr(o.rot.waits_for, "a free slot"));
    assert_non_null(strstr(o.rot.waits_for, "kw2: its key signs"));
    /* Health: the next rotation is due rotate after the last started;
     * with a rotate that made it due already, the slot wait says when. */
    kw_dkim_rot_health_of(&o.rot, 1, &prm, gone + 20, &h);
    assert_int_equal(h.next_step, t + 90 * DAY);
    {
        kw_dkim_rot_params q = prm;

        q.rotate = DAY;
        kw_dkim_rot_health_of(&o.rot, 1, &q, gone + 20, &h);
        assert_int_equal(h.health, KS_HEALTH_OK);
        assert_int_equal(h.next_step, gone + 7500);
        assert_int_equal(h.next_rotation, gone + 7500);
        assert_non_null(strstr(h.reason, "a free slot"));
    }
    /* Written on the last rotation: a plain run keeps waiting. */
    o = run(0, gone + 7499);
    assert_true(o.waiting);
    assert_string_equal(o.rot.selector, "kw2");
    o = run(KW_DKIM_ROT_START, gone + 7499);
    assert_string_equal(o.rot.selector, "kw2");
    assert_int_equal(fk.adds, 2);

    /* Free: kw1 again, a new key file beside the archived one. */
    zone_walk(&o, KW_DKIM_ROT_START, gone + 7500);
    assert_string_equal(o.rot.selector, "kw1");
    assert_string_equal(o.rot.old_selector, "kw2");
    assert_string_not_equal(o.rot.key_path, first_key);
    assert_int_equal(access(archived, F_OK), 0);
    assert_int_equal(ks_dkim_rot_selector_used(st, "example.com", "kw1",
                                               &used, &d), 0);
    assert_true(used);
}

/* kw_dkim_slot_choose for prm with a negative TTL of 300. */
static int choose(const ks_dkim_rot *v, size_t n, int64_t now, char *sel,
                  int64_t *when, char *why)
{
    kw_diag d;

    return kw_dkim_slot_choose(&prm, v, n, 300, now, sel, 64, when, why,
                               1024, &d);
}

/* Slot choice, pure: the free slot freed longest ago; aborted rotations
 * free their slot at once; a running one holds it. */
static void test_slot_choose(void **state)
{
    ks_dkim_rot v[4];
    char sel[64], why[1024];
    int64_t when;
    kw_diag d;

    (void)state;
    zone_params(3);
    memset(v, 0, sizeof(v));
    snprintf(v[0].selector, sizeof(v[0].selector), "kw1");
    snprintf(v[0].stage, sizeof(v[0].stage), "retired");
    snprintf(v[1].selector, sizeof(v[1].selector), "kw2");
    snprintf(v[1].old_selector, sizeof(v[1].old_selector), "kw1");
    snprintf(v[1].stage, sizeof(v[1].stage), "removed");
    v[1].since = 1000;
    snprintf(v[2].selector, sizeof(v[2].selector), "kw3");
    snprintf(v[2].old_selector, sizeof(v[2].old_selector), "kw2");
    snprintf(v[2].stage, sizeof(v[2].stage), "removed");
    v[2].since = 2000;
    /* Nothing used: slot 1. */
    assert_int_equal(choose(v, 0, 5, sel, &when, why), 0);
    assert_string_equal(sel, "kw1");
    /* kw1 freed at 1000, kw2 at 2000, kw3 signs: kw1 once cool. */
    assert_int_equal(choose(v, 3, 8499, sel, &when, why), 1);
    assert_int_equal(when, 8500);
    assert_non_null(strstr(why, "kw3: its key signs"));
    assert_int_equal(choose(v, 3, 8500, sel, &when, why), 0);
    assert_string_equal(sel, "kw1");
    /* A rotation into kw1 aborted at 3000: kw2 is the one freed longest
     * ago. */
    snprintf(v[3].selector, sizeof(v[3].selector), "kw1");
    snprintf(v[3].old_selector, sizeof(v[3].old_selector), "kw3");
    snprintf(v[3].stage, sizeof(v[3].stage), "aborted");
    v[3].since = 3000;
    assert_int_equal(choose(v, 4, 100000, sel, &when, why), 0);
    assert_string_equal(sel, "kw2");
    /* A rotation into kw1 running: it holds kw1. */
    snprintf(v[3].stage, sizeof(v[3].stage), "published");
    assert_int_equal(choose(v, 4, 100000, sel, &when, why), 0);
    assert_string_equal(sel, "kw2");
    /* Two slots, kw1 draining after the rotation to kw2: none is free,
     * and when kw1 will be is known (drain, then the margin). */
    prm.slots = 2;
    snprintf(v[1].stage, sizeof(v[1].stage), "retired");
    v[1].since = 50000;
    assert_int_equal(choose(v, 2, 60000, sel, &when, why), 1);
    assert_int_equal(when, 50000 + 7 * DAY + 3600 + 300 + 3600);
    assert_non_null(strstr(why, "kw1: its record drains after the "
                           "rotation to kw2"));
    assert_non_null(strstr(why, "kw2: its key signs"));
    snprintf(v[1].stage, sizeof(v[1].stage), "published");
    assert_int_equal(choose(v, 2, 60000, sel, &when, why), 1);
    assert_non_null(strstr(why, "kw2: the running rotation into it "
                           "(published)"));
    /* The template: %n only with a slot. */
    assert_int_not_equal(kw_dkim_selector_expand("kw%n", NOW, sel,
                                                 sizeof(sel), &d), 0);
    assert_non_null(strstr(d.msg, "only for a section with zone ="));
    assert_int_equal(kw_dkim_selector_expand_slot("kw%n", NOW, 3, sel,
                                                  sizeof(sel), &d), 0);
    assert_string_equal(sel, "kw3");
}

/* The store's guard and the schema's partial index: one running rotation
 * per selector; a finished one's selector may be taken again (the code
 * refuses that without zone =: test_selector_not_reused). */
static void test_running_selector_unique(void **state)
{
    ks_dkim_rot a, b;
    kw_diag d;
    char *err = NULL;

    (void)state;
    memset(&a, 0, sizeof(a));
    snprintf(a.domain, sizeof(a.domain), "example.com");
    snprintf(a.selector, sizeof(a.selector), "kw1");
    snprintf(a.key_path, sizeof(a.key_path), "/k/a");
    snprintf(a.key_type, sizeof(a.key_type), "ed25519");
    snprintf(a.old_selector, sizeof(a.old_selector), "kw2");
    snprintf(a.stage, sizeof(a.stage), "generating");
    assert_int_equal(ks_dkim_rot_save(st, &a, "none", NOW, NULL, NULL, NULL,
                                      NULL, &d), 0);
    b = a;
    b.id = 0;
    assert_int_equal(ks_dkim_rot_save(st, &b, "none", NOW, NULL, NULL, NULL,
                                      NULL, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "kw1 of example.com is taken by a "
                           "rotation still running"));
    /* Past the code's guard, the index refuses it too. */
    assert_int_not_equal(
        sqlite3_exec(ks_db(st),
                     "INSERT INTO dkim_rotations (domain, selector, "
                     "key_path, key_type, stage, since, started_at) VALUES "
                     "('example.com', 'kw1', '/k/c', 'ed25519', 'published', "
                     "1, 1)",
                     NULL, NULL, &err),
        SQLITE_OK);
    sqlite3_free(err);
    snprintf(a.stage, sizeof(a.stage), "removed");
    assert_int_equal(ks_dkim_rot_save(st, &a, "removing", NOW, NULL, NULL,
                                      NULL, NULL, &d), 0);
    b.id = 0;
    assert_int_equal(ks_dkim_rot_save(st, &b, "none", NOW, NULL, NULL, NULL,
                                      NULL, &d), 0);
}

/* The rebuild of dkim_rotations (schema 14): rows and
 * their journal kept, the journal's foreign key onto the new table (a
 * rotation deleted takes its journal along), UNIQUE (domain, selector)
 * gone for finished rotations and kept for running ones. */
static void test_schema_rebuild(void **state)
{
    char path[512];
    ks_store *s;
    kw_diag d;
    int64_t n = 0;

    (void)state;
    path_join(path, sizeof(path), dir, "v12.db");
    assert_int_equal(ks_open_at_version(path, 12, &s, &d), 0);
    assert_int_equal(ks_exec(s,
        "INSERT INTO dkim_rotations (id, domain, selector, key_path, "
        "key_type, stage, since, started_at, failures, old_started_at) "
        "VALUES (7, 'example.com', 'kw1', '/k/a', 'ed25519', 'removed', 5, "
        "4, 2, 3);"
        "INSERT INTO dkim_rot_journal (rotation_id, at, old_stage, "
        "new_stage, intent) VALUES (7, 5, 'removing', 'removed', 'x'), "
        "(7, 6, 'removed', 'removed', 'y');", &d), 0);
    ks_close(s);
    assert_int_equal(ks_open(path, 0, &s, &d), 0);
    assert_int_equal(ks_value(s, &d, "t", &n, NULL,
                              "SELECT count(*) FROM dkim_rot_journal WHERE "
                              "rotation_id = 7", ""), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ks_value(s, &d, "t", &n, NULL,
                              "SELECT failures + old_started_at FROM "
                              "dkim_rotations WHERE id = 7", ""), 0);
    assert_int_equal(n, 5);
    /* kw1 finished: taken again by a running rotation; a second running
     * one is refused by the index. */
    assert_int_equal(ks_exec(s,
        "INSERT INTO dkim_rotations (domain, selector, key_path, key_type, "
        "stage, since, started_at) VALUES ('example.com', 'kw1', '/k/b', "
        "'ed25519', 'published', 9, 9)", &d), 0);
    assert_int_not_equal(ks_exec(s,
        "INSERT INTO dkim_rotations (domain, selector, key_path, key_type, "
        "stage, since, started_at) VALUES ('example.com', 'kw1', '/k/c', "
        "'ed25519', 'generating', 9, 9)", &d), 0);
    assert_int_equal(ks_exec(s, "DELETE FROM dkim_rotations WHERE id = 7",
                             &d), 0);
    assert_int_equal(ks_value(s, &d, "t", &n, NULL,
                              "SELECT count(*) FROM dkim_rot_journal", ""),
                     0);
    assert_int_equal(n, 0);
    {
        int found = 1;

        assert_int_equal(ks_value(s, &d, "t", &n, &found,
                                  "PRAGMA foreign_key_check", ""), 0);
        assert_false(found);
    }
    ks_close(s);
}

/* The newest rotation of domain's track has selector sel at stage. */
static void track_latest_is(const char *domain, int track, const char *sel,
                            const char *stage)
{
    ks_dkim_rot got;
    kw_diag d;
    int found = 0;

    assert_int_equal(ks_dkim_rot_latest_track(st, domain, track, &got,
                                              &found, &d),
                     0);
    assert_true(found);
    assert_string_equal(got.selector, sel);
    assert_string_equal(got.stage, stage);
}

/*
 * A dual section's two tracks (invariant 8), as the configuration makes
 * them: each its own rotations, found by domain and key type.  Walked
 * together by kw_dkim_rotate_many (the daemon's path, no special case);
 * the Ed25519 track's signer refusing its switch stops that track at
 * propagated with its reason and its old key in place, while the RSA
 * track becomes active and retires; each track's health says its own;
 * the next rotation of each replaces its own key; the store's per-track
 * lookups never mix the two.
 */
static void test_dual_tracks(void **state)
{
    kw_dkim_rot_params r, e;
    const kw_dkim_rot_params *ps[2];
    kw_dkim_rot_out outs[2];
    kw_dkim_rot_health h;
    char script[600], text[1400], flag[600];
    kw_diag d;
    FILE *f;

    (void)state;
    path_join(script, sizeof(script), dir, "dual.sh");
    path_join(flag, sizeof(flag), dir, "ed-broken");
    /* The signer program refuses Ed25519 keys while the flag exists: it
     * gets DOMAIN SELECTOR KEYFILE, the key type is in the file. */
    snprintf(text, sizeof(text),
             "#!/bin/sh\n"
             "echo \"$2\" >> %s/dual.log\n"
             "if [ -f %s ] && grep -q 'BEGIN PRIVATE KEY' \"$3\" && "
             "[ $(wc -c < \"$3\") -lt 200 ]; then\n"
             "  echo 'ed25519 refused' >&2; exit 1\n"
             "fi\nexit 0\n",
             dir, flag);
    f = fopen(script, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(script, 0755), 0);
    write_file(flag, "x\n");
    free(prm.key_type);
    prm.key_type = strdup("rsa2048");
    free(prm.selector);
    prm.selector = strdup("kw%Y%mr");
    prm.track = KS_DKIM_TRACK_RSA;
    prm.signer = KW_DKIM_SIGNER_EXEC;
    prm.signer_exec = calloc(2, sizeof(char *));
    prm.signer_exec[0] = strdup(script);
    assert_int_equal(kw_dkim_rot_params_copy(&r, &prm), 0);
    assert_int_equal(kw_dkim_rot_params_copy(&e, &prm), 0);
    free(e.key_type);
    e.key_type = strdup("ed25519");
    free(e.selector);
    e.selector = strdup("kw%Y%me");
    e.track = KS_DKIM_TRACK_ED25519;
    ps[0] = &r;
    ps[1] = &e;

    assert_int_equal(kw_dkim_rotate_many(st, ps, 2, &dns, 0, NOW, outs, &d),
                     0);
    assert_string_equal(outs[0].rot.selector, "kw202701r");
    assert_string_equal(outs[0].rot.key_type, "rsa2048");
    assert_string_equal(outs[1].rot.selector, "kw202701e");
    assert_string_equal(outs[1].rot.key_type, "ed25519");
    assert_string_equal(outs[0].rot.stage, "visible");
    assert_string_equal(outs[1].rot.stage, "visible");
    assert_int_equal(fk.adds, 2);

    /* Propagated: RSA switches and retires (the program's exit 0), the
     * Ed25519 switch is refused: stopped at propagated, nothing else. */
    assert_int_equal(kw_dkim_rotate_many(st, ps, 2, &dns, 0, NOW + 7200,
                                         outs, &d),
                     0);
    assert_string_equal(outs[0].rot.stage, "retired");
    assert_false(outs[0].stopped);
    assert_string_equal(outs[1].rot.stage, "propagated");
    assert_true(outs[1].stopped);
    assert_non_null(strstr(outs[1].rot.stopped, "switching the signer"));
    assert_non_null(strstr(outs[1].rot.stopped, "ed25519 refused"));

    /* Per-track lookups. */
    track_latest_is("example.com", KS_DKIM_TRACK_RSA, "kw202701r",
                    "retired");
    track_latest_is("EXAMPLE.com", KS_DKIM_TRACK_ED25519, "kw202701e",
                    "propagated");
    {
        ks_dkim_rot *v;
        size_t n;

        assert_int_equal(ks_dkim_rot_list_track(st, "example.com",
                                                KS_DKIM_TRACK_ED25519, &v,
                                                &n, &d),
                         0);
        assert_int_equal(n, 1);
        assert_string_equal(v[0].key_type, "ed25519");
        free(v);
        assert_int_equal(ks_dkim_rot_list(st, "example.com", &v, &n, &d), 0);
        assert_int_equal(n, 2);
        free(v);
    }

    /* Health per track: the stopped one warns and says why, the other is
     * fine. */
    kw_dkim_rot_health_of(&outs[1].rot, 1, &e, NOW + 7200, &h);
    assert_int_equal(h.health, KS_HEALTH_WARNING);
    assert_non_null(strstr(h.reason, "ed25519 refused"));
    kw_dkim_rot_health_of(&outs[0].rot, 1, &r, NOW + 7200, &h);
    assert_int_equal(h.health, KS_HEALTH_OK);

    /* Later runs: the RSA track waits for its next rotation, the Ed25519
     * one retries after its backoff, still refused; fixed, it goes on. */
    assert_int_equal(kw_dkim_rotate_many(st, ps, 2, &dns, KW_DKIM_ROT_RETRY,
                                         NOW + 7300, outs, &d),
                     0);
    assert_string_equal(outs[0].rot.stage, "retired");
    assert_string_equal(outs[1].rot.stage, "propagated");
    assert_true(outs[1].stopped);
    assert_int_equal(unlink(flag), 0);
    assert_int_equal(kw_dkim_rotate_many(st, ps, 2, &dns, KW_DKIM_ROT_RETRY,
                                         NOW + 7400, outs, &d),
                     0);
    assert_string_equal(outs[1].rot.stage, "retired");
    assert_false(outs[1].stopped);

    /* 90 days on: each track's new key replaces its own old one. */
    assert_int_equal(kw_dkim_rotate_many(st, ps, 2, &dns, 0, NOW + 90 * DAY,
                                         outs, &d),
                     0);
    assert_string_equal(outs[0].rot.selector, "kw202704r");
    assert_string_equal(outs[0].rot.old_selector, "kw202701r");
    assert_string_equal(outs[1].rot.selector, "kw202704e");
    assert_string_equal(outs[1].rot.old_selector, "kw202701e");
    kw_dkim_rot_params_free(&r);
    kw_dkim_rot_params_free(&e);
}

/* A key_dir so long that the key file's path does not fit the rotation's
 * record: refused, no key written (a path cut to fit named another
 * file: the private key went to KEY_DIR/example.com. and the rotation
 * went on with it). */
static void test_key_path_too_long(void **state)
{
    char deep[1100], name[1100];
    kw_dkim_rot_out out;
    struct dirent *e;
    kw_diag d;
    size_t n;
    DIR *dp;
    int files = 0;

    (void)state;
    snprintf(deep, sizeof(deep), "%s", keydir);
    assert_int_equal(mkdir(deep, 0700), 0);
    /* Components of up to 200 bytes, to 1010 bytes in all. */
    while ((n = strlen(deep)) < 1010) {
        size_t k = 1010 - n - 1 > 200 ? 200 : 1010 - n - 1;

        deep[n] = '/';
        memset(deep + n + 1, 'd', k);
        deep[n + 1 + k] = '\0';
        assert_int_equal(mkdir(deep, 0700), 0);
    }
    free(prm.key_dir);
    prm.key_dir = strdup(deep);
    d.msg[0] = '\0';
    assert_int_equal(kw_dkim_rotate_run(st, &prm, &dns, 0, NOW, &out, &d),
                     KW_ETOOBIG);
    assert_non_null(strstr(d.msg, "shorter key_dir"));
    dp = opendir(deep);
    assert_non_null(dp);
    while ((e = readdir(dp)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(name, sizeof(name), "%s", e->d_name);
            files++;
        }
    closedir(dp);
    if (files != 0)
        fail_msg("a file was written in key_dir: %s", name);
    assert_int_equal(fk.adds, 0);
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
        cmocka_unit_test_setup_teardown(test_first_rotation_waits_reload,
                                        setup, teardown),
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
        cmocka_unit_test_setup_teardown(test_verify_opendkim, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_rspamd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_real_switch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_then_wait, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_abort_published, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_abort_unpublished_and_failing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zone_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zone_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slot_choose, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dual_tracks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_running_selector_unique, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_schema_rebuild, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_path_too_long, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
