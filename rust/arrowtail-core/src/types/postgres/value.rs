//! Appending one PostgreSQL value, in text or binary form, to the Arrow builder of its column.
//! Binary forms are those of the types' `*_send` functions (PostgreSQL sources, `src/backend/utils/
//! adt`); text forms are their output functions under the pinned session settings.

use std::borrow::Cow;

use crate::arrow::{ColumnBuilder, PlainColumn, PlainValues};
use crate::reader::Reader;

use super::datetime::{HIGH, ONES};
use super::numeric::{self, Decimal};
use super::{array, datetime, PgType};

type R<T> = Result<T, String>;

/// The wire form of one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Binary,
}

/// What [`append`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Value,
    /// A NaN or ±Infinity numeric in a decimal column, stored as null (to be counted).
    SpecialNumeric,
}

fn utf8(data: &[u8]) -> R<&str> {
    std::str::from_utf8(data).map_err(|e| format!("invalid UTF-8: {e}"))
}

/// `data` when it is valid UTF-8, checked without making a `str` (for a plain text column, whose
/// bytes become a string array at finish): ASCII, which most text is, by a scan a word at a
/// time; anything else by the full check, failing with the same error as [`utf8`].
#[inline]
fn utf8_bytes(data: &[u8]) -> R<&[u8]> {
    if data.is_ascii() {
        Ok(data)
    } else {
        utf8(data).map(str::as_bytes)
    }
}

fn fixed<const N: usize>(data: &[u8]) -> R<[u8; N]> {
    data.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", data.len()))
}

fn parse<T: std::str::FromStr>(s: &str) -> R<T> {
    s.parse().map_err(|_| format!("bad value {s:?}"))
}

/// A decimal integer straight from its bytes, accepting what `str::parse` accepts (an optional
/// `+`, or `-` for signed types, then ASCII digits; out-of-range values fail). Integer output
/// (`int2out`, `int4out`, `int8out`, `oidout`) is plain ASCII, so no UTF-8 pass is needed: a
/// non-ASCII byte is simply not a digit.
fn int_text<T: TryFrom<i128>>(data: &[u8], signed: bool) -> R<T> {
    let bad = || format!("bad value {:?}", String::from_utf8_lossy(data));
    let (neg, digits) = match data {
        [b'-', rest @ ..] if signed => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, data),
    };
    // 39 digits overflow i128; every target type fails far earlier.
    if digits.is_empty() || digits.len() > 38 {
        return Err(bad());
    }
    let mut acc: i128 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(bad());
        }
        acc = acc * 10 + i128::from(d);
    }
    T::try_from(if neg { -acc } else { acc }).map_err(|_| bad())
}

/// A float's text (`float4out`, `float8out`: digits, sign, point, exponent, or `Infinity`,
/// `-Infinity`, `NaN`) from its bytes. lexical parses it without a UTF-8 pass, correctly rounded
/// like `str::parse` (the two agree value for value, `floats_from_bytes_equal_str_parse`); what
/// lexical refuses is checked and parsed by `str::parse`, for its value or its error.
fn float_text<T: std::str::FromStr + lexical_core::FromLexical>(
    data: &[u8],
    [inf, ninf, nan]: [T; 3],
) -> R<T> {
    match data {
        b"Infinity" => Ok(inf),
        b"-Infinity" => Ok(ninf),
        b"NaN" => Ok(nan),
        _ => match lexical_core::parse(data) {
            Ok(v) => Ok(v),
            Err(_) => float_text_general(data),
        },
    }
}

#[cold]
#[inline(never)]
fn float_text_general<T: std::str::FromStr>(data: &[u8]) -> R<T> {
    parse(utf8(data)?)
}

fn hex(b: u8) -> R<u8> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(format!("bad hex digit {:?}", b as char)),
    }
}

/// bytea text: hex (`\x0a0b`) or the traditional escape form.
fn bytea_text(s: &[u8]) -> R<Vec<u8>> {
    if let Some(h) = s.strip_prefix(b"\\x") {
        if h.len() % 2 != 0 {
            return Err("odd number of hex digits in bytea".into());
        }
        return h
            .chunks_exact(2)
            .map(|p| Ok(hex(p[0])? << 4 | hex(p[1])?))
            .collect();
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
        } else if s.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let o = s.get(i + 1..i + 4).ok_or("bad bytea escape")?;
            let mut v: u16 = 0;
            for &d in o {
                if !(b'0'..=b'7').contains(&d) {
                    return Err("bad bytea escape".into());
                }
                v = v * 8 + u16::from(d - b'0');
            }
            out.push(u8::try_from(v).map_err(|_| "bad bytea escape")?);
            i += 4;
        }
    }
    Ok(out)
}

