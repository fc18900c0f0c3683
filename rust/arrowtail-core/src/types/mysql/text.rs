//! MySQL/MariaDB values as the text protocol sends them (a `SELECT` result: every value a
//! length-encoded string, MySQL "Text Resultset" / `ProtocolText::ResultsetRow`), decoded into the
//! same Arrow types and values as the binlog's binary row images.
//!
//! A snapshot knows a column from `information_schema.COLUMNS` (`DATA_TYPE`, `COLUMN_TYPE`,
//! `NUMERIC_PRECISION`, `NUMERIC_SCALE`, `CHARACTER_SET_NAME`), not from a TABLE_MAP. Each such
//! column is resolved to the [`Codec`] the binlog decoder would resolve for it, so the Arrow type
//! comes from one place ([`Codec::arrow_type`]); only the parsing of the value differs.
//!
//! Text forms (MySQL manual, "Date and Time Literals", "Bit-Value Type", "The SET Type"):
//! - integers, DECIMAL, FLOAT/DOUBLE: decimal text; DECIMAL with all its scale digits.
//! - DATE `YYYY-MM-DD`, DATETIME/TIMESTAMP `YYYY-MM-DD hh:mm:ss[.ffffff]` (TIMESTAMP in the
//!   session time zone, which the snapshot sets to `+00:00`); zero dates as zeros → null, counted
//!   like the binlog decoder counts them.
//! - TIME `[-]hhh:mm:ss[.ffffff]`, possibly negative and over 24 hours; YEAR four digits.
//! - character columns in the connection character set (utf8mb4); `binary` columns, BLOBs,
//!   GEOMETRY (SRID + WKB) and BIT (big-endian) as their stored bytes.
//! - ENUM its label, SET its labels joined by commas in definition order.
//! - MariaDB `UUID`, `INET6` and `INET4` as their text form; the binlog holds their 16 (4) stored
//!   bytes, in canonical order for UUID, so the text is turned back into those bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::arrow::ColumnBuilder;

use super::charset::Charset;
use super::value::{append_text_or_bytes, Scratch};
use super::{temporal, Codec};

/// One column as `information_schema.COLUMNS` describes it.
#[derive(Debug, Clone, Default)]
pub struct TextColumn {
    pub name: String,
    /// `DATA_TYPE`, e.g. `int`, `varchar`, `uuid` (case does not matter).
    pub data_type: String,
    /// `COLUMN_TYPE`, e.g. `int(10) unsigned`, `enum('a','b')`.
    pub column_type: String,
    /// `NUMERIC_PRECISION` (for BIT: the number of bits).
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    /// `CHARACTER_SET_NAME`; `binary` makes a character column a byte string.
    pub charset: Option<String>,
}

/// How the text of a value maps onto the stored bytes the binlog carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The codec's own text form.
    Plain,
    /// MariaDB `UUID`: text → 16 bytes.
    Uuid,
    /// MariaDB `INET6`: text → 16 bytes.
    Inet6,
    /// MariaDB `INET4`: text → 4 bytes.
    Inet4,
}

/// A column resolved for text values: the binlog codec (for the Arrow type) and the text form.
#[derive(Debug, Clone, PartialEq)]
pub struct TextCodec {
    pub codec: Codec,
    pub form: Form,
}

const GEOMETRY: &[&str] = &[
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
    "geomcollection",
];

