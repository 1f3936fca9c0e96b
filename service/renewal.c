#include "listing.h"

#include "../acme/acme_ari.h"
#include "../acme/renew_due.h"

#include "../common/kw_json.h"
#include "../dane/dane_roll.h"
#include "../keystore/ks_dane_roll.h"
#include "../common/kw_time.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int collect(void *ctx, const ks_managed *m)
{
    kw_renewals *r = ctx;
    ks_managed *nv;

    /* Only a live certificate has a renewal time to show. */
    if (m->live_version <= 0 || m->fingerprint[0] == '\0')
        return 0;
    nv = realloc(r->v, (r->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return KW_ENOMEM;
    r->v = nv;
    r->v[r->n++] = *m;
    return 0;
}

int kw_renewals_load(ks_store *s, kw_renewals *r, kw_diag *d)
{
    int rc;

    memset(r, 0, sizeof(*r));
    rc = ks_managed_each(s, collect, r, d);
    if (rc == 0 && r->n > 0)
        rc = ks_dane_roll_list(s, NULL, &r->dane, &r->ndane, 100000, d);
    if (rc == KW_ENOMEM)
        rc = kw_diag_set(d, KW_ENOMEM, "out of memory");
    if (rc != 0)
        kw_renewals_free(r);
    return rc;
}

void kw_renewals_free(kw_renewals *r)
{
    free(r->v);
    free(r->dane);
    memset(r, 0, sizeof(*r));
}

/* The ARI identifier of the first certificate in path (NULL: unreadable,
 * or no key identifier): whether the recorded window is about this very
 * certificate, as the renewal itself asks. */
static char *file_cert_id(const char *path)
{
    FILE *f = path != NULL ? fopen(path, "r") : NULL;
    X509 *x = NULL;
    char *id = NULL;
    kw_diag d;

    if (f == NULL)
        return NULL;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x != NULL)
        id = acme_ari_cert_id(x, &d);
    X509_free(x);
    return id;
}

static json_t *at_or_null(int64_t t)
{
    char buf[32];

    if (t <= 0)
        return json_null();
    kw_time_rfc3339(t, buf, sizeof(buf));
    return json_string(buf);
}

static const char *reason_word(kw_renew_reason why)
{
    switch (why) {
    case KW_WHY_NAMES:
        return "names";
    case KW_WHY_FORCED:
        return "forced";
    case KW_WHY_ARI:
        return "ari-window";
    case KW_WHY_NEVER_ISSUED:
        return "never-issued";
    case KW_WHY_LIFETIME:
    case KW_WHY_NONE:
    default:
        return "lifetime";
    }
}

json_t *kw_renewal_json(const kw_renewals *r, const ks_object *o,
                        int64_t now)
{
    const ks_managed *m = NULL;
    const ks_dane_roll *roll = NULL;
    char held[700] = "";
    kw_renew_live live;
    kw_renew_decision dc;
    const char *verdict, *basis;
    int64_t at;
    char *cert_id;
    size_t i;

    if (o->fingerprint == NULL || o->position != 0)
        return NULL;
    for (i = 0; i < r->n && m == NULL; i++)
        if (strcmp(r->v[i].fingerprint, o->fingerprint) == 0)
            m = &r->v[i];
    if (m == NULL)
        return NULL;
    /* The decision the renewal makes, from the record and the live
     * certificate; the configured names are not read here, so they are
     * taken as covered (a change of names makes it due at the next run,
     * which the page then shows). */
    cert_id = file_cert_id(o->source);
    memset(&live, 0, sizeof(live));
    live.version = m->live_version;
    live.not_before = m->not_before;
    live.not_after = m->not_after;
    live.covers_all = 1;
    live.cert_id = cert_id;
    kw_renew_decide(m, &live, 0, 0, now, &dc);
    free(cert_id);
    switch (dc.verdict) {
    case KW_DUE_NOT_YET:
        verdict = "scheduled";
        basis = dc.ari_first ? "ari-window" : "lifetime";
        at = dc.renew_at;
        break;
    case KW_DUE_ASK_CA:
        /* The CA's window is asked for first; it can only bring the
         * lifetime rule's time forward. */
        verdict = "asking-ca";
        basis = "lifetime";
        at = dc.due;
        break;
    case KW_DUE_NOW:
        verdict = "due";
        basis = reason_word(dc.reason);
        at = now;
        /* Due, but the DANE rollover's next key is not ready: the
         * renewal is held back (not a failure; renew.c's gate). */
        for (i = 0; i < r->ndane && roll == NULL; i++)
            if (strcmp(r->dane[i].cert, m->name) == 0)
                roll = &r->dane[i];
        if (roll != NULL && !roll->released &&
            kw_dane_stage_parse(roll->stage) != KW_DANE_ST_READY) {
            verdict = "held-back";
            if (roll->stopped[0] != '\0')
                snprintf(held, sizeof(held), "held back: the DANE rollover "
                         "stopped at %s: %.500s", roll->stage, roll->stopped);
            else
                snprintf(held, sizeof(held), "held back: the next key's "
                         "TLSA record is %s%s%.500s", roll->stage,
                         roll->waits_for[0] != '\0' ? ": " : "",
                         roll->waits_for);
            if (roll->wait_until > now)
                at = roll->wait_until;
        }
        break;
    case KW_DUE_TOO_SOON:
        verdict = "too-soon";
        basis = "lifetime";
        at = dc.next_at;
        break;
    case KW_DUE_BACKOFF:
        verdict = "retrying";
        basis = "retry";
        at = dc.next_at;
        break;
    case KW_DUE_BLOCKED:
    default:
        verdict = "blocked";
        basis = "blocked";
        at = 0;
        break;
    }
    return json_pack("{s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:o}",
                     "held_back",
                     held[0] != '\0' ? json_string(held) : json_null(),
                     "certificate",
                     kw_json_str(m->name), "verdict", verdict, "basis",
                     basis, "renew_at", at_or_null(at), "lifetime_due",
                     at_or_null(dc.due), "ari_window",
                     dc.ari_current && m->ari_start > 0 && m->ari_end > 0
                         ? json_pack("{s:o, s:o}", "start",
                                     at_or_null(m->ari_start), "end",
                                     at_or_null(m->ari_end))
                         : json_null(),
                     "last_error",
                     m->last_error[0] != '\0' && m->failures > 0
                         ? json_string(m->last_error)
                         : json_null());
}

int kw_renewal_attach(const kw_renewals *r, const ks_object *o,
                      int64_t now, json_t *js)
{
    json_t *rn = kw_renewal_json(r, o, now);
    const json_t *at;

    if (rn == NULL)
        return 0;
    at = json_object_get(rn, "renew_at");
    if (json_is_string(at) &&
        json_object_set_new(js, "renewal_at", json_copy((json_t *)at)) != 0) {
        json_decref(rn);
        return KW_ENOMEM;
    }
    return json_object_set_new(js, "renewal", rn) != 0 ? KW_ENOMEM : 0;
}
