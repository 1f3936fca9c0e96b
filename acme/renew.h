/*
 * renew.h: one managed certificate's renewal, from "is it due?" to the new
 * version live on disk and recorded.
 *
 *   pool:  is it due? (kw_renew_decide, acme/renew_due.h)
 *   loop:  the CA's renewal information when the decision needs it, and
 *          the HTTP-01 pre-check, which can veto the order
 *   pool:  key (the pending one after a crash, the live one with
 *          reuse_key, else fresh), CSR, account key, attempt row
 *   loop:  the ACME order (acme_client), http-01 by the built-in
 *          responder or by token files in a webroot
 *   pool:  deploy the version atomically (ks_deploy), record it with its
 *          cert.renewed event (ks_managed), scan live/ into the inventory
 *
 * It runs on parameters of its own, never on the configuration's types:
 * kw_acme_params (what every run shares, held by kw_acme_env) and
 * kw_renew_params (one certificate), which service/config.c fills.
 * Every callback of the lifecycle runs once, on the loop, after the
 * call that started the work returned 0; its result is borrowed for the
 * callback's duration.
 *
 * Blocking work (key generation, fsync, SQLite) never runs on the loop.
 * Nothing on a failure touches live/.  The order URL is saved as soon as
 * the CA gives it and the key waits in pending/NAME/, so a renewal killed
 * half-way resumes the same order with the same key.
 */
#ifndef KW_RENEW_H
#define KW_RENEW_H

#include "dns01.h"
#include "responder.h"

#include "../acme/acme_http.h"
#include "../acme/renew_due.h" /* the timing rules the callers share */
#include "../dane/dane_roll.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <uv.h>

/*
 * The lifecycle's parameters.  It never reads the configuration's types:
 * service/config.c translates [acme] into kw_acme_params
 * (kw_config_acme_params) and a [certificate] into kw_renew_params
 * (kw_config_renew_params), defaults applied.  The strings are borrowed
 * from whoever filled the struct; every start copies what it keeps, so
 * they need to live only until the next kw_acme_env_set_params or
 * kw_acme_env_close.
 */

/* What every renewal, revocation and pre-check of one process shares
 * ([acme]). */
typedef struct kw_acme_params {
    const char *directory;     /* the CA's directory URL */
    const char *ca_file;       /* CAs the HTTP client trusts; NULL: the
                                  system's */
    const char *contact;       /* mailto: URL for the account, or NULL */
    const char *account_key;   /* key type word; NULL: ec256 */
    const char *http01_listen; /* the built-in responder's address */
    const char *eab_kid;       /* External Account Binding, or NULL */
    const char *eab_hmac_key;  /* base64url, as CAs hand it out */
    /* The HTTP-01 pre-check does what the CA's validator does: */
    const char *resolver;      /* NULL: /etc/resolv.conf's */
    int validation_http_port, validation_https_port;
    int validation_allow_private;
    char certs_dir[PATH_MAX];  /* where archive/ and live/ are */
} kw_acme_params;

/* What the pre-check of a renewal may do to its order. */
typedef enum kw_renew_precheck {
    KW_RENEW_PRECHECK_ENFORCE = 0, /* no order when the CA would fail */
    KW_RENEW_PRECHECK_WARN,        /* say so, order all the same */
    KW_RENEW_PRECHECK_OFF,
} kw_renew_precheck;

/* One managed certificate ([certificate "NAME"]). */
typedef struct kw_renew_params {
    const char *name;
    const char *const *names;   /* DNS names or IP addresses */
    size_t nnames;
    const char *directory;      /* the CA's directory URL; NULL: the
                                   kw_acme_params' */
    int use_webroot;            /* http-01 by files in webroot, else by
                                   the built-in responder */
    const char *webroot;
    const char *key_type;       /* "ec256" ...; NULL: ec256 */
    int reuse_key;
    const char *profile;        /* NULL: the CA's default */
    int keep;                   /* versions kept in archive/ */
    const char *key_group;      /* NULL: 0600, owner only */
    const char *key_owner;      /* NULL: the process's user */
    const char *preferred_chain; /* issuer CN of the chain to prefer */
    int dns01;                  /* dns-01 instead of http-01, by dns */
    kw_dns01_conf dns;          /* borrowed strings here, see dns01.h */
    kw_renew_precheck precheck;
    /* dane = U S M (dane/dane_roll.h): the key is the next key announced
     * in TLSA at _PORT._tcp.HOST (dane_hosts; none: the first name),
     * through the zone's update settings in dns, and the renewal waits
     * until its record was seen long enough (dane_release: not). */
    int dane;
    int dane_usage, dane_selector, dane_mtype, dane_port, dane_ttl;
    int dane_release;
    const char *const *dane_hosts;
    size_t ndane_hosts;
} kw_renew_params;

