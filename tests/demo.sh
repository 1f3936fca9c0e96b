#!/bin/sh
# keywarden's main job on its embedded defaults, from a clean clone:
# install the packages, build, generate a demo set of certificates (a
# Let's Encrypt layout, a Postfix and an nginx certificate, expired and
# expiring ones, a key mismatch, a world-readable key, a corrupt file),
# scan it together with this machine's /etc/ssl/certs into the SQLite
# inventory, and list what expires first.
#
# The inventory goes to build/demo-state, not to /var/lib/keywarden, so
# the demo leaves the machine's real inventory alone.
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
echo
echo "Try: $KW --state-dir $STATE show mail.example.net"
echo "     $KW --state-dir $STATE list --expiring 14d --json"
