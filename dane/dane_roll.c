/*
 * dane_roll.c: a DANE key rollover's state machine (dane_roll.h).
 *
 * One row of dane_rollovers per next key; its stage says how far the
 * rollover got.  Stages whose name ends in -ing are intents: written
 * before their effect, so a run killed after the effect repeats it in a
 * way that cannot do it twice.
 *
 *   (none)      no rollover runs (or the last is DONE): one starts at
 *               once, replacing the live key's record (old_tlsa).
 *   GENERATING  the next key file is being written (0600, beside the
 *               live key).  Resumed: a key file already there is the one
 *               written before the crash and is used.
 *   GENERATED   the key is on disk; its TLSA record is stored.
 *   PUBLISHING  the adds are being sent: at each owner _PORT._tcp.HOST
 *               the next key's record and the live key's (adding what is
 *               there changes nothing, so a resumed PUBLISHING sends the
 *               same records again and publishes nothing twice).
 *   PUBLISHED   the primary accepted every add.
 *   VISIBLE     every authoritative server serves both records at every
 *               owner; wait_until = now + 2 x ttl + the zone's negative
 *               TTL (a resolver that cached the old RRset, or its
 *               absence, has let it expire).
 *   READY       that wait is over: the renewal may deploy the next key.
 *               Once the live key file holds it (the renewal deployed
 *               it), the probe asks every address of every dane host;
 *               one that serves another key holds the rollover here
 *               (stopped: "the reload did not happen"), old record kept.
 *   DEPLOYED    every address served the next key; wait_until = now +
 *               ttl (the hold).
 *   REMOVING    the hold is over and a second probe saw the next key
 *               served still: the old key's record is being removed at
 *               every owner.
 *   DONE        the old record is gone on every authoritative server;
 *               the next cycle starts in the same run (a new next key,
 *               announced beside the one now live).
 *
 * NONE -> GENERATING -> GENERATED -> PUBLISHING -> PUBLISHED -> VISIBLE
 * -> READY -> DEPLOYED -> REMOVING -> DONE (DEPLOYED -> DONE when there is
 * no old record); GENERATED .. VISIBLE -> DEPLOYED only when released by
 * the operator; and no other change.  A stage may be written again with a
 * note (what it waits for) or stopped with a reason: a failed step leaves
 * the stage where it was, says why in `stopped`, counts it in `failures`
 * (0 again at any change of stage) and is retried after
 * min(FIRST * 2^(failures - 1), MAX): 15 min .. 6 h for DNS, 1 min .. 1 h
 * for the probe (a reload is usually seconds away).
 *
 * What a DANE sender holding a cached TLSA RRset needs, at each moment:
 *   - Before READY the RRset it may hold is {old} (cached before the
 *     publication, for up to TTL), or "no such RRset" (for up to the
 *     negative TTL), or {old, next}.  Only the old key may be served, and
 *     it is.  The wait of 2 x TTL + negative TTL after every
 *     authoritative server serves {old, next} outlasts every such cache
 *     (one TTL for a cache filled just before the last server caught up,
 *     one more for a resolver chain forwarding it): from READY on, every
 *     sender holds {old, next} or a fresh copy of it.
 *   - From the deployment to the removal it holds {old, next}: both the
 *     old key (a server not yet reloaded, the operator reverting) and
 *     the next key satisfy it.
 *   - After the removal it may hold {old, next} for one TTL more, then
 *     {next}: only the next key satisfies it, so every address must serve
 *     it before the removal is sent.  One probe proves that at one
 *     moment; the hold of one TTL and a second probe just before the
 *     removal prove it was not a passing state (a process of the server
 *     not yet reloaded, a deployment a hook reverted), and keep a revert
 *     to the old certificate safe for that TTL without any DNS change.
 *
 * Invariants (checked in set_state(), the one place a stage is written,
 * and tested in tests/unit/test_dane_roll.c):
 *   1. The deployed key always has a record that was visible long enough:
 *      READY is entered from VISIBLE only, and not before wait_until;
 *      DEPLOYED from READY only (kw_dane_roll_may_deploy says 1 only
 *      there), unless the operator released the rollover.
 *   2. A failed publication holds the renewal back: the stage never moves
 *      on after a failed effect, so kw_dane_roll_may_deploy keeps saying
 *      0 and the old certificate stays served; health turns warning, then
 *      critical within critical_before of the live certificate's expiry.
 *   3. An old record is never removed while its key may be served:
 *      DEPLOYED is entered only on a probe's proof (this run's, or the
 *      caller's through kw_dane_roll_deployed); REMOVING only from
 *      DEPLOYED, after the hold (wait_until), on a second probe of this
 *      run.
 *   4. Nothing is published twice and no second next key is made: each
 *      effect's intent is journalled first; a resumed intent repeats it
 *      idempotently (the same key file, the same records); and one runner
 *      at a time writes a rollover (the lock, dane_roll.h).
 *   5. The private key is never in the database: rows hold the record.
 *   6. Every renewal changes the key: a rollover is READY only for a key
 *      that is not the live one (a new cycle's key is generated after the
 *      last one was deployed, and a leftover file holding the live key is
 *      replaced), and the renewal orders with exactly that key.
 */
#include "dane_roll.h"

#include "dane_match.h"

