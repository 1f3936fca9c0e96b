/*
 * dnssec.h: the overview of dnssec/, keywarden's view of DNSSEC keys and
 * signed zones (dnssec -> dns, keystore, common; docs/DESIGN.md).
 *
 * dnssec_key.h: the shared types: kw_dnssec_key (a key's zone, role,
 * algorithm, size, tag, public DNSKEY, timing data and where it came
 * from), role and stage names, the RFC 7583 stage at a given time and the
 * next transition.  Pure, no I/O.
 *
 * dnssec_bind.h: a BIND key directory read into kw_dnssec_key entries:
 * K<zone>+<alg>+<tag>.key (DNSKEY and its "; Publish:" timing comments)
 * and .state (dnssec-policy's key states); the .private is only checked
 * to exist and be closed to others, never read.  BLOCKS on the file
 * system.
 *
 * dnssec_knot.h: a Knot zone's keys from its KASP through keymgr, run
 * with argv only (kw_proc), bounded in time and output, and its listing
 * parsed into kw_dnssec_key entries.  BLOCKS on the child.
 *
 * dnssec_live.h: a zone's live health: SOA, DNSKEY, NS, NSEC3PARAM, CDS
 * and CDNSKEY with DO from every authoritative server and the parent's
 * DS, kept as
 * received (gather, BLOCKS), then judged by a pure function with the
 * clock passed in (RRSIGs verified with ldns, expiry, DS against KSK, algorithms,
 * serials, DNSKEY size, NSEC3 parameters, islands; CDS/CDNSKEY and the
 * parent's DS TTL).
 *
 * dnssec_dsneed.h: the pure ds_needed decision: a ready KSK with no DS
 * at the parent, missing longer than the DS TTL plus a margin, gets one
 * dnssec.ds_needed and a ds.needed finding with the DS to submit.
 *
 * dnssec_watch.h: one inventory zone checked and recorded (where to ask
 * from [zone]/[dnssec], findings, ds_needed bookkeeping and events,
 * health.changed), shared by the dnssec-check job and `dnssec check`.
 * BLOCKS on the database.
 *
 * Every BLOCKING function here runs on the libuv pool in the daemon, and
 * returns 0 or a negative KW_E* code with a kw_diag naming the file and
 * line, or the program and the line of its output, that failed.
 */
#ifndef KW_DNSSEC_H
#define KW_DNSSEC_H

#include "dnssec_key.h"

#endif
