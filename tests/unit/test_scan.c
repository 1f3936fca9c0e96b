/*
 * The scanner against real trees on disk: layouts, rescans, and every
 * kind of bad input the issue lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/kw_json.h"
#include "keystore/ks_inventory.h"
#include "keystore/ks_scan.h"
#include "keystore/ks_store_int.h"
#include "testpki.h"
#include "tmpdir.h"

#define NOW INT64_C(1795651200)
#define DAY INT64_C(86400)

typedef struct fixture {
    char dir[256];
    char tree[512];
    char db[512];
    ks_store *s;
    EVP_PKEY *ca_key, *k1, *k2;
    X509 *ca;
    char notes[16384];
    size_t notes_len;
} fixture;

static void on_note(void *ctx, enum ks_scan_note n, const char *path,
                    const char *msg)
{
    fixture *fx = ctx;
    int w = snprintf(fx->notes + fx->notes_len,
                     sizeof(fx->notes) - fx->notes_len, "%d %s: %s\n", (int)n,
                     path, msg);

    if (w > 0 && fx->notes_len + (size_t)w < sizeof(fx->notes))
        fx->notes_len += (size_t)w;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    kw_diag d;

    tmpdir_make(fx->dir, sizeof(fx->dir), "scan");
    path_join(fx->tree, sizeof(fx->tree), fx->dir, "tree");
    path_join(fx->db, sizeof(fx->db), fx->dir, "kw.db");
    tp_mkdirs(fx->tree);
    if (ks_open(fx->db, KS_OPEN_CREATE, &fx->s, &d) != 0)
        fail_msg("%s", d.msg);
    fx->ca_key = tp_key_ec();
    fx->k1 = tp_key_ec();
    fx->k2 = tp_key_ec();
    fx->ca = tp_cert(&(tp_spec){.cn = "Scan CA", .is_ca = 1,
                                .not_before = NOW - DAY,
                                .not_after = NOW + 1000 * DAY, .serial = 1,
                                .key = fx->ca_key});
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;

    ks_close(fx->s);
    tmpdir_remove(fx->dir);
    X509_free(fx->ca);
    EVP_PKEY_free(fx->ca_key);
    EVP_PKEY_free(fx->k1);
    EVP_PKEY_free(fx->k2);
    free(fx);
    return 0;
}

static X509 *mk(fixture *fx, const char *name, int64_t days, EVP_PKEY *key,
                long serial)
{
    const char *dns[] = {name, NULL};

    return tp_cert(&(tp_spec){.cn = name, .dns = dns,
                              .not_before = NOW - DAY,
                              .not_after = NOW + days * DAY, .serial = serial,
                              .key = key, .issuer = fx->ca,
                              .issuer_key = fx->ca_key});
}

static void write_cert(fixture *fx, const char *rel, X509 *c, int with_ca)
{
    char p[1024];
    X509 *v[2] = {c, fx->ca};

    path_join(p, sizeof(p), fx->tree, rel);
    tp_write_pem(p, v, with_ca ? 2 : 1, NULL, 0644);
}

static ks_scan_stats scan(fixture *fx, int64_t now)
{
    const char *roots[] = {fx->tree};
    ks_scan_opts o;
    ks_scan_stats st;
    kw_diag d;

    memset(&o, 0, sizeof(o));
    o.now = now;
    o.note = on_note;
    o.note_ctx = fx;
    fx->notes_len = 0;
    fx->notes[0] = '\0';
    if (ks_scan(fx->s, roots, 1, &o, &st, &d) != 0)
        fail_msg("scan failed: %s", d.msg);
    return st;
}

static int64_t q_int(fixture *fx, const char *sql, const char *arg)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(ks_db(fx->s), sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(ks_db(fx->s)));
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *q_text(fixture *fx, const char *sql, const char *arg)
{
    sqlite3_stmt *st = NULL;
    char *v = NULL;

    sqlite3_prepare_v2(ks_db(fx->s), sql, -1, &st, NULL);
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

static void path_of(fixture *fx, char *out, size_t len, const char *rel)
{
    path_join(out, len, fx->tree, rel);
}

static void assert_note(fixture *fx, const char *fragment)
{
    if (strstr(fx->notes, fragment) == NULL)
        fail_msg("no note containing \"%s\" in:\n%s", fragment, fx->notes);
}

/* ---- tests ---------------------------------------------------------------- */