#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"
#include "../keystore/ks_health.h"
#include "../keystore/ks_keygen.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RETRY_FIRST 900
#define RETRY_MAX 21600
#define PROBE_RETRY_FIRST 60
#define PROBE_RETRY_MAX 3600
#define LOCK_RETRY 60
#define LOCK_WAIT_MS 3000
#define CRITICAL_BEFORE (7 * 86400)
#define OWNERS_MAX 16

static const char *const stage_names[] = {
    "none",     "generating", "generated", "publishing", "published",
    "visible",  "ready",      "deployed",  "removing",   "done",
};

const char *kw_dane_stage_name(kw_dane_stage st)
{
    if ((int)st < 0 || (size_t)st >= sizeof(stage_names) /
                                          sizeof(stage_names[0]))
        return "none";
    return stage_names[st];
}

kw_dane_stage kw_dane_stage_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(stage_names) / sizeof(stage_names[0]);
         i++)
        if (strcmp(s, stage_names[i]) == 0)
            return (kw_dane_stage)i;
    return KW_DANE_ST_NONE;
}

int kw_dane_roll_params_check(const kw_dane_roll_params *p, kw_diag *d)
{
    size_t owners_len = 0;
    ks_key_type t;

    if (p->usage != KW_DANE_DANE_EE || p->selector != 1)
        return kw_diag_set(d, KW_EINVAL,
                           "certificate \"%s\": dane = %d %d %d: only 3 1 x "
                           "(DANE-EE of the public key) names a key before "
                           "its certificate exists; use dane = 3 1 1",
                           p->cert, p->usage, p->selector, p->mtype);
    if (p->mtype < 0 || p->mtype > 2)
        return kw_diag_set(d, KW_EINVAL,
                           "certificate \"%s\": dane = 3 1 %d: the matching "
                           "type is 0, 1 (SHA-256) or 2 (SHA-512)",
                           p->cert, p->mtype);
    /* The row holds the record in a fixed field: the full key (matching
     * type 0) fits only for Ed25519; an EC P-256 key's takes 188
     * characters and would fail every run at the key's generation. */
    if (p->mtype == 0 &&
        ks_key_type_parse(p->key_type != NULL ? p->key_type : "ec256",
                          &t) == 0 &&
        t != KS_KEY_ED25519)
        return kw_diag_set(d, KW_EINVAL,
                           "certificate \"%s\": dane = 3 1 0 with key_type "
                           "%s: the full public key does not fit the "
                           "rollover's record (at most %zu characters); "
                           "use dane = 3 1 1",
                           p->cert, p->key_type != NULL ? p->key_type
                                                        : "ec256",
                           sizeof(((ks_dane_roll *)0)->tlsa) - 1);
    if (p->nhosts == 0 || p->nhosts > OWNERS_MAX)
        return kw_diag_set(d, KW_EINVAL,
                           "certificate \"%s\": dane_hosts: 1 to %d SMTP "
                           "host names", p->cert, OWNERS_MAX);
    if (p->port < 1 || p->port > 65535)
        return kw_diag_set(d, KW_EINVAL,
                           "certificate \"%s\": dane_port = %d is no port",
                           p->cert, p->port);
    if (p->next_key_path == NULL || p->next_key_path[0] == '\0')
        return kw_diag_set(d, KW_EINVAL,
                           "certificate \"%s\": no path for the next key",
                           p->cert);
    /* The journal row holds the path and the owners in fixed fields: a
     * cut path would write the key where nothing finds it again. */
    if (strlen(p->next_key_path) >= sizeof(((ks_dane_roll *)0)->key_path))
        return kw_diag_set(d, KW_EINVAL,
                           "certificate \"%s\": the next key's path %s is "
                           "%zu bytes long; at most %zu (a shorter "
                           "certs_dir)",
                           p->cert, p->next_key_path,
                           strlen(p->next_key_path),
                           sizeof(((ks_dane_roll *)0)->key_path) - 1);
    for (size_t i = 0; i < p->nhosts; i++) {
        /* Each owner is built in a fixed buffer (owners_of): a longer
         * name would be cut into another owner, not refused there. */
        if (strlen(p->hosts[i]) > 253)
            return kw_diag_set(d, KW_EINVAL,
                               "certificate \"%s\": dane_hosts: %.60s... is "
                               "%zu bytes long; a host name has at most 253",
                               p->cert, p->hosts[i], strlen(p->hosts[i]));
        owners_len += strlen("_65535._tcp. ") + strlen(p->hosts[i]);
    }
    if (owners_len >= sizeof(((ks_dane_roll *)0)->names))
        return kw_diag_set(d, KW_EINVAL,
                           "certificate \"%s\": dane_hosts: the %zu TLSA "
                           "names take %zu bytes; at most %zu (fewer hosts)",
                           p->cert, p->nhosts, owners_len,
                           sizeof(((ks_dane_roll *)0)->names) - 1);
    return 0;
}

