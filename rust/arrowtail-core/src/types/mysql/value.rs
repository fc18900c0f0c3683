//! Decoding of one column value of a rows event (MySQL `Field::unpack` formats) straight into the
//! column's [`ColumnBuilder`]. Values are little-endian except the "2" temporal types, DECIMAL and
//! BIT, which are big-endian.

use crate::arrow::{ColumnBuilder, PlainColumn, PlainValues};
use crate::reader::{Reader, Short};

use super::charset::{decode_into, Charset};
use super::{decimal, temporal, Codec};

/// Counters of values that were stored as null or altered because they have no exact Arrow form.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ValueStats {
    /// Zero or invalid dates/times stored as null.
    pub invalid_temporal: u64,
    /// Text values with byte sequences invalid in their charset (replaced by U+FFFD).
    pub replaced_text: u64,
}

/// Reusable buffers for decoding.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Text buffer.
    pub text: String,
    pub stats: ValueStats,
    /// The last date turned into days (its kind in the top byte, its stored form below; 0 when
    /// none) and those days: rows in a row tend to share their dates.
    day_key: u64,
    day_days: i32,
}

/// The kinds of stored dates [`Scratch::days`] remembers.
const DAY_OF_DATE: u64 = 1 << 56;
const DAY_OF_DATETIME2: u64 = 2 << 56;

impl Scratch {
    /// The days of a stored date (`kind | stored`), from the last one when it is the same date,
    /// otherwise from `compute` (not remembered when it gives None).
    #[inline]
    fn days(&mut self, key: u64, compute: impl FnOnce() -> Option<i32>) -> Option<i32> {
        if self.day_key == key {
            return Some(self.day_days);
        }
        let days = compute()?;
        self.day_key = key;
        self.day_days = days;
        Some(days)
    }

    /// A text value that is not its UTF-8 as stored, decoded from `charset` into the text
    /// buffer; bytes invalid in the charset are replaced with U+FFFD and the value counted.
    fn decode_text(&mut self, bytes: &[u8], charset: Charset) -> &str {
        if !decode_into(charset, bytes, &mut self.text) {
            self.stats.replaced_text += 1;
        }
        &self.text
    }

    /// A DATE value (3 bytes, see [`temporal::date`]) as days since the epoch.
    #[inline]
    fn date(&mut self, v: u32) -> Option<i32> {
        self.days(DAY_OF_DATE | u64::from(v), || temporal::date(v))
    }

    /// A DATETIME2 value (see [`temporal::datetime2`]), its day looked up as [`days`](Self::days)
    /// does.
    #[inline]
    fn datetime2(&mut self, int_part: u64, fsp: u8, frac: u64) -> Option<i64> {
        let (ymd, hms) = temporal::datetime2_parts(int_part)?;
        let days = self.days(DAY_OF_DATETIME2 | ymd, || temporal::datetime2_days(ymd))?;
        temporal::datetime2_at(days, hms, fsp, frac)
    }
}

/// The message of a value cut short. Out of line: a value read inlined into the row's loop keeps
/// only the bounds check, not the formatting.
#[cold]
fn short(s: Short) -> String {
    s.to_string()
}

#[cold]
fn too_large(len: u64) -> String {
    format!("length {len} too large")
}

/// Reads a little-endian length prefix of `n` bytes and then that many bytes.
#[inline]
pub fn take_len_prefixed<'a>(r: &mut Reader<'a>, n: u8) -> Result<&'a [u8], String> {
    // VARCHAR and CHAR, most values, have 1- or 2-byte prefixes: read them without the loop.
    let len = match n {
        1 => u64::from(r.u8().map_err(short)?),
        2 => u64::from(r.u16_le().map_err(short)?),
        _ => r.uint_le(usize::from(n)).map_err(short)?,
    };
    let len = usize::try_from(len).map_err(|_| too_large(len))?;
    r.take(len).map_err(short)
}

fn mismatch(codec: &Codec) -> String {
    format!("internal error: builder does not match codec {codec:?}")
}

