/*
 * keywarden renew against a real ACME CA: Debian's Pebble 2.4 with
 * pebble-challtestsrv as its DNS (every name is 127.0.0.1), on free ports
 * on loopback, started per scenario group (pebble.h).  Each test runs the
 * real keywarden binary and checks what an operator would: the output,
 * the files under certs/, the database, and that a failure loses nothing.
 *
 *   issue_renew_force     Pebble's defaults (5 % badNonce, 50 % authz
 *                         reuse, -strict) without sleeps: issue, verify
 *                         the chain against Pebble's root, not due, --force
 *   webroot_nginx         http01 = webroot served by a real nginx
 *   invalid_challenge     the VA reaches nothing: connection problem,
 *                         failing, backing off, --force retries
 *   fake_ca_faults        a CA whose newOrder answers 500 HTML, malformed
 *                         JSON, 429 rateLimited; and a CA that is down
 *   heavy_nonce_rejection PEBBLE_WFE_NONCEREJECT=60
 *   validation_sleeps     Pebble's random validation sleeps on (<= 2 s)
 *   kill9_mid_order       kill -9 while the order is pending, then resume
 *                         the same order with the same key
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/kw_time.h"
#include "dane_bed.h"
#include "dane/dane_roll.h"
#include "keystore/ks_keygen.h"
#include "dns/dns_update.h"
#include "knot.h"
#include "kwrun.h"
#include "pebble.h"
#include "proc.h"
#include "servers.h"
#include "testpki.h"
#include "tmpdir.h"

static char g_dir[256];
static pb_pki g_pki;      /* Pebble's own HTTPS certificate */
static pb_dns g_dns;
static pebble g_peb;      /* defaults, no sleeps: shared by most tests */
static size_t g_mark;     /* children started by the group */

/* A test's own directory: g_dir/tag with state/ in it. */
typedef struct tdir {
    char dir[512], state[600], conf[600], db[700], certs[700];
} tdir;

static void tdir_make(tdir *t, const char *tag)
{
    snprintf(t->dir, sizeof(t->dir), "%s/%s", g_dir, tag);
    snprintf(t->state, sizeof(t->state), "%s/state", t->dir);
    snprintf(t->conf, sizeof(t->conf), "%s/keywarden.conf", t->dir);
    snprintf(t->db, sizeof(t->db), "%s/keywarden.db", t->state);
    snprintf(t->certs, sizeof(t->certs), "%s/certs", t->state);
    tp_mkdirs(t->state);
}

/* What live/NAME is: the link's target and the bytes of its four files. */
typedef struct snap {
    char target[PATH_MAX];
    char *files[4];
    size_t lens[4];
} snap;

static const char *const pem_files[4] = {"cert.pem", "chain.pem",
                                          "fullchain.pem", "privkey.pem"};

static void snap_take(const tdir *t, const char *name, snap *s)
{
    char link[900], p[1000];
    ssize_t n;
    int i;

    memset(s, 0, sizeof(*s));
    snprintf(link, sizeof(link), "%s/live/%s", t->certs, name);
    n = readlink(link, s->target, sizeof(s->target) - 1);
    if (n < 0)
        fail_msg("%s: not a symlink: %s", link, strerror(errno));
    s->target[n] = '\0';
    for (i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", link, pem_files[i]);
        s->files[i] = slurp(p, &s->lens[i]);
        if (s->files[i] == NULL)
            fail_msg("%s: cannot read", p);
    }
}

static void snap_free(snap *s)
{
    int i;

    for (i = 0; i < 4; i++)
        free(s->files[i]);
    memset(s, 0, sizeof(*s));
}

/* live/NAME is exactly as in s: same target, same bytes. */
static void snap_same(const tdir *t, const char *name, const snap *s)
{
    snap now;
    int i;

    snap_take(t, name, &now);
    if (strcmp(now.target, s->target) != 0)
        fail_msg("live/%s moved from %s to %s", name, s->target,
                 now.target);
    for (i = 0; i < 4; i++)
        if (now.lens[i] != s->lens[i] ||
            memcmp(now.files[i], s->files[i], s->lens[i]) != 0)
            fail_msg("live/%s/%s changed", name, pem_files[i]);
    snap_free(&now);
}

static void assert_live_version(const tdir *t, const char *name, int v)
{
    char link[900], target[PATH_MAX], want[300];
    ssize_t n;

    snprintf(link, sizeof(link), "%s/live/%s", t->certs, name);
    n = readlink(link, target, sizeof(target) - 1);
    if (n < 0)
        fail_msg("%s: not a symlink: %s", link, strerror(errno));
    target[n] = '\0';
    snprintf(want, sizeof(want), "../archive/%s/%d", name, v);
    if (strcmp(target, want) != 0)
        fail_msg("%s -> %s, expected %s", link, target, want);
}

static int exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* Regular files in dir (0 when it does not exist). */
static int count_files(const char *dir, char *names, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t pos = 0;
    int n = 0;

    if (names != NULL && cap > 0)
        names[0] = '\0';
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        if (names != NULL && pos < cap)
            pos += (size_t)snprintf(names + pos, cap - pos, "%s ",
                                    e->d_name);
    }
    closedir(d);
    return n;
}

