#!/bin/sh
# The README's first command: a whole mail domain on loopback, and
# keywarden keeping its keys, from one configuration file.
#
#   - Knot DNS: a primary (127.0.0.1) and a secondary (127.0.0.2) serving
#     the DNSSEC-signed zone example.test, and its signed parent test. on
#     a Knot of its own (127.0.0.3), whose DS for example.test is set once
#     the primary has made the key;
#   - OpenDKIM signing mail from example.test on a milter port, with a
#     selector s0 made by hand before keywarden;
#   - Postfix with STARTTLS on a high port, its certificate files the
#     ones keywarden deploys;
#   - Pebble, a local ACME CA, validating dns-01 against Knot;
#   - unbound, validating from test.'s key, the judge of the chain.
#
# Then keywarden (one configuration, printed below): rotates the DKIM
# selector through every stage on a pinned clock that replays the last
# 98 days (a message signed through OpenDKIM verifies against the
# record Knot serves), gets the mail certificate and reloads Postfix (a
# STARTTLS probe sees it; a message submitted over STARTTLS is signed on
# its way in and held), finds the DNSSEC chain secure, and lists all
# three kinds.  Then it breaks one thing of each kind on purpose and
# shows `check` naming each with its fix, starts `keywarden serve` and
# fetches its page once.
#
# The demo is also a test: a step that does not give what it claims
# stops it with a non-zero exit naming the step.  Everything it starts is
# stopped by PID at the end, unless --keep is given.
#
#   sh tests/demo.sh [--no-deps] [--keep]
#     --no-deps  skip tests/deps.sh and the build (tests/run.sh, after its
#                release build)
#     --keep     leave the servers and `keywarden serve` running, and say
#                how to stop them
# KEYWARDEN_BIN runs another build (the ASan one).  Ports are free ones
# chosen at start; DNS_PORT, SMTP_PORT, MILTER_PORT, PEBBLE_PORT,
# PEBBLE_MGMT_PORT and WEB_PORT override them.  Nothing binds
# port 53 or 25.  Files go to build/demo-mail.
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEPS=1
KEEP=0
for a in "$@"; do
    case $a in
    --no-deps) DEPS=0 ;;
    --keep) KEEP=1 ;;
    *) echo "usage: sh tests/demo.sh [--no-deps] [--keep]" >&2; exit 2 ;;
    esac
done

START=$(date +%s)
STEP="start"
PIDS=""
RUNNING=""
POSTFIX_STARTED=0
D=$ROOT/build/demo-mail
KW=${KEYWARDEN_BIN:-$ROOT/build/release/keywarden}
PY=/usr/bin/python3

# ---- helpers ------------------------------------------------------------

step() {
    STEP=$1
    printf '\n==> %s  [%ss]\n' "$1" "$(($(date +%s) - START))"
}

fail() {
    printf '\ndemo: FAILED at "%s": %s\n' "$STEP" "$*" >&2
    exit 1
}

# Print a command line as the reader would type it (paths from the clone).
show() {
    printf '$ %s\n' "$*" | sed "s|$ROOT/||g"
}

# Poll a command (quietly) until it succeeds: at most $1 tenths of a
# second, then fail with the words $2.
wait_for() {
    n=$1 what=$2
    shift 2
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le "$n" ] || fail "$what"
        sleep 0.1
    done
}

# Start a server ($1 names it) in the background, its output to the log
# $2; its PID is remembered so that exactly it is stopped at the end.
spawn() {
    label=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    PIDS="$PIDS $!"
    RUNNING="$RUNNING, $label $!"
}

