//! Avro binary encoding (Avro 1.11 specification, "Binary Encoding") of column values, straight
//! from Arrow arrays: `int` and `long` as zig-zag varints, `float`/`double` as little-endian IEEE
//! 754, `bytes` and `string` as a `long` length and the bytes, a union as the `long` index of the
//! branch and its value, an array as one block (`long` count, the items) and the empty block.
//!
//! As for JSON (`encoder.rs`), an encoder is built once per column and batch, then called per row;
//! the value forms are the JSON path's (ISO text for `timestamptz`, canonical text for uuid, epoch
//! days and microseconds, ...), only their bytes differ. Decimals in Avro's decimal logical type are
//! the unscaled value's minimal big-endian two's complement bytes.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, DurationMicrosecondType, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, IntervalMonthDayNanoType, Time64MicrosecondType,
    TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray};
use arrow_schema::{DataType, Field, IntervalUnit, TimeUnit};

use super::super::declared::{self, Declared};
use super::super::encoder::{logical, NoEncoder};
use super::super::{json, pgtext, spatial, DecimalMode, Forms};
use super::types::{ColumnType, Primitive, Record};
use crate::types::postgres::datetime;

/// Appends a `long` (or `int`): zig-zag, then 7 bits per byte, low groups first.
pub fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends `bytes` or a `string`: the length, then the bytes.
/// Writes Debezium's `Point` record (with `xy`: `x`, `y`, then the WKB as the bytes branch of its
/// union) or `Geometry` record (without: the WKB as plain bytes), then the SRID's union (null for
/// none).
fn write_spatial_record(out: &mut Vec<u8>, xy: Option<(f64, f64)>, wkb: &[u8], srid: Option<i32>) {
    if let Some((x, y)) = xy {
        out.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&y.to_le_bytes());
        out.push(2); // the wkb union's bytes branch
    }
    write_bytes(out, wkb);
    match srid {
        Some(srid) => {
            out.push(2);
            write_long(out, i64::from(srid));
        }
        None => out.push(0),
    }
}

pub fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// Appends a `string`.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    write_bytes(out, s.as_bytes());
}

/// The minimal big-endian two's complement bytes of a decimal's unscaled value (Java
/// `BigInteger.toByteArray`, what Avro's decimal and Kafka Connect's `Decimal` hold).
pub fn decimal_bytes(v: i128) -> ([u8; 16], usize) {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    (bytes, start)
}

/// Appends the Avro form of the (non-null) value at a row.
pub type Encoder<'a> = Box<dyn Fn(&mut Vec<u8>, usize) + 'a>;

/// Writes a JSON-quoted text form through `f` and appends it as an Avro string (the helpers of
/// `json.rs` produce quoted ASCII text that needs no escaping).
fn quoted_as_string(out: &mut Vec<u8>, scratch: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    scratch.clear();
    f(scratch);
    let text = scratch
        .strip_prefix(b"\"")
        .and_then(|s| s.strip_suffix(b"\""))
        .unwrap_or(scratch);
    write_bytes(out, text);
}

/// Encoder of a string form made by a `json.rs` helper, with a reusable scratch buffer.
fn text_form<'a>(f: impl Fn(&mut Vec<u8>, usize) + 'a) -> Encoder<'a> {
    let scratch = std::cell::RefCell::new(Vec::with_capacity(48));
    Box::new(move |out, i| {
        let mut s = scratch.borrow_mut();
        quoted_as_string(out, &mut s, |b| f(b, i));
    })
}

fn long_of<'a, T>(array: &'a dyn Array) -> Encoder<'a>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    let a: &'a PrimitiveArray<T> = array.as_primitive::<T>();
    Box::new(move |out, i| write_long(out, a.value(i).into()))
}

