/*
 * dkim_rotate.c: a DKIM rotation's state machine (dkim_rotate.h).
 *
 * One row of dkim_rotations per new key; its stage says how far the
 * rotation got.  Stages whose name ends in -ing are intents: written
 * before their effect, so a run killed after the effect knows it may
 * have happened and repeats it in a way that cannot do it twice.
 *
 *   (none)      no rotation runs; one starts when the last started
 *               `rotate` ago, or never, or when asked.
 *   GENERATING  a selector is chosen (never one used before; with zone =
 *               a free slot, invariant 7) and the key file is being
 *               written.  Resumed: a key file already there
 *               is the one written before the crash and is used.
 *   GENERATED   the key file is on disk (0600, or 0640 for the group),
 *               fsync'd; the record to publish is stored.  With zone =
 *               it waits here until the slot's CNAME is served
 *               (invariant 7).
 *   PUBLISHING  the record is being sent (RFC 2136 add, dns_exec add) or
 *               handed to the operator.  Resumed: the same record is sent
 *               again; an add of a record that exists changes nothing.
 *   PUBLISHED   the server accepted it (the UPDATE's TSIG verified).
 *   VISIBLE     every authoritative server serves exactly this record;
 *               wait_until is set to now + max(negative TTL, record TTL)
 *               + margin.
 *   PROPAGATED  that wait is over: no resolver can still hold a negative
 *               answer for the new name.
 *   ACTIVE      the signer's files name the new key (dkim_signer.h) and
 *               dkim.activated went to the hooks (their reload).  With no
 *               signer = configured a rotation waits at PROPAGATED.  It
 *               waits here until the reload is proven (await_reload()).
 *   RETIRED     the old selector no longer signs; its record stays for
 *               `drain` (mail in queues, re-verification).
 *   REMOVING    the old record is being removed (or emptied to p=).
 *   REMOVED / REVOKED  the old record is gone (or empty) on every
 *               authoritative server; the old key archived or deleted.
 *   ABORTING    `keywarden dkim abort` takes the rotation back: the new
 *               record is being removed (when the journal shows
 *               PUBLISHING: it was or may have been sent) and its absence
 *               checked on every authoritative server as REMOVING does,
 *               then the new key archived or deleted (old_key =).
 *               Resumed: the removal is sent again (removing what is not
 *               there changes nothing) and a key already moved is noted.
 *   ABORTED     taken back; the old key never stopped signing.  Terminal,
 *               and its selector stays used.  The next rotation is due
 *               `rotate` after the aborted one started (an abort postpones
 *               the next key by one period and never restarts by itself at
 *               once); it replaces the key the aborted one would have.
 *
 * NONE -> GENERATING -> GENERATED -> PUBLISHING -> PUBLISHED -> VISIBLE
 * -> PROPAGATED -> ACTIVE -> RETIRED -> REMOVING -> REMOVED | REVOKED;
 * GENERATING ... PROPAGATED -> ABORTING -> ABORTED; and no other change.
 * A rotation that replaces no managed key (the first: the key that signed
 * before was made by hand) ends at RETIRED, once the reload is proven as
 * for any other; the old key's record is not keywarden's to remove.  Any
 * stage may
 * also be written again with a note (what it waits for) or stopped with a
 * reason: a failed step leaves the stage where it was, says why in
 * `stopped`, counts the failure in `failures` (0 again at any change of
 * stage) and is retried after min(RETRY_FIRST * 2^(failures - 1),
 * RETRY_MAX): 15 minutes, 30, an hour, ... at most 6 hours.
 *
 * Invariants (each checked in set_state(), the one place a stage is
 * written, and tested in tests/unit/test_dkim_rotate.c):
 *   1. The signer never switches to a key that is not PROPAGATED: ACTIVE
 *      is entered from PROPAGATED only.
 *   2. An old record is never removed while its key signs, nor within
 *      `drain` of its last signing: REMOVING is entered from RETIRED only,
 *      and only `drain` after RETIRED began; RETIRED is entered only with
 *      evidence that the running signer reloaded: for opendkim and rspamd
 *      every hook delivery of this rotation's dkim.activated succeeded
 *      and there was at least one, for exec the program's exit 0.
 *      Without it the rotation waits at ACTIVE, then stops there after
 *      RELOAD_BOUND, the old record untouched.
 *   3. A failure stops the rotation at its step: the stage never moves on
 *      after a failed effect, so the old key keeps signing.
 *   4. Nothing is published twice, and no second key is made: each
 *      effect's intent is journalled first and a resumed intent repeats
 *      the effect idempotently (the same key file, the same record).
 *   5. The private key is never in the database: rows hold the record.
 *   6. An abort never takes back a key that may sign: ABORTING is entered
 *      only from a stage before ACTIVE (allowed()), and not from
 *      PROPAGATED while a switch to the new key was begun and never
 *      finished unless the signer's files, read back, do not name it.
 *   7. With zone = (a dedicated zone, fixed slot selectors): a slot is
 *      taken only when no running rotation uses it, its key does not
 *      sign, and the record of its previous key was removed, revoked or
 *      aborted at least ttl + the dedicated zone's negative TTL + margin
 *      ago (so no resolver still holds the old key for the name); of
 *      the free slots the one freed longest ago is taken
 *      (kw_dkim_slot_choose; when none is, the reason and the time are
 *      written on the last rotation and the next waits).  And nothing is
 *      published into a slot before every authoritative server of the
 *      mail domain serves its CNAME to the dedicated zone: PUBLISHING is
 *      entered from GENERATED only after cname_served().  Without zone =
 *      no selector is ever used twice (pick_selector()).
 *   8. Tracks (key_type = rsa2048+ed25519: two keys signing side by
 *      side, each a kw_dkim_rot_params of its own, p->track): a track is
 *      a machine of its own.  Every lookup of "the rotation" is of the
 *      domain's track (ks_dkim_rot_latest_track, _list_track), so each
 *      track's old key keeps signing until that track's new key is
 *      PROPAGATED and its own signer (its OpenDKIM instance, p->
 *      opendkim_conf) switched (invariant 1 per track); a failure in one
 *      track stops that track alone, its old key still signing, and the
 *      other goes on (invariant 3 per track); a track's old record is
 *      removed after its own drain (invariant 2 per track).  Only the
 *      selectors are shared, the domain's DNS names: none is used twice
 *      by either track (ks_dkim_rot_selector_used asks every track).
 */
#include "dkim_rotate_int.h"

#include "dkim_check.h"
#include "dkim_key.h"
#include "dkim_signer.h"
#include "dkim_source.h"

#include "../common/kw_fs.h"
#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../dns/dns_resolve.h"
#include "../dns/dns_update.h"
#include "../keystore/ks_health.h"
#include "../keystore/ks_keygen.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A stopped step is tried again RETRY_FIRST after its first failure,
 * twice as long after each further one, at most RETRY_MAX. */
#define RETRY_FIRST 900
#define RETRY_MAX (6 * 3600)
/* What retire = revoke leaves at the old name (RFC 6376 3.6.1). */
#define REVOKED_RECORD "v=DKIM1; p="
/* How long ACTIVE waits for the signer's reload before it stops. */
#define RELOAD_BOUND 3600

static const char *const stage_names[KW_DKIM_ST_COUNT] = {
    "none",       "generating", "generated", "publishing",
    "published",  "visible",    "propagated", "active",
    "retired",    "removing",   "removed",    "revoked",
    "aborting",   "aborted"};

const char *kw_dkim_stage_name(kw_dkim_stage s)
{
    return s >= 0 && s < KW_DKIM_ST_COUNT ? stage_names[s] : "none";
}

kw_dkim_stage kw_dkim_stage_parse(const char *name)
{
    int i;

    for (i = 0; i < KW_DKIM_ST_COUNT; i++)
        if (strcmp(stage_names[i], name) == 0)
            return (kw_dkim_stage)i;
    return KW_DKIM_ST_NONE;
}

/* The one successor of each stage (REMOVING has two), and the way back
 * from every stage before ACTIVE. */
static int allowed(kw_dkim_stage from, kw_dkim_stage to)
{
    if (from == to)
        return 1;
    if (to == KW_DKIM_ST_ABORTING)
        return from >= KW_DKIM_ST_GENERATING && from < KW_DKIM_ST_ACTIVE;
    if (from == KW_DKIM_ST_ABORTING)
        return to == KW_DKIM_ST_ABORTED;
    if (from == KW_DKIM_ST_REMOVING)
        return to == KW_DKIM_ST_REMOVED || to == KW_DKIM_ST_REVOKED;
    return from < KW_DKIM_ST_REMOVING && to == from + 1;
}

/* How long after its failures-th failure in a row a step is retried. */
static int64_t retry_after(int failures)
{
    int64_t t = RETRY_FIRST;

    while (--failures > 0 && t < RETRY_MAX)
        t *= 2;
    return t < RETRY_MAX ? t : RETRY_MAX;
}