/* Lines of path containing needle. */
static int count_in_file(const char *path, const char *needle)
{
    char *text = slurp(path, NULL), *p;
    int n = 0;

    if (text == NULL)
        return 0;
    for (p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

/* ----- checks on what was issued ----------------------------------------- */

static X509 *read_x509(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x;

    if (f == NULL)
        fail_msg("%s: %s", path, strerror(errno));
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL)
        fail_msg("%s: no certificate", path);
    return x;
}

/* live/NAME (or archive/NAME/N when dir says so) chains to root, covers
 * names, and its private key is 0600 and matches. */
static void verify_version(const char *vdir, const char *root_pem,
                           const char *const *names)
{
    char p[1000];
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509 *root = read_x509(root_pem), *leaf, *x;
    EVP_PKEY *key;
    struct stat st;
    FILE *f;
    char *cert, *chain, *full;
    size_t lc, lch, lf;

    snprintf(p, sizeof(p), "%s/cert.pem", vdir);
    leaf = read_x509(p);
    snprintf(p, sizeof(p), "%s/chain.pem", vdir);
    f = fopen(p, "r");
    assert_non_null(f);
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
        sk_X509_push(untrusted, x);
    fclose(f);
    ERR_clear_error();
    assert_true(sk_X509_num(untrusted) >= 1);
    X509_STORE_add_cert(store, root);
    X509_STORE_CTX_init(ctx, store, leaf, untrusted);
    if (X509_verify_cert(ctx) != 1)
        fail_msg("%s/cert.pem does not verify against %s: %s", vdir,
                 root_pem,
                 X509_verify_cert_error_string(
                     X509_STORE_CTX_get_error(ctx)));
    for (; *names != NULL; names++)
        if (X509_check_host(leaf, *names, 0, 0, NULL) != 1)
            fail_msg("%s/cert.pem does not cover %s", vdir, *names);

    /* fullchain.pem = cert.pem + chain.pem */
    snprintf(p, sizeof(p), "%s/cert.pem", vdir);
    cert = slurp(p, &lc);
    snprintf(p, sizeof(p), "%s/chain.pem", vdir);
    chain = slurp(p, &lch);
    snprintf(p, sizeof(p), "%s/fullchain.pem", vdir);
    full = slurp(p, &lf);
    assert_non_null(cert);
    assert_non_null(chain);
    assert_non_null(full);
    assert_int_equal(lf, lc + lch);
    assert_memory_equal(full, cert, lc);
    assert_memory_equal(full + lc, chain, lch);
    free(cert);
    free(chain);
    free(full);

    snprintf(p, sizeof(p), "%s/privkey.pem", vdir);
    assert_int_equal(stat(p, &st), 0);
    if ((st.st_mode & 07777) != 0600)
        fail_msg("%s: mode %04o, expected 0600", p,
                 (unsigned)(st.st_mode & 07777));
    f = fopen(p, "r");
    assert_non_null(f);
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(key);
    if (X509_check_private_key(leaf, key) != 1)
        fail_msg("%s does not match %s/cert.pem", p, vdir);
    EVP_PKEY_free(key);
    X509_free(leaf);
    X509_free(root);
    sk_X509_pop_free(untrusted, X509_free);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
}

static void verify_live(const tdir *t, const char *name, const char *root,
                        const char *const *names)
{
    char vdir[900];

    snprintf(vdir, sizeof(vdir), "%s/live/%s", t->certs, name);
    verify_version(vdir, root, names);
}

/* "NAME: issued: ...; R requests, B badNonce retried; ..." */
static void issued_counts(const char *out, const char *name, int *requests,
                          int *bad)
{
    char head[300];
    const char *line, *p;

    snprintf(head, sizeof(head), "%s: issued: ", name);
    line = strstr(out, head);
    if (line == NULL)
        fail_msg("no \"%s\" line in:\n%s", head, out);
    for (p = line; *p != '\0' && *p != '\n'; p++)
        if (sscanf(p, "; %d requests, %d badNonce retried", requests,
                   bad) == 2)
            return;
    fail_msg("no request counts in: %s", line);
}

/* The object for name in `certificate list --json`. */
static json_t *cert_json(const tdir *t, const char *name)
{
    kwres r = kw(t->state, t->conf, "certificate", "list", "--json");
    json_error_t err;
    json_t *arr = json_loads(r.out, 0, &err), *o, *found = NULL;
    size_t i;

    if (!json_is_array(arr))
        fail_msg("certificate list --json: not a JSON array (%s):\n%s\n%s",
                 err.text, r.out, r.err);
    json_array_foreach(arr, i, o)
    {
        const char *n = json_string_value(json_object_get(o, "name"));

        if (n != NULL && strcmp(n, name) == 0)
            found = json_incref(o);
    }
    json_decref(arr);
    if (found == NULL)
        fail_msg("certificate list --json has no %s:\n%s", name, r.out);
    kwres_free(&r);
    return found;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s != NULL ? s : "(null)";
}

static int64_t db_q(const tdir *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int64_t db_q(const tdir *t, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return db_int(t->db, sql);
}

/* [daemon] and [acme] for directory, with the given extra text after.
 * The HTTP-01 pre-check (on by default) sees what Pebble's validator
 * sees: the same DNS (challtestsrv), its http port, loopback allowed. */
static void conf_write_v(const tdir *t, const char *directory,
                         const char *ca_file, int http_port,
                         int validation_port, const char *certs)
{
    write_text(t->conf,
               "[daemon]\nmetrics_listen = off\n"
               "[acme]\ndirectory = %s\nca_file = %s\n"
               "http01_listen = 127.0.0.1:%d\n"
               "contact = mailto:ops@example.com\n"
               "resolver = 127.0.0.1:%d\nvalidation_http_port = %d\n"
               "validation_allow_private = yes\n%s",
               directory, ca_file, http_port, g_dns.dns_port,
               validation_port, certs);
}

/* The responder where the CA's validator knocks. */
static void conf_write(const tdir *t, const char *directory,
                       const char *ca_file, int http_port,
                       const char *certs)
{
    conf_write_v(t, directory, ca_file, http_port, http_port, certs);
}

/* ----- setup -------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    unsetenv("KEYWARDEN_NOW");
    if (access("/usr/bin/pebble", X_OK) != 0 ||
        access("/usr/bin/pebble-challtestsrv", X_OK) != 0) {
        print_error("pebble and pebble-challtestsrv are needed "
                    "(Debian package pebble)\n");
        return -1;
    }
    tmpdir_make(g_dir, sizeof(g_dir), "acme");
    pb_pki_make(g_dir, "pebble-tls", "Pebble TLS Test CA", &g_pki);
    if (pb_dns_start(g_dir, &g_dns) != 0)
        return -1;
    {
        pb_opts o = PB_OPTS_DEFAULT(g_dns.dns_port);

        o.nosleep = 1;
        if (pb_start(g_dir, "pebble-defaults", &g_pki, &o, &g_peb) != 0)
            return -1;
    }
    g_mark = pb_mark();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pb_stop_to(0);
    if (g_dir[0] != '\0' && getenv("KW_KEEP_TMP") == NULL)
        tmpdir_remove(g_dir);
    return 0;
}

/* cmocka skips the group teardown when setup fails: stop what started. */
static int group_setup_or_clean(void **state)
{
    if (group_setup(state) != 0) {
        group_teardown(state);
        return -1;
    }
    return 0;
}

/* Whatever a test started (nginx, another Pebble, a keywarden), also when
 * it failed half-way. */
static int stop_extras(void **state)
{
    (void)state;
    pb_stop_to(g_mark);
    return 0;
}

/* ----- 1. issue, not due, --force ----------------------------------------- */

static void issue_renew_force(void **state)
{
    static const char *const names[] = {"a.example.com", "b.example.com",
                                        NULL};
    char p[1000], names_buf[256];
    tdir t;
    kwres r;
    json_t *o;
    int req = 0, bad = 0;
    snap v1;

    (void)state;
    tdir_make(&t, "issue");
    conf_write(&t, g_peb.directory, g_pki.ca_pem, g_peb.http_port,
               "[certificate \"www\"]\nnames = a.example.com, "
               "b.example.com\n");

    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "www: issued: version 1 is live");
    issued_counts(r.out, "www", &req, &bad);
    print_message("issue: %.2f s, %d requests, %d badNonce retried\n",
                  r.secs, req, bad);
    assert_true(req >= 8);
    kwres_free(&r);
    assert_live_version(&t, "www", 1);
    verify_live(&t, "www", g_peb.root_pem, names);
    snprintf(p, sizeof(p), "%s/pending", t.certs);
    if (count_files(p, names_buf, sizeof(names_buf)) != 0)
        fail_msg("pending/ still holds %s after the issuance", names_buf);

    o = cert_json(&t, "www");
    assert_string_equal(jstr(o, "state"), "ok");
    assert_int_equal(json_integer_value(json_object_get(o, "live_version")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(o, "failures")), 0);
    assert_true(json_is_null(json_object_get(o, "order_url")));
    assert_true(json_is_string(json_object_get(o, "not_after")));
    assert_true(json_is_string(json_object_get(o, "renew_at")));
    json_decref(o);

    /* A second run finds nothing due and changes nothing. */
    snap_take(&t, "www", &v1);
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "www: not due: version 1 is live");
    kwres_free(&r);
    snap_same(&t, "www", &v1);

    /* --force: version 2, live switched, version 1 kept. */
    r = kw_ok(t.state, t.conf, "renew", "--force");
    assert_contains(r.out, "www: issued: version 2 is live");
    print_message("renew --force: %.2f s\n", r.secs);
    kwres_free(&r);
    assert_live_version(&t, "www", 2);
    verify_live(&t, "www", g_peb.root_pem, names);
    snprintf(p, sizeof(p), "%s/archive/www/1", t.certs);
    verify_version(p, g_peb.root_pem, names);
    {
        snap v2;

        snap_take(&t, "www", &v2);
        /* a new certificate and, without reuse_key, a new key */
        assert_true(v2.lens[0] != v1.lens[0] ||
                    memcmp(v2.files[0], v1.files[0], v1.lens[0]) != 0);
        assert_true(v2.lens[3] != v1.lens[3] ||
                    memcmp(v2.files[3], v1.files[3], v1.lens[3]) != 0);
        snap_free(&v2);
    }
    snap_free(&v1);
    assert_int_equal(
        db_q(&t, "SELECT count(*) FROM events WHERE type = 'cert.renewed'"),
        2);
    assert_int_equal(db_q(&t, "SELECT count(*) FROM events WHERE type = "
                              "'cert.renewal_failed'"),
                     0);
    assert_int_equal(
        db_q(&t, "SELECT live_version FROM certificates WHERE name = 'www'"),
        2);

    /* A crash between the switch of live/ and the commit of its record
     * (simulated: the record set back): the next run records version 2
     * with its cert.renewed event, so a reload hook cannot miss it. */
    {
        sqlite3 *h = NULL;

        assert_int_equal(sqlite3_open(t.db, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h,
                                      "UPDATE certificates SET "
                                      "live_version = 1",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(h);
    }
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.err, "version 2 is live but was not recorded");
    assert_contains(r.out, "www: not due");
    kwres_free(&r);
    assert_int_equal(
        db_q(&t, "SELECT live_version FROM certificates WHERE name = 'www'"),
        2);
    assert_int_equal(
        db_q(&t, "SELECT count(*) FROM events WHERE type = 'cert.renewed'"),
        3);
}

/* ----- 4. webroot with nginx ---------------------------------------------- */

static void webroot_nginx(void **state)
{
    static const char *const names[] = {"w1.example.com", "w2.example.com",
                                        NULL};
    char webroot[700], chal[800], certs[1600], p[900], left[512];
    tdir t;
    kwres r;
    pid_t ng;

    (void)state;
    tdir_make(&t, "webroot");
    snprintf(webroot, sizeof(webroot), "%s/www", t.dir);
    tp_mkdirs(webroot);
    /* Pebble's VA fetches http-01 on its httpPort: nginx takes it (the
     * built-in responder is not started for a webroot certificate). */
    ng = pb_nginx_webroot(t.dir, "nginx", g_peb.http_port, webroot);
    assert_true(ng > 0);
    snprintf(certs, sizeof(certs),
             "[certificate \"site\"]\nnames = w1.example.com, "
             "w2.example.com\nhttp01 = webroot\nwebroot = %s\n",
             webroot);
    /* http01_listen points at a port nobody listens on: proof that the
     * responder plays no part. */
    /* The responder elsewhere; the validator (and the pre-check) knock
     * on nginx. */
    conf_write_v(&t, g_peb.directory, g_pki.ca_pem, free_port(),
                 g_peb.http_port, certs);
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "site: issued: version 1 is live");
    assert_not_contains(r.err, "http-01 responder listening");
    print_message("webroot issue: %.2f s\n", r.secs);
    kwres_free(&r);
    verify_live(&t, "site", g_peb.root_pem, names);

    /* nginx served the tokens to the VA ... */
    snprintf(p, sizeof(p), "%s/nginx/access.log", t.dir);
    assert_true(file_contains(p, "GET /.well-known/acme-challenge/"));
    assert_true(file_contains(p, "\" 200 "));
    /* ... and they are gone (nor any temp file of them). */
    snprintf(chal, sizeof(chal), "%s/.well-known/acme-challenge", webroot);
    if (count_files(chal, left, sizeof(left)) != 0)
        fail_msg("%s still holds: %s", chal, left);
    pb_stop(ng);
}

/* ----- 5. a challenge the VA cannot reach --------------------------------- */

