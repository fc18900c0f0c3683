//! MySQL/MariaDB date and time storage formats (MySQL `mysys/my_time.cc`,
//! `*_from_binary` and the packed-longlong forms) converted to Arrow's microsecond units.
//!
//! Zero or invalid dates (`0000-00-00`, month 0, day 0) have no Arrow value: they decode to
//! `None`, which the caller stores as null and counts.

/// Days since 1970-01-01 of a proleptic Gregorian date, or None if the date is invalid.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i32> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 719_468).ok()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Microseconds since the epoch of a calendar date and time, or None if invalid.
pub fn micros_from_parts(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
) -> Option<i64> {
    micros_from_days(
        days_from_civil(year, month, day)?,
        hour,
        minute,
        second,
        micros,
    )
}

/// Microseconds since the epoch of a day (days since the epoch) and a time of day, or None if
/// the time is invalid.
pub fn micros_from_days(
    days: i32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
) -> Option<i64> {
    if hour > 23 || minute > 59 || second > 59 || micros > 999_999 {
        return None;
    }
    // Checked: a corrupt year can push the value past the i64 microsecond range.
    let secs = i64::from(days)
        .checked_mul(86_400)?
        .checked_add(i64::from(hour * 3600 + minute * 60 + second))?;
    secs.checked_mul(1_000_000)?.checked_add(i64::from(micros))
}

/// DATE: 3 bytes little-endian, `day | month << 5 | year << 9`.
pub fn date(v: u32) -> Option<i32> {
    days_from_civil(i64::from(v >> 9), (v >> 5) & 15, v & 31)
}

/// Reads the fractional-second part of DATETIME2/TIMESTAMP2/TIME2 as (bytes, scale to µs).
pub fn fraction_len(fsp: u8) -> usize {
    usize::from(fsp).div_ceil(2).min(3)
}

