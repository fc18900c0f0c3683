//! Decoder state machine tests with hand-built messages: transactions, old images, unchanged
//! TOAST, truncate, logical messages, schema versions, streaming with subtransaction aborts,
//! two-phase commit, framing and capture files.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMicrosecondType, UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};

use super::Decoder;
use crate::arrow::ChangeBatch;
use crate::pgoutput::framing::write_capture_record;
use crate::pgoutput::testutil::{relation, t, U, W};
use crate::types::postgres::datetime::PG_EPOCH_US;

const REL: u32 = 16384;
const REL2: u32 = 16390;

fn begin(final_lsn: u64, xid: u32) -> Vec<u8> {
    W::new(b'B').u64(final_lsn).i64(1_000_000).u32(xid).0
}

fn commit(lsn: u64) -> Vec<u8> {
    W::new(b'C').u8(0).u64(lsn).u64(lsn + 8).i64(1_000_000).0
}

fn insert(relid: u32, id: &str, note: Option<&str>) -> Vec<u8> {
    W::new(b'I')
        .u32(relid)
        .u8(b'N')
        .tuple(&[t(id), note.map(str::as_bytes)])
        .0
}

fn feed(d: &mut Decoder, msgs: &[Vec<u8>]) {
    for (i, m) in msgs.iter().enumerate() {
        d.feed_message(m, 0x100 + i as u64).unwrap();
    }
}

fn ints(b: &RecordBatch, col: &str) -> Vec<Option<i32>> {
    b.column_by_name(col)
        .unwrap()
        .as_primitive::<Int32Type>()
        .iter()
        .collect()
}

fn strs(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    b.column_by_name(col)
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(String::from))
        .collect()
}

fn u64s(b: &RecordBatch, col: &str) -> Vec<u64> {
    b.column_by_name(col)
        .unwrap()
        .as_primitive::<UInt64Type>()
        .values()
        .to_vec()
}

fn only(batches: Vec<ChangeBatch>) -> RecordBatch {
    assert_eq!(batches.len(), 1, "{batches:?}");
    batches.into_iter().next().unwrap().batch
}

#[test]
fn ordinary_transaction_rows_and_metadata() {
    let mut d = Decoder::new();
    let upd = W::new(b'U').u32(REL).u8(b'N').tuple(&[t("1"), t("b")]).0;
    let del = W::new(b'D').u32(REL).u8(b'K').tuple(&[t("2"), None]).0;
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            begin(0x500, 9),
            insert(REL, "1", Some("a")),
            insert(REL, "2", None),
            upd,
            del,
            commit(0x500),
        ],
    );
    assert_eq!(d.committed_lsn(), 0);
    let out = d.flush().unwrap();
    assert_eq!(out[0].table, "public.t");
    assert_eq!(out[0].schema_version, 1);
    let b = only(out);
    assert_eq!(ints(&b, "id"), vec![Some(1), Some(2), Some(1), Some(2)]);
    assert_eq!(
        strs(&b, "note"),
        vec![Some("a".into()), None, Some("b".into()), None]
    );
    assert_eq!(
        strs(&b, "_op"),
        vec![
            Some("c".into()),
            Some("c".into()),
            Some("u".into()),
            Some("d".into())
        ]
    );
    assert_eq!(u64s(&b, "_pos"), vec![0x500; 4]);
    assert_eq!(u64s(&b, "_xid"), vec![9; 4]);
    let seq: Vec<u32> = b
        .column_by_name("_seq")
        .unwrap()
        .as_primitive::<UInt32Type>()
        .values()
        .to_vec();
    assert_eq!(seq, vec![0, 1, 2, 3]);
    let ts = b
        .column_by_name("_commit_ts")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(0), PG_EPOCH_US + 1_000_000);
    // The delete's K image is in `_before`; the inserts have none.
    let before = b.column_by_name("_before").unwrap().as_struct();
    assert!(before.is_null(0) && before.is_valid(3));
    assert_eq!(before.column(0).as_primitive::<Int32Type>().value(3), 2);
    assert_eq!(b.schema().metadata()["arrowtail.primary_key"], "id");
    assert_eq!(b.schema().metadata()["arrowtail.replica_identity"], "d");
    assert_eq!(d.committed_lsn(), 0x500);
    assert_eq!(d.confirmable_lsn(), 0x508);
    assert!(d.flush().unwrap().is_empty());
}

