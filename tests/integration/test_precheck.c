/*
 * test_precheck.c: the HTTP-01 pre-check against real nginx vhosts on
 * 127.0.0.1, names resolved through pebble-challtestsrv, and, for every
 * case, a real Pebble http-01 validation of the same name (keywarden
 * renew with a webroot nginx serves) whose outcome must agree with the
 * pre-check's verdict, except where Pebble is knowingly more lenient
 * than Let's Encrypt's production VA:
 *
 *   - badport: Pebble follows a redirect to any port (here an HTTPS
 *     listener that serves the webroot); Let's Encrypt follows only 80
 *     and 443, so keywarden says BAD_PORT.
 *   - see303: Pebble's Go client follows a 303; Boulder refuses any
 *     status but 301/302/307/308, so keywarden says BAD_STATUS.
 *
 * Ports: http_port (Pebble's httpPort) stands for 80 and https_port for
 * 443.  TLS 1.0: Debian 12's OpenSSL 3 still negotiates TLSv1 when nginx
 * says ssl_protocols TLSv1 with ciphers at @SECLEVEL=0; the test checks
 * that with openssl s_client first and skips that case's premise if not.
 *
 * Then a fuzz-style run: an in-process HTTP server answers random
 * redirect chains (statuses, Locations, loops, long chains, bodies,
 * garbage, dropped connections); every run must end with a verdict within
 * a bound, without a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "acme/acme_precheck.h"
#include "pebble.h"
#include "proc.h"
#include "servers.h"
#include "testpki.h"
#include "tmpdir.h"

#define TOK "pcProbeToken_0123456789-abcdefghijklmnopqrs"
#define KA TOK ".thumbprint_0123456789-abcdefghijklmnopqrstu"

static char g_dir[512], g_www[700], g_empty[700];
static pb_pki g_pki;
static pb_dns g_dns;
static pebble g_peb;
static int g_http, g_https, g_xport, g_tls1;
static int g_tls1_works;

/* ----- running one pre-check ---------------------------------------------- */

typedef struct run_ctx {
    int done;
    acme_precheck_result r;
} run_ctx;

static void on_result(void *ctx, const acme_precheck_result *r)
{
    run_ctx *c = ctx;

    assert_int_equal(acme_precheck_result_copy(&c->r, r), 0);
    c->done = 1;
}

/* Runs the check of name on a fresh loop; the result in *out (malloc'd). */
static acme_precheck_result *precheck(const char *name, int http_port,
                                      int https_port, int walk_ms,
                                      int connect_ms)
{
    uv_loop_t loop;
    run_ctx *c = calloc(1, sizeof(*c));
    acme_precheck_opts o;
    acme_precheck_result *out;
    kw_dns_server res;
    kw_diag d;

    assert_non_null(c);
    memset(&o, 0, sizeof(o));
    memset(&res, 0, sizeof(res));
    snprintf(res.addr, sizeof(res.addr), "127.0.0.1");
    res.port = g_dns.dns_port;
    o.resolver = &res;
    o.rules.http_port = http_port;
    o.rules.https_port = https_port;
    o.rules.allow_reserved = 1; /* everything here is 127.0.0.1 */
    o.walk_ms = walk_ms;
    o.connect_ms = connect_ms;
    o.dns_ms = 2000;
    uv_loop_init(&loop);
    if (acme_precheck_run(&loop, &o, name, TOK, KA, on_result, c, &d) != 0)
        fail_msg("acme_precheck_run %s: %s", name, d.msg);
    assert_false(c->done); /* never from inside the call */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(c->done);
    assert_int_equal(uv_loop_close(&loop), 0);
    out = malloc(sizeof(*out));
    assert_non_null(out);
    *out = c->r;
    free(c);
    return out;
}

static void show(const acme_precheck_result *r)
{
    char hops[8192];
    int i;

    print_message("%s: %s (%s) %.2f s\n  why: %s\n", r->name,
                  acme_pc_verdict_name(r->verdict), r->ok ? "ok" : "fail",
                  r->elapsed, r->why);
    for (i = 0; i < 2; i++) {
        if (r->walks[i].family == 0)
            continue;
        acme_precheck_hops_text(&r->walks[i], hops, sizeof(hops));
        print_message("  IPv%d %s:\n%s", r->walks[i].family,
                      acme_pc_verdict_name(r->walks[i].verdict), hops);
    }
}

