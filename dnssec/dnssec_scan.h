/*
 * dnssec_scan.h: which zones keywarden watches, their keys in the
 * inventory, and the parameters of the live checks.
 *
 * kw_dnssec_params is what service/config.c fills from [dnssec] and the
 * [zone "NAME"] sections (defaults applied by kw_dnssec_params_defaults;
 * the caller owns it and frees it with kw_dnssec_params_free).
 * kw_dnssec_scan finds the signed zones in named.conf (zones with
 * dnssec-policy, their key-directory) and knot.conf (zones with
 * dnssec-signing, their policy), adds the [zone] sections (watched only:
 * no keys, live checks only), reads every key through dnssec_bind.h and
 * dnssec_knot.h, and makes the inventory exactly that (ks_dnssec_sync).
 * A signer that cannot be read is a note, and its zones are kept as
 * they were.  It BLOCKS (files, keymgr, one transaction): the daemon runs
 * it inside its scan job on the pool.
 */
#ifndef KW_DNSSEC_SCAN_H
#define KW_DNSSEC_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "../common/kw_err.h"
#include "../keystore/ks_dnssec.h"

/* A [zone "NAME"] section: a zone watched from outside. */
typedef struct kw_dnssec_zone_conf {
    char *zone;          /* lower case, no final dot */
    char **servers;      /* authoritative "ADDR[:PORT]" (none: its NS set) */
    size_t nservers;
    char *ds_server;     /* a parent server asked for the DS (NULL: the
                            resolver, RD and CD set) */
    int line;            /* the section's line in config_file */
} kw_dnssec_zone_conf;

typedef struct kw_dnssec_params {
    char *named_conf;    /* NULL: KW_DNSSEC_NAMED_CONF when discovering */
    char *knot_conf;     /* NULL: KW_DNSSEC_KNOT_CONF when discovering */
    char *keymgr;        /* NULL: "keymgr" from PATH */
    char *resolver;      /* "ADDR[:PORT]"; NULL: /etc/resolv.conf's */
    int dns_port;        /* NS addresses' port; 0: 53 (tests give theirs) */
    int64_t interval;    /* live re-check period; default 1 h */
    int64_t warn;        /* RRSIG expiring sooner: warning; default 7 d */
    int64_t crit;        /* ... critical; default 3 d */
    kw_dnssec_zone_conf *zones;
    size_t nzones;
    const char *config_file; /* keywarden.conf, for the sources' names */
    int configured;      /* a [dnssec] or [zone] section exists */
} kw_dnssec_params;

#define KW_DNSSEC_NAMED_CONF "/etc/bind/named.conf"
#define KW_DNSSEC_KNOT_CONF "/etc/knot/knot.conf"

void kw_dnssec_params_defaults(kw_dnssec_params *p);
void kw_dnssec_params_free(kw_dnssec_params *p);

/* A deep copy (config_file left borrowed); 0 or KW_ENOMEM, dst then
 * holds the defaults.  Jobs copy at their start, as with kw_dkim_params. */
int kw_dnssec_params_copy(kw_dnssec_params *dst, const kw_dnssec_params *src);

typedef struct kw_dnssec_scan_result {
    ks_dnssec_stats stats;
    /* What could not be read and why: "FILE:LINE: ..." or "keymgr ...". */
    char **notes;
    size_t nnotes;
    /* Files and directories whose change may change the keys (named.conf,
     * knot.conf, key directories), for the daemon's inotify watch. */
    char **watch;
    size_t nwatch;
} kw_dnssec_scan_result;

/* Read named.conf and knot.conf (with discover, Debian's defaults that
 * exist where p names none), every key of every signed zone found, and
 * the [zone] sections, and sync the inventory.  Fails only when the
 * database does or memory runs out. */
int kw_dnssec_scan(ks_store *s, const kw_dnssec_params *p, int discover,
                   int64_t now, kw_dnssec_scan_result *res, kw_diag *d);

void kw_dnssec_scan_result_free(kw_dnssec_scan_result *res);

/* The discover argument callers pass: Debian's defaults are read only
 * when [dnssec] names neither named_conf nor knot_conf (a configuration
 * that names one means that one alone). */
int kw_dnssec_discover(const kw_dnssec_params *p);

#endif