#[test]
fn unchanged_toast_is_filled_from_old_image_or_listed() {
    let mut d = Decoder::new();
    let no_old = W::new(b'U').u32(REL).u8(b'N').tuple(&[t("1"), U]).0;
    let full_old = W::new(b'U')
        .u32(REL)
        .u8(b'O')
        .tuple(&[t("1"), t("big")])
        .u8(b'N')
        .tuple(&[t("1"), U])
        .0;
    let key_old = W::new(b'U')
        .u32(REL)
        .u8(b'K')
        .tuple(&[t("1"), None])
        .u8(b'N')
        .tuple(&[t("5"), U])
        .0;
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            begin(0x10, 1),
            no_old,
            full_old,
            key_old,
            commit(0x10),
        ],
    );
    let b = only(d.flush().unwrap());
    assert_eq!(strs(&b, "note"), vec![None, Some("big".into()), None]);
    let unchanged = b.column_by_name("_unchanged").unwrap().as_list::<i32>();
    assert_eq!(unchanged.value(0).as_string::<i32>().value(0), "note");
    assert!(unchanged.is_null(1));
    assert_eq!(unchanged.value(2).as_string::<i32>().value(0), "note");
    let before = b.column_by_name("_before").unwrap().as_struct();
    assert!(before.is_null(0));
    assert_eq!(before.column(1).as_string::<i32>().value(1), "big");
}

#[test]
fn truncate_and_logical_messages() {
    let mut d = Decoder::new();
    let tr = W::new(b'T').u32(2).u8(0).u32(REL).u32(REL2).0;
    let tx_msg = W::new(b'M')
        .u8(1)
        .u64(0x21)
        .str("app")
        .u32(2)
        .bytes(b"hi")
        .0;
    let lone = W::new(b'M').u8(0).u64(0x40).str("beat").u32(0).0;
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            relation(REL2, "u", false),
            begin(0x30, 3),
            insert(REL, "1", None),
            tr,
            tx_msg,
            commit(0x30),
            lone,
        ],
    );
    let out = d.flush().unwrap();
    let find = |name: &str| out.iter().find(|c| c.table == name).unwrap().batch.clone();
    let t1 = find("public.t");
    assert_eq!(strs(&t1, "_op"), vec![Some("c".into()), Some("t".into())]);
    assert_eq!(ints(&t1, "id"), vec![Some(1), None]);
    let t2 = find("public.u");
    assert_eq!(strs(&t2, "_op"), vec![Some("t".into())]);
    let m = find("_messages");
    assert_eq!(
        strs(&m, "prefix"),
        vec![Some("app".into()), Some("beat".into())]
    );
    assert_eq!(u64s(&m, "_pos"), vec![0x30, 0x40]);
    assert_eq!(u64s(&m, "lsn"), vec![0x21, 0x40]);
    let seqs: Vec<u32> = t2
        .column_by_name("_seq")
        .unwrap()
        .as_primitive::<UInt32Type>()
        .values()
        .to_vec();
    assert_eq!(seqs, vec![2]);
}

#[test]
fn new_relation_shape_starts_a_new_schema_version() {
    let mut d = Decoder::new();
    let ins3 = W::new(b'I')
        .u32(REL)
        .u8(b'N')
        .tuple(&[t("2"), None, t("7")])
        .0;
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            begin(0x10, 1),
            insert(REL, "1", None),
            commit(0x10),
            relation(REL, "t", false), // same shape again: same version
            relation(REL, "t", true),
            begin(0x20, 2),
            ins3,
            commit(0x20),
        ],
    );
    let out = d.flush().unwrap();
    let versions: Vec<(u32, usize)> = out
        .iter()
        .map(|c| (c.schema_version, c.batch.num_columns()))
        .collect();
    assert_eq!(versions, vec![(1, 9), (2, 10)]);
    assert_eq!(
        out[1].batch.schema().metadata()["arrowtail.schema_version"],
        "2"
    );
}

