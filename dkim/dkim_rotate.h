/*
 * dkim_rotate.h: DKIM selector rotation, one durable stage per new key.
 *
 * A [dkim "DOMAIN"] section with rotate = is managed: keywarden makes its
 * keys.  kw_dkim_rotate_step() advances the domain's rotation as far as it
 * can now (a new key, its record sent, seen on every authoritative server,
 * the negative-caching wait) and says what it waits for; each stage and its
 * journal row are written in one transaction (keystore/ks_dkim_rot.h), the
 * intent before the effect, so a run killed at any point resumes without a
 * second key or a second publication.  The stages and invariants are
 * written above the state machine in dkim_rotate.c.  kw_dkim_rotate_many
 * advances many domains through the same stages in phases (every update
 * sent, then the visibility of all names polled together, then one
 * signer switch per set of signer files), so a thousand domains cost
 * one secondary transfer round, not one each.
 *
 * Lifetimes: kw_dkim_rot_params is a plain value owned by the caller
 * (service/config.c fills it; kw_dkim_rot_params_free).  The DNS work goes
 * through kw_dkim_rot_dns (NULL: the real one, dns/dns_update.h), so the
 * state machine can be walked in tests with a fake publisher and a clock
 * passed in.  Every function here BLOCKS (key generation, the database,
 * DNS waits bounded by timeout_ms): the daemon calls it on the pool.
 *
 * Test seam: with KEYWARDEN_TEST_DIE_AT set to a point's name
 * ("key-written", "update-sent", "signer-mid-switch" (dkim_signer.c:
 * OpenDKIM's KeyTable written with both keys, the SigningTable not yet),
 * "signer-switched", "reload-seen" (the signer's reload proven and its
 * files read back, RETIRED not yet written), "removal-sent",
 * "abort-sent") the process stops itself
 * with SIGKILL right after that effect and before its stage is written,
 * as kill -9 would; integration tests use it to check the resume.
 */
#ifndef KW_DKIM_ROTATE_H
#define KW_DKIM_ROTATE_H

#include "../common/kw_err.h"
#include "../keystore/ks_dkim_rot.h"

#include <stddef.h>
#include <stdint.h>

typedef enum kw_dkim_publish {
    KW_DKIM_PUBLISH_UPDATE = 0, /* RFC 2136 to dns_server, TSIG */
    KW_DKIM_PUBLISH_EXEC,       /* dns_exec: PROG add|remove NAME VALUE */
    KW_DKIM_PUBLISH_MANUAL,     /* the operator publishes what we print */
} kw_dkim_publish;

/* One managed [dkim "DOMAIN"] section. */
typedef struct kw_dkim_rot_params {
    char *domain;
    char *selector;       /* template: strftime's %Y %m %d of the start;
                           * with zone, %n the slot number (1..slots); a
                           * dual section's %a is already its track's
                           * letter (r, e) here (service/config_dkim.c) */
    char *zone;           /* NULL; else the dedicated zone the records
                           * live in (zone = dkim.example.net): the mail
                           * domain carries one CNAME per slot to it, and
                           * dns_server, dns_zone, tsig_* and dns_exec
                           * publish in it */
    int slots;            /* with zone: the fixed selectors, 2..8 */
    char *key_dir;        /* where new keys are written */
    char *group;          /* NULL: keys 0600; else 0640 for this group */
    char *key_type;       /* "rsa2048" (default), "rsa3072", "ed25519" */
    /* KS_DKIM_TRACK_ANY for a section with one key_type; a dual section
     * (key_type = rsa2048+ed25519, rsa3072+ed25519) is two of these,
     * made by the configuration: KS_DKIM_TRACK_RSA with the RSA key type
     * and KS_DKIM_TRACK_ED25519 with ed25519, each its own rotations
     * (ks_dkim_rot.h), selector (its template's %a replaced by r or e)
     * and signer files (opendkim_conf: the instance of its algorithm). */
    int track;
    int64_t rotate;       /* seconds between rotations */
    int64_t drain;        /* old record kept after the switch; 7 days */
    int64_t margin;       /* added to the propagation wait; 1 hour */
    int64_t max_age;      /* [dkim] max_age: health turns critical as the
                           * key that signs nears it; 0: none */
    int ttl;              /* the record's TTL; 3600 */
    kw_dkim_publish publish;
    char *dns_server;     /* primary, "ADDR[:PORT]" */
    char *dns_zone;       /* NULL: found by SOA queries */
    char *tsig_key, *tsig_algorithm, *tsig_secret;
    char **dns_exec;      /* argv, NULL-terminated */
    char *resolver;       /* asked for NS when there is no dns_server;
                           * NULL: /etc/resolv.conf's ([dkim] resolver) */
    /* The signer switched at *active* (dkim_signer.h): 0 none (the
     * rotation waits at propagated), else a kw_dkim_signer_kind. */
    int signer;
    char *opendkim_conf;  /* [dkim] opendkim_conf; NULL: Debian's */
    char *selector_map, *path_map; /* rspamd's maps */
    char *rspamd_conf;    /* rspamd.conf for configtest; NULL: default */
    char **signer_exec;   /* argv, NULL-terminated: + DOMAIN SEL KEY */
    int retire_revoke;    /* retire = revoke: p= emptied, not removed */
    int delete_old_key;   /* old_key = delete (else archive) */
    char **dns_check;     /* "ADDR[:PORT]", NULL-terminated: servers the
                           * visibility check asks besides the zone's NS
                           * set (a hidden secondary, an anycast node) */
    int dns_port;         /* the authoritative servers' port; 0: 53 */
    int timeout_ms;       /* each DNS exchange or wait; 0: 10 s */
    int line;             /* the section's line in keywarden.conf */
} kw_dkim_rot_params;