stop_all() {
    rc=$?
    if [ "$KEEP" = 1 ] && [ "$rc" = 0 ]; then
        return
    fi
    # Postfix's master is a grandchild of start-fg: stop it by its own
    # pid file (when this run started it), then our children.
    if [ "$POSTFIX_STARTED" = 1 ] && [ -f "$D/postfix/queue/pid/master.pid" ]; then
        mp=$(tr -d ' \n' <"$D/postfix/queue/pid/master.pid" || true)
        if [ -n "$mp" ]; then
            kill "$mp" 2>/dev/null || true
        fi
    fi
    for p in $PIDS; do
        kill "$p" 2>/dev/null || true
    done
    for p in $PIDS; do
        wait "$p" 2>/dev/null || true
    done
    if [ "$rc" != 0 ]; then
        echo "demo: logs and files are in $D" >&2
    fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# A free port (TCP and UDP) on every address given; 127.0.0.1 by default.
free_port() {
    "$PY" -I - "$@" <<'EOF'
import socket, sys
addrs = sys.argv[1:] or ['127.0.0.1']
for _ in range(200):
    s = socket.socket(); s.bind((addrs[0], 0)); port = s.getsockname()[1]; s.close()
    try:
        for a in addrs:
            for t in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                x = socket.socket(socket.AF_INET, t); x.bind((a, port)); x.close()
    except OSError:
        continue
    print(port); sys.exit(0)
sys.exit(1)
EOF
}

kwc() {
    "$KW" --state-dir "$D/state" --config "$D/keywarden.conf" "$@"
}

# Run keywarden as the reader would type it, printed first.
kw() {
    show "keywarden $*"
    kwc "$@"
}

# ---- 0. packages and the build ----------------------------------------

if [ "$DEPS" = 1 ]; then
    step "packages and build"
    sh tests/deps.sh
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build/release -j "$(nproc 2>/dev/null || echo 2)" \
        --target keywarden
fi
[ -x "$KW" ] || fail "no $KW: build it, or run without --no-deps"
[ "$(id -u)" = 0 ] || fail "Postfix needs root (run as root or with sudo)"
for b in /usr/sbin/knotd /usr/sbin/keymgr /usr/sbin/opendkim \
         /usr/bin/miltertest /usr/sbin/postfix /usr/bin/pebble /usr/bin/kdig \
         /usr/bin/knsupdate; do
    [ -x "$b" ] || fail "$b is missing: run tests/deps.sh"
done

# ---- 1. the mail domain's servers --------------------------------------

step "start the mail domain's servers on loopback"
# A demo left running with --keep owns these files: stop it first.
if [ -f "$D/postfix/queue/pid/master.pid" ] &&
   kill -0 "$(tr -d ' \n' <"$D/postfix/queue/pid/master.pid")" 2>/dev/null; then
    fail "a demo kept with --keep still runs in $D; stop it first"
fi
rm -rf "$D"
mkdir -p "$D/knot0/db" "$D/knot1/db" "$D/knot2/db" "$D/zones" "$D/opendkim" \
    "$D/pebble" "$D/dkim-keys" "$D/postfix/etc" "$D/postfix/queue" \
    "$D/postfix/data"
chmod 0711 "$D"
DNS_PORT=${DNS_PORT:-$(free_port 127.0.0.1 127.0.0.2 127.0.0.3)}
SMTP_PORT=${SMTP_PORT:-$(free_port)}
MILTER_PORT=${MILTER_PORT:-$(free_port)}
PEBBLE_PORT=${PEBBLE_PORT:-$(free_port)}
PEBBLE_MGMT_PORT=${PEBBLE_MGMT_PORT:-$(free_port)}
WEB_PORT=${WEB_PORT:-$(free_port)}
UB_PORT=${UB_PORT:-$(free_port)}
echo "ports: DNS $DNS_PORT (127.0.0.1, .2 and .3), resolver $UB_PORT," \
     "SMTP $SMTP_PORT, milter $MILTER_PORT, ACME $PEBBLE_PORT, page $WEB_PORT"

# TSIG keys: "upd" lets keywarden update example.test, "xfr" carries the
# transfers to the secondary.
UPD_SECRET=$(openssl rand -base64 32)
XFR_SECRET=$(openssl rand -base64 32)

# The key example.test signed with before keywarden: s0, as an operator
# makes it by hand, its record in the zone file.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$D/opendkim/s0.key" 2>/dev/null
S0_P=$(openssl pkey -in "$D/opendkim/s0.key" -pubout -outform DER |
       openssl base64 -A)
S0_TXT=$(printf 'p=%s' "$S0_P" | fold -w 250 | sed 's/.*/"&"/' | tr '\n' ' ')

cat >"$D/zones/test.zone" <<EOF
\$ORIGIN test.
\$TTL 60
@ SOA ns1.test. hostmaster.test. 1 60 10 86400 60
@ NS ns1
ns1 A 127.0.0.3
example NS ns1.example.test.
example NS ns2.example.test.
ns1.example A 127.0.0.1
ns2.example A 127.0.0.2
EOF
cat >"$D/zones/example.test.zone" <<EOF
\$ORIGIN example.test.
\$TTL 60
@ SOA ns1 hostmaster 1 60 10 86400 60
@ NS ns1
@ NS ns2
ns1 A 127.0.0.1
ns2 A 127.0.0.2
@ MX 10 mail
mail A 127.0.0.1
@ TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"
s0._domainkey TXT "v=DKIM1; k=rsa; " $S0_TXT
EOF

# The zones' files and journal, as the primary and the parent keep them.
knot_template() {
    cat <<EOF
template:
  - id: default
    storage: "$D/zones"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: difference-no-serial
    journal-content: all
    serial-policy: increment
EOF
}

# knot.conf of the primary; $1 and $2 are example.test's RRSIG lifetime
# and refresh (the third break changes them).
knot_primary_conf() {
    cat >"$D/knot1/knot.conf" <<EOF
server:
    rundir: "$D/knot1"
    listen: 127.0.0.1@$DNS_PORT
log:
  - target: "$D/knot1/knot.log"
    any: info
database:
    storage: "$D/knot1/db"
key:
  - id: upd
    algorithm: hmac-sha256
    secret: $UPD_SECRET
  - id: xfr
    algorithm: hmac-sha256
    secret: $XFR_SECRET
remote:
  - id: secondary
    address: 127.0.0.2@$DNS_PORT
    key: xfr
acl:
  - id: update
    key: upd
    action: update
  - id: transfer
    key: xfr
    action: transfer
policy:
  - id: child
    algorithm: ecdsap256sha256
    single-type-signing: on
    dnskey-ttl: 60
    zone-max-ttl: 60
    rrsig-lifetime: $1
    rrsig-refresh: $2
$(knot_template)
    notify: secondary
    acl: [update, transfer]
zone:
  - domain: example.test.
    dnssec-signing: on
    dnssec-policy: child
EOF
}
knot_primary_conf 30d 7d
cat >"$D/knot2/knot.conf" <<EOF
server:
    rundir: "$D/knot2"
    listen: 127.0.0.2@$DNS_PORT
log:
  - target: "$D/knot2/knot.log"
    any: info
database:
    storage: "$D/knot2/db"
key:
  - id: xfr
    algorithm: hmac-sha256
    secret: $XFR_SECRET
remote:
  - id: primary
    address: 127.0.0.1@$DNS_PORT
    key: xfr
acl:
  - id: notify
    key: xfr
    action: notify
template:
  - id: default
    storage: "$D/knot2/db"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: all
    master: primary
    acl: notify
zone:
  - domain: example.test.
EOF
# The parent, test., on a server of its own (the registry's), 127.0.0.3.
cat >"$D/knot0/knot.conf" <<EOF
server:
    rundir: "$D/knot0"
    listen: 127.0.0.3@$DNS_PORT
log:
  - target: "$D/knot0/knot.log"
    any: info
database:
    storage: "$D/knot0/db"
policy:
  - id: parent
    algorithm: ecdsap256sha256
    single-type-signing: on
    dnskey-ttl: 60
    zone-max-ttl: 60
$(knot_template)
zone:
  - domain: test.
    dnssec-signing: on
    dnssec-policy: parent
EOF

# The answer section of one question (+norec: as an authoritative server
# answers it).
ask() {
    kdig @"$1" -p "$DNS_PORT" +norec +short +time=1 +retry=0 "$2" "$3"
}
serial() {
    ask "$1" "$2" SOA | awk '{print $3}'
}
signed_at() {
    ask "$1" "$2" DNSKEY | grep -q .
}
same_serial() {
    a=$(serial 127.0.0.1 "$1") && b=$(serial 127.0.0.2 "$1") &&
        [ -n "$a" ] && [ "$a" = "$b" ]
}

spawn "Knot primary" "$D/knot1/knotd.out" /usr/sbin/knotd -c "$D/knot1/knot.conf"
wait_for 150 "Knot (primary) did not sign example.test; see $D/knot1" \
    signed_at 127.0.0.1 example.test
spawn "Knot parent" "$D/knot0/knotd.out" /usr/sbin/knotd -c "$D/knot0/knot.conf"
wait_for 150 "Knot (the parent) did not sign test.; see $D/knot0" \
    signed_at 127.0.0.3 test
# The parent's DS for example.test, from the key Knot made.
DS=$(keymgr -c "$D/knot1/knot.conf" example.test. ds |
     awk '$4 == 13 && $5 == 2 {print $3, $4, $5, $6; exit}')
[ -n "$DS" ] || fail "keymgr printed no SHA-256 DS for example.test"
knotc -c "$D/knot0/knot.conf" zone-begin test. >/dev/null
# shellcheck disable=SC2086 # the DS's four fields, split on purpose
knotc -c "$D/knot0/knot.conf" zone-set test. example 60 DS $DS >/dev/null
knotc -c "$D/knot0/knot.conf" zone-commit test. >/dev/null
spawn "Knot secondary" "$D/knot2/knotd.out" /usr/sbin/knotd -c "$D/knot2/knot.conf"
wait_for 150 "the secondary did not transfer example.test" \
    same_serial example.test
has_ds() { ask 127.0.0.3 example.test DS | grep -q .; }
wait_for 100 "the parent does not serve example.test's DS" has_ds
# Knot keeps the key "ready" until told its DS is at the parent.
knotc -c "$D/knot1/knot.conf" zone-ksk-submitted example.test. >/dev/null
echo "Knot: example.test signed (primary and secondary in step), test. signed" \
     "on 127.0.0.3 with example.test's DS $DS"

# unbound, validating, with test.'s KSK as its only trust anchor: the
# independent judge of the chain, as a receiving MTA's resolver sees it.
# Without "nodefault" unbound answers for test. itself, as an empty
# RFC 6761 zone; with a skew of 0 an expired signature is bogus at once.
mkdir -p "$D/unbound"
kdig @127.0.0.3 -p "$DNS_PORT" +norec +noall +answer test. DNSKEY |
    awk '$4 == "DNSKEY" && $5 == 257' >"$D/unbound/test.anchor"
[ -s "$D/unbound/test.anchor" ] || fail "no KSK for test. to anchor unbound"
cat >"$D/unbound/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@$UB_PORT
    port: $UB_PORT
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    username: ""
    chroot: ""
    directory: "$D/unbound"
    pidfile: "$D/unbound/unbound.pid"
    use-syslog: no
    logfile: "$D/unbound/unbound.log"
    do-ip6: no
    num-threads: 1
    module-config: "validator iterator"
    trust-anchor-file: "$D/unbound/test.anchor"
    cache-max-ttl: 10
    val-sig-skew-min: 0
    val-sig-skew-max: 0
    local-zone: "test." nodefault
stub-zone:
    name: "."
    stub-addr: 127.0.0.3@$DNS_PORT
stub-zone:
    name: "test."
    stub-addr: 127.0.0.3@$DNS_PORT
stub-zone:
    name: "example.test."
    stub-addr: 127.0.0.1@$DNS_PORT
    stub-addr: 127.0.0.2@$DNS_PORT
EOF
spawn unbound "$D/unbound/unbound.out" /usr/sbin/unbound -d -c "$D/unbound/unbound.conf"
# Secure: the answer carries AD.
secure() {
    kdig @127.0.0.1 -p "$UB_PORT" +dnssec +time=1 +retry=0 "$1" "$2" |
        grep -q '^;; Flags:.* ad'
}
wait_for 100 "unbound does not validate mail.example.test; see $D/unbound" \
    secure mail.example.test A

# OpenDKIM, signing mail from example.test with s0 (the operator's tables).
cat >"$D/opendkim/opendkim.conf" <<EOF
Mode s
Socket inet:$MILTER_PORT@127.0.0.1
PidFile $D/opendkim/opendkim.pid
KeyTable $D/opendkim/KeyTable
SigningTable refile:$D/opendkim/SigningTable
Canonicalization relaxed/relaxed
Syslog no
EOF
echo "s0._domainkey.example.test example.test:s0:$D/opendkim/s0.key" \
    >"$D/opendkim/KeyTable"
echo "*@example.test s0._domainkey.example.test" >"$D/opendkim/SigningTable"
port_open() {
    "$PY" -I -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1"
}
spawn OpenDKIM "$D/opendkim/opendkim.out" /usr/sbin/opendkim -f -x "$D/opendkim/opendkim.conf"
wait_for 100 "OpenDKIM did not listen; see $D/opendkim/opendkim.out" \
    port_open "$MILTER_PORT"

# Postfix, its TLS files those keywarden will deploy (none yet: smtpd
# offers no STARTTLS until the first certificate and reload).
POSTFIX_ETC=$D/postfix/etc
LIVE=$D/state/certs/live/mail
chown postfix:postfix "$D/postfix/data" 2>/dev/null ||
    fail "no user postfix: install the postfix package (tests/deps.sh)"
cat >"$POSTFIX_ETC/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $D/postfix/queue
data_directory = $D/postfix/data
mail_owner = postfix
myhostname = mail.example.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
maillog_file = /dev/stdout
smtpd_tls_chain_files = $LIVE/privkey.pem, $LIVE/fullchain.pem
smtpd_tls_security_level = may
smtpd_milters = inet:127.0.0.1:$MILTER_PORT
# Mail is held in the queue: nothing leaves this machine.
smtpd_recipient_restrictions = check_recipient_access static:HOLD, permit
EOF
cat >"$POSTFIX_ETC/master.cf" <<EOF
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
EOF
POSTFIX_STARTED=1
spawn "Postfix (start-fg)" "$D/postfix/postfix.out" /usr/sbin/postfix -c "$POSTFIX_ETC" start-fg
wait_for 200 "Postfix did not listen; see $D/postfix/postfix.out" \
    port_open "$SMTP_PORT"

# Pebble, answering dns-01 by asking Knot.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$D/pebble/key.pem" -out "$D/pebble/cert.pem" -days 7 \
    -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
cat >"$D/pebble/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$PEBBLE_PORT",
 "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT_PORT",
 "certificate": "$D/pebble/cert.pem", "privateKey": "$D/pebble/key.pem",
 "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "",
 "externalAccountBindingRequired": false}}
