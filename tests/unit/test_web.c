/*
 * The page (service/web.c): the one escaper against hostile strings, the
 * renderer's order and marks on a document with hostile names, the CSP
 * hash of the style block, the token check, and web_auth in the
 * configuration (required off loopback, named by file and line).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "common/kw_time.h"
#include "service/config.h"
#include "service/web.h"

static char *esc(const char *s)
{
    kw_web_buf b = {NULL, 0, 0, 0};

    kw_web_esc(&b, s);
    assert_false(b.oom);
    return b.p != NULL ? b.p : strdup("");
}

static void escaper(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"<img src=x onerror=alert(1)>",
         "&lt;img src=x onerror=alert(1)&gt;"},
        {"\"><script>alert(1)</script>",
         "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"},
        {"' onmouseover='alert(1)", "&#39; onmouseover=&#39;alert(1)"},
        {"a&b&amp;", "a&amp;b&amp;amp;"},
        {"plain.example.org", "plain.example.org"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", /* kept as UTF-8 */
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"},
        /* Not UTF-8, overlong '<', a surrogate, controls: U+FFFD. */
        {"x\xff" "y", "x\xef\xbf\xbdy"},
        {"\xc0\xbc" "b", "\xef\xbf\xbd\xef\xbf\xbd" "b"},
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"a\x1b[31mb\x7f", "a\xef\xbf\xbd[31mb\xef\xbf\xbd"},
        {"tab\tnl\n", "tab\tnl\n"},
        {"c1\xc2\x9b", "c1\xef\xbf\xbd\xef\xbf\xbd"}, /* C1 CSI */
        {"cut\xe2\x82", "cut\xef\xbf\xbd\xef\xbf\xbd"},
        {"", ""},
    };
    size_t i;
    char *s;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s = esc(cases[i].in);
        assert_string_equal(s, cases[i].out);
        free(s);
    }
    s = esc(NULL);
    assert_string_equal(s, "");
    free(s);
}

static const char *hostile_img = "<img src=x onerror=alert(1)>";
static const char *hostile_script = "\"><script>alert(1)</script>";

static json_t *doc_with_hostile_names(int64_t now)
{
    char soon[32], gone[32], later[32], rrsig[32];

    kw_time_rfc3339(now + 3 * 86400, soon, sizeof(soon));
    kw_time_rfc3339(now - 20 * 86400, gone, sizeof(gone));
    kw_time_rfc3339(now + 400 * 86400, later, sizeof(later));
    kw_time_rfc3339(now + 10 * 86400, rrsig, sizeof(rrsig));
    /* In deadline order, as list --json: the warning before the
     * critical, so the problems' order is the renderer's. */
    return json_pack(
        "[{s:i, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s}]},"
        " {s:i, s:s, s:s, s:s, s:s, s:s, s:[]},"
        " {s:i, s:s, s:s, s:n, s:s, s:s, s:[]},"
        " {s:i, s:s, s:s, s:s, s:s, s:s, s:[]},"
        " {s:i, s:s, s:s, s:n, s:s, s:s, s:{s:s}}]",
        "id", 1, "kind", "tls", "name", hostile_img, "deadline", soon,
        "health", "warning", "reason", "expires in 3 days", "findings",
        "health", "warning", "text", "expires <soon>", "fix",
        "renew: run \"keywarden renew\" & reload",
        "id", 2, "kind", "tls", "name", hostile_script, "deadline", gone,
        "health", "critical", "reason", "expired 20 days ago", "findings",
        "id", 3, "kind", "dkim", "name", "sel' onload='x._domainkey.example",
        "deadline", "health", "unknown", "reason", "key <unreadable>",
        "findings",
        "id", 4, "kind", "tls", "name", "fine.example", "deadline", later,
        "health", "ok", "reason", "", "findings",
        "id", 5, "kind", "dnssec", "name", "example.test", "deadline",
        "health", "ok", "reason", "", "dnssec", "next_rrsig_expiry", rrsig);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (; (hay = strstr(hay, needle)) != NULL; hay++)
        n++;
    return n;
}