void kw_dkim_rot_params_defaults(kw_dkim_rot_params *p);
/* How a section's rotations are named to the operator: "example.com",
 * or for a dual section's tracks "example.com (rsa2048)" and
 * "example.com (ed25519)".  Returns buf. */
const char *kw_dkim_rot_label(const kw_dkim_rot_params *p, char *buf,
                              size_t cap);
void kw_dkim_rot_params_free(kw_dkim_rot_params *p);
/* Deep copy; 0 or KW_ENOMEM (dst then holds the defaults). */
int kw_dkim_rot_params_copy(kw_dkim_rot_params *dst,
                            const kw_dkim_rot_params *src);

struct kw_dkim_params;

/* The DNS side of a rotation.  Each returns 0 or KW_E* with d. */
typedef struct kw_dkim_rot_dns {
    /* Add (add=1) or remove (add=0) the TXT value at name. */
    int (*update)(void *ctx, const kw_dkim_rot_params *p, int add,
                  const char *name, const char *value, kw_diag *d);
    /* 0 when every authoritative server serves exactly value at name
     * (value NULL: no TXT there); KW_ETIMEDOUT naming those that do not.
     * On 0, d->msg may hold a note (servers this host could not reach,
     * not asked), else it is left empty. */
    int (*visible)(void *ctx, const kw_dkim_rot_params *p, const char *name,
                   const char *value, kw_diag *d);
    /* The zone's negative-caching time (kw_dns_soa_negative_ttl). */
    int (*negative_ttl)(void *ctx, const kw_dkim_rot_params *p,
                        int64_t *ttl, kw_diag *d);
    void *ctx;
    /* visible's one-look form, for kw_dkim_rotate_many's rounds: each
     * server asked once, no waiting; 0 or KW_ETIMEDOUT (not yet) as
     * visible.  NULL: kw_dkim_rotate_many calls visible, one domain
     * after the other. */
    int (*look)(void *ctx, const kw_dkim_rot_params *p, const char *name,
                const char *value, kw_diag *d);
    /* With zone: 0 when every authoritative server of the mail domain
     * serves name as a CNAME to target; KW_ETIMEDOUT naming those that
     * do not (what they answered); another KW_E* when the servers cannot
     * be found.  One look at each server, no waiting.  NULL: the real
     * one (kw_dkim_cname_check). */
    int (*cname)(void *ctx, const kw_dkim_rot_params *p, const char *name,
                 const char *target, kw_diag *d);
} kw_dkim_rot_dns;

/* The stages, in order (dkim_rotate.c has the transitions). */
typedef enum kw_dkim_stage {
    KW_DKIM_ST_NONE = 0,
    KW_DKIM_ST_GENERATING, /* intent: the key file is being written */
    KW_DKIM_ST_GENERATED,
    KW_DKIM_ST_PUBLISHING, /* intent: the record is being sent */
    KW_DKIM_ST_PUBLISHED,
    KW_DKIM_ST_VISIBLE,
    KW_DKIM_ST_PROPAGATED,
    KW_DKIM_ST_ACTIVE,
    KW_DKIM_ST_RETIRED,
    KW_DKIM_ST_REMOVING,   /* intent: the old record is being removed */
    KW_DKIM_ST_REMOVED,
    KW_DKIM_ST_REVOKED,
    KW_DKIM_ST_ABORTING,   /* intent: the new record is being taken back */
    KW_DKIM_ST_ABORTED,    /* taken back; the old key kept signing */
    KW_DKIM_ST_COUNT
} kw_dkim_stage;