EOF
# No pause before validations (Pebble's default mimics a slow CA).
PEBBLE_VA_NOSLEEP=1
export PEBBLE_VA_NOSLEEP
spawn Pebble "$D/pebble/pebble.out" /usr/bin/pebble \
    -config "$D/pebble/pebble.json" -dnsserver "127.0.0.1:$DNS_PORT"
wait_for 100 "Pebble did not answer; see $D/pebble/pebble.out" \
    curl -sf --cacert "$D/pebble/cert.pem" "https://127.0.0.1:$PEBBLE_PORT/dir"
echo "OpenDKIM on $MILTER_PORT, Postfix on $SMTP_PORT, Pebble on $PEBBLE_PORT"

# ---- 2. the one configuration ------------------------------------------

step "keywarden's configuration"
cat >"$D/keywarden.conf" <<EOF
[daemon]
metrics_listen = 127.0.0.1:$WEB_PORT
[acme]
directory = https://127.0.0.1:$PEBBLE_PORT/dir
ca_file = $D/pebble/cert.pem
[certificate "mail"]
names = mail.example.test
challenge = dns-01
dns_server = 127.0.0.1:$DNS_PORT
tsig_key = upd
tsig_secret = $UPD_SECRET
dns_check = 127.0.0.1:$DNS_PORT, 127.0.0.2:$DNS_PORT
[endpoint "mail"]
host = 127.0.0.1
port = $SMTP_PORT
starttls = smtp
sni = mail.example.test
[hook "postfix"]
on = cert.renewed
reload = postfix
config = $POSTFIX_ETC
retry = 0    # the demo's: a failed reload is final at once (default 3)
[dkim]
opendkim_conf = $D/opendkim/opendkim.conf
resolver = 127.0.0.1:$DNS_PORT
dns_port = $DNS_PORT
[dkim "example.test"]
rotate = 90d
selector = kw%Y%m
key_dir = $D/dkim-keys
dns_server = 127.0.0.1:$DNS_PORT
tsig_key = upd
tsig_secret = $UPD_SECRET
signer = opendkim
[hook "opendkim"]
on = dkim.activated
reload = opendkim
config = $D/opendkim/opendkim.conf
[dnssec]
knot_conf = $D/knot1/knot.conf
resolver = 127.0.0.1:$DNS_PORT
dns_port = $DNS_PORT
[zone "example.test"]
ds_server = 127.0.0.3:$DNS_PORT
EOF
chmod 0600 "$D/keywarden.conf"
show "cat build/demo-mail/keywarden.conf    # paths shown from the clone"
sed "s|$ROOT/||g" "$D/keywarden.conf"
kw config check || fail "keywarden refused its configuration"

