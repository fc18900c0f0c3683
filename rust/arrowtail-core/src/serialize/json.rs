//! Small JSON writing helpers for the serializers: string escaping (RFC 8259 section 7), base64
//! (RFC 4648 section 4, with padding), and the text forms Debezium uses for temporal, decimal and
//! uuid values. Everything appends to a byte buffer; nothing allocates per value.

use std::io::Write;

/// Appends `s` as a JSON string literal, escaping `"`, `\` and control characters (RFC 8259 §7).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends an unsigned integer in decimal (a small stack buffer; no formatting machinery, this
/// runs for every integer value and every row's positions).
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends a signed integer in decimal.
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// Appends `data` base64-encoded (standard alphabet, padded) inside JSON quotes, the way Kafka
/// Connect's JSON converter writes `bytes` values.
pub fn write_base64(out: &mut Vec<u8>, data: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |v: u32| ALPHABET[(v & 0x3f) as usize];
    out.push(b'"');
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let v = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        out.extend_from_slice(&[sym(v >> 18), sym(v >> 12), sym(v >> 6), sym(v)]);
    }
    match *chunks.remainder() {
        [a] => {
            let v = u32::from(a) << 16;
            out.extend_from_slice(&[sym(v >> 18), sym(v >> 12), b'=', b'=']);
        }
        [a, b] => {
            let v = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend_from_slice(&[sym(v >> 18), sym(v >> 12), sym(v >> 6), b'=']);
        }
        _ => {}
    }
    out.push(b'"');
}

/// Appends a finite float as a JSON number; NaN and infinities, which JSON cannot express, as the
/// strings `"NaN"`, `"Infinity"`, `"-Infinity"` (what Jackson, used by Kafka Connect, writes).
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        // `{:?}` is the shortest round-trip form and always valid JSON (`1.0`, `1e300`).
        let _ = write!(out, "{v:?}");
    }
}

/// Appends a 16-byte uuid in its canonical 8-4-4-4-12 lower-case hex form, quoted.
pub fn write_uuid(out: &mut Vec<u8>, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 0xf)]);
    }
    out.push(b'"');
}

/// Appends a decimal of unscaled value `v` and scale `scale` as a quoted plain decimal string
/// (`"-12.340"`): Debezium's `decimal.handling.mode=string`.
pub fn write_decimal_str(out: &mut Vec<u8>, v: i128, scale: i8) {
    out.push(b'"');
    write_decimal_plain(out, v, scale);
    out.push(b'"');
}

