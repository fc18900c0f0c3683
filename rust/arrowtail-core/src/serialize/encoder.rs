//! Per-column JSON value encoders. An encoder is built once per column and batch (the Arrow type
//! is matched and the array downcast once), then called per row; it appends the JSON form of one
//! value. The forms follow Debezium's defaults per source type (see docs/design.md's type mapping
//! and the notes on Debezium's event shape): dates as epoch days, `timestamp` as epoch
//! microseconds, `timestamptz` as an ISO instant, `time` as microseconds of the day, uuid and json
//! as strings, binary as base64, decimals per [`DecimalMode`].

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, DurationMicrosecondType, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, IntervalMonthDayNanoType, Time64MicrosecondType,
    TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray};
use arrow_schema::{DataType, Field, IntervalUnit, TimeUnit};

use super::declared::{self, Declared};
use super::{json, pgtext, schema, spatial};
use super::{DecimalMode, Forms};
use crate::types::postgres::{datetime, LOGICAL_TYPE};

/// The source type a field's metadata names where the Arrow type does not tell it apart
/// (`timetz`, MySQL `enum`, `set`, `bit`, `year`, MariaDB `uuid`).
pub fn logical(field: &Field) -> Option<&str> {
    field.metadata().get(LOGICAL_TYPE).map(String::as_str)
}

/// PostgreSQL `timetz` text as Debezium's `ZonedTime`: the time of day in UTC.
fn timetz_encoder(array: &dyn Array) -> Option<Encoder<'_>> {
    let a = array.as_string_opt::<i32>()?;
    Some(Box::new(move |out, i| {
        let v = a.value(i);
        match datetime::timetz_text_to_utc(v) {
            Some(utc) => json::write_str(out, &utc),
            None => json::write_str(out, v),
        }
    }))
}

/// MySQL `SET` values (a list of labels) as Debezium's `EnumSet`: the labels joined by commas.
fn set_encoder(array: &dyn Array) -> Option<Encoder<'_>> {
    let list = array.as_list_opt::<i32>()?;
    let labels = list.values().as_string_opt::<i32>()?;
    let offsets = list.value_offsets();
    Some(Box::new(move |out, i| {
        let mut text = String::new();
        for j in offsets[i] as usize..offsets[i + 1] as usize {
            if !text.is_empty() {
                text.push(',');
            }
            text.push_str(labels.value(j));
        }
        json::write_str(out, &text)
    }))
}

/// MySQL `BIT(n)` values as Debezium's `Bits`: the ceil(n / 8) low bytes, little-endian; a
/// `BIT(1)` as a boolean, as Debezium's MySQL connectors send it.
fn bit_encoder<'a>(array: &'a dyn Array, field: &Field) -> Option<Encoder<'a>> {
    let bits: usize = field.metadata().get("arrowtail.length")?.parse().ok()?;
    let width = bits.div_ceil(8).clamp(1, 8);
    let values = arrow_cast::cast(array, &DataType::UInt64).ok()?;
    if bits == 1 {
        return Some(Box::new(move |out, i| {
            let set = values.as_primitive::<UInt64Type>().value(i) != 0;
            out.extend_from_slice(if set { b"true" } else { b"false" })
        }));
    }
    Some(Box::new(move |out, i| {
        let v = values.as_primitive::<UInt64Type>().value(i);
        json::write_base64(out, &v.to_le_bytes()[..width])
    }))
}

/// PostgreSQL bit strings (their text) as Debezium's `Bits`, or a boolean for a one-bit column
/// ([`pgtext`]).
fn bit_text_encoder<'a>(array: &'a dyn Array, field: &Field) -> Option<Encoder<'a>> {
    let a = array.as_string_opt::<i32>()?;
    if schema::is_single_bit(field) {
        return Some(Box::new(move |out, i| {
            out.extend_from_slice(if pgtext::bit_set(a.value(i)) {
                b"true"
            } else {
                b"false"
            })
        }));
    }
    Some(Box::new(move |out, i| {
        match pgtext::bit_bytes(a.value(i)) {
            Some(bytes) => json::write_base64(out, &bytes),
            None => json::write_str(out, a.value(i)),
        }
    }))
}

