/*
 * The keywarden binary end to end: scan the demo tree, then list, show and
 * check it the way an operator and a monitoring system would; bad command
 * lines; and a scan killed with SIGKILL half-way, then completed.
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
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "testpki.h"
#include "tmpdir.h"

#define NOW INT64_C(1795651200) /* 2026-11-26T00:00:00Z */
#define NOW_TEXT "1795651200"


static char g_dir[256], g_state[512], g_demo[512];

typedef struct result {
    int status; /* exit code, or 128+signal */
    char *out;
    char *err;
} result;

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

/* Run keywarden --state-dir STATE ARGS... (NULL-terminated). */
static result kw(const char *state, ...)
{
    char *argv[32];
    int argc = 0, ofd, efd, status;
    const char *a;
    va_list ap;
    result r;
    pid_t pid;

    argv[argc++] = (char *)KEYWARDEN_BIN;
    argv[argc++] = (char *)"--state-dir";
    argv[argc++] = (char *)state;
    va_start(ap, state);
    while ((a = va_arg(ap, const char *)) != NULL && argc < 31)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    proc_drain(ofd, efd, &r.out, &r.err);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status)
                                 : 128 + WTERMSIG(status);
    return r;
}

#define assert_contains(hay, needle)                                      \
    do {                                                                  \
        if (strstr((hay), (needle)) == NULL)                              \
            fail_msg("\"%s\" not found in:\n%s", (needle), (hay));        \
    } while (0)

static int setup(void **state)
{
    result r;

    (void)state;
    setenv("KEYWARDEN_NOW", NOW_TEXT, 1);
    unsetenv("KEYWARDEN_STATE_DIR");
    tmpdir_make(g_dir, sizeof(g_dir), "cli");
    path_join(g_state, sizeof(g_state), g_dir, "state");
    path_join(g_demo, sizeof(g_demo), g_dir, "demo");
    tp_make_demo(g_demo, NOW);
    r = kw(g_state, "scan", g_demo, NULL);
    if (r.status != 0)
        fail_msg("scan: %d\n%s\n%s", r.status, r.out, r.err);
    result_free(&r);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove(g_dir);
    return 0;
}

static json_t *list_json(const char *extra1, const char *extra2)
{
    result r = kw(g_state, "list", "--json", extra1, extra2, NULL);
    json_error_t err;
    json_t *j;

    if (r.status != 0)
        fail_msg("list --json: %d %s", r.status, r.err);
    j = json_loads(r.out, 0, &err);
    if (j == NULL || !json_is_array(j))
        fail_msg("list --json is not a JSON array: %s\n%s", err.text, r.out);
    result_free(&r);
    return j;
}

static json_t *find(json_t *arr, const char *field, const char *value)
{
    size_t i;
    json_t *o;

    json_array_foreach(arr, i, o)
    {
        const char *v = json_string_value(json_object_get(o, field));
        if (v != NULL && strstr(v, value) != NULL)
            return o;
    }
    fail_msg("no object with %s containing \"%s\"", field, value);
    return NULL;
}

static const char *health_of(json_t *arr, const char *source_part)
{
    return json_string_value(
        json_object_get(find(arr, "source", source_part), "health"));
}

static void empty_inventory(void **state)
{
    char empty[512];
    result r;

    (void)state;
    path_join(empty, sizeof(empty), g_dir, "empty-state");
    r = kw(empty, "list", NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.err, "no inventory at");
    assert_contains(r.err, "keywarden scan");
    result_free(&r);
    r = kw(empty, "list", "--json", NULL);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    result_free(&r);
    r = kw(empty, "check", NULL);
    assert_int_equal(r.status, 3);
    assert_contains(r.out, "KEYWARDEN UNKNOWN - no inventory");
    result_free(&r);
    r = kw(empty, "show", "1", NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.err, "no inventory at");
    result_free(&r);
}

static void json_contract(void **state)
{
    static const char *const fields[] = {
        "id", "kind", "name", "source", "not_before", "not_after",
        "deadline", "days_left", "health", "reason", "fingerprint_sha256",
        "sans",
    };
    json_t *arr = list_json(NULL, NULL), *o;
    size_t i, k;
    const char *prev = "";

    (void)state;
    assert_true(json_array_size(arr) >= 10);
    json_array_foreach(arr, i, o)
    {
        const char *dl, *h;

        for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
            if (json_object_get(o, fields[k]) == NULL)
                fail_msg("object %zu lacks \"%s\"", i, fields[k]);
        assert_true(json_is_integer(json_object_get(o, "id")));
        assert_true(json_is_array(json_object_get(o, "sans")));
        h = json_string_value(json_object_get(o, "health"));
        assert_true(strcmp(h, "ok") == 0 || strcmp(h, "warning") == 0 ||
                    strcmp(h, "critical") == 0 || strcmp(h, "unknown") == 0);
        dl = json_string_value(json_object_get(o, "deadline"));
        if (dl == NULL) { /* unknown deadlines sort first */
            assert_string_equal(prev, "");
            continue;
        }
        assert_int_equal(strlen(dl), 20);
        assert_int_equal(dl[19], 'Z');
        assert_true(strcmp(prev, dl) <= 0); /* sorted by deadline */
        prev = dl;
        assert_int_equal(
            strlen(json_string_value(json_object_get(o, "fingerprint_sha256"))),
            64);
        assert_true(json_is_integer(json_object_get(o, "days_left")));
    }
    json_decref(arr);
}

