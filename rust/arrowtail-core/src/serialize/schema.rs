//! Kafka Connect JSON schemas of Debezium keys and envelopes, for messages written as
//! `{"schema":..,"payload":..}` (the JSON converter with `schemas.enable=true`). The schema of a
//! batch is built once and shared by all its messages.
//!
//! Type names follow Debezium's logical types: `io.debezium.time.Date` (int32 days),
//! `MicroTimestamp` (int64), `ZonedTimestamp` (string), `MicroTime` (int64), `io.debezium.data.Uuid`,
//! `io.debezium.data.Json` (strings), `org.apache.kafka.connect.data.Decimal` (bytes with `scale`
//! and `connect.decimal.precision` parameters) and `io.debezium.time.Interval` (ISO string).
//! Unsigned 64-bit integers are declared int64, as Debezium's MySQL connector does in its `long`
//! mode: values above 2^63-1 stay exact in the JSON text but overflow a Java long.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Date32Array, DurationMicrosecondArray, StringArray, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use arrow_cast::cast::{cast_with_options, CastOptions};
use arrow_schema::{DataType, Field, IntervalUnit, TimeUnit};

use super::debezium::DebeziumOptions;
use super::declared::{self, Declared};
use super::encoder::{self, NoEncoder};
use super::keys::Connector;
use super::{json, DecimalMode, Forms};
use crate::types::postgres::datetime;

/// Field metadata: the value, as source text, that rows written before the column was added
/// hold in it (docs/design.md).
pub const MISSING_VALUE: &str = "arrowtail.missing_value";

/// `(key schema, value schema)` JSON texts for a table.
pub fn schemas(
    opts: &DebeziumOptions,
    qualified: &str,
    connector: Connector,
    user: &[&Field],
    key: &[&Field],
    not_null: &[&str],
) -> Result<(Vec<u8>, Vec<u8>), NoEncoder> {
    let base = format!("{}.{}", opts.topic_prefix, qualified);
    let mut k = Vec::new();
    struct_schema(
        &mut k,
        key,
        false,
        &|_| false,
        &format!("{base}.Key"),
        None,
        opts,
        None,
    )?;
    // A column's missing value is its Connect default, so a consumer that adds the column
    // (Debezium's JDBC sink with `schema.evolution=basic`) gives the rows already there the value
    // the source's rows have.
    let defaults = Some(Forms::of(connector, opts.decimals));
    let mut v = Vec::new();
    v.extend_from_slice(b"{\"type\":\"struct\",\"fields\":[");
    let row_name = format!("{base}.Value");
    // `after` declares the source's NOT NULL columns required, so a sink creating the table
    // keeps the constraint. `before` keeps every column optional: an old image arrowtail did not
    // receive whole (a delete under REPLICA IDENTITY DEFAULT carries only the key) has nulls there.
    struct_schema(
        &mut v,
        user,
        true,
        &|_| true,
        &row_name,
        Some("before"),
        opts,
        defaults,
    )?;
    v.push(b',');
    let optional = |name: &str| !not_null.contains(&name);
    struct_schema(
        &mut v,
        user,
        true,
        &optional,
        &row_name,
        Some("after"),
        opts,
        defaults,
    )?;
    v.push(b',');
    source_schema(&mut v, connector);
    v.extend_from_slice(
        b",{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},\
{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},\
{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],\
\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"}",
    );
    v.extend_from_slice(b",{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}");
    for ts in ["ts_ms", "ts_us", "ts_ns"] {
        v.extend_from_slice(b",{\"type\":\"int64\",\"optional\":true,\"field\":");
        json::write_str(&mut v, ts);
        v.push(b'}');
    }
    v.extend_from_slice(b"],\"optional\":false,\"name\":");
    json::write_str(&mut v, &format!("{base}.Envelope"));
    v.extend_from_slice(b",\"version\":2}");
    Ok((k, v))
}