static void layouts_and_rescan(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "a.example", 60, fx->k1, 10);
    X509 *b = mk(fx, "b.example", 10, fx->k1, 11);
    EVP_PKEY *k3 = tp_key_ec();
    X509 *other = tp_cert(&(tp_spec){.cn = "Other Root", .is_ca = 1,
                                     .not_before = NOW,
                                     .not_after = NOW + 99 * DAY, .key = k3});
    X509 *bundle[3] = {fx->ca, other, NULL};
    char p[1024];
    ks_scan_stats st;
    int64_t events;

    write_cert(fx, "single.pem", a, 0);
    write_cert(fx, "fullchain.pem", b, 1);
    path_of(fx, p, sizeof(p), "bundle.crt");
    tp_write_pem(p, bundle, 2, NULL, 0644);

    st = scan(fx, NOW);
    assert_int_equal(st.files, 3);
    assert_int_equal(st.certs, 5);
    assert_int_equal(st.objects_new, 4); /* single, chain, 2 bundle roots */
    assert_int_equal(q_int(fx, "SELECT chain_len FROM objects WHERE name = ?1",
                           "b.example"),
                     2);
    /* Elements after the leaf (the leaf's facts are the object's). */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM chain_elements", NULL),
                     1);
    /* The chain's deadline is its earliest expiry. */
    assert_int_equal(q_int(fx, "SELECT deadline FROM objects WHERE name = ?1",
                           "b.example"),
                     NOW + 10 * DAY);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE source "
                               "LIKE '%bundle.crt'",
                           NULL),
                     2);

    events = q_int(fx, "SELECT count(*) FROM events", NULL);
    st = scan(fx, NOW + 60);
    assert_int_equal(st.files, 3);
    assert_int_equal(st.unchanged, 3);
    assert_int_equal(st.parsed, 0);
    assert_int_equal(st.objects_new, 0);
    assert_int_equal(st.objects_changed, 0);
    /* Only the scan.completed record was added. */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM events", NULL),
                     events + 1);

    X509_free(a);
    X509_free(b);
    X509_free(other);
    EVP_PKEY_free(k3);
}

static void changed_missing_restored(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "c.example", 5, fx->k1, 20);
    X509 *a2 = mk(fx, "c.example", 90, fx->k1, 21);
    char p[1024], *fp1, *fp2;
    struct timespec ts[2] = {{NOW, 0}, {NOW + 100, 0}};
    ks_scan_stats st;

    write_cert(fx, "c.pem", a, 0);
    st = scan(fx, NOW);
    assert_int_equal(st.objects_new, 1);
    fp1 = q_text(fx, "SELECT fingerprint FROM objects WHERE name = ?1",
                 "c.example");

    /* Renewed in place: same path, new content and mtime. */
    write_cert(fx, "c.pem", a2, 0);
    path_of(fx, p, sizeof(p), "c.pem");
    utimensat(AT_FDCWD, p, ts, 0);
    st = scan(fx, NOW + 200);
    assert_int_equal(st.parsed, 1);
    assert_int_equal(st.objects_changed, 1);
    fp2 = q_text(fx, "SELECT fingerprint FROM objects WHERE name = ?1",
                 "c.example");
    assert_string_not_equal(fp1, fp2);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM events WHERE type = "
                               "'object.changed'",
                           NULL),
                     1);

    /* Vanished: kept, marked missing, never silently dropped. */
    unlink(p);
    st = scan(fx, NOW + 300);
    assert_int_equal(st.missing, 1);
    assert_note(fx, "vanished since the last scan");
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE name = ?1 "
                               "AND state = 'missing'",
                           "c.example"),
                     1);
    st = scan(fx, NOW + 400); /* still missing: reported once only */
    assert_int_equal(st.missing, 0);

    /* Back again. */
    write_cert(fx, "c.pem", a2, 0);
    st = scan(fx, NOW + 500);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE name = ?1 "
                               "AND state = 'ok'",
                           "c.example"),
                     1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects", NULL), 1);
    free(fp1);
    free(fp2);
    X509_free(a);
    X509_free(a2);
}

static void symlink_loops_and_duplicates(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "loop.example", 60, fx->k1, 30);
    char p[1024];
    ks_scan_stats st;

    path_of(fx, p, sizeof(p), "sub/deeper");
    tp_mkdirs(p);
    write_cert(fx, "sub/deeper/a.pem", a, 0);
    path_of(fx, p, sizeof(p), "sub/deeper/back");
    assert_int_equal(symlink("../..", p), 0);     /* loops to an ancestor */
    path_of(fx, p, sizeof(p), "sub/self");
    assert_int_equal(symlink("self", p), 0);      /* ELOOP */
    path_of(fx, p, sizeof(p), "sub/again.pem");
    assert_int_equal(symlink("deeper/a.pem", p), 0); /* same file twice */
    path_of(fx, p, sizeof(p), "sub/dangling.pem");
    assert_int_equal(symlink("nowhere.pem", p), 0);

    st = scan(fx, NOW);
    assert_int_equal(st.loops, 2);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects", NULL), 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM file_links", NULL), 1);
    assert_note(fx, "symlink loop");
    /* The path reached without a symlink stays the primary one. */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE source "
                               "LIKE '%/sub/deeper/a.pem'",
                           NULL),
                     1);
    X509_free(a);
}

