/*
 * test_dane_roll.c: the DANE rollover's state machine with a fake DNS
 * side (kept in shared memory, so a child killed by the test seam leaves
 * it as a real server would) and a clock passed in: the walk to ready and
 * the wait it computes, the deployment gate, the old record removed only
 * after the deployment and a new next key announced, a failed publication
 * holding the renewal back (warning, then critical near expiry) with its
 * backoff, the operator's release, and kill -9 after the key file and
 * after the UPDATE resuming with one key and nothing published twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "dane/dane_roll.h"
#include "keystore/ks_health.h"
#include "keystore/ks_keygen.h"
#include "tmpdir.h"

#define NREC 32

typedef struct fake {
    char owner[NREC][300];
    char rdata[NREC][160];
    int n;
    int adds, removes;   /* updates that changed the zone */
    int sends;           /* every update sent */
    int fail_update;     /* the primary refuses our TSIG key */
    int lag;             /* a secondary does not serve the zone's change */
    char serving[2][160]; /* the key each dane host serves (its record) */
    int probes;
} fake;

static fake *fk;
static ks_store *st;
static char dir[512], nextkey[600], livekey[600], dbpath[600];
static const char *hosts[] = {"mx1.example.com", "mx2.example.com"};
static kw_dane_roll_params prm;

static int find(const char *owner, const char *rdata)
{
    for (int i = 0; i < fk->n; i++)
        if (strcmp(fk->owner[i], owner) == 0 &&
            strcmp(fk->rdata[i], rdata) == 0)
            return i;
    return -1;
}

static int f_update(void *ctx, int add, const char *owner, const char *rdata,
                    int ttl, kw_diag *d)
{
    int i;

    (void)ctx;
    assert_int_equal(ttl, 3600);
    fk->sends++;
    if (fk->fail_update)
        return kw_diag_set(d, KW_EACCES, "127.0.0.1:53: NOTAUTH (the TSIG "
                                         "key was not accepted)");
    i = find(owner, rdata);
    if (add && i < 0) {
        assert_true(fk->n < NREC);
        snprintf(fk->owner[fk->n], 300, "%s", owner);
        snprintf(fk->rdata[fk->n], 160, "%s", rdata);
        fk->n++;
        fk->adds++;
    } else if (!add && i >= 0) {
        fk->n--;
        memmove(fk->owner[i], fk->owner[i + 1], (size_t)(fk->n - i) * 300);
        memmove(fk->rdata[i], fk->rdata[i + 1], (size_t)(fk->n - i) * 160);
        fk->removes++;
    }
    return 0;
}

static int f_visible(void *ctx, const char *owner, const char *rdata,
                     int present, kw_diag *d)
{
    (void)ctx;
    if (fk->lag || (find(owner, rdata) >= 0) != present)
        return kw_diag_set(d, KW_ETIMEDOUT, "127.0.0.2:53 does not serve "
                                            "%s yet", owner);
    return 0;
}

static int f_negttl(void *ctx, const char *owner, int64_t *ttl, kw_diag *d)
{
    (void)ctx;
    (void)owner;
    (void)d;
    *ttl = 300;
    return 0;
}

static int f_served(void *ctx, const char *host, int port, const char *rdata,
                    kw_diag *d)
{
    int i = strcmp(host, "mx2.example.com") == 0;

    (void)ctx;
    assert_int_equal(port, 25);
    fk->probes++;
    if (strcmp(fk->serving[i], rdata) != 0)
        return kw_diag_set(d, KW_ENOTFOUND, "127.0.0.%d port 25 (%s) "
                           "serves the key of %s, not %s", i + 1, host,
                           fk->serving[i], rdata);
    return 0;
}

static kw_dane_roll_dns dns = {f_update, f_visible, f_negttl, f_served,
                                NULL};

static void write_key(const char *path)
{
    kw_diag d;
    EVP_PKEY *k = ks_keygen(KS_KEY_EC256, &d);

    assert_non_null(k);
    assert_int_equal(ks_key_write(path, k, 0600, (gid_t)-1, &d), 0);
    EVP_PKEY_free(k);
}

