//! Date and time values: the text output of `date`, `time`, `timetz`, `timestamp`, `timestamptz`
//! and `interval` (with the session pinned to `DateStyle=ISO`, `IntervalStyle=postgres`,
//! `TimeZone=UTC`) and their binary send formats (PostgreSQL docs, "Date/Time Types"; binary
//! formats are microseconds and days since 2000-01-01).
//!
//! Infinite values keep PostgreSQL's own binary sentinels, so text and binary agree:
//! `date` ±infinity -> `i32::MAX` / `i32::MIN` days, `timestamp[tz]` ±infinity -> `i64::MAX` /
//! `i64::MIN` µs, `interval` ±infinity (PostgreSQL 17) -> all three fields at `MAX` / `MIN`.

/// Days from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch).
pub const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_US: i64 = 946_684_800_000_000;
const US_PER_SEC: i64 = 1_000_000;
const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

type R<T> = Result<T, String>;

/// Days since 1970-01-01 of a proleptic Gregorian date (astronomical year numbering).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str, what: &str) -> R<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad {what} {s:?}"));
    }
    s.parse().map_err(|_| format!("bad {what} {s:?}"))
}

/// Splits a trailing ` BC` off.
fn strip_bc(s: &str) -> (&str, bool) {
    match s.strip_suffix(" BC") {
        Some(rest) => (rest, true),
        None => (s, false),
    }
}

/// `YYYY-MM-DD` (year may have more digits) to days since the Unix epoch.
fn parse_ymd(s: &str, bc: bool) -> R<i64> {
    let mut it = s.splitn(3, '-');
    let (y, m, d) = match (it.next(), it.next(), it.next()) {
        (Some(y), Some(m), Some(d)) => (num(y, "year")?, num(m, "month")?, num(d, "day")?),
        _ => return Err(format!("bad date {s:?}")),
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(format!("bad date {s:?}"));
    }
    // Year N BC is astronomical year 1 - N.
    let y = if bc { 1 - y } else { y };
    Ok(days_from_civil(y, m as u32, d as u32))
}

/// `HH:MM:SS[.ffffff]` to microseconds (hours may exceed 24 in intervals).
fn parse_hms(s: &str) -> R<i64> {
    let mut it = s.splitn(3, ':');
    let (h, m, sec) = match (it.next(), it.next(), it.next()) {
        (Some(h), Some(m), Some(sec)) => (h, m, sec),
        _ => return Err(format!("bad time {s:?}")),
    };
    let (whole, frac) = match sec.split_once('.') {
        Some((w, f)) => (w, f),
        None => (sec, ""),
    };
    let mut us = 0i64;
    if !frac.is_empty() {
        if frac.len() > 6 {
            return Err(format!("more than microsecond precision in {s:?}"));
        }
        us = num(frac, "fraction")? * 10i64.pow(6 - frac.len() as u32);
    }
    let total = num(h, "hour")?
        .checked_mul(3600)
        .and_then(|x| x.checked_add(num(m, "minute").ok()? * 60))
        .and_then(|x| x.checked_add(num(whole, "second").ok()?))
        .and_then(|x| x.checked_mul(US_PER_SEC))
        .and_then(|x| x.checked_add(us))
        .ok_or_else(|| format!("bad time {s:?}"))?;
    Ok(total)
}

/// `+HH[:MM[:SS]]` to seconds east of UTC.
fn parse_offset(s: &str) -> R<i64> {
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(format!("bad time zone offset {s:?}")),
    };
    let mut secs = 0;
    for (i, part) in rest.split(':').enumerate() {
        let mult = match i {
            0 => 3600,
            1 => 60,
            2 => 1,
            _ => return Err(format!("bad time zone offset {s:?}")),
        };
        secs += num(part, "offset")? * mult;
    }
    Ok(sign * secs)
}

/// The value of an ASCII digit; `ok` turns false if `c` is not one (checked once per value, not
/// per digit).
#[inline(always)]
fn digit(c: u8, ok: &mut bool) -> i64 {
    let v = c.wrapping_sub(b'0');
    *ok &= v < 10;
    i64::from(v)
}

/// Two ASCII digits as a number, as [`digit`] checks them.
#[inline(always)]
fn two(c: [u8; 2], ok: &mut bool) -> i64 {
    digit(c[0], ok) * 10 + digit(c[1], ok)
}