static void page_hostile(void **state)
{
    int64_t now = kw_time_from_civil(2026, 12, 1, 12, 0, 0);
    json_t *doc = doc_with_hostile_names(now);
    kw_web_opts o = {.now = now, .horizon_days = 90};
    char *page = NULL, *crit, *warn, *unk, *tl, *inv;
    size_t len = 0;
    kw_diag d;

    (void)state;
    assert_non_null(doc);
    assert_int_equal(kw_web_render_page(doc, &o, &page, &len, &d), 0);
    assert_int_equal(strlen(page), len);
    /* No element or attribute of the names' making. */
    assert_null(strstr(page, "<img"));
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "onload='"));
    assert_null(strstr(page, hostile_img));
    assert_null(strstr(page, hostile_script));
    assert_non_null(strstr(page, "&lt;img src=x onerror=alert(1)&gt;"));
    assert_non_null(
        strstr(page, "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(page, "renew: run &quot;keywarden renew&quot; "
                                 "&amp; reload"));
    /* Problems first: critical, then warning, then unknown; before the
     * timeline and the table. */
    crit = strstr(page, "<li class=\"problem h-critical\" data-id=\"2\"");
    warn = strstr(page, "<li class=\"problem h-warning\" data-id=\"1\"");
    unk = strstr(page, "<li class=\"problem h-unknown\" data-id=\"3\"");
    tl = strstr(page, "<section id=\"timeline\"");
    inv = strstr(page, "<section id=\"inventory\"");
    assert_non_null(crit);
    assert_non_null(warn);
    assert_non_null(unk);
    assert_true(crit < warn && warn < unk && unk < tl && tl < inv);
    assert_int_equal(count(page, "class=\"problem "), 3);
    /* A mark per object with a deadline (the DKIM key has none; the
     * zone's is its RRSIG expiry), today marked. */
    assert_int_equal(count(page, "<g class=\"row\""), 4);
    assert_int_equal(count(page, "<circle class=\"mark\""), 4);
    assert_null(strstr(page, "<g class=\"row\" data-id=\"3\""));
    assert_non_null(strstr(page, "<g class=\"row\" data-id=\"5\""));
    assert_non_null(strstr(page, "RRSIG expires"));
    assert_non_null(strstr(page, "(after the window)"));
    assert_non_null(strstr(page, "(before the window)"));
    assert_non_null(strstr(page, "<line id=\"today\""));
    assert_non_null(strstr(page, "<span id=\"n-total\">5</span>"));
    assert_non_null(strstr(page, "<span id=\"n-critical\" "
                                 "class=\"h-critical\">1</span>"));
    assert_non_null(strstr(page, "<span id=\"n-ok\" class=\"h-ok\">2"));
    /* The table: every object, linked by id. */
    assert_int_equal(count(page, "<a href=\"/object/"), 5 + 3);
    free(page);

    /* The horizon is the operator's, within bounds. */
    o.horizon_days = 0;
    assert_int_equal(kw_web_render_page(doc, &o, &page, &len, &d),
                     KW_EINVAL);
    assert_null(page);
    o.horizon_days = 7;
    assert_int_equal(kw_web_render_page(doc, &o, &page, &len, &d), 0);
    /* In a week's window the 3-day deadline is inside, the RRSIG after. */
    assert_non_null(strstr(page, "Timeline: the next 7 days"));
    assert_int_equal(count(page, "(after the window)"), 2);
    free(page);
    json_decref(doc);
    assert_int_equal(kw_web_render_page(NULL, &o, &page, &len, &d),
                     KW_EINVAL);
}