/// PostgreSQL `hstore` text as the text of a JSON object ([`pgtext`]).
fn hstore_encoder(array: &dyn Array) -> Option<Encoder<'_>> {
    let a = array.as_string_opt::<i32>()?;
    Some(Box::new(move |out, i| {
        let mut object = Vec::new();
        match pgtext::write_hstore_json(&mut object, a.value(i)) {
            Some(()) => json::write_str(out, std::str::from_utf8(&object).unwrap_or_default()),
            None => json::write_str(out, a.value(i)),
        }
    }))
}

/// PostgreSQL `point` text as Debezium's `Point` struct ([`pgtext`]).
fn point_encoder(array: &dyn Array) -> Option<Encoder<'_>> {
    let a = array.as_string_opt::<i32>()?;
    Some(Box::new(move |out, i| match pgtext::point(a.value(i)) {
        Some((x, y)) => {
            spatial::write_struct_json(out, Some((x, y)), &pgtext::point_wkb(x, y), None)
        }
        None => json::write_str(out, a.value(i)),
    }))
}

/// The encoder of a column whose declared source type decides its form ([`declared`]); None
/// where the Arrow type's form is the one.
fn declared_encoder<'a>(array: &'a dyn Array, field: &Field, forms: Forms) -> Option<Encoder<'a>> {
    match declared::declared(array.data_type(), field)? {
        Declared::Money(scale) if forms.decimals == DecimalMode::Precise => {
            let a = array.as_string_opt::<i32>()?;
            Some(Box::new(move |out, i| {
                match declared::money_unscaled(a.value(i), scale) {
                    None => out.extend_from_slice(b"null"),
                    Some(v) => json::write_decimal_bytes(out, v),
                }
            }))
        }
        Declared::VariableDecimal if forms.decimals == DecimalMode::Precise => {
            let a = array.as_string_opt::<i32>()?;
            Some(Box::new(move |out, i| {
                match declared::variable_decimal(a.value(i)) {
                    None => out.extend_from_slice(b"null"),
                    Some((scale, bytes)) => {
                        out.extend_from_slice(b"{\"scale\":");
                        json::write_i64(out, i64::from(scale));
                        out.extend_from_slice(b",\"value\":");
                        json::write_base64(out, &bytes);
                        out.push(b'}');
                    }
                }
            }))
        }
        Declared::MillisTimestamp => {
            let a = array.as_primitive_opt::<TimestampMicrosecondType>()?;
            Some(Box::new(move |out, i| {
                json::write_i64(out, a.value(i).div_euclid(1000))
            }))
        }
        Declared::MillisTime => {
            let a = array.as_primitive_opt::<Time64MicrosecondType>()?;
            Some(Box::new(move |out, i| {
                json::write_i64(out, a.value(i).div_euclid(1000))
            }))
        }
        Declared::InstantDigits(n) if forms.instant_digits(n) => {
            let a = array.as_primitive_opt::<TimestampMicrosecondType>()?;
            Some(Box::new(move |out, i| {
                json::write_iso_instant_digits(out, a.value(i), n)
            }))
        }
        _ => None,
    }
}

/// Appends the JSON form of the value at a row.
pub type Encoder<'a> = Box<dyn Fn(&mut Vec<u8>, usize) + 'a>;

/// Why no encoder exists for a column type (turned into `Error::UnsupportedType` by the caller).
#[derive(Debug)]
pub struct NoEncoder(pub String);