/// Eight ASCII hex digits (the first in the lowest byte) as four bytes, the first digit the high
/// nibble of the first byte, or None when a byte is not a hex digit. Every byte below 0x80 lets
/// the range tests add per byte without a carry into the next one.
#[inline]
fn hex8(x: u64) -> Option<u32> {
    if x & HIGH != 0 {
        return None;
    }
    // '0'..='9' (0x30..=0x39), and 'a'..='f' with 'A'..='F' folded onto them (bit 5 set): a
    // byte in [lo, hi] has its high bit set by adding 0x80 - lo and clear by adding 0x7F - hi.
    let digit = (x + (0x80 - 0x30) * ONES) & !(x + (0x7F - 0x39) * ONES);
    let folded = x | (0x20 * ONES);
    let letter = (folded + (0x80 - 0x61) * ONES) & !(folded + (0x7F - 0x66) * ONES);
    if (digit | letter) & HIGH != HIGH {
        return None;
    }
    // A digit's value is its low nibble; a letter's (bit 6 set) is its low nibble plus 9.
    let v = (x & (0x0F * ONES)) + 9 * ((x >> 6) & ONES);
    // Each even byte takes its digit as the high nibble and the next byte's as the low one.
    let pairs = ((v << 4) | (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs | (pairs >> 8)) & 0x0000_FFFF_0000_FFFF;
    Some((quads | (quads >> 16)) as u32)
}

/// uuid text: 32 hex digits, hyphens anywhere ignored (`uuid_out` prints 8-4-4-4-12).
fn uuid_text(s: &[u8]) -> R<[u8; 16]> {
    // What uuid_out prints: hyphens at 8, 13, 18 and 23; the digits read eight at a time.
    // Anything else, or a byte that is not a hex digit, goes to the general walk.
    if let Ok(c) = <&[u8; 36]>::try_from(s) {
        if c[8] == b'-' && c[13] == b'-' && c[18] == b'-' && c[23] == b'-' {
            let word = |b: [u8; 8]| hex8(u64::from_le_bytes(b));
            let words = (
                word([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
                word([c[9], c[10], c[11], c[12], c[14], c[15], c[16], c[17]]),
                word([c[19], c[20], c[21], c[22], c[24], c[25], c[26], c[27]]),
                word([c[28], c[29], c[30], c[31], c[32], c[33], c[34], c[35]]),
            );
            if let (Some(a), Some(b), Some(c), Some(d)) = words {
                let v =
                    u128::from(a) | u128::from(b) << 32 | u128::from(c) << 64 | u128::from(d) << 96;
                return Ok(v.to_le_bytes());
            }
        }
    }
    uuid_text_general(s)
}

/// Any uuid text: every byte a hex digit or a hyphen, 32 digits.
fn uuid_text_general(s: &[u8]) -> R<[u8; 16]> {
    let bad = || format!("bad uuid {:?}", String::from_utf8_lossy(s));
    let mut out = [0u8; 16];
    let mut n = 0usize;
    for &b in s {
        if b == b'-' {
            continue;
        }
        let slot = out.get_mut(n / 2).ok_or_else(bad)?;
        let v = hex(b).map_err(|_| bad())?;
        *slot = if n % 2 == 0 { v << 4 } else { *slot | v };
        n += 1;
    }
    if n != 32 {
        return Err(bad());
    }
    Ok(out)
}

/// The text form of a `"char"` byte, as `charout` prints it.
fn char_text(b: u8) -> String {
    match b {
        0 => String::new(),
        1..=127 => (b as char).to_string(),
        _ => format!("\\{b:03o}"),
    }
}

/// A text value for a column of an unknown type given in binary form.
fn other_binary(data: &[u8]) -> R<&str> {
    if data.contains(&0) {
        return Err("binary value of a type without an Arrow mapping (not text); decode this table with binary 'false' or map its type".into());
    }
    utf8(data)
}

/// The values of the types a column keeps either in an Arrow builder or in a plain vector
/// ([`has_plain_storage`]): one parse per type and form, whichever store takes the result.
fn bool_value(format: Format, data: &[u8]) -> R<bool> {
    match format {
        Format::Text => match data {
            b"t" => Ok(true),
            b"f" => Ok(false),
            _ => Err(format!("bad bool {:?}", String::from_utf8_lossy(data))),
        },
        Format::Binary => Ok(fixed::<1>(data)?[0] != 0),
    }
}

#[inline]
fn int_value<T: TryFrom<i128>, const N: usize>(
    format: Format,
    data: &[u8],
    signed: bool,
    from_be: fn([u8; N]) -> T,
) -> R<T> {
    match format {
        Format::Text => int_text(data, signed),
        Format::Binary => Ok(from_be(fixed(data)?)),
    }
}

/// A float type's infinities and NaN, as the text form spells them.
const F32_SPECIAL: [f32; 3] = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
const F64_SPECIAL: [f64; 3] = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN];

#[inline]
fn float_value<T: std::str::FromStr + lexical_core::FromLexical, const N: usize>(
    format: Format,
    data: &[u8],
    special: [T; 3],
    from_be: fn([u8; N]) -> T,
) -> R<T> {
    match format {
        Format::Text => float_text(data, special),
        Format::Binary => Ok(from_be(fixed(data)?)),
    }
}

fn decimal_value(format: Format, data: &[u8], scale: i8) -> R<Decimal> {
    match format {
        // The digits straight from the bytes (no UTF-8 pass); a value they refuse is checked
        // and parsed again for its error.
        Format::Text => match numeric::digits_to_decimal(data, scale) {
            Some(d) => Ok(d),
            None => decimal_text_error(data, scale),
        },
        Format::Binary => numeric::binary_to_decimal(data, scale),
    }
}

/// The outcome of a text numeric that [`numeric::digits_to_decimal`] refused: the UTF-8 check's
/// error or the parser's (kept out of the per-value path).
#[cold]
#[inline(never)]
fn decimal_text_error(data: &[u8], scale: i8) -> R<Decimal> {
    numeric::text_to_decimal(utf8(data)?, scale)
}

fn bytea_value(format: Format, data: &[u8]) -> R<Cow<'_, [u8]>> {
    match format {
        Format::Text => Ok(Cow::Owned(bytea_text(data)?)),
        Format::Binary => Ok(Cow::Borrowed(data)),
    }
}

fn uuid_value(format: Format, data: &[u8]) -> R<[u8; 16]> {
    match format {
        Format::Text => uuid_text(data),
        Format::Binary => fixed::<16>(data),
    }
}

// The canonical date, time and timestamp forms are ASCII: their fast paths read the bytes without a
// UTF-8 pass; anything else is checked and parsed in full.
fn date_value(format: Format, data: &[u8]) -> R<i32> {
    match format {
        Format::Text => match datetime::iso_date_only(data) {
            Some(d) => Ok(d),
            None => datetime::date_text(utf8(data)?),
        },
        Format::Binary => Ok(datetime::date_binary(i32::from_be_bytes(fixed(data)?))),
    }
}

fn timestamp_value(format: Format, data: &[u8], tz: bool) -> R<i64> {
    match format {
        Format::Text => match datetime::iso_timestamp(data, tz) {
            Some(us) => Ok(us),
            None => datetime::timestamp_text(utf8(data)?, tz),
        },
        Format::Binary => datetime::timestamp_binary(i64::from_be_bytes(fixed(data)?)),
    }
}

fn time_value(format: Format, data: &[u8]) -> R<i64> {
    match format {
        Format::Text => match datetime::iso_time(data) {
            Some(us) => Ok(us),
            None => datetime::time_text(utf8(data)?),
        },
        Format::Binary => Ok(i64::from_be_bytes(fixed(data)?)),
    }
}

/// The text of a value of a type stored as `utf8`, for a plain column: the same parsers and
/// errors as [`append`]'s string arms, the result checked UTF-8 (borrowed when the value is its
/// own text).
fn string_value<'a>(ty: &PgType, format: Format, data: &'a [u8]) -> R<Cow<'a, [u8]>> {
    use Format::{Binary, Text};
    Ok(match (ty, format) {
        (
            PgType::Text
            | PgType::Json
            | PgType::Jsonb
            | PgType::Other
            | PgType::NumericText
            | PgType::Char
            | PgType::TimeTz,
            Text,
        )
        | (PgType::Text | PgType::Json, Binary) => Cow::Borrowed(utf8_bytes(data)?),
        (PgType::NumericText, Binary) => Cow::Owned(numeric::binary_to_text(data)?.into_bytes()),
        (PgType::Jsonb, Binary) => {
            // jsonb_send: a version byte (1) then the text form.
            let mut r = Reader::new(data);
            match r.u8().map_err(|e| e.to_string())? {
                1 => Cow::Borrowed(utf8_bytes(r.rest())?),
                v => return Err(format!("unknown jsonb binary version {v}")),
            }
        }
        (PgType::Other, Binary) => Cow::Borrowed(other_binary(data)?.as_bytes()),
        (PgType::Char, Binary) => Cow::Owned(char_text(fixed::<1>(data)?[0]).into_bytes()),
        (PgType::TimeTz, Binary) => {
            let mut r = Reader::new(data);
            let us = r.i64_be().map_err(|e| e.to_string())?;
            let zone = r.i32_be().map_err(|e| e.to_string())?;
            Cow::Owned(datetime::timetz_binary_to_text(us, zone).into_bytes())
        }
        _ => return Err(format!("no text storage for {ty:?}")),
    })
}