static void letsencrypt_layout(void **state)
{
    fixture *fx = *state;
    X509 *old = mk(fx, "le.example", -20, fx->k1, 40);
    X509 *cur = mk(fx, "le.example", 70, fx->k2, 41);
    char p[1024], live[1024];
    ks_scan_stats st;

    path_of(fx, p, sizeof(p), "le/archive/le.example");
    tp_mkdirs(p);
    path_of(fx, live, sizeof(live), "le/live/le.example");
    tp_mkdirs(live);
    write_cert(fx, "le/archive/le.example/cert1.pem", old, 0);
    write_cert(fx, "le/archive/le.example/fullchain1.pem", old, 1);
    write_cert(fx, "le/archive/le.example/cert2.pem", cur, 0);
    write_cert(fx, "le/archive/le.example/fullchain2.pem", cur, 1);
    path_of(fx, p, sizeof(p), "le/archive/le.example/privkey1.pem");
    tp_write_key(p, fx->k1, 0600);
    path_of(fx, p, sizeof(p), "le/archive/le.example/privkey2.pem");
    tp_write_key(p, fx->k2, 0600);
    path_join(p, sizeof(p), live, "cert.pem");
    assert_int_equal(symlink("../../archive/le.example/cert2.pem", p), 0);
    path_join(p, sizeof(p), live, "fullchain.pem");
    assert_int_equal(symlink("../../archive/le.example/fullchain2.pem", p),
                     0);
    path_join(p, sizeof(p), live, "privkey.pem");
    assert_int_equal(symlink("../../archive/le.example/privkey2.pem", p), 0);

    st = scan(fx, NOW);
    assert_int_equal(st.duplicates, 3);
    /* Four files with certificates; live/ adds links, not objects. */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects", NULL), 4);
    /* The old versions are superseded; the live ones are not. */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE "
                               "superseded_by IS NOT NULL",
                           NULL),
                     2);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE source "
                               "LIKE '%cert2.pem' AND superseded_by IS NULL",
                           NULL),
                     1);
    /* cert2.pem matches privkey2.pem (by public key, not by name). */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE source "
                               "LIKE '%/cert2.pem' AND key_state = 'match' "
                               "AND key_path LIKE '%privkey2.pem'",
                           NULL),
                     1);
    X509_free(old);
    X509_free(cur);
}

static void key_matching(void **state)
{
    fixture *fx = *state;
    X509 *good = mk(fx, "good.example", 60, fx->k1, 50);
    EVP_PKEY *k3 = tp_key_ec();
    X509 *bad = mk(fx, "bad.example", 60, k3, 51);
    X509 *open = mk(fx, "open.example", 60, fx->k2, 52);
    X509 *deb = mk(fx, "snakeoil.example", 60, fx->k2, 53);
    char p[1024];

    write_cert(fx, "good.crt", good, 0);
    path_of(fx, p, sizeof(p), "good.key");
    tp_write_key(p, fx->k1, 0600);
    write_cert(fx, "bad.crt", bad, 0);
    path_of(fx, p, sizeof(p), "bad.key");
    tp_write_key(p, fx->k2, 0600); /* not the key of bad.crt */
    path_of(fx, p, sizeof(p), "o");
    tp_mkdirs(p);
    write_cert(fx, "o/open.pem", open, 0);
    path_of(fx, p, sizeof(p), "o/open.key");
    tp_write_key(p, fx->k2, 0644);
    /* Debian's layout: certs/NAME.pem with private/NAME.key. */
    path_of(fx, p, sizeof(p), "ssl/certs");
    tp_mkdirs(p);
    path_of(fx, p, sizeof(p), "ssl/private");
    tp_mkdirs(p);
    write_cert(fx, "ssl/certs/snakeoil.pem", deb, 0);
    path_of(fx, p, sizeof(p), "ssl/private/snakeoil.key");
    tp_write_key(p, fx->k2, 0640);

    scan(fx, NOW);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE name = ?1 "
                               "AND key_state = 'match' AND key_mode = 384",
                           "good.example"),
                     1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE name = ?1 "
                               "AND key_state = 'mismatch'",
                           "bad.example"),
                     1);
    assert_int_equal(q_int(fx, "SELECT key_mode FROM objects WHERE name = ?1",
                           "open.example"),
                     0644);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE name = ?1 "
                               "AND key_state = 'match' AND key_path LIKE "
                               "'%/ssl/private/snakeoil.key'",
                           "snakeoil.example"),
                     1);
    /* Fixing the key's mode is picked up by the next scan. */
    path_of(fx, p, sizeof(p), "o/open.key");
    chmod(p, 0600);
    {
        struct timespec ts[2] = {{NOW + 5, 0}, {NOW + 5, 0}};
        utimensat(AT_FDCWD, p, ts, 0);
    }
    scan(fx, NOW + 10);
    assert_int_equal(q_int(fx, "SELECT key_mode FROM objects WHERE name = ?1",
                           "open.example"),
                     0600);
    X509_free(good);
    X509_free(bad);
    X509_free(open);
    X509_free(deb);
    EVP_PKEY_free(k3);
}

static void write_big(const char *path, size_t n, int binary)
{
    char *buf = malloc(n);
    size_t i;

    for (i = 0; i < n; i++)
        buf[i] = binary ? (char)(i * 7) : 'a';
    tp_write_bytes(path, buf, n, 0644);
    free(buf);
}

