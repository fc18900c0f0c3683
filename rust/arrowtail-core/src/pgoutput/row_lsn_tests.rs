//! Each change's own WAL position (`Decoder::set_row_lsn`): `_lsn` is the start LSN of the
//! change's message, `_last_commit_lsn` the end LSN of the transaction committed before the
//! change's own, for ordinary and streamed transactions, across batch cuts and subtransaction
//! aborts.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, UInt64Type};
use arrow_array::RecordBatch;

use super::decoder::Decoder;
use super::testutil::{t, W};
use crate::arrow::ChangeBatch;

const REL: u32 = 16384;

fn relation() -> Vec<u8> {
    W::new(b'R')
        .u32(REL)
        .str("public")
        .str("t")
        .u8(b'd')
        .u16(1)
        .u8(1)
        .str("id")
        .u32(23)
        .i32(-1)
        .0
}

fn insert(id: &str) -> Vec<u8> {
    W::new(b'I').u32(REL).u8(b'N').tuple(&[t(id)]).0
}

fn streamed_insert(xid: u32, id: &str) -> Vec<u8> {
    W::new(b'I').u32(xid).u32(REL).u8(b'N').tuple(&[t(id)]).0
}

/// Begin of a transaction committing at `lsn`.
fn begin(lsn: u64, xid: u32) -> Vec<u8> {
    W::new(b'B').u64(lsn).i64(1_000_000).u32(xid).0
}

/// Commit at `lsn`, ending at `lsn + 8`.
fn commit(lsn: u64) -> Vec<u8> {
    W::new(b'C').u8(0).u64(lsn).u64(lsn + 8).i64(1_000_000).0
}

fn feed(d: &mut Decoder, msgs: &[(u64, Vec<u8>)]) {
    for (lsn, m) in msgs {
        d.feed_message(m, *lsn).unwrap();
    }
}

/// (id, _lsn, _last_commit_lsn) of every row, in order.
fn rows(out: Vec<ChangeBatch>) -> Vec<(i32, u64, u64)> {
    let mut v = Vec::new();
    for cb in out {
        let b: &RecordBatch = &cb.batch;
        let ids = b.column_by_name("id").unwrap().as_primitive::<Int32Type>();
        let lsn = b
            .column_by_name("_lsn")
            .unwrap()
            .as_primitive::<UInt64Type>();
        let last = b
            .column_by_name("_last_commit_lsn")
            .unwrap()
            .as_primitive::<UInt64Type>();
        for i in 0..b.num_rows() {
            v.push((ids.value(i), lsn.value(i), last.value(i)));
        }
    }
    v
}

#[test]
fn ordinary_changes_carry_their_own_lsn_and_the_last_commit() {
    let mut d = Decoder::new();
    d.set_row_lsn(true);
    feed(
        &mut d,
        &[
            (0x10, relation()),
            (0x20, begin(0x60, 7)),
            (0x28, insert("1")),
            (0x40, insert("2")),
            (0x68, commit(0x60)),
            (0x70, begin(0x90, 8)),
            (0x78, insert("3")),
            (0x98, commit(0x90)),
        ],
    );
    // Before the first commit the decoder saw, no last commit: 0.
    assert_eq!(
        rows(d.flush().unwrap()),
        vec![(1, 0x28, 0), (2, 0x40, 0), (3, 0x78, 0x68)]
    );
}

#[test]
fn streamed_changes_learn_the_last_commit_at_their_commit() {
    let mut d = Decoder::new();
    d.set_row_lsn(true);
    // One row per batch, so rows already cut into batches are stamped too.
    d.set_byte_limit(1);
    feed(
        &mut d,
        &[
            (0x10, relation()),
            (0x20, begin(0x30, 6)),
            (0x28, insert("10")),
            (0x38, commit(0x30)),
            (0x40, W::new(b'S').u32(50).u8(1).0),
            (0x48, streamed_insert(50, "1")),
            (0x50, streamed_insert(51, "2")),
            (0x58, W::new(b'E').0),
            (0x60, begin(0x80, 60)),
            (0x68, insert("100")),
            (0x88, commit(0x80)),
            (0x90, W::new(b'S').u32(50).u8(0).0),
            (0x98, streamed_insert(50, "3")),
            (0xA0, W::new(b'E').0),
            (0xA8, W::new(b'A').u32(50).u32(51).0),
            (
                0xB8,
                W::new(b'c').u32(50).u8(0).u64(0xB0).u64(0xB8).i64(5).0,
            ),
        ],
    );
    // The streamed transaction committed after the one ending at 0x88; its aborted
    // subtransaction's row is gone.
    assert_eq!(
        rows(d.flush().unwrap()),
        vec![
            (10, 0x28, 0),
            (100, 0x68, 0x38),
            (1, 0x48, 0x88),
            (3, 0x98, 0x88)
        ]
    );
}

#[test]
fn without_the_setting_batches_have_no_lsn_columns() {
    let mut d = Decoder::new();
    feed(
        &mut d,
        &[
            (0x10, relation()),
            (0x20, begin(0x60, 7)),
            (0x28, insert("1")),
            (0x68, commit(0x60)),
        ],
    );
    let out = d.flush().unwrap();
    let schema = out[0].batch.schema();
    assert!(schema.column_with_name("_lsn").is_none());
    assert!(schema.column_with_name("_last_commit_lsn").is_none());
}

#[test]
fn a_resumed_stream_starts_after_the_commit_it_was_given() {
    let mut d = Decoder::new();
    d.set_row_lsn(true);
    d.set_last_commit_lsn(0x18);
    feed(
        &mut d,
        &[
            (0x10, relation()),
            (0x20, begin(0x60, 7)),
            (0x28, insert("1")),
            (0x68, commit(0x60)),
            (0x70, begin(0x90, 8)),
            (0x78, insert("2")),
            (0x98, commit(0x90)),
        ],
    );
    assert_eq!(
        rows(d.flush().unwrap()),
        vec![(1, 0x28, 0x18), (2, 0x78, 0x68)]
    );
}

#[test]
fn the_end_of_the_last_commit_flushed_seeds_the_next_run() {
    let mut d = Decoder::new();
    d.set_row_lsn(true);
    let first = [
        (0x10, relation()),
        (0x20, begin(0x60, 7)),
        (0x28, insert("1")),
        (0x68, commit(0x60)),
    ];
    feed(&mut d, &first);
    // Nothing flushed yet: no commit handed out.
    assert_eq!(d.committed_end_lsn(), 0);
    d.flush().unwrap();
    assert_eq!((d.committed_lsn(), d.committed_end_lsn()), (0x60, 0x68));
    // A transaction decoded but not flushed is not handed out yet.
    feed(
        &mut d,
        &[
            (0x70, begin(0x90, 8)),
            (0x78, insert("2")),
            (0x98, commit(0x90)),
        ],
    );
    assert_eq!(d.committed_end_lsn(), 0x68);

    // The next run, given that end, stamps its first transaction as this decoder did.
    let mut next = Decoder::new();
    next.set_row_lsn(true);
    next.set_last_commit_lsn(d.committed_end_lsn());
    feed(
        &mut next,
        &[
            (0x10, relation()),
            (0x70, begin(0x90, 8)),
            (0x78, insert("2")),
            (0x98, commit(0x90)),
        ],
    );
    assert_eq!(rows(d.flush().unwrap()), rows(next.flush().unwrap()));
    assert_eq!(d.committed_end_lsn(), 0x98);
}
