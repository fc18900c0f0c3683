//! Fuzz target: MySQL's binary JSON format, parsed to a value and rendered as text. The body is
//! `arrowtail_fuzz::mysql_json`; under cargo-fuzz (cfg(fuzzing)) this file is its libFuzzer entry
//! point, otherwise a replayer of the files or directories given as arguments.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| arrowtail_fuzz::mysql_json(data));

#[cfg(not(fuzzing))]
fn main() {
    arrowtail_fuzz::replay_main("mysql_json", arrowtail_fuzz::mysql_json);
}