#[test]
fn streamed_transaction_with_subtransaction_abort() {
    let mut d = Decoder::new();
    let ins = |xid: u32, id: &str| {
        W::new(b'I')
            .u32(xid)
            .u32(REL)
            .u8(b'N')
            .tuple(&[t(id), None])
            .0
    };
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            W::new(b'S').u32(50).u8(1).0,
            ins(50, "1"),
            ins(51, "2"),
            W::new(b'E').0,
            begin(0x90, 60),
            insert(REL, "100", None),
            commit(0x90),
            W::new(b'S').u32(50).u8(0).0,
            ins(51, "3"),
            ins(52, "4"),
            ins(50, "5"),
            W::new(b'E').0,
            W::new(b'A').u32(50).u32(51).0,
        ],
    );
    assert_eq!(d.held_rows(), 3);
    assert_eq!(d.stats().aborted_rows, 2);
    let first = only(d.flush().unwrap());
    assert_eq!(ints(&first, "id"), vec![Some(100)]);
    feed(
        &mut d,
        &[W::new(b'c').u32(50).u8(0).u64(0xA0).u64(0xA8).i64(5).0],
    );
    assert!(d.is_idle());
    let b = only(d.flush().unwrap());
    assert_eq!(ints(&b, "id"), vec![Some(1), Some(4), Some(5)]);
    assert_eq!(u64s(&b, "_pos"), vec![0xA0; 3]);
    assert_eq!(u64s(&b, "_xid"), vec![50; 3]);
    let ts = b
        .column_by_name("_commit_ts")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(2), PG_EPOCH_US + 5);
    let seq: Vec<u32> = b
        .column_by_name("_seq")
        .unwrap()
        .as_primitive::<UInt32Type>()
        .values()
        .to_vec();
    assert_eq!(seq, vec![0, 3, 4]);
    assert_eq!(d.committed_lsn(), 0xA0);
    // A whole-transaction abort drops everything.
    feed(
        &mut d,
        &[
            W::new(b'S').u32(70).u8(1).0,
            ins(70, "9"),
            W::new(b'E').0,
            W::new(b'A').u32(70).u32(70).u64(1).i64(2).0,
        ],
    );
    assert!(d.flush().unwrap().is_empty());
    assert!(d.is_idle());
}

#[test]
fn two_phase_commit_and_rollback() {
    let mut d = Decoder::new();
    let bp = |xid: u32, gid: &str| {
        W::new(b'b')
            .u64(0x200)
            .u64(0x208)
            .i64(0)
            .u32(xid)
            .str(gid)
            .0
    };
    let prep = |xid: u32, gid: &str| {
        W::new(b'P')
            .u8(0)
            .u64(0x200)
            .u64(0x208)
            .i64(0)
            .u32(xid)
            .str(gid)
            .0
    };
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            bp(7, "g1"),
            insert(REL, "1", None),
            prep(7, "g1"),
        ],
    );
    assert!(d.flush().unwrap().is_empty());
    assert_eq!(d.confirmable_lsn(), 0);
    feed(
        &mut d,
        &[W::new(b'K')
            .u8(0)
            .u64(0x300)
            .u64(0x308)
            .i64(0)
            .u32(7)
            .str("g1")
            .0],
    );
    let b = only(d.flush().unwrap());
    assert_eq!(u64s(&b, "_pos"), vec![0x300]);
    assert_eq!(d.confirmable_lsn(), 0x308);
    feed(
        &mut d,
        &[
            bp(8, "g2"),
            insert(REL, "2", None),
            prep(8, "g2"),
            W::new(b'r')
                .u8(0)
                .u64(0x208)
                .u64(0x400)
                .i64(0)
                .i64(0)
                .u32(8)
                .str("g2")
                .0,
        ],
    );
    assert!(d.flush().unwrap().is_empty());
    assert!(d.is_idle());
}