static void malformed_files(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "ok.example", 60, fx->k1, 60);
    char p[1024];
    size_t len;
    unsigned char *der = tp_der(a, &len);
    ks_scan_stats st;

    path_of(fx, p, sizeof(p), "empty.pem");
    tp_write_bytes(p, "", 0, 0644);
    path_of(fx, p, sizeof(p), "empty.txt");
    tp_write_bytes(p, "", 0, 0644);
    path_of(fx, p, sizeof(p), "badb64.pem");
    {
        const char *bad = "-----BEGIN CERTIFICATE-----\nMIIB$$$\n"
                          "-----END CERTIFICATE-----\n";
        tp_write_bytes(p, bad, strlen(bad), 0644);
    }
    path_of(fx, p, sizeof(p), "truncated.der");
    tp_write_bytes(p, der, len / 2, 0644);
    path_of(fx, p, sizeof(p), "garbage.crt");
    write_big(p, 3000, 1);
    path_of(fx, p, sizeof(p), "blob.bin");
    write_big(p, 3000, 1);
    path_of(fx, p, sizeof(p), "huge.pem");
    write_big(p, KS_SCAN_MAX_FILE_SIZE + 1, 0);
    path_of(fx, p, sizeof(p), "huge.log");
    write_big(p, KS_SCAN_MAX_FILE_SIZE + 1, 0);
    path_of(fx, p, sizeof(p), "notes.txt");
    tp_write_bytes(p, "just some text\n", 15, 0644);
    write_cert(fx, "fine.pem", a, 0);

    st = scan(fx, NOW);
    /* The good file is in; each broken certificate file is an object of
     * its own, health unknown, with the reason. */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE state = "
                               "'ok'",
                           NULL),
                     1);
    assert_int_equal(st.errors, 5);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE state = "
                               "'unreadable'",
                           NULL),
                     5);
    assert_note(fx, "empty.pem: empty file (0 bytes)");
    assert_note(fx, "badb64.pem: PEM block 1 (CERTIFICATE, line 1): invalid "
                    "base64 character '$' at line 2");
    assert_note(fx, "truncated.der: truncated: the certificate declares");
    assert_note(fx, "garbage.crt: binary file that is not a DER certificate");
    assert_note(fx, "huge.pem: file is 1048577 bytes, over the 1048576-byte");
    /* Files that never claimed to be certificates are skipped, reported. */
    assert_note(fx, "blob.bin: binary file");
    assert_note(fx, "huge.log: file is 1048577 bytes");
    assert_int_equal(st.skipped, 2);
    assert_null(strstr(fx->notes, "notes.txt"));
    assert_null(strstr(fx->notes, "empty.txt"));
    {
        char *err = q_text(fx, "SELECT error FROM objects WHERE name = ?1",
                           "badb64.pem");
        assert_non_null(strstr(err, "invalid base64"));
        free(err);
    }
    /* Fixing a broken file turns its object back into a certificate. */
    write_cert(fx, "badb64.pem", a, 0);
    path_of(fx, p, sizeof(p), "badb64.pem");
    {
        struct timespec ts[2] = {{NOW + 5, 0}, {NOW + 5, 0}};
        utimensat(AT_FDCWD, p, ts, 0);
    }
    scan(fx, NOW + 10);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE state = "
                               "'ok' AND source LIKE '%badb64.pem'",
                           NULL),
                     1);
    OPENSSL_free(der);
    X509_free(a);
}

static void renames_and_bundle_changes(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "r.example", 60, fx->k1, 70);
    EVP_PKEY *k3 = tp_key_ec();
    X509 *other = tp_cert(&(tp_spec){.cn = "Root Two", .is_ca = 1,
                                     .not_before = NOW,
                                     .not_after = NOW + 99 * DAY, .key = k3});
    X509 *bundle[2] = {fx->ca, other};
    char p[1024], q[1024];
    int64_t id;

    write_cert(fx, "old-name.pem", a, 0);
    path_of(fx, p, sizeof(p), "roots.pem");
    tp_write_pem(p, bundle, 2, NULL, 0644);
    scan(fx, NOW);
    id = q_int(fx, "SELECT id FROM objects WHERE name = ?1", "r.example");

    path_of(fx, p, sizeof(p), "old-name.pem");
    path_of(fx, q, sizeof(q), "new-name.pem");
    assert_int_equal(rename(p, q), 0);
    path_of(fx, p, sizeof(p), "roots.pem");
    tp_write_pem(p, bundle, 1, NULL, 0644);
    {
        struct timespec ts[2] = {{NOW + 5, 0}, {NOW + 5, 0}};
        utimensat(AT_FDCWD, p, ts, 0);
    }
    scan(fx, NOW + 10);
    /* Same object, new path: its history follows it. */
    assert_int_equal(q_int(fx, "SELECT id FROM objects WHERE source LIKE "
                               "'%new-name.pem'",
                           NULL),
                     id);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE state = "
                               "'missing'",
                           NULL),
                     0);
    /* The root that left the bundle is recorded as removed. */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE source "
                               "LIKE '%roots.pem'",
                           NULL),
                     1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM events WHERE type = "
                               "'object.removed'",
                           NULL),
                     1);
    X509_free(a);
    X509_free(other);
    EVP_PKEY_free(k3);
}

/* Permission errors, as a user that lacks the permission: as root the
 * check runs in a child that has dropped to nobody. */
