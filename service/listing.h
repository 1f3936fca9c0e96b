/*
 * listing.h: the inventory as the JSON objects of `list --json`, built in
 * one place for every reader: the CLI prints them, the web page (web.h)
 * renders them, so the two never disagree.
 *
 * kw_listing_each walks the inventory (ks_inventory_each, deadline order)
 * and hands each row to a callback with its verdict: the pure health
 * rules (keystore/ks_health.c), the worst of the files that hold the same
 * leaf, and failed hooks turning their objects critical.  With json set
 * the callback also gets the object's JSON, the documented format of
 * keywarden(1) JSON OUTPUT; it is borrowed for the call.  Blocking (SQLite):
 * the daemon calls it on the libuv pool.
 */
#ifndef KW_LISTING_H
#define KW_LISTING_H

#include "../common/kw_err.h"
#include "../hooks/hook_outbox.h"
#include "../keystore/ks_inventory.h"
#include "../keystore/ks_managed.h"

#include <jansson.h>
#include <stdint.h>

/* The managed certificates' records (ks_managed.h) with a live version,
 * read once per listing: an object whose fingerprint is a record's live
 * one is that certificate, and gets its next renewal. */
typedef struct kw_renewals {
    struct ks_managed *v;
    size_t n;
    /* The newest DANE rollover of each certificate with one: a due
     * renewal it holds back says "held-back" and what it waits for. */
    struct ks_dane_roll *dane;
    size_t ndane;
} kw_renewals;

int kw_renewals_load(ks_store *s, kw_renewals *r, kw_diag *d);
void kw_renewals_free(kw_renewals *r);
/* The "renewal" member of o's JSON: kw_renew_decide's answer for its
 * record at now, {certificate, verdict (scheduled, asking-ca, due,
 * too-soon, retrying, blocked, held-back: due but its DANE rollover's
 * next key is not ready), basis (lifetime, ari-window, retry, names,
 * ...), renew_at, lifetime_due, ari_window {start, end} or null,
 * last_error, held_back: "held back: what the rollover waits for" or
 * null}; NULL when o is no managed certificate's live leaf (or out
 * of memory).  Reads o's file for its ARI identifier. */
json_t *kw_renewal_json(const kw_renewals *r, const ks_object *o,
                        int64_t now);
/* Sets "renewal" and "renewal_at" (its renew_at, when known) on js.
 * 0, or KW_ENOMEM. */
int kw_renewal_attach(const kw_renewals *r, const ks_object *o,
                      int64_t now, json_t *js);

typedef struct kw_listing {
    ks_store *s;
    int64_t now;
    ks_thresholds t;
    ks_filter f;        /* kw_listing_init: by_leaf, every kind */
    int min_rank;       /* rows below this health rank are skipped */
    int json;           /* hand each row's JSON to the callback */
    kw_hook_overlay ov; /* loaded by kw_listing_each, freed by _done */
    kw_renewals rn;     /* json: loaded by kw_listing_each, freed by _done */
    ks_leaf_files *lf;  /* a row's files, opened at the first that has
                           several, closed by _done */
    /* Filled while walking. */
    size_t merged;      /* files folded into another file's row */
    size_t filtered;    /* rows below min_rank */
    int failed;         /* a row's files or JSON could not be read */
} kw_listing;

/* The defaults of `list` (and of the page): one row per leaf, every
 * kind, the default thresholds, nothing hidden. */
void kw_listing_init(kw_listing *l, ks_store *s, int64_t now);

/* cb(ctx, o, v, js): js NULL unless l->json (then it is never NULL: a
 * row whose JSON cannot be built sets l->failed and is skipped, said on
 * stderr).  cb returns 0 to go on. */
typedef int (*kw_listing_cb)(void *ctx, const ks_object *o,
                             const ks_verdict *v, json_t *js);
int kw_listing_each(kw_listing *l, kw_listing_cb cb, void *ctx, kw_diag *d);
void kw_listing_done(kw_listing *l);

/* The whole document `list --json` prints without options, as a JSON
 * array, into *out: the objects, then the managed DKIM domains'
 * rotations of the configuration at config_path (NULL or a missing file:
 * none).  A configuration that does not load is no error, as for `list`:
 * warn (wcap bytes) says why the rotations are missing, else "".  KW_E*
 * with d. */
int kw_listing_document(ks_store *s, int64_t now, const char *config_path,
                        json_t **out, char *warn, size_t wcap, kw_diag *d);

/* A managed DKIM domain's rotation as an element of that document:
 * {kind: "dkim-rotation", name, domain, stage, selector, health, reason,
 * fix, next_rotation, next_step}; NULL when out of memory. */
struct kw_dkim_rot_view;
json_t *kw_rotation_json(const struct kw_dkim_rot_view *v);
/* RFC 3339 of t, "-" when unknown (t <= 0). */
void kw_rot_time(int64_t t, char *buf, size_t cap);

/* The daemon's pending and running jobs, soonest first, as `keywarden
 * status` and the page at /jobs show them: [{type, key, state, attempt,
 * next_at, last_error?}].  A database that cannot be read shows no jobs
 * (a status report, not a failure); NULL only when out of memory. */
json_t *kw_listing_jobs(ks_store *s);

/* One object's JSON (the elements of the array above). */
json_t *kw_object_json(const ks_object *o, int64_t now,
                       const ks_thresholds *t, const ks_verdict *v);
/* A name for people: IDN A-labels as Unicode (malloc'd). */
char *kw_display_name(const char *name);

#endif