static void demo_verdicts(void **state)
{
    json_t *arr = list_json(NULL, NULL), *o, *all;

    (void)state;
    assert_string_equal(health_of(arr, "mail.example.net.pem"), "critical");
    o = find(arr, "source", "mail.example.net.pem");
    assert_int_equal(json_integer_value(json_object_get(o, "days_left")), 5);
    assert_string_equal(health_of(arr, "archive/www.example.org/cert2.pem"),
                        "warning");
    assert_string_equal(health_of(arr, "legacy.example.com.pem"), "critical");
    assert_contains(json_string_value(json_object_get(
                        find(arr, "source", "legacy.example.com.pem"),
                        "reason")),
                    "expired 3d");
    assert_string_equal(health_of(arr, "api.example.com.crt"), "warning");
    assert_contains(json_string_value(json_object_get(
                        find(arr, "source", "api.example.com.crt"), "reason")),
                    "Issuing CA R0");
    assert_string_equal(health_of(arr, "db.example.com.crt"), "critical");
    assert_contains(json_string_value(json_object_get(
                        find(arr, "source", "db.example.com.crt"), "reason")),
                    "does not match");
    assert_string_equal(health_of(arr, "imap.example.net.crt"), "critical");
    assert_contains(json_string_value(json_object_get(
                        find(arr, "source", "imap.example.net.crt"), "reason")),
                    "world-readable");
    assert_string_equal(health_of(arr, "broken.pem"), "unknown");
    assert_string_equal(health_of(arr, "gateway-unordered.pem"), "warning");
    assert_string_equal(health_of(arr, "shop.example.com.crt"), "ok");
    /* IDN: A-label kept, Unicode shown. */
    o = find(arr, "source", "muenchen.der");
    assert_string_equal(json_string_value(json_object_get(o, "name")),
                        "xn--mnchen-3ya.example");
    assert_string_equal(json_string_value(json_object_get(o, "name_unicode")),
                        "m\xc3\xbcnchen.example");
    /* IP SANs. */
    o = find(arr, "source", "gateway-unordered.pem");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(o, "sans"), 1)),
        "192.0.2.10");
    /* The old archived version is hidden unless --all. */
    {
        char *text = json_dumps(arr, 0);
        assert_null(strstr(text, "cert1.pem"));
        free(text);
    }
    all = list_json("--all", NULL);
    assert_string_equal(health_of(all, "archive/www.example.org/cert1.pem"),
                        "ok");
    assert_true(json_array_size(all) > json_array_size(arr));
    json_decref(all);
    json_decref(arr);
}

static void filters(void **state)
{
    json_t *arr, *o;
    size_t i;

    (void)state;
    arr = list_json("--expiring", "7d");
    assert_true(json_array_size(arr) >= 2);
    json_array_foreach(arr, i, o)
    {
        json_t *dl = json_object_get(o, "days_left");
        if (!json_is_null(dl))
            assert_true(json_integer_value(dl) <= 7);
    }
    find(arr, "source", "mail.example.net.pem");
    json_decref(arr);

    arr = list_json("--health", "critical");
    json_array_foreach(arr, i, o)
        assert_string_equal(json_string_value(json_object_get(o, "health")),
                            "critical");
    assert_true(json_array_size(arr) >= 4);
    json_decref(arr);

    arr = list_json("--health", "warning");
    json_array_foreach(arr, i, o)
        assert_string_not_equal(
            json_string_value(json_object_get(o, "health")), "ok");
    json_decref(arr);

    arr = list_json("--kind", "dkim");
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);
}

static void text_listing(void **state)
{
    result r = kw(g_state, "list", NULL);
    char *first_row, *mail, *shop;

    (void)state;
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "DEADLINE (UTC)");
    assert_contains(r.out, "m\xc3\xbcnchen.example");
    assert_contains(r.out, "hidden");
    first_row = strchr(r.out, '\n') + 1;
    /* The unreadable file (no deadline) comes first, then soonest. */
    assert_true(strncmp(strstr(first_row, "broken.pem"), "broken.pem", 10) ==
                0);
    mail = strstr(r.out, "mail.example.net");
    shop = strstr(r.out, "shop.example.com");
    assert_non_null(mail);
    assert_non_null(shop);
    assert_true(mail < shop);
    result_free(&r);
}

static void check_plugin(void **state)
{
    result r;
    char *nl;

    (void)state;
    r = kw(g_state, "check", NULL);
    assert_int_equal(r.status, 2);
    assert_true(strncmp(r.out, "KEYWARDEN CRITICAL - ", 21) == 0);
    nl = strchr(r.out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_contains(r.out, " | objects=");
    assert_contains(r.out, "critical=");
    assert_contains(r.out, "min_days_left=");
    assert_contains(nl + 1, "CRITICAL: mail.example.net");
    /* Each problem's fix under its line: the world-readable key's is the
     * chmod to run. */
    {
        char *line = strstr(nl + 1, "is world-readable (mode 0644)\n");

        assert_non_null(line);
        assert_true(strncmp(strchr(line, '\n') + 1, "  fix: chmod o-rwx ",
                            19) == 0);
    }
    result_free(&r);

    r = kw(g_state, "check", "shop.example.com", NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "KEYWARDEN OK - 1 objects ok");
    result_free(&r);

    r = kw(g_state, "check", "--warn", "90d", "--crit", "1d",
           "shop.example.com", NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "KEYWARDEN WARNING");
    result_free(&r);

    r = kw(g_state, "check", "broken.pem", NULL);
    assert_int_equal(r.status, 3);
    assert_contains(r.out, "KEYWARDEN UNKNOWN");
    assert_contains(r.out, "invalid base64");
    result_free(&r);

    r = kw(g_state, "check", "--warn", "soon", NULL);
    assert_int_equal(r.status, 3);
    result_free(&r);
}

static void show_object(void **state)
{
    result r;
    json_error_t err;
    json_t *j;

    (void)state;
    r = kw(g_state, "show", "www.example.org", NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "also at");
    assert_contains(r.out, "live/www.example.org/cert.pem");
    assert_contains(r.out, "privkey2.pem: match");
    assert_contains(r.out, "history");
    assert_contains(r.out, "first seen");
    result_free(&r);

    r = kw(g_state, "show", "api.example.com", NULL);
    assert_contains(r.out, "chain        2 certificates");
    assert_contains(r.out, "[0] CN=api.example.com");
    assert_contains(r.out, "[1] CN=keywarden Demo Issuing CA R0");
    assert_contains(r.out, "fix: ");
    result_free(&r);

    r = kw(g_state, "show", "--json", "db.example.com", NULL);
    assert_int_equal(r.status, 0);
    j = json_loads(r.out, 0, &err);
    assert_non_null(j);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(j, 0), "private_key"), "state")),
        "mismatch");
    json_decref(j);
    result_free(&r);

    r = kw(g_state, "show", "no-such-thing.example", NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.err, "no object with id, name, path or SAN");
    result_free(&r);
}

