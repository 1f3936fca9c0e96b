/*
 * dane_roll.h: DANE key rollover, one cycle ahead of the renewal.
 *
 * A [certificate "NAME"] with dane = 3 1 x renews onto a key announced in
 * DNS before it is served: a *next* key is written 0600 beside the live
 * one (never into the database), its TLSA record published at
 * _PORT._tcp.HOST for each dane_hosts name beside the current key's,
 * seen on every authoritative server, and left for 2 x the TLSA TTL + the
 * zone's negative TTL; only then may the renewal that uses it deploy
 * (kw_dane_roll_may_deploy).  Once the renewal deployed it, the probe
 * (kw_dane_roll_dns.served: every address of every dane host, STARTTLS)
 * must see it served; after a hold of one TTL a second probe must see it
 * still, and only then is the old key's record removed and the next
 * cycle started (a new next key announced), so every renewal changes the
 * key and every deployed key was announced.  The stages and invariants
 * are written above the state machine in dane_roll.c; each stage and its
 * journal row are written in one transaction (keystore/ks_dane_roll.h),
 * the intent before the effect, so a run killed at any point resumes
 * without a second key or a second publication.
 *
 * Several runners advance one rollover: the daemon's dane-roll job, the
 * renewal's gate, `keywarden dane step` and `release`.  Each writer holds
 * an exclusive lock (flock) on NEXT_KEY_PATH.lock for its read-modify-
 * write, so a row is never written over by a runner that read an older
 * one; a runner that finds the lock held does nothing and says when to
 * look again.  kw_dane_roll_may_deploy only reads.
 *
 * Only usage 3 (DANE-EE) with selector 1 (SubjectPublicKeyInfo) can name
 * a key before its certificate exists; kw_dane_roll_params_check refuses
 * the rest.  Lifetimes: kw_dane_roll_params borrows its strings from the
 * caller for the call.  The DNS and the probe go through kw_dane_roll_dns
 * (tests pass fakes and a pinned clock).  Every function BLOCKS (key
 * generation, the database, DNS and probes bounded by timeout_ms): the
 * daemon runs it on the pool.
 *
 * Test seam: KEYWARDEN_TEST_DIE_AT = "dane-key-written", "dane-update-sent"
 * or "dane-removal-sent" stops the process with SIGKILL right after that
 * effect and before its stage is written, as kill -9 would.
 */
#ifndef KW_DANE_ROLL_H
#define KW_DANE_ROLL_H

#include "../common/kw_err.h"
#include "../keystore/ks_dane_roll.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* One [certificate "NAME"] with dane =. */
typedef struct kw_dane_roll_params {
    const char *cert;
    const char *const *hosts;  /* dane_hosts: the SMTP host names */
    size_t nhosts;
    int port;                  /* dane_port; 25 */
    int usage, selector, mtype; /* dane = 3 1 1 */
    int ttl;                   /* the TLSA records' TTL; 3600 */
    const char *key_type;      /* the certificate's; NULL: ec256 */
    const char *next_key_path; /* where the next key is written */
    const char *live_key_path; /* the live key (its record is announced
                                * beside the next one); NULL: none yet */
    int64_t not_after;         /* of the live certificate; 0 unknown */
    int64_t critical_before;   /* a held-back renewal turns critical this
                                * long before not_after; 0: 7 days */
    int release;               /* dane_release = yes: deploy without the
                                * announcement (the operator's override) */
    int timeout_ms;            /* each DNS exchange or wait; 0: 10 s */
} kw_dane_roll_params;

/* The DNS side.  Each returns 0 or KW_E* with d. */
typedef struct kw_dane_roll_dns {
    /* Add (add=1) or remove (add=0) the TLSA record rdata ("3 1 1 HEX")
     * at owner.  Adding what is there, removing what is not: no change. */
    int (*update)(void *ctx, int add, const char *owner, const char *rdata,
                  int ttl, kw_diag *d);
    /* 0 when every authoritative server serves rdata at owner (present 1)
     * or does not (present 0); KW_ETIMEDOUT naming those that do not. */
    int (*visible)(void *ctx, const char *owner, const char *rdata,
                   int present, kw_diag *d);
    /* The zone's negative-caching time for owner. */
    int (*negative_ttl)(void *ctx, const char *owner, int64_t *ttl,
                        kw_diag *d);
    /* The probe: 0 when every address of host serves at port a leaf
     * whose key has the record rdata; KW_ENOTFOUND naming the address
     * that serves another key or none.  NULL: this runner cannot probe
     * (the renewal's gate), so a deployed key waits for one that can. */
    int (*served)(void *ctx, const char *host, int port, const char *rdata,
                  kw_diag *d);
    void *ctx;
} kw_dane_roll_dns;

/* Where the probe connects for one dane host: an [endpoint] that names
 * it (by sni, or by host) gives its address and port, as `check` probes
 * that endpoint.  Borrowed. */
typedef struct kw_dane_probe_at {
    const char *host;     /* the dane_hosts name */
    const char *connect;  /* an address, or NULL: host's own */
    int port;             /* 0: dane_port */
    int starttls;         /* enum kw_starttls; -1: by the port */
} kw_dane_probe_at;

/* Where the real DNS side publishes: the zone's update settings, the
 * keys dns-01 uses (dns_server, dns_zone, tsig_*, dns_check).  Borrowed. */
