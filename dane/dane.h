/*
 * dane/: DANE for the servers keywarden watches: are the TLSA records
 * (RFC 6698, RFC 7671, for SMTP RFC 7672) true to what a server serves,
 * and will they stay true after the next reload?
 *
 * Modules:
 *   - dane_match.h: TLSA RDATA parsed and matched against a certificate
 *     chain (usages 0-3, selectors 0/1, matching types 0/1/2).  Pure.
 *   - dane_check.h: for HOST and PORT, the TLSA RRset from every
 *     authoritative server and a validating resolver, the chain the server
 *     serves (probe/) and the certificate file it will serve next, gathered
 *     (BLOCKING) and judged (pure, clock passed in) into findings.
 * It includes dns/, dnssec/, probe/, keystore/ and common/ only, never
 * service/ or cli/; `keywarden dane check` (cli/cli_dane.c) calls it.
 *
 * Lifetime: a kw_dane_obs owns the answers and certificates it gathered
 * (kw_dane_obs_free); a kw_dane_result is plain data; a kw_tlsa borrows
 * the RDATA it was parsed from.  No callbacks.  Blocking: kw_dane_gather
 * BLOCKS for bounded times (each DNS question and the probe, which runs
 * on a private libuv loop of its own); the daemon would run it on the
 * libuv pool, the command line directly.  The rest is pure and
 * thread-safe.
 */
#ifndef KW_DANE_H
#define KW_DANE_H

#include "dane_check.h"
#include "dane_match.h"

#endif
