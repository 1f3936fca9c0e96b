/*
 * dane_bed.h: the DANE key-rollover test bed the integration tests share
 * (test_acme.c's dane_rollover, test_dane_rollover.c, the end-to-end
 * test with a DANE-validating sender).
 *
 * It owns a Knot primary on 127.0.0.1 serving one zone (signed when
 * asked) with an update acl for a TSIG key, optionally a secondary on
 * 127.0.0.2 at the same port (both named in the zone's NS set), and a
 * Pebble whose validator asks that primary, so dns-01 proves control
 * through the same RFC 2136 updates the rollover uses.  Pebble's own
 * HTTPS certificate is made in the bed's directory.  Nothing else is
 * started: Postfix, unbound or the keywarden daemon are the test's.
 *
 * Lifetime: dane_bed_start fills a dane_bed the caller owns and keeps
 * until dane_bed_stop, which stops what was started by PID (Knot with
 * kn_stop, Pebble with pb_stop); every child also dies with the test
 * process.  dane_bed_cert and dane_bed_conf only write text;
 * dane_bed_key_tlsa reads a key file.  All
 * functions BLOCK (process start-up is polled, never slept) and return
 * 0 or -1 with why on stderr, so a test asserts on them.
 */
#ifndef KW_TEST_DANE_BED_H
#define KW_TEST_DANE_BED_H

#include <stddef.h>

#include "dns/dns_update.h"
#include "knot.h"
#include "pebble.h"

typedef struct dane_bed_opts {
    const char *zone;     /* NULL: "example.com" */
    const char *records;  /* more zone lines (origin = zone), or NULL */
    int secondary;        /* a secondary on 127.0.0.2 */
    int sign;             /* Knot signs the zone (its default policy) */
    int neg_ttl;          /* the zone's negative TTL; 0: 60 */
} dane_bed_opts;

typedef struct dane_bed {
    char dir[512];
    knot prim, sec;       /* sec.pid 0: no secondary */
    int port;             /* both knotds' port */
    pb_pki pki;           /* Pebble's HTTPS listener's CA and leaf */
    pebble peb;
    kw_dns_server servers[2]; /* the authoritative servers, for
                               * kw_dns_tlsa_look / _wait */
    size_t nservers;
} dane_bed;

/* Starts the bed in dir (made if missing): Knot (and its secondary),
 * then Pebble.  0, or -1 (what started is stopped again). */
int dane_bed_start(const char *dir, const dane_bed_opts *o, dane_bed *b);

/* Stops Pebble and both knotds.  Safe to call twice. */
void dane_bed_stop(dane_bed *b);

/* Into buf: a [certificate "name"] section for host (its one name, and
 * its dane_hosts) with challenge = dns-01 through the primary (the
 * bed's TSIG key, dns_check naming every server of the bed), dane =
 * 3 1 1 with dane_ttl = ttl, and extra (whole lines, may be NULL)
 * appended.  0, or -1 when cap is too small. */
int dane_bed_cert(const dane_bed *b, const char *name, const char *host,
                  int ttl, const char *extra, char *buf, size_t cap);

/* Writes the configuration file path: [acme] for the bed's Pebble
 * (directory, ca_file, contact), then text (the [daemon] section, the
 * certificates, endpoints, hooks: whole sections).  0 or -1. */
int dane_bed_conf(const dane_bed *b, const char *path, const char *text);

/* The TLSA 3 1 1 record of the key in the PEM file path into buf (160
 * octets): what the rollover announces for it.  0 or -1. */
int dane_bed_key_tlsa(const char *path, char *buf);

#endif
