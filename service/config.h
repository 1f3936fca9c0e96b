/*
 * config.h: keywarden.conf, the one file an operator edits.
 *
 * INI style: "[section]" or "[section "name"]" headers, "key = value"
 * lines, comments starting with '#' or ';' on lines of their own or after
 * an unquoted value and whitespace.  Every error names the file, the line,
 * the key and what was expected; unknown sections and keys are errors, not
 * ignored, so a typo never silently disables a check.  Lines are at most
 * 4096 bytes; values may not span lines.  A UTF-8 byte-order mark at the
 * start of the file is skipped.
 *
 * Every section and key (type, default, meaning) is described once, in
 * docs/configuration.md; kw_config_sections below is the table the parser
 * accepts keys from, and tests/unit/test_config_doc.c fails when the two
 * disagree.  docs/keywarden.conf.example is an example to start from.
 */
#ifndef KW_CONFIG_H
#define KW_CONFIG_H

#include "../common/kw_err.h"
#include "../dkim/dkim_source.h"
#include "../dnssec/dnssec_scan.h"
#include "../hooks/hook_def.h"
#include "../probe/endpoint.h"

#include <stddef.h>
#include <stdint.h>

enum {
    KW_PRECHECK_ENFORCE = 0, /* no order when the CA would fail */
    KW_PRECHECK_WARN,        /* say so, order all the same */
    KW_PRECHECK_OFF,
};

typedef struct kw_cert_conf {
    char *name;
    char **names;         /* DNS names or IP addresses */
    size_t nnames;
    int http01_webroot;   /* 0: the built-in responder */
    char *webroot;
    char *key_type;       /* "ec256" ... */
    int reuse_key;
    char *profile;        /* NULL: the CA's default */
    int keep;
    char *key_group;      /* NULL: 0600, owner only */
    char *directory;      /* NULL: [acme] directory */
    char *preferred_chain; /* issuer CN of the chain to prefer */
    char *key_owner;      /* NULL: the process's user */
    /* dns-01 */
    int dns01;            /* challenge = dns-01 */
    char *dns_server;     /* the zone's primary, for RFC 2136 updates */
    char *dns_zone;       /* NULL: found by asking dns_server */
    char *tsig_key, *tsig_algorithm, *tsig_secret;
    char *dns_exec;       /* a program doing the updates instead */
    char **dns_check;     /* servers to wait on; NULL: the zone's NS */
    size_t ndns_check;
    int64_t dns_wait;     /* seconds until every server answers */
    int precheck;         /* http-01 pre-check: KW_PRECHECK_* */
    /* DANE key rollover (dane/dane_roll.h): dane = 3 1 1 announces each
     * next key's TLSA record before the renewal deploys it. */
    int dane;             /* dane = was given */
    int dane_usage, dane_selector, dane_mtype;
    int dane_port;        /* 0: 25 */
    int dane_ttl;         /* 0: 3600 */
    int dane_release;     /* dane_release = yes: the operator's override */
    char **dane_hosts;    /* NULL: the first of names */
    size_t ndane_hosts;
    int line;
} kw_cert_conf;

typedef struct kw_acme_conf {
    char *directory;
    char *ca_file;
    char *contact;
    char *account_key;    /* key type word */
    char *http01_listen;
    char *certs_dir;      /* NULL: STATE_DIR/certs */
    int concurrency;
    char *eab_kid;        /* External Account Binding, from the CA */
    char *eab_hmac_key;   /* base64url, as CAs hand it out */
    /* The HTTP-01 pre-check does what the CA's validator does: */
    char *resolver;       /* DNS resolver; NULL: /etc/resolv.conf's */
    int validation_http_port, validation_https_port; /* 80, 443 */
    int validation_allow_private; /* a private CA reaching private nets */
} kw_acme_conf;

/* [dane]: how the daemon checks the TLSA records of its SMTP endpoints
 * (the [endpoint] sections with starttls = smtp, or port 465). */
typedef struct kw_dane_conf {
    int configured;       /* a [dane] section is present */
    char *resolver;       /* validating resolver; NULL: [dnssec]'s, else
                             /etc/resolv.conf's */
    int64_t interval;     /* seconds; default 1 h */
    int64_t timeout;      /* per question and probe, seconds; default 10 */
    int smtp_port;        /* where the MX hosts of the mail domains are
                             probed (their TLSA stays _25._tcp); 0: 25 */
} kw_dane_conf;

/* [mta-sts] and [mta-sts "DOMAIN"]: the mail domains whose MTA-STS the
 * daemon checks (job_mtasts.c), and how. */
typedef struct kw_mtasts_conf {
    char **domains;       /* lower case, no final dot */
    size_t ndomains;
    char *resolver;       /* NULL: [dane]'s, [dnssec]'s, resolv.conf's */
    char *cafile;         /* NULL: the system's store */
    int https_port;       /* 0: 443 */
    int smtp_port;        /* 0: 25 */
    int64_t interval;     /* seconds; default 1 h */
    int64_t timeout;      /* per network step, seconds; default 10 */
} kw_mtasts_conf;