static void page_object(void **state)
{
    int64_t now = kw_time_from_civil(2026, 12, 1, 12, 0, 0);
    json_t *doc = doc_with_hostile_names(now);
    json_t *ev = json_pack("[{s:I, s:s, s:s}]", "at", (json_int_t)now,
                           "type", "cert.<b>seen</b>", "detail",
                           hostile_script);
    kw_web_opts o = {.now = now, .horizon_days = 90};
    char *page = NULL;
    size_t len;
    kw_diag d;

    (void)state;
    assert_int_equal(kw_web_render_object(json_array_get(doc, 1), ev, &o,
                                          &page, &len, &d),
                     0);
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "<b>"));
    assert_non_null(strstr(page, "<title>&quot;&gt;&lt;script&gt;"));
    assert_non_null(strstr(page, "cert.&lt;b&gt;seen&lt;/b&gt;"));
    assert_non_null(strstr(page, "<p id=\"health\" class=\"h-critical\">"));
    assert_non_null(strstr(page, "<dt>deadline</dt>"));
    free(page);
    assert_int_equal(kw_web_render_object(doc, ev, &o, &page, &len, &d),
                     KW_EINVAL);
    json_decref(doc);
    json_decref(ev);
}

/* A managed DKIM domain's rotation (list --json's "dkim-rotation"
 * element): no id, its fix, its next rotation on the timeline. */
static void page_rotation(void **state)
{
    int64_t now = kw_time_from_civil(2026, 12, 1, 12, 0, 0);
    char next[32];
    json_t *doc;
    kw_web_opts o = {.now = now, .horizon_days = 90, .note = "a <note>"};
    char *page = NULL;
    size_t len;
    kw_diag d;

    (void)state;
    kw_time_rfc3339(now + 20 * 86400, next, sizeof(next));
    doc = json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}]", "kind",
                    "dkim-rotation", "name", "example.com", "domain",
                    "example.com", "stage", "published", "health",
                    "warning", "reason", "stopped at published",
                    "fix", "keywarden dkim rotate example.com",
                    "next_rotation", next);
    assert_non_null(doc);
    assert_int_equal(kw_web_render_page(doc, &o, &page, &len, &d), 0);
    assert_non_null(strstr(page, "<li class=\"problem h-warning\"><strong>"
                                 "warning</strong> dkim-rotation "
                                 "example.com: "));
    assert_non_null(strstr(page, "Fix: keywarden dkim rotate example.com"));
    assert_non_null(strstr(page, "<title>next DKIM rotation "));
    assert_non_null(strstr(page, "<g class=\"row\"><text"));
    assert_non_null(strstr(page, "<p id=\"note\" class=\"h-warning\">a "
                                 "&lt;note&gt;</p>"));
    free(page);
    json_decref(doc);
}

/* needle occurs in [from, to). */
static void assert_between(const char *from, const char *to,
                           const char *needle)
{
    const char *at = strstr(from, needle);

    if (at == NULL || at >= to)
        fail_msg("\"%s\" is not in its row", needle);
}

/* A managed certificate's next renewal (list --json's renewal_at and
 * renewal.ari_window): a diamond, not the expiry's circle, the CA's
 * window as a bar under it, and the legend that says which is which; a
 * certificate without one has neither. */