int kw_dane_key_tlsa(EVP_PKEY *key, int usage, int selector, int mtype,
                     char *buf, size_t cap, kw_diag *d)
{
    unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
    const unsigned char *data;
    unsigned int mdlen = 0;
    size_t len, off;
    int n, rc = 0;

    if (selector != 1)
        return kw_diag_set(d, KW_EINVAL,
                           "TLSA selector %d: a key alone gives only "
                           "selector 1 (SubjectPublicKeyInfo)", selector);
    if ((n = i2d_PUBKEY(key, &der)) <= 0)
        return kw_diag_set(d, KW_ECRYPTO,
                           "encoding the next key's public half failed");
    data = der;
    len = (size_t)n;
    if (mtype == 1 || mtype == 2) {
        if (!EVP_Digest(der, (size_t)n, md, &mdlen,
                        mtype == 1 ? EVP_sha256() : EVP_sha512(), NULL)) {
            OPENSSL_free(der);
            return kw_diag_set(d, KW_ECRYPTO, "hashing the public key "
                                              "failed");
        }
        data = md;
        len = mdlen;
    } else if (mtype != 0) {
        OPENSSL_free(der);
        return kw_diag_set(d, KW_EINVAL, "TLSA matching type %d", mtype);
    }
    off = (size_t)snprintf(buf, cap, "%d %d %d ", usage, selector, mtype);
    if (off + 2 * len + 1 > cap)
        rc = kw_diag_set(d, KW_ETOOBIG,
                         "the TLSA record (%zu octets of data) does not fit "
                         "in %zu", len, cap);
    for (size_t i = 0; rc == 0 && i < len; i++)
        snprintf(buf + off + 2 * i, 3, "%02X", data[i]);
    OPENSSL_free(der);
    return rc;
}

/* The test seam of dane_roll.h. */
static void die_point(const char *name)
{
    const char *at = getenv("KEYWARDEN_TEST_DIE_AT");

    if (at != NULL && strcmp(at, name) == 0)
        raise(SIGKILL);
}

typedef struct machine {
    ks_store *s;
    const kw_dane_roll_params *p;
    const kw_dane_roll_dns *dns;
    int64_t now;
    ks_dane_roll *r;
    char owners[OWNERS_MAX][300];
    size_t nowners;
    int probed;   /* a probe of this run saw the next key everywhere */
    int probe_failed; /* the stop this run writes is the probe's */
    struct timespec t0; /* when this run started (monotonic) */
} machine;

/* now, moved on by the time this run has spent so far (rounded up): a
 * wait counts from when what it waits on was seen, not from when the
 * run began (the visibility polls take seconds). */
static int64_t now_seen(const machine *m)
{
    struct timespec t;
    int64_t ms;

    clock_gettime(CLOCK_MONOTONIC, &t);
    ms = (int64_t)(t.tv_sec - m->t0.tv_sec) * 1000 +
         (t.tv_nsec - m->t0.tv_nsec) / 1000000;
    return m->now + (ms + 999) / 1000;
}

static int allowed(kw_dane_stage from, kw_dane_stage to, int released)
{
    if (from == to)
        return 1;
    switch (to) {
    case KW_DANE_ST_GENERATING: return from == KW_DANE_ST_NONE;
    case KW_DANE_ST_GENERATED: return from == KW_DANE_ST_GENERATING;
    case KW_DANE_ST_PUBLISHING: return from == KW_DANE_ST_GENERATED;
    case KW_DANE_ST_PUBLISHED: return from == KW_DANE_ST_PUBLISHING;
    case KW_DANE_ST_VISIBLE: return from == KW_DANE_ST_PUBLISHED;
    case KW_DANE_ST_READY: return from == KW_DANE_ST_VISIBLE;
    case KW_DANE_ST_DEPLOYED:
        return from == KW_DANE_ST_READY ||
               (released && from >= KW_DANE_ST_GENERATED &&
                from <= KW_DANE_ST_VISIBLE);
    case KW_DANE_ST_REMOVING: return from == KW_DANE_ST_DEPLOYED;
    case KW_DANE_ST_DONE:
        return from == KW_DANE_ST_REMOVING || from == KW_DANE_ST_DEPLOYED;
    default: return 0;
    }
}

/*
 * The one place a rollover's stage is written: checks the transition and
 * the invariants that can be checked here, logs old -> new, and writes
 * the row with its journal row in one transaction.  A change of stage
 * clears stopped and failures.
 */
static int set_state(machine *m, kw_dane_stage to, const char *note,
                     kw_diag *d)
{
    ks_dane_roll *r = m->r;
    kw_dane_stage from = r->id == 0 ? KW_DANE_ST_NONE
                                    : kw_dane_stage_parse(r->stage);
    char old[16];
    int rc;

    if (!allowed(from, to, r->released))
        return kw_diag_set(d, KW_EINVAL,
                           "DANE rollover of \"%s\": refusing %s -> %s "
                           "(not a transition of the machine)", r->cert,
                           kw_dane_stage_name(from), kw_dane_stage_name(to));
    /* Invariant 1: the wait is over before the key may be deployed. */
    if (to == KW_DANE_ST_READY && from != to &&
        (r->wait_until == 0 || m->now < r->wait_until))
        return kw_diag_set(d, KW_EINVAL,
                           "DANE rollover of \"%s\": refusing ready before "
                           "the propagation wait is over", r->cert);
    /* Invariant 3: the probe's proof before DEPLOYED and REMOVING, and
     * the hold before REMOVING. */
    if ((to == KW_DANE_ST_DEPLOYED || to == KW_DANE_ST_REMOVING) &&
        from != to && !m->probed)
        return kw_diag_set(d, KW_EINVAL,
                           "DANE rollover of \"%s\": refusing %s without a "
                           "probe that saw the next key served", r->cert,
                           kw_dane_stage_name(to));
    if (to == KW_DANE_ST_REMOVING && from != to &&
        (r->wait_until == 0 || m->now < r->wait_until))
        return kw_diag_set(d, KW_EINVAL,
                           "DANE rollover of \"%s\": refusing to remove the "
                           "old record before the hold is over", r->cert);
    /* Invariant 6: the next key is never the live one. */
    if (to == KW_DANE_ST_GENERATED && r->old_tlsa[0] != '\0' &&
        strcasecmp(r->tlsa, r->old_tlsa) == 0)
        return kw_diag_set(d, KW_EINVAL,
                           "DANE rollover of \"%s\": refusing a next key "
                           "that is the live one", r->cert);
    /* Invariant 5: nothing but public material in a row. */
    if (to >= KW_DANE_ST_GENERATED && r->tlsa[0] == '\0')
        return kw_diag_set(d, KW_EINVAL,
                           "DANE rollover of \"%s\": no record for the "
                           "next key", r->cert);
    snprintf(old, sizeof(old), "%s", r->id == 0 ? "" : r->stage);
    if (from != to) {
        r->since = m->now;
        r->failures = 0;
        r->stopped[0] = '\0';
        if (to != KW_DANE_ST_VISIBLE && to != KW_DANE_ST_DEPLOYED)
            r->wait_until = 0;
    }
    snprintf(r->stage, sizeof(r->stage), "%s", kw_dane_stage_name(to));
    snprintf(r->waits_for, sizeof(r->waits_for), "%s",
             note != NULL ? note : "");
    if ((rc = ks_dane_roll_save(m->s, r, old, m->now, note, d)) != 0)
        return rc;
    if (from != to)
        kw_info("DANE rollover of %s: %s -> %s%s%s", r->cert,
                old[0] != '\0' ? old : "none", r->stage,
                note != NULL && note[0] != '\0' ? ": " : "",
                note != NULL ? note : "");
    return 0;
}