# ---- 3. DKIM: a whole rotation on a pinned clock -----------------------

# Sign a message from alice@example.test through OpenDKIM (miltertest
# plays Postfix's part of the milter protocol) and verify it with dkimpy
# against the record that both Knot servers serve, asked directly.
# $1: the selector the signature must name; $2: "pass" or "fail", what
# the verification must give.
dkim_message() {
    cat >"$D/opendkim/sign.lua" <<EOF
local conn = mt.connect("inet:$MILTER_PORT@127.0.0.1", 50, 0.1)
if conn == nil then error("cannot connect to OpenDKIM") end
local function step(what, r)
  if r ~= nil then error(what .. ": " .. r) end
  local got = mt.getreply(conn)
  if got ~= SMFIR_CONTINUE and got ~= SMFIR_ACCEPT then
    error(what .. ": OpenDKIM replied " .. string.char(got))
  end
end
step("connect", mt.conninfo(conn, "localhost", "127.0.0.1"))
step("MAIL FROM", mt.mailfrom(conn, "alice@example.test"))
step("RCPT TO", mt.rcptto(conn, "bob@example.org"))
step("From", mt.header(conn, "From", "Alice <alice@example.test>"))
step("To", mt.header(conn, "To", "Bob <bob@example.org>"))
step("Subject", mt.header(conn, "Subject", "keywarden's demo"))
step("end of header", mt.eoh(conn))
step("body", mt.bodystring(conn, "Signed by OpenDKIM.\r\n"))
step("end of message", mt.eom(conn))
local h = mt.getheader(conn, "DKIM-Signature", 0)
if h == nil then error("OpenDKIM added no DKIM-Signature") end
mt.echo(h)
mt.disconnect(conn)
EOF
    # OpenDKIM reads its tables again on SIGUSR1, after the hook returned:
    # a signature with another selector is tried again (5 s at most).
    n=0
    while :; do
        miltertest -s "$D/opendkim/sign.lua" >"$D/opendkim/signature" 2>&1 ||
            fail "OpenDKIM did not sign: $(cat "$D/opendkim/signature")"
        rc=0
        verify_signature "$1" "$2" >"$D/opendkim/verdict" || rc=$?
        n=$((n + 1))
        if [ "$rc" != 2 ] || [ "$n" -ge 20 ]; then
            break
        fi
        sleep 0.25
    done
    cat "$D/opendkim/verdict"
    [ "$rc" = 0 ] ||
        fail "the message was not signed with $1, or dkim=$2 was not the verdict"
}

