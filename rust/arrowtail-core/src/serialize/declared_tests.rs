//! The declared-type forms through both serializers, on batches built with `ChangeBuilder`: each
//! form's schema and value in JSON, and the Avro type and bytes of the same columns.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, TimeUnit};

use crate::arrow::{ChangeBuilder, ColumnBuilder, Op, RowMeta, SourceKind, TableSchema};
use crate::serialize::avro::{self, binary, SchemaIds};
use crate::serialize::{serialize, DebeziumOptions, DecimalMode};
use crate::types::postgres::LOGICAL_TYPE;

fn with(f: Field, md: &[(&str, &str)]) -> Field {
    f.with_metadata(
        md.iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect::<HashMap<_, _>>(),
    )
}

fn opts() -> DebeziumOptions {
    DebeziumOptions {
        topic_prefix: "srv".into(),
        database: "shop".into(),
        decimals: DecimalMode::Precise,
        schemas: true,
        ts_ms: 1_700_000_001_000,
        ..Default::default()
    }
}

fn row_meta(op: Op, seq: u32) -> RowMeta {
    RowMeta {
        op,
        pos: 0x1_0000_0200,
        seq,
        xid: 750,
        commit_ts_us: 1_700_000_000_123_456,
    }
}

fn has(text: &str, part: &str) {
    assert!(text.contains(part), "{part}\nnot in\n{text}");
}

/// A change builder for `table` keyed by its first column, `id`.
fn builder(source: SourceKind, table: &str, columns: Vec<Field>) -> ChangeBuilder {
    ChangeBuilder::new(Arc::new(TableSchema {
        source,
        table: table.into(),
        schema_version: 1,
        columns,
        primary_key: vec!["id".into()],
        extra_metadata: vec![],
    }))
    .unwrap()
}

fn values(batch: &RecordBatch) -> Vec<String> {
    let out = serialize(batch, &opts()).unwrap();
    (0..out.values.len())
        .filter(|&i| out.values.is_valid(i))
        .map(|i| String::from_utf8(out.values.value(i).to_vec()).unwrap())
        .collect()
}

/// PostgreSQL `money`, unconstrained `numeric` and an enum, one insert per text triple.
fn postgres(rows: &[(&str, &str)]) -> RecordBatch {
    let mut b = builder(
        SourceKind::Postgres,
        "public.m",
        vec![
            Field::new("id", DataType::Int32, false),
            with(
                Field::new("mo", DataType::Utf8, true),
                &[(LOGICAL_TYPE, "money"), ("arrowtail.scale", "2")],
            ),
            with(
                Field::new("nu", DataType::Utf8, true),
                &[(LOGICAL_TYPE, "numeric")],
            ),
            with(
                Field::new("en", DataType::Utf8, true),
                &[
                    (LOGICAL_TYPE, "enum"),
                    ("arrowtail.allowed", "sad,ok,happy"),
                ],
            ),
        ],
    );
    for (i, (mo, nu)) in rows.iter().enumerate() {
        if let ColumnBuilder::Int32(x) = &mut b.columns[0] {
            x.append_value(i as i32);
        }
        if let ColumnBuilder::Utf8(x) = &mut b.columns[1] {
            x.append_value(mo);
        }
        if let ColumnBuilder::Utf8(x) = &mut b.columns[2] {
            x.append_value(nu);
        }
        if let ColumnBuilder::Utf8(x) = &mut b.columns[3] {
            x.append_value("ok");
        }
        b.finish_row(row_meta(Op::Insert, i as u32), false, &[]);
    }
    b.flush().unwrap().remove(0)
}

