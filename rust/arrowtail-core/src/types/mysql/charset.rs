//! MySQL/MariaDB collation ids and the text decoding they imply.
//!
//! Collation ids come from the TABLE_MAP optional metadata (DEFAULT_CHARSET / COLUMN_CHARSET,
//! MySQL `Table_map_log_event::Optional_metadata_field_type`). Only the character set family
//! matters for decoding; the ids below are the ones listed by `SHOW COLLATION` on MySQL 8 and
//! MariaDB 10/11 (MariaDB 11 UCA-14.0 collations use ids from 2048 on).

use encoding_rs::Encoding;

use super::charset_tables as tables;

/// The way the bytes of a character column are turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// utf8mb3 / utf8mb4 (and ascii, a subset).
    Utf8,
    /// A single-byte character set: every byte maps through its table (U+FFFD: undefined).
    Single(&'static [u16; 256]),
    /// A multi-byte legacy character set (Big5, EUC-JP, EUC-KR, GBK, GB18030, Shift_JIS).
    Multi(&'static Encoding),
    /// UCS-2 / UTF-16 big-endian.
    Utf16Be,
    /// UTF-16 little-endian.
    Utf16Le,
    /// UTF-32 big-endian.
    Utf32,
    /// Collation 63 `binary`: the column is a byte string.
    Binary,
    /// A collation id arrowtail does not know: decoded as UTF-8, invalid sequences replaced.
    Other,
}

impl Charset {
    /// MySQL `latin1`: Windows-1252, with the five bytes it leaves undefined as C1 controls.
    pub const LATIN1: Charset = Charset::Single(&tables::LATIN1);

    /// The character set of a collation id: the ids `SHOW COLLATION` lists on MySQL 5.x-9.x and
    /// MariaDB 10/11. MariaDB's NO PAD collations are their PAD SPACE sibling's id plus 1024, and
    /// its UCA-14.0 collations (10.10+) take a block of 256 ids per character set from 2048 on.
    pub fn from_collation(id: u64) -> Charset {
        use tables::*;
        match id {
            63 => Charset::Binary,
            11 | 65 => Charset::Utf8, // ascii
            33 | 76 | 83 | 192..=215 | 223 | 576..=578 => Charset::Utf8, // utf8mb3
            45 | 46 | 224..=247 | 255..=323 | 608..=610 => Charset::Utf8, // utf8mb4
            35 | 90 | 128..=151 | 159 | 640..=642 => Charset::Utf16Be, // ucs2
            54 | 55 | 101..=124 | 672..=674 => Charset::Utf16Be, // utf16
            56 | 62 => Charset::Utf16Le,
            60 | 61 | 160..=183 | 736..=738 => Charset::Utf32,
            5 | 8 | 15 | 31 | 47 | 48 | 49 | 94 => Charset::LATIN1,
            2 | 9 | 21 | 27 | 77 => Charset::Single(&LATIN2),
            30 | 78 => Charset::Single(&LATIN5),
            20 | 41 | 42 | 79 => Charset::Single(&LATIN7),
            26 | 34 | 44 | 66 | 99 => Charset::Single(&CP1250),
            14 | 23 | 50 | 51 | 52 => Charset::Single(&CP1251),
            57 | 67 => Charset::Single(&CP1256),
            29 | 58 | 59 => Charset::Single(&CP1257),
            4 | 80 => Charset::Single(&CP850),
            40 | 81 => Charset::Single(&CP852),
            36 | 68 => Charset::Single(&CP866),
            3 | 69 => Charset::Single(&DEC8),
            6 | 72 => Charset::Single(&HP8),
            7 | 74 => Charset::Single(&KOI8R),
            22 | 75 => Charset::Single(&KOI8U),
            10 | 82 => Charset::Single(&SWE7),
            16 | 71 => Charset::Single(&HEBREW),
            25 | 70 => Charset::Single(&GREEK),
            18 | 89 => Charset::Single(&TIS620),
            32 | 64 => Charset::Single(&ARMSCII8),
            37 | 73 => Charset::Single(&KEYBCS2),
            38 | 43 => Charset::Single(&MACCE),
            39 | 53 => Charset::Single(&MACROMAN),
            92 | 93 => Charset::Single(&GEOSTD8),
            1 | 84 => Charset::Multi(encoding_rs::BIG5),
            12 | 91 | 97 | 98 => Charset::Multi(encoding_rs::EUC_JP), // ujis, eucjpms
            13 | 88 | 95 | 96 => Charset::Multi(encoding_rs::SHIFT_JIS), // sjis, cp932
            19 | 85 => Charset::Multi(encoding_rs::EUC_KR),
            24 | 86 | 28 | 87 => Charset::Multi(encoding_rs::GBK), // gb2312, gbk
            248..=250 => Charset::Multi(encoding_rs::GB18030),
            1024..=2047 => Charset::from_collation(id - 1024),
            2048..=2559 => Charset::Utf8,    // utf8mb3, utf8mb4
            2560..=3071 => Charset::Utf16Be, // ucs2, utf16
            3072..=3327 => Charset::Utf32,
            _ => Charset::Other,
        }
    }

    /// True for collation 63 (`binary`).
    pub fn is_binary(self) -> bool {
        self == Charset::Binary
    }

    /// True for the charsets whose valid UTF-8 values are their text as stored (UTF-8 itself,
    /// and the binary and unknown ones, read as UTF-8).
    pub fn stores_utf8(self) -> bool {
        matches!(self, Charset::Utf8 | Charset::Other | Charset::Binary)
    }
}

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
        Charset::Single(table) => {
            let mut ok = true;
            out.reserve(bytes.len());
            for &b in bytes {
                let code = table[usize::from(b)];
                ok &= code != 0xFFFD;
                out.push(char::from_u32(u32::from(code)).unwrap_or('\u{FFFD}'));
            }
            ok
        }
        Charset::Multi(encoding) => {
            let (text, replaced) = encoding.decode_without_bom_handling(bytes);
            out.push_str(&text);
            !replaced
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
        assert!(decode_into(Charset::LATIN1, b"caf\xe9 \x80\x81", &mut s));
        assert_eq!(s, "café €\u{81}");
    }

    #[test]
    fn collations() {
        assert_eq!(Charset::from_collation(255), Charset::Utf8);
        assert_eq!(Charset::from_collation(8), Charset::LATIN1);
        assert!(Charset::from_collation(63).is_binary());
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let mut s = String::new();
        assert!(!decode_into(Charset::Utf8, b"a\xff", &mut s));
        assert_eq!(s, "a\u{FFFD}");
    }
    /// Every collation id of MariaDB 10.11 (`information_schema.COLLATION_CHARACTER_SET_APPLICABILITY`)
    /// by character set, and the MySQL-only ids.
    const COLLATIONS: &[(&str, &str)] = &[
        ("armscii8", "32 64 1056 1088"),
        ("ascii", "11 65 1035 1089"),
        ("big5", "1 84 1025 1108"),
        ("binary", "63"),
        ("cp1250", "26 34 44 66 99 1050 1090"),
        ("cp1251", "14 23 50 51 52 1074 1075"),
        ("cp1256", "57 67 1081 1091"),
        ("cp1257", "29 58 59 1082 1083"),
        ("cp850", "4 80 1028 1104"),
        ("cp852", "40 81 1064 1105"),
        ("cp866", "36 68 1060 1092"),
        ("cp932", "95 96 1119 1120"),
        ("dec8", "3 69 1027 1093"),
        ("eucjpms", "97 98 1121 1122"),
        ("euckr", "19 85 1043 1109"),
        ("gb18030", "248 249 250"),
        ("gb2312", "24 86 1048 1110"),
        ("gbk", "28 87 1052 1111"),
        ("geostd8", "92 93 1116 1117"),
        ("greek", "25 70 1049 1094"),
        ("hebrew", "16 71 1040 1095"),
        ("hp8", "6 72 1030 1096"),
        ("keybcs2", "37 73 1061 1097"),
        ("koi8r", "7 74 1031 1098"),
        ("koi8u", "22 75 1046 1099"),
        ("latin1", "5 8 15 31 47 48 49 94 1032 1071"),
        ("latin2", "2 9 21 27 77 1033 1101"),
        ("latin5", "30 78 1054 1102"),
        ("latin7", "20 41 42 79 1065 1103"),
        ("macce", "38 43 1062 1067"),
        ("macroman", "39 53 1063 1077"),
        ("sjis", "13 88 1037 1112"),
        ("swe7", "10 82 1034 1106"),
        ("tis620", "18 89 1042 1113"),
        (
            "ucs2",
            "35 90 128-151 159 640-642 1059 1114 1152 1174 2560-2727 2744-2759",
        ),
        ("ujis", "12 91 1036 1115"),
        (
            "utf16",
            "54 55 101-124 672-674 1078 1079 1125 1147 2816-2983 3000-3015",
        ),
        ("utf16le", "56 62 1080 1086"),
        (
            "utf32",
            "60 61 160-183 736-738 1084 1085 1184 1206 3072-3239 3256-3271",
        ),
        (
            "utf8mb3",
            "33 76 83 192-215 223 576-578 1057 1107 1216 1238 2048-2215 2232-2247",
        ),
        (
            "utf8mb4",
            "45 46 224-247 255-323 608-610 1069 1070 1248 1270 2304-2471 2488-2503",
        ),
    ];

    fn expected(charset: &str) -> Charset {
        use super::tables::*;
        match charset {
            "ascii" | "utf8mb3" | "utf8mb4" => Charset::Utf8,
            "binary" => Charset::Binary,
            "ucs2" | "utf16" => Charset::Utf16Be,
            "utf16le" => Charset::Utf16Le,
            "utf32" => Charset::Utf32,
            "big5" => Charset::Multi(encoding_rs::BIG5),
            "ujis" | "eucjpms" => Charset::Multi(encoding_rs::EUC_JP),
            "sjis" | "cp932" => Charset::Multi(encoding_rs::SHIFT_JIS),
            "euckr" => Charset::Multi(encoding_rs::EUC_KR),
            "gb2312" | "gbk" => Charset::Multi(encoding_rs::GBK),
            "gb18030" => Charset::Multi(encoding_rs::GB18030),
            name => Charset::Single(match name {
                "armscii8" => &ARMSCII8,
                "cp1250" => &CP1250,
                "cp1251" => &CP1251,
                "cp1256" => &CP1256,
                "cp1257" => &CP1257,
                "cp850" => &CP850,
                "cp852" => &CP852,
                "cp866" => &CP866,
                "dec8" => &DEC8,
                "geostd8" => &GEOSTD8,
                "greek" => &GREEK,
                "hebrew" => &HEBREW,
                "hp8" => &HP8,
                "keybcs2" => &KEYBCS2,
                "koi8r" => &KOI8R,
                "koi8u" => &KOI8U,
                "latin1" => &LATIN1,
                "latin2" => &LATIN2,
                "latin5" => &LATIN5,
                "latin7" => &LATIN7,
                "macce" => &MACCE,
                "macroman" => &MACROMAN,
                "swe7" => &SWE7,
                "tis620" => &TIS620,
                other => panic!("no table for {other}"),
            }),
        }
    }

    #[test]
    fn every_collation_of_the_servers_has_its_character_set() {
        let mut seen = 0;
        for (charset, ids) in COLLATIONS {
            for part in ids.split(' ') {
                let (lo, hi) = part.split_once('-').unwrap_or((part, part));
                for id in lo.parse::<u64>().unwrap()..=hi.parse().unwrap() {
                    assert_eq!(
                        Charset::from_collation(id),
                        expected(charset),
                        "{id} {charset}"
                    );
                    seen += 1;
                }
            }
        }
        assert!(seen > 1240, "{seen}");
        assert_eq!(Charset::from_collation(4000), Charset::Other);
    }

    /// The bytes MariaDB gives for `CONVERT('日本中文' USING ...)` and the like.
    #[test]
    fn legacy_character_sets_read_as_the_server_writes_them() {
        let cases: &[(u64, &str, &str)] = &[
            (1, "A4E9A5BBA4A4A4E5", "日本中文"),              // big5
            (12, "C6FCCBDCC3E6CAB8", "日本中文"),             // ujis
            (13, "93FA967B928695B6", "日本中文"),             // sjis
            (95, "93FA967B928695B6", "日本中文"),             // cp932
            (19, "ECEDDCE2F1E9D9FEC7D1B1B9", "日本中文한국"), // euckr
            (24, "C8D5B1BED6D0CEC4", "日本中文"),             // gb2312
            (28, "C8D5B1BED6D0CEC4", "日本中文"),             // gbk
            (7, "F6D5CB", "Жук"),                             // koi8r
            (25, "C5EBEBDCE4E1", "Ελλάδα"),                   // greek
            (4, "A480", "ñÇ"),                                // cp850
            (10, "5B7B", "Ää"),                               // swe7
        ];
        let mut out = String::new();
        for (id, hex, text) in cases {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            assert!(
                decode_into(Charset::from_collation(*id), &bytes, &mut out),
                "{id}"
            );
            assert_eq!(&out, text, "{id}");
        }
    }

    #[test]
    fn an_undefined_byte_is_reported() {
        let mut s = String::new();
        assert!(!decode_into(Charset::from_collation(10), b"a\x80", &mut s)); // swe7 is 7-bit
        assert_eq!(s, "a\u{FFFD}");
        assert!(!decode_into(Charset::from_collation(28), b"\xd6", &mut s)); // half a GBK pair
        assert_eq!(s, "\u{FFFD}");
    }
}
