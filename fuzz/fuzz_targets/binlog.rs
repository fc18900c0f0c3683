//! Fuzz target: arbitrary bytes as a binlog file (after the magic) and as a replication stream. The
//! body is `arrowtail_fuzz::binlog`; under cargo-fuzz (cfg(fuzzing)) this file is its libFuzzer
//! entry point, otherwise a replayer of the files or directories given as arguments.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| arrowtail_fuzz::binlog(data));

#[cfg(not(fuzzing))]
fn main() {
    arrowtail_fuzz::replay_main("binlog", arrowtail_fuzz::binlog);
}