/* ---- parameters ---------------------------------------------------- */

void kw_dkim_rot_params_defaults(kw_dkim_rot_params *p)
{
    memset(p, 0, sizeof(*p));
    p->rotate = 90 * 86400;
    p->drain = 7 * 86400;
    p->margin = 3600;
    p->ttl = 3600;
    p->slots = 2;
}

const char *kw_dkim_rot_label(const kw_dkim_rot_params *p, char *buf,
                              size_t cap)
{
    if (p->track == KS_DKIM_TRACK_ANY)
        snprintf(buf, cap, "%s", p->domain);
    else
        snprintf(buf, cap, "%s (%s)", p->domain,
                 p->key_type != NULL ? p->key_type : "?");
    return buf;
}

static void free_argv(char **v)
{
    size_t i;

    for (i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

void kw_dkim_rot_params_free(kw_dkim_rot_params *p)
{
    free(p->domain);
    free(p->selector);
    free(p->zone);
    free(p->key_dir);
    free(p->group);
    free(p->key_type);
    free(p->dns_server);
    free(p->dns_zone);
    free(p->tsig_key);
    free(p->tsig_algorithm);
    if (p->tsig_secret != NULL) {
        kw_wipe(p->tsig_secret, strlen(p->tsig_secret));
        free(p->tsig_secret);
    }
    free(p->resolver);
    free(p->opendkim_conf);
    free(p->selector_map);
    free(p->path_map);
    free(p->rspamd_conf);
    free_argv(p->dns_exec);
    free_argv(p->dns_check);
    free_argv(p->signer_exec);
    kw_dkim_rot_params_defaults(p);
}

static char **dup_argv(char *const *v, int *bad)
{
    size_t i, n = 0;
    char **r;

    while (v != NULL && v[n] != NULL)
        n++;
    if (n == 0)
        return NULL;
    if ((r = calloc(n + 1, sizeof(char *))) == NULL) {
        *bad = 1;
        return NULL;
    }
    for (i = 0; i < n; i++)
        if ((r[i] = strdup(v[i])) == NULL)
            *bad = 1;
    return r;
}

static char *dup_opt(const char *s, int *bad)
{
    char *r;

    if (s == NULL)
        return NULL;
    if ((r = strdup(s)) == NULL)
        *bad = 1;
    return r;
}

int kw_dkim_rot_params_copy(kw_dkim_rot_params *dst,
                            const kw_dkim_rot_params *src)
{
    int bad = 0;

    *dst = *src;
    dst->domain = dup_opt(src->domain, &bad);
    dst->selector = dup_opt(src->selector, &bad);
    dst->zone = dup_opt(src->zone, &bad);
    dst->key_dir = dup_opt(src->key_dir, &bad);
    dst->group = dup_opt(src->group, &bad);
    dst->key_type = dup_opt(src->key_type, &bad);
    dst->dns_server = dup_opt(src->dns_server, &bad);
    dst->dns_zone = dup_opt(src->dns_zone, &bad);
    dst->tsig_key = dup_opt(src->tsig_key, &bad);
    dst->tsig_algorithm = dup_opt(src->tsig_algorithm, &bad);
    dst->tsig_secret = dup_opt(src->tsig_secret, &bad);
    dst->resolver = dup_opt(src->resolver, &bad);
    dst->opendkim_conf = dup_opt(src->opendkim_conf, &bad);
    dst->selector_map = dup_opt(src->selector_map, &bad);
    dst->path_map = dup_opt(src->path_map, &bad);
    dst->rspamd_conf = dup_opt(src->rspamd_conf, &bad);
    dst->dns_exec = dup_argv(src->dns_exec, &bad);
    dst->dns_check = dup_argv(src->dns_check, &bad);
    dst->signer_exec = dup_argv(src->signer_exec, &bad);
    if (bad) {
        kw_dkim_rot_params_free(dst);
        return KW_ENOMEM;
    }
    return 0;
}

/* ---- selectors ----------------------------------------------------- */

int kw_dkim_selector_expand(const char *tmpl, int64_t now, char *out,
                            size_t cap, kw_diag *d)
{
    return kw_dkim_selector_expand_slot(tmpl, now, 0, out, cap, d);
}

int kw_dkim_selector_expand_slot(const char *tmpl, int64_t now, int slot,
                                 char *out, size_t cap, kw_diag *d)
{
    time_t t = (time_t)now;
    struct tm tm;
    size_t i, o = 0;

    if (gmtime_r(&t, &tm) == NULL)
        return kw_diag_set(d, KW_EINVAL, "selector: time %lld out of range",
                           (long long)now);
    for (i = 0; tmpl[i] != '\0'; i++) {
        char piece[16];
        size_t k;

        if (tmpl[i] != '%') {
            unsigned char c = (unsigned char)tmpl[i];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_'))
                return kw_diag_set(d, KW_EINVAL,
                                   "selector = %s: '%c' is not allowed in "
                                   "a DNS label (letters, digits, '-', "
                                   "'_')",
                                   tmpl, c);
            piece[0] = (char)c;
            piece[1] = '\0';
        } else {
            switch (tmpl[++i]) {
            case 'Y': snprintf(piece, sizeof(piece), "%04d",
                               tm.tm_year + 1900); break;
            case 'm': snprintf(piece, sizeof(piece), "%02d",
                               tm.tm_mon + 1); break;
            case 'd': snprintf(piece, sizeof(piece), "%02d", tm.tm_mday);
                break;
            case 'H': snprintf(piece, sizeof(piece), "%02d", tm.tm_hour);
                break;
            case 'n':
                if (slot < 1 || slot > 8)
                    return kw_diag_set(d, KW_EINVAL,
                                       "selector = %s: %%n (the slot) is "
                                       "only for a section with zone =",
                                       tmpl);
                snprintf(piece, sizeof(piece), "%d", slot);
                break;
            default:
                return kw_diag_set(d, KW_EINVAL,
                                   "selector = %s: only %%Y, %%m, %%d, "
                                   "%%H%s may be used",
                                   tmpl, slot > 0 ? " and %n" : "");
            }
        }
        k = strlen(piece);
        if (o + k >= cap || o + k > 60)
            return kw_diag_set(d, KW_ETOOBIG,
                               "selector = %s: longer than 60 characters",
                               tmpl);
        memcpy(out + o, piece, k);
        o += k;
    }
    if (o == 0)
        return kw_diag_set(d, KW_EINVAL, "selector: the template is empty");
    out[o] = '\0';
    return 0;
}
/* ---- the machine --------------------------------------------------- */


static void machine_init(machine *m, ks_store *s, const kw_dkim_rot_params *p,
                         const kw_dkim_rot_dns *dns, int64_t now,
                         kw_dkim_rot_out *out)
{
    memset(out, 0, sizeof(*out));
    m->s = s;
    m->p = p;
    m->dns = dns != NULL ? dns : &rot_real_dns;
    m->now = now;
    m->out = out;
    m->r = &out->rot;
}

/* The test seam of dkim_rotate.h: stop as kill -9 would, after an effect
 * and before the stage that records it. */
void rot_die_point(const char *name)
{
    const char *at = getenv("KEYWARDEN_TEST_DIE_AT");

    if (at != NULL && strcmp(at, name) == 0)
        raise(SIGKILL);
}

void rot_fmt_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "@%lld", (long long)t);
}

/*
 * The one place a rotation's stage is written: checks the transition and
 * the invariants, logs old -> new, and writes the row, its journal entry
 * (intent, effect, result) and the event for the hooks (may be NULL) in
 * one transaction.  stop non-NULL marks the step failed (the stage
 * stays, the failure counted, the retry backed off); a change of stage
 * clears a stop and the count.
 */
