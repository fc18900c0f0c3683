//! The Avro type of each column, and the Avro schema texts of Debezium keys and envelopes.
//!
//! A column gets the Kafka Connect type the JSON path declares for it (`schema.rs`: Debezium's
//! semantic types), written the way Kafka Connect's Avro converters map Connect schemas to Avro:
//!
//! - `int8`/`int16` become Avro `int` with `"connect.type"`; `int32` `int`, `int64` `long`,
//!   `float32` `float`, `float64` `double`, `string`, `bytes`, `boolean` as they are; an array
//!   becomes an Avro array of its (nullable) element.
//! - A named Connect type keeps its name and version in `"connect.name"` and `"connect.version"`
//!   and its parameters in `"connect.parameters"` (`io.debezium.time.MicroTimestamp` is a `long`
//!   so annotated); `org.apache.kafka.connect.data.Decimal` is `bytes` with Avro's
//!   `"logicalType": "decimal"` and its `precision` and `scale`.
//! - An optional field is the union `["null", T]` with default null; an optional field with a
//!   default value puts its type first (`source.snapshot`, default `"false"`).
//! - A struct is a record named by the Connect name split at its last dot into namespace and name
//!   (`srv.public.t.Value` is record `Value` in namespace `srv.public.t`), with `"connect.name"`.
//!
//! Names Avro does not accept (`[A-Za-z_][A-Za-z0-9_]*` per dotted part) are adjusted as
//! Debezium's `avro` name adjustment does: every other character becomes `_`, and a leading digit
//! is preceded by `_`.

use arrow_schema::{DataType, Field, IntervalUnit, TimeUnit};

use super::super::declared::{self, Declared};
use super::super::encoder::{logical, NoEncoder};
use super::super::json;
use super::super::keys::Connector;
use super::super::{schema, DecimalMode, Forms};
use super::binary::decimal_bytes;
use arrow_array::cast::AsArray;
use arrow_array::types::Decimal128Type;

/// The Avro primitive a column's values are written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
}

impl Primitive {
    fn name(self) -> &'static str {
        match self {
            Primitive::Boolean => "boolean",
            Primitive::Int => "int",
            Primitive::Long => "long",
            Primitive::Float => "float",
            Primitive::Double => "double",
            Primitive::Bytes => "bytes",
            Primitive::String => "string",
        }
    }
}

/// The Avro type of a column (or of an array's elements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnType {
    pub primitive: Primitive,
    /// Array elements (always nullable); `primitive` is then unused.
    pub items: Option<Box<ColumnType>>,
    /// Connect's narrower integer type (`int16`), kept in `"connect.type"`.
    pub connect_type: Option<&'static str>,
    /// Connect's semantic type name (`io.debezium.time.Date`), version 1.
    pub name: Option<&'static str>,
    pub parameters: Vec<(&'static str, String)>,
    /// `(precision, scale)` of a decimal written as Avro's decimal logical type.
    pub decimal: Option<(u8, i8)>,
    /// One of Debezium's named records, written in place of `primitive`.
    pub record: Option<Record>,
    /// The field's default as Avro JSON (a column's missing value): its union then puts the
    /// type first, as Avro requires of a default that is not null.
    pub default: Option<String>,
}

impl ColumnType {
    fn plain(primitive: Primitive) -> Self {
        Self {
            primitive,
            items: None,
            connect_type: None,
            name: None,
            parameters: Vec::new(),
            decimal: None,
            record: None,
            default: None,
        }
    }

    fn named(primitive: Primitive, name: &'static str) -> Self {
        Self {
            name: Some(name),
            ..Self::plain(primitive)
        }
    }

    fn record(record: Record) -> Self {
        Self {
            record: Some(record),
            ..Self::named(Primitive::Bytes, record.name())
        }
    }

    /// Values of this type can carry Debezium's placeholder for a value the source did not send.
    pub fn takes_placeholder(&self) -> bool {
        self.items.is_none()
            && self.decimal.is_none()
            && self.record.is_none()
            && matches!(self.primitive, Primitive::String | Primitive::Bytes)
    }
}