static void usage_errors(void **state)
{
    result r;

    (void)state;
    r = kw(g_state, "list", "--expiring", "30", NULL);
    assert_int_equal(r.status, 2);
    assert_contains(r.err, "missing unit");
    result_free(&r);
    r = kw(g_state, "frobnicate", NULL);
    assert_int_equal(r.status, 2);
    assert_contains(r.err, "unknown command");
    result_free(&r);
    r = kw(g_state, "scan", NULL);
    assert_int_equal(r.status, 2);
    result_free(&r);
    r = kw(g_state, "list", "--kind", "x509", NULL);
    assert_int_equal(r.status, 2);
    result_free(&r);
    r = kw(g_state, "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "Usage: keywarden");
    result_free(&r);
    r = kw(g_state, "help", "list", NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "--expiring DURATION");
    result_free(&r);
}

static void rescan_and_forget(void **state)
{
    char p[1024];
    result r;
    json_t *arr;
    char idtext[32];

    (void)state;
    r = kw(g_state, "scan", g_demo, NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "inventory: 0 new, 0 changed, 0 missing");
    result_free(&r);

    path_join(p, sizeof(p), g_demo, "misc/legacy.example.com.pem");
    assert_int_equal(unlink(p), 0);
    r = kw(g_state, "scan", g_demo, NULL);
    assert_contains(r.out, "1 missing");
    assert_contains(r.err, "legacy.example.com.pem: vanished");
    result_free(&r);
    arr = list_json(NULL, NULL);
    assert_string_equal(health_of(arr, "legacy.example.com.pem"), "warning");
    snprintf(idtext, sizeof(idtext), "%lld",
             (long long)json_integer_value(json_object_get(
                 find(arr, "source", "legacy.example.com.pem"), "id")));
    json_decref(arr);
    r = kw(g_state, "forget", idtext, NULL);
    assert_int_equal(r.status, 0);
    result_free(&r);
    r = kw(g_state, "list", NULL);
    assert_null(strstr(r.out, "legacy.example.com"));
    result_free(&r);
}

/* SIGKILL a scan once it has committed part of a large tree; the next
 * scan must finish the job with nothing lost or doubled. */
static void kill9_mid_scan(void **state)
{
    char tree[512], s1[512], s2[512], db1[600], db2[600];
    char *argv[6];
    int ofd, efd, status;
    pid_t pid;
    int64_t seen = 0;
    struct timespec t0, t1;
    result r;
    char *o, *e;

    (void)state;
    path_join(tree, sizeof(tree), g_dir, "big");
    path_join(s1, sizeof(s1), g_dir, "killed");
    path_join(s2, sizeof(s2), g_dir, "clean");
    snprintf(db1, sizeof(db1), "%s/keywarden.db", s1);
    snprintf(db2, sizeof(db2), "%s/keywarden.db", s2);
    tp_make_tree(tree, 30000, NOW, 7);

    argv[0] = (char *)KEYWARDEN_BIN;
    argv[1] = (char *)"--state-dir";
    argv[2] = s1;
    argv[3] = (char *)"scan";
    argv[4] = tree;
    argv[5] = NULL;
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    /* Wait for the first committed batch (poll the database, no blind
     * sleeping), then kill it mid-walk. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            fail_msg("scan finished before it could be killed");
        seen = db_int(db1, "SELECT count(*) FROM files");
        if (seen > 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > 60)
            fail_msg("no batch committed within 60 s");
        poll(NULL, 0, 1);
    }
    kill(pid, SIGKILL);
    proc_drain(ofd, efd, &o, &e);
    free(o);
    free(e);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    seen = db_int(db1, "SELECT count(*) FROM files");

    r = kw(s1, "scan", tree, NULL);
    assert_int_equal(r.status, 0);
    result_free(&r);
    r = kw(s2, "scan", tree, NULL);
    assert_int_equal(r.status, 0);
    result_free(&r);
    /* It really was killed half-way. */
    assert_true(seen > 0);
    assert_true(seen < db_int(db2, "SELECT count(*) FROM files"));
    assert_int_equal(db_int(db1, "SELECT count(*) FROM objects"),
                     db_int(db2, "SELECT count(*) FROM objects"));
    assert_int_equal(db_int(db1, "SELECT count(*) FROM files"),
                     db_int(db2, "SELECT count(*) FROM files"));
    assert_int_equal(db_int(db1, "SELECT count(DISTINCT fingerprint || "
                                     "source || position) FROM objects"),
                     db_int(db1, "SELECT count(*) FROM objects"));
    assert_int_equal(db_int(db1, "SELECT count(*) FROM objects WHERE "
                                     "state != 'ok'"),
                     0);
    assert_int_equal(db_int(db1, "SELECT count(*) FROM pragma_integrity_check "
                                     "WHERE integrity_check != 'ok'"),
                     0);
}

/* File names and certificate names are bytes, not UTF-8: a name with
 * 0xff, a CN with 0xfe and a SAN of many "*." labels in front of an
 * A-label must be scanned, listed as JSON (escaped) and shown. */
/* A self-signed certificate valid from yesterday for 90 days; sp is
 * kept for a second one with another serial. */
static X509 *leaf_90d(tp_spec *sp, const char *cn, const char *const *dns,
                      long serial, EVP_PKEY *k)
{
    memset(sp, 0, sizeof(*sp));
    sp->cn = cn;
    sp->dns = dns;
    sp->not_before = NOW - 86400;
    sp->not_after = NOW + 90 * 86400;
    sp->serial = serial;
    sp->key = k;
    return tp_cert(sp);
}

/* The line of text that starts with prefix, up to its newline. */
static char *line_of(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix), *e;

    if (p == NULL)
        fail_msg("no line \"%s\" in:\n%s", prefix, text);
    e = strchr(p, '\n');
    return strndup(p, e != NULL ? (size_t)(e - p) : strlen(p));
}

/* Is v the path in JSON: a string of exactly its bytes when it is UTF-8,
 * else {"base64": its bytes}? */
static int json_is_path(json_t *v, const char *path)
{
    unsigned char b64[1024];

    if (json_is_string(v))
        return strcmp(json_string_value(v), path) == 0;
    EVP_EncodeBlock(b64, (const unsigned char *)path, (int)strlen(path));
    return json_is_object(v) &&
           json_string_value(json_object_get(v, "base64")) != NULL &&
           strcmp(json_string_value(json_object_get(v, "base64")),
                  (const char *)b64) == 0;
}