/// The encoder of a column whose declared source type decides its form (see `declared.rs`);
/// None where the Arrow type's form is the one.
fn declared_encoder<'a>(
    array: &'a dyn Array,
    field: &Field,
    t: &ColumnType,
    forms: Forms,
) -> Option<Encoder<'a>> {
    match declared::declared(array.data_type(), field)? {
        Declared::Money(scale) if t.decimal.is_some() => {
            let a = array.as_string_opt::<i32>()?;
            // A value that is no amount is a zero, as a required field has no null.
            Some(Box::new(move |out, i| {
                let v = declared::money_unscaled(a.value(i), scale).unwrap_or(0);
                let (bytes, start) = decimal_bytes(v);
                write_bytes(out, &bytes[start..])
            }))
        }
        Declared::VariableDecimal if t.record == Some(Record::VariableDecimal) => {
            let a = array.as_string_opt::<i32>()?;
            Some(Box::new(move |out, i| {
                let (scale, bytes) = declared::variable_decimal(a.value(i)).unwrap_or((0, vec![0]));
                write_long(out, i64::from(scale));
                write_bytes(out, &bytes);
            }))
        }
        Declared::MillisTimestamp => {
            let a = array.as_primitive_opt::<TimestampMicrosecondType>()?;
            Some(Box::new(move |out, i| {
                write_long(out, a.value(i).div_euclid(1000))
            }))
        }
        Declared::MillisTime => {
            let a = array.as_primitive_opt::<Time64MicrosecondType>()?;
            // Avro's int and long share one encoding.
            Some(Box::new(move |out, i| {
                write_long(out, a.value(i).div_euclid(1000))
            }))
        }
        Declared::InstantDigits(n) if forms.instant_digits(n) => {
            let a = array.as_primitive_opt::<TimestampMicrosecondType>()?;
            Some(text_form(move |o, i| {
                json::write_iso_instant_digits(o, a.value(i), n)
            }))
        }
        Declared::FloatAsDouble => {
            let a = array.as_primitive_opt::<Float32Type>()?;
            // Through the shortest decimal form of the f32, as the JSON path writes it.
            Some(Box::new(move |out, i| {
                let v = a.value(i);
                let v64 = if v.is_finite() {
                    v.to_string().parse::<f64>().unwrap_or(f64::from(v))
                } else {
                    f64::from(v)
                };
                out.extend_from_slice(&v64.to_le_bytes())
            }))
        }
        _ => None,
    }
}

/// The union encoder of a text column read as a decimal (`money`, variable-scale `numeric`):
/// null where the value is null or no finite number (`NaN`, `±Infinity`), as Debezium writes it.
fn declared_union<'a>(array: &'a dyn Array, field: &Field, t: &ColumnType) -> Option<Encoder<'a>> {
    let a = array.as_string_opt::<i32>()?;
    let valid = move |i: usize| array.is_valid(i);
    match declared::declared(array.data_type(), field)? {
        Declared::Money(scale) if t.decimal.is_some() => {
            Some(Box::new(move |out, i| {
                match valid(i)
                    .then(|| declared::money_unscaled(a.value(i), scale))
                    .flatten()
                {
                    None => out.push(0),
                    Some(v) => {
                        out.push(2);
                        let (bytes, start) = decimal_bytes(v);
                        write_bytes(out, &bytes[start..])
                    }
                }
            }))
        }
        Declared::VariableDecimal if t.record == Some(Record::VariableDecimal) => {
            Some(Box::new(move |out, i| {
                match valid(i)
                    .then(|| declared::variable_decimal(a.value(i)))
                    .flatten()
                {
                    None => out.push(0),
                    Some((scale, bytes)) => {
                        out.push(2);
                        write_long(out, i64::from(scale));
                        write_bytes(out, &bytes);
                    }
                }
            }))
        }
        _ => None,
    }
}

