//! Taking held rows out of the decoder (as the PostgreSQL source does to keep streamed and
//! prepared transactions on disk) loses, adds and reorders nothing: a stream with interleaved
//! streamed transactions, subtransaction aborts, a top-level abort, prepared transactions committed
//! and rolled back, and ordinary transactions in between, with the held rows taken out after every
//! message, reassembled as a source does it, equals a whole decode table by table.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch, TimestampMicrosecondArray, UInt64Array};

use crate::arrow::ChangeBatch;
use crate::pgoutput::testutil::{relation, t, W};
use crate::pgoutput::{Decoder, SpillEvent, SpilledCommit};

const REL: u32 = 16384;
const REL2: u32 = 16390;

fn begin(final_lsn: u64, xid: u32) -> Vec<u8> {
    W::new(b'B').u64(final_lsn).i64(1_000_000).u32(xid).0
}

fn commit(lsn: u64) -> Vec<u8> {
    W::new(b'C').u8(0).u64(lsn).u64(lsn + 8).i64(1_000_000).0
}

/// An insert; `xid` is given inside a stream.
fn ins(xid: Option<u32>, relid: u32, id: u32) -> Vec<u8> {
    let mut w = W::new(b'I');
    if let Some(x) = xid {
        w = w.u32(x);
    }
    let id = id.to_string();
    w.u32(relid).u8(b'N').tuple(&[t(&id), t("n")]).0
}

fn start(xid: u32, first: bool) -> Vec<u8> {
    W::new(b'S').u32(xid).u8(u8::from(first)).0
}

fn stop() -> Vec<u8> {
    W::new(b'E').0
}

fn stream_commit(xid: u32, lsn: u64) -> Vec<u8> {
    W::new(b'c')
        .u32(xid)
        .u8(0)
        .u64(lsn)
        .u64(lsn + 8)
        .i64(lsn as i64)
        .0
}

fn stream_abort(xid: u32, subxid: u32) -> Vec<u8> {
    W::new(b'A').u32(xid).u32(subxid).0
}

fn begin_prepare(lsn: u64, xid: u32) -> Vec<u8> {
    W::new(b'b')
        .u64(lsn)
        .u64(lsn + 8)
        .i64(7)
        .u32(xid)
        .str("g")
        .0
}

fn prepare(tag: u8, lsn: u64, xid: u32) -> Vec<u8> {
    W::new(tag)
        .u8(0)
        .u64(lsn)
        .u64(lsn + 8)
        .i64(7)
        .u32(xid)
        .str("g")
        .0
}

fn commit_prepared(lsn: u64, xid: u32) -> Vec<u8> {
    W::new(b'K')
        .u8(0)
        .u64(lsn)
        .u64(lsn + 8)
        .i64(lsn as i64)
        .u32(xid)
        .str("g")
        .0
}

fn rollback_prepared(xid: u32) -> Vec<u8> {
    W::new(b'r')
        .u8(0)
        .u64(0)
        .u64(0)
        .i64(0)
        .i64(0)
        .u32(xid)
        .str("g")
        .0
}

/// Rows ids `from..from+n` of a streamed (sub)transaction.
fn rows(xid: u32, relid: u32, from: u32, n: u32) -> Vec<Vec<u8>> {
    (from..from + n).map(|i| ins(Some(xid), relid, i)).collect()
}