/* A failed step: the stage stays, why and when to retry are written. */
static int stop(machine *m, const char *why, kw_dane_roll_out *out,
                kw_diag *d)
{
    ks_dane_roll *r = m->r;
    /* A released rollover is probed before READY too: its failure is
     * the probe's (a reload), whatever the stage. */
    int probe = m->probe_failed ||
                (kw_dane_stage_parse(r->stage) >= KW_DANE_ST_READY &&
                 kw_dane_stage_parse(r->stage) <= KW_DANE_ST_DEPLOYED);
    int64_t wait = probe ? PROBE_RETRY_FIRST : RETRY_FIRST;
    int64_t max = probe ? PROBE_RETRY_MAX : RETRY_MAX;
    int rc;

    r->failures++;
    for (int i = 1; i < r->failures && wait < max; i++)
        wait *= 2;
    if (wait > max)
        wait = max;
    snprintf(r->stopped, sizeof(r->stopped), "%s", why);
    r->wait_until = m->now + wait;
    if ((rc = ks_dane_roll_save(m->s, r, r->stage, m->now, why, d)) != 0)
        return rc;
    kw_warn("DANE rollover of %s stopped at %s (attempt %d, retried in %lld "
            "s; %s): %s", r->cert, r->stage, r->failures, (long long)wait,
            probe ? "the old record stays" : "the renewal is held back",
            why);
    out->next_step = r->wait_until;
    return 0;
}

static void owners_of(machine *m)
{
    m->nowners = 0;
    for (size_t i = 0; i < m->p->nhosts && i < OWNERS_MAX; i++)
        snprintf(m->owners[m->nowners++], sizeof(m->owners[0]),
                 "_%d._tcp.%s", m->p->port, m->p->hosts[i]);
}

/* The record of the key in the file at path, or "" when there is none. */
static int tlsa_of_file(const kw_dane_roll_params *p, const char *path,
                        char *buf, size_t cap, kw_diag *d)
{
    EVP_PKEY *k;
    int rc;

    buf[0] = '\0';
    if (path == NULL || access(path, F_OK) != 0)
        return 0;
    if ((k = ks_key_read(path, d)) == NULL)
        return KW_EPARSE;
    rc = kw_dane_key_tlsa(k, p->usage, p->selector, p->mtype, buf, cap, d);
    EVP_PKEY_free(k);
    return rc;
}

static int start(machine *m, const ks_dane_roll *prev, int have_prev,
                 kw_diag *d)
{
    ks_dane_roll *r = m->r;
    size_t off = 0;
    int rc;

    memset(r, 0, sizeof(*r));
    snprintf(r->cert, sizeof(r->cert), "%s", m->p->cert);
    if (snprintf(r->key_path, sizeof(r->key_path), "%s",
                 m->p->next_key_path) >= (int)sizeof(r->key_path))
        return kw_diag_set(d, KW_EINVAL, "%s: the next key's path is too "
                           "long", m->p->cert);
    for (size_t i = 0; i < m->nowners; i++)
        if (kw_str_appendf(r->names, sizeof(r->names), &off, "%s%s",
                           i ? " " : "", m->owners[i]) != 0)
            return kw_diag_set(d, KW_EINVAL, "%s: dane_hosts: the TLSA "
                               "names do not fit the journal", m->p->cert);
    r->started_at = m->now;
    /* The key served now is the one whose record stays until the next
     * key is deployed: the last rollover's, else the live key file's. */
    if (have_prev)
        snprintf(r->old_tlsa, sizeof(r->old_tlsa), "%s", prev->tlsa);
    else if ((rc = tlsa_of_file(m->p, m->p->live_key_path, r->old_tlsa,
                                sizeof(r->old_tlsa), d)) != 0)
        return rc;
    return set_state(m, KW_DANE_ST_GENERATING, "writing the next key", d);
}

