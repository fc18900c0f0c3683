//! Value forms that depend on a column's declared source type where its Arrow type does not tell
//! it: the sources name the facts in field metadata (`arrowtail.logical_type`, `arrowtail.scale`,
//! `arrowtail.length`, `arrowtail.precision`), and both serializers (JSON and Avro) choose the
//! form Debezium's connector gives the declared type:
//!
//! - PostgreSQL `money` (text in the batch): Kafka Connect `Decimal` of scale `arrowtail.scale`
//!   (Debezium's `money.fraction.digits`, default 2), in the precise decimal mode.
//! - PostgreSQL `numeric` without precision (exact text), in the precise decimal mode:
//!   `io.debezium.data.VariableScaleDecimal`, a struct of the scale and the unscaled value's bytes,
//!   trailing zeros dropped; `NaN` and `±Infinity`, which it cannot hold, are null (Debezium's
//!   connector fails to convert them under `decimal.handling.mode=precise` and leaves the field
//!   null). In the other modes both stay their exact text.
//! - MySQL/MariaDB `DATETIME(0..3)` and PostgreSQL `timestamp(0..3)`: `io.debezium.time.Timestamp`,
//!   epoch milliseconds (Debezium's `time.precision.mode=adaptive`).
//! - PostgreSQL `time(0..3)`: `io.debezium.time.Time`, milliseconds of the day as an `int32`
//!   (the same mode; Debezium's MySQL connectors default to `adaptive_time_microseconds`, and the
//!   MySQL/MariaDB sources declare no precision on `TIME`).
//! - MySQL/MariaDB `TIMESTAMP(n)` in streamed changes: exactly `n` fraction digits (snapshot rows
//!   keep as few as the value needs, as Debezium's snapshot does). PostgreSQL `timestamptz(n)`:
//!   exactly `n` fraction digits in every event, none for `n` = 0.
//! - MySQL/MariaDB `FLOAT(m,d)` (and `FLOAT(p)` with p above 24): `double`.
//! - MySQL/MariaDB `MEDIUMINT UNSIGNED` (`uint32` in the batch): `int32`.

use arrow_schema::{DataType, Field, TimeUnit};

use super::encoder::logical;

/// Field metadata key: digits after the point (PostgreSQL `money`, MySQL `FLOAT(m,d)`).
pub const SCALE: &str = "arrowtail.scale";
/// Field metadata key: declared fraction-second digits of a MySQL `DATETIME(n)`/`TIMESTAMP(n)`,
/// a PostgreSQL `timestamp(n)`/`timestamptz(n)`/`time(n)`.
pub const PRECISION: &str = "arrowtail.precision";

/// The declared-type form of a column, when its Arrow type alone does not decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    /// PostgreSQL `money`: a decimal of this scale.
    Money(i8),
    /// PostgreSQL `numeric` without precision.
    VariableDecimal,
    /// MySQL `DATETIME(0..3)`, PostgreSQL `timestamp(0..3)`: epoch milliseconds.
    MillisTimestamp,
    /// PostgreSQL `time(0..3)`: milliseconds of the day.
    MillisTime,
    /// MySQL `TIMESTAMP(n)`: `n` fraction digits in streamed changes; PostgreSQL
    /// `timestamptz(n)`: in every event ([`super::Forms::instant_digits`]).
    InstantDigits(u8),
    /// MySQL `FLOAT(m,d)`: a double.
    FloatAsDouble,
    /// MySQL `MEDIUMINT UNSIGNED`: an int32.
    MediumUnsigned,
}

fn meta<'f>(field: &'f Field, key: &str) -> Option<&'f str> {
    field.metadata().get(key).map(String::as_str)
}

/// What the metadata of `field` (of Arrow type `dt`) declares, if anything changes the form.
pub fn declared(dt: &DataType, field: &Field) -> Option<Declared> {
    let kind = logical(field);
    let number = |key: &str| meta(field, key).and_then(|v| v.parse::<i64>().ok());
    match (dt, kind) {
        (DataType::Utf8, Some("money")) => {
            let scale = number(SCALE).unwrap_or(2).clamp(0, 38) as i8;
            Some(Declared::Money(scale))
        }
        (DataType::Utf8, Some("numeric")) => Some(Declared::VariableDecimal),
        (DataType::UInt32, Some("mediumint")) => Some(Declared::MediumUnsigned),
        // Debezium's MySQL rule: a FLOAT is a float32 only without a scale and with at most 24
        // bits of precision (`FLOAT(p)`, p <= 24); else it is a double.
        (DataType::Float32, Some("float"))
            if number(SCALE).is_some() || number("arrowtail.length").is_some_and(|p| p > 24) =>
        {
            Some(Declared::FloatAsDouble)
        }
        (DataType::Timestamp(TimeUnit::Microsecond, None), _) => match number(PRECISION) {
            Some(p) if (0..=3).contains(&p) => Some(Declared::MillisTimestamp),
            _ => None,
        },
        (DataType::Time64(TimeUnit::Microsecond), _) => match number(PRECISION) {
            Some(p) if (0..=3).contains(&p) => Some(Declared::MillisTime),
            _ => None,
        },
        (DataType::Timestamp(TimeUnit::Microsecond, Some(_)), _) => match number(PRECISION) {
            Some(p) if (0..=6).contains(&p) => Some(Declared::InstantDigits(p as u8)),
            _ => None,
        },
        _ => None,
    }
}

