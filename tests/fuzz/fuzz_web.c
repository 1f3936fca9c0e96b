/*
 * libFuzzer target: the page (service/web.c) on documents and strings
 * nobody meant: the first byte picks what the rest is.
 *   0: a string for kw_web_esc: the output holds none of < > " ' and no
 *      & that does not start one of the escaper's entities, and is valid
 *      UTF-8 without C0 controls other than tab and newline.
 *   1: a query for kw_web_filters: a refusal has words, an acceptance
 *      holds only words the page knows.
 *   else: a JSON document for kw_web_render_page and, per element,
 *      kw_web_render_object: whatever the names hold, every tag of the
 *      page is one the renderer writes, none with an event handler, a
 *      script URL or a style attribute, and one <svg> at most.
 */
#include "common/kw_str.h"
#include "service/web.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_escaped(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k;

        if (c == '<' || c == '>' || c == '"' || c == '\'')
            abort();
        if (c == '&') {
            if (strncmp(s + i, "&amp;", 5) && strncmp(s + i, "&lt;", 4) &&
                strncmp(s + i, "&gt;", 4) && strncmp(s + i, "&quot;", 6) &&
                strncmp(s + i, "&#39;", 5))
                abort();
        }
        if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
            abort();
        k = c >= 0x80 ? kw_utf8_seq((const unsigned char *)s + i, n - i) : 1;
        if (k == 0)
            abort();
        i += k;
    }
}

/* Every tag is one the renderer writes, and none carries an event
 * handler or a script URL: names and values are text, whatever they
 * hold, so a "<" of theirs is always "&lt;". */
static void check_page(const char *p)
{
    static const char *const tags[] = {
        "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1",
        "h2", "p", "span", "code", "section", "ol", "ul", "li", "strong",
        "a", "svg", "line", "text", "g", "circle", "table", "thead",
        "tbody", "tr", "th", "td", "dl", "dt", "dd", "rect", "path", "pre",
        NULL};
    const char *s = p;
    size_t svgs = 0;

    while ((s = strchr(s, '<')) != NULL) {
        const char *name = s + 1 + (s[1] == '/');
        size_t n = strspn(name, "!ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "abcdefghijklmnopqrstuvwxyz0123456789");
        const char *end = strchr(s, '>');
        size_t i;

        if (end == NULL)
            abort();
        for (i = 0; tags[i] != NULL; i++)
            if (strlen(tags[i]) == n && strncmp(tags[i], name, n) == 0)
                break;
        if (tags[i] == NULL)
            abort();
        if (s[1] != '/' && n == 3 && strncmp(name, "svg", 3) == 0)
            svgs++;
        for (i = 0; s + i < end; i++)
            if (strncmp(s + i, " on", 3) == 0 ||
                strncmp(s + i, "javascript:", 11) == 0 ||
                strncmp(s + i, "style=", 6) == 0)
                abort();
        s = end;
    }
    if (svgs > 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;
    kw_diag d;

    if (size < 1 || size > 65536)
        return 0;
    if ((s = malloc(size)) == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    if (data[0] == 0) {
        kw_web_buf b = {NULL, 0, 0, 0};

        kw_web_esc(&b, s);
        if (!b.oom && b.p != NULL)
            check_escaped(b.p, b.len);
        free(b.p);
    } else if (data[0] == 1) {
        kw_web_opts o;

        memset(&o, 0, sizeof(o));
        if (kw_web_filters(s, &o, &d) != 0) {
            if (d.msg[0] == '\0')
                abort();
        } else if ((o.kind[0] && strcmp(o.kind, "tls") &&
                    strcmp(o.kind, "dkim") && strcmp(o.kind, "dnssec") &&
                    strcmp(o.kind, "dkim-rotation")) ||
                   (o.health[0] && strcmp(o.health, "ok") &&
                    strcmp(o.health, "warning") &&
                    strcmp(o.health, "unknown") &&
                    strcmp(o.health, "critical")))
            abort();
    } else {
        json_t *doc = json_loadb(s, size - 1, JSON_DECODE_ANY, NULL);
        kw_web_opts o = {.now = 1796126400, .horizon_days = 1 + data[0] % 90};
        char *page = NULL;
        size_t len = 0, i;

        if (doc != NULL &&
            kw_web_render_page(doc, &o, &page, &len, &d) == 0) {
            if (strlen(page) != len)
                abort();
            check_page(page);
            free(page);
            for (i = 0; i < json_array_size(doc) && i < 8; i++) {
                page = NULL;
                if (kw_web_render_object(json_array_get(doc, i), doc, &o,
                                         &page, &len, &d) == 0) {
                    check_page(page);
                    free(page);
                }
            }
        }
        json_decref(doc);
    }
    free(s);
    return 0;
}