static void tlsa_of(const char *path, char *buf)
{
    kw_diag d;
    EVP_PKEY *k = ks_key_read(path, &d);

    assert_non_null(k);
    assert_int_equal(kw_dane_key_tlsa(k, 3, 1, 1, buf, 160, &d), 0);
    EVP_PKEY_free(k);
}

static int setup(void **state)
{
    kw_diag d;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "daneroll");
    path_join(dbpath, sizeof(dbpath), dir, "k.db");
    path_join(nextkey, sizeof(nextkey), dir, "next-key.pem");
    path_join(livekey, sizeof(livekey), dir, "privkey.pem");
    assert_int_equal(ks_open(dbpath, KS_OPEN_CREATE, &st, &d), 0);
    fk = mmap(NULL, sizeof(*fk), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(fk != MAP_FAILED);
    memset(fk, 0, sizeof(*fk));
    write_key(livekey);
    memset(&prm, 0, sizeof(prm));
    prm.cert = "mail";
    prm.hosts = hosts;
    prm.nhosts = 2;
    prm.port = 25;
    prm.usage = 3;
    prm.selector = 1;
    prm.mtype = 1;
    prm.ttl = 3600;
    prm.next_key_path = nextkey;
    prm.live_key_path = livekey;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ks_close(st);
    munmap(fk, sizeof(*fk));
    tmpdir_remove(dir);
    return 0;
}

#define T0 1800000000

/* A wait counts from when what it waits on was seen: the clock passed
 * in, plus the time the run took, rounded up (dane_roll.c now_seen). */
static void near(int64_t got, int64_t want)
{
    if (got < want || got > want + 1)
        fail_msg("%lld is not %lld (or a second more)", (long long)got,
                 (long long)want);
}

static int may(int64_t now, char *path)
{
    kw_diag d;
    char buf[1024];

    return kw_dane_roll_may_deploy(st, &prm, now, path ? path : buf, 1024,
                                   &d);
}

