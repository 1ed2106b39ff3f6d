#!/bin/sh
# Installs the Debian packages that building, running and testing stockmesh need,
# and only those that are missing. Idempotent; runs `apt-get update` at most once.
set -eu

PACKAGES="
build-essential pkg-config clang llvm libclang-rt-14-dev
librdkafka-dev libhiredis-dev libevent-dev libsqlite3-dev libpq-dev libmariadb-dev
libjansson-dev libyaml-dev libcurl4-openssl-dev libssl-dev libsodium-dev
libmosquitto-dev libcmocka-dev
postgresql postgresql-contrib redis-server mariadb-server mariadb-client
curl procps sqlite3 gnuplot-nox tzdata
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# The server packages start their system-wide daemons on install; stockmesh starts its
# own on loopback, so keep the system ones from starting (policy-rc.d) and from
# lingering.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get install -y -q --no-install-recommends $missing
