/*
 * renew.c: a managed certificate's renewal (see renew.h for the phases).
 *
 * One renewal is a state machine; each step runs on the pool (blocking:
 * SQLite, files, key generation) or on the loop (network), and its
 * completion, on the loop, picks the next state:
 *
 *   JUDGE     pool: live/NAME and the record read (a switch whose record a
 *             crash lost is recorded), then kw_renew_decide.
 *   ASK_CA    loop: the CA's renewal information (ARI) for the live
 *             certificate.
 *   REJUDGE   pool: the answer recorded, then kw_renew_decide again.
 *   PRECHECK  loop: will the CA reach every name over HTTP-01?  It can
 *             veto the order.
 *   KEY       pool: the key (the pending one of an interrupted order, the
 *             live one with reuse_key, else fresh), the CSR, the account
 *             key and the attempt row.
 *   ORDER     loop: the ACME order; its progress is written by small pool
 *             jobs (pending_writes).
 *   RECORD    pool: the new version deployed and recorded, or the failure
 *             and its retry time recorded.
 *   DONE      the callback ran; the renewal is freed.
 *
 * JUDGE -> ASK_CA | PRECHECK | KEY | DONE;  ASK_CA -> REJUDGE;
 * REJUDGE -> PRECHECK | KEY | DONE;  PRECHECK -> KEY | RECORD (veto);
 * KEY -> ORDER | DONE;  ORDER -> RECORD;  RECORD -> DONE.
 * DONE is reached from a step that settled the outcome (not due, backing
 * off, blocked, a failure already recorded) or from a cancellation seen
 * between steps.
 *
 * Invariants: one step is in flight at a time (progress writes aside,
 * which RECORD waits for); nothing is made for an order (key, CSR,
 * attempt row) before the pre-check has passed or been waived; live/
 * changes only in RECORD; the callback runs exactly once, on the loop,
 * never inside kw_renew_start.
 */
#include "renew.h"

#include "dns01.h"
#include "http01.h"
#include "precheck.h"

#include "../acme/acme_ari.h"
#include "../acme/acme_client.h"
#include "../acme/acme_jws.h"
#include "../acme/renew_due.h"
#include "../common/kw_fs.h"
#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"
#include "../dane/dane_roll.h"
#include "../keystore/ks_deploy.h"
#include "../keystore/ks_keygen.h"
#include "../keystore/ks_managed.h"
#include "../keystore/ks_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum renew_state {
    RS_JUDGE,
    RS_ASK_CA,
    RS_REJUDGE,
    RS_PRECHECK,
    RS_KEY,
    RS_ORDER,
    RS_RECORD,
    RS_DONE,
};

struct kw_renew {
    kw_acme_env *env;
    uv_work_t work;
    kw_renew_cb cb;
    void *ctx;
    int force;
    int cancelled;
    int64_t now;

    /* a copy of the certificate's parameters */
    char *name, *webroot, *key_type, *profile, *key_group, *directory;
    char *preferred_chain, *key_owner;
    /* and of the shared ones: a reload on the loop may replace them
     * while the pool works on this renewal */
    char *contact, *account_type, *http01_listen, *eab_kid;
    unsigned char *eab_key;
    size_t eab_key_len;
    char **names;
    size_t nnames;
    int use_webroot, reuse_key, keep;
    int dns01;
    kw_dns01_conf dns;
    kw_renew_precheck precheck;
    int dane, dane_usage, dane_selector, dane_mtype, dane_port, dane_ttl;
    int dane_release;
    char **dane_hosts;
    size_t ndane_hosts;

    char certs_dir[PATH_MAX];
    char pending_key[PATH_MAX + 512];
    char *resume_url;
    char *names_json;
    int live_version;
    kw_renew_live live; /* what kw_renew_decide is told of live/NAME */
    char *cert_id;      /* ARI identifier of the live certificate */
    int ari_offered;    /* the last ARI answer: the CA offers it */
    kw_renew_verdict verdict; /* JUDGE's and REJUDGE's */
    EVP_PKEY *key, *account_key;
    unsigned char *csr;
    size_t csr_len;
    int decided;        /* res holds the outcome: on to DONE */
    int attempt_made;   /* KEY wrote the attempt row */
    enum renew_state state;

    acme_order *order;
    acme_fail fail;
    char *fullchain;
    size_t fullchain_len;
    int64_t retry_after;
    int pending_writes; /* progress writes on the pool */

    kw_renew_result res;
};

static void set_state(kw_renew *r, enum renew_state st)
{
    static const char *const names[] = {"judge",  "ask-ca", "rejudge",
                                        "precheck", "key", "order",
                                        "record", "done"};

    kw_debug("certificate %s: renewal %s -> %s", r->name, names[r->state],
             names[st]);
    r->state = st;
}

/* ----- timing ------------------------------------------------------------ */

/* The random draws of renew_due.h's pure functions. */

static double jitter(void)
{
    return (double)(rand() % 1000) / 1000.0;
}

/* ----- the environment -------------------------------------------------- */

int kw_acme_env_init(kw_acme_env *env, uv_loop_t *loop,
                     const kw_acme_params *p, const char *state_dir,
                     const char *db_path, kw_diag *d)
{
    acme_http_opts o;

    memset(env, 0, sizeof(*env));
    memset(&o, 0, sizeof(o));
    env->loop = loop;
    env->params = *p;
    env->state_dir = state_dir;
    env->db_path = db_path;
    o.ca_file = p->ca_file;
    if (uv_mutex_init(&env->account_lock) != 0)
        return kw_diag_set(d, KW_ENOMEM, "cannot create a mutex");
    if (acme_http_new(loop, &o, &env->http, d) != 0) {
        uv_mutex_destroy(&env->account_lock);
        return KW_EIO;
    }
    return 0;
}

void kw_acme_env_close(kw_acme_env *env)
{
    if (env->http == NULL)
        return;
    kw_responder_stop(env->responder);
    env->responder = NULL;
    acme_http_free(env->http);
    env->http = NULL;
    uv_mutex_destroy(&env->account_lock);
}

void kw_acme_env_set_params(kw_acme_env *env, const kw_acme_params *p)
{
    env->params = *p;
}

static const char *directory_of(const kw_renew *r)
{
    return r->directory;
}

/* ----- helpers ---------------------------------------------------------- */

