//! The pgoutput decoder's position contract, checked on the real capture
//! (`tests/fixtures/pgoutput/stream.cap`) cut before every record (long runs of inserts sampled,
//! see [`cut_points`]), and flushed after every record: a prefix yields exactly the
//! rows of the transactions committed inside it, whole, and `committed_lsn` names the last of
//! them; after a reconnect (`reset_in_flight`, then what the server sends again from
//! `confirmable_lsn`: every transaction that ends after it) the decoder yields exactly the rest.

mod cuts;

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrowtail_core::pgoutput::{CaptureReader, Decoder};
use cuts::Reference;

fn capture() -> Vec<(u64, Vec<u8>)> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pgoutput/stream.cap");
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    CaptureReader::new(&data)
        .map(|r| {
            let (lsn, msg) = r.unwrap();
            (lsn, msg.to_vec())
        })
        .collect()
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// For every record, the (commit LSN, end LSN) of the transaction it belongs to: Begin .. Commit,
/// or Stream Start .. Stream Stop blocks of one xid up to its Stream Commit (protocol.sgml,
/// "Logical Replication Message Formats").
fn transaction_of_each_record(recs: &[(u64, Vec<u8>)]) -> Vec<(u64, u64)> {
    let mut owner: Vec<Option<u64>> = Vec::new(); // key: Begin index, or xid + 2^40 for streams
    let mut ends: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut open: Option<u64> = None;
    for (i, (_, m)) in recs.iter().enumerate() {
        match m[0] {
            b'B' => open = Some(i as u64),
            b'S' => open = Some((1 << 40) + u64::from(be_u32(m, 1))),
            b'c' => open = Some((1 << 40) + u64::from(be_u32(m, 1))),
            _ => {}
        }
        owner.push(open);
        match m[0] {
            // Commit: flags, commit LSN, end LSN, time.
            b'C' => {
                ends.insert(open.unwrap(), (be_u64(m, 2), be_u64(m, 10)));
                open = None;
            }
            // Stream Commit: xid, flags, commit LSN, end LSN, time.
            b'c' => {
                ends.insert(open.unwrap(), (be_u64(m, 6), be_u64(m, 14)));
                open = None;
            }
            b'E' => open = None,
            _ => {}
        }
    }
    owner
        .into_iter()
        .map(|o| {
            let o = o.expect("every record of the capture is inside a transaction");
            ends[&o]
        })
        .collect()
}

/// Where to cut: before every record, except that inside a run of more than 16 row changes (the
/// capture's 1000-row streamed transaction) only its first and last 8 records and every 64th are
/// taken: cuts between two inserts of one run are alike, and each cut costs a decode of the
/// capture in the debug build.
fn cut_points(recs: &[(u64, Vec<u8>)]) -> Vec<usize> {
    let change = |i: usize| {
        recs.get(i)
            .is_some_and(|r| matches!(r.1[0], b'I' | b'U' | b'D'))
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i <= recs.len() {
        let run_end = (i..recs.len()).find(|&j| !change(j)).unwrap_or(recs.len());
        if change(i) && run_end - i > 16 {
            out.extend(
                (i..run_end).filter(|&j| j - i < 8 || run_end - j <= 8 || (j - i) % 64 == 0),
            );
            i = run_end;
        } else {
            out.push(i);
            i += 1;
        }
    }
    out
}

fn feed(d: &mut Decoder, recs: &[(u64, Vec<u8>)]) {
    for (lsn, m) in recs {
        d.feed_message(m, *lsn)
            .unwrap_or_else(|e| panic!("record at {lsn:x}: {e}"));
    }
}

#[test]
fn capture_cut_before_every_record_then_resumed() {
    let recs = capture();
    assert!(recs.len() > 1000, "{} records", recs.len());
    let txn = transaction_of_each_record(&recs);
    let mut whole = Decoder::new();
    feed(&mut whole, &recs);
    let full = Reference::new(&whole.flush().unwrap());
    assert!(full.rows() > 1000, "{} rows", full.rows());
    let cuts = cut_points(&recs);
    assert!(cuts.len() > 150, "{} cuts", cuts.len());
    for cut in cuts {
        let mut d = Decoder::new();
        feed(&mut d, &recs[..cut]);
        let got = d.flush().unwrap();
        // Transactions whose last record (Commit / Stream Commit) is inside the prefix.
        let committed_in_prefix = (0..cut)
            .filter(|&i| matches!(recs[i].1[0], b'C' | b'c'))
            .map(|i| txn[i].0)
            .max()
            .unwrap_or(0);
        full.check(&got, 0, committed_in_prefix)
            .unwrap_or_else(|e| {
                panic!(
                    "cut before record {cut}: the prefix must give every row committed in it: {e}"
                )
            });
        assert_eq!(
            d.committed_lsn(),
            committed_in_prefix,
            "cut before record {cut}"
        );
        // Reconnect: the server sends again every transaction that ends after the position
        // acknowledged, from its first record; relations stay known to the decoder.
        let from = d.confirmable_lsn();
        d.reset_in_flight().unwrap();
        let resent: Vec<(u64, Vec<u8>)> = recs
            .iter()
            .zip(&txn)
            .filter(|(_, t)| t.1 > from)
            .map(|(r, _)| r.clone())
            .collect();
        feed(&mut d, &resent);
        let rest = d.flush().unwrap();
        full.check(&rest, committed_in_prefix, u64::MAX)
            .unwrap_or_else(|e| panic!("cut before record {cut}, resumed after {from:x}: {e}"));
    }
}

/// One decoder flushed after every record (a poll that ends anywhere, also inside a transaction
/// streamed in progress): every flush hands out all rows committed since the previous one, and
/// only those.
#[test]
fn capture_flushed_after_every_record() {
    let recs = capture();
    let mut whole = Decoder::new();
    feed(&mut whole, &recs);
    let full = Reference::new(&whole.flush().unwrap());
    let mut d = Decoder::new();
    let mut before = 0;
    let mut total = 0;
    for (i, rec) in recs.iter().enumerate() {
        feed(&mut d, std::slice::from_ref(rec));
        let got = d.flush().unwrap();
        total += got.iter().map(|b| b.batch.num_rows()).sum::<usize>();
        full.check(&got, before, d.committed_lsn())
            .unwrap_or_else(|e| panic!("after record {i}: not the rows since {before:x}: {e}"));
        before = d.committed_lsn();
    }
    assert_eq!(total, full.rows());
}