#[allow(clippy::too_many_arguments)]
fn struct_schema(
    out: &mut Vec<u8>,
    fields: &[&Field],
    optional: bool,
    column_optional: &dyn Fn(&str) -> bool,
    name: &str,
    field: Option<&str>,
    opts: &DebeziumOptions,
    defaults: Option<Forms>,
) -> Result<(), NoEncoder> {
    out.extend_from_slice(b"{\"type\":\"struct\",\"fields\":[");
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        value_schema(
            out,
            f.data_type(),
            f,
            column_optional(f.name()),
            Some(f.name()),
            opts,
        )?;
        if let Some(value) = defaults.and_then(|forms| missing_default(f, forms)) {
            // The field's object is complete: the default goes in before its closing brace.
            out.pop();
            out.extend_from_slice(b",\"default\":");
            out.extend_from_slice(&value);
            out.push(b'}');
        }
    }
    out.extend_from_slice(b"],\"optional\":");
    out.extend_from_slice(if optional { b"true" } else { b"false" });
    out.extend_from_slice(b",\"name\":");
    json::write_str(out, name);
    if let Some(f) = field {
        out.extend_from_slice(b",\"field\":");
        json::write_str(out, f);
    }
    out.push(b'}');
    Ok(())
}

fn value_schema(
    out: &mut Vec<u8>,
    dt: &DataType,
    field: &Field,
    optional: bool,
    name: Option<&str>,
    opts: &DebeziumOptions,
) -> Result<(), NoEncoder> {
    let is_json = field
        .metadata()
        .get("ARROW:extension:name")
        .is_some_and(|n| n == "arrow.json");
    let source_type = super::encoder::logical(field);
    let mut parameters: Vec<(&str, String)> = Vec::new();
    let declared = declared::declared(dt, field);
    let (ty, logical): (&str, Option<&str>) = match (dt, source_type) {
        _ if declared == Some(Declared::VariableDecimal)
            && opts.decimals == DecimalMode::Precise =>
        {
            out.extend_from_slice(VARIABLE_SCALE_DECIMAL.as_bytes());
            return finish(out, optional, name);
        }
        _ if source_type == Some("point") && matches!(dt, DataType::Utf8 | DataType::Binary) => {
            out.extend_from_slice(POINT.as_bytes());
            return finish(out, optional, name);
        }
        _ if source_type == Some("geometry") && matches!(dt, DataType::Binary) => {
            out.extend_from_slice(GEOMETRY.as_bytes());
            return finish(out, optional, name);
        }
        _ if matches!(declared, Some(Declared::Money(_)))
            && opts.decimals == DecimalMode::Precise =>
        {
            if let Some(Declared::Money(scale)) = declared {
                parameters.push(("scale", scale.to_string()));
            }
            ("bytes", Some("org.apache.kafka.connect.data.Decimal"))
        }
        _ if declared == Some(Declared::MillisTimestamp) => {
            ("int64", Some("io.debezium.time.Timestamp"))
        }
        _ if declared == Some(Declared::MillisTime) => ("int32", Some("io.debezium.time.Time")),
        _ if declared == Some(Declared::FloatAsDouble) => ("double", None),
        _ if declared == Some(Declared::MediumUnsigned) => ("int32", None),
        (DataType::Utf8, Some("enum")) => ("string", Some("io.debezium.data.Enum")),
        (DataType::Utf8, Some("uuid")) => ("string", Some("io.debezium.data.Uuid")),
        (DataType::Utf8, Some("timetz")) => ("string", Some("io.debezium.time.ZonedTime")),
        (DataType::List(_), Some("set")) => ("string", Some("io.debezium.data.EnumSet")),
        // Debezium's MySQL connectors send BIT(1) as a boolean, wider BIT(n) as Bits.
        (DataType::Int64 | DataType::UInt64 | DataType::Int32 | DataType::UInt32, Some("bit"))
            if is_single_bit(field) =>
        {
            ("boolean", None)
        }
        (DataType::Int64 | DataType::UInt64 | DataType::Int32 | DataType::UInt32, Some("bit")) => {
            let length = field.metadata().get("arrowtail.length").cloned();
            parameters.push(("length", length.unwrap_or_else(|| "1".into())));
            ("bytes", Some("io.debezium.data.Bits"))
        }
        (DataType::Int16 | DataType::UInt16 | DataType::Int32, Some("year")) => {
            ("int32", Some("io.debezium.time.Year"))
        }
        // Debezium's PostgreSQL connector: a bit string of one bit is a boolean, a longer one
        // `Bits` declaring its length.
        (DataType::Utf8, Some("bit")) if is_single_bit(field) => ("boolean", None),
        (DataType::Utf8, Some("bit")) => {
            parameters.push(("length", bit_string_length(field)));
            ("bytes", Some("io.debezium.data.Bits"))
        }
        (DataType::Utf8, Some(logical)) if named_text(logical).is_some() => {
            ("string", named_text(logical))
        }
        _ => base_type(dt, field, is_json, opts)?,
    };
    if matches!(source_type, Some("enum" | "set")) {
        let allowed = field.metadata().get("arrowtail.allowed").cloned();
        parameters.push(("allowed", allowed.unwrap_or_default()));
    }
    if let DataType::List(child) = dt {
        if source_type != Some("set") {
            out.extend_from_slice(b"{\"type\":\"array\",\"items\":");
            let element = element_field(child, field);
            value_schema(out, element.data_type(), &element, true, None, opts)?;
            return finish(out, optional, name);
        }
    }
    out.extend_from_slice(b"{\"type\":");
    json::write_str(out, ty);
    if let Some(l) = logical {
        out.extend_from_slice(b",\"name\":");
        json::write_str(out, l);
        out.extend_from_slice(b",\"version\":1");
    }
    if let (DataType::Decimal128(p, s), DecimalMode::Precise) = (dt, opts.decimals) {
        parameters.push(("scale", s.to_string()));
        parameters.push(("connect.decimal.precision", p.to_string()));
    }
    if !parameters.is_empty() {
        out.extend_from_slice(b",\"parameters\":{");
        for (i, (k, v)) in parameters.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, k);
            out.push(b':');
            json::write_str(out, v);
        }
        out.push(b'}');
    }
    finish(out, optional, name)
}

