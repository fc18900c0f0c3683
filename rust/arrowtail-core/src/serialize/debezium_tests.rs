//! Tests of the Debezium serializer on change batches built with the shared `ChangeBuilder`.

use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, TimeUnit};

use super::*;
use crate::arrow::{ChangeBuilder, ColumnBuilder, Op, RowMeta, SourceKind, TableSchema};

fn table(source: SourceKind, name: &str) -> Arc<TableSchema> {
    Arc::new(TableSchema {
        source,
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

/// insert 1; update 1 (old image sent, note unchanged); delete 1; update 1 -> 2 (key change).
fn sample(source: SourceKind, name: &str) -> RecordBatch {
    let mut b = ChangeBuilder::new(table(source, name)).unwrap();
    push(&mut b.columns, 1, Some("a \"q\""), Some(1234));
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
        ts_ms: 1_700_000_001_000,
        ..Default::default()
    }
}

fn text(a: &arrow_array::BinaryArray, i: usize) -> Option<String> {
    a.is_valid(i)
        .then(|| String::from_utf8(a.value(i).to_vec()).unwrap())
}

const PG_SOURCE: &str = r#""source":{"version":"VERSION","connector":"postgresql","name":"srv","ts_ms":1700000000123,"snapshot":"false","db":"shop","sequence":null,"ts_us":1700000000123456,"ts_ns":1700000000123456000,"schema":"public","table":"t","txId":750,"lsn":4294967808,"xmin":null,"origin":null,"origin_lsn":null,"seq":SEQ}"#;
const TAIL: &str =
    r#","ts_ms":1700000001000,"ts_us":1700000001000000,"ts_ns":1700000001000000000}"#;

fn pg_value(before: &str, after: &str, op: &str, seq: u32) -> String {
    let source = PG_SOURCE
        .replace("VERSION", crate::VERSION)
        .replace("SEQ", &seq.to_string());
    format!(r#"{{"before":{before},"after":{after},{source},"transaction":null,"op":"{op}"{TAIL}"#)
}

#[test]
fn postgres_rows_become_debezium_envelopes() {
    let batch = sample(SourceKind::Postgres, "public.t");
    let out = serialize(&batch, &opts()).unwrap();
    // insert, update, delete + tombstone, key change -> delete + tombstone + create
    assert_eq!(out.values.len(), 7);
    assert_eq!(out.rows.values().to_vec(), vec![0, 1, 2, 2, 3, 3, 3]);
    let keys: Vec<_> = (0..7).map(|i| text(&out.keys, i)).collect();
    assert_eq!(
        keys,
        [1, 1, 1, 1, 1, 1, 2].map(|k| Some(format!(r#"{{"id":{k}}}"#)))
    );
    assert_eq!(
        text(&out.values, 0).unwrap(),
        pg_value(
            "null",
            r#"{"id":1,"note":"a \"q\"","amount":"12.34"}"#,
            "c",
            0
        )
    );
    assert_eq!(
        text(&out.values, 1).unwrap(),
        pg_value(
            r#"{"id":1,"note":"a","amount":"12.34"}"#,
            r#"{"id":1,"note":"__debezium_unavailable_value","amount":"-0.05"}"#,
            "u",
            1
        )
    );
    assert_eq!(
        text(&out.values, 2).unwrap(),
        pg_value(r#"{"id":1,"note":"a","amount":null}"#, "null", "d", 2)
    );
    assert_eq!(text(&out.values, 3), None, "tombstone after delete");
    assert_eq!(
        text(&out.values, 4).unwrap(),
        pg_value(r#"{"id":1,"note":null,"amount":null}"#, "null", "d", 3)
    );
    assert_eq!(text(&out.values, 5), None);
    assert_eq!(
        text(&out.values, 6).unwrap(),
        pg_value("null", r#"{"id":2,"note":"b","amount":null}"#, "c", 3)
    );
}

#[test]
fn options_change_unchanged_columns_tombstones_and_decimals() {
    let batch = sample(SourceKind::Postgres, "public.t");
    let o = DebeziumOptions {
        unavailable: Unavailable::Omit,
        tombstones: false,
        decimals: DecimalMode::Precise,
        ..opts()
    };
    let out = serialize(&batch, &o).unwrap();
    assert_eq!(out.values.len(), 5);
    assert!(out.values.nulls().is_none());
    let v = text(&out.values, 1).unwrap();
    // 1234 = 0x04d2 -> "BNI="; -5 = 0xfb -> "+w=="
    assert!(v.contains(r#""after":{"id":1,"amount":"+w=="}"#), "{v}");
    assert!(
        v.contains(r#""before":{"id":1,"note":"a","amount":"BNI="}"#),
        "{v}"
    );
}

#[test]
fn mysql_source_names_binlog_file_and_offset() {
    let batch = sample(SourceKind::MySql, "shop.t");
    let o = DebeziumOptions {
        binlog_basename: "binlog".into(),
        server_id: 7,
        ..opts()
    };
    let out = serialize(&batch, &o).unwrap();
    let v = text(&out.values, 0).unwrap();
    let want = format!(
        r#""source":{{"version":"{}","connector":"mysql","name":"srv","ts_ms":1700000000123,"snapshot":"false","db":"shop","sequence":null,"ts_us":1700000000123456,"ts_ns":1700000000123456000,"table":"t","server_id":7,"gtid":null,"file":"binlog.000001","pos":512,"row":0,"thread":null,"query":null,"seq":0}}"#,
        crate::VERSION
    );
    assert!(v.contains(&want), "{v}");
}

#[test]
fn partitions_follow_the_java_rule_on_the_sent_key_bytes() {
    let batch = sample(SourceKind::Postgres, "public.t");
    for schemas in [false, true] {
        let o = DebeziumOptions {
            partitions: Some(6),
            schemas,
            ..opts()
        };
        let out = serialize(&batch, &o).unwrap();
        let parts = out.partitions.unwrap();
        for i in 0..out.keys.len() {
            let want = crate::partition::partition_for_key(out.keys.value(i), 6).unwrap();
            assert_eq!(parts.value(i), want);
        }
    }
}

#[test]
fn schemas_wrap_keys_and_values() {
    let batch = sample(SourceKind::Postgres, "public.t");
    let o = DebeziumOptions {
        schemas: true,
        ..opts()
    };
    let out = serialize(&batch, &o).unwrap();
    let k = text(&out.keys, 0).unwrap();
    assert_eq!(
        k,
        r#"{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],"optional":false,"name":"srv.public.t.Key"},"payload":{"id":1}}"#
    );
    let v = text(&out.values, 0).unwrap();
    assert!(v.starts_with(r#"{"schema":{"type":"struct","fields":[{"type":"struct","fields":[{"type":"int64","optional":true,"field":"id"},{"type":"string","optional":true,"field":"note"},{"type":"string","optional":true,"field":"amount"}],"optional":true,"name":"srv.public.t.Value","field":"before"}"#), "{v}");
    assert!(v.contains(r#""name":"srv.public.t.Envelope","version":2},"payload":{"before":null,"after":{"id":1"#), "{v}");
    assert!(v.ends_with("}}"));
}

#[test]
fn temporal_uuid_list_interval_values() {
    use arrow_array::types::IntervalMonthDayNano;
    let t = Arc::new(TableSchema {
        source: SourceKind::Postgres,
        table: "public.k".into(),
        schema_version: 3,
        columns: vec![
            Field::new("u", DataType::FixedSizeBinary(16), false),
            Field::new("d", DataType::Date32, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new(
                "tz",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new(
                "iv",
                DataType::Interval(arrow_schema::IntervalUnit::MonthDayNano),
                true,
            ),
            Field::new("tags", ColumnBuilder::list_type(DataType::Int32), true),
            Field::new("f", DataType::Float64, true),
            Field::new("bin", DataType::Binary, true),
        ],
        primary_key: vec!["u".into()],
        extra_metadata: vec![],
    });
    let mut b = ChangeBuilder::new(t).unwrap();
    let c = &mut b.columns;
    if let ColumnBuilder::FixedSizeBinary(x) = &mut c[0] {
        x.append_value([0x12u8; 16]).unwrap();
    }
    if let ColumnBuilder::Date32(x) = &mut c[1] {
        x.append_value(19_000);
    }
    if let ColumnBuilder::Timestamp(x) = &mut c[2] {
        x.append_value(1_500_000);
    }
    if let ColumnBuilder::Timestamp(x) = &mut c[3] {
        x.append_value(1_709_294_400_000_000);
    }
    if let ColumnBuilder::Interval(x) = &mut c[4] {
        x.append_value(IntervalMonthDayNano::new(1, 2, 3_000_000_000));
    }
    if let ColumnBuilder::List(l) = &mut c[5] {
        if let ColumnBuilder::Int32(v) = &mut l.values {
            v.append_value(4);
            v.append_null();
        }
        l.append(true).unwrap();
    }
    if let ColumnBuilder::Float64(x) = &mut c[6] {
        x.append_value(f64::NAN);
    }
    if let ColumnBuilder::Binary(x) = &mut c[7] {
        x.append_value(b"foo");
    }
    b.finish_row(meta(Op::Read, 0), false, &[]);
    let batch = b.flush().unwrap().remove(0);
    let out = serialize(&batch, &opts()).unwrap();
    assert_eq!(
        text(&out.keys, 0).unwrap(),
        r#"{"u":"12121212-1212-1212-1212-121212121212"}"#
    );
    let v = text(&out.values, 0).unwrap();
    assert!(
        v.contains(r#""after":{"u":"12121212-1212-1212-1212-121212121212","d":19000,"ts":1500000,"tz":"2024-03-01T12:00:00.000000Z","iv":"P0Y1M2DT0H0M3S","tags":[4,null],"f":"NaN","bin":"Zm9v"}"#),
        "{v}"
    );
    assert!(v.contains(r#""snapshot":"true""#), "{v}");
    assert!(v.contains(r#""op":"r""#), "{v}");
}

#[test]
fn batches_without_the_contract_columns_are_refused() {
    let schema = Arc::new(arrow_schema::Schema::new(vec![Field::new(
        "id",
        DataType::Int64,
        false,
    )]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(arrow_array::Int64Array::from(vec![1]))],
    )
    .unwrap();
    let err = serialize(&batch, &opts()).unwrap_err();
    assert!(err.to_string().contains("no _op column"), "{err}");
}

#[test]
fn row_keys_are_the_key_of_each_rows_last_message() {
    let batch = sample(SourceKind::Postgres, "public.t");
    for schemas in [false, true] {
        let o = DebeziumOptions { schemas, ..opts() };
        let keys = crate::serialize::row_keys(&batch, &o).unwrap();
        let out = serialize(&batch, &o).unwrap();
        assert_eq!(keys.len(), batch.num_rows());
        // The last message of each row: its key is the row key (a key change ends with the new
        // key, after the old key's delete and tombstone).
        for row in 0..batch.num_rows() {
            let last = (0..out.rows.len())
                .rev()
                .find(|&m| out.rows.value(m) as usize == row)
                .unwrap();
            assert_eq!(text(&keys, row), text(&out.keys, last), "row {row}");
        }
    }
    let plain = crate::serialize::row_keys(&batch, &opts()).unwrap();
    let got: Vec<_> = (0..plain.len()).map(|i| text(&plain, i).unwrap()).collect();
    assert_eq!(
        got,
        [r#"{"id":1}"#, r#"{"id":1}"#, r#"{"id":1}"#, r#"{"id":2}"#]
    );
}

#[test]
fn row_keys_of_a_keyless_table_are_null() {
    let mut t = (*table(SourceKind::Postgres, "public.nokey")).clone();
    t.primary_key.clear();
    let mut b = ChangeBuilder::new(Arc::new(t)).unwrap();
    push(&mut b.columns, 7, None, None);
    b.finish_row(meta(Op::Insert, 0), false, &[]);
    let batch = b.flush().unwrap().remove(0);
    let keys = crate::serialize::row_keys(&batch, &opts()).unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys.is_null(0));
}

/// The sample batch with further schema metadata, as the sources set it.
fn with_metadata(batch: RecordBatch, extra: &[(&str, &str)]) -> RecordBatch {
    let mut md = batch.schema().metadata().clone();
    for (k, v) in extra {
        md.insert((*k).into(), (*v).into());
    }
    let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(md));
    RecordBatch::try_new(schema, batch.columns().to_vec()).unwrap()
}

fn has(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "{needle} not in {haystack}");
}

#[test]
fn not_null_columns_are_required_in_after_and_the_key() {
    let batch = with_metadata(
        sample(SourceKind::Postgres, "public.t"),
        &[
            ("arrowtail.not_null", "id,note"),
            ("arrowtail.database", "inventory"),
        ],
    );
    let out = serialize(
        &batch,
        &DebeziumOptions {
            schemas: true,
            ..opts()
        },
    )
    .unwrap();
    let v = text(&out.values, 0).unwrap();
    // `before` may lack values arrowtail was not sent; `after` keeps the source's NOT NULL.
    has(
        &v,
        r#"{"type":"struct","fields":[{"type":"int64","optional":true,"field":"id"},{"type":"string","optional":true,"field":"note"},{"type":"string","optional":true,"field":"amount"}],"optional":true,"name":"srv.public.t.Value","field":"before"}"#,
    );
    has(
        &v,
        r#"{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"},{"type":"string","optional":false,"field":"note"},{"type":"string","optional":true,"field":"amount"}],"optional":true,"name":"srv.public.t.Value","field":"after"}"#,
    );
    has(&v, r#""db":"inventory""#);
    let k = text(&out.keys, 0).unwrap();
    assert_eq!(
        k,
        r#"{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],"optional":false,"name":"srv.public.t.Key"},"payload":{"id":1}}"#
    );
}

#[test]
fn source_block_matches_debezium_fields() {
    // A snapshot read without a transaction id, with the processing time in microseconds.
    let mut b = ChangeBuilder::new(table(SourceKind::Postgres, "public.t")).unwrap();
    push(&mut b.columns, 7, Some("x"), None);
    b.finish_row(
        RowMeta {
            op: Op::Read,
            pos: 0x2_0000_0000,
            seq: 0,
            xid: 0,
            commit_ts_us: 1_700_000_000_123_456,
        },
        false,
        &[],
    );
    let batch = b.flush().unwrap().remove(0);
    let o = DebeziumOptions {
        schemas: true,
        ts_us: Some(1_700_000_001_234_567),
        ..opts()
    };
    let v = text(&serialize(&batch, &o).unwrap().values, 0).unwrap();
    has(
        &v,
        r#""source":{"version":"VERSION","connector":"postgresql","name":"srv","ts_ms":1700000000123,"snapshot":"true","db":"shop","sequence":null,"ts_us":1700000000123456,"ts_ns":1700000000123456000,"schema":"public","table":"t","txId":null,"lsn":8589934592,"xmin":null,"origin":null,"origin_lsn":null,"seq":0}"#
            .replace("VERSION", crate::VERSION)
            .as_str(),
    );
    has(
        &v,
        r#""op":"r","ts_ms":1700000001234,"ts_us":1700000001234567,"ts_ns":1700000001234567000}}"#,
    );
    has(
        &v,
        r#"{"type":"string","name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"default":"false","optional":true,"field":"snapshot"}"#,
    );
}

#[test]
fn mysql_file_and_server_id_come_from_the_batch() {
    let batch = with_metadata(
        sample(SourceKind::MySql, "shop.t"),
        &[
            ("arrowtail.binlog_basename", "cdc-bin"),
            ("arrowtail.server_id", "42"),
        ],
    );
    let v = text(&serialize(&batch, &opts()).unwrap().values, 0).unwrap();
    has(
        &v,
        r#""table":"t","server_id":42,"gtid":null,"file":"cdc-bin.000001","pos":512,"row":0,"#,
    );
}

#[test]
fn replica_identity_columns_of_a_keyless_table_give_no_key() {
    let batch = with_metadata(
        sample(SourceKind::Postgres, "public.t"),
        &[
            ("arrowtail.primary_key", "id,note,amount"),
            ("arrowtail.primary_key_from", "replica_identity"),
        ],
    );
    let out = serialize(&batch, &opts()).unwrap();
    assert_eq!(out.keys.null_count(), out.keys.len());
    // No key, so no tombstone after the delete and no key change: one message per row.
    assert_eq!(out.values.len(), 4);
    assert_eq!(out.values.null_count(), 0);
}

/// `f` with the metadata `md`.
/// The JSON value (with schemas) of the one row filled in `b`'s columns, as an insert.
fn insert_with_schemas(mut b: ChangeBuilder) -> String {
    b.finish_row(meta(Op::Insert, 0), false, &[]);
    let batch = b.flush().unwrap().remove(0);
    let mut o = opts();
    o.schemas = true;
    let out = serialize(&batch, &o).unwrap();
    text(&out.values, 0).unwrap()
}

fn with(f: Field, md: &[(&str, &str)]) -> Field {
    f.with_metadata(
        md.iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
    )
}

#[test]
fn source_type_facts_give_debeziums_semantic_types() {
    let lt = crate::types::postgres::LOGICAL_TYPE;
    let t = Arc::new(TableSchema {
        source: SourceKind::MySql,
        table: "shop.k".into(),
        schema_version: 1,
        columns: vec![
            Field::new("id", DataType::Int8, false),
            with(
                Field::new("e", DataType::Utf8, true),
                &[(lt, "enum"), ("arrowtail.allowed", "a,b")],
            ),
            with(
                Field::new("s", ColumnBuilder::list_type(DataType::Utf8), true),
                &[(lt, "set"), ("arrowtail.allowed", "x,y,z")],
            ),
            with(
                Field::new("b", DataType::UInt64, true),
                &[(lt, "bit"), ("arrowtail.length", "12")],
            ),
            with(Field::new("y", DataType::Int16, true), &[(lt, "year")]),
            with(Field::new("u", DataType::Utf8, true), &[(lt, "uuid")]),
            with(Field::new("tz", DataType::Utf8, true), &[(lt, "timetz")]),
            with(
                Field::new("b1", DataType::UInt64, true),
                &[(lt, "bit"), ("arrowtail.length", "1")],
            ),
        ],
        primary_key: vec!["id".into()],
        extra_metadata: vec![("arrowtail.flavor".into(), "mariadb".into())],
    });
    let mut b = ChangeBuilder::new(t).unwrap();
    let c = &mut b.columns;
    if let ColumnBuilder::Int8(x) = &mut c[0] {
        x.append_value(-3);
    }
    if let ColumnBuilder::Utf8(x) = &mut c[1] {
        x.append_value("b");
    }
    if let ColumnBuilder::List(l) = &mut c[2] {
        if let ColumnBuilder::Utf8(v) = &mut l.values {
            v.append_value("x");
            v.append_value("z");
        }
        l.append(true).unwrap();
    }
    if let ColumnBuilder::UInt64(x) = &mut c[3] {
        x.append_value(0x0102);
    }
    if let ColumnBuilder::Int16(x) = &mut c[4] {
        x.append_value(2024);
    }
    if let ColumnBuilder::Utf8(x) = &mut c[5] {
        x.append_value("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    }
    if let ColumnBuilder::Utf8(x) = &mut c[6] {
        x.append_value("23:59:59.999999-08");
    }
    if let ColumnBuilder::UInt64(x) = &mut c[7] {
        x.append_value(1);
    }
    let v = insert_with_schemas(b);
    has(
        &v,
        r#""after":{"id":-3,"e":"b","s":"x,z","b":"AgE=","y":2024,"u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","tz":"07:59:59.999999Z","b1":true}"#,
    );
    has(&v, r#"{"type":"int16","optional":true,"field":"id"}"#);
    has(
        &v,
        r#"{"type":"string","name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"a,b"},"optional":true,"field":"e"}"#,
    );
    has(
        &v,
        r#"{"type":"string","name":"io.debezium.data.EnumSet","version":1,"parameters":{"allowed":"x,y,z"},"optional":true,"field":"s"}"#,
    );
    has(
        &v,
        r#"{"type":"bytes","name":"io.debezium.data.Bits","version":1,"parameters":{"length":"12"},"optional":true,"field":"b"}"#,
    );
    has(
        &v,
        r#"{"type":"int32","name":"io.debezium.time.Year","version":1,"optional":true,"field":"y"}"#,
    );
    has(
        &v,
        r#"{"type":"string","name":"io.debezium.data.Uuid","version":1,"optional":true,"field":"u"}"#,
    );
    has(
        &v,
        r#"{"type":"string","name":"io.debezium.time.ZonedTime","version":1,"optional":true,"field":"tz"}"#,
    );
    has(&v, r#"{"type":"boolean","optional":true,"field":"b1"}"#);
    has(&v, r#""connector":"mariadb""#);
    has(
        &v,
        r#""name":"io.debezium.connector.mariadb.Source","version":1"#,
    );
}

#[test]
fn mysql_timestamps_have_as_few_fraction_digits_as_needed() {
    let tz = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let make = |source| {
        let t = Arc::new(TableSchema {
            source,
            table: "shop.k".into(),
            schema_version: 1,
            columns: vec![
                Field::new("id", DataType::Int64, false),
                Field::new("at", tz.clone(), true),
            ],
            primary_key: vec!["id".into()],
            extra_metadata: vec![],
        });
        let mut b = ChangeBuilder::new(t).unwrap();
        for (id, micros) in [(1, 981_173_106_500_000_i64), (2, 1_000_000)] {
            if let ColumnBuilder::Int64(x) = &mut b.columns[0] {
                x.append_value(id);
            }
            if let ColumnBuilder::Timestamp(x) = &mut b.columns[1] {
                x.append_value(micros);
            }
            b.finish_row(meta(Op::Insert, id as u32), false, &[]);
        }
        let out = serialize(&b.flush().unwrap().remove(0), &opts()).unwrap();
        [0, 1].map(|i| text(&out.values, i).unwrap())
    };
    let [half, whole] = make(SourceKind::MySql);
    has(&half, r#""at":"2001-02-03T04:05:06.5Z""#);
    has(&whole, r#""at":"1970-01-01T00:00:01Z""#);
    let [half, whole] = make(SourceKind::Postgres);
    has(&half, r#""at":"2001-02-03T04:05:06.500000Z""#);
    has(&whole, r#""at":"1970-01-01T00:00:01.000000Z""#);
}

/// Snapshot reads of ids 0..n (`_seq` = id) with `metadata` added to the batch's schema.
fn snapshot_rows(n: u32, metadata: &[(&str, &str)]) -> RecordBatch {
    let mut b = ChangeBuilder::new(table(SourceKind::Postgres, "public.t")).unwrap();
    for i in 0..n {
        push(&mut b.columns, i64::from(i), None, None);
        b.finish_row(meta(Op::Read, i), false, &[]);
    }
    let batch = b.flush().unwrap().remove(0);
    let mut md = batch.schema().metadata().clone();
    md.extend(metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let schema = Arc::new(arrow_schema::Schema::new_with_metadata(
        batch.schema().fields().clone(),
        md,
    ));
    RecordBatch::try_new(schema, batch.columns().to_vec()).unwrap()
}

/// The `source.snapshot` value of every message but tombstones.
fn markers(values: &arrow_array::BinaryArray) -> Vec<String> {
    (0..values.len())
        .filter_map(|i| text(values, i))
        .map(|v| {
            let at = v.find(r#""snapshot":""#).unwrap() + 12;
            v[at..at + v[at..].find('"').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn snapshot_rows_carry_the_markers_named_by_seq() {
    let batch = snapshot_rows(
        4,
        &[(
            "arrowtail.snapshot_marks",
            "0:first,3:last_in_data_collection",
        )],
    );
    let out = serialize(&batch, &opts()).unwrap();
    assert_eq!(
        markers(&out.values),
        ["first", "true", "true", "last_in_data_collection"]
    );
    // A slice keeps the markers on their rows.
    let out = serialize(&batch.slice(2, 2), &opts()).unwrap();
    assert_eq!(markers(&out.values), ["true", "last_in_data_collection"]);
    // Without marks every snapshot row is "true"; streamed changes stay "false".
    let out = serialize(&snapshot_rows(2, &[]), &opts()).unwrap();
    assert_eq!(markers(&out.values), ["true", "true"]);
    let out = serialize(&sample(SourceKind::Postgres, "public.t"), &opts()).unwrap();
    assert!(markers(&out.values).iter().all(|m| m == "false"));
}

#[test]
fn incremental_snapshot_rows_say_incremental() {
    let batch = snapshot_rows(2, &[("arrowtail.snapshot", "incremental")]);
    let out = serialize(&batch, &opts()).unwrap();
    assert_eq!(markers(&out.values), ["incremental", "incremental"]);
}

#[test]
fn a_malformed_marker_is_a_clear_error() {
    let batch = snapshot_rows(1, &[("arrowtail.snapshot_marks", "0:bogus")]);
    let err = serialize(&batch, &opts()).unwrap_err().to_string();
    assert!(err.contains("arrowtail.snapshot_marks"), "{err}");
}

#[test]
fn postgres_text_types_take_debeziums_shapes() {
    let lt = crate::types::postgres::LOGICAL_TYPE;
    let utf8 = |name: &str, md: &[(&str, &str)]| with(Field::new(name, DataType::Utf8, true), md);
    let t = Arc::new(TableSchema {
        source: SourceKind::Postgres,
        table: "public.k".into(),
        schema_version: 1,
        columns: vec![
            Field::new("id", DataType::Int64, false),
            utf8("b1", &[(lt, "bit"), ("arrowtail.length", "1")]),
            utf8("b8", &[(lt, "bit"), ("arrowtail.length", "8")]),
            utf8("vu", &[(lt, "bit")]),
            utf8("hs", &[(lt, "hstore")]),
            utf8("pt", &[(lt, "point")]),
            utf8("lt", &[(lt, "ltree")]),
            with(
                Field::new("ja", ColumnBuilder::list_type(DataType::Utf8), true),
                &[(lt, "json")],
            ),
        ],
        primary_key: vec!["id".into()],
        extra_metadata: vec![],
    });
    let mut b = ChangeBuilder::new(t).unwrap();
    let c = &mut b.columns;
    if let ColumnBuilder::Int64(x) = &mut c[0] {
        x.append_value(1);
    }
    for (i, text) in [
        (1, "1"),
        (2, "10100101"),
        (3, "1111000011"),
        (4, r#""a"=>"2", "bb"=>NULL"#),
        (5, "(1.5,-2)"),
        (6, "top.mid"),
    ] {
        if let ColumnBuilder::Utf8(x) = &mut c[i] {
            x.append_value(text);
        }
    }
    if let ColumnBuilder::List(l) = &mut c[7] {
        if let ColumnBuilder::Utf8(v) = &mut l.values {
            v.append_value(r#"{"a": 1}"#);
        }
        l.append(true).unwrap();
    }
    let v = insert_with_schemas(b);
    // 0b11_1100_0011 little-endian: c3 03. A Java HashMap puts "bb" (bucket 0) before "a".
    has(
        &v,
        r#""after":{"id":1,"b1":true,"b8":"pQ==","vu":"wwM=","hs":"{\"bb\":null,\"a\":\"2\"}","pt":{"x":1.5,"y":-2.0,"wkb":"AQEAAAAAAAAAAAD4PwAAAAAAAADA","srid":null},"lt":"top.mid","ja":["{\"a\": 1}"]}"#,
    );
    has(&v, r#"{"type":"boolean","optional":true,"field":"b1"}"#);
    has(
        &v,
        r#"{"type":"bytes","name":"io.debezium.data.Bits","version":1,"parameters":{"length":"8"},"optional":true,"field":"b8"}"#,
    );
    has(
        &v,
        r#"{"type":"bytes","name":"io.debezium.data.Bits","version":1,"parameters":{"length":"2147483647"},"optional":true,"field":"vu"}"#,
    );
    has(
        &v,
        r#"{"type":"string","name":"io.debezium.data.Json","version":1,"optional":true,"field":"hs"}"#,
    );
    has(
        &v,
        r#"{"type":"struct","fields":[{"type":"double","optional":false,"field":"x"},{"type":"double","optional":false,"field":"y"},{"type":"bytes","optional":true,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"name":"io.debezium.data.geometry.Point","version":1,"doc":"Geometry (POINT)","optional":true,"field":"pt"}"#,
    );
    has(
        &v,
        r#"{"type":"string","name":"io.debezium.data.Ltree","version":1,"optional":true,"field":"lt"}"#,
    );
    has(
        &v,
        r#"{"type":"array","items":{"type":"string","name":"io.debezium.data.Json","version":1,"optional":true},"optional":true,"field":"ja"}"#,
    );
}

#[test]
fn mysql_spatial_columns_take_debeziums_point_and_geometry() {
    let lt = crate::types::postgres::LOGICAL_TYPE;
    let bin =
        |name: &str, kind: &str| with(Field::new(name, DataType::Binary, true), &[(lt, kind)]);
    let t = Arc::new(TableSchema {
        source: SourceKind::MySql,
        table: "db.g".into(),
        schema_version: 1,
        columns: vec![
            Field::new("id", DataType::Int64, false),
            bin("p", "point"),
            bin("g", "geometry"),
        ],
        primary_key: vec!["id".into()],
        extra_metadata: vec![],
    });
    // POINT(1.5 -2) with SRID 4326; LINESTRING(0 0, 1 1) without one.
    let mut point = 4326i32.to_le_bytes().to_vec();
    point.extend_from_slice(&[1, 1, 0, 0, 0]);
    point.extend_from_slice(&1.5f64.to_le_bytes());
    point.extend_from_slice(&(-2.0f64).to_le_bytes());
    let mut line = vec![0, 0, 0, 0, 1, 2, 0, 0, 0, 2, 0, 0, 0];
    for v in [0.0f64, 0.0, 1.0, 1.0] {
        line.extend_from_slice(&v.to_le_bytes());
    }
    let mut b = ChangeBuilder::new(t).unwrap();
    let c = &mut b.columns;
    if let ColumnBuilder::Int64(x) = &mut c[0] {
        x.append_value(1);
    }
    for (i, stored) in [(1, &point), (2, &line)] {
        if let ColumnBuilder::Binary(x) = &mut c[i] {
            x.append_value(stored);
        }
    }
    let v = insert_with_schemas(b);
    has(
        &v,
        r#""after":{"id":1,"p":{"x":1.5,"y":-2.0,"wkb":"AQEAAAAAAAAAAAD4PwAAAAAAAADA","srid":4326},"g":{"wkb":"AQIAAAACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPA/AAAAAAAA8D8=","srid":null}}"#,
    );
    has(
        &v,
        r#"{"type":"struct","fields":[{"type":"double","optional":false,"field":"x"},{"type":"double","optional":false,"field":"y"},{"type":"bytes","optional":true,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"name":"io.debezium.data.geometry.Point","version":1,"doc":"Geometry (POINT)","optional":true,"field":"p"}"#,
    );
    has(
        &v,
        r#"{"type":"struct","fields":[{"type":"bytes","optional":false,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"name":"io.debezium.data.geometry.Geometry","version":1,"doc":"Geometry","optional":true,"field":"g"}"#,
    );
}