macro_rules! builder {
    ($b:expr, $variant:ident) => {
        match $b {
            ColumnBuilder::$variant(x) => x,
            _ => return Err(concat!("column builder is not ", stringify!($variant)).into()),
        }
    };
}

/// Appends one non-null value of type `ty` given in `format` to `builder`, which must have been
/// created for `ty.data_type()`.
pub fn append(b: &mut ColumnBuilder, ty: &PgType, format: Format, data: &[u8]) -> R<Appended> {
    use Format::{Binary, Text};
    if let ColumnBuilder::Plain(p) = b {
        return append_plain(p, ty, format, data);
    }
    let mut r = Reader::new(data);
    let short = |e: crate::reader::Short| e.to_string();
    match (ty, format) {
        (PgType::Bool, _) => builder!(b, Boolean).append_value(bool_value(format, data)?),
        (PgType::Int2, _) => {
            builder!(b, Int16).append_value(int_value(format, data, true, i16::from_be_bytes)?)
        }
        (PgType::Int4, _) => {
            builder!(b, Int32).append_value(int_value(format, data, true, i32::from_be_bytes)?)
        }
        (PgType::Int8, _) => {
            builder!(b, Int64).append_value(int_value(format, data, true, i64::from_be_bytes)?)
        }
        (PgType::Oid, _) => {
            builder!(b, UInt32).append_value(int_value(format, data, false, u32::from_be_bytes)?)
        }
        (PgType::Float4, _) => builder!(b, Float32).append_value(float_value(
            format,
            data,
            F32_SPECIAL,
            f32::from_be_bytes,
        )?),
        (PgType::Float8, _) => builder!(b, Float64).append_value(float_value(
            format,
            data,
            F64_SPECIAL,
            f64::from_be_bytes,
        )?),
        (PgType::Decimal { scale, .. }, _) => {
            let d = decimal_value(format, data, *scale)?;
            let bld = builder!(b, Decimal128);
            match d {
                Decimal::Value(v) => bld.append_value(v),
                Decimal::Special => {
                    bld.append_null();
                    return Ok(Appended::SpecialNumeric);
                }
            }
        }
        (PgType::NumericText, Text) => builder!(b, Utf8).append_value(utf8(data)?),
        (PgType::NumericText, Binary) => {
            builder!(b, Utf8).append_value(numeric::binary_to_text(data)?)
        }
        (PgType::Text | PgType::Json | PgType::Other, Text)
        | (PgType::Text | PgType::Json, Binary) => builder!(b, Utf8).append_value(utf8(data)?),
        (PgType::Jsonb, Text) => builder!(b, Utf8).append_value(utf8(data)?),
        (PgType::Jsonb, Binary) => {
            // jsonb_send: a version byte (1) then the text form.
            match r.u8().map_err(short)? {
                1 => builder!(b, Utf8).append_value(utf8(r.rest())?),
                v => return Err(format!("unknown jsonb binary version {v}")),
            }
        }
        (PgType::Other, Binary) => builder!(b, Utf8).append_value(other_binary(data)?),
        (PgType::Char, Text) => builder!(b, Utf8).append_value(utf8(data)?),
        (PgType::Char, Binary) => builder!(b, Utf8).append_value(char_text(fixed::<1>(data)?[0])),
        (PgType::Bytea, _) => builder!(b, Binary).append_value(bytea_value(format, data)?),
        (PgType::Uuid, _) => builder!(b, FixedSizeBinary)
            .append_value(uuid_value(format, data)?)
            .map_err(|e| e.to_string())?,
        (PgType::Date, _) => builder!(b, Date32).append_value(date_value(format, data)?),
        (PgType::Timestamp | PgType::TimestampTz, _) => {
            let tz = matches!(ty, PgType::TimestampTz);
            builder!(b, Timestamp).append_value(timestamp_value(format, data, tz)?)
        }
        (PgType::Time, _) => builder!(b, Time64).append_value(time_value(format, data)?),
        (PgType::TimeTz, Text) => builder!(b, Utf8).append_value(utf8(data)?),
        (PgType::TimeTz, Binary) => {
            let us = r.i64_be().map_err(short)?;
            let zone = r.i32_be().map_err(short)?;
            builder!(b, Utf8).append_value(datetime::timetz_binary_to_text(us, zone))
        }
        (PgType::Interval, _) => {
            let i = match format {
                Text => datetime::interval_text(utf8(data)?)?,
                Binary => {
                    // interval_send: Int64 µs, Int32 days, Int32 months.
                    let us = r.i64_be().map_err(short)?;
                    let days = r.i32_be().map_err(short)?;
                    let months = r.i32_be().map_err(short)?;
                    datetime::interval_from_parts(months, days, us)?
                }
            };
            builder!(b, Interval).append_value(arrow_buffer::IntervalMonthDayNano::new(
                i.months, i.days, i.nanos,
            ))
        }
        (PgType::Array(elem), _) => return append_array(b, elem, format, data),
    }
    Ok(Appended::Value)
}

/// [`append`] of a value in binary form to a plain column, for the types whose binary value is
/// its bytes (integers, floats, bool, date, time, timestamps, uuid), numerics of up to four
/// base-10000 digits into a decimal and ASCII text, written to be inlined into the per-value loop.
/// It stores only what [`append`] would store the same way and gives `false` for everything else
/// (another type or storage, a length that is not the type's, a timestamp out of range, text that
/// is not ASCII, a column near its byte limit), which the caller then gives to [`append`] for its
/// value or its error.
#[inline(always)]
pub fn append_binary_quick(b: &mut ColumnBuilder, ty: &PgType, data: &[u8]) -> bool {
    binary_quick(b, ty, data).is_some()
}

#[inline(always)]
fn binary_quick(b: &mut ColumnBuilder, ty: &PgType, data: &[u8]) -> Option<()> {
    let ColumnBuilder::Plain(p) = b else {
        return None;
    };
    match (ty, &mut p.values) {
        (PgType::Int8 | PgType::Time, PlainValues::I64(v)) => {
            v.push(i64::from_be_bytes(data.try_into().ok()?));
        }
        (PgType::Timestamp | PgType::TimestampTz, PlainValues::I64(v)) => {
            // The infinities are kept as they are, which the general path does.
            let t = i64::from_be_bytes(data.try_into().ok()?);
            if t == i64::MAX || t == i64::MIN {
                return None;
            }
            v.push(t.checked_add(datetime::PG_EPOCH_US)?);
        }
        (PgType::Int4, PlainValues::I32(v)) => v.push(i32::from_be_bytes(data.try_into().ok()?)),
        (PgType::Date, PlainValues::I32(v)) => {
            v.push(datetime::date_binary(i32::from_be_bytes(
                data.try_into().ok()?,
            )));
        }
        (PgType::Int2, PlainValues::I16(v)) => v.push(i16::from_be_bytes(data.try_into().ok()?)),
        (PgType::Float8, PlainValues::F64(v)) => v.push(f64::from_be_bytes(data.try_into().ok()?)),
        (PgType::Float4, PlainValues::F32(v)) => v.push(f32::from_be_bytes(data.try_into().ok()?)),
        (PgType::Decimal { scale, .. }, PlainValues::I128(v)) => {
            v.push(numeric::small_binary_to_decimal(data, *scale)?);
        }
        (PgType::Bool, PlainValues::Bool(v)) => match data {
            [x] => v.push(*x != 0),
            _ => return None,
        },
        (PgType::Uuid, PlainValues::Fixed16(v)) if data.len() == 16 => v.extend_from_slice(data),
        (PgType::Text | PgType::Json | PgType::Jsonb, PlainValues::Str { offsets, bytes }) => {
            let text = match (ty, data) {
                // jsonb_send: a version byte (1) then the text form.
                (PgType::Jsonb, [1, rest @ ..]) => rest,
                (PgType::Jsonb, _) => return None,
                _ => data,
            };
            push_ascii(offsets, bytes, text)?;
        }
        _ => return None,
    }
    Some(())
}

