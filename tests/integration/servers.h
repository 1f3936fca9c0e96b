/* servers.h: real servers for tests and benchmarks, on loopback. */
#ifndef KW_TEST_SERVERS_H
#define KW_TEST_SERVERS_H

#include <sys/types.h>

/* Start nginx (Debian's /usr/sbin/nginx) in the foreground with its own
 * prefix under dir, serving TLS on 127.0.0.1:port with cert and key.
 * Waits until the port accepts; returns its pid, or -1. */
pid_t nginx_start(const char *dir, int port, const char *cert,
                  const char *key);

/* A free TCP port on 127.0.0.1 (bound and released). */
int free_port(void);

/* Does 127.0.0.1:port accept connections?  (For proc_until.) */
int port_open(void *port);

#endif