static void page_renewal(void **state)
{
    int64_t now = kw_time_from_civil(2026, 12, 1, 12, 0, 0);
    char dl[32], at[32], ws[32], we[32];
    json_t *doc;
    kw_web_opts o = {.now = now, .horizon_days = 90};
    char *page = NULL, *row1, *row2;
    size_t len;
    kw_diag d;

    (void)state;
    kw_time_rfc3339(now + 60 * 86400, dl, sizeof(dl));
    kw_time_rfc3339(now + 21 * 86400, at, sizeof(at));
    kw_time_rfc3339(now + 20 * 86400, ws, sizeof(ws));
    kw_time_rfc3339(now + 22 * 86400, we, sizeof(we));
    doc = json_pack("[{s:i, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, "
                    "s:{s:s, s:s}}}, {s:i, s:s, s:s, s:s, s:s}]",
                    "id", 1, "kind", "tls", "name", "managed.example",
                    "health", "ok", "deadline", dl, "renewal_at", at,
                    "renewal", "certificate", "managed.example", "basis",
                    "ari-window", "renew_at", at, "ari_window", "start", ws,
                    "end", we, "id", 2, "kind", "tls", "name",
                    "plain.example", "health", "ok", "deadline", dl);
    assert_non_null(doc);
    assert_int_equal(kw_web_render_page(doc, &o, &page, &len, &d), 0);
    assert_non_null(strstr(page, "<g id=\"legend\">"));
    assert_non_null(strstr(page, ">ACME renewal</text>"));
    row1 = strstr(page, "<g class=\"row\" data-id=\"1\">");
    row2 = strstr(page, "<g class=\"row\" data-id=\"2\">");
    assert_non_null(row1);
    assert_non_null(row2);
    /* The managed row: its expiry's circle, its renewal's diamond at the
     * window's time, and the window's bar (20 to 22 days). */
    assert_non_null(strstr(row1, "<circle class=\"mark\""));
    assert_between(row1, row2, "<path class=\"mark renewal\"");
    assert_between(row1, row2, "<rect class=\"renewal-window\"");
    assert_between(row1, row2, "<title>ACME renewal 2026-12-22T12:00:00Z");
    assert_between(row1, row2,
                   "<title>the CA's renewal window 2026-12-21T12:00:00Z to "
                   "2026-12-23T12:00:00Z</title>");
    /* The other row: its expiry only. */
    assert_null(strstr(row2, "<path class=\"mark renewal\""));
    assert_null(strstr(row2, "<rect class=\"renewal-window\""));
    assert_non_null(strstr(row2, "<circle class=\"mark\""));
    free(page);
    json_decref(doc);
}

/* /hooks: a hook and its runs, the failed run first although it is the
 * older, its output (hostile: markup, quotes, a control byte, longer
 * than the excerpt) as text and cut; the page at / links to it. */
static void page_hooks(void **state)
{
    int64_t now = kw_time_from_civil(2026, 12, 1, 12, 0, 0);
    kw_web_opts o = {.now = now, .horizon_days = 90};
    char out[2000], *page = NULL, *failed, *ok;
    json_t *doc;
    size_t len;
    kw_diag d;

    (void)state;
    memset(out, 'x', sizeof(out) - 1);
    out[sizeof(out) - 1] = '\0';
    memcpy(out, "<script>alert(1)</script>\"'&\x01",
           strlen("<script>alert(1)</script>\"'&\x01"));
    doc = json_pack(
        "{s:[{s:s, s:[s], s:s, s:i, s:i, s:i, s:i}], s:[{s:s, s:s, s:s, "
        "s:s, s:s, s:i, s:s}, {s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s}]}",
        "hooks", "name", "<b>web</b>", "on", "cert.renewed", "action",
        "reload nginx", "pending", 0, "failed", 1, "runs_ok", 1,
        "runs_failed", 1, "runs", "time", "2026-12-01T11:00:00Z", "hook",
        "<b>web</b>", "event_type", "cert.renewed", "object", "/etc/a.pem",
        "result", "ok", "exit_status", 0, "output", "reloaded", "time",
        "2026-12-01T10:00:00Z", "hook", "<b>web</b>", "event_type",
        "cert.renewed", "object", "/etc/<i>.pem", "result", "failed",
        "exit_status", 3, "output", out, "error", "exit status 3");
    assert_non_null(doc);
    assert_int_equal(kw_web_render_hooks(doc, &o, &page, &len, &d), 0);
    assert_non_null(strstr(page, "<td>&lt;b&gt;web&lt;/b&gt;</td><td>"
                                 "cert.renewed</td><td><code>reload nginx"
                                 "</code></td>"));
    failed = strstr(page, "<tr class=\"run h-critical\"><td>"
                          "2026-12-01T10:00:00Z</td>");
    ok = strstr(page, "<tr class=\"run\"><td>2026-12-01T11:00:00Z</td>");
    assert_non_null(failed);
    assert_non_null(ok);
    assert_true(failed < ok);
    assert_non_null(strstr(failed, "<td class=\"result\">failed</td><td>3"
                                   "</td>"));
    assert_non_null(strstr(failed, "<pre class=\"output\">&lt;script&gt;"
                                   "alert(1)&lt;/script&gt;&quot;&#39;&amp;"
                                   "\xef\xbf\xbdxxx"));
    assert_non_null(strstr(failed, "x\n[cut]</pre>"));
    assert_non_null(strstr(page, "/etc/&lt;i&gt;.pem"));
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "<b>"));
    assert_null(strstr(page, "<i>"));
    assert_non_null(strstr(page, "<span id=\"n-failed\" class=\"h-critical\">"
                                 "1</span>"));
    free(page);
    /* Not the document: refused. */
    assert_int_equal(kw_web_render_hooks(json_object_get(doc, "runs"), &o,
                                         &page, &len, &d),
                     KW_EINVAL);
    json_decref(doc);
    doc = json_array();
    assert_int_equal(kw_web_render_page(doc, &o, &page, &len, &d), 0);
    assert_non_null(strstr(page, "<a href=\"/hooks\">"));
    free(page);
    json_decref(doc);
}