static void odd_bytes(void **state)
{
    char dir[512], st[512], file[600], deep[600];
    const char *dns[] = {deep, NULL};
    EVP_PKEY *k = tp_key_ec();
    tp_spec sp;
    X509 *c;
    result r;
    json_t *arr, *o;
    size_t i, pos = 0;

    (void)state;
    path_join(dir, sizeof(dir), g_dir, "odd");
    path_join(st, sizeof(st), g_dir, "odd-state");
    tp_mkdirs(dir);
    for (i = 0; i < 200; i++)
        pos += (size_t)snprintf(deep + pos, sizeof(deep) - pos, "*.");
    snprintf(deep + pos, sizeof(deep) - pos, "xn--bcher-kva.example");
    c = leaf_90d(&sp, "caf\xfe.example", dns, 77, k);
    snprintf(file, sizeof(file), "%s/caf\xff.pem", dir);
    assert_int_equal(tp_write_pem(file, &c, 1, NULL, 0644), 0);
    X509_free(c);
    EVP_PKEY_free(k);

    r = kw(st, "scan", dir, NULL);
    if (r.status != 0)
        fail_msg("scan of a non-UTF-8 file name: %d\n%s", r.status, r.err);
    assert_contains(r.out, "1 new");
    result_free(&r);
    r = kw(st, "list", "--json", NULL);
    assert_int_equal(r.status, 0);
    arr = json_loads(r.out, 0, NULL);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 1);
    o = json_array_get(arr, 0);
    assert_true(json_is_path(json_object_get(o, "source"), file));
    assert_non_null(strstr(
        json_string_value(json_array_get(json_object_get(o, "sans_unicode"),
                                         0)),
        "*.*.b\xc3\xbc" "cher.example"));
    json_decref(arr);
    result_free(&r);
    r = kw(st, "show", "--json", "1", NULL);
    assert_int_equal(r.status, 0);
    arr = json_loads(r.out, 0, NULL);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 1);
    json_decref(arr);
    result_free(&r);
    r = kw(st, "list", NULL);
    assert_int_equal(r.status, 0);
    result_free(&r);
}

/* The first 4 KiB of a file, NUL-terminated; free it. */
static char *read_text(const char *path)
{
    char *text = calloc(1, 4096);
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(text);
    if (f == NULL)
        fail_msg("%s: cannot open", path);
    n = fread(text, 1, 4095, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

/* A file named with an ESC sequence and a newline, and one whose name is
 * not UTF-8: text output escapes them (no byte of the name can drive the
 * terminal or split a line), JSON carries their exact bytes in one
 * documented form, and hooks get them verbatim in the environment and
 * losslessly on stdin. */
static void hostile_names(void **state)
{
    char dir[512], st[512], esc[700], ff[700], conf[700], script[700],
        outdir[700], p[1200], *line;
    const char *dns[] = {"cafe.example", NULL};
    EVP_PKEY *k = tp_key_ec();
    struct timespec later[2] = {{time(NULL) + 60, 0}, {time(NULL) + 60, 0}};
    tp_spec sp;
    X509 *c;
    result r;
    json_t *arr, *o, *o_esc = NULL, *o_ff = NULL;
    size_t i, runs = 0;
    DIR *dh;
    struct dirent *de;
    FILE *f;
    int seen_esc = 0, seen_ff = 0;

    (void)state;
    path_join(dir, sizeof(dir), g_dir, "hostile");
    path_join(st, sizeof(st), g_dir, "hostile-state");
    path_join(outdir, sizeof(outdir), g_dir, "hostile-out");
    tp_mkdirs(dir);
    tp_mkdirs(outdir);
    snprintf(esc, sizeof(esc), "%s/bad\x1b[31mred\nline.pem", dir);
    snprintf(ff, sizeof(ff), "%s/caf\xff.pem", dir);
    /* Unreadable, so the object is named after its file. */
    tp_write_bytes(esc, "-----BEGIN CERTIFICATE-----\n!!!!\n", 33, 0644);
    c = leaf_90d(&sp, "cafe.example", dns, 78, k);
    assert_int_equal(tp_write_pem(ff, &c, 1, NULL, 0644), 0);
    X509_free(c);
    r = kw(st, "scan", dir, NULL);
    result_free(&r);

    /* Text: escaped, one line per row. */
    r = kw(st, "list", NULL);
    assert_int_equal(r.status, 0);
    assert_null(strchr(r.out, '\x1b'));
    assert_contains(r.out, "bad\\x1b[31mred\\x0aline.pem");
    result_free(&r);

    /* JSON: the exact bytes, a string when UTF-8, base64 when not. */
    r = kw(st, "list", "--json", NULL);
    assert_int_equal(r.status, 0);
    arr = json_loads(r.out, 0, NULL);
    assert_non_null(arr);
    json_array_foreach(arr, i, o)
    {
        if (json_is_path(json_object_get(o, "source"), esc))
            o_esc = o;
        if (json_is_path(json_object_get(o, "source"), ff))
            o_ff = o;
    }
    if (o_esc == NULL || o_ff == NULL)
        fail_msg("list --json does not carry both paths exactly:\n%s",
                 r.out);
    assert_true(json_is_string(json_object_get(o_esc, "source")));
    assert_true(json_is_object(json_object_get(o_ff, "source")));
    assert_true(json_is_path(json_array_get(json_object_get(o_ff, "files"),
                                            0),
                             ff));
    snprintf(p, sizeof(p), "%lld",
             (long long)json_integer_value(json_object_get(o_esc, "id")));
    json_decref(arr);
    result_free(&r);

    r = kw(st, "show", p, NULL);
    assert_int_equal(r.status, 0);
    assert_null(strchr(r.out, '\x1b'));
    line = line_of(r.out, "  source");
    assert_contains(line, "red\\x0aline.pem");
    free(line);
    result_free(&r);
    r = kw(st, "show", "--json", p, NULL);
    assert_int_equal(r.status, 0);
    arr = json_loads(r.out, 0, NULL);
    assert_true(json_is_path(json_object_get(json_array_get(arr, 0),
                                             "source"),
                             esc));
    json_decref(arr);
    result_free(&r);

    /* Hooks: the ff file changes and the esc file goes; each event's
     * path reaches the hook's environment as bytes and its stdin in the
     * JSON form above. */
    path_join(conf, sizeof(conf), g_dir, "hostile.conf");
    path_join(script, sizeof(script), g_dir, "hostile-hook.sh");
    f = fopen(script, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\n"
          "printf '%s' \"$KEYWARDEN_CERT_PATH\" > \"$1/env.$KEYWARDEN_EVENT_ID\"\n"
          "cat > \"$1/stdin.$KEYWARDEN_EVENT_ID\"\n",
          f);
    fclose(f);
    chmod(script, 0755);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f,
            "[daemon]\nmetrics_listen = off\n"
            "[hook \"dump\"]\non = object.*\nrun = %s %s\n",
            script, outdir);
    fclose(f);
    sp.serial = 79;
    c = tp_cert(&sp);
    assert_int_equal(tp_write_pem(ff, &c, 1, NULL, 0644), 0);
    X509_free(c);
    EVP_PKEY_free(k);
    utimensat(AT_FDCWD, ff, later, 0);
    assert_int_equal(unlink(esc), 0);
    r = kw(st, "scan", dir, NULL);
    result_free(&r);
    r = kw(st, "--config", conf, "hooks", "run", NULL);
    if (r.status != 0)
        fail_msg("hooks run: %d\n%s\n%s", r.status, r.out, r.err);
    result_free(&r);
    dh = opendir(outdir);
    assert_non_null(dh);
    while ((de = readdir(dh)) != NULL) {
        char *env, *in;
        json_t *doc, *ev;

        if (strncmp(de->d_name, "env.", 4) != 0)
            continue;
        runs++;
        snprintf(p, sizeof(p), "%s/%s", outdir, de->d_name);
        env = slurp(p, NULL);
        snprintf(p, sizeof(p), "%s/stdin.%s", outdir, de->d_name + 4);
        in = slurp(p, NULL);
        assert_non_null(env);
        assert_non_null(in);
        doc = json_loads(in, 0, NULL);
        if (doc == NULL)
            fail_msg("hook stdin is not JSON:\n%s", in);
        ev = json_array_get(json_object_get(doc, "events"), 0);
        if (strcmp(env, esc) == 0) {
            seen_esc = 1;
            assert_true(json_is_path(
                json_object_get(json_object_get(ev, "paths"), "cert"), esc));
            assert_true(json_is_path(
                json_object_get(json_object_get(ev, "detail"), "path"), esc));
        } else if (strcmp(env, ff) == 0) {
            seen_ff = 1;
            assert_true(json_is_path(
                json_object_get(json_object_get(ev, "paths"), "cert"), ff));
            assert_true(json_is_path(
                json_object_get(json_object_get(ev, "detail"), "path"), ff));
        } else {
            fail_msg("KEYWARDEN_CERT_PATH not verbatim: \"%s\"", env);
        }
        json_decref(doc);
        free(env);
        free(in);
    }
    closedir(dh);
    assert_true(runs >= 2);
    assert_true(seen_esc && seen_ff);

    /* History: an object named with control bytes is escaped too. */
    r = kw(st, "--config", conf, "hooks", "test", "dump", "--object",
           "evil\x1b]0;owned\x07\nname", NULL);
    result_free(&r);
    r = kw(st, "hooks", "history", "--output", NULL);
    assert_int_equal(r.status, 0);
    assert_null(strchr(r.out, '\x1b'));
    assert_null(strchr(r.out, '\x07'));
    assert_contains(r.out, "evil\\x1b]0;owned\\x07\\x0aname");
    result_free(&r);
}

/* Lines of text that contain needle. */
static int lines_with(const char *text, const char *needle)
{
    int n = 0;
    const char *p = text;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p = strchr(p, '\n');
        if (p == NULL)
            break;
    }
    return n;
}