/* ----- a real Pebble validation -------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* keywarden renew of one http-01 webroot certificate for name against
 * Pebble.  enforce: the pre-check on (the default), pointed at what
 * Pebble's validator uses; else precheck = off, so that Pebble's own
 * validation decides.  The exit status; stdout and stderr in *out and
 * *err (malloc'd). */
static int renew_one(const char *name, int enforce, char **out, char **err)
{
    char dir[900], state[1000], conf[1000], text[4096];
    char *argv[8];
    int ofd, efd, st;
    pid_t pid;

    snprintf(dir, sizeof(dir), "%s/%s-%s", g_dir, enforce ? "enf" : "kw",
             name);
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(conf, sizeof(conf), "%s/keywarden.conf", dir);
    tp_mkdirs(state);
    snprintf(text, sizeof(text),
             "[daemon]\nmetrics_listen = off\n"
             "[acme]\ndirectory = %s\nca_file = %s\n"
             "http01_listen = 127.0.0.1:%d\n"
             "contact = mailto:ops@example.com\n"
             "resolver = 127.0.0.1:%d\nvalidation_http_port = %d\n"
             "validation_https_port = %d\nvalidation_allow_private = yes\n"
             "[certificate \"c\"]\nnames = %s\nhttp01 = webroot\n"
             "webroot = %s\nprecheck = %s\n",
             g_peb.directory, g_pki.ca_pem, free_port(), g_dns.dns_port,
             g_http, g_https, name, g_www, enforce ? "enforce" : "off");
    write_file(conf, text);
    argv[0] = (char *)KEYWARDEN_BIN;
    argv[1] = (char *)"--state-dir";
    argv[2] = state;
    argv[3] = (char *)"--config";
    argv[4] = conf;
    argv[5] = (char *)"renew";
    argv[6] = NULL;
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    assert_true(pid > 0);
    proc_drain(ofd, efd, out, err);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* 1 when Pebble validated name (a certificate was issued), else 0. */
static int pebble_validates(const char *name)
{
    char *out = NULL, *err = NULL;
    int st = renew_one(name, 0, &out, &err);
    int issued = st == 0 && out != NULL && strstr(out, "issued") != NULL;

    if (!issued)
        print_message("  pebble/keywarden renew %s: exit %d\n  %.600s\n",
                      name, st, err != NULL ? err : "");
    free(out);
    free(err);
    return issued;
}

/* precheck = enforce (the default): a dropped path places no order; a
 * broken AAAA with working IPv4 orders all the same (Let's Encrypt falls
 * back to IPv4 once) and says so; a passing name is issued. */
static void enforce_decisions(void **state)
{
    char *out = NULL, *err = NULL;

    (void)state;
    assert_int_equal(renew_one("dropped.pc.example.com", 1, &out, &err),
                     1);
    assert_non_null(strstr(out, "no order placed"));
    assert_non_null(strstr(out, "PATH_DROPPED"));
    free(out);
    free(err);
    renew_one("aaaa.pc.example.com", 1, &out, &err);
    assert_non_null(strstr(err, "the CA falls back to IPv4"));
    assert_null(strstr(out, "no order placed"));
    free(out);
    free(err);
    assert_int_equal(renew_one("plain.pc.example.com", 1, &out, &err), 0);
    assert_non_null(strstr(out, "issued"));
    free(out);
    free(err);
}

/* The pre-check's veto comes before anything is made for an order: no
 * key waits in pending/, no attempt is counted.  The names are recorded
 * all the same, so the next run backs off instead of checking again. */
static void veto_before_the_key(void **state)
{
    char dir[900], p[1200], db[1200];
    char *out = NULL, *err = NULL;
    struct stat sb;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/enf-dropped.pc.example.com", g_dir);
    tmpdir_remove(dir);
    assert_int_equal(renew_one("dropped.pc.example.com", 1, &out, &err),
                     1);
    assert_non_null(strstr(out, "no order placed"));
    free(out);
    free(err);
    snprintf(p, sizeof(p), "%s/state/certs/pending/c.key.pem", dir);
    assert_int_equal(stat(p, &sb), -1);
    snprintf(db, sizeof(db), "%s/state/keywarden.db", dir);
    assert_int_equal(db_int(db, "SELECT attempts FROM certificates"), 0);
    assert_int_equal(db_int(db, "SELECT failures FROM certificates"), 1);
    assert_int_equal(db_int(db, "SELECT names = '[\"dropped.pc.example."
                                "com\"]' FROM certificates"),
                     1);
    assert_int_equal(renew_one("dropped.pc.example.com", 1, &out, &err),
                     0);
    assert_non_null(strstr(out, "not due: backing off"));
    free(out);
    free(err);
}

/* ----- setup --------------------------------------------------------------- */

static int mgmt_post(const char *path, const char *json)
{
    char url[128];
    CURL *c = curl_easy_init();
    long code = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", g_dns.mgmt_port,
             path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code == 200 ? 0 : -1;
}

static int tls1_handshake(int port)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd),
             "echo | timeout 5 openssl s_client -connect 127.0.0.1:%d "
             "-tls1 -cipher DEFAULT@SECLEVEL=0 >/dev/null 2>&1",
             port);
    return system(cmd) == 0;
}