static void permission_denied(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "perm.example", 60, fx->k1, 80);
    char p[1024];
    pid_t pid;
    int status;

    path_of(fx, p, sizeof(p), "locked");
    tp_mkdirs(p);
    write_cert(fx, "locked/inside.pem", a, 0);
    write_cert(fx, "secret.pem", a, 0);
    write_cert(fx, "visible.pem", a, 0);
    path_of(fx, p, sizeof(p), "locked");
    chmod(p, 0);
    path_of(fx, p, sizeof(p), "secret.pem");
    chmod(p, 0);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char db[1024];
        ks_store *s;
        ks_scan_opts o;
        ks_scan_stats st;
        kw_diag d;
        const char *roots[] = {fx->tree};

        if (geteuid() == 0) {
            struct passwd *pw = getpwnam("nobody");
            if (pw == NULL || chmod(fx->dir, 0777) != 0 ||
                setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
                _exit(10);
        }
        path_join(db, sizeof(db), fx->dir, "nobody.db");
        if (ks_open(db, KS_OPEN_CREATE, &s, &d) != 0)
            _exit(11);
        memset(&o, 0, sizeof(o));
        o.now = NOW;
        o.note = on_note;
        o.note_ctx = fx;
        fx->notes_len = 0;
        if (ks_scan(s, roots, 1, &o, &st, &d) != 0) {
            fprintf(stderr, "scan: %s\n", d.msg);
            _exit(12);
        }
        if (strstr(fx->notes, "locked: cannot read directory: Permission "
                              "denied") == NULL)
            _exit(13);
        if (strstr(fx->notes, "secret.pem: cannot open: Permission "
                              "denied") == NULL)
            _exit(14);
        if (st.errors != 2 || st.certs != 1)
            _exit(15);
        ks_close(s);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    X509_free(a);
}

static void roots_that_are_files_or_missing(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "file-root.example", 60, fx->k1, 90);
    char p[1024], missing[1024];
    const char *roots[2];
    ks_scan_opts o;
    ks_scan_stats st;
    kw_diag d;

    write_cert(fx, "only.pem", a, 0);
    path_of(fx, p, sizeof(p), "only.pem");
    path_of(fx, missing, sizeof(missing), "does-not-exist");
    roots[0] = p;
    roots[1] = missing;
    memset(&o, 0, sizeof(o));
    o.now = NOW;
    o.note = on_note;
    o.note_ctx = fx;
    assert_int_equal(ks_scan(fx->s, roots, 2, &o, &st, &d), 0);
    assert_int_equal(st.certs, 1);
    assert_int_equal(st.errors, 1);
    assert_note(fx, "does-not-exist: cannot scan: No such file");
    /* When no root can be scanned at all, the scan fails. */
    assert_int_equal(ks_scan(fx->s, roots + 1, 1, &o, &st, &d), KW_ENOENT);
    X509_free(a);
}

/* Paths are bytes: a name that is not UTF-8 must not fail the scan, and
 * the events that name the path carry its bytes. */
static int find_source(void *ctx, const ks_object *o)
{
    char **src = ctx;

    if (o->name != NULL && strcmp(o->name, "odd.example") == 0)
        *src = strdup(o->source != NULL ? o->source : "");
    return 0;
}

/* How many events of a type name path, byte for byte, in their
 * detail's field (kw_json_path's form: a string, or base64 bytes). */
static int events_naming(fixture *fx, const char *type, const char *field,
                         const char *path)
{
    sqlite3_stmt *st = NULL;
    int n = 0;

    assert_int_equal(sqlite3_prepare_v2(ks_db(fx->s),
                                        "SELECT detail FROM events WHERE "
                                        "type = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *d = json_loads((const char *)sqlite3_column_text(st, 0), 0,
                               NULL);
        char *b = kw_json_path_bytes(json_object_get(d, field));

        n += b != NULL && strcmp(b, path) == 0;
        free(b);
        json_decref(d);
    }
    sqlite3_finalize(st);
    return n;
}

static void touch_at(const char *p, int64_t t)
{
    struct timespec ts[2] = {{t, 0}, {t, 0}};

    utimensat(AT_FDCWD, p, ts, 0);
}

static void non_utf8_names(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "odd.example", 60, fx->k1, 100);
    X509 *a2 = mk(fx, "odd.example", 90, fx->k1, 101);
    char p[1024], q[1024], *src = NULL;
    ks_filter f;
    kw_diag d;
    ks_scan_stats st;

    write_cert(fx, "odd\xff.pem", a, 0);
    path_of(fx, p, sizeof(p), "odd\xff.pem");
    path_of(fx, q, sizeof(q), "bad\xff\xfe.crt");
    tp_write_bytes(q, "not a certificate\n", 18, 0644);
    st = scan(fx, NOW);
    assert_int_equal(st.certs, 1);
    assert_int_equal(st.errors, 1);
    memset(&f, 0, sizeof(f));
    assert_int_equal(ks_inventory_each(fx->s, &f, find_source, &src, &d), 0);
    assert_non_null(src);
    assert_string_equal(src, p);
    free(src);
    /* The event carries the exact bytes, not an escaped spelling that a
     * file really named with a backslash would share. */
    assert_int_equal(events_naming(fx, "object.unreadable", "path", q), 1);

    /* Renewed in place, renamed, then gone: each writes an event that
     * names the path. */
    write_cert(fx, "odd\xff.pem", a2, 0);
    touch_at(p, NOW + 5);
    scan(fx, NOW + 10);
    path_of(fx, q, sizeof(q), "moved\xfe.pem");
    assert_int_equal(rename(p, q), 0);
    scan(fx, NOW + 20);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE source = "
                               "?1 AND state = 'ok'",
                           q),
                     1);
    unlink(q);
    st = scan(fx, NOW + 30);
    assert_int_equal(st.missing, 1);
    assert_int_equal(events_naming(fx, "object.changed", "path", p), 1);
    assert_int_equal(events_naming(fx, "file.renamed", "from", p), 1);
    assert_int_equal(events_naming(fx, "file.renamed", "to", q), 1);
    assert_int_equal(events_naming(fx, "object.missing", "path", q), 1);
    X509_free(a);
    X509_free(a2);
}