/// Ones in every byte of a `u64`, and its high bits (the word-at-a-time readers of text).
pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
pub(super) const HIGH: u64 = 0x8080_8080_8080_8080;

/// 0xFF in each byte where `template` has `b'0'` (a digit's place), 0 elsewhere.
const fn digit_mask(template: &[u8; 8]) -> u64 {
    let mut m = 0u64;
    let mut i = 0;
    while i < 8 {
        if template[i] == b'0' {
            m |= 0xFF << (8 * i);
        }
        i += 1;
    }
    m
}

/// Eight bytes laid out as `template` (`b'0'` for a digit, any other byte a separator that must
/// be there), read as one word: byte `i` of the result is `10 * d[i] + d[i + 1]`, so a
/// two-digit field starting at byte `i` is `(r >> 8 * i) & 0xFF`. None if a separator differs or
/// a digit's place holds anything but an ASCII digit.
#[inline(always)]
fn pairs8(b: &[u8; 8], template: &[u8; 8]) -> Option<u64> {
    let x = u64::from_le_bytes(*b);
    let mask = digit_mask(template);
    // Separators that match become 0; a digit's place becomes `c ^ b'0'`, below 10 exactly
    // for the digits.
    let d = x ^ u64::from_le_bytes(*template);
    // With every byte below 0x80, adding 0x76 per digit place sets its high bit only for a
    // value of 10 or more and carries into no other byte.
    if x & HIGH != 0 || d & !mask != 0 || ((d & mask) + ((0x76 * ONES) & mask)) & HIGH != 0 {
        return None;
    }
    // Each byte is 9 at most and the separators 0: times ten, plus the next byte, stays a byte.
    Some(d * 10 + (d >> 8))
}

/// Byte `i` of a [`pairs8`] result.
#[inline(always)]
fn field(pairs: u64, i: u32) -> i64 {
    ((pairs >> (8 * i)) & 0xFF) as i64
}

/// Days of 25 Gregorian cycles of 400 years.
const CYCLES_25_DAYS: i64 = 25 * 146_097;

/// [`days_from_civil`] for astronomical years -9999..=9999 (the four-digit years AD and BC that
/// the fast paths read) and months 1..=12: moved up by 25 cycles of 400 years, the year is never
/// negative, so the divisions are unsigned, and the days before each month come from a table.
#[inline(always)]
fn days_from_civil_4(y: i64, m: i64, d: i64) -> i64 {
    // Days from March 1 to the first of each month (the year counted from March, as in
    // `days_from_civil`), indexed by month 1..=12.
    const BEFORE: [u32; 13] = [0, 306, 337, 0, 31, 61, 92, 122, 153, 184, 214, 245, 275];
    let y = (y + 10_000 - i64::from(m <= 2)) as u32;
    let (era, yoe) = (y / 400, y % 400);
    let doy = BEFORE.get(m as usize).copied().unwrap_or(0) + d as u32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i64::from(era * 146_097 + doe) - 719_468 - CYCLES_25_DAYS
}

/// `YYYY-MM-DD` as days since the Unix epoch, year `1 - YYYY` when `bc` (year N BC is astronomical
/// year 1 - N); None where the general parser could say otherwise (not digits, month or day out
/// of range: it fails on those).
#[inline(always)]
fn iso_ymd(d: &[u8; 10], bc: bool) -> Option<i64> {
    let (head, dd) = d.split_first_chunk::<8>()?;
    let p = pairs8(head, b"0000-00-")?;
    let mut ok = true;
    let (y, m, day) = (
        field(p, 0) * 100 + field(p, 2),
        field(p, 5),
        two([dd[0], dd[1]], &mut ok),
    );
    if !ok || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil_4(if bc { 1 - y } else { y }, m, day))
}

/// Splits the ` BC` that ends a date or timestamp of a year before 1 AD off the bytes.
#[inline(always)]
fn strip_bc_bytes(b: &[u8]) -> (&[u8], bool) {
    match b.strip_suffix(b" BC") {
        Some(rest) => (rest, true),
        None => (b, false),
    }
}

