#!/usr/bin/env bash
# libFuzzer runs of the decoders (fuzz/fuzz_targets/): pgoutput, COPY BINARY, binlog, MySQL JSON.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     default 30; e.g. 3600 for a soak
# Needs a nightly toolchain (installed through rustup when missing) and cargo-fuzz (installed with
# cargo when missing). Seeds come from the real captures and binlog fixtures. A crash stops the run
# with a non-zero exit and leaves the input in fuzz/artifacts/<target>/; turn it into a regression
# test in rust/arrowtail-core/tests/ before fixing. With ARROWTAIL_FUZZ_OPTIONAL=1 a machine that
# cannot get nightly prints why and exits 0 (the stable proptest properties still run in the tests).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ARROWTAIL_ROOT"

seconds="${1:-30}"
unavailable() {
    echo "fuzz: $1" >&2
    if [[ "${ARROWTAIL_FUZZ_OPTIONAL:-}" == "1" ]]; then
        echo "fuzz: skipped (ARROWTAIL_FUZZ_OPTIONAL=1); the proptest properties cover the decoders" >&2
        exit 0
    fi
    exit 1
}

if ! cargo +nightly --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal >/dev/null 2>&1 ||
        unavailable "no nightly Rust toolchain and rustup could not install one"
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo +nightly install cargo-fuzz --version 0.13.2 --locked ||
        unavailable "cargo-fuzz could not be installed"
fi

# Seeds: real inputs, copied so libFuzzer's corpus directories never write into the fixtures.
seeds="$ARROWTAIL_CACHE/fuzz-seeds"
rm -rf "$seeds"
mkdir -p "$seeds"/{pgoutput,copy_binary,binlog,mysql_json}
cp tests/fixtures/pgoutput/*.cap "$seeds/pgoutput/"
find tests/fixtures/binlog -type f -size -256k ! -name '*.md' -exec cp {} "$seeds/binlog/" \;

export CARGO_TARGET_DIR="$ARROWTAIL_CACHE/fuzz-target"
# A toolchain that cannot build the targets (a nightly regression) is not a finding: say so. A
# crash while running them is one, and fails the run.
phase "fuzz build" cargo +nightly fuzz build --fuzz-dir fuzz ||
    unavailable "the fuzz targets do not build with $(cargo +nightly --version 2>/dev/null)"
for target in pgoutput copy_binary binlog mysql_json; do
    corpus="$ARROWTAIL_CACHE/fuzz-corpus/$target"
    mkdir -p "$corpus"
    phase "fuzz $target (${seconds}s)" cargo +nightly fuzz run --fuzz-dir fuzz "$target" \
        "$corpus" "$seeds/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10
done
