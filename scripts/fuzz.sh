#!/usr/bin/env bash
# libFuzzer runs of the decoders (fuzz/fuzz_targets/): pgoutput, COPY BINARY, binlog, MySQL JSON.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     default 30; e.g. 3600 for a soak
# Needs a nightly toolchain (installed through rustup when missing) and cargo-fuzz (installed with
# cargo when missing). Seeds: fuzz/seeds/<target>/ plus the real captures and binlog fixtures
# (fuzz/seeds/README.md). A crash stops the run with a non-zero exit and leaves the input in
# fuzz/artifacts/<target>/; turn it into a regression test in rust/arrowtail-core/tests/ before
# fixing (`cargo run -p arrowtail-fuzz --bin <target> -- <input>` replays it on stable).
# Targets that do not build fail the run: the stable workspace already builds their bodies, so a
# failing nightly build is a real breakage of the entry points or the fuzz build. Only a machine
# that cannot get nightly or cargo-fuzz at all may, with ARROWTAIL_FUZZ_OPTIONAL=1, print why and
# exit 0 (the seed replays and proptest properties still run in `cargo test`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ARROWTAIL_ROOT"

seconds="${1:-30}"
unavailable() {
    echo "fuzz: $1" >&2
    if [[ "${ARROWTAIL_FUZZ_OPTIONAL:-}" == "1" ]]; then
        echo "fuzz: skipped (ARROWTAIL_FUZZ_OPTIONAL=1); cargo test still replays the seeds and runs the proptest properties" >&2
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
for target in pgoutput copy_binary binlog mysql_json; do
    if [[ -d fuzz/seeds/$target ]]; then
        cp fuzz/seeds/"$target"/* "$seeds/$target/"
    fi
done
cp tests/fixtures/pgoutput/*.cap "$seeds/pgoutput/"
find tests/fixtures/binlog -type f -size -256k ! -name '*.md' -exec cp {} "$seeds/binlog/" \;
for target in pgoutput copy_binary binlog mysql_json; do
    if [[ -z "$(ls -A "$seeds/$target")" ]]; then
        echo "fuzz: no seeds for $target (fuzz/seeds/README.md)" >&2
        exit 1
    fi
done

export CARGO_TARGET_DIR="$ARROWTAIL_CACHE/fuzz-target"
# The workspace's release profile (thin LTO, 4 codegen units) is for the wheel; instrumented fuzz
# binaries linked that way take many minutes each on two cores. Plain optimised builds fuzz as well.
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
# No AddressSanitizer: arrowtail-core has no unsafe code (lib.rs forbids it), so what the fuzzer
# looks for is panics, overflows (debug assertions stay on), hangs and memory blow-ups, which
# libFuzzer catches on its own. The instrumented build took about two thirds of the fuzz phase.
sanitizer=(--sanitizer none)
# Not "unavailable": the toolchain is there, so targets that do not build are a breakage to fix.
if ! phase "fuzz build" cargo +nightly fuzz build "${sanitizer[@]}" --fuzz-dir fuzz; then
    echo "fuzz: the fuzz targets do not build with $(cargo +nightly --version 2>/dev/null)" >&2
    exit 1
fi
for target in pgoutput copy_binary binlog mysql_json; do
    corpus="$ARROWTAIL_CACHE/fuzz-corpus/$target"
    mkdir -p "$corpus"
    phase "fuzz $target (${seconds}s)" cargo +nightly fuzz run "${sanitizer[@]}" --fuzz-dir fuzz "$target" \
        "$corpus" "$seeds/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10
done