/* The whole cycle: announce, wait, deploy, remove, announce the next. */
static void test_cycle(void **state)
{
    kw_dane_roll_out out;
    kw_diag d;
    char live[160], next[160], path[1024];
    struct stat sb;
    char *db;
    size_t len;

    (void)state;
    tlsa_of(livekey, live);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0, &out, &d), 0);
    assert_string_equal(out.roll.stage, "visible");
    assert_int_equal(stat(nextkey, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    tlsa_of(nextkey, next);
    assert_string_equal(out.roll.tlsa, next);
    assert_string_equal(out.roll.old_tlsa, live);
    assert_string_not_equal(live, next);
    /* Both keys' records at both owners, each once. */
    assert_int_equal(fk->n, 4);
    assert_true(find("_25._tcp.mx1.example.com", next) >= 0);
    assert_true(find("_25._tcp.mx2.example.com", live) >= 0);
    /* 2 x 3600 + 300. */
    near(out.roll.wait_until, T0 + 7500);
    assert_int_equal(out.next_step, out.roll.wait_until);
    /* One journal row per change of stage, old -> new, in order. */
    {
        static const char *const want[][2] = {
            {"", "generating"},       {"generating", "generated"},
            {"generated", "publishing"}, {"publishing", "published"},
            {"published", "visible"},
        };
        ks_dane_roll_step *j = NULL;
        size_t n = 0;

        assert_int_equal(ks_dane_roll_journal(st, out.roll.id, &j, &n, 100,
                                              &d), 0);
        assert_int_equal(n, 5);
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(j[i].old_stage, want[i][0]);
            assert_string_equal(j[i].new_stage, want[i][1]);
            assert_int_equal(j[i].at, T0);
        }
        free(j);
    }
    assert_int_equal(may(T0 + 7499, NULL), 0);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 7499, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "visible");
    /* Not served yet: the deployment is refused before ready. */
    assert_int_equal(kw_dane_roll_deployed(st, &prm, nextkey, T0 + 7499, &d),
                     KW_EINVAL);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 7501, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "ready");
    assert_int_equal(may(T0 + 7501, path), 1);
    assert_string_equal(path, nextkey);
    /* The old record stays while the renewal has not deployed. */
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 90000, &out, &d),
                     0);
    assert_int_equal(fk->n, 4);
    /* The renewal copies the key into live/ (deploy) and the probe saw
     * it served. */
    write_key(livekey);
    {
        kw_diag dd;
        EVP_PKEY *k = ks_key_read(nextkey, &dd);

        assert_non_null(k);
        assert_int_equal(ks_key_write(livekey, k, 0600, (gid_t)-1, &dd), 0);
        EVP_PKEY_free(k);
    }
    assert_int_equal(kw_dane_roll_deployed(st, &prm, "/elsewhere", T0 + 90000,
                                           &d), KW_EINVAL);
    assert_int_equal(kw_dane_roll_deployed(st, &prm, nextkey, T0 + 90000, &d),
                     0);
    assert_int_equal(may(T0 + 90000, NULL), 0);
    /* The hold: the old record stays one TTL after the deployment. */
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 90001, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "deployed");
    assert_int_equal(out.next_step, T0 + 90000 + 3600);
    assert_int_equal(fk->n, 4);
    assert_int_equal(fk->probes, 0);
    /* After it, the second probe sees the next key on both hosts. */
    snprintf(fk->serving[0], 160, "%s", next);
    snprintf(fk->serving[1], 160, "%s", next);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 93600, &out, &d),
                     0);
    assert_int_equal(fk->probes, 2);
    /* The old record gone; a new next key announced beside the live one. */
    assert_int_equal(find("_25._tcp.mx1.example.com", live), -1);
    assert_int_equal(find("_25._tcp.mx2.example.com", live), -1);
    assert_string_equal(out.roll.stage, "visible");
    assert_string_equal(out.roll.old_tlsa, next);
    assert_string_not_equal(out.roll.tlsa, next);
    assert_true(find("_25._tcp.mx1.example.com", next) >= 0);
    assert_true(find("_25._tcp.mx1.example.com", out.roll.tlsa) >= 0);
    assert_int_equal(fk->n, 4);
    /* Invariant 5: no private key in the database. */
    db = slurp(dbpath, &len);
    assert_non_null(db);
    assert_null(memmem(db, len, "PRIVATE KEY", 11));
    free(db);
}

/* A refused UPDATE holds the renewal back, backs off, and recovers. */
static void test_failed_publication(void **state)
{
    kw_dane_roll_out out;
    kw_dane_roll_health h;
    kw_diag d;
    int sends;

    (void)state;
    fk->fail_update = 1;
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0, &out, &d), 0);
    assert_string_equal(out.roll.stage, "publishing");
    assert_non_null(strstr(out.roll.stopped, "NOTAUTH"));
    assert_int_equal(out.roll.failures, 1);
    assert_int_equal(out.next_step, T0 + 900);
    assert_int_equal(may(T0 + 100000, NULL), 0);
    assert_int_equal(kw_dane_roll_deployed(st, &prm, nextkey, T0, &d),
                     KW_EINVAL);
    prm.not_after = T0 + 30 * 86400;
    kw_dane_roll_health_of(&out.roll, 1, &prm, T0, &h);
    assert_int_equal(h.health, KS_HEALTH_WARNING);
    assert_non_null(strstr(h.reason, "held back"));
    kw_dane_roll_health_of(&out.roll, 1, &prm, T0 + 23 * 86400 + 1, &h);
    assert_int_equal(h.health, KS_HEALTH_CRITICAL);
    /* Before the backoff nothing is sent. */
    sends = fk->sends;
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 899, &out, &d),
                     0);
    assert_int_equal(fk->sends, sends);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 900, &out, &d),
                     0);
    assert_int_equal(out.roll.failures, 2);
    assert_int_equal(out.next_step, T0 + 900 + 1800);
    /* The server accepts again: on it goes, the same key. */
    fk->fail_update = 0;
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 2700, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "visible");
    assert_int_equal(out.roll.failures, 0);
    assert_string_equal(out.roll.stopped, "");
    /* Waiting is no problem a month before the expiry; a day before,
     * the renewal held back by the wait is a warning, and critical when
     * the wait would outlast the certificate. */
    kw_dane_roll_health_of(&out.roll, 1, &prm, T0 + 2700, &h);
    assert_int_equal(h.health, KS_HEALTH_OK);
    kw_dane_roll_health_of(&out.roll, 1, &prm, T0 + 29 * 86400, &h);
    assert_int_equal(h.health, KS_HEALTH_WARNING);
    assert_non_null(strstr(h.reason, "held back until the next key"));
    prm.not_after = out.roll.wait_until;
    kw_dane_roll_health_of(&out.roll, 1, &prm, out.roll.wait_until - 60, &h);
    assert_int_equal(h.health, KS_HEALTH_CRITICAL);
    prm.not_after = T0 + 30 * 86400;
    /* A lagging secondary holds it at published. */
    assert_int_equal(fk->n, 4);
}

