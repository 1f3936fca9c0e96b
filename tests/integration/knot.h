/*
 * knot.h: Knot DNS (Debian's knotd 3.2) as a child of a test, on loopback.
 *
 * kn_primary_start() writes a configuration, zone files and a TSIG key
 * (made with keymgr) under a directory of the caller's, runs
 * `knotd -c CONF` in the foreground and waits until it answers SOA for
 * every zone (polled, never slept).  Each zone has NS ns1.ZONE -> the
 * primary's address and, when a secondary is planned, NS ns2.ZONE -> its
 * address; an acl lets the TSIG key update the zones.
 * kn_secondary_start() runs a second knotd that transfers every zone from
 * the primary (AXFR/IXFR signed with a second TSIG key, "xfr") and is
 * notified of changes (NOTIFY signed with that key too).
 *
 * To make a secondary lag: kn_knotc(secondary, "zone-freeze") holds its
 * zone events (transfers included), kn_knotc(..., "zone-thaw") lets it
 * catch up; or kn_stop() it.  kn_update() sends RFC 2136 updates to the
 * primary with knsupdate and the update key.  kn_fake_start() runs a
 * "server" that reads queries and never answers, or answers garbage.
 * kn_resolver_start() puts unbound in front, as receivers see the zones.
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

/* Zones one primary serves (the first is kn_opts.zone). */
#define KN_ZONES_MAX 8

/* A further zone: its name and more zone file lines (origin = name). */
typedef struct kn_zone {
    const char *name;
    const char *records;
} kn_zone;

typedef struct kn_opts {
    const char *zone;      /* NULL: "example.com" */
    const char *addr;      /* listen address; NULL: "127.0.0.1" */
    int port;              /* 0: a port free for UDP and TCP */
    const char *key_name;  /* NULL: "kw-test-key" */
    const char *key_alg;   /* NULL: "hmac-sha256" (keymgr -t NAME ALG) */
    const char *ns2_addr;  /* NULL: no secondary; else NS ns2 -> this
                            * address, which may transfer the zone and is
                            * notified, at the primary's port */
    const char *ns2_addr6; /* with ns2_addr: an IPv6 address (e.g. "::1")
                            * the secondary listens on as well, published
                            * as AAAA of ns2 */
    const char *records;   /* more zone file lines (origin = zone), or NULL */
    const kn_zone *more;   /* further zones, laid out as the first one */
    int nmore;             /* how many (at most KN_ZONES_MAX - 1) */
    const kn_zone *bulk;   /* many more zones (a benchmark's thousand),
                            * laid out likewise but not copied into
                            * knot.zones: the caller keeps the array alive
                            * while the servers run, since the secondary
                            * and the resolver configure them too */
    int nbulk;
    int neg_ttl;           /* > 0: the SOA's TTL and MINIMUM (the negative
                            * TTL, RFC 2308); 0: 60 */
    int sign;              /* Knot signs every zone (dnssec-signing: on,
                            * its default policy: ECDSA P-256, KSK + ZSK) */
} kn_opts;

typedef struct knot {
    pid_t pid;
    char addr[64];
    int port;
    char zone[254];
    char key_name[64];     /* the TSIG key the zone's update acl allows */
    char key_alg[32];
    char key_secret[128];  /* base64 */
    char xfr_secret[128];  /* key "kw-xfr" for transfers and NOTIFY, when a
                            * secondary is planned (same algorithm) */
    char zones[KN_ZONES_MAX][254]; /* zones[0] == zone */
    int nzones;
    const kn_zone *bulk;   /* kn_opts.bulk, borrowed */
    int nbulk;
    char ns2_addr6[64];    /* kn_opts.ns2_addr6, for the secondary */
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

/* The usual pair: a primary for example.com on 127.0.0.1 in dir/primary
 * (default options, NS ns2 -> 127.0.0.2) and its secondary on 127.0.0.2
 * in dir/secondary.  0 or -1, as the two calls above. */
int kn_pair_start(const char *dir, knot *primary, knot *secondary);

/* SIGTERM, then SIGKILL after 5 s; reaps.  Safe to call twice. */
void kn_stop(knot *k);

/* The zone's SOA serial as served by addr@port (one UDP query, waits at
 * most timeout_ms).  0, or -1 (no answer, or not an authoritative
 * NOERROR with a SOA). */
int kn_soa_serial(const char *addr, int port, const char *zone,
                  int timeout_ms, uint32_t *serial);

/* One UDP query for name/qtype (rd: set RD) to addr@port: the reply
 * with the query's ID into r (cap octets), its length in *rlen.  0, or
 * -1 (no reply in timeout_ms, nothing listening, a bad name). */
int kn_ask(const char *addr, int port, const char *name, int qtype, int rd,
           int timeout_ms, uint8_t *r, size_t cap, size_t *rlen);

/* Wait up to timeout_ms until addr@port serves zone with serial >= min.
 * 0 or -1. */
int kn_wait_serial(const char *addr, int port, const char *zone,
                   uint32_t min, int timeout_ms);

/* A port free for UDP and TCP on addr. */
int kn_free_port(const char *addr);

/* knotc -c CONF -t 10 CMD [ZONE] against k (ZONE NULL: every zone), e.g.
 * "zone-freeze", "zone-thaw", "zone-refresh".  Returns knotc's exit code
 * (0 is success), -1 when it could not run; prints its output on
 * failure. */
int kn_knotc(const knot *k, const char *cmd, const char *zone);

/* Sends an RFC 2136 update to the primary k for zone (NULL: k->zone) with
 * knsupdate, signed with k's update key: lines are knsupdate commands
 * ("update add NAME TTL TXT \"v=DKIM1; ...\"\n"...), to which "server",
 * "zone" and "send" are added.  0, or -1 with knsupdate's words on
 * stderr. */
int kn_update(const knot *k, const char *zone, const char *lines);

/* Starts unbound as a recursive resolver on primary's address (a free
 * port) that sends every zone of primary to it (unbound's stub-zone
 * directive; iterator only, answers cached for at most 1 s), in
 * dir/NAME/, and waits until it resolves the first zone's SOA.  u->addr/port say where it listens;
 * stop it with kn_stop.  0 or -1. */
int kn_resolver_start(const char *dir, const char *name,
                      const knot *primary, knot *u);

/* A fake DNS server on addr@port (UDP), a child process stopped by PID. */
typedef enum kn_fake_mode {
    KN_FAKE_SILENT,   /* reads every query, never answers */
    KN_FAKE_GARBAGE   /* answers with the query's ID and question, then
                       * a record that is cut short: not a DNS message */,
    KN_FAKE_LAME      /* answers NOERROR without authority (AA=0) and no
                       * records: a server that does not serve the zone
                       * it is named for */
} kn_fake_mode;

typedef struct kn_fake {
    pid_t pid;
    char addr[64];
    int port;
} kn_fake;

/* Binds before it returns, so the server is there when the call ends.
 * 0 or -1. */
int kn_fake_start(const char *addr, int port, kn_fake_mode mode,
                  kn_fake *f);
void kn_fake_stop(kn_fake *f);

#endif
