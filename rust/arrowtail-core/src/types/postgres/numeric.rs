//! `numeric`: text and binary forms into `decimal128(p, s)` (constrained, p <= 38) or into the exact
//! text form (unconstrained or wider). The binary send format is (PostgreSQL `numeric_send`):
//! Int16 ndigits, Int16 weight (base-10000 exponent of the first digit), UInt16 sign
//! (0x0000 +, 0x4000 -, 0xC000 NaN, 0xD000 +Infinity, 0xF000 -Infinity), Int16 dscale (decimal
//! digits after the point), then ndigits Int16 base-10000 digits.

use crate::reader::Reader;

type R<T> = Result<T, String>;

const NEG: u16 = 0x4000;
const NAN: u16 = 0xC000;
const PINF: u16 = 0xD000;
const NINF: u16 = 0xF000;

/// A decoded numeric for a decimal column: a value at the column's scale, or a special value
/// that a decimal cannot hold (NaN, ±Infinity), which the caller stores as null and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decimal {
    Value(i128),
    Special,
}

struct Var<'a> {
    weight: i16,
    sign: u16,
    dscale: u16,
    digits: Reader<'a>,
    ndigits: usize,
}

fn header(data: &[u8]) -> R<Var<'_>> {
    let mut r = Reader::new(data);
    let short = |e: crate::reader::Short| format!("numeric: {e}");
    let ndigits = r.i16_be().map_err(short)?;
    let weight = r.i16_be().map_err(short)?;
    let sign = r.u16_be().map_err(short)?;
    let dscale = r.u16_be().map_err(short)?;
    let ndigits = usize::try_from(ndigits).map_err(|_| "numeric: negative digit count")?;
    if r.remaining() != ndigits * 2 {
        return Err(format!(
            "numeric: {ndigits} digits announced but {} bytes follow",
            r.remaining()
        ));
    }
    Ok(Var {
        weight,
        sign,
        dscale,
        digits: r,
        ndigits,
    })
}

/// 10^0 to 10^38, every power of ten an i128 holds.
const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// The next base-10000 digit.
fn digit(r: &mut Reader<'_>) -> R<i64> {
    let d = r.i16_be().map_err(|e| format!("numeric: {e}"))?;
    if !(0..10_000).contains(&d) {
        return Err(format!("numeric: digit {d} out of range"));
    }
    Ok(i64::from(d))
}

impl Var<'_> {
    fn digits(&self) -> R<Vec<i64>> {
        let mut r = self.digits.clone();
        (0..self.ndigits).map(|_| digit(&mut r)).collect()
    }
}

/// Binary numeric to its exact text form, as `numeric_out` prints it.
pub fn binary_to_text(data: &[u8]) -> R<String> {
    let v = header(data)?;
    match v.sign {
        NAN => return Ok("NaN".into()),
        PINF => return Ok("Infinity".into()),
        NINF => return Ok("-Infinity".into()),
        0 | NEG => {}
        s => return Err(format!("numeric: bad sign {s:#x}")),
    }
    let digits = v.digits()?;
    let digit = |i: i64| -> i64 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if v.sign == NEG && digits.iter().any(|&d| d != 0) {
        out.push('-');
    }
    let weight = i64::from(v.weight);
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                out.push_str(&digit(0).to_string());
            } else {
                out.push_str(&format!("{:04}", digit(i)));
            }
        }
    }
    let dscale = usize::from(v.dscale);
    if dscale > 0 {
        out.push('.');
        let mut frac = String::with_capacity(dscale + 4);
        let mut i = weight + 1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        frac.truncate(dscale);
        out.push_str(&frac);
    }
    Ok(out)
}