/// [`append_binary_quick`] for values in text form: the common types through their byte parsers,
/// without [`append`]'s call and dispatch. A value a parser refuses, a special value (a float's
/// or numeric's infinities and NaN), non-ASCII text and every other type give `false`, and the
/// caller gives them to [`append`] for its value or its error.
#[inline(always)]
pub fn append_text_quick(b: &mut ColumnBuilder, ty: &PgType, data: &[u8]) -> bool {
    text_quick(b, ty, data).is_some()
}

#[inline(always)]
fn text_quick(b: &mut ColumnBuilder, ty: &PgType, data: &[u8]) -> Option<()> {
    let ColumnBuilder::Plain(p) = b else {
        return None;
    };
    match (ty, &mut p.values) {
        (PgType::Int8, PlainValues::I64(v)) => v.push(int_text(data, true).ok()?),
        (PgType::Int4, PlainValues::I32(v)) => v.push(int_text(data, true).ok()?),
        (PgType::Int2, PlainValues::I16(v)) => v.push(int_text(data, true).ok()?),
        (PgType::Timestamp | PgType::TimestampTz, PlainValues::I64(v)) => {
            v.push(datetime::iso_timestamp(
                data,
                matches!(ty, PgType::TimestampTz),
            )?);
        }
        (PgType::Date, PlainValues::I32(v)) => v.push(datetime::iso_date_only(data)?),
        (PgType::Float8, PlainValues::F64(v)) => match data {
            // Spelled out by the general path, as `float_text` does.
            b"Infinity" | b"-Infinity" | b"NaN" => return None,
            _ => v.push(lexical_core::parse(data).ok()?),
        },
        (PgType::Decimal { scale, .. }, PlainValues::I128(v)) => {
            match numeric::digits_to_decimal(data, *scale)? {
                Decimal::Value(x) => v.push(x),
                Decimal::Special => return None,
            }
        }
        (PgType::Bool, PlainValues::Bool(v)) => match data {
            b"t" => v.push(true),
            b"f" => v.push(false),
            _ => return None,
        },
        (PgType::Uuid, PlainValues::Fixed16(v)) => v.extend_from_slice(&uuid_text(data).ok()?),
        (PgType::Text | PgType::Json | PgType::Jsonb, PlainValues::Str { offsets, bytes }) => {
            push_ascii(offsets, bytes, data)?;
        }
        _ => return None,
    }
    Some(())
}

/// Pushes an ASCII value onto a plain text column's vectors; `None` (nothing pushed) for text
/// that is not ASCII or that would take the column past 32-bit offsets.
#[inline(always)]
fn push_ascii(offsets: &mut Vec<i32>, bytes: &mut Vec<u8>, text: &[u8]) -> Option<()> {
    let end = i32::try_from(bytes.len() + text.len()).ok()?;
    if !text.is_ascii() {
        return None;
    }
    bytes.extend_from_slice(text);
    offsets.push(end);
    Some(())
}

macro_rules! plain {
    ($p:expr, $variant:ident) => {
        match &mut $p.values {
            PlainValues::$variant(v) => v,
            _ => return Err(concat!("plain column is not ", stringify!($variant)).into()),
        }
    };
}

/// Whether a column of `ty` is stored in a [`PlainColumn`] by [`append`] (the types of
/// [`PlainColumn::new`] that [`append_plain`] parses).
pub fn has_plain_storage(ty: &PgType) -> bool {
    matches!(
        ty,
        PgType::Bool
            | PgType::Int2
            | PgType::Int4
            | PgType::Int8
            | PgType::Oid
            | PgType::Float4
            | PgType::Float8
            | PgType::Decimal { .. }
            | PgType::Bytea
            | PgType::Uuid
            | PgType::Date
            | PgType::Timestamp
            | PgType::TimestampTz
            | PgType::Time
            | PgType::NumericText
            | PgType::Text
            | PgType::Char
            | PgType::TimeTz
            | PgType::Json
            | PgType::Jsonb
            | PgType::Other
    )
}

/// [`append`] into a plain column: the same parsers and the same errors, the value pushed onto
/// the column's vector.
fn append_plain(p: &mut PlainColumn, ty: &PgType, format: Format, data: &[u8]) -> R<Appended> {
    match ty {
        PgType::Bool => plain!(p, Bool).push(bool_value(format, data)?),
        PgType::Int2 => plain!(p, I16).push(int_value(format, data, true, i16::from_be_bytes)?),
        PgType::Int4 => plain!(p, I32).push(int_value(format, data, true, i32::from_be_bytes)?),
        PgType::Int8 => plain!(p, I64).push(int_value(format, data, true, i64::from_be_bytes)?),
        PgType::Oid => plain!(p, U32).push(int_value(format, data, false, u32::from_be_bytes)?),
        PgType::Float4 => {
            plain!(p, F32).push(float_value(format, data, F32_SPECIAL, f32::from_be_bytes)?)
        }
        PgType::Float8 => {
            plain!(p, F64).push(float_value(format, data, F64_SPECIAL, f64::from_be_bytes)?)
        }
        PgType::Decimal { scale, .. } => match decimal_value(format, data, *scale)? {
            Decimal::Value(v) => plain!(p, I128).push(v),
            Decimal::Special => {
                p.append_null();
                return Ok(Appended::SpecialNumeric);
            }
        },
        PgType::Bytea => p.push_bytes(&bytea_value(format, data)?)?,
        PgType::Uuid => plain!(p, Fixed16).extend_from_slice(&uuid_value(format, data)?),
        PgType::Date => plain!(p, I32).push(date_value(format, data)?),
        PgType::Timestamp | PgType::TimestampTz => {
            let tz = matches!(ty, PgType::TimestampTz);
            plain!(p, I64).push(timestamp_value(format, data, tz)?)
        }
        PgType::Time => plain!(p, I64).push(time_value(format, data)?),
        PgType::NumericText
        | PgType::Text
        | PgType::Char
        | PgType::TimeTz
        | PgType::Json
        | PgType::Jsonb
        | PgType::Other => p.push_str(&string_value(ty, format, data)?)?,
        _ => return Err(format!("no plain storage for {ty:?}")),
    }
    Ok(Appended::Value)
}

