/*
 * dnssec_bind.h: BIND's DNSSEC key files read into kw_dnssec_key.
 *
 * A key directory holds K<zone>.+<alg>+<tag>.key (the public DNSKEY and
 * "; Created:/Publish:/Activate:..." timing comments, dnssec-settime's),
 * .private (the private key: only its existence and mode are looked at,
 * never a byte of it) and, for dnssec-policy keys, .state (named's key
 * states: KSK/ZSK, Lifetime, Generated, Published, Active, Retired,
 * Removed, DNSKEYState, KRRSIGState, ZRRSIGState, DSState, GoalState...).
 * The parsers take text in memory and are pure; kw_dnssec_bind_read_dir
 * BLOCKS on the file system (the daemon runs it on the libuv pool).
 * Errors name the file and the line; a field the parser does not know is
 * kept as a note, not an error, since named adds fields across versions.
 * Nothing is allocated for the caller.
 */
#ifndef KW_DNSSEC_BIND_H
#define KW_DNSSEC_BIND_H

#include "dnssec_key.h"

/* Files larger than this are not key files. */
#define KW_DNSSEC_BIND_FILE_MAX (64 * 1024)

/* What named's .state adds to the key (strings "" when absent). */
typedef struct kw_dnssec_bind_state {
    int algorithm, length;       /* Algorithm, Length (0: absent) */
    int ksk, zsk;                /* KSK: yes, ZSK: yes */
    int64_t lifetime;            /* seconds, 0: unlimited */
    unsigned successor;          /* key tag, 0: none */
    unsigned predecessor;
    char goal[16];               /* GoalState: "omnipresent", "hidden" */
    char dnskey[16];             /* DNSKEYState */
    char krrsig[16];             /* KRRSIGState */
    char zrrsig[16];             /* ZRRSIGState */
    char ds[16];                 /* DSState */
    int64_t generated, published, active, retired, removed;
    int64_t publish_cds, delete_cds; /* PublishCDS, DeleteCDS */
    int nunknown;                /* fields this parser does not know */
    char note[256];              /* the first of them, by file and line */
} kw_dnssec_bind_state;

/* One key found in a directory. */
typedef struct kw_dnssec_bind_key {
    kw_dnssec_key key;
    int has_state;               /* a .state file was read */
    kw_dnssec_bind_state state;
    int has_private;             /* the .private exists */
    unsigned private_mode;       /* its permission bits */
    char note[512];              /* what an operator should know ("" if
                                    nothing): the .private missing or
                                    readable by others, unknown fields */
} kw_dnssec_bind_key;

/* Parse a .key file's text (path names it in errors).  Fills k's zone,
 * DNSKEY fields, times (from the comments), role (KSK for flags with the
 * SEP bit, ZSK otherwise), source = path and signer = "bind".  0, or
 * KW_EPARSE/KW_ETOOBIG with d "PATH: line N: ...". */
int kw_dnssec_bind_parse_key(const char *path, const char *text, size_t len,
                             kw_dnssec_key *k, kw_diag *d);

/* Parse a .state file's text into st; 0, or KW_EPARSE with d "PATH: line
 * N: ..." for a line that is not "Name: value" or a known field whose
 * value is malformed. */
int kw_dnssec_bind_parse_state(const char *path, const char *text, size_t len,
                               kw_dnssec_bind_state *st, kw_diag *d);

/* Apply a parsed .state to its key: KSK/ZSK both yes makes a CSK, and
 * the state's times fill those the .key lacks.  Pure. */
void kw_dnssec_bind_apply_state(kw_dnssec_key *k, const kw_dnssec_bind_state *st);

/* Read every K*.key of dir (zone: only that zone's, NULL: all) into out
 * (cap entries, *n set), sorted by zone then tag.  Each file's name must
 * agree with its content (zone, algorithm, tag computed from the DNSKEY).
 * KW_ETOOBIG when more than cap keys are there; any unreadable or
 * malformed file fails the call with its name and line in d, since an
 * inventory that skipped a key would mislead. */
int kw_dnssec_bind_read_dir(const char *dir, const char *zone,
                            kw_dnssec_bind_key *out, size_t cap, size_t *n,
                            kw_diag *d);

#endif
