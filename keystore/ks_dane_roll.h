/*
 * ks_dane_roll.h: DANE key rollovers and their journal.
 *
 * A rollover is one pre-announced next key of a [certificate] with
 * dane = (dane/dane_roll.h walks it through its stages; this module only
 * stores it).  dane_rollovers holds one row per next key: the
 * certificate, the key file's path (the key itself is never stored), the
 * TLSA record of that key and of the key it replaces, the TLSA owner
 * names, the stage and since when, what it waits for and until when, why
 * it stopped and how many attempts of the current step failed in a row,
 * and whether the operator released it (deploy without the wait).
 * dane_roll_journal holds one row per change of stage, written in the
 * same transaction as the row (ks_dane_roll_save).  Every function BLOCKS
 * on the database (keystore's rules, ks_store.h).
 */
#ifndef KS_DANE_ROLL_H
#define KS_DANE_ROLL_H

#include "ks_store.h"

#include <stddef.h>
#include <stdint.h>

#define KS_DANE_ROLL_TEXT_MAX 1024

typedef struct ks_dane_roll {
    int64_t id;               /* 0 until saved */
    char cert[256];           /* the [certificate "NAME"] */
    char key_path[1024];
    char tlsa[160];           /* "3 1 1 HEX" of the next key; "" until made */
    char old_tlsa[160];       /* of the key it replaces; "" none */
    char names[KS_DANE_ROLL_TEXT_MAX]; /* TLSA owners, space-separated */
    char stage[16];
    int64_t since;
    int64_t wait_until;       /* 0: not waiting for a time */
    char waits_for[KS_DANE_ROLL_TEXT_MAX];
    char stopped[KS_DANE_ROLL_TEXT_MAX]; /* "" running */
    int failures;
    int released;             /* the operator's override */
    int64_t started_at;
} ks_dane_roll;

typedef struct ks_dane_roll_step {
    int64_t at;
    char old_stage[16], new_stage[16];
    char note[KS_DANE_ROLL_TEXT_MAX];
} ks_dane_roll_step;

/* Writes r (inserted when r->id is 0, r->id then set; else updated) and a
 * journal row old_stage -> r->stage at time at with note, in one
 * transaction.  On failure nothing is written and r->id is unchanged. */
int ks_dane_roll_save(ks_store *s, ks_dane_roll *r, const char *old_stage,
                      int64_t at, const char *note, kw_diag *d);

/* The newest rollover of cert in *r; *found 0 when there is none. */
int ks_dane_roll_latest(ks_store *s, const char *cert, ks_dane_roll *r,
                        int *found, kw_diag *d);

/* The newest rollover of every certificate (cert NULL) or of cert, by
 * certificate name (malloc'd, at most max). */
int ks_dane_roll_list(ks_store *s, const char *cert, ks_dane_roll **out,
                      size_t *n, size_t max, kw_diag *d);

/* The journal of rollover id, oldest first (malloc'd, at most max). */
int ks_dane_roll_journal(ks_store *s, int64_t id, ks_dane_roll_step **out,
                         size_t *n, size_t max, kw_diag *d);

#endif
