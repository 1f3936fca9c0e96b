/*
 * mtasts.h: MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) of mail domains,
 * checked against what is actually published and served.
 *
 * The folder owns two modules:
 *   - mtasts_policy.h: pure parsers of the `_mta-sts` TXT record, the
 *     policy file and the `_smtp._tls` TXT record, and the mx: pattern
 *     match of section 4.1 (fuzzed: tests/fuzz/fuzz_mtasts.c);
 *   - mtasts_check.h: the check of one domain, a gatherer that BLOCKS
 *     (DNS through dns/, the policy over HTTPS with libcurl, the policy
 *     host and every MX probed through probe/ on a private libuv loop,
 *     each MX's certificate verified with libcurl's SMTP STARTTLS) and a
 *     pure judge.  The command line calls it directly.  Its private
 *     loop's probes use libuv's thread pool for their address lookups,
 *     so it must not run inside a pool work callback (a full pool would
 *     wait on itself): a daemon job gives it a thread of its own.
 * It depends on probe/, dns/, keystore/ (ks_mtasts.h: the id and policy
 * hash last seen per domain) and common/ only; never on service/ or cli/.
 * Nothing here keeps global state beyond libcurl's one-time global
 * initialisation; results are the caller's structs, nothing to free.
 */
#ifndef KW_MTASTS_H
#define KW_MTASTS_H

#include "mtasts_check.h"
#include "mtasts_policy.h"

#endif
