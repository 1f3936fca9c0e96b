/*
 * knot.h: Knot DNS (Debian's knotd 3.2) as a child of a test, on loopback.
 *
 * kn_primary_start() writes a configuration, a zone file and a TSIG key
 * (made with keymgr) under a directory of the caller's, runs
 * `knotd -c CONF` in the foreground and waits until it answers SOA for the
 * zone (polled, never slept).  The zone has NS ns1.ZONE -> the primary's
 * address and, when a secondary is planned, NS ns2.ZONE -> its address;
 * an acl lets the TSIG key update the zone.  kn_secondary_start() runs a
 * second knotd that transfers the zone from the primary and is notified
 * of changes.
 *
 * NS records carry no port: tests give every knotd the same port on a
 * different loopback address (127.0.0.1, 127.0.0.2...) and pass that port
 * to kw_dns_zone_servers().
 *
 * Children die with the test (PR_SET_PDEATHSIG) and are stopped by PID
 * (kn_stop).  Needs no root (Knot runs as the caller when the config
 * names no user).
 */
#ifndef KW_TEST_KNOT_H
#define KW_TEST_KNOT_H

#include <stdint.h>
#include <sys/types.h>

#define KN_PATH 512

typedef struct kn_opts {
    const char *zone;      /* NULL: "example.com" */
    const char *addr;      /* listen address; NULL: "127.0.0.1" */
    int port;              /* 0: a port free for UDP and TCP */
    const char *key_name;  /* NULL: "kw-test-key" */
    const char *key_alg;   /* NULL: "hmac-sha256" (keymgr -t NAME ALG) */
    const char *ns2_addr;  /* NULL: no secondary; else NS ns2 -> this
                            * address, which may transfer the zone and is
                            * notified, at the primary's port */
    const char *records;   /* more zone file lines (origin = zone), or NULL */
} kn_opts;

typedef struct knot {
    pid_t pid;
    char addr[64];
    int port;
    char zone[254];
    char key_name[64];     /* the TSIG key the zone's update acl allows */
    char key_alg[32];
    char key_secret[128];  /* base64 */
    char dir[KN_PATH];     /* config, zone files, db, rundir, log */
    char conf[KN_PATH + 16];
    char log[KN_PATH + 16];
} knot;

/* Starts the primary in dir/NAME/ (made here).  Returns 0, or -1 with
 * why on stderr (the log is then printed too). */
int kn_primary_start(const char *dir, const char *name, const kn_opts *o,
                     knot *k);

/* Starts a secondary for primary's zone on addr at primary's port, in
 * dir/NAME/, and waits until it serves the primary's serial. */
int kn_secondary_start(const char *dir, const char *name,
                       const knot *primary, const char *addr, knot *k);

/* SIGTERM, then SIGKILL after 5 s; reaps.  Safe to call twice. */
void kn_stop(knot *k);

/* The zone's SOA serial as served by addr@port (one UDP query, waits at
 * most timeout_ms).  0, or -1 (no answer, or not an authoritative
 * NOERROR with a SOA). */
int kn_soa_serial(const char *addr, int port, const char *zone,
                  int timeout_ms, uint32_t *serial);

/* Wait up to timeout_ms until addr@port serves zone with serial >= min.
 * 0 or -1. */
int kn_wait_serial(const char *addr, int port, const char *zone,
                   uint32_t min, int timeout_ms);

/* A port free for UDP and TCP on addr. */
int kn_free_port(const char *addr);

#endif
