#include "ks_events.h"

#include <string.h>

const ks_event_type ks_event_types[] = {
    /* managed certificates and the ACME account */
    {"cert.renewed", "a managed certificate was renewed and deployed",
     KS_EVENT_EMITTED},
    {"cert.renewal_failed", "a renewal attempt failed", KS_EVENT_EMITTED},
    {"cert.rolled_back", "a deployment was undone to the previous version",
     KS_EVENT_EMITTED},
    {"cert.revoked", "a certificate was revoked at the CA",
     KS_EVENT_EMITTED},
    {"cert.expiring",
     "a certificate came within the warning or the critical threshold",
     KS_EVENT_EMITTED},
    {"account.key_changed", "the ACME account key was rolled over",
     KS_EVENT_EMITTED},
    {"precheck.failed", "a renewal's pre-check failed", KS_EVENT_EMITTED},
    {"precheck.recovered", "a pre-check passed again after failing",
     KS_EVENT_EMITTED},
    /* endpoints (probes) */
    {"probe.stale", "an endpoint serves an older certificate than the newest",
     KS_EVENT_EMITTED},
    {"probe.fresh", "an endpoint serves the newest certificate again",
     KS_EVENT_EMITTED},
    {"probe.failed", "an endpoint stopped answering the probe",
     KS_EVENT_EMITTED},
    {"probe.recovered", "an endpoint answers the probe again",
     KS_EVENT_EMITTED},
    /* the inventory */
    {"health.changed", "an object's health moved (from, to, reason)",
     KS_EVENT_EMITTED},
    {"object.changed", "an object's file now holds something else",
     KS_EVENT_EMITTED},
    {"object.removed", "an object left its file or the inventory",
     KS_EVENT_EMITTED},
    {"object.missing", "an object's file vanished since the last scan",
     KS_EVENT_EMITTED},
    {"object.unreadable", "an object's file can no longer be read or parsed",
     KS_EVENT_EMITTED},
    {"object.forgotten", "an operator forgot an object", KS_EVENT_EMITTED},
    {"file.renamed", "a scanned file moved to another path",
     KS_EVENT_EMITTED},
    {"file.restored", "a file marked missing is back", KS_EVENT_EMITTED},
    {"scan.completed", "a scan finished (files, parsed, certs, errors)",
     KS_EVENT_EMITTED},
    /* the daemon's jobs */
    {"job.retry", "a job failed and will be tried again", KS_EVENT_EMITTED},
    {"job.failed", "a job failed with no retry left", KS_EVENT_EMITTED},
    {"job.resumed", "a job a crash left running was taken up again",
     KS_EVENT_EMITTED},
    /* hooks themselves */
    {"hook.failed", "a hook's delivery failed for good", KS_EVENT_EMITTED},
    /* DKIM's DNS check */
    {"dkim.dns_mismatch",
     "a signing DKIM key's DNS record stopped matching the key",
     KS_EVENT_EMITTED},
    /* DKIM and DNSSEC: their lifecycles will emit these */
    {"dkim.published", "a new DKIM key's record is published",
     KS_EVENT_RESERVED},
    {"dkim.activated", "the signer switched to the new DKIM key",
     KS_EVENT_EMITTED},
    {"dkim.retired", "an old DKIM key's record was removed",
     KS_EVENT_RESERVED},
    /* DNSSEC's live check (dnssec/dnssec_watch.c) */
    {"dnssec.ds_needed", "a ready KSK has waited for its DS at the parent "
     "longer than the parent's TTL and a margin", KS_EVENT_EMITTED},
};

const size_t ks_event_ntypes = sizeof(ks_event_types) /
                               sizeof(ks_event_types[0]);

const ks_event_type *ks_event_type_find(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < ks_event_ntypes; i++)
        if (strcmp(ks_event_types[i].name, name) == 0)
            return &ks_event_types[i];
    return NULL;
}

int ks_event_type_check(const char *type, kw_diag *d)
{
    if (ks_event_type_find(type) != NULL)
        return 0;
    return kw_diag_set(d, KW_EINVAL,
                       "recording a %s event: no such event type in the "
                       "registry (keystore/ks_events.c)",
                       type != NULL ? type : "(null)");
}
