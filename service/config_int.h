/*
 * config_int.h: the keywarden.conf reader's own state, shared by its two
 * files: config.c (the reader, every section but [dkim]),
 * config_dkim.c ([dkim] and [dkim "DOMAIN"], watched and rotated keys)
 * and config_dnssec.c ([dnssec] and [zone "NAME"]).
 * Nothing outside service/config*.c includes it.  Every function here
 * fills p->d with "FILE:LINE: ..." and returns KW_EPARSE (or KW_ENOMEM).
 */
#ifndef KW_CONFIG_INT_H
#define KW_CONFIG_INT_H

#include "config.h"

#include "../common/kw_vec.h"
#include "../dkim/dkim_rotate.h"

#include <stddef.h>
#include <stdint.h>

enum section {
    SEC_NONE,
    SEC_DAEMON,
    SEC_SCAN,
    SEC_ENDPOINT,
    SEC_ACME,
    SEC_CERT,
    SEC_HOOK,
    SEC_DKIM,
    SEC_DNSSEC,
    SEC_ZONE,
    SEC_DANE,
    SEC_MTASTS,
};

typedef struct parser {
    const char *file;
    int line;
    enum section sec;
    kw_config *c;
    kw_endpoint_conf *ep; /* current [endpoint] */
    kw_cert_conf *cert;   /* current [certificate] */
    kw_hook_def *hook;    /* current [hook] */
    kw_dkim_conf_key *dk; /* current [dkim "DOMAIN"]; NULL in [dkim] */
    kw_dkim_rot_params *rot; /* its rotation keys, once one is seen */
    kw_dnssec_zone_conf *zone; /* current [zone "NAME"] */
    int dnssec_line;      /* the [dnssec] header's line */
    int coalesce_set;     /* the [hook] set coalesce itself */
    uint64_t seen;        /* keys seen in the current section (bits) */
    unsigned seen_sections;
    int mtasts_domain;    /* the current section is [mta-sts "DOMAIN"] */
    /* Room in the arrays, and the names taken: a file of 20,000
     * sections loads in linear time (kw_vec.h). */
    size_t cap_paths, cap_endpoints, cap_certs, cap_hooks, cap_dkim,
        cap_outbound, cap_rot, cap_zones;
    kw_strset endpoint_names, cert_names, hook_names;
    kw_diag *d;
} parser;

#define FAIL(p, ...) kw_config_fail_at((p), __VA_ARGS__)

/* The first [dkim] key only a [dkim "DOMAIN"] takes, and the first of
 * the rotation keys (indexes into the [dkim] row of kw_config_sections). */
#define DKIM_FIRST_DOMAIN_KEY 7
#define DKIM_FIRST_ROTATE_KEY 10
/* zone, slots and opendkim_conf_ed25519, the last three (`seen` is 64
 * bits since the last). */
#define DKIM_KEY_ZONE 30
#define DKIM_KEY_SLOTS 31
#define DKIM_KEY_OPENDKIM_ED25519 32

int kw_config_fail_at(parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* *dst = a copy of v (the old value freed). */
int kw_config_set_str(char **dst, const char *v);
int kw_config_duration(parser *p, const char *key, const char *v,
                       int64_t *out);
/* One of the RFC 2136 keys [certificate] and [dkim "DOMAIN"] share. */
int kw_config_dns_update_key(parser *p, int which, const char *key,
                             const char *v, char **dst);
/* A host name as DNS has it, at most max octets: 1 yes, 0 no. */
int kw_config_dns_name_ok(const char *v, size_t max);

/* config_dkim.c: one key of [dkim] or [dkim "DOMAIN"] (k indexes the
 * [dkim] row), and the checks when a [dkim "DOMAIN"] section ends. */
int kw_config_dkim_key(parser *p, int k, const char *key, const char *v);
int kw_config_dkim_end(parser *p);
/* KEY = ADDR[:PORT] ...: a NULL-terminated list of DNS servers in *out,
 * *nout entries (nout may be NULL). */
int kw_config_server_list(parser *p, const char *key, const char *v,
                          char ***out, size_t *nout);

/* config_dnssec.c: [dnssec] and [zone "NAME"].  begin takes the section
 * (name "dnssec" or "zone", sub its quoted name or NULL); key one key of
 * it (k indexes its row of kw_config_sections); end checks [dnssec]'s
 * thresholds once the whole file is read. */
int kw_config_dnssec_begin(parser *p, const char *name, const char *sub);
int kw_config_dnssec_key(parser *p, int k, const char *key, const char *v);
int kw_config_dnssec_end(parser *p);

/* config_dnssec.c too: [dane] (the DANE check of SMTP endpoints). */
int kw_config_dane_begin(parser *p, const char *sub);
int kw_config_dane_key(parser *p, int k, const char *key, const char *v);
/* config_dnssec.c too: [mta-sts] and [mta-sts "DOMAIN"]. */
int kw_config_mtasts_begin(parser *p, const char *sub);
int kw_config_mtasts_key(parser *p, int k, const char *key, const char *v);

#endif
