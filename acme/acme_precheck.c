/*
 * acme_precheck.c: the HTTP-01 pre-check (see acme_precheck.h).
 *
 * States of one check, each entered on the loop:
 *
 *   RESOLVE  A and AAAA of the name, on the thread pool
 *   WALK(f)  f = IPv6, then IPv4: one GET per hop, each hop's host
 *            resolved again (thread pool) when it is not the name itself
 *   DONE     the two walks are merged into one verdict; the callback runs
 *
 * Invariants: at most one request or DNS job is in flight; every step
 * that ends a walk goes through a zero timer (pc->step), so an acme_http
 * handle is never freed from inside its own callback and the user's
 * callback never runs inside acme_precheck_run().
 */
#include "acme_precheck.h"

#include "acme_http.h"
#include "../common/kw_str.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef KW_VERSION
#define KW_VERSION "0"
#endif


/* One more hop in w (zeroed), or NULL when out of memory. */
static acme_pc_hop *add_hop(acme_pc_walk *w)
{
    acme_pc_hop *n = realloc(w->hops, (w->nhops + 1) * sizeof(*n));

    if (n == NULL)
        return NULL;
    w->hops = n;
    memset(&n[w->nhops], 0, sizeof(*n));
    return &n[w->nhops++];
}

/* The addresses of in[0..n) the CA could reach, into out; the others
 * are counted in *reserved.  Returns how many were kept. */
static size_t keep_reachable(const kw_dns_addr *in, size_t n,
                             kw_dns_addr *out, int allow_reserved,
                             int *reserved)
{
    size_t i, k = 0;

    for (i = 0; i < n; i++) {
        if (!allow_reserved && acme_precheck_reserved_ip(in[i].a) == 1) {
            (*reserved)++;
            continue;
        }
        out[k++] = in[i];
    }
    return k;
}

static void free_walks(acme_precheck_result *r)
{
    int i;

    if (r == NULL)
        return;
    for (i = 0; i < 2; i++) {
        free(r->walks[i].hops);
        r->walks[i].hops = NULL;
        r->walks[i].nhops = 0;
    }
}

static const char *const verdict_names[ACME_PC_NVERDICTS] = {
    "OK", "DNS_NO_ADDRESS", "DNS_FAILED", "RESERVED_ADDRESS",
    "CONNECT_REFUSED", "CONNECT_TIMEOUT", "AAAA_BROKEN", "BAD_STATUS",
    "PATH_DROPPED", "BAD_PORT", "BAD_SCHEME", "BAD_HOST", "BAD_LOCATION",
    "MISSING_SLASH", "LOOP", "TOO_MANY_REDIRECTS", "HTML_BODY",
    "WRONG_BODY", "TLS_FAILED", "HTTP_ERROR", "TIMEOUT", "INTERNAL",
};

const char *acme_pc_verdict_name(acme_pc_verdict v)
{
    if ((int)v < 0 || v >= ACME_PC_NVERDICTS)
        return "UNKNOWN";
    return verdict_names[v];
}

static void fmt(char *buf, size_t cap, const char *f, ...)
    __attribute__((format(printf, 3, 4)));

static void fmt(char *buf, size_t cap, const char *f, ...)
{
    va_list ap;

    if (buf == NULL || cap == 0)
        return;
    va_start(ap, f);
    vsnprintf(buf, cap, f, ap);
    va_end(ap);
}

