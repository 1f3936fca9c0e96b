#include "web.h"

#include "../common/kw_str.h"
#include "../common/kw_time.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The page's one style block: its SHA-256 goes into the CSP, so nothing
 * else styles the page (an injected style attribute or block would not
 * apply even if the escaping failed). */
static const char style[] =
    "body{font:14px/1.4 sans-serif;margin:1em 2em;color:#222}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}"
    "table{border-collapse:collapse}td,th{padding:2px 8px;"
    "border-bottom:1px solid #ddd;text-align:left;vertical-align:top}"
    ".h-critical{color:#a93226}.h-warning{color:#9a6700}"
    ".h-unknown{color:#616a6b}.h-ok{color:#1e8449}"
    ".fix{color:#333;font-style:italic}li{margin:.3em 0}"
    "dt{font-weight:bold}dd{margin:0 0 .3em 1.5em}"
    "svg text{font:11px sans-serif}";

const char *kw_web_style(void)
{
    return style;
}

static char headers[256];
static pthread_once_t headers_once = PTHREAD_ONCE_INIT;

static void make_headers(void)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    unsigned char b64[64];

    /* A failed digest leaves no hash: the style is then refused by the
     * browser, the page stays readable, nothing is loosened. */
    if (EVP_Digest(style, strlen(style), md, &mdlen, EVP_sha256(), NULL) !=
            1 ||
        mdlen != 32)
        b64[0] = '\0';
    else
        EVP_EncodeBlock(b64, md, 32);
    snprintf(headers, sizeof(headers),
             "Content-Security-Policy: default-src 'none'; style-src "
             "'sha256-%s'; base-uri 'none'; form-action 'none'; "
             "frame-ancestors 'none'\r\n"
             "X-Content-Type-Options: nosniff\r\n"
             "Referrer-Policy: no-referrer\r\n",
             (const char *)b64);
}

const char *kw_web_headers(void)
{
    pthread_once(&headers_once, make_headers);
    return headers;
}

int kw_web_auth_ok(const unsigned char want[32], const char *authorization)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    const char *tok;

    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7))
        return 0;
    tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    /* The token's hash is compared, so its length leaks nothing either. */
    if (*tok == '\0' ||
        EVP_Digest(tok, strlen(tok), md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != 32)
        return 0;
    return CRYPTO_memcmp(md, want, 32) == 0;
}

/* ---- output ------------------------------------------------------------- */

void kw_web_put(kw_web_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->len < n + 1) {
        size_t ncap = b->cap > 0 ? b->cap : 4096;
        char *np;

        while (ncap - b->len < n + 1)
            ncap *= 2;
        if ((np = realloc(b->p, ncap)) == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(kw_web_buf *b, const char *s)
{
    kw_web_put(b, s, strlen(s));
}

static void putf(kw_web_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void putf(kw_web_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    /* Only numbers and fixed words go through here, never a value of
     * the document: those go through kw_web_esc. */
    if (n > 0)
        kw_web_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n
                                                    : sizeof(tmp) - 1);
}

void kw_web_esc(kw_web_buf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str != NULL ? str : "");
    const unsigned char *run = s;

    /* Plain runs are copied whole: escaping is most of a page's bytes. */
    while (*s != '\0') {
        const char *ent = NULL;
        size_t n = 1;

        switch (*s) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default:
            if ((*s < 0x20 && *s != '\t' && *s != '\n') || *s == 0x7f)
                ent = "\xef\xbf\xbd";
            /* 4: the string's NUL ends a cut sequence (kw_str.h). */
            else if (*s >= 0x80 && (n = kw_utf8_seq(s, 4)) == 0)
                ent = "\xef\xbf\xbd";
            break;
        }
        if (ent == NULL) {
            s += n;
            continue;
        }
        kw_web_put(b, (const char *)run, (size_t)(s - run));
        puts_(b, ent);
        s++;
        run = s;
    }
    kw_web_put(b, (const char *)run, (size_t)(s - run));
}

/* ---- reading the document ---------------------------------------------- */

/* A member as text: a string, a number, true/false, or a path that is not
 * UTF-8 ({"base64": ...}, kw_json_path) said as such. */
static const char *text_of(const json_t *o, const char *key, char *tmp,
                           size_t cap)
{
    const json_t *v = json_object_get(o, key);

    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(tmp, cap, "%lld", (long long)json_integer_value(v));
        return tmp;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "yes" : "no";
    if (json_is_object(v) && json_object_get(v, "base64") != NULL)
        return "(a name that is not UTF-8; see list --json)";
    return NULL;
}

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* health word -> index of the problems' order: critical, warning,
 * unknown, then ok. */
