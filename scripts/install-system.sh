#!/usr/bin/env bash
# Install the system packages the build and the integration tests need on Debian: PostgreSQL and
# MariaDB server binaries (the tests start private servers; the system services stay stopped), a C
# toolchain for linking, python3-venv, and Java/Maven for the Kafka broker when absent. Only what is
# missing is installed, so a second run is quick. Rust (rustup, with clippy and rustfmt) must already
# be there: Debian's rustc is too old for this workspace.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

missing=()
have_pg_server() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null; }
have() { command -v "$1" >/dev/null || [[ -x "/usr/sbin/$1" ]]; }

have_pg_server || missing+=(postgresql)
{ have mariadbd && have mariadb-install-db; } || missing+=(mariadb-server)
have cc || missing+=(build-essential)
# The TLS tests make a self-signed certificate with the openssl command.
have openssl || missing+=(openssl)
can_make_venv() {
    # An existing working .venv is proof enough; otherwise try for real (Debian splits ensurepip,
    # which venv needs for pip, into python3-venv, and a bare import does not reveal that).
    "$ARROWTAIL_ROOT/.venv/bin/python" -c 'import sys' 2>/dev/null && return 0
    local tmp rc=0
    tmp="$(mktemp -d)"
    python3 -m venv "$tmp/venv" >/dev/null 2>&1 || rc=$?
    rm -rf "$tmp"
    return "$rc"
}
command -v python3 >/dev/null || missing+=(python3)
can_make_venv || missing+=(python3-venv)
have java || missing+=(openjdk-17-jre-headless)
have mvn || missing+=(maven)

if ((${#missing[@]} == 0)); then
    echo "install-system: all system packages present"
else
    echo "install-system: installing ${missing[*]}"
    # Keep package scripts from starting the PostgreSQL/MariaDB services (invoke-rc.d consults
    # policy-rc.d; 101 = action forbidden). Our own file only, removed again on exit.
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [[ ! -e $policy ]]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        added_policy=1
    fi
    cleanup() { if ((added_policy)); then as_root rm -f "$policy"; fi; }
    trap cleanup EXIT
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

for tool in cargo rustc; do
    if ! command -v "$tool" >/dev/null; then
        echo "install-system: '$tool' not found; install Rust with rustup (https://rustup.rs)" >&2
        exit 1
    fi
done
for component in clippy rustfmt; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        if command -v rustup >/dev/null; then
            rustup component add "$component"
        else
            echo "install-system: cargo $component missing and no rustup to add it" >&2
            exit 1
        fi
    fi
done
