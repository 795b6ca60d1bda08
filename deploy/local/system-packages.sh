#!/bin/sh
# Install, when missing, what the local stack needs from the distribution:
# redis-server, PostgreSQL's server programs, and Python's venv module.
# Debian/Ubuntu only; runs apt-get as root, or through sudo.
#
# The packages' own services are kept from starting while they are installed
# (policy-rc.d answers "not allowed"): mockfarm runs its own Redis and PostgreSQL,
# on ports of their own, and never uses or touches the system's.
set -eu

python="${PYTHON:-python3}"
missing=""
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing="$missing redis-server"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing="$missing postgresql"
"$python" -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$missing python3-venv"

if [ -z "$missing" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "Missing:$missing. This machine has no apt-get: install them with its package manager." >&2
    exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi

echo "Installing:$missing"
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Temporary, written by mockfarm while installing packages.\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    created_policy="yes"
fi
cleanup() {
    if [ -n "$created_policy" ]; then
        $sudo rm -f "$policy"
    fi
}
trap cleanup EXIT

$sudo apt-get update -q
# shellcheck disable=SC2086 # the package list is meant to split
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
