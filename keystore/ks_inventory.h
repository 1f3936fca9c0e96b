/*
 * ks_inventory.h: reading the inventory (list, show, check, forget).
 *
 * Rows are handed to a callback with pointers into SQLite's own buffers:
 * no allocation per row, so listing a million objects costs what SQLite
 * costs.  The pointers are valid only during the callback.
 */
#ifndef KS_INVENTORY_H
#define KS_INVENTORY_H

#include "ks_health.h"
#include "ks_store.h"

#include <stdint.h>

typedef struct ks_object {
    int64_t id;
    const char *kind;
    const char *name;
    const char *source;
    int position;
    int managed;
    const char *sans_json; /* JSON array of strings */
    const char *fingerprint;
    const char *subject;
    const char *issuer;
    const char *serial;
    const char *key_type;
    int key_bits;
    int chain_len;
    int self_signed;
    int64_t created_at;
    /* With ks_filter.by_leaf: 1 when other files hold the same leaf
     * (ks_inventory_same_leaf lists them all). */
    int other_files;
    ks_tls_facts facts; /* everything health needs */
} ks_object;

typedef struct ks_filter {
    const char *kind;     /* NULL: all kinds */
    /* Brief rows carry id, kind, name and the health facts; the other
     * fields (source, sans, subject, ...) are NULL, except for objects
     * whose facts need words (errors, key and chain problems) and for
     * those with a deadline at or before detail_before, which are read in
     * full.  A million-row listing then never leaves the index. */
    int brief;
    int64_t detail_before;
    int has_before;       /* only deadline <= before (or unknown) */
    int64_t before;
    int include_hidden;   /* superseded versions and idle trust anchors */
    int64_t id;           /* > 0: just this object */
    /* One row per leaf: of the files that hold the same leaf certificate
     * with the same deadline (Let's Encrypt's certN.pem and
     * fullchainN.pem), only the first (lowest id) is handed to the
     * callback, with other_files set.  Endpoints are never merged. */
    int by_leaf;
} ks_filter;

/* Call cb for each object matching f, in deadline order (objects without
 * a known deadline first).  cb returns 0 to go on, non-zero to stop. */
int ks_inventory_each(ks_store *s, const ks_filter *f,
                      int (*cb)(void *ctx, const ks_object *o), void *ctx,
                      kw_diag *d);

/* The objects that hold the same leaf as object id, in the same kind of
 * file and with the same deadline (the group a by_leaf listing shows as
 * one row), itself included, lowest id first.  include_hidden as in
 * ks_filter.  An endpoint, or an object without a leaf, is alone. */
int ks_inventory_same_leaf(ks_store *s, int64_t id, int include_hidden,
                           int (*cb)(void *ctx, const ks_object *o),
                           void *ctx, kw_diag *d);

/* The same, for many objects in a row (a listing's groups): the
 * statement is prepared once by _open and reused by each _each; close
 * with _close (NULL is fine).  The store must outlive it. */
typedef struct ks_leaf_files ks_leaf_files;
int ks_leaf_files_open(ks_store *s, int include_hidden, ks_leaf_files **out,
                       kw_diag *d);
int ks_leaf_files_each(ks_leaf_files *lf, int64_t id,
                       int (*cb)(void *ctx, const ks_object *o), void *ctx,
                       kw_diag *d);
void ks_leaf_files_close(ks_leaf_files *lf);

/* The source of one object, into buf (for brief rows that lack it). */
int ks_inventory_source(ks_store *s, int64_t id, char *buf, size_t len,
                        kw_diag *d);

/* Count all objects, and the hidden ones (superseded versions, idle trust
 * anchors) that `list` leaves out unless asked. */
int ks_inventory_count(ks_store *s, int64_t *total, int64_t *hidden,
                       kw_diag *d);

/* Resolve what an operator typed (an id, a name, a source path or a SAN)
 * to object ids.  *ids is malloc'd; free it.  0 matches is KW_ENOTFOUND. */
int ks_inventory_resolve(ks_store *s, const char *what, int64_t **ids,
                         size_t *n, kw_diag *d);

typedef struct ks_element {
    int position;
    const char *subject, *issuer, *serial, *fingerprint, *key_type;
    const char *sans_json;
    int key_bits, is_ca, self_signed;
    int64_t not_before, not_after;
} ks_element;

int ks_inventory_elements(ks_store *s, int64_t id,
                          int (*cb)(void *ctx, const ks_element *e),
                          void *ctx, kw_diag *d);

typedef struct ks_event {
    int64_t id, at;
    const char *type, *detail;
} ks_event;

/* The newest `limit` events of an object, oldest first. */
int ks_inventory_events(ks_store *s, int64_t id, int limit,
                        int (*cb)(void *ctx, const ks_event *e), void *ctx,
                        kw_diag *d);

/* Other paths (symlinks) that lead to the object's file. */
int ks_inventory_links(ks_store *s, int64_t id,
                       int (*cb)(void *ctx, const char *path), void *ctx,
                       kw_diag *d);

typedef struct ks_usage_row {
    const char *path, *daemon, *config, *directive;
    int line, is_key;
} ks_usage_row;

/* The daemons whose configuration names the object's file (by its path
 * or a symlink to it). */
int ks_inventory_usages(ks_store *s, int64_t id,
                        int (*cb)(void *ctx, const ks_usage_row *u),
                        void *ctx, kw_diag *d);

/* Replace what discovery found (all daemons at once). */
int ks_usages_replace(ks_store *s, const ks_usage_row *rows, size_t n,
                      int64_t now, kw_diag *d);

/* Remove an object from the inventory (its history stays). */
int ks_inventory_forget(ks_store *s, int64_t id, int64_t now, kw_diag *d);

#endif
