/*
 * config.c: the keywarden.conf reader.
 *
 * A small hand-written INI reader rather than Debian's inih: inih built
 * without INI_HANDLER_LINENO cannot say on which line a bad key is, and
 * splits lines longer than 200 bytes silently, which is how a
 * configuration error goes unnoticed.
 */
#include "config.h"
#include "config_int.h"
#include "dane_roll_run.h"

#include "../acme/renew.h"
#include "../common/kw_fs.h"
#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../common/kw_vec.h"
#include "../dane/dane_roll.h"
#include "../dkim/dkim_rotate.h"
#include "../dns/dns_update.h"
#include "../keystore/ks_events.h"
#include "../keystore/ks_keygen.h"

#include <arpa/inet.h>
#include <grp.h>
#include <pwd.h>

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The servers a DANE rollover waits on: kw_renew_dane's NULL-ended
 * list. */
#define DANE_CHECK_MAX \
    (sizeof(((kw_renew_dane *)0)->check) / sizeof(const char *) - 1)

void kw_config_defaults(kw_config *c)
{
    memset(c, 0, sizeof(*c));
    c->log_level = -1;
    /* Loopback only: exposing metrics further is the operator's call. */
    snprintf(c->metrics_listen, sizeof(c->metrics_listen), "%s",
             KW_METRICS_DEFAULT);
    c->metrics_default = 1;
    c->concurrency = 4;
    c->web_horizon = 90;
    c->scan_interval = 1 * KW_HOUR;
    c->scan_watch = 1;
    kw_dkim_params_defaults(&c->dkim);
    kw_dnssec_params_defaults(&c->dnssec);
    c->dane.interval = KW_HOUR;
    c->dane.timeout = 10;
    c->mtasts.interval = KW_HOUR;
    c->mtasts.timeout = 10;
}

void kw_config_free(kw_config *c)
{
    size_t i;

    if (c == NULL)
        return;
    free(c->path);
    free(c->control_socket);
    free(c->control_group);
    for (i = 0; i < c->nscan_paths; i++)
        free(c->scan_paths[i]);
    free(c->scan_paths);
    for (i = 0; i < c->nendpoints; i++) {
        free(c->endpoints[i].name);
        free(c->endpoints[i].host);
        free(c->endpoints[i].sni);
    }
    free(c->endpoints);
    free(c->acme.directory);
    free(c->acme.ca_file);
    free(c->acme.contact);
    free(c->acme.account_key);
    free(c->acme.http01_listen);
    free(c->acme.certs_dir);
    free(c->acme.eab_kid);
    free(c->acme.resolver);
    if (c->acme.eab_hmac_key != NULL) {
        kw_wipe(c->acme.eab_hmac_key, strlen(c->acme.eab_hmac_key));
        free(c->acme.eab_hmac_key);
    }
    for (i = 0; i < c->ncerts; i++) {
        kw_cert_conf *k = &c->certs[i];
        size_t j;

        free(k->name);
        for (j = 0; j < k->nnames; j++)
            free(k->names[j]);
        free(k->names);
        free(k->webroot);
        free(k->key_type);
        free(k->profile);
        free(k->key_group);
        free(k->directory);
        free(k->preferred_chain);
        free(k->key_owner);
        free(k->dns_server);
        free(k->dns_zone);
        free(k->tsig_key);
        free(k->tsig_algorithm);
        if (k->tsig_secret != NULL) {
            kw_wipe(k->tsig_secret, strlen(k->tsig_secret));
            free(k->tsig_secret);
        }
        free(k->dns_exec);
        for (j = 0; j < k->ndns_check; j++)
            free(k->dns_check[j]);
        free(k->dns_check);
        for (j = 0; j < k->ndane_hosts; j++)
            free(k->dane_hosts[j]);
        free(k->dane_hosts);
    }
    free(c->certs);
    for (i = 0; i < c->nhooks; i++)
        kw_hook_def_free(&c->hooks[i]);
    free(c->hooks);
    kw_dkim_params_free(&c->dkim);
    kw_dnssec_params_free(&c->dnssec);
    free(c->dane.resolver);
    for (i = 0; i < c->mtasts.ndomains; i++)
        free(c->mtasts.domains[i]);
    free(c->mtasts.domains);
    free(c->mtasts.resolver);
    free(c->mtasts.cafile);
    memset(c, 0, sizeof(*c));
}

/* ---- parsing state ---------------------------------------------------- */