/// The Avro type of a column: the Connect type `schema.rs` gives it, mapped as the module says.
pub fn column_type(field: &Field, decimals: DecimalMode) -> Result<ColumnType, NoEncoder> {
    column_type_of(field.data_type(), field, decimals)
}

fn column_type_of(
    dt: &DataType,
    field: &Field,
    decimals: DecimalMode,
) -> Result<ColumnType, NoEncoder> {
    use Primitive::*;
    let source_type = logical(field);
    let metadata = |key: &str| field.metadata().get(key).cloned();
    let declared = declared::declared(dt, field);
    let mut t = match (dt, source_type) {
        _ if declared == Some(Declared::VariableDecimal) && decimals == DecimalMode::Precise => {
            ColumnType::record(Record::VariableDecimal)
        }
        // Debezium declares money a Decimal without a precision parameter; Kafka Connect's Avro
        // mapping then gives it its default precision, 64.
        (_, _)
            if decimals == DecimalMode::Precise && matches!(declared, Some(Declared::Money(_))) =>
        {
            let scale = match declared {
                Some(Declared::Money(scale)) => scale,
                _ => 2,
            };
            ColumnType {
                parameters: vec![("scale", scale.to_string())],
                decimal: Some((64, scale)),
                ..ColumnType::named(Bytes, "org.apache.kafka.connect.data.Decimal")
            }
        }
        _ if declared == Some(Declared::MillisTimestamp) => {
            ColumnType::named(Long, "io.debezium.time.Timestamp")
        }
        _ if declared == Some(Declared::MillisTime) => {
            ColumnType::named(Int, "io.debezium.time.Time")
        }
        _ if declared == Some(Declared::FloatAsDouble) => ColumnType::plain(Double),
        _ if declared == Some(Declared::MediumUnsigned) => ColumnType::plain(Int),
        (DataType::Utf8, Some("enum")) => ColumnType::named(String, "io.debezium.data.Enum"),
        (DataType::Utf8, Some("uuid")) => ColumnType::named(String, "io.debezium.data.Uuid"),
        (DataType::Utf8, Some("timetz")) => ColumnType::named(String, "io.debezium.time.ZonedTime"),
        (DataType::List(_), Some("set")) => ColumnType::named(String, "io.debezium.data.EnumSet"),
        (DataType::Int64 | DataType::UInt64 | DataType::Int32 | DataType::UInt32, Some("bit")) => {
            let mut t = ColumnType::named(Bytes, "io.debezium.data.Bits");
            let length = metadata("arrowtail.length").unwrap_or_else(|| "1".into());
            t.parameters.push(("length", length));
            t
        }
        (DataType::Int16 | DataType::UInt16 | DataType::Int32, Some("year")) => {
            ColumnType::named(Int, "io.debezium.time.Year")
        }
        // PostgreSQL bit strings, `point` and the text types Debezium names (`schema.rs`).
        (DataType::Utf8, Some("bit")) if schema::is_single_bit(field) => ColumnType::plain(Boolean),
        (DataType::Utf8, Some("bit")) => {
            let mut t = ColumnType::named(Bytes, "io.debezium.data.Bits");
            t.parameters
                .push(("length", schema::bit_string_length(field)));
            t
        }
        (DataType::Utf8 | DataType::Binary, Some("point")) => ColumnType::record(Record::Point),
        (DataType::Binary, Some("geometry")) => ColumnType::record(Record::Geometry),
        (DataType::Utf8, Some(l)) if schema::named_text(l).is_some() => ColumnType {
            name: schema::named_text(l),
            ..ColumnType::plain(String)
        },
        (DataType::List(child), _) => {
            let element = schema::element_field(child, field);
            ColumnType {
                items: Some(Box::new(column_type_of(
                    element.data_type(),
                    &element,
                    decimals,
                )?)),
                ..ColumnType::plain(Bytes)
            }
        }
        _ => base_type(dt, field, decimals)?,
    };
    if matches!(source_type, Some("enum" | "set")) {
        t.parameters
            .push(("allowed", metadata("arrowtail.allowed").unwrap_or_default()));
    }
    Ok(t)
}