/// Microseconds of `.f{1,6}` at the start of `b` (nothing at all is 0), and the bytes after it.
#[inline(always)]
fn fraction(b: &[u8]) -> Option<(i64, &[u8])> {
    const SCALE: [i64; 7] = [0, 100_000, 10_000, 1_000, 100, 10, 1];
    let Some((b'.', rest)) = b.split_first() else {
        return Some((0, b));
    };
    let (mut us, mut n) = (0i64, 0usize);
    while let Some(&c) = rest.get(n) {
        let v = c.wrapping_sub(b'0');
        if v > 9 {
            break;
        }
        us = us * 10 + i64::from(v);
        n += 1;
    }
    // None for `.` alone and for seven digits or more: the general parser decides those.
    let scale = *SCALE.get(n).filter(|&&s| s != 0)?;
    Some((us * scale, &rest[n..]))
}

/// `HH:MM:SS[.f{1,6}]` at the start of `b` as microseconds, and the bytes after it. The fields
/// are not range-checked, as the general parser does not check them (`time_out` prints
/// `24:00:00`, and the same arithmetic gives the same value for anything else).
#[inline(always)]
fn iso_hms(b: &[u8]) -> Option<(i64, &[u8])> {
    let (t, rest) = b.split_first_chunk::<8>()?;
    let p = pairs8(t, b"00:00:00")?;
    let secs = field(p, 0) * 3600 + field(p, 3) * 60 + field(p, 6);
    let (us, rest) = fraction(rest)?;
    Some((secs * US_PER_SEC + us, rest))
}