const char *kw_dkim_stage_name(kw_dkim_stage s);
/* The stage of a name; KW_DKIM_ST_NONE for one that is not a stage. */
kw_dkim_stage kw_dkim_stage_parse(const char *name);

/* What one call did and where the rotation stands. */
typedef struct kw_dkim_rot_out {
    ks_dkim_rot rot;      /* the rotation after the call (id 0: none) */
    int changes;          /* stage changes made by this call */
    int waiting;          /* 1: waits (for waits_for, until wait_until) */
    int stopped;          /* 1: a step failed; rot.stopped says why */
    /* For publish = manual: the record the operator must publish. */
    char manual_name[340];
} kw_dkim_rot_out;

enum {
    KW_DKIM_ROT_START = 1, /* start a rotation now even when not due */
    KW_DKIM_ROT_RETRY = 2, /* retry a stopped step now, not at its time */
};

/* Advance p->domain's rotation as far as it can at time now.  Starts one
 * when none runs and the last started rotate ago (or never), or with
 * KW_DKIM_ROT_START.  A failing step is not an error of the call: it
 * stops the rotation there (out->stopped, rot.stopped says why; retried
 * after a backoff); the call fails only when the database does.  dns
 * NULL: the real DNS. */
int kw_dkim_rotate_run(ks_store *s, const kw_dkim_rot_params *p,
                       const kw_dkim_rot_dns *dns, int flags, int64_t now,
                       kw_dkim_rot_out *out, kw_diag *d);

/* The managed section of domain's track among params' sections (track
 * KS_DKIM_TRACK_ANY: its first), or NULL. */
const kw_dkim_rot_params *kw_dkim_rot_section(
    const struct kw_dkim_params *params, const char *domain, int track);

/* The section a stored rotation r belongs to: its domain's, and of a
 * dual section the track of its key type; NULL when none is. */
const kw_dkim_rot_params *kw_dkim_rot_section_of(
    const struct kw_dkim_params *params, const ks_dkim_rot *r);

/* The same for the managed section of domain among params' sections
 * (KW_ENOTFOUND when domain has none), with the real DNS.  A dual
 * section: its first track only; `keywarden dkim rotate` runs each
 * track with kw_dkim_rotate_run. */
int kw_dkim_rotate_step(ks_store *s, const struct kw_dkim_params *params,
                        const char *domain, int flags, int64_t now,
                        kw_dkim_rot_out *out, kw_diag *d);

/* Advance n sections' rotations together (outs[n]): publications
 * first, then visibility polled for all together, and the domains
 * that reach PROPAGATED with the same signer files switched in one
 * kw_dkim_signer_switch_many, so the hooks reload once.  Each domain
 * keeps kw_dkim_rotate_run's rules: a failing step stops that domain
 * alone (outs[i].stopped); the call fails only when the database does.
 * The keys are made on up to 16 threads of the call's own; dns NULL:
 * the real DNS, its updates and looks on those threads too (a round trip
 * each); a caller's dns is called on the calling thread only.  s is used
 * on the calling thread only. */
int kw_dkim_rotate_many(ks_store *s, const kw_dkim_rot_params *const *ps,
                        size_t n, const kw_dkim_rot_dns *dns, int flags,
                        int64_t now, kw_dkim_rot_out *outs, kw_diag *d);

/* Where kw_dkim_rotate_many's time went, in seconds of the monotonic
 * clock: making the keys, sending the updates, polling until visible,
 * switching the signers (and the database work between them in the
 * phase that follows it).  For benchmarks and the daemon's log. */
typedef struct kw_dkim_rot_times {
    double keys, publish, visible, signer;
} kw_dkim_rot_times;

/* kw_dkim_rotate_many, with t (may be NULL) filled. */
int kw_dkim_rotate_many_timed(ks_store *s,
                              const kw_dkim_rot_params *const *ps, size_t n,
                              const kw_dkim_rot_dns *dns, int flags,
                              int64_t now, kw_dkim_rot_out *outs,
                              kw_dkim_rot_times *t, kw_diag *d);

/* Every managed section of params (outs: params->nrot entries), with
 * the real DNS. */