typedef struct kw_config {
    char *path;           /* the file it came from */
    int log_level;        /* -1: not set */
    /* "127.0.0.1:9177", or "" when off.  An array, so that the defaults
     * own no memory: a config that failed to load needs no freeing. */
    char metrics_listen[80];
    int metrics_default;  /* not set in the file: a bind failure is only
                             a warning */
    int metrics_line;     /* its line in the file (0: the default) */
    /* The page's token (web_auth = sha256:HEX): its SHA-256, never the
     * token itself.  Required when metrics_listen is not loopback. */
    int has_web_auth;
    unsigned char web_auth[32];
    int web_horizon;      /* days of the page's timeline (web_horizon) */
    char *control_socket;
    char *control_group;  /* NULL: owner only (0600) */
    int concurrency;
    int discover;         /* read Postfix/Dovecot/nginx configurations */
    char **scan_paths;
    size_t nscan_paths;
    int64_t scan_interval;
    int scan_watch;
    kw_endpoint_conf *endpoints;
    size_t nendpoints;
    kw_acme_conf acme;    /* pointers NULL until set: see kw_acme_* */
    kw_cert_conf *certs;
    size_t ncerts;
    kw_hook_def *hooks;
    size_t nhooks;
    /* [dkim] and [dkim "DOMAIN"]; dkim.config_file points at path. */
    kw_dkim_params dkim;
    /* [dnssec] and [zone "NAME"]; dnssec.config_file points at path. */
    kw_dnssec_params dnssec;
    /* [dane]: the DANE check of the SMTP endpoints (job_dane.c). */
    kw_dane_conf dane;
    kw_mtasts_conf mtasts;
} kw_config;

#define KW_ACME_DEFAULT_DIRECTORY                                          \
    "https://acme-v02.api.letsencrypt.org/directory"
#define KW_ACME_DEFAULT_HTTP01 "0.0.0.0:80"

#define KW_CONFIG_DEFAULT_PATH "/etc/keywarden/keywarden.conf"
/* What serve scans when there is no configuration file at all; a file
 * that `certificate add` creates lists them, so creating it drops none. */
#define KW_CONFIG_DEFAULT_SCAN "/etc/ssl", "/etc/letsencrypt"
#define KW_METRICS_DEFAULT "127.0.0.1:9177"
#define KW_CONFIG_MAX_LINE 4096
#define KW_CONFIG_MAX_SIZE (1024 * 1024)

/* A section and the keys it accepts.  The parser looks keys up in
 * kw_config_sections, and docs/configuration.md documents each row
 * (tests/unit/test_config_doc.c compares the two), so neither drifts. */
typedef struct kw_config_section {
    const char *name;         /* "daemon", "endpoint" ... */
    int named;                /* written [name "NAME"] */
    const char *const *keys;  /* NULL-terminated */
} kw_config_section;

/* Every section, ending with a row whose name is NULL. */
extern const kw_config_section kw_config_sections[];

/* Defaults for everything, as when the file is empty. */
void kw_config_defaults(kw_config *c);

/* Parse the file at path into *c (defaults first).  On error returns
 * KW_EPARSE (or an I/O error) with "FILE:LINE: key: what was expected" in
 * d, and *c holds the defaults only.  A missing file is KW_ENOENT. */
int kw_config_load(const char *path, kw_config *c, kw_diag *d);
/* Whether "ADDRESS:PORT" is a loopback address (127.0.0.0/8, ::1). */
int kw_config_listen_is_loopback(const char *listen);

/* Parse text as if it were the file named `name`. */
int kw_config_parse(const char *name, const char *text, size_t len,
                    kw_config *c, kw_diag *d);

void kw_config_free(kw_config *c);

/* The translation into the lifecycles' own parameters (acme/renew.h), so
 * that no lifecycle reads this header's types.  Defaults are applied
 * here; the strings stay the configuration's (borrowed), and out is
 * overwritten whole. */
struct kw_acme_params;
struct kw_renew_params;

/* Where archive/ and live/ are: [acme] certs_dir, else STATE_DIR/certs. */
void kw_config_certs_dir(const kw_config *conf, const char *state_dir,
                         char *out, size_t cap);

/* [acme], with certs_dir resolved against state_dir. */
void kw_config_acme_params(const kw_config *conf, const char *state_dir,
                           struct kw_acme_params *out);

/* [certificate "NAME"] c of conf, its directory resolved against
 * [acme]'s and its dns-01 settings (dns_wait: 120 s) filled in. */
void kw_config_renew_params(const kw_config *conf, const kw_cert_conf *c,
                            struct kw_renew_params *out);

#endif