static int generate(machine *m, kw_diag *d)
{
    const char *path = m->r->key_path;
    EVP_PKEY *k = NULL;
    ks_key_type t;
    int rc;

    if (access(path, F_OK) == 0) {
        /* Written before a crash: this is the key to announce, unless it
         * is the key the last cycle deployed (its record is old_tlsa):
         * that one is live now and must not be announced as next. */
        char was[160];

        if ((rc = tlsa_of_file(m->p, path, was, sizeof(was), d)) != 0)
            return rc;
        if (m->r->old_tlsa[0] != '\0' && strcmp(was, m->r->old_tlsa) == 0) {
            if (unlink(path) != 0)
                return kw_diag_set(d, kw_errno(), "removing %s (the key "
                                   "already deployed) failed", path);
        } else if ((k = ks_key_read(path, d)) == NULL) {
            return KW_EPARSE;
        }
    }
    if (k == NULL) {
        if (ks_key_type_parse(m->p->key_type != NULL ? m->p->key_type
                                                     : "ec256", &t) != 0)
            return kw_diag_set(d, KW_EINVAL, "certificate \"%s\": key type "
                               "\"%s\" unknown", m->p->cert,
                               m->p->key_type);
        if ((k = ks_keygen(t, d)) == NULL)
            return KW_ECRYPTO;
        if ((rc = ks_key_write(path, k, 0600, (gid_t)-1, d)) != 0) {
            EVP_PKEY_free(k);
            return rc;
        }
        die_point("dane-key-written");
    }
    rc = kw_dane_key_tlsa(k, m->p->usage, m->p->selector, m->p->mtype,
                          m->r->tlsa, sizeof(m->r->tlsa), d);
    EVP_PKEY_free(k);
    if (rc != 0)
        return rc;
    return set_state(m, KW_DANE_ST_GENERATED, "", d);
}

/* Every owner's add (add=1) of both records, or removal of the old. */
static int send_all(machine *m, int add, kw_diag *d)
{
    int rc;

    for (size_t i = 0; i < m->nowners; i++) {
        if (add) {
            if ((rc = m->dns->update(m->dns->ctx, 1, m->owners[i],
                                     m->r->tlsa, m->p->ttl, d)) != 0)
                return rc;
            if (m->r->old_tlsa[0] != '\0' &&
                (rc = m->dns->update(m->dns->ctx, 1, m->owners[i],
                                     m->r->old_tlsa, m->p->ttl, d)) != 0)
                return rc;
        } else if ((rc = m->dns->update(m->dns->ctx, 0, m->owners[i],
                                        m->r->old_tlsa, m->p->ttl, d)) != 0)
            return rc;
    }
    return 0;
}

static int seen_all(machine *m, int removal, int64_t *neg, kw_diag *d)
{
    int64_t t;
    int rc;

    *neg = 0;
    for (size_t i = 0; i < m->nowners; i++) {
        if (removal) {
            if ((rc = m->dns->visible(m->dns->ctx, m->owners[i],
                                      m->r->old_tlsa, 0, d)) != 0)
                return rc;
            continue;
        }
        if ((rc = m->dns->visible(m->dns->ctx, m->owners[i], m->r->tlsa, 1,
                                  d)) != 0 ||
            (m->r->old_tlsa[0] != '\0' &&
             (rc = m->dns->visible(m->dns->ctx, m->owners[i],
                                   m->r->old_tlsa, 1, d)) != 0) ||
            (rc = m->dns->negative_ttl(m->dns->ctx, m->owners[i], &t, d)) !=
                0)
            return rc;
        if (t > *neg)
            *neg = t;
    }
    return 0;
}

/* 1 when the live key file holds the next key: the renewal deployed it
 * (0 when not, or when there is no live key yet). */
static int live_is_next(machine *m, kw_diag *d)
{
    char live[160];
    int rc;

    if ((rc = tlsa_of_file(m->p, m->p->live_key_path, live, sizeof(live),
                           d)) != 0)
        return rc;
    return live[0] != '\0' && strcasecmp(live, m->r->tlsa) == 0;
}

/* The probe of every dane host for the next key: 0 (m->probed set), or
 * KW_ENOTFOUND and friends with the address that serves another key in
 * d. */
static int probe_all(machine *m, kw_diag *d)
{
    int rc;

    for (size_t i = 0; i < m->p->nhosts && i < OWNERS_MAX; i++)
        if ((rc = m->dns->served(m->dns->ctx, m->p->hosts[i], m->p->port,
                                 m->r->tlsa, d)) != 0)
            return rc;
    m->probed = 1;
    return 0;
}

/* The renewal may have deployed the next key (READY, or a released
 * stage): when the live key file holds it and the probe sees it served,
 * DEPLOYED with the hold.  *moved says whether the stage changed; a
 * probe that sees another key stops the rollover here with why. */
static int check_deployed(machine *m, kw_dane_roll_out *out, int *moved,
                          kw_diag *d)
{
    char why[600];
    int rc;

    *moved = 0;
    if (m->dns->served == NULL)
        return 0;
    if ((rc = live_is_next(m, d)) <= 0)
        return rc;
    if ((rc = probe_all(m, d)) != 0) {
        snprintf(why, sizeof(why), "the reload did not happen: the renewal "
                 "deployed the next key, but %.400s; the old record stays "
                 "until the next key is served", d != NULL ? d->msg
                                                           : kw_strerror(rc));
        m->probe_failed = 1;
        return stop(m, why, out, d);
    }
    m->r->wait_until = now_seen(m) + m->p->ttl;
    *moved = 1;
    return set_state(m, KW_DANE_ST_DEPLOYED,
                     m->r->released ? "deployed by the operator's release, "
                                      "served at every address (probe)"
                                    : "served at every address (probe); "
                                      "the old record stays one TTL more",
                     d);
}

