#!/usr/bin/env bash
# The full check, as CI runs it: Rust formatting, clippy (warnings are errors) and tests, Python
# lint and formatting, then the pytest suite (unit and integration, against real servers). Run
# ./run setup (or ./run test, which does both) first. Exits non-zero on the first failure, and
# when pytest collects no tests at all. With CI=true, a server that cannot start fails the run
# instead of skipping its tests (ARROWTAIL_REQUIRE_SERVERS=1).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ARROWTAIL_ROOT"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ARROWTAIL_CACHE/target}"
venv="$ARROWTAIL_ROOT/.venv"
if [[ ! -x "$venv/bin/python" ]]; then
    echo "test: $venv missing; run ./run setup first" >&2
    exit 1
fi
export PATH="$venv/bin:$PATH"
if [[ "${CI:-}" == "true" ]]; then
    export ARROWTAIL_REQUIRE_SERVERS=1
fi

# Python directories that exist in this checkout (benches/ and examples/ may not yet).
py_dirs=()
for dir in python tests benches examples; do
    [[ -d $dir ]] && py_dirs+=("$dir")
done

# Two pytest workers: much of the suite waits on servers (a Connect worker polling, a broker
# restarting, a kill loop's rounds), so two share the two cores well. Tests are grouped so that
# each Java server starts once (tests/conftest.py); ARROWTAIL_TEST_WORKERS=0 runs them in one
# process. The slowest tests are listed at the end.
run_pytest() {
    local rc=0 workers="${ARROWTAIL_TEST_WORKERS:-2}"
    local parallel=()
    if ((workers > 0)); then
        parallel=(-n "$workers" --dist loadgroup)
    fi
    python -m pytest tests -q --durations=25 "${parallel[@]}" "$@" || rc=$?
    if ((rc == 5)); then
        echo "test: pytest collected no tests" >&2
    fi
    return "$rc"
}

total=$SECONDS
phase "cargo fmt" cargo fmt --all --check
phase "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
# The PyO3 crate is a cdylib whose test binary would need libpython; its code is exercised through
# the Python tests instead.
phase "cargo test" cargo test --workspace --exclude arrowtail-python --locked
# libFuzzer over each decoder, bounded. Targets that do not build fail the run; only a machine that
# cannot install nightly Rust or cargo-fuzz says so and goes on (cargo test above already replayed
# the seeds through the targets and ran the proptest properties). Longer: scripts/fuzz.sh 3600.
phase "cargo fuzz" env ARROWTAIL_FUZZ_OPTIONAL=1 scripts/fuzz.sh "${ARROWTAIL_FUZZ_SECONDS:-30}"
phase "ruff check" ruff check "${py_dirs[@]}"
phase "ruff format" ruff format --check "${py_dirs[@]}"
phase "mypy" mypy python/arrowtail
# The hand-written stubs of the Rust module must match what the built module exports.
phase "stubtest" python -m mypy.stubtest arrowtail._core --mypy-config-file pyproject.toml
phase "pytest" run_pytest "$@"
echo "test: all checks passed ($((SECONDS - total))s)"
