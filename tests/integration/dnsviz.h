/*
 * dnsviz.h: dnsviz (Debian 12's 0.9.4) as an offline oracle on loopback.
 *
 * dv_judge() runs `dnsviz probe -A` against the servers a test names
 * (never the root servers: the top zone is given with "+"), then `dnsviz
 * grok` with the test's trust anchor, and reads the zone's verdict from
 * grok's JSON: its delegation's status (SECURE, BOGUS...) and every error
 * and warning code anywhere under the zone.  grok imports
 * pygraphviz.release, which Debian 12's python3-pygraphviz lacks, so it
 * runs through /usr/bin/python3 with a stub module (the testbed's
 * dnsviz.sh shim), as an argv, never through a shell.  Each run is
 * bounded (probe 120 s, grok 60 s).  Files go in the caller's dir.
 */
#ifndef KW_TEST_DNSVIZ_H
#define KW_TEST_DNSVIZ_H

#include <stddef.h>

typedef struct dv_verdict {
    char status[32];      /* the delegation's: SECURE, BOGUS, INSECURE */
    char errors[600];     /* codes, comma-separated */
    char warnings[600];
} dv_verdict;

/* dnsviz is installed (tests/deps.sh). */
int dv_available(void);

/* Probes zone ("child.test.") with -x values xs[0..nx) ("test.+:ns1.test=
 * 127.0.0.1:PORT") and judges it with the DNSKEY lines in anchor.  0, or
 * -1 with dnsviz's words on stderr. */
int dv_judge(const char *dir, const char *anchor, const char *const *xs,
             size_t nx, const char *zone, dv_verdict *v);

#endif