fn workload() -> Vec<Vec<u8>> {
    let mut m = vec![relation(REL, "t", false), relation(REL2, "u", false)];
    // Streams 50 (subtransactions 51, 52) and 70 (subtransaction 71) interleave with ordinary
    // transactions; 51 aborts after some of its rows went out.
    m.push(start(50, true));
    m.extend(rows(50, REL, 1, 3));
    m.extend(rows(51, REL, 10, 4));
    m.extend(rows(50, REL2, 20, 2));
    m.push(stop());
    m.extend([begin(0x90, 60), ins(None, REL, 100), commit(0x90)]);
    m.push(start(70, true));
    m.extend(rows(70, REL, 200, 2));
    m.extend(rows(71, REL2, 210, 3));
    m.push(stop());
    m.push(start(50, false));
    m.extend(rows(51, REL, 14, 2));
    m.extend(rows(52, REL, 30, 3));
    m.extend(rows(50, REL2, 40, 2));
    m.push(stop());
    m.push(stream_abort(50, 51));
    m.push(start(70, false));
    m.extend(rows(70, REL, 220, 2));
    m.push(stop());
    m.push(stream_abort(70, 71));
    m.push(stream_commit(70, 0xA0));
    m.extend([begin(0xB0, 61), ins(None, REL2, 101), commit(0xB0)]);
    m.push(start(50, false));
    m.extend(rows(50, REL, 50, 2));
    m.push(stop());
    m.push(stream_commit(50, 0xC0));
    // A prepared transaction committed after an ordinary one, another rolled back.
    m.push(begin_prepare(0xD0, 80));
    m.extend([
        ins(None, REL, 300),
        ins(None, REL2, 301),
        ins(None, REL, 302),
    ]);
    m.push(prepare(b'P', 0xD0, 80));
    m.extend([begin(0xD8, 62), ins(None, REL, 102), commit(0xD8)]);
    m.push(begin_prepare(0xDC, 81));
    m.extend([ins(None, REL, 310), ins(None, REL, 311)]);
    m.push(prepare(b'P', 0xDC, 81));
    m.push(commit_prepared(0xE0, 80));
    m.push(rollback_prepared(81));
    // A stream aborted whole, and one prepared while streamed.
    m.push(start(90, true));
    m.extend(rows(90, REL, 400, 3));
    m.push(stop());
    m.push(stream_abort(90, 90));
    m.push(start(95, true));
    m.extend(rows(95, REL, 500, 2));
    m.extend(rows(96, REL2, 510, 2));
    m.push(stop());
    m.push(prepare(b'p', 0xF0, 95));
    m.extend([begin(0xF8, 63), ins(None, REL, 103), commit(0xF8)]);
    m.push(commit_prepared(0x100, 95));
    m
}

fn feed(d: &mut Decoder, msgs: &[Vec<u8>]) {
    for (i, m) in msgs.iter().enumerate() {
        d.feed_message(m, 0x1000 + i as u64).unwrap();
    }
}

fn restamp(b: &RecordBatch, c: &SpilledCommit) -> RecordBatch {
    let n = b.num_rows();
    let schema = b.schema();
    let mut cols: Vec<ArrayRef> = b.columns().to_vec();
    cols[schema.index_of("_pos").unwrap()] = Arc::new(UInt64Array::from(vec![c.pos; n]));
    cols[schema.index_of("_commit_ts").unwrap()] =
        Arc::new(TimestampMicrosecondArray::from(vec![c.commit_ts_us; n]).with_timezone("UTC"));
    if let Ok(i) = schema.index_of("_last_commit_lsn") {
        cols[i] = Arc::new(UInt64Array::from(vec![c.last_commit_lsn; n]));
    }
    RecordBatch::try_new(schema, cols).unwrap()
}

/// What a source does with the rows it took out: keeps them per transaction with their
/// subtransaction, drops them on the decoder's word, hands them on at their commit.
#[derive(Default)]
struct Spiller {
    kept: HashMap<u32, Vec<(u32, ChangeBatch)>>,
    aborted: HashMap<u32, HashSet<u32>>,
    /// (xid, commit LSN) of each transaction handed on from here.
    drained: Vec<(u32, u64)>,
}

impl Spiller {
    fn take(&mut self, d: &mut Decoder) {
        for h in d.take_held_rows().unwrap() {
            assert!(h.rows.batch.num_rows() > 0);
            self.kept.entry(h.xid).or_default().push((h.subxid, h.rows));
        }
    }

