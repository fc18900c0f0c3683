//! Fuzz target: arbitrary bytes as a pgoutput capture file, as one message and as one CopyData
//! frame. The body is `arrowtail_fuzz::pgoutput`; under cargo-fuzz (cfg(fuzzing)) this file is its
//! libFuzzer entry point, otherwise a replayer of the files or directories given as arguments.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| arrowtail_fuzz::pgoutput(data));

#[cfg(not(fuzzing))]
fn main() {
    arrowtail_fuzz::replay_main("pgoutput", arrowtail_fuzz::pgoutput);
}