/// The unscaled value at `scale` of PostgreSQL `money` text (`$1,234.50`, `-$0.99`, `($5.00)`):
/// the digits, the point and the sign; the currency symbol and group separators are skipped.
/// Rounds half up beyond `scale`, as Debezium sets the scale. None without a digit or past i128.
pub fn money_unscaled(text: &str, scale: i8) -> Option<i128> {
    let negative = text.contains('-') || text.trim_start().starts_with('(');
    let mut unscaled: i128 = 0;
    let mut fraction: i32 = -1;
    let mut digits = 0;
    let mut round_up = false;
    let scale = i32::from(scale.max(0));
    for c in text.chars() {
        match c {
            '0'..='9' => {
                let d = i128::from(c as u8 - b'0');
                digits += 1;
                if fraction >= scale {
                    // The first dropped digit decides the rounding.
                    if fraction == scale {
                        round_up = d >= 5;
                    }
                } else {
                    unscaled = unscaled.checked_mul(10)?.checked_add(d)?;
                }
                if fraction >= 0 {
                    fraction += 1;
                }
            }
            '.' if fraction < 0 => fraction = 0,
            _ => {}
        }
    }
    if digits == 0 {
        return None;
    }
    let have = fraction.clamp(0, scale);
    for _ in have..scale {
        unscaled = unscaled.checked_mul(10)?;
    }
    if round_up {
        unscaled = unscaled.checked_add(1)?;
    }
    Some(if negative { -unscaled } else { unscaled })
}

/// `(scale, unscaled big-endian two's complement bytes)` of PostgreSQL `numeric` text, trailing
/// fraction zeros dropped and the scale at least 0 (Java `BigDecimal.stripTrailingZeros`, then
/// `setScale(0)` for a negative scale, as Debezium writes a VariableScaleDecimal). None for
/// `NaN`, `Infinity`, `-Infinity` and text that is no decimal.
pub fn variable_decimal(text: &str) -> Option<(i32, Vec<u8>)> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let scale = i32::try_from(frac.len()).ok()?;
    // Magnitude in base 256, big-endian.
    let mut mag: Vec<u8> = Vec::with_capacity(digits.len() / 2 + 1);
    digits.retain({
        let mut leading = true;
        move |&d| {
            leading &= d == 0;
            !leading
        }
    });
    for d in digits {
        let mut carry = u32::from(d);
        for b in mag.iter_mut().rev() {
            let v = u32::from(*b) * 10 + carry;
            *b = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            mag.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    Some((scale, twos_complement(&mag, negative && !mag.is_empty())))
}

/// Minimal big-endian two's complement bytes of a magnitude (Java `BigInteger.toByteArray`).
fn twos_complement(mag: &[u8], negative: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(mag.len() + 1);
    out.push(0);
    out.extend_from_slice(mag);
    if negative {
        for b in out.iter_mut() {
            *b = !*b;
        }
        for b in out.iter_mut().rev() {
            let (v, overflow) = b.overflowing_add(1);
            *b = v;
            if !overflow {
                break;
            }
        }
    }
    let mut start = 0;
    while start + 1 < out.len() {
        let (b, next) = (out[start], out[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    out.split_off(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_text_to_unscaled() {
        assert_eq!(money_unscaled("$1.50", 2), Some(150));
        assert_eq!(money_unscaled("-$1,234.56", 2), Some(-123_456));
        assert_eq!(money_unscaled("($5.00)", 2), Some(-500));
        assert_eq!(money_unscaled("$0.00", 2), Some(0));
        assert_eq!(money_unscaled("$7", 2), Some(700));
        assert_eq!(money_unscaled("$1.005", 2), Some(101));
        assert_eq!(money_unscaled("$1.004", 2), Some(100));
        assert_eq!(
            money_unscaled("$92,233,720,368,547,758.07", 2),
            Some(9_223_372_036_854_775_807)
        );
        assert_eq!(money_unscaled("$", 2), None);
    }

    #[test]
    fn numeric_text_to_variable_decimal() {
        // BigInteger(15).toByteArray() = [0x0f]
        assert_eq!(variable_decimal("1.50"), Some((1, vec![0x0f])));
        assert_eq!(variable_decimal("-1.5"), Some((1, vec![0xf1])));
        assert_eq!(variable_decimal("10"), Some((0, vec![0x0a])));
        assert_eq!(variable_decimal("0.000"), Some((0, vec![0x00])));
        assert_eq!(variable_decimal("128"), Some((0, vec![0x00, 0x80])));
        assert_eq!(variable_decimal("-128"), Some((0, vec![0x80])));
        assert_eq!(variable_decimal("-129"), Some((0, vec![0xff, 0x7f])));
        assert_eq!(
            variable_decimal("0.14285714285714285714"),
            // 14285714285714285714 = 0x00c6_4f5d_c6e5_1def_... checked below by value
            Some((20, {
                let v: u128 = 14_285_714_285_714_285_714;
                let b = v.to_be_bytes();
                let start = b.iter().position(|&x| x != 0).unwrap();
                let mut out = b[start..].to_vec();
                if out[0] & 0x80 != 0 {
                    out.insert(0, 0);
                }
                out
            }))
        );
        // Past i128: 2^128 = 340282366920938463463374607431768211456.
        let (scale, bytes) = variable_decimal("340282366920938463463374607431768211456").unwrap();
        assert_eq!(scale, 0);
        assert_eq!(bytes[0], 0x01);
        assert_eq!(bytes.len(), 17);
        assert!(bytes[1..].iter().all(|&b| b == 0));
        assert_eq!(variable_decimal("NaN"), None);
        assert_eq!(variable_decimal("Infinity"), None);
        assert_eq!(variable_decimal("-Infinity"), None);
    }
}

#[cfg(test)]
#[path = "declared_tests.rs"]
mod serializer_tests;