/// The JSON form of a column's missing value ([`MISSING_VALUE`]), written as the column's values
/// are; `None` when the column has none, or when its text does not read as the column's type
/// (binary, arrays, intervals, non-finite floats, PostgreSQL's `infinity`: no default is better
/// than a wrong one). MySQL `TIME` (a duration) reads `[-]HHH:MM:SS[.ffffff]`.
pub fn missing_default(field: &Field, forms: Forms) -> Option<Vec<u8>> {
    let typed = missing_array(field)?;
    let write = encoder::encoder(typed.as_ref(), field, forms).ok()?;
    let mut out = Vec::new();
    write(&mut out, 0);
    Some(out)
}

/// A column's missing value as a one-row array of the column's type; `None` as
/// [`missing_default`] says. Dates and times read PostgreSQL's text forms (MySQL's `DATE`,
/// `DATETIME` and `TIME` text reads the same); the rest goes through Arrow's cast from text.
pub fn missing_array(field: &Field) -> Option<ArrayRef> {
    let text = field.metadata().get(MISSING_VALUE)?;
    let typed: ArrayRef = match field.data_type() {
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_)
        | DataType::List(_)
        | DataType::LargeList(_)
        | DataType::Struct(_)
        | DataType::Interval(_) => return None,
        DataType::Float32 | DataType::Float64 if !text.parse::<f64>().is_ok_and(f64::is_finite) => {
            return None
        }
        DataType::Date32 => {
            let days = datetime::date_text(text).ok()?;
            if days == i32::MAX || days == i32::MIN {
                return None;
            }
            Arc::new(Date32Array::from(vec![days]))
        }
        DataType::Timestamp(TimeUnit::Microsecond, zone) => {
            let us = datetime::timestamp_text(text, zone.is_some()).ok()?;
            if us == i64::MAX || us == i64::MIN {
                return None;
            }
            Arc::new(TimestampMicrosecondArray::from(vec![us]).with_timezone_opt(zone.clone()))
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            let us = datetime::time_text(text).ok()?;
            Arc::new(Time64MicrosecondArray::from(vec![us]))
        }
        DataType::Duration(TimeUnit::Microsecond) => Arc::new(DurationMicrosecondArray::from(
            vec![signed_time_micros(text)?],
        )),
        DataType::Duration(_) => return None,
        dt => {
            let strict = CastOptions {
                safe: false,
                ..CastOptions::default()
            };
            cast_with_options(&StringArray::from(vec![text.as_str()]), dt, &strict).ok()?
        }
    };
    typed.is_valid(0).then_some(typed)
}

