/*
 * dkim_source.h: which DKIM keys the signers on this machine use, read
 * from their own configuration files (the signers need not run).
 *
 *   OpenDKIM   opendkim.conf (keys case-insensitive): KeyTable and
 *              SigningTable as plain files ("file:" or a path), "refile:"
 *              (wildcard patterns) or "csl:" lists; the single-key mode
 *              Domain + Selector + KeyFile, ignored when a KeyTable exists
 *              (opendkim.conf(5)); UserID, the user that must read keys.
 *   rspamd     dkim_signing in modules.d/ (the package's defaults), then
 *              local.d/ and override.d/ (a bounded reader of the UCL subset
 *              those files use): path and selector templates ($domain,
 *              $selector) matched against the key directory, selector_map
 *              and path_map ("domain value" lines), domain { ... } blocks.
 *   config     [dkim "DOMAIN"] sections of keywarden.conf.
 *
 * A key file in a directory that holds configured keys (Debian's
 * /etc/dkimkeys among them) that no configuration names is listed too,
 * as an orphan.  Problems (a KeyTable row with missing fields, a table
 * that cannot be read, a line that does not parse) become notes naming
 * the file and line; the rest is still read.  Everything here BLOCKS on
 * the file system; files are read whole with kw_fs_read_regular and
 * bounds (1 MiB a file, KW_DKIM_MAX_SELECTORS selectors).
 */
#ifndef KW_DKIM_SOURCE_H
#define KW_DKIM_SOURCE_H

#include "../common/kw_err.h"

#include <stddef.h>
#include <stdint.h>

#define KW_DKIM_MAX_SELECTORS 20000
#define KW_DKIM_MAX_FILE (1024 * 1024)
#define KW_DKIM_MAX_WATCH 256

/* Debian's defaults. */
#define KW_DKIM_OPENDKIM_CONF "/etc/opendkim.conf"
#define KW_DKIM_RSPAMD_DIR "/etc/rspamd"
#define KW_DKIM_DEBIAN_KEYDIR "/etc/dkimkeys"
#define KW_DKIM_RSPAMD_PATH "/var/lib/rspamd/dkim/$domain.$selector.key"

typedef enum kw_dkim_role {
    KW_DKIM_ROLE_SIGNING = 0, /* a SigningTable row (or the signer) uses it */
    KW_DKIM_ROLE_PUBLISHED,   /* configured, but nothing signs with it */
    KW_DKIM_ROLE_ORPHAN,      /* a key file no configuration names */
} kw_dkim_role;

const char *kw_dkim_role_name(kw_dkim_role r); /* "signing", ... */

/* One selector, as a signer's configuration names it. */
typedef struct kw_dkim_sel {
    char domain[256];
    char selector[64];
    char key[1024];       /* the private key file, absolute */
    const char *signer;   /* "opendkim", "rspamd" or "config" (static) */
    kw_dkim_role role;
    char source[1024];    /* the file and line that name it */
    int line;
    char user[64];        /* who must read the key ("" unknown) */
} kw_dkim_sel;

/* A signer whose configuration could not be read whole: what it named
 * before is not known to be gone, so the inventory keeps it. */
typedef struct kw_dkim_failed {
    const char *signer;   /* static */
    char why[600];        /* the first file that failed, and why */
} kw_dkim_failed;

typedef struct kw_dkim_sources {
    kw_dkim_sel *sel;
    size_t n, cap;
    char **notes;         /* "FILE:LINE: what is wrong" */
    size_t nnotes, cap_notes;
    const char *reading;  /* the signer being read (for failed) */
    kw_dkim_failed failed[3];
    size_t nfailed;
    /* What a watcher should watch, since a change there may change the
     * selectors: every file read or looked for (opendkim.conf, the
     * tables, rspamd's files and maps) and the directories the keys are
     * in; each once, at most KW_DKIM_MAX_WATCH. */
    char **watch;
    size_t nwatch, cap_watch;
} kw_dkim_sources;

/* A [dkim "DOMAIN"] section of keywarden.conf. */
typedef struct kw_dkim_conf_key {
    char *domain;
    char *selector;
    char *key;
    char *user;           /* NULL: not checked */
    int line;
} kw_dkim_conf_key;

/* [dkim] and the [dkim "DOMAIN"] sections, as service/config.c fills
 * them. */
typedef struct kw_dkim_params {
    char *opendkim_conf;  /* NULL: KW_DKIM_OPENDKIM_CONF when discovering */
    char *rspamd_conf;    /* directory; NULL: KW_DKIM_RSPAMD_DIR */
    int64_t max_age;      /* seconds; default 180 days */
    int64_t interval;     /* DNS re-check period; default 1 h */
    char **outbound;      /* addresses mail leaves from (SPF) */
    size_t noutbound;
    char *resolver;       /* NULL: /etc/resolv.conf's */
    int dns_port;         /* the authoritative servers' port; 0: 53 */
    kw_dkim_conf_key *keys;
    size_t nkeys;
    /* The managed sections (rotate =), dkim_rotate.h. */
    struct kw_dkim_rot_params *rot;
    size_t nrot;
    const char *config_file; /* keywarden.conf, for the sources' names */
    int configured;       /* a [dkim] section or [dkim "DOMAIN"] exists */
} kw_dkim_params;

void kw_dkim_params_defaults(kw_dkim_params *p);
void kw_dkim_params_free(kw_dkim_params *p);

/* A deep copy (config_file is left borrowed); 0 or KW_ENOMEM, dst then
 * holds the defaults.  The daemon's jobs copy at their start so that a
 * reload cannot pull the values away from work on the pool. */
int kw_dkim_params_copy(kw_dkim_params *dst, const kw_dkim_params *src);

/* Read every source p names; with discover, also the Debian defaults
 * that exist (opendkim.conf, rspamd's directory) where p names none.
 * 0, or KW_ENOMEM / KW_ETOOBIG; a source that cannot be read is a note. */
int kw_dkim_sources_read(const kw_dkim_params *p, int discover,
                         kw_dkim_sources *out);

/* The single readers, for tests (append to out). */
int kw_dkim_read_opendkim(const char *conf, kw_dkim_sources *out);
int kw_dkim_read_rspamd(const char *dir, kw_dkim_sources *out);

/* rspamd's selector_map and path_map alone ("domain value" lines, as a
 * rotation writes them, dkim_signer.h): each domain with a row in both is
 * a signing selector whose source is the selector_map's line.  path_map
 * NULL (keys found by rspamd's path template): every selector_map row,
 * its key "" (not known). */
int kw_dkim_read_rspamd_maps(const char *selector_map, const char *path_map,
                             kw_dkim_sources *out);

/* Key files in the directories of the keys found (and in extra_dir, may
 * be NULL) that no selector names: appended as orphans. */
int kw_dkim_find_orphans(kw_dkim_sources *out, const char *extra_dir);

/* Add path to s->watch unless it is there; 0 or KW_ENOMEM. */
int kw_dkim_sources_watch(kw_dkim_sources *s, const char *path);

/* Add a note ("FILE:LINE: what is wrong") to s; 0 or KW_ENOMEM. */
int kw_dkim_sources_note(kw_dkim_sources *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void kw_dkim_sources_free(kw_dkim_sources *s);

#endif