int kw_dkim_rotate_all(ks_store *s, const struct kw_dkim_params *params,
                       int flags, int64_t now, kw_dkim_rot_out *outs,
                       kw_diag *d);

/* Take p->domain's running rotation back (`keywarden dkim abort`): only
 * one that has not reached ACTIVE (KW_EINVAL saying why otherwise;
 * KW_ENOTFOUND when none runs).  The new record is removed when it was
 * or may have been published and seen gone on every authoritative server,
 * the new key file archived (or deleted with old_key = delete), then the
 * rotation is ABORTED; the old key never stopped signing.  A failing step
 * stops the abort as kw_dkim_rotate_run's steps stop (out->stopped); a
 * later run or abort resumes it.  dns NULL: the real DNS. */
int kw_dkim_rotate_abort_run(ks_store *s, const kw_dkim_rot_params *p,
                             const kw_dkim_rot_dns *dns, int64_t now,
                             kw_dkim_rot_out *out, kw_diag *d);

/* The same for the managed section of domain among params' sections. */
int kw_dkim_rotate_abort(ks_store *s, const struct kw_dkim_params *params,
                         const char *domain, int64_t now,
                         kw_dkim_rot_out *out, kw_diag *d);

/* A managed domain's health, as `list`, `check` and `dkim status` say it. */
typedef struct kw_dkim_rot_health {
    int health;            /* ks_health: KS_HEALTH_OK/WARNING/CRITICAL */
    char reason[600];      /* where it stopped and why, or "" */
    char fix[300];         /* what the operator does, or "" */
    int64_t next_rotation; /* when the next one starts (0: unknown) */
    int64_t next_step;     /* when the machine should run again (0: not
                            * before the next rotation) */
} kw_dkim_rot_health;

/* r the domain's newest rotation (found 0: none yet).  Pure: no database,
 * no clock but now.  The rules are written above the function in
 * dkim_rotate.c. */
void kw_dkim_rot_health_of(const ks_dkim_rot *r, int found,
                           const kw_dkim_rot_params *p, int64_t now,
                           kw_dkim_rot_health *h);

/* The selector template expanded at now: strftime with %Y %m %d %H and %%
 * only (anything else is KW_EINVAL), a DNS label.  For config checks. */
int kw_dkim_selector_expand(const char *tmpl, int64_t now, char *out,
                            size_t cap, kw_diag *d);

/* The same with %n as slot (1..8; 0: %n is refused, as without zone =). */
int kw_dkim_selector_expand_slot(const char *tmpl, int64_t now, int slot,
                                 char *out, size_t cap, kw_diag *d);

/* ---- a dedicated zone (zone = ) ------------------------------------- */

/* Slot slot's (1..p->slots) one-time record at the mail domain: the
 * CNAME's owner (SELECTOR._domainkey.DOMAIN) and target (the same name
 * with the dedicated zone appended), each without the final dot.  0, or
 * KW_EINVAL (no zone =, a bad slot, a name too long). */
int kw_dkim_slot_cname(const kw_dkim_rot_params *p, int slot, char *owner,
                       size_t ocap, char *target, size_t tcap, kw_diag *d);

/* Where the TXT record of selector lives: SELECTOR._domainkey.DOMAIN, and
 * with zone = that name under the dedicated zone. */
void kw_dkim_txt_name(const kw_dkim_rot_params *p, const char *selector,
                      char *buf, size_t cap);

/*
 * The slot a new rotation of p->domain takes, from the domain's rotations
 * v[0..n) (oldest first) at now: the slot not in use whose previous key
 * was removed (or revoked, or aborted) longest ago, and only once that is
 * p->ttl + neg_ttl + p->margin in the past (no resolver can still hold the
 * old key for the name).  0 with the selector in sel; 1 when none is free
 * yet, *when the time one will be (0: not known, it waits on a rotation
 * still running) and why in words; KW_E* for a bad template.  Pure.
 */
int kw_dkim_slot_choose(const kw_dkim_rot_params *p, const ks_dkim_rot *v,
                        size_t n, int64_t neg_ttl, int64_t now, char *sel,
                        size_t cap, int64_t *when, char *why, size_t wcap,
                        kw_diag *d);

/* The real CNAME check of kw_dkim_rot_dns.cname: the mail domain's zone
 * and authoritative servers found through p->resolver (else the
 * system's), each asked once. */
int kw_dkim_cname_check(void *ctx, const kw_dkim_rot_params *p,
                        const char *name, const char *target, kw_diag *d);

#endif