/// Builds the encoder of `array` (whose field is `field`); nulls become `null`.
pub fn encoder<'a>(
    array: &'a dyn Array,
    field: &Field,
    forms: Forms,
) -> Result<Encoder<'a>, NoEncoder> {
    let inner = value_encoder(array, field, forms)?;
    Ok(match array.logical_nulls() {
        Some(nulls) if nulls.null_count() > 0 => Box::new(move |out: &mut Vec<u8>, i: usize| {
            if nulls.is_null(i) {
                out.extend_from_slice(b"null");
            } else {
                inner(out, i);
            }
        }),
        _ => inner,
    })
}

fn signed<'a, T>(array: &'a dyn Array) -> Encoder<'a>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    let a: &'a PrimitiveArray<T> = array.as_primitive::<T>();
    Box::new(move |out, i| json::write_i64(out, a.value(i).into()))
}

fn unsigned<'a, T>(array: &'a dyn Array) -> Encoder<'a>
where
    T: ArrowPrimitiveType,
    T::Native: Into<u64>,
{
    let a: &'a PrimitiveArray<T> = array.as_primitive::<T>();
    Box::new(move |out, i| json::write_u64(out, a.value(i).into()))
}

fn value_encoder<'a>(
    array: &'a dyn Array,
    field: &Field,
    forms: Forms,
) -> Result<Encoder<'a>, NoEncoder> {
    let special = match logical(field) {
        Some("timetz") => timetz_encoder(array),
        Some("set") => set_encoder(array),
        Some("bit") if array.data_type() == &DataType::Utf8 => bit_text_encoder(array, field),
        Some("bit") => bit_encoder(array, field),
        Some("hstore") => hstore_encoder(array),
        Some(kind @ ("point" | "geometry")) if array.data_type() == &DataType::Binary => {
            let a = array.as_binary_opt::<i32>();
            let point = kind == "point";
            a.map(|a| -> Encoder<'_> {
                Box::new(move |out, i| spatial::write_json(out, a.value(i), point))
            })
        }
        Some("point") => point_encoder(array),
        _ => None,
    };
    if let Some(enc) = special {
        return Ok(enc);
    }
    if let Some(enc) = declared_encoder(array, field, forms) {
        return Ok(enc);
    }
    Ok(match array.data_type() {
        DataType::Null => Box::new(|out, _| out.extend_from_slice(b"null")),
        DataType::Boolean => {
            let a = array.as_boolean();
            Box::new(move |out, i| {
                out.extend_from_slice(if a.value(i) { b"true" } else { b"false" })
            })
        }
        DataType::Int8 => signed::<Int8Type>(array),
        DataType::Int16 => signed::<Int16Type>(array),
        DataType::Int32 => signed::<Int32Type>(array),
        DataType::Int64 => signed::<Int64Type>(array),
        DataType::UInt8 => unsigned::<UInt8Type>(array),
        DataType::UInt16 => unsigned::<UInt16Type>(array),
        DataType::UInt32 => unsigned::<UInt32Type>(array),
        DataType::UInt64 => unsigned::<UInt64Type>(array),
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            // Through the shortest decimal form of the f32, so 0.1f32 stays "0.1".
            Box::new(move |out, i| {
                let v = a.value(i);
                let v64 = if v.is_finite() {
                    v.to_string().parse::<f64>().unwrap_or(f64::from(v))
                } else {
                    f64::from(v)
                };
                json::write_f64(out, v64)
            })
        }
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            Box::new(move |out, i| json::write_f64(out, a.value(i)))
        }
        DataType::Decimal128(_, scale) => {
            let a = array.as_primitive::<Decimal128Type>();
            let scale = *scale;
            match forms.decimals {
                DecimalMode::String => {
                    Box::new(move |out, i| json::write_decimal_str(out, a.value(i), scale))
                }
                DecimalMode::Precise => {
                    Box::new(move |out, i| json::write_decimal_bytes(out, a.value(i)))
                }
                DecimalMode::Double => {
                    Box::new(move |out, i| json::write_decimal_double(out, a.value(i), scale))
                }
            }
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            Box::new(move |out, i| json::write_str(out, a.value(i)))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            Box::new(move |out, i| json::write_str(out, a.value(i)))
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            Box::new(move |out, i| json::write_str(out, a.value(i)))
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            Box::new(move |out, i| json::write_base64(out, a.value(i)))
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            Box::new(move |out, i| json::write_base64(out, a.value(i)))
        }
        // uuid is the only 16-byte fixed-size binary of the type mapping (arrow.uuid extension).
        DataType::FixedSizeBinary(16) => {
            let a = array.as_fixed_size_binary();
            Box::new(move |out, i| json::write_uuid(out, a.value(i)))
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            Box::new(move |out, i| json::write_base64(out, a.value(i)))
        }
        DataType::Date32 => signed::<Date32Type>(array),
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            signed::<TimestampMicrosecondType>(array)
        }
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
            // The time zone only says how to display; the values are UTC instants.
            let a = array.as_primitive::<TimestampMicrosecondType>();
            if forms.short_instants {
                Box::new(move |out, i| json::write_iso_instant_short(out, a.value(i)))
            } else {
                Box::new(move |out, i| json::write_iso_instant(out, a.value(i)))
            }
        }
        DataType::Time64(TimeUnit::Microsecond) => signed::<Time64MicrosecondType>(array),
        DataType::Duration(TimeUnit::Microsecond) => signed::<DurationMicrosecondType>(array),
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let a = array.as_primitive::<IntervalMonthDayNanoType>();
            Box::new(move |out, i| {
                let v = a.value(i);
                json::write_iso_interval(out, v.months, v.days, v.nanoseconds)
            })
        }
        DataType::List(child) => {
            let a = array.as_list::<i32>();
            let element = schema::element_field(child, field);
            let values = encoder(a.values().as_ref(), &element, forms)?;
            let offsets = a.value_offsets();
            Box::new(move |out, i| {
                out.push(b'[');
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                for j in start..end {
                    if j > start {
                        out.push(b',');
                    }
                    values(out, j);
                }
                out.push(b']');
            })
        }
        DataType::Struct(fields) => {
            let a = array.as_struct();
            let obj = object_encoder(a.columns(), fields.iter().map(|f| f.as_ref()), forms)?;
            Box::new(move |out, i| obj.write(out, i, |_| false))
        }
        DataType::Dictionary(_, value_type) if value_type.as_ref() == &DataType::Utf8 => {
            let a = array
                .as_any_dictionary_opt()
                .ok_or_else(|| NoEncoder(format!("{} of field {}", array.data_type(), field)))?;
            let keys = a.normalized_keys();
            let values = a.values().as_string::<i32>();
            Box::new(move |out, i| {
                let k = keys.get(i).copied().unwrap_or(0);
                json::write_str(out, values.value(k))
            })
        }
        other => {
            return Err(NoEncoder(format!(
                "no JSON form for Arrow type {other} (column {})",
                field.name()
            )))
        }
    })
}