#[test]
fn flush_keeps_the_open_transaction_back() {
    let mut d = Decoder::new();
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            begin(0x10, 1),
            insert(REL, "1", None),
            commit(0x10),
            begin(0x20, 2),
            insert(REL, "2", None),
        ],
    );
    let b = only(d.flush().unwrap());
    assert_eq!(ints(&b, "id"), vec![Some(1)]);
    assert_eq!(d.committed_lsn(), 0x10);
    feed(&mut d, &[insert(REL, "3", None), commit(0x20)]);
    let out = d.flush().unwrap();
    let ids: Vec<Option<i32>> = out.iter().flat_map(|c| ints(&c.batch, "id")).collect();
    assert_eq!(ids, vec![Some(2), Some(3)]);
    // A transaction sent again after a reconnect replaces its partial copy.
    feed(
        &mut d,
        &[
            begin(0x30, 3),
            insert(REL, "4", None),
            begin(0x30, 3),
            insert(REL, "4", None),
            commit(0x30),
        ],
    );
    assert_eq!(ints(&only(d.flush().unwrap()), "id"), vec![Some(4)]);
}

#[test]
fn binary_and_text_tuples_give_the_same_batch() {
    let run = |id: Vec<u8>, note: Vec<u8>| {
        let mut d = Decoder::new();
        let ins = W::new(b'I')
            .u32(REL)
            .u8(b'N')
            .tuple(&[Some(&id), Some(&note)])
            .0;
        feed(
            &mut d,
            &[relation(REL, "t", false), begin(0x10, 1), ins, commit(0x10)],
        );
        only(d.flush().unwrap())
    };
    let mut bin_id = b"b:".to_vec();
    bin_id.extend(42i32.to_be_bytes());
    assert_eq!(
        run(b"42".to_vec(), b"x".to_vec()),
        run(bin_id, b"b:x".to_vec())
    );
}

/// A decoder inside transaction 0x10 (xid 1) of table `t`, with its first row (id 1) decoded.
fn one_row_open() -> Decoder {
    let mut d = Decoder::new();
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            begin(0x10, 1),
            insert(REL, "1", Some("a")),
        ],
    );
    d
}

#[test]
fn bad_value_is_an_error_and_leaves_no_partial_row() {
    let mut d = one_row_open();
    let bad = W::new(b'I')
        .u32(REL)
        .u8(b'N')
        .tuple(&[t("2"), Some(b"\xff")])
        .0;
    let e = d.feed_message(&bad, 0x1234).unwrap_err();
    assert!(e.to_string().contains("LSN 0/1234"), "{e}");
    assert!(e.to_string().contains("public.t.note"), "{e}");
    feed(&mut d, &[insert(REL, "3", None), commit(0x10)]);
    let out = d.flush().unwrap();
    let ids: Vec<Option<i32>> = out.iter().flat_map(|c| ints(&c.batch, "id")).collect();
    assert_eq!(ids, vec![Some(1), Some(3)]);
    // Unknown relation, change outside a transaction, wrong column count.
    assert!(d.feed_message(&insert(999, "1", None), 0).is_err());
    assert!(d.feed_message(&insert(REL, "1", None), 0).is_err());
    d.feed_message(&begin(0x50, 5), 0).unwrap();
    let short = W::new(b'I').u32(REL).u8(b'N').tuple(&[t("1")]).0;
    assert!(d.feed_message(&short, 0).is_err());
}