# dkimpy's verdict on the signature miltertest printed into
# $D/opendkim/signature (its message is the one sign.lua sends), or with
# $3 = a file, on that whole message: exit 0 when it names selector $1 and
# the verdict is $2, 2 when another selector signed, 1 otherwise.
verify_signature() {
    (cd "$D" && "$PY" -I - "${3:-$D/opendkim/signature}" "$DNS_PORT" "$1" "$2" \
        "${3:+message}") <<'EOF'
import sys
import dkim, dns.message, dns.query, dns.rdatatype
path, port, want_sel, want = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
text = open(path).read()
if sys.argv[5:] == ['message']:
    msg = text.replace('\r\n', '\n').replace('\n', '\r\n').encode()
else:
    msg = ('DKIM-Signature:' + text.rstrip('\n').replace('\n', '\r\n') + '\r\n'
           'From: Alice <alice@example.test>\r\nTo: Bob <bob@example.org>\r\n'
           "Subject: keywarden's demo\r\n\r\nSigned by OpenDKIM.\r\n").encode()
seen = []
def txt(name, timeout=5):
    # The record as each authoritative server serves it; they must agree.
    name = name.decode() if isinstance(name, bytes) else name
    answers = set()
    for addr in ('127.0.0.1', '127.0.0.2'):
        q = dns.message.make_query(name, dns.rdatatype.TXT)
        r = dns.query.udp(q, addr, port=port, timeout=timeout)
        answers.add(b''.join(s for rrset in r.answer for rd in rrset
                             for s in getattr(rd, 'strings', ())))
    if len(answers) != 1:
        print('the two Knot servers serve different records at %s' % name)
        sys.exit(1)
    seen.append(name.rstrip('.'))
    return answers.pop() or None
d = dkim.DKIM(msg)
try:
    ok = d.verify(dnsfunc=txt)
except dkim.DKIMException as e:
    ok = False
sel = d.signature_fields.get(b's', b'').decode()
verdict = 'pass' if ok else 'fail'
print('signed by OpenDKIM with s=%s; dkimpy against %s as both Knot servers '
      'serve it: dkim=%s' % (sel, seen[0] if seen else 'nothing', verdict))
sys.exit(2 if sel != want_sel else 0 if verdict == want else 1)
EOF
}