static void test_lag_holds(void **state)
{
    kw_dane_roll_out out;
    kw_diag d;

    (void)state;
    fk->lag = 1;
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0, &out, &d), 0);
    assert_string_equal(out.roll.stage, "published");
    assert_non_null(strstr(out.roll.stopped, "127.0.0.2"));
    assert_int_equal(may(T0 + 100000, NULL), 0);
    fk->lag = 0;
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 900, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "visible");
    /* The wait counts from when it was seen, not from the first send. */
    near(out.roll.wait_until, T0 + 900 + 7500);
}

/* The operator's release deploys anyway, loudly; never without a key. */
static void test_release(void **state)
{
    kw_dane_roll_out out;
    kw_dane_roll_health h;
    kw_diag d;
    char path[1024];

    (void)state;
    assert_int_equal(kw_dane_roll_release(st, "mail", T0, &d), KW_ENOTFOUND);
    fk->fail_update = 1;
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0, &out, &d), 0);
    assert_int_equal(may(T0, NULL), 0);
    assert_int_equal(kw_dane_roll_release(st, "mail", T0 + 5, &d), 0);
    assert_int_equal(may(T0 + 6, path), 1);
    assert_string_equal(path, nextkey);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 7, &out, &d), 0);
    kw_dane_roll_health_of(&out.roll, 1, &prm, T0 + 7, &h);
    assert_int_equal(h.health, KS_HEALTH_WARNING);
    assert_non_null(strstr(h.reason, "released"));
    assert_int_equal(kw_dane_roll_deployed(st, &prm, nextkey, T0 + 8, &d), 0);
    assert_int_equal(may(T0 + 9, NULL), 0);
}

/* Released, deployed before ready, and not served yet: the probe's
 * failure backs off as a probe's (a reload is seconds away), and the
 * health does not say the renewal is held back (it deployed). */
static void test_release_probe(void **state)
{
    kw_dane_roll_out out;
    kw_dane_roll_health h;
    kw_diag d;
    char next[160];

    (void)state;
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0, &out, &d), 0);
    assert_string_equal(out.roll.stage, "visible");
    assert_int_equal(kw_dane_roll_release(st, "mail", T0 + 5, &d), 0);
    {
        EVP_PKEY *k = ks_key_read(nextkey, &d);

        assert_non_null(k);
        assert_int_equal(ks_key_write(livekey, k, 0600, (gid_t)-1, &d), 0);
        EVP_PKEY_free(k);
    }
    tlsa_of(nextkey, next);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 10, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "visible");
    assert_non_null(strstr(out.roll.stopped, "the reload did not happen"));
    assert_int_equal(out.next_step, T0 + 10 + 60);
    kw_dane_roll_health_of(&out.roll, 1, &prm, T0 + 10, &h);
    assert_int_equal(h.health, KS_HEALTH_WARNING);
    assert_null(strstr(h.reason, "renewal held back"));
    snprintf(fk->serving[0], 160, "%s", next);
    snprintf(fk->serving[1], 160, "%s", next);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 70, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "deployed");
}