/// Decodes one non-null value of `codec` from `r` and appends it to `b`.
pub fn decode(
    codec: &Codec,
    r: &mut Reader<'_>,
    b: &mut ColumnBuilder,
    scratch: &mut Scratch,
) -> Result<(), String> {
    use ColumnBuilder as B;
    if let B::Plain(p) = b {
        return decode_plain(codec, r, p, scratch);
    }
    match (codec, b) {
        (Codec::Int { bytes, unsigned }, b) => {
            let n = usize::from(*bytes);
            let raw = r.uint_le(n).map_err(short)?;
            // Sign-extend from the stored width.
            let shift = 64 - 8 * n as u32;
            let signed = ((raw << shift) as i64) >> shift;
            match (b, unsigned) {
                (B::Int8(b), false) => b.append_value(signed as i8),
                (B::UInt8(b), true) => b.append_value(raw as u8),
                (B::Int16(b), false) => b.append_value(signed as i16),
                (B::UInt16(b), true) => b.append_value(raw as u16),
                (B::Int32(b), false) => b.append_value(signed as i32),
                (B::UInt32(b), true) => b.append_value(raw as u32),
                (B::Int64(b), false) => b.append_value(signed),
                (B::UInt64(b), true) => b.append_value(raw),
                _ => return Err(mismatch(codec)),
            }
        }
        (Codec::Float, B::Float32(b)) => b.append_value(r.f32_le().map_err(short)?),
        (Codec::Double, B::Float64(b)) => b.append_value(r.f64_le().map_err(short)?),
        (Codec::Decimal { precision, scale }, b) => {
            let raw = r
                .take(decimal::binary_size(*precision, *scale))
                .map_err(short)?;
            match b {
                B::Decimal128(b) => b.append_value(decimal::to_i128(raw, *precision, *scale)?),
                B::Utf8(b) => {
                    decimal::to_text(raw, *precision, *scale, &mut scratch.text)?;
                    b.append_value(&scratch.text);
                }
                _ => return Err(mismatch(codec)),
            }
        }
        (Codec::Date, B::Date32(b)) => {
            let v = r.uint_le(3).map_err(short)? as u32;
            append_opt(b, temporal::date(v), &mut scratch.stats);
        }
        (Codec::DateTime2 { fsp }, B::Timestamp(b)) => {
            let int = r.uint_be(5).map_err(short)?;
            let frac = r.uint_be(temporal::fraction_len(*fsp)).map_err(short)?;
            append_opt(b, temporal::datetime2(int, *fsp, frac), &mut scratch.stats);
        }
        (Codec::Timestamp2 { fsp }, B::Timestamp(b)) => {
            let secs = r.u32_be().map_err(short)?;
            let frac = r.uint_be(temporal::fraction_len(*fsp)).map_err(short)?;
            append_opt(
                b,
                temporal::timestamp2(secs, *fsp, frac),
                &mut scratch.stats,
            );
        }
        (Codec::Time2 { fsp }, B::Duration(b)) => {
            let raw = r.uint_be(3 + temporal::fraction_len(*fsp)).map_err(short)?;
            b.append_value(temporal::time2(raw, *fsp));
        }
        (Codec::DateTimeOld, B::Timestamp(b)) => {
            let v = r.u64_le().map_err(short)?;
            append_opt(b, temporal::datetime_old(v), &mut scratch.stats);
        }
        (Codec::TimestampOld, B::Timestamp(b)) => {
            let v = r.u32_le().map_err(short)?;
            append_opt(
                b,
                (v != 0).then(|| i64::from(v) * 1_000_000),
                &mut scratch.stats,
            );
        }
        (Codec::TimeOld, B::Duration(b)) => {
            let raw = r.uint_le(3).map_err(short)? as u32;
            let v = ((raw << 8) as i32) >> 8;
            b.append_value(temporal::time_old(v));
        }
        (Codec::Year, B::Int16(b)) => {
            let v = r.u8().map_err(short)?;
            b.append_value(if v == 0 { 0 } else { 1900 + i16::from(v) });
        }
        (
            Codec::String {
                len_bytes,
                charset: Some(Charset::Binary),
                pad_to: Some(n),
            },
            B::Binary(b),
        ) => {
            let bytes = take_len_prefixed(r, *len_bytes)?;
            let want = usize::from(*n).max(bytes.len());
            if want == bytes.len() {
                b.append_value(bytes);
            } else {
                let mut v = Vec::with_capacity(want);
                v.extend_from_slice(bytes);
                v.resize(want, 0);
                b.append_value(v);
            }
        }
        (
            Codec::String {
                len_bytes, charset, ..
            }
            | Codec::Blob { len_bytes, charset },
            b,
        ) => {
            let bytes = take_len_prefixed(r, *len_bytes)?;
            if !append_text_or_bytes(b, bytes, charset.unwrap_or(Charset::Utf8), scratch) {
                return Err(mismatch(codec));
            }
        }
        (Codec::Enum { bytes, labels }, B::Utf8(b)) => {
            let idx = r.uint_le(usize::from(*bytes)).map_err(short)? as usize;
            // Index 0 is the empty string MySQL stores for invalid values.
            match idx.checked_sub(1).and_then(|i| labels.get(i)) {
                Some(label) => b.append_value(label),
                None if idx == 0 => b.append_value(""),
                None => b.append_value(idx.to_string()),
            }
        }
        (Codec::Set { bytes, labels }, B::List(l)) => {
            let mask = r.uint_le(usize::from(*bytes)).map_err(short)?;
            let B::Utf8(values) = &mut l.values else {
                return Err(mismatch(codec));
            };
            for bit in 0..64 {
                if mask & (1u64 << bit) != 0 {
                    match labels.get(bit) {
                        Some(label) => values.append_value(label),
                        None => values.append_value(bit.to_string()),
                    }
                }
            }
            l.append(true).map_err(|e| e.to_string())?;
        }
        (Codec::Bit { bytes }, B::UInt64(b)) => {
            b.append_value(r.uint_be(usize::from(*bytes)).map_err(short)?)
        }
        (Codec::Json { len_bytes }, B::Utf8(b)) => {
            let bytes = take_len_prefixed(r, *len_bytes)?;
            crate::binlog::json::to_text(bytes, &mut scratch.text)?;
            b.append_value(&scratch.text);
        }
        (Codec::Geometry { len_bytes }, B::Binary(b)) => {
            b.append_value(take_len_prefixed(r, *len_bytes)?)
        }
        (Codec::Vector { len_bytes }, B::List(l)) => {
            let bytes = take_len_prefixed(r, *len_bytes)?;
            if bytes.len() % 4 != 0 {
                return Err(format!("VECTOR of {} bytes", bytes.len()));
            }
            let B::Float32(values) = &mut l.values else {
                return Err(mismatch(codec));
            };
            for c in bytes.chunks_exact(4) {
                values.append_value(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            }
            l.append(true).map_err(|e| e.to_string())?;
        }
        (Codec::Null, b) => b.append_null(),
        (codec, _) => return Err(mismatch(codec)),
    }
    Ok(())
}

/// A column's decoding chosen once per table map, for the codecs most rows carry: their own
/// arms with the width and charset already known, instead of the match over every codec and
/// builder per value. Everything else, and any builder that does not match, goes through
/// [`decode`], so values and errors are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    I8,
    U8,
    I16,
    U16,
    /// MEDIUMINT: 3 bytes into 32 bits, sign-extended when signed.
    I24,
    U24,
    I32,
    U32,
    I64,
    U64,
    /// CHAR/VARCHAR/BLOB/TEXT (not padded BINARY(n)): a length prefix, then text or bytes.
    Text {
        len_bytes: u8,
        charset: Charset,
    },
    /// TIMESTAMP(fsp) and DATETIME(fsp) in their "2" forms; the fraction is absent when fsp is 0.
    Timestamp2 {
        fsp: u8,
    },
    DateTime2 {
        fsp: u8,
    },
    /// ENUM of 1 or 2 bytes; its labels stay in the codec.
    Enum {
        bytes: u8,
    },
    /// Any other codec.
    Other,
}