int kw_config_fail_at(parser *p, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kw_diag_set(p->d, KW_EPARSE, "%s:%d: %s", p->file, p->line, msg);
}

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") ||
        !strcmp(v, "1"))
        *out = 1;
    else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") ||
             !strcmp(v, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

/* "HOST:PORT" or "[V6]:PORT". */
static int valid_listen(const char *v)
{
    const char *colon = strrchr(v, ':');
    long port;

    if (colon == NULL || colon == v)
        return 0;
    if (v[0] == '[' && colon[-1] != ']')
        return 0;
    return parse_int(colon + 1, 1, 65535, &port) == 0;
}

int kw_config_listen_is_loopback(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    char host[64];
    size_t n;
    struct in_addr a4;
    struct in6_addr a6;

    if (colon == NULL)
        return 0;
    n = (size_t)(colon - listen);
    if (listen[0] == '[' && n >= 2 && listen[n - 1] == ']') {
        listen++;
        n -= 2;
    }
    if (n >= sizeof(host))
        return 0;
    memcpy(host, listen, n);
    host[n] = '\0';
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127; /* 127.0.0.0/8 */
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) ||
               (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return 0;
}

/* n bytes of hex into out; the bytes decoded, -1 on a non-hex digit. */
static int hex_decode(const char *hex, unsigned char *out, size_t cap)
{
    size_t i;

    for (i = 0; i < cap && hex[2 * i] != '\0' && hex[2 * i + 1] != '\0';
         i++) {
        int v = 0, k;

        for (k = 0; k < 2; k++) {
            char ch = hex[2 * i + k];

            v <<= 4;
            if (ch >= '0' && ch <= '9')
                v |= ch - '0';
            else if (ch >= 'a' && ch <= 'f')
                v |= ch - 'a' + 10;
            else if (ch >= 'A' && ch <= 'F')
                v |= ch - 'A' + 10;
            else
                return -1;
        }
        out[i] = (unsigned char)v;
    }
    return (int)i;
}

int kw_config_set_str(char **dst, const char *v)
{
    char *s = strdup(v);

    if (s == NULL)
        return KW_ENOMEM;
    free(*dst);
    *dst = s;
    return 0;
}

/* Keys of each section, in the order of the bits in `seen`. */
static const char *const daemon_keys[] = {
    "log_level", "metrics_listen", "control_socket", "control_group",
    "concurrency", "discover", "web_auth", "web_horizon", NULL};
static const char *const scan_keys[] = {"path", "interval", "watch", NULL};
static const char *const endpoint_keys[] = {
    "host", "port", "sni", "starttls", "interval", "timeout", NULL};
static const char *const acme_keys[] = {
    "directory", "ca_file", "contact", "account_key", "http01_listen",
    "certs_dir", "concurrency", "eab_kid", "eab_hmac_key", "resolver",
    "validation_http_port", "validation_https_port",
    "validation_allow_private", NULL};
static const char *const cert_keys[] = {
    "names", "challenge", "http01", "webroot", "key_type", "reuse_key",
    "profile", "keep", "key_group", "directory", "dns_server", "dns_zone",
    "tsig_key", "tsig_algorithm", "tsig_secret", "dns_exec", "dns_check",
    "dns_wait", "preferred_chain", "key_owner", "precheck", "dane",
    "dane_port", "dane_hosts", "dane_ttl", "dane_release", NULL};

static const char *const hook_keys[] = {
    "on", "objects", "kinds", "run", "shell", "reload", "config", "timeout",
    "user", "group", "retry", "retry_delay", "coalesce", NULL};
/* [dkim] takes the first seven, [dkim "DOMAIN"] the rest: selector, key
 * and user for a watched key, and from rotate on a managed one's
 * (dkim_rotate.h). */
static const char *const dkim_keys[] = {
    "opendkim_conf", "rspamd_conf", "max_age", "interval", "outbound",
    "resolver", "dns_port", "selector", "key", "user", "rotate", "key_dir",
    "group", "key_type", "ttl", "drain", "retire", "old_key", "publish",
    "dns_server", "dns_zone", "tsig_key", "tsig_algorithm", "tsig_secret",
    "dns_exec", "signer", "signer_exec", "selector_map", "path_map",
    "dns_check", "zone", "slots", "opendkim_conf_ed25519", NULL};
static const char *const dnssec_keys[] = {
    "named_conf", "knot_conf", "keymgr", "resolver", "dns_port", "interval",
    "warn", "crit", NULL};
static const char *const zone_keys[] = {"servers", "ds_server", NULL};
static const char *const dane_keys[] = {"resolver", "interval", "timeout",
                                        "smtp_port", NULL};
/* [mta-sts] takes these; [mta-sts "DOMAIN"] names a domain and takes
 * none. */
static const char *const mtasts_keys[] = {"resolver", "cafile",
                                          "https_port", "smtp_port",
                                          "interval", "timeout", NULL};

/* In the order of enum section, after SEC_NONE: keys_of() indexes it, so
 * what the parser accepts and what the reference is checked against are
 * one table. */
const kw_config_section kw_config_sections[] = {
    {"daemon", 0, daemon_keys},
    {"scan", 0, scan_keys},
    {"endpoint", 1, endpoint_keys},
    {"acme", 0, acme_keys},
    {"certificate", 1, cert_keys},
    {"hook", 1, hook_keys},
    {"dkim", 1, dkim_keys}, /* [dkim], and [dkim "DOMAIN"] per selector */
    {"dnssec", 0, dnssec_keys},
    {"zone", 1, zone_keys},
    {"dane", 0, dane_keys},
    {"mta-sts", 1, mtasts_keys},
    {NULL, 0, NULL},
};
_Static_assert(sizeof(kw_config_sections) / sizeof(kw_config_sections[0]) ==
                   SEC_MTASTS - SEC_DAEMON + 2,
               "one row per enum section after SEC_NONE, and the end row");

static const char *const *keys_of(enum section s)
{
    if (s <= SEC_NONE || s > SEC_MTASTS)
        return NULL;
    return kw_config_sections[s - SEC_DAEMON].keys;
}

static const char *section_word(enum section s)
{
    switch (s) {
    case SEC_DAEMON: return "[daemon]";
    case SEC_SCAN: return "[scan]";
    case SEC_ENDPOINT: return "[endpoint \"NAME\"]";
    case SEC_ACME: return "[acme]";
    case SEC_CERT: return "[certificate \"NAME\"]";
    case SEC_HOOK: return "[hook \"NAME\"]";
    case SEC_DKIM: return "[dkim] or [dkim \"DOMAIN\"]";
    case SEC_DNSSEC: return "[dnssec]";
    case SEC_ZONE: return "[zone \"NAME\"]";
    case SEC_DANE: return "[dane]";
    case SEC_MTASTS: return "[mta-sts]";
    default: return "(no section)";
    }
}

static int unknown_key(parser *p, const char *key)
{
    const char *const *k = keys_of(p->sec);
    char list[768];
    size_t pos = 0;

    list[0] = '\0';
    /* Bounded: a list longer than the buffer is cut, never overrun (the
     * [dkim] list grew past 256 bytes once). */
    for (; k != NULL && *k != NULL && pos < sizeof(list) - 1; k++) {
        int n = snprintf(list + pos, sizeof(list) - pos, "%s%s",
                         pos ? ", " : "", *k);

        if (n < 0)
            break;
        pos += (size_t)n < sizeof(list) - pos ? (size_t)n
                                               : sizeof(list) - 1 - pos;
    }
    return FAIL(p, "%s: unknown key in %s; expected one of: %s", key,
                section_word(p->sec), list);
}

int kw_config_duration(parser *p, const char *key, const char *v, int64_t *out)
{
    const char *why = NULL;

    if (kw_duration_parse(v, out, &why) != 0)
        return FAIL(p, "%s = %s: %s", key, v, why);
    return 0;
}

static int daemon_key(parser *p, int k, const char *key, const char *v)
{
    kw_config *c = p->c;
    long n;

    switch (k) {
    case 0:
        c->log_level = kw_log_level_parse(v);
        if (c->log_level < 0)
            return FAIL(p, "log_level = %s: expected error, warning, notice, "
                           "info or debug",
                        v);
        return 0;
    case 1:
        c->metrics_default = 0;
        if (strcmp(v, "off") == 0) {
            c->metrics_listen[0] = '\0';
            return 0;
        }
        if (!valid_listen(v) || strlen(v) >= sizeof(c->metrics_listen))
            return FAIL(p, "metrics_listen = %s: expected ADDRESS:PORT "
                           "(127.0.0.1:9177, [::1]:9177) or off",
                        v);
        snprintf(c->metrics_listen, sizeof(c->metrics_listen), "%s", v);
        c->metrics_line = p->line;
        return 0;
    case 2:
        if (v[0] != '/')
            return FAIL(p, "control_socket = %s: expected an absolute path",
                        v);
        return kw_config_set_str(&c->control_socket, v);
    case 3:
        return kw_config_set_str(&c->control_group, v);
    case 4:
        if (parse_int(v, 1, 64, &n) != 0)
            return FAIL(p, "concurrency = %s: expected a number from 1 to "
                           "64",
                        v);
        c->concurrency = (int)n;
        return 0;
    case 5:
        if (parse_bool(v, &c->discover) != 0)
            return FAIL(p, "discover = %s: expected yes or no", v);
        return 0;
    case 6:
        /* A hash, not the token: the file may be readable by more
         * people than should open the page. */
        if (strncmp(v, "sha256:", 7) != 0 || strlen(v + 7) != 64 ||
            hex_decode(v + 7, c->web_auth, sizeof(c->web_auth)) != 32)
            return FAIL(p, "web_auth: expected sha256: and the 64 hex "
                           "digits of the token's SHA-256 (printf %%s "
                           "TOKEN | sha256sum)");
        c->has_web_auth = 1;
        return 0;
    case 7:
        if (parse_int(v, 1, 3650, &n) != 0)
            return FAIL(p, "web_horizon = %s: expected days, 1 to 3650", v);
        c->web_horizon = (int)n;
        return 0;
    }
    return unknown_key(p, key);
}

static int scan_key(parser *p, int k, const char *key, const char *v)
{
    kw_config *c = p->c;
    char **np;

    switch (k) {
    case 0:
        if (v[0] != '/')
            return FAIL(p, "path = %s: expected an absolute path", v);
        np = kw_vec_grow(c->scan_paths, &p->cap_paths, c->nscan_paths + 1,
                         sizeof(*np));
        if (np == NULL)
            return KW_ENOMEM;
        c->scan_paths = np;
        if ((np[c->nscan_paths] = strdup(v)) == NULL)
            return KW_ENOMEM;
        c->nscan_paths++;
        return 0;
    case 1:
        return kw_config_duration(p, key, v, &c->scan_interval);
    case 2:
        if (parse_bool(v, &c->scan_watch) != 0)
            return FAIL(p, "watch = %s: expected yes or no", v);
        return 0;
    }
    return unknown_key(p, key);
}

static int endpoint_key(parser *p, int k, const char *key, const char *v)
{
    kw_endpoint_conf *e = p->ep;
    long n;
    int t;

    switch (k) {
    case 0:
        if (strchr(v, ' ') != NULL || strchr(v, '/') != NULL)
            return FAIL(p, "host = %s: expected a host name or address", v);
        return kw_config_set_str(&e->host, v);
    case 1:
        if (parse_int(v, 1, 65535, &n) != 0)
            return FAIL(p, "port = %s: expected a port number, 1 to 65535",
                        v);
        e->port = (int)n;
        return 0;
    case 2:
        return kw_config_set_str(&e->sni, v);
    case 3:
        t = kw_starttls_parse(v);
        if (t < 0)
            return FAIL(p, "starttls = %s: expected smtp, imap, pop3 or none",
                        v);
        e->starttls = (enum kw_starttls)t;
        return 0;
    case 4:
        return kw_config_duration(p, key, v, &e->interval);
    case 5:
        if (kw_config_duration(p, key, v, &e->timeout) != 0)
            return KW_EPARSE;
        if (e->timeout > 5 * KW_MINUTE)
            return FAIL(p, "timeout = %s: at most 5m", v);
        return 0;
    }
    return unknown_key(p, key);
}

static int https_url(const char *v)
{
    return strncmp(v, "https://", 8) == 0 && strlen(v) > 8 &&
           strpbrk(v, " \t\"<>\\") == NULL;
}

static int acme_key(parser *p, int k, const char *key, const char *v)
{
    kw_acme_conf *a = &p->c->acme;
    ks_key_type t;
    long n;

    switch (k) {
    case 0:
        if (!https_url(v))
            return FAIL(p, "directory = %s: expected the CA's https:// "
                           "directory URL",
                        v);
        return kw_config_set_str(&a->directory, v);
    case 1:
        if (v[0] != '/')
            return FAIL(p, "ca_file = %s: expected an absolute path", v);
        return kw_config_set_str(&a->ca_file, v);
    case 2:
        if (strncmp(v, "mailto:", 7) != 0 || strchr(v + 7, '@') == NULL ||
            strpbrk(v, " ,") != NULL)
            return FAIL(p, "contact = %s: expected mailto:ADDRESS", v);
        return kw_config_set_str(&a->contact, v);
    case 3:
        if (ks_key_type_parse(v, &t) != 0)
            return FAIL(p, "account_key = %s: expected ec256, ec384, "
                           "rsa2048, rsa3072 or rsa4096",
                        v);
        return kw_config_set_str(&a->account_key, ks_key_type_word(t));
    case 4:
        if (!valid_listen(v))
            return FAIL(p, "http01_listen = %s: expected ADDRESS:PORT "
                           "(0.0.0.0:80, [::]:80)",
                        v);
        return kw_config_set_str(&a->http01_listen, v);
    case 5:
        if (v[0] != '/')
            return FAIL(p, "certs_dir = %s: expected an absolute path", v);
        return kw_config_set_str(&a->certs_dir, v);
    case 6:
        if (parse_int(v, 1, 256, &n) != 0)
            return FAIL(p, "concurrency = %s: expected 1 to 256", v);
        a->concurrency = (int)n;
        return 0;
    case 7:
        if (strlen(v) > 256 || strpbrk(v, " \t\"") != NULL)
            return FAIL(p, "eab_kid = %s: expected the key identifier the "
                           "CA gave you",
                        v);
        return kw_config_set_str(&a->eab_kid, v);
    case 8:
        /* Never echo a secret into an error message. */
        if (strlen(v) < 16 || strlen(v) > 512 ||
            strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789-_=") != strlen(v))
            return FAIL(p, "eab_hmac_key: expected the base64url MAC key "
                           "the CA gave you (16 to 512 characters)");
        return kw_config_set_str(&a->eab_hmac_key, v);
    case 9: {
        kw_dns_server s;

        if (kw_dns_server_parse(v, 53, &s, NULL) != 0)
            return FAIL(p, "resolver = %s: expected an address with an "
                           "optional port",
                        v);
        return kw_config_set_str(&a->resolver, v);
    }
    case 10:
    case 11:
        if (parse_int(v, 1, 65535, &n) != 0)
            return FAIL(p, "%s = %s: expected a port number", key, v);
        if (k == 10)
            a->validation_http_port = (int)n;
        else
            a->validation_https_port = (int)n;
        return 0;
    case 12:
        if (parse_bool(v, &a->validation_allow_private) != 0)
            return FAIL(p, "%s = %s: expected yes or no", key, v);
        return 0;
    }
    return unknown_key(p, key);
}

/* One name of a certificate: a DNS name (lower-cased, "*." allowed in
 * front) or an IP address.  0, or -1 with why set. */
static int cert_name_ok(char *s, const char **why)
{
    unsigned char ip[16];
    const char *q;
    size_t len = strlen(s), label = 0;

    if (inet_pton(AF_INET, s, ip) == 1 || inet_pton(AF_INET6, s, ip) == 1)
        return 0;
    if (len == 0 || len > 253) {
        *why = "a DNS name is 1 to 253 characters";
        return -1;
    }
    q = strncmp(s, "*.", 2) == 0 ? s + 2 : s;
    for (; *q != '\0'; q++) {
        char ch = (char)tolower((unsigned char)*q);

        if (ch == '.') {
            if (label == 0) {
                *why = "empty label";
                return -1;
            }
            label = 0;
            continue;
        }
        if (!(isalnum((unsigned char)ch) || ch == '-')) {
            *why = "only letters, digits, '-' and '.' (and a leading "
                   "\"*.\"); write IDNs as A-labels (xn--...)";
            return -1;
        }
        if (++label > 63) {
            *why = "a label is at most 63 characters";
            return -1;
        }
    }
    if (label == 0 || strchr(s, '.') == NULL) {
        *why = "expected a fully qualified name such as www.example.com";
        return -1;
    }
    for (; *s != '\0'; s++)
        *s = (char)tolower((unsigned char)*s);
    return 0;
}

static int cert_names(parser *p, const char *v)
{
    kw_cert_conf *k = p->cert;
    char buf[KW_CONFIG_MAX_LINE + 1], *tok, *save = NULL;
    const char *why = NULL;
    size_t j;

    snprintf(buf, sizeof(buf), "%s", v);
    for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save)) {
        char **nn;

        if (cert_name_ok(tok, &why) != 0)
            return FAIL(p, "names: %s: %s", tok, why);
        for (j = 0; j < k->nnames; j++)
            if (strcmp(k->names[j], tok) == 0)
                return FAIL(p, "names: %s is listed twice", tok);
        if (k->nnames >= 100)
            return FAIL(p, "names: at most 100 names per certificate (the "
                           "CA's limit)");
        nn = realloc(k->names, (k->nnames + 1) * sizeof(*nn));
        if (nn == NULL)
            return KW_ENOMEM;
        k->names = nn;
        if ((nn[k->nnames] = strdup(tok)) == NULL)
            return KW_ENOMEM;
        k->nnames++;
    }
    return 0;
}