/// The encoder of a column whose Avro type is `t` (from [`super::types::column_type`] of the same
/// field); nulls are the caller's business (the union around it).
pub fn value_encoder<'a>(
    array: &'a dyn Array,
    field: &Field,
    t: &ColumnType,
    forms: Forms,
) -> Result<Encoder<'a>, NoEncoder> {
    if let Some(enc) = declared_encoder(array, field, t, forms) {
        return Ok(enc);
    }
    let source_type = logical(field);
    match (array.data_type(), source_type) {
        (DataType::Utf8, Some("timetz")) => {
            let a = array.as_string::<i32>();
            return Ok(Box::new(move |out, i| {
                let v = a.value(i);
                match datetime::timetz_text_to_utc(v) {
                    Some(utc) => write_string(out, &utc),
                    None => write_string(out, v),
                }
            }));
        }
        (DataType::List(_), Some("set")) => {
            let list = array.as_list::<i32>();
            let labels = list
                .values()
                .as_string_opt::<i32>()
                .ok_or_else(|| NoEncoder(format!("set column {} has no labels", field.name())))?;
            let offsets = list.value_offsets();
            return Ok(Box::new(move |out, i| {
                let mut text = String::new();
                for j in offsets[i] as usize..offsets[i + 1] as usize {
                    if !text.is_empty() {
                        text.push(',');
                    }
                    text.push_str(labels.value(j));
                }
                write_string(out, &text)
            }));
        }
        (DataType::Utf8, Some("bit")) => {
            let a = array.as_string::<i32>();
            if t.primitive == Primitive::Boolean {
                return Ok(Box::new(move |out, i| {
                    out.push(u8::from(pgtext::bit_set(a.value(i))))
                }));
            }
            return Ok(Box::new(move |out, i| {
                match pgtext::bit_bytes(a.value(i)) {
                    Some(bytes) => write_bytes(out, &bytes),
                    None => write_string(out, a.value(i)),
                }
            }));
        }
        (DataType::Utf8, Some("hstore")) => {
            let a = array.as_string::<i32>();
            return Ok(Box::new(move |out, i| {
                let mut object = Vec::new();
                match pgtext::write_hstore_json(&mut object, a.value(i)) {
                    Some(()) => write_bytes(out, &object),
                    None => write_string(out, a.value(i)),
                }
            }));
        }
        (DataType::Binary, Some("point" | "geometry"))
            if matches!(t.record, Some(Record::Point | Record::Geometry)) =>
        {
            let a = array.as_binary::<i32>();
            let point = t.record == Some(Record::Point);
            return Ok(Box::new(move |out, i| {
                let (srid, wkb) = spatial::split(a.value(i));
                // A WKB that is no point (no POINT column holds one) is the origin.
                let xy = point.then(|| spatial::point_xy(wkb).unwrap_or((0.0, 0.0)));
                write_spatial_record(out, xy, wkb, srid);
            }));
        }
        (DataType::Utf8, Some("point")) if t.record == Some(Record::Point) => {
            let a = array.as_string::<i32>();
            // A text that is no point (none reaches here from PostgreSQL) is the origin, as a
            // record's x and y have no null.
            return Ok(Box::new(move |out, i| {
                let (x, y) = pgtext::point(a.value(i)).unwrap_or((0.0, 0.0));
                write_spatial_record(out, Some((x, y)), &pgtext::point_wkb(x, y), None);
            }));
        }
        (_, Some("bit")) if t.primitive == Primitive::Bytes => {
            let bits: usize = field
                .metadata()
                .get("arrowtail.length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(1);
            let width = bits.div_ceil(8).clamp(1, 8);
            let values = arrow_cast::cast(array, &DataType::UInt64)
                .map_err(|e| NoEncoder(format!("bit column {}: {e}", field.name())))?;
            return Ok(Box::new(move |out, i| {
                let v = values.as_primitive::<UInt64Type>().value(i);
                write_bytes(out, &v.to_le_bytes()[..width])
            }));
        }
        _ => {}
    }
    Ok(match array.data_type() {
        DataType::Boolean => {
            let a = array.as_boolean();
            Box::new(move |out, i| out.push(u8::from(a.value(i))))
        }
        DataType::Int8 => long_of::<Int8Type>(array),
        DataType::Int16 => long_of::<Int16Type>(array),
        DataType::Int32 => long_of::<Int32Type>(array),
        DataType::Int64 => long_of::<Int64Type>(array),
        DataType::UInt8 => long_of::<UInt8Type>(array),
        DataType::UInt16 => long_of::<UInt16Type>(array),
        DataType::UInt32 => long_of::<UInt32Type>(array),
        DataType::UInt64 => {
            // Declared long: values above 2^63-1 wrap as in a Java long (docs/debezium.md).
            let a = array.as_primitive::<UInt64Type>();
            Box::new(move |out, i| write_long(out, a.value(i) as i64))
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            Box::new(move |out, i| out.extend_from_slice(&a.value(i).to_le_bytes()))
        }
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            Box::new(move |out, i| out.extend_from_slice(&a.value(i).to_le_bytes()))
        }
        DataType::Decimal128(_, scale) => {
            let a = array.as_primitive::<Decimal128Type>();
            let scale = *scale;
            match forms.decimals {
                DecimalMode::Precise => Box::new(move |out, i| {
                    let (bytes, start) = decimal_bytes(a.value(i));
                    write_bytes(out, &bytes[start..])
                }),
                DecimalMode::String => {
                    text_form(move |o, i| json::write_decimal_str(o, a.value(i), scale))
                }
                DecimalMode::Double => Box::new(move |out, i| {
                    let v = a.value(i) as f64 / 10f64.powi(i32::from(scale));
                    out.extend_from_slice(&v.to_le_bytes())
                }),
            }
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            Box::new(move |out, i| write_string(out, a.value(i)))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            Box::new(move |out, i| write_string(out, a.value(i)))
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            Box::new(move |out, i| write_string(out, a.value(i)))
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            Box::new(move |out, i| write_bytes(out, a.value(i)))
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            Box::new(move |out, i| write_bytes(out, a.value(i)))
        }
        DataType::FixedSizeBinary(16) => {
            let a = array.as_fixed_size_binary();
            text_form(move |o, i| json::write_uuid(o, a.value(i)))
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            Box::new(move |out, i| write_bytes(out, a.value(i)))
        }
        DataType::Date32 => long_of::<Date32Type>(array),
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            long_of::<TimestampMicrosecondType>(array)
        }
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
            let a = array.as_primitive::<TimestampMicrosecondType>();
            if forms.short_instants {
                text_form(move |o, i| json::write_iso_instant_short(o, a.value(i)))
            } else {
                text_form(move |o, i| json::write_iso_instant(o, a.value(i)))
            }
        }
        DataType::Time64(TimeUnit::Microsecond) => long_of::<Time64MicrosecondType>(array),
        DataType::Duration(TimeUnit::Microsecond) => long_of::<DurationMicrosecondType>(array),
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let a = array.as_primitive::<IntervalMonthDayNanoType>();
            text_form(move |o, i| {
                let v = a.value(i);
                json::write_iso_interval(o, v.months, v.days, v.nanoseconds)
            })
        }
        DataType::List(child) => {
            let a = array.as_list::<i32>();
            let item_type = t.items.as_deref().ok_or_else(|| {
                NoEncoder(format!("list column {} without item type", field.name()))
            })?;
            let element = super::super::schema::element_field(child, field);
            let items = nullable(a.values().as_ref(), &element, item_type, forms)?;
            let offsets = a.value_offsets();
            Box::new(move |out, i| {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                if end > start {
                    write_long(out, (end - start) as i64);
                    for j in start..end {
                        items(out, j);
                    }
                }
                out.push(0);
            })
        }
        DataType::Dictionary(_, value_type) if value_type.as_ref() == &DataType::Utf8 => {
            let a = array
                .as_any_dictionary_opt()
                .ok_or_else(|| NoEncoder(format!("{} of field {}", array.data_type(), field)))?;
            let keys = a.normalized_keys();
            let values = a.values().as_string::<i32>();
            Box::new(move |out, i| {
                let k = keys.get(i).copied().unwrap_or(0);
                write_string(out, values.value(k))
            })
        }
        other => {
            return Err(NoEncoder(format!(
                "no Avro form for Arrow type {other} (column {})",
                field.name()
            )))
        }
    })
}