#[test]
fn frames_keepalives_and_capture_files() {
    let mut d = Decoder::new();
    let frame = |lsn: u64, payload: &[u8]| {
        let mut f = vec![b'w'];
        f.extend(lsn.to_be_bytes());
        f.extend(0x999u64.to_be_bytes());
        f.extend(0i64.to_be_bytes());
        f.extend(payload);
        f
    };
    for (i, m) in [
        relation(REL, "t", false),
        begin(0x10, 1),
        insert(REL, "1", None),
        commit(0x10),
    ]
    .iter()
    .enumerate()
    {
        d.feed_frame(&frame(i as u64, m)).unwrap();
    }
    let mut k = vec![b'k'];
    k.extend(0x2000u64.to_be_bytes());
    k.extend(0i64.to_be_bytes());
    k.push(1);
    d.feed_frame(&k).unwrap();
    assert_eq!(d.last_wal_end(), 0x2000);
    assert!(d.take_reply_requested());
    assert!(!d.reply_requested());
    assert_eq!(only(d.flush().unwrap()).num_rows(), 1);

    let mut file = Vec::new();
    for m in [
        relation(REL, "t", false),
        begin(0x10, 1),
        insert(REL, "7", None),
        commit(0x10),
    ] {
        write_capture_record(&mut file, 0x10, &m).unwrap();
    }
    let mut d = Decoder::new();
    d.feed_capture(&file).unwrap();
    assert_eq!(ints(&only(d.flush().unwrap()), "id"), vec![Some(7)]);
    assert!(Decoder::new()
        .feed_capture(&file[..file.len() - 2])
        .is_err());
}

#[test]
fn domains_resolve_through_type_messages() {
    let mut d = Decoder::new();
    // pgoutput names a domain's base type; pg_catalog is written as an empty namespace.
    let ty = W::new(b'Y').u32(90_000).str("").str("int4").0;
    let enum_ty = W::new(b'Y').u32(90_001).str("public").str("mood").0;
    let rel = W::new(b'R')
        .u32(REL)
        .str("public")
        .str("d")
        .u8(b'd')
        .u16(2)
        .u8(1)
        .str("id")
        .u32(90_000)
        .i32(-1)
        .u8(0)
        .str("m")
        .u32(90_001)
        .i32(-1)
        .0;
    let mut id = b"b:".to_vec();
    id.extend(5i32.to_be_bytes());
    let ins = W::new(b'I')
        .u32(REL)
        .u8(b'N')
        .tuple(&[Some(&id), Some(b"b:happy")])
        .0;
    feed(
        &mut d,
        &[ty, enum_ty, rel, begin(0x10, 1), ins, commit(0x10)],
    );
    let b = only(d.flush().unwrap());
    assert_eq!(ints(&b, "id"), vec![Some(5)]);
    assert_eq!(strs(&b, "m"), vec![Some("happy".into())]);
}

#[test]
fn streamed_then_prepared_transaction_waits_for_commit_prepared() {
    let mut d = Decoder::new();
    let ins = W::new(b'I')
        .u32(80)
        .u32(REL)
        .u8(b'N')
        .tuple(&[t("8"), None])
        .0;
    let sp = W::new(b'p')
        .u8(0)
        .u64(0x600)
        .u64(0x608)
        .i64(0)
        .u32(80)
        .str("g")
        .0;
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            W::new(b'S').u32(80).u8(1).0,
            ins,
            W::new(b'E').0,
            sp,
        ],
    );
    assert!(d.flush().unwrap().is_empty());
    assert_eq!(d.held_rows(), 1);
    // An ordinary transaction committed meanwhile may be confirmed, but not past the prepare.
    feed(
        &mut d,
        &[begin(0x700, 81), insert(REL, "9", None), commit(0x700)],
    );
    assert_eq!(ints(&only(d.flush().unwrap()), "id"), vec![Some(9)]);
    assert_eq!(d.confirmable_lsn(), 0x600);
    feed(
        &mut d,
        &[W::new(b'K')
            .u8(0)
            .u64(0x800)
            .u64(0x808)
            .i64(0)
            .u32(80)
            .str("g")
            .0],
    );
    let b = only(d.flush().unwrap());
    assert_eq!(ints(&b, "id"), vec![Some(8)]);
    assert_eq!(u64s(&b, "_pos"), vec![0x800]);
    assert_eq!(d.confirmable_lsn(), 0x808);
    assert!(d.is_idle());
}