/* The renewal gets the next key only while its file holds the key whose
 * record was announced: one put there by other hands is refused, by
 * name, not deployed without a matching record. */
static void test_swapped_next_key(void **state)
{
    kw_dane_roll_out out;
    kw_diag d;
    char path[1024];

    (void)state;
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0, &out, &d), 0);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 7501, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "ready");
    assert_int_equal(may(T0 + 7501, path), 1);
    write_key(nextkey);
    assert_int_equal(kw_dane_roll_may_deploy(st, &prm, T0 + 7502, path,
                                             sizeof(path), &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "holds another key"));
    assert_non_null(strstr(d.msg, nextkey));
    unlink(nextkey);
    assert_int_equal(kw_dane_roll_may_deploy(st, &prm, T0 + 7502, path,
                                             sizeof(path), &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "is gone"));
}

/* Only 3 1 x can announce a key before its certificate. */
static void test_params(void **state)
{
    kw_diag d;

    (void)state;
    prm.selector = 0;
    assert_int_equal(kw_dane_roll_params_check(&prm, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "3 1 1"));
    prm.selector = 1;
    prm.usage = 2;
    assert_int_equal(kw_dane_roll_params_check(&prm, &d), KW_EINVAL);
    prm.usage = 3;
    prm.nhosts = 0;
    assert_int_equal(kw_dane_roll_params_check(&prm, &d), KW_EINVAL);
    prm.nhosts = 2;
    assert_int_equal(kw_dane_roll_params_check(&prm, &d), 0);
    /* A full key (3 1 0) fits the row only for Ed25519: refused before
     * a key is made, not failed at every run after. */
    {
        const char *saved_type = prm.key_type;

        prm.mtype = 0;
        prm.key_type = NULL;
        assert_int_equal(kw_dane_roll_params_check(&prm, &d), KW_EINVAL);
        assert_non_null(strstr(d.msg, "dane = 3 1 0 with key_type ec256"));
        prm.key_type = "rsa2048";
        assert_int_equal(kw_dane_roll_params_check(&prm, &d), KW_EINVAL);
        prm.key_type = "ed25519";
        assert_int_equal(kw_dane_roll_params_check(&prm, &d), 0);
        prm.key_type = saved_type;
        prm.mtype = 1;
    }
    /* What the journal's fixed fields cannot hold is refused, not cut. */
    {
        char longpath[1100], longhost[254];
        const char *saved = prm.next_key_path;
        const char *const *saved_hosts = prm.hosts;
        const char *many[16];
        size_t saved_n = prm.nhosts, i;

        memset(longpath, 'p', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        prm.next_key_path = longpath;
        assert_int_equal(kw_dane_roll_params_check(&prm, &d), KW_EINVAL);
        assert_non_null(strstr(d.msg, "next key's path"));
        prm.next_key_path = saved;
        memset(longhost, 'h', sizeof(longhost) - 1);
        longhost[sizeof(longhost) - 1] = '\0';
        for (i = 0; i < 16; i++)
            many[i] = longhost;
        prm.hosts = many;
        prm.nhosts = 16;
        assert_int_equal(kw_dane_roll_params_check(&prm, &d), KW_EINVAL);
        assert_non_null(strstr(d.msg, "TLSA names take"));
        {
            char toolong[301];

            memset(toolong, 'h', sizeof(toolong) - 1);
            toolong[sizeof(toolong) - 1] = '\0';
            many[0] = toolong;
            prm.nhosts = 1;
            assert_int_equal(kw_dane_roll_params_check(&prm, &d),
                             KW_EINVAL);
            assert_non_null(strstr(d.msg, "300 bytes long"));
        }
        prm.hosts = saved_hosts;
        prm.nhosts = saved_n;
    }
}

/* Runs one step in a child with KEYWARDEN_TEST_DIE_AT = at; it must die
 * by SIGKILL at that point. */
static void die_at(const char *at, int64_t now)
{
    pid_t pid;
    int status;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        kw_dane_roll_out out;
        kw_diag d;
        ks_store *cs;

        setenv("KEYWARDEN_TEST_DIE_AT", at, 1);
        if (ks_open(dbpath, 0, &cs, &d) != 0)
            _exit(3);
        kw_dane_roll_step(cs, &prm, &dns, now, &out, &d);
        _exit(4);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void test_kill_resume(void **state)
{
    kw_dane_roll_out out;
    kw_diag d;
    char written[160];
    int found;

    (void)state;
    die_at("dane-key-written", T0);
    assert_int_equal(ks_dane_roll_latest(st, "mail", &out.roll, &found, &d),
                     0);
    assert_int_equal(found, 1);
    assert_string_equal(out.roll.stage, "generating");
    tlsa_of(nextkey, written);
    die_at("dane-update-sent", T0 + 1);
    assert_int_equal(ks_dane_roll_latest(st, "mail", &out.roll, &found, &d),
                     0);
    assert_string_equal(out.roll.stage, "publishing");
    /* The key written before the first crash is the one announced. */
    assert_string_equal(out.roll.tlsa, written);
    assert_int_equal(fk->adds, 4);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 2, &out, &d), 0);
    assert_string_equal(out.roll.stage, "visible");
    /* Sent again on resume, published once. */
    assert_int_equal(fk->sends, 8);
    assert_int_equal(fk->adds, 4);
    assert_int_equal(fk->n, 4);
    assert_true(find("_25._tcp.mx2.example.com", written) >= 0);
}

