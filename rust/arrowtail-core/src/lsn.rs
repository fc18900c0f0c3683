//! PostgreSQL log sequence numbers as text: the one implementation of `16/B374D848` both ways,
//! used by error locations in the core and, through the binding, by the Python source (slot
//! positions, status output, the `START_REPLICATION` command).

use crate::error::{Error, Location, Result};

/// Formats an LSN the way PostgreSQL prints it (`16/B374D848`): the high and low 32 bits in
/// upper-case hexadecimal without leading zeros, separated by a slash.
pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// Parses an LSN as PostgreSQL prints it (`16/B374D848`, also with lower-case digits or
/// leading zeros); anything else is a decode error.
pub fn parse_lsn(text: &str) -> Result<u64> {
    let bad = |detail: &str| Error::decode("LSN", Location::Unknown, format!("{text:?}: {detail}"));
    let (hi, lo) = text
        .split_once('/')
        .ok_or_else(|| bad("expected two hexadecimal numbers separated by '/'"))?;
    let half = |part: &str| {
        // from_str_radix accepts a sign; PostgreSQL's pg_lsn does not.
        if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("each half must be 1 to 8 hexadecimal digits"));
        }
        u32::from_str_radix(part, 16).map_err(|e| bad(&e.to_string()))
    };
    Ok((u64::from(half(hi)?) << 32) | u64::from(half(lo)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_is_printed_like_postgres() {
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert_eq!(format_lsn(0), "0/0");
        assert_eq!(format_lsn(u64::MAX), "FFFFFFFF/FFFFFFFF");
    }

    #[test]
    fn lsn_round_trips() {
        for lsn in [0, 1, 0xFFFF_FFFF, 0x1_0000_0000, 0x16_B374_D848, u64::MAX] {
            assert_eq!(parse_lsn(&format_lsn(lsn)).unwrap(), lsn);
        }
        assert_eq!(parse_lsn("16/b374d848").unwrap(), 0x16_B374_D848);
        assert_eq!(parse_lsn("00000001/00000010").unwrap(), 0x1_0000_0010);
    }

    #[test]
    fn malformed_lsn_is_an_error() {
        for text in [
            "",
            "16",
            "/1",
            "1/",
            "1/2/3",
            "+1/2",
            "G/0",
            "123456789/0",
            " 1/2",
        ] {
            let e = parse_lsn(text).unwrap_err();
            assert!(e.to_string().contains("cannot decode LSN"), "{text}: {e}");
        }
    }
}