mod malformed_input {
    //! Malformed input never panics: every truncation and many deterministic byte mutations of a
    //! realistic message sequence (text and binary values of many types, streaming, two-phase)
    //! are fed to fresh decoders; each call must return `Ok` or an error value.

    use crate::pgoutput::testutil::{t, W};
    use crate::pgoutput::Decoder;
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
}

fn u32s(b: &RecordBatch, col: &str) -> Vec<u32> {
    b.column_by_name(col)
        .unwrap()
        .as_primitive::<UInt32Type>()
        .values()
        .to_vec()
}

fn rows_of(out: Vec<ChangeBatch>) -> Vec<(i32, u64, u32)> {
    let mut v = Vec::new();
    for cb in out {
        let ids = ints(&cb.batch, "id");
        let pos = u64s(&cb.batch, "_pos");
        let seq = u32s(&cb.batch, "_seq");
        for i in 0..ids.len() {
            v.push((ids[i].unwrap(), pos[i], seq[i]));
        }
    }
    v
}

#[test]
fn open_transaction_past_the_budget_is_handed_on_before_its_commit() {
    let mut d = Decoder::new();
    d.set_memory_budget(1);
    feed(&mut d, &[relation(REL, "t", false), begin(0x900, 5)]);
    feed(
        &mut d,
        &[insert(REL, "1", Some("a")), insert(REL, "2", Some("b"))],
    );
    let first = rows_of(d.flush().unwrap());
    assert_eq!(first, vec![(1, 0x900, 0), (2, 0x900, 1)]);
    // Nothing is committed yet: no position moves.
    assert_eq!(d.committed_lsn(), 0);
    assert!(!d.is_idle());
    assert!(d.handed_early());
    feed(&mut d, &[insert(REL, "3", Some("c")), commit(0x900)]);
    assert_eq!(rows_of(d.flush().unwrap()), vec![(3, 0x900, 2)]);
    assert_eq!(d.committed_lsn(), 0x900);
    assert!(!d.handed_early());
}

#[test]
fn within_the_budget_an_open_transaction_stays_until_its_commit() {
    let mut d = Decoder::new();
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            begin(0x900, 5),
            insert(REL, "1", Some("a")),
        ],
    );
    assert!(d.flush().unwrap().is_empty());
    feed(&mut d, &[commit(0x900)]);
    assert_eq!(rows_of(d.flush().unwrap()), vec![(1, 0x900, 0)]);
}

#[test]
fn a_transaction_sent_again_skips_the_rows_handed_on_already() {
    let mut d = Decoder::new();
    d.set_memory_budget(1);
    // A committed transaction first, then one cut off after two of its rows were handed on and
    // a third was decoded but not handed on.
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            begin(0x800, 4),
            insert(REL, "10", None),
            commit(0x800),
            begin(0x900, 5),
            insert(REL, "1", None),
            insert(REL, "2", None),
        ],
    );
    assert_eq!(
        rows_of(d.flush().unwrap()),
        vec![(10, 0x800, 0), (1, 0x900, 0), (2, 0x900, 1)]
    );
    feed(&mut d, &[insert(REL, "3", None)]);
    d.reset_in_flight().unwrap();
    assert!(d.flush().unwrap().is_empty());
    // The server sends the transaction again from its start.
    d.set_memory_budget(usize::MAX);
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            begin(0x900, 5),
            insert(REL, "1", None),
            insert(REL, "2", None),
            insert(REL, "3", None),
            insert(REL, "4", None),
            commit(0x900),
            begin(0xA00, 6),
            insert(REL, "5", None),
            commit(0xA00),
        ],
    );
    assert_eq!(
        rows_of(d.flush().unwrap()),
        vec![(3, 0x900, 2), (4, 0x900, 3), (5, 0xA00, 0)]
    );
    assert_eq!(d.committed_lsn(), 0xA00);
}