static void invalid_challenge(void **state)
{
    pebble dead;
    pb_opts o = PB_OPTS_DEFAULT(g_dns.dns_port);
    char certs[1200];
    tdir t;
    kwres r;
    json_t *j;
    snap v1;
    int64_t failed_events;

    (void)state;
    tdir_make(&t, "invalid");
    /* A second Pebble whose VA fetches http-01 from a port where nothing
     * listens. */
    o.nosleep = 1;
    o.http_port = free_port();
    assert_int_equal(pb_start(t.dir, "pebble-deadport", &g_pki, &o, &dead),
                     0);

    /* "old" first gets a version from the working Pebble. */
    snprintf(certs, sizeof(certs),
             "[certificate \"old\"]\nnames = old.example.com\n"
             "directory = %s\n",
             g_peb.directory);
    conf_write(&t, dead.directory, g_pki.ca_pem, g_peb.http_port, certs);
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "old: issued: version 1 is live");
    kwres_free(&r);
    snap_take(&t, "old", &v1);

    /* Now both go to the Pebble whose challenges cannot succeed. */
    conf_write(&t, dead.directory, g_pki.ca_pem, g_peb.http_port,
               "[certificate \"old\"]\nnames = old.example.com\n"
               "[certificate \"fresh\"]\nnames = fresh.example.com\n");

    /* A forced renewal of a live certificate fails and keeps it live. */
    r = kw_fail(t.state, t.conf, "renew", "--force", "old");
    assert_contains(r.out, "old: FAILED: ");
    assert_contains(r.out, "old.example.com");
    assert_contains(r.out, "urn:ietf:params:acme:error:connection");
    print_message("invalid challenge: %.2f s: %s", r.secs, r.out);
    kwres_free(&r);
    snap_same(&t, "old", &v1);
    {
        char p[900];

        snprintf(p, sizeof(p), "%s/archive/old/2", t.certs);
        assert_false(exists(p));
    }
    j = cert_json(&t, "old");
    assert_string_equal(jstr(j, "state"), "failing");
    assert_string_equal(jstr(j, "problem"),
                        "urn:ietf:params:acme:error:connection");
    assert_int_equal(json_integer_value(json_object_get(j, "live_version")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(j, "failures")), 1);
    json_decref(j);

    /* A certificate never issued: failing, with the CA's problem. */
    r = kw_fail(t.state, t.conf, "renew", "fresh");
    assert_contains(r.out, "fresh: FAILED: ");
    assert_contains(r.out, "fresh.example.com");
    assert_contains(r.out, "connection");
    kwres_free(&r);
    {
        char p[900];

        snprintf(p, sizeof(p), "%s/live/fresh", t.certs);
        assert_false(exists(p));
    }
    j = cert_json(&t, "fresh");
    assert_string_equal(jstr(j, "state"), "failing");
    assert_string_equal(jstr(j, "problem"),
                        "urn:ietf:params:acme:error:connection");
    assert_int_equal(json_integer_value(json_object_get(j, "failures")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "live_version")),
                     0);
    assert_true(strstr(jstr(j, "last_error"), "connection") != NULL);
    json_decref(j);
    assert_true(db_q(&t, "SELECT retry_at FROM certificates WHERE name = "
                         "'fresh'") > (int64_t)time(NULL));
    failed_events = db_q(&t, "SELECT count(*) FROM events WHERE type = "
                             "'cert.renewal_failed'");
    assert_int_equal(failed_events, 2);

    /* Without --force: backing off, no request to the CA. */
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "fresh: not due: backing off");
    assert_contains(r.out, "old: not due: version 1 is live");
    kwres_free(&r);
    assert_int_equal(db_q(&t, "SELECT count(*) FROM events WHERE type = "
                              "'cert.renewal_failed'"),
                     failed_events);

    /* --force tries again (and fails again, counted). */
    r = kw_fail(t.state, t.conf, "renew", "--force", "fresh");
    assert_contains(r.out, "fresh: FAILED: ");
    assert_contains(r.out, "connection");
    kwres_free(&r);
    assert_int_equal(
        db_q(&t, "SELECT failures FROM certificates WHERE name = 'fresh'"),
        2);
    assert_int_equal(db_q(&t, "SELECT count(*) FROM events WHERE type = "
                              "'cert.renewal_failed'"),
                     failed_events + 1);

    /* The HTTP-01 pre-check, told the validator's real port (where
     * nothing listens): no order is placed, and the reason is the
     * pre-check's verdict with its fix. */
    {

        int64_t orders_before = count_in_file(dead.log, "POST /order-plz");

        write_text(t.conf,
                   "[daemon]\nmetrics_listen = off\n"
                   "[acme]\ndirectory = %s\nca_file = %s\n"
                   "http01_listen = 127.0.0.1:%d\n"
                   "resolver = 127.0.0.1:%d\nvalidation_http_port = %d\n"
                   "validation_allow_private = yes\n"
                   "[certificate \"fresh\"]\nnames = fresh.example.com\n",
                   dead.directory, g_pki.ca_pem, g_peb.http_port,
                   g_dns.dns_port, dead.http_port);
        r = kw_fail(t.state, t.conf, "renew", "--force", "fresh");
        assert_contains(r.out, "no order placed: the HTTP-01 pre-check");
        assert_contains(r.out, "CONNECT_REFUSED");
        kwres_free(&r);
        assert_int_equal(count_in_file(dead.log, "POST /order-plz"),
                         orders_before);
        j = cert_json(&t, "fresh");
        assert_string_equal(jstr(j, "problem"), "keywarden:precheck");
        json_decref(j);
        /* ... and a monitoring system hears of it. */
        r = kw_expect(2, t.state, t.conf, (const char *[]){"check", NULL});
        assert_contains(r.out, "KEYWARDEN CRITICAL");
        assert_contains(r.out, "certificate fresh");
        assert_contains(r.out, "no order placed");
        kwres_free(&r);
        /* precheck = warn: said, and ordered all the same (the CA then
         * fails it). */
        write_text(t.conf,
                   "[daemon]\nmetrics_listen = off\n"
                   "[acme]\ndirectory = %s\nca_file = %s\n"
                   "http01_listen = 127.0.0.1:%d\n"
                   "resolver = 127.0.0.1:%d\nvalidation_http_port = %d\n"
                   "validation_allow_private = yes\n"
                   "[certificate \"fresh\"]\nnames = fresh.example.com\n"
                   "precheck = warn\n",
                   dead.directory, g_pki.ca_pem, g_peb.http_port,
                   g_dns.dns_port, dead.http_port);
        r = kw_fail(t.state, t.conf, "renew", "--force", "fresh");
        assert_contains(r.err, "ordering anyway (precheck = warn)");
        assert_contains(r.out, "urn:ietf:params:acme:error:connection");
        kwres_free(&r);
        assert_true(count_in_file(dead.log, "POST /order-plz") >
                    orders_before);
    }
    snap_same(&t, "old", &v1);
    snap_free(&v1);
    pb_stop(dead.pid);
}

/* ----- 6. faults from a fake CA ------------------------------------------- */

/* One failure a fake CA causes: renew --force against directory fails,
 * saying every needle (and one of any_of, when set), and leaves the live
 * version as it was; then after, when set, checks what else it left. */
typedef struct {
    const char *tag;
    const char *what;
    const char *directory;
    const char *needles[3];
    const char *any_of[2];
    void (*after)(const tdir *t);
} ca_fault;

static void ca_fault_run(const tdir *t, const char *bundle,
                         const ca_fault *c, const snap *v1)
{
    kwres r;
    size_t i;

    conf_write(t, c->directory, bundle, g_peb.http_port,
               "[certificate \"www\"]\nnames = f.example.com\n");
    r = kw_fail(t->state, t->conf, "renew", "--force");
    print_message("(%s) %s: %s", c->tag, c->what, r.out);
    assert_contains(r.out, "www: FAILED: ");
    for (i = 0; i < 3 && c->needles[i] != NULL; i++)
        assert_contains(r.out, c->needles[i]);
    if (c->any_of[0] != NULL && strstr(r.out, c->any_of[0]) == NULL &&
        strstr(r.out, c->any_of[1]) == NULL)
        fail_msg("(%s) neither \"%s\" nor \"%s\" in:\n%s", c->tag,
                 c->any_of[0], c->any_of[1], r.out);
    kwres_free(&r);
    snap_same(t, "www", v1);
    if (c->after != NULL)
        c->after(t);
}

/* A 429 with Retry-After: 3600 sets the retry an hour out and shows the
 * CA's problem, with version 1 still live. */
static void rate_limited_backs_off(const tdir *t)
{
    int64_t retry = db_q(t, "SELECT retry_at FROM certificates WHERE "
                            "name = 'www'");
    int64_t now = (int64_t)time(NULL);
    json_t *j;

    if (retry < now + 3000 || retry > now + 3700)
        fail_msg("retry_at is %lld, now %lld: expected about an hour "
                 "later (Retry-After: 3600)",
                 (long long)retry, (long long)now);
    j = cert_json(t, "www");
    assert_string_equal(jstr(j, "state"), "failing");
    assert_string_equal(jstr(j, "problem"),
                        "urn:ietf:params:acme:error:rateLimited");
    assert_int_equal(json_integer_value(json_object_get(j, "live_version")),
                     1);
    json_decref(j);
}