impl Step {
    /// The step for `codec`.
    pub fn of(codec: &Codec) -> Step {
        match *codec {
            Codec::Int { bytes, unsigned } => match (bytes, unsigned) {
                (1, false) => Step::I8,
                (1, true) => Step::U8,
                (2, false) => Step::I16,
                (2, true) => Step::U16,
                (3, false) => Step::I24,
                (3, true) => Step::U24,
                (4, false) => Step::I32,
                (4, true) => Step::U32,
                (8, false) => Step::I64,
                (8, true) => Step::U64,
                _ => Step::Other,
            },
            Codec::String {
                charset: Some(Charset::Binary),
                pad_to: Some(_),
                ..
            } => Step::Other,
            Codec::String {
                len_bytes, charset, ..
            }
            | Codec::Blob { len_bytes, charset } => Step::Text {
                len_bytes,
                charset: charset.unwrap_or(Charset::Utf8),
            },
            Codec::Timestamp2 { fsp } => Step::Timestamp2 { fsp },
            Codec::DateTime2 { fsp } => Step::DateTime2 { fsp },
            Codec::Enum { bytes, .. } => Step::Enum { bytes },
            _ => Step::Other,
        }
    }
}

/// Decodes one non-null value of `codec`, whose step is `step` (from [`Step::of`]), into `b`.
#[inline]
pub fn decode_step(
    step: Step,
    codec: &Codec,
    r: &mut Reader<'_>,
    b: &mut ColumnBuilder,
    scratch: &mut Scratch,
) -> Result<(), String> {
    use ColumnBuilder as B;
    if let B::Plain(p) = b {
        return step_plain(step, codec, r, p, scratch);
    }
    match (step, &mut *b) {
        (Step::I8, B::Int8(b)) => b.append_value(r.u8().map_err(short)? as i8),
        (Step::U8, B::UInt8(b)) => b.append_value(r.u8().map_err(short)?),
        (Step::I16, B::Int16(b)) => b.append_value(r.u16_le().map_err(short)? as i16),
        (Step::U16, B::UInt16(b)) => b.append_value(r.u16_le().map_err(short)?),
        (Step::I24, B::Int32(b)) => {
            let raw = r.uint_le(3).map_err(short)? as u32;
            b.append_value(((raw << 8) as i32) >> 8);
        }
        (Step::U24, B::UInt32(b)) => b.append_value(r.uint_le(3).map_err(short)? as u32),
        (Step::I32, B::Int32(b)) => b.append_value(r.u32_le().map_err(short)? as i32),
        (Step::U32, B::UInt32(b)) => b.append_value(r.u32_le().map_err(short)?),
        (Step::I64, B::Int64(b)) => b.append_value(r.u64_le().map_err(short)? as i64),
        (Step::U64, B::UInt64(b)) => b.append_value(r.u64_le().map_err(short)?),
        (Step::Text { len_bytes, charset }, B::Utf8(_) | B::Binary(_)) => {
            let bytes = take_len_prefixed(r, len_bytes)?;
            append_text_or_bytes(b, bytes, charset, scratch);
        }
        (Step::Timestamp2 { fsp }, B::Timestamp(b)) => {
            let secs = r.u32_be().map_err(short)?;
            let frac = fraction(r, fsp)?;
            append_opt(b, temporal::timestamp2(secs, fsp, frac), &mut scratch.stats);
        }
        (Step::DateTime2 { fsp }, B::Timestamp(b)) => {
            let int = r.uint_be(5).map_err(short)?;
            let frac = fraction(r, fsp)?;
            append_opt(b, temporal::datetime2(int, fsp, frac), &mut scratch.stats);
        }
        (Step::Enum { bytes }, B::Utf8(sb)) => {
            let Codec::Enum { labels, .. } = codec else {
                return decode(codec, r, b, scratch);
            };
            let idx = match bytes {
                1 => usize::from(r.u8().map_err(short)?),
                _ => r.uint_le(usize::from(bytes)).map_err(short)? as usize,
            };
            // Index 0 is the empty string MySQL stores for invalid values.
            match idx.checked_sub(1).and_then(|i| labels.get(i)) {
                Some(label) => sb.append_value(label),
                None if idx == 0 => sb.append_value(""),
                None => sb.append_value(idx.to_string()),
            }
        }
        _ => return decode(codec, r, b, scratch),
    }
    Ok(())
}

