/* servers.h: real servers for tests and benchmarks, on loopback. */
#ifndef KW_TEST_SERVERS_H
#define KW_TEST_SERVERS_H

#include <sys/types.h>

/* Start nginx (Debian's /usr/sbin/nginx) in the foreground with its own
 * prefix under dir (dir/nginx/nginx.conf), serving TLS on 127.0.0.1:port
 * with cert and key, which dir/nginx/conf.d/tls.conf names (lines 2 and
 * 3), included from the server block.  Waits until the port accepts;
 * returns its pid, or -1. */
pid_t nginx_start(const char *dir, int port, const char *cert,
                  const char *key);

/* Dovecot's four TLS listeners, in this order in dovecot_start's ports. */
enum { DV_IMAP, DV_IMAPS, DV_POP3, DV_POP3S, DV_NPORTS };

/* Start Dovecot (Debian's /usr/sbin/dovecot) in the foreground
 * (dovecot -F -c CONF) as our child, with a generated configuration under
 * dir/dovecot/: base_dir, state_dir and log there; IMAP and POP3 with
 * STARTTLS, IMAPS and POP3S on 127.0.0.1 at ports[DV_*]; ssl = yes with
 * cert and key; every login refused (the probes never log in).  Needs
 * root and the users dovecot-core creates (dovecot, dovenull).  Waits
 * until all four ports accept.  Returns its pid; 0 when Dovecot cannot run
 * here (not installed, not root), with why in skip (may be NULL); -1 when
 * it did not come up (see dir/dovecot/dovecot.out and dovecot.log). */
pid_t dovecot_start(const char *dir, const int ports[DV_NPORTS],
                    const char *cert, const char *key, const char **skip);

/* A free TCP port on 127.0.0.1 (bound and released). */
int free_port(void);

/* Does 127.0.0.1:port accept connections?  (For proc_until.) */
int port_open(void *port);

#endif