/* The RFC 2136 keys [certificate] (dns-01) and a managed [dkim "DOMAIN"]
 * share, in the order dns_server, dns_zone, tsig_key, tsig_algorithm,
 * tsig_secret (which). */
int kw_config_dns_update_key(parser *p, int which, const char *key,
                          const char *v, char **dst)
{
    kw_dns_server srv;
    const char *wire;

    switch (which) {
    case 0:
        if (kw_dns_server_parse(v, 53, &srv, NULL) != 0)
            return FAIL(p, "%s = %s: expected an address with an optional "
                           "port (192.0.2.53, [2001:db8::53]:53)",
                        key, v);
        break;
    case 1:
    case 2:
        if (kw_dns_name_check(v, NULL) != 0)
            return FAIL(p, "%s = %s: expected %s", key, v,
                        which == 1 ? "a DNS name" : "the key's name");
        break;
    case 3:
        if (kw_dns_tsig_alg(v, &wire, NULL) != 0)
            return FAIL(p, "%s = %s: expected hmac-sha256, hmac-sha384 or "
                           "hmac-sha512",
                        key, v);
        break;
    default:
        /* Never echo a secret into an error message. */
        if (strlen(v) < 8 || strlen(v) > 512 ||
            strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789+/=") != strlen(v))
            return FAIL(p, "%s: expected the key's base64 secret", key);
    }
    return kw_config_set_str(dst, v);
}

static int cert_key(parser *p, int k, const char *key, const char *v)
{
    kw_cert_conf *c = p->cert;
    ks_key_type t;
    long n;
    int n2 = 0;

    switch (k) {
    case 0:
        return cert_names(p, v);
    case 1:
        if (strcmp(v, "http-01") == 0 || strcmp(v, "dns-01") == 0) {
            c->dns01 = v[0] == 'd';
            return 0;
        }
        return FAIL(p, "challenge = %s: expected http-01 or dns-01", v);
    case 2:
        if (strcmp(v, "responder") == 0)
            c->http01_webroot = 0;
        else if (strcmp(v, "webroot") == 0)
            c->http01_webroot = 1;
        else
            return FAIL(p, "http01 = %s: expected responder or webroot", v);
        return 0;
    case 3:
        if (v[0] != '/')
            return FAIL(p, "webroot = %s: expected an absolute path", v);
        return kw_config_set_str(&c->webroot, v);
    case 4:
        if (ks_key_type_parse(v, &t) != 0 || t == KS_KEY_ED25519)
            return FAIL(p, "key_type = %s: expected ec256, ec384, rsa2048, "
                           "rsa3072 or rsa4096",
                        v);
        return kw_config_set_str(&c->key_type, ks_key_type_word(t));
    case 5:
        if (parse_bool(v, &c->reuse_key) != 0)
            return FAIL(p, "reuse_key = %s: expected yes or no", v);
        return 0;
    case 6:
        if (strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-_.") !=
                strlen(v) ||
            strlen(v) > 64)
            return FAIL(p, "profile = %s: expected a profile name the CA "
                           "lists (classic, tlsserver, shortlived)",
                        v);
        return kw_config_set_str(&c->profile, v);
    case 7:
        if (parse_int(v, 1, 100, &n) != 0)
            return FAIL(p, "keep = %s: expected 1 to 100 versions", v);
        c->keep = (int)n;
        return 0;
    case 8:
        if (getgrnam(v) == NULL)
            return FAIL(p, "key_group = %s: no such group on this machine",
                        v);
        return kw_config_set_str(&c->key_group, v);
    case 9:
        if (!https_url(v))
            return FAIL(p, "directory = %s: expected the CA's https:// "
                           "directory URL",
                        v);
        return kw_config_set_str(&c->directory, v);
    case 10: return kw_config_dns_update_key(p, 0, key, v, &c->dns_server);
    case 11: return kw_config_dns_update_key(p, 1, key, v, &c->dns_zone);
    case 12: return kw_config_dns_update_key(p, 2, key, v, &c->tsig_key);
    case 13: return kw_config_dns_update_key(p, 3, key, v, &c->tsig_algorithm);
    case 14: return kw_config_dns_update_key(p, 4, key, v, &c->tsig_secret);
    case 15:
        if (v[0] != '/' || access(v, X_OK) != 0)
            return FAIL(p, "dns_exec = %s: expected the absolute path of an "
                           "executable program",
                        v);
        return kw_config_set_str(&c->dns_exec, v);
    case 16: {
        char buf[KW_CONFIG_MAX_LINE + 1], *tok, *save = NULL;

        snprintf(buf, sizeof(buf), "%s", v);
        for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
             tok = strtok_r(NULL, ", \t", &save)) {
            kw_dns_server s;
            kw_diag why;
            char **nn;

            if (kw_dns_server_parse(tok, 53, &s, &why) != 0)
                return FAIL(p, "dns_check: %s: expected an address with an "
                               "optional port",
                            tok);
            nn = realloc(c->dns_check, (c->ndns_check + 1) * sizeof(*nn));
            if (nn == NULL)
                return KW_ENOMEM;
            c->dns_check = nn;
            if ((nn[c->ndns_check] = strdup(tok)) == NULL)
                return KW_ENOMEM;
            c->ndns_check++;
        }
        return 0;
    }
    case 17:
        if (kw_config_duration(p, key, v, &c->dns_wait) != 0)
            return KW_EPARSE;
        if (c->dns_wait < 1 || c->dns_wait > KW_HOUR)
            return FAIL(p, "dns_wait = %s: 1s to 1h", v);
        return 0;
    case 18:
        if (strlen(v) > 200)
            return FAIL(p, "preferred_chain: at most 200 characters");
        return kw_config_set_str(&c->preferred_chain, v);
    case 19:
        if (getpwnam(v) == NULL)
            return FAIL(p, "key_owner = %s: no such user on this machine",
                        v);
        return kw_config_set_str(&c->key_owner, v);
    case 20:
        if (strcmp(v, "enforce") == 0)
            c->precheck = KW_PRECHECK_ENFORCE;
        else if (strcmp(v, "warn") == 0)
            c->precheck = KW_PRECHECK_WARN;
        else if (strcmp(v, "off") == 0)
            c->precheck = KW_PRECHECK_OFF;
        else
            return FAIL(p, "precheck = %s: expected enforce, warn or off",
                        v);
        return 0;
    case 21: {
        kw_dane_roll_params dp;
        kw_diag why;
        const char *one = "x";

        if (sscanf(v, "%d %d %d%n", &c->dane_usage, &c->dane_selector,
                   &c->dane_mtype, &n2) != 3 || v[n2] != '\0')
            return FAIL(p, "dane = %s: expected three numbers, e.g. 3 1 1",
                        v);
        memset(&dp, 0, sizeof(dp));
        dp.cert = c->name;
        dp.usage = c->dane_usage;
        dp.selector = c->dane_selector;
        dp.mtype = c->dane_mtype;
        dp.hosts = &one;
        dp.nhosts = 1;
        dp.port = 25;
        dp.next_key_path = one;
        dp.key_type = c->key_type;
        if (kw_dane_roll_params_check(&dp, &why) != 0)
            return FAIL(p, "%s", why.msg);
        c->dane = 1;
        return 0;
    }
    case 22:
        if (parse_int(v, 1, 65535, &n) != 0)
            return FAIL(p, "dane_port = %s: expected a port number", v);
        c->dane_port = (int)n;
        return 0;
    case 23: {
        char buf[KW_CONFIG_MAX_LINE + 1], *tok, *save = NULL;

        snprintf(buf, sizeof(buf), "%s", v);
        for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
             tok = strtok_r(NULL, ", \t", &save)) {
            kw_diag why;
            char **nn;

            if (kw_dns_name_check(tok, &why) != 0)
                return FAIL(p, "dane_hosts: %s: %s", tok, why.msg);
            nn = realloc(c->dane_hosts, (c->ndane_hosts + 1) * sizeof(*nn));
            if (nn == NULL)
                return KW_ENOMEM;
            c->dane_hosts = nn;
            if ((nn[c->ndane_hosts] = strdup(tok)) == NULL)
                return KW_ENOMEM;
            c->ndane_hosts++;
        }
        return 0;
    }
    case 24:
        /* Small TTLs are legal DNS (and make the rollover's tests
         * honest in seconds); the wait and the hold scale with it. */
        if (parse_int(v, 1, 86400, &n) != 0)
            return FAIL(p, "dane_ttl = %s: expected 1 to 86400 seconds", v);
        c->dane_ttl = (int)n;
        return 0;
    case 25:
        if (parse_bool(v, &c->dane_release) != 0)
            return FAIL(p, "dane_release = %s: expected yes or no", v);
        return 0;
    }
    return unknown_key(p, key);
}