fn write_decimal_plain(out: &mut Vec<u8>, v: i128, scale: i8) {
    if v < 0 {
        out.push(b'-');
    }
    // Digits of |v| into a stack buffer (u128 has at most 39 digits).
    let mut buf = [0u8; 40];
    let mut i = buf.len();
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    let digits = &buf[i..];
    if scale <= 0 {
        out.extend_from_slice(digits);
        if v != 0 {
            out.extend(std::iter::repeat_n(b'0', usize::from(scale.unsigned_abs())));
        }
        return;
    }
    let scale = usize::from(scale.unsigned_abs());
    if digits.len() <= scale {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', scale - digits.len()));
        out.extend_from_slice(digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    }
}

/// Appends a decimal's unscaled value as base64 of its minimal big-endian two's complement bytes
/// (Java `BigInteger.toByteArray`): Kafka Connect's `Decimal` logical type, Debezium's
/// `decimal.handling.mode=precise`.
pub fn write_decimal_bytes(out: &mut Vec<u8>, v: i128) {
    let bytes = v.to_be_bytes();
    // Drop leading bytes that only repeat the sign, keeping at least one byte.
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    write_base64(out, &bytes[start..]);
}

/// Appends a decimal as a JSON number (`decimal.handling.mode=double`; may lose precision).
pub fn write_decimal_double(out: &mut Vec<u8>, v: i128, scale: i8) {
    write_f64(out, v as f64 / 10f64.powi(i32::from(scale)));
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (the inverse of the
/// days-from-civil algorithm, valid for every i64 day count a timestamp[us] can reach).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Appends microseconds since the epoch, UTC, as a quoted ISO 8601 instant
/// with exactly six fraction digits (`"2024-03-01T12:00:00.500000Z"`): Debezium's `ZonedTimestamp`
/// for a column of the default precision.
/// Years outside 0000–9999 carry a sign, as `java.time` prints them.
pub fn write_iso_instant(out: &mut Vec<u8>, micros: i64) {
    write_instant(out, micros, Some(6))
}

/// Like [`write_iso_instant`], with as few fraction digits as the value needs and none for a
/// whole second (`"2024-03-01T12:00:00.5Z"`, `"2024-03-01T12:00:00Z"`): how `java.time`'s ISO
/// formatter prints an instant, and so Debezium's MySQL and MariaDB connectors a `TIMESTAMP`.
pub fn write_iso_instant_short(out: &mut Vec<u8>, micros: i64) {
    write_instant(out, micros, None)
}

/// Like [`write_iso_instant`], with exactly `digits` (at most six) fraction digits and none for
/// zero: Debezium's `ZonedTimestamp` of a MySQL `TIMESTAMP(digits)` in streamed changes.
pub fn write_iso_instant_digits(out: &mut Vec<u8>, micros: i64, digits: u8) {
    write_instant(out, micros, Some(usize::from(digits.min(6))))
}

/// `digits`: how many fraction digits; None for as few as the value needs.
fn write_instant(out: &mut Vec<u8>, micros: i64, digits: Option<usize>) {
    let days = micros.div_euclid(86_400_000_000);
    let in_day = micros.rem_euclid(86_400_000_000);
    let (y, mo, d) = civil_from_days(days);
    let secs = in_day / 1_000_000;
    let frac = in_day % 1_000_000;
    out.push(b'"');
    if (0..=9999).contains(&y) {
        two(out, (y / 100) as u32);
        two(out, (y % 100) as u32);
    } else {
        out.push(if y < 0 { b'-' } else { b'+' });
        let a = y.unsigned_abs();
        if a < 1000 {
            out.extend(std::iter::repeat_n(b'0', 4 - a.to_string().len()));
        }
        write_u64(out, a);
    }
    out.push(b'-');
    two(out, mo);
    out.push(b'-');
    two(out, d);
    out.push(b'T');
    two(out, (secs / 3600) as u32);
    out.push(b':');
    two(out, (secs / 60 % 60) as u32);
    out.push(b':');
    two(out, (secs % 60) as u32);
    // Six fraction digits, as Debezium prints a `timestamptz` of the default precision; the
    // short form drops trailing zeros (and the point with them).
    let mut f = frac as u32;
    let mut buf = [b'0'; 6];
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (f % 10) as u8;
        f /= 10;
    }
    let digits =
        digits.unwrap_or_else(|| buf.iter().rposition(|&b| b != b'0').map_or(0, |p| p + 1));
    if digits > 0 {
        out.push(b'.');
        out.extend_from_slice(&buf[..digits]);
    }
    out.extend_from_slice(b"Z\"");
}

/// Appends a number below 100 as two digits.
fn two(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Appends a month-day-nano interval as a quoted ISO 8601 duration in the shape of Debezium's
/// `interval.handling.mode=string` (`"P<y>Y<m>M<d>DT<h>H<min>M<s>S"`): months split into years
/// and months, the time into hours, minutes and seconds, each part truncated toward zero and
/// carrying its own sign as PostgreSQL's interval fields do; the seconds exact to the nanosecond
/// with trailing zeros dropped.
pub fn write_iso_interval(out: &mut Vec<u8>, months: i32, days: i32, nanos: i64) {
    const HOUR: i64 = 3_600_000_000_000;
    const MINUTE: i64 = 60_000_000_000;
    let (years, months) = (months / 12, months % 12);
    let (hours, rest) = (nanos / HOUR, nanos % HOUR);
    let (minutes, rest) = (rest / MINUTE, rest % MINUTE);
    let _ = write!(out, "\"P{years}Y{months}M{days}DT{hours}H{minutes}M");
    write_decimal_plain(out, i128::from(rest), 9);
    // Trim the fraction: "3.500000000" -> "3.5", "3.000000000" -> "3".
    while out.last() == Some(&b'0') {
        out.pop();
    }
    if out.last() == Some(&b'.') {
        out.pop();
    }
    out.extend_from_slice(b"S\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(
            s(|o| write_str(o, "a\"b\\c\nd\u{1}é")),
            r#""a\"b\\c\nd\u0001é""#
        );
        assert_eq!(s(|o| write_str(o, "")), r#""""#);
    }

    #[test]
    fn integers() {
        assert_eq!(s(|o| write_u64(o, 0)), "0");
        assert_eq!(s(|o| write_u64(o, u64::MAX)), "18446744073709551615");
        assert_eq!(s(|o| write_i64(o, i64::MIN)), "-9223372036854775808");
        assert_eq!(s(|o| write_i64(o, -7)), "-7");
        assert_eq!(s(|o| write_i64(o, 42)), "42");
    }

    #[test]
    fn base64_pads() {
        assert_eq!(s(|o| write_base64(o, b"")), r#""""#);
        assert_eq!(s(|o| write_base64(o, b"f")), r#""Zg==""#);
        assert_eq!(s(|o| write_base64(o, b"fo")), r#""Zm8=""#);
        assert_eq!(s(|o| write_base64(o, b"foo")), r#""Zm9v""#);
        assert_eq!(s(|o| write_base64(o, b"foobar")), r#""Zm9vYmFy""#);
    }

    #[test]
    fn decimals() {
        assert_eq!(s(|o| write_decimal_str(o, 12345, 2)), r#""123.45""#);
        assert_eq!(s(|o| write_decimal_str(o, -5, 3)), r#""-0.005""#);
        assert_eq!(s(|o| write_decimal_str(o, 0, 2)), r#""0.00""#);
        assert_eq!(s(|o| write_decimal_str(o, 7, -2)), r#""700""#);
        assert_eq!(s(|o| write_decimal_str(o, 42, 0)), r#""42""#);
        // BigInteger.valueOf(12345).toByteArray() = [0x30, 0x39] -> "MDk="
        assert_eq!(s(|o| write_decimal_bytes(o, 12345)), r#""MDk=""#);
        // 128 needs a sign byte: [0x00, 0x80] -> "AIA="; -1 is [0xff] -> "/w=="
        assert_eq!(s(|o| write_decimal_bytes(o, 128)), r#""AIA=""#);
        assert_eq!(s(|o| write_decimal_bytes(o, -1)), r#""/w==""#);
        assert_eq!(s(|o| write_decimal_bytes(o, 0)), r#""AA==""#);
        assert_eq!(s(|o| write_decimal_double(o, 12345, 2)), "123.45");
    }

    #[test]
    fn instants() {
        assert_eq!(
            s(|o| write_iso_instant(o, 0)),
            r#""1970-01-01T00:00:00.000000Z""#
        );
        assert_eq!(
            s(|o| write_iso_instant(o, 1_709_294_400_500_000)),
            r#""2024-03-01T12:00:00.500000Z""#
        );
        assert_eq!(
            s(|o| write_iso_instant(o, -1)),
            r#""1969-12-31T23:59:59.999999Z""#
        );
        assert_eq!(
            s(|o| write_iso_instant(o, 1_000_010)),
            r#""1970-01-01T00:00:01.000010Z""#
        );
        assert_eq!(
            s(|o| write_iso_instant(o, 253_402_300_800_000_000)),
            r#""+10000-01-01T00:00:00.000000Z""#
        );
        assert_eq!(
            s(|o| write_iso_instant(o, -62_198_755_200_000_000)),
            r#""-0001-01-01T00:00:00.000000Z""#
        );
        assert_eq!(
            s(|o| write_iso_instant_short(o, 1_709_294_400_500_000)),
            r#""2024-03-01T12:00:00.5Z""#
        );
        assert_eq!(
            s(|o| write_iso_instant_short(o, 1_000_010)),
            r#""1970-01-01T00:00:01.00001Z""#
        );
        assert_eq!(
            s(|o| write_iso_instant_short(o, 1_000_000)),
            r#""1970-01-01T00:00:01Z""#
        );
        assert_eq!(
            s(|o| write_iso_instant_short(o, -1)),
            r#""1969-12-31T23:59:59.999999Z""#
        );
        assert_eq!(
            s(|o| write_iso_instant_digits(o, 1_709_294_400_500_000, 3)),
            r#""2024-03-01T12:00:00.500Z""#
        );
        assert_eq!(
            s(|o| write_iso_instant_digits(o, 1_000_000, 6)),
            r#""1970-01-01T00:00:01.000000Z""#
        );
        assert_eq!(
            s(|o| write_iso_instant_digits(o, 1_000_000, 0)),
            r#""1970-01-01T00:00:01Z""#
        );
        assert_eq!(civil_from_days(-719_528), (0, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn uuids_floats_intervals() {
        let u: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            s(|o| write_uuid(o, &u)),
            r#""00010203-0405-0607-0809-0a0b0c0d0e0f""#
        );
        assert_eq!(s(|o| write_f64(o, 1.5)), "1.5");
        assert_eq!(s(|o| write_f64(o, 1.0)), "1.0");
        assert_eq!(s(|o| write_f64(o, f64::NAN)), r#""NaN""#);
        assert_eq!(s(|o| write_f64(o, f64::NEG_INFINITY)), r#""-Infinity""#);
        assert_eq!(
            s(|o| write_iso_interval(o, 14, 3, 3_723_500_000_000)),
            r#""P1Y2M3DT1H2M3.5S""#
        );
        assert_eq!(s(|o| write_iso_interval(o, 0, 0, 0)), r#""P0Y0M0DT0H0M0S""#);
        assert_eq!(
            s(|o| write_iso_interval(o, -1, 0, -1_000)),
            r#""P0Y-1M0DT0H0M-0.000001S""#
        );
        assert_eq!(
            s(|o| write_iso_interval(o, -14, -2, -3_723_250_000_000)),
            r#""P-1Y-2M-2DT-1H-2M-3.25S""#
        );
        assert_eq!(
            s(|o| write_iso_interval(o, 0, 0, 600_000_000_000)),
            r#""P0Y0M0DT0H10M0S""#
        );
    }
}