/* Let's Encrypt's archive/NAME/cert1.pem and fullchain1.pem hold one
 * leaf: `list` shows one line for it, as unhealthy as the worse of the
 * two files (here fullchain1.pem holds its chain out of order), `show`
 * names both files, --files lists each, and `check` (which counts
 * objects) is unchanged. */
static void one_row_per_leaf(void **state)
{
    char dir[512], st[512], p[700], want[1200];
    const char *dns[] = {"site.example", NULL};
    EVP_PKEY *ck = tp_key_ec(), *k = tp_key_ec();
    tp_spec sp;
    X509 *ca, *leaf, *chain[2];
    result r;
    json_t *arr, *o, *files;
    size_t i;
    int rows = 0;

    (void)state;
    path_join(dir, sizeof(dir), g_dir, "le/archive/site.example");
    path_join(st, sizeof(st), g_dir, "le-state");
    tp_mkdirs(dir);
    memset(&sp, 0, sizeof(sp));
    sp.cn = "LE Test R3";
    sp.is_ca = 1;
    sp.not_before = NOW - 400 * 86400;
    sp.not_after = NOW + 900 * 86400;
    sp.serial = 1;
    sp.key = ck;
    ca = tp_cert(&sp);
    memset(&sp, 0, sizeof(sp));
    sp.cn = "site.example";
    sp.dns = dns;
    sp.not_before = NOW - 80 * 86400;
    sp.not_after = NOW + 60 * 86400;
    sp.serial = 2;
    sp.key = k;
    sp.issuer = ca;
    sp.issuer_key = ck;
    leaf = tp_cert(&sp);
    chain[0] = ca;
    chain[1] = leaf;
    snprintf(p, sizeof(p), "%s/cert1.pem", dir);
    assert_int_equal(tp_write_pem(p, chain + 1, 1, NULL, 0644), 0);
    snprintf(p, sizeof(p), "%s/chain1.pem", dir);
    assert_int_equal(tp_write_pem(p, chain, 1, NULL, 0644), 0);
    snprintf(p, sizeof(p), "%s/fullchain1.pem", dir);
    assert_int_equal(tp_write_pem(p, chain, 2, NULL, 0644), 0);
    snprintf(p, sizeof(p), "%s/privkey1.pem", dir);
    assert_int_equal(tp_write_key(p, k, 0600), 0);
    X509_free(leaf);
    X509_free(ca);
    EVP_PKEY_free(k);
    EVP_PKEY_free(ck);
    path_join(p, sizeof(p), g_dir, "le");
    r = kw(st, "scan", p, NULL);
    assert_int_equal(r.status, 0);
    result_free(&r);

    r = kw(st, "list", NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(lines_with(r.out, "site.example"), 1);
    assert_contains(r.out, "warning   fullchain1.pem: chain is out of order");
    assert_contains(r.out, "1 more file holds a certificate shown");
    result_free(&r);
    r = kw(st, "list", "--files", NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(lines_with(r.out, "site.example"), 2);
    result_free(&r);

    r = kw(st, "list", "--json", NULL);
    arr = json_loads(r.out, 0, NULL);
    assert_non_null(arr);
    json_array_foreach(arr, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "name")),
                   "site.example") != 0)
            continue;
        rows++;
        assert_string_equal(json_string_value(json_object_get(o, "health")),
                            "warning");
        files = json_object_get(o, "files");
        assert_int_equal(json_array_size(files), 2);
        assert_contains(json_string_value(json_array_get(files, 0)),
                        "/cert1.pem");
        assert_contains(json_string_value(json_array_get(files, 1)),
                        "/fullchain1.pem");
    }
    assert_int_equal(rows, 1);
    json_decref(arr);
    result_free(&r);

    r = kw(st, "show", "site.example", NULL);
    assert_int_equal(r.status, 0);
    snprintf(want, sizeof(want),
             "  files        %s/cert1.pem\n               %s/fullchain1.pem\n",
             dir, dir);
    assert_contains(r.out, want);
    result_free(&r);

    /* check counts objects, as before: both files, one warning. */
    r = kw(st, "check", NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "1 warning, 2 ok");
    result_free(&r);
}