/* A printable copy of untrusted text (a Location, a body) for messages. */
static void shown(const char *s, size_t len, char *buf, size_t cap,
                  size_t max)
{
    size_t i, o = 0;

    if (cap == 0)
        return;
    for (i = 0; i < len && o + 6 < cap; i++) {
        unsigned char c = (unsigned char)s[i];

        if (i == max) {
            o += (size_t)snprintf(buf + o, cap - o, "...");
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    buf[o < cap ? o : cap - 1] = '\0';
}

/* ----- the pure parts ---------------------------------------------------- */

int acme_precheck_reserved_ip(const char *addr)
{
    unsigned char b[16];

    if (addr == NULL)
        return -1;
    if (inet_pton(AF_INET, addr, b) == 1) {
        return b[0] == 0 || b[0] == 10 || b[0] == 127 ||
               (b[0] == 100 && (b[1] & 0xc0) == 64) ||
               (b[0] == 169 && b[1] == 254) ||
               (b[0] == 172 && (b[1] & 0xf0) == 16) ||
               (b[0] == 192 && b[1] == 0 && b[2] == 0) ||
               (b[0] == 192 && b[1] == 0 && b[2] == 2) ||
               (b[0] == 192 && b[1] == 88 && b[2] == 99) ||
               (b[0] == 192 && b[1] == 168) ||
               (b[0] == 198 && (b[1] & 0xfe) == 18) ||
               (b[0] == 198 && b[1] == 51 && b[2] == 100) ||
               (b[0] == 203 && b[1] == 0 && b[2] == 113) || b[0] >= 224;
    }
    if (inet_pton(AF_INET6, addr, b) == 1) {
        static const unsigned char zero[16], mapped[12] = {
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        char v4[INET_ADDRSTRLEN];

        if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1))
            return 1; /* :: and ::1 */
        if (memcmp(b, mapped, 12) == 0) {
            inet_ntop(AF_INET, b + 12, v4, sizeof(v4));
            return acme_precheck_reserved_ip(v4);
        }
        return (b[0] & 0xfe) == 0xfc ||                 /* fc00::/7 */
               (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* fe80::/10 */
               b[0] == 0xff ||                          /* multicast */
               (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d &&
                b[3] == 0xb8) ||                        /* 2001:db8::/32 */
               (b[0] == 0x01 && b[1] == 0 && b[2] == 0 && b[3] == 0 &&
                b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0) ||
               memcmp(b, zero, 10) == 0; /* IPv4-compatible, ::/96 */
    }
    return -1;
}

/* The parts of url we judge; 0 or -1 (not a URL curl can parse). */
typedef struct url_parts {
    char scheme[16];
    char host[256];
    int port;           /* explicit port, or 0 */
    size_t path_len;
} url_parts;

static int url_split(CURLU *u, url_parts *p)
{
    char *s = NULL;

    memset(p, 0, sizeof(*p));
    if (curl_url_get(u, CURLUPART_SCHEME, &s, 0) != CURLUE_OK)
        return -1;
    snprintf(p->scheme, sizeof(p->scheme), "%s", s);
    curl_free(s);
    s = NULL;
    if (curl_url_get(u, CURLUPART_HOST, &s, 0) != CURLUE_OK)
        return -1;
    if (strlen(s) >= sizeof(p->host)) {
        curl_free(s);
        return -1;
    }
    snprintf(p->host, sizeof(p->host), "%s", s);
    curl_free(s);
    s = NULL;
    if (curl_url_get(u, CURLUPART_PORT, &s, 0) == CURLUE_OK) {
        p->port = atoi(s);
        curl_free(s);
        s = NULL;
    }
    if (curl_url_get(u, CURLUPART_PATH, &s, 0) == CURLUE_OK) {
        p->path_len = strlen(s);
        curl_free(s);
    }
    return 0;
}

/* The host without IPv6 brackets. */
static void host_bare(const char *host, char *buf, size_t cap)
{
    size_t n = strlen(host);

    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        snprintf(buf, cap, "%.*s", (int)(n - 2), host + 1);
    else
        snprintf(buf, cap, "%s", host);
}

int acme_precheck_path_kept(const char *url, const char *token)
{
    CURLU *u = curl_url();
    char *path = NULL;
    int kept = 0;

    if (u == NULL || token == NULL || *token == '\0')
        goto out;
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) !=
            CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        goto out;
    /* The token is 43 base64url characters: wherever it still is in the
     * path, the target may serve it (a rewrite to /acme/TOKEN is fine). */
    kept = strstr(path, token) != NULL;
out:
    curl_free(path);
    curl_url_cleanup(u);
    return kept;
}

acme_pc_verdict acme_precheck_judge_redirect(const acme_pc_rules *rules,
                                             const char *url, long status,
                                             const char *location,
                                             size_t redirects,
                                             const char *const *seen,
                                             size_t nseen, char *next,
                                             size_t cap, char *why,
                                             size_t wcap)
{
    int http_port = rules != NULL && rules->http_port > 0 ? rules->http_port
                                                          : 80;
    int https_port = rules != NULL && rules->https_port > 0
                         ? rules->https_port : 443;
    char loc[300], bare[256], *out = NULL;
    acme_pc_verdict v = ACME_PC_INTERNAL;
    CURLU *u = NULL;
    url_parts p;
    size_t i;

    if (next != NULL && cap > 0)
        next[0] = '\0';
    if (why != NULL && wcap > 0)
        why[0] = '\0';
    if (status != 301 && status != 302 && status != 303 && status != 307 &&
        status != 308) {
        fmt(why, wcap, "%s answered %ld, which is no redirect", url,
            status);
        return ACME_PC_BAD_STATUS;
    }
    if (location == NULL || *location == '\0') {
        fmt(why, wcap, "%s answered %ld without a Location header", url,
            status);
        return ACME_PC_BAD_STATUS;
    }
    shown(location, strlen(location), loc, sizeof(loc), 200);
    /* Boulder: `if numRedirects > maxRedirect` before numRedirects++. */
    if (redirects > ACME_PC_MAX_REDIRECTS) {
        fmt(why, wcap, "%s redirects once more (to %s) after %zu redirects; "
            "the CA follows at most %d", url, loc, redirects,
            ACME_PC_MAX_REDIRECTS + 1);
        return ACME_PC_TOO_MANY_REDIRECTS;
    }
    if (status == 303) {
        fmt(why, wcap, "%s answered 303 See Other (to %s); the CA follows "
            "only 301, 302, 307 and 308", url, loc);
        return ACME_PC_BAD_STATUS;
    }
    u = curl_url();
    if (u == NULL)
        goto out;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_URL, location,
                     CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        url_split(u, &p) != 0) {
        fmt(why, wcap, "%s redirects to \"%s\", which is not a valid URL",
            url, loc);
        v = ACME_PC_BAD_LOCATION;
        goto out;
    }
    if (strcasecmp(p.scheme, "http") != 0 &&
        strcasecmp(p.scheme, "https") != 0) {
        fmt(why, wcap, "%s redirects to %s: the CA follows only http and "
            "https, not %s", url, loc, p.scheme);
        v = ACME_PC_BAD_SCHEME;
        goto out;
    }
    if (p.port != 0 && p.port != http_port && p.port != https_port) {
        fmt(why, wcap, "%s redirects to %s: the CA connects only to ports "
            "%d and %d, not %d", url, loc, http_port, https_port, p.port);
        v = ACME_PC_BAD_PORT;
        goto out;
    }
    host_bare(p.host, bare, sizeof(bare));
    {
        size_t hl = strlen(bare);

        while (hl > 0 && bare[hl - 1] == '.')
            bare[--hl] = '\0';
        if (hl >= 11 && strcasecmp(bare + hl - 11, ".well-known") == 0) {
            fmt(why, wcap, "%s redirects to %s: the host \"%s\" ends in "
                ".well-known, so the redirect target lacks the '/' after "
                "the host name", url, loc, bare);
            v = ACME_PC_MISSING_SLASH;
            goto out;
        }
    }
    if (strchr(bare, '%') != NULL) {
        fmt(why, wcap, "%s redirects to %s: IPv6 scope zones are refused",
            url, loc);
        v = ACME_PC_BAD_HOST;
        goto out;
    }
    {
        int res = acme_precheck_reserved_ip(bare);

        if (res == 1 && !(rules != NULL && rules->allow_reserved)) {
            fmt(why, wcap, "%s redirects to %s: %s is a reserved address "
                "the CA will not connect to", url, loc, bare);
            v = ACME_PC_BAD_HOST;
            goto out;
        }
        if (res == -1 && kw_dns_name_check(bare, NULL) != 0) {
            fmt(why, wcap, "%s redirects to %s: \"%s\" is not a valid host "
                "name", url, loc, bare);
            v = ACME_PC_BAD_HOST;
            goto out;
        }
    }
    if (p.path_len > ACME_PC_MAX_PATH) {
        fmt(why, wcap, "%s redirects to a path of %zu bytes; the CA allows "
            "at most %d", url, p.path_len, ACME_PC_MAX_PATH);
        v = ACME_PC_BAD_LOCATION;
        goto out;
    }
    /* The CA connects to its own ports: a URL without a port gets the
     * scheme's one, which the rules may map elsewhere (tests). */
    if (p.port == 0) {
        int want = strcasecmp(p.scheme, "http") == 0 ? http_port
                                                     : https_port;
        int dflt = strcasecmp(p.scheme, "http") == 0 ? 80 : 443;

        if (want != dflt) {
            char ps[16];

            snprintf(ps, sizeof(ps), "%d", want);
            curl_url_set(u, CURLUPART_PORT, ps, 0);
        }
    }
    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    if (curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
        goto out;
    if (strlen(out) >= cap) {
        fmt(why, wcap, "%s redirects to a URL longer than %zu bytes", url,
            cap - 1);
        v = ACME_PC_BAD_LOCATION;
        goto out;
    }
    for (i = 0; i < nseen; i++) {
        if (seen[i] != NULL && strcmp(seen[i], out) == 0) {
            fmt(why, wcap, "%s redirects to %s, which was already fetched: "
                "a redirect loop", url, out);
            v = ACME_PC_LOOP;
            goto out;
        }
    }
    memcpy(next, out, strlen(out) + 1);
    v = ACME_PC_OK;
out:
    if (v == ACME_PC_INTERNAL)
        fmt(why, wcap, "%s: out of memory judging its redirect", url);
    curl_free(out);
    curl_url_cleanup(u);
    return v;
}

static int looks_html(const char *ctype, const char *body, size_t len)
{
    static const char *const marks[] = {"<html", "<!doctype", "<head",
                                        "<body", "<title", NULL};
    size_t i, j;

    if (ctype != NULL && (strncasecmp(ctype, "text/html", 9) == 0 ||
                          strncasecmp(ctype, "application/xhtml", 17) == 0))
        return 1;
    for (i = 0; marks[i] != NULL; i++) {
        size_t ml = strlen(marks[i]);

        for (j = 0; j + ml <= len; j++)
            if (strncasecmp(body + j, marks[i], ml) == 0)
                return 1;
    }
    return 0;
}

acme_pc_verdict acme_precheck_judge_final(long status,
                                          const char *content_type,
                                          const char *body, size_t len,
                                          int truncated, const char *keyauth,
                                          char *why, size_t wcap)
{
    char got[200];
    size_t tl;

    if (why != NULL && wcap > 0)
        why[0] = '\0';
    if (body == NULL)
        len = 0;
    if (status != 200) {
        fmt(why, wcap, "the answer is %ld, not 200", status);
        return ACME_PC_BAD_STATUS;
    }
    /* Boulder reads at most 128 bytes and fails when it got all 128. */
    if (len >= ACME_PC_MAX_RESPONSE || truncated) {
        fmt(why, wcap, "the answer is 200 with a body of %s%zu bytes%s; the "
            "CA reads fewer than %d bytes, so this is not the key "
            "authorization", truncated ? "more than " : "", len,
            looks_html(content_type, body, len) ? " (an HTML page)" : "",
            ACME_PC_MAX_RESPONSE);
        return ACME_PC_HTML_BODY;
    }
    tl = len;
    /* strings.TrimRightFunc(body, unicode.IsSpace), for ASCII. */
    while (tl > 0 && (body[tl - 1] == ' ' || body[tl - 1] == '\t' ||
                      body[tl - 1] == '\n' || body[tl - 1] == '\r' ||
                      body[tl - 1] == '\v' || body[tl - 1] == '\f'))
        tl--;
    if (keyauth != NULL && tl == strlen(keyauth) &&
        memcmp(body, keyauth, tl) == 0)
        return ACME_PC_OK;
    shown(body, tl, got, sizeof(got), 100);
    if (looks_html(content_type, body, len)) {
        fmt(why, wcap, "the answer is 200 with an HTML page (\"%s\"), not "
            "the key authorization", got);
        return ACME_PC_HTML_BODY;
    }
    fmt(why, wcap, "the answer is 200 with \"%s\", not the key "
        "authorization", got);
    return ACME_PC_WRONG_BODY;
}

void acme_precheck_hops_text(const acme_pc_walk *w, char *buf, size_t cap)
{
    size_t pos = 0, i;

    if (cap == 0)
        return;
    buf[0] = '\0';
    for (i = 0; i < w->nhops; i++) {
        const acme_pc_hop *h = &w->hops[i];

        kw_str_appendf(buf, cap, &pos, "%s [%s] -> ", h->url,
                       h->addr[0] ? h->addr : "-");
        if (h->status == 0)
            kw_str_appendf(buf, cap, &pos, "%s\n",
                           h->error[0] ? h->error : "no answer");
        else if (h->location[0] != '\0')
            kw_str_appendf(buf, cap, &pos, "%ld -> %s\n", h->status,
                           h->location);
        else
            kw_str_appendf(buf, cap, &pos, "%ld\n", h->status);
    }
}

/* ----- the fix, in words ------------------------------------------------- */

static const char nginx_exempt[] =
    "nginx, in the port-80 server block, before the redirect:\n"
    "    location ^~ /.well-known/acme-challenge/ {\n"
    "        root /var/www/letsencrypt;   # the webroot keywarden writes to\n"
    "        default_type text/plain;\n"
    "    }\n"
    "    location / { return 301 https://$host$request_uri; }\n"
    "Apache, before the RewriteRule that redirects:\n"
    "    RewriteCond %{REQUEST_URI} !^/\\.well-known/acme-challenge/\n"
    "    RewriteRule ^ https://%{HTTP_HOST}%{REQUEST_URI} [R=301,L]\n";

void acme_precheck_fix(acme_precheck_result *r, const char *token)
{
    char *f = r->fix;
    size_t cap = sizeof(r->fix), pos = 0;

    (void)token;
    f[0] = '\0';
    switch (r->verdict) {
    case ACME_PC_OK:
        break;
    case ACME_PC_DNS_NO_ADDRESS:
        kw_str_appendf(f, cap, &pos, "Publish an A (and, if the server has "
                       "IPv6, an AAAA) record for %s pointing at the web "
                       "server.\n", r->name);
        break;
    case ACME_PC_DNS_FAILED:
        kw_str_appendf(f, cap, &pos, "The resolver did not answer for %s: "
                       "check the zone's name servers (the CA resolves "
                       "through public DNS) or the resolver keywarden "
                       "uses.\n", r->name);
        break;
    case ACME_PC_RESERVED_ADDRESS:
        kw_str_appendf(f, cap, &pos, "%s resolves only to private or "
                       "loopback addresses, which the CA cannot reach: "
                       "publish the public address, or use dns-01.\n",
                       r->name);
        break;
    case ACME_PC_CONNECT_REFUSED:
    case ACME_PC_CONNECT_TIMEOUT:
        kw_str_appendf(f, cap, &pos, "Open TCP port 80 (and 443 if the "
                       "site redirects to https) to the whole Internet: the "
                       "CA validates from several networks.  Check the "
                       "firewall (nft list ruleset / iptables -S), that the "
                       "web server listens on the address DNS gives for %s "
                       "(ss -ltn), and any cloud security group; or use "
                       "dns-01.\n", r->name);
        break;
    case ACME_PC_AAAA_BROKEN:
        kw_str_appendf(f, cap, &pos, "%s has an AAAA record, but the web "
                       "server does not answer correctly over IPv6 while "
                       "IPv4 works.  The CA tries IPv6 first.  Either make "
                       "the server listen on IPv6 (nginx: listen [::]:80; "
                       "listen [::]:443 ssl;  Apache: Listen [::]:80) with "
                       "the same configuration as IPv4, or remove the "
                       "AAAA record.\n", r->name);
        break;
    case ACME_PC_PATH_DROPPED:
        kw_str_appendf(f, cap, &pos, "A redirect drops the path "
                       "/.well-known/acme-challenge/...  Exempt the "
                       "challenge path from the redirect (or redirect with "
                       "$request_uri so the path is kept and serve it on "
                       "the target).\n%s", nginx_exempt);
        break;
    case ACME_PC_BAD_STATUS:
        kw_str_appendf(f, cap, &pos, "The challenge URL must answer 200 "
                       "(after at most 301/302/307/308 redirects).  If the "
                       "final vhost (often the HTTPS one) answers 404, "
                       "serve the webroot there too:\n"
                       "    location ^~ /.well-known/acme-challenge/ { root "
                       "/var/www/letsencrypt; default_type text/plain; }\n"
                       "(Apache: Alias /.well-known/acme-challenge/ "
                       "/var/www/letsencrypt/.well-known/acme-challenge/), "
                       "or exempt the path from the redirect:\n%s"
                       "A 303 must become a 301 or 308; a login page or "
                       "access rule must let the challenge path through.\n",
                       nginx_exempt);
        break;
    case ACME_PC_BAD_PORT:
        kw_str_appendf(f, cap, &pos, "The CA follows redirects only to "
                       "ports 80 and 443.  Redirect to https://$host"
                       "$request_uri (port 443), or exempt the challenge "
                       "path from the redirect:\n%s", nginx_exempt);
        break;
    case ACME_PC_BAD_SCHEME:
    case ACME_PC_BAD_HOST:
    case ACME_PC_BAD_LOCATION:
        kw_str_appendf(f, cap, &pos, "Redirect the challenge path only to "
                       "an http or https URL on a public host name, or "
                       "exempt it from the redirect:\n%s", nginx_exempt);
        break;
    case ACME_PC_MISSING_SLASH:
        kw_str_appendf(f, cap, &pos, "The redirect target lacks the '/' "
                       "after the host name (Apache: \"Redirect / "
                       "https://%s\" must be \"Redirect / https://%s/\"; "
                       "nginx: return 301 https://$host$request_uri;).\n",
                       r->name, r->name);
        break;
    case ACME_PC_LOOP:
    case ACME_PC_TOO_MANY_REDIRECTS:
        kw_str_appendf(f, cap, &pos, "The redirects loop or go on too long "
                       "(the CA follows at most %d).  Look at the hops "
                       "below: typically HTTPS redirects back to http (a "
                       "proxy that does not pass X-Forwarded-Proto), or "
                       "two rules undo each other.  Serve the challenge "
                       "path directly on port 80:\n%s",
                       ACME_PC_MAX_REDIRECTS + 1, nginx_exempt);
        break;
    case ACME_PC_HTML_BODY:
        kw_str_appendf(f, cap, &pos, "The challenge URL answers with a "
                       "page (a login page, an index, a catch-all), not "
                       "the token file.  Serve the webroot for the "
                       "challenge path ahead of the application:\n"
                       "    location ^~ /.well-known/acme-challenge/ { root "
                       "/var/www/letsencrypt; default_type text/plain; "
                       "try_files $uri =404; }\n"
                       "Apache: Alias /.well-known/acme-challenge/ "
                       "/var/www/letsencrypt/.well-known/acme-challenge/ "
                       "and exclude it from the application's "
                       "RewriteRule with\n"
                       "    RewriteCond %%{REQUEST_URI} "
                       "!^/\\.well-known/acme-challenge/\n");
        break;
    case ACME_PC_WRONG_BODY:
        kw_str_appendf(f, cap, &pos, "The challenge URL answers 200 but "
                       "with other content: the web server serves another "
                       "directory than the webroot keywarden writes to, or "
                       "another server answers for %s.  Point the "
                       "challenge location's root at keywarden's webroot.\n",
                       r->name);
        break;
    case ACME_PC_TLS_FAILED:
        kw_str_appendf(f, cap, &pos, "The HTTPS redirect target failed the "
                       "TLS handshake.  The CA needs TLS 1.2 or newer "
                       "(nginx: ssl_protocols TLSv1.2 TLSv1.3;), a vhost "
                       "for the name (SNI: a catch-all that rejects unknown "
                       "names fails; any certificate is fine, even "
                       "self-signed), and TLS on that port.  Or exempt the "
                       "challenge path from the redirect:\n%s",
                       nginx_exempt);
        break;
    case ACME_PC_HTTP_ERROR:
    case ACME_PC_TIMEOUT:
        kw_str_appendf(f, cap, &pos, "The server did not give a complete "
                       "HTTP answer in time; check it with curl -v "
                       "http://%s/.well-known/acme-challenge/test and its "
                       "error log.\n", r->name);
        break;
    default:
        kw_str_appendf(f, cap, &pos, "Retry; if it persists, report it.\n");
        break;
    }
}

/* ----- the check on the loop --------------------------------------------- */

typedef struct pc_dns_job {
    uv_work_t w;
    void *pc;
    kw_dns_server server;
    char host[256];
    int dns_ms;
    kw_dns_addr v6[KW_DNS_ADDRS_MAX], v4[KW_DNS_ADDRS_MAX];
    size_t n6, n4;
    int rc6, rc4;
    kw_diag d6, d4;
} pc_dns_job;

typedef struct pc {
    uv_loop_t *loop;
    acme_precheck_opts o;
    kw_dns_server resolver;
    char ua[128];
    char token[256];
    char *keyauth;
    acme_precheck_cb cb;
    void *ctx;
    acme_precheck_result *r;
    uint64_t t0;
    uv_timer_t step;      /* zero timer: the next walk, or the end */
    int wi;               /* the walk: 0 IPv6, 1 IPv4 */
    acme_http *h;         /* this walk's client */
    acme_http *old;       /* the previous walk's, freed on the step */
    uint64_t deadline;    /* this walk's, uv_now ms */
    size_t redirects;
    int path_lost_at;     /* hop whose redirect dropped the token, -1 */
    int final_judged;     /* the walk ended with judge_final */
    char url[ACME_PC_URL_MAX];
    pc_dns_job *job;
    int done;
} pc;

static void dns_work(uv_work_t *w)
{
    pc_dns_job *j = w->data;

    j->rc6 = kw_dns_resolve(&j->server, j->host, 1, j->v6,
                            KW_DNS_ADDRS_MAX, &j->n6, j->dns_ms, &j->d6);
    j->rc4 = kw_dns_resolve(&j->server, j->host, 0, j->v4,
                            KW_DNS_ADDRS_MAX, &j->n4, j->dns_ms, &j->d4);
}

static int dns_start(pc *p, const char *host, uv_after_work_cb after)
{
    pc_dns_job *j = calloc(1, sizeof(*j));

    if (j == NULL)
        return KW_ENOMEM;
    j->w.data = j;
    j->pc = p;
    j->server = p->resolver;
    snprintf(j->host, sizeof(j->host), "%s", host);
    j->dns_ms = p->o.dns_ms;
    p->job = j;
    if (uv_queue_work(p->loop, &j->w, dns_work, after) != 0) {
        free(j);
        p->job = NULL;
        return KW_EIO;
    }
    return 0;
}

static acme_pc_walk *walk(pc *p)
{
    return &p->r->walks[p->wi];
}

static void walk_next(pc *p);
static void hop_begin(pc *p);

static void on_step(uv_timer_t *t)
{
    walk_next(t->data);
}

/* Ends the current walk with v; the next step runs from the zero timer. */
static void walk_end(pc *p, acme_pc_verdict v, const char *why)
{
    acme_pc_walk *w = walk(p);

    if (p->final_judged && v != ACME_PC_OK && p->path_lost_at >= 0) {
        const acme_pc_hop *h = &w->hops[p->path_lost_at];

        fmt(w->why, sizeof(w->why), "the redirect from %s to %s drops the "
            "path /.well-known/acme-challenge/%s; then %s", h->url,
            h->location, p->token, why);
        v = ACME_PC_PATH_DROPPED;
    } else {
        fmt(w->why, sizeof(w->why), "%s", why);
    }
    w->verdict = v;
    p->old = p->h;
    p->h = NULL;
    p->wi++;
    uv_timer_start(&p->step, on_step, 0, 0);
}

/* The first address of family fam in a job's (or the result's) lists,
 * else of the other family; NULL when there is none. */
static const char *pick(int fam, const kw_dns_addr *v6, size_t n6,
                        const kw_dns_addr *v4, size_t n4)
{
    if (fam == 6 && n6 > 0)
        return v6[0].a;
    if (fam == 4 && n4 > 0)
        return v4[0].a;
    if (n6 > 0)
        return v6[0].a;
    if (n4 > 0)
        return v4[0].a;
    return NULL;
}

static acme_pc_verdict classify(const acme_resp *rs, const pc *p)
{
    const char *e = rs->error;

    switch (rs->curl_code) {
    case CURLE_COULDNT_CONNECT:
        return strstr(e, "timed out") != NULL ? ACME_PC_CONNECT_TIMEOUT
                                              : ACME_PC_CONNECT_REFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        if (strstr(e, "Connection timed out") != NULL ||
            strstr(e, "Failed to connect") != NULL)
            return ACME_PC_CONNECT_TIMEOUT;
        if (strstr(e, "SSL") != NULL || strstr(e, "TLS") != NULL)
            return ACME_PC_TLS_FAILED;
        return uv_now(p->loop) >= p->deadline ? ACME_PC_TIMEOUT
                                              : ACME_PC_HTTP_ERROR;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
        return ACME_PC_TLS_FAILED;
    default:
        return ACME_PC_HTTP_ERROR;
    }
}

static void on_resp(void *ctx, acme_resp *rs)
{
    pc *p = ctx;
    acme_pc_walk *w = walk(p);
    acme_pc_hop *h = &w->hops[w->nhops - 1];
    char why[1024], next[ACME_PC_URL_MAX];
    const char *seen[ACME_PC_MAX_HOPS];
    acme_pc_verdict v;
    size_t i;

    h->status = rs->ok ? rs->status : 0;
    if (rs->location != NULL)
        shown(rs->location, strlen(rs->location), h->location,
              sizeof(h->location), sizeof(h->location) - 8);
    if (!rs->ok) {
        fmt(h->error, sizeof(h->error), "%s", rs->error);
        v = rs->cancelled ? ACME_PC_INTERNAL : classify(rs, p);
        fmt(why, sizeof(why), "%s (at %s): %s", h->url, h->addr,
            rs->error);
        walk_end(p, v, why);
        return;
    }
    if ((rs->status == 301 || rs->status == 302 || rs->status == 303 ||
         rs->status == 307 || rs->status == 308) &&
        rs->location != NULL && rs->location[0] != '\0') {
        for (i = 0; i < w->nhops; i++)
            seen[i] = w->hops[i].url;
        v = acme_precheck_judge_redirect(&p->o.rules, h->url, rs->status,
                                         rs->location, p->redirects, seen,
                                         w->nhops, next, sizeof(next), why,
                                         sizeof(why));
        if (v != ACME_PC_OK) {
            walk_end(p, v, why);
            return;
        }
        if (p->path_lost_at < 0 && !acme_precheck_path_kept(next, p->token))
            p->path_lost_at = (int)(w->nhops - 1);
        p->redirects++;
        if (w->nhops >= ACME_PC_MAX_HOPS) { /* judge_redirect stops first */
            walk_end(p, ACME_PC_TOO_MANY_REDIRECTS, "too many redirects");
            return;
        }
        snprintf(p->url, sizeof(p->url), "%s", next);
        hop_begin(p);
        return;
    }
    {
        char fw[700];

        v = acme_precheck_judge_final(rs->status, rs->content_type, rs->body,
                                      rs->len, rs->truncated, p->keyauth,
                                      fw, sizeof(fw));
        p->final_judged = 1;
        fmt(why, sizeof(why), "%s (at %s%s): %s", h->url, h->addr,
            rs->tls ? ", over TLS" : "", fw);
        walk_end(p, v, v == ACME_PC_OK ? "" : why);
    }
}

/* Sends the request of the current hop to addr. */
static void hop_send(pc *p, const char *addr)
{
    acme_pc_walk *w = walk(p);
    acme_pc_hop *h;
    acme_http_req_opts ro;
    char resolve[400], why[600];
    url_parts up;
    CURLU *u;
    uint64_t now = uv_now(p->loop);
    kw_diag d;
    int port;

    if (w->nhops >= ACME_PC_MAX_HOPS) {
        walk_end(p, ACME_PC_TOO_MANY_REDIRECTS, "too many redirects");
        return;
    }
    if ((h = add_hop(w)) == NULL) {
        walk_end(p, ACME_PC_INTERNAL, "out of memory");
        return;
    }
    snprintf(h->url, sizeof(h->url), "%s", p->url);
    snprintf(h->addr, sizeof(h->addr), "%s", addr);
    if (now >= p->deadline) {
        fmt(why, sizeof(why), "%s: the check's time (%d ms) ran out",
            p->url, p->o.walk_ms);
        snprintf(h->error, sizeof(h->error), "not fetched: time ran out");
        walk_end(p, ACME_PC_TIMEOUT, why);
        return;
    }
    u = curl_url();
    if (u == NULL || curl_url_set(u, CURLUPART_URL, p->url, 0) != CURLUE_OK ||
        url_split(u, &up) != 0) {
        curl_url_cleanup(u);
        walk_end(p, ACME_PC_BAD_LOCATION, "an unparsable URL");
        return;
    }
    curl_url_cleanup(u);
    port = up.port != 0 ? up.port
                        : strcasecmp(up.scheme, "https") == 0 ? 443 : 80;
    snprintf(resolve, sizeof(resolve), strchr(addr, ':') ? "%s:%d:[%s]"
                                                         : "%s:%d:%s",
             up.host, port, addr);
    memset(&ro, 0, sizeof(ro));
    ro.accept = "*/*";
    ro.resolve = resolve;
    ro.connect_ms = p->o.connect_ms;
    ro.timeout_ms = (long)(p->deadline - now);
    ro.max_body = ACME_PC_BODY_READ;
    ro.truncate_body = 1;
    ro.tls12 = 1;
    ro.insecure = 1;
    d.msg[0] = '\0';
    if (acme_http_request_ex(p->h, "GET", p->url, NULL, NULL, &ro, on_resp,
                             p, &d) != 0) {
        fmt(h->error, sizeof(h->error), "%s", d.msg);
        walk_end(p, ACME_PC_INTERNAL, d.msg);
    }
}


/* The current hop's host has been resolved. */
static void hop_dns_done(uv_work_t *wk, int status)
{
    pc_dns_job *j = wk->data;
    pc *p = j->pc;
    acme_pc_walk *w = walk(p);
    const char *a;
    char why[800];

    p->job = NULL;
    (void)status;
    a = pick(w->family, j->v6, j->n6, j->v4, j->n4);
    if (a == NULL) {
        acme_pc_hop *h = w->nhops < ACME_PC_MAX_HOPS ? add_hop(w)
                         : &w->hops[w->nhops - 1];

        if (h != NULL)
            snprintf(h->url, sizeof(h->url), "%s", p->url);
        fmt(why, sizeof(why), "%s: the redirect target %s has no address "
            "(%s)", p->url, j->host,
            j->rc4 != 0 ? j->d4.msg : j->rc6 != 0 ? j->d6.msg
                                                 : "no A, no AAAA");
        fmt(h->error, sizeof(h->error), "no address for %s", j->host);
        free(j);
        walk_end(p, ACME_PC_DNS_NO_ADDRESS, why);
        return;
    }
    if (!p->o.rules.allow_reserved && acme_precheck_reserved_ip(a) == 1) {
        fmt(why, sizeof(why), "%s: the redirect target %s resolves to the "
            "reserved address %s, which the CA will not connect to",
            p->url, j->host, a);
        free(j);
        walk_end(p, ACME_PC_BAD_HOST, why);
        return;
    }
    {
        char addr[48];

        snprintf(addr, sizeof(addr), "%s", a);
        free(j);
        hop_send(p, addr);
    }
}

/* Finds the address of the current hop's host and sends the request. */
static void hop_begin(pc *p)
{
    acme_pc_walk *w = walk(p);
    acme_precheck_result *r = p->r;
    char bare[256];
    url_parts up;
    CURLU *u = curl_url();
    const char *a;

    if (u == NULL || curl_url_set(u, CURLUPART_URL, p->url, 0) != CURLUE_OK ||
        url_split(u, &up) != 0) {
        curl_url_cleanup(u);
        walk_end(p, ACME_PC_BAD_LOCATION, "an unparsable URL");
        return;
    }
    curl_url_cleanup(u);
    host_bare(up.host, bare, sizeof(bare));
    if (acme_precheck_reserved_ip(bare) >= 0) {
        hop_send(p, bare); /* judge_redirect vetted the literal */
        return;
    }
    if (strcasecmp(bare, r->name) == 0) {
        a = pick(w->family, r->v6, r->n6, r->v4, r->n4);
        hop_send(p, a);
        return;
    }
    if (dns_start(p, bare, hop_dns_done) != 0)
        walk_end(p, ACME_PC_INTERNAL, "cannot queue a DNS lookup");
}

static void on_step_closed(uv_handle_t *hd)
{
    pc *p = hd->data;

    free(p->keyauth);
    free_walks(p->r);
    free(p->r);
    free(p);
}

static int is_connect(acme_pc_verdict v)
{
    return v == ACME_PC_CONNECT_REFUSED || v == ACME_PC_CONNECT_TIMEOUT;
}

/* Both walks are done: one verdict, the callback, the end. */
static void finish(pc *p)
{
    acme_precheck_result *r = p->r;
    const acme_pc_walk *w6 = &r->walks[0], *w4 = &r->walks[1];
    char hops[4096];

    if (w6->family != 0 && w4->family != 0) {
        if (w6->verdict == ACME_PC_OK && w4->verdict == ACME_PC_OK) {
            r->verdict = ACME_PC_OK;
        } else if (w6->verdict != ACME_PC_OK && w4->verdict == ACME_PC_OK) {
            r->verdict = ACME_PC_AAAA_BROKEN;
            fmt(r->why, sizeof(r->why), "over IPv6 (%s) the check fails "
                "with %s: %s; over IPv4 (%s) it passes.  The CA tries IPv6 "
                "first", r->v6[0].a, acme_pc_verdict_name(w6->verdict),
                w6->why, r->v4[0].a);
        } else if (w6->verdict == ACME_PC_OK) {
            r->verdict = ACME_PC_OK;
            fmt(r->note, sizeof(r->note), "IPv4 fails (%s: %.380s), but the "
                "CA uses IPv6 first", acme_pc_verdict_name(w4->verdict),
                w4->why);
        } else {
            /* Boulder retries over IPv4 when IPv6 does not connect. */
            const acme_pc_walk *w = is_connect(w6->verdict) &&
                                            !is_connect(w4->verdict)
                                        ? w4 : w6;

            r->verdict = w->verdict;
            fmt(r->why, sizeof(r->why), "over IPv%d: %s", w->family,
                w->why);
        }
    } else {
        const acme_pc_walk *w = w6->family != 0 ? w6 : w4;

        r->verdict = w->verdict;
        if (w->verdict != ACME_PC_OK)
            fmt(r->why, sizeof(r->why), "over IPv%d: %s", w->family,
                w->why);
    }
    r->ok = r->verdict == ACME_PC_OK;
    (void)hops;
    p->done = 1;
    acme_precheck_fix(r, p->token);
    r->elapsed = (double)(uv_hrtime() - p->t0) / 1e9;
    p->cb(p->ctx, r);
    uv_close((uv_handle_t *)&p->step, on_step_closed);
}

/* Ends the DNS phase with a verdict that needs no walk. */
static void finish_early(pc *p, acme_pc_verdict v, const char *why)
{
    p->r->verdict = v;
    fmt(p->r->why, sizeof(p->r->why), "%s", why);
    p->wi = 2;
    uv_timer_start(&p->step, on_step, 0, 0);
}

/* From the zero timer: frees the last walk's client, starts the next
 * walk, or finishes. */
static void walk_next(pc *p)
{
    if (p->old != NULL) {
        acme_http_free(p->old);
        p->old = NULL;
    }
    while (p->wi < 2) {
        acme_pc_walk *w = walk(p);
        acme_precheck_result *r = p->r;
        acme_http_opts ho;
        kw_diag d;

        w->family = p->wi == 0 ? 6 : 4;
        if ((p->wi == 0 ? r->n6 : r->n4) == 0) {
            w->family = 0;
            p->wi++;
            continue;
        }
        memset(&ho, 0, sizeof(ho));
        ho.allow_http = 1;
        ho.connect_ms = p->o.connect_ms;
        ho.timeout_ms = p->o.walk_ms;
        ho.max_body = ACME_PC_BODY_READ;
        ho.user_agent = p->ua;
        d.msg[0] = '\0';
        if (acme_http_new(p->loop, &ho, &p->h, &d) != 0) {
            w->verdict = ACME_PC_INTERNAL;
            fmt(w->why, sizeof(w->why), "%s", d.msg);
            p->wi++;
            continue;
        }
        p->deadline = uv_now(p->loop) + (uint64_t)p->o.walk_ms;
        p->redirects = 0;
        p->path_lost_at = -1;
        p->final_judged = 0;
        if (p->o.rules.http_port == 80)
            fmt(p->url, sizeof(p->url),
                "http://%s/.well-known/acme-challenge/%s", r->name,
                p->token);
        else
            fmt(p->url, sizeof(p->url),
                "http://%s:%d/.well-known/acme-challenge/%s", r->name,
                p->o.rules.http_port, p->token);
        hop_begin(p);
        return;
    }
    if (p->r->walks[0].family == 0 && p->r->walks[1].family == 0) {
        /* finish_early set the verdict. */
        acme_precheck_result *r = p->r;

        r->ok = 0;
        p->done = 1;
        acme_precheck_fix(r, p->token);
        r->elapsed = (double)(uv_hrtime() - p->t0) / 1e9;
        p->cb(p->ctx, r);
        uv_close((uv_handle_t *)&p->step, on_step_closed);
        return;
    }
    finish(p);
}

/* The name's A and AAAA are in. */
static void name_dns_done(uv_work_t *wk, int status)
{
    pc_dns_job *j = wk->data;
    pc *p = j->pc;
    acme_precheck_result *r = p->r;
    char why[1200];
    int reserved = 0;

    (void)status;
    p->job = NULL;
    /* Reserved addresses are dropped: the CA cannot reach them. */
    r->n6 = keep_reachable(j->v6, j->n6, r->v6, p->o.rules.allow_reserved,
                           &reserved);
    r->n4 = keep_reachable(j->v4, j->n4, r->v4, p->o.rules.allow_reserved,
                           &reserved);
    if (r->n6 + r->n4 == 0) {
        if (reserved > 0)
            finish_early(p, ACME_PC_RESERVED_ADDRESS,
                         "the name resolves only to reserved (loopback, "
                         "private, link-local) addresses");
        else if ((j->rc4 != 0 && j->rc4 != KW_ENOTFOUND) ||
                 (j->rc6 != 0 && j->rc6 != KW_ENOTFOUND)) {
            fmt(why, sizeof(why), "DNS lookup failed: %s",
                j->rc4 != 0 && j->rc4 != KW_ENOTFOUND ? j->d4.msg
                                                      : j->d6.msg);
            finish_early(p, ACME_PC_DNS_FAILED, why);
        } else {
            fmt(why, sizeof(why), "%s has no A and no AAAA record%s",
                r->name, j->rc4 == KW_ENOTFOUND ? " (NXDOMAIN)" : "");
            finish_early(p, ACME_PC_DNS_NO_ADDRESS, why);
        }
        free(j);
        return;
    }
    free(j);
    p->wi = 0;
    walk_next(p);
}

int acme_precheck_run(uv_loop_t *loop, const acme_precheck_opts *o,
                      const char *name, const char *token,
                      const char *keyauth, acme_precheck_cb cb, void *ctx,
                      kw_diag *d)
{
    pc *p;
    size_t i;
    int rc;

    if (loop == NULL || name == NULL || token == NULL || keyauth == NULL ||
        cb == NULL)
        return kw_diag_set(d, KW_EINVAL, "precheck: missing argument");
    if ((rc = kw_dns_name_check(name, d)) != 0)
        return rc;
    if (*token == '\0' || strlen(token) > 200)
        return kw_diag_set(d, KW_EINVAL, "precheck %s: bad token", name);
    for (i = 0; token[i] != '\0'; i++)
        if (!((token[i] >= 'a' && token[i] <= 'z') ||
              (token[i] >= 'A' && token[i] <= 'Z') ||
              (token[i] >= '0' && token[i] <= '9') || token[i] == '-' ||
              token[i] == '_'))
            return kw_diag_set(d, KW_EINVAL, "precheck %s: the token must "
                               "be base64url", name);
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    p->r = calloc(1, sizeof(*p->r));
    p->keyauth = strdup(keyauth);
    if (p->r == NULL || p->keyauth == NULL) {
        free(p->r);
        free(p->keyauth);
        free(p);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    if (o != NULL)
        p->o = *o;
    if (p->o.resolver != NULL) {
        p->resolver = *p->o.resolver;
    } else if ((rc = kw_dns_system_resolver(NULL, &p->resolver, d)) != 0) {
        free(p->r);
        free(p->keyauth);
        free(p);
        return rc;
    }
    p->o.resolver = NULL;
    if (p->o.rules.http_port <= 0)
        p->o.rules.http_port = 80;
    if (p->o.rules.https_port <= 0)
        p->o.rules.https_port = 443;
    if (p->o.connect_ms <= 0)
        p->o.connect_ms = 10000;
    if (p->o.walk_ms <= 0)
        p->o.walk_ms = 20000;
    if (p->o.dns_ms <= 0)
        p->o.dns_ms = 5000;
    snprintf(p->ua, sizeof(p->ua), "%s",
             p->o.user_agent != NULL ? p->o.user_agent
                                     : "keywarden/" KW_VERSION
                                       " (http-01 pre-check)");
    p->o.user_agent = NULL;
    snprintf(p->token, sizeof(p->token), "%s", token);
    snprintf(p->r->name, sizeof(p->r->name), "%s", name);
    {
        size_t nl = strlen(p->r->name);

        while (nl > 0 && p->r->name[nl - 1] == '.')
            p->r->name[--nl] = '\0';
    }
    p->loop = loop;
    p->cb = cb;
    p->ctx = ctx;
    p->t0 = uv_hrtime();
    p->wi = 0;
    uv_timer_init(loop, &p->step);
    p->step.data = p;
    if (dns_start(p, p->r->name, name_dns_done) != 0) {
        uv_close((uv_handle_t *)&p->step, on_step_closed);
        return kw_diag_set(d, KW_EIO, "precheck %s: cannot queue the DNS "
                           "lookup", name);
    }
    return 0;
}

void acme_precheck_result_clear(acme_precheck_result *r)
{
    free_walks(r);
}

int acme_precheck_result_copy(acme_precheck_result *dst,
                              const acme_precheck_result *src)
{
    int i;

    *dst = *src;
    for (i = 0; i < 2; i++) {
        dst->walks[i].hops = NULL;
        if (src->walks[i].nhops == 0)
            continue;
        dst->walks[i].hops =
            malloc(src->walks[i].nhops * sizeof(*src->walks[i].hops));
        if (dst->walks[i].hops == NULL) {
            free_walks(dst);
            return KW_ENOMEM;
        }
        memcpy(dst->walks[i].hops, src->walks[i].hops,
               src->walks[i].nhops * sizeof(*src->walks[i].hops));
    }
    return 0;
}