/// MySQL `TIME` text (`[-]HHH:MM:SS[.ffffff]`, hours up to 838) as signed microseconds.
fn signed_time_micros(text: &str) -> Option<i64> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut parts = body.splitn(3, ':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    let (s, fraction) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) || !digits(s) || fraction.len() > 6 {
        return None;
    }
    if !fraction.is_empty() && !digits(fraction) {
        return None;
    }
    let (h, m, s): (i64, i64, i64) = (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?);
    if h > 838 || m > 59 || s > 59 {
        return None;
    }
    let micros: i64 = format!("{fraction:0<6}").parse().ok()?;
    let total = ((h * 60 + m) * 60 + s) * 1_000_000 + micros;
    Some(if negative { -total } else { total })
}

/// The Connect name of a PostgreSQL type carried as text whose schema Debezium names
/// (`arrowtail.logical_type`): `hstore` is JSON text (`hstore.handling.mode=json`), as are the
/// elements of `json[]` and `jsonb[]` (`json`).
pub(super) fn named_text(logical: &str) -> Option<&'static str> {
    Some(match logical {
        "hstore" | "json" => "io.debezium.data.Json",
        "ltree" => "io.debezium.data.Ltree",
        "xml" => "io.debezium.data.Xml",
        "tsvector" => "io.debezium.data.Tsvector",
        _ => return None,
    })
}

/// The `length` parameter of a PostgreSQL bit string's `Bits`: its declared length, or, for a
/// `bit varying` without one, the length Debezium declares for it (2147483647).
pub(super) fn bit_string_length(field: &Field) -> String {
    match field.metadata().get("arrowtail.length") {
        Some(length) => length.clone(),
        None => i32::MAX.to_string(),
    }
}

/// The field of a list's elements, carrying the list field's `arrowtail.logical_type` and
/// `arrowtail.precision` (an array's logical type and declared digits are its elements').
pub(super) fn element_field(child: &Field, list: &Field) -> Field {
    let inherited: std::collections::HashMap<String, String> =
        [crate::types::postgres::LOGICAL_TYPE, declared::PRECISION]
            .into_iter()
            .filter_map(|key| {
                let value = list.metadata().get(key)?;
                Some((key.to_string(), value.clone()))
            })
            .collect();
    if inherited.is_empty() {
        child.clone()
    } else {
        child.clone().with_metadata(inherited)
    }
}

/// Debezium's `io.debezium.data.geometry.Point` schema, without its closing part.
const POINT: &str = "{\"type\":\"struct\",\"fields\":[\
{\"type\":\"double\",\"optional\":false,\"field\":\"x\"},\
{\"type\":\"double\",\"optional\":false,\"field\":\"y\"},\
{\"type\":\"bytes\",\"optional\":true,\"field\":\"wkb\"},\
{\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}],\
\"name\":\"io.debezium.data.geometry.Point\",\"version\":1,\"doc\":\"Geometry (POINT)\"";

/// Debezium's `io.debezium.data.geometry.Geometry` schema (of a MySQL/MariaDB spatial column
/// other than `POINT`), without its closing part.
const GEOMETRY: &str = "{\"type\":\"struct\",\"fields\":[\
{\"type\":\"bytes\",\"optional\":false,\"field\":\"wkb\"},\
{\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}],\
\"name\":\"io.debezium.data.geometry.Geometry\",\"version\":1,\"doc\":\"Geometry\"";

/// Debezium's `io.debezium.data.VariableScaleDecimal` schema, without its closing part.
const VARIABLE_SCALE_DECIMAL: &str = "{\"type\":\"struct\",\"fields\":[\
{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},\
{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}],\
\"name\":\"io.debezium.data.VariableScaleDecimal\",\"version\":1,\"doc\":\"Variable scaled decimal\"";

/// A MySQL `BIT(1)` column (`arrowtail.length` 1).
pub(super) fn is_single_bit(field: &Field) -> bool {
    field.metadata().get("arrowtail.length").map(String::as_str) == Some("1")
}