fn base_type(dt: &DataType, field: &Field, decimals: DecimalMode) -> Result<ColumnType, NoEncoder> {
    use Primitive::*;
    let is_json = field
        .metadata()
        .get("ARROW:extension:name")
        .is_some_and(|n| n == "arrow.json");
    Ok(match dt {
        DataType::Boolean => ColumnType::plain(Boolean),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => ColumnType {
            connect_type: Some("int16"),
            ..ColumnType::plain(Int)
        },
        DataType::Int32 | DataType::UInt16 => ColumnType::plain(Int),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => ColumnType::plain(Long),
        DataType::Float32 => ColumnType::plain(Float),
        DataType::Float64 => ColumnType::plain(Double),
        DataType::Decimal128(p, s) => match decimals {
            DecimalMode::String => ColumnType::plain(String),
            DecimalMode::Double => ColumnType::plain(Double),
            DecimalMode::Precise => ColumnType {
                parameters: vec![
                    ("scale", s.to_string()),
                    ("connect.decimal.precision", p.to_string()),
                ],
                decimal: Some((*p, *s)),
                ..ColumnType::named(Bytes, "org.apache.kafka.connect.data.Decimal")
            },
        },
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View if is_json => {
            ColumnType::named(String, "io.debezium.data.Json")
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::plain(String),
        DataType::Dictionary(_, v) if v.as_ref() == &DataType::Utf8 => ColumnType::plain(String),
        DataType::Binary | DataType::LargeBinary => ColumnType::plain(Bytes),
        DataType::FixedSizeBinary(16) => ColumnType::named(String, "io.debezium.data.Uuid"),
        DataType::FixedSizeBinary(_) => ColumnType::plain(Bytes),
        DataType::Date32 => ColumnType::named(Int, "io.debezium.time.Date"),
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            ColumnType::named(Long, "io.debezium.time.MicroTimestamp")
        }
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
            ColumnType::named(String, "io.debezium.time.ZonedTimestamp")
        }
        DataType::Time64(TimeUnit::Microsecond) | DataType::Duration(TimeUnit::Microsecond) => {
            ColumnType::named(Long, "io.debezium.time.MicroTime")
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            ColumnType::named(String, "io.debezium.time.Interval")
        }
        other => {
            return Err(NoEncoder(format!(
                "no Avro type for Arrow type {other} (column {})",
                field.name()
            )))
        }
    })
}

/// A name part Avro accepts: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn avro_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// A dotted full name with each part adjusted ([`avro_name`]).
pub fn full_name(name: &str) -> String {
    name.split('.').map(avro_name).collect::<Vec<_>>().join(".")
}

/// Debezium's named records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// `io.debezium.data.VariableScaleDecimal` (`scale` int, `value` bytes).
    VariableDecimal,
    /// `io.debezium.data.geometry.Point` (`x`, `y` double, `wkb` bytes and `srid` int, both
    /// nullable), of a PostgreSQL `point` or a MySQL/MariaDB `POINT`.
    Point,
    /// `io.debezium.data.geometry.Geometry` (`wkb` bytes, `srid` nullable int), of a
    /// MySQL/MariaDB spatial column other than `POINT`.
    Geometry,
}

impl Record {
    /// Its Connect name (also its Avro full name).
    pub fn name(self) -> &'static str {
        match self {
            Record::VariableDecimal => "io.debezium.data.VariableScaleDecimal",
            Record::Point => "io.debezium.data.geometry.Point",
            Record::Geometry => "io.debezium.data.geometry.Geometry",
        }
    }

    fn definition(self) -> &'static [u8] {
        match self {
            Record::VariableDecimal => DECIMAL_RECORD,
            Record::Point => POINT_RECORD,
            Record::Geometry => GEOMETRY_RECORD,
        }
    }
}

/// The named records a schema has defined so far: a second use names the first's definition.
#[derive(Debug, Default)]
pub struct Defined(Vec<Record>);

/// Writes the Avro schema of a column type (not of the field around it). A second use of one of
/// Debezium's records in a schema names the record defined by the first (`defined`).
pub fn write_type_once(out: &mut Vec<u8>, t: &ColumnType, defined: &mut Defined) {
    if let Some(items) = &t.items {
        out.extend_from_slice(b"{\"type\":\"array\",\"items\":[\"null\",");
        write_type_once(out, items, defined);
        out.extend_from_slice(b"]}");
        return;
    }
    match t.record {
        Some(record) if defined.0.contains(&record) => json::write_str(out, record.name()),
        Some(record) => {
            defined.0.push(record);
            out.extend_from_slice(record.definition());
        }
        None => write_type(out, t),
    }
}

