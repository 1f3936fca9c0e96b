/*
 * discover.h: which certificate files the mail and web servers use.
 *
 * Reads the configuration files of Postfix (main.cf with $parameter
 * expansion, and master.cf "-o" overrides), Dovecot (ssl_cert = <file,
 * !include and !include_try) and nginx (ssl_certificate in every included
 * file), and reports:
 *   - each certificate or key file, with the daemon, the configuration
 *     file, the line and the directive that names it ("used by");
 *   - the TLS endpoints those daemons serve, as proposals, each with the
 *     file and line that enabled it.
 * A file a daemon is configured to load that is missing or cannot be read
 * is reported (kw_usage.err) and, by kw_discover_apply(), becomes an
 * inventory object in state missing or unreadable: the daemon will not
 * start or reload with it.
 * Files are read with bounds (1 MiB each, 256 files, 16 levels of
 * include); what cannot be read is reported, not skipped silently.
 *
 * nginx is the one daemon that is run: where its binary is installed,
 * `nginx -T -c CONF` (no shell; 4 MiB of output and 10 s at most, killed
 * after that) prints the whole configuration nginx itself accepts, every
 * file it read after a "# configuration file PATH:" line, and that text is
 * parsed instead of the files.  When nginx -T fails (a configuration
 * nginx rejects, keys or logs it cannot open as this user) its first error
 * is a note and the files are read directly.  Postfix and Dovecot
 * configurations are only read.
 */
#ifndef KW_DISCOVER_H
#define KW_DISCOVER_H

#include "endpoint.h"
#include "../common/kw_err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kw_usage {
    char *daemon;    /* "postfix", "dovecot", "nginx" */
    char *config;    /* the file that names it */
    int line;
    char *directive; /* "smtpd_tls_cert_file", "ssl_cert", ... */
    char *path;      /* the certificate or key file */
    int is_key;
    int err;         /* errno of reading it as this user (ENOENT: it is
                        missing); 0 when it can be read */
} kw_usage;

typedef struct kw_proposal {
    char *daemon;
    char *name;      /* a suggested [endpoint] name: "postfix-submission" */
    char *host;
    char *sni;       /* may be NULL */
    int port;
    enum kw_starttls starttls;
    char *config;
    int line;
} kw_proposal;

typedef struct kw_discovery {
    kw_usage *usages;
    size_t nusages;
    kw_proposal *proposals;
    size_t nproposals;
    char **notes;    /* what could not be read, and why */
    size_t nnotes;
    char *nginx_dump; /* the nginx binary whose `-T` output was parsed;
                         NULL when nginx's files were read directly */
} kw_discovery;

/* Where to look; NULL members take the Debian defaults. */
typedef struct kw_discover_paths {
    const char *postfix_dir;  /* /etc/postfix */
    const char *dovecot_conf; /* /etc/dovecot/dovecot.conf */
    const char *nginx_conf;   /* /etc/nginx/nginx.conf */
    const char *nginx_bin;    /* for `nginx -T`: NULL looks for "nginx" on
                                 PATH, then /usr/sbin/nginx; "" never runs
                                 nginx (its files are read directly) */
    int nginx_timeout_ms;     /* for nginx -T; 0: 10 s */
} kw_discover_paths;

/* Discover; a daemon whose configuration is absent is skipped (not
 * installed).  Returns 0, or KW_ENOMEM. */
int kw_discover(const kw_discover_paths *paths, kw_discovery *out);

void kw_discovery_free(kw_discovery *d);

/* Discover nginx's files from what `nginx -T` printed on stdout: each file
 * nginx read follows a "# configuration file PATH:" line, the main file
 * first; includes are resolved among those files, and every usage names
 * the file and the line within it.  text (len bytes, NUL-terminated) is
 * modified.  Returns 0; KW_EPARSE when text does not start with such a
 * line, KW_ETOOBIG past 256 files, or KW_ENOMEM (out is then empty).
 * kw_discover() runs nginx and calls this; it is exposed for the tests. */
int kw_discover_nginx_dump(char *text, size_t len, kw_discovery *out);

/* The addresses Postfix sends mail from, for the SPF check of [dkim]
 * outbound's default. */
#define KW_OUTBOUND_MAX 8

typedef struct kw_outbound_addr {
    char addr[64];    /* an IPv4 or IPv6 literal */
    char param[24];   /* "smtp_bind_address", "smtp_bind_address6",
                         "inet_interfaces" */
    int line;         /* of main.cf */
} kw_outbound_addr;

typedef struct kw_outbound {
    char main_cf[4096];          /* the file read */
    kw_outbound_addr a[KW_OUTBOUND_MAX];
    size_t n;
    char note[1024];  /* why there are none, what was skipped; "" */
} kw_outbound;

/* Reads postfix_dir/main.cf (NULL: /etc/postfix; $parameter expansion,
 * continuation lines) for the addresses Postfix's SMTP client binds:
 * smtp_bind_address (IPv4) and smtp_bind_address6 when set, else for
 * that family the IP literals of inet_interfaces that are not loopback
 * (127.0.0.0/8, ::1) or unspecified.  "all" (also Postfix's default),
 * "loopback-only", "localhost" and host names name no address: with none
 * found, out->n is 0 and out->note says why (with "all": the route picks
 * the address; set [dkim] outbound).  Returns 0 (out->n may be 0);
 * KW_ENOENT when main.cf is missing (Postfix is not installed), another
 * KW_E* when it cannot be read, KW_ENOMEM; d names the file.  BLOCKS
 * (one file read). */
int kw_discover_outbound(const char *postfix_dir, kw_outbound *out,
                         kw_diag *d);

struct ks_store;
struct ks_scan_stats;

/* Add the files found to the inventory (a scan of each) and record which
 * daemon uses them, replacing what an earlier discovery recorded. */
int kw_discover_apply(struct ks_store *s, const kw_discovery *disc,
                      int64_t now, struct ks_scan_stats *stats,
                      kw_diag *d);

#endif