/// A decoder whose open transaction 0x900 (xid 5) handed on its first row (id 1) before its
/// commit, the memory budget being one byte.
fn one_row_handed_on() -> Decoder {
    let mut d = Decoder::new();
    d.set_memory_budget(1);
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            begin(0x900, 5),
            insert(REL, "1", None),
        ],
    );
    assert_eq!(rows_of(d.flush().unwrap()), vec![(1, 0x900, 0)]);
    d
}

#[test]
fn a_begin_while_open_skips_what_was_handed_on_too() {
    let mut d = one_row_handed_on();
    feed(
        &mut d,
        &[
            begin(0x900, 5),
            insert(REL, "1", None),
            insert(REL, "2", None),
            commit(0x900),
        ],
    );
    assert_eq!(rows_of(d.flush().unwrap()), vec![(2, 0x900, 1)]);
}

/// Every way a new tuple can be malformed: cut anywhere, a byte too many, an unknown value kind,
/// a negative length. `body` is the message with a tuple of the relation's two columns.
fn malformed_variants(body: &[u8], tuple_at: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = (tuple_at..body.len()).map(|n| body[..n].to_vec()).collect();
    out.push([body, b"x"].concat());
    let mut kind = body.to_vec();
    kind[tuple_at + 2] = b'q';
    out.push(kind);
    let mut neg = body.to_vec();
    neg[tuple_at + 3..tuple_at + 7].copy_from_slice(&(-5i32).to_be_bytes());
    out.push(neg);
    out
}

#[test]
fn a_malformed_new_tuple_gives_the_parse_error_and_leaves_no_partial_row() {
    let ins = insert(REL, "7", Some("seven"));
    let upd = W::new(b'U')
        .u32(REL)
        .u8(b'N')
        .tuple(&[t("7"), Some(b"eight")])
        .0;
    let upd_old = W::new(b'U')
        .u32(REL)
        .u8(b'O')
        .tuple(&[t("7"), Some(b"seven")])
        .u8(b'N')
        .tuple(&[t("7"), Some(b"eight")])
        .0;
    // Where the new tuple's column count starts: after the tag, relation id and `N`.
    let old_len = upd_old.len() - upd.len();
    let cases = [(ins, 6), (upd.clone(), 6), (upd_old, 6 + old_len)];
    let mut tried = 0;
    for (body, tuple_at) in cases {
        for bad in malformed_variants(&body, tuple_at) {
            let mut d = one_row_open();
            let strict = crate::pgoutput::parse(&bad, false, 0x77).unwrap_err();
            let got = d.feed_message(&bad, 0x77).unwrap_err();
            assert_eq!(got.to_string(), strict.to_string(), "{bad:?}");
            feed(&mut d, &[insert(REL, "3", None), commit(0x10)]);
            let ids: Vec<Option<i32>> = d
                .flush()
                .unwrap()
                .iter()
                .flat_map(|c| ints(&c.batch, "id"))
                .collect();
            assert_eq!(ids, vec![Some(1), Some(3)], "{bad:?}");
            tried += 1;
        }
    }
    assert!(tried > 60, "{tried}");
}

#[test]
fn a_malformed_new_tuple_among_rows_skipped_on_a_resend_is_an_error() {
    let mut d = one_row_handed_on();
    d.reset_in_flight().unwrap();
    feed(&mut d, &[relation(REL, "t", false), begin(0x900, 5)]);
    // The row handed on already comes again, cut: it is skipped, and still an error.
    let bad = insert(REL, "1", None);
    let bad = &bad[..bad.len() - 1];
    let strict = crate::pgoutput::parse(bad, false, 0x78).unwrap_err();
    let got = d.feed_message(bad, 0x78).unwrap_err();
    assert_eq!(got.to_string(), strict.to_string());
}

