/*
 * endpoint.h: a TLS endpoint as the probes take it.
 *
 * The configuration's [endpoint] sections are parsed into this struct
 * (service/config.c), and probe/ reads it without knowing where it came
 * from: `keywarden probe` fills one from its arguments.  probe/ reads host,
 * port, sni, starttls and timeout; name labels what is recorded; interval
 * (the daemon's schedule) and line (for the configuration's errors) are
 * its callers'.
 */
#ifndef KW_ENDPOINT_H
#define KW_ENDPOINT_H

#include <stdint.h>

enum kw_starttls {
    KW_TLS_IMPLICIT = 0,
    KW_TLS_SMTP,
    KW_TLS_IMAP,
    KW_TLS_POP3,
};

/* "none", "smtp", "imap", "pop3"; -1 if not one of them. */
int kw_starttls_parse(const char *s);
const char *kw_starttls_word(enum kw_starttls s);

/* The longest [endpoint "NAME"] the configuration accepts. */
#define KW_ENDPOINT_NAME_MAX 255

typedef struct kw_endpoint_conf {
    char *name;
    char *host;
    int port;
    char *sni;            /* NULL: no SNI */
    enum kw_starttls starttls;
    int64_t interval;     /* seconds */
    int64_t timeout;      /* seconds */
    int line;             /* where the section starts */
} kw_endpoint_conf;

#endif
