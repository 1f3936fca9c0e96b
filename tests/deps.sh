#!/bin/sh
# Install the Debian 12 packages keywarden builds and tests with.
# Runs as root, or through sudo when it is there.  Idempotent: packages
# already installed are not downloaded again.
set -eu

PACKAGES="
  build-essential cmake pkg-config
  libssl-dev libsqlite3-dev libjansson-dev libidn2-dev libuv1-dev
  libcurl4-openssl-dev pebble curl
  libhttp-parser-dev
  libcmocka-dev
  libldns-dev knot knot-dnsutils unbound
  clang libclang-rt-14-dev
  openssl ca-certificates
  nginx-light postfix dovecot-core dovecot-imapd dovecot-pop3d
  opendkim opendkim-tools miltertest python3-dkim python3-dnspython
  libpsl-dev publicsuffix
  python3-spf
  rspamd
  bind9-utils bind9
  dnsviz
  chromium
"
# What each is for: README.md, "Dependencies".

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "deps.sh: need root (or sudo) to install:$missing" >&2
    exit 1
fi
echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# The tests start their own nginx, Postfix, Dovecot and Knot on loopback ports;
# the packages must not start system-wide ones.  policy-rc.d (exit 101) tells
# invoke-rc.d not to start services while the packages install.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    policy=1
fi
echo "postfix postfix/main_mailer_type select No configuration" |
    $SUDO debconf-set-selections
$SUDO apt-get update -q
# shellcheck disable=SC2086 # the list is meant to split
$SUDO apt-get install -y -q --no-install-recommends $missing
[ -n "$policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
true