static int set_state_ev(machine *m, kw_dkim_stage to, const char *intent,
                        const char *effect, const char *result,
                        const char *stop, const char *event, kw_diag *d)
{
    ks_dkim_rot *r = m->r, save = *r;
    kw_dkim_stage from = kw_dkim_stage_parse(r->stage);
    int rc;

    if (r->id == 0)
        from = KW_DKIM_ST_NONE;
    if (!allowed(from, to))
        return kw_diag_set(d, KW_EINVAL,
                           "DKIM rotation of %s: %s -> %s is not a "
                           "transition of the state machine",
                           r->domain, kw_dkim_stage_name(from),
                           kw_dkim_stage_name(to));
    if (to == KW_DKIM_ST_ACTIVE && from != KW_DKIM_ST_ACTIVE &&
        from != KW_DKIM_ST_PROPAGATED)
        return kw_diag_set(d, KW_EINVAL, "DKIM rotation of %s: the signer "
                           "may switch only to a propagated key",
                           r->domain);
    if (to == KW_DKIM_ST_REMOVING && from == KW_DKIM_ST_RETIRED &&
        m->now < r->since + m->p->drain)
        return kw_diag_set(d, KW_EINVAL, "DKIM rotation of %s: the old "
                           "record of %s may not go before its drain ends",
                           r->domain, r->old_selector);
    if (to != from) {
        kw_info("dkim rotation %s %s: %s -> %s", r->domain, r->selector,
                kw_dkim_stage_name(from), kw_dkim_stage_name(to));
        r->since = m->now;
        r->wait_until = 0;
        r->waits_for[0] = '\0';
        r->stopped[0] = '\0';
        r->failures = 0;
    }
    snprintf(r->stage, sizeof(r->stage), "%s", kw_dkim_stage_name(to));
    if (stop != NULL) {
        char at[40];

        r->failures++;
        r->wait_until = m->now + retry_after(r->failures);
        rot_fmt_time(r->wait_until, at, sizeof(at));
        kw_warn("dkim rotation %s %s: stopped at %s (failure %d, next try "
                "%s): %s", r->domain, r->selector, r->stage, r->failures,
                at, stop);
        snprintf(r->stopped, sizeof(r->stopped), "%s", stop);
        snprintf(r->waits_for, sizeof(r->waits_for), "a retry");
    }
    rc = ks_dkim_rot_save_for(
        m->s, r, kw_dkim_stage_name(from), m->now, intent, effect,
        stop != NULL ? stop : result, event,
        m->p->signer != KW_DKIM_SIGNER_OPENDKIM ? NULL
        : m->p->opendkim_conf != NULL           ? m->p->opendkim_conf
                                                : KW_DKIM_OPENDKIM_CONF,
        d);
    if (rc != 0) {
        *r = save;
        return rc;
    }
    if (to != from)
        m->out->changes++;
    return 0;
}

int rot_set_state(machine *m, kw_dkim_stage to, const char *intent,
                  const char *effect, const char *result,
                  const char *stop, kw_diag *d)
{
    return set_state_ev(m, to, intent, effect, result, stop, NULL, d);
}

/* The stage stays; say what it waits for (journalled when it changed). */
static int wait_for(machine *m, int64_t until, const char *what, kw_diag *d)
{
    ks_dkim_rot *r = m->r;

    m->out->waiting = 1;
    if (r->wait_until == until && r->stopped[0] == '\0' &&
        strcmp(r->waits_for, what) == 0)
        return 0;
    /* Waiting after a stop: the step ran and did not fail this time, so
     * the rotation is no longer stopped (its failures still count until
     * the stage moves on). */
    r->stopped[0] = '\0';
    r->wait_until = until;
    snprintf(r->waits_for, sizeof(r->waits_for), "%s", what);
    return rot_set_state(m, kw_dkim_stage_parse(r->stage), NULL, NULL, what,
                         NULL, d);
}

static int stop(machine *m, const char *why, kw_diag *d)
{
    m->out->stopped = 1;
    return rot_set_state(m, kw_dkim_stage_parse(m->r->stage), NULL, NULL, NULL,
                         why, d);
}

/* Where selector's TXT record lives: SELECTOR._domainkey.DOMAIN, with
 * zone = under the dedicated zone; the buffers are NAME_MAX_LEN, room
 * for any name DNS allows (253 octets: the config checks the slots'). */
void rot_dkim_name(const kw_dkim_rot_params *p, const char *selector,
                   const char *domain, char *buf, size_t cap)
{
    if (snprintf(buf, cap, "%s._domainkey.%s%s%s", selector, domain,
                 p->zone != NULL ? "." : "",
                 p->zone != NULL ? p->zone : "") >= (int)cap)
        buf[0] = '\0';
}

void kw_dkim_txt_name(const kw_dkim_rot_params *p, const char *selector,
                      char *buf, size_t cap)
{
    rot_dkim_name(p, selector, p->domain, buf, cap);
}

/* The key file's path does not fit the rotation's record. */
static int key_path_too_long(machine *m, kw_diag *d)
{
    return kw_diag_set(d, KW_ETOOBIG, "[dkim \"%s\"]: key_dir %.200s...: "
                       "the key file's path would be longer than %zu bytes; "
                       "choose a shorter key_dir",
                       m->p->domain, m->p->key_dir,
                       sizeof(m->r->key_path) - 1);
}

/* The first selector from the template that no rotation of the domain
 * used and no file in key_dir holds: "-2", "-3", ... when it repeats. */
static int pick_selector(machine *m, char *sel, size_t cap, char *path,
                         size_t pcap, kw_diag *d)
{
    char base[64];
    int i, used, rc;

    if ((rc = kw_dkim_selector_expand(m->p->selector, m->now, base,
                                      sizeof(base), d)) != 0)
        return rc;
    for (i = 1; i < 1000; i++) {
        if ((i == 1 ? snprintf(sel, cap, "%s", base)
                    : snprintf(sel, cap, "%s-%d", base, i)) >= (int)cap)
            return kw_diag_set(d, KW_ETOOBIG, "[dkim \"%s\"]: selector %s "
                               "is too long for a suffix",
                               m->p->domain, base);
        if ((rc = ks_dkim_rot_selector_used(m->s, m->p->domain, sel, &used,
                                            d)) != 0)
            return rc;
        if (strcmp(sel, m->r->old_selector) == 0)
            used = 1;
        /* A path cut to fit would write the private key elsewhere. */
        if (snprintf(path, pcap, "%s/%s.%s.key", m->p->key_dir,
                     m->p->domain, sel) >= (int)pcap)
            return key_path_too_long(m, d);
        if (!used && access(path, F_OK) != 0)
            return 0;
    }
    return kw_diag_set(d, KW_ETOOBIG, "[dkim \"%s\"]: selector %s was used "
                       "999 times; change the template",
                       m->p->domain, base);
}

/*
 * With zone =: the slot a new rotation takes (kw_dkim_slot_choose, the
 * invariant 7 above), its key file named with the start time too, so
 * the archived key of the slot's previous use is never overwritten.
 * *wait 1 when no slot may be used yet: the reason is then written on
 * prev (the newest rotation, finished), so `dkim status` and health say
 * it, and the choice is made again at wait_until.
 */
static int pick_slot(machine *m, ks_dkim_rot *prev, int *wait, kw_diag *d)
{
    ks_dkim_rot *v = NULL, *r = m->r;
    char why[KS_DKIM_ROT_TEXT_MAX - 80], what[KS_DKIM_ROT_TEXT_MAX];
    int64_t neg = 0, when = 0;
    size_t n = 0;
    kw_diag sub;
    int rc;

    *wait = 0;
    sub.msg[0] = '\0';
    if ((rc = ks_dkim_rot_list_track(m->s, m->p->domain, m->p->track, &v, &n,
                                     d)) != 0)
        return rc;
    /* A slot used before is reused only after the negative TTL of the
     * dedicated zone: read now, it is the zone's current one. */
    if (n > 0 && m->dns->negative_ttl(m->dns->ctx, m->p, &neg, &sub) != 0) {
        snprintf(why, sizeof(why), "reading the SOA of the dedicated zone "
                 "%s for a slot's reuse: %.600s", m->p->zone, sub.msg);
        when = m->now + RETRY_FIRST;
        rc = 1;
    } else {
        rc = kw_dkim_slot_choose(m->p, v, n, neg, m->now, r->selector,
                                 sizeof(r->selector), &when, why,
                                 sizeof(why), d);
    }
    free(v);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if (snprintf(r->key_path, sizeof(r->key_path), "%s/%s.%s.%lld.key",
                     m->p->key_dir, m->p->domain, r->selector,
                     (long long)m->now) >= (int)sizeof(r->key_path))
            return key_path_too_long(m, d);
        return 0;
    }
    *wait = 1;
    snprintf(what, sizeof(what), "a free slot for the next rotation: %s",
             why);
    if (prev == NULL) {
        /* No rotation to write it on.  Not reached today (with none, no
         * slot was ever used and the SOA is not read), kept so a wait is
         * said, not lost, should that change. */
        r->selector[0] = '\0';
        snprintf(r->stage, sizeof(r->stage), "none");
        m->out->waiting = 1;
        r->wait_until = when;
        snprintf(r->waits_for, sizeof(r->waits_for), "%s", what);
        return 0;
    }
    m->out->rot = *prev;
    if (when <= m->now)
        when = m->now + RETRY_FIRST;
    return wait_for(m, when, what, d);
}