/* A comma- or blank-separated list into a vector. */
static int word_list(parser *p, const char *key, const char *v, char ***out,
                     size_t *n)
{
    char buf[KW_CONFIG_MAX_LINE + 1], *tok, *save = NULL;

    snprintf(buf, sizeof(buf), "%s", v);
    for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save)) {
        char **nv = realloc(*out, (*n + 2) * sizeof(*nv));

        if (nv == NULL)
            return KW_ENOMEM;
        *out = nv;
        if ((nv[*n] = strdup(tok)) == NULL)
            return KW_ENOMEM;
        nv[++*n] = NULL;
    }
    if (*n == 0)
        return FAIL(p, "%s: expected at least one value", key);
    return 0;
}

static int hook_key(parser *p, int k, const char *key, const char *v)
{
    static const char *const kinds[] = {"tls", "endpoint", "dkim", "dnssec",
                                        "mta-sts", "account", "hook",
                                        "other", NULL};
    kw_hook_def *h = p->hook;
    const char *why = NULL;
    size_t i, j;
    long n;
    int r;

    switch (k) {
    case 0:
        if ((r = word_list(p, key, v, &h->on, &h->non)) != 0)
            return r;
        for (i = 0; i < h->non; i++)
            if (!kw_hook_event_pattern_ok(h->on[i])) {
                char list[1024];
                size_t pos = 0;

                list[0] = '\0';
                for (j = 0; j < ks_event_ntypes && pos < sizeof(list); j++)
                    pos += (size_t)snprintf(list + pos, sizeof(list) - pos,
                                            "%s%s", j ? ", " : "",
                                            ks_event_types[j].name);
                return FAIL(p, "on = %s: keywarden emits no such event; "
                               "expected one of (or a glob such as "
                               "cert.*): %s",
                            h->on[i], list);
            }
        return 0;
    case 1:
        return word_list(p, key, v, &h->objects, &h->nobjects);
    case 2:
        if ((r = word_list(p, key, v, &h->kinds, &h->nkinds)) != 0)
            return r;
        for (i = 0; i < h->nkinds; i++) {
            for (j = 0; kinds[j] != NULL; j++)
                if (strcmp(kinds[j], h->kinds[i]) == 0)
                    break;
            if (kinds[j] == NULL)
                return FAIL(p, "kinds = %s: expected tls, endpoint, dkim, "
                               "dnssec, account, hook or other",
                            h->kinds[i]);
        }
        return 0;
    case 3:
        /* Split now, for the error's sake; the line is kept as written
         * for shell = yes, which may follow. */
        if (kw_hook_split(v, &h->argv, &h->nargv, &why) != 0)
            return FAIL(p, "run = %s: %s", v, why);
        return kw_config_set_str(&h->run_line, v);
    case 4:
        if (parse_bool(v, &h->shell) != 0)
            return FAIL(p, "shell = %s: expected yes or no", v);
        return 0;
    case 5:
        if ((r = kw_reload_parse(v)) < 0)
            return FAIL(p, "reload = %s: expected postfix, opendkim, nginx, "
                           "dovecot, apache2 or auto",
                        v);
        h->reload = (kw_reload)r;
        return 0;
    case 6:
        if (v[0] != '/')
            return FAIL(p, "config = %s: expected an absolute path", v);
        return kw_config_set_str(&h->reload_config, v);
    case 7:
        if ((r = kw_config_duration(p, key, v, &h->timeout)) != 0)
            return r;
        if (h->timeout < 1 || h->timeout > 24 * KW_HOUR)
            return FAIL(p, "timeout = %s: expected 1s to 24h", v);
        return 0;
    case 8:
        return kw_config_set_str(&h->user, v);
    case 9:
        return kw_config_set_str(&h->group, v);
    case 10:
        if (parse_int(v, 0, 20, &n) != 0)
            return FAIL(p, "retry = %s: expected a number of retries from 0 "
                           "to 20",
                        v);
        h->retries = (int)n;
        return 0;
    case 11:
        if ((r = kw_config_duration(p, key, v, &h->retry_delay)) != 0)
            return r;
        if (h->retry_delay < 1 || h->retry_delay > KW_HOOK_MAX_RETRY_WAIT)
            return FAIL(p, "retry_delay = %s: expected 1s to 1h", v);
        return 0;
    case 12:
        p->coalesce_set = 1;
        if (strcmp(v, "0") == 0 || strcmp(v, "0s") == 0 ||
            strcmp(v, "off") == 0) {
            h->coalesce = 0;
            return 0;
        }
        if ((r = kw_config_duration(p, key, v, &h->coalesce)) != 0)
            return r;
        if (h->coalesce < 0 || h->coalesce > KW_HOUR)
            return FAIL(p, "coalesce = %s: expected 0s (off) to 1h", v);
        return 0;
    }
    return unknown_key(p, key);
}

