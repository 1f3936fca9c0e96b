/*
 * ks_dnssec_seen.c: a DNSSEC zone's health last seen, and its
 * health.changed events (ks_dnssec_seen.h).
 */
#include "ks_dnssec_seen.h"

#include "ks_health.h"
#include "ks_store_int.h"

#include "../common/kw_json.h"

#include <jansson.h>
#include <stdio.h>

int ks_meta_health_swap(ks_store *s, const char *key, int health,
                        int64_t *before, int *moved, kw_diag *d)
{
    static const char what[] = "recording the health seen";
    int found = 0, rc;

    *moved = 0;
    *before = KS_HEALTH_OK;
    rc = ks_value(s, d, what, before, &found,
                  "SELECT value FROM meta WHERE key = ?1", "t", key);
    if (rc == 0 && !found)
        *before = KS_HEALTH_OK;
    if (rc != 0 || (found && *before == health))
        return rc;
    rc = ks_run(s, d, what,
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                "ti", key, (int64_t)health);
    *moved = rc == 0 && *before != health;
    return rc;
}

int ks_dnssec_health_seen(ks_store *s, const char *zone, int64_t object_id,
                          int health, const char *reason, int64_t now,
                          int *changed, kw_diag *d)
{
    int own = sqlite3_get_autocommit(ks_db(s)) != 0;
    char key[300];
    int64_t before = KS_HEALTH_OK;
    int moved = 0, rc = 0;

    *changed = 0;
    snprintf(key, sizeof(key), "dnssec_health:%s", zone);
    if (own && (rc = ks_begin(s, d)) != 0)
        return rc;
    rc = ks_meta_health_swap(s, key, health, &before, &moved, d);
    if (rc == 0 && moved) {
        rc = ks_event_add(
            s, now, object_id, "health.changed",
            json_pack("{s:o, s:s, s:o, s:s, s:s, s:o}", "object",
                      kw_json_str(zone), "kind", "dnssec", "zone",
                      kw_json_str(zone), "from",
                      ks_health_word((ks_health)before), "to",
                      ks_health_word((ks_health)health), "reason",
                      kw_json_str(reason != NULL ? reason : "")),
            d);
        *changed = rc == 0;
    }
    rc = ks_end_own(s, own, rc, d);
    if (rc != 0)
        *changed = 0;
    return rc;
}