/* certificate add/remove edit the configuration and keep the rest of it
 * byte for byte; a result that would not parse is not written. */
static void certificate_edit(void **state)
{
    char conf[600], *text;
    const char *before = "# my config\n[daemon]\nmetrics_listen = off   # "
                         "keep\n\n[certificate \"a\"]\nnames = "
                         "a.example.com\n\n# about scan\n[scan]\npath = "
                         "/etc/ssl\n";
    result r;
    FILE *f;

    (void)state;
    snprintf(conf, sizeof(conf), "%s/edit.conf", g_dir);
    f = fopen(conf, "w");
    assert_non_null(f);
    fputs(before, f);
    fclose(f);
    r = kw(g_state, "--config", conf, "certificate", "add", "b", "--names",
           "b.example.com, c.example.com", "--webroot", "/var/www", NULL);
    assert_int_equal(r.status, 0);
    result_free(&r);
    r = kw(g_state, "--config", conf, "certificate", "add", "x", "--names",
           "not a name", NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.err, "would not be valid, nothing written");
    result_free(&r);
    r = kw(g_state, "--config", conf, "certificate", "remove", "a", NULL);
    assert_int_equal(r.status, 0);
    result_free(&r);
    text = read_text(conf);
    assert_string_equal(text,
                        "# my config\n[daemon]\nmetrics_listen = off   # "
                        "keep\n\n\n# about scan\n[scan]\npath = "
                        "/etc/ssl\n\n[certificate \"b\"]\nnames = "
                        "b.example.com, c.example.com\nhttp01 = webroot\n"
                        "webroot = /var/www\n");
    free(text);
    r = kw(g_state, "--config", conf, "certificate", "list", "--json",
           NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "\"name\": \"b\"");
    assert_contains(r.out, "never issued");
    result_free(&r);
}

/* hooks test shows exactly what a hook receives, verbatim; config check
 * names a hook program that is not there; a test run is history, not a
 * delivery. */
static void hooks_commands(void **state)
{
    char conf[600], pwned[700], object[900], want[1000];
    result r;
    FILE *f;

    (void)state;
    snprintf(conf, sizeof(conf), "%s/hooks.conf", g_dir);
    snprintf(pwned, sizeof(pwned), "%s/PWNED", g_dir);
    snprintf(object, sizeof(object), "we \"ird\" 'x';$(touch %s) `id`",
             pwned);
    f = fopen(conf, "w");
    assert_non_null(f);
    fputs("[daemon]\nmetrics_listen = off\n"
          "[hook \"show\"]\non = cert.expiring\n"
          "run = /usr/bin/printenv KEYWARDEN_OBJECT KEYWARDEN_EVENT\n"
          "[hook \"gone\"]\non = cert.*\nrun = /nonexistent/reload-it\n",
          f);
    fclose(f);
    r = kw(g_state, "--config", conf, "config", "check", NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "warning: hook gone: /nonexistent/reload-it: No "
                           "such file or directory; the hook will fail");
    result_free(&r);
    r = kw(g_state, "--config", conf, "hooks", "test", "show", "--object",
           object, NULL);
    assert_int_equal(r.status, 0);
    snprintf(want, sizeof(want), "KEYWARDEN_OBJECT=%s\n", object);
    assert_contains(r.out, want);
    assert_contains(r.out, "KEYWARDEN_EVENT=cert.expiring\n");
    assert_contains(r.out, "== stdin\n");
    assert_contains(r.out, "\"object\": \"we \\\"ird\\\" 'x';$(touch ");
    /* printenv's output, in the history's words. */
    snprintf(want, sizeof(want), "    | %s\n    | cert.expiring\n", object);
    assert_contains(r.out, want);
    assert_int_not_equal(access(pwned, F_OK), 0);
    result_free(&r);
    r = kw(g_state, "--config", conf, "hooks", "test", "gone", NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "cannot run /nonexistent/reload-it");
    result_free(&r);
    r = kw(g_state, "--config", conf, "hooks", "test", "nosuch", NULL);
    assert_int_equal(r.status, 2);
    assert_contains(r.err, "no [hook \"nosuch\"]");
    result_free(&r);
    r = kw(g_state, "hooks", "history", "--json", NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "\"test\": true");
    assert_contains(r.out, "\"result\": \"error\"");
    result_free(&r);
    /* Tests are not deliveries: no runs counted, nothing pending. */
    r = kw(g_state, "--config", conf, "hooks", "list", NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "runs: 0 ok, 0 failed");
    assert_contains(r.out, "deliveries: 0 pending, 0 FAILED");
    result_free(&r);
}

/* A leaf valid until not_after, written alone to path. */
static void write_leaf(const char *path, const char *name, int64_t not_after,
                       long serial)
{
    const char *dns[] = {name, NULL};
    EVP_PKEY *k = tp_key_ec();
    X509 *c = tp_cert(&(tp_spec){.cn = name, .dns = dns,
                                 .not_before = NOW - 60 * 86400,
                                 .not_after = not_after, .serial = serial,
                                 .key = k});

    assert_int_equal(tp_write_pem(path, &c, 1, NULL, 0644), 0);
    X509_free(c);
    EVP_PKEY_free(k);
}