/// Exactly `±HH[:MM[:SS]]` as seconds east of UTC.
#[inline(always)]
fn iso_offset(b: &[u8]) -> Option<i64> {
    let (&sign, mut rest) = b.split_first()?;
    let sign = match sign {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let mut ok = true;
    let (h, after) = rest.split_first_chunk::<2>()?;
    let mut secs = two(*h, &mut ok) * 3600;
    rest = after;
    for mult in [60, 1] {
        let Some((b':', after)) = rest.split_first() else {
            break;
        };
        let (f, after) = after.split_first_chunk::<2>()?;
        secs += two(*f, &mut ok) * mult;
        rest = after;
    }
    (ok && rest.is_empty()).then_some(sign * secs)
}

/// The fast path of [`timestamp_text`], over the bytes: what `timestamp_out` and
/// `timestamptz_out` print under `DateStyle=ISO` for four-digit years, `YYYY-MM-DD
/// HH:MM:SS[.f{1,6}]`, for timestamptz then `±HH[:MM[:SS]]`, then ` BC` before year 1; and
/// `infinity`, `-infinity`. None sends anything else (years past 9999, malformed text) to the
/// general parser, which gives its value or its error.
pub(super) fn iso_timestamp(b: &[u8], with_tz: bool) -> Option<i64> {
    let Some((date, rest)) = b.split_first_chunk::<10>() else {
        return infinity(b, i64::MAX, i64::MIN);
    };
    let Some((b' ', rest)) = rest.split_first() else {
        return infinity(b, i64::MAX, i64::MIN);
    };
    let (rest, bc) = strip_bc_bytes(rest);
    let (time, rest) = iso_hms(rest)?;
    let offset = if with_tz { iso_offset(rest)? } else { 0 };
    if !with_tz && !rest.is_empty() {
        return None;
    }
    let days = iso_ymd(date, bc)?;
    // Four-digit years and at most ±99:59:59 of offset: none of this can overflow.
    Some(days * US_PER_DAY + time - offset * US_PER_SEC)
}

/// `infinity` / `-infinity` as the type's sentinels.
#[inline(always)]
fn infinity<T>(b: &[u8], pos: T, neg: T) -> Option<T> {
    match b {
        b"infinity" => Some(pos),
        b"-infinity" => Some(neg),
        _ => None,
    }
}

/// The fast path of [`date_text`], over the bytes: `YYYY-MM-DD`, with ` BC` before year 1, and
/// `infinity`, `-infinity`.
pub(super) fn iso_date_only(b: &[u8]) -> Option<i32> {
    let (b, bc) = strip_bc_bytes(b);
    match <&[u8; 10]>::try_from(b) {
        // Four-digit years always fit an i32 day count.
        Ok(d) => iso_ymd(d, bc).map(|d| d as i32),
        Err(_) if !bc => infinity(b, i32::MAX, i32::MIN),
        Err(_) => None,
    }
}

/// The fast path of [`time_text`], over the bytes: `HH:MM:SS[.f{1,6}]`.
pub(super) fn iso_time(b: &[u8]) -> Option<i64> {
    match iso_hms(b)? {
        (us, []) => Some(us),
        _ => None,
    }
}

/// `date` text to days since the Unix epoch.
pub fn date_text(s: &str) -> R<i32> {
    if let Some(days) = iso_date_only(s.as_bytes()) {
        return Ok(days);
    }
    match s {
        "infinity" => return Ok(i32::MAX),
        "-infinity" => return Ok(i32::MIN),
        _ => {}
    }
    let (s, bc) = strip_bc(s);
    let days = parse_ymd(s, bc)?;
    i32::try_from(days).map_err(|_| format!("date {s:?} out of range"))
}

/// `date` binary (Int32 days since 2000-01-01) to days since the Unix epoch.
pub fn date_binary(v: i32) -> i32 {
    match v {
        i32::MAX | i32::MIN => v,
        _ => v.saturating_add(PG_EPOCH_DAYS),
    }
}

/// `timestamp` / `timestamptz` text to microseconds since the Unix epoch (UTC for timestamptz).
pub fn timestamp_text(s: &str, with_tz: bool) -> R<i64> {
    if let Some(us) = iso_timestamp(s.as_bytes(), with_tz) {
        return Ok(us);
    }
    timestamp_text_general(s, with_tz)
}

/// Every timestamp form the output functions can print: infinity, BC, years past 9999.
fn timestamp_text_general(s: &str, with_tz: bool) -> R<i64> {
    match s {
        "infinity" => return Ok(i64::MAX),
        "-infinity" => return Ok(i64::MIN),
        _ => {}
    }
    let (body, bc) = strip_bc(s);
    let (date, time) = body
        .split_once(' ')
        .ok_or_else(|| format!("bad timestamp {s:?}"))?;
    let (time, offset) = if with_tz {
        let at = time
            .find(['+', '-'])
            .ok_or_else(|| format!("timestamptz without offset {s:?}"))?;
        (&time[..at], parse_offset(&time[at..])?)
    } else {
        (time, 0)
    };
    let days = parse_ymd(date, bc)?;
    days.checked_mul(US_PER_DAY)
        .and_then(|x| x.checked_add(parse_hms(time).ok()?))
        .and_then(|x| x.checked_sub(offset * US_PER_SEC))
        .ok_or_else(|| format!("timestamp {s:?} out of range"))
}

/// `timestamp[tz]` binary (Int64 µs since 2000-01-01) to µs since the Unix epoch.
pub fn timestamp_binary(v: i64) -> R<i64> {
    match v {
        i64::MAX | i64::MIN => Ok(v),
        _ => v
            .checked_add(PG_EPOCH_US)
            .ok_or_else(|| format!("timestamp {v} out of range")),
    }
}

/// `time` text to microseconds since midnight.
pub fn time_text(s: &str) -> R<i64> {
    if let Some(us) = iso_time(s.as_bytes()) {
        return Ok(us);
    }
    parse_hms(s)
}

/// `timetz` binary (Int64 µs, Int32 zone offset in seconds *west* of UTC) to its text form,
/// exactly as PostgreSQL prints it, so text and binary tuples give the same string.
pub fn timetz_binary_to_text(us: i64, zone_west: i32) -> String {
    let mut out = format_time(us);
    let east = -i64::from(zone_west);
    let sign = if east < 0 { '-' } else { '+' };
    let a = east.abs();
    let (h, m, sec) = (a / 3600, (a / 60) % 60, a % 60);
    out.push_str(&format!("{sign}{h:02}"));
    if sec != 0 {
        out.push_str(&format!(":{m:02}:{sec:02}"));
    } else if m != 0 {
        out.push_str(&format!(":{m:02}"));
    }
    out
}

/// `timetz` text (`08:30:00.5+02`, `23:59:59.999999-08`, `12:00:00+05:30:15`) as the same instant's
/// time of day in UTC, `HH:MM:SS[.f]Z` with the fraction's trailing zeros removed (ISO-8601's
/// offset time, as Debezium's `ZonedTime` writes it); `None` when the text is not a `timetz`.
pub fn timetz_text_to_utc(s: &str) -> Option<String> {
    let at = s.rfind(['+', '-'])?;
    let (time, zone) = s.split_at(at);
    let us = parse_hms(time).ok()?;
    let sign: i64 = if zone.starts_with('-') { -1 } else { 1 };
    let mut east = 0i64;
    for (i, part) in zone[1..].split(':').enumerate() {
        if i > 2 || part.len() != 2 {
            return None;
        }
        let n: i64 = part.parse().ok()?;
        east += n * [3600, 60, 1][i];
    }
    let day = 86_400 * US_PER_SEC;
    let utc = (us - sign * east * US_PER_SEC).rem_euclid(day);
    let mut out = format_time(utc);
    out.push('Z');
    Some(out)
}

/// `HH:MM:SS[.f]` with trailing zeros of the fraction removed (PostgreSQL's output).
fn format_time(us: i64) -> String {
    let secs = us.div_euclid(US_PER_SEC);
    let frac = us.rem_euclid(US_PER_SEC);
    let mut out = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if frac != 0 {
        let f = format!("{frac:06}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out
}

/// An interval as Arrow's month-day-nano parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub nanos: i64,
}

/// Builds the Arrow value from PostgreSQL's parts; µs beyond Arrow's nanosecond range fail.
pub fn interval_from_parts(months: i32, days: i32, us: i64) -> R<Interval> {
    // PostgreSQL 17 infinite intervals: every field at its extreme.
    if us == i64::MAX || us == i64::MIN {
        return Ok(Interval {
            months,
            days,
            nanos: us,
        });
    }
    let nanos = us.checked_mul(1000).ok_or_else(|| {
        format!("interval time part of {us} µs exceeds the Arrow nanosecond range")
    })?;
    Ok(Interval {
        months,
        days,
        nanos,
    })
}

/// `interval` text in `IntervalStyle=postgres`, e.g. `1 year 2 mons -3 days +04:05:06.5`.
pub fn interval_text(s: &str) -> R<Interval> {
    match s {
        "infinity" => return interval_from_parts(i32::MAX, i32::MAX, i64::MAX),
        "-infinity" => return interval_from_parts(i32::MIN, i32::MIN, i64::MIN),
        _ => {}
    }
    let bad = || format!("bad interval {s:?}");
    let (mut months, mut days, mut us) = (0i64, 0i64, 0i64);
    let mut tokens = s.split_ascii_whitespace();
    while let Some(tok) = tokens.next() {
        if tok.contains(':') {
            let (neg, t) = match tok.as_bytes().first() {
                Some(b'-') => (true, &tok[1..]),
                Some(b'+') => (false, &tok[1..]),
                _ => (false, tok),
            };
            let v = parse_hms(t)?;
            us = if neg { -v } else { v };
            continue;
        }
        let n: i64 = tok.parse().map_err(|_| bad())?;
        match tokens.next().ok_or_else(bad)? {
            "year" | "years" => months += n.checked_mul(12).ok_or_else(bad)?,
            "mon" | "mons" => months += n,
            "day" | "days" => days += n,
            _ => return Err(bad()),
        }
    }
    let months = i32::try_from(months).map_err(|_| bad())?;
    let days = i32::try_from(days).map_err(|_| bad())?;
    interval_from_parts(months, days, us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_paths_agree_with_the_general_parser() {
        let mut cases: Vec<String> = vec![
            "2024-02-29 23:59:59.999999+00".into(),
            "2024-02-29 23:59:59.999999-09:30".into(),
            "1999-12-31 00:00:00+05:45:30".into(),
            "0001-01-01 00:00:00+00".into(),
            "2024-13-01 00:00:00+00".into(),
            "2024-01-01 00:00:00.+00".into(),
            "2024-01-01 00:00:00.1234567+00".into(),
            "2024-01-01 00:00:00+0".into(),
            "2024-01-01 00:00:00+00:".into(),
            "2024-01-01 00:00:00 BC".into(),
            "2024-01-01 00:00:00+00 BC".into(),
            "12024-01-01 00:00:00+00".into(),
            "2024-01-01T00:00:00+00".into(),
        ];
        for i in 0..2000i64 {
            let us = 1_704_067_200_000_000 + i * 987_654_321_123 % 1_000_000_000_000_000;
            let (days, rem) = (us.div_euclid(US_PER_DAY), us.rem_euclid(US_PER_DAY));
            let (y, m, d) = crate::serialize::json::civil_from_days(days);
            let secs = rem / US_PER_SEC;
            let frac = format!(".{:06}", rem % US_PER_SEC);
            let frac = frac.trim_end_matches('0');
            let frac = if frac == "." { "" } else { frac };
            let tz = ["+00", "-03", "+05:30", "-00:00:01"][(i % 4) as usize];
            cases.push(format!(
                "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}{frac}{tz}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            ));
            cases.push(format!("{y:04}-{m:02}-{d:02} 01:02:03{frac}"));
        }
        for c in &cases {
            for tz in [true, false] {
                assert_eq!(
                    timestamp_text(c, tz),
                    timestamp_text_general(c, tz),
                    "{c:?} tz={tz}"
                );
                let fast = iso_timestamp(c.as_bytes(), tz);
                if let Some(v) = fast {
                    assert_eq!(Ok(v), timestamp_text_general(c, tz), "{c:?}");
                }
            }
            let date = c.get(..10).unwrap_or(c);
            let general = strip_bc(date);
            let general = parse_ymd(general.0, general.1).map(|d| d as i32);
            assert_eq!(date_text(date), general, "{date:?}");
        }
        // The fast path takes the canonical forms (so the test above exercises it).
        assert!(iso_timestamp(b"2024-02-29 23:59:59.999999+00", true).is_some());
        assert!(iso_timestamp(b"2024-02-29 23:59:59", false).is_some());
    }

    /// Each fast path gives the general parser's value wherever it gives one, and leaves it the
    /// rest: every form the output functions print, edge values, and each input cut short or with
    /// one byte changed (so malformed text keeps the general parser's error).
    #[test]
    fn byte_parsers_agree_with_the_general_parsers() {
        let dates = [
            "2024-02-29",
            "2023-02-29",
            "2000-02-29",
            "1900-02-28",
            "1970-01-01",
            "0001-01-01",
            "0000-01-01",
            "9999-12-31",
            "0001-01-01 BC",
            "0044-03-15 BC",
            "4713-01-01 BC",
            "2024-00-10",
            "2024-12-32",
            "infinity",
            "-infinity",
            "10000-01-01",
        ];
        let times = [
            "00:00:00",
            "24:00:00",
            "23:59:59.999999",
            "12:00:00.5",
            "12:00:00.05",
            "12:00:00.123",
            "12:00:00.1234",
            "12:00:00.12345",
            "12:00:00.1234567",
            "12:00:00.",
            "99:99:99",
        ];
        let zones = [
            "+00",
            "-00",
            "+05:30",
            "-00:00:36",
            "+14",
            "-12:00",
            "+05:45:30",
            "+5",
            "+05:3",
            "",
        ];
        let mut cases: Vec<String> = Vec::new();
        for d in dates {
            cases.push(d.into());
            for t in times {
                let (d, bc) = match d.strip_suffix(" BC") {
                    Some(d) => (d, " BC"),
                    None => (d, ""),
                };
                cases.push(format!("{d} {t}{bc}"));
                for z in zones {
                    cases.push(format!("{d} {t}{z}{bc}"));
                }
            }
        }
        cases.extend(times.iter().map(|t| t.to_string()));
        let mut mutated = Vec::new();
        for c in &cases {
            let b = c.as_bytes();
            for cut in 0..b.len() {
                mutated.push(b[..cut].to_vec());
            }
            for at in 0..b.len() {
                for byte in [b'0', b'9', b'/', b':', b'-', b'+', b' ', b'.', b'a', 0xC3] {
                    let mut m = b.to_vec();
                    m[at] = byte;
                    mutated.push(m);
                }
            }
        }
        mutated.extend(cases.iter().map(|c| c.as_bytes().to_vec()));
        let general_date = |s: &str| {
            match s {
                "infinity" => return Ok(i32::MAX),
                "-infinity" => return Ok(i32::MIN),
                _ => {}
            }
            let (s, bc) = strip_bc(s);
            parse_ymd(s, bc).and_then(|d| i32::try_from(d).map_err(|e| e.to_string()))
        };
        let mut fast = 0;
        for b in &mutated {
            let Ok(s) = std::str::from_utf8(b) else {
                // Not UTF-8: the caller's check fails first; the fast paths must refuse it.
                assert_eq!(iso_timestamp(b, true), None, "{b:?}");
                assert_eq!(iso_timestamp(b, false), None, "{b:?}");
                assert_eq!(iso_date_only(b), None, "{b:?}");
                assert_eq!(iso_time(b), None, "{b:?}");
                continue;
            };
            for tz in [true, false] {
                if let Some(v) = iso_timestamp(b, tz) {
                    assert_eq!(Ok(v), timestamp_text_general(s, tz), "{s:?} tz={tz}");
                    fast += 1;
                }
                assert_eq!(
                    timestamp_text(s, tz),
                    timestamp_text_general(s, tz),
                    "{s:?}"
                );
            }
            if let Some(v) = iso_date_only(b) {
                assert_eq!(Ok(v), general_date(s), "{s:?}");
                fast += 1;
            }
            assert_eq!(date_text(s), general_date(s), "{s:?}");
            if let Some(v) = iso_time(b) {
                assert_eq!(Ok(v), parse_hms(s), "{s:?}");
                fast += 1;
            }
            assert_eq!(time_text(s), parse_hms(s), "{s:?}");
        }
        // The canonical forms above all took the fast paths.
        assert!(fast > 2000, "{fast}");
        for c in [
            "0044-03-15 12:00:00+00 BC",
            "2024-02-29 24:00:00-00:00:36",
            "infinity",
        ] {
            assert!(iso_timestamp(c.as_bytes(), true).is_some(), "{c}");
        }
        assert!(iso_date_only(b"0001-01-01 BC").is_some());
        assert!(iso_time(b"24:00:00").is_some());
    }

    #[test]
    fn four_digit_years_count_days_as_the_general_formula() {
        for y in -9999..=9999i64 {
            for (m, d) in (1..=12).flat_map(|m| [(m, 1), (m, 28), (m, 31)]) {
                assert_eq!(
                    days_from_civil_4(y, m, d),
                    days_from_civil(y, m as u32, d as u32),
                    "{y}-{m}-{d}"
                );
            }
        }
    }

    #[test]
    fn dates() {
        assert_eq!(date_text("1970-01-01").unwrap(), 0);
        assert_eq!(date_text("2000-01-01").unwrap(), PG_EPOCH_DAYS);
        assert_eq!(date_text("1969-12-31").unwrap(), -1);
        assert_eq!(date_text("0001-01-01 BC").unwrap(), date_binary(-730_485));
        assert_eq!(date_text("infinity").unwrap(), i32::MAX);
        assert_eq!(date_binary(i32::MIN), i32::MIN);
        assert_eq!(date_binary(1), PG_EPOCH_DAYS + 1);
        assert!(date_text("2020-13-01").is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            timestamp_text("2000-01-01 00:00:01.5", false).unwrap(),
            PG_EPOCH_US + 1_500_000
        );
        assert_eq!(
            timestamp_text("2000-01-01 02:00:00+02", true).unwrap(),
            PG_EPOCH_US
        );
        assert_eq!(
            timestamp_text("1999-12-31 23:00:00-01:00", true).unwrap(),
            PG_EPOCH_US
        );
        assert_eq!(timestamp_text("-infinity", true).unwrap(), i64::MIN);
        assert_eq!(timestamp_binary(5).unwrap(), PG_EPOCH_US + 5);
        assert!(timestamp_text("2000-01-01", false).is_err());
    }

    #[test]
    fn times_and_intervals() {
        assert_eq!(time_text("01:02:03.000004").unwrap(), 3_723_000_004);
        assert_eq!(
            timetz_binary_to_text(3_723_500_000, -19_800),
            "01:02:03.5+05:30"
        );
        assert_eq!(timetz_binary_to_text(0, 0), "00:00:00+00");
        assert_eq!(
            timetz_text_to_utc("08:30:00.5+02").as_deref(),
            Some("06:30:00.5Z")
        );
        assert_eq!(
            timetz_text_to_utc("23:59:59.999999-08").as_deref(),
            Some("07:59:59.999999Z")
        );
        assert_eq!(
            timetz_text_to_utc("00:10:00+05:30:15").as_deref(),
            Some("18:39:45Z")
        );
        assert_eq!(
            timetz_text_to_utc("12:00:00+00").as_deref(),
            Some("12:00:00Z")
        );
        assert_eq!(timetz_text_to_utc("nonsense"), None);
        assert_eq!(timetz_text_to_utc("12:00:00+5"), None);
        let i = interval_text("1 year 2 mons -3 days +04:05:06.5").unwrap();
        assert_eq!(
            i,
            Interval {
                months: 14,
                days: -3,
                nanos: 14_706_500_000_000
            }
        );
        assert_eq!(interval_text("-00:00:01").unwrap().nanos, -1_000_000_000);
        assert_eq!(interval_text("00:00:00").unwrap().months, 0);
        assert!(interval_text("3 fortnights").is_err());
    }
}
