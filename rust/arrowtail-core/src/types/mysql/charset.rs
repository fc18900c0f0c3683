//! MySQL/MariaDB collation ids and the text decoding they imply.
//!
//! Collation ids come from the TABLE_MAP optional metadata (DEFAULT_CHARSET / COLUMN_CHARSET,
//! MySQL `Table_map_log_event::Optional_metadata_field_type`). Only the character set family
//! matters for decoding; the ids below are the ones listed by `SHOW COLLATION` on MySQL 8 and
//! MariaDB 10/11 (MariaDB 11 UCA-14.0 collations use ids from 2048 on).

/// The way the bytes of a character column are turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// utf8mb3 / utf8mb4 (and ascii, a subset).
    Utf8,
    /// MySQL `latin1`, which is Windows-1252 with five undefined bytes mapped to C1 controls.
    Latin1,
    /// UCS-2 / UTF-16 big-endian.
    Utf16Be,
    /// UTF-16 little-endian.
    Utf16Le,
    /// UTF-32 big-endian.
    Utf32,
    /// Collation 63 `binary`: the column is a byte string.
    Binary,
    /// A character set arrowtail has no table for: decoded as UTF-8, invalid sequences replaced.
    Other,
}

impl Charset {
    /// The character set of a collation id.
    pub fn from_collation(id: u64) -> Charset {
        match id {
            63 => Charset::Binary,
            5 | 8 | 15 | 31 | 47 | 48 | 49 | 94 => Charset::Latin1,
            // ascii
            11 | 65 => Charset::Utf8,
            // utf8mb3
            33 | 76 | 83 | 192..=215 | 223 => Charset::Utf8,
            // utf8mb4 (MySQL 5.5+ and the 8.0 UCA-9.0.0 ids), MariaDB utf8mb3/utf8mb4 extras
            45 | 46 | 224..=247 | 255..=323 | 576..=578 | 608..=610 | 1024..=1279 | 2048..=4095 => {
                Charset::Utf8
            }
            // ucs2 and utf16 (big-endian)
            35 | 90 | 128..=151 | 159 | 54 | 55 | 101..=124 | 358 | 622 => Charset::Utf16Be,
            56 | 62 => Charset::Utf16Le,
            60 | 61 | 160..=183 | 391 | 647 => Charset::Utf32,
            _ => Charset::Other,
        }
    }

    /// True for collation 63 (`binary`).
    pub fn is_binary(self) -> bool {
        self == Charset::Binary
    }
}

/// Windows-1252 code points of bytes 0x80..=0x9F (MySQL maps the undefined ones to C1 controls).
const CP1252_HIGH: [u16; 32] = [
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
];

/// Decodes `bytes` in `charset` into `out` (cleared first). Returns false when invalid sequences
/// had to be replaced with U+FFFD.
pub fn decode_into(charset: Charset, bytes: &[u8], out: &mut String) -> bool {
    out.clear();
    match charset {
        Charset::Utf8 | Charset::Other | Charset::Binary => match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                true
            }
            Err(_) => {
                out.push_str(&String::from_utf8_lossy(bytes));
                false
            }
        },
        Charset::Latin1 => {
            for &b in bytes {
                let c = match b {
                    0x80..=0x9F => char::from_u32(u32::from(CP1252_HIGH[usize::from(b - 0x80)]))
                        .unwrap_or('\u{FFFD}'),
                    _ => char::from(b),
                };
                out.push(c);
            }
            true
        }
        Charset::Utf16Be | Charset::Utf16Le => {
            let le = charset == Charset::Utf16Le;
            let units = bytes.chunks_exact(2).map(|c| {
                let a = [c[0], c[1]];
                if le {
                    u16::from_le_bytes(a)
                } else {
                    u16::from_be_bytes(a)
                }
            });
            let mut ok = bytes.len() % 2 == 0;
            for r in char::decode_utf16(units) {
                match r {
                    Ok(c) => out.push(c),
                    Err(_) => {
                        ok = false;
                        out.push('\u{FFFD}');
                    }
                }
            }
            ok
        }
        Charset::Utf32 => {
            let mut ok = bytes.len() % 4 == 0;
            for c in bytes.chunks_exact(4) {
                let v = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
                match char::from_u32(v) {
                    Some(ch) => out.push(ch),
                    None => {
                        ok = false;
                        out.push('\u{FFFD}');
                    }
                }
            }
            ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_is_cp1252() {
        let mut s = String::new();
        assert!(decode_into(Charset::Latin1, b"caf\xe9 \x80", &mut s));
        assert_eq!(s, "café €");
    }

    #[test]
    fn collations() {
        assert_eq!(Charset::from_collation(255), Charset::Utf8);
        assert_eq!(Charset::from_collation(8), Charset::Latin1);
        assert!(Charset::from_collation(63).is_binary());
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let mut s = String::new();
        assert!(!decode_into(Charset::Utf8, b"a\xff", &mut s));
        assert_eq!(s, "a\u{FFFD}");
    }
}