NOW=$(date +%s)
# The clock starts 98 days ago.  The first rotation replaces s0: its key
# generated, its record published and visible on both servers; 3 h later
# propagated (the record's TTL, the zone's negative TTL and an hour's
# margin have passed), active once OpenDKIM is reloaded, s0 retired.  90
# days on, the next rotation replaces the first key the same way, and
# after 7 days of drain (mail in flight) its record is removed, 21 hours
# ago.  The clock is pinned for each command (KEYWARDEN_NOW), as the
# tests do; the servers run on the real clock.
T0=$((NOW - 98 * 86400))
T1=$((T0 + 3 * 3600))
T2=$((T1 + 60))
T3=$((T0 + 90 * 86400 + 60))
T4=$((T3 + 3 * 3600))
T5=$((T4 + 60))
T6=$((T5 + 7 * 86400 + 60))
SEL1=kw$(date -u -d "@$T0" +%Y%m)
SEL2=kw$(date -u -d "@$T3" +%Y%m)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

step "DKIM: example.test signs with s0, made by hand before keywarden"
dkim_message s0 pass

# One run of the rotation at the pinned clock $1 ($3: --due, or the
# domain); its output must name the stage $2.
rotate_at() {
    show "KEYWARDEN_NOW=$(iso "$1") keywarden dkim rotate $3"
    KEYWARDEN_NOW=$1 kwc dkim rotate "$3" >"$D/rotate.out" 2>&1 ||
        { cat "$D/rotate.out"; fail "dkim rotate failed"; }
    cat "$D/rotate.out"
    grep -q "$2" "$D/rotate.out" || fail "the rotation did not reach $2"
}
hooks_at() {
    show "KEYWARDEN_NOW=$(iso "$1") keywarden hooks run"
    KEYWARDEN_NOW=$1 kwc hooks run >"$D/hooks.out" 2>&1 ||
        { cat "$D/hooks.out"; fail "the hooks failed"; }
    cat "$D/hooks.out"
    grep -q "$2" "$D/hooks.out" || fail "the hook did not say $2"
}
served_by_both() {
    [ -n "$(ask 127.0.0.1 "$1" TXT)" ] && [ -n "$(ask 127.0.0.2 "$1" TXT)" ]
}
gone_from_both() {
    [ -z "$(ask 127.0.0.1 "$1" TXT)" ] && [ -z "$(ask 127.0.0.2 "$1" TXT)" ]
}

step "DKIM: rotate example.test's selector, the clock pinned 98 days back"
rotate_at "$T0" "$SEL1  visible since" example.test
served_by_both "$SEL1._domainkey.example.test" ||
    fail "both servers do not serve $SEL1._domainkey.example.test"
dkim_message s0 pass
rotate_at "$T1" "$SEL1  active since" --due
hooks_at "$T1" "opendkim: ok"
dkim_message "$SEL1" pass
rotate_at "$T2" "$SEL1  retired since" --due

step "DKIM: 90 days later, the next rotation, through drain and removal"
rotate_at "$T3" "$SEL2  visible since" --due
rotate_at "$T4" "$SEL2  active since" --due
hooks_at "$T4" "opendkim: ok"
dkim_message "$SEL2" pass
rotate_at "$T5" "$SEL2  retired since" --due
rotate_at "$T6" "$SEL2  removed since" --due
wait_for 50 "$SEL1's record is still served after its removal" \
    gone_from_both "$SEL1._domainkey.example.test"
