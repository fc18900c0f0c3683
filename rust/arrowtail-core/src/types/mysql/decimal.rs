//! MySQL binary DECIMAL (`MYSQL_TYPE_NEWDECIMAL`, `decimal2bin` in MySQL `strings/decimal.cc`).
//!
//! The integer and fraction parts are stored as big-endian groups of 9 decimal digits in 4 bytes;
//! leftover digits use {0,1,1,2,2,3,3,4,4,4} bytes. The sign bit of the first byte is flipped
//! (set for non-negative values) and a negative value has every bit inverted.

/// Bytes used by a group of `n` leftover digits.
const DIG2BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
const POW10: [u32; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

/// The storage size of a DECIMAL(precision, scale) value.
pub fn binary_size(precision: u8, scale: u8) -> usize {
    let intg = usize::from(precision.saturating_sub(scale));
    let frac = usize::from(scale);
    (intg / 9) * 4 + DIG2BYTES[intg % 9] + (frac / 9) * 4 + DIG2BYTES[frac % 9]
}

/// The digit counts of a value's groups in storage order: leftover integer digits, whole groups
/// of nine, leftover fraction digits (no allocation: this runs for every value).
fn groups(precision: u8, scale: u8) -> impl Iterator<Item = usize> {
    let intg = usize::from(precision.saturating_sub(scale));
    let frac = usize::from(scale);
    (intg % 9 > 0)
        .then_some(intg % 9)
        .into_iter()
        .chain(std::iter::repeat_n(9, intg / 9 + frac / 9))
        .chain((frac % 9 > 0).then_some(frac % 9))
}

/// Iterates the digit groups of a stored value, calling `f(digits, value)`; returns whether the
/// value is negative. `bytes` must be exactly [`binary_size`] long.
fn walk(
    bytes: &[u8],
    precision: u8,
    scale: u8,
    mut f: impl FnMut(usize, u32),
) -> Result<bool, String> {
    if bytes.len() != binary_size(precision, scale) || bytes.is_empty() {
        return Err(format!(
            "DECIMAL({precision},{scale}) needs {} bytes, got {}",
            binary_size(precision, scale),
            bytes.len()
        ));
    }
    let negative = bytes[0] & 0x80 == 0;
    let mask: u8 = if negative { 0xFF } else { 0 };
    let mut at = 0usize;
    for digits in groups(precision, scale) {
        let n = DIG2BYTES[digits];
        let mut v: u32 = 0;
        for (i, &b) in bytes.iter().skip(at).take(n).enumerate() {
            let b = if at + i == 0 { b ^ 0x80 } else { b };
            v = (v << 8) | u32::from(b ^ mask);
        }
        at += n;
        if v >= POW10[digits] {
            return Err(format!("DECIMAL digit group {v} exceeds {digits} digits"));
        }
        f(digits, v);
    }
    Ok(negative)
}

/// Decodes a value of DECIMAL(precision ≤ 38, scale) into its unscaled integer.
pub fn to_i128(bytes: &[u8], precision: u8, scale: u8) -> Result<i128, String> {
    if precision <= 18 {
        // At most 18 digits: the value fits a u64, whose arithmetic is cheaper than i128's.
        let mut acc: u64 = 0;
        let neg = walk(bytes, precision, scale, |digits, v| {
            acc = acc * u64::from(POW10[digits]) + u64::from(v);
        })?;
        let acc = i128::from(acc);
        return Ok(if neg { -acc } else { acc });
    }
    let mut acc: i128 = 0;
    let neg = walk(bytes, precision, scale, |digits, v| {
        acc = acc * i128::from(POW10[digits]) + i128::from(v);
    })?;
    Ok(if neg { -acc } else { acc })
}

/// Decodes a value of any DECIMAL into its exact text (used above 38 digits).
pub fn to_text(bytes: &[u8], precision: u8, scale: u8, out: &mut String) -> Result<(), String> {
    let mut digits = String::with_capacity(usize::from(precision) + 1);
    let neg = walk(bytes, precision, scale, |n, v| {
        digits.push_str(&format!("{v:0n$}"));
    })?;
    let split = digits.len() - usize::from(scale).min(digits.len());
    let (int, frac) = digits.split_at(split);
    let int = int.trim_start_matches('0');
    out.clear();
    if neg {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_and_negative() {
        // 1234567890.1234 as DECIMAL(14,4): documented example of decimal2bin.
        let b = [0x81, 0x0D, 0xFB, 0x38, 0xD2, 0x04, 0xD2];
        assert_eq!(to_i128(&b, 14, 4).unwrap(), 12_345_678_901_234);
        let neg: Vec<u8> = b.iter().map(|x| !x).collect();
        assert_eq!(to_i128(&neg, 14, 4).unwrap(), -12_345_678_901_234);
        let mut s = String::new();
        to_text(&neg, 14, 4, &mut s).unwrap();
        assert_eq!(s, "-1234567890.1234");
    }

    /// Random stored values of every precision up to 38: the integer (u64 arithmetic up to 18
    /// digits, i128 above) and the text agree, value for value and error for error.
    #[test]
    fn the_integer_and_the_text_agree() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut text = String::new();
        let mut checked = 0;
        for precision in 1..=38u8 {
            for scale in 0..=precision.min(30) {
                for _ in 0..200 {
                    let mut bytes: Vec<u8> = (0..binary_size(precision, scale))
                        .map(|_| next() as u8)
                        .collect();
                    // Most random groups are out of range; clear the top bits of some so that
                    // valid values are common too.
                    if next() % 2 == 0 {
                        for b in bytes.iter_mut().skip(1).step_by(2) {
                            *b &= 0x0F;
                        }
                    }
                    let int = to_i128(&bytes, precision, scale);
                    let txt = to_text(&bytes, precision, scale, &mut text)
                        .map(|()| text.replace('.', "").parse::<i128>().expect("digits"));
                    assert_eq!(int, txt, "DECIMAL({precision},{scale}) {bytes:02x?}");
                    checked += usize::from(int.is_ok());
                }
            }
        }
        assert!(checked > 3_000, "{checked} valid values");
    }

    #[test]
    fn size_and_errors() {
        assert_eq!(binary_size(10, 2), 5);
        assert_eq!(binary_size(65, 30), 30);
        assert!(to_i128(&[0x80], 10, 2).is_err());
        // A group of 9 digits above 999999999 is corrupt.
        assert!(to_i128(&[0xFF, 0xFF, 0xFF, 0xFF], 9, 0).is_err());
    }
}