/// The encoder of a nullable value: the union `["null", T]`, branch 0 for null, 1 for a value.
pub fn nullable<'a>(
    array: &'a dyn Array,
    field: &Field,
    t: &ColumnType,
    forms: Forms,
) -> Result<Encoder<'a>, NoEncoder> {
    if let Some(enc) = declared_union(array, field, t) {
        return Ok(enc);
    }
    let inner = value_encoder(array, field, t, forms)?;
    Ok(match array.logical_nulls() {
        Some(nulls) if nulls.null_count() > 0 => Box::new(move |out, i| {
            if nulls.is_null(i) {
                out.push(0);
            } else {
                out.push(2);
                inner(out, i);
            }
        }),
        _ => Box::new(move |out, i| {
            out.push(2);
            inner(out, i);
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        write_long(&mut out, v);
        out
    }

    #[test]
    fn longs_are_zigzag_varints() {
        // The examples of the specification's binary encoding section.
        assert_eq!(long(0), [0x00]);
        assert_eq!(long(-1), [0x01]);
        assert_eq!(long(1), [0x02]);
        assert_eq!(long(-2), [0x03]);
        assert_eq!(long(2), [0x04]);
        assert_eq!(long(-64), [0x7f]);
        assert_eq!(long(64), [0x80, 0x01]);
        assert_eq!(
            long(i64::MAX),
            [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(
            long(i64::MIN),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn strings_carry_their_length() {
        let mut out = Vec::new();
        write_string(&mut out, "foo");
        assert_eq!(out, [0x06, b'f', b'o', b'o']);
    }

    #[test]
    fn decimals_are_minimal_twos_complement() {
        let cases: [(i128, &[u8]); 6] = [
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0x00, 0x80]),
            (-1, &[0xff]),
            (-128, &[0x80]),
            (-129, &[0xff, 0x7f]),
        ];
        for (v, want) in cases {
            let (bytes, start) = decimal_bytes(v);
            assert_eq!(&bytes[start..], want, "{v}");
        }
    }
}
