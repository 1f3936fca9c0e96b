#!/bin/sh
# The fuzz targets, their seeds and one bounded run each: shared by
# tests/run.sh (a minute per target, every CI run) and tests/fuzz/campaign.sh
# (hours, with a corpus kept between runs).
#
#   fuzz.sh build BUILD_DIR
#       configure and build the libFuzzer targets with clang in BUILD_DIR
#   fuzz.sh targets
#       print the target names, one a line
#   fuzz.sh run BUILD_DIR TARGET SECONDS CORPUS_DIR [LOG]
#       seed and fuzz TARGET for SECONDS into CORPUS_DIR (kept: a later run
#       resumes from it); print the executions and coverage reached; exit 1
#       with the crashing input's path when the target fails
set -eu

ROOT=${KW_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
TARGETS="fuzz_certfile fuzz_acme_headers fuzz_dns_answer fuzz_dns_survey fuzz_config
  fuzz_control fuzz_dkim_record fuzz_dmarc fuzz_dkim_sources fuzz_spf
  fuzz_dkim_tables fuzz_dnssec_keyfile fuzz_dnssec_live fuzz_dnssec_conf
  fuzz_mtasts fuzz_dane fuzz_web"

# seed TARGET BUILD_DIR DIR: the inputs each target starts from, made at run
# time (no certificate or key is committed).
seed() {
    mkdir -p "$3"
    case "$1" in
    fuzz_certfile)
        "$2/tests/fuzz-seeds" "$3" ;;
    fuzz_acme_headers)
        printf 'HTTP/1.1 201 Created\r\nReplay-Nonce: abc_-\r\nLocation: https://ca/o/1\r\nRetry-After: 30\r\nLink: <https://ca/dir>;rel="index", <https://ca/alt/1>; rel="alternate", <https://ca/issuer>;rel=up\r\nContent-Type: application/json\r\n\r\n' \
            > "$3/order"
        printf 'Retry-After: Wed, 21 Oct 2026 07:28:00 GMT\r\n' > "$3/date" ;;
    fuzz_dns_answer)
        # _acme-challenge.example.com TXT, answered.
        printf '\022\064\204\000\000\001\000\001\000\000\000\000\017_acme-challenge\007example\003com\000\000\020\000\001\300\014\000\020\000\001\000\000\000\074\000\022\021value-we-wait-for' \
            > "$3/txt" ;;
    fuzz_dns_survey)
        # s1._domainkey.example.net TXT: a DKIM record in two strings; a
        # CNAME, then a TXT at its target; NXDOMAIN with the zone's SOA.
        n='\002s1\012_domainkey\007example\003net\000\000\020\000\001'
        printf '\001\002\204\000\000\001\000\001\000\000\000\000'"$n"'\300\014\000\020\000\001\000\000\000\074\000\035\020v=DKIM1; k=rsa; \013p=MIIBIjANB' \
            > "$3/dkim"
        printf '\001\002\204\000\000\001\000\002\000\000\000\000'"$n"'\300\014\000\005\000\001\000\000\000\074\000\004\001x\300\032\300\067\000\020\000\001\000\000\000\074\000\004\003abc' \
            > "$3/cname"
        printf '\001\002\204\003\000\001\000\000\000\001\000\000'"$n"'\300\032\000\006\000\001\000\000\000\074\000\034\001a\300\032\001h\300\032\000\000\000\007\000\000\000\001\000\000\000\001\000\000\000\001\000\000\000\001' \
            > "$3/nxdomain" ;;
    fuzz_dnssec_keyfile)
        # The first byte picks the parser: 0 a .key, 1 a .state, 2 keymgr
        # list -j; each as BIND 9.18 and Knot 3.2 write them.
        printf '\000; This is a key-signing key, keyid 30524, for example.com.\n; Created: 20261204202153 (Fri Dec  4 20:21:53 2026)\n; Publish: 20261204202153 (Fri Dec  4 20:21:53 2026)\n; Activate: 20261204202153 (Fri Dec  4 20:21:53 2026)\n; SyncPublish: 20261206202153 (Sun Dec  6 20:21:53 2026)\nexample.com. 3600 IN DNSKEY 257 3 13 U2sXbp35mo9shvIIUAZ+wJ6+7vagdD/QZUjHvH+xHupoSsB2SmofADu/ FAO+xrwtjWggqhoQ+qeLAq8fOSPV5w==\n' \
            > "$3/key"
        printf '\001; This is the state of key 12159, for example.com.\nAlgorithm: 13\nLength: 256\nLifetime: 2592000\nPredecessor: 4711\nKSK: yes\nZSK: no\nGenerated: 20261204202156 (Fri Dec  4 20:21:56 2026)\nPublished: 20261204202156 (Fri Dec  4 20:21:56 2026)\nActive: 20261204202156 (Fri Dec  4 20:21:56 2026)\nPublishCDS: 20261205202156 (Sat Dec  5 20:21:56 2026)\nDNSKEYChange: 20261204202156 (Fri Dec  4 20:21:56 2026)\nDNSKEYState: rumoured\nKRRSIGState: rumoured\nDSState: hidden\nGoalState: omnipresent\nFutureField: 1\n' \
            > "$3/state"
        printf '\002[{"zone": "example.test.", "id": "b8b3bdaaef2cfdf57bda38cc44672bec58cc968d", "ksk": true, "zsk": false, "tag": 43211, "algorithm": 8, "size": 2048, "public-only": false, "pre-active": 0, "publish": 1796502248, "ready": 1796588648, "active": 1796847848, "retire-active": 0, "retire": 1799007848, "post-active": 0, "revoke": 0, "remove": 1799871848}]' \
            > "$3/knot" ;;
    fuzz_mtasts)
        # The first byte picks the parser: 0 the _mta-sts record, 1 the
        # policy (CRLF, a wildcard), 2 TLS-RPT, 3 several records.
        printf '\000v=STSv1; id=20261204T0001' > "$3/txt"
        printf '\001version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n' \
            > "$3/policy"
        printf '\001version: STSv1\nmode: none\nmax_age: 86400\next: x\n' \
            > "$3/none"
        printf '\002v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.com/v1' \
            > "$3/rpt"
        printf '\003v=spf1 -all\nv=STSv1; id=1\nv=TLSRPTv1;rua=mailto:a@b.example' \
            > "$3/select" ;;
    fuzz_config)
        # Every section and key the reader knows, as the operator's guide
        # shows them.
        cp "$ROOT/docs/keywarden.conf.example" "$3/example.conf" ;;
    fuzz_web)
        # A string to escape, a filter query, and list --json's shape with
        # hostile names (the first byte picks; web.c's page and object).
        printf '\000<img src=x onerror=alert(1)>"\047&amp;\303\251\355\240\200' \
            > "$3/esc"
        printf '\001kind=tls&health=critical&x=1' > "$3/query"
        printf '\002[{"id":1,"kind":"tls","name":"\\"><script>alert(1)</script>","deadline":"2026-12-20T00:00:00Z","health":"critical","reason":"<b>","findings":[{"health":"critical","text":"t","fix":"f"}]},{"kind":"dkim-rotation","name":"a.test","health":"warning","fix":"x","next_rotation":"2027-01-01T00:00:00Z"},{"id":2,"kind":"dnssec","name":"z","health":"ok","dnssec":{"next_rrsig_expiry":"2026-12-10T00:00:00Z","check_findings":[]}}]' \
            > "$3/doc" ;;
    fuzz_control)
        # The control socket's requests: bytes paths, a job, a forget.
        printf '{"cmd":"scan","paths":["/etc/ssl"],"paths_b64":["L3RtcC9h_w"]}' \
            > "$3/scan"
        printf '{"cmd":"run","type":"probe","key":"mail"}' > "$3/run"
        printf '{"cmd":"forget","ids":[12,13]}' > "$3/forget" ;;
    fuzz_dkim_record)
        # As opendkim-genkey and rspamadm dkim_keygen print them (strings
        # concatenated), folded, revoked, with flags and unknown tags.
        printf 'v=DKIM1; h=sha256; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDq1b5REYaLO3LZN8aj0W/Q1ZK5Xka+tnsfNn9og2h9m1IlON4j3YQrrlecS/z8xtQ3JTKI0QvmSwDUv2yujtIg/eRS22CkZBWQDq7OzYt9Kexrf7o5h5yy5pFBzrrh7GHtvrR4D//XUwr8Yrb0WURMQj+IEZN3lY6HdOnZRfebuwIDAQAB' \
            > "$3/opendkim"
        printf 'v=DKIM1; k=ed25519; p=A30FD91t/rJewvTZIhcjF3FwRwMEWPDJ2YvWQpG3uGM=' \
            > "$3/ed25519"
        printf ' v = DKIM1 ;\r\n\tk=rsa; t=y:s; s=email:*; h=sha1 : sha256; n=notes; g=*;\r\n p=MIGJAoGBAOrVvlERhos7ctk3xqPRb9DVkrleRr62ex82f2iDaH2bUiU43iPdhCuuV5xL/PzG1DclMojRC+ZLANS/bK6O0iD95FLbYKRkFZAOrs7Ni30p7Gt/ujmHnLLmkUHOuuHsYe2+ tHgP/9dTCvxitvRZRExCP4gRk3eVjod06dlF95u7AgMBAAE= ;' \
            > "$3/folded-bare"
        printf 'v=DKIM1; k=rsa; p=' > "$3/revoked" ;;
    fuzz_dmarc)
        printf 'v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=r; pct=50; ri=3600; fo=1:d:s; rf=afrf; rua=mailto:a@example.com!10m, https://example.net/r; ruf=mailto:f@example.org?subject=x' \
            > "$3/all"
        printf 'v=DMARC1; rua=mailto:dmarc@@example.co.uk' > "$3/fallback"
        printf 'mail.example.co.uk.' > "$3/name" ;;
    fuzz_spf)
        # Every term kind, macros with transformers, modifiers.
        printf 'v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.example.com/24//64 -ptr:example.org include:_spf.example.com ~all' \
            > "$3/terms"
        printf 'v=spf1 exists:%%{ir}.%%{l1r+-}._spf.%%{d2} ?a//96 redirect=%%{o} exp=explain._spf.%%{d} x-foo=%%{S}%%%%%%_%%-' \
            > "$3/macros"
        printf 'v=spf1 ip4:192.0.2.300 -all:x include:' > "$3/bad" ;;
    fuzz_dkim_sources)
        # opendkim.conf whose KeyTable and SigningTable are the file
        # itself; rspamd's local.d; an rspamd Ed25519 key; a PEM key.
        printf 'UserID opendkim:opendkim\nKeyTable file:in\nSigningTable refile:in\ns1._domainkey.a.test a.test:s1:/k/s1.private\n*@a.test s1._domainkey.a.test\nk2 %%:s2:./k2.key\n' \
            > "$3/opendkim"
        printf 'KeyTable csl:k1=a.test:sel1:/keys/k1.private,k2=b.test:s:/x\nSigningTable csl:*@a.test=k1\nDomain a.test, b.test\nSelector mail\nKeyFile k.private\n' \
            > "$3/csl"
        printf 'path = "/var/lib/rspamd/dkim/$domain.$selector.key";\nselector = "dkim"; /* c */\nselector_map = "file:///etc/rspamd/sel.map";\ndomain {\n  example.org { selector = "s2024"; path = "/k/$domain"; }\n  l.test { selectors = [ { path = "/a"; } ]; }\n}\n# end\n' \
            > "$3/rspamd"
        if command -v rspamadm >/dev/null 2>&1; then
            rspamadm dkim_keygen -t ed25519 -d a.test -s e1 \
                -k "$3/ed25519" >/dev/null
        fi ;;
    fuzz_dkim_tables)
        # The first byte picks the table: 0 a refile: SigningTable, 1 a
        # KeyTable, 2 an rspamd map; each with comments, blanks, CRLF and
        # the domain's rows among others.
        printf '\000# who signs\n*@other.test o1._domainkey.other.test\n  *@mail.test s1._domainkey.mail.test # main\r\nbob@mail.test s1._domainkey.mail.test signer@x\n' \
            > "$3/signingtable"
        printf '\001# keys\no1._domainkey.other.test\tother.test:o1:/k/o1  # c\n\ns1._domainkey.mail.test mail.test:s1:/k/s1\ns0._domainkey.mail.test mail.test:s0:/k/s0' \
            > "$3/keytable"
        printf '\002# selectors\nother.test r1\nmail.test r1 # now\nMAIL.test dup\n' \
            > "$3/map" ;;
    fuzz_dnssec_conf)
        # The first byte picks the reader: 0 named.conf, 1 knot.conf; as
        # Debian ships them, with views, templates and includes (an include
        # reads the same input again).
        printf '\000// named.conf\noptions {\n\tdirectory "/var/cache/bind";\n\tdnssec-policy default;\n\tlisten-on { 127.0.0.1; };\n};\n/* zones */\nzone "example.com" { type primary; file "db.example"; key-directory "keys"; };\nzone "b.test" { type master; dnssec-policy none; };\nview "in" { key-directory "/srv/k"; zone "c.test" { type secondary; }; };\ninclude "named.conf.local";\n' \
            > "$3/named"
        printf '\001# knot.conf\nserver:\n    listen: 127.0.0.1@53\ntemplate:\n  - id: default\n    dnssec-signing: on\n  - id: plain\n    dnssec-signing: off\nzone:\n  - domain: example.com.\n  - domain: "b.test"\n    template: plain\n    dnssec-signing: on\ninclude: conf.d/zones.conf\n' \
            > "$3/knot" ;;
    fuzz_dnssec_live)
        # Answers signed at run time with ldns (make_dnssec_seeds.c): a
        # secure zone on two servers, a wrong DS, unsigned under a DS.
        "$2/tests/fuzz-dnssec-seeds" "$3" ;;
    fuzz_dane)
        # TLSA RDATA (first byte even): 3 1 1 with a SHA-256, 2 0 2 with a
        # SHA-512, 3 0 0 with a few octets; a resolver's answer (odd):
        # _25._tcp.mx.example.test TLSA 3 1 1, AD set.
        h32=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        printf '\000\003\001\001'"$h32" > "$3/311"
        printf '\000\002\000\002'"$h32$h32" > "$3/202"
        printf '\000\003\000\000\060\202\001\012' > "$3/300"
        printf '\001\022\064\205\240\000\001\000\001\000\000\000\000\003_25\004_tcp\002mx\007example\004test\000\000\064\000\001\300\014\000\064\000\001\000\000\001\054\000\043\003\001\001'"$h32" \
            > "$3/answer" ;;
    *)
        echo "fuzz.sh: no seeds for $1" >&2; exit 2 ;;
    esac
}

