//! Tests of the Avro serializer on change batches built with the shared `ChangeBuilder`; the
//! Python tests (tests/unit/test_avro_serialize.py) decode the same messages with an Avro library
//! and compare them with the JSON path.

use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field};

use super::binary::write_long;
use super::*;
use crate::arrow::{ChangeBuilder, ColumnBuilder, Op, RowMeta, SourceKind, TableSchema};
use crate::serialize::DecimalMode;

fn table(name: &str) -> Arc<TableSchema> {
    Arc::new(TableSchema {
        source: SourceKind::Postgres,
        table: name.into(),
        schema_version: 1,
        columns: vec![
            Field::new("id", DataType::Int64, false),
            Field::new("note", DataType::Utf8, true),
            Field::new("amount", DataType::Decimal128(10, 2), true),
        ],
        primary_key: vec!["id".into()],
        extra_metadata: vec![],
    })
}

fn meta(op: Op, seq: u32) -> RowMeta {
    RowMeta {
        op,
        pos: 0x1_0000_0200,
        seq,
        xid: 750,
        commit_ts_us: 1_700_000_000_123_456,
    }
}

fn push(cols: &mut [ColumnBuilder], id: i64, note: Option<&str>, amount: Option<i128>) {
    if let ColumnBuilder::Int64(c) = &mut cols[0] {
        c.append_value(id);
    }
    if let ColumnBuilder::Utf8(c) = &mut cols[1] {
        c.append_option(note);
    }
    if let ColumnBuilder::Decimal128(c) = &mut cols[2] {
        c.append_option(amount);
    }
}

/// insert 1; update 1 (note not sent); delete 1; update 1 -> 2 (key change).
fn sample() -> RecordBatch {
    let mut b = ChangeBuilder::new(table("public.t")).unwrap();
    push(&mut b.columns, 1, Some("a"), Some(1234));
    b.finish_row(meta(Op::Insert, 0), false, &[]);
    push(&mut b.columns, 1, None, Some(-5));
    push(b.before_mut(), 1, Some("a"), Some(1234));
    b.finish_row(meta(Op::Update, 1), true, &[1]);
    push(&mut b.columns, 1, Some("a"), None);
    b.finish_row(meta(Op::Delete, 2), false, &[]);
    push(&mut b.columns, 2, Some("b"), None);
    push(b.before_mut(), 1, None, None);
    b.finish_row(meta(Op::Update, 3), true, &[]);
    b.flush().unwrap().remove(0)
}

fn opts() -> DebeziumOptions {
    DebeziumOptions {
        topic_prefix: "srv".into(),
        database: "shop".into(),
        decimals: DecimalMode::Precise,
        ts_ms: 1_700_000_001_000,
        ..Default::default()
    }
}

const IDS: SchemaIds = SchemaIds {
    key: Some(7),
    value: 300,
};

fn key_bytes(id: i64) -> Vec<u8> {
    let mut k = vec![0, 0, 0, 0, 7];
    write_long(&mut k, id);
    k
}

#[test]
fn schemas_name_key_value_and_envelope_records() {
    let s = schemas(&sample(), &opts()).unwrap();
    assert_eq!(
        s.key.as_deref(),
        Some(
            r#"{"type":"record","name":"Key","namespace":"srv.public.t","fields":[{"name":"id","type":"long"}],"connect.name":"srv.public.t.Key"}"#
        )
    );
    assert_eq!(s.key_name, "srv.public.t.Key");
    assert_eq!(s.value_name, "srv.public.t.Envelope");
    let v = &s.value;
    assert!(v.starts_with(
        r#"{"type":"record","name":"Envelope","namespace":"srv.public.t","fields":[{"name":"before","type":["null",{"type":"record","name":"Value","namespace":"srv.public.t","fields":[{"name":"id","type":["null","long"],"default":null},{"name":"note","type":["null","string"],"default":null},{"name":"amount","type":["null",{"type":"bytes","scale":2,"precision":10,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"10"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}],"default":null}],"connect.name":"srv.public.t.Value"}],"default":null},{"name":"after","type":["null","srv.public.t.Value"],"default":null},{"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql""#
    ), "{v}");
    assert!(v.ends_with(
        r#"{"name":"op","type":"string"},{"name":"ts_ms","type":["null","long"],"default":null},{"name":"ts_us","type":["null","long"],"default":null},{"name":"ts_ns","type":["null","long"],"default":null}],"connect.version":2,"connect.name":"srv.public.t.Envelope"}"#
    ), "{v}");
}