/* The lock of dane_roll.h on NEXT_KEY_PATH.lock into *fd: 0, KW_EBUSY
 * when another runner holds it, else KW_E* with d. */
static int lock_take(const char *key_path, int *fd, kw_diag *d)
{
    char path[1100];
    int rc;

    *fd = -1;
    snprintf(path, sizeof(path), "%s.lock", key_path);
    if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return kw_diag_set(d, kw_errno(), "%s: cannot open the rollover's "
                           "lock: %s", path, kw_strerror(kw_errno()));
    /* Most steps of another runner take milliseconds (a stage written):
     * wait for it a little rather than look again a minute later; one
     * that polls DNS or probes holds it longer, and we leave it be. */
    for (int i = 0; i < LOCK_WAIT_MS / 50; i++) {
        if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK)
            break;
        poll(NULL, 0, 50);
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    rc = errno == EWOULDBLOCK
             ? kw_diag_set(d, KW_EBUSY, "%s: another run advances this "
                           "DANE rollover", path)
             : kw_diag_set(d, kw_errno(), "%s: cannot lock: %s", path,
                           kw_strerror(kw_errno()));
    close(*fd);
    *fd = -1;
    return rc;
}

static void lock_drop(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

static int roll_step(machine *m, kw_dane_roll_out *out, kw_diag *d);

int kw_dane_roll_step(ks_store *s, const kw_dane_roll_params *p,
                      const kw_dane_roll_dns *dns, int64_t now,
                      kw_dane_roll_out *out, kw_diag *d)
{
    machine m = {.s = s, .p = p, .dns = dns, .now = now, .r = &out->roll};
    int rc, fd;

    memset(out, 0, sizeof(*out));
    clock_gettime(CLOCK_MONOTONIC, &m.t0);
    if ((rc = kw_dane_roll_params_check(p, d)) != 0)
        return rc;
    owners_of(&m);
    if ((rc = lock_take(p->next_key_path, &fd, d)) != 0) {
        if (rc != KW_EBUSY)
            return rc;
        /* Another runner advances it now: the row as it stands. */
        kw_info("DANE rollover of %s: another run holds its lock; looking "
                "again in %d s", p->cert, LOCK_RETRY);
        out->next_step = now + LOCK_RETRY;
        return ks_dane_roll_latest(s, p->cert, &out->roll, &out->found, d);
    }
    rc = roll_step(&m, out, d);
    lock_drop(fd);
    return rc;
}

static int roll_step(machine *m_, kw_dane_roll_out *out, kw_diag *d)
{
    machine m = *m_;
    const kw_dane_roll_params *p = m.p;
    const kw_dane_roll_dns *dns = m.dns;
    ks_store *s = m.s;
    int64_t now = m.now;
    ks_dane_roll prev;
    char why[600], note[300], when[32];
    int64_t neg;
    int rc, started = 0, moved;

    if ((rc = ks_dane_roll_latest(s, p->cert, &out->roll, &out->found, d)) !=
        0)
        return rc;
    for (;;) {
        kw_dane_stage st = out->found ? kw_dane_stage_parse(out->roll.stage)
                                      : KW_DANE_ST_NONE;

        if (out->roll.stopped[0] != '\0' && now < out->roll.wait_until) {
            out->next_step = out->roll.wait_until;
            return 0;
        }
        why[0] = '\0';
        /* Released by the operator: the renewal may have deployed the
         * next key before READY. */
        if (out->roll.released && st >= KW_DANE_ST_GENERATED &&
            st <= KW_DANE_ST_VISIBLE) {
            int f0 = out->roll.failures;

            if ((rc = check_deployed(&m, out, &moved, d)) != 0 ||
                out->roll.failures != f0)
                return rc;
            if (moved)
                continue;
        }
        switch (st) {
        case KW_DANE_ST_NONE:
        case KW_DANE_ST_DONE:
            /* One new cycle per call: a DONE reached in this call starts
             * the next at once, never a second in a loop. */
            if (started)
                return 0;
            prev = out->roll;
            if ((rc = start(&m, &prev, out->found, d)) != 0)
                return rc;
            out->found = started = 1;
            break;
        case KW_DANE_ST_GENERATING:
            if ((rc = generate(&m, d)) != 0)
                return rc;
            break;
        case KW_DANE_ST_GENERATED:
            if ((rc = set_state(&m, KW_DANE_ST_PUBLISHING,
                                "sending the TLSA records", d)) != 0)
                return rc;
            break;
        case KW_DANE_ST_PUBLISHING:
            if ((rc = send_all(&m, 1, d)) != 0) {
                snprintf(why, sizeof(why), "publishing the TLSA record: %s",
                         d != NULL ? d->msg : kw_strerror(rc));
                return stop(&m, why, out, d);
            }
            die_point("dane-update-sent");
            if ((rc = set_state(&m, KW_DANE_ST_PUBLISHED,
                                "waiting for every authoritative server",
                                d)) != 0)
                return rc;
            break;
        case KW_DANE_ST_PUBLISHED:
            if ((rc = seen_all(&m, 0, &neg, d)) != 0) {
                snprintf(why, sizeof(why), "the TLSA records are not served "
                         "everywhere: %s", d != NULL ? d->msg
                                                     : kw_strerror(rc));
                return stop(&m, why, out, d);
            }
            out->roll.wait_until = now_seen(&m) + 2 * (int64_t)p->ttl + neg;
            kw_time_rfc3339(out->roll.wait_until, when, sizeof(when));
            snprintf(note, sizeof(note), "2 x TTL %d + negative TTL %lld: "
                     "the next key may be deployed from %s", p->ttl,
                     (long long)neg, when);
            if ((rc = set_state(&m, KW_DANE_ST_VISIBLE, note, d)) != 0)
                return rc;
            break;
        case KW_DANE_ST_VISIBLE:
            if (now < out->roll.wait_until) {
                out->next_step = out->roll.wait_until;
                return 0;
            }
            if ((rc = set_state(&m, KW_DANE_ST_READY,
                                "waiting for the renewal", d)) != 0)
                return rc;
            break;
        case KW_DANE_ST_READY:
            if ((rc = check_deployed(&m, out, &moved, d)) != 0 || !moved)
                return rc;
            break;
        case KW_DANE_ST_DEPLOYED:
            if (out->roll.old_tlsa[0] == '\0') {
                if ((rc = set_state(&m, KW_DANE_ST_DONE, "", d)) != 0)
                    return rc;
                break;
            }
            if (now < out->roll.wait_until) {
                out->next_step = out->roll.wait_until;
                return 0;
            }
            if (dns->served == NULL)
                return 0; /* a runner that can probe removes it */
            if ((rc = probe_all(&m, d)) != 0) {
                snprintf(why, sizeof(why), "the next key is no longer "
                         "served everywhere: %.400s; the old record stays",
                         d != NULL ? d->msg : kw_strerror(rc));
                return stop(&m, why, out, d);
            }
            if ((rc = set_state(&m, KW_DANE_ST_REMOVING,
                                "removing the old key's record", d)) != 0)
                return rc;
            break;
        case KW_DANE_ST_REMOVING:
            if ((rc = send_all(&m, 0, d)) != 0) {
                snprintf(why, sizeof(why), "removing the old TLSA record: "
                         "%s", d != NULL ? d->msg : kw_strerror(rc));
                return stop(&m, why, out, d);
            }
            die_point("dane-removal-sent");
            if ((rc = seen_all(&m, 1, &neg, d)) != 0) {
                snprintf(why, sizeof(why), "the old TLSA record is still "
                         "served: %s", d != NULL ? d->msg
                                                 : kw_strerror(rc));
                return stop(&m, why, out, d);
            }
            if ((rc = set_state(&m, KW_DANE_ST_DONE, "", d)) != 0)
                return rc;
            break;
        }
    }
}

/* r's next key handed to the renewal in key_path: 1 when the file still
 * holds the key whose record was announced (r->tlsa, with its own
 * usage, selector and matching type), else KW_E* with d: a key put
 * there by hand would be deployed with no record a DANE sender can
 * match. */
static int hand_over(const kw_dane_roll_params *p, const ks_dane_roll *r,
                     char *key_path, size_t cap, kw_diag *d)
{
    char rec[160] = "";
    int u, sel, mt, rc;
    EVP_PKEY *k;

    if (sscanf(r->tlsa, "%d %d %d", &u, &sel, &mt) != 3)
        return kw_diag_set(d, KW_EINVAL, "certificate \"%s\": the "
                           "rollover's record \"%.100s\" is no TLSA record",
                           p->cert, r->tlsa);
    if (access(r->key_path, F_OK) == 0) {
        if ((k = ks_key_read(r->key_path, d)) == NULL)
            return KW_EPARSE;
        rc = kw_dane_key_tlsa(k, u, sel, mt, rec, sizeof(rec), d);
        EVP_PKEY_free(k);
        if (rc != 0)
            return rc;
    }
    if (strcasecmp(rec, r->tlsa) != 0)
        return kw_diag_set(d, KW_EINVAL, "certificate \"%s\": %s %s, not "
                           "the key whose TLSA record was announced (%s); "
                           "refusing to deploy it: put the announced key "
                           "back", p->cert, r->key_path,
                           rec[0] != '\0' ? "holds another key" : "is gone",
                           r->tlsa);
    if (snprintf(key_path, cap, "%s", r->key_path) >= (int)cap)
        return kw_diag_set(d, KW_ETOOBIG, "%s: the next key's path does not "
                           "fit in %zu bytes", r->key_path, cap);
    return 1;
}

int kw_dane_roll_may_deploy(ks_store *s, const kw_dane_roll_params *p,
                            int64_t now, char *key_path, size_t cap,
                            kw_diag *d)
{
    ks_dane_roll r;
    kw_dane_stage st;
    int found, rc;

    (void)now;
    if ((rc = ks_dane_roll_latest(s, p->cert, &r, &found, d)) != 0)
        return rc;
    st = found ? kw_dane_stage_parse(r.stage) : KW_DANE_ST_NONE;
    if (st == KW_DANE_ST_READY)
        return hand_over(p, &r, key_path, cap, d);
    if ((r.released || p->release) && st >= KW_DANE_ST_GENERATED &&
        st <= KW_DANE_ST_VISIBLE) {
        kw_warn("DANE rollover of %s RELEASED by the operator: deploying "
                "the next key at stage %s, before its TLSA record was "
                "seen long enough; DANE senders may fail to deliver until "
                "every resolver has it", p->cert, r.stage);
        return hand_over(p, &r, key_path, cap, d);
    }
    if (found && r.stopped[0] != '\0')
        kw_diag_set(d, 0, "held back: the DANE rollover stopped at %s: "
                    "%.400s", r.stage, r.stopped);
    else if (found && st < KW_DANE_ST_DEPLOYED)
        kw_diag_set(d, 0, "held back: the next key's TLSA record is %s%s"
                    "%.400s", r.stage, r.waits_for[0] != '\0' ? ": " : "",
                    r.waits_for);
    else
        kw_diag_set(d, 0, "held back: the next key's TLSA record is not "
                    "announced yet (%s)", found ? r.stage : "no rollover");
    return 0;
}

int kw_dane_roll_deployed(ks_store *s, const kw_dane_roll_params *p,
                          const char *key_path, int64_t now, kw_diag *d)
{
    machine m = {.s = s, .p = p, .now = now};
    ks_dane_roll r;
    int found, rc, fd;

    if ((rc = lock_take(p->next_key_path, &fd, d)) != 0)
        return rc;
    rc = ks_dane_roll_latest(s, p->cert, &r, &found, d);
    if (rc == 0 && (!found || strcmp(r.key_path, key_path) != 0))
        rc = kw_diag_set(d, KW_EINVAL,
                         "certificate \"%s\": %s is not the announced "
                         "next key", p->cert, key_path);
    if (rc == 0) {
        if (p->release)
            r.released = 1;
        m.r = &r;
        m.probed = 1; /* the caller's probe, as this function's contract */
        r.wait_until = now + p->ttl;
        rc = set_state(&m, KW_DANE_ST_DEPLOYED,
                       r.released ? "deployed by the operator's release"
                                  : "served, probe verified", d);
    }
    lock_drop(fd);
    return rc;
}

int kw_dane_roll_release(ks_store *s, const char *cert, int64_t now,
                         kw_diag *d)
{
    ks_dane_roll r;
    int found, rc, fd = -1;

    if ((rc = ks_dane_roll_latest(s, cert, &r, &found, d)) != 0)
        return rc;
    if (!found || kw_dane_stage_parse(r.stage) >= KW_DANE_ST_DEPLOYED)
        return kw_diag_set(d, KW_ENOTFOUND,
                           "certificate \"%s\": no DANE rollover waits to "
                           "be released", cert);
    /* Read again under the lock: a runner may have moved it meanwhile. */
    if ((rc = lock_take(r.key_path, &fd, d)) != 0)
        return rc;
    if ((rc = ks_dane_roll_latest(s, cert, &r, &found, d)) == 0 &&
        (!found || kw_dane_stage_parse(r.stage) >= KW_DANE_ST_DEPLOYED))
        rc = kw_diag_set(d, KW_ENOTFOUND,
                         "certificate \"%s\": no DANE rollover waits to be "
                         "released", cert);
    if (rc == 0) {
        r.released = 1;
        kw_warn("DANE rollover of %s released by the operator at stage %s: "
                "the renewal deploys the next key without waiting for its "
                "TLSA record", cert, r.stage);
        rc = ks_dane_roll_save(s, &r, r.stage, now,
                               "RELEASED by the operator", d);
    }
    lock_drop(fd);
    return rc;
}

void kw_dane_roll_health_of(const ks_dane_roll *r, int found,
                            const kw_dane_roll_params *p, int64_t now,
                            kw_dane_roll_health *h)
{
    int64_t before = p->critical_before > 0 ? p->critical_before
                                            : CRITICAL_BEFORE;

    memset(h, 0, sizeof(*h));
    h->health = KS_HEALTH_OK;
    if (!found)
        return;
    if (r->released && kw_dane_stage_parse(r->stage) < KW_DANE_ST_DEPLOYED) {
        h->health = KS_HEALTH_WARNING;
        snprintf(h->reason, sizeof(h->reason), "released by the operator at "
                 "%s: the next key may be served before its record", r->stage);
        return;
    }
    if (r->stopped[0] == '\0') {
        char at[32];

        snprintf(h->reason, sizeof(h->reason), "%.500s", r->waits_for);
        /* Waiting is normal, one cycle ahead of the renewal; still
         * waiting this close to the expiry means the renewal is held
         * back by the wait: a warning, critical when the wait outlasts
         * the certificate. */
        if (p->not_after == 0 || now < p->not_after - before ||
            kw_dane_stage_parse(r->stage) >= KW_DANE_ST_READY)
            return;
        h->health = r->wait_until >= p->not_after ? KS_HEALTH_CRITICAL
                                                   : KS_HEALTH_WARNING;
        kw_time_rfc3339(p->not_after, at, sizeof(at));
        snprintf(h->reason, sizeof(h->reason), "the certificate expires at "
                 "%s and its renewal is held back until the next key's "
                 "record is announced: %.400s", at, r->waits_for);
        return;
    }
    h->health = p->not_after != 0 && now >= p->not_after - before
                    ? KS_HEALTH_CRITICAL : KS_HEALTH_WARNING;
    snprintf(h->reason, sizeof(h->reason), "stopped at %s after %d "
             "attempt(s)%s: %.500s", r->stage, r->failures,
             kw_dane_stage_parse(r->stage) < KW_DANE_ST_READY &&
                     !r->released
                 ? ", the renewal held back" : "",
             r->stopped);
}
