//! libFuzzer target: a `COPY ... (FORMAT binary)` stream. The first byte picks how many columns
//! the table has and the next bytes their types (from the OIDs the binary codecs know); the rest
//! is the stream, fed in chunks whose size the second byte picks, so chunk boundaries are fuzzed too.
#![no_main]

use arrowtail_core::copy::{CopyColumn, CopyDecoder};
use libfuzzer_sys::fuzz_target;

/// bool, bytea, int8, int2, int4, text, oid, json, float4, float8, varchar, date, time, timestamp,
/// timestamptz, interval, numeric, uuid, jsonb, int4[], text[].
const TYPES: [u32; 21] = [
    16, 17, 20, 21, 23, 25, 26, 114, 700, 701, 1043, 1082, 1083, 1114, 1184, 1186, 1700, 2950,
    3802, 1007, 1009,
];

fuzz_target!(|data: &[u8]| {
    let [count, chunk, rest @ ..] = data else {
        return;
    };
    let ncols = usize::from(*count % 8) + 1;
    if rest.len() < ncols {
        return;
    }
    let (picks, stream) = rest.split_at(ncols);
    let columns: Vec<CopyColumn> = picks
        .iter()
        .enumerate()
        .map(|(i, p)| CopyColumn {
            name: format!("c{i}"),
            type_oid: TYPES[usize::from(*p) % TYPES.len()],
            typmod: -1,
        })
        .collect();
    let Ok(mut decoder) = CopyDecoder::new("public.fuzz", &columns, vec!["c0".into()], 1, 16, 0, 0)
    else {
        return;
    };
    for part in stream.chunks(usize::from(*chunk).max(1)) {
        if decoder.feed(part).is_err() {
            return;
        }
    }
    let _ = decoder.finish();
    let _ = decoder.flush();
});
