//! libFuzzer target: arbitrary bytes as a binlog file (after the magic) and as a replication
//! stream of events. Decoding may fail with an error value; it must never panic or hang.
#![no_main]

use arrowtail_core::binlog::{BinlogDecoder, DecoderOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = BinlogDecoder::new(DecoderOptions::default());
    let _ = file.feed_file_bytes(data, "fuzz.000001");
    let _ = file.flush();

    let mut stream = BinlogDecoder::new(DecoderOptions::default());
    let _ = stream.feed(data);
    let _ = stream.flush();
});