static void fake_ca_faults(void **state)
{
    static const char *const which[] = {"a", "b", "c"};
    pb_pki fake;
    char bundle[700], html[700], p[900], dirurl[3][200], locs[2048];
    char *ca1, *ca2;
    int port = free_port(), dead_port = free_port(), i;
    tdir t;
    kwres r;
    snap v1;
    pid_t ng;

    (void)state;
    tdir_make(&t, "fakeca");
    pb_pki_make(t.dir, "fake", "Fake CA Test Root", &fake);
    /* ca_file trusts both: the directory on nginx, the rest on Pebble. */
    snprintf(bundle, sizeof(bundle), "%s/bundle.pem", t.dir);
    ca1 = slurp(g_pki.ca_pem, NULL);
    ca2 = slurp(fake.ca_pem, NULL);
    assert_non_null(ca1);
    assert_non_null(ca2);
    write_text(bundle, "%s%s", ca1, ca2);
    free(ca1);
    free(ca2);

    snprintf(locs, sizeof(locs),
             "  location = /a/new-order { default_type text/html;\n"
             "    return 500 '<html><body><h1>500 Internal Server "
             "Error</h1></body></html>'; }\n"
             "  location = /b/new-order { default_type application/json;\n"
             "    return 201 '{not json'; }\n"
             "  location = /c/new-order {\n"
             "    default_type application/problem+json;\n"
             "    add_header Retry-After 3600 always;\n"
             "    return 429 '{\"type\":\"urn:ietf:params:acme:error:"
             "rateLimited\",\"detail\":\"too many certificates\"}'; }\n");
    ng = pb_nginx_tls(t.dir, "nginx", port, fake.cert_pem, fake.key_pem,
                      locs);
    assert_true(ng > 0);
    snprintf(html, sizeof(html), "%s/nginx/html", t.dir);
    for (i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", html, which[i]);
        tp_mkdirs(p);
        snprintf(p, sizeof(p), "%s/%s/dir.json", html, which[i]);
        write_text(p,
                   "{\"newNonce\":\"%s\",\"newAccount\":\"%s\","
                   "\"newOrder\":\"https://127.0.0.1:%d/%s/new-order\"}\n",
                   g_peb.new_nonce, g_peb.new_account, port, which[i]);
        snprintf(dirurl[i], sizeof(dirurl[i]),
                 "https://127.0.0.1:%d/%s/dir.json", port, which[i]);
    }
    /* nginx serves them with the bundle as trust, as keywarden will see
     * them. */
    assert_int_equal(pb_http_get(dirurl[0], bundle, NULL, NULL), 200);

    /* A live version first, from the real Pebble. */
    conf_write(&t, g_peb.directory, bundle, g_peb.http_port,
               "[certificate \"www\"]\nnames = f.example.com\n");
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "www: issued: version 1 is live");
    kwres_free(&r);
    snap_take(&t, "www", &v1);

    {
        char a_url[200], b_url[200];
        const ca_fault faults[] = {
            {"a", "500 with an HTML body", dirurl[0], {"500", a_url, NULL},
             {NULL, NULL}, NULL},
            {"b", "201, application/json, \"{not json\"", dirurl[1],
             {"malformed JSON", b_url, NULL}, {NULL, NULL}, NULL},
            {"c", "429 rateLimited with Retry-After: 3600", dirurl[2],
             {"rateLimited", "too many certificates", NULL}, {NULL, NULL},
             rate_limited_backs_off},
            {"d", "the CA is down", p, {p, NULL, NULL},
             {"Connection refused", "Couldn't connect"}, NULL},
        };
        size_t k;

        snprintf(a_url, sizeof(a_url), "https://127.0.0.1:%d/a/new-order",
                 port);
        snprintf(b_url, sizeof(b_url), "https://127.0.0.1:%d/b/new-order",
                 port);
        snprintf(p, sizeof(p), "https://127.0.0.1:%d/dir", dead_port);
        for (k = 0; k < sizeof(faults) / sizeof(faults[0]); k++)
            ca_fault_run(&t, bundle, &faults[k], &v1);
    }
    snap_free(&v1);

    /* Nothing was ever deployed by the failures. */
    snprintf(p, sizeof(p), "%s/archive/www/2", t.certs);
    assert_false(exists(p));
    assert_int_equal(
        db_q(&t, "SELECT count(*) FROM events WHERE type = 'cert.renewed'"),
        1);
    assert_int_equal(db_q(&t, "SELECT count(*) FROM events WHERE type = "
                              "'cert.renewal_failed'"),
                     4);
    pb_stop(ng);
}

/* ----- 3. heavy nonce rejection ------------------------------------------- */

static void heavy_nonce_rejection(void **state)
{
    static const char *const names[] = {"n1.example.com", "n2.example.com",
                                        NULL};
    pebble peb;
    pb_opts o = PB_OPTS_DEFAULT(g_dns.dns_port);
    tdir t;
    kwres r;
    int req = 0, bad = 0;

    (void)state;
    tdir_make(&t, "nonce");
    o.nosleep = 1;
    o.nonce_reject = 60;
    assert_int_equal(pb_start(t.dir, "pebble-nonce60", &g_pki, &o, &peb), 0);
    conf_write(&t, peb.directory, g_pki.ca_pem, peb.http_port,
               "[certificate \"www\"]\nnames = n1.example.com, "
               "n2.example.com\n");
    /* keywarden retries one request up to 10 times in a row: at 60 %
     * rejection, 11 rejections in a row (0.6^11, about 0.4 % of the
     * signed requests) lose the attempt, so this can fail now and then
     * (measured on the same setup: 1 failed renewal in 150). */
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "www: issued: version 1 is live");
    issued_counts(r.out, "www", &req, &bad);
    print_message("60%% badNonce: %.2f s, %d requests, %d badNonce "
                  "retried\n",
                  r.secs, req, bad);
    assert_true(bad > 0);
    kwres_free(&r);
    verify_live(&t, "www", peb.root_pem, names);
    pb_stop(peb.pid);
}

/* ----- ARI: the CA's renewal window (RFC 9773) --------------------------- */

/* The ARI identifier, computed here with OpenSSL's own API, independent of
 * acme_ari_cert_id: base64url(AKI keyid) "." base64url(serial octets). */
static void b64url(const unsigned char *in, size_t n, char *out, size_t cap)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i, o = 0;
    unsigned v;

    for (i = 0; i + 2 < n && o + 4 < cap; i += 3) {
        v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = al[v >> 18 & 63];
        out[o++] = al[v >> 12 & 63];
        out[o++] = al[v >> 6 & 63];
        out[o++] = al[v & 63];
    }
    if (n - i == 1 && o + 2 < cap) {
        v = (unsigned)in[i] << 16;
        out[o++] = al[v >> 18 & 63];
        out[o++] = al[v >> 12 & 63];
    } else if (n - i == 2 && o + 3 < cap) {
        v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = al[v >> 18 & 63];
        out[o++] = al[v >> 12 & 63];
        out[o++] = al[v >> 6 & 63];
    }
    out[o] = '\0';
}

static void ari_id_of(const char *pem_path, char *out, size_t cap)
{
    FILE *f = fopen(pem_path, "r");
    X509 *x;
    const ASN1_OCTET_STRING *kid;
    BIGNUM *bn;
    unsigned char ser[64];
    char a[128], b[128];
    int n;

    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    kid = X509_get0_authority_key_id(x);
    assert_non_null(kid);
    b64url(ASN1_STRING_get0_data(kid), (size_t)ASN1_STRING_length(kid), a,
           sizeof(a));
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    n = BN_bn2bin(bn, ser + 1);
    ser[0] = 0;
    /* DER content octets: a leading zero when the high bit is set. */
    if (ser[1] & 0x80)
        b64url(ser, (size_t)n + 1, b, sizeof(b));
    else
        b64url(ser + 1, (size_t)n, b, sizeof(b));
    BN_free(bn);
    X509_free(x);
    snprintf(out, cap, "%s.%s", a, b);
}