static void free_renew(kw_renew *r)
{
    size_t i;

    free(r->name);
    free(r->webroot);
    free(r->key_type);
    free(r->profile);
    free(r->key_group);
    free(r->directory);
    free(r->preferred_chain);
    free(r->key_owner);
    free(r->contact);
    free(r->account_type);
    free(r->http01_listen);
    free(r->eab_kid);
    if (r->eab_key != NULL) {
        OPENSSL_cleanse(r->eab_key, r->eab_key_len);
        free(r->eab_key);
    }
    for (i = 0; i < r->nnames; i++)
        free(r->names[i]);
    free(r->names);
    kw_dns01_conf_free(&r->dns);
    for (i = 0; i < r->ndane_hosts; i++)
        free(r->dane_hosts[i]);
    free(r->dane_hosts);
    free(r->resume_url);
    free(r->names_json);
    free(r->cert_id);
    EVP_PKEY_free(r->key);
    EVP_PKEY_free(r->account_key);
    free(r->csr);
    if (r->fullchain != NULL) {
        free(r->fullchain);
    }
    free(r);
}

static int64_t asn1_time(const ASN1_TIME *t)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return kw_time_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                              tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void fingerprint(X509 *x, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;

    out[0] = '\0';
    if (X509_digest(x, EVP_sha256(), md, &n) == 1 && n == 32)
        kw_hex(md, 32, 0, out);
}

int kw_cert_file_facts(const char *path, int64_t *nb, int64_t *na,
                       char fp[65], kw_diag *d)
{
    X509 *x = NULL;
    int rc = ks_cert_read(path, &x, d);

    if (rc != 0)
        return rc;
    *nb = asn1_time(X509_get0_notBefore(x));
    *na = asn1_time(X509_get0_notAfter(x));
    fingerprint(x, fp);
    X509_free(x);
    return 0;
}

int kw_account_key(kw_acme_env *env, const char *dir, const char *type,
                   int create, EVP_PKEY **out, char *path, size_t cap,
                   kw_diag *d)
{
    unsigned char md[32];
    char hex[65], adir[PATH_MAX];
    ks_key_type t = KS_KEY_EC256;
    int rc = 0;

    *out = NULL;
    if (EVP_Digest(dir, strlen(dir), md, NULL, EVP_sha256(), NULL) != 1)
        return kw_diag_set(d, KW_ECRYPTO, "SHA-256 failed");
    kw_hex(md, 6, 0, hex);
    snprintf(adir, sizeof(adir), "%s/acme", env->state_dir);
    if ((size_t)snprintf(path, cap, "%s/account-%s.pem", adir, hex) >= cap)
        return kw_diag_set(d, KW_EINVAL, "%s: path too long", adir);
    if (type != NULL)
        ks_key_type_parse(type, &t);
    uv_mutex_lock(&env->account_lock);
    if (access(path, F_OK) == 0) {
        *out = ks_key_read(path, d);
        if (*out == NULL)
            rc = KW_EIO;
    } else if (!create) {
        rc = kw_diag_set(d, KW_ENOENT,
                         "no account key for %s (%s): keywarden has no "
                         "account at this CA yet",
                         dir, path);
    } else if (kw_mkdir_p(adir, 0700) != 0) {
        rc = kw_diag_set(d, kw_errno(), "%s: cannot create: %s", adir,
                         kw_strerror(kw_errno()));
    } else {
        *out = ks_keygen(t, d);
        if (*out == NULL)
            rc = KW_ECRYPTO;
        else if ((rc = ks_key_write(path, *out, 0600, (gid_t)-1, d)) == 0)
            kw_notice("acme: new account key %s for %s", path, dir);
    }
    uv_mutex_unlock(&env->account_lock);
    return rc;
}