fn append_array(b: &mut ColumnBuilder, elem: &PgType, format: Format, data: &[u8]) -> R<Appended> {
    let list = match b {
        ColumnBuilder::List(l) => l,
        _ => return Err("column builder is not a list".into()),
    };
    let elements: Vec<Option<Cow<'_, [u8]>>> = match format {
        Format::Text => array::split_text(utf8(data)?)?
            .into_iter()
            .map(|e| {
                e.map(|c| match c {
                    Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                    Cow::Owned(s) => Cow::Owned(s.into_bytes()),
                })
            })
            .collect(),
        Format::Binary => array::split_binary(data)?
            .into_iter()
            .map(|e| e.map(Cow::Borrowed))
            .collect(),
    };
    let mut outcome = Appended::Value;
    for e in &elements {
        let r = match e {
            None => {
                list.values.append_null();
                Ok(Appended::Value)
            }
            Some(v) => append(&mut list.values, elem, format, v),
        };
        match r {
            Ok(Appended::SpecialNumeric) => outcome = Appended::SpecialNumeric,
            Ok(Appended::Value) => {}
            Err(e) => {
                // Close the list so the half-appended elements belong to this (abandoned) row.
                let _ = list.append(true);
                return Err(format!("array element: {e}"));
            }
        }
    }
    list.append(true).map_err(|e| e.to_string())?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Decimal128Array, ListArray, StringArray};

    fn both(ty: &PgType, text: &str, binary: &[u8]) -> (arrow_array::ArrayRef, Appended) {
        let mut b = ColumnBuilder::new(&ty.data_type()).unwrap();
        let a1 = append(&mut b, ty, Format::Text, text.as_bytes()).unwrap();
        let a2 = append(&mut b, ty, Format::Binary, binary).unwrap();
        assert_eq!(a1, a2);
        let arr = b.finish().unwrap();
        assert_eq!(arr.len(), 2);
        assert_eq!(
            arr.slice(0, 1).to_data(),
            arr.slice(1, 1).to_data(),
            "text {text:?} and binary forms differ for {ty:?}"
        );
        (arr, a1)
    }

    #[test]
    fn text_and_binary_agree() {
        both(&PgType::Bool, "t", &[1]);
        both(&PgType::Int2, "-2", &(-2i16).to_be_bytes());
        both(
            &PgType::Int8,
            "9223372036854775807",
            &i64::MAX.to_be_bytes(),
        );
        both(&PgType::Float8, "0.1", &0.1f64.to_be_bytes());
        both(
            &PgType::Float4,
            "-Infinity",
            &f32::NEG_INFINITY.to_be_bytes(),
        );
        both(&PgType::Text, "héllo", "héllo".as_bytes());
        both(&PgType::Bytea, "\\x00ff", &[0, 255]);
        both(&PgType::Date, "2000-01-02", &1i32.to_be_bytes());
        both(&PgType::Date, "-infinity", &i32::MIN.to_be_bytes());
        both(
            &PgType::TimestampTz,
            "2000-01-01 00:00:00.000001+00",
            &1i64.to_be_bytes(),
        );
        both(&PgType::Timestamp, "infinity", &i64::MAX.to_be_bytes());
        both(&PgType::Time, "00:00:01", &1_000_000i64.to_be_bytes());
        let mut tz = 3_600_000_000i64.to_be_bytes().to_vec();
        tz.extend((-7200i32).to_be_bytes());
        both(&PgType::TimeTz, "01:00:00+02", &tz);
        let mut iv = 1_000_000i64.to_be_bytes().to_vec();
        iv.extend(2i32.to_be_bytes());
        iv.extend(14i32.to_be_bytes());
        both(&PgType::Interval, "1 year 2 mons 2 days 00:00:01", &iv);
        both(
            &PgType::Uuid,
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            &[
                0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
                0x0a, 0x11,
            ],
        );
        both(&PgType::Jsonb, r#"{"a": 1}"#, b"\x01{\"a\": 1}");
        both(&PgType::Char, "\\201", &[0x81]);
        let n = numeric::encode(0, 0, 2, &[12, 3400]);
        both(&PgType::NumericText, "12.34", &n);
        let (arr, _) = both(
            &PgType::Decimal {
                precision: 10,
                scale: 2,
            },
            "12.34",
            &n,
        );
        let d = arr.as_any().downcast_ref::<Decimal128Array>().unwrap();
        assert_eq!(d.value(0), 1234);
        let nan = numeric::encode(0xC000, 0, 0, &[]);
        let (arr, a) = both(
            &PgType::Decimal {
                precision: 10,
                scale: 2,
            },
            "NaN",
            &nan,
        );
        assert_eq!(a, Appended::SpecialNumeric);
        assert!(arr.is_null(0));
    }

    /// Every type with plain storage, a value of it in text and in binary form, and a second
    /// value in text form.
    fn plain_cases() -> Vec<(PgType, &'static str, Vec<u8>, &'static str)> {
        let dec = PgType::Decimal {
            precision: 10,
            scale: 2,
        };
        let mut timetz = 3_600_000_000i64.to_be_bytes().to_vec();
        timetz.extend((-7200i32).to_be_bytes());
        vec![
            (PgType::Bool, "t", vec![1], "f"),
            (PgType::Int2, "-2", (-2i16).to_be_bytes().to_vec(), "7"),
            (PgType::Int4, "40000", 40000i32.to_be_bytes().to_vec(), "-1"),
            (PgType::Int8, "-5", (-5i64).to_be_bytes().to_vec(), "9"),
            (
                PgType::Oid,
                "42",
                42u32.to_be_bytes().to_vec(),
                "4294967295",
            ),
            (PgType::Float4, "1.5", 1.5f32.to_be_bytes().to_vec(), "NaN"),
            (
                PgType::Float8,
                "0.1",
                0.1f64.to_be_bytes().to_vec(),
                "-Infinity",
            ),
            (dec, "12.34", numeric::encode(0, 0, 2, &[12, 3400]), "NaN"),
            (PgType::Bytea, "\\x00ff", vec![0, 255], "\\x"),
            (
                PgType::Uuid,
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                vec![
                    0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd,
                    0x38, 0x0a, 0x11,
                ],
                "00000000-0000-0000-0000-000000000001",
            ),
            (
                PgType::Date,
                "2000-01-02",
                1i32.to_be_bytes().to_vec(),
                "infinity",
            ),
            (
                PgType::TimestampTz,
                "2000-01-01 00:00:00.000001+00",
                1i64.to_be_bytes().to_vec(),
                "1999-12-31 23:59:59+00",
            ),
            (
                PgType::Timestamp,
                "infinity",
                i64::MAX.to_be_bytes().to_vec(),
                "2024-02-29 12:00:00",
            ),
            (
                PgType::Time,
                "00:00:01",
                1_000_000i64.to_be_bytes().to_vec(),
                "23:59:59.5",
            ),
            (PgType::Text, "héllo", "héllo".as_bytes().to_vec(), ""),
            (PgType::Json, r#"{"a": 1}"#, br#"{"a": 1}"#.to_vec(), "[]"),
            (
                PgType::Jsonb,
                r#"{"a": "é"}"#,
                "\u{1}{\"a\": \"é\"}".as_bytes().to_vec(),
                "null",
            ),
            (PgType::Other, "happy", b"happy".to_vec(), "ünïcode"),
            (
                PgType::NumericText,
                "12.34",
                numeric::encode(0, 0, 2, &[12, 3400]),
                "NaN",
            ),
            (PgType::Char, "\\201", vec![0x81], "a"),
            (PgType::TimeTz, "01:00:00+02", timetz, "23:59:59.5-03:30"),
        ]
    }

    #[test]
    fn plain_columns_equal_arrow_builders() {
        for (ty, text, binary, other) in plain_cases() {
            assert!(has_plain_storage(&ty), "{ty:?}");
            let dt = ty.data_type();
            let mut arrow = ColumnBuilder::new(&dt).unwrap();
            let mut plain = ColumnBuilder::plain(&dt).unwrap();
            assert!(matches!(plain, ColumnBuilder::Plain(_)), "{ty:?}");
            // Two batches from the same builders: the second starts from the reused vectors.
            for round in 0..2 {
                for b in [&mut arrow, &mut plain] {
                    if round == 1 {
                        b.append_nulls(2);
                    }
                    append(b, &ty, Format::Text, text.as_bytes()).unwrap();
                    b.append_null();
                    append(b, &ty, Format::Binary, &binary).unwrap();
                    b.append_nulls(3);
                    let a = append(b, &ty, Format::Text, other.as_bytes()).unwrap();
                    // A NaN numeric is a null that the caller counts.
                    let special = matches!(ty, PgType::Decimal { .. }) && other == "NaN";
                    assert_eq!(a == Appended::SpecialNumeric, special, "{ty:?}");
                    if ty != PgType::Bytea {
                        // A failed value appends nothing (the bytes are neither UTF-8 nor of any
                        // fixed width, a zero among them, a bad jsonb version first).
                        let bad = [0xff, 0, 0xfe];
                        assert!(append(b, &ty, Format::Binary, &bad).is_err(), "{ty:?}");
                    }
                    b.append_null();
                }
                assert_eq!(plain.len(), arrow.len(), "{ty:?}");
                assert_eq!(plain.offset_use(), arrow.offset_use(), "{ty:?}");
                assert_eq!(plain.has_offsets(), arrow.has_offsets(), "{ty:?}");
                let (want, got) = (arrow.finish().unwrap(), plain.finish().unwrap());
                assert_eq!(got.data_type(), want.data_type(), "{ty:?}");
                assert_eq!(got.to_data(), want.to_data(), "{ty:?} round {round}");
                assert_eq!(got.logical_nulls(), want.logical_nulls(), "{ty:?}");
                assert!(plain.is_empty());
            }
        }
    }

    /// Stores `data` through the quick path of its form, falling back to [`append`] as the
    /// decoder does.
    fn quick_or_append(
        b: &mut ColumnBuilder,
        ty: &PgType,
        format: Format,
        data: &[u8],
    ) -> (bool, R<Appended>) {
        let took = match format {
            Format::Binary => append_binary_quick(b, ty, data),
            Format::Text => append_text_quick(b, ty, data),
        };
        if took {
            (true, Ok(Appended::Value))
        } else {
            (false, append(b, ty, format, data))
        }
    }

    /// The column after `inputs` through the quick path (with its fallback) equals the column
    /// after the same inputs through [`append`] alone, and every input had the same outcome; gives
    /// how many inputs the quick path took.
    fn quick_agrees(ty: &PgType, format: Format, inputs: &[Vec<u8>]) -> usize {
        let dt = ty.data_type();
        let mut quick = ColumnBuilder::plain(&dt).unwrap();
        let mut general = ColumnBuilder::plain(&dt).unwrap();
        let mut taken = 0;
        for data in inputs {
            let (took, got) = quick_or_append(&mut quick, ty, format, data);
            let want = append(&mut general, ty, format, data);
            assert_eq!(got, want, "{ty:?} {format:?} {data:?}");
            if took {
                assert_eq!(want, Ok(Appended::Value), "{ty:?} {format:?} {data:?}");
                taken += 1;
            }
            assert_eq!(quick.len(), general.len(), "{ty:?} {format:?} {data:?}");
            assert_eq!(quick.offset_use(), general.offset_use(), "{ty:?}");
        }
        let (got, want) = (quick.finish().unwrap(), general.finish().unwrap());
        assert_eq!(got.to_data(), want.to_data(), "{ty:?} {format:?}");
        taken
    }

    /// Types and binary values at the edges of what the quick path takes.
    fn quick_edge_cases() -> Vec<(PgType, Vec<Vec<u8>>)> {
        let be8 = |v: i64| v.to_be_bytes().to_vec();
        let stamps = vec![
            be8(0),
            be8(1),
            be8(-1),
            be8(i64::MAX),
            be8(i64::MIN),
            be8(i64::MAX - 1),
            be8(i64::MIN + 1),
            be8(i64::MAX - super::datetime::PG_EPOCH_US),
            be8(i64::MAX - super::datetime::PG_EPOCH_US + 1),
        ];
        let dec = |scale| PgType::Decimal {
            precision: 38,
            scale,
        };
        let mut numerics = vec![
            numeric::encode(0, 0, 2, &[12, 3400]),
            numeric::encode(0x4000, 0, 2, &[12, 3400]),
            numeric::encode(0, 1, 0, &[1, 0]),
            numeric::encode(0, -1, 4, &[1]),
            numeric::encode(0, 0, 0, &[]),
            numeric::encode(0x4000, 4, 0, &[9999, 9999, 9999, 9999]),
            numeric::encode(0, 0, 0, &[9999, 9999, 9999, 9999, 9999]),
            numeric::encode(0, 3, 0, &[922, 3372, 368, 5477]),
            numeric::encode(0, 3, 0, &[922, 3372, 368, 5478]),
            numeric::encode(0xC000, 0, 0, &[]),
            numeric::encode(0xD000, 0, 0, &[]),
            numeric::encode(0xF000, 0, 0, &[]),
            numeric::encode(0x1234, 0, 0, &[1]),
            numeric::encode(0, 0, 0, &[10_000]),
            numeric::encode(0, 0, 0, &[-1]),
            numeric::encode(0, -3, 9, &[5]),
        ];
        let mut cut = numeric::encode(0, 0, 2, &[12, 3400]);
        cut.pop();
        numerics.push(cut);
        numerics.push(vec![0xff, 0xff, 0, 0, 0, 0, 0, 0]);
        numerics.push(vec![0, 1, 0, 0]);
        let texts = vec![
            b"plain ascii".to_vec(),
            Vec::new(),
            "héllo".as_bytes().to_vec(),
            vec![0xff, 0xfe],
            b"\x01{\"a\": 1}".to_vec(),
            b"\x02{}".to_vec(),
            vec![1],
            vec![1, 0xc3, 0xa9],
            vec![0],
        ];
        let mut out = vec![
            (PgType::Timestamp, stamps.clone()),
            (PgType::TimestampTz, stamps),
            (dec(2), numerics.clone()),
            (dec(0), numerics.clone()),
            (dec(-2), numerics.clone()),
            (dec(20), numerics),
            (PgType::Text, texts.clone()),
            (PgType::Json, texts.clone()),
            (PgType::Jsonb, texts),
        ];
        // Every type with plain storage: its value, and every length from 0 to 17 bytes.
        for (ty, _, binary, _) in plain_cases() {
            let mut inputs = vec![binary];
            for n in 0..=17u8 {
                inputs.push((0..n).map(|i| i.wrapping_mul(37).wrapping_add(n)).collect());
            }
            out.push((ty, inputs));
        }
        out
    }

    /// Types whose values the quick path of `format` never takes.
    fn not_quick(ty: &PgType, format: Format) -> bool {
        let both = matches!(
            ty,
            PgType::Oid
                | PgType::Bytea
                | PgType::NumericText
                | PgType::Char
                | PgType::TimeTz
                | PgType::Other
        );
        both || format == Format::Text && matches!(ty, PgType::Float4 | PgType::Time)
    }

    #[test]
    fn the_binary_quick_path_stores_what_append_stores() {
        for (ty, inputs) in quick_edge_cases() {
            let taken = quick_agrees(&ty, Format::Binary, &inputs);
            // The path is used: each type it covers takes some of these values.
            assert_eq!(
                taken > 0,
                !not_quick(&ty, Format::Binary),
                "{ty:?} took {taken}"
            );
        }
    }

    /// Types and text values at the edges of what the quick path takes.
    fn quick_text_cases() -> Vec<(PgType, Vec<&'static str>)> {
        let ints = vec![
            "0",
            "-1",
            "+7",
            "-",
            "+",
            "",
            " 1",
            "1 ",
            "32767",
            "32768",
            "-32768",
            "-32769",
            "2147483647",
            "2147483648",
            "-2147483648",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "000000000000000000000000000000000000001",
            "1e3",
            "١",
        ];
        let stamps = vec![
            "2024-02-29 12:00:00",
            "2024-02-29 12:00:00+00",
            "2024-02-29 12:00:00.123456+05:30",
            "2024-02-29 12:00:00.1234567",
            "1999-12-31 23:59:59-00:00:36",
            "0001-01-01 00:00:00 BC",
            "12345-01-01 00:00:00",
            "infinity",
            "-infinity",
            "2024-02-30 00:00:00",
            "2024-02-29 24:00:00",
            "2024-02-29 12:00:00.",
            "2024-02-29",
            "",
        ];
        let dec = |scale| PgType::Decimal {
            precision: 38,
            scale,
        };
        let numerics = vec![
            "12.34",
            "-12.34",
            "0",
            "1.005",
            "1.00",
            "99999999999999999999",
            "NaN",
            "Infinity",
            "-Infinity",
            "1e5",
            "",
            "-",
            ".5",
            "5.",
            "+3",
        ];
        let texts = vec!["plain ascii", "", "héllo", "{\"a\": 1}", "\u{0}"];
        vec![
            (PgType::Int2, ints.clone()),
            (PgType::Int4, ints.clone()),
            (PgType::Int8, ints),
            (PgType::Timestamp, stamps.clone()),
            (PgType::TimestampTz, stamps.clone()),
            (
                PgType::Date,
                vec![
                    "2024-02-29",
                    "2023-02-29",
                    "0001-01-01 BC",
                    "infinity",
                    "10000-01-01",
                    "2024-2-29",
                ],
            ),
            (
                PgType::Float8,
                vec![
                    "0.1",
                    "-0",
                    "1e308",
                    "1e309",
                    "NaN",
                    "Infinity",
                    "-Infinity",
                    "nan",
                    "inf",
                    " 1",
                    "",
                    "4.9e-324",
                    "1e-400",
                ],
            ),
            (dec(2), numerics.clone()),
            (dec(0), numerics.clone()),
            (dec(-2), numerics),
            (PgType::Bool, vec!["t", "f", "true", "", "T"]),
            (
                PgType::Uuid,
                vec![
                    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                    "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
                    "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
                    "a0eebc999c0b4ef8bb6d6bb9bd380a11",
                    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
                    "",
                ],
            ),
            (PgType::Text, texts.clone()),
            (PgType::Json, texts.clone()),
            (PgType::Jsonb, texts),
        ]
    }

    #[test]
    fn the_text_quick_path_stores_what_append_stores() {
        let mut cases: Vec<(PgType, Vec<Vec<u8>>)> = quick_text_cases()
            .into_iter()
            .map(|(ty, v)| (ty, v.into_iter().map(|t| t.as_bytes().to_vec()).collect()))
            .collect();
        for (ty, text, _, other) in plain_cases() {
            cases.push((ty, vec![text.into(), other.into()]));
        }
        for (ty, inputs) in cases {
            let taken = quick_agrees(&ty, Format::Text, &inputs);
            // The digits parser leaves a negative scale to the general one.
            let negative_scale = matches!(ty, PgType::Decimal { scale, .. } if scale < 0);
            let quick = !not_quick(&ty, Format::Text) && !negative_scale;
            assert_eq!(taken > 0, quick, "{ty:?} took {taken}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5_000))]

        /// Random bytes of every plain type, including lengths near the types' own: the quick
        /// path and [`append`] store the same and fail alike.
        #[test]
        fn random_binary_values_agree_with_append(
            which in 0usize..64,
            values in proptest::collection::vec(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
                1..8,
            ),
        ) {
            let cases = plain_cases();
            let ty = &cases[which % cases.len()].0;
            quick_agrees(ty, Format::Binary, &values);
        }

        /// Random text of the characters values are written with, for every plain type.
        #[test]
        fn random_text_values_agree_with_append(
            which in 0usize..64,
            values in proptest::collection::vec("[-+0-9a-fA-F.:eE {}TZ]{0,40}|[0-9]{1,24}|é?", 1..8),
        ) {
            let cases = plain_cases();
            let ty = &cases[which % cases.len()].0;
            let values: Vec<Vec<u8>> = values.into_iter().map(String::into_bytes).collect();
            quick_agrees(ty, Format::Text, &values);
        }
    }

    #[test]
    fn plain_errors_are_the_builders_errors() {
        for (ty, ..) in plain_cases() {
            let dt = ty.data_type();
            let mut arrow = ColumnBuilder::new(&dt).unwrap();
            let mut plain = ColumnBuilder::plain(&dt).unwrap();
            for (format, bad) in [
                (Format::Text, &b"\xff\xfe not a value"[..]),
                (Format::Text, "é\u{80}".as_bytes().split_last().unwrap().1),
                (Format::Binary, &[9u8; 3][..]),
                (Format::Binary, &[9u8; 17][..]),
            ] {
                let want = append(&mut arrow, &ty, format, bad);
                let got = append(&mut plain, &ty, format, bad);
                assert_eq!(got, want, "{ty:?} {format:?} {bad:?}");
            }
            assert_eq!(plain.len(), arrow.len(), "{ty:?}");
        }
    }

    #[test]
    fn arrays_text_and_binary_agree() {
        let ty = PgType::Array(std::sync::Arc::new(PgType::Text));
        let mut bin = Vec::new();
        for x in [1i32, 1, 25, 3, 1] {
            bin.extend(x.to_be_bytes());
        }
        bin.extend(3i32.to_be_bytes());
        bin.extend(b"a,b");
        bin.extend((-1i32).to_be_bytes());
        bin.extend(2i32.to_be_bytes());
        bin.extend("é".as_bytes());
        let (arr, _) = both(&ty, r#"{"a,b",NULL,é}"#, &bin);
        let l = arr.as_any().downcast_ref::<ListArray>().unwrap();
        let v = l.value(0);
        let s = v.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(s.value(0), "a,b");
        assert!(s.is_null(1));
    }

    #[test]
    fn integer_text_parses_like_str_parse() {
        let cases = [
            "0",
            "-0",
            "+7",
            "-",
            "+",
            "",
            "12a",
            "-32768",
            "32768",
            "-32769",
            "2147483647",
            "-2147483648",
            "2147483648",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "4294967295",
            "4294967296",
            "-1",
            "00012",
            " 1",
            "1 ",
            "١",
            "99999999999999999999999999999999999999999",
        ];
        for c in cases {
            let b = c.as_bytes();
            assert_eq!(
                int_text::<i16>(b, true).ok(),
                c.parse::<i16>().ok(),
                "{c:?}"
            );
            assert_eq!(
                int_text::<i32>(b, true).ok(),
                c.parse::<i32>().ok(),
                "{c:?}"
            );
            assert_eq!(
                int_text::<i64>(b, true).ok(),
                c.parse::<i64>().ok(),
                "{c:?}"
            );
            assert_eq!(
                int_text::<u32>(b, false).ok(),
                c.parse::<u32>().ok(),
                "{c:?}"
            );
        }
    }

    #[test]
    fn uuid_text_forms() {
        let want = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        assert_eq!(uuid_text(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), Ok(want));
        assert_eq!(uuid_text(b"A0EEBC999C0B4EF8BB6D6BB9BD380A11"), Ok(want));
        assert_eq!(
            uuid_text(b"a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11"),
            Ok(want)
        );
        assert!(uuid_text(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1").is_err());
        assert!(uuid_text(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111").is_err());
        assert!(uuid_text(b"g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").is_err());
        assert!(uuid_text(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g").is_err());
        assert!(uuid_text(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1\xff").is_err());
        assert!(uuid_text(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd38-a11").is_err());
        // The eight-at-a-time read against the general walk: every byte at every place.
        let base = *b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        for at in 0..36 {
            for byte in 0..=255u8 {
                let mut c = base;
                c[at] = byte;
                assert_eq!(uuid_text(&c), uuid_text_general(&c), "{at} {byte}");
            }
        }
    }

    /// The text of a float, parsed from its bytes, gives `str::parse`'s value bit for bit or its
    /// error: over the shortest forms of random bit patterns (what `float8out` prints), their
    /// exponent forms, hard rounding cases, and random strings of the characters a float can
    /// hold and a few it cannot.
    #[test]
    fn floats_from_bytes_equal_str_parse() {
        fn check<T>(s: &[u8], special: [T; 3], bits: fn(T) -> u64)
        where
            T: std::str::FromStr + lexical_core::FromLexical + Copy + std::fmt::Debug,
        {
            let general = std::str::from_utf8(s)
                .map_err(|e| format!("invalid UTF-8: {e}"))
                .and_then(|t| match t {
                    "Infinity" => Ok(special[0]),
                    "-Infinity" => Ok(special[1]),
                    "NaN" => Ok(special[2]),
                    _ => parse::<T>(t),
                });
            let fast = float_text(s, special);
            assert_eq!(
                fast.as_ref().map(|&v| bits(v)),
                general.as_ref().map(|&v| bits(v)),
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
        let mut cases: Vec<Vec<u8>> = [
            "0",
            "-0",
            "1",
            "-1.5",
            "1e+100",
            "1e-05",
            "1.2345678901234567e+300",
            "5e-324",
            "4.9406564584124654e-324",
            "2.2250738585072011e-308",
            "2.2250738585072014e-308",
            "1.7976931348623157e+308",
            "1.7976931348623159e+308",
            "9007199254740993",
            "9007199254740992.5",
            "0.1",
            "3.4028235e+38",
            "3.4028236e+38",
            "1.0000000596046448",
            "123456789012345678901234567890",
            "1e400",
            "-1e400",
            "1e-400",
            "Infinity",
            "-Infinity",
            "NaN",
            "inf",
            "-inf",
            "infinity",
            "nan",
            "-nan",
            "+nan",
            "INF",
            "NAN",
            "+1",
            "1.",
            ".5",
            ".",
            "",
            "-",
            "+",
            "e5",
            "1e",
            "1e+",
            "1e-",
            "1.e5",
            "01",
            "1_0",
            " 1",
            "1 ",
            "0x10",
            "1d",
            "1f",
            "١",
            "1\u{e9}",
            "--1",
            "+-1",
            "1e5.5",
            "1..2",
        ]
        .iter()
        .map(|c| c.as_bytes().to_vec())
        .collect();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let v = f64::from_bits(next());
            cases.push(format!("{v}").into_bytes());
            cases.push(format!("{v:e}").into_bytes());
            let f = f32::from_bits(next() as u32);
            cases.push(format!("{f}").into_bytes());
            let alphabet = b"0123456789.-+eEinfatyINFATY x";
            let len = (next() % 24) as usize;
            cases.push(
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect(),
            );
        }
        for c in &cases {
            check(c, F64_SPECIAL, f64::to_bits);
            check(c, F32_SPECIAL, |v: f32| u64::from(v.to_bits()));
        }
    }

    #[test]
    fn bad_values_are_errors() {
        let mut b = ColumnBuilder::new(&PgType::Int4.data_type()).unwrap();
        assert!(append(&mut b, &PgType::Int4, Format::Binary, &[0, 1]).is_err());
        assert!(append(&mut b, &PgType::Int4, Format::Text, b"x").is_err());
        assert!(append(&mut b, &PgType::Text, Format::Text, b"x").is_err());
        let mut s = ColumnBuilder::new(&DataType::Utf8).unwrap();
        assert!(append(&mut s, &PgType::Other, Format::Binary, &[0, 0, 0, 1]).is_err());
        assert!(append(&mut s, &PgType::Other, Format::Binary, b"happy").is_ok());
        assert_eq!(
            bytea_text(b"a\\\\b\\001").unwrap(),
            vec![b'a', b'\\', b'b', 1]
        );
    }

    use arrow_schema::DataType;
}
