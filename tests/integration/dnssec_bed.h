/*
 * dnssec_bed.h: the DNSSEC test bed the integration tests share
 * (test_dnssec_live.c, test_dnssec_rollover.c): a temporary directory,
 * a Knot primary on 127.0.0.1 (and a secondary on 127.0.0.2) on one free
 * port, each test writing its own knot.conf from bed_prologue; a
 * parent zone test. whose DS records bed_set_ds replaces through knotc's
 * zone transactions; and unbound, validating with test.'s KSK as its
 * only trust anchor, as the judge of what a resolver does
 * (bed_ub_verdict).  Servers are started with proc_spawn_log and waited
 * for, stopped by bed_stop by PID.  Everything asserts (cmocka): a bed
 * that cannot be built fails the test that builds it.
 */
#ifndef DNSSEC_BED_H
#define DNSSEC_BED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "knot.h"

#define KNOTD "/usr/sbin/knotd"
#define KNOTC "/usr/sbin/knotc"
#define KEYMGR "/usr/sbin/keymgr"
#define UNBOUND "/usr/sbin/unbound"
#define UNBOUND_CONTROL "/usr/sbin/unbound-control"

typedef struct dnssec_bed {
    char dir[512];
    knot prim, sec, ub;
    int port, ctl_port;
    char pconf[600], sconf[600], uconf[600];
    int quiet;   /* bed_run(): no complaint on failure (polling) */
    /* Set after bed_init, before bed_start_unbound, by a test whose chain
     * of trust starts elsewhere: the one zone unbound trusts (its KSK from
     * the primary at bed.port, "www.ZONE" asked to see it up, flushed by
     * bed_ub_flush; NULL: "test.") and the port unbound listens on (53
     * in a network namespace of the test's own; 0: a free one). */
    const char *ub_zone;
    int ub_port;
    /* Zones below it that unbound must always ask the primary for,
     * space-separated with their final dots (NULL: none): a delegation
     * whose NS is 127.0.0.1, once cached, sends unbound to port 53,
     * where nothing listens, and the test's questions go unanswered. */
    const char *ub_stubs;
} dnssec_bed;

extern dnssec_bed bed;

/* The directory (zones/, db/, sec/, sec/db/ in it) and the ports; -1
 * when knotd or unbound is not installed. */
int bed_init(const char *name);
/* Stops unbound and both knotds (those started), removes the directory
 * unless KW_KEEP_TMP is set. */
void bed_stop(void);

void bed_put_text(const char *path, const char *text);
/* Runs argv; its stdout in *out (malloc'd, may be NULL).  Exit code. */
int bed_run(char *const argv[], char **out);
/* knotc -c conf -t 10 ARGS... (NULL-terminated).  Exit code. */
int bed_knotc(const char *conf, ...);
/* zones/NAME.zone: SOA, NS ns1 (127.0.0.1), www, and extra. */
void bed_zone_file(const char *name, const char *extra);
/* A knotd's server, log and database sections; its files in dir+sub. */
size_t bed_prologue(char *text, size_t cap, const char *sub,
                    const char *addr);
/* The primary's knot.conf at bed.pconf: bed_prologue, head (remote: and
 * acl: sections, or ""), the policies parent (a CSK) and child (KSK and
 * ZSK, TTLs of 10 s, propagation delay 1 s) and more_policies, the
 * template (zones/, journal, serial increment), the zones test. and
 * child.test. (with child_extra lines) and more_zones. */
void bed_primary_conf(const char *head, const char *more_policies,
                      const char *child_extra, const char *more_zones);
pid_t bed_start_daemon(char *const argv[], const char *log);
/* knotd -c conf (its output in dir/out) into k, serving zone at addr. */
void bed_start_knotd(knot *k, const char *conf, const char *out,
                     const char *addr, const char *zone);
/* proc_until predicates: k serves its zone; 127.0.0.1 serves a DNSKEY
 * set for the zone named by ctx. */
int bed_serves(void *ctx);
int bed_has_dnskey(void *ctx);
uint32_t bed_serial_of(const char *addr, const char *zone);
/* The SHA-256 DS of zone's KSK as keymgr prints it: "TAG ALG 2 HEX". */
void bed_ds_of(const char *zone, char *tag, char *alg, char *hex);
/* Replace owner's TYPE records in zone ("child.test.") with one record of
 * rdata (at most 7 fields, blank-separated), TTL 10, through knotc's
 * zone transaction, and wait for the serial. */
void bed_set_rr(const char *zone, const char *owner, const char *type,
                const char *rdata);
/* Replace owner's DS in test. with one record (and wait for the serial). */
void bed_set_ds(const char *owner, const char *tag, const char *alg,
                const char *hex);

/* The chain of trust the DANE tests stand on: the primary's knot.conf
 * (bed_primary_conf with more_zones) and knotd started, test. and
 * child.test. signed and waited for, child.test.'s DS at the parent. */
void bed_start_chain(const char *more_zones);

/* bed_start_chain's more_zones for mail.test. (unsigned: insecure, no
 * DS in test.) and broken.test. (signed; bed_break_broken). */
#define BED_MAIL_BROKEN_ZONES                                        \
    "  - domain: mail.test.\n"                                       \
    "  - domain: broken.test.\n    dnssec-signing: on\n"             \
    "    dnssec-policy: child\n"

/* After bed_start_chain(BED_MAIL_BROKEN_ZONES): broken.test.'s DS in
 * test. names its key tag with a digest of zeros, so broken.test.
 * validates as bogus. */
void bed_break_broken(void);

/* unbound, validating, with test.'s KSK (bed.ub_zone's) as its only
 * trust anchor. */
void bed_start_unbound(void);
int bed_ub_up(void *ctx);
void bed_ub_flush(void);
/* unbound's verdict on name/type: 1 secure (AD), 0 SERVFAIL, -1 other;
 * its cache flushed first when flush is set.  bed_ub_ask: type A. */
int bed_ub_ask_type(const char *name, int type, int flush);
int bed_ub_ask(const char *name, int flush);
int bed_ub_verdict(const char *name);

#endif