/* A certificate whose directory has keys, none of them its own, gets no
 * key state: nothing carries over from the certificate matched before. */
static void no_key_after_a_match(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "first.example", 60, fx->k1, 110);
    X509 *b = mk(fx, "second.example", 60, fx->k2, 111);
    char p[1024];

    path_of(fx, p, sizeof(p), "a");
    tp_mkdirs(p);
    path_of(fx, p, sizeof(p), "b");
    tp_mkdirs(p);
    write_cert(fx, "a/first.crt", a, 0);
    path_of(fx, p, sizeof(p), "a/first.key");
    tp_write_key(p, fx->k1, 0600);
    write_cert(fx, "b/second.crt", b, 0);
    path_of(fx, p, sizeof(p), "b/unrelated.key");
    tp_write_key(p, fx->k1, 0600); /* neither its name nor its key */

    scan(fx, NOW);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE name = ?1 "
                               "AND key_state = 'match'",
                           "first.example"),
                     1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE name = ?1 "
                               "AND key_state IS NULL AND key_path IS NULL "
                               "AND key_mode IS NULL AND key_pending = 0",
                           "second.example"),
                     1);
    X509_free(a);
    X509_free(b);
}

/* A known link that now dangles, or leads to a directory or a fifo, is
 * no longer a name of the file. */
static void links_that_stop_being_files(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "linked.example", 60, fx->k1, 120);
    char p[1024], l1[1024], l2[1024], l3[1024];

    path_of(fx, p, sizeof(p), "real/sub");
    tp_mkdirs(p);
    write_cert(fx, "real/a.pem", a, 0);
    path_of(fx, l1, sizeof(l1), "l1.pem");
    path_of(fx, l2, sizeof(l2), "l2.pem");
    path_of(fx, l3, sizeof(l3), "l3.pem");
    assert_int_equal(symlink("real/a.pem", l1), 0);
    assert_int_equal(symlink("real/a.pem", l2), 0);
    assert_int_equal(symlink("real/a.pem", l3), 0);
    scan(fx, NOW);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM file_links", NULL), 3);

    unlink(l1);
    assert_int_equal(symlink("real/nowhere.pem", l1), 0);
    unlink(l2);
    assert_int_equal(symlink("real/sub", l2), 0);
    unlink(l3);
    assert_int_equal(mkfifo(l3, 0644), 0);
    scan(fx, NOW + 10);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM file_links", NULL), 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE state = "
                               "'ok'",
                           NULL),
                     1);
    X509_free(a);
}

/* A directory that cannot be read leaves everything under it as it was,
 * its subdirectories too.  Run as nobody (root reads anything). */
static void unreadable_subtree_is_not_missing(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "deep.example", 60, fx->k1, 130);
    pid_t pid;
    int status;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char top[1024], p[1024], db[1024];
        ks_store *s;
        ks_scan_opts o;
        ks_scan_stats st;
        kw_diag d;
        const char *roots[1];

        if (geteuid() == 0) {
            struct passwd *pw = getpwnam("nobody");
            if (pw == NULL || chmod(fx->dir, 0777) != 0 ||
                setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
                _exit(10);
        }
        path_join(top, sizeof(top), fx->dir, "mine");
        path_join(p, sizeof(p), top, "locked/sub");
        tp_mkdirs(p);
        path_join(p, sizeof(p), top, "locked/sub/inner.pem");
        {
            X509 *v[1] = {a};
            if (tp_write_pem(p, v, 1, NULL, 0644) != 0)
                _exit(11);
        }
        path_join(p, sizeof(p), top, "locked/outer.pem");
        {
            X509 *v[1] = {a};
            if (tp_write_pem(p, v, 1, NULL, 0644) != 0)
                _exit(11);
        }
        path_join(db, sizeof(db), fx->dir, "nobody2.db");
        if (ks_open(db, KS_OPEN_CREATE, &s, &d) != 0)
            _exit(12);
        memset(&o, 0, sizeof(o));
        o.now = NOW;
        roots[0] = top;
        if (ks_scan(s, roots, 1, &o, &st, &d) != 0 || st.certs != 2)
            _exit(13);
        path_join(p, sizeof(p), top, "locked");
        if (chmod(p, 0) != 0)
            _exit(14);
        o.now = NOW + 10;
        if (ks_scan(s, roots, 1, &o, &st, &d) != 0)
            _exit(15);
        chmod(p, 0755);
        if (st.errors != 1 || st.missing != 0)
            _exit(16);
        ks_close(s);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    X509_free(a);
}

