# Shared helpers for the scripts in this directory (sourced, not run).
# shellcheck shell=bash

# Repository root, whatever the caller's working directory.
ARROWTAIL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ARROWTAIL_CACHE="${ARROWTAIL_CACHE:-$HOME/.cache/arrowtail}"
export ARROWTAIL_CACHE

# phase NAME COMMAND...: run COMMAND under a heading and report how long it took. A failing command
# stops the script (set -e) after saying which phase failed.
phase() {
    local name="$1"
    shift
    local start=$SECONDS rc=0
    echo "==> $name"
    "$@" || rc=$?
    if ((rc != 0)); then
        echo "<== $name FAILED (exit $rc) after $((SECONDS - start))s" >&2
        return "$rc"
    fi
    echo "<== $name ok ($((SECONDS - start))s)"
}

# as_root COMMAND...: run COMMAND as root, through sudo when we are not root.
as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        echo "need root to run: $*" >&2
        return 1
    fi
}
