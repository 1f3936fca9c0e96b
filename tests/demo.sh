#!/bin/sh
# keywarden's main job on its embedded defaults, from a clean clone:
# install the packages, build, generate a demo set of certificates (a
# Let's Encrypt layout, a Postfix and an nginx certificate, expired and
# expiring ones, a key mismatch, a world-readable key, a corrupt file),
# scan it together with this machine's /etc/ssl/certs into the SQLite
# inventory, and list what expires first.  Then get a certificate from a
# local ACME CA (Debian's Pebble, with pebble-challtestsrv as the DNS that
# points every name at 127.0.0.1), deploy it, and renew it.
#
# The inventory goes to build/demo-state, not to /var/lib/keywarden, so
# the demo leaves the machine's real inventory alone.  Pebble and its DNS
# listen on 127.0.0.1 only and are stopped (by pid) when the demo ends.
set -eu

cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)
STATE=build/demo-state
KW=build/release/keywarden

sh tests/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$JOBS" --target keywarden kw-testpki

rm -rf build/demo "$STATE"
build/release/tests/kw-testpki demo build/demo

echo "\$ keywarden scan /etc/ssl/certs build/demo"
"$KW" --state-dir "$STATE" scan /etc/ssl/certs build/demo
echo
echo "\$ keywarden list"
"$KW" --state-dir "$STATE" list
echo
echo "\$ keywarden check"
"$KW" --state-dir "$STATE" check || true

# ---- a certificate from a local ACME CA -------------------------------
ACME=build/demo-acme
PEBBLE_PORT=${PEBBLE_PORT:-14000}
MGMT_PORT=${MGMT_PORT:-15000}
DNS_PORT=${DNS_PORT:-18053}
HTTP01_PORT=${HTTP01_PORT:-5002}
rm -rf "$ACME"
mkdir -p "$ACME"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$ACME/pebble-key.pem" -out "$ACME/pebble-cert.pem" -days 7 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    2>/dev/null
cat > "$ACME/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$PEBBLE_PORT",
 "managementListenAddress": "127.0.0.1:$MGMT_PORT",
 "certificate": "$(pwd)/$ACME/pebble-cert.pem",
 "privateKey": "$(pwd)/$ACME/pebble-key.pem",
 "httpPort": $HTTP01_PORT, "tlsPort": 5001, "ocspResponderURL": "",
 "externalAccountBindingRequired": false}}
EOF
# The DNS answers every A query with 127.0.0.1 and nothing else; the
# empty arguments switch off its own challenge responders.
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
    -dns01 "127.0.0.1:$DNS_PORT" -management 127.0.0.1:0 -http01 "" \
    -https01 "" -tlsalpn01 "" > "$ACME/dns.log" 2>&1 &
DNS_PID=$!
PEBBLE_VA_NOSLEEP=1 pebble -config "$ACME/pebble.json" -strict \
    -dnsserver "127.0.0.1:$DNS_PORT" > "$ACME/pebble.log" 2>&1 &
PEBBLE_PID=$!
trap 'kill $PEBBLE_PID $DNS_PID 2>/dev/null || true' EXIT
# Ready when the directory answers (at most 10 s).
i=0
until curl -sfk "https://127.0.0.1:$PEBBLE_PORT/dir" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$PEBBLE_PID" 2>/dev/null; then
        echo "demo: Pebble did not start; its log:" >&2
        cat "$ACME/pebble.log" >&2
        exit 1
    fi
    sleep 0.1
done
cat > "$ACME/keywarden.conf" <<EOF
[daemon]
metrics_listen = off
[acme]
directory = https://127.0.0.1:$PEBBLE_PORT/dir
ca_file = $(pwd)/$ACME/pebble-cert.pem
contact = mailto:hostmaster@demo.example
http01_listen = 127.0.0.1:$HTTP01_PORT
# The HTTP-01 pre-check looks the way this CA's validator does: through
# the local DNS, on its port, at a loopback address.
resolver = 127.0.0.1:$DNS_PORT
validation_http_port = $HTTP01_PORT
validation_allow_private = yes
[certificate "demo"]
names = www.demo.example, mail.demo.example
EOF
echo
echo "\$ cat $ACME/keywarden.conf"
cat "$ACME/keywarden.conf"
KWC="$KW --state-dir $STATE --config $ACME/keywarden.conf"
echo
echo "\$ keywarden renew            # local Pebble CA, local DNS"
$KWC renew
echo
echo "\$ keywarden renew            # again: not due"
$KWC renew
echo
echo "\$ keywarden renew --force demo"
$KWC renew --force demo
echo
echo "\$ keywarden certificate list"
$KWC certificate list
echo
curl -sfk "https://127.0.0.1:$MGMT_PORT/roots/0" > "$ACME/root.pem"
echo "\$ openssl verify -CAfile pebble-root.pem -untrusted live/demo/chain.pem live/demo/cert.pem"
openssl verify -CAfile "$ACME/root.pem" \
    -untrusted "$STATE/certs/live/demo/chain.pem" \
    "$STATE/certs/live/demo/cert.pem"
ls -l "$STATE/certs/live/" "$STATE/certs/live/demo/"
echo
echo "Try: $KW --state-dir $STATE show mail.example.net"
echo "     $KW --state-dir $STATE list --expiring 14d --json"
echo "     $KWC rollback demo"