/// Debezium's point record (`io.debezium.data.geometry.Point`).
const POINT_RECORD: &[u8] =
    b"{\"type\":\"record\",\"name\":\"Point\",\"namespace\":\"io.debezium.data.geometry\",\
\"fields\":[{\"name\":\"x\",\"type\":\"double\"},{\"name\":\"y\",\"type\":\"double\"},\
{\"name\":\"wkb\",\"type\":[\"null\",\"bytes\"],\"default\":null},\
{\"name\":\"srid\",\"type\":[\"null\",\"int\"],\"default\":null}],\
\"connect.doc\":\"Geometry (POINT)\",\
\"connect.version\":1,\"connect.name\":\"io.debezium.data.geometry.Point\"}";

/// Debezium's geometry record (`io.debezium.data.geometry.Geometry`).
const GEOMETRY_RECORD: &[u8] =
    b"{\"type\":\"record\",\"name\":\"Geometry\",\"namespace\":\"io.debezium.data.geometry\",\
\"fields\":[{\"name\":\"wkb\",\"type\":\"bytes\"},\
{\"name\":\"srid\",\"type\":[\"null\",\"int\"],\"default\":null}],\
\"connect.doc\":\"Geometry\",\
\"connect.version\":1,\"connect.name\":\"io.debezium.data.geometry.Geometry\"}";

/// Debezium's variable-scale decimal record (`io.debezium.data.VariableScaleDecimal`).
const DECIMAL_RECORD: &[u8] =
    b"{\"type\":\"record\",\"name\":\"VariableScaleDecimal\",\"namespace\":\"io.debezium.data\",\
\"fields\":[{\"name\":\"scale\",\"type\":\"int\"},{\"name\":\"value\",\"type\":\"bytes\"}],\
\"connect.doc\":\"Variable scaled decimal\",\
\"connect.version\":1,\"connect.name\":\"io.debezium.data.VariableScaleDecimal\"}";

/// Writes the Avro schema of a column type (not of the field around it).
pub fn write_type(out: &mut Vec<u8>, t: &ColumnType) {
    if let Some(items) = &t.items {
        out.extend_from_slice(b"{\"type\":\"array\",\"items\":[\"null\",");
        write_type(out, items);
        out.extend_from_slice(b"]}");
        return;
    }
    let annotated = t.connect_type.is_some() || t.name.is_some() || t.decimal.is_some();
    if !annotated {
        json::write_str(out, t.primitive.name());
        return;
    }
    out.extend_from_slice(b"{\"type\":");
    json::write_str(out, t.primitive.name());
    if let Some((precision, scale)) = t.decimal {
        out.extend_from_slice(b",\"scale\":");
        json::write_i64(out, i64::from(scale));
        out.extend_from_slice(b",\"precision\":");
        json::write_u64(out, u64::from(precision));
    }
    if let Some(ct) = t.connect_type {
        out.extend_from_slice(b",\"connect.type\":");
        json::write_str(out, ct);
    }
    if t.name.is_some() {
        out.extend_from_slice(b",\"connect.version\":1");
    }
    if !t.parameters.is_empty() {
        out.extend_from_slice(b",\"connect.parameters\":{");
        for (i, (k, v)) in t.parameters.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, k);
            out.push(b':');
            json::write_str(out, v);
        }
        out.push(b'}');
    }
    if let Some(name) = t.name {
        out.extend_from_slice(b",\"connect.name\":");
        json::write_str(out, name);
    }
    if t.decimal.is_some() {
        out.extend_from_slice(b",\"logicalType\":\"decimal\"");
    }
    out.push(b'}');
}

