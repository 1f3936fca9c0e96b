/*
 * zsign.h: a zone signed in-process with ldns, for tests and benchmarks.
 *
 * zs_sign() parses a zone's text, makes one ECDSA P-256 key for it (a
 * CSK: flags 257, signing every RRset, as Knot's single-type-signing
 * does), publishes its DNSKEY and signs the zone with NSEC, every
 * signature from inc to exp.  From there a test writes the signed zone
 * for a server to load as it is (zs_write; Knot with dnssec-signing off
 * serves it unchanged), takes its DS for the parent (zs_ds), damages one
 * RRset on purpose (zs_tamper: new data under the old signatures;
 * zs_resign: new signature times; zs_strip: no signatures), or answers a
 * question from it as an authoritative server would with DO set
 * (zs_answer: the RRset and its RRSIGs, a NODATA or an NXDOMAIN with the
 * SOA and the covering NSEC), so a unit test sees exactly what a server
 * would send.  Keys are made per zone and never leave the process.
 * Not thread-safe per zone; zones are independent.
 */
#ifndef KW_TEST_ZSIGN_H
#define KW_TEST_ZSIGN_H

#include <stddef.h>
#include <stdint.h>

#include <ldns/ldns.h>

typedef struct zs_zone {
    ldns_rdf *origin;
    ldns_key_list *keys;    /* the zone's one key */
    ldns_rr *dnskey;        /* its DNSKEY */
    ldns_zone *z;           /* the signed zone (SOA apart, as ldns keeps it) */
} zs_zone;

/* Signs text (zone file lines; $ORIGIN origin, TTL 10 unless given) for
 * origin ("child.test" or "child.test.").  0, or -1 with why on stderr. */
int zs_sign(const char *origin, const char *text, int64_t inc, int64_t exp,
            zs_zone *z);

/* "ORIGIN. 10 IN DS TAG 13 2 HEX" (SHA-256) of the zone's key in buf.
 * 0 or -1. */
int zs_ds(const zs_zone *z, char *buf, size_t cap);

/* Writes the signed zone in presentation format to path.  0 or -1. */
int zs_write(const zs_zone *z, const char *path);

/* Replaces the rdata of every owner/type record with rdata (presentation,
 * e.g. "\"altered\"" for TXT) and keeps the old RRSIGs: a bogus RRset. */
int zs_tamper(zs_zone *z, const char *owner, int type, const char *rdata);

/* Signs owner/type again with signatures valid from inc to exp. */
int zs_resign(zs_zone *z, const char *owner, int type, int64_t inc,
              int64_t exp);

/* Drops the RRSIGs over owner/type. */
int zs_strip(zs_zone *z, const char *owner, int type);

/* The answer to qname/qtype an authoritative server gives with DO set, as
 * wire (malloc'd, the caller frees it).  0 or -1. */
int zs_answer(const zs_zone *z, const char *qname, int qtype, uint8_t **wire,
              size_t *len);

void zs_free(zs_zone *z);

#endif
