/*
 * dnssec_key.h: one DNSSEC key as keywarden sees it, whoever signs with it.
 *
 * The types both halves of dnssec/ share: a key's zone, role, algorithm,
 * size, tag, public DNSKEY and the timing data its signer keeps (BIND's
 * .key/.state files, Knot's KASP through keymgr), and the RFC 7583 stage
 * those times put it in at a given moment.  Everything here is pure
 * computation on the caller's memory: nothing blocks, nothing is
 * allocated, no global state.  A kw_dnssec_key holds no private key
 * material ever: readers take only the public DNSKEY and the times.
 */
#ifndef KW_DNSSEC_KEY_H
#define KW_DNSSEC_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "../common/kw_err.h"

typedef enum kw_dnssec_role {
    KW_DNSSEC_KSK = 1,
    KW_DNSSEC_ZSK,
    KW_DNSSEC_CSK
} kw_dnssec_role;

/* The key states of RFC 7583 section 3.1 that timing data can tell. */
typedef enum kw_dnssec_stage {
    KW_DNSSEC_ST_GENERATED = 1,
    KW_DNSSEC_ST_PUBLISHED,
    KW_DNSSEC_ST_READY,
    KW_DNSSEC_ST_ACTIVE,
    KW_DNSSEC_ST_RETIRED,
    KW_DNSSEC_ST_REMOVED
} kw_dnssec_stage;

typedef struct kw_dnssec_key {
    char zone[256];          /* lower case, no trailing dot */
    kw_dnssec_role role;
    int algorithm;           /* DNSSEC algorithm number */
    int bits;                /* key size (RSA modulus bits; 256 for ECDSA P-256...) */
    unsigned tag;            /* key tag (RFC 4034 appendix B) */
    int flags;               /* DNSKEY flags (256, 257) */
    char dnskey[4096];       /* the DNSKEY RDATA in presentation form, public only */
    int64_t created, publish, activate, inactive, delete_, sync_publish, sync_delete;
                             /* 0: not set */
    char source[1024];       /* file or "knot:ZONE" the key came from */
    char signer[16];         /* "bind", "knot" */
} kw_dnssec_key;

/* A time a key waits for with no date yet: Knot's KSK that signs and waits
 * for its DS at the parent to be confirmed has sync_publish = this. */
#define KW_DNSSEC_PENDING INT64_MAX

/* "ksk", "zsk", "csk"; "?" for a value out of range.  Never NULL. */
const char *kw_dnssec_role_name(kw_dnssec_role r);

/* "generated", "published", "ready", "active", "retired", "removed";
 * "?" for a value out of range.  Never NULL. */
const char *kw_dnssec_stage_name(kw_dnssec_stage s);

/* The stage at now from the timing data, and the next transition (0: none).
 * A transition at KW_DNSSEC_PENDING sets *next with *next_at 0: it waits
 * for an event, not a date.  Pure.  next and next_at may be NULL. */
kw_dnssec_stage kw_dnssec_key_stage(const kw_dnssec_key *k, int64_t now,
                                    kw_dnssec_stage *next, int64_t *next_at);

/* Set k->dnskey, flags, algorithm, bits and tag from a DNSKEY RDATA in
 * presentation form ("257 3 13 BASE64", the base64 possibly split by
 * blanks), normalised to single spaces; the tag is computed (RFC 4034
 * appendix B), never taken from elsewhere.  k->role is left alone.  0, or
 * KW_EPARSE/KW_ETOOBIG with d saying what is wrong with the record;
 * callers prefix where it came from. */
int kw_dnssec_key_set_dnskey(kw_dnssec_key *k, const char *rdata, kw_diag *d);

/* "owner [ttl] [class] DNSKEY rdata" (a .key file's record, keymgr's
 * dnskey output): k->zone from the owner, the rest as
 * kw_dnssec_key_set_dnskey.  line is cut up by the parse.  0, or
 * KW_EPARSE/KW_ETOOBIG with d saying what. */
int kw_dnssec_key_parse_rr(char *line, kw_dnssec_key *k, kw_diag *d);

/* A zone name as kw_dnssec_key keeps it, from in[0..n): lower case, no
 * trailing dot (the root stays "."), LDH or '_' labels of 1..63 octets,
 * 1..253 octets in all.  0, or -1. */
int kw_dnssec_zone_norm(const char *in, size_t n, char out[256]);

#endif