/* The table's filters: a query's kind and health, known words only. */
static void filters(void **state)
{
    int64_t now = kw_time_from_civil(2026, 12, 1, 12, 0, 0);
    json_t *doc = doc_with_hostile_names(now);
    kw_web_opts o = {.now = now, .horizon_days = 90};
    char *page = NULL;
    size_t len;
    kw_diag d;

    (void)state;
    assert_int_equal(kw_web_filters("kind=tls&health=critical", &o, &d), 0);
    assert_string_equal(o.kind, "tls");
    assert_string_equal(o.health, "critical");
    assert_int_equal(kw_web_render_page(doc, &o, &page, &len, &d), 0);
    /* The table holds only the expired certificate; the problems and
     * the timeline are whole. */
    assert_int_equal(count(page, "<tr class="), 1);
    assert_non_null(strstr(page, "<tr class=\"h-critical\" data-id=\"2\">"));
    assert_non_null(strstr(page, "<p id=\"shown\">1 of 5 shown.</p>"));
    assert_int_equal(count(page, "class=\"problem "), 3);
    assert_int_equal(count(page, "<g class=\"row\""), 4);
    assert_non_null(strstr(page, "<strong>tls</strong>"));
    assert_non_null(strstr(page, "<a href=\"/?kind=dkim&amp;health="
                                 "critical\">dkim</a>"));
    free(page);
    assert_int_equal(kw_web_filters("x=1&kind=&health=ok&y", &o, &d), 0);
    assert_string_equal(o.kind, "");
    assert_string_equal(o.health, "ok");
    assert_int_equal(kw_web_filters("", &o, &d), 0);
    assert_string_equal(o.health, "");
    assert_int_equal(kw_web_filters(NULL, &o, &d), 0);
    assert_int_equal(kw_web_filters("kind=<script>", &o, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "kind=<script>: expected one of tls"));
    assert_int_equal(kw_web_filters("health=criticalXXXXXXXXXXXXXXXXXXXXXXXXXX"
                                    "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
                                    &o, &d),
                     KW_EINVAL);
    assert_int_equal(kw_web_filters("health=critica", &o, &d), KW_EINVAL);
    json_decref(doc);
}

static void csp_hash(void **state)
{
    unsigned char md[32], b64[64];
    char want[128];
    unsigned int n = 0;
    const char *h = kw_web_headers();

    (void)state;
    assert_int_equal(EVP_Digest(kw_web_style(), strlen(kw_web_style()), md,
                                &n, EVP_sha256(), NULL),
                     1);
    EVP_EncodeBlock(b64, md, 32);
    snprintf(want, sizeof(want), "style-src 'sha256-%s'", (char *)b64);
    assert_non_null(strstr(h, want));
    assert_non_null(strstr(h, "default-src 'none'"));
    assert_non_null(strstr(h, "X-Content-Type-Options: nosniff\r\n"));
    assert_non_null(strstr(h, "Referrer-Policy: no-referrer\r\n"));
    assert_null(strstr(h, "script-src"));
}

