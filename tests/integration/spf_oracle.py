#!/usr/bin/python3
# The pyspf oracle for tests/integration/test_spf.c (python3-spf, Debian's
# pyspf 2.0.14 on dnspython).
#
#   spf_oracle.py ADDR PORT TIMEOUT_S IP SENDER [IP SENDER ...]
#
# asks the DNS server at ADDR:PORT directly (no /etc/resolv.conf) and
# prints, per pair, one line: RESULT <tab> LOOKUPS <tab> VOIDS <tab> WHY.
# Names arrive as argv only; nothing passes through a shell.
import sys

import dns.resolver
import spf

addr, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
r = dns.resolver.Resolver(configure=False)
r.nameservers = [addr]
r.port = port
r.lifetime = timeout
r.timeout = timeout
# spf.DNSLookup_dnspython calls dns.resolver.query(), which uses this.
dns.resolver.default_resolver = r

args = sys.argv[4:]
for i in range(0, len(args) - 1, 2):
    ip, sender = args[i], args[i + 1]
    q = spf.query(i=ip, s=sender, h='mx.example.org', timeout=timeout)
    res, _code, why = q.check()
    why = ' '.join(str(why).split())
    print('%s\t%d\t%d\t%s' % (res, q.lookups, q.void_lookups, why))
    sys.stdout.flush()