/// 10^0 to 10^18, every power of ten an i64 holds.
const POW10_I64: [i64; 19] = {
    let mut t = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Binary numeric to an integer at `scale` decimal places.
pub fn binary_to_decimal(data: &[u8], scale: i8) -> R<Decimal> {
    decimal_of(data, scale, true)
}

/// [`binary_to_decimal`], with (`shortcut`) or without the i64 shortcut (tests compare the two).
#[inline]
fn decimal_of(data: &[u8], scale: i8, shortcut: bool) -> R<Decimal> {
    if let Some(x) = shortcut
        .then(|| small_binary_to_decimal(data, scale))
        .flatten()
    {
        return Ok(Decimal::Value(x));
    }
    let v = header(data)?;
    match v.sign {
        NAN | PINF | NINF => return Ok(Decimal::Special),
        0 | NEG => {}
        s => return Err(format!("numeric: bad sign {s:#x}")),
    }
    digits_at_scale(v, scale)
}

/// [`binary_to_decimal`] of a well-formed positive or negative numeric that [`small_to_decimal`]
/// takes, its header read in place, for a caller's per-value loop to inline; `None` for anything
/// else (a special value, a malformed header, more digits), which [`binary_to_decimal`] decodes
/// or refuses.
#[inline(always)]
pub fn small_binary_to_decimal(data: &[u8], scale: i8) -> Option<i128> {
    let [n0, n1, w0, w1, s0, s1, _, _, digits @ ..] = data else {
        return None;
    };
    let ndigits = usize::try_from(i16::from_be_bytes([*n0, *n1])).ok()?;
    if digits.len() != ndigits * 2 {
        return None;
    }
    let negative = match u16::from_be_bytes([*s0, *s1]) {
        0 => false,
        NEG => true,
        _ => return None,
    };
    let x = small_to_decimal(digits, i16::from_be_bytes([*w0, *w1]), scale)?;
    Some(i128::from(if negative { -x } else { x }))
}

/// The common case of [`binary_to_decimal`] in i64 arithmetic: up to four base-10000 digits
/// (`digits`, their bytes) whose value at `scale` fits an i64. `None` for anything else — more
/// digits, a digit out of range, a value too large, a fraction longer than the scale — which
/// [`digits_at_scale`] then decodes or refuses.
#[inline(always)]
fn small_to_decimal(digits: &[u8], weight: i16, scale: i8) -> Option<i64> {
    if digits.len() > 8 {
        return None;
    }
    // The digits read as one integer: the value times 10000^f, f being the number of
    // base-10000 digits after the point (negative when trailing zero digits were left out).
    let mut h: i64 = 0;
    for d in digits.chunks_exact(2) {
        let d = i16::from_be_bytes([d[0], d[1]]);
        if !(0..10_000).contains(&d) {
            return None;
        }
        h = h * 10_000 + i64::from(d);
    }
    let f = (digits.len() / 2) as i64 - 1 - i64::from(weight);
    // The value at `scale` is h * 10^k.
    let k = i64::from(scale) - 4 * f;
    let p = *POW10_I64.get(usize::try_from(k.unsigned_abs()).ok()?)?;
    if k >= 0 {
        h.checked_mul(p)
    } else {
        (h % p == 0).then_some(h / p)
    }
}

/// [`binary_to_decimal`] of any value, digit by digit in i128.
fn digits_at_scale(v: Var<'_>, scale: i8) -> R<Decimal> {
    let overflow = || "numeric value does not fit decimal128".to_string();
    let mut acc: i128 = 0;
    // The digits are read in place (no Vec per value): this runs for every numeric of a row.
    let mut r = v.digits.clone();
    for i in 0..v.ndigits {
        let d = digit(&mut r)?;
        // Decimal exponent of this base-10000 digit once scaled by 10^scale.
        let e = 4 * (i64::from(v.weight) - i as i64) + i64::from(scale);
        if e >= 0 {
            let p = usize::try_from(e)
                .ok()
                .and_then(|e| POW10.get(e))
                .copied()
                .ok_or_else(overflow)?;
            let x = if e <= 34 {
                // d < 10^4, so d * 10^e < 10^38 < i128::MAX: the product cannot overflow, and
                // an unchecked 128-bit product is inline code where a checked one is a call.
                i128::from(d) * p
            } else {
                i128::from(d).checked_mul(p).ok_or_else(overflow)?
            };
            acc = acc.checked_add(x).ok_or_else(overflow)?;
        } else {
            // The digit is below 10^4, so the split at the scale is done in i64: a 128-bit
            // division is a library call, and this runs for the last digit of most values.
            let p = 10i64.pow(u32::try_from(-e).unwrap_or(4).min(4));
            if d % p != 0 {
                return Err("numeric has more fraction digits than the column scale".into());
            }
            acc = acc.checked_add(i128::from(d / p)).ok_or_else(overflow)?;
        }
    }
    Ok(Decimal::Value(if v.sign == NEG { -acc } else { acc }))
}

/// Text numeric to an integer at `scale` decimal places.
pub fn text_to_decimal(s: &str, scale: i8) -> R<Decimal> {
    digits_to_decimal(s.as_bytes(), scale)
        .ok_or_else(|| format!("bad numeric {s:?} for scale {scale}"))
}

/// [`text_to_decimal`] on the value's bytes, `None` where it fails. Everything it accepts is
/// ASCII, so a caller can try it before checking the bytes for UTF-8 and, when it fails, run
/// the check and [`text_to_decimal`] for the error.
pub fn digits_to_decimal(s: &[u8], scale: i8) -> Option<Decimal> {
    match s {
        b"NaN" | b"Infinity" | b"-Infinity" => return Some(Decimal::Special),
        _ => {}
    }
    let (neg, body) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    let (int, frac) = match body.iter().position(|&b| b == b'.') {
        Some(dot) => (&body[..dot], &body[dot + 1..]),
        None => (body, &[][..]),
    };
    let scale = usize::try_from(scale).ok()?;
    if int.is_empty() || frac.len() > scale || !int.iter().chain(frac).all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Up to 18 digits (with the scale's padding) fit an i64 without any overflow check.
    if int.len() + scale <= 18 {
        let mut acc: i64 = 0;
        for &b in int.iter().chain(frac) {
            acc = acc * 10 + i64::from(b - b'0');
        }
        let acc = acc * 10i64.pow((scale - frac.len()) as u32);
        return Some(Decimal::Value(i128::from(if neg { -acc } else { acc })));
    }
    let mut acc: i128 = 0;
    let padding = std::iter::repeat_n(&b'0', scale - frac.len());
    for &b in int.iter().chain(frac).chain(padding) {
        acc = acc.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    Some(Decimal::Value(if neg { -acc } else { acc }))
}

#[cfg(test)]
pub(crate) fn encode(sign: u16, weight: i16, dscale: u16, digits: &[i16]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend((digits.len() as i16).to_be_bytes());
    v.extend(weight.to_be_bytes());
    v.extend(sign.to_be_bytes());
    v.extend(dscale.to_be_bytes());
    for d in digits {
        v.extend(d.to_be_bytes());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A digit: mostly in range, sometimes just outside it.
    fn digit_strategy() -> impl Strategy<Value = i16> {
        prop_oneof![8 => 0i16..10_000, 1 => Just(0i16), 1 => Just(9_999i16), 1 => -2i16..0, 1 => 10_000i16..10_002]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// The shortcut (which a caller's loop inlines) takes only values that the digit-by-digit
        /// decode gives, and gives the same value.
        #[test]
        fn the_inlined_small_path_gives_what_the_decode_gives(
            sign in prop_oneof![Just(0u16), Just(NEG), Just(NAN), Just(PINF), Just(0x1234u16)],
            weight in -7i16..12,
            digits in proptest::collection::vec(digit_strategy(), 0..7),
            scale in -3i8..24,
            cut in 0usize..3,
        ) {
            let mut b = encode(sign, weight, 0, &digits);
            b.truncate(b.len().saturating_sub(cut));
            if let Some(x) = small_binary_to_decimal(&b, scale) {
                prop_assert_eq!(decimal_of(&b, scale, false), Ok(Decimal::Value(x)));
            }
        }

        /// The i64 shortcut gives what the digit-by-digit decode gives: the same value, or the
        /// same error.
        #[test]
        fn the_small_path_agrees_with_the_general_one(
            neg in any::<bool>(),
            weight in -7i16..12,
            digits in proptest::collection::vec(digit_strategy(), 0..7),
            scale in -3i8..24,
        ) {
            let b = encode(if neg { NEG } else { 0 }, weight, 0, &digits);
            prop_assert_eq!(binary_to_decimal(&b, scale), decimal_of(&b, scale, false));
        }

        /// Malformed and special inputs never reach either path's digits wrongly: the header,
        /// sign and digit checks give the same answer as the digit-by-digit decode.
        #[test]
        fn the_small_path_agrees_on_any_bytes(
            head in proptest::collection::vec(any::<u8>(), 0..8),
            sign in prop_oneof![Just(0u16), Just(NEG), Just(NAN), Just(PINF), Just(NINF), any::<u16>()],
            digits in proptest::collection::vec(digit_strategy(), 0..6),
            count in -2i16..8,
            scale in -3i8..24,
        ) {
            let general = |b: &[u8]| decimal_of(b, scale, false);
            let mut b = encode(sign, 1, 0, &digits);
            b[..2].copy_from_slice(&count.to_be_bytes());
            let n = head.len().min(b.len());
            b[..n].copy_from_slice(&head[..n]);
            prop_assert_eq!(binary_to_decimal(&b, scale), general(&b));
            let cut = &b[..b.len().saturating_sub(1)];
            prop_assert_eq!(binary_to_decimal(cut, scale), general(cut));
        }
    }

    #[test]
    fn digits_of_bytes_parse_like_text() {
        for (v, scale) in [
            ("12.30", 2),
            ("-0.5", 3),
            ("+7", 0),
            ("99999999999999999999999999999999999.99", 2),
            ("999999999999999999999999999999999999999", 2),
            ("1.234", 2),
            ("1.", 2),
            (".5", 2),
            ("", 2),
            ("-", 2),
            ("1e5", 2),
            ("١", 0),
            ("NaN", 2),
            ("-Infinity", 4),
            ("5", -1),
        ] {
            assert_eq!(
                digits_to_decimal(v.as_bytes(), scale),
                text_to_decimal(v, scale).ok(),
                "{v:?} scale {scale}"
            );
        }
        assert_eq!(digits_to_decimal(b"1\xff", 2), None);
    }

    #[test]
    fn binary_text_forms() {
        // 12345.678 = [1, 2345, 6780] weight 1, dscale 3
        let b = encode(0, 1, 3, &[1, 2345, 6780]);
        assert_eq!(binary_to_text(&b).unwrap(), "12345.678");
        assert_eq!(
            binary_to_decimal(&b, 3).unwrap(),
            Decimal::Value(12_345_678)
        );
        assert_eq!(
            binary_to_decimal(&b, 5).unwrap(),
            Decimal::Value(1_234_567_800)
        );
        // The largest power of ten a decimal128 holds, and one past it.
        let b = encode(0, 9, 0, &[1]);
        assert_eq!(
            binary_to_decimal(&b, 2).unwrap(),
            Decimal::Value(10i128.pow(38))
        );
        assert!(binary_to_decimal(&b, 3).is_err());
        assert!(binary_to_decimal(&encode(0, 9, 0, &[0]), 3).is_err());
        assert!(binary_to_decimal(&encode(0, 0, 0, &[10_000]), 0).is_err());
        assert!(binary_to_decimal(&encode(0, 0, 0, &[-1]), 0).is_err());
        // -0.0012 = [12] weight -1, dscale 4
        let b = encode(NEG, -1, 4, &[12]);
        assert_eq!(binary_to_text(&b).unwrap(), "-0.0012");
        assert_eq!(binary_to_decimal(&b, 4).unwrap(), Decimal::Value(-12));
        // 0.00000001 = [1] weight -2, dscale 8
        let b = encode(0, -2, 8, &[1]);
        assert_eq!(binary_to_text(&b).unwrap(), "0.00000001");
        // 1000000 = [100] weight 1, no digits needed for trailing zero group
        let b = encode(0, 1, 0, &[100]);
        assert_eq!(binary_to_text(&b).unwrap(), "1000000");
        assert_eq!(binary_to_text(&encode(0, 0, 2, &[])).unwrap(), "0.00");
        assert_eq!(binary_to_text(&encode(NAN, 0, 0, &[])).unwrap(), "NaN");
        assert_eq!(
            binary_to_text(&encode(NINF, 0, 0, &[])).unwrap(),
            "-Infinity"
        );
        assert_eq!(
            binary_to_decimal(&encode(NAN, 0, 0, &[]), 2).unwrap(),
            Decimal::Special
        );
        assert!(binary_to_text(&[0, 1]).is_err());
        assert!(binary_to_text(&encode(0, 0, 0, &[10_000])).is_err());
    }

    #[test]
    fn text_decimals() {
        assert_eq!(text_to_decimal("12.30", 2).unwrap(), Decimal::Value(1230));
        assert_eq!(text_to_decimal("-5", 2).unwrap(), Decimal::Value(-500));
        assert_eq!(text_to_decimal("NaN", 2).unwrap(), Decimal::Special);
        assert!(text_to_decimal("1.234", 2).is_err());
        assert!(text_to_decimal("1e5", 2).is_err());
        assert_eq!(text_to_decimal("0.05", 2).unwrap(), Decimal::Value(5));
        assert_eq!(text_to_decimal("-0.5", 2).unwrap(), Decimal::Value(-50));
        assert_eq!(text_to_decimal("+7.1", 3).unwrap(), Decimal::Value(7100));
        assert!(text_to_decimal("1.2.3", 3).is_err());
        assert!(text_to_decimal(".5", 2).is_err());
        assert!(text_to_decimal("1,5", 2).is_err());
        assert!(text_to_decimal("5", -1).is_err());
        // Both sides of the 18-digit fast path.
        assert_eq!(
            text_to_decimal("9999999999999999.99", 2).unwrap(),
            Decimal::Value(999_999_999_999_999_999)
        );
        assert_eq!(
            text_to_decimal("-99999999999999999.99", 2).unwrap(),
            Decimal::Value(-9_999_999_999_999_999_999)
        );
        let big = "9".repeat(38);
        assert!(text_to_decimal(&big, 0).is_ok());
        assert!(text_to_decimal(&format!("{big}9"), 0).is_err());
    }
}