typedef struct kw_dane_roll_net {
    const char *server;          /* the primary, "ADDR[:PORT]" */
    const char *zone;            /* NULL: found by SOA queries */
    const char *tsig_key, *tsig_alg, *tsig_secret; /* tsig_key NULL: none */
    const char *const *check;    /* dns_check: the servers to wait on
                                  * (NULL-terminated); NULL: the zone's
                                  * NS set */
    int port;                    /* the authoritative servers' port; 0: 53 */
    int timeout_ms;              /* each exchange or wait; 0: 10 s */
    int probe;                   /* 0: dns->served stays NULL */
    const kw_dane_probe_at *at;  /* where the probe connects, per host */
    size_t nat;
} kw_dane_roll_net;

/* dns: RFC 2136 updates with TSIG to net->server, visibility on every
 * authoritative server of the zone (dns/dns_auth.h) and dns_check, the
 * zone's negative TTL from its SOA, and (net->probe) the probe through
 * dane/dane_check.h's kw_dane_served.  net must outlive dns. */
void kw_dane_roll_dns_real(kw_dane_roll_dns *dns,
                           const kw_dane_roll_net *net);

typedef enum kw_dane_stage {
    KW_DANE_ST_NONE = 0,
    KW_DANE_ST_GENERATING, /* intent: the next key file is being written */
    KW_DANE_ST_GENERATED,
    KW_DANE_ST_PUBLISHING, /* intent: the TLSA adds are being sent */
    KW_DANE_ST_PUBLISHED,
    KW_DANE_ST_VISIBLE,    /* served everywhere; the wait runs */
    KW_DANE_ST_READY,      /* the renewal may deploy the next key */
    KW_DANE_ST_DEPLOYED,   /* the next key is served (probe proven) */
    KW_DANE_ST_REMOVING,   /* intent: the old record's removal is sent */
    KW_DANE_ST_DONE,
} kw_dane_stage;

const char *kw_dane_stage_name(kw_dane_stage st);
/* KW_DANE_ST_NONE for an unknown word. */
kw_dane_stage kw_dane_stage_parse(const char *s);

/* 0, or KW_EINVAL saying which setting cannot work and why. */
int kw_dane_roll_params_check(const kw_dane_roll_params *p, kw_diag *d);

/* The record p announces for key ("3 1 1 HEX") in buf (160 octets). */
int kw_dane_key_tlsa(EVP_PKEY *key, int usage, int selector, int mtype,
                     char *buf, size_t cap, kw_diag *d);

typedef struct kw_dane_roll_out {
    ks_dane_roll roll;    /* the rollover as it stands after the call */
    int found;            /* 0: none (params cannot start one) */
    int64_t next_step;    /* when to run again; 0 not before the renewal */
} kw_dane_roll_out;

/* Advances cert's rollover as far as it can at now: a new next key when
 * none runs, its records sent, their visibility, the wait; once the
 * renewal deployed the next key (the live key file holds it) the probe,
 * the hold, the second probe, the old record's removal and the next
 * cycle's start.  A failed step stays where it was, with why in stopped,
 * and is retried after a backoff (DNS: 15 min, doubling, at most 6 h;
 * the probe: 1 min, doubling, at most 1 h); it returns 0 then (the
 * failure is the rollover's state), KW_E* only when the database or the
 * key file cannot be written.  Another runner holding the lock: 0, with
 * the row as it stands and next_step a minute on. */
int kw_dane_roll_step(ks_store *s, const kw_dane_roll_params *p,
                      const kw_dane_roll_dns *dns, int64_t now,
                      kw_dane_roll_out *out, kw_diag *d);

/* May the renewal deploy now?  1 with the next key's path in key_path
 * (the renewal uses that key, as reuse_key uses the live one): the
 * rollover is READY, or released by the operator (logged as a warning
 * naming what is skipped).  0 with why in d: the renewal is held back,
 * the old certificate stays.  KW_E* for a database failure, or when the
 * next key's file no longer holds the key whose record was announced
 * (KW_EINVAL naming the file). */
int kw_dane_roll_may_deploy(ks_store *s, const kw_dane_roll_params *p,
                            int64_t now, char *key_path, size_t cap,
                            kw_diag *d);

/* The renewal deployed key_path and the caller's probe saw it served:
 * READY (or a released stage) -> DEPLOYED, the hold of one TTL starting
 * now.  KW_EINVAL when key_path is not the rollover's next key or the
 * stage cannot move there; KW_EBUSY when another runner holds the
 * lock. */
int kw_dane_roll_deployed(ks_store *s, const kw_dane_roll_params *p,
                          const char *key_path, int64_t now, kw_diag *d);

/* `keywarden dane release NAME`: the running rollover may deploy without
 * its announcement.  KW_ENOTFOUND when none runs. */
int kw_dane_roll_release(ks_store *s, const char *cert, int64_t now,
                         kw_diag *d);

typedef struct kw_dane_roll_health {
    int health;          /* KS_HEALTH_* */
    char reason[600];    /* what it waits for or why it stopped, or "" */
} kw_dane_roll_health;

/* Pure.  Warning while a renewal would be held back by a stopped
 * rollover, or a deployed key is not served (the reload did not happen:
 * the old record stays); critical when a held-back renewal lasts into
 * critical_before of not_after. */
void kw_dane_roll_health_of(const ks_dane_roll *r, int found,
                            const kw_dane_roll_params *p, int64_t now,
                            kw_dane_roll_health *h);

#endif