#[test]
fn messages_follow_the_json_path_with_framed_avro() {
    let out = serialize(&sample(), &opts(), IDS).unwrap();
    // insert, update, delete + tombstone, key change: delete + tombstone + create.
    assert_eq!(out.keys.len(), 7);
    assert_eq!(out.rows.values(), &[0, 1, 2, 2, 3, 3, 3]);
    let keys: Vec<Option<&[u8]>> = (0..7)
        .map(|i| out.keys.is_valid(i).then(|| out.keys.value(i)))
        .collect();
    let one = key_bytes(1);
    let two = key_bytes(2);
    assert_eq!(
        keys,
        [
            Some(&one[..]),
            Some(&one[..]),
            Some(&one[..]),
            Some(&one[..]),
            Some(&one[..]),
            Some(&one[..]),
            Some(&two[..])
        ]
    );
    let tombstones: Vec<bool> = (0..7).map(|i| out.values.is_null(i)).collect();
    assert_eq!(tombstones, [false, false, false, true, false, true, false]);

    // The insert: header, before null, after {id: 1, note: "a", amount: 12.34}.
    let v = out.values.value(0);
    assert_eq!(&v[..5], &[0, 0, 0, 1, 44]);
    let want = [0, 2, 2, 2, 2, 2, b'a', 2, 4, 0x04, 0xd2];
    assert_eq!(&v[5..16], &want[..], "{v:?}");
    // The source block follows: version string first.
    let mut version = Vec::new();
    binary::write_string(&mut version, crate::VERSION);
    assert_eq!(&v[16..16 + version.len()], &version[..]);
    // ... and the envelope ends with op "c" and the three processing timestamps.
    let mut end = vec![0];
    binary::write_string(&mut end, "c");
    for t in [
        1_700_000_001_000i64,
        1_700_000_001_000_000,
        1_700_000_001_000_000_000,
    ] {
        end.push(2);
        write_long(&mut end, t);
    }
    assert!(v.ends_with(&end), "{v:?}");
}

#[test]
fn an_unsent_text_value_is_the_placeholder() {
    let out = serialize(&sample(), &opts(), IDS).unwrap();
    let v = out.values.value(1);
    let mut placeholder = vec![2];
    binary::write_string(&mut placeholder, UNAVAILABLE);
    assert!(
        v.windows(placeholder.len()).any(|w| w == placeholder),
        "{v:?}"
    );
    let omit = DebeziumOptions {
        unavailable: Unavailable::Omit,
        ..opts()
    };
    let out = serialize(&sample(), &omit, IDS).unwrap();
    let v = out.values.value(1);
    assert!(!v.windows(placeholder.len()).any(|w| w == placeholder));
}

#[test]
fn partitions_are_computed_over_the_framed_key() {
    let o = DebeziumOptions {
        partitions: Some(5),
        ..opts()
    };
    let out = serialize(&sample(), &o, IDS).unwrap();
    let parts = out.partitions.unwrap();
    for i in 0..out.keys.len() {
        let want = partition_for_key(out.keys.value(i), 5).unwrap();
        assert_eq!(parts.value(i), want);
    }
}

#[test]
fn a_keyed_table_needs_a_key_id() {
    let err = serialize(
        &sample(),
        &opts(),
        SchemaIds {
            key: None,
            value: 1,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("key schema id"), "{err}");
}

#[test]
fn names_avro_refuses_are_adjusted() {
    assert_eq!(types::avro_name("order-lines"), "order_lines");
    assert_eq!(types::avro_name("2024"), "_2024");
    assert_eq!(types::avro_name("é"), "__");
    assert_eq!(
        types::full_name("my-app.public.t 1.Key"),
        "my_app.public.t_1.Key"
    );
}

#[test]
fn snapshot_markers_are_written_as_the_json_path_writes_them() {
    let mut b = ChangeBuilder::new(table("public.t")).unwrap();
    for i in 0..3u32 {
        push(&mut b.columns, i64::from(i), None, None);
        b.finish_row(meta(Op::Read, i), false, &[]);
    }
    let batch = b.flush().unwrap().remove(0);
    let mut md = batch.schema().metadata().clone();
    md.insert("arrowtail.snapshot_marks".into(), "0:first,2:last".into());
    let schema = Arc::new(arrow_schema::Schema::new_with_metadata(
        batch.schema().fields().clone(),
        md,
    ));
    let batch = RecordBatch::try_new(schema, batch.columns().to_vec()).unwrap();
    let out = serialize(&batch, &opts(), IDS).unwrap();
    for (i, marker) in ["first", "true", "last"].iter().enumerate() {
        // The snapshot field: the union's first branch, then the marker string.
        let mut want = vec![0];
        binary::write_string(&mut want, marker);
        binary::write_string(&mut want, "shop");
        let v = out.values.value(i);
        assert!(v.windows(want.len()).any(|w| w == want), "{marker}: {v:?}");
    }
}