#[test]
fn another_relation_id_under_a_known_name_is_a_replaced_table() {
    let mut d = Decoder::new();
    d.expect_relation("public.e", 500);
    feed(
        &mut d,
        &[
            relation(REL, "t", false),
            relation(REL, "t", true), // the same table altered: not replaced
            relation(REL2, "u", false),
            relation(501, "e", false), // not the id the caller expected
        ],
    );
    assert_eq!(d.take_replaced(), vec!["public.e".to_string()]);
    feed(
        &mut d,
        &[
            relation(REL2, "t", false), // another table under the name t, twice
            relation(REL2, "t", false),
            relation(REL, "u", false), // and one renamed to u
            begin(0x10, 1),
            insert(REL2, "1", Some("a")),
            commit(0x10),
        ],
    );
    assert_eq!(
        d.take_replaced(),
        vec!["public.t".to_string(), "public.u".to_string()]
    );
    assert!(d.take_replaced().is_empty());
    let out = only(d.flush().unwrap());
    assert_eq!(ints(&out, "id"), vec![Some(1)]);
}

#[test]
fn a_table_replaced_in_an_open_transaction_counts_from_its_commit() {
    // In a stream, a Relation message carries the transaction's xid after its tag.
    let streamed = |xid: u32, relid: u32| {
        let mut m = relation(relid, "t", false);
        m.splice(1..1, xid.to_be_bytes());
        m
    };
    let mut d = Decoder::new();
    d.expect_relation("public.t", REL);
    // Streamed in progress, then committed: reported at the Stream Commit only.
    feed(
        &mut d,
        &[
            W::new(b'S').u32(50).u8(1).0,
            streamed(50, REL2),
            W::new(b'E').0,
        ],
    );
    assert!(d.take_replaced().is_empty());
    feed(
        &mut d,
        &[W::new(b'c').u32(50).u8(0).u64(0xA0).u64(0xA8).i64(5).0],
    );
    assert_eq!(d.take_replaced(), vec!["public.t".to_string()]);
    // Streamed, and the caller read the new id in the catalog before the commit came: no news.
    feed(
        &mut d,
        &[
            W::new(b'S').u32(55).u8(1).0,
            streamed(55, 550),
            W::new(b'E').0,
        ],
    );
    d.expect_relation("public.t", 550);
    feed(
        &mut d,
        &[W::new(b'c').u32(55).u8(0).u64(0xB0).u64(0xB8).i64(5).0],
    );
    assert!(d.take_replaced().is_empty());
    d.expect_relation("public.t", REL2);
    // Streamed, then aborted: no replacement, and the name keeps the id it had.
    feed(
        &mut d,
        &[
            W::new(b'S').u32(60).u8(1).0,
            streamed(60, 600),
            W::new(b'E').0,
            W::new(b'A').u32(60).u32(60).0,
            relation(REL2, "t", false),
        ],
    );
    assert!(d.take_replaced().is_empty());
    // Prepared, then rolled back; prepared again, cut off by a restart, and sent again
    // before its Commit Prepared.
    let begin_prepare = |xid: u32| {
        W::new(b'b')
            .u64(0x100)
            .u64(0x108)
            .i64(0)
            .u32(xid)
            .str("g")
            .0
    };
    let prepare = |xid: u32| {
        W::new(b'P')
            .u8(0)
            .u64(0x100)
            .u64(0x108)
            .i64(0)
            .u32(xid)
            .str("g")
            .0
    };
    feed(
        &mut d,
        &[
            begin_prepare(70),
            relation(700, "t", false),
            prepare(70),
            W::new(b'r')
                .u8(0)
                .u64(0x108)
                .u64(0x110)
                .i64(0)
                .i64(0)
                .u32(70)
                .str("g")
                .0,
        ],
    );
    assert!(d.take_replaced().is_empty());
    feed(
        &mut d,
        &[begin_prepare(71), relation(710, "t", false), prepare(71)],
    );
    d.reset_in_flight().unwrap();
    assert!(d.take_replaced().is_empty());
    feed(
        &mut d,
        &[begin_prepare(71), relation(710, "t", false), prepare(71)],
    );
    assert!(d.take_replaced().is_empty());
    feed(
        &mut d,
        &[W::new(b'K')
            .u8(0)
            .u64(0x200)
            .u64(0x208)
            .i64(0)
            .u32(71)
            .str("g")
            .0],
    );
    assert_eq!(d.take_replaced(), vec!["public.t".to_string()]);
}