static int health_index(const char *h)
{
    if (h == NULL)
        return 2;
    if (strcmp(h, "critical") == 0)
        return 0;
    if (strcmp(h, "warning") == 0)
        return 1;
    if (strcmp(h, "ok") == 0)
        return 3;
    return 2;
}

static const char *const health_words[] = {"critical", "warning", "unknown",
                                           "ok"};
static const char *const health_fill[] = {"#c0392b", "#d68910", "#7f8c8d",
                                          "#27ae60"};

static const char *name_of(const json_t *o)
{
    const char *n = str_of(o, "name_unicode");

    if (n == NULL)
        n = str_of(o, "name");
    if (n == NULL)
        n = str_of(o, "domain"); /* a DKIM rotation */
    return n != NULL ? n : "(no name)";
}

static int64_t time_of(const json_t *o, const char *key)
{
    const char *s = str_of(o, key);
    int64_t t;

    if (s == NULL || kw_time_parse_rfc3339(s, &t) != 0)
        return 0;
    return t;
}

/* The deadlines of an object the timeline draws. */
typedef struct mark {
    const char *what;
    int64_t at;
    int renewal; /* an ACME renewal: a diamond, not a circle */
} mark;

static size_t marks_of(const json_t *o, mark *m)
{
    const json_t *dn = json_object_get(o, "dnssec");
    size_t n = 0;
    int64_t t;

    if ((t = time_of(o, "deadline")) != 0)
        m[n++] = (mark){json_object_get(o, "endpoint") != NULL
                            ? "served certificate expires"
                            : "expires",
                        t, 0};
    if (dn != NULL && (t = time_of(dn, "next_rrsig_expiry")) != 0)
        m[n++] = (mark){"RRSIG expires", t, 0};
    if (dn != NULL && (t = time_of(dn, "next_transition")) != 0)
        m[n++] = (mark){"key transition", t, 0};
    if ((t = time_of(o, "next_rotation")) != 0)
        m[n++] = (mark){"next DKIM rotation", t, 0};
    if ((t = time_of(o, "renewal_at")) != 0)
        m[n++] = (mark){"ACME renewal", t, 1};
    return n;
}

static void put_id_attr(kw_web_buf *b, const json_t *o)
{
    const json_t *id = json_object_get(o, "id");

    if (json_is_integer(id))
        putf(b, " data-id=\"%lld\"", (long long)json_integer_value(id));
}

/* <a href="/object/ID">NAME</a>, or the name alone without an id. */
static void put_name_link(kw_web_buf *b, const json_t *o)
{
    const json_t *id = json_object_get(o, "id");

    if (json_is_integer(id))
        putf(b, "<a href=\"/object/%lld\">",
             (long long)json_integer_value(id));
    kw_web_esc(b, name_of(o));
    if (json_is_integer(id))
        puts_(b, "</a>");
}

static void head(kw_web_buf *b, const char *title)
{
    puts_(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
             "charset=\"utf-8\"><meta name=\"referrer\" "
             "content=\"no-referrer\"><title>");
    kw_web_esc(b, title);
    puts_(b, "</title><style>");
    puts_(b, style);
    puts_(b, "</style></head>\n<body>\n");
}

static void when(kw_web_buf *b, int64_t t)
{
    char buf[32];

    kw_time_rfc3339(t, buf, sizeof(buf));
    kw_web_esc(b, buf);
}

/* ---- the page at / ------------------------------------------------------ */

