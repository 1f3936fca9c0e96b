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

/* Start a private Postfix instance (Debian's /usr/sbin/postfix) with its
 * own configuration, queue and data directories under dir/postfix/ (etc,
 * queue, data), its master in the foreground as our child
 * (postfix -c DIR/postfix/etc start-fg, output in dir/postfix/postfix.out,
 * which maillog_file also goes to).  smtpd listens on 127.0.0.1:port
 * with STARTTLS (smtpd_tls_security_level = may) and cert and key.
 * extra_main_cf (may be NULL) is appended to main.cf as is: whole lines,
 * e.g. "smtpd_milters = inet:127.0.0.1:8891\n".  Needs root and the user
 * postfix; makes dir mode 0711 so Postfix's unprivileged processes reach
 * their directories.  Waits until the port accepts.  Returns the pid of
 * the start-fg process; 0 when Postfix cannot run here, with why in skip
 * (may be NULL); -1 when it did not come up (what it started is stopped;
 * see dir/postfix/postfix.out). */
pid_t postfix_start(const char *dir, int port, const char *cert,
                    const char *key, const char *extra_main_cf,
                    const char **skip);

/* The pid of the master of the instance postfix_start made under dir
 * (from its pid file, queue/pid/master.pid), or 0.  start-fg runs the
 * master as a child of a shell, so this is not postfix_start's pid;
 * "postfix reload" is a SIGHUP to this process. */
pid_t postfix_master_pid(const char *dir);

/* Stop the instance postfix_start made under dir: its master (SIGTERM,
 * which stops the master's children), then the start-fg process pid.
 * Only those two processes are signalled.  pid <= 0 is a no-op. */
void postfix_stop(const char *dir, pid_t pid);

/* A free TCP port on 127.0.0.1 (bound and released). */
int free_port(void);

/* Does 127.0.0.1:port accept connections?  (For proc_until.) */
int port_open(void *port);

#endif