fn frac_micros(fsp: u8, raw: u64) -> u32 {
    // Stored values are in units of 10^-2, 10^-4 or 10^-6 s by group of two digits.
    let v = match fraction_len(fsp) {
        1 => raw * 10_000,
        2 => raw * 100,
        _ => raw,
    };
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// DATETIME2(fsp): 5 bytes big-endian offset by 0x8000000000, then the fraction.
pub fn datetime2(int_part: u64, fsp: u8, frac: u64) -> Option<i64> {
    let (ymd, hms) = datetime2_parts(int_part)?;
    datetime2_at(datetime2_days(ymd)?, hms, fsp, frac)
}

/// A DATETIME2 integer part as its date (`(year * 13 + month) << 5 | day`) and its time of day
/// (`hour << 12 | minute << 6 | second`); None below the offset.
pub fn datetime2_parts(int_part: u64) -> Option<(u64, u64)> {
    let v = int_part.checked_sub(0x80_0000_0000)?;
    Some((v >> 17, v & 0x1_FFFF))
}

/// The days since the epoch of a DATETIME2 date part, or None for an invalid date.
pub fn datetime2_days(ymd: u64) -> Option<i32> {
    let ym = ymd >> 5;
    days_from_civil((ym / 13) as i64, (ym % 13) as u32, (ymd & 31) as u32)
}

/// A DATETIME2 value from its day (see [`datetime2_days`]), time part and fraction.
pub fn datetime2_at(days: i32, hms: u64, fsp: u8, frac: u64) -> Option<i64> {
    micros_from_days(
        days,
        (hms >> 12) as u32,
        ((hms >> 6) & 63) as u32,
        (hms & 63) as u32,
        frac_micros(fsp, frac),
    )
}

/// TIMESTAMP2(fsp): 4 bytes big-endian seconds since the epoch, then the fraction. Zero is the
/// zero timestamp (`0000-00-00 00:00:00`), which has no value.
pub fn timestamp2(secs: u32, fsp: u8, frac: u64) -> Option<i64> {
    if secs == 0 && frac == 0 {
        return None;
    }
    Some(i64::from(secs) * 1_000_000 + i64::from(frac_micros(fsp, frac)))
}

/// Decomposes a packed time (`MY_PACKED_TIME_MAKE`: int part << 24 | fraction µs, signed) into
/// microseconds.
pub fn packed_time_micros(packed: i64) -> i64 {
    let neg = packed < 0;
    let t = packed.unsigned_abs();
    let hms = t >> 24;
    let frac = (t % (1 << 24)) as i64;
    let hour = ((hms >> 12) % (1 << 10)) as i64;
    let minute = ((hms >> 6) % 64) as i64;
    let second = (hms % 64) as i64;
    let us = ((hour * 60 + minute) * 60 + second) * 1_000_000 + frac;
    if neg {
        -us
    } else {
        us
    }
}

/// TIME2(fsp) (`my_time_packed_from_binary`): 3 bytes big-endian offset by 0x800000, then the
/// fraction; for negative values with a fraction the integer part is stored one higher and the
/// fraction as its complement. `raw` is the big-endian value of all 3 + fraction bytes.
pub fn time2(raw: u64, fsp: u8) -> i64 {
    let flen = fraction_len(fsp);
    let packed: i64 = match flen {
        0 => ((raw as i64) - 0x80_0000) << 24,
        1 | 2 => {
            let shift = 8 * flen as u32;
            let mut int = (raw >> shift) as i64 - 0x80_0000;
            let mut frac = (raw & ((1 << shift) - 1)) as i64;
            if int < 0 && frac != 0 {
                int += 1;
                frac -= 1 << shift;
            }
            let scale = if flen == 1 { 10_000 } else { 100 };
            (int << 24) + frac * scale
        }
        _ => (raw as i64) - 0x8000_0000_0000,
    };
    packed_time_micros(packed)
}

/// Old TIME (before 5.6.4): 3 bytes little-endian signed `HHMMSS`.
pub fn time_old(v: i32) -> i64 {
    let a = i64::from(v).abs();
    let us = ((a / 10_000 * 60 + a / 100 % 100) * 60 + a % 100) * 1_000_000;
    if v < 0 {
        -us
    } else {
        us
    }
}

/// Old DATETIME: 8 bytes little-endian `YYYYMMDDhhmmss`.
pub fn datetime_old(v: u64) -> Option<i64> {
    let date = v / 1_000_000;
    let time = v % 1_000_000;
    micros_from_parts(
        (date / 10_000) as i64,
        (date / 100 % 100) as u32,
        (date % 100) as u32,
        (time / 10_000) as u32,
        (time / 100 % 100) as u32,
        (time % 100) as u32,
        0,
    )
}

/// A packed DATETIME/DATE longlong (`TIME_from_longlong_datetime_packed`, used by JSON opaque
/// values) as calendar parts: (year, month, day, hour, minute, second, micros).
pub fn unpack_datetime(packed: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let t = packed.unsigned_abs();
    let frac = (t % (1 << 24)) as u32;
    let ymdhms = t >> 24;
    let ymd = ymdhms >> 17;
    let ym = ymd >> 5;
    let hms = ymdhms % (1 << 17);
    (
        (ym / 13) as i64,
        (ym % 13) as u32,
        (ymd % 32) as u32,
        (hms >> 12) as u32,
        ((hms >> 6) % 64) as u32,
        (hms % 64) as u32,
        frac,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(2023, 2, 29), None);
        assert_eq!(date(0), None);
        // Days that fit i32 but microseconds that would overflow i64.
        assert_eq!(micros_from_parts(5_000_000, 1, 1, 0, 0, 0, 0), None);
        assert_eq!(datetime_old(u64::MAX), None);
    }

    #[test]
    fn negative_time2() {
        // '-00:00:01.5' with fsp 1: packed -(1 << 24 | 500000) is stored as int part -2
        // (arithmetic shift) and fraction byte -50.
        let int = (0x80_0000u64 - 2) << 8;
        let frac = 0x100 - 50;
        assert_eq!(time2(int | frac, 1), -1_500_000);
        // '838:59:59' with fsp 0.
        let hms = (838u64 << 12) | (59 << 6) | 59;
        assert_eq!(
            time2(0x80_0000 + hms, 0),
            (838 * 3600 + 59 * 60 + 59) * 1_000_000
        );
        assert_eq!(
            time2(0x80_0000 - hms, 0),
            -(838 * 3600 + 59 * 60 + 59) * 1_000_000
        );
    }

    #[test]
    fn datetime2_value() {
        // 2015-03-04 05:06:07
        let ym = 2015u64 * 13 + 3;
        let v = 0x80_0000_0000 + (((ym << 5) | 4) << 17) + ((5 << 12) | (6 << 6) | 7);
        assert_eq!(datetime2(v, 0, 0), Some(1_425_445_567_000_000));
        assert_eq!(datetime2(0x80_0000_0000, 0, 0), None);
    }
}
