/* opendkim.h: a private OpenDKIM signer on loopback for tests, messages
 * signed through it with miltertest, and signatures verified
 * independently with dkimpy (python3-dkim). */
#ifndef KW_TEST_OPENDKIM_H
#define KW_TEST_OPENDKIM_H

#include <stddef.h>
#include <sys/types.h>

/* Where the instance opendkim_start makes under dir keeps its files, all
 * under dir/opendkim/: what a hook under test is told. */
typedef struct odk_paths {
    char conf[1100];         /* opendkim.conf, read with -x */
    char pidfile[1100];      /* PidFile: the pid SIGUSR1 goes to */
    char keytable[1100];     /* KeyTable (plain file) */
    char signingtable[1100]; /* SigningTable (refile:) */
    char out[1100];          /* OpenDKIM's stdout and stderr */
} odk_paths;

/* Fill p for dir; -1 when a path would not fit. */
int opendkim_paths(const char *dir, odk_paths *p);

/* Start OpenDKIM (Debian's /usr/sbin/opendkim -f -x CONF) as our child, a
 * signer (Mode s) listening on inet:port@127.0.0.1, with relaxed/relaxed
 * canonicalization and KeyTable and SigningTable under dir/opendkim/
 * naming one key: mail From anyone at domain is signed with d=domain,
 * s=selector and the PEM private key at key_path.  Waits until the port
 * accepts.  Returns its pid (the same as in the PidFile: -f does not
 * fork); 0 when it cannot run here (opendkim or miltertest missing), with
 * why in skip (may be NULL); -1 when it did not come up (see out). */
pid_t opendkim_start(const char *dir, int port, const char *domain,
                     const char *selector, const char *key_path,
                     const char **skip);

/* The same, with extra (NULL: none) appended to opendkim.conf: more
 * settings, one per line, e.g. "SignatureAlgorithm ed25519-sha256\n". */
pid_t opendkim_start_with(const char *dir, int port, const char *domain,
                          const char *selector, const char *key_path,
                          const char *extra, const char **skip);

/* One private OpenDKIM of a test, as odk_signer_start leaves it. */
typedef struct odk_signer {
    char base[600]; /* the dir given to opendkim_start */
    odk_paths P;
    int port;
    pid_t pid;
} odk_signer;

/* Make dir/NAME (it must not exist), a key there (Ed25519 when ed, else
 * RSA-2048) with its record in txt (txtlen bytes), and start OpenDKIM
 * on port with extra (opendkim_start_with) signing mail from domain with
 * selector sel and that key.  Returns g->pid: as opendkim_start's, 0
 * (with why in *skip) when it cannot run here, -1 on any failure. */
pid_t odk_signer_start(odk_signer *g, const char *dir, const char *name,
                       int port, const char *domain, const char *sel, int ed,
                       const char *extra, char *txt, size_t txtlen,
                       const char **skip);

/* Rewrite the KeyTable and SigningTable of the instance under dir (each
 * replaced by rename, never seen half-written) to sign mail from domain
 * with selector and key_path.  OpenDKIM reads them again on SIGUSR1 (its
 * documented reload), not by itself.  Returns 0, or -1. */
int opendkim_set_key(const char *dir, const char *domain,
                     const char *selector, const char *key_path);

/* The pid in the PidFile of the instance under dir, or 0. */
pid_t opendkim_pid(const char *dir);

/* SIGTERM to pid (our child from opendkim_start), then SIGKILL if it has
 * not exited within 10 s.  pid <= 0 is a no-op. */
void opendkim_stop(pid_t pid);

/* Send message (header fields, an empty line, the body; LF or CRLF line
 * ends) through the milter on 127.0.0.1:port with miltertest, from
 * 127.0.0.1 (an internal host, so OpenDKIM signs), the envelope taken
 * from From: and To:.  The Lua script is written to
 * dir/opendkim/sign.lua.  On success *signed_out (malloc'd) is the
 * message with CRLF line ends and the DKIM-Signature field the filter
 * added prepended, and 0 is returned.  On failure -1, and *signed_out
 * (may be NULL when not wanted) is a malloc'd explanation with
 * miltertest's output, or NULL. */
int opendkim_sign(const char *dir, int port, const char *message,
                  char **signed_out);

/* opendkim_sign of a short message from alice@domain to bob@example.org. */
int opendkim_sign_from(const char *dir, int port, const char *domain,
                       char **signed_out);

/* Verify the first DKIM-Signature of signed_msg with dkimpy, its key
 * lookup answered with pubkey_txt for SELECTOR._domainkey.DOMAIN and
 * nothing for any other name (no DNS is asked).  Returns 1 verified, 0
 * not verified, -1 could not run (python3 or python3-dkim missing); why
 * (may be NULL) gets dkimpy's words either way. */
int dkim_verify(const char *signed_msg, const char *selector,
                const char *domain, const char *pubkey_txt, char *why,
                size_t whylen);

/* The same for the idx-th DKIM-Signature (0: the first, the one the last
 * signer added on top). */
int dkim_verify_at(const char *signed_msg, int idx, const char *selector,
                   const char *domain, const char *pubkey_txt, char *why,
                   size_t whylen);

/* The same with the key looked up as a receiver does: the name the
 * signature gives asked for TXT of the recursive resolver at
 * resolver@port (dnspython), which follows a CNAME to where the record
 * lives; why then names each lookup and where it ended ("NAME ->
 * TARGET"). */
int dkim_verify_dns(const char *signed_msg, const char *resolver, int port,
                    char *why, size_t whylen);

/* Make an RSA-2048 key, write it as PEM to key_path (mode 0600) and put
 * its DNS TXT record, "v=DKIM1; k=rsa; p=BASE64(SubjectPublicKeyInfo
 * DER)", in txt.  Returns 0, or -1 when txt is too small. */
int dkim_make_key(const char *key_path, char *txt, size_t txtlen);

/* The same for an Ed25519 key (PKCS#8 PEM, as keywarden writes them):
 * "v=DKIM1; k=ed25519; p=BASE64(the 32-byte public key)". */
int dkim_make_ed25519_key(const char *key_path, char *txt, size_t txtlen);

/* The DNS TXT record as above for the private key in the PEM file at
 * key_path (any RSA key, e.g. one keywarden made).  Returns 0, or -1. */
int dkim_txt_of(const char *key_path, char *txt, size_t txtlen);

#endif
