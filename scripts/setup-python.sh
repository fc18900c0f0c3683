#!/usr/bin/env bash
# Create the repository's .venv, install the pinned development dependencies from
# requirements-dev.lock (only when the lock changed since the last run), then build and install
# arrowtail itself with maturin through pip. Cargo's target directory lives in the arrowtail cache
# (or $CARGO_TARGET_DIR) so rebuilds are incremental.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ARROWTAIL_ROOT"

venv="$ARROWTAIL_ROOT/.venv"
lock="$ARROWTAIL_ROOT/requirements-dev.lock"
stamp="$venv/.requirements-dev.lock.sha256"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ARROWTAIL_CACHE/target}"

if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    echo "setup-python: creating $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
fi

want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup-python: dependencies match requirements-dev.lock"
else
    echo "setup-python: installing requirements-dev.lock"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$lock"
    echo "$want" >"$stamp"
fi

# maturin comes from the lock, so build without an isolated (unpinned) build environment; its
# PEP 517 hooks call the maturin executable by name.
export PATH="$venv/bin:$PATH"
echo "setup-python: building arrowtail (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-build-isolation \
    --force-reinstall --no-deps .
"$venv/bin/python" -m pip check --disable-pip-version-check
"$venv/bin/python" -c 'import arrowtail, arrowtail._core; print("setup-python: arrowtail", arrowtail.__version__)'