/// The Connect type and logical name of an Arrow type, before source-type facts.
fn base_type(
    dt: &DataType,
    field: &Field,
    is_json: bool,
    opts: &DebeziumOptions,
) -> Result<(&'static str, Option<&'static str>), NoEncoder> {
    Ok(match dt {
        DataType::Boolean => ("boolean", None),
        // MySQL TINYINT, which Debezium widens to int16 as well.
        DataType::Int8 => ("int16", None),
        DataType::Int16 | DataType::UInt8 => ("int16", None),
        DataType::Int32 | DataType::UInt16 => ("int32", None),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => ("int64", None),
        DataType::Float32 => ("float", None),
        DataType::Float64 => ("double", None),
        DataType::Decimal128(..) => match opts.decimals {
            DecimalMode::String => ("string", None),
            DecimalMode::Double => ("double", None),
            DecimalMode::Precise => ("bytes", Some("org.apache.kafka.connect.data.Decimal")),
        },
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View if is_json => {
            ("string", Some("io.debezium.data.Json"))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ("string", None),
        DataType::Dictionary(_, v) if v.as_ref() == &DataType::Utf8 => ("string", None),
        DataType::Binary | DataType::LargeBinary => ("bytes", None),
        DataType::FixedSizeBinary(16) => ("string", Some("io.debezium.data.Uuid")),
        DataType::FixedSizeBinary(_) => ("bytes", None),
        DataType::Date32 => ("int32", Some("io.debezium.time.Date")),
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            ("int64", Some("io.debezium.time.MicroTimestamp"))
        }
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
            ("string", Some("io.debezium.time.ZonedTimestamp"))
        }
        DataType::Time64(TimeUnit::Microsecond) | DataType::Duration(TimeUnit::Microsecond) => {
            ("int64", Some("io.debezium.time.MicroTime"))
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            ("string", Some("io.debezium.time.Interval"))
        }
        DataType::List(_) => ("array", None),
        other => {
            return Err(NoEncoder(format!(
                "no Kafka Connect schema for Arrow type {other} (column {})",
                field.name()
            )))
        }
    })
}

fn finish(out: &mut Vec<u8>, optional: bool, name: Option<&str>) -> Result<(), NoEncoder> {
    out.extend_from_slice(b",\"optional\":");
    out.extend_from_slice(if optional { b"true" } else { b"false" });
    if let Some(n) = name {
        out.extend_from_slice(b",\"field\":");
        json::write_str(out, n);
    }
    out.push(b'}');
    Ok(())
}

/// Marks the `snapshot` field of the source schema (written as Debezium's enum).
const SNAPSHOT_ENUM: &str = "enum";