/// [`decode_step`] into a plain column: the common codecs' arms, the rest through
/// [`decode_plain`]. Values and errors are those of the Arrow builders' arms.
#[inline]
fn step_plain(
    step: Step,
    codec: &Codec,
    r: &mut Reader<'_>,
    p: &mut PlainColumn,
    scratch: &mut Scratch,
) -> Result<(), String> {
    use PlainValues as V;
    match (step, &mut p.values) {
        (Step::I16, V::I16(v)) => v.push(r.u16_le().map_err(short)? as i16),
        (Step::I24, V::I32(v)) => {
            let raw = r.uint_le(3).map_err(short)? as u32;
            v.push(((raw << 8) as i32) >> 8);
        }
        (Step::U24, V::U32(v)) => v.push(r.uint_le(3).map_err(short)? as u32),
        (Step::I32, V::I32(v)) => v.push(r.u32_le().map_err(short)? as i32),
        (Step::U32, V::U32(v)) => v.push(r.u32_le().map_err(short)?),
        (Step::I64, V::I64(v)) => v.push(r.u64_le().map_err(short)? as i64),
        (Step::Text { len_bytes, charset }, V::Str { .. } | V::Bytes { .. }) => {
            let bytes = take_len_prefixed(r, len_bytes)?;
            return plain_text_or_bytes(p, bytes, charset, scratch, codec);
        }
        (Step::Timestamp2 { fsp }, V::I64(_)) => {
            let secs = r.u32_be().map_err(short)?;
            let frac = fraction(r, fsp)?;
            return plain_temporal(p, temporal::timestamp2(secs, fsp, frac), scratch, codec);
        }
        (Step::DateTime2 { fsp }, V::I64(_)) => {
            let int = r.uint_be(5).map_err(short)?;
            let frac = fraction(r, fsp)?;
            let v = scratch.datetime2(int, fsp, frac);
            return plain_temporal(p, v, scratch, codec);
        }
        _ => return decode_plain(codec, r, p, scratch),
    }
    Ok(())
}