/* The live key file and what both hosts serve become key's (the
 * renewal deployed it, the hook reloaded the server). */
static void deploy_key(const char *key, int served)
{
    kw_diag d;
    EVP_PKEY *k = ks_key_read(key, &d);
    char rec[160];

    assert_non_null(k);
    assert_int_equal(ks_key_write(livekey, k, 0600, (gid_t)-1, &d), 0);
    EVP_PKEY_free(k);
    tlsa_of(livekey, rec);
    if (served) {
        snprintf(fk->serving[0], 160, "%s", rec);
        snprintf(fk->serving[1], 160, "%s", rec);
    }
}

static int journal_has(int64_t id, const char *from, const char *to)
{
    ks_dane_roll_step *j = NULL;
    size_t n = 0;
    kw_diag d;
    int found = 0;

    assert_int_equal(ks_dane_roll_journal(st, id, &j, &n, 100, &d), 0);
    for (size_t i = 0; i < n; i++)
        found |= strcmp(j[i].old_stage, from) == 0 &&
                 strcmp(j[i].new_stage, to) == 0;
    free(j);
    return found;
}

/* Unattended, by the step alone: two cycles, each renewal a new key;
 * a reload that did not happen holds the old record with the reason;
 * a server that goes back to the old key during the hold keeps it too;
 * the gate (no probe) never moves past ready. */