static void ari_window(void **state)
{
    pb_pki fake;
    char bundle[700], html[700], p[1200], locs[2048], id[300], ts[4][32];
    char dir_future[200], dir_past[200], access[800];
    char *ca1, *ca2, *log;
    int port = free_port();
    int64_t now = (int64_t)time(NULL);
    tdir t;
    kwres r;
    pid_t ng;

    (void)state;
    tdir_make(&t, "ari");
    pb_pki_make(t.dir, "fake", "Fake ARI CA Root", &fake);
    snprintf(bundle, sizeof(bundle), "%s/bundle.pem", t.dir);
    ca1 = slurp(g_pki.ca_pem, NULL);
    ca2 = slurp(fake.ca_pem, NULL);
    write_text(bundle, "%s%s", ca1, ca2);
    free(ca1);
    free(ca2);
    kw_time_rfc3339(now + 30 * 86400, ts[0], sizeof(ts[0]));
    kw_time_rfc3339(now + 31 * 86400, ts[1], sizeof(ts[1]));
    kw_time_rfc3339(now - 2 * 86400, ts[2], sizeof(ts[2]));
    kw_time_rfc3339(now - 1 * 86400, ts[3], sizeof(ts[3]));
    /* Any certificate id gets the same window; the access log shows
     * which id keywarden asked for. */
    snprintf(locs, sizeof(locs),
             "  location /ari-future/ { default_type application/json;\n"
             "    add_header Retry-After 21600 always;\n"
             "    return 200 '{\"suggestedWindow\":{\"start\":\"%s\","
             "\"end\":\"%s\"}}'; }\n"
             "  location /ari-past/ { default_type application/json;\n"
             "    return 200 '{\"suggestedWindow\":{\"start\":\"%s\","
             "\"end\":\"%s\"},\"explanationURL\":"
             "\"https://ca.example/incident\"}'; }\n",
             ts[0], ts[1], ts[2], ts[3]);
    ng = pb_nginx_tls(t.dir, "nginx", port, fake.cert_pem, fake.key_pem,
                      locs);
    assert_true(ng > 0);
    snprintf(html, sizeof(html), "%s/nginx/html", t.dir);
    tp_mkdirs(html);
    snprintf(p, sizeof(p), "%s/future.json", html);
    write_text(p,
               "{\"newNonce\":\"%s\",\"newAccount\":\"%s\","
               "\"newOrder\":\"%s\",\"renewalInfo\":"
               "\"https://127.0.0.1:%d/ari-future/\"}\n",
               g_peb.new_nonce, g_peb.new_account, g_peb.new_order, port);
    snprintf(p, sizeof(p), "%s/past.json", html);
    write_text(p,
               "{\"newNonce\":\"%s\",\"newAccount\":\"%s\","
               "\"newOrder\":\"%s\",\"renewalInfo\":"
               "\"https://127.0.0.1:%d/ari-past\"}\n",
               g_peb.new_nonce, g_peb.new_account, g_peb.new_order, port);
    snprintf(dir_future, sizeof(dir_future),
             "https://127.0.0.1:%d/future.json", port);
    snprintf(dir_past, sizeof(dir_past), "https://127.0.0.1:%d/past.json",
             port);

    /* Version 1: Pebble's certificates live five years, so the lifetime
     * rule alone would wait years. */
    conf_write(&t, dir_future, bundle, g_peb.http_port,
               "[certificate \"www\"]\nnames = ari.example.com\n");
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "www: issued: version 1 is live");
    kwres_free(&r);

    /* A window a month ahead: not due, the window named, the CA asked
     * with the certificate's ARI id. */
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "www: not due");
    assert_contains(r.out, "the CA's renewal window");
    kwres_free(&r);
    snprintf(p, sizeof(p), "%s/live/www/cert.pem", t.certs);
    ari_id_of(p, id, sizeof(id));
    snprintf(access, sizeof(access), "%s/nginx/access.log", t.dir);
    log = slurp(access, NULL);
    snprintf(p, sizeof(p), "GET /ari-future/%s ", id);
    assert_contains(log, p);
    free(log);
    assert_int_equal(db_q(&t, "SELECT ari_offered FROM certificates WHERE "
                              "name = 'www'"),
                     1);
    assert_true(db_q(&t, "SELECT ari_renew_at FROM certificates") >=
                now + 30 * 86400 - 60);
    assert_true(db_q(&t, "SELECT ari_renew_at FROM certificates") <
                now + 31 * 86400 + 60);
    /* Asked again only after the CA's Retry-After (6 h). */
    assert_true(db_q(&t, "SELECT ari_next_check FROM certificates") >=
                now + 21600 - 60);

    /* The CA moves the window into the past (an incident): renewed now,
     * without --force. */
    conf_write(&t, dir_past, bundle, g_peb.http_port,
               "[certificate \"www\"]\nnames = ari.example.com\n");
    {
        sqlite3 *h = NULL;

        /* As if the 6 hours had passed. */
        assert_int_equal(sqlite3_open(t.db, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h,
                                      "UPDATE certificates SET "
                                      "ari_next_check = 0",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(h);
    }
    r = kw_ok(t.state, t.conf, "--log-level", "notice", "renew");
    assert_contains(r.out, "www: issued: version 2 is live");
    assert_contains(r.err, "renewal window says renew");
    assert_contains(r.err, "https://ca.example/incident");
    kwres_free(&r);
    pb_stop(ng);
}

/* ----- DANE key rollover: the key announced before it is served ---------- */

static void pinned(int64_t t)
{
    char v[32];

    snprintf(v, sizeof(v), "%lld", (long long)t);
    setenv("KEYWARDEN_NOW", v, 1);
}

static void dane_rollover(void **state)
{
    const char *owner = "_25._tcp.mx.example.com";
    dane_bed_opts bo = {.secondary = 1};
    dane_bed b;
    char conf[3072], cert[2048], next[160], live[160], status[160];
    char keyf[800], bdir[600];
    int64_t t0 = (int64_t)time(NULL);
    kw_diag d;
    tdir t, t2;
    kwres r;

    (void)state;
    tdir_make(&t, "dane-roll");
    snprintf(bdir, sizeof(bdir), "%s/bed", t.dir);
    assert_int_equal(dane_bed_start(bdir, &bo, &b), 0);
    assert_int_equal(dane_bed_cert(&b, "mx", "mx.example.com", 60, NULL,
                                   cert, sizeof(cert)),
                     0);
    snprintf(conf, sizeof(conf), "[daemon]\nmetrics_listen = off\n%s", cert);
    assert_int_equal(dane_bed_conf(&b, t.conf, conf), 0);

    /* First run: the next key announced on both servers, the renewal
     * held back (the rollover's wait, not a failure), nothing live. */
    pinned(t0);
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "mx: held back: the next key's TLSA record is "
                           "visible");
    kwres_free(&r);
    assert_int_equal(access(kw_path(t.certs, "live/mx/privkey.pem"), F_OK),
                     -1);
    snprintf(keyf, sizeof(keyf), "%s/dane/mx.next-key.pem", t.certs);
    assert_int_equal(dane_bed_key_tlsa(keyf, next), 0);
    assert_int_equal(kw_dns_tlsa_wait(b.servers, b.nservers, owner, next, 1,
                                      5000, 200, &d),
                     0);
    /* Still within 2 x 60 + the negative TTL: held back again. */
    pinned(t0 + 100);
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "held back");
    kwres_free(&r);
    /* Not counted against the CA: no failure recorded. */
    assert_int_equal(db_q(&t, "SELECT count(*) FROM certificates WHERE "
                              "name = 'mx' AND failures > 0"), 0);
    r = kw(t.state, t.conf, "dane", "status", "mx");
    assert_contains(r.out, "waits for the wait until");
    kwres_free(&r);
    /* After the wait: issued, with exactly the announced key. */
    pinned(t0 + 400);
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "mx: issued");
    kwres_free(&r);
    assert_int_equal(
        dane_bed_key_tlsa(kw_path(t.certs, "live/mx/privkey.pem"), live), 0);
    assert_string_equal(live, next);
    assert_int_equal(kw_dns_tlsa_wait(b.servers, b.nservers, owner, live, 1,
                                      5000, 200, &d),
                     0);
    r = kw(t.state, t.conf, "dane", "status", "mx");
    assert_contains(r.out, "mx: ready");
    kwres_free(&r);

    /* A refused TSIG key: nothing published, held back, nothing live. */
    tdir_make(&t2, "dane-roll-bad");
    snprintf(conf, sizeof(conf),
             "[daemon]\nmetrics_listen = off\n"
             "[certificate \"bad\"]\nnames = bad.example.com\n"
             "challenge = dns-01\ndns_server = 127.0.0.1:%d\n"
             "tsig_key = %s\ntsig_secret = "
             "c2VjcmV0LWJ1dC13cm9uZy1zZWNyZXQtYnV0LXdyb25nIQ==\n"
             "dns_check = 127.0.0.1:%d\ndns_wait = 5s\n"
             "dane = 3 1 1\ndane_ttl = 60\n",
             b.port, b.prim.key_name, b.port);
    assert_int_equal(dane_bed_conf(&b, t2.conf, conf), 0);
    pinned(t0);
    r = kw_fail(t2.state, t2.conf, "renew");
    assert_contains(r.out, "bad: held back: the DANE rollover stopped at "
                           "publishing");
    kwres_free(&r);
    pinned(t0 + 100000);
    r = kw_fail(t2.state, t2.conf, "renew");
    assert_contains(r.out, "held back");
    kwres_free(&r);
    assert_int_equal(access(kw_path(t2.certs, "live/bad/privkey.pem"), F_OK),
                     -1);
    r = kw(t2.state, t2.conf, "dane", "status", "--json");
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "\"stage\": \"publishing\"");
    assert_contains(r.out, "NOTAUTH");
    kwres_free(&r);
    snprintf(keyf, sizeof(keyf), "%s/dane/bad.next-key.pem", t2.certs);
    assert_int_equal(dane_bed_key_tlsa(keyf, next), 0);
    assert_int_equal(kw_dns_tlsa_look(&b.servers[0],
                                      "_25._tcp.bad.example.com", next, 0,
                                      3000, status, sizeof(status)),
                     1);
    unsetenv("KEYWARDEN_NOW");
    dane_bed_stop(&b);
}

/* ----- dns-01 through a real Knot DNS (RFC 2136 + TSIG) ------------------- */