/* A [hook] is complete: one action, and the defaults that depend on it. */
static int end_hook(parser *p)
{
    kw_hook_def *h = p->hook;

    if (h->non == 0)
        return FAIL(p, "[hook \"%s\"]: on = EVENT... is required (for "
                       "example on = cert.renewed)",
                    h->name);
    if ((h->nargv > 0) == (h->reload != KW_RELOAD_NONE))
        return FAIL(p, "[hook \"%s\"]: expected either run = COMMAND or "
                       "reload = DAEMON",
                    h->name);
    if (h->reload_config != NULL &&
        (h->reload == KW_RELOAD_NONE || h->reload == KW_RELOAD_AUTO ||
         h->reload == KW_RELOAD_APACHE2))
        return FAIL(p, "[hook \"%s\"]: config = goes with reload = "
                       "postfix, opendkim, nginx or dovecot",
                    h->name);
    if (h->shell && h->nargv == 0)
        return FAIL(p, "[hook \"%s\"]: shell = yes needs run = COMMAND",
                    h->name);
    if (h->shell) {
        /* One argument: the line for /bin/sh -c, exactly as written. */
        size_t i;

        for (i = 1; i < h->nargv; i++) {
            free(h->argv[i]);
            h->argv[i] = NULL;
        }
        free(h->argv[0]);
        if ((h->argv[0] = strdup(h->run_line)) == NULL)
            return KW_ENOMEM;
        h->nargv = 1;
    } else if (h->nargv > 0 && h->argv[0][0] != '/') {
        return FAIL(p, "[hook \"%s\"]: run = %s: the program must be an "
                       "absolute path (hooks do not search PATH); or set "
                       "shell = yes",
                    h->name, h->argv[0]);
    }
    if (!p->coalesce_set && h->reload != KW_RELOAD_NONE)
        h->coalesce = KW_HOOK_RELOAD_COALESCE;
    return 0;
}