static int group_setup(void **state)
{
    char path[900], *servers;
    size_t cap = 16384;
    pb_opts o;
    pid_t ng;

    (void)state;
    if (access("/usr/bin/pebble", X_OK) != 0 ||
        access("/usr/sbin/nginx", X_OK) != 0) {
        print_error("pebble and nginx are needed\n");
        return -1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tmpdir_make(g_dir, sizeof(g_dir), "precheck");
    pb_pki_make(g_dir, "tls", "Precheck Test CA", &g_pki);
    if (pb_dns_start(g_dir, &g_dns) != 0)
        return -1;
    o = PB_OPTS_DEFAULT(g_dns.dns_port);
    o.nosleep = 1;
    o.nonce_reject = 0;
    o.authz_reuse = 0;
    if (pb_start(g_dir, "pebble", &g_pki, &o, &g_peb) != 0)
        return -1;
    g_http = g_peb.http_port;
    g_https = free_port();
    g_xport = free_port();
    g_tls1 = free_port();

    snprintf(g_www, sizeof(g_www), "%s/www", g_dir);
    snprintf(g_empty, sizeof(g_empty), "%s/empty", g_dir);
    snprintf(path, sizeof(path), "%s/.well-known/acme-challenge", g_www);
    tp_mkdirs(path);
    tp_mkdirs(g_empty);
    snprintf(path, sizeof(path), "%s/.well-known/acme-challenge/%s", g_www,
             TOK);
    write_file(path, KA "\n");

    servers = malloc(cap);
    assert_non_null(servers);
#define P "  server { listen 127.0.0.1:%d; "
    snprintf(servers, cap,
        P "server_name _; root %s; }\n"
        P "server_name plain.pc.example.com aaaa.pc.example.com; root %s; }\n"
        P "server_name tohttps.pc.example.com https404.pc.example.com; "
          "return 301 https://$host:%d$request_uri; }\n"
        P "server_name dropped.pc.example.com; return 301 "
          "https://$host:%d/; }\n"
        P "server_name badport.pc.example.com; return 301 "
          "https://$host:%d$request_uri; }\n"
        P "server_name loop.pc.example.com; return 301 "
          "http://$host:%d$request_uri; }\n"
        P "server_name otherok.pc.example.com; return 302 "
          "http://plain.pc.example.com:%d$request_uri; }\n"
        P "server_name otherbad.pc.example.com; return 307 "
          "http://nowhere.pc.example.com:%d$request_uri; }\n"
        P "server_name html.pc.example.com; location / { default_type "
          "text/html; return 200 '<!DOCTYPE html><html><head><title>Log "
          "in</title></head><body><form>Please log in</form></body>"
          "</html>\\n'; } }\n"
        P "server_name see303.pc.example.com; return 303 "
          "https://$host:%d$request_uri; }\n"
        P "server_name tls1.pc.example.com; return 301 "
          "https://$host:%d$request_uri; }\n"
        P "server_name slash.pc.example.com; location ~ ^/(.*)$ { return "
          "301 https://$host.well-known/$1; } }\n"
        "  server { listen 127.0.0.1:%d ssl; server_name _; "
          "ssl_certificate %s; ssl_certificate_key %s; root %s; }\n"
        "  server { listen 127.0.0.1:%d ssl; server_name "
          "tohttps.pc.example.com see303.pc.example.com "
          "dropped.pc.example.com; ssl_certificate %s; "
          "ssl_certificate_key %s; root %s; }\n"
        "  server { listen 127.0.0.1:%d ssl; server_name _; "
          "ssl_certificate %s; ssl_certificate_key %s; root %s; }\n"
        "  server { listen 127.0.0.1:%d ssl; server_name _; "
          "ssl_protocols TLSv1; ssl_ciphers DEFAULT:@SECLEVEL=0; "
          "ssl_certificate %s; ssl_certificate_key %s; root %s; }\n",
        g_http, g_empty, g_http, g_www, g_http, g_https,
        g_http, g_https, g_http, g_xport, g_http, g_http, g_http, g_http,
        g_http, g_http, g_http, g_http, g_https, g_http, g_tls1, g_http,
        g_https, g_pki.cert_pem, g_pki.key_pem, g_empty,
        g_https, g_pki.cert_pem, g_pki.key_pem, g_www,
        g_xport, g_pki.cert_pem, g_pki.key_pem, g_www,
        g_tls1, g_pki.cert_pem, g_pki.key_pem, g_www);
#undef P
    ng = pb_nginx_servers(g_dir, "nginx", g_http, servers);
    free(servers);
    if (ng < 0)
        return -1;
    g_tls1_works = tls1_handshake(g_tls1);
    print_message("nginx: http %d, https %d, other %d, tls1 %d (TLSv1 "
                  "handshake %s)\n", g_http, g_https, g_xport, g_tls1,
                  g_tls1_works ? "works" : "impossible here");
    /* The broken AAAA: ::1, where nginx does not listen. */
    if (mgmt_post("/add-aaaa", "{\"host\":\"aaaa.pc.example.com.\","
                  "\"addresses\":[\"::1\"]}") != 0) {
        print_error("challtestsrv /add-aaaa failed\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pb_stop_to(0);
    if (g_dir[0] != '\0' && getenv("KW_KEEP_TMP") == NULL)
        tmpdir_remove(g_dir);
    curl_global_cleanup();
    return 0;
}

static int group_setup_or_clean(void **state)
{
    if (group_setup(state) != 0) {
        group_teardown(state);
        return -1;
    }
    return 0;
}

/* ----- the cases ------------------------------------------------------------ */

typedef struct pc_case {
    const char *host;          /* under .pc.example.com */
    acme_pc_verdict want;
    int pebble_ok;             /* Pebble's expected outcome */
    int lenient;               /* Pebble is knowingly more lenient */
} pc_case;

static const pc_case cases[] = {
    {"plain", ACME_PC_OK, 1, 0},
    {"tohttps", ACME_PC_OK, 1, 0},
    {"dropped", ACME_PC_PATH_DROPPED, 0, 0},
    {"https404", ACME_PC_BAD_STATUS, 0, 0},
    {"badport", ACME_PC_BAD_PORT, 1, 1},
    {"loop", ACME_PC_LOOP, 0, 0},
    {"otherok", ACME_PC_OK, 1, 0},
    {"otherbad", ACME_PC_BAD_STATUS, 0, 0},
    {"html", ACME_PC_HTML_BODY, 0, 0},
    {"see303", ACME_PC_BAD_STATUS, 1, 1},
    {"tls1", ACME_PC_TLS_FAILED, 0, 0},
    {"aaaa", ACME_PC_AAAA_BROKEN, 0, 0},
    {"slash", ACME_PC_MISSING_SLASH, 0, 0},
};

static void one_case(const pc_case *c)
{
    char name[256];
    acme_precheck_result *r;
    int https = strcmp(c->host, "tls1") == 0 ? g_tls1 : g_https;
    int peb;

    snprintf(name, sizeof(name), "%s.pc.example.com", c->host);
    r = precheck(name, g_http, https, 15000, 3000);
    show(r);
    if (r->verdict != c->want)
        fail_msg("%s: verdict %s, expected %s: %s", name,
                 acme_pc_verdict_name(r->verdict),
                 acme_pc_verdict_name(c->want), r->why);
    assert_int_equal(r->ok, c->want == ACME_PC_OK);
    if (!r->ok)
        assert_true(strlen(r->fix) > 20);
    if (strcmp(c->host, "aaaa") == 0) {
        assert_int_equal(r->walks[0].family, 6);
        assert_int_equal(r->walks[0].verdict, ACME_PC_CONNECT_REFUSED);
        assert_int_equal(r->walks[1].verdict, ACME_PC_OK);
    }
    if (strcmp(c->host, "tls1") == 0 && !g_tls1_works)
        print_message("  (TLSv1 is impossible here: the handshake fails "
                      "for every client, the verdict still holds)\n");
    peb = pebble_validates(name);
    print_message("  Pebble: %s%s\n", peb ? "valid" : "invalid",
                  c->lenient ? " (Pebble is more lenient here)" : "");
    assert_int_equal(peb, c->pebble_ok);
    if (!c->lenient)
        assert_int_equal(peb, r->ok);
    acme_precheck_result_clear(r);
    free(r);
}

/* keywarden precheck NAME --webroot DIR [--json]: exit status, verdict,
 * hops and fix, as an operator sees them. */
static int kw_precheck(const char *name, int json, char **out)
{
    char dir[800], conf[900], text[2048], *err = NULL;
    char *argv[12];
    int ofd, efd, st, n = 0;
    pid_t pid;

    snprintf(dir, sizeof(dir), "%s/cli", g_dir);
    tp_mkdirs(dir);
    snprintf(conf, sizeof(conf), "%s/keywarden.conf", dir);
    snprintf(text, sizeof(text),
             "[acme]\nresolver = 127.0.0.1:%d\nvalidation_http_port = %d\n"
             "validation_https_port = %d\nvalidation_allow_private = yes\n",
             g_dns.dns_port, g_http, g_https);
    write_file(conf, text);
    argv[n++] = (char *)KEYWARDEN_BIN;
    argv[n++] = (char *)"--state-dir";
    argv[n++] = dir;
    argv[n++] = (char *)"--config";
    argv[n++] = conf;
    argv[n++] = (char *)"precheck";
    argv[n++] = (char *)name;
    argv[n++] = (char *)"--webroot";
    argv[n++] = g_www;
    if (json)
        argv[n++] = (char *)"--json";
    argv[n] = NULL;
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    proc_drain(ofd, efd, out, &err);
    free(err);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void cli_precheck(void **state)
{
    char *out = NULL;
    json_t *js;

    (void)state;
    assert_int_equal(kw_precheck("plain.pc.example.com", 0, &out), 0);
    assert_non_null(strstr(out, "plain.pc.example.com: OK"));
    assert_non_null(strstr(out, "/.well-known/acme-challenge/"));
    free(out);
    assert_int_equal(kw_precheck("dropped.pc.example.com", 0, &out), 1);
    assert_non_null(strstr(out, "dropped.pc.example.com: PATH_DROPPED"));
    assert_non_null(strstr(out, "fix: "));
    assert_non_null(strstr(out, "location ^~ /.well-known/acme-challenge/"));
    free(out);
    assert_int_equal(kw_precheck("loop.pc.example.com", 1, &out), 1);
    js = json_loads(out, 0, NULL);
    assert_non_null(js);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(js, 0), "verdict")),
                        "LOOP");
    {
        json_t *w;
        size_t i, most = 0;

        json_array_foreach(json_object_get(json_array_get(js, 0), "walks"),
                           i, w)
        if (json_array_size(json_object_get(w, "hops")) > most)
            most = json_array_size(json_object_get(w, "hops"));
        /* the hops are there, the looping redirect's Location with them */
        assert_true(most >= 1);
        assert_non_null(strstr(out, "\"location\": \"http"));
    }
    json_decref(js);
    free(out);
}

static void redirect_cases(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        one_case(&cases[i]);
}

static void no_address(void **state)
{
    acme_precheck_result *r;
    kw_dns_server res;
    kw_dns_addr a[4];
    size_t n = 9;
    kw_diag d;

    (void)state;
    /* The resolver itself: A answers, AAAA empty, never /etc/hosts. */
    memset(&res, 0, sizeof(res));
    snprintf(res.addr, sizeof(res.addr), "127.0.0.1");
    res.port = g_dns.dns_port;
    assert_int_equal(kw_dns_resolve(&res, "plain.pc.example.com", 0, a, 4,
                                    &n, 2000, &d), 0);
    assert_int_equal(n, 1);
    assert_string_equal(a[0].a, "127.0.0.1");
    assert_int_equal(kw_dns_resolve(&res, "plain.pc.example.com", 1, a, 4,
                                    &n, 2000, &d), 0);
    assert_int_equal(n, 0);
    assert_int_equal(kw_dns_resolve(&res, "aaaa.pc.example.com", 1, a, 4,
                                    &n, 2000, &d), 0);
    assert_int_equal(n, 1);
    assert_string_equal(a[0].a, "::1");
    /* Nothing listens on this port: connection refused on "port 80". */
    r = precheck("plain.pc.example.com", free_port(), g_https, 5000, 2000);
    show(r);
    assert_int_equal(r->verdict, ACME_PC_CONNECT_REFUSED);
    acme_precheck_result_clear(r);
    free(r);
}

/* ----- fuzz: random redirect chains ----------------------------------------- */

static int g_fz_port, g_fz_sock;
static volatile unsigned g_fz_seed;
static volatile int g_fz_nonget;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb3fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static void fz_answer(int fd, const char *req)
{
    static const int statuses[] = {200, 301, 302, 303, 307, 308, 404, 500,
                                   300, 301, 302, 308};
    char path[512] = "/", out[16384], loc[4096], body[8192];
    uint64_t h = g_fz_seed, r;
    const char *sp = strchr(req, ' ');
    size_t i, bl = 0;
    int st, n;

    if (sp != NULL)
        sscanf(sp + 1, "%511s", path);
    for (i = 0; path[i] != '\0'; i++)
        h = mix(h ^ (unsigned char)path[i]) + i;
    r = mix(h);
    if (r % 23 == 0)
        return; /* close without an answer */
    st = statuses[(r >> 8) % (sizeof(statuses) / sizeof(statuses[0]))];
    switch ((r >> 16) % 12) {
    case 0: snprintf(loc, sizeof(loc), "/r%u", (unsigned)(r >> 24) % 7);
        break;
    case 1: snprintf(loc, sizeof(loc), "http://h%u.fz.example.com:%d/x%u",
                     (unsigned)(r >> 24) % 4, g_fz_port,
                     (unsigned)(r >> 30) % 5);
        break;
    case 2: snprintf(loc, sizeof(loc), "%s", path); /* a loop */
        break;
    case 3: snprintf(loc, sizeof(loc), "https://h1.fz.example.com:%d/s",
                     g_fz_port); /* TLS to a plain-HTTP port */
        break;
    case 4: snprintf(loc, sizeof(loc), "http://h2.fz.example.com:1/p");
        break;
    case 5: snprintf(loc, sizeof(loc), "ftp://h2.fz.example.com/p");
        break;
    case 6: snprintf(loc, sizeof(loc), "http://h3.fz.example.com.well-known"
                     "/acme-challenge/x");
        break;
    case 7: memset(loc, 'a', 2500);
        loc[0] = '/';
        loc[2500] = '\0';
        break;
    case 8: snprintf(loc, sizeof(loc), "http://[::1]:%d/v6", g_fz_port);
        break;
    case 9: snprintf(loc, sizeof(loc), "\x01\x7f garbage \xff");
        break;
    case 10: snprintf(loc, sizeof(loc), "n%u/../../m%u",
                      (unsigned)(r >> 24) % 9, (unsigned)(r >> 34) % 9);
        break;
    default: snprintf(loc, sizeof(loc), "/.well-known/acme-challenge/%s",
                      TOK);
        break;
    }
    switch ((r >> 40) % 5) {
    case 0: snprintf(body, sizeof(body), "%s\n", KA);
        break;
    case 1: snprintf(body, sizeof(body), "<html><body>hi</body></html>");
        break;
    case 2: bl = (size_t)((r >> 44) % sizeof(body));
        for (i = 0; i < bl; i++)
            body[i] = (char)('a' + (mix(r + i) % 26));
        body[bl] = '\0';
        break;
    case 3: body[0] = '\0';
        break;
    default: snprintf(body, sizeof(body), "%s   \r\n\t", KA);
        break;
    }
    bl = strlen(body);
    n = snprintf(out, sizeof(out),
                 "HTTP/1.1 %d X\r\nConnection: close\r\n%s%s%s"
                 "Content-Length: %zu\r\n\r\n%s",
                 st, (r >> 50) % 7 == 0 ? "" : "Location: ",
                 (r >> 50) % 7 == 0 ? "" : loc,
                 (r >> 50) % 7 == 0 ? "" : "\r\n",
                 (r >> 56) % 9 == 0 ? bl + 100 : bl, body);
    if (n > 0)
        (void)!write(fd, out, (size_t)n < sizeof(out) ? (size_t)n
                                                      : sizeof(out) - 1);
}

static void *fz_serve(void *arg)
{
    (void)arg;
    for (;;) {
        char req[4096];
        size_t got = 0;
        int fd = accept(g_fz_sock, NULL, NULL);

        if (fd < 0)
            return NULL;
        {
            struct timeval tv = {2, 0};

            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        }
        while (got < sizeof(req) - 1) {
            ssize_t k = read(fd, req + got, sizeof(req) - 1 - got);

            if (k <= 0)
                break;
            got += (size_t)k;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n") != NULL)
                break;
        }
        req[got] = '\0';
        /* A TLS ClientHello (a redirect to https on this plain port) or
         * nothing at all is fine; any other method is not. */
        if (got > 0 && (unsigned char)req[0] != 0x16 &&
            strncmp(req, "GET ", 4) != 0)
            g_fz_nonget++;
        if (strncmp(req, "GET ", 4) == 0)
            fz_answer(fd, req);
        close(fd);
    }
}

static void fuzz_chains(void **state)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    pthread_t th;
    int one = 1, i, counts[ACME_PC_NVERDICTS] = {0};
    struct timespec t0, t1;

    (void)state;
    g_fz_sock = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(g_fz_sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(g_fz_sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(g_fz_sock, 64), 0);
    getsockname(g_fz_sock, (struct sockaddr *)&sa, &sl);
    g_fz_port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&th, NULL, fz_serve, NULL), 0);
    for (i = 0; i < 300; i++) {
        char name[64];
        acme_precheck_result *r;
        double secs;

        g_fz_seed = (unsigned)i * 2654435761u;
        snprintf(name, sizeof(name), "h%d.fz.example.com", i % 4);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        /* https_port: a port nothing listens on, or the plain-HTTP one. */
        r = precheck(name, g_fz_port, i % 2 ? g_fz_port : free_port(), 4000,
                     1000);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs = (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_true(r->verdict >= 0 && r->verdict < ACME_PC_NVERDICTS);
        assert_true(r->verdict != ACME_PC_INTERNAL);
        assert_true(r->walks[1].nhops >= 1 &&
                    r->walks[1].nhops <= ACME_PC_MAX_HOPS);
        assert_true(secs < 12.0);
        counts[r->verdict]++;
        acme_precheck_result_clear(r);
        free(r);
    }
    shutdown(g_fz_sock, SHUT_RDWR);
    close(g_fz_sock);
    pthread_join(th, NULL);
    assert_int_equal(g_fz_nonget, 0);
    for (i = 0; i < ACME_PC_NVERDICTS; i++)
        if (counts[i] > 0)
            print_message("fuzz: %-20s %d\n",
                          acme_pc_verdict_name((acme_pc_verdict)i),
                          counts[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redirect_cases),
cmocka_unit_test(cli_precheck),
cmocka_unit_test(enforce_decisions),
        cmocka_unit_test(veto_before_the_key),
        cmocka_unit_test(no_address),
        cmocka_unit_test(fuzz_chains),
    };

    return cmocka_run_group_tests(tests, group_setup_or_clean,
                                  group_teardown);
}