static void dns01_knot(void **state)
{
    static const char *const names[] = {"example.com", "a.example.com",
                                        NULL};
    knot prim, sec;
    kn_opts ko;
    pebble peb;
    pb_opts o;
    kw_dns_server servers[2];
    char conf[2048], script[800], hooklog[800], p[1000];
    char *text;
    kw_diag d;
    tdir t;
    kwres r;
    snap v1;
    int port;

    (void)state;
    tdir_make(&t, "dns01");
    memset(&ko, 0, sizeof(ko));
    port = kn_free_port("127.0.0.2");
    ko.port = port;
    ko.ns2_addr = "127.0.0.2";
    /* (Knot's children die with the test process if an assertion ends
     * this test early; kn_stop stops them by PID at the end.) */
    assert_int_equal(kn_primary_start(t.dir, "knot1", &ko, &prim), 0);
    assert_int_equal(kn_secondary_start(t.dir, "knot2", &prim, "127.0.0.2",
                                        &sec),
                     0);
    /* The CA's validator asks the primary for the TXT records. */
    o = PB_OPTS_DEFAULT(port);
    o.nosleep = 1;
    o.authz_reuse = 0; /* every order proves control again */
    assert_int_equal(pb_start(t.dir, "pebble-dns", &g_pki, &o, &peb), 0);

    /* A wildcard with its apex: two authorizations, one TXT name
     * (_acme-challenge.example.com) with two values; the answer goes to
     * the CA only once both servers serve it. */
    snprintf(conf, sizeof(conf),
             "[certificate \"wild\"]\nnames = example.com, *.example.com\n"
             "challenge = dns-01\ndns_server = 127.0.0.1:%d\n"
             "tsig_key = %s\ntsig_algorithm = %s\ntsig_secret = %s\n"
             "dns_check = 127.0.0.1:%d, 127.0.0.2:%d\ndns_wait = 20s\n",
             port, prim.key_name, prim.key_alg, prim.key_secret, port, port);
    conf_write(&t, peb.directory, g_pki.ca_pem, peb.http_port, conf);
    r = kw_ok(t.state, t.conf, "--log-level", "info", "renew");
    assert_contains(r.out, "wild: issued: version 1 is live");
    assert_contains(r.err, "the dns-01 record is on every server");
    kwres_free(&r);
    verify_live(&t, "wild", peb.root_pem, names);
    /* Cleaned up on both servers afterwards (in the background of the
     * run, finished before it exited). */
    assert_int_equal(kw_dns_server_parse("127.0.0.1", port, &servers[0],
                                         &d),
                     0);
    assert_int_equal(kw_dns_server_parse("127.0.0.2", port, &servers[1],
                                         &d),
                     0);
    if (kw_dns_txt_wait(servers, 2, "_acme-challenge.example.com", NULL,
                        5000, 200, &d) != 0)
        fail_msg("dns-01 records left behind: %s", d.msg);
    snap_take(&t, "wild", &v1);

    /* A wrong TSIG secret: the update is refused, the message says so,
     * nothing live changes. */
    snprintf(conf, sizeof(conf),
             "[certificate \"wild\"]\nnames = example.com, *.example.com\n"
             "challenge = dns-01\ndns_server = 127.0.0.1:%d\n"
             "tsig_key = %s\ntsig_secret = "
             "c2VjcmV0LWJ1dC13cm9uZy1zZWNyZXQtYnV0LXdyb25nIQ==\n"
             "dns_check = 127.0.0.1:%d\ndns_wait = 5s\n",
             port, prim.key_name, port);
    conf_write(&t, peb.directory, g_pki.ca_pem, peb.http_port, conf);
    r = kw_fail(t.state, t.conf, "renew", "--force");
    assert_contains(r.out, "NOTAUTH");
    assert_contains(r.out, "_acme-challenge.example.com");
    kwres_free(&r);
    snap_same(&t, "wild", &v1);
    snap_free(&v1);

    /* dns_exec: an operator's program (here knsupdate from a script) puts
     * the record in place; keywarden waits for it on both servers. */
    snprintf(hooklog, sizeof(hooklog), "%s/hook.log", t.dir);
    snprintf(script, sizeof(script), "%s/dns-hook", t.dir);
    write_text(script,
               "#!/bin/sh\n"
               "# dns-hook present|cleanup NAME VALUE\n"
               "op=add; [ \"$1\" = cleanup ] && op=delete\n"
               "echo \"$1 $2 $3\" >> %s\n"
               "printf 'server 127.0.0.1 %d\\nzone example.com.\\n"
               "key %s:%s %s\\nupdate %%s %%s. 60 TXT \"%%s\"\\nsend\\n' "
               "\"$op\" \"$2\" \"$3\" | /usr/bin/knsupdate\n",
               hooklog, port, prim.key_alg, prim.key_name, prim.key_secret);
    assert_int_equal(chmod(script, 0755), 0);
    snprintf(conf, sizeof(conf),
             "[certificate \"hook\"]\nnames = h.example.com\n"
             "challenge = dns-01\ndns_exec = %s\n"
             "dns_check = 127.0.0.1:%d, 127.0.0.2:%d\ndns_wait = 20s\n",
             script, port, port);
    conf_write(&t, peb.directory, g_pki.ca_pem, peb.http_port, conf);
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "hook: issued: version 1 is live");
    kwres_free(&r);
    text = slurp(hooklog, NULL);
    assert_non_null(text);
    assert_contains(text, "present _acme-challenge.h.example.com ");
    assert_contains(text, "cleanup _acme-challenge.h.example.com ");
    free(text);
    snprintf(p, sizeof(p), "%s/live/hook", t.certs);
    assert_true(exists(p));

    /* A program that fails: its last line is the reason. */
    write_text(script, "#!/bin/sh\necho 'provider says: quota exceeded' "
                       ">&2\nexit 3\n");
    assert_int_equal(chmod(script, 0755), 0);
    r = kw_fail(t.state, t.conf, "renew", "--force");
    if (strstr(r.out, "exited 3: provider says: quota exceeded") == NULL)
        fail_msg("stdout:\n%s\nstderr:\n%s", r.out, r.err);
    kwres_free(&r);

    pb_stop(peb.pid);
    kn_stop(&sec);
    kn_stop(&prim);
}

/* ----- the daemon: issue, stop, resume after kill -9, renew on time ------ */

typedef struct serve_wait {
    const char *db, *log, *needle;
    pid_t pid;
    int exited;
    int version;  /* wait for live_version >= this, when > 0 */
} serve_wait;

static int serve_reached(void *ctx)
{
    serve_wait *w = ctx;
    int status;

    if (waitpid(w->pid, &status, WNOHANG) == w->pid) {
        w->exited = 1;
        return 1;
    }
    if (w->version > 0)
        return db_int(w->db, "SELECT max(live_version) FROM certificates") >=
               w->version;
    if (w->needle != NULL)
        return count_in_file(w->log, w->needle) > 0;
    return db_int(w->db, "SELECT count(*) FROM certificates WHERE "
                         "order_url IS NOT NULL AND order_url != ''") > 0;
}

static pid_t serve_start(const tdir *t, const char *log, const char *now)
{
    char *argv[] = {(char *)KEYWARDEN_BIN, (char *)"--state-dir",
                    (char *)t->state, (char *)"--config", (char *)t->conf,
                    (char *)"--log-level", (char *)"info", (char *)"serve",
                    NULL};
    const char *env[] = {now, NULL};

    return pb_spawn(argv, now != NULL ? env : NULL, log);
}

static void serve_wait_for(serve_wait *w, int ms, const char *what)
{
    w->exited = 0;
    if (!proc_until(serve_reached, w, ms) || w->exited) {
        char *log = slurp(w->log, NULL);

        print_error("keywarden serve: %s %s\nlog:\n%s\n", what,
                    w->exited ? "(it exited)" : "(not within the time)",
                    log != NULL ? log : "");
        free(log);
        fail();
    }
}

static void serve_renews(void **state)
{
    static const char *const names[] = {"d1.example.com", NULL};
    pebble peb;
    pb_opts o = PB_OPTS_DEFAULT(g_dns.dns_port);
    char log1[800], log2[800], log3[800], later[64], webroot[800];
    char certs[1200];
    serve_wait w;
    tdir t;
    pid_t pid, ng;

    (void)state;
    tdir_make(&t, "serve");
    /* Validation sleeps on (up to 3 s): the order sits pending long
     * enough to be killed in the middle. */
    o.sleeptime = 3;
    o.authz_reuse = 0;
    assert_int_equal(pb_start(t.dir, "pebble-serve", &g_pki, &o, &peb), 0);
    /* The answers are files nginx serves, so the CA can read them while
     * keywarden is dead (with the built-in responder, a validation that
     * lands in that gap fails, and the renewal backs off for 5 minutes:
     * right, but not what this test is about). */
    snprintf(webroot, sizeof(webroot), "%s/webroot", t.dir);
    tp_mkdirs(webroot);
    ng = pb_nginx_webroot(t.dir, "nginx", peb.http_port, webroot);
    assert_true(ng > 0);
    snprintf(certs, sizeof(certs),
             "[certificate \"www\"]\nnames = d1.example.com\n"
             "http01 = webroot\nwebroot = %s\n",
             webroot);
    conf_write_v(&t, peb.directory, g_pki.ca_pem, free_port(), peb.http_port,
                 certs);

    /* serve orders at start; kill -9 once the order URL is saved. */
    snprintf(log1, sizeof(log1), "%s/serve1.log", t.dir);
    pid = serve_start(&t, log1, NULL);
    assert_true(pid > 0);
    memset(&w, 0, sizeof(w));
    w.db = t.db;
    w.log = log1;
    w.pid = pid;
    serve_wait_for(&w, 30000, "saving the order URL");
    kill(pid, SIGKILL);
    proc_wait(pid, 5000);
    pb_forget(pid);

    /* The next start resumes that order and issues. */
    snprintf(log2, sizeof(log2), "%s/serve2.log", t.dir);
    pid = serve_start(&t, log2, NULL);
    assert_true(pid > 0);
    w.log = log2;
    w.pid = pid;
    w.version = 1;
    serve_wait_for(&w, 60000, "issuing version 1");
    assert_true(count_in_file(log2, "resuming the order") > 0 ||
                count_in_file(log2, "resuming") > 0);
    verify_live(&t, "www", peb.root_pem, names);
    /* The daily HTTP-01 pre-check, made due now through the control
     * socket; and a renewal job asked for by hand is "not due". */
    {
        kwres r = kw_ok(t.state, t.conf, "run-job", "precheck:www");

        kwres_free(&r);
        w.version = 0;
        w.needle = "the HTTP-01 pre-check passes; next at";
        serve_wait_for(&w, 20000, "the daily pre-check");
        assert_int_equal(db_q(&t, "SELECT precheck_ok FROM certificates "
                                  "WHERE name = 'www'"),
                         1);
        r = kw_ok(t.state, t.conf, "run-job", "renew:www");
        kwres_free(&r);
        r = kw_expect(1, t.state, t.conf,
                      (const char *[]){"run-job", "renew:nosuch", NULL});
        assert_contains(r.err, "no such certificate");
        kwres_free(&r);
        w.needle = NULL;
    }
    /* SIGTERM: a clean stop within seconds. */
    kill(pid, SIGTERM);
    assert_int_equal(proc_wait(pid, 10000), 0);
    pb_forget(pid);

    /* Four years later (Pebble's certificates live five): the daemon
     * renews at start, on its own. */
    snprintf(later, sizeof(later), "KEYWARDEN_NOW=%lld",
             (long long)time(NULL) + 4LL * 365 * 86400);
    snprintf(log3, sizeof(log3), "%s/serve3.log", t.dir);
    pid = serve_start(&t, log3, later);
    assert_true(pid > 0);
    w.log = log3;
    w.pid = pid;
    w.version = 2;
    serve_wait_for(&w, 60000, "renewing to version 2");
    assert_live_version(&t, "www", 2);
    /* The log line follows the record (the job's bookkeeping runs on the
     * pool after it): wait for it too. */
    w.version = 0;
    w.needle = "issued: version 2";
    serve_wait_for(&w, 10000, "logging version 2");
    kill(pid, SIGTERM);
    assert_int_equal(proc_wait(pid, 10000), 0);
    pb_forget(pid);
    pb_stop(ng);
    pb_stop(peb.pid);
}