/// Debezium's placeholder in an `hstore` column: the JSON object of the placeholder
/// ([`UNAVAILABLE`]) as key and value.
pub const HSTORE_UNAVAILABLE: &str =
    "{\"__debezium_unavailable_value\":\"__debezium_unavailable_value\"}";

/// Writes JSON objects from a set of columns: `{"name":value,...}`.
pub struct ObjectEncoder<'a> {
    /// Per column: the `"name":` prefix, the value encoder and the JSON of Debezium's
    /// placeholder in the column's type ([`Unsent`]).
    columns: Vec<(Vec<u8>, Encoder<'a>, Vec<u8>)>,
}

/// Placeholder Debezium writes for values the source did not send (unchanged TOAST).
pub const UNAVAILABLE: &str = "__debezium_unavailable_value";

/// The form Debezium's PostgreSQL connector gives its placeholder in a column of each type: the
/// string in text columns, its bytes in binary ones, the JSON object of the string as key and
/// value in `hstore`, a list of the string in arrays of text (`text[]`, `varchar[]`, `json[]`,
/// `jsonb[]`: `arrowtail.logical_type` `text` or `json`), a list of its bytes as numbers in
/// arrays of `int4`, `int8` and `date`, and null in other types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsent {
    Text,
    Bytes,
    Hstore,
    TextList,
    NumberList,
    Null,
}