dkim_message "$SEL2" pass
kw dkim status example.test

# ---- 4. TLS: the mail certificate ---------------------------------------

step "TLS: get mail.example.test's certificate (dns-01 through Knot)"
kw renew || fail "keywarden renew did not get the certificate"
[ -f "$LIVE/fullchain.pem" ] || fail "no $LIVE/fullchain.pem"

# The SHA-256 fingerprint of the leaf Postfix serves, through keywarden's
# own STARTTLS probe, and of the live file.
served_fp() {
    kwc probe --json --starttls smtp --sni mail.example.test \
        "127.0.0.1:$SMTP_PORT" 2>/dev/null |
        "$PY" -I -c 'import json,sys; c=json.load(sys.stdin)["chain"][0]; print(c["fingerprint_sha256"])'
}
live_fp() {
    openssl x509 -in "$LIVE/cert.pem" -noout -fingerprint -sha256 |
        sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}
serves_live() {
    [ "$(served_fp)" = "$(live_fp)" ]
}
kw probe --starttls smtp --sni mail.example.test "127.0.0.1:$SMTP_PORT" ||
    fail "Postfix does not complete a STARTTLS handshake"
wait_for 50 "Postfix does not serve the certificate keywarden deployed" \
    serves_live
V1=$(live_fp)
echo "Postfix serves the live certificate, version 1 (sha256 $(echo "$V1" | cut -c1-16)...)"

step "TLS: a renewal deploys version 2 and reloads Postfix"
kw renew --force mail || fail "the forced renewal failed"
[ "$(live_fp)" != "$V1" ] || fail "the renewal left version 1 live"
wait_for 50 "Postfix still serves version 1 after the reload" serves_live
echo "Postfix serves version 2 (sha256 $(live_fp | cut -c1-16)...): reloaded"

step "a message through Postfix: STARTTLS, signed by OpenDKIM, held"
show "python3: smtplib to 127.0.0.1:$SMTP_PORT, STARTTLS, MAIL FROM alice@example.test"
(cd "$D" && "$PY" -I - "$SMTP_PORT") <<'EOF' || fail "Postfix did not take the message"
import smtplib, ssl, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
s.starttls(context=ssl._create_unverified_context())
s.sendmail('alice@example.test', ['bob@example.org'],
           'From: Alice <alice@example.test>\r\nTo: Bob <bob@example.org>\r\n'
           'Subject: through Postfix\r\n\r\nSigned on its way in.\r\n')
print('%s, cipher %s: 250 accepted' % (s.sock.version(), s.sock.cipher()[0]))
s.quit()
EOF
QID=$(postqueue -c "$POSTFIX_ETC" -j | "$PY" -I -c 'import json,sys; print(json.loads(sys.stdin.readline())["queue_id"])') ||
    fail "no message in Postfix's queue"
show "postcat -c build/demo-mail/postfix/etc -bh -q $QID    # held"
postcat -c "$POSTFIX_ETC" -bh -q "$QID" >"$D/held.eml" ||
    fail "postcat could not read message $QID"
grep -E '^(DKIM-Signature|Received|From):' "$D/held.eml"
verify_signature "$SEL2" pass "$D/held.eml" ||
    fail "the message Postfix took does not verify with $SEL2"

# ---- 5. DNSSEC ------------------------------------------------------------

step "the inventory: certificates, DKIM selectors, DNSSEC zones and keys"
wait_for 100 "the secondary lags behind the primary" same_serial example.test
kw scan --dkim --dnssec -q "$D/state/certs/live" ||
    fail "the scan failed"
kw dkim check --postfix "$POSTFIX_ETC" example.test ||
    fail "the DKIM check is not ok"
kw dnssec check >"$D/dnssec.out" || { cat "$D/dnssec.out"; fail "the DNSSEC check is not ok"; }
cat "$D/dnssec.out"
if ! grep -q "^example.test: ok (signed, DS at the parent)" "$D/dnssec.out" ||
   ! grep -q "parent DS .*: matches a published key" "$D/dnssec.out"; then
    fail "dnssec check does not find the chain test. DS -> example.test's key"
fi
show "kdig @127.0.0.1 -p $UB_PORT +dnssec mail.example.test A    # unbound, validating from test.'s key"
kdig @127.0.0.1 -p "$UB_PORT" +dnssec mail.example.test A | grep '^;; Flags'
secure mail.example.test A || fail "unbound does not find mail.example.test secure"
secure "$SEL2._domainkey.example.test" TXT ||
    fail "unbound does not find the DKIM record secure"
echo "ad: secure, as is $SEL2._domainkey.example.test TXT"
kw list
for k in tls dkim dnssec; do
    kwc list --kind "$k" | grep -q . || fail "list shows no $k object"
done

# ---- 6. break one thing of each kind -----------------------------------

