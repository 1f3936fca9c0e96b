/*
 * ks_events.h: the one registry of event types.
 *
 * Every row of the events table has a type from this table, and nothing
 * else: the writers in keystore/ (ks_event_add, the scan's, the jobs',
 * the probes') refuse a type the registry lacks with KW_EINVAL, so a
 * misspelt or new type fails its first test instead of reaching a
 * database where no hook can ask for it.  A hook's `on =` is checked
 * against the same table (hooks/hook_def.c), `config check` warns about
 * the reserved ones, and docs/guide.md and docs/keywarden.1 list it.
 *
 * The table is static, const and thread-safe; nothing here allocates or
 * blocks.  Adding a type: one row here (in the group it belongs to, as
 * the docs list them), then the two docs.
 */
#ifndef KS_EVENTS_H
#define KS_EVENTS_H

#include "../common/kw_err.h"

#include <stddef.h>

typedef enum ks_event_status {
    KS_EVENT_EMITTED,  /* something in keywarden writes it */
    KS_EVENT_RESERVED  /* for a lifecycle still to come (DKIM, DNSSEC):
                          a hook may take it, nothing writes it yet */
} ks_event_status;

typedef struct ks_event_type {
    const char *name;    /* "cert.renewed" */
    const char *meaning; /* one line, for operators */
    ks_event_status status;
} ks_event_type;

/* The registry, ks_event_ntypes rows, in the order the docs list them
 * (`hooks test` takes the first one a glob matches). */
extern const ks_event_type ks_event_types[];
extern const size_t ks_event_ntypes;

/* The row of type name, or NULL when the registry has no such type. */
const ks_event_type *ks_event_type_find(const char *name);

/* 0 when type is in the registry; else KW_EINVAL with d saying which
 * type and that keystore/ks_events.c lacks it. */
int ks_event_type_check(const char *type, kw_diag *d);

#endif
