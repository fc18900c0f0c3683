//! libFuzzer target: MySQL's binary JSON format, parsed to a value and rendered as text.
#![no_main]

use arrowtail_core::binlog::json::{parse, to_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse(data);
    let mut text = String::new();
    let _ = to_text(data, &mut text);
});