static void problems(kw_web_buf *b, const json_t *doc, const size_t *count)
{
    size_t i, j, k;
    char tmp[32];

    puts_(b, "<section id=\"problems\"><h2>Problems</h2>\n");
    if (count[0] + count[1] + count[2] == 0) {
        puts_(b, "<p>None: every object is healthy.</p></section>\n");
        return;
    }
    puts_(b, "<ol>\n");
    for (k = 0; k < 3; k++)
        for (i = 0; i < json_array_size(doc); i++) {
            const json_t *o = json_array_get(doc, i);
            const json_t *fs = json_object_get(o, "findings");
            const json_t *dn = json_object_get(o, "dnssec");
            const char *reason = text_of(o, "reason", tmp, sizeof(tmp));
            const char *fix = text_of(o, "fix", tmp, sizeof(tmp));
            int shown = 0;

            if (health_index(str_of(o, "health")) != (int)k)
                continue;
            putf(b, "<li class=\"problem h-%s\"", health_words[k]);
            put_id_attr(b, o);
            putf(b, "><strong>%s</strong> ", health_words[k]);
            kw_web_esc(b, str_of(o, "kind"));
            puts_(b, " ");
            put_name_link(b, o);
            puts_(b, ": <span class=\"reason\">");
            kw_web_esc(b, reason != NULL && reason[0] != '\0' ? reason
                                                               : "(no reason "
                                                                 "given)");
            puts_(b, "</span>");
            /* The findings say what to do, each with its fix. */
            if (dn != NULL && json_is_array(json_object_get(dn,
                                                           "check_findings")))
                fs = json_array_size(fs) > 0
                         ? fs
                         : json_object_get(dn, "check_findings");
            for (j = 0; j < json_array_size(fs); j++) {
                const json_t *f = json_array_get(fs, j);
                const char *ff = str_of(f, "fix");

                if (ff == NULL || ff[0] == '\0')
                    continue;
                puts_(b, shown++ == 0 ? "<ul>" : "");
                puts_(b, "<li>");
                kw_web_esc(b, str_of(f, "text"));
                puts_(b, " <span class=\"fix\">Fix: ");
                kw_web_esc(b, ff);
                puts_(b, "</span></li>");
            }
            if (shown > 0)
                puts_(b, "</ul>");
            else if (fix != NULL && fix[0] != '\0') {
                puts_(b, " <span class=\"fix\">Fix: ");
                kw_web_esc(b, fix);
                puts_(b, "</span>");
            }
            puts_(b, "</li>\n");
        }
    puts_(b, "</ol></section>\n");
}

#define TL_LABEL 330 /* the names' column */
#define TL_PLOT 600

/* A managed certificate's ARI window (renewal.ari_window), as a bar
 * under its marks; clipped to the plot. */
static void renewal_window(kw_web_buf *b, const json_t *o, int64_t from,
                           int64_t to, double scale, int y)
{
    const json_t *w =
        json_object_get(json_object_get(o, "renewal"), "ari_window");
    int64_t s = time_of(w, "start"), e = time_of(w, "end");
    int x0, x1;

    if (s == 0 || e == 0 || e < s || e < from || s > to)
        return;
    x0 = TL_LABEL + (int)((double)((s < from ? from : s) - from) * scale);
    x1 = TL_LABEL + (int)((double)((e > to ? to : e) - from) * scale);
    putf(b,
         "<rect class=\"renewal-window\" x=\"%d\" y=\"%d\" width=\"%d\" "
         "height=\"6\" fill=\"#aed6f1\"><title>the CA's renewal window ",
         x0, y + 5, x1 - x0 > 2 ? x1 - x0 : 2);
    when(b, s);
    puts_(b, " to ");
    when(b, e);
    puts_(b, "</title></rect>");
}
#define TL_ROW 16
#define TL_TOP 28

