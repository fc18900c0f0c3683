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

/// The value of `N` ASCII digits at `b[at..]`, or None.
fn digits<const N: usize>(b: &[u8], at: usize) -> Option<i64> {
    let d: &[u8; N] = b.get(at..at + N)?.try_into().ok()?;
    let mut v = 0i64;
    for &c in d {
        let x = c.wrapping_sub(b'0');
        if x > 9 {
            return None;
        }
        v = v * 10 + i64::from(x);
    }
    Some(v)
}

/// The fast path for what PostgreSQL prints under `DateStyle=ISO` for years 1 to 9999 AD:
/// `YYYY-MM-DD`, in days since the Unix epoch. Anything else (BC, longer years, infinity, bad
/// input) is None and goes through the general parser, which gives the same value or the error.
fn iso_date(b: &[u8]) -> Option<i64> {
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (y, m, d) = (digits::<4>(b, 0)?, digits::<2>(b, 5)?, digits::<2>(b, 8)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m as u32, d as u32))
}

/// The fast path of [`timestamp_text`]: `YYYY-MM-DD HH:MM:SS[.f{1,6}]`, then for timestamptz
/// `±HH[:MM[:SS]]`, nothing else; None sends the value through the general parser.
pub(super) fn iso_timestamp(b: &[u8], with_tz: bool) -> Option<i64> {
    let days = iso_date(b)?;
    if b.get(10) != Some(&b' ') || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let secs = digits::<2>(b, 11)? * 3600 + digits::<2>(b, 14)? * 60 + digits::<2>(b, 17)?;
    let mut at = 19;
    let mut us = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while let Some(&c) = b.get(at).filter(|c| c.is_ascii_digit()) {
            us = us * 10 + i64::from(c - b'0');
            at += 1;
        }
        let n = at - start;
        if n == 0 || n > 6 {
            return None;
        }
        us *= 10i64.pow(6 - n as u32);
    }
    let mut offset = 0i64;
    if with_tz {
        let sign = match b.get(at) {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return None,
        };
        offset = digits::<2>(b, at + 1)? * 3600;
        at += 3;
        for mult in [60, 1] {
            if b.get(at) != Some(&b':') {
                break;
            }
            offset += digits::<2>(b, at + 1)? * mult;
            at += 3;
        }
        offset *= sign;
    }
    if at != b.len() {
        return None;
    }
    // Years 0000..=9999 and at most ±99:59:59 of offset: none of this can overflow.
    Some(days * US_PER_DAY + secs * US_PER_SEC + us - offset * US_PER_SEC)
}

/// The fast path of [`date_text`]: exactly `YYYY-MM-DD`, on the raw bytes.
pub(super) fn iso_date_only(b: &[u8]) -> Option<i32> {
    // Years 0..=9999 always fit an i32 day count.
    iso_date(b)
        .filter(|_| b.len() == 10)
        .and_then(|d| i32::try_from(d).ok())
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