static void test_probe_cycles(void **state)
{
    kw_dane_roll_dns gate = dns;
    kw_dane_roll_out out;
    kw_dane_roll_health h;
    kw_diag d;
    char live0[160], k1[160], k2[160], path[1024];
    int64_t t = T0, id1;

    (void)state;
    gate.served = NULL;
    tlsa_of(livekey, live0);
    snprintf(fk->serving[0], 160, "%s", live0);
    snprintf(fk->serving[1], 160, "%s", live0);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, t, &out, &d), 0);
    snprintf(k1, sizeof(k1), "%s", out.roll.tlsa);
    id1 = out.roll.id;
    t += 7501;
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, t, &out, &d), 0);
    assert_string_equal(out.roll.stage, "ready");
    /* Ready but not deployed: nothing probed, nothing waits on a time. */
    assert_int_equal(fk->probes, 0);
    assert_int_equal(out.next_step, 0);
    assert_int_equal(may(t, path), 1);
    /* The renewal deploys it; the hook does not reload. */
    deploy_key(nextkey, 0);
    assert_int_equal(kw_dane_roll_step(st, &prm, &gate, t, &out, &d), 0);
    assert_string_equal(out.roll.stage, "ready");
    assert_string_equal(out.roll.stopped, "");
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, t, &out, &d), 0);
    assert_string_equal(out.roll.stage, "ready");
    assert_non_null(strstr(out.roll.stopped, "reload did not happen"));
    assert_non_null(strstr(out.roll.stopped, "127.0.0.1 port 25"));
    assert_int_equal(out.next_step, t + 60);
    assert_int_equal(fk->n, 4);
    kw_dane_roll_health_of(&out.roll, 1, &prm, t, &h);
    assert_int_equal(h.health, KS_HEALTH_WARNING);
    assert_non_null(strstr(h.reason, "reload did not happen"));
    assert_null(strstr(h.reason, "held back"));
    /* The retry backs off 1 min, 2 min... */
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, t + 60, &out, &d), 0);
    assert_int_equal(out.next_step, t + 60 + 120);
    /* Reloaded: deployed, the hold starts. */
    t += 180;
    snprintf(fk->serving[0], 160, "%s", k1);
    snprintf(fk->serving[1], 160, "%s", k1);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, t, &out, &d), 0);
    assert_string_equal(out.roll.stage, "deployed");
    near(out.roll.wait_until, t + 3600);
    assert_int_equal(fk->n, 4);
    /* A server back on the old key at the end of the hold: kept. */
    snprintf(fk->serving[1], 160, "%s", live0);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, t + 3601, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "deployed");
    assert_non_null(strstr(out.roll.stopped, "mx2.example.com"));
    assert_int_equal(fk->n, 4);
    assert_int_equal(fk->removes, 0);
    /* The gate cannot probe: it never removes. */
    snprintf(fk->serving[1], 160, "%s", k1);
    assert_int_equal(kw_dane_roll_step(st, &prm, &gate, t + 3700, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "deployed");
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, t + 3700, &out, &d),
                     0);
    /* Removed after the probe, and the next cycle announced at once. */
    assert_int_equal(fk->removes, 2);
    assert_int_equal(find("_25._tcp.mx1.example.com", live0), -1);
    assert_true(journal_has(id1, "ready", "deployed"));
    assert_true(journal_has(id1, "deployed", "removing"));
    assert_true(journal_has(id1, "removing", "done"));
    assert_string_equal(out.roll.stage, "visible");
    assert_int_not_equal(out.roll.id, id1);
    assert_string_equal(out.roll.old_tlsa, k1);
    snprintf(k2, sizeof(k2), "%s", out.roll.tlsa);
    assert_string_not_equal(k2, k1);
    assert_string_not_equal(k2, live0);
    /* Cycle two, as the first. */
    t += 3700 + 7501;
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, t, &out, &d), 0);
    assert_string_equal(out.roll.stage, "ready");
    deploy_key(nextkey, 1);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, t, &out, &d), 0);
    assert_string_equal(out.roll.stage, "deployed");
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, t + 3601, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "visible");
    assert_string_equal(out.roll.old_tlsa, k2);
    assert_int_equal(find("_25._tcp.mx2.example.com", k1), -1);
    assert_true(find("_25._tcp.mx2.example.com", k2) >= 0);
    assert_true(find("_25._tcp.mx2.example.com", out.roll.tlsa) >= 0);
    assert_int_equal(fk->n, 4);
}

