//! Fuzz target: a `COPY ... (FORMAT binary)` stream of a table whose column types and feed chunk
//! size the first bytes pick (`arrowtail_fuzz::copy_input`). The body is
//! `arrowtail_fuzz::copy_binary`; under cargo-fuzz (cfg(fuzzing)) this file is its libFuzzer entry
//! point, otherwise a replayer of the files or directories given as arguments.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| arrowtail_fuzz::copy_binary(data));

#[cfg(not(fuzzing))]
fn main() {
    arrowtail_fuzz::replay_main("copy_binary", arrowtail_fuzz::copy_binary);
}
