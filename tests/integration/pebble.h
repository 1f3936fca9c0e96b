/*
 * pebble.h: Pebble (Let's Encrypt's test CA) and pebble-challtestsrv as
 * children of a test, on loopback, on free ports.
 *
 * Debian's pebble 2.4 ships no certificate for its own HTTPS listener:
 * pb_pki_make() makes a throwaway CA and a leaf for localhost/127.0.0.1;
 * clients trust pki.ca_pem.  Every child started here is recorded, dies
 * with the test process (PR_SET_PDEATHSIG) and is stopped by PID only:
 * pb_stop_to(mark) stops what was started after pb_mark(), so a test's
 * teardown cleans up also when an assertion failed half-way.
 *
 * Readiness is polled (a TCP connect, then an HTTPS GET), never slept.
 */
#ifndef KW_TEST_PEBBLE_H
#define KW_TEST_PEBBLE_H

#include <stddef.h>
#include <sys/types.h>

#define PB_PATH 512

/* A CA and a leaf for localhost and 127.0.0.1 signed by it. */
typedef struct pb_pki {
    char ca_pem[PB_PATH];
    char cert_pem[PB_PATH];  /* the leaf only */
    char key_pem[PB_PATH];
} pb_pki;

/* Writes dir/TAG-ca.pem, dir/TAG-cert.pem and dir/TAG-key.pem; cn names
 * the CA.  Returns 0. */
int pb_pki_make(const char *dir, const char *tag, const char *cn,
                pb_pki *out);

/* pebble-challtestsrv as a mock DNS server answering every A query with
 * 127.0.0.1 and no AAAA (Pebble dials the first address it gets); its own
 * challenge responders off. */
typedef struct pb_dns {
    pid_t pid;
    int dns_port;            /* UDP and TCP */
    int mgmt_port;
    char log[PB_PATH];
} pb_dns;

int pb_dns_start(const char *dir, pb_dns *out);

typedef struct pb_opts {
    int dns_port;            /* required: a pb_dns */
    int http_port;           /* where the VA fetches http-01; 0: a free port */
    int nosleep;             /* PEBBLE_VA_NOSLEEP=1 */
    int sleeptime;           /* PEBBLE_VA_SLEEPTIME when > 0 */
    int nonce_reject;        /* PEBBLE_WFE_NONCEREJECT when >= 0 */
    int authz_reuse;         /* PEBBLE_AUTHZREUSE when >= 0 */
    int strict;              /* -strict */
    const char *eab_kid;     /* when set, EAB is required with this key */
    const char *eab_key;     /* (base64url) */
    int alternate_roots;     /* PEBBLE_ALTERNATE_ROOTS when > 0 */
} pb_opts;

/* Pebble's defaults (5 % nonce rejection, 50 % authz reuse, sleeps on)
 * with -strict, as in production-like runs. */
#define PB_OPTS_DEFAULT(dns) \
    ((pb_opts){.dns_port = (dns), .nonce_reject = -1, .authz_reuse = -1, \
               .strict = 1})

typedef struct pebble {
    pid_t pid;
    int acme_port, mgmt_port, http_port, tls_port;
    char dir[PB_PATH];       /* its config, log and root */
    char log[PB_PATH + 16];
    char directory[96];      /* https://127.0.0.1:P/dir */
    char new_nonce[160], new_account[160], new_order[160];
    char root_pem[PB_PATH + 16]; /* the issuing root, from /roots/0 */
} pebble;

/* Starts Pebble with its HTTPS listener on pki's leaf, in dir/NAME/.
 * Waits until the directory answers, reads its URLs and saves the root it
 * issues under.  Returns 0, or -1 with a message on stderr (the process,
 * if it started, stays recorded for pb_stop_to). */
int pb_start(const char *dir, const char *name, const pb_pki *pki,
             const pb_opts *o, pebble *p);

/* A plain-HTTP nginx on 127.0.0.1:port serving root, for webroot
 * http-01.  Foreground, single process, its prefix in dir/NAME/. */
pid_t pb_nginx_webroot(const char *dir, const char *name, int port,
                       const char *root);

/* nginx with a TLS listener on 127.0.0.1:port and the given server-block
 * body (locations); files under dir/NAME/html are its root. */
pid_t pb_nginx_tls(const char *dir, const char *name, int port,
                   const char *cert, const char *key,
                   const char *locations);

/* nginx with the given server blocks (whole "server { ... }" texts, any
 * number, any ports) inside its http block; waits until 127.0.0.1:port
 * accepts.  Prefix and logs in dir/NAME/. */
pid_t pb_nginx_servers(const char *dir, const char *name, int port,
                       const char *servers);

/* Spawn argv with env (NULL-terminated "K=V" list added to a copy of the
 * environment without any PEBBLE_* variable), stdout and stderr to log,
 * recorded for pb_stop_to.  The child gets SIGKILL if the test dies. */
pid_t pb_spawn(char *const argv[], const char *const *env, const char *log);

/* Records pid (started elsewhere) for pb_stop_to. */
void pb_track(pid_t pid);

/* The number of recorded children, for pb_stop_to. */
size_t pb_mark(void);

/* SIGTERM (then SIGKILL after 5 s) and reap every child recorded after
 * mark, newest first. */
void pb_stop_to(size_t mark);

/* Stops one recorded child now (and forgets it). */
void pb_stop(pid_t pid);

/* Forgets a recorded child the caller has reaped itself. */
void pb_forget(pid_t pid);

/* A port free for both TCP and UDP on 127.0.0.1. */
int pb_free_port_udp(void);

/* GET url trusting ca_file (NULL: no verification).  Returns the HTTP
 * status (0: transfer failed) and the body in *body (malloc'd, may be
 * NULL). */
long pb_http_get(const char *url, const char *ca_file, char **body,
                 size_t *len);

#endif