impl TextColumn {
    /// The codec the binlog decoder resolves for this column (given full metadata).
    pub fn resolve(&self) -> TextCodec {
        let t = self.data_type.to_ascii_lowercase();
        let unsigned = self.column_type.to_ascii_lowercase().contains("unsigned");
        let binary = self
            .charset
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("binary"));
        let text = if binary {
            Charset::Binary
        } else {
            Charset::Utf8
        };
        let plain = |codec| TextCodec {
            codec,
            form: Form::Plain,
        };
        let bytes16 = |form| TextCodec {
            codec: Codec::String {
                len_bytes: 1,
                charset: Some(Charset::Binary),
                pad_to: Some(if form == Form::Inet4 { 4 } else { 16 }),
            },
            form,
        };
        let int = |bytes| Codec::Int { bytes, unsigned };
        plain(match t.as_str() {
            "tinyint" => int(1),
            "smallint" => int(2),
            "mediumint" => int(3),
            "int" | "integer" => int(4),
            "bigint" => int(8),
            "decimal" | "numeric" => Codec::Decimal {
                precision: self.precision.unwrap_or(10).min(255) as u8,
                scale: self.scale.unwrap_or(0).min(255) as u8,
            },
            "float" => Codec::Float,
            "double" | "real" | "double precision" => Codec::Double,
            "date" => Codec::Date,
            "datetime" => Codec::DateTime2 { fsp: 6 },
            "timestamp" => Codec::Timestamp2 { fsp: 6 },
            "time" => Codec::Time2 { fsp: 6 },
            "year" => Codec::Year,
            "bit" => Codec::Bit {
                bytes: self.precision.unwrap_or(1).div_ceil(8).clamp(1, 8) as u8,
            },
            "enum" => Codec::Enum {
                bytes: 2,
                labels: Vec::new(),
            },
            "set" => Codec::Set {
                bytes: 8,
                labels: Vec::new(),
            },
            "json" => Codec::Json { len_bytes: 4 },
            "vector" => Codec::Vector { len_bytes: 4 },
            "binary" | "varbinary" => Codec::String {
                len_bytes: 2,
                charset: Some(Charset::Binary),
                pad_to: None,
            },
            "tinyblob" | "blob" | "mediumblob" | "longblob" => Codec::Blob {
                len_bytes: 4,
                charset: Some(Charset::Binary),
            },
            "tinytext" | "text" | "mediumtext" | "longtext" => Codec::Blob {
                len_bytes: 4,
                charset: Some(text),
            },
            "uuid" => return bytes16(Form::Uuid),
            "inet6" => return bytes16(Form::Inet6),
            "inet4" => return bytes16(Form::Inet4),
            g if GEOMETRY.contains(&g) => Codec::Geometry { len_bytes: 4 },
            // char, varchar and anything newer: text in its character set.
            _ => Codec::String {
                len_bytes: 2,
                charset: Some(text),
                pad_to: None,
            },
        })
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| format!("{} bytes that are not text", bytes.len()))
}

fn number<T: std::str::FromStr>(bytes: &[u8]) -> Result<T, String> {
    let s = utf8(bytes)?;
    s.parse()
        .map_err(|_| format!("{s:?} is not a number of the column's type"))
}