static int rot_start(machine *m, ks_dkim_rot *prev, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    char intent[1400];
    int rc, wait;

    memset(r, 0, sizeof(*r));
    snprintf(r->domain, sizeof(r->domain), "%s", m->p->domain);
    snprintf(r->key_type, sizeof(r->key_type), "%s",
             m->p->key_type != NULL ? m->p->key_type : "rsa2048");
    if (prev != NULL &&
        kw_dkim_stage_parse(prev->stage) == KW_DKIM_ST_ABORTED) {
        /* An aborted rotation's new key never signed: the key it would
         * have replaced still does. */
        snprintf(r->old_selector, sizeof(r->old_selector), "%s",
                 prev->old_selector);
        snprintf(r->old_record, sizeof(r->old_record), "%s",
                 prev->old_record);
        r->old_started_at = prev->old_started_at;
    } else if (prev != NULL) {
        snprintf(r->old_selector, sizeof(r->old_selector), "%s",
                 prev->selector);
        snprintf(r->old_record, sizeof(r->old_record), "%s", prev->record);
        r->old_started_at = prev->started_at;
    }
    if (m->p->zone != NULL) {
        if ((rc = pick_slot(m, prev, &wait, d)) != 0 || wait)
            return rc;
    } else if ((rc = pick_selector(m, r->selector, sizeof(r->selector),
                                   r->key_path, sizeof(r->key_path), d)) !=
               0) {
        return rc;
    }
    r->started_at = m->now;
    snprintf(intent, sizeof(intent), "write a %s key for selector %s to %s",
             r->key_type, r->selector, r->key_path);
    return rot_set_state(m, KW_DKIM_ST_GENERATING, intent, NULL, NULL, NULL, d);
}

/* GENERATING's effect: the key file written (or, resumed, the one
 * written before the crash), read back, its record in r->record.  0, or
 * -1 with why.  May run on a batch's thread: it touches only the
 * domain's own row copy and its key file. */
int rot_generate_effect(machine *m, char *effect, size_t ecap,
                        char *why, size_t wcap)
{
    ks_dkim_rot *r = m->r;
    kw_dkim_pub pub;
    ks_key_type kt;
    gid_t gid = (gid_t)-1;
    mode_t mode = 0600;
    EVP_PKEY *key;
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    if (access(r->key_path, F_OK) == 0) {
        /* Written before a crash, the stage not yet: the same key. */
        snprintf(effect, ecap, "%s was already written (resumed)",
                 r->key_path);
    } else {
        if (ks_key_type_parse(r->key_type, &kt) != 0 ||
            (kt != KS_KEY_RSA2048 && kt != KS_KEY_RSA3072 &&
             kt != KS_KEY_ED25519)) {
            snprintf(why, wcap, "key_type = %s: expected rsa2048, rsa3072 "
                     "or ed25519", r->key_type);
            return -1;
        }
        if (m->p->group != NULL) {
            struct group gr, *res = NULL;
            char buf[4096];

            if (getgrnam_r(m->p->group, &gr, buf, sizeof(buf), &res) != 0 ||
                res == NULL) {
                snprintf(why, wcap, "group %s: no such group here",
                         m->p->group);
                return -1;
            }
            gid = gr.gr_gid;
            mode = 0640;
        }
        if ((rc = kw_mkdir_p(m->p->key_dir, 0750)) != 0) {
            snprintf(why, wcap, "creating %s: %s", m->p->key_dir,
                     kw_strerror(rc));
            return -1;
        }
        if ((key = ks_keygen(kt, &sub)) == NULL) {
            snprintf(why, wcap, "generating a %s key: %s", r->key_type,
                     sub.msg);
            return -1;
        }
        rc = ks_key_write(r->key_path, key, mode, gid, &sub);
        EVP_PKEY_free(key);
        if (rc != 0) {
            snprintf(why, wcap, "writing the key: %s", sub.msg);
            return -1;
        }
        rot_die_point("key-written");
        snprintf(effect, ecap, "wrote %s (mode %04o)", r->key_path,
                 (unsigned)mode);
    }
    if ((rc = kw_dkim_key_load(r->key_path, &pub, &sub)) != 0) {
        snprintf(why, wcap, "reading back the new key: %s", sub.msg);
        return -1;
    }
    if (kw_dkim_pub_record(&pub, r->record, sizeof(r->record)) != 0) {
        snprintf(why, wcap, "the new key's record does not fit");
        return -1;
    }
    return 0;
}

/* GENERATING -> GENERATED on the effect's rc, or stopped there. */
int rot_generated(machine *m, int rc, const char *effect, const char *why,
                  kw_diag *d)
{
    if (rc != 0)
        return stop(m, why, d);
    return rot_set_state(m, KW_DKIM_ST_GENERATED, NULL, effect, m->r->record,
                         NULL, d);
}

/* GENERATING -> GENERATED: the key file, then the stage. */
static int do_generate(machine *m, kw_diag *d)
{
    char effect[1400], why[1400];
    int rc = rot_generate_effect(m, effect, sizeof(effect), why, sizeof(why));

    return rot_generated(m, rc, effect, why, d);
}

static const char *how(const kw_dkim_rot_params *p, char *buf, size_t cap)
{
    switch (p->publish) {
    case KW_DKIM_PUBLISH_EXEC:
        snprintf(buf, cap, "dns_exec %s", p->dns_exec[0]);
        break;
    case KW_DKIM_PUBLISH_MANUAL:
        snprintf(buf, cap, "the operator (publish = manual)");
        break;
    default:
        snprintf(buf, cap, "an RFC 2136 UPDATE to %s%s%s", p->dns_server,
                 p->tsig_key != NULL ? " signed with TSIG key " : "",
                 p->tsig_key != NULL ? p->tsig_key : "");
    }
    return buf;
}

/* PUBLISHING's effect: the record sent (nothing for publish = manual);
 * rc and the words in sub.  May run on a batch's thread: it writes
 * nothing but sub. */
int rot_publish_effect(const machine *m, kw_diag *sub)
{
    char name[NAME_MAX_LEN];
    int rc;

    if (m->p->publish == KW_DKIM_PUBLISH_MANUAL)
        return 0;
    rot_dkim_name(m->p, m->r->selector, m->r->domain, name, sizeof(name));
    rc = 0;
    /* With retire = revoke a slot's previous key left its empty p= at
     * the name; it goes first (deleting what is not there changes
     * nothing), or the name would serve two records.  Only then: a
     * dns_exec program need not accept removing what it never added. */
    if (m->p->zone != NULL && m->p->retire_revoke)
        rc = m->dns->update(m->dns->ctx, m->p, 0, name, REVOKED_RECORD, sub);
    if (rc == 0)
        rc = m->dns->update(m->dns->ctx, m->p, 1, name, m->r->record, sub);
    rot_die_point("update-sent");
    return rc;
}

/* PUBLISHING -> PUBLISHED on the effect's rc (its words in sent), or
 * stopped at PUBLISHING. */
int rot_published(machine *m, int rc, const kw_diag *sent, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    char name[NAME_MAX_LEN], way[600], why[1400];

    rot_dkim_name(m->p, r->selector, r->domain, name, sizeof(name));
    if (m->p->publish == KW_DKIM_PUBLISH_MANUAL) {
        snprintf(m->out->manual_name, sizeof(m->out->manual_name), "%s",
                 name);
        return rot_set_state(m, KW_DKIM_ST_PUBLISHED, NULL,
                             "handed to the operator", NULL, NULL, d);
    }
    if (rc != 0) {
        snprintf(why, sizeof(why), "publishing %s: %s", name, sent->msg);
        return stop(m, why, d);
    }
    return rot_set_state(m, KW_DKIM_ST_PUBLISHED, NULL,
                         how(m->p, way, sizeof(way)),
                         m->p->publish == KW_DKIM_PUBLISH_UPDATE
                         ? (m->p->tsig_key != NULL
                                ? "NOERROR, the answer's TSIG verified"
                                : "NOERROR (unsigned: no tsig_key)")
                         : "dns_exec exited 0",
                         NULL, d);
}

/* PUBLISHING -> PUBLISHED.  Resumed, the same add is sent again. */
static int do_publish(machine *m, kw_diag *d)
{
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    rc = rot_publish_effect(m, &sub);
    return rot_published(m, rc, &sub, d);
}

/* PUBLISHED -> VISIBLE on the check's verdict rc (its words in seen:
 * why not, or a note), and the propagation wait computed. */
int rot_visible_seen(machine *m, int rc, const kw_diag *seen, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    char name[NAME_MAX_LEN], what[KS_DKIM_ROT_TEXT_MAX], why[1400], until[40];
    char result[600], effect[700];
    int64_t neg = 0, wait;
    kw_diag sub;

    sub.msg[0] = '\0';
    rot_dkim_name(m->p, r->selector, r->domain, name, sizeof(name));
    if (rc == KW_ETIMEDOUT) {
        snprintf(what, sizeof(what), "every authoritative server to serve "
                 "%s: %s", name, seen->msg);
        return wait_for(m, 0, what, d);
    }
    if (rc != 0) {
        snprintf(why, sizeof(why), "checking %s on the authoritative "
                 "servers: %s", name, seen->msg);
        return stop(m, why, d);
    }
    snprintf(effect, sizeof(effect), "every authoritative server serves "
             "the record%s%.600s", seen->msg[0] != '\0' ? "; " : "",
             seen->msg);
    if ((rc = m->dns->negative_ttl(m->dns->ctx, m->p, &neg, &sub)) != 0) {
        snprintf(why, sizeof(why), "reading the zone's SOA: %s", sub.msg);
        return stop(m, why, d);
    }
    wait = (neg > m->p->ttl ? neg : m->p->ttl) + m->p->margin;
    r->wait_until = m->now + wait;
    rot_fmt_time(r->wait_until, until, sizeof(until));
    snprintf(result, sizeof(result), "propagation wait %llds (negative TTL "
             "%llds, record TTL %ds, margin %llds): until %s",
             (long long)wait, (long long)neg, m->p->ttl,
             (long long)m->p->margin, until);
    rc = rot_set_state(m, KW_DKIM_ST_VISIBLE, NULL, effect, result, NULL, d);
    if (rc == 0) {
        r->wait_until = m->now + wait;
        snprintf(what, sizeof(what), "propagation: waits until %s", until);
        rc = wait_for(m, r->wait_until, what, d);
        m->out->waiting = 0;
    }
    return rc;
}