/// [`decode`] into a plain column (the binlog decoder keeps integers of 16, 32 and 64 bits,
/// floats, decimals, dates, timestamps, text and binary values in plain vectors). Each arm
/// stores what the Arrow builder's arm stores, and fails where it fails.
fn decode_plain(
    codec: &Codec,
    r: &mut Reader<'_>,
    p: &mut PlainColumn,
    scratch: &mut Scratch,
) -> Result<(), String> {
    use PlainValues as V;
    match codec {
        Codec::Int { bytes, unsigned } => {
            let n = usize::from(*bytes);
            let raw = r.uint_le(n).map_err(short)?;
            // Sign-extend from the stored width.
            let shift = 64 - 8 * n as u32;
            let signed = ((raw << shift) as i64) >> shift;
            match (&mut p.values, unsigned) {
                (V::I16(v), false) => v.push(signed as i16),
                (V::I32(v), false) => v.push(signed as i32),
                (V::I64(v), false) => v.push(signed),
                (V::U32(v), true) => v.push(raw as u32),
                _ => return Err(mismatch(codec)),
            }
        }
        Codec::Float => match &mut p.values {
            V::F32(v) => v.push(r.f32_le().map_err(short)?),
            _ => return Err(mismatch(codec)),
        },
        Codec::Double => match &mut p.values {
            V::F64(v) => v.push(r.f64_le().map_err(short)?),
            _ => return Err(mismatch(codec)),
        },
        Codec::Decimal { precision, scale } => {
            let raw = r
                .take(decimal::binary_size(*precision, *scale))
                .map_err(short)?;
            match &mut p.values {
                V::I128(v) => v.push(decimal::to_i128(raw, *precision, *scale)?),
                V::Str { .. } => {
                    decimal::to_text(raw, *precision, *scale, &mut scratch.text)?;
                    p.push_str(scratch.text.as_bytes())?;
                }
                _ => return Err(mismatch(codec)),
            }
        }
        Codec::Date => {
            let v = r.uint_le(3).map_err(short)? as u32;
            let days = scratch.date(v).map(i64::from);
            return plain_temporal(p, days, scratch, codec);
        }
        Codec::DateTime2 { fsp } => {
            let int = r.uint_be(5).map_err(short)?;
            let frac = r.uint_be(temporal::fraction_len(*fsp)).map_err(short)?;
            let v = scratch.datetime2(int, *fsp, frac);
            return plain_temporal(p, v, scratch, codec);
        }
        Codec::Timestamp2 { fsp } => {
            let secs = r.u32_be().map_err(short)?;
            let frac = r.uint_be(temporal::fraction_len(*fsp)).map_err(short)?;
            return plain_temporal(p, temporal::timestamp2(secs, *fsp, frac), scratch, codec);
        }
        Codec::DateTimeOld => {
            let v = r.u64_le().map_err(short)?;
            return plain_temporal(p, temporal::datetime_old(v), scratch, codec);
        }
        Codec::TimestampOld => {
            let v = r.u32_le().map_err(short)?;
            let micros = (v != 0).then(|| i64::from(v) * 1_000_000);
            return plain_temporal(p, micros, scratch, codec);
        }
        Codec::Year => match &mut p.values {
            V::I16(v) => {
                let y = r.u8().map_err(short)?;
                v.push(if y == 0 { 0 } else { 1900 + i16::from(y) });
            }
            _ => return Err(mismatch(codec)),
        },
        Codec::String {
            len_bytes,
            charset: Some(Charset::Binary),
            pad_to: Some(n),
        } if matches!(p.values, V::Bytes { .. }) => {
            let bytes = take_len_prefixed(r, *len_bytes)?;
            let want = usize::from(*n).max(bytes.len());
            if want == bytes.len() {
                p.push_bytes(bytes)?;
            } else {
                let mut v = Vec::with_capacity(want);
                v.extend_from_slice(bytes);
                v.resize(want, 0);
                p.push_bytes(&v)?;
            }
        }
        Codec::String {
            len_bytes, charset, ..
        }
        | Codec::Blob { len_bytes, charset } => {
            let bytes = take_len_prefixed(r, *len_bytes)?;
            let charset = charset.unwrap_or(Charset::Utf8);
            return plain_text_or_bytes(p, bytes, charset, scratch, codec);
        }
        Codec::Enum { bytes, labels } if matches!(p.values, V::Str { .. }) => {
            let idx = r.uint_le(usize::from(*bytes)).map_err(short)? as usize;
            // Index 0 is the empty string MySQL stores for invalid values.
            match idx.checked_sub(1).and_then(|i| labels.get(i)) {
                Some(label) => p.push_str(label.as_bytes())?,
                None if idx == 0 => p.push_str(b"")?,
                None => p.push_str(idx.to_string().as_bytes())?,
            }
        }
        Codec::Json { len_bytes } if matches!(p.values, V::Str { .. }) => {
            let bytes = take_len_prefixed(r, *len_bytes)?;
            crate::binlog::json::to_text(bytes, &mut scratch.text)?;
            p.push_str(scratch.text.as_bytes())?;
        }
        Codec::Geometry { len_bytes } if matches!(p.values, V::Bytes { .. }) => {
            p.push_bytes(take_len_prefixed(r, *len_bytes)?)?;
        }
        Codec::Null => p.append_null(),
        _ => return Err(mismatch(codec)),
    }
    Ok(())
}

/// Stores a date (days) or a timestamp (microseconds) in a plain column of 32 or 64 bits; a value
/// without one (a zero or invalid date) is stored as null and counted, as [`append_opt`] does.
#[inline]
fn plain_temporal(
    p: &mut PlainColumn,
    v: Option<i64>,
    scratch: &mut Scratch,
    codec: &Codec,
) -> Result<(), String> {
    match (v, &mut p.values) {
        (Some(x), PlainValues::I64(v)) => v.push(x),
        (Some(x), PlainValues::I32(v)) => v.push(i32::try_from(x).map_err(|_| mismatch(codec))?),
        (None, PlainValues::I64(_) | PlainValues::I32(_)) => {
            scratch.stats.invalid_temporal += 1;
            p.append_null();
        }
        _ => return Err(mismatch(codec)),
    }
    Ok(())
}

/// [`append_text_or_bytes`] into a plain column.
#[inline]
fn plain_text_or_bytes(
    p: &mut PlainColumn,
    bytes: &[u8],
    charset: Charset,
    scratch: &mut Scratch,
    codec: &Codec,
) -> Result<(), String> {
    match p.values {
        PlainValues::Str { .. } => {
            // Valid UTF-8 in a UTF-8 charset is the value as it stands. ASCII first: for the
            // short values most text columns hold, its check is cheaper than the full UTF-8 one.
            if charset.stores_utf8() && (bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()) {
                return p.push_str(bytes);
            }
            p.push_str(scratch.decode_text(bytes, charset).as_bytes())
        }
        PlainValues::Bytes { .. } => p.push_bytes(bytes),
        _ => Err(mismatch(codec)),
    }
}