/* ----- alternate chains, profiles, key owner -------------------------------- */

static void chains_profiles_owner(void **state)
{
    static const char *const names[] = {"alt.example.com", NULL};
    pebble peb;
    pb_opts o = PB_OPTS_DEFAULT(g_dns.dns_port);
    char url[200], root1[900], cn[256], conf[1024], p[1000];
    char *body = NULL;
    size_t len = 0;
    X509 *x;
    BIO *b;
    struct stat st;
    tdir t;
    kwres r;

    (void)state;
    tdir_make(&t, "chains");
    o.nosleep = 1;
    o.alternate_roots = 1;
    assert_int_equal(pb_start(t.dir, "pebble-alt", &g_pki, &o, &peb), 0);
    /* The alternate root, and the name its chains are issued by. */
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/roots/1", peb.mgmt_port);
    assert_int_equal(pb_http_get(url, g_pki.ca_pem, &body, &len), 200);
    snprintf(root1, sizeof(root1), "%s/root1.pem", t.dir);
    tp_write_bytes(root1, body, len, 0644);
    b = BIO_new_mem_buf(body, (int)len);
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    free(body);
    assert_non_null(x);
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
                                          NID_commonName, cn,
                                          sizeof(cn)) > 0);
    X509_free(x);

    /* preferred_chain picks the alternate: the live chain verifies
     * against root 1 and not root 0. */
    snprintf(conf, sizeof(conf),
             "[certificate \"alt\"]\nnames = alt.example.com\n"
             "preferred_chain = %s\nkey_owner = nobody\n",
             cn);
    conf_write(&t, peb.directory, g_pki.ca_pem, peb.http_port, conf);
    r = kw_ok(t.state, t.conf, "--log-level", "notice", "renew");
    assert_contains(r.out, "alt: issued: version 1 is live");
    assert_contains(r.err, "the alternate chain issued by");
    kwres_free(&r);
    verify_live(&t, "alt", root1, names);
    /* key_owner: privkey.pem belongs to nobody, still 0600. */
    snprintf(p, sizeof(p), "%s/live/alt/privkey.pem", t.certs);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_uid, getpwnam("nobody")->pw_uid);
    assert_int_equal(st.st_mode & 07777, 0600);

    /* A name no chain is issued by: the default chain, said so. */
    conf_write(&t, peb.directory, g_pki.ca_pem, peb.http_port,
               "[certificate \"alt\"]\nnames = alt.example.com\n"
               "preferred_chain = No Such Root\n");
    r = kw_ok(t.state, t.conf, "--log-level", "notice", "renew", "--force");
    assert_contains(r.err, "no chain issued by \"No Such Root\"");
    kwres_free(&r);
    verify_live(&t, "alt", peb.root_pem, names);

    /* A profile this CA does not offer (Pebble 2.4 has none): refused
     * before any order, by name. */
    conf_write(&t, peb.directory, g_pki.ca_pem, peb.http_port,
               "[certificate \"alt\"]\nnames = alt.example.com\n"
               "profile = shortlived\n");
    r = kw_fail(t.state, t.conf, "renew", "--force");
    assert_contains(r.out, "offers no profiles; remove profile = shortlived");
    kwres_free(&r);
    pb_stop(peb.pid);
}

/* ----- EAB, revocation, account key rollover ------------------------------ */

#define EAB_KEY "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(65536);
    size_t n;

    assert_non_null(f);
    assert_non_null(buf);
    n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void eab_revoke_rollover(void **state)
{
    static const char *const names[] = {"eab.example.com", NULL};
    pebble peb;
    pb_opts o = PB_OPTS_DEFAULT(g_dns.dns_port);
    char acct[1000], cmd[1200], serial[128], status_url[400];
    char *key1, *key2, *out;
    size_t l1, l2;
    tdir t;
    kwres r;
    FILE *p;

    (void)state;
    tdir_make(&t, "eab");
    o.nosleep = 1;
    o.eab_kid = "kid-1";
    o.eab_key = EAB_KEY;
    assert_int_equal(pb_start(t.dir, "pebble-eab", &g_pki, &o, &peb), 0);

    /* Without EAB the CA refuses; the error says what to configure. */
    conf_write(&t, peb.directory, g_pki.ca_pem, peb.http_port,
               "[certificate \"e\"]\nnames = eab.example.com\n");
    r = kw_fail(t.state, t.conf, "renew");
    assert_contains(r.out, "requires External Account Binding");
    assert_contains(r.out, "eab_kid");
    kwres_free(&r);

    /* With it: issued. */
    conf_write(&t, peb.directory, g_pki.ca_pem, peb.http_port,
               "eab_kid = kid-1\neab_hmac_key = " EAB_KEY "\n"
               "[certificate \"e\"]\nnames = eab.example.com\n");
    r = kw_ok(t.state, t.conf, "renew", "--force");
    assert_contains(r.out, "e: issued: version 1 is live");
    kwres_free(&r);
    verify_live(&t, "e", peb.root_pem, names);

    /* Revoked at the CA, with the reason, and recorded. */
    r = kw_ok(t.state, t.conf, "revoke", "e", "--reason", "superseded");
    assert_contains(r.out, "e: revoked");
    kwres_free(&r);
    snprintf(cmd, sizeof(cmd),
             "openssl x509 -noout -serial -in %s/live/e/cert.pem", t.certs);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(serial, sizeof(serial), p));
    pclose(p);
    serial[strcspn(serial, "\r\n")] = '\0';
    snprintf(status_url, sizeof(status_url),
             "https://127.0.0.1:%d/cert-status-by-serial/%s", peb.mgmt_port,
             strchr(serial, '=') + 1);
    {
        size_t olen = 0;

        out = NULL;
        assert_int_equal(pb_http_get(status_url, g_pki.ca_pem, &out, &olen),
                         200);
        assert_non_null(out);
    }
    assert_contains(out, "\"Status\": \"Revoked\"");
    assert_contains(out, "\"Reason\": 4");
    free(out);
    assert_int_equal(db_q(&t, "SELECT count(*) FROM events WHERE type = "
                              "'cert.revoked' AND json_extract(detail, "
                              "'$.reason') = 4"),
                     1);
    r = kw_expect(2, t.state, t.conf,
                  (const char *[]){"revoke", "e", "--reason", "bogus", NULL});
    assert_contains(r.err, "keyCompromise");
    kwres_free(&r);

    /* Account key rollover: a new key in the same file, the CA takes it,
     * and the same account renews with it (no new account). */
    snprintf(acct, sizeof(acct), "%s/acme", t.state);
    {
        char names_buf[512];
        int n = count_files(acct, names_buf, sizeof(names_buf));

        assert_int_equal(n, 1);
        names_buf[strcspn(names_buf, " ")] = '\0';
        snprintf(acct + strlen(acct), sizeof(acct) - strlen(acct), "/%s",
                 names_buf);
    }
    key1 = read_all(acct, &l1);
    r = kw_ok(t.state, t.conf, "account", "rollover");
    assert_contains(r.out, "account key changed");
    kwres_free(&r);
    key2 = read_all(acct, &l2);
    assert_true(l1 != l2 || memcmp(key1, key2, l1) != 0);
    snprintf(cmd, sizeof(cmd), "%s.next", acct);
    assert_false(exists(cmd));
    assert_int_equal(db_q(&t, "SELECT count(*) FROM events WHERE type = "
                              "'account.key_changed'"),
                     1);
    r = kw_ok(t.state, t.conf, "renew", "--force");
    assert_contains(r.out, "e: issued: version 2 is live");
    assert_not_contains(r.err, "new account key");
    kwres_free(&r);
    free(key1);
    free(key2);
    pb_stop(peb.pid);
}

/* ----- 2. validation sleeps on -------------------------------------------- */