/* PUBLISHED -> VISIBLE, the check waiting up to the timeout. */
static int do_visible(machine *m, kw_diag *d)
{
    char name[NAME_MAX_LEN];
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    rot_dkim_name(m->p, m->r->selector, m->r->domain, name, sizeof(name));
    rc = m->dns->visible(m->dns->ctx, m->p, name, m->r->record, &sub);
    return rot_visible_seen(m, rc, &sub, d);
}

/* The old key's file, from the rotation that made it ("" unknown). */
static int old_key_path(machine *m, char *buf, size_t cap, kw_diag *d)
{
    ks_dkim_rot *v;
    size_t n, i;
    int rc;

    buf[0] = '\0';
    if ((rc = ks_dkim_rot_list_track(m->s, m->r->domain, m->p->track, &v, &n,
                                     d)) != 0)
        return rc;
    /* The newest earlier one: with zone = a slot's selector is reused. */
    for (i = 0; i < n; i++)
        if (strcmp(v[i].selector, m->r->old_selector) == 0 &&
            v[i].id < m->r->id)
            snprintf(buf, cap, "%s", v[i].key_path);
    free(v);
    return 0;
}

/* A private key file archived (KEY_DIR/archive/, 0700) or deleted, as
 * old_key = says; which ("old", "new") names it in *effect. */
static int dispose_key(machine *m, const char *path, const char *which,
                       char *effect, size_t cap, kw_diag *d)
{
    char dir[1100], dst[2200];
    const char *base;

    if (path[0] == '\0' || access(path, F_OK) != 0) {
        snprintf(effect, cap, "%s key file %s not found (disposed of before "
                 "a restart, or kept by another tool?)", which,
                 path[0] != '\0' ? path : "(unknown)");
        return 0;
    }
    if (m->p->delete_old_key) {
        if (unlink(path) != 0)
            return kw_diag_set(d, kw_errno(), "deleting %s: %s", path,
                               strerror(errno));
        snprintf(effect, cap, "deleted %s", path);
        return 0;
    }
    base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    snprintf(dir, sizeof(dir), "%s/archive", m->p->key_dir);
    if (kw_mkdir_p(dir, 0700) != 0)
        return kw_diag_set(d, kw_errno(), "creating %s: %s", dir,
                           strerror(errno));
    snprintf(dst, sizeof(dst), "%s/%s", dir, base);
    if (rename(path, dst) != 0)
        return kw_diag_set(d, kw_errno(), "archiving %s to %s: %s", path,
                           dst, strerror(errno));
    snprintf(effect, cap, "archived %s to %s", path, dst);
    return 0;
}

/*
 * The TXT value at name taken out of DNS (revoke: replaced by an empty
 * p=), then seen so on every authoritative server.  With publish = manual
 * the operator takes it out and this only looks.  die names the test
 * seam after the update.  *done 1 when every server agrees; else the
 * rotation now waits or stopped (m->out says which).
 */
static int withdraw(machine *m, const char *name, const char *value,
                    int revoke, const char *die, int *done, kw_diag *d)
{
    const char *want = revoke ? REVOKED_RECORD : NULL;
    char why[1400], what[KS_DKIM_ROT_TEXT_MAX];
    int manual = m->p->publish == KW_DKIM_PUBLISH_MANUAL, rc = 0;
    kw_diag sub;

    *done = 0;
    sub.msg[0] = '\0';
    if (!manual) {
        rc = m->dns->update(m->dns->ctx, m->p, 0, name, value, &sub);
        if (rc == 0 && revoke)
            rc = m->dns->update(m->dns->ctx, m->p, 1, name, REVOKED_RECORD,
                                &sub);
        rot_die_point(die);
        if (rc != 0) {
            snprintf(why, sizeof(why), "%s %s: %s",
                     revoke ? "revoking" : "removing", name, sub.msg);
            return stop(m, why, d);
        }
    }
    rc = m->dns->visible(m->dns->ctx, m->p, name, want, &sub);
    if (rc == KW_ETIMEDOUT) {
        snprintf(what, sizeof(what), "%s%s%s on every authoritative server: "
                 "%s", manual ? "the operator (publish = manual) to take "
                 "out the TXT record; " : "", name,
                 revoke ? " to serve an empty p=" : " to be gone", sub.msg);
        return wait_for(m, 0, what, d);
    }
    if (rc != 0) {
        snprintf(why, sizeof(why), "checking %s on the authoritative "
                 "servers: %s", name, sub.msg);
        return stop(m, why, d);
    }
    *done = 1;
    return 0;
}

/* REMOVING -> REMOVED/REVOKED: the old record removed (or p= emptied),
 * seen so on every authoritative server, the old key disposed of. */
static int do_remove(machine *m, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    int revoke = m->p->retire_revoke, done, rc;
    char name[NAME_MAX_LEN], path[1024], effect[2400];
    kw_diag sub;

    sub.msg[0] = '\0';
    rot_dkim_name(m->p, r->old_selector, r->domain, name, sizeof(name));
    if ((rc = withdraw(m, name, r->old_record, revoke, "removal-sent", &done,
                       d)) != 0 || !done)
        return rc;
    if ((rc = old_key_path(m, path, sizeof(path), d)) != 0)
        return rc;
    if ((rc = dispose_key(m, path, "old", effect, sizeof(effect), &sub)) != 0)
        return stop(m, sub.msg, d);
    return rot_set_state(m, revoke ? KW_DKIM_ST_REVOKED : KW_DKIM_ST_REMOVED,
                         NULL, effect,
                         revoke ? "every authoritative server serves p= empty"
                            : "no authoritative server serves the old "
                              "record",
                         NULL, d);
}

/* Did the rotation ever enter stage?  Its journal says. */
static int reached(machine *m, kw_dkim_stage stage, int *yes, kw_diag *d)
{
    ks_dkim_rot_step *j;
    size_t n, i;
    int rc;

    *yes = 0;
    if ((rc = ks_dkim_rot_journal(m->s, m->r->id, &j, &n, d)) != 0)
        return rc;
    for (i = 0; i < n; i++)
        if (strcmp(j[i].new_stage, kw_dkim_stage_name(stage)) == 0)
            *yes = 1;
    free(j);
    return 0;
}

/* ABORTING -> ABORTED: the new record taken out of DNS when it was or may
 * have been sent (the journal shows PUBLISHING), seen gone on every
 * authoritative server, the new key disposed of.  The old key kept
 * signing throughout: ABORTING is entered only before ACTIVE. */
static int do_abort(machine *m, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    char name[NAME_MAX_LEN], effect[2400], result[800], gone[400];
    int sent, done, rc;
    kw_diag sub;

    sub.msg[0] = '\0';
    if ((rc = reached(m, KW_DKIM_ST_PUBLISHING, &sent, d)) != 0)
        return rc;
    rot_dkim_name(m->p, r->selector, r->domain, name, sizeof(name));
    if (sent && ((rc = withdraw(m, name, r->record, 0, "abort-sent", &done,
                                d)) != 0 || !done))
        return rc;
    if ((rc = dispose_key(m, r->key_path, "new", effect, sizeof(effect),
                          &sub)) != 0)
        return stop(m, sub.msg, d);
    if (sent)
        snprintf(gone, sizeof(gone), "no authoritative server serves %s",
                 name);
    else
        snprintf(gone, sizeof(gone), "the record was never sent");
    snprintf(result, sizeof(result), "%s; %s%s keeps signing; selector %s "
             "stays used", gone, r->old_selector[0] != '\0'
             ? "old selector " : "the key that signed before",
             r->old_selector, r->selector);
    return rot_set_state(m, KW_DKIM_ST_ABORTED, NULL, effect, result, NULL, d);
}

const char *rot_signer_word(int kind)
{
    return kind == KW_DKIM_SIGNER_OPENDKIM ? "opendkim"
           : kind == KW_DKIM_SIGNER_RSPAMD ? "rspamd"
                                           : "signer_exec";
}