/* What every renewal of one process shares. */
typedef struct kw_acme_env {
    uv_loop_t *loop;
    kw_acme_params params;    /* a copy; its strings borrowed */
    const char *state_dir;
    const char *db_path;
    acme_http *http;          /* created by kw_acme_env_init */
    kw_responder *responder;  /* started on first use */
    uv_mutex_t account_lock;  /* account key creation */
    int64_t now;              /* 0: the clock; tests pin it */
    int in_flight;
} kw_acme_env;

int kw_acme_env_init(kw_acme_env *env, uv_loop_t *loop,
                     const kw_acme_params *p, const char *state_dir,
                     const char *db_path, kw_diag *d);
/* A reload: what starts from now on uses p (ca_file excepted: the HTTP
 * client keeps the one it started with); work in flight keeps its
 * copies. */
void kw_acme_env_set_params(kw_acme_env *env, const kw_acme_params *p);
/* Stops the responder and the HTTP client; the loop must run on to close
 * their handles. */
void kw_acme_env_close(kw_acme_env *env);

/* Validity and SHA-256 fingerprint of the first certificate in a PEM
 * file. */
int kw_cert_file_facts(const char *path, int64_t *nb, int64_t *na,
                       char fp[65], kw_diag *d);

typedef enum kw_renew_outcome {
    KW_RENEW_ISSUED,   /* a new version is live */
    KW_RENEW_NOT_DUE,  /* the live version is good until next_at */
    KW_RENEW_FAILED,   /* nothing changed on disk; retry at next_at (0:
                          not by itself: a permanent error) */
    KW_RENEW_CANCELLED,
    KW_RENEW_HELD,     /* due, but held back by its DANE rollover (not a
                          failure: no backoff counted against the CA);
                          msg says what the rollover waits for, next_at
                          when it can move on */
} kw_renew_outcome;

typedef struct kw_renew_result {
    const char *name;
    kw_renew_outcome outcome;
    int version;            /* live version after the run */
    int64_t not_after;      /* of the live certificate */
    int64_t next_at;        /* when to look again */
    char problem[128];
    char msg[2048];
    /* A failure whose retry time could not be written (a full or
     * read-only state directory): why, else empty.  next_at is then a
     * wish, not a schedule, and must not be shown as one. */
    char unsaved[512];
    int requests, bad_nonces;
    int held_stopped;       /* KW_RENEW_HELD by a stopped rollover (its
                               health warning or worse), not a wait */
} kw_renew_result;

typedef void (*kw_renew_cb)(void *ctx, const kw_renew_result *r);

typedef struct kw_renew kw_renew;

/* Starts the renewal of c (force: even when not due, and despite a
 * failure's backoff); c is copied.  cb runs once, on the loop. */
int kw_renew_start(kw_acme_env *env, const kw_renew_params *c, int force,
                   kw_renew_cb cb, void *ctx, kw_renew **out, kw_diag *d);

/* Stops it at the next step; cb runs with KW_RENEW_CANCELLED and the
 * order stays saved for the next run. */
void kw_renew_cancel(kw_renew *r);

/* A dane = certificate's rollover as the renewal's gate, the daemon's
 * dane-roll job and `keywarden dane step` drive it: its parameters
 * (next key CERTS/dane/NAME.next-key.pem, live key CERTS/live/NAME/
 * privkey.pem, the live certificate's expiry), where its DNS goes (the
 * certificate's dns-01 update settings) and where its probe connects
 * (at, borrowed: [endpoint]s naming a dane host; probe 0: no probe).
 * Everything points into x or c: keep both alive and x unmoved while
 * it is used.  Makes CERTS/dane (0700).  0 or KW_E* with d. */
typedef struct kw_renew_dane {
    kw_dane_roll_params p;
    kw_dane_roll_net net;
    kw_dane_roll_dns dns;
    char next[PATH_MAX + 512], live[PATH_MAX + 512];
    const char *check[17];
    const char *first[1];
} kw_renew_dane;

int kw_renew_dane_init(kw_renew_dane *x, const kw_renew_params *c,
                       const char *certs_dir, int probe,
                       const kw_dane_probe_at *at, size_t nat, kw_diag *d);

/* The account key for the CA directory dir: STATE/acme/account-HASH.pem
 * (its path in path), created (0600, of type: ec256 when NULL) when
 * missing and create is set.  Blocking: call it on the pool. */
int kw_account_key(kw_acme_env *env, const char *dir, const char *type,
                   int create, EVP_PKEY **out, char *path, size_t cap,
                   kw_diag *d);

#endif