static void timeline(kw_web_buf *b, const json_t *doc, const kw_web_opts *op)
{
    int64_t span = (int64_t)op->horizon_days * 86400;
    /* A tenth of the window before today, so today's line and what has
     * already expired are visible. */
    int64_t past = span / 9, from = op->now - past, to = op->now + span;
    size_t i, rows = 0;
    mark m[8];
    double scale = (double)TL_PLOT / (double)(to - from);
    int d, height;

    for (i = 0; i < json_array_size(doc); i++)
        rows += marks_of(json_array_get(doc, i), m) > 0;
    height = TL_TOP + (int)rows * TL_ROW + 8;
    putf(b,
         "<section id=\"timeline\"><h2>Timeline: the next %d days</h2>\n"
         "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
         "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
         "aria-label=\"deadlines of the next %d days\">\n",
         op->horizon_days, TL_LABEL + TL_PLOT + 10, height,
         TL_LABEL + TL_PLOT + 10, height, op->horizon_days);
    /* The legend: what each shape means, in the plot's own shapes. */
    putf(b,
         "<g id=\"legend\"><circle cx=\"8\" cy=\"10\" r=\"5\" "
         "fill=\"#616a6b\"/><text x=\"16\" y=\"14\">deadline</text>"
         "<path d=\"M 86 4 L 92 10 L 86 16 L 80 10 Z\" fill=\"#616a6b\"/>"
         "<text x=\"96\" y=\"14\">ACME renewal</text><rect x=\"180\" "
         "y=\"7\" width=\"20\" height=\"6\" fill=\"#aed6f1\"/><text "
         "x=\"204\" y=\"14\">CA's renewal window</text></g>\n");
    /* Gridlines every 30 days (every 7 in a short window), labelled. */
    for (d = 0; d <= op->horizon_days;
         d += op->horizon_days > 60 ? 30 : 7) {
        int x = TL_LABEL + (int)((double)(past + (int64_t)d * 86400) * scale);

        putf(b,
             "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
             "stroke=\"#ddd\"/><text x=\"%d\" y=\"14\">+%dd</text>\n",
             x, TL_TOP - 6, x, height, x + 2, d);
    }
    {
        int x = TL_LABEL + (int)((double)past * scale);

        putf(b,
             "<line id=\"today\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
             "stroke=\"#2471a3\" stroke-width=\"2\"/><text x=\"%d\" "
             "y=\"24\" fill=\"#2471a3\">today ",
             x, TL_TOP - 10, x, height, x + 3);
        when(b, op->now);
        puts_(b, "</text>\n");
    }
    rows = 0;
    for (i = 0; i < json_array_size(doc); i++) {
        const json_t *o = json_array_get(doc, i);
        size_t n = marks_of(o, m), j;
        int hi = health_index(str_of(o, "health"));
        int y = TL_TOP + (int)rows * TL_ROW;

        if (n == 0)
            continue;
        rows++;
        puts_(b, "<g class=\"row\"");
        put_id_attr(b, o);
        putf(b, "><text x=\"4\" y=\"%d\" fill=\"%s\">", y + 12,
             health_fill[hi]);
        kw_web_esc(b, str_of(o, "kind"));
        puts_(b, " ");
        kw_web_esc(b, name_of(o));
        puts_(b, "</text>");
        renewal_window(b, o, from, to, scale, y);
        for (j = 0; j < n; j++) {
            int64_t at = m[j].at < from ? from : m[j].at > to ? to : m[j].at;
            int x = TL_LABEL + (int)((double)(at - from) * scale);

            /* Beyond the window: a mark at its edge, said in its title. */
            if (m[j].renewal)
                putf(b,
                     "<path class=\"mark renewal\" d=\"M %d %d L %d %d L "
                     "%d %d L %d %d Z\" fill=\"%s\"><title>",
                     x, y + 2, x + 6, y + 8, x, y + 14, x - 6, y + 8,
                     health_fill[hi]);
            else
                putf(b,
                     "<circle class=\"mark\" cx=\"%d\" cy=\"%d\" "
                     "r=\"5\" fill=\"%s\"><title>",
                     x, y + 8, health_fill[hi]);
            kw_web_esc(b, m[j].what);
            puts_(b, " ");
            when(b, m[j].at);
            puts_(b, m[j].at > to     ? " (after the window)"
                     : m[j].at < from ? " (before the window)"
                                      : "");
            puts_(b, m[j].renewal ? "</title></path>" : "</title></circle>");
        }
        puts_(b, "</g>\n");
    }
    puts_(b, "</svg></section>\n");
}

static const char *const filter_kinds[] = {"tls", "dkim", "dnssec",
                                           "dkim-rotation", NULL};

static int known(const char *const *words, const char *v)
{
    for (; *words != NULL; words++)
        if (strcmp(*words, v) == 0)
            return 1;
    return 0;
}