/* The signer's files of p, borrowed from it. */
void rot_signer_conf_of(const kw_dkim_rot_params *p,
                        kw_dkim_signer_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->kind = (kw_dkim_signer_kind)p->signer;
    c->opendkim_conf = p->opendkim_conf;
    c->selector_map = p->selector_map;
    c->path_map = p->path_map;
    c->rspamd_conf = p->rspamd_conf;
    c->argv = (const char *const *)p->signer_exec;
}

/* The switch's intent, journalled at PROPAGATED before the files change. */
int rot_activate_intent(machine *m, kw_diag *d)
{
    char intent[1400];

    snprintf(intent, sizeof(intent), "switch %s to selector %s (%s)",
             rot_signer_word(m->p->signer), m->r->selector, m->r->key_path);
    return rot_set_state(m, KW_DKIM_ST_PROPAGATED, intent, NULL, NULL, NULL, d);
}

/* After the switch (rc, its words in err): stopped at PROPAGATED, or
 * ACTIVE with dkim.activated in the same transaction. */
int rot_activated(machine *m, int rc, const kw_dkim_switch_result *res,
                  const char *err, kw_diag *d)
{
    char why[1400], effect[200];

    if (rc != 0) {
        snprintf(why, sizeof(why), "switching the signer: %s", err);
        return stop(m, why, d);
    }
    snprintf(effect, sizeof(effect), "%s switched%s",
             rot_signer_word(m->p->signer),
             res->changed ? "" : " (it already named the new key)");
    return set_state_ev(m, KW_DKIM_ST_ACTIVE, NULL, effect,
                        res->reload ? "dkim.activated emitted: the hooks' "
                                      "reload makes the signer read it"
                                    : "dkim.activated emitted",
                        NULL, "dkim.activated", d);
}

/* PROPAGATED -> ACTIVE: the signer's files switched to the new key
 * (dkim_signer.h puts the previous ones back when its check refuses the
 * new), dkim.activated emitted in the same transaction as the stage, so
 * the hooks' reload runs.  The intent is journalled first; a resumed
 * switch rewrites the files to what they already hold. */
static int do_activate(machine *m, kw_diag *d)
{
    kw_dkim_signer_conf c;
    kw_dkim_switch_result res;
    kw_diag sub;
    int rc;

    sub.msg[0] = '\0';
    memset(&res, 0, sizeof(res));
    rot_signer_conf_of(m->p, &c);
    if ((rc = rot_activate_intent(m, d)) != 0)
        return rc;
    rc = kw_dkim_signer_switch(&c, m->r->domain, m->r->selector,
                               m->r->key_path, &res, &sub);
    rot_die_point("signer-switched");
    return rot_activated(m, rc, &res, sub.msg, d);
}

/* How the key a rotation replaces is named: the old selector when it was
 * keywarden's, else the key that signed before (made by hand, not
 * keywarden's to remove). */
static const char *old_word(const ks_dkim_rot *r)
{
    return r->old_selector[0] != '\0' ? "old selector "
                                       : "the key that signed before";
}

/*
 * ACTIVE -> RETIRED needs evidence that the running signer signs with the
 * new key (invariant 2).  opendkim and rspamd read their files only when
 * reloaded, and the reload is a [hook] on dkim.activated: the evidence is
 * that the hooks' dispatch passed this rotation's event, at least one
 * hook took it, and every delivery of it ended in a successful run.  For
 * signer = exec the program's exit 0 at the switch is the evidence (it
 * does what its signer needs, reload included: dkim_signer.h).  Without
 * evidence the rotation waits at ACTIVE saying why; a delivery that
 * failed for good, or no evidence within RELOAD_BOUND, stops it there
 * with the old record untouched.  On success *effect says what was seen.
 */
static int await_reload(machine *m, char *effect, size_t cap, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    ks_dkim_rot_hooks h;
    char why[KS_DKIM_ROT_TEXT_MAX], until[40];
    int rc;

    if (m->p->signer != KW_DKIM_SIGNER_OPENDKIM &&
        m->p->signer != KW_DKIM_SIGNER_RSPAMD) {
        snprintf(effect, cap, "%s%s no longer signs (%s succeeded)",
                 old_word(r), r->old_selector, rot_signer_word(m->p->signer));
        return 0;
    }
    if ((rc = ks_dkim_rot_hooks_of(m->s, "dkim.activated", r->domain,
                                   r->selector, &h, d)) != 0)
        return rc;
    if (h.event_id == 0)
        snprintf(why, sizeof(why), "the signer's reload: no dkim.activated "
                 "event names %s %s; run `keywarden dkim abort %s` or "
                 "reload %s by hand and retry", r->domain, r->selector,
                 r->domain, rot_signer_word(m->p->signer));
    else if (!h.dispatched)
        snprintf(why, sizeof(why), "the signer's reload: the hooks have not "
                 "taken dkim.activated (event %lld) yet",
                 (long long)h.event_id);
    else if (h.total == 0)
        snprintf(why, sizeof(why), "the signer's reload: no [hook] reloads "
                 "the signer on dkim.activated (event %lld); add one "
                 "(reload = %s) or the old key keeps signing",
                 (long long)h.event_id, rot_signer_word(m->p->signer));
    else if (h.failed > 0)
        snprintf(why, sizeof(why), "the signer's reload: hook %s failed on "
                 "dkim.activated (event %lld): %s; %s may still sign with "
                 "%s, whose record stays; fix it, then `keywarden hooks "
                 "retry %s`", h.hook, (long long)h.event_id,
                 h.last_error[0] != '\0' ? h.last_error : "no reason given",
                 rot_signer_word(m->p->signer),
                 r->old_selector[0] != '\0' ? r->old_selector
                                             : "the key it used before",
                 h.hook);
    else if (h.open > 0)
        snprintf(why, sizeof(why), "the signer's reload: %d of %d hook "
                 "deliveries of dkim.activated (event %lld) done%s%s%s",
                 h.ok, h.total, (long long)h.event_id,
                 h.last_error[0] != '\0' ? "; hook " : "", h.last_error[0]
                 != '\0' ? h.hook : "", h.last_error[0] != '\0'
                 ? " is retrying" : "");
    else {
        snprintf(effect, cap, "%s%s no longer signs (%d reload hook%s on "
                 "dkim.activated succeeded)", old_word(r), r->old_selector,
                 h.ok, h.ok == 1 ? "" : "s");
        return 0;
    }
    if (h.failed > 0 || h.event_id == 0 ||
        m->now >= r->since + RELOAD_BOUND) {
        char msg[KS_DKIM_ROT_TEXT_MAX];

        rot_fmt_time(r->since, until, sizeof(until));
        snprintf(msg, sizeof(msg), "%.900s (active since %s)", why, until);
        return stop(m, msg, d);
    }
    rot_fmt_time(r->since + RELOAD_BOUND, until, sizeof(until));
    snprintf(effect, cap, "%.900s; stops at %s", why, until);
    return wait_for(m, r->since + RELOAD_BOUND, effect, d);
}

/*
 * ACTIVE -> RETIRED also needs the result seen: the signer's files, read
 * back as the inventory reads them (dkim_source.h: OpenDKIM's KeyTable
 * and SigningTable through opendkim.conf, rspamd's selector and path
 * maps), must make the new selector the domain's only signing one, with
 * a key whose public half is the record published.  signer = exec
 * writes what keywarden cannot read; its exit 0 stands.  *why "" when
 * seen; else it names the file and what it says.
 */
/* The signer's files read into src as the inventory reads them; the
 * file named first, or NULL for a signer whose files keywarden does not
 * know (exec, none). */
static const char *read_signer(const kw_dkim_rot_params *p,
                               kw_dkim_sources *src, int *rc)
{
    memset(src, 0, sizeof(*src));
    *rc = 0;
    if (p->signer == KW_DKIM_SIGNER_OPENDKIM) {
        *rc = kw_dkim_read_opendkim(p->opendkim_conf != NULL
                                        ? p->opendkim_conf
                                        : KW_DKIM_OPENDKIM_CONF,
                                    src);
        return p->opendkim_conf != NULL ? p->opendkim_conf
                                        : KW_DKIM_OPENDKIM_CONF;
    }
    if (p->signer == KW_DKIM_SIGNER_RSPAMD && p->selector_map != NULL) {
        *rc = kw_dkim_read_rspamd_maps(p->selector_map, p->path_map, src);
        return p->selector_map;
    }
    return NULL;
}

