/*
 * dkim_spf.h: SPF (RFC 7208) for a mail domain: one record parsed, the
 * whole include tree walked and counted, and check_host() per address.
 *
 * kw_spf_parse is pure (no I/O, no allocation): it checks one record's
 * syntax strictly (§4.6, §5, §6, §7 macros) and names the term and its
 * offset on error.  kw_spf_walk and kw_spf_check_host ask DNS only
 * through a kw_dns_lookup (dns/dns_lookup.h), so tests feed a table and
 * production asks the resolver; with the production lookup they BLOCK
 * (the libuv pool runs them).
 *
 * The walk is keywarden's own: it follows EVERY branch (each include,
 * redirect, a, mx, ptr, exists) and counts the DNS-querying terms against
 * the limit of 10 and the void lookups against 2, where a receiver
 * (check_host, pyspf, libspf2) stops at the first match.  So the walk can
 * warn about a record that passes for one sender address today: the limit
 * bites for the address that needs the last include.  The tree it
 * returns is the caller's, freed with kw_spf_tree_free.
 */
#ifndef KW_DKIM_SPF_H
#define KW_DKIM_SPF_H

#include <stddef.h>

#include <jansson.h>

#include "../common/kw_err.h"
#include "../dns/dns_lookup.h"

/* RFC 7208 §4.6.4. */
#define KW_SPF_LOOKUP_LIMIT 10
#define KW_SPF_VOID_LIMIT 2
#define KW_SPF_MX_LIMIT 10
#define KW_SPF_PTR_LIMIT 10
/* Terms kept per record; a record with more is refused as too long. */
#define KW_SPF_TERMS_MAX 128
/* Longest record text (the TXT strings joined). */
#define KW_SPF_RECORD_MAX 4000
/* Longest domain-spec or modifier value, macros unexpanded. */
#define KW_SPF_SPEC_MAX 512

typedef enum kw_spf_mech {
    KW_SPF_ALL = 0,
    KW_SPF_INCLUDE,
    KW_SPF_A,
    KW_SPF_MX,
    KW_SPF_PTR,
    KW_SPF_IP4,
    KW_SPF_IP6,
    KW_SPF_EXISTS,
    KW_SPF_MODIFIER    /* redirect=, exp= or an unknown name=value */
} kw_spf_mech;

typedef enum kw_spf_result {
    KW_SPF_NONE = 0,
    KW_SPF_NEUTRAL,
    KW_SPF_PASS,
    KW_SPF_FAIL,
    KW_SPF_SOFTFAIL,
    KW_SPF_TEMPERROR,
    KW_SPF_PERMERROR
} kw_spf_result;

typedef struct kw_spf_term {
    kw_spf_mech mech;
    char qual;                     /* '+', '-', '~', '?' (modifiers: 0) */
    char name[64];                 /* modifier name, lower case */
    char spec[KW_SPF_SPEC_MAX];    /* domain-spec or modifier value; "" */
    int cidr4, cidr6;              /* prefix lengths; -1: not given */
    unsigned char ip[16];          /* ip4 (first 4 octets) / ip6 */
    size_t offset, len;            /* where the term is in the record */
} kw_spf_term;

typedef struct kw_spf_record {
    size_t n;
    kw_spf_term t[KW_SPF_TERMS_MAX];
    int redirect;                  /* index of redirect=, or -1 */
    int exp;                       /* index of exp=, or -1 */
} kw_spf_record;

/* 1 when txt (len octets) is an SPF record: "v=spf1" (any case) followed
 * by a space or its end (§4.5). */
int kw_spf_is_record(const char *txt, size_t len);

/* Parses one record.  KW_EPARSE with the term, its offset and why in d;
 * KW_ETOOBIG for a record longer than KW_SPF_RECORD_MAX or with more
 * than KW_SPF_TERMS_MAX terms. */
int kw_spf_parse(const char *txt, size_t len, kw_spf_record *out,
                 kw_diag *d);

/* Checks a macro-string (§7.1): KW_EPARSE with the offset, or 0.
 * exp set allows the c, r, t letters of explanations. */
int kw_spf_macro_check(const char *s, int exp, kw_diag *d);