step "break 1 (DKIM): the record at $SEL2 swapped for another key's in Knot"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$D/other.key" 2>/dev/null
OTHER=$(openssl pkey -in "$D/other.key" -pubout -outform DER |
        openssl base64 -A | sed 's/^/p=/' | fold -w 250 |
        sed 's/.*/"&"/' | tr '\n' ' ')
show "knsupdate: update delete $SEL2._domainkey.example.test TXT; update add ... TXT \"v=DKIM1; k=rsa; p=<another key>\""
knsupdate -y "hmac-sha256:upd:$UPD_SECRET" <<EOF ||
server 127.0.0.1 $DNS_PORT
zone example.test.
update delete $SEL2._domainkey.example.test. TXT
update add $SEL2._domainkey.example.test. 60 TXT "v=DKIM1; k=rsa; " $OTHER
send
EOF
    fail "knsupdate could not swap the record"
wait_for 100 "the secondary did not take the swapped record" \
    same_serial example.test
dkim_message "$SEL2" fail

step "break 2 (TLS): main.cf broken, then a renewal: Postfix's reload fails"
echo "smtpd_tls_loglevel 1" >>"$POSTFIX_ETC/main.cf"
show "echo 'smtpd_tls_loglevel 1' >> main.cf      # a typo: no '='"
kw renew --force mail && fail "the renewal succeeded though Postfix's reload failed"

step "break 3 (DNSSEC): example.test re-signed with 2-day signatures"
knot_primary_conf 2d 1d
show "knot.conf: rrsig-lifetime: 2d, rrsig-refresh: 1d; knotc reload; knotc zone-sign example.test."
before=$(serial 127.0.0.1 example.test)
knotc -c "$D/knot1/knot.conf" reload >/dev/null ||
    fail "knotc reload failed"
knotc -c "$D/knot1/knot.conf" zone-sign example.test. >/dev/null ||
    fail "knotc zone-sign failed"
newer() { [ "$(serial 127.0.0.1 example.test)" -gt "$before" ]; }
wait_for 100 "Knot did not re-sign example.test" newer
wait_for 100 "the secondary did not take the re-signed zone" \
    same_serial example.test

step "what keywarden says"
# The checks that look at DNS record what they find (serve's jobs do the
# same on their own); check reads the inventory.
kw dkim check --postfix "$POSTFIX_ETC" example.test >/dev/null 2>&1 || true
kw dnssec check >/dev/null 2>&1 || true
set +e
kw check >"$D/check.out"
rc=$?
set -e
sed "s|$ROOT/||g" "$D/check.out"
[ "$rc" = 2 ] || fail "check exited $rc, not 2 (critical)"
# Each break is named, its fix under it.
names() {
    grep -A1 "^CRITICAL: .*$1" "$D/check.out" | grep -q "^  fix: $2" ||
        fail "check does not name $3 with its fix"
}
names "$SEL2._domainkey.example.test.*not the key in the key file" \
    "publish $SEL2._domainkey.example.test" "the swapped DKIM record"
names "hook postfix failed" "keywarden hooks history postfix" \
    "the failed reload"
names "RRSIG over example.test.* expires" "re-sign example.test" \
    "the signatures near expiry"

# ---- 7. the page ------------------------------------------------------------

step "the page: keywarden serve"
spawn "keywarden serve" "$D/serve.log" "$KW" --state-dir "$D/state" --config "$D/keywarden.conf" serve
PAGE=http://127.0.0.1:$WEB_PORT/
wait_for 100 "keywarden serve did not answer at $PAGE; see $D/serve.log" \
    curl -sf -o /dev/null "$PAGE"
show "curl -s $PAGE"
curl -sf "$PAGE" >"$D/page.html" || fail "the page did not answer"
for what in "$SEL2._domainkey.example.test" mail.example.test example.test; do
    grep -q "$what" "$D/page.html" || fail "the page does not show $what"
done
NPROB=$(grep -o 'class="problem h-critical"' "$D/page.html" | wc -l)
[ "$NPROB" -ge 3 ] || fail "the page shows $NPROB critical problems, not 3 or more"
echo "$(wc -c <"$D/page.html") bytes: $(grep -o '<h2>[^<]*' "$D/page.html" |
    sed 's/<h2>//' | paste -sd, - | sed 's/,/, /g'); $NPROB critical problems listed first"

ELAPSED=$(($(date +%s) - START))
printf '\nThe page: %s   (the demo took %ss)\n' "$PAGE" "$ELAPSED"
if [ "$KEEP" = 1 ]; then
    MASTER=$(tr -d ' \n' <"$D/postfix/queue/pid/master.pid")
    echo "Still running (--keep): Postfix's master $MASTER$RUNNING."
    echo "Try: $KW --state-dir $D/state --config $D/keywarden.conf list"
    echo "Stop them all with:"
    echo "  kill $MASTER$PIDS"
else
    echo "Stopping what the demo started (--keep leaves it running)."
fi