/// Appends one non-null text value of `tc` to `b`.
pub fn append(
    tc: &TextCodec,
    bytes: &[u8],
    b: &mut ColumnBuilder,
    scratch: &mut Scratch,
) -> Result<(), String> {
    use ColumnBuilder as B;
    let mismatch = || {
        format!(
            "internal error: builder does not match codec {:?}",
            tc.codec
        )
    };
    match (&tc.codec, b) {
        (Codec::Int { .. }, b) => match b {
            B::Int8(b) => b.append_value(number(bytes)?),
            B::Int16(b) => b.append_value(number(bytes)?),
            B::Int32(b) => b.append_value(number(bytes)?),
            B::Int64(b) => b.append_value(number(bytes)?),
            B::UInt8(b) => b.append_value(number(bytes)?),
            B::UInt16(b) => b.append_value(number(bytes)?),
            B::UInt32(b) => b.append_value(number(bytes)?),
            B::UInt64(b) => b.append_value(number(bytes)?),
            _ => return Err(mismatch()),
        },
        (Codec::Float, B::Float32(b)) => b.append_value(number(bytes)?),
        (Codec::Double, B::Float64(b)) => b.append_value(number(bytes)?),
        (Codec::Decimal { scale, .. }, B::Decimal128(b)) => {
            b.append_value(decimal_i128(utf8(bytes)?, *scale)?)
        }
        (Codec::Decimal { .. }, B::Utf8(b)) => b.append_value(utf8(bytes)?),
        (Codec::Date, B::Date32(b)) => {
            let v = date_parts(utf8(bytes)?)?;
            let days = temporal::days_from_civil(v.0, v.1, v.2);
            append_counted(b, days, scratch);
        }
        (Codec::DateTime2 { .. } | Codec::Timestamp2 { .. }, B::Timestamp(b)) => {
            let us = datetime_micros(utf8(bytes)?)?;
            append_counted(b, us, scratch);
        }
        (Codec::Time2 { .. }, B::Duration(b)) => b.append_value(time_micros(utf8(bytes)?)?),
        (Codec::Year, B::Int16(b)) => b.append_value(number(bytes)?),
        (Codec::String { .. }, B::Binary(b)) if tc.form != Form::Plain => {
            let s = utf8(bytes)?;
            match tc.form {
                Form::Uuid => b.append_value(uuid_bytes(s)?),
                Form::Inet6 => b.append_value(
                    s.parse::<Ipv6Addr>()
                        .map_err(|_| format!("{s:?} is not an INET6 value"))?
                        .octets(),
                ),
                _ => b.append_value(
                    s.parse::<Ipv4Addr>()
                        .map_err(|_| format!("{s:?} is not an INET4 value"))?
                        .octets(),
                ),
            }
        }
        (Codec::String { .. } | Codec::Blob { .. } | Codec::Json { .. }, b) => {
            // The connection character set is utf8mb4, so every text arrives as UTF-8.
            if !append_text_or_bytes(b, bytes, Charset::Utf8, scratch) {
                return Err(mismatch());
            }
        }
        (Codec::Enum { .. }, B::Utf8(b)) => b.append_value(utf8(bytes)?),
        (Codec::Set { .. }, B::List(l)) => {
            let B::Utf8(values) = &mut l.values else {
                return Err(mismatch());
            };
            for label in utf8(bytes)?.split(',').filter(|s| !s.is_empty()) {
                values.append_value(label);
            }
            l.append(true).map_err(|e| e.to_string())?;
        }
        (Codec::Bit { .. }, B::UInt64(b)) => {
            if bytes.len() > 8 {
                return Err(format!("BIT value of {} bytes", bytes.len()));
            }
            b.append_value(bytes.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x)));
        }
        (Codec::Geometry { .. }, B::Binary(b)) => b.append_value(bytes),
        (Codec::Vector { .. }, B::List(l)) => {
            if bytes.len() % 4 != 0 {
                return Err(format!("VECTOR of {} bytes", bytes.len()));
            }
            let B::Float32(values) = &mut l.values else {
                return Err(mismatch());
            };
            for c in bytes.chunks_exact(4) {
                values.append_value(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            }
            l.append(true).map_err(|e| e.to_string())?;
        }
        (Codec::Null, b) => b.append_null(),
        _ => return Err(mismatch()),
    }
    Ok(())
}

fn append_counted<T: arrow_array::types::ArrowPrimitiveType>(
    b: &mut arrow_array::builder::PrimitiveBuilder<T>,
    v: Option<T::Native>,
    scratch: &mut Scratch,
) {
    if v.is_none() {
        scratch.stats.invalid_temporal += 1;
    }
    b.append_option(v);
}

