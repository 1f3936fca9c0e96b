/*
 * The page on `keywarden serve`'s metrics listener, against a real
 * inventory: certificates made at test time (one expired, one expiring,
 * one healthy in a file with a hostile name; hostile CNs; a DKIM
 * selector from [dkim "DOMAIN"], which has no deadline), fetched with
 * libcurl: problems first, the counts of `list --json`, a timeline mark
 * per object, the headers (CSP with the style's hash, nosniff, no
 * referrer), GET/HEAD only, /object/ID and its 404.  Then in headless
 * Chromium (Debian's package): the hostile names are text, no element of
 * theirs exists, the title is unchanged; a screenshot is kept.  And in a
 * private network namespace (root; `unshare -n`): a non-loopback address
 * without web_auth is refused at start naming the file and line, and with
 * it a request without the token gets 401.  A managed certificate (its
 * record written as the renewal writes it: live version, then the CA's
 * renewal window for its ARI identifier) has its renewal on the timeline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/x509.h>

#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acme/acme_ari.h"
#include "common/kw_time.h"
#include "keystore/ks_managed.h"
#include "keystore/ks_store_int.h"

#include "kwrun.h"
#include "proc.h"
#include "servers.h"
#include "testpki.h"
#include "tmpdir.h"

#define DAY 86400
#define IMG "<img src=x onerror=alert(1)>"
#define SCRIPT "\"><script>alert(1)</script>"

static char g_dir[256], g_state[512], g_conf[512], g_log[512], g_certs[512];
static char g_now[32];
static int64_t g_nowt;
static int g_port;
static pid_t g_kw;
static int g_netns; /* the test runs in its own network namespace */
static int g_may_refuse; /* a refused connection is status 0 (waiting) */

typedef struct fetched {
    long status;
    char *head, *body;
    size_t hlen, blen;
} fetched;

static size_t grow(char **p, size_t *len, const char *data, size_t n)
{
    char *np = realloc(*p, *len + n + 1);

    if (np == NULL)
        return 0;
    memcpy(np + *len, data, n);
    *len += n;
    np[*len] = '\0';
    *p = np;
    return n;
}

static size_t on_body(char *data, size_t sz, size_t n, void *ctx)
{
    fetched *f = ctx;

    return grow(&f->body, &f->blen, data, sz * n);
}

static size_t on_head(char *data, size_t sz, size_t n, void *ctx)
{
    fetched *f = ctx;

    return grow(&f->head, &f->hlen, data, sz * n);
}

/* method "GET", "HEAD" or "POST"; auth a header line or NULL. */
static fetched fetch(const char *host, int port, const char *path,
                     const char *method, const char *auth)
{
    fetched f = {0, NULL, NULL, 0, 0};
    struct curl_slist *h = NULL;
    char url[256];
    CURL *c = curl_easy_init();
    CURLcode rc;

    assert_non_null(c);
    snprintf(url, sizeof(url), "http://%s:%d%s", host, port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &f);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    if (auth != NULL) {
        h = curl_slist_append(NULL, auth);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    }
    rc = curl_easy_perform(c);
    if (rc == CURLE_COULDNT_CONNECT && g_may_refuse)
        f.status = 0;
    else if (rc != CURLE_OK)
        fail_msg("%s: %s", url, curl_easy_strerror(rc));
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (f.body == NULL)
        f.body = strdup("");
    if (f.head == NULL)
        f.head = strdup("");
    return f;
}

static void fetched_free(fetched *f)
{
    free(f->head);
    free(f->body);
}