/* Nested directories, each with more files than a read-ahead window and
 * a subdirectory listed first: the walk holds several windows at once,
 * past the cap files are read inline, and every one is recorded. */
static void nested_read_ahead(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "nested.example", 60, fx->k1, 140);
    char dir[1024], p[1024], rel[64];
    ks_scan_stats st;
    int level, i;

    snprintf(dir, sizeof(dir), "%s", fx->tree);
    for (level = 0; level < 4; level++) {
        for (i = 0; i < 80; i++) {
            X509 *v[1] = {a};
            snprintf(rel, sizeof(rel), "f%03d.pem", i);
            path_join(p, sizeof(p), dir, rel);
            tp_write_pem(p, v, 1, NULL, 0644);
        }
        path_join(p, sizeof(p), dir, "0sub");
        tp_mkdirs(p);
        memcpy(dir, p, sizeof(dir));
    }
    st = scan(fx, NOW);
    assert_int_equal(st.files, 320);
    assert_int_equal(st.parsed, 320);
    assert_int_equal(st.certs, 320);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM objects WHERE state = "
                               "'ok'",
                           NULL),
                     320);
    st = scan(fx, NOW + 10);
    assert_int_equal(st.unchanged, 320);
    X509_free(a);
}

/* FIFOs, sockets and devices are never certificates, and reading one
 * could block: inside a tree each is skipped with its path and kind (a
 * -v line), and a root that is one is an error naming it; a scan of
 * nothing else fails.  A certificate file replaced by a FIFO is
 * missing. */
static void special_files(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "beside-a-fifo.example", 60, fx->k1, 91);
    char fifo[1024], sock[1024], swap[1024];
    const char *roots[2];
    struct sockaddr_un sa;
    ks_scan_opts o;
    ks_scan_stats st;
    kw_diag d;
    int fd;

    write_cert(fx, "real.pem", a, 0);
    write_cert(fx, "swapped.pem", a, 0);
    path_of(fx, fifo, sizeof(fifo), "pipe.pem");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    path_of(fx, sock, sizeof(sock), "sock");
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    assert_true(strlen(sock) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);

    st = scan(fx, NOW);
    assert_int_equal(st.files, 2);
    assert_int_equal(st.skipped, 2);
    assert_int_equal(st.errors, 0);
    assert_note(fx, "pipe.pem: a FIFO, not a regular file");
    assert_note(fx, "sock: a socket, not a regular file");

    /* A certificate file that became a FIFO is missing, not ignored. */
    path_of(fx, swap, sizeof(swap), "swapped.pem");
    assert_int_equal(unlink(swap), 0);
    assert_int_equal(mkfifo(swap, 0644), 0);
    st = scan(fx, NOW);
    assert_int_equal(st.missing, 1);
    assert_note(fx, "swapped.pem: a FIFO, not a regular file");

    /* Named as roots: errors, and alone they fail the scan. */
    memset(&o, 0, sizeof(o));
    o.now = NOW;
    o.note = on_note;
    o.note_ctx = fx;
    fx->notes_len = 0;
    roots[0] = fifo;
    roots[1] = "/dev/null";
    assert_int_equal(ks_scan(fx->s, roots, 2, &o, &st, &d), KW_ENOENT);
    assert_int_equal(st.errors, 2);
    assert_note(fx, "pipe.pem: cannot scan: a FIFO, not a certificate "
                    "file or directory");
    assert_note(fx, "/dev/null: cannot scan: a character device, not a "
                    "certificate file or directory");
    assert_non_null(strstr(d.msg, "none of the paths could be scanned"));
    roots[1] = fx->tree;
    fx->notes_len = 0;
    assert_int_equal(ks_scan(fx->s, roots, 2, &o, &st, &d), 0);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.skipped, 3);
    close(fd);
    X509_free(a);
}

/* ---- by_leaf: the listing's grouping against ks_inventory_same_leaf ------ */

typedef struct leaf_row {
    int64_t id;
    int other_files;
} leaf_row;

typedef struct leaf_rows {
    leaf_row v[64];
    size_t n;
} leaf_rows;

static int collect_row(void *ctx, const ks_object *o)
{
    leaf_rows *r = ctx;

    assert_true(r->n < 64);
    r->v[r->n].id = o->id;
    r->v[r->n].other_files = o->other_files;
    r->n++;
    return 0;
}

static int collect_group(void *ctx, const ks_object *o)
{
    leaf_rows *r = ctx;

    assert_true(r->n < 64);
    r->v[r->n++].id = o->id;
    return 0;
}

/* The rows a by_leaf listing of f must show, derived one row at a time
 * from the file-per-row listing and ks_inventory_same_leaf (a query of
 * its own, not the listing's window): a row shows when it is the lowest
 * id of its group among the rows the filter lets through, with
 * other_files when the group has more than itself. */