/* Close the current section: check what it requires. */
static int end_section(parser *p)
{
    kw_endpoint_conf *e = p->ep;
    int save = p->line;

    if (p->sec == SEC_HOOK) {
        int r;

        p->line = p->hook->line;
        r = end_hook(p);
        p->line = save;
        return r;
    }
    if (p->sec == SEC_DKIM && p->dk != NULL) {
        kw_dkim_conf_key *k = p->dk;
        size_t j;

        p->line = k->line;
        if (p->rot != NULL) {
            int r = kw_config_dkim_end(p);

            p->line = save;
            return r;
        }
        if (k->selector == NULL || k->key == NULL)
            return FAIL(p, "[dkim \"%s\"]: selector and key are required",
                        k->domain);
        if (strchr(k->selector, '%') != NULL)
            return FAIL(p, "[dkim \"%s\"]: selector = %s: a template needs "
                           "rotate =",
                        k->domain, k->selector);
        for (j = 0; j + 1 < p->c->dkim.nkeys; j++)
            if (strcasecmp(p->c->dkim.keys[j].domain, k->domain) == 0 &&
                strcmp(p->c->dkim.keys[j].selector, k->selector) == 0)
                return FAIL(p, "[dkim \"%s\"]: selector %s is also set at "
                               "line %d",
                            k->domain, k->selector,
                            p->c->dkim.keys[j].line);
        p->line = save;
        return 0;
    }
    if (p->sec == SEC_ACME &&
        (p->c->acme.eab_kid == NULL) != (p->c->acme.eab_hmac_key == NULL))
        return FAIL(p, "[acme]: eab_kid and eab_hmac_key go together");
    if (p->sec == SEC_CERT) {
        kw_cert_conf *k = p->cert;
        size_t j;

        p->line = k->line;
        if (k->nnames == 0)
            return FAIL(p, "[certificate \"%s\"]: names is required",
                        k->name);
        if (k->http01_webroot && k->webroot == NULL)
            return FAIL(p, "[certificate \"%s\"]: http01 = webroot needs "
                           "webroot = DIR",
                        k->name);
        for (j = 0; !k->dns01 && j < k->nnames; j++)
            if (k->names[j][0] == '*')
                return FAIL(p, "[certificate \"%s\"]: %s: a wildcard name "
                               "can only be validated with dns-01",
                            k->name, k->names[j]);
        if (k->dns01 && k->dns_server == NULL && k->dns_exec == NULL)
            return FAIL(p, "[certificate \"%s\"]: challenge = dns-01 needs "
                           "dns_server (RFC 2136 updates) or dns_exec",
                        k->name);
        if (k->dns01 && k->dns_exec != NULL && k->ndns_check == 0 &&
            k->dns_server == NULL)
            return FAIL(p, "[certificate \"%s\"]: dns_exec needs "
                           "dns_check (the servers to wait on) or "
                           "dns_server",
                        k->name);
        if (k->dane && k->dns_server == NULL)
            return FAIL(p, "[certificate \"%s\"]: dane = needs dns_server "
                           "(the TLSA records are published by RFC 2136 "
                           "updates)",
                        k->name);
        /* The rollover keeps fixed arrays of both (dane_roll.c, the
         * dane-roll job, kw_renew_dane): more would be cut off there, and
         * a host whose TLSA name the rollover never updates fails DANE
         * once its server serves the next key. */
        if (k->dane && k->ndane_hosts > KW_DANE_ROLL_HOSTS_MAX)
            return FAIL(p, "[certificate \"%s\"]: dane_hosts: %zu names; "
                           "at most %d (split them over certificates)",
                        k->name, k->ndane_hosts, KW_DANE_ROLL_HOSTS_MAX);
        if (k->dane && k->ndns_check > DANE_CHECK_MAX)
            return FAIL(p, "[certificate \"%s\"]: dns_check: %zu servers; "
                           "at most %zu with dane =",
                        k->name, k->ndns_check, DANE_CHECK_MAX);
        if (!k->dane && (k->ndane_hosts > 0 || k->dane_port > 0 ||
                         k->dane_ttl > 0 || k->dane_release))
            return FAIL(p, "[certificate \"%s\"]: dane_hosts, dane_port, "
                           "dane_ttl and dane_release need dane = 3 1 1",
                        k->name);
        if ((k->tsig_key == NULL) != (k->tsig_secret == NULL))
            return FAIL(p, "[certificate \"%s\"]: tsig_key and tsig_secret "
                           "go together",
                        k->name);
        p->line = save;
        return 0;
    }
    if (p->sec != SEC_ENDPOINT)
        return 0;
    p->line = e->line;
    if (e->host == NULL)
        return FAIL(p, "[endpoint \"%s\"]: host is required", e->name);
    p->line = save;
    if (e->port == 0)
        e->port = e->starttls == KW_TLS_SMTP   ? 25
                  : e->starttls == KW_TLS_IMAP ? 143
                  : e->starttls == KW_TLS_POP3 ? 110
                                               : 443;
    return 0;
}

/* Take the name of a new [endpoint], [certificate] or [hook]: 0 with a
 * copy in *out, 1 when the section appeared before, or KW_ENOMEM. */
static int take_name(kw_strset *taken, const char *sub, char **out)
{
    char *name = strdup(sub);
    int r;

    if (name == NULL)
        return KW_ENOMEM;
    if ((r = kw_strset_add(taken, name)) != 0) {
        free(name);
        return r;
    }
    *out = name;
    return 0;
}