    /// Flushes until no spilled commit waits, as a poll of the source does.
    fn flush(&mut self, d: &mut Decoder, out: &mut Vec<ChangeBatch>) {
        loop {
            for e in d.take_spill_events() {
                match e {
                    SpillEvent::SubAbort { xid, subxid } => {
                        self.aborted.entry(xid).or_default().insert(subxid);
                    }
                    SpillEvent::Discard { xid } => {
                        self.kept.remove(&xid);
                        self.aborted.remove(&xid);
                    }
                }
            }
            let before = d.committed_lsn();
            out.extend(d.flush().unwrap());
            assert!(d.committed_lsn() >= before);
            let confirmable = d.confirmable_lsn();
            let Some(c) = d.take_spilled_commit() else {
                return;
            };
            // Nothing is confirmed past a commit whose rows are not handed on yet.
            assert!(d.committed_lsn() < c.pos, "{c:?}");
            assert!(confirmable < c.pos, "{c:?}");
            let aborted = self.aborted.remove(&c.xid).unwrap_or_default();
            for (sub, rows) in self.kept.remove(&c.xid).unwrap_or_default() {
                if !aborted.contains(&sub) {
                    out.push(ChangeBatch {
                        batch: restamp(&rows.batch, &c),
                        ..rows
                    });
                }
            }
            self.drained.push((c.xid, c.pos));
        }
    }
}

/// Rows per table and schema version, concatenated in order.
fn by_table(batches: &[ChangeBatch]) -> BTreeMap<(String, u32), RecordBatch> {
    let mut parts: BTreeMap<(String, u32), Vec<RecordBatch>> = BTreeMap::new();
    for b in batches {
        parts
            .entry((b.table.clone(), b.schema_version))
            .or_default()
            .push(b.batch.clone());
    }
    parts
        .into_iter()
        .map(|(k, v)| {
            let schema = v[0].schema();
            (
                k,
                arrow_select::concat::concat_batches(&schema, &v).unwrap(),
            )
        })
        .collect()
}

fn ids(b: &RecordBatch) -> Vec<i32> {
    b.column_by_name("id")
        .unwrap()
        .as_primitive::<Int32Type>()
        .values()
        .to_vec()
}

#[test]
fn held_rows_taken_after_every_message_reassemble_to_a_whole_decode() {
    // With each change's own LSN and the commit before it too (a Kafka sink's decoder).
    for row_lsn in [false, true] {
        reassemble_to_a_whole_decode(row_lsn);
    }
}

fn reassemble_to_a_whole_decode(row_lsn: bool) {
    let msgs = workload();
    let mut whole = Decoder::new();
    whole.set_row_lsn(row_lsn);
    feed(&mut whole, &msgs);
    let full = by_table(&whole.flush().unwrap());
    let t = &full[&("public.t".to_string(), 1)];
    // 51 and 71 aborted, 81 rolled back, 90 aborted whole.
    assert_eq!(
        ids(t),
        vec![100, 200, 201, 220, 221, 1, 2, 3, 30, 31, 32, 50, 51, 102, 300, 302, 103, 500, 501]
    );
    // Rows taken out after every message, every second one, ...: some rows of a transaction on
    // the side, some still in the decoder at its commit. Flushed after every message, or seldom.
    for take_every in 1..=6 {
        for flush_every in [1, 4] {
            let what = format!("taken every {take_every}, flushed every {flush_every}");
            let mut d = Decoder::new();
            d.set_row_lsn(row_lsn);
            let mut sp = Spiller::default();
            let mut out = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                d.feed_message(m, 0x1000 + i as u64).unwrap();
                if i % take_every == 0 {
                    sp.take(&mut d);
                }
                if i % flush_every == 0 {
                    sp.flush(&mut d, &mut out);
                }
            }
            sp.flush(&mut d, &mut out);
            assert!(d.is_idle(), "{what}");
            assert!(sp.kept.is_empty(), "{what}: rows left behind");
            if take_every == 1 {
                assert_eq!(
                    sp.drained,
                    vec![(70, 0xA0), (50, 0xC0), (80, 0xE0), (95, 0x100)],
                    "{what}"
                );
            }
            assert_eq!(by_table(&out), full, "{what}");
            assert_eq!(d.committed_lsn(), whole.committed_lsn(), "{what}");
            assert_eq!(d.confirmable_lsn(), whole.confirmable_lsn(), "{what}");
        }
    }
}