/// `[-]digits[.digits]` as an unscaled integer of `scale` digits after the point.
fn decimal_i128(s: &str, scale: u8) -> Result<i128, String> {
    let bad = || format!("{s:?} is not a DECIMAL value");
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > usize::from(scale) {
        return Err(bad());
    }
    let mut acc: i128 = 0;
    let pad = usize::from(scale) - frac.len();
    for c in int
        .bytes()
        .chain(frac.bytes())
        .chain(std::iter::repeat_n(b'0', pad))
    {
        if !c.is_ascii_digit() {
            return Err(bad());
        }
        acc = acc
            .checked_mul(10)
            .and_then(|a| a.checked_add(i128::from(c - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(if neg { -acc } else { acc })
}

/// `YYYY-MM-DD` as (year, month, day); zeros are returned as they are (invalid later).
fn date_parts(s: &str) -> Result<(i64, u32, u32), String> {
    let bad = || format!("{s:?} is not a DATE value");
    let mut it = s.splitn(3, '-');
    let mut next = || it.next().ok_or_else(bad);
    let y = next()?.parse().map_err(|_| bad())?;
    let m = next()?.parse().map_err(|_| bad())?;
    let d = next()?.parse().map_err(|_| bad())?;
    Ok((y, m, d))
}

/// `.ffffff` (1 to 6 digits) as microseconds.
fn fraction_micros(frac: &str, bad: &dyn Fn() -> String) -> Result<u32, String> {
    if frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let v: u32 = frac.parse().map_err(|_| bad())?;
    Ok(v * 10u32.pow(6 - frac.len() as u32))
}

/// `YYYY-MM-DD hh:mm:ss[.ffffff]` as microseconds since the epoch; None for zero or invalid
/// values.
fn datetime_micros(s: &str) -> Result<Option<i64>, String> {
    let bad = || format!("{s:?} is not a DATETIME value");
    let (date, time) = s.split_once(' ').ok_or_else(bad)?;
    let (y, mo, d) = date_parts(date)?;
    let (hms, frac) = match time.split_once('.') {
        Some((hms, f)) => (hms, fraction_micros(f, &bad)?),
        None => (time, 0),
    };
    let mut it = hms
        .splitn(3, ':')
        .map(|p| p.parse::<u32>().map_err(|_| bad()));
    let mut next = || it.next().ok_or_else(bad)?;
    let (h, mi, sec) = (next()?, next()?, next()?);
    Ok(temporal::micros_from_parts(y, mo, d, h, mi, sec, frac))
}

/// `[-]h+:mm:ss[.ffffff]` as signed microseconds.
fn time_micros(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a TIME value");
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (hms, frac) = match rest.split_once('.') {
        Some((hms, f)) => (hms, fraction_micros(f, &bad)?),
        None => (rest, 0),
    };
    let mut it = hms
        .splitn(3, ':')
        .map(|p| p.parse::<i64>().map_err(|_| bad()));
    let mut next = || it.next().ok_or_else(bad)?;
    let (h, m, sec) = (next()?, next()?, next()?);
    let us = ((h * 60 + m) * 60 + sec) * 1_000_000 + i64::from(frac);
    Ok(if neg { -us } else { us })
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` as its 16 bytes in the order written.
fn uuid_bytes(s: &str) -> Result<[u8; 16], String> {
    let bad = || format!("{s:?} is not a UUID value");
    let hex: Vec<u8> = s.bytes().filter(|&c| c != b'-').collect();
    if hex.len() != 32 || s.len() != 36 {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Each type family: the text a `SELECT` returns and the binlog's stored bytes of the same value
/// give the same Arrow type and value.
#[cfg(test)]
mod tests {
    use arrow_array::{Array, ArrayRef};

    use super::*;
    use crate::reader::Reader;
    use crate::types::mysql::value::decode;

    fn col(data_type: &str, column_type: &str, p: Option<u32>, s: Option<u32>) -> TextColumn {
        TextColumn {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            precision: p,
            scale: s,
            charset: None,
        }
    }

    fn from_text(tc: &TextCodec, values: &[Option<&[u8]>]) -> (ArrayRef, Scratch) {
        let mut b = ColumnBuilder::new(&tc.codec.arrow_type()).unwrap();
        let mut scratch = Scratch::default();
        for v in values {
            match v {
                Some(v) => append(tc, v, &mut b, &mut scratch).unwrap(),
                None => b.append_null(),
            }
        }
        (b.finish().unwrap(), scratch)
    }

    /// Values decoded from binlog row bytes with `codec` (the one a TABLE_MAP gives the column).
    fn from_binlog(codec: &Codec, values: &[Option<&[u8]>]) -> ArrayRef {
        let mut b = ColumnBuilder::new(&codec.arrow_type()).unwrap();
        let mut scratch = Scratch::default();
        for v in values {
            match v {
                Some(v) => {
                    let mut r = Reader::new(v);
                    decode(codec, &mut r, &mut b, &mut scratch).unwrap();
                    assert!(r.is_empty());
                }
                None => b.append_null(),
            }
        }
        b.finish().unwrap()
    }

    /// Asserts that text values through `column` equal binlog values through `binlog`.
    fn same(column: TextColumn, binlog: Codec, text: &[Option<&[u8]>], stored: &[Option<&[u8]>]) {
        let tc = column.resolve();
        assert_eq!(tc.codec.arrow_type(), binlog.arrow_type(), "{column:?}");
        let (a, _) = from_text(&tc, text);
        let b = from_binlog(&binlog, stored);
        assert_eq!(a.to_data(), b.to_data(), "{column:?}: {a:?} vs {b:?}");
    }

    #[test]
    fn integers() {
        let i32_neg = (-8_388_608i32).to_le_bytes();
        same(
            col("mediumint", "mediumint(9)", Some(7), Some(0)),
            Codec::Int {
                bytes: 3,
                unsigned: false,
            },
            &[Some(b"-8388608"), None],
            &[Some(&i32_neg[..3]), None],
        );
        let u64_max = u64::MAX.to_le_bytes();
        same(
            col("bigint", "bigint(20) unsigned", Some(20), Some(0)),
            Codec::Int {
                bytes: 8,
                unsigned: true,
            },
            &[Some(b"18446744073709551615")],
            &[Some(&u64_max)],
        );
        let tc = col("tinyint", "tinyint(4)", None, None).resolve();
        let mut b = ColumnBuilder::new(&tc.codec.arrow_type()).unwrap();
        assert!(append(&tc, b"300", &mut b, &mut Scratch::default()).is_err());
    }

    #[test]
    fn floats() {
        same(
            col("float", "float", Some(12), None),
            Codec::Float,
            &[Some(b"-1.5")],
            &[Some(&(-1.5f32).to_le_bytes())],
        );
        same(
            col("double", "double", Some(22), None),
            Codec::Double,
            &[Some(b"1e300")],
            &[Some(&1e300f64.to_le_bytes())],
        );
    }

    #[test]
    fn decimals() {
        // DECIMAL(14,4) 1234567890.1234 and its negation, stored as in decimal2bin.
        let pos = [0x81u8, 0x0D, 0xFB, 0x38, 0xD2, 0x04, 0xD2];
        let neg: Vec<u8> = pos.iter().map(|x| !x).collect();
        same(
            col("decimal", "decimal(14,4)", Some(14), Some(4)),
            Codec::Decimal {
                precision: 14,
                scale: 4,
            },
            &[Some(b"1234567890.1234"), Some(b"-1234567890.1234")],
            &[Some(&pos), Some(&neg)],
        );
        // Above 38 digits the text stays as the server writes it.
        let tc = col("decimal", "decimal(50,20)", Some(50), Some(20)).resolve();
        let (a, _) = from_text(&tc, &[Some(b"-0.00001000000000000000")]);
        let a = a
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        assert_eq!(a.value(0), "-0.00001000000000000000");
        assert_eq!(decimal_i128("12.5", 2).unwrap(), 1250);
        assert!(decimal_i128("1.234", 2).is_err());
        assert!(decimal_i128("x", 2).is_err());
    }

    #[test]
    fn dates_and_times() {
        // DATE 2024-02-29: day | month << 5 | year << 9, and the zero date.
        let d = (29u32 | 2 << 5 | 2024 << 9).to_le_bytes();
        same(
            col("date", "date", None, None),
            Codec::Date,
            &[Some(b"2024-02-29"), Some(b"0000-00-00")],
            &[Some(&d[..3]), Some(&[0, 0, 0])],
        );
        // DATETIME(6) 2024-01-02 03:04:05.000006 as DATETIME2: the packed form, 5 + 3 bytes.
        let ym = 2024u64 * 13 + 1;
        let int = (1u64 << 39) | (ym << 22) | (2 << 17) | (3 << 12) | (4 << 6) | 5;
        let mut dt = int.to_be_bytes()[3..].to_vec();
        dt.extend_from_slice(&6u32.to_be_bytes()[1..]);
        same(
            col("datetime", "datetime(6)", None, None),
            Codec::DateTime2 { fsp: 6 },
            &[Some(b"2024-01-02 03:04:05.000006")],
            &[Some(&dt)],
        );
        // TIMESTAMP(0): seconds since the epoch; the zero value is null.
        same(
            col("timestamp", "timestamp", None, None),
            Codec::Timestamp2 { fsp: 0 },
            &[Some(b"1970-01-02 00:00:01"), Some(b"0000-00-00 00:00:00")],
            &[Some(&86_401u32.to_be_bytes()), Some(&[0, 0, 0, 0])],
        );
        // TIME(0) -838:59:59 and 01:00:00 (TIME2: 0x800000 offset, big-endian).
        let t = |v: i64| ((v + 0x80_0000) as u32).to_be_bytes()[1..].to_vec();
        let hms = |h: i64, m: i64, s: i64| (h << 12) | (m << 6) | s;
        let (lo, one) = (t(-hms(838, 59, 59)), t(hms(1, 0, 0)));
        same(
            col("time", "time", None, None),
            Codec::Time2 { fsp: 0 },
            &[Some(b"-838:59:59"), Some(b"01:00:00")],
            &[Some(&lo), Some(&one)],
        );
        same(
            col("year", "year(4)", None, None),
            Codec::Year,
            &[Some(b"2155"), Some(b"0000")],
            &[Some(&[255]), Some(&[0])],
        );
        let tc = col("time", "time(6)", None, None).resolve();
        let (a, _) = from_text(&tc, &[Some(b"-00:59:59.5")]);
        let a = a
            .as_any()
            .downcast_ref::<arrow_array::DurationMicrosecondArray>()
            .unwrap();
        assert_eq!(a.value(0), -3_599_500_000);
        let tc = col("datetime", "datetime", None, None).resolve();
        let (_, scratch) = from_text(&tc, &[Some(b"0000-00-00 00:00:00")]);
        assert_eq!(scratch.stats.invalid_temporal, 1);
    }

    #[test]
    fn text_and_bytes() {
        let mut c = col("varchar", "varchar(30)", None, None);
        c.charset = Some("utf8mb4".into());
        same(
            c,
            Codec::String {
                len_bytes: 1,
                charset: Some(Charset::Utf8),
                pad_to: None,
            },
            &[Some("héllo".as_bytes())],
            &[Some(b"\x06h\xc3\xa9llo")],
        );
        // BINARY(4): the binlog leaves out trailing zeros, the SELECT returns them.
        same(
            col("binary", "binary(4)", None, None),
            Codec::String {
                len_bytes: 1,
                charset: Some(Charset::Binary),
                pad_to: Some(4),
            },
            &[Some(b"a\0\0\0")],
            &[Some(b"\x01a")],
        );
        same(
            col("longblob", "longblob", None, None),
            Codec::Blob {
                len_bytes: 4,
                charset: Some(Charset::Binary),
            },
            &[Some(b"\xff\x00")],
            &[Some(b"\x02\0\0\0\xff\x00")],
        );
        // MariaDB's JSON is LONGTEXT.
        let mut j = col("longtext", "longtext", None, None);
        j.charset = Some("utf8mb4".into());
        same(
            j,
            Codec::Blob {
                len_bytes: 4,
                charset: Some(Charset::Utf8),
            },
            &[Some(br#"{"a": [1, 2]}"#)],
            &[Some(b"\x0d\0\0\0{\"a\": [1, 2]}")],
        );
        same(
            col("point", "point", None, None),
            Codec::Geometry { len_bytes: 4 },
            &[Some(b"\0\0\0\0\x01")],
            &[Some(b"\x05\0\0\0\0\0\0\0\x01")],
        );
    }

    #[test]
    fn labels_and_bits() {
        let labels: Vec<String> = ["x", "y", "z"].map(String::from).to_vec();
        same(
            col("enum", "enum('x','y','z')", None, None),
            Codec::Enum {
                bytes: 1,
                labels: labels.clone(),
            },
            &[Some(b"y"), Some(b"")],
            &[Some(&[2]), Some(&[0])],
        );
        same(
            col("set", "set('x','y','z')", None, None),
            Codec::Set { bytes: 1, labels },
            &[Some(b"x,z"), Some(b""), None],
            &[Some(&[0b101]), Some(&[0]), None],
        );
        same(
            col("bit", "bit(9)", Some(9), None),
            Codec::Bit { bytes: 2 },
            &[Some(b"\x01\x02")],
            &[Some(b"\x01\x02")],
        );
    }

    #[test]
    fn mariadb_uuid_and_inet() {
        let stored = Codec::String {
            len_bytes: 1,
            charset: Some(Charset::Binary),
            pad_to: Some(16),
        };
        let mut uuid = vec![16u8];
        uuid.extend_from_slice(&[
            0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
            0x40, 0x00,
        ]);
        same(
            col("uuid", "uuid", None, None),
            stored.clone(),
            &[Some(b"123e4567-e89b-12d3-a456-426614174000")],
            &[Some(&uuid)],
        );
        let mut inet = vec![16u8];
        inet.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        same(
            col("inet6", "inet6", None, None),
            stored,
            &[Some(b"2001:db8::1")],
            &[Some(&inet)],
        );
        same(
            col("inet4", "inet4", None, None),
            Codec::String {
                len_bytes: 1,
                charset: Some(Charset::Binary),
                pad_to: Some(4),
            },
            &[Some(b"10.0.0.1")],
            &[Some(&[4, 10, 0, 0, 1])],
        );
        let tc = col("uuid", "uuid", None, None).resolve();
        let mut b = ColumnBuilder::new(&tc.codec.arrow_type()).unwrap();
        assert!(append(&tc, b"not-a-uuid", &mut b, &mut Scratch::default()).is_err());
    }
}