static int begin_section(parser *p, char *h)
{
    char *name = h, *sub = NULL, *q, *copy = NULL;
    int r;

    if ((r = end_section(p)) != 0)
        return r;
    /* [name] or [name "sub"] */
    q = strchr(h, ' ');
    if (q != NULL) {
        *q++ = '\0';
        q = trim(q);
        if (*q != '"' || strlen(q) < 2 || q[strlen(q) - 1] != '"')
            return FAIL(p, "[%s %s]: expected a quoted name, as in "
                           "[endpoint \"mail\"]",
                        name, q);
        q[strlen(q) - 1] = '\0';
        sub = q + 1;
        if (*sub == '\0' || strchr(sub, '"') != NULL)
            return FAIL(p, "[%s]: the quoted name must be non-empty and "
                           "without quotes",
                        name);
    }
    p->seen = 0;
    p->ep = NULL;
    p->cert = NULL;
    p->hook = NULL;
    p->dk = NULL;
    p->rot = NULL;
    p->zone = NULL;
    p->coalesce_set = 0;
    if (strcmp(name, "dnssec") == 0 || strcmp(name, "zone") == 0)
        return kw_config_dnssec_begin(p, name, sub);
    if (strcmp(name, "dane") == 0)
        return kw_config_dane_begin(p, sub);
    if (strcmp(name, "mta-sts") == 0)
        return kw_config_mtasts_begin(p, sub);
    if (strcmp(name, "dkim") == 0) {
        kw_dkim_params *dk = &p->c->dkim;
        kw_dkim_conf_key *nk;

        p->sec = SEC_DKIM;
        dk->configured = 1;
        if (sub == NULL) {
            if (p->seen_sections & (1u << SEC_DKIM))
                return FAIL(p, "[dkim] appears twice; merge the two");
            p->seen_sections |= 1u << SEC_DKIM;
            return 0;
        }
        /* One [dkim "DOMAIN"] per selector: a domain may repeat. */
        if (!kw_config_dns_name_ok(sub, 253))
            return FAIL(p, "[dkim \"%s\"]: expected the domain that signs "
                           "(d=), as in [dkim \"example.com\"]",
                        sub);
        nk = kw_vec_grow(dk->keys, &p->cap_dkim, dk->nkeys + 1, sizeof(*nk));
        if (nk == NULL)
            return KW_ENOMEM;
        dk->keys = nk;
        p->dk = &dk->keys[dk->nkeys];
        memset(p->dk, 0, sizeof(*p->dk));
        if ((p->dk->domain = strdup(sub)) == NULL)
            return KW_ENOMEM;
        dk->nkeys++;
        p->dk->line = p->line;
        return 0;
    }
    if (strcmp(name, "daemon") == 0 || strcmp(name, "scan") == 0 ||
        strcmp(name, "acme") == 0) {
        enum section s = name[0] == 'd'   ? SEC_DAEMON
                         : name[0] == 's' ? SEC_SCAN
                                          : SEC_ACME;
        if (sub != NULL)
            return FAIL(p, "[%s \"%s\"]: [%s] takes no name", name, sub,
                        name);
        if (p->seen_sections & (1u << s))
            return FAIL(p, "[%s] appears twice; merge the two", name);
        p->seen_sections |= 1u << s;
        p->sec = s;
        return 0;
    }
    if (strcmp(name, "endpoint") == 0) {
        kw_config *c = p->c;
        kw_endpoint_conf *ne;

        if (sub == NULL)
            return FAIL(p, "[endpoint]: expected a name, as in [endpoint "
                           "\"mail\"]");
        /* The name is the endpoint's object name, which the jobs copy
         * into bounded rows: a longer one would be cut and never found. */
        if (strlen(sub) > KW_ENDPOINT_NAME_MAX)
            return FAIL(p, "[endpoint \"%.40s...\"]: the name is %zu bytes "
                           "long; at most %d",
                        sub, strlen(sub), KW_ENDPOINT_NAME_MAX);
        ne = kw_vec_grow(c->endpoints, &p->cap_endpoints,
                         c->nendpoints + 1, sizeof(*ne));
        if (ne == NULL)
            return KW_ENOMEM;
        c->endpoints = ne;
        if ((r = take_name(&p->endpoint_names, sub, &copy)) != 0)
            return r == 1 ? FAIL(p, "[endpoint \"%s\"] appears twice", sub)
                          : r;
        p->ep = &c->endpoints[c->nendpoints++];
        memset(p->ep, 0, sizeof(*p->ep));
        p->ep->name = copy;
        p->ep->line = p->line;
        p->ep->interval = 1 * KW_HOUR;
        p->ep->timeout = 10;
        p->sec = SEC_ENDPOINT;
        return 0;
    }
    if (strcmp(name, "certificate") == 0) {
        kw_config *c = p->c;
        kw_cert_conf *nc;

        if (sub == NULL)
            return FAIL(p, "[certificate]: expected a name, as in "
                           "[certificate \"www\"]");
        if (sub[0] == '.' || strlen(sub) > 200 ||
            strspn(sub, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789._-") != strlen(sub))
            return FAIL(p, "[certificate \"%s\"]: the name becomes a "
                           "directory name: letters, digits, '.', '_' and "
                           "'-', not starting with '.'",
                        sub);
        nc = kw_vec_grow(c->certs, &p->cap_certs, c->ncerts + 1,
                         sizeof(*nc));
        if (nc == NULL)
            return KW_ENOMEM;
        c->certs = nc;
        if ((r = take_name(&p->cert_names, sub, &copy)) != 0)
            return r == 1 ? FAIL(p, "[certificate \"%s\"] appears twice",
                                 sub)
                          : r;
        p->cert = &c->certs[c->ncerts++];
        memset(p->cert, 0, sizeof(*p->cert));
        p->cert->name = copy;
        p->cert->line = p->line;
        p->cert->keep = 5;
        p->cert->dns_wait = 120;
        p->sec = SEC_CERT;
        return 0;
    }
    if (strcmp(name, "hook") == 0) {
        kw_config *c = p->c;
        kw_hook_def *nh;

        if (sub == NULL)
            return FAIL(p, "[hook]: expected a name, as in [hook "
                           "\"postfix\"]");
        if (strlen(sub) > 100 || strspn(sub, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                             "abcdefghijklmnopqrstuvwxyz"
                                             "0123456789._-") != strlen(sub))
            return FAIL(p, "[hook \"%s\"]: a hook's name is up to 100 "
                           "letters, digits, '.', '_' and '-' (it labels "
                           "metrics)",
                        sub);
        nh = kw_vec_grow(c->hooks, &p->cap_hooks, c->nhooks + 1,
                         sizeof(*nh));
        if (nh == NULL)
            return KW_ENOMEM;
        c->hooks = nh;
        if ((r = take_name(&p->hook_names, sub, &copy)) != 0)
            return r == 1 ? FAIL(p, "[hook \"%s\"] appears twice", sub) : r;
        p->hook = &c->hooks[c->nhooks++];
        memset(p->hook, 0, sizeof(*p->hook));
        p->hook->name = copy;
        p->hook->line = p->line;
        p->hook->timeout = KW_HOOK_DEFAULT_TIMEOUT;
        p->hook->retries = KW_HOOK_DEFAULT_RETRIES;
        p->hook->retry_delay = KW_HOOK_DEFAULT_RETRY_DELAY;
        p->sec = SEC_HOOK;
        return 0;
    }
    return FAIL(p, "[%s]: unknown section; expected [daemon], [scan], "
                   "[acme], [endpoint \"NAME\"], [certificate \"NAME\"], "
                   "[hook \"NAME\"], [dkim], [dkim \"DOMAIN\"], [dnssec], "
                   "[zone \"NAME\"], [dane], [mta-sts] or [mta-sts \"DOMAIN\"]",
                name);
}

static int key_line(parser *p, char *line)
{
    char *eq = strchr(line, '='), *key, *v, *c;
    const char *const *keys = keys_of(p->sec);
    int k = -1, i;

    if (eq == NULL)
        return FAIL(p, "expected \"key = value\", a [section] or a comment");
    *eq = '\0';
    key = trim(line);
    v = trim(eq + 1);
    for (c = key; *c != '\0'; c++)
        if (!islower((unsigned char)*c) && *c != '_' &&
            !isdigit((unsigned char)*c))
            return FAIL(p, "\"%s\": keys are lower-case words joined by _",
                        key);
    if (*key == '\0')
        return FAIL(p, "a value without a key");
    if (p->sec == SEC_NONE)
        return FAIL(p, "%s: outside any section; start with [daemon], "
                       "[scan] or [endpoint \"NAME\"]",
                    key);
    /* A quoted value keeps what is inside the quotes; an unquoted one may
     * end with a comment after whitespace. */
    if (*v == '"') {
        char *end = strrchr(v + 1, '"');
        if (end == NULL || trim(end + 1)[0] != '\0')
            return FAIL(p, "%s: unterminated or misplaced quote", key);
        *end = '\0';
        v++;
    } else {
        for (c = v; *c != '\0'; c++)
            if ((*c == '#' || *c == ';') && c > v &&
                (c[-1] == ' ' || c[-1] == '\t')) {
                *c = '\0';
                v = trim(v);
                break;
            }
    }
    if (*v == '\0')
        return FAIL(p, "%s: empty value", key);
    for (i = 0; keys != NULL && keys[i] != NULL; i++)
        if (strcmp(keys[i], key) == 0)
            k = i;
    if (k < 0)
        return unknown_key(p, key);
    /* Only [scan] path and [certificate] names repeat. */
    if (!((p->sec == SEC_SCAN || p->sec == SEC_CERT) && k == 0) &&
        (p->seen & ((uint64_t)1 << k)))
        return FAIL(p, "%s: set twice in %s", key, section_word(p->sec));
    p->seen |= (uint64_t)1 << k;
    switch (p->sec) {
    case SEC_DAEMON: return daemon_key(p, k, key, v);
    case SEC_SCAN: return scan_key(p, k, key, v);
    case SEC_ENDPOINT: return endpoint_key(p, k, key, v);
    case SEC_ACME: return acme_key(p, k, key, v);
    case SEC_CERT: return cert_key(p, k, key, v);
    case SEC_HOOK: return hook_key(p, k, key, v);
    case SEC_DKIM: return kw_config_dkim_key(p, k, key, v);
    case SEC_DNSSEC:
    case SEC_ZONE: return kw_config_dnssec_key(p, k, key, v);
    case SEC_DANE: return kw_config_dane_key(p, k, key, v);
    case SEC_MTASTS: return kw_config_mtasts_key(p, k, key, v);
    default: return unknown_key(p, key);
    }
}

int kw_config_parse(const char *name, const char *text, size_t len,
                    kw_config *c, kw_diag *d)
{
    parser p;
    char line[KW_CONFIG_MAX_LINE + 1];
    size_t pos = 0, i;
    int r = 0;

    kw_config_defaults(c);
    memset(&p, 0, sizeof(p));
    p.file = name;
    p.c = c;
    p.d = d;
    if ((c->path = strdup(name)) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    /* A UTF-8 byte-order mark, as Windows editors write, is not part of
     * the first line (Python's utf-8-sig, git and systemd skip it too). */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len && r == 0) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
        char *s;

        p.line++;
        if (n > KW_CONFIG_MAX_LINE) {
            r = FAIL(&p, "line longer than %d bytes", KW_CONFIG_MAX_LINE);
            break;
        }
        if (memchr(text + pos, '\0', n) != NULL) {
            r = FAIL(&p, "NUL byte in the line; is this a text file?");
            break;
        }
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos += n + (nl != NULL);
        if (n > 0 && line[n - 1] == '\r')
            line[n - 1] = '\0';
        s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (strncmp(s, "\xef\xbb\xbf", 3) == 0) {
            /* Files joined with cat: the second one's mark. */
            r = FAIL(&p, "a UTF-8 byte-order mark (EF BB BF) starts this "
                         "line; it is only allowed at the start of the "
                         "file: remove it");
            break;
        }
        if (*s == '[') {
            size_t m = strlen(s);
            if (s[m - 1] != ']') {
                r = FAIL(&p, "section header without a closing ]");
                break;
            }
            s[m - 1] = '\0';
            r = begin_section(&p, trim(s + 1));
            continue;
        }
        r = key_line(&p, s);
    }
    if (r == 0)
        r = end_section(&p);
    c->dkim.config_file = c->path;
    c->dnssec.config_file = c->path;
    if (r == 0)
        r = kw_config_dnssec_end(&p);
    /* [dkim] may come after the managed sections: they ask its resolver
     * and port. */
    for (i = 0; r == 0 && i < c->dkim.nrot; i++) {
        kw_dkim_rot_params *rp = &c->dkim.rot[i];

        rp->dns_port = c->dkim.dns_port;
        rp->max_age = c->dkim.max_age;
        if ((c->dkim.resolver != NULL &&
             (rp->resolver = strdup(c->dkim.resolver)) == NULL) ||
            /* A dual section's Ed25519 track has its own instance
             * (opendkim_conf_ed25519, set with the section). */
            (c->dkim.opendkim_conf != NULL &&
             rp->track != KS_DKIM_TRACK_ED25519 &&
             (rp->opendkim_conf = strdup(c->dkim.opendkim_conf)) == NULL))
            r = KW_ENOMEM;
        /* [dkim] rspamd_conf is rspamd's directory; the switch's
         * configtest reads rspamd.conf in it. */
        if (r == 0 && c->dkim.rspamd_conf != NULL &&
            asprintf(&rp->rspamd_conf, "%s/rspamd.conf",
                     c->dkim.rspamd_conf) < 0) {
            rp->rspamd_conf = NULL;
            r = KW_ENOMEM;
        }
    }
    if (r == 0 && c->metrics_listen[0] != '\0' && !c->has_web_auth &&
        !kw_config_listen_is_loopback(c->metrics_listen)) {
        /* The page and the metrics show every name and path of the
         * inventory: beyond this machine only with a token. */
        p.line = c->metrics_line;
        r = FAIL(&p,
                 "metrics_listen = %s is not a loopback address: the page "
                 "and /metrics would be open to the network; set web_auth "
                 "= sha256:HEX (the SHA-256 of a token clients send as "
                 "\"Authorization: Bearer TOKEN\") or listen on "
                 "127.0.0.1",
                 c->metrics_listen);
    }
    kw_strset_free(&p.endpoint_names);
    kw_strset_free(&p.cert_names);
    kw_strset_free(&p.hook_names);
    if (r == KW_ENOMEM)
        kw_diag_set(d, r, "out of memory");
    if (r != 0) {
        kw_config_free(c);
        kw_config_defaults(c);
    }
    return r;
}

int kw_config_load(const char *path, kw_config *c, kw_diag *d)
{
    unsigned char *buf;
    size_t len = 0;
    int r;

    kw_config_defaults(c);
    r = kw_fs_read_regular(path, KW_CONFIG_MAX_SIZE, &buf, &len, d);
    if (r == 0) {
        kw_config_free(c); /* parse starts from its own defaults */
        r = kw_config_parse(path, (const char *)buf, len, c, d);
    }
    free(buf);
    return r;
}

/* ----- the lifecycles' parameters --------------------------------------- */

void kw_config_certs_dir(const kw_config *conf, const char *state_dir,
                         char *out, size_t cap)
{
    if (conf->acme.certs_dir != NULL)
        snprintf(out, cap, "%s", conf->acme.certs_dir);
    else
        snprintf(out, cap, "%s/certs", state_dir);
}

void kw_config_acme_params(const kw_config *conf, const char *state_dir,
                           kw_acme_params *out)
{
    const kw_acme_conf *a = &conf->acme;

    memset(out, 0, sizeof(*out));
    out->directory = a->directory != NULL ? a->directory
                                          : KW_ACME_DEFAULT_DIRECTORY;
    out->ca_file = a->ca_file;
    out->contact = a->contact;
    out->account_key = a->account_key;
    out->http01_listen = a->http01_listen != NULL ? a->http01_listen
                                                  : KW_ACME_DEFAULT_HTTP01;
    out->eab_kid = a->eab_kid;
    out->eab_hmac_key = a->eab_hmac_key;
    out->resolver = a->resolver;
    out->validation_http_port = a->validation_http_port;
    out->validation_https_port = a->validation_https_port;
    out->validation_allow_private = a->validation_allow_private;
    kw_config_certs_dir(conf, state_dir, out->certs_dir,
                        sizeof(out->certs_dir));
}

void kw_config_renew_params(const kw_config *conf, const kw_cert_conf *c,
                            kw_renew_params *out)
{
    memset(out, 0, sizeof(*out));
    out->name = c->name;
    out->names = (const char *const *)c->names;
    out->nnames = c->nnames;
    if (c->directory != NULL)
        out->directory = c->directory;
    else if (conf->acme.directory != NULL)
        out->directory = conf->acme.directory;
    else
        out->directory = KW_ACME_DEFAULT_DIRECTORY;
    out->use_webroot = c->http01_webroot;
    out->webroot = c->webroot;
    out->key_type = c->key_type;
    out->reuse_key = c->reuse_key;
    out->profile = c->profile;
    out->keep = c->keep;
    out->key_group = c->key_group;
    out->key_owner = c->key_owner;
    out->preferred_chain = c->preferred_chain;
    out->dns01 = c->dns01;
    out->dns.server = c->dns_server;
    out->dns.zone = c->dns_zone;
    out->dns.tsig_key = c->tsig_key;
    out->dns.tsig_alg = c->tsig_algorithm;
    out->dns.tsig_secret = c->tsig_secret;
    out->dns.exec = c->dns_exec;
    out->dns.check = c->dns_check;
    out->dns.ncheck = c->ndns_check;
    out->dns.wait = c->dns_wait > 0 ? c->dns_wait : 120;
    out->dane = c->dane;
    out->dane_usage = c->dane_usage;
    out->dane_selector = c->dane_selector;
    out->dane_mtype = c->dane_mtype;
    out->dane_port = c->dane_port > 0 ? c->dane_port : 25;
    out->dane_ttl = c->dane_ttl > 0 ? c->dane_ttl : 3600;
    out->dane_release = c->dane_release;
    out->dane_hosts = (const char *const *)c->dane_hosts;
    out->ndane_hosts = c->ndane_hosts;
    out->precheck = c->precheck == KW_PRECHECK_WARN ? KW_RENEW_PRECHECK_WARN
                    : c->precheck == KW_PRECHECK_OFF
                        ? KW_RENEW_PRECHECK_OFF
                        : KW_RENEW_PRECHECK_ENFORCE;
}
