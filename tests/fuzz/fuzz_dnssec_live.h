/*
 * fuzz_dnssec_live.h: the input layout of fuzz_dnssec_live, shared with
 * the seed maker (make_dnssec_seeds.c).
 *
 * Octet 0: the number of servers, (b & 3) + 1.  Then, for each server,
 * its SOA, DNSKEY, NS and NSEC3PARAM answers, then the parent's DS answer: each a
 * 16-bit big-endian length and that many octets of DNS message
 * (FUZZ_DNSSEC_NOANSWER as the length: that question had no answer).
 * After the DS, for each server, the answers to the sample's questions
 * (kw_dnssec_sample_names with FUZZ_DNSSEC_LABEL: apex A, AAAA, MX, TXT,
 * then A of the label under the zone), laid out the same way.
 * Missing trailing answers count as no answer.  The clock is
 * FUZZ_DNSSEC_NOW; the zone is FUZZ_DNSSEC_ZONE.
 */
#ifndef KW_FUZZ_DNSSEC_LIVE_H
#define KW_FUZZ_DNSSEC_LIVE_H

#define FUZZ_DNSSEC_ZONE "child.test"
#define FUZZ_DNSSEC_NOW 1800000000
#define FUZZ_DNSSEC_NOANSWER 0xffff
#define FUZZ_DNSSEC_LABEL "kw-000000000000"

#endif