# Options per target: certificate files are larger than the default 4 KiB.
opts() {
    case "$1" in
    fuzz_certfile) echo "-max_len=16384" ;;
    fuzz_config) echo "-max_len=8192" ;;
    *) echo "" ;;
    esac
}

cmd=${1:-}
case "$cmd" in
build)
    b=$2
    CC=clang cmake -S "$ROOT" -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DKW_FUZZ=ON -DKW_BUILD_TESTS=OFF -DKW_BUILD_BENCH=OFF >/dev/null
    # shellcheck disable=SC2086 # the list is meant to split
    cmake --build "$b" -j "$(nproc 2>/dev/null || echo 2)" \
        --target fuzz-seeds fuzz-dnssec-seeds $TARGETS
    ;;
targets)
    for t in $TARGETS; do echo "$t"; done
    ;;
run)
    b=$2 t=$3 secs=$4 corpus=$5
    log=${6:-$b/$t.log}
    seeds=$b/seeds/$t
    rm -rf "$seeds"
    seed "$t" "$b" "$seeds"
    mkdir -p "$corpus"
    # New inputs go to the first directory (the corpus); seeds are read only.
    # shellcheck disable=SC2046 # opts is meant to split
    if ! "$b/tests/$t" -max_total_time="$secs" -print_final_stats=1 \
            -artifact_prefix="$b/$t-" $(opts "$t") "$corpus" "$seeds" \
            > "$log" 2>&1; then
        tail -n 80 "$log"
        echo "$t failed; the input is in $b/ ($t-crash-* or $t-leak-*)" >&2
        exit 1
    fi
    # The last status line holds the coverage (cov: edges, ft: features).
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | \
          sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\).*/\1 edges, \2 features/p')
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
    n=$(find "$corpus" -type f | wc -l)
    printf '%s: %s s, %s executions, coverage %s, corpus %s inputs, peak RSS %s MB\n' \
        "$t" "$secs" "${execs:-?}" "${cov:-?}" "$n" "${rss:-?}"
    ;;
*)
    sed -n '2,15p' "$0" >&2
    exit 2
    ;;
esac