/// The big-endian fraction of a "2" temporal value: none to read when `fsp` is 0.
#[inline]
fn fraction(r: &mut Reader<'_>, fsp: u8) -> Result<u64, String> {
    match temporal::fraction_len(fsp) {
        0 => Ok(0),
        n => r.uint_be(n).map_err(short),
    }
}

fn append_opt<T: arrow_array::types::ArrowPrimitiveType>(
    b: &mut arrow_array::builder::PrimitiveBuilder<T>,
    v: Option<T::Native>,
    stats: &mut ValueStats,
) {
    if v.is_none() {
        stats.invalid_temporal += 1;
    }
    b.append_option(v);
}

/// Appends bytes to a text column (decoded by `charset`) or a binary column. Returns false when
/// the builder is neither.
#[inline]
pub fn append_text_or_bytes(
    b: &mut ColumnBuilder,
    bytes: &[u8],
    charset: Charset,
    scratch: &mut Scratch,
) -> bool {
    match b {
        ColumnBuilder::Utf8(b) => {
            // Valid UTF-8 in a UTF-8 charset is the value as it stands: append it straight from
            // the event, without the copy through the scratch buffer.
            if charset.stores_utf8() {
                if let Ok(s) = std::str::from_utf8(bytes) {
                    b.append_value(s);
                    return true;
                }
            }
            b.append_value(scratch.decode_text(bytes, charset));
        }
        ColumnBuilder::Binary(b) => b.append_value(bytes),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, Int32Array, UInt32Array};
    use arrow_schema::DataType;

    fn one(codec: Codec, bytes: &[u8]) -> arrow_array::ArrayRef {
        let mut b = ColumnBuilder::new(&codec.arrow_type()).unwrap();
        let mut r = Reader::new(bytes);
        decode(&codec, &mut r, &mut b, &mut Scratch::default()).unwrap();
        assert!(r.is_empty());
        b.finish().unwrap()
    }

    #[test]
    fn unsigned_and_signed_int() {
        let v = 3_230_202_323u32.to_le_bytes();
        let a = one(
            Codec::Int {
                bytes: 4,
                unsigned: true,
            },
            &v,
        );
        assert_eq!(
            a.as_any().downcast_ref::<UInt32Array>().unwrap().value(0),
            3_230_202_323
        );
        let a = one(
            Codec::Int {
                bytes: 3,
                unsigned: false,
            },
            &[0xFF, 0xFF, 0xFF],
        );
        assert_eq!(
            a.as_any().downcast_ref::<Int32Array>().unwrap().value(0),
            -1
        );
    }

    #[test]
    fn zero_date_is_null() {
        let a = one(Codec::Date, &[0, 0, 0]);
        assert_eq!(a.data_type(), &DataType::Date32);
        assert!(a.is_null(0));
    }

    /// Values of every codec that has a decoding step, with their stored bytes.
    fn step_cases() -> Vec<(Codec, Vec<u8>)> {
        let int = |bytes, unsigned| Codec::Int { bytes, unsigned };
        vec![
            (int(1, false), vec![0xFE]),
            (int(1, true), vec![0xFE]),
            (int(2, false), vec![0x01, 0x80]),
            (int(2, true), vec![0x01, 0x80]),
            (int(3, false), vec![0x01, 0x02, 0x83]),
            (int(3, true), vec![0x01, 0x02, 0x83]),
            (int(4, false), vec![0x01, 0x02, 0x03, 0x84]),
            (int(4, true), vec![0x01, 0x02, 0x03, 0x84]),
            (int(8, false), vec![1, 2, 3, 4, 5, 6, 7, 0x88]),
            (int(8, true), vec![1, 2, 3, 4, 5, 6, 7, 0x88]),
            (
                Codec::String {
                    len_bytes: 1,
                    charset: Some(Charset::Utf8),
                    pad_to: None,
                },
                b"\x03h\xC3\xA9".to_vec(),
            ),
            (
                Codec::String {
                    len_bytes: 2,
                    charset: Some(Charset::Utf8),
                    pad_to: None,
                },
                b"\x02\x00\xFF!".to_vec(),
            ),
            (
                Codec::Blob {
                    len_bytes: 2,
                    charset: None,
                },
                b"\x03\x00\x00\xFFz".to_vec(),
            ),
            (
                Codec::String {
                    len_bytes: 1,
                    charset: Some(Charset::Binary),
                    pad_to: Some(4),
                },
                b"\x02ab".to_vec(),
            ),
            (Codec::Timestamp2 { fsp: 0 }, vec![0x5F, 0x00, 0x00, 0x01]),
            (
                Codec::Timestamp2 { fsp: 3 },
                vec![0x5F, 0x00, 0x00, 0x01, 0x00, 0x7B],
            ),
            (Codec::Timestamp2 { fsp: 0 }, vec![0, 0, 0, 0]),
            (
                Codec::DateTime2 { fsp: 6 },
                vec![0x99, 0xB2, 0x3C, 0x10, 0x00, 0x01, 0xE2, 0x40],
            ),
            (
                Codec::DateTime2 { fsp: 0 },
                vec![0x99, 0xB2, 0x3C, 0x10, 0x00],
            ),
            (
                Codec::Enum {
                    bytes: 1,
                    labels: vec!["a".into(), "b".into()],
                },
                vec![2],
            ),
            (
                Codec::Enum {
                    bytes: 2,
                    labels: vec!["a".into()],
                },
                vec![7, 0],
            ),
        ]
    }

    /// Every codec given its own step decodes to the same value, and fails with the same
    /// message on a short value, as through the general match.
    #[test]
    fn steps_match_the_general_decode() {
        let cases = step_cases();
        let mut stepped = 0;
        for (codec, bytes) in cases {
            let step = Step::of(&codec);
            stepped += usize::from(step != Step::Other);
            let mut general = ColumnBuilder::new(&codec.arrow_type()).unwrap();
            let mut fast = ColumnBuilder::new(&codec.arrow_type()).unwrap();
            let mut r = Reader::new(&bytes);
            decode(&codec, &mut r, &mut general, &mut Scratch::default()).unwrap();
            assert!(r.is_empty(), "{codec:?}");
            let mut r = Reader::new(&bytes);
            decode_step(step, &codec, &mut r, &mut fast, &mut Scratch::default()).unwrap();
            assert!(r.is_empty(), "{codec:?}");
            assert_eq!(
                general.finish().unwrap().to_data(),
                fast.finish().unwrap().to_data(),
                "{codec:?}"
            );
            let short = &bytes[..bytes.len() - 1];
            let mut b = ColumnBuilder::new(&codec.arrow_type()).unwrap();
            let want = decode(
                &codec,
                &mut Reader::new(short),
                &mut b,
                &mut Scratch::default(),
            );
            let got = decode_step(
                step,
                &codec,
                &mut Reader::new(short),
                &mut b,
                &mut Scratch::default(),
            );
            assert_eq!(want.unwrap_err(), got.unwrap_err(), "{codec:?}");
        }
        assert_eq!(stepped, 20);
    }

    /// The day remembered from the last date gives what the date itself gives: DATE and
    /// DATETIME2 values interleaved (equal stored numbers of both kinds among them), repeated,
    /// invalid ones between them.
    #[test]
    fn the_remembered_day_is_the_dates_day() {
        let dates: Vec<u32> = vec![
            15 | 6 << 5 | 2024 << 9,
            16 | 6 << 5 | 2024 << 9,
            29 | 2 << 5 | 2023 << 9,
            0,
            1 | 1 << 5 | 1970 << 9,
        ];
        let datetime2 = |y: u64, m: u64, d: u64, hms: u64| {
            0x80_0000_0000 + (((y * 13 + m) << 5 | d) << 17) + hms
        };
        let times: Vec<u64> = vec![
            datetime2(2024, 6, 15, 1 << 12 | 2 << 6 | 3),
            datetime2(2024, 6, 15, 23 << 12 | 59 << 6 | 59),
            datetime2(2024, 6, 16, 0),
            datetime2(2023, 2, 29, 0),
            datetime2(2024, 6, 15, 24 << 12),
            // The DATETIME2 whose date part is numerically a DATE above.
            0x80_0000_0000 + ((15u64 | 6 << 5 | 2024 << 9) << 17),
            0x7F_FFFF_FFFF,
        ];
        let mut scratch = Scratch::default();
        let mut state = 7u64;
        for _ in 0..2000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pick = (state >> 33) as usize;
            if pick % 2 == 0 {
                let v = dates[pick / 2 % dates.len()];
                assert_eq!(scratch.date(v), temporal::date(v), "{v:#x}");
            } else {
                let v = times[pick / 2 % times.len()];
                assert_eq!(
                    scratch.datetime2(v, 6, 42),
                    temporal::datetime2(v, 6, 42),
                    "{v:#x}"
                );
            }
        }
    }

    /// The binlog decoder's plain columns store what Arrow's builders store, value for value,
    /// through the general decode and the steps alike; they count the same zero dates and
    /// replaced text, and fail with the same message on a value cut short.
    #[test]
    fn plain_columns_store_what_arrow_builders_store() {
        let text = |len_bytes, charset| Codec::String {
            len_bytes,
            charset: Some(charset),
            pad_to: None,
        };
        // The steps' cases whose columns are plain, and the codecs without a step.
        let mut cases: Vec<(Codec, Vec<u8>)> = step_cases()
            .into_iter()
            .filter(|(c, _)| {
                matches!(
                    ColumnBuilder::plain(&c.arrow_type()),
                    Ok(ColumnBuilder::Plain(_))
                )
            })
            .collect();
        cases.extend([
            (Codec::Float, 1.5f32.to_le_bytes().to_vec()),
            (Codec::Double, (-2.25f64).to_le_bytes().to_vec()),
            // DECIMAL(12,2) 1234567890.12 and -0.05; DECIMAL(40,2) goes to text.
            (
                Codec::Decimal {
                    precision: 12,
                    scale: 2,
                },
                vec![0x81, 0x0D, 0xFB, 0x38, 0xD2, 0x0C],
            ),
            (
                Codec::Decimal {
                    precision: 12,
                    scale: 2,
                },
                vec![0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFA],
            ),
            (
                Codec::Decimal {
                    precision: 40,
                    scale: 2,
                },
                {
                    let mut v = vec![0x80];
                    v.resize(decimal::binary_size(40, 2), 0);
                    *v.last_mut().unwrap() = 7;
                    v
                },
            ),
            (Codec::Date, vec![0x21, 0xC6, 0x0F]),
            (Codec::Date, vec![0, 0, 0]),
            (
                Codec::DateTime2 { fsp: 0 },
                vec![0x80, 0x00, 0x00, 0x00, 0x00],
            ),
            (Codec::DateTimeOld, 20240102030405u64.to_le_bytes().to_vec()),
            (Codec::TimestampOld, 1_700_000_000u32.to_le_bytes().to_vec()),
            (Codec::TimestampOld, vec![0, 0, 0, 0]),
            (Codec::Year, vec![124]),
            (Codec::Year, vec![0]),
            (text(1, Charset::Utf8), b"\x03abc".to_vec()),
            (text(1, Charset::from_collation(8)), b"\x02\xE9t".to_vec()),
            (
                Codec::Enum {
                    bytes: 1,
                    labels: vec!["a".into()],
                },
                vec![0],
            ),
            (
                Codec::Geometry { len_bytes: 4 },
                b"\x02\x00\x00\x00\x01\x02".to_vec(),
            ),
        ]);
        let mut plain_cases = 0;
        for (codec, bytes) in cases {
            let dt = codec.arrow_type();
            let step = Step::of(&codec);
            let run = |b: &mut ColumnBuilder, bytes: &[u8], stepped: bool| {
                let mut scratch = Scratch::default();
                let mut r = Reader::new(bytes);
                let out = if stepped {
                    decode_step(step, &codec, &mut r, b, &mut scratch)
                } else {
                    decode(&codec, &mut r, b, &mut scratch)
                };
                (out.map(|()| r.is_empty()), scratch.stats)
            };
            for stepped in [false, true] {
                let mut arrow = ColumnBuilder::new(&dt).unwrap();
                let mut plain = ColumnBuilder::plain(&dt).unwrap();
                assert!(matches!(plain, ColumnBuilder::Plain(_)), "{codec:?}");
                let want = run(&mut arrow, &bytes, stepped);
                assert_eq!(want.0, Ok(true), "{codec:?}");
                assert_eq!(run(&mut plain, &bytes, stepped), want, "{codec:?}");
                // A null between two values, as a row's null bit gives it.
                arrow.append_null();
                plain.append_null();
                assert_eq!(run(&mut arrow, &bytes, stepped).0, Ok(true));
                assert_eq!(run(&mut plain, &bytes, stepped).0, Ok(true));
                assert_eq!(
                    arrow.finish().unwrap().to_data(),
                    plain.finish().unwrap().to_data(),
                    "{codec:?}"
                );
                let short = &bytes[..bytes.len() - 1];
                let want = run(&mut ColumnBuilder::new(&dt).unwrap(), short, stepped);
                let got = run(&mut ColumnBuilder::plain(&dt).unwrap(), short, stepped);
                assert_eq!(got.0, want.0, "{codec:?} cut short");
                plain_cases += 1;
            }
        }
        assert_eq!(plain_cases, 2 * 34);
    }

    /// A text value that is not valid UTF-8 is stored with U+FFFD in place of the bad bytes and
    /// counted (design.md, MySQL type mapping), not refused; the values around it are untouched.
    #[test]
    fn invalid_utf8_text_is_replaced_and_counted() {
        let codec = Codec::String {
            len_bytes: 1,
            charset: Some(Charset::Utf8),
            pad_to: None,
        };
        let mut b = ColumnBuilder::new(&codec.arrow_type()).unwrap();
        let mut scratch = Scratch::default();
        for bytes in [&b"\x03a\xFF!"[..], b"\x02ok", b"\x02\xC3\xA9"] {
            let mut r = Reader::new(bytes);
            decode_step(Step::of(&codec), &codec, &mut r, &mut b, &mut scratch).unwrap();
            assert!(r.is_empty());
        }
        let a = b.finish().unwrap();
        let got: Vec<Option<&str>> = a.as_string::<i32>().iter().collect();
        assert_eq!(got, [Some("a\u{FFFD}!"), Some("ok"), Some("é")]);
        assert_eq!(scratch.stats.replaced_text, 1);
    }

    #[test]
    fn short_value_is_an_error() {
        let codec = Codec::Int {
            bytes: 8,
            unsigned: false,
        };
        let mut b = ColumnBuilder::new(&codec.arrow_type()).unwrap();
        let mut r = Reader::new(&[1, 2]);
        assert!(decode(&codec, &mut r, &mut b, &mut Scratch::default()).is_err());
    }
}