int kw_web_filters(const char *query, kw_web_opts *o, kw_diag *d)
{
    static const char *const healths[] = {"ok", "warning", "unknown",
                                          "critical", NULL};
    const char *p = query != NULL ? query : "";

    o->kind[0] = o->health[0] = '\0';
    while (*p != '\0') {
        size_t n = strcspn(p, "&");
        char v[32];
        const char *eq = memchr(p, '=', n);
        char *dst = NULL;
        size_t cap = 0, vl;

        if (eq != NULL && (size_t)(eq - p) == 4 && strncmp(p, "kind", 4) == 0)
            dst = o->kind, cap = sizeof(o->kind);
        else if (eq != NULL && (size_t)(eq - p) == 6 &&
                 strncmp(p, "health", 6) == 0)
            dst = o->health, cap = sizeof(o->health);
        if (dst != NULL) {
            vl = n - (size_t)(eq + 1 - p);
            if (vl >= sizeof(v))
                vl = sizeof(v) - 1; /* too long for any word: refused */
            memcpy(v, eq + 1, vl);
            v[vl] = '\0';
            if (v[0] != '\0' &&
                !known(dst == o->kind ? filter_kinds : healths, v))
                return kw_diag_set(d, KW_EINVAL,
                                   "%s=%s: expected one of %s",
                                   dst == o->kind ? "kind" : "health", v,
                                   dst == o->kind
                                       ? "tls, dkim, dnssec, dkim-rotation"
                                       : "ok, warning, unknown, critical");
            /* A known word (or ""): shorter than either field. */
            vl = strlen(v) < cap ? strlen(v) : cap - 1;
            memcpy(dst, v, vl);
            dst[vl] = '\0';
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return 0;
}

/* A filter link: the one in force is bold, not a link. */
static void filter_link(kw_web_buf *b, const kw_web_opts *op, int is_kind,
                        const char *word)
{
    const char *cur = is_kind ? op->kind : op->health;
    const char *kind = is_kind ? word : op->kind;
    const char *health = is_kind ? op->health : word;

    if (strcmp(cur, word) == 0) {
        puts_(b, " <strong>");
        puts_(b, word[0] != '\0' ? word : "all");
        puts_(b, "</strong>");
        return;
    }
    /* The words are the page's own (kw_web_filters checked them). */
    puts_(b, " <a href=\"/?kind=");
    puts_(b, kind);
    puts_(b, "&amp;health=");
    puts_(b, health);
    puts_(b, "\">");
    puts_(b, word[0] != '\0' ? word : "all");
    puts_(b, "</a>");
}

static void inventory(kw_web_buf *b, const json_t *doc,
                      const kw_web_opts *op)
{
    static const char *const hw[] = {"", "critical", "warning", "unknown",
                                     "ok", NULL};
    size_t i, shown = 0;
    char tmp[32];
    int k;

    puts_(b, "<section id=\"inventory\"><h2>Inventory</h2>\n"
             "<p id=\"filters\">Kind:");
    filter_link(b, op, 1, "");
    for (k = 0; filter_kinds[k] != NULL; k++)
        filter_link(b, op, 1, filter_kinds[k]);
    puts_(b, " &middot; Health:");
    for (k = 0; hw[k] != NULL; k++)
        filter_link(b, op, 0, hw[k]);
    puts_(b, "</p>\n<table>"
             "<thead><tr><th>Kind</th><th>Name</th><th>Health</th>"
             "<th>Deadline</th><th>Reason</th></tr></thead><tbody>\n");
    for (i = 0; i < json_array_size(doc); i++) {
        const json_t *o = json_array_get(doc, i);
        const char *dl = text_of(o, "deadline", tmp, sizeof(tmp));
        const char *kind = str_of(o, "kind");
        int hi = health_index(str_of(o, "health"));

        if ((op->kind[0] != '\0' &&
             (kind == NULL || strcmp(kind, op->kind) != 0)) ||
            (op->health[0] != '\0' &&
             strcmp(health_words[hi], op->health) != 0))
            continue;
        shown++;

        putf(b, "<tr class=\"h-%s\"", health_words[hi]);
        put_id_attr(b, o);
        puts_(b, "><td>");
        kw_web_esc(b, str_of(o, "kind"));
        puts_(b, "</td><td>");
        put_name_link(b, o);
        putf(b, "</td><td>%s</td><td>", health_words[hi]);
        kw_web_esc(b, dl != NULL ? dl : "-");
        puts_(b, "</td><td>");
        kw_web_esc(b, str_of(o, "reason"));
        puts_(b, "</td></tr>\n");
    }
    putf(b, "</tbody></table>\n<p id=\"shown\">%zu of %zu shown.</p>"
            "</section>\n",
         shown, json_array_size(doc));
}

static int finish(kw_web_buf *b, char **out, size_t *len, kw_diag *d)
{
    puts_(b, "</body></html>\n");
    if (b->oom) {
        free(b->p);
        return kw_diag_set(d, KW_ENOMEM, "out of memory rendering the page");
    }
    *out = b->p;
    *len = b->len;
    return 0;
}

int kw_web_render_page(const json_t *doc, const kw_web_opts *op, char **out,
                       size_t *len, kw_diag *d)
{
    kw_web_buf b = {NULL, 0, 0, 0};
    size_t count[4] = {0, 0, 0, 0}, i;

    *out = NULL;
    *len = 0;
    if (!json_is_array(doc))
        return kw_diag_set(d, KW_EINVAL, "the listing is not a JSON array");
    if (op->horizon_days < 1 || op->horizon_days > 3650)
        return kw_diag_set(d, KW_EINVAL,
                           "timeline of %d days: expected 1 to 3650",
                           op->horizon_days);
    for (i = 0; i < json_array_size(doc); i++)
        count[health_index(str_of(json_array_get(doc, i), "health"))]++;
    head(&b, "keywarden");
    puts_(&b, "<h1>keywarden</h1>\n<p id=\"counts\">");
    putf(&b,
         "<span id=\"n-total\">%zu</span> objects: "
         "<span id=\"n-critical\" class=\"h-critical\">%zu</span> critical, "
         "<span id=\"n-warning\" class=\"h-warning\">%zu</span> warning, "
         "<span id=\"n-unknown\" class=\"h-unknown\">%zu</span> unknown, "
         "<span id=\"n-ok\" class=\"h-ok\">%zu</span> ok; as of ",
         json_array_size(doc), count[0], count[1], count[2], count[3]);
    when(&b, op->now);
    puts_(&b, " (the same data as <code>keywarden list --json</code>; "
              "<a href=\"/jobs\">the daemon's jobs</a>; "
              "<a href=\"/hooks\">hooks and their runs</a>).</p>\n");
    if (op->note != NULL && op->note[0] != '\0') {
        puts_(&b, "<p id=\"note\" class=\"h-warning\">");
        kw_web_esc(&b, op->note);
        puts_(&b, "</p>\n");
    }
    problems(&b, doc, count);
    timeline(&b, doc, op);
    inventory(&b, doc, op);
    return finish(&b, out, len, d);
}

/* ---- the page at /object/ID --------------------------------------------- */

static void value(kw_web_buf *b, const json_t *v, int depth);

static void members(kw_web_buf *b, const json_t *o, int depth)
{
    const char *k;
    json_t *v;

    puts_(b, "<dl>");
    json_object_foreach((json_t *)o, k, v) {
        puts_(b, "<dt>");
        kw_web_esc(b, k);
        puts_(b, "</dt><dd>");
        value(b, v, depth + 1);
        puts_(b, "</dd>");
    }
    puts_(b, "</dl>");
}

/* Any JSON value, escaped; nesting is bounded by the document jansson
 * parsed (ours), and cut at a depth no object of ours reaches. */
static void value(kw_web_buf *b, const json_t *v, int depth)
{
    size_t i;
    char tmp[64];

    if (depth > 16) {
        puts_(b, "&hellip;");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (json_object_get(v, "base64") != NULL && json_object_size(v) == 1)
            puts_(b, "(not UTF-8) ");
        members(b, v, depth);
        break;
    case JSON_ARRAY:
        if (json_array_size(v) == 0) {
            puts_(b, "-");
            break;
        }
        puts_(b, "<ol>");
        for (i = 0; i < json_array_size(v); i++) {
            puts_(b, "<li>");
            value(b, json_array_get(v, i), depth + 1);
            puts_(b, "</li>");
        }
        puts_(b, "</ol>");
        break;
    case JSON_STRING:
        kw_web_esc(b, json_string_value(v));
        break;
    case JSON_INTEGER:
        snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
        puts_(b, tmp);
        break;
    case JSON_REAL:
        snprintf(tmp, sizeof(tmp), "%g", json_real_value(v));
        puts_(b, tmp);
        break;
    case JSON_TRUE: puts_(b, "yes"); break;
    case JSON_FALSE: puts_(b, "no"); break;
    default: puts_(b, "-"); break;
    }
}

int kw_web_render_object(const json_t *obj, const json_t *events,
                         const kw_web_opts *op, char **out, size_t *len,
                         kw_diag *d)
{
    kw_web_buf b = {NULL, 0, 0, 0};
    int hi;
    size_t i;

    *out = NULL;
    *len = 0;
    if (!json_is_object(obj))
        return kw_diag_set(d, KW_EINVAL, "the object is not a JSON object");
    hi = health_index(str_of(obj, "health"));
    head(&b, name_of(obj));
    puts_(&b, "<p><a href=\"/\">&larr; all objects</a></p>\n<h1>");
    kw_web_esc(&b, str_of(obj, "kind"));
    puts_(&b, " ");
    kw_web_esc(&b, name_of(obj));
    putf(&b, "</h1>\n<p id=\"health\" class=\"h-%s\">%s", health_words[hi],
         health_words[hi]);
    if (str_of(obj, "reason") != NULL && str_of(obj, "reason")[0] != '\0') {
        puts_(&b, ": ");
        kw_web_esc(&b, str_of(obj, "reason"));
    }
    puts_(&b, "; as of ");
    when(&b, op->now);
    puts_(&b, "</p>\n<section id=\"facts\"><h2>Facts</h2>\n");
    members(&b, obj, 0);
    puts_(&b, "</section>\n<section id=\"events\"><h2>Events</h2>\n");
    if (json_array_size(events) == 0)
        puts_(&b, "<p>None recorded.</p>");
    else
        puts_(&b, "<table><thead><tr><th>When</th><th>Event</th>"
                  "<th>Detail</th></tr></thead><tbody>\n");
    for (i = 0; i < json_array_size(events); i++) {
        const json_t *e = json_array_get(events, i);

        puts_(&b, "<tr><td>");
        when(&b, (int64_t)json_integer_value(json_object_get(e, "at")));
        puts_(&b, "</td><td>");
        kw_web_esc(&b, str_of(e, "type"));
        puts_(&b, "</td><td>");
        kw_web_esc(&b, str_of(e, "detail"));
        puts_(&b, "</td></tr>\n");
    }
    if (json_array_size(events) > 0)
        puts_(&b, "</tbody></table>");
    puts_(&b, "</section>\n");
    return finish(&b, out, len, d);
}

/* A page under /: its head, the way back, then lead (markup of ours)
 * and the time the page is of. */
static void sub_head(kw_web_buf *b, const char *title, const char *lead,
                     int64_t now)
{
    head(b, title);
    puts_(b, "<p><a href=\"/\">&larr; all objects</a></p>\n");
    puts_(b, lead);
    when(b, now);
}

/* ---- the page at /jobs -------------------------------------------------- */

int kw_web_render_jobs(const json_t *jobs, const kw_web_opts *op, char **out,
                       size_t *len, kw_diag *d)
{
    kw_web_buf b = {NULL, 0, 0, 0};
    size_t i;

    *out = NULL;
    *len = 0;
    if (!json_is_array(jobs))
        return kw_diag_set(d, KW_EINVAL, "the jobs are not a JSON array");
    sub_head(&b, "keywarden: jobs",
             "<h1>Jobs</h1>\n<p>The daemon's pending and running jobs, "
             "soonest first (as <code>keywarden status</code> shows them), "
             "as of ",
             op->now);
    putf(&b, ": <span id=\"n-jobs\">%zu</span>.</p>\n",
         json_array_size(jobs));
    puts_(&b, "<table id=\"jobs\"><thead><tr><th>Type</th><th>Key</th>"
              "<th>State</th><th>Attempt</th><th>Next run</th>"
              "<th>Last error</th></tr></thead><tbody>\n");
    for (i = 0; i < json_array_size(jobs); i++) {
        const json_t *j = json_array_get(jobs, i);
        const char *err = str_of(j, "last_error");
        int64_t at = time_of(j, "next_at");
        char tmp[32];

        puts_(&b, err != NULL ? "<tr class=\"h-warning\"><td>" : "<tr><td>");
        kw_web_esc(&b, str_of(j, "type"));
        puts_(&b, "</td><td>");
        kw_web_esc(&b, str_of(j, "key"));
        puts_(&b, "</td><td>");
        kw_web_esc(&b, str_of(j, "state"));
        puts_(&b, "</td><td>");
        kw_web_esc(&b, text_of(j, "attempt", tmp, sizeof(tmp)));
        puts_(&b, "</td><td>");
        kw_web_esc(&b, str_of(j, "next_at"));
        if (at > 0 && at <= op->now)
            puts_(&b, " (due)");
        else if (at > 0)
            putf(&b, " (in %lldm)", (long long)((at - op->now + 59) / 60));
        puts_(&b, "</td><td>");
        kw_web_esc(&b, err != NULL ? err : "");
        puts_(&b, "</td></tr>\n");
    }
    puts_(&b, "</tbody></table>\n");
    return finish(&b, out, len, d);
}

/* ---- the page at /hooks ------------------------------------------------- */

static void hook_row(kw_web_buf *b, const json_t *h)
{
    const json_t *on = json_object_get(h, "on");
    const json_t *failed = json_object_get(h, "failed");
    size_t i;
    char tmp[32];

    puts_(b, json_integer_value(failed) > 0 ? "<tr class=\"h-critical\">"
                                            : "<tr>");
    puts_(b, "<td>");
    kw_web_esc(b, str_of(h, "name"));
    puts_(b, "</td><td>");
    for (i = 0; i < json_array_size(on); i++) {
        puts_(b, i > 0 ? ", " : "");
        kw_web_esc(b, json_string_value(json_array_get(on, i)));
    }
    puts_(b, "</td><td><code>");
    kw_web_esc(b, str_of(h, "action"));
    puts_(b, "</code></td><td>");
    kw_web_esc(b, text_of(h, "pending", tmp, sizeof(tmp)));
    puts_(b, "</td><td>");
    kw_web_esc(b, text_of(h, "failed", tmp, sizeof(tmp)));
    puts_(b, "</td><td>");
    kw_web_esc(b, text_of(h, "runs_ok", tmp, sizeof(tmp)));
    puts_(b, " ok, ");
    kw_web_esc(b, text_of(h, "runs_failed", tmp, sizeof(tmp)));
    puts_(b, " failed</td></tr>\n");
}

static void run_row(kw_web_buf *b, const json_t *r)
{
    const char *res = str_of(r, "result");
    const char *out = str_of(r, "output"), *err = str_of(r, "error");
    int ok = res != NULL && strcmp(res, "ok") == 0;
    char tmp[32];

    puts_(b, ok ? "<tr class=\"run\">" : "<tr class=\"run h-critical\">");
    puts_(b, "<td>");
    kw_web_esc(b, str_of(r, "time"));
    puts_(b, "</td><td>");
    kw_web_esc(b, str_of(r, "hook"));
    puts_(b, "</td><td>");
    kw_web_esc(b, str_of(r, "event_type"));
    puts_(b, " ");
    kw_web_esc(b, str_of(r, "object"));
    puts_(b, "</td><td class=\"result\">");
    kw_web_esc(b, res);
    /* `keywarden hooks test`: a real run, but not a delivery. */
    puts_(b, json_is_true(json_object_get(r, "test")) ? " (test)</td><td>"
                                                      : "</td><td>");
    if (json_is_integer(json_object_get(r, "exit_status")))
        kw_web_esc(b, text_of(r, "exit_status", tmp, sizeof(tmp)));
    else if (json_is_integer(json_object_get(r, "signal"))) {
        puts_(b, "signal ");
        kw_web_esc(b, text_of(r, "signal", tmp, sizeof(tmp)));
    }
    puts_(b, "</td><td>");
    if (err != NULL && err[0] != '\0') {
        puts_(b, "<span class=\"reason\">");
        kw_web_esc(b, err);
        puts_(b, "</span>");
    }
    if (out != NULL && out[0] != '\0') {
        size_t n = strlen(out);
        /* The start of the output, cut where it is long; a cut through
         * a UTF-8 sequence shows as U+FFFD, as any bad byte does. */
        char cut[KW_WEB_OUTPUT_EXCERPT + 1];

        snprintf(cut, sizeof(cut), "%s", out);
        puts_(b, "<pre class=\"output\">");
        kw_web_esc(b, cut);
        puts_(b, n > KW_WEB_OUTPUT_EXCERPT ? "\n[cut]</pre>" : "</pre>");
    }
    puts_(b, "</td></tr>\n");
}

int kw_web_render_hooks(const json_t *doc, const kw_web_opts *op, char **out,
                        size_t *len, kw_diag *d)
{
    kw_web_buf b = {NULL, 0, 0, 0};
    const json_t *hooks = json_object_get(doc, "hooks");
    const json_t *runs = json_object_get(doc, "runs");
    size_t i, nfailed = 0;
    int pass;

    *out = NULL;
    *len = 0;
    if (!json_is_array(hooks) || !json_is_array(runs))
        return kw_diag_set(d, KW_EINVAL,
                           "the hooks document has no hooks and runs arrays");
    for (i = 0; i < json_array_size(runs); i++) {
        const char *res = str_of(json_array_get(runs, i), "result");

        nfailed += res == NULL || strcmp(res, "ok") != 0;
    }
    sub_head(&b, "keywarden: hooks",
             "<h1>Hooks</h1>\n<p>The hooks of the configuration and their "
             "recent runs (as <code>keywarden hooks list</code> and "
             "<code>keywarden hooks history</code> show them), as of ",
             op->now);
    putf(&b,
         ": <span id=\"n-hooks\">%zu</span> hooks, <span id=\"n-runs\">%zu"
         "</span> runs, <span id=\"n-failed\" class=\"h-critical\">%zu"
         "</span> of them failed.</p>\n",
         json_array_size(hooks), json_array_size(runs), nfailed);
    if (op->note != NULL && op->note[0] != '\0') {
        puts_(&b, "<p id=\"note\" class=\"h-warning\">");
        kw_web_esc(&b, op->note);
        puts_(&b, "</p>\n");
    }
    puts_(&b, "<table id=\"hooks\"><thead><tr><th>Hook</th><th>On</th>"
              "<th>Action</th><th>Pending</th><th>Failed for good</th>"
              "<th>Runs</th></tr></thead><tbody>\n");
    for (i = 0; i < json_array_size(hooks); i++)
        hook_row(&b, json_array_get(hooks, i));
    puts_(&b, "</tbody></table>\n<h2>Recent runs, failed first</h2>\n"
              "<table id=\"runs\"><thead><tr><th>Time</th><th>Hook</th>"
              "<th>Event</th><th>Result</th><th>Exit</th><th>Output</th>"
              "</tr></thead><tbody>\n");
    /* Failed runs, then the others, each newest first as read. */
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < json_array_size(runs); i++) {
            const json_t *r = json_array_get(runs, i);
            const char *res = str_of(r, "result");
            int ok = res != NULL && strcmp(res, "ok") == 0;

            if (ok == (pass == 0))
                continue;
            run_row(&b, r);
        }
    puts_(&b, "</tbody></table>\n");
    return finish(&b, out, len, d);
}