fn source_schema(out: &mut Vec<u8>, connector: Connector) {
    let mysql = connector != Connector::Postgres;
    let common: &[(&str, &str, bool)] = &[
        ("version", "string", false),
        ("connector", "string", false),
        ("name", "string", false),
        ("ts_ms", "int64", false),
        ("snapshot", SNAPSHOT_ENUM, true),
        ("db", "string", false),
        ("sequence", "string", true),
        ("ts_us", "int64", true),
        ("ts_ns", "int64", true),
    ];
    let specific: &[(&str, &str, bool)] = if mysql {
        &[
            ("table", "string", true),
            ("server_id", "int64", false),
            ("gtid", "string", true),
            ("file", "string", false),
            ("pos", "int64", false),
            ("row", "int32", false),
            ("thread", "int64", true),
            ("query", "string", true),
        ]
    } else {
        &[
            ("schema", "string", false),
            ("table", "string", false),
            ("txId", "int64", true),
            ("lsn", "int64", true),
            ("xmin", "int64", true),
            ("origin", "string", true),
            ("origin_lsn", "int64", true),
        ]
    };
    out.extend_from_slice(b"{\"type\":\"struct\",\"fields\":[");
    let all = common
        .iter()
        .chain(specific)
        .chain(&[("seq", "int64", false)]);
    for (i, (name, ty, optional)) in all.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if *ty == SNAPSHOT_ENUM {
            // Debezium declares the snapshot marker an enum of these values (default "false").
            out.extend_from_slice(
                b"{\"type\":\"string\",\"name\":\"io.debezium.data.Enum\",\"version\":1,\
\"parameters\":{\"allowed\":\"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental\"},\
\"default\":\"false\"",
            );
        } else {
            out.extend_from_slice(b"{\"type\":");
            json::write_str(out, ty);
        }
        let _ = finish(out, *optional, Some(name));
        // `finish` closed the object; nothing else to add.
    }
    out.extend_from_slice(b"],\"optional\":false,\"name\":");
    json::write_str(out, connector.source_record());
    out.extend_from_slice(b",\"version\":1,\"field\":\"source\"}");
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn with_missing(name: &str, dt: DataType, text: &str) -> Field {
        Field::new(name, dt, true).with_metadata(HashMap::from([(
            MISSING_VALUE.to_string(),
            text.to_string(),
        )]))
    }

    fn default_of(dt: DataType, text: &str, forms: Forms) -> Option<String> {
        missing_default(&with_missing("c", dt, text), forms).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn missing_values_are_written_as_the_columns_values() {
        let pg = Forms::of(Connector::Postgres, DecimalMode::Precise);
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let cases: &[(DataType, &str, Option<&str>)] = &[
            (DataType::Int32, "7", Some("7")),
            (DataType::Int64, "-9000000000", Some("-9000000000")),
            (DataType::Utf8, "it's \"x\"", Some("\"it's \\\"x\\\"\"")),
            (DataType::Boolean, "t", Some("true")),
            (DataType::Boolean, "f", Some("false")),
            (DataType::Date32, "2024-01-02", Some("19724")),
            (
                DataType::Timestamp(TimeUnit::Microsecond, None),
                "2024-01-02 03:04:05.5",
                Some("1704164645500000"),
            ),
            (
                utc.clone(),
                "2024-01-02 03:04:05+00",
                Some("\"2024-01-02T03:04:05.000000Z\""),
            ),
            (
                DataType::Time64(TimeUnit::Microsecond),
                "12:00:01",
                Some("43201000000"),
            ),
            // 1.50 at scale 2: the unscaled 150 as base64 bytes, as values are written.
            (DataType::Decimal128(8, 2), "1.50", Some("\"AJY=\"")),
            (DataType::Float64, "2.5", Some("2.5")),
            (DataType::Float64, "NaN", None),
            (DataType::Float64, "Infinity", None),
            (DataType::Date32, "infinity", None),
            (DataType::Int32, "seven", None),
            (DataType::Binary, "\\x0102", None),
            (
                DataType::Interval(IntervalUnit::MonthDayNano),
                "1 day",
                None,
            ),
            // MySQL TIME: signed, past a day.
            (
                DataType::Duration(TimeUnit::Microsecond),
                "12:00:01",
                Some("43201000000"),
            ),
            (
                DataType::Duration(TimeUnit::Microsecond),
                "-838:59:59.5",
                Some("-3020399500000"),
            ),
            (DataType::Duration(TimeUnit::Microsecond), "839:00:00", None),
            (DataType::Duration(TimeUnit::Microsecond), "1:2", None),
        ];
        for (dt, text, want) in cases {
            assert_eq!(
                default_of(dt.clone(), text, pg).as_deref(),
                *want,
                "{dt} {text}"
            );
        }
        let string_decimals = Forms::of(Connector::Postgres, DecimalMode::String);
        assert_eq!(
            default_of(DataType::Decimal128(8, 2), "1.5", string_decimals).as_deref(),
            Some("\"1.50\"")
        );
        assert_eq!(
            missing_default(&Field::new("c", DataType::Int32, true), pg),
            None
        );
    }

    #[test]
    fn the_default_is_declared_on_the_row_fields_not_the_key() {
        let opts = DebeziumOptions::default();
        let id = Field::new("id", DataType::Int32, false);
        let added = with_missing("n", DataType::Int32, "7");
        let plain = Field::new("note", DataType::Utf8, true);
        let (key, value) = schemas(
            &opts,
            "public.t",
            Connector::Postgres,
            &[&id, &added, &plain],
            &[&id],
            &["id"],
        )
        .unwrap();
        let value = String::from_utf8(value).unwrap();
        let field = "{\"type\":\"int32\",\"optional\":true,\"field\":\"n\",\"default\":7}";
        assert_eq!(value.matches(field).count(), 2, "{value}");
        // The source block's `snapshot` has its own; no other column has one.
        assert_eq!(value.matches("\"default\"").count(), 3, "{value}");
        assert!(!String::from_utf8(key).unwrap().contains("default"));
    }
}
