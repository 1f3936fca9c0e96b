/*
 * ks_dkim_rot.h: DKIM selector rotations and their journal.
 *
 * A rotation is one new key of a managed [dkim "DOMAIN"] walked through
 * the stages dkim/dkim_rotate.h defines; this module only stores them.
 * dkim_rotations holds one row per new key: its selector (one running
 * rotation per selector and domain, schema 14: without zone =
 * dkim_rotate.c never uses a selector twice, with it a slot's selector
 * is reused once the slot is free),
 * key file, record (public material only), the selector it replaces and
 * that one's record, the stage and since when, what it waits for and
 * until when, why it stopped (empty: it did not) and how many attempts
 * of the current step failed in a row (schema 12).  dkim_rot_journal
 * holds one row per change of stage: the intent, the effect and its result,
 * written in the same transaction as the stage (ks_dkim_rot_save).
 * Every function BLOCKS on the database (keystore's rules, ks_store.h).
 */
#ifndef KS_DKIM_ROT_H
#define KS_DKIM_ROT_H

#include "ks_store.h"

#include <stddef.h>
#include <stdint.h>

#define KS_DKIM_ROT_RECORD_MAX 4096
#define KS_DKIM_ROT_TEXT_MAX 1024

typedef struct ks_dkim_rot {
    int64_t id;               /* 0 until saved */
    char domain[256];
    char selector[64];
    char key_path[1024];
    char key_type[16];        /* "rsa2048", "rsa3072", "ed25519" */
    char record[KS_DKIM_ROT_RECORD_MAX];       /* "" until generated */
    char old_selector[64];    /* "" when it replaces no managed key */
    char old_record[KS_DKIM_ROT_RECORD_MAX];
    char stage[16];
    int64_t since;            /* when it entered stage */
    int64_t wait_until;       /* 0: not waiting for a time */
    char waits_for[KS_DKIM_ROT_TEXT_MAX];
    char stopped[KS_DKIM_ROT_TEXT_MAX];        /* "" running */
    int64_t started_at;
    int failures;             /* consecutive failed attempts of the current
                               * step; 0 after any change of stage */
    int64_t old_started_at;   /* when the old key was made (the start of
                               * the rotation that made it); 0: unknown */
} ks_dkim_rot;

/* One journal row. */
typedef struct ks_dkim_rot_step {
    int64_t at;
    char old_stage[16], new_stage[16];
    char intent[KS_DKIM_ROT_TEXT_MAX];
    char effect[KS_DKIM_ROT_TEXT_MAX];
    char result[KS_DKIM_ROT_TEXT_MAX];
} ks_dkim_rot_step;

/* Write r (inserted when r->id is 0, r->id then set; else updated) and a
 * journal row old_stage -> r->stage at time at with intent, effect and
 * result (NULL: ""), and, when event is not NULL, that event (detail:
 * domain, selector, old_selector) for the hooks, in one transaction.  A
 * new rotation whose selector a running rotation of the domain has is
 * KW_EINVAL, naming it. */
int ks_dkim_rot_save(ks_store *s, ks_dkim_rot *r, const char *old_stage,
                     int64_t at, const char *intent, const char *effect,
                     const char *result, const char *event, kw_diag *d);

/* The same, the event's detail also naming the signer's configuration
 * whose files changed (signer_conf, NULL: none): OpenDKIM's opendkim.conf,
 * so the built-in OpenDKIM reload without config = reloads that instance
 * (a dual section's two tracks switch two instances). */
int ks_dkim_rot_save_for(ks_store *s, ks_dkim_rot *r, const char *old_stage,
                         int64_t at, const char *intent, const char *effect,
                         const char *result, const char *event,
                         const char *signer_conf, kw_diag *d);

/*
 * A track: the rotations of one key of a domain.  A section with one
 * key_type has one track (KS_DKIM_TRACK_ANY: every row of the domain,
 * whatever its key type, so a section whose key_type changed goes on
 * from the key that signs).  A dual section (key_type = rsa2048+ed25519)
 * has two that rotate side by side, told apart by the key type of their
 * rows: RSA's (rsa2048, rsa3072) and Ed25519's.  No column: the key type
 * is stored with every row already.
 */
#define KS_DKIM_TRACK_ANY 0
#define KS_DKIM_TRACK_RSA 'r'
#define KS_DKIM_TRACK_ED25519 'e'

/* The track a key type belongs to (KS_DKIM_TRACK_RSA or _ED25519). */
int ks_dkim_track_of(const char *key_type);

/* The newest rotation of domain in *out; *found 0 when there is none. */
int ks_dkim_rot_latest(ks_store *s, const char *domain, ks_dkim_rot *out,
                       int *found, kw_diag *d);

/* The same within one track of the domain. */
int ks_dkim_rot_latest_track(ks_store *s, const char *domain, int track,
                             ks_dkim_rot *out, int *found, kw_diag *d);

/* The newest rotation of domain's track whose stage is one of the
 * NULL-terminated stages (none: any), other than the rotation except_id
 * (0: none). */
int ks_dkim_rot_latest_in(ks_store *s, const char *domain, int track,
                          const char *const *stages, int64_t except_id,
                          ks_dkim_rot *out, int *found, kw_diag *d);

/* Has domain ever used selector in a rotation (of any track: a selector
 * names one DNS record of the domain)?  *used 1 or 0. */
int ks_dkim_rot_selector_used(ks_store *s, const char *domain,
                              const char *selector, int *used, kw_diag *d);

/* Every rotation (of domain; NULL: all), oldest first, malloc'd into
 * *out (free with free()). */
int ks_dkim_rot_list(ks_store *s, const char *domain, ks_dkim_rot **out,
                     size_t *n, kw_diag *d);

/* The same within one track of domain (domain not NULL). */
int ks_dkim_rot_list_track(ks_store *s, const char *domain, int track,
                           ks_dkim_rot **out, size_t *n, kw_diag *d);

/* The journal of rotation id, oldest first, malloc'd into *out. */
int ks_dkim_rot_journal(ks_store *s, int64_t id, ks_dkim_rot_step **out,
                        size_t *n, kw_diag *d);

/* What the hooks did with a rotation's event: the newest event of type
 * whose detail names domain and selector, and its outbox deliveries. */
typedef struct ks_dkim_rot_hooks {
    int64_t event_id;   /* 0: no such event */
    int dispatched;     /* the hook cursor passed it: deliveries exist for
                         * every hook that takes it */
    int total;          /* its deliveries */
    int ok;             /* done by a successful run */
    int open;           /* pending or running (retries included) */
    int failed;         /* failed for good, or closed undelivered */
    char hook[128];     /* a delivery that failed or is retrying, or "" */
    char last_error[512];
} ks_dkim_rot_hooks;

int ks_dkim_rot_hooks_of(ks_store *s, const char *type, const char *domain,
                         const char *selector, ks_dkim_rot_hooks *out,
                         kw_diag *d);

#endif