/// The Avro JSON default of a column with a missing value (`arrowtail.missing_value`): the
/// Connect JSON form of the JSON path where the two agree, a decimal's bytes as the string of
/// their code points (Avro's JSON form of `bytes`); `None` for other bytes, arrays and
/// variable-scale decimals.
pub fn missing_default(field: &Field, t: &ColumnType, forms: Forms) -> Option<String> {
    if t.items.is_some() || t.record.is_some() {
        return None;
    }
    if let Some((_, scale)) = t.decimal {
        // A decimal column, or PostgreSQL money (text, read as the decimal it is sent as).
        let typed = schema::missing_array(field)?;
        let v = match typed.as_primitive_opt::<Decimal128Type>() {
            Some(a) => a.value(0),
            None => declared::money_unscaled(typed.as_string_opt::<i32>()?.value(0), scale)?,
        };
        let (bytes, start) = decimal_bytes(v);
        let text: String = bytes[start..].iter().map(|&b| char::from(b)).collect();
        let mut out = Vec::new();
        json::write_str(&mut out, &text);
        return String::from_utf8(out).ok();
    }
    if t.primitive == Primitive::Bytes {
        return None;
    }
    String::from_utf8(schema::missing_default(field, forms)?).ok()
}

/// Writes a record field: `{"name":..,"type":..}`, as `["null", T]` with default null when
/// `optional`.
fn write_field(out: &mut Vec<u8>, name: &str, optional: bool, ty: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(b"{\"name\":");
    json::write_str(out, &avro_name(name));
    out.extend_from_slice(b",\"type\":");
    if optional {
        out.extend_from_slice(b"[\"null\",");
        ty(out);
        out.extend_from_slice(b"],\"default\":null}");
    } else {
        ty(out);
        out.push(b'}');
    }
}

/// Opens a record named by a Connect name; close it with [`end_record`].
fn begin_record(out: &mut Vec<u8>, connect_name: &str) {
    let full = full_name(connect_name);
    let (namespace, name) = full.rsplit_once('.').unwrap_or(("", full.as_str()));
    out.extend_from_slice(b"{\"type\":\"record\",\"name\":");
    json::write_str(out, name);
    if !namespace.is_empty() {
        out.extend_from_slice(b",\"namespace\":");
        json::write_str(out, namespace);
    }
    out.extend_from_slice(b",\"fields\":[");
}

fn end_record(out: &mut Vec<u8>, connect_name: &str, version: Option<u32>) {
    out.push(b']');
    if let Some(v) = version {
        out.extend_from_slice(b",\"connect.version\":");
        json::write_u64(out, u64::from(v));
    }
    out.extend_from_slice(b",\"connect.name\":");
    json::write_str(out, connect_name);
    out.push(b'}');
}

/// A record of columns: `(name, type, optional)` each.
pub fn write_row_record(
    out: &mut Vec<u8>,
    connect_name: &str,
    columns: &[(&str, &ColumnType, bool)],
) {
    begin_record(out, connect_name);
    let mut defined = Defined::default();
    for (i, (name, t, optional)) in columns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match (&t.default, *optional) {
            (Some(default), true) => write_defaulted_field(out, name, t, default),
            _ => write_field(out, name, *optional, |o| {
                write_type_once(o, t, &mut defined)
            }),
        }
    }
    end_record(out, connect_name, None);
}

/// Writes an optional field with a default: `[T, "null"]`, the default on the field and, as
/// Kafka Connect's Avro converters write it, in `"connect.default"` of the type.
fn write_defaulted_field(out: &mut Vec<u8>, name: &str, t: &ColumnType, default: &str) {
    out.extend_from_slice(b"{\"name\":");
    json::write_str(out, &avro_name(name));
    out.extend_from_slice(b",\"type\":[");
    let mut ty = Vec::new();
    write_type(&mut ty, t);
    if ty.last() == Some(&b'}') {
        ty.pop();
        out.extend_from_slice(&ty);
    } else {
        out.extend_from_slice(b"{\"type\":");
        out.extend_from_slice(&ty);
    }
    out.extend_from_slice(b",\"connect.default\":");
    out.extend_from_slice(default.as_bytes());
    out.extend_from_slice(b"},\"null\"],\"default\":");
    out.extend_from_slice(default.as_bytes());
    out.push(b'}');
}