static void auth(void **state)
{
    unsigned char want[32];
    unsigned int n;

    (void)state;
    EVP_Digest("s3cret", 6, want, &n, EVP_sha256(), NULL);
    assert_true(kw_web_auth_ok(want, "Bearer s3cret"));
    assert_true(kw_web_auth_ok(want, "bearer s3cret"));
    assert_false(kw_web_auth_ok(want, "Bearer s3cre"));
    assert_false(kw_web_auth_ok(want, "Bearer s3cret2"));
    assert_false(kw_web_auth_ok(want, "Basic czNjcmV0"));
    assert_false(kw_web_auth_ok(want, "Bearer "));
    assert_false(kw_web_auth_ok(want, ""));
    assert_false(kw_web_auth_ok(want, NULL));
}

static int parse(const char *text, kw_config *c, kw_diag *d)
{
    return kw_config_parse("k.conf", text, strlen(text), c, d);
}

static void config_web_auth(void **state)
{
    /* sha256("s3cret") */
    const char *hash = "sha256:"
                       "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940"
                       "ba3670f99fcba0";
    char text[512];
    kw_config c;
    kw_diag d;

    (void)state;
    assert_int_equal(parse("[daemon]\nmetrics_listen = 127.0.0.2:9177\n",
                           &c, &d),
                     0);
    assert_int_equal(c.web_horizon, 90);
    assert_false(c.has_web_auth);
    kw_config_free(&c);
    assert_int_equal(parse("[daemon]\nmetrics_listen = [::1]:9177\n"
                           "web_horizon = 30\n",
                           &c, &d),
                     0);
    assert_int_equal(c.web_horizon, 30);
    kw_config_free(&c);
    /* Off loopback without a token: refused, naming the line. */
    assert_int_equal(parse("[daemon]\nlog_level = info\n"
                           "metrics_listen = 0.0.0.0:9177\n",
                           &c, &d),
                     KW_EPARSE);
    assert_non_null(strstr(d.msg, "k.conf:3:"));
    assert_non_null(strstr(d.msg, "web_auth"));
    assert_int_equal(parse("[daemon]\nmetrics_listen = [2001:db8::1]:9177\n",
                           &c, &d),
                     KW_EPARSE);
    assert_int_equal(parse("[daemon]\nmetrics_listen = 192.0.2.1:9177\n",
                           &c, &d),
                     KW_EPARSE);
    /* With one, accepted (the key after the address works too). */
    snprintf(text, sizeof(text),
             "[daemon]\nmetrics_listen = 192.0.2.1:9177\nweb_auth = %s\n",
             hash);
    assert_int_equal(parse(text, &c, &d), 0);
    assert_true(c.has_web_auth);
    assert_int_equal(c.web_auth[0], 0x1e);
    assert_int_equal(c.web_auth[31], 0xa0);
    assert_true(kw_web_auth_ok(c.web_auth, "Bearer s3cret"));
    kw_config_free(&c);
    assert_int_equal(parse("[daemon]\nweb_auth = s3cret\n", &c, &d),
                     KW_EPARSE);
    assert_non_null(strstr(d.msg, "k.conf:2: web_auth"));
    assert_int_equal(parse("[daemon]\nweb_auth = sha256:zz\n", &c, &d),
                     KW_EPARSE);
    snprintf(text, sizeof(text), "[daemon]\nweb_auth = %.70sxx\n", hash);
    assert_int_equal(parse(text, &c, &d), KW_EPARSE);
    assert_int_equal(parse("[daemon]\nweb_horizon = 0\n", &c, &d),
                     KW_EPARSE);
    assert_true(kw_config_listen_is_loopback("127.255.0.1:1"));
    assert_false(kw_config_listen_is_loopback("128.0.0.1:1"));
    assert_true(kw_config_listen_is_loopback("[::ffff:127.0.0.1]:1"));
    assert_false(kw_config_listen_is_loopback("[::]:1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escaper),     cmocka_unit_test(page_hostile),
        cmocka_unit_test(page_object), cmocka_unit_test(page_rotation),
        cmocka_unit_test(page_renewal), cmocka_unit_test(page_hooks),
        cmocka_unit_test(filters),     cmocka_unit_test(csp_hash),
        cmocka_unit_test(auth),        cmocka_unit_test(config_web_auth),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