#[test]
fn postgres_money_numeric_and_enum_take_debeziums_types() {
    let v = values(&postgres(&[
        ("-$1,234.50", "0.14285714285714285714"),
        ("$0.00", "NaN"),
    ]));
    has(
        &v[0],
        r#"{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"},"optional":true,"field":"mo"}"#,
    );
    has(
        &v[0],
        r#"{"type":"struct","fields":[{"type":"int32","optional":false,"field":"scale"},{"type":"bytes","optional":false,"field":"value"}],"name":"io.debezium.data.VariableScaleDecimal","version":1,"doc":"Variable scaled decimal","optional":true,"field":"nu"}"#,
    );
    has(
        &v[0],
        r#"{"type":"string","name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"sad,ok,happy"},"optional":true,"field":"en"}"#,
    );
    // -123450 = 0xfe1dc6 -> "/h3G"; 14285714285714285714 = 0x00c6410d7432b92492 (a sign byte).
    has(
        &v[0],
        r#""after":{"id":0,"mo":"/h3G","nu":{"scale":20,"value":"AMZBDXQyuSSS"},"en":"ok"}"#,
    );
    // NaN has no VariableScaleDecimal: null, as Debezium leaves it.
    has(&v[1], r#""after":{"id":1,"mo":"AA==","nu":null,"en":"ok"}"#);
}

#[test]
fn postgres_money_and_numeric_outside_the_precise_mode_stay_text() {
    let o = DebeziumOptions {
        decimals: DecimalMode::String,
        schemas: false,
        ..opts()
    };
    let out = serialize(&postgres(&[("$7", "12.50")]), &o).unwrap();
    let v = String::from_utf8(out.values.value(0).to_vec()).unwrap();
    // Both stay their exact text outside the precise mode.
    has(&v, r#""after":{"id":0,"mo":"$7","nu":"12.50","en":"ok"}"#);
}

/// MySQL `DATETIME(3)`, `DATETIME(6)`, `TIMESTAMP(3)`, `FLOAT(7,3)`, `MEDIUMINT UNSIGNED`.
fn mysql(op: Op) -> RecordBatch {
    let tz = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let naive = DataType::Timestamp(TimeUnit::Microsecond, None);
    let mut b = builder(
        SourceKind::MySql,
        "shop.k",
        vec![
            Field::new("id", DataType::Int32, false),
            with(
                Field::new("d3", naive.clone(), true),
                &[("arrowtail.precision", "3")],
            ),
            with(
                Field::new("d6", naive, true),
                &[("arrowtail.precision", "6")],
            ),
            with(Field::new("ts", tz, true), &[("arrowtail.precision", "3")]),
            with(
                Field::new("fl", DataType::Float32, true),
                &[
                    (LOGICAL_TYPE, "float"),
                    ("arrowtail.length", "7"),
                    ("arrowtail.scale", "3"),
                ],
            ),
            with(
                Field::new("f", DataType::Float32, true),
                &[(LOGICAL_TYPE, "float")],
            ),
            with(
                Field::new("mu", DataType::UInt32, true),
                &[(LOGICAL_TYPE, "mediumint")],
            ),
        ],
    );
    let c = &mut b.columns;
    if let ColumnBuilder::Int32(x) = &mut c[0] {
        x.append_value(1);
    }
    for col in &mut c[1..=3] {
        if let ColumnBuilder::Timestamp(x) = col {
            x.append_value(981_173_106_500_000);
        }
    }
    for col in &mut c[4..=5] {
        if let ColumnBuilder::Float32(x) = col {
            x.append_value(0.1);
        }
    }
    if let ColumnBuilder::UInt32(x) = &mut c[6] {
        x.append_value(16_777_215);
    }
    b.finish_row(row_meta(op, 0), false, &[]);
    b.flush().unwrap().remove(0)
}

#[test]
fn mysql_declared_precision_float_and_mediumint_forms() {
    let v = values(&mysql(Op::Insert)).remove(0);
    has(
        &v,
        r#"{"type":"int64","name":"io.debezium.time.Timestamp","version":1,"optional":true,"field":"d3"}"#,
    );
    has(
        &v,
        r#"{"type":"int64","name":"io.debezium.time.MicroTimestamp","version":1,"optional":true,"field":"d6"}"#,
    );
    has(&v, r#"{"type":"double","optional":true,"field":"fl"}"#);
    has(&v, r#"{"type":"float","optional":true,"field":"f"}"#);
    has(&v, r#"{"type":"int32","optional":true,"field":"mu"}"#);
    // A streamed TIMESTAMP(3) has three fraction digits.
    has(
        &v,
        r#""after":{"id":1,"d3":981173106500,"d6":981173106500000,"ts":"2001-02-03T04:05:06.500Z","fl":0.1,"f":0.1,"mu":16777215}"#,
    );
    // A snapshot row as few as the value needs, as Debezium's snapshot writes it.
    let v = values(&mysql(Op::Read)).remove(0);
    has(&v, r#""ts":"2001-02-03T04:05:06.5Z""#);
}

#[test]
fn avro_takes_the_same_declared_forms() {
    let ids = SchemaIds {
        key: Some(7),
        value: 300,
    };
    let batch = postgres(&[("-$1,234.50", "-1.50"), ("$1", "Infinity")]);
    let s = avro::schemas(&batch, &opts()).unwrap();
    has(
        &s.value,
        r#"{"name":"mo","type":["null",{"type":"bytes","scale":2,"precision":64,"connect.version":1,"connect.parameters":{"scale":"2"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}],"default":null}"#,
    );
    has(
        &s.value,
        r#"{"name":"nu","type":["null",{"type":"record","name":"VariableScaleDecimal","namespace":"io.debezium.data","fields":[{"name":"scale","type":"int"},{"name":"value","type":"bytes"}]"#,
    );
    let out = avro::serialize(&batch, &opts(), ids).unwrap();
    // before null; after: union 2, id (union 2) 0; mo: union 2, bytes [fe 1d c6]; nu: union 2,
    // scale 1, bytes [f1]; en: union 2, "ok".
    let mut want = vec![2, 2, 0, 2];
    binary::write_bytes(&mut want, &[0xfe, 0x1d, 0xc6]);
    want.push(2);
    binary::write_long(&mut want, 1);
    binary::write_bytes(&mut want, &[0xf1]);
    want.push(2);
    binary::write_string(&mut want, "ok");
    let v = out.values.value(0);
    assert_eq!(&v[5..5 + 1 + want.len()], &[&[0u8][..], &want].concat()[..]);
    // Infinity: nu is the null branch. (before null, after, id 1, mo 1.00)
    let v = out.values.value(1);
    let mut want = vec![0, 2, 2, 2, 2];
    binary::write_bytes(&mut want, &[0x64]);
    want.push(0);
    want.push(2);
    binary::write_string(&mut want, "ok");
    assert_eq!(&v[5..5 + want.len()], &want[..]);

    let batch = mysql(Op::Insert);
    let s = avro::schemas(&batch, &opts()).unwrap();
    has(
        &s.value,
        r#"{"name":"d3","type":["null",{"type":"long","connect.version":1,"connect.name":"io.debezium.time.Timestamp"}],"default":null}"#,
    );
    has(
        &s.value,
        r#"{"name":"fl","type":["null","double"],"default":null}"#,
    );
    has(
        &s.value,
        r#"{"name":"mu","type":["null","int"],"default":null}"#,
    );
    let out = avro::serialize(
        &batch,
        &opts(),
        SchemaIds {
            key: Some(7),
            value: 300,
        },
    )
    .unwrap();
    let v = out.values.value(0);
    let mut want = vec![0, 2, 2, 2, 2];
    binary::write_long(&mut want, 981_173_106_500);
    want.push(2);
    binary::write_long(&mut want, 981_173_106_500_000);
    want.push(2);
    binary::write_string(&mut want, "2001-02-03T04:05:06.500Z");
    want.push(2);
    want.extend_from_slice(&0.1f64.to_le_bytes());
    want.push(2);
    want.extend_from_slice(&0.1f32.to_le_bytes());
    want.push(2);
    binary::write_long(&mut want, 16_777_215);
    assert_eq!(&v[5..5 + want.len()], &want[..]);
}

/// PostgreSQL `timestamp(3)`, `timestamptz(3)`, `timestamptz(0)`, `time(3)` and `time(6)`.
fn postgres_digits(op: Op) -> RecordBatch {
    let tz = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let naive = DataType::Timestamp(TimeUnit::Microsecond, None);
    let time = DataType::Time64(TimeUnit::Microsecond);
    let declared = |name: &str, dt: &DataType, digits: &str| {
        with(
            Field::new(name, dt.clone(), true),
            &[("arrowtail.precision", digits)],
        )
    };
    let mut b = builder(
        SourceKind::Postgres,
        "public.p",
        vec![
            Field::new("id", DataType::Int32, false),
            declared("ts3", &naive, "3"),
            declared("tz3", &tz, "3"),
            declared("tz0", &tz, "0"),
            declared("tm3", &time, "3"),
            declared("tm6", &time, "6"),
        ],
    );
    let c = &mut b.columns;
    if let ColumnBuilder::Int32(x) = &mut c[0] {
        x.append_value(1);
    }
    for (col, v) in c[1..=3].iter_mut().zip([
        981_173_106_500_000,
        981_173_106_500_000,
        981_173_106_000_000,
    ]) {
        if let ColumnBuilder::Timestamp(x) = col {
            x.append_value(v);
        }
    }
    for col in &mut c[4..=5] {
        if let ColumnBuilder::Time64(x) = col {
            x.append_value(45_296_789_000);
        }
    }
    b.finish_row(row_meta(op, 0), false, &[]);
    b.flush().unwrap().remove(0)
}

#[test]
fn postgres_declared_fraction_digits_take_debeziums_adaptive_forms() {
    for op in [Op::Insert, Op::Read] {
        let v = values(&postgres_digits(op)).remove(0);
        has(
            &v,
            r#"{"type":"int64","name":"io.debezium.time.Timestamp","version":1,"optional":true,"field":"ts3"}"#,
        );
        has(
            &v,
            r#"{"type":"int32","name":"io.debezium.time.Time","version":1,"optional":true,"field":"tm3"}"#,
        );
        has(
            &v,
            r#"{"type":"int64","name":"io.debezium.time.MicroTime","version":1,"optional":true,"field":"tm6"}"#,
        );
        // The snapshot's rows as the stream's: the declared digits, none for timestamptz(0).
        has(
            &v,
            r#""after":{"id":1,"ts3":981173106500,"tz3":"2001-02-03T04:05:06.500Z","tz0":"2001-02-03T04:05:06Z","tm3":45296789,"tm6":45296789000}"#,
        );
    }
    let ids = SchemaIds {
        key: Some(7),
        value: 300,
    };
    let batch = postgres_digits(Op::Insert);
    let s = avro::schemas(&batch, &opts()).unwrap();
    has(
        &s.value,
        r#"{"name":"tm3","type":["null",{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Time"}],"default":null}"#,
    );
    let out = avro::serialize(&batch, &opts(), ids).unwrap();
    // after: union 2, id 1, then each column's union 2 and value.
    let mut want = vec![2, 2, 2, 2];
    binary::write_long(&mut want, 981_173_106_500);
    want.push(2);
    binary::write_string(&mut want, "2001-02-03T04:05:06.500Z");
    want.push(2);
    binary::write_string(&mut want, "2001-02-03T04:05:06Z");
    want.push(2);
    binary::write_long(&mut want, 45_296_789);
    want.push(2);
    binary::write_long(&mut want, 45_296_789_000);
    let v = out.values.value(0);
    // Magic byte, schema id, before (null branch), then after.
    assert_eq!(&v[5..5 + 1 + want.len()], &[&[0u8][..], &want].concat()[..]);
}