static void verify_switch(machine *m, char *why, size_t cap)
{
    ks_dkim_rot *r = m->r;
    const kw_dkim_sel *got = NULL;
    kw_dkim_sources src;
    char rec[KS_DKIM_ROT_RECORD_MAX];
    const char *files;
    kw_dkim_pub pub;
    kw_diag sub;
    size_t i;
    int rc;

    why[0] = '\0';
    if ((files = read_signer(m->p, &src, &rc)) == NULL)
        return;
    if (rc != 0)
        snprintf(why, cap, "reading %.400s: %s", files, kw_strerror(rc));
    else if (src.nfailed > 0)
        snprintf(why, cap, "%.600s", src.failed[0].why);
    for (i = 0; why[0] == '\0' && i < src.n; i++) {
        const kw_dkim_sel *v = &src.sel[i];

        if (strcasecmp(v->domain, r->domain) != 0 ||
            v->role != KW_DKIM_ROLE_SIGNING)
            continue;
        if (strcmp(v->selector, r->selector) != 0)
            snprintf(why, cap, "%.400s: %.200s still signs with selector "
                     "%s, not %s", v->source, r->domain, v->selector,
                     r->selector);
        else
            got = v;
    }
    if (why[0] == '\0' && got == NULL)
        snprintf(why, cap, "%.400s: nothing signs %.200s with selector "
                 "%s%s%.300s",
                 files, r->domain, r->selector, src.nnotes > 0 ? "; " : "",
                 src.nnotes > 0 ? src.notes[0] : "");
    else if (why[0] == '\0' && got->key[0] != '\0') {
        /* A key found by rspamd's path template (no path_map) is not
         * known here; the selector was. */
        sub.msg[0] = '\0';
        if (kw_dkim_key_load(got->key, &pub, &sub) != 0)
            snprintf(why, cap, "%.400s: the key of selector %s: %.500s",
                     got->source, r->selector, sub.msg);
        else if (kw_dkim_pub_record(&pub, rec, sizeof(rec)) != 0 ||
                 strcmp(rec, r->record) != 0)
            snprintf(why, cap, "%.400s: %.400s, the key of selector %s, is "
                     "not the "
                     "key whose record was published (its public half "
                     "differs)", got->source, got->key, r->selector);
    }
    kw_dkim_sources_free(&src);
}

/*
 * With zone =, GENERATED -> PUBLISHING needs the slot's one-time CNAME
 * served by every authoritative server of the mail domain (invariant
 * 7): a record published in the dedicated zone is of no use to a
 * receiver until the mail domain points at it.  Otherwise the rotation
 * waits here, before anything is published, naming the record to add.
 * *ok 1 when it is served.
 */
static int cname_served(machine *m, int *ok, kw_diag *d)
{
    char owner[NAME_MAX_LEN], target[NAME_MAX_LEN], what[KS_DKIM_ROT_TEXT_MAX];
    kw_diag sub;
    int rc;

    *ok = 0;
    sub.msg[0] = '\0';
    snprintf(owner, sizeof(owner), "%s._domainkey.%s", m->r->selector,
             m->r->domain);
    rot_dkim_name(m->p, m->r->selector, m->r->domain, target, sizeof(target));
    rc = m->dns->cname != NULL
             ? m->dns->cname(m->dns->ctx, m->p, owner, target, &sub)
             : kw_dkim_cname_check(NULL, m->p, owner, target, &sub);
    if (rc == 0) {
        *ok = 1;
        return 0;
    }
    snprintf(what, sizeof(what), "the one-time CNAME: add \"%.120s. CNAME "
             "%.250s.\" to the zone of %.120s (every authoritative server "
             "must serve it before the key is published): %.300s",
             owner, target, m->r->domain, sub.msg);
    if (rc == KW_ETIMEDOUT)
        return wait_for(m, 0, what, d);
    return stop(m, what, d);
}

/* One step from the current stage; *more 0 when it must wait. */
int rot_step(machine *m, int *more, kw_diag *d)
{
    ks_dkim_rot *r = m->r;
    char what[KS_DKIM_ROT_TEXT_MAX], until[40], intent[1400], name[320];
    char why[1200];
    kw_dkim_stage st = kw_dkim_stage_parse(r->stage);
    int before = m->out->changes, rc = 0;

    switch (st) {
    case KW_DKIM_ST_GENERATING: rc = do_generate(m, d); break;
    case KW_DKIM_ST_GENERATED:
        if (m->p->zone != NULL) {
            int ok;

            if ((rc = cname_served(m, &ok, d)) != 0 || !ok)
                break;
        }
        rot_dkim_name(m->p, r->selector, r->domain, name, sizeof(name));
        snprintf(intent, sizeof(intent), "add TXT %s \"%.200s...\"", name,
                 r->record);
        rc = rot_set_state(m, KW_DKIM_ST_PUBLISHING, intent, NULL, NULL, NULL,
                           d);
        break;
    case KW_DKIM_ST_PUBLISHING: rc = do_publish(m, d); break;
    case KW_DKIM_ST_PUBLISHED: rc = do_visible(m, d); break;
    case KW_DKIM_ST_VISIBLE:
        if (m->now < r->wait_until) {
            rot_fmt_time(r->wait_until, until, sizeof(until));
            snprintf(what, sizeof(what), "propagation: waits until %s",
                     until);
            rc = wait_for(m, r->wait_until, what, d);
        } else
            rc = rot_set_state(m, KW_DKIM_ST_PROPAGATED, NULL, NULL,
                               "no resolver can still hold a negative answer "
                               "for the new name",
                               NULL, d);
        break;
    case KW_DKIM_ST_PROPAGATED:
        if (m->p->signer == 0) {
            /* No signer to switch: the new key waits, ready, and the
             * old one keeps signing. */
            rc = wait_for(m, 0, "the signer switch: no signer = in this "
                          "[dkim] section; the new key is published and "
                          "propagated, the old key keeps signing", d);
            break;
        }
        rc = do_activate(m, d);
        break;
    case KW_DKIM_ST_ACTIVE:
        rc = await_reload(m, what, sizeof(what), d);
        if (rc != 0 || m->out->waiting || m->out->stopped)
            break;
        verify_switch(m, why, sizeof(why));
        if (why[0] != '\0') {
            snprintf(intent, sizeof(intent), "verifying the switch: %.1200s; "
                     "the old record stays", why);
            rc = stop(m, intent, d);
            break;
        }
        rot_die_point("reload-seen");
        rc = rot_set_state(m, KW_DKIM_ST_RETIRED, NULL, what,
                           m->p->signer == KW_DKIM_SIGNER_EXEC
                           ? NULL
                           : "the signer's files name the new selector and "
                             "its key is the one published",
                           NULL, d);
        if (rc == 0 && r->old_selector[0] != '\0') {
            r->wait_until = m->now + m->p->drain;
            rot_fmt_time(r->wait_until, until, sizeof(until));
            snprintf(what, sizeof(what), "drain: the old record stays until "
                     "%s", until);
            rc = wait_for(m, r->wait_until, what, d);
            m->out->waiting = 0;
        }
        break;
    case KW_DKIM_ST_RETIRED:
        if (r->old_selector[0] == '\0') {
            /* A first rotation: the key it replaced was not keywarden's,
             * so its record is the operator's to remove. */
            *more = 0;
            return 0;
        }
        if (m->now < r->since + m->p->drain) {
            rot_fmt_time(r->since + m->p->drain, until, sizeof(until));
            snprintf(what, sizeof(what), "drain: the old record stays until "
                     "%s", until);
            rc = wait_for(m, r->since + m->p->drain, what, d);
            break;
        }
        rot_dkim_name(m->p, r->old_selector, r->domain, name, sizeof(name));
        snprintf(intent, sizeof(intent), "%s TXT %s",
                 m->p->retire_revoke ? "empty p= of" : "remove", name);
        rc = rot_set_state(m, KW_DKIM_ST_REMOVING, intent, NULL, NULL, NULL, d);
        break;
    case KW_DKIM_ST_REMOVING: rc = do_remove(m, d); break;
    case KW_DKIM_ST_ABORTING: rc = do_abort(m, d); break;
    default: *more = 0; return 0;
    }
    *more = rc == 0 && !m->out->stopped && !m->out->waiting &&
            m->out->changes > before;
    return rc;
}

int rot_finished(const ks_dkim_rot *r)
{
    kw_dkim_stage st = kw_dkim_stage_parse(r->stage);

    return st == KW_DKIM_ST_REMOVED || st == KW_DKIM_ST_REVOKED ||
           st == KW_DKIM_ST_ABORTED ||
           (st == KW_DKIM_ST_RETIRED && r->old_selector[0] == '\0');
}

/* The start of a call for one domain: the machine set up, a rotation
 * started when one is due; *go 0 when there is nothing to do now (out
 * says why). */
