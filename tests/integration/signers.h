/*
 * signers.h: a real knotd or named signing child.test with automatic key
 * management (Knot's dnssec-policy, BIND's dnssec-policy), in a test's
 * own directory on a free port of 127.0.0.1, for the DNSSEC tests.
 * Start waits until the signer serves a signed DNSKEY set (and, for
 * named, has written its key states); stop ends it by its pid.  Failures
 * fail the calling cmocka test with the signer's log named.
 */
#ifndef KW_TEST_SIGNERS_H
#define KW_TEST_SIGNERS_H

#include <ldns/ldns.h>
#include <sys/types.h>

typedef struct sg_signer {
    pid_t pid;
    int port;
    char dir[256];
    char conf[512];    /* knot.conf or named.conf */
    char keydir[512];  /* named: its key directory */
    ldns_rr_list *keys; /* the DNSKEY answer, once the zone is signed */
} sg_signer;

extern const char sg_zone_text[];

void sg_write_file(const char *path, const char *text);

/* knotd -c DIR/knot.conf; the policy's KSK waits for its DS. */
void sg_start_knot(sg_signer *s, const char *dir);
/* named -g -c DIR/named.conf, keys in DIR/keys. */
void sg_start_named(sg_signer *s, const char *dir);
void sg_stop(sg_signer *s);

/* Ask again for the DNSKEY set into s->keys: 1 with at least min keys. */
int sg_dnskeys(sg_signer *s, size_t min);

#endif