static void cert(const char *file, const char *cn, int64_t nb, int64_t na)
{
    EVP_PKEY *k = tp_key_ec();
    tp_spec s;
    X509 *x;

    memset(&s, 0, sizeof(s));
    s.cn = cn;
    s.not_before = nb;
    s.not_after = na;
    s.serial = (long)(na % 100000);
    s.key = k;
    x = tp_cert(&s);
    assert_int_equal(tp_write_pem(kw_path(g_certs, file), &x, 1, NULL, 0644), 0);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* managed.pem, issued by a CA (an AKI, so an ARI identifier), valid
 * from 10 days ago for 90: the lifetime rule says due in 50 days, the
 * CA's window (20 to 22 days) brings it to 21. */
static X509 *g_managed;

static void managed_cert(void)
{
    EVP_PKEY *ck = tp_key_ec(), *k = tp_key_ec();
    X509 *ca = tp_cert(&(tp_spec){.cn = "Web CA", .is_ca = 1,
                                  .not_before = g_nowt - 30 * DAY,
                                  .not_after = g_nowt + 900 * DAY,
                                  .serial = 7, .key = ck});
    const char *dns[] = {"managed.example", NULL};

    g_managed = tp_cert(&(tp_spec){.cn = "managed.example", .dns = dns,
                                   .not_before = g_nowt - 10 * DAY,
                                   .not_after = g_nowt + 80 * DAY,
                                   .serial = 4242, .key = k, .issuer = ca,
                                   .issuer_key = ck});
    assert_int_equal(
        tp_write_pem(kw_path(g_certs, "managed.pem"), &g_managed, 1, NULL,
                     0644),
        0);
    X509_free(ca);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(k);
}

/* The record the renewal keeps for managed.example, written through the
 * keystore's own writers after the scan saw its file. */
static void managed_record(void)
{
    char db[600], fp[65] = "", *id;
    ks_store *s = NULL;
    sqlite3_stmt *st = NULL;
    kw_diag d;

    snprintf(db, sizeof(db), "%s/keywarden.db", g_state);
    if (ks_open(db, 0, &s, &d) != 0)
        fail_msg("%s", d.msg);
    assert_int_equal(sqlite3_prepare_v2(ks_db(s),
                                        "SELECT fingerprint FROM objects "
                                        "WHERE name = 'managed.example'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(fp, sizeof(fp), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    id = acme_ari_cert_id(g_managed, &d);
    assert_non_null(id);
    if (ks_managed_renewed(s, "managed.example", 1, 0, g_nowt - 10 * DAY,
                           g_nowt + 80 * DAY, fp, g_certs,
                           g_nowt + 50 * DAY, g_nowt, &d) != 0 ||
        ks_managed_ari(s, "managed.example", id, 1, g_nowt + 20 * DAY,
                       g_nowt + 22 * DAY, g_nowt + 21 * DAY,
                       g_nowt + DAY, "", g_nowt, &d) != 0)
        fail_msg("%s", d.msg);
    free(id);
    ks_close(s);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (; (hay = strstr(hay, needle)) != NULL; hay++)
        n++;
    return n;
}

static int wait_port(int port)
{
    return proc_until(port_open, &port, 15000);
}

/* Run ip(8) in the test's namespace. */
static int ip(const char *const argv[])
{
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        execv("/usr/sbin/ip", (char *const *)argv);
        _exit(127);
    }
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
                   WEXITSTATUS(st) == 0
               ? 0
               : -1;
}

static int setup(void **state)
{
    (void)state;
    /* A private network namespace (root only): the non-loopback address
     * lives on its own lo, never on a real interface. */
    if (unshare(CLONE_NEWNET) == 0 &&
        ip((const char *const[]){"ip", "link", "set", "lo", "up", NULL}) ==
            0 &&
        ip((const char *const[]){"ip", "addr", "add", "192.0.2.1/32", "dev",
                                 "lo", NULL}) == 0)
        g_netns = 1;
    else if (geteuid() == 0)
        fprintf(stderr, "note: no network namespace (unshare -n failed); "
                        "the non-loopback case is skipped\n");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tmpdir_make(g_dir, sizeof(g_dir), "web");
    path_join(g_state, sizeof(g_state), g_dir, "state");
    path_join(g_conf, sizeof(g_conf), g_dir, "keywarden.conf");
    path_join(g_log, sizeof(g_log), g_dir, "serve.log");
    path_join(g_certs, sizeof(g_certs), g_dir, "certs");
    tp_mkdirs(g_certs);
    g_nowt = (int64_t)time(NULL) / 60 * 60;
    {
        struct tm tm;
        time_t t = (time_t)g_nowt;

        gmtime_r(&t, &tm);
        strftime(g_now, sizeof(g_now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    cert("expired.pem", IMG, g_nowt - 100 * DAY, g_nowt - 2 * DAY);
    cert("expiring.pem", SCRIPT, g_nowt - 50 * DAY, g_nowt + 10 * DAY);
    cert("\"><svg onload=alert(1)>.pem", "ok.example", g_nowt - DAY,
         g_nowt + 200 * DAY);
    cert("soon.pem", "soon.example", g_nowt - DAY, g_nowt + 40 * DAY);
    managed_cert();
    {
        EVP_PKEY *k = tp_key_ed25519();

        assert_int_equal(tp_write_key(kw_path(g_dir, "s1.pem"), k, 0600), 0);
        EVP_PKEY_free(k);
    }
    g_port = free_port();
    /* The signers' default files are not this test's: named, absent. */
    write_text(g_conf,
               "[daemon]\nmetrics_listen = 127.0.0.1:%d\n"
               "web_horizon = 60\n"
               "[dkim]\nopendkim_conf = %s\nrspamd_conf = %s\n"
               "[dkim \"example.test\"]\nselector = s1\nkey = %s\n"
               "[hook \"fails\"]\non = cert.renewed\nshell = yes\n"
               "run = echo '<script>alert(1)</script>'; exit 3\n",
               g_port, kw_path(g_dir, "none.conf"), kw_path(g_dir, "none"),
               kw_path(g_dir, "s1.pem"));
    setenv("KEYWARDEN_NOW", g_now, 1);
    kwres r = kw_ok(g_state, g_conf, "scan", g_certs);
    kwres_free(&r);
    r = kw_ok(g_state, g_conf, "scan", "--dkim");
    kwres_free(&r);
    managed_record();
    g_kw = kw_serve_start(g_state, g_conf, g_now, NULL, g_log);
    assert_true(wait_port(g_port));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_serve_kill(&g_kw);
    X509_free(g_managed);
    curl_global_cleanup();
    tmpdir_remove(g_dir);
    return 0;
}

/* The page and the `list --json` it must agree with, read while nothing
 * changed (the daemon's DKIM check may update a selector meanwhile: the
 * listing before and after the page must be the same). */
static void stable_page(kwres *r, fetched *f)
{
    int i;

    for (i = 0; i < 20; i++) {
        kwres after;

        *r = kw_ok(g_state, g_conf, "list", "--json");
        *f = fetch("127.0.0.1", g_port, "/", "GET", NULL);
        after = kw_ok(g_state, g_conf, "list", "--json");
        if (strcmp(r->out, after.out) == 0) {
            kwres_free(&after);
            return;
        }
        kwres_free(&after);
        kwres_free(r);
        fetched_free(f);
        usleep(200000);
    }
    fail_msg("the inventory kept changing under the page");
}

/* managed.example: its element says the renewal comes in the CA's
 * window (21 days), not by the lifetime rule (50), and its timeline row
 * carries the renewal's diamond and the window's bar; no other row does. */
static void managed_on_page(const json_t *doc, const char *body)
{
    const json_t *o = NULL, *rn;
    char want[128], at[32];
    const char *row, *end;
    size_t i;

    for (i = 0; i < json_array_size(doc); i++)
        if (strcmp(json_string_value(json_object_get(
                       json_array_get(doc, i), "name")),
                   "managed.example") == 0)
            o = json_array_get(doc, i);
    assert_non_null(o);
    rn = json_object_get(o, "renewal");
    assert_non_null(rn);
    kw_time_rfc3339(g_nowt + 21 * DAY, at, sizeof(at));
    assert_string_equal(json_string_value(json_object_get(rn, "basis")),
                        "ari-window");
    assert_string_equal(json_string_value(json_object_get(rn, "verdict")),
                        "scheduled");
    assert_string_equal(json_string_value(json_object_get(rn, "renew_at")),
                        at);
    assert_string_equal(json_string_value(json_object_get(o, "renewal_at")),
                        at);
    kw_time_rfc3339(g_nowt + 50 * DAY, want, sizeof(want));
    assert_string_equal(
        json_string_value(json_object_get(rn, "lifetime_due")), want);
    assert_int_equal(count(body, "<path class=\"mark renewal\""), 1);
    assert_int_equal(count(body, "<rect class=\"renewal-window\""), 1);
    snprintf(want, sizeof(want), "<g class=\"row\" data-id=\"%lld\">",
             (long long)json_integer_value(json_object_get(o, "id")));
    row = strstr(body, want);
    assert_non_null(row);
    end = strstr(row, "</g>");
    assert_non_null(end);
    snprintf(want, sizeof(want), "<title>ACME renewal %s</title>", at);
    assert_true(strstr(row, "<path class=\"mark renewal\"") != NULL &&
                strstr(row, "<path class=\"mark renewal\"") < end);
    assert_true(strstr(row, want) != NULL && strstr(row, want) < end);
    assert_true(strstr(row, "<rect class=\"renewal-window\"") != NULL &&
                strstr(row, "<rect class=\"renewal-window\"") < end);
    /* Plain `list` says it too (its rows are read from the index
     * alone, so the renewal is found without the row's fingerprint),
     * on managed.example's row and no other. */
    {
        kwres r = kw_ok(g_state, g_conf, "list");
        const char *hit, *bol;

        snprintf(want, sizeof(want), "renewal at %.16sZ (scheduled)\n", at);
        hit = strstr(r.out, want);
        if (hit == NULL)
            fail_msg("list does not say \"%s\":\n%s", want, r.out);
        for (bol = hit; bol > r.out && bol[-1] != '\n'; bol--)
            ;
        assert_true(strstr(bol, "managed.example") != NULL &&
                    strstr(bol, "managed.example") < hit);
        assert_int_equal(count(r.out, "renewal "), 1);
        kwres_free(&r);
    }
    /* show says the same, in words and in its JSON. */
    {
        kwres r = kw_ok(g_state, g_conf, "show", "managed.example");
        json_t *js;

        snprintf(want, sizeof(want), "  renewal      %s (in ", at);
        assert_contains(r.out, want);
        assert_contains(r.out, "; scheduled, in the CA's renewal window) "
                               "for [certificate \"managed.example\"]\n");
        kwres_free(&r);
        r = kw_ok(g_state, g_conf, "show", "--json", "managed.example");
        js = json_loads(r.out, 0, NULL);
        assert_non_null(js);
        assert_string_equal(
            json_string_value(json_object_get(
                json_object_get(json_array_get(js, 0), "renewal"), "basis")),
            "ari-window");
        json_decref(js);
        kwres_free(&r);
    }
}

static void page_matches_list_json(void **state)
{
    kwres r;
    fetched f;
    json_t *doc, *o;
    size_t counts[4] = {0, 0, 0, 0}, i, rows = 0;
    static const char *const words[] = {"critical", "warning", "unknown",
                                        "ok"};
    char want[128], *crit, *warn, *tl;
    int k;

    stable_page(&r, &f);
    doc = json_loads(r.out, 0, NULL);
    (void)state;
    assert_non_null(doc);
    assert_int_equal(f.status, 200);
    assert_contains(f.head, "Content-Type: text/html; charset=utf-8");
    assert_contains(f.head, "Content-Security-Policy: default-src 'none'; "
                            "style-src 'sha256-");
    assert_contains(f.head, "X-Content-Type-Options: nosniff");
    assert_contains(f.head, "Referrer-Policy: no-referrer");
    assert_int_equal(json_array_size(doc), 6);
    for (i = 0; i < json_array_size(doc); i++) {
        const char *h;

        o = json_array_get(doc, i);
        h = json_string_value(json_object_get(o, "health"));
        for (k = 0; k < 4; k++)
            if (strcmp(h, words[k]) == 0)
                counts[k]++;
        /* Every object with a deadline has its timeline mark (the DKIM
         * selector has none), and every object its table row. */
        snprintf(want, sizeof(want), "<g class=\"row\" data-id=\"%lld\">",
                 (long long)json_integer_value(json_object_get(o, "id")));
        if (json_is_string(json_object_get(o, "deadline"))) {
            assert_contains(f.body, want);
            rows++;
        } else {
            assert_string_equal(
                json_string_value(json_object_get(o, "kind")), "dkim");
            assert_not_contains(f.body, want);
        }
        snprintf(want, sizeof(want), "<tr class=\"h-%s\" data-id=\"%lld\">",
                 h, (long long)json_integer_value(json_object_get(o, "id")));
        assert_contains(f.body, want);
    }
    snprintf(want, sizeof(want), "<span id=\"n-total\">%zu</span>",
             json_array_size(doc));
    assert_contains(f.body, want);
    for (k = 0; k < 4; k++) {
        snprintf(want, sizeof(want),
                 "<span id=\"n-%s\" class=\"h-%s\">%zu</span>", words[k],
                 words[k], counts[k]);
        assert_contains(f.body, want);
    }
    /* Expired and 10 days left: critical and warning, problems first. */
    assert_int_equal(counts[0], 1);
    assert_int_equal(counts[1], 1);
    crit = strstr(f.body, "<li class=\"problem h-critical\"");
    warn = strstr(f.body, "<li class=\"problem h-warning\"");
    tl = strstr(f.body, "<section id=\"timeline\"");
    assert_non_null(crit);
    assert_non_null(warn);
    assert_true(crit < warn && warn < tl);
    assert_contains(f.body, "Timeline: the next 60 days");
    assert_int_equal(rows, 5);
    assert_int_equal(count(f.body, "<circle class=\"mark\""), rows);
    managed_on_page(doc, f.body);
    assert_contains(f.body, "s1._domainkey.example.test");
    /* The hostile names as text. */
    assert_contains(f.body, "&lt;img src=x onerror=alert(1)&gt;");
    assert_contains(f.body, "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    assert_not_contains(f.body, IMG);
    assert_not_contains(f.body, "<script");
    json_decref(doc);
    kwres_free(&r);
    fetched_free(&f);
}

static void object_and_methods(void **state)
{
    kwres r = kw_ok(g_state, g_conf, "list", "--json");
    json_t *doc = json_loads(r.out, 0, NULL), *o = NULL;
    char path[64];
    size_t i;
    fetched f;

    (void)state;
    for (i = 0; i < json_array_size(doc); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(doc, i),
                                                     "name")),
                   IMG) == 0)
            o = json_array_get(doc, i);
    assert_non_null(o);
    snprintf(path, sizeof(path), "/object/%lld",
             (long long)json_integer_value(json_object_get(o, "id")));
    f = fetch("127.0.0.1", g_port, path, "GET", NULL);
    assert_int_equal(f.status, 200);
    assert_contains(f.head, "Content-Security-Policy: ");
    assert_contains(f.body, "<title>&lt;img src=x onerror=alert(1)&gt;");
    assert_contains(f.body, "<p id=\"health\" class=\"h-critical\">");
    assert_contains(f.body, "<section id=\"events\">");
    assert_contains(f.body, "expired.pem");
    assert_not_contains(f.body, IMG);
    fetched_free(&f);
    f = fetch("127.0.0.1", g_port, "/object/999999", "GET", NULL);
    assert_int_equal(f.status, 404);
    fetched_free(&f);
    f = fetch("127.0.0.1", g_port, "/object/1x", "GET", NULL);
    assert_int_equal(f.status, 404);
    fetched_free(&f);
    /* The table filtered by a query: the DKIM selector alone; a filter
     * the page does not know is a 400 that says so, escaped. */
    f = fetch("127.0.0.1", g_port, "/?kind=dkim", "GET", NULL);
    assert_int_equal(f.status, 200);
    assert_contains(f.body, "<p id=\"shown\">1 of 6 shown.</p>");
    assert_int_equal(count(f.body, "<tr class="), 1);
    fetched_free(&f);
    f = fetch("127.0.0.1", g_port, "/?health=%3Cb%3E", "GET", NULL);
    assert_int_equal(f.status, 400);
    assert_contains(f.body, "bad query: health=%3Cb%3E: expected one of");
    fetched_free(&f);
    f = fetch("127.0.0.1", g_port, "/", "POST", NULL);
    assert_int_equal(f.status, 405);
    fetched_free(&f);
    f = fetch("127.0.0.1", g_port, "/", "HEAD", NULL);
    assert_int_equal(f.status, 200);
    assert_int_equal(f.blen, 0);
    assert_contains(f.head, "Content-Length: ");
    fetched_free(&f);
    json_decref(doc);
    kwres_free(&r);
}

/* /jobs: the jobs `keywarden status` lists, read while they stayed. */
/* /hooks after the hook "fails" ran and failed (`hooks test`: it leaves
 * the objects' health alone): the hook with its event and command, the
 * failed run with its exit status and its output as text. */
static void hooks_page(void **state)
{
    kwres r = kw_expect(1, g_state, g_conf,
                        (const char *[]){"hooks", "test", "fails", NULL});
    fetched f, root;

    (void)state;
    kwres_free(&r);
    f = fetch("127.0.0.1", g_port, "/hooks", "GET", NULL);
    assert_int_equal(f.status, 200);
    assert_contains(f.head, "Content-Security-Policy: default-src 'none'");
    assert_contains(f.body, "<td>fails</td><td>cert.renewed</td><td><code>"
                            "sh -c echo &#39;&lt;script&gt;alert(1)&lt;/"
                            "script&gt;&#39;; exit 3</code></td>");
    assert_contains(f.body, "<tr class=\"run h-critical\">");
    assert_contains(f.body,
                    "<td class=\"result\">failed (test)</td><td>3</td>");
    /* The output: the command line the engine writes first, then the
     * script's own line, as text. */
    assert_contains(f.body, "<pre class=\"output\">+ /bin/sh -c echo "
                            "&#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;; "
                            "exit 3\n&lt;script&gt;alert(1)&lt;/script&gt;\n"
                            "</pre>");
    /* (The daemon may also have delivered managed.example's cert.renewed
     * to the hook by now: a second failed run.) */
    assert_not_contains(f.body, "<span id=\"n-failed\" class=\"h-critical\">"
                                "0</span>");
    assert_not_contains(f.body, "<script");
    root = fetch("127.0.0.1", g_port, "/", "GET", NULL);
    assert_contains(root.body, "<a href=\"/hooks\">");
    fetched_free(&root);
    fetched_free(&f);
}

static void jobs_page(void **state)
{
    int i;

    (void)state;
    for (i = 0; i < 20; i++) {
        kwres a = kw_ok(g_state, g_conf, "status");
        fetched f = fetch("127.0.0.1", g_port, "/jobs", "GET", NULL);
        kwres b = kw_ok(g_state, g_conf, "status");
        int same = strcmp(a.out, b.out) == 0;

        if (same) {
            char want[64], *line, *save = NULL;
            size_t n = 0;

            assert_int_equal(f.status, 200);
            assert_contains(f.head, "Content-Security-Policy: ");
            assert_contains(f.body, "<table id=\"jobs\">");
            for (line = strtok_r(a.out, "\n", &save); line != NULL;
                 line = strtok_r(NULL, "\n", &save)) {
                char type[32];

                if (strncmp(line, "  ", 2) != 0)
                    continue;
                n++;
                assert_int_equal(sscanf(line, " %31s", type), 1);
                snprintf(want, sizeof(want), "<td>%s</td>", type);
                assert_contains(f.body, want);
            }
            assert_true(n > 0); /* the DKIM check at least */
            snprintf(want, sizeof(want), "<span id=\"n-jobs\">%zu</span>",
                     n);
            assert_contains(f.body, want);
        }
        kwres_free(&a);
        kwres_free(&b);
        fetched_free(&f);
        if (same)
            return;
        usleep(200000);
    }
    fail_msg("the jobs kept changing under the page");
}

/* Run argv (absolute path) with stdout into a malloc'd string; 60 s. */
static char *run_out(const char *const argv[], int *status)
{
    int ofd = -1, efd = -1;
    char *out = NULL, *err = NULL;
    pid_t pid = proc_spawn_pipes((char *const *)argv, &ofd, &efd);

    assert_true(pid > 0);
    proc_drain(ofd, efd, &out, &err);
    *status = proc_wait(pid, 60000);
    free(err);
    return out != NULL ? out : strdup("");
}

static void in_chromium(void **state)
{
    char url[64], shot[600], opt[700], prof[600], popt[700];
    int st;
    char *dom;

    (void)state;
    if (access("/usr/bin/chromium", X_OK) != 0) {
        fprintf(stderr, "SKIPPED: /usr/bin/chromium is not installed "
                        "(tests/deps.sh installs it)\n");
        skip();
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", g_port);
    path_join(prof, sizeof(prof), g_dir, "chromium-profile");
    snprintf(popt, sizeof(popt), "--user-data-dir=%s", prof);
    {
        const char *argv[] = {"/usr/bin/chromium", "--headless", "--no-sandbox",
                        "--disable-gpu", popt, "--dump-dom", url, NULL};

        dom = run_out(argv, &st);
    }
    assert_int_equal(st, 0);
    /* The DOM as Chromium built it: the names are text nodes (serialized
     * escaped), no element of theirs exists, and the title is ours. */
    assert_contains(dom, "<title>keywarden</title>");
    assert_contains(dom, "&lt;img src=x onerror=alert(1)&gt;");
    assert_contains(dom, "\"&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    assert_not_contains(dom, "<img");
    assert_not_contains(dom, "<script");
    assert_not_contains(dom, "onerror=\"");
    assert_contains(dom, "<section id=\"problems\">");
    assert_true(count(dom, "<circle class=\"mark\"") == 5);
    /* The managed certificate's renewal, a shape of its own. */
    assert_true(count(dom, "<path class=\"mark renewal\"") == 1);
    free(dom);
    snprintf(shot, sizeof(shot), "%s/web_page.png", ARTIFACT_DIR);
    snprintf(opt, sizeof(opt), "--screenshot=%s", shot);
    unlink(shot);
    {
        const char *argv[] = {"/usr/bin/chromium", "--headless", "--no-sandbox",
                        "--disable-gpu", popt, "--window-size=1100,900",
                        opt, url, NULL};

        free(run_out(argv, &st));
    }
    assert_int_equal(st, 0);
    {
        struct stat sb;

        assert_int_equal(stat(shot, &sb), 0);
        assert_true(sb.st_size > 1000);
        fprintf(stderr, "screenshot: %s (%lld bytes)\n", shot,
                (long long)sb.st_size);
    }
}

static void off_loopback_needs_token(void **state)
{
    char conf[600], log[600];
    int port = free_port();
    pid_t pid;
    fetched f;
    kwres r;

    (void)state;
    if (!g_netns) {
        fprintf(stderr, "SKIPPED: no private network namespace here (needs "
                        "root and unshare(CLONE_NEWNET))\n");
        skip();
    }
    path_join(conf, sizeof(conf), g_dir, "open.conf");
    path_join(log, sizeof(log), g_dir, "open.log");
    /* Without web_auth: refused at start, naming the file and line. */
    write_text(conf, "[daemon]\nlog_level = info\n"
                     "metrics_listen = 192.0.2.1:%d\n",
               port);
    r = kw(g_state, conf, "serve");
    assert_int_not_equal(r.status, 0);
    {
        char want[700];

        snprintf(want, sizeof(want), "%s:3: metrics_listen = 192.0.2.1:%d "
                                     "is not a loopback address",
                 conf, port);
        assert_contains(r.err, want);
    }
    kwres_free(&r);
    /* With it (sha256 of "s3cret"): 401 without the token, 200 with. */
    write_text(conf,
               "[daemon]\nmetrics_listen = 192.0.2.1:%d\nweb_auth = "
               "sha256:1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940"
               "ba3670f99fcba0\n",
               port);
    kw_serve_stop(&g_kw); /* one daemon per state directory */
    pid = kw_serve_start(g_state, conf, g_now, NULL, log);
    g_may_refuse = 1;
    for (int i = 0; i < 150; i++) {
        f = fetch("192.0.2.1", port, "/healthz", "GET", NULL);
        if (f.status == 200)
            break;
        fetched_free(&f);
        f.body = f.head = NULL;
        usleep(100000);
    }
    g_may_refuse = 0;
    assert_int_equal(f.status, 200); /* /healthz stays open */
    fetched_free(&f);
    f = fetch("192.0.2.1", port, "/", "GET", NULL);
    assert_int_equal(f.status, 401);
    assert_contains(f.head, "WWW-Authenticate: Bearer");
    assert_not_contains(f.body, "&lt;img");
    fetched_free(&f);
    f = fetch("192.0.2.1", port, "/metrics", "GET",
              "Authorization: Bearer wrong");
    assert_int_equal(f.status, 401);
    fetched_free(&f);
    /* Only the Authorization header counts, and a value past its bound
     * (512 bytes) is cut, never matched. */
    f = fetch("192.0.2.1", port, "/", "GET",
              "X-Authorization: Bearer s3cret");
    assert_int_equal(f.status, 401);
    fetched_free(&f);
    {
        char big[700];

        snprintf(big, sizeof(big), "Authorization: Bearer s3cret%0600d", 0);
        f = fetch("192.0.2.1", port, "/", "GET", big);
        assert_int_equal(f.status, 401);
        fetched_free(&f);
    }
    f = fetch("192.0.2.1", port, "/", "GET", "Authorization: Bearer s3cret");
    assert_int_equal(f.status, 200);
    assert_contains(f.body, "&lt;img src=x onerror=alert(1)&gt;");
    fetched_free(&f);
    kw_serve_stop(&pid);
    g_kw = kw_serve_start(g_state, g_conf, g_now, NULL, g_log);
    assert_true(wait_port(g_port));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(page_matches_list_json),
        cmocka_unit_test(object_and_methods),
        cmocka_unit_test(jobs_page),
        cmocka_unit_test(hooks_page),
        cmocka_unit_test(in_chromium),
        cmocka_unit_test(off_loopback_needs_token),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