int rot_begin(machine *m, ks_store *s, const kw_dkim_rot_params *p,
              const kw_dkim_rot_dns *dns, int flags, int64_t now,
              kw_dkim_rot_out *out, int *go, kw_diag *d)
{
    ks_dkim_rot prev;
    int found, rc;

    *go = 0;
    machine_init(m, s, p, dns, now, out);
    if ((rc = ks_dkim_rot_latest_track(s, p->domain, p->track, &prev, &found,
                                       d)) != 0)
        return rc;
    if (!found || rot_finished(&prev)) {
        int64_t due = found ? prev.started_at + p->rotate : now;

        /* A slot wait written on the last rotation (pick_slot) holds
         * the next one back until its time, unless asked to start. */
        if (found && p->zone != NULL && prev.wait_until > due &&
            !(flags & KW_DKIM_ROT_START))
            due = prev.wait_until;

        if (!(flags & KW_DKIM_ROT_START) && now < due) {
            char until[40];

            out->rot = prev;
            out->waiting = 1;
            if (due == prev.wait_until)
                return 0; /* its words are the slot wait's */
            out->rot.wait_until = due;
            rot_fmt_time(due, until, sizeof(until));
            snprintf(out->rot.waits_for, sizeof(out->rot.waits_for),
                     "the next rotation, due %s", until);
            return 0;
        }
        /* The key being replaced is the one the last rotation left
         * signing. */
        rc = rot_start(m, found ? &prev : NULL, d);
        if (rc != 0 || m->out->waiting)
            return rc;
    } else {
        out->rot = prev;
        if (prev.stopped[0] != '\0' && !(flags & KW_DKIM_ROT_RETRY) &&
            now < prev.wait_until) {
            out->stopped = 1;
            return 0;
        }
    }
    *go = 1;
    return 0;
}

int kw_dkim_rotate_run(ks_store *s, const kw_dkim_rot_params *p,
                       const kw_dkim_rot_dns *dns, int flags, int64_t now,
                       kw_dkim_rot_out *out, kw_diag *d)
{
    machine m;
    int more, rc, i, go, round, total = 0;

    /* Two rounds at most: a rotation that finishes in this call (a first
     * one retired once its reload is proven) lets the next one start in
     * the same call when it is due, as it would have had it finished
     * earlier. */
    for (round = 0; round < 2; round++) {
        if ((rc = rot_begin(&m, s, p, dns, round == 0 ? flags : 0, now, out,
                            &go, d)) != 0)
            return rc;
        if (!go)
            break;
        for (i = 0, more = 1; more && i < MAX_CHANGES; i++)
            if ((rc = rot_step(&m, &more, d)) != 0)
                return rc;
        total += out->changes;
        if (out->changes == 0 || !rot_finished(&out->rot))
            break;
    }
    out->changes = total;
    return 0;
}

/* The managed section of domain among params' (NULL: KW_ENOTFOUND in d). */
const kw_dkim_rot_params *kw_dkim_rot_section(
    const struct kw_dkim_params *params, const char *domain, int track)
{
    size_t i;

    for (i = 0; i < params->nrot; i++)
        if (strcasecmp(params->rot[i].domain, domain) == 0 &&
            (track == KS_DKIM_TRACK_ANY || params->rot[i].track == track))
            return &params->rot[i];
    return NULL;
}

const kw_dkim_rot_params *kw_dkim_rot_section_of(
    const struct kw_dkim_params *params, const ks_dkim_rot *r)
{
    const kw_dkim_rot_params *p =
        kw_dkim_rot_section(params, r->domain, KS_DKIM_TRACK_ANY);

    if (p == NULL || p->track == KS_DKIM_TRACK_ANY)
        return p;
    return kw_dkim_rot_section(params, r->domain,
                               ks_dkim_track_of(r->key_type));
}

static const kw_dkim_rot_params *section_of(const struct kw_dkim_params *params,
                                            const char *domain, kw_diag *d)
{
    const kw_dkim_rot_params *p =
        kw_dkim_rot_section(params, domain, KS_DKIM_TRACK_ANY);

    if (p != NULL)
        return p;
    kw_diag_set(d, KW_ENOTFOUND, "%s: no [dkim \"%s\"] section with "
                "rotate = in the configuration", domain, domain);
    return NULL;
}

int kw_dkim_rotate_step(ks_store *s, const struct kw_dkim_params *params,
                        const char *domain, int flags, int64_t now,
                        kw_dkim_rot_out *out, kw_diag *d)
{
    const kw_dkim_rot_params *p = section_of(params, domain, d);

    return p == NULL ? KW_ENOTFOUND
                     : kw_dkim_rotate_run(s, p, NULL, flags, now, out, d);
}

/* ---- abort --------------------------------------------------------- */

/* Was the signer switch to the new key begun and never finished (the
 * intent at PROPAGATED journalled, no result after it: a run killed
 * mid-switch)?  Then the signer's files may name the new key. */
static int switch_interrupted(machine *m, int *yes, kw_diag *d)
{
    ks_dkim_rot_step *j;
    size_t n;
    int rc;

    *yes = 0;
    if (kw_dkim_stage_parse(m->r->stage) != KW_DKIM_ST_PROPAGATED ||
        m->r->stopped[0] != '\0')
        return 0;
    if ((rc = ks_dkim_rot_journal(m->s, m->r->id, &j, &n, d)) != 0)
        return rc;
    *yes = n > 0 && j[n - 1].intent[0] != '\0' &&
           strcmp(j[n - 1].new_stage, "propagated") == 0;
    free(j);
    return 0;
}

/* Do the signer's files name the new selector for the domain?  1 yes,
 * 0 no, -1 not known (signer = exec, or the files cannot be read). */
static int signer_names_new(machine *m)
{
    kw_dkim_sources src;
    size_t i;
    int rc, yes = 0;

    if (read_signer(m->p, &src, &rc) == NULL)
        return -1;
    if (rc != 0 || src.nfailed > 0)
        yes = -1;
    for (i = 0; yes == 0 && i < src.n; i++)
        yes = strcasecmp(src.sel[i].domain, m->r->domain) == 0 &&
              src.sel[i].role == KW_DKIM_ROLE_SIGNING &&
              strcmp(src.sel[i].selector, m->r->selector) == 0;
    kw_dkim_sources_free(&src);
    return yes;
}

int kw_dkim_rotate_abort_run(ks_store *s, const kw_dkim_rot_params *p,
                             const kw_dkim_rot_dns *dns, int64_t now,
                             kw_dkim_rot_out *out, kw_diag *d)
{
    ks_dkim_rot *r = &out->rot;
    kw_dkim_stage st;
    char intent[1400], name[NAME_MAX_LEN];
    machine m;
    int found, more = 1, rc, i, begun;

    machine_init(&m, s, p, dns, now, out);
    if ((rc = ks_dkim_rot_latest_track(s, p->domain, p->track, r, &found,
                                       d)) != 0)
        return rc;
    st = found ? kw_dkim_stage_parse(r->stage) : KW_DKIM_ST_NONE;
    if (st >= KW_DKIM_ST_ACTIVE && st <= KW_DKIM_ST_REMOVING)
        return kw_diag_set(d, KW_EINVAL, "dkim abort %s: the rotation to "
                           "selector %s is %s: the signer was switched to "
                           "the new key, which may sign mail now, so its "
                           "record must stay; let this rotation finish, "
                           "or start the next with `keywarden dkim rotate "
                           "%s` once it has", p->domain, r->selector,
                           r->stage, p->domain);
    if (!found || rot_finished(r))
        return kw_diag_set(d, KW_ENOTFOUND, "dkim abort %s: no rotation "
                           "runs%s%s%s%s%s", p->domain,
                           found ? " (the last, to selector " : "",
                           found ? r->selector : "", found ? ", is " : "",
                           found ? r->stage : "", found ? ")" : "");
    if ((rc = switch_interrupted(&m, &begun, d)) != 0)
        return rc;
    if (begun && signer_names_new(&m) == 0)
        begun = 0;
    if (begun)
        return kw_diag_set(d, KW_EINVAL, "dkim abort %s: a switch of the "
                           "signer to selector %s was begun and not "
                           "finished (a run was stopped mid-switch), so the "
                           "new key may sign mail and its record must "
                           "stay; run `keywarden dkim rotate %s` to finish "
                           "the switch", p->domain, r->selector, p->domain);
    if (st != KW_DKIM_ST_ABORTING) {
        rot_dkim_name(p, r->selector, r->domain, name, sizeof(name));
        snprintf(intent, sizeof(intent), "abort at %s: %s%s, then %s %.900s",
                 r->stage, st >= KW_DKIM_ST_PUBLISHING ? "remove TXT " : "",
                 st >= KW_DKIM_ST_PUBLISHING ? name : "nothing published",
                 p->delete_old_key ? "delete" : "archive", r->key_path);
        if ((rc = rot_set_state(&m, KW_DKIM_ST_ABORTING, intent, NULL, NULL,
                                NULL, d)) != 0)
            return rc;
    }
    for (i = 0; more && i < MAX_CHANGES; i++)
        if ((rc = rot_step(&m, &more, d)) != 0)
            return rc;
    return 0;
}

int kw_dkim_rotate_abort(ks_store *s, const struct kw_dkim_params *params,
                         const char *domain, int64_t now,
                         kw_dkim_rot_out *out, kw_diag *d)
{
    const kw_dkim_rot_params *p = section_of(params, domain, d);

    return p == NULL ? KW_ENOTFOUND
                     : kw_dkim_rotate_abort_run(s, p, NULL, now, out, d);
}