static void expect_by_leaf(fixture *fx, ks_filter f, leaf_rows *want)
{
    leaf_rows all = {0};
    size_t i, j;
    kw_diag d;

    f.by_leaf = 0;
    if (ks_inventory_each(fx->s, &f, collect_row, &all, &d) != 0)
        fail_msg("%s", d.msg);
    want->n = 0;
    for (i = 0; i < all.n; i++) {
        leaf_rows g = {0};
        size_t listed = 0;
        int lowest = 1;

        if (ks_inventory_same_leaf(fx->s, all.v[i].id, f.include_hidden,
                                   collect_group, &g, &d) != 0)
            fail_msg("%s", d.msg);
        for (j = 0; j < g.n; j++)
            if (g.v[j].id < all.v[i].id)
                lowest = 0;
        listed = g.n;
        if (!lowest)
            continue;
        want->v[want->n].id = all.v[i].id;
        want->v[want->n].other_files = listed > 1;
        want->n++;
    }
}

static void assert_by_leaf(fixture *fx, ks_filter f)
{
    leaf_rows want, got = {0};
    size_t i;
    kw_diag d;

    expect_by_leaf(fx, f, &want);
    f.by_leaf = 1;
    if (ks_inventory_each(fx->s, &f, collect_row, &got, &d) != 0)
        fail_msg("%s", d.msg);
    assert_int_equal(got.n, want.n);
    for (i = 0; i < got.n; i++) {
        assert_int_equal(got.v[i].id, want.v[i].id);
        assert_int_equal(got.v[i].other_files, want.v[i].other_files);
    }
}

/* Leaves held by several files (cert.pem and fullchain.pem, a copy),
 * leaves of one name and deadline that differ in their key (never one
 * row), all with one deadline, and Let's Encrypt's superseded version: the
 * by_leaf listing groups exactly the files ks_inventory_same_leaf names,
 * hidden or not, with any kind or deadline filter. */
static void by_leaf_groups_shared_leaves(void **state)
{
    fixture *fx = *state;
    X509 *a = mk(fx, "shared.example", 50, fx->k1, 60);
    X509 *b = mk(fx, "shared.example", 50, fx->k2, 61);
    X509 *c = mk(fx, "other.example", 50, fx->k1, 62);
    X509 *old = mk(fx, "le.example", 30, fx->k1, 63);
    X509 *cur = mk(fx, "le.example", 50, fx->k2, 64);
    ks_filter f;
    leaf_rows want;
    size_t i, merged = 0;
    char p[1024];

    path_of(fx, p, sizeof(p), "le/archive/le.example");
    tp_mkdirs(p);
    for (i = 0; i < 3; i++) {
        path_of(fx, p, sizeof(p), (const char *[]){"a", "b", "c"}[i]);
        tp_mkdirs(p);
    }
    write_cert(fx, "a/cert.pem", a, 0);
    write_cert(fx, "a/fullchain.pem", a, 1);
    write_cert(fx, "a/copy.pem", a, 1);
    write_cert(fx, "b/cert.pem", b, 0);
    write_cert(fx, "c/cert.pem", c, 0);
    write_cert(fx, "c/fullchain.pem", c, 1);
    write_cert(fx, "le/archive/le.example/cert1.pem", old, 0);
    write_cert(fx, "le/archive/le.example/fullchain1.pem", old, 1);
    write_cert(fx, "le/archive/le.example/cert2.pem", cur, 0);
    write_cert(fx, "le/archive/le.example/fullchain2.pem", cur, 1);
    (void)scan(fx, NOW);

    memset(&f, 0, sizeof(f));
    expect_by_leaf(fx, f, &want);
    /* a (3 files), c (2), le's current version (2) are one row each, b
     * its own: the test sees groups, not only single files. */
    for (i = 0; i < want.n; i++)
        merged += want.v[i].other_files;
    assert_int_equal(merged, 3);
    assert_by_leaf(fx, f);
    f.include_hidden = 1;
    expect_by_leaf(fx, f, &want);
    for (i = 0, merged = 0; i < want.n; i++)
        merged += want.v[i].other_files;
    assert_int_equal(merged, 4); /* and the superseded cert1/fullchain1 */
    assert_by_leaf(fx, f);
    f.kind = "tls";
    f.has_before = 1;
    f.before = NOW + 60 * DAY;
    assert_by_leaf(fx, f);
    f.brief = 1;
    assert_by_leaf(fx, f);
    f.before = NOW + 10 * DAY; /* nothing is due: an empty listing */
    assert_by_leaf(fx, f);
    X509_free(a);
    X509_free(b);
    X509_free(c);
    X509_free(old);
    X509_free(cur);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(layouts_and_rescan, setup, teardown),
        cmocka_unit_test_setup_teardown(changed_missing_restored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(symlink_loops_and_duplicates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(letsencrypt_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(key_matching, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_files, setup, teardown),
        cmocka_unit_test_setup_teardown(renames_and_bundle_changes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(permission_denied, setup, teardown),
        cmocka_unit_test_setup_teardown(roots_that_are_files_or_missing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(non_utf8_names, setup, teardown),
        cmocka_unit_test_setup_teardown(no_key_after_a_match, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(links_that_stop_being_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unreadable_subtree_is_not_missing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(nested_read_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(special_files, setup, teardown),
        cmocka_unit_test_setup_teardown(by_leaf_groups_shared_leaves, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