/// The fields of Debezium's `source` block per connector: `(name, primitive, optional)`, in the
/// order the JSON path writes them; `snapshot` is the enum with default `"false"`.
pub fn source_fields(connector: Connector) -> Vec<(&'static str, Primitive, bool)> {
    use Primitive::*;
    let mut fields = vec![
        ("version", String, false),
        ("connector", String, false),
        ("name", String, false),
        ("ts_ms", Long, false),
        ("snapshot", String, true),
        ("db", String, false),
        ("sequence", String, true),
        ("ts_us", Long, true),
        ("ts_ns", Long, true),
    ];
    if connector == Connector::Postgres {
        fields.extend([
            ("schema", String, false),
            ("table", String, false),
            ("txId", Long, true),
            ("lsn", Long, true),
            ("xmin", Long, true),
            ("origin", String, true),
            ("origin_lsn", Long, true),
        ]);
    } else {
        fields.extend([
            ("table", String, true),
            ("server_id", Long, false),
            ("gtid", String, true),
            ("file", String, false),
            ("pos", Long, false),
            ("row", Int, false),
            ("thread", Long, true),
            ("query", String, true),
        ]);
    }
    fields.push(("seq", Long, false));
    fields
}

/// The values Debezium declares for `source.snapshot`.
const SNAPSHOT_ALLOWED: &str =
    "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental";

fn write_source_record(out: &mut Vec<u8>, connector: Connector) {
    let name = connector.source_record();
    begin_record(out, name);
    for (i, (field, primitive, optional)) in source_fields(connector).into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if field == "snapshot" {
            // Optional with a default value: the type comes first in the union, and the default
            // is of that type.
            out.extend_from_slice(b"{\"name\":\"snapshot\",\"type\":[{\"type\":\"string\",\"connect.version\":1,\"connect.parameters\":{\"allowed\":");
            json::write_str(out, SNAPSHOT_ALLOWED);
            out.extend_from_slice(b"},\"connect.default\":\"false\",\"connect.name\":\"io.debezium.data.Enum\"},\"null\"],\"default\":\"false\"}");
            continue;
        }
        write_field(out, field, optional, |o| {
            json::write_str(o, primitive.name())
        });
    }
    end_record(out, name, Some(1));
}

/// The Avro schema text of a table's key record (`<base>.Key`), `columns` as `(name, type,
/// optional)`.
pub fn key_schema(base: &str, columns: &[(&str, &ColumnType, bool)]) -> String {
    let mut out = Vec::new();
    write_row_record(&mut out, &format!("{base}.Key"), columns);
    String::from_utf8(out).unwrap_or_default()
}

/// The Avro schema text of a table's envelope (`<base>.Envelope`): `before` and `after` share the
/// record `<base>.Value` of `columns`, then `source`, `transaction`, `op` and the timestamps.
pub fn envelope_schema(
    base: &str,
    connector: Connector,
    columns: &[(&str, &ColumnType, bool)],
) -> String {
    let value_name = format!("{base}.Value");
    let envelope_name = format!("{base}.Envelope");
    let mut out = Vec::new();
    begin_record(&mut out, &envelope_name);
    write_field(&mut out, "before", true, |o| {
        write_row_record(o, &value_name, columns)
    });
    out.push(b',');
    write_field(&mut out, "after", true, |o| {
        json::write_str(o, &full_name(&value_name))
    });
    out.push(b',');
    write_field(&mut out, "source", false, |o| {
        write_source_record(o, connector)
    });
    out.push(b',');
    write_field(&mut out, "transaction", true, |o| {
        begin_record(o, "event.block");
        write_field(o, "id", false, |o| json::write_str(o, "string"));
        o.push(b',');
        write_field(o, "total_order", false, |o| json::write_str(o, "long"));
        o.push(b',');
        write_field(o, "data_collection_order", false, |o| {
            json::write_str(o, "long")
        });
        end_record(o, "event.block", Some(1));
    });
    out.push(b',');
    write_field(&mut out, "op", false, |o| json::write_str(o, "string"));
    for ts in ["ts_ms", "ts_us", "ts_ns"] {
        out.push(b',');
        write_field(&mut out, ts, true, |o| json::write_str(o, "long"));
    }
    end_record(&mut out, &envelope_name, Some(2));
    String::from_utf8(out).unwrap_or_default()
}