/* What macros expand from (§7.2).  ip is "192.0.2.1" or "2001:db8::1". */
typedef struct kw_spf_env {
    const char *ip;
    const char *sender;            /* MAIL FROM, or postmaster@HELO */
    const char *helo;
    const char *domain;            /* the current <domain> */
} kw_spf_env;

/* Expands macro-string s into buf (cap octets); a domain result longer
 * than 253 octets loses labels on the left (§7.3).  0, KW_EPARSE or
 * KW_ETOOBIG. */
int kw_spf_macro_expand(const char *s, const kw_spf_env *env, char *buf,
                        size_t cap, kw_diag *d);

const char *kw_spf_result_name(kw_spf_result r);

/* ----- the static walk ----- */

typedef struct kw_spf_limits {
    int lookups;                   /* 0: KW_SPF_LOOKUP_LIMIT */
    int voids;                     /* 0: KW_SPF_VOID_LIMIT */
    int depth;                     /* includes deep; 0: 20 */
} kw_spf_limits;

/* One problem at a node: what, and for errors which severity. */
typedef enum kw_spf_sev {
    KW_SPF_SEV_WARN = 1,
    KW_SPF_SEV_PERMERROR,
    KW_SPF_SEV_TEMPERROR
} kw_spf_sev;

typedef struct kw_spf_problem {
    kw_spf_sev sev;
    char text[384];
} kw_spf_problem;

typedef struct kw_spf_node {
    char name[256];               /* the domain whose record this is */
    char via[80];                 /* "include", "redirect", "" (the top) */
    char record[KW_SPF_RECORD_MAX + 1];  /* "" when none was found */
    int lookups;                  /* DNS-querying terms in this record */
    int voids;                    /* void lookups made for this record */
    int subtree_lookups;          /* this record and everything below */
    int subtree_voids;
    size_t nproblems;
    kw_spf_problem *problems;
    size_t nkids;
    struct kw_spf_node **kids;
} kw_spf_node;

typedef struct kw_spf_tree {
    kw_spf_node *root;
    int lookups, voids;           /* totals over every branch */
    int permerror;                /* a receiver will say PermError for
                                     some sender address */
    int temperror;                /* a lookup failed: see the problems */
    int warnings;
} kw_spf_tree;

/*
 * Walks domain's SPF record and every record below it.  Returns 0 when
 * the walk ran (whatever it found: the tree says), KW_EINVAL for bad
 * arguments, KW_ENOMEM.  Problems are in the nodes; *tree is set even
 * then and must be freed with kw_spf_tree_free.
 */
int kw_spf_walk(const kw_dns_lookup *lookup, const char *domain,
                const kw_spf_limits *limits, kw_spf_tree *tree, kw_diag *d);

void kw_spf_tree_free(kw_spf_tree *tree);

/* The tree as indented text (malloc'd, NUL-terminated). */
char *kw_spf_tree_text(const kw_spf_tree *tree);

/* The tree as JSON: {"lookups","voids","lookup_limit","void_limit",
 * "permerror","temperror","warnings","root":{"name","via","record",
 * "lookups","voids","subtree_lookups","subtree_voids","problems":[{
 * "severity","text"}],"includes":[...]}}.  New reference, or NULL. */
json_t *kw_spf_tree_json(const kw_spf_tree *tree);

/* ----- check_host() ----- */

typedef struct kw_spf_check {
    kw_spf_result result;
    char reason[384];             /* the matching term, or the error */
    int lookups, voids;           /* as counted during the evaluation */
} kw_spf_check;

/*
 * RFC 7208 §4 check_host() for ip ("192.0.2.1" or "2001:db8::1"), the MAIL
 * FROM sender (an address, or a bare domain: then postmaster@domain; NULL
 * or "" for a bounce: then postmaster@helo) and helo, from the sender's
 * domain.  exp= is not fetched (the reason says what matched instead);
 * %{p} expands to "unknown", as RFC 7208 §7.3 allows.  Evaluation stops at the first match;
 * the lookup limits apply as §4.6.4 says.  Returns 0 with out filled
 * (every SPF result, temperror and permerror included), or KW_EINVAL for
 * bad arguments.
 */
int kw_spf_check_host(const kw_dns_lookup *lookup, const char *ip,
                      const char *sender, const char *helo,
                      kw_spf_check *out, kw_diag *d);

#endif