/* keywarden hooks run must succeed; returns what the hook wrote so far. */
static char *hooks_run_ok(const char *st, const char *conf, const char *got)
{
    result r = kw(st, "--config", conf, "hooks", "run", NULL);
    char *text;

    if (r.status != 0)
        fail_msg("hooks run: %d\n%s\n%s", r.status, r.out, r.err);
    result_free(&r);
    text = slurp(got, NULL);
    if (text == NULL)
        fail_msg("the hook wrote nothing to %s", got);
    return text;
}

/* Without a daemon (scan and hooks run from cron), expiry warnings still
 * reach the hooks: scan records cert.expiring for a certificate found 3
 * days before its end, and hooks run watches the deadlines that came
 * closer since (no new scan). */
static void cron_expiry_hooks(void **state)
{
    char dir[512], st[512], conf[600], got[600], file[700], *text;
    result r;
    FILE *f;

    (void)state;
    path_join(dir, sizeof(dir), g_dir, "cron");
    path_join(st, sizeof(st), g_dir, "cron-state");
    snprintf(conf, sizeof(conf), "%s/cron.conf", g_dir);
    snprintf(got, sizeof(got), "%s/cron-hook.json", g_dir);
    tp_mkdirs(dir);
    snprintf(file, sizeof(file), "%s/soon.pem", dir);
    write_leaf(file, "soon.example", NOW + 3 * 86400, 31);
    snprintf(file, sizeof(file), "%s/later.pem", dir);
    write_leaf(file, "later.example", NOW + 30 * 86400, 32);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f,
            "[daemon]\nmetrics_listen = off\n"
            "[hook \"warn\"]\non = cert.expiring\n"
            "run = /usr/bin/tee -a \"%s\"\n",
            got);
    fclose(f);

    r = kw(st, "--config", conf, "scan", dir, NULL);
    if (r.status != 0)
        fail_msg("scan: %d\n%s", r.status, r.err);
    result_free(&r);
    text = hooks_run_ok(st, conf, got);
    assert_contains(text, "\"type\": \"cert.expiring\"");
    assert_contains(text, "soon.example");
    assert_contains(text, "\"level\": \"critical\"");
    assert_null(strstr(text, "later.example"));
    free(text);

    /* Ten days on, with no scan in between: 20 days left is a warning. */
    setenv("KEYWARDEN_NOW", "1796515200", 1); /* NOW + 10 days */
    text = hooks_run_ok(st, conf, got);
    setenv("KEYWARDEN_NOW", NOW_TEXT, 1);
    assert_contains(text, "later.example");
    assert_contains(text, "\"level\": \"warning\"");
    free(text);
}

/* A FIFO named on the command line is an error that says what it is (and
 * the scan of nothing else fails); one inside a tree is a skipped file,
 * listed with -v. */
static void special_files_reported(void **state)
{
    char dir[512], st[512], fifo[600];
    result r;

    (void)state;
    path_join(dir, sizeof(dir), g_dir, "special");
    path_join(st, sizeof(st), g_dir, "special-state");
    tp_mkdirs(dir);
    snprintf(fifo, sizeof(fifo), "%s/cert.pem", dir);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    r = kw(st, "scan", fifo, NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.err, "cert.pem: cannot scan: a FIFO, not a "
                           "certificate file or directory");
    assert_contains(r.err, "none of the paths could be scanned");
    result_free(&r);
    r = kw(st, "scan", dir, NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "1 skipped (-v shows why)");
    result_free(&r);
    r = kw(st, "scan", "-v", dir, NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.err, "skipped: ");
    assert_contains(r.err, "cert.pem: a FIFO, not a regular file");
    result_free(&r);
}

/* The global options are taken after the command too, as systemd units
 * write them (ExecStart=keywarden serve --config FILE): --config and
 * --log-level reach the command, --state-dir=DIR with "=", and "--"
 * leaves what follows to the command. */
static void globals_after_command(void **state)
{
    char conf[600], other[600];
    result r;
    FILE *f;

    (void)state;
    snprintf(conf, sizeof(conf), "%s/after.conf", g_dir);
    f = fopen(conf, "w");
    assert_non_null(f);
    fputs("[scan]\nbogus_key = 1\n", f);
    fclose(f);
    r = kw(g_state, "config", "check", "--config", conf, NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.err, "after.conf");
    assert_contains(r.err, "bogus_key");
    result_free(&r);
    /* The command's own options and the global ones, mixed. */
    r = kw(g_state, "list", "--log-level", "debug", "--json", NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "\"source\"");
    result_free(&r);
    r = kw(g_state, "list", "--log-level", "loud", NULL);
    assert_int_equal(r.status, 2);
    assert_contains(r.err, "--log-level loud");
    result_free(&r);
    r = kw(g_state, "list", "--config", NULL);
    assert_int_equal(r.status, 2);
    assert_contains(r.err, "--config: expected a value");
    result_free(&r);
    snprintf(other, sizeof(other), "--state-dir=%s/after-state", g_dir);
    r = kw(g_state, "list", other, NULL);
    assert_contains(r.out[0] != '\0' ? r.out : r.err, "/after-state/");
    result_free(&r);
    /* After "--", "--config" is the command's argument (a path to scan). */
    r = kw(g_state, "scan", "--", "--config", NULL);
    assert_int_not_equal(r.status, 0);
    assert_contains(r.err, "--config");
    result_free(&r);
    /* serve takes it, as keywarden.service writes it: the broken file is
     * reported, not the option. */
    r = kw(g_state, "serve", "--config", conf, NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.err, "bogus_key");
    if (strstr(r.err, "unrecognized") != NULL)
        fail_msg("serve --config: %s", r.err);
    result_free(&r);
}

/* certificate add on a machine without a configuration creates it, and
 * its directory (0750), keeping the scan serve did without a file. */
