//! Malformed input never panics: every truncation and many deterministic byte mutations of a
//! realistic message sequence (text and binary values of many types, streaming, two-phase) are fed
//! to fresh decoders; each call must return `Ok` or an error value.

use super::testutil::{t, W};
use super::Decoder;
use crate::types::postgres::oid;

fn messages() -> Vec<Vec<u8>> {
    let cols: &[(&str, u32, i32)] = &[
        ("id", oid::INT4, -1),
        ("n", oid::NUMERIC, ((10 << 16) | 2) + 4),
        ("u", oid::NUMERIC, -1),
        ("d", oid::DATE, -1),
        ("ts", oid::TIMESTAMPTZ, -1),
        ("iv", oid::INTERVAL, -1),
        ("a", 1007, -1),
        ("j", oid::JSONB, -1),
        ("uu", oid::UUID, -1),
        ("tz", oid::TIMETZ, -1),
    ];
    let mut rel = W::new(b'R')
        .u32(1)
        .str("public")
        .str("t")
        .u8(b'd')
        .u16(cols.len() as u16);
    for (i, (name, ty, tm)) in cols.iter().enumerate() {
        rel = rel.u8(u8::from(i == 0)).str(name).u32(*ty).i32(*tm);
    }
    let text = [
        t("1"),
        t("12.34"),
        t("NaN"),
        t("2024-01-01"),
        t("2024-01-01 00:00:00+00"),
        t("1 day 00:00:01"),
        t("{1,NULL}"),
        t("{}"),
        t("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        t("01:00:00+02"),
    ];
    let mut bin_num = b"b:".to_vec();
    for x in [2i16, 0, 0, 2, 12, 3400] {
        bin_num.extend(x.to_be_bytes());
    }
    let mut bin_arr = b"b:".to_vec();
    for x in [1i32, 0, 23, 1, 1, 4, 7] {
        bin_arr.extend(x.to_be_bytes());
    }
    let binary: Vec<Option<&[u8]>> = vec![
        Some(b"b:\x00\x00\x00\x02"),
        Some(&bin_num),
        Some(&bin_num),
        Some(b"b:\x00\x00\x00\x01"),
        Some(b"b:\x00\x00\x00\x00\x00\x00\x00\x01"),
        Some(b"b:\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03"),
        Some(&bin_arr),
        Some(b"b:\x01{}"),
        Some(b"b:0123456789abcdef"),
        Some(b"b:\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00"),
    ];
    vec![
        rel.0,
        W::new(b'B').u64(0x10).i64(0).u32(5).0,
        W::new(b'I').u32(1).u8(b'N').tuple(&text).0,
        W::new(b'U')
            .u32(1)
            .u8(b'O')
            .tuple(&text)
            .u8(b'N')
            .tuple(&binary)
            .0,
        W::new(b'D').u32(1).u8(b'K').tuple(&binary).0,
        W::new(b'T').u32(1).u8(0).u32(1).0,
        W::new(b'M').u8(1).u64(3).str("p").u32(1).bytes(b"x").0,
        W::new(b'C').u8(0).u64(0x10).u64(0x18).i64(0).0,
        W::new(b'S').u32(9).u8(1).0,
        W::new(b'I').u32(10).u32(1).u8(b'N').tuple(&binary).0,
        W::new(b'E').0,
        W::new(b'A').u32(9).u32(10).0,
        W::new(b'c').u32(9).u8(0).u64(0x20).u64(0x28).i64(0).0,
        W::new(b'b').u64(0x30).u64(0x38).i64(0).u32(11).str("g").0,
        W::new(b'I').u32(1).u8(b'N').tuple(&text).0,
        W::new(b'P')
            .u8(0)
            .u64(0x30)
            .u64(0x38)
            .i64(0)
            .u32(11)
            .str("g")
            .0,
        W::new(b'K')
            .u8(0)
            .u64(0x40)
            .u64(0x48)
            .i64(0)
            .u32(11)
            .str("g")
            .0,
    ]
}

fn run(msgs: &[Vec<u8>]) -> Decoder {
    let mut d = Decoder::new();
    for (i, m) in msgs.iter().enumerate() {
        let _ = d.feed_message(m, i as u64);
    }
    let _ = d.flush();
    d
}

#[test]
fn the_sample_stream_decodes() {
    let mut d = Decoder::new();
    for (i, m) in messages().iter().enumerate() {
        d.feed_message(m, i as u64).unwrap();
    }
    let rows: usize = d.flush().unwrap().iter().map(|b| b.batch.num_rows()).sum();
    // insert, update, delete, truncate, message; streamed insert aborted; prepared insert.
    assert_eq!(rows, 6);
    assert_eq!(d.stats().aborted_rows, 1);
}

#[test]
fn truncations_and_mutations_never_panic() {
    let base = messages();
    for i in 0..base.len() {
        for cut in 0..base[i].len() {
            let mut msgs = base.clone();
            msgs[i].truncate(cut);
            run(&msgs);
        }
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let mut msgs = base.clone();
        for _ in 0..1 + next() % 3 {
            let i = (next() % msgs.len() as u64) as usize;
            if msgs[i].is_empty() {
                continue;
            }
            let j = (next() % msgs[i].len() as u64) as usize;
            msgs[i][j] = match next() % 4 {
                0 => 0xFF,
                1 => 0,
                2 => msgs[i][j].wrapping_add(1),
                _ => next() as u8,
            };
        }
        run(&msgs);
    }
}
