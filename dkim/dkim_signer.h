/*
 * dkim_signer.h: switching the MTA's DKIM signer to a new selector (the
 * *active* stage of a rotation), for OpenDKIM, rspamd, or a program.
 *
 *   opendkim  KeyTable and SigningTable, found from opendkim.conf (plain
 *             files, "file:" or "refile:"), rewritten line by line: only
 *             the domain's rows change, every other line, comment and the
 *             order stay byte for byte.  The SigningTable rows for the
 *             domain name the KeyTable row SELECTOR._domainkey.DOMAIN
 *             (added, or replaced in place); KeyTable rows for the domain
 *             that nothing names any more are dropped (the old key no
 *             longer signs; its file is the rotation's to archive).
 *             Before anything is written, every key the new KeyTable names
 *             must exist, load (dkim_key.h) and pass RequireSafeKeys as
 *             OpenDKIM walks it (from / down: no directory writable by
 *             group or others until one nobody else may enter; the key
 *             not readable or writable by others), unless opendkim.conf
 *             says RequireSafeKeys no, and be of the algorithm its
 *             SignatureAlgorithm names (one for every row: ed25519-sha256
 *             for Ed25519 keys, else RSA); the rows being switched to first,
 *             so a refusal names the new key.  This matters since
 *             `opendkim -n` does not open keys and a key OpenDKIM refuses
 *             makes its milter stop answering.  Then three atomic writes
 *             (temporary name in the same directory, fsync, rename,
 *             directory fsync): the KeyTable with old and new rows, the
 *             SigningTable, the KeyTable without the old rows, so OpenDKIM
 *             starting at any moment finds every row named.  `opendkim -n
 *             -x CONF` must accept the result; if it does not, the
 *             previous tables are put back.  Calling again after a crash
 *             finishes the switch (the rewriting is idempotent).
 *   rspamd    selector_map and path_map ("domain value" lines), written the
 *             same way, then `rspamadm configtest` as the check.
 *   exec      argv + DOMAIN SELECTOR KEY_PATH run (no shell); exit 0 is
 *             success.
 *
 * Reloading is NOT done here: the caller emits dkim.activated and the
 * hooks' built-in reload runs; res->reload says one is needed, so a
 * caller switching many domains reloads once.  Programs are started with
 * posix_spawn (argv only), their output captured (bounded) for the error
 * words, and killed after timeout_ms.  Everything here BLOCKS (file
 * system, child processes): run it on the libuv pool.  Returns 0 or a
 * negative KW_E*: KW_EINVAL bad arguments or configuration, KW_ENOENT /
 * KW_EACCES a key or table missing or unreadable, KW_EPARSE a line that
 * does not parse, KW_EREJECTED a key RequireSafeKeys refuses or a check
 * program that says no (its output in d), KW_ETIMEDOUT a check program
 * that did not finish; d names the file and line.  No global state.
 */
#ifndef KW_DKIM_SIGNER_H
#define KW_DKIM_SIGNER_H

#include "../common/kw_err.h"

#include <stddef.h>

typedef enum kw_dkim_signer_kind {
    KW_DKIM_SIGNER_OPENDKIM = 1,
    KW_DKIM_SIGNER_RSPAMD,
    KW_DKIM_SIGNER_EXEC,
} kw_dkim_signer_kind;

/* Borrowed for the call. */
typedef struct kw_dkim_signer_conf {
    kw_dkim_signer_kind kind;
    const char *opendkim_conf;  /* NULL: KW_DKIM_OPENDKIM_CONF */
    const char *opendkim_bin;   /* NULL: "opendkim" (searched in PATH) */
    const char *selector_map;   /* rspamd: "domain selector" map file */
    const char *path_map;       /* rspamd: "domain key_path" map file;
                                 * NULL: keys found by rspamd's path
                                 * template, only selector_map written */
    const char *rspamadm_bin;   /* NULL: "rspamadm" */
    const char *rspamd_conf;    /* rspamd.conf for configtest -c, its
                                 * directory as CONFDIR and LOCAL_CONFDIR;
                                 * NULL: rspamadm's default */
    const char *const *argv;    /* exec: NULL-terminated */
    int timeout_ms;             /* each program run; 0: 30 s */
} kw_dkim_signer_conf;

/* One domain to switch. */
typedef struct kw_dkim_switch {
    const char *domain;
    const char *selector;
    const char *key_path;       /* absolute; must already be in place */
} kw_dkim_switch;

typedef struct kw_dkim_switch_result {
    int changed;  /* a file was rewritten (0: it already signed so) */
    int reload;   /* the signer must reload to sign with the new files */
} kw_dkim_switch_result;

/* Make domain sign with selector and key_path, and stop signing with
 * the key it used before. */
int kw_dkim_signer_switch(const kw_dkim_signer_conf *c, const char *domain,
                          const char *selector, const char *key_path,
                          kw_dkim_switch_result *res, kw_diag *d);

/* The same for n domains at once: the files are written and checked once
 * (all or none change), so the caller reloads once. */
int kw_dkim_signer_switch_many(const kw_dkim_signer_conf *c,
                               const kw_dkim_switch *sw, size_t n,
                               kw_dkim_switch_result *res, kw_diag *d);

/* The checks alone, on the signer's files as they are (OpenDKIM: every
 * KeyTable key, then `opendkim -n`; rspamd: configtest; exec: nothing). */
int kw_dkim_signer_check(const kw_dkim_signer_conf *c, kw_diag *d);

/* ---- The rewriting, pure functions over text (for tests and fuzzing) --
 * Each returns 0 with *out malloc'd (NUL-terminated, *out_len without
 * the NUL), or KW_ENOMEM / KW_ETOOBIG / KW_EPARSE (d names line).  Lines
 * are compared on their first field, case-insensitively; text is kept
 * verbatim except for the rows changed. */

/* SigningTable: every row whose pattern's domain is domain (DOMAIN,
 * *@DOMAIN, user@DOMAIN) names keyname; if none, a row is appended
 * ("*@DOMAIN" when refile, else "DOMAIN").  *changed set when the text
 * differs. */
int kw_dkim_signingtable_set(const char *text, size_t len,
                             const char *domain, const char *keyname,
                             int refile, char **out, size_t *out_len,
                             int *changed, kw_diag *d);

/* KeyTable: the row named SELECTOR._domainkey.DOMAIN becomes
 * "DOMAIN:SELECTOR:KEY_PATH" (replaced in place, or put where the first
 * row for the domain was, else appended); the other rows whose domain is
 * domain and that signing_text (the new SigningTable) does not name are
 * dropped. */
int kw_dkim_keytable_set(const char *text, size_t len, const char *domain,
                         const char *selector, const char *key_path,
                         const char *signing_text, char **out,
                         size_t *out_len, int *changed, kw_diag *d);

/* A "key value" map (rspamd's): the row for key gets value, or is
 * appended. */
int kw_dkim_map_set(const char *text, size_t len, const char *key,
                    const char *value, char **out, size_t *out_len,
                    int *changed, kw_diag *d);

#endif
