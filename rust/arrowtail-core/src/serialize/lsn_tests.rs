//! `source.lsn` and `source.sequence` from each change's `_lsn` and `_last_commit_lsn`, in JSON
//! and Avro; without the columns both stay per transaction.

use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field};

use crate::arrow::{ChangeBuilder, ColumnBuilder, Op, RowMeta, SourceKind, TableSchema};
use crate::serialize::avro::{self, binary, SchemaIds};
use crate::serialize::{serialize, DebeziumOptions};

/// Two inserts of one transaction (commit at 0x500) at LSNs 0x100 and 0x180, the last commit
/// before it at `last`; with `lsn` false, no LSN columns.
fn batch(lsn: bool, last: u64) -> RecordBatch {
    let t = Arc::new(TableSchema {
        source: SourceKind::Postgres,
        table: "public.t".into(),
        schema_version: 1,
        columns: vec![Field::new("id", DataType::Int32, false)],
        primary_key: vec!["id".into()],
        extra_metadata: vec![],
    });
    let mut b = ChangeBuilder::new(t).unwrap();
    if lsn {
        b.enable_lsn();
    }
    for (seq, at) in [(0u32, 0x100u64), (1, 0x180)] {
        if let ColumnBuilder::Int32(x) = &mut b.columns[0] {
            x.append_value(seq as i32 + 1);
        }
        b.set_row_lsn(at, last);
        b.finish_row(
            RowMeta {
                op: Op::Insert,
                pos: 0x500,
                seq,
                xid: 9,
                commit_ts_us: 1_700_000_000_000_000,
            },
            false,
            &[],
        );
    }
    b.flush().unwrap().remove(0)
}

fn values(b: &RecordBatch) -> Vec<String> {
    let out = serialize(b, &DebeziumOptions::default()).unwrap();
    (0..out.values.len())
        .map(|i| String::from_utf8(out.values.value(i).to_vec()).unwrap())
        .collect()
}

#[test]
fn each_change_names_its_own_lsn_and_the_last_commit() {
    let v = values(&batch(true, 0x80));
    assert!(
        v[0].contains(r#""sequence":"[\"128\",\"256\"]""#),
        "{}",
        v[0]
    );
    assert!(v[0].contains(r#""lsn":256,"#), "{}", v[0]);
    assert!(
        v[1].contains(r#""sequence":"[\"128\",\"384\"]""#),
        "{}",
        v[1]
    );
    assert!(v[1].contains(r#""lsn":384,"#), "{}", v[1]);
    // The LSN columns are no columns of the event.
    assert!(v[0].contains(r#""after":{"id":1}"#), "{}", v[0]);
    // Before any commit was seen: a null first element, as Debezium's fresh connector writes.
    let v = values(&batch(true, 0));
    assert!(v[0].contains(r#""sequence":"[null,\"256\"]""#), "{}", v[0]);
}

#[test]
fn without_lsn_columns_the_commit_lsn_stays() {
    let v = values(&batch(false, 0));
    assert!(v[0].contains(r#""sequence":null"#), "{}", v[0]);
    assert!(v[0].contains(r#""lsn":1280,"#), "{}", v[0]);
    assert!(v[1].contains(r#""lsn":1280,"#), "{}", v[1]);
}

#[test]
fn avro_names_the_same_lsn_and_sequence() {
    let ids = SchemaIds {
        key: Some(1),
        value: 2,
    };
    let out = avro::serialize(&batch(true, 0x80), &DebeziumOptions::default(), ids).unwrap();
    let v = out.values.value(1);
    let mut sequence = vec![2];
    binary::write_string(&mut sequence, r#"["128","384"]"#);
    assert!(v.windows(sequence.len()).any(|w| w == sequence), "{v:?}");
    // lsn: the union's branch and 0x180.
    let mut lsn = vec![2];
    binary::write_long(&mut lsn, 0x180);
    let mut commit = vec![2];
    binary::write_long(&mut commit, 0x500);
    assert!(v.windows(lsn.len()).any(|w| w == lsn), "{v:?}");
    assert!(!v.windows(commit.len()).any(|w| w == commit), "{v:?}");
}
