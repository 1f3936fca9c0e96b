/*
 * ks_dkim_rot_seen.c: a managed DKIM domain's rotation health last seen,
 * and its health.changed events (ks_dkim_rot_seen.h).
 */
#include "ks_dkim_rot_seen.h"

#include "ks_dkim_rot.h"
#include "ks_health.h"
#include "ks_store_int.h"

#include "../common/kw_json.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

int ks_dkim_rot_health_seen(ks_store *s, const char *domain, int track,
                            const char *selector, int health,
                            const char *reason, int64_t now, int *changed,
                            kw_diag *d)
{
    char key[300];
    int64_t before = KS_HEALTH_OK;
    int moved = 0, rc;

    *changed = 0;
    snprintf(key, sizeof(key), "dkim_rot_health:%s%s", domain,
             track == KS_DKIM_TRACK_ED25519 ? " (ed25519)" : "");
    if ((rc = ks_begin(s, d)) != 0)
        return rc;
    /* A domain never seen was ok: nothing of it ran yet. */
    rc = ks_meta_health_swap(s, key, health, &before, &moved, d);
    if (rc == 0 && moved) {
        rc = ks_event_add(
            s, now, 0, "health.changed",
            json_pack("{s:o, s:s, s:b, s:s, s:s, s:o, s:o, s:o?, s:s?}",
                      "object",
                      kw_json_str(domain), "kind", "dkim", "rotation", 1,
                      "from", ks_health_word((ks_health)before), "to",
                      ks_health_word((ks_health)health), "reason",
                      kw_json_str(reason != NULL ? reason : ""), "domain",
                      kw_json_str(domain), "selector",
                      selector != NULL && selector[0] != '\0'
                          ? kw_json_str(selector)
                          : NULL,
                      "track",
                      track == KS_DKIM_TRACK_ED25519 ? "ed25519"
                      : track == KS_DKIM_TRACK_RSA   ? "rsa"
                                                     : NULL),
            d);
        *changed = rc == 0;
    }
    /* Its own transaction, always (ks_begin above). */
    rc = ks_end_own(s, 1, rc, d);
    if (rc != 0)
        *changed = 0;
    return rc;
}