/* Another runner holds the lock: nothing is done, it looks again. */
static void test_lock_busy(void **state)
{
    kw_dane_roll_out out;
    kw_diag d;
    char lp[700];
    int fd;

    (void)state;
    snprintf(lp, sizeof(lp), "%s.lock", nextkey);
    fd = open(lp, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    /* flock locks are per open file description: a child's open is
     * another runner. */
    {
        pid_t pid = fork();
        int status;

        assert_true(pid >= 0);
        if (pid == 0) {
            int cfd = open(lp, O_RDWR);

            if (cfd < 0 || flock(cfd, LOCK_EX) != 0)
                _exit(3);
            pause();
            _exit(0);
        }
        /* Wait until the child holds it. */
        for (int i = 0; i < 500; i++) {
            if (flock(fd, LOCK_EX | LOCK_NB) != 0)
                break;
            flock(fd, LOCK_UN);
            usleep(10000);
        }
        assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0, &out, &d), 0);
        assert_int_equal(out.found, 0);
        assert_int_equal(out.next_step, T0 + 60);
        assert_int_equal(fk->sends, 0);
        assert_int_equal(kw_dane_roll_release(st, "mail", T0, &d),
                         KW_ENOTFOUND);
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
    }
    close(fd);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0, &out, &d), 0);
    assert_string_equal(out.roll.stage, "visible");
}

/* kill -9 right after the removal UPDATE: the resumed run sends it
 * again (no change), finds it gone, and starts the next cycle once. */
static void test_kill_after_removal(void **state)
{
    kw_dane_roll_out out;
    kw_diag d;
    char live0[160], k1[160];
    int found;

    (void)state;
    tlsa_of(livekey, live0);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0, &out, &d), 0);
    snprintf(k1, sizeof(k1), "%s", out.roll.tlsa);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 7501, &out, &d),
                     0);
    deploy_key(nextkey, 1);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 7501, &out, &d),
                     0);
    assert_string_equal(out.roll.stage, "deployed");
    die_at("dane-removal-sent", T0 + 7501 + 3601);
    assert_int_equal(ks_dane_roll_latest(st, "mail", &out.roll, &found, &d),
                     0);
    assert_string_equal(out.roll.stage, "removing");
    assert_int_equal(fk->removes, 2);
    assert_int_equal(find("_25._tcp.mx1.example.com", live0), -1);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0 + 7501 + 3602,
                                       &out, &d), 0);
    assert_int_equal(fk->removes, 2);
    assert_string_equal(out.roll.stage, "visible");
    assert_string_equal(out.roll.old_tlsa, k1);
    assert_true(journal_has(out.roll.id, "", "generating"));
    /* One new cycle: k1 and the new key at each owner, nothing else. */
    assert_int_equal(fk->n, 4);
}

/* Invariant 6: a leftover next-key file that holds the live key (a
 * crash between a deployment and the next cycle's key) is replaced, so
 * the next renewal still changes the key. */
static void test_leftover_live_key(void **state)
{
    kw_dane_roll_out out;
    kw_diag d;
    char live[160], next[160];
    EVP_PKEY *k;

    (void)state;
    tlsa_of(livekey, live);
    /* The last cycle's row: its key deployed (now the live one). */
    memset(&out.roll, 0, sizeof(out.roll));
    snprintf(out.roll.cert, sizeof(out.roll.cert), "mail");
    snprintf(out.roll.key_path, sizeof(out.roll.key_path), "%s", nextkey);
    snprintf(out.roll.tlsa, sizeof(out.roll.tlsa), "%s", live);
    snprintf(out.roll.names, sizeof(out.roll.names), "x");
    snprintf(out.roll.stage, sizeof(out.roll.stage), "done");
    assert_int_equal(ks_dane_roll_save(st, &out.roll, "", T0, "", &d), 0);
    k = ks_key_read(livekey, &d);
    assert_non_null(k);
    assert_int_equal(ks_key_write(nextkey, k, 0600, (gid_t)-1, &d), 0);
    EVP_PKEY_free(k);
    assert_int_equal(kw_dane_roll_step(st, &prm, &dns, T0, &out, &d), 0);
    assert_string_equal(out.roll.stage, "visible");
    assert_string_equal(out.roll.old_tlsa, live);
    tlsa_of(nextkey, next);
    assert_string_equal(out.roll.tlsa, next);
    assert_string_not_equal(next, live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_publication, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lag_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_probe, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_swapped_next_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_cycles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_after_removal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_leftover_live_key, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