static char *names_json(kw_renew *r)
{
    json_t *a = json_array();
    char *s;
    size_t i;

    for (i = 0; i < r->nnames; i++)
        json_array_append_new(a, json_string(r->names[i]));
    s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* ----- phase 1: is it due, and the key, CSR and account (pool) ---------- */

static void decide(kw_renew *r, kw_renew_outcome o, int64_t next_at,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void decide(kw_renew *r, kw_renew_outcome o, int64_t next_at,
                   const char *fmt, ...)
{
    va_list ap;

    r->decided = 1;
    r->res.outcome = o;
    r->res.next_at = next_at;
    va_start(ap, fmt);
    vsnprintf(r->res.msg, sizeof(r->res.msg), fmt, ap);
    va_end(ap);
}

static int judge(kw_renew *r, ks_store *s, const ks_managed *rec,
                 kw_diag *d);

static int prepare(kw_renew *r, ks_store *s, kw_diag *d)
{
    ks_deploy_opts dop;
    ks_managed m;
    int have_row, rc;
    char path[PATH_MAX + 64];
    X509 *live = NULL;

    memset(&dop, 0, sizeof(dop));
    dop.root = r->certs_dir;
    dop.key_gid = (gid_t)-1;
    dop.owner = (uid_t)-1;
    rc = ks_managed_get(s, r->name, &m, d);
    if (rc != 0 && rc != KW_ENOTFOUND)
        return rc;
    have_row = rc == 0;
    if (!have_row)
        memset(&m, 0, sizeof(m));
    r->names_json = names_json(r);
    if (r->names_json == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    if (kw_mkdir_p(r->certs_dir, 0755) != 0)
        return kw_diag_set(d, kw_errno(), "%s: cannot create: %s",
                           r->certs_dir, kw_strerror(kw_errno()));
    if ((rc = ks_deploy_cleanup(&dop, r->name, d)) != 0)
        return rc;
    if ((rc = ks_deploy_current(&dop, r->name, &r->live_version, d)) != 0)
        return rc;
    r->res.version = r->live_version;

    /* What the live version is: its dates, its names, its ARI id. */
    if (r->live_version > 0) {
        size_t i, missing = r->nnames;
        int64_t nb, na;

        snprintf(path, sizeof(path), "%s/live/%s/cert.pem", r->certs_dir,
                 r->name);
        if ((rc = ks_cert_read(path, &live, d)) != 0)
            return rc;
        nb = asn1_time(X509_get0_notBefore(live));
        na = asn1_time(X509_get0_notAfter(live));
        for (i = 0; i < r->nnames; i++)
            if (ks_cert_covers(live, r->names[i]))
                missing--;
        r->cert_id = acme_ari_cert_id(live, NULL);
        /* live/ switched but the record of it was lost (a crash between
         * the rename and the commit): record it now, with its
         * cert.renewed event, so nothing downstream misses it. */
        if (!have_row || m.live_version != r->live_version) {
            char fp[65], vdir[PATH_MAX + 300];

            fingerprint(live, fp);
            snprintf(vdir, sizeof(vdir), "%s/archive/%s/%d", r->certs_dir,
                     r->name, r->live_version);
            kw_notice("certificate %s: version %d is live but was not "
                      "recorded (an interrupted run); recording it",
                      r->name, r->live_version);
            rc = ks_managed_renewed(s, r->name, r->live_version,
                                    have_row ? m.live_version : 0, nb, na,
                                    fp, vdir, kw_renew_due(nb, na), r->now,
                                    d);
            if (rc == 0)
                rc = ks_managed_get(s, r->name, &m, d);
            if (rc != 0) {
                X509_free(live);
                return rc;
            }
            have_row = 1;
        }
        X509_free(live);
        r->res.not_after = na;
        r->live.version = r->live_version;
        r->live.not_before = nb;
        r->live.not_after = na;
        r->live.covers_all = missing == 0;
        r->live.cert_id = r->cert_id;
    }
    return judge(r, s, have_row ? &m : NULL, d);
}

/* Does what kw_renew_decide says about the record rec (NULL: none): ask
 * the CA's renewal information, settle the run as not due, or go on to
 * the order. */
static int judge(kw_renew *r, ks_store *s, const ks_managed *rec,
                 kw_diag *d)
{
    kw_renew_decision dc;
    char when[32];
    int same = 1, rc;

    if (!r->force && rec != NULL && rec->failures > 0 &&
        (rc = ks_managed_same_names(s, r->name, r->names_json, &same, d)) !=
            0)
        return rc;
    kw_renew_decide(rec, &r->live, !same, r->force, r->now, &dc);
    r->verdict = dc.verdict;
    if (dc.ari_current)
        r->ari_offered = dc.ari_offered;
    switch (dc.verdict) {
    case KW_DUE_ASK_CA:
        return 0;
    case KW_DUE_NOT_YET:
        ks_managed_schedule(s, r->name, dc.due, r->now, NULL);
        kw_time_rfc3339(dc.renew_at, when, sizeof(when));
        decide(r, KW_RENEW_NOT_DUE, dc.next_at,
               "version %d is live; due for renewal at %s%s",
               r->live_version, when,
               dc.ari_first     ? " (the CA's renewal window)"
               : dc.ari_offered ? " (or earlier, if the CA's renewal "
                                  "window says so)"
                                : "");
        return 0;
    case KW_DUE_TOO_SOON: {
        char nbw[32], naw[32], noww[32];

        kw_time_rfc3339(dc.due, when, sizeof(when));
        kw_time_rfc3339(r->live.not_before, nbw, sizeof(nbw));
        kw_time_rfc3339(r->live.not_after, naw, sizeof(naw));
        kw_time_rfc3339(r->now, noww, sizeof(noww));
        decide(r, KW_RENEW_NOT_DUE, dc.next_at,
               "version %d was issued less than a day ago and is "
               "already due (valid %s to %s, due %s, now %s): is the "
               "clock right?  Not renewing again before a day has "
               "passed",
               r->live_version, nbw, naw, when, noww);
        kw_warn("certificate %s: %s", r->name, r->res.msg);
        return 0;
    }
    case KW_DUE_BLOCKED:
        decide(r, KW_RENEW_FAILED, 0,
               "not retried after a permanent error (%s): %s; fix the "
               "cause, then run keywarden renew --force %s",
               rec->problem[0] ? rec->problem : "see the log",
               rec->last_error, r->name);
        snprintf(r->res.problem, sizeof(r->res.problem), "%s",
                 rec->problem);
        return 0;
    case KW_DUE_BACKOFF:
        kw_time_rfc3339(rec->retry_at, when, sizeof(when));
        decide(r, KW_RENEW_NOT_DUE, rec->retry_at,
               "backing off after %d failure%s until %s; last error: %s",
               rec->failures, rec->failures == 1 ? "" : "s", when,
               rec->last_error);
        return 0;
    case KW_DUE_NOW:
        break;
    }
    if (dc.reason == KW_WHY_ARI) {
        kw_time_rfc3339(rec->ari_renew_at, when, sizeof(when));
        kw_notice("certificate %s: the CA's renewal window says renew (at "
                  "%s)%s%s",
                  r->name, when, rec->ari_explanation[0] ? "; " : "",
                  rec->ari_explanation);
    } else if (dc.reason == KW_WHY_NAMES) {
        kw_notice("certificate %s: the live version does not cover "
                  "every configured name; renewing now",
                  r->name);
    }
    return 0;
}

int kw_renew_dane_init(kw_renew_dane *x, const kw_renew_params *c,
                       const char *certs_dir, int probe,
                       const kw_dane_probe_at *at, size_t nat, kw_diag *d)
{
    char dir[PATH_MAX + 16], cert[PATH_MAX + 512];
    int64_t nb = 0, na = 0;
    char fp[65];
    size_t i;

    memset(x, 0, sizeof(*x));
    snprintf(dir, sizeof(dir), "%s/dane", certs_dir);
    if (kw_mkdir_p(dir, 0700) != 0)
        return kw_diag_set(d, kw_errno(), "%s: cannot create: %s", dir,
                           kw_strerror(kw_errno()));
    snprintf(x->next, sizeof(x->next), "%s/%s.next-key.pem", dir, c->name);
    snprintf(x->live, sizeof(x->live), "%s/live/%s/privkey.pem", certs_dir,
             c->name);
    snprintf(cert, sizeof(cert), "%s/live/%s/cert.pem", certs_dir, c->name);
    x->first[0] = c->nnames > 0 ? c->names[0] : c->name;
    x->p.cert = c->name;
    x->p.hosts = c->ndane_hosts > 0 ? c->dane_hosts : x->first;
    x->p.nhosts = c->ndane_hosts > 0 ? c->ndane_hosts : 1;
    x->p.port = c->dane_port > 0 ? c->dane_port : 25;
    x->p.usage = c->dane_usage;
    x->p.selector = c->dane_selector;
    x->p.mtype = c->dane_mtype;
    x->p.ttl = c->dane_ttl > 0 ? c->dane_ttl : 3600;
    x->p.key_type = c->key_type;
    x->p.next_key_path = x->next;
    x->p.live_key_path = access(x->live, F_OK) == 0 ? x->live : NULL;
    /* Unreadable: unknown, so a stopped rollover stays a warning. */
    if (access(cert, R_OK) == 0 &&
        kw_cert_file_facts(cert, &nb, &na, fp, NULL) == 0)
        x->p.not_after = na;
    x->p.release = c->dane_release;
    x->net.server = c->dns.server;
    x->net.zone = c->dns.zone;
    x->net.tsig_key = c->dns.tsig_key;
    x->net.tsig_alg = c->dns.tsig_alg;
    x->net.tsig_secret = c->dns.tsig_secret;
    for (i = 0; i < c->dns.ncheck && i < 16; i++)
        x->check[i] = c->dns.check[i];
    x->check[i] = NULL;
    x->net.check = i > 0 ? x->check : NULL;
    x->net.probe = probe;
    x->net.at = at;
    x->net.nat = nat;
    kw_dane_roll_dns_real(&x->dns, &x->net);
    return 0;
}

/*
 * dane =: the rollover advanced (dane/dane_roll.h: the next key written
 * and announced, its wait), then the gate.  0 with the announced key in
 * r->key, or KW_EBUSY when the renewal is held back (the old certificate
 * stays; the run is settled as KW_RENEW_HELD, not a failure), with what
 * the rollover waits for in d and when it can move on in *next.  The gate
 * does not probe: the dane-roll job and `dane step` do.
 */
static int dane_gate(kw_renew *r, ks_store *s, int64_t *next, int *stopped,
                     kw_diag *d)
{
    char key[PATH_MAX + 512];
    kw_renew_params c;
    kw_renew_dane x;
    kw_dane_roll_out out;
    int rc;

    memset(&c, 0, sizeof(c));
    c.name = r->name;
    c.names = (const char *const *)r->names;
    c.nnames = r->nnames;
    c.key_type = r->key_type;
    c.dns = r->dns;
    c.dane_usage = r->dane_usage;
    c.dane_selector = r->dane_selector;
    c.dane_mtype = r->dane_mtype;
    c.dane_port = r->dane_port;
    c.dane_ttl = r->dane_ttl;
    c.dane_release = r->dane_release;
    c.dane_hosts = (const char *const *)r->dane_hosts;
    c.ndane_hosts = r->ndane_hosts;
    if ((rc = kw_renew_dane_init(&x, &c, r->certs_dir, 0, NULL, 0, d)) != 0)
        return rc;
    if (r->live.not_after != 0)
        x.p.not_after = r->live.not_after;
    if ((rc = kw_dane_roll_step(s, &x.p, &x.dns, r->now, &out, d)) != 0)
        return rc;
    rc = kw_dane_roll_may_deploy(s, &x.p, r->now, key, sizeof(key), d);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        /* Looked at again when the rollover can move on; a rollover
         * waiting for nothing but the renewal (never here) or for a
         * runner that probes: in an hour. */
        *next = out.next_step > r->now ? out.next_step : r->now + 3600;
        *stopped = out.roll.stopped[0] != '\0';
        return KW_EBUSY;
    }
    if ((r->key = ks_key_read(key, d)) == NULL)
        return KW_EIO;
    kw_notice("certificate %s: renewing with the key announced in TLSA "
              "(%s)", r->name, out.roll.tlsa);
    return 0;
}

/* KEY: the key, the CSR, the account key and the attempt row. */
static int prepare_order(kw_renew *r, ks_store *s, kw_diag *d)
{
    char path[PATH_MAX + 64];
    ks_key_type t = KS_KEY_EC256;
    ks_managed rec;
    int rc;

    /* The key: the pending one of an interrupted order, the live one with
     * reuse_key, else a fresh one kept in pending/ until it is live. */
    snprintf(path, sizeof(path), "%s/pending", r->certs_dir);
    if (kw_mkdir_p(path, 0700) != 0)
        return kw_diag_set(d, kw_errno(), "%s: cannot create: %s", path,
                           kw_strerror(kw_errno()));
    snprintf(r->pending_key, sizeof(r->pending_key), "%s/pending/%s.key.pem",
             r->certs_dir, r->name);
    if (r->dane) {
        int64_t next = 0;
        int stopped = 0;

        /* Only the announced key: never a pending or fresh one.  Held
         * back is the rollover's state, not a failure of the renewal:
         * nothing is recorded against the CA, and the run looks again
         * when the rollover can move on. */
        rc = dane_gate(r, s, &next, &stopped, d);
        if (rc == KW_EBUSY) {
            decide(r, KW_RENEW_HELD, next, "%s", d->msg);
            r->res.held_stopped = stopped;
            kw_notice("certificate %s: %s", r->name, d->msg);
            return 0;
        }
        if (rc != 0)
            return rc;
    } else if (access(r->pending_key, F_OK) == 0) {
        r->key = ks_key_read(r->pending_key, d);
        if (r->key == NULL)
            return KW_EIO;
        rc = ks_managed_get(s, r->name, &rec, d);
        if (rc != 0 && rc != KW_ENOTFOUND)
            return rc;
        if (rc == 0 && rec.order_url[0] != '\0') {
            r->resume_url = strdup(rec.order_url);
            if (r->resume_url == NULL)
                return kw_diag_set(d, KW_ENOMEM, "out of memory");
        }
    } else if (r->reuse_key && r->live_version > 0) {
        snprintf(path, sizeof(path), "%s/live/%s/privkey.pem", r->certs_dir,
                 r->name);
        r->key = ks_key_read(path, d);
        if (r->key == NULL)
            return KW_EIO;
    } else {
        if (r->key_type != NULL)
            ks_key_type_parse(r->key_type, &t);
        r->key = ks_keygen(t, d);
        if (r->key == NULL)
            return KW_ECRYPTO;
        if ((rc = ks_key_write(r->pending_key, r->key, 0600, (gid_t)-1,
                               d)) != 0)
            return rc;
    }
    r->csr = ks_csr_der(r->key, (const char *const *)r->names, r->nnames,
                        NULL, &r->csr_len, d);
    if (r->csr == NULL)
        return KW_ECRYPTO;
    if ((rc = kw_account_key(r->env, directory_of(r), r->account_type, 1,
                             &r->account_key, path, sizeof(path), d)) != 0)
        return rc;
    if ((rc = ks_managed_attempt(s, r->name, r->names_json, r->now, d)) ==
        0)
        r->attempt_made = 1;
    return rc;
}

/* A failure is unrecorded until recorded() says otherwise: a retry time
 * nothing wrote down must not be promised. */
static void fail_res(kw_renew *r, int64_t next_at, const char *msg)
{
    decide(r, KW_RENEW_FAILED, next_at, "%s", msg);
    snprintf(r->res.unsaved, sizeof(r->res.unsaved),
             "it was not written to the inventory");
}

/* rc: how writing the failure and its retry time went. */
static void recorded(kw_renew *r, int rc, const kw_diag *d)
{
    if (rc == 0)
        r->res.unsaved[0] = '\0';
    else
        snprintf(r->res.unsaved, sizeof(r->res.unsaved), "%s", d->msg);
}

/* JUDGE and KEY, on the pool: step, and a failure recorded with its
 * retry time (the order, if any, kept). */
static void pool_step(kw_renew *r, int (*step)(kw_renew *, ks_store *,
                                               kw_diag *))
{
    ks_store *s = NULL;
    kw_diag d;
    int rc;

    d.msg[0] = '\0';
    rc = ks_open(r->env->db_path, KS_OPEN_CREATE, &s, &d);
    if (rc == 0)
        rc = step(r, s, &d);
    if (rc != 0) {
        char msg[600];

        snprintf(msg, sizeof(msg), "preparing the renewal: %s", d.msg);
        fail_res(r, r->now + kw_renew_backoff(1, jitter()), msg);
        recorded(r,
                 s != NULL ? ks_managed_failed(s, r->name, msg, NULL,
                                               r->res.next_at, 1, r->now, &d)
                           : rc,
                 &d);
    }
    ks_close(s);
}

static void prepare_work(uv_work_t *w)
{
    pool_step(w->data, prepare);
}

static void key_work(uv_work_t *w)
{
    pool_step(w->data, prepare_order);
}

/* ----- phase 2: the order (loop) ----------------------------------------- */

static void finish_cb(kw_renew *r)
{
    set_state(r, RS_DONE);
    r->env->in_flight--;
    r->cb(r->ctx, &r->res);
    free_renew(r);
}

static void progress_work(uv_work_t *w)
{
    char **job = w->data; /* name, step, url, db_path */
    ks_store *s = NULL;
    kw_diag d;

    if (ks_open(job[3], KS_OPEN_CREATE, &s, &d) != 0 ||
        ks_managed_progress(s, job[0], job[1], job[2], kw_now(), &d) != 0)
        kw_warn("certificate %s: saving the order's progress: %s", job[0],
                d.msg);
    ks_close(s);
}

static void start_record(kw_renew *r);
static void enter_record(kw_renew *r);

static void progress_done(uv_work_t *w, int status)
{
    char **job = w->data;
    kw_renew *r = (kw_renew *)job[4];
    int i;

    (void)status;
    for (i = 0; i < 4; i++)
        free(job[i]);
    free(job);
    free(w);
    r->pending_writes--;
    if (r->state == RS_RECORD && r->pending_writes == 0)
        start_record(r);
}

static void on_step(void *ctx, const char *step, const char *url)
{
    kw_renew *r = ctx;
    uv_work_t *w = calloc(1, sizeof(*w));
    char **job = calloc(5, sizeof(char *));

    if (w == NULL || job == NULL) {
        free(w);
        free(job);
        return; /* progress is an optimisation of the resume */
    }
    if (strcmp(step, "account") == 0) {
        free(w);
        free(job);
        kw_info("certificate %s: ACME account %s", r->name, url);
        return;
    }
    job[0] = strdup(r->name);
    job[1] = strdup(step);
    job[2] = strdup(url);
    job[3] = strdup(r->env->db_path);
    job[4] = (char *)r;
    w->data = job;
    kw_info("certificate %s: %s %s", r->name, step, url);
    if (job[0] == NULL || job[1] == NULL || job[2] == NULL ||
        job[3] == NULL ||
        uv_queue_work(r->env->loop, w, progress_work, progress_done) != 0) {
        int i;

        for (i = 0; i < 4; i++)
            free(job[i]);
        free(job);
        free(w);
        return;
    }
    r->pending_writes++;
}

static void on_dns_presented(void *ctx, int status, const kw_diag *d)
{
    kw_renew *r = ctx;

    if (status == 0)
        kw_info("certificate %s: the dns-01 record is on every server",
                r->name);
    acme_order_presented(r->order, status == 0, d->msg);
}

static int present(void *ctx, acme_order *o, const acme_challenge *c,
                   kw_diag *d)
{
    kw_renew *r = ctx;

    (void)o;
    kw_debug("certificate %s: %s answer for %s", r->name, c->type,
             c->identifier);
    if (strcmp(c->type, "dns-01") == 0) {
        int rc = kw_dns01_present(r->env->loop, &r->dns, r->name,
                                  c->identifier, c->value, on_dns_presented,
                                  r, d);

        return rc == 0 ? ACME_PRESENT_PENDING : rc;
    }
    return kw_http01_put(r->env, r->use_webroot ? r->webroot : NULL,
                         r->http01_listen, c->token, c->value, d);
}

static void cleanup(void *ctx, const acme_challenge *c)
{
    kw_renew *r = ctx;

    if (strcmp(c->type, "dns-01") == 0)
        kw_dns01_cleanup(r->env->loop, &r->dns, r->name, c->identifier,
                         c->value);
    else
        kw_http01_remove(r->env, r->use_webroot ? r->webroot : NULL,
                         c->token);
}

static void on_done(void *ctx, const acme_outcome *o)
{
    kw_renew *r = ctx;

    r->order = NULL;
    r->fail = o->fail;
    r->retry_after = o->retry_after;
    r->res.requests = o->requests;
    r->res.bad_nonces = o->bad_nonces;
    snprintf(r->res.problem, sizeof(r->res.problem), "%s", o->problem_type);
    snprintf(r->res.msg, sizeof(r->res.msg), "%s", o->detail);
    if (o->chain_note[0] != '\0')
        kw_notice("certificate %s: %s", r->name, o->chain_note);
    if (o->fail == ACME_OK && o->fullchain != NULL) {
        r->fullchain = malloc(o->len + 1);
        if (r->fullchain != NULL) {
            memcpy(r->fullchain, o->fullchain, o->len + 1);
            r->fullchain_len = o->len;
        } else {
            r->fail = ACME_FAIL_TRANSIENT;
            snprintf(r->res.msg, sizeof(r->res.msg), "out of memory");
        }
    }
    enter_record(r);
}

/* ----- HTTP-01 pre-check: will the CA reach the names? (loop) ------------ */

static void step_done(uv_work_t *w, int status);
static void next_step(kw_renew *r);

static void on_prechecked(void *ctx, const kw_precheck_result *pr)
{
    kw_renew *r = ctx;
    const char *summary = pr->summary, *fix = pr->fix;

    if (pr->status == 0) {
        kw_info("certificate %s: the HTTP-01 pre-check passes for every "
                "name",
                r->name);
    } else if (!kw_precheck_blocking(pr->report)) {
        /* Broken IPv6 with working IPv4: Let's Encrypt retries over IPv4,
         * so the order goes; the operator hears of it all the same. */
        kw_warn("certificate %s: the HTTP-01 pre-check: %s; ordering (the "
                "CA falls back to IPv4), but fix it: %s",
                r->name, summary, fix);
    } else if (r->precheck == KW_RENEW_PRECHECK_WARN) {
        kw_warn("certificate %s: the HTTP-01 pre-check says the CA would "
                "fail (%s); ordering anyway (precheck = warn). Fix: %s",
                r->name, summary, fix);
    } else {
        /* No order that is bound to fail: it would count against the
         * CA's failed-validation limits and fix nothing. */
        r->fail = ACME_FAIL_VALIDATION;
        snprintf(r->res.problem, sizeof(r->res.problem),
                 "keywarden:precheck");
        snprintf(r->res.msg, sizeof(r->res.msg),
                 "no order placed: the HTTP-01 pre-check says the CA "
                 "would fail: %s. Fix: %.1200s",
                 summary, fix);
        enter_record(r);
        return;
    }
    next_step(r);
}

static int start_precheck(kw_renew *r)
{
    kw_precheck_req q;
    const char **names = calloc(r->nnames ? r->nnames : 1, sizeof(char *));
    size_t i, n = 0;
    kw_diag d;
    int rc;

    if (names == NULL)
        return -1;
    for (i = 0; i < r->nnames; i++)
        /* IP identifiers are validated on the address itself. */
        if (strchr(r->names[i], ':') == NULL &&
            strspn(r->names[i], "0123456789.") != strlen(r->names[i]))
            names[n++] = r->names[i];
    if (n == 0) {
        free(names);
        return -1;
    }
    memset(&q, 0, sizeof(q));
    q.names = names;
    q.nnames = n;
    q.webroot = r->use_webroot ? r->webroot : NULL;
    q.listen = r->http01_listen;
    rc = kw_precheck_start(r->env, &q, on_prechecked, r, &d);
    free(names);
    if (rc != 0) {
        kw_warn("certificate %s: the HTTP-01 pre-check could not run: %s; "
                "ordering without it",
                r->name, d.msg);
        return -1;
    }
    return 0;
}

/* ----- ARI: the CA's renewal window (loop, then pool) ------------------ */


typedef struct ari_job {
    uv_work_t work;
    kw_renew *r;
    acme_ari_result res;
} ari_job;

static void ari_work(uv_work_t *w)
{
    ari_job *j = w->data;
    kw_renew *r = j->r;
    const acme_ari_result *a = &j->res;
    ks_store *s = NULL;
    ks_managed m;
    kw_diag d;
    int64_t renew_at, next_check;
    int rc;

    kw_renew_ari_plan(a, r->now, jitter(), &renew_at, &next_check);
    if (a->ok && a->offered)
        r->ari_offered = 1;
    else if (!a->ok)
        kw_warn("certificate %s: the CA's renewal information: %s; the "
                "lifetime rule decides",
                r->name, a->error);
    d.msg[0] = '\0';
    rc = ks_open(r->env->db_path, KS_OPEN_CREATE, &s, &d);
    if (rc == 0)
        rc = ks_managed_ari(s, r->name, r->cert_id, r->ari_offered,
                            a->ok ? a->start : 0, a->ok ? a->end : 0,
                            renew_at, next_check, a->explanation, r->now,
                            &d);
    /* The answer is in the record now: decide again, by the same rule. */
    if (rc == 0)
        rc = ks_managed_get(s, r->name, &m, &d);
    if (rc == 0)
        rc = judge(r, s, &m, &d);
    if (rc != 0) {
        char msg[600];

        snprintf(msg, sizeof(msg), "preparing the renewal: %s", d.msg);
        fail_res(r, r->now + kw_renew_backoff(1, jitter()), msg);
    }
    ks_close(s);
}

static void ari_done(uv_work_t *w, int status)
{
    ari_job *j = w->data;
    kw_renew *r = j->r;

    free(j);
    r->work.data = r;
    step_done(&r->work, status);
}

static void on_ari(void *ctx, const acme_ari_result *res)
{
    kw_renew *r = ctx;
    ari_job *j = calloc(1, sizeof(*j));

    if (j == NULL) {
        fail_res(r, r->now + kw_renew_backoff(1, jitter()), "out of memory");
        finish_cb(r);
        return;
    }
    j->r = r;
    j->res = *res;
    j->work.data = j;
    set_state(r, RS_REJUDGE);
    if (uv_queue_work(r->env->loop, &j->work, ari_work, ari_done) != 0) {
        free(j);
        fail_res(r, r->now + kw_renew_backoff(1, jitter()),
                 "the thread pool refused the work");
        finish_cb(r);
    }
}

static void start_order(kw_renew *r)
{
    acme_order_params p;
    acme_solver solver = {r, present, cleanup};
    kw_diag d;

    set_state(r, RS_ORDER);
    memset(&p, 0, sizeof(p));
    p.directory_url = directory_of(r);
    p.account_key = r->account_key;
    p.contact = r->contact;
    p.eab_kid = r->eab_kid;
    p.eab_key = r->eab_key;
    p.eab_key_len = r->eab_key_len;
    p.names = (const char *const *)r->names;
    p.nnames = r->nnames;
    p.csr_der = r->csr;
    p.csr_len = r->csr_len;
    p.profile = r->profile;
    p.resume_url = r->resume_url;
    p.challenge = r->dns01 ? "dns-01" : "http-01";
    p.preferred_chain = r->preferred_chain;
    /* Renewing a certificate the CA gives renewal information for: say
     * which one (RFC 9773 section 5), for its rate-limit exemption. */
    p.replaces = r->ari_offered && r->live_version > 0 ? r->cert_id : NULL;
    if (r->resume_url != NULL)
        kw_notice("certificate %s: resuming the order %s", r->name,
                  r->resume_url);
    if (acme_order_start(r->env->http, &p, &solver, on_step, on_done, r,
                         &r->order, &d) != 0) {
        r->fail = ACME_FAIL_TRANSIENT;
        snprintf(r->res.msg, sizeof(r->res.msg), "starting the order: %s",
                 d.msg);
        enter_record(r);
    }
}

static void start_pool(kw_renew *r, enum renew_state st, uv_work_cb work)
{
    set_state(r, st);
    r->work.data = r;
    if (uv_queue_work(r->env->loop, &r->work, work, step_done) != 0) {
        fail_res(r, r->now + kw_renew_backoff(1, jitter()),
                 "the thread pool refused the work");
        finish_cb(r);
    }
}

/* The transitions out of JUDGE, ASK_CA/REJUDGE, PRECHECK and KEY, on the
 * loop, once the step's work is done. */
static void next_step(kw_renew *r)
{
    kw_diag d;

    if (r->cancelled && !r->decided)
        decide(r, KW_RENEW_CANCELLED, r->now, "cancelled");
    if (r->decided) {
        finish_cb(r);
        return;
    }
    switch (r->state) {
    case RS_JUDGE:
    case RS_REJUDGE:
        if (r->verdict == KW_DUE_ASK_CA && r->state == RS_REJUDGE) {
            /* The answer just recorded should have settled it: asking
             * again would loop. */
            fail_res(r, r->now + kw_renew_backoff(1, jitter()),
                     "the CA's renewal information was recorded but not "
                     "read back");
            finish_cb(r);
            return;
        }
        if (r->verdict == KW_DUE_ASK_CA) {
            set_state(r, RS_ASK_CA);
            if (acme_ari_fetch(r->env->http, directory_of(r), r->cert_id,
                               on_ari, r, &d) != 0) {
                acme_ari_result res;

                memset(&res, 0, sizeof(res));
                snprintf(res.error, sizeof(res.error), "%s", d.msg);
                on_ari(r, &res);
            }
            return;
        }
        /* The pre-check can veto the order: it runs before anything is
         * made for one. */
        if (!r->dns01 && r->precheck != KW_RENEW_PRECHECK_OFF) {
            set_state(r, RS_PRECHECK);
            if (start_precheck(r) == 0)
                return; /* on_prechecked goes on */
        }
        start_pool(r, RS_KEY, key_work);
        return;
    case RS_PRECHECK:
        start_pool(r, RS_KEY, key_work);
        return;
    case RS_KEY:
        start_order(r);
        return;
    default:
        kw_err("certificate %s: the renewal has no step after state %d",
               r->name, (int)r->state);
        fail_res(r, r->now + kw_renew_backoff(1, jitter()),
                 "internal error: a renewal step out of order");
        finish_cb(r);
        return;
    }
}

static void step_done(uv_work_t *w, int status)
{
    kw_renew *r = w->data;

    if (status != 0 && !r->decided)
        fail_res(r, r->now + kw_renew_backoff(1, jitter()),
                 "the thread pool refused the work");
    next_step(r);
}

/* ----- phase 3: deploy and record (pool) -------------------------------- */

static int deploy(kw_renew *r, ks_store *s, kw_diag *d)
{
    ks_deploy_opts dop;
    ks_deploy_result dr;
    ks_scan_opts so;
    ks_scan_stats st;
    char live_root[PATH_MAX + 8], when[32];
    const char *roots[1];
    X509 *leaf = NULL;
    BIO *b;
    char fp[65];
    int64_t nb, na, due;
    int rc;

    memset(&dop, 0, sizeof(dop));
    dop.root = r->certs_dir;
    dop.keep = r->keep;
    dop.key_gid = (gid_t)-1;
    dop.owner = (uid_t)-1;
    if (r->key_group != NULL) {
        struct group *g = getgrnam(r->key_group);

        if (g == NULL)
            return kw_diag_set(d, KW_ENOENT, "key_group %s: no such group",
                               r->key_group);
        dop.key_gid = g->gr_gid;
        dop.key_mode = 0640;
    }
    if (r->key_owner != NULL) {
        struct passwd *pw = getpwnam(r->key_owner);

        if (pw == NULL)
            return kw_diag_set(d, KW_ENOENT, "key_owner %s: no such user",
                               r->key_owner);
        dop.owner = pw->pw_uid;
    }
    rc = ks_deploy(&dop, r->name, r->fullchain, r->fullchain_len, r->key,
                   (const char *const *)r->names, r->nnames, &dr, d);
    if (rc != 0)
        return rc;
    /* Live now: the pending key has become privkey.pem. */
    if (unlink(r->pending_key) != 0 && errno != ENOENT)
        kw_warn("certificate %s: removing %s: %s", r->name, r->pending_key,
                strerror(errno));
    b = BIO_new_mem_buf(r->fullchain, (int)r->fullchain_len);
    if (b != NULL)
        leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (leaf == NULL)
        return kw_diag_set(d, KW_EPARSE,
                           "certificate %s: the deployed chain cannot be "
                           "read back",
                           r->name);
    nb = asn1_time(X509_get0_notBefore(leaf));
    na = asn1_time(X509_get0_notAfter(leaf));
    fingerprint(leaf, fp);
    X509_free(leaf);
    due = kw_renew_due(nb, na);
    rc = ks_managed_renewed(s, r->name, dr.version, dr.previous, nb, na, fp,
                            dr.dir, due, r->now, d);
    if (rc != 0)
        /* Live all the same; the next run sees live/ ahead of the record
         * and records it (with its event). */
        kw_err("certificate %s: version %d is live but could not be "
               "recorded: %s; the next run records it",
               r->name, dr.version, d->msg);
    r->res.version = dr.version;
    r->res.not_after = na;
    r->res.next_at = due;
    r->res.outcome = KW_RENEW_ISSUED;
    kw_time_rfc3339(na, when, sizeof(when));
    snprintf(r->res.msg, sizeof(r->res.msg),
             "version %d is live (%.1500s), valid until %s", dr.version,
             dr.dir,
             when);
    /* The inventory learns the new files like any others. */
    memset(&so, 0, sizeof(so));
    so.now = r->now;
    so.threads = 1;
    /* Our own files, a few KiB each: small buffers keep 50 concurrent
     * renewals from holding 50 MiB. */
    so.max_file_size = 64 * 1024;
    snprintf(live_root, sizeof(live_root), "%s/live", r->certs_dir);
    roots[0] = live_root;
    if (ks_scan(s, roots, 1, &so, &st, d) != 0)
        kw_warn("certificate %s: adding %s to the inventory: %s", r->name,
                live_root, d->msg);
    return 0;
}

static void record_work(uv_work_t *w)
{
    kw_renew *r = w->data;
    ks_store *s = NULL;
    kw_diag d;
    int64_t next = 0;
    int keep_order = 0, rc;

    d.msg[0] = '\0';
    rc = ks_open(r->env->db_path, KS_OPEN_CREATE, &s, &d);
    if (rc != 0) {
        fail_res(r, r->now + kw_renew_backoff(1, jitter()), d.msg);
        recorded(r, rc, &d);
        return;
    }
    if (r->fail == ACME_OK) {
        rc = deploy(r, s, &d);
        if (rc == 0) {
            ks_close(s);
            return;
        }
        snprintf(r->res.msg, sizeof(r->res.msg),
                 "the CA issued a certificate but it was not deployed: %s",
                 d.msg);
        r->fail = ACME_FAIL_TRANSIENT;
    }
    if (r->fail == ACME_FAIL_CANCELLED) {
        /* The order stays saved; the next start resumes it. */
        r->res.outcome = KW_RENEW_CANCELLED;
        r->res.next_at = r->now;
        ks_close(s);
        return;
    }
    {
        ks_managed m;
        int failures = 1;

        if (ks_managed_get(s, r->name, &m, NULL) == 0)
            failures = m.failures + 1;
        next = kw_renew_retry_at(r->fail, failures, r->retry_after, r->now,
                                 jitter(), &keep_order);
    }
    /* Stopped before its attempt (the pre-check's veto): the names it
     * was about, so that the backoff holds until they change. */
    if (!r->attempt_made)
        ks_managed_names(s, r->name, r->names_json, r->now, NULL);
    r->res.outcome = KW_RENEW_FAILED;
    r->res.next_at = next == KW_RENEW_BLOCKED ? 0 : next;
    recorded(r,
             ks_managed_failed(s, r->name, r->res.msg, r->res.problem, next,
                               keep_order, r->now, &d),
             &d);
    ks_close(s);
}

static void record_done(uv_work_t *w, int status)
{
    kw_renew *r = w->data;

    if (status != 0)
        fail_res(r, r->now + kw_renew_backoff(1, jitter()),
                 "the thread pool refused the work");
    finish_cb(r);
}

static void start_record(kw_renew *r)
{
    r->work.data = r;
    if (uv_queue_work(r->env->loop, &r->work, record_work, record_done) !=
        0) {
        fail_res(r, r->now + kw_renew_backoff(1, jitter()),
                 "the thread pool refused the work");
        finish_cb(r);
    }
}

/* RECORD, from ORDER or the pre-check's veto: it starts once the order's
 * progress writes are done (progress_done starts it otherwise). */
static void enter_record(kw_renew *r)
{
    set_state(r, RS_RECORD);
    if (r->pending_writes == 0)
        start_record(r);
}

/* ----- public ------------------------------------------------------------ */

int kw_renew_start(kw_acme_env *env, const kw_renew_params *c, int force,
                   kw_renew_cb cb, void *ctx, kw_renew **out, kw_diag *d)
{
    const kw_acme_params *a = &env->params;
    kw_renew *r;
    int bad = 0;
    size_t i;

    if (env->http == NULL)
        return kw_diag_set(d, KW_EINVAL,
                           "certificate %s: the ACME client did not start",
                           c->name);
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    r->env = env;
    r->cb = cb;
    r->ctx = ctx;
    r->force = force;
    r->now = env->now != 0 ? env->now : kw_now();
    r->name = kw_strdup_opt(c->name, &bad);
    r->webroot = kw_strdup_opt(c->webroot, &bad);
    r->key_type = kw_strdup_opt(c->key_type, &bad);
    r->profile = kw_strdup_opt(c->profile, &bad);
    r->key_group = kw_strdup_opt(c->key_group, &bad);
    r->preferred_chain = kw_strdup_opt(c->preferred_chain, &bad);
    r->key_owner = kw_strdup_opt(c->key_owner, &bad);
    r->directory = kw_strdup_opt(
        c->directory != NULL ? c->directory : a->directory, &bad);
    r->contact = kw_strdup_opt(a->contact, &bad);
    r->account_type = kw_strdup_opt(a->account_key, &bad);
    r->eab_kid = kw_strdup_opt(a->eab_kid, &bad);
    if (a->eab_hmac_key != NULL) {
        r->eab_key = acme_b64url_decode(a->eab_hmac_key, &r->eab_key_len);
        if (r->eab_key == NULL) {
            free_renew(r);
            return kw_diag_set(d, KW_EINVAL,
                               "[acme] eab_hmac_key is not base64url");
        }
    }
    r->http01_listen = kw_strdup_opt(a->http01_listen, &bad);
    r->use_webroot = c->use_webroot;
    r->dns01 = c->dns01;
    r->precheck = c->precheck;
    if ((c->dns01 || c->dane) && kw_dns01_conf_dup(&r->dns, &c->dns) != 0)
        bad = 1;
    r->dane = c->dane;
    r->dane_usage = c->dane_usage;
    r->dane_selector = c->dane_selector;
    r->dane_mtype = c->dane_mtype;
    r->dane_port = c->dane_port;
    r->dane_ttl = c->dane_ttl;
    r->dane_release = c->dane_release;
    if (c->ndane_hosts > 0 &&
        (r->dane_hosts = calloc(c->ndane_hosts, sizeof(char *))) == NULL)
        bad = 1;
    for (i = 0; !bad && i < c->ndane_hosts; i++) {
        r->dane_hosts[i] = kw_strdup_opt(c->dane_hosts[i], &bad);
        r->ndane_hosts = i + 1;
    }
    r->reuse_key = c->reuse_key;
    r->keep = c->keep;
    r->names = calloc(c->nnames ? c->nnames : 1, sizeof(char *));
    if (r->names == NULL)
        bad = 1;
    for (i = 0; !bad && i < c->nnames; i++) {
        r->names[i] = kw_strdup_opt(c->names[i], &bad);
        r->nnames = i + 1;
    }
    r->res.name = r->name;
    r->res.next_at = 0;
    snprintf(r->certs_dir, sizeof(r->certs_dir), "%s", a->certs_dir);
    if (bad) {
        free_renew(r);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    r->state = RS_JUDGE;
    r->work.data = r;
    if (uv_queue_work(env->loop, &r->work, prepare_work, step_done) != 0) {
        free_renew(r);
        return kw_diag_set(d, KW_EIO, "the thread pool refused the work");
    }
    env->in_flight++;
    if (out != NULL)
        *out = r;
    return 0;
}

void kw_renew_cancel(kw_renew *r)
{
    if (r == NULL)
        return;
    r->cancelled = 1;
    if (r->order != NULL)
        acme_order_cancel(r->order);
}