#[test]
fn a_lost_connection_discards_what_was_taken_out() {
    let mut d = Decoder::new();
    feed(&mut d, &[relation(REL, "t", false), start(50, true)]);
    feed(&mut d, &rows(50, REL, 1, 3));
    feed(&mut d, &[stop()]);
    assert!(d.held_bytes() > 0);
    let taken = d.take_held_rows().unwrap();
    assert_eq!(d.held_bytes(), 0);
    assert_eq!(
        taken.iter().map(|h| (h.xid, h.subxid)).collect::<Vec<_>>(),
        vec![(50, 50)]
    );
    assert_eq!(ids(&taken[0].rows.batch), vec![1, 2, 3]);
    assert_eq!(d.held_rows(), 0);
    assert!(!d.is_idle());
    d.reset_in_flight().unwrap();
    assert_eq!(d.take_spill_events(), vec![SpillEvent::Discard { xid: 50 }]);
    assert!(d.take_spill_events().is_empty());
    // Sent again from its start, and committed without a take: the decoder's rows only.
    feed(&mut d, &[start(50, true)]);
    feed(&mut d, &rows(50, REL, 1, 3));
    feed(&mut d, &[stop(), stream_commit(50, 0xA0)]);
    assert_eq!(d.take_spilled_commit(), None);
    let out = d.flush().unwrap();
    assert_eq!(ids(&out[0].batch), vec![1, 2, 3]);
    assert_eq!(d.committed_lsn(), 0xA0);
}

#[test]
fn a_spilled_commit_holds_back_what_committed_after_it() {
    let mut d = Decoder::new();
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            begin(0x80, 40),
            ins(None, REL, 7),
            commit(0x80),
        ],
    );
    feed(
        &mut d,
        &[
            start(50, true),
            ins(Some(50), REL, 1),
            ins(Some(51), REL, 2),
            stop(),
        ],
    );
    assert_eq!(d.take_held_rows().unwrap().len(), 2);
    feed(&mut d, &[start(50, false), ins(Some(50), REL, 3), stop()]);
    feed(&mut d, &[stream_abort(50, 51), stream_commit(50, 0xA0)]);
    feed(&mut d, &[begin(0xB0, 60), ins(None, REL, 9), commit(0xB0)]);
    assert_eq!(
        d.take_spill_events(),
        vec![SpillEvent::SubAbort {
            xid: 50,
            subxid: 51
        }]
    );
    let first = d.flush().unwrap();
    assert_eq!(ids(&first[0].batch), vec![7]);
    assert_eq!(d.committed_lsn(), 0x80);
    assert_eq!(d.confirmable_lsn(), 0x88);
    // Flushing again before the spilled commit was taken gives nothing more.
    assert!(d.flush().unwrap().is_empty());
    let c = d.take_spilled_commit().unwrap();
    assert_eq!((c.xid, c.pos), (50, 0xA0));
    assert_eq!(d.take_spilled_commit(), None);
    let rest = d.flush().unwrap();
    let got: Vec<i32> = rest.iter().flat_map(|b| ids(&b.batch)).collect();
    // The row of 50 decoded after the take, stamped, then the later transaction.
    assert_eq!(got, vec![3, 9]);
    assert_eq!(
        rest[0]
            .batch
            .column_by_name("_pos")
            .unwrap()
            .as_primitive::<arrow_array::types::UInt64Type>()
            .value(0),
        0xA0
    );
    assert_eq!(d.committed_lsn(), 0xB0);
    assert!(d.is_idle());
}
