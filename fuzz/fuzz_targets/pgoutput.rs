//! libFuzzer target: arbitrary bytes as a pgoutput capture file, as one message and as one
//! CopyData frame. Decoding may fail with an error value; it must never panic or hang.
#![no_main]

use arrowtail_core::pgoutput::Decoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut capture = Decoder::new();
    let _ = capture.feed_capture(data);
    let _ = capture.flush();

    let mut live = Decoder::new();
    let _ = live.feed_message(data, 1);
    let _ = live.feed_frame(data);
    let _ = live.flush();
});