static void validation_sleeps(void **state)
{
    static const char *const names[] = {"s1.example.com", "s2.example.com",
                                        NULL};
    pebble peb;
    pb_opts o = PB_OPTS_DEFAULT(g_dns.dns_port);
    tdir t;
    kwres r;

    (void)state;
    tdir_make(&t, "sleep");
    o.sleeptime = 3; /* random 0-2 s before each validation */
    assert_int_equal(pb_start(t.dir, "pebble-sleep", &g_pki, &o, &peb), 0);
    conf_write(&t, peb.directory, g_pki.ca_pem, peb.http_port,
               "[certificate \"www\"]\nnames = s1.example.com, "
               "s2.example.com\n");
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "www: issued: version 1 is live");
    print_message("with validation sleeps: %.2f s\n", r.secs);
    kwres_free(&r);
    /* The VA did sleep (the 0-2 s are random; 0 s is logged too). */
    assert_true(count_in_file(peb.log, "before validating") >= 2);
    verify_live(&t, "www", peb.root_pem, names);
    pb_stop(peb.pid);
}

/* ----- 7. kill -9 mid-order ----------------------------------------------- */

/* Pebble's VA logs this once for every challenge answered (POSTed). */
#define PEBBLE_VA_TASK "Pulled a task from the Tasks queue"

typedef struct order_wait {
    const char *db, *pebble_log;
    pid_t pid;
    int exited;
} order_wait;

static int order_saved(void *ctx)
{
    order_wait *w = ctx;
    int status;

    if (waitpid(w->pid, &status, WNOHANG) == w->pid) {
        w->exited = 1;
        return 1;
    }
    return db_int(w->db, "SELECT count(*) FROM certificates WHERE name = "
                         "'crash' AND order_url IS NOT NULL AND "
                         "order_url != ''") == 1;
}

static int challenges_answered(void *ctx)
{
    order_wait *w = ctx;
    int status;

    if (waitpid(w->pid, &status, WNOHANG) == w->pid) {
        w->exited = 1;
        return 1;
    }
    return count_in_file(w->pebble_log, PEBBLE_VA_TASK) >= 2;
}

/*
 * kill -9 once the order URL is saved and both challenges are answered;
 * the next run must resume that order with the pending key, and must not
 * answer the challenges again: Pebble 2.4 shows a challenge under
 * validation as "pending" with a "validated" time (Boulder: "processing")
 * and would start a second validation (Boulder would refuse the POST as
 * malformed).  When this test was written, keywarden answered again, the
 * second validation hit the removed token, and the order went invalid.
 * The check below counts Pebble's validation tasks: each challenge is
 * answered exactly once.
 */
static void kill9_mid_order(void **state)
{
    static const char *const names[] = {"k1.example.com", "k2.example.com",
                                        NULL};
    pebble peb;
    pb_opts o = PB_OPTS_DEFAULT(g_dns.dns_port);
    char webroot[700], certs[1600], log[800], pend[900], p[900];
    char *argv[12], *saved_key, *log_text, *order_url_line;
    size_t saved_len, klen;
    order_wait w;
    tdir t;
    kwres r;
    snap v1;
    pid_t ng, kwpid;
    int st, tasks;

    (void)state;
    tdir_make(&t, "kill9");
    /* Validation sleeps (0-4 s per attempt) keep the order pending for
     * seconds.  The tokens are files served by nginx, so the VA still
     * finds them while keywarden is dead (the built-in responder would
     * die with it and turn a crash into a failed validation). */
    o.sleeptime = 5;
    assert_int_equal(pb_start(t.dir, "pebble-sleep5", &g_pki, &o, &peb), 0);
    snprintf(webroot, sizeof(webroot), "%s/www", t.dir);
    tp_mkdirs(webroot);
    ng = pb_nginx_webroot(t.dir, "nginx", peb.http_port, webroot);
    assert_true(ng > 0);

    /* Version 1 from the quick Pebble, so that there is a live version to
     * keep. */
    snprintf(certs, sizeof(certs),
             "[certificate \"crash\"]\nnames = k1.example.com, "
             "k2.example.com\ndirectory = %s\n",
             g_peb.directory);
    conf_write(&t, peb.directory, g_pki.ca_pem, g_peb.http_port, certs);
    r = kw_ok(t.state, t.conf, "renew");
    assert_contains(r.out, "crash: issued: version 1 is live");
    kwres_free(&r);
    snap_take(&t, "crash", &v1);

    snprintf(certs, sizeof(certs),
             "[certificate \"crash\"]\nnames = k1.example.com, "
             "k2.example.com\nhttp01 = webroot\nwebroot = %s\n",
             webroot);
    conf_write_v(&t, peb.directory, g_pki.ca_pem, g_peb.http_port,
                 peb.http_port, certs);
    snprintf(log, sizeof(log), "%s/kill9-first.log", t.dir);
    argv[0] = (char *)KEYWARDEN_BIN;
    argv[1] = (char *)"--state-dir";
    argv[2] = t.state;
    argv[3] = (char *)"--config";
    argv[4] = t.conf;
    argv[5] = (char *)"--log-level";
    argv[6] = (char *)"info";
    argv[7] = (char *)"renew";
    argv[8] = (char *)"--force";
    argv[9] = (char *)"crash";
    argv[10] = NULL;
    kwpid = pb_spawn(argv, NULL, log);
    assert_true(kwpid > 0);
    w.db = t.db;
    w.pebble_log = peb.log;
    w.pid = kwpid;
    w.exited = 0;
    /* The order URL is saved; then (the most telling instant) both
     * challenges are answered and their validations are in flight. */
    if (!proc_until(order_saved, &w, 60000) || w.exited ||
        !proc_until(challenges_answered, &w, 20000) || w.exited) {
        log_text = slurp(log, NULL);
        fail_msg("keywarden %s before the order was in flight; log:\n%s",
                 w.exited ? "exited" : "timed out",
                 log_text ? log_text : "");
    }
    kill(kwpid, SIGKILL);
    st = proc_wait(kwpid, 10000);
    pb_forget(kwpid); /* reaped */
    assert_int_equal(st, 128 + SIGKILL);

    /* The key of the order in flight waits in pending/; live/ untouched. */
    snprintf(pend, sizeof(pend), "%s/pending/crash.key.pem", t.certs);
    saved_key = slurp(pend, &saved_len);
    if (saved_key == NULL)
        fail_msg("%s is missing after kill -9", pend);
    assert_true(saved_len > 0);
    snap_same(&t, "crash", &v1);
    assert_true(file_contains(log, "certificate crash: order "));
    log_text = slurp(log, NULL);
    order_url_line = strstr(log_text, "certificate crash: order ");
    print_message("killed after: %.*s\n",
                  (int)strcspn(order_url_line, "\n"), order_url_line);
    free(log_text);

    /* The next run resumes that order with that key. */
    r = kw(t.state, t.conf, "renew", "--force", "crash");
    print_message("resumed run: %.2f s, exit %d: %s", r.secs, r.status,
                  r.out);
    assert_contains(r.err, "certificate crash: resuming the order ");
    tasks = count_in_file(peb.log, PEBBLE_VA_TASK);
    if (tasks != 2)
        fail_msg("Pebble ran %d validations for 2 challenges: the resumed "
                 "run answered challenges that were already processing "
                 "(see the comment above kill9_mid_order); exit %d\nstdout:\n"
                 "%s\nstderr:\n%s(Pebble log: %s)",
                 tasks, r.status, r.out, r.err, peb.log);
    if (r.status != 0)
        fail_msg("resumed renew: exit %d\nstdout:\n%s\nstderr:\n%s",
                 r.status, r.out, r.err);
    assert_contains(r.out, "crash: issued: version 2 is live");
    kwres_free(&r);
    assert_live_version(&t, "crash", 2);
    verify_live(&t, "crash", peb.root_pem, names);
    snprintf(p, sizeof(p), "%s/live/crash/privkey.pem", t.certs);
    {
        char *k = slurp(p, &klen);

        assert_non_null(k);
        if (klen != saved_len || memcmp(k, saved_key, klen) != 0)
            fail_msg("the new privkey.pem is not the pending key saved "
                     "before the kill");
        free(k);
    }
    free(saved_key);
    assert_false(exists(pend));
    snprintf(p, sizeof(p), "%s/archive/crash/1/cert.pem", t.certs);
    assert_true(exists(p));
    assert_int_equal(
        db_q(&t, "SELECT count(*) FROM certificates WHERE name = 'crash' "
                 "AND (order_url IS NULL OR order_url = '')"),
        1);
    snprintf(p, sizeof(p), "%s/.well-known/acme-challenge", webroot);
    assert_int_equal(count_files(p, NULL, 0), 0);
    snap_free(&v1);
    pb_stop(ng);
    pb_stop(peb.pid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(issue_renew_force, stop_extras),
        cmocka_unit_test_teardown(webroot_nginx, stop_extras),
        cmocka_unit_test_teardown(invalid_challenge, stop_extras),
        cmocka_unit_test_teardown(fake_ca_faults, stop_extras),
        cmocka_unit_test_teardown(heavy_nonce_rejection, stop_extras),
        cmocka_unit_test_teardown(validation_sleeps, stop_extras),
        cmocka_unit_test_teardown(kill9_mid_order, stop_extras),
        cmocka_unit_test_teardown(eab_revoke_rollover, stop_extras),
        cmocka_unit_test_teardown(ari_window, stop_extras),
        cmocka_unit_test_teardown(dns01_knot, stop_extras),
        cmocka_unit_test_teardown(dane_rollover, stop_extras),
        cmocka_unit_test_teardown(serve_renews, stop_extras),
        cmocka_unit_test_teardown(chains_profiles_owner, stop_extras),
    };

    /* KW_TEST_FILTER=kill9* runs one scenario (KW_KEEP_TMP=1 keeps the
     * logs). */
    if (getenv("KW_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("KW_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup_or_clean,
                                  group_teardown);
}
