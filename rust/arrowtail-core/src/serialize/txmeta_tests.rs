//! The `transaction` block through both serializers: counted on from the carry, per
//! transaction, named by PostgreSQL's LSNs or the binlog's GTIDs, null unless asked for.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field};

use super::{TxCarry, TxRun};
use crate::arrow::{ChangeBuilder, ColumnBuilder, Op, RowMeta, SourceKind, TableSchema};
use crate::serialize::avro::{self, binary, SchemaIds};
use crate::serialize::{serialize, DebeziumOptions};

/// A batch of `public.t` from `source` with `rows` of `(op, id, _pos, _xid, _seq, lsn)`: the
/// LSN as `_lsn` for PostgreSQL (last commit 0x80), for MySQL the GTID `0-1-9` on transaction 9
/// and none on the others; commit time 1.7e15 µs plus `_pos`.
fn rows(source: SourceKind, rows: &[(Op, i32, u64, u64, u32, u64)]) -> RecordBatch {
    let t = Arc::new(TableSchema {
        source,
        table: "public.t".into(),
        schema_version: 1,
        columns: vec![Field::new("id", DataType::Int32, false)],
        primary_key: vec!["id".into()],
        extra_metadata: vec![],
    });
    let mut b = ChangeBuilder::new(t).unwrap();
    if source == SourceKind::Postgres {
        b.enable_lsn();
    } else {
        b.enable_gtid();
    }
    for &(op, id, pos, xid, seq, at) in rows {
        if let ColumnBuilder::Int32(x) = &mut b.columns[0] {
            x.append_value(id);
        }
        if source == SourceKind::Postgres {
            b.set_row_lsn(at, 0x80);
        } else {
            b.set_row_gtid((xid == 9).then(|| Arc::from("0-1-9")));
        }
        b.finish_row(
            RowMeta {
                op,
                pos,
                seq,
                xid,
                commit_ts_us: 1_700_000_000_000_000 + pos as i64,
            },
            false,
            &[],
        );
    }
    b.flush().unwrap().remove(0)
}

/// Transaction 9 (commit at 0x500): inserts at 0x100 and 0x180 (`_seq` 1 and 3); then a snapshot
/// read would not be here, so transaction 10 (commit at 0x900): an insert at 0x700 (`_seq` 0).
fn batch(source: SourceKind) -> RecordBatch {
    rows(
        source,
        &[
            (Op::Insert, 1, 0x500, 9, 1, 0x100),
            (Op::Insert, 2, 0x500, 9, 3, 0x180),
            (Op::Insert, 3, 0x900, 10, 0, 0x700),
        ],
    )
}

fn opts(carry: Option<TxCarry>) -> DebeziumOptions {
    DebeziumOptions {
        transactions: carry,
        ..DebeziumOptions::default()
    }
}

fn text(v: &[u8]) -> String {
    String::from_utf8(v.to_vec()).unwrap()
}

#[test]
fn blocks_count_on_from_the_carry_per_transaction() {
    let carry = TxCarry {
        pos: 0x500,
        events: 2,
    };
    let out = serialize(&batch(SourceKind::Postgres), &opts(Some(carry))).unwrap();
    let v: Vec<String> = (0..3).map(|i| text(out.values.value(i))).collect();
    assert!(
        v[0].contains(r#""transaction":{"id":"9:256","total_order":2,"data_collection_order":3}"#),
        "{}",
        v[0]
    );
    assert!(
        v[1].contains(r#""transaction":{"id":"9:384","total_order":4,"data_collection_order":4}"#),
        "{}",
        v[1]
    );
    assert!(
        v[2].contains(
            r#""transaction":{"id":"10:1792","total_order":1,"data_collection_order":1}"#
        ),
        "{}",
        v[2]
    );
    assert_eq!(
        out.transactions,
        vec![
            TxRun {
                pos: 0x500,
                xid: 9,
                commit_ts_us: 1_700_000_000_001_280,
                events: 4,
                first_lsn: 0x100,
                last_commit: 0x80,
                id: None,
            },
            TxRun {
                pos: 0x900,
                xid: 10,
                commit_ts_us: 1_700_000_000_002_304,
                events: 1,
                first_lsn: 0x700,
                last_commit: 0x80,
                id: None,
            },
        ]
    );
}

#[test]
fn without_the_option_the_block_is_null_and_nothing_is_counted() {
    let out = serialize(&batch(SourceKind::Postgres), &opts(None)).unwrap();
    assert!(text(out.values.value(0)).contains(r#""transaction":null"#));
    assert!(out.transactions.is_empty());
}

#[test]
fn binlog_changes_name_their_gtid_or_the_commit_event() {
    let out = serialize(&batch(SourceKind::MySql), &opts(Some(TxCarry::default()))).unwrap();
    let v: Vec<String> = (0..3).map(|i| text(out.values.value(i))).collect();
    assert!(
        v[0].contains(r#""transaction":{"id":"0-1-9","total_order":2,"data_collection_order":1}"#),
        "{}",
        v[0]
    );
    assert!(v[0].contains(r#""gtid":"0-1-9","#), "{}", v[0]);
    // Transaction 10 has no GTID: the commit event's file and offset.
    assert!(
        v[2].contains(
            r#""transaction":{"id":"file=mysql-bin.000000,pos=2304","total_order":1,"data_collection_order":1}"#
        ),
        "{}",
        v[2]
    );
    assert!(v[2].contains(r#""gtid":null,"#), "{}", v[2]);
    let ids: Vec<Option<&str>> = out.transactions.iter().map(|r| r.id.as_deref()).collect();
    assert_eq!(ids, [Some("0-1-9"), Some("file=mysql-bin.000000,pos=2304")]);
}

#[test]
fn avro_writes_the_same_block() {
    let ids = SchemaIds {
        key: Some(1),
        value: 2,
    };
    let b = batch(SourceKind::Postgres);
    let out = avro::serialize(&b, &opts(Some(TxCarry::default())), ids).unwrap();
    let v = out.values.value(1);
    // The union's record branch, the id, total_order 4, data_collection_order 2.
    let mut block = vec![2];
    binary::write_string(&mut block, "9:384");
    binary::write_long(&mut block, 4);
    binary::write_long(&mut block, 2);
    assert!(v.windows(block.len()).any(|w| w == block), "{v:?}");
    assert_eq!(out.transactions.len(), 2);
    // Without the option, the null branch follows the source record: the id is nowhere.
    let out = avro::serialize(&b, &opts(None), ids).unwrap();
    let v = out.values.value(1);
    let mut id = Vec::new();
    binary::write_string(&mut id, "9:384");
    assert!(!v.windows(id.len()).any(|w| w == id), "{v:?}");
}

#[test]
fn a_message_has_no_block_and_no_count_but_names_its_transaction() {
    let batch = rows(
        SourceKind::Postgres,
        &[
            (Op::Message, 1, 0x500, 5, 0, 0x100),
            (Op::Insert, 1, 0x900, 9, 0, 0x700),
        ],
    );
    let out = serialize(&batch, &opts(Some(TxCarry::default()))).unwrap();
    assert!(text(out.values.value(0)).contains(r#""transaction":null"#));
    assert!(text(out.values.value(1)).contains(r#""transaction":{"id":"9:1792""#));
    let events: Vec<(u64, u64)> = out.transactions.iter().map(|r| (r.pos, r.events)).collect();
    assert_eq!(events, [(0x500, 0), (0x900, 1)]);
}