static void certificate_add_creates_config(void **state)
{
    char dir[600], conf[700], *text;
    struct stat st;
    result r;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/fresh-etc/keywarden", g_dir);
    snprintf(conf, sizeof(conf), "%s/keywarden.conf", dir);
    r = kw(g_state, "--config", conf, "certificate", "add", "www",
           "--names", "www.example.com", NULL);
    if (r.status != 0)
        fail_msg("certificate add: %d\n%s", r.status, r.err);
    assert_contains(r.out, "added [certificate \"www\"]");
    result_free(&r);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(stat(conf, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    text = read_text(conf);
    assert_contains(text, "[scan]\npath = /etc/ssl\npath = "
                          "/etc/letsencrypt\n");
    assert_contains(text, "\n[certificate \"www\"]\nnames = "
                          "www.example.com\n");
    free(text);
    r = kw(g_state, "--config", conf, "config", "check", NULL);
    assert_int_equal(r.status, 0);
    result_free(&r);
    /* The second one goes into the file now there. */
    r = kw(g_state, "--config", conf, "certificate", "add", "mail",
           "--names", "mail.example.com", NULL);
    assert_int_equal(r.status, 0);
    result_free(&r);
    r = kw(g_state, "--config", conf, "certificate", "list", "--json",
           NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "\"name\": \"www\"");
    assert_contains(r.out, "\"name\": \"mail\"");
    result_free(&r);
}

/* A new user's Debian: Dovecot names a certificate that is not there.
 * discover says so, list and check show it critical with the
 * configuration file and line, and it is ok once the file is there. */
static void discover_missing_file(void **state)
{
    char st[600], dconf[600], sslconf[700], cert[600], text[1400], line[800];
    const char *h, *reason;
    json_error_t jerr;
    json_t *arr, *o;
    EVP_PKEY *k;
    X509 *x;
    result r;
    FILE *f;

    (void)state;
    snprintf(st, sizeof(st), "%s/disc-state", g_dir);
    snprintf(dconf, sizeof(dconf), "%s/dovecot/dovecot.conf", g_dir);
    snprintf(sslconf, sizeof(sslconf), "%s/dovecot/conf.d/10-ssl.conf",
             g_dir);
    snprintf(cert, sizeof(cert), "%s/dovecot-private/dovecot.pem", g_dir);
    snprintf(text, sizeof(text), "%s/dovecot/conf.d", g_dir);
    tp_mkdirs(text);
    f = fopen(dconf, "w");
    assert_non_null(f);
    fputs("!include conf.d/*.conf\n", f);
    fclose(f);
    f = fopen(sslconf, "w");
    assert_non_null(f);
    fprintf(f, "ssl = yes\nssl_cert = <%s\n", cert);
    fclose(f);

    r = kw(st, "discover", "--dovecot", dconf, "--postfix",
           "/nonexistent/postfix", "--nginx", "/nonexistent/nginx.conf",
           NULL);
    if (r.status != 0)
        fail_msg("discover: %d\n%s", r.status, r.err);
    snprintf(line, sizeof(line), "%s: MISSING, the daemon will not start",
             cert);
    assert_contains(r.out, line);
    assert_contains(r.out, "1 file these daemons load is missing");
    /* The endpoint's comment names the ssl_cert line, not "line 0". */
    snprintf(line, sizeof(line), "# dovecot, %s line 2\n", sslconf);
    assert_contains(r.out, line);
    result_free(&r);

    r = kw(st, "list", "--json", NULL);
    assert_int_equal(r.status, 0);
    arr = json_loads(r.out, 0, &jerr);
    assert_non_null(arr);
    o = find(arr, "source", "dovecot-private/dovecot.pem");
    h = json_string_value(json_object_get(o, "health"));
    reason = json_string_value(json_object_get(o, "reason"));
    assert_string_equal(h, "critical");
    snprintf(line, sizeof(line), "named by dovecot: %s line 2 (ssl_cert)",
             sslconf);
    assert_contains(reason, line);
    assert_contains(reason, "the daemon will not start or reload");
    json_decref(arr);
    result_free(&r);
    r = kw(st, "check", NULL);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "KEYWARDEN CRITICAL");
    assert_contains(r.out, line);
    result_free(&r);

    /* The file appears (ssl-cert's make-ssl-cert, or the operator). */
    snprintf(text, sizeof(text), "%s/dovecot-private", g_dir);
    tp_mkdirs(text);
    k = tp_key_ec();
    {
        static const char *const dns[] = {"mail.example.com", NULL};
        tp_spec sp = {.cn = "mail.example.com", .dns = dns,
                      .not_before = NOW - 86400,
                      .not_after = NOW + 60 * 86400, .serial = 11,
                      .key = k};
        x = tp_cert(&sp);
    }
    assert_int_equal(tp_write_pem(cert, &x, 1, NULL, 0644), 0);
    X509_free(x);
    EVP_PKEY_free(k);
    r = kw(st, "discover", "--dovecot", dconf, "--postfix",
           "/nonexistent/postfix", "--nginx", "/nonexistent/nginx.conf",
           NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "1 files added to the inventory (1 certificates");
    if (strstr(r.out, "MISSING") != NULL)
        fail_msg("still missing:\n%s", r.out);
    result_free(&r);
    r = kw(st, "list", "--json", NULL);
    assert_int_equal(r.status, 0);
    arr = json_loads(r.out, 0, &jerr);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 1);
    o = find(arr, "source", "dovecot-private/dovecot.pem");
    assert_string_equal(json_string_value(json_object_get(o, "health")),
                        "ok");
    assert_string_equal(json_string_value(json_object_get(o, "name")),
                        "mail.example.com");
    json_decref(arr);
    result_free(&r);
    r = kw(st, "check", NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "KEYWARDEN OK");
    result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_inventory),
        cmocka_unit_test(json_contract),
        cmocka_unit_test(demo_verdicts),
        cmocka_unit_test(filters),
        cmocka_unit_test(text_listing),
        cmocka_unit_test(check_plugin),
        cmocka_unit_test(show_object),
        cmocka_unit_test(usage_errors),
        cmocka_unit_test(rescan_and_forget),
        cmocka_unit_test(kill9_mid_scan),
        cmocka_unit_test(odd_bytes),
        cmocka_unit_test(hostile_names),
        cmocka_unit_test(one_row_per_leaf),
        cmocka_unit_test(certificate_edit),
        cmocka_unit_test(hooks_commands),
        cmocka_unit_test(globals_after_command),
        cmocka_unit_test(certificate_add_creates_config),
        cmocka_unit_test(discover_missing_file),
        cmocka_unit_test(cron_expiry_hooks),
        cmocka_unit_test(special_files_reported),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