impl Unsent {
    /// The placeholder's form in a column of `field`'s type.
    pub fn of(field: &Field) -> Self {
        match (field.data_type(), logical(field)) {
            (_, Some("point" | "set" | "timetz" | "bit")) => Unsent::Null,
            (DataType::Utf8, Some("hstore")) => Unsent::Hstore,
            (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View, _) => Unsent::Text,
            (DataType::Binary | DataType::LargeBinary, _) => Unsent::Bytes,
            (DataType::List(child), logical) => match child.data_type() {
                DataType::Utf8 if matches!(logical, Some("text" | "json")) => Unsent::TextList,
                DataType::Int32 | DataType::Int64 | DataType::Date32 => Unsent::NumberList,
                _ => Unsent::Null,
            },
            _ => Unsent::Null,
        }
    }

    /// Its JSON.
    pub fn json(self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Unsent::Text => json::write_str(&mut out, UNAVAILABLE),
            Unsent::Bytes => json::write_base64(&mut out, UNAVAILABLE.as_bytes()),
            Unsent::Hstore => json::write_str(&mut out, HSTORE_UNAVAILABLE),
            Unsent::TextList => {
                out.push(b'[');
                json::write_str(&mut out, UNAVAILABLE);
                out.push(b']');
            }
            Unsent::NumberList => {
                out.push(b'[');
                for (i, b) in UNAVAILABLE.bytes().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json::write_u64(&mut out, u64::from(b));
                }
                out.push(b']');
            }
            Unsent::Null => out.extend_from_slice(b"null"),
        }
        out
    }
}

/// What to do with columns listed in `_unchanged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Write the string `"__debezium_unavailable_value"` as the value (Debezium's behaviour).
    Placeholder,
    /// Leave the field out of the object, so absent is distinguishable from `null`.
    Omit,
}

impl<'a> ObjectEncoder<'a> {
    /// Appends the object of row `i`; `skip(c)` says column `c` was not sent by the source.
    pub fn write(&self, out: &mut Vec<u8>, i: usize, skip: impl Fn(usize) -> bool) {
        self.write_with(out, i, skip, Unavailable::Placeholder)
    }

    /// Like [`write`](Self::write), choosing how unsent columns appear.
    pub fn write_with(
        &self,
        out: &mut Vec<u8>,
        i: usize,
        skip: impl Fn(usize) -> bool,
        mode: Unavailable,
    ) {
        out.push(b'{');
        let mut first = true;
        for (c, (prefix, enc, placeholder)) in self.columns.iter().enumerate() {
            let unsent = skip(c);
            if unsent && mode == Unavailable::Omit {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(prefix);
            if unsent {
                out.extend_from_slice(placeholder);
            } else {
                enc(out, i);
            }
        }
        out.push(b'}');
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True without columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

/// Builds an object encoder over `arrays` named by `fields`.
pub fn object_encoder<'a, 'f>(
    arrays: &'a [arrow_array::ArrayRef],
    fields: impl Iterator<Item = &'f Field>,
    forms: Forms,
) -> Result<ObjectEncoder<'a>, NoEncoder> {
    let columns = arrays
        .iter()
        .zip(fields)
        .map(|(a, f)| {
            let mut prefix = Vec::with_capacity(f.name().len() + 3);
            json::write_str(&mut prefix, f.name());
            prefix.push(b':');
            let unsent = if forms.typed_unsent {
                Unsent::of(f)
            } else {
                Unsent::Text
            };
            Ok((prefix, encoder(a.as_ref(), f, forms)?, unsent.json()))
        })
        .collect::<Result<Vec<_>, NoEncoder>>()?;
    Ok(ObjectEncoder { columns })
}
